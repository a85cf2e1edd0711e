package disk

import (
	"fmt"
	"sync"
	"testing"
	"time"

	"granary/internal/engine"
	"granary/internal/engine/enginetest"
)

// TestConcurrentCountersSyncAlways runs the suite's counters under
// SyncAlways, where concurrent writers share fsyncs (group commit); the
// suite runs them under SyncInterval.
func TestConcurrentCountersSyncAlways(t *testing.T) {
	s := openStore(t, t.TempDir(), Options{Sync: SyncAlways})
	enginetest.Counters(t, s.Namespace(3), 8, 100)
	checkStore(t, s)
}

// TestConcurrentMixed hammers every method of two namespaces while the
// sweep runs and files are ingested; the race detector and the final check
// do the asserting.
func TestConcurrentMixed(t *testing.T) {
	s, e := newEngine(t, Options{SweepInterval: 5 * time.Millisecond})
	e2 := s.Namespace(2)
	now := time.Now().UnixMilli()
	var wg sync.WaitGroup
	wg.Go(func() {
		for round := 0; round < 3; round++ {
			var items []loadItem
			for b := uint16(0); b < 32; b += 3 {
				for i := 0; i < 50; i++ {
					it := engine.Item{Type: engine.TypeString, Value: []byte("bulk")}
					if i%2 == 0 {
						it.Expire = now + int64(i)
					}
					items = append(items, loadItem{1, b, fmt.Sprintf("key%d", 100+i), it})
				}
			}
			if err := ingestLoad(s, items); err != nil {
				t.Error(err)
				return
			}
			time.Sleep(20 * time.Millisecond)
		}
	})
	// Namespace 2 takes one call in four.
	enginetest.Hammer(t, enginetest.Mix{Engines: []engine.Engine{e, e, e, e2}, Workers: 6, Calls: 3000, Buckets: 32, Keys: 500})
	wg.Wait()
	// Let the index clean-up after drops finish before checking.
	time.Sleep(100 * time.Millisecond)
	checkStore(t, s)
}
