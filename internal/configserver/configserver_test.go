package configserver

import (
	"bytes"
	"errors"
	"io"
	"net/http"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"granary/internal/clusterapi"
	"granary/internal/routing"

	"github.com/redis/go-redis/v9"
)

func TestSingleServerBootstrapAndRestart(t *testing.T) {
	dir := t.TempDir()
	s := startSingle(t, func(o *Options) { o.Dir = dir })
	if !s.IsLeader() {
		t.Fatal("a one-server group's only member is not the leader")
	}
	if id, addr := s.Leader(); id != "cs1" || addr != s.HTTPAddr() {
		t.Fatalf("Leader() = %q, %q; want cs1, %s", id, addr, s.HTTPAddr())
	}
	ctx := ctxT(t)
	cl := clusterapi.NewClient([]string{s.HTTPAddr()})
	st, err := cl.Status(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if st.ID != "cs1" || st.Leader != "cs1" || st.Term == 0 || st.Epoch != 0 || st.Buckets != routing.Buckets ||
		st.Unassigned != routing.Buckets || st.Copies != 2 {
		t.Fatalf("status = %+v", st)
	}
	eventually(t, 5*time.Second, "own record", func() bool {
		css, err := cl.ConfigServers(ctx)
		return err == nil && len(css) == 1 && css[0] == clusterapi.ConfigServer{
			ID: "cs1", Raft: s.RaftAddr(), HTTP: s.HTTPAddr(), RESP: s.RESPAddr(), Voter: true, Leader: true}
	})

	for path, want := range map[string]string{
		"/healthz": "ok",
		"/metrics": `granary_config_raft_state{state="Leader"} 1`,
	} {
		resp, err := http.Get("http://" + s.HTTPAddr() + path)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 || !strings.Contains(string(body), want) {
			t.Fatalf("GET %s = %d, want %q in:\n%.2000s", path, resp.StatusCode, want, body)
		}
	}

	// State survives a restart, from a snapshot plus the log after it.
	if _, err := cl.CreateNamespace(ctx, clusterapi.Namespace{ID: 1, Name: "one"}); err != nil {
		t.Fatal(err)
	}
	if err := s.raft.Snapshot().Error(); err != nil {
		t.Fatal(err)
	}
	if _, err := cl.CreateNamespace(ctx, clusterapi.Namespace{ID: 2, Name: "two"}); err != nil {
		t.Fatal(err)
	}
	if _, err := cl.AddNode(ctx, clusterapi.NodeAdd{ID: nodeID(1), Zone: "z1"}); err != nil {
		t.Fatal(err)
	}
	before, _ := cl.State(ctx)
	raftAddr := s.RaftAddr()
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s2 := startSingle(t, func(o *Options) { o.Dir = dir; o.Raft = raftAddr; o.Peers = nil })
	cl2 := clusterapi.NewClient([]string{s2.HTTPAddr()})
	after, err := cl2.State(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(before.Namespaces, after.Namespaces) || before.NSVersion != after.NSVersion ||
		!reflect.DeepEqual(before.Nodes, after.Nodes) || before.Settings != after.Settings {
		t.Fatalf("state changed over a restart:\nbefore %+v\nafter  %+v", before, after)
	}
}

func TestNamespaces(t *testing.T) {
	s := startSingle(t, nil)
	ctx := ctxT(t)
	cl := clusterapi.NewClient([]string{s.HTTPAddr()})

	ns, err := cl.CreateNamespace(ctx, clusterapi.Namespace{ID: 7, Name: "sessions", Quota: 1 << 20})
	if err != nil {
		t.Fatal(err)
	}
	if *ns != (clusterapi.Namespace{ID: 7, Name: "sessions", Engine: "mem", Quota: 1 << 20, Ack: "sync"}) {
		t.Fatalf("created %+v", ns)
	}
	bad := []struct {
		ns   clusterapi.Namespace
		code int
		msg  string
	}{
		{clusterapi.Namespace{ID: 7, Name: "other"}, 409, "already exists"},
		{clusterapi.Namespace{ID: 8, Name: "sessions"}, 409, "taken"},
		{clusterapi.Namespace{ID: 8, Name: ""}, 400, "name"},
		{clusterapi.Namespace{ID: 8, Name: "bad name"}, 400, "name"},
		{clusterapi.Namespace{ID: 8, Name: "d", Engine: "rocks"}, 400, "unknown engine"},
		{clusterapi.Namespace{ID: 8, Name: "d", Ack: "maybe"}, 400, "ack"},
		{clusterapi.Namespace{ID: 8, Name: "d", Quota: -1}, 400, "quota"},
		{clusterapi.Namespace{ID: 8, Name: "d", MaxOps: -1}, 400, "max_ops"},
		{clusterapi.Namespace{ID: 8, Name: "d", MaxBytes: -1}, 400, "max_bytes"},
	}
	for _, b := range bad {
		_, err := cl.CreateNamespace(ctx, b.ns)
		var se *clusterapi.StatusError
		if !errors.As(err, &se) || se.Code != b.code || !strings.Contains(se.Msg, b.msg) {
			t.Errorf("create %+v: %v; want %d %q", b.ns, err, b.code, b.msg)
		}
	}
	if _, err := cl.CreateNamespace(ctx, clusterapi.Namespace{ID: 0, Name: "default", Ack: "sync", MaxOps: 1000}); err != nil {
		t.Fatal(err)
	}
	up, err := cl.UpdateNamespace(ctx, clusterapi.Namespace{ID: 7, Name: "sessions2", Quota: 2 << 20, Ack: "sync"})
	if err != nil {
		t.Fatal(err)
	}
	if *up != (clusterapi.Namespace{ID: 7, Name: "sessions2", Engine: "mem", Quota: 2 << 20, Ack: "sync"}) {
		t.Fatalf("updated %+v", up)
	}
	for _, b := range []struct {
		ns   clusterapi.Namespace
		code int
	}{
		{clusterapi.Namespace{ID: 9, Name: "x"}, 404},
		{clusterapi.Namespace{ID: 7, Name: "default"}, 409},
		{clusterapi.Namespace{ID: 7, Name: "sessions2", Engine: "disk"}, 400},
	} {
		var se *clusterapi.StatusError
		if _, err := cl.UpdateNamespace(ctx, b.ns); !errors.As(err, &se) || se.Code != b.code {
			t.Errorf("update %+v: %v; want %d", b.ns, err, b.code)
		}
	}
	list, err := cl.Namespaces(ctx)
	if err != nil || len(list) != 2 || list[0].Name != "default" || list[1].Name != "sessions2" {
		t.Fatalf("list = %+v, %v", list, err)
	}

	// Heartbeats carry the namespaces when the node's version is older.
	if _, err := cl.AddNode(ctx, clusterapi.NodeAdd{ID: nodeID(1)}); err != nil {
		t.Fatal(err)
	}
	hb, err := cl.Heartbeat(ctx, &clusterapi.HeartbeatRequest{NodeID: nodeID(1), Addr: "127.0.0.1:17001"})
	if err != nil || hb.NSVersion != 3 || len(hb.Namespaces) != 2 {
		t.Fatalf("heartbeat: %+v, %v", hb, err)
	}
	hb, err = cl.Heartbeat(ctx, &clusterapi.HeartbeatRequest{NodeID: nodeID(1), Addr: "127.0.0.1:17001", NSVersion: 3})
	if err != nil || hb.NSVersion != 3 || hb.Namespaces != nil {
		t.Fatalf("heartbeat at the current version: %+v, %v", hb, err)
	}

	if err := cl.DeleteNamespace(ctx, 7); err != nil {
		t.Fatal(err)
	}
	var se *clusterapi.StatusError
	if err := cl.DeleteNamespace(ctx, 7); !errors.As(err, &se) || se.Code != 404 {
		t.Fatalf("second delete: %v", err)
	}
	st, _ := cl.State(ctx)
	if len(st.Namespaces) != 1 || st.NSVersion != 4 {
		t.Fatalf("after delete: %+v version %d", st.Namespaces, st.NSVersion)
	}
}

func TestNodesAndHeartbeats(t *testing.T) {
	s := startSingle(t, nil)
	ctx := ctxT(t)
	cl := clusterapi.NewClient([]string{s.HTTPAddr()})

	req := &clusterapi.HeartbeatRequest{NodeID: nodeID(1), Addr: "127.0.0.1:17001", Internal: "127.0.0.1:27001", HTTP: "127.0.0.1:18001"}
	if _, err := cl.Heartbeat(ctx, req); !errors.Is(err, clusterapi.ErrNotAdded) {
		t.Fatalf("heartbeat of an unknown node: %v, want ErrNotAdded", err)
	}
	var se *clusterapi.StatusError
	if _, err := cl.AddNode(ctx, clusterapi.NodeAdd{ID: "node-1"}); !errors.As(err, &se) || se.Code != 400 {
		t.Fatalf("add with a bad id: %v", err)
	}
	n, err := cl.AddNode(ctx, clusterapi.NodeAdd{ID: nodeID(1), Zone: "a"})
	if err != nil || n.State != clusterapi.NodeAdded || n.Zone != "a" {
		t.Fatalf("add: %+v, %v", n, err)
	}
	if _, err := cl.AddNode(ctx, clusterapi.NodeAdd{ID: nodeID(1)}); !errors.As(err, &se) || se.Code != 409 {
		t.Fatalf("second add: %v", err)
	}
	if _, err := cl.Heartbeat(ctx, &clusterapi.HeartbeatRequest{NodeID: nodeID(1), Addr: "nonsense"}); !errors.As(err, &se) || se.Code != 400 {
		t.Fatalf("heartbeat with a bad address: %v", err)
	}
	hb, err := cl.Heartbeat(ctx, req)
	if err != nil {
		t.Fatal(err)
	}
	if hb.Leader != s.HTTPAddr() || hb.Interval != 250*time.Millisecond {
		t.Fatalf("heartbeat reply %+v", hb)
	}
	nodes, _ := cl.Nodes(ctx)
	if len(nodes) != 1 || nodes[0].State != clusterapi.NodeUp || nodes[0].Addr != req.Addr || nodes[0].Internal != req.Internal ||
		nodes[0].HTTP != req.HTTP || nodes[0].Zone != "a" || nodes[0].LastSeen.IsZero() {
		t.Fatalf("nodes = %+v", nodes)
	}
	// MinNodes 1: the first table follows, and the next heartbeat carries it.
	var tb *clusterapi.Table
	eventually(t, 5*time.Second, "the first table", func() bool {
		hb, err := cl.Heartbeat(ctx, req)
		if err == nil && hb.Table != nil {
			tb = hb.Table
			if len(hb.Nodes) != 1 || hb.Nodes[0].Addr != req.Addr {
				t.Fatalf("table nodes = %+v", hb.Nodes)
			}
		}
		return tb != nil
	})
	if tb.Epoch != 1 || !slices.Equal(tb.Nodes, []string{nodeID(1)}) || len(tb.Ranges) == 0 {
		t.Fatalf("first table %+v", tb)
	}
	req.Epoch = tb.Epoch
	if hb, err := cl.Heartbeat(ctx, req); err != nil || hb.Table != nil {
		t.Fatalf("heartbeat at the current epoch: %+v, %v", hb, err)
	}
	// A node at a new address: the table's epoch moves so others learn it.
	req.Addr = "127.0.0.1:17101"
	hb, err = cl.Heartbeat(ctx, req)
	if err != nil || hb.Table == nil || hb.Table.Epoch != 2 || hb.Nodes[0].Addr != req.Addr {
		t.Fatalf("heartbeat from a new address: %+v, %v", hb, err)
	}
	// A node that listens on every interface is given its source address.
	req.Addr, req.Epoch = "0.0.0.0:17101", 2
	if _, err := cl.Heartbeat(ctx, req); err != nil {
		t.Fatal(err)
	}
	if nodes, _ := cl.Nodes(ctx); nodes[0].Addr != "127.0.0.1:17101" {
		t.Fatalf("wildcard address recorded as %q", nodes[0].Addr)
	}

	// Removing the only node rebuilds the table without it.
	if err := cl.RemoveNode(ctx, nodeID(1), true); err != nil {
		t.Fatal(err)
	}
	st, _ := cl.Status(ctx)
	if st.Epoch != 3 || st.Unassigned != routing.Buckets || st.Nodes["up"] != 0 {
		t.Fatalf("status after removal: %+v", st)
	}
	if err := cl.RemoveNode(ctx, nodeID(1), true); !errors.As(err, &se) || se.Code != 404 {
		t.Fatalf("second removal: %v", err)
	}
	if _, err := cl.Heartbeat(ctx, req); !errors.Is(err, clusterapi.ErrNotAdded) {
		t.Fatalf("heartbeat of a removed node: %v", err)
	}
	if _, err := cl.Rebuild(ctx); !errors.As(err, &se) || se.Code != 409 {
		t.Fatalf("rebuild with no node up: %v", err)
	}
}

// A heartbeat carries a report per copy of each bucket its node moves: a
// move of every bucket at once runs past 1 MiB, the limit of the other
// requests, which once made such a node's heartbeats fail until it was
// marked down.
func TestHeartbeatBodyLimit(t *testing.T) {
	s := startSingle(t, func(o *Options) { o.AutoAdd = true })
	ctx := ctxT(t)
	cl := clusterapi.NewClient([]string{s.HTTPAddr()})
	req := &clusterapi.HeartbeatRequest{NodeID: nodeID(1), Addr: "127.0.0.1:17001"}
	for b := range routing.Buckets {
		req.Moves = append(req.Moves, clusterapi.MoveReport{Bucket: b, Node: nodeID(2), Caught: true, Frozen: true, Lag: 123456})
	}
	if _, err := cl.Heartbeat(ctx, req); err != nil {
		t.Fatalf("heartbeat with %d move reports: %v", len(req.Moves), err)
	}
	resp, err := http.Post("http://"+s.HTTPAddr()+"/v1/heartbeat", "application/json", bytes.NewReader(make([]byte, maxHeartbeatBody+1)))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusRequestEntityTooLarge {
		t.Fatalf("heartbeat over %d bytes: status %d, want 413", maxHeartbeatBody, resp.StatusCode)
	}
}

func TestAutoAdd(t *testing.T) {
	s := startSingle(t, func(o *Options) { o.AutoAdd = true })
	ctx := ctxT(t)
	cl := clusterapi.NewClient([]string{s.HTTPAddr()})
	if _, err := cl.Heartbeat(ctx, &clusterapi.HeartbeatRequest{NodeID: nodeID(5), Addr: "127.0.0.1:17005", Zone: "z"}); err != nil {
		t.Fatal(err)
	}
	nodes, _ := cl.Nodes(ctx)
	if len(nodes) != 1 || nodes[0].ID != nodeID(5) || nodes[0].State != clusterapi.NodeUp || nodes[0].Zone != "z" {
		t.Fatalf("nodes = %+v", nodes)
	}
	var se *clusterapi.StatusError
	if _, err := cl.Heartbeat(ctx, &clusterapi.HeartbeatRequest{NodeID: "short", Addr: "127.0.0.1:1"}); !errors.As(err, &se) || se.Code != 400 {
		t.Fatalf("auto-add with a bad id: %v", err)
	}
}

// TestFirstTableDownUpRebuild: three nodes heartbeat; the first table waits
// for MinNodes; a silent node is marked down and leaves its buckets to their
// other replicas; back, it gets them back as a secondary at once; a rebuild
// keeps primaries, and drops a down node's copies.
func TestFirstTableDownUpRebuild(t *testing.T) {
	s := startSingle(t, func(o *Options) {
		o.MinNodes = 3
		o.HeartbeatInterval = 50 * time.Millisecond
		o.DownTimeout = 400 * time.Millisecond
	})
	ctx := ctxT(t)
	cl := clusterapi.NewClient([]string{s.HTTPAddr()})
	var fakes []*fakeNode
	for i := range 3 {
		if _, err := cl.AddNode(ctx, clusterapi.NodeAdd{ID: nodeID(i)}); err != nil {
			t.Fatal(err)
		}
		fakes = append(fakes, newFakeNode(i, []string{s.HTTPAddr()}))
	}
	defer func() {
		for _, f := range fakes {
			f.stop()
		}
	}()
	fakes[0].start(50 * time.Millisecond)
	fakes[1].start(50 * time.Millisecond)
	eventually(t, 5*time.Second, "two nodes up", func() bool {
		st, err := cl.Status(ctx)
		return err == nil && st.Nodes["up"] == 2
	})
	time.Sleep(200 * time.Millisecond)
	if st, _ := cl.Status(ctx); st.Epoch != 0 {
		t.Fatalf("a table was built with 2 of MinNodes=3 nodes: %+v", st)
	}
	fakes[2].start(50 * time.Millisecond)
	eventually(t, 5*time.Second, "every node holding the first table", func() bool {
		for _, f := range fakes {
			if e, _, _ := f.snapshot(); e != 1 {
				return false
			}
		}
		return true
	})
	tb, err := cl.Table(ctx)
	if err != nil {
		t.Fatal(err)
	}
	checkBalanced(t, tb, 3, 2)

	// Node 2 goes silent: down. It leaves every bucket (each has another
	// replica); where it led, its secondary leads, with a new term.
	fakes[2].stop()
	start := time.Now()
	eventually(t, 5*time.Second, "node 2 down", func() bool { return nodeState(t, cl, nodeID(2)) == clusterapi.NodeDown })
	t.Logf("node marked down %v after its last heartbeat (down timeout 400ms)", time.Since(start).Round(time.Millisecond))
	tb2, _ := cl.Table(ctx)
	if tb2.Epoch != tb.Epoch+1 {
		t.Fatalf("a node went down: epoch %d → %d", tb.Epoch, tb2.Epoch)
	}
	checkDropped(t, routingOf(t, tb), routingOf(t, tb2), nodeID(2), "", false)
	// Clients asking the config server see the node failed; its buckets
	// are served by the others.
	rc := redis.NewClient(&redis.Options{Addr: s.RESPAddr()})
	defer rc.Close()
	failLine := func() (string, string) {
		nodes, _ := rc.ClusterNodes(ctx).Result()
		info, _ := rc.ClusterInfo(ctx).Result()
		for _, l := range strings.Split(nodes, "\n") {
			if strings.HasPrefix(l, nodeID(2)) {
				return l, info
			}
		}
		return "", info
	}
	eventually(t, 5*time.Second, "node 2 reported failed", func() bool {
		l, info := failLine()
		return strings.Contains(l, "master,fail") && strings.Contains(l, "disconnected") && strings.Contains(info, "cluster_state:ok")
	})
	// Back with the same id and process: up, and at once (well before
	// ReplaceAfter, 30s) a secondary again of every bucket it held.
	fakes[2].start(50 * time.Millisecond)
	eventually(t, 5*time.Second, "node 2 up", func() bool { return nodeState(t, cl, nodeID(2)) == clusterapi.NodeUp })
	var back *clusterapi.Table
	eventually(t, 5*time.Second, "node 2 holding its buckets again", func() bool {
		back, _ = cl.Table(ctx)
		return back != nil && fullCopies(routingOf(t, back), 2)
	})
	checkRestored(t, routingOf(t, tb), routingOf(t, back), nodeID(2))
	eventually(t, 5*time.Second, "node 2 reported healthy", func() bool {
		l, info := failLine()
		return strings.Contains(l, " connected") && !strings.Contains(l, "fail") && strings.Contains(info, "cluster_state:ok")
	})
	// A rebuild keeps every primary: node 2 leads nothing now, and the
	// builder's role swaps to give it primaries are undone.
	rb, err := cl.Rebuild(ctx)
	if err != nil {
		t.Fatal(err)
	}
	checkPrimariesKept(t, routingOf(t, back), routingOf(t, rb))

	// Down again, then a rebuild gives its copies to the others.
	fakes[2].stop()
	eventually(t, 5*time.Second, "node 2 down again", func() bool { return nodeState(t, cl, nodeID(2)) == clusterapi.NodeDown })
	down, _ := cl.Table(ctx)
	tb3, err := cl.Rebuild(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if tb3.Epoch != down.Epoch+1 || slices.Contains(tb3.Nodes, nodeID(2)) {
		t.Fatalf("rebuilt table: epoch %d (down at %d) nodes %v", tb3.Epoch, down.Epoch, tb3.Nodes)
	}
	if !fullCopies(routingOf(t, tb3), 2) {
		t.Fatal("the rebuild left buckets short of copies")
	}
	checkPrimariesKept(t, routingOf(t, down), routingOf(t, tb3))
	// The node is no longer in the table: removing it does not touch it.
	if err := cl.RemoveNode(ctx, nodeID(2), true); err != nil {
		t.Fatal(err)
	}
	if tb4, _ := cl.Table(ctx); tb4.Epoch != tb3.Epoch {
		t.Fatalf("removing a node outside the table changed it: epoch %d → %d", tb3.Epoch, tb4.Epoch)
	}
}

// checkBalanced checks that every bucket has min(copies, n) distinct
// replicas on the table's n nodes, balanced in primaries and copies.
func checkBalanced(t *testing.T, tb *clusterapi.Table, n, copies int) {
	t.Helper()
	if len(tb.Nodes) != n {
		t.Fatalf("table lists %d nodes, want %d", len(tb.Nodes), n)
	}
	rt, err := clusterapi.ToRouting(tb, nil)
	if err != nil {
		t.Fatal(err)
	}
	r := min(copies, n)
	prim := make([]int, n)
	cnt := make([]int, n)
	for b, reps := range rt.Replicas {
		if len(reps) != r {
			t.Fatalf("bucket %d has %d replicas, want %d", b, len(reps), r)
		}
		seen := map[int]bool{}
		for _, x := range reps {
			if seen[x] {
				t.Fatalf("bucket %d: replica %d twice", b, x)
			}
			seen[x] = true
			cnt[x]++
		}
		prim[reps[0]]++
	}
	for i := range n {
		if prim[i] < routing.Buckets/n || prim[i] > (routing.Buckets+n-1)/n {
			t.Fatalf("node %d leads %d buckets: not balanced (%v)", i, prim[i], prim)
		}
		if cnt[i] < routing.Buckets*r/n || cnt[i] > (routing.Buckets*r+n-1)/n {
			t.Fatalf("node %d holds %d copies: not balanced (%v)", i, cnt[i], cnt)
		}
	}
	t.Logf("table epoch %d: %d ranges, primaries %v, copies %v", tb.Epoch, len(tb.Ranges), prim, cnt)
}
