package enginetest

import (
	"sync/atomic"
	"testing"

	"granary/internal/engine"
)

// benchOp is one operation of a benchmark: the i'th of a goroutine, on the
// key j of keys 0..n-1. scratch is the goroutine's own buffer.
type benchOp func(e engine.Engine, k *benchKeys, i, j int, scratch *benchScratch)

type benchKeys struct {
	keys    [][]byte
	buckets []uint16
	n       int
}

type benchScratch struct {
	dst, key []byte
	val      []byte
}

var benchOps = []struct {
	name     string
	parallel bool
	op       benchOp
}{
	{"Get", false, benchGet},
	{"GetParallel", true, benchGet},
	{"GetMissing", false, func(e engine.Engine, k *benchKeys, i, j int, s *benchScratch) {
		s.key = append(append(s.key[:0], k.keys[j]...), 'x')
		e.Get(k.buckets[j], s.key, Now, s.dst[:0])
	}},
	{"Set", false, benchSet},
	{"SetParallel", true, benchSet},
	{"SetNew", false, func(e engine.Engine, k *benchKeys, i, j int, s *benchScratch) {
		key, b := Key16(s.key, k.n+i)
		s.key = key
		e.Set(b, key, engine.Item{Type: engine.TypeString, Value: s.val}, Now)
	}},
	{"Update", false, func(e engine.Engine, k *benchKeys, i, j int, s *benchScratch) {
		e.Update(k.buckets[j], k.keys[j], Now, func(cur *engine.Item) (engine.Item, engine.Op) {
			next := *cur
			next.Version++
			return next, engine.OpPut
		})
	}},
}

func benchGet(e engine.Engine, k *benchKeys, i, j int, s *benchScratch) {
	e.Get(k.buckets[j], k.keys[j], Now, s.dst[:0])
}

// benchSet overwrites key j with a value of 0 to 31 bytes.
func benchSet(e engine.Engine, k *benchKeys, i, j int, s *benchScratch) {
	e.Set(k.buckets[j], k.keys[j], engine.Item{Type: engine.TypeString, Value: s.val[:i&31]}, Now)
}

// Bench runs the shared benchmarks of the hot paths. open returns an engine
// holding the keys 0..n-1 of Key16 with 32-byte values (Load); n must be a
// power of two.
func Bench(b *testing.B, n int, open func(b *testing.B) engine.Engine) {
	if n&(n-1) != 0 {
		b.Fatalf("enginetest: %d keys, want a power of two", n)
	}
	for _, bc := range benchOps {
		b.Run(bc.name, func(b *testing.B) {
			e := open(b)
			keys, buckets := Keys(n)
			k := &benchKeys{keys, buckets, n}
			b.ReportAllocs()
			b.ResetTimer()
			if !bc.parallel {
				s := newScratch()
				for i := 0; b.Loop(); i++ {
					bc.op(e, k, i, i&(n-1), s)
				}
				return
			}
			var seed atomic.Uint64
			b.RunParallel(func(pb *testing.PB) {
				s := newScratch()
				for i := int(seed.Add(1) * 7919); pb.Next(); i++ {
					bc.op(e, k, i, i&(n-1), s)
				}
			})
		})
	}
}

func newScratch() *benchScratch {
	return &benchScratch{dst: make([]byte, 0, 64), val: make([]byte, 32)}
}
