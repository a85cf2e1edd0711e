package configserver

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"granary/internal/clusterapi"
)

// testLogger writes to the test's log while the test runs (Warn and up, or
// everything with GRANARY_TEST_LOG=1), and nowhere after.
func testLogger(t *testing.T) *slog.Logger {
	w := &testWriter{t: t}
	t.Cleanup(func() { w.mu.Lock(); w.done = true; w.mu.Unlock() })
	level := slog.LevelWarn
	if os.Getenv("GRANARY_TEST_LOG") != "" {
		level = slog.LevelDebug
	}
	return slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: level}))
}

type testWriter struct {
	mu   sync.Mutex
	t    *testing.T
	done bool
}

func (w *testWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if !w.done {
		w.t.Log(strings.TrimRight(string(p), "\n"))
	}
	return len(p), nil
}

var _ io.Writer = (*testWriter)(nil)

// freeAddrs returns n loopback addresses with ports free a moment ago.
func freeAddrs(t *testing.T, n int) []string {
	t.Helper()
	var out []string
	var lns []net.Listener
	for range n {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		lns = append(lns, ln)
		out = append(out, ln.Addr().String())
	}
	for _, ln := range lns {
		ln.Close()
	}
	return out
}

// startSingle starts a one-server group with fast elections.
func startSingle(t *testing.T, edit func(*Options)) *Server {
	t.Helper()
	opts := Options{
		ID: "cs1", Dir: t.TempDir(), Raft: "127.0.0.1:0", HTTP: "127.0.0.1:0", RESP: "127.0.0.1:0",
		Peers:           []Peer{{ID: "cs1", Raft: "127.0.0.1:0"}},
		ElectionTimeout: 300 * time.Millisecond,
		Logger:          testLogger(t),
	}
	if edit != nil {
		edit(&opts)
	}
	return startWith(t, opts)
}

func startWith(t *testing.T, opts Options) *Server {
	t.Helper()
	s, err := Start(context.Background(), opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := s.WaitLeader(ctx); err != nil {
		t.Fatalf("%s: no leader: %v", opts.ID, err)
	}
	return s
}

func ctxT(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// eventually polls cond until it holds or the time runs out.
func eventually(t *testing.T, within time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(within)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", within, what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// nodeID is the id of fake data server i.
func nodeID(i int) string { return fmt.Sprintf("%040x", 0xda7a0000+i) }

// fakeNode is a data server that only heartbeats. Like a data server it
// sends a Boot (new per restart) and Epoch 0 until a reply echoes its Boot.
type fakeNode struct {
	id, addr string
	cl       *clusterapi.Client

	mu          sync.Mutex
	boot        string
	echoed      string // the last Boot a reply echoed
	unreachable []string
	epoch       uint64
	nsv         uint64
	table       *clusterapi.Table
	leader      string
	err         error
	count       int

	cancel context.CancelFunc
	done   chan struct{}
}

func newFakeNode(i int, addrs []string) *fakeNode {
	return &fakeNode{id: nodeID(i), addr: fmt.Sprintf("127.0.0.1:%d", 17000+i), cl: clusterapi.NewClient(addrs), boot: newBoot()}
}

var bootSeq atomic.Uint64

func newBoot() string { return fmt.Sprintf("boot-%d-%d", time.Now().UnixNano(), bootSeq.Add(1)) }

// restart gives the node a new process: a new Boot, no table.
func (f *fakeNode) restart() {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.boot, f.epoch, f.table = newBoot(), 0, nil
}

// report sets the peers the node's next heartbeats report unreachable.
func (f *fakeNode) report(ids ...string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.unreachable = ids
}

// acked reports whether a reply echoed the node's current Boot.
func (f *fakeNode) acked() bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.echoed == f.boot
}

// beat sends one heartbeat and keeps what it learns.
func (f *fakeNode) beat(ctx context.Context) (*clusterapi.HeartbeatResponse, error) {
	f.mu.Lock()
	req := &clusterapi.HeartbeatRequest{NodeID: f.id, Addr: f.addr, Internal: f.addr, HTTP: f.addr, Epoch: f.epoch, NSVersion: f.nsv,
		Boot: f.boot, Unreachable: f.unreachable}
	if f.echoed != f.boot {
		req.Epoch = 0
	}
	f.mu.Unlock()
	resp, err := f.cl.Heartbeat(ctx, req)
	f.mu.Lock()
	defer f.mu.Unlock()
	f.err = err
	if err != nil {
		return nil, err
	}
	f.count++
	f.leader = resp.Leader
	if resp.Boot == req.Boot {
		f.echoed = resp.Boot
	}
	if resp.Table != nil {
		f.table, f.epoch = resp.Table, resp.Table.Epoch
	}
	f.nsv = resp.NSVersion
	return resp, nil
}

// start heartbeats every interval until stop.
func (f *fakeNode) start(interval time.Duration) {
	ctx, cancel := context.WithCancel(context.Background())
	f.cancel, f.done = cancel, make(chan struct{})
	go func() {
		defer close(f.done)
		t := time.NewTicker(interval)
		defer t.Stop()
		for {
			f.beat(ctx)
			select {
			case <-ctx.Done():
				return
			case <-t.C:
			}
		}
	}()
}

func (f *fakeNode) stop() {
	if f.cancel != nil {
		f.cancel()
		<-f.done
		f.cancel = nil
	}
}

func (f *fakeNode) snapshot() (epoch uint64, count int, err error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.epoch, f.count, f.err
}

func nodeState(t *testing.T, cl *clusterapi.Client, id string) clusterapi.NodeState {
	t.Helper()
	nodes, err := cl.Nodes(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range nodes {
		if n.ID == id {
			return n.State
		}
	}
	return ""
}
