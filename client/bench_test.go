package client

import (
	"context"
	"testing"
	"time"

	"github.com/redis/rueidis"

	"granary/internal/dataserver"
)

// benchHotRead reads one cached 100-byte key with read from parallel
// goroutines.
func benchHotRead(b *testing.B, read func(ctx context.Context, ns *Namespace) error) {
	addr, _ := startServer(b, dataserver.Options{})
	_, ns := testNamespace(b, addr, 0, Options{Cache: Cache{TTL: time.Minute}})
	ctx := context.Background()
	if _, err := ns.Put(ctx, "hot", make([]byte, 100)); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if err := read(ctx, ns); err != nil {
				b.Error(err)
				return
			}
		}
	})
}

// BenchmarkGetCached reads one key through the local cache from parallel
// goroutines: the cost of the client's own layer over rueidis' cache.
func BenchmarkGetCached(b *testing.B) {
	benchHotRead(b, func(ctx context.Context, ns *Namespace) error {
		_, err := ns.Get(ctx, "hot")
		return err
	})
}

// BenchmarkGetCachedRueidis is BenchmarkGetCached's read made with rueidis
// alone (DoCache EXGET, the reply left unparsed): the baseline of the
// client's layer.
func BenchmarkGetCachedRueidis(b *testing.B) {
	benchHotRead(b, func(ctx context.Context, ns *Namespace) error {
		return ns.rc.DoCache(ctx, rueidis.Cacheable(ns.exget("hot")), time.Minute).Error()
	})
}
