package disk

import (
	"sync/atomic"

	"granary/internal/engine"
	"granary/internal/engine/mem"
)

// rowCache keeps recently read and written items of all the store's
// namespaces in an in-memory engine, as Tair's LDB keeps an MDB in front of
// its LevelDB: a hit costs a hash lookup instead of a search through pebble's
// memtables and the block cache, and a write finds the old item's version and
// expiry there instead of reading it from pebble first.
//
// Entries are keyed by the data key (namespace, bucket and user key) under
// the item's bucket, so dropping a bucket of one namespace drops that bucket
// of every namespace from the cache: invalidating too much is always safe.
//
// The cache also remembers keys that are not stored, as entries of type
// typeAbsent: a read of a missing key, and a write of a new one, then skip
// pebble too (a miss in pebble searches every memtable and consults the
// filters of every level).
//
// A bucket of a namespace can be known complete in the cache: every item it
// stores has an entry. Then, while none of its items has an expiry (which
// the cache may act on before pebble does), a miss proves the key absent,
// and neither reads nor writes search pebble: for data that fits the cache
// the disk engine costs a hash lookup and a WAL append, as an append-only
// in-memory store. A bucket becomes complete when it is known to be empty:
// at the end of a count pass (every bucket of a namespace created after it),
// or dropped. It stops being complete when the cache loses one of its
// entries: evicted, refused (too large) or not updated after a failed
// commit, or dropped with another namespace's bucket or an ingestion into
// the bucket.
//
// Coherence: the cache holds, for every key it holds, the item stored in
// pebble. Writers change a key's entry under the key's write stripe, after
// their commit, and then bump the stripe's sequence. A reader that missed
// reads pebble without a lock and fills the entry only if it can take the
// stripe at once (TryLock) and the stripe's sequence is still the one it read
// before its pebble read: no write to the stripe committed in between, so
// what it read is current. Drops, flushes and ingestions hold every stripe,
// empty the affected part of the cache and bump every sequence.
type rowCache struct {
	m       *mem.Engine
	maxItem int                       // larger items (data key + value) are not cached
	lost    func(b uint16, dk []byte) // the cache dropped dk's entry on its own

	hits, misses atomic.Uint64
}

// typeAbsent marks a cache entry saying that its key is not stored. The
// in-memory engine takes any type up to 0x3f; the disk format never stores
// this one.
const typeAbsent engine.Type = 0x3f

// absent is the entry of a key that is not stored.
var absent = engine.Item{Type: typeAbsent, Version: 1}

// rowCacheMaxItem is the largest data key + value the cache takes: larger
// items would evict many small ones, and copying them costs more than the
// pebble read the cache saves.
const rowCacheMaxItem = 64 << 10

func newRowCache(bytes int64, lost func(b uint16, dk []byte)) *rowCache {
	if bytes <= 0 {
		return nil
	}
	c := &rowCache{maxItem: rowCacheMaxItem, lost: lost}
	c.m = mem.New(mem.Options{
		Quota:  bytes,
		Shards: 64, // the fewest mem allows: they only need to outnumber the cores
		OnRemove: func(b uint16, dk []byte, why mem.Removal) {
			if why == mem.Evicted {
				lost(b, dk)
			}
		},
	})
	return c
}

func (s *Store) closeRows() {
	if s.rows != nil {
		s.rows.m.Close()
	}
}

// get appends the cached live item's value under dk to dst. An item of type
// typeAbsent says that dk is not stored.
func (c *rowCache) get(b uint16, dk []byte, now int64, dst []byte) (engine.Item, []byte, bool) {
	return c.m.Get(b, dk, now, dst)
}

// put records that it is stored under dk. Callers hold dk's stripe.
func (c *rowCache) put(b uint16, dk []byte, it engine.Item, now int64) {
	// Version 0 would make the in-memory engine count the version on.
	if it.Version == 0 || len(dk)+len(it.Value) > c.maxItem {
		c.forget(b, dk, now)
		return
	}
	if _, err := c.m.Set(b, dk, it, now); err != nil {
		c.forget(b, dk, now) // an old entry may have stayed
	}
}

// forget drops dk's entry when what is stored under dk is not known.
func (c *rowCache) forget(b uint16, dk []byte, now int64) {
	c.del(b, dk, now)
	c.lost(b, dk)
}

// del forgets dk. Callers hold dk's stripe.
func (c *rowCache) del(b uint16, dk []byte, now int64) {
	_ = c.m.Update(b, dk, now, deleteEntry)
}

func deleteEntry(*engine.Item) (engine.Item, engine.Op) { return engine.Item{}, engine.OpDelete }

// RowCacheStats are the row cache's counters: reads (Get) that found a live
// item in it and reads that did not, and the memory it holds against its size.
type RowCacheStats struct {
	Hits, Misses uint64
	Bytes, Size  int64
}

// RowCacheStats returns the row cache's counters (zero when it is off).
func (s *Store) RowCacheStats() RowCacheStats {
	c := s.rows
	if c == nil {
		return RowCacheStats{}
	}
	st := c.m.Stats()
	return RowCacheStats{Hits: c.hits.Load(), Misses: c.misses.Load(), Bytes: st.Bytes, Size: st.Quota}
}

// fill caches what a reader found in pebble, if no write to its stripe
// committed since the reader loaded seq (see rowCache): the item (h and its
// stored value v) or, with h nil, that dk is not stored.
func (s *Store) fill(st *stripe, seq uint64, b uint16, dk []byte, h *header, v []byte, now int64) {
	if testHookFill != nil {
		testHookFill()
	}
	if len(dk)+len(v) > s.rows.maxItem || !st.TryLock() {
		return
	}
	if st.seq.Load() == seq && !s.closed.Load() {
		if h == nil {
			s.rows.put(b, dk, absent, now)
		} else {
			s.rows.put(b, dk, h.item(v), now)
		}
	}
	st.Unlock()
}

// testHookFill, set by tests only, runs between a reader's pebble read and
// its fill.
var testHookFill func()

// cachedSlot reads the slot of dk (in bucket b of e) from the row cache: ok
// is false when the cache does not know it. v, when found, is the value
// copied into buf. Callers hold dk's stripe.
func (e *Engine) cachedSlot(b uint16, dk []byte, now int64, buf []byte) (sl slot, v []byte, ok bool) {
	s := e.s
	if s.rows == nil {
		return sl, nil, false
	}
	it, out, found := s.rows.get(b, dk, now, buf[:0])
	if !found {
		return sl, out, e.known(b)
	}
	if it.Type == typeAbsent {
		return slot{}, out, true
	}
	sl = slot{exists: true, ok: true, h: header{typ: it.Type, ver: it.Version, exp: it.Expire},
		size: int64(len(dk) + valueLen(it.Version, it.Expire, len(it.Value)))}
	return sl, it.Value, true
}

// cacheOutcome records a write of dk in the row cache: the item stored, or
// its deletion (put false), or, when the commit failed (err), that the cache
// does not know. Callers hold dk's stripe and bump its sequence afterwards.
func (s *Store) cacheOutcome(b uint16, dk []byte, put bool, it engine.Item, now int64, err error) {
	switch {
	case s.rows == nil:
	case err != nil:
		s.rows.forget(b, dk, now)
	case put:
		s.rows.put(b, dk, it, now)
	default:
		s.rows.put(b, dk, absent, now)
	}
}

// known reports whether a miss in the row cache proves a key absent from
// bucket b (see rowCache).
func (e *Engine) known(b uint16) bool {
	return e.complete[b].Load() && e.buckets[b].exp.Load() == 0
}

// lostRow marks the bucket of a data key incomplete in the row cache.
func (s *Store) lostRow(b uint16, dk []byte) {
	ns, _, _, ok := parseDataKey(dk)
	if !ok {
		return
	}
	s.nsMu.RLock()
	e := s.nss[ns]
	s.nsMu.RUnlock()
	if e != nil {
		e.complete[b].Store(false)
	}
}

// completeEmpty marks every empty bucket complete in the row cache. Callers
// hold every stripe, and no count pass runs: the counters are exact.
func (s *Store) completeEmpty() {
	for _, e := range s.engines() {
		for b := range e.buckets {
			if e.buckets[b].items.Load() == 0 {
				e.complete[b].Store(true)
			}
		}
	}
}

// dropRows empties buckets of the row cache (all of them when buckets is
// nil: the whole cache) and bumps every stripe's sequence. Those buckets of
// keep, just emptied in the store, are complete; those of the other
// namespaces are not any more. Callers hold every stripe.
func (s *Store) dropRows(keep *Engine, buckets []uint16) {
	if s.rows != nil {
		if buckets == nil {
			s.rows.m.Flush()
		}
		for _, e := range s.engines() {
			if buckets == nil {
				for b := range e.complete {
					e.complete[b].Store(e == keep)
				}
			}
			for _, b := range buckets {
				e.complete[b].Store(e == keep)
			}
		}
		for _, b := range buckets {
			s.rows.m.DropBucket(b)
		}
	}
	for i := range s.stripes {
		s.stripes[i].seq.Add(1)
	}
}

// Prefetch implements engine.Prefetcher: it prefetches the keys' entries in
// the row cache, where a read, and a write's read of the old item, look first.
func (e *Engine) Prefetch(buckets []uint16, keys [][]byte) {
	c := e.s.rows
	if c == nil {
		return
	}
	n := min(len(keys), engine.PrefetchKeys)
	var bs [engine.PrefetchKeys]uint16
	var ends [engine.PrefetchKeys]int
	var dks [engine.PrefetchKeys][]byte
	kb := getKeyBuf()
	buf := kb.val[:0]
	for i := range n {
		bs[i] = buckets[i] & bucketMask
		buf = appendDataKey(buf, e.ns, bs[i], keys[i])
		ends[i] = len(buf)
	}
	start := 0
	for i := range n {
		dks[i] = buf[start:ends[i]]
		start = ends[i]
	}
	c.m.Prefetch(bs[:n], dks[:n])
	kb.val = buf[:0]
	putKeyBuf(kb)
}
