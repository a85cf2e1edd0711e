package main

import (
	"context"
	"reflect"
	"strings"
	"testing"

	"granary/internal/acl"
	"granary/internal/clusterapi"
)

func TestCtlUsers(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a config server")
	}
	api := startCtlCluster(t)
	wantContains(t, "empty list", mustCtl(t, api, "user", "list"), "no users defined")

	out := mustCtl(t, api, "user", "add", "shop", "--password", "pw-1", "--namespaces", "2,1,2", "--commands", "read,write")
	wantContains(t, "add", out, "shop", "enabled", "2,1", "read,write")
	if _, err := ctlIn(t, api, "pw-ops\n", "user", "add", "ops", "--password-stdin", "--namespaces", "all", "--commands", "all"); err != nil {
		t.Fatal(err)
	}
	mustCtl(t, api, "user", "add", "fresh", "--password", "x")

	for _, bad := range []struct {
		stdin string
		args  []string
		msg   string
	}{
		{"", []string{"user", "add", "nopw"}, "password is required"},
		{"", []string{"user", "add", "e", "--password-stdin"}, "empty"},
		{"p\n", []string{"user", "add", "e", "--password-stdin", "--password", "p"}, "not both"},
		{"", []string{"user", "add", "e", "--password", "p", "--commands", "read,delete"}, "command class"},
		{"", []string{"user", "add", "e", "--password", "p", "--namespaces", "1,x"}, "namespace id"},
		{"", []string{"user", "add", "e", "--password", "p", "--namespaces", "1", "--default-namespace", "3"}, "default namespace"},
		{"", []string{"user", "add", "shop", "--password", "p"}, "already exists"},
		{"", []string{"user", "update", "shop"}, "nothing to change"},
		{"", []string{"user", "update", "ghost", "--disable"}, "not found"},
		{"", []string{"user", "update", "shop", "--disable", "--enable"}, "not both"},
		{"", []string{"user", "remove", "ghost"}, "not found"},
	} {
		if _, err := ctlIn(t, api, bad.stdin, bad.args...); err == nil || !strings.Contains(err.Error(), bad.msg) {
			t.Errorf("ctl %s: %v, want an error with %q", strings.Join(bad.args, " "), err, bad.msg)
		}
	}

	out = mustCtl(t, api, "user", "update", "shop", "--namespaces", "3", "--disable")
	wantContains(t, "update", out, "shop", "disabled", "3", "read,write")
	var got clusterapi.User
	ctlJSON(t, api, &got, "user", "update", "shop", "--enable", "--commands", "read")
	want := clusterapi.User{Name: "shop", Namespaces: []uint16{3}, DefaultNamespace: 3, Commands: []string{"read"}}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("update --json = %+v, want %+v", got, want)
	}
	if _, err := ctlIn(t, api, "pw-2\n", "user", "update", "shop", "--password-stdin"); err != nil {
		t.Fatal(err)
	}
	// The password changed: the hash the data servers get checks the new one.
	hb, err := clusterapi.NewClient([]string{api}).Heartbeat(context.Background(),
		&clusterapi.HeartbeatRequest{NodeID: fakeNodes[0].id, Addr: fakeNodes[0].addr})
	if err != nil {
		t.Fatal(err)
	}
	us, err := acl.Compile(hb.Users, hb.UsersVersion)
	if err != nil || !us.LookupString("shop").CheckPassword([]byte("pw-2")) || !us.LookupString("ops").CheckPassword([]byte("pw-ops")) {
		t.Fatalf("passwords after the update do not check (%v)", err)
	}

	list := mustCtl(t, api, "user", "list")
	wantContains(t, "list", list, "NAME", "fresh", "none", "ops", "all", "read,write,admin", "shop")
	jsonList := mustCtl(t, api, "--json", "user", "list")
	for _, leak := range []string{"sha256", "pw-", "hash", "password"} {
		if strings.Contains(list+jsonList, leak) {
			t.Errorf("user list shows %q:\n%s\n%s", leak, list, jsonList)
		}
	}
	wantContains(t, "remove", mustCtl(t, api, "user", "remove", "fresh"), "user fresh removed")
	if strings.Contains(mustCtl(t, api, "user", "list"), "fresh") {
		t.Error("a removed user is still listed")
	}
}
