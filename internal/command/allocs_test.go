//go:build !race

// Allocation counts are meaningless under the race detector (it instruments
// memory, and sync.Pool drops items at random), so these tests are built only
// without it; `make unit` runs them in a pass of its own.

package command_test

import (
	"fmt"
	"io"
	"strings"
	"testing"

	"granary/internal/acl"
	"granary/internal/clusterapi"
	"granary/internal/command"
)

// TestStringsHotPathAllocs checks that GET and plain SET do not allocate.
func TestStringsHotPathAllocs(t *testing.T) {
	c := strNode(t, io.Discard)
	set := strArgv("SET", "key:000001", strings.Repeat("v", 100))
	get := strArgv("GET", "key:000001")
	miss := strArgv("GET", "nokey")
	setEx := strArgv("SET", "key:000001", "value", "EX", "100")
	for _, tc := range []struct {
		name string
		args [][]byte
	}{{"set", set}, {"get", get}, {"get miss", miss}, {"set ex", setEx}, {"get", get}} {
		checkNoAllocs(t, c, tc.name, tc.args)
	}
}

// checkNoAllocs runs args once to warm buffers, then checks that running
// it again allocates nothing.
func checkNoAllocs(t *testing.T, c *command.Ctx, name string, args [][]byte) {
	t.Helper()
	run := func() {
		c.Args = args
		command.Dispatch(c)
		c.W.Flush()
	}
	run()
	if n := testing.AllocsPerRun(1000, run); n != 0 {
		t.Errorf("%s: %v allocations per call, want 0", name, n)
	}
}

// TestHashHotPathAllocs checks that HGET, HSET of an existing field, HINCRBY
// and the other small reads do not allocate once buffers are warm.
func TestHashHotPathAllocs(t *testing.T) {
	c := strNode(t, io.Discard)
	setup := []string{"HSET", "h"}
	for i := 0; i < 200; i++ {
		setup = append(setup, fmt.Sprintf("field:%03d", i), strings.Repeat("v", 50))
	}
	c.Args = hashArgv(setup...)
	command.Dispatch(c)
	for _, tc := range []struct {
		name string
		args [][]byte
	}{
		{"hget", hashArgv("HGET", "h", "field:150")},
		{"hget miss", hashArgv("HGET", "h", "nofield")},
		{"hset", hashArgv("HSET", "h", "field:010", "x")},
		{"hincrby", hashArgv("HINCRBY", "h", "n", "1")},
		{"hexists", hashArgv("HEXISTS", "h", "field:001")},
		{"hmget", hashArgv("HMGET", "h", "field:001", "field:002")},
		{"hrangebylex", hashArgv("HRANGEBYLEX", "h", "[field:010", "(field:020")},
	} {
		run := func() {
			c.Args = tc.args
			command.Dispatch(c)
			c.W.Flush()
		}
		for i := 0; i < 3; i++ {
			run()
		}
		if n := testing.AllocsPerRun(500, run); n != 0 {
			t.Errorf("%s: %v allocations per call, want 0", tc.name, n)
		}
	}
}

// TestExStringHotPathAllocs checks that EXGET, EXSET, EXINCRBY and EXSETVER
// do not allocate once buffers are warm.
func TestExStringHotPathAllocs(t *testing.T) {
	c := strNode(t, io.Discard)
	c.Args = hashArgv("EXSET", "k", "100")
	command.Dispatch(c)
	for _, tc := range []struct {
		name string
		args [][]byte
	}{
		{"exget", hashArgv("EXGET", "k")},
		{"exget miss", hashArgv("EXGET", "nokey")},
		{"exset", hashArgv("EXSET", "k", "100", "EX", "100")},
		{"exset ver", hashArgv("EXSET", "k", "100", "VER", "0")},
		{"exincrby", hashArgv("EXINCRBY", "k", "1", "MAX", "1000000000")},
		{"exsetver", hashArgv("EXSETVER", "k", "5")},
	} {
		run := func() {
			c.Args = tc.args
			command.Dispatch(c)
			c.W.Flush()
		}
		for i := 0; i < 3; i++ {
			run()
		}
		if n := testing.AllocsPerRun(500, run); n != 0 {
			t.Errorf("%s: %v allocations per call, want 0", tc.name, n)
		}
	}
}

// TestFlowControlAllocs checks that flow control allocates nothing: not when
// a limited namespace admits a command, nor when it refuses one.
func TestFlowControlAllocs(t *testing.T) {
	c := strNode(t, io.Discard)
	set := strArgv("SET", "key:000001", strings.Repeat("v", 100))
	get := strArgv("GET", "key:000001")
	for _, tc := range []struct {
		name       string
		ops, bytes int64
		args       [][]byte
	}{
		{"admitted set", 1 << 40, 1 << 50, set},
		{"admitted get", 1 << 40, 1 << 50, get},
		{"refused get", 1, 1, get},
	} {
		c.NS.SetLimits(tc.ops, tc.bytes)
		run := func() {
			c.Args = tc.args
			command.Dispatch(c)
			c.W.Flush()
		}
		run()
		if n := testing.AllocsPerRun(1000, run); n != 0 {
			t.Errorf("%s: %v allocations per call, want 0", tc.name, n)
		}
	}
	if c.NS.Limits().Ops.Allow(c.Mono*1e6, 1) {
		t.Error("the refusing limit admits: the refused case measured nothing")
	}
}

// TestUserSessionAllocs checks that the permission check of a session logged
// in as a config-server user adds no allocation to GET and SET.
func TestUserSessionAllocs(t *testing.T) {
	c := strNode(t, io.Discard)
	h, err := acl.HashPassword("pw")
	if err != nil {
		t.Fatal(err)
	}
	us, err := acl.Compile([]clusterapi.User{{Name: "app", Hash: h, Namespaces: []uint16{0, 1}, Commands: []string{"read", "write"}}}, 1)
	if err != nil {
		t.Fatal(err)
	}
	c.N.SetUsers(us)
	c.Args = strArgv("AUTH", "app", "pw")
	command.Dispatch(c)
	if c.S.User == nil {
		t.Fatal("AUTH app did not log in")
	}
	for _, tc := range []struct {
		name string
		args [][]byte
	}{{"set", strArgv("SET", "key:000001", "value")}, {"get", strArgv("GET", "key:000001")}} {
		checkNoAllocs(t, c, tc.name, tc.args)
	}
}
