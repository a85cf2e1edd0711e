package server

import (
	"granary/internal/command"
	"granary/internal/engine"
	"granary/internal/resp"
	"granary/internal/routing"
)

// pipelinePrefetch has an engine start loading what the keys of a
// pipeline's buffered commands will touch before they run (engine.Prefetcher),
// so that their lookups overlap their waits for memory.
type pipelinePrefetch struct {
	first   [][]byte // a copy of the command already read (see run)
	keys    [][]byte
	buckets []uint16
}

// run prefetches for first (a command already read, or nil) and the
// commands buffered in r after it, when they have several keys. Peeking
// reuses the reader's argument slice, so run returns the arguments of first
// from a copy of their own, which stay valid until the next run.
func (p *pipelinePrefetch) run(r *resp.Reader, pf engine.Prefetcher, first [][]byte) [][]byte {
	p.keys, p.buckets = p.keys[:0], p.buckets[:0]
	if first != nil {
		p.first = append(p.first[:0], first...)
		first = p.first
		p.add(first)
	}
	r.Peek(engine.PrefetchKeys-len(p.keys), p.add)
	if len(p.keys) > 1 {
		pf.Prefetch(p.buckets, p.keys)
	}
	clear(p.keys) // they point into the reader's buffer
	return first
}

// add takes the key of a command that names its key first.
func (p *pipelinePrefetch) add(args [][]byte) {
	if len(args) < 2 {
		return
	}
	if sp := command.Lookup(args[0]); sp != nil && sp.FirstKey == 1 {
		p.keys = append(p.keys, args[1])
		p.buckets = append(p.buckets, routing.Bucket(args[1]))
	}
}
