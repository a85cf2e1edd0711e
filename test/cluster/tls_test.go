//go:build e2e

package cluster

import (
	"crypto/tls"
	"fmt"
	"net/http"
	"os"

	"granary/internal/certgen"
	"granary/internal/clusterapi"
	"granary/internal/tlsconfig"
)

// With GRANARY_TEST_TLS=1 (make cluster-test-tls) the whole suite runs over
// TLS: TestMain generates a CA and certificates, every server is started with
// them and requires client certificates (--tls-auth-clients yes), data
// servers serve their metrics over TLS too, and every client (go-redis,
// rueidis, redis-cli, redis-benchmark, granary ctl, the API and metrics
// readers) connects with TLS and presents the client certificate.

// suiteTLS is the generated files, nil when the suite runs in plain TCP.
var suiteTLS *certgen.Files

// suiteClientTLS is the clients' configuration (CA, client certificate).
var suiteClientTLS *tls.Config

// setupTLS generates the suite's certificates in dir when GRANARY_TEST_TLS=1.
func setupTLS(dir string) error {
	if os.Getenv("GRANARY_TEST_TLS") != "1" {
		return nil
	}
	files, err := certgen.WriteFiles(dir, "127.0.0.1", "localhost")
	if err != nil {
		return err
	}
	cfg, err := tlsconfig.Files{CA: files.CA, ClientCert: files.ClientCert, ClientKey: files.ClientKey}.Client()
	if err != nil {
		return err
	}
	suiteTLS, suiteClientTLS = &files, cfg
	fmt.Fprintln(os.Stderr, "cluster: every server and client uses TLS (GRANARY_TEST_TLS=1)")
	return nil
}

// clientTLS is the TLS configuration of a Go client (nil: plain TCP).
func clientTLS() *tls.Config {
	if suiteClientTLS == nil {
		return nil
	}
	return suiteClientTLS.Clone()
}

// serverTLSArgs are the TLS flags of a config or data server.
func serverTLSArgs() []string {
	if suiteTLS == nil {
		return nil
	}
	return []string{"--tls-cert-file", suiteTLS.Cert, "--tls-key-file", suiteTLS.Key,
		"--tls-ca-cert-file", suiteTLS.CA, "--tls-auth-clients", "yes"}
}

// dataTLSArgs are a data server's TLS flags: the server's, and metrics over TLS.
func dataTLSArgs() []string {
	if suiteTLS == nil {
		return nil
	}
	return append(serverTLSArgs(), "--tls-http")
}

// ctlTLSArgs are granary ctl's TLS flags.
func ctlTLSArgs() []string {
	if suiteTLS == nil {
		return nil
	}
	return []string{"--tls-ca-cert-file", suiteTLS.CA, "--tls-cert-file", suiteTLS.ClientCert, "--tls-key-file", suiteTLS.ClientKey}
}

// redisToolTLSArgs are redis-cli's and redis-benchmark's TLS flags.
func redisToolTLSArgs() []string {
	if suiteTLS == nil {
		return nil
	}
	return []string{"--tls", "--cacert", suiteTLS.CA, "--cert", suiteTLS.ClientCert, "--key", suiteTLS.ClientKey}
}

// apiClient is a client of the config servers' API at addrs.
func apiClient(addrs ...string) *clusterapi.Client {
	return clusterapi.NewClientTLS(addrs, clientTLS())
}

// httpGet GETs path from a server's HTTP address (a data server's metrics).
func httpGet(addr, path string) (*http.Response, error) {
	if suiteClientTLS == nil {
		return http.Get("http://" + addr + path)
	}
	c := &http.Client{Transport: &http.Transport{TLSClientConfig: clientTLS(), DisableKeepAlives: true}}
	return c.Get("https://" + addr + path)
}
