package main

import (
	"errors"
	"fmt"
	"os"
	"runtime"
	"runtime/debug"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"granary/internal/dataserver"
	"granary/internal/replication"
	"granary/internal/tlsconfig"
	"granary/internal/tracking"
)

// defaultGCPercent is a data server's GOGC unless told otherwise. The
// in-memory engine keeps its data in pointer-free arena blocks of the Go
// heap, which a collection does not scan: collections stay cheap however
// much data a server holds, while Go's default of 100 would let its memory
// double before one, and every page of the garbage in between is touched
// for the first time (a page fault each). A migration's tables and copies
// on a freshly loaded server were a third of its CPU that way.
const defaultGCPercent = 25

// setGCPercent sets the process's GC target for data servers (see
// gcTarget): granary data, and granary dev, whose data servers run in its
// process.
func setGCPercent(flagGiven bool, flag int) {
	if p, ok := gcTarget(flagGiven, os.Getenv("GOGC"), flag); ok {
		debug.SetGCPercent(p)
	}
}

// gcTarget returns the GC percent to set, if any: the flag's when given,
// else the environment's GOGC stands, else the flag's default.
func gcTarget(flagGiven bool, env string, flag int) (int, bool) {
	if flagGiven || env == "" {
		return flag, true
	}
	return 0, false
}

func dataCmd() *cobra.Command {
	var o dataserver.Options
	var quota, replLog, diskCache, moveRate sizeFlag
	diskRowCache := sizeFlag(256 << 20)
	var procs, gcPercent int
	var trackingMaxKeys int64
	var configServers addrList
	var flow flowFlag
	var tlsFiles tlsconfig.Files
	cmd := &cobra.Command{
		Use:   "data",
		Short: "Run a data server",
		Long: `Run a data server: it stores buckets in its engines and serves them over RESP.

With --config-servers it joins a cluster: it heartbeats the config servers
(their HTTP API addresses), serves the buckets of the routing table they
publish and answers MOVED for the others. Until the first table arrives it
serves no bucket (CLUSTERDOWN). If every config server is down it keeps
serving with the table it has. A node the config servers do not know is
refused until it is added with 'granary ctl node add <id>' (its id is logged,
and kept in --dir so that a restarted server is the same node); config
servers started with auto-add accept new nodes by themselves.

With --standalone it owns all 16384 buckets and needs no config server; it still
answers CLUSTER SLOTS/SHARDS/NODES as a one-node cluster, so cluster clients work.

One of --standalone and --config-servers is required.`,
		Example: `  # a cluster member, with the config servers' API addresses
  granary data --config-servers 10.0.0.1:8198,10.0.0.2:8198,10.0.0.3:8198 \
      --listen 0.0.0.0:5191 --advertise 10.0.1.7:5191 --http 0.0.0.0:8191 \
      --dir /var/lib/granary/data --zone rack-a

  # on one machine, next to 'granary config'
  granary data --config-servers 127.0.0.1:8198 --listen 127.0.0.1:7001 --http 127.0.0.1:8001 --dir ./data1

  # with TLS on the RESP port, replication links and heartbeats
  granary data --config-servers 10.0.0.1:8198 --listen 10.0.1.7:5191 \
      --tls-cert-file node.crt --tls-key-file node.key --tls-ca-cert-file ca.crt

  # without config servers
  granary data --standalone --listen 127.0.0.1:5191 --http 127.0.0.1:8191
  granary data --standalone --requirepass s3cret --maxmemory 4gb
  granary data --standalone --flow-limit 0:ops=50000 --flow-limit 2:ops=1000,bytes=5mb`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			log, err := newLogger(cmd)
			if err != nil {
				return err
			}
			o.ConfigServers = configServers
			switch {
			case o.Standalone && len(o.ConfigServers) > 0:
				return errors.New("--standalone and --config-servers exclude each other: a data server either owns every bucket or is run by config servers")
			case !o.Standalone && len(o.ConfigServers) == 0:
				return errors.New("give --config-servers host:port[,host:port...] (the config servers' HTTP API addresses) to join a cluster, or --standalone to run alone")
			}
			if procs > 0 {
				runtime.GOMAXPROCS(procs)
			}
			setGCPercent(cmd.Flags().Changed("gc-percent"), gcPercent)
			o.Quota = int64(quota)
			o.ReplLog = int64(replLog)
			o.MoveRate = int64(moveRate)
			o.Disk.Cache = int64(diskCache)
			if o.Disk.RowCache = int64(diskRowCache); diskRowCache == 0 {
				o.Disk.RowCache = -1 // off
			}
			if o.TrackingMaxKeys = trackingMaxKeys; trackingMaxKeys == 0 {
				o.TrackingMaxKeys = -1 // as Redis: 0 is no bound
			}
			if o.ClusterSecret == "" {
				o.ClusterSecret = os.Getenv("GRANARY_CLUSTER_SECRET")
			}
			o.FlowLimits = flow
			if o.TLS, o.TLSClient, err = serverTLS(tlsFiles); err != nil {
				return err
			}
			if o.TLSHTTP && o.TLS == nil {
				return errors.New("--tls-http serves the HTTP port with --tls-cert-file's certificate: give --tls-cert-file and --tls-key-file")
			}
			o.Logger = log
			return runDataServer(cmd, o)
		},
	}
	f := cmd.Flags()
	f.BoolVar(&o.Standalone, "standalone", false, "own every bucket, without config servers")
	f.Var(&configServers, "config-servers", "config servers' HTTP API addresses, comma-separated host:port (cluster mode)")
	f.StringVar(&o.ID, "id", "", "node id, 40 hex characters (default: the one saved in --dir, else a new one, saved there)")
	f.StringVar(&o.Dir, "dir", "", "data directory: keeps the node id across restarts (empty: none, a new id at every start)")
	f.StringVar(&o.Zone, "zone", "", "zone (rack, room) of this node: copies of a bucket go to different zones when possible")
	f.StringVar(&o.Advertise, "advertise", "", "host[:port] announced to config servers and clients (default: the --listen address; required when listening on 0.0.0.0 or ::)")
	f.StringVar(&o.Listen, "listen", "127.0.0.1:5191", "RESP address to listen on (loopback unless told otherwise)")
	f.StringVar(&o.HTTP, "http", "127.0.0.1:8191", "HTTP address for /metrics and /healthz (empty: off)")
	f.BoolVar(&o.Pprof, "pprof", false, "serve the Go profiler under /debug/pprof/ on the HTTP address")
	f.StringVar(&o.RequirePass, "requirepass", "", "password of the default user, who may do everything; when set, clients must log in first: AUTH pass, or AUTH user pass as a user of the config servers (docs/security.md) (empty: no password)")
	f.IntVar(&o.MaxClients, "maxclients", 10000, "most simultaneous client connections")
	f.IntVar(&procs, "procs", 0, "CPU cores used to serve (GOMAXPROCS; 0: all). Fewer leaves cores to co-located processes")
	f.IntVar(&gcPercent, "gc-percent", defaultGCPercent, "Go garbage collection target (GOGC): the heap grows by this percent of what is live before a collection. The in-memory engine's data is live heap, so this bounds how far memory grows past the data in garbage (tables, copies sent, replies); -1 turns collection off, as GOGC=off; the environment's GOGC applies when this flag is not given")
	f.IntVar(&o.EventLoops, "event-loops", 0, "standalone: epoll loops that serve the clients (0: one per core of --procs; -1: none, a goroutine per connection as in cluster mode)")
	f.Var(&quota, "maxmemory", "memory quota of each namespace, e.g. 512mb or 4gb (0: unlimited); with config servers, of each namespace they do not define (those get their quota's share)")
	f.StringVar(&o.ClusterSecret, "cluster-secret", "", "secret data servers present to each other on replication links (env GRANARY_CLUSTER_SECRET; default: --requirepass)")
	f.DurationVar(&o.Lease, "lease", replication.DefaultLease, "primary lease: a primary cut off from a secondary stops serving after this long, and a promoted one starts no earlier (keep it below the config servers' --down-timeout)")
	f.Var(&moveRate, "move-rate", "bandwidth of the bucket copies this node sends to migration targets, per peer, e.g. 64mb (per second; 0: unlimited)")
	f.Var(&replLog, "repl-log", "replication log kept in memory for catch-up by replay, e.g. 64mb (0: 64mb); a replica away longer than this covers gets a snapshot")
	f.StringVar(&o.Engine, "engine", "mem", "engine of namespaces the config servers do not define: mem (in memory) or disk (persistent, in --dir)")
	f.StringVar(&o.Disk.Sync, "disk-sync", "everysec", "WAL sync policy of disk namespaces: always (fsync before replying: a crash or power failure loses nothing acknowledged) or everysec (fsync every --disk-sync-interval: a crash or power failure loses up to that much)")
	f.DurationVar(&o.Disk.Interval, "disk-sync-interval", time.Second, "period of --disk-sync everysec: staged writes go into the store and its log is fsynced once a period")
	f.Var(&diskCache, "disk-cache", "block cache of disk namespaces, e.g. 256mb (0: 256mb)")
	f.Var(&diskRowCache, "disk-row-cache", "row cache of disk namespaces: recently read and written items kept in memory in front of the block cache, e.g. 1gb (0: off)")
	f.Int64Var(&trackingMaxKeys, "tracking-table-max-keys", tracking.DefaultMaxKeys, "client-side caching: most keys remembered for tracking clients; beyond it keys are forgotten and their readers invalidated (0: no bound; CONFIG SET tracking-table-max-keys changes it)")
	f.Var(&flow, "flow-limit", "flow limits of a namespace on this server, ID:ops=N[,bytes=SIZE] per second (repeat for more namespaces); commands over them get THROTTLED. With config servers, only for namespaces they do not define (use 'granary ctl namespace update' for those)")
	f.BoolVar(&o.DebugCommands, "enable-debug-commands", false, "enable commands for tests only: GRANARY.DEBUG-SETLOCAL writes to this node's copy without replicating it (makes replicas differ, to test 'granary ctl verify'); never in production")
	f.StringVar(&o.SourceAddr, "source-addr", "", "local IP that outgoing connections (replication, heartbeats) leave from, as Redis' bind-source-addr (empty: any)")
	addServerTLSFlags(f, &tlsFiles)
	f.BoolVar(&o.TLSHTTP, "tls-http", false, "serve /metrics and /healthz over TLS too (Prometheus then scrapes with scheme: https)")
	addLogFlags(cmd)
	addConfigFlag(cmd)
	return cmd
}

// runDataServer starts a data server and blocks until the command's context ends.
func runDataServer(cmd *cobra.Command, o dataserver.Options) error {
	ctx := cmd.Context()
	ds, err := dataserver.Start(ctx, o)
	if err != nil {
		return err
	}
	o.Logger.Info("data server ready", "resp", ds.Addr(), "http", ds.HTTPAddr(), "id", ds.Node().ID)
	<-ctx.Done()
	o.Logger.Info("shutting down")
	return ds.Close()
}

// addrList is a list of host:port addresses given comma-separated (or, from a
// config file, as a YAML list). Setting it again replaces the list.
type addrList []string

func (l *addrList) String() string { return strings.Join(*l, ",") }

func (l *addrList) Type() string { return "addrs" }

func (l *addrList) Set(s string) error {
	// A YAML list reaches Set as fmt.Sprint's "[a b]".
	s = strings.TrimSuffix(strings.TrimPrefix(strings.TrimSpace(s), "["), "]")
	var out []string
	for _, a := range strings.FieldsFunc(s, func(r rune) bool { return r == ',' || r == ' ' || r == '\t' }) {
		if !strings.Contains(a, ":") {
			return fmt.Errorf("%q: want host:port", a)
		}
		out = append(out, a)
	}
	*l = out
	return nil
}
