package disk

import (
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/cockroachdb/pebble/v2"

	"granary/internal/engine"
)

// inPebble reports whether pebble itself (not the staged writes) holds the
// data key of (ns, b, key).
func inPebble(t *testing.T, s *Store, ns, b uint16, key string) bool {
	t.Helper()
	_, c, err := s.db.Get(appendDataKey(nil, ns, b, []byte(key)))
	if errors.Is(err, pebble.ErrNotFound) {
		return false
	}
	if err != nil {
		t.Fatal(err)
	}
	c.Close()
	return true
}

// stagedStore opens a SyncInterval store whose sync loop never runs during a
// test, so that only the test's calls and the store's own rules drain.
func stagedStore(t *testing.T, dir string) *Store {
	return openStore(t, dir, Options{Sync: SyncInterval, SyncInterval: time.Hour, SweepInterval: time.Hour, RowCacheBytes: -1})
}

func TestStagedWritesAreReadBeforeTheyReachPebble(t *testing.T) {
	s := stagedStore(t, t.TempDir())
	e := s.Namespace(1)
	now := now0
	mustSet(t, e, 7, "a", str("one"))
	mustSet(t, e, 7, "gone", str("x"))
	if err := s.drain(); err != nil {
		t.Fatal(err)
	}
	mustSet(t, e, 7, "a", str("two"))
	mustSet(t, e, 7, "b", engine.Item{Type: engine.TypeString, Value: []byte("new"), Expire: now + 3_600_000})
	if err := e.Update(7, []byte("gone"), now, func(*engine.Item) (engine.Item, engine.Op) { return engine.Item{}, engine.OpDelete }); err != nil {
		t.Fatal(err)
	}
	if inPebble(t, s, 1, 7, "b") || !inPebble(t, s, 1, 7, "gone") {
		t.Fatal("staged writes reached pebble before a drain")
	}
	check := func(when string) {
		t.Helper()
		for _, c := range []struct {
			key, want string
			found     bool
		}{{"a", "two", true}, {"b", "new", true}, {"gone", "", false}} {
			it, _, ok := e.Get(7, []byte(c.key), now, nil)
			if ok != c.found || ok && string(it.Value) != c.want {
				t.Fatalf("%s: Get(%s) = %q, %v; want %q, %v", when, c.key, it.Value, ok, c.want, c.found)
			}
		}
		if it, _, _ := e.Get(7, []byte("a"), now, nil); it.Version != 2 {
			t.Fatalf("%s: version %d after two sets, want 2", when, it.Version)
		}
	}
	check("staged")
	before := s.StagedStats()
	if before.Bytes <= 0 || before.Drains != 1 {
		t.Fatalf("staged stats %+v with three writes staged after one drain", before)
	}
	// An iterator drains first: the scan sees every staged write.
	var keys []string
	e.ScanBucket(7, now, func(k []byte, _ *engine.Item) bool { keys = append(keys, string(k)); return true })
	if fmt.Sprint(keys) != "[a b]" {
		t.Fatalf("scan = %v, want [a b]", keys)
	}
	if !inPebble(t, s, 1, 7, "b") || inPebble(t, s, 1, 7, "gone") {
		t.Fatal("the scan did not drain the staged writes")
	}
	check("drained")
	if st := s.StagedStats(); st.Bytes != 0 || st.Drains != 2 {
		t.Fatalf("staged stats %+v after the second drain", st)
	}
	checkIndexExact(t, s)
}

// TestStagedWritesKeepTheirOrder checks that what goes to pebble directly
// (a range deletion, an ingestion, a synced write) lands after the staged
// writes made before it, so none of them comes back later.
func TestStagedWritesKeepTheirOrder(t *testing.T) {
	s := stagedStore(t, t.TempDir())
	e := s.Namespace(1)
	now := now0

	mustSet(t, e, 3, "dropped", str("v"))
	e.DropBucket(3)
	if err := s.drain(); err != nil {
		t.Fatal(err)
	}
	if _, _, ok := e.Get(3, []byte("dropped"), now, nil); ok || inPebble(t, s, 1, 3, "dropped") {
		t.Fatal("a staged write outlived the drop of its bucket")
	}

	mustSet(t, e, 4, "k", str("staged"))
	f, err := BucketFile(1, 4, func(yield func([]byte, engine.Item) bool) {
		yield([]byte("k"), engine.Item{Type: engine.TypeString, Value: []byte("imported")})
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := e.Ingest([]uint16{4}, [][]byte{f}); err != nil {
		t.Fatal(err)
	}
	if err := s.drain(); err != nil {
		t.Fatal(err)
	}
	if it, _, _ := e.Get(4, []byte("k"), now, nil); string(it.Value) != "imported" {
		t.Fatalf("after an import over a staged write: %q, want the imported value", it.Value)
	}

	mustSet(t, e, 5, "before-sync", str("v"))
	if err := s.SetMeta([]byte("m"), []byte("1"), true); err != nil {
		t.Fatal(err)
	}
	if !inPebble(t, s, 1, 5, "before-sync") {
		t.Fatal("a synced write did not drain the staged writes before it")
	}
	checkIndexExact(t, s)
}

// TestStageRefusesRangeDeletions checks that a batch that cannot be staged
// is refused, not half-written.
func TestStageRefusesRangeDeletions(t *testing.T) {
	s := stagedStore(t, t.TempDir())
	bt := s.db.NewBatch()
	bt.DeleteRange([]byte{prefixData}, []byte{prefixData + 1}, nil)
	if err := s.write(bt, s.wo); err == nil {
		t.Fatal("a range deletion was staged")
	}
	if st := s.StagedStats(); st.Bytes != 0 {
		t.Fatalf("staged stats %+v after a refused batch", st)
	}
}

func TestCloseDrainsStagedWrites(t *testing.T) {
	dir := t.TempDir()
	s := stagedStore(t, dir)
	e := s.Namespace(1)
	for i := range 1000 {
		mustSet(t, e, uint16(i%50), fmt.Sprint("k", i), str(fmt.Sprint("v", i)))
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s = stagedStore(t, dir)
	e = s.Namespace(1)
	for i := range 1000 {
		it, _, ok := e.Get(uint16(i%50), []byte(fmt.Sprint("k", i)), now0, nil)
		if !ok || string(it.Value) != fmt.Sprint("v", i) {
			t.Fatalf("k%d after reopening: %q, %v", i, it.Value, ok)
		}
	}
	if got := e.Stats().Items; got != 1000 {
		t.Fatalf("%d items after reopening, want 1000", got)
	}
}

func TestSyncLoopDrains(t *testing.T) {
	s := openStore(t, t.TempDir(), Options{Sync: SyncInterval, SyncInterval: 20 * time.Millisecond, SweepInterval: time.Hour})
	mustSet(t, s.Namespace(2), 9, "k", str("v"))
	deadline := time.Now().Add(10 * time.Second)
	for !inPebble(t, s, 2, 9, "k") {
		if time.Now().After(deadline) {
			t.Fatal("the sync loop did not drain a staged write")
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestSyncAlwaysStagesNothing(t *testing.T) {
	s := openStore(t, t.TempDir(), Options{Sync: SyncAlways, SweepInterval: time.Hour})
	if s.wb != nil {
		t.Fatal("SyncAlways has a write-back")
	}
	mustSet(t, s.Namespace(1), 1, "k", str("v"))
	if !inPebble(t, s, 1, 1, "k") {
		t.Fatal("a SyncAlways write is not in pebble when it returns")
	}
}

// TestSortedKeys checks the drain's order against pebble's (bytewise) on
// keys that share their first eight bytes and keys shorter than that.
func TestSortedKeys(t *testing.T) {
	set := &stagedSet{ops: map[string]stagedOp{}}
	want := []string{"", "a", "ab", "abcdefgh", "abcdefgh\x00", "abcdefghi", "abcdefgi", "b", "\xff"}
	for _, k := range want {
		set.ops[k] = stagedOp{}
	}
	if got := set.sortedKeys(); fmt.Sprintf("%q", got) != fmt.Sprintf("%q", want) {
		t.Fatalf("sortedKeys = %q, want %q", got, want)
	}
}
