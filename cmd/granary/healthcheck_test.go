package main

import (
	"bytes"
	"context"
	"crypto/tls"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"granary/internal/certgen"
	"granary/internal/tlsconfig"
)

func TestHealthcheck(t *testing.T) {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) { w.Write([]byte("ok\n")) })
	mux.HandleFunc("GET /down", func(w http.ResponseWriter, _ *http.Request) {
		http.Error(w, "shut down", http.StatusServiceUnavailable)
	})
	mux.HandleFunc("GET /slow", func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-r.Context().Done():
		case <-time.After(5 * time.Second):
		}
	})
	srv := httptest.NewServer(mux)
	defer srv.Close()
	certs, err := certgen.WriteFiles(t.TempDir(), "127.0.0.1")
	if err != nil {
		t.Fatal(err)
	}
	tlsCfg, err := tlsconfig.Files{Cert: certs.Cert, Key: certs.Key}.Server()
	if err != nil {
		t.Fatal(err)
	}
	// Granary's servers wrap their listener (httptest's StartTLS would
	// serve its own certificate).
	tlsSrv := httptest.NewUnstartedServer(mux)
	tlsSrv.Listener = tls.NewListener(tlsSrv.Listener, tlsCfg)
	tlsSrv.Start()
	defer tlsSrv.Close()
	tlsURL := strings.Replace(tlsSrv.URL, "http://", "https://", 1)

	cases := []struct {
		name    string
		args    []string
		wantOut string
		wantErr string
	}{
		{"healthy", []string{"--url", srv.URL + "/healthz"}, "ok\n", ""},
		{"503", []string{"--url", srv.URL + "/down"}, "", "503 Service Unavailable: shut down"},
		{"404", []string{"--url", srv.URL + "/nothing"}, "", "404"},
		{"timeout", []string{"--url", srv.URL + "/slow", "--timeout", "100ms"}, "", "deadline exceeded"},
		{"refused", []string{"--url", "http://" + freeAddr(t) + "/healthz"}, "", "connection refused"},
		{"no url", nil, "", "--url is required"},
		{"not a url", []string{"--url", "127.0.0.1:8198"}, "", "want http://host:port/path"},
		{"https", []string{"--url", tlsURL + "/healthz", "--tls-ca-cert-file", certs.CA}, "ok\n", ""},
		{"https, CA not given", []string{"--url", tlsURL + "/healthz"}, "", "unknown authority"},
		{"https, CA file missing", []string{"--url", tlsURL + "/healthz", "--tls-ca-cert-file", certs.CA + ".nope"}, "", "no such file"},
		{"bad timeout", []string{"--url", srv.URL + "/healthz", "--timeout", "0s"}, "", "--timeout must be positive"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			root := rootCmd()
			var out bytes.Buffer
			root.SetOut(&out)
			root.SetErr(&out)
			root.SetArgs(append([]string{"healthcheck"}, c.args...))
			err := root.ExecuteContext(context.Background())
			if c.wantErr == "" {
				if err != nil || out.String() != c.wantOut {
					t.Fatalf("err %v, output %q; want no error, output %q", err, out.String(), c.wantOut)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), c.wantErr) {
				t.Fatalf("err %v; want one containing %q", err, c.wantErr)
			}
		})
	}
}
