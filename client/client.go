package client

import (
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/redis/rueidis"
)

// DefaultAddr is the address used when Options.Addrs is empty: a config
// server's RESP port on this machine (as `granary dev` starts it).
const DefaultAddr = "127.0.0.1:5198"

// Options configure a Client. The zero value connects to DefaultAddr, without
// a local cache, with the default Backoff.
type Options struct {
	// Addrs are the addresses the client learns the cluster from: config
	// servers' RESP addresses (default port 5198) or data servers' (5191).
	// Any one that answers is enough; the client then talks to the data
	// servers directly. Default: DefaultAddr.
	Addrs []string
	// Username and Password are sent with HELLO when set (AUTH).
	Username, Password string
	// TLS, when set, makes every connection a TLS connection with this
	// configuration (the servers run with --tls-cert-file); give it the
	// cluster's CA in RootCAs, and a client certificate if the servers
	// require one (--tls-auth-clients).
	TLS *tls.Config
	// DialTimeout bounds connecting to a server. Default 5s.
	DialTimeout time.Duration
	// ConnTimeout is how long a connection may wait for a reply before the
	// client gives it up as dead (and retries elsewhere). Default 10s.
	ConnTimeout time.Duration
	// RefreshInterval is how often the client re-reads the routing table
	// (besides on MOVED and on connection failures). Default 1s; negative
	// turns the timer off.
	RefreshInterval time.Duration
	// Cache configures the local cache; off when Cache.TTL is 0.
	Cache Cache
	// Backoff bounds retries of calls that were throttled or not served.
	Backoff Backoff
	// Logger receives the client's debug and warning records. Default:
	// slog.Default().
	Logger *slog.Logger
}

// Cache configures the local cache of a Client: Tair's LocalCache, kept
// fresh by the data servers (server-assisted client-side caching: the
// server tells the client when a key it cached changes).
//
// With a cache, Get, MGet, PrefixGet and PrefixGetAll answer from memory
// when they can. A cached value is dropped when the key changes (the
// invalidation comes before the reply of a write made through the same
// Client; another client's write reaches this cache as fast as the network
// carries the invalidation), when the key expires, after TTL, and when
// the cache is full (least recently used first).
type Cache struct {
	// TTL is the longest time a value stays cached; 0 turns the cache off.
	TTL time.Duration
	// SizeBytes bounds the memory of the cache of each connection (the
	// client keeps one connection per data server and namespace). Default
	// 128 MiB (rueidis' DefaultCacheBytes).
	SizeBytes int
}

// Stats counts what the client did to get calls served.
type Stats struct {
	Retries   int64 // attempts made again after a failure that was not final
	Throttled int64 // THROTTLED replies received
	Uncertain int64 // calls that ended with ErrUncertain
}

type counters struct {
	retries, throttled, uncertain atomic.Int64
}

// Client is a connection to a Granary cluster. It is safe for concurrent
// use; make one per process and Close it when done.
type Client struct {
	opts  Options
	log   *slog.Logger
	stats counters

	mu     sync.Mutex
	ns     map[uint16]*Namespace
	closed atomic.Bool // read on every call, so not under mu
}

// New returns a client for the cluster at opts.Addrs. It connects when a
// namespace is first used (Namespace).
func New(opts Options) (*Client, error) {
	if len(opts.Addrs) == 0 {
		opts.Addrs = []string{DefaultAddr}
	}
	if opts.DialTimeout <= 0 {
		opts.DialTimeout = 5 * time.Second
	}
	if opts.ConnTimeout <= 0 {
		opts.ConnTimeout = 10 * time.Second
	}
	if opts.RefreshInterval == 0 {
		opts.RefreshInterval = time.Second
	}
	if opts.Cache.TTL < 0 || opts.Cache.SizeBytes < 0 {
		return nil, errors.New("granary: Cache.TTL and Cache.SizeBytes must not be negative")
	}
	opts.Backoff = opts.Backoff.withDefaults()
	log := opts.Logger
	if log == nil {
		log = slog.Default()
	}
	return &Client{opts: opts, log: log, ns: map[uint16]*Namespace{}}, nil
}

// Namespace returns the handle of namespace id (Tair's area, 0..65535),
// connecting on first use: the client keeps connections per namespace, each
// of which selects the namespace once (SELECT id), so that a cached key of
// one namespace is never served for another's. Handles are shared: calling
// Namespace twice with one id returns the same handle.
func (c *Client) Namespace(id uint16) (*Namespace, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed.Load() {
		return nil, ErrClosed
	}
	if ns, ok := c.ns[id]; ok {
		return ns, nil
	}
	o := c.opts
	ro := rueidis.ClientOption{
		InitAddress:       o.Addrs,
		Username:          o.Username,
		Password:          o.Password,
		SelectDB:          int(id),
		TLSConfig:         o.TLS,
		Dialer:            net.Dialer{Timeout: o.DialTimeout},
		ConnWriteTimeout:  o.ConnTimeout,
		DisableCache:      o.Cache.TTL == 0,
		CacheSizeEachConn: o.Cache.SizeBytes,
		// One retry policy, the client's (run): rueidis alone would retry
		// reads only, and not after THROTTLED.
		DisableRetry: true,
	}
	if o.RefreshInterval > 0 {
		ro.ClusterOption.ShardsRefreshInterval = o.RefreshInterval
	}
	rc, err := rueidis.NewClient(ro)
	if err != nil {
		return nil, fmt.Errorf("granary: connect to %v (namespace %d): %w", o.Addrs, id, err)
	}
	ns := &Namespace{c: c, id: id, rc: rc, cacheTTL: o.Cache.TTL}
	c.ns[id] = ns
	return ns, nil
}

// Stats returns the client's counts so far.
func (c *Client) Stats() Stats {
	return Stats{
		Retries:   c.stats.retries.Load(),
		Throttled: c.stats.throttled.Load(),
		Uncertain: c.stats.uncertain.Load(),
	}
}

func (c *Client) isClosed() bool { return c.closed.Load() }

// Close closes every connection. Calls in flight fail; the handles of the
// client must not be used afterwards.
func (c *Client) Close() {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed.Swap(true) {
		return
	}
	for _, ns := range c.ns {
		ns.rc.Close()
	}
}

// Namespace is a handle on one namespace of the cluster: every call through
// it reads and writes that namespace. It is safe for concurrent use.
type Namespace struct {
	c        *Client
	id       uint16
	rc       rueidis.Client
	cacheTTL time.Duration
}

// ID returns the namespace's number.
func (ns *Namespace) ID() uint16 { return ns.id }
