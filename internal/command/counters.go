package command

import (
	"math"
	"math/big"
	"strconv"

	"granary/internal/engine"
)

// The INCR family: INCR DECR INCRBY DECRBY INCRBYFLOAT.

func init() {
	register(
		&Spec{Name: "incr", Arity: 2, Flags: FlagWrite | FlagFast, FirstKey: 1, LastKey: 1, Step: 1, Handler: cmdIncr},
		&Spec{Name: "decr", Arity: 2, Flags: FlagWrite | FlagFast, FirstKey: 1, LastKey: 1, Step: 1, Handler: cmdIncr},
		&Spec{Name: "incrby", Arity: 3, Flags: FlagWrite | FlagFast, FirstKey: 1, LastKey: 1, Step: 1, Handler: cmdIncrBy},
		&Spec{Name: "decrby", Arity: 3, Flags: FlagWrite | FlagFast, FirstKey: 1, LastKey: 1, Step: 1, Handler: cmdIncrBy},
		&Spec{Name: "incrbyfloat", Arity: 3, Flags: FlagWrite | FlagFast, FirstKey: 1, LastKey: 1, Step: 1, Handler: cmdIncrByFloat},
	)
}

const errDecrOverflow = "ERR decrement would overflow"

// INCR key, DECR key
func cmdIncr(c *Ctx) {
	n := int64(1)
	if c.Spec.Name == "decr" {
		n = -1
	}
	counterIncr(c, n)
}

// INCRBY key increment, DECRBY key decrement
func cmdIncrBy(c *Ctx) {
	n, ok := parseInt(c.Args[2])
	if !ok {
		c.W.Error(errNotInt)
		return
	}
	if c.Spec.Name == "decrby" {
		if n == math.MinInt64 {
			c.W.Error(errDecrOverflow)
			return
		}
		n = -n
	}
	counterIncr(c, n)
}

func counterIncr(c *Ctx, n int64) {
	t := strBegin(c, incrRun)
	t.n = n
	if t.update(c.Bucket, c.Args[1]) {
		if t.err != "" {
			c.W.Error(t.err)
		} else {
			c.W.Int(t.res)
		}
	}
	strEnd(t)
}

func incrRun(t *strTx, cur *engine.Item) (engine.Item, engine.Op) {
	var v int64
	next := engine.Item{Type: engine.TypeString, Version: 1}
	if cur != nil {
		if cur.Type != engine.TypeString {
			t.err = errWrongType
			return engine.Item{}, engine.OpKeep
		}
		var ok bool
		if v, ok = parseInt(cur.Value); !ok {
			t.err = errNotInt
			return engine.Item{}, engine.OpKeep
		}
		next.Version, next.Expire = cur.Version+1, cur.Expire
	}
	n := t.n
	if (n < 0 && v < 0 && n < math.MinInt64-v) || (n > 0 && v > 0 && n > math.MaxInt64-v) {
		t.err = errOverflow
		return engine.Item{}, engine.OpKeep
	}
	v += n
	t.res = v
	t.buf = strconv.AppendInt(t.buf[:0], v, 10)
	next.Value = t.buf
	return next, engine.OpPut
}

// INCRBYFLOAT key increment
//
// Redis computes in C long double, which on x86-64 (where its replies are
// the reference) is the x87 80-bit format: a 64-bit mantissa. The sum is
// emulated exactly with big.Float at 64 bits of precision, and formatted as
// Redis' ld2string(LD_STR_HUMAN) does ("%.17Lf" without trailing zeros), so
// that 0.1 + 0.2 gives "0.3" as it does in Redis.
func cmdIncrByFloat(c *Ctx) {
	t := strBegin(c, incrFloatRun)
	t.val = c.Args[2]
	if t.update(c.Bucket, c.Args[1]) {
		if t.err != "" {
			c.W.Error(t.err)
		} else {
			c.W.Bulk(t.buf)
		}
	}
	strEnd(t)
}

func incrFloatRun(t *strTx, cur *engine.Item) (engine.Item, engine.Op) {
	var v, incr big.Float
	var vInf, iInf bool
	next := engine.Item{Type: engine.TypeString, Version: 1}
	if cur != nil {
		if cur.Type != engine.TypeString {
			t.err = errWrongType
			return engine.Item{}, engine.OpKeep
		}
		var ok bool
		if vInf, ok = ldParse(&v, cur.Value); !ok {
			t.err = errNotFloat
			return engine.Item{}, engine.OpKeep
		}
		next.Version, next.Expire = cur.Version+1, cur.Expire
	} else {
		v.SetPrec(ldPrec)
	}
	iInf, ok := ldParse(&incr, t.val)
	if !ok {
		t.err = errNotFloat
		return engine.Item{}, engine.OpKeep
	}
	if vInf || iInf {
		// inf + x, or inf - inf: Infinity or NaN.
		t.err = errIncrFloat
		return engine.Item{}, engine.OpKeep
	}
	v.Add(&v, &incr)
	if v.MantExp(nil) > ldMaxExp {
		t.err = errIncrFloat
		return engine.Item{}, engine.OpKeep
	}
	t.buf = ldFormat(t.buf[:0], &v)
	next.Value = t.buf
	return next, engine.OpPut
}
