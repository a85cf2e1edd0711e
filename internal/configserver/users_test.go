package configserver

import (
	"errors"
	"io"
	"log/slog"
	"reflect"
	"strings"
	"testing"

	"github.com/redis/go-redis/v9"

	"granary/internal/acl"
	"granary/internal/clusterapi"
)

func TestUsers(t *testing.T) {
	s := startSingle(t, nil)
	ctx := ctxT(t)
	cl := clusterapi.NewClient([]string{s.HTTPAddr()})

	u, err := cl.CreateUser(ctx, clusterapi.User{Name: "app", Password: "pw-1", Namespaces: []uint16{1, 2}, DefaultNamespace: 1, Commands: []string{"read", "write"}})
	if err != nil {
		t.Fatal(err)
	}
	if u.Password != "" || u.Hash != "" || u.Name != "app" || !reflect.DeepEqual(u.Namespaces, []uint16{1, 2}) {
		t.Fatalf("created %+v (no password or hash may come back)", u)
	}
	for _, b := range []struct {
		u    clusterapi.User
		code int
		msg  string
	}{
		{clusterapi.User{Name: "app", Password: "x"}, 409, "already exists"},
		{clusterapi.User{Name: "nopass"}, 400, "password is required"},
		{clusterapi.User{Name: "bad name", Password: "x"}, 400, "user name"},
		{clusterapi.User{Name: "default", Password: "x"}, 400, "reserved"},
		{clusterapi.User{Name: "c", Password: "x", Commands: []string{"delete"}}, 400, "command class"},
		{clusterapi.User{Name: "d", Password: "x", Namespaces: []uint16{1}, DefaultNamespace: 2}, 400, "default namespace"},
		{clusterapi.User{Name: "e", Password: "x", Hash: "sha256$00$00"}, 400, "not a hash"},
	} {
		_, err := cl.CreateUser(ctx, b.u)
		var se *clusterapi.StatusError
		if !errors.As(err, &se) || se.Code != b.code || !strings.Contains(se.Msg, b.msg) {
			t.Errorf("create %+v: %v; want %d %q", b.u, err, b.code, b.msg)
		}
	}
	if _, err := cl.CreateUser(ctx, clusterapi.User{Name: "ops", Password: "pw-ops", AllNamespaces: true, Commands: []string{"admin"}}); err != nil {
		t.Fatal(err)
	}
	// The RESP front knows the users: a cluster client logging in as one
	// learns the table there.
	rc := redis.NewClient(&redis.Options{Addr: s.RESPAddr(), Username: "app", Password: "pw-1", MaxRetries: -1})
	defer rc.Close()
	if err := rc.ClusterSlots(ctx).Err(); err != nil {
		t.Fatalf("CLUSTER SLOTS as app on the RESP front: %v", err)
	}
	bad := redis.NewClient(&redis.Options{Addr: s.RESPAddr(), Username: "app", Password: "wrong", MaxRetries: -1})
	defer bad.Close()
	if err := bad.Ping(ctx).Err(); err == nil || !strings.HasPrefix(err.Error(), "WRONGPASS") {
		t.Fatalf("wrong password on the RESP front: %v", err)
	}

	// Heartbeats carry the users, with hashes, when the node's version differs.
	if _, err := cl.AddNode(ctx, clusterapi.NodeAdd{ID: nodeID(1)}); err != nil {
		t.Fatal(err)
	}
	beat := func(v uint64) *clusterapi.HeartbeatResponse {
		t.Helper()
		hb, err := cl.Heartbeat(ctx, &clusterapi.HeartbeatRequest{NodeID: nodeID(1), Addr: "127.0.0.1:17001", UsersVersion: v})
		if err != nil {
			t.Fatal(err)
		}
		return hb
	}
	hb := beat(0)
	if hb.UsersVersion != 2 || len(hb.Users) != 2 || hb.Users[0].Name != "app" || !acl.ValidHash(hb.Users[0].Hash) {
		t.Fatalf("heartbeat users %+v version %d", hb.Users, hb.UsersVersion)
	}
	appHash := hb.Users[0].Hash
	if hb := beat(2); hb.Users != nil {
		t.Fatalf("heartbeat at the current version carries users: %+v", hb.Users)
	}
	if hb := beat(99); len(hb.Users) != 2 {
		t.Fatalf("heartbeat from a node ahead (a rebuilt cluster) gets no users: %+v", hb)
	}

	// An update without a password keeps it; with one, it is replaced.
	if _, err := cl.UpdateUser(ctx, clusterapi.User{Name: "app", Namespaces: []uint16{3}, DefaultNamespace: 3, Commands: []string{"read"}, Disabled: true}); err != nil {
		t.Fatal(err)
	}
	hb = beat(2)
	if got := hb.Users[0]; got.Hash != appHash || !got.Disabled || !reflect.DeepEqual(got.Namespaces, []uint16{3}) {
		t.Fatalf("after update without a password: %+v (hash kept: %v)", got, got.Hash == appHash)
	}
	if _, err := cl.UpdateUser(ctx, clusterapi.User{Name: "app", Password: "pw-2", Namespaces: []uint16{3}, DefaultNamespace: 3}); err != nil {
		t.Fatal(err)
	}
	us, err := acl.Compile(beat(3).Users, 4)
	if err != nil {
		t.Fatal(err)
	}
	if app := us.LookupString("app"); app == nil || !app.CheckPassword([]byte("pw-2")) || app.CheckPassword([]byte("pw-1")) {
		t.Fatal("the new password does not check, or the old one still does")
	}
	var se *clusterapi.StatusError
	if _, err := cl.UpdateUser(ctx, clusterapi.User{Name: "ghost"}); !errors.As(err, &se) || se.Code != 404 {
		t.Fatalf("update of a missing user: %v", err)
	}

	// Listings never show hashes.
	list, err := cl.Users(ctx)
	if err != nil || len(list) != 2 {
		t.Fatalf("list = %+v, %v", list, err)
	}
	st, err := cl.State(ctx)
	if err != nil || len(st.Users) != 2 || st.UsersVersion != 4 {
		t.Fatalf("state users %+v version %d, %v", st.Users, st.UsersVersion, err)
	}
	for _, u := range append(list, st.Users...) {
		if u.Hash != "" || u.Password != "" {
			t.Fatalf("a listing shows a password or hash: %+v", u)
		}
	}
	if one, err := cl.User(ctx, "ops"); err != nil || one.Hash != "" || !one.AllNamespaces {
		t.Fatalf("get ops = %+v, %v", one, err)
	}

	if err := cl.DeleteUser(ctx, "app"); err != nil {
		t.Fatal(err)
	}
	if err := cl.DeleteUser(ctx, "app"); !errors.As(err, &se) || se.Code != 404 {
		t.Fatalf("second delete: %v", err)
	}
	if _, err := cl.User(ctx, "app"); !errors.As(err, &se) || se.Code != 404 {
		t.Fatalf("get of a deleted user: %v", err)
	}
	if hb := beat(4); hb.UsersVersion != 5 || len(hb.Users) != 1 {
		t.Fatalf("after delete: %+v", hb)
	}
}

// TestUsersSnapshot checks that users, with their hashes, survive a snapshot
// and restore.
func TestUsersSnapshot(t *testing.T) {
	f := newFSM(slog.New(slog.NewTextHandler(io.Discard, nil)), nil)
	h, err := acl.HashPassword("pw")
	if err != nil {
		t.Fatal(err)
	}
	for i, e := range []entry{
		{Type: opUserCreate, User: &clusterapi.User{Name: "a", Hash: h, Commands: []string{"read"}, Namespaces: []uint16{4}, DefaultNamespace: 4}},
		{Type: opUserCreate, User: &clusterapi.User{Name: "b", Hash: h, AllNamespaces: true}},
		{Type: opUserUpdate, User: &clusterapi.User{Name: "b", AllNamespaces: true, Disabled: true}},
	} {
		if err := applyEntry(t, f, uint64(i+1), e); err != nil {
			t.Fatalf("%s: %v", e.Type, err)
		}
	}
	if err := applyEntry(t, f, 4, entry{Type: opUserCreate, User: &clusterapi.User{Name: "c"}}); err == nil {
		t.Fatal("a user without a hash was applied")
	}
	g := restored(t, f)
	if !reflect.DeepEqual(g.users, f.users) || g.usersVersion != 3 || g.users["b"].Hash != h || !g.users["b"].Disabled {
		t.Fatalf("restored users %+v version %d", g.users, g.usersVersion)
	}
}
