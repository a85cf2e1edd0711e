//go:build unix

package dataserver

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"syscall"
)

// dirLock is an exclusive lock on a data directory, so that two data servers
// never share one (and with it a node id).
type dirLock struct{ f *os.File }

func lockDir(dir string) (*dirLock, error) {
	path := filepath.Join(dir, "LOCK")
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return nil, fmt.Errorf("data directory lock: %w", err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		f.Close()
		if errors.Is(err, syscall.EWOULDBLOCK) {
			return nil, fmt.Errorf("data directory %s is in use by another data server", dir)
		}
		return nil, fmt.Errorf("data directory lock %s: %w", path, err)
	}
	return &dirLock{f: f}, nil
}

// release drops the lock; a nil lock is a no-op.
func (l *dirLock) release() {
	if l != nil && l.f != nil {
		l.f.Close() // closing the file drops the flock
		l.f = nil
	}
}
