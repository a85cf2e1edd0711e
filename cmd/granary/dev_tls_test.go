package main

import (
	"context"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"granary/internal/clusterapi"
	"granary/internal/tlsconfig"
)

// TestDevTLS runs `granary dev --tls`: every port speaks TLS with the
// generated certificates, which a cluster client and the API client trust
// through the generated CA; a plain client gets nothing.
func TestDevTLS(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a dev cluster")
	}
	var out syncBuffer
	o := devOptions{Port: freePort(t), HTTPPort: freePort(t), RaftPort: freePort(t), TLS: true, Nodes: 2,
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil)), Out: &out}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	c, done := startDev(t, ctx, o, &out)
	wantContains(t, "greeting", out.String(), "redis-cli --tls --cacert "+c.TLS.CA, "--tls-ca-cert-file "+c.TLS.CA,
		"https://"+c.Config.HTTPAddr()+"/metrics")

	cfg, err := tlsconfig.Files{CA: c.TLS.CA}.Client()
	if err != nil {
		t.Fatal(err)
	}
	tctx, tcancel := context.WithTimeout(ctx, 60*time.Second)
	defer tcancel()
	rdb := redis.NewClusterClient(&redis.ClusterOptions{Addrs: []string{c.Config.RESPAddr()}, TLSConfig: cfg,
		MaxRedirects: 8, MaxRetries: 40, MinRetryBackoff: 50 * time.Millisecond, MaxRetryBackoff: 500 * time.Millisecond})
	defer rdb.Close()
	if err := rdb.Set(tctx, "tls:key", "v", 0).Err(); err != nil {
		t.Fatalf("SET over TLS: %v", err)
	}
	if got, err := rdb.Get(tctx, "tls:key").Result(); err != nil || got != "v" {
		t.Fatalf("GET over TLS = %q, %v", got, err)
	}
	if _, err := clusterapi.NewClientTLS([]string{c.Config.HTTPAddr()}, cfg).Status(tctx); err != nil {
		t.Fatalf("API over TLS: %v", err)
	}
	if _, err := clusterapi.NewClient([]string{c.Config.HTTPAddr()}).Status(tctx); err == nil {
		t.Error("the API answered plain HTTP")
	}
	plain := redis.NewClient(&redis.Options{Addr: c.Data[0].Addr(), MaxRetries: -1, DialTimeout: time.Second, ReadTimeout: time.Second})
	defer plain.Close()
	if got, err := plain.Ping(tctx).Result(); err == nil {
		t.Errorf("a data server answered plain PING with %q", got)
	}
	cancel()
	if err := <-done; err != nil {
		t.Errorf("dev: %v", err)
	}
}
