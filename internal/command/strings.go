package command

import (
	"sync"

	"granary/internal/engine"
	"granary/internal/routing"
)

// The strings family: GET GETSET GETDEL GETEX MGET MSET MSETNX APPEND STRLEN
// GETRANGE SETRANGE here; SET and its variants in strings_set.go; the INCR
// family in counters.go.

func init() {
	register(
		&Spec{Name: "get", Arity: 2, Flags: FlagRead | FlagFast, FirstKey: 1, LastKey: 1, Step: 1, Handler: cmdGet},
		&Spec{Name: "getset", Arity: 3, Flags: FlagWrite | FlagFast, FirstKey: 1, LastKey: 1, Step: 1, Handler: cmdGetSet},
		&Spec{Name: "getdel", Arity: 2, Flags: FlagWrite | FlagFast, FirstKey: 1, LastKey: 1, Step: 1, Handler: cmdGetDel},
		&Spec{Name: "getex", Arity: -2, Flags: FlagWrite | FlagFast, FirstKey: 1, LastKey: 1, Step: 1, Handler: cmdGetEx},
		&Spec{Name: "mget", Arity: -2, Flags: FlagRead | FlagFast, FirstKey: 1, LastKey: -1, Step: 1, Handler: cmdMGet},
		&Spec{Name: "mset", Arity: -3, Flags: FlagWrite, FirstKey: 1, LastKey: -1, Step: 2, Handler: cmdMSet},
		&Spec{Name: "msetnx", Arity: -3, Flags: FlagWrite, FirstKey: 1, LastKey: -1, Step: 2, Handler: cmdMSetNX},
		&Spec{Name: "append", Arity: 3, Flags: FlagWrite | FlagFast, FirstKey: 1, LastKey: 1, Step: 1, Handler: cmdAppend},
		&Spec{Name: "strlen", Arity: 2, Flags: FlagRead | FlagFast, FirstKey: 1, LastKey: 1, Step: 1, Handler: cmdStrlen},
		&Spec{Name: "getrange", Arity: 4, Flags: FlagRead, FirstKey: 1, LastKey: 1, Step: 1, Handler: cmdGetRange},
		&Spec{Name: "setrange", Arity: 4, Flags: FlagWrite, FirstKey: 1, LastKey: 1, Step: 1, Handler: cmdSetRange},
	)
}

// strDefaultMaxLen is Redis' default proto-max-bulk-len, the largest string
// APPEND and SETRANGE may build.
const strDefaultMaxLen = 512 << 20

// strMaxLen returns the largest string a command may build.
func strMaxLen(c *Ctx) int64 {
	if n := c.N.Config.ProtoMaxBulk; n > 0 {
		return int64(n)
	}
	return strDefaultMaxLen
}

// strCheckLen reports whether a string of size+add bytes is within the limit
// (Redis' checkStringLength; both are non-negative).
func strCheckLen(c *Ctx, size, add int64) bool {
	max := strMaxLen(c)
	return size <= max && add <= max-size
}

// strTx is an engine.Update callback with its state. Transactions are pooled
// and their callback is bound once, so read-modify-write commands run without
// allocating a closure per call. run is a plain function chosen per command.
type strTx struct {
	c   *Ctx
	run func(t *strTx, cur *engine.Item) (engine.Item, engine.Op)
	fn  func(cur *engine.Item) (engine.Item, engine.Op) // t.call, bound once

	// Inputs.
	val   []byte // the command's value argument
	n     int64  // an integer argument (increment, offset, start)
	m     int64  // a second integer argument (end)
	at    int64  // absolute expiry in Unix ms
	flags int    // command options

	// Outputs.
	res   int64       // integer result
	found bool        // the key existed (and was live)
	typ   engine.Type // its type
	exp   int64       // its expiry
	old   bool        // the previous value was copied to c.Scratch
	err   string      // error reply; the callback kept the key as it was

	buf []byte // new value built by run; the engine copies it
}

func (t *strTx) call(cur *engine.Item) (engine.Item, engine.Op) { return t.run(t, cur) }

var strTxPool = sync.Pool{New: func() any {
	t := &strTx{}
	t.fn = t.call
	return t
}}

// strBegin returns a cleared transaction for c running run.
func strBegin(c *Ctx, run func(*strTx, *engine.Item) (engine.Item, engine.Op)) *strTx {
	t := strTxPool.Get().(*strTx)
	t.c, t.run = c, run
	return t
}

// strEnd returns t to the pool.
func strEnd(t *strTx) {
	buf := t.buf[:0]
	if cap(buf) > scratchKeep {
		buf = nil
	}
	fn := t.fn
	*t = strTx{fn: fn, buf: buf}
	strTxPool.Put(t)
}

// update runs t on key of bucket b. It replies with the engine's error and
// returns false when there was one.
func (t *strTx) update(b uint16, key []byte) bool {
	if err := t.c.Engine().Update(b, key, t.c.Now, t.fn); err != nil {
		engineError(t.c, err, errStringLimit)
		return false
	}
	return true
}

// nextVersion is the version an update of cur stores.
func nextVersion(cur *engine.Item) uint64 {
	if cur == nil {
		return 1
	}
	return cur.Version + 1
}

// strPeekRun reads a key's metadata without changing it.
func strPeekRun(t *strTx, cur *engine.Item) (engine.Item, engine.Op) {
	if cur != nil {
		t.found, t.typ, t.exp, t.res = true, cur.Type, cur.Expire, int64(len(cur.Value))
	}
	return engine.Item{}, engine.OpKeep
}

// strPeek returns the type, expiry and value length of a live key, without
// copying its value.
func strPeek(c *Ctx, b uint16, key []byte) (typ engine.Type, exp int64, n int64, ok bool) {
	t := strBegin(c, strPeekRun)
	c.Engine().Update(b, key, c.Now, t.fn) // OpKeep: no error to expect
	typ, exp, n, ok = t.typ, t.exp, t.res, t.found
	strEnd(t)
	return
}

// GET key
func cmdGet(c *Ctx) {
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
		c.W.Bulk(it.Value)
	}
	c.trimScratch()
}

// strCopyOld copies cur's value to c.Scratch for the reply, or records a type
// error. It returns false on a type error.
func strCopyOld(t *strTx, cur *engine.Item) bool {
	if cur == nil {
		return true
	}
	if cur.Type != engine.TypeString {
		t.err = errWrongType
		return false
	}
	t.c.Scratch = append(t.c.Scratch[:0], cur.Value...)
	t.old = true
	return true
}

// strReplyOld replies with t's error, or the previous value copied by
// strCopyOld (null when the key did not exist), and counts the read.
func strReplyOld(t *strTx) {
	c := t.c
	if t.err != "" {
		c.Hit() // only a live key yields an error
		c.W.Error(t.err)
		return
	}
	if t.old {
		c.Hit()
		c.W.Bulk(c.Scratch)
		c.trimScratch()
	} else {
		c.Miss()
		c.W.Null()
	}
}

// GETSET key value
func cmdGetSet(c *Ctx) {
	strSetGeneric(c, c.Args[1], c.Args[2], soGET, 0, replyOld)
}

func getDelRun(t *strTx, cur *engine.Item) (engine.Item, engine.Op) {
	if cur == nil {
		return engine.Item{}, engine.OpKeep
	}
	if !strCopyOld(t, cur) {
		return engine.Item{}, engine.OpKeep
	}
	return engine.Item{}, engine.OpDelete
}

// GETDEL key
func cmdGetDel(c *Ctx) {
	t := strBegin(c, getDelRun)
	if t.update(c.Bucket, c.Args[1]) {
		strReplyOld(t)
	}
	strEnd(t)
}

func getExRun(t *strTx, cur *engine.Item) (engine.Item, engine.Op) {
	if cur == nil {
		return engine.Item{}, engine.OpKeep
	}
	if cur.Type != engine.TypeString {
		t.err = errWrongType
		return engine.Item{}, engine.OpKeep
	}
	if t.flags&soExpire != 0 {
		// Redis validates the time only once it found the key.
		at, e := strExpireAt(t.c, t.val, t.flags)
		if e != "" {
			t.err = e
			return engine.Item{}, engine.OpKeep
		}
		t.at = at
	}
	strCopyOld(t, cur)
	switch {
	case t.flags&(soEXAT|soPXAT) != 0 && t.at <= t.c.Now:
		return engine.Item{}, engine.OpDelete
	case t.flags&soExpire != 0:
		next := *cur
		next.Expire, next.Version = t.at, cur.Version+1
		return next, engine.OpPut
	case t.flags&soPERSIST != 0 && cur.Expire != 0:
		next := *cur
		next.Expire, next.Version = 0, cur.Version+1
		return next, engine.OpPut
	}
	return engine.Item{}, engine.OpKeep
}

// GETEX key [EX seconds | PX ms | EXAT s | PXAT ms | PERSIST]
func cmdGetEx(c *Ctx) {
	flags, exp, e := strParseOpts(c.Args, false)
	if e != "" {
		c.W.Error(e)
		return
	}
	t := strBegin(c, getExRun)
	t.flags, t.val = flags, exp
	if t.update(c.Bucket, c.Args[1]) {
		strReplyOld(t)
	}
	strEnd(t)
}

// MGET key [key ...]
func cmdMGet(c *Ctx) {
	eng := c.Engine()
	c.W.Array(len(c.Args) - 1)
	for _, key := range c.Args[1:] {
		b := c.Bucket
		if len(c.Args) > 2 {
			b = routing.Bucket(key)
		}
		it, out, ok := eng.Get(b, key, c.Now, c.Scratch[:0])
		c.Scratch = out
		if !ok {
			c.Miss()
			c.W.Null()
			continue
		}
		c.Hit()
		if it.Type != engine.TypeString {
			c.W.Null()
			continue
		}
		c.W.Bulk(it.Value)
	}
	c.trimScratch()
}

// strKeyBuckets returns the keys at args[1], args[1+step], ... with their buckets.
func strKeyBuckets(args [][]byte, step int) ([]uint16, [][]byte) {
	n := (len(args) - 1 + step - 1) / step
	buckets := make([]uint16, 0, n)
	keys := make([][]byte, 0, n)
	for i := 1; i < len(args); i += step {
		keys = append(keys, args[i])
		buckets = append(buckets, routing.Bucket(args[i]))
	}
	return buckets, keys
}

// MSET key value [key value ...]
func cmdMSet(c *Ctx) {
	if len(c.Args)%2 != 1 {
		c.W.Error(wrongArgs(c.Spec.Name))
		return
	}
	buckets, keys := strKeyBuckets(c.Args, 2)
	err := c.Engine().UpdateMany(buckets, keys, c.Now, func(cur []*engine.Item, next []engine.Item, ops []engine.Op) {
		for i := range keys {
			next[i] = engine.Item{Type: engine.TypeString, Value: c.Args[2+2*i], Version: nextVersion(cur[i])}
			ops[i] = engine.OpPut
		}
	})
	if err != nil {
		engineError(c, err, errStringLimit)
		return
	}
	c.W.OK()
}

// MSETNX key value [key value ...]
func cmdMSetNX(c *Ctx) {
	if len(c.Args)%2 != 1 {
		c.W.Error(wrongArgs(c.Spec.Name))
		return
	}
	buckets, keys := strKeyBuckets(c.Args, 2)
	set := false
	err := c.Engine().UpdateMany(buckets, keys, c.Now, func(cur []*engine.Item, next []engine.Item, ops []engine.Op) {
		for i := range keys {
			if cur[i] != nil {
				return // ops are preset to OpKeep
			}
		}
		for i := range keys {
			next[i] = engine.Item{Type: engine.TypeString, Value: c.Args[2+2*i], Version: 1}
			ops[i] = engine.OpPut
		}
		set = true
	})
	if err != nil {
		engineError(c, err, errStringLimit)
		return
	}
	if set {
		c.W.Int(1)
	} else {
		c.W.Int(0)
	}
}

func appendRun(t *strTx, cur *engine.Item) (engine.Item, engine.Op) {
	if cur == nil {
		t.res = int64(len(t.val))
		return engine.Item{Type: engine.TypeString, Value: t.val, Version: 1}, engine.OpPut
	}
	if cur.Type != engine.TypeString {
		t.err = errWrongType
		return engine.Item{}, engine.OpKeep
	}
	if !strCheckLen(t.c, int64(len(cur.Value)), int64(len(t.val))) {
		t.err = errStringLimit
		return engine.Item{}, engine.OpKeep
	}
	t.buf = append(append(t.buf[:0], cur.Value...), t.val...)
	t.res = int64(len(t.buf))
	return engine.Item{Type: engine.TypeString, Value: t.buf, Version: cur.Version + 1, Expire: cur.Expire}, engine.OpPut
}

// APPEND key value
func cmdAppend(c *Ctx) {
	t := strBegin(c, appendRun)
	t.val = c.Args[2]
	if t.update(c.Bucket, c.Args[1]) {
		if t.err != "" {
			c.W.Error(t.err)
		} else {
			c.W.Int(t.res)
		}
	}
	strEnd(t)
}

// STRLEN key
func cmdStrlen(c *Ctx) {
	typ, _, n, ok := strPeek(c, c.Bucket, c.Args[1])
	switch {
	case !ok:
		c.Miss()
		c.W.Int(0)
	case typ != engine.TypeString:
		c.Hit()
		c.W.Error(errWrongType)
	default:
		c.Hit()
		c.W.Int(n)
	}
}

func getRangeRun(t *strTx, cur *engine.Item) (engine.Item, engine.Op) {
	if cur == nil {
		return engine.Item{}, engine.OpKeep
	}
	t.found = true
	if cur.Type != engine.TypeString {
		t.err = errWrongType
		return engine.Item{}, engine.OpKeep
	}
	t.c.Scratch = t.c.Scratch[:0]
	start, end, n := t.n, t.m, int64(len(cur.Value))
	if start < 0 && end < 0 && start > end {
		return engine.Item{}, engine.OpKeep
	}
	if start < 0 {
		start += n
	}
	if end < 0 {
		end += n
	}
	start, end = max(start, 0), max(end, 0)
	if end >= n {
		end = n - 1
	}
	if start <= end && n > 0 {
		t.c.Scratch = append(t.c.Scratch, cur.Value[start:end+1]...)
	}
	return engine.Item{}, engine.OpKeep
}

// GETRANGE key start end
func cmdGetRange(c *Ctx) {
	start, ok1 := parseInt(c.Args[2])
	end, ok2 := parseInt(c.Args[3])
	if !ok1 || !ok2 {
		c.W.Error(errNotInt)
		return
	}
	t := strBegin(c, getRangeRun)
	t.n, t.m = start, end
	if t.update(c.Bucket, c.Args[1]) {
		switch {
		case !t.found:
			c.Miss()
			c.W.BulkString("")
		case t.err != "":
			c.Hit()
			c.W.Error(t.err)
		default:
			c.Hit()
			c.W.Bulk(c.Scratch)
			c.trimScratch()
		}
	}
	strEnd(t)
}

func setRangeRun(t *strTx, cur *engine.Item) (engine.Item, engine.Op) {
	if cur != nil && cur.Type != engine.TypeString {
		t.err = errWrongType
		return engine.Item{}, engine.OpKeep
	}
	if len(t.val) == 0 { // nothing to set: the length as it is
		if cur != nil {
			t.res = int64(len(cur.Value))
		}
		return engine.Item{}, engine.OpKeep
	}
	if !strCheckLen(t.c, t.n, int64(len(t.val))) {
		t.err = errStringLimit
		return engine.Item{}, engine.OpKeep
	}
	off := int(t.n)
	need := off + len(t.val)
	var old []byte
	next := engine.Item{Type: engine.TypeString, Version: nextVersion(cur)}
	if cur != nil {
		old = cur.Value
		next.Expire = cur.Expire
	}
	size := max(need, len(old))
	if cap(t.buf) < size {
		t.buf = make([]byte, size)
	}
	buf := t.buf[:size]
	copy(buf, old)
	if off > len(old) {
		clear(buf[len(old):off])
	}
	copy(buf[off:], t.val)
	t.buf = buf
	next.Value = buf
	t.res = int64(size)
	return next, engine.OpPut
}

// SETRANGE key offset value
func cmdSetRange(c *Ctx) {
	off, ok := parseInt(c.Args[2])
	if !ok {
		c.W.Error(errNotInt)
		return
	}
	if off < 0 {
		c.W.Error(errOffset)
		return
	}
	t := strBegin(c, setRangeRun)
	t.n, t.val = off, c.Args[3]
	if t.update(c.Bucket, c.Args[1]) {
		if t.err != "" {
			c.W.Error(t.err)
		} else {
			c.W.Int(t.res)
		}
	}
	strEnd(t)
}
