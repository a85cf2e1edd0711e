package server

import (
	"errors"
	"io"
	"net"
	"time"

	"granary/internal/command"
	"granary/internal/resp"
)

// conn is one client connection, served by one goroutine.
type conn struct {
	srv  *Server
	nc   net.Conn
	sess *command.Session
}

func newConn(s *Server, nc net.Conn) *conn {
	sess := &command.Session{
		ID:      s.nextID.Add(1),
		Addr:    nc.RemoteAddr().String(),
		LAddr:   nc.LocalAddr().String(),
		Created: time.Now().UnixMilli(),
		Proto:   2,
		Authed:  s.node.Config.RequirePass == "",
	}
	return &conn{srv: s, nc: nc, sess: sess}
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

func (c *conn) serve() {
	defer c.nc.Close()
	nc := counting{Conn: c.nc, s: c.srv}
	r := resp.NewReader(nc, c.limits())
	w := resp.NewWriter(nc)
	node := c.srv.node
	ctx := command.Ctx{W: w, S: c.sess, N: node, NS: node.Namespaces.Get(c.sess.NSID)}
	defer func() { ctx.NS.Stats.Add(&c.sess.Counts) }()
	batchStart := true
	for {
		args, err := r.ReadCommand()
		if err != nil {
			if resp.IsProtocolError(err) {
				w.Error("ERR " + err.Error())
				w.Flush()
				c.srv.log.Debug("protocol error", "client", c.sess.Addr, "err", err)
			} else if !errors.Is(err, io.EOF) && !errors.Is(err, net.ErrClosed) {
				c.srv.log.Debug("read error", "client", c.sess.Addr, "err", err)
			}
			return
		}
		ctx.Args = args
		if batchStart {
			ctx.Now = 0 // Dispatch reads the clock once for the batch
			batchStart = false
		}
		command.Dispatch(&ctx)
		if c.sess.LimitsChanged {
			c.sess.LimitsChanged = false
			r.SetLimits(c.limits())
		}
		w.Proto = c.sess.Proto
		if r.Buffered() == 0 || c.sess.Close || c.sess.ReplPeer != "" {
			batchStart = true
			ctx.NS.Stats.Add(&c.sess.Counts)
			if s := c.sess; len(s.Pending) > 0 || s.LeaseUntil != 0 {
				// Replicated buckets: the replies go out only once their
				// writes (and what their reads saw) are committed, and while
				// this node still held the leases it served them under.
				ok := node.Repl.Settle(s.Pending, s.LeaseUntil)
				s.Pending, s.LeaseUntil = s.Pending[:0], 0
				if !ok {
					c.srv.log.Debug("replies withheld: not committed or lease lost; closing", "client", c.sess.Addr)
					return
				}
			}
			if w.Flush() != nil || c.sess.Close {
				return
			}
			if peer := c.sess.ReplPeer; peer != "" {
				if r.Buffered() != 0 {
					return // a link sends nothing before the +OK
				}
				err := node.Repl.Serve(c.nc, peer)
				c.srv.log.Debug("replication link ended", "peer", peer, "err", err)
				return
			}
		}
	}
}
