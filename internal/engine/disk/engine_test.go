package disk

import (
	"fmt"
	"testing"

	"granary/internal/engine"
)

// waitIndex waits until the store holds n expiry-index keys (the clean-up
// after a drop runs in the background).
func waitIndex(t testing.TB, s *Store, n int) {
	t.Helper()
	for i := 0; ; i++ {
		got := len(rawKeys(t, s, []byte{prefixExp}))
		if got == n {
			return
		}
		if i == 500 {
			t.Fatalf("%d index keys, want %d", got, n)
		}
		sleep()
	}
}

func TestNamespacesIndependent(t *testing.T) {
	s, a := newEngine(t, Options{})
	b := s.Namespace(2)
	if s.Namespace(2) != b {
		t.Fatal("Namespace is not create-once")
	}
	last := s.Namespace(0xffff)
	for i := 0; i < 100; i++ {
		k := keyOf(i)
		mustSet(t, a, uint16(i%3), k, str("a"+k))
		mustSet(t, b, uint16(i%3), k, engine.Item{Type: engine.TypeString, Expire: now0 + 1e6, Value: []byte("b" + k)})
		mustSet(t, last, NumBuckets-1, k, str("z"))
	}
	if it, _ := get(a, 1, keyOf(1), now0); string(it.Value) != "a"+keyOf(1) {
		t.Fatalf("a: %q", it.Value)
	}
	if it, _ := get(b, 1, keyOf(1), now0); string(it.Value) != "b"+keyOf(1) {
		t.Fatalf("b: %q", it.Value)
	}
	a.DropBucket(1)
	if a.CountBucket(1) != 0 || b.CountBucket(1) != 33 || a.CountBucket(0) != 34 {
		t.Fatalf("drop crossed namespaces: %d %d %d", a.CountBucket(1), b.CountBucket(1), a.CountBucket(0))
	}
	if _, ok := get(b, 1, keyOf(1), now0); !ok {
		t.Fatal("b lost a key to a's drop")
	}
	b.Flush()
	if b.Stats().Items != 0 || a.Stats().Items != 67 || last.Stats().Items != 100 {
		t.Fatalf("flush crossed namespaces: %+v %+v %+v", a.Stats(), b.Stats(), last.Stats())
	}
	if _, ok := get(a, 0, keyOf(0), now0); !ok {
		t.Fatal("a lost a key to b's flush")
	}
	last.Flush()
	if a.Stats().Items != 67 || last.Stats().Items != 0 {
		t.Fatal("flush of the last namespace")
	}
	if err := a.Close(); err != nil {
		t.Fatal(err)
	}
	if _, ok := get(a, 0, keyOf(0), now0); !ok {
		t.Fatal("Engine.Close closed the store")
	}
	waitIndex(t, s, 0)
	checkStore(t, s)
}

func TestCorruptValue(t *testing.T) {
	dir := t.TempDir()
	s := openStore(t, dir, Options{})
	mustSet(t, s.Namespace(1), 4, "good", str("v"))
	for i, raw := range [][]byte{{}, {0x80}, {0x41, 1, 0, 0}, {0x01, 0xff}} {
		dk := appendDataKey(nil, 1, 4, []byte(fmt.Sprint("bad", i)))
		if err := s.db.Set(dk, raw, nil); err != nil {
			t.Fatal(err)
		}
	}
	// Reopen so that the count pass counts the raw keys.
	s.Close()
	s = openStore(t, dir, Options{})
	e := s.Namespace(1)
	for i := 0; i < 4; i++ {
		k := fmt.Sprint("bad", i)
		if _, ok := get(e, 4, k, now0); ok {
			t.Fatalf("corrupt %s visible", k)
		}
		if e.Touch(4, []byte(k), now0) {
			t.Fatalf("corrupt %s touched", k)
		}
	}
	n := 0
	e.ScanBucket(4, now0, func([]byte, *engine.Item) bool { n++; return true })
	if n != 1 || e.CountBucket(4) != 5 {
		t.Fatalf("scan saw %d items, count %d", n, e.CountBucket(4))
	}
	checkStore(t, s)
	// Writers treat a corrupt value as absent and replace it.
	if v := mustSet(t, e, 4, "bad1", str("fixed")); v != 1 {
		t.Fatalf("version %d over a corrupt value", v)
	}
	if err := e.Update(4, []byte("bad2"), now0, func(cur *engine.Item) (engine.Item, engine.Op) {
		if cur != nil {
			t.Error("cur set for a corrupt value")
		}
		return engine.Item{}, engine.OpDelete
	}); err != nil {
		t.Fatal(err)
	}
	if e.CountBucket(4) != 4 {
		t.Fatalf("count %d", e.CountBucket(4))
	}
	checkStore(t, s)
}
