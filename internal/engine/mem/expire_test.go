package mem

import (
	"fmt"
	"testing"
	"time"

	"granary/internal/engine"
)

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
