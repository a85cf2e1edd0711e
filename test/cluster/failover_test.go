//go:build e2e

package cluster

import (
	"context"
	"fmt"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"granary/internal/clusterapi"
)

// load is a client workload: workers SET a new key to a unique value and GET
// it back, in a loop, through one go-redis ClusterClient. Every error is
// counted; every acknowledged write is remembered for a final read-back.
type load struct {
	cc    *redis.ClusterClient
	start time.Time
	stop  chan struct{}
	wg    sync.WaitGroup
	ops   atomic.Int64

	mu     sync.Mutex
	acked  map[string]string
	nerr   int
	errors []string // the first few, with when they happened
}

// startLoad runs workers goroutines against cc, each pausing pause between
// operations (the machine is shared; the point is continuity, not rate).
func startLoad(cc *redis.ClusterClient, prefix string, workers int, pause time.Duration) *load {
	l := &load{cc: cc, start: time.Now(), stop: make(chan struct{}), acked: map[string]string{}}
	for w := 0; w < workers; w++ {
		l.wg.Add(1)
		go func() {
			defer l.wg.Done()
			for i := 0; ; i++ {
				select {
				case <-l.stop:
					return
				default:
				}
				key := prefix + ":" + strconv.Itoa(w) + ":" + strconv.Itoa(i)
				val := randValue(key)
				ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
				err := cc.Set(ctx, key, val, 0).Err()
				if err == nil {
					l.mu.Lock()
					l.acked[key] = val
					l.mu.Unlock()
					var got string
					got, err = cc.Get(ctx, key).Result()
					if err == nil && got != val {
						err = fmt.Errorf("GET %s: %q, want %q", key, got, val)
					} else if err != nil {
						err = fmt.Errorf("GET %s: %w", key, err)
					}
				} else {
					err = fmt.Errorf("SET %s: %w", key, err)
				}
				cancel()
				l.ops.Add(1)
				if err != nil {
					l.fail(err)
				}
				time.Sleep(pause)
			}
		}()
	}
	return l
}

func (l *load) fail(err error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.nerr++
	if len(l.errors) < 10 {
		l.errors = append(l.errors, fmt.Sprintf("at +%v: %v", time.Since(l.start).Round(time.Millisecond), err))
	}
}

// errs returns the number of errors so far.
func (l *load) errs() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.nerr
}

// finish stops the workers, requires zero errors, and reads every
// acknowledged write back.
func (l *load) finish(t *testing.T, what string) {
	t.Helper()
	close(l.stop)
	l.wg.Wait()
	l.mu.Lock()
	defer l.mu.Unlock()
	t.Logf("%s: %d operations in %v, %d errors, %d acknowledged writes", what, l.ops.Load(),
		time.Since(l.start).Round(time.Millisecond), l.nerr, len(l.acked))
	if l.nerr > 0 {
		t.Errorf("%s: the client load saw %d errors, want none; first ones:\n  %s", what, l.nerr, joinLines(l.errors))
	}
	if l.ops.Load() == 0 {
		t.Errorf("%s: the client load made no operation", what)
	}
	// Read back in pipelines of 500 (the ClusterClient routes each command).
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	keys := make([]string, 0, len(l.acked))
	for k := range l.acked {
		keys = append(keys, k)
	}
	bad := 0
	for i := 0; i < len(keys); i += 500 {
		batch := keys[i:min(i+500, len(keys))]
		cmds := make([]*redis.StringCmd, len(batch))
		_, err := l.cc.Pipelined(ctx, func(p redis.Pipeliner) error {
			for j, k := range batch {
				cmds[j] = p.Get(ctx, k)
			}
			return nil
		})
		if err != nil && err != redis.Nil {
			t.Errorf("%s: read-back pipeline: %v", what, err)
		}
		for j, cmd := range cmds {
			if v, err := cmd.Result(); err != nil || v != l.acked[batch[j]] {
				if bad++; bad <= 5 {
					t.Errorf("%s: acknowledged write %s=%q reads back %q, %v", what, batch[j], l.acked[batch[j]], v, err)
				}
			}
		}
	}
	if bad > 0 {
		t.Errorf("%s: %d of %d acknowledged writes did not read back", what, bad, len(keys))
	}
}

func joinLines(ss []string) string {
	out := ""
	for i, s := range ss {
		if i > 0 {
			out += "\n  "
		}
		out += s
	}
	return out
}

// newClusterClient is a go-redis ClusterClient seeded with addrs.
func newClusterClient(t *testing.T, addrs ...string) *redis.ClusterClient {
	// The table is reloaded every 500 ms (go-redis' default is 10 s, and it
	// does not reload when a node stops answering): see docs/replication.md.
	cc := redis.NewClusterClient(&redis.ClusterOptions{Addrs: addrs, DialTimeout: 2 * time.Second, TLSConfig: clientTLS(),
		ReadTimeout: 3 * time.Second, WriteTimeout: 3 * time.Second, ClusterStateReloadInterval: 500 * time.Millisecond})
	t.Cleanup(func() { cc.Close() })
	return cc
}

// TestConfigLeaderKilled: three config servers; the Raft leader is SIGKILLed
// three times (restarted each time) while a client load runs against the data
// servers. A new leader must appear (the time from the kill until a surviving
// config server's status names one is measured), the table stays complete,
// and the client load sees no error and loses no acknowledged write.
func TestConfigLeaderKilled(t *testing.T) {
	c := startCluster(t, clusterOpts{configs: 3, data: 3, autoAdd: true})
	var dataAddrs []string
	for _, ds := range c.data {
		dataAddrs = append(dataAddrs, ds.addr)
	}
	// Every member answers CLUSTER SLOTS with the table (followers answer
	// reads themselves), so clients may start from any of them.
	want, err := slotOwners(c.data[0].addr)
	if err != nil {
		t.Fatal(err)
	}
	for _, cs := range c.cfg {
		if got, err := slotOwners(cs.resp); err != nil || got != want {
			t.Errorf("CLUSTER SLOTS on config server %s differs from the data servers' (%v)", cs.id, err)
		}
	}
	l := startLoad(newClusterClient(t, dataAddrs...), "fo", 2, time.Millisecond)
	time.Sleep(time.Second)

	var times []time.Duration
	const kills = 3
	for round := 1; round <= kills; round++ {
		old := c.leader(t)
		before, err := c.status(old.http)
		if err != nil {
			t.Fatalf("status: %v", err)
		}
		var survivors []string
		for _, cs := range c.cfg {
			if cs != old {
				survivors = append(survivors, cs.http)
			}
		}
		errsBefore := l.errs()
		t0 := time.Now()
		old.kill(t)
		var leader, last string
		var term uint64
		for {
			s, err := c.status(survivors...)
			if err == nil && s.Leader != "" && s.Leader != old.id {
				leader, term = s.Leader, s.Term
				break
			}
			if err != nil {
				last = err.Error()
			} else {
				last = fmt.Sprintf("leader %q term %d", s.Leader, s.Term)
			}
			if time.Since(t0) > 60*time.Second {
				t.Fatalf("kill %d: no new config leader 60s after killing %s: %s", round, old.id, last)
			}
			time.Sleep(10 * time.Millisecond)
		}
		d := time.Since(t0)
		times = append(times, d)
		after := c.waitTable(t, 3, 30*time.Second)
		// The data servers heartbeat the new leader: past the down timeout
		// (about 2s) every node is still up and was heard from lately.
		time.Sleep(3 * time.Second)
		c.checkHeartbeats(t, leader, 3)
		t.Logf("kill %d: leader %s (term %d) SIGKILLed; new leader %s (term %d) after %v; table epoch %d -> %d, nodes %v, client errors so far %d (+%d)",
			round, old.id, before.Term, leader, term, d.Round(time.Millisecond), before.Epoch, after.Epoch, after.Nodes,
			l.errs(), l.errs()-errsBefore)

		old.restart(t)
		// The restarted member must rejoin and follow the new leader.
		deadline := time.Now().Add(30 * time.Second)
		for {
			s, err := c.status(old.http)
			if err == nil && s.Leader != "" {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("kill %d: restarted %s does not see a leader after 30s: %v %+v", round, old.id, err, s)
			}
			time.Sleep(20 * time.Millisecond)
		}
		time.Sleep(time.Second) // the load runs on with every member up
	}
	l.finish(t, "client load through 3 config leader kills")
	med, max := durations(times)
	t.Logf("config leader election after SIGKILL: %v; median %v, max %v", times, med.Round(time.Millisecond), max.Round(time.Millisecond))
}

// checkHeartbeats checks that the leader sees want data servers up, each
// heard from within the last 1.5 seconds.
func (c *cluster) checkHeartbeats(t *testing.T, leader string, want int) {
	t.Helper()
	var api *clusterapi.Client
	for _, cs := range c.cfg {
		if cs.id == leader {
			api = apiClient(cs.http)
		}
	}
	if api == nil {
		t.Fatalf("no config server %q", leader)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	nodes, err := api.Nodes(ctx)
	if err != nil {
		t.Errorf("nodes from the leader %s: %v", leader, err)
		return
	}
	up := 0
	for _, n := range nodes {
		if n.State == clusterapi.NodeUp && !n.LastSeen.IsZero() && time.Since(n.LastSeen) < 1500*time.Millisecond {
			up++
		} else {
			t.Errorf("leader %s: node %s %s, last seen %v", leader, n.ID, n.State, n.LastSeen)
		}
	}
	if up != want {
		t.Errorf("leader %s hears from %d data servers, want %d", leader, up, want)
	}
}

// TestAllConfigServersKilled: with every config server dead, data servers
// keep serving the table they have: a ClusterClient created (through the
// config server) before the kill keeps working, and new clients connecting to
// the data servers work too. The config server, restarted with its
// directory, finds the cluster as it was.
func TestAllConfigServersKilled(t *testing.T) {
	c := startCluster(t, clusterOpts{configs: 1, data: 3, autoAdd: true})
	cfg := c.cfg[0]
	cc := newClusterClient(t, cfg.resp)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	before := map[string]string{}
	for i := 0; i < 100; i++ {
		k, v := "pre:"+strconv.Itoa(i), randValue("pre")
		if err := cc.Set(ctx, k, v, 0).Err(); err != nil {
			t.Fatalf("SET %s before the kill: %v", k, err)
		}
		before[k] = v
	}
	st0, err := c.status()
	if err != nil {
		t.Fatal(err)
	}
	l := startLoad(cc, "nocfg", 2, time.Millisecond)
	time.Sleep(500 * time.Millisecond)
	cfg.kill(t)
	killed := time.Now()

	// Well past the down timeout and many heartbeat intervals.
	time.Sleep(8 * time.Second)

	for _, ds := range c.data {
		if !ds.alive() {
			t.Fatalf("%s exited after the config servers died", ds.name)
		}
		info, err := clusterInfo(ds.addr)
		if err != nil || info["cluster_state"] != "ok" || info["cluster_current_epoch"] != strconv.FormatUint(st0.Epoch, 10) {
			t.Errorf("%s CLUSTER INFO %v after the config servers died: %v (want state ok, epoch %d)", ds.name, info, err, st0.Epoch)
		}
		owners, err := slotOwners(ds.addr)
		if err != nil {
			t.Errorf("%s CLUSTER SLOTS: %v", ds.name, err)
			continue
		}
		// A new plain client, straight to the data server, on its own slots.
		pc := plainClient(t, ds.addr, 3)
		for _, k := range keysOn(owners, ds.addr, "direct:"+ds.name+":", 20) {
			v := randValue(k)
			if err := pc.Set(ctx, k, v, 0).Err(); err != nil {
				t.Errorf("new client to %s: SET %s: %v", ds.name, k, err)
				continue
			}
			if got, err := pc.Get(ctx, k).Result(); err != nil || got != v {
				t.Errorf("new client to %s: GET %s: %q, %v; want %q", ds.name, k, got, err, v)
			}
		}
	}
	// A new cluster client seeded with a data server.
	cc2 := newClusterClient(t, c.data[2].addr)
	for i := 0; i < 50; i++ {
		k, v := "newcc:"+strconv.Itoa(i), randValue("newcc")
		if err := cc2.Set(ctx, k, v, 0).Err(); err != nil {
			t.Errorf("new ClusterClient: SET %s: %v", k, err)
		} else if got, err := cc2.Get(ctx, k).Result(); err != nil || got != v {
			t.Errorf("new ClusterClient: GET %s: %q, %v", k, got, err)
		}
	}
	for k, v := range before {
		if got, err := cc.Get(ctx, k).Result(); err != nil || got != v {
			t.Errorf("GET %s written before the kill: %q, %v; want %q", k, got, err, v)
		}
	}
	l.finish(t, fmt.Sprintf("client load with no config server for %v", time.Since(killed).Round(time.Second)))

	// The config server comes back with its Raft state and the same table.
	cfg.restart(t)
	st := c.waitTable(t, 3, 60*time.Second)
	if st.Epoch < st0.Epoch {
		t.Errorf("restarted config server: table epoch %d, was %d", st.Epoch, st0.Epoch)
	}
	t.Logf("config server restarted: epoch %d (was %d), nodes %v", st.Epoch, st0.Epoch, st.Nodes)
}
