// Package namespace holds Tair's areas: numbered namespaces (0..65535), each
// with its own engine, quota and statistics.
package namespace

import (
	"sync"
	"sync/atomic"

	"granary/internal/engine"
)

// Max is the highest namespace number.
const Max = 65535

// Stats are a namespace's operation counters. Connections count locally and
// add their counts in batches (see Counts), so the hot path touches no shared
// cache line per command.
type Stats struct {
	Reads  atomic.Uint64
	Writes atomic.Uint64
	Others atomic.Uint64
	Hits   atomic.Uint64
	Misses atomic.Uint64
	// Throttled counts requests refused by the flow limits.
	Throttled atomic.Uint64
	// Batches counts batches of commands served (pipelined commands read
	// together, up to their replies' flush), BatchNanos their time. The
	// connection adds them once per batch, not per command.
	Batches    atomic.Uint64
	BatchNanos atomic.Uint64
}

// Counts is a connection's unflushed share of a namespace's Stats.
type Counts struct {
	Reads, Writes, Others, Hits, Misses, Throttled uint64
}

// Add moves c into s and clears c.
func (s *Stats) Add(c *Counts) {
	if c.Reads != 0 {
		s.Reads.Add(c.Reads)
	}
	if c.Writes != 0 {
		s.Writes.Add(c.Writes)
	}
	if c.Others != 0 {
		s.Others.Add(c.Others)
	}
	if c.Hits != 0 {
		s.Hits.Add(c.Hits)
	}
	if c.Misses != 0 {
		s.Misses.Add(c.Misses)
	}
	if c.Throttled != 0 {
		s.Throttled.Add(c.Throttled)
	}
	*c = Counts{}
}

// Namespace is one area.
type Namespace struct {
	ID     uint16
	Engine engine.Engine
	Stats  Stats
	// Async is set for namespaces whose writes are acknowledged after the
	// local apply (ack mode async). The default, sync, acknowledges them
	// once every replica has them.
	Async atomic.Bool
	flow  atomic.Pointer[Flow] // flow limits (flow.go); nil: none
}

// Factory creates the engine of a new namespace.
type Factory func(id uint16) engine.Engine

// Registry holds the namespaces of one data server. Lookup is lock-free.
type Registry struct {
	mu      sync.Mutex
	factory Factory
	init    func(*Namespace) // set up a new namespace before it is published
	byID    [Max + 1]atomic.Pointer[Namespace]
	list    atomicList // the existing namespaces, in id order: copied on creation
}

type atomicList struct{ p atomic.Pointer[[]*Namespace] }

func (a *atomicList) Load() []*Namespace {
	if p := a.p.Load(); p != nil {
		return *p
	}
	return nil
}

func (a *atomicList) Store(l []*Namespace) { a.p.Store(&l) }

// NewRegistry returns a registry that creates namespaces on first use with f.
func NewRegistry(f Factory) *Registry { return &Registry{factory: f} }

// OnCreate sets fn to run on every namespace created from now on, before
// any other goroutine sees it (e.g. to give it its flow limits).
func (r *Registry) OnCreate(fn func(*Namespace)) {
	r.mu.Lock()
	r.init = fn
	r.mu.Unlock()
}

// Get returns namespace id, creating it on first use.
func (r *Registry) Get(id uint16) *Namespace {
	if ns := r.byID[id].Load(); ns != nil {
		return ns
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if ns := r.byID[id].Load(); ns != nil {
		return ns
	}
	ns := &Namespace{ID: id, Engine: r.factory(id)}
	if r.init != nil {
		r.init(ns)
	}
	r.byID[id].Store(ns)
	list := append([]*Namespace(nil), r.list.Load()...)
	i := len(list)
	for i > 0 && list[i-1].ID > id {
		i--
	}
	list = append(list[:i], append([]*Namespace{ns}, list[i:]...)...)
	r.list.Store(list)
	return ns
}

// Lookup returns namespace id if it exists.
func (r *Registry) Lookup(id uint16) *Namespace { return r.byID[id].Load() }

// Each calls fn for every existing namespace in id order.
func (r *Registry) Each(fn func(*Namespace)) {
	for _, ns := range r.list.Load() {
		fn(ns)
	}
}

// List returns the existing namespaces in id order (do not modify).
func (r *Registry) List() []*Namespace { return r.list.Load() }

// Close closes every namespace's engine.
func (r *Registry) Close() {
	r.Each(func(ns *Namespace) { ns.Engine.Close() })
}
