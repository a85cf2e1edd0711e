package configserver

import (
	"net/http"
	"slices"
	"time"

	"granary/internal/clusterapi"
	"granary/internal/routing"
)

// Migration (design, section 5): a rebalance commits a plan, the layout the
// builder wants; the leader's scheduler then moves the table towards it one
// copy of a bucket at a time, each step one table change:
//
//  1. the joining node becomes the bucket's learner: its primary streams it
//     a snapshot and the log, with no say in commits or leases;
//  2. once the primary reports the learner caught up, a leaving secondary
//     is swapped for it (the learner becomes a secondary: from now on sync
//     writes wait for it). When the leaving copy is the primary, the bucket
//     is frozen instead: its primary holds every command of it (TRYAGAIN)
//  3. and reports when the learner and the other copies lag by nothing;
//     the next table then leads the bucket by its new primary, which waits
//     out the old primary's lease before serving.
//
// Everything the scheduler needs is replicated (the plan, the table's
// learners and frozen buckets) except the primaries' reports, which come
// again with the next heartbeats: a new leader resumes where the old one
// stopped.

// DefaultMovesPerNode bounds the buckets in a move at once per node (as
// primary or as learner): it paces the snapshot traffic and the buckets held
// for handovers.
const DefaultMovesPerNode = 128

// stepGap is the least time between two migration steps. Every step is a
// table that every data server and client installs, so steps take in what
// became ready meanwhile. Handovers wait for handoverGap only: a frozen
// bucket's commands wait on its primary until its step.
const stepGap = 250 * time.Millisecond

// handoverGap is the least time between two migration steps that only hand
// buckets over.
const handoverGap = 100 * time.Millisecond

// kickIn has the leader's loop run again after d, unless a run is due
// sooner already. Called with wmu held.
func (s *Server) kickIn(d time.Duration) {
	at := time.Now().Add(d)
	if !s.kickAt.IsZero() && !s.kickAt.After(at) {
		return
	}
	s.kickAt = at
	time.AfterFunc(d, func() {
		s.wmu.Lock()
		if !s.kickAt.After(time.Now()) {
			s.kickAt = time.Time{}
		}
		s.wmu.Unlock()
		s.kickLoop()
	})
}

// moveReports keeps the migration reports of a heartbeat (leader memory).
func (s *Server) moveReports(req *clusterapi.HeartbeatRequest) {
	s.lmu.Lock()
	old := s.moves[req.NodeID]
	if len(req.Moves) == 0 {
		delete(s.moves, req.NodeID)
	} else {
		s.moves[req.NodeID] = req.Moves
	}
	s.lmu.Unlock()
	for _, m := range req.Moves {
		// Something may be ready to flip: do not wait for the next tick.
		if m.Caught && (!m.Frozen || m.Lag == 0) && !slices.Contains(old, m) {
			s.kickLoop()
			return
		}
	}
}

// reportsOf returns, per bucket, the reports of its current primary.
func (s *Server) reportsOf(cur *routing.Table) map[uint16]map[string]clusterapi.MoveReport {
	out := map[uint16]map[string]clusterapi.MoveReport{}
	s.lmu.Lock()
	defer s.lmu.Unlock()
	for node, list := range s.moves {
		for _, m := range list {
			b := uint16(m.Bucket)
			if m.Bucket < 0 || m.Bucket >= routing.Buckets {
				continue
			}
			if p := cur.Primary(b); p < 0 || cur.Nodes[p].ID != node {
				continue
			}
			if out[b] == nil {
				out[b] = map[string]clusterapi.MoveReport{}
			}
			out[b][m.Node] = m
		}
	}
	return out
}

// migrate moves the table one step towards the plan, and drops the plan
// once the table matches it. Called with wmu held.
func (s *Server) migrate() error {
	plan := s.fsm.migrationPlan()
	if plan == nil {
		return nil
	}
	// Within the gap only handovers go ahead: a frozen bucket's commands
	// wait for its step, every other move can wait for the next one.
	// Handovers still come at most every handoverGap, so that those
	// ready at about the same time share a table.
	handoversOnly := false
	if wait := stepGap - time.Since(s.lastStep); wait > 0 {
		handoversOnly = true
		s.kickIn(wait)
		if wait := handoverGap - time.Since(s.lastTable); wait > 0 {
			s.kickIn(wait)
			return nil
		}
	}
	cur, nodes := s.fsm.routingView()
	state := map[string]clusterapi.NodeState{}
	records := map[string]clusterapi.Node{}
	for _, n := range nodes {
		state[n.ID] = n.State
		records[n.ID] = n
	}
	alive := func(id string) bool { return state[id] == clusterapi.NodeUp || state[id] == clusterapi.NodeDraining }
	reports := s.reportsOf(cur)
	limit := s.opts.MovesPerNode

	// The next table, made at the first change: most runs change nothing,
	// and a table is a megabyte to copy.
	var nt *routing.Table
	edit := func() *routing.Table {
		if nt == nil {
			nt = &routing.Table{Epoch: cur.Epoch + 1, Nodes: slices.Clone(cur.Nodes), Replicas: cur.Replicas,
				Terms: cur.Terms, Learners: cur.Learners, Frozen: cur.Frozen}
		}
		return nt
	}
	index := map[string]int{}
	for i, n := range cur.Nodes {
		index[n.ID] = i
	}
	idx := func(id string) int {
		if i, ok := index[id]; ok {
			return i
		}
		t := edit()
		i := len(t.Nodes)
		t.Nodes = append(t.Nodes, routingNode(records[id]))
		index[id] = i
		return i
	}
	toIdx := func(list []string) []int {
		out := make([]int, len(list))
		for i, id := range list {
			out[i] = idx(id)
		}
		return out
	}

	active := map[string]int{}
	for b := range cur.Replicas {
		if len(cur.Learners[b]) > 0 || cur.Frozen[b] {
			for _, x := range slices.Concat(cur.Replicas[b][:min(1, len(cur.Replicas[b]))], cur.Learners[b]) {
				active[cur.Nodes[x].ID]++
			}
		}
	}

	// Buckets short of copies first: they have the most to lose.
	copies := s.settings().Copies
	order := make([]uint16, 0, routing.Buckets)
	for _, short := range []bool{true, false} {
		for b := range cur.Replicas {
			if (len(cur.Replicas[b]) < copies) == short {
				order = append(order, uint16(b))
			}
		}
	}
	// The plan's node indices in cur (-1: not in it), to find the buckets
	// that are where the plan wants them without building their id lists:
	// the scheduler runs on every report, most buckets are done.
	inCur := make([]int, len(plan.Nodes))
	for x, n := range plan.Nodes {
		inCur[x] = slices.IndexFunc(cur.Nodes, func(c routing.Node) bool { return c.ID == n.ID })
	}
	var started, flipped, frozen, handed, dropped int
	pending := 0
	for _, b := range order {
		if len(plan.Replicas[b]) == 0 || len(cur.Learners[b]) == 0 && !cur.Frozen[b] &&
			slices.EqualFunc(cur.Replicas[b], plan.Replicas[b], func(c, p int) bool { return c == inCur[p] }) {
			continue
		}
		have := nodeIDs(cur, cur.Replicas[b])
		want := nodeIDs(plan, plan.Replicas[b])
		learners := nodeIDs(cur, cur.Learners[b])
		pending++
		if len(have) == 0 || !alive(have[0]) {
			continue // unserved, or failing over: nothing to move from now
		}
		if handoversOnly && !cur.Frozen[b] {
			continue
		}
		primary := have[0]
		rep := reports[b]
		// The copy that leaves: a secondary the plan drops, else the
		// primary if the plan drops it.
		from := ""
		for _, id := range have[1:] {
			if !slices.Contains(want, id) {
				from = id
				break
			}
		}
		if from == "" && !slices.Contains(want, primary) {
			from = primary
		}
		to := ""
		for _, id := range want {
			if !slices.Contains(have, id) && !slices.Contains(learners, id) {
				to = id
				break
			}
		}

		switch {
		case cur.Frozen[b] && (slices.ContainsFunc(learners, func(id string) bool { return state[id] != clusterapi.NodeUp }) ||
			len(learners) == 0 && to != "" && from == primary):
			// The target went away (down, or dropped from the table as
			// down) before the handover: call it off, the primary serves
			// again and keeps its copies. Handing over to a secondary
			// instead would drop the primary's copy the plan meant to
			// replace with the target's.
			t := edit()
			t.Frozen[b], t.Learners[b] = false, nil
			dropped++
		case cur.Frozen[b]:
			// Hand over to the plan's primary when it is a copy, else to
			// the first copy the plan keeps.
			cands := slices.Concat(have[1:], learners)
			cands = slices.DeleteFunc(cands, func(id string) bool { return id == from })
			next := ""
			for _, id := range want {
				if slices.Contains(cands, id) {
					next = id
					break
				}
			}
			if next == "" && len(cands) > 0 {
				next = cands[0]
			}
			if next == "" || !level(rep, next) || slices.ContainsFunc(learners, func(id string) bool { return !level(rep, id) }) {
				continue
			}
			members := slices.DeleteFunc(slices.Concat(have, learners), func(id string) bool { return id == from || id == next })
			slices.SortStableFunc(members, func(x, y string) int { return rankIn(want, x) - rankIn(want, y) })
			t := edit()
			t.Replicas[b] = toIdx(append([]string{next}, members...))
			t.Learners[b], t.Frozen[b], t.Handed[b] = nil, false, next != primary
			handed++
		case len(learners) > 0:
			l := learners[0]
			if state[l] != clusterapi.NodeUp {
				edit().Learners[b] = nil // it went away: the move starts again later
				dropped++
				continue
			}
			if r, ok := rep[l]; !ok || !r.Caught {
				continue
			}
			if from == primary {
				edit().Frozen[b] = true
				frozen++
				continue
			}
			members := slices.DeleteFunc(slices.Clone(have), func(id string) bool { return id == from })
			t := edit()
			t.Replicas[b], t.Learners[b] = toIdx(append(members, l)), nil
			flipped++
		case to != "":
			if state[to] != clusterapi.NodeUp || active[primary] >= limit || active[to] >= limit {
				continue
			}
			edit().Learners[b] = []int{idx(to)}
			active[primary]++
			active[to]++
			started++
		case from != "" && from != primary:
			// More copies than the plan wants.
			edit().Replicas[b] = toIdx(slices.DeleteFunc(slices.Clone(have), func(id string) bool { return id == from }))
			flipped++
		case from == primary || want[0] != primary:
			if active[primary] >= limit {
				continue
			}
			edit().Frozen[b] = true
			active[primary]++
			frozen++
		default:
			// The same copies, the same primary: only the secondaries' order.
			edit().Replicas[b] = toIdx(want)
			flipped++
		}
	}

	if started+flipped+frozen+handed+dropped > 0 {
		t := clusterapi.FromRouting(nt)
		if err := s.apply(&entry{Type: opTable, Table: &t, PrevEpoch: cur.Epoch}); err != nil {
			return err
		}
		s.lastTable = time.Now()
		if !handoversOnly {
			s.lastStep = s.lastTable
		}
		s.log.Info("migration step", "epoch", t.Epoch, "started", started, "flipped", flipped, "frozen", frozen,
			"handed_over", handed, "called_off", dropped, "buckets_left", pending)
		s.moveSteps.Add(uint64(started + flipped + frozen + handed))
		return nil
	}
	if pending == 0 && !handoversOnly {
		if err := s.apply(&entry{Type: opPlan}); err != nil {
			return err
		}
		s.log.Info("migration finished: the table matches the plan", "epoch", cur.Epoch)
	}
	return nil
}

// nodeIDs returns the ids of nodes xs of table t.
func nodeIDs(t *routing.Table, xs []int) []string {
	out := make([]string, len(xs))
	for i, x := range xs {
		out[i] = t.Nodes[x].ID
	}
	return out
}

// level reports whether the primary's report says node holds everything
// the frozen bucket has.
func level(rep map[string]clusterapi.MoveReport, node string) bool {
	r, ok := rep[node]
	return ok && r.Caught && r.Frozen && r.Lag == 0
}

// rankIn orders ids by their place in want, ids not in it last.
func rankIn(want []string, id string) int {
	if i := slices.Index(want, id); i >= 0 {
		return i
	}
	return len(want)
}

// rebalance computes the layout the builder wants from the current table
// and the nodes' states, and commits it as the plan the scheduler moves the
// buckets to. Called with wmu held.
func (s *Server) rebalance(reason string) (clusterapi.Rebalance, error) {
	cur, nodes := s.fsm.routingView()
	states, up := buildNodes(nodes, "")
	if up == 0 {
		return clusterapi.Rebalance{}, errf(http.StatusConflict, "no data server is up")
	}
	copies := s.settings().Copies
	nt, st, err := routing.Build(cur, states, copies)
	if err != nil {
		return clusterapi.Rebalance{}, errf(http.StatusInternalServerError, "table builder: %v", err)
	}
	out := clusterapi.Rebalance{Copies: st.Copies, Moved: st.Moved, MovedFraction: st.MovedFraction,
		IdealFraction: idealFraction(cur, states), PrimaryMoves: st.PrimaryMoves + st.Swaps}
	if !st.Changed || routing.SameLayout(cur, nt) {
		if s.fsm.migrationPlan() != nil {
			if err := s.apply(&entry{Type: opPlan}); err != nil {
				return out, err
			}
		}
		return out, nil
	}
	t := clusterapi.FromRouting(nt)
	if err := s.apply(&entry{Type: opPlan, Table: &t}); err != nil {
		return out, err
	}
	out.Planned = true
	s.log.Info("rebalance planned", "reason", reason, "copies", st.Copies, "moved", st.Moved,
		"moved_fraction", st.MovedFraction, "ideal_fraction", out.IdealFraction, "primary_moves", out.PrimaryMoves)
	s.kickLoop()
	return out, nil
}

// idealFraction is the least fraction of copies any balanced layout must
// move from cur: the copies draining nodes hold, or the copies nodes below
// their share must receive (X/(M+X) when X empty nodes join M).
func idealFraction(cur *routing.Table, states []routing.NodeState) float64 {
	have := map[string]int{}
	total := 0
	for _, r := range cur.Replicas {
		for _, x := range r {
			have[cur.Nodes[x].ID]++
			total++
		}
	}
	if total == 0 {
		return 0
	}
	usable, draining := 0, 0
	for _, n := range states {
		if n.Status == routing.NodeUp {
			usable++
		} else {
			draining += have[n.ID]
		}
	}
	if usable == 0 {
		return 0
	}
	share := total / usable
	need := 0
	for _, n := range states {
		if n.Status == routing.NodeUp && have[n.ID] < share {
			need += share - have[n.ID]
		}
	}
	return float64(max(need, draining)) / float64(total)
}

// movesStatus describes the migration in progress.
func (s *Server) movesStatus() clusterapi.Moves {
	cur, _ := s.fsm.routingView()
	plan := s.fsm.migrationPlan()
	out := clusterapi.Moves{Epoch: cur.Epoch, Active: []clusterapi.Move{}}
	for b := range cur.Replicas {
		if plan != nil && len(plan.Replicas[b]) > 0 {
			out.Planned = true
			if !slices.Equal(nodeIDs(cur, cur.Replicas[b]), nodeIDs(plan, plan.Replicas[b])) || len(cur.Learners[b]) > 0 || cur.Frozen[b] {
				out.Left++
			}
		}
		if len(cur.Learners[b]) == 0 && !cur.Frozen[b] {
			continue
		}
		m := clusterapi.Move{Bucket: b, Phase: "copying"}
		if cur.Frozen[b] {
			m.Phase = "handover"
		}
		if len(cur.Replicas[b]) > 0 {
			m.Primary = cur.Nodes[cur.Replicas[b][0]].ID
		}
		for _, x := range cur.Learners[b] {
			m.Learner = cur.Nodes[x].ID
		}
		out.Active = append(out.Active, m)
	}
	out.Steps = s.moveSteps.Load()
	s.lmu.Lock()
	for _, l := range s.live {
		out.SentBytes += l.stats.MoveBytes
	}
	s.lmu.Unlock()
	return out
}

// holds counts the bucket copies node id holds in t, learners included.
func holds(t *routing.Table, id string) int {
	x := slices.IndexFunc(t.Nodes, func(n routing.Node) bool { return n.ID == id })
	if x < 0 {
		return 0
	}
	n := 0
	for b := range t.Replicas {
		if slices.Contains(t.Replicas[b], x) || slices.Contains(t.Learners[b], x) {
			n++
		}
	}
	return n
}

func (s *Server) handleRebalance(w http.ResponseWriter, _ *http.Request) {
	s.wmu.Lock()
	defer s.wmu.Unlock()
	out, err := s.rebalance("rebalance requested")
	if err != nil {
		writeError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, out)
}

func (s *Server) handleMoves(w http.ResponseWriter, _ *http.Request) {
	writeJSON(w, http.StatusOK, s.movesStatus())
}

// handleNodeDrain marks a node draining and plans moving its copies away.
func (s *Server) handleNodeDrain(w http.ResponseWriter, r *http.Request) {
	s.nodeStateAndPlan(w, r.PathValue("id"), opNodeDrain, "node draining")
}

// handleNodeUndrain lets a draining node hold buckets again, and plans its
// share back.
func (s *Server) handleNodeUndrain(w http.ResponseWriter, r *http.Request) {
	s.nodeStateAndPlan(w, r.PathValue("id"), opNodeUndrain, "node no longer draining")
}

// nodeStateAndPlan commits a node's state change (op), then a rebalance.
func (s *Server) nodeStateAndPlan(w http.ResponseWriter, id, op, what string) {
	s.wmu.Lock()
	defer s.wmu.Unlock()
	if err := s.apply(&entry{Type: op, ID: id}); err != nil {
		writeError(w, err)
		return
	}
	s.log.Info(what, "node", id)
	out, err := s.rebalance(what)
	if err != nil {
		writeError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, out)
}
