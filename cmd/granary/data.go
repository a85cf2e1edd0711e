package main

import (
	"fmt"
	"runtime"

	"github.com/spf13/cobra"

	"granary/internal/dataserver"
)

func dataCmd() *cobra.Command {
	var o dataserver.Options
	var quota sizeFlag
	var procs int
	cmd := &cobra.Command{
		Use:   "data",
		Short: "Run a data server",
		Long: `Run a data server: it stores buckets in its engines and serves them over RESP.

With --standalone it owns all 16384 buckets and needs no config server; it still
answers CLUSTER SLOTS/SHARDS/NODES as a one-node cluster, so cluster clients work.`,
		Example: `  granary data --standalone --listen 127.0.0.1:5191 --http 127.0.0.1:8191
  granary data --standalone --requirepass s3cret --maxmemory 4gb`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			log, err := newLogger(cmd)
			if err != nil {
				return err
			}
			if !o.Standalone {
				return fmt.Errorf("only --standalone is available in this version")
			}
			if procs > 0 {
				runtime.GOMAXPROCS(procs)
			}
			o.Quota = int64(quota)
			o.Logger = log
			return runDataServer(cmd, o)
		},
	}
	f := cmd.Flags()
	f.BoolVar(&o.Standalone, "standalone", false, "own every bucket, without config servers")
	f.StringVar(&o.Listen, "listen", "127.0.0.1:5191", "RESP address to listen on (loopback unless told otherwise)")
	f.StringVar(&o.HTTP, "http", "127.0.0.1:8191", "HTTP address for /metrics and /healthz (empty: off)")
	f.BoolVar(&o.Pprof, "pprof", false, "serve the Go profiler under /debug/pprof/ on the HTTP address")
	f.StringVar(&o.RequirePass, "requirepass", "", "password clients must AUTH with (empty: none)")
	f.IntVar(&o.MaxClients, "maxclients", 10000, "most simultaneous client connections")
	f.IntVar(&procs, "procs", 0, "CPU cores used to serve (GOMAXPROCS; 0: all). Fewer leaves cores to co-located processes")
	f.Var(&quota, "maxmemory", "memory quota of each namespace, e.g. 512mb or 4gb (0: unlimited)")
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
	o.Logger.Info("data server ready", "resp", ds.Addr(), "http", ds.HTTPAddr())
	<-ctx.Done()
	o.Logger.Info("shutting down")
	return ds.Close()
}
