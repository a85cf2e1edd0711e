package replication

import (
	"crypto/tls"
	"log/slog"
	"math"
	"net"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"granary/internal/namespace"
	"granary/internal/routing"
)

// Defaults.
const (
	// DefaultLease bounds failover: a promoted secondary waits out the old
	// primary's lease (plus a margin) after its last grant.
	DefaultLease    = 750 * time.Millisecond
	DefaultLogBytes = 64 << 20
	// DefaultOrphanKeep outlasts the config servers' --replace-after (30s),
	// after which a bucket's copies go elsewhere.
	DefaultOrphanKeep = time.Minute
	// DefaultSettleTimeout bounds how long a reply waits for its writes to
	// commit; past it the connection is closed (the outcome is unknown to
	// the client, as after a timeout). The config servers take a silent
	// secondary out well within it.
	DefaultSettleTimeout = 10 * time.Second
)

// Options configure a Replicator.
type Options struct {
	Self       string        // this node's id
	Secret     string        // cluster secret peers must present ("" = none)
	Lease      time.Duration // 0 = DefaultLease
	LogBytes   int64         // 0 = DefaultLogBytes
	SourceAddr string        // local IP for outgoing links ("" = any)
	// TLS, when set, makes outgoing links TLS connections verified with it
	// (the peers' RESP ports speak TLS).
	TLS *tls.Config
	// MoveRate bounds the bytes per second of the snapshots a link sends
	// for buckets added to it while it runs (migration), so that a move
	// does not crowd out the writes it streams (0: unlimited).
	MoveRate int64
	// SettleTimeout: 0 = DefaultSettleTimeout.
	SettleTimeout time.Duration
	// OrphanKeep is how long a node keeps the data of a bucket it was taken
	// out of, so that it catches up by replay if it gets it back (0 =
	// DefaultOrphanKeep).
	OrphanKeep time.Duration
	Logger     *slog.Logger
	// Watcher, if set, learns of the keys this node's copies change as a
	// secondary and of the buckets it drops (client-side caching).
	Watcher Watcher
	// MoveNews, if set, is called when a migration step may be ready for
	// the config servers (a learner caught up, the copies of a bucket
	// this node hands over level with it), so that the data server reports
	// at once instead of with its next heartbeat: a handover holds the
	// bucket's commands until the next table. It must not block.
	MoveNews func()
}

// Watcher learns of changes that reach the engines without a command:
// records a secondary applies (snapshots included), buckets dropped (a node
// losing a bucket, a secondary reset for a snapshot, orphans swept, FLUSHDB
// replicated) and buckets whose role on this node changes (a primary
// deposed or moved away, a secondary promoted or removed): BucketDropped
// means "forget what was served of this bucket". Package tracking implements
// it. Its methods are called with the bucket's lock held and must not call
// back into replication or the engines.
type Watcher interface {
	KeyChanged(ns, bucket uint16, key []byte)
	BucketDropped(bucket uint16)
}

// Role is what a node does for a bucket, as commands see it.
type Role uint8

// Roles.
const (
	RoleNone     Role = iota // not a replica
	RolePrimary              // primary with the bucket's data: serves it (within its gate)
	RoleBlocked              // primary without caught-up data: TRYAGAIN
	RoleReplica              // secondary: READONLY reads once Held
	RoleHandover             // primary handing the bucket to another node: TRYAGAIN
	RoleLearner              // migration target catching up: MOVED (it may lead soon)
)

// Gate is a primary's permission to serve a set of buckets: from the end of
// its fence (From) until its secondaries' leases run out (Until), both on
// the Mono clock.
type Gate struct {
	Until atomic.Int64
	From  int64
	peers []*link
}

func (g *Gate) refresh() {
	u := int64(math.MaxInt64)
	for _, l := range g.peers {
		u = min(u, l.leaseUntil.Load())
	}
	g.Until.Store(u)
}

// Serving is the per-bucket view a routing table gives commands.
type Serving struct {
	Role [routing.Buckets]Role
	Gate [routing.Buckets]*Gate
}

var monoBase = time.Now()

// Mono returns milliseconds on the process's monotonic clock.
func Mono() int64 { return MonoOf(time.Now()) }

// MonoOf returns t (read with time.Now) on the Mono clock.
func MonoOf(t time.Time) int64 { return int64(t.Sub(monoBase) / time.Millisecond) }

// Pending is a reply's wait: bucket's entry LSN, written in term, must be
// committed before the reply goes out.
type Pending struct {
	Bucket uint16
	LSN    uint64
	Term   uint64
}

// install is one routing table as replication uses it.
type install struct {
	t    *routing.Table
	self int
	// lead[b] is the term in which this node leads bucket b with its data
	// (0: not leading).
	lead [routing.Buckets]uint64
	// secs[b] indexes lists, the links to bucket b's secondaries (0: the
	// empty list). Buckets share a handful of lists: 32 KB per table
	// instead of 16384 slice headers (384 KB of garbage per table, every
	// migration step, on every data server).
	secs  [routing.Buckets]uint16
	lists [][]*link
}

// secondaries returns the links to bucket b's secondaries.
func (in *install) secondaries(b uint16) []*link { return in.lists[in.secs[b]] }

// Replicator is a data server's replication: its log, its links to the
// secondaries of the buckets it leads, and the streams from its primaries.
type Replicator struct {
	opts  Options
	log   *wlog
	b     [routing.Buckets]bucketState
	reg   *namespace.Registry
	lease int64 // ms
	slog  *slog.Logger

	cur atomic.Pointer[install]

	mu sync.Mutex // installs, links, incoming
	// gmu guards grants alone: a pong must never wait for an install or an
	// orphan sweep (which hold mu for a while), or leases would lapse.
	gmu    sync.Mutex
	links  map[string]*link
	grants map[string]int64 // peer id -> Mono ms of the last lease granted to it
	// incoming tracks the links from this node's primaries: how many are
	// open per peer and when the last one closed; primaries lists the
	// peers that lead a bucket this node is a secondary of.
	incoming  map[string]*incoming
	primaries map[string]bool
	gates     atomic.Pointer[[]*Gate]
	epoch     atomic.Uint64
	// serving is the view the last Install returned (under mu).
	serving *Serving

	cmu     sync.Mutex
	cch     chan struct{} // closed when a commit advances or the table changes
	waiting atomic.Int32

	// durable is the store of the node's persistent namespaces (nil: none).
	durable Durable

	stats Stats
	done  chan struct{} // closed by Close
	once  sync.Once
}

// Stats are replication counters for metrics.
type Stats struct {
	CatchupNone     atomic.Uint64 // bucket catch-ups that found the peer equal
	CatchupReplay   atomic.Uint64 // by log replay
	CatchupSnapshot atomic.Uint64 // by snapshot
	CatchupEmpty    atomic.Uint64 // buckets with no entry yet: reset to empty
	RecordsSent     atomic.Uint64
	RecordsApplied  atomic.Uint64
	BytesSent       atomic.Uint64
	Rejected        atomic.Uint64 // records or frames refused as secondary
	SettleTimeouts  atomic.Uint64 // replies given up on (connection closed)
	LinkResets      atomic.Uint64
	Restored        atomic.Uint64 // buckets read back from disk at start
	MoveBytes       atomic.Uint64 // bytes of bucket copies sent to migration targets
	Digests         atomic.Uint64 // bucket digests computed (anti-entropy)
	Resyncs         atomic.Uint64 // buckets sent again to a secondary as a repair
}

// New returns a Replicator; SetRegistry must be called before it serves.
func New(opts Options) *Replicator {
	if opts.Lease <= 0 {
		opts.Lease = DefaultLease
	}
	if opts.LogBytes <= 0 {
		opts.LogBytes = DefaultLogBytes
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	if opts.SettleTimeout <= 0 {
		opts.SettleTimeout = DefaultSettleTimeout
	}
	if opts.OrphanKeep <= 0 {
		opts.OrphanKeep = DefaultOrphanKeep
	}
	r := &Replicator{
		opts:     opts,
		lease:    opts.Lease.Milliseconds(),
		slog:     opts.Logger,
		links:    map[string]*link{},
		grants:   map[string]int64{},
		incoming: map[string]*incoming{},
		cch:      make(chan struct{}),
	}
	r.log = newLog(opts.LogBytes, r.trimmed)
	for i := range r.b {
		r.b[i].replayFrom.Store(1)
	}
	r.cur.Store(&install{t: &routing.Table{}, self: -1})
	r.done = make(chan struct{})
	go func() {
		t := time.NewTicker(5 * time.Second)
		defer t.Stop()
		for {
			select {
			case <-r.done:
				return
			case <-t.C:
				r.sweepOrphans()
			}
		}
	}()
	return r
}

// SetRegistry gives the replicator the namespaces it applies to and
// snapshots from (their engines are this replicator's wrappers).
func (r *Replicator) SetRegistry(reg *namespace.Registry) { r.reg = reg }

// Held reports whether this node's copy of bucket b is caught up (a
// secondary may serve READONLY reads from it).
func (r *Replicator) Held(b uint16) bool { return r.b[b].heldA.Load() }

// Stats returns the counters.
func (r *Replicator) Stats() *Stats { return &r.stats }

// Lease returns the lease period.
func (r *Replicator) Lease() time.Duration { return r.opts.Lease }

// margin is what a secondary adds to the lease before serving as the new
// primary: it covers clock-rate differences (see the package comment).
func (r *Replicator) margin() int64 { return r.lease/10 + 50 }

func (r *Replicator) trimmed(bucket uint16, lsn uint64) {
	rf := &r.b[bucket].replayFrom
	for {
		old := rf.Load()
		if old > lsn || rf.CompareAndSwap(old, lsn+1) {
			return
		}
	}
}

// logLocked assigns the bucket's next LSN to rec, in the term this node
// leads it, and logs it. Called with the bucket's lock held.
func (r *Replicator) logLocked(bs *bucketState, rec *record) {
	rec.lsn = bs.lsn.Load() + 1
	rec.term = r.cur.Load().lead[rec.bucket]
	bs.advance(rec.lsn, rec.term)
	r.log.append(rec)
	if r.cur.Load().secs[rec.bucket] == 0 {
		bs.committed.Store(rec.lsn)
	}
}

// Note adds to p the wait a reply touching bucket b needs: its last entry,
// unless that is committed already.
func (r *Replicator) Note(p []Pending, b uint16) []Pending {
	bs := &r.b[b]
	l := bs.lsn.Load()
	if l <= bs.committed.Load() {
		return p
	}
	term := r.cur.Load().lead[b]
	if term == 0 {
		return p // a READONLY read of a secondary's copy: no commit to wait for
	}
	for i := range p {
		if p[i].Bucket == b {
			p[i].LSN = max(p[i].LSN, l)
			return p
		}
	}
	return append(p, Pending{Bucket: b, LSN: l, Term: term})
}

// Settle decides whether a batch of replies may go out: the leases the
// batch was served under must still hold (leaseUntil, Mono ms; 0 = none),
// and every pending entry must commit while this node still leads its
// bucket in the same term. false means the outcome is unknown: the caller
// closes the connection instead of replying.
func (r *Replicator) Settle(p []Pending, leaseUntil int64) bool {
	if leaseUntil != 0 && Mono() >= leaseUntil {
		return false
	}
	if len(p) == 0 {
		return true
	}
	var timer *time.Timer
	r.waiting.Add(1)
	defer r.waiting.Add(-1)
	for {
		r.cmu.Lock()
		ch := r.cch
		r.cmu.Unlock()
		cur := r.cur.Load()
		done := true
		for _, w := range p {
			if cur.lead[w.Bucket] != w.Term {
				return false
			}
			if r.b[w.Bucket].committed.Load() < w.LSN {
				done = false
			}
		}
		if done {
			if timer != nil {
				timer.Stop()
			}
			return true
		}
		if timer == nil {
			timer = time.NewTimer(r.opts.SettleTimeout)
		}
		select {
		case <-ch:
		case <-timer.C:
			r.stats.SettleTimeouts.Add(1)
			return false
		}
	}
}

// moveNews tells Options.MoveNews, if set.
func (r *Replicator) moveNews() {
	if f := r.opts.MoveNews; f != nil {
		f()
	}
}

// signal wakes Settle's waiters, if any (after a commit advanced).
func (r *Replicator) signal() {
	if r.waiting.Load() != 0 {
		r.wake()
	}
}

// wake wakes Settle's waiters, counted or not (after a table change).
func (r *Replicator) wake() {
	r.cmu.Lock()
	close(r.cch)
	r.cch = make(chan struct{})
	r.cmu.Unlock()
}

// recompute sets bucket b's committed LSN from its secondaries' acks; it
// reports whether it advanced.
func (r *Replicator) recompute(cur *install, b uint16) bool {
	bs := &r.b[b]
	m := bs.lsn.Load()
	for _, l := range cur.secondaries(b) {
		m = min(m, l.acked[b].Load())
	}
	for {
		old := bs.committed.Load()
		if m <= old {
			return false
		}
		if bs.committed.CompareAndSwap(old, m) {
			return true
		}
	}
}

// nodeAddr returns a table node's address.
func nodeAddr(n routing.Node) string { return net.JoinHostPort(n.Host, strconv.Itoa(n.Port)) }

// Unreachable returns the peers this node, as their primary, has not heard
// from for longer than the lease, or whose port refused a connection since
// (a dead process): the config servers take them out of the buckets'
// configurations so that sync writes go on, and mark a peer that also
// stopped heartbeating down without waiting for the down timeout. It reads
// the links under the replicator's lock only if it can have it at once: ok
// is false while an Install holds it (which may wait for buckets a bulk
// import holds for seconds), so the heartbeat that carries the report never
// waits for one.
func (r *Replicator) Unreachable() (ids []string, ok bool) {
	if !r.mu.TryLock() {
		return nil, false
	}
	defer r.mu.Unlock()
	now := Mono()
	var out []string
	for id, l := range r.links {
		if now-l.lastOK.Load() > r.lease || l.refused.Load() {
			out = append(out, id)
		}
	}
	// A primary whose link to this node broke and did not come back within
	// half a lease (a live one reconnects in milliseconds) is most likely
	// dead: saying so lets the config servers fail it over without waiting
	// for the down timeout.
	for id, in := range r.incoming {
		if in.open == 0 && r.primaries[id] && now-in.lost > r.lease/2 && !slices.Contains(out, id) {
			out = append(out, id)
		}
	}
	return out, true
}

// incoming is the state of the links from one primary.
type incoming struct {
	open int   // links open now
	lost int64 // Mono ms the last one closed
}

// linkOpened and linkClosed track Serve's links from peer.
func (r *Replicator) linkOpened(peer string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	in := r.incoming[peer]
	if in == nil {
		in = &incoming{}
		r.incoming[peer] = in
	}
	in.open++
}

func (r *Replicator) linkClosed(peer string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if in := r.incoming[peer]; in != nil {
		in.open--
		if in.open == 0 {
			in.lost = Mono()
		}
	}
}

// Lag returns, per peer, how many bytes of the log it has not acknowledged
// (an upper bound: records of buckets it does not replicate count too).
func (r *Replicator) Lag() map[string]uint64 {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make(map[string]uint64, len(r.links))
	end := r.log.endPos()
	for id, l := range r.links {
		out[id] = end - min(end, l.ackedPos.Load())
	}
	return out
}

// LogBytes returns the bytes the log holds.
func (r *Replicator) LogBytes() int64 {
	r.log.mu.Lock()
	defer r.log.mu.Unlock()
	return r.log.bytes
}

// Close stops every link and the background sweep.
func (r *Replicator) Close() {
	r.once.Do(func() { close(r.done) })
	r.mu.Lock()
	defer r.mu.Unlock()
	for id, l := range r.links {
		l.stop()
		delete(r.links, id)
	}
}

// Behind counts the buckets this node is a secondary of whose copy has not
// caught up yet (a snapshot or replay is pending or under way).
func (r *Replicator) Behind() int {
	cur := r.cur.Load()
	if cur.self < 0 {
		return 0
	}
	n := 0
	for b, reps := range cur.t.Replicas {
		if len(reps) > 1 && reps[0] != cur.self && slices.Contains(reps[1:], cur.self) && !r.b[b].heldA.Load() {
			n++
		}
	}
	return n
}
