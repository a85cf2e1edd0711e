package mem

import (
	"testing"
	"time"

	"granary/internal/engine/enginetest"
)

// now0 is real time so that the background expirer agrees with the tests.
var now0 = enginetest.Now

var farFuture = time.Now().Add(time.Hour)

func newEngine(t testing.TB, opts Options) *Engine {
	t.Helper()
	e := New(opts)
	t.Cleanup(func() { e.Close() })
	return e
}

// The shared test helpers, under the names the tests here use.
var (
	str     = enginetest.Str
	mustSet = enginetest.MustSet
	get     = enginetest.Get
	key16   = enginetest.Key16
	load    = enginetest.Load
)
