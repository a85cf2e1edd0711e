package clusterapi

import (
	"fmt"
	"net"
	"slices"
	"strconv"

	"granary/internal/routing"
	"granary/internal/yield"
)

// FromRouting converts a routing table for transit.
func FromRouting(t *routing.Table) Table {
	out := Table{Epoch: t.Epoch, Nodes: make([]string, len(t.Nodes)), Ranges: []Range{}}
	for i, n := range t.Nodes {
		out.Nodes[i] = n.ID
	}
	for _, r := range t.Ranges() {
		out.Ranges = append(out.Ranges, Range{First: int(r.First), Last: int(r.Last), Replicas: r.Replicas, Term: r.Term, Learners: r.Learners, Frozen: r.Frozen, Handed: r.Handed})
	}
	return out
}

// ToRouting builds a routing table from a table in transit and the nodes'
// records (for their addresses and zones).
func ToRouting(t *Table, nodes []Node) (*routing.Table, error) {
	byID := make(map[string]Node, len(nodes))
	for _, n := range nodes {
		byID[n.ID] = n
	}
	rt := &routing.Table{Epoch: t.Epoch, Nodes: make([]routing.Node, len(t.Nodes))}
	for i, id := range t.Nodes {
		n := byID[id]
		rn := routing.Node{ID: id, Zone: n.Zone, Fail: n.State == NodeDown}
		if n.Addr != "" {
			host, port, err := net.SplitHostPort(n.Addr)
			if err != nil {
				return nil, fmt.Errorf("node %s address %q: %w", id, n.Addr, err)
			}
			rn.Host = host
			rn.Port, _ = strconv.Atoi(port)
		}
		rt.Nodes[i] = rn
	}
	var y yield.Budget
	for _, r := range t.Ranges {
		if r.First < 0 || r.Last >= routing.Buckets || r.First > r.Last {
			return nil, fmt.Errorf("bad bucket range %d-%d", r.First, r.Last)
		}
		for _, x := range append(slices.Clone(r.Replicas), r.Learners...) {
			if x < 0 || x >= len(rt.Nodes) {
				return nil, fmt.Errorf("bucket range %d-%d: replica index %d out of range", r.First, r.Last, x)
			}
		}
		for _, x := range r.Learners {
			if slices.Contains(r.Replicas, x) {
				return nil, fmt.Errorf("bucket range %d-%d: node %d is both a replica and a learner", r.First, r.Last, x)
			}
		}
		reps := append([]int(nil), r.Replicas...)
		var learners []int
		if len(r.Learners) > 0 {
			learners = slices.Clone(r.Learners)
		}
		for b := r.First; b <= r.Last; b++ {
			if b%1024 == 0 {
				y.Check() // a data server of one core serves meanwhile
			}
			rt.Replicas[b] = reps
			rt.Terms[b] = r.Term
			rt.Learners[b] = learners
			rt.Frozen[b] = r.Frozen
			rt.Handed[b] = r.Handed
		}
	}
	return rt, nil
}
