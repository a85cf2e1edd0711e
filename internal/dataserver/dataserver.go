// Package dataserver wires the parts of a data server together: the namespace
// registry with its engines, the node the commands see, the routing table and
// the RESP connection layer.
package dataserver

import (
	"context"
	"crypto/rand"
	"crypto/tls"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"runtime"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"granary/internal/command"
	"granary/internal/engine"
	"granary/internal/engine/disk"
	"granary/internal/namespace"
	"granary/internal/replication"
	"granary/internal/resp"
	"granary/internal/routing"
	"granary/internal/server"
	"granary/internal/tracking"
)

// DefaultListen is the data server's default RESP address (Tair's port).
const DefaultListen = ":5191"

// Options configure a data server.
//
// A data server runs in one of two modes. In cluster mode (ConfigServers set)
// it heartbeats the config servers and serves the buckets of the routing
// table they publish; until the first table arrives it serves none. Without
// config servers it owns every bucket itself: with Standalone, multi-key
// commands may cross buckets; without, it behaves as a one-node cluster
// (CROSSSLOT as Redis Cluster). Standalone and ConfigServers exclude each
// other.
type Options struct {
	Listen      string       // RESP address; "" = DefaultListen
	HTTP        string       // HTTP address for /metrics and /healthz; "" = none
	Pprof       bool         // serve the Go profiler under /debug/pprof/ on the HTTP address
	RequirePass string       // password of the default user; "" = none
	MaxClients  int          // 0 = 10000
	Quota       int64        // memory quota of each namespace the config servers do not define, in bytes; 0 = unlimited
	Standalone  bool         // one node owning every bucket; multi-key commands may cross buckets
	Logger      *slog.Logger // nil = slog.Default()

	// ConfigServers are the config servers' API (HTTP) addresses, host:port.
	// Set: cluster mode. Empty: the node owns every bucket.
	ConfigServers []string
	// ID is the node id, 40 hex characters. Empty: read from Dir/node-id, or
	// made up and saved there; without Dir, made up at every start.
	ID string
	// Dir is the data directory (the node id, later the persistent engine).
	// While a server runs, it holds a lock on the directory.
	Dir string
	// Zone is the node's zone (rack, room) for the table builder's
	// zone-safe placement.
	Zone string
	// Advertise is the host:port (or host: the listening port is used)
	// announced to config servers and clients. Empty: the listening address,
	// which must then not be a wildcard (0.0.0.0, ::) in cluster mode.
	Advertise string

	// Replication (cluster mode).
	ClusterSecret string        // secret replication links present; "" = RequirePass
	Lease         time.Duration // primary lease; 0 = replication.DefaultLease
	ReplLog       int64         // bytes of the replication log kept for catch-up; 0 = default
	MoveRate      int64         // bytes/s of migration snapshots sent per peer; 0 = unlimited
	// SourceAddr is the local IP outgoing connections (replication links,
	// heartbeats) leave from; "" = chosen by the system.
	SourceAddr string

	// TLS, when set, is the RESP port's TLS configuration: the port speaks
	// TLS only. TLSClient is the configuration of the connections the
	// server opens (replication links, heartbeats to the config servers'
	// API); set, they use TLS. TLSHTTP serves /metrics and /healthz over
	// TLS too (with TLS).
	TLS       *tls.Config
	TLSClient *tls.Config
	TLSHTTP   bool

	// Engine is the engine of namespaces the config servers do not define:
	// EngineMem (default) or EngineDisk (needs Dir).
	Engine string
	Disk   DiskOptions

	// Client-side caching. TrackingMaxKeys bounds the keys remembered for
	// tracking clients (0 = tracking.DefaultMaxKeys, <0 = no bound);
	// PushLimit is the most bytes of invalidations a connection may have
	// waiting before it is closed (0 = tracking.DefaultOutboxLimit).
	TrackingMaxKeys int64
	PushLimit       int
	// EventLoops is how many epoll loops serve the clients of a standalone
	// server (0: one per core; -1: none, a goroutine per connection).
	// Clustered servers always use a goroutine per connection.
	EventLoops int

	// FlowLimits are the flow limits of namespaces the config servers do not
	// define (all of them on a standalone server), by namespace id.
	FlowLimits map[uint16]FlowLimit
	// DebugCommands enables commands for tests only (GRANARY.DEBUG-SETLOCAL).
	DebugCommands bool
}

// DataServer is a running data server.
type DataServer struct {
	node *command.Node
	reg  *namespace.Registry
	srv  *server.Server
	ln   net.Listener
	http *httpServer
	log  *slog.Logger
	lock *dirLock // held on Options.Dir; nil without

	// Namespace definitions from the config servers, with each one's quota
	// share on this node; read by the registry's factory.
	defs         atomic.Pointer[nsDefs]
	flowLimits   map[uint16]FlowLimit // Options.FlowLimits; read-only
	defaultQuota int64
	// defaultEngine is Options.Engine; disk is the store of the disk
	// namespaces (nil without a data directory).
	defaultEngine string
	disk          *disk.Store
	onDisk        map[uint16]bool // namespaces with data in disk at start (read-only after Start)
	trk           *tracking.Table // client-side caching: told of removals by expiry and eviction
	cluster       *cluster        // nil outside cluster mode
	bg            sync.WaitGroup
	// moveNews wakes the heartbeat loop: replication has news for the
	// config servers' migration scheduler (buffered, one slot).
	moveNews chan struct{}

	cancel context.CancelFunc
	done   chan struct{}
	err    error // Serve's result, valid after done is closed
	once   sync.Once
}

// Start listens on opts.Listen and serves until ctx is done or Close is called.
func Start(ctx context.Context, opts Options) (*DataServer, error) {
	if opts.Listen == "" {
		opts.Listen = DefaultListen
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	clustered := len(opts.ConfigServers) > 0
	if clustered && opts.Standalone {
		return nil, errors.New("a data server is either standalone or run by config servers, not both")
	}
	if clustered && opts.TLS != nil && opts.TLSClient == nil {
		return nil, errors.New("a data server on TLS dials its peers and the config servers with TLS: give a client configuration too")
	}
	for _, a := range opts.ConfigServers {
		if _, _, err := net.SplitHostPort(a); err != nil {
			return nil, fmt.Errorf("config server address %q: want host:port", a)
		}
	}
	var lock *dirLock
	if opts.Dir != "" {
		if err := os.MkdirAll(opts.Dir, 0o755); err != nil {
			return nil, fmt.Errorf("data directory: %w", err)
		}
		var err error
		if lock, err = lockDir(opts.Dir); err != nil {
			return nil, err
		}
	}
	fail := func(err error) (*DataServer, error) {
		lock.release()
		return nil, err
	}
	id, err := nodeID(opts.ID, opts.Dir)
	if err != nil {
		return fail(err)
	}
	ln, err := net.Listen("tcp", opts.Listen)
	if err != nil {
		return fail(err)
	}
	if opts.TLS != nil {
		// The handshake runs on the connection's own goroutine, at its
		// first read; the plain path is a *net.TCPConn, untouched.
		ln = tls.NewListener(ln, opts.TLS)
	}
	host, port, err := advertised(opts.Advertise, ln.Addr(), clustered)
	if err != nil {
		ln.Close()
		return fail(err)
	}

	if opts.Engine == "" {
		opts.Engine = EngineMem
	}
	d := &DataServer{ln: ln, log: opts.Logger, lock: lock, defaultQuota: opts.Quota, defaultEngine: opts.Engine, flowLimits: opts.FlowLimits, done: make(chan struct{})}
	switch {
	case opts.Engine != EngineMem && opts.Engine != EngineDisk:
		ln.Close()
		return fail(fmt.Errorf("engine %q: want %q or %q", opts.Engine, EngineMem, EngineDisk))
	case opts.Engine == EngineDisk && opts.Dir == "":
		ln.Close()
		return fail(errors.New("the disk engine keeps its data in the data directory: give --dir"))
	}
	if d.disk, err = d.openDisk(opts.Dir, opts.Disk); err != nil {
		ln.Close()
		return fail(err)
	}
	// Client-side caching sees changes made without a command through
	// the engines' removals and replication's watcher (package tracking).
	trk := tracking.New(tracking.Options{MaxKeys: opts.TrackingMaxKeys})
	d.trk = trk
	var repl *replication.Replicator
	if clustered {
		secret := opts.ClusterSecret
		if secret == "" {
			secret = opts.RequirePass
		}
		d.moveNews = make(chan struct{}, 1)
		repl = replication.New(replication.Options{
			Self: id, Secret: secret, Lease: opts.Lease, LogBytes: opts.ReplLog, MoveRate: opts.MoveRate,
			SourceAddr: opts.SourceAddr, TLS: opts.TLSClient, Logger: opts.Logger, Watcher: trk,
			MoveNews: func() {
				select {
				case d.moveNews <- struct{}{}:
				default:
				}
			},
		})
	}
	reg := namespace.NewRegistry(func(id uint16) engine.Engine {
		e := d.newEngine(id)
		if repl != nil {
			return repl.Wrap(e, id)
		}
		return e
	})
	reg.OnCreate(func(ns *namespace.Namespace) {
		l := d.flowOf(ns.ID)
		ns.SetLimits(l.Ops, l.Bytes)
	})
	if d.disk != nil {
		// The disk namespaces with data exist from the start: INFO lists
		// them and replication snapshots include them.
		d.onDisk = map[uint16]bool{}
		for _, id := range d.disk.Namespaces() {
			d.onDisk[id] = true
			reg.Get(id)
		}
	}
	if repl != nil {
		repl.SetRegistry(reg)
		if d.disk != nil {
			if err := repl.SetDurable(d.disk); err != nil {
				repl.Close()
				reg.Close()
				d.disk.Close()
				ln.Close()
				return fail(err)
			}
		}
	}
	node := &command.Node{
		ID: id,
		Config: command.Config{
			RequirePass:   opts.RequirePass,
			MaxClients:    opts.MaxClients,
			Standalone:    opts.Standalone,
			Port:          port,
			ProtoMaxBulk:  resp.DefaultLimits.MaxBulk,
			DebugCommands: opts.DebugCommands,
		},
		Namespaces: reg,
		Started:    time.Now(),
		Repl:       repl,
		Tracking:   trk,
		Log:        opts.Logger,
	}
	self := routing.Node{ID: id, Host: host, Port: port, Zone: opts.Zone}
	if clustered {
		// No bucket until the config servers say otherwise: keyed commands
		// get CLUSTERDOWN. The table lists this node alone, so that CLUSTER
		// NODES and MYID show it as "myself".
		node.SetTable(&routing.Table{Nodes: []routing.Node{self}})
	} else {
		node.SetTable(routing.Standalone(self))
	}
	if node.Config.MaxClients <= 0 {
		node.Config.MaxClients = 10000
	}
	loops := 0
	if opts.Standalone {
		if loops = opts.EventLoops; loops == 0 {
			loops = runtime.GOMAXPROCS(0)
		}
	}
	srv := server.New(node, server.Options{MaxClients: node.Config.MaxClients, Logger: opts.Logger,
		PushLimit: opts.PushLimit, EventLoops: max(loops, 0)})
	d.node, d.reg, d.srv = node, reg, srv

	ctx, cancel := context.WithCancel(ctx)
	d.cancel = cancel
	if opts.HTTP != "" {
		var httpTLS *tls.Config
		if opts.TLSHTTP {
			httpTLS = opts.TLS
		}
		if d.http, err = startHTTP(opts.HTTP, httpTLS, node, d.disk, opts.Pprof, opts.Logger); err != nil {
			cancel()
			ln.Close()
			return fail(err)
		}
	}
	go func() {
		defer close(d.done)
		d.err = srv.Serve(ctx, ln)
		if d.err != nil {
			d.log.Error("data server stopped", "addr", ln.Addr().String(), "err", d.err)
		}
	}()
	if clustered {
		d.cluster = newCluster(d, opts, self)
		d.bg.Add(1)
		go func() {
			defer d.bg.Done()
			d.cluster.run(ctx)
		}()
	}
	d.log.Info("data server listening", "addr", ln.Addr().String(), "id", id,
		"standalone", opts.Standalone, "config_servers", opts.ConfigServers, "advertise", net.JoinHostPort(host, strconv.Itoa(port)))
	return d, nil
}

// Addr returns the address the server listens on.
func (d *DataServer) Addr() string { return d.ln.Addr().String() }

// HTTPAddr returns the HTTP address, or "" when HTTP is off.
func (d *DataServer) HTTPAddr() string {
	if d.http == nil {
		return ""
	}
	return d.http.ln.Addr().String()
}

// Node returns the node the commands run against.
func (d *DataServer) Node() *command.Node { return d.node }

// Namespaces returns the namespace registry.
func (d *DataServer) Namespaces() *namespace.Registry { return d.reg }

// Done is closed when the server has stopped serving.
func (d *DataServer) Done() <-chan struct{} { return d.done }

// Close stops serving, closes every connection and frees the engines.
func (d *DataServer) Close() error {
	d.once.Do(func() {
		if d.http != nil {
			d.http.Close()
		}
		d.srv.Close() // before cancel, so that this call does the waiting
		d.cancel()
		<-d.done
		d.bg.Wait() // the heartbeat loop, which touches the registry
		// server.Close returns at once when another caller (the context's
		// AfterFunc, when the parent context was cancelled) is already
		// closing: wait for every connection to end before the engines are
		// closed under them.
		for deadline := time.Now().Add(10 * time.Second); len(d.srv.Sessions()) > 0 && time.Now().Before(deadline); {
			time.Sleep(2 * time.Millisecond)
		}
		if d.node.Repl != nil {
			d.node.Repl.Close()
		}
		d.reg.Close()
		if d.disk != nil {
			if err := d.disk.Close(); err != nil {
				d.log.Error("closing the disk store", "err", err)
			}
		}
		d.lock.release()
	})
	if d.err != nil && !errors.Is(d.err, net.ErrClosed) {
		return d.err
	}
	return nil
}

// newNodeID returns 40 random hex characters, as Redis Cluster node ids.
func newNodeID() (string, error) {
	var b [20]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", err
	}
	return hex.EncodeToString(b[:]), nil
}
