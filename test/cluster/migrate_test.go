//go:build e2e

package cluster

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"granary/client"
	"granary/internal/clusterapi"
	"granary/internal/routing"
)

// churn writes keys and deletes them again through cc until stopped: the
// keys it deleted must stay deleted whatever moves (no resurrection).
type churn struct {
	stop    chan struct{}
	wg      sync.WaitGroup
	mu      sync.Mutex
	deleted []string
	errs    []string
}

func startChurn(cc *redis.ClusterClient, prefix string) *churn {
	ch := &churn{stop: make(chan struct{})}
	ch.wg.Add(1)
	go func() {
		defer ch.wg.Done()
		for i := 0; ; i++ {
			select {
			case <-ch.stop:
				return
			default:
			}
			key := prefix + ":" + strconv.Itoa(i)
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			err := cc.Set(ctx, key, randValue(key), 0).Err()
			if err == nil {
				err = cc.Del(ctx, key).Err()
			}
			cancel()
			ch.mu.Lock()
			if err == nil {
				ch.deleted = append(ch.deleted, key)
			} else if len(ch.errs) < 5 {
				ch.errs = append(ch.errs, err.Error())
			}
			ch.mu.Unlock()
			time.Sleep(5 * time.Millisecond)
		}
	}()
	return ch
}

// finish stops the churn and checks no deleted key came back.
func (ch *churn) finish(t *testing.T, cc *redis.ClusterClient) {
	t.Helper()
	close(ch.stop)
	ch.wg.Wait()
	if len(ch.errs) > 0 {
		t.Errorf("churn: %d errors: %s", len(ch.errs), strings.Join(ch.errs, "; "))
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	back := 0
	for _, k := range ch.deleted {
		if n, err := cc.Exists(ctx, k).Result(); err != nil || n != 0 {
			back++
			if back <= 5 {
				t.Errorf("deleted key %s exists again (%d, %v)", k, n, err)
			}
		}
	}
	t.Logf("churn: %d keys written and deleted, %d came back", len(ch.deleted), back)
}

// waitMigration polls the moves until no plan is left.
func (c *cluster) waitMigration(t *testing.T, what string, timeout time.Duration) time.Duration {
	t.Helper()
	start := time.Now()
	var last *clusterapi.Moves
	for time.Since(start) < timeout {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		m, err := c.api.Moves(ctx)
		cancel()
		if err == nil {
			last = m
			if !m.Planned {
				return time.Since(start)
			}
		}
		time.Sleep(200 * time.Millisecond)
	}
	t.Fatalf("%s: migration not done within %v: %+v", what, timeout, last)
	return 0
}

// checkFraction checks the plan's moved fraction against the ideal one.
func checkFraction(t *testing.T, what string, rb *clusterapi.Rebalance) {
	t.Helper()
	t.Logf("%s: %d of %d copies move: fraction %.4f, ideal %.4f (ratio %.3f), %d primaries change node",
		what, rb.Moved, rb.Copies, rb.MovedFraction, rb.IdealFraction, rb.MovedFraction/rb.IdealFraction, rb.PrimaryMoves)
	if !rb.Planned || rb.IdealFraction == 0 {
		t.Fatalf("%s: nothing planned: %+v", what, rb)
	}
	if rb.MovedFraction > 1.1*rb.IdealFraction {
		t.Errorf("%s: moved fraction %.4f is more than 10%% above the ideal %.4f", what, rb.MovedFraction, rb.IdealFraction)
	}
}

// layout counts each node's copies and primaries in the table.
func layout(t *testing.T, c *cluster) (copies, primaries map[string]int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	tb, err := c.api.Table(ctx)
	if err != nil {
		t.Fatal(err)
	}
	copies, primaries = map[string]int{}, map[string]int{}
	for _, r := range tb.Ranges {
		n := r.Last - r.First + 1
		for i, x := range r.Replicas {
			copies[tb.Nodes[x]] += n
			if i == 0 {
				primaries[tb.Nodes[x]] += n
			}
		}
		if len(r.Learners) > 0 || r.Frozen {
			t.Errorf("buckets %d-%d still moving after the migration: %+v", r.First, r.Last, r)
		}
	}
	return copies, primaries
}

// TestMigrationAddDrainRemove: three data servers under a continuous load of
// go-redis ClusterClients; a fourth joins and the cluster rebalances onto it
// online; then one of the original three is drained and removed. No client
// operation fails, every acknowledged write reads back, deleted keys stay
// deleted, and each plan moves close to the least any balanced layout must.
func TestMigrationAddDrainRemove(t *testing.T) {
	c := startCluster(t, clusterOpts{configs: 1, data: 3, copies: 2})
	// go-redis retries TRYAGAIN only MaxRedirects times (default 3) within
	// about 60 ms; a bucket whose primary changes, or whose new link's lease
	// is being granted, can answer TRYAGAIN a little longer while the
	// migration runs. docs/replication.md recommends 8 for clusters that
	// migrate: the client's own retries, spread over about 1.5 s.
	cc := redis.NewClusterClient(&redis.ClusterOptions{Addrs: []string{c.cfg[0].resp}, DialTimeout: 2 * time.Second,
		ReadTimeout: 3 * time.Second, WriteTimeout: 3 * time.Second, ClusterStateReloadInterval: 500 * time.Millisecond,
		MaxRedirects: 8, TLSConfig: clientTLS()})
	t.Cleanup(func() { cc.Close() })
	ctx := context.Background()

	// Data for the snapshots to carry.
	const preload = 20000
	pre := map[string]string{}
	for i := 0; i < preload; i += 500 {
		_, err := cc.Pipelined(ctx, func(p redis.Pipeliner) error {
			for j := i; j < i+500; j++ {
				k := "pre:" + strconv.Itoa(j)
				pre[k] = randValue(k)
				p.Set(ctx, k, pre[k], 0)
			}
			return nil
		})
		if err != nil {
			t.Fatalf("preload: %v", err)
		}
	}

	ld := startLoad(cc, "mig", 4, 2*time.Millisecond)
	ch := startChurn(cc, "gone")
	// Every kind of granary/client call too (namespace 1: its own keys).
	gl := startClientLoad(namespace(t, newGranaryClient(t, c, client.Options{}), 1), 2)
	time.Sleep(time.Second)

	// A fourth node joins; the plan gives it its share, moved online.
	d4 := c.newDataServer(t, "z1")
	c.addNode(t, d4.id, d4.zone)
	d4.start(t)
	c.waitNodeState(t, d4.id, clusterapi.NodeUp, 30*time.Second)
	rctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	rb, err := c.api.Rebalance(rctx)
	cancel()
	if err != nil {
		t.Fatal(err)
	}
	checkFraction(t, "add a 4th node to 3", rb)
	took := c.waitMigration(t, "add", 3*time.Minute)
	copies, primaries := layout(t, c)
	t.Logf("add: migration took %v; copies %v, primaries %v", took.Round(time.Millisecond), copies, primaries)
	if copies[d4.id] < 2*routing.Buckets/4-64 || primaries[d4.id] < routing.Buckets/4-64 {
		t.Errorf("the new node holds %d copies and %d primaries, want about %d and %d", copies[d4.id], primaries[d4.id], 2*routing.Buckets/4, routing.Buckets/4)
	}
	if n := ld.errs(); n > 0 {
		t.Errorf("add: %d client errors during the migration", n)
	}

	// One of the original three drains through the CLI, then leaves.
	d1 := c.data[0]
	out, err := c.ctl("node", "drain", d1.id, "--wait", "-q", "--max-wait", "3m")
	t.Logf("ctl node drain:\n%s", out)
	if err != nil {
		t.Fatalf("ctl node drain: %v", err)
	}
	if !strings.Contains(out, "migration done") {
		t.Errorf("ctl node drain --wait did not report the end of the migration")
	}
	var moved, ideal float64
	if _, err := fmt.Sscanf(out[strings.Index(out, "copies move (")+len("copies move ("):], "%f%%; the least any balanced layout moves: %f%%", &moved, &ideal); err != nil {
		t.Errorf("ctl node drain: cannot read the fractions: %v", err)
	} else if moved > 1.1*ideal {
		t.Errorf("drain: moved %.1f%% against an ideal %.1f%%", moved, ideal)
	}
	copies, primaries = layout(t, c)
	if copies[d1.id] != 0 {
		t.Errorf("the drained node still holds %d copies", copies[d1.id])
	}
	t.Logf("drain: copies %v, primaries %v", copies, primaries)
	if out, err := c.ctl("node", "remove", d1.id); err != nil {
		t.Fatalf("ctl node remove after the drain: %v\n%s", err, out)
	}
	time.Sleep(2 * time.Second) // clients learn the table without it
	d1.stop()
	time.Sleep(2 * time.Second)

	ch.finish(t, cc)
	ld.finish(t, "migration")
	gl.finish(t)
	// Every bucket's replicas hold the same data.
	out, err = c.ctl("verify", "-q")
	t.Logf("ctl verify after the migration:\n%s", out)
	if err != nil || !strings.Contains(out, "different:        0") {
		t.Errorf("ctl verify after the migration: %v", err)
	}
	// Every preloaded key reads back.
	bad := 0
	for k, v := range pre {
		if got, err := cc.Get(ctx, k).Result(); err != nil || got != v {
			if bad++; bad <= 5 {
				t.Errorf("preloaded %s = %q, %v; want %q", k, got, err, v)
			}
		}
	}
	if bad > 0 {
		t.Errorf("%d of %d preloaded keys lost", bad, len(pre))
	}
}
