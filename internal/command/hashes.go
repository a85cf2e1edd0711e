package command

import (
	"math"
	"math/big"
	"strconv"
	"sync"

	"granary/internal/engine"
	"granary/internal/glob"
	"granary/internal/hashenc"
)

// The hashes family: HSET HMSET HGET HMGET HDEL HGETALL HKEYS HVALS HLEN
// HEXISTS HSTRLEN HINCRBY HINCRBYFLOAT HSETNX HSCAN, with Redis 7 semantics,
// and the ordered range read over a hash's fields (Tair's get_range over a
// primary key's secondary keys), modelled on ZRANGEBYLEX:
//
//	HRANGEBYLEX    key min max [LIMIT offset count] [NOVALUES]
//	HREVRANGEBYLEX key max min [LIMIT offset count] [NOVALUES]
//
// min and max are "-", "+", "[field" (inclusive) or "(field" (exclusive). The
// reply is a flat array field, value, field, value... in field order (reverse
// order for HREVRANGEBYLEX) in both RESP2 and RESP3, so the order is explicit;
// with NOVALUES (Tair's key-only range) it holds the fields only.
//
// A hash is one engine item of type engine.TypeHash whose value is a
// hashenc encoding (fields sorted by bytes): it lives in its key's bucket, has
// one version (+1 on every change) and one expiry, kept by field updates. A
// hash whose last field is removed is deleted. Updates rewrite the encoding:
// O(size of the hash), meant for Tair-sized prefix sets (thousands of fields).
//
// Fields come back in byte order everywhere (HGETALL, HKEYS, HVALS, HSCAN),
// where Redis uses insertion order for small hashes and no order for large
// ones; neither is promised by the protocol.
//
// Reads take only what they need under the engine's lock (one value for HGET,
// the selected entries for a range or an HSCAN page) and decode it afterwards;
// HGETALL, HKEYS and HVALS copy the encoding out with Engine.Get.

func init() {
	register(
		&Spec{Name: "hset", Arity: -4, Flags: FlagWrite | FlagFast, FirstKey: 1, LastKey: 1, Step: 1, Handler: cmdHSet},
		&Spec{Name: "hmset", Arity: -4, Flags: FlagWrite | FlagFast, FirstKey: 1, LastKey: 1, Step: 1, Handler: cmdHSet},
		&Spec{Name: "hsetnx", Arity: 4, Flags: FlagWrite | FlagFast, FirstKey: 1, LastKey: 1, Step: 1, Handler: cmdHSetNX},
		&Spec{Name: "hget", Arity: 3, Flags: FlagRead | FlagFast, FirstKey: 1, LastKey: 1, Step: 1, Handler: cmdHGet},
		&Spec{Name: "hmget", Arity: -3, Flags: FlagRead | FlagFast, FirstKey: 1, LastKey: 1, Step: 1, Handler: cmdHMGet},
		&Spec{Name: "hdel", Arity: -3, Flags: FlagWrite | FlagFast, FirstKey: 1, LastKey: 1, Step: 1, Handler: cmdHDel},
		&Spec{Name: "hlen", Arity: 2, Flags: FlagRead | FlagFast, FirstKey: 1, LastKey: 1, Step: 1, Handler: cmdHLen},
		&Spec{Name: "hexists", Arity: 3, Flags: FlagRead | FlagFast, FirstKey: 1, LastKey: 1, Step: 1, Handler: cmdHExists},
		&Spec{Name: "hstrlen", Arity: 3, Flags: FlagRead | FlagFast, FirstKey: 1, LastKey: 1, Step: 1, Handler: cmdHStrlen},
		&Spec{Name: "hgetall", Arity: 2, Flags: FlagRead, FirstKey: 1, LastKey: 1, Step: 1, Handler: cmdHGetAll},
		&Spec{Name: "hkeys", Arity: 2, Flags: FlagRead, FirstKey: 1, LastKey: 1, Step: 1, Handler: cmdHGetAll},
		&Spec{Name: "hvals", Arity: 2, Flags: FlagRead, FirstKey: 1, LastKey: 1, Step: 1, Handler: cmdHGetAll},
		&Spec{Name: "hincrby", Arity: 4, Flags: FlagWrite | FlagFast, FirstKey: 1, LastKey: 1, Step: 1, Handler: cmdHIncrBy},
		&Spec{Name: "hincrbyfloat", Arity: 4, Flags: FlagWrite | FlagFast, FirstKey: 1, LastKey: 1, Step: 1, Handler: cmdHIncrByFloat},
		&Spec{Name: "hscan", Arity: -3, Flags: FlagRead, FirstKey: 1, LastKey: 1, Step: 1, Handler: cmdHScan},
		&Spec{Name: "hrangebylex", Arity: -4, Flags: FlagRead, FirstKey: 1, LastKey: 1, Step: 1, Handler: cmdHRangeByLex},
		&Spec{Name: "hrevrangebylex", Arity: -4, Flags: FlagRead, FirstKey: 1, LastKey: 1, Step: 1, Handler: cmdHRangeByLex},
	)
}

const (
	errHashNotInt   = "ERR hash value is not an integer"
	errHashNotFloat = "ERR hash value is not a float"
	errHashNaNInf   = "ERR value is NaN or Infinity"
	errHashCursor   = "ERR invalid cursor"
	errHashLex      = "ERR min or max not valid string range item"
	errHashTooLarge = "ERR hash exceeds the maximum item size"
)

// Buffers (c.Scratch, a pooled transaction's) larger than these are not kept
// for reuse after a command.
const (
	hashBufMax = 1 << 20
)

// hashSmall is the field count up to which HSCAN returns the whole hash in one
// call whatever the cursor, as Redis does for its listpack encoding.
const hashSmall = 128

// hashTx is an engine.Update callback with its state, pooled with its
// callback bound once so that commands do not allocate a closure per call.
type hashTx struct {
	c   *Ctx
	run func(t *hashTx, cur *engine.Item) (engine.Item, engine.Op)
	fn  func(cur *engine.Item) (engine.Item, engine.Op)

	// Inputs.
	args [][]byte // fields, or field/value pairs
	n    int64    // integer argument (HINCRBY), cursor (HSCAN), offset (range)
	m    int64    // count (HSCAN, range)
	inc  big.Float
	lo   hashenc.Bound
	hi   hashenc.Bound
	rev  bool

	// Outputs.
	found bool   // the key existed (live)
	res   int64  // integer result
	err   string // error reply; the key was left as it was
	spans []int  // HMGET: start, end of each value in c.Scratch (-1: none)

	buf []byte // the new encoding; the engine copies it
}

func (t *hashTx) call(cur *engine.Item) (engine.Item, engine.Op) {
	t.found, t.err = cur != nil, ""
	if cur != nil && cur.Type != engine.TypeHash {
		t.err = errWrongType
		return engine.Item{}, engine.OpKeep
	}
	return t.run(t, cur)
}

var hashTxPool = sync.Pool{New: func() any {
	t := &hashTx{}
	t.fn = t.call
	return t
}}

func hashBegin(c *Ctx, run func(*hashTx, *engine.Item) (engine.Item, engine.Op)) *hashTx {
	t := hashTxPool.Get().(*hashTx)
	t.c, t.run = c, run
	return t
}

func hashEnd(t *hashTx) {
	c := t.c
	buf, spans := t.buf[:0], t.spans[:0]
	if cap(buf) > hashBufMax {
		buf = nil
	}
	fn := t.fn
	*t = hashTx{fn: fn, buf: buf, spans: spans}
	hashTxPool.Put(t)
	c.trimScratch()
}

// update runs t on the command's key. It replies with the engine's error, or
// t.err, and returns false when there was one.
func (t *hashTx) update() bool {
	c := t.c
	if err := c.Engine().Update(c.Bucket, c.Args[1], c.Now, t.fn); err != nil {
		engineError(c, err, errHashTooLarge)
		return false
	}
	if t.err != "" {
		c.W.Error(t.err)
		return false
	}
	return true
}

// read runs t as a read and counts a hit or a miss by the key's existence.
func (t *hashTx) read() bool {
	ok := t.update()
	if t.found {
		t.c.Hit()
	} else {
		t.c.Miss()
	}
	return ok
}

// hashPut returns the item storing enc as the new value of cur (nil: a new
// hash), or a deletion when enc is empty.
func hashPut(cur *engine.Item, enc []byte) (engine.Item, engine.Op) {
	if hashenc.Len(enc) == 0 {
		if cur == nil {
			return engine.Item{}, engine.OpKeep
		}
		return engine.Item{}, engine.OpDelete
	}
	next := engine.Item{Type: engine.TypeHash, Version: 1, Value: enc}
	if cur != nil {
		next.Version, next.Expire = cur.Version+1, cur.Expire
	}
	return next, engine.OpPut
}

// curEnc is cur's encoding (nil for a missing key: the empty hash).
func curEnc(cur *engine.Item) []byte {
	if cur == nil {
		return nil
	}
	return cur.Value
}

// HSET key field value [field value ...]; HMSET key field value [...]
func cmdHSet(c *Ctx) {
	if len(c.Args)%2 != 0 {
		c.W.Error(wrongArgs(c.Spec.Name))
		return
	}
	t := hashBegin(c, hsetRun)
	t.args = c.Args[2:]
	if t.update() {
		if c.Spec.Name == "hmset" {
			c.W.OK()
		} else {
			c.W.Int(t.res)
		}
	}
	hashEnd(t)
}

func hsetRun(t *hashTx, cur *engine.Item) (engine.Item, engine.Op) {
	var added int
	var err error
	t.buf, added, err = hashenc.SetMany(t.buf[:0], curEnc(cur), t.args)
	if err != nil {
		t.err = errHashTooLarge
		return engine.Item{}, engine.OpKeep
	}
	t.res = int64(added)
	return hashPut(cur, t.buf)
}

// HSETNX key field value
func cmdHSetNX(c *Ctx) {
	t := hashBegin(c, hsetnxRun)
	t.args = c.Args[2:4]
	if t.update() {
		c.W.Int(t.res)
	}
	hashEnd(t)
}

func hsetnxRun(t *hashTx, cur *engine.Item) (engine.Item, engine.Op) {
	if _, ok := hashenc.Get(curEnc(cur), t.args[0]); ok {
		t.res = 0
		return engine.Item{}, engine.OpKeep
	}
	t.res = 1
	return hsetRun(t, cur)
}

// HGET key field
func cmdHGet(c *Ctx) {
	t := hashBegin(c, hgetRun)
	t.args = c.Args[2:3]
	if t.read() {
		if t.res == 1 {
			c.W.Bulk(c.Scratch)
		} else {
			c.W.Null()
		}
	}
	hashEnd(t)
}

func hgetRun(t *hashTx, cur *engine.Item) (engine.Item, engine.Op) {
	t.res = 0
	if v, ok := hashenc.Get(curEnc(cur), t.args[0]); ok {
		t.c.Scratch = append(t.c.Scratch[:0], v...)
		t.res = 1
	}
	return engine.Item{}, engine.OpKeep
}

// HMGET key field [field ...]
func cmdHMGet(c *Ctx) {
	t := hashBegin(c, hmgetRun)
	t.args = c.Args[2:]
	if t.read() {
		c.W.Array(len(t.args))
		for i := range t.args {
			if s := t.spans[2*i]; s >= 0 {
				c.W.Bulk(c.Scratch[s:t.spans[2*i+1]])
			} else {
				c.W.Null()
			}
		}
	}
	hashEnd(t)
}

func hmgetRun(t *hashTx, cur *engine.Item) (engine.Item, engine.Op) {
	enc := curEnc(cur)
	sc := t.c.Scratch[:0]
	t.spans = t.spans[:0]
	for _, f := range t.args {
		if v, ok := hashenc.Get(enc, f); ok {
			t.spans = append(t.spans, len(sc), len(sc)+len(v))
			sc = append(sc, v...)
		} else {
			t.spans = append(t.spans, -1, -1)
		}
	}
	t.c.Scratch = sc
	return engine.Item{}, engine.OpKeep
}

// HDEL key field [field ...]
func cmdHDel(c *Ctx) {
	t := hashBegin(c, hdelRun)
	t.args = c.Args[2:]
	if t.update() {
		c.W.Int(t.res)
	}
	hashEnd(t)
}

func hdelRun(t *hashTx, cur *engine.Item) (engine.Item, engine.Op) {
	t.res = 0
	if cur == nil {
		return engine.Item{}, engine.OpKeep
	}
	out, n := hashenc.DeleteMany(t.buf[:0], cur.Value, t.args)
	if n == 0 {
		return engine.Item{}, engine.OpKeep
	}
	t.buf, t.res = out, int64(n)
	return hashPut(cur, out)
}

// HLEN key, HEXISTS key field, HSTRLEN key field
func cmdHLen(c *Ctx)    { hashInfo(c, hlenRun) }
func cmdHExists(c *Ctx) { hashInfo(c, hexistsRun) }
func cmdHStrlen(c *Ctx) { hashInfo(c, hstrlenRun) }

func hashInfo(c *Ctx, run func(*hashTx, *engine.Item) (engine.Item, engine.Op)) {
	t := hashBegin(c, run)
	t.args = c.Args[2:]
	if t.read() {
		c.W.Int(t.res)
	}
	hashEnd(t)
}

func hlenRun(t *hashTx, cur *engine.Item) (engine.Item, engine.Op) {
	t.res = int64(hashenc.Len(curEnc(cur)))
	return engine.Item{}, engine.OpKeep
}

func hexistsRun(t *hashTx, cur *engine.Item) (engine.Item, engine.Op) {
	t.res = 0
	if _, ok := hashenc.Get(curEnc(cur), t.args[0]); ok {
		t.res = 1
	}
	return engine.Item{}, engine.OpKeep
}

func hstrlenRun(t *hashTx, cur *engine.Item) (engine.Item, engine.Op) {
	v, _ := hashenc.Get(curEnc(cur), t.args[0])
	t.res = int64(len(v))
	return engine.Item{}, engine.OpKeep
}

// HGETALL key, HKEYS key, HVALS key
func cmdHGetAll(c *Ctx) {
	it, out, ok := c.Engine().Get(c.Bucket, c.Args[1], c.Now, c.Scratch[:0])
	c.Scratch = out
	switch {
	case !ok:
		c.Miss()
		if c.Spec.Name == "hgetall" {
			c.W.Map(0)
		} else {
			c.W.Array(0)
		}
	case it.Type != engine.TypeHash:
		c.Hit()
		c.W.Error(errWrongType)
	default:
		c.Hit()
		enc := it.Value
		n := hashenc.Len(enc)
		switch c.Spec.Name {
		case "hgetall":
			c.W.Map(n)
			for f, v := range hashenc.All(enc) {
				c.W.Bulk(f)
				c.W.Bulk(v)
			}
		case "hkeys":
			c.W.Array(n)
			for f := range hashenc.All(enc) {
				c.W.Bulk(f)
			}
		default:
			c.W.Array(n)
			for _, v := range hashenc.All(enc) {
				c.W.Bulk(v)
			}
		}
	}
	c.trimScratch()
}

// HINCRBY key field increment
func cmdHIncrBy(c *Ctx) {
	n, ok := parseInt(c.Args[3])
	if !ok {
		c.W.Error(errNotInt)
		return
	}
	t := hashBegin(c, hincrbyRun)
	t.args, t.n = c.Args[2:3], n
	if t.update() {
		c.W.Int(t.res)
	}
	hashEnd(t)
}

func hincrbyRun(t *hashTx, cur *engine.Item) (engine.Item, engine.Op) {
	var v int64
	if old, ok := hashenc.Get(curEnc(cur), t.args[0]); ok {
		if v, ok = parseInt(old); !ok {
			t.err = errHashNotInt
			return engine.Item{}, engine.OpKeep
		}
	}
	n := t.n
	if (n < 0 && v < 0 && n < math.MinInt64-v) || (n > 0 && v > 0 && n > math.MaxInt64-v) {
		t.err = errOverflow
		return engine.Item{}, engine.OpKeep
	}
	v += n
	t.res = v
	var num [20]byte
	return hashSetOne(t, cur, strconv.AppendInt(num[:0], v, 10))
}

// hashSetOne stores t.args[0] = value.
func hashSetOne(t *hashTx, cur *engine.Item, value []byte) (engine.Item, engine.Op) {
	out, _, err := hashenc.Set(t.buf[:0], curEnc(cur), t.args[0], value)
	if err != nil {
		t.err = errHashTooLarge
		return engine.Item{}, engine.OpKeep
	}
	t.buf = out
	return hashPut(cur, out)
}

// HINCRBYFLOAT key field increment
//
// Like INCRBYFLOAT, the sum is computed as Redis' C long double (x87, 64-bit
// mantissa) and formatted as Redis' ld2string(LD_STR_HUMAN), with the
// ldParse/ldFormat helpers of counters.go.
func cmdHIncrByFloat(c *Ctx) {
	t := hashBegin(c, hincrbyfloatRun)
	inf, ok := ldParse(&t.inc, c.Args[3])
	switch {
	case !ok:
		c.W.Error(errNotFloat)
	case inf:
		c.W.Error(errHashNaNInf)
	default:
		t.args = c.Args[2:3]
		if t.update() {
			c.W.Bulk(c.Scratch)
		}
	}
	hashEnd(t)
}

func hincrbyfloatRun(t *hashTx, cur *engine.Item) (engine.Item, engine.Op) {
	var v big.Float
	v.SetPrec(ldPrec)
	if old, ok := hashenc.Get(curEnc(cur), t.args[0]); ok {
		inf, ok := ldParse(&v, old)
		if !ok {
			t.err = errHashNotFloat
			return engine.Item{}, engine.OpKeep
		}
		if inf {
			t.err = errIncrFloat
			return engine.Item{}, engine.OpKeep
		}
	}
	v.Add(&v, &t.inc)
	if v.MantExp(nil) > ldMaxExp {
		t.err = errIncrFloat
		return engine.Item{}, engine.OpKeep
	}
	t.c.Scratch = ldFormat(t.c.Scratch[:0], &v)
	return hashSetOne(t, cur, t.c.Scratch)
}

// HSCAN key cursor [MATCH pattern] [COUNT count] [NOVALUES]
//
// The cursor is an index into the sorted field list. A hash of up to
// hashSmall fields is returned whole, whatever the cursor, with cursor 0, as
// Redis returns a listpack-encoded hash. A larger one is returned COUNT fields
// (default 10) at a time from the cursor's index. As with SCAN, a field
// present during the whole iteration is returned at least once unless fields
// before the cursor are deleted meanwhile (which shifts the indexes: then a
// field can be missed), and fields can be returned more than once when fields
// are added before the cursor.
func cmdHScan(c *Ctx) {
	cursor, ok := hashParseCursor(c.Args[2])
	if !ok {
		c.W.Error(errHashCursor)
		return
	}
	var pattern []byte
	count := int64(10)
	novalues := false
	optErr := ""
	for i := 3; i < len(c.Args) && optErr == ""; i++ {
		a, more := c.Args[i], i+1 < len(c.Args)
		switch {
		case eqFold(a, "count") && more:
			n, ok := parseInt(c.Args[i+1])
			switch {
			case !ok:
				optErr = errNotInt
			case n < 1:
				optErr = errSyntax
			}
			count = n
			i++
		case eqFold(a, "match") && more:
			pattern = c.Args[i+1]
			i++
		case eqFold(a, "novalues"):
			novalues = true
		default:
			optErr = errSyntax
		}
	}
	if len(pattern) == 1 && pattern[0] == '*' {
		pattern = nil // as Redis: a bare "*" matches everything, even ""
	}
	t := hashBegin(c, hscanRun)
	t.n, t.m = int64(min(cursor, math.MaxInt64)), count
	if optErr != "" {
		t.n = -1 // only look the key up
	}
	switch {
	case !t.read():
	case !t.found:
		// Redis replies to a missing key before it looks at the options.
		c.W.Array(2)
		c.W.BulkString("0")
		c.W.Array(0)
	case optErr != "":
		c.W.Error(optErr)
	default:
		hashScanReply(c, t.res, pattern, novalues)
	}
	hashEnd(t)
}

// hashScanReply writes an HSCAN reply: the next cursor and the page in
// c.Scratch, filtered by pattern (nil: everything).
func hashScanReply(c *Ctx, next int64, pattern []byte, novalues bool) {
	page := c.Scratch
	n := hashenc.Len(page)
	matched := 0
	for f := range hashenc.All(page) {
		if pattern == nil || glob.Match(pattern, f, false) {
			matched++
		}
	}
	c.W.Array(2)
	var num [20]byte
	c.W.Bulk(strconv.AppendInt(num[:0], next, 10))
	if novalues {
		c.W.Array(matched)
	} else {
		c.W.Array(2 * matched)
	}
	for i := 0; i < n && matched > 0; i++ {
		f, v := hashenc.At(page, i)
		if pattern != nil && !glob.Match(pattern, f, false) {
			continue
		}
		c.W.Bulk(f)
		if !novalues {
			c.W.Bulk(v)
		}
	}
}

// hscanRun copies the page at cursor t.n of t.m fields into c.Scratch and
// sets t.res to the next cursor. With t.n < 0 it only looks the key up.
func hscanRun(t *hashTx, cur *engine.Item) (engine.Item, engine.Op) {
	if cur == nil || t.n < 0 {
		return engine.Item{}, engine.OpKeep
	}
	enc := cur.Value
	n := int64(hashenc.Len(enc))
	from, to := int64(0), n
	t.res = 0
	if n > hashSmall {
		from = min(t.n, n)
		to = from + min(t.m, n-from)
		if to < n {
			t.res = to
		}
	}
	t.c.Scratch = hashenc.Slice(t.c.Scratch[:0], enc, int(from), int(to))
	return engine.Item{}, engine.OpKeep
}

// hashParseCursor parses a SCAN cursor as Redis' parseScanCursorOrReply
// (strtoul, base 10): no leading space, an optional sign (a negative cursor
// wraps round as in C), digits, nothing after them, within 64 bits. An empty
// string is cursor 0.
func hashParseCursor(b []byte) (uint64, bool) {
	if len(b) == 0 {
		return 0, true
	}
	i, neg := 0, false
	if b[0] == '+' || b[0] == '-' {
		neg = b[0] == '-'
		i++
	}
	if i == len(b) {
		return 0, false
	}
	var u uint64
	for ; i < len(b); i++ {
		d := b[i]
		if d < '0' || d > '9' {
			return 0, false
		}
		if u > (math.MaxUint64-uint64(d-'0'))/10 {
			return 0, false
		}
		u = u*10 + uint64(d-'0')
	}
	if neg {
		u = -u
	}
	return u, true
}

// HRANGEBYLEX key min max [LIMIT offset count] [NOVALUES]
// HREVRANGEBYLEX key max min [LIMIT offset count] [NOVALUES]
//
// As ZRANGEBYLEX: the options are checked first, then the range, then the
// key; a negative offset gives an empty reply, a negative count no limit;
// LIMIT may repeat (the last wins).
func cmdHRangeByLex(c *Ctx) {
	rev := c.Spec.Name == "hrevrangebylex"
	offset, count := int64(0), int64(-1)
	novalues := false
	for i := 4; i < len(c.Args); i++ {
		a := c.Args[i]
		switch {
		case eqFold(a, "limit") && i+2 < len(c.Args):
			o, ok1 := parseInt(c.Args[i+1])
			n, ok2 := parseInt(c.Args[i+2])
			if !ok1 || !ok2 {
				c.W.Error(errNotInt)
				return
			}
			offset, count = o, n
			i += 2
		case eqFold(a, "novalues"):
			novalues = true
		default:
			c.W.Error(errSyntax)
			return
		}
	}
	minArg, maxArg := c.Args[2], c.Args[3]
	if rev {
		minArg, maxArg = maxArg, minArg
	}
	lo, ok1 := hashLexBound(minArg)
	hi, ok2 := hashLexBound(maxArg)
	if !ok1 || !ok2 {
		c.W.Error(errHashLex)
		return
	}
	t := hashBegin(c, hrangeRun)
	t.lo, t.hi, t.rev, t.n, t.m = lo, hi, rev, offset, count
	if t.read() {
		page := c.Scratch
		n := hashenc.Len(page)
		if novalues {
			c.W.Array(n)
		} else {
			c.W.Array(2 * n)
		}
		for k := 0; k < n; k++ {
			i := k
			if rev {
				i = n - 1 - k
			}
			f, v := hashenc.At(page, i)
			c.W.Bulk(f)
			if !novalues {
				c.W.Bulk(v)
			}
		}
	}
	hashEnd(t)
}

// hrangeRun copies the selected entries, in field order, into c.Scratch.
func hrangeRun(t *hashTx, cur *engine.Item) (engine.Item, engine.Op) {
	enc := curEnc(cur)
	lo, hi := hashenc.Range(enc, t.lo, t.hi)
	off, count := t.n, t.m
	size := int64(hi - lo)
	if off < 0 || off >= size {
		lo, hi = 0, 0
	} else {
		n := size - off
		if count >= 0 && count < n {
			n = count
		}
		if t.rev {
			hi -= int(off)
			lo = hi - int(n)
		} else {
			lo += int(off)
			hi = lo + int(n)
		}
	}
	t.c.Scratch = hashenc.Slice(t.c.Scratch[:0], enc, lo, hi)
	return engine.Item{}, engine.OpKeep
}

// hashLexBound parses a ZRANGEBYLEX range item: "-", "+", "[field", "(field".
func hashLexBound(b []byte) (hashenc.Bound, bool) {
	if len(b) == 0 {
		return hashenc.Bound{}, false
	}
	switch b[0] {
	case '-':
		return hashenc.Bound{Kind: hashenc.NegInf}, len(b) == 1
	case '+':
		return hashenc.Bound{Kind: hashenc.PosInf}, len(b) == 1
	case '[':
		return hashenc.Bound{Field: b[1:]}, true
	case '(':
		return hashenc.Bound{Field: b[1:], Exclusive: true}, true
	}
	return hashenc.Bound{}, false
}
