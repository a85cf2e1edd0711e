//go:build e2e

package e2e

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// redisCLI runs redis-cli with args (and stdin) and returns its output.
func redisCLI(t *testing.T, stdin []byte, args ...string) string {
	t.Helper()
	bin, err := exec.LookPath("redis-cli")
	if err != nil {
		t.Fatal("redis-cli not found: run `make deps` (apt-get install redis-server redis-tools)")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, args...)
	if stdin != nil {
		cmd.Stdin = bytes.NewReader(stdin)
	}
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("redis-cli %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return string(out)
}

// TestRedisCLI: redis-cli in cluster mode (-c) and its mass-insert mode
// (--pipe), as users run them.
func TestRedisCLI(t *testing.T) {
	g := startGranary(t, granaryOpts{})
	port := strconv.Itoa(g.port)

	if out := redisCLI(t, nil, "-c", "-p", port, "set", "foo", "bar"); strings.TrimSpace(out) != "OK" {
		t.Errorf("redis-cli -c set foo bar: %q, want OK", out)
	}
	if out := redisCLI(t, nil, "-c", "-p", port, "get", "foo"); strings.TrimSpace(out) != "bar" {
		t.Errorf("redis-cli -c get foo: %q, want bar", out)
	}
	if out := redisCLI(t, nil, "-c", "-h", "127.0.0.1", "-p", port, "incrby", "{user1}:n", "5"); strings.TrimSpace(out) != "5" {
		t.Errorf("redis-cli -c incrby: %q, want 5", out)
	}
	if out := redisCLI(t, nil, "-p", port, "ping"); strings.TrimSpace(out) != "PONG" {
		t.Errorf("redis-cli ping: %q, want PONG", out)
	}
	// Commands read from stdin, one per line, as in shell scripts.
	if out := redisCLI(t, []byte("set a 1\nincr a\nget a\n"), "-c", "-p", port); strings.Join(strings.Fields(out), " ") != "OK 2 2" {
		t.Errorf("redis-cli with commands on stdin: %q, want OK 2 2", out)
	}

	// Mass insertion: a file of RESP SET commands piped through --pipe.
	const n = 100000
	var buf bytes.Buffer
	for i := 0; i < n; i++ {
		k := "mass:" + strconv.Itoa(i)
		buf.Write(encode(nil, "SET", k, "value-"+strconv.Itoa(i)))
	}
	file := filepath.Join(t.TempDir(), "mass.resp")
	if err := os.WriteFile(file, buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	out := redisCLI(t, data, "-p", port, "--pipe")
	want := "errors: 0, replies: " + strconv.Itoa(n)
	if !strings.Contains(out, want) {
		t.Errorf("redis-cli --pipe with %d SETs: output %q does not report %q", n, out, want)
	}
	t.Logf("redis-cli --pipe: %d SETs in %v", n, time.Since(start).Round(time.Millisecond))
	c := dialRaw(t, g.addr)
	expectReply(t, c, bulk("value-99999"), "GET", "mass:99999")
	expectReply(t, c, bulk("value-0"), "GET", "mass:0")
	expectReply(t, c, integer(1), "EXISTS", "mass:54321")
}
