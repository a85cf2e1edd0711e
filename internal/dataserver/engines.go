package dataserver

import (
	"fmt"
	"path/filepath"
	"time"

	"granary/internal/engine"
	"granary/internal/engine/disk"
	"granary/internal/engine/mem"
)

// Engine names a namespace can choose.
const (
	EngineMem  = "mem"
	EngineDisk = "disk"
)

// DiskOptions configure the store of the disk namespaces (one pebble
// database in Dir/disk, shared by all of them).
type DiskOptions struct {
	// Sync is the WAL policy: "always" (fsync before each reply) or
	// "everysec" (fsync every Interval: a crash of the process or the
	// machine loses up to that much acknowledged data). Default everysec.
	Sync     string
	Interval time.Duration // with everysec; 0 = 1s
	Cache    int64         // block cache bytes; 0 = the store's default
	RowCache int64         // row cache bytes; 0 = the store's default, negative = off
}

// openDisk opens the disk store under dir, or returns nil without a data
// directory (disk namespaces then fall back to mem, with a warning).
func (d *DataServer) openDisk(dir string, o DiskOptions) (*disk.Store, error) {
	if dir == "" {
		return nil, nil
	}
	policy := disk.SyncInterval
	if o.Sync != "" {
		var err error
		if policy, err = disk.ParseSyncPolicy(o.Sync); err != nil {
			return nil, err
		}
	}
	st, err := disk.Open(filepath.Join(dir, "disk"), disk.Options{
		Sync: policy, SyncInterval: o.Interval, CacheBytes: o.Cache, RowCacheBytes: o.RowCache, Logger: d.log,
	})
	if err != nil {
		return nil, fmt.Errorf("disk engine: %w", err)
	}
	return st, nil
}

// engineOf returns the engine namespace id is defined with, or the
// server's default for namespaces nobody defined.
func (d *DataServer) engineOf(id uint16) string {
	if d.onDisk[id] {
		return EngineDisk // an engine never changes: the data says which
	}
	if defs := d.defs.Load(); defs != nil {
		if ns, ok := defs.byID[id]; ok && ns.Engine != "" {
			return ns.Engine
		}
	}
	return d.defaultEngine
}

// newEngine creates namespace id's engine (the registry's factory).
func (d *DataServer) newEngine(id uint16) engine.Engine {
	if d.engineOf(id) == EngineDisk {
		if d.disk != nil {
			e := d.disk.Namespace(id)
			e.SetQuota(d.quotaOf(id))
			return e
		}
		d.log.Warn("namespace wants the disk engine but this data server has no --dir: using mem", "namespace", id)
	}
	return mem.New(mem.Options{Quota: d.quotaOf(id), OnRemove: func(bucket uint16, key []byte, _ mem.Removal) {
		d.trk.Invalidate(id, bucket, key, nil)
	}})
}
