//go:build fault

// Package fault is Granary's fault-injection suite: it runs a cluster of real
// `granary` processes (three config servers, three data servers, each on its
// own loopback address), drives it with concurrent go-redis cluster clients,
// injects faults (SIGKILL, SIGSTOP, a network cut with iptables, the config
// leader killed, restarts) and checks what the clients saw: every history of
// single-key operations must be linearizable (porcupine) and no acknowledged
// write may be lost, in a `sync` namespace; an `async` namespace is measured
// and reported only.
//
//	go test -count=1 -tags fault -timeout 60m ./test/fault/ -v   (or: make fault)
//
// The knobs are environment variables (knobs_test.go, README.md). It needs
// root for iptables.
//
//	main_test.go      builds the binary, reads the data server's flags
//	knobs_test.go     the FAULT_* environment variables
//	proc_test.go      one process: start, SIGKILL, SIGSTOP/SIGCONT, SIGTERM, restart
//	cluster_test.go   the cluster: addresses, start, ctl, waiting until healthy
//	netcut_test.go    iptables: a chain of this run's own, cuts and heals
//	workload_test.go  clients and the history they record
//	check_test.go     porcupine's register model, lost writes, visualizations
//	checkself_test.go the checker on hand-made histories
//	report_test.go    write unavailability per fault, replication lag, the summary
//	fault_test.go     the fault kinds and the test
package fault

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"testing"

	"github.com/redis/go-redis/v9"

	"granary/test/testbin"
)

type quiet struct{}

func (quiet) Printf(context.Context, string, ...any) {}

// granaryBin is the binary built by TestMain.
var granaryBin string

// dataFlags are the optional `granary data` flags the harness uses when the
// binary has them (they come with replication).
var dataFlags struct {
	sourceAddr, lease, clusterSecret bool
}

// configSecret says `granary config` takes --cluster-secret too.
var configSecret bool

func TestMain(m *testing.M) {
	os.Exit(run(m))
}

func run(m *testing.M) int {
	// go-redis logs every failed dial; the history records them.
	redis.SetLogger(quiet{})
	dir, err := os.MkdirTemp("", "granary-fault-bin-")
	if err != nil {
		fmt.Fprintln(os.Stderr, "fault:", err)
		return 1
	}
	defer os.RemoveAll(dir)
	if granaryBin, err = testbin.Build("fault", dir); err != nil {
		fmt.Fprintln(os.Stderr, "fault:", err)
		return 1
	}
	data, err := helpText("data")
	if err != nil {
		fmt.Fprintln(os.Stderr, "fault:", err)
		return 1
	}
	dataFlags.sourceAddr = hasFlag(data, "source-addr")
	dataFlags.lease = hasFlag(data, "lease")
	dataFlags.clusterSecret = hasFlag(data, "cluster-secret")
	config, err := helpText("config")
	if err != nil {
		fmt.Fprintln(os.Stderr, "fault:", err)
		return 1
	}
	configSecret = hasFlag(config, "cluster-secret")
	return m.Run()
}

// helpText returns `granary <sub> --help`.
func helpText(sub string) (string, error) {
	var out bytes.Buffer
	cmd := exec.Command(granaryBin, sub, "--help")
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("granary %s --help: %v\n%s", sub, err, out.String())
	}
	return out.String(), nil
}

// hasFlag reports whether a help text lists --name.
func hasFlag(help, name string) bool {
	for _, l := range strings.Split(help, "\n") {
		for _, f := range strings.Fields(l) {
			if f == "--"+name {
				return true
			}
		}
	}
	return false
}
