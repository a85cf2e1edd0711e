package command_test

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/redis/go-redis/v9"

	"granary/internal/command"
)

// The hash scripts use the script runner of strings_test.go (strRunCases,
// with GRANARY_REDIS=host:port to check the same expectations against a real
// Redis 7). Fields are inserted in sorted order where a reply lists them:
// Granary returns fields in byte order, Redis in insertion order for a small
// hash (neither is a promise of the protocol).

func TestHashes(t *testing.T) {
	strRunCases(t, []strCase{
		{"hset hget", []strStep{
			{"HSET h a 1 b 2", ":2"},
			{"HSET h a 1 a 2", ":0"},
			{"HGET h a", "2"},
			{"HGET h b", "2"},
			{"HGET h zz", "(nil)"},
			{"HGET nokey a", "(nil)"},
			{"HSET h c", "-ERR wrong number of arguments for 'hset' command"},
			{"HSET h", "-ERR wrong number of arguments for 'hset' command"},
			{"HSET h c 3 d", "-ERR wrong number of arguments for 'hset' command"},
			{"HMSET h c", "-ERR wrong number of arguments for 'hmset' command"},
			{"HMSET h c 3 d 4", "OK"},
			{"HLEN h", ":4"},
			{"HGETALL h", "[a 2 b 2 c 3 d 4]"},
			{"HKEYS h", "[a b c d]"},
			{"HVALS h", "[2 2 3 4]"},
			{`HSET h "" empty e ""`, ":2"},
			{`HGET h ""`, "empty"},
			{`HSTRLEN h e`, ":0"},
			{`HEXISTS h e`, ":1"},
			{`HEXISTS h ""`, ":1"},
			{`HEXISTS h zz`, ":0"},
			{`HEXISTS nokey a`, ":0"},
			{"HLEN nokey", ":0"},
		}},
		{"hmget", []strStep{
			{"HMGET nokey a b", "[(nil) (nil)]"},
			{"HSET h a 1 c 3", ":2"},
			{"HMGET h a b c a", "[1 (nil) 3 1]"},
			{"HMGET h", "-ERR wrong number of arguments for 'hmget' command"},
		}},
		{"hdel", []strStep{
			{"HSET h a 1 b 2 c 3", ":3"},
			{"HDEL h x", ":0"},
			{"HDEL h a a x", ":1"},
			{"HDEL h", "-ERR wrong number of arguments for 'hdel' command"},
			{"HGETALL h", "[b 2 c 3]"},
			{"HDEL h b c", ":2"},
			{"EXISTS h", ":0"},
			{"HGETALL h", "[]"},
			{"HDEL nokey a", ":0"},
			{"HKEYS nokey", "[]"},
			{"HVALS nokey", "[]"},
		}},
		{"hsetnx", []strStep{
			{"HSETNX h a 1", ":1"},
			{"HSETNX h a 2", ":0"},
			{"HGET h a", "1"},
			{"HSETNX h b 2", ":1"},
			{"HLEN h", ":2"},
			{"HSETNX h b", "-ERR wrong number of arguments for 'hsetnx' command"},
		}},
		{"hstrlen", []strStep{
			{"HSET h a hello", ":1"},
			{"HSTRLEN h a", ":5"},
			{"HSTRLEN h b", ":0"},
			{"HSTRLEN nokey a", ":0"},
		}},
		{"hincrby", []strStep{
			{"HINCRBY h a 5", ":5"},
			{"HINCRBY h a -7", ":-2"},
			{"HINCRBY h a x", "-ERR value is not an integer or out of range"},
			{"HINCRBY h a 1.5", "-ERR value is not an integer or out of range"},
			{"HINCRBY h a 01", "-ERR value is not an integer or out of range"},
			{"HSET h s abc n 9223372036854775807 m -9223372036854775808 sp \" 1\"", ":4"},
			{"HINCRBY h s 1", "-ERR hash value is not an integer"},
			{"HINCRBY h sp 1", "-ERR hash value is not an integer"},
			{"HINCRBY h n 1", "-ERR increment or decrement would overflow"},
			{"HINCRBY h n 0", ":9223372036854775807"},
			{"HINCRBY h m -1", "-ERR increment or decrement would overflow"},
			{"HINCRBY h m 9223372036854775807", ":-1"},
			{"HGET h m", "-1"},
			{"HINCRBY nokey a -9223372036854775808", ":-9223372036854775808"},
		}},
		{"hincrbyfloat", []strStep{
			{"HINCRBYFLOAT h a 10.1", "10.1"},
			{"HINCRBYFLOAT h a 0.2", "10.3"},
			{"HINCRBYFLOAT h a 1e-320", "10.3"},
			{"HINCRBYFLOAT h a -10.3", "0"},
			{"HINCRBYFLOAT h b 1e5", "100000"},
			{"HINCRBYFLOAT h b 0x10", "100016"},
			{"HINCRBYFLOAT h b 1.5e", "-ERR value is not a valid float"},
			{"HINCRBYFLOAT h b abc", "-ERR value is not a valid float"},
			{"HINCRBYFLOAT h b \" 1\"", "-ERR value is not a valid float"},
			{"HINCRBYFLOAT h b inf", "-ERR value is NaN or Infinity"},
			{"HINCRBYFLOAT h b -infinity", "-ERR value is NaN or Infinity"},
			{"HINCRBYFLOAT h b nan", "-ERR value is not a valid float"},
			{"HSET h s abc i inf f 1e308", ":3"},
			{"HINCRBYFLOAT h s 1", "-ERR hash value is not a float"},
			{"HINCRBYFLOAT h i 1", "-ERR increment would produce NaN or Infinity"},
			{"HINCRBYFLOAT h f 1e308", "199999999999999999993371759311691291321120199694831134415594095989843469737676123744200253843777078640893494450108026446304269499187921167194841628860392837535918200039206381557326219209014213335878306791577877829121087126122536729803237260434173178506889763247582601711514636284849020905456510092687857156096"},
			{"HGET h a", "0"},
			{"HINCRBYFLOAT h c -0.0", "0"},
			{"HINCRBYFLOAT h d 3.0", "3"},
			{"HGET h d", "3"},
		}},
		{"wrongtype", []strStep{
			{"SET s v", "OK"},
			{"HSET s a 1", "-WRONGTYPE Operation against a key holding the wrong kind of value"},
			{"HMSET s a 1", "-WRONGTYPE Operation against a key holding the wrong kind of value"},
			{"HSETNX s a 1", "-WRONGTYPE Operation against a key holding the wrong kind of value"},
			{"HGET s a", "-WRONGTYPE Operation against a key holding the wrong kind of value"},
			{"HMGET s a", "-WRONGTYPE Operation against a key holding the wrong kind of value"},
			{"HDEL s a", "-WRONGTYPE Operation against a key holding the wrong kind of value"},
			{"HLEN s", "-WRONGTYPE Operation against a key holding the wrong kind of value"},
			{"HEXISTS s a", "-WRONGTYPE Operation against a key holding the wrong kind of value"},
			{"HSTRLEN s a", "-WRONGTYPE Operation against a key holding the wrong kind of value"},
			{"HGETALL s", "-WRONGTYPE Operation against a key holding the wrong kind of value"},
			{"HKEYS s", "-WRONGTYPE Operation against a key holding the wrong kind of value"},
			{"HVALS s", "-WRONGTYPE Operation against a key holding the wrong kind of value"},
			{"HINCRBY s a 1", "-WRONGTYPE Operation against a key holding the wrong kind of value"},
			{"HINCRBYFLOAT s a 1", "-WRONGTYPE Operation against a key holding the wrong kind of value"},
			{"HSCAN s 0", "-WRONGTYPE Operation against a key holding the wrong kind of value"},
			{"HSCAN s 0 COUNT 0", "-WRONGTYPE Operation against a key holding the wrong kind of value"},
			{"HSET h a 1", ":1"},
			{"GET h", "-WRONGTYPE Operation against a key holding the wrong kind of value"},
			{"APPEND h x", "-WRONGTYPE Operation against a key holding the wrong kind of value"},
			{"INCR h", "-WRONGTYPE Operation against a key holding the wrong kind of value"},
			{"GET s", "v"},
		}},
		{"expiry kept by field updates", []strStep{
			{"HSET h a 1", ":1"},
			{"PEXPIRE h 100000", ":1"},
			{"HSET h b 2", ":1"},
			{"HDEL h a", ":1"},
			{"HINCRBY h c 1", ":1"},
			{"HINCRBYFLOAT h c 1", "2"},
			{"PTTL h", "~:100000"},
			{"PEXPIRE h 50", ":1"},
			{"SLEEP 120", ""},
			{"HGET h b", "(nil)"},
			{"HLEN h", ":0"},
			{"HSET h x 1", ":1"},
			{"PTTL h", ":-1"},
		}},
		{"hscan small", []strStep{
			{"HSCAN nokey 0", "[0 []]"},
			{"HSCAN nokey 0 COUNT 0 bogus", "[0 []]"},
			{"HSCAN nokey x", "-ERR invalid cursor"},
			{"HSET h a 1 b 2 ab 3", ":3"},
			{"HSCAN h x", "-ERR invalid cursor"},
			{"HSCAN h \" 0\"", "-ERR invalid cursor"},
			{"HSCAN h 18446744073709551616", "-ERR invalid cursor"},
			{"HSCAN h 0 COUNT 0", "-ERR syntax error"},
			{"HSCAN h 0 COUNT -1", "-ERR syntax error"},
			{"HSCAN h 0 COUNT x", "-ERR value is not an integer or out of range"},
			{"HSCAN h 0 MATCH", "-ERR syntax error"},
			{"HSCAN h 0 TYPE string", "-ERR syntax error"},
			{"HSCAN h 0 bogus", "-ERR syntax error"},
			{"HSET h2 \"\" e", ":1"},
			{"HSCAN h2 0 MATCH *", "[0 [ e]]"},
			{"HSCAN h2 0 MATCH **", "[0 []]"},
		}},
		{"hscan small order", []strStep{
			{"HSET h a 1 ab 3 b 2", ":3"},
			{"HSCAN h 0", "[0 [a 1 ab 3 b 2]]"},
			{"HSCAN h \"\"", "[0 [a 1 ab 3 b 2]]"},
			{"HSCAN h 5", "[0 [a 1 ab 3 b 2]]"},
			{"HSCAN h -1", "[0 [a 1 ab 3 b 2]]"},
			{"HSCAN h +0", "[0 [a 1 ab 3 b 2]]"},
			{"HSCAN h 18446744073709551615", "[0 [a 1 ab 3 b 2]]"},
			{"HSCAN h 0 MATCH a* COUNT 1", "[0 [a 1 ab 3]]"},
			{"HSCAN h 0 match A* count 1000", "[0 []]"},
			{"HSCAN h 0 MATCH x MATCH b", "[0 [b 2]]"},
		}},
	})
}

// TestHashesGranary covers what Redis 7.0 has no counterpart for: HSCAN of a
// large hash by index cursor, NOVALUES, and the lexicographic range reads.
func TestHashesGranary(t *testing.T) {
	c := dial(t, newTestServer(t))
	for _, tc := range []strCase{
		{"novalues", []strStep{
			{"HSET h a 1 b 2", ":2"},
			{"HSCAN h 0 NOVALUES", "[0 [a b]]"},
			{"HSCAN h 0 MATCH b NOVALUES", "[0 [b]]"},
		}},
		{"range", []strStep{
			{"HSET r a 1 b 2 bb 3 c 4 e 5", ":5"},
			{"HRANGEBYLEX r - +", "[a 1 b 2 bb 3 c 4 e 5]"},
			{"HRANGEBYLEX r [b [c", "[b 2 bb 3 c 4]"},
			{"HRANGEBYLEX r (b (c", "[bb 3]"},
			{"HRANGEBYLEX r [ba +", "[bb 3 c 4 e 5]"},
			{"HRANGEBYLEX r - (b", "[a 1]"},
			{"HRANGEBYLEX r [c [b", "[]"},
			{"HRANGEBYLEX r + -", "[]"},
			{"HRANGEBYLEX r - + LIMIT 1 2", "[b 2 bb 3]"},
			{"HRANGEBYLEX r - + LIMIT 3 -1", "[c 4 e 5]"},
			{"HRANGEBYLEX r - + LIMIT 3 0", "[]"},
			{"HRANGEBYLEX r - + LIMIT -1 2", "[]"},
			{"HRANGEBYLEX r - + LIMIT 9 2", "[]"},
			{"HRANGEBYLEX r - + LIMIT 0 1 LIMIT 1 1", "[b 2]"},
			{"HRANGEBYLEX r - + NOVALUES", "[a b bb c e]"},
			{"HRANGEBYLEX r [b + LIMIT 1 2 NOVALUES", "[bb c]"},
			{"HREVRANGEBYLEX r + -", "[e 5 c 4 bb 3 b 2 a 1]"},
			{"HREVRANGEBYLEX r [c [b", "[c 4 bb 3 b 2]"},
			{"HREVRANGEBYLEX r [b [c", "[]"},
			{"HREVRANGEBYLEX r + - LIMIT 1 2", "[c 4 bb 3]"},
			{"HREVRANGEBYLEX r (c - LIMIT 1 10 NOVALUES", "[b a]"},
			{"HRANGEBYLEX nokey - +", "[]"},
			{"HREVRANGEBYLEX nokey + -", "[]"},
			{`HSET r "" empty`, ":1"},
			{`HRANGEBYLEX r [ (a`, "[ empty]"},
			{`HRANGEBYLEX r ( (a`, "[]"},
		}},
		{"range errors", []strStep{
			{"HSET r2 a 1", ":1"},
			{"HRANGEBYLEX r a +", "-ERR min or max not valid string range item"},
			{"HRANGEBYLEX r - +x", "-ERR min or max not valid string range item"},
			{"HRANGEBYLEX r -- +", "-ERR min or max not valid string range item"},
			{`HRANGEBYLEX r "" +`, "-ERR min or max not valid string range item"},
			{"HRANGEBYLEX nokey x +", "-ERR min or max not valid string range item"},
			{"HRANGEBYLEX r x + LIMIT a 1", "-ERR value is not an integer or out of range"},
			{"HRANGEBYLEX r - + LIMIT 1", "-ERR syntax error"},
			{"HRANGEBYLEX r - + WITHSCORES", "-ERR syntax error"},
			{"HRANGEBYLEX r -", "-ERR wrong number of arguments for 'hrangebylex' command"},
			{"HREVRANGEBYLEX r +", "-ERR wrong number of arguments for 'hrevrangebylex' command"},
			{"SET s v", "OK"},
			{"HRANGEBYLEX s - +", "-WRONGTYPE Operation against a key holding the wrong kind of value"},
			{"HRANGEBYLEX s x +", "-ERR min or max not valid string range item"},
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			for i, st := range tc.steps {
				strCheck(t, c, i, st)
			}
		})
	}
}

// TestHashScanLarge iterates a hash above the small-hash threshold with
// several COUNTs and checks that every field comes exactly once, in order.
func TestHashScanLarge(t *testing.T) {
	c := dial(t, newTestServer(t))
	const n = 1000
	args := []any{"HSET", "big"}
	var want []string
	for i := 0; i < n; i++ {
		f := fmt.Sprintf("f%04d", i)
		args = append(args, f, "v"+f)
		want = append(want, f)
	}
	if got, err := c.Do(ctx, args...).Int64(); err != nil || got != n {
		t.Fatalf("HSET: %v %v", got, err)
	}
	for _, count := range []int{1, 7, 10, 999, 1000, 5000} {
		var got []string
		cursor := uint64(0)
		calls := 0
		for {
			keys, next, err := c.HScan(ctx, "big", cursor, "", int64(count)).Result()
			if err != nil {
				t.Fatal(err)
			}
			calls++
			for i := 0; i < len(keys); i += 2 {
				if keys[i+1] != "v"+keys[i] {
					t.Fatalf("value of %s is %s", keys[i], keys[i+1])
				}
				got = append(got, keys[i])
			}
			if next == 0 {
				break
			}
			cursor = next
		}
		if !slices.Equal(got, want) {
			t.Fatalf("COUNT %d: got %d fields, want %d", count, len(got), len(want))
		}
		if wantCalls := (n + count - 1) / count; calls != wantCalls {
			t.Errorf("COUNT %d: %d calls, want %d", count, calls, wantCalls)
		}
	}
	// MATCH filters a page; pages may come back empty.
	keys, next, err := c.HScan(ctx, "big", 0, "f09*", 10).Result()
	if err != nil || len(keys) != 0 || next != 10 {
		t.Fatalf("MATCH page: %v %d %v", keys, next, err)
	}
	keys, next, err = c.HScan(ctx, "big", 995, "f099[6-9]", 10).Result()
	if err != nil || !slices.Equal(keys, []string{"f0996", "vf0996", "f0997", "vf0997", "f0998", "vf0998", "f0999", "vf0999"}) || next != 0 {
		t.Fatalf("MATCH last page: %v %d %v", keys, next, err)
	}
	// A cursor past the end ends the iteration.
	keys, next, err = c.HScan(ctx, "big", 1<<40, "", 10).Result()
	if err != nil || len(keys) != 0 || next != 0 {
		t.Fatalf("cursor past the end: %v %d %v", keys, next, err)
	}
}

// TestHashRangeModel compares HRANGEBYLEX and HREVRANGEBYLEX with a direct
// implementation of ZRANGEBYLEX's semantics on random ranges.
func TestHashRangeModel(t *testing.T) {
	c := dial(t, newTestServer(t))
	r := rand.New(rand.NewPCG(3, 4))
	alpha := []string{"", "a", "b", "c", "\x00", "\xff"}
	word := func() string {
		var sb strings.Builder
		for i := r.IntN(4); i > 0; i-- {
			sb.WriteString(alpha[r.IntN(len(alpha))])
		}
		return sb.String()
	}
	fields := map[string]bool{}
	args := []any{"HSET", "m"}
	for i := 0; i < 80; i++ {
		f := word()
		fields[f] = true
		args = append(args, f, "v"+f)
	}
	if err := c.Do(ctx, args...).Err(); err != nil {
		t.Fatal(err)
	}
	var sorted []string
	for f := range fields {
		sorted = append(sorted, f)
	}
	slices.Sort(sorted)
	bound := func() string {
		switch r.IntN(6) {
		case 0:
			return "-"
		case 1:
			return "+"
		case 2, 3:
			return "[" + word()
		}
		return "(" + word()
	}
	// in reports whether f is above min (lower) or below max (upper).
	in := func(f, b string, lower bool) bool {
		switch {
		case b == "-":
			return lower
		case b == "+":
			return !lower
		}
		c := strings.Compare(f, b[1:])
		if lower {
			return c > 0 || (c == 0 && b[0] == '[')
		}
		return c < 0 || (c == 0 && b[0] == '[')
	}
	for iter := 0; iter < 400; iter++ {
		min, max := bound(), bound()
		var sel []string
		for _, f := range sorted {
			if in(f, min, true) && in(f, max, false) {
				sel = append(sel, f)
			}
		}
		rev := r.IntN(2) == 1
		if rev {
			slices.Reverse(sel)
		}
		cmd := []any{"HRANGEBYLEX", "m", min, max}
		if rev {
			cmd = []any{"HREVRANGEBYLEX", "m", max, min}
		}
		if r.IntN(2) == 0 {
			off, cnt := r.IntN(12)-2, r.IntN(12)-2
			cmd = append(cmd, "LIMIT", off, cnt)
			switch {
			case off < 0 || off >= len(sel):
				sel = nil
			default:
				sel = sel[off:]
				if cnt >= 0 && cnt < len(sel) {
					sel = sel[:cnt]
				}
			}
		}
		var want []string
		for _, f := range sel {
			want = append(want, f, "v"+f)
		}
		got, err := c.Do(ctx, cmd...).StringSlice()
		if err != nil {
			t.Fatalf("%q: %v", cmd, err)
		}
		if len(got) != len(want) || (len(got) > 0 && !slices.Equal(got, want)) {
			t.Fatalf("%q: got %q want %q", cmd, got, want)
		}
	}
}

// TestHashesRESP3 checks the RESP3 shapes: HGETALL is a map (empty for a
// missing key), the range reads stay flat arrays.
func TestHashesRESP3(t *testing.T) {
	c := dial3(t, newTestServer(t))
	if err := c.HSet(ctx, "h", "a", "1", "b", "2").Err(); err != nil {
		t.Fatal(err)
	}
	m, err := c.Do(ctx, "HGETALL", "h").Result()
	if err != nil {
		t.Fatal(err)
	}
	if mm, ok := m.(map[any]any); !ok || len(mm) != 2 || mm["a"] != "1" || mm["b"] != "2" {
		t.Fatalf("HGETALL = %#v, want a map", m)
	}
	m, err = c.Do(ctx, "HGETALL", "nokey").Result()
	if mm, ok := m.(map[any]any); err != nil || !ok || len(mm) != 0 {
		t.Fatalf("HGETALL of a missing key = %#v %v, want an empty map", m, err)
	}
	r, err := c.Do(ctx, "HRANGEBYLEX", "h", "-", "+").Result()
	if arr, ok := r.([]any); err != nil || !ok || len(arr) != 4 || arr[0] != "a" || arr[3] != "2" {
		t.Fatalf("HRANGEBYLEX = %#v %v, want a flat array", r, err)
	}
	if v, err := c.HGet(ctx, "h", "zz").Result(); err != redis.Nil {
		t.Fatalf("HGET of a missing field = %q %v", v, err)
	}
	if got, err := c.Do(ctx, "HINCRBYFLOAT", "h", "a", "0.5").Result(); err != nil || got != "1.5" {
		t.Fatalf("HINCRBYFLOAT = %#v %v, want a bulk string", got, err)
	}
}

// TestHashConcurrent checks that concurrent read-modify-writes of one hash
// lose no update.
func TestHashConcurrent(t *testing.T) {
	addr := newTestServer(t)
	const workers, per = 4, 200
	var wg sync.WaitGroup
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			c := dial(t, addr)
			for i := 0; i < per; i++ {
				if err := c.HIncrBy(ctx, "ctr", "n", 1).Err(); err != nil {
					t.Error(err)
					return
				}
				if err := c.HSet(ctx, "ctr", fmt.Sprintf("w%d-%d", w, i), i).Err(); err != nil {
					t.Error(err)
					return
				}
			}
		}(w)
	}
	wg.Wait()
	c := dial(t, addr)
	if n, err := c.HGet(ctx, "ctr", "n").Int(); err != nil || n != workers*per {
		t.Fatalf("counter %d %v, want %d", n, err, workers*per)
	}
	if n, err := c.HLen(ctx, "ctr").Result(); err != nil || n != workers*per+1 {
		t.Fatalf("HLEN %d %v", n, err)
	}
}

func hashArgv(s ...string) [][]byte {
	out := make([][]byte, len(s))
	for i, a := range s {
		out[i] = []byte(a)
	}
	return out
}

func BenchmarkHGet(b *testing.B) {
	var out bytes.Buffer
	c := strNode(b, &out)
	setup := []string{"HSET", "h"}
	for i := 0; i < 1000; i++ {
		setup = append(setup, "field:"+strconv.Itoa(i), strings.Repeat("v", 50))
	}
	c.Args = hashArgv(setup...)
	command.Dispatch(c)
	get := hashArgv("HGET", "h", "field:500")
	b.ReportAllocs()
	for b.Loop() {
		c.Args = get
		command.Dispatch(c)
		if c.W.Buffered() > 32<<10 {
			c.W.Flush()
			out.Reset()
		}
	}
}

func BenchmarkHSet1000(b *testing.B) {
	var out bytes.Buffer
	c := strNode(b, &out)
	setup := []string{"HSET", "h"}
	for i := 0; i < 1000; i++ {
		setup = append(setup, "field:"+strconv.Itoa(i), strings.Repeat("v", 50))
	}
	c.Args = hashArgv(setup...)
	command.Dispatch(c)
	set := hashArgv("HSET", "h", "field:500", "x")
	b.ReportAllocs()
	for b.Loop() {
		c.Args = set
		command.Dispatch(c)
		if c.W.Buffered() > 32<<10 {
			c.W.Flush()
			out.Reset()
		}
	}
}
