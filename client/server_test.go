package client

import (
	"context"
	"log/slog"
	"testing"

	"granary/internal/dataserver"
)

// startServer runs a data server with opts in the process on a free
// loopback port (it owns every bucket and answers CLUSTER SLOTS as a
// one-node cluster) and returns its address; it stops when the test ends.
func startServer(t testing.TB, opts dataserver.Options) (string, *dataserver.DataServer) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	opts.Listen, opts.Logger = "127.0.0.1:0", slog.New(slog.DiscardHandler)
	ds, err := dataserver.Start(ctx, opts)
	if err != nil {
		cancel()
		t.Fatalf("data server: %v", err)
	}
	t.Cleanup(func() {
		cancel()
		ds.Close()
	})
	return ds.Addr(), ds
}

// testNamespace returns namespace id of a client of addr.
func testNamespace(t testing.TB, addr string, id uint16, opts Options) (*Client, *Namespace) {
	t.Helper()
	opts.Addrs = []string{addr}
	c, err := New(opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	ns, err := c.Namespace(id)
	if err != nil {
		t.Fatalf("Namespace(%d): %v", id, err)
	}
	return c, ns
}
