package main

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"granary/internal/certgen"
	"granary/internal/clusterapi"
	"granary/internal/configserver"
	"granary/internal/dataserver"
	"granary/internal/tlsconfig"
)

// devOptions configure a dev cluster. A port of 0 picks a free one.
type devOptions struct {
	Dir          string // data directory; "" = a temporary one, removed at the end unless Keep
	Keep         bool
	Port         int  // config server RESP port
	HTTPPort     int  // config server HTTP (API, metrics) port
	RaftPort     int  // config server Raft port
	DataPort     int  // first data server's RESP port; the others follow
	DataHTTPPort int  // first data server's HTTP (metrics) port; the others follow
	Nodes        int  // data servers; 0 = 3
	TLS          bool // generate a CA and certificates in Dir/tls and serve every port over TLS
	Logger       *slog.Logger
	Out          io.Writer // where the greeting goes
}

// devCluster is a running dev cluster.
type devCluster struct {
	Dir    string
	Config *configserver.Server
	Data   []*dataserver.DataServer
	TLS    *certgen.Files // the generated files, with --tls
}

const (
	devCopies = 2
	devZone   = "dev"
)

func devCmd() *cobra.Command {
	o := devOptions{Out: os.Stdout}
	cmd := &cobra.Command{
		Use:   "dev",
		Short: "Run a whole local cluster in one process, for trying Granary out",
		Long: `Run a whole Granary cluster on loopback in one process: one config server
(RESP 5198, API, dashboard and metrics on HTTP 8198, Raft 5199) and three data servers
(RESP 7001-7003, metrics on HTTP 8001-8003), with a table placing two copies of
every bucket (a primary and a secondary that replicates it).
It waits until every bucket has its primary, then prints how to connect:

  redis-cli -c -p 5198

Cluster clients (redis-cli -c, go-redis, rueidis, Jedis, redis-py) learn the
table from the config server and then talk to the data servers directly.
Data lives in a temporary directory removed on exit, unless --dir or --keep.
Ctrl-C stops everything.

With --tls it makes a throwaway CA and certificates in <dir>/tls (for
127.0.0.1 and localhost) and serves every port over TLS:

  redis-cli --tls --cacert <dir>/tls/ca.crt -c -p 5198`,
		Example: `  granary dev
  granary dev --dir ./devdata --keep
  granary dev --tls --dir ./devdata
  granary dev --port 6198 --http-port 9198 --raft-port 6199 --data-port 17001 --data-http-port 18001`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			log, err := newLogger(cmd)
			if err != nil {
				return err
			}
			o.Logger = log
			o.Out = cmd.OutOrStdout()
			setGCPercent(false, defaultGCPercent)
			return runDev(cmd.Context(), o, nil)
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.Dir, "dir", "", "data directory (default: a temporary directory, removed on exit unless --keep)")
	f.BoolVar(&o.Keep, "keep", false, "keep the data directory on exit (always kept with --dir)")
	f.IntVar(&o.Port, "port", 5198, "config server RESP port: what clients connect to first")
	f.IntVar(&o.HTTPPort, "http-port", 8198, "config server HTTP port: the API for 'granary ctl', the web dashboard (/ui/), /metrics")
	f.IntVar(&o.RaftPort, "raft-port", 5199, "config server Raft port")
	f.IntVar(&o.DataPort, "data-port", 7001, "first data server's RESP port; the others take the next ones")
	f.IntVar(&o.DataHTTPPort, "data-http-port", 8001, "first data server's HTTP (metrics) port; the others take the next ones")
	f.BoolVar(&o.TLS, "tls", false, "serve every port over TLS, with a throwaway CA and certificates generated in <dir>/tls (new ones at every start)")
	addLogFlags(cmd)
	// Four servers' worth of info lines would bury the greeting: warn by default.
	lf := f.Lookup("log-level")
	lf.DefValue = "warn"
	_ = lf.Value.Set("warn")
	return cmd
}

// devAddr is 127.0.0.1:port, or port+i for a run of servers; port 0 stays 0
// (a free port).
func devAddr(port, i int) string {
	if port == 0 {
		return "127.0.0.1:0"
	}
	return net.JoinHostPort("127.0.0.1", strconv.Itoa(port+i))
}

// runDev starts a dev cluster, calls ready (if not nil) once every bucket has a
// primary and every data server holds the table, and runs until ctx ends;
// then it stops everything, data servers first.
func runDev(ctx context.Context, o devOptions, ready func(*devCluster)) (err error) {
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	if o.Out == nil {
		o.Out = io.Discard
	}
	if o.Nodes <= 0 {
		o.Nodes = 3
	}
	c := &devCluster{Dir: o.Dir}
	temp := false
	if c.Dir == "" {
		if c.Dir, err = os.MkdirTemp("", "granary-dev-"); err != nil {
			return err
		}
		temp = true
	}
	defer func() {
		if cerr := c.close(); err == nil {
			err = cerr
		}
		if temp && !o.Keep {
			if rerr := os.RemoveAll(c.Dir); rerr != nil && err == nil {
				err = rerr
			}
		} else {
			fmt.Fprintf(o.Out, "data kept in %s\n", c.Dir)
		}
	}()

	var srvTLS, cliTLS *tls.Config
	if o.TLS {
		if srvTLS, cliTLS, err = c.makeTLS(); err != nil {
			return err
		}
	}

	// The config server outlives ctx: close stops it after the data
	// servers, so that they do not spend their last moments looking for it.
	c.Config, err = configserver.Start(context.WithoutCancel(ctx), configserver.Options{
		ID:        "cs1",
		Dir:       filepath.Join(c.Dir, "config-cs1"),
		Raft:      devAddr(o.RaftPort, 0),
		Peers:     []configserver.Peer{{ID: "cs1", Raft: devAddr(o.RaftPort, 0)}}, // a group of one
		HTTP:      devAddr(o.HTTPPort, 0),
		RESP:      devAddr(o.Port, 0),
		AutoAdd:   true,
		Copies:    devCopies,
		MinNodes:  o.Nodes,
		TLS:       srvTLS,
		TLSClient: cliTLS,
		Logger:    slog.New(quietRaft{o.Logger.Handler()}).With("server", "config"),
	})
	if err != nil {
		return devPortHint(fmt.Errorf("starting the config server: %w", err))
	}
	wctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	err = c.Config.WaitLeader(wctx)
	cancel()
	if err != nil {
		if ctx.Err() != nil {
			return nil // interrupted while starting
		}
		return fmt.Errorf("config server: no leader: %w", err)
	}
	api := c.Config.HTTPAddr()

	for i := range o.Nodes {
		ds, err := dataserver.Start(ctx, dataserver.Options{
			Listen:        devAddr(o.DataPort, i),
			HTTP:          devAddr(o.DataHTTPPort, i),
			ConfigServers: []string{api},
			Dir:           filepath.Join(c.Dir, fmt.Sprintf("data-%d", i+1)),
			Zone:          devZone,
			TLS:           srvTLS,
			TLSClient:     cliTLS,
			TLSHTTP:       o.TLS,
			Logger:        o.Logger.With("server", fmt.Sprintf("data-%d", i+1)),
		})
		if err != nil {
			return devPortHint(fmt.Errorf("starting data server %d: %w", i+1, err))
		}
		c.Data = append(c.Data, ds)
	}

	if err := devWaitTable(ctx, clusterapi.NewClientTLS([]string{api}, cliTLS), c.Data, o.Logger); err != nil {
		if ctx.Err() != nil {
			return nil // interrupted while starting
		}
		return err
	}
	c.greet(o)
	if ready != nil {
		ready(c)
	}
	<-ctx.Done()
	fmt.Fprintln(o.Out, "stopping")
	return nil
}

// devPortHint adds what to do to an address-in-use error.
func devPortHint(err error) error {
	if errors.Is(err, syscall.EADDRINUSE) {
		return fmt.Errorf("%w\n(is another 'granary dev' running? --port, --http-port, --raft-port, --data-port and --data-http-port move this one)", err)
	}
	return err
}

// devWaitTable polls the config server until every bucket has a primary and
// every data server holds that table (it learns it from a heartbeat reply;
// until then it would answer CLUSTERDOWN).
func devWaitTable(ctx context.Context, api *clusterapi.Client, data []*dataserver.DataServer, log *slog.Logger) error {
	start := time.Now()
	warned := false
	held := func(epoch uint64) bool {
		for _, ds := range data {
			if t := ds.Node().Table(); t == nil || t.Epoch < epoch {
				return false
			}
		}
		return true
	}
	for {
		st, err := api.Status(ctx)
		if err == nil && st.Buckets > 0 && st.Unassigned == 0 && st.Epoch > 0 && held(st.Epoch) {
			return nil
		}
		if time.Since(start) > 10*time.Second && !warned {
			warned = true
			log.Warn("still waiting for the routing table", "status", st, "err", err)
		}
		if time.Since(start) > 60*time.Second {
			if err == nil {
				err = fmt.Errorf("%d of %d buckets unassigned", st.Unassigned, st.Buckets)
			}
			return fmt.Errorf("the routing table was not built within a minute: %w", err)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
}

func (c *devCluster) greet(o devOptions) {
	api := c.Config.HTTPAddr()
	_, port, _ := net.SplitHostPort(c.Config.RESPAddr())
	w := o.Out
	fmt.Fprintf(w, "Granary dev cluster: 1 config server, %d data servers, %d copies of each bucket\n\n", len(c.Data), devCopies)
	scheme, cliFlags, ctlFlags := "http", "", ""
	if c.TLS != nil {
		scheme = "https"
		cliFlags = " --tls --cacert " + c.TLS.CA
		ctlFlags = " --tls-ca-cert-file " + c.TLS.CA
	}
	fmt.Fprintf(w, "  connect:   redis-cli%s -c -p %s\n", cliFlags, port)
	if api == "127.0.0.1:8198" {
		fmt.Fprintf(w, "  status:    granary ctl%s status\n", ctlFlags)
	} else {
		fmt.Fprintf(w, "  status:    granary ctl%s --config-servers %s status\n", ctlFlags, api)
	}
	fmt.Fprintf(w, "  dashboard: %s://%s/ui/\n", scheme, api)
	fmt.Fprintf(w, "  API:       %s://%s/v1/status\n", scheme, api)
	fmt.Fprintf(w, "  metrics:   %s://%s/metrics (config server)\n", scheme, api)
	for i, ds := range c.Data {
		fmt.Fprintf(w, "             %s://%s/metrics (data server %d, RESP %s)\n", scheme, ds.HTTPAddr(), i+1, ds.Addr())
	}
	note := ""
	if o.Dir == "" && !o.Keep {
		note = " (removed on exit; --keep keeps it)"
	}
	fmt.Fprintf(w, "  data:      %s%s\n\nCtrl-C stops it.\n", c.Dir, note)
}

// makeTLS writes a fresh CA and certificates into Dir/tls and returns the
// servers' and their dialers' configurations.
func (c *devCluster) makeTLS() (srv, cli *tls.Config, err error) {
	files, err := certgen.WriteFiles(filepath.Join(c.Dir, "tls"), "127.0.0.1", "localhost", "::1")
	if err != nil {
		return nil, nil, err
	}
	c.TLS = &files
	return serverTLS(tlsconfig.Files{Cert: files.Cert, Key: files.Key, CA: files.CA})
}

// close stops the data servers, then the config server.
func (c *devCluster) close() error {
	var errs []error
	for _, ds := range c.Data {
		errs = append(errs, ds.Close())
	}
	if c.Config != nil {
		errs = append(errs, c.Config.Close())
	}
	return errors.Join(errs...)
}

// quietRaft drops Raft's warnings: a dev cluster's one config server elects
// itself at every start, which Raft reports as a missed heartbeat. Raft's
// errors still show.
type quietRaft struct{ slog.Handler }

func (q quietRaft) Handle(ctx context.Context, r slog.Record) error {
	if r.Level < slog.LevelError && strings.HasPrefix(r.Message, "raft: ") {
		return nil
	}
	return q.Handler.Handle(ctx, r)
}

func (q quietRaft) WithAttrs(as []slog.Attr) slog.Handler { return quietRaft{q.Handler.WithAttrs(as)} }
func (q quietRaft) WithGroup(name string) slog.Handler    { return quietRaft{q.Handler.WithGroup(name)} }
