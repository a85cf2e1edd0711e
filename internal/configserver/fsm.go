package configserver

import (
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"math/bits"
	"net/http"
	"slices"
	"sync"

	"github.com/hashicorp/raft"

	"granary/internal/acl"
	"granary/internal/clusterapi"
	"granary/internal/routing"
)

// Log entry types. Every change to the replicated state is one JSON entry
// with one of these in its "type" field; heartbeats are never entries.
const (
	opNodeAdd  = "node_add"  // Node: allow a data server to join (state added)
	opNodeUp   = "node_up"   // Node: first seen, back up, new addresses, or a new process (Node.Boot)
	opNodeDown = "node_down" // ID: missed heartbeats past the down timeout
	// opUnreachable: ID (a primary, at process Boot) could not replicate to
	// Peers: they leave the buckets it leads.
	opUnreachable = "unreachable"
	opNodeRemove  = "node_remove"  // ID, optional Table over PrevEpoch: forget a node
	opTable       = "table"        // Table over PrevEpoch: a new routing table
	opNSCreate    = "ns_create"    // Namespace
	opNSUpdate    = "ns_update"    // Namespace
	opNSDelete    = "ns_delete"    // NSID
	opUserCreate  = "user_create"  // User, with its password hashed
	opUserUpdate  = "user_update"  // User; no Hash keeps the password
	opUserDelete  = "user_delete"  // ID: the user's name
	opSettings    = "settings"     // Settings
	opCSSet       = "cs_set"       // ConfigServer: record a config server's addresses
	opCSRemove    = "cs_remove"    // ID: drop a config server's record
	opNodeDrain   = "node_drain"   // ID: the node gives its buckets away (state draining)
	opNodeUndrain = "node_undrain" // ID: a draining node may hold buckets again (state up)
	// opPlan: Table (nil: none) is the layout the migration scheduler moves
	// the buckets to, one bucket copy at a time.
	opPlan = "plan"
)

// entry is one command in the Raft log.
type entry struct {
	Type string           `json:"type"`
	ID   string           `json:"id,omitempty"`
	Node *clusterapi.Node `json:"node,omitempty"`
	// Create lets node_up add a node it does not know (AutoAdd).
	Create bool              `json:"create,omitempty"`
	Table  *clusterapi.Table `json:"table,omitempty"`
	// PrevEpoch is the epoch the new table replaces: the entry fails if the
	// table changed in between (a compare-and-set across leaders).
	PrevEpoch    uint64                   `json:"prev_epoch"`
	Namespace    *clusterapi.Namespace    `json:"namespace,omitempty"`
	NSID         uint16                   `json:"ns_id,omitempty"`
	Settings     *clusterapi.Settings     `json:"settings,omitempty"`
	ConfigServer *clusterapi.ConfigServer `json:"config_server,omitempty"`
	User         *clusterapi.User         `json:"user,omitempty"`
	// Boot and Peers: of an unreachable report.
	Boot  string   `json:"boot,omitempty"`
	Peers []string `json:"peers,omitempty"`
}

// apiError is an error with the HTTP status it maps to. The FSM returns them
// as Apply responses; the handlers return them as they are.
type apiError struct {
	Code int
	Msg  string
}

func (e *apiError) Error() string { return e.Msg }

func errf(code int, format string, args ...any) *apiError {
	return &apiError{Code: code, Msg: fmt.Sprintf(format, args...)}
}

// fsm is the replicated state machine: clusterapi.State held in maps. Apply
// and Restore run on Raft's FSM goroutine; the getters run anywhere.
type fsm struct {
	log *slog.Logger
	// publish receives each new routing view (the table with its nodes'
	// addresses), in apply order. It may be nil.
	publish func(*routing.Table)
	// publishUsers receives the users after each change (set before the
	// first entry is applied; may be nil).
	publishUsers func(*acl.Users)

	mu    sync.RWMutex
	nodes map[string]clusterapi.Node
	table clusterapi.Table
	rt    *routing.Table // table joined with the node records
	// routed is closed (and replaced) when the routing view changes:
	// long polls for the next table wait on it (nil: nobody waits).
	routed     chan struct{}
	namespaces map[uint16]clusterapi.Namespace
	nsVersion  uint64
	// users by name, with their password hashes; usersVersion is bumped on
	// every change.
	users        map[string]clusterapi.User
	usersVersion uint64
	settings     clusterapi.Settings
	servers      map[string]clusterapi.ConfigServer
	// former holds, per node id, the buckets the node was taken out of
	// because it failed (down, restarted, unreachable from the primary) and
	// that have not been given back to it or brought to their full copy
	// count since: the first places to restore a copy (design, section 5:
	// a temporary failure may need only a log replay).
	former map[string]*bucketSet
	// plan is the layout migration moves the table to (nil: none).
	plan *clusterapi.Table
	// planRT is plan as a routing table, for the scheduler (not to be
	// changed; nil with plan).
	planRT  *routing.Table
	applied uint64 // index of the last entry applied
}

func newFSM(log *slog.Logger, publish func(*routing.Table)) *fsm {
	f := &fsm{log: log, publish: publish}
	f.reset()
	f.refreshRouting()
	return f
}

func (f *fsm) reset() {
	f.nodes = map[string]clusterapi.Node{}
	f.table = clusterapi.Table{Nodes: []string{}, Ranges: []clusterapi.Range{}}
	f.namespaces = map[uint16]clusterapi.Namespace{}
	f.nsVersion = 0
	f.users = map[string]clusterapi.User{}
	f.usersVersion = 0
	f.settings = clusterapi.Settings{}
	f.servers = map[string]clusterapi.ConfigServer{}
	f.former = map[string]*bucketSet{}
	f.plan, f.planRT = nil, nil
}

// Apply applies one committed log entry. It returns nil or an *apiError.
func (f *fsm) Apply(l *raft.Log) any {
	if l.Type != raft.LogCommand {
		return nil
	}
	var e entry
	if err := json.Unmarshal(l.Data, &e); err != nil {
		f.log.Error("config log: undecodable entry", "index", l.Index, "err", err)
		return errf(http.StatusBadRequest, "undecodable log entry: %v", err)
	}
	f.mu.Lock()
	epoch, usersVersion := f.table.Epoch, f.usersVersion
	routingChanged, err := f.apply(&e)
	f.applied = l.Index
	var stamped *routing.Table
	if err == nil && f.table.Epoch != epoch {
		stamped = f.tableInstalled(f.rt, e.Type == opTable)
	}
	if routingChanged {
		f.refreshRoutingFrom(stamped)
	}
	if f.usersVersion != usersVersion {
		f.refreshUsers()
	}
	f.mu.Unlock()
	if err != nil {
		f.log.Debug("config log: entry refused", "index", l.Index, "type", e.Type, "err", err)
		return err
	}
	return nil
}

// apply changes the state; it reports whether the routing view changed.
// Called with mu held. It must be deterministic: no clocks, no map order.
func (f *fsm) apply(e *entry) (bool, error) {
	switch e.Type {
	case opNodeAdd:
		if e.Node == nil || e.Node.ID == "" {
			return false, errf(http.StatusBadRequest, "node_add without a node")
		}
		if _, ok := f.nodes[e.Node.ID]; ok {
			return false, errf(http.StatusConflict, "node %s already exists", e.Node.ID)
		}
		f.nodes[e.Node.ID] = clusterapi.Node{ID: e.Node.ID, Zone: e.Node.Zone, State: clusterapi.NodeAdded}
		return false, nil

	case opNodeUp:
		if e.Node == nil || e.Node.ID == "" {
			return false, errf(http.StatusBadRequest, "node_up without a node")
		}
		n, ok := f.nodes[e.Node.ID]
		if !ok {
			if !e.Create {
				return false, errf(http.StatusNotFound, "node %s not found", e.Node.ID)
			}
			n = clusterapi.Node{ID: e.Node.ID}
		}
		wasDown := n.State == clusterapi.NodeDown
		moved := n.Addr != e.Node.Addr || n.Internal != e.Node.Internal
		zoned := e.Node.Zone != "" && e.Node.Zone != n.Zone
		n.Addr, n.Internal, n.HTTP = e.Node.Addr, e.Node.Internal, e.Node.HTTP
		if e.Node.Zone != "" {
			n.Zone = e.Node.Zone
		}
		if n.State != clusterapi.NodeDraining {
			n.State = clusterapi.NodeUp
		}
		// A new process (an in-memory node has lost its data): it leaves
		// every bucket another replica holds, in this same entry, so that
		// the reply echoing its Boot carries a table it can trust.
		dropped := false
		if e.Node.Boot != "" && e.Node.Boot != n.Boot {
			n.Boot = e.Node.Boot
			dropped = f.dropReplica(n.ID, -1)
		}
		f.nodes[n.ID] = n
		inTable := slices.Contains(f.table.Nodes, n.ID)
		if inTable && (moved || wasDown || dropped) {
			// The routing view changed (where to reach a replica, that it
			// is back, or its buckets): a new epoch makes every data server
			// fetch the table with the nodes' new addresses and states.
			f.table.Epoch++
		}
		// A node back up changes the routing view too: CLUSTER NODES and
		// INFO stop reporting it failed.
		return inTable && (moved || zoned || wasDown || dropped), nil

	case opNodeDown:
		n, ok := f.nodes[e.ID]
		if !ok {
			return false, errf(http.StatusNotFound, "node %s not found", e.ID)
		}
		n.State = clusterapi.NodeDown
		f.nodes[e.ID] = n
		// It leaves every bucket another replica holds; where it led, the
		// next replica takes over (a new primary term). Where it is the
		// only replica it stays, and the bucket is unserved until it is back.
		f.dropReplica(e.ID, -1)
		inTable := slices.Contains(f.table.Nodes, e.ID)
		if inTable {
			f.table.Epoch++ // data servers learn the node failed with the next table
		}
		return inTable, nil

	case opUnreachable:
		p, ok := f.nodes[e.ID]
		if !ok {
			return false, errf(http.StatusNotFound, "node %s not found", e.ID)
		}
		if (p.State != clusterapi.NodeUp && p.State != clusterapi.NodeDraining) || e.Boot == "" || p.Boot != e.Boot {
			// Reported by a process the config servers no longer trust.
			return false, errf(http.StatusConflict, "node %s is %s at boot %q: its report from boot %q is stale", e.ID, p.State, p.Boot, e.Boot)
		}
		lead := slices.Index(f.table.Nodes, e.ID)
		changed := false
		for _, s := range e.Peers {
			if s != e.ID && lead >= 0 && f.dropReplica(s, lead) {
				changed = true
			}
		}
		if changed {
			f.table.Epoch++
		}
		return changed, nil

	case opNodeRemove:
		if _, ok := f.nodes[e.ID]; !ok {
			return false, errf(http.StatusNotFound, "node %s not found", e.ID)
		}
		if e.Table != nil {
			if slices.Contains(e.Table.Nodes, e.ID) {
				return false, errf(http.StatusBadRequest, "node_remove: the new table still lists node %s", e.ID)
			}
			if err := f.checkTable(e.Table, e.PrevEpoch, e.ID); err != nil {
				return false, err
			}
		} else if slices.Contains(f.table.Nodes, e.ID) {
			return false, errf(http.StatusConflict, "node %s is in the table; its removal needs a new table", e.ID)
		}
		delete(f.nodes, e.ID)
		delete(f.former, e.ID)
		if e.Table != nil {
			f.table = *e.Table
			return true, nil
		}
		return false, nil

	case opTable:
		if e.Table == nil {
			return false, errf(http.StatusBadRequest, "table entry without a table")
		}
		if err := f.checkTable(e.Table, e.PrevEpoch, ""); err != nil {
			return false, err
		}
		f.table = *e.Table
		return true, nil

	case opNSCreate:
		if e.Namespace == nil {
			return false, errf(http.StatusBadRequest, "ns_create without a namespace")
		}
		ns := *e.Namespace
		if err := validateNamespace(&ns); err != nil {
			return false, err
		}
		if _, ok := f.namespaces[ns.ID]; ok {
			return false, errf(http.StatusConflict, "namespace %d already exists", ns.ID)
		}
		if other, ok := f.nsByName(ns.Name); ok {
			return false, errf(http.StatusConflict, "namespace name %q is taken by namespace %d", ns.Name, other.ID)
		}
		f.namespaces[ns.ID] = ns
		f.nsVersion++
		return false, nil

	case opNSUpdate:
		if e.Namespace == nil {
			return false, errf(http.StatusBadRequest, "ns_update without a namespace")
		}
		ns := *e.Namespace
		old, ok := f.namespaces[ns.ID]
		if !ok {
			return false, errf(http.StatusNotFound, "namespace %d not found", ns.ID)
		}
		if ns.Engine == "" {
			ns.Engine = old.Engine
		}
		if ns.Engine != old.Engine {
			return false, errf(http.StatusBadRequest, "namespace %d: the engine cannot be changed (%q to %q)", ns.ID, old.Engine, ns.Engine)
		}
		if err := validateNamespace(&ns); err != nil {
			return false, err
		}
		if other, ok := f.nsByName(ns.Name); ok && other.ID != ns.ID {
			return false, errf(http.StatusConflict, "namespace name %q is taken by namespace %d", ns.Name, other.ID)
		}
		f.namespaces[ns.ID] = ns
		f.nsVersion++
		return false, nil

	case opNSDelete:
		if _, ok := f.namespaces[e.NSID]; !ok {
			return false, errf(http.StatusNotFound, "namespace %d not found", e.NSID)
		}
		delete(f.namespaces, e.NSID)
		f.nsVersion++
		return false, nil

	case opUserCreate, opUserUpdate, opUserDelete:
		return false, f.applyUser(e)

	case opSettings:
		if e.Settings == nil || e.Settings.Copies < 1 || e.Settings.MinNodes < 0 {
			return false, errf(http.StatusBadRequest, "settings: copies must be ≥ 1 and min_nodes ≥ 0")
		}
		f.settings = *e.Settings
		return false, nil

	case opCSSet:
		cs := e.ConfigServer
		if cs == nil || cs.ID == "" {
			return false, errf(http.StatusBadRequest, "cs_set without a config server")
		}
		f.servers[cs.ID] = clusterapi.ConfigServer{ID: cs.ID, Raft: cs.Raft, HTTP: cs.HTTP, RESP: cs.RESP}
		return false, nil

	case opCSRemove:
		delete(f.servers, e.ID)
		return false, nil

	case opNodeDrain:
		n, ok := f.nodes[e.ID]
		if !ok {
			return false, errf(http.StatusNotFound, "node %s not found", e.ID)
		}
		if n.State != clusterapi.NodeUp && n.State != clusterapi.NodeDraining {
			return false, errf(http.StatusConflict, "node %s is %s: only an up node can be drained", e.ID, n.State)
		}
		n.State = clusterapi.NodeDraining
		f.nodes[e.ID] = n
		return false, nil

	case opNodeUndrain:
		n, ok := f.nodes[e.ID]
		if !ok {
			return false, errf(http.StatusNotFound, "node %s not found", e.ID)
		}
		if n.State != clusterapi.NodeDraining {
			return false, errf(http.StatusConflict, "node %s is %s, not draining", e.ID, n.State)
		}
		n.State = clusterapi.NodeUp
		f.nodes[e.ID] = n
		return false, nil

	case opPlan:
		if err := f.setPlan(e.Table); err != nil {
			return false, errf(http.StatusBadRequest, "plan: %v", err)
		}
		return false, nil
	}
	return false, errf(http.StatusBadRequest, "unknown log entry type %q", e.Type)
}

// dropReplica takes node id out of the replica list of every bucket that
// has another replica, keeping the order of the others (so where it led,
// the next replica leads), and records those buckets as its former ones.
// With lead ≥ 0 only buckets whose primary is node lead (an index into the
// table's nodes) are touched. It reports whether the table changed; the
// caller moves the epoch on. Called with mu held.
func (f *fsm) dropReplica(id string, lead int) bool {
	x := slices.Index(f.table.Nodes, id)
	if x < 0 {
		return false
	}
	changed := false
	for i, r := range f.table.Ranges {
		if slices.Contains(r.Learners, x) && (lead < 0 || len(r.Replicas) > 0 && r.Replicas[0] == lead) {
			// A migration to it is called off.
			f.table.Ranges[i].Learners = slices.DeleteFunc(slices.Clone(r.Learners), func(v int) bool { return v == x })
			changed = true
		}
		if len(r.Replicas) < 2 || !slices.Contains(r.Replicas, x) || (lead >= 0 && r.Replicas[0] != lead) {
			continue
		}
		f.table.Ranges[i].Replicas = slices.DeleteFunc(slices.Clone(r.Replicas), func(v int) bool { return v == x })
		set := f.former[id]
		if set == nil {
			set = &bucketSet{}
			f.former[id] = set
		}
		for b := r.First; b <= r.Last; b++ {
			set.add(b)
		}
		changed = true
	}
	return changed
}

// tableInstalled finishes every entry that changed the table (prev is the
// routing view before it): each bucket's primary term is stamped against
// prev (a bucket keeps its term while its primary stays the same node), so
// every table the config servers commit fences deposed primaries, whoever
// built it; and former holders are forgotten for the buckets that hold
// them again or are back to their full copy count. It returns the table's
// routing view, its nodes without their records (nil if it has none).
// Called with mu held; deterministic.
//
// A bucket gets Handed only from a table entry (as the migration scheduler
// commits) that changes its primary from a frozen one, and keeps it while
// that primary's term lasts.
func (f *fsm) tableInstalled(prev *routing.Table, handover bool) *routing.Table {
	nt, err := clusterapi.ToRouting(&f.table, nil)
	if err != nil { // checked before commit: not reachable
		f.log.Error("config state: cannot stamp the table's terms", "epoch", f.table.Epoch, "err", err)
		return nil
	}
	routing.StampTerms(prev, nt)
	for b := range nt.Frozen {
		// A handover ends with the change of primary, whoever made it (a
		// failover may beat the migration to it).
		changed := prev == nil || nt.Terms[b] != prev.Terms[b]
		if nt.Frozen[b] && changed {
			nt.Frozen[b] = false
		}
		switch {
		case !changed:
			// The mark belongs to the primary's term: it stays with it
			// (a node that skipped the handover's table learns it later).
			nt.Handed[b] = prev != nil && prev.Handed[b]
		case !handover || prev == nil || !prev.Frozen[b]:
			nt.Handed[b] = false
		}
	}
	copies := f.settings.Copies
	for _, id := range slices.Sorted(maps.Keys(f.former)) {
		set := f.former[id]
		x := slices.Index(f.table.Nodes, id)
		for b := range routing.Buckets {
			if !set.has(b) {
				continue
			}
			r := nt.Replicas[b]
			if (x >= 0 && slices.Contains(r, x)) || (copies > 0 && len(r) >= copies) {
				set.remove(b)
			}
		}
		if set.empty() {
			delete(f.former, id)
		}
	}
	f.table = clusterapi.FromRouting(nt)
	return nt
}

// formerOf returns a copy of the buckets node id formerly held (nil: none).
func (f *fsm) formerOf(id string) *bucketSet {
	f.mu.RLock()
	defer f.mu.RUnlock()
	if set := f.former[id]; set != nil {
		c := *set
		return &c
	}
	return nil
}

// formerAll returns a copy of every node's former buckets.
func (f *fsm) formerAll() map[string]*bucketSet {
	f.mu.RLock()
	defer f.mu.RUnlock()
	out := make(map[string]*bucketSet, len(f.former))
	for id, set := range f.former {
		c := *set
		out[id] = &c
	}
	return out
}

// bucketSet is a set of buckets.
type bucketSet [routing.Buckets / 64]uint64

func (s *bucketSet) add(b int)      { s[b/64] |= 1 << (b % 64) }
func (s *bucketSet) remove(b int)   { s[b/64] &^= 1 << (b % 64) }
func (s *bucketSet) has(b int) bool { return s != nil && s[b/64]&(1<<(b%64)) != 0 }

func (s *bucketSet) empty() bool {
	for _, w := range s {
		if w != 0 {
			return false
		}
	}
	return true
}

func (s *bucketSet) count() int {
	n := 0
	for _, w := range s {
		n += bits.OnesCount64(w)
	}
	return n
}

// ranges returns the set as runs [first, last] (for snapshots).
func (s *bucketSet) ranges() [][2]int {
	var out [][2]int
	for b := 0; b < routing.Buckets; b++ {
		if !s.has(b) {
			continue
		}
		if n := len(out); n > 0 && out[n-1][1] == b-1 {
			out[n-1][1] = b
			continue
		}
		out = append(out, [2]int{b, b})
	}
	return out
}

// checkTable validates a new table against the state: it must replace the
// table of epoch prev with a higher epoch, list only known nodes (and not
// without, a node being removed), and have valid ranges.
func (f *fsm) checkTable(t *clusterapi.Table, prev uint64, without string) error {
	if f.table.Epoch != prev {
		return errf(http.StatusConflict, "the table changed (epoch %d, expected %d): retry", f.table.Epoch, prev)
	}
	if t.Epoch <= prev {
		return errf(http.StatusBadRequest, "new table epoch %d is not above %d", t.Epoch, prev)
	}
	for _, id := range t.Nodes {
		if _, ok := f.nodes[id]; !ok || id == without {
			return errf(http.StatusBadRequest, "table lists unknown node %s", id)
		}
	}
	if err := clusterapi.Check(t); err != nil {
		return errf(http.StatusBadRequest, "bad table: %v", err)
	}
	return nil
}

func (f *fsm) nsByName(name string) (clusterapi.Namespace, bool) {
	for _, ns := range f.namespaces {
		if ns.Name == name {
			return ns, true
		}
	}
	return clusterapi.Namespace{}, false
}

// refreshRouting recomputes the routing view and publishes it. Called with
// mu held (publish only stores a pointer).
func (f *fsm) refreshRouting() { f.refreshRoutingFrom(nil) }

// refreshRoutingFrom is refreshRouting given the table's routing view
// without the nodes' records (stamped: what tableInstalled made of it), or
// nil: a table is converted once per entry, not for every step of it.
func (f *fsm) refreshRoutingFrom(stamped *routing.Table) {
	var rt *routing.Table
	var err error
	if stamped != nil {
		rt = stamped
		rt.Nodes, err = clusterapi.RoutingNodes(f.table.Nodes, f.nodeList())
	} else {
		rt, err = clusterapi.ToRouting(&f.table, f.nodeList())
	}
	if err != nil {
		// Not reachable through the API (addresses and tables are checked
		// before they are committed); keep serving the previous view.
		f.log.Error("config state: cannot build the routing view", "epoch", f.table.Epoch, "err", err)
		return
	}
	f.rt = rt
	if f.publish != nil {
		f.publish(rt)
	}
	if f.routed != nil {
		close(f.routed)
		f.routed = nil
	}
}

// tableUpdateLocked returns a copy of the table with the nodes it lists.
// Called with mu held.
func (f *fsm) tableUpdateLocked() clusterapi.TableUpdate {
	t := cloneTable(f.table)
	return clusterapi.TableUpdate{Table: &t, Nodes: tableNodes(&t, f.nodeList())}
}

// nextTable returns the table, with the nodes it lists, once its epoch is
// past epoch; nil when ctx ends first.
func (f *fsm) nextTable(ctx context.Context, epoch uint64) *clusterapi.TableUpdate {
	for {
		f.mu.Lock()
		if f.table.Epoch > epoch {
			u := f.tableUpdateLocked()
			f.mu.Unlock()
			return &u
		}
		if f.routed == nil {
			f.routed = make(chan struct{})
		}
		ch := f.routed
		f.mu.Unlock()
		select {
		case <-ch:
		case <-ctx.Done():
			return nil
		}
	}
}

func (f *fsm) nodeList() []clusterapi.Node {
	return sortedValues(f.nodes, func(n clusterapi.Node) string { return n.ID })
}

func sortedValues[K comparable, V any, O cmp.Ordered](m map[K]V, key func(V) O) []V {
	out := slices.Collect(maps.Values(m))
	slices.SortFunc(out, func(a, b V) int { return cmp.Compare(key(a), key(b)) })
	if out == nil {
		out = []V{}
	}
	return out
}

// state returns a copy of the whole replicated state, slices sorted by ID.
func (f *fsm) state() clusterapi.State {
	f.mu.RLock()
	defer f.mu.RUnlock()
	return f.stateLocked()
}

func (f *fsm) stateLocked() clusterapi.State {
	return clusterapi.State{
		Nodes:         f.nodeList(),
		Table:         cloneTable(f.table),
		Namespaces:    sortedValues(f.namespaces, func(n clusterapi.Namespace) uint16 { return n.ID }),
		NSVersion:     f.nsVersion,
		Users:         redacted(f.users),
		UsersVersion:  f.usersVersion,
		Settings:      f.settings,
		ConfigServers: sortedValues(f.servers, func(c clusterapi.ConfigServer) string { return c.ID }),
		Plan:          f.planCopy(),
	}
}

// planCopy returns a copy of the migration plan (nil: none). Called with mu held.
func (f *fsm) planCopy() *clusterapi.Table {
	if f.plan == nil {
		return nil
	}
	t := cloneTable(*f.plan)
	return &t
}

// migrationPlan returns the plan as a routing table (nil: none).
func (f *fsm) migrationPlan() *routing.Table {
	f.mu.RLock()
	defer f.mu.RUnlock()
	return f.planRT
}

// setPlan makes t (a copy of it) the migration plan, or drops the plan when
// t is nil. Called with mu held.
func (f *fsm) setPlan(t *clusterapi.Table) error {
	if t == nil {
		f.plan, f.planRT = nil, nil
		return nil
	}
	rt, err := clusterapi.ToRouting(t, nil)
	if err != nil {
		return err
	}
	c := cloneTable(*t)
	f.plan, f.planRT = &c, rt
	return nil
}

func cloneTable(t clusterapi.Table) clusterapi.Table {
	out := clusterapi.Table{Epoch: t.Epoch, Nodes: slices.Clone(t.Nodes), Ranges: make([]clusterapi.Range, len(t.Ranges))}
	if out.Nodes == nil {
		out.Nodes = []string{}
	}
	for i, r := range t.Ranges {
		out.Ranges[i] = clusterapi.Range{First: r.First, Last: r.Last, Replicas: slices.Clone(r.Replicas), Term: r.Term,
			Learners: slices.Clone(r.Learners), Frozen: r.Frozen, Handed: r.Handed}
	}
	return out
}

// epoch returns the table's epoch.
func (f *fsm) epoch() uint64 {
	f.mu.RLock()
	defer f.mu.RUnlock()
	return f.table.Epoch
}

// node returns one node's record.
func (f *fsm) node(id string) (clusterapi.Node, bool) {
	f.mu.RLock()
	defer f.mu.RUnlock()
	n, ok := f.nodes[id]
	return n, ok
}

// nodeRecords returns the node records, sorted by id.
func (f *fsm) nodeRecords() []clusterapi.Node {
	f.mu.RLock()
	defer f.mu.RUnlock()
	return f.nodeList()
}

// serverRecords returns the config-server records, sorted by id.
func (f *fsm) serverRecords() []clusterapi.ConfigServer {
	f.mu.RLock()
	defer f.mu.RUnlock()
	return sortedValues(f.servers, func(c clusterapi.ConfigServer) string { return c.ID })
}

// clusterSettings returns the replicated settings (zero before any).
func (f *fsm) clusterSettings() clusterapi.Settings {
	f.mu.RLock()
	defer f.mu.RUnlock()
	return f.settings
}

// server returns one config server's record.
func (f *fsm) server(id string) (clusterapi.ConfigServer, bool) {
	f.mu.RLock()
	defer f.mu.RUnlock()
	c, ok := f.servers[id]
	return c, ok
}

// routingView returns the current routing view and the node records.
func (f *fsm) routingView() (*routing.Table, []clusterapi.Node) {
	f.mu.RLock()
	defer f.mu.RUnlock()
	return f.rt, f.nodeList()
}

// snapshotState is a snapshot: the state as the API shows it, plus what
// only the config servers use.
type snapshotState struct {
	clusterapi.State
	// Former: node id → the buckets it formerly held, as [first, last] runs.
	Former map[string][][2]int `json:"former,omitempty"`
	// UserRecords are the users with their password hashes (State.Users
	// has none).
	UserRecords []clusterapi.User `json:"user_records,omitempty"`
}

// Snapshot captures the state as JSON (small: nodes, ranges, namespaces).
func (f *fsm) Snapshot() (raft.FSMSnapshot, error) {
	f.mu.RLock()
	st := snapshotState{State: f.stateLocked(), Former: map[string][][2]int{},
		UserRecords: sortedValues(f.users, func(u clusterapi.User) string { return u.Name })}
	for id, set := range f.former {
		st.Former[id] = set.ranges()
	}
	f.mu.RUnlock()
	data, err := json.Marshal(st)
	if err != nil {
		return nil, err
	}
	return &fsmSnapshot{data: data}, nil
}

// Restore replaces the state with a snapshot's.
func (f *fsm) Restore(rc io.ReadCloser) error {
	defer rc.Close()
	var st snapshotState
	if err := json.NewDecoder(rc).Decode(&st); err != nil {
		return fmt.Errorf("config state snapshot: %w", err)
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.reset()
	for _, n := range st.Nodes {
		f.nodes[n.ID] = clusterapi.Node{ID: n.ID, Addr: n.Addr, Internal: n.Internal, HTTP: n.HTTP, Zone: n.Zone, State: n.State, Boot: n.Boot}
	}
	f.table = cloneTable(st.Table)
	for _, ns := range st.Namespaces {
		f.namespaces[ns.ID] = ns
	}
	f.nsVersion = st.NSVersion
	for _, u := range st.UserRecords {
		f.users[u.Name] = u
	}
	f.usersVersion = st.UsersVersion
	f.settings = st.Settings
	if err := f.setPlan(st.Plan); err != nil {
		// Checked when it was committed: not reachable. No plan is
		// what a plan that cannot be read always meant.
		f.log.Error("config state snapshot: the migration plan cannot be used; dropped", "err", err)
	}
	for _, cs := range st.ConfigServers {
		f.servers[cs.ID] = clusterapi.ConfigServer{ID: cs.ID, Raft: cs.Raft, HTTP: cs.HTTP, RESP: cs.RESP}
	}
	for id, runs := range st.Former {
		set := &bucketSet{}
		for _, r := range runs {
			for b := max(r[0], 0); b <= min(r[1], routing.Buckets-1); b++ {
				set.add(b)
			}
		}
		if !set.empty() {
			f.former[id] = set
		}
	}
	f.refreshRouting()
	f.refreshUsers()
	return nil
}

type fsmSnapshot struct{ data []byte }

func (s *fsmSnapshot) Persist(sink raft.SnapshotSink) error {
	if _, err := sink.Write(s.data); err != nil {
		sink.Cancel()
		return err
	}
	return sink.Close()
}

func (s *fsmSnapshot) Release() {}
