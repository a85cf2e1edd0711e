package disk

import (
	"slices"
	"sync/atomic"

	"github.com/cockroachdb/pebble/v2"
)

// bucketCounts are a bucket's counters: data keys, data keys with an expiry,
// and logical bytes (data key + encoded value).
type bucketCounts struct {
	items, exp, bytes atomic.Int64
}

// delta is a change to a bucket's counters made by one write.
type delta struct {
	items, exp, bytes int64
	expired           uint64 // expired items the write removed
}

// apply adds d to bucket b's counters and the namespace totals. Callers hold
// the write lock of the key the delta comes from.
func (e *Engine) apply(b uint16, d delta) {
	c := &e.buckets[b]
	if d.items != 0 {
		c.items.Add(d.items)
		e.items.Add(d.items)
	}
	if d.exp != 0 {
		c.exp.Add(d.exp)
		e.itemsExp.Add(d.exp)
	}
	if d.bytes != 0 {
		c.bytes.Add(d.bytes)
		e.bytes.Add(d.bytes)
	}
	if d.expired != 0 {
		e.expirations.Add(d.expired)
	}
}

// resetBucket zeroes bucket b's counters and cancels what a count pass would
// still add to them. Callers hold every write lock and s.countMu.
func (e *Engine) resetBucket(b uint16, pending bool) {
	c := &e.buckets[b]
	e.items.Add(-c.items.Swap(0))
	e.itemsExp.Add(-c.exp.Swap(0))
	e.bytes.Add(-c.bytes.Swap(0))
	e.pending[b] = pending
}

// countJob is a count pass: it counts the data keys of the buckets from lo to
// hi (positions, see pos) in a snapshot and adds the result to the counters
// of the buckets still pending. Counters are additive, so the writes made
// after the snapshot, which adjusted the counters themselves, stay counted.
// A bucket reset in the meantime (DropBucket, Flush) is no longer pending and
// gets nothing. At most one pass runs at a time: the initial pass, which
// Ingest waits for, or an Ingest's recount, serialised by ingestMu.
type countJob struct {
	lo, hi uint32
	// only, when set, lists (sorted) the positions of lo..hi the job
	// counts: an ingestion's recount reads the buckets its file holds,
	// not the whole range between the first and the last of them, which
	// for a file of buckets spread over a namespace is all of its data.
	only []uint32
}

func (j *countJob) covers(p uint32) bool {
	if p < j.lo || p > j.hi {
		return false
	}
	if j.only == nil {
		return true
	}
	_, ok := slices.BinarySearch(j.only, p)
	return ok
}

// buckets returns the buckets of the positions the job counts (nil: it
// counts a whole range, which may hold any bucket).
func (j *countJob) buckets() []uint16 {
	if j.only == nil {
		return nil
	}
	out := make([]uint16, 0, len(j.only))
	for _, p := range j.only {
		out = append(out, uint16(p)&bucketMask)
	}
	slices.Sort(out)
	return slices.Compact(out)
}

// testCountHook, when set by a test, runs after a count pass has added a
// bucket's count.
var testCountHook func(p uint32)

// runCountJob counts the data keys it reads, bucket by bucket, then ends the
// job. It closes it.
func (s *Store) runCountJob(it *pebble.Iterator, j *countJob) {
	defer s.endCountJob(j)
	defer it.Close()
	var (
		cur  uint32
		d    delta
		have bool
		n    = 0
	)
	// add counts the item at it, of position p; false: the store stops.
	add := func(p uint32) bool {
		if n++; n&1023 == 0 && s.stopping() {
			return false
		}
		if have && p != cur {
			s.addCounts(cur, d)
			d = delta{}
			if testCountHook != nil {
				testCountHook(cur)
			}
		}
		cur, have = p, true
		v, err := it.ValueAndErr()
		if err != nil {
			s.log.Error("count pass: read failed", "err", err)
			return true
		}
		d.items++
		d.bytes += int64(len(it.Key()) + len(v))
		if h, ok := decodeHeader(v); ok && h.exp != 0 {
			d.exp++
		}
		return true
	}
	if j.only == nil {
		for valid := it.First(); valid; valid = it.Next() {
			if p, ok := keyPos(it.Key()); ok && !add(p) {
				return
			}
		}
	} else {
		// Seek from one listed bucket to the next.
		for _, want := range j.only {
			for valid := it.SeekGE(posKey(want)); valid; valid = it.Next() {
				if p, ok := keyPos(it.Key()); !ok || p != want {
					break
				}
				if !add(want) {
					return
				}
			}
		}
	}
	if err := it.Error(); err != nil {
		s.log.Error("count pass failed", "err", err)
	}
	if have {
		s.addCounts(cur, d)
	}
}

// keyPos returns the position of data key k.
func keyPos(k []byte) (uint32, bool) {
	ns, b, _, ok := parseDataKey(k)
	return pos(ns, b), ok
}

// addCounts adds a pass's count of one bucket if the bucket is still pending.
func (s *Store) addCounts(p uint32, d delta) {
	e := s.engine(uint16(p >> 16))
	b := uint16(p) & bucketMask
	s.countMu.Lock()
	if e.pending[b] {
		e.pending[b] = false
		e.apply(b, d)
	}
	s.countMu.Unlock()
}

// endCountJob clears the pending flags the job leaves (buckets it found
// empty, or all of them if it was stopped) and retires it.
func (s *Store) endCountJob(j *countJob) {
	s.countMu.Lock()
	if s.job == j {
		s.job = nil // engines created from now on start with nothing pending
	}
	s.countMu.Unlock()
	es := s.engines()
	s.countMu.Lock()
	for _, e := range es {
		clear(e.pending[:])
	}
	s.countMu.Unlock()
	if s.rows != nil && !s.stopping() {
		s.lockAll()
		s.countMu.Lock()
		idle := s.job == nil
		s.countMu.Unlock()
		if idle {
			s.completeEmpty()
		}
		s.unlockAll()
	}
}
