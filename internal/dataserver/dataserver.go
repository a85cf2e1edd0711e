// Package dataserver wires the parts of a data server together: the namespace
// registry with its engines, the node the commands see, the routing table and
// the RESP connection layer.
package dataserver

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"log/slog"
	"net"
	"strconv"
	"sync"
	"time"

	"granary/internal/command"
	"granary/internal/engine"
	"granary/internal/engine/mem"
	"granary/internal/namespace"
	"granary/internal/resp"
	"granary/internal/routing"
	"granary/internal/server"
)

// DefaultListen is the data server's default RESP address (Tair's port).
const DefaultListen = ":5191"

// Options configure a data server.
type Options struct {
	Listen      string       // RESP address; "" = DefaultListen
	HTTP        string       // HTTP address for /metrics and /healthz; "" = none
	Pprof       bool         // serve the Go profiler under /debug/pprof/ on the HTTP address
	RequirePass string       // password of the default user; "" = none
	MaxClients  int          // 0 = 10000
	Quota       int64        // memory quota of each namespace in bytes; 0 = unlimited
	Standalone  bool         // one node owning every bucket; multi-key commands may cross buckets
	Logger      *slog.Logger // nil = slog.Default()
}

// DataServer is a running data server.
type DataServer struct {
	node *command.Node
	reg  *namespace.Registry
	srv  *server.Server
	ln   net.Listener
	http *httpServer
	log  *slog.Logger

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
	id, err := newNodeID()
	if err != nil {
		return nil, err
	}
	ln, err := net.Listen("tcp", opts.Listen)
	if err != nil {
		return nil, err
	}
	host, portStr, _ := net.SplitHostPort(ln.Addr().String())
	port, _ := strconv.Atoi(portStr)
	if ip := net.ParseIP(host); ip != nil && ip.IsUnspecified() {
		// Listening on every interface: CLUSTER SLOTS/SHARDS/NODES then
		// announce the address each client connected to.
		host = ""
	}

	quota := opts.Quota
	reg := namespace.NewRegistry(func(uint16) engine.Engine {
		return mem.New(mem.Options{Quota: quota})
	})
	node := &command.Node{
		ID: id,
		Config: command.Config{
			RequirePass:  opts.RequirePass,
			MaxClients:   opts.MaxClients,
			Standalone:   opts.Standalone,
			Port:         port,
			ProtoMaxBulk: resp.DefaultLimits.MaxBulk,
		},
		Namespaces: reg,
		Started:    time.Now(),
	}
	node.SetTable(routing.Standalone(routing.Node{ID: id, Host: host, Port: port}))
	if node.Config.MaxClients <= 0 {
		node.Config.MaxClients = 10000
	}
	srv := server.New(node, server.Options{MaxClients: node.Config.MaxClients, Logger: opts.Logger})

	ctx, cancel := context.WithCancel(ctx)
	d := &DataServer{node: node, reg: reg, srv: srv, ln: ln, log: opts.Logger, cancel: cancel, done: make(chan struct{})}
	if opts.HTTP != "" {
		if d.http, err = startHTTP(opts.HTTP, node, opts.Pprof, opts.Logger); err != nil {
			cancel()
			ln.Close()
			return nil, err
		}
	}
	go func() {
		defer close(d.done)
		d.err = srv.Serve(ctx, ln)
		if d.err != nil {
			d.log.Error("data server stopped", "addr", ln.Addr().String(), "err", d.err)
		}
	}()
	d.log.Info("data server listening", "addr", ln.Addr().String(), "id", id, "standalone", opts.Standalone)
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
		// server.Close returns at once when another caller (the context's
		// AfterFunc, when the parent context was cancelled) is already
		// closing: wait for every connection to end before the engines are
		// closed under them.
		for deadline := time.Now().Add(10 * time.Second); len(d.srv.Sessions()) > 0 && time.Now().Before(deadline); {
			time.Sleep(2 * time.Millisecond)
		}
		d.reg.Close()
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
