package dataserver

import (
	"testing"

	"granary/internal/metricsdoc"
)

// TestMetricsDocumented: every metric a data server exports is in the
// operations guide's list.
func TestMetricsDocumented(t *testing.T) {
	missing, err := metricsdoc.Undocumented("../../docs/operations/metrics.md", newCollector(nil), newReplCollector(nil), newDiskCollector(nil))
	if err != nil || len(missing) > 0 {
		t.Fatalf("not in docs/operations/metrics.md: %v (%v)", missing, err)
	}
}
