// Package disk is the persistent storage engine (Tair's LDB) on
// cockroachdb/pebble.
//
// # Store and namespaces
//
// A data server opens one Store (one pebble DB) and takes one Engine per
// namespace from it with Store.Namespace. Every Engine implements
// engine.Engine with the semantics of the in-memory engine: versions, absolute
// expiry in Unix ms supplied by the caller, lazy expiry (an expired item is
// invisible to every method), atomic Update and UpdateMany. Buckets are taken
// modulo NumBuckets, as in package mem.
//
// # Key layout
//
//	'd' ns(2 BE) bucket(2 BE) userkey          data: one item
//	'e' expiry(8 BE) ns(2 BE) bucket(2 BE) userkey   expiry index, empty value
//	'm' callerkey                                   metadata (replication)
//
// A bucket of a namespace, and a whole namespace, are contiguous ranges of
// data keys: ScanBucket iterates one range and DropBucket and Flush delete one
// with a single range tombstone. The value of a data key is a small header
// followed by the value bytes (value.go):
//
//	flags(1: bits 0-5 type, bit 6 expiry present, bit 7 reserved = 0)
//	version(uvarint) [expiry(8 BE, only with bit 6)] value
//
// Every item with an expiry has an expiry-index key, written and deleted in
// the same batch as the item, so the background sweep (expire.go) reads only
// index keys that are due. Index keys whose item is gone or has another expiry
// (left behind by an ingested replacement, or by a drop racing a writer) are
// harmless: the sweep checks the item under its lock and deletes just the
// index key. A negative expiry is indexed at 0.
//
// # Concurrency
//
// Writers (Set, Update, UpdateMany, the sweep) lock one of numStripes mutexes
// chosen by a hash of namespace, bucket and key, read the old item (for the
// version, the old index key and the counters) and commit one batch, or under
// SyncInterval stage it (staged.go). Reads (Get, Touch, ScanBucket) take no
// stripe lock: pebble reads are consistent point-in-time views, and a point
// read that misses the row cache looks at the staged writes under their
// read lock first; a scan drains them first. Reads never write, so an
// expired item that nobody writes stays on disk until the sweep removes it,
// at most about one SweepInterval after it expires. DropBucket, Flush and
// Ingest lock every stripe for the moment of their commit.
//
// # Row cache
//
// Between the engines and pebble sits a row cache (rowcache.go): an
// in-memory engine holding recently read and written items, and the absence
// of recently missed keys, shared by all namespaces. Get and the writers'
// read of the old item look there first; a bucket known to be complete in
// the cache (and without items that expire) is not searched in pebble at
// all. Writers update it under their stripe after the commit (or staging);
// readers fill it only if no write to their stripe committed during their
// read.
//
// # Durability
//
// Every write goes through pebble's write-ahead log, data and metadata alike,
// so a write is never recovered without the writes committed before it.
//
//   - SyncAlways: every write batch is committed with pebble.Sync: it is on
//     stable storage when the call returns. Concurrent writers share fsyncs
//     through pebble's commit pipeline (group commit).
//   - SyncInterval: writes are staged in memory (staged.go), and a background
//     goroutine drains them into pebble as one batch, then flushes and fsyncs
//     the WAL, every SyncInterval. The staged writes and the unsynced tail of
//     the WAL are in process memory until then, so about one interval of
//     acknowledged writes can be lost on power failure and on a process crash
//     alike (this is Redis' appendfsync everysec, minus the page cache); what
//     survives is a prefix of them. Close drains and syncs.
//
// The sweep and index clean-up commit without sync in both modes: losing them
// brings back items that are expired (so invisible) or index keys that point
// nowhere (so ignored), both removed again by the next sweep.
//
// # Counts and bytes
//
// CountBucket and Stats come from per-bucket counters kept in memory and
// adjusted by every write (writers read the old item anyway). They are not
// persisted: Open starts a background pass over the data keys that adds what
// it finds to the counters, so until Store.Ready is closed counts are partial
// (low). Writes made meanwhile are counted exactly, because the pass reads a
// snapshot taken before any of them and the counters are additive. DropBucket
// and Flush reset their buckets; Ingest resets the buckets its files cover and
// recounts them from a snapshot taken right after the ingestion, before it
// returns. Expired items not yet removed are counted, as the interface allows.
//
// Stats.Bytes is the logical size of the namespace: the sum of the lengths of
// its data keys and encoded values, kept exactly with the counters. It ignores
// compression, index keys and LSM overhead; Store.DiskUsage reports what the
// whole store takes on disk.
//
// Quotas: SetQuota is recorded and reported in Stats.Quota, but a disk
// namespace is not limited or evicted by it (disk space is a server-level
// concern); Set never returns engine.ErrOOM.
//
// # Bulk load
//
// BucketFile encodes one bucket's sorted items for an import; Engine.Ingest
// checks a call's bucket files and writes their items, in bucket order, and
// then their expiry-index keys, into one SST in the store's exact format,
// which Store.Ingest links into the DB (bucketfile.go, sst.go).
package disk
