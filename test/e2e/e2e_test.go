//go:build e2e

// Package e2e holds Granary's end-to-end tests: they run the real granary
// binary and a real redis-server as processes and talk to them over TCP.
//
//	go test -tags e2e ./test/e2e/          (or: make e2e)
//
// TestMain builds ../../cmd/granary once per run and every test starts the
// processes it needs (`granary data --standalone`, redis-server) on free
// loopback ports. redis-server and redis-cli must be on PATH: `make deps`
// installs them; without them the tests fail, they are never skipped.
//
//	harness_test.go     processes, a raw RESP client, reply trees
//	diff_test.go        differential tables against redis-server (RESP2 and
//	                    RESP3), raw protocol, cluster commands against a
//	                    one-node Redis Cluster, authentication
//	diffrandom_test.go  a long random command mix, pipelined, compared with Redis
//	exstring_test.go    TairString assertion tables
//	clients_test.go     go-redis (plain, cluster) and rueidis (cluster, single)
//	rediscli_test.go    redis-cli -c and --pipe
//	limits_test.go      abusive input: memory stays bounded, others are served
//	caching_test.go     client-side caching with rueidis and go-redis, history checked
//
// For checking the tests themselves, E2E_TARGET=redis runs every test that
// compares Granary with Redis against a second redis-server instead of
// Granary (so a failure there is a bug in a test's expectations); tests of
// Granary-only behaviour are skipped in that mode. It is never set in CI.
package e2e

import (
	"fmt"
	"granary/test/testbin"
	"os"
	"testing"
)

// granaryBin is the binary built by TestMain.
var granaryBin string

// targetIsRedis is true when E2E_TARGET=redis (see the package comment).
var targetIsRedis = os.Getenv("E2E_TARGET") == "redis"

func TestMain(m *testing.M) {
	os.Exit(run(m))
}

func run(m *testing.M) int {
	dir, err := os.MkdirTemp("", "granary-e2e-")
	if err != nil {
		fmt.Fprintln(os.Stderr, "e2e:", err)
		return 1
	}
	defer os.RemoveAll(dir)
	if !targetIsRedis {
		if granaryBin, err = testbin.Build("e2e", dir); err != nil {
			fmt.Fprintln(os.Stderr, "e2e:", err)
			return 1
		}
	}
	return m.Run()
}
