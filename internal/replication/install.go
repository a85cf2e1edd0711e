package replication

import (
	"maps"
	"math"
	"slices"
	"strconv"
	"strings"

	"granary/internal/routing"
	"granary/internal/yield"
)

// Install takes a new routing table: buckets this node no longer holds are
// dropped, buckets it newly leads without a predecessor are adopted, links
// to secondaries are started, reset or stopped, and the serving view for
// commands is returned. Tables arrive in epoch order from one goroutine.
//
// A migration commits a table every step and every data server installs
// each, so a bucket whose layout did not change keeps what the previous
// install computed for it (its role, gate and fence) and costs a few
// comparisons: a step costs what it changes, not the 16384 buckets.
func (r *Replicator) Install(t *routing.Table) *Serving {
	r.mu.Lock()
	defer r.mu.Unlock()
	prev := r.cur.Load()
	prevSv := r.serving
	self := slices.IndexFunc(t.Nodes, func(n routing.Node) bool { return n.ID == r.opts.Self })
	next := &install{t: t, self: self}
	sv := &Serving{}
	// From here on no peer gets a lease from a table older than t, and the
	// grants read below are all there will have been under older ones:
	// the fences computed from them hold.
	r.gmu.Lock()
	r.epoch.Store(t.Epoch)
	grants := maps.Clone(r.grants)
	r.gmu.Unlock()
	now := Mono()
	pos := r.log.endPos()
	nss := r.namespaces()
	same := prevSv != nil && sameNodes(prev.t.Nodes, t.Nodes)

	// Per peer (by index in t.Nodes): the buckets it is a secondary or a
	// learner of under this node, with their terms, to tell whether its
	// link must start over.
	wants := make([]want, len(t.Nodes))
	isPrimary := make([]bool, len(t.Nodes)) // of a bucket this node is a secondary of
	gates := map[string]*Gate{}
	handing := false // this node hands a bucket over
	var y yield.Budget

	for b := range t.Replicas {
		if b%256 == 0 {
			// A data server may run on one core (--procs 1): a table
			// change must not hold its clients up.
			y.Check()
		}
		reps := t.Replicas[b]
		if same && sameBucket(prev.t, t, b) && r.keep(prev, prevSv, next, sv, uint16(b)) {
			if next.lead[b] != 0 {
				addWants(wants, reps[1:], t.Learners[b], uint16(b), t.Terms[b])
				handing = handing || t.Frozen[b]
			} else if sv.Role[b] == RoleReplica {
				isPrimary[reps[0]] = true
			}
			continue
		}
		bs := &r.b[b]
		idx := -1
		if self >= 0 {
			idx = slices.Index(reps, self)
		}
		prevIdx := -1
		prevLearner := false
		if prev.self >= 0 {
			prevIdx = slices.Index(prev.t.Replicas[b], prev.self)
			prevLearner = slices.Contains(prev.t.Learners[b], prev.self)
		}
		learner := self >= 0 && slices.Contains(t.Learners[b], self)
		// A learner's copy is kept like a replica's: it becomes one when
		// the migration flips it in.
		wasReplica := prevIdx >= 0 || prevLearner
		bs.mu.Lock()
		switch {
		case idx < 0 && learner:
			// A migration target: the bucket's primary snapshots it and
			// streams its log here; nothing is served from it yet.
		case idx < 0:
			switch {
			case wasReplica && bs.held:
				// Keep the data a while: if the node gets the bucket back
				// soon (a temporary failure), it catches up by replay.
				bs.orphan = now
			case wasReplica || (bs.held && bs.orphan == 0):
				r.dropLocked(uint16(b), bs, pos, nss)
			}
		case idx == 0 && !wasReplica && bs.restored: // restored implies held
			// This node's own copy, read back from disk at start: its
			// history goes on from there.
			bs.setHeld(true)
		case idx == 0 && !wasReplica:
			// Given to this node without a predecessor here: its data
			// starts empty (the config servers decided nothing is lost,
			// or nothing could be saved).
			r.dropLocked(uint16(b), bs, pos, nss)
			bs.adopt(pos)
			r.saveStamp(uint16(b), bs) // held, empty: a restart keeps knowing it
		}
		if idx >= 0 || learner {
			bs.orphan = 0
			bs.restored = false
		}
		if w := r.opts.Watcher; w != nil && servingRole(prevIdx) != servingRole(idx) {
			// Clients that cached this node's copy as it served it before
			// (primary reads, or READONLY reads of a secondary) are told
			// to drop it: this node stops telling them of its changes, or
			// starts serving it another way.
			w.BucketDropped(uint16(b))
		}
		held := bs.held
		bs.mu.Unlock()

		switch {
		case idx < 0 && learner:
			sv.Role[b] = RoleLearner
			continue
		case idx < 0:
			continue
		case idx > 0:
			sv.Role[b] = RoleReplica
			isPrimary[reps[0]] = true
			continue
		case !held:
			sv.Role[b] = RoleBlocked
			continue
		}
		if t.Frozen[b] {
			// Handing the bucket over: hold every command of it (TRYAGAIN)
			// while the links bring the other copies level; the links go on.
			sv.Role[b] = RoleHandover
			handing = true
		} else {
			sv.Role[b] = RolePrimary
		}
		term := t.Terms[b]
		next.lead[b] = term
		// Fence: after a change of primary, serve only once the old
		// primary's lease from this node has run out.
		var from int64
		// A bucket handed over by a frozen primary needs no fence: the
		// config servers flipped it only once that primary had stopped
		// serving it.
		if pp := prev.t.Primary(uint16(b)); pp >= 0 && pp < len(prev.t.Nodes) && prev.t.Nodes[pp].ID != r.opts.Self && !t.Handed[b] {
			if g, ok := grants[prev.t.Nodes[pp].ID]; ok {
				from = g + r.lease + r.margin()
			}
		}
		// A fence this node set when it took the bucket over runs on
		// whatever tables follow it.
		if prevSv != nil && prev.lead[b] != 0 && prevSv.Gate[b] != nil {
			from = max(from, prevSv.Gate[b].From)
		}
		addWants(wants, reps[1:], t.Learners[b], uint16(b), term)
		if len(reps) == 1 && from <= now {
			continue // no secondary, no fence: nothing to wait for
		}
		var key strings.Builder
		key.WriteString(strconv.FormatInt(from, 10))
		for _, x := range reps[1:] {
			// Secondaries hold the gate; learners have no say in it.
			key.WriteString("," + t.Nodes[x].ID)
		}
		g := gates[key.String()]
		if g == nil {
			g = &Gate{From: from}
			g.Until.Store(math.MaxInt64)
			gates[key.String()] = g
		}
		sv.Gate[b] = g
	}

	// Links: keep, reset or start one per wanted peer; stop the rest.
	linkOf := make([]*link, len(t.Nodes))
	wanted := map[string]bool{}
	for x, w := range wants {
		if len(w.buckets) == 0 {
			continue
		}
		id := t.Nodes[x].ID
		wanted[id] = true
		l := r.links[id]
		if l == nil {
			l = newLink(r, id)
			r.links[id] = l
		}
		l.configure(nodeAddr(t.Nodes[x]), w.buckets, w.terms, t.Epoch)
		linkOf[x] = l
	}
	for id, l := range r.links {
		if !wanted[id] {
			l.stop()
			delete(r.links, id)
		}
	}
	// Each bucket this node leads gets the list of links to its
	// secondaries; buckets with the same secondaries share one.
	next.lists = [][]*link{nil}
	byPeers := map[string]uint16{"": 0}
	var lastPeers []int
	var lastList uint16
	for b := range t.Replicas {
		if next.lead[b] == 0 {
			continue
		}
		peers := t.Replicas[b][1:]
		if !slices.Equal(peers, lastPeers) {
			key := peersKey(peers)
			i, ok := byPeers[key]
			if !ok {
				list := make([]*link, len(peers))
				for j, x := range peers {
					list[j] = linkOf[x]
				}
				i = uint16(len(next.lists))
				next.lists = append(next.lists, list)
				byPeers[key] = i
			}
			lastPeers, lastList = peers, i
		}
		next.secs[b] = lastList
	}
	// Gates: their peers' links, and the leases those hold now. A gate
	// kept from the previous install keeps its links (see above).
	for key, g := range gates {
		for _, id := range strings.Split(key, ",")[1:] {
			g.peers = append(g.peers, r.links[id])
		}
	}
	list := make([]*Gate, 0, len(gates))
	seen := map[*Gate]bool{}
	var last *Gate
	for _, g := range sv.Gate {
		if g != nil && g != last && !seen[g] {
			seen[g] = true
			g.refresh()
			list = append(list, g)
		}
		last = g
	}
	r.gates.Store(&list)
	primaries := map[string]bool{}
	for x, p := range isPrimary {
		if p {
			primaries[t.Nodes[x].ID] = true
		}
	}
	r.primaries = primaries
	r.epoch.Store(t.Epoch)
	r.cur.Store(next)
	r.serving = sv
	for b := range t.Replicas {
		if next.lead[b] != 0 {
			r.recompute(next, uint16(b))
		}
	}
	r.wake()
	if handing {
		// The copies may be level already (no write since the freeze).
		r.moveNews()
	}
	return sv
}

// want is what a link streams: buckets in ascending order, with their terms.
type want struct {
	buckets []uint16
	terms   []uint64
}

// peersKey names a list of node indexes, for byPeers.
func peersKey(peers []int) string {
	var k strings.Builder
	for _, x := range peers {
		k.WriteString(strconv.Itoa(x))
		k.WriteByte(',')
	}
	return k.String()
}

// addWants adds bucket b (in term) to the wants of its secondaries and
// learners.
func addWants(wants []want, secs, learners []int, b uint16, term uint64) {
	for _, list := range [][]int{secs, learners} {
		for _, x := range list {
			wants[x].buckets = append(wants[x].buckets, b)
			wants[x].terms = append(wants[x].terms, term)
		}
	}
}

// keep gives bucket b, whose layout t does not change, the role and gate
// the previous install gave it. It reports false when that does not hold:
// the bucket's data changed state (a primary got its copy since), and the
// bucket must be installed afresh.
func (r *Replicator) keep(prev *install, prevSv *Serving, next *install, sv *Serving, b uint16) bool {
	role := prevSv.Role[b]
	switch role {
	case RolePrimary, RoleHandover:
		if prev.lead[b] == 0 || !r.b[b].heldA.Load() {
			return false
		}
		next.lead[b] = prev.lead[b]
		sv.Gate[b] = prevSv.Gate[b]
	case RoleBlocked:
		if r.b[b].heldA.Load() {
			return false // caught up meanwhile: it leads now
		}
	}
	sv.Role[b] = role
	return true
}

// sameNodes reports whether two tables list the same nodes at the same
// addresses in the same order (bucket layouts then compare by index).
func sameNodes(a, b []routing.Node) bool {
	return slices.EqualFunc(a, b, func(x, y routing.Node) bool { return x.ID == y.ID && x.Host == y.Host && x.Port == y.Port })
}

// sameBucket reports whether bucket b has the same layout in tables a and b.
func sameBucket(a, t *routing.Table, b int) bool {
	return a.Terms[b] == t.Terms[b] && a.Frozen[b] == t.Frozen[b] && a.Handed[b] == t.Handed[b] &&
		slices.Equal(a.Replicas[b], t.Replicas[b]) && slices.Equal(a.Learners[b], t.Learners[b])
}

// servingRole classes a node's index in a bucket's replica list: not a
// replica (-1), primary (0), secondary (above).
func servingRole(idx int) int { return min(idx, 1) }

// dropLocked removes the bucket's data from namespaces nss. Called with
// the bucket's lock held.
func (r *Replicator) dropLocked(b uint16, bs *bucketState, pos uint64, nss []*namespaceT) {
	r.forgetStamp(b, bs)
	for _, ns := range nss {
		inner(ns.Engine).DropBucket(b)
	}
	if w := r.opts.Watcher; w != nil {
		w.BucketDropped(b)
	}
	bs.drop(pos)
}

// namespaces lists the namespaces that exist now.
func (r *Replicator) namespaces() []*namespaceT {
	if r.reg == nil {
		return nil
	}
	return r.reg.List()
}

// sweepOrphans drops the data of buckets this node stopped replicating
// more than OrphanKeep ago.
func (r *Replicator) sweepOrphans() {
	r.mu.Lock()
	defer r.mu.Unlock()
	now := Mono()
	keep := r.opts.OrphanKeep.Milliseconds()
	var nss []*namespaceT
	for b := range r.b {
		bs := &r.b[b]
		bs.mu.Lock()
		if bs.orphan != 0 && now-bs.orphan > keep {
			if nss == nil {
				nss = r.namespaces()
			}
			r.dropLocked(uint16(b), bs, r.log.endPos(), nss)
			bs.orphan = 0
		}
		bs.mu.Unlock()
	}
}

// refreshGates recomputes every gate's lease (after a pong).
func (r *Replicator) refreshGates() {
	if p := r.gates.Load(); p != nil {
		for _, g := range *p {
			g.refresh()
		}
	}
}
