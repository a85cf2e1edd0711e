package command_test

import (
	"bytes"
	"fmt"
	"sort"
	"strconv"
	"testing"

	"github.com/redis/go-redis/v9"

	"granary/internal/command"
	"granary/internal/engine"
	"granary/internal/resp"
	"granary/internal/routing"
)

func TestScanReplies(t *testing.T) {
	strRunCases(t, []strCase{
		{"empty", []strStep{
			{"SCAN 0", "[0 []]"},
			{"SCAN 0 COUNT 1000 MATCH * TYPE string", "[0 []]"},
		}},
		{"one key", []strStep{
			{"SET k v", "OK"},
			{"SCAN 0", "[0 [k]]"},
			{"SCAN +0", "[0 [k]]"},
			{"SCAN 00", "[0 [k]]"},
			{"SCAN 0 MATCH k", "[0 [k]]"},
			{"SCAN 0 MATCH K", "[0 []]"},
			{"SCAN 0 MATCH x*", "[0 []]"},
			{"SCAN 0 match [a-z] count 5", "[0 [k]]"},
			{"SCAN 0 TYPE string", "[0 [k]]"},
			{"SCAN 0 TYPE STRING", "[0 [k]]"},
			{"SCAN 0 TYPE hash", "[0 []]"},
			{"SCAN 0 TYPE list", "[0 []]"},
			{"SCAN 0 TYPE nosuchtype", "[0 []]"},
			{"SCAN 0 TYPE hash TYPE string", "[0 [k]]"},
			{"HSET h f v", ":1"},
			{"SCAN 0 TYPE hash", "[0 [h]]"},
			{"SET e v PX 10", "OK"},
			{"SLEEP 30", "*"},
			{"SCAN 0 TYPE string", "[0 [k]]"},
		}},
		{"errors", []strStep{
			{"SCAN", "-ERR wrong number of arguments for 'scan' command"},
			{"SCAN abc", "-ERR invalid cursor"},
			{"SCAN \"\"", "[0 []]"},
			{"SCAN +", "-ERR invalid cursor"},
			{"SCAN -", "-ERR invalid cursor"},
			{"SCAN \" 0\"", "-ERR invalid cursor"},
			{"SCAN 0x", "-ERR invalid cursor"},
			{"SCAN 18446744073709551616", "-ERR invalid cursor"},
			{"SCAN abc COUNT 0", "-ERR invalid cursor"},
			{"SCAN 0 COUNT 0", "-ERR syntax error"},
			{"SCAN 0 COUNT -1", "-ERR syntax error"},
			{"SCAN 0 COUNT x", "-ERR value is not an integer or out of range"},
			{"SCAN 0 COUNT x FOO", "-ERR value is not an integer or out of range"},
			{"SCAN 0 COUNT", "-ERR syntax error"},
			{"SCAN 0 MATCH", "-ERR syntax error"},
			{"SCAN 0 TYPE", "-ERR syntax error"},
			{"SCAN 0 FOO bar", "-ERR syntax error"},
			{"SCAN 0 MATCH * FOO", "-ERR syntax error"},
		}},
	})
}

// TestScanCursorRange checks Granary's own cursors: bucket numbers.
func TestScanCursorRange(t *testing.T) {
	c := dial(t, newTestServer(t))
	for cursor, want := range map[string]string{
		"16383": "[0 []]", "-0": "[0 []]", "016383": "[0 []]",
		"16384": "-ERR invalid cursor", "-1": "-ERR invalid cursor",
		"18446744073709551615": "-ERR invalid cursor",
	} {
		if got := strFmt(c.Do(ctx, "SCAN", cursor).Result()); got != want {
			t.Errorf("SCAN %s: got %s, want %s", cursor, got, want)
		}
	}
}

// scanAll runs a whole SCAN with opts and returns every key it returned (with
// repeats) and the number of calls.
func scanAll(t *testing.T, c *redis.Client, opts ...any) ([]string, int) {
	t.Helper()
	var all []string
	cursor := "0"
	for calls := 1; ; calls++ {
		r, err := c.Do(ctx, append([]any{"SCAN", cursor}, opts...)...).Slice()
		if err != nil {
			t.Fatal(err)
		}
		cursor = r[0].(string)
		for _, k := range r[1].([]any) {
			all = append(all, k.(string))
		}
		if cursor == "0" {
			return all, calls
		}
		if calls > 20000 {
			t.Fatal("SCAN does not end")
		}
	}
}

func TestScanWalk(t *testing.T) {
	c := dial(t, newTestServer(t))
	const n = 2000
	want := map[string]bool{}
	pipe := c.Pipeline()
	for i := 0; i < n; i++ {
		k := "key:" + strconv.Itoa(i)
		want[k] = true
		pipe.Set(ctx, k, "v", 0)
	}
	for i := 0; i < 30; i++ { // many keys in one bucket
		k := "{tag}:" + strconv.Itoa(i)
		want[k] = true
		pipe.Set(ctx, k, "v", 0)
	}
	pipe.HSet(ctx, "hash:1", "f", "v")
	pipe.HSet(ctx, "hash:2", "f", "v")
	if _, err := pipe.Exec(ctx); err != nil {
		t.Fatal(err)
	}

	for _, count := range []int{1, 10, 100, 100000} {
		keys, calls := scanAll(t, c, "COUNT", count, "TYPE", "string")
		if len(keys) != len(want) {
			t.Errorf("COUNT %d: %d keys, want %d", count, len(keys), len(want))
		}
		for _, k := range keys {
			if !want[k] {
				t.Errorf("COUNT %d: unexpected key %q", count, k)
			}
		}
		seen := map[string]bool{}
		for _, k := range keys {
			if seen[k] {
				t.Errorf("COUNT %d: %q returned twice", count, k)
			}
			seen[k] = true
		}
		if count == 100000 && calls != 1 {
			t.Errorf("COUNT %d: %d calls, want 1", count, calls)
		}
		if count == 10 && (calls < len(want)/30 || calls > len(want)/10+1) {
			t.Errorf("COUNT %d: %d calls for %d keys", count, calls, len(want))
		}
	}

	keys, _ := scanAll(t, c, "MATCH", "key:1??", "COUNT", 50)
	sort.Strings(keys)
	if len(keys) != 100 || keys[0] != "key:100" || keys[99] != "key:199" {
		t.Errorf("MATCH key:1??: %d keys %v", len(keys), keys)
	}
	keys, _ = scanAll(t, c, "TYPE", "hash")
	sort.Strings(keys)
	if fmt.Sprint(keys) != "[hash:1 hash:2]" {
		t.Errorf("TYPE hash: %v", keys)
	}
	keys, _ = scanAll(t, c, "MATCH", "{tag}:1*", "TYPE", "string", "COUNT", 3)
	if len(keys) != 11 {
		t.Errorf("MATCH {tag}:1*: %v", keys)
	}
}

// TestScanDuringWrites deletes and adds keys while a scan runs: every key
// present for the whole scan must be returned.
func TestScanDuringWrites(t *testing.T) {
	c := dial(t, newTestServer(t))
	for i := 0; i < 1000; i++ {
		c.Set(ctx, "stay:"+strconv.Itoa(i), "v", 0)
		c.Set(ctx, "go:"+strconv.Itoa(i), "v", 0)
	}
	got := map[string]bool{}
	cursor := "0"
	for i := 0; ; i++ {
		r, err := c.Do(ctx, "SCAN", cursor, "COUNT", 20).Slice()
		if err != nil {
			t.Fatal(err)
		}
		for _, k := range r[1].([]any) {
			got[k.(string)] = true
		}
		cursor = r[0].(string)
		if cursor == "0" {
			break
		}
		c.Del(ctx, "go:"+strconv.Itoa(i))
		c.Set(ctx, "new:"+strconv.Itoa(i), "v", 0)
	}
	for i := 0; i < 1000; i++ {
		if k := "stay:" + strconv.Itoa(i); !got[k] {
			t.Errorf("%s not returned", k)
		}
	}
}

// TestScanPrimaryOnly gives half the buckets to another node: SCAN returns
// only the keys of the buckets this node serves as primary.
func TestScanPrimaryOnly(t *testing.T) {
	var out bytes.Buffer
	c := strNode(t, &out)
	node := c.N
	eng := c.NS.Engine
	tab, me := node.View()
	self := tab.Nodes[me]
	tb := &routing.Table{Epoch: 2, Nodes: []routing.Node{self, {ID: "other", Host: "127.0.0.1", Port: 1}}}
	for b := range tb.Replicas {
		tb.Replicas[b] = []int{b % 2}
	}
	node.SetTable(tb)

	want := map[string]bool{}
	for i := 0; i < 500; i++ {
		k := []byte("k" + strconv.Itoa(i))
		b := routing.Bucket(k)
		if _, err := eng.Set(b, k, engine.Item{Type: engine.TypeString, Value: []byte("v")}, 0); err != nil {
			t.Fatal(err)
		}
		if b%2 == 0 {
			want[string(k)] = true
		}
	}
	got := map[string]bool{}
	cursor := "0"
	for {
		out.Reset()
		c.Args = strArgv("SCAN", cursor, "COUNT", "7")
		command.Dispatch(c)
		c.W.Flush()
		r, err := resp.NewReplyReader(&out).ReadReply()
		if err != nil {
			t.Fatal(err)
		}
		var keys []string
		cursor, keys = scanParse(t, r)
		for _, k := range keys {
			if !want[k] {
				t.Errorf("key %q of a bucket served elsewhere", k)
			}
			got[k] = true
		}
		if cursor == "0" {
			break
		}
	}
	if len(got) != len(want) {
		t.Errorf("%d keys, want %d", len(got), len(want))
	}
}

// scanParse takes a SCAN reply apart.
func scanParse(t *testing.T, r resp.Value) (string, []string) {
	t.Helper()
	if r.Kind != '*' || len(r.Elems) != 2 || r.Elems[0].Kind != '$' || r.Elems[1].Kind != '*' {
		t.Fatalf("bad SCAN reply %s", r)
	}
	keys := make([]string, len(r.Elems[1].Elems))
	for i, k := range r.Elems[1].Elems {
		keys[i] = string(k.Str)
	}
	return string(r.Elems[0].Str), keys
}
