package configserver

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/hashicorp/raft"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"granary/internal/clusterapi"
	"granary/internal/profiling"
	"granary/internal/routing"
)

// hdrForwarded marks a request a config server forwarded to the leader (its
// value is the forwarder's id). A server that is not the leader refuses a
// forwarded request (503) rather than forwarding it again, so that two
// servers with stale views never bounce a request between them.
const hdrForwarded = "X-Granary-Forwarded-By"

type targetKey struct{}

func (s *Server) initHTTP() {
	s.fwd = &http.Transport{
		DialContext:           (&net.Dialer{Timeout: 2 * time.Second}).DialContext,
		TLSClientConfig:       s.opts.TLSClient.Clone(), // the transport adds its protocols to it
		ResponseHeaderTimeout: 10 * time.Second,
		MaxIdleConnsPerHost:   16,
		IdleConnTimeout:       90 * time.Second,
	}
	s.hc = &http.Client{Transport: s.fwd, Timeout: 5 * time.Second}
	s.proxy = &httputil.ReverseProxy{
		Rewrite: func(pr *httputil.ProxyRequest) {
			target := pr.In.Context().Value(targetKey{}).(string)
			pr.SetURL(&url.URL{Scheme: s.scheme(), Host: target})
			pr.SetXForwarded()
			pr.Out.Header.Set(hdrForwarded, s.opts.ID)
		},
		Transport: s.fwd,
		ErrorHandler: func(w http.ResponseWriter, r *http.Request, err error) {
			writeError(w, errf(http.StatusServiceUnavailable, "forwarding to the leader: %v", err))
		},
	}

	reg := prometheus.NewRegistry()
	reg.MustRegister(
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		newCollector(s),
	)

	mux := http.NewServeMux()
	if s.opts.Pprof {
		profiling.Register(mux)
	}
	mux.HandleFunc("POST /v1/heartbeat", s.leaderOnly(s.handleHeartbeat))
	mux.HandleFunc("GET /v1/status", s.handleStatus)
	mux.HandleFunc("GET /v1/state", s.handleState)
	mux.HandleFunc("GET /v1/table", s.handleTable)
	mux.HandleFunc("GET /v1/table/next", s.handleNextTable)
	mux.HandleFunc("GET /v1/nodes", s.handleNodes)
	mux.HandleFunc("POST /v1/nodes", s.leaderOnly(s.handleNodeAdd))
	mux.HandleFunc("DELETE /v1/nodes/{id}", s.leaderOnly(s.handleNodeRemove))
	mux.HandleFunc("POST /v1/rebuild", s.leaderOnly(s.handleRebuild))
	mux.HandleFunc("POST /v1/rebalance", s.leaderOnly(s.handleRebalance))
	mux.HandleFunc("GET /v1/moves", s.leaderOnly(s.handleMoves))
	mux.HandleFunc("POST /v1/nodes/{id}/drain", s.leaderOnly(s.handleNodeDrain))
	mux.HandleFunc("POST /v1/nodes/{id}/undrain", s.leaderOnly(s.handleNodeUndrain))
	mux.HandleFunc("GET /v1/namespaces", s.handleNamespaces)
	mux.HandleFunc("POST /v1/namespaces", s.leaderOnly(s.handleNSCreate))
	mux.HandleFunc("PUT /v1/namespaces/{id}", s.leaderOnly(s.handleNSUpdate))
	mux.HandleFunc("DELETE /v1/namespaces/{id}", s.leaderOnly(s.handleNSDelete))
	mux.HandleFunc("GET /v1/users", s.handleUsers)
	mux.HandleFunc("GET /v1/users/{name}", s.handleUser)
	mux.HandleFunc("POST /v1/users", s.leaderOnly(s.handleUserCreate))
	mux.HandleFunc("PUT /v1/users/{name}", s.leaderOnly(s.handleUserUpdate))
	mux.HandleFunc("DELETE /v1/users/{name}", s.leaderOnly(s.handleUserDelete))
	mux.HandleFunc("GET /v1/config-servers", s.handleConfigServers)
	mux.HandleFunc("POST /v1/config-servers", s.leaderOnly(s.handleCSAdd))
	mux.HandleFunc("DELETE /v1/config-servers/{id}", s.leaderOnly(s.handleCSRemove))
	mux.HandleFunc("GET /v1/stats", s.leaderOnly(s.handleStats))
	s.handleUI(mux)
	mux.Handle("GET /metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		if s.raft.State() == raft.Shutdown {
			http.Error(w, "shut down", http.StatusServiceUnavailable)
			return
		}
		w.Write([]byte("ok\n"))
	})
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		writeError(w, errf(http.StatusNotFound, "no such endpoint: %s %s", r.Method, r.URL.Path))
	})
	s.httpSrv = &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
}

// scheme is the URL scheme of the config servers' API: https with TLS.
func (s *Server) scheme() string {
	if s.opts.TLS != nil {
		return "https"
	}
	return "http"
}

// leaderOnly runs h on the leader; a follower forwards the request to the
// leader's API address and relays the answer.
func (s *Server) leaderOnly(h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if s.leading() {
			h(w, r)
			return
		}
		if by := r.Header.Get(hdrForwarded); by != "" {
			writeError(w, errf(http.StatusServiceUnavailable, "%s is not the leader (request forwarded by %s)", s.opts.ID, by))
			return
		}
		id, addr := s.Leader()
		if id == "" || addr == "" || id == s.opts.ID {
			writeError(w, errf(http.StatusServiceUnavailable, "no leader yet (election in progress)"))
			return
		}
		s.forwarded.Add(1)
		s.proxy.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), targetKey{}, addr)))
	}
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	json.NewEncoder(w).Encode(v)
}

func writeError(w http.ResponseWriter, err error) {
	code := http.StatusServiceUnavailable
	var ae *apiError
	if errors.As(err, &ae) {
		code = ae.Code
	}
	writeJSON(w, code, clusterapi.Error{Error: err.Error()})
}

// Request body limits. A heartbeat carries a report per copy of each bucket
// its node moves (about 100 bytes each): with every bucket in a move at once
// (a moves-per-node setting of 16384) and five copies that is 8 MiB.
const (
	maxBody          = 1 << 20
	maxHeartbeatBody = 16 << 20
)

func decodeBody(r *http.Request, v any) error { return decodeBodyMax(r, v, maxBody) }

// decodeBodyMax decodes r's JSON body into v, refusing bodies over limit.
func decodeBodyMax(r *http.Request, v any, limit int) error {
	data, err := io.ReadAll(io.LimitReader(r.Body, int64(limit)+1))
	if err != nil {
		return errf(http.StatusBadRequest, "reading the request: %v", err)
	}
	if len(data) > limit {
		return errf(http.StatusRequestEntityTooLarge, "request body over %d MiB", limit>>20)
	}
	if err := json.Unmarshal(data, v); err != nil {
		return errf(http.StatusBadRequest, "bad JSON: %v", err)
	}
	return nil
}

// ---- heartbeats ----

func (s *Server) handleHeartbeat(w http.ResponseWriter, r *http.Request) {
	var req clusterapi.HeartbeatRequest
	if err := decodeBodyMax(r, &req, maxHeartbeatBody); err != nil {
		writeError(w, err)
		return
	}
	resp, err := s.heartbeat(&req, remoteIP(r))
	if err != nil {
		writeError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, resp)
}

// heartbeat handles one heartbeat on the leader: it records the node's
// liveness in memory and commits only what changed.
//
// A request whose Boot differs from the node's record (a new process,
// which with the in-memory engine has lost its data) commits one node_up
// entry that records the Boot and takes the node out of every bucket that
// has another replica. The reply echoes Boot only when the node's record
// in the committed state holds it, so never before that entry committed;
// the first reply that echoes it carries the table and nodes whatever the
// request's epoch. Followers never answer heartbeats (leaderOnly forwards
// them), so the echo always reflects the leader's committed state.
func (s *Server) heartbeat(req *clusterapi.HeartbeatRequest, from string) (*clusterapi.HeartbeatResponse, error) {
	s.heartbeats.Add(1)
	if req.NodeID == "" {
		return nil, errf(http.StatusBadRequest, "node_id is required")
	}
	n, known := s.fsm.node(req.NodeID)
	if !known {
		if !s.opts.AutoAdd {
			return nil, errf(http.StatusForbidden, "node not added: %s is not part of the cluster (granary ctl node add %s)", req.NodeID, req.NodeID)
		}
		if err := checkNodeID(req.NodeID); err != nil {
			return nil, err
		}
	}
	want := clusterapi.Node{ID: req.NodeID, Zone: req.Zone}
	var err error
	if req.Addr == "" {
		return nil, errf(http.StatusBadRequest, "addr is required")
	}
	if want.Addr, err = fillHost("addr", req.Addr, from); err != nil {
		return nil, err
	}
	if want.Internal, err = fillHost("internal", req.Internal, from); err != nil {
		return nil, err
	}
	if want.HTTP, err = fillHost("http", req.HTTP, from); err != nil {
		return nil, err
	}

	now := time.Now()
	s.lmu.Lock()
	l := s.live[req.NodeID]
	restarted := l != nil && req.Uptime < l.uptime
	if l == nil {
		l = &liveness{}
		s.live[req.NodeID] = l
	}
	l.seen, l.stats, l.uptime = now, req.Stats, req.Uptime
	s.lmu.Unlock()
	if restarted {
		s.log.Info("node restarted", "node", req.NodeID, "uptime", req.Uptime)
	}

	want.Boot = req.Boot // "" leaves the record's alone
	newBoot := func(n clusterapi.Node) bool { return req.Boot != "" && req.Boot != n.Boot }
	if !known || needsUp(n, want) || newBoot(n) {
		s.wmu.Lock()
		n, known = s.fsm.node(req.NodeID)
		if !known && !s.opts.AutoAdd {
			s.wmu.Unlock() // removed meanwhile
			return nil, errf(http.StatusForbidden, "node not added: %s is not part of the cluster", req.NodeID)
		}
		if !known || needsUp(n, want) || newBoot(n) {
			before := s.fsm.epoch()
			if err := s.apply(&entry{Type: opNodeUp, Node: &want, Create: s.opts.AutoAdd}); err != nil {
				s.wmu.Unlock()
				return nil, err
			}
			switch {
			case !known:
				s.log.Info("node added", "node", want.ID, "addr", want.Addr, "auto_add", true)
			case n.State != clusterapi.NodeUp && n.State != clusterapi.NodeDraining:
				s.log.Info("node up", "node", want.ID, "addr", want.Addr, "was", string(n.State))
			case needsUp(n, want):
				s.log.Info("node addresses changed", "node", want.ID, "addr", want.Addr, "was", n.Addr, "internal", want.Internal, "http", want.HTTP)
			}
			if known && (newBoot(n) || (n.State != clusterapi.NodeUp && n.State != clusterapi.NodeDraining)) {
				// A fresh process, or a node back from down: reports of it
				// being unreachable are about what it was, not what it is.
				s.clearCooldowns(want.ID)
			}
			if known && newBoot(n) {
				lvl := slog.LevelWarn
				if n.Boot == "" {
					lvl = slog.LevelInfo // first seen with a boot
				}
				s.log.Log(context.Background(), lvl, "node process restarted: taken out of every bucket another replica holds",
					"node", want.ID, "boot", req.Boot, "was", n.Boot, "epoch", before, "new_epoch", s.fsm.epoch())
			}
		}
		s.wmu.Unlock()
		s.kickLoop() // the first table may be due
	}
	if len(req.Unreachable) > 0 {
		s.unreachable(req)
	}
	s.moveReports(req)

	out := &clusterapi.HeartbeatResponse{Leader: s.httpAddr, Interval: s.opts.HeartbeatInterval}
	f := s.fsm
	f.mu.RLock()
	firstEcho := false
	if rec := f.nodes[req.NodeID]; req.Boot != "" && rec.Boot == req.Boot {
		out.Boot = req.Boot
		s.lmu.Lock()
		if l := s.live[req.NodeID]; l == nil || l.echoed != req.Boot {
			if l != nil {
				l.echoed = req.Boot
			}
			firstEcho = true
		}
		s.lmu.Unlock()
	}
	if req.Epoch < f.table.Epoch || firstEcho {
		u := f.tableUpdateLocked()
		out.Table, out.Nodes = u.Table, u.Nodes
	}
	out.NSVersion = f.nsVersion
	if req.NSVersion < f.nsVersion {
		out.Namespaces = sortedValues(f.namespaces, func(n clusterapi.Namespace) uint16 { return n.ID })
	}
	// Users go whenever the node's version differs (not only when older):
	// a node that heartbeats a rebuilt cluster must not keep old users.
	out.UsersVersion = f.usersVersion
	if req.UsersVersion != f.usersVersion {
		out.Users = sortedValues(f.users, func(u clusterapi.User) string { return u.Name })
	}
	f.mu.RUnlock()
	return out, nil
}

// needsUp reports whether a heartbeat with want's addresses changes node n.
func needsUp(n, want clusterapi.Node) bool {
	return (n.State != clusterapi.NodeUp && n.State != clusterapi.NodeDraining) ||
		n.Addr != want.Addr || n.Internal != want.Internal || n.HTTP != want.HTTP ||
		(want.Zone != "" && want.Zone != n.Zone)
}

// remoteIP is the address a request came from; for a request a config
// server forwarded, the original client's.
func remoteIP(r *http.Request) string {
	if r.Header.Get(hdrForwarded) != "" {
		if xff := r.Header.Get("X-Forwarded-For"); xff != "" {
			parts := strings.Split(xff, ",")
			return strings.TrimSpace(parts[len(parts)-1])
		}
	}
	host, _, _ := net.SplitHostPort(r.RemoteAddr)
	return host
}

// fillHost validates a host:port a data server reports. A node listening on
// every interface (no host, or 0.0.0.0 / ::) is given the address its
// heartbeat came from.
func fillHost(field, addr, from string) (string, error) {
	if addr == "" {
		return "", nil
	}
	host, port, err := splitHostPort(addr)
	if err != nil {
		return "", errf(http.StatusBadRequest, "%s %q: %v", field, addr, err)
	}
	if ip := net.ParseIP(host); host == "" || (ip != nil && ip.IsUnspecified()) {
		if from == "" {
			return "", errf(http.StatusBadRequest, "%s %q: no host", field, addr)
		}
		host = from
	}
	return net.JoinHostPort(host, strconv.Itoa(port)), nil
}

func splitHostPort(addr string) (string, int, error) {
	host, ps, err := net.SplitHostPort(addr)
	if err != nil {
		return "", 0, err
	}
	port, err := strconv.Atoi(ps)
	if err != nil || port < 1 || port > 65535 {
		return "", 0, fmt.Errorf("bad port %q", ps)
	}
	return host, port, nil
}

var hex40 = regexp.MustCompile(`^[0-9a-f]{40}$`)

func checkNodeID(id string) error {
	if !hex40.MatchString(id) {
		return errf(http.StatusBadRequest, "node id %q: want 40 lower-case hex characters (a Redis Cluster node id)", id)
	}
	return nil
}

// ---- reads (served by any config server from its state) ----

func (s *Server) handleStatus(w http.ResponseWriter, _ *http.Request) {
	writeJSON(w, http.StatusOK, s.status())
}

func (s *Server) status() clusterapi.Status {
	st := s.fsm.state()
	leader, _ := s.Leader()
	out := clusterapi.Status{
		ID: s.opts.ID, Leader: leader, Term: s.raft.CurrentTerm(), Epoch: st.Table.Epoch,
		Nodes:   map[string]int{},
		Buckets: routing.Buckets, Copies: s.settings().Copies, Namespaces: len(st.Namespaces),
	}
	for _, ns := range []clusterapi.NodeState{clusterapi.NodeAdded, clusterapi.NodeUp, clusterapi.NodeDown, clusterapi.NodeDraining} {
		out.Nodes[string(ns)] = 0
	}
	for _, n := range st.Nodes {
		out.Nodes[string(n.State)]++
	}
	out.Unassigned = routing.Buckets - assigned(&st.Table)
	return out
}

func assigned(t *clusterapi.Table) int {
	n := 0
	for _, r := range t.Ranges {
		if len(r.Replicas) > 0 {
			n += r.Last - r.First + 1
		}
	}
	return n
}

func (s *Server) handleState(w http.ResponseWriter, _ *http.Request) {
	st := s.fsm.state()
	s.fillLastSeen(st.Nodes)
	st.ConfigServers = s.configServers(st.ConfigServers)
	writeJSON(w, http.StatusOK, st)
}

func (s *Server) handleTable(w http.ResponseWriter, _ *http.Request) {
	writeJSON(w, http.StatusOK, s.fsm.state().Table)
}

// maxTableWait bounds the wait of GET /v1/table/next.
const maxTableWait = time.Minute

// handleNextTable answers a long poll for the table after an epoch: data
// servers learn a new table at once from it, rather than with their next
// heartbeat. Any config server answers from its own applied state (every
// table it has was committed).
func (s *Server) handleNextTable(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	after, err := strconv.ParseUint(q.Get("after"), 10, 64)
	if err != nil {
		writeError(w, errf(http.StatusBadRequest, "after: an epoch is required: %v", err))
		return
	}
	wait, err := time.ParseDuration(q.Get("wait"))
	if err != nil || wait < 0 {
		writeError(w, errf(http.StatusBadRequest, "wait: a duration such as 5s is required"))
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), min(wait, maxTableWait))
	defer cancel()
	// A server shutting down answers at once: a long poll must not hold
	// up its HTTP server's graceful shutdown.
	defer context.AfterFunc(s.running, cancel)()
	u := s.fsm.nextTable(ctx, after)
	if u == nil {
		u = &clusterapi.TableUpdate{}
	}
	writeJSON(w, http.StatusOK, u)
}

func (s *Server) handleNodes(w http.ResponseWriter, _ *http.Request) {
	nodes := s.fsm.state().Nodes
	s.fillLastSeen(nodes)
	writeJSON(w, http.StatusOK, nodes)
}

// fillLastSeen sets the leader's liveness on node records.
func (s *Server) fillLastSeen(nodes []clusterapi.Node) {
	if !s.leading() {
		return
	}
	s.lmu.Lock()
	defer s.lmu.Unlock()
	for i := range nodes {
		if l := s.live[nodes[i].ID]; l != nil {
			nodes[i].LastSeen = l.seen
		}
	}
}

func (s *Server) handleNamespaces(w http.ResponseWriter, _ *http.Request) {
	writeJSON(w, http.StatusOK, s.fsm.state().Namespaces)
}

func (s *Server) handleConfigServers(w http.ResponseWriter, _ *http.Request) {
	writeJSON(w, http.StatusOK, s.configServers(s.fsm.state().ConfigServers))
}

// configServers joins the replicated records with the Raft configuration
// this server knows: every member, with its records' addresses, whether it
// votes and whether it leads.
func (s *Server) configServers(records []clusterapi.ConfigServer) []clusterapi.ConfigServer {
	leader, _ := s.Leader()
	byID := map[string]clusterapi.ConfigServer{}
	for _, cs := range records {
		byID[cs.ID] = cs
	}
	out := []clusterapi.ConfigServer{}
	if f := s.raft.GetConfiguration(); f.Error() == nil {
		for _, sv := range f.Configuration().Servers {
			id := string(sv.ID)
			cs := byID[id]
			delete(byID, id)
			cs.ID, cs.Raft = id, string(sv.Address)
			cs.Voter = sv.Suffrage == raft.Voter
			cs.Leader = id == leader
			out = append(out, cs)
		}
	}
	for _, cs := range records { // records of servers being removed
		if _, ok := byID[cs.ID]; ok {
			out = append(out, cs)
		}
	}
	slices.SortFunc(out, func(a, b clusterapi.ConfigServer) int { return strings.Compare(a.ID, b.ID) })
	return out
}

// ---- nodes and the table (leader) ----

func (s *Server) handleNodeAdd(w http.ResponseWriter, r *http.Request) {
	var req clusterapi.NodeAdd
	if err := decodeBody(r, &req); err != nil {
		writeError(w, err)
		return
	}
	if err := checkNodeID(req.ID); err != nil {
		writeError(w, err)
		return
	}
	s.wmu.Lock()
	err := s.apply(&entry{Type: opNodeAdd, Node: &clusterapi.Node{ID: req.ID, Zone: req.Zone}})
	s.wmu.Unlock()
	if err != nil {
		writeError(w, err)
		return
	}
	s.log.Info("node added", "node", req.ID, "zone", req.Zone)
	n, _ := s.fsm.node(req.ID)
	writeJSON(w, http.StatusCreated, n)
}

func (s *Server) handleNodeRemove(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	s.wmu.Lock()
	defer s.wmu.Unlock()
	n, ok := s.fsm.node(id)
	if !ok {
		writeError(w, errf(http.StatusNotFound, "node %s not found", id))
		return
	}
	cur, _ := s.fsm.routingView()
	listed := slices.ContainsFunc(cur.Nodes, func(rn routing.Node) bool { return rn.ID == id })
	if held := holds(cur, id); held > 0 && (n.State == clusterapi.NodeUp || n.State == clusterapi.NodeDraining) && r.URL.Query().Get("force") == "" {
		writeError(w, errf(http.StatusConflict, "node %s holds %d bucket copies: drain it first (granary ctl node drain %s, then wait for granary ctl moves), or force the removal and lose those copies (--force)", id, held, id))
		return
	}
	var err error
	if listed {
		// Its copies go to the others (the data does not move yet: the
		// migration scheduler will copy it first).
		_, err = s.build("node removed", id)
	} else {
		err = s.apply(&entry{Type: opNodeRemove, ID: id})
	}
	if err != nil {
		writeError(w, err)
		return
	}
	s.lmu.Lock()
	delete(s.live, id)
	s.lmu.Unlock()
	s.log.Info("node removed", "node", id, "addr", n.Addr, "held_buckets", listed)
	w.WriteHeader(http.StatusNoContent)
}

func (s *Server) handleRebuild(w http.ResponseWriter, _ *http.Request) {
	s.wmu.Lock()
	defer s.wmu.Unlock()
	_, nodes := s.fsm.routingView()
	if _, up := buildNodes(nodes, ""); up == 0 {
		writeError(w, errf(http.StatusConflict, "no data server is up: a rebuild now would leave every bucket without a replica"))
		return
	}
	if _, err := s.build("rebuild requested", ""); err != nil {
		writeError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, s.fsm.state().Table)
}

// ---- namespaces (leader) ----

var nsName = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$`)

// validateNamespace fills defaults (engine mem, ack sync) and checks a
// namespace definition on its own.
func validateNamespace(ns *clusterapi.Namespace) error {
	if !nsName.MatchString(ns.Name) {
		return errf(http.StatusBadRequest, "namespace name %q: want 1 to 64 letters, digits, '_', '.' or '-', starting with a letter or digit", ns.Name)
	}
	switch ns.Engine {
	case "":
		ns.Engine = "mem"
	case "mem", "disk":
	default:
		return errf(http.StatusBadRequest, "namespace %q: unknown engine %q (available: \"mem\", \"disk\")", ns.Name, ns.Engine)
	}
	switch ns.Ack {
	case "":
		ns.Ack = clusterapi.AckSync
	case clusterapi.AckAsync, clusterapi.AckSync:
	default:
		return errf(http.StatusBadRequest, "namespace %q: ack %q: want %q or %q", ns.Name, ns.Ack, clusterapi.AckAsync, clusterapi.AckSync)
	}
	if ns.Quota < 0 {
		return errf(http.StatusBadRequest, "namespace %q: quota %d is negative (0 means unlimited)", ns.Name, ns.Quota)
	}
	if ns.MaxOps < 0 {
		return errf(http.StatusBadRequest, "namespace %q: max_ops %d is negative (0 means no limit)", ns.Name, ns.MaxOps)
	}
	if ns.MaxBytes < 0 {
		return errf(http.StatusBadRequest, "namespace %q: max_bytes %d is negative (0 means no limit)", ns.Name, ns.MaxBytes)
	}
	return nil
}

func nsPathID(r *http.Request) (uint16, error) {
	n, err := strconv.ParseUint(r.PathValue("id"), 10, 16)
	if err != nil {
		return 0, errf(http.StatusBadRequest, "namespace id %q: want 0 to 65535", r.PathValue("id"))
	}
	return uint16(n), nil
}

func (s *Server) handleNSCreate(w http.ResponseWriter, r *http.Request) {
	var ns clusterapi.Namespace
	if err := decodeBody(r, &ns); err != nil {
		writeError(w, err)
		return
	}
	if err := validateNamespace(&ns); err != nil {
		writeError(w, err)
		return
	}
	s.nsWrite(w, &entry{Type: opNSCreate, Namespace: &ns}, ns.ID, http.StatusCreated)
}

func (s *Server) handleNSUpdate(w http.ResponseWriter, r *http.Request) {
	id, err := nsPathID(r)
	if err != nil {
		writeError(w, err)
		return
	}
	var ns clusterapi.Namespace
	if err := decodeBody(r, &ns); err != nil {
		writeError(w, err)
		return
	}
	if ns.ID != id && ns.ID != 0 {
		writeError(w, errf(http.StatusBadRequest, "namespace id %d in the body does not match %d in the path", ns.ID, id))
		return
	}
	ns.ID = id
	engine := ns.Engine
	if err := validateNamespace(&ns); err != nil {
		writeError(w, err)
		return
	}
	ns.Engine = engine // "" keeps the current engine
	s.nsWrite(w, &entry{Type: opNSUpdate, Namespace: &ns}, id, http.StatusOK)
}

func (s *Server) handleNSDelete(w http.ResponseWriter, r *http.Request) {
	id, err := nsPathID(r)
	if err != nil {
		writeError(w, err)
		return
	}
	s.wmu.Lock()
	err = s.apply(&entry{Type: opNSDelete, NSID: id})
	s.wmu.Unlock()
	if err != nil {
		writeError(w, err)
		return
	}
	s.log.Info("namespace deleted", "namespace", id)
	w.WriteHeader(http.StatusNoContent)
}

func (s *Server) nsWrite(w http.ResponseWriter, e *entry, id uint16, code int) {
	s.wmu.Lock()
	err := s.apply(e)
	s.wmu.Unlock()
	if err != nil {
		writeError(w, err)
		return
	}
	var out clusterapi.Namespace
	for _, ns := range s.fsm.state().Namespaces {
		if ns.ID == id {
			out = ns
		}
	}
	s.log.Info("namespace "+strings.TrimPrefix(e.Type, "ns_")+"d", "namespace", id, "name", out.Name, "engine", out.Engine,
		"quota", out.Quota, "ack", out.Ack, "max_ops", out.MaxOps, "max_bytes", out.MaxBytes)
	writeJSON(w, code, out)
}

// ---- config servers (leader) ----

// handleCSAdd adds a voter to the Raft group and records its addresses.
// With ?record=1 (how a member records its own addresses) the server must
// already be a member: the call never adds one, so a removed server that
// has not noticed yet cannot re-add itself.
func (s *Server) handleCSAdd(w http.ResponseWriter, r *http.Request) {
	var cs clusterapi.ConfigServer
	if err := decodeBody(r, &cs); err != nil {
		writeError(w, err)
		return
	}
	if cs.ID == "" {
		writeError(w, errf(http.StatusBadRequest, "id is required"))
		return
	}
	if _, _, err := splitHostPort(cs.Raft); err != nil {
		writeError(w, errf(http.StatusBadRequest, "raft address %q: %v", cs.Raft, err))
		return
	}
	for _, a := range []struct{ name, v string }{{"http", cs.HTTP}, {"resp", cs.RESP}} {
		if a.v != "" {
			if _, _, err := splitHostPort(a.v); err != nil {
				writeError(w, errf(http.StatusBadRequest, "%s address %q: %v", a.name, a.v, err))
				return
			}
		}
	}
	recordOnly := r.URL.Query().Get("record") == "1"

	s.wmu.Lock()
	defer s.wmu.Unlock()
	f := s.raft.GetConfiguration()
	if err := f.Error(); err != nil {
		writeError(w, errf(http.StatusServiceUnavailable, "raft configuration: %v", err))
		return
	}
	var member *raft.Server
	for _, sv := range f.Configuration().Servers {
		if string(sv.ID) == cs.ID {
			member = &sv
		}
	}
	switch {
	case member != nil && string(member.Address) != cs.Raft:
		writeError(w, errf(http.StatusConflict, "config server %s is a member at raft address %s, not %s: remove it first", cs.ID, member.Address, cs.Raft))
		return
	case recordOnly && member == nil:
		writeError(w, errf(http.StatusConflict, "config server %s is not a member of the raft group", cs.ID))
		return
	case !recordOnly && (member == nil || member.Suffrage != raft.Voter):
		start := time.Now()
		if err := s.addVoterSafely(cs); err != nil {
			writeError(w, err)
			return
		}
		s.log.Info("config server added", "id", cs.ID, "raft", cs.Raft, "took", time.Since(start))
	}
	rec, _ := s.fsm.server(cs.ID)
	rec.ID, rec.Raft = cs.ID, cs.Raft
	if cs.HTTP != "" {
		rec.HTTP = cs.HTTP
	}
	if cs.RESP != "" {
		rec.RESP = cs.RESP
	}
	if old, ok := s.fsm.server(cs.ID); !ok || old != rec {
		if err := s.apply(&entry{Type: opCSSet, ConfigServer: &rec}); err != nil {
			writeError(w, err)
			return
		}
		s.log.Info("config server recorded", "id", rec.ID, "raft", rec.Raft, "http", rec.HTTP, "resp", rec.RESP)
	}
	writeJSON(w, http.StatusOK, s.configServers(s.fsm.state().ConfigServers))
}

// handleCSRemove removes a member from the Raft group and drops its record.
func (s *Server) handleCSRemove(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	s.wmu.Lock()
	defer s.wmu.Unlock()
	f := s.raft.GetConfiguration()
	if err := f.Error(); err != nil {
		writeError(w, errf(http.StatusServiceUnavailable, "raft configuration: %v", err))
		return
	}
	member := slices.ContainsFunc(f.Configuration().Servers, func(sv raft.Server) bool { return string(sv.ID) == id })
	_, recorded := s.fsm.server(id)
	if !member && !recorded {
		writeError(w, errf(http.StatusNotFound, "config server %s not found", id))
		return
	}
	if member && len(f.Configuration().Servers) == 1 {
		writeError(w, errf(http.StatusConflict, "config server %s is the only member: removing it would leave no group", id))
		return
	}
	// The record first: removing the leader itself ends its leadership, and
	// the next leader drops records of non-members anyway.
	if recorded {
		if err := s.apply(&entry{Type: opCSRemove, ID: id}); err != nil {
			writeError(w, err)
			return
		}
	}
	if member {
		if err := s.raft.RemoveServer(raft.ServerID(id), 0, applyTimeout).Error(); err != nil {
			writeError(w, errf(http.StatusServiceUnavailable, "removing %s: %v", id, err))
			return
		}
	}
	s.log.Info("config server removed", "id", id)
	writeJSON(w, http.StatusOK, s.configServers(s.fsm.state().ConfigServers))
}

// marshalEntry encodes a log entry.
func marshalEntry(e *entry) ([]byte, error) { return json.Marshal(e) }

// addVoterSafely adds cs as a non-voter first and promotes it only once it
// has shown it is running and following (it records its own addresses through
// the leader). Adding a voter that never starts would otherwise cost the group
// its quorum: a group of one would be left needing two votes forever.
// Called with s.wmu held; releases it while waiting, since the new server's
// own record request needs it.
func (s *Server) addVoterSafely(cs clusterapi.ConfigServer) error {
	id, addr := raft.ServerID(cs.ID), raft.ServerAddress(cs.Raft)
	if err := s.raft.AddNonvoter(id, addr, 0, applyTimeout).Error(); err != nil {
		return errf(http.StatusServiceUnavailable, "adding config server %s: %v", cs.ID, err)
	}
	s.wmu.Unlock()
	deadline := time.Now().Add(s.opts.JoinTimeout)
	running := false
	for time.Now().Before(deadline) {
		if rec, ok := s.fsm.server(cs.ID); ok && rec.HTTP != "" {
			running = true
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	s.wmu.Lock()
	if !running {
		if err := s.raft.RemoveServer(id, 0, applyTimeout).Error(); err != nil {
			s.log.Error("removing a config server that never started", "id", cs.ID, "err", err)
		}
		return errf(http.StatusConflict, "config server %s did not start following within %v (start it with --join first); not added", cs.ID, s.opts.JoinTimeout)
	}
	if err := s.raft.AddVoter(id, addr, 0, applyTimeout).Error(); err != nil {
		return errf(http.StatusServiceUnavailable, "promoting config server %s to voter: %v", cs.ID, err)
	}
	return nil
}
