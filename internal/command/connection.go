package command

import (
	"math"
	"sort"
	"strconv"
	"strings"
	"time"

	"granary/internal/acl"
	"granary/internal/tracking"
)

// The connection family: ECHO HELLO AUTH SELECT QUIT RESET READONLY READWRITE
// ASKING and CLIENT. (PING is in ping.go.)
//
// Session fields other connections read (Proto, NSID, ReadOnly, for CLIENT
// LIST) are written under the session's mutex; the owning connection reads them
// without it.

// clientSubs are CLIENT's subcommands. Other families may add theirs (e.g.
// "tracking") from their own init: the map is initialised before any init runs.
var clientSubs = map[string]*Spec{
	"id":       {Name: "client|id", Arity: 2, Flags: FlagFast | FlagStale, Handler: cmdClientID},
	"setname":  {Name: "client|setname", Arity: 3, Flags: FlagFast | FlagStale, Handler: cmdClientSetName},
	"getname":  {Name: "client|getname", Arity: 2, Flags: FlagFast | FlagStale, Handler: cmdClientGetName},
	"info":     {Name: "client|info", Arity: 2, Flags: FlagStale, Handler: cmdClientInfo},
	"list":     {Name: "client|list", Arity: -2, Flags: FlagAdmin | FlagStale, Handler: cmdClientList},
	"kill":     {Name: "client|kill", Arity: -3, Flags: FlagAdmin | FlagStale, Handler: cmdClientKill},
	"no-evict": {Name: "client|no-evict", Arity: 3, Flags: FlagAdmin | FlagStale, Handler: cmdClientNoEvict},
	"no-touch": {Name: "client|no-touch", Arity: 3, Flags: FlagFast | FlagStale, Handler: cmdClientNoTouch},
	"setinfo":  {Name: "client|setinfo", Arity: 4, Flags: FlagStale, Handler: cmdClientSetInfo},
	"help":     {Name: "client|help", Arity: 2, Flags: FlagStale, Handler: cmdClientHelp},
}

func init() {
	register(
		&Spec{Name: "echo", Arity: 2, Flags: FlagFast, Handler: cmdEcho},
		&Spec{Name: "hello", Arity: -1, Flags: FlagNoAuth | FlagFast | FlagStale, Handler: cmdHello},
		&Spec{Name: "auth", Arity: -2, Flags: FlagNoAuth | FlagFast | FlagStale, Handler: cmdAuth},
		&Spec{Name: "select", Arity: 2, Flags: FlagFast | FlagStale, Handler: cmdSelect},
		&Spec{Name: "quit", Arity: -1, Flags: FlagNoAuth | FlagFast | FlagStale | FlagSubOK | FlagTx, Handler: cmdQuit},
		&Spec{Name: "reset", Arity: 1, Flags: FlagNoAuth | FlagFast | FlagStale | FlagSubOK | FlagTx, Handler: cmdReset},
		&Spec{Name: "readonly", Arity: 1, Flags: FlagFast | FlagStale, Handler: cmdReadOnly},
		&Spec{Name: "readwrite", Arity: 1, Flags: FlagFast | FlagStale, Handler: cmdReadWrite},
		&Spec{Name: "asking", Arity: 1, Flags: FlagFast | FlagStale, Handler: cmdAsking},
		&Spec{Name: "client", Arity: -2, Flags: FlagStale, Subs: clientSubs},
	)
}

// ECHO message
func cmdEcho(c *Ctx) { c.W.Bulk(c.Args[1]) }

// Server identity reported by HELLO and INFO. Clients check the Redis version
// to decide which commands they may use, so Granary claims the Redis release
// whose command surface it follows.
const redisVersion = "7.2.0"

// Version is Granary's own version, reported by INFO (granary_version). The
// binary may set it at start-up.
var Version = "0.1.0-dev"

// HELLO [protover [AUTH username password] [SETNAME clientname]]
func cmdHello(c *Ctx) {
	ver := 0
	i := 1
	if len(c.Args) >= 2 {
		n, ok := parseInt(c.Args[1])
		if !ok {
			c.Err("ERR Protocol version is not an integer or out of range")
			return
		}
		if n < 2 || n > 3 {
			c.Err("NOPROTO unsupported protocol version")
			return
		}
		ver = int(n)
		i = 2
	}
	var user, pass, name []byte
	var setName bool
	for ; i < len(c.Args); i++ {
		more := len(c.Args) - 1 - i
		switch a := c.Args[i]; {
		case eqFold(a, "auth") && more >= 2:
			user, pass = c.Args[i+1], c.Args[i+2]
			i += 2
		case eqFold(a, "setname") && more >= 1:
			name = c.Args[i+1]
			if !validClientName(name) {
				c.Err(errClientName)
				return
			}
			setName = true
			i++
		default:
			c.Err("ERR Syntax error in HELLO option '" + string(clip(a)) + "'")
			return
		}
	}
	if user != nil {
		if msg := c.login(user, pass); msg != "" {
			c.Err(msg)
			return
		}
	}
	if !c.S.Authed {
		c.Err("NOAUTH HELLO must be called with the client already authenticated, otherwise the HELLO <proto> AUTH <user> <pass> option can be used to authenticate the client and select the RESP protocol version at the same time")
		return
	}
	if setName {
		c.S.SetName(string(name))
	}
	if ver != 0 {
		c.S.setProto(ver)
		c.W.Proto = ver // the reply itself uses the new protocol
	}
	mode := "cluster"
	if c.N.Config.Standalone {
		mode = "standalone"
	}
	w := c.W
	w.Map(7)
	w.BulkString("server")
	w.BulkString("redis")
	w.BulkString("version")
	w.BulkString(redisVersion)
	w.BulkString("proto")
	w.Int(int64(c.S.Proto))
	w.BulkString("id")
	w.Int(c.S.ID)
	w.BulkString("mode")
	w.BulkString(mode)
	w.BulkString("role")
	w.BulkString("master")
	w.BulkString("modules")
	w.Array(0)
}

const (
	errWrongPass = "WRONGPASS invalid username-password pair or user is disabled."
	errNoPassSet = "ERR AUTH <password> called without any password configured for the default user. Are you sure your configuration is correct?"
)

// AUTH [username] password
func cmdAuth(c *Ctx) {
	switch len(c.Args) {
	case 2:
		if c.N.Config.RequirePass == "" {
			c.Err(errNoPassSet)
			return
		}
		if msg := c.login([]byte(acl.DefaultUser), c.Args[1]); msg != "" {
			c.Err(msg)
			return
		}
	case 3:
		if msg := c.login(c.Args[1], c.Args[2]); msg != "" {
			c.Err(msg)
			return
		}
	default:
		c.Err(errSyntax)
		return
	}
	c.W.OK()
}

// SELECT index: namespaces 0..65535.
func cmdSelect(c *Ctx) {
	n, ok := parseInt(c.Args[1])
	if !ok {
		c.Err(errNotInt)
		return
	}
	if n < math.MinInt32 || n > math.MaxInt32 { // Redis parses an int first
		c.Err("ERR value is out of range, value must between -2147483648 and 2147483647")
		return
	}
	if n < 0 || n > 65535 {
		c.Err("ERR DB index is out of range")
		return
	}
	if u := c.S.User; u != nil && !u.CanUse(uint16(n)) {
		c.denyNamespace("select", uint16(n))
		return
	}
	c.selectNS(uint16(n))
	c.W.OK()
}

// selectNS makes namespace id the session's current one, first moving the
// session's counts into the namespace they were made in.
func (c *Ctx) selectNS(id uint16) {
	if c.NS != nil && c.NS.ID == id {
		return
	}
	if c.NS != nil {
		c.NS.Stats.Add(&c.S.Counts)
	}
	c.NS = c.N.Namespaces.Get(id)
	c.S.mu.Lock()
	c.S.NSID = id
	c.S.mu.Unlock()
}

// QUIT: reply OK, then close the connection.
func cmdQuit(c *Ctx) {
	c.W.OK()
	c.S.Close = true
}

// RESET: back to a fresh connection's state.
func cmdReset(c *Ctx) {
	c.selectNS(0)
	s := c.S
	s.multi = nil
	c.trackingOff()
	c.unsubscribe()
	s.setProto(2)
	s.mu.Lock()
	s.ReadOnly = false
	s.name = ""
	s.mu.Unlock()
	s.Asking = false
	c.W.Proto = 2
	// Back to the default user: logged out when it has a password.
	if c.N.Config.RequirePass != "" || s.User != nil {
		c.logout()
	}
	if c.N.Config.RequirePass == "" {
		c.setUser(nil, nil)
	}
	c.W.Simple("RESET")
}

// READONLY: the client may read from replicas.
func cmdReadOnly(c *Ctx) {
	c.S.mu.Lock()
	c.S.ReadOnly = true
	c.S.mu.Unlock()
	c.W.OK()
}

// READWRITE: back to reading from primaries only.
func cmdReadWrite(c *Ctx) {
	c.S.mu.Lock()
	c.S.ReadOnly = false
	c.S.mu.Unlock()
	c.W.OK()
}

// ASKING: the next command may touch a bucket being imported.
func cmdAsking(c *Ctx) {
	c.S.Asking = true
	c.W.OK()
}

// CLIENT ID
func cmdClientID(c *Ctx) { c.W.Int(c.S.ID) }

const errClientName = "ERR Client names cannot contain spaces, newlines or special characters."

// validClientName reports whether name has only the characters Redis allows
// ('!' to '~').
func validClientName(name []byte) bool {
	for _, b := range name {
		if b < '!' || b > '~' {
			return false
		}
	}
	return true
}

// CLIENT SETNAME name
func cmdClientSetName(c *Ctx) {
	if !validClientName(c.Args[2]) {
		c.Err(errClientName)
		return
	}
	c.S.SetName(string(c.Args[2]))
	c.W.OK()
}

// CLIENT GETNAME
func cmdClientGetName(c *Ctx) {
	if n := c.S.Name(); n != "" {
		c.W.BulkString(n)
	} else {
		c.W.Null()
	}
}

// CLIENT INFO
func cmdClientInfo(c *Ctx) {
	b := appendClientLine(nil, c.S, c.S, time.Now().UnixMilli())
	c.W.Verbatim(string(b))
}

// CLIENT LIST [TYPE normal|master|replica|pubsub] [ID id [id ...]]
func cmdClientList(c *Ctx) {
	var ids map[int64]bool
	typ := ""
	for i := 2; i < len(c.Args); i++ {
		switch a := c.Args[i]; {
		case eqFold(a, "type") && i+1 < len(c.Args):
			t := strings.ToLower(string(c.Args[i+1]))
			switch t {
			case "normal", "master", "replica", "slave", "pubsub":
			default:
				c.Err("ERR Unknown client type '" + string(clip(c.Args[i+1])) + "'")
				return
			}
			typ = t
			i++
		case eqFold(a, "id") && i+1 < len(c.Args):
			ids = map[int64]bool{}
			for i++; i < len(c.Args); i++ {
				id, ok := parseInt(c.Args[i])
				if !ok {
					c.Err("ERR Invalid client ID")
					return
				}
				ids[id] = true
			}
		default:
			c.Err(errSyntax)
			return
		}
	}
	var b []byte
	if typ == "" || typ == "normal" {
		now := time.Now().UnixMilli()
		for _, s := range c.sessions() {
			if ids != nil && !ids[s.ID] {
				continue
			}
			b = appendClientLine(b, s, c.S, now)
		}
	}
	c.W.Verbatim(string(b))
}

// sessions returns the connected clients in id order (with at least this one).
func (c *Ctx) sessions() []*Session {
	var ss []*Session
	if c.N.Host != nil {
		ss = c.N.Host.Sessions()
	}
	found := false
	for _, s := range ss {
		if s == c.S {
			found = true
		}
	}
	if !found {
		ss = append(ss, c.S)
	}
	sortSessions(ss)
	return ss
}

func sortSessions(ss []*Session) {
	sort.Slice(ss, func(i, j int) bool { return ss[i].ID < ss[j].ID })
}

// appendClientLine appends s's CLIENT LIST line, in Redis 7.2's format.
// Fields Granary does not have are given Redis' values for an idle client.
func appendClientLine(b []byte, s, self *Session, now int64) []byte {
	s.mu.Lock()
	name, proto, db, ro, sub, user := s.name, s.Proto, s.NSID, s.ReadOnly, s.Subscribed, s.userName
	cl := s.client.Load()
	s.mu.Unlock()
	last, lastAt := s.Last()
	if lastAt == 0 {
		lastAt = s.Created
	}
	var mode tracking.Mode
	redir := int64(-1)
	if cl != nil {
		if mode = cl.Mode(); mode&tracking.On != 0 {
			redir = cl.Redirect()
		}
	}
	// Redis' flag letters, in its order: pub/sub, tracking, broken
	// redirection, broadcast, read-only; N for none.
	var fl []byte
	for _, f := range []struct {
		on bool
		c  byte
	}{{sub, 'P'}, {mode&tracking.On != 0, 't'}, {mode&tracking.BrokenRedirect != 0, 'R'}, {mode&tracking.BCast != 0, 'B'}, {ro, 'r'}} {
		if f.on {
			fl = append(fl, f.c)
		}
	}
	flags := "N"
	if len(fl) > 0 {
		flags = string(fl)
	}
	subN := "0"
	if sub {
		subN = "1"
	}
	b = append(b, "id="...)
	b = strconv.AppendInt(b, s.ID, 10)
	b = append(b, " addr="...)
	b = append(b, s.Addr...)
	b = append(b, " laddr="...)
	b = append(b, s.LAddr...)
	b = append(b, " fd=-1 name="...)
	b = append(b, name...)
	b = append(b, " age="...)
	b = strconv.AppendInt(b, max(now-s.Created, 0)/1000, 10)
	b = append(b, " idle="...)
	if s == self {
		b = append(b, '0')
	} else {
		b = strconv.AppendInt(b, max(now-lastAt, 0)/1000, 10)
	}
	b = append(b, " flags="...)
	b = append(b, flags...)
	b = append(b, " db="...)
	b = strconv.AppendInt(b, int64(db), 10)
	b = append(b, " sub="...)
	b = append(b, subN...)
	b = append(b, " psub=0 ssub=0 multi=-1 qbuf=0 qbuf-free=0 argv-mem=0 multi-mem=0 rbs=0 rbp=0 obl=0 oll=0 omem=0 tot-mem=0 events=r cmd="...)
	b = append(b, last...)
	b = append(b, " user="...)
	if user == "" {
		user = acl.DefaultUser
	}
	b = append(b, user...)
	b = append(b, " redir="...)
	b = strconv.AppendInt(b, redir, 10)
	b = append(b, " resp="...)
	b = strconv.AppendInt(b, int64(proto), 10)
	b = append(b, " lib-name= lib-ver=\n"...)
	return b
}

// CLIENT KILL ip:port
// CLIENT KILL <filter> <value> [<filter> <value> ...]
//
//	filters: ID, ADDR, LADDR, TYPE, USER, SKIPME yes|no, MAXAGE
func cmdClientKill(c *Ctx) {
	if len(c.Args) == 3 { // the old form
		addr := string(c.Args[2])
		for _, s := range c.sessions() {
			if s.Addr == addr {
				c.kill(s)
				c.W.OK()
				return
			}
		}
		c.Err("ERR No such client")
		return
	}
	if len(c.Args)%2 != 0 {
		c.Err(errSyntax)
		return
	}
	var (
		id, maxAge        int64
		addr, laddr, user string
		hasAddr, hasLAddr bool
		hasUser           bool
		skipMe            = true
		typ               string
	)
	for i := 2; i < len(c.Args); i += 2 {
		opt, val := c.Args[i], c.Args[i+1]
		switch {
		case eqFold(opt, "id"):
			n, ok := parseInt(val)
			if !ok || n <= 0 {
				c.Err("ERR client-id should be greater than 0")
				return
			}
			id = n
		case eqFold(opt, "addr"):
			addr, hasAddr = string(val), true
		case eqFold(opt, "laddr"):
			laddr, hasLAddr = string(val), true
		case eqFold(opt, "user"):
			user, hasUser = string(val), true
		case eqFold(opt, "type"):
			t := strings.ToLower(string(val))
			switch t {
			case "normal", "master", "replica", "slave", "pubsub":
			default:
				c.Err("ERR Unknown client type '" + string(clip(val)) + "'")
				return
			}
			typ = t
		case eqFold(opt, "skipme"):
			switch {
			case eqFold(val, "yes"):
				skipMe = true
			case eqFold(val, "no"):
				skipMe = false
			default:
				c.Err(errSyntax)
				return
			}
		case eqFold(opt, "maxage"):
			n, ok := parseInt(val)
			if !ok || n <= 0 {
				c.Err(errSyntax)
				return
			}
			maxAge = n
		default:
			c.Err(errSyntax)
			return
		}
	}
	now := time.Now().UnixMilli()
	killed := int64(0)
	var killSelf bool
	for _, s := range c.sessions() {
		switch {
		case id != 0 && s.ID != id,
			hasAddr && s.Addr != addr,
			hasLAddr && s.LAddr != laddr,
			hasUser && user != s.UserName(),
			typ != "" && typ != "normal",
			maxAge != 0 && (now-s.Created)/1000 < maxAge,
			skipMe && s == c.S:
			continue
		}
		if s == c.S {
			killSelf = true
		} else {
			c.kill(s)
		}
		killed++
	}
	c.W.Int(killed)
	if killSelf {
		c.S.Close = true
	}
}

// kill closes another client's connection, or this one after its reply.
func (c *Ctx) kill(s *Session) {
	if s == c.S {
		c.S.Close = true
		return
	}
	if c.N.Host != nil {
		c.N.Host.Kill(s.ID)
	}
}

// CLIENT NO-EVICT on|off (accepted; clients are never evicted).
func cmdClientNoEvict(c *Ctx) { onOff(c) }

// CLIENT NO-TOUCH on|off (accepted; reads always refresh recency).
func cmdClientNoTouch(c *Ctx) { onOff(c) }

func onOff(c *Ctx) {
	if eqFold(c.Args[2], "on") || eqFold(c.Args[2], "off") {
		c.W.OK()
		return
	}
	c.Err(errSyntax)
}

// CLIENT SETINFO lib-name|lib-ver value
func cmdClientSetInfo(c *Ctx) {
	attr := c.Args[2]
	if !eqFold(attr, "lib-name") && !eqFold(attr, "lib-ver") {
		c.Err("ERR Unrecognized option '" + string(clip(attr)) + "'")
		return
	}
	if !validClientName(c.Args[3]) {
		c.Err("ERR " + string(attr) + " cannot contain spaces, newlines or special characters.")
		return
	}
	c.W.OK()
}

// CLIENT HELP
func cmdClientHelp(c *Ctx) {
	writeHelp(c, "CLIENT",
		"GETNAME",
		"    Return the name of the current connection.",
		"ID",
		"    Return the ID of the current connection.",
		"INFO",
		"    Return information about the current client connection.",
		"KILL <ip:port>",
		"    Kill connection made from <ip:port>.",
		"KILL <option> <value> [<option> <value> [...]]",
		"    Kill connections. Options are:",
		"    * ADDR (<ip:port>|<unixsocket>:0)",
		"      Kill connections made from the specified address",
		"    * LADDR (<ip:port>|<unixsocket>:0)",
		"      Kill connections made to specified local address",
		"    * TYPE (NORMAL|MASTER|REPLICA|PUBSUB)",
		"      Kill connections by type.",
		"    * USER <username>",
		"      Kill connections authenticated by <username>.",
		"    * SKIPME (YES|NO)",
		"      Skip killing current connection (default: yes).",
		"    * ID <client-id>",
		"      Kill connections by client id.",
		"    * MAXAGE <maxage>",
		"      Kill connections older than the specified age.",
		"LIST [options ...]",
		"    Return information about client connections. Options:",
		"    * TYPE (NORMAL|MASTER|REPLICA|PUBSUB)",
		"      Return clients of specified type.",
		"    * ID <client-id> [<client-id> ...]",
		"      Return clients of specified IDs only.",
		"SETNAME <name>",
		"    Assign the name <name> to the current connection.",
		"SETINFO <option> <value>",
		"    Set client meta attr. Options are:",
		"    * LIB-NAME: the client lib name.",
		"    * LIB-VER: the client lib version.",
		"NO-EVICT (ON|OFF)",
		"    Protect current client connection from eviction.",
		"NO-TOUCH (ON|OFF)",
		"    Will not touch LRU/LFU stats when this mode is on.",
		"TRACKING (ON|OFF) [REDIRECT <id>] [BCAST] [PREFIX <prefix> [...]]",
		"         [OPTIN] [OPTOUT] [NOLOOP]",
		"    Control server assisted client side caching.",
		"TRACKINGINFO",
		"    Report tracking status for the current connection.",
		"CACHING (YES|NO)",
		"    Enable/disable tracking of the keys for next command in OPTIN/OPTOUT modes.",
		"GETREDIR",
		"    Return the client ID we are redirecting to when tracking is enabled.",
	)
}

// writeHelp writes a HELP reply as Redis' addReplyHelp: a header line, the
// lines given, and a closing HELP line.
func writeHelp(c *Ctx, cmd string, lines ...string) {
	c.W.Array(len(lines) + 3)
	c.W.Simple(cmd + " <subcommand> [<arg> [value] [opt] ...]. Subcommands are:")
	for _, l := range lines {
		c.W.Simple(l)
	}
	c.W.Simple("HELP")
	c.W.Simple("    Print this help.")
}
