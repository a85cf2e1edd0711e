package client

import (
	"context"
	"strings"
	"testing"

	"granary/internal/dataserver"
)

// TestAuth: Username and Password log in with HELLO; without them, or with
// a wrong password, connecting fails with the server's reply.
func TestAuth(t *testing.T) {
	addr, _ := startServer(t, dataserver.Options{RequirePass: "s3cret"})
	ctx := context.Background()
	for _, tc := range []struct {
		name, user, pass string
		refused          string // "" when the login works
	}{
		{"password", "", "s3cret", ""},
		{"default user", "default", "s3cret", ""},
		{"no password", "", "", "NOAUTH"},
		{"wrong password", "", "nope", "WRONGPASS"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, err := New(Options{Addrs: []string{addr}, Username: tc.user, Password: tc.pass})
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			ns, err := c.Namespace(2)
			if tc.refused != "" {
				if err == nil || !strings.Contains(err.Error(), tc.refused) {
					t.Fatalf("Namespace: %v, want %s", err, tc.refused)
				}
				return
			}
			if err != nil {
				t.Fatalf("Namespace: %v", err)
			}
			if _, err := ns.Put(ctx, "k", []byte("v")); err != nil {
				t.Errorf("Put: %v", err)
			}
		})
	}
}
