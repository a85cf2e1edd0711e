package routing

import (
	"slices"
	"testing"
)

// small builds a table over nodes (by ID) with the given replica lists for
// buckets 0, 1, 2, ... (the rest unassigned).
func small(epoch uint64, ids []string, reps ...[]int) *Table {
	t := &Table{Epoch: epoch}
	for _, id := range ids {
		t.Nodes = append(t.Nodes, Node{ID: id})
	}
	for b, r := range reps {
		t.Replicas[b] = r
	}
	return t
}

func TestStampTerms(t *testing.T) {
	prev := small(4, []string{"a", "b", "c"}, []int{0, 1}, []int{1, 2}, []int{2, 0}, []int{0})
	prev.Terms[0], prev.Terms[1], prev.Terms[2], prev.Terms[3] = 2, 3, 4, 0
	cases := []struct {
		name string
		ids  []string
		reps []int
		want uint64
	}{
		{"same primary keeps its term", []string{"a", "b", "c"}, []int{0, 2}, 2},
		{"promotion takes the new epoch", []string{"a", "b", "c"}, []int{2}, 5},
		{"same primary at another index keeps its term", []string{"c", "b"}, []int{0, 1}, 4},
		{"a legacy zero term takes the new epoch", []string{"a", "b", "c"}, []int{0, 1}, 5},
		{"unassigned has term 0", []string{"a", "b", "c"}, nil, 0},
	}
	for i, c := range cases {
		next := small(5, c.ids)
		// The case's bucket is bucket i of prev (cases 0..3), or bucket 4.
		next.Replicas[i] = c.reps
		StampTerms(prev, next)
		if got := next.Terms[i]; got != c.want {
			t.Errorf("%s: term %d, want %d", c.name, got, c.want)
		}
	}
	next := small(1, []string{"a"}, []int{0})
	StampTerms(nil, next)
	if next.Terms[0] != 1 || next.Terms[1] != 0 {
		t.Fatalf("first table: terms %d %d", next.Terms[0], next.Terms[1])
	}
}

func TestKeepPrimaries(t *testing.T) {
	ids := []string{"a", "b", "c", "d"}
	cases := []struct {
		name      string
		cur, next []int // replicas of bucket 0 (indexes into ids)
		nextIDs   []string
		want      []int
	}{
		{"builder swapped roles", []int{0, 1}, []int{1, 0}, ids, []int{0, 1}},
		{"kept primary moves to the front, others keep the builder's order", []int{0, 1, 2}, []int{3, 2, 0}, ids, []int{0, 3, 2}},
		{"primary gone: the first survivor in cur's order leads", []int{0, 1, 2}, []int{3, 2, 1}, ids, []int{1, 3, 2}},
		{"no survivor: the builder's order", []int{0, 1}, []int{2, 3}, ids, []int{2, 3}},
		{"unchanged", []int{0, 1}, []int{0, 1}, ids, []int{0, 1}},
		{"matched by id across reindexing", []int{0, 1}, []int{0, 1}, []string{"b", "a"}, []int{1, 0}},
	}
	for _, c := range cases {
		cur := small(3, ids, c.cur)
		next := small(4, c.nextIDs, c.next)
		shared := next.Replicas[0]
		before := slices.Clone(shared)
		n := KeepPrimaries(cur, next)
		if !slices.Equal(next.Replicas[0], c.want) {
			t.Errorf("%s: %v, want %v", c.name, next.Replicas[0], c.want)
		}
		if wantN := map[bool]int{true: 0, false: 1}[slices.Equal(before, c.want)]; n != wantN {
			t.Errorf("%s: reordered %d, want %d", c.name, n, wantN)
		}
		if !slices.Equal(shared, before) {
			t.Errorf("%s: the builder's slice was modified in place", c.name)
		}
	}
	if KeepPrimaries(nil, small(1, ids)) != 0 {
		t.Fatal("first table reordered")
	}
}

// TestBuildThenKeepPrimaries: after two nodes join three, the builder
// balances primaries by role swaps and by giving new nodes primaries;
// KeepPrimaries leaves every bucket that kept a replica led by a node that
// held it, the old primary where it stayed.
func TestBuildThenKeepPrimaries(t *testing.T) {
	var nodes []NodeState
	for _, id := range []string{"n1", "n2", "n3"} {
		nodes = append(nodes, NodeState{Node: Node{ID: id}})
	}
	cur, _, err := Build(nil, nodes, 2)
	if err != nil {
		t.Fatal(err)
	}
	nodes = append(nodes, NodeState{Node: Node{ID: "n4"}}, NodeState{Node: Node{ID: "n5"}})
	next, st, err := Build(cur, nodes, 2)
	if err != nil {
		t.Fatal(err)
	}
	if st.Swaps == 0 {
		t.Fatalf("expected the builder to swap some roles: %+v", st)
	}
	kept := KeepPrimaries(cur, next)
	if kept < st.Swaps {
		t.Errorf("reordered %d buckets, the builder swapped %d", kept, st.Swaps)
	}
	t.Logf("builder: %d swaps, %d primary moves; reordered %d", st.Swaps, st.PrimaryMoves, kept)
	for b := range next.Replicas {
		var want string // the first of cur's replicas that next keeps
		for _, c := range cur.Replicas[b] {
			if slices.ContainsFunc(next.Replicas[b], func(i int) bool { return next.Nodes[i].ID == cur.Nodes[c].ID }) {
				want = cur.Nodes[c].ID
				break
			}
		}
		if np := next.Nodes[next.Primary(uint16(b))].ID; want != "" && np != want {
			t.Fatalf("bucket %d: %s leads, want %s (cur %v)", b, np, want, cur.Replicas[b])
		}
	}
	if SameLayout(cur, next) {
		t.Fatal("nodes joined and nothing moved")
	}
	if !SameLayout(cur, cur) {
		t.Fatal("SameLayout(cur, cur) is false")
	}
}
