package dataserver

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"granary/internal/clusterapi"
	"granary/internal/configserver"
	"granary/internal/routing"
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
		MovesPerNode: routing.Buckets, // few steps: the test is about their tables
		Logger:       quiet(),
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
	// The first table needs all three: those that heartbeated first learn
	// it from the long poll.
	waitServing(t, api, ds1, ds2, ds3)

	// A drain plans a migration: every step is a new table, and the
	// drained node's buckets go once it learns of each step in time.
	if _, err := api.DrainNode(ctx, ds2.Node().ID); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 2*time.Minute, "the drained node left with no bucket", func() bool {
		st, err := api.Status(ctx)
		if err != nil || st.Epoch < 2 {
			return false
		}
		tbl := ds2.Node().Table()
		if tbl.Epoch != st.Epoch || ds1.Node().Table().Epoch != st.Epoch || ds3.Node().Table().Epoch != st.Epoch {
			return false
		}
		x := indexOf(tbl, ds2.Node().ID)
		for b := range tbl.Replicas {
			for _, r := range tbl.Replicas[b] {
				if r == x {
					return false
				}
			}
		}
		return true
	})
}
