package enginetest

import (
	"fmt"
	"testing"

	"granary/internal/engine"
)

// testLazyExpiry checks that an item is alive up to and including its expiry
// millisecond and invisible to every method after it, and what reads and
// writes that meet an expired item do to the counters.
func testLazyExpiry(t *testing.T, h *harness) {
	e := h.open(t)
	exp := Now + 100
	for i := 0; i < 10; i++ {
		MustSet(t, e, 1, fmt.Sprint("k", i), engine.Item{Type: engine.TypeString, Version: 5, Expire: exp, Value: []byte("v")})
	}
	MustSet(t, e, 1, "keep", Str("v"))
	if st := e.Stats(); st.Items != 11 || st.ItemsExpire != 10 {
		t.Fatalf("stats %+v", st)
	}
	// Alive up to and including the expiry millisecond, like Redis.
	if _, ok := Get(e, 1, "k0", exp); !ok {
		t.Fatal("expired one millisecond early")
	}
	if !e.Touch(1, []byte("k0"), exp) {
		t.Fatal("Touch: expired one millisecond early")
	}
	after := exp + 1
	// Each read meets its own expired item (k<i>), and "keep".
	reads := []struct {
		name    string
		removes bool // removes the expired item under ReadsExpire
		live    func(k string) bool
	}{
		{"Get", true, func(k string) bool { _, ok := Get(e, 1, k, after); return ok }},
		{"Touch", true, func(k string) bool { return e.Touch(1, []byte(k), after) }},
		{"Update", true, func(k string) bool {
			live := false
			e.Update(1, []byte(k), after, func(cur *engine.Item) (engine.Item, engine.Op) {
				live = cur != nil
				return engine.Item{}, engine.OpKeep
			})
			return live
		}},
		{"UpdateMany", true, func(k string) bool {
			live := false
			e.UpdateMany([]uint16{1}, [][]byte{[]byte(k)}, after, func(cur []*engine.Item, _ []engine.Item, _ []engine.Op) {
				live = cur[0] != nil
			})
			return live
		}},
		{"ScanBucket", false, func(k string) bool {
			live := false
			e.ScanBucket(1, after, func(key []byte, _ *engine.Item) bool {
				live = live || string(key) == k
				return true
			})
			return live
		}},
	}
	removed := int64(0)
	for i, r := range reads {
		if r.live(fmt.Sprint("k", i)) {
			t.Errorf("%s sees an expired item", r.name)
		}
		if !r.live("keep") {
			t.Errorf("%s misses a live item", r.name)
		}
		if h.ReadsExpire && r.removes {
			removed++
		}
	}
	e.ScanBucket(1, after, func(key []byte, it *engine.Item) bool {
		if string(key) != "keep" {
			t.Errorf("ScanBucket sees expired %q", key)
		}
		return true
	})
	// Expired items that no read removed are still stored and counted.
	st := e.Stats()
	if st.Items != 11-removed || st.ItemsExpire != 10-removed || st.Expirations != uint64(removed) || e.CountBucket(1) != int(11-removed) {
		t.Fatalf("stats %+v count %d, want %d removed by reads", st, e.CountBucket(1), removed)
	}
	// Writers that meet an expired item remove it (an expiration): Set over
	// it starts a new version.
	if v, _ := e.Set(1, []byte("k9"), Str("new"), after); v != 1 {
		t.Fatalf("version %d over expired item", v)
	}
	e.Update(1, []byte("k8"), after, func(*engine.Item) (engine.Item, engine.Op) { return engine.Item{}, engine.OpDelete })
	e.UpdateMany([]uint16{1}, [][]byte{[]byte("k7")}, after, func(cur []*engine.Item, next []engine.Item, ops []engine.Op) {
		next[0], ops[0] = engine.Item{Type: engine.TypeString, Expire: after + 1000}, engine.OpPut
	})
	st = e.Stats()
	if st.Items != 10-removed || st.ItemsExpire != 8-removed || st.Expirations != uint64(3+removed) {
		t.Fatalf("stats %+v, want %d removed by reads", st, removed)
	}
	h.check(t, e)
}
