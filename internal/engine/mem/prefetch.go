package mem

import (
	"unsafe"

	"github.com/cespare/xxhash/v2"

	"granary/internal/engine"
)

// Prefetch implements engine.Prefetcher. A lookup waits for memory twice,
// for the key's index slot and then for its item, and a pipeline's lookups
// wait one after the other. Prefetch starts the slot loads of every key, then
// (once they have had time to arrive) the item loads, so that the commands
// that follow find both in cache: the waits overlap instead of adding up.
func (e *Engine) Prefetch(buckets []uint16, keys [][]byte) {
	type probe struct {
		s    *shard
		lb   int
		tag  uint64
		slot int
	}
	var ps [engine.PrefetchKeys]probe
	n := min(len(keys), engine.PrefetchKeys)
	for i := range n {
		s, lb := e.locate(buckets[i])
		tag := tagOf(xxhash.Sum64(keys[i]))
		p := probe{s: s, lb: lb, tag: tag, slot: -1}
		s.mu.Lock()
		if t := s.buckets[lb].tab; len(t) > 0 {
			p.slot = home(tag, len(t))
			prefetch(unsafe.Pointer(&t[p.slot]))
		}
		s.mu.Unlock()
		ps[i] = p
	}
	for _, p := range ps[:n] {
		if p.slot < 0 {
			continue
		}
		s := p.s
		s.mu.Lock()
		if t := s.buckets[p.lb].tab; p.slot < len(t) {
			if en := t[p.slot]; en != 0 && en>>locBits == p.tag {
				buf, off := s.at(en & locMask)
				if off < len(buf) {
					prefetch(unsafe.Pointer(&buf[off]))
				}
			}
		}
		s.mu.Unlock()
	}
}
