//go:build e2e

package e2e

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"os/exec"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// ---------------------------------------------------------------------------
// Server processes

// proc is a server process started by a test: a redis-server or a granary.
type proc struct {
	name string // "redis" or "granary"
	addr string // 127.0.0.1:port
	port int
	cmd  *exec.Cmd
	out  *syncBuffer // its stdout and stderr

	exited  chan struct{} // closed when the process has exited
	exitErr error         // valid after exited is closed
	killed  bool          // the test stopped it on purpose
	mu      sync.Mutex
}

// syncBuffer collects a process' output.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.b.Len() > 4<<20 { // keep the last part only
		tail := append([]byte(nil), b.b.Bytes()[b.b.Len()-(1<<20):]...)
		b.b.Reset()
		b.b.Write(tail)
	}
	return b.b.Write(p)
}

// Tail returns the last n lines.
func (b *syncBuffer) Tail(n int) string {
	b.mu.Lock()
	defer b.mu.Unlock()
	lines := strings.Split(strings.TrimRight(b.b.String(), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// PID returns the process id.
func (p *proc) PID() int { return p.cmd.Process.Pid }

// Alive reports whether the process is still running.
func (p *proc) Alive() bool {
	select {
	case <-p.exited:
		return false
	default:
		return true
	}
}

// RSS returns the process' resident set size in bytes (VmRSS).
func (p *proc) RSS(t testing.TB) int64 {
	t.Helper()
	r, err := rssOf(p.PID())
	if err != nil {
		t.Fatalf("%s: RSS: %v", p.name, err)
	}
	return r
}

// freePort returns a loopback port that was free a moment ago.
func freePort(t testing.TB) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("free port: %v", err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// redisServerPath returns redis-server's path or fails the test: the
// differential tests are the point of this package and are never skipped.
func redisServerPath(t testing.TB) string {
	t.Helper()
	p, err := exec.LookPath("redis-server")
	if err != nil {
		t.Fatal("redis-server not found: run `make deps` (apt-get install redis-server redis-tools)")
	}
	return p
}

// startRedis starts a reference redis-server on a free loopback port, with
// persistence off; extra are more command-line options ("--requirepass", "x").
// It is killed when the test ends.
func startRedis(t testing.TB, extra ...string) *proc {
	t.Helper()
	bin := redisServerPath(t)
	return startProc(t, "redis", func(port int) []string {
		args := []string{bin, "--save", "", "--appendonly", "no", "--port", strconv.Itoa(port), "--bind", "127.0.0.1"}
		return append(args, extra...)
	})
}

// granaryOpts are the options of a granary process.
type granaryOpts struct {
	RequirePass string
	// Disk runs every namespace on the disk engine, in a directory of the
	// test's (Dir, or a temporary one).
	Disk bool
	Dir  string
	Args []string // more flags
}

// startGranary starts `granary data --standalone` (the binary TestMain built)
// on a free loopback port and waits until it answers PING. It is stopped when
// the test ends, and the test fails if it died before that.
// With E2E_TARGET=redis it starts a redis-server instead.
func startGranary(t testing.TB, o granaryOpts) *proc {
	t.Helper()
	if targetIsRedis {
		var extra []string
		if o.RequirePass != "" {
			extra = append(extra, "--requirepass", o.RequirePass)
		}
		p := startRedis(t, extra...)
		p.name = "granary(redis)"
		return p
	}
	return startProc(t, "granary", func(port int) []string {
		args := []string{granaryBin, "data", "--standalone", "--listen", "127.0.0.1:" + strconv.Itoa(port), "--http", ""}
		if o.RequirePass != "" {
			args = append(args, "--requirepass", o.RequirePass)
		}
		if o.Disk {
			if o.Dir == "" {
				o.Dir = t.TempDir()
			}
			args = append(args, "--engine", "disk", "--dir", o.Dir)
		}
		return append(args, o.Args...)
	})
}

func startProc(t testing.TB, name string, argv func(port int) []string) *proc {
	t.Helper()
	var lastErr error
	for attempt := 0; attempt < 3; attempt++ {
		port := freePort(t)
		args := argv(port)
		p := &proc{name: name, port: port, addr: "127.0.0.1:" + strconv.Itoa(port), out: &syncBuffer{}, exited: make(chan struct{})}
		p.cmd = exec.Command(args[0], args[1:]...)
		p.cmd.Stdout = p.out
		p.cmd.Stderr = p.out
		p.cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
		if err := p.cmd.Start(); err != nil {
			t.Fatalf("start %s: %v", name, err)
		}
		go func() {
			p.exitErr = p.cmd.Wait()
			close(p.exited)
		}()
		if err := p.waitReady(10 * time.Second); err != nil {
			lastErr = fmt.Errorf("%v\n%s output:\n%s", err, name, p.out.Tail(30))
			p.stop()
			continue // most likely the port was taken in the meantime
		}
		t.Cleanup(func() {
			if !p.Alive() {
				p.mu.Lock()
				killed := p.killed
				p.mu.Unlock()
				if !killed {
					t.Errorf("%s (pid %d) died during the test: %v\nlast output:\n%s", name, p.PID(), p.exitErr, p.out.Tail(40))
				}
			}
			p.stop()
			if t.Failed() && strings.HasPrefix(p.name, "granary") {
				t.Logf("%s output (last lines):\n%s", p.name, p.out.Tail(20))
			}
		})
		return p
	}
	t.Fatalf("could not start %s: %v", name, lastErr)
	return nil
}

// waitReady waits until the server answers PING (PONG, or NOAUTH when it has
// a password).
func (p *proc) waitReady(timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	var err error
	for time.Now().Before(deadline) {
		if !p.Alive() {
			return fmt.Errorf("%s exited at start: %v", p.name, p.exitErr)
		}
		var c *rconn
		if c, err = dialRawErr(p.addr, time.Second); err == nil {
			var r reply
			r, err = c.Do("PING")
			c.Close()
			if err == nil {
				if r.kind == '+' && r.str == "PONG" || r.kind == '-' && strings.HasPrefix(r.str, "NOAUTH") {
					return nil
				}
				err = fmt.Errorf("PING answered %s", r)
			}
		}
		time.Sleep(20 * time.Millisecond)
	}
	return fmt.Errorf("%s on %s did not answer PING within %v: %v", p.name, p.addr, timeout, err)
}

// stop terminates the process (SIGTERM, then SIGKILL after 3s).
func (p *proc) stop() {
	p.mu.Lock()
	p.killed = true
	p.mu.Unlock()
	if !p.Alive() {
		return
	}
	p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.exited:
	case <-time.After(3 * time.Second):
		p.cmd.Process.Kill()
		<-p.exited
	}
}

// ---------------------------------------------------------------------------
// A raw RESP client: it sends multibulk requests and reads each reply into a
// generic tree, so that tests see the exact reply type and error text.

type rconn struct {
	nc      net.Conn
	br      *bufio.Reader
	timeout time.Duration
}

func dialRawErr(addr string, timeout time.Duration) (*rconn, error) {
	nc, err := net.DialTimeout("tcp", addr, timeout)
	if err != nil {
		return nil, err
	}
	return &rconn{nc: nc, br: bufio.NewReaderSize(nc, 64<<10), timeout: 10 * time.Second}, nil
}

// dialRaw connects to addr; the connection is closed when the test ends.
func dialRaw(t testing.TB, addr string) *rconn {
	t.Helper()
	c, err := dialRawErr(addr, 5*time.Second)
	if err != nil {
		t.Fatalf("dial %s: %v", addr, err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func (c *rconn) Close() error { return c.nc.Close() }

// encode appends a RESP multibulk request.
func encode(b []byte, args ...string) []byte {
	b = append(b, '*')
	b = strconv.AppendInt(b, int64(len(args)), 10)
	b = append(b, '\r', '\n')
	for _, a := range args {
		b = append(b, '$')
		b = strconv.AppendInt(b, int64(len(a)), 10)
		b = append(b, '\r', '\n')
		b = append(b, a...)
		b = append(b, '\r', '\n')
	}
	return b
}

// Send writes one request without reading its reply.
func (c *rconn) Send(args ...string) error { return c.Write(encode(nil, args...)) }

// Write writes raw bytes.
func (c *rconn) Write(b []byte) error {
	c.nc.SetWriteDeadline(time.Now().Add(c.timeout))
	_, err := c.nc.Write(b)
	return err
}

// Do sends a request and reads its reply.
func (c *rconn) Do(args ...string) (reply, error) {
	if err := c.Send(args...); err != nil {
		return reply{}, err
	}
	return c.Read()
}

// MustDo is Do failing the test on an I/O or protocol error (an error reply
// is a reply, not a failure).
func (c *rconn) MustDo(t testing.TB, args ...string) reply {
	t.Helper()
	r, err := c.Do(args...)
	if err != nil {
		t.Fatalf("%s: %v", fmtArgs(args), err)
	}
	return r
}

// Read reads one reply, skipping nothing (RESP3 pushes are returned).
func (c *rconn) Read() (reply, error) {
	c.nc.SetReadDeadline(time.Now().Add(c.timeout))
	return readReply(c.br)
}

// reply is one RESP2/RESP3 reply.
type reply struct {
	kind  byte    // the RESP type byte: + - : $ * _ , # = ( % ~ > | !
	str   string  // simple string, error, bulk, verbatim, double, bignum; "t"/"f" for booleans
	num   int64   // integer
	null  bool    // $-1, *-1 (RESP2 nulls); '_' is its own kind
	elems []reply // array, set, push; map and attribute as key, value, key, value...
}

func (r reply) isErr() bool { return r.kind == '-' || r.kind == '!' }

// String renders the reply canonically: types are visible, strings quoted,
// map entries and set members sorted (their order carries no meaning).
func (r reply) String() string {
	switch r.kind {
	case '+':
		return "+" + r.str
	case '-', '!':
		return "-" + r.str
	case ':':
		return ":" + strconv.FormatInt(r.num, 10)
	case '$':
		if r.null {
			return "$nil"
		}
		return strconv.Quote(r.str)
	case '_':
		return "_"
	case ',':
		return "," + r.str
	case '#':
		return "#" + r.str
	case '=':
		return "=" + strconv.Quote(r.str)
	case '(':
		return "(" + r.str
	case '*', '>':
		if r.null {
			return "*nil"
		}
		return string(r.kind) + renderList(r.elems, false)
	case '~':
		return "~" + renderList(r.elems, true)
	case '%', '|':
		pairs := make([]string, 0, len(r.elems)/2)
		for i := 0; i+1 < len(r.elems); i += 2 {
			pairs = append(pairs, r.elems[i].String()+": "+r.elems[i+1].String())
		}
		sort.Strings(pairs)
		return string(r.kind) + "{" + strings.Join(pairs, ", ") + "}"
	}
	return fmt.Sprintf("?%q", r.str)
}

func renderList(elems []reply, sorted bool) string {
	s := make([]string, len(elems))
	for i, e := range elems {
		s[i] = e.String()
	}
	if sorted {
		sort.Strings(s)
	}
	return "[" + strings.Join(s, ", ") + "]"
}

const maxReplyBulk = 1 << 30

var errBadReply = errors.New("malformed reply")

func readLine(br *bufio.Reader) (string, error) {
	line, err := br.ReadString('\n')
	if err != nil {
		return "", err
	}
	if len(line) < 2 || line[len(line)-2] != '\r' {
		return "", fmt.Errorf("%w: line %q without CRLF", errBadReply, line)
	}
	return line[:len(line)-2], nil
}

func readReply(br *bufio.Reader) (reply, error) {
	line, err := readLine(br)
	if err != nil {
		return reply{}, err
	}
	if line == "" {
		return reply{}, fmt.Errorf("%w: empty line", errBadReply)
	}
	r := reply{kind: line[0]}
	body := line[1:]
	switch r.kind {
	case '+', '-', ',', '(':
		r.str = body
	case '#':
		if body != "t" && body != "f" {
			return r, fmt.Errorf("%w: boolean %q", errBadReply, body)
		}
		r.str = body
	case '_':
	case ':':
		if r.num, err = strconv.ParseInt(body, 10, 64); err != nil {
			return r, fmt.Errorf("%w: integer %q", errBadReply, body)
		}
	case '$', '=', '!':
		n, err := strconv.Atoi(body)
		if err != nil || n < -1 || n > maxReplyBulk {
			return r, fmt.Errorf("%w: bulk length %q", errBadReply, body)
		}
		if n == -1 {
			if r.kind != '$' {
				return r, fmt.Errorf("%w: null %c", errBadReply, r.kind)
			}
			r.null = true
			return r, nil
		}
		buf := make([]byte, n+2)
		if _, err := io.ReadFull(br, buf); err != nil {
			return r, err
		}
		if buf[n] != '\r' || buf[n+1] != '\n' {
			return r, fmt.Errorf("%w: bulk without CRLF", errBadReply)
		}
		r.str = string(buf[:n])
		if r.kind == '=' {
			if len(r.str) < 4 || r.str[3] != ':' {
				return r, fmt.Errorf("%w: verbatim %q", errBadReply, r.str)
			}
		}
	case '*', '~', '>', '%', '|':
		n, err := strconv.Atoi(body)
		if err != nil || n < -1 || n > 1<<24 {
			return r, fmt.Errorf("%w: aggregate length %q", errBadReply, body)
		}
		if n == -1 {
			if r.kind != '*' {
				return r, fmt.Errorf("%w: null %c", errBadReply, r.kind)
			}
			r.null = true
			return r, nil
		}
		if r.kind == '%' || r.kind == '|' {
			n *= 2
		}
		r.elems = make([]reply, 0, min(n, 1024))
		for i := 0; i < n; i++ {
			e, err := readReply(br)
			if err != nil {
				return r, err
			}
			r.elems = append(r.elems, e)
		}
		if r.kind == '|' { // an attribute precedes the real reply: keep the reply
			return readReply(br)
		}
	default:
		return r, fmt.Errorf("%w: type byte %q", errBadReply, r.kind)
	}
	return r, nil
}

// fmtArgs renders a request for messages.
func fmtArgs(args []string) string {
	var b strings.Builder
	for i, a := range args {
		if i > 0 {
			b.WriteByte(' ')
		}
		if len(a) > 64 {
			a = a[:64] + fmt.Sprintf("...(%d bytes)", len(a))
		}
		if a == "" || strings.ContainsAny(a, " \"\\\r\n\t") || !isPrintable(a) {
			b.WriteString(strconv.Quote(a))
		} else {
			b.WriteString(a)
		}
	}
	return b.String()
}

func isPrintable(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < 0x20 || s[i] >= 0x7f {
			return false
		}
	}
	return true
}

// ---------------------------------------------------------------------------
// Small helpers for assertion tests over raw connections.

// Reply constructors for expectations.
func simple(s string) reply   { return reply{kind: '+', str: s} }
func errReply(s string) reply { return reply{kind: '-', str: s} }
func integer(n int64) reply   { return reply{kind: ':', num: n} }
func bulk(s string) reply     { return reply{kind: '$', str: s} }
func nilBulk() reply          { return reply{kind: '$', null: true} }
func array(e ...reply) reply  { return reply{kind: '*', elems: e} }
func bulks(ss ...string) reply { // an array of bulk strings
	r := reply{kind: '*', elems: []reply{}}
	for _, s := range ss {
		r.elems = append(r.elems, bulk(s))
	}
	return r
}

// expectReply runs args on c and checks the reply renders as want.
func expectReply(t testing.TB, c *rconn, want reply, args ...string) {
	t.Helper()
	got := c.MustDo(t, args...)
	if got.String() != want.String() {
		t.Errorf("%s: got %s, want %s", fmtArgs(args), got, want)
	}
}
