package configserver

import (
	"crypto/tls"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"granary/internal/certgen"
	"granary/internal/clusterapi"
	"granary/internal/tlsconfig"
)

// TestTLSGroup runs three config servers with every port on TLS and client
// certificates required: Raft elects a leader over TLS, a follower forwards a
// write to the leader over HTTPS, the RESP port answers TLS clients only, and
// the API refuses plain HTTP and clients without a certificate.
func TestTLSGroup(t *testing.T) {
	files, err := certgen.WriteFiles(t.TempDir(), "127.0.0.1")
	if err != nil {
		t.Fatal(err)
	}
	srvFiles := tlsconfig.Files{Cert: files.Cert, Key: files.Key, CA: files.CA, ClientAuth: tlsconfig.AuthRequire}
	servers, _ := startGroup(t, 3, func(o *Options) {
		if o.TLS, err = srvFiles.Server(); err != nil {
			t.Fatal(err)
		}
		if o.TLSClient, err = srvFiles.Client(); err != nil {
			t.Fatal(err)
		}
	})
	leader := leaderOf(servers)
	if leader == nil {
		t.Fatal("no leader over TLS")
	}
	var follower *Server
	for _, s := range servers {
		if s != leader {
			follower = s
		}
	}
	withCert, err := tlsconfig.Files{CA: files.CA, ClientCert: files.ClientCert, ClientKey: files.ClientKey}.Client()
	if err != nil {
		t.Fatal(err)
	}
	noCert, err := tlsconfig.Files{CA: files.CA}.Client()
	if err != nil {
		t.Fatal(err)
	}
	ctx := ctxT(t)

	// A write through a follower is forwarded to the leader (HTTPS).
	if _, err := clusterapi.NewClientTLS([]string{follower.HTTPAddr()}, withCert).CreateNamespace(ctx,
		clusterapi.Namespace{ID: 4, Name: "over-tls"}); err != nil {
		t.Fatalf("namespace through a follower: %v", err)
	}
	eventually(t, 5*time.Second, "the namespace on every server", func() bool {
		for _, s := range servers {
			if st := s.fsm.state(); len(st.Namespaces) != 1 || st.Namespaces[0].Name != "over-tls" {
				return false
			}
		}
		return true
	})

	cases := []struct {
		name string
		api  *clusterapi.Client
		ok   bool
	}{
		{"HTTPS with a client certificate", clusterapi.NewClientTLS([]string{leader.HTTPAddr()}, withCert), true},
		{"HTTPS without a client certificate", clusterapi.NewClientTLS([]string{leader.HTTPAddr()}, noCert), false},
		{"plain HTTP", clusterapi.NewClient([]string{leader.HTTPAddr()}), false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := tc.api.Status(ctx); (err == nil) != tc.ok {
				t.Fatalf("Status: %v, want success %v", err, tc.ok)
			}
		})
	}

	for _, tc := range []struct {
		name string
		cfg  *tls.Config
		ok   bool
	}{{"RESP over TLS", withCert, true}, {"RESP without a client certificate", noCert, false}, {"plain RESP", nil, false}} {
		t.Run(tc.name, func(t *testing.T) {
			rc := redis.NewClient(&redis.Options{Addr: follower.RESPAddr(), TLSConfig: tc.cfg, MaxRetries: -1,
				DialTimeout: 2 * time.Second, ReadTimeout: 2 * time.Second})
			defer rc.Close()
			if _, err := rc.ClusterSlots(ctx).Result(); (err == nil) != tc.ok {
				t.Fatalf("CLUSTER SLOTS: %v, want success %v", err, tc.ok)
			}
		})
	}
}
