package tlsconfig

import (
	"crypto/tls"
	"fmt"
	"log/slog"
	"os"
	"sync"
	"time"
)

// recheck is how often a handshake may look at the files' modification
// times: a stat per handshake would cost every new connection two syscalls.
const recheck = time.Second

// keyPair is a certificate and key loaded from files and loaded again when
// either file's modification time changes. A reload that fails (a
// half-written file) keeps the previous pair and is retried.
type keyPair struct {
	certFile, keyFile string

	mu      sync.Mutex
	cur     *tls.Certificate
	stamp   [2]time.Time // modification times cur was loaded at
	checked time.Time
}

func newKeyPair(certFile, keyFile string) (*keyPair, error) {
	k := &keyPair{certFile: certFile, keyFile: keyFile}
	stamp, err := k.stamps()
	if err != nil {
		return nil, err
	}
	if err := k.load(stamp); err != nil {
		return nil, err
	}
	return k, nil
}

func (k *keyPair) stamps() ([2]time.Time, error) {
	var st [2]time.Time
	for i, p := range []string{k.certFile, k.keyFile} {
		fi, err := os.Stat(p)
		if err != nil {
			return st, fmt.Errorf("tls: %w", err)
		}
		st[i] = fi.ModTime()
	}
	return st, nil
}

func (k *keyPair) load(stamp [2]time.Time) error {
	c, err := tls.LoadX509KeyPair(k.certFile, k.keyFile)
	if err != nil {
		return fmt.Errorf("tls: certificate %s, key %s: %w", k.certFile, k.keyFile, err)
	}
	k.cur, k.stamp, k.checked = &c, stamp, time.Now()
	return nil
}

// get returns the current pair, reloaded first if the files changed.
func (k *keyPair) get() (*tls.Certificate, error) {
	k.mu.Lock()
	defer k.mu.Unlock()
	if time.Since(k.checked) < recheck {
		return k.cur, nil
	}
	k.checked = time.Now()
	stamp, err := k.stamps()
	if err != nil || stamp == k.stamp {
		return k.cur, nil
	}
	if err := k.load(stamp); err != nil {
		slog.Warn("tls: keeping the previous certificate", "err", err)
		return k.cur, nil
	}
	slog.Info("tls: certificate reloaded", "cert", k.certFile)
	return k.cur, nil
}
