package command_test

import (
	"bufio"
	"context"
	"io"
	"log/slog"
	"net"
	"strconv"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"granary/internal/dataserver"
	"granary/internal/resp"
)

// Tests of package command are black-box: they run a real data server
// in-process and talk to it over TCP with stock clients.

// newTestServer starts a standalone data server on a free local port and
// returns its address. It is stopped when the test ends.
func newTestServer(t testing.TB) string {
	t.Helper()
	return newTestServerWith(t, nil)
}

// newTestServerWith is newTestServer with options adjusted by fn (a password,
// cluster mode, a quota...).
func newTestServerWith(t testing.TB, fn func(*dataserver.Options)) string {
	t.Helper()
	return newTestDataServer(t, fn).Addr()
}

// newTestDataServer is newTestServerWith returning the server itself.
func newTestDataServer(t testing.TB, fn func(*dataserver.Options)) *dataserver.DataServer {
	t.Helper()
	opts := dataserver.Options{
		Listen:     "127.0.0.1:0",
		Standalone: true,
		Logger:     slog.New(slog.NewTextHandler(io.Discard, nil)),
	}
	if fn != nil {
		fn(&opts)
	}
	ds, err := dataserver.Start(context.Background(), opts)
	if err != nil {
		t.Fatalf("start data server: %v", err)
	}
	t.Cleanup(func() { ds.Close() })
	return ds
}

// dial returns a RESP2 go-redis client for addr, closed when the test ends.
func dial(t testing.TB, addr string) *redis.Client {
	t.Helper()
	return dialProto(t, addr, 2)
}

// dial3 returns a RESP3 go-redis client for addr (it sends HELLO 3).
func dial3(t testing.TB, addr string) *redis.Client {
	t.Helper()
	return dialProto(t, addr, 3)
}

func dialProto(t testing.TB, addr string, proto int) *redis.Client {
	c := redis.NewClient(&redis.Options{
		Addr:         addr,
		Protocol:     proto,
		DialTimeout:  5 * time.Second,
		ReadTimeout:  10 * time.Second,
		WriteTimeout: 10 * time.Second,
		PoolSize:     4,
	})
	t.Cleanup(func() { c.Close() })
	return c
}

// ctx is the context tests pass to go-redis.
var ctx = context.Background()

// rawConn is a bare RESP connection for tests that check the exact reply
// types (RESP2 vs RESP3) or the connection's state machine.
type rawConn struct {
	t  testing.TB
	nc net.Conn
	bw *bufio.Writer
	rd *resp.ReplyReader
}

// dialRaw opens a raw connection to addr, closed when the test ends.
func dialRaw(t testing.TB, addr string) *rawConn {
	t.Helper()
	nc, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatalf("dial %s: %v", addr, err)
	}
	t.Cleanup(func() { nc.Close() })
	return &rawConn{t: t, nc: nc, bw: bufio.NewWriter(nc), rd: resp.NewReplyReader(nc)}
}

// Send writes one command without reading its reply.
func (r *rawConn) Send(args ...string) {
	r.bw.WriteString("*" + strconv.Itoa(len(args)) + "\r\n")
	for _, a := range args {
		r.bw.WriteString("$" + strconv.Itoa(len(a)) + "\r\n" + a + "\r\n")
	}
}

// Read reads one reply.
func (r *rawConn) Read() resp.Value {
	r.t.Helper()
	if err := r.bw.Flush(); err != nil {
		r.t.Fatalf("write: %v", err)
	}
	r.nc.SetReadDeadline(time.Now().Add(10 * time.Second))
	v, err := r.rd.ReadReply()
	if err != nil {
		r.t.Fatalf("read reply: %v", err)
	}
	return v
}

// Do sends one command and returns its reply.
func (r *rawConn) Do(args ...string) resp.Value {
	r.t.Helper()
	r.Send(args...)
	return r.Read()
}
