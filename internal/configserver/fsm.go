package configserver

import (
	"cmp"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"net/http"
	"slices"
	"sync"

	"github.com/hashicorp/raft"

	"granary/internal/clusterapi"
	"granary/internal/routing"
)

// Log entry types. Every change to the replicated state is one JSON entry
// with one of these in its "type" field; heartbeats are never entries.
const (
	opNodeAdd    = "node_add"    // Node: allow a data server to join (state added)
	opNodeUp     = "node_up"     // Node: first seen, back up, or new addresses
	opNodeDown   = "node_down"   // ID: missed heartbeats past the down timeout
	opNodeRemove = "node_remove" // ID, optional Table over PrevEpoch: forget a node
	opTable      = "table"       // Table over PrevEpoch: a new routing table
	opNSCreate   = "ns_create"   // Namespace
	opNSUpdate   = "ns_update"   // Namespace
	opNSDelete   = "ns_delete"   // NSID
	opSettings   = "settings"    // Settings
	opCSSet      = "cs_set"      // ConfigServer: record a config server's addresses
	opCSRemove   = "cs_remove"   // ID: drop a config server's record
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

	mu         sync.RWMutex
	nodes      map[string]clusterapi.Node
	table      clusterapi.Table
	rt         *routing.Table // table joined with the node records
	namespaces map[uint16]clusterapi.Namespace
	nsVersion  uint64
	settings   clusterapi.Settings
	servers    map[string]clusterapi.ConfigServer
	applied    uint64 // index of the last entry applied
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
	f.settings = clusterapi.Settings{}
	f.servers = map[string]clusterapi.ConfigServer{}
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
	routingChanged, err := f.apply(&e)
	f.applied = l.Index
	if routingChanged {
		f.refreshRouting()
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
		f.nodes[n.ID] = n
		inTable := slices.Contains(f.table.Nodes, n.ID)
		if inTable && (moved || wasDown) {
			// The routing view changed (where to reach a replica, or that it
			// is back): a new epoch makes every data server fetch the table
			// with the nodes' new addresses and states.
			f.table.Epoch++
		}
		// A node back up changes the routing view too: CLUSTER NODES and
		// INFO stop reporting it failed.
		return inTable && (moved || zoned || wasDown), nil

	case opNodeDown:
		n, ok := f.nodes[e.ID]
		if !ok {
			return false, errf(http.StatusNotFound, "node %s not found", e.ID)
		}
		n.State = clusterapi.NodeDown
		f.nodes[e.ID] = n
		inTable := slices.Contains(f.table.Nodes, e.ID)
		if inTable {
			f.table.Epoch++ // data servers learn the node failed with the next table
		}
		return inTable, nil

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
	}
	return false, errf(http.StatusBadRequest, "unknown log entry type %q", e.Type)
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
	if _, err := clusterapi.ToRouting(t, nil); err != nil {
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
func (f *fsm) refreshRouting() {
	rt, err := clusterapi.ToRouting(&f.table, f.nodeList())
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
		Settings:      f.settings,
		ConfigServers: sortedValues(f.servers, func(c clusterapi.ConfigServer) string { return c.ID }),
	}
}

func cloneTable(t clusterapi.Table) clusterapi.Table {
	out := clusterapi.Table{Epoch: t.Epoch, Nodes: slices.Clone(t.Nodes), Ranges: make([]clusterapi.Range, len(t.Ranges))}
	if out.Nodes == nil {
		out.Nodes = []string{}
	}
	for i, r := range t.Ranges {
		out.Ranges[i] = clusterapi.Range{First: r.First, Last: r.Last, Replicas: slices.Clone(r.Replicas)}
	}
	return out
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

// Snapshot captures the state as JSON (small: nodes, ranges, namespaces).
func (f *fsm) Snapshot() (raft.FSMSnapshot, error) {
	f.mu.RLock()
	st := f.stateLocked()
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
	var st clusterapi.State
	if err := json.NewDecoder(rc).Decode(&st); err != nil {
		return fmt.Errorf("config state snapshot: %w", err)
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.reset()
	for _, n := range st.Nodes {
		f.nodes[n.ID] = clusterapi.Node{ID: n.ID, Addr: n.Addr, Internal: n.Internal, HTTP: n.HTTP, Zone: n.Zone, State: n.State}
	}
	f.table = cloneTable(st.Table)
	for _, ns := range st.Namespaces {
		f.namespaces[ns.ID] = ns
	}
	f.nsVersion = st.NSVersion
	f.settings = st.Settings
	for _, cs := range st.ConfigServers {
		f.servers[cs.ID] = clusterapi.ConfigServer{ID: cs.ID, Raft: cs.Raft, HTTP: cs.HTTP, RESP: cs.RESP}
	}
	f.refreshRouting()
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
