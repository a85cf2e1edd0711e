package command

import "math"

// expiryOpt is a parsed EX/PX/EXAT/PXAT/KEEPTTL option.
type expiryOpt struct {
	set  bool  // an expiry was given (At is valid)
	keep bool  // KEEPTTL
	At   int64 // absolute Unix ms
}

// parseExpiry reads an expiry option at args[i]: EX s, PX ms, EXAT s, PXAT ms
// (each with its value) or KEEPTTL. It returns how many arguments it consumed
// (0 when args[i] is no expiry option) and an error reply when the option is
// malformed, repeated or conflicting. cmd names the command in Redis' message.
func parseExpiry(args [][]byte, i int, now int64, e *expiryOpt, cmd string) (int, string) {
	a := args[i]
	var unitMs, abs bool
	switch {
	case eqFold(a, "keepttl"):
		if e.set || e.keep {
			return 0, errSyntax
		}
		e.keep = true
		return 1, ""
	case eqFold(a, "ex"):
	case eqFold(a, "px"):
		unitMs = true
	case eqFold(a, "exat"):
		abs = true
	case eqFold(a, "pxat"):
		unitMs, abs = true, true
	default:
		return 0, ""
	}
	if e.set || e.keep || i+1 >= len(args) {
		return 0, errSyntax
	}
	n, ok := parseInt(args[i+1])
	if !ok {
		return 0, errNotInt
	}
	at, ok := expireAt(n, unitMs, abs, now)
	if !ok {
		return 0, "ERR invalid expire time in '" + cmd + "' command"
	}
	e.set, e.At = true, at
	return 2, ""
}

// expireAt converts a positive relative or absolute time in s or ms to an
// absolute Unix ms, failing on non-positive values and overflow as Redis does.
func expireAt(n int64, unitMs, abs bool, now int64) (int64, bool) {
	if n <= 0 {
		return 0, false
	}
	if !unitMs {
		if n > math.MaxInt64/1000 {
			return 0, false
		}
		n *= 1000
	}
	if !abs {
		if n > math.MaxInt64-now {
			return 0, false
		}
		n += now
	}
	return n, true
}
