package dataserver

import (
	"context"
	"testing"
	"time"

	"granary/internal/clusterapi"
)

// TestUsersFromConfigServer checks that users defined on the config server
// reach a data server with heartbeat replies, and follow changes and removal.
func TestUsersFromConfigServer(t *testing.T) {
	cs := startConfigServer(t, true, 1)
	api := clusterapi.NewClient([]string{cs.HTTPAddr()})
	ds := start(t, Options{ConfigServers: []string{cs.HTTPAddr()}})
	ctx := context.Background()
	if _, err := api.CreateUser(ctx, clusterapi.User{Name: "app", Password: "pw", Namespaces: []uint16{3}, DefaultNamespace: 3, Commands: []string{"read"}}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 10*time.Second, "user app on the data server", func() bool {
		u := ds.Node().Users().LookupString("app")
		return u != nil && u.CanUse(3) && !u.CanUse(4) && u.CheckPassword([]byte("pw")) && u.Default == 3
	})
	if _, err := api.UpdateUser(ctx, clusterapi.User{Name: "app", Disabled: true}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 10*time.Second, "user app disabled, its password kept", func() bool {
		u := ds.Node().Users().LookupString("app")
		return u != nil && u.Disabled && u.CheckPassword([]byte("pw")) && !u.CanUse(3)
	})
	if err := api.DeleteUser(ctx, "app"); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 10*time.Second, "user app removed", func() bool {
		us := ds.Node().Users()
		return us.Len() == 0 && us.Version == 3
	})
}
