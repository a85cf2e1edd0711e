package command

import (
	"context"
	"crypto/subtle"
	"log/slog"
	"strconv"
	"sync/atomic"
	"time"

	"granary/internal/acl"
)

// Users and permissions (package acl). A session logged in as a user
// defined on the config servers holds it in Session.User; nil is the
// default user (--requirepass, or no password), who may do everything.
//
// Dispatch checks a user's session before each command: the class of the
// command (classOf) must be granted, and a read or write runs only in a
// namespace the user may use. SELECT refuses the others. The check costs a
// nil test for the default user and two loads and two tests for the others.

// ACLStats count failed logins and permission denials (INFO stats, metrics).
type ACLStats struct {
	AuthFailures atomic.Int64 // AUTH or HELLO AUTH with a wrong user or password
	DeniedCmd    atomic.Int64 // a command of a class the user lacks
	DeniedNS     atomic.Int64 // SELECT of, or a command in, a namespace the user may not use
}

// aclLogEvery bounds the security log to one line per kind per second: a
// client guessing passwords is counted, not logged per attempt.
const aclLogEvery = time.Second

// nodeACL is the node's part of users and permissions.
type nodeACL struct {
	users   atomic.Pointer[acl.Users]
	stats   ACLStats
	authLog acl.LogLimiter
	denyLog acl.LogLimiter
}

// SetUsers installs the users clients may log in as. Sessions logged in as
// a user take its new definition at their next command; those of a user
// removed or disabled lose their login.
func (n *Node) SetUsers(us *acl.Users) { n.acl.users.Store(us) }

// Users returns the installed users (nil: none).
func (n *Node) Users() *acl.Users { return n.acl.users.Load() }

// ACLStats returns the node's login and permission counters.
func (n *Node) ACLStats() *ACLStats { return &n.acl.stats }

// classOf maps a command to its class: admin for administration and for
// commands that see or change more than the current namespace (FLUSHALL,
// INFO, CLUSTER GETKEYSINSLOT: FlagDangerous), else write or read; 0 for
// connection and cluster-topology commands any logged-in user may run.
func classOf(f Flag) acl.Class {
	switch {
	case f&(FlagAdmin|FlagDangerous) != 0:
		return acl.Admin
	case f&FlagWrite != 0:
		return acl.Write
	case f&FlagRead != 0:
		return acl.Read
	}
	return 0
}

// permitted checks a user's session (s.User != nil) before sp runs, replying
// NOPERM (or NOAUTH, for a user removed or disabled since it logged in)
// when it may not.
func (c *Ctx) permitted(sp *Spec) bool {
	s := c.S
	if us := c.N.acl.users.Load(); us != s.users {
		u := us.LookupString(s.User.Name)
		if u == nil || u.Disabled {
			name := s.User.Name
			c.logout()
			c.W.Error("NOAUTH user '" + name + "' was removed or disabled: authenticate again")
			return false
		}
		s.User, s.users = u, us
	}
	u := s.User
	cl := classOf(sp.Flags)
	if !u.Allows(cl) {
		c.N.acl.stats.DeniedCmd.Add(1)
		c.logDenied("command class not granted", sp.Name, "class", cl.Names())
		c.W.Error("NOPERM User " + u.Name + " has no permissions to run the '" + sp.Name + "' command")
		return false
	}
	if cl&(acl.Read|acl.Write) != 0 && !u.CanUse(c.NS.ID) {
		c.denyNamespace(sp.Name, c.NS.ID)
		return false
	}
	return true
}

// denyNamespace replies NOPERM for namespace id, counted and logged.
func (c *Ctx) denyNamespace(cmd string, id uint16) {
	c.N.acl.stats.DeniedNS.Add(1)
	c.logDenied("namespace not granted", cmd, "namespace", id)
	c.W.Error("NOPERM User " + c.S.User.Name + " has no permissions to access namespace " + strconv.Itoa(int(id)))
}

func (c *Ctx) logDenied(msg, cmd string, k string, v any) {
	ok, dropped := c.N.acl.denyLog.Allow(time.Now())
	if !ok {
		return
	}
	c.N.log().LogAttrs(context.Background(), slog.LevelWarn, "permission denied: "+msg,
		slog.String("user", c.S.User.Name), slog.String("addr", c.S.Addr), slog.String("command", cmd),
		slog.Any(k, v), slog.Int64("suppressed_before", dropped))
}

// login authenticates the session as user (a config-server user, or
// "default" for --requirepass). It returns an error reply or "".
func (c *Ctx) login(user, pass []byte) string {
	if string(user) == acl.DefaultUser {
		want := c.N.Config.RequirePass
		// With no password configured the default user is "nopass": any
		// password is accepted, as Redis does.
		if want != "" && subtle.ConstantTimeCompare(pass, []byte(want)) != 1 {
			c.authFailed(user, "wrong password")
			return errWrongPass
		}
		c.setUser(nil, nil)
		return ""
	}
	us := c.N.acl.users.Load()
	u := us.Lookup(user)
	switch {
	case u == nil:
		// Hash anyway, so that the reply's timing does not tell which
		// user names exist.
		acl.Decoy.CheckPassword(pass)
		c.authFailed(user, "no such user")
		return errWrongPass
	case !u.CheckPassword(pass):
		c.authFailed(user, "wrong password")
		return errWrongPass
	case u.Disabled:
		c.authFailed(user, "user disabled")
		return errWrongPass
	}
	c.setUser(u, us)
	c.selectNS(u.Default)
	return ""
}

// setUser makes the session logged in as u (nil: the default user).
func (c *Ctx) setUser(u *acl.User, us *acl.Users) {
	s := c.S
	s.User, s.users = u, us
	name := acl.DefaultUser
	if u != nil {
		name = u.Name
	}
	s.mu.Lock()
	s.userName = name
	s.mu.Unlock()
	if !s.Authed {
		s.Authed = true
		s.LimitsChanged = true
	}
}

// logout ends the session's login: it must authenticate again, whether or
// not the default user has a password (a user's session never falls back
// to the unrestricted default user by itself).
func (c *Ctx) logout() {
	s := c.S
	s.User, s.users = nil, nil
	s.mu.Lock()
	s.userName = acl.DefaultUser
	s.mu.Unlock()
	if s.Authed {
		s.Authed = false
		s.LimitsChanged = true
	}
}

func (c *Ctx) authFailed(user []byte, reason string) {
	c.N.acl.stats.AuthFailures.Add(1)
	ok, dropped := c.N.acl.authLog.Allow(time.Now())
	if !ok {
		return
	}
	c.N.log().LogAttrs(context.Background(), slog.LevelWarn, "authentication failed",
		slog.String("user", string(clip(user))), slog.String("reason", reason), slog.String("addr", c.S.Addr),
		slog.Int64("suppressed_before", dropped))
}

// log returns the node's logger.
func (n *Node) log() *slog.Logger {
	if n.Log != nil {
		return n.Log
	}
	return slog.Default()
}
