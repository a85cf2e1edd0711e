package command

import "granary/internal/tracking"

// SUBSCRIBE and UNSUBSCRIBE, only as far as client-side caching needs them:
// a RESP2 connection subscribes to __redis__:invalidate and receives the
// invalidations of the clients that redirect to it (CLIENT TRACKING ON
// REDIRECT id). Granary has no pub/sub: SUBSCRIBE to any other channel is
// refused, and PUBLISH does not exist.
//
// A RESP2 connection subscribed to the channel accepts only SUBSCRIBE,
// UNSUBSCRIBE, PING, QUIT and RESET, as Redis (FlagSubOK); a RESP3 one runs
// every command.

func init() {
	register(
		&Spec{Name: "subscribe", Arity: -2, Flags: FlagSubOK | FlagNoMulti | FlagStale, Handler: cmdSubscribe},
		&Spec{Name: "unsubscribe", Arity: -1, Flags: FlagSubOK | FlagNoMulti | FlagStale, Handler: cmdUnsubscribe},
	)
}

const errPubSub = "ERR Granary supports SUBSCRIBE only to the " + tracking.Channel +
	" channel (client-side caching invalidations); pub/sub is not implemented"

// SUBSCRIBE channel [channel ...]
func cmdSubscribe(c *Ctx) {
	for _, ch := range c.Args[1:] {
		if string(ch) != tracking.Channel {
			c.Err(errPubSub)
			return
		}
	}
	cl := c.S.trackingClient(c.N.Tracking)
	if cl == nil {
		c.Err(errNoTracking)
		return
	}
	cl.SetSubscribed(true)
	c.S.mu.Lock()
	c.S.Subscribed = true
	c.S.mu.Unlock()
	for _, ch := range c.Args[1:] {
		c.W.Push(3)
		c.W.BulkString("subscribe")
		c.W.Bulk(ch)
		c.W.Int(1)
	}
}

// UNSUBSCRIBE [channel ...]
func cmdUnsubscribe(c *Ctx) {
	if len(c.Args) == 1 {
		if !c.S.Subscribed {
			c.W.Push(3)
			c.W.BulkString("unsubscribe")
			c.W.Null()
			c.W.Int(0)
			return
		}
		c.unsubscribe()
		c.W.Push(3)
		c.W.BulkString("unsubscribe")
		c.W.BulkString(tracking.Channel)
		c.W.Int(0)
		return
	}
	for _, ch := range c.Args[1:] {
		if string(ch) == tracking.Channel {
			c.unsubscribe()
		}
		n := int64(0)
		if c.S.Subscribed {
			n = 1
		}
		c.W.Push(3)
		c.W.BulkString("unsubscribe")
		c.W.Bulk(ch)
		c.W.Int(n)
	}
}

// unsubscribe leaves the invalidation channel (UNSUBSCRIBE, RESET).
func (c *Ctx) unsubscribe() {
	if cl := c.S.client.Load(); cl != nil {
		cl.SetSubscribed(false)
	}
	c.S.mu.Lock()
	c.S.Subscribed = false
	c.S.mu.Unlock()
}
