//go:build e2e

package cluster

import (
	"context"
	"errors"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

const adminPass = "admin-secret"

// userClient is a go-redis cluster client logged in as user (RESP3: it logs
// in with HELLO 3 AUTH; RESP2: with AUTH user pass), given only the config
// server's RESP address: it logs in there too to learn the table.
func (c *cluster) userClient(t *testing.T, user, pass string, proto int) *redis.ClusterClient {
	cc := redis.NewClusterClient(&redis.ClusterOptions{Addrs: []string{c.cfg[0].resp}, Username: user, Password: pass,
		Protocol: proto, DialTimeout: 2 * time.Second, ReadTimeout: 3 * time.Second, MaxRedirects: 3, TLSConfig: clientTLS()})
	t.Cleanup(func() { cc.Close() })
	return cc
}

// nodeClient is a single-connection client of one data server logged in as
// user: its connection stays open between commands.
func nodeClient(t *testing.T, addr, user, pass string) *redis.Client {
	rc := redis.NewClient(&redis.Options{Addr: addr, Username: user, Password: pass, Protocol: 2,
		PoolSize: 1, MinIdleConns: 1, MaxRetries: -1, DialTimeout: 2 * time.Second, ReadTimeout: 3 * time.Second, TLSConfig: clientTLS()})
	t.Cleanup(func() { rc.Close() })
	return rc
}

// waitUsers waits until every data server reports n users from the config
// servers (the granary_acl_users gauge).
func (c *cluster) waitUsers(t *testing.T, n int) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for _, ds := range c.data {
		for {
			v, err := metric(ds.http, "granary_acl_users")
			if err == nil && int(v) == n {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s: %v users (%v), want %d", ds.name, v, err, n)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
}

// waitLoginRefused waits until a new login as user fails on every data
// server (the change reached them all).
func (c *cluster) waitLoginRefused(t *testing.T, user, pass string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for _, ds := range c.data {
		for {
			_, err := oneShot(ds.addr, func(ctx context.Context, rc *redis.Client) (string, error) {
				return rc.Do(ctx, "AUTH", user, pass).Text()
			})
			if err != nil && strings.HasPrefix(err.Error(), "WRONGPASS") {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s: login as %s still accepted (%v)", ds.name, user, err)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
}

func wantErrPrefix(t *testing.T, what string, err error, prefix string) {
	t.Helper()
	if err == nil || !strings.HasPrefix(err.Error(), prefix) {
		t.Errorf("%s: %v, want %s...", what, err, prefix)
	}
}

// TestUsersAndPermissions: three data servers with --requirepass and users
// defined with granary ctl. A user of namespace A cannot read or write
// namespace B nor run admin commands, and can do what it is granted; a user
// disabled or removed at run time loses access on open and new connections;
// wrong passwords are counted. Replication links keep working (the
// namespaces are sync: every write waits for its secondary).
func TestUsersAndPermissions(t *testing.T) {
	c := startCluster(t, clusterOpts{configs: 1, data: 3, requirePass: adminPass})
	c.mustCtl(t, "namespace", "create", "1", "--name", "a")
	c.mustCtl(t, "namespace", "create", "2", "--name", "b")
	c.mustCtl(t, "user", "add", "alice", "--password", "alice-pw", "--namespaces", "1", "--commands", "read,write")
	c.mustCtl(t, "user", "add", "bob", "--password", "bob-pw", "--namespaces", "2", "--commands", "read,write")
	c.mustCtl(t, "user", "add", "carol", "--password", "carol-pw", "--namespaces", "1", "--commands", "read")
	c.mustCtl(t, "user", "add", "ops", "--password", "ops-pw", "--namespaces", "all", "--commands", "all")
	c.mustCtl(t, "user", "add", "newbie", "--password", "newbie-pw")
	if out := c.mustCtl(t, "user", "list"); strings.Contains(out, "pw") || strings.Contains(out, "sha256") {
		t.Fatalf("user list shows passwords or hashes:\n%s", out)
	}
	c.waitUsers(t, 5)
	ctx := context.Background()

	alice := c.userClient(t, "alice", "alice-pw", 3)
	bob := c.userClient(t, "bob", "bob-pw", 2)
	const keys = 60 // over every data server
	for i := range keys {
		k := "k" + strconv.Itoa(i)
		if err := alice.Set(ctx, k, "a"+strconv.Itoa(i), 0).Err(); err != nil {
			t.Fatalf("alice SET %s: %v", k, err)
		}
		if err := bob.Set(ctx, k, "b"+strconv.Itoa(i), 0).Err(); err != nil {
			t.Fatalf("bob SET %s: %v", k, err)
		}
	}
	// Each sees its own namespace only.
	for i := range keys {
		k := "k" + strconv.Itoa(i)
		if v, err := alice.Get(ctx, k).Result(); err != nil || v != "a"+strconv.Itoa(i) {
			t.Fatalf("alice GET %s = %q, %v", k, v, err)
		}
		if v, err := bob.Get(ctx, k).Result(); err != nil || v != "b"+strconv.Itoa(i) {
			t.Fatalf("bob GET %s = %q, %v", k, v, err)
		}
	}
	// Alice cannot reach namespace 2 on any data server, nor run admin commands.
	for _, ds := range c.data {
		rc := nodeClient(t, ds.addr, "alice", "alice-pw")
		wantErrPrefix(t, ds.name+": alice SELECT 2", rc.Do(ctx, "SELECT", "2").Err(), "NOPERM User alice has no permissions to access namespace 2")
		for _, cmd := range [][]any{
			{"CONFIG", "GET", "maxclients"}, {"FLUSHALL"}, {"INFO"}, {"CLIENT", "LIST"}, {"CLIENT", "KILL", "USER", "bob"},
			{"CLUSTER", "GETKEYSINSLOT", "0", "10"}, {"CLUSTER", "COUNTKEYSINSLOT", "0"}, {"GRANARY.INGEST", "k0", "/etc/passwd"},
		} {
			wantErrPrefix(t, ds.name+": alice "+strings.ToUpper(cmd[0].(string)), rc.Do(ctx, cmd...).Err(), "NOPERM")
		}
		if err := rc.Ping(ctx).Err(); err != nil {
			t.Errorf("%s: alice PING: %v", ds.name, err)
		}
	}
	wantErrPrefix(t, "alice FLUSHALL through the cluster client", alice.FlushAll(ctx).Err(), "NOPERM")
	// redis-cli -c logs in as a user on every node it is redirected to.
	cli := func(user, pass string, args ...string) string {
		return redisCLI(t, append([]string{"-c", "-p", strconv.Itoa(c.cfg[0].respPort()), "--user", user, "--pass", pass, "--no-auth-warning"}, args...)...)
	}
	for i := range 5 {
		k := "k" + strconv.Itoa(i)
		if got := cli("alice", "alice-pw", "GET", k); got != "a"+strconv.Itoa(i) {
			t.Errorf("redis-cli as alice: GET %s = %q", k, got)
		}
	}
	if got := cli("alice", "alice-pw", "CONFIG", "GET", "maxclients"); !strings.Contains(got, "NOPERM") {
		t.Errorf("redis-cli as alice: CONFIG GET = %q, want NOPERM", got)
	}
	// A read-only user of namespace 1 reads alice's keys and writes nothing.
	carol := c.userClient(t, "carol", "carol-pw", 2)
	if v, err := carol.Get(ctx, "k1").Result(); err != nil || v != "a1" {
		t.Errorf("carol GET k1 = %q, %v", v, err)
	}
	wantErrPrefix(t, "carol SET", carol.Set(ctx, "k1", "x", 0).Err(), "NOPERM User carol has no permissions to run the 'set' command")
	wantErrPrefix(t, "carol DEL", carol.Del(ctx, "k1").Err(), "NOPERM")
	// A new user is granted nothing.
	newbie := c.userClient(t, "newbie", "newbie-pw", 3)
	wantErrPrefix(t, "newbie GET", newbie.Get(ctx, "k1").Err(), "NOPERM")
	// The admin user and the default user run admin commands.
	ops := nodeClient(t, c.data[0].addr, "ops", "ops-pw")
	def := nodeClient(t, c.data[0].addr, "", adminPass)
	for name, rc := range map[string]*redis.Client{"ops": ops, "default": def} {
		if err := rc.ConfigGet(ctx, "maxclients").Err(); err != nil {
			t.Errorf("%s CONFIG GET: %v", name, err)
		}
		if err := rc.Do(ctx, "SELECT", "2").Err(); err != nil {
			t.Errorf("%s SELECT 2: %v", name, err)
		}
	}
	if list, err := def.ClientList(ctx).Result(); err != nil || !strings.Contains(list, "user=alice") {
		t.Errorf("CLIENT LIST does not show alice's connections: %v\n%s", err, list)
	}

	// Wrong passwords: refused, counted.
	before := 0.0
	for _, ds := range c.data {
		n, _ := metric(ds.http, "granary_auth_failures_total")
		before += n
	}
	for _, cred := range [][2]string{{"alice", "wrong"}, {"nobody", "x"}, {"", "wrong"}} {
		rc := nodeClient(t, c.data[0].addr, cred[0], cred[1])
		wantErrPrefix(t, "login as "+cred[0]+" with a wrong password", rc.Ping(ctx).Err(), "WRONGPASS")
	}
	after := 0.0
	for _, ds := range c.data {
		n, err := metric(ds.http, "granary_auth_failures_total")
		if err != nil {
			t.Fatal(err)
		}
		after += n
	}
	if after-before < 3 {
		t.Errorf("failed logins counted: %v, want at least 3", after-before)
	}
	info, err := def.Info(ctx, "stats").Result()
	if err != nil || !strings.Contains(info, "acl_access_denied_auth:") || !strings.Contains(info, "acl_access_denied_cmd:") {
		t.Errorf("INFO stats: %v\n%s", err, info)
	}

	// Disabled at run time: open connections lose access at their next
	// command, new logins are refused; enabled again, logins work.
	open := make([]*redis.Client, len(c.data))
	for i, ds := range c.data {
		open[i] = nodeClient(t, ds.addr, "alice", "alice-pw")
		if err := open[i].Ping(ctx).Err(); err != nil {
			t.Fatal(err)
		}
	}
	c.mustCtl(t, "user", "update", "alice", "--disable")
	c.waitLoginRefused(t, "alice", "alice-pw")
	for i, rc := range open {
		wantErrPrefix(t, c.data[i].name+": alice's open connection after --disable", rc.Get(ctx, "k1").Err(), "NOAUTH")
	}
	wantErrPrefix(t, "alice's cluster client after --disable", alice.Get(ctx, "k2").Err(), "NOAUTH")
	c.mustCtl(t, "user", "update", "alice", "--enable")
	deadline := time.Now().Add(10 * time.Second)
	for {
		fresh := c.userClient(t, "alice", "alice-pw", 3)
		err := fresh.ForEachMaster(ctx, func(ctx context.Context, rc *redis.Client) error { return rc.Ping(ctx).Err() })
		if err == nil {
			if v, err := fresh.Get(ctx, "k3").Result(); err != nil || v != "a3" {
				t.Errorf("alice GET k3 after --enable = %q, %v", v, err)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("alice cannot log in after --enable: %v", err)
		}
		time.Sleep(50 * time.Millisecond)
	}

	// Removed at run time: the same, for good.
	bobOpen := nodeClient(t, c.data[1].addr, "bob", "bob-pw")
	if err := bobOpen.Ping(ctx).Err(); err != nil {
		t.Fatal(err)
	}
	c.mustCtl(t, "user", "remove", "bob")
	c.waitLoginRefused(t, "bob", "bob-pw")
	c.waitUsers(t, 4)
	wantErrPrefix(t, "bob's open connection after removal", bobOpen.Get(ctx, "k1").Err(), "NOAUTH")
	var rerr redis.Error
	if err := bob.Get(ctx, "k1").Err(); !errors.As(err, &rerr) {
		t.Errorf("bob's cluster client after removal: %v, want a server error", err)
	}
}
