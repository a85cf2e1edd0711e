package verify

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/schollz/progressbar/v3"
)

// verifier holds one verification's connections.
type verifier struct {
	o       Options
	mu      sync.Mutex
	clients map[string]*redis.Client // by address
}

func (v *verifier) client(addr string) *redis.Client {
	v.mu.Lock()
	defer v.mu.Unlock()
	c := v.clients[addr]
	if c == nil {
		c = redis.NewClient(&redis.Options{
			Addr: addr, Username: v.o.Username, Password: v.o.Password,
			PoolSize: v.o.Parallel, MaxRetries: 1, TLSConfig: v.o.TLS,
			// A digest scans its buckets' items: give big buckets time.
			ReadTimeout: time.Minute,
		})
		v.clients[addr] = c
	}
	return c
}

func (v *verifier) close() {
	for _, c := range v.clients {
		c.Close()
	}
}

// result is the outcome of check.
type result struct {
	equal              int
	different, evicted []Diff
	unsettled          []Unsettled
}

// round is one pass of digests: per bucket, per replica index, its digest,
// or the error of its node.
type round struct {
	mu   sync.Mutex
	got  map[uint16][]*digest
	errs map[string]error // by address
}

// collect asks every replica of buckets for its digests, Parallel commands
// at a time.
func (v *verifier) collect(ctx context.Context, buckets []uint16) *round {
	r := &round{got: map[uint16][]*digest{}, errs: map[string]error{}}
	perNode := map[string][]uint16{}
	for _, b := range buckets {
		reps := v.o.Replicas[b]
		r.got[b] = make([]*digest, len(reps))
		for _, rep := range reps {
			perNode[rep.Addr] = append(perNode[rep.Addr], b)
		}
	}
	cutoff := time.Now().Add(v.o.Grace).UnixMilli()
	sem := make(chan struct{}, v.o.Parallel)
	var wg sync.WaitGroup
	for addr, bs := range perNode {
		for chunk := range slices.Chunk(bs, v.o.Chunk) {
			sem <- struct{}{}
			wg.Go(func() {
				defer func() { <-sem }()
				ds, err := fetchDigests(ctx, v.client(addr), cutoff, v.o.Namespace, chunk)
				r.mu.Lock()
				defer r.mu.Unlock()
				if err != nil {
					r.errs[addr] = err
					return
				}
				for _, b := range chunk {
					for i, rep := range v.o.Replicas[b] {
						if rep.Addr == addr {
							r.got[b][i] = ds[b]
						}
					}
				}
			})
		}
	}
	wg.Wait()
	return r
}

// check compares the replicas of buckets, asking again for those whose
// replicas were not at the same LSN, and for differences until one was seen
// confirm times, up to tries rounds.
func (v *verifier) check(ctx context.Context, buckets []uint16, tries, confirm int, bar *progressbar.ProgressBar) (*result, error) {
	res := &result{}
	seen := map[uint16]int{} // differences seen per bucket
	pending := buckets
	for try := 1; len(pending) > 0; try++ {
		last := try >= tries
		if try > 1 {
			select {
			case <-ctx.Done():
				return nil, ctx.Err()
			case <-time.After(time.Duration(try) * 100 * time.Millisecond):
			}
		}
		rd := v.collect(ctx, pending)
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		var next []uint16
		for _, b := range pending {
			reps := v.o.Replicas[b]
			ds := rd.got[b]
			why := settled(reps, ds, rd.errs)
			if why != "" {
				if last {
					res.unsettled = append(res.unsettled, Unsettled{b, why})
					bar.Add(1)
				} else {
					next = append(next, b)
				}
				continue
			}
			diff := Diff{Bucket: b, LSN: ds[0].lsn}
			evictedOnly := true
			for i, d := range ds {
				eq, ev := compare(ds[0], d)
				diff.Replicas = append(diff.Replicas, ReplicaState{Replica: reps[i], Items: d.items(), Differs: !eq})
				if !eq && !ev {
					evictedOnly = false
				}
			}
			if !slices.ContainsFunc(diff.Replicas, func(r ReplicaState) bool { return r.Differs }) {
				res.equal++
				bar.Add(1)
				continue
			}
			seen[b]++
			if seen[b] < confirm && !last {
				next = append(next, b)
				continue
			}
			if evictedOnly {
				res.evicted = append(res.evicted, diff)
			} else {
				res.different = append(res.different, diff)
			}
			bar.Add(1)
		}
		if len(next) > 0 {
			v.o.Logger.Debug("verify: asking again", "buckets", len(next), "try", try+1)
		}
		pending = next
	}
	return res, nil
}

// settled returns why a bucket's digests cannot be compared ("" when they
// can): a replica did not answer, has not caught up, or is at another
// place in the bucket's history.
func settled(reps []Replica, ds []*digest, errs map[string]error) string {
	for i, d := range ds {
		switch {
		case d == nil && errs[reps[i].Addr] != nil:
			return fmt.Sprintf("node %s (%s): %v", reps[i].ID, reps[i].Addr, errs[reps[i].Addr])
		case d == nil:
			return fmt.Sprintf("node %s (%s) gave no digest", reps[i].ID, reps[i].Addr)
		case !d.held:
			return fmt.Sprintf("node %s has not caught up", reps[i].ID)
		case d.lsn != ds[0].lsn || d.term != ds[0].term:
			return fmt.Sprintf("replicas at different places in the bucket's history (LSN %d term %d, %d term %d): writes are flowing", ds[0].lsn, ds[0].term, d.lsn, d.term)
		}
	}
	return ""
}

// repair has the primary of each differing bucket send its differing
// secondaries a fresh snapshot. A primary that refuses (the table changed
// since) is logged: the check after the repair reports its buckets.
func (v *verifier) repair(ctx context.Context, diffs []Diff) {
	type pair struct{ primary, secondary string }
	jobs := map[pair][]any{}
	for _, d := range diffs {
		for _, r := range d.Replicas[1:] {
			if r.Differs {
				k := pair{d.Replicas[0].Addr, r.ID}
				jobs[k] = append(jobs[k], d.Bucket)
			}
		}
	}
	for k, bs := range jobs {
		args := append([]any{"GRANARY.RESYNC", k.secondary}, bs...)
		if err := v.client(k.primary).Do(ctx, args...).Err(); err != nil {
			v.o.Logger.Warn("verify: repair refused", "primary", k.primary, "secondary", k.secondary, "err", err)
			continue
		}
		v.o.Logger.Info("verify: secondary re-copies buckets from its primary", "primary", k.primary, "secondary", k.secondary, "buckets", len(bs))
	}
}
