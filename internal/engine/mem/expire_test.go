package mem

import (
	"fmt"
	"testing"
	"time"

	"granary/internal/engine"
)

func TestLazyExpiry(t *testing.T) {
	e := newEngine(t, Options{ExpireInterval: time.Hour}) // no active expiry
	exp := now0 + 100
	for i := 0; i < 10; i++ {
		mustSet(t, e, 1, fmt.Sprint("k", i), engine.Item{Type: engine.TypeString, Version: 5, Expire: exp, Value: []byte("v")})
	}
	mustSet(t, e, 1, "keep", str("v"))
	if st := e.Stats(); st.Items != 11 || st.ItemsExpire != 10 {
		t.Fatalf("stats %+v", st)
	}
	// Alive up to and including the expiry millisecond, like Redis.
	if _, ok := get(e, 1, "k0", exp); !ok {
		t.Fatal("expired one millisecond early")
	}
	after := exp + 1
	reads := []struct {
		name string
		live func(k string) bool
	}{
		{"Get", func(k string) bool { _, ok := get(e, 1, k, after); return ok }},
		{"Touch", func(k string) bool { return e.Touch(1, []byte(k), after) }},
		{"Update", func(k string) bool {
			live := false
			e.Update(1, []byte(k), after, func(cur *engine.Item) (engine.Item, engine.Op) {
				live = cur != nil
				return engine.Item{}, engine.OpKeep
			})
			return live
		}},
		{"UpdateMany", func(k string) bool {
			live := false
			e.UpdateMany([]uint16{1}, [][]byte{[]byte(k)}, after, func(cur []*engine.Item, _ []engine.Item, _ []engine.Op) {
				live = cur[0] != nil
			})
			return live
		}},
	}
	for i, r := range reads {
		if r.live(fmt.Sprint("k", i)) {
			t.Errorf("%s sees an expired item", r.name)
		}
		if !r.live("keep") {
			t.Errorf("%s misses a live item", r.name)
		}
	}
	e.ScanBucket(1, after, func(key []byte, it *engine.Item) bool {
		if string(key) != "keep" {
			t.Errorf("ScanBucket sees expired %q", key)
		}
		return true
	})
	// The reads above removed four expired items; the rest are still counted.
	st := e.Stats()
	if st.Items != 7 || st.ItemsExpire != 6 || st.Expirations != 4 || e.CountBucket(1) != 7 {
		t.Fatalf("stats %+v count %d", st, e.CountBucket(1))
	}
	// Set over an expired item starts a new version.
	if v, _ := e.Set(1, []byte("k9"), str("new"), after); v != 1 {
		t.Fatalf("version %d over expired item", v)
	}
	checkInvariants(t, e)
}

func TestActiveExpiry(t *testing.T) {
	e := newEngine(t, Options{ExpireInterval: 20 * time.Millisecond})
	now := time.Now().UnixMilli()
	const n, keep = 20000, 1000
	for i := 0; i < n; i++ {
		k := fmt.Sprint("short", i)
		if _, err := e.Set(uint16(i), []byte(k), engine.Item{Type: engine.TypeString, Expire: now + 50, Value: []byte(k)}, now); err != nil {
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
	deadline := time.Now().Add(5 * time.Second)
	for e.Stats().Items > keep && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	st := e.Stats()
	if st.Items != keep || st.Expirations != n || st.ItemsExpire != keep/2 {
		t.Fatalf("after waiting: %+v", st)
	}
	checkInvariants(t, e)
}

// TestActiveExpiryIdleCost checks that a cycle over many items that do not
// expire stops early instead of scanning everything.
func TestActiveExpiryIdleCost(t *testing.T) {
	e := newEngine(t, Options{ExpireInterval: time.Hour})
	now := time.Now().UnixMilli()
	for i := 0; i < 200000; i++ {
		k := fmt.Sprint("k", i)
		e.Set(uint16(i), []byte(k), engine.Item{Type: engine.TypeString, Expire: now + 3_600_000}, now)
	}
	start := time.Now()
	e.expireCycle(start)
	t.Logf("idle cycle took %v", time.Since(start))
	if e.expShard > 8 {
		t.Fatalf("idle cycle visited %d shards", e.expShard)
	}
}
