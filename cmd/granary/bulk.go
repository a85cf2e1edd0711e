package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/spf13/cobra"

	"granary/internal/bulk"
)

// bulkFlags are the flags import and export share.
type bulkFlags struct {
	addrs     addrList
	user      string
	pass      string
	namespace uint16
	format    string
	quiet     bool
	tls       clientTLSFlags
	opts      bulk.Options
}

func (f *bulkFlags) add(cmd *cobra.Command) {
	f.addrs = addrList{"127.0.0.1:5198"}
	fl := cmd.Flags()
	fl.Var(&f.addrs, "addr", "RESP address of any node of the cluster (a data server, or a config server's RESP port), comma-separated for more")
	fl.StringVar(&f.user, "user", "", "user to AUTH as (empty: the default user)")
	fl.StringVar(&f.pass, "password", "", "password (env GRANARY_PASSWORD)")
	fl.Uint16VarP(&f.namespace, "namespace", "n", 0, "namespace (0-65535)")
	fl.StringVar(&f.format, "format", "", "csv or jsonl (default: from the file's extension, else jsonl)")
	fl.BoolVarP(&f.quiet, "quiet", "q", false, "no progress bar")
	fl.DurationVar(&f.opts.Timeout, "timeout", 0, "give up after this long (0: 1h)")
	f.tls.addFlags(fl)
	addLogFlags(cmd)
}

func (f *bulkFlags) options(cmd *cobra.Command, file string) (bulk.Options, error) {
	o := f.opts
	log, err := newLogger(cmd)
	if err != nil {
		return o, err
	}
	o.Logger = log
	o.Seeds = f.addrs
	o.Username, o.Password = f.user, f.pass
	if err := f.tls.load(); err != nil {
		return o, err
	}
	o.TLS = f.tls.cfg
	if o.Password == "" {
		o.Password = os.Getenv("GRANARY_PASSWORD")
	}
	o.Namespace = f.namespace
	o.Format = f.format
	if o.Format == "" {
		switch strings.ToLower(filepath.Ext(strings.TrimSuffix(file, ".gz"))) {
		case ".csv":
			o.Format = bulk.CSV
		default:
			o.Format = bulk.JSONL
		}
	}
	if !f.quiet {
		o.Progress = cmd.ErrOrStderr()
	}
	return o, nil
}

func importCmd() *cobra.Command {
	f := &bulkFlags{}
	cmd := &cobra.Command{
		Use:   "import FILE",
		Short: "Load a file of keys into a disk namespace (sorted files ingested by every replica)",
		Long: `Load a file of key-value pairs into a namespace on the disk engine.

The file is read whole, its items are grouped by bucket and sorted, each
bucket's items become one sorted file of the disk engine, and each bucket's
primary ingests its file with GRANARY.INGEST and replicates it to the
bucket's secondaries as one log record: much faster than one SET per key.
An existing key is replaced; records already expired are skipped.

Formats (chosen by --format or the file's extension; '-' reads stdin):
  csv    key,value[,expire_at]            expire_at in Unix milliseconds
  jsonl  {"key":"k","value":"v","expire_at":1767225600000}
         {"key":"h","hash":{"field":"value"}}
         key_base64 and value_base64 for bytes that are not UTF-8`,
		Example: `  granary import --namespace 3 blacklist.csv
  granary import --addr 10.0.1.7:5191 -n 2 --format jsonl - < recommendations.jsonl`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			o, err := f.options(cmd, args[0])
			if err != nil {
				return err
			}
			in := os.Stdin
			if args[0] != "-" {
				if in, err = os.Open(args[0]); err != nil {
					return err
				}
				defer in.Close()
			}
			res, err := bulk.Import(cmd.Context(), in, o)
			if err != nil {
				return err
			}
			rate := float64(res.Keys) / max(res.Elapsed.Seconds(), 1e-9)
			fmt.Fprintf(cmd.OutOrStdout(), "imported %d keys (%d records, %d expired skipped) into namespace %d: %d buckets, %.1f MB of files, in %v (%.0f keys/s)\n",
				res.Keys, res.Records, res.Expired, o.Namespace, res.Buckets, float64(res.Files)/1e6, res.Elapsed.Round(1e6), rate)
			return nil
		},
	}
	f.add(cmd)
	cmd.Flags().IntVar(&f.opts.ChunkBytes, "chunk", bulk.DefaultChunkBytes, "bytes of files sent in one command: larger ones queue longer on the secondaries (clients of the namespace wait on them)")
	return cmd
}

func exportCmd() *cobra.Command {
	f := &bulkFlags{}
	cmd := &cobra.Command{
		Use:   "export FILE",
		Short: "Write a namespace's keys to a file that import reads back",
		Long: `Write every key of a namespace, with its value (strings, and hashes in
jsonl) and its expiry, to a file in the format import reads: a backup that
'granary import' restores. Each bucket is read from its primary; writes made
while the export runs may or may not be in the file.`,
		Example: `  granary export --namespace 3 blacklist.jsonl
  granary export -n 3 --format csv - > blacklist.csv`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			o, err := f.options(cmd, args[0])
			if err != nil {
				return err
			}
			out := os.Stdout
			if args[0] != "-" {
				if out, err = os.Create(args[0]); err != nil {
					return err
				}
			}
			res, err := bulk.Export(cmd.Context(), out, o)
			if args[0] != "-" {
				if cerr := out.Close(); err == nil {
					err = cerr
				}
			}
			if err != nil {
				return err
			}
			msg := fmt.Sprintf("exported %d keys of namespace %d in %v", res.Records, o.Namespace, res.Elapsed.Round(1e6))
			if res.Skipped > 0 {
				msg += fmt.Sprintf(" (%d hashes skipped: csv cannot hold them, use jsonl)", res.Skipped)
			}
			fmt.Fprintln(cmd.ErrOrStderr(), msg)
			return nil
		},
	}
	f.add(cmd)
	return cmd
}
