package dataserver

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"granary/internal/certgen"
	"granary/internal/tlsconfig"
)

// TestTLSPort serves the RESP port over TLS and connects go-redis with
// different client configurations.
func TestTLSPort(t *testing.T) {
	files, err := certgen.WriteFiles(t.TempDir(), "127.0.0.1")
	if err != nil {
		t.Fatal(err)
	}
	ca, err := os.ReadFile(files.CA)
	if err != nil {
		t.Fatal(err)
	}
	roots := x509.NewCertPool()
	roots.AppendCertsFromPEM(ca)
	clientCert, err := tls.LoadX509KeyPair(files.ClientCert, files.ClientKey)
	if err != nil {
		t.Fatal(err)
	}
	trusting := func() *tls.Config { return &tls.Config{RootCAs: roots} }
	withCert := func() *tls.Config {
		return &tls.Config{RootCAs: roots, Certificates: []tls.Certificate{clientCert}}
	}
	tls11 := func() *tls.Config {
		return &tls.Config{RootCAs: roots, MinVersion: tls.VersionTLS10, MaxVersion: tls.VersionTLS11}
	}

	cases := []struct {
		name    string
		auth    string
		client  *tls.Config // nil: plain TCP
		wantErr string      // "" = PING answers PONG
	}{
		{"trusted CA", tlsconfig.AuthNone, trusting(), ""},
		{"system roots only", tlsconfig.AuthNone, &tls.Config{}, "certificate signed by unknown authority"},
		{"TLS 1.1 refused", tlsconfig.AuthNone, tls11(), "protocol version"},
		{"plain TCP on the TLS port", tlsconfig.AuthNone, nil, ""},
		{"client certificate required, none given", tlsconfig.AuthRequire, trusting(), "certificate required"},
		{"client certificate required and given", tlsconfig.AuthRequire, withCert(), ""},
		{"client certificate optional, none given", tlsconfig.AuthOptional, trusting(), ""},
		{"client certificate optional and given", tlsconfig.AuthOptional, withCert(), ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			f := tlsconfig.Files{Cert: files.Cert, Key: files.Key, CA: files.CA, ClientAuth: tc.auth}
			srv, err := f.Server()
			if err != nil {
				t.Fatal(err)
			}
			ds := start(t, Options{Standalone: true, TLS: srv})
			rc := redis.NewClient(&redis.Options{Addr: ds.Addr(), TLSConfig: tc.client, MaxRetries: -1,
				DialTimeout: 2 * time.Second, ReadTimeout: 2 * time.Second})
			defer rc.Close()
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			got, err := rc.Ping(ctx).Result()
			switch {
			case tc.client == nil:
				// The server waits for a ClientHello and takes the
				// RESP bytes for a bad one: no reply is a PONG.
				if err == nil {
					t.Fatalf("plain PING on the TLS port answered %q", got)
				}
			case tc.wantErr == "":
				if err != nil || got != "PONG" {
					t.Fatalf("PING = %q, %v", got, err)
				}
				if err := rc.Set(ctx, "k", "v", 0).Err(); err != nil {
					t.Fatalf("SET over TLS: %v", err)
				}
			case err == nil || !strings.Contains(err.Error(), tc.wantErr):
				t.Fatalf("PING = %q, %v; want an error with %q", got, err, tc.wantErr)
			}
		})
	}
}
