package replication

import (
	"errors"
	"fmt"
	"slices"
	"sync"
)

// resyncQueue holds the buckets a link must send its peer again as a
// snapshot (a repair after granary ctl verify found the peer's copy
// different), for the link's session to pick up between two stream rounds.
type resyncQueue struct {
	mu      sync.Mutex
	buckets []uint16
	wake    chan struct{} // signalled when buckets were added
}

func newResyncQueue() resyncQueue { return resyncQueue{wake: make(chan struct{}, 1)} }

func (q *resyncQueue) add(buckets []uint16) {
	q.mu.Lock()
	q.buckets = append(q.buckets, buckets...)
	q.mu.Unlock()
	select {
	case q.wake <- struct{}{}:
	default:
	}
}

func (q *resyncQueue) take() []uint16 {
	q.mu.Lock()
	defer q.mu.Unlock()
	out := q.buckets
	q.buckets = nil
	return out
}

// ErrNotPrimary is returned by Resync for a bucket this node does not lead.
var ErrNotPrimary = errors.New("not the bucket's primary")

// Resync makes this node, the primary of buckets, send peer (one of their
// secondaries) a fresh snapshot of each: the peer drops its copy and takes
// the primary's, then follows the log again. It returns once the snapshots
// are queued on the peer's link; they go out in the link's order, after
// the records already queued.
func (r *Replicator) Resync(peer string, buckets []uint16) error {
	cur := r.cur.Load()
	r.mu.Lock()
	l := r.links[peer]
	r.mu.Unlock()
	for _, b := range buckets {
		if cur.lead[b] == 0 {
			return fmt.Errorf("bucket %d: %w", b, ErrNotPrimary)
		}
		if l == nil || !slices.Contains(cur.secondaries(b), l) {
			return fmt.Errorf("bucket %d: node %s is not its secondary", b, peer)
		}
	}
	l.resync.add(buckets)
	return nil
}

// resend streams the queued re-snapshots of buckets the session carries.
func (s *sender) resend(inSet []bool) error {
	r := s.l.r
	for _, b := range s.l.resync.take() {
		if !inSet[b] || r.cur.Load().lead[b] == 0 {
			continue // the configuration changed: the next session catches up anyway
		}
		r.stats.Resyncs.Add(1)
		if err := s.snapshot(b); err != nil {
			return err
		}
		if err := s.maybePing(); err != nil {
			return err
		}
	}
	return nil
}
