// Package mem is the in-memory storage engine (Tair's MDB).
//
// Items live in large pointer-free byte arenas and are found through
// pointer-free per-bucket hash tables of uint64 entries, so the Go heap holds
// O(shards + blocks + buckets) objects however many items are stored.
//
// Layout: item.go (item encoding), index.go (per-bucket tables), arena.go
// (allocator and compaction), shard.go (per-shard operations), clock.go (LRU
// clock), evict.go (quota and eviction), expire.go (active expiry and
// maintenance), update.go (Update and UpdateMany).
//
// Stats().Bytes counts arena blocks and index tables; the fixed per-engine
// overhead (shard and bucket headers, about 0.8 MB with 256 shards) is not
// charged to the quota.
package mem

import (
	"math/bits"
	"sync"
	"sync/atomic"
	"time"

	"github.com/cespare/xxhash/v2"

	"granary/internal/engine"
)

// NumBuckets is the number of buckets keys are routed to.
const NumBuckets = 16384

var _ engine.Engine = (*Engine)(nil)

// Options configure an Engine. Zero values select the defaults.
type Options struct {
	// Quota is the memory limit in bytes (0 = unlimited).
	Quota int64
	// Shards is the number of lock shards: a power of two in [64, 16384].
	// Default 256.
	Shards int
	// MaxItemSize limits key + value + header bytes. Default 512 MiB.
	MaxItemSize int
	// EvictionSamples is the number of items sampled per eviction (with a
	// pool of the 16 best candidates kept across evictions, as in Redis).
	// Default 5; 10 is closer to true LRU and costs twice the cache misses.
	EvictionSamples int
	// ExpireInterval is the period of the active expiry cycle. Default 100ms.
	ExpireInterval time.Duration
	// ExpireBudget is the most time one expiry cycle may run. Default 25ms.
	ExpireBudget time.Duration
	// OnRemove, when set, is called for every item the engine removes on
	// its own: expired (met by a command, or by active expiry) or evicted to
	// stay within the quota; not for deletes, drops and flushes its callers
	// ask for. It runs under a shard lock with the item's bucket and key
	// (valid only during the call), must be quick and must not call back
	// into the engine. Client-side caching invalidates cached copies with
	// it (package tracking). Unset, removals cost nothing more.
	OnRemove func(bucket uint16, key []byte, why Removal)
}

// Removal says why the engine removed an item on its own (OnRemove).
type Removal uint8

const (
	Expired Removal = iota + 1
	Evicted
)

// Engine is the in-memory engine. Create it with New.
type Engine struct {
	shards     []shard
	shift      uint   // log2(len(shards))
	mask       uint16 // len(shards)-1
	maxItem    int
	samples    int
	interval   time.Duration
	budget     time.Duration
	quota      atomic.Int64
	bytes      atomic.Int64
	blockLimit atomic.Int64 // largest regular block; items over a quarter of it are jumbo
	active     atomic.Int64 // shards holding blocks
	onRemove   func(bucket uint16, key []byte, why Removal)

	expShard int // active-expiry cursor, used only by the expiry goroutine

	closeOnce sync.Once
	stop      chan struct{}
	done      chan struct{}
}

// New creates an engine and starts its background expiry.
func New(opts Options) *Engine {
	n := opts.Shards
	if n == 0 {
		n = 256
	}
	if n < 64 || n > NumBuckets || n&(n-1) != 0 {
		panic("mem: Shards must be a power of two in [64, 16384]")
	}
	e := &Engine{
		shards:   make([]shard, n),
		shift:    uint(bits.TrailingZeros(uint(n))),
		mask:     uint16(n - 1),
		maxItem:  opts.MaxItemSize,
		samples:  opts.EvictionSamples,
		interval: opts.ExpireInterval,
		budget:   opts.ExpireBudget,
		onRemove: opts.OnRemove,
		stop:     make(chan struct{}),
		done:     make(chan struct{}),
	}
	if e.maxItem <= 0 {
		e.maxItem = 512 << 20
	}
	if e.samples <= 0 {
		e.samples = 5
	}
	if e.interval <= 0 {
		e.interval = 100 * time.Millisecond
	}
	if e.budget <= 0 {
		e.budget = 25 * time.Millisecond
	}
	for i := range e.shards {
		e.shards[i].init(e, uint16(i), NumBuckets/n)
	}
	e.setQuota(opts.Quota)
	go e.expireLoop()
	return e
}

// locate maps a bucket to its shard and local bucket index. Buckets beyond
// NumBuckets wrap around.
func (e *Engine) locate(bucket uint16) (*shard, int) {
	bucket &= NumBuckets - 1
	return &e.shards[bucket&e.mask], int(bucket >> e.shift)
}

func (e *Engine) setQuota(q int64) {
	if q < 0 {
		q = 0
	}
	e.quota.Store(q)
	// With a quota, blocks are small enough that every shard can hold
	// several, so the quota is shared out at a fine grain.
	limit := int64(maxBlockSize)
	if q > 0 {
		limit = q / int64(len(e.shards)) / 4
		limit = min(max(limit, minBlock), maxBlockSize)
		limit = 1 << (bits.Len64(uint64(limit)) - 1)
	}
	e.blockLimit.Store(limit)
}

// reserve charges n bytes against the quota if they fit.
func (e *Engine) reserve(n int64) bool {
	for {
		q, b := e.quota.Load(), e.bytes.Load()
		if q > 0 && b+n > q {
			return false
		}
		if e.bytes.CompareAndSwap(b, b+n) {
			return true
		}
	}
}

// over returns by how many bytes the engine exceeds its quota (or <= 0).
func (e *Engine) over() int64 {
	q := e.quota.Load()
	if q == 0 {
		return 0
	}
	return e.bytes.Load() - q
}

func (e *Engine) fits(n int64) bool {
	q := e.quota.Load()
	return q == 0 || e.bytes.Load()+n <= q
}

func (e *Engine) checkSize(size int) error {
	if size > e.maxItem {
		return engine.ErrTooLarge
	}
	if q := e.quota.Load(); q > 0 && int64(size) > q {
		return engine.ErrOOM
	}
	return nil
}

func checkType(t engine.Type) error {
	if t > typeMask {
		return errBadType
	}
	return nil
}

// Get implements engine.Engine.
func (e *Engine) Get(bucket uint16, key []byte, now int64, dst []byte) (engine.Item, []byte, bool) {
	s, lb := e.locate(bucket)
	tag := tagOf(xxhash.Sum64(key))
	s.mu.Lock()
	b := &s.buckets[lb]
	slot, buf, h := s.lookup(b, key, tag, now)
	if slot < 0 {
		s.mu.Unlock()
		return engine.Item{}, dst, false
	}
	setLRU(buf, h.off, s.tick())
	n := len(dst)
	dst = append(dst, buf[h.val():h.val()+h.vlen]...)
	s.mu.Unlock()
	return engine.Item{Type: h.typ(), Version: h.ver, Expire: h.exp, Value: dst[n:len(dst):len(dst)]}, dst, true
}

// Set implements engine.Engine.
func (e *Engine) Set(bucket uint16, key []byte, item engine.Item, now int64) (uint64, error) {
	if err := checkType(item.Type); err != nil {
		return 0, err
	}
	s, lb := e.locate(bucket)
	tag := tagOf(xxhash.Sum64(key))
	s.mu.Lock()
	slot, _, h := s.lookup(&s.buckets[lb], key, tag, now)
	ver := item.Version
	if ver == 0 {
		ver = 1
		if slot >= 0 {
			ver = h.ver + 1
		}
	}
	err := s.put(lb, slot, key, tag, item.Type, ver, item.Expire, item.Value)
	s.mu.Unlock()
	if err != nil {
		return 0, err
	}
	return ver, nil
}

// Touch implements engine.Engine.
func (e *Engine) Touch(bucket uint16, key []byte, now int64) bool {
	s, lb := e.locate(bucket)
	tag := tagOf(xxhash.Sum64(key))
	s.mu.Lock()
	slot, buf, h := s.lookup(&s.buckets[lb], key, tag, now)
	if slot >= 0 {
		setLRU(buf, h.off, s.tick())
	}
	s.mu.Unlock()
	return slot >= 0
}

// ScanBucket implements engine.Engine. The shard stays locked while fn runs,
// so fn should be quick (copy what it needs).
func (e *Engine) ScanBucket(bucket uint16, now int64, fn func(key []byte, it *engine.Item) bool) {
	s, lb := e.locate(bucket)
	s.mu.Lock()
	defer s.mu.Unlock()
	var it engine.Item
	for _, en := range s.buckets[lb].tab {
		if en == 0 {
			continue
		}
		buf, off := s.at(en & locMask)
		h := readHeader(buf, off)
		if expired(h.exp, now) {
			continue
		}
		it = h.item(buf)
		if !fn(buf[h.key:h.key+h.klen:h.key+h.klen], &it) {
			return
		}
	}
}

// CountBucket implements engine.Engine.
func (e *Engine) CountBucket(bucket uint16) int {
	s, lb := e.locate(bucket)
	s.mu.Lock()
	n := int(s.buckets[lb].n)
	s.mu.Unlock()
	return n
}

// DropBucket implements engine.Engine.
func (e *Engine) DropBucket(bucket uint16) {
	s, lb := e.locate(bucket)
	s.mu.Lock()
	defer s.mu.Unlock()
	b := &s.buckets[lb]
	for _, en := range b.tab {
		if en == 0 {
			continue
		}
		l := en & locMask
		buf, off := s.at(l)
		s.markDead(l, readHeader(buf, off).size)
	}
	s.items.Add(-int64(b.n))
	s.itemsExp.Add(-int64(b.exp))
	s.dropTable(b)
	s.releaseIfEmpty()
}

// Flush implements engine.Engine.
func (e *Engine) Flush() {
	for i := range e.shards {
		s := &e.shards[i]
		s.mu.Lock()
		s.reset()
		s.mu.Unlock()
	}
}

// Stats implements engine.Engine.
func (e *Engine) Stats() engine.Stats {
	st := engine.Stats{Bytes: e.bytes.Load(), Quota: e.quota.Load()}
	for i := range e.shards {
		s := &e.shards[i]
		st.Items += s.items.Load()
		st.ItemsExpire += s.itemsExp.Load()
		st.Evictions += s.evictions.Load()
		st.Expirations += s.expirations.Load()
	}
	return st
}

// SetQuota implements engine.Engine. Lowering the quota evicts at once.
func (e *Engine) SetQuota(bytes int64) {
	e.setQuota(bytes)
	e.shrinkAll()
}

// Close implements engine.Engine: it stops active expiry and frees memory.
func (e *Engine) Close() error {
	e.closeOnce.Do(func() {
		close(e.stop)
		<-e.done
		e.Flush()
	})
	return nil
}
