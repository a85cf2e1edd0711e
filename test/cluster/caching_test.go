//go:build e2e

package cluster

import (
	"context"
	"strconv"
	"testing"
	"time"

	"github.com/redis/rueidis"

	"granary/test/cachecheck"
)

// TestCachingRueidis runs rueidis' client-side cache against a cluster of
// three data servers, every bucket on two of them (sync namespace): one
// client writes increasing values and reads them with DoCache from several
// goroutines, and its reads must be linearizable (package cachecheck; the
// client sends a node's commands on one connection, and the node puts the
// invalidation of a key the connection tracks before the write's reply).
func TestCachingRueidis(t *testing.T) {
	c := startCluster(t, clusterOpts{configs: 1, data: 3, autoAdd: true, copies: 2})
	rc, err := rueidis.NewClient(rueidis.ClientOption{InitAddress: []string{c.cfg[0].resp}, ConnWriteTimeout: 10 * time.Second, TLSConfig: clientTLS()})
	if err != nil {
		t.Fatalf("rueidis.NewClient: %v", err)
	}
	defer rc.Close()
	h := cachecheck.New("cache:", 12)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	sum, err := h.Run(ctx, func(k string, v int64) error {
		return rc.Do(context.Background(), rc.B().Set().Key(k).Value(strconv.FormatInt(v, 10)).Build()).Error()
	}, 500*time.Microsecond, 4, cachecheck.RueidisGet(rc))
	if err != nil {
		t.Fatalf("history: %v", err)
	}
	t.Logf("%d reads, %d cache hits, %d not linearizable", sum.Reads, sum.Hits, sum.Stale)
	if sum.Hits < sum.Reads/2 {
		t.Errorf("too few cache hits: the client-side cache is not in use")
	}
	if sum.Stale > 0 {
		t.Errorf("%d reads were not linearizable; first: %s", sum.Stale, sum.First)
	}
	for _, ds := range c.data {
		n, err := metric(ds.http, "granary_tracking_invalidations_total")
		if err != nil {
			t.Fatalf("%s metrics: %v", ds.addr, err)
		}
		t.Logf("%s sent %.0f invalidations", ds.addr, n)
	}
}
