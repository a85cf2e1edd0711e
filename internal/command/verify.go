package command

import (
	"fmt"
	"strconv"

	"granary/internal/engine"
	"granary/internal/namespace"
	"granary/internal/replication"
	"granary/internal/routing"
)

// Anti-entropy (granary ctl verify), on the data servers' RESP port:
//
//	GRANARY.DIGEST cutoff-ms namespace|* bucket [bucket ...]
//	GRANARY.DIGESTKEYS cutoff-ms namespace|* bucket
//	GRANARY.RESYNC secondary-node-id bucket [bucket ...]
//	GRANARY.DEBUG-SETLOCAL key value   (only with --enable-debug-commands)
//
// DIGEST answers on primaries and secondaries alike, one reply per bucket:
// [bucket, lsn, term, held, [[namespace, count, sum (16 hex digits),
// evicts], ...]]. DIGESTKEYS lists one bucket's items instead, to narrow a
// difference down to keys: [bucket, lsn, term, held, [[namespace, key,
// hash], ...]]. RESYNC, sent to a bucket's primary, makes it send the
// named secondary a fresh snapshot of the buckets.
func init() {
	register(
		&Spec{Name: "granary.digest", Arity: -4, Flags: FlagAdmin | FlagStale | FlagNoMulti, Handler: cmdDigest},
		&Spec{Name: "granary.digestkeys", Arity: 4, Flags: FlagAdmin | FlagStale | FlagNoMulti, Handler: cmdDigestKeys},
		&Spec{Name: "granary.resync", Arity: -3, Flags: FlagAdmin | FlagNoMulti, Handler: cmdResync},
		&Spec{Name: "granary.debug-setlocal", Arity: 3, Flags: FlagAdmin | FlagWrite | FlagNoMulti, Handler: cmdDebugSetLocal},
	)
}

// parseBuckets parses bucket numbers (0..16383).
func parseBuckets(args [][]byte) ([]uint16, error) {
	out := make([]uint16, len(args))
	for i, a := range args {
		n, ok := parseInt(a)
		if !ok || n < 0 || n >= routing.Buckets {
			return nil, fmt.Errorf("ERR invalid bucket '%s': want 0-%d", clip(a), routing.Buckets-1)
		}
		out[i] = uint16(n)
	}
	return out, nil
}

const errClusterOnly = "ERR replication is off on this server (standalone): nothing to verify"

func cmdDigest(c *Ctx) {
	cutoff, ns, buckets, ok := digestArgs(c)
	if !ok {
		return
	}
	ds := c.N.Repl.Digests(buckets, ns, cutoff)
	c.W.Array(len(ds))
	for _, d := range ds {
		writeDigestHead(c, d)
		c.W.Array(len(d.NS))
		for _, n := range d.NS {
			c.W.Array(4)
			c.W.Int(int64(n.ID))
			c.W.Int(int64(n.Count))
			c.W.BulkString(fmt.Sprintf("%016x", n.Sum))
			c.W.Int(boolInt(n.Evicts))
		}
	}
}

func cmdDigestKeys(c *Ctx) {
	cutoff, ns, buckets, ok := digestArgs(c)
	if !ok {
		return
	}
	d, keys := c.N.Repl.DigestKeys(buckets[0], ns, cutoff)
	writeDigestHead(c, d)
	c.W.Array(len(keys))
	for _, k := range keys {
		c.W.Array(3)
		c.W.Int(int64(k.NS))
		c.W.Bulk(k.Key)
		c.W.BulkString(fmt.Sprintf("%016x", k.Hash))
	}
}

// digestArgs parses the cutoff, namespace (-1: every one) and buckets of
// GRANARY.DIGEST and DIGESTKEYS, or replies with an error.
func digestArgs(c *Ctx) (cutoff int64, ns int, buckets []uint16, ok bool) {
	cutoff, ok = parseInt(c.Args[1])
	if !ok || cutoff < 0 {
		c.Err("ERR invalid cutoff: want Unix milliseconds")
		return 0, 0, nil, false
	}
	ns = -1
	if string(c.Args[2]) != "*" {
		n, ok := parseInt(c.Args[2])
		if !ok || n < 0 || n > namespace.Max {
			c.Err("ERR invalid namespace: want 0-65535 or *")
			return 0, 0, nil, false
		}
		ns = int(n)
	}
	buckets, err := parseBuckets(c.Args[3:])
	if err != nil {
		c.Err(err.Error())
		return 0, 0, nil, false
	}
	if c.N.Repl == nil {
		c.Err(errClusterOnly)
		return 0, 0, nil, false
	}
	return cutoff, ns, buckets, true
}

// writeDigestHead writes a digest's array header and first four fields:
// the fifth, a list, is the caller's.
func writeDigestHead(c *Ctx, d replication.BucketDigest) {
	c.W.Array(5)
	c.W.Int(int64(d.Bucket))
	c.W.Int(int64(d.LSN))
	c.W.Int(int64(d.Term))
	c.W.Int(boolInt(d.Held))
}

func boolInt(b bool) int64 {
	if b {
		return 1
	}
	return 0
}

func cmdResync(c *Ctx) {
	buckets, err := parseBuckets(c.Args[2:])
	if err != nil {
		c.Err(err.Error())
		return
	}
	if c.N.Repl == nil {
		c.Err(errClusterOnly)
		return
	}
	if err := c.N.Repl.Resync(string(c.Args[1]), buckets); err != nil {
		c.Err("ERR " + err.Error())
		return
	}
	c.W.Int(int64(len(buckets)))
}

// cmdDebugSetLocal stores a string in this node's copy of the key's bucket
// only (no replication), so that tests can make replicas differ.
func cmdDebugSetLocal(c *Ctx) {
	if !c.N.Config.DebugCommands {
		c.Err("ERR GRANARY.DEBUG-SETLOCAL is disabled: start the data server with --enable-debug-commands (tests only)")
		return
	}
	if c.N.Repl == nil {
		c.Err(errClusterOnly)
		return
	}
	key := c.Args[1]
	v, err := c.N.Repl.SetLocal(c.NS, routing.Bucket(key), key, engine.Item{Type: engine.TypeString, Value: c.Args[2]}, c.Now)
	if err != nil {
		c.Err("ERR " + err.Error())
		return
	}
	c.W.BulkString(strconv.FormatUint(v, 10))
}
