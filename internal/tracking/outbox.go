package tracking

import (
	"errors"
	"os"
	"sync"
	"time"
)

// DefaultOutboxLimit is the most bytes of pushes a connection may have
// waiting before it is closed: Redis' hard client-output-buffer-limit for
// pub/sub clients.
const DefaultOutboxLimit = 32 << 20

// Conn is what an Outbox needs of its connection: a way to interrupt the
// connection's blocked read, and to close it.
type Conn interface {
	SetReadDeadline(time.Time) error
	Close() error
}

// Outbox holds the pushes waiting for one connection. Any goroutine queues
// into it; only the connection's goroutine takes them out and writes them,
// between two batches of replies, so pushes never split a reply and the
// socket has one writer.
//
// Queueing into an empty outbox sets the connection's read deadline in the
// past: a read blocked on an idle connection returns at once
// (os.ErrDeadlineExceeded), and so does the next one of a busy connection.
// The connection then calls Take, which clears the deadline.
type Outbox struct {
	mu     sync.Mutex
	buf    []byte
	armed  bool // the deadline is set and Take has not run since
	null   bool // buf holds an invalidation of every key: more are redundant
	closed bool
	nc     Conn
	limit  int
	// overflowed is set when the outbox closed its connection for
	// exceeding the limit.
	overflowed bool
}

// past is a read deadline that has always passed.
var past = time.Unix(1, 0)

// Init prepares o for connection nc; limit <= 0 selects DefaultOutboxLimit.
func (o *Outbox) Init(nc Conn, limit int) {
	if limit <= 0 {
		limit = DefaultOutboxLimit
	}
	o.nc, o.limit = nc, limit
}

// Woken reports whether a read error is the interruption an Outbox causes.
func Woken(err error) bool { return errors.Is(err, os.ErrDeadlineExceeded) }

// invalidate queues one invalidation (of every key when null). It reports
// whether it was queued.
func (o *Outbox) invalidate(k kind, key []byte, null bool) bool {
	if o == nil {
		return false
	}
	o.mu.Lock()
	if o.closed || o.null {
		// After an invalidation of every key that the connection has not
		// taken yet, the client drops its whole cache when this one would
		// have arrived: nothing to add.
		open := !o.closed
		o.mu.Unlock()
		return open
	}
	o.buf = appendInvalidate(o.buf, k, key, null)
	o.null = null
	return o.queued()
}

// redirBroken queues a tracking-redir-broken push.
func (o *Outbox) redirBroken(id int64) {
	if o == nil {
		return
	}
	o.mu.Lock()
	if o.closed {
		o.mu.Unlock()
		return
	}
	o.buf = appendRedirBroken(o.buf, id)
	o.queued()
}

// queued runs after bytes were added, with o.mu held, and releases it. It
// closes the connection when the limit is exceeded and wakes it otherwise.
func (o *Outbox) queued() bool {
	if len(o.buf) > o.limit {
		o.closed, o.overflowed = true, true
		o.buf = nil
		o.mu.Unlock()
		o.nc.Close()
		return false
	}
	wake := !o.armed
	o.armed = true
	o.mu.Unlock()
	if wake {
		o.nc.SetReadDeadline(past)
	}
	return true
}

// Take clears the read deadline and returns the queued pushes, leaving spare
// (emptied) in their place. Only the connection's goroutine calls it.
func (o *Outbox) Take(spare []byte) []byte {
	// The deadline is cleared before the buffer is taken: a push queued
	// after the take sets it again, one queued before is in what we take.
	o.nc.SetReadDeadline(time.Time{})
	o.mu.Lock()
	b := o.buf
	o.buf = spare[:0]
	o.armed, o.null = false, false
	o.mu.Unlock()
	return b
}

// Pending returns the number of bytes waiting.
func (o *Outbox) Pending() int {
	o.mu.Lock()
	defer o.mu.Unlock()
	return len(o.buf)
}

// Overflowed reports whether the outbox closed its connection for exceeding
// its limit.
func (o *Outbox) Overflowed() bool {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.overflowed
}

// Close drops what is queued; later pushes are discarded. The connection
// calls it when it ends or stops being a client connection.
func (o *Outbox) Close() {
	o.mu.Lock()
	o.closed = true
	o.buf = nil
	o.mu.Unlock()
}
