package replication

import (
	"bytes"
	"time"

	"github.com/cespare/xxhash/v2"

	"granary/internal/engine"
)

// BucketDigest is one replica's summary of a bucket (anti-entropy): where
// in the bucket's history it was taken and a digest per namespace.
type BucketDigest struct {
	Bucket uint16
	LSN    uint64 // last entry applied when the digest was taken
	Term   uint64 // term of that entry
	Held   bool   // the copy is a caught-up prefix of the bucket's history
	NS     []NSDigest
}

// NSDigest is one namespace's part of a BucketDigest.
type NSDigest struct {
	ID uint16
	engine.Digest
	// Evicts is set when the namespace's engine on this node has evicted
	// items (a memory quota): evictions are not replicated, so its copies
	// may legitimately differ.
	Evicts bool
}

// Digests summarises this node's copies of buckets, in namespace ns only
// when ns >= 0, each under its bucket's lock so that the digest and the LSN
// agree. Items that expire at or before cutoff (Unix ms) are left out;
// namespaces without items of a bucket (and no evictions) are left out of
// its list.
func (r *Replicator) Digests(buckets []uint16, ns int, cutoff int64) []BucketDigest {
	evicts := map[uint16]bool{} // per namespace, read once per call
	out := make([]BucketDigest, len(buckets))
	for i, b := range buckets {
		bs := &r.b[b]
		now := time.Now().UnixMilli()
		bs.mu.Lock()
		d := BucketDigest{Bucket: b, LSN: bs.lsn.Load(), Term: bs.lastTerm(), Held: bs.held}
		// Listed under the lock, as for a snapshot: a namespace created
		// since is in the list if it could have written to the bucket.
		for _, n := range r.namespaces() {
			if ns >= 0 && int(n.ID) != ns {
				continue
			}
			e := inner(n.Engine)
			ev, ok := evicts[n.ID]
			if !ok {
				ev = e.Stats().Evictions > 0
				evicts[n.ID] = ev
			}
			nd := NSDigest{ID: n.ID, Digest: engine.DigestBucket(e, b, now, max(cutoff, now)), Evicts: ev}
			if nd.Count > 0 || nd.Evicts {
				d.NS = append(d.NS, nd)
			}
		}
		bs.mu.Unlock()
		out[i] = d
	}
	r.stats.Digests.Add(uint64(len(buckets)))
	return out
}

// KeyHash is one item of a bucket's copy, as DigestKeys lists it.
type KeyHash struct {
	NS   uint16
	Key  []byte
	Hash uint64 // engine.ItemHash
}

// DigestKeys lists the items of this node's copy of bucket b (namespace ns
// only when ns >= 0) with their hashes, under the bucket's lock, with the
// place in the bucket's history it was taken at (d.NS is left empty): a
// difference that Digests found is narrowed down to keys by comparing the
// lists of two replicas at the same LSN. Items that expire at or before
// cutoff are left out, as in Digests.
func (r *Replicator) DigestKeys(b uint16, ns int, cutoff int64) (d BucketDigest, keys []KeyHash) {
	bs := &r.b[b]
	now := time.Now().UnixMilli()
	h := xxhash.New()
	bs.mu.Lock()
	defer bs.mu.Unlock()
	d = BucketDigest{Bucket: b, LSN: bs.lsn.Load(), Term: bs.lastTerm(), Held: bs.held}
	for _, n := range r.namespaces() {
		if ns >= 0 && int(n.ID) != ns {
			continue
		}
		inner(n.Engine).ScanBucket(b, now, func(key []byte, it *engine.Item) bool {
			if !it.ExpiresBy(max(cutoff, now)) {
				keys = append(keys, KeyHash{NS: n.ID, Key: bytes.Clone(key), Hash: engine.ItemHash(h, key, it)})
			}
			return true
		})
	}
	return d, keys
}
