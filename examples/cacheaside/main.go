// Command cacheaside puts Granary in front of a slow database, cache-aside:
// a read looks in Granary first and, on a miss, queries the database and
// stores the answer with a time to live; a write goes to the database and
// then deletes the cached copy, so the next read fetches the new value.
// With -local-cache the client also keeps hot entries in its own memory,
// kept fresh by the data servers' invalidations.
//
//	go run ./examples/cacheaside -addrs 127.0.0.1:5198
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log"
	"sync"
	"time"

	"granary/client"
	"granary/examples/internal/connect"
)

// database stands for a slow database: every query costs latency.
type database struct {
	latency time.Duration
	mu      sync.Mutex
	rows    map[int]string
	queries int
}

func (db *database) query(ctx context.Context, id int) (string, error) {
	select {
	case <-time.After(db.latency):
	case <-ctx.Done():
		return "", ctx.Err()
	}
	db.mu.Lock()
	defer db.mu.Unlock()
	db.queries++
	row, ok := db.rows[id]
	if !ok {
		return "", fmt.Errorf("product %d: no such row", id)
	}
	return row, nil
}

func (db *database) update(id int, row string) {
	db.mu.Lock()
	defer db.mu.Unlock()
	db.rows[id] = row
}

// products reads products cache-aside.
type products struct {
	db    *database
	cache *client.Namespace
	ttl   time.Duration
}

func productKey(id int) string { return fmt.Sprintf("product:%d", id) }

// get returns a product and where it came from.
func (p *products) get(ctx context.Context, id int) (string, string, error) {
	it, err := p.cache.Get(ctx, productKey(id))
	switch {
	case err == nil && it.Cached:
		return string(it.Value), "local cache", nil
	case err == nil:
		return string(it.Value), "granary", nil
	case !errors.Is(err, client.ErrNotFound):
		return "", "", err
	}
	row, err := p.db.query(ctx, id)
	if err != nil {
		return "", "", err
	}
	if _, err := p.cache.Put(ctx, productKey(id), []byte(row), client.WithTTL(p.ttl)); err != nil {
		return "", "", err
	}
	return row, "database", nil
}

// set writes the database, then drops the cached copy.
func (p *products) set(ctx context.Context, id int, row string) error {
	p.db.update(id, row)
	return p.cache.Delete(ctx, productKey(id))
}

func main() {
	conn := connect.Register("cached products")
	latency := flag.Duration("db-latency", 50*time.Millisecond, "latency of each database query")
	ttl := flag.Duration("ttl", time.Minute, "how long Granary keeps a cached product")
	local := flag.Duration("local-cache", 0, "keep products in the client's memory for up to this long (0: off)")
	flag.Parse()

	c, ns := conn.Open(client.Options{Cache: client.Cache{TTL: *local}})
	defer c.Close()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()

	db := &database{latency: *latency, rows: map[int]string{1: "tea, 4.50", 2: "coffee, 3.20", 3: "cocoa, 3.90"}}
	p := &products{db: db, cache: ns, ttl: *ttl}
	for id := 1; id <= 3; id++ { // start cold
		if err := ns.Delete(ctx, productKey(id)); err != nil {
			log.Fatal(err)
		}
	}
	read := func(id int) {
		start := time.Now()
		row, from, err := p.get(ctx, id)
		if err != nil {
			log.Fatal(err)
		}
		fmt.Printf("product %d: %s (from %s, %v)\n", id, row, from, time.Since(start).Round(100*time.Microsecond))
	}
	for round := 0; round < 3; round++ {
		for id := 1; id <= 3; id++ {
			read(id)
		}
	}
	if err := p.set(ctx, 2, "coffee, 3.40"); err != nil {
		log.Fatal(err)
	}
	fmt.Println("product 2: price changed in the database")
	read(2)
	read(2)
	fmt.Printf("database queries: %d\n", db.queries)
}
