package server

import (
	"errors"
	"io"
	"net"
	"time"

	"granary/internal/command"
	"granary/internal/engine"
	"granary/internal/replication"
	"granary/internal/resp"
	"granary/internal/tracking"
)

// conn is one client connection, served by one goroutine (serve) or by an
// event loop.
type conn struct {
	srv *Server
	// nc closes the connection (CLIENT KILL, shutdown) and lets the outbox
	// interrupt its reader.
	nc   tracking.Conn
	sess *command.Session
	// out holds invalidation pushes (client-side caching) until the
	// connection's goroutine writes them, between batches of replies.
	out tracking.Outbox
}

func newConn(s *Server, nc tracking.Conn, raddr, laddr net.Addr) *conn {
	sess := &command.Session{
		ID:      s.nextID.Add(1),
		Addr:    raddr.String(),
		LAddr:   laddr.String(),
		Created: time.Now().UnixMilli(),
		Proto:   2,
		Authed:  s.node.Config.RequirePass == "",
	}
	c := &conn{srv: s, nc: nc, sess: sess}
	c.out.Init(nc, s.opts.PushLimit)
	sess.Out = &c.out
	return c
}

// counting wraps the socket to count bytes per read/write call (not per
// command), which keeps the counters off the hot path.
type counting struct {
	net.Conn
	s *Server
}

func (c counting) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	c.s.netIn.Add(int64(n))
	return n, err
}

func (c counting) Write(p []byte) (int, error) {
	n, err := c.Conn.Write(p)
	c.s.netOut.Add(int64(n))
	return n, err
}

func (c *conn) limits() resp.Limits {
	if c.sess.Authed {
		return c.srv.opts.Limits
	}
	return c.srv.opts.PreAuth
}

// serve runs the connection on its own goroutine until it ends.
func (c *conn) serve(raw net.Conn) {
	nc := counting{Conn: raw, s: c.srv}
	node := c.srv.node
	w := resp.NewWriter(nc)
	ctx := command.Ctx{W: w, S: c.sess, N: node, NS: node.Namespaces.Get(c.sess.NSID)}
	c.run(raw, resp.NewReader(nc, c.limits()), &ctx, resumeState{})
}

// resumeState is where an event loop left a connection it hands over.
type resumeState struct {
	next    [][]byte  // a command to run first (nil: none)
	batchAt time.Time // the batch in progress began (zero: none)
}

// run serves commands from r, replying with ctx.W, both over raw, until
// the connection ends. The reader may hold commands already received.
func (c *conn) run(raw net.Conn, r *resp.Reader, ctx *command.Ctx, from resumeState) {
	defer raw.Close()
	node := c.srv.node
	defer node.Closed(c.sess)
	defer c.out.Close()
	nc := counting{Conn: raw, s: c.srv}
	w := ctx.W
	defer func() { ctx.NS.Stats.Add(&c.sess.Counts) }()
	batchStart, batchAt := from.batchAt.IsZero(), from.batchAt
	// endBatch sends the batch's replies: once their writes (and what their
	// reads saw) are committed on replicated buckets, and while this node
	// still held the leases it served them under.
	endBatch := func() bool {
		batchStart = true
		ctx.NS.Stats.Add(&c.sess.Counts)
		if s := c.sess; len(s.Pending) > 0 || s.LeaseUntil != 0 {
			ok := node.Repl.Settle(s.Pending, s.LeaseUntil)
			s.Pending, s.LeaseUntil = s.Pending[:0], 0
			if !ok {
				c.srv.log.Debug("replies withheld: not committed or lease lost; closing", "client", c.sess.Addr)
				return false
			}
		}
		countBatch(ctx, batchAt)
		return w.Flush() == nil
	}
	// dispatched ends the batch when the input is drained, and turns the
	// connection into a replication link when the command asked for it. It
	// reports whether the connection is done.
	dispatched := func() bool {
		if c.sess.LimitsChanged {
			c.sess.LimitsChanged = false
			r.SetLimits(c.limits())
		}
		w.Proto = c.sess.Proto
		if r.Buffered() != 0 && !c.sess.Close && c.sess.ReplPeer == "" {
			return false
		}
		if !endBatch() || c.sess.Close {
			return true
		}
		peer := c.sess.ReplPeer
		if peer == "" {
			return false
		}
		if r.Buffered() == 0 { // a link sends nothing before the +OK
			// No pushes on a replication link: stop them and clear a
			// read deadline one may have set.
			c.out.Close()
			raw.SetReadDeadline(time.Time{})
			err := node.Repl.Serve(raw, peer)
			c.srv.log.Debug("replication link ended", "peer", peer, "err", err)
		}
		return true
	}
	var pf pipelinePrefetch
	// runOne runs one command; it reports whether the connection is done.
	runOne := func(args [][]byte) bool {
		if batchStart {
			batchAt = startBatch(ctx)
			batchStart = false
			if p, ok := ctx.NS.Engine.(engine.Prefetcher); ok && r.Buffered() > 0 {
				args = pf.run(r, p, args)
			}
		}
		ctx.Args = args
		command.Dispatch(ctx)
		return dispatched()
	}
	if from.next != nil {
		if runOne(from.next) {
			return
		}
	} else if !batchStart && dispatched() {
		return
	}
	var pushes []byte
	for {
		args, err := r.ReadCommand()
		if err != nil {
			if tracking.Woken(err) {
				// Invalidations are queued for this connection: they go
				// out after the replies of the batch in progress.
				if !batchStart && !endBatch() {
					return
				}
				if pushes = c.out.Take(pushes); len(pushes) > 0 {
					if _, err := nc.Write(pushes); err != nil {
						return
					}
				}
				if cap(pushes) > 64<<10 {
					pushes = nil
				}
				continue
			}
			if resp.IsProtocolError(err) {
				w.Error("ERR " + err.Error())
				w.Flush()
				c.srv.log.Debug("protocol error", "client", c.sess.Addr, "err", err)
			} else if !errors.Is(err, io.EOF) && !errors.Is(err, net.ErrClosed) {
				c.srv.log.Debug("read error", "client", c.sess.Addr, "err", err)
			}
			return
		}
		if runOne(args) {
			return
		}
	}
}

// startBatch reads the clock once for a batch of commands: for Dispatch
// (which reads it itself when Now is 0) and for the batch's latency.
func startBatch(ctx *command.Ctx) time.Time {
	t := time.Now()
	ctx.Now, ctx.Mono = t.UnixMilli(), replication.MonoOf(t)
	return t
}

// countBatch adds a batch begun at start, served, to its namespace's
// statistics.
func countBatch(ctx *command.Ctx, start time.Time) {
	ctx.NS.Stats.Batches.Add(1)
	ctx.NS.Stats.BatchNanos.Add(uint64(time.Since(start)))
}
