package dataserver

import (
	"github.com/prometheus/client_golang/prometheus"

	"granary/internal/replication"
)

// replCollector exports the replication counters (cluster mode only).
type replCollector struct {
	r *replication.Replicator

	catchups, sent, applied, bytesSent, rejected, settleTimeouts, resets *prometheus.Desc
	lag, logBytes, behind, restored                                      *prometheus.Desc
	digests, resyncs, moveBytes                                          *prometheus.Desc
}

func newReplCollector(r *replication.Replicator) *replCollector {
	d := func(name, help string, labels ...string) *prometheus.Desc {
		return prometheus.NewDesc("granary_repl_"+name, help, labels, nil)
	}
	return &replCollector{
		r:              r,
		catchups:       d("catchups_total", "Buckets caught up on a secondary, by how: none (already equal), replay (from the log), snapshot (streamed from the engine), empty (no entry yet).", "kind"),
		sent:           d("records_sent_total", "Log records sent to secondaries."),
		applied:        d("records_applied_total", "Log records applied as a secondary."),
		bytesSent:      d("sent_bytes_total", "Bytes sent on replication links."),
		rejected:       d("rejected_total", "Frames refused as a secondary (stale term, table behind, gap) or refused by a peer."),
		settleTimeouts: d("settle_timeouts_total", "Replies withheld because their writes did not commit in time (the connection was closed)."),
		resets:         d("link_resets_total", "Replication links that failed and reconnected."),
		lag:            d("lag_bytes", "Bytes of this node's log a secondary has not acknowledged yet.", "peer"),
		logBytes:       d("log_bytes", "Memory held by the replication log."),
		behind:         d("secondaries_behind", "Buckets this node is a secondary of whose copy has not caught up yet."),
		digests:        d("digests_total", "Bucket digests computed for granary ctl verify (GRANARY.DIGEST), as primary or secondary."),
		resyncs:        d("repairs_total", "Buckets sent again to a secondary as a snapshot because granary ctl verify --repair found its copy different."),
		moveBytes:      d("move_bytes_total", "Bytes of bucket copies (snapshots) sent to migration targets (learners)."),
		restored:       d("restored_buckets", "Buckets whose copy was read back from the disk store at start (with its place in the bucket's history)."),
	}
}

func (c *replCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{c.catchups, c.sent, c.applied, c.bytesSent, c.rejected, c.settleTimeouts, c.resets, c.lag, c.logBytes, c.behind, c.restored, c.digests, c.resyncs, c.moveBytes} {
		ch <- d
	}
}

func (c *replCollector) Collect(ch chan<- prometheus.Metric) {
	st := c.r.Stats()
	counter := func(d *prometheus.Desc, v uint64, l ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, float64(v), l...)
	}
	counter(c.catchups, st.CatchupNone.Load(), "none")
	counter(c.catchups, st.CatchupReplay.Load(), "replay")
	counter(c.catchups, st.CatchupSnapshot.Load(), "snapshot")
	counter(c.catchups, st.CatchupEmpty.Load(), "empty")
	counter(c.sent, st.RecordsSent.Load())
	counter(c.applied, st.RecordsApplied.Load())
	counter(c.bytesSent, st.BytesSent.Load())
	counter(c.rejected, st.Rejected.Load())
	counter(c.settleTimeouts, st.SettleTimeouts.Load())
	counter(c.resets, st.LinkResets.Load())
	counter(c.digests, st.Digests.Load())
	counter(c.resyncs, st.Resyncs.Load())
	counter(c.moveBytes, st.MoveBytes.Load())
	for peer, lag := range c.r.Lag() {
		ch <- prometheus.MustNewConstMetric(c.lag, prometheus.GaugeValue, float64(lag), peer)
	}
	ch <- prometheus.MustNewConstMetric(c.logBytes, prometheus.GaugeValue, float64(c.r.LogBytes()))
	ch <- prometheus.MustNewConstMetric(c.restored, prometheus.GaugeValue, float64(st.Restored.Load()))
	ch <- prometheus.MustNewConstMetric(c.behind, prometheus.GaugeValue, float64(c.r.Behind()))
}
