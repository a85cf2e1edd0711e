package routing

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
)

// checkTable verifies rules 1–3 for tab built from nodes with copies, without
// using the builder's own code (zone bounds are found by enumeration).
func checkTable(tab *Table, nodes []NodeState, copies int) error {
	zoneOf := map[string]string{}
	var usable []string
	for _, ns := range nodes {
		if ns.Status == NodeUp {
			usable = append(usable, ns.ID)
			zoneOf[ns.ID] = ns.Zone
		}
	}
	n := len(usable)
	R := min(copies, n)
	var ids []string
	for _, nd := range tab.Nodes {
		ids = append(ids, nd.ID)
		if z, ok := zoneOf[nd.ID]; !ok || z != nd.Zone {
			return fmt.Errorf("table node %q (zone %q) is not a usable node", nd.ID, nd.Zone)
		}
	}
	slices.Sort(ids)
	slices.Sort(usable)
	if !slices.Equal(ids, usable) {
		return fmt.Errorf("table nodes %v, want the usable nodes %v", ids, usable)
	}
	// Zones: index, size.
	var zoneNames []string
	for _, id := range usable {
		zoneNames = append(zoneNames, zoneOf[id])
	}
	slices.Sort(zoneNames)
	zoneNames = slices.Compact(zoneNames)
	Z := len(zoneNames)
	zi := make([]int, len(tab.Nodes))
	size := make([]int, Z)
	for i, nd := range tab.Nodes {
		zi[i], _ = slices.BinarySearch(zoneNames, nd.Zone)
		size[zi[i]]++
	}
	// Rule 2 by definition: no zone holds two more copies than a zone that
	// has a free node.
	zoneOK := func(c []int) bool {
		for a := range c {
			for b := range c {
				if c[a] >= c[b]+2 && c[b] < size[b] {
					return false
				}
			}
		}
		return true
	}
	// Per zone, the fewest and most copies of one bucket rule 2 allows.
	minC, maxC := make([]int, Z), make([]int, Z)
	for z := range minC {
		minC[z], maxC[z] = R+1, -1
	}
	vec := make([]int, Z)
	var enum func(z, left int)
	enum = func(z, left int) {
		if z == Z {
			if left == 0 && zoneOK(vec) {
				for i, c := range vec {
					minC[i] = min(minC[i], c)
					maxC[i] = max(maxC[i], c)
				}
			}
			return
		}
		for c := 0; c <= min(left, size[z]); c++ {
			vec[z] = c
			enum(z+1, left-c)
		}
	}
	if n > 0 {
		enum(0, R)
	}

	cnt := make([]int, n)
	prim := make([]int, n)
	zc := make([]int, Z)
	for b, r := range tab.Replicas {
		if len(r) != R {
			return fmt.Errorf("bucket %d has %d copies, want %d", b, len(r), R)
		}
		clear(zc)
		for i, v := range r {
			if v < 0 || v >= n {
				return fmt.Errorf("bucket %d: bad node index %d", b, v)
			}
			if slices.Contains(r[:i], v) {
				return fmt.Errorf("bucket %d: two copies on node %d: %v", b, v, r)
			}
			cnt[v]++
			zc[zi[v]]++
		}
		if R > 0 {
			prim[r[0]]++
		}
		if !zoneOK(zc) {
			return fmt.Errorf("bucket %d: zone counts %v (sizes %v) break zone safety", b, zc, size)
		}
	}
	if n == 0 {
		return nil
	}
	// Primaries: floor or ceil of B/N.
	pl, ph := Buckets/n, (Buckets+n-1)/n
	for v, p := range prim {
		if p < pl || p > ph {
			return fmt.Errorf("node %s leads %d buckets, want %d..%d (primaries %v)", tab.Nodes[v].ID, p, pl, ph, prim)
		}
	}
	// Copies: within a zone at most one apart; across zones at most one apart
	// unless zone safety forbids evening them out.
	total := make([]int, Z)
	for v, c := range cnt {
		total[zi[v]] += c
	}
	for a := range cnt {
		for b := range cnt {
			if cnt[a] < cnt[b]+2 {
				continue
			}
			za, zb := zi[a], zi[b]
			if za == zb {
				return fmt.Errorf("nodes %s and %s of zone %s hold %d and %d copies", tab.Nodes[a].ID, tab.Nodes[b].ID, zoneNames[za], cnt[a], cnt[b])
			}
			if total[za] != Buckets*minC[za] && total[zb] != Buckets*maxC[zb] {
				return fmt.Errorf("node %s (zone %s, total %d, min %d) holds %d copies, node %s (zone %s, total %d, max %d) %d: not balanced",
					tab.Nodes[a].ID, zoneNames[za], total[za], Buckets*minC[za], cnt[a],
					tab.Nodes[b].ID, zoneNames[zb], total[zb], Buckets*maxC[zb], cnt[b])
			}
		}
	}
	return nil
}

func nodeID(i int) string { return fmt.Sprintf("%040x", i+1) }

// cluster makes n Up nodes with ids from first, zones assigned by zoneOf.
func cluster(first, n int, zoneOf func(i int) string) []NodeState {
	var ns []NodeState
	for i := first; i < first+n; i++ {
		ns = append(ns, NodeState{Node: Node{ID: nodeID(i), Host: "10.0.0.1", Port: 7000 + i, Zone: zoneOf(i)}})
	}
	return ns
}

func oneZone(int) string      { return "z" }
func threeZones(i int) string { return fmt.Sprintf("z%d", i%3) }

func mustBuild(t testing.TB, cur *Table, nodes []NodeState, copies int) (*Table, BuildStats) {
	t.Helper()
	tab, st, err := Build(cur, nodes, copies)
	if err != nil {
		t.Fatalf("Build: %v", err)
	}
	if err := checkTable(tab, nodes, copies); err != nil {
		t.Fatalf("invalid table: %v", err)
	}
	if st.Residual != 0 {
		t.Fatalf("residual imbalance %d", st.Residual)
	}
	return tab, st
}

// idsOf returns each bucket's replica IDs.
func idsOf(tab *Table) [Buckets][]string {
	var out [Buckets][]string
	for b, r := range tab.Replicas {
		for _, v := range r {
			out[b] = append(out[b], tab.Nodes[v].ID)
		}
	}
	return out
}

func copiesOn(tab *Table) map[string]int {
	m := map[string]int{}
	for _, r := range tab.Replicas {
		for _, v := range r {
			m[tab.Nodes[v].ID]++
		}
	}
	return m
}

func assertUnchanged(t testing.TB, tab *Table, nodes []NodeState, copies int) {
	t.Helper()
	again, st, err := Build(tab, nodes, copies)
	if err != nil {
		t.Fatal(err)
	}
	if again != tab || st.Changed || st.Moved != 0 || st.Removed != 0 || st.Swaps != 0 || st.Promotions != 0 {
		t.Fatalf("rebuild of a valid table changed it: %+v", st)
	}
}

func TestBuildInitial(t *testing.T) {
	cases := []struct {
		name   string
		nodes  []NodeState
		copies int
		want   map[string]int // copies per node ID, when fixed
	}{
		{"one node", cluster(0, 1, oneZone), 2, map[string]int{nodeID(0): Buckets}},
		{"two nodes three copies", cluster(0, 2, oneZone), 3, map[string]int{nodeID(0): Buckets, nodeID(1): Buckets}},
		{"three nodes one copy", cluster(0, 3, oneZone), 1, nil},
		{"ten nodes three zones", cluster(0, 10, threeZones), 2, nil},
		{"seven nodes three copies three zones", cluster(0, 7, threeZones), 3, nil},
		// Zone A has one node: with 2 zones and 2 copies it holds every bucket.
		{"lonely zone", cluster(0, 6, func(i int) string { return map[bool]string{true: "a", false: "b"}[i == 0] }), 2,
			map[string]int{nodeID(0): Buckets}},
		// Five copies over two zones of 2 and 6 nodes: zone a holds 2 each bucket.
		{"five copies two zones", cluster(0, 8, func(i int) string { return map[bool]string{true: "a", false: "b"}[i < 2] }), 5,
			map[string]int{nodeID(0): Buckets, nodeID(1): Buckets}},
		{"four copies three zones", cluster(0, 9, threeZones), 4, nil},
		// Zone a (8 nodes) may hold one copy per bucket: 2048 each; the two
		// single-node zones share the other B copies.
		{"big zone", cluster(0, 10, func(i int) string {
			return []string{"b", "c"}[min(i, 2)%2] + map[bool]string{true: "", false: "a"}[i < 2]
		}), 2,
			map[string]int{nodeID(0): Buckets / 2, nodeID(1): Buckets / 2, nodeID(2): Buckets / 8, nodeID(9): Buckets / 8}},
		{"all down", func() []NodeState {
			ns := cluster(0, 3, oneZone)
			for i := range ns {
				ns[i].Status = NodeDown
			}
			return ns
		}(), 2, map[string]int{}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			tab, st := mustBuild(t, nil, c.nodes, c.copies)
			if tab.Epoch != 1 || !st.Changed || st.Moved != st.Copies || st.PrimaryMoves != min(st.Copies, Buckets) {
				t.Errorf("epoch %d stats %+v", tab.Epoch, st)
			}
			if c.want != nil {
				got := copiesOn(tab)
				for id, n := range c.want {
					if got[id] != n {
						t.Errorf("node %s holds %d copies, want %d", id, got[id], n)
					}
				}
			}
			assertUnchanged(t, tab, c.nodes, c.copies)
			t.Logf("%d nodes: %d ranges", len(tab.Nodes), len(tab.Ranges()))
		})
	}
}

func TestBuildBalanceExact(t *testing.T) {
	// One zone, or zones of equal size with at least copies zones: every
	// node holds floor or ceil of its share of all copies.
	for _, c := range []struct {
		n, copies int
		zone      func(int) string
	}{{5, 2, oneZone}, {7, 3, oneZone}, {9, 2, threeZones}, {12, 3, threeZones}, {40, 2, threeZones}, {3, 3, threeZones}} {
		nodes := cluster(0, c.n, c.zone)
		tab, _ := mustBuild(t, nil, nodes, c.copies)
		lo := Buckets * c.copies / c.n
		hi := (Buckets*c.copies + c.n - 1) / c.n
		for id, k := range copiesOn(tab) {
			if k < lo || k > hi {
				t.Errorf("n=%d copies=%d: node %s holds %d, want %d..%d", c.n, c.copies, id, k, lo, hi)
			}
		}
	}
}

// TestBuildKeepsValidTable: a valid table the builder did not make is kept
// as it is.
func TestBuildKeepsValidTable(t *testing.T) {
	for _, c := range []struct {
		n    int
		zone func(int) string
	}{{4, oneZone}, {8, threeZones}, {16, func(i int) string { return fmt.Sprint(i % 2) }}} {
		nodes := cluster(0, c.n, c.zone)
		tab := &Table{Epoch: 3}
		for _, ns := range nodes {
			tab.Nodes = append(tab.Nodes, ns.Node)
		}
		for b := range tab.Replicas {
			tab.Replicas[b] = []int{b % c.n, (b + 1) % c.n}
		}
		if err := checkTable(tab, nodes, 2); err != nil {
			t.Fatalf("n=%d: the hand-made table is not valid: %v", c.n, err)
		}
		assertUnchanged(t, tab, nodes, 2)
	}
}

func TestBuildErrors(t *testing.T) {
	nodes := cluster(0, 2, oneZone)
	if _, _, err := Build(nil, nodes, 0); err == nil {
		t.Error("copies 0 accepted")
	}
	if _, _, err := Build(nil, append(nodes, nodes[0]), 2); err == nil {
		t.Error("duplicate ID accepted")
	}
	if _, _, err := Build(nil, []NodeState{{}}, 2); err == nil {
		t.Error("empty ID accepted")
	}
}

func TestBuildOrderIndependent(t *testing.T) {
	nodes := cluster(0, 13, threeZones)
	a, _ := mustBuild(t, nil, nodes, 2)
	shuffled := slices.Clone(nodes)
	rand.New(rand.NewPCG(1, 2)).Shuffle(len(shuffled), func(i, j int) { shuffled[i], shuffled[j] = shuffled[j], shuffled[i] })
	b, _ := mustBuild(t, nil, shuffled, 2)
	ia, ib := idsOf(a), idsOf(b)
	if !slices.EqualFunc(ia[:], ib[:], slices.Equal) {
		t.Fatal("the result depends on the order of nodes")
	}
	// And the same input twice gives the same table.
	c, _ := mustBuild(t, nil, nodes, 2)
	if !slices.Equal(a.Nodes, c.Nodes) || !sameReplicas(a, c) {
		t.Fatal("not deterministic")
	}
}

// TestBuildNodeDown: only the dead node's copies move; its primaries are
// taken over by surviving replicas (no primary needs data copied).
func TestBuildNodeDown(t *testing.T) {
	for _, c := range []struct {
		m, copies, dead int
		zone            func(int) string
	}{
		{3, 2, 0, oneZone}, {4, 2, 2, oneZone}, {10, 2, 7, oneZone}, {10, 3, 3, oneZone},
		{6, 2, 1, threeZones}, {9, 3, 4, threeZones}, {20, 2, 19, threeZones}, {40, 3, 11, threeZones},
	} {
		t.Run(fmt.Sprintf("m%d_c%d", c.m, c.copies), func(t *testing.T) {
			nodes := cluster(0, c.m, c.zone)
			t0, _ := mustBuild(t, nil, nodes, c.copies)
			nodes[c.dead].Status = NodeDown
			t1, st := mustBuild(t, t0, nodes, c.copies)
			deadID := nodes[c.dead].ID
			lost := copiesOn(t0)[deadID]
			if st.Moved != lost || st.Removed != lost {
				t.Errorf("moved %d removed %d, want %d (the dead node's copies)", st.Moved, st.Removed, lost)
			}
			if st.PrimaryMoves != 0 {
				t.Errorf("%d primaries moved data", st.PrimaryMoves)
			}
			before, after := idsOf(t0), idsOf(t1)
			promoted := 0
			for b := range before {
				for _, id := range before[b] {
					if id != deadID && !slices.Contains(after[b], id) {
						t.Fatalf("bucket %d: surviving copy on %s moved", b, id)
					}
				}
				if before[b][0] == deadID {
					promoted++
					if !slices.Contains(before[b], after[b][0]) {
						t.Fatalf("bucket %d: new primary %s held no copy", b, after[b][0])
					}
				}
			}
			if st.Promotions != promoted {
				t.Errorf("promotions %d, want %d", st.Promotions, promoted)
			}
			t.Logf("lost %d copies, %d promotions, %d swaps", lost, st.Promotions, st.Swaps)
			assertUnchanged(t, t1, nodes, c.copies)
			// The node comes back: it gets its share again.
			nodes[c.dead].Status = NodeUp
			t2, st2 := mustBuild(t, t1, nodes, c.copies)
			t.Logf("back: moved fraction %.4f", st2.MovedFraction)
			assertUnchanged(t, t2, nodes, c.copies)
		})
	}
}

// TestBuildAddNodes: adding X nodes to M moves close to X/(M+X) of the copies.
func TestBuildAddNodes(t *testing.T) {
	const copies = 2
	cases := [][2]int{{3, 1}, {3, 3}, {4, 1}, {10, 1}, {10, 5}, {20, 4}}
	for _, zc := range []struct {
		name string
		zone func(int) string
	}{{"one zone", oneZone}, {"three zones", threeZones}} {
		t.Logf("%s, copies %d:", zc.name, copies)
		t.Logf("%4s %4s %10s %10s %6s %8s %6s", "M", "X", "X/(M+X)", "measured", "swaps", "primMove", "ranges")
		for _, c := range cases {
			m, x := c[0], c[1]
			nodes := cluster(0, m, zc.zone)
			t0, _ := mustBuild(t, nil, nodes, copies)
			nodes = append(nodes, cluster(m, x, zc.zone)...)
			t1, st := mustBuild(t, t0, nodes, copies)
			want := float64(x) / float64(m+x)
			t.Logf("%4d %4d %10.4f %10.4f %6d %8d %6d", m, x, want, st.MovedFraction, st.Swaps, st.PrimaryMoves, len(t1.Ranges()))
			if st.MovedFraction > want*1.15+0.01 {
				t.Errorf("M=%d X=%d: moved %.4f, want ≤ %.4f", m, x, st.MovedFraction, want*1.15+0.01)
			}
			if st.Removed != st.Moved {
				t.Errorf("M=%d X=%d: removed %d != moved %d", m, x, st.Removed, st.Moved)
			}
			assertUnchanged(t, t1, nodes, copies)
		}
	}
}

func TestBuildDraining(t *testing.T) {
	nodes := cluster(0, 6, threeZones)
	t0, _ := mustBuild(t, nil, nodes, 2)
	nodes[4].Status = NodeDraining
	t1, st := mustBuild(t, t0, nodes, 2)
	if on := copiesOn(t0)[nodes[4].ID]; st.Moved != on || st.Removed != on {
		t.Errorf("moved %d removed %d, want %d", st.Moved, st.Removed, on)
	}
	if slices.ContainsFunc(t1.Nodes, func(n Node) bool { return n.ID == nodes[4].ID }) {
		t.Error("draining node still in the table")
	}
}

func TestBuildCopiesChange(t *testing.T) {
	nodes := cluster(0, 9, threeZones)
	t3, _ := mustBuild(t, nil, nodes, 3)
	t2, st := mustBuild(t, t3, nodes, 2)
	if st.Moved != 0 || st.Removed != Buckets || st.PrimaryMoves != 0 || st.Promotions != 0 {
		t.Errorf("3→2 copies: %+v", st)
	}
	t3b, st := mustBuild(t, t2, nodes, 3)
	if st.Moved != Buckets || st.Removed != 0 || st.PrimaryMoves != 0 {
		t.Errorf("2→3 copies: %+v", st)
	}
	assertUnchanged(t, t3b, nodes, 3)
}

func TestBuildUnknownAndCorrupt(t *testing.T) {
	nodes := cluster(0, 4, oneZone)
	t0, _ := mustBuild(t, nil, nodes, 2)
	// A node missing from the input is treated as gone; bad indexes and
	// duplicates in cur are dropped.
	cur := &Table{Epoch: 7, Nodes: t0.Nodes, Replicas: t0.Replicas}
	cur.Replicas[0] = []int{0, 0, 99, -1}
	t1, st := mustBuild(t, cur, nodes[1:], 2)
	if t1.Epoch != 8 || !st.Changed {
		t.Errorf("epoch %d changed %v", t1.Epoch, st.Changed)
	}
}

// TestBuildZoneRepair: a table that breaks zone safety (both copies in one
// zone) is repaired by moving one copy of each bad bucket.
func TestBuildZoneRepair(t *testing.T) {
	nodes := cluster(0, 4, oneZone)
	t0, _ := mustBuild(t, nil, nodes, 2)
	// Split the zone: 0,1 in a; 2,3 in b.
	for i := range nodes {
		nodes[i].Zone = map[bool]string{true: "a", false: "b"}[i < 2]
	}
	bad := 0
	for _, r := range t0.Replicas {
		if (r[0] < 2) == (r[1] < 2) {
			bad++
		}
	}
	_, st := mustBuild(t, t0, nodes, 2)
	if st.Moved != bad {
		t.Errorf("moved %d, want %d (one per bucket with both copies in one zone)", st.Moved, bad)
	}
}

// TestBuildRandom: random clusters and random changes, every rule checked.
func TestBuildRandom(t *testing.T) {
	rng := rand.New(rand.NewPCG(20240611, 7))
	scenarios := 200
	if testing.Short() || raceEnabled {
		// The builder is single-threaded; the race detector only slows it.
		scenarios = 25
	}
	var worst float64
	downs, extra := 0, 0
	for s := 0; s < scenarios; s++ {
		n := 1 + rng.IntN(40)
		zones := 1 + rng.IntN(5)
		copies := 1 + rng.IntN(3)
		zone := func(int) string { return fmt.Sprintf("z%d", rng.IntN(zones)) }
		nodes := cluster(0, n, zone)
		name := func() string {
			var b strings.Builder
			for _, ns := range nodes {
				fmt.Fprintf(&b, " %s/%s/%s", ns.ID[36:], ns.Zone, ns.Status)
			}
			return b.String()
		}
		tab, st0, err := Build(nil, nodes, copies)
		if err == nil {
			err = checkTable(tab, nodes, copies)
		}
		if err == nil && st0.Residual != 0 {
			err = fmt.Errorf("residual %d", st0.Residual)
		}
		if err != nil {
			t.Fatalf("scenario %d (copies %d, nodes%s): initial: %v", s, copies, name(), err)
		}
		assertUnchanged(t, tab, nodes, copies)

		// A random change: some nodes down or draining, some added, maybe a
		// new copy count.
		onlyDown := true
		for i := range nodes {
			switch rng.IntN(8) {
			case 0:
				nodes[i].Status = NodeDown
			case 1:
				nodes[i].Status = NodeDraining
			}
		}
		if k := rng.IntN(4); k > 0 {
			nodes = append(nodes, cluster(n, k, zone)...)
			onlyDown = false
		}
		newCopies := copies
		if rng.IntN(4) == 0 {
			newCopies = 1 + rng.IntN(3)
			onlyDown = onlyDown && newCopies == copies
		}
		next, st, err := Build(tab, nodes, newCopies)
		if err == nil {
			err = checkTable(next, nodes, newCopies)
		}
		if err == nil && st.Residual != 0 {
			err = fmt.Errorf("residual %d", st.Residual)
		}
		if err != nil {
			t.Fatalf("scenario %d (copies %d→%d, nodes%s): rebuild: %v", s, copies, newCopies, name(), err)
		}
		assertUnchanged(t, next, nodes, newCopies)

		// When nodes only went down (or drained), the lost copies must be
		// recreated; anything more is movement that zone constraints forced
		// (a zone shrank or vanished) or waste. Measure it.
		if onlyDown && st.Copies == Buckets*min(copies, len(tab.Nodes)) {
			usable := map[string]bool{}
			for _, ns := range nodes {
				usable[ns.ID] = ns.Status == NodeUp
			}
			lost := 0
			for id, k := range copiesOn(tab) {
				if !usable[id] {
					lost += k
				}
			}
			if st.Moved < lost {
				t.Fatalf("scenario %d: moved %d < lost %d", s, st.Moved, lost)
			}
			// A bucket whose primary went down is led by a surviving replica.
			before, after := idsOf(tab), idsOf(next)
			for b := range before {
				if !usable[before[b][0]] && slices.ContainsFunc(before[b], func(id string) bool { return usable[id] }) &&
					!slices.Contains(before[b], after[b][0]) {
					t.Fatalf("scenario %d: bucket %d: primary %s moved data although a replica survived", s, b, after[b][0])
				}
			}
			downs++
			if st.Moved > lost {
				extra++
				worst = max(worst, float64(st.Moved-lost)/float64(st.Copies))
			}
		}
		// Deterministic: the same input again, in another order, gives the
		// same table.
		if s%4 == 0 {
			shuffled := slices.Clone(nodes)
			rng.Shuffle(len(shuffled), func(i, j int) { shuffled[i], shuffled[j] = shuffled[j], shuffled[i] })
			again, _, _ := Build(tab, shuffled, newCopies)
			if !slices.Equal(again.Nodes, next.Nodes) || !sameReplicas(again, next) {
				t.Fatalf("scenario %d: not deterministic", s)
			}
		}
	}
	t.Logf("%d scenarios; of the %d where nodes only went down, %d moved more than the lost copies (worst: %.4f of all copies more)",
		scenarios, downs, extra, worst)
}

func BenchmarkBuild(b *testing.B) {
	nodes := cluster(0, 50, threeZones)
	t0, _, _ := Build(nil, nodes, 2)
	grown := append(slices.Clone(nodes), cluster(50, 5, threeZones)...)
	b.Run("initial", func(b *testing.B) {
		for b.Loop() {
			Build(nil, nodes, 2)
		}
	})
	b.Run("add5", func(b *testing.B) {
		for b.Loop() {
			Build(t0, grown, 2)
		}
	})
	b.Run("noop", func(b *testing.B) {
		for b.Loop() {
			Build(t0, nodes, 2)
		}
	})
	big := cluster(0, 100, threeZones)
	b.Run("initial100x3", func(b *testing.B) {
		for b.Loop() {
			Build(nil, big, 3)
		}
	})
}
