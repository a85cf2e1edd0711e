// Package metricsdoc checks the operations guide's list of metrics
// (docs/operations/metrics.md) against the collectors that define them, so
// that the list stays true; the packages' tests call it.
package metricsdoc

import (
	"fmt"
	"os"
	"regexp"
	"strings"

	"github.com/prometheus/client_golang/prometheus"
)

var fqName = regexp.MustCompile(`fqName: "([^"]+)"`)

// Undocumented returns the names of the metrics the collectors describe
// that the Markdown file at path does not mention as `name`. The collectors'
// Describe must not need their data (it runs on collectors built from nil).
func Undocumented(path string, cs ...prometheus.Collector) ([]string, error) {
	doc, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("metricsdoc: %w", err)
	}
	var missing []string
	for _, c := range cs {
		ch := make(chan *prometheus.Desc, 64)
		go func() {
			c.Describe(ch)
			close(ch)
		}()
		for d := range ch {
			m := fqName.FindStringSubmatch(d.String())
			if m == nil {
				return nil, fmt.Errorf("metricsdoc: no name in %s", d)
			}
			if !strings.Contains(string(doc), "`"+m[1]+"`") {
				missing = append(missing, m[1])
			}
		}
	}
	return missing, nil
}
