package command

import (
	"bytes"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"granary/internal/namespace"
	"granary/internal/replication"
	"granary/internal/routing"
)

// Flag describes a command for dispatch, COMMAND and statistics.
type Flag uint32

const (
	FlagWrite    Flag = 1 << iota // modifies data
	FlagRead                      // reads data
	FlagNoAuth                    // allowed before authentication
	FlagAdmin                     // administrative
	FlagFast                      // O(1) or O(log n)
	FlagStale                     // allowed when the cluster is down
	FlagSameSlot                  // keys must share a bucket even in standalone mode (atomic across keys)
	FlagSubOK                     // allowed on a RESP2 connection subscribed to a channel
	FlagTx                        // runs at once inside MULTI (MULTI EXEC DISCARD QUIT RESET)
	FlagNoMulti                   // refused inside MULTI
	// FlagDangerous puts a command in the admin class for users without
	// the admin flag COMMAND shows (Redis' @dangerous category): it sees or
	// changes more than the current namespace (FLUSHALL, INFO) or is an
	// operator's tool (CLUSTER COUNTKEYSINSLOT/GETKEYSINSLOT, for resharding).
	FlagDangerous
)

// Handler executes a command. It writes exactly one reply.
type Handler func(c *Ctx)

// Spec describes a command, with Redis' COMMAND metadata.
type Spec struct {
	Name     string // lower case
	Arity    int    // >0 exact argument count including the name; <0 minimum
	Flags    Flag
	FirstKey int // position of the first key, 0 if none
	LastKey  int // position of the last key; -1 the last argument
	Step     int // step between keys
	Handler  Handler
	Subs     map[string]*Spec // subcommands (CLIENT, CLUSTER, CONFIG, ...)
}

var specs = map[string]*Spec{}

// register adds commands to the table; families call it from init.
func register(ss ...*Spec) {
	for _, s := range ss {
		if _, dup := specs[s.Name]; dup {
			panic("command registered twice: " + s.Name)
		}
		specs[s.Name] = s
	}
}

// Lookup returns the spec of a command name in any case, without allocating.
func Lookup(name []byte) *Spec { return lookupIn(specs, name) }

func lookupIn(specs map[string]*Spec, name []byte) *Spec {
	var buf [32]byte
	if len(name) > len(buf) {
		return specs[strings.ToLower(string(name))]
	}
	for i, c := range name {
		if c >= 'A' && c <= 'Z' {
			c += 'a' - 'A'
		}
		buf[i] = c
	}
	return specs[string(buf[:len(name)])]
}

// Specs returns every command, sorted by name.
func Specs() []*Spec {
	out := make([]*Spec, 0, len(specs))
	for _, s := range specs {
		out = append(out, s)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// Keys returns the positions of a command's keys in args.
func (s *Spec) keyRange(n int) (first, last, step int) {
	if s.FirstKey == 0 || n <= s.FirstKey {
		return 0, -1, 1
	}
	last = s.LastKey
	if last < 0 {
		last = n + last
	}
	if last >= n {
		last = n - 1
	}
	return s.FirstKey, last, max(s.Step, 1)
}

// view is a routing table with this node's index in it (-1 when the table
// does not list it), published together so they never disagree.
type view struct {
	t    *routing.Table
	self int
	// role[b] is what this node does for bucket b: 16 KB that stay in
	// cache, where t.Replicas (16384 slice headers) costs a miss per command.
	role [routing.Buckets]replication.Role
	// gate[b], when set, bounds in time when this node may serve bucket b
	// as its primary (fence after a failover, secondaries' leases).
	gate *[routing.Buckets]*replication.Gate
}

// atomicTable holds the view the node serves with.
type atomicTable struct {
	p atomic.Pointer[view]
	// changed is closed (and replaced) whenever a new view is published,
	// for the commands that wait out a bucket's handover.
	mu      sync.Mutex
	changed chan struct{}
}

func (a *atomicTable) store(v *view) {
	a.p.Store(v)
	a.mu.Lock()
	if a.changed != nil {
		close(a.changed)
		a.changed = nil
	}
	a.mu.Unlock()
}

// next returns a channel closed when the view after the current one is
// published.
func (a *atomicTable) next() <-chan struct{} {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.changed == nil {
		a.changed = make(chan struct{})
	}
	return a.changed
}

// HandoverWait bounds how long a command of a bucket being handed to
// another node waits for the handover (then MOVED) before it gets TRYAGAIN.
// Stock cluster clients follow MOVED at once, while they retry TRYAGAIN
// only a few times within milliseconds: waiting turns a handover into
// latency instead of errors.
const HandoverWait = 1500 * time.Millisecond

// handingOver reports whether bucket b changes primary soon in view v as
// far as this node can tell: it is handing b over, or it is b's learner or
// holds a copy of a frozen b, so that a client sent here by a node with a
// newer table is right (MOVED back would send it to and fro).
func handingOver(v *view, b uint16) bool {
	switch v.role[b] {
	case replication.RoleHandover, replication.RoleLearner:
		return true
	case replication.RoleReplica:
		return v.t.Frozen[b]
	}
	return false
}

// awaitHandover waits, for a command of bucket b, while b changes primary
// (handingOver), and returns the view to route with then.
func (c *Ctx) awaitHandover(v *view, b uint16) *view {
	if !handingOver(v, b) {
		return v
	}
	timer := time.NewTimer(HandoverWait)
	defer timer.Stop()
	for handingOver(v, b) {
		ch := c.N.table.next()
		if v = c.N.table.p.Load(); !handingOver(v, b) {
			break
		}
		select {
		case <-ch:
			v = c.N.table.p.Load()
		case <-timer.C:
			return v
		}
	}
	// Time went by: the lease checks need a fresh clock reading.
	t := time.Now()
	c.Now, c.Mono = t.UnixMilli(), replication.MonoOf(t)
	return v
}

// Table returns the current routing table.
func (n *Node) Table() *routing.Table { return n.table.p.Load().t }

// View returns the current routing table and this node's index in it (-1
// when the table does not list this node, e.g. on a config server).
func (n *Node) View() (*routing.Table, int) {
	v := n.table.p.Load()
	return v.t, v.self
}

// SetTable publishes a new routing table without replication: the node
// serves the buckets it is primary of. It finds itself in it by ID.
func (n *Node) SetTable(t *routing.Table) {
	self := n.selfIn(t)
	v := &view{t: t, self: self}
	if self >= 0 {
		for b := range v.role {
			if t.Primary(uint16(b)) == self {
				v.role[b] = replication.RolePrimary
			}
		}
	}
	n.table.store(v)
}

// SetServing publishes a new routing table with the roles and gates the
// replication layer computed for it.
func (n *Node) SetServing(t *routing.Table, sv *replication.Serving) {
	v := &view{t: t, self: n.selfIn(t), role: sv.Role, gate: &sv.Gate}
	n.table.store(v)
}

func (n *Node) selfIn(t *routing.Table) int {
	for i, rn := range t.Nodes {
		if rn.ID == n.ID {
			return i
		}
	}
	return -1
}

// Dispatch runs one command: lookup, arity, authentication, bucket ownership,
// then the handler. It returns the spec run (nil if none).
func Dispatch(c *Ctx) *Spec { return DispatchSpec(c, Lookup(c.Args[0])) }

// DispatchSpec is Dispatch for a caller that looked the command up already
// (sp = Lookup(c.Args[0])).
func DispatchSpec(c *Ctx, sp *Spec) *Spec {
	s := c.S
	if sp == nil {
		c.W.Error(unknownCommand(c.Args))
		s.flagMulti()
		return nil
	}
	if sp.Subs != nil {
		if len(c.Args) < 2 {
			// A container with its own handler runs it when called bare
			// (COMMAND); the others need a subcommand.
			if sp.Handler == nil {
				c.W.Error(wrongArgs(sp.Name))
				s.flagMulti()
				return sp
			}
		} else {
			sub := lookupIn(sp.Subs, c.Args[1])
			if sub == nil {
				c.W.Error("ERR unknown subcommand '" + string(clip(c.Args[1])) + "'. Try " + strings.ToUpper(sp.Name) + " HELP.")
				s.flagMulti()
				return sp
			}
			sp = sub
		}
	}
	if (sp.Arity > 0 && len(c.Args) != sp.Arity) || (sp.Arity < 0 && len(c.Args) < -sp.Arity) {
		c.W.Error(wrongArgs(sp.Name))
		s.flagMulti()
		return sp
	}
	if !s.Authed && sp.Flags&FlagNoAuth == 0 {
		c.W.Error("NOAUTH Authentication required.")
		s.flagMulti()
		return sp
	}
	if s.User != nil && sp.Flags&FlagNoAuth == 0 && !c.permitted(sp) {
		s.flagMulti()
		return sp
	}
	if s.Subscribed && s.Proto < 3 && sp.Flags&FlagSubOK == 0 {
		c.W.Error("ERR Can't execute '" + sp.Name + "': only (P|S)SUBSCRIBE / (P|S)UNSUBSCRIBE / PING / QUIT / RESET are allowed in this context")
		return sp
	}
	c.Spec = sp
	if c.Now == 0 {
		// One clock read per batch: the connection loop clears Now when it
		// starts a batch of pipelined commands, as Redis caches its clock
		// per event-loop pass.
		t := time.Now()
		c.Now = t.UnixMilli()
		c.Mono = replication.MonoOf(t)
	}
	s.lastSpec.Store(sp)
	s.lastAt.Store(c.Now)
	// ASKING applies to the next command only. Nothing reads it yet: it
	// matters once buckets migrate and a target accepts an ASKING client.
	s.Asking = false
	keyed := false
	if first, last, step := sp.keyRange(len(c.Args)); first > 0 {
		if !c.route(sp, first, last, step) {
			s.flagMulti()
			return sp
		}
		keyed = true
	} else {
		c.Bucket = 0
	}
	// Flow control: one atomic load when the namespace has no limit. Inside
	// MULTI a command is checked when it is queued, and a refusal aborts
	// the transaction as any queuing error does.
	var flow *namespace.Flow
	if flowLimited(sp) {
		if flow = c.NS.Limits(); flow != nil && c.throttled(flow) {
			s.flagMulti()
			return sp
		}
	}
	if s.multi != nil && sp.Flags&FlagTx == 0 {
		c.queue(sp, keyed)
		return sp
	}
	switch {
	case sp.Flags&FlagWrite != 0:
		s.Counts.Writes++
	case sp.Flags&FlagRead != 0:
		s.Counts.Reads++
	default:
		s.Counts.Others++
	}
	// Client-side caching: a tracking connection's read keys are
	// remembered before the read, a write's keys invalidated after it
	// (tracking.go). Neither costs more than a check while nobody tracks.
	if keyed && s.Track != nil && sp.Flags&FlagRead != 0 {
		c.trackRead(sp)
	}
	write := keyed && sp.Flags&FlagWrite != 0
	var mark int64
	if write || flow != nil {
		mark = c.W.Mark()
	}
	sp.Handler(c)
	c.chargeReply(flow, mark)
	if write && c.N.Tracking.Watching() {
		c.trackWrite(sp, mark)
	}
	if s.Track != nil {
		c.trackAfter(sp)
	}
	// In a sync namespace the reply waits (in the connection loop) until
	// the bucket's last entry is on every replica: for a write its own, for
	// a read the one it may have seen.
	if keyed && c.N.Repl != nil && !c.NS.Async.Load() && sp.Flags&(FlagRead|FlagWrite) != 0 {
		s.Pending = c.N.Repl.Note(s.Pending, c.Bucket)
	}
	return sp
}

// route sets c.Bucket and checks that this node serves the keys' buckets,
// replying MOVED or CROSSSLOT when not.
func (c *Ctx) route(sp *Spec, first, last, step int) bool {
	b := routing.Bucket(c.Args[first])
	c.Bucket = b
	v := c.awaitHandover(c.N.table.p.Load(), b)
	for i := first + step; i <= last; i += step {
		if kb := routing.Bucket(c.Args[i]); kb != b {
			if !c.N.Config.Standalone || sp.Flags&FlagSameSlot != 0 {
				c.W.Error("CROSSSLOT Keys in request don't hash to the same slot")
				return false
			}
			if v.role[kb] != replication.RolePrimary {
				return c.moved(v.t, kb)
			}
		}
	}
	return c.serves(sp, v, b)
}

// serves checks that this node serves bucket b for sp now, replying
// MOVED, TRYAGAIN or CLUSTERDOWN when not.
func (c *Ctx) serves(sp *Spec, v *view, b uint16) bool {
	switch v.role[b] {
	case replication.RolePrimary:
	case replication.RoleBlocked:
		c.W.Error("TRYAGAIN bucket " + itoa(int64(b)) + " is not caught up on its new primary")
		return false
	case replication.RoleHandover:
		c.W.Error("TRYAGAIN bucket " + itoa(int64(b)) + " is moving to another node")
		return false
	case replication.RoleLearner:
		return c.moved(v.t, b)
	case replication.RoleReplica:
		if c.S.ReadOnly && sp.Flags&FlagWrite == 0 && c.N.Repl != nil && c.N.Repl.Held(b) {
			return true // READONLY: a caught-up secondary reads its own copy
		}
		return c.moved(v.t, b)
	default:
		// Buckets without a primary, and every bucket on a node the table
		// does not list (e.g. a config server): MOVED or CLUSTERDOWN.
		return c.moved(v.t, b)
	}
	if v.gate != nil {
		if g := v.gate[b]; g != nil {
			until := g.Until.Load()
			if c.Mono < g.From || c.Mono >= until {
				if !c.gateWaited {
					// A fence or a lease about to be granted is a matter
					// of milliseconds: wait, as a client retrying
					// TRYAGAIN would, but without spending its retries.
					c.gateWaited = true
					nv := c.awaitGate(g, b)
					defer func() { c.gateWaited = false }()
					if nv != nil {
						return c.serves(sp, nv, b)
					}
				}
				c.W.Error("TRYAGAIN bucket " + itoa(int64(b)) + " has no primary lease right now")
				return false
			}
			// The connection checks the lease again before it replies.
			if s := c.S; s.LeaseUntil == 0 || until < s.LeaseUntil {
				s.LeaseUntil = until
			}
		}
	}
	return true
}

func (c *Ctx) moved(t *routing.Table, b uint16) bool {
	p := t.Primary(b)
	if p < 0 {
		c.W.Error("CLUSTERDOWN Hash slot not served")
		return false
	}
	n := t.Nodes[p]
	c.W.Error("MOVED " + itoa(int64(b)) + " " + n.Host + ":" + itoa(int64(n.Port)))
	return false
}

func unknownCommand(args [][]byte) string {
	var b bytes.Buffer
	b.WriteString("ERR unknown command '")
	b.Write(clip(args[0]))
	b.WriteString("', with args beginning with: ")
	for _, a := range args[1:] {
		if b.Len() > 128 {
			break
		}
		b.WriteByte('\'')
		b.Write(clip(a))
		b.WriteString("' ")
	}
	return b.String()
}

func clip(b []byte) []byte {
	if len(b) > 128 {
		return b[:128]
	}
	return b
}

func wrongArgs(name string) string {
	return "ERR wrong number of arguments for '" + name + "' command"
}

// GateWait bounds how long a command waits for its bucket's primary lease
// (a fence after a change of primary, a lease being renewed).
const GateWait = 2 * time.Second

// awaitGate waits until gate g of bucket b lets this node serve, or the view
// changes; it returns the view to check again (nil: give up, TRYAGAIN).
func (c *Ctx) awaitGate(g *replication.Gate, b uint16) *view {
	deadline := time.Now().Add(GateWait)
	for {
		now := time.Now()
		if now.After(deadline) {
			return nil
		}
		c.Now, c.Mono = now.UnixMilli(), replication.MonoOf(now)
		v := c.N.table.p.Load()
		if v.gate == nil || v.gate[b] != g {
			return v
		}
		if c.Mono >= g.From && c.Mono < g.Until.Load() {
			return v
		}
		wait := 5 * time.Millisecond
		if c.Mono < g.From {
			wait = time.Duration(g.From-c.Mono) * time.Millisecond
		}
		time.Sleep(min(wait, time.Until(deadline)+time.Millisecond))
	}
}
