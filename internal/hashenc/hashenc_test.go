package hashenc

import (
	"bytes"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"
)

func b(s string) []byte { return []byte(s) }

// pairsOf returns the encoding's pairs in order as strings.
func pairsOf(enc []byte) []string {
	var out []string
	for f, v := range All(enc) {
		out = append(out, string(f), string(v))
	}
	return out
}

func mustValid(t testing.TB, enc []byte) {
	t.Helper()
	if err := Validate(enc); err != nil {
		t.Fatalf("invalid encoding %x: %v", enc, err)
	}
}

func TestSetGetDelete(t *testing.T) {
	type op struct {
		kind         string // set, del
		field, value string
		want         bool // added / deleted
	}
	tests := []struct {
		name string
		ops  []op
		want []string
	}{
		{"empty", nil, nil},
		{"one", []op{{"set", "a", "1", true}}, []string{"a", "1"}},
		{"sorted insert", []op{{"set", "c", "3", true}, {"set", "a", "1", true}, {"set", "b", "2", true}}, []string{"a", "1", "b", "2", "c", "3"}},
		{"overwrite", []op{{"set", "a", "1", true}, {"set", "a", "longer value", false}}, []string{"a", "longer value"}},
		{"empty field and value", []op{{"set", "", "", true}, {"set", "x", "", true}}, []string{"", "", "x", ""}},
		{"prefix order", []op{{"set", "ab", "2", true}, {"set", "a", "1", true}, {"set", "a\x00", "3", true}}, []string{"a", "1", "a\x00", "3", "ab", "2"}},
		{"binary", []op{{"set", "\xff", "hi", true}, {"set", "\x00", "lo", true}}, []string{"\x00", "lo", "\xff", "hi"}},
		{"delete", []op{{"set", "a", "1", true}, {"set", "b", "2", true}, {"del", "a", "", true}, {"del", "a", "", false}}, []string{"b", "2"}},
		{"delete last", []op{{"set", "a", "1", true}, {"del", "a", "", true}}, nil},
		{"delete missing from empty", []op{{"del", "a", "", false}}, nil},
		{"long field", []op{{"set", string(bytes.Repeat(b("f"), 300)), "v", true}}, []string{string(bytes.Repeat(b("f"), 300)), "v"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var enc []byte
			for _, o := range tt.ops {
				var got bool
				var err error
				switch o.kind {
				case "set":
					enc, got, err = Set(nil, enc, b(o.field), b(o.value))
					if err != nil {
						t.Fatal(err)
					}
				case "del":
					enc, got = Delete(nil, enc, b(o.field))
				}
				if got != o.want {
					t.Fatalf("%s %q: got %v want %v", o.kind, o.field, got, o.want)
				}
				if len(enc) > 0 {
					mustValid(t, enc)
				}
			}
			if got := pairsOf(enc); !slices.Equal(got, tt.want) {
				t.Fatalf("pairs %q want %q", got, tt.want)
			}
			if Len(enc) != len(tt.want)/2 {
				t.Fatalf("Len %d want %d", Len(enc), len(tt.want)/2)
			}
			for i := 0; i < len(tt.want); i += 2 {
				v, ok := Get(enc, b(tt.want[i]))
				if !ok || string(v) != tt.want[i+1] {
					t.Fatalf("Get %q = %q %v", tt.want[i], v, ok)
				}
			}
			if _, ok := Get(enc, b("zz-missing")); ok {
				t.Fatal("Get of a missing field succeeded")
			}
		})
	}
}

func TestSetManyDeleteMany(t *testing.T) {
	enc, added, err := SetMany(nil, nil, [][]byte{b("b"), b("1"), b("a"), b("2"), b("b"), b("3"), b("c"), b("4")})
	if err != nil || added != 3 {
		t.Fatalf("added %d err %v", added, err)
	}
	mustValid(t, enc)
	if got := pairsOf(enc); !slices.Equal(got, []string{"a", "2", "b", "3", "c", "4"}) {
		t.Fatalf("got %q", got)
	}
	enc, added, err = SetMany(nil, enc, [][]byte{b("c"), b("5"), b("0"), b("x"), b("d"), b("y")})
	if err != nil || added != 2 {
		t.Fatalf("added %d err %v", added, err)
	}
	mustValid(t, enc)
	if got := pairsOf(enc); !slices.Equal(got, []string{"0", "x", "a", "2", "b", "3", "c", "5", "d", "y"}) {
		t.Fatalf("got %q", got)
	}
	out, n := DeleteMany(nil, enc, [][]byte{b("zz"), b("q")})
	if n != 0 || &out[0] != &enc[0] {
		t.Fatalf("deleting nothing: %d", n)
	}
	enc, n = DeleteMany(nil, enc, [][]byte{b("a"), b("d"), b("a"), b("zz"), b("0")})
	if n != 3 {
		t.Fatalf("deleted %d", n)
	}
	mustValid(t, enc)
	if got := pairsOf(enc); !slices.Equal(got, []string{"b", "3", "c", "5"}) {
		t.Fatalf("got %q", got)
	}
	enc, n = DeleteMany(nil, enc, [][]byte{b("b"), b("c")})
	if n != 2 || Len(enc) != 0 {
		t.Fatalf("deleted %d, len %d", n, Len(enc))
	}
	mustValid(t, enc)
	if !bytes.Equal(enc, Empty(nil)) {
		t.Fatalf("empty hash encodes as %x", enc)
	}
}

// TestReuseDst checks that dst's storage is reused and never aliases enc.
func TestReuseDst(t *testing.T) {
	var a, bb []byte
	for i := 0; i < 100; i++ {
		out, _, err := Set(bb, a, fmt.Appendf(nil, "f%03d", i), b("v"))
		if err != nil {
			t.Fatal(err)
		}
		a, bb = out, a // a holds the result; bb the previous, now free
	}
	mustValid(t, a)
	if Len(a) != 100 {
		t.Fatalf("Len %d", Len(a))
	}
	allocs := testing.AllocsPerRun(100, func() {
		bb, _, _ = Set(bb[:0], a, b("f050"), b("w"))
	})
	if allocs != 0 {
		t.Fatalf("Set into a large enough dst allocates %v times", allocs)
	}
	allocs = testing.AllocsPerRun(100, func() {
		if _, ok := Get(a, b("f077")); !ok {
			t.Fatal("missing")
		}
	})
	if allocs != 0 {
		t.Fatalf("Get allocates %v times", allocs)
	}
}

func TestRange(t *testing.T) {
	enc, err := Build(nil, [][]byte{b("a"), b("1"), b("b"), b("2"), b("bb"), b("3"), b("c"), b("4"), b("e"), b("5")})
	if err != nil {
		t.Fatal(err)
	}
	inc := func(s string) Bound { return Bound{Field: b(s)} }
	exc := func(s string) Bound { return Bound{Field: b(s), Exclusive: true} }
	neg, pos := Bound{Kind: NegInf}, Bound{Kind: PosInf}
	tests := []struct {
		name     string
		min, max Bound
		lo, hi   int
	}{
		{"all", neg, pos, 0, 5},
		{"none -", neg, neg, 0, 0},
		{"none +", pos, pos, 5, 5},
		{"reversed infinities", pos, neg, 5, 5},
		{"inclusive", inc("b"), inc("c"), 1, 4},
		{"exclusive", exc("b"), exc("c"), 2, 3},
		{"absent bounds", inc("ba"), inc("d"), 2, 4},
		{"absent exclusive", exc("ba"), exc("d"), 2, 4},
		{"single", inc("c"), inc("c"), 3, 4},
		{"single exclusive", exc("c"), inc("c"), 4, 4},
		{"min above max", inc("d"), inc("b"), 4, 4},
		{"empty field", inc(""), pos, 0, 5},
		{"below all", neg, exc("a"), 0, 0},
		{"above all", exc("e"), pos, 5, 5},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			lo, hi := Range(enc, tt.min, tt.max)
			if lo != tt.lo || hi != tt.hi {
				t.Fatalf("Range = [%d,%d) want [%d,%d)", lo, hi, tt.lo, tt.hi)
			}
		})
	}
	if lo, hi := Range(nil, neg, pos); lo != 0 || hi != 0 {
		t.Fatalf("Range of nil = [%d,%d)", lo, hi)
	}
}

func TestValidateRejects(t *testing.T) {
	good, _ := Build(nil, [][]byte{b("a"), b("1"), b("b"), b("2")})
	mustValid(t, good)
	mut := func(f func(e []byte) []byte) []byte { return f(bytes.Clone(good)) }
	tests := []struct {
		name string
		enc  []byte
	}{
		{"nil", nil},
		{"short", []byte{1, 0, 0}},
		{"format", mut(func(e []byte) []byte { e[0] = 2; return e })},
		{"count too large", mut(func(e []byte) []byte { e[1] = 200; return e })},
		{"count huge", mut(func(e []byte) []byte { e[1], e[2], e[3], e[4] = 255, 255, 255, 255; return e })},
		{"trailing", append(bytes.Clone(good), 'x')},
		{"truncated", good[:len(good)-1]},
		{"unsorted", func() []byte { // swap the fields a and b
			e := bytes.Clone(good)
			i := bytes.IndexByte(e[13:], 'a') + 13
			j := bytes.IndexByte(e[13:], 'b') + 13
			e[i], e[j] = 'b', 'a'
			return e
		}()},
		{"duplicate", func() []byte {
			e := bytes.Clone(good)
			j := bytes.IndexByte(e[13:], 'b') + 13
			e[j] = 'a'
			return e
		}()},
		{"field past entry", mut(func(e []byte) []byte { e[13] = 5; return e })},
		{"non-minimal uvarint", []byte{1, 1, 0, 0, 0, 3, 0, 0, 0, 0x81, 0x00, 'a'}},
		{"empty with data", []byte{1, 0, 0, 0, 0, 'x'}},
		{"zero-length entry", []byte{1, 2, 0, 0, 0, 1, 0, 0, 0, 1, 0, 0, 0, 0}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := Validate(tt.enc)
			if err == nil {
				t.Fatalf("Validate(%x) accepted", tt.enc)
			}
			if !errors.Is(err, ErrCorrupt) {
				t.Fatalf("error %v does not wrap ErrCorrupt", err)
			}
		})
	}
}

// TestModel runs random operations against a map and checks every result.
func TestModel(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	model := map[string]string{}
	var enc, spare []byte
	key := func() []byte { return fmt.Appendf(nil, "k%d", r.IntN(60)) }
	for step := 0; step < 5000; step++ {
		var out []byte
		switch r.IntN(4) {
		case 0:
			f, v := key(), fmt.Appendf(nil, "v%d", r.IntN(1000))
			var added bool
			var err error
			out, added, err = Set(spare, enc, f, v)
			if err != nil {
				t.Fatal(err)
			}
			_, had := model[string(f)]
			if added == had {
				t.Fatalf("step %d: Set added=%v had=%v", step, added, had)
			}
			model[string(f)] = string(v)
		case 1:
			var pairs [][]byte
			added := 0
			seen := map[string]bool{}
			for i := r.IntN(5); i >= 0; i-- {
				f, v := key(), fmt.Appendf(nil, "m%d", r.IntN(1000))
				pairs = append(pairs, f, v)
				if _, had := model[string(f)]; !had && !seen[string(f)] {
					added++
				}
				seen[string(f)] = true
				model[string(f)] = string(v)
			}
			var got int
			var err error
			out, got, err = SetMany(spare, enc, pairs)
			if err != nil || got != added {
				t.Fatalf("step %d: SetMany added %d want %d (%v)", step, got, added, err)
			}
		case 2:
			f := key()
			var del bool
			out, del = Delete(spare, enc, f)
			_, had := model[string(f)]
			if del != had {
				t.Fatalf("step %d: Delete=%v had=%v", step, del, had)
			}
			delete(model, string(f))
		case 3:
			var fs [][]byte
			want := map[string]bool{}
			for i := r.IntN(4); i >= 0; i-- {
				f := key()
				fs = append(fs, f)
				if _, had := model[string(f)]; had {
					want[string(f)] = true
				}
			}
			var n int
			out, n = DeleteMany(spare, enc, fs)
			if n != len(want) {
				t.Fatalf("step %d: DeleteMany=%d want %d", step, n, len(want))
			}
			for f := range want {
				delete(model, f)
			}
		}
		if len(out) > 0 && len(enc) > 0 && &out[0] == &enc[0] {
			// unchanged (nothing deleted): keep buffers as they are
		} else {
			enc, spare = out, enc
		}
		if len(enc) > 0 {
			mustValid(t, enc)
		}
		if Len(enc) != len(model) {
			t.Fatalf("step %d: Len %d model %d", step, Len(enc), len(model))
		}
		var keys []string
		for k := range model {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		i := 0
		for f, v := range All(enc) {
			if string(f) != keys[i] || string(v) != model[keys[i]] {
				t.Fatalf("step %d: entry %d = %q=%q, want %q=%q", step, i, f, v, keys[i], model[keys[i]])
			}
			i++
		}
	}
}

func FuzzDecode(f *testing.F) {
	seed, _ := Build(nil, [][]byte{b("a"), b("1"), b("bb"), b("22"), b(""), b("e")})
	f.Add(seed)
	f.Add(Empty(nil))
	f.Add([]byte{})
	f.Add([]byte{1, 1, 0, 0, 0, 3, 0, 0, 0, 1, 'a', 'v'})
	var many [][]byte
	for i := 0; i < 12; i++ {
		many = append(many, fmt.Appendf(nil, "f%02d", i*7), bytes.Repeat([]byte{byte('a' + i)}, i))
	}
	seed, _ = Build(nil, many)
	f.Add(seed)
	seed, _ = Build(nil, [][]byte{bytes.Repeat(b("k"), 200), b("v"), b("z"), bytes.Repeat(b("w"), 130)})
	f.Add(seed)
	f.Fuzz(func(t *testing.T, enc []byte) {
		if Validate(enc) != nil {
			return
		}
		// A valid encoding must behave: fields in strictly increasing order,
		// each found by Get, ranges consistent, canonical re-encoding, and
		// updates producing valid encodings.
		n := Len(enc)
		var pairs [][]byte
		var prev []byte
		i := 0
		for fl, v := range All(enc) {
			if i > 0 && bytes.Compare(prev, fl) >= 0 {
				t.Fatalf("fields out of order at %d", i)
			}
			got, ok := Get(enc, fl)
			if !ok || !bytes.Equal(got, v) {
				t.Fatalf("Get(%q) = %q, %v; want %q", fl, got, ok, v)
			}
			if j, ok := Search(enc, fl); !ok || j != i {
				t.Fatalf("Search(%q) = %d, %v; want %d", fl, j, ok, i)
			}
			if lo, hi := Range(enc, Bound{Field: fl}, Bound{Field: fl}); lo != i || hi != i+1 {
				t.Fatalf("Range of %q = [%d,%d)", fl, lo, hi)
			}
			pairs = append(pairs, fl, v)
			prev = fl
			i++
		}
		if i != n {
			t.Fatalf("iterated %d of %d", i, n)
		}
		re, err := Build(nil, pairs)
		if err != nil || !bytes.Equal(re, enc) {
			t.Fatalf("re-encoding differs: %x vs %x (%v)", re, enc, err)
		}
		if lo, hi := Range(enc, Bound{Kind: NegInf}, Bound{Kind: PosInf}); lo != 0 || hi != n {
			t.Fatalf("full range [%d,%d) of %d", lo, hi, n)
		}
		for i := 0; i <= n; i += 1 + n/4 {
			for j := i; j <= n; j += 1 + n/3 {
				s := Slice(nil, enc, i, j)
				if err := Validate(s); err != nil || Len(s) != j-i {
					t.Fatalf("Slice(%d,%d): %v", i, j, err)
				}
				if j > i {
					f0, v0 := At(s, 0)
					f1, v1 := At(enc, i)
					if !bytes.Equal(f0, f1) || !bytes.Equal(v0, v1) {
						t.Fatalf("Slice(%d,%d) starts with %q", i, j, f0)
					}
				}
			}
		}
		probe := []byte("probe")
		if n > 0 {
			probe = append(bytes.Clone(Field(enc, n/2)), 0)
		}
		set, added, err := Set(nil, enc, probe, enc)
		if err != nil {
			t.Fatal(err)
		}
		if err := Validate(set); err != nil || Len(set) != n+btoi(added) {
			t.Fatalf("after Set: %v, len %d", err, Len(set))
		}
		del, ok := Delete(nil, set, probe)
		if !ok || Validate(del) != nil || Len(del) != Len(set)-1 {
			t.Fatalf("after Delete: %v", Validate(del))
		}
		if added && !bytes.Equal(del, enc) {
			t.Fatal("Set then Delete of a new field changed the hash")
		}
		if n > 0 {
			d2, k := DeleteMany(nil, enc, [][]byte{Field(enc, 0), Field(enc, n-1)})
			if Validate(d2) != nil || Len(d2) != n-k {
				t.Fatal("after DeleteMany")
			}
		}
	})
}

func btoi(b bool) int {
	if b {
		return 1
	}
	return 0
}

func BenchmarkGet(b *testing.B) {
	var pairs [][]byte
	for i := 0; i < 5000; i++ {
		pairs = append(pairs, fmt.Appendf(nil, "field:%06d", i), fmt.Appendf(nil, "value-%d", i))
	}
	enc, _ := Build(nil, pairs)
	f := []byte("field:002500")
	b.ReportAllocs()
	for b.Loop() {
		Get(enc, f)
	}
}

func BenchmarkSet5000(b *testing.B) {
	var pairs [][]byte
	for i := 0; i < 5000; i++ {
		pairs = append(pairs, fmt.Appendf(nil, "field:%06d", i), fmt.Appendf(nil, "value-%d", i))
	}
	enc, _ := Build(nil, pairs)
	var dst []byte
	f := []byte("field:002500x")
	b.ReportAllocs()
	for b.Loop() {
		dst, _, _ = Set(dst[:0], enc, f, f)
	}
}

func TestSlice(t *testing.T) {
	enc, _ := Build(nil, [][]byte{b("a"), b("1"), b("b"), b("22"), b("c"), b("333"), b("d"), b("")})
	for i := 0; i <= 4; i++ {
		for j := i; j <= 4; j++ {
			s := Slice(nil, enc, i, j)
			mustValid(t, s)
			if got, want := pairsOf(s), pairsOf(enc)[2*i:2*j]; !slices.Equal(got, want) {
				t.Fatalf("Slice(%d,%d) = %q want %q", i, j, got, want)
			}
		}
	}
	if s := Slice(nil, nil, 0, 0); Len(s) != 0 || Validate(s) != nil {
		t.Fatal("Slice of nil")
	}
}
