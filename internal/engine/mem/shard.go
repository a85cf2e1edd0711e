package mem

import (
	"bytes"
	"sync"
	"sync/atomic"

	"granary/internal/engine"
)

// A shard owns the buckets b with b&(shards-1) == its index: their index
// tables, one arena, an LRU clock and an eviction pool. Everything but the
// counters is guarded by mu.
type shard struct {
	mu        sync.Mutex
	e         *Engine
	idx       uint16 // index in e.shards: the low bits of its buckets
	buckets   []bucket
	blocks    []block
	free      []int32 // ids of freed blocks
	head      int32   // block appended to, -1 if none
	arena     int64   // bytes of regular blocks
	jumbo     int64   // bytes of jumbo blocks
	dead      int64   // dead bytes in regular blocks
	tables    int64   // bytes of index tables
	clock     uint32  // LRU clock (see clock.go)
	agedAt    uint32  // clock at the last aging sweep step
	ageDebt   uint64  // blocks owed to the aging sweep, times agePass
	ageCursor int     // block the aging sweep visited last
	expLB     int     // active-expiry cursor (local bucket)
	pool      [poolSize]candidate
	poolN     int
	// cur is the item handed to an Update callback; keeping it here (under
	// mu) instead of on the stack stops it escaping to the heap per call.
	cur engine.Item

	// Counters read by Stats without the lock.
	items       atomic.Int64
	itemsExp    atomic.Int64
	evictions   atomic.Uint64
	expirations atomic.Uint64

	_ [64]byte // keep neighbouring shards' hot fields on separate cache lines
}

func (s *shard) init(e *Engine, idx uint16, nb int) {
	s.e, s.idx = e, idx
	s.buckets = make([]bucket, nb)
	s.head = -1
}

// find returns the slot of key in b, or -1.
func (s *shard) find(b *bucket, key []byte, tag uint64) int {
	t := b.tab
	if len(t) == 0 {
		return -1
	}
	i := home(tag, len(t))
	for {
		e := t[i]
		if e == 0 {
			return -1
		}
		if e>>locBits == tag && s.keyAt(e&locMask, key) {
			return i
		}
		if i++; i == len(t) {
			i = 0
		}
	}
}

func (s *shard) keyAt(l uint64, key []byte) bool {
	buf, off := s.at(l)
	h := readHeader(buf, off)
	return h.klen == len(key) && bytes.Equal(buf[h.key:h.key+h.klen], key)
}

// lookup finds the live item key in b. An expired item is removed (lazy
// expiry) and reported absent.
func (s *shard) lookup(b *bucket, key []byte, tag uint64, now int64) (slot int, buf []byte, h header) {
	slot = s.find(b, key, tag)
	if slot < 0 {
		return -1, nil, h
	}
	buf, off := s.at(b.tab[slot] & locMask)
	h = readHeader(buf, off)
	if expired(h.exp, now) {
		s.removed(buf, &h, Expired)
		s.removeSlot(b, slot)
		s.expirations.Add(1)
		return -1, nil, h
	}
	return slot, buf, h
}

// removed tells the engine's OnRemove, if any, that the item h of buf is
// being removed on the engine's own initiative.
func (s *shard) removed(buf []byte, h *header, why Removal) {
	if f := s.e.onRemove; f != nil {
		f(uint16(h.lb)<<s.e.shift|s.idx, buf[h.key:h.key+h.klen:h.key+h.klen], why)
	}
}

// removeSlot deletes the item at slot i of b.
func (s *shard) removeSlot(b *bucket, i int) {
	l := b.tab[i] & locMask
	buf, off := s.at(l)
	h := readHeader(buf, off)
	s.markDead(l, h.size)
	b.deleteAt(i)
	b.n--
	s.items.Add(-1)
	if h.exp != 0 {
		b.exp--
		s.itemsExp.Add(-1)
	}
	if b.n == 0 {
		s.dropTable(b)
	} else if b.needShrink() {
		s.resize(b, b.shrinkSize())
	}
}

func (s *shard) resize(b *bucket, n int) {
	d := b.resize(n)
	s.tables += d
	s.e.bytes.Add(d)
}

func (s *shard) dropTable(b *bucket) {
	d := 8 * int64(len(b.tab))
	s.tables -= d
	s.e.bytes.Add(-d)
	b.tab = nil
	b.n, b.exp, b.cur = 0, 0, 0
}

// insert adds a new entry for a key known to be absent. Table growth is
// charged to the quota without a check: it is small next to the items.
func (s *shard) insert(b *bucket, e uint64, hasExp bool) {
	if b.needGrow() {
		s.resize(b, b.growSize())
	}
	place(b.tab, e)
	b.n++
	s.items.Add(1)
	if hasExp {
		b.exp++
		s.itemsExp.Add(1)
	}
}

func (s *shard) expChanged(b *bucket, had, has bool) {
	switch {
	case had && !has:
		b.exp--
		s.itemsExp.Add(-1)
	case !had && has:
		b.exp++
		s.itemsExp.Add(1)
	}
}

// put stores an item under key in local bucket lb. slot is the key's current
// slot (from lookup) or -1 if absent.
func (s *shard) put(lb int, slot int, key []byte, tag uint64, typ engine.Type, ver uint64, exp int64, val []byte) error {
	b := &s.buckets[lb]
	size := itemSize(len(key), len(val), ver, exp)
	stamp := s.tick()
	if slot >= 0 {
		buf, off := s.at(b.tab[slot] & locMask)
		if old := readHeader(buf, off); old.size == size {
			writeItem(buf, off, typ, stamp, uint8(lb), key, val, ver, exp)
			s.expChanged(b, old.exp != 0, exp != 0)
			return nil
		}
	}
	if err := s.e.checkSize(size); err != nil {
		return err
	}
	l, moved, err := s.alloc(size)
	if err != nil {
		return err
	}
	buf, off := s.at(l)
	writeItem(buf, off, typ, stamp, uint8(lb), key, val, ver, exp)
	if moved {
		slot = s.find(b, key, tag)
	}
	if slot < 0 {
		s.insert(b, mkEntry(tag, l), exp != 0)
		return nil
	}
	ol := b.tab[slot] & locMask
	obuf, ooff := s.at(ol)
	old := readHeader(obuf, ooff)
	b.tab[slot] = mkEntry(tag, l)
	s.markDead(ol, old.size)
	s.expChanged(b, old.exp != 0, exp != 0)
	return nil
}

// item builds the engine.Item for a decoded header; Value points into buf.
func (h *header) item(buf []byte) engine.Item {
	return engine.Item{Type: h.typ(), Version: h.ver, Expire: h.exp, Value: buf[h.val() : h.val()+h.vlen : h.val()+h.vlen]}
}

// reset drops everything the shard holds.
func (s *shard) reset() {
	s.e.bytes.Add(-(s.arena + s.jumbo + s.tables))
	if s.arena+s.jumbo > 0 {
		s.e.active.Add(-1)
	}
	for i := range s.buckets {
		s.buckets[i] = bucket{}
	}
	s.blocks, s.free = nil, nil
	s.head = -1
	s.arena, s.jumbo, s.dead, s.tables = 0, 0, 0, 0
	s.poolN = 0
	s.items.Store(0)
	s.itemsExp.Store(0)
}
