package main

import (
	"crypto/tls"

	"github.com/spf13/pflag"

	"granary/internal/clusterapi"
	"granary/internal/tlsconfig"
)

// ctlTLS is granary ctl's TLS to the config servers' API (config servers
// started with --tls-cert-file).
type ctlTLS struct {
	on    bool
	files tlsconfig.Files
	cfg   *tls.Config // nil: plain HTTP
}

func (t *ctlTLS) addFlags(f *pflag.FlagSet) {
	f.BoolVar(&t.on, "tls", false, "speak HTTPS to the config servers (implied by the other --tls-* flags)")
	f.StringVar(&t.files.CA, "tls-ca-cert-file", "", "PEM CA certificates that verify the config servers (default: the system's roots)")
	f.StringVar(&t.files.ClientCert, "tls-cert-file", "", "PEM client certificate, for config servers started with --tls-auth-clients yes")
	f.StringVar(&t.files.ClientKey, "tls-key-file", "", "PEM private key of --tls-cert-file")
}

// load builds the TLS configuration the flags ask for.
func (t *ctlTLS) load() error {
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

// client returns an API client for addrs.
func (e *ctlEnv) client(addrs []string) *clusterapi.Client {
	return clusterapi.NewClientTLS(addrs, e.tls.cfg)
}
