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
}

// Standalone returns the table of a one-node cluster that owns every bucket.
func Standalone(n Node) *Table {
	t := &Table{Epoch: 1, Nodes: []Node{n}}
	all := []int{0}
	for b := range t.Replicas {
		t.Replicas[b] = all
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
		if n := len(out); n > 0 && int(out[n-1].Last) == b-1 && slices.Equal(out[n-1].Replicas, r) {
			out[n-1].Last = uint16(b)
			continue
		}
		out = append(out, Range{First: uint16(b), Last: uint16(b), Replicas: r})
	}
	return out
}
