package configserver

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"granary/internal/clusterapi"
	"granary/internal/routing"
)

// TestRESPFront: a Redis cluster client given only the config server's RESP
// address finds the data servers.
func TestRESPFront(t *testing.T) {
	s := startSingle(t, func(o *Options) { o.AutoAdd = true; o.MinNodes = 3 })
	ctx := ctxT(t)
	rc := redis.NewClient(&redis.Options{Addr: s.RESPAddr(), MaxRetries: -1})
	defer rc.Close()

	// Before the first table: no slot is served.
	if err := rc.Get(ctx, "foo").Err(); err == nil || !strings.HasPrefix(err.Error(), "CLUSTERDOWN") {
		t.Fatalf("GET before the first table: %v, want CLUSTERDOWN", err)
	}
	if slots, err := rc.ClusterSlots(ctx).Result(); err != nil || len(slots) != 0 {
		t.Fatalf("CLUSTER SLOTS before the first table: %v, %v", slots, err)
	}
	if info, err := rc.ClusterInfo(ctx).Result(); err != nil || !strings.Contains(info, "cluster_state:fail") {
		t.Fatalf("CLUSTER INFO before the first table: %q, %v", info, err)
	}

	var fakes []*fakeNode
	for i := range 3 {
		f := newFakeNode(i, []string{s.HTTPAddr()})
		if _, err := f.beat(ctx); err != nil {
			t.Fatal(err)
		}
		fakes = append(fakes, f)
	}
	addrOf := map[string]string{}
	for _, f := range fakes {
		addrOf[f.id] = f.addr
	}
	var tb *clusterapi.Table
	eventually(t, 5*time.Second, "the first table", func() bool {
		var err error
		tb, err = clusterapi.NewClient([]string{s.HTTPAddr()}).Table(ctx)
		return err == nil && tb.Epoch == 1
	})
	rt, err := clusterapi.ToRouting(tb, nil)
	if err != nil {
		t.Fatal(err)
	}

	// CLUSTER SLOTS lists the data servers, primary first, as the table.
	slots, err := rc.ClusterSlots(ctx).Result()
	if err != nil {
		t.Fatal(err)
	}
	if len(slots) != len(tb.Ranges) {
		t.Fatalf("CLUSTER SLOTS has %d ranges, the table %d", len(slots), len(tb.Ranges))
	}
	for i, sl := range slots {
		r := tb.Ranges[i]
		if sl.Start != r.First || sl.End != r.Last || len(sl.Nodes) != len(r.Replicas) {
			t.Fatalf("slot range %d = %+v, table %+v", i, sl, r)
		}
		for j, n := range sl.Nodes {
			id := tb.Nodes[r.Replicas[j]]
			if n.ID != id || n.Addr != addrOf[id] {
				t.Fatalf("slot range %d replica %d = %+v, want %s at %s", i, j, n, id, addrOf[id])
			}
		}
	}
	shards, err := rc.ClusterShards(ctx).Result()
	if err != nil {
		t.Fatal(err)
	}
	if len(shards) != 3 {
		t.Fatalf("CLUSTER SHARDS: %d shards, want 3", len(shards))
	}
	for _, sh := range shards {
		if len(sh.Nodes) == 0 || sh.Nodes[0].Role != "master" || addrOf[sh.Nodes[0].ID] != fmt.Sprintf("%s:%d", sh.Nodes[0].IP, sh.Nodes[0].Port) {
			t.Fatalf("CLUSTER SHARDS entry %+v", sh)
		}
	}
	nodes, err := rc.ClusterNodes(ctx).Result()
	if err != nil {
		t.Fatal(err)
	}
	if lines := strings.Split(strings.TrimSpace(nodes), "\n"); len(lines) != 3 || strings.Contains(nodes, "myself") {
		t.Fatalf("CLUSTER NODES:\n%s", nodes)
	}
	if info, _ := rc.ClusterInfo(ctx).Result(); !strings.Contains(info, "cluster_state:ok") || !strings.Contains(info, "cluster_known_nodes:3") {
		t.Fatalf("CLUSTER INFO:\n%s", info)
	}
	if n, err := rc.ClusterKeySlot(ctx, "foo").Result(); err != nil || n != int64(routing.Bucket([]byte("foo"))) {
		t.Fatalf("CLUSTER KEYSLOT foo = %d, %v", n, err)
	}
	if n, err := rc.ClusterCountKeysInSlot(ctx, 12182).Result(); err != nil || n != 0 {
		t.Fatalf("CLUSTER COUNTKEYSINSLOT = %d, %v", n, err)
	}

	// Keyed commands are MOVED to the bucket's primary.
	for _, key := range []string{"foo", "bar", "{user1000}.following", "k:42"} {
		b := routing.Bucket([]byte(key))
		want := fmt.Sprintf("MOVED %d %s", b, addrOf[tb.Nodes[rt.Primary(b)]])
		if err := rc.Do(ctx, "GET", key).Err(); err == nil || err.Error() != want {
			t.Fatalf("GET %s: %v, want %s", key, err, want)
		}
	}

	// A cluster client seeded with only the config server routes to them.
	cc := redis.NewClusterClient(&redis.ClusterOptions{Addrs: []string{s.RESPAddr()}, MaxRedirects: 1})
	defer cc.Close()
	for _, key := range []string{"foo", "bar", "baz", "{tag}x"} {
		m, err := cc.MasterForKey(ctx, key)
		if err != nil {
			t.Fatal(err)
		}
		b := routing.Bucket([]byte(key))
		if got, want := m.Options().Addr, addrOf[tb.Nodes[rt.Primary(b)]]; got != want {
			t.Fatalf("cluster client: master for %q at %s, want %s", key, got, want)
		}
	}

	// A node at a new address: the front follows the table.
	fakes[0].addr = "127.0.0.1:17100"
	if _, err := fakes[0].beat(ctx); err != nil {
		t.Fatal(err)
	}
	var b uint16
	for b = 0; rt.Primary(b) != slices.Index(tb.Nodes, fakes[0].id); b++ {
	}
	key := keyInBucket(b)
	want := fmt.Sprintf("MOVED %d 127.0.0.1:17100", b)
	if err := rc.Do(ctx, "GET", key).Err(); err == nil || err.Error() != want {
		t.Fatalf("GET %s after the move: %v, want %s", key, err, want)
	}
}

// keyInBucket finds a key of bucket b.
func keyInBucket(b uint16) string {
	for i := 0; ; i++ {
		k := fmt.Sprintf("k%d", i)
		if routing.Bucket([]byte(k)) == b {
			return k
		}
	}
}
