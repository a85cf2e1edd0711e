package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"granary/internal/acl"
	"granary/internal/clusterapi"
)

// userFlags are the settable fields of a user.
type userFlags struct {
	password      string
	passwordStdin bool
	namespaces    string
	commands      string
	defaultNS     int
	disable       bool
	enable        bool
}

func (f *userFlags) add(fs *pflag.FlagSet, create bool) {
	fs.StringVar(&f.password, "password", "", "the user's password (visible in the process list and shell history: prefer --password-stdin)")
	fs.BoolVar(&f.passwordStdin, "password-stdin", false, "read the password from the first line of standard input")
	fs.StringVar(&f.namespaces, "namespaces", "", "namespaces the user may use: comma-separated ids (1,2,7), \"all\", or \"none\"")
	fs.StringVar(&f.commands, "commands", "", "command classes granted, comma-separated: read, write, admin (or all, or none)")
	fs.IntVar(&f.defaultNS, "default-namespace", 0, "namespace selected when the user logs in (default: the first of --namespaces)")
	fs.BoolVar(&f.disable, "disable", false, "the user cannot log in; its open connections lose access at their next command")
	if !create {
		fs.BoolVar(&f.enable, "enable", false, "let a disabled user log in again")
	}
}

// changed reports whether any user flag was given.
func (f *userFlags) changed(fs *pflag.FlagSet) bool {
	for _, n := range []string{"password", "password-stdin", "namespaces", "commands", "default-namespace", "disable", "enable"} {
		if fs.Lookup(n) != nil && fs.Changed(n) {
			return true
		}
	}
	return false
}

// apply copies the flags given on the command line into u, reading the
// password from in with --password-stdin.
func (f *userFlags) apply(fs *pflag.FlagSet, u *clusterapi.User, in io.Reader) error {
	switch {
	case f.passwordStdin && fs.Changed("password"):
		return errors.New("give --password or --password-stdin, not both")
	case f.passwordStdin:
		line, err := bufio.NewReader(in).ReadString('\n')
		if err != nil && !errors.Is(err, io.EOF) {
			return fmt.Errorf("reading the password from standard input: %w", err)
		}
		u.Password = strings.TrimRight(line, "\r\n")
		if u.Password == "" {
			return errors.New("--password-stdin: the first line of standard input is empty")
		}
	case fs.Changed("password"):
		if f.password == "" {
			return errors.New("--password: empty")
		}
		u.Password = f.password
	}
	if fs.Changed("namespaces") {
		all, ids, err := parseNamespaceList(f.namespaces)
		if err != nil {
			return err
		}
		u.AllNamespaces, u.Namespaces = all, ids
		if !fs.Changed("default-namespace") && len(ids) > 0 && !slices.Contains(ids, u.DefaultNamespace) {
			u.DefaultNamespace = ids[0]
		}
	}
	if fs.Changed("commands") {
		var names []string
		if s := strings.TrimSpace(f.commands); s != "none" && s != "" {
			names = strings.Split(s, ",")
		}
		c, err := acl.ParseClasses(names)
		if err != nil {
			return fmt.Errorf("--commands: %w", err)
		}
		u.Commands = c.Names()
	}
	if fs.Changed("default-namespace") {
		if f.defaultNS < 0 || f.defaultNS > 65535 {
			return fmt.Errorf("--default-namespace %d: want 0 to 65535", f.defaultNS)
		}
		u.DefaultNamespace = uint16(f.defaultNS)
	}
	switch {
	case f.disable && f.enable:
		return errors.New("give --disable or --enable, not both")
	case f.disable:
		u.Disabled = true
	case f.enable:
		u.Disabled = false
	}
	return nil
}

// parseNamespaceList parses "all", "none" or comma-separated ids.
func parseNamespaceList(s string) (all bool, ids []uint16, err error) {
	switch s = strings.TrimSpace(s); s {
	case "all":
		return true, nil, nil
	case "none", "":
		return false, []uint16{}, nil
	}
	for _, p := range strings.Split(s, ",") {
		id, err := parseNamespaceID(strings.TrimSpace(p))
		if err != nil {
			return false, nil, fmt.Errorf("--namespaces: %w", err)
		}
		if !slices.Contains(ids, id) {
			ids = append(ids, id)
		}
	}
	return false, ids, nil
}

func ctlUserCmd(e *ctlEnv) *cobra.Command {
	cmd := &cobra.Command{
		Use:     "user",
		Aliases: []string{"users"},
		Short:   "Add, change, list and remove the users clients log in as",
		Long: `Users are defined on the config servers and pushed to every data server.
Clients log in with AUTH <user> <password> (or HELLO 3 AUTH <user> <password>).
A user may use only the namespaces it is granted and run only the command
classes it is granted: read, write and admin (CONFIG, CLIENT LIST/KILL, INFO,
FLUSHALL, CLUSTER GETKEYSINSLOT, GRANARY.INGEST, ...). A new user is granted
nothing. The --requirepass password of the data servers stays the password of
the unrestricted "default" user. Passwords are stored salted and hashed and are
never shown.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return cmd.Help() },
	}

	var af userFlags
	add := &cobra.Command{
		Use:   "add NAME (--password PASS | --password-stdin) [flags]",
		Short: "Define a user",
		Example: `  granary ctl user add shop --password-stdin --namespaces 1,2 --commands read,write < shop.pass
  granary ctl user add reports --password "$PASS" --namespaces 1 --commands read
  granary ctl user add ops --password-stdin --namespaces all --commands all`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			fs := cmd.Flags()
			if !fs.Changed("password") && !af.passwordStdin {
				return errors.New("a password is required: --password or --password-stdin")
			}
			u := clusterapi.User{Name: args[0], Namespaces: []uint16{}, Commands: []string{}}
			if err := af.apply(fs, &u, cmd.InOrStdin()); err != nil {
				return err
			}
			var got *clusterapi.User
			if err := e.call(cmd, func(ctx context.Context, c *clusterapi.Client) (err error) {
				got, err = c.CreateUser(ctx, u)
				return err
			}); err != nil {
				return err
			}
			return e.printUsers(cmd.OutOrStdout(), got, []clusterapi.User{*got})
		},
	}
	af.add(add.Flags(), true)

	var uf userFlags
	update := &cobra.Command{
		Use:   "update NAME [flags]",
		Short: "Change a user; only the flags given change",
		Example: `  granary ctl user update shop --namespaces 1,2,3
  granary ctl user update shop --password-stdin < new.pass
  granary ctl user update shop --disable`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			fs := cmd.Flags()
			if !uf.changed(fs) {
				return errors.New("nothing to change: give at least one of --password, --password-stdin, --namespaces, --commands, --default-namespace, --disable, --enable")
			}
			var got *clusterapi.User
			if err := e.call(cmd, func(ctx context.Context, c *clusterapi.Client) error {
				u, err := c.User(ctx, args[0])
				if err != nil {
					return err
				}
				u.Password = ""
				if err := uf.apply(fs, u, cmd.InOrStdin()); err != nil {
					return err
				}
				got, err = c.UpdateUser(ctx, *u)
				return err
			}); err != nil {
				return err
			}
			return e.printUsers(cmd.OutOrStdout(), got, []clusterapi.User{*got})
		},
	}
	uf.add(update.Flags(), false)

	list := &cobra.Command{
		Use:   "list",
		Short: "List the users (never their passwords)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			var all []clusterapi.User
			if err := e.call(cmd, func(ctx context.Context, c *clusterapi.Client) (err error) {
				all, err = c.Users(ctx)
				return err
			}); err != nil {
				return err
			}
			if all == nil {
				all = []clusterapi.User{}
			}
			return e.printUsers(cmd.OutOrStdout(), all, all)
		},
	}

	remove := &cobra.Command{
		Use:     "remove NAME",
		Aliases: []string{"delete", "rm"},
		Short:   "Remove a user; its open connections lose access at their next command",
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := e.call(cmd, func(ctx context.Context, c *clusterapi.Client) error {
				return c.DeleteUser(ctx, args[0])
			}); err != nil {
				return err
			}
			if e.json {
				return nil // the API answers with no body
			}
			_, err := fmt.Fprintf(cmd.OutOrStdout(), "user %s removed\n", args[0])
			return err
		},
	}
	cmd.AddCommand(add, update, list, remove)
	return cmd
}

// printUsers prints apiReply as JSON with --json, else rows as a table.
func (e *ctlEnv) printUsers(w io.Writer, apiReply any, rows []clusterapi.User) error {
	if e.json {
		return printJSON(w, apiReply)
	}
	if len(rows) == 0 {
		_, err := fmt.Fprintln(w, "no users defined (clients log in as the default user with the data servers' --requirepass)")
		return err
	}
	tw := newTab(w)
	fmt.Fprintln(tw, "NAME\tSTATE\tNAMESPACES\tCOMMANDS\tDEFAULT NS")
	for _, u := range rows {
		state := "enabled"
		if u.Disabled {
			state = "disabled"
		}
		ns := "none"
		if u.AllNamespaces {
			ns = "all"
		} else if len(u.Namespaces) > 0 {
			ids := make([]string, len(u.Namespaces))
			for i, id := range u.Namespaces {
				ids[i] = strconv.Itoa(int(id))
			}
			ns = strings.Join(ids, ",")
		}
		cmds := "none"
		if len(u.Commands) > 0 {
			cmds = strings.Join(u.Commands, ",")
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%d\n", u.Name, state, ns, cmds, u.DefaultNamespace)
	}
	return tw.Flush()
}
