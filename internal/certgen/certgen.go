// Package certgen makes a throwaway certificate authority and the
// certificates it signs: `granary dev --tls` and the tests use it so that
// trying TLS needs no openssl. Keys are ECDSA P-256; certificates are valid
// for a year. Not for production: a real deployment's certificates come from
// its own CA.
package certgen

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"time"
)

// CA is a certificate authority that signs certificates.
type CA struct {
	Cert *x509.Certificate
	Key  *ecdsa.PrivateKey
	// PEM is the CA certificate, PEM-encoded (the file clients trust).
	PEM []byte
}

// NewCA makes a self-signed CA named name.
func NewCA(name string) (*CA, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("certgen: CA key: %w", err)
	}
	tmpl, err := template(name)
	if err != nil {
		return nil, err
	}
	tmpl.IsCA = true
	tmpl.BasicConstraintsValid = true
	tmpl.KeyUsage = x509.KeyUsageCertSign | x509.KeyUsageCRLSign
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return nil, fmt.Errorf("certgen: CA certificate: %w", err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, fmt.Errorf("certgen: CA certificate: %w", err)
	}
	return &CA{Cert: cert, Key: key, PEM: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})}, nil
}

// Issue signs a certificate for hosts (DNS names or IP addresses) usable
// both by a server and as a client certificate (Granary's servers dial each
// other with theirs). It returns the certificate and its key, PEM-encoded.
func (ca *CA) Issue(name string, hosts ...string) (certPEM, keyPEM []byte, err error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, nil, fmt.Errorf("certgen: key: %w", err)
	}
	tmpl, err := template(name)
	if err != nil {
		return nil, nil, err
	}
	tmpl.KeyUsage = x509.KeyUsageDigitalSignature
	tmpl.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth}
	for _, h := range hosts {
		if ip := net.ParseIP(h); ip != nil {
			tmpl.IPAddresses = append(tmpl.IPAddresses, ip)
		} else {
			tmpl.DNSNames = append(tmpl.DNSNames, h)
		}
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.Cert, &key.PublicKey, ca.Key)
	if err != nil {
		return nil, nil, fmt.Errorf("certgen: certificate: %w", err)
	}
	kder, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		return nil, nil, fmt.Errorf("certgen: key: %w", err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}),
		pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kder}), nil
}

func template(name string) (*x509.Certificate, error) {
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	if err != nil {
		return nil, fmt.Errorf("certgen: serial: %w", err)
	}
	now := time.Now()
	return &x509.Certificate{
		SerialNumber: serial,
		Subject:      pkix.Name{Organization: []string{"Granary (generated)"}, CommonName: name},
		NotBefore:    now.Add(-time.Hour), // tolerate a clock a little behind
		NotAfter:     now.AddDate(1, 0, 0),
	}, nil
}

// Files are the paths WriteFiles wrote.
type Files struct {
	CA         string // the CA certificate
	Cert, Key  string // a server certificate and its key
	ClientCert string // a client certificate (for clients' --tls-cert-file)
	ClientKey  string
}

// WriteFiles makes a CA, a server certificate for hosts and a client
// certificate, and writes them into dir as ca.crt, server.crt, server.key,
// client.crt and client.key (keys readable by the owner only). The CA's key
// is not kept: nothing more can be signed with it.
func WriteFiles(dir string, hosts ...string) (Files, error) {
	if len(hosts) == 0 {
		return Files{}, errors.New("certgen: no host for the server certificate")
	}
	ca, err := NewCA("Granary generated CA")
	if err != nil {
		return Files{}, err
	}
	cert, key, err := ca.Issue("granary server", hosts...)
	if err != nil {
		return Files{}, err
	}
	ccert, ckey, err := ca.Issue("granary client")
	if err != nil {
		return Files{}, err
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return Files{}, fmt.Errorf("certgen: %w", err)
	}
	f := Files{
		CA:         filepath.Join(dir, "ca.crt"),
		Cert:       filepath.Join(dir, "server.crt"),
		Key:        filepath.Join(dir, "server.key"),
		ClientCert: filepath.Join(dir, "client.crt"),
		ClientKey:  filepath.Join(dir, "client.key"),
	}
	for _, w := range []struct {
		path string
		data []byte
		mode os.FileMode
	}{
		{f.CA, ca.PEM, 0o644}, {f.Cert, cert, 0o644}, {f.Key, key, 0o600},
		{f.ClientCert, ccert, 0o644}, {f.ClientKey, ckey, 0o600},
	} {
		if err := os.WriteFile(w.path, w.data, w.mode); err != nil {
			return Files{}, fmt.Errorf("certgen: %w", err)
		}
	}
	return f, nil
}
