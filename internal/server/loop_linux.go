//go:build linux

package server

import (
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"runtime"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"granary/internal/command"
	"granary/internal/engine"
	"granary/internal/replication"
	"granary/internal/resp"
	"granary/internal/routing"
)

// loop serves many connections from one goroutine with epoll, as Redis' ae
// loop does. It exists for speed: with a goroutine per connection, Go's
// netpoller costs every pipelined batch one more read (which returns EAGAIN)
// and a park and wake-up of the goroutine; a level-triggered loop reads once
// per readiness, runs what arrived and writes the replies, and that is the
// difference between keeping up with Redis and not (docs/architecture.md).
//
// Only commands that never wait run here. A connection leaves the loop for a
// goroutine of its own (and stays there) before an administrative command,
// and after a command that selected a namespace whose engine may wait for
// I/O, or whose replies wait for replication; the server enables loops only
// when no routing change can make commands wait (standalone).
type loop struct {
	s      *Server
	epfd   int
	ep     *os.File        // epfd, in Go's poller: the loop waits there
	rc     syscall.RawConn // of ep
	wakefd int             // eventfd: adds, pushes and stop

	mu    sync.Mutex
	adds  []*lconn
	woken []*lconn // connections with invalidation pushes queued
	stop  bool

	conns  map[int]*lconn // by fd; the loop's goroutine only
	events []unix.EpollEvent
	// keys of a pipeline to prefetch (prefetch)
	pkeys    [][]byte
	pbuckets []uint16
}

// maxPending is how many reply bytes a connection may have waiting for its
// socket before the loop stops running its commands until they are taken
// (a client that does not read its replies is not read either).
const maxPending = 1 << 20

// busyPoll is how long a loop that ran out of events keeps polling before it
// parks. Under load the next request comes within microseconds, and
// parking and being woken costs more than polling for it; the figure is the
// one Linux's documentation suggests for its own busy polling
// (net.core.busy_poll). An idle loop parks after it and uses no CPU.
const busyPoll = 50 * time.Microsecond

// errAgain is a read that would block.
var errAgain = errors.New("resource temporarily unavailable")

// lconn is a connection served by a loop.
type lconn struct {
	*conn
	l       *loop
	fd      int
	r       *resp.Reader
	w       *resp.Writer
	ctx     command.Ctx
	pending []byte    // replies the socket did not take yet
	events  uint32    // epoll interest
	batchAt time.Time // the batch in progress began (zero: none)
	quit    bool      // close once pending is written

	mu     sync.Mutex
	closed bool     // fd closed by the loop
	moved  net.Conn // the connection once handed to a goroutine
	woken  atomic.Bool
}

var epoch = time.Now()

// nanotime reads the monotonic clock.
func nanotime() int64 { return int64(time.Since(epoch)) }

func newLoops(s *Server, n int) ([]*loop, error) {
	loops := make([]*loop, 0, n)
	for range n {
		l, err := newLoop(s)
		if err != nil {
			for _, l := range loops {
				l.shutdown()
			}
			return nil, err
		}
		loops = append(loops, l)
	}
	for _, l := range loops {
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			l.run()
		}()
	}
	return loops, nil
}

func newLoop(s *Server) (*loop, error) {
	epfd, err := unix.EpollCreate1(unix.EPOLL_CLOEXEC)
	if err != nil {
		return nil, fmt.Errorf("epoll: %w", err)
	}
	wfd, err := unix.Eventfd(0, unix.EFD_NONBLOCK|unix.EFD_CLOEXEC)
	if err != nil {
		unix.Close(epfd)
		return nil, fmt.Errorf("eventfd: %w", err)
	}
	// The loop does not block in epoll_wait: a goroutine blocked in a system
	// call keeps its P until sysmon takes it away, and that hand-off at
	// every wait costs more than the loop saves. The epoll set is itself
	// pollable, so the loop parks in Go's poller until it has events.
	unix.SetNonblock(epfd, true)
	ep := os.NewFile(uintptr(epfd), "epoll")
	l := &loop{s: s, epfd: epfd, ep: ep, wakefd: wfd, conns: map[int]*lconn{}, events: make([]unix.EpollEvent, 128)}
	ev := unix.EpollEvent{Events: unix.EPOLLIN, Fd: int32(wfd)}
	if err := unix.EpollCtl(epfd, unix.EPOLL_CTL_ADD, wfd, &ev); err != nil {
		l.shutdown()
		return nil, fmt.Errorf("epoll add: %w", err)
	}
	if l.rc, err = ep.SyscallConn(); err != nil {
		l.shutdown()
		return nil, fmt.Errorf("epoll: %w", err)
	}
	return l, nil
}

func (l *loop) shutdown() {
	unix.Close(l.wakefd)
	l.ep.Close()
}

func (l *loop) wake() {
	var one = [8]byte{1}
	unix.Write(l.wakefd, one[:])
}

// add takes over nc, a client connection the server accepted, and
// registers it. It reports false when nc cannot be served by a loop; nc is
// then untouched.
func (l *loop) add(nc net.Conn) bool {
	sc, ok := nc.(syscall.Conn)
	if !ok {
		return false
	}
	rc, err := sc.SyscallConn()
	if err != nil {
		return false
	}
	fd := -1
	if rc.Control(func(f uintptr) { fd, err = unix.FcntlInt(f, unix.F_DUPFD_CLOEXEC, 0) }) != nil || err != nil {
		return false
	}
	// The duplicate shares the socket, which is non-blocking already;
	// closing nc takes the socket out of Go's poller and leaves it open.
	raddr, laddr := nc.RemoteAddr(), nc.LocalAddr()
	nc.Close()
	lc := &lconn{l: l, fd: fd}
	lc.conn = newConn(l.s, lc, raddr, laddr)
	lc.r = resp.NewReader(fdReader{lc}, lc.limits())
	lc.w = resp.NewWriter(fdWriter{lc})
	node := l.s.node
	lc.ctx = command.Ctx{W: lc.w, S: lc.sess, N: node, NS: node.Namespaces.Get(lc.sess.NSID)}
	l.s.register(lc.conn)
	l.mu.Lock()
	if l.stop { // the server closed meanwhile
		l.mu.Unlock()
		lc.closed = true
		unix.Close(fd)
		lc.end()
		return true
	}
	l.adds = append(l.adds, lc)
	l.mu.Unlock()
	l.wake()
	return true
}

// stopAll makes the loop close its connections and end.
func (l *loop) stopAll() {
	l.mu.Lock()
	l.stop = true
	l.mu.Unlock()
	l.wake()
}

func (l *loop) run() {
	defer l.shutdown()
	for {
		var n int
		var err error
		var until int64
		rerr := l.rc.Read(func(uintptr) bool {
			for {
				n, err = unix.EpollWait(l.epfd, l.events, 0)
				if n > 0 || (err != nil && err != unix.EINTR) {
					return true
				}
				now := nanotime()
				if until == 0 {
					until = now + int64(busyPoll)
				}
				if now >= until {
					return false
				}
				runtime.Gosched()
			}
		})
		if err == nil {
			err = rerr
		}
		if err != nil {
			l.s.log.Error("event loop stopped", "err", err)
			l.closeAll()
			return
		}
		for i := range n {
			ev := l.events[i]
			fd := int(ev.Fd)
			if fd == l.wakefd {
				if !l.woke() {
					l.closeAll()
					return
				}
				continue
			}
			c := l.conns[fd]
			if c == nil {
				continue
			}
			switch {
			case ev.Events&unix.EPOLLOUT != 0:
				l.writable(c)
			case ev.Events&(unix.EPOLLIN|unix.EPOLLHUP|unix.EPOLLERR) != 0:
				l.readable(c)
			}
		}
	}
}

// woke handles the eventfd: new connections and queued pushes. It reports
// false when the loop is to stop.
func (l *loop) woke() bool {
	var buf [8]byte
	unix.Read(l.wakefd, buf[:])
	l.mu.Lock()
	adds, woken, stop := l.adds, l.woken, l.stop
	l.adds, l.woken = nil, nil
	l.mu.Unlock()
	for _, c := range adds {
		c.events = unix.EPOLLIN
		ev := unix.EpollEvent{Events: c.events, Fd: int32(c.fd)}
		if err := unix.EpollCtl(l.epfd, unix.EPOLL_CTL_ADD, c.fd, &ev); err != nil {
			l.s.log.Debug("epoll add", "client", c.sess.Addr, "err", err)
			l.conns[c.fd] = c
			l.close(c)
			continue
		}
		l.conns[c.fd] = c
	}
	for _, c := range woken {
		c.woken.Store(false)
		if l.conns[c.fd] == c {
			l.push(c)
		}
	}
	return !stop
}

func (l *loop) closeAll() {
	for _, c := range l.conns {
		l.close(c)
	}
	l.mu.Lock()
	adds := l.adds
	l.adds, l.stop = nil, true
	l.mu.Unlock()
	for _, c := range adds {
		l.conns[c.fd] = c
		l.close(c)
	}
}

// push writes the invalidations queued for c (client-side caching). The
// loop runs batches whole, so they go between batches.
func (l *loop) push(c *lconn) {
	if b := c.out.Take(nil); len(b) > 0 {
		if _, err := (fdWriter{c}).Write(b); err != nil {
			l.close(c)
			return
		}
		l.interest(c)
	}
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
	c.w.Error("ERR " + err.Error())
	c.w.Flush()
	l.s.log.Debug("protocol error", "client", c.sess.Addr, "err", err)
	l.close(c)
}

// serve runs the commands c has received, replies, and sets what the loop
// waits for next.
func (l *loop) serve(c *lconn) {
	s := c.sess
	if pf, ok := c.ctx.NS.Engine.(engine.Prefetcher); ok {
		l.prefetch(c, pf)
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
		if sp != nil && sp.Flags&command.FlagAdmin != 0 {
			l.handOff(c, args)
			return
		}
		c.ctx.Args = args
		if c.batchAt.IsZero() {
			// One clock read per batch, as in conn.run.
			c.batchAt = time.Now()
			c.ctx.Now, c.ctx.Mono = c.batchAt.UnixMilli(), replication.MonoOf(c.batchAt)
		}
		command.DispatchSpec(&c.ctx, sp)
		if s.LimitsChanged {
			s.LimitsChanged = false
			c.r.SetLimits(c.limits())
		}
		c.w.Proto = s.Proto
		if s.Close {
			c.quit = true
			break
		}
		if len(s.Pending) > 0 || s.LeaseUntil != 0 || s.ReplPeer != "" || mayWait(c.ctx.NS.Engine) {
			l.handOff(c, nil)
			return
		}
	}
	if !c.batchAt.IsZero() {
		c.ctx.NS.Stats.Add(&s.Counts)
		c.ctx.NS.Stats.Batches.Add(1)
		c.ctx.NS.Stats.BatchNanos.Add(uint64(time.Since(c.batchAt)))
		c.batchAt = time.Time{}
		if c.w.Flush() != nil {
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

// prefetch has the engine start loading what the keys of c's buffered
// commands will touch, when there are several (a pipeline).
func (l *loop) prefetch(c *lconn, pf engine.Prefetcher) {
	l.pkeys, l.pbuckets = l.pkeys[:0], l.pbuckets[:0]
	c.r.Peek(engine.PrefetchKeys, func(args [][]byte) {
		if len(args) < 2 {
			return
		}
		if sp := command.Lookup(args[0]); sp != nil && sp.FirstKey == 1 {
			l.pkeys = append(l.pkeys, args[1])
			l.pbuckets = append(l.pbuckets, routing.Bucket(args[1]))
		}
	})
	if len(l.pkeys) > 1 {
		pf.Prefetch(l.pbuckets, l.pkeys)
	}
	clear(l.pkeys) // they point into the reader's buffer
}

func mayWait(e engine.Engine) bool {
	w, ok := e.(engine.Waiter)
	return ok && w.MayWait()
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

// end is what ending a connection does besides closing its socket.
func (c *lconn) end() {
	c.out.Close()
	c.ctx.NS.Stats.Add(&c.sess.Counts)
	c.srv.node.Closed(c.sess)
	c.srv.unregister(c.conn)
}

// handOff moves c to a goroutine of its own, which first runs next (a
// command not run yet, or nil) and then serves c as any other.
func (l *loop) handOff(c *lconn, next [][]byte) {
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
		if len(pending) > 0 {
			if _, err := nc.Write(pending); err != nil {
				nc.Close()
				c.end()
				return
			}
			c.srv.netOut.Add(int64(len(pending)))
		}
		cnt := counting{Conn: nc, s: c.srv}
		c.r.SetInput(cnt)
		c.w.SetOutput(cnt)
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
	if len(c.pending) > 0 {
		c.pending = append(c.pending, p...)
		p = c.pending
	}
	n := len(p)
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
