package configserver

import (
	"cmp"
	"slices"
	"time"

	"granary/internal/clusterapi"
	"granary/internal/routing"
)

// This file holds the leader's side of data-server failures that is not
// down detection (leader.go: checkDown) or restarts (http.go: heartbeat):
// unreachable reports from primaries, and restoring the copy count.
//
// The table changes these make are the ones the data plane relies on:
//
//   - a node down, restarted (a new Boot) or unreachable from a primary
//     leaves the buckets that have another replica; where it led, the next
//     replica leads, with a new primary term (routing.Table.Terms);
//   - a restored copy is always appended as a secondary: a replica that has
//     not caught up never leads;
//   - a rebuild keeps every bucket's primary where it stays a replica
//     (build, routing.KeepPrimaries).

// maxReported bounds how many peers of one report are looked at.
const maxReported = 256

// unreachable handles the peers a heartbeat reports unreachable: the
// reporter P, when up and at the Boot the config servers handled, is the
// primary that could not replicate to them, so they leave the buckets P
// leads (one entry for all of them). Each (P, peer) pair starts a cooldown
// during which restoreCopies gives the peer none of P's buckets, and a
// reported peer silent for 3 heartbeat intervals is marked down at the next
// tick (checkDown).
func (s *Server) unreachable(req *clusterapi.HeartbeatRequest) {
	p, ok := s.fsm.node(req.NodeID)
	if !ok || req.Boot == "" || p.Boot != req.Boot || (p.State != clusterapi.NodeUp && p.State != clusterapi.NodeDraining) {
		return
	}
	var peers []string
	for i, id := range req.Unreachable {
		if i == maxReported {
			break
		}
		if id == p.ID || slices.Contains(peers, id) {
			continue
		}
		if _, ok := s.fsm.node(id); ok {
			peers = append(peers, id)
		}
	}
	if len(peers) == 0 {
		return
	}
	now := time.Now()
	s.lmu.Lock()
	for _, id := range peers {
		s.reported[id] = now
		s.cooldown[[2]string{p.ID, id}] = now.Add(s.opts.UnreachableCooldown)
	}
	s.lmu.Unlock()
	s.kickLoop() // checkDown: a reported peer that is silent too is down now

	if len(s.fsm.secondariesLedBy(p.ID, peers)) == 0 {
		return
	}
	s.wmu.Lock()
	defer s.wmu.Unlock()
	drop := s.fsm.secondariesLedBy(p.ID, peers)
	if len(drop) == 0 {
		return
	}
	before := s.fsm.epoch()
	if err := s.apply(&entry{Type: opUnreachable, ID: p.ID, Boot: req.Boot, Peers: drop}); err != nil {
		s.log.Warn("config server: dropping replicas unreachable from their primary failed", "primary", p.ID, "peers", drop, "err", err)
		return
	}
	s.log.Warn("replicas dropped: unreachable from their primary", "primary", p.ID, "peers", drop,
		"epoch", before, "new_epoch", s.fsm.epoch())
}

// secondariesLedBy returns those of peers that are a secondary of some
// bucket node p leads.
func (f *fsm) secondariesLedBy(p string, peers []string) []string {
	f.mu.RLock()
	defer f.mu.RUnlock()
	px := slices.Index(f.table.Nodes, p)
	if px < 0 {
		return nil
	}
	var out []string
	for _, id := range peers {
		sx := slices.Index(f.table.Nodes, id)
		if sx < 0 {
			continue
		}
		for _, r := range f.table.Ranges {
			if len(r.Replicas) > 1 && r.Replicas[0] == px && slices.Contains(r.Replicas[1:], sx) {
				out = append(out, id)
				break
			}
		}
	}
	return out
}

// restoreCopies brings buckets that lack copies back to the cluster's copy
// count, committing at most one table (all such buckets at once). Called
// with wmu held, on every leader tick.
//
// A copy is always appended after the bucket's replicas, as a secondary
// that catches up from the primary; buckets whose primary is not up are
// left alone (nothing to catch up from). Copies go to up nodes whose Boot
// the config servers have handled and that heartbeat this leader, never to
// a peer the bucket's primary reported unreachable within the cooldown:
//
//  1. at once, to a node that held the bucket before it failed (down,
//     restarted or unreachable) and is back: a temporary failure, which
//     may need only a replay of the primary's log;
//  2. to any other node only once the bucket has lacked copies for
//     ReplaceAfter (as seen by this leader): a permanent failure, which
//     needs the whole bucket copied.
//
// Within each, a node in a zone holding fewer of the bucket's copies comes
// first, then the node holding fewest copies, then the lowest id.
func (s *Server) restoreCopies() error {
	cur, nodes := s.fsm.routingView()
	copies := s.settings().Copies
	if cur.Epoch == 0 || copies < 1 {
		return nil
	}
	now := time.Now()

	// Which buckets lack copies, and since when.
	var short []int
	for b, r := range cur.Replicas {
		if len(r) > 0 && len(r) < copies {
			short = append(short, b)
		}
	}
	since := make(map[int]time.Time, len(short))
	seen := map[string]time.Time{}
	cooling := map[[2]string]bool{}
	s.lmu.Lock()
	for b := range s.under {
		if r := cur.Replicas[b]; len(r) == 0 || len(r) >= copies {
			delete(s.under, b)
		}
	}
	for _, b := range short {
		t, ok := s.under[uint16(b)]
		if !ok {
			t = now
			s.under[uint16(b)] = t
		}
		since[b] = t
	}
	for id, l := range s.live {
		seen[id] = l.seen
	}
	for k, until := range s.cooldown {
		if now.Before(until) {
			cooling[k] = true
		} else {
			delete(s.cooldown, k)
		}
	}
	for id, t := range s.reported {
		if now.Sub(t) > s.opts.DownTimeout {
			delete(s.reported, id)
		}
	}
	s.lmu.Unlock()
	if len(short) == 0 {
		return nil
	}

	// The candidates, and every node's copy count.
	type cand struct {
		id, zone string
		x        int // index in the new table's nodes; -1 until listed
		former   *bucketSet
	}
	state := map[string]clusterapi.NodeState{}
	for _, n := range nodes {
		state[n.ID] = n.State
	}
	index := map[string]int{}
	for i, n := range cur.Nodes {
		index[n.ID] = i
	}
	count := map[string]int{}
	for _, r := range cur.Replicas {
		for _, x := range r {
			count[cur.Nodes[x].ID]++
		}
	}
	former := s.fsm.formerAll()
	var cands []*cand
	for _, n := range nodes {
		t, heard := seen[n.ID]
		if n.State != clusterapi.NodeUp || n.Boot == "" || !heard || now.Sub(t) > s.opts.DownTimeout {
			continue
		}
		c := &cand{id: n.ID, zone: n.Zone, x: -1, former: former[n.ID]}
		if i, ok := index[n.ID]; ok {
			c.x = i
		}
		cands = append(cands, c)
	}
	if len(cands) == 0 {
		return nil
	}
	// The routing view's zones are the node records' (clusterapi.ToRouting).
	zoneOf := func(x int) string { return cur.Nodes[x].Zone }

	nt := &routing.Table{Epoch: cur.Epoch + 1, Nodes: slices.Clone(cur.Nodes), Replicas: cur.Replicas, Terms: cur.Terms,
		Learners: cur.Learners, Frozen: cur.Frozen, Handed: cur.Handed}
	restored, returned := 0, 0
	zones := map[string]int{}
	for _, b := range short {
		r := cur.Replicas[b]
		primary := cur.Nodes[r[0]].ID
		if st := state[primary]; st != clusterapi.NodeUp && st != clusterapi.NodeDraining {
			continue
		}
		clear(zones)
		for _, x := range r {
			zones[zoneOf(x)]++
		}
		replace := now.Sub(since[b]) >= s.opts.ReplaceAfter
		nr := r
		for len(nr) < copies {
			var best *cand
			isFormer := false
			for _, c := range cands {
				if c.x >= 0 && (slices.Contains(nr, c.x) || slices.Contains(cur.Learners[b], c.x)) || cooling[[2]string{primary, c.id}] {
					continue
				}
				f := c.former.has(b)
				if !f && !replace {
					continue
				}
				if best == nil || f && !isFormer || f == isFormer && cmp.Or(
					cmp.Compare(zones[c.zone], zones[best.zone]),
					cmp.Compare(count[c.id], count[best.id]),
					cmp.Compare(c.id, best.id)) < 0 {
					best, isFormer = c, f
				}
			}
			if best == nil {
				break
			}
			if best.x < 0 {
				best.x = len(nt.Nodes)
				for _, n := range nodes {
					if n.ID == best.id {
						nt.Nodes = append(nt.Nodes, routingNode(n))
					}
				}
			}
			if len(nr) == len(r) {
				nr = slices.Clone(r)
			}
			nr = append(nr, best.x)
			zones[best.zone]++
			count[best.id]++
			restored++
			if isFormer {
				returned++
			}
		}
		nt.Replicas[b] = nr
	}
	if restored == 0 {
		return nil
	}
	t := clusterapi.FromRouting(nt)
	if err := s.apply(&entry{Type: opTable, Table: &t, PrevEpoch: cur.Epoch}); err != nil {
		return err
	}
	s.log.Info("copies restored", "copies", restored, "to_former_holders", returned, "to_other_nodes", restored-returned,
		"epoch", cur.Epoch, "new_epoch", t.Epoch)
	return nil
}

// clearCooldowns ends every cooldown that keeps copies from node id.
func (s *Server) clearCooldowns(id string) {
	s.lmu.Lock()
	defer s.lmu.Unlock()
	for k := range s.cooldown {
		if k[1] == id {
			delete(s.cooldown, k)
		}
	}
}
