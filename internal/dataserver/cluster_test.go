package dataserver

import (
	"context"
	"fmt"
	"log/slog"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"granary/internal/clusterapi"
	"granary/internal/configserver"
	"granary/internal/routing"
)

// Cluster mode against a real config server (a Raft group of one).

func startConfigServer(t *testing.T, autoAdd bool, minNodes int) *configserver.Server {
	t.Helper()
	return startConfigServerWith(t, func(o *configserver.Options) { o.AutoAdd, o.MinNodes = autoAdd, minNodes })
}

// startConfigServerWith is startConfigServer with options edited by edit.
func startConfigServerWith(t *testing.T, edit func(*configserver.Options)) *configserver.Server {
	t.Helper()
	opts := configserver.Options{
		ID:     "cs1",
		Dir:    filepath.Join(t.TempDir(), "cs1"),
		Raft:   "127.0.0.1:0",
		HTTP:   "127.0.0.1:0",
		RESP:   "127.0.0.1:0",
		Peers:  []configserver.Peer{{ID: "cs1", Raft: "127.0.0.1:0"}},
		Copies: 2,
		Logger: quiet(),
	}
	edit(&opts)
	cs, err := configserver.Start(context.Background(), opts)
	if err != nil {
		t.Fatalf("config server: %v", err)
	}
	t.Cleanup(func() { cs.Close() })
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := cs.WaitLeader(ctx); err != nil {
		t.Fatalf("config server leader: %v", err)
	}
	return cs
}

// waitServing waits until every data server holds the config server's table,
// with every bucket assigned, and returns it.
func waitServing(t *testing.T, api *clusterapi.Client, dss ...*DataServer) *routing.Table {
	t.Helper()
	var last string
	for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		st, err := api.Status(ctx)
		cancel()
		if err != nil || st.Epoch == 0 || st.Unassigned != 0 {
			last = fmt.Sprintf("status %+v, %v", st, err)
			continue
		}
		ok := true
		for _, ds := range dss {
			if e := ds.Node().Table().Epoch; e != st.Epoch {
				last, ok = fmt.Sprintf("data server %s at epoch %d, config server at %d", ds.Addr(), e, st.Epoch), false
				break
			}
		}
		if !ok {
			continue
		}
		// Each primary serves once its secondaries granted it a lease.
		tbl := dss[0].Node().Table()
		keys := keysOf(tbl)
		for _, ds := range dss {
			k, has := keys[indexOf(tbl, ds.Node().ID)]
			if !has {
				continue
			}
			rc := redis.NewClient(&redis.Options{Addr: ds.Addr(), MaxRetries: -1})
			err := rc.Get(context.Background(), k).Err()
			rc.Close()
			if err != nil && err != redis.Nil {
				last, ok = fmt.Sprintf("data server %s: GET: %v", ds.Addr(), err), false
				break
			}
		}
		if ok {
			return tbl
		}
	}
	t.Fatalf("the data servers did not get a full table: %s", last)
	return nil
}

// keysOf returns, for each node index of t, a key whose bucket it is primary of.
func keysOf(t *routing.Table) map[int]string {
	out := map[int]string{}
	for i := 0; len(out) < len(t.Nodes) && i < 100000; i++ {
		k := fmt.Sprintf("key%d", i)
		if p := t.Primary(routing.Bucket([]byte(k))); p >= 0 {
			if _, ok := out[p]; !ok {
				out[p] = k
			}
		}
	}
	return out
}

func indexOf(t *routing.Table, id string) int {
	for i, n := range t.Nodes {
		if n.ID == id {
			return i
		}
	}
	return -1
}

// clusterRoundTrip writes and reads 200 keys spread over the buckets through
// a cluster client.
func clusterRoundTrip(t *testing.T, cc *redis.ClusterClient, tag string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for i := range 200 {
		k := fmt.Sprintf("%s:%d", tag, i)
		if err := cc.Set(ctx, k, k, 0).Err(); err != nil {
			t.Fatalf("cluster SET %s: %v", k, err)
		}
	}
	for i := range 200 {
		k := fmt.Sprintf("%s:%d", tag, i)
		if got, err := cc.Get(ctx, k).Result(); err != nil || got != k {
			t.Fatalf("cluster GET %s = %q, %v", k, got, err)
		}
	}
}

func TestClusterWithConfigServer(t *testing.T) {
	cs := startConfigServer(t, true, 2)
	api := clusterapi.NewClient([]string{cs.HTTPAddr()})
	dirs := []string{t.TempDir(), t.TempDir()}
	var logs syncBuffer
	ds1 := start(t, Options{ConfigServers: []string{cs.HTTPAddr()}, Dir: dirs[0],
		Logger: slog.New(slog.NewTextHandler(&logs, nil))})
	ds2 := start(t, Options{ConfigServers: []string{cs.HTTPAddr()}, Dir: dirs[1]})
	tbl := waitServing(t, api, ds1, ds2)
	ctx := context.Background()

	// Each serves its primaries and redirects to the other for the rest.
	i1, i2 := indexOf(tbl, ds1.Node().ID), indexOf(tbl, ds2.Node().ID)
	if i1 < 0 || i2 < 0 {
		t.Fatalf("table nodes %+v lack a data server", tbl.Nodes)
	}
	keys := keysOf(tbl)
	if keys[i1] == "" || keys[i2] == "" {
		t.Fatalf("a data server is primary of nothing: %v", keys)
	}
	for _, c := range []struct {
		ds          *DataServer
		mine, their string
		other       *DataServer
	}{{ds1, keys[i1], keys[i2], ds2}, {ds2, keys[i2], keys[i1], ds1}} {
		rc := plain(t, c.ds.Addr())
		if err := rc.Set(ctx, c.mine, "v", 0).Err(); err != nil {
			t.Fatalf("%s: SET own key: %v", c.ds.Addr(), err)
		}
		err := rc.Set(ctx, c.their, "v", 0).Err()
		want := fmt.Sprintf("MOVED %d %s", routing.Bucket([]byte(c.their)), c.other.Addr())
		if err == nil || err.Error() != want {
			t.Fatalf("%s: SET other's key: %v, want %s", c.ds.Addr(), err, want)
		}
	}

	// A cluster client given only the config server's address.
	cc := redis.NewClusterClient(&redis.ClusterOptions{Addrs: []string{cs.RESPAddr()}, Protocol: 2,
		MaxRedirects: 8, DialTimeout: 2 * time.Second, ReadTimeout: 5 * time.Second})
	defer cc.Close()
	clusterRoundTrip(t, cc, "a")

	// A namespace defined on the config server: each holder of buckets
	// enforces half its quota.
	if _, err := api.CreateNamespace(ctx, clusterapi.Namespace{ID: 5, Name: "sessions", Quota: 64 << 20}); err != nil {
		t.Fatalf("CreateNamespace: %v", err)
	}
	for _, ds := range []*DataServer{ds1, ds2} {
		waitFor(t, 10*time.Second, "namespace 5 on "+ds.Addr(), func() bool {
			ns := ds.Namespaces().Lookup(5)
			return ns != nil && ns.Engine.Stats().Quota == 32<<20
		})
	}

	// A data server restarted on its directory is the same node. It stays
	// away until the config server has marked it down (after the down
	// timeout), so that it comes back to a table without it.
	id2 := ds2.Node().ID
	addr2 := ds2.Addr()
	ds2.Close()
	waitFor(t, 20*time.Second, "the stopped data server marked down", func() bool {
		st, err := api.Status(ctx)
		return err == nil && st.Nodes[string(clusterapi.NodeDown)] == 1
	})
	// The other data server learns it with the next table: its CLUSTER NODES
	// reports the node failed, as the config server's does.
	waitFor(t, 10*time.Second, "ds1 reporting ds2 failed", func() bool {
		nodes, err := plain(t, ds1.Addr()).ClusterNodes(ctx).Result()
		return err == nil && strings.Contains(nodes, id2) && strings.Contains(nodes, ",fail") && strings.Contains(nodes, "disconnected")
	})
	ds2 = start(t, Options{ConfigServers: []string{cs.HTTPAddr()}, Dir: dirs[1], Listen: addr2})
	if ds2.Node().ID != id2 {
		t.Fatalf("restarted data server has id %s, want %s", ds2.Node().ID, id2)
	}
	// It lost its data (in memory), so the config servers gave its
	// primaries to ds1 and give it copies back as a secondary: it catches up
	// from ds1 and then answers READONLY reads of what was written before.
	var tbl2 *routing.Table
	var k2 string
	waitFor(t, 30*time.Second, "the restarted data server holding caught-up copies", func() bool {
		tbl2 = waitServing(t, api, ds1, ds2)
		i := indexOf(tbl2, id2)
		for b := range tbl2.Replicas {
			if len(tbl2.Replicas[b]) == 2 && tbl2.Replicas[b][1] == i && ds2.Node().Repl.Held(uint16(b)) {
				for j := range 200 {
					if k := fmt.Sprintf("a:%d", j); routing.Bucket([]byte(k)) == uint16(b) {
						k2 = k
						return true
					}
				}
			}
		}
		return false
	})
	ro := redis.NewClient(&redis.Options{Addr: ds2.Addr(), OnConnect: func(ctx context.Context, cn *redis.Conn) error {
		return cn.ReadOnly(ctx).Err()
	}})
	defer ro.Close()
	if got, err := ro.Get(ctx, k2).Result(); err != nil || got != k2 {
		t.Fatalf("READONLY GET %s on the caught-up secondary: %q, %v", k2, got, err)
	}
	clusterRoundTrip(t, cc, "b")

	// Every config server gone: the data servers keep serving. The table
	// they hold must be the last one: the config server may still have been
	// restoring copies when the check above passed.
	var epoch uint64
	waitFor(t, 10*time.Second, "the data servers on the config server's last table", func() bool {
		st, err := api.Status(ctx)
		if err != nil {
			return false
		}
		epoch = st.Epoch
		time.Sleep(300 * time.Millisecond) // a heartbeat round: nothing newer comes
		st2, err := api.Status(ctx)
		return err == nil && st2.Epoch == epoch && ds1.Node().Table().Epoch == epoch && ds2.Node().Table().Epoch == epoch
	})
	if err := cs.Close(); err != nil {
		t.Fatalf("config server Close: %v", err)
	}
	time.Sleep(time.Second) // several heartbeats fail
	clusterRoundTrip(t, cc, "c")
	for _, ds := range []*DataServer{ds1, ds2} {
		if e := ds.Node().Table().Epoch; e != epoch {
			t.Fatalf("%s: epoch %d after the config server left, want %d", ds.Addr(), e, epoch)
		}
	}
	if n := strings.Count(logs.String(), "no config server reachable"); n != 1 {
		t.Fatalf("outage logged %d times, want once:\n%s", n, logs.String())
	}
}

func TestClusterUnknownNodeJoinsOnceAdded(t *testing.T) {
	cs := startConfigServer(t, false, 1)
	api := clusterapi.NewClient([]string{cs.HTTPAddr()})
	ds := start(t, Options{ConfigServers: []string{cs.HTTPAddr()}})
	ctx := context.Background()
	rc := plain(t, ds.Addr())

	time.Sleep(500 * time.Millisecond) // refused heartbeats
	if err := rc.Set(ctx, "k", "v", 0).Err(); err == nil || !strings.HasPrefix(err.Error(), "CLUSTERDOWN") {
		t.Fatalf("SET on a node not added: %v", err)
	}
	if e := ds.Node().Table().Epoch; e != 0 {
		t.Fatalf("a node not added got table epoch %d", e)
	}
	if _, err := api.AddNode(ctx, clusterapi.NodeAdd{ID: ds.Node().ID}); err != nil {
		t.Fatalf("AddNode: %v", err)
	}
	waitServing(t, api, ds)
	if err := rc.Set(ctx, "k", "v", 0).Err(); err != nil {
		t.Fatalf("SET once added: %v", err)
	}
	if got := rc.Get(ctx, "k").Val(); got != "v" {
		t.Fatalf("GET once added = %q", got)
	}
}
