package configserver

import (
	"bytes"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"reflect"
	"slices"
	"testing"
	"time"

	"granary/internal/clusterapi"
	"granary/internal/routing"
)

// ---- helpers: tables by node id ----

func routingOf(t *testing.T, tb *clusterapi.Table) *routing.Table {
	t.Helper()
	rt, err := clusterapi.ToRouting(tb, nil)
	if err != nil {
		t.Fatal(err)
	}
	return rt
}

// ids returns bucket b's replicas as node ids, primary first.
func ids(rt *routing.Table, b int) []string { return nodeIDs(rt, rt.Replicas[b]) }

func without(list []string, id string) []string {
	return slices.DeleteFunc(slices.Clone(list), func(s string) bool { return s == id })
}

// checkTerm checks bucket b's term in next against prev: kept with the
// primary, next's epoch with a new one.
func checkTerm(t *testing.T, prev, next *routing.Table, b int) {
	t.Helper()
	p, n := ids(prev, b), ids(next, b)
	switch {
	case len(n) == 0:
	case len(p) > 0 && p[0] == n[0]:
		if next.Terms[b] != prev.Terms[b] || next.Terms[b] == 0 {
			t.Fatalf("bucket %d: primary %s kept, term %d → %d", b, n[0], prev.Terms[b], next.Terms[b])
		}
	default:
		if next.Terms[b] != next.Epoch {
			t.Fatalf("bucket %d: new primary %s (was %v) has term %d, want the epoch %d", b, n[0], p, next.Terms[b], next.Epoch)
		}
	}
}

// checkDropped checks that next is prev with node gone taken out of every
// bucket that has another replica (only of the buckets primary leads, when
// primary is set), the others' order kept, and terms stamped. With
// mayReturn, gone may already be back as the last secondary.
func checkDropped(t *testing.T, prev, next *routing.Table, gone, primary string, mayReturn bool) {
	t.Helper()
	dropped, promoted := 0, 0
	for b := range routing.Buckets {
		p := ids(prev, b)
		want := p
		if len(p) > 1 && slices.Contains(p, gone) && (primary == "" || p[0] == primary) {
			want = without(p, gone)
			dropped++
			if p[0] == gone {
				promoted++
			}
		}
		got := ids(next, b)
		if mayReturn && len(want) < len(p) && slices.Equal(got, append(slices.Clone(want), gone)) {
			got = want
		}
		if !slices.Equal(got, want) {
			t.Fatalf("bucket %d: replicas %v, want %v (before %v)", b, got, want, p)
		}
		checkTerm(t, prev, next, b)
	}
	if dropped == 0 {
		t.Fatalf("node %s left no bucket", gone)
	}
	t.Logf("node %s left %d buckets, %d of them led by it", gone, dropped, promoted)
}

// checkRestored checks that back holds every bucket on orig's replicas,
// with node gone, where it was, as the last secondary behind the others in
// orig's order; terms move on exactly where gone led.
func checkRestored(t *testing.T, orig, back *routing.Table, gone string) {
	t.Helper()
	for b := range routing.Buckets {
		o := ids(orig, b)
		want := o
		if slices.Contains(o, gone) {
			want = append(without(o, gone), gone)
		}
		if got := ids(back, b); !slices.Equal(got, want) {
			t.Fatalf("bucket %d: replicas %v, want %v (originally %v)", b, got, want, o)
		}
		if (back.Terms[b] == orig.Terms[b]) != (o[0] != gone) {
			t.Fatalf("bucket %d (originally %v): term %d → %d", b, o, orig.Terms[b], back.Terms[b])
		}
	}
}

// checkPrimariesKept checks a rebuild: every bucket whose primary stays a
// replica keeps it, with its term.
func checkPrimariesKept(t *testing.T, cur, next *routing.Table) {
	t.Helper()
	for b := range routing.Buckets {
		c, n := ids(cur, b), ids(next, b)
		if len(c) > 0 && slices.Contains(n, c[0]) && n[0] != c[0] {
			t.Fatalf("bucket %d: primary %s is still a replica but %s leads (%v → %v)", b, c[0], n[0], c, n)
		}
		checkTerm(t, cur, next, b)
	}
}

// fullCopies reports whether every bucket has copies distinct replicas.
func fullCopies(rt *routing.Table, copies int) bool {
	for _, r := range rt.Replicas {
		if len(r) != copies || len(slices.Compact(slices.Sorted(slices.Values(r)))) != copies {
			return false
		}
	}
	return true
}

// startFakes adds n fake nodes (zones from zone, "" for none), starts them
// heartbeating every every, and waits until each has its Boot echoed and
// holds the first table.
func startFakes(t *testing.T, cl *clusterapi.Client, addr string, n int, every time.Duration, zone func(int) string) []*fakeNode {
	t.Helper()
	ctx := ctxT(t)
	var fakes []*fakeNode
	for i := range n {
		z := ""
		if zone != nil {
			z = zone(i)
		}
		if _, err := cl.AddNode(ctx, clusterapi.NodeAdd{ID: nodeID(i), Zone: z}); err != nil {
			t.Fatal(err)
		}
		fakes = append(fakes, newFakeNode(i, []string{addr}))
	}
	t.Cleanup(func() {
		for _, f := range fakes {
			f.stop()
		}
	})
	for _, f := range fakes {
		f.start(every)
	}
	eventually(t, 10*time.Second, "every node acked and holding the first table", func() bool {
		for _, f := range fakes {
			if e, _, _ := f.snapshot(); e == 0 || !f.acked() {
				return false
			}
		}
		return true
	})
	return fakes
}

func currentTable(t *testing.T, cl *clusterapi.Client) *routing.Table {
	t.Helper()
	tb, err := cl.Table(ctxT(t))
	if err != nil {
		t.Fatal(err)
	}
	return routingOf(t, tb)
}

// ---- the state machine ----

// TestFSMFailover applies the failure entries to a hand-made table: down,
// a restart (new Boot), an unreachable report, a restore; terms and former
// holders follow, and a snapshot keeps them.
func TestFSMFailover(t *testing.T) {
	f := newFSM(slog.New(slog.NewTextHandler(io.Discard, nil)), nil)
	idx := uint64(0)
	must := func(e entry) {
		t.Helper()
		idx++
		if err := applyEntry(t, f, idx, e); err != nil {
			t.Fatalf("%s: %v", e.Type, err)
		}
	}
	a, b, c := nodeID(0), nodeID(1), nodeID(2)
	must(entry{Type: opSettings, Settings: &clusterapi.Settings{Copies: 2, MinNodes: 1}})
	for i, id := range []string{a, b, c} {
		must(entry{Type: opNodeAdd, Node: &clusterapi.Node{ID: id}})
		must(entry{Type: opNodeUp, Node: &clusterapi.Node{ID: id, Addr: "10.0.0.1:" + itoa(7001+i), Boot: "boot-" + id[36:]}})
	}
	// Buckets 0-99 [a b], 100-199 [b a], 200-299 [c a], 300-399 [a] (a
	// alone), the rest [b c].
	tb := clusterapi.Table{Epoch: 1, Nodes: []string{a, b, c}, Ranges: []clusterapi.Range{
		{First: 0, Last: 99, Replicas: []int{0, 1}},
		{First: 100, Last: 199, Replicas: []int{1, 0}},
		{First: 200, Last: 299, Replicas: []int{2, 0}},
		{First: 300, Last: 399, Replicas: []int{0}},
		{First: 400, Last: routing.Buckets - 1, Replicas: []int{1, 2}},
	}}
	must(entry{Type: opTable, Table: &tb, PrevEpoch: 0})
	t1 := f.rt
	if t1.Terms[0] != 1 || t1.Terms[500] != 1 {
		t.Fatalf("first table: terms %d %d, want 1", t1.Terms[0], t1.Terms[500])
	}

	// a is down: it leaves 0-299, b leads 0-99 with term 2; it stays in 300-399.
	must(entry{Type: opNodeDown, ID: a})
	t2 := f.rt
	if t2.Epoch != 2 || !t2.Nodes[0].Fail {
		t.Fatalf("after down: epoch %d, a failed %v", t2.Epoch, t2.Nodes[0].Fail)
	}
	checkDropped(t, t1, t2, a, "", false)
	if got := ids(t2, 350); !slices.Equal(got, []string{a}) {
		t.Fatalf("the only replica left its bucket: %v", got)
	}
	if t2.Terms[50] != 2 || t2.Terms[150] != 1 || t2.Terms[350] != 1 {
		t.Fatalf("terms after down: %d %d %d", t2.Terms[50], t2.Terms[150], t2.Terms[350])
	}
	if fa := f.formerOf(a); fa.count() != 300 || !fa.has(0) || !fa.has(299) || fa.has(300) {
		t.Fatalf("a's former buckets: %d", fa.count())
	}

	// a comes back with a new process: up, Boot recorded; nothing more to
	// leave (300-399 it holds alone).
	must(entry{Type: opNodeUp, Node: &clusterapi.Node{ID: a, Addr: "10.0.0.1:7001", Boot: "boot-a2"}})
	if n, _ := f.node(a); n.Boot != "boot-a2" || n.State != clusterapi.NodeUp {
		t.Fatalf("a after its restart: %+v", n)
	}
	t3 := f.rt
	if t3.Epoch != 3 || ids(t3, 350)[0] != a || len(ids(t3, 50)) != 1 {
		t.Fatalf("after a's restart: epoch %d, 350 %v, 50 %v", t3.Epoch, ids(t3, 350), ids(t3, 50))
	}

	// The restore gives a back 0-99 (as a secondary); 100-199 go to c: both
	// full, a's former set empties.
	rt := *t3
	rt.Epoch = 4
	for x := range 100 {
		rt.Replicas[x] = []int{1, 0}
		rt.Replicas[100+x] = []int{1, 2}
	}
	tb4 := clusterapi.FromRouting(&rt)
	must(entry{Type: opTable, Table: &tb4, PrevEpoch: 3})
	t4 := f.rt
	if f.formerOf(a).count() != 100 || !f.formerOf(a).has(200) { // 200-299 are still short
		t.Fatalf("a's former buckets after the restore: %d", f.formerOf(a).count())
	}
	if t4.Terms[50] != 2 || t4.Terms[150] != 1 {
		t.Fatalf("a restore changed terms: %d %d", t4.Terms[50], t4.Terms[150])
	}

	// b reports c unreachable: c leaves the buckets b leads (100-199 and
	// 400-), not 200-299, which c leads. A stale report is refused.
	idx++
	err := applyEntry(t, f, idx, entry{Type: opUnreachable, ID: b, Boot: "stale", Peers: []string{c}})
	var ae *apiError
	if !errors.As(err, &ae) || ae.Code != http.StatusConflict {
		t.Fatalf("a report from a stale boot: %v", err)
	}
	must(entry{Type: opUnreachable, ID: b, Boot: "boot-" + b[36:], Peers: []string{c, b, nodeID(9)}})
	t5 := f.rt
	checkDropped(t, t4, t5, c, b, false)
	if got := ids(t5, 250); !slices.Equal(got, []string{c}) {
		t.Fatalf("bucket 250 (led by c, a down before): %v", got)
	}
	if f.formerOf(c).count() != routing.Buckets-300 {
		t.Fatalf("c's former buckets: %d", f.formerOf(c).count())
	}

	// A snapshot keeps boots, terms and former holders.
	g := restored(t, f)
	if !reflect.DeepEqual(g.state(), f.state()) || g.rt.Terms != f.rt.Terms {
		t.Fatal("restored state differs")
	}
	if !reflect.DeepEqual(g.formerAll(), f.formerAll()) {
		t.Fatal("restored former holders differ")
	}
	if n, _ := g.node(a); n.Boot != "boot-a2" {
		t.Fatalf("restored boot %q", n.Boot)
	}
	// Removing a node forgets its former buckets.
	rt6 := &routing.Table{Epoch: 6, Nodes: t5.Nodes[:2]}
	for x := range routing.Buckets {
		for _, y := range t5.Replicas[x] {
			if y != 2 {
				rt6.Replicas[x] = append(rt6.Replicas[x], y)
			}
		}
		if len(rt6.Replicas[x]) == 0 {
			rt6.Replicas[x] = []int{0}
		}
	}
	tb6 := clusterapi.FromRouting(rt6)
	must(entry{Type: opNodeRemove, ID: c, Table: &tb6, PrevEpoch: 5})
	if f.formerOf(c) != nil {
		t.Fatal("a removed node's former buckets were kept")
	}
	if f.rt.Terms[250] != 6 || f.rt.Terms[150] != t5.Terms[150] {
		t.Fatalf("terms after the removal: %d %d", f.rt.Terms[250], f.rt.Terms[150])
	}
}

// ---- the leader ----

// TestBootEcho: a node with a new process is taken out of every bucket
// another replica holds before the reply echoes its Boot, and that reply
// carries the table whatever the request's epoch; as a former holder it is
// a secondary of its buckets again at once. Where it is the only replica it
// stays.
func TestBootEcho(t *testing.T) {
	s := startSingle(t, func(o *Options) {
		o.MinNodes = 3
		o.HeartbeatInterval = 100 * time.Millisecond
		o.DownTimeout = 600 * time.Millisecond
	})
	ctx := ctxT(t)
	cl := clusterapi.NewClient([]string{s.HTTPAddr()})
	fakes := startFakes(t, cl, s.HTTPAddr(), 3, 50*time.Millisecond, nil)
	orig := currentTable(t, cl)

	// Node 0's process restarts: its first heartbeat reports the table's
	// current epoch, yet the reply carries the table.
	fakes[0].stop()
	boot := newBoot()
	req := &clusterapi.HeartbeatRequest{NodeID: nodeID(0), Addr: fakes[0].addr, Boot: boot, Epoch: orig.Epoch}
	hb, err := cl.Heartbeat(ctx, req)
	if err != nil {
		t.Fatal(err)
	}
	if hb.Boot != boot || hb.Table == nil || len(hb.Nodes) != 3 {
		t.Fatalf("reply to a new boot: boot %q table %v nodes %d", hb.Boot, hb.Table != nil, len(hb.Nodes))
	}
	if n, _ := s.fsm.node(nodeID(0)); n.Boot != boot {
		t.Fatalf("echoed boot %q, recorded %q", hb.Boot, n.Boot)
	}
	checkDropped(t, orig, routingOf(t, hb.Table), nodeID(0), "", true)
	// Once echoed, the next reply at the current epoch carries no table.
	req.Epoch = hb.Table.Epoch
	if hb2, err := cl.Heartbeat(ctx, req); err != nil || hb2.Boot != boot {
		t.Fatalf("second heartbeat: %+v, %v", hb2, err)
	} else if hb2.Table != nil && hb2.Table.Epoch == req.Epoch {
		t.Fatal("a reply at the node's epoch carried the table again")
	}
	// Tables everywhere carry the terms: the API, the reply, the RESP front.
	fakes[0].restart()
	fakes[0].start(50 * time.Millisecond)
	var back *routing.Table
	eventually(t, 5*time.Second, "node 0 a secondary of its buckets again", func() bool {
		back = currentTable(t, cl)
		return fullCopies(back, 2)
	})
	checkRestored(t, orig, back, nodeID(0))
	if rv := s.node.Table(); rv.Epoch == back.Epoch && rv.Terms != back.Terms {
		t.Fatal("the RESP front's table has other terms than the API's")
	}

	// Only replicas stay: node 1 goes down, leaving node 2 and node 0 alone
	// in buckets; node 2 restarts and keeps every bucket it holds alone.
	fakes[1].stop()
	eventually(t, 5*time.Second, "node 1 down", func() bool { return nodeState(t, cl, nodeID(1)) == clusterapi.NodeDown })
	alone := currentTable(t, cl)
	soleOf2 := 0
	for b := range routing.Buckets {
		if r := ids(alone, b); len(r) == 1 && r[0] == nodeID(2) {
			soleOf2++
		}
	}
	if soleOf2 == 0 {
		t.Fatal("node 2 is the only replica of no bucket")
	}
	fakes[2].stop()
	fakes[2].restart()
	if _, err := fakes[2].beat(ctx); err != nil || !fakes[2].acked() {
		t.Fatalf("restarted node 2: acked %v, %v", fakes[2].acked(), err)
	}
	after := currentTable(t, cl)
	kept := 0
	for b := range routing.Buckets {
		before, now := ids(alone, b), ids(after, b)
		if slices.Equal(before, []string{nodeID(2)}) {
			if !slices.Equal(now, before) || after.Terms[b] != alone.Terms[b] {
				t.Fatalf("bucket %d, node 2's alone: %v term %d → %v term %d", b, before, alone.Terms[b], now, after.Terms[b])
			}
			kept++
		} else if len(before) > 1 && slices.Contains(before, nodeID(2)) && (now[0] == nodeID(2) || len(now) > len(before)) {
			t.Fatalf("bucket %d: %v → %v: the restarted node 2 still leads or holds it", b, before, now)
		}
	}
	t.Logf("node 2 kept the %d buckets it is the only replica of", kept)
}

// TestBootEchoNeedsCommit: without a quorum the new Boot cannot commit, and
// no reply echoes it; with a quorum back, one does.
func TestBootEchoNeedsCommit(t *testing.T) {
	servers, opts := startGroup(t, 3, func(o *Options) { o.AutoAdd = true })
	ctx := ctxT(t)
	var addrs []string
	for _, s := range servers {
		addrs = append(addrs, s.HTTPAddr())
	}
	cl := clusterapi.NewClient(addrs)
	req := &clusterapi.HeartbeatRequest{NodeID: nodeID(1), Addr: "127.0.0.1:17001", Boot: "first"}
	if hb, err := cl.Heartbeat(ctx, req); err != nil || hb.Boot != "first" {
		t.Fatalf("first boot: %+v, %v", hb, err)
	}
	leader := leaderOf(servers)
	var down []int
	for i, s := range servers {
		if s != leader {
			s.shutdown(false)
			down = append(down, i)
		}
	}
	eventually(t, 10*time.Second, "the leader stepping down", func() bool { return !leader.IsLeader() })
	req.Boot = "second"
	hb, err := clusterapi.NewClient([]string{leader.HTTPAddr()}).Heartbeat(ctx, req)
	if err == nil || (hb != nil && hb.Boot != "") {
		t.Fatalf("heartbeat without a quorum: %+v, %v", hb, err)
	}
	if n, _ := leader.fsm.node(nodeID(1)); n.Boot != "first" {
		t.Fatalf("recorded boot %q without a quorum", n.Boot)
	}
	o := opts[down[0]]
	o.Peers = nil
	servers[down[0]] = startWith(t, o)
	cl = clusterapi.NewClient([]string{leader.HTTPAddr(), servers[down[0]].HTTPAddr()})
	eventually(t, 15*time.Second, "the second boot echoed", func() bool {
		hb, err := cl.Heartbeat(ctx, req)
		return err == nil && hb.Boot == "second"
	})
	for _, s := range []*Server{leader, servers[down[0]]} {
		eventually(t, 5*time.Second, s.ID()+" recording the second boot", func() bool {
			n, _ := s.fsm.node(nodeID(1))
			return n.Boot == "second"
		})
	}
}

// TestUnreachable: a primary's report takes the peer out of the buckets it
// leads; the peer, still heartbeating, stays up and gets those buckets back
// only after the cooldown. A reported peer that is silent too is down after
// 3 heartbeat intervals, long before the down timeout.
func TestUnreachable(t *testing.T) {
	s := startSingle(t, func(o *Options) {
		o.MinNodes = 3
		o.HeartbeatInterval = 100 * time.Millisecond
		o.DownTimeout = 20 * time.Second
	})
	cl := clusterapi.NewClient([]string{s.HTTPAddr()})
	fakes := startFakes(t, cl, s.HTTPAddr(), 3, 50*time.Millisecond, nil)
	orig := currentTable(t, cl)
	p, sec := nodeID(0), nodeID(1)

	fakes[0].report(sec)
	var cut *routing.Table
	eventually(t, 5*time.Second, "node 1 out of node 0's buckets", func() bool {
		cut = currentTable(t, cl)
		return cut.Epoch > orig.Epoch
	})
	checkDropped(t, orig, cut, sec, p, false)
	fakes[0].report()
	// Within the cooldown (30s) node 1 gets none of them back, although it
	// held them and is up; nor does node 2 (ReplaceAfter, 30s).
	time.Sleep(time.Second)
	if st := nodeState(t, cl, sec); st != clusterapi.NodeUp {
		t.Fatalf("node 1, reported but heartbeating, is %s", st)
	}
	if now := currentTable(t, cl); now.Epoch != cut.Epoch {
		t.Fatalf("the table changed within the cooldown: epoch %d → %d", cut.Epoch, now.Epoch)
	}
	// The cooldown over, node 1 is a secondary of them again.
	s.lmu.Lock()
	if len(s.cooldown) != 1 {
		t.Errorf("cooldowns %v, want (node 0, node 1) alone", s.cooldown)
	}
	for k := range s.cooldown {
		s.cooldown[k] = time.Now()
	}
	s.lmu.Unlock()
	var back *routing.Table
	eventually(t, 5*time.Second, "node 1 back in node 0's buckets", func() bool {
		back = currentTable(t, cl)
		return fullCopies(back, 2)
	})
	for b := range routing.Buckets {
		if o, n := ids(orig, b), ids(back, b); !slices.Equal(o, n) {
			t.Fatalf("bucket %d: %v, originally %v", b, n, o)
		}
	}

	// Node 2 goes silent and node 0 reports it: down at once.
	fakes[2].stop()
	fakes[0].report(nodeID(2))
	start := time.Now()
	eventually(t, 10*time.Second, "node 2 down", func() bool { return nodeState(t, cl, nodeID(2)) == clusterapi.NodeDown })
	t.Logf("reported node down after %v (3 heartbeat intervals: 300ms; down timeout 20s)", time.Since(start).Round(time.Millisecond))
}

// TestReplaceAfter: a down node's buckets get a copy on another node only
// after ReplaceAfter, and zone-safe: nodes 0 and 1 are in zone a, 2 and 3
// in zone b, so node 3's copies go to node 2.
func TestReplaceAfter(t *testing.T) {
	const replaceAfter = 1500 * time.Millisecond
	s := startSingle(t, func(o *Options) {
		o.MinNodes = 4
		o.HeartbeatInterval = 100 * time.Millisecond
		o.DownTimeout = 600 * time.Millisecond
		o.ReplaceAfter = replaceAfter
	})
	cl := clusterapi.NewClient([]string{s.HTTPAddr()})
	zone := func(i int) string { return map[bool]string{true: "a", false: "b"}[i < 2] }
	fakes := startFakes(t, cl, s.HTTPAddr(), 4, 50*time.Millisecond, zone)
	orig := currentTable(t, cl)

	fakes[3].stop()
	var cut *routing.Table
	eventually(t, 5*time.Second, "node 3 down", func() bool {
		cut = currentTable(t, cl)
		return cut.Epoch > orig.Epoch
	})
	downAt := time.Now()
	checkDropped(t, orig, cut, nodeID(3), "", false)
	var back *routing.Table
	eventually(t, 10*time.Second, "copies restored", func() bool {
		back = currentTable(t, cl)
		return back.Epoch > cut.Epoch
	})
	// A lower bound only: the restore cannot come early, however slow the
	// machine (downAt is after the down commit, less the polling).
	if d := time.Since(downAt); d < replaceAfter-200*time.Millisecond {
		t.Fatalf("copies restored %v after the node went down, before ReplaceAfter (%v)", d, replaceAfter)
	}
	if !fullCopies(back, 2) {
		t.Fatal("buckets still short of copies")
	}
	for b := range routing.Buckets {
		c, n := ids(cut, b), ids(back, b)
		if len(c) == 2 {
			if !slices.Equal(c, n) || back.Terms[b] != cut.Terms[b] {
				t.Fatalf("bucket %d, not short, changed: %v → %v", b, c, n)
			}
			continue
		}
		if !slices.Equal(n, append(c, nodeID(2))) || back.Terms[b] != cut.Terms[b] {
			t.Fatalf("bucket %d: %v → %v, want node 2 appended (zone b), term kept", b, c, n)
		}
	}
}

// TestLegacyTermsStamped: a table from before terms (a restored snapshot)
// gets its terms from the leader's next tick.
func TestLegacyTermsStamped(t *testing.T) {
	s := startSingle(t, nil)
	cl := clusterapi.NewClient([]string{s.HTTPAddr()})
	old := `{"nodes":[{"id":"` + nodeID(1) + `","addr":"127.0.0.1:17001","state":"up"}],` +
		`"table":{"epoch":3,"nodes":["` + nodeID(1) + `"],"ranges":[{"first":0,"last":16383,"replicas":[0]}]},` +
		`"settings":{"copies":1,"min_nodes":1}}`
	if err := s.fsm.Restore(io.NopCloser(bytes.NewReader([]byte(old)))); err != nil {
		t.Fatal(err)
	}
	eventually(t, 5*time.Second, "terms stamped", func() bool {
		tb, err := cl.Table(ctxT(t))
		return err == nil && tb.Epoch > 3 && len(tb.Ranges) == 1 && tb.Ranges[0].Term == 4
	})
}
