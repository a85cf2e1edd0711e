package replication

import (
	"errors"
	"strconv"
	"testing"
	"time"

	"granary/internal/engine"
)

// TestDigestsAndResync: a primary and its secondary give equal digests at
// the same LSN; a write to the secondary's engine behind replication's
// back makes them differ at that LSN; Resync has the primary send the
// secondary a snapshot on the running link, after which they agree again
// and the stream goes on.
func TestDigestsAndResync(t *testing.T) {
	a, b := newNode(t, "a", time.Second), newNode(t, "b", time.Second)
	tb := table(1, 1, []*node{a, b}, 0, 1)
	b.r.Install(tb)
	a.r.Install(tb)
	const bucket = 7
	for i := range 50 {
		p := set(t, a, uint16(i%2*3), bucket, "k"+strconv.Itoa(i), "v"+strconv.Itoa(i))
		if !a.r.Settle(p, 0) {
			t.Fatal("write not committed")
		}
	}
	digest := func(n *node) BucketDigest {
		return n.r.Digests([]uint16{bucket}, -1, time.Now().UnixMilli())[0]
	}
	same := func(x, y BucketDigest) bool {
		if x.LSN != y.LSN || x.Term != y.Term || len(x.NS) != len(y.NS) {
			return false
		}
		for i := range x.NS {
			if x.NS[i] != y.NS[i] {
				return false
			}
		}
		return true
	}
	da, db := digest(a), digest(b)
	if !same(da, db) || !da.Held || !db.Held || da.LSN != 50 {
		t.Fatalf("digests of equal copies: primary %+v, secondary %+v", da, db)
	}
	if len(da.NS) != 2 || da.NS[0].ID != 0 || da.NS[1].ID != 3 || da.NS[0].Count != 25 {
		t.Fatalf("namespaces of the digest: %+v", da.NS)
	}
	if only := a.r.Digests([]uint16{bucket}, 3, 0)[0]; len(only.NS) != 1 || only.NS[0] != da.NS[1] {
		t.Fatalf("digest of namespace 3 alone: %+v", only.NS)
	}

	if _, err := b.r.SetLocal(b.reg.Get(3), bucket, []byte("k1"), engine.Item{Type: engine.TypeString, Value: []byte("damaged")}, time.Now().UnixMilli()); err != nil {
		t.Fatal(err)
	}
	if db = digest(b); same(da, db) || db.LSN != da.LSN {
		t.Fatalf("a changed copy at the same LSN: primary %+v, secondary %+v", da, db)
	}
	// The key lists narrow the difference down to k1 in namespace 3.
	ka, la := a.r.DigestKeys(bucket, -1, 0)
	kb, lb := b.r.DigestKeys(bucket, -1, 0)
	if ka.LSN != kb.LSN || len(la) != 50 || len(lb) != 50 {
		t.Fatalf("key lists: LSN %d and %d, %d and %d keys", ka.LSN, kb.LSN, len(la), len(lb))
	}
	hashes := map[string]uint64{}
	for _, k := range la {
		hashes[strconv.Itoa(int(k.NS))+"/"+string(k.Key)] = k.Hash
	}
	var differ []string
	for _, k := range lb {
		if id := strconv.Itoa(int(k.NS)) + "/" + string(k.Key); hashes[id] != k.Hash {
			differ = append(differ, id)
		}
	}
	if len(differ) != 1 || differ[0] != "3/k1" {
		t.Fatalf("keys that differ: %v, want [3/k1]", differ)
	}
	if _, l := a.r.DigestKeys(bucket, 0, 0); len(l) != 25 {
		t.Fatalf("namespace 0 lists %d keys, want 25", len(l))
	}

	for _, tc := range []struct {
		name string
		n    *node
		peer string
	}{
		{"from the secondary", b, "a"},
		{"to a node that is no secondary", a, "c"},
	} {
		if err := tc.n.r.Resync(tc.peer, []uint16{bucket}); err == nil {
			t.Fatalf("Resync %s: no error", tc.name)
		} else if tc.n == b && !errors.Is(err, ErrNotPrimary) {
			t.Fatalf("Resync %s: %v", tc.name, err)
		}
	}
	resets := a.r.stats.LinkResets.Load()
	if err := a.r.Resync("b", []uint16{bucket}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the secondary's copy to match again", func() bool { return same(digest(a), digest(b)) })
	if v, ok := get(t, b, 3, bucket, "k1"); !ok || v != "v1" {
		t.Fatalf("secondary's k1 after the resync: %q %v", v, ok)
	}
	if n := a.r.stats.Resyncs.Load(); n != 1 {
		t.Fatalf("%d resyncs counted", n)
	}
	if n := a.r.stats.LinkResets.Load(); n != resets {
		t.Fatalf("the link reset %d times during the resync", n-resets)
	}
	if !a.r.Settle(set(t, a, 0, bucket, "after", "x"), 0) {
		t.Fatal("write after the resync not committed")
	}
	if v, ok := get(t, b, 0, bucket, "after"); !ok || v != "x" {
		t.Fatalf("write after the resync: %q %v", v, ok)
	}
	if !same(digest(a), digest(b)) {
		t.Fatal("copies differ after a write following the resync")
	}
}
