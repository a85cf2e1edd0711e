package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// syncBuffer is a bytes.Buffer safe to write from runDev and read from the test.
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

func freePort(t *testing.T) int {
	t.Helper()
	_, p, _ := net.SplitHostPort(freeAddr(t))
	n, _ := strconv.Atoi(p)
	return n
}

// startDev runs a dev cluster until ctx ends and returns it once ready,
// with the channel runDev's result arrives on.
func startDev(t *testing.T, ctx context.Context, o devOptions, out *syncBuffer) (*devCluster, <-chan error) {
	t.Helper()
	readyc := make(chan *devCluster, 1)
	done := make(chan error, 1)
	go func() { done <- runDev(ctx, o, func(c *devCluster) { readyc <- c }) }()
	select {
	case c := <-readyc:
		return c, done
	case err := <-done:
		t.Fatalf("dev stopped before it was ready: %v\n%s", err, out.String())
	case <-time.After(90 * time.Second):
		t.Fatalf("dev not ready after 90s:\n%s", out.String())
	}
	return nil, nil
}

func TestDevSmoke(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a dev cluster")
	}
	var out syncBuffer
	o := devOptions{
		Port:     freePort(t),
		HTTPPort: freePort(t),
		RaftPort: freePort(t),
		// 0: every data server takes a free port.
		DataPort:     0,
		DataHTTPPort: 0,
		Logger:       slog.New(slog.NewTextHandler(io.Discard, nil)),
		Out:          &out,
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	c, done := startDev(t, ctx, o, &out)
	greeting := out.String()
	wantContains(t, "greeting", greeting, fmt.Sprintf("redis-cli -c -p %d", o.Port), "granary ctl --config-servers",
		c.Config.HTTPAddr()+"/metrics", c.Config.HTTPAddr()+"/ui/", "3 data servers")

	// Retries: on a loaded machine (CI runs packages side by side under
	// the race detector) a fresh cluster may fail a node over, and its
	// buckets answer TRYAGAIN until their new primary caught up.
	rdb := redis.NewClusterClient(&redis.ClusterOptions{Addrs: []string{c.Config.RESPAddr()}, MaxRedirects: 8,
		MaxRetries: 40, MinRetryBackoff: 50 * time.Millisecond, MaxRetryBackoff: 500 * time.Millisecond})
	defer rdb.Close()
	tctx, tcancel := context.WithTimeout(ctx, 60*time.Second)
	defer tcancel()
	const n = 500
	for i := range n {
		if err := rdb.Set(tctx, fmt.Sprintf("key:%d", i), fmt.Sprintf("value-%d", i), 0).Err(); err != nil {
			t.Fatalf("SET key:%d: %v", i, err)
		}
	}
	for i := range n {
		got, err := rdb.Get(tctx, fmt.Sprintf("key:%d", i)).Result()
		if err != nil || got != fmt.Sprintf("value-%d", i) {
			t.Fatalf("GET key:%d = %q, %v", i, got, err)
		}
	}
	// Keys spread over every data server.
	if len(c.Data) != 3 {
		t.Fatalf("%d data servers", len(c.Data))
	}
	var shards atomic.Int32 // ForEachMaster calls in parallel
	if err := rdb.ForEachMaster(tctx, func(ctx context.Context, m *redis.Client) error {
		shards.Add(1)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if shards := shards.Load(); shards != 3 {
		t.Errorf("client sees %d primaries, want 3", shards)
	}

	// Multi-key commands work within one bucket, chosen by a hash tag.
	var keys []string
	for i := range 10 {
		k := fmt.Sprintf("{user:42}:field%d", i)
		keys = append(keys, k)
		if err := rdb.Set(tctx, k, strconv.Itoa(i), 0).Err(); err != nil {
			t.Fatal(err)
		}
	}
	vals, err := rdb.MGet(tctx, keys...).Result()
	if err != nil {
		t.Fatalf("MGET: %v", err)
	}
	for i, v := range vals {
		if v != strconv.Itoa(i) {
			t.Errorf("MGET[%d] = %v", i, v)
		}
	}

	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("dev: %v", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("dev did not stop within 30s")
	}
	if !strings.Contains(out.String(), "stopping") {
		t.Errorf("no 'stopping' in\n%s", out.String())
	}
}
