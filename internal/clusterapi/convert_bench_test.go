package clusterapi

import (
	"encoding/json"
	"fmt"
	"testing"

	"granary/internal/routing"
)

// BenchmarkTableTransit measures what every table change costs each data
// server and client: the table encoded by a config server, decoded and
// converted on arrival, for a 3-node layout grown to 4 (scattered ranges).
func BenchmarkTableTransit(b *testing.B) {
	var nodes []routing.NodeState
	var recs []Node
	for i := range 4 {
		id := fmt.Sprintf("%040x", i+1)
		nodes = append(nodes, routing.NodeState{Node: routing.Node{ID: id, Host: "127.0.0.1", Port: 7000 + i}, Status: routing.NodeUp})
		recs = append(recs, Node{ID: id, Addr: fmt.Sprintf("127.0.0.1:%d", 7000+i), State: NodeUp})
	}
	t3, _, _ := routing.Build(nil, nodes[:3], 2)
	t4, _, err := routing.Build(t3, nodes, 2)
	if err != nil {
		b.Fatal(err)
	}
	tt := FromRouting(t4)
	data, _ := json.Marshal(TableUpdate{Table: &tt, Nodes: recs})
	b.Logf("%d ranges, %d bytes of JSON", len(tt.Ranges), len(data))
	b.Run("encode", func(b *testing.B) {
		for b.Loop() {
			t := FromRouting(t4)
			json.Marshal(TableUpdate{Table: &t, Nodes: recs})
		}
	})
	b.Run("decode", func(b *testing.B) {
		for b.Loop() {
			var u TableUpdate
			if err := json.Unmarshal(data, &u); err != nil {
				b.Fatal(err)
			}
			if _, err := ToRouting(u.Table, u.Nodes); err != nil {
				b.Fatal(err)
			}
		}
	})
}
