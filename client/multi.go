package client

import (
	"context"
	"errors"

	"github.com/redis/rueidis"
)

// The calls of several keys (Tair's mget, mput, mdelete) send one request
// per key, grouped by the data server that owns each key's bucket: one
// pipeline per data server, all at once (rueidis DoMulti), so a call costs
// about one round trip to the slowest server whatever the number of keys.
// Keys whose request was not served (throttled, a bucket changing hands, a
// connection lost) are sent again with the client's Backoff; the others keep
// their results.

// runMulti runs n independent requests of op: send sends the requests at
// idx and returns one error per index, in order. It returns one error per
// request: nil, or an *Error.
func (ns *Namespace) runMulti(ctx context.Context, op string, keys []string, send func(ctx context.Context, idx []int) []error) []error {
	out := make([]error, len(keys))
	idx := make([]int, len(keys))
	for i := range idx {
		idx[i] = i
	}
	b := ns.c.opts.Backoff
	for n := 1; len(idx) > 0; n++ {
		errs := send(ctx, idx)
		var again []int
		var last error
		var lastClass class
		for j, i := range idx {
			err := errs[j]
			switch cl := classify(ctx, err); cl {
			case classFinal:
				out[i] = nil
				if err != nil {
					out[i] = &Error{Op: op, Key: keys[i], Kind: replyKind(err), Cause: err}
				}
			case classContext:
				out[i] = &Error{Op: op, Key: keys[i], Cause: errors.Join(ctx.Err(), err)}
			default:
				if cl == classThrottled {
					ns.c.stats.throttled.Add(1)
				}
				again, last, lastClass = append(again, i), err, cl
				out[i] = err
			}
		}
		if len(again) == 0 {
			break
		}
		serr := error(nil)
		if n < b.MaxAttempts && !ns.c.isClosed() {
			d := b.delay(n)
			ns.c.log.DebugContext(ctx, "granary client: retrying", "op", op, "keys", len(again), "attempt", n, "wait", d, "err", last)
			if serr = sleep(ctx, d); serr == nil {
				ns.c.stats.retries.Add(int64(len(again)))
				idx = again
				continue
			}
		}
		kind := ErrUnavailable
		if lastClass == classThrottled {
			kind = ErrThrottled
		}
		for _, i := range again {
			out[i] = &Error{Op: op, Key: keys[i], Kind: kind, Cause: errors.Join(serr, out[i])}
		}
		break
	}
	return out
}

// MGet returns the items of the keys that exist (missing keys are not in the
// map), through the local cache when there is one. The error joins the
// errors of the keys that failed; the map holds the others.
func (ns *Namespace) MGet(ctx context.Context, keys ...string) (map[string]Item, error) {
	items := make([]Item, len(keys))
	found := make([]bool, len(keys))
	errs := ns.runMulti(ctx, "MGet", keys, func(ctx context.Context, idx []int) []error {
		var res []rueidis.RedisResult
		if ns.cacheTTL > 0 {
			cmds := make([]rueidis.CacheableTTL, len(idx))
			for j, i := range idx {
				cmds[j] = rueidis.CT(rueidis.Cacheable(ns.exget(keys[i])), ns.cacheTTL)
			}
			res = ns.rc.DoMultiCache(ctx, cmds...)
		} else {
			cmds := make([]rueidis.Completed, len(idx))
			for j, i := range idx {
				cmds[j] = ns.exget(keys[i])
			}
			res = ns.rc.DoMulti(ctx, cmds...)
		}
		errs := make([]error, len(idx))
		for j, i := range idx {
			items[i], found[i], errs[j] = parseItem(res[j])
		}
		return errs
	})
	out := make(map[string]Item, len(keys))
	for i, k := range keys {
		if errs[i] == nil && found[i] {
			out[k] = items[i]
		}
	}
	return out, errors.Join(errs...)
}

// MPut stores every value of items and returns each key's new version. opts
// may set the expiry (WithTTL, WithExpireAt, KeepTTL); conditions are for
// Put. The error joins the errors of the keys that failed; the map holds the
// versions of the others.
func (ns *Namespace) MPut(ctx context.Context, items map[string][]byte, opts ...Option) (map[string]uint64, error) {
	o, err := collect("MPut", opts)
	if err != nil {
		return nil, err
	}
	if o.ifAbsent || o.ifExists || o.version != 0 {
		return nil, &Error{Op: "MPut", Cause: errOpt("IfAbsent, IfExists and IfVersion are for Put")}
	}
	keys := make([]string, 0, len(items))
	for k := range items {
		keys = append(keys, k)
	}
	exp := o.expiryArgs()
	vers := make([]int64, len(keys))
	errs := ns.runMulti(ctx, "MPut", keys, func(ctx context.Context, idx []int) []error {
		cmds := make([]rueidis.Completed, len(idx))
		for j, i := range idx {
			args := append(append([]string{string(items[keys[i]])}, exp...), "WITHVERSION")
			cmds[j] = ns.rc.B().Arbitrary("EXSET").Keys(keys[i]).Args(args...).Build()
		}
		res := ns.rc.DoMulti(ctx, cmds...)
		errs := make([]error, len(idx))
		for j, i := range idx {
			vers[i], errs[j] = res[j].AsInt64()
		}
		return errs
	})
	out := make(map[string]uint64, len(keys))
	for i, k := range keys {
		if errs[i] == nil {
			out[k] = uint64(vers[i])
		}
	}
	return out, errors.Join(errs...)
}

// MDelete removes the keys; missing keys are not an error. The error joins
// the errors of the keys that failed.
func (ns *Namespace) MDelete(ctx context.Context, keys ...string) error {
	errs := ns.runMulti(ctx, "MDelete", keys, func(ctx context.Context, idx []int) []error {
		cmds := make([]rueidis.Completed, len(idx))
		for j, i := range idx {
			cmds[j] = ns.rc.B().Del().Key(keys[i]).Build()
		}
		res := ns.rc.DoMulti(ctx, cmds...)
		errs := make([]error, len(idx))
		for j := range idx {
			errs[j] = res[j].Error()
		}
		return errs
	})
	return errors.Join(errs...)
}
