// Command ratelimit limits how often each user may call an API: one counter
// per user, created with the window's length as its time to live and
// bounded by the limit, so a request over the limit is refused by the data
// server (ErrOutOfRange) without changing the counter, and the window
// restarts when the counter expires.
//
//	go run ./examples/ratelimit -addrs 127.0.0.1:5198 -limit 10 -requests 25
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log"
	"time"

	"granary/client"
	"granary/examples/internal/connect"
)

// limiter allows limit requests per window and user.
type limiter struct {
	ns     *client.Namespace
	limit  int64
	window time.Duration
}

// allow counts a request of user and reports whether it is within the limit.
func (l *limiter) allow(ctx context.Context, user string) (bool, error) {
	_, err := l.ns.Incr(ctx, "ratelimit:"+user, 1, client.WithMax(l.limit), client.WithTTL(l.window))
	switch {
	case err == nil:
		return true, nil
	case errors.Is(err, client.ErrOutOfRange):
		return false, nil
	}
	return false, err
}

func main() {
	conn := connect.Register("counters")
	limit := flag.Int64("limit", 10, "requests allowed per window and user")
	window := flag.Duration("window", time.Minute, "length of a window")
	requests := flag.Int("requests", 25, "requests each user makes")
	flag.Parse()

	c, ns := conn.Open(client.Options{})
	defer c.Close()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	l := &limiter{ns: ns, limit: *limit, window: *window}
	for _, user := range []string{"alice", "bob"} {
		if err := ns.Delete(ctx, "ratelimit:"+user); err != nil { // a fresh window
			log.Fatal(err)
		}
		allowed, refused := 0, 0
		for i := 0; i < *requests; i++ {
			ok, err := l.allow(ctx, user)
			if err != nil {
				log.Fatal(err)
			}
			if ok {
				allowed++
			} else {
				refused++
			}
		}
		fmt.Printf("%s: %d requests allowed, %d refused (limit %d per %v)\n", user, allowed, refused, *limit, *window)
	}
}
