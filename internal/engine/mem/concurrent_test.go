package mem

import (
	"sync"
	"testing"

	"granary/internal/engine"
	"granary/internal/engine/enginetest"
)

// TestConcurrentMixed hammers every method under a small quota that changes
// while maintenance and active expiry run; the race detector and the
// invariant check do the asserting.
func TestConcurrentMixed(t *testing.T) {
	e := newEngine(t, Options{Quota: 2 << 20, ExpireInterval: 5e6})
	var wg sync.WaitGroup
	wg.Go(func() {
		for i := 0; i < 20; i++ {
			e.SetQuota(int64(1+i%3) << 20)
			e.maintain(farFuture)
		}
	})
	enginetest.Hammer(t, enginetest.Mix{Engines: []engine.Engine{e}, Workers: 8, Calls: 20000, Buckets: 64, Keys: 5000})
	wg.Wait()
	checkInvariants(t, e)
	if st := e.Stats(); st.Bytes > st.Quota*105/100 {
		t.Fatalf("stats %+v", st)
	}
}
