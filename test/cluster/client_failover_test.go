//go:build e2e

package cluster

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"granary/client"
)

// clientLoad runs every kind of granary/client call in a loop on several
// goroutines and remembers what was acknowledged.
type clientLoad struct {
	ns   *client.Namespace
	stop chan struct{}
	wg   sync.WaitGroup
	ops  [6]atomic.Int64 // per kind: put+get, mput+mget, incr, prefix, lock, cas

	mu        sync.Mutex
	acked     map[string]string // key -> value of acknowledged Puts and MPuts
	counted   map[string]int64  // counter -> acknowledged increments
	uncertain map[string]int64  // counter -> increments of unknown outcome
	errs      []string
	nerr      int
}

var loadKinds = [...]string{"Put/Get", "MPut/MGet", "Incr", "PrefixPut/PrefixRange", "TryLock/Unlock", "CompareAndSwap"}

func startClientLoad(ns *client.Namespace, workers int) *clientLoad {
	l := &clientLoad{ns: ns, stop: make(chan struct{}), acked: map[string]string{},
		counted: map[string]int64{}, uncertain: map[string]int64{}}
	for w := 0; w < workers; w++ {
		l.wg.Add(1)
		go func() {
			defer l.wg.Done()
			for i := 0; ; i++ {
				select {
				case <-l.stop:
					return
				default:
				}
				kind := i % len(loadKinds)
				ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
				err := l.step(ctx, w, i, kind)
				cancel()
				l.ops[kind].Add(1)
				if err != nil {
					l.fail(fmt.Errorf("%s: %w", loadKinds[kind], err))
				}
				time.Sleep(time.Millisecond)
			}
		}()
	}
	return l
}

// step makes one call of a kind and checks its result.
func (l *clientLoad) step(ctx context.Context, w, i, kind int) error {
	ns := l.ns
	key := "fo:" + strconv.Itoa(w) + ":" + strconv.Itoa(i)
	val := randValue(key)
	switch kind {
	case 0:
		if _, err := ns.Put(ctx, key, []byte(val)); err != nil {
			return err
		}
		l.ack(key, val)
		it, err := ns.Get(ctx, key)
		if err == nil && string(it.Value) != val {
			err = fmt.Errorf("Get %s = %q, want %q", key, it.Value, val)
		}
		return err
	case 1:
		items := map[string][]byte{}
		for j := 0; j < 8; j++ {
			items[key+":"+strconv.Itoa(j)] = []byte(val)
		}
		if _, err := ns.MPut(ctx, items); err != nil {
			return err
		}
		var keys []string
		for k := range items {
			l.ack(k, val)
			keys = append(keys, k)
		}
		got, err := ns.MGet(ctx, keys...)
		if err == nil && len(got) != len(keys) {
			err = fmt.Errorf("MGet: %d of %d keys", len(got), len(keys))
		}
		return err
	case 2:
		ctr := "fo:ctr:" + strconv.Itoa(w) + ":" + strconv.Itoa(i%7)
		_, err := ns.Incr(ctx, ctr, 1)
		l.mu.Lock()
		defer l.mu.Unlock()
		switch {
		case err == nil:
			l.counted[ctr]++
		case errors.Is(err, client.ErrUncertain):
			l.uncertain[ctr]++
			err = nil
		}
		return err
	case 3:
		pk := "fo:user:" + strconv.Itoa(w)
		if err := ns.PrefixPut(ctx, pk, fmt.Sprintf("%08d", i), []byte(val)); err != nil {
			return err
		}
		fs, err := ns.PrefixRange(ctx, pk, client.Range{Reverse: true, Limit: 1})
		if err == nil && (len(fs) != 1 || string(fs[0].Value) != val) {
			err = fmt.Errorf("PrefixRange of %s: %v, want the last field = %q", pk, fs, val)
		}
		return err
	case 4:
		lk, err := ns.TryLock(ctx, "fo:lock:"+strconv.Itoa(w), time.Minute)
		if err != nil {
			return err
		}
		return ns.Unlock(ctx, lk)
	default:
		v, err := ns.Put(ctx, key, []byte("a"))
		if err != nil {
			return err
		}
		if _, err = ns.CompareAndSwap(ctx, key, []byte(val), v); err != nil {
			return err
		}
		l.ack(key, val)
		return nil
	}
}

func (l *clientLoad) ack(k, v string) {
	l.mu.Lock()
	l.acked[k] = v
	l.mu.Unlock()
}

func (l *clientLoad) fail(err error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.nerr++
	if len(l.errs) < 10 {
		l.errs = append(l.errs, time.Now().Format("15:04:05.000")+" "+err.Error())
	}
}

// finish stops the load and checks it: no error, every acknowledged write
// reads back, every counter holds its acknowledged increments (plus at most
// those of unknown outcome).
func (l *clientLoad) finish(t *testing.T) {
	t.Helper()
	close(l.stop)
	l.wg.Wait()
	var ops []string
	for k, name := range loadKinds {
		ops = append(ops, fmt.Sprintf("%s %d", name, l.ops[k].Load()))
		if l.ops[k].Load() == 0 {
			t.Errorf("no %s call was made", name)
		}
	}
	var nUnc int64
	for _, n := range l.uncertain {
		nUnc += n
	}
	t.Logf("calls: %v; %d errors, %d acknowledged writes, %d increments of unknown outcome",
		ops, l.nerr, len(l.acked), nUnc)
	if l.nerr > 0 {
		t.Errorf("%d calls failed, want none; first ones:\n  %s", l.nerr, joinLines(l.errs))
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	var keys []string
	for k := range l.acked {
		keys = append(keys, k)
	}
	got, err := l.ns.MGet(ctx, keys...)
	if err != nil {
		t.Fatalf("read-back: %v", err)
	}
	bad := 0
	for _, k := range keys {
		if string(got[k].Value) != l.acked[k] {
			if bad++; bad <= 5 {
				t.Errorf("acknowledged %s=%q reads back %q", k, l.acked[k], got[k].Value)
			}
		}
	}
	if bad > 0 {
		t.Errorf("%d of %d acknowledged writes lost", bad, len(keys))
	}
	for ctr, n := range l.counted {
		it, err := l.ns.Get(ctx, ctr)
		v, perr := strconv.ParseInt(string(it.Value), 10, 64)
		if err != nil || perr != nil || v < n || v > n+l.uncertain[ctr] {
			t.Errorf("counter %s = %q (%v): want %d acknowledged increments plus at most %d uncertain",
				ctr, it.Value, err, n, l.uncertain[ctr])
		}
	}
}

// TestClientFailover: the calls of granary/client keep succeeding while the
// primary of a third of the buckets is SIGKILLed: requests to it fail, the
// client backs off and retries until the secondaries have taken its buckets
// over, and no acknowledged write is lost. Two clients run the load, one
// with the local cache (its reads of the moved buckets are invalidated).
func TestClientFailover(t *testing.T) {
	c := startCluster(t, clusterOpts{configs: 1, data: 3, autoAdd: true, copies: 2})
	gc := newGranaryClient(t, c, client.Options{})
	cached := newGranaryClient(t, c, client.Options{Cache: client.Cache{TTL: time.Minute}})
	l := startClientLoad(namespace(t, gc, 0), 3)
	lc := startClientLoad(namespace(t, cached, 1), 2)
	time.Sleep(2 * time.Second)
	before := l.opsTotal() + lc.opsTotal()
	victim := c.data[1]
	victim.kill(t)
	t0 := time.Now()
	for {
		owners, err := slotOwners(c.data[0].addr)
		if err == nil && !slices.Contains(owners[:], victim.addr) {
			break
		}
		if time.Since(t0) > 60*time.Second {
			t.Fatalf("%s still leads buckets 60s after its kill (%v)", victim.name, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Logf("%s SIGKILLed; its buckets had new primaries after %v", victim.name, time.Since(t0).Round(time.Millisecond))
	time.Sleep(2 * time.Second)
	if l.opsTotal()+lc.opsTotal() == before {
		t.Errorf("no call completed after the kill")
	}
	for _, run := range []struct {
		name string
		l    *clientLoad
		gc   *client.Client
	}{{"without a cache", l, gc}, {"with the local cache", lc, cached}} {
		t.Logf("client %s:", run.name)
		run.l.finish(t)
		st := run.gc.Stats()
		t.Logf("client stats: %+v", st)
		if st.Retries == 0 {
			t.Errorf("the client %s never retried: the kill did not reach it", run.name)
		}
	}
}

func (l *clientLoad) opsTotal() int64 {
	var n int64
	for i := range l.ops {
		n += l.ops[i].Load()
	}
	return n
}
