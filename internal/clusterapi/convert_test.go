package clusterapi

import (
	"reflect"
	"strings"
	"testing"

	"granary/internal/routing"
)

func TestRoutingRoundTrip(t *testing.T) {
	rt := &routing.Table{Epoch: 7, Nodes: []routing.Node{
		{ID: "a", Host: "127.0.0.1", Port: 7001, Zone: "z1"},
		{ID: "b", Host: "127.0.0.2", Port: 7002, Zone: "z2", Fail: true},
	}}
	for b := range rt.Replicas {
		switch {
		case b < 100: // unassigned
		case b%3 == 0:
			rt.Replicas[b] = []int{1, 0}
		default:
			rt.Replicas[b] = []int{0, 1}
		}
	}
	nodes := []Node{
		{ID: "a", Addr: "127.0.0.1:7001", Zone: "z1", State: NodeUp},
		{ID: "b", Addr: "127.0.0.2:7002", Zone: "z2", State: NodeDown},
	}
	wire := FromRouting(rt)
	back, err := ToRouting(&wire, nodes)
	if err != nil {
		t.Fatal(err)
	}
	if back.Epoch != rt.Epoch || !reflect.DeepEqual(back.Nodes, rt.Nodes) {
		t.Fatalf("nodes or epoch differ: %+v vs %+v", back.Nodes, rt.Nodes)
	}
	for b := range rt.Replicas {
		if !reflect.DeepEqual(back.Replicas[b], rt.Replicas[b]) && (len(back.Replicas[b]) != 0 || len(rt.Replicas[b]) != 0) {
			t.Fatalf("bucket %d: %v, want %v", b, back.Replicas[b], rt.Replicas[b])
		}
	}
}

func TestToRoutingRejects(t *testing.T) {
	nodes := []Node{{ID: "a", Addr: "127.0.0.1:7001"}}
	cases := []struct {
		name  string
		table Table
		want  string
	}{
		{"range past the last bucket", Table{Nodes: []string{"a"}, Ranges: []Range{{First: 0, Last: routing.Buckets, Replicas: []int{0}}}}, "bad bucket range"},
		{"reversed range", Table{Nodes: []string{"a"}, Ranges: []Range{{First: 9, Last: 3, Replicas: []int{0}}}}, "bad bucket range"},
		{"replica index out of range", Table{Nodes: []string{"a"}, Ranges: []Range{{First: 0, Last: 3, Replicas: []int{1}}}}, "out of range"},
		{"bad address", Table{Nodes: []string{"x"}}, "address"},
	}
	bad := append(nodes, Node{ID: "x", Addr: "no-port"})
	for _, c := range cases {
		if _, err := ToRouting(&c.table, bad); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: err = %v, want it to mention %q", c.name, err, c.want)
		}
	}
}
