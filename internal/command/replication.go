package command

import (
	"granary/internal/namespace"
	"granary/internal/replication"
)

// GRANARY.REPL secret node-id: a primary upgrading this connection to a
// replication link (package replication). The cluster secret is the
// credential, so it needs no AUTH.
func init() {
	register(&Spec{Name: "granary.repl", Arity: 3, Flags: FlagNoAuth | FlagAdmin | FlagStale | FlagNoMulti, Handler: cmdRepl})
}

func cmdRepl(c *Ctx) {
	if c.N.Repl == nil {
		c.Err("ERR replication is off on this server (standalone)")
		return
	}
	if !c.N.Repl.Accept(string(c.Args[1]), string(c.Args[2])) {
		c.Err("NOAUTH wrong cluster secret")
		return
	}
	c.S.ReplPeer = string(c.Args[2])
	c.W.OK()
}

// flush empties namespace ns. With replication it drops the buckets this
// node leads, each drop replicated, and leaves the copies it holds for
// other primaries alone.
func flush(c *Ctx, ns *namespace.Namespace) {
	if c.N.Repl == nil {
		ns.Engine.Flush()
		return
	}
	v := c.N.table.p.Load()
	for b := range v.role {
		if v.role[b] == replication.RolePrimary {
			ns.Engine.DropBucket(uint16(b))
			if !ns.Async.Load() {
				c.S.Pending = c.N.Repl.Note(c.S.Pending, uint16(b))
			}
		}
	}
}
