package command

import (
	"sync"
	"sync/atomic"

	"granary/internal/namespace"
	"granary/internal/replication"
)

// Session is one client connection's state.
type Session struct {
	ID            int64
	Addr          string // remote address
	LAddr         string // local address
	Created       int64  // Unix ms
	Proto         int    // 2 or 3
	Authed        bool
	NSID          uint16 // selected namespace
	ReadOnly      bool   // READONLY: may read from replicas
	Asking        bool   // ASKING: next command may touch an importing bucket
	Close         bool   // set by QUIT: close after the reply is flushed
	LimitsChanged bool   // authentication changed; the reader's limits must follow

	// Pending are the entries the batch's replies wait for (sync
	// namespaces); LeaseUntil is the earliest end of the primary leases the
	// batch was served under (Mono ms, 0: none). The connection settles
	// both before it flushes.
	Pending    []replication.Pending
	LeaseUntil int64
	// ReplPeer is set by GRANARY.REPL: the connection becomes a
	// replication link from that primary once the reply is out.
	ReplPeer string

	// Counts are this session's unflushed statistics for namespace NSID.
	Counts namespace.Counts

	mu   sync.Mutex // guards name, read by CLIENT LIST from other goroutines
	name string

	// Last command and its time, read by CLIENT LIST; atomics keep the hot
	// path free of locks.
	lastSpec atomic.Pointer[Spec]
	lastAt   atomic.Int64
}

// Name returns the name set by CLIENT SETNAME.
func (s *Session) Name() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.name
}

// SetName sets the client name.
func (s *Session) SetName(n string) {
	s.mu.Lock()
	s.name = n
	s.mu.Unlock()
}

// Last returns the last command's name and time (Unix ms).
func (s *Session) Last() (string, int64) {
	name := "NULL"
	if sp := s.lastSpec.Load(); sp != nil {
		name = sp.Name
	}
	return name, s.lastAt.Load()
}
