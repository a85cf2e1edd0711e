package metricsdoc

import (
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
)

func TestUndocumented(t *testing.T) {
	path := filepath.Join(t.TempDir(), "metrics.md")
	if err := os.WriteFile(path, []byte("| `granary_a_total` | a |\n| granary_b | not quoted |\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	a := prometheus.NewCounter(prometheus.CounterOpts{Name: "granary_a_total", Help: "a"})
	b := prometheus.NewGauge(prometheus.GaugeOpts{Name: "granary_b", Help: "b"})
	c := prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "granary_c", Help: "c"}, []string{"l"})
	cases := []struct {
		name string
		cs   []prometheus.Collector
		want []string
	}{
		{"documented", []prometheus.Collector{a}, nil},
		{"named without backquotes", []prometheus.Collector{a, b}, []string{"granary_b"}},
		{"missing, with labels", []prometheus.Collector{c, a}, []string{"granary_c"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got, err := Undocumented(path, tc.cs...)
			if err != nil || !slices.Equal(got, tc.want) {
				t.Fatalf("Undocumented = %v, %v; want %v", got, err, tc.want)
			}
		})
	}
	if _, err := Undocumented(filepath.Join(t.TempDir(), "none.md"), a); err == nil {
		t.Fatal("a missing file gave no error")
	}
}
