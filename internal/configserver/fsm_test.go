package configserver

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"reflect"
	"testing"

	"github.com/hashicorp/raft"

	"granary/internal/clusterapi"
	"granary/internal/routing"
)

type memSink struct{ bytes.Buffer }

func (m *memSink) ID() string    { return "mem" }
func (m *memSink) Cancel() error { return nil }
func (m *memSink) Close() error  { return nil }

var _ raft.SnapshotSink = (*memSink)(nil)

func applyEntry(t *testing.T, f *fsm, idx uint64, e entry) error {
	t.Helper()
	data, err := json.Marshal(e)
	if err != nil {
		t.Fatal(err)
	}
	r := f.Apply(&raft.Log{Index: idx, Type: raft.LogCommand, Data: data})
	if r == nil {
		return nil
	}
	return r.(error)
}

// snapshotOf returns a snapshot of f as persisted.
func snapshotOf(t *testing.T, f *fsm) []byte {
	t.Helper()
	snap, err := f.Snapshot()
	if err != nil {
		t.Fatal(err)
	}
	var sink memSink
	if err := snap.Persist(&sink); err != nil {
		t.Fatal(err)
	}
	snap.Release()
	return sink.Bytes()
}

// restored returns a new state machine restored from a snapshot of f.
func restored(t *testing.T, f *fsm) *fsm {
	t.Helper()
	g := newFSM(slog.New(slog.NewTextHandler(io.Discard, nil)), nil)
	if err := g.Restore(io.NopCloser(bytes.NewReader(snapshotOf(t, f)))); err != nil {
		t.Fatal(err)
	}
	return g
}

func TestFSMSnapshotRestore(t *testing.T) {
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	var published *routing.Table
	f := newFSM(log, func(rt *routing.Table) { published = rt })
	if published == nil || published.Epoch != 0 || published.Primary(0) != -1 {
		t.Fatalf("initial routing view %+v", published)
	}
	idx := uint64(0)
	must := func(e entry) {
		t.Helper()
		idx++
		if err := applyEntry(t, f, idx, e); err != nil {
			t.Fatalf("%s: %v", e.Type, err)
		}
	}
	refused := func(e entry, code int) {
		t.Helper()
		idx++
		err := applyEntry(t, f, idx, e)
		var ae *apiError
		if !errors.As(err, &ae) || ae.Code != code {
			t.Fatalf("%s: %v, want HTTP %d", e.Type, err, code)
		}
	}
	must(entry{Type: opSettings, Settings: &clusterapi.Settings{Copies: 2, MinNodes: 2}})
	var states []routing.NodeState
	for i := range 3 {
		n := clusterapi.Node{ID: nodeID(i), Addr: "10.0.0.1:" + itoa(7001+i), Internal: "10.0.0.1:" + itoa(9001+i), Zone: "z" + itoa(i%2)}
		must(entry{Type: opNodeAdd, Node: &clusterapi.Node{ID: n.ID}})
		must(entry{Type: opNodeUp, Node: &n})
		states = append(states, routing.NodeState{Node: routingNode(n)})
	}
	refused(entry{Type: opNodeAdd, Node: &clusterapi.Node{ID: nodeID(0)}}, http.StatusConflict)
	refused(entry{Type: opNodeUp, Node: &clusterapi.Node{ID: nodeID(9), Addr: "10.0.0.9:1"}}, http.StatusNotFound)
	rt, _, err := routing.Build(nil, states, 2)
	if err != nil {
		t.Fatal(err)
	}
	tb := clusterapi.FromRouting(rt)
	refused(entry{Type: opTable, Table: &tb, PrevEpoch: 5}, http.StatusConflict)
	must(entry{Type: opTable, Table: &tb, PrevEpoch: 0})
	if published.Epoch != 1 || published.Nodes[0].Host != "10.0.0.1" || published.Nodes[0].Port != 7001 {
		t.Fatalf("published view after the table: epoch %d nodes %+v", published.Epoch, published.Nodes)
	}
	refused(entry{Type: opTable, Table: &tb, PrevEpoch: 1}, http.StatusBadRequest) // epoch not above
	// A node in the table going down: a new epoch, a view marking it failed.
	must(entry{Type: opNodeDown, ID: nodeID(2)})
	if published.Epoch != 2 || !published.Nodes[2].Fail {
		t.Fatalf("published view after a node went down: epoch %d nodes %+v", published.Epoch, published.Nodes)
	}
	// A node in the table at a new address: a new epoch, a new view.
	moved := clusterapi.Node{ID: nodeID(1), Addr: "10.0.0.2:7002", Internal: "10.0.0.2:9002"}
	must(entry{Type: opNodeUp, Node: &moved})
	if published.Epoch != 3 || published.Nodes[1].Host != "10.0.0.2" {
		t.Fatalf("published view after a move: epoch %d nodes %+v", published.Epoch, published.Nodes)
	}
	refused(entry{Type: opNodeRemove, ID: nodeID(0)}, http.StatusConflict) // in the table: needs a new table
	must(entry{Type: opNSCreate, Namespace: &clusterapi.Namespace{ID: 1, Name: "a", Engine: "mem", Ack: "async"}})
	must(entry{Type: opNSCreate, Namespace: &clusterapi.Namespace{ID: 2, Name: "b", Engine: "mem", Ack: "sync", Quota: 5}})
	refused(entry{Type: opNSCreate, Namespace: &clusterapi.Namespace{ID: 3, Name: "a", Engine: "mem", Ack: "async"}}, http.StatusConflict)
	must(entry{Type: opNSUpdate, Namespace: &clusterapi.Namespace{ID: 2, Name: "b2", Ack: "sync", Quota: 6}})
	must(entry{Type: opNSDelete, NSID: 1})
	must(entry{Type: opCSSet, ConfigServer: &clusterapi.ConfigServer{ID: "cs1", Raft: "10.0.1.1:8300", HTTP: "10.0.1.1:8198", RESP: "10.0.1.1:5198", Leader: true}})
	must(entry{Type: opCSSet, ConfigServer: &clusterapi.ConfigServer{ID: "cs2", Raft: "10.0.1.2:8300"}})
	must(entry{Type: opCSRemove, ID: "cs2"})
	refused(entry{Type: "bogus"}, http.StatusBadRequest)

	st := f.state()
	if st.NSVersion != 4 || len(st.Namespaces) != 1 || st.Namespaces[0] != (clusterapi.Namespace{ID: 2, Name: "b2", Engine: "mem", Ack: "sync", Quota: 6}) {
		t.Fatalf("namespaces %+v version %d", st.Namespaces, st.NSVersion)
	}
	if len(st.ConfigServers) != 1 || st.ConfigServers[0].Leader {
		t.Fatalf("config servers %+v (flags are not replicated)", st.ConfigServers)
	}
	if st.Nodes[2].State != clusterapi.NodeDown || st.Table.Epoch != 3 {
		t.Fatalf("nodes %+v epoch %d", st.Nodes, st.Table.Epoch)
	}

	snap := snapshotOf(t, f)
	// Changes after the snapshot do not leak into it.
	must(entry{Type: opNSDelete, NSID: 2})

	var published2 *routing.Table
	g := newFSM(log, func(rt *routing.Table) { published2 = rt })
	g.Apply(&raft.Log{Index: 1, Type: raft.LogCommand, Data: []byte(`{"type":"ns_create","namespace":{"id":9,"name":"stale","engine":"mem","ack":"async"}}`)})
	if err := g.Restore(io.NopCloser(bytes.NewReader(snap))); err != nil {
		t.Fatal(err)
	}
	if got := g.state(); !reflect.DeepEqual(got, st) {
		t.Fatalf("restored state differs:\n got %+v\nwant %+v", got, st)
	}
	rt1, _ := f.routingView()
	if !reflect.DeepEqual(published2, rt1) || published2 != g.rt {
		t.Fatalf("restored routing view differs")
	}
	if err := g.Restore(io.NopCloser(bytes.NewReader([]byte("{not json")))); err == nil {
		t.Fatal("restore of garbage succeeded")
	}
}
