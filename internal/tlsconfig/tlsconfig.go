// Package tlsconfig builds the TLS configurations of Granary's servers and
// of the connections they open to each other (replication links,
// heartbeats, Raft, forwarding to the config leader) from PEM files named by
// flags. TLS 1.2 is the minimum. Certificates and keys are re-read when
// their files change, so a renewed certificate is served without a restart.
package tlsconfig

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"os"
)

// Client certificate policies of a server (Redis' tls-auth-clients).
const (
	AuthNone     = "no"       // no client certificate asked for
	AuthOptional = "optional" // verified when a client presents one
	AuthRequire  = "yes"      // every client must present a valid one
)

// Files name the PEM files of a TLS setup. Cert and Key turn TLS on.
type Files struct {
	Cert, Key string // this server's certificate (chain) and key
	// CA holds the certificates that verify the servers this process dials
	// and, with client authentication, the clients' certificates. Empty:
	// the system's roots verify servers.
	CA string
	// ClientAuth is AuthNone (""), AuthOptional or AuthRequire.
	ClientAuth string
	// ClientCert and ClientKey are the certificate this process presents
	// when it dials another server; empty: Cert and Key.
	ClientCert, ClientKey string
}

// Enabled reports whether the files turn TLS on.
func (f Files) Enabled() bool { return f.Cert != "" || f.Key != "" }

// Check reports a missing half of a pair or an unknown client policy.
func (f Files) Check() error {
	if (f.Cert == "") != (f.Key == "") {
		return errors.New("give both --tls-cert-file and --tls-key-file")
	}
	if (f.ClientCert == "") != (f.ClientKey == "") {
		return errors.New("a TLS client certificate needs its key file, and the reverse")
	}
	auth, err := clientAuth(f.ClientAuth)
	if err != nil {
		return err
	}
	if auth != tls.NoClientCert && f.CA == "" {
		return fmt.Errorf("--tls-auth-clients %s verifies client certificates with --tls-ca-cert-file: give it", f.ClientAuth)
	}
	return nil
}

func clientAuth(s string) (tls.ClientAuthType, error) {
	switch s {
	case "", AuthNone, "none":
		return tls.NoClientCert, nil
	case AuthOptional:
		return tls.VerifyClientCertIfGiven, nil
	case AuthRequire, "require":
		return tls.RequireAndVerifyClientCert, nil
	}
	return 0, fmt.Errorf("--tls-auth-clients %q: want yes, optional or no", s)
}

// Server returns the configuration of this process's listeners.
func (f Files) Server() (*tls.Config, error) {
	if err := f.Check(); err != nil {
		return nil, err
	}
	if f.Cert == "" {
		return nil, errors.New("TLS needs --tls-cert-file and --tls-key-file")
	}
	kp, err := newKeyPair(f.Cert, f.Key)
	if err != nil {
		return nil, err
	}
	auth, _ := clientAuth(f.ClientAuth)
	cfg := &tls.Config{
		MinVersion: tls.VersionTLS12,
		ClientAuth: auth,
		GetCertificate: func(*tls.ClientHelloInfo) (*tls.Certificate, error) {
			return kp.get()
		},
	}
	if auth != tls.NoClientCert {
		if cfg.ClientCAs, err = loadPool(f.CA); err != nil {
			return nil, err
		}
	}
	return cfg, nil
}

// Client returns the configuration of the connections this process dials
// to other Granary servers (and of tools such as granary ctl). The server
// name to verify is taken from the dialed address by the dialer.
func (f Files) Client() (*tls.Config, error) {
	if err := f.Check(); err != nil {
		return nil, err
	}
	cfg := &tls.Config{MinVersion: tls.VersionTLS12}
	if f.CA != "" {
		pool, err := loadPool(f.CA)
		if err != nil {
			return nil, err
		}
		cfg.RootCAs = pool
	}
	cert, key := f.ClientCert, f.ClientKey
	if cert == "" {
		cert, key = f.Cert, f.Key
	}
	if cert != "" {
		kp, err := newKeyPair(cert, key)
		if err != nil {
			return nil, err
		}
		cfg.GetClientCertificate = func(*tls.CertificateRequestInfo) (*tls.Certificate, error) {
			return kp.get()
		}
	}
	return cfg, nil
}

func loadPool(path string) (*x509.CertPool, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("tls CA file: %w", err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(data) {
		return nil, fmt.Errorf("tls CA file %s: no PEM certificate in it", path)
	}
	return pool, nil
}
