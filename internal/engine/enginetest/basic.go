package enginetest

import (
	"bytes"
	"errors"
	"fmt"
	"math/rand/v2"
	"testing"

	"granary/internal/engine"
)

func testGetSetDelete(t *testing.T, h *harness) {
	e := h.open(t)
	if _, ok := Get(e, 1, "k", Now); ok {
		t.Fatal("found key in empty engine")
	}
	MustSet(t, e, 1, "k", engine.Item{Type: engine.TypeHash, Expire: Now + 1000, Value: []byte("v1")})
	it, ok := Get(e, 1, "k", Now)
	if !ok || string(it.Value) != "v1" || it.Type != engine.TypeHash || it.Version != 1 || it.Expire != Now+1000 {
		t.Fatalf("Get = %+v %v", it, ok)
	}
	if _, ok := Get(e, 2, "k", Now); ok {
		t.Fatal("key visible in another bucket")
	}
	if _, ok := Get(e, 1+numBuckets, "k", Now); !ok {
		t.Fatal("buckets do not wrap around")
	}
	// Get appends to dst.
	_, out, _ := e.Get(1, []byte("k"), Now, []byte("x:"))
	if string(out) != "x:v1" {
		t.Fatalf("dst = %q", out)
	}
	if !e.Touch(1, []byte("k"), Now) || e.Touch(1, []byte("nope"), Now) {
		t.Fatal("Touch")
	}
	// Empty key and empty value are fine.
	MustSet(t, e, 1, "", Str(""))
	if it, ok := Get(e, 1, "", Now); !ok || len(it.Value) != 0 {
		t.Fatal("empty key/value")
	}
	err := e.Update(1, []byte("k"), Now, func(cur *engine.Item) (engine.Item, engine.Op) {
		return engine.Item{}, engine.OpDelete
	})
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := Get(e, 1, "k", Now); ok {
		t.Fatal("deleted key still there")
	}
	if st := e.Stats(); st.Items != 1 || st.ItemsExpire != 0 || st.Bytes == 0 {
		t.Fatalf("stats %+v", st)
	}
	if _, err := e.Set(1, []byte("t"), engine.Item{Type: 64}, Now); err == nil {
		t.Fatal("bad type accepted")
	}
	h.check(t, e)
}

func testSetVersion(t *testing.T, h *harness) {
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
	e := h.open(t)
	for ti, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			key := fmt.Sprint("key", ti)
			for i, v := range tc.sets {
				// Alternate value sizes so both in-place and moving writes run.
				it := engine.Item{Type: engine.TypeString, Version: v, Value: bytes.Repeat([]byte("v"), 1+i*10)}
				got := MustSet(t, e, 3, key, it)
				if got != tc.want[i] {
					t.Fatalf("set %d: version %d, want %d", i, got, tc.want[i])
				}
				if it, _ := Get(e, 3, key, Now); it.Version != got {
					t.Fatalf("stored version %d, want %d", it.Version, got)
				}
			}
		})
	}
	t.Run("expired key starts over", func(t *testing.T) {
		MustSet(t, e, 0, "k", engine.Item{Type: engine.TypeString, Version: 9, Expire: Now + 10})
		v, _ := e.Set(0, []byte("k"), Str("x"), Now+11)
		if v != 1 {
			t.Fatalf("version %d after expiry, want 1", v)
		}
		if st := e.Stats(); st.Expirations != 1 {
			t.Fatalf("Expirations = %d", st.Expirations)
		}
	})
	h.check(t, e)
}

func testUpdate(t *testing.T, h *harness) {
	e := h.open(t)
	k := []byte("counter")
	put := func(val string, ver uint64) func(*engine.Item) (engine.Item, engine.Op) {
		return func(cur *engine.Item) (engine.Item, engine.Op) {
			return engine.Item{Type: engine.TypeString, Version: ver, Value: []byte(val)}, engine.OpPut
		}
	}
	var sawNil bool
	if err := e.Update(5, k, Now, func(cur *engine.Item) (engine.Item, engine.Op) {
		sawNil = cur == nil
		return engine.Item{}, engine.OpKeep
	}); err != nil || !sawNil {
		t.Fatalf("absent key: err %v, cur nil %v", err, sawNil)
	}
	if e.CountBucket(5) != 0 {
		t.Fatal("OpKeep on absent key created it")
	}
	if err := e.Update(5, k, Now, func(*engine.Item) (engine.Item, engine.Op) { return engine.Item{}, engine.OpDelete }); err != nil {
		t.Fatal(err)
	}
	// Update stores the version as given, even 0.
	for _, v := range []uint64{5, 0, 3} {
		if err := e.Update(5, k, Now, put("v", v)); err != nil {
			t.Fatal(err)
		}
		if it, _ := Get(e, 5, "counter", Now); it.Version != v {
			t.Fatalf("version %d, want %d", it.Version, v)
		}
	}
	// Read-modify-write.
	for i := 0; i < 100; i++ {
		err := e.Update(5, k, Now, func(cur *engine.Item) (engine.Item, engine.Op) {
			n := 0
			fmt.Sscan(string(cur.Value), &n)
			return engine.Item{Type: cur.Type, Version: cur.Version + 1, Value: []byte(fmt.Sprint(n + 1))}, engine.OpPut
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	if it, _ := Get(e, 5, "counter", Now); string(it.Value) != "100" || it.Version != 103 {
		t.Fatalf("got %q v%d", it.Value, it.Version)
	}
	// Expiry set, moved and removed through Update.
	for _, exp := range []int64{Now + 5000, Now + 9000, 0, Now + 7000} {
		err := e.Update(5, k, Now, func(cur *engine.Item) (engine.Item, engine.Op) {
			next := *cur
			next.Expire = exp
			return next, engine.OpPut
		})
		if err != nil {
			t.Fatal(err)
		}
		want := int64(0)
		if exp != 0 {
			want = 1
		}
		if it, _ := Get(e, 5, "counter", Now); it.Expire != exp {
			t.Fatalf("expiry %d, want %d", it.Expire, exp)
		}
		if st := e.Stats(); st.ItemsExpire != want {
			t.Fatalf("expiry %d: ItemsExpire = %d", exp, st.ItemsExpire)
		}
		h.check(t, e)
	}
	if err := e.Update(5, k, Now, func(*engine.Item) (engine.Item, engine.Op) { return engine.Item{Type: 99}, engine.OpPut }); err == nil {
		t.Fatal("bad type accepted")
	}
	h.check(t, e)
}

// testUpdateAliasing returns (parts of) cur.Value, which points into the
// engine's memory (an arena busy compacting, pebble's blocks), as
// next.Value.
func testUpdateAliasing(t *testing.T, h *harness) {
	e := h.open(t)
	rng := rand.New(rand.NewPCG(1, 2))
	model := map[string]string{}
	for i := 0; i < h.size(20000, 5000); i++ {
		k := fmt.Sprintf("k%d", rng.IntN(300))
		b := uint16(len(k)) // few buckets: lots of churn per bucket
		switch rng.IntN(4) {
		case 0:
			v := string(bytes.Repeat([]byte{byte('a' + i%26)}, rng.IntN(300)))
			MustSet(t, e, b, k, Str(v))
			model[k] = v
		case 1: // keep the value, change metadata (size may change)
			e.Update(b, []byte(k), Now, func(cur *engine.Item) (engine.Item, engine.Op) {
				if cur == nil {
					return engine.Item{}, engine.OpKeep
				}
				next := *cur
				next.Version += uint64(rng.IntN(1000))
				if rng.IntN(2) == 0 {
					next.Expire = Now + 1e9
				} else {
					next.Expire = 0
				}
				return next, engine.OpPut
			})
		case 2: // store a suffix of the stored value
			e.Update(b, []byte(k), Now, func(cur *engine.Item) (engine.Item, engine.Op) {
				if cur == nil || len(cur.Value) == 0 {
					return engine.Item{}, engine.OpKeep
				}
				next := *cur
				next.Value = cur.Value[1:]
				next.Version += 1000
				model[k] = model[k][1:]
				return next, engine.OpPut
			})
		case 3:
			keys := [][]byte{[]byte(k), []byte(k + "x"), []byte(k)}
			err := e.UpdateMany([]uint16{b, b + 1, b}, keys, Now, func(cur []*engine.Item, next []engine.Item, ops []engine.Op) {
				if cur[0] == nil {
					return
				}
				// Swap-like: k+"x" gets k's value, then k gets a suffix of it.
				next[1] = *cur[0]
				ops[1] = engine.OpPut
				model[k+"x"] = model[k]
				if len(cur[0].Value) > 0 {
					next[2] = *cur[0]
					next[2].Value = cur[0].Value[len(cur[0].Value)/2:]
					next[2].Version = 1 << 20
					ops[2] = engine.OpPut
					model[k] = model[k][len(model[k])/2:]
				}
			})
			if err != nil {
				t.Fatal(err)
			}
			for _, kk := range []string{k, k + "x"} {
				if it, ok := Get(e, uint16(len(kk)), kk, Now); ok != (model[kk] != "" || ok) || string(it.Value) != model[kk] {
					t.Fatalf("step %d: %q = %q %v, want %q", i, kk, it.Value, ok, model[kk])
				}
			}
		}
	}
	for k, v := range model {
		it, ok := Get(e, uint16(len(k)), k, Now)
		if !ok || string(it.Value) != v {
			t.Fatalf("%q = %q %v, want %q", k, it.Value, ok, v)
		}
	}
	h.check(t, e)
}

func testUpdateMany(t *testing.T, h *harness) {
	e := h.open(t)
	MustSet(t, e, 10, "a", Str("1"))
	MustSet(t, e, 300, "b", engine.Item{Type: engine.TypeString, Expire: Now + 1e6, Value: []byte("2")})
	buckets := []uint16{10, 300, 9000, 10}
	keys := [][]byte{[]byte("a"), []byte("b"), []byte("c"), []byte("a")}
	err := e.UpdateMany(buckets, keys, Now, func(cur []*engine.Item, next []engine.Item, ops []engine.Op) {
		if cur[0] == nil || cur[1] == nil || cur[2] != nil || cur[3] == nil {
			t.Errorf("cur = %v", cur)
			return
		}
		if string(cur[0].Value) != "1" || string(cur[3].Value) != "1" {
			t.Errorf("duplicate cur = %q %q", cur[0].Value, cur[3].Value)
		}
		for _, op := range ops {
			if op != engine.OpKeep {
				t.Errorf("ops not preset to OpKeep")
			}
		}
		next[0], ops[0] = engine.Item{Type: engine.TypeString, Expire: Now + 1e6, Value: []byte("first")}, engine.OpPut
		next[3], ops[3] = Str("later wins"), engine.OpPut
		ops[1] = engine.OpDelete
		next[2], ops[2] = engine.Item{Type: engine.TypeString, Version: 77, Value: []byte("new")}, engine.OpPut
	})
	if err != nil {
		t.Fatal(err)
	}
	if it, _ := Get(e, 10, "a", Now); string(it.Value) != "later wins" || it.Expire != 0 {
		t.Fatalf("a = %+v", it)
	}
	if _, ok := Get(e, 300, "b", Now); ok {
		t.Fatal("b not deleted")
	}
	if it, _ := Get(e, 9000, "c", Now); string(it.Value) != "new" || it.Version != 77 {
		t.Fatalf("c = %+v", it)
	}
	if st := e.Stats(); st.Items != 2 || st.ItemsExpire != 0 {
		t.Fatalf("stats %+v", st)
	}
	h.check(t, e)
	// A put then a keep of the same key: the put stands.
	err = e.UpdateMany([]uint16{10, 10}, [][]byte{[]byte("a"), []byte("a")}, Now, func(cur []*engine.Item, next []engine.Item, ops []engine.Op) {
		next[0], ops[0] = Str("kept"), engine.OpPut
	})
	if err != nil {
		t.Fatal(err)
	}
	if it, _ := Get(e, 10, "a", Now); string(it.Value) != "kept" {
		t.Fatalf("a = %q", it.Value)
	}
	// A bad outcome fails the batch; an atomic engine applies none of it.
	err = e.UpdateMany([]uint16{10, 11}, [][]byte{[]byte("a"), []byte("z")}, Now, func(cur []*engine.Item, next []engine.Item, ops []engine.Op) {
		next[0], ops[0] = Str("changed"), engine.OpPut
		next[1], ops[1] = engine.Item{Type: 70}, engine.OpPut
	})
	if err == nil {
		t.Fatal("bad type accepted")
	}
	if it, _ := Get(e, 10, "a", Now); h.AtomicBatches && string(it.Value) != "kept" {
		t.Fatalf("a = %q after a rejected batch", it.Value)
	}
	if _, ok := Get(e, 11, "z", Now); ok {
		t.Fatal("bad outcome stored")
	}
	if err := e.UpdateMany([]uint16{1}, nil, Now, nil); err == nil {
		t.Fatal("mismatched lengths accepted")
	}
	// Many keys (engines may find duplicates differently in large batches).
	var bs []uint16
	var ks [][]byte
	for i := 0; i < 100; i++ {
		bs = append(bs, uint16(i%7))
		ks = append(ks, []byte(fmt.Sprint("m", i%40)))
	}
	err = e.UpdateMany(bs, ks, Now, func(cur []*engine.Item, next []engine.Item, ops []engine.Op) {
		for i := range ops {
			next[i], ops[i] = Str(fmt.Sprint(i)), engine.OpPut
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	for i := 60; i < 100; i++ {
		if it, ok := Get(e, bs[i], string(ks[i]), Now); !ok || string(it.Value) != fmt.Sprint(i) {
			t.Fatalf("%s = %q %v, want %d", ks[i], it.Value, ok, i)
		}
	}
	h.check(t, e)
}

func testScanCountDrop(t *testing.T, h *harness) {
	e := h.open(t)
	want := map[string]bool{}
	for i := 0; i < 1000; i++ {
		k := KeyOf(i)
		b := uint16(i % 4)
		it := Str(k)
		if i%10 == 0 {
			it.Expire = Now + 5 // expired at Now+10 but still stored
		} else if i%10 == 1 {
			it.Expire = Now + 1e6
		}
		MustSet(t, e, b, k, it)
		if b == 2 && i%10 != 0 {
			want[k] = true
		}
	}
	if n := e.CountBucket(2); n != 250 {
		t.Fatalf("CountBucket = %d", n)
	}
	got := map[string]bool{}
	var last []byte
	e.ScanBucket(2, Now+10, func(key []byte, it *engine.Item) bool {
		if string(it.Value) != string(key) {
			t.Errorf("value %q for key %q", it.Value, key)
		}
		if h.ScanSorted && bytes.Compare(key, last) <= 0 {
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
	e.ScanBucket(2, Now, func([]byte, *engine.Item) bool { calls++; return calls < 3 })
	if calls != 3 {
		t.Fatalf("scan did not stop: %d calls", calls)
	}
	before := e.Stats()
	if before.Items != 1000 || before.ItemsExpire != 200 {
		t.Fatalf("stats before the drop %+v", before)
	}
	e.DropBucket(2)
	if e.CountBucket(2) != 0 || e.CountBucket(1) != 250 {
		t.Fatal("DropBucket dropped the wrong things")
	}
	e.ScanBucket(2, Now, func([]byte, *engine.Item) bool { t.Fatal("item after drop"); return false })
	after := e.Stats()
	if after.Items != before.Items-250 || after.ItemsExpire != before.ItemsExpire-50 || after.Bytes >= before.Bytes {
		t.Fatalf("stats before %+v after %+v", before, after)
	}
	h.settle(t, e)
	e.Flush()
	if st := e.Stats(); st.Items != 0 || st.Bytes != 0 || st.ItemsExpire != 0 {
		t.Fatalf("after Flush: %+v", st)
	}
	h.settle(t, e)
	MustSet(t, e, 1, "again", Str("x"))
	if _, ok := Get(e, 1, "again", Now); !ok {
		t.Fatal("engine unusable after Flush")
	}
	h.check(t, e)
}

// testLargeValues stores values up to 5 MiB, then checks the per-item limit
// and the quota.
func testLargeValues(t *testing.T, h *harness) {
	e := h.open(t)
	sizes := []int{64 << 10, 100 << 10, 1 << 20, 5 << 20, 10, 300 << 10}
	for i, n := range sizes {
		v := bytes.Repeat([]byte{byte(i + 1)}, n)
		MustSet(t, e, 7, "big", engine.Item{Type: engine.TypeString, Value: v})
		MustSet(t, e, 7, fmt.Sprint("big", i), engine.Item{Type: engine.TypeString, Value: v})
		it, ok := Get(e, 7, "big", Now)
		if !ok || !bytes.Equal(it.Value, v) || it.Version != uint64(i+1) {
			t.Fatalf("size %d: ok %v len %d v%d", n, ok, len(it.Value), it.Version)
		}
		h.check(t, e)
	}
	e.DropBucket(7)
	h.settle(t, e)
	if st := e.Stats(); st.Bytes != 0 {
		t.Fatalf("%d bytes held after dropping everything", st.Bytes)
	}
	tooLarge := h.MaxItemSize + h.MaxItemSize/8
	if _, err := e.Set(0, []byte("k"), engine.Item{Type: engine.TypeString, Value: make([]byte, tooLarge)}, Now); !errors.Is(err, engine.ErrTooLarge) {
		t.Fatalf("err = %v, want ErrTooLarge", err)
	}
	e.SetQuota(1 << 20)
	if st := e.Stats(); st.Quota != 1<<20 {
		t.Fatalf("quota not reported: %+v", st)
	}
	_, err := e.Set(0, []byte("k"), engine.Item{Type: engine.TypeString, Value: make([]byte, 2<<20)}, Now)
	switch {
	case h.EnforcesQuota && !errors.Is(err, engine.ErrOOM):
		t.Fatalf("item over the quota: err = %v, want ErrOOM", err)
	case !h.EnforcesQuota && err != nil:
		t.Fatalf("quota enforced: %v", err)
	}
	h.check(t, e)
}

// testModel runs random operations against a map and checks the engine
// agrees, exercising overwrites of changing sizes (compaction, table
// resizing and defragmentation in an arena; memtable and SST reads on
// disk).
func testModel(t *testing.T, h *harness) {
	e := h.open(t)
	rng := rand.New(rand.NewPCG(3, 4))
	type entry struct {
		val string
		ver uint64
		exp int64
	}
	model := map[string]entry{}
	steps, keys, buckets := h.size(200000, 20000), h.size(5000, 2000), h.size(100, 50)
	for step := 0; step < steps; step++ {
		i := rng.IntN(keys)
		b, k := uint16(i%buckets), KeyOf(i)
		switch r := rng.IntN(10); {
		case r < 5:
			n := rng.IntN(200)
			if rng.IntN(100) == 0 {
				n = 70<<10 + rng.IntN(100<<10) // jumbo
			}
			v := string(bytes.Repeat([]byte{byte(step)}, n))
			var exp int64
			if rng.IntN(3) == 0 {
				exp = Now + 1e6 + int64(rng.IntN(1000))
			}
			ver := MustSet(t, e, b, k, engine.Item{Type: engine.TypeString, Expire: exp, Value: []byte(v)})
			if want := model[k].ver + 1; ver != want {
				t.Fatalf("step %d: version %d, want %d", step, ver, want)
			}
			model[k] = entry{v, ver, exp}
		case r < 7:
			e.Update(b, []byte(k), Now, func(cur *engine.Item) (engine.Item, engine.Op) { return engine.Item{}, engine.OpDelete })
			delete(model, k)
		default:
			if r == 9 && rng.IntN(1000) == 0 {
				h.maintain(e)
			}
			it, ok := Get(e, b, k, Now)
			m, mok := model[k]
			if ok != mok || ok && (string(it.Value) != m.val || it.Version != m.ver || it.Expire != m.exp) {
				t.Fatalf("step %d: Get(%q) = %v v%d exp %d, model %v v%d exp %d", step, k, ok, it.Version, it.Expire, mok, m.ver, m.exp)
			}
		}
		if step%(steps/4) == 0 {
			h.check(t, e)
		}
	}
	h.check(t, e)
	n := 0
	for b := 0; b < buckets; b++ {
		e.ScanBucket(uint16(b), Now, func(key []byte, it *engine.Item) bool {
			n++
			if m, ok := model[string(key)]; !ok || m.val != string(it.Value) || m.ver != it.Version || m.exp != it.Expire {
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
}
