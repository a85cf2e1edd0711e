package verify

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"
)

// KeyDiff is one key on which a secondary's copy differs from its
// primary's.
type KeyDiff struct {
	NS   uint16 `json:"namespace"`
	Key  string `json:"key"`
	Node string `json:"node"` // the secondary's id
	// Kind: "missing" (on the primary only), "extra" (on the secondary
	// only) or "differs" (value, type, version or expiry).
	Kind string `json:"kind"`
}

// keyHashes is one replica's answer to GRANARY.DIGESTKEYS.
type keyHashes struct {
	lsn, term uint64
	items     map[nsKey]string // hash by namespace and key
}

type nsKey struct {
	ns  uint16
	key string
}

func (v *verifier) fetchKeys(ctx context.Context, addr string, cutoff int64, b uint16) (*keyHashes, error) {
	nsArg := "*"
	if v.o.Namespace >= 0 {
		nsArg = fmt.Sprint(v.o.Namespace)
	}
	a, err := v.client(addr).Do(ctx, "GRANARY.DIGESTKEYS", cutoff, nsArg, b).Slice()
	if err != nil {
		return nil, err
	}
	bad := fmt.Errorf("GRANARY.DIGESTKEYS: unexpected reply %v", a)
	if len(a) != 5 {
		return nil, bad
	}
	lsn, ok1 := a[1].(int64)
	term, ok2 := a[2].(int64)
	list, ok3 := a[4].([]any)
	if !ok1 || !ok2 || !ok3 {
		return nil, bad
	}
	k := &keyHashes{lsn: uint64(lsn), term: uint64(term), items: make(map[nsKey]string, len(list))}
	for _, x := range list {
		e, ok := x.([]any)
		if !ok || len(e) != 3 {
			return nil, bad
		}
		ns, ok1 := e[0].(int64)
		key, ok2 := e[1].(string)
		h, ok3 := e[2].(string)
		if !ok1 || !ok2 || !ok3 {
			return nil, bad
		}
		k.items[nsKey{uint16(ns), key}] = h
	}
	return k, nil
}

// narrow lists, for the first MaxKeyBuckets of diffs, the keys on which
// their differing secondaries differ from the primary (at most MaxKeys per
// bucket), when the replicas are still at the same LSN; KeysNote says why
// not otherwise.
func (v *verifier) narrow(ctx context.Context, diffs []Diff) {
	cutoff := time.Now().Add(v.o.Grace).UnixMilli()
	for i := range diffs[:max(0, min(len(diffs), v.o.MaxKeyBuckets))] {
		d := &diffs[i]
		var lists []*keyHashes
		for _, r := range d.Replicas {
			k, err := v.fetchKeys(ctx, r.Addr, cutoff, d.Bucket)
			if err != nil {
				d.KeysNote = fmt.Sprintf("keys not listed: node %s: %v", r.ID, err)
				break
			}
			if len(lists) > 0 && (k.lsn != lists[0].lsn || k.term != lists[0].term) {
				d.KeysNote = "keys not listed: the bucket changed since its digests"
				break
			}
			lists = append(lists, k)
		}
		if d.KeysNote != "" {
			continue
		}
		for j, r := range d.Replicas[1:] {
			if r.Differs {
				d.Keys = append(d.Keys, keyDiffs(lists[0], lists[j+1], r.ID)...)
			}
		}
		slices.SortFunc(d.Keys, func(a, b KeyDiff) int {
			if a.NS != b.NS {
				return int(a.NS) - int(b.NS)
			}
			return strings.Compare(a.Key, b.Key)
		})
		if len(d.Keys) > v.o.MaxKeys {
			d.KeysNote = fmt.Sprintf("%d more keys differ", len(d.Keys)-v.o.MaxKeys)
			d.Keys = d.Keys[:v.o.MaxKeys]
		}
	}
}

// keyDiffs compares a secondary's items with the primary's.
func keyDiffs(primary, secondary *keyHashes, node string) []KeyDiff {
	var out []KeyDiff
	for k, h := range primary.items {
		switch sh, ok := secondary.items[k]; {
		case !ok:
			out = append(out, KeyDiff{k.ns, k.key, node, "missing"})
		case sh != h:
			out = append(out, KeyDiff{k.ns, k.key, node, "differs"})
		}
	}
	for k := range secondary.items {
		if _, ok := primary.items[k]; !ok {
			out = append(out, KeyDiff{k.ns, k.key, node, "extra"})
		}
	}
	return out
}
