package mem

import "math/rand/v2"

// Eviction is approximate LRU in the style of Redis: sample a few random
// items, keep the oldest candidates in a small pool, evict the oldest. LRU
// stamps come from per-shard clocks (clock.go) and are not comparable across
// shards, so eviction picks victims inside one shard; because keys hash
// uniformly to shards, the oldest items of a shard are a fair sample of the
// oldest items overall, as long as shards have similar sizes (see
// underShare).
const (
	poolSize         = 16
	maxSamples       = 64
	samplesPerBucket = 4
)

type candidate struct {
	e   uint64 // index entry when sampled
	lru uint32 // stamp when sampled
	lb  uint8
}

// refillPool samples n random items into the pool, which is kept sorted by
// age, oldest last. Samples come a few at a time from random buckets (a
// table's order is random with respect to age), and the entries are gathered
// before their headers are read so that the cache misses overlap.
func (s *shard) refillPool(n int) {
	var got [maxSamples]candidate
	n = min(n, maxSamples)
	k := 0
	nb := len(s.buckets)
	for k < n {
		start := rand.IntN(nb)
		var b *bucket
		lb := 0
		for i := 0; i < nb; i++ {
			lb = (start + i) & (nb - 1)
			if s.buckets[lb].n > 0 {
				b = &s.buckets[lb]
				break
			}
		}
		if b == nil {
			return
		}
		t := b.tab
		j := rand.IntN(len(t))
		for take := min(n-k, samplesPerBucket, int(b.n)); take > 0; take-- {
			for t[j] == 0 {
				if j++; j == len(t) {
					j = 0
				}
			}
			got[k] = candidate{e: t[j], lb: uint8(lb)}
			k++
			if j++; j == len(t) {
				j = 0
			}
		}
	}
	for i := range got[:k] {
		buf, off := s.at(got[i].e & locMask)
		got[i].lru = getLRU(buf, off)
	}
	for i := range got[:k] {
		s.poolAdd(got[i])
	}
}

func (s *shard) poolAdd(c candidate) {
	age := s.clock - c.lru
	p := s.pool[:s.poolN]
	for i := range p {
		if p[i].e == c.e {
			return
		}
	}
	// Find the insert position: entries before i are younger.
	i := 0
	for i < len(p) && s.clock-p[i].lru <= age {
		i++
	}
	if s.poolN < poolSize {
		copy(s.pool[i+1:s.poolN+1], s.pool[i:s.poolN])
		s.pool[i] = c
		s.poolN++
		return
	}
	if i == 0 {
		return // younger than everything in a full pool
	}
	// Drop the youngest (index 0) to make room.
	copy(s.pool[:i-1], s.pool[1:i])
	s.pool[i-1] = c
}

// evictOne evicts the approximately least recently used item of the shard
// and returns its block id.
func (s *shard) evictOne() (int32, bool) {
	for tries := 0; tries < 4 && s.items.Load() > 0; tries++ {
		s.refillPool(s.e.samples)
		for s.poolN > 0 {
			s.poolN--
			c := s.pool[s.poolN]
			b := &s.buckets[c.lb]
			i := b.findExact(c.e)
			if i < 0 {
				continue // deleted or moved since sampled
			}
			l := c.e & locMask
			buf, off := s.at(l)
			if getLRU(buf, off) != c.lru {
				continue // accessed since sampled
			}
			if s.e.onRemove != nil {
				h := readHeader(buf, off)
				s.removed(buf, &h, Evicted)
			}
			s.removeSlot(b, i)
			s.evictions.Add(1)
			return locBlock(l), true
		}
	}
	return -1, false
}

// evictForSpace evicts until a block can be reused for an item of size
// bytes (returning its id) or a block has been freed (returning -1). ok is
// false when the shard has nothing left to evict.
func (s *shard) evictForSpace(size int) (id int32, ok bool) {
	for {
		held := s.arena + s.jumbo
		v, ok := s.evictOne()
		if !ok {
			return -1, false
		}
		if s.arena+s.jumbo < held {
			return -1, true
		}
		if bl := &s.blocks[v]; bl.buf != nil && !bl.jumbo && s.reusable(bl, size) {
			return v, true
		}
	}
}

// shrink frees blocks worth at least need bytes (or all it can) and returns
// the bytes freed. It evicts least recently used items, and every few
// evictions tries to free a block by moving its remaining live items into
// space the evictions opened elsewhere, so that hot items are not lost with
// the block they happen to sit in.
func (s *shard) shrink(need int64) int64 {
	start := s.arena + s.jumbo
	for k := 0; start-(s.arena+s.jumbo) < need; k++ {
		if k%16 == 0 && s.shedBlock() {
			continue
		}
		if _, ok := s.evictOne(); !ok && !s.shedBlock() {
			break
		}
	}
	return start - (s.arena + s.jumbo)
}

func live(bl *block) int { return bl.used - bl.dead }

// shedBlock frees one regular block without evicting anything: an empty
// one, or the one with the fewest live bytes after moving them into the
// block with the most free space. It reports whether a block was freed.
func (s *shard) shedBlock() bool {
	a := int32(-1)
	for i := range s.blocks {
		bl := &s.blocks[i]
		if bl.buf == nil || bl.jumbo {
			continue
		}
		if live(bl) == 0 {
			s.freeBlock(int32(i))
			return true
		}
		if a < 0 || bl.free() > s.blocks[a].free() {
			a = int32(i)
		}
	}
	b := int32(-1)
	for i := range s.blocks {
		bl := &s.blocks[i]
		if bl.buf == nil || bl.jumbo || int32(i) == a {
			continue
		}
		if b < 0 || live(bl) < live(&s.blocks[b]) {
			b = int32(i)
		}
	}
	if b < 0 || s.blocks[a].free() < live(&s.blocks[b]) {
		return false
	}
	s.useAsHead(a)
	s.evacuate(b)
	return s.blocks[b].buf == nil
}

// shrinkOthers frees at least need bytes from shards other than s (whose
// lock the caller holds) until need more bytes fit in the quota. It only
// try-locks other shards, so it cannot deadlock with their writers.
func (e *Engine) shrinkOthers(s *shard, need int64) bool {
	n := len(e.shards)
	for round := 0; round < 3; round++ {
		start := rand.IntN(n)
		for i := 0; i < n; i++ {
			if e.fits(need) {
				return true
			}
			t := &e.shards[(start+i)&(n-1)]
			if t == s || t.items.Load() == 0 || !t.mu.TryLock() {
				continue
			}
			t.shrink(need)
			t.mu.Unlock()
		}
	}
	return e.fits(need)
}

// held is the memory the shard accounts for.
func (s *shard) held() int64 { return s.arena + s.jumbo + s.tables }

// fairShare is the memory a shard holding blocks would hold if all held
// the same.
func (e *Engine) fairShare() int64 {
	return e.bytes.Load() / max(e.active.Load(), 1)
}

// underShare reports whether the shard holds clearly less than its share of
// a quota. Shards fill unevenly before the quota is reached and local
// eviction keeps their sizes; this lets the small ones catch up.
func (s *shard) underShare() bool {
	return s.e.quota.Load() > 0 && 10*s.held() < 9*s.e.fairShare()
}

// stealFor frees about need bytes from a shard holding more than its share,
// for s (whose lock the caller holds), trying a few random shards.
func (e *Engine) stealFor(s *shard, need int64) bool {
	n := len(e.shards)
	for try := 0; try < 4; try++ {
		t := &e.shards[rand.IntN(n)]
		if t == s || !t.mu.TryLock() {
			continue
		}
		freed := int64(0)
		if t.held() > e.fairShare() {
			freed = t.shrink(need)
		}
		t.mu.Unlock()
		if freed > 0 {
			return e.fits(need)
		}
	}
	return false
}

// shrinkAll evicts from all shards until the engine is within its quota.
// The caller holds no shard lock.
func (e *Engine) shrinkAll() {
	for e.quota.Load() > 0 {
		over := e.bytes.Load() - e.quota.Load()
		if over <= 0 {
			return
		}
		progress := false
		for i := range e.shards {
			if e.bytes.Load() <= e.quota.Load() {
				return
			}
			s := &e.shards[i]
			s.mu.Lock()
			if s.shrink(over/int64(len(e.shards))+1) > 0 {
				progress = true
			}
			s.mu.Unlock()
		}
		if !progress {
			return
		}
	}
}
