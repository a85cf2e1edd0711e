package dataserver

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"granary/internal/clusterapi"
	"granary/internal/configserver"
)

// Tables reach the data servers as soon as they are committed (the long
// poll), not with their next heartbeat: here heartbeats come once a minute.
func TestTablesArriveBetweenHeartbeats(t *testing.T) {
	cs, err := configserver.Start(context.Background(), configserver.Options{
		ID: "cs1", Dir: filepath.Join(t.TempDir(), "cs1"),
		Raft: "127.0.0.1:0", HTTP: "127.0.0.1:0", RESP: "127.0.0.1:0",
		Peers:   []configserver.Peer{{ID: "cs1", Raft: "127.0.0.1:0"}},
		AutoAdd: true, Copies: 2, MinNodes: 3,
		HeartbeatInterval: time.Minute, DownTimeout: 10 * time.Minute,
		Logger: quiet(),
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cs.Close() })
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := cs.WaitLeader(ctx); err != nil {
		t.Fatal(err)
	}
	api := clusterapi.NewClient([]string{cs.HTTPAddr()})
	ds1 := start(t, Options{ConfigServers: []string{cs.HTTPAddr()}, Dir: t.TempDir()})
	ds2 := start(t, Options{ConfigServers: []string{cs.HTTPAddr()}, Dir: t.TempDir()})
	ds3 := start(t, Options{ConfigServers: []string{cs.HTTPAddr()}, Dir: t.TempDir()})
	// The first table needs all three: the two that heartbeated before
	// the third was up, and will not again for a minute, learn it from the
	// long poll.
	waitServing(t, api, ds1, ds2, ds3)
}
