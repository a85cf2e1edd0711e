//go:build fault

package fault

import (
	"cmp"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
)

// knobs are the run's settings, from FAULT_* environment variables; the
// defaults are CI's short run (a couple of minutes).
type knobs struct {
	kinds      []string      // FAULT_KINDS: fault kinds in order (see faultKinds)
	rounds     int           // FAULT_ROUNDS: faults of each kind
	namespaces []string      // FAULT_NAMESPACES: ack modes to run side by side: sync, async
	clients    int           // FAULT_CLIENTS: concurrent clients per namespace
	keys       int           // FAULT_KEYS: registers (keys read and overwritten) per namespace
	opTimeout  time.Duration // FAULT_OP_TIMEOUT: bound of one client operation
	pause      time.Duration // FAULT_PAUSE: a client's pause between operations
	quiet      time.Duration // FAULT_QUIET: load without faults before the first and after each
	down       time.Duration // FAULT_DOWN: how long a killed server stays down (and the "none" fault lasts)
	stop       time.Duration // FAULT_STOP: how long a SIGSTOPped data server stays stopped
	cut        time.Duration // FAULT_CUT: how long a data server is cut off
	lease      time.Duration // FAULT_LEASE: --lease of the data servers (0: their default)
	reload     time.Duration // FAULT_CLIENT_RELOAD: clients' ClusterStateReloadInterval (default 500ms; 0: go-redis' own, 10s)
	heal       time.Duration // FAULT_HEAL_TIMEOUT: bound on waiting for a healthy cluster
	check      time.Duration // FAULT_CHECK_TIMEOUT: bound on porcupine's search per namespace
	out        string        // FAULT_OUT: where runs keep logs, data and visualizations
	keep       bool          // FAULT_KEEP: keep the run's directory when the test passes
	engine     string        // FAULT_ENGINE: engine of the namespaces: mem or disk
}

// faultKinds are the known fault kinds, in the default order.
var faultKinds = []string{"none", "kill", "stop", "partition", "config-kill", "restart", "move-kill", "move-config-kill"}

func loadKnobs(t *testing.T) knobs {
	t.Helper()
	k := knobs{
		kinds:      envList(t, "FAULT_KINDS", faultKinds),
		rounds:     envInt(t, "FAULT_ROUNDS", 1),
		namespaces: envList(t, "FAULT_NAMESPACES", []string{"sync", "async"}),
		clients:    envInt(t, "FAULT_CLIENTS", 8),
		keys:       envInt(t, "FAULT_KEYS", 64),
		opTimeout:  envDuration(t, "FAULT_OP_TIMEOUT", time.Second),
		pause:      envDuration(t, "FAULT_PAUSE", 5*time.Millisecond),
		quiet:      envDuration(t, "FAULT_QUIET", 3*time.Second),
		down:       envDuration(t, "FAULT_DOWN", 5*time.Second),
		stop:       envDuration(t, "FAULT_STOP", 3*time.Second),
		cut:        envDuration(t, "FAULT_CUT", 5*time.Second),
		lease:      envDuration(t, "FAULT_LEASE", 0),
		reload:     envDuration(t, "FAULT_CLIENT_RELOAD", 500*time.Millisecond),
		heal:       envDuration(t, "FAULT_HEAL_TIMEOUT", 2*time.Minute),
		check:      envDuration(t, "FAULT_CHECK_TIMEOUT", 2*time.Minute),
		out:        os.Getenv("FAULT_OUT"),
		keep:       os.Getenv("FAULT_KEEP") == "1",
		engine:     cmp.Or(os.Getenv("FAULT_ENGINE"), "mem"),
	}
	if k.engine != "mem" && k.engine != "disk" {
		t.Fatalf("FAULT_ENGINE: %q is neither mem nor disk", k.engine)
	}
	clientReload = k.reload
	if k.out == "" {
		k.out = filepath.Join(os.TempDir(), "granary-fault")
	}
	for _, kind := range k.kinds {
		if !slices.Contains(faultKinds, kind) {
			t.Fatalf("FAULT_KINDS: unknown fault kind %q (known: %s)", kind, strings.Join(faultKinds, ","))
		}
	}
	for _, ns := range k.namespaces {
		if ns != "sync" && ns != "async" {
			t.Fatalf("FAULT_NAMESPACES: %q is neither sync nor async", ns)
		}
	}
	if k.rounds < 1 || k.clients < 1 || k.keys < 1 {
		t.Fatalf("FAULT_ROUNDS, FAULT_CLIENTS and FAULT_KEYS must be at least 1")
	}
	return k
}

func envList(t *testing.T, name string, def []string) []string {
	v := strings.TrimSpace(os.Getenv(name))
	if v == "" {
		return def
	}
	var out []string
	for _, s := range strings.Split(v, ",") {
		if s = strings.TrimSpace(s); s != "" {
			out = append(out, s)
		}
	}
	if len(out) == 0 {
		t.Fatalf("%s=%q lists nothing", name, v)
	}
	return out
}

func envInt(t *testing.T, name string, def int) int {
	v := os.Getenv(name)
	if v == "" {
		return def
	}
	n, err := strconv.Atoi(v)
	if err != nil {
		t.Fatalf("%s=%q: %v", name, v, err)
	}
	return n
}

func envDuration(t *testing.T, name string, def time.Duration) time.Duration {
	v := os.Getenv(name)
	if v == "" {
		return def
	}
	d, err := time.ParseDuration(v)
	if err != nil {
		t.Fatalf("%s=%q: %v", name, v, err)
	}
	return d
}
