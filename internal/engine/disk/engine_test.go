package disk

import (
	"bytes"
	"errors"
	"fmt"
	"math/rand/v2"
	"testing"

	"granary/internal/engine"
)

func TestGetSetDelete(t *testing.T) {
	s, e := newEngine(t, Options{})
	if _, ok := get(e, 1, "k", now0); ok {
		t.Fatal("found key in empty engine")
	}
	mustSet(t, e, 1, "k", engine.Item{Type: engine.TypeHash, Expire: now0 + 1000, Value: []byte("v1")})
	it, ok := get(e, 1, "k", now0)
	if !ok || string(it.Value) != "v1" || it.Type != engine.TypeHash || it.Version != 1 || it.Expire != now0+1000 {
		t.Fatalf("Get = %+v %v", it, ok)
	}
	if _, ok := get(e, 2, "k", now0); ok {
		t.Fatal("key visible in another bucket")
	}
	if _, ok := get(e, 1+NumBuckets, "k", now0); !ok {
		t.Fatal("buckets do not wrap around")
	}
	_, out, _ := e.Get(1, []byte("k"), now0, []byte("x:"))
	if string(out) != "x:v1" {
		t.Fatalf("dst = %q", out)
	}
	if !e.Touch(1, []byte("k"), now0) || e.Touch(1, []byte("nope"), now0) {
		t.Fatal("Touch")
	}
	mustSet(t, e, 1, "", str(""))
	if it, ok := get(e, 1, "", now0); !ok || len(it.Value) != 0 {
		t.Fatal("empty key/value")
	}
	err := e.Update(1, []byte("k"), now0, func(cur *engine.Item) (engine.Item, engine.Op) {
		return engine.Item{}, engine.OpDelete
	})
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := get(e, 1, "k", now0); ok {
		t.Fatal("deleted key still there")
	}
	if st := e.Stats(); st.Items != 1 || st.ItemsExpire != 0 || st.Bytes == 0 {
		t.Fatalf("stats %+v", st)
	}
	if _, err := e.Set(1, []byte("t"), engine.Item{Type: 64}, now0); err == nil {
		t.Fatal("bad type accepted")
	}
	if len(rawKeys(t, s, []byte{prefixExp})) != 0 {
		t.Fatal("index key left after delete")
	}
	checkStore(t, s)
}

func TestSetVersion(t *testing.T) {
	tests := []struct {
		name string
		sets []uint64 // Version passed to successive Sets
		want []uint64 // versions returned
	}{
		{"new key gets 1", []uint64{0}, []uint64{1}},
		{"carry on", []uint64{0, 0, 0}, []uint64{1, 2, 3}},
		{"explicit", []uint64{7}, []uint64{7}},
		{"explicit then carry", []uint64{0, 42, 0}, []uint64{1, 42, 43}},
		{"explicit lower", []uint64{0, 0, 1, 0}, []uint64{1, 2, 1, 2}},
		{"large", []uint64{1 << 40, 0}, []uint64{1 << 40, 1<<40 + 1}},
		{"max", []uint64{^uint64(0)}, []uint64{^uint64(0)}},
	}
	_, e := newEngine(t, Options{})
	for ti, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			key := fmt.Sprint("key", ti)
			for i, v := range tc.sets {
				it := engine.Item{Type: engine.TypeString, Version: v, Value: bytes.Repeat([]byte("v"), 1+i*10)}
				got := mustSet(t, e, 3, key, it)
				if got != tc.want[i] {
					t.Fatalf("set %d: version %d, want %d", i, got, tc.want[i])
				}
				if it, _ := get(e, 3, key, now0); it.Version != got {
					t.Fatalf("stored version %d, want %d", it.Version, got)
				}
			}
		})
	}
	t.Run("expired key starts over", func(t *testing.T) {
		mustSet(t, e, 0, "k", engine.Item{Type: engine.TypeString, Version: 9, Expire: now0 + 10})
		v, _ := e.Set(0, []byte("k"), str("x"), now0+11)
		if v != 1 {
			t.Fatalf("version %d after expiry, want 1", v)
		}
		if st := e.Stats(); st.Expirations != 1 {
			t.Fatalf("Expirations = %d", st.Expirations)
		}
	})
}

func TestUpdate(t *testing.T) {
	s, e := newEngine(t, Options{})
	k := []byte("counter")
	put := func(val string, ver uint64) func(*engine.Item) (engine.Item, engine.Op) {
		return func(cur *engine.Item) (engine.Item, engine.Op) {
			return engine.Item{Type: engine.TypeString, Version: ver, Value: []byte(val)}, engine.OpPut
		}
	}
	var sawNil bool
	if err := e.Update(5, k, now0, func(cur *engine.Item) (engine.Item, engine.Op) {
		sawNil = cur == nil
		return engine.Item{}, engine.OpKeep
	}); err != nil || !sawNil {
		t.Fatalf("absent key: err %v, cur nil %v", err, sawNil)
	}
	if e.CountBucket(5) != 0 {
		t.Fatal("OpKeep on absent key created it")
	}
	if err := e.Update(5, k, now0, func(*engine.Item) (engine.Item, engine.Op) { return engine.Item{}, engine.OpDelete }); err != nil {
		t.Fatal(err)
	}
	// Update stores the version as given, even 0.
	for _, v := range []uint64{5, 0, 3} {
		if err := e.Update(5, k, now0, put("v", v)); err != nil {
			t.Fatal(err)
		}
		if it, _ := get(e, 5, "counter", now0); it.Version != v {
			t.Fatalf("version %d, want %d", it.Version, v)
		}
	}
	for i := 0; i < 100; i++ {
		err := e.Update(5, k, now0, func(cur *engine.Item) (engine.Item, engine.Op) {
			n := 0
			fmt.Sscan(string(cur.Value), &n)
			return engine.Item{Type: cur.Type, Version: cur.Version + 1, Value: []byte(fmt.Sprint(n + 1))}, engine.OpPut
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	if it, _ := get(e, 5, "counter", now0); string(it.Value) != "100" || it.Version != 103 {
		t.Fatalf("got %q v%d", it.Value, it.Version)
	}
	// Expiry set, moved and removed through Update keeps one index key.
	for _, exp := range []int64{now0 + 5000, now0 + 9000, 0, now0 + 7000} {
		err := e.Update(5, k, now0, func(cur *engine.Item) (engine.Item, engine.Op) {
			next := *cur
			next.Expire = exp
			return next, engine.OpPut
		})
		if err != nil {
			t.Fatal(err)
		}
		want := 0
		if exp != 0 {
			want = 1
		}
		if n := len(rawKeys(t, s, []byte{prefixExp})); n != want {
			t.Fatalf("expiry %d: %d index keys", exp, n)
		}
	}
	if err := e.Update(5, k, now0, func(*engine.Item) (engine.Item, engine.Op) { return engine.Item{Type: 99}, engine.OpPut }); err == nil {
		t.Fatal("bad type accepted")
	}
	checkStore(t, s)
}

// TestUpdateAliasing passes (parts of) cur.Value, which points into pebble's
// memory, back as next.Value.
func TestUpdateAliasing(t *testing.T) {
	s, e := newEngine(t, Options{})
	rng := rand.New(rand.NewPCG(1, 2))
	model := map[string]string{}
	for i := 0; i < 5000; i++ {
		k := fmt.Sprintf("k%d", rng.IntN(300))
		b := uint16(len(k))
		switch rng.IntN(4) {
		case 0:
			v := string(bytes.Repeat([]byte{byte('a' + i%26)}, rng.IntN(300)))
			mustSet(t, e, b, k, str(v))
			model[k] = v
		case 1:
			e.Update(b, []byte(k), now0, func(cur *engine.Item) (engine.Item, engine.Op) {
				if cur == nil {
					return engine.Item{}, engine.OpKeep
				}
				next := *cur
				next.Version += uint64(rng.IntN(1000))
				if rng.IntN(2) == 0 {
					next.Expire = now0 + 1e9
				} else {
					next.Expire = 0
				}
				return next, engine.OpPut
			})
		case 2:
			e.Update(b, []byte(k), now0, func(cur *engine.Item) (engine.Item, engine.Op) {
				if cur == nil || len(cur.Value) == 0 {
					return engine.Item{}, engine.OpKeep
				}
				next := *cur
				next.Value = cur.Value[1:]
				model[k] = model[k][1:]
				return next, engine.OpPut
			})
		case 3:
			keys := [][]byte{[]byte(k), []byte(k + "x"), []byte(k)}
			err := e.UpdateMany([]uint16{b, b + 1, b}, keys, now0, func(cur []*engine.Item, next []engine.Item, ops []engine.Op) {
				if cur[0] == nil {
					return
				}
				next[1] = *cur[0]
				ops[1] = engine.OpPut
				model[k+"x"] = model[k]
				if len(cur[0].Value) > 0 {
					next[2] = *cur[0]
					next[2].Value = cur[0].Value[len(cur[0].Value)/2:]
					ops[2] = engine.OpPut
					model[k] = model[k][len(model[k])/2:]
				}
			})
			if err != nil {
				t.Fatal(err)
			}
		}
	}
	for k, v := range model {
		it, ok := get(e, uint16(len(k)), k, now0)
		if !ok || string(it.Value) != v {
			t.Fatalf("%q = %q %v, want %q", k, it.Value, ok, v)
		}
	}
	checkStore(t, s)
}

func TestUpdateMany(t *testing.T) {
	s, e := newEngine(t, Options{})
	mustSet(t, e, 10, "a", str("1"))
	mustSet(t, e, 300, "b", engine.Item{Type: engine.TypeString, Expire: now0 + 1e6, Value: []byte("2")})
	buckets := []uint16{10, 300, 9000, 10}
	keys := [][]byte{[]byte("a"), []byte("b"), []byte("c"), []byte("a")}
	err := e.UpdateMany(buckets, keys, now0, func(cur []*engine.Item, next []engine.Item, ops []engine.Op) {
		if cur[0] == nil || cur[1] == nil || cur[2] != nil || cur[3] == nil {
			t.Errorf("cur = %v", cur)
		}
		if string(cur[0].Value) != "1" || string(cur[3].Value) != "1" {
			t.Errorf("duplicate cur = %q %q", cur[0].Value, cur[3].Value)
		}
		for _, op := range ops {
			if op != engine.OpKeep {
				t.Errorf("ops not preset to OpKeep")
			}
		}
		next[0], ops[0] = engine.Item{Type: engine.TypeString, Expire: now0 + 1e6, Value: []byte("first")}, engine.OpPut
		next[3], ops[3] = str("later wins"), engine.OpPut
		ops[1] = engine.OpDelete
		next[2], ops[2] = engine.Item{Type: engine.TypeString, Version: 77, Value: []byte("new")}, engine.OpPut
	})
	if err != nil {
		t.Fatal(err)
	}
	if it, _ := get(e, 10, "a", now0); string(it.Value) != "later wins" || it.Expire != 0 {
		t.Fatalf("a = %+v", it)
	}
	if _, ok := get(e, 300, "b", now0); ok {
		t.Fatal("b not deleted")
	}
	if it, _ := get(e, 9000, "c", now0); string(it.Value) != "new" || it.Version != 77 {
		t.Fatalf("c = %+v", it)
	}
	if n := len(rawKeys(t, s, []byte{prefixExp})); n != 0 {
		t.Fatalf("%d index keys left", n)
	}
	// A put then a keep of the same key: the put stands.
	err = e.UpdateMany([]uint16{10, 10}, [][]byte{[]byte("a"), []byte("a")}, now0, func(cur []*engine.Item, next []engine.Item, ops []engine.Op) {
		next[0], ops[0] = str("kept"), engine.OpPut
	})
	if err != nil {
		t.Fatal(err)
	}
	if it, _ := get(e, 10, "a", now0); string(it.Value) != "kept" {
		t.Fatalf("a = %q", it.Value)
	}
	// One bad outcome rejects the whole batch.
	err = e.UpdateMany([]uint16{10, 11}, [][]byte{[]byte("a"), []byte("z")}, now0, func(cur []*engine.Item, next []engine.Item, ops []engine.Op) {
		next[0], ops[0] = str("changed"), engine.OpPut
		next[1], ops[1] = engine.Item{Type: 70}, engine.OpPut
	})
	if err == nil {
		t.Fatal("bad type accepted")
	}
	if it, _ := get(e, 10, "a", now0); string(it.Value) != "kept" {
		t.Fatalf("a = %q after a rejected batch", it.Value)
	}
	if err := e.UpdateMany([]uint16{1}, nil, now0, nil); err == nil {
		t.Fatal("mismatched lengths accepted")
	}
	// Many keys (the map path of the duplicate detection).
	var bs []uint16
	var ks [][]byte
	for i := 0; i < 100; i++ {
		bs = append(bs, uint16(i%7))
		ks = append(ks, []byte(fmt.Sprint("m", i%40)))
	}
	err = e.UpdateMany(bs, ks, now0, func(cur []*engine.Item, next []engine.Item, ops []engine.Op) {
		for i := range ops {
			next[i], ops[i] = str(fmt.Sprint(i)), engine.OpPut
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	for i := 60; i < 100; i++ {
		if it, ok := get(e, bs[i], string(ks[i]), now0); !ok || string(it.Value) != fmt.Sprint(i) {
			t.Fatalf("%s = %q %v, want %d", ks[i], it.Value, ok, i)
		}
	}
	checkStore(t, s)
}

func TestScanCountDrop(t *testing.T) {
	s, e := newEngine(t, Options{})
	want := map[string]bool{}
	for i := 0; i < 1000; i++ {
		k := keyOf(i)
		b := uint16(i % 4)
		it := str(k)
		if i%10 == 0 {
			it.Expire = now0 + 5 // expired at now0+10 but still stored
		} else if i%10 == 1 {
			it.Expire = now0 + 1e6
		}
		mustSet(t, e, b, k, it)
		if b == 2 && i%10 != 0 {
			want[k] = true
		}
	}
	if n := e.CountBucket(2); n != 250 {
		t.Fatalf("CountBucket = %d", n)
	}
	got := map[string]bool{}
	var last []byte
	e.ScanBucket(2, now0+10, func(key []byte, it *engine.Item) bool {
		if string(it.Value) != string(key) {
			t.Errorf("value %q for key %q", it.Value, key)
		}
		if bytes.Compare(key, last) <= 0 {
			t.Errorf("scan not in key order")
		}
		last = append(last[:0], key...)
		got[string(key)] = true
		return true
	})
	if len(got) != len(want) {
		t.Fatalf("scanned %d live items, want %d", len(got), len(want))
	}
	for k := range want {
		if !got[k] {
			t.Fatalf("scan missed %q", k)
		}
	}
	calls := 0
	e.ScanBucket(2, now0, func([]byte, *engine.Item) bool { calls++; return calls < 3 })
	if calls != 3 {
		t.Fatalf("scan did not stop: %d calls", calls)
	}
	before := e.Stats()
	e.DropBucket(2)
	if e.CountBucket(2) != 0 || e.CountBucket(1) != 250 {
		t.Fatal("DropBucket dropped the wrong things")
	}
	e.ScanBucket(2, now0, func([]byte, *engine.Item) bool { t.Fatal("item after drop"); return false })
	after := e.Stats()
	if after.Items != before.Items-250 || after.ItemsExpire != before.ItemsExpire-50 || after.Bytes >= before.Bytes {
		t.Fatalf("stats before %+v after %+v", before, after)
	}
	waitIndex(t, s, 150) // 50 items with an expiry in each remaining bucket
	checkStore(t, s)
	e.Flush()
	if st := e.Stats(); st.Items != 0 || st.Bytes != 0 || st.ItemsExpire != 0 {
		t.Fatalf("after Flush: %+v", st)
	}
	waitIndex(t, s, 0)
	mustSet(t, e, 1, "again", str("x"))
	if _, ok := get(e, 1, "again", now0); !ok {
		t.Fatal("engine unusable after Flush")
	}
	checkStore(t, s)
}

// waitIndex waits until the store holds n expiry-index keys (the clean-up
// after a drop runs in the background).
func waitIndex(t *testing.T, s *Store, n int) {
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

func TestLargeValues(t *testing.T) {
	s, e := newEngine(t, Options{MaxItemSize: 8 << 20})
	sizes := []int{64 << 10, 1 << 20, 5 << 20, 10, 300 << 10}
	for i, n := range sizes {
		v := bytes.Repeat([]byte{byte(i + 1)}, n)
		mustSet(t, e, 7, "big", engine.Item{Type: engine.TypeString, Value: v})
		it, ok := get(e, 7, "big", now0)
		if !ok || !bytes.Equal(it.Value, v) || it.Version != uint64(i+1) {
			t.Fatalf("size %d: ok %v len %d v%d", n, ok, len(it.Value), it.Version)
		}
	}
	if _, err := e.Set(0, []byte("k"), engine.Item{Type: engine.TypeString, Value: make([]byte, 9<<20)}, now0); !errors.Is(err, engine.ErrTooLarge) {
		t.Fatalf("err = %v, want ErrTooLarge", err)
	}
	e.SetQuota(1 << 10)
	if _, err := e.Set(0, []byte("k"), engine.Item{Type: engine.TypeString, Value: make([]byte, 2<<10)}, now0); err != nil {
		t.Fatalf("quota enforced: %v", err)
	}
	if st := e.Stats(); st.Quota != 1<<10 {
		t.Fatalf("quota not reported: %+v", st)
	}
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

// TestModel runs random operations against a map and checks the engine
// agrees.
func TestModel(t *testing.T) {
	s, e := newEngine(t, Options{})
	rng := rand.New(rand.NewPCG(3, 4))
	type entry struct {
		val string
		ver uint64
		exp int64
	}
	model := map[string]entry{}
	for step := 0; step < 20000; step++ {
		i := rng.IntN(2000)
		b, k := uint16(i%50), keyOf(i)
		switch r := rng.IntN(10); {
		case r < 5:
			v := string(bytes.Repeat([]byte{byte(step)}, rng.IntN(200)))
			var exp int64
			if rng.IntN(3) == 0 {
				exp = now0 + 1e6 + int64(rng.IntN(1000))
			}
			ver := mustSet(t, e, b, k, engine.Item{Type: engine.TypeString, Expire: exp, Value: []byte(v)})
			if want := model[k].ver + 1; ver != want {
				t.Fatalf("step %d: version %d, want %d", step, ver, want)
			}
			model[k] = entry{v, ver, exp}
		case r < 7:
			e.Update(b, []byte(k), now0, func(cur *engine.Item) (engine.Item, engine.Op) { return engine.Item{}, engine.OpDelete })
			delete(model, k)
		default:
			it, ok := get(e, b, k, now0)
			m, mok := model[k]
			if ok != mok || ok && (string(it.Value) != m.val || it.Version != m.ver || it.Expire != m.exp) {
				t.Fatalf("step %d: Get(%q) = %v %+v, model %v %+v", step, k, ok, it, mok, m)
			}
		}
	}
	n := 0
	for b := uint16(0); b < 50; b++ {
		e.ScanBucket(b, now0, func(key []byte, it *engine.Item) bool {
			n++
			if m, ok := model[string(key)]; !ok || m.val != string(it.Value) || m.ver != it.Version {
				t.Fatalf("scan: %q mismatch", key)
			}
			return true
		})
	}
	if n != len(model) {
		t.Fatalf("scanned %d, model has %d", n, len(model))
	}
	if st := e.Stats(); st.Items != int64(len(model)) {
		t.Fatalf("Items = %d, want %d", st.Items, len(model))
	}
	checkStore(t, s)
}
