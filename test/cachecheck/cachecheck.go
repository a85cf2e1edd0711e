// Package cachecheck records and checks histories of client-side cached
// reads against a writer, for the multi-process test suites.
//
// One writer stores strictly increasing values (1, 2, 3, ... over all keys),
// so a key's writes are totally ordered and a value names the write that
// stored it. For every read, the reader records, just before it starts, lo =
// the last value whose write was acknowledged and done = the largest value a
// read of the key through the same client had returned when it completed;
// just after it ends, hi = the last value whose write was issued. The read is
// linearizable with the writes and the client's other reads when
//
//	max(lo, done) <= value <= hi
//
// (not older than a write acknowledged before it started, nor than what an
// earlier read already saw; not from a write not yet issued). For a register
// with one writer and distinct values this is exactly linearizability, and
// checking it directly is linear in the history where porcupine would search.
//
// A cached read is served by the client without asking the server, so only
// the reads of a client whose writes and cached reads share a connection
// (a rueidis cluster client) can be held to it; for other clients Stats
// measures the staleness: how long after a newer write was acknowledged a
// read still returned the older value.
package cachecheck

import (
	"context"
	"fmt"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"time"
)

// History is the writer's side: the keys and, per key, the writes.
type History struct {
	Keys   []string
	acked  []atomic.Int64 // per key: last acknowledged value
	issued []atomic.Int64 // per key: last issued value
	mu     sync.Mutex
	ackAt  []map[int64]time.Time // per key: when each value was acknowledged
}

// New returns a history over n keys named prefix{i} (each its own hash tag).
func New(prefix string, n int) *History {
	h := &History{acked: make([]atomic.Int64, n), issued: make([]atomic.Int64, n)}
	for i := range n {
		h.Keys = append(h.Keys, fmt.Sprintf("%s{%d}", prefix, i))
		h.ackAt = append(h.ackAt, map[int64]time.Time{})
	}
	return h
}

// Acked returns the last acknowledged value of key i.
func (h *History) Acked(i int) int64 { return h.acked[i].Load() }

// Write runs the writer until ctx ends, pausing between writes so that
// readers hit their caches. It returns set's first error (none once ctx
// ended).
func (h *History) Write(ctx context.Context, set func(key string, v int64) error, pause time.Duration) error {
	for v := int64(1); ctx.Err() == nil; v++ {
		k := int(v) % len(h.Keys)
		h.issued[k].Store(v)
		if err := set(h.Keys[k], v); err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return fmt.Errorf("SET %s %d: %w", h.Keys[k], v, err)
		}
		h.mu.Lock()
		h.ackAt[k][v] = time.Now()
		h.mu.Unlock()
		h.acked[k].Store(v)
		time.Sleep(pause)
	}
	return nil
}

// Group are readers checked against each other: the readers of one client.
type Group struct {
	done []atomic.Int64 // per key: largest value a completed read returned
}

// NewGroup returns a group for h.
func (h *History) NewGroup() *Group { return &Group{done: make([]atomic.Int64, len(h.Keys))} }

// Stats are readers' outcome.
type Stats struct {
	Reads, Hits, Stale int
	MaxStale           time.Duration // longest a superseded value was served after the newer write's acknowledgement
	First              string        // the first violation
}

// Add sums s and o.
func (s Stats) Add(o Stats) Stats {
	s.Reads += o.Reads
	s.Hits += o.Hits
	s.Stale += o.Stale
	s.MaxStale = max(s.MaxStale, o.MaxStale)
	if s.First == "" {
		s.First = o.First
	}
	return s
}

// Read runs one reader of group g until ctx ends. get returns the value (0:
// missing) and whether the client's cache served it.
func (h *History) Read(ctx context.Context, g *Group, get func(key string) (int64, bool, error)) (st Stats, err error) {
	for ctx.Err() == nil {
		k := rand.IntN(len(h.Keys))
		lo, done := h.acked[k].Load(), g.done[k].Load()
		start := time.Now()
		v, hit, err := get(h.Keys[k])
		if err != nil {
			if ctx.Err() != nil {
				return st, nil
			}
			return st, err
		}
		hi := h.issued[k].Load()
		st.Reads++
		if hit {
			st.Hits++
		}
		for {
			d := g.done[k].Load()
			if v <= d || g.done[k].CompareAndSwap(d, v) {
				break
			}
		}
		if v <= hi && v >= max(lo, done) {
			continue
		}
		st.Stale++
		if st.First == "" {
			st.First = fmt.Sprintf("%s: read %d (cache hit %v), acknowledged before it started %d, read before it %d, issued by its end %d",
				h.Keys[k], v, hit, lo, done, hi)
		}
		h.mu.Lock()
		for w, at := range h.ackAt[k] {
			if w > v && w <= max(lo, done) {
				st.MaxStale = max(st.MaxStale, start.Sub(at))
			}
		}
		h.mu.Unlock()
	}
	return st, nil
}

// Run runs the writer (set, pausing pause between writes) and readers
// concurrent readers of one group (get) until ctx ends, and returns the
// readers' summed Stats and the first error of the writer or a reader.
func (h *History) Run(ctx context.Context, set func(key string, v int64) error, pause time.Duration,
	readers int, get func(key string) (int64, bool, error)) (Stats, error) {
	var wg sync.WaitGroup
	errs := make([]error, readers+1)
	stats := make([]Stats, readers)
	wg.Add(1)
	go func() {
		defer wg.Done()
		errs[readers] = h.Write(ctx, set, pause)
	}()
	g := h.NewGroup()
	for i := range readers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			stats[i], errs[i] = h.Read(ctx, g, get)
		}()
	}
	wg.Wait()
	var sum Stats
	for _, st := range stats {
		sum = sum.Add(st)
	}
	for _, err := range errs {
		if err != nil {
			return sum, err
		}
	}
	return sum, nil
}
