package routing

import (
	"fmt"
	"math/bits"
	"slices"
	"strings"
)

// NodeStatus says whether a data server may hold buckets.
type NodeStatus uint8

const (
	// NodeUp: alive and accepting buckets. The zero value.
	NodeUp NodeStatus = iota
	// NodeDraining: alive but being emptied; the builder moves all its copies
	// away (the migration scheduler keeps it serving until they have moved).
	NodeDraining
	// NodeDown: dead; its copies are dropped and recreated elsewhere.
	NodeDown
)

func (s NodeStatus) String() string {
	switch s {
	case NodeUp:
		return "up"
	case NodeDraining:
		return "draining"
	case NodeDown:
		return "down"
	}
	return fmt.Sprintf("NodeStatus(%d)", uint8(s))
}

// NodeState is a data server as the config servers know it: the node, as it
// goes into the table, and its status. Only NodeUp nodes are usable.
type NodeState struct {
	Node
	Status NodeStatus
}

// BuildStats describes what a Build changed relative to the current table.
// A "copy" is one replica of one bucket on one node.
type BuildStats struct {
	Copies  int // copies in the new table: Buckets × min(copies, usable nodes)
	Moved   int // copies created on a node that did not hold them (data to transfer)
	Removed int // copies dropped (including those on down, draining or unknown nodes)
	// MovedFraction is Moved / Copies (0 when Copies is 0).
	MovedFraction float64
	// Promotions counts buckets whose primary was lost (its node down,
	// draining or removed from the bucket) and that are now led by a node that
	// already held a copy: a leadership change, no data moved.
	Promotions int
	// Swaps counts buckets whose old primary is still a replica but whose
	// leadership moved to another node that already held a copy (a role swap
	// for balance; no data moved).
	Swaps int
	// PrimaryMoves counts buckets whose new primary did not hold a copy in
	// the current table (every bucket of an initial build; after that only
	// when no surviving replica could lead, or when a new node must take its
	// share of primaries). The migration scheduler copies the data first.
	PrimaryMoves int
	// Residual is how many copies plus primaries the builder could not bring
	// to their balance targets. It is 0 in every case the tests cover; a
	// non-zero value means the balance rule is met only approximately.
	Residual int
	// Changed is false when the new table equals the current one; Build then
	// returns the current table itself, with its epoch.
	Changed bool
}

// Build computes the routing table for nodes from the current table cur (nil
// for an initial build) with copies replicas per bucket. It is pure and
// deterministic: the result depends only on cur, copies and the set of nodes
// (not on their order in nodes), with no randomness and no map iteration.
// It errors only on invalid input: copies < 1, an empty or duplicate node ID.
//
// The new table lists exactly the NodeUp nodes: those of cur.Nodes first, in
// their order there, then the others by ID. Its epoch is cur.Epoch+1 (1 for an
// initial build), or cur itself is returned when nothing changes. Replicas
// are listed primary first; a surviving replica keeps its relative order and
// new copies are appended, so secondaries that appear in the list but not in
// cur are the migration targets.
//
// Rules, in priority order, with N usable nodes, R = min(copies, N) and
// B = Buckets:
//
//  1. Copies: every bucket has exactly R replicas, on R distinct usable nodes.
//
//  2. Zone safety: with Z zones among the usable nodes, if Z ≥ R a bucket's
//     copies are in R distinct zones; otherwise they are spread as evenly as
//     the zone sizes allow: zone z holds lo_z or hi_z copies of every bucket,
//     where lo_z = min(size_z, t) for the largest t with Σ_z min(size_z, t) ≤ R
//     and hi_z = min(size_z, t+1). Equivalently, no zone holds two copies of
//     a bucket more than a zone that still has a node without one.
//
//  3. Balance. Primaries: every node leads ⌊B/N⌋ or ⌈B/N⌉ buckets. (This
//     needs every node to hold at least ⌈B/N⌉ copies, which rule 2 never
//     prevents for N ≤ 128.)
//
//     Copies: if rule 2 does not constrain zone totals, every node holds
//     ⌊BR/N⌋ or ⌈BR/N⌉ copies. That is the case with one zone, with Z > R
//     zones of at most N/R nodes each, and with Z ≥ R zones of equal size.
//     Otherwise zone z's total can only be between B·lo_z and B·hi_z, and the
//     counts are the most even that allows (an integer water-filling): nodes
//     of one zone differ by at most one copy; nodes of all unconstrained
//     zones are within one copy of a common level; a zone rule 2 keeps at
//     B·lo_z (too few nodes for its copies: e.g. R = Z = 2 and one node alone
//     in its zone, which then holds all B buckets) has its nodes above that
//     level, and a zone kept at B·hi_z (too many nodes) has them below. The
//     guarantee, as the tests check it: a node holds two or more copies more
//     than a node of another zone only if its zone's total is the least rule
//     2 allows or the other zone's total the most.
//
//  4. Minimal movement: the rebuild starts from cur. Copies on nodes that are
//     not usable are dropped and a bucket that lost its primary promotes a
//     surviving replica (the one leading fewest buckets). Then only copies
//     that break a rule move. Per-node copy targets are chosen so that nodes
//     holding more keep more; buckets with too many copies, or a zone
//     violation, lose the copies on the nodes most over target; missing
//     copies go to the nodes most below target; then overloaded nodes give
//     copies to underloaded ones, free moves first (re-placing a copy created
//     in this build, or giving a copy back to a node that held it), then
//     secondaries, primaries last, directly where possible and otherwise
//     along the shortest chain of moves (of free moves, if one exists). A
//     zone whose target total is B·lo_z or B·hi_z gets exactly that many
//     copies of every bucket from the start, so copies are placed where
//     they must end up. In the tests the moved copies are exactly what
//     balance needs: X/(M+X) of them when X nodes join M (one zone or
//     equal zones), only the lost ones when a node goes down. Primaries are balanced
//     by role swaps between replicas (a leadership change, no data moved),
//     first among replicas that held the data before, then among all.
//
//  5. Deterministic, as above.
//
//  6. Fast (CPU time, see BenchmarkBuild): about 12 ms for B buckets × 50
//     nodes × 2 copies, 40 ms for an initial build with 100 nodes and 3
//     copies, 25 ms to rebuild that after a node fails and 10 join; 3 ms
//     when nothing changes. About 2 MB allocated.
//
// Within those rules the builder keeps runs of consecutive buckets on the
// same replicas (so CLUSTER SLOTS stays short) while spreading each node's
// buckets over many partners (so a failed node's load spreads evenly).
func Build(cur *Table, nodes []NodeState, copies int) (*Table, BuildStats, error) {
	if copies < 1 {
		return nil, BuildStats{}, fmt.Errorf("routing: copies must be ≥ 1, got %d", copies)
	}
	seen := make(map[string]bool, len(nodes))
	var up []Node
	for _, ns := range nodes {
		if ns.ID == "" {
			return nil, BuildStats{}, fmt.Errorf("routing: node with an empty ID")
		}
		if seen[ns.ID] {
			return nil, BuildStats{}, fmt.Errorf("routing: duplicate node ID %q", ns.ID)
		}
		seen[ns.ID] = true
		if ns.Status == NodeUp {
			up = append(up, ns.Node)
		}
	}
	slices.SortFunc(up, func(a, b Node) int { return strings.Compare(a.ID, b.ID) })
	bl := newBuilder(cur, up, copies)
	if bl.n > 0 {
		bl.run()
	}
	return bl.output(cur, up)
}

// builder is the working state of one Build. Usable nodes have the internal
// indexes 0..n-1 (in ID order); nodes of cur that are not usable get indexes
// n, n+1, … so that old copies on them can be counted.
type builder struct {
	n, R, Z int
	zone    []int   // usable node → zone index (zones in name order)
	lo, hi  []int   // per zone: min and max copies of one bucket
	members [][]int // zone → its nodes
	reps    [][]int32
	old     [][]int32  // cur's replicas in internal indexes, deduplicated
	cnt     []int      // copies per node
	prim    []int      // primaries per node
	tgt     []int      // copy target per node
	ptgt    []int      // primary target per node
	lists   [][]int32  // node → buckets it was given (may hold stale entries)
	zc      []int      // scratch: per-zone copies of one bucket
	chunk   int        // run length the fill tries to keep together
	mark    []uint32   // per bucket: stamp of the path that uses it
	pairs   []int32    // n×n: buckets two nodes share (kept by fill only)
	memo    [2][]int32 // fill's buffers for this and the previous bucket
	ztot    []int      // per zone: copies (kept during balanceCopies)
	zgoal   []int      // per zone: Σ tgt
	stamp   uint32
}

func newBuilder(cur *Table, up []Node, copies int) *builder {
	n := len(up)
	bl := &builder{n: n, R: min(copies, n)}
	ext := make(map[string]int32, n)
	for i, nd := range up {
		ext[nd.ID] = int32(i)
	}
	bl.reps = make([][]int32, Buckets)
	bl.old = make([][]int32, Buckets)
	if cur != nil {
		curMap := make([]int32, len(cur.Nodes))
		next := int32(n)
		for i, nd := range cur.Nodes {
			e, ok := ext[nd.ID]
			if !ok {
				e = next
				ext[nd.ID] = e
				next++
			}
			curMap[i] = e
		}
		total := 0
		for b := range cur.Replicas {
			total += len(cur.Replicas[b])
		}
		flat := make([]int32, 0, total)
		for b, r := range cur.Replicas {
			start := len(flat)
			for _, i := range r {
				if i < 0 || i >= len(curMap) {
					continue // a corrupt index: ignore it
				}
				if e := curMap[i]; !slices.Contains(flat[start:], e) {
					flat = append(flat, e)
				}
			}
			bl.old[b] = flat[start:len(flat):len(flat)]
		}
	}
	if n == 0 {
		return bl
	}

	// Zones, in name order.
	names := make([]string, 0)
	for _, nd := range up {
		names = append(names, nd.Zone)
	}
	slices.Sort(names)
	names = slices.Compact(names)
	bl.Z = len(names)
	bl.zone = make([]int, n)
	bl.members = make([][]int, bl.Z)
	for i, nd := range up {
		z, _ := slices.BinarySearch(names, nd.Zone)
		bl.zone[i] = z
		bl.members[z] = append(bl.members[z], i)
	}
	bl.lo, bl.hi = zoneBounds(bl.members, bl.R)
	bl.zc = make([]int, bl.Z)

	// Working replicas: cur's copies on usable nodes, in their order.
	R := bl.R
	flat := make([]int32, Buckets*R)
	bl.cnt = make([]int, n)
	bl.prim = make([]int, n)
	bl.lists = make([][]int32, n)
	for i := range bl.lists {
		bl.lists[i] = make([]int32, 0, Buckets*R/n+Buckets*R/(4*n)+8)
	}
	for b, o := range bl.old {
		// Room for R copies; a bucket with more gets its own array.
		r := flat[b*R : b*R : b*R+R]
		for _, e := range o {
			if int(e) < n {
				r = append(r, e)
			}
		}
		bl.reps[b] = r
		for _, v := range r {
			bl.cnt[v]++
			bl.lists[v] = append(bl.lists[v], int32(b))
		}
	}
	// Runs of up to chunk buckets share their replicas: long enough to keep
	// CLUSTER SLOTS short, short enough that each node's buckets have their
	// other copies on many different nodes. A power of two.
	bl.chunk = 1
	for bl.chunk < 64 && bl.chunk*2 <= Buckets*R/(4*n*n) {
		bl.chunk *= 2
	}
	bl.mark = make([]uint32, Buckets)
	return bl
}

// zoneBounds returns, per zone, the fewest (lo) and most (hi) copies of one
// bucket that rule 2 allows: lo = min(size, t) for the largest t with
// Σ min(size, t) ≤ R, hi = min(size, t+1).
func zoneBounds(members [][]int, R int) (lo, hi []int) {
	sum := func(t int) int {
		s := 0
		for _, m := range members {
			s += min(len(m), t)
		}
		return s
	}
	t := 0
	for sum(t+1) <= R && t < R {
		t++
	}
	lo = make([]int, len(members))
	hi = make([]int, len(members))
	for z, m := range members {
		lo[z] = min(len(m), t)
		hi[z] = min(len(m), t+1)
	}
	return lo, hi
}

func (bl *builder) run() {
	bl.copyTargets()
	// A zone whose target total is the most (least) rule 2 allows must hold
	// exactly hi (lo) copies of every bucket: tighten its bounds so that
	// repair and fill place copies where they have to end up.
	bl.zgoal = make([]int, bl.Z)
	for v, z := range bl.zone {
		bl.zgoal[z] += bl.tgt[v]
	}
	for z, g := range bl.zgoal {
		switch g {
		case Buckets * bl.hi[z]:
			bl.lo[z] = bl.hi[z]
		case Buckets * bl.lo[z]:
			bl.hi[z] = bl.lo[z]
		}
	}
	bl.promote()
	bl.pairs = make([]int32, bl.n*bl.n)
	for _, r := range bl.reps {
		for i, u := range r {
			for _, v := range r[:i] {
				bl.pairs[int(u)*bl.n+int(v)]++
				bl.pairs[int(v)*bl.n+int(u)]++
			}
		}
	}
	var prev fillMemo
	for b := range bl.reps {
		bl.repair(b)
		prev = bl.fill(b, prev)
	}
	bl.balanceCopies()
	bl.primaryTargets()
	bl.balancePrimaries(true)
	bl.balancePrimaries(false)
}

// copyTargets sets tgt: the integer water-filling of Buckets·R copies over
// the nodes with each zone's total within [Buckets·lo, Buckets·hi]. Where
// rounding leaves a choice, the nodes that hold the most copies now get the
// higher target, so the fewest copies have to move.
func (bl *builder) copyTargets() {
	total := Buckets * bl.R
	f := func(z, level int) int {
		v := level * len(bl.members[z])
		return max(Buckets*bl.lo[z], min(Buckets*bl.hi[z], v))
	}
	S := func(level int) int {
		s := 0
		for z := range bl.members {
			s += f(z, level)
		}
		return s
	}
	// Largest level with S(level) ≤ total; S(0) ≤ total ≤ S(Buckets).
	lo, hi := 0, Buckets
	for lo < hi {
		mid := (lo + hi + 1) / 2
		if S(mid) <= total {
			lo = mid
		} else {
			hi = mid - 1
		}
	}
	level := lo
	q := make([]int, bl.Z)   // zone totals
	ext := make([]int, bl.Z) // extra units a zone may still take
	sorted := make([][]int, bl.Z)
	rest := total
	for z, m := range bl.members {
		q[z] = f(z, level)
		ext[z] = f(z, level+1) - q[z]
		rest -= q[z]
		s := slices.Clone(m)
		slices.SortStableFunc(s, func(a, b int) int { return bl.cnt[b] - bl.cnt[a] })
		sorted[z] = s
	}
	// Hand out the remaining units one by one to the zone whose next node
	// (in count order) holds the most copies now.
	for ; rest > 0; rest-- {
		best, bestCnt, bestNode := -1, -1, -1
		for z := range bl.members {
			if ext[z] == 0 {
				continue
			}
			v := sorted[z][q[z]%len(sorted[z])]
			if c := bl.cnt[v]; c > bestCnt || c == bestCnt && v < bestNode {
				best, bestCnt, bestNode = z, c, v
			}
		}
		q[best]++
		ext[best]--
	}
	bl.tgt = make([]int, bl.n)
	for z, s := range sorted {
		k, m := q[z]/len(s), q[z]%len(s)
		for i, v := range s {
			bl.tgt[v] = k
			if i < m {
				bl.tgt[v]++
			}
		}
	}
}

// promote gives every bucket that lost its primary a surviving replica as
// primary: the one that leads the fewest buckets so far.
func (bl *builder) promote() {
	for b, r := range bl.reps {
		if len(r) > 0 && r[0] == bl.old[b][0] {
			bl.prim[r[0]]++
		}
	}
	for b, r := range bl.reps {
		if len(r) == 0 || r[0] == bl.old[b][0] {
			continue
		}
		best := 0
		for i, v := range r {
			if bl.prim[v] < bl.prim[r[best]] {
				best = i
			}
		}
		v := r[best]
		copy(r[1:best+1], r[:best])
		r[0] = v
		bl.prim[v]++
	}
}

// zones counts the copies of r per zone into bl.zc.
func (bl *builder) zones(r []int32) []int {
	clear(bl.zc)
	for _, v := range r {
		bl.zc[bl.zone[v]]++
	}
	return bl.zc
}

// loDeficit is how many copies zones below their minimum still need.
func (bl *builder) loDeficit(zc []int) int {
	d := 0
	for z, c := range zc {
		d += max(0, bl.lo[z]-c)
	}
	return d
}

// remove drops the copy at pos of bucket b. If it was the primary, the first
// secondary that held the data before this build (else the first) leads.
func (bl *builder) remove(b, pos int) {
	r := bl.reps[b]
	v := r[pos]
	bl.cnt[v]--
	if pos == 0 {
		bl.prim[v]--
		if len(r) > 1 {
			next := 1
			for i := 1; i < len(r); i++ {
				if slices.Contains(bl.old[b], r[i]) {
					next = i
					break
				}
			}
			r[0] = r[next]
			pos = next
			bl.prim[r[0]]++
		}
	}
	bl.reps[b] = slices.Delete(r, pos, pos+1)
}

// add appends node v to bucket b (as primary if the bucket is empty).
func (bl *builder) add(b int, v int32) {
	if len(bl.reps[b]) == 0 {
		bl.prim[v]++
	}
	bl.reps[b] = append(bl.reps[b], v)
	bl.cnt[v]++
	bl.lists[v] = append(bl.lists[v], int32(b))
}

// repair removes the copies of bucket b that break rule 1 or 2 (too many
// copies, too many in a zone, or so many outside a zone below its minimum
// that filling cannot fix it), taking them from the most loaded nodes and
// keeping the primary if it can.
func (bl *builder) repair(b int) {
	for {
		r := bl.reps[b]
		zc := bl.zones(r)
		var from func(z int) bool
		overHi := false
		for z, c := range zc {
			if c > bl.hi[z] {
				overHi = true
			}
		}
		switch {
		case overHi:
			from = func(z int) bool { return zc[z] > bl.hi[z] }
		case len(r) > bl.R || bl.R-len(r) < bl.loDeficit(zc):
			from = func(z int) bool { return zc[z] > bl.lo[z] }
		default:
			return
		}
		victim := -1
		for i, v := range r {
			if !from(bl.zone[v]) {
				continue
			}
			if victim < 0 || bl.worse(r, i, victim) {
				victim = i
			}
		}
		bl.remove(b, victim)
	}
}

// worse reports whether the copy at i is a better one to drop than the copy
// at j: a secondary before the primary, then the node most over its target.
func (bl *builder) worse(r []int32, i, j int) bool {
	if (i == 0) != (j == 0) {
		return j == 0
	}
	ei, ej := bl.cnt[r[i]]-bl.tgt[r[i]], bl.cnt[r[j]]-bl.tgt[r[j]]
	if ei != ej {
		return ei > ej
	}
	return i > j
}

// fillMemo remembers the nodes the previous bucket was filled with, so that
// runs of buckets get the same replicas (compact CLUSTER SLOTS) until a run
// reaches chunk buckets.
type fillMemo struct {
	bucket  int
	nodes   []int32
	primary int32 // for a bucket filled from empty
}

// fill gives bucket b its missing copies, each on a node rule 2 allows: the
// node the previous bucket got at this step if it is still below its
// target, else one of the nodes furthest below their targets (in bands of
// 2·chunk copies), preferring nodes that share few buckets with the bucket's
// other replicas (so that a failed node's buckets have their surviving
// copies spread over many nodes), then a fixed pseudo-random order.
func (bl *builder) fill(b int, prev fillMemo) fillMemo {
	need := bl.R - len(bl.reps[b])
	if need == 0 {
		return prev
	}
	wasEmpty := need == bl.R
	sticky := prev.bucket == b-1 && b%bl.chunk != 0
	memo := fillMemo{bucket: b, nodes: bl.memo[b&1][:0], primary: -1}
	shift := bits.TrailingZeros(uint(2 * bl.chunk)) // bands of 2·chunk copies
	for i := 0; i < need; i++ {
		r := bl.reps[b]
		zc := bl.zones(r)
		onlyLo := bl.loDeficit(zc) >= need-i
		allowed := func(v int32) bool {
			z := bl.zone[v]
			if onlyLo {
				return zc[z] < bl.lo[z]
			}
			return zc[z] < bl.hi[z]
		}
		best := int32(-1)
		if sticky && i < len(prev.nodes) {
			if v := prev.nodes[i]; allowed(v) && !slices.Contains(r, v) && bl.cnt[v] < bl.tgt[v] {
				best = v
			}
		}
		if best < 0 {
			bestBand, bestPairs := 0, 0
			seed := uint64(b/bl.chunk) << 32
			for v := int32(0); int(v) < bl.n; v++ {
				if !allowed(v) || slices.Contains(r, v) {
					continue
				}
				d := bl.tgt[v] - bl.cnt[v]
				bd := d >> shift
				if best >= 0 && bd < bestBand {
					continue
				}
				pairs := 0
				for _, x := range r {
					pairs += int(bl.pairs[int(v)*bl.n+int(x)])
				}
				if best < 0 || bd > bestBand || pairs < bestPairs ||
					pairs == bestPairs && mix(seed|uint64(v)) < mix(seed|uint64(best)) {
					best, bestBand, bestPairs = v, bd, pairs
				}
			}
		}
		for _, x := range r {
			bl.pairs[int(best)*bl.n+int(x)]++
			bl.pairs[int(x)*bl.n+int(best)]++
		}
		bl.add(b, best)
		memo.nodes = append(memo.nodes, best)
	}
	bl.memo[b&1] = memo.nodes
	if wasEmpty {
		// Lead with the previous bucket's primary while it is below its
		// share, else with the replica that leads the fewest buckets.
		r := bl.reps[b]
		p := -1
		if sticky && prev.primary >= 0 && bl.prim[prev.primary] < Buckets/bl.n {
			p = slices.Index(r, prev.primary)
		}
		if p < 0 {
			p = 0
			for i, v := range r {
				if bl.prim[v] < bl.prim[r[p]] {
					p = i
				}
			}
		}
		if p > 0 {
			bl.prim[r[0]]--
			bl.prim[r[p]]++
			v := r[p]
			copy(r[1:p+1], r[:p])
			r[0] = v
		}
		memo.primary = r[0]
	}
	return memo
}

// mix is splitmix64's finalizer: a fixed pseudo-random tie-break.
func mix(x uint64) uint64 {
	x += 0x9e3779b97f4a7c15
	x = (x ^ x>>30) * 0xbf58476d1ce4e5b9
	x = (x ^ x>>27) * 0x94d049bb133111eb
	return x ^ x>>31
}

// moveClass orders the copies an overloaded node gives away: 0 a copy created
// in this build, 1 an old secondary, 2 an old primary.
func (bl *builder) moveClass(b int, pos int) int {
	if !slices.Contains(bl.old[b], bl.reps[b][pos]) {
		return 0
	}
	if pos > 0 {
		return 1
	}
	return 2
}

// free reports whether moving bucket b's copy from u to v costs no data
// transfer beyond what the build already needs: the copy on u was created in
// this build, or v held the bucket before (its copy was dropped in this
// build and comes back).
func (bl *builder) free(b int, u, v int32) bool {
	return !slices.Contains(bl.old[b], u) || slices.Contains(bl.old[b], v)
}

// canMove reports whether the copy of bucket b on u may move to v under
// rules 1 and 2. zc must hold the bucket's zone counts.
func (bl *builder) canMove(r []int32, zc []int, u, v int32) bool {
	if slices.Contains(r, v) {
		return false
	}
	zu, zv := bl.zone[u], bl.zone[v]
	return zu == zv || zc[zu] > bl.lo[zu] && zc[zv] < bl.hi[zv]
}

// move moves the copy at pos of bucket b to node v.
func (bl *builder) move(b, pos int, v int32) {
	bl.ztot[bl.zone[bl.reps[b][pos]]]--
	bl.ztot[bl.zone[v]]++
	if len(bl.reps[b]) == 1 {
		u := bl.reps[b][0]
		bl.cnt[u]--
		bl.prim[u]--
		bl.reps[b][0] = v
		bl.cnt[v]++
		bl.prim[v]++
		bl.lists[v] = append(bl.lists[v], int32(b))
		return
	}
	if pos > 0 {
		u := bl.reps[b][pos]
		bl.cnt[u]--
		bl.reps[b][pos] = v
		bl.cnt[v]++
		bl.lists[v] = append(bl.lists[v], int32(b))
		return
	}
	bl.remove(b, 0)
	bl.add(b, v)
}

// balanceCopies moves copies from nodes over their target to nodes under it.
// Free moves (see free) come first: greedily, each overloaded node giving to
// the most underloaded node it may, then along chains of free moves found by
// breadth-first search. Only then do moves that transfer data, again
// greedily (copies created in this build first, then secondaries, primaries
// last) and then along chains, preferring chains of free moves throughout.
func (bl *builder) balanceCopies() {
	bl.ztot = make([]int, bl.Z)
	for v, z := range bl.zone {
		bl.ztot[z] += bl.cnt[v]
	}
	bl.greedyCopies(true)
	bl.copyPaths(true)
	bl.greedyCopies(false)
	bl.copyPaths(false)
}

func (bl *builder) greedyCopies(freeOnly bool) {
	for u := int32(0); int(u) < bl.n; u++ {
		last := int32(-1)
		for class := 0; class < 3 && bl.cnt[u] > bl.tgt[u]; class++ {
			for _, b32 := range bl.lists[u] {
				if bl.cnt[u] <= bl.tgt[u] {
					break
				}
				b := int(b32)
				r := bl.reps[b]
				pos := slices.Index(r, u)
				if pos < 0 || bl.moveClass(b, pos) != class {
					continue
				}
				zc := bl.zones(r)
				// A copy leaves its zone only for a zone below its total
				// target and from a zone above it: other cross-zone moves
				// would need more moves later to even the zones out.
				zu := bl.zone[u]
				out := bl.ztot[zu] > bl.zgoal[zu]
				ok := func(v int32) bool {
					zv := bl.zone[v]
					return (zv == zu || out && bl.ztot[zv] < bl.zgoal[zv]) &&
						bl.canMove(r, zc, u, v) && (!freeOnly || bl.free(b, u, v))
				}
				best := int32(-1)
				if last >= 0 && bl.cnt[last] < bl.tgt[last] && ok(last) {
					best = last
				} else {
					bestDef := 0
					for v := int32(0); int(v) < bl.n; v++ {
						if d := bl.tgt[v] - bl.cnt[v]; d > bestDef && ok(v) {
							best, bestDef = v, d
						}
					}
				}
				if best >= 0 {
					bl.move(b, pos, best)
					last = best
				}
			}
		}
	}
}

// copyPaths applies chains of moves until none is left (of free moves only,
// with freeOnly). Each chain moves at least one copy off an overloaded node;
// the cap only guards against a bug turning into an endless loop.
func (bl *builder) copyPaths(freeOnly bool) {
	for i := 0; i < Buckets*bl.R; i++ {
		if bl.copyPath(true) {
			continue
		}
		if freeOnly || !bl.copyPath(false) {
			return
		}
	}
}

type hop struct{ from, bucket int32 }

// claim marks bucket b as used by the current path; it reports false if it
// already was.
func (bl *builder) claim(b int32) bool {
	if bl.mark[b] == bl.stamp {
		return false
	}
	bl.mark[b] = bl.stamp
	return true
}

// copyPath finds a shortest chain of copy moves (free moves only, with
// freeOnly) from an overloaded node to an underloaded one, each intermediate
// node giving copies and receiving as many, and moves as many copies along it
// as the chain allows. It reports whether it moved any.
func (bl *builder) copyPath(freeOnly bool) bool {
	par := make([]hop, bl.n)
	queue := make([]int32, 0, bl.n)
	for v := range par {
		par[v] = hop{-2, -1}
		if bl.cnt[v] > bl.tgt[v] {
			par[v] = hop{-1, -1}
			queue = append(queue, int32(v))
		}
	}
	if len(queue) == 0 {
		return false
	}
	edge := func(r []int32, zc []int, b int32, u, v int32) bool {
		return bl.canMove(r, zc, u, v) && (!freeOnly || bl.free(int(b), u, v))
	}
	// Unvisited nodes by zone: a bucket can only send its copy to its own
	// zone or to zones rule 2 lets it enter, so only those are scanned.
	unvisited := make([][]int32, bl.Z)
	left := 0
	for v := range par {
		if par[v].from == -2 {
			z := bl.zone[v]
			unvisited[z] = append(unvisited[z], int32(v))
			left++
		}
	}
	sink := int32(-1)
search:
	for qi := 0; qi < len(queue) && left > 0; qi++ {
		u := queue[qi]
		zu := bl.zone[u]
		// Only which nodes u can reach matters here; which buckets to move
		// is chosen below.
		for _, b32 := range bl.lists[u] {
			r := bl.reps[b32]
			if !slices.Contains(r, u) {
				continue
			}
			zc := bl.zones(r)
			leave := zc[zu] > bl.lo[zu]
			for z, vs := range unvisited {
				if len(vs) == 0 || z != zu && !(leave && zc[z] < bl.hi[z]) {
					continue
				}
				for i := 0; i < len(vs); i++ {
					v := vs[i]
					if slices.Contains(r, v) || freeOnly && !bl.free(int(b32), u, v) {
						continue
					}
					par[v] = hop{u, b32}
					queue = append(queue, v)
					vs[i] = vs[len(vs)-1]
					vs = vs[:len(vs)-1]
					i--
					left--
					if bl.cnt[v] < bl.tgt[v] {
						sink = v
						break search
					}
				}
				unvisited[z] = vs
			}
			if left == 0 {
				break search
			}
		}
	}
	if sink < 0 {
		return false
	}
	var path []int32 // nodes from sink to source
	for v := sink; v >= 0; v = par[v].from {
		path = append(path, v)
	}
	src := path[len(path)-1]
	amount := min(bl.cnt[src]-bl.tgt[src], bl.tgt[sink]-bl.cnt[sink])
	// Each hop moves copies of buckets no other hop touches, so every move
	// stays valid whatever the order.
	bl.stamp++
	hops := make([][]int32, len(path)-1)
	for i := range hops {
		u, v := path[i+1], path[i]
		var bs []int32
		for class := 0; class < 3 && len(bs) < amount; class++ {
			for _, b32 := range bl.lists[u] {
				if len(bs) == amount {
					break
				}
				r := bl.reps[b32]
				pos := slices.Index(r, u)
				if pos < 0 || bl.moveClass(int(b32), pos) != class || bl.mark[b32] == bl.stamp {
					continue
				}
				if edge(r, bl.zones(r), b32, u, v) && bl.claim(b32) {
					bs = append(bs, b32)
				}
			}
		}
		hops[i] = bs
		amount = min(amount, len(bs))
	}
	if amount == 0 {
		return false
	}
	for i, bs := range hops {
		u, v := path[i+1], path[i]
		for _, b32 := range bs[:amount] {
			bl.move(int(b32), slices.Index(bl.reps[b32], u), v)
		}
	}
	return true
}

// primaryTargets sets ptgt: ⌊B/N⌋ for every node and one more for B mod N
// nodes, those that lead the most buckets now (and hold enough copies).
func (bl *builder) primaryTargets() {
	base, extra := Buckets/bl.n, Buckets%bl.n
	order := make([]int, bl.n)
	for i := range order {
		order[i] = i
	}
	slices.SortStableFunc(order, func(a, b int) int {
		ea, eb := bl.cnt[a] > base, bl.cnt[b] > base
		if ea != eb {
			if ea {
				return -1
			}
			return 1
		}
		return bl.prim[b] - bl.prim[a]
	})
	bl.ptgt = make([]int, bl.n)
	for i, v := range order {
		bl.ptgt[v] = base
		if i < extra {
			bl.ptgt[v]++
		}
	}
}

// swapRole makes the replica at pos of bucket b its primary; the old primary
// takes its place in the list.
func (bl *builder) swapRole(b, pos int) {
	r := bl.reps[b]
	bl.prim[r[0]]--
	bl.prim[r[pos]]++
	r[0], r[pos] = r[pos], r[0]
}

// balancePrimaries moves leadership from nodes over their primary target to
// nodes under it by role swaps, greedily and then along chains. With oldOnly,
// only replicas that held the data before this build may take the lead.
func (bl *builder) balancePrimaries(oldOnly bool) {
	ok := func(b int, v int32) bool { return !oldOnly || slices.Contains(bl.old[b], v) }
	for u := int32(0); int(u) < bl.n; u++ {
		last := int32(-1)
		for _, b32 := range bl.lists[u] {
			if bl.prim[u] <= bl.ptgt[u] {
				break
			}
			b := int(b32)
			r := bl.reps[b]
			if r[0] != u {
				continue
			}
			best := -1
			for i := 1; i < len(r); i++ {
				v := r[i]
				if bl.prim[v] >= bl.ptgt[v] || !ok(b, v) {
					continue
				}
				if v == last {
					best = i
					break
				}
				if best < 0 || bl.ptgt[v]-bl.prim[v] > bl.ptgt[r[best]]-bl.prim[r[best]] {
					best = i
				}
			}
			if best > 0 {
				last = r[best]
				bl.swapRole(b, best)
			}
		}
	}
	for i := 0; i < Buckets && bl.primaryPath(ok); i++ {
	}
}

// primaryPath finds a shortest chain of role swaps from a node over its
// primary target to one under it and swaps as many buckets along it as the
// chain allows. The chain's buckets are distinct: each has one primary, and
// every node appears once.
func (bl *builder) primaryPath(ok func(int, int32) bool) bool {
	par := make([]hop, bl.n)
	queue := make([]int32, 0, bl.n)
	for v := range par {
		par[v] = hop{-2, -1}
		if bl.prim[v] > bl.ptgt[v] {
			par[v] = hop{-1, -1}
			queue = append(queue, int32(v))
		}
	}
	if len(queue) == 0 {
		return false
	}
	sink := int32(-1)
search:
	for qi := 0; qi < len(queue); qi++ {
		u := queue[qi]
		for _, b32 := range bl.lists[u] {
			r := bl.reps[b32]
			if r[0] != u {
				continue
			}
			for _, v := range r[1:] {
				if par[v].from != -2 || !ok(int(b32), v) {
					continue
				}
				par[v] = hop{u, b32}
				queue = append(queue, v)
				if bl.prim[v] < bl.ptgt[v] {
					sink = v
					break search
				}
			}
		}
	}
	if sink < 0 {
		return false
	}
	var path []int32 // nodes from sink to source
	for v := sink; v >= 0; v = par[v].from {
		path = append(path, v)
	}
	src := path[len(path)-1]
	amount := min(bl.prim[src]-bl.ptgt[src], bl.ptgt[sink]-bl.prim[sink])
	bl.stamp++
	hops := make([][]int32, len(path)-1)
	for i := range hops {
		u, v := path[i+1], path[i]
		var bs []int32
		for _, b32 := range bl.lists[u] {
			if len(bs) == amount {
				break
			}
			r := bl.reps[b32]
			if r[0] == u && slices.Contains(r[1:], v) && ok(int(b32), v) && bl.claim(b32) {
				bs = append(bs, b32)
			}
		}
		hops[i] = bs
		amount = min(amount, len(bs))
	}
	for i, bs := range hops {
		v := path[i]
		for _, b32 := range bs[:amount] {
			bl.swapRole(int(b32), slices.Index(bl.reps[b32], v))
		}
	}
	return amount > 0
}

// residual is how far the copies and primaries are from their targets.
func (bl *builder) residual() int {
	d := 0
	for v := 0; v < bl.n; v++ {
		d += max(0, bl.cnt[v]-bl.tgt[v]) + max(0, bl.prim[v]-bl.ptgt[v])
	}
	return d
}

// output makes the table and the statistics.
func (bl *builder) output(cur *Table, up []Node) (*Table, BuildStats, error) {
	// Node order: cur's usable nodes in cur's order, then the rest by ID.
	pos := make([]int, bl.n)
	for i := range pos {
		pos[i] = -1
	}
	byID := make(map[string]int, bl.n)
	for i, nd := range up {
		byID[nd.ID] = i
	}
	nodes := make([]Node, 0, bl.n)
	if cur != nil {
		for _, nd := range cur.Nodes {
			if i, ok := byID[nd.ID]; ok && pos[i] < 0 {
				pos[i] = len(nodes)
				nodes = append(nodes, up[i])
			}
		}
	}
	for i := range up {
		if pos[i] < 0 {
			pos[i] = len(nodes)
			nodes = append(nodes, up[i])
		}
	}
	t := &Table{Nodes: nodes}
	flat := make([]int, 0, Buckets*bl.R)
	var st BuildStats
	for b, r := range bl.reps {
		start := len(flat)
		for _, v := range r {
			flat = append(flat, pos[v])
		}
		t.Replicas[b] = flat[start:len(flat):len(flat)]
		o := bl.old[b]
		st.Copies += len(r)
		for _, v := range r {
			if !slices.Contains(o, v) {
				st.Moved++
			}
		}
		for _, v := range o {
			if !slices.Contains(r, v) {
				st.Removed++
			}
		}
		if len(r) == 0 || len(o) > 0 && r[0] == o[0] {
			continue
		}
		switch {
		case !slices.Contains(o, r[0]):
			st.PrimaryMoves++
		case slices.Contains(r, o[0]):
			st.Swaps++
		default:
			st.Promotions++
		}
	}
	if st.Copies > 0 {
		st.MovedFraction = float64(st.Moved) / float64(st.Copies)
	}
	if bl.n > 0 {
		st.Residual = bl.residual()
	}
	if cur != nil && slices.Equal(cur.Nodes, t.Nodes) && sameReplicas(cur, t) {
		return cur, st, nil
	}
	st.Changed = true
	t.Epoch = 1
	if cur != nil {
		t.Epoch = cur.Epoch + 1
	}
	return t, st, nil
}

func sameReplicas(a, b *Table) bool {
	for i := range a.Replicas {
		if !slices.Equal(a.Replicas[i], b.Replicas[i]) {
			return false
		}
	}
	return true
}
