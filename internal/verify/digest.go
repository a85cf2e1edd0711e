package verify

import (
	"context"
	"fmt"
	"strconv"

	"github.com/redis/go-redis/v9"
)

// digest is one replica's answer to GRANARY.DIGEST for one bucket.
type digest struct {
	lsn, term uint64
	held      bool
	ns        map[uint16]nsDigest
}

type nsDigest struct {
	count  uint64
	sum    string
	evicts bool
}

// items returns the items the digest counts over every namespace.
func (d *digest) items() uint64 {
	var n uint64
	for _, x := range d.ns {
		n += x.count
	}
	return n
}

// fetchDigests asks one data server for the digests of buckets.
func fetchDigests(ctx context.Context, c *redis.Client, cutoff int64, ns int, buckets []uint16) (map[uint16]*digest, error) {
	args := make([]any, 0, 3+len(buckets))
	nsArg := "*"
	if ns >= 0 {
		nsArg = strconv.Itoa(ns)
	}
	args = append(args, "GRANARY.DIGEST", cutoff, nsArg)
	for _, b := range buckets {
		args = append(args, b)
	}
	v, err := c.Do(ctx, args...).Slice()
	if err != nil {
		return nil, err
	}
	out := make(map[uint16]*digest, len(v))
	for _, e := range v {
		b, d, err := parseDigest(e)
		if err != nil {
			return nil, fmt.Errorf("GRANARY.DIGEST reply: %w", err)
		}
		out[b] = d
	}
	return out, nil
}

// parseDigest decodes [bucket, lsn, term, held, [[ns, count, sum, evicts], ...]].
func parseDigest(v any) (uint16, *digest, error) {
	a, ok := v.([]any)
	if !ok || len(a) != 5 {
		return 0, nil, fmt.Errorf("unexpected entry %v", v)
	}
	var f [4]int64
	for i := range f {
		if f[i], ok = a[i].(int64); !ok {
			return 0, nil, fmt.Errorf("unexpected field %v", a[i])
		}
	}
	d := &digest{lsn: uint64(f[1]), term: uint64(f[2]), held: f[3] == 1, ns: map[uint16]nsDigest{}}
	list, ok := a[4].([]any)
	if !ok {
		return 0, nil, fmt.Errorf("unexpected namespace list %v", a[4])
	}
	for _, x := range list {
		n, ok := x.([]any)
		if !ok || len(n) != 4 {
			return 0, nil, fmt.Errorf("unexpected namespace entry %v", x)
		}
		id, ok1 := n[0].(int64)
		count, ok2 := n[1].(int64)
		sum, ok3 := n[2].(string)
		evicts, ok4 := n[3].(int64)
		if !ok1 || !ok2 || !ok3 || !ok4 {
			return 0, nil, fmt.Errorf("unexpected namespace entry %v", x)
		}
		d.ns[uint16(id)] = nsDigest{count: uint64(count), sum: sum, evicts: evicts == 1}
	}
	return uint16(f[0]), d, nil
}

// compare tells whether two replicas' digests agree: equal, or different
// only in namespaces where one of them evicted items (which replication
// does not ship), or different.
func compare(a, b *digest) (equal, evictedOnly bool) {
	equal, evictedOnly = true, true
	check := func(id uint16) {
		x, y := a.ns[id], b.ns[id]
		if x.count == y.count && (x.count == 0 || x.sum == y.sum) {
			return
		}
		equal = false
		if !x.evicts && !y.evicts {
			evictedOnly = false
		}
	}
	for id := range a.ns {
		check(id)
	}
	for id := range b.ns {
		if _, ok := a.ns[id]; !ok {
			check(id)
		}
	}
	return equal, !equal && evictedOnly
}
