package enginetest

import (
	"fmt"
	"testing"

	"granary/internal/engine"
)

// CheckPrefetch checks that Prefetch is a hint: it changes nothing, whatever
// the keys (present, absent, in empty buckets, bucket numbers past
// NumBuckets, more than engine.PrefetchKeys), and reads after it see what
// they saw before.
func CheckPrefetch(t *testing.T, e engine.Engine) {
	t.Helper()
	pf, ok := e.(engine.Prefetcher)
	if !ok {
		t.Fatalf("%T does not implement engine.Prefetcher", e)
	}
	var keys [][]byte
	var buckets []uint16
	for i := range 2 * engine.PrefetchKeys {
		k := []byte(fmt.Sprintf("key:%d", i))
		keys, buckets = append(keys, k), append(buckets, uint16(i*997))
		if i%2 == 0 {
			MustSet(t, e, uint16(i*997), string(k), Str(fmt.Sprint(i)))
		}
	}
	pf.Prefetch(nil, nil)
	pf.Prefetch(buckets, keys)
	pf.Prefetch(buckets[:1], keys[:1])
	for i, k := range keys {
		it, ok := Get(e, buckets[i], string(k), Now)
		if want := i%2 == 0; ok != want || (ok && string(it.Value) != fmt.Sprint(i)) {
			t.Fatalf("%s: %q %v", k, it.Value, ok)
		}
	}
}
