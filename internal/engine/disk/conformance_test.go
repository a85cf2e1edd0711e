package disk

import (
	"testing"

	"granary/internal/engine"
	"granary/internal/engine/enginetest"
)

// TestConformance runs the engine.Engine conformance suite on namespace 1 of
// a store with no active sweep (the suite controls time).
func TestConformance(t *testing.T) {
	for _, rows := range []struct {
		name  string
		bytes int64
	}{{"rowcache", 0}, {"norowcache", -1}} {
		t.Run(rows.name, func(t *testing.T) { conformance(t, rows.bytes) })
	}
}

func conformance(t *testing.T, rowCache int64) {
	const maxItem = 8 << 20
	enginetest.Run(t, func(t *testing.T) engine.Engine {
		_, e := newEngine(t, Options{MaxItemSize: maxItem, RowCacheBytes: rowCache})
		return e
	}, enginetest.Options{
		Check: func(t testing.TB, e engine.Engine) { checkIndexExact(t, e.(*Engine).s) },
		// The clean-up of index keys after a drop runs in the background.
		Settle:        func(t testing.TB, e engine.Engine) { waitIndex(t, e.(*Engine).s, expiring(e.(*Engine).s)) },
		MaxItemSize:   maxItem,
		ScanSorted:    true,
		AtomicBatches: true,
		SetAllocs:     2,
		SkipAllocs:    raceEnabled,
		Light:         true,
	})
}

// checkIndexExact is checkStore, and also that no index key outlives its
// item: without drops or ingests, writers delete an item's index key in the
// batch that changes its expiry.
func checkIndexExact(t testing.TB, s *Store) {
	t.Helper()
	checkStore(t, s)
	if n, want := len(rawKeys(t, s, []byte{prefixExp})), expiring(s); n != want {
		t.Fatalf("%d index keys for %d items with an expiry", n, want)
	}
}

// expiring returns the number of items with an expiry in every namespace.
func expiring(s *Store) int {
	n := int64(0)
	for _, e := range s.engines() {
		n += e.Stats().ItemsExpire
	}
	return int(n)
}
