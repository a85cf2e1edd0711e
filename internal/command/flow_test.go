package command_test

import (
	"io"
	"strconv"
	"strings"
	"testing"

	"granary/internal/command"
	"granary/internal/dataserver"
)

const (
	throttledOps   = "THROTTLED namespace 1 is over its flow limit (1 ops/s)"
	throttledBytes = "THROTTLED namespace 2 is over its flow limit (1 bytes/s)"
)

// TestFlowControl runs a standalone server whose namespace 1 is limited to
// 1 op/s and namespace 2 to 1 byte/s, and checks which commands are refused,
// with which error, and what INFO counts.
func TestFlowControl(t *testing.T) {
	addr := newTestServerWith(t, func(o *dataserver.Options) {
		o.FlowLimits = map[uint16]dataserver.FlowLimit{1: {Ops: 1}, 2: {Bytes: 1}}
	})
	raw := dialRaw(t, addr)
	refused := 0

	// Namespace 1: a pipeline of 20 GETs, read in one batch, gets its
	// burst (a second's worth: 1 op, plus the one the check admits) and
	// THROTTLED for the rest.
	if v := raw.Do("SELECT", "1"); string(v.Str) != "OK" {
		t.Fatalf("SELECT 1: %v", v)
	}
	for i := 0; i < 20; i++ {
		raw.Send("GET", "k"+strconv.Itoa(i))
	}
	ok := 0
	for i := 0; i < 20; i++ {
		v := raw.Read()
		switch {
		case v.Kind == '-' && string(v.Str) == throttledOps:
			refused++
		case v.Null:
			ok++
		default:
			t.Fatalf("GET %d: %v", i, v)
		}
	}
	if ok < 2 || refused == 0 {
		t.Fatalf("20 GETs at 1 op/s: %d served, %d throttled; want at least 2 served and some throttled", ok, refused)
	}

	// Namespace 2: the first SET runs (the bucket is not in debt) and
	// costs its bytes, over a thousand seconds' worth.
	raw.Do("SELECT", "2")
	if v := raw.Do("SET", "big", strings.Repeat("v", 1000)); string(v.Str) != "OK" {
		t.Fatalf("first SET in namespace 2: %v", v)
	}
	for _, cmd := range [][]string{
		{"SET", "other", "x"}, // refused: not run (INFO shows one key)
		{"GET", "big"},
		{"EXGET", "big"},
		{"HSET", "h", "f", "v"},
		{"DEL", "big"},
	} {
		if v := raw.Do(cmd...); v.Kind != '-' || string(v.Str) != throttledBytes {
			t.Errorf("%s in namespace 2: %v, want %q", cmd[0], v, throttledBytes)
		} else {
			refused++
		}
	}
	// Inside MULTI a refused command aborts the transaction.
	raw.Do("MULTI")
	if v := raw.Do("GET", "big"); string(v.Str) != throttledBytes {
		t.Errorf("GET queued in MULTI: %v", v)
	} else {
		refused++
	}
	if v := raw.Do("EXEC"); v.Kind != '-' || !strings.HasPrefix(string(v.Str), "EXECABORT") {
		t.Errorf("EXEC after a throttled command: %v, want EXECABORT", v)
	}
	// Connection, server and cluster commands are never throttled.
	for _, cmd := range [][]string{{"PING"}, {"ECHO", "x"}, {"CLUSTER", "SLOTS"}, {"CLIENT", "ID"}, {"SELECT", "2"}, {"COMMAND", "COUNT"}} {
		if v := raw.Do(cmd...); v.Kind == '-' {
			t.Errorf("%s: %v", strings.Join(cmd, " "), v)
		}
	}
	// Namespace 0 has no limit.
	rc := dial(t, addr)
	for i := 0; i < 100; i++ {
		if err := rc.Set(ctx, "k", i, 0).Err(); err != nil {
			t.Fatalf("SET in namespace 0: %v", err)
		}
	}

	info := parseInfo(t, rc.Info(ctx, "namespaces", "keyspace").Val())
	ns := info["namespaces"]
	for id, want := range map[string][]string{
		"ns0": {"throttled=0", "max_ops=0", "max_bytes=0"},
		"ns1": {"max_ops=1,", "max_bytes=0"},
		"ns2": {"throttled=6", "max_ops=0,", "max_bytes=1"},
	} {
		for _, w := range want {
			if !strings.Contains(ns[id]+",", w) {
				t.Errorf("INFO %s = %q, lacks %s", id, ns[id], w)
			}
		}
	}
	if got := infoField(ns["ns1"], "throttled") + infoField(ns["ns2"], "throttled"); got != refused {
		t.Errorf("INFO counts %d throttled, the client saw %d", got, refused)
	}
	if ks := info["keyspace"]["db2"]; !strings.HasPrefix(ks, "keys=1,") {
		t.Errorf("keyspace db2 = %q: a throttled SET ran", ks)
	}
}

// infoField returns the number field k of an INFO line "a=1,b=2".
func infoField(line, k string) int {
	for _, kv := range strings.Split(line, ",") {
		if name, v, _ := strings.Cut(kv, "="); name == k {
			n, _ := strconv.Atoi(v)
			return n
		}
	}
	return -1
}

// BenchmarkFlowGet measures GET in a namespace without flow limits (the
// check is one atomic load) and in one with limits too high to refuse (the
// limiter's compare-and-swap on every command).
func BenchmarkFlowGet(b *testing.B) {
	for _, bc := range []struct {
		name       string
		ops, bytes int64
	}{{"no limit", 0, 0}, {"ops limit", 1 << 40, 0}, {"ops and bytes limits", 1 << 40, 1 << 50}} {
		b.Run(bc.name, func(b *testing.B) {
			c := strNode(b, io.Discard)
			c.NS.SetLimits(bc.ops, bc.bytes)
			c.Args = strArgv("SET", "key:000001", strings.Repeat("v", 100))
			command.Dispatch(c)
			get := strArgv("GET", "key:000001")
			b.ReportAllocs()
			for b.Loop() {
				c.Args = get
				c.Now = 0 // a clock read per command, as a batch of one
				command.Dispatch(c)
				if c.W.Buffered() > 32<<10 {
					c.W.Flush()
				}
			}
		})
	}
}
