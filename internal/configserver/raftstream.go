package configserver

import (
	"crypto/tls"
	"fmt"
	"net"
	"time"

	"github.com/hashicorp/raft"
)

// tlsStream is a Raft stream layer over TLS: hashicorp/raft's
// NetworkTransport runs on any listener that can also dial its peers.
type tlsStream struct {
	net.Listener
	advertise net.Addr
	client    *tls.Config
}

// newTLSStream listens on bind; advertise (nil: the bound address) is the
// address the other servers reach this one at.
func newTLSStream(bind string, advertise net.Addr, srv, client *tls.Config) (*tlsStream, error) {
	ln, err := net.Listen("tcp", bind)
	if err != nil {
		return nil, err
	}
	if advertise == nil {
		advertise = ln.Addr()
		if a, ok := advertise.(*net.TCPAddr); ok && a.IP.IsUnspecified() {
			ln.Close()
			return nil, fmt.Errorf("raft address %s: not advertisable", bind)
		}
	}
	return &tlsStream{Listener: tls.NewListener(ln, srv), advertise: advertise, client: client}, nil
}

// Addr is the advertised address.
func (t *tlsStream) Addr() net.Addr { return t.advertise }

// Dial opens a TLS connection to a peer, the handshake within timeout.
func (t *tlsStream) Dial(addr raft.ServerAddress, timeout time.Duration) (net.Conn, error) {
	d := &tls.Dialer{NetDialer: &net.Dialer{Timeout: timeout}, Config: t.client}
	return d.Dial("tcp", string(addr))
}
