package configserver

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"slices"
	"time"

	"github.com/hashicorp/raft"

	"granary/internal/clusterapi"
	"granary/internal/routing"
)

// observe logs leader changes and counts them.
func (s *Server) observe(ctx context.Context, ch <-chan raft.Observation) {
	defer s.wg.Done()
	for {
		select {
		case <-ctx.Done():
			return
		case o := <-ch:
			lo, ok := o.Data.(raft.LeaderObservation)
			if !ok {
				continue
			}
			s.leaderChanges.Add(1)
			if lo.LeaderID == "" {
				s.log.Warn("config server: no leader", "term", s.raft.CurrentTerm())
			} else {
				s.log.Info("config server: leader elected", "leader", string(lo.LeaderID), "addr", string(lo.LeaderAddr), "term", s.raft.CurrentTerm())
			}
			s.kickLoop()
		}
	}
}

// kickGap is the least time between two runs of the leader's duties that
// kicks start.
const kickGap = 25 * time.Millisecond

// run is the background loop: as leader it detects down nodes, builds the
// first table and keeps the config-server records; as follower it makes
// sure the leader recorded this server's addresses.
func (s *Server) run(ctx context.Context) {
	defer s.wg.Done()
	tick := time.NewTicker(max(10*time.Millisecond, min(s.opts.HeartbeatInterval, s.opts.DownTimeout/4, time.Second)))
	defer tick.Stop()
	var lastRegister, last time.Time
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		case <-s.kick:
			// Kicks (heartbeats with news, above all during a migration)
			// come in bursts: one run takes in all that came within
			// kickGap.
			if wait := kickGap - time.Since(last); wait > 0 {
				select {
				case <-ctx.Done():
					return
				case <-time.After(wait):
				}
			}
		}
		last = time.Now()
		st := s.raft.State()
		switch {
		case st == raft.Shutdown:
			return
		case st == raft.Leader:
			if !s.leading() {
				if err := s.becomeLeader(); err != nil {
					s.log.Warn("config server: taking over as leader failed; retrying", "err", err)
					continue
				}
			}
			s.leaderTick()
		default:
			if s.ready.Swap(false) {
				s.log.Info("config server: lost leadership", "term", s.raft.CurrentTerm())
				s.resetLeaderMemory()
			}
			if time.Since(lastRegister) >= 500*time.Millisecond && s.needsRecord() {
				lastRegister = time.Now()
				if err := s.registerWithLeader(ctx); err != nil {
					s.log.Debug("config server: recording this server with the leader failed; retrying", "err", err)
				}
			}
		}
	}
}

// becomeLeader prepares this server to act as the leader of the current
// term: a barrier applies everything committed before (so decisions read the
// latest state), and every node gets a full down timeout from now to reach
// the new leader.
func (s *Server) becomeLeader() error {
	term := s.raft.CurrentTerm()
	start := time.Now()
	if err := s.raft.Barrier(applyTimeout).Error(); err != nil {
		return err
	}
	s.resetLeaderMemory()
	s.leaderTerm.Store(term)
	s.ready.Store(true)
	s.log.Info("config server: became leader", "term", term, "barrier", time.Since(start))
	return nil
}

// leaderTick runs the leader's periodic duties.
func (s *Server) leaderTick() {
	if !s.leading() {
		return
	}
	s.wmu.Lock()
	defer s.wmu.Unlock()
	if err := s.leaderRecords(); err != nil {
		s.log.Warn("config server: updating config-server records failed", "err", err)
	}
	if err := s.leaderSettings(); err != nil {
		s.log.Warn("config server: committing settings failed", "err", err)
	}
	s.checkDown()
	if err := s.maybeFirstBuild(); err != nil {
		s.log.Warn("config server: building the first table failed", "err", err)
	}
	if err := s.restoreCopies(); err != nil {
		s.log.Warn("config server: restoring copies failed", "err", err)
	}
	if err := s.migrate(); err != nil {
		s.log.Warn("config server: migration step failed", "err", err)
	}
	if err := s.stampLegacyTerms(); err != nil {
		s.log.Warn("config server: stamping primary terms failed", "err", err)
	}
}

// stampLegacyTerms commits the current table again, at a new epoch, when
// some bucket has a primary but no term (a table committed before terms
// existed): the state machine stamps every table it installs, so afterwards
// every bucket has one. Called with wmu held.
func (s *Server) stampLegacyTerms() error {
	cur, _ := s.fsm.routingView()
	missing := false
	for b, r := range cur.Replicas {
		if len(r) > 0 && cur.Terms[b] == 0 {
			missing = true
			break
		}
	}
	if !missing {
		return nil
	}
	nt := *cur
	nt.Epoch = cur.Epoch + 1
	t := clusterapi.FromRouting(&nt)
	if err := s.apply(&entry{Type: opTable, Table: &t, PrevEpoch: cur.Epoch}); err != nil {
		return err
	}
	s.log.Info("primary terms stamped on a table that had none", "epoch", t.Epoch)
	return nil
}

// resetLeaderMemory forgets what a leader keeps in memory (liveness,
// reports, cooldowns, how long buckets have lacked copies): a new leader
// starts afresh, every node getting a full down timeout from now.
func (s *Server) resetLeaderMemory() {
	s.lmu.Lock()
	s.under = map[uint16]time.Time{}
	s.moves = map[string][]clusterapi.MoveReport{}
	s.live = map[string]*liveness{}
	s.reported = map[string]time.Time{}
	s.cooldown = map[[2]string]time.Time{}
	s.leaderSince = time.Now()
	s.lmu.Unlock()
}

// ownRecord is this server's record as it should be in the state.
func (s *Server) ownRecord() clusterapi.ConfigServer {
	return clusterapi.ConfigServer{ID: s.opts.ID, Raft: s.raftAddr, HTTP: s.httpAddr, RESP: s.respAddr}
}

func (s *Server) needsRecord() bool {
	cur, ok := s.fsm.server(s.opts.ID)
	return !ok || cur != s.ownRecord()
}

// leaderRecords records the leader's own addresses and drops the records of
// servers no longer in the Raft configuration. Called with wmu held.
func (s *Server) leaderRecords() error {
	if s.needsRecord() {
		own := s.ownRecord()
		if err := s.apply(&entry{Type: opCSSet, ConfigServer: &own}); err != nil {
			return err
		}
	}
	f := s.raft.GetConfiguration()
	if err := f.Error(); err != nil {
		return err
	}
	members := map[string]bool{}
	for _, sv := range f.Configuration().Servers {
		members[string(sv.ID)] = true
	}
	for _, cs := range s.fsm.serverRecords() {
		if !members[cs.ID] {
			if err := s.apply(&entry{Type: opCSRemove, ID: cs.ID}); err != nil {
				return err
			}
			s.log.Info("config server: dropped the record of a removed config server", "id", cs.ID)
		}
	}
	return nil
}

// leaderSettings commits this server's settings when the state has none (a
// new cluster). Called with wmu held.
func (s *Server) leaderSettings() error {
	cur := s.settings()
	if s.fsm.clusterSettings().Copies > 0 {
		if (s.raw.Copies > 0 && s.raw.Copies != cur.Copies) || (s.raw.MinNodes > 0 && s.raw.MinNodes != cur.MinNodes) {
			s.warnSettingsOnce(cur)
		}
		return nil
	}
	want := clusterapi.Settings{Copies: s.opts.Copies, MinNodes: s.opts.MinNodes}
	if err := s.apply(&entry{Type: opSettings, Settings: &want}); err != nil {
		return err
	}
	s.log.Info("config server: cluster settings committed", "copies", want.Copies, "min_nodes", want.MinNodes)
	return nil
}

func (s *Server) warnSettingsOnce(cur clusterapi.Settings) {
	s.settingsWarn.Do(func() {
		s.log.Warn("config server: the cluster's replicated settings differ from this server's options; the replicated ones apply",
			"copies", cur.Copies, "min_nodes", cur.MinNodes, "opt_copies", s.raw.Copies, "opt_min_nodes", s.raw.MinNodes)
	})
}

// settings returns the cluster settings in force: the replicated ones, or
// this server's options before any were committed.
func (s *Server) settings() clusterapi.Settings {
	st := s.fsm.clusterSettings()
	if st.Copies <= 0 {
		st.Copies = s.opts.Copies
		st.MinNodes = s.opts.MinNodes
	}
	if st.MinNodes <= 0 {
		st.MinNodes = 1
	}
	return st
}

// lastSeen returns when the leader last heard from node id: its last
// heartbeat, or the start of the leadership when it has not heard from it.
func (s *Server) lastSeen(id string) time.Time {
	s.lmu.Lock()
	defer s.lmu.Unlock()
	if l := s.live[id]; l != nil {
		return l.seen
	}
	return s.leaderSince
}

// checkDown marks down the nodes that missed heartbeats for DownTimeout,
// or for 3 heartbeat intervals when a peer reported them unreachable within
// the last DownTimeout (a faster failover: two witnesses). Called with wmu
// held.
//
// The entry that marks a node down also takes it out of every bucket that
// has another replica: where it led, the next replica in the list leads (a
// new primary term, which fences the old primary's records). DownTimeout
// (1.5s) is past the data servers' lease (1s), so a primary that is only
// cut off has stopped serving before its buckets change hands (design,
// section 5). A bucket it is the only replica of stays with it, unserved
// until it is back. The buckets it left are remembered (fsm.former) so
// that restoreCopies gives them back to it first when it returns.
func (s *Server) checkDown() {
	now := time.Now()
	fast := min(3*s.opts.HeartbeatInterval, s.opts.DownTimeout)
	for _, n := range s.fsm.nodeRecords() {
		if n.State != clusterapi.NodeUp && n.State != clusterapi.NodeDraining {
			continue
		}
		seen := s.lastSeen(n.ID)
		limit := s.opts.DownTimeout
		reported := s.reportedSince(n.ID, now.Add(-s.opts.DownTimeout))
		if reported {
			limit = fast
		}
		if now.Sub(seen) <= limit {
			continue
		}
		if err := s.apply(&entry{Type: opNodeDown, ID: n.ID}); err != nil {
			s.log.Warn("config server: marking a node down failed", "node", n.ID, "err", err)
			return
		}
		s.log.Warn("node down", "node", n.ID, "addr", n.Addr, "silent_for", now.Sub(seen).Round(time.Millisecond),
			"reported_unreachable", reported, "epoch", s.fsm.epoch())
	}
}

// reportedSince reports whether a peer reported node id unreachable after t.
func (s *Server) reportedSince(id string, t time.Time) bool {
	s.lmu.Lock()
	defer s.lmu.Unlock()
	r, ok := s.reported[id]
	return ok && r.After(t)
}

// buildNodes returns the builder's view of the nodes: up nodes usable,
// draining ones to be emptied; added and down nodes are left out (so their
// copies are dropped: that is what a rebuild means). skip is left out too.
func buildNodes(nodes []clusterapi.Node, skip string) (out []routing.NodeState, up int) {
	for _, n := range nodes {
		if n.ID == skip {
			continue
		}
		var st routing.NodeStatus
		switch n.State {
		case clusterapi.NodeUp:
			st = routing.NodeUp
			up++
		case clusterapi.NodeDraining:
			st = routing.NodeDraining
		default:
			continue
		}
		out = append(out, routing.NodeState{Node: routingNode(n), Status: st})
	}
	return out, up
}

// routingNode is a node record as the routing table holds it (as
// clusterapi.ToRouting makes it).
func routingNode(n clusterapi.Node) routing.Node {
	rn := routing.Node{ID: n.ID, Zone: n.Zone}
	if h, p, err := splitHostPort(n.Addr); err == nil {
		rn.Host, rn.Port = h, p
	}
	return rn
}

// build runs the table builder over the current table without skip and
// commits the result (with skip's removal when skip is set). It returns the
// table in force afterwards. Called with wmu held.
//
// The builder may swap a bucket's primary and secondary for balance, and
// may lead a bucket by a node new to it; neither is safe now that replicas
// can lag: a replica that has not caught up must never lead. So the
// builder's table is post-processed (routing.KeepPrimaries): a bucket whose
// primary stays a replica keeps it as primary, and one whose primary left
// is led by its first surviving replica. Primary balance suffers until
// migration exists: moving a bucket's data to a new primary before it
// leads is migration (later work). Until then a rebuild still hands a
// bucket to new nodes without its data when none of its old replicas stays
// in its list, as before.
func (s *Server) build(reason, skip string) (*routing.Table, error) {
	cur, nodes := s.fsm.routingView()
	states, _ := buildNodes(nodes, skip)
	copies := s.settings().Copies
	nt, st, err := routing.Build(cur, states, copies)
	if err != nil {
		return nil, errf(http.StatusInternalServerError, "table builder: %v", err)
	}
	kept := 0
	if st.Changed {
		kept = routing.KeepPrimaries(cur, nt)
		if routing.SameLayout(cur, nt) {
			st.Changed = false
		}
	}
	if !st.Changed && skip == "" {
		return cur, nil
	}
	t := clusterapi.FromRouting(nt)
	e := &entry{Type: opTable, Table: &t, PrevEpoch: cur.Epoch}
	if skip != "" {
		e = &entry{Type: opNodeRemove, ID: skip, Table: &t, PrevEpoch: cur.Epoch}
		if !st.Changed { // the node was listed without a copy: drop it from the list
			t.Epoch = cur.Epoch + 1
		}
	}
	if err := s.apply(e); err != nil {
		return nil, err
	}
	s.log.Info("table changed", "reason", reason, "epoch", t.Epoch, "nodes", len(t.Nodes), "copies", copies,
		"moved", st.Moved, "removed", st.Removed, "moved_fraction", fmt.Sprintf("%.3f", st.MovedFraction),
		"promotions", st.Promotions, "primary_moves", st.PrimaryMoves, "residual", st.Residual, "primaries_kept", kept)
	rt, _ := s.fsm.routingView()
	return rt, nil
}

// maybeFirstBuild builds the first table once MinNodes nodes are up and no
// bucket is assigned yet. Called with wmu held.
func (s *Server) maybeFirstBuild() error {
	cur, nodes := s.fsm.routingView()
	for b := range cur.Replicas {
		if len(cur.Replicas[b]) > 0 {
			return nil
		}
	}
	_, up := buildNodes(nodes, "")
	if up == 0 || up < s.settings().MinNodes {
		return nil
	}
	_, err := s.build("first table", "")
	return err
}

// registerWithLeader asks the leader to record this server's addresses.
func (s *Server) registerWithLeader(ctx context.Context) error {
	id, addr := s.Leader()
	if id == "" || addr == "" || id == s.opts.ID {
		return fmt.Errorf("no leader known")
	}
	body, _ := json.Marshal(s.ownRecord())
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, s.scheme()+"://"+addr+"/v1/config-servers?record=1", bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set(hdrForwarded, s.opts.ID)
	resp, err := s.hc.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	msg, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
	if resp.StatusCode >= 300 {
		return fmt.Errorf("leader %s: HTTP %d: %s", id, resp.StatusCode, bytes.TrimSpace(msg))
	}
	s.log.Info("config server: recorded with the leader", "leader", id)
	return nil
}

// tableNodes returns the records of the nodes a table lists.
func tableNodes(t *clusterapi.Table, nodes []clusterapi.Node) []clusterapi.Node {
	out := make([]clusterapi.Node, 0, len(t.Nodes))
	for _, n := range nodes {
		if slices.Contains(t.Nodes, n.ID) {
			n.LastSeen = time.Time{}
			out = append(out, n)
		}
	}
	return out
}
