package main

import (
	"bytes"
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
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
