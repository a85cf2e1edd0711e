package replication

import (
	"granary/internal/engine"
)

// SetLocal stores item under key in this node's copy of bucket b only,
// without logging or replicating it: the copies then differ, which is what
// the debug command GRANARY.DEBUG-SETLOCAL (off unless a data server runs
// with --enable-debug-commands) uses to test granary ctl verify. It returns
// the stored version.
func (r *Replicator) SetLocal(ns *namespaceT, b uint16, key []byte, item engine.Item, now int64) (uint64, error) {
	bs := &r.b[b]
	bs.mu.Lock()
	defer bs.mu.Unlock()
	return inner(ns.Engine).Set(b, key, item, now)
}
