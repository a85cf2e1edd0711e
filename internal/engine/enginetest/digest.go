package enginetest

import (
	"testing"

	"granary/internal/engine"
)

// testDigest checks engine.DigestBucket on the engine: the same items
// stored in any order give the same digest, and every field a replica must
// agree on changes it, while items past the cutoff and other buckets do not.
func testDigest(t *testing.T, h *harness) {
	const b = 7
	cutoff := Now + 1000
	base := func(t *testing.T, e engine.Engine, reverse bool) {
		t.Helper()
		n := 200
		for j := range n {
			i := j
			if reverse {
				i = n - 1 - j
			}
			it := Str(KeyOf(i))
			it.Version = uint64(i%5 + 1)
			if i%7 == 0 {
				it.Expire = Now + 1e6
			}
			if i%11 == 0 {
				it.Type = engine.TypeHash
			}
			MustSet(t, e, b, KeyOf(i), it)
		}
	}
	ref := h.open(t)
	base(t, ref, false)
	want := engine.DigestBucket(ref, b, Now, cutoff)
	if want.Count != 200 {
		t.Fatalf("digest counts %d items, want 200", want.Count)
	}
	if got := engine.DigestBucket(ref, b, Now, cutoff); got != want {
		t.Fatalf("digest changed between two calls: %+v, %+v", want, got)
	}
	if d := engine.DigestBucket(ref, b+1, Now, cutoff); d != (engine.Digest{}) {
		t.Fatalf("digest of an empty bucket: %+v", d)
	}

	set := func(k string, it engine.Item) func(t *testing.T, e engine.Engine) {
		return func(t *testing.T, e engine.Engine) { MustSet(t, e, b, k, it) }
	}
	withVersion := func(v string, ver uint64) engine.Item {
		it := Str(v)
		it.Version = ver
		return it
	}
	expiring := func(exp int64) engine.Item {
		it := withVersion(KeyOf(3), 4)
		it.Expire = exp
		return it
	}
	hash := withVersion(KeyOf(3), 4)
	hash.Type = engine.TypeHash
	for _, tc := range []struct {
		name  string
		apply func(t *testing.T, e engine.Engine)
		same  bool
	}{
		{"same items in reverse order", func(*testing.T, engine.Engine) {}, true},
		{"value changed", set(KeyOf(3), withVersion("other", 4)), false},
		{"version changed", set(KeyOf(3), withVersion(KeyOf(3), 9)), false},
		{"expiry set", set(KeyOf(3), expiring(Now+2e6)), false},
		{"type changed", set(KeyOf(3), hash), false},
		{"key added", set("extra", Str("x")), false},
		{"key deleted", func(t *testing.T, e engine.Engine) {
			if err := e.Update(b, []byte(KeyOf(3)), Now, func(*engine.Item) (engine.Item, engine.Op) {
				return engine.Item{}, engine.OpDelete
			}); err != nil {
				t.Fatal(err)
			}
		}, false},
		{"key expiring before the cutoff added", set("soon", func() engine.Item {
			it := Str("x")
			it.Expire = cutoff
			return it
		}()), true},
		{"key already expired added", set("gone", func() engine.Item {
			it := Str("x")
			it.Expire = Now - 1
			return it
		}()), true},
		{"key in another bucket added", func(t *testing.T, e engine.Engine) { MustSet(t, e, b+1, "elsewhere", Str("x")) }, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := h.open(t)
			base(t, e, true)
			tc.apply(t, e)
			got := engine.DigestBucket(e, b, Now, cutoff)
			if (got == want) != tc.same {
				t.Fatalf("digest %+v, reference %+v: equal = %v, want %v", got, want, got == want, tc.same)
			}
		})
	}
}
