package command

import (
	"fmt"
	"os"
	"runtime"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"time"

	"granary/internal/engine"
	"granary/internal/namespace"
)

func init() {
	register(&Spec{Name: "info", Arity: -1, Flags: FlagStale | FlagDangerous, Handler: cmdInfo})
}

// infoSections are INFO's sections in the order Redis prints them, and
// whether "default" includes them.
var infoSections = []struct {
	name  string
	title string
	dflt  bool
	write func(b *strings.Builder, c *Ctx, st *infoState)
}{
	{"server", "Server", true, infoServer},
	{"clients", "Clients", true, infoClients},
	{"memory", "Memory", true, infoMemory},
	{"persistence", "Persistence", true, infoPersistence},
	{"stats", "Stats", true, infoStats},
	{"replication", "Replication", true, infoReplication},
	{"cpu", "CPU", true, infoCPU},
	{"modules", "Modules", true, func(*strings.Builder, *Ctx, *infoState) {}},
	{"errorstats", "Errorstats", true, func(*strings.Builder, *Ctx, *infoState) {}},
	{"cluster", "Cluster", true, infoCluster},
	{"keyspace", "Keyspace", true, infoKeyspace},
	{"namespaces", "Namespaces", true, infoNamespaces},
}

// peakMemory is the highest used_memory INFO has seen.
var peakMemory atomic.Int64

// infoState is gathered once per INFO: namespace statistics and the engines'.
type infoState struct {
	ns     []*namespace.Namespace
	eng    []engine.Stats
	mem    *runtime.MemStats
	totals struct {
		reads, writes, others, hits, misses uint64
		evictions, expirations              uint64
		bytes                               int64
	}
}

func (st *infoState) memStats() *runtime.MemStats {
	if st.mem == nil {
		st.mem = new(runtime.MemStats)
		runtime.ReadMemStats(st.mem)
	}
	return st.mem
}

// INFO [section [section ...]]
func cmdInfo(c *Ctx) {
	want := map[string]bool{}
	all := false
	if len(c.Args) == 1 {
		want["default"] = true
	}
	for _, a := range c.Args[1:] {
		s := strings.ToLower(string(a))
		if s == "all" || s == "everything" {
			all = true
		}
		want[s] = true
	}
	// Make this connection's counts visible to its own INFO.
	c.NS.Stats.Add(&c.S.Counts)
	st := &infoState{}
	c.N.Namespaces.Each(func(ns *namespace.Namespace) {
		es := ns.Engine.Stats()
		st.ns = append(st.ns, ns)
		st.eng = append(st.eng, es)
		t := &st.totals
		t.reads += ns.Stats.Reads.Load()
		t.writes += ns.Stats.Writes.Load()
		t.others += ns.Stats.Others.Load()
		t.hits += ns.Stats.Hits.Load()
		t.misses += ns.Stats.Misses.Load()
		t.evictions += es.Evictions
		t.expirations += es.Expirations
		t.bytes += es.Bytes
	})
	var b strings.Builder
	for _, sec := range infoSections {
		if !(all || want[sec.name] || (want["default"] && sec.dflt)) {
			continue
		}
		if b.Len() > 0 {
			b.WriteString("\r\n")
		}
		b.WriteString("# " + sec.title + "\r\n")
		sec.write(&b, c, st)
	}
	c.W.Verbatim(b.String())
}

func line(b *strings.Builder, k string, v any) {
	b.WriteString(k)
	b.WriteByte(':')
	switch v := v.(type) {
	case string:
		b.WriteString(v)
	case int:
		b.WriteString(strconv.Itoa(v))
	case int64:
		b.WriteString(strconv.FormatInt(v, 10))
	case uint64:
		b.WriteString(strconv.FormatUint(v, 10))
	case float64:
		b.WriteString(strconv.FormatFloat(v, 'f', 2, 64))
	default:
		fmt.Fprint(b, v)
	}
	b.WriteString("\r\n")
}

func infoServer(b *strings.Builder, c *Ctx, _ *infoState) {
	mode := "cluster"
	if c.N.Config.Standalone {
		mode = "standalone"
	}
	now := time.Now()
	up := int64(0)
	if !c.N.Started.IsZero() {
		up = int64(now.Sub(c.N.Started) / time.Second)
	}
	exe, _ := os.Executable()
	line(b, "redis_version", redisVersion)
	line(b, "redis_git_sha1", "00000000")
	line(b, "redis_git_dirty", 0)
	line(b, "redis_build_id", "0")
	line(b, "redis_mode", mode)
	line(b, "granary_version", Version)
	line(b, "go_version", runtime.Version())
	line(b, "os", runtime.GOOS+" "+runtime.GOARCH)
	line(b, "arch_bits", strconv.Itoa(32<<(^uint(0)>>63)))
	line(b, "multiplexing_api", "go")
	line(b, "process_id", os.Getpid())
	line(b, "process_supervised", "no")
	line(b, "run_id", c.N.ID)
	line(b, "tcp_port", c.N.Config.Port)
	line(b, "server_time_usec", now.UnixMicro())
	line(b, "uptime_in_seconds", up)
	line(b, "uptime_in_days", up/86400)
	line(b, "hz", 10)
	line(b, "configured_hz", 10)
	line(b, "executable", exe)
	line(b, "config_file", "")
	line(b, "io_threads_active", 0)
}

func infoClients(b *strings.Builder, c *Ctx, _ *infoState) {
	var cs ConnStats
	if c.N.Host != nil {
		cs = c.N.Host.ConnStats()
	}
	line(b, "connected_clients", cs.Connected)
	line(b, "event_loops", cs.EventLoops)
	line(b, "event_loop_clients", cs.LoopClients)
	line(b, "event_loop_handoffs", cs.HandOffs)
	line(b, "cluster_connections", 0)
	line(b, "maxclients", c.N.Config.MaxClients)
	line(b, "client_recent_max_input_buffer", 0)
	line(b, "client_recent_max_output_buffer", 0)
	line(b, "blocked_clients", 0)
	line(b, "tracking_clients", c.N.Tracking.Stats().Clients)
	line(b, "clients_in_timeout_table", 0)
	line(b, "total_blocking_keys", 0)
	line(b, "total_blocking_keys_on_nokey", 0)
}

// human formats bytes as Redis' bytesToHuman.
func human(n int64) string {
	f := float64(n)
	switch {
	case n < 1024:
		return strconv.FormatInt(n, 10) + "B"
	case n < 1<<20:
		return strconv.FormatFloat(f/(1<<10), 'f', 2, 64) + "K"
	case n < 1<<30:
		return strconv.FormatFloat(f/(1<<20), 'f', 2, 64) + "M"
	case n < 1<<40:
		return strconv.FormatFloat(f/(1<<30), 'f', 2, 64) + "G"
	default:
		return strconv.FormatFloat(f/(1<<40), 'f', 2, 64) + "T"
	}
}

// rss returns the process's resident set size from /proc/self/statm.
func rss() int64 {
	b, err := os.ReadFile("/proc/self/statm")
	if err != nil {
		return 0
	}
	f := strings.Fields(string(b))
	if len(f) < 2 {
		return 0
	}
	pages, _ := strconv.ParseInt(f[1], 10, 64)
	return pages * int64(os.Getpagesize())
}

// totalMemory returns MemTotal from /proc/meminfo.
func totalMemory() int64 {
	b, err := os.ReadFile("/proc/meminfo")
	if err != nil {
		return 0
	}
	for _, l := range strings.Split(string(b), "\n") {
		if rest, ok := strings.CutPrefix(l, "MemTotal:"); ok {
			f := strings.Fields(rest)
			if len(f) > 0 {
				kb, _ := strconv.ParseInt(f[0], 10, 64)
				return kb << 10
			}
		}
	}
	return 0
}

func infoMemory(b *strings.Builder, c *Ctx, st *infoState) {
	ms := st.memStats()
	// used_memory is what the Go runtime has in use (heap and stacks) plus
	// what the engines account for outside the Go heap, if anything.
	goUsed := int64(ms.HeapAlloc + ms.StackInuse)
	used := max(goUsed, st.totals.bytes)
	peak := peakMemory.Load()
	for used > peak && !peakMemory.CompareAndSwap(peak, used) {
		peak = peakMemory.Load()
	}
	peak = max(peak, used)
	r := rss()
	quota := c.Engine().Stats().Quota
	line(b, "used_memory", used)
	line(b, "used_memory_human", human(used))
	line(b, "used_memory_rss", r)
	line(b, "used_memory_rss_human", human(r))
	line(b, "used_memory_peak", peak)
	line(b, "used_memory_peak_human", human(peak))
	line(b, "used_memory_dataset", st.totals.bytes)
	line(b, "used_memory_engines", st.totals.bytes)
	line(b, "used_memory_go_heap", int64(ms.HeapAlloc))
	line(b, "used_memory_go_sys", int64(ms.Sys))
	line(b, "go_gc_count", uint64(ms.NumGC))
	line(b, "go_gc_pause_total_ns", ms.PauseTotalNs)
	tm := totalMemory()
	line(b, "total_system_memory", tm)
	line(b, "total_system_memory_human", human(tm))
	line(b, "maxmemory", quota)
	line(b, "maxmemory_human", human(quota))
	line(b, "maxmemory_policy", "allkeys-lru")
	frag := 0.0
	if used > 0 {
		frag = float64(r) / float64(used)
	}
	line(b, "mem_fragmentation_ratio", frag)
	line(b, "mem_allocator", "go-"+runtime.Version())
	line(b, "lazyfree_pending_objects", 0)
}

func infoPersistence(b *strings.Builder, c *Ctx, _ *infoState) {
	line(b, "loading", 0)
	line(b, "async_loading", 0)
	line(b, "current_cow_peak", 0)
	line(b, "rdb_changes_since_last_save", 0)
	line(b, "rdb_bgsave_in_progress", 0)
	line(b, "rdb_last_save_time", c.N.Started.Unix())
	line(b, "rdb_last_bgsave_status", "ok")
	line(b, "aof_enabled", 0)
	line(b, "aof_rewrite_in_progress", 0)
	line(b, "aof_last_bgrewrite_status", "ok")
	line(b, "aof_last_write_status", "ok")
}

func infoStats(b *strings.Builder, c *Ctx, st *infoState) {
	var cs ConnStats
	if c.N.Host != nil {
		cs = c.N.Host.ConnStats()
	}
	t := &st.totals
	line(b, "total_connections_received", cs.Total)
	line(b, "total_commands_processed", t.reads+t.writes+t.others)
	line(b, "instantaneous_ops_per_sec", 0)
	line(b, "total_net_input_bytes", cs.NetIn)
	line(b, "total_net_output_bytes", cs.NetOut)
	line(b, "instantaneous_input_kbps", 0.0)
	line(b, "instantaneous_output_kbps", 0.0)
	line(b, "rejected_connections", cs.Rejected)
	line(b, "expired_keys", t.expirations)
	line(b, "evicted_keys", t.evictions)
	line(b, "evicted_clients", 0)
	line(b, "keyspace_hits", t.hits)
	line(b, "keyspace_misses", t.misses)
	line(b, "pubsub_channels", 0)
	line(b, "pubsub_patterns", 0)
	line(b, "pubsubshard_channels", 0)
	line(b, "latest_fork_usec", 0)
	line(b, "total_forks", 0)
	line(b, "migrate_cached_sockets", 0)
	ts := c.N.Tracking.Stats()
	line(b, "tracking_total_keys", ts.Keys)
	line(b, "tracking_total_items", ts.Items)
	line(b, "tracking_total_prefixes", ts.Prefixes)
	line(b, "tracking_invalidations", ts.Invalidations)
	line(b, "tracking_evicted_keys", ts.Evicted)
	// Redis' names; a namespace denial is Granary's own (Redis denies keys).
	as := c.N.ACLStats()
	line(b, "acl_access_denied_auth", as.AuthFailures.Load())
	line(b, "acl_access_denied_cmd", as.DeniedCmd.Load())
	line(b, "acl_access_denied_namespace", as.DeniedNS.Load())
}

func infoReplication(b *strings.Builder, c *Ctx, _ *infoState) {
	line(b, "role", "master")
	line(b, "connected_slaves", 0)
	line(b, "master_failover_state", "no-failover")
	line(b, "master_replid", c.N.ID)
	line(b, "master_replid2", "0000000000000000000000000000000000000000")
	line(b, "master_repl_offset", 0)
	line(b, "second_repl_offset", -1)
	line(b, "repl_backlog_active", 0)
	line(b, "repl_backlog_size", 0)
	line(b, "repl_backlog_first_byte_offset", 0)
	line(b, "repl_backlog_histlen", 0)
}

func infoCPU(b *strings.Builder, _ *Ctx, _ *infoState) {
	var ru syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &ru) != nil {
		return
	}
	tv := func(t syscall.Timeval) string {
		return strconv.FormatFloat(float64(t.Sec)+float64(t.Usec)/1e6, 'f', 6, 64)
	}
	line(b, "used_cpu_sys", tv(ru.Stime))
	line(b, "used_cpu_user", tv(ru.Utime))
	line(b, "used_cpu_sys_children", "0.000000")
	line(b, "used_cpu_user_children", "0.000000")
}

func infoCluster(b *strings.Builder, _ *Ctx, _ *infoState) {
	line(b, "cluster_enabled", 1)
}

func infoKeyspace(b *strings.Builder, _ *Ctx, st *infoState) {
	for i, ns := range st.ns {
		es := st.eng[i]
		if es.Items == 0 {
			continue
		}
		fmt.Fprintf(b, "db%d:keys=%d,expires=%d,avg_ttl=0\r\n", ns.ID, es.Items, es.ItemsExpire)
	}
}

// infoNamespaces is Granary's own section: each namespace's operations,
// outcomes, memory and flow control (limits per second, 0: none, and the
// requests refused by them).
func infoNamespaces(b *strings.Builder, _ *Ctx, st *infoState) {
	for i, ns := range st.ns {
		es := st.eng[i]
		maxOps, maxBytes := ns.Limits().Max()
		fmt.Fprintf(b, "ns%d:reads=%d,writes=%d,others=%d,hits=%d,misses=%d,evictions=%d,expirations=%d,items=%d,expires=%d,bytes=%d,quota=%d,throttled=%d,max_ops=%d,max_bytes=%d\r\n",
			ns.ID, ns.Stats.Reads.Load(), ns.Stats.Writes.Load(), ns.Stats.Others.Load(),
			ns.Stats.Hits.Load(), ns.Stats.Misses.Load(), es.Evictions, es.Expirations,
			es.Items, es.ItemsExpire, es.Bytes, es.Quota, ns.Stats.Throttled.Load(), maxOps, maxBytes)
	}
}
