// Command tlscerts writes a throwaway CA and certificates for 127.0.0.1 and
// localhost (ca.crt, server.crt, server.key, client.crt, client.key) into a
// directory, for the benchmarks' TLS runs (TLS=1 bench/throughput.sh).
package main

import (
	"flag"
	"fmt"
	"os"

	"granary/internal/certgen"
)

func main() {
	dir := flag.String("dir", "", "directory to write the files into (required)")
	flag.Parse()
	if *dir == "" {
		fmt.Fprintln(os.Stderr, "tlscerts: -dir is required")
		os.Exit(2)
	}
	if _, err := certgen.WriteFiles(*dir, "127.0.0.1", "localhost"); err != nil {
		fmt.Fprintln(os.Stderr, "tlscerts:", err)
		os.Exit(1)
	}
}
