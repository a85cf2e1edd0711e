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
	if err := Check(t); err != nil {
		return nil, err
	}
	rn, err := RoutingNodes(t.Nodes, nodes)
	if err != nil {
		return nil, err
	}
	rt := &routing.Table{Epoch: t.Epoch, Nodes: rn}
	var y yield.Budget
	for _, r := range t.Ranges {
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

// Check reports what makes t unusable as a routing table: a bucket range
// out of bounds, or a replica or learner that is not one of its nodes.
func Check(t *Table) error {
	for _, r := range t.Ranges {
		if r.First < 0 || r.Last >= routing.Buckets || r.First > r.Last {
			return fmt.Errorf("bad bucket range %d-%d", r.First, r.Last)
		}
		for _, list := range [][]int{r.Replicas, r.Learners} {
			for _, x := range list {
				if x < 0 || x >= len(t.Nodes) {
					return fmt.Errorf("bucket range %d-%d: replica index %d out of range", r.First, r.Last, x)
				}
			}
		}
		for _, x := range r.Learners {
			if slices.Contains(r.Replicas, x) {
				return fmt.Errorf("bucket range %d-%d: node %d is both a replica and a learner", r.First, r.Last, x)
			}
		}
	}
	return nil
}

// RoutingNodes returns the routing table's nodes for ids, with the
// addresses, zones and states of their records (nodes).
func RoutingNodes(ids []string, nodes []Node) ([]routing.Node, error) {
	byID := make(map[string]Node, len(nodes))
	for _, n := range nodes {
		byID[n.ID] = n
	}
	out := make([]routing.Node, len(ids))
	for i, id := range ids {
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
		out[i] = rn
	}
	return out, nil
}
