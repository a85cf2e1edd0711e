package mem

import (
	"math/rand/v2"
	"runtime"
	"testing"
	"time"

	"granary/internal/engine"
)

func heapObjects() uint64 {
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return ms.HeapObjects
}

func TestHeapObjects(t *testing.T) {
	const n = 1_000_000
	before := heapObjects()
	e := New(Options{})
	defer e.Close()
	load(t, e, n, 32)
	grew := int64(heapObjects()) - int64(before)
	start := time.Now()
	runtime.GC()
	t.Logf("heap objects for %d items: %d; a full GC takes %v", n, grew, time.Since(start))
	if grew > 50_000 {
		t.Fatalf("heap objects grew by %d for %d items", grew, n)
	}
	runtime.KeepAlive(e)
}

func TestBytesPerItem(t *testing.T) {
	const n = 1_000_000
	var ms runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&ms)
	heapBefore := ms.HeapAlloc
	e := New(Options{})
	defer e.Close()
	load(t, e, n, 32)
	st := e.Stats()
	runtime.GC()
	runtime.ReadMemStats(&ms)
	perItem := float64(st.Bytes) / float64(st.Items)
	heapPerItem := float64(ms.HeapAlloc-heapBefore) / float64(st.Items)
	t.Logf("16-byte keys, 32-byte values: %.1f bytes/item accounted, %.1f bytes/item Go heap", perItem, heapPerItem)
	if st.Items != n || perItem > 100 || heapPerItem > 100 {
		t.Fatalf("items %d: %.1f bytes/item", st.Items, perItem)
	}
	runtime.KeepAlive(e)
}

// TestOverwriteChurn overwrites the same keys with values of changing sizes
// and checks that dead space is reclaimed.
func TestOverwriteChurn(t *testing.T) {
	const n, rounds = 100_000, 20
	e := newEngine(t, Options{})
	rng := rand.New(rand.NewPCG(5, 6))
	val := make([]byte, 512)
	var kb []byte
	var first int64
	var worst float64
	for r := 0; r < rounds; r++ {
		var live int64
		for i := 0; i < n; i++ {
			k, b := key16(kb, i)
			kb = k
			v := val[:rng.IntN(len(val))]
			if _, err := e.Set(b, k, engine.Item{Type: engine.TypeString, Value: v}, now0); err != nil {
				t.Fatal(err)
			}
			live += int64(itemSize(len(k), len(v), uint64(r+1), 0))
		}
		st := e.Stats()
		if r == 0 {
			first = st.Bytes
		}
		ratio := float64(st.Bytes) / float64(live)
		worst = max(worst, ratio)
		if st.Items != n {
			t.Fatalf("round %d: %d items", r, st.Items)
		}
		if ratio > 1.6 || st.Bytes > first*3/2 {
			t.Fatalf("round %d: %d bytes held for %d live item bytes (%.2fx); first round %d", r, st.Bytes, live, ratio, first)
		}
	}
	t.Logf("worst bytes held / live item bytes: %.2f", worst)
	checkInvariants(t, e)
}

// TestDeleteReclaims deletes most keys and checks that the background
// defragmentation gives memory back without new writes.
func TestDeleteReclaims(t *testing.T) {
	e := newEngine(t, Options{})
	load(t, e, 200_000, 100)
	full := e.Stats().Bytes
	var kb []byte
	for i := 0; i < 200_000; i++ {
		if i%4 == 0 {
			continue
		}
		k, b := key16(kb, i)
		kb = k
		e.Update(b, k, now0, func(*engine.Item) (engine.Item, engine.Op) { return engine.Item{}, engine.OpDelete })
	}
	before := e.Stats().Bytes
	for i := 0; i < 20; i++ {
		e.maintain(farFuture)
	}
	after := e.Stats().Bytes
	t.Logf("bytes: full %d, after deleting 3/4 %d, after defrag %d", full, before, after)
	if after > full/2 {
		t.Fatalf("defrag left %d of %d bytes", after, full)
	}
	checkInvariants(t, e)
}
