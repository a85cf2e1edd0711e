package disk

import (
	"bytes"
	"errors"
	"fmt"
	"testing"
	"time"

	"granary/internal/engine"
)

func TestParseSyncPolicy(t *testing.T) {
	tests := []struct {
		in   string
		want SyncPolicy
		ok   bool
	}{
		{"always", SyncAlways, true},
		{"ALWAYS", SyncAlways, true},
		{"everysec", SyncInterval, true},
		{" interval ", SyncInterval, true},
		{"never", 0, false},
		{"", 0, false},
	}
	for _, tc := range tests {
		got, err := ParseSyncPolicy(tc.in)
		if (err == nil) != tc.ok || tc.ok && got != tc.want {
			t.Errorf("ParseSyncPolicy(%q) = %v, %v", tc.in, got, err)
		}
		if tc.ok {
			if back, _ := ParseSyncPolicy(got.String()); back != got {
				t.Errorf("%v does not round-trip", got)
			}
		}
	}
}

// TestReopen writes under each policy, closes, opens again and finds
// everything back, counts included once the count pass is done.
func TestReopen(t *testing.T) {
	for _, policy := range []SyncPolicy{SyncAlways, SyncInterval} {
		t.Run(policy.String(), func(t *testing.T) {
			dir := t.TempDir()
			opts := Options{Sync: policy, SyncInterval: 50 * time.Millisecond, SweepInterval: time.Hour}
			s := openStore(t, dir, opts)
			type rec struct {
				ns  uint16
				b   uint16
				it  engine.Item
				ver uint64
			}
			want := map[string]rec{}
			n := 300
			if policy == SyncInterval {
				n = 3000
			}
			for i := 0; i < n; i++ {
				ns := uint16(1 + i%3)
				b := uint16(i % 97)
				it := engine.Item{Type: engine.Type(1 + i%2), Version: uint64(i % 5), Value: []byte(fmt.Sprint("value", i))}
				if i%4 == 0 {
					it.Expire = now0 + int64(1e6+i)
				}
				ver, err := s.Namespace(ns).Set(b, []byte(keyOf(i)), it, now0)
				if err != nil {
					t.Fatal(err)
				}
				if i%10 == 0 { // overwrite some: versions carry on
					if ver, err = s.Namespace(ns).Set(b, []byte(keyOf(i)), it, now0); err != nil {
						t.Fatal(err)
					}
				}
				want[keyOf(i)] = rec{ns, b, it, ver}
			}
			if err := s.SetMeta([]byte("lsn"), []byte("42"), true); err != nil {
				t.Fatal(err)
			}
			before := map[uint16]engine.Stats{}
			for ns := uint16(1); ns <= 3; ns++ {
				before[ns] = s.Namespace(ns).Stats()
			}
			if err := s.Close(); err != nil {
				t.Fatal(err)
			}
			if _, err := s.Namespace(1).Set(0, []byte("x"), str("x"), now0); !errors.Is(err, ErrClosed) {
				t.Fatalf("Set after Close: %v", err)
			}

			s = openStore(t, dir, opts)
			for k, r := range want {
				it, ok := get(s.Namespace(r.ns), r.b, k, now0)
				if !ok || !bytes.Equal(it.Value, r.it.Value) || it.Version != r.ver || it.Expire != r.it.Expire || it.Type != r.it.Type {
					t.Fatalf("%s: got %+v %v, want %+v v%d", k, it, ok, r.it, r.ver)
				}
			}
			for ns := uint16(1); ns <= 3; ns++ {
				if st := s.Namespace(ns).Stats(); st != before[ns] {
					t.Fatalf("ns %d stats %+v, before %+v", ns, st, before[ns])
				}
			}
			if v, ok, err := s.Meta([]byte("lsn")); err != nil || !ok || string(v) != "42" {
				t.Fatalf("meta %q %v %v", v, ok, err)
			}
			checkStore(t, s)
		})
	}
}

// TestCountPassWithWrites writes, drops and flushes while the count pass is
// stopped half-way: the counts end exact.
func TestCountPassWithWrites(t *testing.T) {
	dir := t.TempDir()
	s := openStore(t, dir, Options{Sync: SyncInterval})
	const n = 20000
	for i := 0; i < n; i++ {
		it := str("v")
		if i%3 == 0 {
			it.Expire = now0 + 1e6
		}
		ns := uint16(1 + i%2)
		if _, err := s.Namespace(ns).Set(uint16(i%64), []byte(keyOf(i)), it, now0); err != nil {
			t.Fatal(err)
		}
	}
	s.Close()

	hold, release := make(chan struct{}), make(chan struct{})
	testCountHook = func(p uint32) {
		if p == pos(1, 30) { // ns 1 holds the even buckets
			close(hold)
			<-release
		}
	}
	t.Cleanup(func() { testCountHook = nil })
	s, err := Open(dir, Options{Sync: SyncInterval, Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	<-hold
	e := s.Namespace(1)
	for i := 0; i < n; i += 5 {
		k := []byte(keyOf(i))
		ns := uint16(1 + i%2)
		switch i % 3 {
		case 0:
			s.Namespace(ns).Update(uint16(i%64), k, now0, func(*engine.Item) (engine.Item, engine.Op) { return engine.Item{}, engine.OpDelete })
		case 1:
			s.Namespace(ns).Set(uint16(i%64), k, engine.Item{Type: engine.TypeString, Expire: now0 + 5e5, Value: []byte("longer value")}, now0)
		default:
			s.Namespace(ns).Set(uint16(i%64), []byte(fmt.Sprint("new", i)), str("n"), now0)
		}
	}
	e.DropBucket(5)  // counted already
	e.DropBucket(50) // not counted yet
	s.Namespace(2).Flush()
	if c := e.CountBucket(40); c >= n/2/64 {
		t.Fatalf("bucket 40 counted (%d) before the pass reached it", c)
	}
	close(release)
	waitReady(t, s)
	checkStore(t, s)
}

func TestMeta(t *testing.T) {
	dir := t.TempDir()
	s := openStore(t, dir, Options{})
	for _, k := range []string{"repl/b/1", "repl/b/2", "repl/c", "other", "repl/b/\xff"} {
		if err := s.SetMeta([]byte(k), []byte("v:"+k), k == "other"); err != nil {
			t.Fatal(err)
		}
	}
	if v, ok, err := s.Meta([]byte("repl/c")); err != nil || !ok || string(v) != "v:repl/c" {
		t.Fatalf("Meta = %q %v %v", v, ok, err)
	}
	if _, ok, _ := s.Meta([]byte("nope")); ok {
		t.Fatal("found a missing key")
	}
	var got []string
	scan := func(prefix string) {
		got = got[:0]
		err := s.ScanMeta([]byte(prefix), func(k, v []byte) bool {
			if string(v) != "v:"+string(k) {
				t.Errorf("%q = %q", k, v)
			}
			got = append(got, string(k))
			return true
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	scan("repl/b/")
	if fmt.Sprint(got) != "[repl/b/1 repl/b/2 repl/b/\xff]" {
		t.Fatalf("scan = %q", got)
	}
	scan("")
	if len(got) != 5 {
		t.Fatalf("scan all = %q", got)
	}
	calls := 0
	s.ScanMeta(nil, func(k, v []byte) bool { calls++; return false })
	if calls != 1 {
		t.Fatal("ScanMeta did not stop")
	}
	if err := s.DeleteMeta([]byte("repl/c")); err != nil {
		t.Fatal(err)
	}
	if err := s.DeleteMetas([][]byte{[]byte("other")}, true); err != nil {
		t.Fatal(err)
	}
	if _, ok, _ := s.Meta([]byte("other")); ok {
		t.Fatal("DeleteMetas did not delete")
	}
	// Metadata is not data.
	if st := s.Namespace(0).Stats(); st.Items != 0 {
		t.Fatalf("meta counted as data: %+v", st)
	}
	s.Close()
	s = openStore(t, dir, Options{})
	scan("repl/")
	if fmt.Sprint(got) != "[repl/b/1 repl/b/2 repl/b/\xff]" {
		t.Fatalf("after reopen: %q", got)
	}
}

func TestNamespaces(t *testing.T) {
	dir := t.TempDir()
	s := openStore(t, dir, Options{})
	if ns := s.Namespaces(); len(ns) != 0 {
		t.Fatalf("empty store lists %v", ns)
	}
	for _, ns := range []uint16{0, 3, 4, 900, 0xffff} {
		for b := uint16(0); b < 3; b++ {
			mustSet(t, s.Namespace(ns), b*100, "k", str("v"))
		}
	}
	s.Namespace(7) // an engine without data is not listed
	s.SetMeta([]byte("m"), nil, false)
	s.Namespace(4).Flush()
	if got := fmt.Sprint(s.Namespaces()); got != "[0 3 900 65535]" {
		t.Fatalf("Namespaces = %s", got)
	}
	if !s.Namespace(3).Persistent() {
		t.Fatal("not persistent")
	}
	s.Close()
	s = openStore(t, dir, Options{})
	if got := fmt.Sprint(s.Namespaces()); got != "[0 3 900 65535]" {
		t.Fatalf("after reopen Namespaces = %s", got)
	}
}
