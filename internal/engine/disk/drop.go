package disk

import (
	"time"

	"github.com/cockroachdb/pebble/v2"
)

// DropBucket implements engine.Engine: one range deletion of the bucket's
// data keys, then the removal of their expiry-index keys in the background.
func (e *Engine) DropBucket(bucket uint16) {
	b := bucket & bucketMask
	lo, hi := bucketBounds(e.ns, b)
	e.drop(lo, hi, b, b)
}

// Flush implements engine.Engine: it drops the namespace's whole range.
func (e *Engine) Flush() {
	lo, hi := nsBounds(e.ns)
	e.drop(lo, hi, 0, NumBuckets-1)
}

// drop deletes the data keys in [lo, hi), which hold buckets b0 to b1. Every
// write lock is held while the range tombstone is committed and the counters
// reset, so no write is lost between them. The index keys of the dropped
// items are then checked from a view taken just before the deletion.
func (e *Engine) drop(lo, hi []byte, b0, b1 uint16) {
	s := e.s
	s.lockAll()
	if s.closed.Load() {
		s.unlockAll()
		return
	}
	it, err := s.dataIter(lo, hi)
	if err != nil {
		s.unlockAll()
		s.log.Error("drop failed", "ns", e.ns, "err", err)
		return
	}
	if !it.First() {
		// Nothing to drop: no range tombstone (a node given thousands of
		// empty buckets would otherwise leave thousands of them).
		it.Close()
		s.unlockAll()
		return
	}
	bt := s.db.NewBatch()
	bt.DeleteRange(lo, hi, nil)
	var rows []uint16 // the row cache's buckets to drop; nil: all (Flush)
	if b0 == b1 {     // DropBucket, not Flush
		s.stamp(bt, b0, 1)
		rows = []uint16{b0}
	}
	err = s.commitInOrder(bt, s.wo) // a range deletion is not staged
	s.dropRows(e, rows)
	if err != nil {
		s.unlockAll()
		it.Close()
		s.log.Error("drop failed", "ns", e.ns, "err", err)
		return
	}
	s.countMu.Lock()
	for b := b0; ; b++ {
		e.resetBucket(b, false)
		if b == b1 {
			break
		}
	}
	s.countMu.Unlock()
	// Started under the locks: Close, which takes them all, waits for it.
	s.goBackground(func() { s.cleanIndex(it) })
	s.unlockAll()
}

// cleanIndex checks the index keys of the items it reads (dropped ones) and
// closes it. A key written again since, with the same expiry, keeps its
// index key.
func (s *Store) cleanIndex(it *pebble.Iterator) {
	defer it.Close()
	group := make([]idxEntry, 0, sweepGroup)
	for valid := it.First(); valid; valid = it.Next() {
		v, err := it.ValueAndErr()
		if err != nil {
			s.log.Error("index clean-up: read failed", "err", err)
			return
		}
		h, ok := decodeHeader(v)
		if !ok || h.exp == 0 {
			continue
		}
		dk := append([]byte(nil), it.Key()...)
		group = append(group, idxEntry{ek: expKeyOfData(nil, h.exp, dk), idx: expIndex(h.exp), dk: dk})
		if len(group) == cap(group) {
			s.checkIndex(group, time.Now().UnixMilli())
			group = group[:0]
			if s.stopping() {
				return
			}
		}
	}
	s.checkIndex(group, time.Now().UnixMilli())
}
