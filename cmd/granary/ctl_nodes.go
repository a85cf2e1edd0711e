package main

import (
	"cmp"
	"context"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"granary/internal/clusterapi"
	"granary/internal/routing"
)

// tableCounts is what a table says about each node and its buckets.
type tableCounts struct {
	primaries  map[string]int // node id -> buckets it is primary of
	copies     map[string]int // node id -> buckets it holds a replica of (primary included)
	unassigned int            // buckets without a primary
	under      int            // buckets with fewer replicas than the copies setting
}

func countTable(t *clusterapi.Table, copies int) tableCounts {
	c := tableCounts{primaries: map[string]int{}, copies: map[string]int{}}
	assigned := 0
	for _, r := range t.Ranges {
		n := r.Last - r.First + 1
		if len(r.Replicas) == 0 {
			continue
		}
		assigned += n
		if len(r.Replicas) < copies {
			c.under += n
		}
		for i, x := range r.Replicas {
			if x < 0 || x >= len(t.Nodes) {
				continue
			}
			id := t.Nodes[x]
			c.copies[id] += n
			if i == 0 {
				c.primaries[id] += n
			}
		}
	}
	c.unassigned = routing.Buckets - assigned
	return c
}

// sortNodes orders nodes by RESP address, then id: the order people read them in.
func sortNodes(nodes []clusterapi.Node) {
	slices.SortFunc(nodes, func(a, b clusterapi.Node) int {
		return cmp.Or(cmp.Compare(a.Addr, b.Addr), cmp.Compare(a.ID, b.ID))
	})
}

func ctlNodesCmd(e *ctlEnv) *cobra.Command {
	return &cobra.Command{
		Use:   "nodes",
		Short: "List the data servers with their state and bucket counts",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if e.json {
				var nodes []clusterapi.Node
				if err := e.call(cmd, func(ctx context.Context, c *clusterapi.Client) (err error) {
					nodes, err = c.Nodes(ctx)
					return err
				}); err != nil {
					return err
				}
				if nodes == nil {
					nodes = []clusterapi.Node{}
				}
				return printJSON(cmd.OutOrStdout(), nodes)
			}
			var st *clusterapi.State
			if err := e.call(cmd, func(ctx context.Context, c *clusterapi.Client) (err error) {
				if st, err = c.State(ctx); err != nil {
					return err
				}
				leaderLiveness(ctx, c, st.Nodes)
				return nil
			}); err != nil {
				return err
			}
			return printNodes(cmd.OutOrStdout(), st.Nodes, countTable(&st.Table, st.Settings.Copies), time.Now())
		},
	}
}

// leaderLiveness fills in the nodes' LastSeen from the leader when a
// follower answered: only the leader hears heartbeats. Best effort.
func leaderLiveness(ctx context.Context, c *clusterapi.Client, nodes []clusterapi.Node) {
	if !slices.ContainsFunc(nodes, func(n clusterapi.Node) bool { return n.LastSeen.IsZero() && n.State == clusterapi.NodeUp }) {
		return
	}
	css, err := c.ConfigServers(ctx)
	if err != nil {
		return
	}
	i := slices.IndexFunc(css, func(cs clusterapi.ConfigServer) bool { return cs.Leader && cs.HTTP != "" })
	if i < 0 {
		return
	}
	fresh, err := c.To([]string{css[i].HTTP}).Nodes(ctx)
	if err != nil {
		return
	}
	seen := make(map[string]time.Time, len(fresh))
	for _, n := range fresh {
		seen[n.ID] = n.LastSeen
	}
	for k := range nodes {
		if nodes[k].LastSeen.IsZero() {
			nodes[k].LastSeen = seen[nodes[k].ID]
		}
	}
}

func printNodes(w io.Writer, nodes []clusterapi.Node, tc tableCounts, now time.Time) error {
	if len(nodes) == 0 {
		_, err := fmt.Fprintln(w, "no data servers yet: start them with 'granary data --config-servers ...'; unless the config servers run with --auto-add, add each one's id (in its log and its --dir/node-id) with 'granary ctl node add ID'")
		return err
	}
	sortNodes(nodes)
	tw := newTab(w)
	fmt.Fprintln(tw, "ID\tADDR\tHTTP\tZONE\tSTATE\tLAST SEEN\tPRIMARIES\tCOPIES")
	for _, n := range nodes {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%d\t%d\n", n.ID, orDash(n.Addr), orDash(n.HTTP), orDash(n.Zone),
			n.State, ago(n.LastSeen, now), tc.primaries[n.ID], tc.copies[n.ID])
	}
	return tw.Flush()
}

func ctlNodeCmd(e *ctlEnv) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "node",
		Short: "Add, drain or remove a data server",
		Args:  cobra.NoArgs,
		RunE:  func(cmd *cobra.Command, _ []string) error { return cmd.Help() },
	}
	var zone string
	add := &cobra.Command{
		Use:   "add ID",
		Short: "Allow a data server to join (needed unless the config servers run with --auto-add)",
		Long: `Allow the data server with this id to join the cluster. It takes buckets once
it heartbeats and the table builder runs.`,
		Example: "  granary ctl node add 3f1c0d5e9b7a2c4e6f8a0b1c2d3e4f5a6b7c8d9e --zone rack-a",
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			var n *clusterapi.Node
			if err := e.call(cmd, func(ctx context.Context, c *clusterapi.Client) (err error) {
				n, err = c.AddNode(ctx, clusterapi.NodeAdd{ID: args[0], Zone: zone})
				return err
			}); err != nil {
				return err
			}
			if e.json {
				return printJSON(cmd.OutOrStdout(), n)
			}
			return printNodes(cmd.OutOrStdout(), []clusterapi.Node{*n}, tableCounts{}, time.Now())
		},
	}
	add.Flags().StringVar(&zone, "zone", "", "zone (rack, availability zone) of the data server; copies of a bucket go to different zones")
	var force bool
	remove := &cobra.Command{
		Use:   "remove ID",
		Short: "Forget a data server (drain it first); its buckets are rebuilt on the others",
		Long: `Forget a data server. One that is up and still holds bucket copies is refused:
drain it first (granary ctl node drain ID), wait until granary ctl moves shows
nothing left, then remove it. --force removes it anyway: its copies are
rebuilt on the others from the remaining replicas.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			var before *clusterapi.Table
			if err := e.call(cmd, func(ctx context.Context, c *clusterapi.Client) (err error) {
				if !e.json {
					if before, err = c.Table(ctx); err != nil {
						return err
					}
				}
				return c.RemoveNode(ctx, args[0], force)
			}); err != nil {
				return err
			}
			if e.json {
				return nil // the API answers with no body
			}
			tc := countTable(before, 0)
			held := ""
			if n := tc.copies[args[0]]; n > 0 {
				held = fmt.Sprintf("; the %d copies it held (%d as primary) went to the other nodes", n, tc.primaries[args[0]])
			}
			_, err := fmt.Fprintf(cmd.OutOrStdout(), "node %s removed%s\n", args[0], held)
			return err
		},
	}
	remove.Flags().BoolVar(&force, "force", false, "remove a node that still holds copies (they are rebuilt from the other replicas)")
	cmd.AddCommand(add, remove, ctlNodeDrainCmd(e), ctlNodeUndrainCmd(e))
	return cmd
}

func ctlTableCmd(e *ctlEnv) *cobra.Command {
	var full bool
	cmd := &cobra.Command{
		Use:   "table",
		Short: "Show the routing table: buckets per node, epoch, unassigned buckets",
		Long: `Show the routing table: its epoch, how many buckets have no primary, and per
data server how many buckets it is primary of and holds a copy of (primary
included). --full lists every run of buckets with its replicas, primary first.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if e.json {
				var t *clusterapi.Table
				if err := e.call(cmd, func(ctx context.Context, c *clusterapi.Client) (err error) {
					t, err = c.Table(ctx)
					return err
				}); err != nil {
					return err
				}
				return printJSON(cmd.OutOrStdout(), t)
			}
			st, err := e.state(cmd)
			if err != nil {
				return err
			}
			return printTable(cmd.OutOrStdout(), &st.Table, st.Nodes, st.Settings.Copies, full)
		},
	}
	cmd.Flags().BoolVar(&full, "full", false, "list every run of buckets with its replicas' addresses")
	return cmd
}

func ctlRebuildCmd(e *ctlEnv) *cobra.Command {
	return &cobra.Command{
		Use:   "rebuild",
		Short: "Run the table builder now and show the resulting table",
		Long: `Run the table builder now. It starts from the current table and moves only
what breaks a rule: balance, zones, the copy count. Besides this command, the
builder runs by itself only for a new cluster's first table and when a node is
removed; a node added later gets buckets on the next rebuild. (After a failure
the config servers restore copy counts by themselves, without a rebuild.)

A copy given to a new node starts as a secondary that catches up from the
bucket's primary (a snapshot, then the log), and every bucket keeps its
primary while that keeps a copy, so a rebuild loses nothing while one old copy
of each bucket stays; the new node leads no bucket until migration hands it
primaries. A bucket none of whose old copies stays starts empty.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			var before, t *clusterapi.Table
			var st *clusterapi.State
			if err := e.call(cmd, func(ctx context.Context, c *clusterapi.Client) (err error) {
				if !e.json {
					if before, err = c.Table(ctx); err != nil {
						return err
					}
				}
				if t, err = c.Rebuild(ctx); err != nil || e.json {
					return err
				}
				st, err = c.State(ctx)
				return err
			}); err != nil {
				return err
			}
			out := cmd.OutOrStdout()
			if e.json {
				return printJSON(out, t)
			}
			if t.Epoch <= before.Epoch {
				fmt.Fprintf(out, "table unchanged: it already keeps every rule\n")
			} else {
				copies, primaries, total := tableMoves(before, t)
				fmt.Fprintf(out, "table rebuilt: epoch %d -> %d, %d of %d copies moved, %d primaries changed\n", before.Epoch, t.Epoch, copies, total, primaries)
			}
			return printTable(out, t, st.Nodes, st.Settings.Copies, false)
		},
	}
}

// tableMoves compares two tables: how many (bucket, node) copies of after
// are new, how many buckets changed primary, and how many copies after has.
func tableMoves(before, after *clusterapi.Table) (moved, primaries, total int) {
	expand := func(t *clusterapi.Table) [][]string {
		out := make([][]string, routing.Buckets)
		for _, r := range t.Ranges {
			ids := make([]string, 0, len(r.Replicas))
			for _, x := range r.Replicas {
				if x >= 0 && x < len(t.Nodes) {
					ids = append(ids, t.Nodes[x])
				}
			}
			for b := max(r.First, 0); b <= r.Last && b < routing.Buckets; b++ {
				out[b] = ids
			}
		}
		return out
	}
	b, a := expand(before), expand(after)
	for i := range a {
		total += len(a[i])
		for _, id := range a[i] {
			if !slices.Contains(b[i], id) {
				moved++
			}
		}
		if len(a[i]) > 0 && (len(b[i]) == 0 || a[i][0] != b[i][0]) {
			primaries++
		}
	}
	return moved, primaries, total
}

func printTable(w io.Writer, t *clusterapi.Table, nodes []clusterapi.Node, copies int, full bool) error {
	tc := countTable(t, copies)
	byID := make(map[string]clusterapi.Node, len(nodes))
	for _, n := range nodes {
		byID[n.ID] = n
	}
	fmt.Fprintf(w, "epoch %d: %d buckets, %d unassigned, %d with fewer than %d copies\n\n",
		t.Epoch, routing.Buckets, tc.unassigned, tc.under, copies)
	if len(t.Nodes) == 0 {
		_, err := fmt.Fprintln(w, "no table yet: it is built once enough data servers are up (see 'granary ctl status')")
		return err
	}
	// The table's nodes, plus any known node that holds nothing.
	rows := make([]clusterapi.Node, 0, len(t.Nodes))
	inTable := map[string]bool{}
	for _, id := range t.Nodes {
		if inTable[id] {
			continue
		}
		inTable[id] = true
		n, ok := byID[id]
		if !ok {
			n = clusterapi.Node{ID: id, State: "removed"}
		}
		rows = append(rows, n)
	}
	for _, n := range nodes {
		if !inTable[n.ID] {
			rows = append(rows, n)
		}
	}
	sortNodes(rows)
	tw := newTab(w)
	fmt.Fprintln(tw, "NODE\tADDR\tZONE\tSTATE\tPRIMARIES\tCOPIES")
	for _, n := range rows {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%d\t%d\n", n.ID, orDash(n.Addr), orDash(n.Zone), n.State, tc.primaries[n.ID], tc.copies[n.ID])
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	if !full {
		return nil
	}
	name := func(x int) string {
		if x < 0 || x >= len(t.Nodes) {
			return fmt.Sprintf("?%d", x)
		}
		id := t.Nodes[x]
		if n, ok := byID[id]; ok && n.Addr != "" {
			return n.Addr
		}
		return id
	}
	fmt.Fprintln(w)
	tw = newTab(w)
	fmt.Fprintln(tw, "BUCKETS\tCOUNT\tPRIMARY\tSECONDARIES")
	for _, r := range t.Ranges {
		primary, secs := "-", []string{}
		for i, x := range r.Replicas {
			if i == 0 {
				primary = name(x)
			} else {
				secs = append(secs, name(x))
			}
		}
		buckets := fmt.Sprintf("%d-%d", r.First, r.Last)
		if r.First == r.Last {
			buckets = fmt.Sprint(r.First)
		}
		fmt.Fprintf(tw, "%s\t%d\t%s\t%s\n", buckets, r.Last-r.First+1, primary, orDash(strings.Join(secs, " ")))
	}
	return tw.Flush()
}
