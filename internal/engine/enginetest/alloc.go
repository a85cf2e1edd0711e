package enginetest

import (
	"testing"

	"granary/internal/engine"
)

// testGetDoesNotAllocate checks the interface's promise that Get, the hot
// read path, allocates nothing beyond growing dst.
func testGetDoesNotAllocate(t *testing.T, h *harness) {
	if h.SkipAllocs {
		t.Skip("allocation counts mean nothing here")
	}
	e := h.open(t)
	Load(t, e, 1000, 32)
	k, b := Key16(nil, 7)
	dst := make([]byte, 0, 64)
	allocs := testing.AllocsPerRun(1000, func() {
		if _, _, ok := e.Get(b, k, Now, dst[:0]); !ok {
			t.Fatal("missing")
		}
	})
	if allocs != 0 {
		t.Fatalf("Get allocates %.1f times", allocs)
	}
	absent := []byte("absent key")
	allocs = testing.AllocsPerRun(1000, func() {
		e.Get(b, absent, Now, dst[:0])
	})
	if allocs != 0 {
		t.Fatalf("Get of an absent key allocates %.1f times", allocs)
	}
}

// testSetAllocations bounds the allocations of Set, the hot write path, by
// Options.SetAllocs.
func testSetAllocations(t *testing.T, h *harness) {
	if h.SkipAllocs {
		t.Skip("allocation counts mean nothing here")
	}
	e := h.open(t)
	Load(t, e, 1000, 32)
	keys, buckets := Keys(1000)
	small, large := make([]byte, 32), make([]byte, 200)
	i := 0
	for _, tc := range []struct {
		name string
		set  func()
	}{
		{"same size, in place", func() {
			e.Set(buckets[3], keys[3], engine.Item{Type: engine.TypeString, Value: small}, Now)
		}},
		{"same size, every key", func() {
			i++
			e.Set(buckets[i%1000], keys[i%1000], engine.Item{Type: engine.TypeString, Value: small}, Now)
		}},
		{"changing sizes, appended", func() {
			i++
			v := small
			if i%2 == 0 {
				v = large
			}
			e.Set(buckets[i%1000], keys[i%1000], engine.Item{Type: engine.TypeString, Value: v}, Now)
		}},
	} {
		// Warm up so that the engine's buffers reach their steady size.
		for j := 0; j < 20000; j++ {
			tc.set()
		}
		allocs := testing.AllocsPerRun(5000, tc.set)
		t.Logf("%s: %.2f allocations per Set", tc.name, allocs)
		if allocs > h.SetAllocs {
			t.Errorf("%s: Set allocates %.2f times, want at most %.0f", tc.name, allocs, h.SetAllocs)
		}
	}
}
