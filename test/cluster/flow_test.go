//go:build e2e

package cluster

import (
	"context"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// TestFlowControl sets a namespace's flow limits with granary ctl, sees
// clients get THROTTLED and the refusals counted in INFO and /metrics, then
// changes the limits at run time and sees the refusals stop.
func TestFlowControl(t *testing.T) {
	c := startCluster(t, clusterOpts{configs: 1, data: 1, autoAdd: true, copies: 1})
	ds := c.data[0]
	c.mustCtl(t, "namespace", "create", "5", "--name", "limited", "--ack", "async", "--max-ops", "20")
	waitFlow(t, ds.addr, "max_ops=20,max_bytes=0")

	rc := redis.NewClient(&redis.Options{Addr: ds.addr, DB: 5, MaxRetries: -1, PoolSize: 1,
		ReadTimeout: 5 * time.Second, WriteTimeout: 5 * time.Second, TLSConfig: clientTLS()})
	t.Cleanup(func() { rc.Close() })
	ctx := context.Background()
	const opsErr = "THROTTLED namespace 5 is over its flow limit (20 ops/s)"

	// A pipeline of 100 commands far exceeds 20 ops/s: the burst (a tenth
	// of a second's worth) runs, the rest is refused.
	served, refused := pipelineGets(t, rc, 100, opsErr)
	if refused == 0 || served == 0 {
		t.Fatalf("100 GETs at 20 ops/s: %d served, %d throttled; want both", served, refused)
	}
	if err := rc.Ping(ctx).Err(); err != nil {
		t.Errorf("PING while throttled: %v", err)
	}
	if got := nsField(t, ds.addr, "throttled"); got != int64(refused) {
		t.Errorf("INFO ns5 throttled=%d, the client saw %d", got, refused)
	}
	for name, want := range map[string]float64{
		`granary_namespace_throttled_total{namespace="5"}`: float64(refused),
		`granary_namespace_max_ops{namespace="5"}`:         20,
		`granary_namespace_max_bytes{namespace="5"}`:       0,
	} {
		if v, err := metric(ds.http, name); err != nil || v != want {
			t.Errorf("%s = %v, %v; want %v", name, v, err, want)
		}
	}

	// Raised at run time: the same load runs unrefused.
	c.mustCtl(t, "namespace", "update", "5", "--max-ops", "1000000")
	waitFlow(t, ds.addr, "max_ops=1000000,")
	if served, refused := pipelineGets(t, rc, 100, opsErr); refused != 0 || served != 100 {
		t.Errorf("after raising the limit: %d served, %d throttled", served, refused)
	}

	// A bytes limit: a 10 KB value runs, then puts the namespace in debt
	// for about ten seconds at 1 KB/s.
	c.mustCtl(t, "namespace", "update", "5", "--max-ops", "0", "--max-bytes", "1kb")
	waitFlow(t, ds.addr, "max_ops=0,max_bytes=1024")
	if err := rc.Set(ctx, "big", strings.Repeat("v", 10<<10), 0).Err(); err != nil {
		t.Fatalf("first SET under the bytes limit: %v", err)
	}
	const bytesErr = "THROTTLED namespace 5 is over its flow limit (1024 bytes/s)"
	if err := rc.Get(ctx, "big").Err(); err == nil || err.Error() != bytesErr {
		t.Errorf("GET after a 10 KB SET at 1 KB/s: %v, want %q", err, bytesErr)
	}

	// Lifted: no limit, nothing refused.
	c.mustCtl(t, "namespace", "update", "5", "--max-bytes", "0")
	waitFlow(t, ds.addr, "max_ops=0,max_bytes=0")
	if v, err := rc.Get(ctx, "big").Result(); err != nil || len(v) != 10<<10 {
		t.Errorf("GET after lifting the limits: %d bytes, %v", len(v), err)
	}
	if served, refused := pipelineGets(t, rc, 100, opsErr); refused != 0 || served != 100 {
		t.Errorf("after lifting the limits: %d served, %d throttled", served, refused)
	}
}

// pipelineGets sends n GETs in one pipeline and counts the replies served
// and those refused with throttled; any other error fails the test.
func pipelineGets(t *testing.T, rc *redis.Client, n int, throttled string) (served, refused int) {
	t.Helper()
	p := rc.Pipeline()
	cmds := make([]*redis.StringCmd, n)
	for i := range cmds {
		cmds[i] = p.Get(context.Background(), "k"+strconv.Itoa(i))
	}
	p.Exec(context.Background())
	for i, cmd := range cmds {
		switch err := cmd.Err(); {
		case err == nil || err == redis.Nil:
			served++
		case err.Error() == throttled:
			refused++
		default:
			t.Fatalf("GET %d: %v", i, err)
		}
	}
	return served, refused
}

// nsInfo returns the INFO namespaces line of namespace 5 on addr.
func nsInfo(addr string) (string, error) {
	s, err := oneShot(addr, func(ctx context.Context, c *redis.Client) (string, error) { return c.Info(ctx, "namespaces").Result() })
	if err != nil {
		return "", err
	}
	for _, l := range strings.Split(s, "\r\n") {
		if v, ok := strings.CutPrefix(l, "ns5:"); ok {
			return v + ",", nil
		}
	}
	return "", nil
}

// nsField returns a number of namespace 5's INFO line.
func nsField(t *testing.T, addr, k string) int64 {
	t.Helper()
	line, err := nsInfo(addr)
	if err != nil {
		t.Fatal(err)
	}
	for _, kv := range strings.Split(line, ",") {
		if name, v, _ := strings.Cut(kv, "="); name == k {
			n, _ := strconv.ParseInt(v, 10, 64)
			return n
		}
	}
	t.Fatalf("INFO ns5 %q has no %s", line, k)
	return 0
}

// waitFlow waits until the data server's INFO line of namespace 5 shows
// want: the limits arrived with a heartbeat.
func waitFlow(t *testing.T, addr, want string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		line, err := nsInfo(addr)
		if err == nil && strings.Contains(line, want) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("limits %q not on the data server after 10 s: INFO ns5 %q, %v", want, line, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
