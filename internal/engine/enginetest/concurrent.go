package enginetest

import (
	"encoding/binary"
	"fmt"
	"math/rand/v2"
	"sync"
	"testing"
	"time"

	"granary/internal/engine"
)

func testConcurrentCounters(t *testing.T, h *harness) {
	e := h.open(t)
	Counters(t, e, 8, h.size(2000, 1000))
	h.check(t, e)
}

// Counters has workers goroutines each increment ten counters incs times in
// all with Update, then checks that no increment was lost.
func Counters(t *testing.T, e engine.Engine, workers, incs int) {
	t.Helper()
	const keys = 10
	var wg sync.WaitGroup
	for w := 0; w < workers; w++ {
		wg.Go(func() {
			for i := 0; i < incs; i++ {
				k := []byte(fmt.Sprint("ctr", i%keys))
				err := e.Update(uint16(i%keys), k, Now, func(cur *engine.Item) (engine.Item, engine.Op) {
					n := uint64(0)
					if cur != nil {
						n = binary.BigEndian.Uint64(cur.Value)
					}
					return engine.Item{Type: engine.TypeString, Value: binary.BigEndian.AppendUint64(nil, n+1)}, engine.OpPut
				})
				if err != nil {
					t.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
	total := uint64(0)
	for i := 0; i < keys; i++ {
		it, ok := Get(e, uint16(i), fmt.Sprint("ctr", i), Now)
		if !ok {
			t.Fatalf("counter %d missing", i)
		}
		total += binary.BigEndian.Uint64(it.Value)
	}
	if total != uint64(workers*incs) {
		t.Fatalf("total %d, want %d", total, workers*incs)
	}
}

// testConcurrentTransfers moves units between accounts in many buckets with
// UpdateMany while auditors read all accounts atomically: the total must
// never change (atomicity), and nothing may deadlock.
func testConcurrentTransfers(t *testing.T, h *harness) {
	e := h.open(t)
	const accounts, initial = 40, 1000
	buckets := make([]uint16, accounts)
	keys := make([][]byte, accounts)
	for i := range keys {
		buckets[i] = uint16(i * 409 % numBuckets) // spread over shards and key ranges
		keys[i] = []byte(fmt.Sprint("acct", i))
		MustSet(t, e, buckets[i], string(keys[i]), engine.Item{Type: engine.TypeString, Value: binary.BigEndian.AppendUint64(nil, initial)})
	}
	val := func(it *engine.Item) uint64 { return binary.BigEndian.Uint64(it.Value) }
	transfers, audits := h.size(2000, 500), h.size(300, 100)
	var wg sync.WaitGroup
	for w := 0; w < 6; w++ {
		wg.Go(func() {
			rng := rand.New(rand.NewPCG(uint64(w), 1))
			for i := 0; i < transfers; i++ {
				a, b := rng.IntN(accounts), rng.IntN(accounts)
				err := e.UpdateMany([]uint16{buckets[a], buckets[b]}, [][]byte{keys[a], keys[b]}, Now,
					func(cur []*engine.Item, next []engine.Item, ops []engine.Op) {
						if a == b || val(cur[0]) == 0 {
							return
						}
						next[0], next[1] = *cur[0], *cur[1]
						next[0].Value = binary.BigEndian.AppendUint64(nil, val(cur[0])-1)
						next[1].Value = binary.BigEndian.AppendUint64(nil, val(cur[1])+1)
						ops[0], ops[1] = engine.OpPut, engine.OpPut
					})
				if err != nil {
					t.Error(err)
					return
				}
			}
		})
	}
	for w := 0; w < 2; w++ {
		wg.Go(func() {
			for i := 0; i < audits; i++ {
				e.UpdateMany(buckets, keys, Now, func(cur []*engine.Item, _ []engine.Item, _ []engine.Op) {
					sum := uint64(0)
					for _, c := range cur {
						sum += val(c)
					}
					if sum != accounts*initial {
						t.Errorf("audit saw total %d", sum)
					}
				})
			}
		})
	}
	wg.Wait()
	h.check(t, e)
}

// Mix configures Hammer.
type Mix struct {
	// Engines are the engines called: each call goes to one of them at
	// random (list one several times to weight it).
	Engines []engine.Engine
	// Workers goroutines make Calls calls each on keys "key0".."key<Keys-1>"
	// of buckets 0..Buckets-1.
	Workers, Calls, Buckets, Keys int
}

// Hammer calls every Engine method at once from m.Workers goroutines, with
// small and large values, expiries that pass while it runs, duplicate keys
// in UpdateMany, drops and (rare) flushes. It asserts only that no call
// fails; the race detector and the caller's checks afterwards do the rest.
// The caller runs the engines' background work of interest meanwhile.
func Hammer(t *testing.T, m Mix) {
	t.Helper()
	now := time.Now().UnixMilli()
	var wg sync.WaitGroup
	for w := 0; w < m.Workers; w++ {
		wg.Go(func() {
			rng := rand.New(rand.NewPCG(uint64(w), 7))
			var dst []byte
			for i := 0; i < m.Calls; i++ {
				b := uint16(rng.IntN(m.Buckets))
				k := []byte(fmt.Sprint("key", rng.IntN(m.Keys)))
				e := m.Engines[rng.IntN(len(m.Engines))]
				switch r := rng.IntN(100); {
				case r < 40:
					size := rng.IntN(300)
					if rng.IntN(200) == 0 {
						size = 100 << 10
					}
					it := engine.Item{Type: engine.TypeString, Value: make([]byte, size)}
					if rng.IntN(4) == 0 {
						it.Expire = now + int64(rng.IntN(100))
					}
					if _, err := e.Set(b, k, it, now); err != nil {
						t.Error(err)
						return
					}
				case r < 65:
					_, dst, _ = e.Get(b, k, now+int64(rng.IntN(100)), dst[:0])
				case r < 73:
					e.Touch(b, k, now)
				case r < 83:
					e.Update(b, k, now, func(cur *engine.Item) (engine.Item, engine.Op) {
						if cur == nil || rng.IntN(2) == 0 {
							return engine.Item{}, engine.OpDelete
						}
						next := *cur
						next.Version++
						if rng.IntN(2) == 0 {
							next.Expire = 0
						}
						return next, engine.OpPut
					})
				case r < 92:
					k2 := []byte(fmt.Sprint("key", rng.IntN(m.Keys)))
					e.UpdateMany([]uint16{b, b ^ 33, b}, [][]byte{k, k2, k}, now, func(cur []*engine.Item, next []engine.Item, ops []engine.Op) {
						if cur[0] != nil {
							next[1], ops[1] = *cur[0], engine.OpPut
							if rng.IntN(2) == 0 {
								ops[2] = engine.OpDelete
							}
						}
					})
				case r < 97:
					e.ScanBucket(b, now, func([]byte, *engine.Item) bool { return true })
					e.CountBucket(b)
				case r < 98:
					e.Stats()
				case r < 99:
					if rng.IntN(10) == 0 {
						e.DropBucket(b)
					}
				default:
					if rng.IntN(50) == 0 {
						e.Flush()
					}
				}
			}
		})
	}
	wg.Wait()
}
