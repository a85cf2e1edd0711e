package disk

import (
	"fmt"
	"testing"

	"granary/internal/engine"
	"granary/internal/engine/enginetest"
)

// TestRowCacheFillRace makes a write commit between a reader's pebble read
// and its fill: the reader must not put what it read (now stale) into the
// cache.
func TestRowCacheFillRace(t *testing.T) {
	s, e := newEngine(t, Options{})
	now := now0
	key := []byte("k")
	mustSet(t, e, 7, "k", engine.Item{Type: engine.TypeString, Value: []byte("old")})
	dk := appendDataKey(nil, e.ns, 7, key)
	st := &s.stripes[stripeIndex(e.ns, 7, key)]
	st.Lock()
	s.rows.forget(7, dk, now) // as if evicted
	st.Unlock()

	testHookFill = func() {
		testHookFill = nil
		mustSet(t, e, 7, "k", engine.Item{Type: engine.TypeString, Value: []byte("new")})
	}
	t.Cleanup(func() { testHookFill = nil })
	if it, _, ok := e.Get(7, key, now, nil); !ok || string(it.Value) != "old" {
		t.Fatalf("first read: %q %v, want the value before the write", it.Value, ok)
	}
	if it, _, ok := e.Get(7, key, now, nil); !ok || string(it.Value) != "new" {
		t.Fatalf("read after the write: %q %v, want new", it.Value, ok)
	}
	s.lockAll()
	checkRows(t, s)
	s.unlockAll()
}

// TestRowCacheAbsent: the cache remembers keys that are not stored, and
// forgets that when they are written, also when the write races a reader
// filling in the key's absence.
func TestRowCacheAbsent(t *testing.T) {
	s, e := newEngine(t, Options{})
	now := now0
	reads := func(want RowCacheStats) {
		t.Helper()
		for range 2 {
			if _, _, ok := e.Get(3, []byte("nope"), now, nil); ok {
				t.Fatal("found a key never written")
			}
		}
		if st := s.RowCacheStats(); st.Hits != want.Hits || st.Misses != want.Misses {
			t.Fatalf("two reads of a missing key: %d hits, %d misses; want %d and %d", st.Hits, st.Misses, want.Hits, want.Misses)
		}
	}
	// A new namespace's buckets are complete: a miss proves absence.
	reads(RowCacheStats{Hits: 2})
	// Once the cache lost an entry of the bucket, the first read asks pebble
	// and remembers the absence for the second.
	s.rows.forget(3, appendDataKey(nil, e.ns, 3, []byte("other")), now)
	reads(RowCacheStats{Hits: 3, Misses: 1})
	mustSet(t, e, 3, "nope", engine.Item{Type: engine.TypeString, Value: []byte("now")})
	if it, _, ok := e.Get(3, []byte("nope"), now, nil); !ok || string(it.Value) != "now" {
		t.Fatalf("after a write: %q %v", it.Value, ok)
	}
	if err := e.Update(3, []byte("nope"), now, func(*engine.Item) (engine.Item, engine.Op) { return engine.Item{}, engine.OpDelete }); err != nil {
		t.Fatal(err)
	}
	if _, _, ok := e.Get(3, []byte("nope"), now, nil); ok {
		t.Fatal("found a deleted key")
	}

	testHookFill = func() {
		testHookFill = nil
		mustSet(t, e, 3, "late", engine.Item{Type: engine.TypeString, Value: []byte("here")})
	}
	t.Cleanup(func() { testHookFill = nil })
	if _, _, ok := e.Get(3, []byte("late"), now, nil); ok {
		t.Fatal("first read found the key written after its pebble read")
	}
	if it, _, ok := e.Get(3, []byte("late"), now, nil); !ok || string(it.Value) != "here" {
		t.Fatalf("read after the write: %q %v", it.Value, ok)
	}
	checkStore(t, s)
}

// TestRowCacheExpiry: the cache may drop an expired item before pebble does,
// so a bucket holding items with an expiry is not trusted to be complete: a
// read at an earlier time still finds the item.
func TestRowCacheExpiry(t *testing.T) {
	_, e := newEngine(t, Options{})
	now := now0
	mustSet(t, e, 5, "ttl", engine.Item{Type: engine.TypeString, Value: []byte("v"), Expire: now + 1000})
	if _, _, ok := e.Get(5, []byte("ttl"), now+2000, nil); ok {
		t.Fatal("found an expired item")
	}
	if _, _, ok := e.Get(5, []byte("ttl"), now, nil); !ok {
		t.Fatal("an item alive at now is gone after a read at a later time")
	}
}

// TestRowCacheSmall writes far more than a small row cache holds: every item
// stays readable, the cache stays near its size, reads of recent items hit
// it, and the counters add up.
func TestRowCacheSmall(t *testing.T) {
	const size = 1 << 20
	s, e := newEngine(t, Options{RowCacheBytes: size})
	now := now0
	const n = 50000
	val := make([]byte, 100)
	for i := range n {
		mustSet(t, e, uint16(i), fmt.Sprintf("key%d", i), engine.Item{Type: engine.TypeString, Value: val})
	}
	if st := s.RowCacheStats(); st.Bytes > size*11/10 || st.Size != size {
		t.Fatalf("row cache holds %d bytes of %d", st.Bytes, st.Size)
	}
	for i := range n {
		if _, _, ok := e.Get(uint16(i), []byte(fmt.Sprintf("key%d", i)), now, nil); !ok {
			t.Fatalf("key%d lost", i)
		}
	}
	st := s.RowCacheStats()
	if st.Hits+st.Misses != n || st.Misses < n/2 {
		t.Fatalf("after %d reads of %d items: %d hits, %d misses", n, n, st.Hits, st.Misses)
	}
	// The last items read were filled in: reading them again hits.
	for i := n - 100; i < n; i++ {
		e.Get(uint16(i), []byte(fmt.Sprintf("key%d", i)), now, nil)
	}
	// (Sampled LRU may have evicted a few of them.)
	if st2 := s.RowCacheStats(); st2.Hits-st.Hits < 90 {
		t.Fatalf("%d of 100 recent reads hit the row cache", st2.Hits-st.Hits)
	}
	checkStore(t, s)
}

// TestRowCacheOff: a negative size turns the cache off.
func TestRowCacheOff(t *testing.T) {
	s, e := newEngine(t, Options{RowCacheBytes: -1})
	mustSet(t, e, 1, "a", engine.Item{Type: engine.TypeString, Value: []byte("v")})
	if _, _, ok := e.Get(1, []byte("a"), now0, nil); !ok || s.rows != nil || s.RowCacheStats() != (RowCacheStats{}) {
		t.Fatal("row cache not off")
	}
}

// Prefetch is a hint (enginetest.CheckPrefetch), with or without a row
// cache.
func TestPrefetch(t *testing.T) {
	for _, rows := range []int64{0, -1} {
		_, e := newEngine(t, Options{RowCacheBytes: rows})
		enginetest.CheckPrefetch(t, e)
	}
}
