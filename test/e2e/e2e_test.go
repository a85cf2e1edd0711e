//go:build e2e

// Package e2e holds Granary's end-to-end tests: they run the real granary
// binary and a real redis-server as processes and talk to them over TCP.
//
//	go test -tags e2e ./test/e2e/          (or: make e2e)
//
// TestMain builds ../../cmd/granary once per run. redis-server (and redis-cli)
// must be on PATH: `make deps` installs them.
//
// For checking the tests themselves, E2E_TARGET=redis runs every test that
// compares Granary with Redis against a second redis-server instead of
// Granary (so a failure there is a bug in a test's expectations); tests of
// Granary-only behaviour are skipped in that mode. It is never set in CI.
package e2e

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"
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
		granaryBin = filepath.Join(dir, "granary")
		goTool := "go"
		if p, err := exec.LookPath("go"); err == nil {
			goTool = p
		}
		start := time.Now()
		cmd := exec.Command(goTool, "build", "-o", granaryBin, "../../cmd/granary")
		cmd.Stdout = os.Stderr
		cmd.Stderr = os.Stderr
		if err := cmd.Run(); err != nil {
			fmt.Fprintln(os.Stderr, "e2e: building granary failed:", err)
			return 1
		}
		fmt.Fprintf(os.Stderr, "e2e: built %s in %v\n", granaryBin, time.Since(start).Round(time.Millisecond))
	}
	return m.Run()
}
