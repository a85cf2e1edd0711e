// Package server runs the RESP connection loop of a data server: it accepts
// clients, reads pipelined commands, dispatches them to package command and
// writes replies in batches (flushed when the client's input is drained).
package server

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"granary/internal/command"
	"granary/internal/resp"
)

// Options configure the connection layer.
type Options struct {
	MaxClients int          // 0 = 10000, as Redis
	Limits     resp.Limits  // after authentication
	PreAuth    resp.Limits  // before authentication (used only with a password)
	Logger     *slog.Logger // nil = slog.Default()
	// PushLimit is the most bytes of invalidation pushes a connection may
	// have waiting before it is closed (0 = tracking.DefaultOutboxLimit).
	PushLimit int
	// EventLoops serve connections from that many epoll loops (Linux; 0:
	// a goroutine per connection). Only for a node whose commands never
	// wait for a routing change, i.e. a standalone one: see loop.
	EventLoops int
}

// Server serves RESP clients for one node.
type Server struct {
	node *command.Node
	opts Options
	log  *slog.Logger

	mu    sync.Mutex
	conns map[int64]*conn
	lns   []net.Listener

	loops       []*loop
	nextLoop    atomic.Uint32
	loopClients atomic.Int64
	handOffs    atomic.Int64

	nextID   atomic.Int64
	total    atomic.Int64
	rejected atomic.Int64
	netIn    atomic.Int64
	netOut   atomic.Int64
	closed   atomic.Bool
	wg       sync.WaitGroup
}

// New returns a server for node and makes it the node's Host.
func New(node *command.Node, opts Options) *Server {
	if opts.MaxClients <= 0 {
		opts.MaxClients = 10000
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	if opts.PreAuth == (resp.Limits{}) {
		opts.PreAuth = resp.PreAuthLimits
	}
	s := &Server{node: node, opts: opts, log: opts.Logger, conns: map[int64]*conn{}}
	node.Host = s
	if opts.EventLoops > 0 {
		loops, err := newLoops(s, opts.EventLoops)
		if err != nil {
			s.log.Warn("event loops unavailable: a goroutine per connection", "err", err)
		}
		s.loops = loops
	}
	return s
}

// Serve accepts connections on ln until ctx is done or Close is called.
func (s *Server) Serve(ctx context.Context, ln net.Listener) error {
	s.mu.Lock()
	if s.closed.Load() { // Close ran before Serve registered the listener
		s.mu.Unlock()
		return ln.Close()
	}
	s.lns = append(s.lns, ln)
	s.mu.Unlock()
	stop := context.AfterFunc(ctx, func() { s.Close() })
	defer stop()
	var delay time.Duration
	for {
		nc, err := ln.Accept()
		if err != nil {
			if s.closed.Load() {
				return nil
			}
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				delay = min(max(2*delay, 5*time.Millisecond), time.Second)
				time.Sleep(delay)
				continue
			}
			return err
		}
		delay = 0
		s.accept(nc)
	}
}

func (s *Server) accept(nc net.Conn) {
	s.total.Add(1)
	s.mu.Lock()
	if len(s.conns) >= s.opts.MaxClients || s.closed.Load() {
		s.mu.Unlock()
		s.rejected.Add(1)
		nc.SetWriteDeadline(time.Now().Add(time.Second))
		nc.Write([]byte("-ERR max number of clients reached\r\n"))
		nc.Close()
		return
	}
	s.mu.Unlock()
	if len(s.loops) > 0 {
		l := s.loops[int(s.nextLoop.Add(1))%len(s.loops)]
		if l.add(nc) {
			return
		}
	}
	c := newConn(s, nc, nc.RemoteAddr(), nc.LocalAddr())
	if !s.register(c) {
		nc.Close()
		return
	}
	go func() {
		c.serve(nc)
		s.unregister(c)
	}()
}

// register lists a new connection, which calls unregister when it ends.
// It reports false when the server closed meanwhile.
func (s *Server) register(c *conn) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed.Load() {
		return false
	}
	s.conns[c.sess.ID] = c
	s.wg.Add(1)
	return true
}

func (s *Server) unregister(c *conn) {
	s.mu.Lock()
	delete(s.conns, c.sess.ID)
	s.mu.Unlock()
	s.wg.Done()
}

// Close stops listening, closes every connection and waits for them to end.
func (s *Server) Close() error {
	s.mu.Lock()
	if s.closed.Swap(true) {
		s.mu.Unlock()
		s.wg.Wait() // every caller returns only once connections are gone
		return nil
	}
	for _, ln := range s.lns {
		ln.Close()
	}
	for _, c := range s.conns {
		c.nc.Close()
	}
	s.mu.Unlock()
	for _, l := range s.loops {
		l.stopAll()
	}
	s.wg.Wait()
	return nil
}

// Sessions returns every connected client's session (CLIENT LIST).
func (s *Server) Sessions() []*command.Session {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]*command.Session, 0, len(s.conns))
	for _, c := range s.conns {
		out = append(out, c.sess)
	}
	return out
}

// Kill closes client id's connection.
func (s *Server) Kill(id int64) bool {
	s.mu.Lock()
	c := s.conns[id]
	// Gone from the lists at once, as in Redis, though the connection's
	// goroutine or loop may see its socket closed a moment later.
	delete(s.conns, id)
	s.mu.Unlock()
	if c == nil {
		return false
	}
	c.nc.Close()
	return true
}

// ConnStats returns connection counters.
func (s *Server) ConnStats() command.ConnStats {
	s.mu.Lock()
	n := len(s.conns)
	s.mu.Unlock()
	return command.ConnStats{
		Connected: int64(n), Total: s.total.Load(), Rejected: s.rejected.Load(),
		NetIn: s.netIn.Load(), NetOut: s.netOut.Load(),
		EventLoops: int64(len(s.loops)), LoopClients: s.loopClients.Load(), HandOffs: s.handOffs.Load(),
	}
}
