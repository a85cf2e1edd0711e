package dataserver

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"net"
	"strings"
	"testing"
	"time"
)

// The standalone server serves clients from event loops and moves a
// connection to a goroutine of its own when it must (an administrative
// command, a disk namespace). These tests run the same exchanges in both
// ways of serving and across the move.

func eventLoopModes() []struct {
	name  string
	loops int
} {
	return []struct {
		name  string
		loops int
	}{{"loops", 0}, {"goroutines", -1}}
}

// exchange sends req in one write and reads n replies' worth of lines,
// returning them joined by "|".
func exchange(t *testing.T, nc net.Conn, br *bufio.Reader, req string, lines int) string {
	t.Helper()
	nc.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := io.WriteString(nc, req); err != nil {
		t.Fatal(err)
	}
	var got []string
	for range lines {
		l, err := br.ReadString('\n')
		if err != nil {
			t.Fatalf("after %q: %v", got, err)
		}
		got = append(got, strings.TrimSuffix(l, "\r\n"))
	}
	return strings.Join(got, "|")
}

func TestEventLoopPipelines(t *testing.T) {
	for _, mode := range eventLoopModes() {
		for _, engine := range []string{EngineMem, EngineDisk} {
			t.Run(mode.name+"/"+engine, func(t *testing.T) {
				o := Options{Standalone: true, EventLoops: mode.loops, Engine: engine}
				if engine == EngineDisk {
					o.Dir = t.TempDir()
				}
				ds := start(t, o)
				nc, err := net.Dial("tcp", ds.Addr())
				if err != nil {
					t.Fatal(err)
				}
				defer nc.Close()
				br := bufio.NewReader(nc)
				cases := []struct {
					req   string
					lines int
					want  string
				}{
					{"SET a 1\r\nGET a\r\n", 3, "+OK|$1|1"},
					// An administrative command in the middle of a pipeline
					// (a loop hands the connection over before it).
					{"INCR a\r\nCONFIG GET maxclients\r\nINCR a\r\nGET a\r\n", 9, ":2|*2|$10|maxclients|$5|10000|:3|$1|3"},
					// After the move, inline and multibulk commands split
					// across writes.
					{"*2\r\n$3\r\nGET\r\n$1\r\na\r\nPING\r\n", 3, "$1|3|+PONG"},
					{"SELECT 3\r\nSET b x\r\nSELECT 0\r\nGET b\r\n", 4, "+OK|+OK|+OK|$-1"},
				}
				for _, c := range cases {
					if got := exchange(t, nc, br, c.req, c.lines); got != c.want {
						t.Fatalf("%q: got %q, want %q", c.req, got, c.want)
					}
				}
				// A command sent in two writes.
				nc.Write([]byte("*2\r\n$3\r\nGE"))
				time.Sleep(20 * time.Millisecond)
				if got := exchange(t, nc, br, "T\r\n$1\r\na\r\n", 2); got != "$1|3" {
					t.Fatalf("split command: %q", got)
				}
				if got := exchange(t, nc, br, "QUIT\r\n", 1); got != "+OK" {
					t.Fatalf("QUIT: %q", got)
				}
				if _, err := br.ReadByte(); err != io.EOF {
					t.Fatalf("after QUIT: %v, want EOF", err)
				}
			})
		}
	}
}

// A client that sends much and reads nothing holds the loop's attention
// only up to its limit: another client is served meanwhile, and every reply
// arrives in order once the first one reads.
func TestEventLoopSlowReader(t *testing.T) {
	for _, mode := range eventLoopModes() {
		t.Run(mode.name, func(t *testing.T) {
			ds := start(t, Options{Standalone: true, EventLoops: mode.loops})
			val := strings.Repeat("v", 64<<10)
			other, err := net.Dial("tcp", ds.Addr())
			if err != nil {
				t.Fatal(err)
			}
			defer other.Close()
			obr := bufio.NewReader(other)
			if got := exchange(t, other, obr, fmt.Sprintf("*3\r\n$3\r\nSET\r\n$3\r\nbig\r\n$%d\r\n%s\r\n", len(val), val), 1); got != "+OK" {
				t.Fatalf("SET: %q", got)
			}
			slow, err := net.Dial("tcp", ds.Addr())
			if err != nil {
				t.Fatal(err)
			}
			defer slow.Close()
			// 2000 GETs of 64 KiB: 128 MiB of replies, far more than the
			// sockets' buffers and the loop's limit.
			const n = 2000
			var req bytes.Buffer
			for range n {
				req.WriteString("GET big\r\n")
			}
			go slow.Write(req.Bytes())
			time.Sleep(200 * time.Millisecond)
			for i := range 50 {
				if got := exchange(t, other, obr, fmt.Sprintf("SET k%d %d\r\nGET k%d\r\n", i, i, i), 3); got != fmt.Sprintf("+OK|$%d|%d", len(fmt.Sprint(i)), i) {
					t.Fatalf("other client: %q", got)
				}
			}
			slow.SetReadDeadline(time.Now().Add(30 * time.Second))
			br := bufio.NewReaderSize(slow, 1<<20)
			want := fmt.Sprintf("$%d", len(val))
			for i := range n {
				l, err := br.ReadString('\n')
				if err != nil || strings.TrimSuffix(l, "\r\n") != want {
					t.Fatalf("reply %d: %q, %v", i, l, err)
				}
				body := make([]byte, len(val)+2)
				if _, err := io.ReadFull(br, body); err != nil || string(body[:len(val)]) != val {
					t.Fatalf("reply %d body: %v", i, err)
				}
			}
		})
	}
}

// Closing the server ends loop-served connections, those mid-pipeline
// included, and CLIENT KILL ends one at once.
func TestEventLoopKillAndClose(t *testing.T) {
	ds := start(t, Options{Standalone: true})
	a, err := net.Dial("tcp", ds.Addr())
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	abr := bufio.NewReader(a)
	b, err := net.Dial("tcp", ds.Addr())
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	bbr := bufio.NewReader(b)
	id := exchange(t, b, bbr, "CLIENT ID\r\n", 1)
	if got := exchange(t, a, abr, "CLIENT KILL ID "+strings.TrimPrefix(id, ":")+"\r\n", 1); got != ":1" {
		t.Fatalf("CLIENT KILL: %q", got)
	}
	b.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := bbr.ReadByte(); err != io.EOF {
		t.Fatalf("killed client reads %v, want EOF", err)
	}
	if got := exchange(t, a, abr, "PING\r\n", 1); got != "+PONG" {
		t.Fatalf("PING: %q", got)
	}
	done := make(chan error, 1)
	go func() { done <- ds.Close() }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Close did not return")
	}
	a.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := abr.ReadByte(); err != io.EOF {
		t.Fatalf("client of a closed server reads %v, want EOF", err)
	}
}

// INFO counts the clients on loops and the hand-offs.
func TestEventLoopInfo(t *testing.T) {
	ds := start(t, Options{Standalone: true, EventLoops: 2})
	nc, err := net.Dial("tcp", ds.Addr())
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	br := bufio.NewReader(nc)
	field := func(name string) string {
		t.Helper()
		hdr := exchange(t, nc, br, "INFO clients\r\n", 1)
		var n int
		fmt.Sscanf(hdr, "$%d", &n)
		body := make([]byte, n+2)
		if _, err := io.ReadFull(br, body); err != nil {
			t.Fatal(err)
		}
		for _, l := range strings.Split(string(body), "\r\n") {
			if v, ok := strings.CutPrefix(l, name+":"); ok {
				return v
			}
		}
		t.Fatalf("no %s in %q", name, body)
		return ""
	}
	if got := field("event_loops") + " " + field("event_loop_clients") + " " + field("event_loop_handoffs"); got != "2 1 0" {
		t.Fatalf("loops, clients, hand-offs = %s, want 2 1 0", got)
	}
	exchange(t, nc, br, "CONFIG GET maxclients\r\n", 5)
	if got := field("event_loop_clients") + " " + field("event_loop_handoffs"); got != "0 1" {
		t.Fatalf("after CONFIG: clients, hand-offs = %s, want 0 1", got)
	}
	// A command with more arguments than a loop runs: a DEL of 2000 keys.
	big, err := net.Dial("tcp", ds.Addr())
	if err != nil {
		t.Fatal(err)
	}
	defer big.Close()
	del := "DEL" + strings.Repeat(" k", 1999) + "\r\n"
	if got := exchange(t, big, bufio.NewReader(big), "SET k 1\r\n"+del, 2); got != "+OK|:1" {
		t.Fatalf("SET, big DEL: %q", got)
	}
	if got := field("event_loop_clients") + " " + field("event_loop_handoffs"); got != "0 2" {
		t.Fatalf("after a big DEL: clients, hand-offs = %s, want 0 2", got)
	}
}
