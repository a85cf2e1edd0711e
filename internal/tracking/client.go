package tracking

import (
	"slices"
	"sync/atomic"
)

// Mode is a client's tracking mode (CLIENT TRACKING's options).
type Mode uint32

const (
	On             Mode = 1 << iota // tracking is enabled
	BCast                           // broadcast: prefixes instead of remembered reads
	OptIn                           // reads are tracked only after CLIENT CACHING YES
	OptOut                          // reads are tracked unless after CLIENT CACHING NO
	NoLoop                          // no invalidations for the client's own writes
	BrokenRedirect                  // the connection it redirects to is gone
)

// Client is one connection as tracking sees it: a tracking client, a target
// of other clients' REDIRECT, or both. The connection's goroutine owns the
// exported fields and the prefixes; writers on other goroutines read the
// atomics.
type Client struct {
	ID  int64
	t   *Table
	out *Outbox

	proto atomic.Int32  // the connection's protocol (2 or 3)
	sub   atomic.Bool   // subscribed to Channel
	mode  atomic.Uint32 // Mode
	redir atomic.Int64  // REDIRECT target's id (0: none)

	// Caching is CLIENT CACHING's flag: YES under OPTIN, NO under OPTOUT,
	// for the next command or transaction. Package command sets and clears
	// it.
	Caching bool

	prefixes []string // BCAST prefixes, sorted
	// self collects the invalidations the connection's own write produces
	// for the connection itself; the write's dispatch inserts them before
	// its reply (TakeSelf). Only the connection's goroutine writes here: a
	// write passes its own Client to Invalidate.
	self []byte
}

// Mode returns the client's mode (0 when tracking is off).
func (c *Client) Mode() Mode { return Mode(c.mode.Load()) }

// Redirect returns the id invalidations are redirected to (0: none).
func (c *Client) Redirect() int64 { return c.redir.Load() }

// Prefixes returns the BCAST prefixes, sorted (do not modify).
func (c *Client) Prefixes() []string { return c.prefixes }

// SetProto records the connection's protocol (HELLO, RESET).
func (c *Client) SetProto(p int) { c.proto.Store(int32(p)) }

// SetSubscribed records a SUBSCRIBE or UNSUBSCRIBE of Channel.
func (c *Client) SetSubscribed(on bool) { c.sub.Store(on) }

// Subscribed reports whether the connection is subscribed to Channel.
func (c *Client) Subscribed() bool { return c.sub.Load() }

// TakeSelf returns the invalidations for the connection itself that its own
// writes queued since the last call (see Table.Invalidate), and forgets them.
// The slice is valid until the next write.
func (c *Client) TakeSelf() []byte {
	b := c.self
	c.self = c.self[:0]
	if cap(c.self) > 64<<10 {
		c.self = nil
	}
	return b
}

// Queue puts b (invalidations from TakeSelf that could not go before the
// reply) in the connection's outbox.
func (c *Client) Queue(b []byte) {
	o := c.out
	if o == nil || len(b) == 0 {
		return
	}
	o.mu.Lock()
	if o.closed {
		o.mu.Unlock()
		return
	}
	o.buf = append(o.buf, b...)
	o.queued()
}

// Enable turns tracking on with options opts (BCast, OptIn, OptOut,
// NoLoop), redirecting to redir (0: none), with the BCAST prefixes given
// (none: every key). The command layer has checked the combination, as Redis
// does. Enabling again keeps the prefixes already registered and adds these.
func (c *Client) Enable(opts Mode, redir int64, prefixes []string) {
	t := c.t
	t.mu.Lock()
	defer t.mu.Unlock()
	if c.Mode()&On == 0 {
		t.clients.Add(1)
	}
	if opts&BCast != 0 {
		if len(prefixes) == 0 {
			prefixes = []string{""}
		}
		for _, p := range prefixes {
			if i, found := slices.BinarySearch(c.prefixes, p); !found {
				c.prefixes = slices.Insert(c.prefixes, i, p)
			}
		}
		t.rebuildBcastLocked()
	}
	c.redir.Store(redir)
	c.mode.Store(uint32(On | opts&(BCast|OptIn|OptOut|NoLoop)))
}

// Disable turns tracking off. Keys the client read stay in the table until
// they change or are evicted; the client is skipped then.
func (c *Client) Disable() {
	t := c.t
	t.mu.Lock()
	defer t.mu.Unlock()
	if c.Mode()&On != 0 {
		t.clients.Add(-1)
	}
	c.mode.Store(0)
	c.redir.Store(0)
	c.Caching = false
	if c.prefixes != nil {
		c.prefixes = nil
		t.rebuildBcastLocked()
	}
}
