package disk

import (
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/cespare/xxhash/v2"
	"github.com/cockroachdb/pebble/v2"
	"github.com/cockroachdb/pebble/v2/bloom"

	"granary/internal/engine"
)

// ErrClosed is returned by calls made after Store.Close.
var ErrClosed = errors.New("disk: store closed")

// numStripes is the number of write locks; a power of two.
const (
	stripeBits = 10
	numStripes = 1 << stripeBits
)

type stripe struct {
	sync.Mutex
	seq atomic.Uint64 // bumped by every committed write under the lock (rowcache.go)
	_   [48]byte      // one cache line each
}

// Store is one pebble DB shared by all of a data server's disk namespaces.
//
// Lock order: write stripes (in ascending index), then nsMu, then countMu.
// ingestMu serialises Ingest calls and is taken before everything else.
type Store struct {
	db      *pebble.DB
	popts   *pebble.Options // with defaults filled in; for SST writers and readers
	wo      *pebble.WriteOptions
	log     *slog.Logger
	maxItem int
	sweepIv time.Duration
	syncIv  time.Duration

	stripes [numStripes]stripe
	rows    *rowCache // nil when off

	nsMu sync.RWMutex
	nss  map[uint16]*Engine

	countMu sync.Mutex
	job     *countJob // the count pass in progress, if any; guarded by countMu
	ready   chan struct{}

	ingestMu sync.Mutex
	dir      string // the DB's directory (Ingest stages files there)
	// stamper gives each logged write batch its replication stamp (see
	// SetStamper); set before the first write, read-only after.
	stamper func(b uint16, records int) (key, value []byte)

	sweepCursor []byte // used by the sweep goroutine only
	sweepRounds int

	wb        *writeBack  // staged writes (staged.go); nil under SyncAlways
	dirty     atomic.Bool // unsynced writes since the last WAL sync
	closed    atomic.Bool
	stop      chan struct{}
	bg        sync.WaitGroup
	closeOnce sync.Once
	closeErr  error
}

// Open opens (creating if needed) the store in dir and starts its background
// work: the initial count pass, the expiry sweep and the WAL sync.
func Open(dir string, opts Options) (*Store, error) {
	opts.setDefaults()
	s := &Store{
		log:     opts.Logger.With("component", "disk"),
		dir:     dir,
		maxItem: opts.MaxItemSize,
		sweepIv: opts.SweepInterval,
		syncIv:  opts.SyncInterval,
		nss:     make(map[uint16]*Engine),
		ready:   make(chan struct{}),
		stop:    make(chan struct{}),
	}
	switch opts.Sync {
	case SyncAlways:
		s.wo = pebble.Sync
	case SyncInterval:
		s.wo = pebble.NoSync
		s.wb = newWriteBack()
	default:
		return nil, fmt.Errorf("disk: bad sync policy %v", opts.Sync)
	}
	cache := pebble.NewCache(opts.CacheBytes)
	defer cache.Unref() // the DB holds its own reference
	s.popts = pebbleOptions(cache, s.log)
	db, err := pebble.Open(dir, s.popts)
	if err != nil {
		return nil, fmt.Errorf("disk: open %s: %w", dir, err)
	}
	s.db = db
	s.rows = newRowCache(opts.RowCacheBytes, s.lostRow)

	// The count pass reads a view taken before any write can happen.
	it, err := s.dataIter(nil, nil)
	if err != nil {
		db.Close()
		s.closeRows()
		return nil, err
	}
	s.job = &countJob{lo: 0, hi: ^uint32(0)}
	s.goBackground(func() {
		defer close(s.ready)
		s.runCountJob(it, s.job)
	})
	s.goBackground(s.sweepLoop)
	s.goBackground(s.syncLoop)
	return s, nil
}

// pebbleOptions is the configuration for a small data server (2 cores, a few
// GB of RAM):
//   - 32 MiB memtables (pebble's default is 4 MiB): fewer, larger flushes and
//     L0 files for the same write rate; at most 4 of them (128 MiB) queue up
//     before writes stall.
//   - one background compaction, a second only when compaction debt builds
//     up, so a core stays free for serving requests; L0 may hold 24 files
//     (default 12) before writes stop, to ride out bursts.
//   - bloom filters (10 bits per key) on every level: every Set reads the old
//     item first, and most of those reads miss (new keys); the filter answers
//     them without reading data blocks.
//   - the newest on-disk format, so SSTs can use the current table format.
func pebbleOptions(cache *pebble.Cache, log *slog.Logger) *pebble.Options {
	o := &pebble.Options{
		Cache:                       cache,
		FormatMajorVersion:          pebble.FormatNewest,
		MemTableSize:                32 << 20,
		MemTableStopWritesThreshold: 4,
		L0CompactionThreshold:       4,
		L0StopWritesThreshold:       24,
		LBaseMaxBytes:               128 << 20,
		CompactionConcurrencyRange:  func() (int, int) { return 1, 2 },
		Logger:                      pebbleLogger{log},
	}
	o.TargetFileSizes[0] = 4 << 20
	for i := range o.Levels {
		o.Levels[i].FilterPolicy = bloom.FilterPolicy(10)
	}
	o.EnsureDefaults()
	return o
}

// pebbleLogger sends pebble's messages to slog. Pebble's informational
// messages go to Debug: they are routine (flushes, WAL recycling).
type pebbleLogger struct{ l *slog.Logger }

func (p pebbleLogger) Infof(format string, args ...any) {
	p.l.Debug(fmt.Sprintf(format, args...), "src", "pebble")
}

func (p pebbleLogger) Errorf(format string, args ...any) {
	p.l.Error(fmt.Sprintf(format, args...), "src", "pebble")
}

// Fatalf is called by pebble on unrecoverable errors (a failed WAL write,
// corruption): it must not return.
func (p pebbleLogger) Fatalf(format string, args ...any) {
	msg := fmt.Sprintf(format, args...)
	p.l.Error(msg, "src", "pebble", "fatal", true)
	panic("disk: pebble: " + msg)
}

// Namespace returns the engine of namespace id, creating it on first use.
// Engines share the store; closing one does not close the store.
func (s *Store) Namespace(id uint16) *Engine { return s.engine(id) }

func (s *Store) engine(ns uint16) *Engine {
	s.nsMu.RLock()
	e := s.nss[ns]
	s.nsMu.RUnlock()
	if e != nil {
		return e
	}
	s.nsMu.Lock()
	defer s.nsMu.Unlock()
	if e = s.nss[ns]; e == nil {
		e = &Engine{s: s, ns: ns}
		s.countMu.Lock()
		if j := s.job; j != nil {
			for b := range e.pending {
				e.pending[b] = j.covers(pos(ns, uint16(b)))
			}
		} else if s.rows != nil {
			// No count pass: the namespace holds nothing yet (one that
			// holds data gets its engine from the pass that counts it).
			for b := range e.complete {
				e.complete[b].Store(true)
			}
		}
		s.countMu.Unlock()
		s.nss[ns] = e
	}
	return e
}

// Namespaces returns, in order, the namespaces that hold data now. It seeks
// once per namespace, so it is cheap and exact even before Ready.
func (s *Store) Namespaces() []uint16 {
	if s.closed.Load() {
		return nil
	}
	it, err := s.dataIter(nil, nil)
	if err != nil {
		s.log.Error("listing namespaces failed", "err", err)
		return nil
	}
	defer it.Close()
	var out []uint16
	for valid := it.First(); valid; {
		ns, _, _, ok := parseDataKey(it.Key())
		if !ok {
			valid = it.Next()
			continue
		}
		out = append(out, ns)
		if ns == 0xffff {
			break
		}
		valid = it.SeekGE(bucketPrefix(ns+1, 0))
	}
	return out
}

// engines returns the existing engines.
func (s *Store) engines() []*Engine {
	s.nsMu.RLock()
	defer s.nsMu.RUnlock()
	out := make([]*Engine, 0, len(s.nss))
	for _, e := range s.nss {
		out = append(out, e)
	}
	return out
}

// Ready is closed when the initial count pass has finished: from then on
// CountBucket and Stats are exact.
func (s *Store) Ready() <-chan struct{} { return s.ready }

// DiskUsage returns the bytes the store takes on disk (all namespaces,
// metadata, WAL and garbage not yet compacted away).
func (s *Store) DiskUsage() uint64 {
	if s.closed.Load() {
		return 0
	}
	return s.db.Metrics().DiskSpaceUsage()
}

// Close stops the background work, syncs the WAL and closes the DB. Engines
// must not be used after Close: calls that write return ErrClosed, others
// find nothing, and calls racing Close are a caller bug.
func (s *Store) Close() error {
	s.closeOnce.Do(func() {
		close(s.stop)
		// Writers and the operations that start background work check
		// closed under their write locks: once it is set, nothing writes
		// from the foreground or adds background work.
		s.lockAll()
		s.closed.Store(true)
		s.unlockAll()
		s.bg.Wait()
		err := s.drain()
		if err == nil {
			err = s.db.LogData(nil, pebble.Sync)
		}
		s.closeErr = errors.Join(err, s.db.Close())
		s.closeRows()
		if s.closeErr != nil {
			s.closeErr = fmt.Errorf("disk: close: %w", s.closeErr)
		}
	})
	return s.closeErr
}

func (s *Store) goBackground(fn func()) {
	s.bg.Add(1)
	go func() {
		defer s.bg.Done()
		fn()
	}()
}

func (s *Store) stopping() bool {
	select {
	case <-s.stop:
		return true
	default:
		return false
	}
}

// syncLoop drains the staged writes (staged.go) and syncs the WAL every
// SyncInterval when writes were committed without sync since the last time;
// it also drains early when writers ask.
func (s *Store) syncLoop() {
	t := time.NewTicker(s.syncIv)
	defer t.Stop()
	var kick chan struct{}
	if s.wb != nil {
		kick = s.wb.kick
	}
	drain := func() {
		if err := s.drain(); err != nil {
			s.log.Error("drain of staged writes failed", "err", err)
		}
	}
	for {
		select {
		case <-s.stop:
			return
		case <-kick:
			drain()
		case <-t.C:
			drain()
			if s.dirty.Swap(false) {
				if err := s.db.LogData(nil, pebble.Sync); err != nil {
					s.log.Error("WAL sync failed", "err", err)
				}
			}
		}
	}
}

// commit applies and releases a batch.
func (s *Store) commit(b *pebble.Batch, wo *pebble.WriteOptions) error {
	err := s.db.Apply(b, wo)
	b.Close()
	if err != nil {
		return fmt.Errorf("disk: commit: %w", err)
	}
	if !wo.Sync {
		s.dirty.Store(true)
	}
	return nil
}

// stripeIndex picks the write lock of (ns, b, key).
func stripeIndex(ns, b uint16, key []byte) int {
	h := xxhash.Sum64(key) ^ uint64(pos(ns, b))*0x9e3779b97f4a7c15
	h *= 0xbf58476d1ce4e5b9
	return int(h >> (64 - stripeBits))
}

func (s *Store) lockAll() {
	for i := range s.stripes {
		s.stripes[i].Lock()
	}
}

func (s *Store) unlockAll() {
	for i := range s.stripes {
		s.stripes[i].Unlock()
	}
}

// checkItem enforces the per-item limits.
func (s *Store) checkItem(t engine.Type, klen, vlen int) error {
	if err := checkType(t); err != nil {
		return err
	}
	if klen+vlen > s.maxItem {
		return engine.ErrTooLarge
	}
	return nil
}

// dataIter returns an iterator over the data keys in [lo, hi) (the whole data
// range when both are nil).
func (s *Store) dataIter(lo, hi []byte) (*pebble.Iterator, error) {
	if lo == nil {
		lo = []byte{prefixData}
	}
	if hi == nil {
		hi = []byte{prefixData + 1}
	}
	it, err := s.newIter(&pebble.IterOptions{LowerBound: lo, UpperBound: hi})
	if err != nil {
		return nil, fmt.Errorf("disk: new iterator: %w", err)
	}
	return it, nil
}
