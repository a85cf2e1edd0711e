//go:build e2e

package cluster

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"granary/internal/clusterapi"
)

// writeRetry writes keys prefix0..prefix(n-1) in batches, retrying a batch
// while the cluster moves primaries (TRYAGAIN, a dead node's connections).
func writeRetry(t *testing.T, ctx context.Context, cc *redis.ClusterClient, prefix string, from, to int, value func(i int) string) {
	t.Helper()
	for i := from; i < to; i += 200 {
		for try := 0; ; try++ {
			pipe := cc.Pipeline()
			for j := i; j < min(i+200, to); j++ {
				pipe.Set(ctx, prefix+strconv.Itoa(j), value(j), 0)
			}
			_, err := pipe.Exec(ctx)
			if err == nil {
				break
			}
			if try == 200 {
				t.Fatalf("writes %s%d..: %v", prefix, i, err)
			}
			if try%20 == 0 {
				cc.ReloadState(ctx)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
}

// TestDiskRestartCatchesUpByReplay: a data server of a cluster whose
// namespaces are on the disk engine is SIGKILLed, misses some writes, and is
// restarted on its directory. It reads its buckets' places in their
// histories back from disk, the config servers give it its copies back, and
// its primaries replay what it missed from their logs: no snapshot, also for
// the buckets a bulk import (`granary import`) filled before the kill. Its
// copies then hold every value, those written before the kill included
// (READONLY reads), and no acknowledged write is lost.
func TestDiskRestartCatchesUpByReplay(t *testing.T) {
	c := startCluster(t, clusterOpts{configs: 1, data: 3, autoAdd: true, dataArgs: []string{"--engine", "disk"}})
	cc := newClusterClient(t, c.cfg[0].resp)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	value := func(i int) string { return fmt.Sprintf("value-%d-%s", i, strings.Repeat("x", 200)) }
	const before, during = 3000, 300

	writeRetry(t, ctx, cc, "dk:", 0, before, value)
	// The import leaves most buckets with no write after their file.
	const imported = 2000
	var csv strings.Builder
	for i := range imported {
		fmt.Fprintf(&csv, "imp:%d,%s\n", i, value(i))
	}
	file := filepath.Join(t.TempDir(), "import.csv")
	if err := os.WriteFile(file, []byte(csv.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	importArgs := append([]string{"import", "-q", "--addr", c.cfg[0].resp}, ctlTLSArgs()...)
	if out, err := exec.CommandContext(ctx, granaryBin, append(importArgs, file)...).CombinedOutput(); err != nil {
		t.Fatalf("granary import: %v\n%s", err, out)
	}
	ds := c.data[1]
	others := []*dataServer{c.data[0], c.data[2]}
	c.waitTable(t, 3, 60*time.Second)
	base := catchups(t, others...)

	ds.kill(t)
	c.waitNodeState(t, ds.id, clusterapi.NodeDown, 30*time.Second)
	cc.ReloadState(ctx)
	writeRetry(t, ctx, cc, "dk:", before, before+during, value)

	start := time.Now()
	ds.restart(t)
	c.waitTable(t, 3, 90*time.Second)
	t.Logf("%s serving again %v after its restart", ds.name, time.Since(start).Round(time.Millisecond))
	restored, err := metric(ds.http, "granary_repl_restored_buckets")
	if err != nil {
		t.Fatal(err)
	}
	after := catchups(t, others...)
	delta := map[string]float64{}
	for k, v := range after {
		delta[k] = v - base[k]
	}
	t.Logf("%s read %v buckets back from disk; its primaries caught it up: %v", ds.name, restored, delta)
	if restored == 0 {
		t.Errorf("no bucket restored from disk")
	}
	if delta["replay"] == 0 || delta["snapshot"] != 0 {
		t.Errorf("catch-ups %v: want replays and no snapshot", delta)
	}

	// Every key, through the cluster; and from the restarted node's own
	// copies where it holds one.
	ro := redis.NewClient(&redis.Options{Addr: ds.addr, TLSConfig: clientTLS(), OnConnect: func(ctx context.Context, cn *redis.Conn) error {
		return cn.ReadOnly(ctx).Err()
	}})
	defer ro.Close()
	own := 0
	deadline := time.Now().Add(30 * time.Second)
	for n := 0; n < before+during+imported; n++ {
		i, k := n, "dk:"+strconv.Itoa(n)
		if n >= before+during {
			i = n - before - during
			k = "imp:" + strconv.Itoa(i)
		}
		if got, err := cc.Get(ctx, k).Result(); err != nil || got != value(i) {
			t.Fatalf("GET %s: %d bytes, %v", k, len(got), err)
		}
		for {
			got, err := ro.Get(ctx, k).Result()
			if err != nil && strings.HasPrefix(err.Error(), "MOVED") {
				break
			}
			if err == nil && got == value(i) {
				own++
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("READONLY GET %s on %s: %d bytes, %v", k, ds.name, len(got), err)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	t.Logf("%d of %d keys read back from %s's own copies", own, before+during+imported, ds.name)
	if own == 0 {
		t.Errorf("%s holds none of the keys", ds.name)
	}
}
