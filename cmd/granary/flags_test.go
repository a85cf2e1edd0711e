package main

import (
	"os"
	"path/filepath"
	"testing"
)

func TestParseSize(t *testing.T) {
	cases := []struct {
		in   string
		want int64
		bad  bool
	}{
		{"0", 0, false},
		{"1024", 1024, false},
		{"4gb", 4 << 30, false},
		{"512MB", 512 << 20, false},
		{"10kb", 10 << 10, false},
		{"2g", 2e9, false},
		{"3m", 3e6, false},
		{" 7k ", 7e3, false},
		{"-1", 0, true},
		{"lots", 0, true},
		{"", 0, true},
	}
	for _, c := range cases {
		got, err := parseSize(c.in)
		if (err != nil) != c.bad || got != c.want {
			t.Errorf("parseSize(%q) = %d, %v; want %d, bad=%v", c.in, got, err, c.want, c.bad)
		}
	}
}

func TestConfigFile(t *testing.T) {
	dir := t.TempDir()
	write := func(name, body string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	good := write("good.yaml", "listen: 127.0.0.1:7777\nmaxmemory: 1gb\nmaxclients: 5\nstandalone: true\n")
	cases := []struct {
		name    string
		args    []string
		wantErr bool
		check   map[string]string
	}{
		{"file values apply", []string{"--config", good}, false,
			map[string]string{"listen": "127.0.0.1:7777", "maxmemory": "1gb", "maxclients": "5", "standalone": "true"}},
		{"command line wins", []string{"--config", good, "--listen", "127.0.0.1:8888"}, false,
			map[string]string{"listen": "127.0.0.1:8888", "maxclients": "5"}},
		{"TLS settings", []string{"--config", write("tls.yaml", "tls-cert-file: /etc/granary/node.crt\ntls-key-file: /etc/granary/node.key\ntls-ca-cert-file: /etc/granary/ca.crt\ntls-auth-clients: yes\ntls-http: true\n")}, false,
			map[string]string{"tls-cert-file": "/etc/granary/node.crt", "tls-key-file": "/etc/granary/node.key",
				"tls-ca-cert-file": "/etc/granary/ca.crt", "tls-auth-clients": "yes", "tls-http": "true"}},
		{"unknown setting", []string{"--config", write("bad.yaml", "nosuch: 1\n")}, true, nil},
		{"bad value", []string{"--config", write("badv.yaml", "maxclients: many\n")}, true, nil},
		{"not yaml", []string{"--config", write("junk.yaml", "::: [\n")}, true, nil},
		{"missing file", []string{"--config", filepath.Join(dir, "none.yaml")}, true, nil},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			cmd := dataCmd()
			if err := cmd.ParseFlags(c.args); err != nil {
				t.Fatal(err)
			}
			err := cmd.PreRunE(cmd, nil)
			if (err != nil) != c.wantErr {
				t.Fatalf("err = %v, want error %v", err, c.wantErr)
			}
			for name, want := range c.check {
				if got := cmd.Flags().Lookup(name).Value.String(); got != want {
					t.Errorf("%s = %q, want %q", name, got, want)
				}
			}
		})
	}
}
