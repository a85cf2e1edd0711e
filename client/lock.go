package client

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"strconv"
	"time"

	"github.com/redis/rueidis"
)

// A Lock is held on a key until Unlock or until its time to live runs out.
//
// Token is the fencing token: the version of the lock key, larger than the
// token of every earlier holder of the same lock. A resource guarded by the
// lock should refuse a write carrying a token lower than one it has seen, so
// that a holder whose lock expired without its knowing (a long pause) cannot
// overwrite the work of the next one.
type Lock struct {
	Key   string
	Token uint64
	owner string
}

// fenceSuffix names the counter that makes lock tokens grow across the
// lock key's lifetimes: a lock key starts again at version 1 each time it is
// created, so each grant stamps it with ABS <next fence value> instead.
const fenceSuffix = ":fence"

// TryLock takes the lock named key for ttl, or fails at once with ErrLocked
// when someone holds it. Two keys are used: key itself (holding a random
// owner id, expiring after ttl) and key+":fence", a counter that never
// expires.
func (ns *Namespace) TryLock(ctx context.Context, key string, ttl time.Duration) (*Lock, error) {
	if ttl <= 0 {
		return nil, &Error{Op: "TryLock", Key: key, Cause: errOpt("the time to live must be positive")}
	}
	var id [16]byte
	rand.Read(id[:])
	owner := hex.EncodeToString(id[:])
	for {
		l, err := ns.tryLock(ctx, key, owner, ttl)
		if l != nil || err != nil {
			return l, err
		}
	}
}

// tryLock makes one attempt; nil, nil when it must be made again.
func (ns *Namespace) tryLock(ctx context.Context, key, owner string, ttl time.Duration) (*Lock, error) {
	fence := key + fenceSuffix
	token, err := ns.fenceIncr(ctx, fence)
	if err != nil {
		return nil, err
	}
	tok := strconv.FormatInt(token, 10)
	granted := false
	err = ns.run(ctx, "TryLock", key, resend, func(ctx context.Context, n int) error {
		err := ns.rc.Do(ctx, ns.rc.B().Arbitrary("EXSET").Keys(key).
			Args(owner, "PX", strconv.FormatInt(max(ttl.Milliseconds(), 1), 10), "NX", "ABS", tok).Build()).Error()
		granted = err == nil
		if rueidis.IsRedisNil(err) {
			err = nil
			if n > 1 {
				// A lost reply: the first try may have been the grant.
				_, granted = ns.ownWrite(ctx, key, []byte(owner), 0)
			}
		}
		return err
	})
	if err != nil {
		return nil, err
	}
	if !granted {
		return nil, &Error{Op: "TryLock", Key: key, Kind: ErrLocked}
	}
	l := &Lock{Key: key, Token: uint64(token), owner: owner}
	var cur int64
	err = ns.run(ctx, "TryLock", fence, resend, func(ctx context.Context, _ int) error {
		var err error
		cur, err = ns.rc.Do(ctx, ns.rc.B().Get().Key(fence).Build()).AsInt64()
		return err
	})
	if err != nil {
		ns.Unlock(context.WithoutCancel(ctx), l)
		return nil, err
	}
	if cur != token {
		// A token larger than ours was handed out before our grant: a
		// holder with it may have come and gone. Give the lock back and
		// take a new token, so that ours is larger than any earlier
		// holder's.
		if err := ns.Unlock(ctx, l); err != nil && !isKind(err, ErrLockLost) {
			return nil, err
		}
		return nil, nil
	}
	return l, nil
}

// fenceIncr takes the next value of the fence counter. A lost reply is sent
// again: a value skipped is harmless, tokens need only grow.
func (ns *Namespace) fenceIncr(ctx context.Context, fence string) (int64, error) {
	var v int64
	err := ns.run(ctx, "TryLock", fence, resend, func(ctx context.Context, _ int) error {
		var err error
		v, err = ns.rc.Do(ctx, ns.rc.B().Incr().Key(fence).Build()).AsInt64()
		return err
	})
	return v, err
}

// Lock takes the lock named key for ttl, waiting while someone else holds
// it (polling with the client's Backoff, its waits capped at the lock's
// ttl) until ctx is done. See TryLock.
func (ns *Namespace) Lock(ctx context.Context, key string, ttl time.Duration) (*Lock, error) {
	b := ns.c.opts.Backoff
	for n := 1; ; n++ {
		l, err := ns.TryLock(ctx, key, ttl)
		if err == nil || !isKind(err, ErrLocked) {
			return l, err
		}
		// Wait until the key looks free before taking another token, so
		// that waiters do not push the fence past the next holder's.
		for {
			d := min(b.delay(n), ttl)
			if serr := sleep(ctx, d); serr != nil {
				return nil, &Error{Op: "Lock", Key: key, Kind: ErrLocked, Cause: serr}
			}
			if _, err := ns.Get(ctx, key); isKind(err, ErrNotFound) {
				break
			} else if err != nil && !isKind(err, ErrWrongType) {
				return nil, err
			}
			n++
		}
	}
}

// Unlock releases l if it still holds the lock: the lock key is deleted only
// if its version is l.Token (EXCAD). ErrLockLost when the lock's time to
// live ran out first (whoever holds it now keeps it).
func (ns *Namespace) Unlock(ctx context.Context, l *Lock) error {
	var res int64
	err := ns.run(ctx, "Unlock", l.Key, resend, func(ctx context.Context, n int) error {
		var err error
		res, err = ns.rc.Do(ctx, ns.rc.B().Arbitrary("EXCAD").Keys(l.Key).Args(strconv.FormatUint(l.Token, 10)).Build()).AsInt64()
		if err == nil && n > 1 && res < 0 {
			res = 1 // a lost reply: the first try deleted it
		}
		return err
	})
	if err == nil && res != 1 {
		err = &Error{Op: "Unlock", Key: l.Key, Kind: ErrLockLost}
	}
	return err
}

// isKind reports whether err is an *Error of kind.
func isKind(err error, kind error) bool {
	e, ok := err.(*Error)
	return ok && e.Kind == kind
}
