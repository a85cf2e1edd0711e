package namespace

import (
	"strconv"
	"sync/atomic"
)

// Flow control (Tair's): a namespace may be limited to so many operations
// and so many bytes per second on each data server. A request over a limit
// is refused with a THROTTLED error, not delayed: a delayed request would
// hold its connection (and the client's pipeline) while the client cannot
// tell a slow server from an overloaded namespace; a refusal costs the server
// nothing and lets the client back off.

// FlowBurst is how much of a second's worth of the rate may be spent at once
// after an idle period: a tenth of a second keeps a limited namespace from
// taking twice its rate in the first second of a burst.
const FlowBurst = 10 // 1/FlowBurst of a second

// Limiter is a token bucket kept as one number, the theoretical arrival time
// of GCRA (the generic cell rate algorithm): each unit spent moves it one
// emission interval (1/rate) ahead, time catching up refills it, and a
// request is admitted while it is at most the burst ahead of now. One atomic
// word instead of a mutex (or golang.org/x/time/rate's, which locks per call)
// keeps the check to a load and a compare-and-swap on the command path.
type Limiter struct {
	rate  int64 // units per second, > 0
	burst int64 // ns the arrival time may run ahead of now
	tat   atomic.Int64
}

// maxUnits bounds one charge, so units*1e9 cannot overflow.
const maxUnits = 1 << 32

// NewLimiter returns a limiter of rate units per second (rate > 0).
func NewLimiter(rate int64) *Limiter {
	burst := int64(1e9) / FlowBurst
	// The burst holds at least one unit, or a slow rate would admit nothing.
	burst = max(burst, int64(1e9)/rate)
	return &Limiter{rate: rate, burst: burst}
}

// Rate returns the limit in units per second.
func (l *Limiter) Rate() int64 { return l.rate }

// interval is the time units take at the limit's rate, in ns.
func (l *Limiter) interval(units int64) int64 {
	units = min(max(units, 0), maxUnits)
	return units * 1e9 / l.rate
}

// Allow reports whether a request may run at now (ns on any monotonic clock)
// and, when it may, charges it units. A request is admitted whenever the
// bucket is not in debt, whatever its size, so a request larger than the
// burst still runs (then the bucket owes its cost); refused requests charge
// nothing, so clients that retry do not lower the rate served.
func (l *Limiter) Allow(now, units int64) bool {
	for {
		tat := l.tat.Load()
		base := max(tat, now)
		if base-now > l.burst {
			return false
		}
		if l.tat.CompareAndSwap(tat, base+l.interval(units)) {
			return true
		}
	}
}

// Charge adds units already spent (a reply's bytes, known only after the
// command ran); it may put the bucket in debt, which later requests wait out.
func (l *Limiter) Charge(now, units int64) {
	d := l.interval(units)
	if d == 0 {
		return
	}
	for {
		tat := l.tat.Load()
		if l.tat.CompareAndSwap(tat, max(tat, now)+d) {
			return
		}
	}
}

// Flow is a namespace's flow limits; a nil *Flow (the usual case) limits
// nothing. It is immutable once published: new limits get a new Flow.
type Flow struct {
	MaxOps, MaxBytes int64    // per second; 0: no limit of that kind
	Ops, Bytes       *Limiter // nil when the matching limit is 0
	// The error replies, made once so a refusal does not allocate.
	OpsErr, BytesErr string
}

// NewFlow returns the flow limits of namespace id, nil when both are 0.
func NewFlow(id uint16, maxOps, maxBytes int64) *Flow {
	if maxOps <= 0 && maxBytes <= 0 {
		return nil
	}
	f := &Flow{MaxOps: max(maxOps, 0), MaxBytes: max(maxBytes, 0)}
	prefix := "THROTTLED namespace " + strconv.Itoa(int(id)) + " is over its flow limit ("
	if f.MaxOps > 0 {
		f.Ops = NewLimiter(f.MaxOps)
		f.OpsErr = prefix + strconv.FormatInt(f.MaxOps, 10) + " ops/s)"
	}
	if f.MaxBytes > 0 {
		f.Bytes = NewLimiter(f.MaxBytes)
		f.BytesErr = prefix + strconv.FormatInt(f.MaxBytes, 10) + " bytes/s)"
	}
	return f
}

// Max returns the limits per second (0: none); a nil Flow has none.
func (f *Flow) Max() (ops, bytes int64) {
	if f == nil {
		return 0, 0
	}
	return f.MaxOps, f.MaxBytes
}

// Admit checks a request of reqBytes at now (ns) against both limits and
// charges it. It returns "" when the request may run, else the error reply.
// A request the ops limit admits and the bytes limit refuses keeps its
// operation charged: one op of a limit that is not the one running out.
func (f *Flow) Admit(now, reqBytes int64) string {
	if f.Ops != nil && !f.Ops.Allow(now, 1) {
		return f.OpsErr
	}
	if f.Bytes != nil && !f.Bytes.Allow(now, reqBytes) {
		return f.BytesErr
	}
	return ""
}

// Limits returns the namespace's flow limits (nil: none). It is the one
// atomic load the command path pays for flow control.
func (ns *Namespace) Limits() *Flow { return ns.flow.Load() }

// SetLimits sets the namespace's flow limits per second (0: none). Unchanged
// limits keep their state, so a heartbeat repeating them refills nothing.
func (ns *Namespace) SetLimits(maxOps, maxBytes int64) {
	maxOps, maxBytes = max(maxOps, 0), max(maxBytes, 0)
	if cur := ns.flow.Load(); cur != nil {
		if cur.MaxOps == maxOps && cur.MaxBytes == maxBytes {
			return
		}
	} else if maxOps == 0 && maxBytes == 0 {
		return
	}
	ns.flow.Store(NewFlow(ns.ID, maxOps, maxBytes))
}
