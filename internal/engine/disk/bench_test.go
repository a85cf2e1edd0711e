package disk

import (
	"encoding/binary"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cespare/xxhash/v2"

	"granary/internal/engine"
)

func key16(buf []byte, i int) ([]byte, uint16) {
	buf = append(buf[:0], "key:"...)
	buf = binary.BigEndian.AppendUint64(buf, uint64(i))
	buf = append(buf, "abcd"...)
	return buf, uint16(xxhash.Sum64(buf) % NumBuckets)
}

func load(t testing.TB, e *Engine, n, vlen int) ([][]byte, []uint16) {
	t.Helper()
	val := make([]byte, vlen)
	keys := make([][]byte, n)
	buckets := make([]uint16, n)
	for i := range keys {
		keys[i], buckets[i] = key16(nil, i)
		if _, err := e.Set(buckets[i], keys[i], engine.Item{Type: engine.TypeString, Value: val}, now0); err != nil {
			t.Fatal(err)
		}
	}
	return keys, buckets
}

func TestGetDoesNotAllocate(t *testing.T) {
	if raceEnabled {
		t.Skip("allocation counts are meaningless under the race detector")
	}
	_, e := newEngine(t, Options{})
	keys, buckets := load(t, e, 1000, 32)
	dst := make([]byte, 0, 64)
	allocs := testing.AllocsPerRun(1000, func() {
		if _, _, ok := e.Get(buckets[7], keys[7], now0, dst[:0]); !ok {
			t.Fatal("missing")
		}
	})
	if allocs != 0 {
		t.Fatalf("Get allocates %.1f times", allocs)
	}
	allocs = testing.AllocsPerRun(1000, func() {
		e.Get(buckets[7], []byte("absent key"), now0, dst[:0])
	})
	if allocs != 0 {
		t.Fatalf("Get of an absent key allocates %.1f times", allocs)
	}
}

func TestSetAllocations(t *testing.T) {
	if raceEnabled {
		t.Skip("allocation counts are meaningless under the race detector")
	}
	_, e := newEngine(t, Options{})
	keys, buckets := load(t, e, 1000, 32)
	val := make([]byte, 32)
	i := 0
	allocs := testing.AllocsPerRun(2000, func() {
		i++
		e.Set(buckets[i%1000], keys[i%1000], engine.Item{Type: engine.TypeString, Value: val}, now0)
	})
	t.Logf("Set: %.2f allocations", allocs)
	if allocs > 2 {
		t.Fatalf("Set allocates %.2f times", allocs)
	}
}

const benchKeys = 1 << 18

// benchEngine loads benchKeys items, then reopens the store with the policy
// (so reads start from SSTs and the block cache, as on a server that has been
// up a while).
func benchEngine(b *testing.B, policy SyncPolicy) (*Engine, [][]byte, []uint16) {
	dir := b.TempDir()
	s := openStore(b, dir, Options{Sync: SyncInterval, SweepInterval: time.Hour})
	keys, buckets := load(b, s.Namespace(1), benchKeys, 32)
	s.Close()
	s = openStore(b, dir, Options{Sync: policy, SweepInterval: time.Hour})
	b.ReportAllocs()
	b.ResetTimer()
	return s.Namespace(1), keys, buckets
}

func BenchmarkGet(b *testing.B) {
	e, keys, buckets := benchEngine(b, SyncInterval)
	dst := make([]byte, 0, 64)
	for i := 0; b.Loop(); i++ {
		j := i & (benchKeys - 1)
		e.Get(buckets[j], keys[j], now0, dst[:0])
	}
}

func BenchmarkGetMissing(b *testing.B) {
	e, keys, buckets := benchEngine(b, SyncInterval)
	dst := make([]byte, 0, 64)
	var kb []byte
	for i := 0; b.Loop(); i++ {
		j := i & (benchKeys - 1)
		kb = append(append(kb[:0], keys[j]...), 'x')
		e.Get(buckets[j], kb, now0, dst[:0])
	}
}

func BenchmarkGetParallel(b *testing.B) {
	e, keys, buckets := benchEngine(b, SyncInterval)
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

func BenchmarkSet(b *testing.B) {
	e, keys, buckets := benchEngine(b, SyncInterval)
	val := make([]byte, 32)
	for i := 0; b.Loop(); i++ {
		j := i & (benchKeys - 1)
		e.Set(buckets[j], keys[j], engine.Item{Type: engine.TypeString, Value: val[:i&31]}, now0)
	}
}

func BenchmarkSetNew(b *testing.B) {
	e, _, _ := benchEngine(b, SyncInterval)
	val := make([]byte, 32)
	var kb []byte
	for i := 0; b.Loop(); i++ {
		k, bk := key16(kb, benchKeys+i)
		kb = k
		e.Set(bk, k, engine.Item{Type: engine.TypeString, Value: val}, now0)
	}
}

func BenchmarkSetParallel(b *testing.B) {
	e, keys, buckets := benchEngine(b, SyncInterval)
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

// BenchmarkSetSyncAlways measures a synced write; with many writers pebble
// shares one fsync between them.
func BenchmarkSetSyncAlways(b *testing.B) {
	e, keys, buckets := benchEngine(b, SyncAlways)
	val := make([]byte, 32)
	for i := 0; b.Loop(); i++ {
		j := i & (benchKeys - 1)
		e.Set(buckets[j], keys[j], engine.Item{Type: engine.TypeString, Value: val}, now0)
	}
}

func BenchmarkSetSyncAlwaysParallel(b *testing.B) {
	e, keys, buckets := benchEngine(b, SyncAlways)
	var seed atomic.Uint64
	b.SetParallelism(16)
	b.RunParallel(func(pb *testing.PB) {
		i := int(seed.Add(1) * 7919)
		val := make([]byte, 32)
		for ; pb.Next(); i++ {
			j := i & (benchKeys - 1)
			e.Set(buckets[j], keys[j], engine.Item{Type: engine.TypeString, Value: val}, now0)
		}
	})
}

func BenchmarkUpdate(b *testing.B) {
	e, keys, buckets := benchEngine(b, SyncInterval)
	for i := 0; b.Loop(); i++ {
		j := i & (benchKeys - 1)
		e.Update(buckets[j], keys[j], now0, func(cur *engine.Item) (engine.Item, engine.Op) {
			next := *cur
			next.Version++
			return next, engine.OpPut
		})
	}
}
