// Package clusterapi is the contract between config servers and their users
// (data servers, granary ctl, granary dev): the JSON types of the config
// server's HTTP API and a client for it. It holds no logic of either side.
//
// Endpoints (all JSON; errors are {"error": "..."} with a 4xx/5xx status;
// followers forward writes to the leader, and answer reads themselves):
//
//	POST   /v1/heartbeat              HeartbeatRequest -> HeartbeatResponse (403: node not added)
//	GET    /v1/status                 -> Status
//	GET    /v1/state                  -> State (everything replicated)
//	GET    /v1/table                  -> Table
//	GET    /v1/table/next?after=E&wait=D -> TableUpdate    (the table once its epoch passes E; empty after D)
//	GET    /v1/nodes                  -> []Node
//	POST   /v1/nodes                  NodeAdd -> Node        (allow a data server to join)
//	DELETE /v1/nodes/{id}                                   (forget a node; its buckets are rebuilt)
//	POST   /v1/rebuild                -> Table               (run the table builder now)
//	POST   /v1/rebalance              -> Rebalance           (plan a layout; buckets migrate to it)
//	GET    /v1/moves                  -> Moves               (migration progress)
//	POST   /v1/nodes/{id}/drain       -> Rebalance           (move a node's copies away)
//	POST   /v1/nodes/{id}/undrain     -> Rebalance           (let it hold copies again)
//	GET    /v1/namespaces             -> []Namespace
//	POST   /v1/namespaces             Namespace -> Namespace (create; ID 0..65535 must be free)
//	PUT    /v1/namespaces/{id}        Namespace -> Namespace (update)
//	DELETE /v1/namespaces/{id}
//	GET    /v1/users                  -> []User              (no password hashes)
//	GET    /v1/users/{name}           -> User                (no password hash)
//	POST   /v1/users                  User -> User           (create; Password required)
//	PUT    /v1/users/{name}           User -> User           (replace; empty Password keeps the old one)
//	DELETE /v1/users/{name}
//	GET    /v1/config-servers         -> []ConfigServer
//	POST   /v1/config-servers         ConfigServer -> []ConfigServer (add a Raft voter)
//	DELETE /v1/config-servers/{id}    -> []ConfigServer      (remove a Raft member)
//	GET    /v1/stats                  -> Stats (the leader's; followers forward)
//	GET    /ui/                       the web dashboard (static files polling the reads above)
package clusterapi

import "time"

// NodeState is a data server's state in the replicated configuration.
type NodeState string

// Node states.
const (
	NodeAdded    NodeState = "added"    // allowed to join, never seen yet
	NodeUp       NodeState = "up"       // heartbeating; may hold buckets
	NodeDown     NodeState = "down"     // missed heartbeats past the down timeout
	NodeDraining NodeState = "draining" // giving its buckets away
)

// Node is a data server as the config servers know it.
type Node struct {
	ID       string    `json:"id"`       // 40 hex characters (Redis Cluster node id form)
	Addr     string    `json:"addr"`     // RESP address clients connect to, host:port
	Internal string    `json:"internal"` // address data servers use between themselves, host:port
	HTTP     string    `json:"http"`     // metrics address, host:port
	Zone     string    `json:"zone"`
	State    NodeState `json:"state"`
	// Boot is the incarnation of the node's process the config servers
	// last handled (HeartbeatRequest.Boot).
	Boot string `json:"boot,omitempty"`
	// LastSeen is the leader's in-memory liveness (not replicated); zero on
	// followers and for nodes never heard from since the leader took over.
	LastSeen time.Time `json:"last_seen,omitzero"`
}

// NodeAdd allows a data server to join.
type NodeAdd struct {
	ID   string `json:"id"`
	Zone string `json:"zone,omitempty"`
}

// Range is a run of consecutive buckets with the same replica list.
type Range struct {
	First    int   `json:"first"`
	Last     int   `json:"last"`
	Replicas []int `json:"replicas"` // indexes into Table.Nodes, primary first
	// Term is the buckets' primary term: the epoch in which their current
	// primary took them over (see routing.Table.Terms).
	Term uint64 `json:"term,omitempty"`
	// Learners are migration targets catching up (see routing.Table).
	Learners []int `json:"learners,omitempty"`
	// Frozen: the primary holds the buckets for a handover.
	Frozen bool `json:"frozen,omitempty"`
	// Handed: the buckets' new primary took them from a frozen primary.
	Handed bool `json:"handed,omitempty"`
}

// Table is the routing table in transit: buckets as ranges.
type Table struct {
	Epoch  uint64   `json:"epoch"`
	Nodes  []string `json:"nodes"` // node ids; Ranges index into this
	Ranges []Range  `json:"ranges"`
}

// Ack modes of a namespace.
const (
	AckAsync = "async" // reply after the local apply (Tair's default, for caches)
	AckSync  = "sync"  // reply after every replica applied it (the default)
)

// Namespace is a Tair area, defined cluster-wide.
type Namespace struct {
	ID     uint16 `json:"id"`
	Name   string `json:"name"`
	Engine string `json:"engine"` // "mem" (more to come)
	// Quota is the namespace's memory quota in bytes across the cluster (0:
	// unlimited); each data server enforces its share.
	Quota int64  `json:"quota"`
	Ack   string `json:"ack"`
	// MaxOps is a per-data-server flow limit in operations per second (0: none).
	MaxOps int64 `json:"max_ops"`
	// MaxBytes is a per-data-server flow limit in bytes per second, request
	// arguments plus replies (0: none).
	MaxBytes int64 `json:"max_bytes"`
}

// Command classes a user may be granted (User.Commands).
const (
	ClassRead  = "read"  // commands that read keys of a namespace
	ClassWrite = "write" // commands that change keys of a namespace
	ClassAdmin = "admin" // CONFIG, CLIENT LIST/KILL, FLUSHALL, INFO, GRANARY.INGEST, ...
)

// User is an account clients log in as on the data servers (AUTH user pass).
// A new user may do nothing until granted namespaces and command classes.
type User struct {
	Name string `json:"name"`
	// Password is plaintext and only in create and update requests: the
	// leader hashes it before the change is replicated. Never returned.
	Password string `json:"password,omitempty"`
	// Hash is the stored password (salted SHA-256, see package acl). Only
	// heartbeat replies to data servers carry it; the API never returns it.
	Hash string `json:"hash,omitempty"`
	// Namespaces the user may SELECT and use; AllNamespaces grants every one.
	Namespaces    []uint16 `json:"namespaces"`
	AllNamespaces bool     `json:"all_namespaces,omitempty"`
	// Commands are the command classes granted (ClassRead, ...).
	Commands []string `json:"commands"`
	// DefaultNamespace is selected when the user logs in.
	DefaultNamespace uint16 `json:"default_namespace"`
	// Disabled users cannot log in; their open connections lose access.
	Disabled bool `json:"disabled,omitempty"`
}

// Settings are cluster-wide settings.
type Settings struct {
	Copies int `json:"copies"` // replicas per bucket, default 2
	// MinNodes is how many data servers must be up before the first table is
	// built (so a new cluster's buckets spread over all its first nodes).
	MinNodes int `json:"min_nodes"`
}

// ConfigServer is a member of the Raft group.
type ConfigServer struct {
	ID     string `json:"id"`
	Raft   string `json:"raft"` // Raft transport address
	HTTP   string `json:"http"` // API address
	RESP   string `json:"resp"` // RESP address (CLUSTER SLOTS etc.)
	Voter  bool   `json:"voter"`
	Leader bool   `json:"leader"`
}

// State is everything the config servers replicate.
type State struct {
	Nodes         []Node         `json:"nodes"`
	Table         Table          `json:"table"`
	Namespaces    []Namespace    `json:"namespaces"`
	NSVersion     uint64         `json:"ns_version"`    // bumped on every namespace change
	Users         []User         `json:"users"`         // without password hashes
	UsersVersion  uint64         `json:"users_version"` // bumped on every user change
	Settings      Settings       `json:"settings"`
	ConfigServers []ConfigServer `json:"config_servers"`
	// Plan is the layout migration moves the table to (nil: none).
	Plan *Table `json:"plan,omitempty"`
}

// Status is a summary for granary ctl status.
type Status struct {
	ID         string         `json:"id"`     // the config server answering
	Leader     string         `json:"leader"` // leader's id, "" when none
	Term       uint64         `json:"term"`
	Epoch      uint64         `json:"epoch"` // routing table epoch
	Nodes      map[string]int `json:"nodes"` // count by state
	Buckets    int            `json:"buckets"`
	Unassigned int            `json:"unassigned"` // buckets without a primary
	Copies     int            `json:"copies"`
	Namespaces int            `json:"namespaces"`
}

// HeartbeatRequest is sent by a data server every heartbeat interval.
type HeartbeatRequest struct {
	NodeID    string `json:"node_id"`
	Addr      string `json:"addr"`
	Internal  string `json:"internal"`
	HTTP      string `json:"http"`
	Zone      string `json:"zone"`
	Epoch     uint64 `json:"epoch"`      // table epoch the node holds
	NSVersion uint64 `json:"ns_version"` // namespace version the node holds
	// UsersVersion is the version of the users the node holds.
	UsersVersion uint64        `json:"users_version"`
	Stats        NodeStats     `json:"stats"`
	Uptime       time.Duration `json:"uptime"`
	// Boot is random per process start. An in-memory node that restarts has
	// lost its data: until a reply echoes its Boot (the config servers have
	// taken it out of every bucket another replica holds) it serves nothing.
	Boot string `json:"boot,omitempty"`
	// Unreachable lists the peers this node could not replicate to (or, as
	// a secondary, hear from) for longer than its lease period.
	Unreachable []string `json:"unreachable,omitempty"`
	// Moves reports the migrations of the buckets the node leads.
	Moves []MoveReport `json:"moves,omitempty"`
}

// MoveReport is a primary's view of one copy of a migrating bucket: a
// learner, or, while the bucket is frozen for a handover, a secondary.
type MoveReport struct {
	Bucket int    `json:"bucket"`
	Node   string `json:"node"`
	Caught bool   `json:"caught"`           // its catch-up ended (snapshot or replay acknowledged)
	Lag    uint64 `json:"lag"`              // entries of the bucket it has not acknowledged
	Frozen bool   `json:"frozen,omitempty"` // the primary holds the bucket for the handover
}

// NodeStats are the figures a data server reports with each heartbeat.
type NodeStats struct {
	Items   int64  `json:"items"`
	Bytes   int64  `json:"bytes"`
	Ops     uint64 `json:"ops"`
	Clients int64  `json:"clients"`
	// MoveBytes counts the bytes of bucket copies this node has sent to
	// migration targets since it started.
	MoveBytes uint64 `json:"move_bytes,omitempty"`
	// Namespaces holds each namespace's counters on this node.
	Namespaces []NamespaceStats `json:"namespaces,omitempty"`
}

// NamespaceStats are one namespace's figures on one data server. The
// counters only grow while the process runs; rates come from differences.
type NamespaceStats struct {
	ID     uint16 `json:"id"`
	Reads  uint64 `json:"reads"`
	Writes uint64 `json:"writes"`
	Others uint64 `json:"others"`
	Hits   uint64 `json:"hits"`
	Misses uint64 `json:"misses"`
	Items  int64  `json:"items"`
	Bytes  int64  `json:"bytes"`
	// Batches counts batches of commands served (one read of pipelined
	// commands up to their replies' flush) and BatchNanos their time, so
	// that a difference of both gives the mean server-side latency.
	Batches    uint64 `json:"batches"`
	BatchNanos uint64 `json:"batch_nanos"`
}

// Stats is the leader's view of the cluster's load: per-node figures from
// the last heartbeats and a history of per-namespace samples.
type Stats struct {
	Leader   string        `json:"leader"`   // the config server that sampled
	Interval time.Duration `json:"interval"` // between samples
	// Heartbeat is the interval the data servers are asked to heartbeat at.
	Heartbeat time.Duration `json:"heartbeat"`
	Nodes     []NodeLoad    `json:"nodes"`
	// Samples are oldest first; a new leader starts with none.
	Samples []Sample `json:"samples"`
}

// NodeLoad is a data server's load as its heartbeats report it.
type NodeLoad struct {
	ID        string        `json:"id"`
	OpsPerSec float64       `json:"ops_per_sec"`
	Items     int64         `json:"items"`
	Bytes     int64         `json:"bytes"`
	Clients   int64         `json:"clients"`
	Uptime    time.Duration `json:"uptime"`
	LastSeen  time.Time     `json:"last_seen"`
	// Silence is how long ago the leader heard from it (by the leader's
	// clock, so that a viewer's clock does not matter).
	Silence time.Duration `json:"silence"`
}

// Sample is the cluster's per-namespace figures at one instant.
type Sample struct {
	Time       time.Time         `json:"time"`
	Namespaces []NamespaceSample `json:"namespaces"`
}

// NamespaceSample sums a namespace over the data servers heard from.
type NamespaceSample struct {
	ID        uint16  `json:"id"`
	OpsPerSec float64 `json:"ops_per_sec"`
	// HitRate is hits / (hits + misses) over the interval; -1 with no reads.
	HitRate float64 `json:"hit_rate"`
	Items   int64   `json:"items"`
	Bytes   int64   `json:"bytes"`
	// LatencyMicros is the mean server-side time of a batch of commands
	// over the interval; -1 with none served.
	LatencyMicros float64 `json:"latency_us"`
}

// HeartbeatResponse carries what changed since the request's versions.
type HeartbeatResponse struct {
	Table      *Table      `json:"table,omitempty"`      // set when newer than Epoch
	Nodes      []Node      `json:"nodes,omitempty"`      // set with Table: addresses of its nodes
	Namespaces []Namespace `json:"namespaces,omitempty"` // set when NSVersion is newer
	NSVersion  uint64      `json:"ns_version"`
	// Users (with their password hashes) are set when UsersVersion is newer
	// than the request's; an empty list then means no users.
	Users        []User        `json:"users,omitempty"`
	UsersVersion uint64        `json:"users_version"`
	Leader       string        `json:"leader"` // leader's API address, to heartbeat it directly
	Interval     time.Duration `json:"interval"`
	// Boot echoes the request's Boot once the config servers have handled
	// that incarnation; the reply then carries the table that reflects it.
	Boot string `json:"boot,omitempty"`
}

// TableUpdate is the answer to GET /v1/table/next: a table newer than the
// epoch asked about, with the nodes it lists, or nothing (Table nil) when
// none was committed within the wait.
type TableUpdate struct {
	Table *Table `json:"table,omitempty"`
	Nodes []Node `json:"nodes,omitempty"`
}

// Rebalance is the answer to POST /v1/rebalance: the plan committed.
type Rebalance struct {
	Planned       bool    `json:"planned"`        // false: the table is balanced already
	Copies        int     `json:"copies"`         // bucket copies in the planned layout
	Moved         int     `json:"moved"`          // copies the plan puts on nodes without them (data to copy)
	MovedFraction float64 `json:"moved_fraction"` // Moved / Copies
	// IdealFraction is the least any balanced layout must move: X/(M+X)
	// when X empty nodes join M, the drained nodes' share when draining.
	IdealFraction float64 `json:"ideal_fraction"`
	PrimaryMoves  int     `json:"primary_moves"` // buckets whose primary changes node
}

// Moves is GET /v1/moves: the migration in progress.
type Moves struct {
	Epoch   uint64 `json:"epoch"`
	Planned bool   `json:"planned"` // a plan is in force
	Left    int    `json:"left"`    // buckets not yet laid out as planned
	Active  []Move `json:"active"`  // buckets in a move now
	Steps   uint64 `json:"steps"`   // move steps this leader committed
	// SentBytes sums what the data servers report of the bucket copies they
	// sent to migration targets since they started (differences give rates).
	SentBytes uint64 `json:"sent_bytes"`
}

// Move is one bucket in a move.
type Move struct {
	Bucket  int    `json:"bucket"`
	Primary string `json:"primary"`
	Learner string `json:"learner,omitempty"`
	Phase   string `json:"phase"` // copying (a learner catches up) or handover (the primary holds it)
}

// Error is the body of an error reply.
type Error struct {
	Error string `json:"error"`
}
