// Command writer writes N keys key:000000000000.. (as the bench load files
// name them) with new values through a go-redis cluster client that retries
// while a cluster fails over (TRYAGAIN, MOVED, a dead node), and reports how
// many it wrote and how many it gave up on. bench/disk-restart.sh runs it
// while a data server is down.
//
//	go run ./bench/writer -addr 127.0.0.1:5198 -n 100000 -range 10000000
package main

import (
	"context"
	"flag"
	"fmt"
	"math/rand/v2"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"
)

func main() {
	addr := flag.String("addr", "127.0.0.1:5198", "a cluster node's RESP address")
	n := flag.Int("n", 100000, "keys to write")
	keyRange := flag.Int("range", 1000000, "keys are drawn from key:0 .. key:range-1")
	workers := flag.Int("workers", 8, "concurrent writers, each pipelining 64 SETs")
	size := flag.Int("size", 0, "bytes per value (0: rewritten:<number>)")
	seq := flag.Bool("seq", false, "write key:0 .. key:n-1 once each, in order, instead of n random keys (a load: keys spread over every bucket, as no hash tag is used)")
	flag.Parse()
	var pad string
	if *size > 0 {
		pad = strings.Repeat("v", *size)
	}

	cc := redis.NewClusterClient(&redis.ClusterOptions{Addrs: []string{*addr}, MaxRedirects: 16,
		MaxRetries: 50, MinRetryBackoff: 20 * time.Millisecond, MaxRetryBackoff: 500 * time.Millisecond,
		ClusterStateReloadInterval: 500 * time.Millisecond})
	defer cc.Close()
	ctx := context.Background()
	var next, written, failed atomic.Int64
	var wg sync.WaitGroup
	start := time.Now()
	for range *workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				from := next.Add(64) - 64
				if from >= int64(*n) {
					return
				}
				to := min(from+64, int64(*n))
				pipe := cc.Pipeline()
				for k := from; k < to; k++ {
					i := int(k)
					if !*seq {
						i = rand.IntN(*keyRange)
					}
					v := fmt.Sprintf("rewritten:%024d", i)
					if pad != "" {
						v = pad
					}
					pipe.Set(ctx, fmt.Sprintf("key:%012d", i), v, 0)
				}
				cmds, _ := pipe.Exec(ctx)
				for _, c := range cmds {
					if c.Err() != nil {
						failed.Add(1)
					} else {
						written.Add(1)
					}
				}
			}
		}()
	}
	wg.Wait()
	fmt.Printf("wrote %d keys (%d gave up) in %v\n", written.Load(), failed.Load(), time.Since(start).Round(time.Millisecond))
	if written.Load() == 0 {
		os.Exit(1)
	}
}
