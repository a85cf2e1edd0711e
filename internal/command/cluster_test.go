package command_test

import (
	"context"
	"net"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/redis/rueidis"

	"granary/internal/dataserver"
)

var hex40 = regexp.MustCompile(`^[0-9a-f]{40}$`)

// serverMode returns the server's redis_mode.
func serverMode(t *testing.T, addr string) string {
	info := parseInfo(t, dial(t, addr).Info(ctx, "server").Val())
	return info["server"]["redis_mode"]
}

// clusterModes runs fn against a standalone server and a cluster-mode one.
func clusterModes(t *testing.T, fn func(t *testing.T, addr string)) {
	for _, standalone := range []bool{false, true} {
		name := "cluster"
		if standalone {
			name = "standalone"
		}
		t.Run(name, func(t *testing.T) {
			fn(t, newTestServerWith(t, func(o *dataserver.Options) { o.Standalone = standalone }))
		})
	}
}

func TestClusterTopology(t *testing.T) {
	clusterModes(t, func(t *testing.T, addr string) {
		host, portStr, _ := net.SplitHostPort(addr)
		port, _ := strconv.Atoi(portStr)
		rc := dial(t, addr)

		id, err := rc.Do(ctx, "CLUSTER", "MYID").Text()
		if err != nil || !hex40.MatchString(id) {
			t.Fatalf("CLUSTER MYID = %q, %v", id, err)
		}
		if sid, err := rc.Do(ctx, "CLUSTER", "MYSHARDID").Text(); err != nil || !hex40.MatchString(sid) || sid == id {
			t.Fatalf("CLUSTER MYSHARDID = %q, %v", sid, err)
		}

		for _, proto := range []int{2, 3} {
			c := dialProto(t, addr, proto)
			slots, err := c.ClusterSlots(ctx).Result()
			if err != nil {
				t.Fatalf("proto %d: CLUSTER SLOTS: %v", proto, err)
			}
			if len(slots) != 1 || slots[0].Start != 0 || slots[0].End != 16383 || len(slots[0].Nodes) != 1 ||
				slots[0].Nodes[0].Addr != addr || slots[0].Nodes[0].ID != id {
				t.Fatalf("proto %d: CLUSTER SLOTS = %+v", proto, slots)
			}

			shards, err := c.ClusterShards(ctx).Result()
			if err != nil {
				t.Fatalf("proto %d: CLUSTER SHARDS: %v", proto, err)
			}
			if len(shards) != 1 || len(shards[0].Slots) != 1 || shards[0].Slots[0].Start != 0 || shards[0].Slots[0].End != 16383 {
				t.Fatalf("proto %d: CLUSTER SHARDS = %+v", proto, shards)
			}
			n := shards[0].Nodes
			if len(n) != 1 || n[0].ID != id || n[0].IP != host || n[0].Endpoint != host || n[0].Port != int64(port) ||
				n[0].Role != "master" || n[0].Health != "online" {
				t.Fatalf("proto %d: CLUSTER SHARDS nodes = %+v", proto, n)
			}
		}

		nodes, err := rc.ClusterNodes(ctx).Result()
		if err != nil {
			t.Fatal(err)
		}
		want := id + " " + addr + "@" + strconv.Itoa(port+10000) + " myself,master - 0 0 1 connected 0-16383\n"
		if nodes != want {
			t.Fatalf("CLUSTER NODES = %q, want %q", nodes, want)
		}

		ci := map[string]string{}
		infoText, err := rc.ClusterInfo(ctx).Result()
		if err != nil {
			t.Fatal(err)
		}
		for _, l := range strings.Split(strings.TrimSpace(infoText), "\r\n") {
			k, v, _ := strings.Cut(l, ":")
			ci[k] = v
		}
		for k, v := range map[string]string{
			"cluster_state": "ok", "cluster_slots_assigned": "16384", "cluster_slots_ok": "16384",
			"cluster_slots_fail": "0", "cluster_known_nodes": "1", "cluster_size": "1",
			"cluster_current_epoch": "1", "cluster_my_epoch": "1",
		} {
			if ci[k] != v {
				t.Errorf("CLUSTER INFO %s = %q, want %q", k, ci[k], v)
			}
		}
	})
}

// A server listening on every interface announces the address a client used.
func TestClusterAnnouncesLocalAddr(t *testing.T) {
	any := newTestServerWith(t, func(o *dataserver.Options) { o.Listen = ":0" })
	_, port, _ := net.SplitHostPort(any)
	local := net.JoinHostPort("127.0.0.1", port)
	rc := dial(t, local)
	slots, err := rc.ClusterSlots(ctx).Result()
	if err != nil || len(slots) != 1 || slots[0].Nodes[0].Addr != local {
		t.Fatalf("CLUSTER SLOTS via %s = %+v, %v", local, slots, err)
	}
	nodes := rc.ClusterNodes(ctx).Val()
	if !strings.Contains(nodes, " "+local+"@") {
		t.Fatalf("CLUSTER NODES via %s = %q", local, nodes)
	}
}

func TestClusterKeys(t *testing.T) {
	addr := newTestServer(t)
	rc := dial(t, addr)
	for key, slot := range map[string]int64{
		"foo": 12182, "bar": 5061, "{user1000}.following": 3443, "{user1000}.followers": 3443,
		"foo{}{bar}": 8363, "{}foo": 9500, "": 0,
	} {
		if got, err := rc.ClusterKeySlot(ctx, key).Result(); err != nil || got != slot {
			t.Errorf("CLUSTER KEYSLOT %q = %d, %v; want %d", key, got, err, slot)
		}
	}

	// Keys sharing a tag share a slot.
	for i := 0; i < 5; i++ {
		rc.Set(ctx, "{tag}:"+strconv.Itoa(i), "v", 0)
	}
	slot := rc.ClusterKeySlot(ctx, "{tag}").Val()
	if n, err := rc.ClusterCountKeysInSlot(ctx, int(slot)).Result(); err != nil || n != 5 {
		t.Fatalf("CLUSTER COUNTKEYSINSLOT = %d, %v", n, err)
	}
	ks, err := rc.ClusterGetKeysInSlot(ctx, int(slot), 3).Result()
	if err != nil || len(ks) != 3 {
		t.Fatalf("CLUSTER GETKEYSINSLOT 3 = %v, %v", ks, err)
	}
	for _, k := range ks {
		if !strings.HasPrefix(k, "{tag}:") {
			t.Fatalf("GETKEYSINSLOT returned %q", k)
		}
	}
	if ks := rc.ClusterGetKeysInSlot(ctx, int(slot), 100).Val(); len(ks) != 5 {
		t.Fatalf("CLUSTER GETKEYSINSLOT 100 = %v", ks)
	}
	if ks := rc.ClusterGetKeysInSlot(ctx, int(slot), 0).Val(); len(ks) != 0 {
		t.Fatalf("CLUSTER GETKEYSINSLOT 0 = %v", ks)
	}
	// Per namespace.
	c9 := redis.NewClient(&redis.Options{Addr: addr, DB: 9})
	t.Cleanup(func() { c9.Close() })
	if n := c9.ClusterCountKeysInSlot(ctx, int(slot)).Val(); n != 0 {
		t.Fatalf("COUNTKEYSINSLOT in namespace 9 = %d", n)
	}

	raw := dialRaw(t, addr)
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"CLUSTER", "COUNTKEYSINSLOT", "16384"}, "ERR Invalid slot"},
		{[]string{"CLUSTER", "COUNTKEYSINSLOT", "-1"}, "ERR Invalid slot"},
		{[]string{"CLUSTER", "COUNTKEYSINSLOT", "x"}, "ERR value is not an integer or out of range"},
		{[]string{"CLUSTER", "GETKEYSINSLOT", "0", "-1"}, "ERR Invalid slot or number of keys"},
		{[]string{"CLUSTER", "GETKEYSINSLOT", "16384", "1"}, "ERR Invalid slot or number of keys"},
		{[]string{"CLUSTER", "GETKEYSINSLOT", "x", "1"}, "ERR value is not an integer or out of range"},
		{[]string{"CLUSTER", "KEYSLOT"}, "ERR wrong number of arguments for 'cluster|keyslot' command"},
		{[]string{"CLUSTER", "ADDSLOTS", "1"}, "ERR unknown subcommand 'ADDSLOTS'. Try CLUSTER HELP."},
		{[]string{"CLUSTER"}, "ERR wrong number of arguments for 'cluster' command"},
	} {
		if v := raw.Do(tc.args...); v.Kind != '-' || string(v.Str) != tc.want {
			t.Errorf("%q = %v, want %q", tc.args, v, tc.want)
		}
	}
	if v := raw.Do("CLUSTER", "HELP"); v.Kind != '*' || len(v.Elems) < 10 {
		t.Fatalf("CLUSTER HELP = %v", v)
	}
}

// clusterKeys returns n keys spread over many slots.
func clusterKeys(prefix string, n int) []string {
	ks := make([]string, n)
	for i := range ks {
		ks[i] = prefix + strconv.Itoa(i)
	}
	return ks
}

func checkMGet(t *testing.T, cc *redis.ClusterClient, keys []string) {
	t.Helper()
	vals, err := cc.MGet(ctx, keys...).Result()
	if err != nil {
		t.Fatalf("MGET: %v", err)
	}
	for i, v := range vals {
		if v != "v-"+keys[i] {
			t.Fatalf("MGET[%d] = %v", i, v)
		}
	}
}

func TestGoRedisClusterClient(t *testing.T) {
	clusterModes(t, func(t *testing.T, addr string) {
		standalone := strings.Contains(serverMode(t, addr), "standalone")
		for _, proto := range []int{2, 3} {
			cc := redis.NewClusterClient(&redis.ClusterOptions{Addrs: []string{addr}, Protocol: proto})
			t.Cleanup(func() { cc.Close() })
			keys := clusterKeys("p"+strconv.Itoa(proto)+":key:", 200)
			for _, k := range keys {
				if err := cc.Set(ctx, k, "v-"+k, 0).Err(); err != nil {
					t.Fatalf("proto %d: SET %s: %v", proto, k, err)
				}
			}
			for _, k := range keys[:20] {
				if got, err := cc.Get(ctx, k).Result(); err != nil || got != "v-"+k {
					t.Fatalf("proto %d: GET %s = %q, %v", proto, k, got, err)
				}
			}
			// MGET of keys sharing a slot works everywhere.
			tagged := clusterKeys("{p"+strconv.Itoa(proto)+"}:", 30)
			for _, k := range tagged {
				cc.Set(ctx, k, "v-"+k, 0)
			}
			checkMGet(t, cc, tagged)
			// Across slots: a standalone node owns every slot and answers;
			// a cluster node refuses as Redis does, unless the client
			// splits the command by the COMMAND tips (request_policy:multi_shard).
			_, err := cc.MGet(ctx, keys...).Result()
			if standalone {
				checkMGet(t, cc, keys)
			} else if err == nil || !strings.HasPrefix(err.Error(), "CROSSSLOT") {
				t.Fatalf("proto %d: cross-slot MGET in cluster mode: %v, want CROSSSLOT", proto, err)
			}
			dyn := redis.NewClusterClient(&redis.ClusterOptions{Addrs: []string{addr}, Protocol: proto})
			t.Cleanup(func() { dyn.Close() })
			dyn.SetCommandInfoResolver(dyn.NewDynamicResolver())
			checkMGet(t, dyn, keys)
			if n, err := dyn.Exists(ctx, keys[:30]...).Result(); err != nil || n != 30 {
				t.Fatalf("proto %d: EXISTS with tips = %d, %v", proto, n, err)
			}
			// Pipelines are split by slot.
			pipe := cc.Pipeline()
			cmds := make([]*redis.StringCmd, 50)
			for i := range cmds {
				cmds[i] = pipe.Get(ctx, keys[i])
			}
			if _, err := pipe.Exec(ctx); err != nil {
				t.Fatalf("proto %d: pipeline: %v", proto, err)
			}
			for i, c := range cmds {
				if c.Val() != "v-"+keys[i] {
					t.Fatalf("proto %d: pipelined GET %s = %q", proto, keys[i], c.Val())
				}
			}
			if n, err := cc.DBSize(ctx).Result(); err != nil || n < int64(len(keys)) {
				t.Fatalf("proto %d: DBSIZE = %d, %v", proto, n, err)
			}
			if err := cc.Ping(ctx).Err(); err != nil {
				t.Fatalf("proto %d: PING: %v", proto, err)
			}
			if n, err := dyn.Del(ctx, keys[:10]...).Result(); err != nil || n != 10 {
				t.Fatalf("proto %d: DEL = %d, %v", proto, n, err)
			}
		}
	})
}

func TestRueidisCluster(t *testing.T) {
	clusterModes(t, func(t *testing.T, addr string) {
		client, err := rueidis.NewClient(rueidis.ClientOption{
			InitAddress:  []string{addr},
			DisableCache: true,
			Dialer:       net.Dialer{Timeout: 5 * time.Second},
		})
		if err != nil {
			t.Fatalf("rueidis.NewClient: %v", err)
		}
		t.Cleanup(client.Close)
		if client.Mode() != rueidis.ClientModeCluster {
			t.Fatalf("rueidis mode = %s, want cluster", client.Mode())
		}
		if _, ok := client.Nodes()[addr]; !ok || len(client.Nodes()) != 1 {
			t.Fatalf("rueidis nodes = %v", client.Nodes())
		}
		c, cancel := context.WithTimeout(ctx, 30*time.Second)
		defer cancel()
		keys := clusterKeys("rueidis:", 200)
		for _, k := range keys {
			if err := client.Do(c, client.B().Set().Key(k).Value("v-"+k).Build()).Error(); err != nil {
				t.Fatalf("SET %s: %v", k, err)
			}
		}
		for _, k := range keys[:20] {
			if got, err := client.Do(c, client.B().Get().Key(k).Build()).ToString(); err != nil || got != "v-"+k {
				t.Fatalf("GET %s = %q, %v", k, got, err)
			}
		}
		// MGET across slots, split by the client.
		got, err := rueidis.MGet(client, c, keys)
		if err != nil {
			t.Fatalf("MGET: %v", err)
		}
		for _, k := range keys {
			m := got[k]
			if s, err := m.ToString(); err != nil || s != "v-"+k {
				t.Fatalf("MGET %s = %q, %v", k, s, err)
			}
		}
		// A pipeline (DoMulti) across slots.
		cmds := make(rueidis.Commands, 0, 50)
		for _, k := range keys[:50] {
			cmds = append(cmds, client.B().Get().Key(k).Build())
		}
		for i, r := range client.DoMulti(c, cmds...) {
			if s, err := r.ToString(); err != nil || s != "v-"+keys[i] {
				t.Fatalf("DoMulti GET %s = %q, %v", keys[i], s, err)
			}
		}
		if _, err := client.Do(c, client.B().Get().Key("missing").Build()).ToString(); !rueidis.IsRedisNil(err) {
			t.Fatalf("GET missing: %v", err)
		}
	})
}
