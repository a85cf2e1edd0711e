package configserver

import (
	"github.com/hashicorp/raft"
	"github.com/prometheus/client_golang/prometheus"

	"granary/internal/clusterapi"
	"granary/internal/routing"
)

// collector exports the config server's figures, read at scrape time.
type collector struct {
	s *Server

	raftState, term, lastIndex, commitIndex, appliedIndex *prometheus.Desc
	leader, leaderChanges                                 *prometheus.Desc
	nodes, epoch, unassigned, namespaces, nsVersion       *prometheus.Desc
	heartbeats, forwarded                                 *prometheus.Desc
}

func newCollector(s *Server) *collector {
	d := func(name, help string, labels ...string) *prometheus.Desc {
		return prometheus.NewDesc("granary_config_"+name, help, labels, nil)
	}
	return &collector{
		s:             s,
		raftState:     d("raft_state", "1 for this server's Raft state (follower, candidate, leader, shutdown).", "state"),
		term:          d("raft_term", "Current Raft term."),
		lastIndex:     d("raft_last_index", "Index of the last entry in the Raft log."),
		commitIndex:   d("raft_commit_index", "Index of the last committed Raft entry."),
		appliedIndex:  d("raft_applied_index", "Index of the last entry applied to the state."),
		leader:        d("is_leader", "1 when this server is the leader and ready."),
		leaderChanges: d("leader_changes_total", "Leader changes this server observed (including losing the leader)."),
		nodes:         d("nodes", "Data servers by state.", "state"),
		epoch:         d("table_epoch", "Epoch of the routing table."),
		unassigned:    d("unassigned_buckets", "Buckets without a primary."),
		namespaces:    d("namespaces", "Namespaces defined."),
		nsVersion:     d("namespace_version", "Namespace version (bumped on every namespace change)."),
		heartbeats:    d("heartbeats_total", "Data server heartbeats handled by this server as leader."),
		forwarded:     d("forwarded_total", "Requests (writes, heartbeats, load figures) this server forwarded to the leader."),
	}
}

func (c *collector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{c.raftState, c.term, c.lastIndex, c.commitIndex, c.appliedIndex,
		c.leader, c.leaderChanges, c.nodes, c.epoch, c.unassigned, c.namespaces, c.nsVersion, c.heartbeats, c.forwarded} {
		ch <- d
	}
}

func (c *collector) Collect(ch chan<- prometheus.Metric) {
	gauge := func(d *prometheus.Desc, v float64, l ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, l...)
	}
	counter := func(d *prometheus.Desc, v float64, l ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, v, l...)
	}
	r := c.s.raft
	state := r.State()
	for _, st := range []raft.RaftState{raft.Follower, raft.Candidate, raft.Leader, raft.Shutdown} {
		v := 0.0
		if st == state {
			v = 1
		}
		gauge(c.raftState, v, st.String())
	}
	gauge(c.term, float64(r.CurrentTerm()))
	gauge(c.lastIndex, float64(r.LastIndex()))
	gauge(c.commitIndex, float64(r.CommitIndex()))
	gauge(c.appliedIndex, float64(r.AppliedIndex()))
	leading := 0.0
	if c.s.leading() {
		leading = 1
	}
	gauge(c.leader, leading)
	counter(c.leaderChanges, float64(c.s.leaderChanges.Load()))

	st := c.s.fsm.state()
	byState := map[clusterapi.NodeState]int{}
	for _, n := range st.Nodes {
		byState[n.State]++
	}
	for _, ns := range []clusterapi.NodeState{clusterapi.NodeAdded, clusterapi.NodeUp, clusterapi.NodeDown, clusterapi.NodeDraining} {
		gauge(c.nodes, float64(byState[ns]), string(ns))
	}
	gauge(c.epoch, float64(st.Table.Epoch))
	gauge(c.unassigned, float64(routing.Buckets-assigned(&st.Table)))
	gauge(c.namespaces, float64(len(st.Namespaces)))
	gauge(c.nsVersion, float64(st.NSVersion))
	counter(c.heartbeats, float64(c.s.heartbeats.Load()))
	counter(c.forwarded, float64(c.s.forwarded.Load()))
}
