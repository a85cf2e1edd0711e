//go:build e2e

package e2e

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// kill stops the process with SIGKILL: no shutdown code runs.
func (p *proc) kill() {
	p.mu.Lock()
	p.killed = true
	p.mu.Unlock()
	if p.Alive() {
		p.cmd.Process.Kill()
		<-p.exited
	}
}

// TestDiskCrashKeepsAcknowledgedWrites SIGKILLs a standalone data server
// under a write load on disk namespaces with --disk-sync always, restarts
// it on the same directory and checks that every acknowledged write is
// there: SETs of unique values, INCRs (the value read back is at least the
// last acknowledged one), HSETs, and a key deleted before the crash stays
// deleted.
func TestDiskCrashKeepsAcknowledgedWrites(t *testing.T) {
	for round := 0; round < 3; round++ {
		t.Run(fmt.Sprintf("round%d", round), func(t *testing.T) {
			dir := t.TempDir()
			o := granaryOpts{Disk: true, Dir: dir, Args: []string{"--disk-sync", "always"}}
			g := startGranary(t, o)
			ctx := context.Background()

			// A key deleted before the load: it must not come back.
			c := redis.NewClient(&redis.Options{Addr: g.addr, MaxRetries: -1})
			if err := c.Set(ctx, "gone", "x", 0).Err(); err != nil {
				t.Fatal(err)
			}
			if err := c.Del(ctx, "gone").Err(); err != nil {
				t.Fatal(err)
			}
			c.Close()

			const workers = 8
			type ack struct {
				sets  map[string]string
				hsets map[string]string
			}
			acks := make([]ack, workers)
			var total atomic.Int64
			var wg sync.WaitGroup
			stop := make(chan struct{})
			for w := range workers {
				acks[w] = ack{sets: map[string]string{}, hsets: map[string]string{}}
				wg.Add(1)
				go func() {
					defer wg.Done()
					c := redis.NewClient(&redis.Options{Addr: g.addr, MaxRetries: -1, PoolSize: 1})
					defer c.Close()
					a := &acks[w]
					for i := 0; ; i++ {
						select {
						case <-stop:
							return
						default:
						}
						ns := i % 3 // three namespaces, all disk
						k := fmt.Sprintf("w%d:k%d", w, i)
						v := fmt.Sprintf("v%d-%d", w, i)
						pipe := c.Pipeline()
						pipe.Select(ctx, ns)
						pipe.Set(ctx, k, v, 0)
						pipe.Incr(ctx, fmt.Sprintf("w%d:counter", w))
						pipe.HSet(ctx, fmt.Sprintf("w%d:hash", w), k, v)
						if _, err := pipe.Exec(ctx); err != nil {
							return // the server died: the outcome of this batch is unknown
						}
						a.sets[strconv.Itoa(ns)+"/"+k] = v
						a.hsets[strconv.Itoa(ns)+"/"+k] = v
						total.Add(1)
					}
				}()
			}
			time.Sleep(time.Duration(700+300*round) * time.Millisecond)
			g.kill()
			close(stop)
			wg.Wait()
			n := total.Load()
			if n == 0 {
				t.Fatal("no write acknowledged before the kill")
			}

			g2 := startGranary(t, o)
			c = redis.NewClient(&redis.Options{Addr: g2.addr})
			defer c.Close()
			lost := 0
			for w := range workers {
				a := &acks[w]
				for nk, v := range a.sets {
					ns, k := splitNS(nk)
					pipe := c.Pipeline()
					pipe.Select(ctx, ns)
					get := pipe.Get(ctx, k)
					hget := pipe.HGet(ctx, fmt.Sprintf("w%d:hash", w), k)
					if _, err := pipe.Exec(ctx); err != nil && !errors.Is(err, redis.Nil) {
						t.Fatalf("read back %s: %v", nk, err)
					}
					if get.Val() != v || hget.Val() != a.hsets[nk] {
						lost++
						if lost <= 5 {
							t.Errorf("namespace %d key %s: GET %q HGET %q, acknowledged %q", ns, k, get.Val(), hget.Val(), v)
						}
					}
				}
				var got int64
				for ns := range 3 {
					pipe := c.Pipeline()
					pipe.Select(ctx, ns)
					g := pipe.Get(ctx, fmt.Sprintf("w%d:counter", w))
					pipe.Exec(ctx)
					x, _ := strconv.ParseInt(g.Val(), 10, 64)
					got += x
				}
				// Each batch increments the counter of its namespace; the
				// sum over the namespaces is at least the acknowledged count.
				if acked := int64(len(a.sets)); got < acked {
					t.Errorf("worker %d: counters sum to %d after the restart, %d increments acknowledged", w, got, acked)
				}
			}
			if err := c.Get(ctx, "gone").Err(); !errors.Is(err, redis.Nil) {
				t.Errorf("deleted key came back: %v", err)
			}
			t.Logf("round %d: %d acknowledged batches (SET+INCR+HSET) before SIGKILL, %d lost after restart", round, n, lost)
			if lost > 0 {
				t.Fatalf("%d acknowledged writes lost", lost)
			}
		})
	}
}

func splitNS(nk string) (int, string) {
	for i := 0; i < len(nk); i++ {
		if nk[i] == '/' {
			ns, _ := strconv.Atoi(nk[:i])
			return ns, nk[i+1:]
		}
	}
	return 0, nk
}
