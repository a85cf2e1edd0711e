package mem

import (
	"sync/atomic"
	"testing"

	"granary/internal/engine"
)

func TestGetDoesNotAllocate(t *testing.T) {
	e := newEngine(t, Options{})
	load(t, e, 1000, 32)
	k, b := key16(nil, 7)
	dst := make([]byte, 0, 64)
	allocs := testing.AllocsPerRun(1000, func() {
		if _, _, ok := e.Get(b, k, now0, dst[:0]); !ok {
			t.Fatal("missing")
		}
	})
	if allocs != 0 {
		t.Fatalf("Get allocates %.1f times", allocs)
	}
}

func TestSetDoesNotAllocate(t *testing.T) {
	e := newEngine(t, Options{})
	load(t, e, 1000, 32)
	keys := make([][]byte, 1000)
	buckets := make([]uint16, 1000)
	for i := range keys {
		keys[i], buckets[i] = key16(nil, i)
	}
	small, large := make([]byte, 32), make([]byte, 200)
	i := 0
	for _, tc := range []struct {
		name string
		set  func()
	}{
		{"same size, in place", func() {
			e.Set(buckets[3], keys[3], engine.Item{Type: engine.TypeString, Value: small}, now0)
		}},
		{"changing sizes, appended", func() {
			i++
			v := small
			if i%2 == 0 {
				v = large
			}
			e.Set(buckets[i%1000], keys[i%1000], engine.Item{Type: engine.TypeString, Value: v}, now0)
		}},
	} {
		// Warm up so the arena reaches its steady size.
		for j := 0; j < 20000; j++ {
			tc.set()
		}
		if allocs := testing.AllocsPerRun(5000, tc.set); allocs != 0 {
			t.Errorf("%s: Set allocates %.2f times", tc.name, allocs)
		}
	}
}

const benchKeys = 1 << 20

func benchEngine(b *testing.B, opts Options, n int) (*Engine, [][]byte, []uint16) {
	e := New(opts)
	b.Cleanup(func() { e.Close() })
	keys := make([][]byte, n)
	buckets := make([]uint16, n)
	val := make([]byte, 32)
	for i := range keys {
		keys[i], buckets[i] = key16(nil, i)
		e.Set(buckets[i], keys[i], engine.Item{Type: engine.TypeString, Value: val}, now0)
	}
	b.ReportAllocs()
	b.ResetTimer()
	return e, keys, buckets
}

func BenchmarkGet(b *testing.B) {
	e, keys, buckets := benchEngine(b, Options{}, benchKeys)
	dst := make([]byte, 0, 64)
	for i := 0; b.Loop(); i++ {
		j := i & (benchKeys - 1)
		e.Get(buckets[j], keys[j], now0, dst[:0])
	}
}

func BenchmarkSet(b *testing.B) {
	e, keys, buckets := benchEngine(b, Options{}, benchKeys)
	val := make([]byte, 32)
	for i := 0; b.Loop(); i++ {
		j := i & (benchKeys - 1)
		e.Set(buckets[j], keys[j], engine.Item{Type: engine.TypeString, Value: val[:i&31]}, now0)
	}
}

// BenchmarkSetEvict writes new keys at the quota, so every Set evicts.
func BenchmarkSetEvict(b *testing.B) {
	e, _, _ := benchEngine(b, Options{Quota: 32 << 20}, 0)
	val := make([]byte, 32)
	var kb []byte
	for i := 0; b.Loop(); i++ {
		k, bk := key16(kb, i)
		kb = k
		e.Set(bk, k, engine.Item{Type: engine.TypeString, Value: val}, now0)
	}
	b.ReportMetric(float64(e.Stats().Evictions)/float64(b.N), "evictions/op")
}

func BenchmarkGetParallel(b *testing.B) {
	e, keys, buckets := benchEngine(b, Options{}, benchKeys)
	var seed atomic.Uint64
	b.RunParallel(func(pb *testing.PB) {
		i := int(seed.Add(1) * 7919)
		dst := make([]byte, 0, 64)
		for ; pb.Next(); i++ {
			j := i & (benchKeys - 1)
			e.Get(buckets[j], keys[j], now0, dst[:0])
		}
	})
}

func BenchmarkSetParallel(b *testing.B) {
	e, keys, buckets := benchEngine(b, Options{}, benchKeys)
	var seed atomic.Uint64
	b.RunParallel(func(pb *testing.PB) {
		i := int(seed.Add(1) * 7919)
		val := make([]byte, 32)
		for ; pb.Next(); i++ {
			j := i & (benchKeys - 1)
			e.Set(buckets[j], keys[j], engine.Item{Type: engine.TypeString, Value: val[:i&31]}, now0)
		}
	})
}

func BenchmarkUpdate(b *testing.B) {
	e, keys, buckets := benchEngine(b, Options{}, benchKeys)
	for i := 0; b.Loop(); i++ {
		j := i & (benchKeys - 1)
		e.Update(buckets[j], keys[j], now0, func(cur *engine.Item) (engine.Item, engine.Op) {
			next := *cur
			next.Version++
			return next, engine.OpPut
		})
	}
}
