package verify

import (
	"errors"
	"strings"
	"testing"
)

func dg(lsn uint64, held bool, ns ...any) *digest {
	d := &digest{lsn: lsn, term: 1, held: held, ns: map[uint16]nsDigest{}}
	for i := 0; i+3 < len(ns); i += 4 {
		d.ns[uint16(ns[i].(int))] = nsDigest{count: uint64(ns[i+1].(int)), sum: ns[i+2].(string), evicts: ns[i+3].(bool)}
	}
	return d
}

func TestCompare(t *testing.T) {
	for _, tc := range []struct {
		name         string
		a, b         *digest
		equal, evict bool
	}{
		{"equal", dg(5, true, 0, 3, "aa", false), dg(5, true, 0, 3, "aa", false), true, false},
		{"both empty", dg(5, true), dg(5, true), true, false},
		{"sum differs", dg(5, true, 0, 3, "aa", false), dg(5, true, 0, 3, "ab", false), false, false},
		{"count differs", dg(5, true, 0, 3, "aa", false), dg(5, true, 0, 4, "aa", false), false, false},
		{"namespace only on one", dg(5, true, 0, 3, "aa", false), dg(5, true, 0, 3, "aa", false, 2, 1, "cc", false), false, false},
		{"empty evicting namespace on one", dg(5, true, 0, 3, "aa", false, 2, 0, "0000", true), dg(5, true, 0, 3, "aa", false), true, false},
		{"differs where one evicted", dg(5, true, 2, 3, "aa", true), dg(5, true, 2, 5, "bb", false), false, true},
		{"differs where one evicted and elsewhere", dg(5, true, 0, 1, "x", false, 2, 3, "aa", true), dg(5, true, 0, 1, "y", false, 2, 5, "bb", false), false, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			for _, swap := range []bool{false, true} {
				a, b := tc.a, tc.b
				if swap {
					a, b = b, a
				}
				eq, ev := compare(a, b)
				if eq != tc.equal || ev != tc.evict {
					t.Fatalf("swap %v: equal %v evictedOnly %v, want %v %v", swap, eq, ev, tc.equal, tc.evict)
				}
			}
		})
	}
}

func TestParseDigest(t *testing.T) {
	good := []any{int64(9), int64(42), int64(3), int64(1), []any{[]any{int64(2), int64(7), "00000000000000ff", int64(1)}}}
	b, d, err := parseDigest(good)
	if err != nil || b != 9 || d.lsn != 42 || d.term != 3 || !d.held || d.ns[2] != (nsDigest{7, "00000000000000ff", true}) || d.items() != 7 {
		t.Fatalf("parseDigest = %d %+v %v", b, d, err)
	}
	for _, bad := range []any{
		"OK",
		[]any{int64(9), int64(42), int64(3), int64(1)},
		[]any{int64(9), "42", int64(3), int64(1), []any{}},
		[]any{int64(9), int64(42), int64(3), int64(1), "none"},
		[]any{int64(9), int64(42), int64(3), int64(1), []any{[]any{int64(2), int64(7), int64(255), int64(1)}}},
		[]any{int64(9), int64(42), int64(3), int64(1), []any{[]any{int64(2)}}},
	} {
		if _, _, err := parseDigest(bad); err == nil {
			t.Errorf("parseDigest(%v): no error", bad)
		}
	}
}

func TestSettled(t *testing.T) {
	reps := []Replica{{"p", "h:1"}, {"s", "h:2"}}
	down := map[string]error{"h:2": errors.New("connection refused")}
	behind := dg(4, true)
	otherTerm := dg(5, true)
	otherTerm.term = 2
	for _, tc := range []struct {
		name string
		ds   []*digest
		errs map[string]error
		want string // "" settled, else a part of the reason
	}{
		{"same LSN", []*digest{dg(5, true), dg(5, true)}, nil, ""},
		{"node down", []*digest{dg(5, true), nil}, down, "connection refused"},
		{"no digest", []*digest{dg(5, true), nil}, nil, "gave no digest"},
		{"catching up", []*digest{dg(5, true), dg(5, false)}, nil, "has not caught up"},
		{"LSNs differ", []*digest{dg(5, true), behind}, nil, "writes are flowing"},
		{"terms differ", []*digest{dg(5, true), otherTerm}, nil, "writes are flowing"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := settled(reps, tc.ds, tc.errs)
			if (got == "") != (tc.want == "") || !strings.Contains(got, tc.want) {
				t.Fatalf("settled = %q, want %q", got, tc.want)
			}
		})
	}
}

func TestKeyDiffs(t *testing.T) {
	kh := func(kv ...string) *keyHashes {
		k := &keyHashes{items: map[nsKey]string{}}
		for i := 0; i+1 < len(kv); i += 2 {
			k.items[nsKey{0, kv[i]}] = kv[i+1]
		}
		return k
	}
	for _, tc := range []struct {
		name               string
		primary, secondary *keyHashes
		want               []KeyDiff
	}{
		{"equal", kh("a", "1", "b", "2"), kh("b", "2", "a", "1"), nil},
		{"missing", kh("a", "1", "b", "2"), kh("a", "1"), []KeyDiff{{0, "b", "s", "missing"}}},
		{"extra", kh("a", "1"), kh("a", "1", "c", "3"), []KeyDiff{{0, "c", "s", "extra"}}},
		{"differs", kh("a", "1"), kh("a", "9"), []KeyDiff{{0, "a", "s", "differs"}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := keyDiffs(tc.primary, tc.secondary, "s")
			if len(got) != len(tc.want) || (len(got) == 1 && got[0] != tc.want[0]) {
				t.Fatalf("keyDiffs = %v, want %v", got, tc.want)
			}
		})
	}
}
