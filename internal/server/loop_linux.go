//go:build linux

package server

import (
	"fmt"
	"net"
	"os"
	"runtime"
	"sync"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"granary/internal/command"
	"granary/internal/resp"
)

// loop serves many connections from one goroutine with epoll, as Redis' ae
// loop does. It exists for speed: with a goroutine per connection, Go's
// netpoller costs every pipelined batch one more read (which returns EAGAIN)
// and a park and wake-up of the goroutine; a level-triggered loop reads once
// per readiness, runs what arrived and writes the replies, and that is the
// difference between keeping up with Redis and not (docs/architecture.md).
//
// Only short commands that never wait run here. A connection leaves the loop
// for a goroutine of its own (and stays there) before an administrative
// command, one with more than maxLoopArgs arguments or one in a namespace
// whose engine is persistent (its calls may wait for the disk), and after a
// command whose replies wait for replication; the server enables loops only
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
	pf     pipelinePrefetch
}

// busyPoll is how long a loop that ran out of events keeps polling before it
// parks. Under load the next request comes within microseconds, and
// parking and being woken costs more than polling for it; the figure is the
// one Linux's documentation suggests for its own busy polling
// (net.core.busy_poll). An idle loop parks after it and uses no CPU.
const busyPoll = 50 * time.Microsecond

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
	node := l.s.node
	lc.ctx = command.Ctx{W: resp.NewWriter(fdWriter{lc}), S: lc.sess, N: node, NS: node.Namespaces.Get(lc.sess.NSID)}
	if !l.s.register(lc.conn) { // the server closed meanwhile
		unix.Close(fd)
		return true
	}
	l.s.loopClients.Add(1)
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
