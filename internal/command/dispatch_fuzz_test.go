package command_test

import (
	"bytes"
	"context"
	"io"
	"testing"

	"granary/internal/command"
	"granary/internal/dataserver"
	"granary/internal/resp"
)

// FuzzDispatch runs arbitrary argument vectors through the command table on a
// real node with the mem engine: no input may panic, every command must write
// exactly one well-formed reply, and the node must keep answering afterwards.
func FuzzDispatch(f *testing.F) {
	seeds := []string{
		"SET\x00k\x00v", "SET\x00k\x00v\x00EX\x00-1", "SET\x00k\x00v\x00PX\x009223372036854775807",
		"SET\x00k\x00v\x00NX\x00XX", "SET\x00k\x00v\x00GET\x00KEEPTTL", "GETEX\x00k\x00PERSIST\x00EX\x001",
		"INCRBY\x00k\x009223372036854775807", "INCRBYFLOAT\x00k\x001e308", "SETRANGE\x00k\x00536870911\x00x",
		"GETRANGE\x00k\x00-9223372036854775808\x009223372036854775807", "EXPIRE\x00k\x00100\x00NX\x00XX",
		"SCAN\x00abc", "SCAN\x000\x00MATCH\x00[\x00COUNT\x00-1", "HSET\x00h\x00f", "HSET\x00h\x00f\x00v",
		"HRANGEBYLEX\x00h\x00[a\x00(\x00LIMIT\x000\x00-1", "HINCRBYFLOAT\x00h\x00f\x00nan",
		"EXSET\x00k\x00v\x00VER\x00-1", "EXINCRBY\x00k\x001\x00MIN\x005\x00MAX\x001", "EXCAS\x00k\x00v\x00x",
		"MSET\x00a\x001\x00b", "MSETNX\x00a\x001\x00a\x002", "SELECT\x0070000", "CLIENT\x00KILL\x00ID\x00x",
		"CLUSTER\x00GETKEYSINSLOT\x0016384\x001", "CONFIG\x00SET\x00maxmemory\x00-5", "HELLO\x004",
		"COMMAND\x00INFO\x00get\x00nope", "INFO\x00bogus", "OBJECT\x00ENCODING\x00k",
		"CLIENT\x00TRACKING\x00ON\x00BCAST\x00PREFIX", "CLIENT\x00TRACKING\x00ON\x00REDIRECT\x001", "CLIENT\x00CACHING\x00YES",
		"CLIENT\x00TRACKINGINFO", "MULTI", "EXEC", "DISCARD", "SUBSCRIBE\x00__redis__:invalidate", "UNSUBSCRIBE\x00x",
		"CONFIG\x00SET\x00tracking-table-max-keys\x00x",
	}
	for _, s := range seeds {
		f.Add([]byte(s))
	}
	ds, err := dataserver.Start(context.Background(), dataserver.Options{Listen: "127.0.0.1:0", Standalone: true})
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(func() { ds.Close() })
	node := ds.Node()

	f.Fuzz(func(t *testing.T, data []byte) {
		args := bytes.Split(data, []byte{0})
		if len(args) > 64 || len(args[0]) == 0 || bytes.EqualFold(args[0], []byte("quit")) {
			return
		}
		var out bytes.Buffer
		w := resp.NewWriter(&out)
		c := &command.Ctx{Args: args, W: w, S: &command.Session{Authed: true, Proto: 2}, N: node, NS: node.Namespaces.Get(1)}
		command.Dispatch(c)
		// FLUSHALL and friends are fine; the namespace stays usable.
		w.Flush()
		rd := resp.NewReplyReader(&out)
		if _, err := rd.ReadReply(); err != nil {
			t.Fatalf("%q: malformed reply %q: %v", args, out.Bytes(), err)
		}
		if _, err := rd.ReadReply(); err != io.EOF {
			t.Fatalf("%q: more than one reply: %q", args, out.Bytes())
		}
	})
}
