package command_test

import (
	"strings"
	"testing"

	"granary/internal/acl"
	"granary/internal/clusterapi"
	"granary/internal/dataserver"
)

const adminPass = "admin-pw"

// aclServer starts a data server with --requirepass and the users of
// aclUsers installed, as a heartbeat reply would install them.
func aclServer(t *testing.T) *dataserver.DataServer {
	t.Helper()
	ds := newTestDataServer(t, func(o *dataserver.Options) { o.RequirePass = adminPass })
	setUsers(t, ds, 1, aclUsers(t))
	return ds
}

func aclUsers(t *testing.T) []clusterapi.User {
	t.Helper()
	h, err := acl.HashPassword("pw")
	if err != nil {
		t.Fatal(err)
	}
	return []clusterapi.User{
		{Name: "app", Hash: h, Namespaces: []uint16{1, 2}, DefaultNamespace: 1, Commands: []string{"read", "write"}},
		{Name: "reader", Hash: h, Namespaces: []uint16{1}, DefaultNamespace: 1, Commands: []string{"read"}},
		{Name: "ops", Hash: h, AllNamespaces: true, Commands: []string{"read", "write", "admin"}},
		{Name: "fresh", Hash: h},
		{Name: "off", Hash: h, AllNamespaces: true, Commands: []string{"read", "write", "admin"}, Disabled: true},
	}
}

func setUsers(t *testing.T, ds *dataserver.DataServer, version uint64, defs []clusterapi.User) {
	t.Helper()
	us, err := acl.Compile(defs, version)
	if err != nil {
		t.Fatal(err)
	}
	ds.Node().SetUsers(us)
}

// TestPermissions runs, per user, commands on one connection and checks each
// reply's beginning (resp.Value.String form).
func TestPermissions(t *testing.T) {
	ds := aclServer(t)
	const ok = `"OK"`
	for _, tc := range []struct {
		name  string
		steps [][2]string // command (space-separated), reply prefix
	}{
		{"namespace user", [][2]string{
			{"AUTH app pw", ok},
			{"SET k v1", ok}, // in its default namespace, 1
			{"GET k", `"v1"`},
			{"CLIENT INFO", `"id=`},
			{"SELECT 2", ok},
			{"GET k", "(nil)"},
			{"SET k v2", ok},
			{"SELECT 3", "(error) NOPERM User app has no permissions to access namespace 3"},
			{"SELECT 0", "(error) NOPERM"},
			{"GET k", `"v2"`}, // still in namespace 2
			{"CONFIG GET maxclients", "(error) NOPERM User app has no permissions to run the 'config|get' command"},
			{"FLUSHALL", "(error) NOPERM"},
			{"INFO", "(error) NOPERM"},
			{"CLIENT LIST", "(error) NOPERM"},
			{"CLIENT KILL ID 1", "(error) NOPERM"},
			{"CLUSTER GETKEYSINSLOT 0 10", "(error) NOPERM"},
			{"CLUSTER COUNTKEYSINSLOT 0", "(error) NOPERM"},
			{"GRANARY.INGEST k /tmp/x", "(error) NOPERM"},
			{"PING", `"PONG"`},
			{"CLUSTER MYID", `"`},
			{"DBSIZE", "1"},
			{"FLUSHDB", ok},
		}},
		{"read-only user", [][2]string{
			{"AUTH reader pw", ok},
			{"GET k", `"v1"`},
			{"EXISTS k", "1"},
			{"SET k x", "(error) NOPERM User reader has no permissions to run the 'set' command"},
			{"DEL k", "(error) NOPERM"},
			{"SELECT 2", "(error) NOPERM"},
			{"MULTI", ok},
			{"GET k", `"QUEUED"`},
			{"SET k x", "(error) NOPERM"},
			{"EXEC", "(error) EXECABORT"},
		}},
		{"admin user", [][2]string{
			{"AUTH ops pw", ok},
			{"SELECT 7", ok},
			{"SET k v7", ok},
			{"CONFIG GET maxclients", "[\"maxclients\""},
			{"CLIENT LIST", `"id=`},
		}},
		{"new user is denied everything", [][2]string{
			{"AUTH fresh pw", ok},
			{"GET k", "(error) NOPERM User fresh has no permissions to run the 'get' command"},
			{"SELECT 0", "(error) NOPERM"},
			{"PING", `"PONG"`},
		}},
		{"failed logins", [][2]string{
			{"AUTH app wrong", "(error) WRONGPASS"},
			{"AUTH nobody pw", "(error) WRONGPASS"},
			{"AUTH off pw", "(error) WRONGPASS"},
			{"AUTH default pw", "(error) WRONGPASS"},
			{"GET k", "(error) NOAUTH"},
			{"HELLO 3 AUTH app wrong", "(error) WRONGPASS"},
		}},
		{"hello auth", [][2]string{
			{"HELLO 3 AUTH app pw", "[\"server\""},
			{"GET k", `"v1"`},
			{"CLIENT INFO", `"txt:id=`}, // RESP3: verbatim
		}},
		{"default user", [][2]string{
			{"AUTH " + adminPass, ok},
			{"CONFIG GET maxclients", "[\"maxclients\""},
			{"SELECT 9", ok},
			{"AUTH app pw", ok}, // a user again: its default namespace
			{"GET k", `"v1"`},
			{"AUTH default " + adminPass, ok},
			{"INFO stats", `"# Stats`},
		}},
		{"reset logs out", [][2]string{
			{"AUTH app pw", ok},
			{"RESET", `"RESET"`},
			{"GET k", "(error) NOAUTH"},
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			raw := dialRaw(t, ds.Addr())
			for _, st := range tc.steps {
				got := raw.Do(strings.Fields(st[0])...).String()
				if !strings.HasPrefix(got, st[1]) {
					t.Errorf("%s = %s, want %s...", st[0], got, st[1])
				}
			}
		})
	}
}

// TestPermissionsClientList checks the user CLIENT LIST shows and that
// CLIENT KILL USER finds its connections.
func TestPermissionsClientList(t *testing.T) {
	ds := aclServer(t)
	user := dialRaw(t, ds.Addr())
	if v := user.Do("AUTH", "app", "pw"); v.String() != `"OK"` {
		t.Fatalf("AUTH = %v", v)
	}
	admin := dialRaw(t, ds.Addr())
	admin.Do("AUTH", adminPass)
	list := admin.Do("CLIENT", "LIST").String()
	if !strings.Contains(list, " user=app ") || !strings.Contains(list, " user=default ") {
		t.Fatalf("CLIENT LIST does not show both users: %s", list)
	}
	if v := admin.Do("CLIENT", "KILL", "USER", "app"); v.Int != 1 {
		t.Fatalf("CLIENT KILL USER app = %v, want 1", v)
	}
}

// TestPermissionsChange checks that open sessions follow changes: a user
// removed or disabled loses its login at its next command, a user whose
// namespaces shrink loses them at once.
func TestPermissionsChange(t *testing.T) {
	ds := aclServer(t)
	app, reader, ops := dialRaw(t, ds.Addr()), dialRaw(t, ds.Addr()), dialRaw(t, ds.Addr())
	for _, c := range []struct {
		r    *rawConn
		user string
	}{{app, "app"}, {reader, "reader"}, {ops, "ops"}} {
		if v := c.r.Do("AUTH", c.user, "pw"); v.String() != `"OK"` {
			t.Fatalf("AUTH %s = %v", c.user, v)
		}
		if v := c.r.Do("GET", "k"); v.Kind == '-' {
			t.Fatalf("%s: GET = %v", c.user, v)
		}
	}
	defs := aclUsers(t)
	defs[0].Namespaces, defs[0].DefaultNamespace = []uint16{2}, 2 // app loses namespace 1
	defs = append(defs[:1], defs[2:]...)                          // reader removed
	defs[1].Disabled = true                                       // ops disabled
	setUsers(t, ds, 2, defs)

	if v := app.Do("GET", "k"); !strings.HasPrefix(v.String(), "(error) NOPERM User app has no permissions to access namespace 1") {
		t.Errorf("app in namespace 1 after losing it: GET = %v", v)
	}
	if v := app.Do("SELECT", "2"); v.String() != `"OK"` {
		t.Errorf("app: SELECT 2 = %v", v)
	}
	for _, c := range []struct {
		r    *rawConn
		user string
	}{{reader, "reader"}, {ops, "ops"}} {
		if v := c.r.Do("GET", "k"); !strings.HasPrefix(v.String(), "(error) NOAUTH user '"+c.user+"' was removed or disabled") {
			t.Errorf("%s: GET after removal = %v", c.user, v)
		}
		if v := c.r.Do("GET", "k"); !strings.HasPrefix(v.String(), "(error) NOAUTH") {
			t.Errorf("%s: second GET = %v", c.user, v)
		}
		if v := dialRaw(t, ds.Addr()).Do("AUTH", c.user, "pw"); !strings.HasPrefix(v.String(), "(error) WRONGPASS") {
			t.Errorf("%s: new login = %v", c.user, v)
		}
	}
}

// TestPermissionsCounted checks the INFO stats counters of failed logins and
// denials.
func TestPermissionsCounted(t *testing.T) {
	ds := aclServer(t)
	c := dialRaw(t, ds.Addr())
	for _, cmd := range [][]string{
		{"AUTH", "app", "bad"}, {"AUTH", "nobody", "x"}, {"AUTH", "bad"}, // 3 failed logins
		{"AUTH", "reader", "pw"}, {"SET", "k", "v"}, {"FLUSHALL"}, // 2 commands denied
		{"SELECT", "5"}, // 1 namespace denied
	} {
		c.Do(cmd...)
	}
	admin := dialRaw(t, ds.Addr())
	admin.Do("AUTH", adminPass)
	info := string(admin.Do("INFO", "stats").Str)
	for _, want := range []string{"acl_access_denied_auth:3\r\n", "acl_access_denied_cmd:2\r\n", "acl_access_denied_namespace:1\r\n"} {
		if !strings.Contains(info, want) {
			t.Errorf("INFO stats lacks %q:\n%s", want, info)
		}
	}
}
