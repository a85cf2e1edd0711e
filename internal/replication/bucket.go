package replication

import (
	"sync"
	"sync/atomic"
)

// termStart says that the bucket's entries from lsn on were written in term.
type termStart struct {
	term, lsn uint64
}

// bucketState is one bucket's replication state on this node.
type bucketState struct {
	mu sync.Mutex // serialises the bucket's writes with their LSNs; guards the fields below
	// held is set while this node's data of the bucket is a valid prefix of
	// the bucket's history: as primary, after a catch-up as secondary.
	held bool
	// heldA is held, readable without mu, for serving: false for a copy
	// restored from disk until its primary confirmed it caught up.
	heldA atomic.Bool
	// terms is the term history of the entries held; entries below
	// terms[0].lsn are unknown (a snapshot summarised them).
	terms []termStart
	// resetPos is the log position where the bucket's current history
	// starts: older records of it in the log belong to dropped data.
	resetPos uint64
	// orphan is when (Mono ms) this node stopped being a replica of the
	// bucket while holding its data, kept for a quick return; 0: not.
	orphan int64
	// scratch holds a copy of the value being logged (see Engine.Update).
	scratch []byte
	// mem is set once the bucket's history since its last drop holds a
	// record of an in-memory namespace, which a restart loses.
	mem bool
	// restored is set for a copy read back from disk at start, until the
	// bucket is dropped: given to this node as primary, it is kept.
	restored bool
	// stamped is set when the durable store may hold a stamp of the bucket.
	stamped bool
	// stampTerm is the term of the records being written under mu, for the
	// durable store's stamp (0: the write is not a logged one).
	stampTerm atomic.Uint64

	lsn        atomic.Uint64 // last entry applied (readable without mu)
	committed  atomic.Uint64 // acknowledged by every secondary (primary only)
	replayFrom atomic.Uint64 // lowest LSN still in the log (or to come)
}

// termAt returns the term of entry lsn, if known. Entry 0 (the empty
// prefix) has term 0 on every node.
func (b *bucketState) termAt(lsn uint64) (uint64, bool) {
	if lsn == 0 {
		return 0, true
	}
	if lsn > b.lsn.Load() {
		return 0, false
	}
	for i := len(b.terms) - 1; i >= 0; i-- {
		if b.terms[i].lsn <= lsn {
			return b.terms[i].term, true
		}
	}
	return 0, false
}

// lastTerm returns the term of the last entry (0 when none).
func (b *bucketState) lastTerm() uint64 {
	t, _ := b.termAt(b.lsn.Load())
	return t
}

// advance records entry lsn of term as applied. Called with mu held.
func (b *bucketState) advance(lsn, term uint64) {
	if n := len(b.terms); n == 0 || b.terms[n-1].term != term {
		b.terms = append(b.terms, termStart{term: term, lsn: lsn})
	}
	b.lsn.Store(lsn)
}

// drop forgets the bucket's data: it is no longer held. LSNs keep
// increasing across incarnations, so new entries never reuse a number an
// older history had. Called with mu held.
func (b *bucketState) drop(pos uint64) {
	b.setHeld(false)
	b.mem = false
	b.restored = false
	b.terms = nil
	b.resetPos = pos
	b.replayFrom.Store(b.lsn.Load() + 1)
	b.committed.Store(b.lsn.Load())
}

// adopt makes this node's (empty) data the bucket's history from now on: a
// bucket given to it as primary with nothing to catch up from. Called with
// mu held, after drop.
func (b *bucketState) adopt(pos uint64) {
	b.drop(pos)
	b.setHeld(true)
}

// install records a snapshot at entry (lsn, term). Called with mu held.
func (b *bucketState) install(pos, lsn, term uint64) {
	b.setHeld(true)
	b.terms = []termStart{{term: term, lsn: lsn}}
	b.resetPos = pos
	b.lsn.Store(lsn)
	b.replayFrom.Store(lsn + 1)
	b.committed.Store(lsn)
}

func (b *bucketState) setHeld(v bool) {
	b.held = v
	b.heldA.Store(v)
}
