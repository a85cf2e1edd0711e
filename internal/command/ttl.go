package command

import (
	"math"

	"granary/internal/engine"
)

// Expiry: EXPIRE PEXPIRE EXPIREAT PEXPIREAT TTL PTTL EXPIRETIME PEXPIRETIME
// PERSIST.

func init() {
	register(
		&Spec{Name: "expire", Arity: -3, Flags: FlagWrite | FlagFast, FirstKey: 1, LastKey: 1, Step: 1, Handler: cmdExpire},
		&Spec{Name: "pexpire", Arity: -3, Flags: FlagWrite | FlagFast, FirstKey: 1, LastKey: 1, Step: 1, Handler: cmdExpire},
		&Spec{Name: "expireat", Arity: -3, Flags: FlagWrite | FlagFast, FirstKey: 1, LastKey: 1, Step: 1, Handler: cmdExpire},
		&Spec{Name: "pexpireat", Arity: -3, Flags: FlagWrite | FlagFast, FirstKey: 1, LastKey: 1, Step: 1, Handler: cmdExpire},
		&Spec{Name: "ttl", Arity: 2, Flags: FlagRead | FlagFast, FirstKey: 1, LastKey: 1, Step: 1, Handler: cmdTTL},
		&Spec{Name: "pttl", Arity: 2, Flags: FlagRead | FlagFast, FirstKey: 1, LastKey: 1, Step: 1, Handler: cmdTTL},
		&Spec{Name: "expiretime", Arity: 2, Flags: FlagRead | FlagFast, FirstKey: 1, LastKey: 1, Step: 1, Handler: cmdTTL},
		&Spec{Name: "pexpiretime", Arity: 2, Flags: FlagRead | FlagFast, FirstKey: 1, LastKey: 1, Step: 1, Handler: cmdTTL},
		&Spec{Name: "persist", Arity: 2, Flags: FlagWrite | FlagFast, FirstKey: 1, LastKey: 1, Step: 1, Handler: cmdPersist},
	)
}

// EXPIRE options.
const (
	ttlNX = 1 << iota
	ttlXX
	ttlGT
	ttlLT
)

const (
	errTTLNX   = "ERR NX and XX, GT or LT options at the same time are not compatible"
	errTTLGTLT = "ERR GT and LT options at the same time are not compatible"
)

// EXPIRE key seconds [NX | XX | GT | LT], and PEXPIRE, EXPIREAT, PEXPIREAT.
//
// As in Redis 7 (expireGenericCommand): the time may be negative; a time at
// or before now deletes the key (reply 1 when it existed).
func cmdExpire(c *Ctx) {
	var flags int
	for _, a := range c.Args[3:] {
		switch {
		case eqFold(a, "nx"):
			flags |= ttlNX
		case eqFold(a, "xx"):
			flags |= ttlXX
		case eqFold(a, "gt"):
			flags |= ttlGT
		case eqFold(a, "lt"):
			flags |= ttlLT
		default:
			c.W.Error("ERR Unsupported option " + string(a))
			return
		}
	}
	if flags&ttlNX != 0 && flags&(ttlXX|ttlGT|ttlLT) != 0 {
		c.W.Error(errTTLNX)
		return
	}
	if flags&(ttlGT|ttlLT) == ttlGT|ttlLT {
		c.W.Error(errTTLGTLT)
		return
	}
	when, ok := parseInt(c.Args[2])
	if !ok {
		c.W.Error(errNotInt)
		return
	}
	name := c.Spec.Name
	if name == "expire" || name == "expireat" { // seconds
		if when > math.MaxInt64/1000 || when < math.MinInt64/1000 {
			c.W.Error(strExpireErr(c))
			return
		}
		when *= 1000
	}
	if name == "expire" || name == "pexpire" { // relative
		if when > math.MaxInt64-c.Now {
			c.W.Error(strExpireErr(c))
			return
		}
		when += c.Now
	}
	t := strBegin(c, expireRun)
	t.at, t.flags = when, flags
	if t.update(c.Bucket, c.Args[1]) {
		c.W.Int(t.res)
	}
	strEnd(t)
}

func expireRun(t *strTx, cur *engine.Item) (engine.Item, engine.Op) {
	if cur == nil {
		return engine.Item{}, engine.OpKeep
	}
	when, exp := t.at, cur.Expire // exp 0: no expiry (Redis' -1, an infinite TTL)
	switch {
	case t.flags&ttlNX != 0 && exp != 0,
		t.flags&ttlXX != 0 && exp == 0,
		t.flags&ttlGT != 0 && (exp == 0 || when <= exp),
		t.flags&ttlLT != 0 && exp != 0 && when >= exp:
		return engine.Item{}, engine.OpKeep
	}
	t.res = 1
	if when <= t.c.Now {
		return engine.Item{}, engine.OpDelete
	}
	next := *cur
	next.Expire, next.Version = when, cur.Version+1
	return next, engine.OpPut
}

// TTL key, PTTL key, EXPIRETIME key, PEXPIRETIME key: -2 when the key does
// not exist, -1 when it has no expiry.
func cmdTTL(c *Ctx) {
	_, exp, _, ok := strPeek(c, c.Bucket, c.Args[1])
	if !ok {
		c.Miss()
		c.W.Int(-2)
		return
	}
	c.Hit()
	if exp == 0 {
		c.W.Int(-1)
		return
	}
	name := c.Spec.Name
	v := exp
	if name == "ttl" || name == "pttl" {
		v = max(exp-c.Now, 0)
	}
	if name == "ttl" || name == "expiretime" {
		v = (v + 500) / 1000
	}
	c.W.Int(v)
}

func persistRun(t *strTx, cur *engine.Item) (engine.Item, engine.Op) {
	if cur == nil || cur.Expire == 0 {
		return engine.Item{}, engine.OpKeep
	}
	t.res = 1
	next := *cur
	next.Expire, next.Version = 0, cur.Version+1
	return next, engine.OpPut
}

// PERSIST key
func cmdPersist(c *Ctx) {
	t := strBegin(c, persistRun)
	if t.update(c.Bucket, c.Args[1]) {
		c.W.Int(t.res)
	}
	strEnd(t)
}
