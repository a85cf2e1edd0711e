package dataserver

import (
	"github.com/prometheus/client_golang/prometheus"

	"granary/internal/engine/disk"
)

// diskCollector exports the disk store's counters (when the server has a
// data directory).
type diskCollector struct {
	s *disk.Store

	hits, misses, rowBytes, rowSize, usage, staged, drains *prometheus.Desc
}

func newDiskCollector(s *disk.Store) *diskCollector {
	d := func(name, help string) *prometheus.Desc {
		return prometheus.NewDesc("granary_disk_"+name, help, nil, nil)
	}
	return &diskCollector{
		s:        s,
		hits:     d("row_cache_hits_total", "Reads of disk namespaces served from the row cache."),
		misses:   d("row_cache_misses_total", "Reads of disk namespaces that missed the row cache and read the store."),
		rowBytes: d("row_cache_bytes", "Memory held by the row cache."),
		rowSize:  d("row_cache_size_bytes", "The row cache's size (--disk-row-cache; 0: off)."),
		usage:    d("store_bytes", "Bytes the disk store takes on disk (all disk namespaces, with the write-ahead log)."),
		staged:   d("staged_bytes", "Memory held by writes staged for the next drain into the store (--disk-sync everysec)."),
		drains:   d("drains_total", "Drains of staged writes into the store (once a --disk-sync-interval, and before scans, drops, imports and synced writes)."),
	}
}

func (c *diskCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{c.hits, c.misses, c.rowBytes, c.rowSize, c.usage, c.staged, c.drains} {
		ch <- d
	}
}

func (c *diskCollector) Collect(ch chan<- prometheus.Metric) {
	rs := c.s.RowCacheStats()
	ch <- prometheus.MustNewConstMetric(c.hits, prometheus.CounterValue, float64(rs.Hits))
	ch <- prometheus.MustNewConstMetric(c.misses, prometheus.CounterValue, float64(rs.Misses))
	ch <- prometheus.MustNewConstMetric(c.rowBytes, prometheus.GaugeValue, float64(rs.Bytes))
	ch <- prometheus.MustNewConstMetric(c.rowSize, prometheus.GaugeValue, float64(rs.Size))
	ch <- prometheus.MustNewConstMetric(c.usage, prometheus.GaugeValue, float64(c.s.DiskUsage()))
	st := c.s.StagedStats()
	ch <- prometheus.MustNewConstMetric(c.staged, prometheus.GaugeValue, float64(st.Bytes))
	ch <- prometheus.MustNewConstMetric(c.drains, prometheus.CounterValue, float64(st.Drains))
}
