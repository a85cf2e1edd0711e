package command

import (
	"crypto/sha1"
	"encoding/hex"
	"net"
	"strconv"
	"strings"
	"time"

	"granary/internal/engine"
	"granary/internal/routing"
)

// The cluster family: CLUSTER SLOTS SHARDS NODES INFO KEYSLOT MYID MYSHARDID
// COUNTKEYSINSLOT GETKEYSINSLOT HELP, in Redis 7's formats, built from the
// routing table so that stock cluster clients route by it.
//
// Granary's table gives each bucket its own replica list, so a node may be the
// primary of some buckets and a secondary of others; Redis' shards (a primary
// with the replicas of all its slots) are approximated: a "shard" is a
// primary with its slots and every node holding a copy of any of them. Cluster
// commands answer in standalone mode too (a one-node cluster owning every slot).

var clusterSubs = map[string]*Spec{
	"slots":           {Name: "cluster|slots", Arity: 2, Flags: FlagStale, Handler: cmdClusterSlots},
	"shards":          {Name: "cluster|shards", Arity: 2, Flags: FlagStale, Handler: cmdClusterShards},
	"nodes":           {Name: "cluster|nodes", Arity: 2, Flags: FlagStale, Handler: cmdClusterNodes},
	"info":            {Name: "cluster|info", Arity: 2, Flags: FlagStale, Handler: cmdClusterInfo},
	"keyslot":         {Name: "cluster|keyslot", Arity: 3, Flags: FlagStale, Handler: cmdClusterKeySlot},
	"myid":            {Name: "cluster|myid", Arity: 2, Flags: FlagStale, Handler: cmdClusterMyID},
	"myshardid":       {Name: "cluster|myshardid", Arity: 2, Flags: FlagStale, Handler: cmdClusterMyShardID},
	"countkeysinslot": {Name: "cluster|countkeysinslot", Arity: 3, Flags: FlagStale | FlagDangerous, Handler: cmdClusterCountKeys},
	"getkeysinslot":   {Name: "cluster|getkeysinslot", Arity: 4, Flags: FlagStale | FlagDangerous, Handler: cmdClusterGetKeys},
	"help":            {Name: "cluster|help", Arity: 2, Flags: FlagStale, Handler: cmdClusterHelp},
}

func init() {
	register(&Spec{Name: "cluster", Arity: -2, Flags: FlagStale, Subs: clusterSubs})
}

// nodeHost returns the host clients should connect to for node i. A node that
// does not know its address (listening on every interface) announces the
// address this client connected to.
func (c *Ctx) nodeHost(t *routing.Table, self, i int) string {
	h := t.Nodes[i].Host
	if h == "" && i == self {
		if lh, _, err := net.SplitHostPort(c.S.LAddr); err == nil {
			h = lh
		}
	}
	return h
}

// CLUSTER SLOTS: [start, end, [host, port, id, {}], replicas...] per range.
func cmdClusterSlots(c *Ctx) {
	t, self := c.N.View()
	ranges := t.Ranges()
	w := c.W
	w.Array(len(ranges))
	for _, r := range ranges {
		w.Array(2 + len(r.Replicas))
		w.Int(int64(r.First))
		w.Int(int64(r.Last))
		for _, i := range r.Replicas {
			w.Array(4)
			w.BulkString(c.nodeHost(t, self, i))
			w.Int(int64(t.Nodes[i].Port))
			w.BulkString(t.Nodes[i].ID)
			w.Map(0)
		}
	}
}

// shard is a primary with its ranges and the nodes holding copies of them.
type shard struct {
	primary int
	ranges  []routing.Range
	nodes   []int // primary first
}

// shards groups the table by primary, in node order; nodes that are primary of
// nothing and hold no copy form shards of their own with no slots.
func shards(t *routing.Table) []shard {
	byNode := make([]*shard, len(t.Nodes))
	held := make([]bool, len(t.Nodes))
	for _, r := range t.Ranges() {
		p := r.Replicas[0]
		s := byNode[p]
		if s == nil {
			s = &shard{primary: p, nodes: []int{p}}
			byNode[p] = s
		}
		s.ranges = append(s.ranges, r)
		for _, n := range r.Replicas {
			held[n] = true
			found := false
			for _, m := range s.nodes {
				found = found || m == n
			}
			if !found {
				s.nodes = append(s.nodes, n)
			}
		}
	}
	var out []shard
	for i, s := range byNode {
		switch {
		case s != nil:
			out = append(out, *s)
		case !held[i]:
			out = append(out, shard{primary: i, nodes: []int{i}})
		}
	}
	return out
}

// CLUSTER SHARDS
func cmdClusterShards(c *Ctx) {
	t, self := c.N.View()
	ss := shards(t)
	w := c.W
	w.Array(len(ss))
	for _, s := range ss {
		w.Map(2)
		w.BulkString("slots")
		w.Array(2 * len(s.ranges))
		for _, r := range s.ranges {
			w.Int(int64(r.First))
			w.Int(int64(r.Last))
		}
		w.BulkString("nodes")
		w.Array(len(s.nodes))
		for _, i := range s.nodes {
			host := c.nodeHost(t, self, i)
			role := "replica"
			if i == s.primary {
				role = "master"
			}
			w.Map(7)
			w.BulkString("id")
			w.BulkString(t.Nodes[i].ID)
			w.BulkString("port")
			w.Int(int64(t.Nodes[i].Port))
			w.BulkString("ip")
			w.BulkString(host)
			w.BulkString("endpoint")
			w.BulkString(host)
			w.BulkString("role")
			w.BulkString(role)
			w.BulkString("replication-offset")
			w.Int(0)
			w.BulkString("health")
			if t.Nodes[i].Fail {
				w.BulkString("failed")
			} else {
				w.BulkString("online")
			}
		}
	}
}

// CLUSTER NODES
func cmdClusterNodes(c *Ctx) {
	t, self := c.N.View()
	primaryOf := make([][]routing.Range, len(t.Nodes))
	replicaOf := make([]int, len(t.Nodes)) // a primary whose bucket the node copies
	for i := range replicaOf {
		replicaOf[i] = -1
	}
	for _, r := range t.Ranges() {
		primaryOf[r.Replicas[0]] = append(primaryOf[r.Replicas[0]], r)
		for _, n := range r.Replicas[1:] {
			if replicaOf[n] < 0 {
				replicaOf[n] = r.Replicas[0]
			}
		}
	}
	now := time.Now().UnixMilli()
	epoch := strconv.FormatUint(t.Epoch, 10)
	var b strings.Builder
	for i, n := range t.Nodes {
		b.WriteString(n.ID)
		b.WriteByte(' ')
		b.WriteString(c.nodeHost(t, self, i))
		b.WriteByte(':')
		b.WriteString(strconv.Itoa(n.Port))
		b.WriteByte('@')
		b.WriteString(strconv.Itoa(n.Port + 10000))
		b.WriteByte(' ')
		if i == self {
			b.WriteString("myself,")
		}
		master := "-"
		if len(primaryOf[i]) == 0 && replicaOf[i] >= 0 {
			b.WriteString("slave")
			master = t.Nodes[replicaOf[i]].ID
		} else {
			b.WriteString("master")
		}
		link := " connected"
		if n.Fail {
			b.WriteString(",fail")
			link = " disconnected"
		}
		b.WriteString(" " + master + " 0 ")
		if i == self {
			b.WriteByte('0')
		} else {
			b.WriteString(strconv.FormatInt(now, 10))
		}
		b.WriteString(" " + epoch + link)
		for _, r := range primaryOf[i] {
			b.WriteByte(' ')
			b.WriteString(strconv.Itoa(int(r.First)))
			if r.Last != r.First {
				b.WriteByte('-')
				b.WriteString(strconv.Itoa(int(r.Last)))
			}
		}
		b.WriteByte('\n')
	}
	c.W.Verbatim(b.String())
}

// CLUSTER INFO
func cmdClusterInfo(c *Ctx) {
	t := c.N.Table()
	assigned, failed := 0, 0
	primaries := map[int]bool{}
	for b := range t.Replicas {
		if r := t.Replicas[b]; len(r) > 0 {
			assigned++
			primaries[r[0]] = true
			if t.Nodes[r[0]].Fail {
				failed++
			}
		}
	}
	state := "ok"
	if assigned < routing.Buckets || failed > 0 {
		state = "fail"
	}
	var b strings.Builder
	line(&b, "cluster_state", state)
	line(&b, "cluster_slots_assigned", assigned)
	line(&b, "cluster_slots_ok", assigned-failed)
	line(&b, "cluster_slots_pfail", 0)
	line(&b, "cluster_slots_fail", failed)
	line(&b, "cluster_known_nodes", len(t.Nodes))
	line(&b, "cluster_size", len(primaries))
	line(&b, "cluster_current_epoch", t.Epoch)
	line(&b, "cluster_my_epoch", t.Epoch)
	line(&b, "cluster_stats_messages_sent", 0)
	line(&b, "cluster_stats_messages_received", 0)
	line(&b, "total_cluster_links_buffer_limit_exceeded", 0)
	c.W.Verbatim(b.String())
}

// CLUSTER KEYSLOT key
func cmdClusterKeySlot(c *Ctx) { c.W.Int(int64(routing.Bucket(c.Args[2]))) }

// CLUSTER MYID
func cmdClusterMyID(c *Ctx) { c.W.BulkString(c.N.ID) }

// CLUSTER MYSHARDID: a stable 40-hex id derived from the node id.
func cmdClusterMyShardID(c *Ctx) {
	sum := sha1.Sum([]byte("granary-shard:" + c.N.ID))
	c.W.BulkString(hex.EncodeToString(sum[:]))
}

// slotArg parses a slot number as Redis' CLUSTER COUNTKEYSINSLOT does.
func slotArg(c *Ctx, a []byte) (uint16, bool) {
	n, ok := parseInt(a)
	if !ok {
		c.Err(errNotInt)
		return 0, false
	}
	if n < 0 || n >= routing.Buckets {
		c.Err("ERR Invalid slot")
		return 0, false
	}
	return uint16(n), true
}

// CLUSTER COUNTKEYSINSLOT slot: keys of the current namespace in the slot.
func cmdClusterCountKeys(c *Ctx) {
	slot, ok := slotArg(c, c.Args[2])
	if !ok {
		return
	}
	c.W.Int(int64(c.Engine().CountBucket(slot)))
}

// CLUSTER GETKEYSINSLOT slot count
func cmdClusterGetKeys(c *Ctx) {
	slot, ok1 := parseInt(c.Args[2])
	count, ok2 := parseInt(c.Args[3])
	if !ok1 || !ok2 {
		c.Err(errNotInt)
		return
	}
	if slot < 0 || slot >= routing.Buckets || count < 0 {
		c.Err("ERR Invalid slot or number of keys")
		return
	}
	var keys [][]byte
	if count > 0 {
		c.Engine().ScanBucket(uint16(slot), c.Now, func(key []byte, _ *engine.Item) bool {
			keys = append(keys, append([]byte(nil), key...))
			return int64(len(keys)) < count
		})
	}
	c.W.Array(len(keys))
	for _, k := range keys {
		c.W.Bulk(k)
	}
}

// CLUSTER HELP
func cmdClusterHelp(c *Ctx) {
	writeHelp(c, "CLUSTER",
		"COUNTKEYSINSLOT <slot>",
		"    Return the number of keys in <slot>.",
		"GETKEYSINSLOT <slot> <count>",
		"    Return key names stored by current node in a slot.",
		"INFO",
		"    Return information about the cluster.",
		"KEYSLOT <key>",
		"    Return the hash slot for <key>.",
		"MYID",
		"    Return the node id.",
		"MYSHARDID",
		"    Return the node's shard id.",
		"NODES",
		"    Return cluster configuration seen by node. Output format:",
		"    <id> <ip:port@bus-port[,hostname]> <flags> <master> <pings> <pongs> <epoch> <link> <slot> ...",
		"SHARDS",
		"    Return information about slot range mappings and the nodes associated with them.",
		"SLOTS",
		"    Return information about slots range mappings. Each range is made of:",
		"    start, end, master and replicas IP addresses, ports and ids",
	)
}
