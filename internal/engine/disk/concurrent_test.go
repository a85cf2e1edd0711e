package disk

import (
	"encoding/binary"
	"fmt"
	"math/rand/v2"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"granary/internal/engine"
)

func TestConcurrentCounters(t *testing.T) {
	for _, policy := range []SyncPolicy{SyncInterval, SyncAlways} {
		t.Run(policy.String(), func(t *testing.T) {
			s := openStore(t, t.TempDir(), Options{Sync: policy})
			e := s.Namespace(3)
			workers, incs, keys := 8, 1000, 10
			if policy == SyncAlways {
				incs = 100
			}
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
			if total != uint64(workers*incs) {
				t.Fatalf("total %d, want %d", total, workers*incs)
			}
			checkStore(t, s)
		})
	}
}

// TestConcurrentTransfers moves units between accounts in many buckets with
// UpdateMany while auditors read all accounts atomically.
func TestConcurrentTransfers(t *testing.T) {
	s, e := newEngine(t, Options{})
	const accounts, initial = 40, 1000
	buckets := make([]uint16, accounts)
	keys := make([][]byte, accounts)
	for i := range keys {
		buckets[i] = uint16(i * 409 % NumBuckets)
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
			for i := 0; i < 500; i++ {
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
			for i := 0; i < 100; i++ {
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
	checkStore(t, s)
}

// TestConcurrentMixed hammers every method, the sweep, drops, flushes and an
// ingest at once; the race detector and the final check do the asserting.
func TestConcurrentMixed(t *testing.T) {
	s, e := newEngine(t, Options{SweepInterval: 5 * time.Millisecond})
	e2 := s.Namespace(2)
	now := time.Now().UnixMilli()
	var wg sync.WaitGroup
	for w := 0; w < 6; w++ {
		wg.Add(1)
		go func(seed uint64) {
			defer wg.Done()
			rng := rand.New(rand.NewPCG(seed, 7))
			var dst []byte
			for i := 0; i < 3000; i++ {
				b := uint16(rng.IntN(32))
				k := []byte(fmt.Sprint("key", rng.IntN(500)))
				ns := e
				if rng.IntN(4) == 0 {
					ns = e2
				}
				switch r := rng.IntN(100); {
				case r < 40:
					it := engine.Item{Type: engine.TypeString, Value: make([]byte, rng.IntN(100))}
					if rng.IntN(3) == 0 {
						it.Expire = now + int64(rng.IntN(100))
					}
					if _, err := ns.Set(b, k, it, now); err != nil {
						t.Error(err)
						return
					}
				case r < 65:
					_, dst, _ = ns.Get(b, k, now+int64(rng.IntN(100)), dst[:0])
				case r < 70:
					ns.Touch(b, k, now)
				case r < 80:
					ns.Update(b, k, now, func(cur *engine.Item) (engine.Item, engine.Op) {
						if cur == nil || rng.IntN(2) == 0 {
							return engine.Item{}, engine.OpDelete
						}
						next := *cur
						next.Version++
						next.Expire = 0
						return next, engine.OpPut
					})
				case r < 90:
					k2 := []byte(fmt.Sprint("key", rng.IntN(500)))
					ns.UpdateMany([]uint16{b, b ^ 7, b}, [][]byte{k, k2, k}, now, func(cur []*engine.Item, next []engine.Item, ops []engine.Op) {
						if cur[0] != nil {
							next[1], ops[1] = *cur[0], engine.OpPut
							ops[2] = engine.OpDelete
						}
					})
				case r < 97:
					ns.ScanBucket(b, now, func([]byte, *engine.Item) bool { return true })
					ns.CountBucket(b)
					ns.Stats()
				case r < 99:
					if rng.IntN(10) == 0 {
						ns.DropBucket(b)
					}
				default:
					if rng.IntN(50) == 0 {
						ns.Flush()
					}
				}
			}
		}(uint64(w))
	}
	wg.Add(1)
	go func() {
		defer wg.Done()
		dir := t.TempDir()
		for round := 0; round < 3; round++ {
			w, err := s.NewSSTWriter(filepath.Join(dir, fmt.Sprint("load", round)))
			if err != nil {
				t.Error(err)
				return
			}
			for b := uint16(0); b < 32; b += 3 {
				for i := 0; i < 50; i++ {
					it := engine.Item{Type: engine.TypeString, Value: []byte("bulk")}
					if i%2 == 0 {
						it.Expire = now + int64(i)
					}
					if err := w.Add(1, b, []byte(fmt.Sprintf("key%d", 100+i)), it); err != nil {
						t.Error(err)
						return
					}
				}
			}
			if err := w.Finish(); err != nil {
				t.Error(err)
				return
			}
			if err := s.Ingest(w.Paths()); err != nil {
				t.Error(err)
				return
			}
			time.Sleep(20 * time.Millisecond)
		}
	}()
	wg.Wait()
	// Let the index clean-up after drops finish before checking.
	time.Sleep(100 * time.Millisecond)
	checkStore(t, s)
}
