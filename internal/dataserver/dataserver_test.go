package dataserver

import (
	"bufio"
	"context"
	"io"
	"log/slog"
	"net"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

func quiet() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

func start(t *testing.T, o Options) *DataServer {
	t.Helper()
	if o.Listen == "" {
		o.Listen = "127.0.0.1:0"
	}
	if o.Logger == nil {
		o.Logger = quiet()
	}
	ds, err := Start(context.Background(), o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ds.Close() })
	return ds
}

func TestStartServeClose(t *testing.T) {
	ds := start(t, Options{Standalone: true})
	if len(ds.Node().ID) != 40 {
		t.Fatalf("node id %q", ds.Node().ID)
	}
	rc := redis.NewClient(&redis.Options{Addr: ds.Addr()})
	defer rc.Close()
	ctx := context.Background()
	if err := rc.Set(ctx, "k", "v", 0).Err(); err != nil {
		t.Fatal(err)
	}
	if got := rc.Get(ctx, "k").Val(); got != "v" {
		t.Fatalf("GET = %q", got)
	}
	if ds.Namespaces().Lookup(0) == nil {
		t.Fatal("namespace 0 not created")
	}
	if err := ds.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	select {
	case <-ds.Done():
	case <-time.After(5 * time.Second):
		t.Fatal("Done not closed after Close")
	}
	if err := ds.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	if _, err := net.DialTimeout("tcp", ds.Addr(), time.Second); err == nil {
		t.Fatal("still accepting after Close")
	}
}

func TestContextCancelStops(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	ds, err := Start(ctx, Options{Listen: "127.0.0.1:0", Logger: quiet()})
	if err != nil {
		t.Fatal(err)
	}
	defer ds.Close()
	cancel()
	select {
	case <-ds.Done():
	case <-time.After(5 * time.Second):
		t.Fatal("server did not stop when its context was cancelled")
	}
}

func TestListenError(t *testing.T) {
	ds := start(t, Options{})
	if _, err := Start(context.Background(), Options{Listen: ds.Addr(), Logger: quiet()}); err == nil {
		t.Fatal("Start on a used address succeeded")
	}
}

func TestOptions(t *testing.T) {
	ds := start(t, Options{RequirePass: "pw", MaxClients: 2, Quota: 1 << 20})
	ctx := context.Background()
	rc := redis.NewClient(&redis.Options{Addr: ds.Addr(), Password: "pw", PoolSize: 1})
	defer rc.Close()
	if got := rc.ConfigGet(ctx, "maxmemory").Val()["maxmemory"]; got != strconv.Itoa(1<<20) {
		t.Fatalf("maxmemory = %q", got)
	}
	if got := rc.ConfigGet(ctx, "maxclients").Val()["maxclients"]; got != "2" {
		t.Fatalf("maxclients = %q", got)
	}
	if got := rc.Info(ctx, "server").Val(); !strings.Contains(got, "redis_mode:cluster") {
		t.Fatalf("INFO server: %s", got)
	}
	noPass := redis.NewClient(&redis.Options{Addr: ds.Addr(), PoolSize: 1})
	defer noPass.Close()
	if err := noPass.Get(ctx, "k").Err(); err == nil || !strings.HasPrefix(err.Error(), "NOAUTH") {
		t.Fatalf("without password: %v", err)
	}
	// Two clients are connected: a third is refused.
	nc, err := net.Dial("tcp", ds.Addr())
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	nc.SetReadDeadline(time.Now().Add(5 * time.Second))
	l, _ := bufio.NewReader(nc).ReadString('\n')
	if l != "-ERR max number of clients reached\r\n" {
		t.Fatalf("third client got %q", l)
	}
}
