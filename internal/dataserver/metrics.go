package dataserver

import (
	"strconv"

	"github.com/prometheus/client_golang/prometheus"

	"granary/internal/command"
	"granary/internal/namespace"
)

// collector exports per-namespace statistics and connection counters. It reads
// the live counters at scrape time, so nothing is added to the command path.
type collector struct {
	node *command.Node

	ops, hits, misses, evictions, expirations  *prometheus.Desc
	batches, batchSeconds                      *prometheus.Desc
	items, bytes, quota                        *prometheus.Desc
	throttled, maxOps, maxBytes                *prometheus.Desc
	clients, connections, rejected             *prometheus.Desc
	netIn, netOut                              *prometheus.Desc
	loopClients, handOffs                      *prometheus.Desc
	trkClients, trkKeys, trkItems, trkPrefixes *prometheus.Desc
	trkInvalidations, trkEvicted               *prometheus.Desc
	authFailures, denied, users                *prometheus.Desc
}

func newCollector(node *command.Node) *collector {
	ns := []string{"namespace"}
	d := func(name, help string, labels ...string) *prometheus.Desc {
		return prometheus.NewDesc("granary_"+name, help, labels, nil)
	}
	return &collector{
		node:        node,
		ops:         d("namespace_ops_total", "Commands run against a namespace, by kind (read, write, other).", "namespace", "kind"),
		hits:        d("namespace_hits_total", "Reads that found their key.", ns...),
		misses:      d("namespace_misses_total", "Reads that did not find their key.", ns...),
		evictions:   d("namespace_evictions_total", "Items evicted to stay within the namespace's quota.", ns...),
		expirations: d("namespace_expirations_total", "Items removed because they expired.", ns...),
		batches:     d("namespace_batches_total", "Batches of commands served (pipelined commands read together, up to their replies' flush).", ns...),
		batchSeconds: d("namespace_batch_seconds_total", "Time spent serving those batches, replication waits included: "+
			"rate(batch_seconds_total) / rate(batches_total) is the mean server-side latency.", ns...),
		items:       d("namespace_items", "Items stored.", ns...),
		bytes:       d("namespace_bytes", "Memory the namespace's engine accounts against its quota.", ns...),
		quota:       d("namespace_quota_bytes", "The namespace's memory quota (0: unlimited).", ns...),
		throttled:   d("namespace_throttled_total", "Commands refused with THROTTLED: over the namespace's flow limits.", ns...),
		maxOps:      d("namespace_max_ops", "The namespace's flow limit on this server, operations per second (0: none).", ns...),
		maxBytes:    d("namespace_max_bytes", "The namespace's flow limit on this server, bytes per second (0: none).", ns...),
		clients:     d("connected_clients", "Client connections open."),
		connections: d("connections_total", "Client connections accepted."),
		rejected:    d("rejected_connections_total", "Client connections refused (max clients)."),
		netIn:       d("net_input_bytes_total", "Bytes read from clients."),
		netOut:      d("net_output_bytes_total", "Bytes written to clients."),
		loopClients: d("event_loop_clients", "Client connections served by the event loops (standalone servers)."),
		handOffs:    d("event_loop_handoffs_total", "Connections that left an event loop for a goroutine of their own: before an administrative command, one of over 1024 arguments or one in a disk namespace."),

		trkClients:       d("tracking_clients", "Connections with client-side caching (CLIENT TRACKING) on."),
		trkKeys:          d("tracking_keys", "Keys remembered for tracking clients (bounded by tracking-table-max-keys)."),
		trkItems:         d("tracking_items", "Key and client pairs remembered for tracking clients."),
		trkPrefixes:      d("tracking_prefixes", "Distinct BCAST prefixes registered."),
		trkInvalidations: d("tracking_invalidations_total", "Invalidation messages sent to tracking clients."),
		trkEvicted:       d("tracking_evicted_keys_total", "Keys forgotten, and their readers invalidated, to stay within tracking-table-max-keys."),

		authFailures: d("auth_failures_total", "Failed logins (AUTH, HELLO AUTH): unknown user, wrong password or user disabled."),
		denied:       d("acl_denied_total", "Commands refused with NOPERM, by reason: command (class not granted) or namespace (not granted).", "reason"),
		users:        d("acl_users", "Users received from the config servers."),
	}
}

func (c *collector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{c.ops, c.hits, c.misses, c.evictions, c.expirations, c.batches, c.batchSeconds,
		c.items, c.bytes, c.quota, c.throttled, c.maxOps, c.maxBytes, c.clients, c.connections, c.rejected, c.netIn, c.netOut,
		c.loopClients, c.handOffs, c.trkClients, c.trkKeys, c.trkItems, c.trkPrefixes, c.trkInvalidations, c.trkEvicted,
		c.authFailures, c.denied, c.users} {
		ch <- d
	}
}

func (c *collector) Collect(ch chan<- prometheus.Metric) {
	counter := func(d *prometheus.Desc, v float64, l ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, v, l...)
	}
	gauge := func(d *prometheus.Desc, v float64, l ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, l...)
	}
	c.node.Namespaces.Each(func(n *namespace.Namespace) {
		id := strconv.Itoa(int(n.ID))
		st := n.Engine.Stats()
		counter(c.ops, float64(n.Stats.Reads.Load()), id, "read")
		counter(c.ops, float64(n.Stats.Writes.Load()), id, "write")
		counter(c.ops, float64(n.Stats.Others.Load()), id, "other")
		counter(c.hits, float64(n.Stats.Hits.Load()), id)
		counter(c.misses, float64(n.Stats.Misses.Load()), id)
		counter(c.evictions, float64(st.Evictions), id)
		counter(c.batches, float64(n.Stats.Batches.Load()), id)
		counter(c.batchSeconds, float64(n.Stats.BatchNanos.Load())/1e9, id)
		counter(c.expirations, float64(st.Expirations), id)
		gauge(c.items, float64(st.Items), id)
		gauge(c.bytes, float64(st.Bytes), id)
		gauge(c.quota, float64(st.Quota), id)
		maxOps, maxBytes := n.Limits().Max()
		counter(c.throttled, float64(n.Stats.Throttled.Load()), id)
		gauge(c.maxOps, float64(maxOps), id)
		gauge(c.maxBytes, float64(maxBytes), id)
	})
	if c.node.Host != nil {
		cs := c.node.Host.ConnStats()
		gauge(c.clients, float64(cs.Connected))
		counter(c.connections, float64(cs.Total))
		counter(c.rejected, float64(cs.Rejected))
		counter(c.netIn, float64(cs.NetIn))
		counter(c.netOut, float64(cs.NetOut))
		gauge(c.loopClients, float64(cs.LoopClients))
		counter(c.handOffs, float64(cs.HandOffs))
	}
	ts := c.node.Tracking.Stats()
	gauge(c.trkClients, float64(ts.Clients))
	gauge(c.trkKeys, float64(ts.Keys))
	gauge(c.trkItems, float64(ts.Items))
	gauge(c.trkPrefixes, float64(ts.Prefixes))
	counter(c.trkInvalidations, float64(ts.Invalidations))
	counter(c.trkEvicted, float64(ts.Evicted))
	as := c.node.ACLStats()
	counter(c.authFailures, float64(as.AuthFailures.Load()))
	counter(c.denied, float64(as.DeniedCmd.Load()), "command")
	counter(c.denied, float64(as.DeniedNS.Load()), "namespace")
	gauge(c.users, float64(c.node.Users().Len()))
}
