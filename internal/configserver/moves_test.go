package configserver

import (
	"io"
	"log/slog"
	"slices"
	"testing"
	"time"

	"granary/internal/clusterapi"
	"granary/internal/routing"
)

// TestHandoverMarks: the state machine marks a bucket Handed only when a
// table entry changes its primary away from a frozen one (what the
// migration scheduler commits), keeps the mark while that primary's term
// lasts, and drops it with the next change of primary; a failover of a
// frozen bucket (node_down) clears the freeze and marks nothing, so the new
// primary waits out the old one's lease.
func TestHandoverMarks(t *testing.T) {
	f := newFSM(slog.New(slog.NewTextHandler(io.Discard, nil)), nil)
	idx := uint64(0)
	apply := func(e entry) {
		t.Helper()
		idx++
		if err := applyEntry(t, f, idx, e); err != nil {
			t.Fatalf("entry %d (%s): %v", idx, e.Type, err)
		}
	}
	for _, id := range []string{nodeID(1), nodeID(2), nodeID(3)} {
		apply(entry{Type: opNodeAdd, Node: &clusterapi.Node{ID: id}})
		apply(entry{Type: opNodeUp, Node: &clusterapi.Node{ID: id, Addr: "127.0.0.1:1"}})
	}
	nodes := []string{nodeID(1), nodeID(2), nodeID(3)}
	table := func(epoch uint64, ranges ...clusterapi.Range) {
		t.Helper()
		prev := f.epoch()
		apply(entry{Type: opTable, PrevEpoch: prev, Table: &clusterapi.Table{Epoch: epoch, Nodes: nodes, Ranges: ranges}})
	}
	all := func(r clusterapi.Range) clusterapi.Range { r.First, r.Last = 0, routing.Buckets-1; return r }
	view := func() *routing.Table { rt, _ := f.routingView(); return rt }

	table(1, all(clusterapi.Range{Replicas: []int{0, 1}}))
	// A learner, then the freeze, then the handover to the learner.
	table(2, all(clusterapi.Range{Replicas: []int{0, 1}, Learners: []int{2}}))
	table(3, all(clusterapi.Range{Replicas: []int{0, 1}, Learners: []int{2}, Frozen: true}))
	if !view().Frozen[7] {
		t.Fatal("the frozen table lost its freeze")
	}
	table(4, all(clusterapi.Range{Replicas: []int{2, 1}, Handed: true}))
	if v := view(); !v.Handed[7] || v.Frozen[7] || v.Terms[7] != 4 {
		t.Fatalf("handover: handed %v frozen %v term %d; want handed, not frozen, term 4", v.Handed[7], v.Frozen[7], v.Terms[7])
	}
	// The next table keeps the primary: the mark stays, even when the
	// table leaves it out.
	table(5, all(clusterapi.Range{Replicas: []int{2, 1}}))
	if !view().Handed[7] {
		t.Fatal("a table that keeps the primary lost the handover mark")
	}
	// A mark on a bucket that was not frozen is dropped.
	table(6, all(clusterapi.Range{Replicas: []int{1, 2}, Handed: true}))
	if view().Handed[7] {
		t.Fatal("a change of primary from an unfrozen bucket kept the handover mark")
	}
	// A frozen bucket whose primary fails: the freeze ends with the new
	// primary, which gets no mark (it must wait out the old lease).
	table(7, all(clusterapi.Range{Replicas: []int{1, 2}, Frozen: true}))
	apply(entry{Type: opNodeDown, ID: nodeID(2)})
	if v := view(); v.Frozen[7] || v.Handed[7] || v.Primary(7) != 2 {
		t.Fatalf("failover of a frozen bucket: frozen %v handed %v primary %d; want neither, primary node 3", v.Frozen[7], v.Handed[7], v.Primary(7))
	}
}

// TestIdealFraction: the least any balanced layout moves.
func TestIdealFraction(t *testing.T) {
	n := func(i int) routing.Node { return routing.Node{ID: nodeID(i)} }
	cur := &routing.Table{Nodes: []routing.Node{n(1), n(2), n(3)}}
	for b := range cur.Replicas {
		cur.Replicas[b] = []int{b % 3, (b + 1) % 3}
	}
	up := func(ids ...int) []routing.NodeState {
		var out []routing.NodeState
		for _, i := range ids {
			out = append(out, routing.NodeState{Node: n(i), Status: routing.NodeUp})
		}
		return out
	}
	for _, tc := range []struct {
		name   string
		states []routing.NodeState
		want   float64
	}{
		{"balanced", up(1, 2, 3), 0},
		{"one joins three", up(1, 2, 3, 4), 0.25},
		{"two join three", up(1, 2, 3, 4, 5), 0.4},
		{"one of three drains", append(up(1, 2), routing.NodeState{Node: n(3), Status: routing.NodeDraining}), 1.0 / 3},
	} {
		if got := idealFraction(cur, tc.states); got < tc.want-0.001 || got > tc.want+0.001 {
			t.Errorf("%s: %.4f, want %.4f", tc.name, got, tc.want)
		}
	}
}

// A handover whose target goes down while the bucket is frozen is called
// off: the primary serves again with the copies it had, instead of the
// bucket waiting on a dead node or going to a secondary with one copy.
func TestHandoverCalledOffWhenTargetDown(t *testing.T) {
	s := startSingle(t, func(o *Options) { o.MinNodes = 10; o.Copies = 2; o.DownTimeout = time.Hour })
	nodes := []string{nodeID(1), nodeID(2), nodeID(3)}
	all := func(r clusterapi.Range) clusterapi.Range { r.First, r.Last = 0, routing.Buckets-1; return r }
	s.wmu.Lock()
	defer s.wmu.Unlock()
	apply := func(e entry) {
		t.Helper()
		if err := s.apply(&e); err != nil {
			t.Fatalf("%s: %v", e.Type, err)
		}
	}
	for _, id := range nodes {
		apply(entry{Type: opNodeAdd, Node: &clusterapi.Node{ID: id}})
		apply(entry{Type: opNodeUp, Node: &clusterapi.Node{ID: id, Addr: "127.0.0.1:1"}})
	}
	apply(entry{Type: opTable, Table: &clusterapi.Table{Epoch: 1, Nodes: nodes, Ranges: []clusterapi.Range{all(clusterapi.Range{Replicas: []int{0, 1}})}}})
	apply(entry{Type: opPlan, Table: &clusterapi.Table{Epoch: 1, Nodes: nodes, Ranges: []clusterapi.Range{all(clusterapi.Range{Replicas: []int{2, 1}})}}})
	apply(entry{Type: opTable, PrevEpoch: 1, Table: &clusterapi.Table{Epoch: 2, Nodes: nodes,
		Ranges: []clusterapi.Range{all(clusterapi.Range{Replicas: []int{0, 1}, Learners: []int{2}, Frozen: true})}}})
	apply(entry{Type: opNodeDown, ID: nodeID(3)})
	if err := s.migrate(); err != nil {
		t.Fatal(err)
	}
	v, _ := s.fsm.routingView()
	if v.Frozen[7] || len(v.Learners[7]) > 0 || !slices.Equal(v.Replicas[7], []int{0, 1}) {
		t.Fatalf("after the target went down: replicas %v learners %v frozen %v; want [0 1], none, not frozen",
			v.Replicas[7], v.Learners[7], v.Frozen[7])
	}
}
