package tracking

import (
	"sync"
	"sync/atomic"
	"unsafe"

	"granary/internal/routing"
)

// DefaultMaxKeys is Redis' default tracking-table-max-keys.
const DefaultMaxKeys = 1_000_000

// Options configure a Table.
type Options struct {
	// MaxKeys bounds the keys remembered (tracking-table-max-keys): 0 selects
	// DefaultMaxKeys, a negative value removes the bound.
	MaxKeys int64
}

// Table is a data server's tracking state: the keys tracking clients read,
// per bucket, namespace and key, the BCAST prefixes, and the clients by id.
// All methods are safe for concurrent use; Invalidate and Remember may be
// called with an engine shard's or a replication bucket's lock held (they
// never call into an engine).
type Table struct {
	// Read after every write (Watching): side by side, on one cache line
	// that stays clean while nobody tracks.
	keys     atomic.Int64 // keys remembered
	prefixes atomic.Int64 // distinct BCAST prefixes
	_        [48]byte

	items   atomic.Int64 // (key, client) pairs remembered
	maxKeys atomic.Int64 // 0: unbounded
	cursor  atomic.Uint32
	clients atomic.Int64 // clients with tracking on

	invalidations atomic.Uint64
	evicted       atomic.Uint64

	reg sync.Map // id -> *Client

	mu    sync.Mutex // guards changes of the BCAST subscriptions
	bcast atomic.Pointer[[]bcastSub]

	buckets [routing.Buckets]bucketKeys
}

// bucketKeys are the remembered keys of one bucket.
type bucketKeys struct {
	mu sync.Mutex
	n  atomic.Int32 // keys, read without mu by eviction
	ns map[uint16]map[string]*entry
}

// entry is the set of clients that read one key.
type entry struct {
	cs  []*Client
	set map[*Client]struct{} // replaces cs past entrySmall clients
}

const entrySmall = 16

func (e *entry) add(c *Client) bool {
	if e.set != nil {
		if _, ok := e.set[c]; ok {
			return false
		}
		e.set[c] = struct{}{}
		return true
	}
	for _, x := range e.cs {
		if x == c {
			return false
		}
	}
	if len(e.cs) < entrySmall {
		e.cs = append(e.cs, c)
		return true
	}
	e.set = make(map[*Client]struct{}, 2*entrySmall)
	for _, x := range e.cs {
		e.set[x] = struct{}{}
	}
	e.set[c] = struct{}{}
	e.cs = nil
	return true
}

func (e *entry) len() int {
	if e.set != nil {
		return len(e.set)
	}
	return len(e.cs)
}

type bcastSub struct {
	prefix string
	c      *Client
}

// New returns an empty table.
func New(opts Options) *Table {
	t := &Table{}
	switch {
	case opts.MaxKeys == 0:
		t.maxKeys.Store(DefaultMaxKeys)
	case opts.MaxKeys > 0:
		t.maxKeys.Store(opts.MaxKeys)
	}
	t.bcast.Store(new([]bcastSub))
	return t
}

// NewClient registers connection id, whose pushes go to out, speaking
// protocol proto. Release unregisters it.
func (t *Table) NewClient(id int64, out *Outbox, proto int) *Client {
	c := &Client{ID: id, t: t, out: out}
	c.proto.Store(int32(proto))
	t.reg.Store(id, c)
	return c
}

// Lookup returns the registered client with id, or nil.
func (t *Table) Lookup(id int64) *Client {
	if v, ok := t.reg.Load(id); ok {
		return v.(*Client)
	}
	return nil
}

// Release unregisters c: its connection is gone. Clients redirecting to it
// find their redirection broken.
func (t *Table) Release(c *Client) {
	c.Disable()
	t.reg.CompareAndDelete(c.ID, c)
}

// Watching reports whether any invalidation could be due: keys are
// remembered or BCAST prefixes registered. Dispatch calls it after every
// write; it is one atomic load while nobody tracks. Safe on a nil Table.
func (t *Table) Watching() bool {
	return t != nil && (t.keys.Load() != 0 || t.prefixes.Load() != 0)
}

// MaxKeys returns the bound on remembered keys (0: none). Safe on a nil
// Table.
func (t *Table) MaxKeys() int64 {
	if t == nil {
		return 0
	}
	return t.maxKeys.Load()
}

// SetMaxKeys changes the bound (0: none), evicting at once if needed.
func (t *Table) SetMaxKeys(n int64) {
	t.maxKeys.Store(max(n, 0))
	if n > 0 && t.keys.Load() > n {
		t.evict(n)
	}
}

// Remember records that c read key in namespace ns of bucket. Dispatch calls
// it before the read runs.
func (t *Table) Remember(ns, bucket uint16, key []byte, c *Client) {
	bk := &t.buckets[bucket%routing.Buckets]
	bk.mu.Lock()
	m := bk.ns[ns]
	if m == nil {
		if bk.ns == nil {
			bk.ns = make(map[uint16]map[string]*entry, 1)
		}
		m = make(map[string]*entry)
		bk.ns[ns] = m
	}
	e := m[string(key)]
	fresh := e == nil
	if fresh {
		e = &entry{}
		m[string(key)] = e
		bk.n.Add(1)
		t.keys.Add(1)
	}
	if e.add(c) {
		t.items.Add(1)
	}
	bk.mu.Unlock()
	if fresh {
		if n := t.maxKeys.Load(); n > 0 && t.keys.Load() > n {
			t.evict(n)
		}
	}
}

// Invalidate tells the clients that read key in namespace ns of bucket, and
// the BCAST clients whose prefixes match it, that it changed; the readers are
// forgotten for the key. writer is the writing connection's client (nil for
// changes no connection made: expiry, eviction, replication): it is skipped
// under NOLOOP, and invalidations for its own connection are kept for
// TakeSelf. Safe on a nil Table.
func (t *Table) Invalidate(ns, bucket uint16, key []byte, writer *Client) {
	if t == nil {
		return
	}
	if t.keys.Load() != 0 {
		bk := &t.buckets[bucket%routing.Buckets]
		bk.mu.Lock()
		var e *entry
		if m := bk.ns[ns]; m != nil {
			if e = m[string(key)]; e != nil {
				delete(m, string(key))
				if len(m) == 0 {
					delete(bk.ns, ns)
				}
				t.forget(bk, e)
			}
		}
		bk.mu.Unlock()
		if e != nil {
			t.notifyEntry(e, key, writer)
		}
	}
	if t.prefixes.Load() != 0 {
		for _, s := range *t.bcast.Load() {
			if len(key) >= len(s.prefix) && string(key[:len(s.prefix)]) == s.prefix {
				t.notify(s.c, key, false, writer, true)
			}
		}
	}
}

// KeyChanged implements replication.Watcher: a secondary applied a change of
// key, or the mem engine expired or evicted it.
func (t *Table) KeyChanged(ns, bucket uint16, key []byte) { t.Invalidate(ns, bucket, key, nil) }

// BucketDropped implements replication.Watcher: the node dropped every key
// of bucket. Its readers are told key by key; BCAST clients, whose keys are
// not remembered, get an invalidation of every key.
func (t *Table) BucketDropped(bucket uint16) {
	if t == nil {
		return
	}
	if t.keys.Load() != 0 {
		bk := &t.buckets[bucket%routing.Buckets]
		bk.mu.Lock()
		nss := bk.ns
		bk.ns = nil
		for _, m := range nss {
			for _, e := range m {
				t.forget(bk, e)
			}
		}
		bk.mu.Unlock()
		for _, m := range nss {
			for k, e := range m {
				t.notifyEntry(e, bytesOf(k), nil)
			}
		}
	}
	if t.prefixes.Load() != 0 {
		t.notifyBcast(nil)
	}
}

// Flush forgets every key and sends every tracking client an invalidation of
// all keys (FLUSHDB, FLUSHALL: Redis sends it for either).
func (t *Table) Flush(writer *Client) {
	if t == nil {
		return
	}
	for i := range t.buckets {
		bk := &t.buckets[i]
		if bk.n.Load() == 0 {
			continue
		}
		bk.mu.Lock()
		for _, m := range bk.ns {
			for _, e := range m {
				t.forget(bk, e)
			}
		}
		bk.ns = nil
		bk.mu.Unlock()
	}
	t.reg.Range(func(_, v any) bool {
		t.notify(v.(*Client), nil, true, writer, true)
		return true
	})
}

// forget updates the counters for e, removed from bk (whose lock is held).
func (t *Table) forget(bk *bucketKeys, e *entry) {
	bk.n.Add(-1)
	t.keys.Add(-1)
	t.items.Add(-int64(e.len()))
}

// notifyEntry notifies e's clients that key changed.
func (t *Table) notifyEntry(e *entry, key []byte, writer *Client) {
	if e.set != nil {
		for c := range e.set {
			t.notify(c, key, false, writer, false)
		}
		return
	}
	for _, c := range e.cs {
		t.notify(c, key, false, writer, false)
	}
}

// notifyBcast sends every BCAST client an invalidation of every key, once.
func (t *Table) notifyBcast(writer *Client) {
	var last *Client
	for _, s := range *t.bcast.Load() {
		if s.c != last { // a client's prefixes are adjacent
			t.notify(s.c, nil, true, writer, true)
			last = s.c
		}
	}
}

// notify sends tracking client tc an invalidation of key (of every key when
// null), to tc's connection or the one it redirects to. bcast says the key
// matched one of tc's prefixes, or the message is for every client: a key
// remembered before tc switched to BCAST mode is skipped.
func (t *Table) notify(tc *Client, key []byte, null bool, writer *Client, bcast bool) {
	m := tc.Mode()
	switch {
	case m&On == 0,
		!bcast && m&BCast != 0,
		!null && m&NoLoop != 0 && tc == writer:
		return
	}
	target := tc
	if id := tc.redir.Load(); id != 0 {
		if target = t.Lookup(id); target == nil {
			tc.mode.Or(uint32(BrokenRedirect))
			if tc.proto.Load() >= 3 {
				if tc == writer {
					tc.self = appendRedirBroken(tc.self, id)
				} else {
					tc.out.redirBroken(id)
				}
			}
			return
		}
	}
	var k kind
	switch {
	case target.proto.Load() >= 3:
		k = kindPush
	case target != tc && target.sub.Load():
		k = kindMessage
	default:
		return // RESP2 without a subscribed redirection: nowhere to send it
	}
	t.invalidations.Add(1)
	if target == writer {
		writer.self = appendInvalidate(writer.self, k, key, null)
		return
	}
	target.out.invalidate(k, key, null)
}

// evict forgets keys, invalidating their readers, until at most n remain
// (or it gave up after a bounded effort: the next Remember continues).
func (t *Table) evict(n int64) {
	for tries := 0; t.keys.Load() > n && tries < 4*routing.Buckets; tries++ {
		bk := &t.buckets[t.cursor.Add(1)%routing.Buckets]
		if bk.n.Load() == 0 || !bk.mu.TryLock() {
			continue
		}
		var key string
		var e *entry
		for ns, m := range bk.ns {
			for k, x := range m {
				key, e = k, x
				delete(m, k)
				break
			}
			if len(m) == 0 {
				delete(bk.ns, ns)
			}
			break
		}
		if e != nil {
			t.forget(bk, e)
		}
		bk.mu.Unlock()
		if e != nil {
			t.evicted.Add(1)
			t.notifyEntry(e, bytesOf(key), nil)
		}
	}
}

// rebuildBcastLocked publishes the BCAST subscriptions of every registered
// client. Called with t.mu held.
func (t *Table) rebuildBcastLocked() {
	var subs []bcastSub
	distinct := map[string]bool{}
	t.reg.Range(func(_, v any) bool {
		c := v.(*Client)
		for _, p := range c.prefixes {
			subs = append(subs, bcastSub{p, c})
			distinct[p] = true
		}
		return true
	})
	t.bcast.Store(&subs)
	t.prefixes.Store(int64(len(distinct)))
}

// Stats are the table's counters for INFO and metrics.
type Stats struct {
	Clients       int64  // connections with tracking on (tracking_clients)
	Keys          int64  // keys remembered (tracking_total_keys)
	Items         int64  // (key, client) pairs (tracking_total_items)
	Prefixes      int64  // distinct BCAST prefixes (tracking_total_prefixes)
	Invalidations uint64 // invalidation messages sent
	Evicted       uint64 // keys forgotten to stay within MaxKeys
}

// Stats returns the counters. Safe on a nil Table.
func (t *Table) Stats() Stats {
	if t == nil {
		return Stats{}
	}
	return Stats{
		Clients: t.clients.Load(), Keys: t.keys.Load(), Items: t.items.Load(),
		Prefixes: t.prefixes.Load(), Invalidations: t.invalidations.Load(), Evicted: t.evicted.Load(),
	}
}

// bytesOf returns s's bytes without copying; they must not be modified.
func bytesOf(s string) []byte { return unsafe.Slice(unsafe.StringData(s), len(s)) }
