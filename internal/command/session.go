package command

import (
	"granary/internal/acl"
	"sync"
	"sync/atomic"

	"granary/internal/namespace"
	"granary/internal/replication"
	"granary/internal/tracking"
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
	// User is the config-server user the session logged in as; nil: the
	// default user (--requirepass), unrestricted. users is the set it was
	// found in: when the node's set changes, the next command looks the
	// user up again (acl.go).
	User  *acl.User
	users *acl.Users

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

	// Client-side caching (tracking.go). Track is the connection's tracking
	// state while CLIENT TRACKING is on, nil otherwise: Dispatch checks it
	// for every command. Out is where invalidation pushes for the
	// connection wait (set by the connection layer; nil: the session cannot
	// receive pushes). Subscribed is set by SUBSCRIBE __redis__:invalidate
	// (written under mu, which CLIENT LIST reads it under).
	Track      *tracking.Client
	Out        *tracking.Outbox
	Subscribed bool
	// client is the connection's tracking.Client, made on first need,
	// possibly by another connection (CLIENT TRACKING REDIRECT to this one);
	// under mu with closed.
	client atomic.Pointer[tracking.Client]
	closed bool

	// multi is the transaction being queued (MULTI ... EXEC), nil outside;
	// inExec is set while EXEC runs the queued commands.
	multi  *multiState
	inExec bool

	mu       sync.Mutex // guards name and userName, read by CLIENT LIST from other goroutines
	name     string
	userName string // "" or "default": the default user

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

// UserName returns the name of the user the session is logged in as.
func (s *Session) UserName() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.userName == "" {
		return acl.DefaultUser
	}
	return s.userName
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

// trackingClient returns the session's tracking.Client, making and
// registering it in t on first use. It returns nil when the session cannot
// receive pushes (no outbox) or is closed.
func (s *Session) trackingClient(t *tracking.Table) *tracking.Client {
	if cl := s.client.Load(); cl != nil {
		return cl
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if cl := s.client.Load(); cl != nil {
		return cl
	}
	if t == nil || s.Out == nil || s.closed {
		return nil
	}
	cl := t.NewClient(s.ID, s.Out, s.Proto)
	s.client.Store(cl)
	return cl
}

// setProto changes the session's protocol (HELLO, RESET), and its tracking
// client's with it.
func (s *Session) setProto(p int) {
	s.mu.Lock()
	s.Proto = p
	if cl := s.client.Load(); cl != nil {
		cl.SetProto(p)
	}
	s.mu.Unlock()
}

// Closed releases what the session holds beyond its connection (tracking
// state, a redirection target other connections may look up). The
// connection layer calls it once the connection has ended.
func (n *Node) Closed(s *Session) {
	s.mu.Lock()
	s.closed = true
	cl := s.client.Load()
	s.mu.Unlock()
	if cl != nil {
		n.Tracking.Release(cl)
	}
}
