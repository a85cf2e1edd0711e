package command

import (
	"math"
	"math/big"
	"strconv"
	"sync"

	"granary/internal/engine"
)

// The TairString family: EXSET EXGET EXSETVER EXINCRBY EXINCRBYFLOAT EXCAS
// EXCAD, with Alibaba Cloud TairString's syntax and semantics.
//
// In Granary every item carries a version (1 on creation, +1 on every change
// by any command), so there is one string type: a TairString is a plain
// string (engine.TypeString). EXGET reads keys written by SET, GET reads keys
// written by EXSET, and a SET, APPEND or INCR bumps the version EXCAS checks.
// Hashes are another type: every command here answers WRONGTYPE on them.
//
// Versions: EXSET, EXINCRBY and EXINCRBYFLOAT take VER v (fail with "ERR
// update version is stale" when the key exists with another version; VER 0
// or a missing key means no check) or ABS v (store exactly version v > 0);
// otherwise the new version is the old one + 1, or 1 for a new key.
//
// Expiry: like SET, EXSET, EXINCRBY and EXINCRBYFLOAT store the expiry given
// (EX s, PX ms, EXAT s, PXAT ms), keep the old one with KEEPTTL, and clear it
// otherwise (TairString offers KEEPTTL on its counters for that reason).
// EXCAS and EXSETVER keep the key's expiry. An absolute expiry in the past
// deletes the key (the reply is the same as if it had been stored).

func init() {
	register(
		&Spec{Name: "exset", Arity: -3, Flags: FlagWrite | FlagFast, FirstKey: 1, LastKey: 1, Step: 1, Handler: cmdExSet},
		&Spec{Name: "exget", Arity: -2, Flags: FlagRead | FlagFast, FirstKey: 1, LastKey: 1, Step: 1, Handler: cmdExGet},
		&Spec{Name: "exsetver", Arity: 3, Flags: FlagWrite | FlagFast, FirstKey: 1, LastKey: 1, Step: 1, Handler: cmdExSetVer},
		&Spec{Name: "exincrby", Arity: -3, Flags: FlagWrite | FlagFast, FirstKey: 1, LastKey: 1, Step: 1, Handler: cmdExIncrBy},
		&Spec{Name: "exincrbyfloat", Arity: -3, Flags: FlagWrite | FlagFast, FirstKey: 1, LastKey: 1, Step: 1, Handler: cmdExIncrByFloat},
		&Spec{Name: "excas", Arity: 4, Flags: FlagWrite | FlagFast, FirstKey: 1, LastKey: 1, Step: 1, Handler: cmdExCas},
		&Spec{Name: "excad", Arity: 3, Flags: FlagWrite | FlagFast, FirstKey: 1, LastKey: 1, Step: 1, Handler: cmdExCad},
	)
}

const (
	errExStale    = "ERR update version is stale"
	errExNotInt   = "ERR value is not an integer"
	errExNotFloat = "ERR value is not a float"
	errExMinMax   = "ERR min or max is specified, but not valid"
)

// Options allowed besides expiry, NX/XX and VER/ABS.
const (
	exOptIncr    = 1 << iota // MIN, MAX and NONEGATIVE (EXINCRBY)
	exOptFloat               // MIN and MAX as floats (EXINCRBYFLOAT)
	exOptWithVer             // WITHVERSION (EXSET)
)

// exOpts are the options of EXSET, EXINCRBY and EXINCRBYFLOAT.
type exOpts struct {
	exp            expiryOpt
	nx, xx         bool
	hasVer, hasAbs bool
	ver            uint64 // VER (0: no check) or ABS (> 0)
	withVer        bool
	hasMin, hasMax bool
	min, max       int64
	fmin, fmax     big.Float
	nonneg         bool
}

// exParseOpts parses the options from args[i:]. It returns an error reply, or
// "" when they are valid.
func exParseOpts(c *Ctx, i int, allow int, o *exOpts) string {
	args := c.Args
	for ; i < len(args); i++ {
		n, e := parseExpiry(args, i, c.Now, &o.exp, c.Spec.Name)
		if e != "" {
			return e
		}
		if n > 0 {
			i += n - 1
			continue
		}
		a, more := args[i], i+1 < len(args)
		switch {
		case eqFold(a, "nx") && !o.xx:
			o.nx = true
		case eqFold(a, "xx") && !o.nx:
			o.xx = true
		case (eqFold(a, "ver") || eqFold(a, "abs")) && more && !o.hasVer && !o.hasAbs:
			v, ok := parseInt(args[i+1])
			abs := a[0]|0x20 == 'a'
			if !ok || v < 0 || (abs && v == 0) {
				return errNotInt
			}
			o.ver, o.hasVer, o.hasAbs = uint64(v), !abs, abs
			i++
		case allow&exOptWithVer != 0 && eqFold(a, "withversion"):
			o.withVer = true
		case allow&exOptIncr != 0 && eqFold(a, "nonegative"):
			o.nonneg = true
		case allow&(exOptIncr|exOptFloat) != 0 && (eqFold(a, "min") || eqFold(a, "max")) && more:
			isMin := a[1]|0x20 == 'i'
			if allow&exOptFloat != 0 {
				z := &o.fmax
				if isMin {
					z = &o.fmin
				}
				if _, ok := ldParse(z, args[i+1]); !ok {
					return errExMinMax
				}
			} else {
				v, ok := parseInt(args[i+1])
				if !ok {
					return errExMinMax
				}
				if isMin {
					o.min = v
				} else {
					o.max = v
				}
			}
			if isMin {
				o.hasMin = true
			} else {
				o.hasMax = true
			}
			i++
		default:
			return errSyntax
		}
	}
	if o.hasMin && o.hasMax {
		if allow&exOptFloat != 0 && o.fmin.Cmp(&o.fmax) > 0 || allow&exOptFloat == 0 && o.min > o.max {
			return errExMinMax
		}
	}
	return ""
}

// exTx is an engine.Update callback with its state, pooled with its callback
// bound once so that commands do not allocate a closure per call.
type exTx struct {
	c   *Ctx
	run func(t *exTx, cur *engine.Item) (engine.Item, engine.Op)
	fn  func(cur *engine.Item) (engine.Item, engine.Op)

	// Inputs.
	o   exOpts
	val []byte // value argument
	n   int64  // increment, version argument
	inc big.Float

	// Outputs.
	done bool   // the command did its work (false: NX/XX not met, version mismatch)
	res  int64  // integer result
	ver  uint64 // the version stored, or the current one
	err  string // error reply; the key was left as it was

	buf []byte // new value built by run; the engine copies it
}

func (t *exTx) call(cur *engine.Item) (engine.Item, engine.Op) {
	t.done, t.err = false, ""
	if cur != nil && cur.Type != engine.TypeString {
		t.err = errWrongType
		return engine.Item{}, engine.OpKeep
	}
	return t.run(t, cur)
}

var exTxPool = sync.Pool{New: func() any {
	t := &exTx{}
	t.fn = t.call
	return t
}}

func exBegin(c *Ctx, run func(*exTx, *engine.Item) (engine.Item, engine.Op)) *exTx {
	t := exTxPool.Get().(*exTx)
	t.c, t.run = c, run
	return t
}

func exEnd(t *exTx) {
	c := t.c
	buf := t.buf[:0]
	if cap(buf) > scratchKeep {
		buf = nil
	}
	fn := t.fn
	*t = exTx{fn: fn, buf: buf}
	exTxPool.Put(t)
	c.trimScratch()
}

// update runs t on the command's key. It replies with the engine's error, or
// t.err, and returns false when there was one.
func (t *exTx) update() bool {
	c := t.c
	if err := c.Engine().Update(c.Bucket, c.Args[1], c.Now, t.fn); err != nil {
		engineError(c, err, errStringLimit)
		return false
	}
	if t.err != "" {
		c.W.Error(t.err)
		return false
	}
	return true
}

// exCheck applies NX, XX and VER to cur. It returns false when the command
// must stop (t.err set for a stale version; t.done false for NX/XX).
func exCheck(t *exTx, cur *engine.Item) bool {
	o := &t.o
	if (o.nx && cur != nil) || (o.xx && cur == nil) {
		return false
	}
	if o.hasVer && o.ver != 0 && cur != nil && cur.Version != o.ver {
		t.err = errExStale
		return false
	}
	return true
}

// exStore returns the outcome of storing value over cur with t's version and
// expiry options, and records the version in t.ver.
func exStore(t *exTx, cur *engine.Item, value []byte) (engine.Item, engine.Op) {
	o := &t.o
	next := engine.Item{Type: engine.TypeString, Version: 1, Value: value}
	if cur != nil {
		next.Version = cur.Version + 1
	}
	if o.hasAbs {
		next.Version = o.ver
	}
	switch {
	case o.exp.set:
		next.Expire = o.exp.At
	case o.exp.keep && cur != nil:
		next.Expire = cur.Expire
	}
	t.ver, t.done = next.Version, true
	if next.Expire != 0 && next.Expire < t.c.Now {
		if cur != nil {
			return engine.Item{}, engine.OpDelete
		}
		return engine.Item{}, engine.OpKeep
	}
	return next, engine.OpPut
}

// EXSET key value [EX s|EXAT s|PX ms|PXAT ms] [NX|XX] [VER v|ABS v] [KEEPTTL] [WITHVERSION]
//
// Replies OK (the new version with WITHVERSION), or null when NX/XX is not met.
func cmdExSet(c *Ctx) {
	t := exBegin(c, exsetRun)
	if e := exParseOpts(c, 3, exOptWithVer, &t.o); e != "" {
		c.W.Error(e)
	} else if t.val = c.Args[2]; t.update() {
		switch {
		case !t.done:
			c.W.Null()
		case t.o.withVer:
			c.W.Int(int64(t.ver))
		default:
			c.W.OK()
		}
	}
	exEnd(t)
}

func exsetRun(t *exTx, cur *engine.Item) (engine.Item, engine.Op) {
	if !exCheck(t, cur) {
		return engine.Item{}, engine.OpKeep
	}
	return exStore(t, cur, t.val)
}

// EXGET key [WITHFLAGS]
//
// Replies [value, version], with WITHFLAGS [value, version, flags]; Granary
// stores no memcached flags, so flags is always 0. Null for a missing key.
func cmdExGet(c *Ctx) {
	flags := false
	for _, a := range c.Args[2:] {
		if !eqFold(a, "withflags") {
			c.W.Error(errSyntax)
			return
		}
		flags = true
	}
	it, out, ok := c.Engine().Get(c.Bucket, c.Args[1], c.Now, c.Scratch[:0])
	c.Scratch = out
	switch {
	case !ok:
		c.Miss()
		c.W.Null()
	case it.Type != engine.TypeString:
		c.Hit()
		c.W.Error(errWrongType)
	default:
		c.Hit()
		if flags {
			c.W.Array(3)
		} else {
			c.W.Array(2)
		}
		c.W.Bulk(it.Value)
		c.W.Int(int64(it.Version))
		if flags {
			c.W.Int(0)
		}
	}
	c.trimScratch()
}

// EXSETVER key version
//
// Sets the version of an existing key (its value and expiry unchanged):
// 1, or 0 when the key does not exist.
func cmdExSetVer(c *Ctx) {
	v, ok := parseInt(c.Args[2])
	if !ok || v <= 0 {
		c.W.Error(errNotInt)
		return
	}
	t := exBegin(c, exsetverRun)
	t.n = v
	if t.update() {
		if t.done {
			c.W.Int(1)
		} else {
			c.W.Int(0)
		}
	}
	exEnd(t)
}

func exsetverRun(t *exTx, cur *engine.Item) (engine.Item, engine.Op) {
	if cur == nil {
		return engine.Item{}, engine.OpKeep
	}
	t.done = true
	next := *cur // the engine handles being handed its own value back
	next.Version = uint64(t.n)
	return next, engine.OpPut
}

// EXINCRBY key num [EX s|EXAT s|PX ms|PXAT ms] [NX|XX] [VER v|ABS v]
//
//	[MIN minval] [MAX maxval] [KEEPTTL] [NONEGATIVE]
//
// Adds num to the integer value (0 for a missing key) and replies with the
// result. A result outside [MIN, MAX] is refused as an overflow; with
// NONEGATIVE a negative result is stored as 0. Null when NX/XX is not met.
func cmdExIncrBy(c *Ctx) {
	n, ok := parseInt(c.Args[2])
	if !ok {
		c.W.Error(errNotInt)
		return
	}
	t := exBegin(c, exincrbyRun)
	t.n = n
	if e := exParseOpts(c, 3, exOptIncr, &t.o); e != "" {
		c.W.Error(e)
	} else if t.update() {
		if t.done {
			c.W.Int(t.res)
		} else {
			c.W.Null()
		}
	}
	exEnd(t)
}

func exincrbyRun(t *exTx, cur *engine.Item) (engine.Item, engine.Op) {
	if !exCheck(t, cur) {
		return engine.Item{}, engine.OpKeep
	}
	var v int64
	if cur != nil {
		var ok bool
		if v, ok = parseInt(cur.Value); !ok {
			t.err = errExNotInt
			return engine.Item{}, engine.OpKeep
		}
	}
	n, o := t.n, &t.o
	if (n < 0 && v < 0 && n < math.MinInt64-v) || (n > 0 && v > 0 && n > math.MaxInt64-v) {
		t.err = errOverflow
		return engine.Item{}, engine.OpKeep
	}
	v += n
	if (o.hasMin && v < o.min) || (o.hasMax && v > o.max) {
		t.err = errOverflow
		return engine.Item{}, engine.OpKeep
	}
	if o.nonneg && v < 0 {
		v = 0
	}
	t.res = v
	t.buf = strconv.AppendInt(t.buf[:0], v, 10)
	return exStore(t, cur, t.buf)
}

// EXINCRBYFLOAT key num [EX s|EXAT s|PX ms|PXAT ms] [NX|XX] [VER v|ABS v]
//
//	[MIN minval] [MAX maxval] [KEEPTTL]
//
// As EXINCRBY on a float, computed and formatted as Redis' INCRBYFLOAT (C long
// double, see ldParse in counters.go); the reply is the new value as a bulk
// string.
func cmdExIncrByFloat(c *Ctx) {
	t := exBegin(c, exincrbyfloatRun)
	if _, ok := ldParse(&t.inc, c.Args[2]); !ok {
		c.W.Error(errNotFloat)
	} else if e := exParseOpts(c, 3, exOptFloat, &t.o); e != "" {
		c.W.Error(e)
	} else if t.update() {
		if t.done {
			c.W.Bulk(t.buf)
		} else {
			c.W.Null()
		}
	}
	exEnd(t)
}

func exincrbyfloatRun(t *exTx, cur *engine.Item) (engine.Item, engine.Op) {
	if !exCheck(t, cur) {
		return engine.Item{}, engine.OpKeep
	}
	var v big.Float
	v.SetPrec(ldPrec)
	if cur != nil {
		inf, ok := ldParse(&v, cur.Value)
		if !ok {
			t.err = errExNotFloat
			return engine.Item{}, engine.OpKeep
		}
		if inf {
			t.err = errIncrFloat
			return engine.Item{}, engine.OpKeep
		}
	}
	if t.inc.IsInf() {
		t.err = errIncrFloat
		return engine.Item{}, engine.OpKeep
	}
	v.Add(&v, &t.inc)
	if v.MantExp(nil) > ldMaxExp {
		t.err = errIncrFloat
		return engine.Item{}, engine.OpKeep
	}
	o := &t.o
	if (o.hasMin && v.Cmp(&o.fmin) < 0) || (o.hasMax && v.Cmp(&o.fmax) > 0) {
		t.err = errOverflow
		return engine.Item{}, engine.OpKeep
	}
	t.buf = ldFormat(t.buf[:0], &v)
	return exStore(t, cur, t.buf)
}

// EXCAS key newvalue version
//
// Stores newvalue if the key's version is version, keeping its expiry:
// ["OK", "", new version]; on another version ["ERR update version is stale",
// current value, current version]; -1 when the key does not exist.
func cmdExCas(c *Ctx) {
	v, ok := parseInt(c.Args[3])
	if !ok || v < 0 {
		c.W.Error(errNotInt)
		return
	}
	t := exBegin(c, excasRun)
	t.val, t.n = c.Args[2], v
	if t.update() {
		switch {
		case t.res < 0:
			c.W.Int(-1)
		case t.done:
			c.W.Array(3)
			c.W.OK()
			c.W.BulkString("")
			c.W.Int(int64(t.ver))
		default:
			c.W.Array(3)
			c.W.Simple(errExStale)
			c.W.Bulk(c.Scratch)
			c.W.Int(int64(t.ver))
		}
	}
	exEnd(t)
}

func excasRun(t *exTx, cur *engine.Item) (engine.Item, engine.Op) {
	if cur == nil {
		t.res = -1
		return engine.Item{}, engine.OpKeep
	}
	t.res = 0
	if cur.Version != uint64(t.n) {
		t.ver = cur.Version
		t.c.Scratch = append(t.c.Scratch[:0], cur.Value...)
		return engine.Item{}, engine.OpKeep
	}
	t.ver, t.done = cur.Version+1, true
	return engine.Item{Type: engine.TypeString, Version: t.ver, Expire: cur.Expire, Value: t.val}, engine.OpPut
}

// EXCAD key version
//
// Deletes the key if its version is version: 1, 0 on another version, -1
// when the key does not exist.
func cmdExCad(c *Ctx) {
	v, ok := parseInt(c.Args[2])
	if !ok || v < 0 {
		c.W.Error(errNotInt)
		return
	}
	t := exBegin(c, excadRun)
	t.n = v
	if t.update() {
		c.W.Int(t.res)
	}
	exEnd(t)
}

func excadRun(t *exTx, cur *engine.Item) (engine.Item, engine.Op) {
	switch {
	case cur == nil:
		t.res = -1
		return engine.Item{}, engine.OpKeep
	case cur.Version != uint64(t.n):
		t.res = 0
		return engine.Item{}, engine.OpKeep
	}
	t.res = 1
	return engine.Item{}, engine.OpDelete
}
