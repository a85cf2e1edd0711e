package main

import (
	"fmt"

	"github.com/spf13/cobra"

	"granary/internal/dataserver"
)

func devCmd() *cobra.Command {
	var port, httpPort int
	cmd := &cobra.Command{
		Use:   "dev",
		Short: "Run a local Granary for trying it out",
		Long: `Run a local Granary on loopback for trying it out: a data server owning all
16384 buckets on port 5198 (HTTP metrics on 8198), answering the Redis Cluster
commands so that 'redis-cli -c -p 5198' and cluster clients work.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			log, err := newLogger(cmd)
			if err != nil {
				return err
			}
			o := dataserver.Options{
				Standalone: true,
				Listen:     fmt.Sprintf("127.0.0.1:%d", port),
				HTTP:       fmt.Sprintf("127.0.0.1:%d", httpPort),
				Logger:     log,
			}
			fmt.Fprintf(cmd.OutOrStdout(), "Granary dev server on 127.0.0.1:%d\n  connect:  redis-cli -c -p %d\n  metrics:  http://127.0.0.1:%d/metrics\n", port, port, httpPort)
			return runDataServer(cmd, o)
		},
	}
	cmd.Flags().IntVar(&port, "port", 5198, "RESP port")
	cmd.Flags().IntVar(&httpPort, "http-port", 8198, "HTTP port (metrics)")
	addLogFlags(cmd)
	return cmd
}
