package mem

import (
	"fmt"
	"sync"
	"testing"
	"time"

	"granary/internal/engine"
)

// removals records OnRemove's calls.
type removals struct {
	mu  sync.Mutex
	got map[string]removal
}

type removal struct {
	bucket uint16
	why    Removal
	n      int
}

func (r *removals) fn(bucket uint16, key []byte, why Removal) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.got == nil {
		r.got = map[string]removal{}
	}
	x := r.got[string(key)]
	r.got[string(key)] = removal{bucket, why, x.n + 1}
}

func (r *removals) snapshot() map[string]removal {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := map[string]removal{}
	for k, v := range r.got {
		out[k] = v
	}
	return out
}

// TestOnRemoveExpiry checks that lazy and active expiry report the item's
// bucket and key, once, and that deletes, drops and flushes do not.
func TestOnRemoveExpiry(t *testing.T) {
	var rec removals
	e := newEngine(t, Options{ExpireInterval: time.Hour, OnRemove: rec.fn}) // lazy only
	buckets := []uint16{0, 1, 255, 256, 8191, 16383}
	exp := now0 + 100
	for _, b := range buckets {
		mustSet(t, e, b, fmt.Sprint("k", b), engine.Item{Type: engine.TypeString, Expire: exp, Value: []byte("v")})
		mustSet(t, e, b, fmt.Sprint("keep", b), str("v"))
	}
	for _, b := range buckets {
		get(e, b, fmt.Sprint("k", b), exp+1)
		get(e, b, fmt.Sprint("k", b), exp+1) // gone: not reported again
		e.Update(b, []byte(fmt.Sprint("keep", b)), now0, func(*engine.Item) (engine.Item, engine.Op) { return engine.Item{}, engine.OpDelete })
	}
	e.DropBucket(0)
	e.Flush()
	got := rec.snapshot()
	if len(got) != len(buckets) {
		t.Fatalf("removals %v", got)
	}
	for _, b := range buckets {
		if r := got[fmt.Sprint("k", b)]; r != (removal{b, Expired, 1}) {
			t.Errorf("k%d: %+v", b, r)
		}
	}

	// Active expiry.
	var rec2 removals
	e2 := newEngine(t, Options{ExpireInterval: 5 * time.Millisecond, OnRemove: rec2.fn})
	soon := time.Now().UnixMilli() + 20
	for i := range 200 {
		b := uint16(i * 81)
		if _, err := e2.Set(b, []byte(fmt.Sprint("a", i)), engine.Item{Type: engine.TypeString, Expire: soon, Value: []byte("v")}, now0); err != nil {
			t.Fatal(err)
		}
	}
	deadline := time.Now().Add(5 * time.Second)
	for len(rec2.snapshot()) < 200 && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	got = rec2.snapshot()
	for i := range 200 {
		if r := got[fmt.Sprint("a", i)]; r != (removal{uint16(i * 81), Expired, 1}) {
			t.Fatalf("a%d: %+v (of %d reported)", i, r, len(got))
		}
	}
}

// TestOnRemoveEviction checks that every eviction is reported with its key's
// bucket.
func TestOnRemoveEviction(t *testing.T) {
	var rec removals
	e := newEngine(t, Options{Quota: 4 << 20, OnRemove: rec.fn, ExpireInterval: time.Hour})
	val := make([]byte, 100)
	bucketOf := map[string]uint16{}
	for i := range 100_000 {
		k := fmt.Sprint("key:", i)
		b := uint16(i * 7 % NumBuckets)
		bucketOf[k] = b
		if _, err := e.Set(b, []byte(k), engine.Item{Type: engine.TypeString, Value: val}, now0); err != nil {
			t.Fatal(err)
		}
	}
	st := e.Stats()
	got := rec.snapshot()
	if st.Evictions == 0 || uint64(len(got)) != st.Evictions {
		t.Fatalf("%d evictions, %d reported", st.Evictions, len(got))
	}
	for k, r := range got {
		if r.why != Evicted || r.n != 1 || r.bucket != bucketOf[k] {
			t.Fatalf("%s: %+v, bucket %d", k, r, bucketOf[k])
		}
		if _, ok := get(e, r.bucket, k, now0); ok {
			t.Fatalf("%s reported evicted but present", k)
		}
	}
}
