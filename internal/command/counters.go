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

// Properties of the x87 long double.
const (
	ldPrec   = 64     // mantissa bits
	ldMaxExp = 16384  // big.Float exponent (mantissa in [0.5, 1)) of the largest finite value
	ldMinExp = -16444 // exponent of the smallest denormal, 2^-16445
)

// ldParse parses s as Redis' string2ld (strtold, then rejecting leading space,
// trailing garbage, overflow, underflow to zero and NaN) into z with long
// double precision. inf reports an infinite value ("inf", "infinity").
func ldParse(z *big.Float, s []byte) (inf, ok bool) {
	z.SetPrec(ldPrec).SetMode(big.ToNearestEven)
	if len(s) == 0 || len(s) >= 5*1024 {
		return false, false
	}
	i := 0
	neg := false
	if s[0] == '+' || s[0] == '-' {
		neg = s[0] == '-'
		i++
	}
	rest := s[i:]
	if eqFold(rest, "inf") || eqFold(rest, "infinity") {
		z.SetInf(neg)
		return true, true
	}
	hex := len(rest) > 2 && rest[0] == '0' && (rest[1] == 'x' || rest[1] == 'X')
	if hex {
		i += 2
	}
	// Mantissa: digits with at most one point, at least one digit.
	isDigit := func(c byte) bool {
		if c >= '0' && c <= '9' {
			return true
		}
		if hex {
			c |= 0x20
			return c >= 'a' && c <= 'f'
		}
		return false
	}
	nd, point, first := 0, -1, -1 // digit count, digits before the point, first non-zero digit
	for ; i < len(s); i++ {
		c := s[i]
		switch {
		case isDigit(c):
			if first < 0 && c != '0' {
				first = nd
			}
			nd++
			continue
		case c == '.' && point < 0:
			point = nd
			continue
		}
		break
	}
	if nd == 0 {
		return false, false
	}
	if point < 0 {
		point = nd
	}
	// Exponent: e (decimal, power of 10) or p (hex, power of 2).
	var exp int64
	if i < len(s) {
		c := s[i] | 0x20
		if (!hex && c != 'e') || (hex && c != 'p') {
			return false, false
		}
		i++
		eneg := false
		if i < len(s) && (s[i] == '+' || s[i] == '-') {
			eneg = s[i] == '-'
			i++
		}
		if i == len(s) {
			return false, false
		}
		for ; i < len(s); i++ {
			if s[i] < '0' || s[i] > '9' {
				return false, false
			}
			if exp < 1e9 {
				exp = exp*10 + int64(s[i]-'0')
			}
		}
		if eneg {
			exp = -exp
		}
	}
	if first < 0 { // zero, whatever the exponent
		z.SetInt64(0)
		if neg {
			z.Neg(z)
		}
		return false, true
	}
	// Reject far out of range values before big.Float works out 10^exp.
	if hex {
		if e := 4*int64(point-first) + exp; e > ldMaxExp+8 || e < ldMinExp-8 {
			return false, false
		}
	} else if e := int64(point-first) + exp; e > 4934 || e < -4952 {
		return false, false
	}
	if hex {
		// A binary exponent scales exactly: one rounding, as strtold.
		if _, _, err := z.Parse(string(s), 0); err != nil {
			return false, false
		}
	} else {
		// Exact rational first, then one correctly rounded division, as
		// strtold (big.Float.Parse may round twice).
		var r big.Rat
		if _, ok := r.SetString(string(s)); !ok {
			return false, false
		}
		z.SetRat(&r)
	}
	if e := z.MantExp(nil); e > ldMaxExp || e < ldMinExp {
		return false, false // overflow, or underflow to zero
	}
	return false, true
}

// ldFormat appends x as "%.17Lf" with trailing zeros (and a trailing point)
// removed, and "-0" written as "0".
func ldFormat(dst []byte, x *big.Float) []byte {
	start := len(dst)
	dst = x.Append(dst, 'f', 17)
	for dst[len(dst)-1] == '0' {
		dst = dst[:len(dst)-1]
	}
	if dst[len(dst)-1] == '.' {
		dst = dst[:len(dst)-1]
	}
	if string(dst[start:]) == "-0" {
		dst = append(dst[:start], '0')
	}
	return dst
}
