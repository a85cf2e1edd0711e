//go:build e2e

package e2e

import (
	"fmt"
	"math/rand/v2"
	"os"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"
)

// TestDifferentialRandom runs a long pseudo-random mix of string, key and
// hash commands over a few keys (so types collide and WRONGTYPE, overflow and
// expiry paths are hit) against both servers, pipelined in batches, and
// compares every reply; after each batch it compares the whole keyspace
// (keys, types, values, TTLs). E2E_SEED=n replays a run.
//
// Expiry times are unique per operation and far in the future (or in the
// past), so GT/LT decisions never depend on which millisecond a server ran a
// command in.
func TestDifferentialRandom(t *testing.T) {
	seed := uint64(time.Now().UnixNano())
	if s := os.Getenv("E2E_SEED"); s != "" {
		n, err := strconv.ParseUint(s, 10, 64)
		if err != nil {
			t.Fatalf("E2E_SEED: %v", err)
		}
		seed = n
	}
	t.Logf("seed %d (rerun with E2E_SEED=%d)", seed, seed)
	rs := startRedis(t)
	gs := startGranary(t, granaryOpts{})
	rc, gc := dialRaw(t, rs.addr), dialRaw(t, gs.addr)
	for _, c := range []*rconn{rc, gc} {
		if r := c.MustDo(t, "FLUSHALL"); r.isErr() {
			t.Fatalf("FLUSHALL: %s", r)
		}
	}
	gen := &opGen{rng: rand.New(rand.NewPCG(seed, 7)), now: time.Now().Unix()}
	const batches, perBatch = 40, 500
	var history []step
	failures := 0
	for b := 0; b < batches && failures < 10; b++ {
		ops := make([]step, perBatch)
		for i := range ops {
			ops[i] = gen.next()
		}
		want := pipeline(t, rc, ops)
		got := pipeline(t, gc, ops)
		for i, st := range ops {
			history = append(history, st)
			w, g := renderMode(want[i], st), renderMode(got[i], st)
			if verbose {
				t.Logf("%d: %s -> %s | %s", len(history)-1, fmtArgs(st.args), clipStr(w), clipStr(g))
			}
			if w == g || st.mode == cmpTol && withinTol(want[i], got[i], st.tol) {
				continue
			}
			failures++
			t.Errorf("op %d: %s\n\tredis:   %s\n\tgranary: %s\n\tearlier commands on its key:\n%s",
				len(history)-1, fmtArgs(st.args), clipStr(w), clipStr(g), keyHistory(history, st))
			if failures >= 10 {
				break
			}
		}
		if failures == 0 {
			if d := compareKeyspace(t, rc, gc); d != "" {
				t.Errorf("after %d operations the keyspaces differ:\n%s", len(history), d)
				failures++
			}
		}
	}
	t.Logf("%d operations compared", len(history))
}

// pipeline sends every op and reads every reply.
func pipeline(t *testing.T, c *rconn, ops []step) []reply {
	t.Helper()
	var buf []byte
	for _, st := range ops {
		buf = encode(buf, st.args...)
	}
	if err := c.Write(buf); err != nil {
		t.Fatalf("pipeline write: %v", err)
	}
	out := make([]reply, len(ops))
	for i := range ops {
		r, err := c.Read()
		if err != nil {
			t.Fatalf("pipeline read, op %d (%s): %v", i, fmtArgs(ops[i].args), err)
		}
		out[i] = r
	}
	return out
}

// renderMode renders a reply for comparison in a step's mode.
func renderMode(r reply, st step) string {
	switch st.mode {
	case cmpUnordered:
		if r.kind == '*' {
			r.kind = '~'
		}
	case cmpPairs:
		if r.kind == '*' && len(r.elems)%2 == 0 {
			r.kind = '%'
		}
	}
	return r.String()
}

// keyHistory lists the earlier commands that named st's key (or all
// multi-key ones), the last 15.
func keyHistory(h []step, st step) string {
	if len(st.args) < 2 {
		return ""
	}
	key := st.args[1]
	var lines []string
	for i, s := range h[:len(h)-1] {
		for _, a := range s.args[1:] {
			if a == key {
				lines = append(lines, fmt.Sprintf("\t\t%d: %s", i, fmtArgs(s.args)))
				break
			}
		}
	}
	if len(lines) > 15 {
		lines = lines[len(lines)-15:]
	}
	return strings.Join(lines, "\n")
}

// compareKeyspace compares every key's type, value and TTL.
func compareKeyspace(t *testing.T, rc, gc *rconn) string {
	t.Helper()
	dump := func(c *rconn) (map[string]string, map[string]reply) {
		keys, err := scanKeys(c, []string{"SCAN", "0", "COUNT", "100"})
		if err != nil {
			t.Fatalf("SCAN: %v", err)
		}
		vals := map[string]string{}
		ttls := map[string]reply{}
		for _, k := range keys {
			typ := c.MustDo(t, "TYPE", k)
			v := typ.String()
			switch typ.str {
			case "string":
				v += " " + c.MustDo(t, "GET", k).String()
			case "hash":
				r := c.MustDo(t, "HGETALL", k)
				v += " " + renderMode(r, step{mode: cmpPairs})
			}
			vals[k] = v
			ttls[k] = c.MustDo(t, "PTTL", k)
		}
		return vals, ttls
	}
	rv, rt := dump(rc)
	gv, gt := dump(gc)
	var diffs []string
	keys := map[string]bool{}
	for k := range rv {
		keys[k] = true
	}
	for k := range gv {
		keys[k] = true
	}
	sorted := make([]string, 0, len(keys))
	for k := range keys {
		sorted = append(sorted, k)
	}
	sort.Strings(sorted)
	for _, k := range sorted {
		if rv[k] != gv[k] {
			diffs = append(diffs, fmt.Sprintf("\t%q: redis %s, granary %s", k, clipStr(orNone(rv[k])), clipStr(orNone(gv[k]))))
		} else if rt[k].String() != gt[k].String() && !withinTol(rt[k], gt[k], 1500) {
			diffs = append(diffs, fmt.Sprintf("\t%q: PTTL redis %s, granary %s", k, rt[k], gt[k]))
		}
	}
	return strings.Join(diffs, "\n")
}

func orNone(s string) string {
	if s == "" {
		return "(no key)"
	}
	return s
}

// opGen generates random commands.
type opGen struct {
	rng *rand.Rand
	now int64 // Unix seconds at the start
	n   int   // operations generated
}

func (g *opGen) pick(ss ...string) string { return ss[g.rng.IntN(len(ss))] }

func (g *opGen) key() string   { return "k" + strconv.Itoa(g.rng.IntN(8)) }
func (g *opGen) field() string { return "f" + strconv.Itoa(g.rng.IntN(5)) }

func (g *opGen) value() string {
	switch g.rng.IntN(10) {
	case 0:
		return ""
	case 1:
		return g.pick(maxI64, minI64, "9223372036854775806", "-9223372036854775807")
	case 2:
		return g.pick("1.5", "-0.25", "1e3", "3.0", "abc", " 1", "0x10", "inf")
	case 3:
		return strings.Repeat("x", g.rng.IntN(300))
	default:
		return strconv.Itoa(g.rng.IntN(200) - 100)
	}
}

func (g *opGen) incr() string {
	switch g.rng.IntN(8) {
	case 0:
		return g.pick(maxI64, minI64, "abc", "1.5", "")
	default:
		return strconv.Itoa(g.rng.IntN(2000) - 1000)
	}
}

func (g *opGen) float() string {
	return g.pick("0.1", "1.5", "-2.25", "1e3", "3", "-0.5", "1e-3", "abc", "inf", "5.0e3", "-1e2", "0")
}

// rel returns a relative expiry in seconds unique to this operation.
func (g *opGen) rel() int64 { return 1000 + int64(g.n)*3 }

// abs returns an absolute expiry in seconds, far beyond any rel, unique to
// this operation, or in the past.
func (g *opGen) abs() int64 {
	if g.rng.IntN(5) == 0 {
		return 1 + int64(g.rng.IntN(1000))
	}
	return g.now + 1000000 + int64(g.n)*3
}

// expiryOpt returns a random SET/GETEX expiry option (possibly none).
func (g *opGen) expiryOpt(keepTTL bool) []string {
	switch g.rng.IntN(8) {
	case 0:
		return []string{"EX", strconv.FormatInt(g.rel(), 10)}
	case 1:
		return []string{"PX", strconv.FormatInt(g.rel()*1000+int64(g.rng.IntN(1000)), 10)}
	case 2:
		return []string{"EXAT", strconv.FormatInt(g.abs(), 10)}
	case 3:
		return []string{"PXAT", strconv.FormatInt(g.abs()*1000+int64(g.rng.IntN(1000)), 10)}
	case 4:
		if keepTTL {
			return []string{"KEEPTTL"}
		}
		return []string{"PERSIST"}
	case 5:
		return []string{"EX", g.pick("0", "-1", "abc")}
	}
	return nil
}

func (g *opGen) next() step {
	g.n++
	k := g.key()
	x := func(args ...string) step { return step{args: args} }
	switch g.rng.IntN(46) {
	case 0, 1, 2:
		args := []string{"SET", k, g.value()}
		args = append(args, g.expiryOpt(true)...)
		if g.rng.IntN(3) == 0 {
			args = append(args, g.pick("NX", "XX"))
		}
		if g.rng.IntN(3) == 0 {
			args = append(args, "GET")
		}
		return x(args...)
	case 3, 4:
		return x("GET", k)
	case 5:
		return x("SETNX", k, g.value())
	case 6:
		return x(g.pick("SETEX", "PSETEX"), k, strconv.FormatInt(g.rel()*1000, 10), g.value())
	case 7:
		return x("GETSET", k, g.value())
	case 8:
		return x("GETDEL", k)
	case 9:
		return x(append([]string{"GETEX", k}, g.expiryOpt(false)...)...)
	case 10:
		return x("MGET", k, g.key(), g.key())
	case 11:
		return x("MSET", k, g.value(), g.key(), g.value())
	case 12:
		return x("MSETNX", k, g.value(), g.key(), g.value())
	case 13:
		return x("APPEND", k, g.value())
	case 14:
		return x("STRLEN", k)
	case 15:
		return x("GETRANGE", k, strconv.Itoa(g.rng.IntN(30)-15), strconv.Itoa(g.rng.IntN(30)-15))
	case 16:
		return x("SETRANGE", k, strconv.Itoa(g.rng.IntN(40)-2), g.pick("", "a", "xyz", "12"))
	case 17:
		return x(g.pick("INCR", "DECR"), k)
	case 18, 19:
		return x(g.pick("INCRBY", "DECRBY"), k, g.incr())
	case 20:
		return x("INCRBYFLOAT", k, g.float())
	case 21:
		return x(g.pick("DEL", "UNLINK"), k, g.key())
	case 22:
		return x(g.pick("EXISTS", "TOUCH"), k, g.key(), k)
	case 23:
		return x("TYPE", k)
	case 24, 25:
		cmd := g.pick("EXPIRE", "PEXPIRE", "EXPIREAT", "PEXPIREAT")
		var v int64
		switch cmd {
		case "EXPIRE":
			v = g.rel()
		case "PEXPIRE":
			v = g.rel() * 1000
		case "EXPIREAT":
			v = g.abs()
		case "PEXPIREAT":
			v = g.abs() * 1000
		}
		if g.rng.IntN(8) == 0 {
			v = -v
		}
		args := []string{cmd, k, strconv.FormatInt(v, 10)}
		if g.rng.IntN(2) == 0 {
			args = append(args, g.pick("NX", "XX", "GT", "LT"))
		}
		return x(args...)
	case 26:
		return x("PERSIST", k)
	case 27:
		return step{args: []string{"TTL", k}, mode: cmpTol, tol: 1}
	case 28:
		return step{args: []string{"PTTL", k}, mode: cmpTol, tol: 1500}
	case 29:
		return step{args: []string{g.pick("EXPIRETIME", "PEXPIRETIME"), k}, mode: cmpTol, tol: 1500}
	case 30, 31, 32:
		args := []string{"HSET", k}
		for n := 1 + g.rng.IntN(3); n > 0; n-- {
			args = append(args, g.field(), g.value())
		}
		return x(args...)
	case 33, 34:
		return x("HGET", k, g.field())
	case 35:
		return x("HMGET", k, g.field(), g.field())
	case 36:
		return x("HDEL", k, g.field(), g.field())
	case 37:
		return step{args: []string{"HGETALL", k}, mode: cmpPairs}
	case 38:
		return step{args: []string{g.pick("HKEYS", "HVALS"), k}, mode: cmpUnordered}
	case 39:
		return x("HLEN", k)
	case 40:
		return x("HEXISTS", k, g.field())
	case 41:
		return x("HINCRBY", k, g.field(), g.incr())
	case 42:
		return x("HINCRBYFLOAT", k, g.field(), g.float())
	case 43:
		return x("HSETNX", k, g.field(), g.value())
	default:
		// (No DBSIZE: Redis counts keys whose time has passed until
		// something touches them, so it differs legitimately.)
		return x("GET", k)
	}
}
