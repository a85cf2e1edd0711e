package mem

import (
	"errors"
	"fmt"
	"testing"
	"time"

	"granary/internal/engine"
)

// TestEviction writes 8x the quota and checks that memory stays at the quota
// and that eviction approximates LRU: old keys go, recent and recently read
// keys stay. About 9% of the items written fit, so "recent" is the newest 5%
// of the writes: half of what fits.
func TestEviction(t *testing.T) {
	const quota = 8 << 20
	e := newEngine(t, Options{Quota: quota})
	val := make([]byte, 64)
	const hot = 500
	var kb []byte
	written := int64(0)
	n := 0
	for ; written < 8*quota; n++ {
		k, b := key16(kb, hot+n)
		kb = k
		if _, err := e.Set(b, k, engine.Item{Type: engine.TypeString, Value: val}, now0); err != nil {
			t.Fatalf("write %d: %v", n, err)
		}
		written += int64(itemSize(len(k), len(val), 1, 0))
		if n < hot {
			// The hot keys are written first and read all along.
			k, b := key16(kb, n)
			kb = k
			e.Set(b, k, engine.Item{Type: engine.TypeString, Value: val}, now0)
		} else if n%20 == 0 {
			k, b := key16(kb, n/20%hot)
			kb = k
			e.Get(b, k, now0, nil)
		}
		if n%1000 == 0 {
			if st := e.Stats(); st.Bytes > quota*105/100 {
				t.Fatalf("after %d writes: %d bytes held, quota %d", n, st.Bytes, quota)
			}
		}
	}
	st := e.Stats()
	logLayout(t, e)
	present := func(from, to int) float64 {
		c := 0
		for i := from; i < to; i++ {
			k, b := key16(kb, i)
			kb = k
			if e.Touch(b, k, now0) {
				c++
			}
		}
		return float64(c) / float64(to-from)
	}
	// Measure before the Touches above disturb the order.
	last5 := present(hot+n-n/20, hot+n)
	last10 := present(hot+n-n/10, hot+n-n/20)
	first10 := present(hot, hot+n/10)
	hotKept := present(0, hot)
	t.Logf("%d writes, %d items kept, %d evictions, %d bytes (%.1f%% of quota)",
		n, st.Items, st.Evictions, st.Bytes, 100*float64(st.Bytes)/quota)
	t.Logf("present: newest 5%% %.3f, 5-10%% %.3f, oldest 10%% %.3f, hot %.3f", last5, last10, first10, hotKept)
	switch {
	case st.Evictions == 0 || st.Bytes < quota*85/100:
		t.Fatalf("quota not used: %+v", st)
	case last5 < 0.95:
		t.Fatalf("only %.3f of the newest 5%% kept", last5)
	case first10 > 0.01:
		t.Fatalf("%.3f of the oldest 10%% kept", first10)
	case hotKept < 0.95:
		t.Fatalf("only %.3f of the hot keys kept", hotKept)
	}
	checkInvariants(t, e)
}

// TestEvictionMixedSizes mixes small and jumbo items under a quota.
func TestEvictionMixedSizes(t *testing.T) {
	const quota = 4 << 20
	e := newEngine(t, Options{Quota: quota})
	for i := 0; i < 20000; i++ {
		size := 10 + i%200
		if i%50 == 0 {
			size = 20<<10 + i%(100<<10)
		}
		_, err := e.Set(uint16(i*31), []byte(fmt.Sprint("key", i)), engine.Item{Type: engine.TypeString, Value: make([]byte, size)}, now0)
		if err != nil {
			t.Fatalf("write %d (%d bytes): %v", i, size, err)
		}
		if st := e.Stats(); st.Bytes > quota*105/100 {
			t.Fatalf("write %d: %d bytes held", i, st.Bytes)
		}
	}
	checkInvariants(t, e)
	if _, err := e.Set(0, []byte("huge"), engine.Item{Type: engine.TypeString, Value: make([]byte, quota)}, now0); !errors.Is(err, engine.ErrOOM) {
		t.Fatalf("item larger than the quota: err %v", err)
	}
	// An item nearly as large as the quota evicts almost everything.
	if _, err := e.Set(0, []byte("big"), engine.Item{Type: engine.TypeString, Value: make([]byte, quota/2)}, now0); err != nil {
		t.Fatalf("half-quota item: %v", err)
	}
	if st := e.Stats(); st.Bytes > quota*105/100 {
		t.Fatalf("%d bytes held", st.Bytes)
	}
	checkInvariants(t, e)
}

func TestSetQuotaShrinks(t *testing.T) {
	e := newEngine(t, Options{})
	load(t, e, 100_000, 100)
	full := e.Stats().Bytes
	e.SetQuota(full / 2)
	st := e.Stats()
	t.Logf("held %d, quota %d -> %d bytes, %d evictions", full, full/2, st.Bytes, st.Evictions)
	if st.Bytes > full/2 || st.Evictions == 0 {
		t.Fatalf("after lowering the quota: %+v", st)
	}
	checkInvariants(t, e)
	// Writes keep working at the new quota.
	load(t, e, 10_000, 100)
	checkInvariants(t, e)
}

func TestOOMWhenNothingToEvict(t *testing.T) {
	e := newEngine(t, Options{Quota: 1000})
	_, err := e.Set(0, []byte("k"), str("v"), now0)
	if !errors.Is(err, engine.ErrOOM) {
		t.Fatalf("err = %v, want ErrOOM", err)
	}
	checkInvariants(t, e)
}

// TestLRUClockWrap runs a shard's LRU clock past 2^32 and checks that the
// aging sweep keeps cold items looking old.
func TestLRUClockWrap(t *testing.T) {
	e := newEngine(t, Options{Shards: 64, ExpireInterval: time.Hour})
	const cold, fresh = 200, 100
	for i := 0; i < cold; i++ { // stamps 1..200
		mustSet(t, e, 0, fmt.Sprint("cold", i), str("v"))
	}
	s := &e.shards[0]
	advance := func(d uint32) {
		s.mu.Lock()
		s.clock += d
		s.mu.Unlock()
		e.maintain(farFuture)
	}
	for step := 0; step < 15; step++ {
		advance(1 << 28)
	}
	advance(1<<28 - cold - fresh) // clock = 2^32-100
	for i := 0; i < fresh; i++ {
		mustSet(t, e, 0, fmt.Sprint("fresh", i), str("v"))
	}
	// Now the clock has wrapped to 0. Without aging, ticking past the cold
	// stamps would make every cold item look younger than every fresh one.
	advance(cold + 10)
	s.mu.Lock()
	for i := 0; i < fresh; i++ {
		s.evictOne()
	}
	s.mu.Unlock()
	kept := 0
	for i := 0; i < fresh; i++ {
		if _, ok := get(e, 0, fmt.Sprint("fresh", i), now0); ok {
			kept++
		}
	}
	if kept < fresh*95/100 {
		t.Fatalf("%d of %d fresh items kept", kept, fresh)
	}
}
