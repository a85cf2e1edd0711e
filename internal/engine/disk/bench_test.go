package disk

import (
	"sync/atomic"
	"testing"
	"time"

	"granary/internal/engine"
	"granary/internal/engine/enginetest"
)

const benchKeys = 1 << 18

// benchEngine loads benchKeys items, then reopens the store with the policy
// (so reads start from SSTs and the block cache, as on a server that has been
// up a while).
func benchEngine(b *testing.B, policy SyncPolicy) *Engine {
	dir := b.TempDir()
	s := openStore(b, dir, Options{Sync: SyncInterval, SweepInterval: time.Hour})
	enginetest.Load(b, s.Namespace(1), benchKeys, 32)
	s.Close()
	s = openStore(b, dir, Options{Sync: policy, SweepInterval: time.Hour})
	return s.Namespace(1)
}

// BenchmarkEngine runs the shared benchmarks under SyncInterval.
func BenchmarkEngine(b *testing.B) {
	enginetest.Bench(b, benchKeys, func(b *testing.B) engine.Engine { return benchEngine(b, SyncInterval) })
}

// BenchmarkSetSyncAlways measures a synced write; with many writers pebble
// shares one fsync between them.
func BenchmarkSetSyncAlways(b *testing.B) {
	e := benchEngine(b, SyncAlways)
	keys, buckets := enginetest.Keys(benchKeys)
	val := make([]byte, 32)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		j := i & (benchKeys - 1)
		e.Set(buckets[j], keys[j], engine.Item{Type: engine.TypeString, Value: val}, now0)
	}
}

func BenchmarkSetSyncAlwaysParallel(b *testing.B) {
	e := benchEngine(b, SyncAlways)
	keys, buckets := enginetest.Keys(benchKeys)
	var seed atomic.Uint64
	b.ReportAllocs()
	b.ResetTimer()
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
