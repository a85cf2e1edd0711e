//go:build e2e

package cluster

import (
	"bufio"
	"context"
	"fmt"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"granary/internal/clusterapi"
)

// catchups sums granary_repl_catchups_total by kind over data servers.
func catchups(t *testing.T, dss ...*dataServer) map[string]float64 {
	t.Helper()
	out := map[string]float64{}
	for _, ds := range dss {
		resp, err := httpGet(ds.http, "/metrics")
		if err != nil {
			t.Fatalf("%s: metrics: %v", ds.name, err)
		}
		sc := bufio.NewScanner(resp.Body)
		for sc.Scan() {
			line := sc.Text()
			rest, ok := strings.CutPrefix(line, `granary_repl_catchups_total{kind="`)
			if !ok {
				continue
			}
			kind, val, _ := strings.Cut(rest, `"} `)
			v, _ := strconv.ParseFloat(val, 64)
			out[kind] += v
		}
		resp.Body.Close()
	}
	return out
}

// TestCatchUpByReplayOrSnapshot: a data server paused (SIGSTOP) past the down
// timeout is taken out of its buckets, keeps its copies, and when it resumes
// gets them back: after a short outage its primaries replay what it missed
// from their logs; after one during which more was written than the logs
// hold (--repl-log 2mb), they send snapshots. Either way its copies end up
// with every value (READONLY reads).
func TestCatchUpByReplayOrSnapshot(t *testing.T) {
	c := startCluster(t, clusterOpts{configs: 1, data: 3, autoAdd: true, dataArgs: []string{"--repl-log", "2mb"}})
	cc := newClusterClient(t, c.cfg[0].resp)
	ds := c.data[1]
	others := []*dataServer{c.data[0], c.data[2]}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	value := strings.Repeat("v", 1000)

	for _, phase := range []struct {
		name string
		keys int
		want string
	}{{"short outage", 200, "replay"}, {"long outage", 16000, "snapshot"}} {
		c.waitTable(t, 3, 60*time.Second)
		before := catchups(t, others...)
		ds.signal(t, syscall.SIGSTOP)
		resumed := false
		t.Cleanup(func() {
			if !resumed {
				ds.signal(t, syscall.SIGCONT)
			}
		})
		c.waitNodeState(t, ds.id, clusterapi.NodeDown, 30*time.Second)
		cc.ReloadState(ctx) // the paused node accepts connections but never answers
		prefix := fmt.Sprintf("cu:%s:", phase.want)
		for i := 0; i < phase.keys; i += 500 {
			// Its buckets' new primaries answer TRYAGAIN until the old
			// primary's lease ran out: retry the batch until then.
			for try := 0; ; try++ {
				pipe := cc.Pipeline()
				for j := i; j < min(i+500, phase.keys); j++ {
					pipe.Set(ctx, prefix+strconv.Itoa(j), value, 0)
				}
				_, err := pipe.Exec(ctx)
				if err == nil {
					break
				}
				if try%20 == 0 {
					t.Logf("%s: writes while %s is paused, try %d: %v", phase.name, ds.name, try, err)
				}
				if try == 100 {
					t.Fatalf("%s: writes while %s is paused: %v", phase.name, ds.name, err)
				}
				time.Sleep(50 * time.Millisecond)
			}
		}
		ds.signal(t, syscall.SIGCONT)
		resumed = true
		c.waitTable(t, 3, 60*time.Second)
		after := catchups(t, others...)
		delta := map[string]float64{}
		for k, v := range after {
			delta[k] = v - before[k]
		}
		t.Logf("%s: %d keys of 1 KB written while %s was paused; its primaries caught it up: %v", phase.name, phase.keys, ds.name, delta)
		switch phase.want {
		case "replay":
			if delta["replay"] == 0 || delta["snapshot"] != 0 {
				t.Errorf("%s: catch-ups %v, want replays and no snapshot", phase.name, delta)
			}
		case "snapshot":
			if delta["snapshot"] == 0 {
				t.Errorf("%s: catch-ups %v, want snapshots", phase.name, delta)
			}
		}
		// Its copies converge on what was written meanwhile (a READONLY
		// read may see a copy still catching up, so each key gets time).
		ro := redis.NewClient(&redis.Options{Addr: ds.addr, TLSConfig: clientTLS(), OnConnect: func(ctx context.Context, cn *redis.Conn) error {
			return cn.ReadOnly(ctx).Err()
		}})
		read := 0
		deadline := time.Now().Add(30 * time.Second)
		for j := 0; j < phase.keys; j += max(1, phase.keys/200) {
			k := prefix + strconv.Itoa(j)
			for {
				got, err := ro.Get(ctx, k).Result()
				if err != nil && strings.HasPrefix(err.Error(), "MOVED") {
					break
				}
				if err == nil && got == value {
					read++
					break
				}
				if time.Now().After(deadline) {
					t.Fatalf("%s: READONLY GET %s on %s: %d bytes, %v; the copy did not catch up", phase.name, k, ds.name, len(got), err)
				}
				time.Sleep(50 * time.Millisecond)
			}
		}
		t.Logf("%s: %d keys read back from %s's copies", phase.name, read, ds.name)
		ro.Close()
		if read == 0 {
			t.Errorf("%s: %s holds none of the keys' buckets", phase.name, ds.name)
		}
	}
}
