package main

import (
	"crypto/tls"

	"github.com/spf13/pflag"

	"granary/internal/tlsconfig"
)

// addServerTLSFlags adds the TLS flags of a server (Redis' names: tls-cert-file,
// tls-key-file, tls-ca-cert-file, tls-auth-clients, tls-client-cert-file,
// tls-client-key-file). Given a certificate, every port of the server speaks
// TLS only, and so do the connections it opens to other Granary servers.
func addServerTLSFlags(f *pflag.FlagSet, files *tlsconfig.Files) {
	f.StringVar(&files.Cert, "tls-cert-file", "", "PEM certificate (chain) served on every port; with --tls-key-file it turns TLS on (TLS 1.2 and later); re-read when the file changes")
	f.StringVar(&files.Key, "tls-key-file", "", "PEM private key of --tls-cert-file")
	f.StringVar(&files.CA, "tls-ca-cert-file", "", "PEM CA certificates that verify the servers this one dials (config servers, replication peers) and client certificates (empty: the system's roots)")
	f.StringVar(&files.ClientAuth, "tls-auth-clients", tlsconfig.AuthNone, "client certificates: yes (required, verified with --tls-ca-cert-file), optional (verified when given) or no")
	f.StringVar(&files.ClientCert, "tls-client-cert-file", "", "PEM certificate presented when dialing other servers (default: --tls-cert-file)")
	f.StringVar(&files.ClientKey, "tls-client-key-file", "", "PEM private key of --tls-client-cert-file")
}

// serverTLS returns the listeners' and the dialers' configurations, both nil
// when TLS is off.
func serverTLS(files tlsconfig.Files) (srv, cli *tls.Config, err error) {
	if !files.Enabled() {
		return nil, nil, files.Check()
	}
	if srv, err = files.Server(); err != nil {
		return nil, nil, err
	}
	if cli, err = files.Client(); err != nil {
		return nil, nil, err
	}
	return srv, cli, nil
}
