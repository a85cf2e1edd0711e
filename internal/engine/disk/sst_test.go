package disk

import (
	"bytes"
	"fmt"
	"os"
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
// order SSTWriter wants them.
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

func TestIngest(t *testing.T) {
	for _, spill := range []int{expSpillBytes, 4 << 10} {
		t.Run(fmt.Sprint("spill", spill), func(t *testing.T) {
			s, _ := newEngine(t, Options{})
			items := sortedLoad(6000)
			// Items stored before the load: some are replaced (with another
			// or no expiry), some stay.
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

			dir := t.TempDir()
			w, err := s.NewSSTWriter(filepath.Join(dir, "load.sst"))
			if err != nil {
				t.Fatal(err)
			}
			w.spillBytes = spill
			for _, li := range items {
				if err := w.Add(li.ns, li.b, []byte(li.key), li.it); err != nil {
					t.Fatal(err)
				}
			}
			last := items[len(items)-1]
			if err := w.Add(last.ns, last.b, []byte(last.key), last.it); err == nil {
				t.Fatal("repeated key accepted")
			}
			if err := w.Add(1, 0, []byte("a"), last.it); err == nil {
				t.Fatal("key out of order accepted")
			}
			if err := w.Finish(); err != nil {
				t.Fatal(err)
			}
			paths := w.Paths()
			if spill < expSpillBytes && len(paths) < 4 || spill == expSpillBytes && len(paths) != 1 {
				t.Fatalf("spill %d: files %v", spill, paths)
			}
			if err := s.Ingest(paths); err != nil {
				t.Fatal(err)
			}
			for _, p := range paths {
				if _, err := os.Stat(p); !os.IsNotExist(err) {
					t.Fatalf("%s still there after ingest", p)
				}
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
		})
	}
}

func TestSSTWriterEdges(t *testing.T) {
	s, e := newEngine(t, Options{})
	dir := t.TempDir()
	// No item: no file.
	w, err := s.NewSSTWriter(filepath.Join(dir, "empty.sst"))
	if err != nil {
		t.Fatal(err)
	}
	if err := w.Finish(); err != nil || len(w.Paths()) != 0 {
		t.Fatalf("empty writer: %v %v", err, w.Paths())
	}
	if err := s.Ingest(w.Paths()); err != nil {
		t.Fatal(err)
	}
	// Items without expiry: one file.
	w, _ = s.NewSSTWriter(filepath.Join(dir, "plain.sst"))
	for i := 0; i < 10; i++ {
		if err := w.Add(1, 3, []byte(keyOf(i)), str("p")); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Add(1, 3, []byte("z"), engine.Item{Type: 100}); err == nil {
		t.Fatal("bad type accepted")
	}
	if err := w.Finish(); err != nil || len(w.Paths()) != 1 {
		t.Fatalf("%v %v", err, w.Paths())
	}
	if err := w.Add(1, 3, []byte("zz"), str("p")); err == nil {
		t.Fatal("Add after Finish accepted")
	}
	if err := s.Ingest(w.Paths()); err != nil {
		t.Fatal(err)
	}
	if e.CountBucket(3) != 10 {
		t.Fatalf("count %d", e.CountBucket(3))
	}
	// Abort removes the files.
	w, _ = s.NewSSTWriter(filepath.Join(dir, "aborted.sst"))
	w.Add(1, 3, []byte("a"), engine.Item{Type: engine.TypeString, Expire: now0 + 1})
	w.Abort()
	if ents, _ := os.ReadDir(dir); len(ents) != 0 {
		t.Fatalf("files left: %v", ents)
	}
	if err := s.Ingest([]string{filepath.Join(dir, "missing.sst")}); err == nil {
		t.Fatal("missing file ingested")
	}
	checkStore(t, s)
}
