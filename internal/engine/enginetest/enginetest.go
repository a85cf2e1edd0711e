// Package enginetest is the conformance suite of the engine.Engine interface:
// the behaviour every storage engine must show (versions, the rules of Set,
// Update and UpdateMany, lazy expiry, scans, counts, drops, atomicity under
// concurrency, ...), written once and run by each engine's tests:
//
//	func TestConformance(t *testing.T) {
//		enginetest.Run(t, func(t *testing.T) engine.Engine { ... }, enginetest.Options{...})
//	}
//
// Where engines may legitimately differ (whether a read that meets an expired
// item removes it, whether the quota is enforced, ...), Options says which
// way the engine under test goes, and the suite checks that exactly. Tests of
// what only one engine has (arenas and eviction, persistence and the sweep)
// stay in that engine's package; they may use the helpers here.
//
// It is a normal package, not a _test one, so that the tests of both engines
// can import it; only tests should.
package enginetest

import (
	"encoding/binary"
	"fmt"
	"testing"
	"time"

	"github.com/cespare/xxhash/v2"

	"granary/internal/engine"
)

// numBuckets is the number of buckets of every engine; larger bucket numbers
// wrap around.
const numBuckets = 16384

// Options describes the engine under test: hooks into its internals and the
// ways it legitimately differs from other engines. The zero value describes
// an engine with none of the optional behaviours.
type Options struct {
	// Check verifies the engine's internal consistency (counters against
	// contents, indexes against data). The suite calls it whenever the engine
	// is idle. Optional.
	Check func(t testing.TB, e engine.Engine)
	// Settle waits for background work that DropBucket and Flush leave to
	// finish, so that Check holds again. Optional.
	Settle func(t testing.TB, e engine.Engine)
	// Maintain runs the engine's background maintenance once, synchronously
	// (the randomized tests call it now and then). Optional.
	Maintain func(e engine.Engine)

	// MaxItemSize is the per-item limit of the engines open returns; it must
	// exceed 5 MiB, the largest value the suite stores.
	MaxItemSize int
	// EnforcesQuota: Set returns engine.ErrOOM for an item larger than the
	// quota. Otherwise the quota is only reported in Stats.
	EnforcesQuota bool
	// ReadsExpire: Get, Touch, Update and UpdateMany remove an expired item
	// they meet (and count an expiration) even when they write nothing.
	// Otherwise only writers and background expiry remove expired items.
	// ScanBucket never removes them.
	ReadsExpire bool
	// ScanSorted: ScanBucket yields a bucket's keys in ascending byte order.
	ScanSorted bool
	// AtomicBatches: UpdateMany validates every outcome before it applies
	// any, so one invalid outcome (a bad type) leaves the batch unapplied.
	// Otherwise outcomes before the invalid one may stay applied.
	AtomicBatches bool
	// SetAllocs is the most allocations a Set of an existing key may make.
	SetAllocs float64
	// SkipAllocs skips the allocation tests (their counts mean nothing, for
	// example under the race detector for an engine that uses sync.Pool).
	SkipAllocs bool
	// Light runs the randomized and concurrency tests at a smaller size,
	// for engines whose every write is I/O.
	Light bool
}

// Run runs the conformance suite, one subtest per behaviour. open returns a
// new, empty engine that is closed when t ends, whose background expiry does
// not run during a test (a long interval) and whose per-item limit is
// o.MaxItemSize. The subtests run one after the other: the allocation tests
// count every allocation of the process.
func Run(t *testing.T, open func(t *testing.T) engine.Engine, o Options) {
	if o.MaxItemSize <= 5<<20 {
		t.Fatalf("enginetest: MaxItemSize %d, want more than 5 MiB", o.MaxItemSize)
	}
	h := &harness{open: open, Options: o}
	for _, tc := range []struct {
		name string
		run  func(t *testing.T, h *harness)
	}{
		{"GetSetDelete", testGetSetDelete},
		{"SetVersion", testSetVersion},
		{"Update", testUpdate},
		{"UpdateAliasing", testUpdateAliasing},
		{"UpdateMany", testUpdateMany},
		{"ScanCountDrop", testScanCountDrop},
		{"LargeValues", testLargeValues},
		{"Model", testModel},
		{"LazyExpiry", testLazyExpiry},
		{"Digest", testDigest},
		{"GetDoesNotAllocate", testGetDoesNotAllocate},
		{"SetAllocations", testSetAllocations},
		{"ConcurrentCounters", testConcurrentCounters},
		{"ConcurrentTransfers", testConcurrentTransfers},
	} {
		t.Run(tc.name, func(t *testing.T) { tc.run(t, h) })
	}
}

// harness is what the tests of the suite share: the engine's opener and
// options.
type harness struct {
	open func(t *testing.T) engine.Engine
	Options
}

func (h *harness) check(t testing.TB, e engine.Engine) {
	t.Helper()
	if h.Check != nil {
		h.Check(t, e)
	}
}

// settle waits for the clean-up after a drop or flush, then checks.
func (h *harness) settle(t testing.TB, e engine.Engine) {
	t.Helper()
	if h.Settle != nil {
		h.Settle(t, e)
	}
	h.check(t, e)
}

func (h *harness) maintain(e engine.Engine) {
	if h.Maintain != nil {
		h.Maintain(e)
	}
}

// size picks a test's size: full, or light for a Light engine.
func (h *harness) size(full, light int) int {
	if h.Light {
		return light
	}
	return full
}

// Now is the time the tests run at, in Unix ms: real time (read once), so
// that an engine's background expiry agrees with them.
var Now = time.Now().UnixMilli()

// Str is a string item with the value v.
func Str(v string) engine.Item { return engine.Item{Type: engine.TypeString, Value: []byte(v)} }

// MustSet sets k at Now and returns the stored version.
func MustSet(t testing.TB, e engine.Engine, b uint16, k string, it engine.Item) uint64 {
	t.Helper()
	v, err := e.Set(b, []byte(k), it, Now)
	if err != nil {
		t.Fatalf("Set(%q): %v", k, err)
	}
	return v
}

// Get returns k's item (its value copied) and whether k is live at now.
func Get(e engine.Engine, b uint16, k string, now int64) (engine.Item, bool) {
	it, _, ok := e.Get(b, []byte(k), now, nil)
	return it, ok
}

// KeyOf is the i'th key of the model-style tests.
func KeyOf(i int) string { return fmt.Sprintf("key-%06d", i) }

// Key16 appends to buf[:0] the 16-byte key number i and returns it with the
// bucket it routes to.
func Key16(buf []byte, i int) ([]byte, uint16) {
	buf = append(buf[:0], "key:"...)
	buf = binary.BigEndian.AppendUint64(buf, uint64(i))
	buf = append(buf, "abcd"...)
	return buf, uint16(xxhash.Sum64(buf) % numBuckets)
}

// Keys returns the keys 0..n-1 of Key16 and their buckets.
func Keys(n int) ([][]byte, []uint16) {
	keys := make([][]byte, n)
	buckets := make([]uint16, n)
	for i := range keys {
		keys[i], buckets[i] = Key16(nil, i)
	}
	return keys, buckets
}

// Load sets the keys 0..n-1 of Key16 to values of vlen zero bytes. It makes
// no per-key allocation, so tests of the engine's heap can use it.
func Load(t testing.TB, e engine.Engine, n, vlen int) {
	t.Helper()
	val := make([]byte, vlen)
	var kb []byte
	for i := 0; i < n; i++ {
		k, b := Key16(kb, i)
		kb = k
		if _, err := e.Set(b, k, engine.Item{Type: engine.TypeString, Value: val}, Now); err != nil {
			t.Fatal(err)
		}
	}
}
