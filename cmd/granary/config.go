package main

import (
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"granary/internal/configserver"
	"granary/internal/tlsconfig"
)

func configCmd() *cobra.Command {
	var o configserver.Options
	var peers string
	var join bool
	var tlsFiles tlsconfig.Files
	cmd := &cobra.Command{
		Use:   "config",
		Short: "Run a config server",
		Long: `Run a config server: a member of the Raft group (1, 3 or 5 servers) that keeps
the data servers, the routing table and the namespaces, detects failed data
servers and rebuilds the table. Data servers heartbeat it; clients read the
table from it with CLUSTER SLOTS/SHARDS/NODES on --listen; 'granary ctl' uses
its HTTP API on --http.

--peers lists the initial voters as id=raft-address, the same list on every
initial member (each server finds itself in it by --id); they elect a leader
once a majority of them runs. Without --peers a server bootstraps a group of
its own, alone. With --join it bootstraps nothing and waits to be added to an
existing group with 'granary ctl config-server add'. State is kept in --dir; a
server restarted on the same --dir rejoins its group and ignores --peers.`,
		Example: `  # one config server (development, small clusters)
  granary config --id cs1

  # three config servers: run on each host, changing --id and the addresses
  granary config --id cs1 --raft 10.0.0.1:5199 --http 10.0.0.1:8198 --listen 10.0.0.1:5198 \
    --peers cs1=10.0.0.1:5199,cs2=10.0.0.2:5199,cs3=10.0.0.3:5199
  granary config --id cs2 --raft 10.0.0.2:5199 --http 10.0.0.2:8198 --listen 10.0.0.2:5198 \
    --peers cs1=10.0.0.1:5199,cs2=10.0.0.2:5199,cs3=10.0.0.3:5199
  granary config --id cs3 --raft 10.0.0.3:5199 --http 10.0.0.3:8198 --listen 10.0.0.3:5198 \
    --peers cs1=10.0.0.1:5199,cs2=10.0.0.2:5199,cs3=10.0.0.3:5199

  # a fourth server joining a running group: start it, then add it from anywhere
  granary config --id cs4 --raft 10.0.0.4:5199 --http 10.0.0.4:8198 --listen 10.0.0.4:5198 --join
  granary ctl --config-servers 10.0.0.1:8198 config-server add cs4 --raft 10.0.0.4:5199 --http 10.0.0.4:8198

  # TLS on the RESP port, the HTTP API and Raft (data servers and granary ctl
  # then need --tls-ca-cert-file ca.crt)
  granary config --id cs1 --tls-cert-file cs1.crt --tls-key-file cs1.key --tls-ca-cert-file ca.crt

  # from a file of flag values
  granary config --config /etc/granary/config.yaml`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			log, err := newLogger(cmd)
			if err != nil {
				return err
			}
			if o.ID == "" {
				return fmt.Errorf("--id is required")
			}
			if o.Dir == "" {
				o.Dir = "./granary-config-" + o.ID
			}
			if o.Peers, err = parsePeers(peers); err != nil {
				return err
			}
			switch {
			case join && len(o.Peers) > 0:
				return fmt.Errorf("--join and --peers exclude each other: --peers bootstraps a new group, --join waits to be added to a running one")
			case len(o.Peers) > 0 && !slices.ContainsFunc(o.Peers, func(p configserver.Peer) bool { return p.ID == o.ID }):
				return fmt.Errorf("--peers must list this server too (%s=%s), with the same list on every initial member", o.ID, o.Raft)
			case !join && len(o.Peers) == 0:
				o.Peers = []configserver.Peer{{ID: o.ID, Raft: o.Raft}} // a group of one
			}
			// Unset, they take the cluster's replicated settings (or the
			// defaults for a new cluster) without a warning that they differ.
			if !cmd.Flags().Changed("copies") {
				o.Copies = 0
			}
			if !cmd.Flags().Changed("min-nodes") {
				o.MinNodes = 0
			}
			if o.TLS, o.TLSClient, err = serverTLS(tlsFiles); err != nil {
				return err
			}
			o.Logger = log
			return runConfigServer(cmd, o)
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.ID, "id", "", "this config server's id in the Raft group, e.g. cs1 (required)")
	f.StringVar(&o.Dir, "dir", "", "directory of the Raft log and snapshots (default ./granary-config-<id>)")
	f.StringVar(&o.Raft, "raft", "127.0.0.1:5199", "Raft address, reachable by the other config servers")
	f.StringVar(&o.HTTP, "http", "127.0.0.1:8198", "HTTP address: the API (data servers, granary ctl), the web dashboard (/ui/) and /metrics")
	f.StringVar(&o.RESP, "listen", "127.0.0.1:5198", "RESP address: CLUSTER SLOTS/SHARDS/NODES for cluster clients")
	f.StringVar(&peers, "peers", "", "initial voters, id=raft-address,... the same on every initial member (empty: bootstrap alone)")
	f.BoolVar(&join, "join", false, "bootstrap nothing: wait to be added to a running group ('granary ctl config-server add')")
	f.BoolVar(&o.Pprof, "pprof", false, "serve the Go profiler under /debug/pprof/ on the HTTP API address")
	f.BoolVar(&o.AutoAdd, "auto-add", false, "let any data server that heartbeats join, without 'granary ctl node add'")
	f.IntVar(&o.Copies, "copies", 2, "replicas of each bucket, primary included (taken when the group is first bootstrapped)")
	f.IntVar(&o.MinNodes, "min-nodes", 1, "data servers that must be up before the first table is built (taken when the group is first bootstrapped)")
	f.DurationVar(&o.DownTimeout, "down-timeout", 1500*time.Millisecond, "silence after which a data server is down and its buckets' next replicas lead (keep it above the data servers' --lease)")
	f.DurationVar(&o.HeartbeatInterval, "heartbeat", 250*time.Millisecond, "heartbeat interval asked of data servers")
	f.DurationVar(&o.ReplaceAfter, "replace-after", 30*time.Second, "how long a bucket may lack copies before they are restored on nodes that never held it (a node that held it and is back gets it at once)")
	f.IntVar(&o.MovesPerNode, "moves-per-node", configserver.DefaultMovesPerNode, "buckets a data server takes part in moving at once during a migration (as primary or as target)")
	addServerTLSFlags(f, &tlsFiles)
	addLogFlags(cmd)
	addConfigFlag(cmd)
	return cmd
}

// parsePeers parses "id=raft,id=raft".
func parsePeers(s string) ([]configserver.Peer, error) {
	var out []configserver.Peer
	seen := map[string]bool{}
	for _, item := range strings.Split(s, ",") {
		item = strings.TrimSpace(item)
		if item == "" {
			continue
		}
		id, addr, ok := strings.Cut(item, "=")
		id, addr = strings.TrimSpace(id), strings.TrimSpace(addr)
		if !ok || id == "" || addr == "" {
			return nil, fmt.Errorf("--peers: %q is not id=raft-address", item)
		}
		if seen[id] {
			return nil, fmt.Errorf("--peers: %s listed twice", id)
		}
		seen[id] = true
		out = append(out, configserver.Peer{ID: id, Raft: addr})
	}
	return out, nil
}

// runConfigServer starts a config server and blocks until the command's context ends.
func runConfigServer(cmd *cobra.Command, o configserver.Options) error {
	ctx := cmd.Context()
	cs, err := configserver.Start(ctx, o)
	if err != nil {
		return err
	}
	o.Logger.Info("config server ready", "id", o.ID, "raft", o.Raft, "http", cs.HTTPAddr(), "resp", cs.RESPAddr(), "dir", o.Dir)
	<-ctx.Done()
	o.Logger.Info("shutting down")
	return cs.Close()
}
