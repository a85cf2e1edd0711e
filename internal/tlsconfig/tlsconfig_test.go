package tlsconfig

import (
	"bytes"
	"crypto/tls"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"granary/internal/certgen"
)

func TestFilesCheck(t *testing.T) {
	cases := []struct {
		name    string
		f       Files
		wantErr string
	}{
		{"off", Files{}, ""},
		{"server pair", Files{Cert: "c", Key: "k"}, ""},
		{"cert without key", Files{Cert: "c"}, "--tls-key-file"},
		{"key without cert", Files{Key: "k"}, "--tls-cert-file"},
		{"client cert without key", Files{ClientCert: "c"}, "key file"},
		{"unknown policy", Files{Cert: "c", Key: "k", ClientAuth: "maybe"}, "want yes, optional or no"},
		{"required without CA", Files{Cert: "c", Key: "k", ClientAuth: AuthRequire}, "--tls-ca-cert-file"},
		{"optional without CA", Files{Cert: "c", Key: "k", ClientAuth: AuthOptional}, "--tls-ca-cert-file"},
		{"required with CA", Files{Cert: "c", Key: "k", CA: "ca", ClientAuth: "require"}, ""},
		{"none", Files{Cert: "c", Key: "k", ClientAuth: "none"}, ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.f.Check()
			if tc.wantErr == "" {
				if err != nil {
					t.Fatalf("Check: %v", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Fatalf("Check = %v, want an error with %q", err, tc.wantErr)
			}
		})
	}
}

func TestServerConfig(t *testing.T) {
	dir := t.TempDir()
	files, err := certgen.WriteFiles(dir, "127.0.0.1")
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name     string
		f        Files
		wantAuth tls.ClientAuthType
		wantErr  string
	}{
		{"no client certificates", Files{Cert: files.Cert, Key: files.Key}, tls.NoClientCert, ""},
		{"required", Files{Cert: files.Cert, Key: files.Key, CA: files.CA, ClientAuth: AuthRequire}, tls.RequireAndVerifyClientCert, ""},
		{"optional", Files{Cert: files.Cert, Key: files.Key, CA: files.CA, ClientAuth: AuthOptional}, tls.VerifyClientCertIfGiven, ""},
		{"missing key file", Files{Cert: files.Cert, Key: filepath.Join(dir, "nope.key")}, 0, "no such file"},
		{"key of another certificate", Files{Cert: files.Cert, Key: files.ClientKey}, 0, "private key does not match"},
		{"CA file without certificates", Files{Cert: files.Cert, Key: files.Key, CA: files.Key, ClientAuth: AuthRequire}, 0, "no PEM certificate"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			cfg, err := tc.f.Server()
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("Server = %v, want an error with %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if cfg.MinVersion != tls.VersionTLS12 || cfg.ClientAuth != tc.wantAuth {
				t.Fatalf("MinVersion %x ClientAuth %v, want TLS 1.2 and %v", cfg.MinVersion, cfg.ClientAuth, tc.wantAuth)
			}
			if (cfg.ClientCAs != nil) != (tc.wantAuth != tls.NoClientCert) {
				t.Fatalf("ClientCAs set: %v", cfg.ClientCAs != nil)
			}
		})
	}
}

// TestKeyPairReload replaces the certificate files and sees the new pair
// served; a broken replacement keeps the previous pair.
func TestKeyPairReload(t *testing.T) {
	dir := t.TempDir()
	first, err := certgen.WriteFiles(filepath.Join(dir, "a"), "127.0.0.1")
	if err != nil {
		t.Fatal(err)
	}
	second, err := certgen.WriteFiles(filepath.Join(dir, "b"), "127.0.0.1")
	if err != nil {
		t.Fatal(err)
	}
	kp, err := newKeyPair(first.Cert, first.Key)
	if err != nil {
		t.Fatal(err)
	}
	leaf := func() []byte {
		t.Helper()
		kp.checked = time.Time{} // as if the recheck interval had passed
		c, err := kp.get()
		if err != nil {
			t.Fatal(err)
		}
		return c.Certificate[0]
	}
	was := leaf()
	copyFile := func(from, to string, mod time.Time) {
		t.Helper()
		b, err := os.ReadFile(from)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(to, b, 0o600); err != nil {
			t.Fatal(err)
		}
		if err := os.Chtimes(to, mod, mod); err != nil {
			t.Fatal(err)
		}
	}
	later := time.Now().Add(time.Minute)
	// Only the certificate replaced: it does not match the key, the old pair stays.
	copyFile(second.Cert, first.Cert, later)
	if !bytes.Equal(leaf(), was) {
		t.Fatal("a certificate without its key replaced the pair")
	}
	copyFile(second.Key, first.Key, later)
	now := leaf()
	if bytes.Equal(now, was) {
		t.Fatal("the renewed certificate was not loaded")
	}
	want, err := tls.X509KeyPair(mustRead(t, second.Cert), mustRead(t, second.Key))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(now, want.Certificate[0]) {
		t.Fatal("the loaded certificate is not the new one")
	}
}

func mustRead(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
