// Command hotkey measures client-side caching on a hot key: G goroutines read
// one key through one rueidis client for a while, once with the client's
// cache off (every read goes to the server) and once with it on (DoCache:
// the server tracks the key and reads are served locally until it changes).
// It prints one line per mode,
//
//	nocache ops/s N hits 0
//	cache   ops/s N hits H
//
// and is run by bench/hotkey.sh against Granary and redis-server. With -api
// granary the reads go through granary/client's Namespace.Get (EXGET, with
// Options.Cache in the cache mode) instead of rueidis' GET: Granary only.
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

	"granary/client"
)

func main() {
	addr := flag.String("addr", "127.0.0.1:5191", "server address")
	goroutines := flag.Int("goroutines", 50, "concurrent readers")
	duration := flag.Duration("duration", 5*time.Second, "measured time per mode")
	warmup := flag.Duration("warmup", 500*time.Millisecond, "unmeasured time before each mode")
	modes := flag.String("modes", "nocache,cache", "modes to run, in order")
	size := flag.Int("size", 100, "value size in bytes")
	api := flag.String("api", "rueidis", "client: rueidis (GET, DoCache) or granary (granary/client Get, Options.Cache)")
	flag.Parse()
	if *api != "rueidis" && *api != "granary" {
		fmt.Fprintf(os.Stderr, "hotkey: -api %q: rueidis or granary\n", *api)
		os.Exit(2)
	}
	for _, m := range strings.Split(*modes, ",") {
		rd, err := newReader(*api, *addr, m == "cache", *size)
		if err != nil {
			fmt.Fprintf(os.Stderr, "hotkey %s: %v\n", m, err)
			os.Exit(1)
		}
		ops, hits, err := run(rd, *goroutines, *size, *warmup, *duration)
		rd.close()
		if err != nil {
			fmt.Fprintf(os.Stderr, "hotkey %s: %v\n", m, err)
			os.Exit(1)
		}
		fmt.Printf("%s ops/s %.0f hits %d\n", m, ops, hits)
	}
}

// reader reads the hot key: its value and whether the client's cache
// answered.
type reader struct {
	read  func(ctx context.Context) (string, bool, error)
	close func()
}

const hotKey = "hotkey:bench"

// newReader connects a client of api to addr, with or without its cache,
// and writes the hot key with a value of size bytes.
func newReader(api, addr string, cache bool, size int) (reader, error) {
	ctx := context.Background()
	value := strings.Repeat("v", size)
	if api == "granary" {
		opts := client.Options{Addrs: []string{addr}}
		if cache {
			opts.Cache.TTL = time.Minute
		}
		c, err := client.New(opts)
		if err != nil {
			return reader{}, err
		}
		ns, err := c.Namespace(0)
		if err == nil {
			_, err = ns.Put(ctx, hotKey, []byte(value))
		}
		if err != nil {
			c.Close()
			return reader{}, err
		}
		return reader{close: c.Close, read: func(ctx context.Context) (string, bool, error) {
			it, err := ns.Get(ctx, hotKey)
			return string(it.Value), it.Cached, err
		}}, nil
	}
	// ForceSingleClient: the same client shape against Granary (which
	// answers as a one-node cluster) and a standalone redis-server.
	c, err := rueidis.NewClient(rueidis.ClientOption{InitAddress: []string{addr}, ForceSingleClient: true, DisableCache: !cache})
	if err != nil {
		return reader{}, err
	}
	if err := c.Do(ctx, c.B().Set().Key(hotKey).Value(value).Build()).Error(); err != nil {
		c.Close()
		return reader{}, err
	}
	return reader{close: c.Close, read: func(ctx context.Context) (string, bool, error) {
		var r rueidis.RedisResult
		if cache {
			r = c.DoCache(ctx, c.B().Get().Key(hotKey).Cache(), time.Minute)
		} else {
			r = c.Do(ctx, c.B().Get().Key(hotKey).Build())
		}
		v, err := r.ToString()
		return v, r.IsCacheHit(), err
	}}, nil
}

// run measures one mode and returns its reads per second and cache hits.
func run(rd reader, goroutines, size int, warmup, duration time.Duration) (float64, int64, error) {
	ctx := context.Background()
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
				v, hit, err := rd.read(ctx)
				if err != nil || len(v) != size {
					failed.Store(fmt.Errorf("read: %q, %v", v, err))
					return
				}
				if counting.Load() {
					n++
					if hit {
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
