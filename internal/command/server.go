package command

import (
	"sort"
	"strconv"
	"strings"
	"time"

	"granary/internal/glob"
	"granary/internal/namespace"
)

// The server family: COMMAND DBSIZE TIME CONFIG FLUSHDB FLUSHALL (INFO is in
// info.go).

var commandSubs = map[string]*Spec{
	"count":   {Name: "command|count", Arity: 2, Flags: FlagStale, Handler: cmdCommandCount},
	"info":    {Name: "command|info", Arity: -2, Flags: FlagStale, Handler: cmdCommandInfo},
	"docs":    {Name: "command|docs", Arity: -2, Flags: FlagStale, Handler: cmdCommandDocs},
	"list":    {Name: "command|list", Arity: -2, Flags: FlagStale, Handler: cmdCommandList},
	"getkeys": {Name: "command|getkeys", Arity: -3, Flags: FlagStale, Handler: cmdCommandGetKeys},
	"getkeysandflags": {Name: "command|getkeysandflags", Arity: -3, Flags: FlagStale,
		Handler: cmdCommandGetKeysAndFlags},
	"help": {Name: "command|help", Arity: 2, Flags: FlagStale, Handler: cmdCommandHelp},
}

var configSubs = map[string]*Spec{
	"get":       {Name: "config|get", Arity: -3, Flags: FlagAdmin | FlagStale, Handler: cmdConfigGet},
	"set":       {Name: "config|set", Arity: -4, Flags: FlagAdmin | FlagStale, Handler: cmdConfigSet},
	"resetstat": {Name: "config|resetstat", Arity: 2, Flags: FlagAdmin | FlagStale, Handler: cmdConfigResetStat},
	"rewrite":   {Name: "config|rewrite", Arity: 2, Flags: FlagAdmin | FlagStale, Handler: cmdConfigRewrite},
	"help":      {Name: "config|help", Arity: 2, Flags: FlagStale, Handler: cmdConfigHelp},
}

func init() {
	register(
		// COMMAND alone lists every command; with a subcommand it runs that.
		&Spec{Name: "command", Arity: -1, Flags: FlagStale, Handler: cmdCommand, Subs: commandSubs},
		&Spec{Name: "dbsize", Arity: 1, Flags: FlagRead | FlagFast, Handler: cmdDBSize},
		&Spec{Name: "time", Arity: 1, Flags: FlagFast | FlagStale, Handler: cmdTime},
		&Spec{Name: "config", Arity: -2, Flags: FlagAdmin, Subs: configSubs},
		&Spec{Name: "flushdb", Arity: -1, Flags: FlagWrite, Handler: cmdFlushDB},
		&Spec{Name: "flushall", Arity: -1, Flags: FlagWrite | FlagDangerous, Handler: cmdFlushAll},
	)
}

// commandTips are Redis 7.2's command tips for the commands Granary has.
// Cluster clients (go-redis) route by them: a multi_shard command is split by
// slot, an all_shards one is sent to every primary.
var commandTips = map[string][]string{
	"del":                     {"request_policy:multi_shard", "response_policy:agg_sum"},
	"unlink":                  {"request_policy:multi_shard", "response_policy:agg_sum"},
	"exists":                  {"request_policy:multi_shard", "response_policy:agg_sum"},
	"touch":                   {"request_policy:multi_shard", "response_policy:agg_sum"},
	"mget":                    {"request_policy:multi_shard"},
	"mset":                    {"request_policy:multi_shard", "response_policy:all_succeeded"},
	"dbsize":                  {"request_policy:all_shards", "response_policy:agg_sum"},
	"flushdb":                 {"request_policy:all_shards", "response_policy:all_succeeded"},
	"flushall":                {"request_policy:all_shards", "response_policy:all_succeeded"},
	"keys":                    {"request_policy:all_shards", "nondeterministic_output_order"},
	"scan":                    {"nondeterministic_output", "request_policy:special"},
	"randomkey":               {"request_policy:all_shards", "response_policy:special", "nondeterministic_output"},
	"ping":                    {"request_policy:all_shards", "response_policy:all_succeeded"},
	"info":                    {"nondeterministic_output", "request_policy:all_shards", "response_policy:special"},
	"time":                    {"nondeterministic_output"},
	"ttl":                     {"nondeterministic_output"},
	"pttl":                    {"nondeterministic_output"},
	"hgetall":                 {"nondeterministic_output_order"},
	"hkeys":                   {"nondeterministic_output_order"},
	"hvals":                   {"nondeterministic_output_order"},
	"hscan":                   {"nondeterministic_output"},
	"config|set":              {"request_policy:all_nodes", "response_policy:all_succeeded"},
	"config|resetstat":        {"request_policy:all_nodes", "response_policy:all_succeeded"},
	"config|rewrite":          {"request_policy:all_nodes", "response_policy:all_succeeded"},
	"client|id":               {"nondeterministic_output"},
	"client|info":             {"nondeterministic_output"},
	"client|list":             {"nondeterministic_output"},
	"cluster|info":            {"nondeterministic_output"},
	"cluster|nodes":           {"nondeterministic_output"},
	"cluster|slots":           {"nondeterministic_output"},
	"cluster|shards":          {"nondeterministic_output"},
	"cluster|countkeysinslot": {"nondeterministic_output"},
	"cluster|getkeysinslot":   {"nondeterministic_output"},
}

// flagNames maps flags to the names COMMAND reports.
var flagNames = []struct {
	f    Flag
	name string
}{
	{FlagWrite, "write"}, {FlagRead, "readonly"}, {FlagAdmin, "admin"},
	{FlagNoAuth, "no_auth"}, {FlagStale, "stale"}, {FlagFast, "fast"},
}

func specFlags(sp *Spec) []string {
	var out []string
	for _, fn := range flagNames {
		if sp.Flags&fn.f != 0 {
			out = append(out, fn.name)
		}
	}
	return out
}

// specCategories derives ACL categories from the flags.
func specCategories(sp *Spec) []string {
	var out []string
	if sp.Flags&FlagWrite != 0 {
		out = append(out, "@write")
	}
	if sp.Flags&FlagRead != 0 {
		out = append(out, "@read")
	}
	if sp.Flags&FlagAdmin != 0 {
		out = append(out, "@admin", "@dangerous")
	} else if sp.Flags&FlagDangerous != 0 {
		out = append(out, "@dangerous")
	}
	if sp.FirstKey > 0 {
		out = append(out, "@keyspace")
	}
	if sp.Flags&FlagFast != 0 {
		out = append(out, "@fast")
	} else {
		out = append(out, "@slow")
	}
	return out
}

// writeCommandInfo writes one command's COMMAND INFO entry in Redis 7's shape:
// name, arity, flags, first key, last key, step, ACL categories, tips, key
// specs, subcommands.
func writeCommandInfo(c *Ctx, sp *Spec) {
	w := c.W
	w.Array(10)
	w.BulkString(sp.Name)
	w.Int(int64(sp.Arity))
	flags := specFlags(sp)
	w.Set(len(flags))
	for _, f := range flags {
		w.Simple(f)
	}
	w.Int(int64(sp.FirstKey))
	w.Int(int64(sp.LastKey))
	w.Int(int64(sp.Step))
	cats := specCategories(sp)
	w.Set(len(cats))
	for _, cat := range cats {
		w.Simple(cat)
	}
	tips := commandTips[sp.Name]
	w.Set(len(tips))
	for _, t := range tips {
		w.Simple(t)
	}
	// Key specs: one range spec equivalent to first/last/step.
	if sp.FirstKey > 0 {
		w.Set(1)
		w.Map(3)
		w.BulkString("flags")
		var kf []string
		switch {
		case sp.Flags&FlagWrite != 0:
			kf = []string{"RW", "update"}
		default:
			kf = []string{"RO", "access"}
		}
		w.Set(len(kf))
		for _, f := range kf {
			w.Simple(f)
		}
		w.BulkString("begin_search")
		w.Map(2)
		w.BulkString("type")
		w.BulkString("index")
		w.BulkString("spec")
		w.Map(1)
		w.BulkString("index")
		w.Int(int64(sp.FirstKey))
		w.BulkString("find_keys")
		w.Map(2)
		w.BulkString("type")
		w.BulkString("range")
		w.BulkString("spec")
		w.Map(3)
		last := sp.LastKey
		if last >= 0 {
			last -= sp.FirstKey
		}
		w.BulkString("lastkey")
		w.Int(int64(last))
		w.BulkString("keystep")
		w.Int(int64(max(sp.Step, 1)))
		w.BulkString("limit")
		w.Int(0)
	} else {
		w.Set(0)
	}
	subs := sortedSubs(sp)
	w.Set(len(subs))
	for _, s := range subs {
		writeCommandInfo(c, s)
	}
}

func sortedSubs(sp *Spec) []*Spec {
	out := make([]*Spec, 0, len(sp.Subs))
	for _, s := range sp.Subs {
		out = append(out, s)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// lookupFull finds a command or a "container|sub" subcommand by name.
func lookupFull(name []byte) *Spec {
	if i := strings.IndexByte(string(name), '|'); i >= 0 {
		sp := Lookup(name[:i])
		if sp == nil || sp.Subs == nil {
			return nil
		}
		return sp.Subs[strings.ToLower(string(name[i+1:]))]
	}
	return Lookup(name)
}

// COMMAND
func cmdCommand(c *Ctx) {
	all := Specs()
	c.W.Array(len(all))
	for _, sp := range all {
		writeCommandInfo(c, sp)
	}
}

// COMMAND COUNT
func cmdCommandCount(c *Ctx) { c.W.Int(int64(len(Specs()))) }

// COMMAND INFO [name ...]
func cmdCommandInfo(c *Ctx) {
	if len(c.Args) == 2 {
		cmdCommand(c)
		return
	}
	c.W.Array(len(c.Args) - 2)
	for _, name := range c.Args[2:] {
		if sp := lookupFull(name); sp != nil {
			writeCommandInfo(c, sp)
		} else {
			c.W.Null()
		}
	}
}

// COMMAND DOCS [name ...]: Granary keeps no documentation; an empty map tells
// clients (redis-cli) to use their own.
func cmdCommandDocs(c *Ctx) { c.W.Map(0) }

// COMMAND LIST [FILTERBY MODULE name | ACLCAT category | PATTERN pattern]
func cmdCommandList(c *Ctx) {
	var filter func(sp *Spec) bool
	switch len(c.Args) {
	case 2:
	case 5:
		if !eqFold(c.Args[2], "filterby") {
			c.Err(errSyntax)
			return
		}
		arg := string(c.Args[4])
		switch {
		case eqFold(c.Args[3], "module"):
			filter = func(*Spec) bool { return false }
		case eqFold(c.Args[3], "aclcat"):
			cat := "@" + strings.ToLower(arg)
			filter = func(sp *Spec) bool {
				for _, x := range specCategories(sp) {
					if x == cat {
						return true
					}
				}
				return false
			}
		case eqFold(c.Args[3], "pattern"):
			filter = func(sp *Spec) bool { return globMatch(arg, sp.Name, true) }
		default:
			c.Err(errSyntax)
			return
		}
	default:
		c.Err(errSyntax)
		return
	}
	var names []string
	for _, sp := range Specs() {
		if filter == nil || filter(sp) {
			names = append(names, sp.Name)
		}
		for _, sub := range sortedSubs(sp) {
			if filter == nil || filter(sub) {
				names = append(names, sub.Name)
			}
		}
	}
	c.W.Array(len(names))
	for _, n := range names {
		c.W.BulkString(n)
	}
}

// getKeys resolves COMMAND GETKEYS' command and returns its key positions, or
// writes an error.
func getKeys(c *Ctx) (*Spec, []int, bool) {
	args := c.Args[2:]
	sp := Lookup(args[0])
	if sp != nil && sp.Subs != nil && len(args) >= 2 {
		sp = sp.Subs[strings.ToLower(string(args[1]))]
	}
	if sp == nil {
		c.Err("ERR Invalid command specified")
		return nil, nil, false
	}
	if (sp.Arity > 0 && len(args) != sp.Arity) || (sp.Arity < 0 && len(args) < -sp.Arity) {
		c.Err("ERR Invalid number of arguments specified for command")
		return nil, nil, false
	}
	first, last, step := sp.keyRange(len(args))
	var pos []int
	if first > 0 {
		for i := first; i <= last; i += step {
			pos = append(pos, i)
		}
	}
	if len(pos) == 0 {
		c.Err("ERR The command has no key arguments")
		return nil, nil, false
	}
	return sp, pos, true
}

// COMMAND GETKEYS command [arg ...]
func cmdCommandGetKeys(c *Ctx) {
	_, pos, ok := getKeys(c)
	if !ok {
		return
	}
	c.W.Array(len(pos))
	for _, p := range pos {
		c.W.Bulk(c.Args[2+p])
	}
}

// COMMAND GETKEYSANDFLAGS command [arg ...]
func cmdCommandGetKeysAndFlags(c *Ctx) {
	sp, pos, ok := getKeys(c)
	if !ok {
		return
	}
	flag := []string{"RO", "access"}
	if sp.Flags&FlagWrite != 0 {
		flag = []string{"RW", "update"}
	}
	c.W.Array(len(pos))
	for _, p := range pos {
		c.W.Array(2)
		c.W.Bulk(c.Args[2+p])
		c.W.Set(len(flag))
		for _, f := range flag {
			c.W.Simple(f)
		}
	}
}

// COMMAND HELP
func cmdCommandHelp(c *Ctx) {
	writeHelp(c, "COMMAND",
		"(no subcommand)",
		"    Return details about all commands.",
		"COUNT",
		"    Return the total number of commands in this server.",
		"LIST",
		"    Return a list of all commands in this server.",
		"INFO [<command-name> ...]",
		"    Return details about multiple commands.",
		"    If no command names are given, documentation details for all",
		"    commands are returned.",
		"DOCS [<command-name> ...]",
		"    Return documentation details about multiple commands.",
		"    If no command names are given, documentation details for all",
		"    commands are returned.",
		"GETKEYS <full-command>",
		"    Return the keys from a full command.",
		"GETKEYSANDFLAGS <full-command>",
		"    Return the keys and the access flags from a full command.",
	)
}

// DBSIZE: items in the current namespace.
func cmdDBSize(c *Ctx) { c.W.Int(c.Engine().Stats().Items) }

// TIME
func cmdTime(c *Ctx) {
	now := time.Now()
	c.W.Array(2)
	c.W.BulkInt(now.Unix())
	c.W.BulkInt(int64(now.Nanosecond() / 1000))
}

// flushArgs checks FLUSHDB/FLUSHALL's optional ASYNC|SYNC.
func flushArgs(c *Ctx) bool {
	switch {
	case len(c.Args) == 1:
	case len(c.Args) == 2 && (eqFold(c.Args[1], "async") || eqFold(c.Args[1], "sync")):
	default:
		c.Err(errSyntax)
		return false
	}
	return true
}

// FLUSHDB [ASYNC|SYNC]: empties the current namespace.
func cmdFlushDB(c *Ctx) {
	if !flushArgs(c) {
		return
	}
	mark := c.W.Mark()
	flush(c, c.NS)
	c.W.OK()
	c.trackFlush(mark)
}

// FLUSHALL [ASYNC|SYNC]: empties every namespace.
func cmdFlushAll(c *Ctx) {
	if !flushArgs(c) {
		return
	}
	mark := c.W.Mark()
	c.N.Namespaces.Each(func(ns *namespace.Namespace) { flush(c, ns) })
	c.W.OK()
	c.trackFlush(mark)
}

// configParam is one parameter CONFIG GET answers.
type configParam struct {
	name string
	get  func(c *Ctx) string
}

func constParam(name, v string) configParam {
	return configParam{name, func(*Ctx) string { return v }}
}

// configParams are the parameters CONFIG GET knows, in the order it lists them.
var configParams = []configParam{
	{"maxmemory", func(c *Ctx) string { return strconv.FormatInt(c.Engine().Stats().Quota, 10) }},
	constParam("maxmemory-policy", "allkeys-lru"),
	constParam("maxmemory-samples", "5"),
	{"maxclients", func(c *Ctx) string { return strconv.Itoa(c.N.Config.MaxClients) }},
	{"proto-max-bulk-len", func(c *Ctx) string { return strconv.Itoa(protoMaxBulk(c)) }},
	{"port", func(c *Ctx) string { return strconv.Itoa(c.N.Config.Port) }},
	constParam("timeout", "0"),
	constParam("tcp-keepalive", "300"),
	constParam("databases", "65536"),
	constParam("save", ""),
	constParam("appendonly", "no"),
	constParam("appendfsync", "everysec"),
	constParam("cluster-enabled", "yes"),
	constParam("cluster-node-timeout", "15000"),
	constParam("cluster-require-full-coverage", "yes"),
	constParam("hz", "10"),
	constParam("notify-keyspace-events", ""),
	constParam("client-query-buffer-limit", "1073741824"),
	constParam("lazyfree-lazy-user-flush", "no"),
	constParam("slowlog-log-slower-than", "10000"),
	constParam("slowlog-max-len", "128"),
	{"tracking-table-max-keys", func(c *Ctx) string { return strconv.FormatInt(c.N.Tracking.MaxKeys(), 10) }},
}

func protoMaxBulk(c *Ctx) int {
	if n := c.N.Config.ProtoMaxBulk; n > 0 {
		return n
	}
	return 512 << 20
}

// CONFIG GET parameter [parameter ...]
func cmdConfigGet(c *Ctx) {
	var out []configParam
	seen := map[string]bool{}
	for _, pat := range c.Args[2:] {
		p := strings.ToLower(string(pat))
		for _, cp := range configParams {
			if !seen[cp.name] && globMatch(p, cp.name, true) {
				seen[cp.name] = true
				out = append(out, cp)
			}
		}
	}
	c.W.Map(len(out))
	for _, cp := range out {
		c.W.BulkString(cp.name)
		c.W.BulkString(cp.get(c))
	}
}

// CONFIG SET parameter value [parameter value ...]: maxmemory sets the current
// namespace's quota, tracking-table-max-keys the bound of client-side
// caching's table; other known parameters accept only their current value.
func cmdConfigSet(c *Ctx) {
	if len(c.Args)%2 != 0 {
		c.Err(wrongArgs("config|set"))
		return
	}
	quota, maxKeys := int64(-1), int64(-1)
	for i := 2; i < len(c.Args); i += 2 {
		name := strings.ToLower(string(c.Args[i]))
		val := string(c.Args[i+1])
		var cp *configParam
		for j := range configParams {
			if configParams[j].name == name {
				cp = &configParams[j]
			}
		}
		if cp == nil {
			c.Err("ERR Unknown option or number of arguments for CONFIG SET - '" + string(clip(c.Args[i])) + "'")
			return
		}
		if name == "tracking-table-max-keys" {
			n, ok := parseInt(c.Args[i+1])
			if !ok || n < 0 || c.N.Tracking == nil {
				c.Err("ERR CONFIG SET failed (possibly related to argument 'tracking-table-max-keys') - argument couldn't be parsed into an integer")
				return
			}
			maxKeys = n
			continue
		}
		if name == "maxmemory" {
			n, ok := parseMemory(val)
			if !ok {
				c.Err("ERR CONFIG SET failed (possibly related to argument 'maxmemory') - argument must be a memory value")
				return
			}
			quota = n
			continue
		}
		if !strings.EqualFold(val, cp.get(c)) {
			c.Err("ERR CONFIG SET failed (possibly related to argument '" + name + "') - Granary does not support changing it")
			return
		}
	}
	if quota >= 0 {
		c.Engine().SetQuota(quota)
	}
	if maxKeys >= 0 {
		c.N.Tracking.SetMaxKeys(maxKeys)
	}
	c.W.OK()
}

// parseMemory parses a Redis memory value: bytes with an optional unit
// (k, kb, m, mb, g, gb; case-insensitive).
func parseMemory(s string) (int64, bool) {
	l := strings.ToLower(s)
	mul := int64(1)
	for _, u := range []struct {
		suf string
		m   int64
	}{{"gb", 1 << 30}, {"mb", 1 << 20}, {"kb", 1 << 10}, {"g", 1e9}, {"m", 1e6}, {"k", 1e3}, {"b", 1}} {
		if strings.HasSuffix(l, u.suf) {
			l, mul = l[:len(l)-len(u.suf)], u.m
			break
		}
	}
	n, ok := parseInt([]byte(l))
	if !ok || n < 0 || n > (1<<62)/mul {
		return 0, false
	}
	return n * mul, true
}

// CONFIG RESETSTAT: clears every namespace's operation counters.
func cmdConfigResetStat(c *Ctx) {
	c.S.Counts = namespace.Counts{}
	c.N.Namespaces.Each(func(ns *namespace.Namespace) {
		ns.Stats.Reads.Store(0)
		ns.Stats.Writes.Store(0)
		ns.Stats.Others.Store(0)
		ns.Stats.Hits.Store(0)
		ns.Stats.Misses.Store(0)
	})
	c.W.OK()
}

// CONFIG REWRITE
func cmdConfigRewrite(c *Ctx) { c.Err("ERR The server is running without a config file") }

// CONFIG HELP
func cmdConfigHelp(c *Ctx) {
	writeHelp(c, "CONFIG",
		"GET <pattern>",
		"    Return parameters matching the glob-like <pattern> and their values.",
		"SET <directive> <value>",
		"    Set the configuration <directive> to <value>.",
		"RESETSTAT",
		"    Reset statistics reported by the INFO command.",
		"REWRITE",
		"    Rewrite the configuration file.",
	)
}

// globMatch matches s against a Redis glob pattern.
func globMatch(pattern, s string, nocase bool) bool {
	return glob.Match([]byte(pattern), []byte(s), nocase)
}
