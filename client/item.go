package client

import (
	"context"
	"strconv"

	"github.com/redis/rueidis"
)

// Item is a value with its version. Every write of a key raises its version
// by one (a new key starts at 1); CompareAndSwap, IfVersion and
// DeleteIfVersion check it, as Tair's versions.
type Item struct {
	Value   []byte
	Version uint64
	// Cached reports that the local cache answered (Options.Cache).
	Cached bool
}

// exget is the EXGET command of key, cacheable when the namespace caches.
func (ns *Namespace) exget(key string) rueidis.Completed {
	return ns.rc.B().Arbitrary("EXGET").Keys(key).ReadOnly()
}

// read sends a read command, through the local cache when there is one.
func (ns *Namespace) read(ctx context.Context, cmd rueidis.Completed) rueidis.RedisResult {
	if ns.cacheTTL > 0 {
		return ns.rc.DoCache(ctx, rueidis.Cacheable(cmd), ns.cacheTTL)
	}
	return ns.rc.Do(ctx, cmd)
}

// parseItem reads an EXGET reply.
func parseItem(r rueidis.RedisResult) (Item, bool, error) {
	a, err := r.ToArray()
	if rueidis.IsRedisNil(err) {
		return Item{}, false, nil
	}
	if err != nil {
		return Item{}, false, err
	}
	if len(a) < 2 {
		return Item{}, false, errReply("EXGET")
	}
	v, err := a[0].ToString()
	if err != nil {
		return Item{}, false, err
	}
	ver, err := a[1].AsInt64()
	if err != nil {
		return Item{}, false, err
	}
	return Item{Value: []byte(v), Version: uint64(ver), Cached: r.IsCacheHit()}, true, nil
}

// Get returns the key's value and version, or ErrNotFound.
func (ns *Namespace) Get(ctx context.Context, key string) (Item, error) {
	var it Item
	var found bool
	err := ns.run(ctx, "Get", key, resend, func(ctx context.Context, _ int) error {
		var err error
		it, found, err = parseItem(ns.read(ctx, ns.exget(key)))
		return err
	})
	if err == nil && !found {
		err = &Error{Op: "Get", Key: key, Kind: ErrNotFound}
	}
	return it, err
}

// Put stores value under key and returns the key's new version. By default
// it overwrites any value and clears the expiry; opts add an expiry
// (WithTTL, WithExpireAt, KeepTTL) and conditions (IfAbsent: ErrExists,
// IfExists: ErrNotFound, IfVersion: ErrVersionMismatch).
//
// A Put whose connection failed is sent again; a conditional one that then
// finds its own value in place (the first try was applied) succeeds.
func (ns *Namespace) Put(ctx context.Context, key string, value []byte, opts ...Option) (uint64, error) {
	o, err := collect("Put", opts)
	if err != nil {
		err.(*Error).Key = key
		return 0, err
	}
	args := append([]string{string(value)}, o.expiryArgs()...)
	switch {
	case o.ifAbsent:
		args = append(args, "NX")
	case o.ifExists:
		args = append(args, "XX")
	}
	if o.version != 0 {
		args = append(args, "VER", strconv.FormatUint(o.version, 10))
	}
	args = append(args, "WITHVERSION")
	var ver int64
	var stored bool
	err = ns.run(ctx, "Put", key, resend, func(ctx context.Context, n int) error {
		r := ns.rc.Do(ctx, ns.rc.B().Arbitrary("EXSET").Keys(key).Args(args...).Build())
		var err error
		ver, err = r.AsInt64()
		stored = err == nil
		if rueidis.IsRedisNil(err) {
			err = nil
		}
		if n > 1 && (o.ifAbsent || o.version != 0) && (err != nil || !stored) {
			// The first try may have been applied: then the key holds value
			// with the version that try gave it.
			if it, ok := ns.ownWrite(ctx, key, value, o.version); ok {
				ver, stored, err = int64(it.Version), true, nil
			}
		}
		return err
	})
	switch {
	case err != nil:
		return 0, err
	case !stored && o.ifAbsent:
		return 0, &Error{Op: "Put", Key: key, Kind: ErrExists}
	case !stored:
		return 0, &Error{Op: "Put", Key: key, Kind: ErrNotFound}
	}
	return uint64(ver), nil
}

// ownWrite reports whether key holds value, with version expected+1 when
// expected is not 0: what a write of value over version expected left.
func (ns *Namespace) ownWrite(ctx context.Context, key string, value []byte, expected uint64) (Item, bool) {
	it, found, err := parseItem(ns.rc.Do(ctx, ns.exget(key)))
	if err != nil || !found || string(it.Value) != string(value) {
		return Item{}, false
	}
	return it, expected == 0 || it.Version == expected+1
}

// CompareAndSwap stores value under key if the key's version is version, and
// returns the new version (version+1); the key keeps its expiry.
// ErrVersionMismatch when the version differs, ErrNotFound when the key is
// missing.
func (ns *Namespace) CompareAndSwap(ctx context.Context, key string, value []byte, version uint64) (uint64, error) {
	var newVer int64
	var outcome int // 1 swapped, 0 mismatch, -1 missing
	err := ns.run(ctx, "CompareAndSwap", key, resend, func(ctx context.Context, n int) error {
		r := ns.rc.Do(ctx, ns.rc.B().Arbitrary("EXCAS").Keys(key).Args(string(value), strconv.FormatUint(version, 10)).Build())
		if i, err := r.AsInt64(); err == nil {
			outcome = int(i)
			return nil
		}
		a, err := r.ToArray()
		if err != nil {
			return err
		}
		if len(a) < 3 {
			return errReply("EXCAS")
		}
		status, _ := a[0].ToString()
		cur, _ := a[1].ToString()
		if newVer, err = a[2].AsInt64(); err != nil {
			return err
		}
		outcome = 0
		if status == "OK" || (n > 1 && cur == string(value) && uint64(newVer) == version+1) {
			outcome = 1 // swapped, by this try or (after a lost reply) the first
		}
		return nil
	})
	switch {
	case err != nil:
		return 0, err
	case outcome < 0:
		return 0, &Error{Op: "CompareAndSwap", Key: key, Kind: ErrNotFound}
	case outcome == 0:
		return 0, &Error{Op: "CompareAndSwap", Key: key, Kind: ErrVersionMismatch}
	}
	return uint64(newVer), nil
}

// SetVersion sets the key's version to version without changing its value
// or expiry (Tair's setVersion; EXSETVER). ErrNotFound when the key is
// missing.
func (ns *Namespace) SetVersion(ctx context.Context, key string, version uint64) error {
	var ok int64
	err := ns.run(ctx, "SetVersion", key, resend, func(ctx context.Context, _ int) error {
		var err error
		ok, err = ns.rc.Do(ctx, ns.rc.B().Arbitrary("EXSETVER").Keys(key).Args(strconv.FormatUint(version, 10)).Build()).AsInt64()
		return err
	})
	if err == nil && ok == 0 {
		err = &Error{Op: "SetVersion", Key: key, Kind: ErrNotFound}
	}
	return err
}

// Delete removes key. Deleting a missing key is not an error.
func (ns *Namespace) Delete(ctx context.Context, key string) error {
	return ns.run(ctx, "Delete", key, resend, func(ctx context.Context, _ int) error {
		return ns.rc.Do(ctx, ns.rc.B().Del().Key(key).Build()).Error()
	})
}

// DeleteIfVersion removes key if its version is version (Tair's remove with a
// version; EXCAD). ErrVersionMismatch when it differs, ErrNotFound when the
// key is missing. After a lost reply the retry finds the key gone and
// reports ErrNotFound, though the first try may have deleted it.
func (ns *Namespace) DeleteIfVersion(ctx context.Context, key string, version uint64) error {
	res, err := ns.excad(ctx, "DeleteIfVersion", key, version)
	switch {
	case err != nil:
		return err
	case res < 0:
		return &Error{Op: "DeleteIfVersion", Key: key, Kind: ErrNotFound}
	case res == 0:
		return &Error{Op: "DeleteIfVersion", Key: key, Kind: ErrVersionMismatch}
	}
	return nil
}

// excad runs EXCAD: 1 deleted, 0 another version, -1 missing.
func (ns *Namespace) excad(ctx context.Context, op, key string, version uint64) (int64, error) {
	var res int64
	err := ns.run(ctx, op, key, resend, func(ctx context.Context, _ int) error {
		var err error
		res, err = ns.rc.Do(ctx, ns.rc.B().Arbitrary("EXCAD").Keys(key).Args(strconv.FormatUint(version, 10)).Build()).AsInt64()
		return err
	})
	return res, err
}

// errReply is a reply of an unexpected shape.
type errReply string

func (e errReply) Error() string { return "unexpected reply to " + string(e) }
