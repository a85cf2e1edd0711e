package client_test

import (
	"context"
	"errors"
	"fmt"
	"log"
	"time"

	"granary/client"
)

// Connect through the config servers and read and write one namespace.
func Example() {
	c, err := client.New(client.Options{Addrs: []string{"127.0.0.1:5198"}})
	if err != nil {
		log.Fatal(err)
	}
	defer c.Close()
	ns, err := c.Namespace(0)
	if err != nil {
		log.Fatal(err)
	}
	ctx := context.Background()
	if _, err := ns.Put(ctx, "greeting", []byte("hello"), client.WithTTL(time.Hour)); err != nil {
		log.Fatal(err)
	}
	it, err := ns.Get(ctx, "greeting")
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("%s (version %d)\n", it.Value, it.Version)
}

// A local cache of up to 64 MiB per connection, entries kept at most a
// minute; the data servers invalidate entries when their keys change.
func ExampleNew_cache() {
	c, err := client.New(client.Options{
		Addrs: []string{"127.0.0.1:5198"},
		Cache: client.Cache{TTL: time.Minute, SizeBytes: 64 << 20},
	})
	if err != nil {
		log.Fatal(err)
	}
	defer c.Close()
	ns, err := c.Namespace(0)
	if err != nil {
		log.Fatal(err)
	}
	it, err := ns.Get(context.Background(), "config:feature-flags")
	if err == nil {
		fmt.Println("from the local cache:", it.Cached)
	}
}

// Read, change and write back without losing a concurrent change: the write
// succeeds only if the version is still the one read.
func ExampleNamespace_CompareAndSwap() {
	c, _ := client.New(client.Options{})
	defer c.Close()
	ns, _ := c.Namespace(0)
	ctx := context.Background()
	for {
		it, err := ns.Get(ctx, "doc:1")
		if err != nil {
			log.Fatal(err)
		}
		edited := append(it.Value, " (edited)"...)
		_, err = ns.CompareAndSwap(ctx, "doc:1", edited, it.Version)
		if errors.Is(err, client.ErrVersionMismatch) {
			continue // someone wrote in between: read again
		}
		if err != nil {
			log.Fatal(err)
		}
		break
	}
}

// A rate limit: at most 100 calls per minute and user. The counter is
// created with the minute as its time to live; past the bound the data
// server refuses the increment.
func ExampleNamespace_Incr() {
	c, _ := client.New(client.Options{})
	defer c.Close()
	ns, _ := c.Namespace(0)
	n, err := ns.Incr(context.Background(), "calls:alice", 1, client.WithMax(100), client.WithTTL(time.Minute))
	switch {
	case errors.Is(err, client.ErrOutOfRange):
		fmt.Println("over the limit")
	case err != nil:
		log.Fatal(err)
	default:
		fmt.Println("call", n, "of 100 this minute")
	}
}

// Keys in several buckets, read in one round trip per data server.
func ExampleNamespace_MGet() {
	c, _ := client.New(client.Options{})
	defer c.Close()
	ns, _ := c.Namespace(0)
	items, err := ns.MGet(context.Background(), "user:1", "user:2", "user:3")
	if err != nil {
		log.Print(err) // the keys that failed; items holds the others
	}
	for k, it := range items {
		fmt.Println(k, string(it.Value))
	}
}

// A user's events under one primary key, read newest first, ten at a time.
func ExampleNamespace_PrefixRange() {
	c, _ := client.New(client.Options{})
	defer c.Close()
	ns, _ := c.Namespace(0)
	ctx := context.Background()
	ts := time.Now().UTC().Format(time.RFC3339Nano)
	if err := ns.PrefixPut(ctx, "events:alice", ts, []byte("logged in")); err != nil {
		log.Fatal(err)
	}
	events, err := ns.PrefixRange(ctx, "events:alice", client.Range{Reverse: true, Limit: 10})
	if err != nil {
		log.Fatal(err)
	}
	for _, e := range events {
		fmt.Println(e.Key, string(e.Value))
	}
}

// A lock whose token fences off a holder that lost it without knowing.
func ExampleNamespace_Lock() {
	c, _ := client.New(client.Options{})
	defer c.Close()
	ns, _ := c.Namespace(0)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	l, err := ns.Lock(ctx, "lock:report", 30*time.Second)
	if err != nil {
		log.Fatal(err)
	}
	// Pass l.Token with every write to the guarded resource, which refuses
	// tokens lower than the highest it has seen.
	fmt.Println("holding the lock with token", l.Token)
	if err := ns.Unlock(ctx, l); errors.Is(err, client.ErrLockLost) {
		log.Print("the lock expired before Unlock")
	}
}
