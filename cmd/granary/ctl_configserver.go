package main

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"slices"
	"sync"
	"time"

	"github.com/spf13/cobra"

	"granary/internal/clusterapi"
)

func ctlConfigServerCmd(e *ctlEnv) *cobra.Command {
	cmd := &cobra.Command{
		Use:     "config-server",
		Aliases: []string{"cs"},
		Short:   "List, add and remove config servers (members of the Raft group)",
		Args:    cobra.NoArgs,
		RunE:    func(cmd *cobra.Command, _ []string) error { return cmd.Help() },
	}
	list := &cobra.Command{
		Use:   "list",
		Short: "List the config servers",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return e.configServers(cmd, func(ctx context.Context, c *clusterapi.Client) ([]clusterapi.ConfigServer, error) {
				return c.ConfigServers(ctx)
			})
		},
	}
	var cs clusterapi.ConfigServer
	var force bool
	add := &cobra.Command{
		Use:   "add ID --raft ADDR --http ADDR",
		Short: "Add a config server to the Raft group as a voter",
		Long: `Add a config server to the Raft group as a voter. Start it first with
'granary config --id ID --join' (it waits to be added), then add it here.

A voter counts towards the quorum from the moment it is added: adding one that
does not run stalls the group (a group of one then has no leader). So this
command first checks that the new server answers on --http with the id given;
--force skips the check. Grow a group one server at a time: 1, 2, 3 (and 5).`,
		Example: `  granary config --id cs2 --raft 10.0.0.2:5199 --http 10.0.0.2:8198 --listen 10.0.0.2:5198 --join
  granary ctl config-server add cs2 --raft 10.0.0.2:5199 --http 10.0.0.2:8198`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			cs.ID = args[0]
			if cs.Raft == "" {
				return fmt.Errorf("--raft is required: the new server's Raft address")
			}
			if cs.HTTP == "" && !force {
				return fmt.Errorf("--http is required (the new server's API address, to check that it runs), or --force")
			}
			if !force {
				if err := e.checkNewConfigServer(cmd, cs); err != nil {
					return err
				}
			}
			return e.configServers(cmd, func(ctx context.Context, c *clusterapi.Client) ([]clusterapi.ConfigServer, error) {
				return c.AddConfigServer(ctx, cs)
			})
		},
	}
	add.Flags().BoolVar(&force, "force", false, "add it without checking that it answers")
	add.Flags().StringVar(&cs.Raft, "raft", "", "the new server's Raft address (its --raft)")
	add.Flags().StringVar(&cs.HTTP, "http", "", "the new server's API address (its --http)")
	add.Flags().StringVar(&cs.RESP, "resp", "", "the new server's RESP address (its --listen)")
	remove := &cobra.Command{
		Use:   "remove ID",
		Short: "Remove a config server from the Raft group",
		Long: `Remove a config server from the Raft group. Keep an odd number of voters, and
remove a dead server before adding its replacement.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return e.configServers(cmd, func(ctx context.Context, c *clusterapi.Client) ([]clusterapi.ConfigServer, error) {
				return c.RemoveConfigServer(ctx, args[0])
			})
		},
	}
	cmd.AddCommand(list, add, remove)
	return cmd
}

// configServers runs a call that answers with the group and prints it.
func (e *ctlEnv) configServers(cmd *cobra.Command, f func(context.Context, *clusterapi.Client) ([]clusterapi.ConfigServer, error)) error {
	var css []clusterapi.ConfigServer
	if err := e.call(cmd, func(ctx context.Context, c *clusterapi.Client) (err error) {
		css, err = f(ctx, c)
		return err
	}); err != nil {
		return err
	}
	if e.json {
		if css == nil {
			css = []clusterapi.ConfigServer{}
		}
		return printJSON(cmd.OutOrStdout(), css)
	}
	return printConfigServers(cmd.OutOrStdout(), css, e.probeConfigServers(cmd.Context(), css))
}

// printConfigServers prints the group; health (from probeConfigServers)
// adds whether each server's API answers.
func printConfigServers(w io.Writer, css []clusterapi.ConfigServer, health map[string]string) error {
	slices.SortFunc(css, func(a, b clusterapi.ConfigServer) int { return cmp.Compare(a.ID, b.ID) })
	tw := newTab(w)
	fmt.Fprint(tw, "CONFIG SERVER\tROLE\tRAFT\tHTTP\tRESP")
	if health != nil {
		fmt.Fprint(tw, "\tAPI")
	}
	fmt.Fprintln(tw)
	for _, c := range css {
		role := "follower"
		switch {
		case c.Leader:
			role = "leader"
		case !c.Voter:
			role = "non-voter"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s", c.ID, role, orDash(c.Raft), orDash(c.HTTP), orDash(c.RESP))
		if health != nil {
			fmt.Fprintf(tw, "\t%s", health[c.ID])
		}
		fmt.Fprintln(tw)
	}
	return tw.Flush()
}

// probeConfigServers asks every config server for its status, in parallel,
// and says for each whether it answers: "ok", "no leader" or the error.
func (e *ctlEnv) probeConfigServers(ctx context.Context, css []clusterapi.ConfigServer) map[string]string {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	out := make(map[string]string, len(css))
	var mu sync.Mutex
	var wg sync.WaitGroup
	for _, cs := range css {
		if cs.HTTP == "" {
			out[cs.ID] = "-"
			continue
		}
		wg.Go(func() {
			h := "ok"
			st, err := e.client([]string{cs.HTTP}).Status(ctx)
			switch {
			case err != nil && ctx.Err() != nil:
				h = "no answer"
			case err != nil:
				var ue *url.Error
				if errors.As(err, &ue) {
					err = ue.Err
				}
				var oe *net.OpError
				if errors.As(err, &oe) && oe.Err != nil {
					err = oe.Err
				}
				h = "down: " + err.Error()
			case st.Leader == "":
				h = "ok, sees no leader"
			}
			mu.Lock()
			out[cs.ID] = h
			mu.Unlock()
		})
	}
	wg.Wait()
	return out
}

// checkNewConfigServer checks that the server to add runs: that its API
// answers at cs.HTTP as cs.ID.
func (e *ctlEnv) checkNewConfigServer(cmd *cobra.Command, cs clusterapi.ConfigServer) error {
	ctx, cancel := context.WithTimeout(cmd.Context(), min(e.timeout, 5*time.Second))
	defer cancel()
	st, err := e.client([]string{cs.HTTP}).Status(ctx)
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		return fmt.Errorf("config server %s does not answer at %s (%v): start it first with 'granary config --id %s --raft %s --http %s --join', or add --force",
			cs.ID, cs.HTTP, err, cs.ID, cs.Raft, cs.HTTP)
	}
	if st.ID != cs.ID {
		return fmt.Errorf("the config server at %s is %s, not %s", cs.HTTP, st.ID, cs.ID)
	}
	return nil
}
