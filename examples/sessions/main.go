// Command sessions keeps web sessions in Granary: each session is one key
// with a time to live, renewed on every request without changing its
// expiry rules; concurrent updates of one session (two browser tabs adding
// to a cart) do not overwrite each other, because each update is a
// compare-and-swap on the session's version.
//
//	go run ./examples/sessions -addrs 127.0.0.1:5198
package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"log"
	"slices"
	"strings"
	"sync"
	"time"

	"granary/client"
	"granary/examples/internal/connect"
)

// session is what the store keeps per visitor.
type session struct {
	User    string    `json:"user"`
	Created time.Time `json:"created"`
	Cart    []string  `json:"cart"`
}

// store keeps sessions in one namespace.
type store struct {
	ns  *client.Namespace
	ttl time.Duration
}

func sessionKey(id string) string { return "session:" + id }

// create starts a session and returns its id.
func (s *store) create(ctx context.Context, user string) (string, error) {
	var b [16]byte
	rand.Read(b[:])
	id := hex.EncodeToString(b[:])
	v, err := json.Marshal(session{User: user, Created: time.Now().UTC()})
	if err != nil {
		return "", err
	}
	// IfAbsent: a colliding id must not take over someone else's session.
	_, err = s.ns.Put(ctx, sessionKey(id), v, client.WithTTL(s.ttl), client.IfAbsent())
	return id, err
}

// load returns a session and its version.
func (s *store) load(ctx context.Context, id string) (session, uint64, error) {
	it, err := s.ns.Get(ctx, sessionKey(id))
	if err != nil {
		return session{}, 0, err
	}
	var sess session
	err = json.Unmarshal(it.Value, &sess)
	return sess, it.Version, err
}

// update applies change to a session: read, change, compare-and-swap, and
// again when another update came in between. The session's time to live
// starts again (a sliding expiry).
func (s *store) update(ctx context.Context, id string, change func(*session)) error {
	for {
		sess, ver, err := s.load(ctx, id)
		if err != nil {
			return err
		}
		change(&sess)
		v, err := json.Marshal(sess)
		if err != nil {
			return err
		}
		_, err = s.ns.Put(ctx, sessionKey(id), v, client.IfVersion(ver), client.WithTTL(s.ttl))
		if !errors.Is(err, client.ErrVersionMismatch) {
			return err
		}
	}
}

func main() {
	conn := connect.Register("sessions")
	ttl := flag.Duration("ttl", 30*time.Minute, "a session ends after this long without a request")
	tabs := flag.Int("tabs", 8, "concurrent updates of one session")
	flag.Parse()

	c, ns := conn.Open(client.Options{})
	defer c.Close()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	s := &store{ns: ns, ttl: *ttl}

	id, err := s.create(ctx, "ada")
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("session created for ada")
	var wg sync.WaitGroup
	for i := 0; i < *tabs; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			item := fmt.Sprintf("item-%d", i)
			if err := s.update(ctx, id, func(sess *session) { sess.Cart = append(sess.Cart, item) }); err != nil {
				log.Fatal(err)
			}
		}()
	}
	wg.Wait()
	sess, ver, err := s.load(ctx, id)
	if err != nil {
		log.Fatal(err)
	}
	slices.Sort(sess.Cart)
	fmt.Printf("user %s, cart of %d items after %d concurrent updates (version %d): %s\n",
		sess.User, len(sess.Cart), *tabs, ver, strings.Join(sess.Cart, " "))
	if err := ns.Delete(ctx, sessionKey(id)); err != nil {
		log.Fatal(err)
	}
	if _, _, err := s.load(ctx, id); errors.Is(err, client.ErrNotFound) {
		fmt.Println("logged out: session gone")
	} else {
		log.Fatalf("session after logout: %v", err)
	}
}
