package disk

import (
	"fmt"
	"testing"
	"time"

	"granary/internal/engine"
)

func TestSweep(t *testing.T) {
	s, e := newEngine(t, Options{SweepInterval: 20 * time.Millisecond})
	other := s.Namespace(9)
	now := time.Now().UnixMilli()
	const n, keep = 5000, 500
	for i := 0; i < n; i++ {
		k := fmt.Sprint("short", i)
		it := engine.Item{Type: engine.TypeString, Expire: now + 50, Value: []byte(k)}
		if i%2 == 0 {
			it.Expire = -int64(i) - 1 // negative: long past
		}
		if _, err := e.Set(uint16(i), []byte(k), it, now); err != nil {
			t.Fatal(err)
		}
		if _, err := other.Set(uint16(i), []byte(k), it, now); err != nil {
			t.Fatal(err)
		}
	}
	for i := 0; i < keep; i++ {
		it := str("v")
		if i%2 == 0 {
			it.Expire = now + 3_600_000
		}
		mustSet(t, e, uint16(i*7), fmt.Sprint("long", i), it)
	}
	// An item moved to a later expiry leaves its old index key, which must
	// go without taking the item.
	mustSet(t, e, 3, "moved", engine.Item{Type: engine.TypeString, Expire: now + 30})
	mustSet(t, e, 3, "moved", engine.Item{Type: engine.TypeString, Expire: now + 3_600_000})
	stale := appendExpKey(nil, now+30, 1, 3, []byte("moved"))
	if err := s.db.Set(stale, nil, nil); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for (e.Stats().Items > keep+1 || other.Stats().Items > 0) && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	st := e.Stats()
	if st.Items != keep+1 || st.Expirations != n || st.ItemsExpire != keep/2+1 {
		t.Fatalf("after waiting: %+v", st)
	}
	if st := other.Stats(); st.Items != 0 || st.Expirations != n {
		t.Fatalf("other namespace: %+v", st)
	}
	if _, ok := get(e, 3, "moved", now); !ok {
		t.Fatal("sweep took an item through a stale index key")
	}
	for len(rawKeys(t, s, []byte{prefixExp})) != keep/2+1 && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	if n := len(rawKeys(t, s, []byte{prefixExp})); n != keep/2+1 {
		t.Fatalf("%d index keys left, want %d", n, keep/2+1)
	}
	checkStore(t, s)
}

// TestSweepBounded checks that one round does at most its budget.
func TestSweepBounded(t *testing.T) {
	s, e := newEngine(t, Options{})
	now := time.Now().UnixMilli()
	for i := 0; i < 1000; i++ {
		mustSet(t, e, uint16(i), keyOf(i), engine.Item{Type: engine.TypeString, Expire: now - 1000})
	}
	got := s.sweep(now, 300)
	if got != 300 || e.Stats().Items != 700 || e.Stats().Expirations != 300 {
		t.Fatalf("round handled %d, stats %+v", got, e.Stats())
	}
	for s.sweep(now, 300) > 0 {
	}
	if st := e.Stats(); st.Items != 0 || st.Expirations != 1000 {
		t.Fatalf("stats %+v", st)
	}
	if n := len(rawKeys(t, s, []byte{prefixExp})); n != 0 {
		t.Fatalf("%d index keys left", n)
	}
	// Items written behind the cursor are found by a full round.
	mustSet(t, e, 1, "late", engine.Item{Type: engine.TypeString, Expire: 5})
	for i := 0; i < fullSweepEvery && e.Stats().Items > 0; i++ {
		s.sweep(now, 300)
	}
	if e.Stats().Items != 0 {
		t.Fatal("item behind the cursor never swept")
	}
	checkStore(t, s)
}
