package command

func init() {
	register(
		&Spec{Name: "ping", Arity: -1, Flags: FlagFast | FlagStale | FlagSubOK, Handler: cmdPing},
	)
}

// PING [message]
func cmdPing(c *Ctx) {
	if c.S.Subscribed && c.S.Proto < 3 && len(c.Args) <= 2 {
		// A subscribed RESP2 connection gets its PING answered as a
		// message would be, as Redis does.
		c.W.Array(2)
		c.W.BulkString("pong")
		if len(c.Args) == 2 {
			c.W.Bulk(c.Args[1])
		} else {
			c.W.BulkString("")
		}
		return
	}
	switch len(c.Args) {
	case 1:
		c.W.Simple("PONG")
	case 2:
		c.W.Bulk(c.Args[1])
	default:
		c.W.Error(wrongArgs("ping"))
	}
}
