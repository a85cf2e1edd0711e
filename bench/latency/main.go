// Command latency measures client latency against a cluster (Granary or
// Redis Cluster) through a go-redis ClusterClient: workers run GETs and SETs
// of random keys of a loaded range at a fixed total rate until the duration
// ends or the process gets SIGINT/SIGTERM, then it prints one line:
//
//	ops=N errors=E p50_ms=.. p99_ms=.. p999_ms=.. max_ms=..
//
// Errors are operations that failed after go-redis' own retries. A fixed rate
// (not as fast as possible) keeps the probe from loading the cluster it
// measures. bench/migrate.sh runs it before and during a migration.
//
//	go run ./bench/latency -addr 127.0.0.1:5198 -range 1000000 -rate 2000 -d 10s
package main

import (
	"context"
	"flag"
	"fmt"
	"math/rand/v2"
	"os"
	"os/signal"
	"slices"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/redis/go-redis/v9"

	"granary/internal/routing"
)

func main() {
	addr := flag.String("addr", "127.0.0.1:5198", "a cluster node's RESP address")
	keyRange := flag.Int("range", 1000000, "keys are key:000000000000 .. range-1 (as redis-benchmark -r names them)")
	rate := flag.Int("rate", 2000, "operations per second in all")
	workers := flag.Int("workers", 16, "concurrent clients")
	dur := flag.Duration("d", time.Hour, "how long to run (SIGINT or SIGTERM stops it earlier)")
	size := flag.Int("size", 1024, "bytes per SET value")
	writes := flag.Int("writes", 10, "percent of operations that are SETs")
	slowFile := flag.String("slow", "", "write the operations slower than -slow-ms to this file (time, ms, op, slot, attempts, ms on nodes, last node): where a tail comes from")
	slowMs := flag.Float64("slow-ms", 5, "threshold of -slow")
	flag.Parse()

	cc := redis.NewClusterClient(&redis.ClusterOptions{Addrs: []string{*addr},
		ClusterStateReloadInterval: 500 * time.Millisecond, PoolSize: *workers})
	defer cc.Close()
	// Every attempt on a node adds to the operation's tally (see attempts):
	// a slow operation's time on the nodes, against its total, tells a
	// slow server from a client waiting (redirects, backoff, its own state).
	cc.OnNewNode(func(rdb *redis.Client) { rdb.AddHook(attemptHook{addr: rdb.Options().Addr}) })
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	ctx, cancel := context.WithTimeout(ctx, *dur)
	defer cancel()
	value := make([]byte, *size)
	for i := range value {
		value[i] = 'x'
	}

	type slowOp struct {
		at   time.Time
		d    time.Duration
		set  bool
		slot int
		try  attempts
	}
	var mu sync.Mutex
	var lat []time.Duration
	var slow []slowOp
	errs := 0
	interval := time.Duration(int64(time.Second) * int64(*workers) / int64(max(*rate, 1)))
	var wg sync.WaitGroup
	for range *workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			tick := time.NewTicker(interval)
			defer tick.Stop()
			var mine []time.Duration
			var mySlow []slowOp
			bad := 0
			for {
				select {
				case <-ctx.Done():
					mu.Lock()
					lat = append(lat, mine...)
					slow = append(slow, mySlow...)
					errs += bad
					mu.Unlock()
					return
				case <-tick.C:
				}
				key := fmt.Sprintf("key:%012d", rand.IntN(*keyRange))
				var try attempts
				octx, ocancel := context.WithTimeout(context.WithValue(context.Background(), attemptsKey{}, &try), 5*time.Second)
				start := time.Now()
				var err error
				set := rand.IntN(100) < *writes
				if set {
					err = cc.Set(octx, key, value, 0).Err()
				} else if err = cc.Get(octx, key).Err(); err == redis.Nil {
					err = nil
				}
				ocancel()
				if err != nil {
					bad++
					continue
				}
				d := time.Since(start)
				mine = append(mine, d)
				if *slowFile != "" && float64(d.Microseconds())/1000 >= *slowMs {
					mySlow = append(mySlow, slowOp{start, d, set, int(routing.Bucket([]byte(key))), try})
				}
			}
		}()
	}
	wg.Wait()
	slices.Sort(lat)
	q := func(p float64) float64 {
		if len(lat) == 0 {
			return 0
		}
		return float64(lat[min(len(lat)-1, int(p*float64(len(lat))))].Microseconds()) / 1000
	}
	maxMs := 0.0
	if len(lat) > 0 {
		maxMs = float64(lat[len(lat)-1].Microseconds()) / 1000
	}
	if *slowFile != "" {
		slices.SortFunc(slow, func(a, b slowOp) int { return a.at.Compare(b.at) })
		var b strings.Builder
		for _, o := range slow {
			op := "get"
			if o.set {
				op = "set"
			}
			fmt.Fprintf(&b, "%s %.3f %s %d %d %.3f %s\n", o.at.Format("15:04:05.000"), float64(o.d.Microseconds())/1000, op, o.slot,
				o.try.n, float64(o.try.d.Microseconds())/1000, o.try.last)
		}
		if err := os.WriteFile(*slowFile, []byte(b.String()), 0o644); err != nil {
			fmt.Fprintln(os.Stderr, err)
		}
	}
	fmt.Printf("ops=%d errors=%d p50_ms=%.3f p99_ms=%.3f p999_ms=%.3f max_ms=%.3f\n", len(lat), errs, q(0.50), q(0.99), q(0.999), maxMs)
}

// attempts tallies one operation's tries on nodes.
type attempts struct {
	n    int
	d    time.Duration // summed over the tries
	last string        // the node of the last try
}

type attemptsKey struct{}

// attemptHook records each command a node client sends into the operation's
// attempts, found in its context.
type attemptHook struct{ addr string }

func (attemptHook) DialHook(next redis.DialHook) redis.DialHook { return next }

func (h attemptHook) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		a, _ := ctx.Value(attemptsKey{}).(*attempts)
		if a == nil {
			return next(ctx, cmd)
		}
		start := time.Now()
		err := next(ctx, cmd)
		a.n++
		a.d += time.Since(start)
		a.last = h.addr
		return err
	}
}

func (attemptHook) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return next
}
