package client

import (
	"context"
	"math"
	"strconv"

	"github.com/redis/rueidis"
)

// Incr adds delta to the counter at key and returns the new value (Tair's
// incr; EXINCRBY). A missing counter starts from WithInitial (default 0);
// WithMin and WithMax bound it (ErrOutOfRange, nothing changed); WithTTL and
// WithExpireAt set the expiry of a counter Incr creates, and an existing
// counter keeps its expiry. ErrNotInteger when the key holds something else.
//
// Incr is not sent again after its connection failed with the request on
// the wire, since it could then count twice: it returns ErrUncertain.
func (ns *Namespace) Incr(ctx context.Context, key string, delta int64, opts ...Option) (int64, error) {
	return ns.incr(ctx, "Incr", key, delta, opts)
}

// Decr subtracts delta from the counter at key: Incr with -delta.
func (ns *Namespace) Decr(ctx context.Context, key string, delta int64, opts ...Option) (int64, error) {
	if delta == math.MinInt64 {
		return 0, &Error{Op: "Decr", Key: key, Kind: ErrOutOfRange}
	}
	return ns.incr(ctx, "Decr", key, -delta, opts)
}

func (ns *Namespace) incr(ctx context.Context, op, key string, delta int64, opts []Option) (int64, error) {
	o, err := collect(op, opts)
	if err != nil {
		err.(*Error).Key = key
		return 0, err
	}
	var bounds []string
	if o.hasMin {
		bounds = append(bounds, "MIN", strconv.FormatInt(o.min, 10))
	}
	if o.hasMax {
		bounds = append(bounds, "MAX", strconv.FormatInt(o.max, 10))
	}
	d := strconv.FormatInt(delta, 10)
	exp := o.expiryArgs()
	if !o.hasInit && len(exp) == 0 {
		// One command: a missing counter counts from 0 without expiry.
		return ns.exincr(ctx, op, key, append([]string{d, "KEEPTTL"}, bounds...))
	}
	// The counter exists: add to it. It does not: create it at initial +
	// delta with the expiry. A counter created or deleted in between sends
	// the loop round again.
	start := o.initial + delta
	startOut := (delta > 0 && start < o.initial) || (delta < 0 && start > o.initial) ||
		(o.hasMin && start < o.min) || (o.hasMax && start > o.max)
	for {
		v, err := ns.exincr(ctx, op, key, append([]string{d, "XX", "KEEPTTL"}, bounds...))
		if err == nil || !isKind(err, ErrNotFound) {
			return v, err
		}
		if startOut {
			return 0, &Error{Op: op, Key: key, Kind: ErrOutOfRange}
		}
		created := false
		err = ns.run(ctx, op, key, noResend, func(ctx context.Context, _ int) error {
			args := append([]string{strconv.FormatInt(start, 10)}, exp...)
			err := ns.rc.Do(ctx, ns.rc.B().Arbitrary("EXSET").Keys(key).Args(append(args, "NX")...).Build()).Error()
			created = err == nil
			if rueidis.IsRedisNil(err) {
				return nil
			}
			return err
		})
		if err != nil {
			return 0, err
		}
		if created {
			return start, nil
		}
		if err := ctx.Err(); err != nil {
			return 0, &Error{Op: op, Key: key, Cause: err}
		}
	}
}

// exincr runs EXINCRBY key args...: the new value, or ErrNotFound for a
// null reply (XX on a missing key).
func (ns *Namespace) exincr(ctx context.Context, op, key string, args []string) (int64, error) {
	var v int64
	var found bool
	err := ns.run(ctx, op, key, noResend, func(ctx context.Context, _ int) error {
		var err error
		v, err = ns.rc.Do(ctx, ns.rc.B().Arbitrary("EXINCRBY").Keys(key).Args(args...).Build()).AsInt64()
		found = err == nil
		if rueidis.IsRedisNil(err) {
			return nil
		}
		return err
	})
	if err == nil && !found {
		err = &Error{Op: op, Key: key, Kind: ErrNotFound}
	}
	return v, err
}
