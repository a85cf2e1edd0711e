package main

import (
	"strings"
	"testing"

	"granary/internal/clusterapi"
	"granary/internal/verify"
)

func TestParseBucketRange(t *testing.T) {
	for _, tc := range []struct {
		in          string
		first, last int
		err         bool
	}{
		{"", 0, 16383, false},
		{"5", 5, 5, false},
		{"0-1023", 0, 1023, false},
		{"16383", 16383, 16383, false},
		{"16384", 0, 0, true},
		{"10-5", 0, 0, true},
		{"-1", 0, 0, true},
		{"a-b", 0, 0, true},
		{"1-", 0, 0, true},
	} {
		first, last, err := parseBucketRange(tc.in)
		if (err != nil) != tc.err || (!tc.err && (first != tc.first || last != tc.last)) {
			t.Errorf("parseBucketRange(%q) = %d, %d, %v", tc.in, first, last, err)
		}
	}
}

func TestBucketReplicas(t *testing.T) {
	st := &clusterapi.State{
		Nodes: []clusterapi.Node{{ID: "a", Addr: "h:1"}, {ID: "b", Addr: "h:2"}},
		Table: clusterapi.Table{Nodes: []string{"a", "b"}, Ranges: []clusterapi.Range{
			{First: 0, Last: 9, Replicas: []int{0, 1}},
			{First: 10, Last: 19, Replicas: []int{1}},
			{First: 20, Last: 16383},
		}},
	}
	got, err := bucketReplicas(st, 8, 12)
	if err != nil {
		t.Fatal(err)
	}
	want := map[uint16][]verify.Replica{
		8: {{ID: "a", Addr: "h:1"}, {ID: "b", Addr: "h:2"}}, 9: {{ID: "a", Addr: "h:1"}, {ID: "b", Addr: "h:2"}},
		10: {{ID: "b", Addr: "h:2"}}, 11: {{ID: "b", Addr: "h:2"}}, 12: {{ID: "b", Addr: "h:2"}},
	}
	if len(got) != len(want) {
		t.Fatalf("got %v", got)
	}
	for b, w := range want {
		if len(got[b]) != len(w) || got[b][0] != w[0] {
			t.Fatalf("bucket %d: %v, want %v", b, got[b], w)
		}
	}
	for _, tc := range []struct {
		name        string
		first, last int
		mutate      func(*clusterapi.State)
		want        string
	}{
		{"no replicas in range", 20, 30, func(*clusterapi.State) {}, "no bucket in that range"},
		{"unknown node", 0, 5, func(s *clusterapi.State) { s.Nodes = s.Nodes[1:] }, "address is unknown"},
		{"bad index", 0, 5, func(s *clusterapi.State) { s.Table.Ranges[0].Replicas = []int{0, 7} }, "names node 7"},
	} {
		s := *st
		s.Nodes = append([]clusterapi.Node(nil), st.Nodes...)
		s.Table.Ranges = append([]clusterapi.Range(nil), st.Table.Ranges...)
		tc.mutate(&s)
		if _, err := bucketReplicas(&s, tc.first, tc.last); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: %v, want %q", tc.name, err, tc.want)
		}
	}
}
