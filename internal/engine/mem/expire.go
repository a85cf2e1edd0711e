package mem

import "time"

// Active expiry works like Redis' activeExpireCycle: every interval a cycle
// walks the shards that hold items with an expiry, samples such items bucket
// by bucket (only buckets whose expiry count is non-zero) and deletes the
// expired ones. It keeps sampling a bucket while more than a quarter of the
// sample was expired, stops early once a cycle has seen enough items with a
// low expired ratio (so it costs little when little expires), and never runs
// longer than the budget. The shard lock is released every expireBatch
// entries to bound the latency it adds to requests.
//
// The same goroutine also maintains the shards (maintain): it ages LRU
// stamps (clock.go), frees the head block of empty shards, and defragments:
// a shard whose arena is more than a third dead (after mass deletes, say)
// gets its emptiest blocks evacuated, so memory is given back even without
// new writes.
const (
	expireSample   = 20  // expiring items per bucket per round
	expireScanMax  = 400 // slots scanned per bucket per round
	expireBatch    = 2000
	expireLowYield = 1000 // items a cycle samples before it may stop early
	defragMinDead  = 4 * minBlock
	defragBlocks   = 4 // blocks evacuated per shard and cycle
)

func (e *Engine) expireLoop() {
	defer close(e.done)
	t := time.NewTicker(e.interval)
	defer t.Stop()
	for {
		select {
		case <-e.stop:
			return
		case start := <-t.C:
			e.expireCycle(start)
		}
	}
}

func (e *Engine) expireCycle(start time.Time) {
	deadline := start.Add(e.budget)
	now := start.UnixMilli()
	sampled, expired := 0, 0
	for visited := 0; visited < len(e.shards); {
		s := &e.shards[e.expShard]
		finished := true
		if s.itemsExp.Load() > 0 {
			s.mu.Lock()
			var a, b int
			a, b, finished = s.expireSome(now, expireBatch)
			s.mu.Unlock()
			sampled += a
			expired += b
		}
		if finished {
			e.expShard = (e.expShard + 1) % len(e.shards)
			visited++
		}
		if time.Now().After(deadline) || sampled >= expireLowYield && expired*10 < sampled {
			break
		}
	}
	e.maintain(deadline)
}

// expireSome samples items with an expiry starting at the shard's bucket
// cursor and deletes expired ones, stopping after about maxWork slots.
// finished reports that it went through every bucket of the shard.
func (s *shard) expireSome(now int64, maxWork int) (sampled, expired int, finished bool) {
	work := 0
	for ; s.expLB < len(s.buckets); s.expLB++ {
		b := &s.buckets[s.expLB]
		for b.exp > 0 && work < maxWork {
			a, x, w := s.expireBucket(b, now)
			sampled += a
			expired += x
			work += w
			if x*4 <= a {
				break
			}
		}
		if work >= maxWork {
			return sampled, expired, false
		}
	}
	s.expLB = 0
	return sampled, expired, true
}

// expireBucket runs one sampling round over b from its cursor.
func (s *shard) expireBucket(b *bucket, now int64) (sampled, removed, work int) {
	n := len(b.tab)
	i := int(b.cur) % n
	for limit := min(n, expireScanMax); work < limit && sampled < expireSample; {
		work++
		e := b.tab[i]
		if e != 0 {
			buf, off := s.at(e & locMask)
			if buf[off]&flagExp != 0 {
				sampled++
				if h := readHeader(buf, off); expired(h.exp, now) {
					removed++
					s.removed(buf, &h, Expired)
					s.removeSlot(b, i)
					s.expirations.Add(1)
					if len(b.tab) != n {
						return // table dropped or resized: start over next time
					}
					continue // slot i now holds the next entry of the cluster
				}
			}
		}
		if i++; i == n {
			i = 0
		}
	}
	b.cur = uint32(i)
	return sampled, removed, work
}

// maintain ages and releases every shard and, until the deadline,
// defragments them.
func (e *Engine) maintain(deadline time.Time) {
	defrag := true
	for i := range e.shards {
		s := &e.shards[i]
		s.mu.Lock()
		s.age()
		s.releaseIfEmpty()
		for k := 0; defrag && k < defragBlocks && s.dead >= defragMinDead && 3*s.dead > s.arena; k++ {
			id := s.emptiestBlock()
			if id < 0 {
				break
			}
			s.evacuate(id)
		}
		s.mu.Unlock()
		defrag = defrag && time.Now().Before(deadline)
	}
}

// emptiestBlock returns the non-head regular block that is at least half
// dead with the most dead bytes, or -1.
func (s *shard) emptiestBlock() int32 {
	best, bestDead := int32(-1), 0
	for i := range s.blocks {
		bl := &s.blocks[i]
		if bl.buf == nil || bl.jumbo || int32(i) == s.head || 2*bl.dead < bl.used {
			continue
		}
		if bl.dead > bestDead {
			best, bestDead = int32(i), bl.dead
		}
	}
	return best
}
