package disk

import (
	"fmt"
	"log/slog"
	"strings"
	"time"
)

// SyncPolicy says when writes reach stable storage (see doc.go).
type SyncPolicy uint8

const (
	// SyncAlways commits every write batch with an fsync of the WAL before
	// it returns; concurrent writers share fsyncs (group commit).
	SyncAlways SyncPolicy = iota
	// SyncInterval commits writes to the WAL without waiting for the disk and
	// syncs the WAL every Options.SyncInterval: about one interval of
	// acknowledged writes can be lost on power failure or process crash.
	SyncInterval
)

func (p SyncPolicy) String() string {
	switch p {
	case SyncAlways:
		return "always"
	case SyncInterval:
		return "everysec"
	}
	return fmt.Sprintf("SyncPolicy(%d)", uint8(p))
}

// ParseSyncPolicy parses "always", or "everysec" or "interval" (case
// insensitive) for SyncInterval.
func ParseSyncPolicy(s string) (SyncPolicy, error) {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "always":
		return SyncAlways, nil
	case "everysec", "interval":
		return SyncInterval, nil
	}
	return 0, fmt.Errorf("disk: unknown sync policy %q (want always, everysec or interval)", s)
}

// Options configure a Store. Zero values select the defaults.
type Options struct {
	// Sync is the durability policy. Default SyncAlways.
	Sync SyncPolicy
	// SyncInterval is the WAL sync period under SyncInterval. Default 1s.
	SyncInterval time.Duration
	// CacheBytes is the size of pebble's block cache. Default 256 MiB.
	CacheBytes int64
	// RowCacheBytes is the size of the row cache, which keeps recently read
	// and written items in memory in front of pebble (rowcache.go). Default
	// 256 MiB; negative turns it off.
	RowCacheBytes int64
	// Logger receives the store's and pebble's messages. Default slog.Default().
	Logger *slog.Logger
	// SweepInterval is the period of the expiry sweep. Default 1s.
	SweepInterval time.Duration
	// MaxItemSize limits key + value bytes of one item (engine.ErrTooLarge
	// beyond). Default 512 MiB, as package mem.
	MaxItemSize int
}

func (o *Options) setDefaults() {
	if o.SyncInterval <= 0 {
		o.SyncInterval = time.Second
	}
	if o.CacheBytes <= 0 {
		o.CacheBytes = 256 << 20
	}
	if o.RowCacheBytes == 0 {
		o.RowCacheBytes = 256 << 20
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	if o.SweepInterval <= 0 {
		o.SweepInterval = time.Second
	}
	if o.MaxItemSize <= 0 {
		o.MaxItemSize = 512 << 20
	}
}
