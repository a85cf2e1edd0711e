//go:build e2e

package e2e

import (
	"context"
	"errors"
	"fmt"
	"granary/test/clientreply"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/redis/rueidis"
)

// Stock clients against a granary process: go-redis (plain client over
// RESP2 and RESP3, and ClusterClient given the granary's address) and
// rueidis (auto-detected cluster client and ForceSingleClient, each over
// RESP3 and RESP2). Each runs every command of DESIGN.md section 7's string,
// key, TairString, hash, connection and cluster lists through the client's
// generic command API (so the client's own reply parsing is exercised), then
// a few typed calls (maps, scans, durations, floats, pipelines).
//
// Keys share one hash tag per client so that rueidis' cluster client, which
// refuses multi-key commands across slots, accepts MSET/MGET/EXISTS.

// genericDo runs a command through a client's generic API.
type genericDo func(ctx context.Context, key bool, args ...string) (any, error)

// cexpect checks a client result; "" means right.
type cexpect func(v any, err error) string

// cis expects the canonical rendering want.
func cis(want string) cexpect {
	return func(v any, err error) string {
		if got := clientreply.Render(v, err); got != want {
			return "want " + want
		}
		return ""
	}
}

func cstr(s string) cexpect { return cis(strconv.Quote(s)) }
func cint(n int64) cexpect  { return cis(":" + strconv.FormatInt(n, 10)) }

var (
	cOK  = cstr("OK")
	cNil = cis("nil")
)

// cerr expects an error starting with prefix. rueidis drops the "ERR "
// prefix from error messages (it keeps others such as "WRONGTYPE"), so "ERR "
// is optional.
func cerr(prefix string) cexpect {
	return func(v any, err error) string {
		if err == nil || errors.Is(err, redis.Nil) || rueidis.IsRedisNil(err) ||
			!strings.HasPrefix(strings.TrimPrefix(err.Error(), "ERR "), strings.TrimPrefix(prefix, "ERR ")) {
			return "want an error starting with " + strconv.Quote(prefix)
		}
		return ""
	}
}

// cintIn expects an integer in [lo, hi].
func cintIn(lo, hi int64) cexpect {
	return func(v any, err error) string {
		n, ok := v.(int64)
		if err != nil || !ok || n < lo || n > hi {
			return fmt.Sprintf("want an integer in [%d, %d]", lo, hi)
		}
		return ""
	}
}

// cstrs expects an array of exactly these strings, in order.
func cstrs(ss ...string) cexpect {
	parts := make([]string, len(ss))
	for i, s := range ss {
		parts[i] = strconv.Quote(s)
	}
	return cis("[" + strings.Join(parts, ", ") + "]")
}

// cset expects an array (or set) holding these strings in any order.
func cset(ss ...string) cexpect {
	return func(v any, err error) string {
		arr, ok := v.([]any)
		if err != nil || !ok {
			return "want an array"
		}
		got := make([]string, 0, len(arr))
		for _, e := range arr {
			s, ok := e.(string)
			if !ok {
				return "want strings only"
			}
			got = append(got, s)
		}
		want := append([]string(nil), ss...)
		sort.Strings(got)
		sort.Strings(want)
		if strings.Join(got, "\x00") != strings.Join(want, "\x00") {
			return fmt.Sprintf("want the set %q", want)
		}
		return ""
	}
}

// cpairs expects field/value pairs: a flat array (RESP2) or a map (RESP3).
func cpairs(kv ...string) cexpect {
	want := map[string]string{}
	for i := 0; i < len(kv); i += 2 {
		want[kv[i]] = kv[i+1]
	}
	return func(v any, err error) string {
		got := map[string]string{}
		switch x := v.(type) {
		case []any:
			if len(x)%2 != 0 {
				return "want an even array"
			}
			for i := 0; i < len(x); i += 2 {
				k, ok1 := x[i].(string)
				s, ok2 := x[i+1].(string)
				if !ok1 || !ok2 {
					return "want strings"
				}
				got[k] = s
			}
		case map[any]any:
			for k, e := range x {
				ks, ok1 := k.(string)
				s, ok2 := e.(string)
				if !ok1 || !ok2 {
					return "want strings"
				}
				got[ks] = s
			}
		case map[string]any:
			for k, e := range x {
				s, ok := e.(string)
				if !ok {
					return "want strings"
				}
				got[k] = s
			}
		default:
			return "want pairs"
		}
		if fmt.Sprint(got) != fmt.Sprint(want) {
			return fmt.Sprintf("want pairs %v", want)
		}
		return ""
	}
}

// cmatch expects a string matching the regular expression re.
func cmatch(re string) cexpect {
	rx := regexp.MustCompile(re)
	return func(v any, err error) string {
		s, ok := v.(string)
		if err != nil || !ok || !rx.MatchString(s) {
			return "want a string matching " + re
		}
		return ""
	}
}

// cisInt expects any integer.
func cisInt() cexpect { return cintIn(-1<<63, 1<<63-1) }

// carr expects an array whose elements meet es.
func carr(es ...cexpect) cexpect {
	return func(v any, err error) string {
		arr, ok := v.([]any)
		if err != nil || !ok || len(arr) != len(es) {
			return fmt.Sprintf("want an array of %d", len(es))
		}
		for i, e := range es {
			if msg := e(arr[i], nil); msg != "" {
				return fmt.Sprintf("element %d: %s", i, msg)
			}
		}
		return ""
	}
}

// cfunc expects an arbitrary condition.
func cfunc(desc string, f func(v any) bool) cexpect {
	return func(v any, err error) string {
		if err != nil || !f(v) {
			return "want " + desc
		}
		return ""
	}
}

type cstep struct {
	key  bool // args[1] is a key (routes rueidis' cluster client)
	args []string
	want cexpect
}

func k(want cexpect, args ...string) cstep  { return cstep{key: true, args: args, want: want} }
func nk(want cexpect, args ...string) cstep { return cstep{args: args, want: want} }

// crc16 is Redis Cluster's CRC16-XMODEM.
func crc16(b []byte) uint16 {
	var crc uint16
	for _, c := range b {
		crc ^= uint16(c) << 8
		for i := 0; i < 8; i++ {
			if crc&0x8000 != 0 {
				crc = crc<<1 ^ 0x1021
			} else {
				crc <<= 1
			}
		}
	}
	return crc
}

func keySlot(key string) int {
	if i := strings.IndexByte(key, '{'); i >= 0 {
		if j := strings.IndexByte(key[i+1:], '}'); j > 0 {
			key = key[i+1 : i+1+j]
		}
	}
	return int(crc16([]byte(key)) % 16384)
}

// clientScenario is the command list every client runs; p is the key prefix
// (a hash tag).
func clientScenario(p string) []cstep {
	future := time.Now().Unix() + 100000
	futureS := strconv.FormatInt(future, 10)
	futureMs := strconv.FormatInt(future*1000+7, 10)
	slot := strconv.Itoa(keySlot(p))
	return []cstep{
		// strings
		k(cOK, "SET", p+"s", "v"),
		k(cstr("v"), "GET", p+"s"),
		k(cNil, "SET", p+"s", "w", "NX"),
		k(cstr("v"), "SET", p+"s", "w", "XX", "GET"),
		k(cOK, "SET", p+"t", "v", "EX", "100"),
		k(cintIn(98, 100), "TTL", p+"t"),
		k(cintIn(98000, 100000), "PTTL", p+"t"),
		k(cOK, "SET", p+"t", "v2", "KEEPTTL"),
		k(cintIn(98, 100), "TTL", p+"t"),
		k(cOK, "SET", p+"t", "v3", "PX", "100000"),
		k(cOK, "SET", p+"t", "v4", "EXAT", futureS),
		k(cOK, "SET", p+"t", "v5", "PXAT", futureMs),
		k(cint(1), "SETNX", p+"n", "v"),
		k(cint(0), "SETNX", p+"n", "v"),
		k(cOK, "SETEX", p+"e", "100", "v"),
		k(cOK, "PSETEX", p+"pe", "100000", "v"),
		k(cstr("w"), "GETSET", p+"s", "x"),
		k(cstr("x"), "GETDEL", p+"s"),
		k(cNil, "GET", p+"s"),
		k(cstr("v"), "GETEX", p+"n", "EX", "100"),
		k(cintIn(98, 100), "TTL", p+"n"),
		k(cstr("v"), "GETEX", p+"n", "PERSIST"),
		k(cint(-1), "TTL", p+"n"),
		k(cOK, "MSET", p+"a", "1", p+"b", "2"),
		k(cis(`["1", "2", nil]`), "MGET", p+"a", p+"b", p+"missing"),
		k(cint(0), "MSETNX", p+"c", "3", p+"a", "9"),
		k(cint(1), "MSETNX", p+"c", "3", p+"d", "4"),
		k(cint(5), "APPEND", p+"ap", "hello"),
		k(cint(11), "APPEND", p+"ap", " world"),
		k(cint(11), "STRLEN", p+"ap"),
		k(cstr("hello"), "GETRANGE", p+"ap", "0", "4"),
		k(cint(11), "SETRANGE", p+"ap", "6", "WORLD"),
		k(cstr("hello WORLD"), "GET", p+"ap"),
		k(cint(1), "INCR", p+"i"),
		k(cint(0), "DECR", p+"i"),
		k(cint(10), "INCRBY", p+"i", "10"),
		k(cint(7), "DECRBY", p+"i", "3"),
		k(cstr("1.5"), "INCRBYFLOAT", p+"f", "1.5"),
		k(cerr("ERR value is not an integer or out of range"), "INCR", p+"ap"),
		// keys
		k(cint(2), "EXISTS", p+"a", p+"b", p+"missing"),
		k(cint(1), "TOUCH", p+"a", p+"missing"),
		k(cstr("string"), "TYPE", p+"a"),
		k(cint(1), "EXPIRE", p+"a", "100"),
		k(cintIn(98, 100), "TTL", p+"a"),
		k(cint(1), "PEXPIRE", p+"a", "100000"),
		k(cintIn(98000, 100000), "PTTL", p+"a"),
		k(cint(1), "EXPIREAT", p+"a", futureS),
		k(cint(future), "EXPIRETIME", p+"a"),
		k(cint(1), "PEXPIREAT", p+"a", futureMs),
		k(cint(future*1000+7), "PEXPIRETIME", p+"a"),
		k(cint(0), "EXPIRE", p+"a", "50", "GT"),
		k(cint(1), "EXPIRE", p+"a", "50", "LT"),
		k(cint(1), "PERSIST", p+"a"),
		k(cint(-1), "TTL", p+"a"),
		k(cint(-2), "TTL", p+"missing"),
		k(cint(1), "DEL", p+"a", p+"missing"),
		k(cint(1), "UNLINK", p+"b"),
		// TairString
		k(cOK, "EXSET", p+"x", "v"),
		k(carr(cstr("v"), cint(1)), "EXGET", p+"x"),
		k(cOK, "EXSET", p+"x", "w", "VER", "1"),
		k(cerr("ERR update version is stale"), "EXSET", p+"x", "z", "VER", "1"),
		k(cint(1), "EXSETVER", p+"x", "10"),
		k(carr(cstr("w"), cint(10)), "EXGET", p+"x"),
		k(cint(5), "EXINCRBY", p+"xc", "5", "MAX", "10"),
		k(cerr("ERR increment or decrement would overflow"), "EXINCRBY", p+"xc", "6", "MAX", "10"),
		k(cint(0), "EXINCRBY", p+"xc", "-9", "NONEGATIVE"),
		k(cstr("1.5"), "EXINCRBYFLOAT", p+"xf", "1.5"),
		k(carr(cstr("OK"), cstr(""), cint(11)), "EXCAS", p+"x", "n", "10"),
		k(carr(cstr("ERR update version is stale"), cstr("n"), cint(11)), "EXCAS", p+"x", "m", "1"),
		k(cint(-1), "EXCAS", p+"missing", "m", "1"),
		k(cint(0), "EXCAD", p+"x", "1"),
		k(cint(1), "EXCAD", p+"x", "11"),
		k(cint(-1), "EXCAD", p+"x", "11"),
		// hashes
		k(cint(3), "HSET", p+"h", "a", "1", "b", "2", "c", "3"),
		k(cstr("hash"), "TYPE", p+"h"),
		k(cstr("1"), "HGET", p+"h", "a"),
		k(cNil, "HGET", p+"h", "z"),
		k(cis(`["1", nil]`), "HMGET", p+"h", "a", "z"),
		k(cint(3), "HLEN", p+"h"),
		k(cint(1), "HEXISTS", p+"h", "a"),
		k(cint(0), "HSETNX", p+"h", "a", "9"),
		k(cint(5), "HINCRBY", p+"h", "n", "5"),
		k(cstr("2.5"), "HINCRBYFLOAT", p+"h", "fl", "2.5"),
		k(cpairs("a", "1", "b", "2", "c", "3", "n", "5", "fl", "2.5"), "HGETALL", p+"h"),
		k(cset("a", "b", "c", "n", "fl"), "HKEYS", p+"h"),
		k(cset("1", "2", "3", "5", "2.5"), "HVALS", p+"h"),
		k(cint(2), "HDEL", p+"h", "n", "fl"),
		k(cstrs("a", "1", "b", "2", "c", "3"), "HRANGEBYLEX", p+"h", "-", "+"),
		k(cstrs("b", "c"), "HRANGEBYLEX", p+"h", "[b", "+", "NOVALUES"),
		k(cstrs("b", "2"), "HRANGEBYLEX", p+"h", "-", "+", "LIMIT", "1", "1"),
		k(cstrs("a", "1"), "HRANGEBYLEX", p+"h", "-", "(b"),
		k(cstrs("c", "b", "a"), "HREVRANGEBYLEX", p+"h", "+", "-", "NOVALUES"),
		k(cerr("WRONGTYPE"), "HGET", p+"ap", "f"),
		k(cerr("WRONGTYPE"), "GET", p+"h"),
		// connection, server, cluster
		nk(cstr("PONG"), "PING"),
		nk(cstr("hi"), "ECHO", "hi"),
		nk(cOK, "SELECT", "0"),
		nk(cintIn(1, 1<<40), "DBSIZE"),
		nk(carr(cmatch(`^[0-9]+$`), cmatch(`^[0-9]+$`)), "TIME"),
		nk(cisInt(), "CLIENT", "ID"),
		nk(cOK, "CLIENT", "SETNAME", "e2e"),
		nk(cmatch(`id=[0-9]+`), "CLIENT", "INFO"),
		nk(cmatch(`id=[0-9]+`), "CLIENT", "LIST"),
		nk(cmatch(`(?m)^redis_version:`), "INFO", "server"),
		nk(cintIn(50, 10000), "COMMAND", "COUNT"),
		nk(cfunc("maxmemory in CONFIG GET", func(v any) bool { return strings.Contains(clientreply.Render(v, nil), `"maxmemory"`) }), "CONFIG", "GET", "maxmemory"),
		nk(cOK, "READONLY"),
		nk(cOK, "READWRITE"),
		nk(cint(12182), "CLUSTER", "KEYSLOT", "foo"),
		nk(cint(int64(keySlot(p))), "CLUSTER", "KEYSLOT", p+"anything"),
		nk(cmatch(`^[0-9a-f]{40}$`), "CLUSTER", "MYID"),
		nk(cmatch(`cluster_state:ok`), "CLUSTER", "INFO"),
		nk(cfunc("one slot range 0-16383", func(v any) bool {
			arr, ok := v.([]any)
			if !ok || len(arr) != 1 {
				return false
			}
			r, ok := arr[0].([]any)
			return ok && len(r) >= 3 && clientreply.Render(r[0], nil) == ":0" && clientreply.Render(r[1], nil) == ":16383"
		}), "CLUSTER", "SLOTS"),
		nk(cfunc("one shard", func(v any) bool { arr, ok := v.([]any); return ok && len(arr) == 1 }), "CLUSTER", "SHARDS"),
		nk(cmatch(`myself,master .*0-16383`), "CLUSTER", "NODES"),
		nk(cintIn(5, 1000), "CLUSTER", "COUNTKEYSINSLOT", slot),
		nk(cfunc("keys of the slot", func(v any) bool { return strings.Contains(clientreply.Render(v, nil), strconv.Quote(p+"h")) }),
			"CLUSTER", "GETKEYSINSLOT", slot, "1000"),
	}
}

// runScenario runs clientScenario through do, then a full SCAN and HSCAN.
func runScenario(t *testing.T, do genericDo, p string) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	for _, st := range clientScenario(p) {
		v, err := do(ctx, st.key, st.args...)
		if msg := st.want(v, err); msg != "" {
			t.Errorf("%s: got %s, %s", fmtArgs(st.args), clientreply.Render(v, err), msg)
		}
	}
	// A whole SCAN MATCH p* COUNT 3 and HSCAN, through the generic API.
	scan := func(args ...string) []string {
		var out []string
		cursor := "0"
		for i := 0; i < 10000; i++ {
			a := append([]string(nil), args...)
			key := strings.EqualFold(a[0], "HSCAN")
			if key {
				a[2] = cursor
			} else {
				a[1] = cursor
			}
			v, err := do(ctx, key, a...)
			arr, ok := v.([]any)
			if err != nil || !ok || len(arr) != 2 {
				t.Errorf("%s: got %s", fmtArgs(a), clientreply.Render(v, err))
				return nil
			}
			cursor, _ = arr[0].(string)
			elems, _ := arr[1].([]any)
			for _, e := range elems {
				s, _ := e.(string)
				out = append(out, s)
			}
			if cursor == "0" {
				return out
			}
		}
		t.Errorf("%s: no end", fmtArgs(args))
		return nil
	}
	keys := scan("SCAN", "0", "MATCH", p+"*", "COUNT", "3")
	want := []string{"ap", "c", "d", "e", "f", "h", "i", "n", "pe", "t", "xc", "xf"}
	for i := range want {
		want[i] = p + want[i]
	}
	if got := uniqSorted(keys); strings.Join(got, " ") != strings.Join(want, " ") {
		t.Errorf("SCAN 0 MATCH %s* COUNT 3: got %q, want %q", p, got, want)
	}
	fields := scan("HSCAN", p+"h", "0", "COUNT", "1")
	if got := fmt.Sprint(fields); len(fields) != 6 || !strings.Contains(got, "a 1") || !strings.Contains(got, "c 3") {
		t.Errorf("HSCAN %sh: got %q, want a 1 b 2 c 3 in any order", p, fields)
	}
}

func uniqSorted(ss []string) []string {
	m := map[string]bool{}
	for _, s := range ss {
		m[s] = true
	}
	out := make([]string, 0, len(m))
	for s := range m {
		out = append(out, s)
	}
	sort.Strings(out)
	return out
}

func toAnyArgs(args []string) []any {
	out := make([]any, len(args))
	for i, a := range args {
		out[i] = a
	}
	return out
}

func TestClients(t *testing.T) {
	if targetIsRedis {
		t.Skip("E2E_TARGET=redis: the scenario uses TairString, HRANGEBYLEX and cluster commands")
	}
	g := startGranary(t, granaryOpts{})
	n := 0
	prefix := func() string { n++; return "{cl" + strconv.Itoa(n) + "}:" }

	for _, proto := range []int{2, 3} {
		t.Run(fmt.Sprintf("go-redis/RESP%d", proto), func(t *testing.T) {
			c := redis.NewClient(&redis.Options{Addr: g.addr, Protocol: proto, DialTimeout: 5 * time.Second,
				ReadTimeout: 10 * time.Second, WriteTimeout: 10 * time.Second})
			defer c.Close()
			runScenario(t, func(ctx context.Context, _ bool, args ...string) (any, error) {
				return c.Do(ctx, toAnyArgs(args)...).Result()
			}, prefix())
			goRedisTyped(t, c, prefix())
		})
		t.Run(fmt.Sprintf("go-redis-cluster/RESP%d", proto), func(t *testing.T) {
			c := redis.NewClusterClient(&redis.ClusterOptions{Addrs: []string{g.addr}, Protocol: proto,
				DialTimeout: 5 * time.Second, ReadTimeout: 10 * time.Second, WriteTimeout: 10 * time.Second})
			defer c.Close()
			runScenario(t, func(ctx context.Context, _ bool, args ...string) (any, error) {
				return c.Do(ctx, toAnyArgs(args)...).Result()
			}, prefix())
			goRedisTyped(t, c, prefix())
			ctx := context.Background()
			slots, err := c.ClusterSlots(ctx).Result()
			if err != nil || len(slots) != 1 || slots[0].Start != 0 || slots[0].End != 16383 || len(slots[0].Nodes) == 0 ||
				slots[0].Nodes[0].Addr != g.addr {
				t.Errorf("ClusterSlots: %+v, %v; want one range 0-16383 on %s", slots, err, g.addr)
			}
			shards := 0
			if err := c.ForEachShard(ctx, func(ctx context.Context, s *redis.Client) error {
				shards++
				return s.Ping(ctx).Err()
			}); err != nil || shards != 1 {
				t.Errorf("ForEachShard: %d shards, %v", shards, err)
			}
		})
	}

	for _, v := range []struct {
		name string
		opt  rueidis.ClientOption
	}{
		{"rueidis/RESP3", rueidis.ClientOption{}},
		{"rueidis/RESP2", rueidis.ClientOption{AlwaysRESP2: true}},
		{"rueidis-single/RESP3", rueidis.ClientOption{ForceSingleClient: true}},
		{"rueidis-single/RESP2", rueidis.ClientOption{ForceSingleClient: true, AlwaysRESP2: true}},
	} {
		t.Run(v.name, func(t *testing.T) {
			opt := v.opt
			opt.InitAddress = []string{g.addr}
			opt.DisableCache = true
			opt.ConnWriteTimeout = 10 * time.Second
			c, err := rueidis.NewClient(opt)
			if err != nil {
				t.Fatalf("rueidis.NewClient: %v", err)
			}
			defer c.Close()
			if nodes := c.Nodes(); len(nodes) != 1 {
				t.Errorf("rueidis sees %d nodes, want 1", len(nodes))
			}
			runScenario(t, func(ctx context.Context, key bool, args ...string) (any, error) {
				var cmd rueidis.Completed
				if key {
					cmd = c.B().Arbitrary(args[0]).Keys(args[1]).Args(args[2:]...).Build()
				} else {
					cmd = c.B().Arbitrary(args...).Build()
				}
				return c.Do(ctx, cmd).ToAny()
			}, prefix())
			rueidisTyped(t, c, prefix())
		})
	}
}

// goRedisClient is what go-redis' Client and ClusterClient have in common.
type goRedisClient interface {
	redis.Cmdable
	Do(ctx context.Context, args ...any) *redis.Cmd
}

// goRedisTyped checks go-redis' typed API (the same code for the plain and
// the cluster client).
func goRedisTyped(t *testing.T, c goRedisClient, p string) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	check := func(what string, err error, ok bool, got ...any) {
		t.Helper()
		if err != nil || !ok {
			t.Errorf("%s: got %v, err %v", what, got, err)
		}
	}
	err := c.Set(ctx, p+"k", "v", time.Minute).Err()
	check("Set", err, true)
	d, err := c.TTL(ctx, p+"k").Result()
	check("TTL", err, d > 58*time.Second && d <= time.Minute, d)
	old, err := c.SetArgs(ctx, p+"k", "v2", redis.SetArgs{KeepTTL: true, Get: true}).Result()
	check("SetArgs KEEPTTL GET", err, old == "v", old)
	s, err := c.Get(ctx, p+"k").Result()
	check("Get", err, s == "v2", s)
	_, err = c.Get(ctx, p+"nokey").Result()
	check("Get missing is redis.Nil", nil, errors.Is(err, redis.Nil), err)
	ok, err := c.SetNX(ctx, p+"k", "x", 0).Result()
	check("SetNX", err, !ok, ok)
	s, err = c.GetEx(ctx, p+"k", 30*time.Second).Result()
	check("GetEx", err, s == "v2", s)
	ok, err = c.ExpireGT(ctx, p+"k", time.Hour).Result()
	check("ExpireGT", err, ok, ok)
	ok, err = c.ExpireNX(ctx, p+"k", time.Hour).Result()
	check("ExpireNX", err, !ok, ok)
	tm, err := c.ExpireTime(ctx, p+"k").Result()
	check("ExpireTime", err, tm > time.Duration(time.Now().Unix()+3500)*time.Second, tm)
	f, err := c.IncrByFloat(ctx, p+"f", 2.5).Result()
	check("IncrByFloat", err, f == 2.5, f)
	n, err := c.IncrBy(ctx, p+"i", 41).Result()
	check("IncrBy", err, n == 41, n)
	err = c.MSet(ctx, p+"m1", "a", p+"m2", "b").Err()
	check("MSet", err, true)
	vals, err := c.MGet(ctx, p+"m1", p+"m2", p+"nokey").Result()
	check("MGet", err, len(vals) == 3 && vals[0] == "a" && vals[1] == "b" && vals[2] == nil, vals)
	n, err = c.Exists(ctx, p+"m1", p+"m2", p+"nokey").Result()
	check("Exists", err, n == 2, n)
	typ, err := c.Type(ctx, p+"m1").Result()
	check("Type", err, typ == "string", typ)

	n, err = c.HSet(ctx, p+"h", map[string]any{"a": "1", "b": "2", "c": "3"}).Result()
	check("HSet map", err, n == 3, n)
	m, err := c.HGetAll(ctx, p+"h").Result()
	check("HGetAll", err, len(m) == 3 && m["a"] == "1" && m["b"] == "2" && m["c"] == "3", m)
	keys, err := c.HKeys(ctx, p+"h").Result()
	check("HKeys", err, len(keys) == 3, keys)
	hv, err := c.HMGet(ctx, p+"h", "a", "nofield").Result()
	check("HMGet", err, len(hv) == 2 && hv[0] == "1" && hv[1] == nil, hv)
	hf, err := c.HIncrByFloat(ctx, p+"h", "fl", 0.5).Result()
	check("HIncrByFloat", err, hf == 0.5, hf)
	ok, err = c.HExists(ctx, p+"h", "fl").Result()
	check("HExists", err, ok, ok)
	var hfields []string
	it := c.HScan(ctx, p+"h", 0, "", 1).Iterator()
	for it.Next(ctx) {
		hfields = append(hfields, it.Val())
	}
	check("HScan iterator", it.Err(), len(hfields) == 8, hfields)
	rng, err := c.Do(ctx, "HRANGEBYLEX", p+"h", "[b", "[c").StringSlice()
	check("HRANGEBYLEX", err, strings.Join(rng, ",") == "b,2,c,3", rng)

	var scanned []string
	sit := c.Scan(ctx, 0, p+"*", 2).Iterator()
	for sit.Next(ctx) {
		scanned = append(scanned, sit.Val())
	}
	want := []string{p + "f", p + "h", p + "i", p + "k", p + "m1", p + "m2"}
	check("Scan iterator", sit.Err(), strings.Join(uniqSorted(scanned), " ") == strings.Join(want, " "), scanned)
	var typed []string
	if cc, ok := c.(*redis.Client); ok {
		tit := cc.ScanType(ctx, 0, p+"*", 100, "hash").Iterator()
		for tit.Next(ctx) {
			typed = append(typed, tit.Val())
		}
		check("ScanType hash", tit.Err(), len(typed) == 1 && typed[0] == p+"h", typed)
	}

	ex, err := c.Do(ctx, "EXSET", p+"x", "v").Result()
	check("EXSET", err, ex == "OK", ex)
	exg, err := c.Do(ctx, "EXGET", p+"x").Slice()
	check("EXGET", err, len(exg) == 2 && exg[0] == "v" && exg[1] == int64(1), exg)

	pipe := c.Pipeline()
	var gets []*redis.StringCmd
	for i := 0; i < 100; i++ {
		pipe.Set(ctx, p+"pl"+strconv.Itoa(i), i, 0)
		gets = append(gets, pipe.Get(ctx, p+"pl"+strconv.Itoa(i)))
	}
	_, err = pipe.Exec(ctx)
	check("Pipeline Exec", err, true)
	for i, g := range gets {
		if g.Val() != strconv.Itoa(i) {
			t.Errorf("pipelined GET %d: %q, %v", i, g.Val(), g.Err())
			break
		}
	}
	n, err = c.Del(ctx, p+"k", p+"m1", p+"nokey").Result()
	check("Del", err, n == 2, n)
}

// rueidisTyped checks rueidis' command builder and typed results.
func rueidisTyped(t *testing.T, c rueidis.Client, p string) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	check := func(what string, err error, ok bool, got ...any) {
		t.Helper()
		if err != nil || !ok {
			t.Errorf("%s: got %v, err %v", what, got, err)
		}
	}
	err := c.Do(ctx, c.B().Set().Key(p+"k").Value("v").ExSeconds(100).Build()).Error()
	check("SET EX", err, true)
	s, err := c.Do(ctx, c.B().Get().Key(p+"k").Build()).ToString()
	check("GET", err, s == "v", s)
	_, err = c.Do(ctx, c.B().Get().Key(p+"nokey").Build()).ToString()
	check("GET missing is nil", nil, rueidis.IsRedisNil(err), err)
	ttl, err := c.Do(ctx, c.B().Ttl().Key(p+"k").Build()).AsInt64()
	check("TTL", err, ttl >= 98 && ttl <= 100, ttl)
	f, err := c.Do(ctx, c.B().Incrbyfloat().Key(p+"f").Increment(1.25).Build()).AsFloat64()
	check("INCRBYFLOAT", err, f == 1.25, f)
	err = c.Do(ctx, c.B().Hset().Key(p+"h").FieldValue().FieldValue("a", "1").FieldValue("b", "2").Build()).Error()
	check("HSET", err, true)
	m, err := c.Do(ctx, c.B().Hgetall().Key(p+"h").Build()).AsStrMap()
	check("HGETALL", err, len(m) == 2 && m["a"] == "1" && m["b"] == "2", m)
	hv, err := c.Do(ctx, c.B().Hincrbyfloat().Key(p+"h").Field("c").Increment(0.5).Build()).AsFloat64()
	check("HINCRBYFLOAT", err, hv == 0.5, hv)
	n, err := c.Do(ctx, c.B().Exists().Key(p+"k", p+"h", p+"nokey").Build()).AsInt64()
	check("EXISTS", err, n == 2, n)
	exg, err := c.Do(ctx, c.B().Arbitrary("EXSET").Keys(p+"x").Args("v", "ABS", "7").Build()).ToString()
	check("EXSET ABS", err, exg == "OK", exg)
	arr, err := c.Do(ctx, c.B().Arbitrary("EXGET").Keys(p+"x").Build()).ToArray()
	if err == nil && len(arr) == 2 {
		v, _ := arr[0].ToString()
		ver, _ := arr[1].AsInt64()
		check("EXGET", nil, v == "v" && ver == 7, v, ver)
	} else {
		check("EXGET", err, false, arr)
	}

	cmds := make(rueidis.Commands, 0, 200)
	for i := 0; i < 100; i++ {
		cmds = append(cmds, c.B().Set().Key(p+"pl"+strconv.Itoa(i)).Value(strconv.Itoa(i)).Build())
		cmds = append(cmds, c.B().Get().Key(p+"pl"+strconv.Itoa(i)).Build())
	}
	for i, r := range c.DoMulti(ctx, cmds...) {
		if i%2 == 1 {
			if s, err := r.ToString(); err != nil || s != strconv.Itoa(i/2) {
				t.Errorf("DoMulti GET %d: %q, %v", i/2, s, err)
				break
			}
		}
	}

	var keys []string
	var cursor uint64
	for i := 0; i < 1000; i++ {
		e, err := c.Do(ctx, c.B().Scan().Cursor(cursor).Match(p+"*").Count(7).Build()).AsScanEntry()
		if err != nil {
			t.Errorf("SCAN: %v", err)
			break
		}
		keys = append(keys, e.Elements...)
		if cursor = e.Cursor; cursor == 0 {
			break
		}
	}
	if got := uniqSorted(keys); len(got) != 104 {
		t.Errorf("SCAN MATCH %s*: %d keys, want 104", p, len(got))
	}
}

// TestClientsAuth: stock clients log in to a granary started with
// --requirepass (go-redis with AUTH over RESP2 and HELLO 3 AUTH over RESP3,
// rueidis likewise) and are refused with a wrong password.
func TestClientsAuth(t *testing.T) {
	const pass = "s3cret"
	g := startGranary(t, granaryOpts{RequirePass: pass})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for _, proto := range []int{2, 3} {
		for _, pw := range []string{pass, "wrong"} {
			c := redis.NewClient(&redis.Options{Addr: g.addr, Protocol: proto, Password: pw, MaxRetries: -1})
			err := c.Set(ctx, "k", "v", 0).Err()
			if pw == pass && err != nil {
				t.Errorf("go-redis RESP%d with the password: SET: %v", proto, err)
			}
			if pw != pass && (err == nil || !strings.Contains(err.Error(), "WRONGPASS")) {
				t.Errorf("go-redis RESP%d with a wrong password: SET: %v, want WRONGPASS", proto, err)
			}
			c.Close()
		}
		if targetIsRedis {
			continue // a standalone redis-server is no cluster
		}
		c := redis.NewClusterClient(&redis.ClusterOptions{Addrs: []string{g.addr}, Protocol: proto, Password: pass})
		if s, err := c.Get(ctx, "k").Result(); err != nil || s != "v" {
			t.Errorf("go-redis ClusterClient RESP%d with the password: GET: %q, %v", proto, s, err)
		}
		c.Close()
	}
	for _, resp2 := range []bool{false, true} {
		for _, pw := range []string{pass, "wrong"} {
			c, err := rueidis.NewClient(rueidis.ClientOption{InitAddress: []string{g.addr}, Password: pw, AlwaysRESP2: resp2, DisableCache: true})
			if pw != pass {
				if err == nil || !strings.Contains(err.Error(), "WRONGPASS") {
					t.Errorf("rueidis (RESP2 %v) with a wrong password: %v, want WRONGPASS", resp2, err)
				}
				if c != nil {
					c.Close()
				}
				continue
			}
			if err != nil {
				t.Errorf("rueidis (RESP2 %v) with the password: %v", resp2, err)
				continue
			}
			if s, err := c.Do(ctx, c.B().Get().Key("k").Build()).ToString(); err != nil || s != "v" {
				t.Errorf("rueidis (RESP2 %v) with the password: GET: %q, %v", resp2, s, err)
			}
			c.Close()
		}
	}
}

// TestClientsNamespaces: the namespace a client selects with its DB option
// (SELECT on connect, DESIGN.md section 7: namespaces 0..65535) isolates its
// keys, with go-redis and rueidis.
func TestClientsNamespaces(t *testing.T) {
	if targetIsRedis {
		t.Skip("E2E_TARGET=redis: Redis has 16 databases")
	}
	g := startGranary(t, granaryOpts{})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for _, db := range []int{0, 7, 100, 65535} {
		c := redis.NewClient(&redis.Options{Addr: g.addr, DB: db, Protocol: 3})
		if err := c.Set(ctx, "ns", strconv.Itoa(db), 0).Err(); err != nil {
			t.Errorf("go-redis DB %d: SET: %v", db, err)
		}
		c.Close()
	}
	for _, db := range []int{0, 7, 100, 65535} {
		c, err := rueidis.NewClient(rueidis.ClientOption{InitAddress: []string{g.addr}, SelectDB: db, ForceSingleClient: true, DisableCache: true})
		if err != nil {
			t.Errorf("rueidis SelectDB %d: %v", db, err)
			continue
		}
		s, err := c.Do(ctx, c.B().Get().Key("ns").Build()).ToString()
		if err != nil || s != strconv.Itoa(db) {
			t.Errorf("rueidis SelectDB %d: GET ns: %q, %v; want %d", db, s, err, db)
		}
		n, err := c.Do(ctx, c.B().Dbsize().Build()).AsInt64()
		if err != nil || n != 1 {
			t.Errorf("rueidis SelectDB %d: DBSIZE: %d, %v; want 1", db, n, err)
		}
		c.Close()
	}
}
