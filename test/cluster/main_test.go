//go:build e2e

// Package cluster holds Granary's control-plane end-to-end tests: real config
// servers (a Raft group of one or three) and real data servers, each a
// `granary` process on free loopback ports with its own directory, driven by
// stock Redis cluster clients, redis-cli, redis-benchmark and `granary ctl`.
//
//	go test -count=1 -tags e2e -timeout 20m ./test/cluster/   (or: make cluster-test)
//
// TestMain builds ../../cmd/granary once per run. Every process writes its
// output to a log file in the test's directory; when a test fails, the last
// lines of every log are printed with the file's path, and the directory
// (logs, Raft state, node ids) is kept. redis-cli and redis-benchmark must be
// on PATH (make deps). With GRANARY_TEST_TLS=1 (make cluster-test-tls) every
// server and client speaks TLS (tls_test.go).
//
//	harness_test.go   processes (start, SIGKILL, restart), clusters, waiting for a table
//	clients_test.go   go-redis and rueidis cluster clients, redis-cli -c and
//	                  redis-benchmark --cluster given only a config server's address
//	failover_test.go  config leader killed under client load; every config server killed
//	nodes_test.go     a data server restarted with its directory; an unknown node refused
//	                  until `granary ctl node add`
//	caching_test.go   rueidis' client-side cache on a replicated cluster, history checked
//	dashboard_test.go the web dashboard in headless chromium: nodes shown, a killed one
//	                  shown down (make dashboard-test; cluster-test skips it)
//	client_test.go    every call of granary/client; client_failover_test.go: a data
//	                  server SIGKILLed under them; client_throttle_test.go: a
//	                  flow-limited namespace (THROTTLED and the client's backoff)
//	examples_test.go  the programs of examples/, built and run
//	migrate_test.go   a node added and one drained and removed under client load
//	verify_test.go    `granary ctl verify` finds replicas equal (also under writes), then
//	                  two damaged copies (and their keys); `verify --repair` re-copies
//	                  them; differences by evictions are reported apart
package cluster

import (
	"fmt"
	"granary/test/testbin"
	"os"
	"path/filepath"
	"testing"
)

// granaryBin is the binary built by TestMain.
var granaryBin string

func TestMain(m *testing.M) {
	os.Exit(run(m))
}

func run(m *testing.M) int {
	dir, err := os.MkdirTemp("", "granary-cluster-")
	if err != nil {
		fmt.Fprintln(os.Stderr, "cluster:", err)
		return 1
	}
	defer os.RemoveAll(dir)
	if err := setupTLS(filepath.Join(dir, "tls")); err != nil {
		fmt.Fprintln(os.Stderr, "cluster:", err)
		return 1
	}
	if granaryBin, err = testbin.Build("cluster", dir); err != nil {
		fmt.Fprintln(os.Stderr, "cluster:", err)
		return 1
	}
	return m.Run()
}
