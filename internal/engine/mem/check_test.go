package mem

import (
	"fmt"
	"testing"

	"github.com/cespare/xxhash/v2"
)

// checkInvariants verifies the arena and index agree: every index entry
// points at a live item of its bucket with a matching tag, every live item is
// indexed once, and the byte counters add up.
func checkInvariants(t testing.TB, e *Engine) {
	t.Helper()
	// Hold every shard so that background work cannot change the counters
	// between reading them.
	for si := range e.shards {
		e.shards[si].mu.Lock()
	}
	defer func() {
		for si := range e.shards {
			e.shards[si].mu.Unlock()
		}
	}()
	var total int64
	for si := range e.shards {
		s := &e.shards[si]
		if err := s.check(); err != nil {
			t.Fatalf("shard %d: %v", si, err)
		}
		total += s.arena + s.jumbo + s.tables
	}
	if b := e.bytes.Load(); b != total {
		t.Fatalf("bytes counter %d, shards hold %d", b, total)
	}
}

func (s *shard) check() error {
	indexed := map[uint64]bool{}
	var items, itemsExp, tables int64
	for lb := range s.buckets {
		b := &s.buckets[lb]
		var n, exp int32
		for _, en := range b.tab {
			if en == 0 {
				continue
			}
			l := en & locMask
			bl := &s.blocks[locBlock(l)]
			if bl.buf == nil || locOff(l) >= bl.used {
				return fmt.Errorf("bucket %d: entry %x points outside a block", lb, en)
			}
			h := readHeader(bl.buf, locOff(l))
			if h.dead() || int(h.lb) != lb {
				return fmt.Errorf("bucket %d: entry %x: dead=%v lb=%d", lb, en, h.dead(), h.lb)
			}
			if tagOf(xxhash.Sum64(bl.buf[h.key:h.key+h.klen])) != en>>locBits {
				return fmt.Errorf("bucket %d: entry %x: tag mismatch", lb, en)
			}
			if b.findExact(en) < 0 {
				return fmt.Errorf("bucket %d: entry %x unreachable", lb, en)
			}
			indexed[l] = true
			n++
			if h.exp != 0 {
				exp++
			}
		}
		if n != b.n || exp != b.exp {
			return fmt.Errorf("bucket %d: counted %d/%d, recorded %d/%d", lb, n, exp, b.n, b.exp)
		}
		if b.tab != nil && (int(b.n) >= len(b.tab) || len(b.tab) > 16 && int(b.n)*5 > len(b.tab)*4) {
			return fmt.Errorf("bucket %d: overloaded table", lb)
		}
		items += int64(n)
		itemsExp += int64(exp)
		tables += 8 * int64(len(b.tab))
	}
	var arena, jumbo, dead int64
	live := 0
	for id := range s.blocks {
		bl := &s.blocks[id]
		if bl.buf == nil {
			continue
		}
		d := 0
		for off := 0; off < bl.used; {
			h := readHeader(bl.buf, off)
			if h.dead() {
				d += h.size
			} else {
				if !indexed[mkLoc(int32(id), off)] {
					return fmt.Errorf("block %d off %d: live item not indexed", id, off)
				}
				live++
			}
			off += h.size
		}
		if bl.jumbo {
			jumbo += int64(len(bl.buf))
			if d != 0 {
				return fmt.Errorf("jumbo block %d holds a dead item", id)
			}
			continue
		}
		arena += int64(len(bl.buf))
		if d != bl.dead {
			return fmt.Errorf("block %d: dead %d, recorded %d", id, d, bl.dead)
		}
		dead += int64(d)
	}
	switch {
	case live != len(indexed):
		return fmt.Errorf("%d live items, %d indexed", live, len(indexed))
	case items != s.items.Load() || itemsExp != s.itemsExp.Load():
		return fmt.Errorf("items %d/%d, counters %d/%d", items, itemsExp, s.items.Load(), s.itemsExp.Load())
	case arena != s.arena || jumbo != s.jumbo || dead != s.dead || tables != s.tables:
		return fmt.Errorf("arena/jumbo/dead/tables %d/%d/%d/%d, recorded %d/%d/%d/%d",
			arena, jumbo, dead, tables, s.arena, s.jumbo, s.dead, s.tables)
	}
	return nil
}

// logLayout logs where the engine's bytes are.
func logLayout(t *testing.T, e *Engine) {
	var arena, dead, tables, tail, nblocks int64
	mn, mx := int64(1<<62), int64(0)
	for i := range e.shards {
		s := &e.shards[i]
		s.mu.Lock()
		mn, mx = min(mn, s.arena), max(mx, s.arena)
		arena += s.arena
		dead += s.dead
		tables += s.tables
		for _, bl := range s.blocks {
			if bl.buf != nil && !bl.jumbo {
				tail += int64(len(bl.buf) - bl.used)
				nblocks++
			}
		}
		s.mu.Unlock()
	}
	t.Logf("shard arena min %d max %d", mn, mx)
	t.Logf("arena %d dead %d tail %d tables %d blocks %d", arena, dead, tail, tables, nblocks)
}
