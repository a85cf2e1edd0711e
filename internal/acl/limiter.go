package acl

import (
	"sync/atomic"
	"time"
)

// LogLimiter lets one log line through per interval and counts the lines it
// holds back, so that a password-guessing client cannot flood the log: the
// next line that passes reports how many were suppressed before it.
type LogLimiter struct {
	Every   time.Duration // 0: one second
	next    atomic.Int64  // Unix ns before which lines are held back
	dropped atomic.Int64
}

// Allow reports whether a line may be logged now and, if so, how many were
// held back since the last one.
func (l *LogLimiter) Allow(now time.Time) (bool, int64) {
	every := l.Every
	if every <= 0 {
		every = time.Second
	}
	t := now.UnixNano()
	next := l.next.Load()
	if t < next || !l.next.CompareAndSwap(next, t+int64(every)) {
		l.dropped.Add(1)
		return false, 0
	}
	return true, l.dropped.Swap(0)
}
