package command

// MULTI, EXEC and DISCARD for transactions of read commands: the shape
// client-side caching clients send (rueidis' DoCache: CLIENT CACHING YES,
// MULTI, PTTL key, GET key, EXEC). Write commands are refused when queued
// (and the transaction with them, as for any queueing error): the queued
// commands run one after the other at EXEC, each atomic, but other clients'
// writes may run between them, so a transaction of writes would not be
// what Redis promises. A tracked read inside a transaction is as safe as
// outside it: its key is remembered before it runs. WATCH is not
// implemented.

func init() {
	register(
		&Spec{Name: "multi", Arity: 1, Flags: FlagFast | FlagTx, Handler: cmdMulti},
		&Spec{Name: "exec", Arity: 1, Flags: FlagTx, Handler: cmdExec},
		&Spec{Name: "discard", Arity: 1, Flags: FlagFast | FlagTx, Handler: cmdDiscard},
	)
}

// Bounds of one transaction's queue.
const (
	multiMaxCmds  = 100_000
	multiMaxBytes = 64 << 20
)

// multiState is a transaction being queued.
type multiState struct {
	cmds   [][][]byte
	bytes  int
	dirty  bool // a command was refused: EXEC aborts
	bucket int  // bucket of the keyed commands so far (cluster mode), -1 none
}

// flagMulti marks the transaction being queued, if any, as failed: a command
// got an error instead of being queued.
func (s *Session) flagMulti() {
	if s.multi != nil {
		s.multi.dirty = true
	}
}

// MULTI
func cmdMulti(c *Ctx) {
	if c.S.multi != nil {
		c.Err("ERR MULTI calls can not be nested")
		return
	}
	c.S.multi = &multiState{bucket: -1}
	c.W.OK()
}

// DISCARD
func cmdDiscard(c *Ctx) {
	if c.S.multi == nil {
		c.Err("ERR DISCARD without MULTI")
		return
	}
	c.S.multi = nil
	c.W.OK()
}

// EXEC: runs the queued commands, replying with an array of their replies.
func cmdExec(c *Ctx) {
	m := c.S.multi
	if m == nil {
		c.Err("ERR EXEC without MULTI")
		return
	}
	c.S.multi = nil
	if m.dirty {
		c.Err("EXECABORT Transaction discarded because of previous errors.")
		return
	}
	args := c.Args
	c.W.Array(len(m.cmds))
	c.S.inExec = true
	for _, a := range m.cmds {
		c.Args = a
		Dispatch(c)
	}
	c.S.inExec = false
	c.Args = args
}

// queue adds the command being dispatched to the transaction, or refuses it.
func (c *Ctx) queue(sp *Spec, keyed bool) {
	m := c.S.multi
	switch {
	case sp.Flags&FlagNoMulti != 0:
		c.Err("ERR Command not allowed inside a transaction")
		m.dirty = true
		return
	case sp.Flags&FlagWrite != 0:
		c.Err("ERR Granary runs transactions of read commands only; '" + sp.Name + "' cannot be queued")
		m.dirty = true
		return
	}
	if keyed && !c.N.Config.Standalone {
		switch {
		case m.bucket < 0:
			m.bucket = int(c.Bucket)
		case m.bucket != int(c.Bucket):
			c.Err("CROSSSLOT Keys in request don't hash to the same slot")
			m.dirty = true
			return
		}
	}
	size := 0
	for _, a := range c.Args {
		size += len(a)
	}
	if len(m.cmds) >= multiMaxCmds || m.bytes+size > multiMaxBytes {
		c.Err("ERR transaction too large")
		m.dirty = true
		return
	}
	// The arguments point into the connection's read buffer: copy them.
	buf := make([]byte, 0, size)
	args := make([][]byte, len(c.Args))
	for i, a := range c.Args {
		buf = append(buf, a...)
		args[i] = buf[len(buf)-len(a) : len(buf) : len(buf)]
	}
	m.cmds = append(m.cmds, args)
	m.bytes += size
	c.W.Simple("QUEUED")
}
