// Package connect is what every example program does first: its flags for
// the cluster's addresses and the namespace, and opening the client.
package connect

import (
	"crypto/tls"
	"crypto/x509"
	"flag"
	"log"
	"os"
	"strings"

	"granary/client"
)

// Flags are the -addrs, -namespace and TLS flags of a program.
type Flags struct {
	addrs                  *string
	ns                     *uint
	tlsCA, tlsCert, tlsKey *string
}

// Register adds -addrs and -namespace to the program's flags; what says
// what the namespace holds, for -help.
func Register(what string) *Flags {
	return &Flags{
		addrs:   flag.String("addrs", client.DefaultAddr, "Granary config (or data) servers' RESP addresses, comma-separated"),
		ns:      flag.Uint("namespace", 0, "namespace of the "+what+" (0..65535)"),
		tlsCA:   flag.String("tls-ca", "", "CA certificate file: connect over TLS, verifying the servers with it"),
		tlsCert: flag.String("tls-cert", "", "client certificate file, for servers that require one (with -tls-key)"),
		tlsKey:  flag.String("tls-key", "", "client key file"),
	}
}

// tlsConfig is the TLS configuration of the flags (nil: plain TCP).
func (f *Flags) tlsConfig() *tls.Config {
	if *f.tlsCA == "" {
		return nil
	}
	pem, err := os.ReadFile(*f.tlsCA)
	if err != nil {
		log.Fatal(err)
	}
	cfg := &tls.Config{RootCAs: x509.NewCertPool(), MinVersion: tls.VersionTLS12}
	if !cfg.RootCAs.AppendCertsFromPEM(pem) {
		log.Fatalf("-tls-ca %s: no certificate in it", *f.tlsCA)
	}
	if *f.tlsCert != "" {
		cert, err := tls.LoadX509KeyPair(*f.tlsCert, *f.tlsKey)
		if err != nil {
			log.Fatal(err)
		}
		cfg.Certificates = []tls.Certificate{cert}
	}
	return cfg
}

// Open connects with opts to the cluster at -addrs and returns the client
// and the handle of -namespace, or ends the program.
func (f *Flags) Open(opts client.Options) (*client.Client, *client.Namespace) {
	if *f.ns > 65535 {
		log.Fatalf("-namespace %d: the namespaces are 0..65535", *f.ns)
	}
	opts.Addrs = strings.Split(*f.addrs, ",")
	opts.TLS = f.tlsConfig()
	c, err := client.New(opts)
	if err != nil {
		log.Fatal(err)
	}
	ns, err := c.Namespace(uint16(*f.ns))
	if err != nil {
		c.Close()
		log.Fatal(err)
	}
	return c, ns
}
