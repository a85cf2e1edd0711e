package mem

import (
	"testing"

	"granary/internal/engine"
	"granary/internal/engine/enginetest"
)

const benchKeys = 1 << 20

// BenchmarkEngine runs the shared benchmarks on benchKeys items.
func BenchmarkEngine(b *testing.B) {
	enginetest.Bench(b, benchKeys, func(b *testing.B) engine.Engine {
		e := newEngine(b, Options{})
		load(b, e, benchKeys, 32)
		return e
	})
}

// BenchmarkSetEvict writes new keys at the quota, so every Set evicts.
func BenchmarkSetEvict(b *testing.B) {
	e := newEngine(b, Options{Quota: 32 << 20})
	val := make([]byte, 32)
	var kb []byte
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		k, bk := key16(kb, i)
		kb = k
		e.Set(bk, k, engine.Item{Type: engine.TypeString, Value: val}, now0)
	}
	b.ReportMetric(float64(e.Stats().Evictions)/float64(b.N), "evictions/op")
}
