// Package command implements the commands of a data server, grouped in
// families (strings, keys, exstring, hashes, connection, server, cluster), and
// the dispatch that checks arity, authentication and bucket ownership before a
// handler runs.
package command

import (
	"log/slog"
	"time"

	"granary/internal/engine"
	"granary/internal/namespace"
	"granary/internal/replication"
	"granary/internal/resp"
	"granary/internal/routing"
	"granary/internal/tracking"
)

// Ctx is one command being executed.
type Ctx struct {
	Args   [][]byte // Args[0] is the command name as sent
	W      *resp.Writer
	S      *Session
	N      *Node
	Spec   *Spec
	NS     *namespace.Namespace // the session's current namespace
	Bucket uint16               // bucket of the first key (0 for keyless commands)
	Now    int64                // Unix ms, taken once per command
	Mono   int64                // the same instant on replication's monotonic clock (ms)
	// gateWaited is set while a command, having waited for its bucket's
	// primary lease, checks again (it waits once).
	gateWaited bool

	// Scratch is a per-connection buffer handlers may reuse for a reply being
	// built (e.g. the value GET copies out of the engine).
	Scratch []byte
}

// Engine returns the current namespace's engine.
func (c *Ctx) Engine() engine.Engine { return c.NS.Engine }

// Counts returns the session's unflushed counters for the current namespace.
func (c *Ctx) Counts() *namespace.Counts { return &c.S.Counts }

// Hit and Miss count a read's outcome.
func (c *Ctx) Hit()  { c.S.Counts.Hits++ }
func (c *Ctx) Miss() { c.S.Counts.Misses++ }

// KeyBucket returns the bucket of key (for commands with several keys).
func (c *Ctx) KeyBucket(key []byte) uint16 { return routing.Bucket(key) }

// Err writes an error reply.
func (c *Ctx) Err(msg string) { c.W.Error(msg) }

// Config is what commands need of the server's configuration.
type Config struct {
	RequirePass  string // empty: no password
	MaxClients   int
	Standalone   bool // owns every bucket; cross-bucket multi-key commands allowed
	Port         int
	ProtoMaxBulk int
	// DebugCommands enables commands that exist for tests only
	// (GRANARY.DEBUG-SETLOCAL makes replicas differ).
	DebugCommands bool
}

// Host is what commands need of the connection layer (CLIENT LIST, KILL, INFO).
type Host interface {
	Sessions() []*Session
	Kill(id int64) bool
	ConnStats() ConnStats
}

// ConnStats are connection-layer counters for INFO.
type ConnStats struct {
	Connected, Total, Rejected int64
	NetIn, NetOut              int64
	// EventLoops is the number of event loops; LoopClients of the
	// connections are on them; HandOffs counts connections that left them
	// for goroutines of their own.
	EventLoops, LoopClients, HandOffs int64
}

// Node is the data server as commands see it.
type Node struct {
	ID         string // 40 hex characters
	Config     Config
	Namespaces *namespace.Registry
	Host       Host
	Started    time.Time
	// Repl replicates writes in cluster mode (nil standalone).
	Repl *replication.Replicator
	// Tracking is client-side caching's state (nil: not offered, e.g. on
	// a config server).
	Tracking *tracking.Table
	// Log receives security events (failed logins, permission denials);
	// nil: slog.Default().
	Log   *slog.Logger
	acl   nodeACL
	table atomicTable
}

// scratchKeep is the largest c.Scratch kept between commands; a larger one,
// grown by one big value, is dropped.
const scratchKeep = 64 << 10

// trimScratch drops c.Scratch when a large value grew it.
func (c *Ctx) trimScratch() {
	if cap(c.Scratch) > scratchKeep {
		c.Scratch = nil
	}
}
