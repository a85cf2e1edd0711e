package dataserver

import (
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestNodeID(t *testing.T) {
	const id1 = "0123456789abcdef0123456789abcdef01234567"
	const id2 = "89abcdef0123456789abcdef0123456789abcdef"

	// No directory: the given one, or a new one each time.
	if got, err := nodeID(strings.ToUpper(id1), ""); err != nil || got != id1 {
		t.Fatalf("given id: %q, %v", got, err)
	}
	a, _ := nodeID("", "")
	b, _ := nodeID("", "")
	if !validID(a) || !validID(b) || a == b {
		t.Fatalf("random ids %q %q", a, b)
	}
	for _, bad := range []string{"abc", id1 + "0", "g123456789abcdef0123456789abcdef01234567"} {
		if _, err := nodeID(bad, ""); err == nil {
			t.Errorf("id %q accepted", bad)
		}
	}

	// A directory: made up once, then kept.
	dir := t.TempDir()
	first, err := nodeID("", dir)
	if err != nil || !validID(first) {
		t.Fatalf("new id in dir: %q, %v", first, err)
	}
	if again, err := nodeID("", dir); err != nil || again != first {
		t.Fatalf("id read back %q, %v; want %q", again, err, first)
	}
	if same, err := nodeID(first, dir); err != nil || same != first {
		t.Fatalf("given id equal to saved: %q, %v", same, err)
	}
	if _, err := nodeID(id2, dir); err == nil || !strings.Contains(err.Error(), "differs") {
		t.Fatalf("id differing from the saved one: %v", err)
	}

	// A given id is saved in a fresh directory.
	dir2 := t.TempDir()
	if got, err := nodeID(id2, dir2); err != nil || got != id2 {
		t.Fatalf("given id, fresh dir: %q, %v", got, err)
	}
	if got, err := nodeID("", dir2); err != nil || got != id2 {
		t.Fatalf("saved given id: %q, %v", got, err)
	}

	// A damaged file is an error, not a new identity.
	os.WriteFile(filepath.Join(dir2, nodeIDFile), []byte("junk\n"), 0o644)
	if _, err := nodeID("", dir2); err == nil {
		t.Fatal("junk node-id accepted")
	}
}

func TestAdvertised(t *testing.T) {
	tcp := func(s string) net.Addr {
		a, err := net.ResolveTCPAddr("tcp", s)
		if err != nil {
			t.Fatal(err)
		}
		return a
	}
	cases := []struct {
		adv, bound string
		clustered  bool
		host       string
		port       int
		bad        bool
	}{
		{"", "127.0.0.1:7001", true, "127.0.0.1", 7001, false},
		{"", "0.0.0.0:7001", true, "", 0, true},
		{"", "[::]:7001", true, "", 0, true},
		{"", "0.0.0.0:7001", false, "", 7001, false}, // standalone: each client is told its own address
		{"10.0.0.5:6000", "0.0.0.0:7001", true, "10.0.0.5", 6000, false},
		{"10.0.0.5", "0.0.0.0:7001", true, "10.0.0.5", 7001, false},
		{"db1.example:0", "0.0.0.0:7001", true, "db1.example", 7001, false},
		{"[fe80::1]:6000", "[::]:7001", true, "fe80::1", 6000, false},
		{"fe80::1", "[::]:7001", true, "fe80::1", 7001, false},
		{"0.0.0.0:6000", "0.0.0.0:7001", true, "", 0, true},
		{":6000", "0.0.0.0:7001", true, "", 0, true},
		{"h:port", "0.0.0.0:7001", true, "", 0, true},
	}
	for _, c := range cases {
		host, port, err := advertised(c.adv, tcp(c.bound), c.clustered)
		if (err != nil) != c.bad || (!c.bad && (host != c.host || port != c.port)) {
			t.Errorf("advertised(%q, %s, %v) = %q %d %v; want %q %d bad=%v",
				c.adv, c.bound, c.clustered, host, port, err, c.host, c.port, c.bad)
		}
	}
}

func TestOptionErrors(t *testing.T) {
	for name, o := range map[string]Options{
		"standalone and config servers": {Standalone: true, ConfigServers: []string{"127.0.0.1:1"}},
		"config server without port":    {ConfigServers: []string{"localhost"}},
		"wildcard without advertise":    {Listen: "0.0.0.0:0", ConfigServers: []string{"127.0.0.1:1"}},
		"bad id":                        {Standalone: true, ID: "xyz"},
	} {
		if o.Listen == "" {
			o.Listen = "127.0.0.1:0"
		}
		o.Logger = quiet()
		if ds, err := Start(t.Context(), o); err == nil {
			ds.Close()
			t.Errorf("%s: started", name)
		}
	}
}

// A data directory serves one data server at a time, and keeps its id.
func TestDirLockAndID(t *testing.T) {
	dir := t.TempDir()
	a := start(t, Options{Standalone: true, Dir: dir})
	if _, err := Start(t.Context(), Options{Standalone: true, Dir: dir, Listen: "127.0.0.1:0", Logger: quiet()}); err == nil ||
		!strings.Contains(err.Error(), "in use") {
		t.Fatalf("second server on the same directory: %v", err)
	}
	id := a.Node().ID
	a.Close()
	b := start(t, Options{Standalone: true, Dir: dir})
	if b.Node().ID != id {
		t.Fatalf("id after restart %s, want %s", b.Node().ID, id)
	}
}
