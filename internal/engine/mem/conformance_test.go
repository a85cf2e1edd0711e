package mem

import (
	"testing"
	"time"

	"granary/internal/engine"
	"granary/internal/engine/enginetest"
)

// TestConformance runs the engine.Engine conformance suite. The engines have
// the fewest shards, so that items crowd and the arenas churn (the default
// is covered by the tests of this package), and no active expiry during a
// test: the suite controls time.
func TestConformance(t *testing.T) {
	const maxItem = 8 << 20
	enginetest.Run(t, func(t *testing.T) engine.Engine {
		return newEngine(t, Options{Shards: 64, ExpireInterval: time.Hour, MaxItemSize: maxItem})
	}, enginetest.Options{
		Check:         func(t testing.TB, e engine.Engine) { checkInvariants(t, e.(*Engine)) },
		Maintain:      func(e engine.Engine) { e.(*Engine).maintain(farFuture) },
		MaxItemSize:   maxItem,
		EnforcesQuota: true,
		ReadsExpire:   true,
		SetAllocs:     0,
	})
}
