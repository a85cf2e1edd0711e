// Package engine defines the storage-engine interface that every layer above
// storage uses. The bucket (0..16383) is the unit of iteration and deletion, so
// migration, snapshots, verification and dropping a bucket all work the same way
// on every engine.
//
// An engine instance holds one namespace. Times are Unix milliseconds passed in
// by the caller, so that a command sees one consistent "now" and tests can
// control the clock.
package engine

import "errors"

// Type is the type of a stored value.
type Type uint8

// Value types. A hash's value is an encoded field list (see package hashenc);
// the engine stores it as opaque bytes.
const (
	TypeString Type = 1
	TypeHash   Type = 2
)

// Item is one stored value with its metadata.
//
// Value slices handed to callbacks point into engine memory and are valid only
// until the callback returns. Value slices handed to the engine are copied.
type Item struct {
	Type    Type
	Version uint64 // Tair version: 1 on creation, +1 on every update, settable by EXSETVER/ABS.
	Expire  int64  // absolute expiry in Unix ms; 0 = none. Alive while now <= Expire, as Redis.
	Value   []byte
}

// Op says what an Update callback wants done.
type Op uint8

const (
	OpKeep   Op = iota // leave the key as it was (read-only outcome)
	OpPut              // store the returned item
	OpDelete           // delete the key
)

// Errors returned by engines.
var (
	// ErrOOM means the namespace's quota is reached and nothing could be evicted
	// to make room (or the item alone is larger than the quota).
	ErrOOM = errors.New("OOM command not allowed when used memory > 'maxmemory'")
	// ErrTooLarge means the item exceeds the engine's per-item limit.
	ErrTooLarge = errors.New("item too large")
)

// Engine stores one namespace's items. All methods are safe for concurrent use.
// Expired items are invisible to every method (lazy expiry) and are removed by
// the engine in the background (active expiry).
type Engine interface {
	// Get appends the live item's value to dst and returns its metadata (with
	// Value set to the appended part of the returned slice). It is the hot read
	// path and must not allocate beyond growing dst.
	Get(bucket uint16, key []byte, now int64, dst []byte) (it Item, out []byte, ok bool)

	// Set stores item unconditionally (the hot write path). If the key exists
	// its version is carried on: the new version is old+1 when item.Version is
	// 0, else item.Version. A new key gets version 1 when item.Version is 0.
	// It returns the stored version.
	Set(bucket uint16, key []byte, item Item, now int64) (version uint64, err error)

	// Update runs fn atomically on one key. cur is nil when the key is absent or
	// expired. When fn returns OpPut, next is stored as given (the engine does not
	// touch next.Version: fn decides it). fn must not call back into the engine.
	Update(bucket uint16, key []byte, now int64, fn func(cur *Item) (next Item, op Op)) error

	// UpdateMany runs fn atomically over several keys (which may be in different
	// buckets): cur[i] is nil when keys[i] is absent. fn fills next[i] and ops[i]
	// (both pre-sized to len(keys), ops preset to OpKeep). Duplicate keys are
	// allowed; a later index wins. Outcomes are applied in key order: on
	// ErrOOM the earlier ones may stay applied (as MSET under Redis'
	// maxmemory, which checks once per command, not per key).
	UpdateMany(buckets []uint16, keys [][]byte, now int64, fn func(cur []*Item, next []Item, ops []Op)) error

	// Touch refreshes the key's recency for eviction without reading it.
	// It reports whether the key exists.
	Touch(bucket uint16, key []byte, now int64) bool

	// ScanBucket calls fn for every live item of the bucket, in no fixed order,
	// until fn returns false. The key and value slices are valid only during fn.
	// fn must not call back into the engine, and should copy out rather than
	// block: engines may hold a lock over part of the data while it runs.
	ScanBucket(bucket uint16, now int64, fn func(key []byte, it *Item) bool)

	// CountBucket returns the number of items stored in the bucket (expired
	// items not yet removed may be counted).
	CountBucket(bucket uint16) int

	// DropBucket deletes every item of the bucket.
	DropBucket(bucket uint16)

	// Flush deletes everything.
	Flush()

	// Stats returns counters for INFO and metrics.
	Stats() Stats

	// SetQuota changes the memory quota in bytes (0 = unlimited). Items are
	// evicted (approximately least recently used) to stay within it.
	SetQuota(bytes int64)

	// Close stops background work and frees memory.
	Close() error
}

// Ingester is implemented by engines that take whole files of sorted items
// (bulk import): files[i] holds items of bucket buckets[i] only, in the
// engine's own file format, and replaces existing keys. All files are added
// at once, or none.
type Ingester interface {
	Ingest(buckets []uint16, files [][]byte) error
}

// Persistent is implemented by engines whose data survives a restart. Their
// calls may wait for the disk (writes with sync always for fsync, reads of
// data not cached for a read, writes for back-pressure): the server's
// event loop, which serves many connections on one goroutine, hands a
// connection that uses such an engine to a goroutine of its own, and
// replication persists the positions of their buckets.
type Persistent interface {
	Persistent() bool
}

// Prefetcher is implemented by engines that can start loading into the CPU
// cache what their in-memory lookups of keys will touch (the disk engine:
// its row cache's), so that a pipeline's lookups overlap their waits for
// memory. keys[i] is in bucket buckets[i]; it is a hint only, and looks at
// PrefetchKeys keys at most.
type Prefetcher interface {
	Prefetch(buckets []uint16, keys [][]byte)
}

// PrefetchKeys is the most keys a Prefetch call looks at.
const PrefetchKeys = 32

// Stats are an engine's counters. Bytes is the memory the engine accounts
// against its quota (item data plus its own index and allocator overhead).
type Stats struct {
	Items       int64
	ItemsExpire int64 // items with an expiry set
	Bytes       int64
	Quota       int64
	Evictions   uint64
	Expirations uint64
}
