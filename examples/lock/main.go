// Command lock shows a Granary lock with fencing tokens. Workers add to a
// shared balance under the lock; then a holder pauses past its lock's time
// to live, another takes the lock, and the paused one's late write is
// refused by the resource, because it carries an older token.
//
// The resource here is a Granary key holding "token value": a write is
// accepted only with a token at least as large as the one stored
// (checked with a compare-and-swap on the key's version). A real resource
// (a database, a file store) makes the same check.
//
//	go run ./examples/lock -addrs 127.0.0.1:5198
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log"
	"strconv"
	"strings"
	"sync"
	"time"

	"granary/client"
	"granary/examples/internal/connect"
)

// errFenced: a write carried a token older than the resource's.
var errFenced = errors.New("fenced: a newer lock holder has written")

// resource is a value guarded by fencing tokens.
type resource struct {
	ns  *client.Namespace
	key string
}

// read returns the value, the token it was written with and the key's
// version.
func (r *resource) read(ctx context.Context) (value, token int64, version uint64, err error) {
	it, err := r.ns.Get(ctx, r.key)
	if errors.Is(err, client.ErrNotFound) {
		return 0, 0, 0, nil
	}
	if err != nil {
		return 0, 0, 0, err
	}
	f := strings.Fields(string(it.Value))
	if len(f) != 2 {
		return 0, 0, 0, fmt.Errorf("resource %q: %q", r.key, it.Value)
	}
	token, _ = strconv.ParseInt(f[0], 10, 64)
	value, _ = strconv.ParseInt(f[1], 10, 64)
	return value, token, it.Version, nil
}

// write stores value if token is not older than the stored one.
func (r *resource) write(ctx context.Context, token uint64, value int64) error {
	for {
		_, stored, ver, err := r.read(ctx)
		if err != nil {
			return err
		}
		if int64(token) < stored {
			return fmt.Errorf("%w (token %d < %d)", errFenced, token, stored)
		}
		v := []byte(fmt.Sprintf("%d %d", token, value))
		if ver == 0 {
			_, err = r.ns.Put(ctx, r.key, v, client.IfAbsent())
		} else {
			_, err = r.ns.CompareAndSwap(ctx, r.key, v, ver)
		}
		if !errors.Is(err, client.ErrVersionMismatch) && !errors.Is(err, client.ErrExists) {
			return err
		}
	}
}

func main() {
	conn := connect.Register("lock and the resource")
	workers := flag.Int("workers", 4, "workers adding to the balance")
	adds := flag.Int("adds", 10, "additions per worker")
	flag.Parse()

	c, ns := conn.Open(client.Options{})
	defer c.Close()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	res := &resource{ns: ns, key: "lockdemo:balance"}
	if err := ns.Delete(ctx, res.key); err != nil {
		log.Fatal(err)
	}

	// Workers add 1 at a time: read, add, write, under the lock.
	var wg sync.WaitGroup
	for w := 0; w < *workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < *adds; i++ {
				l, err := ns.Lock(ctx, "lockdemo:lock", 10*time.Second)
				if err != nil {
					log.Fatal(err)
				}
				v, _, _, err := res.read(ctx)
				if err == nil {
					err = res.write(ctx, l.Token, v+1)
				}
				if err != nil {
					log.Fatal(err)
				}
				if err := ns.Unlock(ctx, l); err != nil {
					log.Fatal(err)
				}
			}
		}()
	}
	wg.Wait()
	v, _, _, err := res.read(ctx)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("balance %d after %d workers added 1 %d times each under the lock\n", v, *workers, *adds)

	// A holder pauses past its time to live: its late write is fenced off.
	slow, err := ns.Lock(ctx, "lockdemo:lock", 200*time.Millisecond)
	if err != nil {
		log.Fatal(err)
	}
	time.Sleep(400 * time.Millisecond) // a pause: GC, swapping, a slow disk
	fast, err := ns.Lock(ctx, "lockdemo:lock", 10*time.Second)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("the paused holder's lock expired; the next holder's token is larger: %v\n", fast.Token > slow.Token)
	if err := res.write(ctx, fast.Token, 1000); err != nil {
		log.Fatal(err)
	}
	err = res.write(ctx, slow.Token, -1)
	fmt.Printf("the paused holder's late write: refused: %v\n", errors.Is(err, errFenced))
	if err := ns.Unlock(ctx, slow); errors.Is(err, client.ErrLockLost) {
		fmt.Println("the paused holder's Unlock: lock lost")
	}
	if err := ns.Unlock(ctx, fast); err != nil {
		log.Fatal(err)
	}
	v, _, _, _ = res.read(ctx)
	fmt.Printf("balance %d\n", v)
}
