package routing

import "slices"

// Node is a data server as clients see it.
type Node struct {
	ID   string // 40 hex characters, as Redis Cluster node ids
	Host string // address clients connect to
	Port int
	Zone string
	// Fail is set when the config servers consider the node down; cluster
	// commands then report it failed and its buckets unserved.
	Fail bool
}

// Table maps every bucket to an ordered replica list (primary first). It is
// immutable once published; a change makes a new table with a higher Epoch.
type Table struct {
	Epoch    uint64
	Nodes    []Node
	Replicas [Buckets][]int // indexes into Nodes
	// Terms holds each bucket's primary term: the epoch of the table in
	// which its current primary took it over. Replication records carry it,
	// and a replica refuses records from an older term, which fences a
	// deposed primary (design, section 5). A change of secondaries keeps
	// the term.
	Terms [Buckets]uint64
	// Learners holds each bucket's migration targets: nodes that receive
	// its snapshot and log from the primary but are not replicas yet (no
	// reads, no say in commits or leases). Clients never see them.
	Learners [Buckets][]int
	// Frozen marks buckets whose primary hands them over: it serves none of
	// their commands (TRYAGAIN) and reports when every learner and
	// secondary holds all it wrote, so the next table can lead the bucket
	// by another node without losing a write (design, section 5).
	Frozen [Buckets]bool
	// Handed marks a primary term that began with a handover from a frozen
	// primary, which had stopped serving the bucket: the new primary need
	// not wait out the old one's lease. It lasts as long as the term.
	Handed [Buckets]bool
}

// Term returns the bucket's primary term.
func (t *Table) Term(bucket uint16) uint64 { return t.Terms[bucket] }

// StampTerms sets next's terms from prev: a bucket whose primary is the same
// node (by id) keeps its term, any other gets next's epoch. prev may be nil.
func StampTerms(prev, next *Table) {
	for b := range next.Replicas {
		np := next.Primary(uint16(b))
		if np < 0 {
			next.Terms[b] = 0
			continue
		}
		if prev != nil {
			if pp := prev.Primary(uint16(b)); pp >= 0 && prev.Terms[b] != 0 && prev.Nodes[pp].ID == next.Nodes[np].ID {
				next.Terms[b] = prev.Terms[b]
				continue
			}
		}
		next.Terms[b] = next.Epoch
	}
}

// Standalone returns the table of a one-node cluster that owns every bucket.
func Standalone(n Node) *Table {
	t := &Table{Epoch: 1, Nodes: []Node{n}}
	all := []int{0}
	for b := range t.Replicas {
		t.Replicas[b] = all
		t.Terms[b] = 1
	}
	return t
}

// Primary returns the index of the bucket's primary, or -1 if it has none.
func (t *Table) Primary(bucket uint16) int {
	if r := t.Replicas[bucket]; len(r) > 0 {
		return r[0]
	}
	return -1
}

// Range is a run of consecutive buckets with the same replica list.
type Range struct {
	First, Last uint16
	Replicas    []int
	Term        uint64
	Learners    []int
	Frozen      bool
	Handed      bool
}

// Ranges returns the table as runs of buckets, in bucket order. Buckets with
// no replica are left out.
func (t *Table) Ranges() []Range {
	var out []Range
	for b := 0; b < Buckets; b++ {
		r := t.Replicas[b]
		if len(r) == 0 {
			continue
		}
		if n := len(out); n > 0 && int(out[n-1].Last) == b-1 && slices.Equal(out[n-1].Replicas, r) && out[n-1].Term == t.Terms[b] &&
			slices.Equal(out[n-1].Learners, t.Learners[b]) && out[n-1].Frozen == t.Frozen[b] && out[n-1].Handed == t.Handed[b] {
			out[n-1].Last = uint16(b)
			continue
		}
		out = append(out, Range{First: uint16(b), Last: uint16(b), Replicas: r, Term: t.Terms[b], Learners: t.Learners[b], Frozen: t.Frozen[b], Handed: t.Handed[b]})
	}
	return out
}

// KeepPrimaries makes a rebuilt table safe to install over cur: a replica
// that has not caught up must never lead, so for every bucket whose primary
// in cur is still one of next's replicas, that node is moved to the front of
// next's list (the builder may have swapped roles for balance). A bucket
// whose primary in cur is gone is led by its surviving replica that came
// first in cur's list, as when a node goes down; its other replicas keep the
// builder's order. Nodes are matched by ID. A bucket none of whose replicas
// in next held it in cur keeps the builder's order: it goes to nodes without
// its data, and moving the data to them first is migration's job.
//
// Changed lists get new slices; next's other lists are left as they are. It
// returns how many buckets it reordered.
func KeepPrimaries(cur, next *Table) int {
	if cur == nil || next == nil {
		return 0
	}
	byID := make(map[string]int, len(next.Nodes))
	for i, n := range next.Nodes {
		byID[n.ID] = i
	}
	toNext := make([]int, len(cur.Nodes))
	for i, n := range cur.Nodes {
		toNext[i] = -1
		if j, ok := byID[n.ID]; ok {
			toNext[i] = j
		}
	}
	changed := 0
	for b := range next.Replicas {
		r := next.Replicas[b]
		if len(r) < 2 {
			continue
		}
		lead := -1 // position in r of the replica that must lead
		for _, c := range cur.Replicas[b] {
			if c < 0 || c >= len(toNext) || toNext[c] < 0 {
				continue
			}
			if i := slices.Index(r, toNext[c]); i >= 0 {
				lead = i
				break
			}
		}
		if lead <= 0 {
			continue
		}
		nr := make([]int, 0, len(r))
		nr = append(nr, r[lead])
		nr = append(nr, r[:lead]...)
		nr = append(nr, r[lead+1:]...)
		next.Replicas[b] = nr
		changed++
	}
	return changed
}

// SameLayout reports whether a and b list the same nodes (by ID, in order)
// and the same replicas for every bucket. Epochs and terms are not compared.
func SameLayout(a, b *Table) bool {
	if len(a.Nodes) != len(b.Nodes) {
		return false
	}
	for i := range a.Nodes {
		if a.Nodes[i].ID != b.Nodes[i].ID {
			return false
		}
	}
	return sameReplicas(a, b)
}
