package configserver

import (
	"context"
	"net/http"
	"testing"
	"time"

	"granary/internal/clusterapi"
)

// GET /v1/table/next answers as soon as a newer table is committed, and
// with nothing once its wait is over.
func TestNextTable(t *testing.T) {
	s := startSingle(t, func(o *Options) {
		o.MinNodes = 3
		o.HeartbeatInterval = 50 * time.Millisecond
	})
	ctx := ctxT(t)
	cl := clusterapi.NewClient([]string{s.HTTPAddr()})

	// Asked before any table exists: an answer with a table is one that
	// came when the table was committed (an expired wait answers empty).
	first := pollNext(ctx, cl, 0)

	var fakes []*fakeNode
	for i := range 3 {
		if _, err := cl.AddNode(ctx, clusterapi.NodeAdd{ID: nodeID(i)}); err != nil {
			t.Fatal(err)
		}
		f := newFakeNode(i, []string{s.HTTPAddr()})
		f.start(50 * time.Millisecond)
		fakes = append(fakes, f)
	}
	defer func() {
		for _, f := range fakes {
			f.stop()
		}
	}()
	r := <-first
	if r.err != nil {
		t.Fatal(r.err)
	}
	if r.u.Table == nil || r.u.Table.Epoch < 1 {
		t.Fatalf("the long poll ended without the first table: %+v", r.u)
	}
	if len(r.u.Nodes) != 3 {
		t.Fatalf("the update lists %d nodes, want the table's 3", len(r.u.Nodes))
	}

	// Nothing newer: an empty answer once the wait is over.
	u, err := cl.NextTable(ctx, r.u.Table.Epoch+1000, 200*time.Millisecond)
	if err != nil {
		t.Fatal(err)
	}
	if u.Table != nil {
		t.Fatalf("a table for an epoch nobody reached: %+v", u.Table.Epoch)
	}

	// A table the caller has: the current one comes at once.
	u, err = cl.NextTable(ctx, 0, 4*time.Second)
	if err != nil || u.Table == nil {
		t.Fatalf("after 0: %+v, %v", u, err)
	}

	for _, q := range []string{"?wait=1s", "?after=x&wait=1s", "?after=1", "?after=1&wait=-1s"} {
		resp, err := http.Get("http://" + s.HTTPAddr() + "/v1/table/next" + q)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusBadRequest {
			t.Errorf("%s: status %d, want 400", q, resp.StatusCode)
		}
	}
}

// A config server that shuts down answers its pending long polls (empty)
// instead of leaving them to be cut when its HTTP server closes.
func TestNextTableEndsAtShutdown(t *testing.T) {
	s := startSingle(t, nil)
	cl := clusterapi.NewClient([]string{s.HTTPAddr()})
	got := pollNext(context.Background(), cl, 1000)
	eventually(t, 10*time.Second, "the long poll waiting", func() bool {
		s.fsm.mu.RLock()
		defer s.fsm.mu.RUnlock()
		return s.fsm.routed != nil
	})
	s.Close()
	r := <-got
	if r.err != nil {
		t.Fatalf("the long poll was cut at shutdown: %v", r.err)
	}
	if r.u.Table != nil {
		t.Fatalf("a table for epoch 1000: %+v", r.u.Table.Epoch)
	}
}

// nextResult is the outcome of a long poll for the next table.
type nextResult struct {
	u   *clusterapi.TableUpdate
	err error
}

// pollNext asks, in the background, for the table after epoch, waiting up
// to 4 s.
func pollNext(ctx context.Context, cl *clusterapi.Client, epoch uint64) <-chan nextResult {
	ch := make(chan nextResult, 1)
	go func() {
		u, err := cl.NextTable(ctx, epoch, 4*time.Second)
		ch <- nextResult{u, err}
	}()
	return ch
}
