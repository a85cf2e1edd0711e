// Package verify is the client side of anti-entropy (granary ctl verify): it
// asks every replica of every bucket for its digest (GRANARY.DIGEST), compares
// replicas whose digests were taken at the same place in the bucket's history
// (LSN and term), and with Repair has the primary of each differing bucket
// send the differing secondaries a fresh snapshot (GRANARY.RESYNC), then
// checks those buckets again.
package verify

import (
	"cmp"
	"context"
	"crypto/tls"
	"io"
	"log/slog"
	"slices"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/schollz/progressbar/v3"
)

// Replica is a data server holding a copy of a bucket.
type Replica struct {
	ID   string `json:"id"`   // node id
	Addr string `json:"addr"` // RESP address
}

// Options say what to verify and how.
type Options struct {
	// Replicas lists, per bucket to check, its replicas with the primary
	// first. Buckets with one replica have nothing to compare.
	Replicas map[uint16][]Replica
	// Namespace restricts the check to one namespace (-1: all).
	Namespace int
	// Username and Password authenticate to the data servers.
	Username, Password string
	// TLS, when set, connects to the data servers over TLS.
	TLS *tls.Config
	// Repair re-copies differing secondaries from their primaries.
	Repair bool
	// Strict counts differences in namespaces that evicted items (a memory
	// quota) as differences; otherwise they are reported apart.
	Strict bool
	// Parallel bounds the digest commands in flight (0: 4).
	Parallel int
	// Tries is how often a bucket whose replicas are at different LSNs
	// (writes are flowing) is asked again before it is reported unsettled
	// (0: 5).
	Tries int
	// Chunk is the number of buckets per GRANARY.DIGEST command (0: 64).
	Chunk int
	// Grace: items that expire within this long of a check are left out of
	// the digests, so that replicas expiring them a moment apart agree (0:
	// one minute).
	Grace time.Duration
	// MaxKeyBuckets is how many differing buckets have their differing
	// keys listed (GRANARY.DIGESTKEYS), at most MaxKeys each (0: 20 and
	// 10; negative: none).
	MaxKeyBuckets, MaxKeys int
	// Progress, if set, gets a progress bar of the buckets checked.
	Progress io.Writer
	Logger   *slog.Logger
}

// Report is the outcome of a verification.
type Report struct {
	Checked   int    `json:"checked"`   // buckets with two or more replicas
	Single    int    `json:"single"`    // buckets with one replica (nothing to compare)
	Equal     int    `json:"equal"`     // buckets whose replicas all agree
	Different []Diff `json:"different"` // buckets whose replicas differ at the same LSN
	// Evicted lists buckets whose replicas differ only in namespaces where
	// a replica evicted items (not a failure unless Strict).
	Evicted   []Diff      `json:"evicted"`
	Unsettled []Unsettled `json:"unsettled"` // buckets that could not be compared
	// Repaired counts the differing buckets found equal after the repair.
	Repaired int `json:"repaired"`
	// Remaining lists the differences left: Different without a repair,
	// those the repair did not fix with one.
	Remaining []Diff `json:"remaining"`
}

// OK reports whether every bucket could be compared and no difference is
// left.
func (r *Report) OK() bool { return len(r.Unsettled) == 0 && len(r.Remaining) == 0 }

// Diff is a bucket whose replicas differ.
type Diff struct {
	Bucket   uint16         `json:"bucket"`
	LSN      uint64         `json:"lsn"`
	Replicas []ReplicaState `json:"replicas"` // primary first
	// Keys lists keys that differ (see Options.MaxKeyBuckets), or KeysNote
	// says why they are not (all) listed.
	Keys     []KeyDiff `json:"keys,omitempty"`
	KeysNote string    `json:"keys_note,omitempty"`
}

// ReplicaState is one replica's side of a Diff.
type ReplicaState struct {
	Replica
	Items   uint64 `json:"items"`   // items its digest counted
	Differs bool   `json:"differs"` // its digest differs from the primary's
}

// Unsettled is a bucket that could not be compared, and why.
type Unsettled struct {
	Bucket uint16 `json:"bucket"`
	Why    string `json:"why"`
}

func (o *Options) defaults() {
	if o.Parallel <= 0 {
		o.Parallel = 4
	}
	if o.Tries <= 0 {
		o.Tries = 5
	}
	if o.Chunk <= 0 {
		o.Chunk = 64
	}
	if o.MaxKeyBuckets == 0 {
		o.MaxKeyBuckets = 20
	}
	if o.MaxKeys <= 0 {
		o.MaxKeys = 10
	}
	if o.Grace <= 0 {
		o.Grace = time.Minute
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
}

// Run verifies the buckets of o.Replicas.
func Run(ctx context.Context, o Options) (*Report, error) {
	o.defaults()
	v := &verifier{o: o, clients: map[string]*redis.Client{}}
	defer v.close()
	rep := &Report{}
	var buckets []uint16
	for b, reps := range o.Replicas {
		if len(reps) < 2 {
			rep.Single++
			continue
		}
		buckets = append(buckets, b)
	}
	slices.Sort(buckets)
	rep.Checked = len(buckets)
	bar := progressbar.DefaultSilent(int64(len(buckets)))
	if o.Progress != nil {
		bar = progressbar.NewOptions(len(buckets),
			progressbar.OptionSetWriter(o.Progress),
			progressbar.OptionSetDescription("verifying buckets"),
			progressbar.OptionShowCount(),
			progressbar.OptionThrottle(200*time.Millisecond),
			progressbar.OptionSetPredictTime(true),
			progressbar.OptionOnCompletion(func() { io.WriteString(o.Progress, "\n") }),
			progressbar.OptionFullWidth())
	}
	res, err := v.check(ctx, buckets, o.Tries, 2, bar)
	if err != nil {
		return nil, err
	}
	bar.Finish()
	rep.Equal = res.equal
	rep.Different, rep.Evicted, rep.Unsettled = res.different, res.evicted, res.unsettled
	if o.Strict {
		rep.Different = append(rep.Different, rep.Evicted...)
		slices.SortFunc(rep.Different, func(a, b Diff) int { return cmp.Compare(a.Bucket, b.Bucket) })
		rep.Evicted = nil
	}
	v.narrow(ctx, rep.Different)
	rep.Remaining = rep.Different
	if !o.Repair || len(rep.Different) == 0 {
		return rep, nil
	}
	v.repair(ctx, rep.Different)
	again := make([]uint16, len(rep.Different))
	for i, d := range rep.Different {
		again[i] = d.Bucket
	}
	// The snapshots go out on the replication links in the background: a
	// bucket still being copied shows as not caught up, one not started yet
	// as still different; both are asked again, for a while.
	tries := 3 * o.Tries
	res, err = v.check(ctx, again, tries, tries, progressbar.DefaultSilent(int64(len(again))))
	if err != nil {
		return nil, err
	}
	rep.Repaired = res.equal
	rep.Remaining = append(res.different, res.evicted...)
	for _, u := range res.unsettled {
		rep.Unsettled = append(rep.Unsettled, Unsettled{u.Bucket, "after the repair: " + u.Why})
	}
	return rep, nil
}
