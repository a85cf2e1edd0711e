// Package client is the Go client of Granary, a distributed key-value store
// in the architecture of Alibaba's Tair, with Tair's client API in Go's
// terms.
//
// A Client learns the routing table (16384 buckets, each served by a primary
// data server) from any config server or data server, and then sends every
// request straight to the primary of the key's bucket, following the
// cluster as it changes (MOVED, ASK, TRYAGAIN, a periodic refresh). It is
// built on rueidis (github.com/redis/rueidis), which speaks RESP3 and
// pipelines concurrent calls over one connection per data server.
//
//	c, err := client.New(client.Options{Addrs: []string{"10.0.0.1:5198", "10.0.0.2:5198"}})
//	if err != nil { ... }
//	defer c.Close()
//	users, err := c.Namespace(1)
//	if err != nil { ... }
//	ver, err := users.Put(ctx, "user:42", []byte("ada"), client.WithTTL(time.Hour))
//	it, err := users.Get(ctx, "user:42")          // it.Value, it.Version
//	_, err = users.CompareAndSwap(ctx, "user:42", []byte("ada lovelace"), it.Version)
//	if errors.Is(err, client.ErrVersionMismatch) { ... someone wrote in between ... }
//
// # Namespaces
//
// A namespace (Tair's area, 0..65535) is a separate key space with its own
// engine, quota, acknowledgement mode and flow limit, defined by the
// operator (granary ctl namespace create). Client.Namespace returns a
// handle; all calls go through handles.
//
// # Calls
//
//   - Items with versions and expiry: Get, Put (WithTTL, WithExpireAt,
//     KeepTTL, IfAbsent, IfExists, IfVersion), CompareAndSwap, SetVersion,
//     Delete, DeleteIfVersion. Every write raises a key's version by one.
//   - Counters: Incr, Decr, with WithInitial, WithMin, WithMax and an expiry
//     set when the counter is created.
//   - Several keys at once, across buckets: MGet, MPut, MDelete (one
//     pipeline per data server, all in parallel).
//   - Prefix keys (Tair's pkey/skey, all in one bucket): PrefixPut,
//     PrefixPutMany, PrefixGet, PrefixGetAll, PrefixDelete, and PrefixRange,
//     an ordered range read.
//   - Locks with fencing tokens: TryLock, Lock, Unlock.
//
// # Errors
//
// Calls return an *Error that matches one of ErrNotFound, ErrExists,
// ErrVersionMismatch, ErrOutOfRange, ErrThrottled, ErrWrongType,
// ErrNotInteger, ErrLocked, ErrLockLost, ErrUncertain, ErrUnavailable,
// ErrClosed with errors.Is, or wraps the server's reply or the network error.
//
// # Retries and flow control
//
// A request the cluster did not serve is sent again after a wait that grows
// exponentially, with jitter, within Options.Backoff and the call's context:
// a namespace over its flow limit (THROTTLED; ErrThrottled when it stays
// so), a bucket changing hands during a failover or a migration (TRYAGAIN,
// CLUSTERDOWN), a data server that cannot be reached. A request whose
// connection failed after it was sent may have been applied: calls for which
// a second application is harmless, or which can check for their own first
// one (conditional Put, CompareAndSwap, TryLock, Unlock), are sent again;
// Incr and Decr return ErrUncertain instead of counting twice.
//
// # Local cache
//
// With Options.Cache.TTL set, Get, MGet, PrefixGet and PrefixGetAll keep
// what they read in a bounded memory cache (Tair's LocalCache), and the data
// servers tell the client when a cached key changes (CLIENT TRACKING, RESP3
// invalidation pushes), so a cached read never returns a value older than
// this client's own acknowledged writes. Item.Cached tells a cached answer.
//
// docs/client.md in the Granary repository has a guide; examples/ has
// programs (cache-aside, sessions, rate limiting, a lock with fencing).
package client
