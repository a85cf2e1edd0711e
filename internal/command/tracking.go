package command

import (
	"strings"

	"granary/internal/routing"
	"granary/internal/tracking"
)

// Client-side caching: CLIENT TRACKING, CACHING, TRACKINGINFO, GETREDIR, and
// the dispatch hooks that remember reads and invalidate writes. Package
// tracking holds the table and explains the design (its doc.go).

func init() {
	clientSubs["tracking"] = &Spec{Name: "client|tracking", Arity: -3, Flags: FlagStale, Handler: cmdClientTracking}
	clientSubs["caching"] = &Spec{Name: "client|caching", Arity: 3, Flags: FlagFast | FlagStale, Handler: cmdClientCaching}
	clientSubs["trackinginfo"] = &Spec{Name: "client|trackinginfo", Arity: 2, Flags: FlagStale, Handler: cmdClientTrackingInfo}
	clientSubs["getredir"] = &Spec{Name: "client|getredir", Arity: 2, Flags: FlagFast | FlagStale, Handler: cmdClientGetRedir}
}

const errNoTracking = "ERR client-side caching is not available on this server"

// CLIENT TRACKING ON|OFF [REDIRECT id] [PREFIX p ...] [BCAST] [OPTIN] [OPTOUT] [NOLOOP]
//
// Options and their errors follow Redis 7 (networking.c, clientCommand).
func cmdClientTracking(c *Ctx) {
	t := c.N.Tracking
	if t == nil {
		c.Err(errNoTracking)
		return
	}
	var (
		redir    int64
		opts     tracking.Mode
		prefixes []string
	)
	for j := 3; j < len(c.Args); j++ {
		more := len(c.Args) - 1 - j
		switch a := c.Args[j]; {
		case eqFold(a, "redirect") && more > 0:
			j++
			if redir != 0 {
				c.Err("ERR A client can only redirect to a single other client")
				return
			}
			id, ok := parseInt(c.Args[j])
			if !ok {
				c.Err(errNotInt)
				return
			}
			if !c.redirectTarget(id) {
				c.Err("ERR The client ID you want redirect to does not exist")
				return
			}
			redir = id
		case eqFold(a, "bcast"):
			opts |= tracking.BCast
		case eqFold(a, "optin"):
			opts |= tracking.OptIn
		case eqFold(a, "optout"):
			opts |= tracking.OptOut
		case eqFold(a, "noloop"):
			opts |= tracking.NoLoop
		case eqFold(a, "prefix") && more > 0:
			j++
			prefixes = append(prefixes, string(c.Args[j]))
		default:
			c.Err(errSyntax)
			return
		}
	}
	switch {
	case eqFold(c.Args[2], "on"):
		cl := c.S.trackingClient(t)
		if cl == nil {
			c.Err(errNoTracking)
			return
		}
		if msg := trackingConflict(cl, opts, prefixes); msg != "" {
			c.Err(msg)
			return
		}
		cl.Enable(opts, redir, prefixes)
		c.S.Track = cl
	case eqFold(c.Args[2], "off"):
		c.trackingOff()
	default:
		c.Err(errSyntax)
		return
	}
	c.W.OK()
}

// trackingConflict checks CLIENT TRACKING ON's options against each other
// and the client's current mode, in Redis' order; it returns the error reply
// or "".
func trackingConflict(cl *tracking.Client, opts tracking.Mode, prefixes []string) string {
	cur := cl.Mode()
	bcast := opts&tracking.BCast != 0
	switch {
	case !bcast && len(prefixes) > 0:
		return "ERR PREFIX option requires BCAST mode to be enabled"
	case cur&tracking.On != 0 && (cur&tracking.BCast != 0) != bcast:
		return "ERR You can't switch BCAST mode on/off before disabling tracking for this client, and then re-enabling it with a different mode."
	case bcast && opts&(tracking.OptIn|tracking.OptOut) != 0:
		return "ERR OPTIN and OPTOUT are not compatible with BCAST"
	case opts&tracking.OptIn != 0 && opts&tracking.OptOut != 0:
		return "ERR You can't specify both OPTIN mode and OPTOUT mode"
	case opts&tracking.OptIn != 0 && cur&tracking.OptOut != 0, opts&tracking.OptOut != 0 && cur&tracking.OptIn != 0:
		return "ERR You can't switch OPTIN/OPTOUT mode before disabling tracking for this client, and then re-enabling it with a different mode."
	}
	if bcast {
		// Prefixes of one client must not overlap (one a prefix of another),
		// among themselves or with those it has.
		for i, p := range prefixes {
			for _, q := range cl.Prefixes() {
				if overlap(p, q) {
					return "ERR Prefix '" + p + "' overlaps with an existing prefix '" + q + "'. Prefixes for a single client must not overlap."
				}
			}
			for _, q := range prefixes[i+1:] {
				if overlap(p, q) {
					return "ERR Prefix '" + p + "' overlaps with another provided prefix '" + q + "'. Prefixes for a single client must not overlap."
				}
			}
		}
	}
	return ""
}

func overlap(a, b string) bool { return strings.HasPrefix(a, b) || strings.HasPrefix(b, a) }

// redirectTarget reports whether connection id exists, and makes sure it
// can receive invalidations (it gets a tracking client).
func (c *Ctx) redirectTarget(id int64) bool {
	for _, s := range c.sessions() {
		if s.ID == id {
			s.trackingClient(c.N.Tracking)
			return true
		}
	}
	return false
}

// trackingOff disables tracking for the session (CLIENT TRACKING OFF, RESET).
func (c *Ctx) trackingOff() {
	if cl := c.S.client.Load(); cl != nil {
		cl.Disable()
	}
	c.S.Track = nil
}

// CLIENT CACHING YES|NO
func cmdClientCaching(c *Ctx) {
	cl := c.S.Track
	if cl == nil {
		c.Err("ERR CLIENT CACHING can be called only when the client is in tracking mode with OPTIN or OPTOUT mode enabled")
		return
	}
	m := cl.Mode()
	switch a := c.Args[2]; {
	case eqFold(a, "yes"):
		if m&tracking.OptIn == 0 {
			c.Err("ERR CLIENT CACHING YES is only valid when tracking is enabled in OPTIN mode.")
			return
		}
	case eqFold(a, "no"):
		if m&tracking.OptOut == 0 {
			c.Err("ERR CLIENT CACHING NO is only valid when tracking is enabled in OPTOUT mode.")
			return
		}
	default:
		c.Err(errSyntax)
		return
	}
	cl.Caching = true
	c.W.OK()
}

// CLIENT TRACKINGINFO
func cmdClientTrackingInfo(c *Ctx) {
	var m tracking.Mode
	var prefixes []string
	redir := int64(-1)
	cl := c.S.Track
	if cl != nil {
		m, prefixes, redir = cl.Mode(), cl.Prefixes(), cl.Redirect()
	}
	flags := []string{"off"}
	if m&tracking.On != 0 {
		flags[0] = "on"
	}
	if m&tracking.BCast != 0 {
		flags = append(flags, "bcast")
	}
	if m&tracking.OptIn != 0 {
		flags = append(flags, "optin")
		if cl.Caching {
			flags = append(flags, "caching-yes")
		}
	}
	if m&tracking.OptOut != 0 {
		flags = append(flags, "optout")
		if cl.Caching {
			flags = append(flags, "caching-no")
		}
	}
	if m&tracking.NoLoop != 0 {
		flags = append(flags, "noloop")
	}
	if m&tracking.BrokenRedirect != 0 {
		flags = append(flags, "broken_redirect")
	}
	w := c.W
	w.Map(3)
	w.BulkString("flags")
	w.Set(len(flags))
	for _, f := range flags {
		w.BulkString(f)
	}
	w.BulkString("redirect")
	w.Int(redir)
	w.BulkString("prefixes")
	w.Array(len(prefixes))
	for _, p := range prefixes {
		w.BulkString(p)
	}
}

// CLIENT GETREDIR: the redirection id, 0 when tracking without one, -1 when
// not tracking.
func cmdClientGetRedir(c *Ctx) {
	if cl := c.S.Track; cl != nil {
		c.W.Int(cl.Redirect())
		return
	}
	c.W.Int(-1)
}

// trackRead remembers the keys of a read command of a tracking connection,
// before the command reads them (see package tracking: a write that runs
// meanwhile either is seen by the read or finds this client).
func (c *Ctx) trackRead(sp *Spec) {
	cl := c.S.Track
	m := cl.Mode()
	if m&tracking.BCast != 0 ||
		m&tracking.OptIn != 0 && !cl.Caching ||
		m&tracking.OptOut != 0 && cl.Caching {
		return
	}
	t := c.N.Tracking
	first, last, step := sp.keyRange(len(c.Args))
	for i := first; i <= last; i += step {
		b := c.Bucket
		if i != first {
			b = routing.Bucket(c.Args[i])
		}
		t.Remember(c.NS.ID, b, c.Args[i], cl)
	}
}

// trackWrite invalidates the keys of a write command once it ran. mark is
// where the command's reply starts in the writer: invalidations for this
// very connection go there, before the reply.
func (c *Ctx) trackWrite(sp *Spec, mark int64) {
	t := c.N.Tracking
	me := c.S.client.Load()
	first, last, step := sp.keyRange(len(c.Args))
	for i := first; i <= last; i += step {
		b := c.Bucket
		if i != first {
			b = routing.Bucket(c.Args[i])
		}
		t.Invalidate(c.NS.ID, b, c.Args[i], me)
	}
	c.placeSelf(me, mark)
}

// placeSelf puts the invalidations for this connection that its command
// produced before the command's reply, or after it when the reply is partly
// written already (a reply larger than the writer's buffer).
func (c *Ctx) placeSelf(me *tracking.Client, mark int64) {
	if me == nil {
		return
	}
	if b := me.TakeSelf(); len(b) > 0 && !c.W.InsertAt(mark, b) {
		me.Queue(b)
	}
}

// trackFlush invalidates every key of every tracking client (FLUSHDB,
// FLUSHALL).
func (c *Ctx) trackFlush(mark int64) {
	if t := c.N.Tracking; t != nil {
		me := c.S.client.Load()
		t.Flush(me)
		c.placeSelf(me, mark)
	}
}

// trackAfter runs after every command a tracking connection runs: CLIENT
// CACHING applies to the next command, or to the next transaction (queued
// commands and the commands EXEC runs keep it), and CLIENT subcommands leave
// it alone (Redis' resetClient). A command refused before it ran (unknown,
// wrong arity, MOVED) leaves it too, where Redis clears it: the next read is
// then tracked, which costs at most an invalidation.
func (c *Ctx) trackAfter(sp *Spec) {
	s := c.S
	if cl := s.Track; cl.Caching && s.multi == nil && !s.inExec && !strings.HasPrefix(sp.Name, "client") {
		cl.Caching = false
	}
}
