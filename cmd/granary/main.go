// Command granary is the single binary of Granary: data servers, config
// servers, a local dev cluster and the tools. Subcommands only parse flags and
// call into internal packages.
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/spf13/cobra"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := rootCmd().ExecuteContext(ctx); err != nil {
		fmt.Fprintln(os.Stderr, "granary:", err)
		os.Exit(1)
	}
}

func rootCmd() *cobra.Command {
	root := &cobra.Command{
		Use:   "granary",
		Short: "Granary: a distributed key-value store that speaks the Redis protocol",
		Long: `Granary stores keys in 16384 buckets spread over data servers, with an
in-memory engine and Tair's features (namespaces, versions, counters, expiry),
and is used with any Redis client.

Start a local cluster with 'granary dev', then 'redis-cli -c -p 5198'.`,
		SilenceUsage:  true,
		SilenceErrors: true,
		Version:       version,
	}
	root.AddCommand(devCmd(), configCmd(), dataCmd(), ctlCmd(), importCmd(), exportCmd(), healthcheckCmd())
	return root
}
