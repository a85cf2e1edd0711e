package client

import (
	"strconv"
	"time"
)

// An Option changes how Put or Incr writes a key. Options that do not apply
// to a call are refused with an error.
type Option func(*writeOpts)

type writeOpts struct {
	ttl       time.Duration
	expireAt  time.Time
	keepTTL   bool
	ifAbsent  bool
	ifExists  bool
	version   uint64
	initial   int64
	hasInit   bool
	min, max  int64
	hasMin    bool
	hasMax    bool
	forIncr   bool // options only Incr takes were used
	forPut    bool // options only Put takes were used
	expirySet int  // how many expiry options were given
}

// WithTTL makes the key expire ttl from now (rounded to milliseconds). For
// Incr, the expiry is set when the counter is created; an existing counter
// keeps its own.
func WithTTL(ttl time.Duration) Option {
	return func(o *writeOpts) { o.ttl = ttl; o.expirySet++ }
}

// WithExpireAt makes the key expire at t. For Incr, as WithTTL.
func WithExpireAt(t time.Time) Option {
	return func(o *writeOpts) { o.expireAt = t; o.expirySet++ }
}

// KeepTTL keeps the key's current expiry on Put (by default Put clears it,
// as SET does).
func KeepTTL() Option {
	return func(o *writeOpts) { o.keepTTL = true; o.forPut = true; o.expirySet++ }
}

// IfAbsent makes Put write only a key that does not exist (ErrExists
// otherwise).
func IfAbsent() Option {
	return func(o *writeOpts) { o.ifAbsent = true; o.forPut = true }
}

// IfExists makes Put write only a key that exists (ErrNotFound otherwise).
func IfExists() Option {
	return func(o *writeOpts) { o.ifExists = true; o.forPut = true }
}

// IfVersion makes Put write only when the key is missing or has version v
// (ErrVersionMismatch otherwise); Tair's put with a version. 0 means no
// check.
func IfVersion(v uint64) Option {
	return func(o *writeOpts) { o.version = v; o.forPut = true }
}

// WithInitial gives the value a missing counter starts from (Incr, Decr);
// default 0.
func WithInitial(v int64) Option {
	return func(o *writeOpts) { o.initial, o.hasInit = v, true; o.forIncr = true }
}

// WithMin is the counter's lower bound: Incr and Decr that would go below it
// fail with ErrOutOfRange and change nothing.
func WithMin(v int64) Option {
	return func(o *writeOpts) { o.min, o.hasMin = v, true; o.forIncr = true }
}

// WithMax is the counter's upper bound, as WithMin.
func WithMax(v int64) Option {
	return func(o *writeOpts) { o.max, o.hasMax = v, true; o.forIncr = true }
}

// collect applies opts and checks them for a call of kind op ("Put", "Incr").
func collect(op string, opts []Option) (writeOpts, error) {
	var o writeOpts
	for _, f := range opts {
		f(&o)
	}
	switch {
	case o.expirySet > 1:
		return o, &Error{Op: op, Cause: errOpt("WithTTL, WithExpireAt and KeepTTL exclude each other")}
	case o.ttl < 0:
		return o, &Error{Op: op, Cause: errOpt("WithTTL must not be negative")}
	case o.ifAbsent && o.ifExists:
		return o, &Error{Op: op, Cause: errOpt("IfAbsent and IfExists exclude each other")}
	case o.ifAbsent && o.version != 0:
		return o, &Error{Op: op, Cause: errOpt("IfAbsent and IfVersion exclude each other")}
	case op == "Put" && o.forIncr:
		return o, &Error{Op: op, Cause: errOpt("WithInitial, WithMin and WithMax are for Incr and Decr")}
	case op != "Put" && o.forPut:
		return o, &Error{Op: op, Cause: errOpt("KeepTTL, IfAbsent, IfExists and IfVersion are for Put")}
	case o.hasMin && o.hasMax && o.min > o.max:
		return o, &Error{Op: op, Cause: errOpt("WithMin is above WithMax")}
	}
	return o, nil
}

// expiryArgs returns the EXSET/EXINCRBY arguments of the expiry options.
func (o *writeOpts) expiryArgs() []string {
	switch {
	case o.ttl > 0:
		return []string{"PX", strconv.FormatInt(max(o.ttl.Milliseconds(), 1), 10)}
	case !o.expireAt.IsZero():
		return []string{"PXAT", strconv.FormatInt(o.expireAt.UnixMilli(), 10)}
	case o.keepTTL:
		return []string{"KEEPTTL"}
	}
	return nil
}

type errOpt string

func (e errOpt) Error() string { return "invalid options: " + string(e) }
