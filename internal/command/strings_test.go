package command_test

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"granary/internal/command"
	"granary/internal/dataserver"
	"granary/internal/resp"
)

// The string and key families are tested with scripts: each case runs its
// steps in order on an empty server and compares every reply, rendered by
// strFmt, with the expected text:
//
//	OK, v      a status or bulk string
//	:5         an integer
//	(nil)      a null
//	-ERR ...   an error
//	[a (nil)]  an array
//	~:N        an integer within [N-2000, N] (a TTL in ms, measured)
//	*          anything (a step run for its effect)
//
// A step "SLEEP ms" pauses. Arguments are split on spaces; quote an argument
// with spaces or an empty one as in strArgs.
//
// Setting GRANARY_REDIS=host:port runs the same scripts against a real Redis
// (which is flushed before each case), to check the expectations themselves;
// GRANARY_REDIS_ONLY=1 runs them against that Redis alone.

type strStep struct {
	cmd  string
	want string
}

type strCase struct {
	name  string
	steps []strStep
}

// strArgs splits a command line on spaces; "..." quotes an argument (no
// escapes).
func strArgs(line string) []any {
	var out []any
	for len(line) > 0 {
		line = strings.TrimLeft(line, " ")
		if line == "" {
			break
		}
		if line[0] == '"' {
			end := strings.IndexByte(line[1:], '"')
			out = append(out, line[1:1+end])
			line = line[2+end:]
			continue
		}
		end := strings.IndexByte(line, ' ')
		if end < 0 {
			end = len(line)
		}
		out = append(out, line[:end])
		line = line[end:]
	}
	return out
}

// strFmt renders a go-redis reply.
func strFmt(v any, err error) string {
	if errors.Is(err, redis.Nil) {
		return "(nil)"
	}
	if err != nil {
		return "-" + err.Error()
	}
	switch v := v.(type) {
	case nil:
		return "(nil)"
	case int64:
		return ":" + strconv.FormatInt(v, 10)
	case string:
		return v
	case []any:
		parts := make([]string, len(v))
		for i, e := range v {
			parts[i] = strFmt(e, nil)
		}
		return "[" + strings.Join(parts, " ") + "]"
	case float64:
		return strconv.FormatFloat(v, 'f', -1, 64)
	case bool:
		if v {
			return "#t"
		}
		return "#f"
	}
	return fmt.Sprintf("%T %v", v, v)
}

// strTargets returns the servers the scripts run against: a fresh Granary,
// and a real Redis when GRANARY_REDIS is set.
func strTargets(t *testing.T) map[string]func(t *testing.T) *redis.Client {
	targets := map[string]func(t *testing.T) *redis.Client{
		"granary": func(t *testing.T) *redis.Client { return dial(t, newTestServer(t)) },
	}
	if os.Getenv("GRANARY_REDIS_ONLY") != "" {
		delete(targets, "granary")
	}
	if addr := os.Getenv("GRANARY_REDIS"); addr != "" {
		targets["redis"] = func(t *testing.T) *redis.Client {
			c := dial(t, addr)
			if err := c.FlushAll(ctx).Err(); err != nil {
				t.Fatal(err)
			}
			return c
		}
	}
	return targets
}

func strRunCases(t *testing.T, cases []strCase) {
	for tname, connect := range strTargets(t) {
		t.Run(tname, func(t *testing.T) {
			for _, tc := range cases {
				t.Run(tc.name, func(t *testing.T) {
					c := connect(t)
					for i, st := range tc.steps {
						strCheck(t, c, i, st)
					}
				})
			}
		})
	}
}

func strCheck(t *testing.T, c *redis.Client, i int, st strStep) {
	t.Helper()
	args := strArgs(st.cmd)
	if strings.EqualFold(args[0].(string), "sleep") {
		ms, _ := strconv.Atoi(args[1].(string))
		time.Sleep(time.Duration(ms) * time.Millisecond)
		return
	}
	got := strFmt(c.Do(ctx, args...).Result())
	want := st.want
	switch {
	case want == "*":
	case strings.HasPrefix(want, "~:"):
		n, _ := strconv.ParseInt(want[2:], 10, 64)
		g, err := strconv.ParseInt(strings.TrimPrefix(got, ":"), 10, 64)
		if err != nil || !strings.HasPrefix(got, ":") || g > n || g < n-2000 {
			t.Errorf("step %d %q: got %s, want an integer in [%d, %d]", i, st.cmd, got, n-2000, n)
		}
	case got != want:
		t.Errorf("step %d %q: got %s, want %s", i, st.cmd, got, want)
	}
}

func TestStrings(t *testing.T) {
	strRunCases(t, []strCase{
		{"get set", []strStep{
			{"GET k", "(nil)"},
			{"SET k v", "OK"},
			{"GET k", "v"},
			{"SET k \"\"", "OK"},
			{"GET k", ""},
			{"SET k \"hello world\"", "OK"},
			{"GET k", "hello world"},
			{"STRLEN k", ":11"},
			{"STRLEN nokey", ":0"},
			{"GET", "-ERR wrong number of arguments for 'get' command"},
			{"GET a b", "-ERR wrong number of arguments for 'get' command"},
			{"SET k", "-ERR wrong number of arguments for 'set' command"},
		}},
		{"wrongtype", []strStep{
			{"HSET h f v", ":1"},
			{"GET h", "-WRONGTYPE Operation against a key holding the wrong kind of value"},
			{"STRLEN h", "-WRONGTYPE Operation against a key holding the wrong kind of value"},
			{"APPEND h x", "-WRONGTYPE Operation against a key holding the wrong kind of value"},
			{"GETRANGE h 0 1", "-WRONGTYPE Operation against a key holding the wrong kind of value"},
			{"SETRANGE h 0 x", "-WRONGTYPE Operation against a key holding the wrong kind of value"},
			{"SETRANGE h 0 \"\"", "-WRONGTYPE Operation against a key holding the wrong kind of value"},
			{"INCR h", "-WRONGTYPE Operation against a key holding the wrong kind of value"},
			{"INCRBYFLOAT h abc", "-WRONGTYPE Operation against a key holding the wrong kind of value"},
			{"GETSET h v", "-WRONGTYPE Operation against a key holding the wrong kind of value"},
			{"GETDEL h", "-WRONGTYPE Operation against a key holding the wrong kind of value"},
			{"GETEX h EX abc", "-WRONGTYPE Operation against a key holding the wrong kind of value"},
			{"SET h v GET", "-WRONGTYPE Operation against a key holding the wrong kind of value"},
			{"TYPE h", "hash"},
			{"MGET h nokey", "[(nil) (nil)]"},
			{"SET h v NX", "(nil)"},
			{"SETNX h v", ":0"},
			{"TYPE h", "hash"},
			{"SET h v XX", "OK"}, // SET overwrites any type
			{"TYPE h", "string"},
			{"GET h", "v"},
		}},
		{"set nx xx", []strStep{
			{"SET k v XX", "(nil)"},
			{"GET k", "(nil)"},
			{"SET k v NX", "OK"},
			{"SET k w NX", "(nil)"},
			{"GET k", "v"},
			{"SET k w XX", "OK"},
			{"GET k", "w"},
			{"SET k v nx xx", "-ERR syntax error"},
			{"SET k v XX NX", "-ERR syntax error"},
			{"SET k v NX NX", "(nil)"},
			{"SET k v xx XX", "OK"},
			{"SETNX k z", ":0"},
			{"SETNX k2 z", ":1"},
			{"GET k2", "z"},
		}},
		{"set get", []strStep{
			{"SET k v GET", "(nil)"},
			{"GET k", "v"},
			{"SET k w GET", "v"},
			{"SET k x NX GET", "w"},
			{"GET k", "w"},
			{"SET n x XX GET", "(nil)"},
			{"GET n", "(nil)"},
			{"SET n x NX GET", "(nil)"},
			{"GET n", "x"},
			{"SET k y GET GET", "w"},
			{"GETSET k z", "y"},
			{"GETSET nokey z", "(nil)"},
			{"GET nokey", "z"},
		}},
		{"set expiry", []strStep{
			{"SET k v EX 100", "OK"},
			{"TTL k", ":100"},
			{"PTTL k", "~:100000"},
			{"SET k v PX 100000", "OK"},
			{"TTL k", ":100"},
			{"SET k v EXAT 4102444800", "OK"},
			{"EXPIRETIME k", ":4102444800"},
			{"PEXPIRETIME k", ":4102444800000"},
			{"SET k v PXAT 4102444800123", "OK"},
			{"PEXPIRETIME k", ":4102444800123"},
			{"EXPIRETIME k", ":4102444800"},
			{"SET k v ex 10 EX 200", "OK"}, // an option may repeat: the last wins
			{"TTL k", ":200"},
			{"SET k w", "OK"}, // a plain SET clears the TTL
			{"TTL k", ":-1"},
			{"SET k v EX 100", "OK"},
			{"SET k x KEEPTTL", "OK"},
			{"TTL k", ":100"},
			{"GET k", "x"},
			{"SET k y KEEPTTL KEEPTTL XX", "OK"},
			{"TTL k", ":100"},
			{"SET k v EX 100 GET", "y"},
			{"SETEX k 50 v", "OK"},
			{"TTL k", ":50"},
			{"PSETEX k 50000 v", "OK"},
			{"TTL k", ":50"},
			{"SET k v PX 30", "OK"},
			{"GET k", "v"},
			{"SLEEP 60", ""},
			{"GET k", "(nil)"},
			{"TTL k", ":-2"},
			{"SET k v EXAT 1", "OK"}, // already expired: gone
			{"GET k", "(nil)"},
			{"SET k v", "OK"},
			{"SET k v PXAT 1 GET", "v"},
			{"EXISTS k", ":0"},
			{"SET k v PXAT 1 XX", "(nil)"},
			{"SET k v PXAT 1 NX", "OK"},
			{"EXISTS k", ":0"},
		}},
		{"set option errors", []strStep{
			{"SET k v EX 10 PX 100", "-ERR syntax error"},
			{"SET k v EX 10 KEEPTTL", "-ERR syntax error"},
			{"SET k v KEEPTTL EX 10", "-ERR syntax error"},
			{"SET k v EXAT 10 PXAT 10", "-ERR syntax error"},
			{"SET k v EX", "-ERR syntax error"},
			{"SET k v EX 10 NX XX", "-ERR syntax error"},
			{"SET k v EX abc NX XX", "-ERR syntax error"},
			{"SET k v EX abc", "-ERR value is not an integer or out of range"},
			{"SET k v EX 1.5", "-ERR value is not an integer or out of range"},
			{"SET k v EX 0", "-ERR invalid expire time in 'set' command"},
			{"SET k v PX -1", "-ERR invalid expire time in 'set' command"},
			{"SET k v EXAT 0", "-ERR invalid expire time in 'set' command"},
			{"SET k v EX 9223372036854775807", "-ERR invalid expire time in 'set' command"},
			{"SET k v EX 9223372036854775", "-ERR invalid expire time in 'set' command"},
			{"SET k v PX 9223372036854775807", "-ERR invalid expire time in 'set' command"},
			{"SET k v EX 9223372036854775808", "-ERR value is not an integer or out of range"},
			{"SET k v PERSIST", "-ERR syntax error"},
			{"SET k v foo", "-ERR syntax error"},
			{"SET k v EX 10 foo", "-ERR syntax error"},
			{"SETEX k 0 v", "-ERR invalid expire time in 'setex' command"},
			{"SETEX k x v", "-ERR value is not an integer or out of range"},
			{"PSETEX k -5 v", "-ERR invalid expire time in 'psetex' command"},
			{"GET k", "(nil)"},
			{"SETEX k 10", "-ERR wrong number of arguments for 'setex' command"},
		}},
		{"getdel getex", []strStep{
			{"GETDEL k", "(nil)"},
			{"SET k v EX 100", "OK"},
			{"GETDEL k", "v"},
			{"EXISTS k", ":0"},
			{"GETEX k", "(nil)"},
			{"GETEX k EX abc", "(nil)"}, // the time is checked only once the key is found
			{"SET k v", "OK"},
			{"GETEX k", "v"},
			{"TTL k", ":-1"},
			{"GETEX k EX 100", "v"},
			{"TTL k", ":100"},
			{"GETEX k PX 50000", "v"},
			{"TTL k", ":50"},
			{"GETEX k EXAT 4102444800", "v"},
			{"EXPIRETIME k", ":4102444800"},
			{"GETEX k PXAT 4102444800001", "v"},
			{"PEXPIRETIME k", ":4102444800001"},
			{"GETEX k PERSIST", "v"},
			{"TTL k", ":-1"},
			{"GETEX k PERSIST PERSIST", "v"},
			{"GETEX k EX 10 EX 20", "v"},
			{"TTL k", ":20"},
			{"GETEX k EX abc", "-ERR value is not an integer or out of range"},
			{"GETEX k EX 0", "-ERR invalid expire time in 'getex' command"},
			{"GETEX k PX 9223372036854775807", "-ERR invalid expire time in 'getex' command"},
			{"GETEX k PERSIST EX 10", "-ERR syntax error"},
			{"GETEX k EX 10 PERSIST", "-ERR syntax error"},
			{"GETEX k EX 10 PX 10", "-ERR syntax error"},
			{"GETEX k KEEPTTL", "-ERR syntax error"},
			{"GETEX k NX", "-ERR syntax error"},
			{"GETEX k GET", "-ERR syntax error"},
			{"GETEX k EX", "-ERR syntax error"},
			{"TTL k", ":20"},
			{"GETEX k EXAT 1", "v"}, // in the past: deleted
			{"EXISTS k", ":0"},
		}},
		{"mget mset msetnx", []strStep{
			{"MSET a 1 b 2 {x}c 3", "OK"},
			{"MGET a b {x}c d", "[1 2 3 (nil)]"},
			{"MGET a", "[1]"},
			{"MSET a 1 b", "-ERR wrong number of arguments for 'mset' command"},
			{"MSET a", "-ERR wrong number of arguments for 'mset' command"},
			{"MSETNX a 1 b", "-ERR wrong number of arguments for 'msetnx' command"},
			{"MSETNX a 9 z 9", ":0"},
			{"MGET a z", "[1 (nil)]"},
			{"MSETNX y 1 z 2", ":1"},
			{"MGET y z", "[1 2]"},
			{"MSETNX q 1 q 2", ":1"},
			{"GET q", "2"},
			{"MSET q 3 q 4", "OK"},
			{"GET q", "4"},
			{"SET t v EX 100", "OK"},
			{"MSET t w", "OK"},
			{"TTL t", ":-1"},
			{"HSET h f v", ":1"},
			{"MSETNX h 1 n 1", ":0"},
			{"MSET h 1", "OK"},
			{"GET h", "1"},
			{"MGET", "-ERR wrong number of arguments for 'mget' command"},
		}},
		{"append strlen", []strStep{
			{"APPEND k hello", ":5"},
			{"APPEND k \" world\"", ":11"},
			{"GET k", "hello world"},
			{"APPEND k \"\"", ":11"},
			{"APPEND e \"\"", ":0"},
			{"EXISTS e", ":1"},
			{"STRLEN e", ":0"},
			{"SET k v EX 100", "OK"},
			{"APPEND k x", ":2"},
			{"TTL k", ":100"},
			{"SET n 5", "OK"},
			{"APPEND n 0", ":2"},
			{"INCR n", ":51"},
		}},
		{"getrange", []strStep{
			{"GETRANGE k 0 -1", ""},
			{"SET k \"This is a string\"", "OK"},
			{"GETRANGE k 0 3", "This"},
			{"GETRANGE k -3 -1", "ing"},
			{"GETRANGE k 0 -1", "This is a string"},
			{"GETRANGE k 10 100", "string"},
			{"GETRANGE k 5 3", ""},
			{"GETRANGE k -1 -5", ""},
			{"GETRANGE k -100 2", "Thi"},
			{"GETRANGE k -100 -50", "T"},
			{"GETRANGE k 16 20", ""},
			{"GETRANGE k 15 20", "g"},
			{"GETRANGE k -9223372036854775808 9223372036854775807", "This is a string"},
			{"GETRANGE k a 1", "-ERR value is not an integer or out of range"},
			{"GETRANGE nokey a 1", "-ERR value is not an integer or out of range"},
			{"GETRANGE k 0 1.5", "-ERR value is not an integer or out of range"},
			{"SET e \"\"", "OK"},
			{"GETRANGE e 0 -1", ""},
			{"GETRANGE e -1 0", ""},
			{"SET n 12345", "OK"},
			{"GETRANGE n 1 2", "23"},
		}},
		{"setrange", []strStep{
			{"SETRANGE k 0 \"\"", ":0"},
			{"EXISTS k", ":0"},
			{"SETRANGE k 5 \"\"", ":0"},
			{"SETRANGE k 3 abc", ":6"},
			{"GET k", "\x00\x00\x00abc"},
			{"SET k \"Hello World\"", "OK"},
			{"SETRANGE k 6 Redis", ":11"},
			{"GET k", "Hello Redis"},
			{"SETRANGE k 6 \"\"", ":11"},
			{"SETRANGE k 100 \"\"", ":11"},
			{"SETRANGE k 13 x", ":14"},
			{"GET k", "Hello Redis\x00\x00x"},
			{"SETRANGE k 0 J", ":14"},
			{"GETRANGE k 0 4", "Jello"},
			{"SETRANGE k -1 x", "-ERR offset is out of range"},
			{"SETRANGE k x x", "-ERR value is not an integer or out of range"},
			{"SETRANGE k 536870912 x", "-ERR string exceeds maximum allowed size (proto-max-bulk-len)"},
			{"SETRANGE k 536870911 xx", "-ERR string exceeds maximum allowed size (proto-max-bulk-len)"},
			{"SETRANGE k 9223372036854775807 x", "-ERR string exceeds maximum allowed size (proto-max-bulk-len)"},
			{"SETRANGE k 536870912 \"\"", ":14"},
			{"SETRANGE n 536870912 x", "-ERR string exceeds maximum allowed size (proto-max-bulk-len)"},
			{"SET t v EX 100", "OK"},
			{"SETRANGE t 1 x", ":2"},
			{"TTL t", ":100"},
			{"SET i 1234", "OK"},
			{"SETRANGE i 1 x", ":4"},
			{"GET i", "1x34"},
		}},
	})
}

func TestCounters(t *testing.T) {
	strRunCases(t, []strCase{
		{"incr decr", []strStep{
			{"INCR k", ":1"},
			{"INCR k", ":2"},
			{"DECR k", ":1"},
			{"DECR k", ":0"},
			{"DECR k", ":-1"},
			{"INCRBY k 10", ":9"},
			{"DECRBY k 20", ":-11"},
			{"INCRBY k -9", ":-20"},
			{"DECRBY k -21", ":1"},
			{"GET k", "1"},
			{"DECR n", ":-1"},
			{"INCRBY m 5", ":5"},
			{"DECRBY d 5", ":-5"},
			{"SET k v EX 100", "OK"},
			{"SET k 10 KEEPTTL", "OK"},
			{"INCR k", ":11"},
			{"TTL k", ":100"},
		}},
		{"incr errors", []strStep{
			{"SET k abc", "OK"},
			{"INCR k", "-ERR value is not an integer or out of range"},
			{"SET k \" 1\"", "OK"},
			{"INCR k", "-ERR value is not an integer or out of range"},
			{"SET k \"1 \"", "OK"},
			{"INCR k", "-ERR value is not an integer or out of range"},
			{"SET k +1", "OK"},
			{"INCR k", "-ERR value is not an integer or out of range"},
			{"SET k 01", "OK"},
			{"INCR k", "-ERR value is not an integer or out of range"},
			{"SET k 1.0", "OK"},
			{"INCR k", "-ERR value is not an integer or out of range"},
			{"SET k \"\"", "OK"},
			{"INCR k", "-ERR value is not an integer or out of range"},
			{"SET k -0", "OK"},
			{"INCR k", "-ERR value is not an integer or out of range"},
			{"SET k 9223372036854775808", "OK"},
			{"INCR k", "-ERR value is not an integer or out of range"},
			{"SET k 00000000000000000000001", "OK"},
			{"INCR k", "-ERR value is not an integer or out of range"},
			{"INCRBY k abc", "-ERR value is not an integer or out of range"},
			{"INCRBY n 1.5", "-ERR value is not an integer or out of range"},
			{"INCRBY n 9223372036854775808", "-ERR value is not an integer or out of range"},
			{"EXISTS n", ":0"},
		}},
		{"incr overflow", []strStep{
			{"SET k 9223372036854775807", "OK"},
			{"INCR k", "-ERR increment or decrement would overflow"},
			{"INCRBY k 1", "-ERR increment or decrement would overflow"},
			{"DECRBY k -1", "-ERR increment or decrement would overflow"},
			{"INCRBY k 0", ":9223372036854775807"},
			{"INCRBY k -9223372036854775808", ":-1"},
			{"SET k -9223372036854775808", "OK"},
			{"DECR k", "-ERR increment or decrement would overflow"},
			{"INCRBY k -1", "-ERR increment or decrement would overflow"},
			{"GET k", "-9223372036854775808"},
			{"INCRBY k 9223372036854775807", ":-1"},
			{"DECRBY k -9223372036854775808", "-ERR decrement would overflow"},
			{"DECRBY k 9223372036854775807", ":-9223372036854775808"},
		}},
		{"incrbyfloat", []strStep{
			{"INCRBYFLOAT k 1.5", "1.5"},
			{"INCRBYFLOAT k 0.1", "1.6"},
			{"SET k 10.50", "OK"},
			{"INCRBYFLOAT k 0.1", "10.6"},
			{"INCRBYFLOAT k -5", "5.6"},
			{"SET k 5.0e3", "OK"},
			{"INCRBYFLOAT k 2.0e2", "5200"},
			{"SET k 0.1", "OK"},
			{"INCRBYFLOAT k 0.2", "0.3"}, // long double, as Redis on x86-64
			{"SET k 3", "OK"},
			{"INCRBYFLOAT k 1e30", "1000000000000000000024696061952"},
			{"SET k 1", "OK"},
			{"INCRBYFLOAT k -1", "0"},
			{"INCRBYFLOAT k -0.0", "0"},
			{"INCRBYFLOAT k 1.0e-20", "0"},
			{"INCRBYFLOAT k -1e-20", "0"},
			{"INCRBYFLOAT k 0x10", "16"},
			{"INCRBYFLOAT k 0x1.8p1", "19"},
			{"INCRBYFLOAT k .5", "19.5"},
			{"INCRBYFLOAT k 5.", "24.5"},
			{"INCRBYFLOAT k +1E1", "34.5"},
			{"INCRBYFLOAT k 1e400", "10000000000000000000281880683947586514586453433629052038625910693539685534008629862039363994848324160522094053927317616200295822777259255734023828976593340661017797447434546173917862448116674971723778943824391593338047470675026246684401359237513603830343735485505244955964979021825038280091068414947402456898653040951017512658092615827588920183472511643316591362664138176309734806343732497430221946880"},
			{"INCRBYFLOAT k -1e400", "0"},
			{"INCRBYFLOAT k 2.5", "2.5"},
			{"SET k 1", "OK"},
			{"INCRBYFLOAT k 0.3333333333333333333", "1.33333333333333333"},
			{"SET k v EX 100", "OK"},
			{"SET k 1 KEEPTTL", "OK"},
			{"INCRBYFLOAT k 1", "2"},
			{"TTL k", ":100"},
		}},
		{"incrbyfloat errors", []strStep{
			{"SET k 1", "OK"},
			{"INCRBYFLOAT k abc", "-ERR value is not a valid float"},
			{"INCRBYFLOAT k \"\"", "-ERR value is not a valid float"},
			{"INCRBYFLOAT k \" 1\"", "-ERR value is not a valid float"},
			{"INCRBYFLOAT k \"1 \"", "-ERR value is not a valid float"},
			{"INCRBYFLOAT k nan", "-ERR value is not a valid float"},
			{"INCRBYFLOAT k 1e", "-ERR value is not a valid float"},
			{"INCRBYFLOAT k 1e+", "-ERR value is not a valid float"},
			{"INCRBYFLOAT k 0x", "-ERR value is not a valid float"},
			{"INCRBYFLOAT k 1_000", "-ERR value is not a valid float"},
			{"INCRBYFLOAT k 1/2", "-ERR value is not a valid float"},
			{"INCRBYFLOAT k .", "-ERR value is not a valid float"},
			{"INCRBYFLOAT k 1e5000", "-ERR value is not a valid float"},
			{"INCRBYFLOAT k 1e-5000", "-ERR value is not a valid float"},
			{"INCRBYFLOAT k 1e99999999999999999999", "-ERR value is not a valid float"},
			{"INCRBYFLOAT k 0e99999999999999999999", "1"},
			{"INCRBYFLOAT k inf", "-ERR increment would produce NaN or Infinity"},
			{"INCRBYFLOAT k -Infinity", "-ERR increment would produce NaN or Infinity"},
			{"INCRBYFLOAT k 1.2e4932", "-ERR value is not a valid float"},
			{"GET k", "1"},
			{"SET f 1e4932", "OK"},
			{"INCRBYFLOAT f 1e4932", "-ERR increment would produce NaN or Infinity"},
			{"INCRBYFLOAT f -1e4932", "0"},
			{"SET f 0x1p-16445", "OK"},
			{"INCRBYFLOAT f 1", "1"},
			{"SET k abc", "OK"},
			{"INCRBYFLOAT k 1", "-ERR value is not a valid float"},
			{"SET k inf", "OK"},
			{"INCRBYFLOAT k 1", "-ERR increment would produce NaN or Infinity"},
			{"INCRBYFLOAT k x", "-ERR value is not a valid float"},
			{"INCRBYFLOAT n x", "-ERR value is not a valid float"},
			{"EXISTS n", ":0"},
		}},
	})
}

// TestStringsVersions checks Tair versions through EXGET: 1 on creation, +1
// on every change.
func TestStringsVersions(t *testing.T) {
	c := dial(t, newTestServer(t))
	steps := []struct {
		cmd string
		ver int64 // EXGET's version after cmd; 0: key gone
	}{
		{"SET k v", 1}, {"SET k v", 2}, {"APPEND k x", 3}, {"SETRANGE k 0 y", 4},
		{"GETEX k EX 100", 5}, {"GETEX k", 5}, {"GETEX k PERSIST", 6}, {"GETEX k PERSIST", 6},
		{"EXPIRE k 100", 7}, {"EXPIRE k 200 LT", 7}, {"PERSIST k", 8}, {"PERSIST k", 8},
		{"SET k 1 NX", 8}, {"SET k 1 XX", 9}, {"INCR k", 10}, {"INCRBYFLOAT k 1", 11},
		{"GETSET k 2", 12}, {"MSET k 3", 13}, {"SET k 3 GET KEEPTTL", 14}, {"TOUCH k", 14},
		{"GETDEL k", 0}, {"INCR k", 1}, {"DEL k", 0}, {"MSETNX k 1", 1},
	}
	for _, st := range steps {
		if err := c.Do(ctx, strArgs(st.cmd)...).Err(); err != nil && !errors.Is(err, redis.Nil) {
			t.Fatalf("%s: %v", st.cmd, err)
		}
		r, err := c.Do(ctx, "EXGET", "k").Slice()
		switch {
		case st.ver == 0 && errors.Is(err, redis.Nil):
		case err != nil:
			t.Fatalf("after %s: EXGET: %v", st.cmd, err)
		case st.ver == 0 || len(r) != 2 || r[1] != st.ver:
			t.Errorf("after %s: EXGET = %v, want version %d", st.cmd, r, st.ver)
		}
	}
}

// strNode starts a data server and returns a context that runs commands on it
// directly through Dispatch, writing replies to w.
func strNode(t testing.TB, w io.Writer) *command.Ctx {
	ds, err := dataserver.Start(ctx, dataserver.Options{Listen: "127.0.0.1:0", Standalone: true,
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ds.Close() })
	node := ds.Node()
	return &command.Ctx{W: resp.NewWriter(w), S: &command.Session{Authed: true, Proto: 2}, N: node, NS: node.Namespaces.Get(0)}
}

func strArgv(s ...string) [][]byte {
	out := make([][]byte, len(s))
	for i, a := range s {
		out[i] = []byte(a)
	}
	return out
}

func BenchmarkStringsGet(b *testing.B) {
	c := strNode(b, io.Discard)
	set := strArgv("SET", "key:000001", strings.Repeat("v", 100))
	get := strArgv("GET", "key:000001")
	c.Args = set
	command.Dispatch(c)
	b.ReportAllocs()
	for b.Loop() {
		c.Args = get
		command.Dispatch(c)
		if c.W.Buffered() > 32<<10 {
			c.W.Flush()
		}
	}
}

func BenchmarkStringsSet(b *testing.B) {
	c := strNode(b, io.Discard)
	set := strArgv("SET", "key:000001", strings.Repeat("v", 100))
	b.ReportAllocs()
	for b.Loop() {
		c.Args = set
		command.Dispatch(c)
		if c.W.Buffered() > 32<<10 {
			c.W.Flush()
		}
	}
}

func BenchmarkStringsIncr(b *testing.B) {
	c := strNode(b, io.Discard)
	incr := strArgv("INCR", "counter")
	b.ReportAllocs()
	for b.Loop() {
		c.Args = incr
		command.Dispatch(c)
		if c.W.Buffered() > 32<<10 {
			c.W.Flush()
		}
	}
}

// TestStringsRESP3 checks the reply types over RESP3.
func TestStringsRESP3(t *testing.T) {
	c := dial3(t, newTestServer(t))
	for _, st := range []strStep{
		{"GET k", "(nil)"},
		{"SET k v GET", "(nil)"},
		{"SET k v NX", "(nil)"},
		{"MGET k n", "[v (nil)]"},
		{"INCRBYFLOAT f 1.5", "1.5"},
		{"TYPE k", "string"},
		{"SCAN 0 MATCH k", "[0 [k]]"},
		{"GETDEL n", "(nil)"},
	} {
		strCheck(t, c, 0, st)
	}
}
