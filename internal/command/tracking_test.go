package command_test

import (
	"errors"
	"fmt"
	"net"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"granary/internal/command"
	"granary/internal/dataserver"
	"granary/internal/resp"
)

// Client-side caching: CLIENT TRACKING and its delivery, over raw
// connections so that the push messages and their order are visible.

// show renders a reply with its type, compactly: ">[invalidate *[k]]",
// "+OK", "-ERR ...", ":1", "_", "$nil", and bulk strings bare.
func show(v resp.Value) string {
	switch v.Kind {
	case '+':
		return "+" + string(v.Str)
	case '-':
		return "-" + string(v.Str)
	case ':':
		return ":" + strconv.FormatInt(v.Int, 10)
	case '_':
		return "_"
	case '*', '>', '~', '%':
		if v.Null {
			return "*nil"
		}
		parts := make([]string, len(v.Elems))
		for i, e := range v.Elems {
			parts[i] = show(e)
		}
		return string(v.Kind) + "[" + strings.Join(parts, " ") + "]"
	}
	if v.Null {
		return "$nil"
	}
	return string(v.Str)
}

// inv is the RESP3 push invalidating keys (none: every key).
func inv(keys ...string) string {
	if len(keys) == 0 {
		return ">[invalidate _]"
	}
	return ">[invalidate *[" + strings.Join(keys, " ") + "]]"
}

// msg is the RESP2 message a subscriber gets for keys (none: every key).
func msg(keys ...string) string {
	if len(keys) == 0 {
		return "*[message __redis__:invalidate $nil]"
	}
	return "*[message __redis__:invalidate *[" + strings.Join(keys, " ") + "]]"
}

// tryRead reads one reply if one arrives within d.
func (r *rawConn) tryRead(d time.Duration) (resp.Value, bool) {
	r.t.Helper()
	if err := r.bw.Flush(); err != nil {
		r.t.Fatalf("write: %v", err)
	}
	r.nc.SetReadDeadline(time.Now().Add(d))
	v, err := r.rd.ReadReply()
	if err != nil {
		var ne net.Error
		if errors.As(err, &ne) && ne.Timeout() {
			return resp.Value{}, false
		}
		r.t.Fatalf("read reply: %v", err)
	}
	return v, true
}

// expect reads one reply (a push, when nothing was sent) and checks it.
func (r *rawConn) expect(want string) {
	r.t.Helper()
	if got := show(r.Read()); got != want {
		r.t.Fatalf("got %s, want %s", got, want)
	}
}

// expectDo runs a command and checks its reply.
func (r *rawConn) expectDo(want string, args ...string) {
	r.t.Helper()
	if got := show(r.Do(args...)); got != want {
		r.t.Fatalf("%q: got %s, want %s", args, got, want)
	}
}

// expectNothing checks that nothing arrives for a while.
func (r *rawConn) expectNothing() {
	r.t.Helper()
	if v, ok := r.tryRead(150 * time.Millisecond); ok {
		r.t.Fatalf("unexpected %s", show(v))
	}
}

// expectKeys reads len(keys) invalidations, in any order.
func (r *rawConn) expectKeys(keys ...string) {
	r.t.Helper()
	var got []string
	for range keys {
		v := r.Read()
		if v.Kind != '>' || len(v.Elems) != 2 || len(v.Elems[1].Elems) != 1 {
			r.t.Fatalf("got %s, want an invalidation of one key", show(v))
		}
		got = append(got, string(v.Elems[1].Elems[0].Str))
	}
	sort.Strings(got)
	sort.Strings(keys)
	if strings.Join(got, " ") != strings.Join(keys, " ") {
		r.t.Fatalf("invalidated %q, want %q", got, keys)
	}
}

// tracker opens a RESP3 connection with CLIENT TRACKING ON and the options
// given.
func tracker(t *testing.T, addr string, opts ...string) *rawConn {
	t.Helper()
	c := dialRaw(t, addr)
	c.Do("HELLO", "3")
	c.expectDo("+OK", append([]string{"CLIENT", "TRACKING", "ON"}, opts...)...)
	return c
}

func clientID(t *testing.T, c *rawConn) string {
	t.Helper()
	return strconv.FormatInt(c.Do("CLIENT", "ID").Int, 10)
}

func TestTrackingOptions(t *testing.T) {
	addr := newTestServer(t)
	other := dialRaw(t, addr)
	otherID := clientID(t, other)
	for _, tc := range []struct {
		setup [][]string
		args  []string
		want  string
	}{
		{nil, []string{"CLIENT", "TRACKING", "ON"}, "+OK"},
		{nil, []string{"CLIENT", "TRACKING", "off"}, "+OK"},
		{nil, []string{"CLIENT", "TRACKING", "ON", "REDIRECT", otherID, "NOLOOP", "OPTIN"}, "+OK"},
		{nil, []string{"CLIENT", "TRACKING", "ON", "BCAST", "PREFIX", "a", "PREFIX", "b"}, "+OK"},
		{nil, []string{"CLIENT", "TRACKING"}, "-ERR wrong number of arguments for 'client|tracking' command"},
		{nil, []string{"CLIENT", "TRACKING", "MAYBE"}, "-ERR syntax error"},
		{nil, []string{"CLIENT", "TRACKING", "ON", "FOO"}, "-ERR syntax error"},
		{nil, []string{"CLIENT", "TRACKING", "ON", "REDIRECT"}, "-ERR syntax error"},
		{nil, []string{"CLIENT", "TRACKING", "ON", "PREFIX", "a"}, "-ERR PREFIX option requires BCAST mode to be enabled"},
		{nil, []string{"CLIENT", "TRACKING", "ON", "OPTIN", "OPTOUT"}, "-ERR You can't specify both OPTIN mode and OPTOUT mode"},
		{nil, []string{"CLIENT", "TRACKING", "ON", "BCAST", "OPTIN"}, "-ERR OPTIN and OPTOUT are not compatible with BCAST"},
		{nil, []string{"CLIENT", "TRACKING", "ON", "BCAST", "OPTOUT"}, "-ERR OPTIN and OPTOUT are not compatible with BCAST"},
		{nil, []string{"CLIENT", "TRACKING", "ON", "REDIRECT", "999999"}, "-ERR The client ID you want redirect to does not exist"},
		{nil, []string{"CLIENT", "TRACKING", "ON", "REDIRECT", "x"}, "-ERR value is not an integer or out of range"},
		{nil, []string{"CLIENT", "TRACKING", "ON", "REDIRECT", otherID, "REDIRECT", otherID}, "-ERR A client can only redirect to a single other client"},
		{nil, []string{"CLIENT", "TRACKING", "ON", "BCAST", "PREFIX", "ab", "PREFIX", "a"},
			"-ERR Prefix 'ab' overlaps with another provided prefix 'a'. Prefixes for a single client must not overlap."},
		{[][]string{{"CLIENT", "TRACKING", "ON", "BCAST", "PREFIX", "user:"}}, []string{"CLIENT", "TRACKING", "ON", "BCAST", "PREFIX", "user:1"},
			"-ERR Prefix 'user:1' overlaps with an existing prefix 'user:'. Prefixes for a single client must not overlap."},
		{[][]string{{"CLIENT", "TRACKING", "ON", "OPTIN"}}, []string{"CLIENT", "TRACKING", "ON", "OPTOUT"},
			"-ERR You can't switch OPTIN/OPTOUT mode before disabling tracking for this client, and then re-enabling it with a different mode."},
		{[][]string{{"CLIENT", "TRACKING", "ON", "OPTIN"}}, []string{"CLIENT", "TRACKING", "ON", "BCAST"},
			"-ERR You can't switch BCAST mode on/off before disabling tracking for this client, and then re-enabling it with a different mode."},
		{[][]string{{"CLIENT", "TRACKING", "ON", "BCAST"}}, []string{"CLIENT", "TRACKING", "ON"},
			"-ERR You can't switch BCAST mode on/off before disabling tracking for this client, and then re-enabling it with a different mode."},
		{[][]string{{"CLIENT", "TRACKING", "ON"}}, []string{"CLIENT", "TRACKING", "ON", "OPTOUT"}, "+OK"},
		{[][]string{{"CLIENT", "TRACKING", "ON", "OPTIN"}, {"CLIENT", "TRACKING", "OFF"}}, []string{"CLIENT", "TRACKING", "ON", "OPTOUT"}, "+OK"},
		// CLIENT CACHING
		{nil, []string{"CLIENT", "CACHING", "YES"}, "-ERR CLIENT CACHING can be called only when the client is in tracking mode with OPTIN or OPTOUT mode enabled"},
		{nil, []string{"CLIENT", "CACHING", "maybe"}, "-ERR CLIENT CACHING can be called only when the client is in tracking mode with OPTIN or OPTOUT mode enabled"},
		{nil, []string{"CLIENT", "CACHING"}, "-ERR wrong number of arguments for 'client|caching' command"},
		{[][]string{{"CLIENT", "TRACKING", "ON"}}, []string{"CLIENT", "CACHING", "YES"}, "-ERR CLIENT CACHING YES is only valid when tracking is enabled in OPTIN mode."},
		{[][]string{{"CLIENT", "TRACKING", "ON", "OPTIN"}}, []string{"CLIENT", "CACHING", "NO"}, "-ERR CLIENT CACHING NO is only valid when tracking is enabled in OPTOUT mode."},
		{[][]string{{"CLIENT", "TRACKING", "ON", "OPTIN"}}, []string{"CLIENT", "CACHING", "maybe"}, "-ERR syntax error"},
		{[][]string{{"CLIENT", "TRACKING", "ON", "OPTIN"}}, []string{"CLIENT", "CACHING", "yes"}, "+OK"},
		{[][]string{{"CLIENT", "TRACKING", "ON", "OPTOUT"}}, []string{"CLIENT", "CACHING", "NO"}, "+OK"},
		// GETREDIR
		{nil, []string{"CLIENT", "GETREDIR"}, ":-1"},
		{[][]string{{"CLIENT", "TRACKING", "ON"}}, []string{"CLIENT", "GETREDIR"}, ":0"},
		{[][]string{{"CLIENT", "TRACKING", "ON", "REDIRECT", otherID}}, []string{"CLIENT", "GETREDIR"}, ":" + otherID},
		{[][]string{{"CLIENT", "TRACKING", "ON", "REDIRECT", otherID}, {"CLIENT", "TRACKING", "OFF"}}, []string{"CLIENT", "GETREDIR"}, ":-1"},
		// TRACKINGINFO (RESP3: a map with a set of flags)
		{nil, []string{"CLIENT", "TRACKINGINFO"}, "%[flags ~[off] redirect :-1 prefixes *[]]"},
		{[][]string{{"CLIENT", "TRACKING", "ON", "OPTIN", "NOLOOP"}, {"CLIENT", "CACHING", "YES"}}, []string{"CLIENT", "TRACKINGINFO"},
			"%[flags ~[on optin caching-yes noloop] redirect :0 prefixes *[]]"},
		{[][]string{{"CLIENT", "TRACKING", "ON", "OPTOUT", "REDIRECT", otherID}}, []string{"CLIENT", "TRACKINGINFO"},
			"%[flags ~[on optout] redirect :" + otherID + " prefixes *[]]"},
		{[][]string{{"CLIENT", "TRACKING", "ON", "BCAST", "PREFIX", "b", "PREFIX", "a"}, {"CLIENT", "TRACKING", "ON", "BCAST", "PREFIX", "c"}},
			[]string{"CLIENT", "TRACKINGINFO"}, "%[flags ~[on bcast] redirect :0 prefixes *[a b c]]"},
		{[][]string{{"CLIENT", "TRACKING", "ON", "BCAST"}}, []string{"CLIENT", "TRACKINGINFO"}, "%[flags ~[on bcast] redirect :0 prefixes *[]]"},
	} {
		c := dialRaw(t, addr)
		c.Do("HELLO", "3")
		for _, s := range tc.setup {
			c.expectDo("+OK", s...)
		}
		if got := show(c.Do(tc.args...)); got != tc.want {
			t.Errorf("%q after %q:\n got %s\nwant %s", tc.args, tc.setup, got, tc.want)
		}
		c.nc.Close()
	}
	// RESP2: the flags are an array.
	c := dialRaw(t, addr)
	c.expectDo("+OK", "CLIENT", "TRACKING", "ON", "REDIRECT", otherID)
	c.expectDo("*[flags *[on] redirect :"+otherID+" prefixes *[]]", "CLIENT", "TRACKINGINFO")
}

func TestTrackingDefaultMode(t *testing.T) {
	addr := newTestServer(t)
	r := tracker(t, addr)
	w := dialRaw(t, addr)
	r.expectDo("_", "GET", "k")
	// The reader is idle: the push reaches it without a command of its own.
	w.expectDo("+OK", "SET", "k", "1")
	r.expect(inv("k"))
	// Forgotten after one invalidation.
	w.expectDo("+OK", "SET", "k", "2")
	r.expectNothing()
	// Read again: tracked again. MGET tracks each key.
	r.expectDo("*[2 _]", "MGET", "k", "k2")
	w.expectDo("+OK", "MSET", "k", "3", "k2", "4")
	r.expectKeys("k", "k2")
	// Its own write: the invalidation comes before the write's reply.
	r.expectDo("3", "GET", "k")
	r.Send("SET", "k", "5")
	r.Send("GET", "k")
	r.expect(inv("k"))
	r.expect("+OK")
	r.expect("5")
	// A reply too large to hold back (the writer flushes it as it goes):
	// the invalidation follows it.
	big := strings.Repeat("b", 200<<10)
	w.Do("SET", "big", big)
	r.expectDo(big, "GET", "big")
	r.Send("GETSET", "big", "small")
	r.expect(big)
	r.expect(inv("big"))
	// RESET turns tracking off.
	r.expectDo("+RESET", "RESET")
	r.Do("HELLO", "3")
	r.expectDo("5", "GET", "k")
	w.expectDo("+OK", "SET", "k", "6")
	r.expectNothing()
	r.expectDo("%[flags ~[off] redirect :-1 prefixes *[]]", "CLIENT", "TRACKINGINFO")
}

// TestTrackingEveryWrite checks that every write command invalidates the
// keys it writes, and that every read command is tracked: the lists must
// name every keyed command of the table.
func TestTrackingEveryWrite(t *testing.T) {
	addr := newTestServer(t)
	r := tracker(t, addr)
	w := dialRaw(t, addr)
	// Each write runs on fresh keys set up as strings "1" (s:...) or a
	// hash (h:...); %s is the key, %t a second key.
	writes := map[string][]string{
		"set": {"SET", "s:%s", "x"}, "setnx": {"SETNX", "s:%s", "x"}, "setex": {"SETEX", "s:%s", "10", "x"},
		"psetex": {"PSETEX", "s:%s", "10000", "x"}, "getset": {"GETSET", "s:%s", "x"}, "getdel": {"GETDEL", "s:%s"},
		"getex": {"GETEX", "s:%s", "EX", "100"}, "mset": {"MSET", "s:%s", "x", "s:%t", "y"},
		"msetnx": {"MSETNX", "s:%s", "x", "s:%t", "y"}, "append": {"APPEND", "s:%s", "x"},
		"setrange": {"SETRANGE", "s:%s", "1", "x"}, "incr": {"INCR", "s:%s"}, "decr": {"DECR", "s:%s"},
		"incrby": {"INCRBY", "s:%s", "2"}, "decrby": {"DECRBY", "s:%s", "2"}, "incrbyfloat": {"INCRBYFLOAT", "s:%s", "1.5"},
		"del": {"DEL", "s:%s", "s:%t"}, "unlink": {"UNLINK", "s:%s", "s:%t"}, "expire": {"EXPIRE", "s:%s", "100"},
		"pexpire": {"PEXPIRE", "s:%s", "100000"}, "expireat": {"EXPIREAT", "s:%s", "4000000000"},
		"pexpireat": {"PEXPIREAT", "s:%s", "4000000000000"}, "persist": {"PERSIST", "s:%s"},
		"exset": {"EXSET", "s:%s", "x"}, "exsetver": {"EXSETVER", "s:%s", "7"}, "exincrby": {"EXINCRBY", "s:%s", "1"},
		"exincrbyfloat": {"EXINCRBYFLOAT", "s:%s", "1.5"}, "excas": {"EXCAS", "s:%s", "x", "1"}, "excad": {"EXCAD", "s:%s", "1"},
		"hset": {"HSET", "h:%s", "f", "x"}, "hmset": {"HMSET", "h:%s", "f", "x"}, "hsetnx": {"HSETNX", "h:%s", "g", "x"},
		"hdel": {"HDEL", "h:%s", "f"}, "hincrby": {"HINCRBY", "h:%s", "n", "1"}, "hincrbyfloat": {"HINCRBYFLOAT", "h:%s", "n", "1.5"},
	}
	reads := map[string][]string{
		"get": {"GET", "s:%s"}, "mget": {"MGET", "s:%s", "s:%t"}, "strlen": {"STRLEN", "s:%s"},
		"getrange": {"GETRANGE", "s:%s", "0", "-1"}, "exget": {"EXGET", "s:%s"}, "exists": {"EXISTS", "s:%s", "s:%t"},
		"touch": {"TOUCH", "s:%s"}, "type": {"TYPE", "s:%s"}, "ttl": {"TTL", "s:%s"}, "pttl": {"PTTL", "s:%s"},
		"expiretime": {"EXPIRETIME", "s:%s"}, "pexpiretime": {"PEXPIRETIME", "s:%s"},
		"hget": {"HGET", "h:%s", "f"}, "hmget": {"HMGET", "h:%s", "f", "g"}, "hlen": {"HLEN", "h:%s"},
		"hexists": {"HEXISTS", "h:%s", "f"}, "hstrlen": {"HSTRLEN", "h:%s", "f"}, "hgetall": {"HGETALL", "h:%s"},
		"hkeys": {"HKEYS", "h:%s"}, "hvals": {"HVALS", "h:%s"}, "hscan": {"HSCAN", "h:%s", "0"},
		"hrangebylex": {"HRANGEBYLEX", "h:%s", "-", "+"}, "hrevrangebylex": {"HREVRANGEBYLEX", "h:%s", "+", "-"},
	}
	for _, sp := range command.Specs() {
		if sp.FirstKey == 0 || sp.Name == "granary.ingest" {
			// GRANARY.INGEST (disk namespaces only; its keys name buckets)
			// invalidates every tracked key of its buckets: TestImportExport.
			continue
		}
		_, isW := writes[sp.Name]
		_, isR := reads[sp.Name]
		switch {
		case sp.Flags&command.FlagWrite != 0 && !isW:
			t.Errorf("write command %s is not tested", sp.Name)
		case sp.Flags&command.FlagRead != 0 && !isR:
			t.Errorf("read command %s is not tested", sp.Name)
		}
	}
	expand := func(args []string, s, t string) ([]string, []string) {
		out := make([]string, len(args))
		var keys []string
		for i, a := range args {
			out[i] = strings.NewReplacer("%s", s, "%t", t).Replace(a)
			if strings.Contains(a, "%") {
				keys = append(keys, out[i])
			}
		}
		return out, keys
	}
	setup := func(keys []string) {
		for _, k := range keys {
			if strings.HasPrefix(k, "h:") {
				w.Do("HSET", k, "f", "1", "n", "1")
			} else {
				w.Do("SET", k, "1")
			}
		}
	}
	names := func(m map[string][]string) []string {
		var out []string
		for k := range m {
			out = append(out, k)
		}
		sort.Strings(out)
		return out
	}
	for _, name := range names(writes) {
		args, keys := expand(writes[name], "w-"+name, "w2-"+name)
		setup(keys)
		for _, k := range keys {
			r.Do("EXISTS", k)
		}
		if v := w.Do(args...); v.Kind == '-' {
			t.Fatalf("%q: %s", args, show(v))
		}
		r.expectKeys(keys...)
	}
	for _, name := range names(reads) {
		args, keys := expand(reads[name], "r-"+name, "r2-"+name)
		setup(keys)
		if v := r.Do(args...); v.Kind == '-' {
			t.Fatalf("%q: %s", args, show(v))
		}
		w.Do(append([]string{"DEL"}, keys...)...)
		r.expectKeys(keys...)
	}
	r.expectNothing()
}

func TestTrackingNoLoopOptInOptOut(t *testing.T) {
	addr := newTestServer(t)
	w := dialRaw(t, addr)

	nl := tracker(t, addr, "NOLOOP")
	nl.Do("GET", "a")
	nl.expectDo("+OK", "SET", "a", "1") // no push before it
	nl.expectNothing()
	nl.Do("GET", "a")
	w.Do("SET", "a", "2")
	nl.expect(inv("a"))

	in := tracker(t, addr, "OPTIN")
	in.Do("GET", "b1") // not tracked
	in.expectDo("+OK", "CLIENT", "CACHING", "YES")
	in.Do("CLIENT", "ID") // CLIENT subcommands keep the flag
	in.Do("GET", "b2")    // tracked
	in.Do("GET", "b3")    // the flag applied to one command only
	w.Do("MSET", "b1", "x", "b2", "x", "b3", "x")
	in.expect(inv("b2"))
	in.expectNothing()
	// CACHING YES covers a whole transaction.
	in.Send("CLIENT", "CACHING", "YES")
	in.Send("MULTI")
	in.Send("PTTL", "c1")
	in.Send("GET", "c2")
	in.Send("EXEC")
	in.Send("GET", "c3")
	for _, want := range []string{"+OK", "+OK", "+QUEUED", "+QUEUED", "*[:-2 _]", "_"} {
		in.expect(want)
	}
	w.Do("MSET", "c1", "x", "c2", "x", "c3", "x")
	in.expectKeys("c1", "c2")
	in.expectNothing()

	out := tracker(t, addr, "OPTOUT")
	out.expectDo("+OK", "CLIENT", "CACHING", "NO")
	out.Do("GET", "d1") // not tracked
	out.Do("GET", "d2") // tracked
	w.Do("MSET", "d1", "x", "d2", "x")
	out.expect(inv("d2"))
	out.expectNothing()
}

func TestTrackingBcast(t *testing.T) {
	addr := newTestServer(t)
	w := dialRaw(t, addr)
	b := tracker(t, addr, "BCAST", "PREFIX", "user:", "PREFIX", "acct")
	w.Do("MSET", "user:1", "a", "acct9", "b", "zz", "c")
	b.expectKeys("user:1", "acct9")
	b.expectNothing()
	// Its own writes too, unless NOLOOP; any namespace.
	b.Send("SET", "user:2", "x")
	b.expect(inv("user:2"))
	b.expect("+OK")
	b.expectDo("+OK", "CLIENT", "TRACKING", "ON", "BCAST", "NOLOOP", "PREFIX", "z")
	b.expectDo("+OK", "SET", "user:2", "y")
	w.Do("SELECT", "3")
	w.Do("SET", "zz", "1")
	b.expect(inv("zz"))
	// Expiry is a change.
	w.Do("SET", "acct:e", "1", "PX", "30")
	b.expect(inv("acct:e"))
	b.expectDo("%[flags ~[on bcast noloop] redirect :0 prefixes *[acct user: z]]", "CLIENT", "TRACKINGINFO")
}

func TestTrackingRedirectRESP2(t *testing.T) {
	addr := newTestServer(t)
	w := dialRaw(t, addr)
	sub := dialRaw(t, addr)
	subID := clientID(t, sub)
	sub.expectDo("*[subscribe __redis__:invalidate :1]", "SUBSCRIBE", "__redis__:invalidate")
	c := dialRaw(t, addr)
	c.expectDo("+OK", "CLIENT", "TRACKING", "ON", "REDIRECT", subID)
	c.Do("GET", "k")
	c.Do("MGET", "k2", "k3")
	w.Do("MSET", "k", "1", "k2", "2")
	got := []string{show(sub.Read()), show(sub.Read())}
	want := []string{msg("k"), msg("k2")}
	sort.Strings(got)
	sort.Strings(want)
	if strings.Join(got, ",") != strings.Join(want, ",") {
		t.Fatalf("subscriber got %v, want %v", got, want)
	}
	w.Do("FLUSHALL")
	sub.expect(msg())
	// Its own write: to the subscriber, not to itself.
	c.Do("GET", "k")
	c.expectDo("+OK", "SET", "k", "5")
	sub.expect(msg("k"))
	// CLIENT LIST shows both.
	list := show(w.Do("CLIENT", "LIST"))
	for _, want := range []string{"id=" + subID + " ", "flags=P ", "sub=1", "flags=t ", "redir=" + subID} {
		if !strings.Contains(list, want) {
			t.Errorf("CLIENT LIST lacks %q:\n%s", want, list)
		}
	}
	// Unsubscribed: nothing sent, nothing broken.
	sub.expectDo("*[unsubscribe __redis__:invalidate :0]", "UNSUBSCRIBE")
	c.Do("GET", "k")
	w.Do("SET", "k", "6")
	sub.expectNothing()
	// The target gone: broken; a RESP3 client is told.
	sub.nc.Close()
	waitFor(t, "the subscriber's connection to end", func() bool {
		return !strings.Contains(show(w.Do("CLIENT", "LIST")), "id="+subID+" ")
	})
	c.Do("HELLO", "3")
	c.Do("GET", "k")
	w.Do("SET", "k", "7")
	c.expect(">[tracking-redir-broken :" + subID + "]")
	c.expectDo("%[flags ~[on broken_redirect] redirect :"+subID+" prefixes *[]]", "CLIENT", "TRACKINGINFO")
}

func TestTrackingRedirectRESP3(t *testing.T) {
	addr := newTestServer(t)
	w := dialRaw(t, addr)
	target := dialRaw(t, addr)
	target.Do("HELLO", "3")
	c := dialRaw(t, addr) // a RESP2 connection's reads, invalidated on a RESP3 one
	c.expectDo("+OK", "CLIENT", "TRACKING", "ON", "REDIRECT", clientID(t, target))
	c.Do("GET", "k")
	w.Do("SET", "k", "1")
	target.expect(inv("k"))
	c.expectNothing()
}

func TestTrackingFlush(t *testing.T) {
	addr := newTestServer(t)
	a := tracker(t, addr)
	b := tracker(t, addr, "BCAST")
	a.Do("GET", "k")
	w := dialRaw(t, addr)
	w.Do("SELECT", "5")
	w.expectDo("+OK", "FLUSHDB") // any namespace: Redis sends it to every tracking client
	a.expect(inv())
	b.expect(inv())
	a.expectNothing()
	// The flushing client's own one comes before its reply.
	a.Send("FLUSHALL")
	a.expect(inv())
	a.expect("+OK")
	b.expect(inv())
}

func TestTrackingNamespaces(t *testing.T) {
	addr := newTestServer(t)
	r := tracker(t, addr)
	r.Do("SELECT", "1")
	r.Do("GET", "k")
	w := dialRaw(t, addr)
	w.Do("SELECT", "2")
	w.Do("SET", "k", "x") // another namespace: the read stays valid
	r.expectNothing()
	w.Do("SELECT", "1")
	w.Do("SET", "k", "y")
	r.expect(inv("k"))
}

func TestTrackingExpiryAndEviction(t *testing.T) {
	addr := newTestServer(t)
	r := tracker(t, addr)
	w := dialRaw(t, addr)
	// Active expiry: nobody touches the key.
	w.Do("SET", "e", "1", "PX", "50")
	r.Do("GET", "e")
	r.expect(inv("e"))
	// Lazy expiry: the read that finds it expired.
	w.Do("SET", "l", "1", "PX", "1")
	r.Do("GET", "l")
	time.Sleep(5 * time.Millisecond)
	r.Send("GET", "l")
	got := []string{show(r.Read()), show(r.Read())}
	sort.Strings(got)
	if want := []string{inv("l"), "_"}; strings.Join(got, ",") != strings.Join(want, ",") {
		t.Fatalf("after expiry: %v, want %v", got, want)
	}
	// Eviction: a namespace with a small quota.
	r.Do("SELECT", "7")
	w.Do("SELECT", "7")
	w.expectDo("+OK", "CONFIG", "SET", "maxmemory", "2mb")
	w.Do("SET", "victim", "v")
	r.Do("GET", "victim")
	big := strings.Repeat("x", 1000)
	for i := range 20000 { // 10 times the quota
		w.Do("SET", fmt.Sprint("fill", i), big)
	}
	r.expect(inv("victim"))
}

func TestTrackingTableBound(t *testing.T) {
	addr := newTestServer(t)
	r := tracker(t, addr)
	w := dialRaw(t, addr)
	w.expectDo("+OK", "CONFIG", "SET", "tracking-table-max-keys", "10")
	w.expectDo("*[tracking-table-max-keys 10]", "CONFIG", "GET", "tracking-table-max-keys")
	keys := make([]string, 50)
	for i := range keys {
		keys[i] = fmt.Sprint("b", i)
	}
	r.Do(append([]string{"MGET"}, keys...)...)
	// 40 keys evicted: 40 invalidations.
	for range 40 {
		if v := r.Read(); v.Kind != '>' {
			t.Fatalf("got %s", show(v))
		}
	}
	r.expectNothing()
	info := string(w.Do("INFO", "stats").Str)
	for _, want := range []string{"tracking_total_keys:10\r\n", "tracking_total_items:10\r\n", "tracking_evicted_keys:40\r\n"} {
		if !strings.Contains(info, want) {
			t.Errorf("INFO lacks %q", want)
		}
	}
	if info := string(w.Do("INFO", "clients").Str); !strings.Contains(info, "tracking_clients:1\r\n") {
		t.Errorf("INFO clients: %s", info)
	}
	w.expectDo("-ERR CONFIG SET failed (possibly related to argument 'tracking-table-max-keys') - argument couldn't be parsed into an integer",
		"CONFIG", "SET", "tracking-table-max-keys", "-1")
}

func TestSubscribe(t *testing.T) {
	addr := newTestServer(t)
	s := dialRaw(t, addr)
	s.expectDo("-"+"ERR Granary supports SUBSCRIBE only to the __redis__:invalidate channel (client-side caching invalidations); pub/sub is not implemented",
		"SUBSCRIBE", "__redis__:invalidate", "news")
	s.expectDo("*[unsubscribe $nil :0]", "UNSUBSCRIBE")
	s.expectDo("*[subscribe __redis__:invalidate :1]", "SUBSCRIBE", "__redis__:invalidate")
	// RESP2 subscribed: a few commands only; PING answers as a message.
	s.expectDo("-ERR Can't execute 'get': only (P|S)SUBSCRIBE / (P|S)UNSUBSCRIBE / PING / QUIT / RESET are allowed in this context", "GET", "k")
	s.expectDo("*[pong ]", "PING")
	s.expectDo("*[pong hi]", "PING", "hi")
	s.expectDo("*[unsubscribe other :1]", "UNSUBSCRIBE", "other")
	s.expectDo("*[unsubscribe __redis__:invalidate :0]", "UNSUBSCRIBE", "__redis__:invalidate")
	s.expectDo("$nil", "GET", "k")
	s.expectDo("*[subscribe __redis__:invalidate :1]", "SUBSCRIBE", "__redis__:invalidate")
	s.expectDo("+RESET", "RESET")
	s.expectDo("+PONG", "PING")
	// RESP3: pushes, and every command still runs.
	s.Do("HELLO", "3")
	s.expectDo(">[subscribe __redis__:invalidate :1]", "SUBSCRIBE", "__redis__:invalidate")
	s.expectDo("_", "GET", "k")
	s.expectDo("+PONG", "PING")
}

func TestMultiExec(t *testing.T) {
	addr := newTestServer(t)
	c := dialRaw(t, addr)
	c.Do("SET", "k", "v")
	for _, step := range []struct {
		args []string
		want string
	}{
		{[]string{"EXEC"}, "-ERR EXEC without MULTI"},
		{[]string{"DISCARD"}, "-ERR DISCARD without MULTI"},
		{[]string{"MULTI"}, "+OK"},
		{[]string{"MULTI"}, "-ERR MULTI calls can not be nested"},
		{[]string{"GET", "k"}, "+QUEUED"},
		{[]string{"PTTL", "k"}, "+QUEUED"},
		{[]string{"PING"}, "+QUEUED"},
		{[]string{"EXEC"}, "*[v :-1 +PONG]"},
		{[]string{"MULTI"}, "+OK"},
		{[]string{"GET", "k"}, "+QUEUED"},
		{[]string{"DISCARD"}, "+OK"},
		{[]string{"MULTI"}, "+OK"},
		{[]string{"SET", "k", "w"}, "-ERR Granary runs transactions of read commands only; 'set' cannot be queued"},
		{[]string{"GET", "k"}, "+QUEUED"},
		{[]string{"EXEC"}, "-EXECABORT Transaction discarded because of previous errors."},
		{[]string{"MULTI"}, "+OK"},
		{[]string{"NOSUCH"}, "-ERR unknown command 'NOSUCH', with args beginning with: "},
		{[]string{"EXEC"}, "-EXECABORT Transaction discarded because of previous errors."},
		{[]string{"MULTI"}, "+OK"},
		{[]string{"GET"}, "-ERR wrong number of arguments for 'get' command"},
		{[]string{"EXEC"}, "-EXECABORT Transaction discarded because of previous errors."},
		{[]string{"MULTI"}, "+OK"},
		{[]string{"SUBSCRIBE", "__redis__:invalidate"}, "-ERR Command not allowed inside a transaction"},
		{[]string{"EXEC"}, "-EXECABORT Transaction discarded because of previous errors."},
		{[]string{"MULTI"}, "+OK"},
		{[]string{"EXEC"}, "*[]"},
		{[]string{"GET", "k"}, "v"},
		{[]string{"MULTI"}, "+OK"},
		{[]string{"RESET"}, "+RESET"},
		{[]string{"EXEC"}, "-ERR EXEC without MULTI"},
	} {
		if got := show(c.Do(step.args...)); got != step.want {
			t.Fatalf("%q: got %s, want %s", step.args, got, step.want)
		}
	}
}

func TestMultiCrossSlotInCluster(t *testing.T) {
	addr := newTestServerWith(t, func(o *dataserver.Options) { o.Standalone = false })
	c := dialRaw(t, addr)
	c.expectDo("+OK", "MULTI")
	c.expectDo("+QUEUED", "GET", "{a}1")
	c.expectDo("+QUEUED", "GET", "{a}2")
	c.expectDo("-CROSSSLOT Keys in request don't hash to the same slot", "GET", "b")
	c.expectDo("-EXECABORT Transaction discarded because of previous errors.", "EXEC")
}

// TestTrackingSlowReader checks that a tracking client that never reads its
// socket is disconnected once its pushes exceed the limit.
func TestTrackingSlowReader(t *testing.T) {
	addr := newTestServerWith(t, func(o *dataserver.Options) { o.PushLimit = 64 << 10 })
	r := tracker(t, addr)
	id := clientID(t, r)
	keys := []string{"MGET"}
	for i := range 5000 {
		keys = append(keys, fmt.Sprintf("%s:%d", strings.Repeat("k", 1000), i))
	}
	r.Send(keys...)
	r.bw.Flush() // and never read the reply nor the pushes
	w := dialRaw(t, addr)
	for i := 0; ; i++ {
		if !strings.Contains(show(w.Do("CLIENT", "LIST")), "id="+id+" ") {
			break
		}
		if i > 100 {
			t.Fatal("the client that does not read is still connected")
		}
		del := append([]string{"DEL"}, keys[1:]...)
		w.Do(del...)
		r.Send(keys...) // track them again
		r.bw.Flush()
		time.Sleep(20 * time.Millisecond)
	}
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); !cond(); time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
	}
}
