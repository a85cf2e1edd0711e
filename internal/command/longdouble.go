package command

// Redis computes INCRBYFLOAT and HINCRBYFLOAT in C's 80-bit long double and
// prints with "%.17Lf"; float64 arithmetic gives different digits (0.1+0.2).
// These functions emulate both with math/big at 64 bits of mantissa so the
// replies match Redis exactly.

import (
	"math/big"
)

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
