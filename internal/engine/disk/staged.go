package disk

import (
	"cmp"
	"encoding/binary"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"unsafe"

	"github.com/cockroachdb/pebble/v2"
)

// Write-back of SyncInterval mode.
//
// A write to pebble costs more than the rest of a SET: its commit inserts
// every key into the memtable's skiplist at a random place (about 2 µs of
// cache misses each with a few hundred thousand keys in the memtable) and
// goes through the commit pipeline. Under SyncInterval a write need not
// reach the disk before it is acknowledged, only within about an interval.
// So writers stage their batches here instead (a map insert), and the store
// moves everything staged into pebble at least once an interval (syncLoop)
// as one batch in key order, where consecutive inserts reuse the skiplist
// position of the one before. That is the same loss window as committing
// without sync and syncing the WAL each interval (doc.go, Durability), and
// the same consistency: a drain is one atomic batch of everything staged up
// to a point, and drains enter the WAL in order, so a crash keeps a prefix of
// the acknowledged writes.
//
// Every read of pebble sees what is staged: point reads (Store.get) look
// here first; iterators, ingestions, range deletions and synced writes drain
// first (Store.drain), so they act on pebble alone in the right order.
// Writers hold their stripe locks while staging, as they did while
// committing; a drain takes no stripe lock.

// drainBytes is how much may be staged before writers ask for an early
// drain; at four times as much a writer drains itself (back-pressure).
const drainBytes = 64 << 20

// stagedOp is the newest staged write of a key: a value, or a deletion.
type stagedOp struct {
	val []byte
	del bool
}

// stagedSet is what was staged between two drains. Keys and values live in
// arena chunks that are never reused, so the map's keys and the slices
// handed to readers stay valid for as long as anyone holds them.
type stagedSet struct {
	ops   map[string]stagedOp
	chunk []byte
	bytes int
}

const stagedChunk = 256 << 10

// copy returns b copied into the set's arena.
func (t *stagedSet) copy(b []byte) []byte {
	if len(b) > stagedChunk/8 {
		return append([]byte(nil), b...)
	}
	if len(t.chunk)+len(b) > cap(t.chunk) {
		t.chunk = make([]byte, 0, stagedChunk)
	}
	start := len(t.chunk)
	t.chunk = append(t.chunk, b...)
	return t.chunk[start:len(t.chunk):len(t.chunk)]
}

type writeBack struct {
	mu       sync.RWMutex
	active   *stagedSet
	flushing *stagedSet // being committed by a drain; nil when none
	spare    map[string]stagedOp

	drainMu sync.Mutex // one drain at a time
	kick    chan struct{}
	drains  atomic.Uint64
}

func newWriteBack() *writeBack {
	return &writeBack{
		active: &stagedSet{ops: make(map[string]stagedOp)},
		kick:   make(chan struct{}, 1),
	}
}

// stage adds bt's writes atomically (a drain takes all of them or none) and
// returns the bytes staged now. bt must hold point sets and deletions only:
// anything else is a caller bug, reported after the writes before it.
func (w *writeBack) stage(bt *pebble.Batch) (int, error) {
	r := bt.Reader()
	w.mu.Lock()
	defer w.mu.Unlock()
	t := w.active
	for {
		kind, k, v, ok, err := r.Next()
		if err != nil {
			return 0, fmt.Errorf("disk: stage: %w", err)
		}
		if !ok {
			return t.bytes, nil
		}
		if kind != pebble.InternalKeyKindSet && kind != pebble.InternalKeyKindDelete {
			return 0, fmt.Errorf("disk: stage: a write of kind %v cannot be staged", kind)
		}
		kc := t.copy(k)
		op := stagedOp{del: kind == pebble.InternalKeyKindDelete}
		if !op.del {
			op.val = t.copy(v)
		}
		t.ops[unsafe.String(unsafe.SliceData(kc), len(kc))] = op
		t.bytes += len(k) + len(v) + 64
	}
}

// lookup returns the newest staged write of key k.
func (w *writeBack) lookup(k []byte) (stagedOp, bool) {
	w.mu.RLock()
	op, ok := w.active.ops[string(k)]
	if !ok && w.flushing != nil {
		op, ok = w.flushing.ops[string(k)]
	}
	w.mu.RUnlock()
	return op, ok
}

// drain commits everything staged so far to pebble as one batch in key
// order. It returns when the writes are in pebble (not necessarily synced).
// A failed drain keeps its set, visible to readers, and the next one retries
// it first.
func (s *Store) drain() error {
	w := s.wb
	if w == nil {
		return nil
	}
	w.drainMu.Lock()
	defer w.drainMu.Unlock()
	w.mu.Lock()
	if w.flushing == nil {
		if len(w.active.ops) == 0 {
			w.mu.Unlock()
			return nil
		}
		w.flushing = w.active
		ops := w.spare
		if ops == nil {
			ops = make(map[string]stagedOp, len(w.flushing.ops))
		}
		w.spare = nil
		w.active = &stagedSet{ops: ops}
	}
	t := w.flushing
	w.mu.Unlock()

	bt := s.db.NewBatch()
	for _, k := range t.sortedKeys() {
		op := t.ops[k]
		kb := unsafe.Slice(unsafe.StringData(k), len(k))
		if op.del {
			bt.Delete(kb, nil)
		} else {
			bt.Set(kb, op.val, nil)
		}
	}
	if err := s.commit(bt, pebble.NoSync); err != nil {
		return err
	}
	w.drains.Add(1)
	w.mu.Lock()
	w.flushing = nil
	clear(t.ops)
	w.spare = t.ops
	w.mu.Unlock()
	return nil
}

// sortedKeys returns the set's keys in pebble's order. It compares the first
// eight bytes as one integer (prefix, namespace, bucket, three key bytes)
// before whole keys: most comparisons end there.
func (t *stagedSet) sortedKeys() []string {
	type entry struct {
		pfx uint64
		key string
	}
	es := make([]entry, 0, len(t.ops))
	for k := range t.ops {
		var p [8]byte
		copy(p[:], k)
		es = append(es, entry{binary.BigEndian.Uint64(p[:]), k})
	}
	slices.SortFunc(es, func(a, b entry) int {
		if c := cmp.Compare(a.pfx, b.pfx); c != 0 {
			return c
		}
		return cmp.Compare(a.key, b.key)
	})
	out := make([]string, len(es))
	for i := range es {
		out[i] = es[i].key
	}
	return out
}

// StagedStats are the staged writes' figures: the memory they hold now and
// the drains so far (both zero under SyncAlways).
type StagedStats struct {
	Bytes  int64
	Drains uint64
}

// StagedStats returns the staged writes' figures.
func (s *Store) StagedStats() StagedStats {
	w := s.wb
	if w == nil {
		return StagedStats{}
	}
	w.mu.RLock()
	n := w.active.bytes
	if w.flushing != nil {
		n += w.flushing.bytes
	}
	w.mu.RUnlock()
	return StagedStats{Bytes: int64(n), Drains: w.drains.Load()}
}

// write commits bt, which holds point writes only, or stages it in
// write-back mode; a synced write is committed in order (commitInOrder).
func (s *Store) write(bt *pebble.Batch, wo *pebble.WriteOptions) error {
	if s.wb == nil {
		return s.commit(bt, wo)
	}
	if wo.Sync {
		return s.commitInOrder(bt, wo)
	}
	n, err := s.wb.stage(bt)
	bt.Close()
	switch {
	case err != nil:
		return err
	case n >= 4*drainBytes: // back-pressure
		return s.drain()
	case n >= drainBytes:
		select {
		case s.wb.kick <- struct{}{}:
		default:
		}
	}
	return nil
}

// commitInOrder drains, then commits bt: for writes that are not staged (a
// synced write, a range deletion), so that they land after everything
// staged before them.
func (s *Store) commitInOrder(bt *pebble.Batch, wo *pebble.WriteOptions) error {
	if err := s.drain(); err != nil {
		bt.Close()
		return err
	}
	return s.commit(bt, wo)
}

// newIter drains, then opens a pebble iterator.
func (s *Store) newIter(o *pebble.IterOptions) (*pebble.Iterator, error) {
	if err := s.drain(); err != nil {
		return nil, err
	}
	return s.db.NewIter(o)
}
