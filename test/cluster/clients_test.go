//go:build e2e

package cluster

import (
	"context"
	"errors"
	"fmt"
	"granary/test/clientreply"
	"os/exec"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/redis/rueidis"

	"granary/internal/routing"
)

// Stock cluster clients given nothing but a config server's RESP address:
// they learn the data servers from its CLUSTER SLOTS and talk to them
// directly. go-redis' ClusterClient and rueidis' cluster client (without
// client-side caching) each run a command list over RESP2 and RESP3 whose
// keys spread over every data server (multi-key commands share a hash tag),
// then SCAN every master. redis-cli -c and redis-benchmark --cluster are run
// against the config server's port and a data server's.

// gdo runs a command through a client's generic API; key says args[1] is a key.
type gdo func(ctx context.Context, key bool, args ...string) (any, error)

// check is an expectation on a result: "" when it holds, else what was wanted.
type check func(v any, err error) string

func is(want string) check {
	return func(v any, err error) string {
		if clientreply.Render(v, err) != want {
			return "want " + want
		}
		return ""
	}
}

func str(s string) check { return is(strconv.Quote(s)) }
func num(n int64) check  { return is(":" + strconv.FormatInt(n, 10)) }

func strs(ss ...string) check {
	q := make([]string, len(ss))
	for i, s := range ss {
		q[i] = strconv.Quote(s)
	}
	return is("[" + strings.Join(q, ", ") + "]")
}

func numIn(lo, hi int64) check {
	return func(v any, err error) string {
		if n, ok := v.(int64); err != nil || !ok || n < lo || n > hi {
			return fmt.Sprintf("want an integer in [%d, %d]", lo, hi)
		}
		return ""
	}
}

// errPrefix expects an error reply starting with prefix ("ERR " optional:
// rueidis drops it).
func errPrefix(prefix string) check {
	return func(v any, err error) string {
		if err == nil || errors.Is(err, redis.Nil) || rueidis.IsRedisNil(err) ||
			!strings.HasPrefix(strings.TrimPrefix(err.Error(), "ERR "), strings.TrimPrefix(prefix, "ERR ")) {
			return "want an error starting with " + strconv.Quote(prefix)
		}
		return ""
	}
}

// pairs expects field/value pairs: a flat array (RESP2) or a map (RESP3).
func pairs(kv ...string) check {
	want := map[string]string{}
	for i := 0; i+1 < len(kv); i += 2 {
		want[kv[i]] = kv[i+1]
	}
	return func(v any, err error) string {
		got := map[string]string{}
		switch x := v.(type) {
		case []any:
			for i := 0; i+1 < len(x); i += 2 {
				k, _ := x[i].(string)
				got[k], _ = x[i+1].(string)
			}
		case map[any]any:
			for k, e := range x {
				ks, _ := k.(string)
				got[ks], _ = e.(string)
			}
		case map[string]any:
			for k, e := range x {
				got[k], _ = e.(string)
			}
		}
		if err != nil || fmt.Sprint(got) != fmt.Sprint(want) {
			return fmt.Sprintf("want pairs %v", want)
		}
		return ""
	}
}

func matches(re string) check {
	rx := regexp.MustCompile(re)
	return func(v any, err error) string {
		if s, ok := v.(string); err != nil || !ok || !rx.MatchString(s) {
			return "want a string matching " + re
		}
		return ""
	}
}

type step struct {
	key   bool          // args[1] is a key (routes rueidis' cluster client)
	args  []string      //
	want  check         //
	sleep time.Duration // wait this long before the command
}

func kc(want check, args ...string) step { return step{key: true, args: args, want: want} }
func nc(want check, args ...string) step { return step{args: args, want: want} }

// commandList is what every client runs: p prefixes single keys (they spread
// over every data server), tg multi-key commands' keys (one hash tag).
func commandList(p, tg string) []step {
	future := time.Now().Unix() + 100000
	return []step{
		// strings
		kc(str("OK"), "SET", p+"s", "v"),
		kc(str("v"), "GET", p+"s"),
		kc(is("nil"), "SET", p+"s", "w", "NX"),
		kc(str("v"), "SET", p+"s", "w", "XX", "GET"),
		kc(str("w"), "GETSET", p+"s", "x"),
		kc(str("x"), "GETDEL", p+"s"),
		kc(is("nil"), "GET", p+"s"),
		kc(num(1), "SETNX", p+"n", "v"),
		kc(num(0), "SETNX", p+"n", "v"),
		kc(num(5), "APPEND", p+"ap", "hello"),
		kc(num(11), "APPEND", p+"ap", " world"),
		kc(num(11), "STRLEN", p+"ap"),
		kc(str("hello"), "GETRANGE", p+"ap", "0", "4"),
		kc(num(11), "SETRANGE", p+"ap", "6", "WORLD"),
		kc(str("hello WORLD"), "GET", p+"ap"),
		kc(str("string"), "TYPE", p+"ap"),
		// counters
		kc(num(1), "INCR", p+"i"),
		kc(num(11), "INCRBY", p+"i", "10"),
		kc(num(10), "DECR", p+"i"),
		kc(num(7), "DECRBY", p+"i", "3"),
		kc(str("1.5"), "INCRBYFLOAT", p+"f", "1.5"),
		kc(errPrefix("ERR value is not an integer"), "INCR", p+"ap"),
		// expiry
		kc(str("OK"), "SET", p+"t", "v", "EX", "100"),
		kc(numIn(98, 100), "TTL", p+"t"),
		kc(num(1), "PEXPIRE", p+"t", "50000"),
		kc(numIn(48000, 50000), "PTTL", p+"t"),
		kc(num(1), "EXPIREAT", p+"t", strconv.FormatInt(future, 10)),
		kc(num(future), "EXPIRETIME", p+"t"),
		kc(num(1), "PERSIST", p+"t"),
		kc(num(-1), "TTL", p+"t"),
		kc(num(-2), "TTL", p+"missing"),
		kc(num(1), "EXPIRE", p+"t", "100"),
		kc(num(1), "PEXPIREAT", p+"t", strconv.FormatInt(future*1000, 10)),
		kc(num(future*1000), "PEXPIRETIME", p+"t"),
		kc(num(1), "PERSIST", p+"t"),
		kc(str("OK"), "SETEX", p+"e", "100", "v"),
		kc(str("v"), "GETEX", p+"e", "PERSIST"),
		kc(num(-1), "TTL", p+"e"),
		kc(str("OK"), "PSETEX", p+"short", "200", "v"),
		kc(str("v"), "GET", p+"short"),
		{key: true, args: []string{"GET", p + "short"}, want: is("nil"), sleep: 400 * time.Millisecond},
		kc(num(0), "EXISTS", p+"short"),
		// TairString
		kc(str("OK"), "EXSET", p+"x", "v"),
		kc(is(`["v", :1]`), "EXGET", p+"x"),
		kc(str("OK"), "EXSET", p+"x", "w", "VER", "1"),
		kc(errPrefix("ERR update version is stale"), "EXSET", p+"x", "z", "VER", "1"),
		kc(num(1), "EXSETVER", p+"x", "10"),
		kc(is(`["w", :10]`), "EXGET", p+"x"),
		kc(num(5), "EXINCRBY", p+"xc", "5", "MAX", "10"),
		kc(errPrefix("ERR increment or decrement would overflow"), "EXINCRBY", p+"xc", "6", "MAX", "10"),
		kc(str("1.5"), "EXINCRBYFLOAT", p+"xf", "1.5"),
		kc(is(`["OK", "", :11]`), "EXCAS", p+"x", "n", "10"),
		kc(num(1), "EXCAD", p+"x", "11"),
		kc(is("nil"), "GET", p+"x"),
		// hashes
		kc(num(3), "HSET", p+"h", "a", "1", "b", "2", "c", "3"),
		kc(str("hash"), "TYPE", p+"h"),
		kc(str("1"), "HGET", p+"h", "a"),
		kc(is(`["1", nil]`), "HMGET", p+"h", "a", "z"),
		kc(num(3), "HLEN", p+"h"),
		kc(num(1), "HEXISTS", p+"h", "a"),
		kc(num(0), "HSETNX", p+"h", "a", "9"),
		kc(num(5), "HINCRBY", p+"h", "n", "5"),
		kc(pairs("a", "1", "b", "2", "c", "3", "n", "5"), "HGETALL", p+"h"),
		kc(num(1), "HDEL", p+"h", "n"),
		kc(str("OK"), "HMSET", p+"h2", "x", "10", "y", "hello"),
		kc(num(5), "HSTRLEN", p+"h2", "y"),
		kc(str("10.5"), "HINCRBYFLOAT", p+"h2", "x", "0.5"),
		kc(strs("x", "y"), "HKEYS", p+"h2"),
		kc(strs("10.5", "hello"), "HVALS", p+"h2"),
		kc(is(`["0", ["x", "10.5", "y", "hello"]]`), "HSCAN", p+"h2", "0"),
		kc(strs("a", "1", "b", "2", "c", "3"), "HRANGEBYLEX", p+"h", "-", "+"),
		kc(strs("b", "c"), "HRANGEBYLEX", p+"h", "[b", "+", "NOVALUES"),
		kc(strs("b", "2"), "HRANGEBYLEX", p+"h", "-", "+", "LIMIT", "1", "1"),
		kc(strs("a", "1"), "HRANGEBYLEX", p+"h", "-", "(b"),
		kc(strs("c", "b", "a"), "HREVRANGEBYLEX", p+"h", "+", "-", "NOVALUES"),
		kc(errPrefix("WRONGTYPE"), "GET", p+"h"),
		// multi-key commands in one slot
		kc(str("OK"), "MSET", tg+"a", "1", tg+"b", "2", tg+"c", "3"),
		kc(is(`["1", "2", "3", nil]`), "MGET", tg+"a", tg+"b", tg+"c", tg+"missing"),
		kc(num(3), "EXISTS", tg+"a", tg+"b", tg+"c", tg+"missing"),
		kc(num(0), "MSETNX", tg+"a", "9", tg+"d", "4"),
		kc(num(2), "DEL", tg+"a", tg+"b", tg+"missing"),
		kc(is(`[nil, nil, "3"]`), "MGET", tg+"a", tg+"b", tg+"c"),
		kc(num(1), "TOUCH", tg+"c", tg+"missing"),
		kc(num(1), "UNLINK", tg+"c", tg+"missing"),
		// keyless
		nc(str("PONG"), "PING"),
		nc(str("hi"), "ECHO", "hi"),
		nc(num(12182), "CLUSTER", "KEYSLOT", "foo"),
		nc(matches(`cluster_state:ok`), "CLUSTER", "INFO"),
	}
}

// runCommands runs the command list through do.
func runCommands(t *testing.T, do gdo, p, tg string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	for _, st := range commandList(p, tg) {
		if st.sleep > 0 {
			time.Sleep(st.sleep)
		}
		v, err := do(ctx, st.key, st.args...)
		if msg := st.want(v, err); msg != "" {
			t.Errorf("%s: got %s, %s", strings.Join(st.args, " "), clientreply.Render(v, err), msg)
		}
	}
}

// scanKeys writes n keys p+"scan:"+i through do and returns them.
func scanKeys(t *testing.T, do gdo, p string, n int) map[string]bool {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	want := map[string]bool{}
	for i := 0; i < n; i++ {
		k := p + "scan:" + strconv.Itoa(i)
		if v, err := do(ctx, true, "SET", k, "v"); clientreply.Render(v, err) != `"OK"` {
			t.Fatalf("SET %s: %s", k, clientreply.Render(v, err))
		}
		want[k] = true
	}
	return want
}

// checkScan compares what SCAN on each master returned (keys by master
// address) with the keys written, and checks that each master returned only
// keys of its own slots.
func checkScan(t *testing.T, got map[string][]string, want map[string]bool, owners [routing.Buckets]string, masters int) {
	t.Helper()
	if len(got) != masters {
		t.Errorf("SCAN ran on %d masters, want %d", len(got), masters)
	}
	seen := map[string]bool{}
	for addr, keys := range got {
		for _, k := range keys {
			if o := owners[routing.Bucket([]byte(k))]; o != addr {
				t.Errorf("SCAN on %s returned %s, whose slot belongs to %s", addr, k, o)
			}
			if !want[k] {
				t.Errorf("SCAN on %s returned %s, never written", addr, k)
			}
			seen[k] = true
		}
	}
	if len(seen) != len(want) {
		var missing []string
		for k := range want {
			if !seen[k] {
				missing = append(missing, k)
			}
		}
		sort.Strings(missing)
		t.Errorf("SCAN over every master found %d of %d keys; missing %d, e.g. %q", len(seen), len(want), len(missing), missing[:min(5, len(missing))])
	}
}

func TestClientsThroughConfigServer(t *testing.T) {
	c := startCluster(t, clusterOpts{configs: 1, data: 3, autoAdd: true})
	cfg := c.cfg[0]
	owners, err := slotOwners(cfg.resp)
	if err != nil {
		t.Fatalf("CLUSTER SLOTS on the config server: %v", err)
	}
	dataAddrs := map[string]bool{}
	for _, ds := range c.data {
		dataAddrs[ds.addr] = true
	}
	primaries := map[string]int{}
	for _, a := range owners {
		primaries[a]++
	}
	for a, n := range primaries {
		if !dataAddrs[a] {
			t.Errorf("config server's CLUSTER SLOTS gives %d slots to %q, not a data server", n, a)
		}
	}
	if len(primaries) != 3 {
		t.Errorf("config server's CLUSTER SLOTS: primaries %v, want the 3 data servers", primaries)
	}
	t.Logf("primary slots per data server: %v", primaries)

	run := 0
	prefixes := func() (string, string) {
		run++
		return "cl" + strconv.Itoa(run) + ":", "{cl" + strconv.Itoa(run) + "}:"
	}

	for _, proto := range []int{2, 3} {
		t.Run(fmt.Sprintf("go-redis/RESP%d", proto), func(t *testing.T) {
			cc := redis.NewClusterClient(&redis.ClusterOptions{Addrs: []string{cfg.resp}, Protocol: proto, TLSConfig: clientTLS(),
				DialTimeout: 5 * time.Second, ReadTimeout: 10 * time.Second, WriteTimeout: 10 * time.Second})
			defer cc.Close()
			do := func(ctx context.Context, _ bool, args ...string) (any, error) {
				a := make([]any, len(args))
				for i, s := range args {
					a[i] = s
				}
				return cc.Do(ctx, a...).Result()
			}
			p, tg := prefixes()
			runCommands(t, do, p, tg)
			want := scanKeys(t, do, p, 300)

			ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
			defer cancel()
			var mu sync.Mutex
			got := map[string][]string{}
			err := cc.ForEachMaster(ctx, func(ctx context.Context, m *redis.Client) error {
				var keys []string
				it := m.Scan(ctx, 0, p+"scan:*", 50).Iterator()
				for it.Next(ctx) {
					keys = append(keys, it.Val())
				}
				mu.Lock()
				got[m.Options().Addr] = keys
				mu.Unlock()
				return it.Err()
			})
			if err != nil {
				t.Errorf("ForEachMaster SCAN: %v", err)
			}
			for a := range got {
				if !dataAddrs[a] {
					t.Errorf("go-redis ClusterClient counts %s, not a data server, as a master", a)
				}
			}
			checkScan(t, got, want, owners, 3)
		})
	}

	for _, resp2 := range []bool{false, true} {
		name := "rueidis/RESP3"
		if resp2 {
			name = "rueidis/RESP2"
		}
		t.Run(name, func(t *testing.T) {
			rc, err := rueidis.NewClient(rueidis.ClientOption{InitAddress: []string{cfg.resp}, AlwaysRESP2: resp2, TLSConfig: clientTLS(),
				DisableCache: true, ConnWriteTimeout: 10 * time.Second})
			if err != nil {
				t.Fatalf("rueidis.NewClient: %v", err)
			}
			defer rc.Close()
			nodes := rc.Nodes()
			for a := range nodes {
				if !dataAddrs[a] {
					t.Errorf("rueidis connects to %s, not a data server", a)
				}
			}
			do := func(ctx context.Context, key bool, args ...string) (any, error) {
				var cmd rueidis.Completed
				if key {
					cmd = rc.B().Arbitrary(args[0]).Keys(args[1]).Args(args[2:]...).Build()
				} else {
					cmd = rc.B().Arbitrary(args...).Build()
				}
				return rc.Do(ctx, cmd).ToAny()
			}
			p, tg := prefixes()
			runCommands(t, do, p, tg)
			want := scanKeys(t, do, p, 300)

			ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
			defer cancel()
			got := map[string][]string{}
			for a, n := range rc.Nodes() {
				if primaries[a] == 0 {
					continue // a replica only
				}
				var keys []string
				cursor := uint64(0)
				for i := 0; ; i++ {
					e, err := n.Do(ctx, n.B().Scan().Cursor(cursor).Match(p+"scan:*").Count(50).Build()).AsScanEntry()
					if err != nil {
						t.Errorf("SCAN on %s: %v", a, err)
						break
					}
					keys = append(keys, e.Elements...)
					if cursor = e.Cursor; cursor == 0 || i > 10000 {
						break
					}
				}
				got[a] = keys
			}
			checkScan(t, got, want, owners, 3)
		})
	}

	t.Run("redis-cli", func(t *testing.T) {
		port := strconv.Itoa(cfg.respPort())
		for i := 0; i < 8; i++ { // keys on every data server, most redirected
			k := "cli:" + strconv.Itoa(i)
			if out := redisCLI(t, "-c", "-p", port, "set", k, "v"+strconv.Itoa(i)); out != "OK" {
				t.Errorf("redis-cli -c -p %s set %s: %q, want OK", port, k, out)
			}
			if out := redisCLI(t, "-c", "-p", port, "get", k); out != "v"+strconv.Itoa(i) {
				t.Errorf("redis-cli -c -p %s get %s: %q, want v%d", port, k, out, i)
			}
		}
	})

	t.Run("redis-benchmark", func(t *testing.T) {
		targets := []struct{ name, addr string }{{"config server", cfg.resp}, {"data server", c.data[1].addr}}
		for _, tg := range targets {
			_, port, _ := strings.Cut(tg.addr, ":")
			ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
			args := append([]string{"--cluster", "-h", "127.0.0.1", "-p", port,
				"-t", "set,get", "-n", "20000", "-c", "20", "-q", "--csv"}, redisToolTLSArgs()...)
			cmd := exec.CommandContext(ctx, "redis-benchmark", args...)
			out, err := cmd.CombinedOutput()
			cancel()
			s := string(out)
			if err != nil || strings.Contains(strings.ToLower(s), "error") || !strings.Contains(s, `"SET"`) || !strings.Contains(s, `"GET"`) {
				t.Errorf("redis-benchmark --cluster -p %s (%s): %v\n%s", port, tg.name, err, s)
				continue
			}
			t.Logf("redis-benchmark --cluster against the %s:\n%s", tg.name, strings.TrimSpace(s))
		}
	})
}

// respPort is the config server's RESP port.
func (cs *configServer) respPort() int {
	_, p, _ := strings.Cut(cs.resp, ":")
	n, _ := strconv.Atoi(p)
	return n
}

// redisCLI runs redis-cli and returns its trimmed output.
func redisCLI(t *testing.T, args ...string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, "redis-cli", append(redisToolTLSArgs(), args...)...).CombinedOutput()
	if err != nil {
		t.Errorf("redis-cli %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return strings.TrimSpace(string(out))
}
