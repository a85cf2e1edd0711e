//go:build e2e

package e2e

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/redis/rueidis"

	"granary/test/cachecheck"
)

// Client-side caching with stock clients against a real server: rueidis'
// DoCache (CLIENT TRACKING ON OPTIN, CLIENT CACHING YES + MULTI/PTTL/GET/EXEC)
// and go-redis' client-side cache (CLIENT TRACKING ON on each pooled
// connection), with the history check of package cachecheck.
//
// Which clients get linearizable reads: a cached read is fresh only if the
// invalidation reached the client before the read started. Granary (as Redis)
// queues the invalidation before it acknowledges the write, and puts the
// invalidation of a key the writing connection itself tracks before the
// write's reply on that connection. A rueidis cluster client (what Granary
// looks like to it) sends every command of a node on one connection, so the
// writes and cached reads of one rueidis client are linearizable: checked
// strictly. Another client's cache learns of the write through its own
// connection a moment later: for it the test bounds the staleness.

func testDuration() time.Duration {
	if s := os.Getenv("CACHING_SECONDS"); s != "" {
		if n, err := strconv.Atoi(s); err == nil {
			return time.Duration(n) * time.Second
		}
	}
	return 3 * time.Second
}

func TestCachingRueidisHistory(t *testing.T) {
	g := startGranary(t, granaryOpts{})
	shared, err := rueidis.NewClient(rueidis.ClientOption{InitAddress: []string{g.addr}}) // cache on: CLIENT TRACKING ON OPTIN
	if err != nil {
		t.Fatal(err)
	}
	defer shared.Close()
	other, err := rueidis.NewClient(rueidis.ClientOption{InitAddress: []string{g.addr}})
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()

	h := cachecheck.New("csc:", 8)
	ctx, cancel := context.WithTimeout(context.Background(), testDuration())
	defer cancel()
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		if err := h.Write(ctx, func(k string, v int64) error {
			return shared.Do(context.Background(), shared.B().Set().Key(k).Value(strconv.FormatInt(v, 10)).Build()).Error()
		}, 200*time.Microsecond); err != nil {
			t.Error(err)
		}
	}()
	const readers = 6
	stats := make([]cachecheck.Stats, 2*readers)
	errs := make([]error, 2*readers)
	groups := []*cachecheck.Group{h.NewGroup(), h.NewGroup()}
	for i := range 2 * readers {
		c, grp := shared, groups[0]
		if i >= readers {
			c, grp = other, groups[1]
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			stats[i], errs[i] = h.Read(ctx, grp, cachecheck.RueidisGet(c))
		}()
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			t.Fatalf("read: %v", err)
		}
	}
	var same, diff cachecheck.Stats
	for i, st := range stats {
		if i < readers {
			same = same.Add(st)
		} else {
			diff = diff.Add(st)
		}
	}
	t.Logf("writer's client: %d reads, %d cache hits, %d stale", same.Reads, same.Hits, same.Stale)
	t.Logf("another client:  %d reads, %d cache hits, %d stale (at most %v after the newer write's acknowledgement)", diff.Reads, diff.Hits, diff.Stale, diff.MaxStale)
	if same.Hits < same.Reads/2 || diff.Hits < diff.Reads/2 {
		t.Errorf("too few cache hits: the client-side cache is not in use")
	}
	if same.Stale > 0 {
		msg := fmt.Sprintf("%d reads through the writer's own client were not linearizable; first: %s", same.Stale, same.First)
		if targetIsRedis {
			t.Log("(reference server) " + msg) // Redis 7 sends a connection's own invalidation after the write's reply
		} else {
			t.Error(msg)
		}
	}
	// The readers spin on cache hits and saturate the machine's cores, so
	// the other client's read loop can wait tens of milliseconds for a core
	// (as much against Redis): the bound is generous.
	if diff.MaxStale > time.Second {
		t.Errorf("another client's cache served a value %v after it was superseded; first: %s", diff.MaxStale, diff.First)
	}
	// Once the writes stop, every cache converges on the last values.
	time.Sleep(50 * time.Millisecond)
	for i, k := range h.Keys {
		want := h.Acked(i)
		for _, c := range []rueidis.Client{shared, other} {
			if v, _, err := cachecheck.RueidisGet(c)(k); err != nil || v != want {
				t.Errorf("after the writes: %s = %d, %v; want %d", k, v, err, want)
			}
		}
	}
}

// TestCachingRueidisInvalidations checks the invalidations rueidis acts on:
// other clients' writes, expiry, FLUSHALL, and a namespace other than 0.
func TestCachingRueidisInvalidations(t *testing.T) {
	g := startGranary(t, granaryOpts{})
	for _, db := range []int{0, 3} {
		c, err := rueidis.NewClient(rueidis.ClientOption{InitAddress: []string{g.addr}, SelectDB: db, ForceSingleClient: db != 0})
		if err != nil {
			t.Fatal(err)
		}
		w, err := rueidis.NewClient(rueidis.ClientOption{InitAddress: []string{g.addr}, SelectDB: db, DisableCache: true, ForceSingleClient: db != 0})
		if err != nil {
			t.Fatal(err)
		}
		ctx := context.Background()
		get := func(k string) (string, bool) {
			r := c.DoCache(ctx, c.B().Get().Key(k).Cache(), time.Minute)
			s, _ := r.ToString()
			return s, r.IsCacheHit()
		}
		eventually := func(what, k, want string) {
			t.Helper()
			for deadline := time.Now().Add(2 * time.Second); ; time.Sleep(time.Millisecond) {
				if v, _ := get(k); v == want {
					return
				}
				if time.Now().After(deadline) {
					v, hit := get(k)
					t.Fatalf("db %d, %s: %s = %q (cache hit %v), want %q", db, what, k, v, hit, want)
				}
			}
		}
		w.Do(ctx, w.B().Set().Key("a").Value("1").Build())
		get("a")
		if v, hit := get("a"); v != "1" || !hit {
			t.Fatalf("db %d: second read %q, hit %v", db, v, hit)
		}
		w.Do(ctx, w.B().Set().Key("a").Value("2").Build())
		eventually("another client's write", "a", "2")
		w.Do(ctx, w.B().Set().Key("e").Value("1").Px(30*time.Millisecond).Build())
		get("e")
		eventually("expiry", "e", "")
		w.Do(ctx, w.B().Set().Key("f").Value("1").Build())
		get("f")
		w.Do(ctx, w.B().Flushall().Build())
		eventually("FLUSHALL", "f", "")
		c.Close()
		w.Close()
	}
}

// TestCachingGoRedis runs go-redis' client-side cache (RESP3, CLIENT
// TRACKING ON on its pooled connections) against writes from another client.
// go-redis drains invalidations from idle pooled connections every few
// milliseconds, so its guarantee is bounded staleness: checked with a bound.
func TestCachingGoRedis(t *testing.T) {
	g := startGranary(t, granaryOpts{})
	c := redis.NewClient(&redis.Options{Addr: g.addr, Protocol: 3,
		ClientSideCacheConfig: &redis.ClientSideCacheConfig{MaxEntries: 10000}})
	defer c.Close()
	w := redis.NewClient(&redis.Options{Addr: g.addr})
	defer w.Close()
	ctx := context.Background()
	if err := c.Ping(ctx).Err(); err != nil {
		t.Fatal(err)
	}
	// A hit, then an invalidation.
	w.Set(ctx, "k", "v1", 0)
	for deadline := time.Now().Add(2 * time.Second); c.CSCStats().Hits == 0; time.Sleep(5 * time.Millisecond) {
		if v, err := c.Get(ctx, "k").Result(); err != nil || v != "v1" {
			t.Fatalf("GET = %q, %v", v, err)
		}
		if time.Now().After(deadline) {
			t.Fatal("no cache hit")
		}
	}
	w.Set(ctx, "k", "v2", 0)
	for deadline := time.Now().Add(2 * time.Second); ; time.Sleep(time.Millisecond) {
		if v, _ := c.Get(ctx, "k").Result(); v == "v2" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("go-redis' cache still serves v1 after the write")
		}
	}

	// The history, with a staleness bound.
	h := cachecheck.New("csc:", 8)
	hctx, cancel := context.WithTimeout(context.Background(), testDuration())
	defer cancel()
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		if err := h.Write(hctx, func(k string, v int64) error { return w.Set(context.Background(), k, v, 0).Err() }, 200*time.Microsecond); err != nil {
			t.Error(err)
		}
	}()
	stats := make([]cachecheck.Stats, 6)
	errs := make([]error, len(stats))
	grp := h.NewGroup()
	for i := range stats {
		wg.Add(1)
		go func() {
			defer wg.Done()
			stats[i], errs[i] = h.Read(hctx, grp, func(k string) (int64, bool, error) {
				hits := c.CSCStats().Hits
				v, err := c.Get(context.Background(), k).Int64()
				if err == redis.Nil {
					err = nil
				}
				return v, c.CSCStats().Hits > hits, err // approximate with concurrent readers
			})
		}()
	}
	wg.Wait()
	var sum cachecheck.Stats
	for i, st := range stats {
		if errs[i] != nil {
			t.Fatalf("read: %v", errs[i])
		}
		sum = sum.Add(st)
	}
	cs := c.CSCStats()
	t.Logf("go-redis: %d reads, cache hits %d misses %d, %d stale (at most %v after the newer write's acknowledgement)", sum.Reads, cs.Hits, cs.Misses, sum.Stale, sum.MaxStale)
	if cs.Hits < uint64(sum.Reads)/2 {
		t.Errorf("too few cache hits")
	}
	if sum.MaxStale > time.Second {
		t.Errorf("a cached value was served %v after it was superseded; first: %s", sum.MaxStale, sum.First)
	}
}
