//go:build e2e

package cluster

import (
	"context"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"granary/client"
)

// TestClientThrottled drives a namespace limited to 100 operations per second
// on each data server with 16 writers that call as fast as the client lets
// them. Over its limit a data server answers THROTTLED (flow control, issue
// 7 part 2); the client must back off and retry: every call is served in the
// end, the served rate stays near the limit, and the client sends a bounded
// number of throttled requests per served one instead of spinning.
func TestClientThrottled(t *testing.T) {
	c := startCluster(t, clusterOpts{configs: 1, data: 3, autoAdd: true, copies: 2})
	const limit = 100
	c.mustCtl(t, "namespace", "create", "9", "--name", "limited", "--max-ops", strconv.Itoa(limit))
	time.Sleep(2 * time.Second) // the data servers learn the definition with their heartbeats
	gc := newGranaryClient(t, c, client.Options{Backoff: client.Backoff{MaxAttempts: 100}})
	ns := namespace(t, gc, 9)

	const run = 4 * time.Second
	var served, failed atomic.Int64
	var first atomic.Value
	stop := time.Now().Add(run)
	var wg sync.WaitGroup
	for w := 0; w < 16; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; time.Now().Before(stop); i++ {
				ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
				_, err := ns.Put(ctx, "flow:"+strconv.Itoa(w)+":"+strconv.Itoa(i), []byte("x"))
				cancel()
				if err != nil {
					failed.Add(1)
					first.CompareAndSwap(nil, err.Error())
					continue
				}
				served.Add(1)
			}
		}()
	}
	wg.Wait()
	st := gc.Stats()
	rate := float64(served.Load()) / run.Seconds()
	t.Logf("%d calls served (%.0f/s; limit %d/s on each of 3 data servers), %d failed, %d throttled replies, %d retries",
		served.Load(), rate, limit, failed.Load(), st.Throttled, st.Retries)
	if failed.Load() > 0 {
		t.Errorf("%d calls failed, want every one served after backing off; first: %v", failed.Load(), first.Load())
	}
	if st.Throttled == 0 {
		t.Fatalf("no THROTTLED reply: the namespace's flow limit was not applied")
	}
	// The calls still running at the end may finish a little late; the
	// limit holds per data server and the keys spread over three.
	if rate > 1.5*3*limit {
		t.Errorf("%.0f calls/s served, want at most about %d", rate, 3*limit)
	}
	if st.Throttled > 10*served.Load() {
		t.Errorf("%d throttled requests for %d served calls: the client spins instead of backing off", st.Throttled, served.Load())
	}
}
