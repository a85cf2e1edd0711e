package certgen

import (
	"crypto/tls"
	"crypto/x509"
	"os"
	"testing"
)

func TestWriteFiles(t *testing.T) {
	files, err := WriteFiles(t.TempDir(), "127.0.0.1", "localhost")
	if err != nil {
		t.Fatal(err)
	}
	roots := x509.NewCertPool()
	ca, err := os.ReadFile(files.CA)
	if err != nil || !roots.AppendCertsFromPEM(ca) {
		t.Fatalf("CA file: %v", err)
	}
	cases := []struct {
		name      string
		cert, key string
		host      string // "" = not checked
		usage     x509.ExtKeyUsage
		wantErr   bool
	}{
		{"server by IP", files.Cert, files.Key, "127.0.0.1", x509.ExtKeyUsageServerAuth, false},
		{"server by name", files.Cert, files.Key, "localhost", x509.ExtKeyUsageServerAuth, false},
		{"server used as a client", files.Cert, files.Key, "", x509.ExtKeyUsageClientAuth, false},
		{"server, another name", files.Cert, files.Key, "example.com", x509.ExtKeyUsageServerAuth, true},
		{"client", files.ClientCert, files.ClientKey, "", x509.ExtKeyUsageClientAuth, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			pair, err := tls.LoadX509KeyPair(tc.cert, tc.key)
			if err != nil {
				t.Fatal(err)
			}
			leaf, err := x509.ParseCertificate(pair.Certificate[0])
			if err != nil {
				t.Fatal(err)
			}
			_, err = leaf.Verify(x509.VerifyOptions{Roots: roots, DNSName: tc.host, KeyUsages: []x509.ExtKeyUsage{tc.usage}})
			if (err != nil) != tc.wantErr {
				t.Fatalf("Verify: %v, want error %v", err, tc.wantErr)
			}
		})
	}
	for _, k := range []string{files.Key, files.ClientKey} {
		fi, err := os.Stat(k)
		if err != nil {
			t.Fatal(err)
		}
		if fi.Mode().Perm() != 0o600 {
			t.Errorf("%s: mode %v, want 0600", k, fi.Mode().Perm())
		}
	}
}

func TestWriteFilesNeedsAHost(t *testing.T) {
	if _, err := WriteFiles(t.TempDir()); err == nil {
		t.Fatal("WriteFiles without a host succeeded")
	}
}
