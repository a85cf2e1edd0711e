// Package replication replicates buckets from their primary to their
// secondaries, PacificA-style (design, section 5).
//
// # Log
//
// Every write a data server applies, as primary or as secondary, is one
// record in a node-wide in-memory log: the result (value, version, absolute
// expiry, or a delete), never the command, with the bucket's log sequence
// number (LSN) and the primary term it was written in. Records of a bucket
// are numbered 1, 2, 3... in the order they were applied; the log keeps the
// last LogBytes of records (Doris' temporary log) for catch-up by replay.
//
// # Links
//
// A primary keeps one link to each peer that is a secondary of any of its
// buckets: a TCP connection to the peer's RESP port, upgraded with
// GRANARY.REPL <secret> <node-id> and then carrying length-prefixed frames
// both ways. On connect the peer reports its (LSN, term) of every bucket;
// for each bucket the link then sends nothing (equal), the records the peer
// misses (log replay, when the log still holds them and the peer's last
// entry matches ours) or a snapshot streamed from the engines, and from then
// on every new record of the buckets the peer replicates. The peer applies
// records in LSN order, refuses records of an older term (a deposed primary)
// and acknowledges frames; a bucket's committed LSN is the smallest LSN every
// secondary of the current table acknowledged.
//
// # Acknowledgement
//
// In a sync namespace a connection's replies are held until every write and
// read of the batch is committed: a reply never reports a write that a
// failover could lose, nor a value that could vanish. Async namespaces reply
// at once.
//
// # Leases
//
// Per node pair, not per bucket: the primary pings each secondary every
// Lease/4; a secondary grants the lease when the primary's table is at least
// as new as its own. The primary serves a bucket while every secondary's
// grant is younger than Lease, measured from when it sent the ping. A
// secondary that sees a bucket's primary change waits until Lease plus a
// margin has passed since its last grant to the old primary before it serves
// the bucket as the new primary.
//
// Clock assumption: the monotonic clocks of two data servers advance at rates
// that differ by less than the margin (Lease/10 + 50ms over one lease period,
// i.e. 10%); wall clocks may jump, they are not used for leases.
package replication
