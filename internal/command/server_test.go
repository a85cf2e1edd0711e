package command_test

import (
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// parseInfo parses an INFO reply into section -> key -> value.
func parseInfo(t *testing.T, s string) map[string]map[string]string {
	t.Helper()
	out := map[string]map[string]string{}
	var cur map[string]string
	for _, l := range strings.Split(s, "\r\n") {
		switch {
		case l == "":
		case strings.HasPrefix(l, "# "):
			cur = map[string]string{}
			out[strings.ToLower(l[2:])] = cur
		default:
			k, v, ok := strings.Cut(l, ":")
			if !ok || cur == nil {
				t.Fatalf("bad INFO line %q", l)
			}
			cur[k] = v
		}
	}
	return out
}

func TestInfo(t *testing.T) {
	addr := newTestServer(t)
	rc := dial(t, addr)
	rc.Set(ctx, "a", "1", 0)
	rc.Set(ctx, "b", "2", time.Hour)
	rc.Get(ctx, "a")       // hit
	rc.Get(ctx, "missing") // miss
	c3 := redis.NewClient(&redis.Options{Addr: addr, DB: 3})
	t.Cleanup(func() { c3.Close() })
	c3.Set(ctx, "x", "y", 0)

	all := parseInfo(t, rc.Info(ctx).Val())
	for _, sec := range []string{"server", "clients", "memory", "persistence", "stats", "replication", "cpu", "cluster", "keyspace", "namespaces"} {
		if all[sec] == nil {
			t.Errorf("default INFO lacks section %s", sec)
		}
	}
	srv := all["server"]
	if srv["redis_version"] != "7.2.0" || srv["redis_mode"] != "standalone" || srv["granary_version"] == "" {
		t.Errorf("server section = %v", srv)
	}
	_, port, _ := strings.Cut(addr, ":")
	if srv["tcp_port"] != port || srv["process_id"] == "" || srv["uptime_in_seconds"] == "" {
		t.Errorf("server section = %v", srv)
	}
	if n, _ := strconv.Atoi(all["clients"]["connected_clients"]); n < 2 {
		t.Errorf("connected_clients = %q", all["clients"]["connected_clients"])
	}
	mem := all["memory"]
	for _, k := range []string{"used_memory", "used_memory_rss", "maxmemory", "used_memory_peak"} {
		if n, err := strconv.ParseInt(mem[k], 10, 64); err != nil || (n <= 0 && k != "maxmemory") {
			t.Errorf("memory %s = %q", k, mem[k])
		}
	}
	st := all["stats"]
	if st["keyspace_hits"] != "1" || st["keyspace_misses"] != "1" {
		t.Errorf("keyspace hits/misses = %s/%s", st["keyspace_hits"], st["keyspace_misses"])
	}
	if n, _ := strconv.Atoi(st["total_connections_received"]); n < 2 {
		t.Errorf("total_connections_received = %q", st["total_connections_received"])
	}
	if n, _ := strconv.Atoi(st["total_commands_processed"]); n < 5 {
		t.Errorf("total_commands_processed = %q", st["total_commands_processed"])
	}
	if n, _ := strconv.Atoi(st["total_net_input_bytes"]); n <= 0 {
		t.Errorf("total_net_input_bytes = %q", st["total_net_input_bytes"])
	}
	ks := all["keyspace"]
	if ks["db0"] != "keys=2,expires=1,avg_ttl=0" || ks["db3"] != "keys=1,expires=0,avg_ttl=0" {
		t.Errorf("keyspace = %v", ks)
	}
	if all["cluster"]["cluster_enabled"] != "1" {
		t.Errorf("cluster = %v", all["cluster"])
	}
	ns0 := all["namespaces"]["ns0"]
	for _, want := range []string{"hits=1", "misses=1", "items=2", "expires=1", "quota=0"} {
		if !strings.Contains(ns0, want) {
			t.Errorf("ns0 = %q lacks %s", ns0, want)
		}
	}
	if !strings.Contains(all["namespaces"]["ns3"], "items=1") {
		t.Errorf("ns3 = %q", all["namespaces"]["ns3"])
	}

	// Sections by name, several at once, in any case.
	one := parseInfo(t, rc.Info(ctx, "SERVER").Val())
	if len(one) != 1 || one["server"] == nil {
		t.Errorf("INFO server sections = %v", keys(one))
	}
	two := parseInfo(t, rc.Info(ctx, "keyspace", "clients").Val())
	if len(two) != 2 || two["keyspace"] == nil || two["clients"] == nil {
		t.Errorf("INFO keyspace clients sections = %v", keys(two))
	}
	if s := rc.Info(ctx, "bogus").Val(); s != "" {
		t.Errorf("INFO bogus = %q, want empty", s)
	}
	for _, arg := range []string{"all", "everything", "default"} {
		if got := parseInfo(t, rc.Info(ctx, arg).Val()); got["server"] == nil || got["namespaces"] == nil {
			t.Errorf("INFO %s sections = %v", arg, keys(got))
		}
	}

	// RESP3: INFO is a verbatim string go-redis still reads as text.
	r3 := dial3(t, addr)
	if got := parseInfo(t, r3.Info(ctx, "server").Val()); got["server"]["redis_version"] != "7.2.0" {
		t.Errorf("RESP3 INFO server = %v", got)
	}
}

func keys[V any](m map[string]V) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	return out
}

func TestCommand(t *testing.T) {
	addr := newTestServer(t)
	for _, proto := range []int{2, 3} {
		rc := dialProto(t, addr, proto)
		all, err := rc.Command(ctx).Result()
		if err != nil {
			t.Fatalf("proto %d: COMMAND: %v", proto, err)
		}
		n, err := rc.Do(ctx, "COMMAND", "COUNT").Int64()
		if err != nil || int(n) != len(all) {
			t.Fatalf("proto %d: COMMAND COUNT = %d, %v; COMMAND has %d", proto, n, err, len(all))
		}
		get := all["get"]
		if get == nil || get.Arity != 2 || get.FirstKeyPos != 1 || get.LastKeyPos != 1 || get.StepCount != 1 || !get.ReadOnly {
			t.Fatalf("proto %d: COMMAND get = %+v", proto, get)
		}
		if mset := all["mset"]; mset == nil || mset.Arity != -3 || mset.LastKeyPos != -1 || mset.StepCount != 2 {
			t.Fatalf("proto %d: COMMAND mset = %+v", proto, mset)
		}
		for _, name := range []string{"ping", "hello", "client", "cluster", "info", "config", "command", "select"} {
			if all[name] == nil {
				t.Errorf("proto %d: COMMAND lacks %s", proto, name)
			}
		}
		infoCmd := redis.NewCommandsInfoCmd(ctx, "command", "info", "set")
		rc.Process(ctx, infoCmd)
		info, err := infoCmd.Result()
		if err != nil {
			t.Fatalf("proto %d: COMMAND INFO: %v", proto, err)
		}
		if s := info["set"]; s == nil || s.ReadOnly || s.FirstKeyPos != 1 {
			t.Fatalf("proto %d: COMMAND INFO set = %+v", proto, s)
		}
	}

	raw := dialRaw(t, addr)
	// The subcommands of a container are listed with it.
	v := raw.Do("COMMAND", "INFO", "client")
	if v.Kind != '*' || len(v.Elems) != 1 || len(v.Elems[0].Elems) != 10 {
		t.Fatalf("COMMAND INFO client = %v", v)
	}
	subs := v.Elems[0].Elems[9]
	found := false
	for _, s := range subs.Elems {
		found = found || string(s.Elems[0].Str) == "client|setname"
	}
	if !found {
		t.Fatalf("COMMAND INFO client subcommands = %v", subs)
	}
	if v := raw.Do("COMMAND", "INFO", "config|get"); len(v.Elems) != 1 || string(v.Elems[0].Elems[0].Str) != "config|get" {
		t.Fatalf("COMMAND INFO config|get = %v", v)
	}
	if v := raw.Do("COMMAND", "INFO", "nope"); len(v.Elems) != 1 || !v.Elems[0].Null {
		t.Fatalf("COMMAND INFO nope = %v", v)
	}

	for _, tc := range []struct {
		args []string
		want []string // keys, or nil with err
		err  string
	}{
		{[]string{"COMMAND", "GETKEYS", "MSET", "a", "1", "b", "2"}, []string{"a", "b"}, ""},
		{[]string{"COMMAND", "GETKEYS", "get", "k"}, []string{"k"}, ""},
		{[]string{"COMMAND", "GETKEYS", "DEL", "x", "y", "z"}, []string{"x", "y", "z"}, ""},
		{[]string{"COMMAND", "GETKEYS", "nope", "k"}, nil, "ERR Invalid command specified"},
		{[]string{"COMMAND", "GETKEYS", "get", "k", "extra"}, nil, "ERR Invalid number of arguments specified for command"},
		{[]string{"COMMAND", "GETKEYS", "ping", "x"}, nil, "ERR The command has no key arguments"},
		{[]string{"COMMAND", "GETKEYS", "get"}, nil, "ERR Invalid number of arguments specified for command"},
	} {
		v := raw.Do(tc.args...)
		if tc.err != "" {
			if v.Kind != '-' || string(v.Str) != tc.err {
				t.Errorf("%q = %v, want %q", tc.args, v, tc.err)
			}
			continue
		}
		var got []string
		for _, e := range v.Elems {
			got = append(got, string(e.Str))
		}
		if strings.Join(got, ",") != strings.Join(tc.want, ",") {
			t.Errorf("%q = %v, want %v", tc.args, got, tc.want)
		}
	}

	kf, err := dial(t, addr).CommandGetKeysAndFlags(ctx, "mset", "a", "1", "b", "2").Result()
	if err != nil || len(kf) != 2 || kf[1].Key != "b" || kf[1].Flags[0] != "RW" {
		t.Fatalf("COMMAND GETKEYSANDFLAGS mset = %+v, %v", kf, err)
	}

	list := raw.Do("COMMAND", "LIST")
	names := map[string]bool{}
	for _, e := range list.Elems {
		names[string(e.Str)] = true
	}
	if !names["get"] || !names["client|list"] || !names["cluster|slots"] {
		t.Fatalf("COMMAND LIST lacks get/client|list/cluster|slots: %d names", len(names))
	}
	pat := raw.Do("COMMAND", "LIST", "FILTERBY", "PATTERN", "cluster|s*")
	var got []string
	for _, e := range pat.Elems {
		got = append(got, string(e.Str))
	}
	if strings.Join(got, ",") != "cluster|shards,cluster|slots" {
		t.Fatalf("COMMAND LIST FILTERBY PATTERN cluster|s* = %v", got)
	}
	if v := raw.Do("COMMAND", "LIST", "FILTERBY", "ACLCAT", "admin"); len(v.Elems) == 0 {
		t.Fatalf("COMMAND LIST FILTERBY ACLCAT admin = %v", v)
	}
	if v := raw.Do("COMMAND", "LIST", "FILTERBY", "bogus", "x"); v.Kind != '-' {
		t.Fatalf("COMMAND LIST FILTERBY bogus = %v", v)
	}
	if v := raw.Do("COMMAND", "DOCS"); v.Kind != '*' || len(v.Elems) != 0 {
		t.Fatalf("COMMAND DOCS = %v", v)
	}
	if v := raw.Do("COMMAND", "HELP"); v.Kind != '*' || len(v.Elems) < 4 {
		t.Fatalf("COMMAND HELP = %v", v)
	}
	if v := raw.Do("COMMAND", "BOGUS"); v.Kind != '-' || string(v.Str) != "ERR unknown subcommand 'BOGUS'. Try COMMAND HELP." {
		t.Fatalf("COMMAND BOGUS = %v", v)
	}
}

func TestDBSizeTimeFlush(t *testing.T) {
	addr := newTestServer(t)
	c0 := dial(t, addr)
	c1 := redis.NewClient(&redis.Options{Addr: addr, DB: 1})
	t.Cleanup(func() { c1.Close() })
	for i := 0; i < 10; i++ {
		c0.Set(ctx, "k"+strconv.Itoa(i), "v", 0)
	}
	for i := 0; i < 4; i++ {
		c1.Set(ctx, "k"+strconv.Itoa(i), "v", 0)
	}
	if n := c0.DBSize(ctx).Val(); n != 10 {
		t.Fatalf("DBSIZE db0 = %d", n)
	}
	if n := c1.DBSize(ctx).Val(); n != 4 {
		t.Fatalf("DBSIZE db1 = %d", n)
	}

	tm, err := c0.Time(ctx).Result()
	if err != nil || time.Since(tm).Abs() > time.Minute {
		t.Fatalf("TIME = %v, %v", tm, err)
	}

	raw := dialRaw(t, addr)
	for _, args := range [][]string{{"FLUSHDB", "x"}, {"FLUSHALL", "SYNC", "x"}, {"FLUSHALL", "now"}} {
		if v := raw.Do(args...); v.Kind != '-' || string(v.Str) != "ERR syntax error" {
			t.Errorf("%q = %v", args, v)
		}
	}
	if err := c1.FlushDBAsync(ctx).Err(); err != nil {
		t.Fatal(err)
	}
	if n := c1.DBSize(ctx).Val(); n != 0 {
		t.Fatalf("DBSIZE db1 after FLUSHDB = %d", n)
	}
	if n := c0.DBSize(ctx).Val(); n != 10 {
		t.Fatalf("DBSIZE db0 after FLUSHDB in db1 = %d", n)
	}
	c1.Set(ctx, "again", "v", 0)
	if err := c0.FlushAll(ctx).Err(); err != nil {
		t.Fatal(err)
	}
	if n0, n1 := c0.DBSize(ctx).Val(), c1.DBSize(ctx).Val(); n0 != 0 || n1 != 0 {
		t.Fatalf("DBSIZE after FLUSHALL = %d, %d", n0, n1)
	}
}

func TestConfig(t *testing.T) {
	addr := newTestServer(t)
	rc := dial(t, addr)
	for _, proto := range []int{2, 3} {
		c := dialProto(t, addr, proto)
		got, err := c.ConfigGet(ctx, "maxmemory").Result()
		if err != nil || len(got) != 1 || got["maxmemory"] != "0" {
			t.Fatalf("proto %d: CONFIG GET maxmemory = %v, %v", proto, got, err)
		}
	}
	got := rc.ConfigGet(ctx, "*").Val()
	for k, want := range map[string]string{
		"save": "", "appendonly": "no", "databases": "65536", "cluster-enabled": "yes",
		"maxclients": "10000", "proto-max-bulk-len": "536870912", "timeout": "0",
	} {
		if v, ok := got[k]; !ok || v != want {
			t.Errorf("CONFIG GET * [%s] = %q (present %v), want %q", k, v, ok, want)
		}
	}
	if got := rc.ConfigGet(ctx, "max*").Val(); len(got) < 3 || got["maxclients"] == "" || got["save"] != "" {
		t.Errorf("CONFIG GET max* = %v", got)
	}
	if got := rc.Do(ctx, "CONFIG", "GET", "save", "APPENDONLY", "save").Val(); len(got.([]any)) != 4 {
		t.Errorf("CONFIG GET save APPENDONLY save = %v", got)
	}
	if got := rc.ConfigGet(ctx, "nothing*").Val(); len(got) != 0 {
		t.Errorf("CONFIG GET nothing* = %v", got)
	}

	if err := rc.ConfigSet(ctx, "maxmemory", "10mb").Err(); err != nil {
		t.Fatalf("CONFIG SET maxmemory 10mb: %v", err)
	}
	if got := rc.ConfigGet(ctx, "maxmemory").Val()["maxmemory"]; got != strconv.Itoa(10<<20) {
		t.Fatalf("maxmemory after SET = %q", got)
	}
	info := parseInfo(t, rc.Info(ctx, "memory", "namespaces").Val())
	if info["memory"]["maxmemory"] != strconv.Itoa(10<<20) || !strings.Contains(info["namespaces"]["ns0"], "quota="+strconv.Itoa(10<<20)) {
		t.Fatalf("INFO after CONFIG SET maxmemory = %v", info)
	}
	// The quota is per namespace.
	c2 := redis.NewClient(&redis.Options{Addr: addr, DB: 2})
	t.Cleanup(func() { c2.Close() })
	if got := c2.ConfigGet(ctx, "maxmemory").Val()["maxmemory"]; got != "0" {
		t.Fatalf("maxmemory in namespace 2 = %q", got)
	}
	if err := rc.ConfigSet(ctx, "maxmemory", "0").Err(); err != nil {
		t.Fatal(err)
	}

	raw := dialRaw(t, addr)
	for _, tc := range []struct {
		args []string
		want string // "" = OK
	}{
		{[]string{"CONFIG", "SET", "save", ""}, ""},
		{[]string{"CONFIG", "SET", "appendonly", "no"}, ""},
		{[]string{"CONFIG", "SET", "maxmemory", "1gb", "save", ""}, ""},
		{[]string{"CONFIG", "SET", "maxmemory", "0"}, ""},
		{[]string{"CONFIG", "SET", "foo", "bar"}, "ERR Unknown option or number of arguments for CONFIG SET - 'foo'"},
		{[]string{"CONFIG", "SET", "maxmemory", "lots"}, "ERR CONFIG SET failed (possibly related to argument 'maxmemory') - argument must be a memory value"},
		{[]string{"CONFIG", "SET", "maxmemory", "-1"}, "ERR CONFIG SET failed (possibly related to argument 'maxmemory') - argument must be a memory value"},
		{[]string{"CONFIG", "SET", "maxmemory"}, "ERR wrong number of arguments for 'config|set' command"},
		{[]string{"CONFIG", "SET", "maxmemory", "1", "save"}, "ERR wrong number of arguments for 'config|set' command"},
		{[]string{"CONFIG", "GET"}, "ERR wrong number of arguments for 'config|get' command"},
		{[]string{"CONFIG", "REWRITE"}, "ERR The server is running without a config file"},
		{[]string{"CONFIG", "RESETSTAT"}, ""},
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

	// RESETSTAT clears the namespace counters.
	rc.Get(ctx, "missing")
	rc.ConfigResetStat(ctx)
	if st := parseInfo(t, rc.Info(ctx, "stats").Val())["stats"]; st["keyspace_misses"] != "0" || st["keyspace_hits"] != "0" {
		t.Fatalf("stats after RESETSTAT = %v", st)
	}
}
