package configserver

import (
	"net/http"
	"slices"

	"granary/internal/acl"
	"granary/internal/clusterapi"
)

// Users of the data servers (package acl): replicated like namespaces, sent
// to data servers with their password hashes in heartbeat replies, and
// listed by the API without them. The leader hashes a new password before
// the change goes into the Raft log, so the log and snapshots hold hashes
// only (and the salt, being random, is chosen once, not by every replica).

// applyUser applies a user_* entry. Called with mu held; deterministic.
func (f *fsm) applyUser(e *entry) error {
	if e.Type == opUserDelete {
		if _, ok := f.users[e.ID]; !ok {
			return errf(http.StatusNotFound, "user %q not found", e.ID)
		}
		delete(f.users, e.ID)
		f.usersVersion++
		return nil
	}
	if e.User == nil {
		return errf(http.StatusBadRequest, "%s without a user", e.Type)
	}
	u := *e.User
	u.Password = ""
	u.Namespaces = slices.Clone(u.Namespaces)
	u.Commands = slices.Clone(u.Commands)
	old, exists := f.users[u.Name]
	switch {
	case e.Type == opUserCreate && exists:
		return errf(http.StatusConflict, "user %q already exists", u.Name)
	case e.Type == opUserUpdate && !exists:
		return errf(http.StatusNotFound, "user %q not found", u.Name)
	case e.Type == opUserUpdate && u.Hash == "":
		u.Hash = old.Hash // the password is kept
	}
	if err := acl.Validate(&u, true); err != nil {
		return errf(http.StatusBadRequest, "%v", err)
	}
	f.users[u.Name] = u
	f.usersVersion++
	return nil
}

// refreshUsers publishes the users to the config server's own RESP front,
// so that a cluster client logging in as a user can learn the table there.
// Called with mu held.
func (f *fsm) refreshUsers() {
	if f.publishUsers == nil {
		return
	}
	us, err := acl.Compile(sortedValues(f.users, func(u clusterapi.User) string { return u.Name }), f.usersVersion)
	if err != nil { // validated before commit: not reachable
		f.log.Error("config state: users left out", "err", err)
	}
	f.publishUsers(us)
}

// redacted returns users without their password hashes, sorted by name.
func redacted(users map[string]clusterapi.User) []clusterapi.User {
	out := sortedValues(users, func(u clusterapi.User) string { return u.Name })
	for i := range out {
		out[i].Hash = ""
	}
	return out
}

// userList returns the users without password hashes.
func (f *fsm) userList() []clusterapi.User {
	f.mu.RLock()
	defer f.mu.RUnlock()
	return redacted(f.users)
}

// ---- HTTP (writes on the leader) ----

func (s *Server) handleUsers(w http.ResponseWriter, _ *http.Request) {
	writeJSON(w, http.StatusOK, s.fsm.userList())
}

func (s *Server) handleUser(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("name")
	all := s.fsm.userList()
	i := slices.IndexFunc(all, func(u clusterapi.User) bool { return u.Name == name })
	if i < 0 {
		writeError(w, errf(http.StatusNotFound, "user %q not found", name))
		return
	}
	writeJSON(w, http.StatusOK, all[i])
}

func (s *Server) handleUserCreate(w http.ResponseWriter, r *http.Request) {
	var u clusterapi.User
	if err := decodeBody(r, &u); err != nil {
		writeError(w, err)
		return
	}
	if u.Password == "" {
		writeError(w, errf(http.StatusBadRequest, "user %q: a password is required", u.Name))
		return
	}
	s.userWrite(w, opUserCreate, &u, http.StatusCreated)
}

func (s *Server) handleUserUpdate(w http.ResponseWriter, r *http.Request) {
	var u clusterapi.User
	if err := decodeBody(r, &u); err != nil {
		writeError(w, err)
		return
	}
	if name := r.PathValue("name"); u.Name != name && u.Name != "" {
		writeError(w, errf(http.StatusBadRequest, "user name %q in the body does not match %q in the path", u.Name, name))
		return
	}
	u.Name = r.PathValue("name")
	s.userWrite(w, opUserUpdate, &u, http.StatusOK) // no password: kept
}

// userWrite validates u, hashes its password if it has one, commits the
// entry and answers with the user as stored, without its hash.
func (s *Server) userWrite(w http.ResponseWriter, op string, u *clusterapi.User, code int) {
	if err := acl.Validate(u, false); err != nil {
		writeError(w, errf(http.StatusBadRequest, "%v", err))
		return
	}
	if u.Password != "" {
		h, err := acl.HashPassword(u.Password)
		if err != nil {
			writeError(w, errf(http.StatusInternalServerError, "%v", err))
			return
		}
		u.Password, u.Hash = "", h
	}
	s.wmu.Lock()
	err := s.apply(&entry{Type: op, User: u})
	s.wmu.Unlock()
	if err != nil {
		writeError(w, err)
		return
	}
	u.Hash = ""
	s.log.Info("user "+op[len("user_"):]+"d", "user", u.Name, "namespaces", u.Namespaces, "all_namespaces", u.AllNamespaces,
		"commands", u.Commands, "default_namespace", u.DefaultNamespace, "disabled", u.Disabled)
	writeJSON(w, code, u)
}

func (s *Server) handleUserDelete(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("name")
	s.wmu.Lock()
	err := s.apply(&entry{Type: opUserDelete, ID: name})
	s.wmu.Unlock()
	if err != nil {
		writeError(w, err)
		return
	}
	s.log.Info("user removed", "user", name)
	w.WriteHeader(http.StatusNoContent)
}
