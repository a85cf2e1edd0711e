package command

import (
	"bytes"

	"granary/internal/engine"
	"granary/internal/routing"
)

// The keys family: DEL UNLINK EXISTS TOUCH TYPE (expiry in ttl.go, SCAN in
// scan.go).

func init() {
	register(
		&Spec{Name: "del", Arity: -2, Flags: FlagWrite, FirstKey: 1, LastKey: -1, Step: 1, Handler: cmdDel},
		&Spec{Name: "unlink", Arity: -2, Flags: FlagWrite | FlagFast, FirstKey: 1, LastKey: -1, Step: 1, Handler: cmdDel},
		&Spec{Name: "exists", Arity: -2, Flags: FlagRead | FlagFast, FirstKey: 1, LastKey: -1, Step: 1, Handler: cmdExists},
		&Spec{Name: "touch", Arity: -2, Flags: FlagRead | FlagFast, FirstKey: 1, LastKey: -1, Step: 1, Handler: cmdTouch},
		&Spec{Name: "type", Arity: 2, Flags: FlagRead | FlagFast, FirstKey: 1, LastKey: 1, Step: 1, Handler: cmdType},
	)
}

func delRun(t *strTx, cur *engine.Item) (engine.Item, engine.Op) {
	if cur == nil {
		return engine.Item{}, engine.OpKeep
	}
	t.res = 1
	return engine.Item{}, engine.OpDelete
}

// DEL key [key ...], UNLINK key [key ...]
//
// Several keys are deleted atomically. A key named twice counts once, as in
// Redis (the second deletion finds nothing).
func cmdDel(c *Ctx) {
	if len(c.Args) == 2 {
		t := strBegin(c, delRun)
		if t.update(c.Bucket, c.Args[1]) {
			c.W.Int(t.res)
		}
		strEnd(t)
		return
	}
	buckets, keys := strKeyBuckets(c.Args, 1)
	var n int64
	err := c.Engine().UpdateMany(buckets, keys, c.Now, func(cur []*engine.Item, _ []engine.Item, ops []engine.Op) {
		n = 0
		var seen map[string]bool
		if len(keys) > 16 {
			seen = make(map[string]bool, len(keys))
		}
		for i, it := range cur {
			if it == nil {
				continue
			}
			ops[i] = engine.OpDelete
			if seen != nil {
				if seen[string(keys[i])] {
					continue
				}
				seen[string(keys[i])] = true
			} else if keysDupBefore(keys, i) {
				continue
			}
			n++
		}
	})
	if err != nil {
		engineError(c, err, errStringLimit)
		return
	}
	c.W.Int(n)
}

// keysDupBefore reports whether keys[i] also appears before i.
func keysDupBefore(keys [][]byte, i int) bool {
	for _, k := range keys[:i] {
		if bytes.Equal(k, keys[i]) {
			return true
		}
	}
	return false
}

// keysBucket returns the bucket of c.Args[i].
func keysBucket(c *Ctx, i int) uint16 {
	if i == c.Spec.FirstKey {
		return c.Bucket
	}
	return routing.Bucket(c.Args[i])
}

// EXISTS key [key ...]: a key named twice counts twice, as in Redis.
func cmdExists(c *Ctx) {
	var n int64
	for i := 1; i < len(c.Args); i++ {
		if _, _, _, ok := strPeek(c, keysBucket(c, i), c.Args[i]); ok {
			c.Hit()
			n++
		} else {
			c.Miss()
		}
	}
	c.W.Int(n)
}

// TOUCH key [key ...]: a key named twice counts twice, as in Redis.
func cmdTouch(c *Ctx) {
	eng := c.Engine()
	var n int64
	for i := 1; i < len(c.Args); i++ {
		if eng.Touch(keysBucket(c, i), c.Args[i], c.Now) {
			c.Hit()
			n++
		} else {
			c.Miss()
		}
	}
	c.W.Int(n)
}

// keysTypeName is the name TYPE and SCAN's TYPE filter use for t.
func keysTypeName(t engine.Type) string {
	switch t {
	case engine.TypeString:
		return "string"
	case engine.TypeHash:
		return "hash"
	}
	return "none"
}

// TYPE key
func cmdType(c *Ctx) {
	typ, _, _, ok := strPeek(c, c.Bucket, c.Args[1])
	if !ok {
		c.Miss()
		c.W.Simple("none")
		return
	}
	c.Hit()
	c.W.Simple(keysTypeName(typ))
}
