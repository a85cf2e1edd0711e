package mem

import (
	"testing"

	"granary/internal/engine/enginetest"
)

// Prefetch is a hint (enginetest.CheckPrefetch).
func TestPrefetch(t *testing.T) {
	enginetest.CheckPrefetch(t, newEngine(t, Options{}))
}
