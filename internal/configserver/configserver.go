// Package configserver is Granary's config server: Tair's config server as a
// Raft group (hashicorp/raft over TCP, BoltDB log and stable store, file
// snapshots). It replicates the cluster's configuration (data servers, the
// routing table, namespaces, settings, the config servers' own addresses),
// keeps the data servers' liveness, builds the routing table and serves:
//
//   - the HTTP API of package clusterapi (heartbeats, administration), plus
//     /metrics (Prometheus) and /healthz;
//   - a RESP front where stock Redis cluster clients find the data servers:
//     CLUSTER SLOTS/SHARDS/NODES answer with the data servers, and every keyed
//     command gets MOVED to the bucket's primary.
//
// Reads are answered by any config server from its copy of the state; writes
// and heartbeats are forwarded by followers to the leader. Heartbeats are not
// log entries: the leader keeps liveness in memory and commits only changes
// (a node seen for the first time, at new addresses or with a new process,
// down, back up, reported unreachable by a primary, copies restored). The
// failure rules the data plane relies on are in leader.go (checkDown, build)
// and failover.go.
package configserver

import (
	"context"
	"crypto/sha1"
	"crypto/tls"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/httputil"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/raft"
	raftboltdb "github.com/hashicorp/raft-boltdb/v2"
	"go.etcd.io/bbolt"

	"granary/internal/clusterapi"
	"granary/internal/command"
	"granary/internal/engine"
	"granary/internal/engine/mem"
	"granary/internal/namespace"
	"granary/internal/resp"
	"granary/internal/server"
	"granary/internal/tracking"
)

// Default addresses (Tair's config server ports).
const (
	DefaultHTTP = ":8198"
	DefaultRESP = ":5198"
)

// Peer is an initial member of the Raft group.
type Peer struct {
	ID   string
	Raft string // Raft transport address, host:port
}

// Options configure a config server.
type Options struct {
	ID   string // this server's Raft id; unique in the group
	Dir  string // data directory: raft.db (BoltDB log and stable store) and snapshots/
	Raft string // Raft bind address, host:port (TCP)
	HTTP string // API address, host:port
	RESP string // RESP address, host:port; "" = no RESP front

	// Peers are the initial voters, this server included. When Peers is
	// non-empty and Dir holds no Raft state, the group is bootstrapped with
	// exactly these (every initial member is started with the same list).
	// With Peers empty a new server waits to be added to an existing group
	// (POST /v1/config-servers on the leader); a one-server group is
	// Peers = [{ID, Raft}].
	Peers []Peer

	// AutoAdd accepts heartbeats of unknown data servers and adds them
	// (granary dev). Without it an unknown node is refused with 403 until
	// it is added (POST /v1/nodes).
	AutoAdd bool

	Copies   int // replicas per bucket for a new cluster (default 2)
	MinNodes int // data servers up before the first table is built (default 1)

	HeartbeatInterval time.Duration // told to data servers (default 250ms)
	// DownTimeout is the silence after which a node is down (default 1.5s:
	// past the data servers' 1s lease, so a failed primary has stopped
	// serving before its buckets are handed to their next replicas). A node
	// that a peer reports unreachable is down after 3 heartbeat intervals.
	DownTimeout time.Duration
	// ReplaceAfter is how long a bucket may lack copies before they are
	// restored on nodes that never held it (default 30s). A node that held
	// it before and is back (a temporary failure) gets it back at once.
	ReplaceAfter time.Duration
	// UnreachableCooldown is how long after a primary reported a peer
	// unreachable the peer is not given buckets that node leads (default 10s).
	UnreachableCooldown time.Duration
	// ElectionTimeout is Raft's heartbeat and election timeout (default 1s;
	// the leader lease is half of it). A lost leader is replaced after
	// between one and two of it, plus an election round.
	ElectionTimeout time.Duration
	// JoinTimeout bounds how long a config server being added may take to
	// show it runs before the addition is undone (default 15s).
	JoinTimeout time.Duration
	// MovesPerNode bounds the buckets a node takes part in moving at once,
	// as primary or as target (default DefaultMovesPerNode).
	MovesPerNode int
	// Pprof serves the Go profiler under /debug/pprof/ on the HTTP address.
	Pprof bool

	// TLS, when set, makes every port (Raft, HTTP API, RESP) speak TLS
	// only, with this configuration. TLSClient is then the configuration of
	// the connections the server opens to the others (Raft, requests
	// forwarded to the leader); it must be set with TLS.
	TLS       *tls.Config
	TLSClient *tls.Config

	Logger *slog.Logger // nil = slog.Default()
}

// Server is a running config server.
type Server struct {
	opts Options
	raw  Options // as given, before defaults
	log  *slog.Logger

	raft  *raft.Raft
	trans *raft.NetworkTransport
	store *raftboltdb.BoltStore
	fsm   *fsm
	obs   *raft.Observer

	raftAddr, httpAddr, respAddr string

	httpLn  net.Listener
	httpSrv *http.Server
	proxy   *httputil.ReverseProxy
	fwd     *http.Transport // forwarding to the leader
	hc      *http.Client    // self-registration with the leader

	node     *command.Node // the RESP front's node (in no table)
	reg      *namespace.Registry
	respLn   net.Listener
	respSrv  *server.Server
	respDone chan struct{}

	// wmu serialises the leader's read-modify-write commits (heartbeat
	// changes, down detection, table builds, API writes), so that two of
	// them never decide from the same state.
	wmu sync.Mutex

	// Leadership: ready is set once this server, as leader of leaderTerm,
	// has applied everything committed before and reset the liveness.
	ready      atomic.Bool
	leaderTerm atomic.Uint64

	lmu         sync.Mutex
	live        map[string]*liveness // leader only: node id → liveness
	history     *history             // leader only: load samples for the dashboard
	leaderSince time.Time
	// reported: node id → when a peer last reported it unreachable.
	reported map[string]time.Time
	// cooldown: (primary, peer) → until when the peer gets none of the
	// primary's buckets back.
	cooldown map[[2]string]time.Time
	// under: bucket → since when the leader has seen it short of copies.
	under map[uint16]time.Time
	// moves: node id → its last heartbeat's migration reports.
	moves     map[string][]clusterapi.MoveReport
	moveSteps atomic.Uint64
	// lastStep is when the scheduler last committed a step, lastTable a
	// step or a handover, and kickAt when a kick for the next one is set
	// (all under wmu).
	lastStep, lastTable, kickAt time.Time

	heartbeats    atomic.Uint64 // handled here as leader
	forwarded     atomic.Uint64 // forwarded to the leader
	leaderChanges atomic.Uint64 // leader observations
	kick          chan struct{}

	// running ends when the server starts shutting down (cancel).
	running   context.Context
	cancel    context.CancelFunc
	wg        sync.WaitGroup
	closeOnce sync.Once
	closeErr  error
	stopAfter func() bool

	settingsWarn sync.Once
}

// liveness is what the leader knows of a data server between commits.
type liveness struct {
	seen   time.Time
	stats  clusterapi.NodeStats
	uptime time.Duration
	// echoed is the Boot the leader has echoed to the node (with the table).
	echoed string
}

const applyTimeout = 5 * time.Second

// Start opens (or creates) the Raft state in opts.Dir, joins or bootstraps
// the group, and serves HTTP (and RESP) until Close or until ctx is done.
func Start(ctx context.Context, opts Options) (s *Server, err error) {
	raw := opts
	if opts.ID == "" {
		return nil, errors.New("configserver: an id is required")
	}
	if opts.Dir == "" {
		return nil, errors.New("configserver: a data directory is required")
	}
	if opts.Raft == "" {
		return nil, errors.New("configserver: a raft address is required")
	}
	if opts.HTTP == "" {
		opts.HTTP = DefaultHTTP
	}
	if opts.Copies <= 0 {
		opts.Copies = 2
	}
	if opts.MinNodes <= 0 {
		opts.MinNodes = 1
	}
	if opts.HeartbeatInterval <= 0 {
		opts.HeartbeatInterval = 250 * time.Millisecond
	}
	if opts.DownTimeout <= 0 {
		opts.DownTimeout = 1500 * time.Millisecond
	}
	if opts.ReplaceAfter <= 0 {
		opts.ReplaceAfter = 30 * time.Second
	}
	if opts.UnreachableCooldown <= 0 {
		opts.UnreachableCooldown = 10 * time.Second
	}
	if opts.ElectionTimeout <= 0 {
		opts.ElectionTimeout = time.Second
	}
	if opts.JoinTimeout <= 0 {
		opts.JoinTimeout = 15 * time.Second
	}
	if opts.MovesPerNode <= 0 {
		opts.MovesPerNode = DefaultMovesPerNode
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	log := opts.Logger.With("config_server", opts.ID)
	if err := os.MkdirAll(opts.Dir, 0o755); err != nil {
		return nil, err
	}

	// srv, not the named result s: "return nil, err" clears s before the
	// deferred clean-up below runs, and the closers need the server.
	srv := &Server{opts: opts, raw: raw, log: log, kick: make(chan struct{}, 1), history: newHistory()}
	srv.resetLeaderMemory()
	s = srv
	var closers []func()
	defer func() {
		if err != nil {
			for i := len(closers) - 1; i >= 0; i-- {
				closers[i]()
			}
		}
	}()

	// Raft transport first: its address is the one the others know.
	advertise, err := s.raftAdvertise()
	if err != nil {
		return nil, err
	}
	hlog := newRaftLogger(log)
	if opts.TLS != nil {
		if opts.TLSClient == nil {
			return nil, errors.New("configserver: TLS needs a client configuration too (for Raft and forwarding)")
		}
		stream, err := newTLSStream(opts.Raft, advertise, opts.TLS, opts.TLSClient)
		if err != nil {
			return nil, fmt.Errorf("configserver: raft transport: %w", err)
		}
		s.trans = raft.NewNetworkTransportWithLogger(stream, 3, 10*time.Second, hlog)
	} else if s.trans, err = raft.NewTCPTransportWithLogger(opts.Raft, advertise, 3, 10*time.Second, hlog); err != nil {
		return nil, fmt.Errorf("configserver: raft transport: %w", err)
	}
	closers = append(closers, func() { srv.trans.Close() })
	s.raftAddr = string(s.trans.LocalAddr())
	if a := s.peerRaft(); a != "" {
		s.raftAddr = a
	}

	if s.httpLn, err = net.Listen("tcp", opts.HTTP); err != nil {
		return nil, err
	}
	closers = append(closers, func() { srv.httpLn.Close() })
	s.httpAddr = s.advertised(s.httpLn.Addr())
	if opts.RESP != "" {
		if s.respLn, err = net.Listen("tcp", opts.RESP); err != nil {
			return nil, err
		}
		closers = append(closers, func() { srv.respLn.Close() })
		s.respAddr = s.advertised(s.respLn.Addr())
	}
	if opts.TLS != nil {
		s.httpLn = tls.NewListener(s.httpLn, opts.TLS)
		if s.respLn != nil {
			s.respLn = tls.NewListener(s.respLn, opts.TLS)
		}
	}

	// The RESP front: a data-server node that no table lists.
	s.reg = namespace.NewRegistry(func(uint16) engine.Engine { return mem.New(mem.Options{}) })
	closers = append(closers, srv.reg.Close)
	sum := sha1.Sum([]byte("granary-config-server:" + opts.ID))
	respPort := 0
	if s.respLn != nil {
		respPort = s.respLn.Addr().(*net.TCPAddr).Port
	}
	s.node = &command.Node{
		ID: hex.EncodeToString(sum[:]),
		Config: command.Config{
			MaxClients:   10000,
			Port:         respPort,
			ProtoMaxBulk: resp.DefaultLimits.MaxBulk,
		},
		Namespaces: s.reg,
		Started:    time.Now(),
		// Clients with a client-side cache (rueidis) enable CLIENT
		// TRACKING on every connection, this one included: accepted, and
		// idle, since keyed commands only get MOVED here.
		Tracking: tracking.New(tracking.Options{}),
	}
	s.fsm = newFSM(log, s.node.SetTable) // publishes the empty table: CLUSTERDOWN until the first build
	s.fsm.publishUsers = s.node.SetUsers

	// Raft.
	// A timeout on the file lock: a second server on the same directory
	// fails instead of waiting forever.
	boltOpts := &bbolt.Options{Timeout: 2 * time.Second}
	if s.store, err = raftboltdb.New(raftboltdb.Options{Path: filepath.Join(opts.Dir, "raft.db"), BoltOptions: boltOpts}); err != nil {
		return nil, fmt.Errorf("configserver: raft store: %w", err)
	}
	closers = append(closers, func() { srv.store.Close() })
	snaps, err := raft.NewFileSnapshotStoreWithLogger(opts.Dir, 2, hlog)
	if err != nil {
		return nil, fmt.Errorf("configserver: snapshot store: %w", err)
	}
	logs, err := raft.NewLogCache(256, s.store)
	if err != nil {
		return nil, err
	}
	cfg := raft.DefaultConfig()
	cfg.LocalID = raft.ServerID(opts.ID)
	cfg.Logger = hlog
	cfg.HeartbeatTimeout = opts.ElectionTimeout
	cfg.ElectionTimeout = opts.ElectionTimeout
	cfg.LeaderLeaseTimeout = opts.ElectionTimeout / 2
	cfg.SnapshotThreshold = 1024 // entries are few and small: snapshot often, restart fast
	if err := raft.ValidateConfig(cfg); err != nil {
		return nil, fmt.Errorf("configserver: %w", err)
	}
	existing, err := raft.HasExistingState(logs, s.store, snaps)
	if err != nil {
		return nil, fmt.Errorf("configserver: %w", err)
	}
	if s.raft, err = raft.NewRaft(cfg, s.fsm, logs, s.store, snaps, s.trans); err != nil {
		return nil, fmt.Errorf("configserver: raft: %w", err)
	}
	closers = append(closers, func() { srv.raft.Shutdown().Error() })
	switch {
	case existing:
		log.Info("config server: raft state found", "dir", opts.Dir, "last_index", s.raft.LastIndex())
	case len(opts.Peers) > 0:
		conf, err := s.bootstrapConfiguration()
		if err != nil {
			return nil, err
		}
		if err := s.raft.BootstrapCluster(conf).Error(); err != nil && !errors.Is(err, raft.ErrCantBootstrap) {
			return nil, fmt.Errorf("configserver: bootstrap: %w", err)
		}
		log.Info("config server: bootstrapped the raft group", "voters", len(conf.Servers))
	default:
		log.Info("config server: no raft state and no peers: waiting to be added to a group")
	}

	// Serving.
	s.initHTTP()
	runCtx, cancel := context.WithCancel(context.Background())
	s.running, s.cancel = runCtx, cancel
	obsCh := make(chan raft.Observation, 16)
	s.obs = raft.NewObserver(obsCh, false, func(o *raft.Observation) bool {
		_, ok := o.Data.(raft.LeaderObservation)
		return ok
	})
	s.raft.RegisterObserver(s.obs)
	s.wg.Add(3)
	go s.observe(runCtx, obsCh)
	go s.run(runCtx)
	go s.sampleStats(runCtx)
	go func() {
		if err := s.httpSrv.Serve(s.httpLn); err != nil && !errors.Is(err, http.ErrServerClosed) {
			log.Error("config server: http stopped", "addr", s.httpAddr, "err", err)
		}
	}()
	if s.respLn != nil {
		s.respSrv = server.New(s.node, server.Options{MaxClients: s.node.Config.MaxClients, Logger: log})
		s.respDone = make(chan struct{})
		go func() {
			defer close(s.respDone)
			if err := s.respSrv.Serve(context.Background(), s.respLn); err != nil {
				log.Error("config server: resp stopped", "addr", s.respAddr, "err", err)
			}
		}()
	}
	s.stopAfter = context.AfterFunc(ctx, func() { s.Close() })
	log.Info("config server started", "raft", s.raftAddr, "http", s.httpAddr, "resp", s.respAddr,
		"auto_add", opts.AutoAdd, "copies", opts.Copies, "min_nodes", opts.MinNodes)
	return s, nil
}

// raftAdvertise returns the address to advertise for the Raft transport
// when the bind address is not one (a wildcard host): this server's entry in
// Peers. nil lets the transport advertise its listener's address.
func (s *Server) raftAdvertise() (net.Addr, error) {
	host, _, err := net.SplitHostPort(s.opts.Raft)
	if err != nil {
		return nil, fmt.Errorf("configserver: raft address %q: %w", s.opts.Raft, err)
	}
	if ip := net.ParseIP(host); host != "" && (ip == nil || !ip.IsUnspecified()) {
		return nil, nil
	}
	for _, p := range s.opts.Peers {
		if p.ID == s.opts.ID {
			a, err := net.ResolveTCPAddr("tcp", p.Raft)
			if err != nil || a.IP == nil || a.IP.IsUnspecified() || a.Port == 0 {
				break
			}
			return a, nil
		}
	}
	return nil, fmt.Errorf("configserver: raft address %q has no host the others can reach: bind a concrete address (or list this server in peers with one)", s.opts.Raft)
}

// peerRaft returns this server's entry in Peers when it names a host and a
// port ("" otherwise). That entry, not the transport's resolved address, is
// this server's Raft address: every initial member then bootstraps the same
// configuration and records itself at the address the leader's configuration
// holds, and a host name (a container's, a StatefulSet pod's) stays valid
// when a restart gives the server a new IP.
func (s *Server) peerRaft() string {
	for _, p := range s.opts.Peers {
		if p.ID != s.opts.ID {
			continue
		}
		host, port, err := net.SplitHostPort(p.Raft)
		if err != nil || host == "" || port == "0" {
			return ""
		}
		if ip := net.ParseIP(host); ip != nil && ip.IsUnspecified() {
			return ""
		}
		return p.Raft
	}
	return ""
}

// advertised returns the address others reach a listener at: the listener's,
// with the Raft host when it listens on every interface.
func (s *Server) advertised(a net.Addr) string {
	host, port, _ := net.SplitHostPort(a.String())
	if ip := net.ParseIP(host); ip != nil && ip.IsUnspecified() {
		host, _, _ = net.SplitHostPort(s.raftAddr)
	}
	return net.JoinHostPort(host, port)
}

func (s *Server) bootstrapConfiguration() (raft.Configuration, error) {
	var conf raft.Configuration
	seen := map[string]bool{}
	self := false
	for _, p := range s.opts.Peers {
		if p.ID == "" || p.Raft == "" {
			return conf, fmt.Errorf("configserver: peer %+v: id and raft address are required", p)
		}
		if seen[p.ID] {
			return conf, fmt.Errorf("configserver: peer %s listed twice", p.ID)
		}
		seen[p.ID] = true
		addr := p.Raft
		if p.ID == s.opts.ID {
			self = true
			addr = s.raftAddr // p.Raft, or the bound address when p.Raft is not one (a :0 port)
		}
		conf.Servers = append(conf.Servers, raft.Server{Suffrage: raft.Voter, ID: raft.ServerID(p.ID), Address: raft.ServerAddress(addr)})
	}
	if !self {
		return conf, fmt.Errorf("configserver: peers must include this server (%s)", s.opts.ID)
	}
	return conf, nil
}

// Close leaves cleanly: a leader first hands leadership to another voter,
// then Raft, HTTP and RESP stop.
func (s *Server) Close() error { return s.shutdown(true) }

// shutdown stops the server; without transfer it stops as abruptly as Raft
// allows (as a crash would, for the tests).
func (s *Server) shutdown(transfer bool) error {
	s.closeOnce.Do(func() {
		if s.stopAfter != nil {
			s.stopAfter()
		}
		s.cancel()
		s.wg.Wait()
		if transfer && s.raft.State() == raft.Leader && s.voters() > 1 {
			start := time.Now()
			if err := s.raft.LeadershipTransfer().Error(); err != nil {
				s.log.Warn("config server: leadership transfer failed", "err", err)
			} else {
				s.log.Info("config server: leadership transferred", "took", time.Since(start))
			}
		}
		s.ready.Store(false)
		hctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		if s.httpSrv.Shutdown(hctx) != nil {
			s.httpSrv.Close() // a request still waiting on a forward
		}
		cancel()
		s.fwd.CloseIdleConnections()
		if s.respSrv != nil {
			s.respSrv.Close()
			<-s.respDone
		}
		s.reg.Close()
		s.raft.DeregisterObserver(s.obs)
		if err := s.raft.Shutdown().Error(); err != nil {
			s.closeErr = err
		}
		s.trans.Close()
		if err := s.store.Close(); err != nil && s.closeErr == nil {
			s.closeErr = err
		}
		s.log.Info("config server stopped")
	})
	return s.closeErr
}

func (s *Server) voters() int {
	f := s.raft.GetConfiguration()
	if f.Error() != nil {
		return 0
	}
	n := 0
	for _, sv := range f.Configuration().Servers {
		if sv.Suffrage == raft.Voter {
			n++
		}
	}
	return n
}

// ID returns this server's id.
func (s *Server) ID() string { return s.opts.ID }

// HTTPAddr returns the API address others reach this server at.
func (s *Server) HTTPAddr() string { return s.httpAddr }

// RESPAddr returns the RESP address, or "" without a RESP front.
func (s *Server) RESPAddr() string { return s.respAddr }

// RaftAddr returns the Raft transport address.
func (s *Server) RaftAddr() string { return s.raftAddr }

// IsLeader reports whether this server leads the group and is ready to
// serve as leader.
func (s *Server) IsLeader() bool { return s.leading() }

// leading reports whether this server is the leader, caught up with the
// log of its term (see becomeLeader).
func (s *Server) leading() bool {
	return s.ready.Load() && s.raft.State() == raft.Leader && s.raft.CurrentTerm() == s.leaderTerm.Load()
}

// Leader returns the leader's id and API address ("" when unknown).
func (s *Server) Leader() (id, httpAddr string) {
	_, lid := s.raft.LeaderWithID()
	id = string(lid)
	switch {
	case id == "":
	case id == s.opts.ID:
		httpAddr = s.httpAddr
	default:
		if cs, ok := s.fsm.server(id); ok {
			httpAddr = cs.HTTP
		}
	}
	return id, httpAddr
}

// WaitLeader waits until the group has a leader whose API address is known
// here (so that writes can be forwarded to it), and, when this server is the
// leader, until it is ready.
func (s *Server) WaitLeader(ctx context.Context) error {
	t := time.NewTicker(10 * time.Millisecond)
	defer t.Stop()
	for {
		id, addr := s.Leader()
		if id != "" && addr != "" && (id != s.opts.ID || s.leading()) {
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-t.C:
		}
	}
}

// apply commits one entry and returns the FSM's answer. Raft errors (not
// the leader, shut down, timeout) become 503s, which clients retry.
func (s *Server) apply(e *entry) error {
	data, err := marshalEntry(e)
	if err != nil {
		return err
	}
	f := s.raft.Apply(data, applyTimeout)
	if err := f.Error(); err != nil {
		return errf(http.StatusServiceUnavailable, "commit failed: %v", err)
	}
	if r, ok := f.Response().(error); ok && r != nil {
		return r
	}
	return nil
}

func (s *Server) kickLoop() {
	select {
	case s.kick <- struct{}{}:
	default:
	}
}

func itoa(n int) string { return strconv.Itoa(n) }
