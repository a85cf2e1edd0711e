package mem

import (
	"fmt"
	"testing"

	"granary/internal/engine"
)

// Prefetch is a hint: it changes nothing, whatever the keys (present,
// absent, in empty buckets, more than engine.PrefetchKeys), and lookups after it
// see what they saw before.
func TestPrefetch(t *testing.T) {
	e := newEngine(t, Options{})
	var keys [][]byte
	var buckets []uint16
	for i := range 2 * engine.PrefetchKeys {
		k := []byte(fmt.Sprintf("key:%d", i))
		keys, buckets = append(keys, k), append(buckets, uint16(i*97))
		if i%2 == 0 {
			mustSet(t, e, uint16(i*97), string(k), str(fmt.Sprint(i)))
		}
	}
	e.Prefetch(nil, nil)
	e.Prefetch(buckets, keys)
	e.Prefetch(buckets[:1], keys[:1])
	for i, k := range keys {
		it, ok := get(e, buckets[i], string(k), now0)
		if want := i%2 == 0; ok != want || (ok && string(it.Value) != fmt.Sprint(i)) {
			t.Fatalf("%s: %q %v", k, it.Value, ok)
		}
	}
}
