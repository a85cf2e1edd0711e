package replication

// MoveProgress is what a primary reports of a bucket's migration: for each
// learner (and, while the bucket is frozen for a handover, each secondary)
// whether its catch-up ended on the current link and how many entries it
// has not acknowledged.
type MoveProgress struct {
	Bucket uint16
	Node   string
	Caught bool
	Lag    uint64
	// Frozen: this node holds the bucket (its table froze it), so Lag 0
	// stays 0 until the next table.
	Frozen bool
}

// Moves returns the progress of the migrations of the buckets this node
// leads with their data. The config servers flip a learner in once it
// caught up, and hand a frozen bucket to its new primary once that copy
// lags by nothing.
//
// Like Unreachable, it reports ok false, and nothing, while an Install holds
// the replicator's lock.
func (r *Replicator) Moves() (moves []MoveProgress, ok bool) {
	if !r.mu.TryLock() {
		return nil, false
	}
	defer r.mu.Unlock()
	cur := r.cur.Load()
	t := cur.t
	var out []MoveProgress
	for b := range t.Replicas {
		if cur.lead[b] == 0 || (len(t.Learners[b]) == 0 && !t.Frozen[b]) {
			continue
		}
		bs := &r.b[b]
		if !bs.heldA.Load() {
			continue
		}
		lsn := bs.lsn.Load()
		peers := t.Learners[b]
		if t.Frozen[b] {
			peers = append(append([]int(nil), t.Replicas[b][1:]...), peers...)
		}
		for _, x := range peers {
			id := t.Nodes[x].ID
			l := r.links[id]
			if l == nil {
				continue
			}
			p := MoveProgress{Bucket: uint16(b), Node: id, Caught: l.caught[b].Load(), Frozen: t.Frozen[b]}
			if a := l.acked[b].Load(); a < lsn {
				p.Lag = lsn - a
			}
			out = append(out, p)
		}
	}
	return out, true
}
