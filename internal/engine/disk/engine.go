package disk

import (
	"errors"
	"io"
	"sync"
	"sync/atomic"

	"github.com/cockroachdb/pebble/v2"

	"granary/internal/engine"
)

var _ engine.Engine = (*Engine)(nil)

// Engine is one namespace of a Store; get it with Store.Namespace.
type Engine struct {
	s  *Store
	ns uint16

	buckets  [NumBuckets]bucketCounts
	pending  [NumBuckets]bool        // a count pass will add to the bucket; guarded by s.countMu
	complete [NumBuckets]atomic.Bool // every item of the bucket is in the row cache (rowcache.go)

	items, itemsExp, bytes atomic.Int64
	expirations            atomic.Uint64
	quota                  atomic.Int64
}

// keyBuf is a pooled buffer for building keys and values.
type keyBuf struct {
	dk, ek, val []byte
}

var keyBufs = sync.Pool{New: func() any { return new(keyBuf) }}

func getKeyBuf() *keyBuf { return keyBufs.Get().(*keyBuf) }

func putKeyBuf(kb *keyBuf) {
	if cap(kb.val) > 64<<10 {
		kb.val = nil // do not keep large values alive
	}
	keyBufs.Put(kb)
}

// corrupt logs a value that does not decode; it is then treated as absent.
func (s *Store) corrupt(dk []byte) {
	ns, b, key, _ := parseDataKey(dk)
	s.log.Error("corrupt value ignored", "ns", ns, "bucket", b, "key", key)
}

// noClose is the closer of values read from staged writes.
var noClose io.Closer = io.NopCloser(nil)

// get reads a data key. On success the caller must close the closer; v is
// valid until then.
func (s *Store) get(dk []byte) (v []byte, c io.Closer, found bool, err error) {
	if s.wb != nil {
		if op, ok := s.wb.lookup(dk); ok {
			if op.del {
				return nil, nil, false, nil
			}
			return op.val, noClose, true, nil
		}
	}
	v, c, err = s.db.Get(dk)
	if err != nil {
		if errors.Is(err, pebble.ErrNotFound) {
			return nil, nil, false, nil
		}
		return nil, nil, false, err
	}
	return v, c, true, nil
}

// Get implements engine.Engine. It takes no lock and allocates nothing
// itself; pebble allocates one 16-byte object per read served from an SST
// (its obsolete-key filter for the current table format), none for reads
// served from the memtable.
func (e *Engine) Get(bucket uint16, key []byte, now int64, dst []byte) (engine.Item, []byte, bool) {
	if e.s.closed.Load() {
		return engine.Item{}, dst, false
	}
	s := e.s
	b := bucket & bucketMask
	kb := getKeyBuf()
	kb.dk = appendDataKey(kb.dk[:0], e.ns, b, key)
	var st *stripe
	var seq uint64
	if s.rows != nil {
		if it, out, ok := s.rows.get(b, kb.dk, now, dst); ok || e.known(b) {
			s.rows.hits.Add(1)
			putKeyBuf(kb)
			if !ok || it.Type == typeAbsent {
				return engine.Item{}, dst, false
			}
			return it, out, true
		}
		s.rows.misses.Add(1)
		st = &s.stripes[stripeIndex(e.ns, b, key)]
		seq = st.seq.Load() // before the read: see rowCache
	}
	v, c, found, err := s.get(kb.dk)
	if err != nil {
		s.log.Error("get failed", "ns", e.ns, "err", err)
	}
	if !found {
		if st != nil && err == nil {
			s.fill(st, seq, b, kb.dk, nil, nil, now)
		}
		putKeyBuf(kb)
		return engine.Item{}, dst, false
	}
	h, ok := decodeHeader(v)
	if !ok {
		s.corrupt(kb.dk)
	}
	if !ok || expired(h.exp, now) {
		putKeyBuf(kb)
		c.Close()
		return engine.Item{}, dst, false
	}
	if st != nil {
		s.fill(st, seq, b, kb.dk, &h, v, now)
	}
	putKeyBuf(kb)
	n := len(dst)
	dst = append(dst, v[h.off:]...)
	c.Close()
	return engine.Item{Type: h.typ, Version: h.ver, Expire: h.exp, Value: dst[n:len(dst):len(dst)]}, dst, true
}

// Touch implements engine.Engine. A disk namespace does not evict, so there
// is no recency to refresh: Touch only reports whether the key is live.
func (e *Engine) Touch(bucket uint16, key []byte, now int64) bool {
	if e.s.closed.Load() {
		return false
	}
	kb := getKeyBuf()
	defer putKeyBuf(kb)
	kb.dk = appendDataKey(kb.dk[:0], e.ns, bucket&bucketMask, key)
	v, c, found, err := e.s.get(kb.dk)
	if err != nil {
		e.s.log.Error("touch failed", "ns", e.ns, "err", err)
	}
	if !found {
		return false
	}
	defer c.Close()
	h, ok := decodeHeader(v)
	if !ok {
		e.s.corrupt(kb.dk)
		return false
	}
	return !expired(h.exp, now)
}

// ScanBucket implements engine.Engine. It iterates a consistent view of the
// bucket in key order and holds no lock while fn runs.
func (e *Engine) ScanBucket(bucket uint16, now int64, fn func(key []byte, it *engine.Item) bool) {
	if e.s.closed.Load() {
		return
	}
	lo, hi := bucketBounds(e.ns, bucket&bucketMask)
	it, err := e.s.dataIter(lo, hi)
	if err != nil {
		e.s.log.Error("scan failed", "ns", e.ns, "err", err)
		return
	}
	defer it.Close()
	var item engine.Item
	for valid := it.First(); valid; valid = it.Next() {
		k := it.Key()
		v, err := it.ValueAndErr()
		if err != nil {
			e.s.log.Error("scan: read failed", "ns", e.ns, "err", err)
			return
		}
		h, ok := decodeHeader(v)
		if !ok {
			e.s.corrupt(k)
			continue
		}
		if expired(h.exp, now) {
			continue
		}
		item = h.item(v)
		if !fn(k[dataHdr:len(k):len(k)], &item) {
			return
		}
	}
	if err := it.Error(); err != nil {
		e.s.log.Error("scan failed", "ns", e.ns, "err", err)
	}
}

// CountBucket implements engine.Engine. It counts stored data keys, expired
// ones included until they are removed; see doc.go for the count pass.
func (e *Engine) CountBucket(bucket uint16) int {
	return int(max(0, e.buckets[bucket&bucketMask].items.Load()))
}

// Stats implements engine.Engine. Bytes is the logical size (see doc.go);
// Evictions is always 0.
func (e *Engine) Stats() engine.Stats {
	return engine.Stats{
		Items:       max(0, e.items.Load()),
		ItemsExpire: max(0, e.itemsExp.Load()),
		Bytes:       max(0, e.bytes.Load()),
		Quota:       e.quota.Load(),
		Expirations: e.expirations.Load(),
	}
}

// SetQuota implements engine.Engine. The quota is recorded and reported in
// Stats, not enforced: a disk namespace is bounded by the disk.
func (e *Engine) SetQuota(bytes int64) { e.quota.Store(max(0, bytes)) }

// Persistent reports that the engine's data survives a restart
// (engine.Persistent).
func (e *Engine) Persistent() bool { return true }

// Close implements engine.Engine. The namespace's data and background work
// belong to the Store, so Close does nothing; close the Store instead.
func (e *Engine) Close() error { return nil }
