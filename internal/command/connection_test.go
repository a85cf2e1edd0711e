package command_test

import (
	"errors"
	"io"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"granary/internal/dataserver"
	"granary/internal/resp"
)

// isErr reports whether v is an error reply starting with prefix.
func isErr(v resp.Value, prefix string) bool {
	return v.Kind == '-' && strings.HasPrefix(string(v.Str), prefix)
}

// mapOf turns a RESP3 map or a RESP2 flat array into a Go map of strings.
func mapOf(t *testing.T, v resp.Value) map[string]resp.Value {
	t.Helper()
	if (v.Kind != '%' && v.Kind != '*') || len(v.Elems)%2 != 0 {
		t.Fatalf("not a map: %v", v)
	}
	m := map[string]resp.Value{}
	for i := 0; i < len(v.Elems); i += 2 {
		m[string(v.Elems[i].Str)] = v.Elems[i+1]
	}
	return m
}

func TestEcho(t *testing.T) {
	addr := newTestServer(t)
	rc := dial(t, addr)
	if got, err := rc.Echo(ctx, "hello world").Result(); err != nil || got != "hello world" {
		t.Fatalf("ECHO = %q, %v", got, err)
	}
	raw := dialRaw(t, addr)
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"ECHO"}, "ERR wrong number of arguments for 'echo' command"},
		{[]string{"ECHO", "a", "b"}, "ERR wrong number of arguments for 'echo' command"},
	} {
		if v := raw.Do(tc.args...); v.Kind != '-' || string(v.Str) != tc.want {
			t.Errorf("%q = %v, want %q", tc.args, v, tc.want)
		}
	}
	if v := raw.Do("ECHO", ""); v.Kind != '$' || len(v.Str) != 0 || v.Null {
		t.Errorf("ECHO '' = %v", v)
	}
}

func TestHello(t *testing.T) {
	addr := newTestServer(t)
	raw := dialRaw(t, addr)

	v := raw.Do("HELLO")
	if v.Kind != '*' || len(v.Elems) != 14 {
		t.Fatalf("HELLO = %v, want a RESP2 array of 14", v)
	}
	m := mapOf(t, v)
	if string(m["server"].Str) != "redis" || string(m["version"].Str) != "7.2.0" || m["proto"].Int != 2 ||
		string(m["role"].Str) != "master" || string(m["mode"].Str) != "standalone" || m["id"].Int <= 0 ||
		m["modules"].Kind != '*' || len(m["modules"].Elems) != 0 {
		t.Fatalf("HELLO fields = %v", v)
	}
	id := m["id"].Int

	// HELLO 3 answers in RESP3 already.
	v = raw.Do("HELLO", "3")
	if v.Kind != '%' || len(v.Elems) != 14 {
		t.Fatalf("HELLO 3 = %c %v, want a RESP3 map", v.Kind, v)
	}
	if m := mapOf(t, v); m["proto"].Int != 3 || m["id"].Int != id {
		t.Fatalf("HELLO 3 fields = %v", v)
	}
	if v := raw.Do("CLIENT", "GETNAME"); v.Kind != '_' {
		t.Fatalf("CLIENT GETNAME after HELLO 3 = %c %v, want RESP3 null", v.Kind, v)
	}
	// HELLO without a version keeps the protocol.
	if v := raw.Do("HELLO"); v.Kind != '%' {
		t.Fatalf("HELLO after HELLO 3 = %c, want map", v.Kind)
	}
	if v := raw.Do("HELLO", "2"); v.Kind != '*' {
		t.Fatalf("HELLO 2 = %c, want array", v.Kind)
	}
	if v := raw.Do("CLIENT", "GETNAME"); v.Kind != '$' || !v.Null {
		t.Fatalf("CLIENT GETNAME after HELLO 2 = %v, want $-1", v)
	}

	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"HELLO", "4"}, "NOPROTO unsupported protocol version"},
		{[]string{"HELLO", "1"}, "NOPROTO unsupported protocol version"},
		{[]string{"HELLO", "x"}, "ERR Protocol version is not an integer or out of range"},
		{[]string{"HELLO", "3", "FOO"}, "ERR Syntax error in HELLO option 'FOO'"},
		{[]string{"HELLO", "3", "AUTH", "default"}, "ERR Syntax error in HELLO option 'AUTH'"},
		{[]string{"HELLO", "3", "SETNAME"}, "ERR Syntax error in HELLO option 'SETNAME'"},
		{[]string{"HELLO", "3", "SETNAME", "a b"}, "ERR Client names cannot contain spaces, newlines or special characters."},
		{[]string{"HELLO", "3", "AUTH", "bob", "x"}, "WRONGPASS invalid username-password pair or user is disabled."},
	} {
		if v := raw.Do(tc.args...); v.Kind != '-' || string(v.Str) != tc.want {
			t.Errorf("%q = %v, want %q", tc.args, v, tc.want)
		}
	}
	// A failed HELLO changes nothing.
	if v := raw.Do("CLIENT", "INFO"); !strings.Contains(string(v.Str), " resp=2 ") {
		t.Fatalf("CLIENT INFO after failed HELLOs = %v", v)
	}
	// With no password configured the default user takes any password.
	v = raw.Do("HELLO", "3", "AUTH", "default", "whatever", "SETNAME", "conn1")
	if v.Kind != '%' {
		t.Fatalf("HELLO 3 AUTH SETNAME = %v", v)
	}
	if v := raw.Do("CLIENT", "GETNAME"); string(v.Str) != "conn1" {
		t.Fatalf("CLIENT GETNAME = %v", v)
	}
}

func TestRESP3Client(t *testing.T) {
	addr := newTestServer(t)
	for _, proto := range []int{2, 3} {
		rc := dialProto(t, addr, proto)
		info, err := rc.ClientInfo(ctx).Result()
		if err != nil {
			t.Fatalf("proto %d: CLIENT INFO: %v", proto, err)
		}
		if info.Resp != proto {
			t.Errorf("proto %d: CLIENT INFO resp=%d", proto, info.Resp)
		}
		if err := rc.Set(ctx, "k"+strconv.Itoa(proto), "v", 0).Err(); err != nil {
			t.Fatalf("proto %d: SET: %v", proto, err)
		}
		if got, err := rc.Get(ctx, "k"+strconv.Itoa(proto)).Result(); err != nil || got != "v" {
			t.Fatalf("proto %d: GET = %q, %v", proto, got, err)
		}
		if _, err := rc.Get(ctx, "missing").Result(); err != redis.Nil {
			t.Fatalf("proto %d: GET missing: %v", proto, err)
		}
		if err := rc.Ping(ctx).Err(); err != nil {
			t.Fatalf("proto %d: PING: %v", proto, err)
		}
		// go-redis sends CLIENT SETINFO on connect; it must have succeeded.
		if name, err := rc.ClientGetName(ctx).Result(); err != redis.Nil || name != "" {
			t.Fatalf("proto %d: CLIENT GETNAME = %q, %v", proto, name, err)
		}
	}
}

func TestAuthNoPassword(t *testing.T) {
	addr := newTestServer(t)
	raw := dialRaw(t, addr)
	for _, tc := range []struct {
		args []string
		want string // "" = +OK
	}{
		{[]string{"AUTH", "secret"}, "ERR AUTH <password> called without any password configured for the default user. Are you sure your configuration is correct?"},
		{[]string{"AUTH", "default", "anything"}, ""},
		{[]string{"AUTH", "bob", "anything"}, "WRONGPASS invalid username-password pair or user is disabled."},
		{[]string{"AUTH", "a", "b", "c"}, "ERR syntax error"},
		{[]string{"AUTH"}, "ERR wrong number of arguments for 'auth' command"},
	} {
		v := raw.Do(tc.args...)
		if tc.want == "" {
			if v.Kind != '+' || string(v.Str) != "OK" {
				t.Errorf("%q = %v, want OK", tc.args, v)
			}
		} else if v.Kind != '-' || string(v.Str) != tc.want {
			t.Errorf("%q = %v, want %q", tc.args, v, tc.want)
		}
	}
}

func TestAuthPassword(t *testing.T) {
	addr := newTestServerWith(t, func(o *dataserver.Options) { o.RequirePass = "s3cret" })

	raw := dialRaw(t, addr)
	steps := []struct {
		args []string
		want string // "" = success (any non-error), else error prefix or exact text
	}{
		{[]string{"GET", "k"}, "NOAUTH Authentication required."},
		{[]string{"SELECT", "1"}, "NOAUTH Authentication required."},
		{[]string{"CLIENT", "ID"}, "NOAUTH Authentication required."},
		{[]string{"PING"}, "NOAUTH Authentication required."},
		{[]string{"HELLO", "3"}, "NOAUTH HELLO must be called with the client already authenticated, otherwise the HELLO <proto> AUTH <user> <pass> option can be used to authenticate the client and select the RESP protocol version at the same time"},
		{[]string{"AUTH", "wrong"}, "WRONGPASS invalid username-password pair or user is disabled."},
		{[]string{"AUTH", "bob", "s3cret"}, "WRONGPASS invalid username-password pair or user is disabled."},
		{[]string{"HELLO", "3", "AUTH", "default", "nope"}, "WRONGPASS invalid username-password pair or user is disabled."},
		{[]string{"GET", "k"}, "NOAUTH Authentication required."},
		{[]string{"AUTH", "s3cret"}, ""},
		{[]string{"SET", "k", "v"}, ""},
		{[]string{"GET", "k"}, ""},
		{[]string{"RESET"}, ""},
		{[]string{"GET", "k"}, "NOAUTH Authentication required."},
		{[]string{"AUTH", "default", "s3cret"}, ""},
		{[]string{"GET", "k"}, ""},
	}
	for i, st := range steps {
		v := raw.Do(st.args...)
		if st.want == "" {
			if v.Kind == '-' {
				t.Fatalf("step %d %q = %v, want success", i, st.args, v)
			}
		} else if v.Kind != '-' || string(v.Str) != st.want {
			t.Fatalf("step %d %q = %v, want %q", i, st.args, v, st.want)
		}
	}

	// HELLO with AUTH authenticates and switches protocol at once.
	raw2 := dialRaw(t, addr)
	if v := raw2.Do("HELLO", "3", "AUTH", "default", "s3cret"); v.Kind != '%' {
		t.Fatalf("HELLO 3 AUTH = %v", v)
	}
	if v := raw2.Do("GET", "k"); string(v.Str) != "v" {
		t.Fatalf("GET after HELLO AUTH = %v", v)
	}

	// go-redis with and without the password.
	good := redis.NewClient(&redis.Options{Addr: addr, Password: "s3cret"})
	defer good.Close()
	if got, err := good.Get(ctx, "k").Result(); err != nil || got != "v" {
		t.Fatalf("go-redis with password: GET = %q, %v", got, err)
	}
	good3 := redis.NewClient(&redis.Options{Addr: addr, Password: "s3cret", Protocol: 3})
	defer good3.Close()
	if got, err := good3.Get(ctx, "k").Result(); err != nil || got != "v" {
		t.Fatalf("go-redis RESP3 with password: GET = %q, %v", got, err)
	}
	bad := redis.NewClient(&redis.Options{Addr: addr})
	defer bad.Close()
	if err := bad.Get(ctx, "k").Err(); err == nil || !strings.HasPrefix(err.Error(), "NOAUTH") {
		t.Fatalf("go-redis without password: GET err = %v, want NOAUTH", err)
	}
	wrong := redis.NewClient(&redis.Options{Addr: addr, Password: "nope", MaxRetries: -1})
	defer wrong.Close()
	if err := wrong.Get(ctx, "k").Err(); err == nil || !strings.Contains(err.Error(), "WRONGPASS") {
		t.Fatalf("go-redis with a wrong password: GET err = %v, want WRONGPASS", err)
	}
}

func TestPreAuthLimits(t *testing.T) {
	addr := newTestServerWith(t, func(o *dataserver.Options) { o.RequirePass = "pw" })
	raw := dialRaw(t, addr)
	if v := raw.Do("AUTH", "pw"); v.Kind != '+' {
		t.Fatalf("AUTH = %v", v)
	}
	// After AUTH the limits are lifted: a value larger than the pre-auth bulk limit.
	big := strings.Repeat("x", 64<<10)
	if v := raw.Do("SET", "big", big); v.Kind != '+' {
		t.Fatalf("SET 64KiB after AUTH = %v", v)
	}
}

func TestSelect(t *testing.T) {
	addr := newTestServer(t)
	c0 := dial(t, addr)
	c5 := redis.NewClient(&redis.Options{Addr: addr, DB: 5})
	t.Cleanup(func() { c5.Close() })

	if err := c0.Set(ctx, "k", "zero", 0).Err(); err != nil {
		t.Fatal(err)
	}
	if err := c5.Set(ctx, "k", "five", 0).Err(); err != nil {
		t.Fatal(err)
	}
	if got := c0.Get(ctx, "k").Val(); got != "zero" {
		t.Fatalf("db0 k = %q", got)
	}
	if got := c5.Get(ctx, "k").Val(); got != "five" {
		t.Fatalf("db5 k = %q", got)
	}
	if n := c0.DBSize(ctx).Val(); n != 1 {
		t.Fatalf("db0 DBSIZE = %d", n)
	}

	raw := dialRaw(t, addr)
	for _, tc := range []struct {
		args []string
		want string // "" = +OK, else error
	}{
		{[]string{"SELECT", "65535"}, ""},
		{[]string{"SELECT", "0"}, ""},
		{[]string{"SELECT", "65536"}, "ERR DB index is out of range"},
		{[]string{"SELECT", "-1"}, "ERR DB index is out of range"},
		{[]string{"SELECT", "x"}, "ERR value is not an integer or out of range"},
		{[]string{"SELECT"}, "ERR wrong number of arguments for 'select' command"},
	} {
		v := raw.Do(tc.args...)
		if tc.want == "" {
			if v.Kind != '+' {
				t.Errorf("%q = %v, want OK", tc.args, v)
			}
		} else if v.Kind != '-' || string(v.Str) != tc.want {
			t.Errorf("%q = %v, want %q", tc.args, v, tc.want)
		}
	}
	raw.Do("SELECT", "5")
	if v := raw.Do("GET", "k"); string(v.Str) != "five" {
		t.Fatalf("after SELECT 5: GET k = %v", v)
	}
	if v := raw.Do("CLIENT", "INFO"); !strings.Contains(string(v.Str), " db=5 ") {
		t.Fatalf("CLIENT INFO after SELECT 5 = %v", v)
	}
	raw.Do("SELECT", "7")
	if v := raw.Do("GET", "k"); !v.Null {
		t.Fatalf("after SELECT 7: GET k = %v, want nil", v)
	}

	// Statistics follow the namespace the commands ran in.
	info := c0.Info(ctx, "namespaces").Val()
	if !strings.Contains(info, "ns5:") || !strings.Contains(info, "ns7:") {
		t.Fatalf("INFO namespaces lacks ns5/ns7:\n%s", info)
	}
}

func TestQuit(t *testing.T) {
	addr := newTestServer(t)
	raw := dialRaw(t, addr)
	raw.Send("QUIT")
	raw.Send("PING") // never answered
	if v := raw.Read(); v.Kind != '+' || string(v.Str) != "OK" {
		t.Fatalf("QUIT = %v", v)
	}
	raw.nc.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := raw.rd.ReadReply(); !errors.Is(err, io.EOF) {
		t.Fatalf("after QUIT: read err = %v, want EOF", err)
	}
}

func TestReset(t *testing.T) {
	addr := newTestServer(t)
	raw := dialRaw(t, addr)
	raw.Do("HELLO", "3")
	raw.Do("SELECT", "3")
	raw.Do("CLIENT", "SETNAME", "named")
	raw.Do("READONLY")
	if v := raw.Do("CLIENT", "INFO"); !strings.Contains(string(v.Str), " flags=r ") {
		t.Fatalf("CLIENT INFO after READONLY = %v", v)
	}
	if v := raw.Do("RESET"); v.Kind != '+' || string(v.Str) != "RESET" {
		t.Fatalf("RESET = %v", v)
	}
	if v := raw.Do("CLIENT", "GETNAME"); v.Kind != '$' || !v.Null {
		t.Fatalf("CLIENT GETNAME after RESET = %v, want RESP2 nil", v)
	}
	info := string(raw.Do("CLIENT", "INFO").Str)
	for _, want := range []string{" db=0 ", " resp=2 ", " flags=N ", " name= "} {
		if !strings.Contains(info, want) {
			t.Errorf("CLIENT INFO after RESET lacks %q: %s", want, info)
		}
	}
}

func TestReadOnlyReadWriteAsking(t *testing.T) {
	addr := newTestServer(t)
	rc := dial(t, addr)
	for _, cmd := range []string{"READONLY", "READWRITE", "ASKING"} {
		if got, err := rc.Do(ctx, cmd).Result(); err != nil || got != "OK" {
			t.Errorf("%s = %v, %v", cmd, got, err)
		}
	}
	if err := rc.Do(ctx, "READONLY", "x").Err(); err == nil || err.Error() != "ERR wrong number of arguments for 'readonly' command" {
		t.Errorf("READONLY x: %v", err)
	}
}

// parseClientLine splits a CLIENT LIST/INFO line into its fields.
func parseClientLine(l string) map[string]string {
	m := map[string]string{}
	for _, f := range strings.Fields(l) {
		k, v, _ := strings.Cut(f, "=")
		m[k] = v
	}
	return m
}

func TestClient(t *testing.T) {
	addr := newTestServer(t)
	a := dialRaw(t, addr)
	b := dialRaw(t, addr)

	idA := a.Do("CLIENT", "ID").Int
	idB := b.Do("CLIENT", "ID").Int
	if idA <= 0 || idB <= 0 || idA == idB {
		t.Fatalf("CLIENT ID = %d, %d", idA, idB)
	}

	for _, tc := range []struct {
		args []string
		want string // "" = +OK, else exact error
	}{
		{[]string{"CLIENT", "SETNAME", "alpha"}, ""},
		{[]string{"CLIENT", "SETNAME", "has space"}, "ERR Client names cannot contain spaces, newlines or special characters."},
		{[]string{"CLIENT", "SETNAME", "nl\n"}, "ERR Client names cannot contain spaces, newlines or special characters."},
		{[]string{"CLIENT", "SETINFO", "lib-name", "go-redis(,go1.26)"}, ""},
		{[]string{"CLIENT", "SETINFO", "LIB-VER", "9.23.0"}, ""},
		{[]string{"CLIENT", "SETINFO", "lib-name", "a b"}, "ERR lib-name cannot contain spaces, newlines or special characters."},
		{[]string{"CLIENT", "SETINFO", "color", "red"}, "ERR Unrecognized option 'color'"},
		{[]string{"CLIENT", "NO-EVICT", "on"}, ""},
		{[]string{"CLIENT", "NO-EVICT", "off"}, ""},
		{[]string{"CLIENT", "NO-EVICT", "maybe"}, "ERR syntax error"},
		{[]string{"CLIENT", "NOPE"}, "ERR unknown subcommand 'NOPE'. Try CLIENT HELP."},
		{[]string{"CLIENT"}, "ERR wrong number of arguments for 'client' command"},
		{[]string{"CLIENT", "SETNAME"}, "ERR wrong number of arguments for 'client|setname' command"},
		{[]string{"CLIENT", "KILL", "1.2.3.4:5"}, "ERR No such client"},
		{[]string{"CLIENT", "KILL", "ID", "0"}, "ERR client-id should be greater than 0"},
		{[]string{"CLIENT", "KILL", "ID"}, "ERR No such client"},
		{[]string{"CLIENT", "KILL"}, "ERR wrong number of arguments for 'client|kill' command"},
		{[]string{"CLIENT", "LIST", "ID", "x"}, "ERR Invalid client ID"},
		{[]string{"CLIENT", "KILL", "BOGUS", "1"}, "ERR syntax error"},
		{[]string{"CLIENT", "KILL", "ID", "1", "SKIPME"}, "ERR syntax error"},
		{[]string{"CLIENT", "LIST", "TYPE", "weird"}, "ERR Unknown client type 'weird'"},
	} {
		v := a.Do(tc.args...)
		if tc.want == "" {
			if v.Kind != '+' || string(v.Str) != "OK" {
				t.Errorf("%q = %v, want OK", tc.args, v)
			}
		} else if v.Kind != '-' || string(v.Str) != tc.want {
			t.Errorf("%q = %v, want %q", tc.args, v, tc.want)
		}
	}
	if v := a.Do("CLIENT", "GETNAME"); string(v.Str) != "alpha" {
		t.Fatalf("CLIENT GETNAME = %v", v)
	}
	if v := b.Do("CLIENT", "GETNAME"); !v.Null {
		t.Fatalf("CLIENT GETNAME (unnamed) = %v", v)
	}
	if v := a.Do("CLIENT", "SETNAME", ""); v.Kind != '+' {
		t.Fatalf("CLIENT SETNAME '' = %v", v)
	}
	if v := a.Do("CLIENT", "GETNAME"); !v.Null {
		t.Fatalf("CLIENT GETNAME after clearing = %v", v)
	}
	a.Do("CLIENT", "SETNAME", "alpha")
	b.Do("SELECT", "4")

	info := a.Do("CLIENT", "INFO")
	line := string(info.Str)
	if !strings.HasSuffix(line, "\n") || strings.Count(line, "\n") != 1 {
		t.Fatalf("CLIENT INFO = %q, want one line", line)
	}
	f := parseClientLine(line)
	if f["id"] != strconv.FormatInt(idA, 10) || f["name"] != "alpha" || f["cmd"] != "client|info" ||
		f["db"] != "0" || f["resp"] != "2" || f["flags"] != "N" || f["user"] != "default" {
		t.Fatalf("CLIENT INFO fields = %v", f)
	}
	for _, k := range []string{"addr", "laddr", "fd", "age", "idle", "sub", "psub", "multi", "qbuf", "omem", "tot-mem", "events", "redir"} {
		if _, ok := f[k]; !ok {
			t.Errorf("CLIENT INFO lacks %s: %s", k, line)
		}
	}

	list := string(a.Do("CLIENT", "LIST").Str)
	lines := strings.Split(strings.TrimSuffix(list, "\n"), "\n")
	if len(lines) != 2 {
		t.Fatalf("CLIENT LIST has %d lines:\n%s", len(lines), list)
	}
	fb := parseClientLine(lines[1])
	if fb["id"] != strconv.FormatInt(idB, 10) || fb["db"] != "4" || fb["cmd"] != "select" || fb["name"] != "" {
		t.Fatalf("CLIENT LIST line of b = %v", fb)
	}
	if fl := string(a.Do("CLIENT", "LIST", "ID", strconv.FormatInt(idB, 10)).Str); strings.Count(fl, "\n") != 1 || !strings.HasPrefix(fl, "id="+strconv.FormatInt(idB, 10)+" ") {
		t.Fatalf("CLIENT LIST ID = %q", fl)
	}
	if fl := a.Do("CLIENT", "LIST", "TYPE", "pubsub"); fl.Kind != '$' || len(fl.Str) != 0 {
		t.Fatalf("CLIENT LIST TYPE pubsub = %v", fl)
	}
	if v := a.Do("CLIENT", "HELP"); v.Kind != '*' || len(v.Elems) < 5 {
		t.Fatalf("CLIENT HELP = %v", v)
	}

	// RESP3: CLIENT INFO/LIST are verbatim strings.
	a.Do("HELLO", "3")
	if v := a.Do("CLIENT", "INFO"); v.Kind != '=' {
		t.Fatalf("CLIENT INFO in RESP3 = %c", v.Kind)
	}
	a.Do("HELLO", "2")

	// KILL by id (the new form counts), then the old addr form.
	if v := a.Do("CLIENT", "KILL", "ID", strconv.FormatInt(idB, 10)); v.Kind != ':' || v.Int != 1 {
		t.Fatalf("CLIENT KILL ID = %v", v)
	}
	b.nc.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := b.rd.ReadReply(); err == nil {
		t.Fatal("killed client still reads")
	}
	if v := a.Do("CLIENT", "KILL", "ID", strconv.FormatInt(idB, 10)); v.Int != 0 {
		t.Fatalf("CLIENT KILL ID (gone) = %v", v)
	}
	c := dialRaw(t, addr)
	c.Do("PING")
	cAddr := c.nc.LocalAddr().String()
	if v := a.Do("CLIENT", "KILL", cAddr); v.Kind != '+' {
		t.Fatalf("CLIENT KILL addr = %v", v)
	}
	c.nc.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := c.rd.ReadReply(); err == nil {
		t.Fatal("client killed by addr still reads")
	}
	// SKIPME defaults to yes: a client does not kill itself by its own id...
	if v := a.Do("CLIENT", "KILL", "ID", strconv.FormatInt(idA, 10)); v.Int != 0 {
		t.Fatalf("CLIENT KILL own ID = %v, want 0 (SKIPME yes)", v)
	}
	// ...unless asked, and then it gets its reply first.
	if v := a.Do("CLIENT", "KILL", "ID", strconv.FormatInt(idA, 10), "SKIPME", "no"); v.Int != 1 {
		t.Fatalf("CLIENT KILL own ID SKIPME no = %v", v)
	}
	a.nc.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := a.rd.ReadReply(); err == nil {
		t.Fatal("self-killed client still reads")
	}
}

// TestClientListConcurrent runs CLIENT LIST while other connections change
// the state it reports (for the race detector).
func TestClientListConcurrent(t *testing.T) {
	addr := newTestServer(t)
	var wg sync.WaitGroup
	stop := make(chan struct{})
	for i := 0; i < 4; i++ {
		r := dialRaw(t, addr)
		wg.Add(1)
		go func() {
			defer wg.Done()
			for n := 0; ; n++ {
				select {
				case <-stop:
					return
				default:
				}
				r.Do("HELLO", strconv.Itoa(2+n%2), "SETNAME", "c"+strconv.Itoa(n))
				r.Do("SELECT", strconv.Itoa(n%3))
				r.Do("READONLY")
				r.Do("RESET")
			}
		}()
	}
	lister := dialRaw(t, addr)
	for i := 0; i < 50; i++ {
		if v := lister.Do("CLIENT", "LIST"); v.Kind != '$' {
			t.Fatalf("CLIENT LIST = %v", v)
		}
	}
	close(stop)
	wg.Wait()
}
