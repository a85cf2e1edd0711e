package mem

import (
	"bytes"
	"errors"
	"fmt"
	"math/rand/v2"
	"sort"
	"testing"
	"time"

	"granary/internal/engine"
)

// now0 is real time so that the background expirer agrees with the tests.
var now0 = time.Now().UnixMilli()

var farFuture = time.Now().Add(time.Hour)

func newEngine(t testing.TB, opts Options) *Engine {
	t.Helper()
	e := New(opts)
	t.Cleanup(func() { e.Close() })
	return e
}

func str(v string) engine.Item { return engine.Item{Type: engine.TypeString, Value: []byte(v)} }

func mustSet(t testing.TB, e *Engine, b uint16, k string, it engine.Item) uint64 {
	t.Helper()
	v, err := e.Set(b, []byte(k), it, now0)
	if err != nil {
		t.Fatalf("Set(%q): %v", k, err)
	}
	return v
}

func get(e *Engine, b uint16, k string, now int64) (engine.Item, bool) {
	it, _, ok := e.Get(b, []byte(k), now, nil)
	return it, ok
}

func TestGetSetDelete(t *testing.T) {
	e := newEngine(t, Options{})
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
	// Get appends to dst.
	_, out, _ := e.Get(1, []byte("k"), now0, []byte("x:"))
	if string(out) != "x:v1" {
		t.Fatalf("dst = %q", out)
	}
	if !e.Touch(1, []byte("k"), now0) || e.Touch(1, []byte("nope"), now0) {
		t.Fatal("Touch")
	}
	// Empty key and empty value are fine.
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
	if st := e.Stats(); st.Items != 1 || st.ItemsExpire != 0 {
		t.Fatalf("stats %+v", st)
	}
	checkInvariants(t, e)
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
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := newEngine(t, Options{})
			for i, v := range tc.sets {
				// Alternate value sizes so both in-place and moving writes run.
				it := engine.Item{Type: engine.TypeString, Version: v, Value: bytes.Repeat([]byte("v"), 1+i*10)}
				got := mustSet(t, e, 3, "key", it)
				if got != tc.want[i] {
					t.Fatalf("set %d: version %d, want %d", i, got, tc.want[i])
				}
				if it, _ := get(e, 3, "key", now0); it.Version != got {
					t.Fatalf("stored version %d, want %d", it.Version, got)
				}
			}
		})
	}
	t.Run("expired key starts over", func(t *testing.T) {
		e := newEngine(t, Options{})
		mustSet(t, e, 0, "k", engine.Item{Type: engine.TypeString, Version: 9, Expire: now0 + 10})
		v, _ := e.Set(0, []byte("k"), str("x"), now0+11)
		if v != 1 {
			t.Fatalf("version %d after expiry, want 1", v)
		}
	})
}

func TestUpdate(t *testing.T) {
	e := newEngine(t, Options{})
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
	// Update stores the version as given, even 0.
	for _, v := range []uint64{5, 0, 3} {
		if err := e.Update(5, k, now0, put("v", v)); err != nil {
			t.Fatal(err)
		}
		if it, _ := get(e, 5, "counter", now0); it.Version != v {
			t.Fatalf("version %d, want %d", it.Version, v)
		}
	}
	// Read-modify-write.
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
	checkInvariants(t, e)
}

// TestUpdateAliasing returns (parts of) cur.Value as next.Value, which points
// into the arena, while the arena is busy compacting.
func TestUpdateAliasing(t *testing.T) {
	e := newEngine(t, Options{Shards: 64})
	rng := rand.New(rand.NewPCG(1, 2))
	model := map[string]string{}
	for i := 0; i < 20000; i++ {
		k := fmt.Sprintf("k%d", rng.IntN(300))
		b := uint16(len(k)) // few buckets: lots of churn per shard
		op := rng.IntN(4)
		switch op {
		case 0:
			v := string(bytes.Repeat([]byte{byte('a' + i%26)}, rng.IntN(300)))
			mustSet(t, e, b, k, str(v))
			model[k] = v
		case 1: // keep the value, change metadata (size may change)
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
		case 2: // store a suffix of the stored value
			e.Update(b, []byte(k), now0, func(cur *engine.Item) (engine.Item, engine.Op) {
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
			err := e.UpdateMany([]uint16{b, b + 1, b}, keys, now0, func(cur []*engine.Item, next []engine.Item, ops []engine.Op) {
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
				if it, ok := get(e, uint16(len(kk)), kk, now0); ok != (model[kk] != "" || ok) || string(it.Value) != model[kk] {
					t.Fatalf("step %d: %q = %q %v, want %q", i, kk, it.Value, ok, model[kk])
				}
			}
		}
	}
	for k, v := range model {
		it, ok := get(e, uint16(len(k)), k, now0)
		if !ok || string(it.Value) != v {
			t.Fatalf("%q = %q %v, want %q", k, it.Value, ok, v)
		}
	}
	checkInvariants(t, e)
}

func TestUpdateMany(t *testing.T) {
	e := newEngine(t, Options{})
	mustSet(t, e, 10, "a", str("1"))
	mustSet(t, e, 300, "b", str("2"))
	buckets := []uint16{10, 300, 9000, 10}
	keys := [][]byte{[]byte("a"), []byte("b"), []byte("c"), []byte("a")}
	err := e.UpdateMany(buckets, keys, now0, func(cur []*engine.Item, next []engine.Item, ops []engine.Op) {
		if cur[0] == nil || cur[1] == nil || cur[2] != nil || cur[3] == nil {
			t.Errorf("cur = %v", cur)
		}
		for _, op := range ops {
			if op != engine.OpKeep {
				t.Errorf("ops not preset to OpKeep")
			}
		}
		next[0], ops[0] = str("first"), engine.OpPut
		next[3], ops[3] = str("later wins"), engine.OpPut
		ops[1] = engine.OpDelete
		next[2], ops[2] = engine.Item{Type: engine.TypeString, Version: 77, Value: []byte("new")}, engine.OpPut
	})
	if err != nil {
		t.Fatal(err)
	}
	if it, _ := get(e, 10, "a", now0); string(it.Value) != "later wins" {
		t.Fatalf("a = %q", it.Value)
	}
	if _, ok := get(e, 300, "b", now0); ok {
		t.Fatal("b not deleted")
	}
	if it, _ := get(e, 9000, "c", now0); string(it.Value) != "new" || it.Version != 77 {
		t.Fatalf("c = %+v", it)
	}
	if err := e.UpdateMany([]uint16{1}, nil, now0, nil); err == nil {
		t.Fatal("mismatched lengths accepted")
	}
	checkInvariants(t, e)
}

func TestScanCountDrop(t *testing.T) {
	e := newEngine(t, Options{ExpireInterval: time.Hour}) // keep expired items around
	want := map[string]bool{}
	for i := 0; i < 1000; i++ {
		k := fmt.Sprintf("key-%d", i)
		b := uint16(i % 4)
		it := str(k)
		if i%10 == 0 {
			it.Expire = now0 + 5 // expired at now0+10 but still stored
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
	e.ScanBucket(2, now0+10, func(key []byte, it *engine.Item) bool {
		if string(it.Value) != string(key) {
			t.Errorf("value %q for key %q", it.Value, key)
		}
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
	if after.Items != before.Items-250 || after.ItemsExpire != before.ItemsExpire-50 {
		t.Fatalf("stats before %+v after %+v", before, after)
	}
	checkInvariants(t, e)
	e.Flush()
	if st := e.Stats(); st.Items != 0 || st.Bytes != 0 || st.ItemsExpire != 0 {
		t.Fatalf("after Flush: %+v", st)
	}
	mustSet(t, e, 1, "again", str("x"))
	if _, ok := get(e, 1, "again", now0); !ok {
		t.Fatal("engine unusable after Flush")
	}
	checkInvariants(t, e)
}

func TestLargeValues(t *testing.T) {
	e := newEngine(t, Options{})
	sizes := []int{64 << 10, 100 << 10, 1 << 20, 5 << 20, 10, 300 << 10}
	for i, n := range sizes {
		v := bytes.Repeat([]byte{byte(i + 1)}, n)
		mustSet(t, e, 7, "big", engine.Item{Type: engine.TypeString, Value: v})
		mustSet(t, e, 7, fmt.Sprint("big", i), engine.Item{Type: engine.TypeString, Value: v})
		it, ok := get(e, 7, "big", now0)
		if !ok || !bytes.Equal(it.Value, v) || it.Version != uint64(i+1) {
			t.Fatalf("size %d: ok %v len %d v%d", n, ok, len(it.Value), it.Version)
		}
		checkInvariants(t, e)
	}
	e.DropBucket(7)
	checkInvariants(t, e)
	if st := e.Stats(); st.Bytes != 0 {
		t.Fatalf("%d bytes held after dropping everything", st.Bytes)
	}
	e2 := newEngine(t, Options{MaxItemSize: 1 << 20})
	if _, err := e2.Set(0, []byte("k"), engine.Item{Type: engine.TypeString, Value: make([]byte, 2<<20)}, now0); !errors.Is(err, engine.ErrTooLarge) {
		t.Fatalf("err = %v, want ErrTooLarge", err)
	}
	e3 := newEngine(t, Options{Quota: 1 << 20})
	if _, err := e3.Set(0, []byte("k"), engine.Item{Type: engine.TypeString, Value: make([]byte, 2<<20)}, now0); !errors.Is(err, engine.ErrOOM) {
		t.Fatalf("err = %v, want ErrOOM", err)
	}
}

// TestModel runs random operations against a map and checks the engine
// agrees, exercising overwrites of changing sizes, compaction, table resizing
// and defragmentation.
func TestModel(t *testing.T) {
	e := newEngine(t, Options{Shards: 64})
	rng := rand.New(rand.NewPCG(3, 4))
	type entry struct {
		val string
		ver uint64
	}
	model := map[string]entry{}
	keyOf := func() (uint16, string) {
		i := rng.IntN(5000)
		return uint16(i % 100), fmt.Sprintf("key:%d", i)
	}
	for step := 0; step < 200000; step++ {
		b, k := keyOf()
		switch r := rng.IntN(10); {
		case r < 5:
			n := rng.IntN(200)
			if rng.IntN(100) == 0 {
				n = 70<<10 + rng.IntN(100<<10) // jumbo
			}
			v := string(bytes.Repeat([]byte{byte(step)}, n))
			ver := mustSet(t, e, b, k, str(v))
			if want := model[k].ver + 1; ver != want {
				t.Fatalf("step %d: version %d, want %d", step, ver, want)
			}
			model[k] = entry{v, ver}
		case r < 7:
			e.Update(b, []byte(k), now0, func(cur *engine.Item) (engine.Item, engine.Op) { return engine.Item{}, engine.OpDelete })
			delete(model, k)
		case r < 9:
			it, ok := get(e, b, k, now0)
			m, mok := model[k]
			if ok != mok || ok && (string(it.Value) != m.val || it.Version != m.ver) {
				t.Fatalf("step %d: Get(%q) = %v %d, model %v %d", step, k, ok, it.Version, mok, m.ver)
			}
		default:
			if rng.IntN(1000) == 0 {
				e.maintain(farFuture)
			}
		}
		if step%50000 == 0 {
			checkInvariants(t, e)
		}
	}
	checkInvariants(t, e)
	n := 0
	for b := uint16(0); b < 100; b++ {
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
	keys := make([]string, 0, len(model))
	for k := range model {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	if st := e.Stats(); st.Items != int64(len(keys)) {
		t.Fatalf("Items = %d, want %d", st.Items, len(keys))
	}
}
