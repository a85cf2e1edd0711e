//go:build !linux

package server

import (
	"errors"
	"net"
)

// loop is Linux-only (epoll); elsewhere every connection has a goroutine.
type loop struct{}

func newLoops(*Server, int) ([]*loop, error) {
	return nil, errors.New("event loops need Linux")
}

func (*loop) add(net.Conn) bool { return false }
func (*loop) stopAll()          {}
