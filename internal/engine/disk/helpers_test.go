package disk

import (
	"bytes"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/cockroachdb/pebble/v2"

	"granary/internal/engine"
	"granary/internal/engine/enginetest"
)

// now0 is real time so that the background sweep agrees with the tests.
var now0 = enginetest.Now

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

func openStore(t testing.TB, dir string, opts Options) *Store {
	t.Helper()
	if opts.Logger == nil {
		opts.Logger = quiet
	}
	s, err := Open(dir, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	waitReady(t, s)
	return s
}

func waitReady(t testing.TB, s *Store) {
	t.Helper()
	select {
	case <-s.Ready():
	case <-time.After(30 * time.Second):
		t.Fatal("initial count pass did not finish")
	}
}

// newEngine opens a store with no active sweep (unless opts says otherwise)
// and returns namespace 1. It always uses SyncInterval, for speed: the tests
// of SyncAlways call openStore.
func newEngine(t testing.TB, opts Options) (*Store, *Engine) {
	t.Helper()
	if opts.SweepInterval == 0 {
		opts.SweepInterval = time.Hour
	}
	opts.Sync = SyncInterval
	s := openStore(t, t.TempDir(), opts)
	return s, s.Namespace(1)
}

// The shared test helpers, under the names the tests here use.
var (
	str     = enginetest.Str
	mustSet = enginetest.MustSet
	get     = enginetest.Get
	keyOf   = enginetest.KeyOf
)

// rawKeys returns the stored keys with the given prefix.
func rawKeys(t testing.TB, s *Store, prefix []byte) [][]byte {
	t.Helper()
	it, err := s.newIter(&pebble.IterOptions{LowerBound: prefix, UpperBound: prefixEnd(prefix)})
	if err != nil {
		t.Fatal(err)
	}
	defer it.Close()
	var out [][]byte
	for ok := it.First(); ok; ok = it.Next() {
		out = append(out, bytes.Clone(it.Key()))
	}
	return out
}

// checkStore verifies the counters of every engine against a scan of the
// data keys, and that every item with an expiry has its index key. No count
// pass may be running.
func checkStore(t testing.TB, s *Store) {
	t.Helper()
	// Hold every write lock so that the sweep and index clean-up cannot
	// change data or counters while they are compared.
	s.lockAll()
	defer s.unlockAll()
	type counts struct{ items, exp, bytes int64 }
	want := map[uint32]*counts{}
	totals := map[uint16]*counts{}
	index := map[string]bool{}
	for _, k := range rawKeys(t, s, []byte{prefixExp}) {
		index[string(k)] = true
	}
	it, err := s.dataIter(nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	for ok := it.First(); ok; ok = it.Next() {
		ns, b, _, _ := parseDataKey(it.Key())
		p := pos(ns, b)
		if want[p] == nil {
			want[p] = &counts{}
		}
		if totals[ns] == nil {
			totals[ns] = &counts{}
		}
		c, tot := want[p], totals[ns]
		c.items++
		tot.items++
		size := int64(len(it.Key()) + len(it.Value()))
		c.bytes += size
		tot.bytes += size
		if h, ok := decodeHeader(it.Value()); ok && h.exp != 0 {
			c.exp++
			tot.exp++
			if ek := expKeyOfData(nil, h.exp, it.Key()); !index[string(ek)] {
				t.Errorf("ns %d bucket %d key %q: index key for expiry %d missing", ns, b, it.Key()[dataHdr:], h.exp)
			}
		}
	}
	it.Close()
	for _, e := range s.engines() {
		for b := range e.buckets {
			c := want[pos(e.ns, uint16(b))]
			if c == nil {
				c = &counts{}
			}
			bc := &e.buckets[b]
			if bc.items.Load() != c.items || bc.exp.Load() != c.exp || bc.bytes.Load() != c.bytes {
				t.Fatalf("ns %d bucket %d: counters %d/%d/%d, stored %d/%d/%d", e.ns, b,
					bc.items.Load(), bc.exp.Load(), bc.bytes.Load(), c.items, c.exp, c.bytes)
			}
		}
		tot := totals[e.ns]
		if tot == nil {
			tot = &counts{}
		}
		st := e.Stats()
		if st.Items != tot.items || st.ItemsExpire != tot.exp || st.Bytes != tot.bytes {
			t.Fatalf("ns %d: stats %+v, stored %+v", e.ns, st, *tot)
		}
		delete(totals, e.ns)
	}
	for ns := range totals {
		t.Fatalf("ns %d holds data but has no engine", ns)
	}
	checkRows(t, s)
}

// checkRows verifies that every live entry of the row cache is the item
// stored in pebble. Callers hold every write lock.
func checkRows(t testing.TB, s *Store) {
	t.Helper()
	if s.rows == nil {
		return
	}
	now := time.Now().UnixMilli()
	for b := uint16(0); b < NumBuckets; b++ {
		s.rows.m.ScanBucket(b, now, func(dk []byte, it *engine.Item) bool {
			v, c, found, err := s.get(dk)
			if err != nil {
				t.Fatal(err)
			}
			if it.Type == typeAbsent {
				if found {
					c.Close()
					t.Errorf("row cache says %q is not stored, but it is", dk)
				}
				return true
			}
			if !found {
				t.Errorf("row cache holds %q, which is not stored", dk)
				return true
			}
			defer c.Close()
			h, ok := decodeHeader(v)
			got := h.item(v)
			if !ok || got.Type != it.Type || got.Version != it.Version || got.Expire != it.Expire || !bytes.Equal(got.Value, it.Value) {
				t.Errorf("row cache holds %q as %+v, stored %+v", dk, *it, got)
			}
			return true
		})
	}
}

func sleep() { time.Sleep(10 * time.Millisecond) }
