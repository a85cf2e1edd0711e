package dataserver

import (
	"bufio"
	"context"
	"net"
	"strconv"
	"testing"
	"time"

	"granary/internal/clusterapi"
	"granary/internal/resp"
	"granary/internal/routing"
)

// respConn is a bare RESP connection.
type respConn struct {
	t  *testing.T
	nc net.Conn
	bw *bufio.Writer
	rd *resp.ReplyReader
}

func dialResp(t *testing.T, addr string) *respConn {
	t.Helper()
	nc, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { nc.Close() })
	return &respConn{t: t, nc: nc, bw: bufio.NewWriter(nc), rd: resp.NewReplyReader(nc)}
}

func (c *respConn) read() resp.Value {
	c.t.Helper()
	c.bw.Flush()
	c.nc.SetReadDeadline(time.Now().Add(10 * time.Second))
	v, err := c.rd.ReadReply()
	if err != nil {
		c.t.Fatalf("read: %v", err)
	}
	return v
}

func (c *respConn) do(args ...string) resp.Value {
	c.t.Helper()
	c.bw.WriteString("*" + strconv.Itoa(len(args)) + "\r\n")
	for _, a := range args {
		c.bw.WriteString("$" + strconv.Itoa(len(a)) + "\r\n" + a + "\r\n")
	}
	return c.read()
}

// TestTrackingOnSecondary checks that a READONLY reader of a secondary that
// tracks a key is invalidated when the secondary applies the primary's
// write, before that (sync) write is acknowledged.
func TestTrackingOnSecondary(t *testing.T) {
	cs := startConfigServer(t, true, 2)
	api := clusterapi.NewClient([]string{cs.HTTPAddr()})
	ds1 := start(t, Options{ConfigServers: []string{cs.HTTPAddr()}})
	ds2 := start(t, Options{ConfigServers: []string{cs.HTTPAddr()}})
	tbl := waitServing(t, api, ds1, ds2)
	// A key led by one node and copied on the other.
	var key string
	var prim, sec *DataServer
	for i := 0; key == ""; i++ {
		k := "t" + strconv.Itoa(i)
		reps := tbl.Replicas[routing.Bucket([]byte(k))]
		if len(reps) != 2 {
			continue
		}
		byIdx := map[int]*DataServer{indexOf(tbl, ds1.Node().ID): ds1, indexOf(tbl, ds2.Node().ID): ds2}
		key, prim, sec = k, byIdx[reps[0]], byIdx[reps[1]]
	}
	ctx := context.Background()
	w := plain(t, prim.Addr())
	if err := w.Set(ctx, key, "v1", 0).Err(); err != nil {
		t.Fatal(err)
	}
	r := dialResp(t, sec.Addr())
	r.do("HELLO", "3")
	r.do("READONLY")
	if v := r.do("CLIENT", "TRACKING", "ON"); string(v.Str) != "OK" {
		t.Fatalf("CLIENT TRACKING ON: %v", v)
	}
	waitFor(t, 10*time.Second, "the secondary to serve the write", func() bool {
		return string(r.do("GET", key).Str) == "v1"
	})
	if err := w.Set(ctx, key, "v2", 0).Err(); err != nil {
		t.Fatal(err)
	}
	// Acknowledged: the invalidation is already queued on the secondary.
	r.nc.SetReadDeadline(time.Now().Add(time.Second))
	v, err := r.rd.ReadReply()
	if err != nil || v.Kind != '>' || len(v.Elems) != 2 || string(v.Elems[0].Str) != "invalidate" ||
		len(v.Elems[1].Elems) != 1 || string(v.Elems[1].Elems[0].Str) != key {
		t.Fatalf("after the write: %v, %v", v, err)
	}
	if got := string(r.do("GET", key).Str); got != "v2" {
		t.Fatalf("secondary GET = %q", got)
	}
}
