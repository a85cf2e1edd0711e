//go:build e2e

package cluster

import (
	"context"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"granary/test/testbin"
)

// TestExamples builds the programs of examples/ and runs each against a
// cluster, given only the config server's address, checking what it prints.
func TestExamples(t *testing.T) {
	dir := t.TempDir()
	if err := testbin.BuildPackages("cluster", dir, "granary/examples/..."); err != nil {
		t.Fatal(err)
	}
	c := startCluster(t, clusterOpts{configs: 1, data: 3, autoAdd: true, copies: 2})
	for _, tc := range []struct {
		name string
		args []string
		want []string // regular expressions, each matching a line of the output, in order
	}{
		{"cacheaside", []string{"-db-latency", "20ms"}, []string{
			`^product 1: tea, 4.50 \(from database, `,
			`^product 1: tea, 4.50 \(from granary, `,
			`^product 2: price changed in the database$`,
			`^product 2: coffee, 3.40 \(from database, `,
			`^product 2: coffee, 3.40 \(from granary, `,
			`^database queries: 4$`,
		}},
		{"cacheaside", []string{"-db-latency", "1ms", "-local-cache", "1m", "-namespace", "5"}, []string{
			`^product 3: cocoa, 3.90 \(from database, `,
			`^product 3: cocoa, 3.90 \(from granary, `,
			`^product 3: cocoa, 3.90 \(from local cache, `,
			`^database queries: 4$`,
		}},
		{"sessions", []string{"-tabs", "8"}, []string{
			`^session created for ada$`,
			`^user ada, cart of 8 items after 8 concurrent updates \(version 9\): item-0 item-1 item-2 item-3 item-4 item-5 item-6 item-7$`,
			`^logged out: session gone$`,
		}},
		{"ratelimit", []string{"-limit", "10", "-requests", "25"}, []string{
			`^alice: 10 requests allowed, 15 refused \(limit 10 per 1m0s\)$`,
			`^bob: 10 requests allowed, 15 refused \(limit 10 per 1m0s\)$`,
		}},
		{"lock", []string{"-workers", "4", "-adds", "10"}, []string{
			`^balance 40 after 4 workers added 1 10 times each under the lock$`,
			`^the paused holder's lock expired; the next holder's token is larger: true$`,
			`^the paused holder's late write: refused: true$`,
			`^the paused holder's Unlock: lock lost$`,
			`^balance 1000$`,
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
			defer cancel()
			args := append([]string{"-addrs", c.cfg[0].resp}, tc.args...)
			if suiteTLS != nil {
				args = append(args, "-tls-ca", suiteTLS.CA, "-tls-cert", suiteTLS.ClientCert, "-tls-key", suiteTLS.ClientKey)
			}
			out, err := exec.CommandContext(ctx, filepath.Join(dir, tc.name), args...).CombinedOutput()
			t.Logf("%s %s:\n%s", tc.name, strings.Join(args, " "), out)
			if err != nil {
				t.Fatalf("%s: %v", tc.name, err)
			}
			lines := strings.Split(string(out), "\n")
			i := 0
			for _, want := range tc.want {
				re := regexp.MustCompile(want)
				for i < len(lines) && !re.MatchString(lines[i]) {
					i++
				}
				if i == len(lines) {
					t.Errorf("%s: no line matching %q (in order)", tc.name, want)
					return
				}
			}
		})
	}
}
