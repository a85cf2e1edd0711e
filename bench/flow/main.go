// Command flow measures flow control: C go-redis clients together offer
// OFFER requests per second to a namespace limited to LIMIT ops/s, each
// client pacing its requests evenly and, when a reply is THROTTLED, backing
// off (exponential backoff with full jitter) before its next attempt. After a
// warm-up it counts for a while and prints
//
//	limit N
//	offered_ops/s X            the clients' pace without throttling
//	sent_ops/s S               requests sent (served + throttled)
//	served_ops/s Y
//	served/limit Y/N
//	throttled T
//	sent_per_served A min M0 median M1 max M2   (over the clients)
//
// With -backoff=false clients retry at once (spin), for comparison.
// Run by bench/flow.sh against a data server started with --flow-limit.
//
//	go run ./bench/flow -addr 127.0.0.1:5191 -db 1 -limit 2000 -offer 10000
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"math/rand/v2"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"
)

// counts are one client's requests in the measured window.
type counts struct{ sent, served, throttled int64 }

func main() {
	addr := flag.String("addr", "127.0.0.1:5191", "data server address")
	db := flag.Int("db", 1, "namespace (SELECT) the limit applies to")
	limit := flag.Int64("limit", 2000, "the namespace's limit in ops/s (for the report)")
	offer := flag.Int64("offer", 10000, "requests per second the clients offer together")
	clients := flag.Int("clients", 20, "concurrent clients, one connection each")
	duration := flag.Duration("duration", 5*time.Second, "measured time")
	warmup := flag.Duration("warmup", time.Second, "unmeasured time first (the limiter's burst)")
	backoff := flag.Bool("backoff", true, "back off on THROTTLED (false: retry at once)")
	base := flag.Duration("backoff-base", time.Millisecond, "first backoff; it doubles per THROTTLED reply in a row")
	ceiling := flag.Duration("backoff-max", 64*time.Millisecond, "longest backoff")
	flag.Parse()
	if *clients <= 0 || *offer <= 0 || *limit <= 0 {
		fmt.Fprintln(os.Stderr, "flow: -clients, -offer and -limit must be positive")
		os.Exit(2)
	}

	ctx, cancel := context.WithTimeout(context.Background(), *warmup+*duration)
	defer cancel()
	var measuring atomic.Bool
	time.AfterFunc(*warmup, func() { measuring.Store(true) })
	interval := time.Duration(int64(time.Second) * int64(*clients) / *offer)
	res := make([]counts, *clients)
	errs := make([]error, *clients)
	var wg sync.WaitGroup
	for i := range res {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c := redis.NewClient(&redis.Options{Addr: *addr, DB: *db, PoolSize: 1, MaxRetries: -1,
				ReadTimeout: 5 * time.Second, WriteTimeout: 5 * time.Second})
			defer c.Close()
			b := backoffPolicy{on: *backoff, base: *base, max: *ceiling}
			errs[i] = client(ctx, c, "flow:"+strconv.Itoa(i), interval, &b, &measuring, &res[i])
		}()
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			fmt.Fprintln(os.Stderr, "flow:", err)
			os.Exit(1)
		}
	}
	report(res, *limit, *offer, duration.Seconds())
}

// backoffPolicy is exponential backoff with full jitter: after the k-th
// THROTTLED reply in a row a client sleeps a uniformly random time up to
// base*2^(k-1), capped at max, so clients neither hammer the server nor
// retry in lockstep.
type backoffPolicy struct {
	on        bool
	base, max time.Duration
	streak    int
}

func (b *backoffPolicy) wait() time.Duration {
	if !b.on {
		return 0
	}
	b.streak++
	d := b.max
	if b.streak < 31 {
		d = min(b.base<<(b.streak-1), b.max)
	}
	return rand.N(d) + 1
}

func (b *backoffPolicy) reset() { b.streak = 0 }

// client paces requests at interval until ctx ends; a THROTTLED request is
// retried after the backoff, and the pace resumes once one is served.
func client(ctx context.Context, c *redis.Client, key string, interval time.Duration, b *backoffPolicy,
	measuring *atomic.Bool, n *counts) error {
	if err := c.Set(ctx, key, strings.Repeat("v", 32), 0).Err(); err != nil && !throttled(err) {
		return err
	}
	next := time.Now()
	for {
		if d := time.Until(next); d > 0 {
			if !sleep(ctx, d) {
				return nil
			}
		}
		err := c.Get(ctx, key).Err()
		if ctx.Err() != nil {
			return nil
		}
		m := measuring.Load()
		if m {
			n.sent++
		}
		switch {
		case err == nil || errors.Is(err, redis.Nil):
			if m {
				n.served++
			}
			b.reset()
			// Evenly paced; a client that fell behind does not catch up
			// in a burst.
			if next = next.Add(interval); next.Before(time.Now()) {
				next = time.Now()
			}
		case throttled(err):
			if m {
				n.throttled++
			}
			next = time.Now().Add(b.wait())
		default:
			return err
		}
	}
}

func throttled(err error) bool { return err != nil && strings.HasPrefix(err.Error(), "THROTTLED ") }

func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}

func report(res []counts, limit, offer int64, secs float64) {
	var total counts
	per := make([]float64, 0, len(res))
	for _, r := range res {
		total.sent += r.sent
		total.served += r.served
		total.throttled += r.throttled
		if r.served > 0 {
			per = append(per, float64(r.sent)/float64(r.served))
		}
	}
	slices.Sort(per)
	served := float64(total.served) / secs
	fmt.Printf("limit %d\n", limit)
	fmt.Printf("offered_ops/s %d\n", offer)
	fmt.Printf("sent_ops/s %.0f\n", float64(total.sent)/secs)
	fmt.Printf("served_ops/s %.0f\n", served)
	fmt.Printf("served/limit %.3f\n", served/float64(limit))
	fmt.Printf("throttled %d\n", total.throttled)
	if total.served == 0 || len(per) == 0 {
		fmt.Println("sent_per_served NA min NA median NA max NA")
		return
	}
	fmt.Printf("sent_per_served %.2f min %.2f median %.2f max %.2f\n",
		float64(total.sent)/float64(total.served), per[0], per[len(per)/2], per[len(per)-1])
}
