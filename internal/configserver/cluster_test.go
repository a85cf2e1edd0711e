package configserver

import (
	"context"
	"errors"
	"fmt"
	"net"
	"reflect"
	"sync"
	"testing"
	"time"

	"granary/internal/clusterapi"
)

// startGroup starts n config servers bootstrapped together, with Raft's
// default timeouts.
func startGroup(t *testing.T, n int, edit func(*Options)) ([]*Server, []Options) {
	t.Helper()
	raftAddrs := freeAddrs(t, n)
	var peers []Peer
	for i := range n {
		peers = append(peers, Peer{ID: fmt.Sprintf("cs%d", i+1), Raft: raftAddrs[i]})
	}
	opts := make([]Options, n)
	servers := make([]*Server, n)
	var wg sync.WaitGroup
	for i := range n {
		opts[i] = Options{
			ID: peers[i].ID, Dir: t.TempDir(), Raft: raftAddrs[i], HTTP: "127.0.0.1:0", RESP: "127.0.0.1:0",
			Peers: peers, Logger: testLogger(t),
		}
		if edit != nil {
			edit(&opts[i])
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			s, err := Start(context.Background(), opts[i])
			if err != nil {
				t.Error(err)
				return
			}
			servers[i] = s
			t.Cleanup(func() { s.Close() })
		}()
	}
	wg.Wait()
	if t.Failed() {
		t.FailNow()
	}
	for _, s := range servers {
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		err := s.WaitLeader(ctx)
		cancel()
		if err != nil {
			t.Fatalf("%s: %v", s.ID(), err)
		}
	}
	return servers, opts
}

func leaderOf(servers []*Server) *Server {
	for _, s := range servers {
		if s != nil && s.IsLeader() {
			return s
		}
	}
	return nil
}

// waitNewLeader waits for a leader among servers other than old, and
// returns it with the time it took.
func waitNewLeader(t *testing.T, servers []*Server, old *Server, start time.Time) (*Server, time.Duration) {
	t.Helper()
	var nl *Server
	eventually(t, 15*time.Second, "a new leader", func() bool {
		for _, s := range servers {
			if s != old && s != nil && s.IsLeader() {
				nl = s
				return true
			}
		}
		return false
	})
	return nl, time.Since(start)
}

func TestThreeConfigServers(t *testing.T) {
	servers, opts := startGroup(t, 3, func(o *Options) { o.AutoAdd = true })
	ctx := ctxT(t)
	leader := leaderOf(servers)
	if leader == nil {
		t.Fatal("no leader")
	}
	var followers []*Server
	for _, s := range servers {
		if s != leader {
			followers = append(followers, s)
		}
	}
	t.Logf("leader %s", leader.ID())

	// Every server recorded its addresses; every server lists all three.
	for _, s := range servers {
		cl := clusterapi.NewClient([]string{s.HTTPAddr()})
		eventually(t, 10*time.Second, s.ID()+" listing every config server", func() bool {
			css, err := cl.ConfigServers(ctx)
			if err != nil || len(css) != 3 {
				return false
			}
			for i, cs := range css {
				if cs.ID != servers[i].ID() || cs.HTTP != servers[i].HTTPAddr() || cs.RESP != servers[i].RESPAddr() ||
					cs.Raft != servers[i].RaftAddr() || !cs.Voter || cs.Leader != (servers[i] == leader) {
					return false
				}
			}
			return true
		})
	}

	// Writes through a follower are forwarded; reads are served locally.
	fcl := clusterapi.NewClient([]string{followers[0].HTTPAddr()})
	if _, err := fcl.CreateNamespace(ctx, clusterapi.Namespace{ID: 3, Name: "through-follower"}); err != nil {
		t.Fatal(err)
	}
	for _, s := range servers {
		eventually(t, 5*time.Second, s.ID()+" seeing the namespace", func() bool {
			st := s.fsm.state()
			return len(st.Namespaces) == 1 && st.Namespaces[0].Name == "through-follower"
		})
	}
	// Heartbeats through a follower: the reply names the leader.
	hb, err := fcl.Heartbeat(ctx, &clusterapi.HeartbeatRequest{NodeID: nodeID(1), Addr: "0.0.0.0:17001", Internal: ":17001", HTTP: "[::]:17001"})
	if err != nil {
		t.Fatal(err)
	}
	if hb.Leader != leader.HTTPAddr() || hb.NSVersion != 1 || len(hb.Namespaces) != 1 {
		t.Fatalf("heartbeat via a follower: %+v", hb)
	}
	if n, ok := leader.fsm.node(nodeID(1)); !ok || n.Addr != "127.0.0.1:17001" || n.State != clusterapi.NodeUp {
		t.Fatalf("node recorded as %+v (the forwarded heartbeat's source address should replace 0.0.0.0)", n)
	}
	if followers[0].forwarded.Load() < 2 || leader.heartbeats.Load() < 1 {
		t.Fatalf("forwarded %d, leader heartbeats %d", followers[0].forwarded.Load(), leader.heartbeats.Load())
	}
	// The follower's state converges, and its status agrees.
	eventually(t, 5*time.Second, "the table on a follower", func() bool {
		st, err := clusterapi.NewClient([]string{followers[1].HTTPAddr()}).Status(ctx)
		return err == nil && st.Epoch == 1 && st.Leader == leader.ID() && st.ID == followers[1].ID() && st.Nodes["up"] == 1
	})
	before := leader.fsm.state()

	// A node heartbeating through a follower keeps going while the leader
	// changes.
	fake := newFakeNode(1, []string{followers[0].HTTPAddr(), followers[1].HTTPAddr(), leader.HTTPAddr()})
	fake.start(100 * time.Millisecond)
	defer fake.stop()

	// 1. Clean shutdown of the leader: it hands leadership over.
	start := time.Now()
	if err := leader.Close(); err != nil {
		t.Fatal(err)
	}
	closed := time.Since(start)
	nl, took := waitNewLeader(t, servers, leader, start)
	t.Logf("clean leader shutdown (leadership transfer): %s → %s in %v (Close took %v)", leader.ID(), nl.ID(), took.Round(time.Millisecond), closed.Round(time.Millisecond))
	for _, s := range servers {
		if s != leader {
			if st := s.fsm.state(); !reflect.DeepEqual(before.Namespaces, st.Namespaces) || !reflect.DeepEqual(before.Table, st.Table) {
				t.Fatalf("%s: state lost over the leader change", s.ID())
			}
		}
	}
	ncl := clusterapi.NewClient([]string{nl.HTTPAddr()})
	if _, err := ncl.CreateNamespace(ctx, clusterapi.Namespace{ID: 4, Name: "after-change"}); err != nil {
		t.Fatal(err)
	}

	// 2. The old leader comes back from its directory (a new HTTP port).
	i := indexOf(servers, leader)
	o := opts[i]
	o.Peers = nil
	servers[i] = startWith(t, o)
	eventually(t, 10*time.Second, "the restarted server catching up and re-recording itself", func() bool {
		st := servers[i].fsm.state()
		cs, _ := nl.fsm.server(o.ID)
		return len(st.Namespaces) == 2 && cs.HTTP == servers[i].HTTPAddr()
	})

	// 3. The current leader crashes (no leadership transfer): an election.
	start = time.Now()
	nl.shutdown(false)
	crashed := nl
	nl2, took := waitNewLeader(t, servers, crashed, start)
	t.Logf("leader crash (election, Raft timeouts 1s): %s → %s in %v", crashed.ID(), nl2.ID(), took.Round(time.Millisecond))
	st := nl2.fsm.state()
	if len(st.Namespaces) != 2 || st.Table.Epoch != before.Table.Epoch || len(st.Nodes) != 1 {
		t.Fatalf("state after the crash: %+v", st)
	}
	// The node that heartbeats through the config servers stayed up.
	_, c0, _ := fake.snapshot()
	eventually(t, 5*time.Second, "heartbeats through the new leader", func() bool {
		_, c, err := fake.snapshot()
		return err == nil && c > c0+2
	})
	if n, _ := nl2.fsm.node(nodeID(1)); n.State != clusterapi.NodeUp {
		t.Fatalf("node state after two leader changes: %s", n.State)
	}
	eventually(t, 5*time.Second, "heartbeat replies naming the new leader", func() bool {
		fake.mu.Lock()
		defer fake.mu.Unlock()
		return fake.leader == nl2.HTTPAddr()
	})
}

func indexOf(servers []*Server, s *Server) int {
	for i, x := range servers {
		if x == s {
			return i
		}
	}
	return -1
}

// TestAddRemoveConfigServer: a server started without peers waits; the
// leader adds it as a voter, it records its addresses, and it is removed.
// TestPeersByHostName: config servers bound to one address and listed in
// --peers by a host name (a container's or a StatefulSet pod's, here
// localhost) and bound to every interface for HTTP and RESP. Each keeps the
// host name as its Raft address, so every member bootstraps the same
// configuration, the followers' records are accepted by the leader, and
// the HTTP and RESP addresses they advertise carry the name.
func TestPeersByHostName(t *testing.T) {
	servers, opts := startGroup(t, 3, func(o *Options) {
		var peers []Peer
		for _, p := range o.Peers {
			_, port, _ := net.SplitHostPort(p.Raft)
			peers = append(peers, Peer{ID: p.ID, Raft: "localhost:" + port})
		}
		o.Peers = peers
		o.HTTP, o.RESP = "0.0.0.0:0", "0.0.0.0:0"
	})
	ctx := ctxT(t)
	for i, s := range servers {
		want := opts[i].Peers[i].Raft
		if s.RaftAddr() != want {
			t.Errorf("%s: raft address %s, want %s (its --peers entry)", s.ID(), s.RaftAddr(), want)
		}
		if h, _, _ := net.SplitHostPort(s.HTTPAddr()); h != "localhost" {
			t.Errorf("%s: HTTP address %s, want host localhost", s.ID(), s.HTTPAddr())
		}
		f := s.raft.GetConfiguration()
		if err := f.Error(); err != nil {
			t.Fatal(err)
		}
		for j, sv := range f.Configuration().Servers {
			if string(sv.ID) != opts[i].Peers[j].ID || string(sv.Address) != opts[i].Peers[j].Raft {
				t.Errorf("%s: raft configuration %v, want the --peers list %v", s.ID(), f.Configuration().Servers, opts[i].Peers)
				break
			}
		}
	}
	for _, s := range servers {
		cl := clusterapi.NewClient([]string{s.HTTPAddr()})
		eventually(t, 10*time.Second, s.ID()+" listing every config server with its addresses", func() bool {
			css, err := cl.ConfigServers(ctx)
			if err != nil || len(css) != 3 {
				return false
			}
			for i, cs := range css {
				if cs.ID != servers[i].ID() || cs.HTTP != servers[i].HTTPAddr() || cs.RESP != servers[i].RESPAddr() ||
					cs.Raft != servers[i].RaftAddr() {
					return false
				}
			}
			return true
		})
	}
}

func TestAddRemoveConfigServer(t *testing.T) {
	s1 := startSingle(t, func(o *Options) {
		o.ElectionTimeout = 500 * time.Millisecond
		o.JoinTimeout = 2 * time.Second
	})
	ctx := ctxT(t)
	s2, err := Start(ctx, Options{ID: "cs2", Dir: t.TempDir(), Raft: "127.0.0.1:0", HTTP: "127.0.0.1:0",
		ElectionTimeout: 500 * time.Millisecond, Logger: testLogger(t)})
	if err != nil {
		t.Fatal(err)
	}
	defer s2.Close()
	time.Sleep(100 * time.Millisecond)
	if id, _ := s2.Leader(); id != "" {
		t.Fatalf("a server outside any group sees leader %q", id)
	}
	cl := clusterapi.NewClient([]string{s2.HTTPAddr(), s1.HTTPAddr()})
	var se *clusterapi.StatusError
	if _, err := clusterapi.NewClient([]string{s1.HTTPAddr()}).AddConfigServer(ctx, clusterapi.ConfigServer{ID: "cs2", Raft: "nonsense"}); !errors.As(err, &se) || se.Code != 400 {
		t.Fatalf("add with a bad address: %v", err)
	}
	// A server that is not running is refused, and the group keeps its
	// quorum: adding it as a voter would leave a group of one needing two.
	if _, err := clusterapi.NewClient([]string{s1.HTTPAddr()}).AddConfigServer(ctx, clusterapi.ConfigServer{ID: "ghost", Raft: "127.0.0.1:1"}); !errors.As(err, &se) || se.Code != 409 {
		t.Fatalf("adding a config server that is not running: %v", err)
	}
	if _, err := clusterapi.NewClient([]string{s1.HTTPAddr()}).CreateNamespace(ctx, clusterapi.Namespace{ID: 9, Name: "after-ghost"}); err != nil {
		t.Fatalf("the group cannot commit after a refused addition: %v", err)
	}
	css, err := cl.AddConfigServer(ctx, clusterapi.ConfigServer{ID: "cs2", Raft: s2.RaftAddr()})
	if err != nil {
		t.Fatal(err)
	}
	if len(css) != 2 || css[1].ID != "cs2" || !css[1].Voter || css[1].Leader {
		t.Fatalf("after add: %+v", css)
	}
	if err := s2.WaitLeader(ctx); err != nil {
		t.Fatal(err)
	}
	eventually(t, 5*time.Second, "cs2 recording its own addresses", func() bool {
		cs, ok := s1.fsm.server("cs2")
		return ok && cs.HTTP == s2.HTTPAddr() && cs.RESP == ""
	})
	// A member records itself only as what it is.
	if _, err := clusterapi.NewClient([]string{s1.HTTPAddr()}).AddConfigServer(ctx, clusterapi.ConfigServer{ID: "cs2", Raft: "127.0.0.1:1"}); !errors.As(err, &se) || se.Code != 409 {
		t.Fatalf("re-add at another address: %v", err)
	}
	css, err = cl.RemoveConfigServer(ctx, "cs2")
	if err != nil {
		t.Fatal(err)
	}
	if len(css) != 1 || css[0].ID != "cs1" {
		t.Fatalf("after removal: %+v", css)
	}
	if _, err := clusterapi.NewClient([]string{s1.HTTPAddr()}).RemoveConfigServer(ctx, "cs1"); !errors.As(err, &se) || se.Code != 409 {
		t.Fatalf("removing the last member: %v", err)
	}
	if _, ok := s1.fsm.server("cs2"); ok {
		t.Fatal("cs2's record survived its removal")
	}
}
