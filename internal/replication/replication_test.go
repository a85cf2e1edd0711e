package replication

import (
	"log/slog"
	"maps"
	"net"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"granary/internal/engine"
	"granary/internal/engine/mem"
	"granary/internal/namespace"
	"granary/internal/resp"
	"granary/internal/routing"
)

// node is one replicating server of a test: a Replicator, its namespaces
// and a listener that upgrades GRANARY.REPL connections as a data server's
// RESP port does.
type node struct {
	id   string
	r    *Replicator
	reg  *namespace.Registry
	ln   net.Listener
	mu   sync.Mutex
	conn []net.Conn
}

func newNode(t *testing.T, id string, lease time.Duration) *node {
	t.Helper()
	return newNodeWatched(t, id, lease, nil)
}

// newNodeWatched is newNode with a Watcher.
func newNodeWatched(t *testing.T, id string, lease time.Duration, w Watcher) *node {
	t.Helper()
	n := &node{id: id}
	n.r = New(Options{Self: id, Secret: "s", Lease: lease, SettleTimeout: 2 * time.Second, Watcher: w,
		Logger: slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug})).With("node", id)})
	n.reg = namespace.NewRegistry(func(ns uint16) engine.Engine { return n.r.Wrap(mem.New(mem.Options{}), ns) })
	n.r.SetRegistry(n.reg)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	n.ln = ln
	go n.accept()
	t.Cleanup(func() {
		ln.Close()
		n.cut()
		n.r.Close()
		n.reg.Close()
	})
	return n
}

func (n *node) accept() {
	for {
		nc, err := n.ln.Accept()
		if err != nil {
			return
		}
		n.mu.Lock()
		n.conn = append(n.conn, nc)
		n.mu.Unlock()
		go func() {
			defer nc.Close()
			rd := resp.NewReader(nc, resp.DefaultLimits)
			args, err := rd.ReadCommand()
			if err != nil || len(args) != 3 || string(args[0]) != "GRANARY.REPL" || !n.r.Accept(string(args[1]), string(args[2])) {
				nc.Write([]byte("-NOAUTH\r\n"))
				return
			}
			nc.Write([]byte("+OK\r\n"))
			n.r.Serve(nc, string(args[2]))
		}()
	}
}

// cut closes every link connection the node accepted.
func (n *node) cut() {
	n.mu.Lock()
	defer n.mu.Unlock()
	for _, c := range n.conn {
		c.Close()
	}
	n.conn = nil
}

func (n *node) routing() routing.Node {
	host, port, _ := net.SplitHostPort(n.ln.Addr().String())
	p, _ := strconv.Atoi(port)
	return routing.Node{ID: n.id, Host: host, Port: p}
}

// table returns a table over nodes where every bucket has the replicas
// listed (indexes into nodes), in term.
func table(epoch, term uint64, nodes []*node, reps ...int) *routing.Table {
	t := &routing.Table{Epoch: epoch}
	for _, n := range nodes {
		t.Nodes = append(t.Nodes, n.routing())
	}
	for b := range t.Replicas {
		t.Replicas[b] = reps
		t.Terms[b] = term
	}
	return t
}

func get(t *testing.T, n *node, ns uint16, b uint16, key string) (string, bool) {
	t.Helper()
	it, out, ok := inner(n.reg.Get(ns).Engine).Get(b, []byte(key), time.Now().UnixMilli(), nil)
	_ = it
	return string(out), ok
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// joinSecondary installs, over a leading every bucket alone, the table in
// which b is every bucket's secondary, and waits until b holds them all.
func joinSecondary(t *testing.T, a, b *node) {
	t.Helper()
	two := table(2, 1, []*node{a, b}, 0, 1)
	b.r.Install(two)
	a.r.Install(two)
	waitFor(t, "b holding every bucket", func() bool {
		for x := range routing.Buckets {
			if !b.r.Held(uint16(x)) {
				return false
			}
		}
		return true
	})
}

func set(t *testing.T, n *node, ns, b uint16, key, val string) []Pending {
	t.Helper()
	if _, err := n.reg.Get(ns).Engine.Set(b, []byte(key), engine.Item{Type: engine.TypeString, Value: []byte(val)}, time.Now().UnixMilli()); err != nil {
		t.Fatal(err)
	}
	return n.r.Note(nil, b)
}

func TestCommitWaitsForSecondary(t *testing.T) {
	a, b := newNode(t, "a", time.Second), newNode(t, "b", time.Second)
	tb := table(1, 1, []*node{a, b}, 0, 1)
	b.r.Install(tb)
	sa := a.r.Install(tb)
	if sa.Role[7] != RolePrimary || sa.Gate[7] == nil {
		t.Fatalf("primary role/gate: %v %v", sa.Role[7], sa.Gate[7])
	}
	p := set(t, a, 0, 7, "k", "v1")
	if len(p) != 1 || p[0].LSN != 1 || p[0].Term != 1 {
		t.Fatalf("pending = %+v", p)
	}
	if !a.r.Settle(p, 0) {
		t.Fatal("write not committed")
	}
	if v, ok := get(t, b, 0, 7, "k"); !ok || v != "v1" {
		st := a.r.Stats()
		t.Fatalf("secondary has %q %v (lsn a %d b %d committed %d; catch-ups none %d replay %d snap %d empty %d; applied %d)", v, ok,
			a.r.b[7].lsn.Load(), b.r.b[7].lsn.Load(), a.r.b[7].committed.Load(),
			st.CatchupNone.Load(), st.CatchupReplay.Load(), st.CatchupSnapshot.Load(), st.CatchupEmpty.Load(), b.r.stats.RecordsApplied.Load())
	}
	waitFor(t, "a lease from b", func() bool { return sa.Gate[7].Until.Load() > Mono() })
	if !b.r.Held(7) {
		t.Fatal("secondary not caught up")
	}
	// Delete, a TairString-style update and a bucket drop replicate too.
	e := a.reg.Get(3).Engine
	now := time.Now().UnixMilli()
	e.Set(9, []byte("x"), engine.Item{Type: engine.TypeString, Value: []byte("1"), Expire: now + 60000}, now)
	e.Update(9, []byte("x"), now, func(cur *engine.Item) (engine.Item, engine.Op) {
		n := *cur
		n.Version = 42
		return n, engine.OpPut
	})
	e.Set(9, []byte("y"), engine.Item{Type: engine.TypeString, Value: []byte("2")}, now)
	e.Update(9, []byte("y"), now, func(*engine.Item) (engine.Item, engine.Op) { return engine.Item{}, engine.OpDelete })
	if !a.r.Settle(a.r.Note(nil, 9), 0) {
		t.Fatal("not committed")
	}
	it, out, ok := inner(b.reg.Get(3).Engine).Get(9, []byte("x"), now, nil)
	if !ok || string(out) != "1" || it.Version != 42 || it.Expire != now+60000 {
		t.Fatalf("replica item %+v %q %v", it, out, ok)
	}
	if _, ok := get(t, b, 3, 9, "y"); ok {
		t.Fatal("delete not replicated")
	}
	e.DropBucket(9)
	a.r.Settle(a.r.Note(nil, 9), 0)
	if _, ok := get(t, b, 3, 9, "x"); ok {
		t.Fatal("drop not replicated")
	}
}

func TestCatchUpBySnapshotThenReplay(t *testing.T) {
	a, b := newNode(t, "a", time.Second), newNode(t, "b", time.Second)
	// a alone first: its writes are committed at once.
	solo := table(1, 1, []*node{a}, 0)
	a.r.Install(solo)
	for i := range 100 {
		p := set(t, a, 0, uint16(i), "k"+strconv.Itoa(i), "v")
		if len(p) != 0 {
			t.Fatalf("no secondary, yet pending %+v", p)
		}
	}
	// b joins as secondary: a snapshot for the buckets with data.
	joinSecondary(t, a, b)
	if v, ok := get(t, b, 0, 42, "k42"); !ok || v != "v" {
		t.Fatalf("snapshot missed k42: %q %v", v, ok)
	}
	snaps := a.r.stats.CatchupSnapshot.Load()
	if snaps == 0 {
		t.Fatal("no snapshot counted")
	}
	// Cut the link; writes wait; on reconnect the log replays them.
	b.cut()
	p := set(t, a, 0, 5, "late", "x")
	if !a.r.Settle(p, 0) {
		t.Fatal("write after reconnect not committed")
	}
	if v, ok := get(t, b, 0, 5, "late"); !ok || v != "x" {
		t.Fatalf("replay missed: %q %v", v, ok)
	}
	if a.r.stats.CatchupReplay.Load() == 0 && a.r.stats.CatchupNone.Load() == 0 {
		t.Fatal("reconnect caught up by neither replay nor equality")
	}
	if a.r.stats.CatchupSnapshot.Load() != snaps {
		t.Fatalf("reconnect took snapshots: %d -> %d", snaps, a.r.stats.CatchupSnapshot.Load())
	}
}

func TestFailoverFencesOldPrimary(t *testing.T) {
	lease := 300 * time.Millisecond
	a, b := newNode(t, "a", lease), newNode(t, "b", lease)
	one := table(1, 1, []*node{a, b}, 0, 1)
	b.r.Install(one)
	a.r.Install(one)
	if !a.r.Settle(set(t, a, 0, 1, "k", "v1"), 0) {
		t.Fatal("not committed")
	}
	waitFor(t, "a grant", func() bool {
		b.r.gmu.Lock()
		defer b.r.gmu.Unlock()
		return b.r.grants["a"] > 0
	})
	if v, _ := get(t, b, 0, 1, "k"); v != "v1" {
		t.Fatalf("secondary has %q before the failover", v)
	}
	// b is promoted (term 2); a, deposed, still has the old table.
	two := table(2, 2, []*node{a, b}, 1)
	// Pings stop counting once b holds the new table (a's is older).
	b.r.epoch.Store(two.Epoch)
	lastGrant := func() int64 {
		b.r.gmu.Lock()
		defer b.r.gmu.Unlock()
		return b.r.grants["a"]
	}
	before := lastGrant() // a ping already past the epoch check may still land
	sv := b.r.Install(two)
	after := lastGrant()
	fence := lease.Milliseconds() + b.r.margin()
	if sv.Role[1] != RolePrimary || sv.Gate[1] == nil || sv.Gate[1].From < before+fence || sv.Gate[1].From > after+fence {
		t.Fatalf("new primary not fenced until its last grant (%d..%d) + lease + margin: role %v gate %+v", before, after, sv.Role[1], sv.Gate[1])
	}
	// A table that follows within the fence (a copy being restored, a
	// migration step) keeps it: the old primary's lease runs all the same.
	three := table(3, 2, []*node{a, b}, 1)
	if sv := b.r.Install(three); sv.Gate[1] == nil || sv.Gate[1].From < before+fence {
		t.Fatalf("the next table dropped the fence (%d..): gate %+v", before+fence, sv.Gate[1])
	}
	// a's write in term 1 is refused by b: never committed.
	p := set(t, a, 0, 1, "k", "lost")
	if a.r.Settle(p, 0) {
		t.Fatal("a write of a deposed primary was committed")
	}
	if v, _ := get(t, b, 0, 1, "k"); v != "v1" {
		t.Fatalf("new primary has %q", v)
	}
	// And a loses its lease: b grants none to an older table.
	sa := a.r.cur.Load()
	_ = sa
	waitFor(t, "a's lease to lapse", func() bool {
		g := a.r.gates.Load()
		for _, x := range *g {
			if x.Until.Load() > Mono() {
				return false
			}
		}
		return true
	})
}

// The log reads whole records in batches across chunk boundaries, and
// reports a position trimmed away.
func TestLogReadBatches(t *testing.T) {
	var trimmed int
	l := newLog(4*chunkSize, func(uint16, uint64) { trimmed++ })
	val := make([]byte, 3000)
	var ends []uint64
	for i := range 5000 {
		r := record{kind: recPut, bucket: uint16(i % 16384), lsn: uint64(i + 1), key: []byte("k"), item: engine.Item{Type: engine.TypeString, Value: val}}
		ends = append(ends, l.append(&r))
	}
	start, end := l.bounds()
	if start == 0 || trimmed == 0 {
		t.Fatalf("nothing trimmed: start %d, %d records", start, trimmed)
	}
	if _, _, ok := l.read(0, end, nil, batchBytes); ok {
		t.Fatal("a read before the log's start succeeded")
	}
	for _, limit := range []int{1, 5000, batchBytes, 3 * chunkSize} {
		pos, want := start, trimmed+1
		for pos < end {
			out, next, ok := l.read(pos, end, nil, limit)
			if !ok || next <= pos {
				t.Fatalf("limit %d: read at %d: ok %v next %d", limit, pos, ok, next)
			}
			var r record
			for off := 0; off < len(out); {
				n, err := decodeRecord(out[off:], &r)
				if err != nil || r.lsn != uint64(want) {
					t.Fatalf("limit %d: record lsn %d, want %d (%v)", limit, r.lsn, want, err)
				}
				off += n
				want++
			}
			pos = next
		}
		if want != len(ends)+1 {
			t.Fatalf("limit %d: read %d records, want %d", limit, want-1-trimmed, len(ends)-trimmed)
		}
	}
}

// A secondary taken out of a bucket and given it back soon keeps its data
// meanwhile and catches up by replay (Doris' temporary failure).
func TestTemporaryRemovalReplays(t *testing.T) {
	a, b := newNode(t, "a", time.Second), newNode(t, "b", time.Second)
	two := table(1, 1, []*node{a, b}, 0, 1)
	b.r.Install(two)
	a.r.Install(two)
	if !a.r.Settle(set(t, a, 0, 3, "k", "v1"), 0) {
		t.Fatal("not committed")
	}
	waitFor(t, "b caught up everywhere", func() bool {
		for x := range routing.Buckets {
			if !b.r.Held(uint16(x)) {
				return false
			}
		}
		return true
	})
	one := table(2, 1, []*node{a, b}, 0)
	b.r.Install(one)
	a.r.Install(one)
	if len(set(t, a, 0, 3, "k", "v2")) != 0 {
		t.Fatal("a write with no secondary waits")
	}
	if v, _ := get(t, b, 0, 3, "k"); v != "v1" {
		t.Fatalf("the removed replica dropped its data: %q", v)
	}
	snaps := a.r.stats.CatchupSnapshot.Load()
	back := table(3, 1, []*node{a, b}, 0, 1)
	b.r.Install(back)
	a.r.Install(back)
	if !a.r.Settle(set(t, a, 0, 3, "k2", "x"), 0) {
		t.Fatal("not committed after the return")
	}
	if v, _ := get(t, b, 0, 3, "k"); v != "v2" {
		t.Fatalf("returned replica has %q, want v2", v)
	}
	if s := a.r.stats.CatchupSnapshot.Load(); s != snaps {
		t.Fatalf("the return took %d snapshots, want replay", s-snaps)
	}
	if a.r.stats.CatchupReplay.Load() == 0 {
		t.Fatal("no replay counted")
	}
}

// A secondary reports a primary whose link broke and stayed broken past
// half a lease; a link that comes back at once is not reported.
func TestSecondaryReportsLostPrimary(t *testing.T) {
	lease := 400 * time.Millisecond
	a, b := newNode(t, "a", lease), newNode(t, "b", lease)
	tb := table(1, 1, []*node{a, b}, 0, 1)
	b.r.Install(tb)
	a.r.Install(tb)
	if !a.r.Settle(set(t, a, 0, 1, "k", "v"), 0) {
		t.Fatal("not committed")
	}
	b.cut() // a reconnects at once
	time.Sleep(lease)
	if u, ok := b.r.Unreachable(); !ok || len(u) != 0 {
		t.Fatalf("reported %v (%v) after a link that came back", u, ok)
	}
	a.r.Close() // a's links stop for good, as when its process dies
	waitFor(t, "b to report a", func() bool {
		u, ok := b.r.Unreachable()
		return ok && len(u) == 1 && u[0] == "a"
	})
}

// TestSnapshotsReuseFrames: snapshots of buckets of every size (several
// frames, one small frame grown to full size, a few bytes) sent one after
// another through the frames the earlier ones left arrive intact.
func TestSnapshotsReuseFrames(t *testing.T) {
	a, b := newNode(t, "a", time.Second), newNode(t, "b", time.Second)
	a.r.Install(table(1, 1, []*node{a}, 0))
	sizes := map[uint16]int{1: 3*batchBytes + 100, 2: 10, 3: 20 << 10, 4: batchBytes + 1, 5: 300, 6: 2 * batchBytes}
	want := map[uint16]map[string]string{}
	for bk, size := range sizes {
		want[bk] = map[string]string{}
		for i := 0; size > 0; i++ {
			v := strings.Repeat(strconv.Itoa(int(bk)*1000+i)+".", 200)[:min(size, 1000)]
			k := "k" + strconv.Itoa(i)
			set(t, a, 0, bk, k, v)
			want[bk][k] = v
			size -= len(v)
		}
	}
	joinSecondary(t, a, b)
	// Only what the buckets hold went out (a reused frame carries nothing
	// of the snapshot it served before).
	total := 0
	for _, size := range sizes {
		total += size
	}
	if sent := a.r.stats.BytesSent.Load(); sent > uint64(total)*11/10+64<<10 {
		t.Errorf("%d bytes sent for %d bytes of values", sent, total)
	}
	for bk, kv := range want {
		got := map[string]string{}
		inner(b.reg.Get(0).Engine).ScanBucket(bk, time.Now().UnixMilli(), func(key []byte, it *engine.Item) bool {
			got[string(key)] = string(it.Value)
			return true
		})
		if !maps.Equal(got, kv) {
			t.Errorf("bucket %d: %d keys arrived, %d sent, or values differ", bk, len(got), len(kv))
		}
	}
}
