package mem

import (
	"encoding/binary"
	"fmt"
	"math/rand/v2"
	"sync"
	"testing"

	"granary/internal/engine"
)

func TestConcurrentCounters(t *testing.T) {
	e := newEngine(t, Options{})
	const workers, incs, keys = 8, 2000, 10
	var wg sync.WaitGroup
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < incs; i++ {
				k := []byte(fmt.Sprint("ctr", i%keys))
				err := e.Update(uint16(i%keys), k, now0, func(cur *engine.Item) (engine.Item, engine.Op) {
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
		}()
	}
	wg.Wait()
	total := uint64(0)
	for i := 0; i < keys; i++ {
		it, ok := get(e, uint16(i), fmt.Sprint("ctr", i), now0)
		if !ok {
			t.Fatalf("counter %d missing", i)
		}
		total += binary.BigEndian.Uint64(it.Value)
	}
	if total != workers*incs {
		t.Fatalf("total %d, want %d", total, workers*incs)
	}
}

// TestConcurrentTransfers moves units between accounts in many buckets with
// UpdateMany while auditors read all accounts atomically: the total must
// never change (atomicity), and nothing may deadlock.
func TestConcurrentTransfers(t *testing.T) {
	e := newEngine(t, Options{})
	const accounts, initial = 40, 1000
	buckets := make([]uint16, accounts)
	keys := make([][]byte, accounts)
	for i := range keys {
		buckets[i] = uint16(i * 409 % NumBuckets) // spread over shards
		keys[i] = []byte(fmt.Sprint("acct", i))
		mustSet(t, e, buckets[i], string(keys[i]), engine.Item{Type: engine.TypeString, Value: binary.BigEndian.AppendUint64(nil, initial)})
	}
	val := func(it *engine.Item) uint64 { return binary.BigEndian.Uint64(it.Value) }
	var wg sync.WaitGroup
	for w := 0; w < 6; w++ {
		wg.Add(1)
		go func(seed uint64) {
			defer wg.Done()
			rng := rand.New(rand.NewPCG(seed, 1))
			for i := 0; i < 2000; i++ {
				a, b := rng.IntN(accounts), rng.IntN(accounts)
				err := e.UpdateMany([]uint16{buckets[a], buckets[b]}, [][]byte{keys[a], keys[b]}, now0,
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
		}(uint64(w))
	}
	for w := 0; w < 2; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 300; i++ {
				e.UpdateMany(buckets, keys, now0, func(cur []*engine.Item, _ []engine.Item, _ []engine.Op) {
					sum := uint64(0)
					for _, c := range cur {
						sum += val(c)
					}
					if sum != accounts*initial {
						t.Errorf("audit saw total %d", sum)
					}
				})
			}
		}()
	}
	wg.Wait()
	checkInvariants(t, e)
}

// TestConcurrentMixed hammers every method under a small quota; the race
// detector and the invariant check do the asserting.
func TestConcurrentMixed(t *testing.T) {
	e := newEngine(t, Options{Quota: 2 << 20, ExpireInterval: 5e6})
	var wg sync.WaitGroup
	for w := 0; w < 8; w++ {
		wg.Add(1)
		go func(seed uint64) {
			defer wg.Done()
			rng := rand.New(rand.NewPCG(seed, 7))
			var dst []byte
			for i := 0; i < 20000; i++ {
				b := uint16(rng.IntN(64))
				k := []byte(fmt.Sprint("key", rng.IntN(5000)))
				switch r := rng.IntN(100); {
				case r < 40:
					size := rng.IntN(300)
					if rng.IntN(200) == 0 {
						size = 100 << 10
					}
					it := engine.Item{Type: engine.TypeString, Value: make([]byte, size)}
					if rng.IntN(4) == 0 {
						it.Expire = now0 + int64(rng.IntN(50))
					}
					if _, err := e.Set(b, k, it, now0); err != nil {
						t.Error(err)
						return
					}
				case r < 70:
					_, dst, _ = e.Get(b, k, now0+int64(rng.IntN(100)), dst[:0])
				case r < 80:
					e.Touch(b, k, now0)
				case r < 88:
					e.Update(b, k, now0, func(cur *engine.Item) (engine.Item, engine.Op) {
						if cur == nil || rng.IntN(2) == 0 {
							return engine.Item{}, engine.OpDelete
						}
						next := *cur
						next.Version++
						return next, engine.OpPut
					})
				case r < 95:
					k2 := []byte(fmt.Sprint("key", rng.IntN(5000)))
					e.UpdateMany([]uint16{b, b ^ 33}, [][]byte{k, k2}, now0, func(cur []*engine.Item, next []engine.Item, ops []engine.Op) {
						if cur[0] != nil {
							next[1], ops[1] = *cur[0], engine.OpPut
						}
					})
				case r < 98:
					e.ScanBucket(b, now0, func([]byte, *engine.Item) bool { return true })
					e.CountBucket(b)
				case r < 99:
					e.Stats()
				default:
					if rng.IntN(20) == 0 {
						e.DropBucket(b)
					}
				}
			}
		}(uint64(w))
	}
	wg.Add(1)
	go func() {
		defer wg.Done()
		for i := 0; i < 20; i++ {
			e.SetQuota(int64(1+i%3) << 20)
			e.maintain(farFuture)
		}
	}()
	wg.Wait()
	checkInvariants(t, e)
	if st := e.Stats(); st.Bytes > st.Quota*105/100 {
		t.Fatalf("stats %+v", st)
	}
}
