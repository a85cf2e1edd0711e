package main

import (
	"cmp"
	"context"
	"fmt"
	"io"
	"slices"
	"strconv"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"granary/internal/clusterapi"
)

// nsFlags are the settable fields of a namespace.
type nsFlags struct {
	name   string
	engine string
	quota  sizeFlag
	ack    string
	maxOps int64
	// maxBytes is sized as a quota is (e.g. 10mb), read as per second.
	maxBytes sizeFlag
}

func (f *nsFlags) add(fs *pflag.FlagSet, create bool) {
	engine, ack := "", ""
	if create {
		engine, ack = "mem", clusterapi.AckSync
	}
	fs.StringVar(&f.name, "name", "", "name of the namespace")
	fs.StringVar(&f.engine, "engine", engine, "storage engine: mem (in memory, with eviction) or disk (persistent, on pebble; the data servers need --dir)")
	fs.Var(&f.quota, "quota", "memory quota across the cluster, e.g. 512mb or 1gb (0: unlimited)")
	fs.StringVar(&f.ack, "ack", ack, "when writes are acknowledged: sync (after every replica applied them: none is lost while a copy survives) or async (after the primary applied them: faster, a failover may lose the last ones)")
	fs.Int64Var(&f.maxOps, "max-ops", 0, "flow limit per data server, operations per second: commands that read or write data; over it they are refused with THROTTLED (0: none)")
	fs.Var(&f.maxBytes, "max-bytes", "flow limit per data server, bytes per second of those commands' arguments and replies, e.g. 10mb (0: none)")
}

// apply copies the flags given on the command line into ns.
func (f *nsFlags) apply(fs *pflag.FlagSet, ns *clusterapi.Namespace) error {
	if fs.Changed("name") {
		ns.Name = f.name
	}
	if fs.Changed("engine") || ns.Engine == "" {
		ns.Engine = f.engine
	}
	if fs.Changed("quota") {
		ns.Quota = int64(f.quota)
	}
	if fs.Changed("ack") || ns.Ack == "" {
		ns.Ack = f.ack
	}
	if fs.Changed("max-ops") {
		if f.maxOps < 0 {
			return fmt.Errorf("--max-ops: must be 0 or more, got %d", f.maxOps)
		}
		ns.MaxOps = f.maxOps
	}
	if fs.Changed("max-bytes") {
		if f.maxBytes < 0 {
			return fmt.Errorf("--max-bytes: must be 0 or more, got %d", f.maxBytes)
		}
		ns.MaxBytes = int64(f.maxBytes)
	}
	switch ns.Ack {
	case clusterapi.AckAsync, clusterapi.AckSync, "":
	default:
		return fmt.Errorf("--ack: want async or sync, got %q", ns.Ack)
	}
	return nil
}

func parseNamespaceID(s string) (uint16, error) {
	n, err := strconv.ParseUint(s, 10, 16)
	if err != nil {
		return 0, fmt.Errorf("namespace id %q: want a number from 0 to 65535", s)
	}
	return uint16(n), nil
}

func ctlNamespaceCmd(e *ctlEnv) *cobra.Command {
	cmd := &cobra.Command{
		Use:     "namespace",
		Aliases: []string{"ns"},
		Short:   "Create, change, list and delete namespaces (Tair areas)",
		Long: `Namespaces (Tair's areas, ids 0 to 65535) are defined cluster-wide, each with
its engine, memory quota, acknowledgement mode and flow limits. Clients choose
one per connection with SELECT <id>.

Flow limits (--max-ops, --max-bytes) hold on each data server: a command over
them gets a THROTTLED error and is not run. Changing them with 'update' reaches
the data servers with their next heartbeat.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return cmd.Help() },
	}

	var cf nsFlags
	create := &cobra.Command{
		Use:   "create ID --name NAME",
		Short: "Define a namespace",
		Example: `  granary ctl namespace create 1 --name sessions --quota 1gb
  granary ctl namespace create 2 --name cache --quota 256mb --ack async --max-ops 50000`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			id, err := parseNamespaceID(args[0])
			if err != nil {
				return err
			}
			if cf.name == "" {
				return fmt.Errorf("--name is required")
			}
			ns := clusterapi.Namespace{ID: id}
			if err := cf.apply(cmd.Flags(), &ns); err != nil {
				return err
			}
			var got *clusterapi.Namespace
			if err := e.call(cmd, func(ctx context.Context, c *clusterapi.Client) (err error) {
				got, err = c.CreateNamespace(ctx, ns)
				return err
			}); err != nil {
				return err
			}
			return e.printNamespaces(cmd.OutOrStdout(), got, []clusterapi.Namespace{*got})
		},
	}
	cf.add(create.Flags(), true)

	var uf nsFlags
	update := &cobra.Command{
		Use:   "update ID [flags]",
		Short: "Change a namespace; only the flags given change",
		Example: `  granary ctl namespace update 1 --quota 2gb --ack async
  granary ctl namespace update 2 --max-ops 20000 --max-bytes 50mb
  granary ctl namespace update 2 --max-ops 0    # lift the limit`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			id, err := parseNamespaceID(args[0])
			if err != nil {
				return err
			}
			fs := cmd.Flags()
			if !fs.Changed("name") && !fs.Changed("engine") && !fs.Changed("quota") && !fs.Changed("ack") && !fs.Changed("max-ops") && !fs.Changed("max-bytes") {
				return fmt.Errorf("nothing to change: give at least one of --name, --engine, --quota, --ack, --max-ops, --max-bytes")
			}
			var got *clusterapi.Namespace
			if err := e.call(cmd, func(ctx context.Context, c *clusterapi.Client) error {
				all, err := c.Namespaces(ctx)
				if err != nil {
					return err
				}
				i := slices.IndexFunc(all, func(n clusterapi.Namespace) bool { return n.ID == id })
				if i < 0 {
					return fmt.Errorf("namespace %d does not exist", id)
				}
				ns := all[i]
				if err := uf.apply(fs, &ns); err != nil {
					return err
				}
				got, err = c.UpdateNamespace(ctx, ns)
				return err
			}); err != nil {
				return err
			}
			return e.printNamespaces(cmd.OutOrStdout(), got, []clusterapi.Namespace{*got})
		},
	}
	uf.add(update.Flags(), false)

	list := &cobra.Command{
		Use:   "list",
		Short: "List the namespaces",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			var all []clusterapi.Namespace
			if err := e.call(cmd, func(ctx context.Context, c *clusterapi.Client) (err error) {
				all, err = c.Namespaces(ctx)
				return err
			}); err != nil {
				return err
			}
			if all == nil {
				all = []clusterapi.Namespace{}
			}
			return e.printNamespaces(cmd.OutOrStdout(), all, all)
		},
	}

	del := &cobra.Command{
		Use:   "delete ID",
		Short: "Delete a namespace's definition",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			id, err := parseNamespaceID(args[0])
			if err != nil {
				return err
			}
			if err := e.call(cmd, func(ctx context.Context, c *clusterapi.Client) error {
				return c.DeleteNamespace(ctx, id)
			}); err != nil {
				return err
			}
			if e.json {
				return nil // the API answers with no body
			}
			_, err = fmt.Fprintf(cmd.OutOrStdout(), "namespace %d deleted\n", id)
			return err
		},
	}
	cmd.AddCommand(create, update, list, del)
	return cmd
}

// printNamespaces prints apiReply as JSON with --json, else rows as a table.
func (e *ctlEnv) printNamespaces(w io.Writer, apiReply any, rows []clusterapi.Namespace) error {
	if e.json {
		return printJSON(w, apiReply)
	}
	if len(rows) == 0 {
		_, err := fmt.Fprintln(w, "no namespaces defined (namespace 0 is always there with the defaults)")
		return err
	}
	slices.SortFunc(rows, func(a, b clusterapi.Namespace) int { return cmp.Compare(a.ID, b.ID) })
	tw := newTab(w)
	fmt.Fprintln(tw, "ID\tNAME\tENGINE\tQUOTA\tACK\tMAX OPS\tMAX BYTES")
	for _, n := range rows {
		quota := "unlimited"
		if n.Quota > 0 {
			quota = humanBytes(n.Quota)
		}
		maxOps := "none"
		if n.MaxOps > 0 {
			maxOps = strconv.FormatInt(n.MaxOps, 10) + "/s"
		}
		maxBytes := "none"
		if n.MaxBytes > 0 {
			maxBytes = humanBytes(n.MaxBytes) + "/s"
		}
		fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s\t%s\t%s\n", n.ID, orDash(n.Name), orDash(n.Engine), quota, orDash(n.Ack), maxOps, maxBytes)
	}
	return tw.Flush()
}
