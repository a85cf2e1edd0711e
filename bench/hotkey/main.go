// Command hotkey measures client-side caching on a hot key: G goroutines read
// one key through one rueidis client for a while, once with the client's
// cache off (every read goes to the server) and once with it on (DoCache:
// the server tracks the key and reads are served locally until it changes).
// It prints one line per mode,
//
//	nocache ops/s N hits 0
//	cache   ops/s N hits H
//
// and is run by bench/hotkey.sh against Granary and redis-server.
//
//	go run ./bench/hotkey -addr 127.0.0.1:6379 -goroutines 50 -duration 5s
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/redis/rueidis"
)

func main() {
	addr := flag.String("addr", "127.0.0.1:5191", "server address")
	goroutines := flag.Int("goroutines", 50, "concurrent readers")
	duration := flag.Duration("duration", 5*time.Second, "measured time per mode")
	warmup := flag.Duration("warmup", 500*time.Millisecond, "unmeasured time before each mode")
	modes := flag.String("modes", "nocache,cache", "modes to run, in order")
	size := flag.Int("size", 100, "value size in bytes")
	flag.Parse()
	for _, m := range strings.Split(*modes, ",") {
		ops, hits, err := run(*addr, m == "cache", *goroutines, *size, *warmup, *duration)
		if err != nil {
			fmt.Fprintf(os.Stderr, "hotkey %s: %v\n", m, err)
			os.Exit(1)
		}
		fmt.Printf("%s ops/s %.0f hits %d\n", m, ops, hits)
	}
}

// run measures one mode and returns its reads per second and cache hits.
func run(addr string, cache bool, goroutines, size int, warmup, duration time.Duration) (float64, int64, error) {
	// ForceSingleClient: the same client shape against Granary (which
	// answers as a one-node cluster) and a standalone redis-server.
	c, err := rueidis.NewClient(rueidis.ClientOption{InitAddress: []string{addr}, ForceSingleClient: true, DisableCache: !cache})
	if err != nil {
		return 0, 0, err
	}
	defer c.Close()
	ctx := context.Background()
	const key = "hotkey:bench"
	if err := c.Do(ctx, c.B().Set().Key(key).Value(strings.Repeat("v", size)).Build()).Error(); err != nil {
		return 0, 0, err
	}
	var (
		counting atomic.Bool
		stop     atomic.Bool
		ops      atomic.Int64
		hits     atomic.Int64
		failed   atomic.Value
		wg       sync.WaitGroup
	)
	for range goroutines {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var n, h int64
			for !stop.Load() {
				var r rueidis.RedisResult
				if cache {
					r = c.DoCache(ctx, c.B().Get().Key(key).Cache(), time.Minute)
				} else {
					r = c.Do(ctx, c.B().Get().Key(key).Build())
				}
				if v, err := r.ToString(); err != nil || len(v) != size {
					failed.Store(fmt.Errorf("GET: %q, %v", v, err))
					return
				}
				if counting.Load() {
					n++
					if r.IsCacheHit() {
						h++
					}
				}
			}
			ops.Add(n)
			hits.Add(h)
		}()
	}
	time.Sleep(warmup)
	counting.Store(true)
	start := time.Now()
	time.Sleep(duration)
	counting.Store(false)
	elapsed := time.Since(start)
	stop.Store(true)
	wg.Wait()
	if err, ok := failed.Load().(error); ok {
		return 0, 0, err
	}
	return float64(ops.Load()) / elapsed.Seconds(), hits.Load(), nil
}
