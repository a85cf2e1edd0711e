package dataserver

import (
	"context"
	"fmt"
	"testing"
	"time"

	"granary/internal/clusterapi"
	"granary/internal/configserver"
	"granary/internal/routing"
)

// A drain that moves every bucket of a node at once (moves per node 16384):
// its primary's heartbeats carry a report per copy, over a megabyte, and
// the move finishes. Heartbeats come seldom (the config servers ask for one
// each 10 s at most): the steps go on tables pushed by the long poll and
// heartbeats sent when replication has news.
func TestDrainEveryBucketAtOnce(t *testing.T) {
	cs := startConfigServerWith(t, func(o *configserver.Options) {
		o.AutoAdd, o.MinNodes = true, 3
		o.HeartbeatInterval, o.DownTimeout = time.Minute, 10*time.Minute
		o.MovesPerNode = routing.Buckets
	})
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	api := clusterapi.NewClient([]string{cs.HTTPAddr()})
	ds1 := start(t, Options{ConfigServers: []string{cs.HTTPAddr()}, Dir: t.TempDir()})
	ds2 := start(t, Options{ConfigServers: []string{cs.HTTPAddr()}, Dir: t.TempDir()})
	ds3 := start(t, Options{ConfigServers: []string{cs.HTTPAddr()}, Dir: t.TempDir()})
	waitServing(t, api, ds1, ds2, ds3)

	if _, err := api.DrainNode(ctx, ds2.Node().ID); err != nil {
		t.Fatal(err)
	}
	done := func() bool {
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
	}
	deadline := time.Now().Add(90 * time.Second)
	for !done() {
		if time.Now().After(deadline) {
			st, _ := api.Status(ctx)
			mv, _ := api.Moves(ctx)
			t.Logf("status epoch %d; tables ds1 %d ds2 %d ds3 %d; moves left %d active %d", st.Epoch,
				ds1.Node().Table().Epoch, ds2.Node().Table().Epoch, ds3.Node().Table().Epoch, mv.Left, len(mv.Active))
			phases := map[string]int{}
			for _, m := range mv.Active {
				phases[m.Phase+" "+m.Primary+" "+m.Learner]++
			}
			t.Logf("phases %v", phases)
			for i, ds := range []*DataServer{ds1, ds2, ds3} {
				ms, ok := ds.Node().Repl.Moves()
				kinds := map[string]int{}
				for _, m := range ms {
					kinds[fmt.Sprintf("%s caught=%v frozen=%v lag>0=%v", m.Node, m.Caught, m.Frozen, m.Lag > 0)]++
				}
				t.Logf("ds%d %s ok=%v reports %v", i+1, ds.Node().ID, ok, kinds)
			}
			t.Fatal("the drain did not finish within 90 s")
		}
		time.Sleep(10 * time.Millisecond)
	}
}
