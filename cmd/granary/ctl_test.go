package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"granary/internal/clusterapi"
	"granary/internal/configserver"
	"granary/internal/routing"
)

// Two fake data servers that only heartbeat.
var fakeNodes = []struct{ id, addr, http string }{
	{"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa1", "127.0.0.1:17001", "127.0.0.1:18001"},
	{"bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb2", "127.0.0.1:17002", "127.0.0.1:18002"},
}

// startCtlCluster starts a single config server (AutoAdd) and heartbeats
// for the fake nodes until the test ends; it returns the API address once
// the table covers every bucket.
func startCtlCluster(t *testing.T) string {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	cs, err := configserver.Start(ctx, configserver.Options{
		ID:       "cs1",
		Dir:      t.TempDir(),
		Raft:     "127.0.0.1:0",
		Peers:    []configserver.Peer{{ID: "cs1", Raft: "127.0.0.1:0"}},
		HTTP:     "127.0.0.1:0",
		RESP:     "127.0.0.1:0",
		AutoAdd:  true,
		Copies:   2,
		MinNodes: len(fakeNodes),
		Logger:   slog.New(slog.NewTextHandler(io.Discard, nil)),
	})
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	t.Cleanup(func() {
		cancel()
		wg.Wait()
		if err := cs.Close(); err != nil {
			t.Errorf("close: %v", err)
		}
	})
	wctx, wcancel := context.WithTimeout(ctx, 20*time.Second)
	defer wcancel()
	if err := cs.WaitLeader(wctx); err != nil {
		t.Fatal(err)
	}
	api := cs.HTTPAddr()
	c := clusterapi.NewClient([]string{api})
	for _, n := range fakeNodes {
		wg.Go(func() {
			req := &clusterapi.HeartbeatRequest{NodeID: n.id, Addr: n.addr, Internal: n.addr, HTTP: n.http, Zone: "test"}
			logged := false
			for ctx.Err() == nil {
				if resp, err := c.Heartbeat(ctx, req); err != nil {
					if !logged && ctx.Err() == nil {
						logged = true
						t.Logf("heartbeat %s: %v", n.id, err)
					}
				} else {
					if resp.Table != nil {
						req.Epoch = resp.Table.Epoch
					}
					req.NSVersion = resp.NSVersion
				}
				select {
				case <-ctx.Done():
				case <-time.After(100 * time.Millisecond):
				}
			}
		})
	}
	for {
		st, err := c.Status(wctx)
		if err == nil && st.Epoch > 0 && st.Unassigned == 0 && st.Nodes["up"] == len(fakeNodes) {
			return api
		}
		if wctx.Err() != nil {
			t.Fatalf("table never built: %+v, %v", st, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// freeAddr returns a loopback address with a port free right now.
func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// ctl runs 'granary ctl --config-servers api args...' in process and returns
// its standard output.
func ctl(t *testing.T, api string, args ...string) (string, error) {
	t.Helper()
	return ctlIn(t, api, "", args...)
}

// ctlIn is ctl with stdin as its standard input.
func ctlIn(t *testing.T, api, stdin string, args ...string) (string, error) {
	t.Helper()
	root := rootCmd()
	var out bytes.Buffer
	root.SetIn(strings.NewReader(stdin))
	root.SetOut(&out)
	root.SetErr(io.Discard)
	root.SetArgs(append([]string{"ctl", "--config-servers", api, "--timeout", "10s"}, args...))
	err := root.ExecuteContext(context.Background())
	return out.String(), err
}

func mustCtl(t *testing.T, api string, args ...string) string {
	t.Helper()
	out, err := ctl(t, api, args...)
	if err != nil {
		t.Fatalf("ctl %s: %v", strings.Join(args, " "), err)
	}
	return out
}

// ctlJSON runs a ctl command with --json and decodes its output into v.
func ctlJSON(t *testing.T, api string, v any, args ...string) {
	t.Helper()
	out := mustCtl(t, api, append([]string{"--json"}, args...)...)
	if err := json.Unmarshal([]byte(out), v); err != nil {
		t.Fatalf("ctl --json %s: %v\n%s", strings.Join(args, " "), err, out)
	}
}

func wantContains(t *testing.T, what, out string, subs ...string) {
	t.Helper()
	for _, s := range subs {
		if !strings.Contains(out, s) {
			t.Errorf("%s: no %q in\n%s", what, s, out)
		}
	}
}

func TestCtl(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a config server")
	}
	api := startCtlCluster(t)

	t.Run("status", func(t *testing.T) {
		out := mustCtl(t, api, "status")
		wantContains(t, "status", out, "leader:", "cs1", "buckets:", "16384 assigned, 0 unassigned",
			"data servers:", "2 (2 up)", "CONFIG SERVER", "ROLE", "leader")
		var st clusterapi.Status
		ctlJSON(t, api, &st, "status")
		if st.Leader != "cs1" || st.Unassigned != 0 || st.Nodes["up"] != 2 || st.Copies != 2 || st.Epoch == 0 {
			t.Errorf("status JSON = %+v", st)
		}
	})

	t.Run("nodes", func(t *testing.T) {
		out := mustCtl(t, api, "nodes")
		wantContains(t, "nodes", out, "ID", "ADDR", "STATE", "LAST SEEN", "PRIMARIES", "COPIES",
			fakeNodes[0].id, fakeNodes[1].id, "127.0.0.1:17001", " up ", "s ago")
		// Two nodes, two copies: each is primary of half and holds every bucket.
		wantContains(t, "nodes", out, "8192", "16384")
		var nodes []clusterapi.Node
		ctlJSON(t, api, &nodes, "nodes")
		if len(nodes) != 2 {
			t.Fatalf("nodes JSON: %+v", nodes)
		}
		for _, n := range nodes {
			if n.State != clusterapi.NodeUp || n.Zone != "test" {
				t.Errorf("node %+v", n)
			}
		}
	})

	t.Run("table", func(t *testing.T) {
		out := mustCtl(t, api, "table")
		wantContains(t, "table", out, "16384 buckets, 0 unassigned, 0 with fewer than 2 copies", "NODE", "PRIMARIES", fakeNodes[0].id)
		if strings.Contains(out, "BUCKETS") {
			t.Errorf("table without --full lists ranges:\n%s", out)
		}
		out = mustCtl(t, api, "table", "--full")
		wantContains(t, "table --full", out, "BUCKETS", "PRIMARY", "SECONDARIES", "127.0.0.1:17001", "127.0.0.1:17002")
		var tab clusterapi.Table
		ctlJSON(t, api, &tab, "table")
		covered := 0
		for _, r := range tab.Ranges {
			covered += r.Last - r.First + 1
			if len(r.Replicas) != 2 {
				t.Errorf("range %+v: want 2 replicas", r)
			}
		}
		if covered != routing.Buckets || len(tab.Nodes) != 2 {
			t.Errorf("table JSON covers %d buckets with nodes %v", covered, tab.Nodes)
		}
	})

	t.Run("rebuild", func(t *testing.T) {
		out := mustCtl(t, api, "rebuild")
		wantContains(t, "rebuild", out, "table unchanged", "0 unassigned", "PRIMARIES")
		var tab clusterapi.Table
		ctlJSON(t, api, &tab, "rebuild")
		if tab.Epoch == 0 || len(tab.Ranges) == 0 {
			t.Errorf("rebuild JSON = %+v", tab)
		}
	})

	t.Run("namespace", func(t *testing.T) {
		out := mustCtl(t, api, "namespace", "create", "7", "--name", "sessions", "--quota", "1gb", "--ack", "sync", "--max-ops", "5000")
		wantContains(t, "namespace create", out, "ID", "NAME", "QUOTA", "ACK", "MAX OPS", "sessions", "1.0 GiB", "sync", "5000/s", "mem")

		var ns clusterapi.Namespace
		ctlJSON(t, api, &ns, "namespace", "create", "8", "--name", "cache")
		if ns.ID != 8 || ns.Name != "cache" || ns.Engine != "mem" || ns.Ack != clusterapi.AckSync || ns.Quota != 0 {
			t.Errorf("create JSON = %+v", ns)
		}

		if _, err := ctl(t, api, "namespace", "create", "7", "--name", "again"); err == nil {
			t.Error("creating namespace 7 twice: no error")
		} else if strings.Contains(err.Error(), "HTTP") || strings.Contains(err.Error(), "config server:") {
			t.Errorf("API error not shown as its message: %v", err)
		}
		if _, err := ctl(t, api, "namespace", "create", "9", "--name", "x", "--ack", "maybe"); err == nil {
			t.Error("--ack maybe: no error")
		}
		if _, err := ctl(t, api, "namespace", "create", "70000", "--name", "x"); err == nil {
			t.Error("namespace 70000: no error")
		}

		// Only the flags given change.
		out = mustCtl(t, api, "namespace", "update", "7", "--quota", "2gb")
		wantContains(t, "namespace update", out, "sessions", "2.0 GiB", "sync", "5000/s", "MAX BYTES")
		out = mustCtl(t, api, "namespace", "update", "7", "--max-bytes", "10mb")
		wantContains(t, "namespace update --max-bytes", out, "5000/s", "10.0 MiB/s")
		ctlJSON(t, api, &ns, "namespace", "update", "7", "--ack", "async", "--max-ops", "0")
		if ns.Name != "sessions" || ns.Quota != 2<<30 || ns.Ack != clusterapi.AckAsync || ns.MaxOps != 0 || ns.MaxBytes != 10<<20 {
			t.Errorf("update JSON = %+v", ns)
		}
		if _, err := ctl(t, api, "namespace", "update", "7", "--max-bytes", "lots"); err == nil {
			t.Error("--max-bytes lots: no error")
		}
		if _, err := ctl(t, api, "namespace", "update", "7"); err == nil {
			t.Error("update with no flags: no error")
		}
		if _, err := ctl(t, api, "namespace", "update", "99", "--quota", "1gb"); err == nil {
			t.Error("update of a missing namespace: no error")
		}

		out = mustCtl(t, api, "namespace", "list")
		wantContains(t, "namespace list", out, "sessions", "cache", "unlimited", "none")
		var all []clusterapi.Namespace
		ctlJSON(t, api, &all, "namespace", "list")
		if len(all) != 2 {
			t.Errorf("list JSON = %+v", all)
		}

		out = mustCtl(t, api, "namespace", "delete", "7")
		wantContains(t, "namespace delete", out, "namespace 7 deleted")
		if out := mustCtl(t, api, "--json", "namespace", "delete", "8"); out != "" {
			t.Errorf("delete --json printed %q", out)
		}
		ctlJSON(t, api, &all, "namespace", "list")
		if len(all) != 0 {
			t.Errorf("after delete: %+v", all)
		}
	})

	t.Run("node add remove", func(t *testing.T) {
		const id = "ccccccccccccccccccccccccccccccccccccccc3"
		out := mustCtl(t, api, "node", "add", id, "--zone", "rack-b")
		wantContains(t, "node add", out, id, "rack-b", "added")
		const id2 = "ddddddddddddddddddddddddddddddddddddddd4"
		var n clusterapi.Node
		ctlJSON(t, api, &n, "node", "add", id2)
		if n.ID != id2 || n.State != clusterapi.NodeAdded {
			t.Errorf("node add JSON = %+v", n)
		}
		var nodes []clusterapi.Node
		ctlJSON(t, api, &nodes, "nodes")
		if len(nodes) != 4 {
			t.Errorf("after add: %d nodes", len(nodes))
		}
		out = mustCtl(t, api, "node", "remove", id)
		wantContains(t, "node remove", out, "removed")
		if out := mustCtl(t, api, "--json", "node", "remove", id2); out != "" {
			t.Errorf("node remove --json printed %q", out)
		}
		ctlJSON(t, api, &nodes, "nodes")
		if len(nodes) != 2 {
			t.Errorf("after remove: %+v", nodes)
		}
	})

	t.Run("config servers", func(t *testing.T) {
		out := mustCtl(t, api, "config-server", "list")
		wantContains(t, "config-server list", out, "CONFIG SERVER", "cs1", "leader")
		var css []clusterapi.ConfigServer
		ctlJSON(t, api, &css, "config-server", "list")
		if len(css) != 1 || css[0].ID != "cs1" || !css[0].Leader || !css[0].Voter {
			t.Errorf("config-server list JSON = %+v", css)
		}
	})

	t.Run("config server add checks", func(t *testing.T) {
		// A voter that does not run would leave a group of one without a
		// leader: ctl refuses to add it unless forced.
		_, err := ctl(t, api, "config-server", "add", "cs9", "--raft", freeAddr(t), "--http", freeAddr(t))
		if err == nil || !strings.Contains(err.Error(), "does not answer") {
			t.Errorf("adding a config server that does not run: %v", err)
		}
		if _, err := ctl(t, api, "config-server", "add", "cs9", "--raft", freeAddr(t)); err == nil {
			t.Error("add without --http: no error")
		}
		// The server at api is cs1, not cs9.
		_, err = ctl(t, api, "config-server", "add", "cs9", "--raft", freeAddr(t), "--http", api)
		if err == nil || !strings.Contains(err.Error(), "is cs1, not cs9") {
			t.Errorf("adding with another server's address: %v", err)
		}
		var css []clusterapi.ConfigServer
		ctlJSON(t, api, &css, "config-server", "list")
		if len(css) != 1 {
			t.Errorf("after refused adds: %+v", css)
		}
	})

	t.Run("fallback", func(t *testing.T) {
		// A dead address first: ctl goes on to the next one.
		var st clusterapi.Status
		ctlJSON(t, freeAddr(t)+","+api, &st, "status")
		if st.ID != "cs1" {
			t.Errorf("status through a dead address first: %+v", st)
		}
	})

	t.Run("unreachable", func(t *testing.T) {
		_, err := ctl(t, freeAddr(t), "status")
		if err == nil || !strings.Contains(err.Error(), "no config server answered") {
			t.Errorf("err = %v", err)
		}
	})
}

func TestHumanise(t *testing.T) {
	for n, want := range map[int64]string{0: "0 B", 1023: "1023 B", 1024: "1.0 KiB", 1 << 30: "1.0 GiB", 1536 << 20: "1.5 GiB"} {
		if got := humanBytes(n); got != want {
			t.Errorf("humanBytes(%d) = %q, want %q", n, got, want)
		}
	}
	now := time.Now()
	for d, want := range map[time.Duration]string{300 * time.Millisecond: "0.3s ago", 12 * time.Second: "12s ago",
		250 * time.Second: "4m10s ago", 3 * time.Hour: "3h00m ago", 72 * time.Hour: "3d ago"} {
		if got := ago(now.Add(-d), now); got != want {
			t.Errorf("ago(%s) = %q, want %q", d, got, want)
		}
	}
	if got := ago(time.Time{}, now); got != "-" {
		t.Errorf("ago(zero) = %q", got)
	}
}

func TestParsePeers(t *testing.T) {
	p, err := parsePeers("cs1=10.0.0.1:5199, cs2=10.0.0.2:5199,cs3=10.0.0.3:5199")
	if err != nil || len(p) != 3 || p[1].ID != "cs2" || p[1].Raft != "10.0.0.2:5199" {
		t.Errorf("parsePeers = %+v, %v", p, err)
	}
	if p, err := parsePeers(""); err != nil || len(p) != 0 {
		t.Errorf("parsePeers(\"\") = %+v, %v", p, err)
	}
	for _, bad := range []string{"cs1", "cs1=", "=a:1", "cs1=a:1,cs1=b:1"} {
		if _, err := parsePeers(bad); err == nil {
			t.Errorf("parsePeers(%q): no error", bad)
		}
	}
}

func TestConfigFlags(t *testing.T) {
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"config"}, "--id is required"},
		{[]string{"config", "--id", "cs1", "--join", "--peers", "cs1=127.0.0.1:1"}, "exclude each other"},
		{[]string{"config", "--id", "cs1", "--peers", "cs2=127.0.0.1:1,cs3=127.0.0.1:2"}, "must list this server"},
		{[]string{"config", "--id", "cs1", "--peers", "cs1"}, "not id=raft-address"},
	} {
		root := rootCmd()
		root.SetOut(io.Discard)
		root.SetErr(io.Discard)
		root.SetArgs(c.args)
		err := root.ExecuteContext(context.Background())
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("granary %s: %v, want %q", strings.Join(c.args, " "), err, c.want)
		}
	}
}
