//go:build e2e

package cluster

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"testing"
	"time"

	"granary/client"
	"granary/internal/routing"
	"granary/test/cachecheck"
)

// newGranaryClient is a granary/client Client bootstrapped from the
// cluster's config servers' RESP addresses; closed when the test ends.
func newGranaryClient(t *testing.T, c *cluster, opts client.Options) *client.Client {
	t.Helper()
	for _, cs := range c.cfg {
		opts.Addrs = append(opts.Addrs, cs.resp)
	}
	if opts.TLS == nil {
		opts.TLS = clientTLS()
	}
	gc, err := client.New(opts)
	if err != nil {
		t.Fatalf("client.New: %v", err)
	}
	t.Cleanup(gc.Close)
	return gc
}

// namespace returns a handle, failing the test on error.
func namespace(t *testing.T, gc *client.Client, id uint16) *client.Namespace {
	t.Helper()
	ns, err := gc.Namespace(id)
	if err != nil {
		t.Fatalf("Namespace(%d): %v", id, err)
	}
	return ns
}

// wantErr fails the test unless err matches kind (nil: no error).
func wantErr(t *testing.T, what string, err, kind error) {
	t.Helper()
	switch {
	case kind == nil && err != nil:
		t.Errorf("%s: %v, want no error", what, err)
	case kind != nil && !errors.Is(err, kind):
		t.Errorf("%s: %v, want %v", what, err, kind)
	}
}

// TestClientAPI runs every call of granary/client against a cluster of three
// data servers, every bucket on two of them, the client given only the
// config server's address.
func TestClientAPI(t *testing.T) {
	c := startCluster(t, clusterOpts{configs: 1, data: 3, autoAdd: true, copies: 2})
	gc := newGranaryClient(t, c, client.Options{})
	ns := namespace(t, gc, 0)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()

	t.Run("Namespaces", func(t *testing.T) {
		ns7 := namespace(t, gc, 7)
		if again := namespace(t, gc, 7); again != ns7 || ns7.ID() != 7 {
			t.Errorf("Namespace(7) twice: %p %p, ID %d", ns7, again, ns7.ID())
		}
		if _, err := ns.Put(ctx, "ns:k", []byte("zero")); err != nil {
			t.Fatal(err)
		}
		if _, err := ns7.Put(ctx, "ns:k", []byte("seven")); err != nil {
			t.Fatal(err)
		}
		for _, tc := range []struct {
			ns   *client.Namespace
			want string
		}{{ns, "zero"}, {ns7, "seven"}} {
			if it, err := tc.ns.Get(ctx, "ns:k"); err != nil || string(it.Value) != tc.want || it.Version != 1 {
				t.Errorf("namespace %d: Get = %q v%d, %v; want %q v1", tc.ns.ID(), it.Value, it.Version, err, tc.want)
			}
		}
		if _, err := namespace(t, gc, 8).Get(ctx, "ns:k"); !errors.Is(err, client.ErrNotFound) {
			t.Errorf("namespace 8: Get: %v, want ErrNotFound", err)
		}
	})

	t.Run("PutGet", func(t *testing.T) {
		_, err := ns.Get(ctx, "pg:missing")
		wantErr(t, "Get missing", err, client.ErrNotFound)
		for want := uint64(1); want <= 3; want++ {
			v, err := ns.Put(ctx, "pg:k", []byte("v"+strconv.FormatUint(want, 10)))
			if err != nil || v != want {
				t.Fatalf("Put #%d: version %d, %v", want, v, err)
			}
		}
		it, err := ns.Get(ctx, "pg:k")
		if err != nil || string(it.Value) != "v3" || it.Version != 3 || it.Cached {
			t.Errorf("Get = %+v, %v; want v3, version 3, not cached", it, err)
		}
		_, err = ns.Put(ctx, "pg:k", []byte("x"), client.IfAbsent())
		wantErr(t, "Put IfAbsent on an existing key", err, client.ErrExists)
		_, err = ns.Put(ctx, "pg:none", []byte("x"), client.IfExists())
		wantErr(t, "Put IfExists on a missing key", err, client.ErrNotFound)
		_, err = ns.Put(ctx, "pg:k", []byte("x"), client.IfVersion(2))
		wantErr(t, "Put IfVersion(2) on version 3", err, client.ErrVersionMismatch)
		if v, err := ns.Put(ctx, "pg:k", []byte("v4"), client.IfVersion(3)); err != nil || v != 4 {
			t.Errorf("Put IfVersion(3): %d, %v; want 4", v, err)
		}
		if v, err := ns.Put(ctx, "pg:new", []byte("n"), client.IfAbsent()); err != nil || v != 1 {
			t.Errorf("Put IfAbsent on a missing key: %d, %v", v, err)
		}
		_, err = ns.Put(ctx, "pg:k", []byte("x"), client.IfAbsent(), client.IfExists())
		if err == nil {
			t.Errorf("Put IfAbsent+IfExists: no error")
		}
		_, err = ns.Put(ctx, "pg:k", []byte("x"), client.WithMax(3))
		if err == nil {
			t.Errorf("Put WithMax: no error")
		}
	})

	t.Run("Expiry", func(t *testing.T) {
		if _, err := ns.Put(ctx, "ex:short", []byte("x"), client.WithTTL(100*time.Millisecond)); err != nil {
			t.Fatal(err)
		}
		if _, err := ns.Put(ctx, "ex:at", []byte("x"), client.WithExpireAt(time.Now().Add(100*time.Millisecond))); err != nil {
			t.Fatal(err)
		}
		if _, err := ns.Put(ctx, "ex:long", []byte("x"), client.WithTTL(time.Hour)); err != nil {
			t.Fatal(err)
		}
		// KeepTTL keeps the short expiry; a plain Put clears it.
		if _, err := ns.Put(ctx, "ex:keep", []byte("x"), client.WithTTL(100*time.Millisecond)); err != nil {
			t.Fatal(err)
		}
		if _, err := ns.Put(ctx, "ex:keep", []byte("y"), client.KeepTTL()); err != nil {
			t.Fatal(err)
		}
		if _, err := ns.Put(ctx, "ex:clear", []byte("x"), client.WithTTL(100*time.Millisecond)); err != nil {
			t.Fatal(err)
		}
		if _, err := ns.Put(ctx, "ex:clear", []byte("y")); err != nil {
			t.Fatal(err)
		}
		for _, k := range []string{"ex:short", "ex:at", "ex:keep"} {
			waitGone(t, ctx, ns, k)
		}
		for _, k := range []string{"ex:long", "ex:clear"} {
			if _, err := ns.Get(ctx, k); err != nil {
				t.Errorf("Get %s after the others expired: %v", k, err)
			}
		}
	})

	t.Run("CompareAndSwap", func(t *testing.T) {
		v, err := ns.Put(ctx, "cas:k", []byte("a"), client.WithTTL(time.Hour))
		if err != nil {
			t.Fatal(err)
		}
		if nv, err := ns.CompareAndSwap(ctx, "cas:k", []byte("b"), v); err != nil || nv != v+1 {
			t.Errorf("CompareAndSwap at the current version: %d, %v; want %d", nv, err, v+1)
		}
		_, err = ns.CompareAndSwap(ctx, "cas:k", []byte("c"), v)
		wantErr(t, "CompareAndSwap at an old version", err, client.ErrVersionMismatch)
		_, err = ns.CompareAndSwap(ctx, "cas:none", []byte("c"), 1)
		wantErr(t, "CompareAndSwap on a missing key", err, client.ErrNotFound)
		if it, err := ns.Get(ctx, "cas:k"); err != nil || string(it.Value) != "b" || it.Version != v+1 {
			t.Errorf("Get after CompareAndSwap: %+v, %v", it, err)
		}
		wantErr(t, "SetVersion", ns.SetVersion(ctx, "cas:k", 100), nil)
		if it, err := ns.Get(ctx, "cas:k"); err != nil || it.Version != 100 || string(it.Value) != "b" {
			t.Errorf("Get after SetVersion(100): %+v, %v", it, err)
		}
		wantErr(t, "SetVersion on a missing key", ns.SetVersion(ctx, "cas:none", 5), client.ErrNotFound)
		wantErr(t, "DeleteIfVersion at another version", ns.DeleteIfVersion(ctx, "cas:k", 99), client.ErrVersionMismatch)
		wantErr(t, "DeleteIfVersion", ns.DeleteIfVersion(ctx, "cas:k", 100), nil)
		wantErr(t, "DeleteIfVersion on a missing key", ns.DeleteIfVersion(ctx, "cas:k", 100), client.ErrNotFound)
		if _, err := ns.Put(ctx, "del:k", []byte("x")); err != nil {
			t.Fatal(err)
		}
		wantErr(t, "Delete", ns.Delete(ctx, "del:k"), nil)
		wantErr(t, "Delete a missing key", ns.Delete(ctx, "del:k"), nil)
		_, err = ns.Get(ctx, "del:k")
		wantErr(t, "Get after Delete", err, client.ErrNotFound)
	})

	t.Run("Counters", func(t *testing.T) {
		for i, want := range []int64{5, 10, 15} {
			if v, err := ns.Incr(ctx, "ctr:plain", 5); err != nil || v != want {
				t.Errorf("Incr #%d: %d, %v; want %d", i+1, v, err, want)
			}
		}
		if v, err := ns.Decr(ctx, "ctr:plain", 20); err != nil || v != -5 {
			t.Errorf("Decr 20: %d, %v; want -5", v, err)
		}
		if v, err := ns.Incr(ctx, "ctr:init", 5, client.WithInitial(100)); err != nil || v != 105 {
			t.Errorf("Incr with initial 100: %d, %v; want 105", v, err)
		}
		if v, err := ns.Incr(ctx, "ctr:init", 5, client.WithInitial(100)); err != nil || v != 110 {
			t.Errorf("Incr of an existing counter with initial 100: %d, %v; want 110", v, err)
		}
		if v, err := ns.Incr(ctx, "ctr:max", 3, client.WithMax(5)); err != nil || v != 3 {
			t.Errorf("Incr 3 max 5: %d, %v", v, err)
		}
		_, err := ns.Incr(ctx, "ctr:max", 3, client.WithMax(5))
		wantErr(t, "Incr past WithMax", err, client.ErrOutOfRange)
		_, err = ns.Decr(ctx, "ctr:max", 4, client.WithMin(0))
		wantErr(t, "Decr past WithMin", err, client.ErrOutOfRange)
		if it, err := ns.Get(ctx, "ctr:max"); err != nil || string(it.Value) != "3" {
			t.Errorf("counter after refused changes: %q, %v; want 3", it.Value, err)
		}
		_, err = ns.Incr(ctx, "ctr:newmax", 10, client.WithInitial(0), client.WithMax(5))
		wantErr(t, "Incr creating past WithMax", err, client.ErrOutOfRange)
		if v, err := ns.Incr(ctx, "ctr:ttl", 1, client.WithTTL(200*time.Millisecond)); err != nil || v != 1 {
			t.Errorf("Incr with TTL: %d, %v", v, err)
		}
		if v, err := ns.Incr(ctx, "ctr:ttl", 1, client.WithTTL(200*time.Millisecond)); err != nil || v != 2 {
			t.Errorf("second Incr with TTL: %d, %v", v, err)
		}
		waitGone(t, ctx, ns, "ctr:ttl") // the expiry of the first Incr holds
		if _, err := ns.Put(ctx, "ctr:text", []byte("abc")); err != nil {
			t.Fatal(err)
		}
		_, err = ns.Incr(ctx, "ctr:text", 1)
		wantErr(t, "Incr of a non-integer", err, client.ErrNotInteger)
		if err := ns.PrefixPut(ctx, "ctr:hash", "f", []byte("1")); err != nil {
			t.Fatal(err)
		}
		_, err = ns.Incr(ctx, "ctr:hash", 1)
		wantErr(t, "Incr of a prefix key", err, client.ErrWrongType)
		_, err = ns.Get(ctx, "ctr:hash")
		wantErr(t, "Get of a prefix key", err, client.ErrWrongType)
	})

	t.Run("Multi", func(t *testing.T) {
		owners, err := slotOwners(c.data[0].addr)
		if err != nil {
			t.Fatal(err)
		}
		items := map[string][]byte{}
		servers := map[string]bool{}
		var keys []string
		for i := 0; i < 200; i++ {
			k := "multi:" + strconv.Itoa(i)
			items[k] = []byte("value " + strconv.Itoa(i))
			keys = append(keys, k)
			servers[owners[routing.Bucket([]byte(k))]] = true
		}
		if len(servers) < 3 {
			t.Fatalf("the keys span %d data servers, want 3", len(servers))
		}
		vers, err := ns.MPut(ctx, items, client.WithTTL(time.Hour))
		if err != nil || len(vers) != len(items) {
			t.Fatalf("MPut: %d versions, %v", len(vers), err)
		}
		got, err := ns.MGet(ctx, append(keys, "multi:missing")...)
		if err != nil || len(got) != len(items) {
			t.Fatalf("MGet: %d items, %v", len(got), err)
		}
		for k, v := range items {
			if string(got[k].Value) != string(v) || got[k].Version != vers[k] {
				t.Errorf("MGet %s: %+v, want %q version %d", k, got[k], v, vers[k])
			}
		}
		if err := ns.MDelete(ctx, keys[:150]...); err != nil {
			t.Fatalf("MDelete: %v", err)
		}
		if got, err = ns.MGet(ctx, keys...); err != nil || len(got) != 50 {
			t.Errorf("MGet after MDelete of 150: %d items, %v; want 50", len(got), err)
		}
		if _, err := ns.MPut(ctx, items, client.IfAbsent()); err == nil {
			t.Errorf("MPut IfAbsent: no error")
		}
	})

	t.Run("Prefix", func(t *testing.T) {
		if err := ns.PrefixPutMany(ctx, "user:7", map[string][]byte{"a": []byte("1"), "b": []byte("2"), "c": []byte("3")}); err != nil {
			t.Fatal(err)
		}
		for _, f := range []string{"d", "e"} {
			if err := ns.PrefixPut(ctx, "user:7", f, []byte(f+"!")); err != nil {
				t.Fatal(err)
			}
		}
		if v, err := ns.PrefixGet(ctx, "user:7", "b"); err != nil || string(v) != "2" {
			t.Errorf("PrefixGet b: %q, %v", v, err)
		}
		_, err := ns.PrefixGet(ctx, "user:7", "zz")
		wantErr(t, "PrefixGet of a missing secondary key", err, client.ErrNotFound)
		_, err = ns.PrefixGet(ctx, "user:none", "a")
		wantErr(t, "PrefixGet of a missing primary key", err, client.ErrNotFound)
		all, err := ns.PrefixGetAll(ctx, "user:7")
		if err != nil || len(all) != 5 || string(all["e"]) != "e!" {
			t.Errorf("PrefixGetAll: %q, %v", all, err)
		}
		for _, tc := range []struct {
			r    client.Range
			want string
		}{
			{client.Range{}, "a=1 b=2 c=3 d=d! e=e!"},
			{client.Range{From: client.Inclusive("b"), To: client.Exclusive("e")}, "b=2 c=3 d=d!"},
			{client.Range{From: client.Exclusive("b"), Limit: 2}, "c=3 d=d!"},
			{client.Range{Offset: 1, Limit: 2}, "b=2 c=3"},
			{client.Range{Offset: 3}, "d=d! e=e!"},
			{client.Range{Reverse: true, Limit: 2}, "e=e! d=d!"},
			{client.Range{Reverse: true, From: client.Inclusive("b"), To: client.Inclusive("c")}, "c=3 b=2"},
			{client.Range{KeysOnly: true, To: client.Inclusive("b")}, "a= b="},
		} {
			fs, err := ns.PrefixRange(ctx, "user:7", tc.r)
			if got := fieldsString(fs); err != nil || got != tc.want {
				t.Errorf("PrefixRange %+v: %q, %v; want %q", tc.r, got, err, tc.want)
			}
		}
		if fs, err := ns.PrefixRange(ctx, "user:none", client.Range{}); err != nil || len(fs) != 0 {
			t.Errorf("PrefixRange of a missing key: %v, %v", fs, err)
		}
		if _, err := ns.PrefixRange(ctx, "user:7", client.Range{Limit: -1}); err == nil {
			t.Errorf("PrefixRange with a negative limit: no error")
		}
		if n, err := ns.PrefixDelete(ctx, "user:7", "a", "b", "zz"); err != nil || n != 2 {
			t.Errorf("PrefixDelete a b zz: %d, %v; want 2", n, err)
		}
		if all, err := ns.PrefixGetAll(ctx, "user:7"); err != nil || len(all) != 3 {
			t.Errorf("PrefixGetAll after PrefixDelete: %q, %v", all, err)
		}
		if _, err := ns.Put(ctx, "str:1", []byte("x")); err != nil {
			t.Fatal(err)
		}
		err = ns.PrefixPut(ctx, "str:1", "f", []byte("x"))
		wantErr(t, "PrefixPut on a string", err, client.ErrWrongType)
	})

	t.Run("Lock", func(t *testing.T) {
		l, err := ns.TryLock(ctx, "lock:a", time.Minute)
		if err != nil {
			t.Fatalf("TryLock: %v", err)
		}
		_, err = ns.TryLock(ctx, "lock:a", time.Minute)
		wantErr(t, "TryLock of a held lock", err, client.ErrLocked)
		// Lock waits for the holder's Unlock.
		got := make(chan *client.Lock, 1)
		go func() {
			l2, err := ns.Lock(ctx, "lock:a", time.Minute)
			if err != nil {
				t.Errorf("Lock: %v", err)
			}
			got <- l2
		}()
		time.Sleep(200 * time.Millisecond)
		select {
		case <-got:
			t.Fatalf("Lock returned while the lock was held")
		default:
		}
		wantErr(t, "Unlock", ns.Unlock(ctx, l), nil)
		l2 := <-got
		if l2 == nil || l2.Token <= l.Token {
			t.Fatalf("second holder's token %v, first's %d: want larger", l2, l.Token)
		}
		wantErr(t, "Unlock twice", ns.Unlock(ctx, l), client.ErrLockLost)
		wantErr(t, "Unlock of the second holder", ns.Unlock(ctx, l2), nil)
		// A lock whose time ran out is lost; the next holder's token is larger.
		l3, err := ns.TryLock(ctx, "lock:a", 100*time.Millisecond)
		if err != nil {
			t.Fatal(err)
		}
		waitGone(t, ctx, ns, "lock:a")
		l4, err := ns.TryLock(ctx, "lock:a", time.Minute)
		if err != nil || l4.Token <= l3.Token || l3.Token <= l2.Token {
			t.Fatalf("tokens %d, %d, then %v (%v): want increasing", l2.Token, l3.Token, l4, err)
		}
		wantErr(t, "Unlock after the time to live", ns.Unlock(ctx, l3), client.ErrLockLost)
		wantErr(t, "Unlock", ns.Unlock(ctx, l4), nil)
		_, err = ns.TryLock(ctx, "lock:b", 0)
		if err == nil {
			t.Errorf("TryLock with ttl 0: no error")
		}
	})

	t.Run("Cache", func(t *testing.T) {
		cached := newGranaryClient(t, c, client.Options{Cache: client.Cache{TTL: time.Minute, SizeBytes: 1 << 20}})
		cns := namespace(t, cached, 3)
		writer := namespace(t, gc, 3)
		if _, err := cns.Put(ctx, "cache:k", []byte("one")); err != nil {
			t.Fatal(err)
		}
		if it, err := cns.Get(ctx, "cache:k"); err != nil || string(it.Value) != "one" || it.Cached {
			t.Fatalf("first Get: %+v, %v; want one, from the server", it, err)
		}
		if it, err := cns.Get(ctx, "cache:k"); err != nil || string(it.Value) != "one" || !it.Cached {
			t.Fatalf("second Get: %+v, %v; want one, cached", it, err)
		}
		// Its own write: the next read sees it at once.
		if _, err := cns.Put(ctx, "cache:k", []byte("two")); err != nil {
			t.Fatal(err)
		}
		if it, err := cns.Get(ctx, "cache:k"); err != nil || string(it.Value) != "two" {
			t.Fatalf("Get after its own Put: %+v, %v; want two", it, err)
		}
		cns.Get(ctx, "cache:k")
		// Another client's write reaches the cache by invalidation.
		if _, err := writer.Put(ctx, "cache:k", []byte("three")); err != nil {
			t.Fatal(err)
		}
		deadline := time.Now().Add(5 * time.Second)
		for {
			it, err := cns.Get(ctx, "cache:k")
			if err != nil {
				t.Fatal(err)
			}
			if string(it.Value) == "three" {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("the cached value is still %q 5s after another client's write", it.Value)
			}
			time.Sleep(time.Millisecond)
		}
		// MGet, PrefixGet and PrefixGetAll cache too.
		if _, err := cns.MPut(ctx, map[string][]byte{"cache:a": []byte("A"), "cache:b": []byte("B")}); err != nil {
			t.Fatal(err)
		}
		cns.MGet(ctx, "cache:a", "cache:b")
		if m, err := cns.MGet(ctx, "cache:a", "cache:b"); err != nil || !m["cache:a"].Cached || string(m["cache:b"].Value) != "B" {
			t.Errorf("second MGet: %+v, %v; want cached", m, err)
		}
		if err := writer.PrefixPut(ctx, "cache:h", "f", []byte("1")); err != nil {
			t.Fatal(err)
		}
		for i := 0; i < 2; i++ {
			if v, err := cns.PrefixGet(ctx, "cache:h", "f"); err != nil || string(v) != "1" {
				t.Errorf("PrefixGet: %q, %v", v, err)
			}
			if m, err := cns.PrefixGetAll(ctx, "cache:h"); err != nil || string(m["f"]) != "1" {
				t.Errorf("PrefixGetAll: %q, %v", m, err)
			}
		}
	})

	// The history check of caching_test.go, through the Go client: one
	// client writes increasing values and reads them back through its cache
	// from four goroutines; every read must be linearizable.
	t.Run("CacheHistory", func(t *testing.T) {
		cached := newGranaryClient(t, c, client.Options{Cache: client.Cache{TTL: time.Minute}})
		cns := namespace(t, cached, 4)
		h := cachecheck.New("gccache:", 12)
		hctx, hcancel := context.WithTimeout(ctx, 3*time.Second)
		defer hcancel()
		sum, err := h.Run(hctx, func(k string, v int64) error {
			_, err := cns.Put(context.Background(), k, []byte(strconv.FormatInt(v, 10)))
			return err
		}, 500*time.Microsecond, 4, func(key string) (int64, bool, error) {
			it, err := cns.Get(context.Background(), key)
			if errors.Is(err, client.ErrNotFound) {
				return 0, it.Cached, nil
			}
			if err != nil {
				return 0, false, err
			}
			v, err := strconv.ParseInt(string(it.Value), 10, 64)
			return v, it.Cached, err
		})
		if err != nil {
			t.Fatalf("history: %v", err)
		}
		t.Logf("%d reads, %d from the local cache, %d not linearizable", sum.Reads, sum.Hits, sum.Stale)
		if sum.Hits < sum.Reads/2 {
			t.Errorf("%d of %d reads from the cache: the local cache is not in use", sum.Hits, sum.Reads)
		}
		if sum.Stale > 0 {
			t.Errorf("%d reads were not linearizable; first: %s", sum.Stale, sum.First)
		}
	})

	t.Run("DataServerBootstrap", func(t *testing.T) {
		dc, err := client.New(client.Options{Addrs: []string{c.data[2].addr}, TLS: clientTLS()})
		if err != nil {
			t.Fatal(err)
		}
		defer dc.Close()
		dns := namespace(t, dc, 0)
		items := map[string][]byte{}
		for i := 0; i < 50; i++ {
			items["boot:"+strconv.Itoa(i)] = []byte("v")
		}
		if _, err := dns.MPut(ctx, items); err != nil {
			t.Fatalf("MPut through a client bootstrapped from a data server: %v", err)
		}
		if got, err := ns.MGet(ctx, "boot:0", "boot:49"); err != nil || len(got) != 2 {
			t.Errorf("MGet: %v, %v", got, err)
		}
	})

	t.Run("Closed", func(t *testing.T) {
		closed := newGranaryClient(t, c, client.Options{})
		cns := namespace(t, closed, 0)
		closed.Close()
		_, err := cns.Get(ctx, "k")
		wantErr(t, "Get after Close", err, client.ErrClosed)
		if _, err := closed.Namespace(1); !errors.Is(err, client.ErrClosed) {
			t.Errorf("Namespace after Close: %v", err)
		}
	})
	t.Logf("client stats: %+v", gc.Stats())
}

// waitGone waits until key is gone (an expiry), failing after 10s.
func waitGone(t *testing.T, ctx context.Context, ns *client.Namespace, key string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		_, err := ns.Get(ctx, key)
		if errors.Is(err, client.ErrNotFound) {
			return
		}
		if err != nil {
			t.Fatalf("Get %s: %v", key, err)
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s still there after 10s", key)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// fieldsString renders fields as "k=v k=v".
func fieldsString(fs []client.Field) string {
	s := ""
	for i, f := range fs {
		if i > 0 {
			s += " "
		}
		s += fmt.Sprintf("%s=%s", f.Key, f.Value)
	}
	return s
}
