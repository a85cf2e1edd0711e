//go:build linux

package server

import (
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sys/unix"

	"granary/internal/command"
	"granary/internal/engine"
	"granary/internal/resp"
)

// Serving one connection on a loop: reading, running its commands, writing
// its replies, and handing it to a goroutine.

// maxPending is how many reply bytes a connection may have waiting for its
// socket before the loop stops running its commands until they are taken
// (a client that does not read its replies is not read either).
const maxPending = 1 << 20

// maxLoopArgs is the most arguments of a command run on a loop. A command's
// work grows with its arguments (a DEL of a million keys takes a second), and
// while a loop runs one command its other clients wait: a longer command
// moves its connection to a goroutine of its own first, where the scheduler
// shares the CPU. MGETs and MSETs of hundreds of keys stay on the loop.
const maxLoopArgs = 1024

// errAgain is a read that would block.
var errAgain = errors.New("resource temporarily unavailable")

// lconn is a connection served by a loop.
type lconn struct {
	*conn
	l       *loop
	fd      int
	r       *resp.Reader
	ctx     command.Ctx // its W writes the replies
	pending []byte      // replies the socket did not take yet
	events  uint32      // epoll interest
	batchAt time.Time   // the batch in progress began (zero: none)
	quit    bool        // close once pending is written

	mu     sync.Mutex
	closed bool     // fd closed by the loop
	moved  net.Conn // the connection once handed to a goroutine
	woken  atomic.Bool
}

func (l *loop) readable(c *lconn) {
	if err := c.r.Fill(); err != nil {
		if err == errAgain {
			return
		}
		if resp.IsProtocolError(err) {
			l.protocolError(c, err)
			return
		}
		if !errors.Is(err, io.EOF) {
			l.s.log.Debug("read error", "client", c.sess.Addr, "err", err)
		}
		l.close(c)
		return
	}
	l.serve(c)
}

func (l *loop) writable(c *lconn) {
	if _, err := (fdWriter{c}).Write(nil); err != nil {
		l.close(c)
		return
	}
	if len(c.pending) == 0 {
		if c.quit {
			l.close(c)
			return
		}
		l.serve(c) // commands received while the replies waited
		return
	}
}

func (l *loop) protocolError(c *lconn, err error) {
	c.ctx.W.Error("ERR " + err.Error())
	c.ctx.W.Flush()
	l.s.log.Debug("protocol error", "client", c.sess.Addr, "err", err)
	l.close(c)
}

// serve runs the commands c has received, replies, and sets what the loop
// waits for next.
func (l *loop) serve(c *lconn) {
	s := c.sess
	if pf, ok := c.ctx.NS.Engine.(engine.Prefetcher); ok {
		l.pf.run(c.r, pf, nil)
	}
	for len(c.pending) < maxPending {
		args, ok, err := c.r.Next()
		if err != nil {
			l.protocolError(c, err)
			return
		}
		if !ok {
			break
		}
		sp := command.Lookup(args[0])
		if len(args) > maxLoopArgs || (sp != nil && sp.Flags&command.FlagAdmin != 0) || persistent(c.ctx.NS.Engine) {
			l.handOff(c, args)
			return
		}
		c.ctx.Args = args
		if c.batchAt.IsZero() {
			c.batchAt = startBatch(&c.ctx)
		}
		command.DispatchSpec(&c.ctx, sp)
		if s.LimitsChanged {
			s.LimitsChanged = false
			c.r.SetLimits(c.limits())
		}
		c.ctx.W.Proto = s.Proto
		if s.Close {
			c.quit = true
			break
		}
		if len(s.Pending) > 0 || s.LeaseUntil != 0 || s.ReplPeer != "" {
			l.handOff(c, nil)
			return
		}
	}
	if !c.batchAt.IsZero() {
		c.ctx.NS.Stats.Add(&s.Counts)
		countBatch(&c.ctx, c.batchAt)
		c.batchAt = time.Time{}
		if c.ctx.W.Flush() != nil {
			l.close(c)
			return
		}
	}
	if c.quit && len(c.pending) == 0 {
		l.close(c)
		return
	}
	l.interest(c)
}

// persistent reports whether e's calls may wait for the disk.
func persistent(e engine.Engine) bool {
	p, ok := e.(engine.Persistent)
	return ok && p.Persistent()
}

// interest waits for the socket to take c's replies, or else for requests.
func (l *loop) interest(c *lconn) {
	want := uint32(unix.EPOLLIN)
	if len(c.pending) > 0 {
		want = unix.EPOLLOUT
	}
	if want == c.events {
		return
	}
	c.events = want
	ev := unix.EpollEvent{Events: want, Fd: int32(c.fd)}
	if err := unix.EpollCtl(l.epfd, unix.EPOLL_CTL_MOD, c.fd, &ev); err != nil {
		l.s.log.Debug("epoll mod", "client", c.sess.Addr, "err", err)
		l.close(c)
	}
}

// close ends c.
func (l *loop) close(c *lconn) {
	delete(l.conns, c.fd)
	c.mu.Lock()
	c.closed = true
	unix.Close(c.fd) // also leaves the epoll set
	c.mu.Unlock()
	c.end()
}

// end is what ending a connection on a loop does besides closing its
// socket.
func (c *lconn) end() {
	c.srv.loopClients.Add(-1)
	c.out.Close()
	c.ctx.NS.Stats.Add(&c.sess.Counts)
	c.srv.node.Closed(c.sess)
	c.srv.unregister(c.conn)
}

// handOff moves c to a goroutine of its own, which first runs next (a
// command not run yet, or nil) and then serves c as any other.
func (l *loop) handOff(c *lconn, next [][]byte) {
	l.s.handOffs.Add(1)
	delete(l.conns, c.fd)
	unix.EpollCtl(l.epfd, unix.EPOLL_CTL_DEL, c.fd, nil)
	f := os.NewFile(uintptr(c.fd), "")
	nc, err := net.FileConn(f) // a duplicate, in Go's poller
	c.mu.Lock()
	c.closed = true
	f.Close()
	c.moved = nc
	c.mu.Unlock()
	if err != nil {
		l.s.log.Debug("hand-off", "client", c.sess.Addr, "err", err)
		c.end()
		return
	}
	pending := c.pending
	c.pending = nil
	go func() {
		cnt := counting{Conn: nc, s: c.srv}
		if len(pending) > 0 {
			if _, err := cnt.Write(pending); err != nil {
				nc.Close()
				c.end()
				return
			}
		}
		c.srv.loopClients.Add(-1)
		c.r.SetInput(cnt)
		c.ctx.W.SetOutput(cnt)
		c.conn.run(nc, c.r, &c.ctx, resumeState{next: next, batchAt: c.batchAt})
		c.srv.unregister(c.conn)
	}()
}

// SetReadDeadline is how an outbox wakes its connection: a deadline in
// the past has the loop write the pushes queued.
func (c *lconn) SetReadDeadline(t time.Time) error {
	c.mu.Lock()
	moved := c.moved
	c.mu.Unlock()
	if moved != nil {
		return moved.SetReadDeadline(t)
	}
	if t.IsZero() || t.After(time.Now()) || c.woken.Swap(true) {
		return nil
	}
	l := c.l
	l.mu.Lock()
	l.woken = append(l.woken, c)
	l.mu.Unlock()
	l.wake()
	return nil
}

// Close closes the connection from any goroutine (CLIENT KILL, shutdown):
// the loop sees the socket end and cleans up.
func (c *lconn) Close() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.moved != nil {
		return c.moved.Close()
	}
	if c.closed {
		return nil
	}
	return unix.Shutdown(c.fd, unix.SHUT_RDWR)
}

// fdReader reads c's socket without blocking.
type fdReader struct{ c *lconn }

func (f fdReader) Read(p []byte) (int, error) {
	for {
		n, err := unix.Read(f.c.fd, p)
		switch {
		case n > 0:
			f.c.srv.netIn.Add(int64(n))
			return n, nil
		case err == unix.EINTR:
			continue
		case err == unix.EAGAIN:
			return 0, errAgain
		case err != nil:
			return 0, err
		}
		return 0, io.EOF
	}
}

// fdWriter writes to c's socket without blocking: what the socket does not
// take waits in c.pending, and later writes queue behind it. Write(nil)
// sends what waits.
type fdWriter struct{ c *lconn }

func (f fdWriter) Write(p []byte) (int, error) {
	c := f.c
	n := len(p)
	if len(c.pending) > 0 {
		c.pending = append(c.pending, p...)
		p = c.pending
	}
	for len(p) > 0 {
		m, err := unix.Write(c.fd, p)
		if m > 0 {
			c.srv.netOut.Add(int64(m))
			p = p[m:]
			continue
		}
		if err == unix.EINTR {
			continue
		}
		if err == unix.EAGAIN {
			break
		}
		return 0, fmt.Errorf("write: %w", err)
	}
	switch {
	case len(p) == 0:
		c.pending = c.pending[:0]
		if cap(c.pending) > maxPending {
			c.pending = nil
		}
	case len(c.pending) > 0: // p is the tail of pending
		c.pending = append(c.pending[:0], p...)
	default:
		c.pending = append(c.pending, p...)
	}
	return n, nil
}
