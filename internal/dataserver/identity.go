package dataserver

import (
	"errors"
	"fmt"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// nodeIDFile holds a node's id in its data directory, so that a restarted
// data server is the same node to the config servers.
const nodeIDFile = "node-id"

// nodeID returns the node's id: the one given (checked against the one saved
// in dir, and saved there when none is), else the one saved in dir, else a new
// one (saved in dir when there is one).
func nodeID(given, dir string) (string, error) {
	if given != "" {
		given = strings.ToLower(given)
		if !validID(given) {
			return "", fmt.Errorf("node id %q: want 40 hex characters", given)
		}
	}
	if dir == "" {
		if given != "" {
			return given, nil
		}
		return newNodeID()
	}
	path := filepath.Join(dir, nodeIDFile)
	data, err := os.ReadFile(path)
	switch {
	case err == nil:
		saved := strings.ToLower(strings.TrimSpace(string(data)))
		if !validID(saved) {
			return "", fmt.Errorf("%s: %q is not a node id (40 hex characters)", path, saved)
		}
		if given != "" && given != saved {
			return "", fmt.Errorf("node id %s differs from %s saved in %s: another node's data directory?", given, saved, path)
		}
		return saved, nil
	case !errors.Is(err, fs.ErrNotExist):
		return "", fmt.Errorf("node id: %w", err)
	}
	id := given
	if id == "" {
		if id, err = newNodeID(); err != nil {
			return "", err
		}
	}
	if err := writeFileAtomic(path, []byte(id+"\n")); err != nil {
		return "", fmt.Errorf("save node id: %w", err)
	}
	return id, nil
}

func validID(id string) bool {
	if len(id) != 40 {
		return false
	}
	for _, c := range []byte(id) {
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f') {
			return false
		}
	}
	return true
}

// writeFileAtomic writes data to path through a synced temporary file and a
// rename, so that a crash leaves either no file or the whole of it.
func writeFileAtomic(path string, data []byte) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	if err := os.Chmod(tmp.Name(), 0o644); err != nil {
		return err
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return err
	}
	if d, err := os.Open(filepath.Dir(path)); err == nil {
		d.Sync()
		d.Close()
	}
	return nil
}

// advertised returns the host and port announced to config servers and
// clients: adv (host:port, or a host alone for the listening port), else the
// listening address. A wildcard listening address is refused in cluster mode,
// where other machines must be told where to connect; standalone, it yields
// an empty host, and each client is told the address it connected to.
func advertised(adv string, bound net.Addr, clustered bool) (string, int, error) {
	lhost, lport, err := net.SplitHostPort(bound.String())
	if err != nil {
		return "", 0, err
	}
	port, _ := strconv.Atoi(lport)
	if adv == "" {
		if ip := net.ParseIP(lhost); ip != nil && ip.IsUnspecified() {
			if clustered {
				return "", 0, fmt.Errorf("listening on every interface (%s): give the address clients and config servers should use with --advertise host[:port]", bound)
			}
			return "", port, nil
		}
		return lhost, port, nil
	}
	host, p, err := net.SplitHostPort(adv)
	if err != nil {
		// A host alone (an IPv6 address may come without brackets).
		host, p = strings.TrimSuffix(strings.TrimPrefix(adv, "["), "]"), ""
	}
	if host == "" {
		return "", 0, fmt.Errorf("advertise %q: no host", adv)
	}
	if ip := net.ParseIP(host); ip != nil && ip.IsUnspecified() {
		return "", 0, fmt.Errorf("advertise %q: a wildcard address is not an address clients can connect to", adv)
	}
	if p != "" {
		n, err := strconv.Atoi(p)
		if err != nil || n < 0 || n > 65535 {
			return "", 0, fmt.Errorf("advertise %q: bad port", adv)
		}
		if n != 0 {
			port = n
		}
	}
	return host, port, nil
}
