//go:build e2e

package e2e

import (
	"bytes"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// Bad and abusive input against a granary process (DESIGN.md section 8,
// invariant 4: an error reply and never a crash, a hang or unbounded memory),
// while another client keeps being served. Every case is bounded in time.

const mb = 1 << 20

// rssOf reads a process' VmRSS in bytes.
func rssOf(pid int) (int64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, err
	}
	for _, line := range strings.Split(string(b), "\n") {
		if f := strings.Fields(line); len(f) >= 2 && f[0] == "VmRSS:" {
			kb, err := strconv.ParseInt(f[1], 10, 64)
			return kb << 10, err
		}
	}
	return 0, errors.New("no VmRSS")
}

// rssWatch samples a process' RSS every 20ms until stopped.
type rssWatch struct {
	peak atomic.Int64
	stop chan struct{}
	done chan struct{}
}

func watchRSS(p *proc) *rssWatch {
	w := &rssWatch{stop: make(chan struct{}), done: make(chan struct{})}
	go func() {
		defer close(w.done)
		tk := time.NewTicker(20 * time.Millisecond)
		defer tk.Stop()
		for {
			if r, err := rssOf(p.PID()); err == nil && r > w.peak.Load() {
				w.peak.Store(r)
			}
			select {
			case <-w.stop:
				return
			case <-tk.C:
			}
		}
	}()
	return w
}

// Stop returns the peak RSS seen.
func (w *rssWatch) Stop() int64 {
	close(w.stop)
	<-w.done
	return w.peak.Load()
}

// prober is another client checking that the server keeps answering: it runs
// args every 50ms and records the slowest answer and any failure.
type prober struct {
	slowest atomic.Int64 // ns
	count   atomic.Int64
	mu      sync.Mutex
	err     error
	stop    chan struct{}
	done    chan struct{}
}

func startProber(t *testing.T, addr string, setup [][]string, want string, args ...string) *prober {
	t.Helper()
	c := dialRaw(t, addr)
	c.timeout = 5 * time.Second
	for _, s := range setup {
		if r := c.MustDo(t, s...); r.isErr() {
			t.Fatalf("prober %s: %s", fmtArgs(s), r)
		}
	}
	p := &prober{stop: make(chan struct{}), done: make(chan struct{})}
	go func() {
		defer close(p.done)
		for {
			start := time.Now()
			r, err := c.Do(args...)
			d := time.Since(start)
			if err == nil && r.String() != want {
				err = fmt.Errorf("got %s, want %s", clipStr(r.String()), clipStr(want))
			}
			if err != nil {
				p.mu.Lock()
				p.err = fmt.Errorf("%s: %w", fmtArgs(args), err)
				p.mu.Unlock()
				return
			}
			p.count.Add(1)
			if int64(d) > p.slowest.Load() {
				p.slowest.Store(int64(d))
			}
			select {
			case <-p.stop:
				return
			case <-time.After(50 * time.Millisecond):
			}
		}
	}()
	return p
}

// Check stops the prober and fails the test if it was not served, or not
// within maxLatency each time.
func (p *prober) Check(t *testing.T, maxLatency time.Duration) {
	t.Helper()
	close(p.stop)
	<-p.done
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.err != nil {
		t.Errorf("the other client was not served: %v", p.err)
	}
	slowest := time.Duration(p.slowest.Load())
	if slowest > maxLatency {
		t.Errorf("the other client waited %v for a reply (limit %v)", slowest, maxLatency)
	}
	t.Logf("other client: %d requests, slowest %v", p.count.Load(), slowest.Round(time.Microsecond))
}

// readUntilClosed reads replies until the server closes the connection or
// the deadline passes; it returns them and whether the connection was closed.
func readUntilClosed(c *rconn, deadline time.Time) ([]reply, bool) {
	var out []reply
	c.nc.SetReadDeadline(deadline)
	for {
		r, err := readReply(c.br)
		if err != nil {
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				return out, false
			}
			return out, true // EOF, reset, or garbage (a closed stream)
		}
		out = append(out, r)
	}
}

// readUntilIdle reads replies until the server closes the connection, no
// reply comes for idle, or the deadline passes.
func readUntilIdle(c *rconn, idle time.Duration, deadline time.Time) ([]reply, bool) {
	var out []reply
	for {
		d := time.Now().Add(idle)
		if d.After(deadline) {
			d = deadline
		}
		c.nc.SetReadDeadline(d)
		r, err := readReply(c.br)
		if err != nil {
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				return out, false
			}
			return out, true
		}
		out = append(out, r)
	}
}

func TestLimits(t *testing.T) {
	t.Run("huge bulk length", func(t *testing.T) {
		g := startGranary(t, granaryOpts{})
		pr := startProber(t, g.addr, nil, "+PONG", "PING")
		c := dialRaw(t, g.addr)
		if err := c.Write([]byte("*1\r\n$2147483648\r\n")); err != nil {
			t.Fatalf("write: %v", err)
		}
		replies, closed := readUntilClosed(c, time.Now().Add(5*time.Second))
		if len(replies) == 0 || !replies[0].isErr() {
			t.Errorf("declared a 2 GB bulk: replies %v, want an error reply", replies)
		} else {
			t.Logf("reply: %s", replies[0])
		}
		if !closed {
			t.Errorf("declared a 2 GB bulk: connection still open after 5s, want it closed")
		}
		time.Sleep(200 * time.Millisecond)
		pr.Check(t, time.Second)
	})

	t.Run("million arguments", func(t *testing.T) {
		g := startGranary(t, granaryOpts{})
		base := g.RSS(t)
		w := watchRSS(g)
		pr := startProber(t, g.addr, [][]string{{"SET", "probe", "v"}}, `"v"`, "GET", "probe")

		// A connection that declares a million arguments and sends a few:
		// the server must not allocate for the declared count.
		idle := dialRaw(t, g.addr)
		if err := idle.Write([]byte("*1000000\r\n$3\r\nDEL\r\n$1\r\na\r\n")); err != nil {
			t.Fatalf("write: %v", err)
		}

		// A connection that sends a whole million-argument DEL.
		const nargs = 1000000
		c := dialRaw(t, g.addr)
		c.timeout = 60 * time.Second
		var buf bytes.Buffer
		buf.WriteString("*" + strconv.Itoa(nargs) + "\r\n$3\r\nDEL\r\n")
		for i := 1; i < nargs; i++ {
			buf.WriteString("$1\r\na\r\n")
		}
		start := time.Now()
		werr := make(chan error, 1)
		go func() { werr <- c.Write(buf.Bytes()) }()
		r, err := c.Read()
		if err != nil {
			// Refusing may mean an error reply then closing before all was
			// read; a reset without any reply is not acceptable.
			t.Errorf("million-argument DEL: no reply: %v", err)
		} else if r.kind != ':' && !r.isErr() {
			t.Errorf("million-argument DEL: got %s, want an integer (served) or an error (refused)", r)
		} else {
			t.Logf("million-argument DEL (%d MB): %s in %v", buf.Len()/mb, r, time.Since(start).Round(time.Millisecond))
		}
		select {
		case <-werr:
		case <-time.After(30 * time.Second):
			t.Errorf("writing the request did not end in 30s")
		}
		time.Sleep(300 * time.Millisecond)
		pr.Check(t, time.Second)
		peak := w.Stop()
		t.Logf("RSS: base %d MB, peak %d MB", base/mb, peak/mb)
		if peak-base > 300*mb {
			t.Errorf("RSS grew by %d MB (limit 300 MB)", (peak-base)/mb)
		}
		if pr := c.MustDo(t, "PING"); r.kind == ':' && pr.String() != "+PONG" {
			t.Errorf("PING after the served million-argument DEL: %s", pr)
		}
	})

	t.Run("unauthenticated junk", func(t *testing.T) {
		g := startGranary(t, granaryOpts{RequirePass: "s3cret"})
		base := g.RSS(t)
		w := watchRSS(g)
		pr := startProber(t, g.addr, [][]string{{"AUTH", "s3cret"}, {"SET", "probe", "v"}}, `"v"`, "GET", "probe")

		// Three kinds of junk, 10 MB each, on fresh connections: random
		// bytes; lines of random digits and punctuation (inline commands
		// that can never spell a command name); random multibulk requests
		// with binary payloads and oversized declared lengths.
		rng := rand.New(rand.NewPCG(1, 2))
		junks := map[string][]byte{}
		{
			b := make([]byte, 10*mb)
			for i := range b {
				b[i] = byte(rng.Uint32())
			}
			junks["random bytes"] = b
		}
		{
			const alphabet = "0123456789 !#%&()+,-./:;<=>?@[]^_{|}~" // no quotes, no * or $ (RESP headers)
			var b bytes.Buffer
			for b.Len() < 10*mb {
				n := 1 + rng.IntN(200)
				for i := 0; i < n; i++ {
					b.WriteByte(alphabet[rng.IntN(len(alphabet))])
				}
				b.WriteString("\r\n")
			}
			junks["inline lines"] = b.Bytes()
		}
		{
			var b bytes.Buffer
			for b.Len() < 10*mb {
				nargs := 1 + rng.IntN(12)
				if rng.IntN(50) == 0 {
					nargs = 1 + rng.IntN(1<<20) // more arguments than allowed before AUTH
				}
				b.WriteString("*" + strconv.Itoa(nargs) + "\r\n")
				for i := 0; i < min(nargs, 12); i++ {
					n := rng.IntN(300)
					if rng.IntN(50) == 0 {
						n = rng.IntN(1 << 24) // a bulk larger than allowed before AUTH
					}
					b.WriteString("$" + strconv.Itoa(n) + "\r\n")
					for j := 0; j < min(n, 300); j++ {
						b.WriteByte(byte(rng.Uint32()))
					}
					b.WriteString("\r\n")
				}
			}
			junks["multibulk"] = b.Bytes()
		}
		for _, name := range []string{"random bytes", "inline lines", "multibulk"} {
			junk := junks[name]
			c := dialRaw(t, g.addr)
			var written atomic.Int64
			wdone := make(chan struct{})
			go func() {
				defer close(wdone)
				for off := 0; off < len(junk); off += 64 << 10 {
					c.nc.SetWriteDeadline(time.Now().Add(10 * time.Second))
					n, err := c.nc.Write(junk[off:min(off+64<<10, len(junk))])
					written.Add(int64(n))
					if err != nil {
						return // closed by the server: fine
					}
				}
			}()
			replies, closed := readUntilIdle(c, time.Second, time.Now().Add(30*time.Second))
			select {
			case <-wdone:
			case <-time.After(15 * time.Second):
				t.Errorf("%s: writing the junk did not end", name)
			}
			ok := 0
			for _, r := range replies {
				if !r.isErr() {
					ok++
				}
			}
			t.Logf("%s: %d of %d bytes accepted, %d replies (first %v), closed=%v", name, written.Load(), len(junk), len(replies), firstN(replies, 2), closed)
			if ok > 0 {
				t.Errorf("%s: unauthenticated junk got %d non-error replies", name, ok)
			}
			if !closed && len(replies) == 0 {
				t.Errorf("%s: unauthenticated junk got neither an error nor a close", name)
			}
			c.Close()
		}
		pr.Check(t, time.Second)
		peak := w.Stop()
		t.Logf("RSS: base %d MB, peak %d MB", base/mb, peak/mb)
		if peak-base > 64*mb {
			t.Errorf("RSS grew by %d MB on unauthenticated junk (limit 64 MB)", (peak-base)/mb)
		}
		// Unauthenticated commands are refused.
		u := dialRaw(t, g.addr)
		if r := u.MustDo(t, "GET", "probe"); !r.isErr() || !strings.HasPrefix(r.str, "NOAUTH") {
			t.Errorf("GET without AUTH: %s, want NOAUTH", r)
		}
	})

	t.Run("pipelined big GETs never read", func(t *testing.T) {
		if targetIsRedis {
			t.Skip("E2E_TARGET=redis: Redis' default client-output-buffer-limit for normal clients is unlimited")
		}
		g := startGranary(t, granaryOpts{})
		value := strings.Repeat("x", 100<<10)
		setup := dialRaw(t, g.addr)
		expectReply(t, setup, simple("OK"), "SET", "bigkey", value)
		base := g.RSS(t)
		w := watchRSS(g)
		pr := startProber(t, g.addr, nil, strconv.Quote(value), "GET", "bigkey")

		c := dialRaw(t, g.addr)
		const n = 200000
		cmd := encode(nil, "GET", "bigkey")
		batch := bytes.Repeat(cmd, 1000)
		var sent atomic.Int64
		stop := make(chan struct{})
		wdone := make(chan struct{})
		go func() {
			defer close(wdone)
			for i := 0; i < n/1000; i++ {
				select {
				case <-stop:
					return
				default:
				}
				c.nc.SetWriteDeadline(time.Now().Add(500 * time.Millisecond))
				m, err := c.nc.Write(batch)
				sent.Add(int64(m / len(cmd)))
				if err != nil {
					var ne net.Error
					if errors.As(err, &ne) && ne.Timeout() {
						continue // the server stopped reading: keep pushing until stopped
					}
					return
				}
			}
		}()
		time.Sleep(4 * time.Second)
		close(stop)
		pr.Check(t, time.Second)
		peak := w.Stop()
		t.Logf("sent %d of %d GETs without reading; RSS base %d MB, peak %d MB", sent.Load(), n, base/mb, peak/mb)
		if peak-base > 200*mb {
			t.Errorf("RSS grew by %d MB with an unread pipeline (limit 200 MB)", (peak-base)/mb)
		}
		c.Close()
		<-wdone
		// The server is still healthy.
		time.Sleep(100 * time.Millisecond)
		expectReply(t, setup, simple("PONG"), "PING")
	})

}

func firstN(rs []reply, n int) []string {
	var out []string
	for i, r := range rs {
		if i == n {
			out = append(out, "...")
			break
		}
		out = append(out, strconv.QuoteToASCII(clipStr(r.String())))
	}
	return out
}
