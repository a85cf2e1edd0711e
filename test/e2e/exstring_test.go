//go:build e2e

package e2e

import (
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"
)

// TairString (EXSET EXGET EXSETVER EXINCRBY EXINCRBYFLOAT EXCAS EXCAD) has no
// Redis counterpart, so these are assertion tables against the semantics of
// Alibaba's TairString (alibaba/TairString, help.aliyun.com "exString"):
//
//   - every string key has a version: 1 when created, +1 on every write
//     (SET included: Granary has one string type with versions, so EXGET
//     works on a key written by SET and GET on one written by EXSET);
//   - VER v: the write happens only when v is the current version (VER 0: no
//     check), else "ERR update version is stale"; ABS v sets the version to v;
//   - EXCAS key value ver: ["OK", "", newver] on success,
//     ["ERR update version is stale", curvalue, curver] on a version mismatch
//     (an array of strings, not an error reply, so clients can read the
//     current value), -1 when the key is missing;
//   - EXCAD key ver: 1 deleted, 0 version mismatch, -1 missing;
//   - EXINCRBY/EXINCRBYFLOAT MIN/MAX: a result outside the bounds is refused
//     with "ERR increment or decrement would overflow"; NONEGATIVE turns a
//     negative result into 0.
//
// Where TairString's exact error text is not what a client relies on (bad
// numbers, syntax), only the "ERR" prefix is checked.

// expect checks a reply; it returns "" when the reply is right.
type expect func(r reply) string

// is expects exactly r (canonical rendering).
func is(r reply) expect {
	return func(got reply) string {
		if got.String() != r.String() {
			return "want " + r.String()
		}
		return ""
	}
}

// isErr expects an error reply starting with prefix.
func isErr(prefix string) expect {
	return func(got reply) string {
		if !got.isErr() || !strings.HasPrefix(got.str, prefix) {
			return "want an error starting with " + strconv.Quote(prefix)
		}
		return ""
	}
}

// isNil expects a null (RESP2 $-1 or *-1).
func isNil() expect {
	return func(got reply) string {
		if (got.kind == '$' || got.kind == '*') && got.null || got.kind == '_' {
			return ""
		}
		return "want nil"
	}
}

// isStr expects a string reply (simple or bulk) equal to s.
func isStr(s string) expect {
	return func(got reply) string {
		if (got.kind == '+' || got.kind == '$' && !got.null) && got.str == s {
			return ""
		}
		return "want the string " + strconv.Quote(s)
	}
}

// isArr expects an array whose elements meet es.
func isArr(es ...expect) expect {
	return func(got reply) string {
		if got.kind != '*' || got.null || len(got.elems) != len(es) {
			return fmt.Sprintf("want an array of %d", len(es))
		}
		for i, e := range es {
			if msg := e(got.elems[i]); msg != "" {
				return fmt.Sprintf("element %d: %s", i, msg)
			}
		}
		return ""
	}
}

// isInt expects the integer n.
func isInt(n int64) expect { return is(integer(n)) }

// exGet expects EXGET's [value, version].
func exGet(v string, ver int64) expect { return isArr(isStr(v), isInt(ver)) }

// isTTL expects an integer in [lo, hi].
func isTTL(lo, hi int64) expect {
	return func(got reply) string {
		if got.kind != ':' || got.num < lo || got.num > hi {
			return fmt.Sprintf("want an integer in [%d, %d]", lo, hi)
		}
		return ""
	}
}

type exStep struct {
	args []string
	want expect
}

func ex(want expect, args ...string) exStep { return exStep{args: args, want: want} }

func TestTairString(t *testing.T) {
	if targetIsRedis {
		t.Skip("E2E_TARGET=redis: Redis has no TairString commands")
	}
	g := startGranary(t, granaryOpts{})
	ok := is(simple("OK"))
	stale := isErr("ERR update version is stale")
	overflow := isErr("ERR increment or decrement would overflow")
	wrongType := is(errReply("WRONGTYPE Operation against a key holding the wrong kind of value"))
	syntax := isErr("ERR")
	future := strconv.FormatInt(time.Now().Unix()+100000, 10)
	futureMs := strconv.FormatInt(time.Now().Unix()*1000+100000123, 10)

	groups := []struct {
		name  string
		steps []exStep
	}{
		{"exset exget versions", []exStep{
			ex(isNil(), "EXGET", "k"),
			ex(ok, "EXSET", "k", "v1"),
			ex(exGet("v1", 1), "EXGET", "k"),
			ex(ok, "EXSET", "k", "v2"),
			ex(exGet("v2", 2), "EXGET", "k"),
			ex(ok, "EXSET", "k", "v3"),
			ex(exGet("v3", 3), "EXGET", "k"),
			ex(is(bulk("v3")), "GET", "k"),
			ex(is(simple("string")), "TYPE", "k"),
			ex(isInt(1), "EXISTS", "k"),
			ex(ok, "EXSET", "k", ""),
			ex(exGet("", 4), "EXGET", "k"),
			ex(ok, "EXSET", "bin", "a\x00b\r\n"),
			ex(exGet("a\x00b\r\n", 1), "EXGET", "bin"),
		}},
		{"exset ver", []exStep{
			ex(ok, "EXSET", "k", "v1"),
			ex(ok, "EXSET", "k", "v2", "VER", "1"),
			ex(exGet("v2", 2), "EXGET", "k"),
			ex(stale, "EXSET", "k", "v3", "VER", "1"),
			ex(stale, "EXSET", "k", "v3", "VER", "3"),
			ex(exGet("v2", 2), "EXGET", "k"),
			ex(ok, "EXSET", "k", "v3", "VER", "0"), // version 0: no check
			ex(exGet("v3", 3), "EXGET", "k"),
			ex(ok, "EXSET", "k", "v4", "ver", "3"),
			ex(exGet("v4", 4), "EXGET", "k"),
			ex(ok, "EXSET", "new", "v", "VER", "7"), // missing key: no check, version 1
			ex(exGet("v", 1), "EXGET", "new"),
			ex(syntax, "EXSET", "k", "v", "VER", "abc"),
			ex(syntax, "EXSET", "k", "v", "VER", "-1"),
			ex(syntax, "EXSET", "k", "v", "VER", "1", "ABS", "5"),
			ex(exGet("v4", 4), "EXGET", "k"),
		}},
		{"exset abs", []exStep{
			ex(ok, "EXSET", "k", "v", "ABS", "100"),
			ex(exGet("v", 100), "EXGET", "k"),
			ex(ok, "EXSET", "k", "w"),
			ex(exGet("w", 101), "EXGET", "k"),
			ex(ok, "EXSET", "k", "x", "ABS", "5"),
			ex(exGet("x", 5), "EXGET", "k"),
			ex(stale, "EXSET", "k", "y", "VER", "101"),
			ex(ok, "EXSET", "k", "y", "VER", "5"),
			ex(exGet("y", 6), "EXGET", "k"),
			ex(syntax, "EXSET", "k", "v", "ABS", "x"),
			ex(syntax, "EXSET", "k", "v", "ABS"),
		}},
		{"exset nx xx", []exStep{
			ex(isNil(), "EXSET", "k", "v", "XX"),
			ex(isInt(0), "EXISTS", "k"),
			ex(ok, "EXSET", "k", "v", "NX"),
			ex(isNil(), "EXSET", "k", "v2", "NX"),
			ex(exGet("v", 1), "EXGET", "k"),
			ex(ok, "EXSET", "k", "v2", "XX"),
			ex(exGet("v2", 2), "EXGET", "k"),
			ex(syntax, "EXSET", "k", "v", "NX", "XX"),
			ex(ok, "EXSET", "k", "v3", "XX", "VER", "2"),
			ex(stale, "EXSET", "k", "v4", "XX", "VER", "2"),
			ex(exGet("v3", 3), "EXGET", "k"),
		}},
		{"exset expiry", []exStep{
			ex(ok, "EXSET", "k", "v", "EX", "100"),
			ex(isTTL(98, 100), "TTL", "k"),
			ex(ok, "EXSET", "k", "v", "PX", "100000"),
			ex(isTTL(98000, 100000), "PTTL", "k"),
			ex(ok, "EXSET", "k", "v", "EXAT", future),
			ex(is(integer(mustInt(future))), "EXPIRETIME", "k"),
			ex(ok, "EXSET", "k", "v", "PXAT", futureMs),
			ex(is(integer(mustInt(futureMs))), "PEXPIRETIME", "k"),
			ex(ok, "EXSET", "k", "v2", "KEEPTTL"),
			ex(is(integer(mustInt(futureMs))), "PEXPIRETIME", "k"),
			ex(exGet("v2", 5), "EXGET", "k"),
			ex(ok, "EXSET", "k", "v3"),
			ex(isInt(-1), "TTL", "k"),
			ex(syntax, "EXSET", "k", "v", "EX", "0"),
			ex(syntax, "EXSET", "k", "v", "EX", "-1"),
			ex(syntax, "EXSET", "k", "v", "EX", "abc"),
			ex(syntax, "EXSET", "k", "v", "EX"),
			ex(syntax, "EXSET", "k", "v", "EX", "10", "PX", "100"),
			ex(syntax, "EXSET", "k", "v", "EX", "10", "KEEPTTL"),
			ex(syntax, "EXSET", "k", "v", "FOO"),
			ex(exGet("v3", 6), "EXGET", "k"),
			ex(ok, "EXSET", "p", "v", "PX", "50"),
			ex(exGet("v", 1), "EXGET", "p"),
		}},
		{"one string type with versions", []exStep{
			ex(ok, "SET", "s", "v"),
			ex(exGet("v", 1), "EXGET", "s"),
			ex(ok, "SET", "s", "w"),
			ex(exGet("w", 2), "EXGET", "s"),
			ex(ok, "EXSET", "s", "x", "VER", "2"),
			ex(exGet("x", 3), "EXGET", "s"),
			ex(isInt(2), "APPEND", "s", "y"),
			ex(exGet("xy", 4), "EXGET", "s"),
			ex(ok, "SET", "n", "10"),
			ex(isInt(11), "INCR", "n"),
			ex(exGet("11", 2), "EXGET", "n"),
			ex(isInt(16), "EXINCRBY", "n", "5"),
			ex(exGet("16", 3), "EXGET", "n"),
			ex(is(bulk("16")), "GET", "n"),
			ex(isInt(1), "DEL", "s"),
			ex(isNil(), "EXGET", "s"),
			ex(ok, "SET", "s", "again"),
			ex(exGet("again", 1), "EXGET", "s"),
		}},
		{"wrong type", []exStep{
			ex(isInt(1), "HSET", "h", "f", "v"),
			ex(wrongType, "EXGET", "h"),
			ex(wrongType, "EXSET", "h", "v"),
			ex(wrongType, "EXSETVER", "h", "5"),
			ex(wrongType, "EXINCRBY", "h", "1"),
			ex(wrongType, "EXINCRBYFLOAT", "h", "1.5"),
			ex(wrongType, "EXCAS", "h", "v", "1"),
			ex(wrongType, "EXCAD", "h", "1"),
			ex(is(simple("hash")), "TYPE", "h"),
			ex(ok, "EXSET", "s", "v"),
			ex(wrongType, "HGET", "s", "f"),
			ex(wrongType, "HSET", "s", "f", "v"),
		}},
		{"exsetver", []exStep{
			ex(isInt(0), "EXSETVER", "k", "5"),
			ex(isInt(0), "EXISTS", "k"),
			ex(ok, "EXSET", "k", "v"),
			ex(isInt(1), "EXSETVER", "k", "10"),
			ex(exGet("v", 10), "EXGET", "k"),
			ex(ok, "EXSET", "k", "w"),
			ex(exGet("w", 11), "EXGET", "k"),
			ex(isErr("ERR"), "EXSETVER", "k", "0"),
			ex(isErr("ERR"), "EXSETVER", "k", "-1"),
			ex(isErr("ERR"), "EXSETVER", "k", "abc"),
			ex(exGet("w", 11), "EXGET", "k"),
			ex(stale, "EXSET", "k", "x", "VER", "10"),
			ex(ok, "EXSET", "k", "x", "VER", "11"),
		}},
		{"exincrby", []exStep{
			ex(isInt(5), "EXINCRBY", "c", "5"),
			ex(exGet("5", 1), "EXGET", "c"),
			ex(isInt(2), "EXINCRBY", "c", "-3"),
			ex(exGet("2", 2), "EXGET", "c"),
			ex(isInt(2), "EXINCRBY", "c", "0"),
			ex(is(bulk("2")), "GET", "c"),
			ex(isInt(12), "EXINCRBY", "c", "10", "VER", "3"),
			ex(stale, "EXINCRBY", "c", "1", "VER", "3"),
			ex(isInt(13), "EXINCRBY", "c", "1", "ABS", "50"),
			ex(exGet("13", 50), "EXGET", "c"),
			ex(isNil(), "EXINCRBY", "c", "1", "NX"),
			ex(isNil(), "EXINCRBY", "x", "1", "XX"),
			ex(isInt(0), "EXISTS", "x"),
			ex(isInt(1), "EXINCRBY", "x", "1", "NX"),
			ex(isInt(11), "EXINCRBY", "t", "11", "EX", "100"),
			ex(isTTL(98, 100), "TTL", "t"),
			ex(isInt(12), "EXINCRBY", "t", "1", "KEEPTTL"),
			ex(isTTL(98, 100), "TTL", "t"),
			ex(isErr("ERR"), "EXINCRBY", "c", "abc"),
			ex(isErr("ERR"), "EXINCRBY", "c", "1.5"),
			ex(isErr("ERR"), "EXINCRBY", "c", overI64),
			ex(ok, "EXSET", "s", "abc"),
			ex(isErr("ERR"), "EXINCRBY", "s", "1"),
			ex(exGet("abc", 1), "EXGET", "s"),
		}},
		{"exincrby overflow and bounds", []exStep{
			ex(ok, "EXSET", "c", maxI64),
			ex(overflow, "EXINCRBY", "c", "1"),
			ex(exGet(maxI64, 1), "EXGET", "c"),
			ex(isInt(9223372036854775806), "EXINCRBY", "c", "-1"),
			ex(ok, "EXSET", "m", minI64),
			ex(overflow, "EXINCRBY", "m", "-1"),
			ex(ok, "EXSET", "b", "5"),
			ex(isInt(10), "EXINCRBY", "b", "5", "MAX", "10"),
			ex(overflow, "EXINCRBY", "b", "1", "MAX", "10"),
			ex(exGet("10", 2), "EXGET", "b"),
			ex(isInt(0), "EXINCRBY", "b", "-10", "MIN", "0"),
			ex(overflow, "EXINCRBY", "b", "-1", "MIN", "0"),
			ex(isInt(5), "EXINCRBY", "b", "5", "MIN", "0", "MAX", "5"),
			ex(overflow, "EXINCRBY", "b", "1", "MIN", "0", "MAX", "5"),
			ex(overflow, "EXINCRBY", "b", "-6", "MIN", "0", "MAX", "5"),
			ex(exGet("5", 4), "EXGET", "b"),
			ex(isErr("ERR"), "EXINCRBY", "b", "1", "MIN", "10", "MAX", "5"),
			ex(isErr("ERR"), "EXINCRBY", "b", "1", "MIN", "abc"),
			ex(isErr("ERR"), "EXINCRBY", "b", "1", "MAX", "1.5"),
			ex(overflow, "EXINCRBY", "nb", "20", "MAX", "10"),
			ex(isInt(0), "EXISTS", "nb"),
			ex(overflow, "EXINCRBY", "nb", "-1", "MIN", "0"),
			ex(isInt(0), "EXISTS", "nb"),
		}},
		{"exincrby nonegative", []exStep{
			ex(ok, "EXSET", "c", "3"),
			ex(isInt(0), "EXINCRBY", "c", "-5", "NONEGATIVE"),
			ex(exGet("0", 2), "EXGET", "c"),
			ex(isInt(0), "EXINCRBY", "c", "-1", "NONEGATIVE"),
			ex(isInt(4), "EXINCRBY", "c", "4", "NONEGATIVE"),
			ex(isInt(-1), "EXINCRBY", "c", "-5"),
			ex(isInt(0), "EXINCRBY", "n", "-7", "NONEGATIVE"),
			ex(exGet("0", 1), "EXGET", "n"),
		}},
		{"exincrbyfloat", []exStep{
			ex(isStr("1.5"), "EXINCRBYFLOAT", "f", "1.5"),
			ex(exGet("1.5", 1), "EXGET", "f"),
			ex(isStr("1.75"), "EXINCRBYFLOAT", "f", "0.25"),
			ex(isStr("-0.25"), "EXINCRBYFLOAT", "f", "-2"),
			ex(exGet("-0.25", 3), "EXGET", "f"),
			ex(isStr("5200"), "EXINCRBYFLOAT", "g", "5.2e3"),
			ex(isStr("5200.5"), "EXINCRBYFLOAT", "g", "0.5", "MAX", "6000"),
			ex(overflow, "EXINCRBYFLOAT", "g", "1000", "MAX", "6000"),
			ex(overflow, "EXINCRBYFLOAT", "g", "-6000", "MIN", "0"),
			ex(isStr("5200.5"), "GET", "g"),
			ex(stale, "EXINCRBYFLOAT", "g", "1", "VER", "1"),
			ex(isStr("5201.5"), "EXINCRBYFLOAT", "g", "1", "VER", "2"),
			ex(exGet("5201.5", 3), "EXGET", "g"),
			ex(isStr("5202.5"), "EXINCRBYFLOAT", "g", "1", "ABS", "9"),
			ex(exGet("5202.5", 9), "EXGET", "g"),
			ex(isNil(), "EXINCRBYFLOAT", "g", "1", "NX"),
			ex(isNil(), "EXINCRBYFLOAT", "nf", "1", "XX"),
			ex(isErr("ERR"), "EXINCRBYFLOAT", "g", "abc"),
			ex(isErr("ERR"), "EXINCRBYFLOAT", "g", "inf"),
			ex(isErr("ERR"), "EXINCRBYFLOAT", "g", "nan"),
			ex(isErr("ERR"), "EXINCRBYFLOAT", "g", "1", "MIN", "x"),
			ex(isErr("ERR"), "EXINCRBYFLOAT", "g", "1", "MIN", "10", "MAX", "1"),
			ex(ok, "EXSET", "s", "abc"),
			ex(isErr("ERR"), "EXINCRBYFLOAT", "s", "1"),
			ex(isStr("3"), "EXINCRBYFLOAT", "i", "3"),
			ex(isInt(4), "EXINCRBY", "i", "1"),
			ex(isStr("11"), "EXINCRBYFLOAT", "t", "11", "EX", "100"),
			ex(isTTL(98, 100), "TTL", "t"),
		}},
		{"excas", []exStep{
			ex(isInt(-1), "EXCAS", "k", "v", "1"),
			ex(isInt(0), "EXISTS", "k"),
			ex(ok, "EXSET", "k", "v1"),
			ex(isArr(isStr("OK"), isStr(""), isInt(2)), "EXCAS", "k", "v2", "1"),
			ex(exGet("v2", 2), "EXGET", "k"),
			ex(isArr(isStr("ERR update version is stale"), isStr("v2"), isInt(2)), "EXCAS", "k", "v3", "1"),
			ex(isArr(isStr("ERR update version is stale"), isStr("v2"), isInt(2)), "EXCAS", "k", "v3", "5"),
			ex(exGet("v2", 2), "EXGET", "k"),
			ex(isArr(isStr("OK"), isStr(""), isInt(3)), "EXCAS", "k", "v3", "2"),
			ex(exGet("v3", 3), "EXGET", "k"),
			ex(isArr(isStr("OK"), isStr(""), isInt(4)), "EXCAS", "k", "v4", "3"),
			ex(is(bulk("v4")), "GET", "k"),
			ex(isErr("ERR"), "EXCAS", "k", "v", "abc"),
			ex(ok, "SET", "s", "plain"),
			ex(isArr(isStr("OK"), isStr(""), isInt(2)), "EXCAS", "s", "cas", "1"),
			ex(is(bulk("cas")), "GET", "s"),
		}},
		{"excad", []exStep{
			ex(isInt(-1), "EXCAD", "k", "1"),
			ex(ok, "EXSET", "k", "v"),
			ex(ok, "EXSET", "k", "v"),
			ex(isInt(0), "EXCAD", "k", "1"),
			ex(isInt(0), "EXCAD", "k", "3"),
			ex(isInt(1), "EXISTS", "k"),
			ex(isInt(1), "EXCAD", "k", "2"),
			ex(isInt(0), "EXISTS", "k"),
			ex(isInt(-1), "EXCAD", "k", "2"),
			ex(isErr("ERR"), "EXCAD", "k", "abc"),
			ex(ok, "SET", "s", "v"),
			ex(isInt(1), "EXCAD", "s", "1"),
			ex(isNil(), "GET", "s"),
		}},
		{"arity", []exStep{
			ex(is(errReply("ERR wrong number of arguments for 'exset' command")), "EXSET", "k"),
			ex(is(errReply("ERR wrong number of arguments for 'exget' command")), "EXGET"),
			ex(is(errReply("ERR wrong number of arguments for 'exsetver' command")), "EXSETVER", "k"),
			ex(is(errReply("ERR wrong number of arguments for 'exsetver' command")), "EXSETVER", "k", "1", "2"),
			ex(is(errReply("ERR wrong number of arguments for 'exincrby' command")), "EXINCRBY", "k"),
			ex(is(errReply("ERR wrong number of arguments for 'exincrbyfloat' command")), "EXINCRBYFLOAT", "k"),
			ex(is(errReply("ERR wrong number of arguments for 'excas' command")), "EXCAS", "k", "v"),
			ex(is(errReply("ERR wrong number of arguments for 'excad' command")), "EXCAD", "k"),
			ex(is(errReply("ERR wrong number of arguments for 'excad' command")), "EXCAD", "k", "1", "2"),
		}},
	}
	c := dialRaw(t, g.addr)
	for i, grp := range groups {
		t.Run(grp.name, func(t *testing.T) {
			// Each group runs in its own namespace, so keys never collide.
			db := strconv.Itoa(i + 1)
			if r := c.MustDo(t, "SELECT", db); r.String() != "+OK" {
				t.Fatalf("SELECT %s: %s", db, r)
			}
			for _, st := range grp.steps {
				got := c.MustDo(t, st.args...)
				if msg := st.want(got); msg != "" {
					t.Errorf("%s: got %s, %s", fmtArgs(st.args), got, msg)
				}
			}
		})
	}

	t.Run("expiry", func(t *testing.T) {
		expectReply(t, c, simple("OK"), "SELECT", "100")
		expectReply(t, c, simple("OK"), "EXSET", "p", "v", "PX", "40")
		expectReply(t, c, integer(11), "EXINCRBY", "q", "11", "PX", "40")
		time.Sleep(300 * time.Millisecond)
		for _, args := range [][]string{{"EXGET", "p"}, {"EXGET", "q"}, {"GET", "p"}} {
			if got := c.MustDo(t, args...); isNil()(got) != "" {
				t.Errorf("%s after expiry: got %s, want nil", fmtArgs(args), got)
			}
		}
		// A key recreated after expiry starts again at version 1.
		expectReply(t, c, simple("OK"), "EXSET", "p", "w")
		if got := c.MustDo(t, "EXGET", "p"); exGet("w", 1)(got) != "" {
			t.Errorf("EXGET p after re-creation: got %s, want [w, 1]", got)
		}
	})

	t.Run("resp3", func(t *testing.T) {
		c3 := dialRaw(t, g.addr)
		if r := c3.MustDo(t, "HELLO", "3"); r.kind != '%' {
			t.Fatalf("HELLO 3: %s", r)
		}
		c3.MustDo(t, "SELECT", "101")
		expectReply(t, c3, simple("OK"), "EXSET", "k", "v")
		if got := c3.MustDo(t, "EXGET", "k"); exGet("v", 1)(got) != "" {
			t.Errorf("EXGET k over RESP3: got %s", got)
		}
		if got := c3.MustDo(t, "EXGET", "nokey"); got.kind != '_' {
			t.Errorf("EXGET nokey over RESP3: got %s, want _ (RESP3 null)", got)
		}
		if got := c3.MustDo(t, "EXCAS", "k", "w", "9"); isArr(isStr("ERR update version is stale"), isStr("v"), isInt(1))(got) != "" {
			t.Errorf("EXCAS stale over RESP3: got %s", got)
		}
	})
}

func mustInt(s string) int64 {
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		panic(err)
	}
	return n
}
