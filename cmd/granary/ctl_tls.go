package main

import "granary/internal/clusterapi"

// client returns an API client for addrs, over HTTPS with --tls-*.
func (e *ctlEnv) client(addrs []string) *clusterapi.Client {
	return clusterapi.NewClientTLS(addrs, e.tls.cfg)
}
