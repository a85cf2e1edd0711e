//go:build compose

// Package compose tests deploy/docker-compose.yml as users run it: the
// FROM scratch image built from deploy/Dockerfile, three config servers and
// three data servers in containers, a client load through a go-redis
// ClusterClient, one data server killed under the load.
//
//	go test -count=1 -tags compose -timeout 15m ./test/compose/ -v   (or: make compose-test)
//
// It needs Docker and docker-compose (v1, Debian's package) or the compose
// plugin; $COMPOSE and $DOCKER choose the commands (the Makefile sets them).
// Without them the test fails: it never skips.
//
// The client runs in a container on the compose network (workload/, built
// static into an image FROM the granary image): the data servers advertise
// their service names (data1:7001, ...), which only resolve there, and they
// must, since the data servers replicate to each other at those addresses.
// The test on the host only builds, starts, kills and stops containers, so
// it publishes no port and runs next to `make run` or another run of itself
// (every run has its own compose project, images and volumes).
package compose

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"granary/internal/clusterapi"
)

const (
	configAPIs  = "cfg1:8198,cfg2:8198,cfg3:8198"
	configRESPs = "cfg1:5198,cfg2:5198,cfg3:5198"
	victim      = "data2" // the data server killed under load
	// failoverBound is how long after the kill the cluster must serve
	// every bucket again (docs/replication.md: about two seconds; the
	// margin is for a loaded two-core machine).
	failoverBound = 30 * time.Second
	// settle is how long after the cluster serves again client errors are
	// still forgiven: the client reloads its table every 500 ms.
	settle = 3 * time.Second
	// afterHeal is how long the load goes on once the cluster serves again.
	afterHeal = 8 * time.Second
)

// env is the test's Docker environment.
type env struct {
	t          *testing.T
	root       string   // the repository
	dockerCmd  []string // docker
	composeCmd []string // docker-compose or docker compose, with -p and -f
	project    string
	image      string // granary image
	client     string // workload image
	network    string
	vars       []string // environment of docker-compose
}

func TestComposeCluster(t *testing.T) {
	start := time.Now()
	e := newEnv(t)
	phase := func(what string, since time.Time) {
		t.Logf("%-44s %6.1fs (total %.1fs)", what, time.Since(since).Seconds(), time.Since(start).Seconds())
	}

	t0 := time.Now()
	e.buildImages()
	phase("built the binaries and images", t0)

	t0 = time.Now()
	e.compose("up", "-d")
	e.network = e.findNetwork()
	phase("docker-compose up -d", t0)

	t0 = time.Now()
	e.clientRun(3*time.Minute, "wait", "--config-servers", configAPIs, "--up", "3", "--copies", "2", "--timeout", "150s")
	phase("cluster healthy (3 data servers, 2 copies)", t0)

	// A namespace of its own, acknowledged after every replica applied a
	// write (sync is the default; said explicitly here). granary ctl runs
	// in a config server's container; without --config-servers it takes
	// GRANARY_CONFIG_SERVERS from the compose file.
	e.composeExec("cfg1", "/granary", "ctl", "--config-servers", configAPIs, "namespace", "create", "1", "--name", "compose", "--ack", "sync")
	var nss []clusterapi.Namespace
	if err := json.Unmarshal([]byte(e.composeExec("cfg2", "/granary", "ctl", "--json", "namespace", "list")), &nss); err != nil {
		t.Fatalf("granary ctl --json namespace list: %v", err)
	}
	if len(nss) != 1 || nss[0].ID != 1 || nss[0].Ack != clusterapi.AckSync {
		t.Fatalf("namespaces %+v, want namespace 1 with ack sync", nss)
	}

	load := e.project + "-load"
	e.docker("run", "-d", "--name", load, "--network", e.network, e.client,
		"load", "--seeds", configRESPs, "--namespace", "1", "--workers", "4")
	t0 = time.Now()
	e.waitLog(load, "progress ops=", 30*time.Second)
	time.Sleep(5 * time.Second)
	phase("client load running", t0)

	victimID := strings.TrimSpace(e.compose("ps", "-q", victim))
	if victimID == "" {
		t.Fatalf("no container for %s", victim)
	}
	killedAt := time.Now()
	e.docker("kill", victimID)
	e.clientRun(failoverBound+30*time.Second, "wait", "--config-servers", configAPIs, "--up", "2", "--copies", "1",
		"--timeout", failoverBound.String())
	healedAt := time.Now()
	phase(victim+" killed: the cluster serves again", killedAt)

	time.Sleep(afterHeal)
	stoppedAt := time.Now()
	e.docker("kill", "--signal", "TERM", load)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	if out, err := e.run(ctx, nil, e.dockerCmd[0], append(e.dockerCmd[1:], "wait", load)...); err != nil || strings.TrimSpace(out) != "0" {
		t.Fatalf("the load container exited with %q, %v; its log:\n%s", strings.TrimSpace(out), err, e.logs(load))
	}
	rep := e.report(load)
	phase("load stopped, acknowledged writes read back", stoppedAt)
	e.check(rep, killedAt, healedAt, stoppedAt)
	t.Logf("compose test: %.1fs in all", time.Since(start).Seconds())
}

// check judges the load's report.
func (e *env) check(rep *report, killedAt, healedAt, stoppedAt time.Time) {
	t := e.t
	t.Logf("load: %d rounds (%d ok, %d errors, %d wrong reads) over %v; %d acknowledged writes, %d read back, %d lost",
		rep.Ops, rep.OK, rep.Errors, rep.Wrong, rep.Stop.Sub(rep.Start).Round(time.Millisecond), rep.Acked, rep.Checked, rep.Lost)
	t.Logf("%s killed at +%v, cluster serving again %v later",
		victim, killedAt.Sub(rep.Start).Round(time.Millisecond), healedAt.Sub(killedAt).Round(time.Millisecond))
	if rep.Errors > 0 {
		t.Logf("client errors from +%v to +%v after the kill; samples:", rep.FirstError.Sub(killedAt).Round(time.Millisecond),
			rep.LastError.Sub(killedAt).Round(time.Millisecond))
		for _, s := range rep.ErrorSamples {
			t.Logf("  %+.3fs after the kill: %s", s.At.Sub(killedAt).Seconds(), s.Err)
		}
	}
	if rep.Wrong > 0 {
		t.Errorf("%d GETs right after an acknowledged SET read another value", rep.Wrong)
	}
	if rep.Acked == 0 || rep.Checked != rep.Acked {
		t.Errorf("%d acknowledged writes, %d read back: want all of them, and some", rep.Acked, rep.Checked)
	}
	if rep.Lost > 0 {
		t.Errorf("%d of %d acknowledged writes lost (ack sync, 2 copies: want none):\n  %s", rep.Lost, rep.Acked,
			strings.Join(rep.LostSamples, "\n  "))
	}
	if !rep.FirstError.IsZero() && rep.FirstError.Before(killedAt) {
		t.Errorf("the client saw errors in a healthy cluster, before the kill (the first at +%v): %s",
			rep.FirstError.Sub(rep.Start).Round(time.Millisecond), rep.ErrorSamples[0].Err)
	}
	if !rep.LastError.IsZero() && rep.LastError.After(healedAt.Add(settle)) {
		t.Errorf("client error %v after the cluster served again (want none after %v): %s",
			rep.LastError.Sub(healedAt).Round(time.Millisecond), settle, rep.ErrorSamples[len(rep.ErrorSamples)-1].Err)
	}
	// Writes and reads go on: every whole second from the settle time to
	// the stop has rounds that succeeded.
	ok := map[int64]int{}
	var stalled []string
	for _, s := range rep.Seconds {
		ok[s.Unix] = s.OK
	}
	for sec := healedAt.Add(settle).Unix() + 1; sec < stoppedAt.Unix(); sec++ {
		if ok[sec] == 0 {
			stalled = append(stalled, fmt.Sprintf("+%ds", sec-killedAt.Unix()))
		}
	}
	if len(stalled) > 0 {
		t.Errorf("no successful round in these seconds after the kill, once the cluster served again: %s", strings.Join(stalled, " "))
	}
	var zero []string
	for sec := killedAt.Unix(); sec <= healedAt.Unix(); sec++ {
		if ok[sec] == 0 {
			zero = append(zero, fmt.Sprintf("+%ds", sec-killedAt.Unix()))
		}
	}
	t.Logf("seconds after the kill without a successful round: %d %v", len(zero), zero)
}

// report is the workload's Report (test/compose/workload).
type report struct {
	Start, Stop  time.Time
	Ops          int
	OK           int
	Errors       int
	Wrong        int
	ErrorSamples []struct {
		At  time.Time
		Err string
	}
	FirstError time.Time
	LastError  time.Time
	Seconds    []struct {
		Unix    int64
		OK, Err int
	}
	Acked       int
	Checked     int
	Lost        int
	LostSamples []string
}

func (e *env) report(container string) *report {
	e.t.Helper()
	out := e.docker("logs", container)
	for _, line := range strings.Split(out, "\n") {
		if js, ok := strings.CutPrefix(line, "REPORT "); ok {
			var r report
			if err := json.Unmarshal([]byte(js), &r); err != nil {
				e.t.Fatalf("the load's report: %v\n%s", err, js)
			}
			return &r
		}
	}
	e.t.Fatalf("the load printed no report; its log:\n%s", out)
	return nil
}

// ---------------------------------------------------------------------------
// Docker

func newEnv(t *testing.T) *env {
	root, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	e := &env{t: t, root: root}
	e.dockerCmd = strings.Fields(os.Getenv("DOCKER"))
	if len(e.dockerCmd) == 0 {
		e.dockerCmd = []string{"docker"}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if out, err := e.run(ctx, nil, e.dockerCmd[0], append(e.dockerCmd[1:], "version", "--format", "{{.Server.Version}}")...); err != nil {
		t.Fatalf("the compose test needs a running Docker Engine: `%s version` failed: %v\n%s", strings.Join(e.dockerCmd, " "), err, out)
	}
	composeCmd := strings.Fields(os.Getenv("COMPOSE"))
	if len(composeCmd) == 0 {
		for _, c := range [][]string{append(append([]string{}, e.dockerCmd...), "compose"), {"docker-compose"}} {
			if _, err := e.run(ctx, nil, c[0], append(c[1:], "version")...); err == nil {
				composeCmd = c
				break
			}
		}
	}
	if len(composeCmd) == 0 {
		t.Fatalf("the compose test needs docker-compose (Debian: apt-get install docker-compose) or the compose plugin (docker compose); set COMPOSE to the command")
	}
	if out, err := e.run(ctx, nil, composeCmd[0], append(composeCmd[1:], "version")...); err != nil {
		t.Fatalf("`%s version` failed: %v\n%s", strings.Join(composeCmd, " "), err, out)
	}
	b := make([]byte, 4)
	rand.Read(b)
	e.project = "granarytest" + hex.EncodeToString(b)
	e.image = "granary:" + e.project
	e.client = "granary-workload:" + e.project
	e.composeCmd = append(composeCmd, "-p", e.project, "-f", filepath.Join(root, "deploy", "docker-compose.yml"))
	e.vars = []string{"GRANARY_IMAGE=" + e.image}
	t.Logf("docker: %s; compose: %s; project %s", strings.Join(e.dockerCmd, " "), strings.Join(composeCmd, " "), e.project)
	return e
}

// run runs a command and returns its combined output.
func (e *env) run(ctx context.Context, extraEnv []string, name string, args ...string) (string, error) {
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Dir = e.root
	cmd.Env = append(os.Environ(), extraEnv...)
	var out bytes.Buffer
	cmd.Stdout = &out
	cmd.Stderr = &out
	err := cmd.Run()
	if ctx.Err() != nil {
		err = fmt.Errorf("%w (%v)", ctx.Err(), err)
	}
	return out.String(), err
}

// must runs a command within timeout and fails the test if it fails.
func (e *env) must(timeout time.Duration, extraEnv []string, name string, args ...string) string {
	e.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	out, err := e.run(ctx, extraEnv, name, args...)
	if err != nil {
		e.t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
	}
	return out
}

func (e *env) docker(args ...string) string {
	e.t.Helper()
	return e.must(2*time.Minute, nil, e.dockerCmd[0], append(e.dockerCmd[1:], args...)...)
}

func (e *env) compose(args ...string) string {
	e.t.Helper()
	return e.must(3*time.Minute, e.vars, e.composeCmd[0], append(e.composeCmd[1:], args...)...)
}

// composeExec runs a command in a service's container (no shell there:
// the command is the binary) and returns its output.
func (e *env) composeExec(service string, cmd ...string) string {
	e.t.Helper()
	return e.compose(append([]string{"exec", "-T", service}, cmd...)...)
}

// clientRun runs the workload image to completion on the compose network.
func (e *env) clientRun(timeout time.Duration, args ...string) string {
	e.t.Helper()
	out := e.must(timeout, nil, e.dockerCmd[0], append(e.dockerCmd[1:], append([]string{"run", "--rm", "--network", e.network, e.client}, args...)...)...)
	e.t.Logf("workload %s:\n%s", args[0], indent(lastLines(out, 4)))
	return out
}

// buildImages builds the granary binary and image as `make image` does
// (CGO_ENABLED=0, deploy/Dockerfile, a context of bin/granary and
// bin/image-data only), and the workload's image on top of it. They are
// removed when the test ends, after the compose project.
func (e *env) buildImages() {
	t := e.t
	dir := t.TempDir()
	imgCtx := filepath.Join(dir, "image")
	if err := os.MkdirAll(filepath.Join(imgCtx, "bin", "image-data"), 0o755); err != nil {
		t.Fatal(err)
	}
	ignore, err := os.ReadFile(filepath.Join(e.root, ".dockerignore"))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(imgCtx, ".dockerignore"), ignore, 0o644); err != nil {
		t.Fatal(err)
	}
	wlCtx := filepath.Join(dir, "workload")
	if err := os.MkdirAll(wlCtx, 0o755); err != nil {
		t.Fatal(err)
	}
	goTool := "go"
	if p, err := exec.LookPath("go"); err == nil {
		goTool = p
	}
	static := []string{"CGO_ENABLED=0"}
	e.must(10*time.Minute, static, goTool, "build", "-trimpath", "-o", filepath.Join(imgCtx, "bin", "granary"), "./cmd/granary")
	e.must(10*time.Minute, static, goTool, "build", "-trimpath", "-tags", "compose", "-o", filepath.Join(wlCtx, "workload"), "./test/compose/workload")
	wlDockerfile := "FROM " + e.image + "\nCOPY workload /workload\nENTRYPOINT [\"/workload\"]\n"
	if err := os.WriteFile(filepath.Join(wlCtx, "Dockerfile"), []byte(wlDockerfile), 0o644); err != nil {
		t.Fatal(err)
	}

	// Everything made from here on is removed at the end, logs first.
	t.Cleanup(e.cleanup)
	e.docker("build", "-q", "-f", filepath.Join(e.root, "deploy", "Dockerfile"), "-t", e.image, imgCtx)
	e.docker("build", "-q", "-t", e.client, wlCtx)
	// The image holds the binary alone and runs unprivileged.
	if got := strings.TrimSpace(e.docker("image", "inspect", "--format", "{{.Config.User}} {{.Config.WorkingDir}} {{json .Config.Entrypoint}}", e.image)); got != `65532:65532 /data ["/granary"]` {
		t.Errorf("image config %q, want user 65532:65532, workdir /data, entrypoint /granary", got)
	}
}

// cleanup prints the logs when the test failed, then removes the compose
// project (containers, network, volumes), the load's container and the images.
func (e *env) cleanup() {
	t := e.t
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	load := e.project + "-load"
	if t.Failed() {
		out, _ := e.run(ctx, e.vars, e.composeCmd[0], append(e.composeCmd[1:], "logs", "--no-color", "--tail", "150")...)
		t.Logf("docker-compose logs (last 150 lines of each):\n%s", out)
		t.Logf("load container's log:\n%s", lastLines(e.logs(load), 60))
	}
	var errs []error
	if out, err := e.run(ctx, nil, e.dockerCmd[0], append(e.dockerCmd[1:], "rm", "-f", "-v", load)...); err != nil && !strings.Contains(out, "No such container") {
		errs = append(errs, fmt.Errorf("docker rm %s: %w: %s", load, err, out))
	}
	if out, err := e.run(ctx, e.vars, e.composeCmd[0], append(e.composeCmd[1:], "down", "-v", "--remove-orphans", "--timeout", "5")...); err != nil {
		errs = append(errs, fmt.Errorf("docker-compose down: %w: %s", err, out))
	}
	if out, err := e.run(ctx, nil, e.dockerCmd[0], append(e.dockerCmd[1:], "rmi", e.client, e.image)...); err != nil && !strings.Contains(out, "No such image") {
		errs = append(errs, fmt.Errorf("docker rmi: %w: %s", err, out))
	}
	if err := errors.Join(errs...); err != nil {
		t.Errorf("clean-up: %v", err)
	}
}

// logs returns a container's output ("" if there is none).
func (e *env) logs(container string) string {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	out, _ := e.run(ctx, nil, e.dockerCmd[0], append(e.dockerCmd[1:], "logs", container)...)
	return out
}

// findNetwork returns the name of the project's network.
func (e *env) findNetwork() string {
	e.t.Helper()
	out := strings.Fields(e.docker("network", "ls", "--filter", "label=com.docker.compose.project="+e.project, "--format", "{{.Name}}"))
	if len(out) != 1 {
		e.t.Fatalf("networks of project %s: %v, want one", e.project, out)
	}
	return out[0]
}

// waitLog waits until a container's log holds s.
func (e *env) waitLog(container, s string, timeout time.Duration) {
	e.t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		out := e.logs(container)
		if strings.Contains(out, s) {
			return
		}
		if time.Now().After(deadline) {
			e.t.Fatalf("%q not in the log of %s after %v:\n%s", s, container, timeout, lastLines(out, 30))
		}
		time.Sleep(250 * time.Millisecond)
	}
}

func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

func indent(s string) string { return "  " + strings.ReplaceAll(s, "\n", "\n  ") }
