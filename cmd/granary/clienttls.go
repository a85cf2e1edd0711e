package main

import (
	"crypto/tls"

	"github.com/spf13/pflag"

	"granary/internal/tlsconfig"
)

// clientTLSFlags are the TLS flags of a client command: granary ctl (to the
// config servers' API), import and export (to the RESP ports) of servers
// started with --tls-cert-file.
type clientTLSFlags struct {
	on    bool
	files tlsconfig.Files
	cfg   *tls.Config // nil: no TLS
}

func (t *clientTLSFlags) addFlags(f *pflag.FlagSet) {
	f.BoolVar(&t.on, "tls", false, "connect with TLS (implied by the other --tls-* flags)")
	f.StringVar(&t.files.CA, "tls-ca-cert-file", "", "PEM CA certificates that verify the servers (default: the system's roots)")
	f.StringVar(&t.files.ClientCert, "tls-cert-file", "", "PEM client certificate, for servers started with --tls-auth-clients yes")
	f.StringVar(&t.files.ClientKey, "tls-key-file", "", "PEM private key of --tls-cert-file")
}

// load builds the TLS configuration the flags ask for (cfg stays nil
// without TLS).
func (t *clientTLSFlags) load() error {
	if !t.on && t.files == (tlsconfig.Files{}) {
		return nil
	}
	cfg, err := t.files.Client()
	if err != nil {
		return err
	}
	t.cfg = cfg
	return nil
}
