package configserver

import (
	"context"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"

	"granary/internal/clusterapi"
)

// The leader samples the load the data servers report once a second and
// keeps five minutes of samples for the dashboard (GET /v1/stats).
const (
	statsInterval = time.Second
	statsSamples  = 300
)

// nodeReport is the last heartbeat's figures of one data server.
type nodeReport struct {
	seen   time.Time
	uptime time.Duration
	stats  clusterapi.NodeStats
}

// nsRates are one namespace's counters on one node, per second.
type nsRates struct {
	ops, hits, misses, batches, nanos float64
}

// history turns the counters heartbeats carry into rates and keeps the last
// samples in a ring. Only the leader hears heartbeats, so only the leader's
// history fills; a new leader starts an empty one.
type history struct {
	mu    sync.Mutex
	ring  []clusterapi.Sample // statsSamples long once full
	next  int                 // where the next sample goes once full
	prev  map[string]nodeReport
	rates map[string]map[uint16]nsRates
}

func newHistory() *history {
	return &history{prev: map[string]nodeReport{}, rates: map[string]map[uint16]nsRates{}}
}

// reset forgets everything (leadership lost).
func (h *history) reset() {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.ring, h.next = nil, 0
	h.prev, h.rates = map[string]nodeReport{}, map[string]map[uint16]nsRates{}
}

// observe takes the nodes' last reports at now and adds a sample. A node
// heard from longer than stale ago counts for nothing (it is down, or about
// to be marked down).
func (h *history) observe(now time.Time, reports map[string]nodeReport, stale time.Duration) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for id := range h.prev {
		if r, ok := reports[id]; !ok || now.Sub(r.seen) > stale {
			delete(h.prev, id)
			delete(h.rates, id)
		}
	}
	type sum struct {
		nsRates
		items, bytes int64
	}
	sums := map[uint16]*sum{}
	for id, r := range reports {
		if now.Sub(r.seen) > stale {
			continue
		}
		if p, ok := h.prev[id]; !ok {
			h.rates[id] = map[uint16]nsRates{}
			h.prev[id] = r
		} else if r.seen.After(p.seen) {
			h.rates[id] = rates(p, r)
			h.prev[id] = r
		}
		for _, ns := range r.stats.Namespaces {
			s := sums[ns.ID]
			if s == nil {
				s = &sum{}
				sums[ns.ID] = s
			}
			rt := h.rates[id][ns.ID]
			s.ops += rt.ops
			s.hits += rt.hits
			s.misses += rt.misses
			s.batches += rt.batches
			s.nanos += rt.nanos
			s.items += ns.Items
			s.bytes += ns.Bytes
		}
	}
	sample := clusterapi.Sample{Time: now, Namespaces: []clusterapi.NamespaceSample{}}
	for id, s := range sums {
		ns := clusterapi.NamespaceSample{ID: id, OpsPerSec: s.ops, HitRate: -1, LatencyMicros: -1, Items: s.items, Bytes: s.bytes}
		if s.hits+s.misses > 0 {
			ns.HitRate = s.hits / (s.hits + s.misses)
		}
		if s.batches > 0 {
			ns.LatencyMicros = s.nanos / s.batches / 1e3
		}
		sample.Namespaces = append(sample.Namespaces, ns)
	}
	slices.SortFunc(sample.Namespaces, func(a, b clusterapi.NamespaceSample) int { return int(a.ID) - int(b.ID) })
	if len(h.ring) < statsSamples {
		h.ring = append(h.ring, sample)
		return
	}
	h.ring[h.next] = sample
	h.next = (h.next + 1) % statsSamples
}

// rates are the per-second differences between two reports of a node. A
// counter that went down (the process restarted) gives no rate.
func rates(p, r nodeReport) map[uint16]nsRates {
	secs := r.seen.Sub(p.seen).Seconds()
	out := map[uint16]nsRates{}
	before := map[uint16]clusterapi.NamespaceStats{}
	for _, ns := range p.stats.Namespaces {
		before[ns.ID] = ns
	}
	for _, ns := range r.stats.Namespaces {
		b, ok := before[ns.ID]
		if !ok || r.uptime < p.uptime {
			continue
		}
		d := func(cur, prev uint64) float64 {
			if cur < prev {
				return 0
			}
			return float64(cur-prev) / secs
		}
		out[ns.ID] = nsRates{
			ops:     d(ns.Reads+ns.Writes+ns.Others, b.Reads+b.Writes+b.Others),
			hits:    d(ns.Hits, b.Hits),
			misses:  d(ns.Misses, b.Misses),
			batches: d(ns.Batches, b.Batches),
			nanos:   d(ns.BatchNanos, b.BatchNanos),
		}
	}
	return out
}

// samples returns the ring, oldest first.
func (h *history) samples() []clusterapi.Sample {
	h.mu.Lock()
	defer h.mu.Unlock()
	out := make([]clusterapi.Sample, 0, len(h.ring))
	out = append(out, h.ring[h.next:]...)
	return append(out, h.ring[:h.next]...)
}

// opsPerSec is a node's last rate over all its namespaces.
func (h *history) opsPerSec(id string) float64 {
	h.mu.Lock()
	defer h.mu.Unlock()
	total := 0.0
	for _, r := range h.rates[id] {
		total += r.ops
	}
	return total
}

// sampleStats feeds the history once per statsInterval while this server
// leads.
func (s *Server) sampleStats(ctx context.Context) {
	defer s.wg.Done()
	tick := time.NewTicker(statsInterval)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case now := <-tick.C:
			if !s.leading() {
				s.history.reset()
				continue
			}
			s.history.observe(now, s.reports(), s.opts.DownTimeout)
		}
	}
}

// reports copies the leader's liveness records.
func (s *Server) reports() map[string]nodeReport {
	s.lmu.Lock()
	defer s.lmu.Unlock()
	out := make(map[string]nodeReport, len(s.live))
	for id, l := range s.live {
		out[id] = nodeReport{seen: l.seen, uptime: l.uptime, stats: l.stats}
	}
	return out
}

func (s *Server) handleStats(w http.ResponseWriter, _ *http.Request) {
	out := clusterapi.Stats{Leader: s.opts.ID, Interval: statsInterval, Heartbeat: s.opts.HeartbeatInterval,
		Nodes: []clusterapi.NodeLoad{}, Samples: s.history.samples()}
	now := time.Now()
	for id, r := range s.reports() {
		out.Nodes = append(out.Nodes, clusterapi.NodeLoad{
			ID: id, OpsPerSec: s.history.opsPerSec(id), Items: r.stats.Items, Bytes: r.stats.Bytes,
			Clients: r.stats.Clients, Uptime: r.uptime, LastSeen: r.seen, Silence: now.Sub(r.seen),
		})
	}
	slices.SortFunc(out.Nodes, func(a, b clusterapi.NodeLoad) int { return strings.Compare(a.ID, b.ID) })
	writeJSON(w, http.StatusOK, out)
}
