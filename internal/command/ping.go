package command

func init() {
	register(
		&Spec{Name: "ping", Arity: -1, Flags: FlagFast | FlagStale, Handler: cmdPing},
	)
}

// PING [message]
func cmdPing(c *Ctx) {
	switch len(c.Args) {
	case 1:
		c.W.Simple("PONG")
	case 2:
		c.W.Bulk(c.Args[1])
	default:
		c.W.Error(wrongArgs("ping"))
	}
}
