// Package yield lets long loops in the background (installing a routing
// table, snapshotting or applying buckets) give way to the goroutines that
// serve clients, on a data server that runs on one core (--procs 1).
//
// With one P, runtime.Gosched does not let them in: it puts the caller on
// the global run queue, which the scheduler looks at before it polls the
// network, so a goroutine whose connection became readable waits for the
// runtime's background poll, up to 10 ms. A short sleep parks the caller
// instead: the scheduler finds nothing else to run and polls the network.
// Since that sleep lasts up to a millisecond when nothing else runs, a
// Budget yields only once its loop has run for Slice.
package yield

import (
	"runtime"
	"time"
)

// Slice is how long a loop runs between two yields: the longest a client
// waits for it.
const Slice = time.Millisecond

// Budget tracks one loop's time since it last yielded. The zero value is
// ready to use; it is not safe for concurrent use.
type Budget struct {
	since time.Time
}

// Check yields if the loop has run for Slice since it last yielded (or
// since its first Check).
func (b *Budget) Check() {
	now := time.Now()
	switch {
	case b.since.IsZero():
		b.since = now
	case now.Sub(b.since) >= Slice:
		if runtime.GOMAXPROCS(0) == 1 {
			time.Sleep(time.Microsecond)
		} else {
			runtime.Gosched() // other Ps poll the network
		}
		b.since = time.Now()
	}
}
