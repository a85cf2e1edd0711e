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
func (r *Replicator) Install(t *routing.Table) *Serving {
	r.mu.Lock()
	defer r.mu.Unlock()
	prev := r.cur.Load()
	self := -1
	for i, n := range t.Nodes {
		if n.ID == r.opts.Self {
			self = i
		}
	}
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

	// Per peer: the buckets it is a secondary of under this node, with
	// their terms, to tell whether its link must start over.
	type want struct {
		buckets []uint16
		terms   []uint64
	}
	wants := map[string]*want{}
	gates := map[string]*Gate{}
	primaries := map[string]bool{}
	handing := false // this node hands a bucket over
	var y yield.Budget

	for b := range t.Replicas {
		if b%256 == 0 {
			// A data server may run on one core (--procs 1): a table
			// change must not hold its clients up.
			y.Check()
		}
		bs := &r.b[b]
		reps := t.Replicas[b]
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
			primaries[t.Nodes[reps[0]].ID] = true
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
		var key strings.Builder
		key.WriteString(strconv.FormatInt(from, 10))
		for i, x := range slices.Concat(reps[1:], t.Learners[b]) {
			id := t.Nodes[x].ID
			if i < len(reps)-1 {
				// Secondaries hold the gate; learners have no say in it.
				key.WriteString("," + id)
			}
			w := wants[id]
			if w == nil {
				w = &want{}
				wants[id] = w
			}
			w.buckets = append(w.buckets, uint16(b))
			w.terms = append(w.terms, term)
		}
		if len(reps) == 1 && from <= now {
			continue // no secondary, no fence: nothing to wait for
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
	for id, w := range wants {
		x := slices.IndexFunc(t.Nodes, func(n routing.Node) bool { return n.ID == id })
		addr := nodeAddr(t.Nodes[x])
		l := r.links[id]
		if l == nil {
			l = newLink(r, id)
			r.links[id] = l
		}
		l.configure(addr, w.buckets, w.terms, t.Epoch)
	}
	for id, l := range r.links {
		if wants[id] == nil {
			l.stop()
			delete(r.links, id)
		}
	}
	for b := range t.Replicas {
		if next.lead[b] == 0 {
			continue
		}
		for _, x := range t.Replicas[b][1:] {
			next.secs[b] = append(next.secs[b], r.links[t.Nodes[x].ID])
		}
	}
	// Gates: their peers' links, and the leases those hold now.
	list := make([]*Gate, 0, len(gates))
	for key, g := range gates {
		for _, id := range strings.Split(key, ",")[1:] {
			g.peers = append(g.peers, r.links[id])
		}
		g.refresh()
		list = append(list, g)
	}
	r.gates.Store(&list)
	r.primaries = primaries
	r.epoch.Store(t.Epoch)
	r.cur.Store(next)
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
