package mem

import (
	"errors"
	"math/bits"

	"github.com/cespare/xxhash/v2"

	"granary/internal/engine"
)

// Each shard owns a log-structured arena: a list of pointer-free []byte
// blocks. Items are appended to the head block. Deleting or overwriting an
// item only marks it dead and counts its bytes in the block's dead total.
// When the head is full the block with the most free space (dead + tail) is
// compacted in place and becomes the new head, if that frees at least a
// quarter of it (an eighth under a quota); otherwise a new block is
// allocated. This keeps dead space bounded without ever needing memory to
// compact. A block whose items are all dead is freed at once; a background
// pass evacuates mostly dead blocks (expire.go).
//
// Block sizes grow with the shard (1/16 of its arena, a power of two between
// minBlock and the engine's block limit), so a small engine does not hold
// 256 large, mostly empty head blocks. Items bigger than a quarter of the
// block limit are "jumbo": each gets a block of its own, sized exactly.
const (
	minBlock     = 4 << 10
	maxBlockSize = 1 << offBits
	maxBlocks    = 1 << blkBits
)

var errNoBlockID = errors.New("mem: shard out of block ids")

type block struct {
	buf   []byte
	used  int // bytes appended
	dead  int // bytes of dead items below used
	jumbo bool
}

func (bl *block) free() int { return len(bl.buf) - bl.used + bl.dead }

// at returns the block buffer and offset of location l.
func (s *shard) at(l uint64) ([]byte, int) {
	return s.blocks[locBlock(l)].buf, locOff(l)
}

func pow2ceil(n int) int {
	if n <= 1 {
		return 1
	}
	return 1 << bits.Len(uint(n-1))
}

// newBlock allocates a block of size bytes (already reserved against the
// quota) and returns its id.
func (s *shard) newBlock(size int, jumbo bool) (int32, error) {
	var id int32
	if n := len(s.free); n > 0 {
		id = s.free[n-1]
		s.free = s.free[:n-1]
	} else {
		if len(s.blocks) >= maxBlocks {
			s.e.bytes.Add(-int64(size))
			return -1, errNoBlockID
		}
		id = int32(len(s.blocks))
		s.blocks = append(s.blocks, block{})
	}
	s.blocks[id] = block{buf: make([]byte, size), jumbo: jumbo}
	if s.arena+s.jumbo == 0 {
		s.e.active.Add(1)
	}
	if jumbo {
		s.jumbo += int64(size)
	} else {
		s.arena += int64(size)
	}
	return id, nil
}

// freeBlock releases block id and its bytes.
func (s *shard) freeBlock(id int32) {
	bl := &s.blocks[id]
	size := int64(len(bl.buf))
	if bl.jumbo {
		s.jumbo -= size
	} else {
		s.arena -= size
		s.dead -= int64(bl.dead)
	}
	s.e.bytes.Add(-size)
	if s.arena+s.jumbo == 0 {
		s.e.active.Add(-1)
	}
	*bl = block{}
	s.free = append(s.free, id)
	if s.head == id {
		s.head = -1
	}
}

// markDead marks the item at l (of the given size) dead and frees its block
// if nothing in it is alive any more.
func (s *shard) markDead(l uint64, size int) {
	id := locBlock(l)
	bl := &s.blocks[id]
	bl.buf[locOff(l)] |= flagDead
	if bl.jumbo {
		s.freeBlock(id)
		return
	}
	bl.dead += size
	s.dead += int64(size)
	if bl.dead == bl.used {
		if id == s.head {
			s.dead -= int64(bl.dead)
			bl.used, bl.dead = 0, 0
		} else {
			s.freeBlock(id)
		}
	}
}

// releaseIfEmpty frees the (then empty) head block of a shard without items.
func (s *shard) releaseIfEmpty() {
	if s.items.Load() == 0 && s.head >= 0 {
		s.freeBlock(s.head)
	}
}

// bump appends size bytes to the head block, which must have room.
func (s *shard) bump(size int) uint64 {
	bl := &s.blocks[s.head]
	off := bl.used
	bl.used += size
	return mkLoc(s.head, off)
}

// nextBlockSize picks the size of a new regular block for an item of size
// bytes. The item may exceed limit only when it is being moved and the
// limit has shrunk since it was written (SetQuota).
func (s *shard) nextBlockSize(size, limit int) int {
	return max(min(pow2ceil(max(int(s.arena/16), minBlock)), limit), pow2ceil(size))
}

// bestReuse returns the block (other than skip) whose compaction yields the
// most free space, if that is at least size and a quarter of the block.
func (s *shard) bestReuse(size int, skip int32) int32 {
	best, bestFree := int32(-1), 0
	for i := range s.blocks {
		bl := &s.blocks[i]
		if bl.buf == nil || bl.jumbo || int32(i) == skip {
			continue
		}
		if f := bl.free(); f > bestFree {
			best, bestFree = int32(i), f
		}
	}
	if best >= 0 && s.reusable(&s.blocks[best], size) {
		return best
	}
	return -1
}

// reusable reports whether compacting bl frees enough to be worth it: a
// quarter of the block, or an eighth under a quota, where memory is scarcer
// than the CPU spent copying.
func (s *shard) reusable(bl *block, size int) bool {
	f := bl.free()
	if s.e.quota.Load() > 0 {
		return f >= size && 8*f >= len(bl.buf)
	}
	return f >= size && 4*f >= len(bl.buf)
}

// useAsHead compacts block id in place and makes it the head.
func (s *shard) useAsHead(id int32) {
	if s.blocks[id].dead > 0 {
		s.compact(id)
	}
	s.head = id
}

// compact slides the live items of block id to its start, fixing their index
// entries, so that all its free space is at the tail.
func (s *shard) compact(id int32) {
	bl := &s.blocks[id]
	buf := bl.buf
	dst := 0
	for src := 0; src < bl.used; {
		h := readHeader(buf, src)
		if !h.dead() {
			if dst != src {
				copy(buf[dst:], buf[src:src+h.size])
				k := h.key - src + dst
				s.relocate(h.lb, buf[k:k+h.klen], mkLoc(id, src), mkLoc(id, dst))
			}
			dst += h.size
		}
		src += h.size
	}
	s.dead -= int64(bl.dead)
	bl.used, bl.dead = dst, 0
}

// relocate repoints the index entry of key from location from to location to.
func (s *shard) relocate(lb uint8, key []byte, from, to uint64) {
	tag := tagOf(xxhash.Sum64(key))
	b := &s.buckets[lb]
	i := b.findExact(mkEntry(tag, from))
	if i < 0 {
		panic("mem: arena item missing from index")
	}
	b.tab[i] = mkEntry(tag, to)
	// Keep eviction candidates valid: compaction moves the oldest items.
	for j := range s.poolN {
		if s.pool[j].e == mkEntry(tag, from) {
			s.pool[j].e = mkEntry(tag, to)
		}
	}
}

// alloc finds size bytes of arena space for a new item, evicting if the
// quota requires it. moved reports that items of this shard may have moved
// or been deleted, so index slots the caller holds are stale.
func (s *shard) alloc(size int) (l uint64, moved bool, err error) {
	limit := int(s.e.blockLimit.Load())
	if size > limit/4 {
		return s.allocJumbo(size)
	}
	if s.head >= 0 {
		if bl := &s.blocks[s.head]; len(bl.buf)-bl.used >= size {
			return s.bump(size), false, nil
		}
	}
	if over := s.e.over(); over > 0 {
		// Index growth (charged without a check) pushed us over the quota:
		// give a block back before reusing space.
		s.shrink(over)
		moved = true
	}
	for {
		if id := s.bestReuse(size, -1); id >= 0 {
			s.useAsHead(id)
			return s.bump(size), true, nil
		}
		bs := s.nextBlockSize(size, limit)
		if s.e.reserve(int64(bs)) {
			id, err := s.newBlock(bs, false)
			if err != nil {
				return 0, moved, err
			}
			s.head = id
			return s.bump(size), moved, nil
		}
		// At the quota. A shard well below its share takes a block from a
		// bigger one, so that shard sizes (and so the age of what each
		// evicts) stay even. Otherwise evict the least recently used items
		// of this shard until a block is worth compacting or one is freed.
		if s.underShare() && s.e.stealFor(s, int64(bs)) {
			continue
		}
		moved = true
		if id, ok := s.evictForSpace(size); ok {
			if id >= 0 {
				s.useAsHead(id)
				return s.bump(size), true, nil
			}
			continue // a block was freed: try to allocate again
		}
		// Nothing left here: free memory in other shards.
		if !s.e.shrinkOthers(s, int64(bs)) {
			return 0, moved, engine.ErrOOM
		}
	}
}

// allocJumbo gives a jumbo item a block of its own.
func (s *shard) allocJumbo(size int) (l uint64, moved bool, err error) {
	for !s.e.reserve(int64(size)) {
		moved = true
		if s.shrink(int64(size)) == 0 && !s.e.shrinkOthers(s, int64(size)) {
			return 0, moved, engine.ErrOOM
		}
	}
	id, err := s.newBlock(size, true)
	if err != nil {
		return 0, moved, err
	}
	s.blocks[id].used = size
	return mkLoc(id, 0), moved, nil
}

// allocNoEvict is alloc for defragmentation: it never evicts, never uses
// block skip, and fails instead of exceeding the quota.
func (s *shard) allocNoEvict(size int, skip int32) (uint64, bool) {
	if s.head >= 0 && s.head != skip {
		if bl := &s.blocks[s.head]; len(bl.buf)-bl.used >= size {
			return s.bump(size), true
		}
	}
	if id := s.bestReuse(size, skip); id >= 0 {
		s.useAsHead(id)
		return s.bump(size), true
	}
	bs := s.nextBlockSize(size, int(s.e.blockLimit.Load()))
	if !s.e.reserve(int64(bs)) {
		return 0, false
	}
	id, err := s.newBlock(bs, false)
	if err != nil {
		return 0, false
	}
	s.head = id
	return s.bump(size), true
}

// evacuate moves the live items of regular block id elsewhere so that the
// block is freed. It stops early if no space can be had within the quota.
func (s *shard) evacuate(id int32) {
	for src := 0; ; {
		bl := &s.blocks[id]
		if bl.buf == nil || src >= bl.used {
			return
		}
		h := readHeader(bl.buf, src)
		if !h.dead() {
			l, ok := s.allocNoEvict(h.size, id)
			if !ok {
				return
			}
			bl = &s.blocks[id] // allocNoEvict may grow s.blocks
			buf, off := s.at(l)
			copy(buf[off:], bl.buf[src:src+h.size])
			s.relocate(h.lb, bl.buf[h.key:h.key+h.klen], mkLoc(id, src), l)
			s.markDead(mkLoc(id, src), h.size) // may free the block
		}
		src += h.size
	}
}
