package dataserver

import (
	"context"
	"errors"
	"granary/internal/acl"
	"log/slog"
	"net"
	"net/http"
	"slices"
	"strconv"
	"sync/atomic"
	"time"

	"granary/internal/clusterapi"
	"granary/internal/namespace"
	"granary/internal/routing"
)

// Cluster mode: the data server heartbeats the config servers, learns the
// routing table and the namespace definitions from their replies, and serves
// the buckets the table gives it.
//
// Tair's rule holds: when every config server is unreachable the data server
// keeps serving with the table it has; it only ever moves to a newer epoch.

const (
	// DefaultHeartbeat is the heartbeat interval until a config server says
	// otherwise.
	DefaultHeartbeat = 250 * time.Millisecond
	// notAddedRetry is the heartbeat interval of a node the config servers
	// refuse (never added with granary ctl node add).
	notAddedRetry = 2 * time.Second
	// attemptTimeout bounds one heartbeat to one config server, so that an
	// unanswering one does not hold up the others.
	attemptTimeout = 2 * time.Second
	// notAddedLogEvery repeats the "not part of the cluster" error.
	notAddedLogEvery = 30 * time.Second
	// newsGap is the least time between two heartbeats when replication
	// has news for the migration scheduler: news within it go together
	// (each such heartbeat makes the leader run its scheduler).
	newsGap = 50 * time.Millisecond
	// tableWait is how long one long poll for the next table waits (below
	// the HTTP client's timeout).
	tableWait = 4 * time.Second
)

// nsDefs are the namespaces the config servers define, and the number of data
// servers holding buckets in the current table, which share each quota.
type nsDefs struct {
	byID    map[uint16]clusterapi.Namespace
	holders int
}

// quota returns this node's share of a cluster-wide quota (0: unlimited).
func (n *nsDefs) quota(ns clusterapi.Namespace) int64 {
	if ns.Quota <= 0 {
		return 0
	}
	if n.holders <= 1 {
		return ns.Quota
	}
	return max(ns.Quota/int64(n.holders), 1)
}

// quotaOf returns the quota namespace id gets on this node: its share of the
// definition's quota, or the default for namespaces nobody defined.
func (d *DataServer) quotaOf(id uint16) int64 {
	if defs := d.defs.Load(); defs != nil {
		if ns, ok := defs.byID[id]; ok {
			return defs.quota(ns)
		}
	}
	return d.defaultQuota
}

// NamespaceDef is a namespace defined on the config servers, with the quota
// this node enforces for it.
type NamespaceDef struct {
	clusterapi.Namespace
	LocalQuota int64 // Quota / data servers holding buckets (0: unlimited)
}

// NamespaceDefs returns the namespaces the config servers define, by id.
// Namespaces not listed work too, with the default settings.
func (d *DataServer) NamespaceDefs() []NamespaceDef {
	defs := d.defs.Load()
	if defs == nil {
		return nil
	}
	out := make([]NamespaceDef, 0, len(defs.byID))
	for _, ns := range defs.byID {
		out = append(out, NamespaceDef{Namespace: ns, LocalQuota: defs.quota(ns)})
	}
	slices.SortFunc(out, func(a, b NamespaceDef) int { return int(a.ID) - int(b.ID) })
	return out
}

// cluster is the heartbeat loop's state: its sender goroutine and its
// applier goroutine (run) share only the atomic fields.
type cluster struct {
	d    *DataServer
	log  *slog.Logger
	self routing.Node
	addr string // advertised RESP address
	http string // advertised HTTP address
	zone string

	addrs   []string // configured config server addresses
	clients map[string]*clusterapi.Client
	leader  string // leader's address, as the last reply said
	lastOK  string // last address that answered
	// watchLeader is the leader's address for watch (nil or "": none
	// known); watcher is the client watch speaks with.
	watchLeader atomic.Pointer[string]
	watcher     *clusterapi.Client

	// Written by the applier (apply), read by the sender (request, beat).
	interval     atomic.Int64 // time.Duration
	nsVersion    atomic.Uint64
	usersVersion atomic.Uint64
	// boot is this process's incarnation; acked once a reply echoed it.
	// Until then the node installs no table: it may have lost data the
	// table still credits it with.
	boot  string
	acked atomic.Bool
	// The sender's last reports of unreachable peers and migrations, sent
	// again while the replicator is busy installing a table.
	unreachable []string
	moves       []clusterapi.MoveReport
	hc          *http.Client
	https       bool // the config servers' API speaks TLS
	nsByID      map[uint16]clusterapi.Namespace
	applied     map[uint16]int64 // quotas set on defined namespaces' engines

	// Logging state, so that an outage or a refusal is not logged per beat.
	outage      bool
	notAdded    bool
	notAddedLog time.Time
	badEpoch    uint64
}

func newCluster(d *DataServer, opts Options, self routing.Node) *cluster {
	c := &cluster{
		d:       d,
		log:     d.log,
		self:    self,
		addr:    net.JoinHostPort(self.Host, strconv.Itoa(self.Port)),
		zone:    opts.Zone,
		addrs:   slices.Clone(opts.ConfigServers),
		clients: map[string]*clusterapi.Client{},
		applied: map[uint16]int64{},
		https:   opts.TLSClient != nil,
	}
	c.boot, _ = newNodeID()
	c.boot = c.boot[:16]
	tr := http.DefaultTransport.(*http.Transport).Clone()
	if opts.SourceAddr != "" {
		tr.DialContext = (&net.Dialer{Timeout: 5 * time.Second, LocalAddr: &net.TCPAddr{IP: net.ParseIP(opts.SourceAddr)}}).DialContext
	}
	// A copy: the transport adds its protocols to the configuration.
	tr.TLSClientConfig = opts.TLSClient.Clone() // nil: plain HTTP
	c.hc = &http.Client{Timeout: 5 * time.Second, Transport: tr}
	c.watcher = clusterapi.NewClientHTTP(nil, c.hc, c.https)
	if h := d.HTTPAddr(); h != "" {
		host, port, _ := net.SplitHostPort(h)
		if ip := net.ParseIP(host); ip != nil && ip.IsUnspecified() {
			host = self.Host
		}
		c.http = net.JoinHostPort(host, port)
	}
	return c
}

// run heartbeats until ctx is done. Replies are applied on a goroutine of
// their own: installing a table can wait for buckets that a bulk import or
// a snapshot holds for seconds, and the heartbeats, which tell the config
// servers this node is alive, must go on meanwhile. A reply not yet applied
// is replaced by a newer one: each reply holds all that changed since what
// the heartbeat reported (its table epoch and versions), and those stay
// where they were until a reply is applied.
//
// Besides, a long poll (watch) brings each new table as soon as it is
// committed, and replication's news for the migration scheduler (a bucket
// ready for its next step) go out at once in an extra heartbeat: a bucket
// handed over is held from one table to the next, so these two make the
// hold last until the scheduler's next step (a fraction of a second)
// instead of two or three heartbeat intervals.
func (c *cluster) run(ctx context.Context) {
	replies := make(chan *clusterapi.HeartbeatResponse, 1)
	tables := make(chan *clusterapi.TableUpdate, 1)
	done := make(chan struct{}, 2)
	go func() {
		defer func() { done <- struct{}{} }()
		for {
			select {
			case <-ctx.Done():
				return
			case r := <-replies:
				c.apply(r)
			case u := <-tables:
				if c.acked.Load() && c.applyTable(u.Table, u.Nodes) {
					c.applyQuotas()
				}
			}
		}
	}()
	go func() {
		defer func() { done <- struct{}{} }()
		c.watch(ctx, func(u *clusterapi.TableUpdate) { offer(tables, u) })
	}()
	defer func() { <-done; <-done }()
	t := time.NewTimer(0)
	defer t.Stop()
	var last time.Time
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		case <-c.d.moveNews:
			if wait := newsGap - time.Since(last); wait > 0 {
				select {
				case <-ctx.Done():
					return
				case <-time.After(wait):
				}
			}
			t.Stop()
		}
		last = time.Now()
		t.Reset(c.beat(ctx, func(r *clusterapi.HeartbeatResponse) { offer(replies, r) }))
	}
}

// offer puts v in the one-slot channel ch, replacing what it holds: each
// heartbeat reply or table supersedes the one before.
func offer[T any](ch chan T, v T) {
	for {
		select {
		case ch <- v:
			return
		default:
		}
		select {
		case <-ch: // superseded
		default:
		}
	}
}

// watch long-polls the config servers for the tables after the newest one
// this node has or was handed, and hands each to apply. It asks the leader
// the heartbeats found, else the configured servers in turn; it waits a
// heartbeat interval after a failure, and longer when a config server
// does not know the request (an older version).
func (c *cluster) watch(ctx context.Context, apply func(*clusterapi.TableUpdate)) {
	var seen uint64 // newest epoch handed to apply
	next := 0
	for ctx.Err() == nil {
		pause := time.Duration(0)
		switch {
		case !c.acked.Load():
			pause = c.beatInterval() // no table before the boot is acknowledged
		default:
			addr := c.watchLeader.Load()
			if addr == nil || *addr == "" {
				a := c.addrs[next%len(c.addrs)]
				addr = &a
			}
			after := max(seen, c.d.node.Table().Epoch)
			u, err := c.watcher.To([]string{*addr}).NextTable(ctx, after, tableWait)
			var se *clusterapi.StatusError
			switch {
			case err == nil && u.Table != nil && u.Table.Epoch > after:
				seen = u.Table.Epoch
				apply(u)
			case err == nil:
			case ctx.Err() != nil:
				return
			case errors.As(err, &se) && se.Code == http.StatusNotFound:
				pause = 30 * time.Second
				next++
			default:
				pause = c.beatInterval()
				next++
				c.watchLeader.CompareAndSwap(addr, nil)
			}
		}
		if pause > 0 {
			select {
			case <-ctx.Done():
				return
			case <-time.After(pause):
			}
		}
	}
}

// beat sends one heartbeat, hands the reply to apply and returns the time
// until the next one.
func (c *cluster) beat(ctx context.Context, apply func(*clusterapi.HeartbeatResponse)) time.Duration {
	r, err := c.send(ctx, c.request())
	switch {
	case err == nil:
		if c.outage {
			c.log.Info("config servers reachable again", "config_server", c.lastOK)
			c.outage = false
		}
		if c.notAdded {
			c.log.Info("node accepted by the config servers", "id", c.self.ID)
			c.notAdded = false
		}
		apply(r)
		return c.beatInterval()
	case ctx.Err() != nil:
		return time.Hour // run returns at once
	case errors.Is(err, clusterapi.ErrNotAdded):
		if now := time.Now(); !c.notAdded || now.Sub(c.notAddedLog) >= notAddedLogEvery {
			c.log.Error("node "+c.self.ID+" is not part of the cluster: run granary ctl node add "+c.self.ID,
				"id", c.self.ID, "config_servers", c.addrs, "reply", err.Error())
			c.notAddedLog = now
		}
		c.notAdded = true
		return notAddedRetry
	default:
		if !c.outage {
			epoch := c.d.node.Table().Epoch
			msg := "no config server reachable: serving with the routing table held"
			if epoch == 0 {
				msg = "no config server reachable: no routing table yet, no bucket served"
			}
			if se := (*clusterapi.StatusError)(nil); errors.As(err, &se) && se.Code < 500 {
				// Reachable, but the heartbeat is refused: a bug or a
				// version mismatch rather than an outage.
				c.log.Error("config servers reject the heartbeat", "epoch", epoch, "config_servers", c.order(), "err", err)
			} else {
				c.log.Warn(msg, "epoch", epoch, "config_servers", c.order(), "err", err)
			}
			c.outage = true
		}
		return c.beatInterval()
	}
}

// beatInterval is the heartbeat period the config servers asked for.
func (c *cluster) beatInterval() time.Duration {
	if iv := time.Duration(c.interval.Load()); iv > 0 {
		return iv
	}
	return DefaultHeartbeat
}

// order returns the addresses to try: the leader, the last that answered,
// then the configured ones.
func (c *cluster) order() []string {
	out := make([]string, 0, len(c.addrs)+2)
	add := func(a string) {
		if a != "" && !slices.Contains(out, a) {
			out = append(out, a)
		}
	}
	add(c.leader)
	add(c.lastOK)
	for _, a := range c.addrs {
		add(a)
	}
	return out
}

// send tries the config servers in order until one answers. A refusal of the
// node (ErrNotAdded) is final.
func (c *cluster) send(ctx context.Context, req *clusterapi.HeartbeatRequest) (*clusterapi.HeartbeatResponse, error) {
	var lastErr error
	for _, a := range c.order() {
		cl := c.clients[a]
		if cl == nil {
			cl = clusterapi.NewClientHTTP([]string{a}, c.hc, c.https)
			c.clients[a] = cl
		}
		actx, cancel := context.WithTimeout(ctx, attemptTimeout)
		r, err := cl.Heartbeat(actx, req)
		cancel()
		if err == nil {
			c.lastOK = a
			if r.Leader != "" {
				c.leader = r.Leader
			} else if c.leader == a {
				c.leader = ""
			}
			if l := c.watchLeader.Load(); l == nil || *l != c.leader {
				leader := c.leader
				c.watchLeader.Store(&leader)
			}
			return r, nil
		}
		if errors.Is(err, clusterapi.ErrNotAdded) || ctx.Err() != nil {
			return nil, err
		}
		if c.leader == a {
			c.leader = "" // fall back on the others until one names a leader
		}
		lastErr = err
	}
	return nil, lastErr
}

// request builds a heartbeat.
func (c *cluster) request() *clusterapi.HeartbeatRequest {
	n := c.d.node
	req := &clusterapi.HeartbeatRequest{
		NodeID:       n.ID,
		Addr:         c.addr,
		HTTP:         c.http,
		Zone:         c.zone,
		Epoch:        n.Table().Epoch,
		NSVersion:    c.nsVersion.Load(),
		UsersVersion: c.usersVersion.Load(),
		Uptime:       time.Since(n.Started),
		Boot:         c.boot,
	}
	if !c.acked.Load() {
		req.Epoch = 0 // the reply that acknowledges the boot carries the table
	}
	if n.Repl != nil {
		if ids, ok := n.Repl.Unreachable(); ok {
			c.unreachable = ids
		}
		if ms, ok := n.Repl.Moves(); ok {
			c.moves = c.moves[:0:0]
			for _, m := range ms {
				c.moves = append(c.moves, clusterapi.MoveReport{Bucket: int(m.Bucket), Node: m.Node, Caught: m.Caught, Lag: m.Lag, Frozen: m.Frozen})
			}
		}
		req.Unreachable, req.Moves = c.unreachable, c.moves
		req.Stats.MoveBytes = n.Repl.Stats().MoveBytes.Load()
	}
	c.d.reg.Each(func(ns *namespace.Namespace) {
		st := ns.Engine.Stats()
		nst := clusterapi.NamespaceStats{
			ID: ns.ID, Reads: ns.Stats.Reads.Load(), Writes: ns.Stats.Writes.Load(), Others: ns.Stats.Others.Load(),
			Hits: ns.Stats.Hits.Load(), Misses: ns.Stats.Misses.Load(), Items: st.Items, Bytes: st.Bytes,
			Batches: ns.Stats.Batches.Load(), BatchNanos: ns.Stats.BatchNanos.Load(),
		}
		req.Stats.Namespaces = append(req.Stats.Namespaces, nst)
		req.Stats.Items += st.Items
		req.Stats.Bytes += st.Bytes
		req.Stats.Ops += nst.Reads + nst.Writes + nst.Others
	})
	if n.Host != nil {
		req.Stats.Clients = n.Host.ConnStats().Connected
	}
	return req
}

// apply takes in what a heartbeat reply says changed.
func (c *cluster) apply(r *clusterapi.HeartbeatResponse) {
	if r.Interval > 0 {
		c.interval.Store(int64(min(max(r.Interval, 20*time.Millisecond), 10*time.Second)))
	}
	if !c.acked.Load() && r.Boot == c.boot {
		c.acked.Store(true)
		c.log.Info("config servers handled this process's start", "boot", c.boot)
	}
	changed := false
	if r.Table != nil && c.acked.Load() {
		changed = c.applyTable(r.Table, r.Nodes)
	}
	if r.NSVersion > c.nsVersion.Load() {
		c.applyNamespaces(r.Namespaces, r.NSVersion)
		changed = true
	}
	if changed {
		c.applyQuotas()
	}
	if r.UsersVersion != c.usersVersion.Load() {
		c.applyUsers(r.Users, r.UsersVersion)
	}
}

// applyUsers installs the config servers' users: sessions logged in as one
// follow its new definition from their next command.
func (c *cluster) applyUsers(list []clusterapi.User, version uint64) {
	us, err := acl.Compile(list, version)
	if err != nil {
		c.log.Error("config servers sent users that cannot be used", "version", version, "err", err)
	}
	c.d.node.SetUsers(us)
	c.usersVersion.Store(version)
	c.log.Info("users", "version", version, "defined", us.Len())
}

// applyTable publishes a newer table; it reports whether it did.
func (c *cluster) applyTable(t *clusterapi.Table, nodes []clusterapi.Node) bool {
	cur := c.d.node.Table()
	if t.Epoch <= cur.Epoch {
		if t.Epoch < cur.Epoch && c.badEpoch != t.Epoch {
			c.log.Warn("config servers sent an older routing table: keeping the newer one",
				"held", cur.Epoch, "sent", t.Epoch)
			c.badEpoch = t.Epoch
		}
		return false
	}
	rt, err := clusterapi.ToRouting(t, nodes)
	if err != nil {
		if c.badEpoch != t.Epoch {
			c.log.Error("config servers sent a routing table that cannot be used", "epoch", t.Epoch, "err", err)
			c.badEpoch = t.Epoch
		}
		return false
	}
	c.withSelf(rt)
	if !hasTerms(rt) {
		// A table without primary terms (from an older config server):
		// every bucket's term is the epoch, which fences across every
		// table change, needed or not.
		c.log.Warn("routing table without primary terms: using its epoch", "epoch", rt.Epoch)
		for b := range rt.Terms {
			if len(rt.Replicas[b]) > 0 {
				rt.Terms[b] = rt.Epoch
			}
		}
	}
	if repl := c.d.node.Repl; repl != nil {
		c.d.node.SetServing(rt, repl.Install(rt))
	} else {
		c.d.node.SetTable(rt)
	}
	_, self := c.d.node.View()
	primaries, copies := 0, 0
	for b := range rt.Replicas {
		for i, x := range rt.Replicas[b] {
			if x == self {
				copies++
				if i == 0 {
					primaries++
				}
			}
		}
	}
	c.log.Info("routing table", "epoch", rt.Epoch, "nodes", len(rt.Nodes), "primaries", primaries, "copies", copies)
	return true
}

// withSelf makes sure the table lists this node, with no bucket when the
// table leaves it out (not given buckets yet, or removed): CLUSTER NODES then
// shows it as "myself", and dispatch, finding itself, answers MOVED or
// CLUSTERDOWN for every bucket (which it does for a node at index -1 too,
// since command.route checks p < 0; this keeps that true whatever route does).
// A listed node without an address gets the advertised one.
func (c *cluster) withSelf(rt *routing.Table) {
	for i := range rt.Nodes {
		if rt.Nodes[i].ID == c.self.ID {
			if rt.Nodes[i].Host == "" && rt.Nodes[i].Port == 0 {
				rt.Nodes[i].Host, rt.Nodes[i].Port = c.self.Host, c.self.Port
			}
			if rt.Nodes[i].Zone == "" {
				rt.Nodes[i].Zone = c.self.Zone
			}
			return
		}
	}
	rt.Nodes = append(rt.Nodes, c.self)
}

// applyNamespaces takes the config servers' whole list of namespaces.
func (c *cluster) applyNamespaces(list []clusterapi.Namespace, version uint64) {
	by := make(map[uint16]clusterapi.Namespace, len(list))
	for _, ns := range list {
		if ns.Engine == EngineDisk && c.d.disk == nil {
			c.log.Warn("namespace wants the disk engine but this data server has no --dir: using mem",
				"namespace", ns.ID, "name", ns.Name, "engine", ns.Engine)
		}
		by[ns.ID] = ns
	}
	c.nsByID = by
	c.nsVersion.Store(version)
	c.log.Info("namespaces", "version", version, "defined", len(by))
}

// applyQuotas publishes the definitions with the current table's number of
// bucket holders, creates the defined namespaces, sets every engine's quota
// that changed and every namespace's ack mode and flow limits. Namespaces no
// longer defined return to the defaults.
func (c *cluster) applyQuotas() {
	t := c.d.node.Table()
	defs := &nsDefs{byID: c.nsByID, holders: holders(t)}
	if defs.byID == nil {
		defs.byID = map[uint16]clusterapi.Namespace{}
	}
	// Published before the engines are touched: a namespace created from
	// now on gets the new quota from the factory.
	c.d.defs.Store(defs)
	c.d.reg.Each(func(ns *namespace.Namespace) {
		def, ok := defs.byID[ns.ID]
		ns.Async.Store(ok && def.Ack == clusterapi.AckAsync)
		l := c.d.flowOf(ns.ID)
		ns.SetLimits(l.Ops, l.Bytes)
	})
	for id, ns := range defs.byID {
		// Again for the defined ones: a namespace a client created while
		// the definitions changed may have missed both the loop above and
		// the new definitions.
		n := c.d.reg.Get(id)
		n.Async.Store(ns.Ack == clusterapi.AckAsync)
		n.SetLimits(ns.MaxOps, ns.MaxBytes)
		q := defs.quota(ns)
		if old, ok := c.applied[id]; ok && old == q {
			continue
		}
		n.Engine.SetQuota(q)
		c.applied[id] = q
	}
	for id := range c.applied {
		if _, ok := defs.byID[id]; !ok {
			if ns := c.d.reg.Lookup(id); ns != nil {
				ns.Engine.SetQuota(c.d.defaultQuota)
			}
			delete(c.applied, id)
		}
	}
}

// holders counts the nodes holding a copy of at least one bucket.
func holders(t *routing.Table) int {
	seen := make([]bool, len(t.Nodes))
	n := 0
	for b := range t.Replicas {
		for _, x := range t.Replicas[b] {
			if x >= 0 && x < len(seen) && !seen[x] {
				seen[x] = true
				n++
			}
		}
	}
	return n
}

// hasTerms reports whether any bucket of t has a primary term.
func hasTerms(t *routing.Table) bool {
	for b := range t.Terms {
		if t.Terms[b] != 0 {
			return true
		}
	}
	return false
}
