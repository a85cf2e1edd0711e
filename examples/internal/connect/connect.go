// Package connect is what every example program does first: its flags for
// the cluster's addresses and the namespace, and opening the client.
package connect

import (
	"flag"
	"log"
	"strings"

	"granary/client"
)

// Flags are the -addrs and -namespace flags of a program.
type Flags struct {
	addrs *string
	ns    *uint
}

// Register adds -addrs and -namespace to the program's flags; what says
// what the namespace holds, for -help.
func Register(what string) *Flags {
	return &Flags{
		addrs: flag.String("addrs", client.DefaultAddr, "Granary config (or data) servers' RESP addresses, comma-separated"),
		ns:    flag.Uint("namespace", 0, "namespace of the "+what+" (0..65535)"),
	}
}

// Open connects with opts to the cluster at -addrs and returns the client
// and the handle of -namespace, or ends the program.
func (f *Flags) Open(opts client.Options) (*client.Client, *client.Namespace) {
	if *f.ns > 65535 {
		log.Fatalf("-namespace %d: the namespaces are 0..65535", *f.ns)
	}
	opts.Addrs = strings.Split(*f.addrs, ",")
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
