package client

import (
	"context"
	"errors"
	"math/rand/v2"
	"net"
	"time"
)

// Backoff bounds how the client retries a call that was not served: the
// namespace was throttled (THROTTLED), the bucket had no serving primary
// (TRYAGAIN, CLUSTERDOWN: a failover or a migration in progress), or the
// data server could not be reached. The waits grow exponentially from
// Initial to Max, each drawn at random from its upper half (jitter, so that
// clients throttled together do not come back together), and end early when
// the call's context is done.
type Backoff struct {
	// Initial is the first wait. Default 5ms.
	Initial time.Duration
	// Max is the longest wait. Default 1s.
	Max time.Duration
	// MaxAttempts is how many times one call is tried, the first included.
	// Default 30 (about 20s of waiting at the defaults, longer than a
	// failover takes); 1 turns retries off.
	MaxAttempts int
}

// withDefaults fills in the zero fields.
func (b Backoff) withDefaults() Backoff {
	if b.Initial <= 0 {
		b.Initial = 5 * time.Millisecond
	}
	if b.Max <= 0 {
		b.Max = time.Second
	}
	if b.Max < b.Initial {
		b.Max = b.Initial
	}
	if b.MaxAttempts <= 0 {
		b.MaxAttempts = 30
	}
	return b
}

// Delay returns the wait after the given failed attempt (1 for the first),
// between half and all of min(Max, Initial * 2^(attempt-1)). b must have its
// defaults filled in.
func (b Backoff) delay(attempt int) time.Duration {
	d := b.Max
	if attempt < 1 {
		attempt = 1
	}
	if attempt <= 62 {
		if e := b.Initial << (attempt - 1); e > 0 && e < b.Max {
			d = e
		}
	}
	half := d / 2
	return half + rand.N(d-half+1)
}

// sleep waits d or until ctx is done, whichever is first.
func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// safety says whether a call may be sent again after its connection failed
// with the request on the wire.
type safety bool

const (
	resend   safety = true  // repeating it is harmless (or the call checks)
	noResend safety = false // it could apply twice: report ErrUncertain
)

// run makes one call: attempt sends the request (n is 1 for the first try)
// and returns the server's error reply or the transport's error, nil on
// success. run retries what was not served, backing off, within
// Options.Backoff, and returns nil or an *Error.
func (ns *Namespace) run(ctx context.Context, op, key string, s safety, attempt func(ctx context.Context, n int) error) error {
	c := ns.c
	b := c.opts.Backoff
	for n := 1; ; n++ {
		if c.isClosed() {
			return &Error{Op: op, Key: key, Kind: ErrClosed}
		}
		err := attempt(ctx, n)
		cl := classify(ctx, err)
		switch cl {
		case classFinal:
			if err == nil {
				return nil
			}
			return &Error{Op: op, Key: key, Kind: replyKind(err), Cause: err}
		case classContext:
			if ctx.Err() != nil {
				err = ctx.Err()
			}
			return &Error{Op: op, Key: key, Cause: err}
		case classNetwork:
			if c.isClosed() {
				return &Error{Op: op, Key: key, Kind: ErrClosed, Cause: err}
			}
			if s == noResend && !neverSent(err) {
				c.stats.uncertain.Add(1)
				return &Error{Op: op, Key: key, Kind: ErrUncertain, Cause: err}
			}
		case classThrottled:
			c.stats.throttled.Add(1)
		}
		if n >= b.MaxAttempts {
			kind := ErrUnavailable
			if cl == classThrottled {
				kind = ErrThrottled
			}
			return &Error{Op: op, Key: key, Kind: kind, Cause: err}
		}
		d := b.delay(n)
		c.log.DebugContext(ctx, "granary client: retrying", "op", op, "key", key, "attempt", n, "wait", d, "err", err)
		if serr := sleep(ctx, d); serr != nil {
			return &Error{Op: op, Key: key, Kind: replyKind(err), Cause: errors.Join(serr, err)}
		}
		c.stats.retries.Add(1)
	}
}

// neverSent reports whether err is a failure to connect: the request did not
// leave the client, so it may be sent again whatever it does.
func neverSent(err error) bool {
	var oe *net.OpError
	return errors.As(err, &oe) && oe.Op == "dial"
}
