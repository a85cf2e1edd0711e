package replication

import (
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"granary/internal/engine"
	"granary/internal/routing"
)

// recorder is a Watcher that lists what it was told.
type recorder struct {
	mu  sync.Mutex
	got []string
}

func (r *recorder) KeyChanged(ns, bucket uint16, key []byte) {
	r.mu.Lock()
	r.got = append(r.got, fmt.Sprintf("key %d/%d/%s", ns, bucket, key))
	r.mu.Unlock()
}

func (r *recorder) BucketDropped(bucket uint16) {
	r.mu.Lock()
	r.got = append(r.got, fmt.Sprintf("drop %d", bucket))
	r.mu.Unlock()
}

// take returns what was recorded since the last call.
func (r *recorder) take() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := r.got
	r.got = nil
	return out
}

// TestWatcher checks that a secondary tells its Watcher of every change it
// applies (puts, deletes, drops, snapshots) before it acknowledges it, so
// READONLY readers of the secondary are invalidated before the primary's
// sync write is acknowledged.
func TestWatcher(t *testing.T) {
	var wa, wb recorder
	a := newNodeWatched(t, "a", time.Second, &wa)
	b := newNodeWatched(t, "b", time.Second, &wb)
	// a alone: bucket 9 gets data that b will receive by snapshot.
	solo := table(1, 1, []*node{a}, 0)
	a.r.Install(solo)
	set(t, a, 0, 9, "snap", "v")
	joinSecondary(t, a, b)
	if got := wb.take(); !slices.Contains(got, "drop 9") || !slices.Contains(got, "key 0/9/snap") {
		t.Fatalf("snapshot of bucket 9: b's watcher got %d calls, not both drop 9 and key 0/9/snap", len(got))
	}
	wa.take() // a adopted every bucket: dropped (empty) first
	// Settle returns once b acknowledged: by then b told its watcher.
	for _, step := range []struct {
		do   func()
		want string
	}{
		{func() { set(t, a, 2, 7, "k", "v1") }, "key 2/7/k"},
		{func() {
			a.reg.Get(2).Engine.Update(7, []byte("k"), time.Now().UnixMilli(), func(*engine.Item) (engine.Item, engine.Op) {
				return engine.Item{}, engine.OpDelete
			})
		}, "key 2/7/k"},
		{func() { a.reg.Get(2).Engine.DropBucket(7) }, "drop 7"},
	} {
		step.do()
		if !a.r.Settle(a.r.Note(nil, 7), 0) {
			t.Fatal("not committed")
		}
		if got := wb.take(); !slices.Equal(got, []string{step.want}) {
			t.Fatalf("b's watcher got %v, want [%s]", got, step.want)
		}
	}
	// The primary's own writes come from commands, which invalidate in
	// dispatch: its watcher hears only of drops.
	if got := wa.take(); len(got) != 0 {
		t.Fatalf("a's watcher got %v", got)
	}
	// A change of roles: a leaves the buckets (it keeps the data a while,
	// as an orphan), b leads them. Both forget what they served.
	bOnly := table(3, 2, []*node{a, b}, 1)
	b.r.Install(bOnly)
	a.r.Install(bOnly)
	for name, w := range map[string]*recorder{"a": &wa, "b": &wb} {
		if got := w.take(); len(got) != routing.Buckets || got[7] != "drop 7" {
			t.Fatalf("%s's watcher got %d calls after the role change", name, len(got))
		}
	}
	if v, ok := get(t, a, 0, 9, "snap"); !ok || v != "v" {
		t.Fatalf("a dropped its orphaned copy at once: %q %v", v, ok)
	}
}
