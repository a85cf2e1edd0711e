package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/url"
	"os"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"granary/internal/clusterapi"
)

// defaultConfigServers is the config server API address granary ctl uses when
// neither --config-servers nor GRANARY_CONFIG_SERVERS says otherwise.
const defaultConfigServers = "127.0.0.1:8198"

// ctlEnv is what every ctl subcommand shares: the global flags and the client.
type ctlEnv struct {
	servers string
	json    bool
	timeout time.Duration
	ordered []string // the addresses, leader first (leaderFirst)
	tls     clientTLSFlags
}

func ctlCmd() *cobra.Command {
	e := &ctlEnv{}
	def := defaultConfigServers
	if v := strings.TrimSpace(os.Getenv("GRANARY_CONFIG_SERVERS")); v != "" {
		def = v
	}
	cmd := &cobra.Command{
		Use:   "ctl",
		Short: "Administer a Granary cluster through its config servers",
		Long: `Administer a Granary cluster through the config servers' HTTP API.

Every subcommand talks to the first config server in --config-servers that
answers (followers answer reads and forward changes to the leader). Output is
made for people; --json prints the API's JSON instead, for scripts.`,
		Example: `  granary ctl status
  granary ctl --config-servers 10.0.0.1:8198,10.0.0.2:8198,10.0.0.3:8198 nodes
  granary ctl table --full
  granary ctl namespace create 1 --name sessions --quota 1gb --ack sync
  granary ctl user add shop --password-stdin --namespaces 1 --commands read,write < shop.pass
  granary ctl --json nodes | jq -r '.[].addr'`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return cmd.Help() },
	}
	pf := cmd.PersistentFlags()
	pf.StringVar(&e.servers, "config-servers", def, "config server API addresses, comma-separated (env GRANARY_CONFIG_SERVERS)")
	pf.BoolVar(&e.json, "json", false, "print the API's JSON (indented) instead of tables")
	pf.DurationVar(&e.timeout, "timeout", 10*time.Second, "give up on the config servers after this long")
	e.tls.addFlags(pf)
	cmd.PersistentPreRunE = func(*cobra.Command, []string) error { return e.tls.load() }
	cmd.AddCommand(
		ctlStatusCmd(e),
		ctlNodesCmd(e),
		ctlNodeCmd(e),
		ctlTableCmd(e),
		ctlRebuildCmd(e),
		ctlRebalanceCmd(e),
		ctlMovesCmd(e),
		ctlNamespaceCmd(e),
		ctlUserCmd(e),
		ctlConfigServerCmd(e),
		ctlVerifyCmd(e),
	)
	return cmd
}

// addrs returns the --config-servers addresses.
func (e *ctlEnv) addrs() ([]string, error) {
	var addrs []string
	for _, a := range strings.Split(e.servers, ",") {
		if a = strings.TrimSpace(a); a != "" {
			a = strings.TrimPrefix(strings.TrimPrefix(a, "http://"), "https://")
			addrs = append(addrs, strings.TrimSuffix(a, "/"))
		}
	}
	if len(addrs) == 0 {
		return nil, errors.New("--config-servers: no address given")
	}
	return addrs, nil
}

// call runs f against the config servers in turn, within --timeout, until
// one of them gives an answer: a success or a refusal (4xx). The error is made
// for people: a config server's own message when one answered (so that "no
// leader" is not hidden behind the next server's "connection refused"), else
// what went wrong reaching them.
func (e *ctlEnv) call(cmd *cobra.Command, f func(ctx context.Context, c *clusterapi.Client) error) error {
	addrs, err := e.addrs()
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(cmd.Context(), e.timeout)
	defer cancel()
	addrs = e.leaderFirst(ctx, addrs)
	var answered *clusterapi.StatusError // a 5xx from a server that answered
	var unreachable []string
	for _, addr := range addrs {
		err := f(ctx, e.client([]string{addr}))
		var se *clusterapi.StatusError
		switch {
		case err == nil:
			return nil
		case errors.As(err, &se):
			if se.Code < 500 {
				return errors.New(se.Msg)
			}
			if answered == nil {
				answered = se
			}
		case ctx.Err() != nil:
			if answered != nil {
				return errors.New(answered.Msg)
			}
			return fmt.Errorf("no answer from the config servers at %s within %s", e.servers, e.timeout)
		default:
			var ue *url.Error
			if !errors.As(err, &ue) {
				return err // not the API's: a local error, or a reply that does not decode
			}
			unreachable = append(unreachable, ue.Err.Error())
		}
	}
	if answered != nil {
		return errors.New(answered.Msg)
	}
	return fmt.Errorf("no config server answered at %s: %s", e.servers, strings.Join(unreachable, "; "))
}

// state returns everything the config servers replicate.
func (e *ctlEnv) state(cmd *cobra.Command) (*clusterapi.State, error) {
	var st *clusterapi.State
	err := e.call(cmd, func(ctx context.Context, c *clusterapi.Client) (err error) {
		st, err = c.State(ctx)
		return err
	})
	return st, err
}

// leaderFirst moves the leader's address to the front when it is one of
// addrs: the leader answers with what it has just committed (a follower may
// lag by a Raft heartbeat) and with the data servers' liveness, which only it
// keeps. Best effort: on any error the order stays.
func (e *ctlEnv) leaderFirst(ctx context.Context, addrs []string) []string {
	if len(addrs) < 2 {
		return addrs
	}
	if e.ordered != nil {
		return e.ordered
	}
	e.ordered = addrs
	css, err := e.client(addrs).ConfigServers(ctx)
	if err != nil {
		return addrs
	}
	for _, cs := range css {
		if i := slices.Index(addrs, cs.HTTP); cs.Leader && i > 0 {
			e.ordered = append([]string{cs.HTTP}, slices.Delete(slices.Clone(addrs), i, i+1)...)
		}
	}
	return e.ordered
}

// printJSON writes v as indented JSON.
func printJSON(w io.Writer, v any) error {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return err
	}
	_, err = fmt.Fprintf(w, "%s\n", b)
	return err
}

// newTab returns an aligned table writer; call Flush when done.
func newTab(w io.Writer) *tabwriter.Writer {
	return tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
}

func ctlStatusCmd(e *ctlEnv) *cobra.Command {
	return &cobra.Command{
		Use:   "status",
		Short: "Summary of the cluster: leader, table, data servers, namespaces",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			var st *clusterapi.Status
			var css []clusterapi.ConfigServer
			err := e.call(cmd, func(ctx context.Context, c *clusterapi.Client) error {
				var err error
				if st, err = c.Status(ctx); err != nil || e.json {
					return err
				}
				css, err = c.ConfigServers(ctx)
				return err
			})
			if err != nil {
				return err
			}
			out := cmd.OutOrStdout()
			if e.json {
				return printJSON(out, st)
			}
			leader := fmt.Sprintf("%s (term %d)", st.Leader, st.Term)
			switch {
			case st.Leader == "" && len(css) == 0:
				leader = "none: this config server is in no group yet (add it with 'granary ctl config-server add')"
			case st.Leader == "":
				leader = fmt.Sprintf("none (term %d): no quorum; changes wait, data servers keep serving", st.Term)
			}
			tw := newTab(out)
			fmt.Fprintf(tw, "config server:\t%s\n", st.ID)
			fmt.Fprintf(tw, "leader:\t%s\n", leader)
			fmt.Fprintf(tw, "table epoch:\t%d\n", st.Epoch)
			fmt.Fprintf(tw, "buckets:\t%d assigned, %d unassigned\n", st.Buckets-st.Unassigned, st.Unassigned)
			fmt.Fprintf(tw, "copies:\t%d\n", st.Copies)
			fmt.Fprintf(tw, "data servers:\t%s\n", nodeCounts(st.Nodes))
			fmt.Fprintf(tw, "namespaces:\t%d\n", st.Namespaces)
			if err := tw.Flush(); err != nil {
				return err
			}
			if len(css) == 0 {
				return nil
			}
			fmt.Fprintln(out)
			return printConfigServers(out, css, e.probeConfigServers(cmd.Context(), css))
		},
	}
}

// nodeCounts renders a count of nodes by state: "3 (2 up, 1 down)".
func nodeCounts(m map[string]int) string {
	total := 0
	for _, n := range m {
		total += n
	}
	if total == 0 {
		return "0"
	}
	order := []string{string(clusterapi.NodeUp), string(clusterapi.NodeDown), string(clusterapi.NodeDraining), string(clusterapi.NodeAdded)}
	var parts []string
	seen := map[string]bool{}
	for _, s := range order {
		seen[s] = true
		if m[s] > 0 {
			parts = append(parts, fmt.Sprintf("%d %s", m[s], s))
		}
	}
	for _, s := range sortedKeys(m) {
		if !seen[s] && m[s] > 0 {
			parts = append(parts, fmt.Sprintf("%d %s", m[s], s))
		}
	}
	return fmt.Sprintf("%d (%s)", total, strings.Join(parts, ", "))
}
