package configserver

import (
	"testing"

	"granary/internal/metricsdoc"
)

// TestMetricsDocumented: every metric a config server exports is in the
// operations guide's list.
func TestMetricsDocumented(t *testing.T) {
	missing, err := metricsdoc.Undocumented("../../docs/operations/metrics.md", newCollector(nil))
	if err != nil || len(missing) > 0 {
		t.Fatalf("not in docs/operations/metrics.md: %v (%v)", missing, err)
	}
}
