package disk

import (
	"bytes"
	"fmt"
	"path/filepath"
	"testing"

	"granary/internal/engine"
)

type loadItem struct {
	ns, b uint16
	key   string
	it    engine.Item
}

// sortedLoad builds n items over two namespaces and many buckets, in the
// order bucket files want them.
func sortedLoad(n int) []loadItem {
	var out []loadItem
	for i := 0; i < n; i++ {
		ns := uint16(1 + i*2/n) // first half ns 1, second half ns 2
		b := uint16(i % (n / 2) / 10)
		it := engine.Item{Type: engine.TypeString, Version: uint64(i % 3), Value: []byte(fmt.Sprint("bulk", i))}
		if i%4 == 0 {
			it.Expire = now0 + 1e6 + int64(i%1000)
		}
		out = append(out, loadItem{ns, b, fmt.Sprintf("k%08d", i), it})
	}
	return out
}

// ingestLoad has each namespace's engine ingest its items, one bucket file
// per bucket, in one call per namespace (as GRANARY.INGEST does).
func ingestLoad(s *Store, items []loadItem) error {
	type nb struct{ ns, b uint16 }
	var order []nb
	byBucket := map[nb][]loadItem{}
	for _, li := range items {
		k := nb{li.ns, li.b}
		if byBucket[k] == nil {
			order = append(order, k)
		}
		byBucket[k] = append(byBucket[k], li)
	}
	buckets := map[uint16][]uint16{}
	files := map[uint16][][]byte{}
	for _, k := range order {
		f, err := BucketFile(k.ns, k.b, func(yield func([]byte, engine.Item) bool) {
			for _, li := range byBucket[k] {
				if !yield([]byte(li.key), li.it) {
					return
				}
			}
		})
		if err != nil {
			return err
		}
		buckets[k.ns] = append(buckets[k.ns], k.b)
		files[k.ns] = append(files[k.ns], f)
	}
	for ns := range buckets {
		if err := s.Namespace(ns).Ingest(buckets[ns], files[ns]); err != nil {
			return err
		}
	}
	return nil
}

func TestIngest(t *testing.T) {
	s, _ := newEngine(t, Options{})
	items := sortedLoad(6000)
	// Items stored before the load: some are replaced (with another or no
	// expiry), some stay.
	for i, li := range items {
		if i%5 != 0 {
			continue
		}
		it := engine.Item{Type: engine.TypeHash, Version: 99, Expire: now0 + 5e6, Value: []byte("old")}
		if _, err := s.Namespace(li.ns).Set(li.b, []byte(li.key), it, now0); err != nil {
			t.Fatal(err)
		}
		mustSet(t, s.Namespace(li.ns), li.b, li.key+"-stays", str("stays"))
	}
	other := s.Namespace(7)
	mustSet(t, other, 0, "untouched", str("x"))

	if err := ingestLoad(s, items); err != nil {
		t.Fatal(err)
	}
	if left, _ := filepath.Glob(filepath.Join(s.dir, "ingest-*")); len(left) != 0 {
		t.Fatalf("staged files left after the ingestion: %v", left)
	}
	for i, li := range items {
		e := s.Namespace(li.ns)
		it, ok := get(e, li.b, li.key, now0)
		ver := max(li.it.Version, 1)
		if !ok || !bytes.Equal(it.Value, li.it.Value) || it.Version != ver || it.Expire != li.it.Expire || it.Type != li.it.Type {
			t.Fatalf("%s: %+v %v, want %+v", li.key, it, ok, li.it)
		}
		if i%5 == 0 {
			if it, ok := get(e, li.b, li.key+"-stays", now0); !ok || string(it.Value) != "stays" {
				t.Fatalf("%s-stays lost", li.key)
			}
		}
	}
	if _, ok := get(other, 0, "untouched", now0); !ok {
		t.Fatal("other namespace changed")
	}
	n1, n2 := s.Namespace(1).Stats().Items, s.Namespace(2).Stats().Items
	if n1+n2 != int64(len(items)+len(items)/5) {
		t.Fatalf("items %d + %d", n1, n2)
	}
	// Writes after the load carry versions on.
	if v := mustSet(t, s.Namespace(items[1].ns), items[1].b, items[1].key, str("after")); v != max(items[1].it.Version, 1)+1 {
		t.Fatalf("version %d after load", v)
	}
	checkStore(t, s)
	// The index keys of replaced items are left for the sweep.
	idx := len(rawKeys(t, s, []byte{prefixExp}))
	if want := len(items)/4 + len(items)/5; idx != want {
		t.Fatalf("%d index keys, want %d", idx, want)
	}
	for s.sweep(now0+1e7, 1000) > 0 {
	}
	if st := s.Namespace(1).Stats(); st.ItemsExpire != 0 || st.Expirations == 0 {
		t.Fatalf("after sweep: %+v", st)
	}
	if n := len(rawKeys(t, s, []byte{prefixExp})); n != 0 {
		t.Fatalf("%d index keys after the sweep", n)
	}
	checkStore(t, s)
}

// TestIngestRefusesBadFiles: a bucket file out of order, truncated,
// malformed or empty is refused whole, and nothing of the call is stored.
func TestIngestRefusesBadFiles(t *testing.T) {
	s, e := newEngine(t, Options{})
	one := func(keys ...string) []byte {
		f, err := BucketFile(1, 3, func(yield func([]byte, engine.Item) bool) {
			for _, k := range keys {
				if !yield([]byte(k), str("v")) {
					return
				}
			}
		})
		if err != nil {
			t.Fatal(err)
		}
		return f
	}
	if _, err := BucketFile(1, 3, func(yield func([]byte, engine.Item) bool) {
		yield([]byte("b"), str("v"))
		yield([]byte("a"), str("v"))
	}); err == nil {
		t.Fatal("BucketFile took keys out of order")
	}
	if _, err := BucketFile(1, 3, func(func([]byte, engine.Item) bool) {}); err == nil {
		t.Fatal("BucketFile made an empty file")
	}
	good := one("a", "b")
	bad := map[string][]byte{
		"not a bucket file": []byte("nope"),
		"truncated":         good[:len(good)-2],
		"out of order":      append(append([]byte{}, good...), good[len(bucketFileMagic):]...),
		"empty":             []byte(bucketFileMagic),
	}
	for name, f := range bad {
		if err := e.Ingest([]uint16{3, 4}, [][]byte{one("x"), f}); err == nil {
			t.Errorf("%s: ingested", name)
		}
	}
	if err := e.Ingest([]uint16{3, 3}, [][]byte{good, good}); err == nil {
		t.Error("two files for one bucket ingested")
	}
	if n := e.CountBucket(3); n != 0 {
		t.Fatalf("refused calls stored %d items", n)
	}
	if err := e.Ingest([]uint16{3}, [][]byte{good}); err != nil {
		t.Fatal(err)
	}
	if n := e.CountBucket(3); n != 2 {
		t.Fatalf("%d items after a good file", n)
	}
	checkStore(t, s)
}

// TestIngestRecountsItsBucketsOnly: an ingestion of files of buckets spread
// over a namespace recounts those buckets, not every bucket between the
// first and the last of them (which would make an import of many small
// batches read the store over and over), and the counters stay right.
func TestIngestRecountsItsBucketsOnly(t *testing.T) {
	s, _ := newEngine(t, Options{})
	e := s.Namespace(1)
	for b := uint16(0); b < 100; b++ {
		for i := range 3 {
			mustSet(t, e, b, fmt.Sprintf("old-%d-%d", b, i), str("x"))
		}
	}
	// The row cache learns that "new" is not in bucket 3.
	if _, _, ok := e.Get(3, []byte("new"), now0, nil); ok {
		t.Fatal("found a key never written")
	}
	var counted []uint32
	testCountHook = func(p uint32) { counted = append(counted, p) }
	defer func() { testCountHook = nil }()
	var buckets []uint16
	var files [][]byte
	for _, b := range []uint16{97, 3, 50} {
		f, err := BucketFile(1, b, func(yield func([]byte, engine.Item) bool) {
			yield([]byte("new"), engine.Item{Type: engine.TypeString, Value: []byte("y")})
		})
		if err != nil {
			t.Fatal(err)
		}
		buckets, files = append(buckets, b), append(files, f)
	}
	if err := e.Ingest(buckets, files); err != nil {
		t.Fatal(err)
	}
	// The hook sees every bucket counted but the last one.
	want := []uint32{pos(1, 3), pos(1, 50)}
	if fmt.Sprint(counted) != fmt.Sprint(want) {
		t.Fatalf("recounted %v, want %v", counted, want)
	}
	if n := e.Stats().Items; n != 303 {
		t.Fatalf("%d items, want 303", n)
	}
	// The ingested buckets left the row cache, the others stayed.
	if it, _, ok := e.Get(3, []byte("new"), now0, nil); !ok || string(it.Value) != "y" {
		t.Fatalf("ingested key: %q %v", it.Value, ok)
	}
	before := s.RowCacheStats()
	if _, _, ok := e.Get(10, []byte("old-10-0"), now0, nil); !ok {
		t.Fatal("old-10-0 lost")
	}
	if st := s.RowCacheStats(); st.Hits != before.Hits+1 {
		t.Fatalf("a bucket the ingestion did not touch left the row cache (hits %d -> %d)", before.Hits, st.Hits)
	}
	checkStore(t, s)
}
