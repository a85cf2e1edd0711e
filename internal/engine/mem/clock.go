package mem

// Each shard has a logical LRU clock, ticked on every access under the shard
// lock: per-operation resolution with no shared cache line. Items store the
// 32-bit stamp of their last access and age is clock-stamp in uint32
// arithmetic, so the clock may wrap. To keep wrapping from making cold items
// look young, the maintenance goroutine sweeps every shard's items at a rate
// proportional to how fast its clock runs, raising any stamp older than
// ageCap to clock-ageCap; a full pass takes at most agePass ticks, so no age
// ever gets near 2^32. The cost is a sequential walk of the arena once per
// 2^29 accesses of the shard.
const (
	agePass = 1 << 29
	ageCap  = 1 << 30
)

// tick advances the LRU clock and returns the new stamp.
func (s *shard) tick() uint32 {
	s.clock++
	return s.clock
}

// age sweeps the share of the shard's blocks due since the last call.
func (s *shard) age() {
	d := uint64(s.clock - s.agedAt)
	s.agedAt = s.clock
	s.ageDebt += d * uint64(len(s.blocks))
	for s.ageDebt >= agePass && len(s.blocks) > 0 {
		s.ageDebt -= agePass
		s.ageCursor = (s.ageCursor + 1) % len(s.blocks)
		s.ageBlock(s.ageCursor)
	}
}

func (s *shard) ageBlock(id int) {
	bl := &s.blocks[id]
	for off := 0; off < bl.used; {
		h := readHeader(bl.buf, off)
		if !h.dead() && s.clock-h.lru > ageCap {
			setLRU(bl.buf, off, s.clock-ageCap)
		}
		off += h.size
	}
}
