package dataserver

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"granary/internal/clusterapi"
	"granary/internal/routing"
)

// fakeConfigServer is a TEST DOUBLE of a config server: it implements only
// POST /v1/heartbeat, answering with whatever the test sets. It drives the
// cases a real config server makes hard to produce on demand (an older epoch,
// a follower naming another leader); the real one is used in cluster_test.go.
type fakeConfigServer struct {
	srv *httptest.Server

	mu        sync.Mutex
	refuse    bool // answer 403: node not added
	leader    string
	table     *clusterapi.Table
	nodes     []clusterapi.Node
	ns        []clusterapi.Namespace
	nsVersion uint64
	beats     int
	last      clusterapi.HeartbeatRequest
}

func newFakeConfigServer(t *testing.T) *fakeConfigServer {
	f := &fakeConfigServer{}
	f.srv = httptest.NewServer(http.HandlerFunc(f.serve))
	t.Cleanup(f.srv.Close)
	return f
}

func (f *fakeConfigServer) addr() string { return strings.TrimPrefix(f.srv.URL, "http://") }

func (f *fakeConfigServer) serve(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost || r.URL.Path != "/v1/heartbeat" {
		http.NotFound(w, r)
		return
	}
	var req clusterapi.HeartbeatRequest
	if err := json.NewDecoder(r.Body).Decode(&req); err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.beats++
	f.last = req
	w.Header().Set("Content-Type", "application/json")
	if f.refuse {
		w.WriteHeader(http.StatusForbidden)
		json.NewEncoder(w).Encode(clusterapi.Error{Error: "node " + req.NodeID + " not added"})
		return
	}
	out := clusterapi.HeartbeatResponse{NSVersion: f.nsVersion, Leader: f.leader, Interval: 20 * time.Millisecond, Boot: req.Boot}
	if f.table != nil && f.table.Epoch != req.Epoch { // sends older tables too, which must be ignored
		out.Table, out.Nodes = f.table, f.nodes
	}
	if f.nsVersion > req.NSVersion {
		out.Namespaces = f.ns
	}
	json.NewEncoder(w).Encode(out)
}

func (f *fakeConfigServer) set(fn func(f *fakeConfigServer)) {
	f.mu.Lock()
	defer f.mu.Unlock()
	fn(f)
}

func (f *fakeConfigServer) beatCount() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.beats
}

func (f *fakeConfigServer) lastBeat() clusterapi.HeartbeatRequest {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.last
}

// waitFor polls cond every 10 ms until it holds or the timeout passes.
func waitFor(t *testing.T, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(timeout); !cond(); time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", timeout, what)
		}
	}
}

// keyIn returns a key whose bucket is in [first, last].
func keyIn(first, last uint16) string {
	for i := 0; ; i++ {
		k := "k" + strconv.Itoa(i)
		if b := routing.Bucket([]byte(k)); b >= first && b <= last {
			return k
		}
	}
}

func plain(t *testing.T, addr string) *redis.Client {
	rc := redis.NewClient(&redis.Options{Addr: addr, Protocol: 2, MaxRetries: -1, PoolSize: 2,
		DialTimeout: 2 * time.Second, ReadTimeout: 5 * time.Second})
	t.Cleanup(func() { rc.Close() })
	return rc
}

// Before any table a cluster-mode node serves no bucket; the heartbeat tells
// the config server who and where it is.
func TestClusterNoTableYet(t *testing.T) {
	f := newFakeConfigServer(t)
	ds := start(t, Options{ConfigServers: []string{f.addr()}, HTTP: "127.0.0.1:0", Zone: "z1"})
	waitFor(t, 5*time.Second, "a heartbeat", func() bool { return f.beatCount() > 0 })
	hb := f.lastBeat()
	if hb.NodeID != ds.Node().ID || hb.Addr != ds.Addr() || hb.HTTP != ds.HTTPAddr() || hb.Zone != "z1" || hb.Epoch != 0 {
		t.Fatalf("heartbeat %+v (node %s %s %s)", hb, ds.Node().ID, ds.Addr(), ds.HTTPAddr())
	}
	rc := plain(t, ds.Addr())
	ctx := context.Background()
	if err := rc.Set(ctx, "k", "v", 0).Err(); err == nil || !strings.HasPrefix(err.Error(), "CLUSTERDOWN") {
		t.Fatalf("SET before a table: %v", err)
	}
	if err := rc.Ping(ctx).Err(); err != nil {
		t.Fatalf("PING: %v", err)
	}
	if info := rc.ClusterInfo(ctx).Val(); !strings.Contains(info, "cluster_state:fail") {
		t.Fatalf("CLUSTER INFO: %s", info)
	}
	// Heartbeats go on at the interval the config server asked for (20 ms).
	n := f.beatCount()
	waitFor(t, 5*time.Second, "more heartbeats", func() bool { return f.beatCount() >= n+5 })
}

// Tables are taken only when newer; namespaces' quotas are split between the
// nodes holding buckets and follow table and definition changes.
func TestClusterTableAndNamespaces(t *testing.T) {
	f := newFakeConfigServer(t)
	ds := start(t, Options{ConfigServers: []string{f.addr()}, Quota: 1 << 30})
	self := ds.Node().ID
	other := strings.Repeat("ab", 20)
	nodes := []clusterapi.Node{
		{ID: self, Addr: ds.Addr(), State: clusterapi.NodeUp},
		{ID: other, Addr: "10.0.0.9:7000", State: clusterapi.NodeUp},
	}
	half := &clusterapi.Table{Epoch: 5, Nodes: []string{other, self}, Ranges: []clusterapi.Range{
		{First: 0, Last: 8191, Replicas: []int{1}},
		{First: 8192, Last: 16383, Replicas: []int{0}},
	}}
	f.set(func(f *fakeConfigServer) {
		f.table, f.nodes = half, nodes
		f.ns = []clusterapi.Namespace{{ID: 3, Name: "sessions", Engine: "mem", Quota: 10 << 20}}
		f.nsVersion = 1
	})
	waitFor(t, 5*time.Second, "epoch 5", func() bool { return ds.Node().Table().Epoch == 5 })
	waitFor(t, 5*time.Second, "namespace 3", func() bool { return ds.Namespaces().Lookup(3) != nil })

	ctx := context.Background()
	rc := plain(t, ds.Addr())
	mine, theirs := keyIn(0, 8191), keyIn(8192, 16383)
	if err := rc.Set(ctx, mine, "v", 0).Err(); err != nil {
		t.Fatalf("SET own bucket: %v", err)
	}
	err := rc.Set(ctx, theirs, "v", 0).Err()
	if want := "MOVED " + strconv.Itoa(int(routing.Bucket([]byte(theirs)))) + " 10.0.0.9:7000"; err == nil || err.Error() != want {
		t.Fatalf("SET other's bucket: %v, want %s", err, want)
	}

	quota := func(id uint16) int64 {
		ns := ds.Namespaces().Lookup(id)
		if ns == nil {
			return -1
		}
		return ns.Engine.Stats().Quota
	}
	if q := quota(3); q != 5<<20 {
		t.Fatalf("namespace 3 quota %d, want half of 10 MiB", q)
	}
	defs := ds.NamespaceDefs()
	if len(defs) != 1 || defs[0].ID != 3 || defs[0].Name != "sessions" || defs[0].LocalQuota != 5<<20 {
		t.Fatalf("NamespaceDefs = %+v", defs)
	}
	// Seen by clients too.
	conn := rc.Conn()
	defer conn.Close()
	if err := conn.Select(ctx, 3).Err(); err != nil {
		t.Fatal(err)
	}
	if got := conn.ConfigGet(ctx, "maxmemory").Val()["maxmemory"]; got != strconv.Itoa(5<<20) {
		t.Fatalf("CONFIG GET maxmemory in namespace 3 = %s", got)
	}
	// A namespace nobody defined works, with the default quota.
	if err := conn.Select(ctx, 7).Err(); err != nil {
		t.Fatal(err)
	}
	if err := conn.Set(ctx, mine, "v7", 0).Err(); err != nil {
		t.Fatalf("SET in undefined namespace 7: %v", err)
	}
	if q := quota(7); q != 1<<30 {
		t.Fatalf("namespace 7 quota %d, want the default", q)
	}

	// An older table is ignored.
	f.set(func(f *fakeConfigServer) {
		f.table = &clusterapi.Table{Epoch: 4, Nodes: []string{other}, Ranges: []clusterapi.Range{{First: 0, Last: 16383, Replicas: []int{0}}}}
	})
	n := f.beatCount()
	waitFor(t, 5*time.Second, "heartbeats", func() bool { return f.beatCount() >= n+5 })
	if e := ds.Node().Table().Epoch; e != 5 {
		t.Fatalf("epoch %d after an older table was offered", e)
	}
	if err := rc.Get(ctx, mine).Err(); err != nil {
		t.Fatalf("GET own bucket: %v", err)
	}

	// This node alone holds buckets: the whole quota.
	f.set(func(f *fakeConfigServer) {
		f.table = &clusterapi.Table{Epoch: 6, Nodes: []string{self, other}, Ranges: []clusterapi.Range{{First: 0, Last: 16383, Replicas: []int{0}}}}
	})
	waitFor(t, 5*time.Second, "epoch 6", func() bool { return ds.Node().Table().Epoch == 6 })
	waitFor(t, 5*time.Second, "the whole quota", func() bool { return quota(3) == 10<<20 })
	if err := rc.Set(ctx, theirs, "v", 0).Err(); err != nil {
		t.Fatalf("SET after taking every bucket: %v", err)
	}

	// The definition removed: back to the default.
	f.set(func(f *fakeConfigServer) { f.ns, f.nsVersion = nil, 2 })
	waitFor(t, 5*time.Second, "default quota", func() bool { return quota(3) == 1<<30 })
	if defs := ds.NamespaceDefs(); len(defs) != 0 {
		t.Fatalf("NamespaceDefs after removal = %+v", defs)
	}

	// The heartbeat carries statistics.
	waitFor(t, 5*time.Second, "stats", func() bool {
		hb := f.lastBeat()
		return hb.Stats.Items >= 3 && hb.Stats.Bytes > 0 && hb.Stats.Ops > 0 && hb.Stats.Clients >= 1 &&
			hb.Uptime > 0 && hb.Epoch == 6 && hb.NSVersion == 2
	})

	// A table that leaves this node out: it serves nothing, and redirects.
	f.set(func(f *fakeConfigServer) {
		f.table = &clusterapi.Table{Epoch: 7, Nodes: []string{other}, Ranges: []clusterapi.Range{{First: 0, Last: 16383, Replicas: []int{0}}}}
	})
	waitFor(t, 5*time.Second, "epoch 7", func() bool { return ds.Node().Table().Epoch == 7 })
	if err := rc.Get(ctx, mine).Err(); err == nil || !strings.HasPrefix(err.Error(), "MOVED ") {
		t.Fatalf("GET once left out of the table: %v", err)
	}
	// A table with a bucket nobody serves: CLUSTERDOWN there, not served here.
	f.set(func(f *fakeConfigServer) {
		f.table = &clusterapi.Table{Epoch: 8, Nodes: []string{other}, Ranges: []clusterapi.Range{{First: 8192, Last: 16383, Replicas: []int{0}}}}
	})
	waitFor(t, 5*time.Second, "epoch 8", func() bool { return ds.Node().Table().Epoch == 8 })
	if err := rc.Get(ctx, mine).Err(); err == nil || !strings.HasPrefix(err.Error(), "CLUSTERDOWN") {
		t.Fatalf("GET of an unserved bucket: %v", err)
	}
}

// A follower naming the leader: heartbeats go to the leader from then on, and
// fall back on the configured address when the leader goes away.
func TestClusterPrefersLeader(t *testing.T) {
	leader := newFakeConfigServer(t)
	follower := newFakeConfigServer(t)
	leader.set(func(f *fakeConfigServer) { f.leader = leader.addr() })
	follower.set(func(f *fakeConfigServer) { f.leader = leader.addr() })
	start(t, Options{ConfigServers: []string{follower.addr()}})
	waitFor(t, 5*time.Second, "heartbeats to the leader", func() bool { return leader.beatCount() >= 3 })
	n := follower.beatCount()
	m := leader.beatCount()
	waitFor(t, 5*time.Second, "more heartbeats to the leader", func() bool { return leader.beatCount() >= m+10 })
	if got := follower.beatCount(); got != n {
		t.Fatalf("follower got %d more heartbeats while the leader answered", got-n)
	}
	leader.srv.Close()
	waitFor(t, 5*time.Second, "fallback on the follower", func() bool { return follower.beatCount() >= n+3 })
}

// A node the config servers refuse starts anyway, serves nothing, retries
// slowly, logs why, and joins once accepted.
func TestClusterNotAdded(t *testing.T) {
	f := newFakeConfigServer(t)
	f.set(func(f *fakeConfigServer) { f.refuse = true })
	var logs syncBuffer
	ds, err := Start(context.Background(), Options{Listen: "127.0.0.1:0", ConfigServers: []string{f.addr()},
		Logger: slog.New(slog.NewTextHandler(&logs, nil))})
	if err != nil {
		t.Fatalf("Start with a refusing config server: %v", err)
	}
	defer ds.Close()
	waitFor(t, 5*time.Second, "the first heartbeat", func() bool { return f.beatCount() >= 1 })
	time.Sleep(time.Second)
	if n := f.beatCount(); n > 2 {
		t.Fatalf("%d heartbeats in a second while refused: want a slow retry", n)
	}
	want := "node " + ds.Node().ID + " is not part of the cluster: run granary ctl node add " + ds.Node().ID
	if !strings.Contains(logs.String(), want) {
		t.Fatalf("log lacks %q:\n%s", want, logs.String())
	}
	if err := plain(t, ds.Addr()).Set(context.Background(), "k", "v", 0).Err(); err == nil || !strings.HasPrefix(err.Error(), "CLUSTERDOWN") {
		t.Fatalf("SET while refused: %v", err)
	}
	f.set(func(f *fakeConfigServer) {
		f.refuse = false
		f.table = &clusterapi.Table{Epoch: 1, Nodes: []string{ds.Node().ID}, Ranges: []clusterapi.Range{{First: 0, Last: 16383, Replicas: []int{0}}}}
		f.nodes = []clusterapi.Node{{ID: ds.Node().ID, Addr: ds.Addr()}}
	})
	waitFor(t, 5*time.Second, "the table once accepted", func() bool { return ds.Node().Table().Epoch == 1 })
	if err := plain(t, ds.Addr()).Set(context.Background(), "k", "v", 0).Err(); err != nil {
		t.Fatalf("SET once accepted: %v", err)
	}
}

// syncBuffer is a bytes.Buffer safe for a logger and a test at once.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}
