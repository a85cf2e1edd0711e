// Package tracking is the server side of client-side caching: Redis 6+'s
// CLIENT TRACKING, as rueidis, go-redis and the other RESP3 clients use it.
//
// # What is tracked
//
// In the default mode a data server remembers, per bucket, namespace and key,
// which clients read the key (Table.Remember, called by command dispatch for
// every read command of a tracking connection). When the key changes, each of
// them gets one invalidation and is forgotten for that key, as in Redis. In
// BCAST mode nothing is remembered: every change of a key that starts with
// one of the client's prefixes is sent. Keys are remembered per namespace: a
// write in namespace 2 does not invalidate a read made in namespace 1 (Redis
// keys its table by name only; per namespace is as safe and more precise).
//
// # Where changes are seen
//
// There is no engine wrapper: every way a key changes reaches Table through
// one of these points, and each costs nothing (a nil check or one atomic
// load of a counter that stays zero) while no client tracks anything:
//
//   - commands: Dispatch calls Invalidate for every key of a write command
//     once the handler has run (its keys are the command's key positions);
//     a write that changed nothing (SET NX on an existing key) invalidates
//     too, which is harmless;
//   - FLUSHDB/FLUSHALL: Flush, an invalidation with a null key list to
//     every tracking client;
//   - expiry (lazy and active) and eviction: the mem engine's OnRemove
//     callback (mem.Options), wired by the data server;
//   - replication on a secondary (applied records, snapshots) and buckets a
//     node drops (losing a bucket, catch-up by snapshot, orphans): the
//     replication.Watcher interface, which Table implements (KeyChanged,
//     BucketDropped). Secondaries serve READONLY reads, so their readers
//     are tracked like a primary's.
//
// A hook in dispatch was chosen over an engine wrapper because dispatch knows
// the writing connection, which NOLOOP and the ordering below need, and
// because it adds no interface call to the engine's read path.
//
// # Ordering
//
// A reader's key is remembered before its read runs, so a concurrent write
// either is seen by the read or finds the reader in the table. Invalidations
// are queued (Outbox) before the write's reply is queued, so once a write is
// acknowledged its invalidations are on their way (Redis' guarantee). A
// connection writes its queued pushes only between batches of replies, so a
// push never overtakes the reply of a read that ran before the write (rueidis
// and the other clients ignore an invalidation for a read still in flight).
// The invalidation of a key the writing connection itself tracks is inserted
// just before the write's reply (Redis 7 sends it just after): a client that
// shares one connection for its writes and its cached reads, as rueidis does,
// has dropped its cached copy when it sees the acknowledgement.
//
// # Delivery
//
// Pushes for a connection wait in its Outbox. Queueing one interrupts the
// connection's blocked read (a read deadline in the past), and the
// connection's own goroutine writes the pushes: one writer per socket, no
// lock on the reply path. An Outbox over its limit closes its connection
// (Redis' client-output-buffer-limit).
//
// RESP3 connections get ">2 invalidate [keys]" pushes. A RESP2 connection
// can only receive them through REDIRECT to a connection subscribed to
// __redis__:invalidate, as "message" replies; package command implements
// SUBSCRIBE for that channel only.
//
// # Memory
//
// The table holds at most MaxKeys keys (Redis' tracking-table-max-keys):
// beyond that, keys are evicted and their readers invalidated.
package tracking
