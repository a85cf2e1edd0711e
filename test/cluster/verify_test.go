//go:build e2e

package cluster

import (
	"context"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"granary/internal/clusterapi"
	"granary/internal/routing"
)

// verifyCount returns the number on a "name: N" line of granary ctl verify's
// report.
func verifyCount(t *testing.T, out, name string) int {
	t.Helper()
	m := regexp.MustCompile(`(?m)^` + regexp.QuoteMeta(name) + `:\s+(\d+)`).FindStringSubmatch(out)
	if m == nil {
		t.Fatalf("no %q line in the report:\n%s", name, out)
	}
	n, _ := strconv.Atoi(m[1])
	return n
}

// TestVerifyAndRepair: three data servers (copies 2) loaded by a go-redis
// cluster client; `granary ctl verify` reports no difference while the
// client keeps writing, and finds every bucket's replicas equal once it
// stopped.
// Two secondaries' copies are then changed behind replication's back (the
// test-only GRANARY.DEBUG-SETLOCAL of --enable-debug-commands: one key
// overwritten, one added): verify finds exactly those buckets different and
// exits non-zero, naming the two keys, `verify --repair` has their primaries send snapshots, and
// verify finds everything equal again, with the secondaries' values back to
// the primaries'.
func TestVerifyAndRepair(t *testing.T) {
	c := startCluster(t, clusterOpts{configs: 1, data: 3, autoAdd: true, dataArgs: []string{"--enable-debug-commands"}})
	cc := newClusterClient(t, c.cfg[0].resp)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()

	const n = 3000
	for i := 0; i < n; i += 100 {
		_, err := cc.Pipelined(ctx, func(p redis.Pipeliner) error {
			for j := i; j < i+100; j++ {
				k := "vf:" + strconv.Itoa(j)
				switch j % 3 {
				case 0:
					p.Set(ctx, k, randValue(k), 0)
				case 1:
					p.Set(ctx, k, randValue(k), time.Hour)
				default:
					p.HSet(ctx, k, "a", j, "b", randValue(k))
				}
			}
			return nil
		})
		if err != nil {
			t.Fatalf("load: %v", err)
		}
	}

	// Under a write load replicas are compared only at the same LSN: some
	// buckets may stay unsettled, none may be reported different.
	stop := make(chan struct{})
	written := make(chan int)
	go func() {
		n := 0
		defer func() { written <- n }()
		for {
			select {
			case <-stop:
				return
			default:
			}
			_, err := cc.Pipelined(ctx, func(p redis.Pipeliner) error {
				for j := 0; j < 50; j++ {
					p.Set(ctx, "vf:load:"+strconv.Itoa(n%2000), randValue("load"), 0)
					n++
				}
				return nil
			})
			if err != nil {
				t.Errorf("write load: %v", err)
				return
			}
		}
	}()
	out, _ := c.ctl("verify")
	close(stop)
	t.Logf("verify under %d writes:\n%s", <-written, out)
	if got := verifyCount(t, out, "different"); got != 0 {
		t.Fatalf("%d buckets different under load", got)
	}
	if eq, un := verifyCount(t, out, "equal"), verifyCount(t, out, "unsettled"); eq+un != routing.Buckets {
		t.Fatalf("%d equal + %d unsettled, want %d", eq, un, routing.Buckets)
	}

	out = c.mustCtl(t, "verify")
	t.Logf("verify on a healthy cluster:\n%s", out)
	if got := verifyCount(t, out, "buckets checked"); got != routing.Buckets {
		t.Fatalf("checked %d buckets, want %d", got, routing.Buckets)
	}
	if eq := verifyCount(t, out, "equal"); eq != routing.Buckets {
		t.Fatalf("%d buckets equal, want all", eq)
	}

	// Damage two secondaries' copies.
	st, err := c.api.State(ctx)
	if err != nil {
		t.Fatal(err)
	}
	rt, err := clusterapi.ToRouting(&st.Table, st.Nodes)
	if err != nil {
		t.Fatal(err)
	}
	addrOf := map[string]string{}
	for _, nd := range st.Nodes {
		addrOf[nd.ID] = nd.Addr
	}
	secondary := func(key string) (bucket uint16, addr, id string) {
		b := routing.Bucket([]byte(key))
		reps := rt.Replicas[b]
		if len(reps) < 2 {
			t.Fatalf("bucket %d has %d replicas", b, len(reps))
		}
		id = rt.Nodes[reps[1]].ID
		return b, addrOf[id], id
	}
	overwritten, added := "vf:0", "vf:extra"
	b1, sec1, id1 := secondary(overwritten)
	b2, sec2, id2 := secondary(added)
	if b1 == b2 {
		t.Fatalf("keys %q and %q share bucket %d", overwritten, added, b1)
	}
	want, err := cc.Get(ctx, overwritten).Result()
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range []struct{ addr, key string }{{sec1, overwritten}, {sec2, added}} {
		if err := plainClient(t, d.addr, 2).Do(ctx, "GRANARY.DEBUG-SETLOCAL", d.key, "damaged").Err(); err != nil {
			t.Fatalf("GRANARY.DEBUG-SETLOCAL on %s: %v", d.addr, err)
		}
	}

	out, err = c.ctl("verify")
	t.Logf("verify after the damage:\n%s", out)
	if err == nil {
		t.Fatal("verify exited 0 with two buckets damaged")
	}
	if got := verifyCount(t, out, "different"); got != 2 {
		t.Fatalf("%d buckets different, want 2", got)
	}
	for _, want := range []string{
		fmt.Sprintf("different bucket %d at LSN", b1),
		fmt.Sprintf("different bucket %d at LSN", b2),
		fmt.Sprintf("namespace 0 key %q: different on %s", overwritten, id1),
		fmt.Sprintf("namespace 0 key %q: only on %s", added, id2),
	} {
		if !strings.Contains(out, want) {
			t.Fatalf("report lacks %q", want)
		}
	}

	out = c.mustCtl(t, "verify", "--repair")
	t.Logf("verify --repair:\n%s", out)
	if got := verifyCount(t, out, "repaired"); got != 2 {
		t.Fatalf("repaired %d buckets, want 2", got)
	}
	if got := verifyCount(t, out, "still different"); got != 0 {
		t.Fatalf("%d buckets still different after the repair", got)
	}

	out = c.mustCtl(t, "verify")
	if eq := verifyCount(t, out, "equal"); eq != routing.Buckets {
		t.Fatalf("after the repair %d buckets equal, want all:\n%s", eq, out)
	}
	// The secondaries hold the primaries' data again (READONLY reads).
	ro := plainClient(t, sec1, 2)
	if got, err := readOnlyGet(ctx, ro, overwritten); err != nil || got != want {
		t.Fatalf("secondary's %q after the repair: %q, %v; want %q", overwritten, got, err, want)
	}
	if _, err := readOnlyGet(ctx, plainClient(t, sec2, 2), added); err != redis.Nil {
		t.Fatalf("secondary still has the added key %q after the repair (err %v)", added, err)
	}
	var digests, repairs float64
	for _, ds := range c.data {
		d, err1 := metric(ds.http, "granary_repl_digests_total")
		r, err2 := metric(ds.http, "granary_repl_repairs_total")
		if err1 != nil || err2 != nil {
			t.Fatalf("metrics of %s: %v, %v", ds.name, err1, err2)
		}
		digests += d
		repairs += r
	}
	if repairs != 2 || digests < 4*2*routing.Buckets {
		t.Fatalf("metrics: %v repairs (want 2), %v digests (want at least %d)", repairs, digests, 4*2*routing.Buckets)
	}
}

// TestVerifyEvictions: a namespace whose quota is too small for what it is
// given evicts on every node on its own, so its replicas differ; verify
// reports those buckets apart ("different by evictions") and exits 0, and
// with --strict counts them as differences.
func TestVerifyEvictions(t *testing.T) {
	c := startCluster(t, clusterOpts{configs: 1, data: 3, autoAdd: true})
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	c.mustCtl(t, "namespace", "create", "5", "--name", "tiny", "--quota", "3mb")
	owners, err := slotOwners(c.cfg[0].resp)
	if err != nil {
		t.Fatal(err)
	}
	quota := `granary_namespace_quota_bytes{namespace="5"}`
	for _, ds := range c.data {
		conn := plainClient(t, ds.addr, 2).Conn()
		defer conn.Close()
		if err := conn.Select(ctx, 5).Err(); err != nil {
			t.Fatal(err)
		}
		for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(50 * time.Millisecond) {
			if q, err := metric(ds.http, quota); err == nil && q > 0 {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s did not learn namespace 5's quota", ds.name)
			}
		}
		keys := keysOn(owners, ds.addr, "ev:", 12000)
		for i := 0; i < len(keys); i += 500 {
			if _, err := conn.Pipelined(ctx, func(p redis.Pipeliner) error {
				for _, k := range keys[i:min(i+500, len(keys))] {
					p.Set(ctx, k, randValue(strings.Repeat("v", 100)), 0)
				}
				return nil
			}); err != nil {
				t.Fatalf("load namespace 5 on %s: %v", ds.name, err)
			}
		}
	}
	var evictions float64
	for _, ds := range c.data {
		e, err := metric(ds.http, `granary_namespace_evictions_total{namespace="5"}`)
		if err != nil {
			t.Fatal(err)
		}
		evictions += e
	}
	if evictions == 0 {
		t.Fatal("no evictions: the test needs a smaller quota")
	}

	out := c.mustCtl(t, "verify", "--keys", "0")
	t.Logf("verify after %v evictions:\n%s", evictions, firstLines(out, 8))
	evicted := verifyCount(t, out, "different by evictions")
	if evicted == 0 || verifyCount(t, out, "different") != 0 || verifyCount(t, out, "equal")+evicted != routing.Buckets {
		t.Fatalf("evictions not reported apart")
	}
	out, err = c.ctl("verify", "--strict", "--namespace", "5", "--keys", "0")
	if err == nil || verifyCount(t, out, "different") != evicted {
		t.Fatalf("verify --strict (%v):\n%s", err, firstLines(out, 8))
	}
}

// firstLines returns the first n lines of s.
func firstLines(s string, n int) string {
	lines := strings.SplitN(s, "\n", n+1)
	return strings.Join(lines[:min(n, len(lines))], "\n")
}

// readOnlyGet reads key from a secondary's own copy.
func readOnlyGet(ctx context.Context, c *redis.Client, key string) (string, error) {
	conn := c.Conn()
	defer conn.Close()
	if err := conn.ReadOnly(ctx).Err(); err != nil {
		return "", err
	}
	return conn.Get(ctx, key).Result()
}
