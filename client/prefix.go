package client

import (
	"context"
	"strconv"

	"github.com/redis/rueidis"
)

// Prefix keys are Tair's pkey/skey pairs: a primary key holds secondary keys,
// each with a value, and all of them live in the primary key's bucket, so
// they are read in one request and in order. In Granary a primary key is a
// hash (HSET, HGET, HDEL, HGETALL, HRANGEBYLEX).

// Field is a secondary key with its value.
type Field struct {
	Key   string
	Value []byte
}

// PrefixPut stores value under the secondary key skey of pkey.
func (ns *Namespace) PrefixPut(ctx context.Context, pkey, skey string, value []byte) error {
	return ns.run(ctx, "PrefixPut", pkey, resend, func(ctx context.Context, _ int) error {
		return ns.rc.Do(ctx, ns.rc.B().Hset().Key(pkey).FieldValue().FieldValue(skey, string(value)).Build()).Error()
	})
}

// PrefixPutMany stores several secondary keys of pkey at once (one request).
func (ns *Namespace) PrefixPutMany(ctx context.Context, pkey string, fields map[string][]byte) error {
	if len(fields) == 0 {
		return nil
	}
	return ns.run(ctx, "PrefixPutMany", pkey, resend, func(ctx context.Context, _ int) error {
		fv := ns.rc.B().Hset().Key(pkey).FieldValue()
		for k, v := range fields {
			fv = fv.FieldValue(k, string(v))
		}
		return ns.rc.Do(ctx, fv.Build()).Error()
	})
}

// PrefixGet returns the value of skey under pkey, through the local cache
// when there is one; ErrNotFound when either is missing.
func (ns *Namespace) PrefixGet(ctx context.Context, pkey, skey string) ([]byte, error) {
	var v string
	var found bool
	err := ns.run(ctx, "PrefixGet", pkey, resend, func(ctx context.Context, _ int) error {
		var err error
		v, err = ns.read(ctx, ns.rc.B().Hget().Key(pkey).Field(skey).Build()).ToString()
		found = err == nil
		if rueidis.IsRedisNil(err) {
			return nil
		}
		return err
	})
	if err == nil && !found {
		err = &Error{Op: "PrefixGet", Key: pkey, Kind: ErrNotFound}
	}
	return []byte(v), err
}

// PrefixGetAll returns every secondary key of pkey with its value, through
// the local cache when there is one; an empty map when pkey is missing.
func (ns *Namespace) PrefixGetAll(ctx context.Context, pkey string) (map[string][]byte, error) {
	var m map[string]string
	err := ns.run(ctx, "PrefixGetAll", pkey, resend, func(ctx context.Context, _ int) error {
		var err error
		m, err = ns.read(ctx, ns.rc.B().Hgetall().Key(pkey).Build()).AsStrMap()
		return err
	})
	out := make(map[string][]byte, len(m))
	for k, v := range m {
		out[k] = []byte(v)
	}
	return out, err
}

// PrefixDelete removes secondary keys of pkey and returns how many existed
// (pkey disappears with its last secondary key).
func (ns *Namespace) PrefixDelete(ctx context.Context, pkey string, skeys ...string) (int, error) {
	if len(skeys) == 0 {
		return 0, nil
	}
	var n int64
	err := ns.run(ctx, "PrefixDelete", pkey, resend, func(ctx context.Context, _ int) error {
		var err error
		n, err = ns.rc.Do(ctx, ns.rc.B().Hdel().Key(pkey).Field(skeys...).Build()).AsInt64()
		return err
	})
	return int(n), err
}

// Bound is an end of a Range: Unbounded (the zero value), Inclusive(skey) or
// Exclusive(skey).
type Bound struct {
	skey      string
	set       bool
	exclusive bool
}

// Unbounded is no limit at that end of a Range.
var Unbounded = Bound{}

// Inclusive is a bound that includes skey.
func Inclusive(skey string) Bound { return Bound{skey: skey, set: true} }

// Exclusive is a bound that excludes skey.
func Exclusive(skey string) Bound { return Bound{skey: skey, set: true, exclusive: true} }

// arg renders b as HRANGEBYLEX takes it; inf is "-" or "+" for Unbounded.
func (b Bound) arg(inf string) string {
	switch {
	case !b.set:
		return inf
	case b.exclusive:
		return "(" + b.skey
	}
	return "[" + b.skey
}

// Range selects secondary keys of a primary key in byte order (Tair's
// get_range): those between From and To, skipping Offset of them and
// returning at most Limit (0: all). Reverse walks from To down to From.
type Range struct {
	From, To Bound
	Offset   int
	Limit    int
	Reverse  bool
	KeysOnly bool // return the secondary keys without their values
}

// PrefixRange returns the secondary keys of pkey that r selects, in order
// (HRANGEBYLEX, or HREVRANGEBYLEX when r.Reverse); none when pkey is missing.
func (ns *Namespace) PrefixRange(ctx context.Context, pkey string, r Range) ([]Field, error) {
	if r.Offset < 0 || r.Limit < 0 {
		return nil, &Error{Op: "PrefixRange", Key: pkey, Cause: errOpt("Offset and Limit must not be negative")}
	}
	name, args := "HRANGEBYLEX", []string{r.From.arg("-"), r.To.arg("+")}
	if r.Reverse {
		name, args = "HREVRANGEBYLEX", []string{r.To.arg("+"), r.From.arg("-")}
	}
	if r.Limit > 0 || r.Offset > 0 {
		limit := r.Limit
		if limit == 0 {
			limit = -1
		}
		args = append(args, "LIMIT", strconv.Itoa(r.Offset), strconv.Itoa(limit))
	}
	if r.KeysOnly {
		args = append(args, "NOVALUES")
	}
	var flat []string
	err := ns.run(ctx, "PrefixRange", pkey, resend, func(ctx context.Context, _ int) error {
		var err error
		flat, err = ns.rc.Do(ctx, ns.rc.B().Arbitrary(name).Keys(pkey).Args(args...).ReadOnly()).AsStrSlice()
		return err
	})
	if err != nil {
		return nil, err
	}
	var out []Field
	if r.KeysOnly {
		out = make([]Field, len(flat))
		for i, k := range flat {
			out[i] = Field{Key: k}
		}
		return out, nil
	}
	if len(flat)%2 != 0 {
		return nil, &Error{Op: "PrefixRange", Key: pkey, Cause: errReply(name)}
	}
	out = make([]Field, 0, len(flat)/2)
	for i := 0; i < len(flat); i += 2 {
		out = append(out, Field{Key: flat[i], Value: []byte(flat[i+1])})
	}
	return out, nil
}
