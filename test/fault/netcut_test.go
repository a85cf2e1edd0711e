//go:build fault

package fault

import (
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
)

// netcut drops packets between loopback addresses with iptables, in a chain
// of this run's own (GRANARY-FAULT-<pid>) that INPUT jumps to for loopback
// destinations (its rules name the run's addresses only). The chain is flushed when the run starts and removed when it
// ends, also when it fails; chains left behind by runs that died (their pid
// is gone) are removed at start.
type netcut struct {
	chain string
	jump  []string // the INPUT rule, without -I/-D
}

const chainPrefix = "GRANARY-FAULT-"

// newNetcut sets the chain up; it fails the test when iptables cannot work
// (not root, no iptables: .ci/run installs it).
func newNetcut(t *testing.T) *netcut {
	t.Helper()
	if _, err := exec.LookPath("iptables"); err != nil {
		t.Fatalf("the partition fault needs iptables (apt-get install -y iptables; .ci/run installs it): %v", err)
	}
	removeStaleChains(t)
	n := &netcut{chain: chainPrefix + strconv.Itoa(os.Getpid())}
	n.jump = []string{"INPUT", "-d", "127.0.0.0/8", "-j", n.chain}
	// Leftovers of a run with the same pid, then a fresh chain.
	iptables(n.jumpRule("-D")...)
	iptables("-F", n.chain)
	iptables("-X", n.chain)
	if out, err := iptables("-N", n.chain); err != nil {
		t.Fatalf("iptables cannot work here (the partition fault needs root and netfilter): -N %s: %v\n%s", n.chain, err, out)
	}
	t.Cleanup(n.remove)
	if out, err := iptables(n.jumpRule("-I")...); err != nil {
		t.Fatalf("iptables -I %s: %v\n%s", strings.Join(n.jump, " "), err, out)
	}
	return n
}

// jumpRule is the INPUT rule jumping to the chain, after the action (-I, -D).
func (n *netcut) jumpRule(action string) []string {
	return append([]string{action}, n.jump...)
}

// cut drops every packet between a and each of others, both ways.
func (n *netcut) cut(a string, others []string) error {
	for _, b := range others {
		for _, r := range [][2]string{{a, b}, {b, a}} {
			if out, err := iptables("-A", n.chain, "-s", r[0], "-d", r[1], "-j", "DROP"); err != nil {
				return fmt.Errorf("iptables -A %s -s %s -d %s -j DROP: %v\n%s", n.chain, r[0], r[1], err, out)
			}
		}
	}
	return nil
}

// heal removes every cut.
func (n *netcut) heal() error {
	if out, err := iptables("-F", n.chain); err != nil {
		return fmt.Errorf("iptables -F %s: %v\n%s", n.chain, err, out)
	}
	return nil
}

// remove takes the chain and its jump away.
func (n *netcut) remove() {
	iptables(n.jumpRule("-D")...)
	iptables("-F", n.chain)
	iptables("-X", n.chain)
}

// removeStaleChains removes the chains (and their jumps) of runs whose
// process is gone.
func removeStaleChains(t *testing.T) {
	out, err := iptables("-S")
	if err != nil {
		return
	}
	var stale []string
	for _, l := range strings.Split(out, "\n") {
		f := strings.Fields(l)
		if len(f) == 2 && f[0] == "-N" && strings.HasPrefix(f[1], chainPrefix) {
			pid, err := strconv.Atoi(strings.TrimPrefix(f[1], chainPrefix))
			if err == nil && pid != os.Getpid() {
				if _, err := os.Stat("/proc/" + strconv.Itoa(pid)); os.IsNotExist(err) {
					stale = append(stale, f[1])
				}
			}
		}
	}
	for _, ch := range stale {
		for _, l := range strings.Split(out, "\n") {
			f := strings.Fields(l)
			if len(f) > 2 && f[0] == "-A" && f[1] == "INPUT" && f[len(f)-1] == ch {
				iptables(append([]string{"-D"}, f[1:]...)...)
			}
		}
		iptables("-F", ch)
		iptables("-X", ch)
		t.Logf("removed iptables chain %s, left behind by a run that is gone", ch)
	}
}

func iptables(args ...string) (string, error) {
	out, err := exec.Command("iptables", append([]string{"-w"}, args...)...).CombinedOutput()
	return string(out), err
}
