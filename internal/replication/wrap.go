package replication

import (
	"errors"
	"slices"

	"granary/internal/engine"
)

// Engine wraps a namespace's engine on a replicated data server: every write
// takes its bucket's lock, is applied, and is logged with the bucket's next
// LSN under the same lock, so LSN order is apply order. Reads go straight
// through.
type Engine struct {
	engine.Engine
	ns      uint16
	r       *Replicator
	durable bool // the engine's data survives a restart (see Durable)
}

var errNoIngest = errors.New("ERR the namespace's engine does not take files (bulk import needs the disk engine)")

// Wrap returns e with its writes logged for replication as namespace ns.
func (r *Replicator) Wrap(e engine.Engine, ns uint16) *Engine {
	return &Engine{Engine: e, ns: ns, r: r, durable: isPersistent(e)}
}

// begin prepares a logged write of bucket b, under its lock: a persistent
// engine stamps its batch with the entry the write ends at; an in-memory
// one marks the bucket as holding data a restart loses.
func (e *Engine) begin(b uint16, bs *bucketState) {
	if e.durable {
		bs.stampTerm.Store(e.r.cur.Load().lead[b])
	} else {
		bs.mem = true
	}
}

// end closes what begin opened.
func end(bs *bucketState) { bs.stampTerm.Store(0) }

// Inner returns the wrapped engine.
func (e *Engine) Inner() engine.Engine { return e.Engine }

// Set implements engine.Engine.
func (e *Engine) Set(bucket uint16, key []byte, item engine.Item, now int64) (uint64, error) {
	bs := &e.r.b[bucket]
	bs.mu.Lock()
	e.begin(bucket, bs)
	v, err := e.Engine.Set(bucket, key, item, now)
	end(bs)
	if err == nil {
		item.Version = v
		e.r.logLocked(bs, &record{kind: recPut, ns: e.ns, bucket: bucket, key: key, item: item})
	}
	bs.mu.Unlock()
	return v, err
}

// Update implements engine.Engine.
func (e *Engine) Update(bucket uint16, key []byte, now int64, fn func(cur *engine.Item) (engine.Item, engine.Op)) error {
	bs := &e.r.b[bucket]
	var next engine.Item
	var op engine.Op
	bs.mu.Lock()
	e.begin(bucket, bs)
	err := e.Engine.Update(bucket, key, now, func(cur *engine.Item) (engine.Item, engine.Op) {
		n, o := fn(cur)
		next, op = n, o
		if o == engine.OpPut {
			// n.Value may alias the old item's memory, which the engine
			// may reuse once it lets go of its lock: log a copy.
			bs.scratch = append(bs.scratch[:0], n.Value...)
			next.Value = bs.scratch
		}
		return n, o
	})
	if err == nil {
		switch op {
		case engine.OpPut:
			e.r.logLocked(bs, &record{kind: recPut, ns: e.ns, bucket: bucket, key: key, item: next})
		case engine.OpDelete:
			e.r.logLocked(bs, &record{kind: recDel, ns: e.ns, bucket: bucket, key: key})
		}
	}
	if cap(bs.scratch) > scratchKeep {
		bs.scratch = nil
	}
	end(bs)
	bs.mu.Unlock()
	return err
}

// scratchKeep is the largest per-bucket copy buffer kept between writes.
const scratchKeep = 16 << 10

// UpdateMany implements engine.Engine. The buckets involved are locked in
// order (a cluster's multi-key commands touch one bucket).
func (e *Engine) UpdateMany(buckets []uint16, keys [][]byte, now int64, fn func(cur []*engine.Item, next []engine.Item, ops []engine.Op)) error {
	var one [1]uint16
	locked := e.r.lockBuckets(one[:0], buckets)
	for _, b := range locked {
		e.begin(b, &e.r.b[b])
	}
	var nexts []engine.Item
	var ops []engine.Op
	err := e.Engine.UpdateMany(buckets, keys, now, func(cur []*engine.Item, next []engine.Item, o []engine.Op) {
		fn(cur, next, o)
		// Copies, as in Update: the values may alias engine memory.
		nexts, ops = slices.Clone(next), slices.Clone(o)
		for i := range nexts {
			if ops[i] == engine.OpPut {
				nexts[i].Value = slices.Clone(nexts[i].Value)
			}
		}
	})
	if err == nil {
		for i, op := range ops {
			b := buckets[i]
			switch op {
			case engine.OpPut:
				e.r.logLocked(&e.r.b[b], &record{kind: recPut, ns: e.ns, bucket: b, key: keys[i], item: nexts[i]})
			case engine.OpDelete:
				e.r.logLocked(&e.r.b[b], &record{kind: recDel, ns: e.ns, bucket: b, key: keys[i]})
			}
		}
	}
	for _, b := range locked {
		end(&e.r.b[b])
	}
	e.r.unlockBuckets(locked)
	return err
}

// DropBucket implements engine.Engine: the drop is replicated.
func (e *Engine) DropBucket(bucket uint16) {
	bs := &e.r.b[bucket]
	bs.mu.Lock()
	e.begin(bucket, bs)
	e.Engine.DropBucket(bucket)
	end(bs)
	e.r.logLocked(bs, &record{kind: recDrop, ns: e.ns, bucket: bucket})
	bs.mu.Unlock()
}

// Ingest implements engine.Ingester: the files are added under their
// buckets' locks, each logged as one record carrying the file, so the
// secondaries add the same items at the same place in the history.
func (e *Engine) Ingest(buckets []uint16, files [][]byte) error {
	in, ok := e.Engine.(engine.Ingester)
	if !ok {
		return errNoIngest
	}
	locked := e.r.lockBuckets(nil, buckets)
	e.r.forgetStamps(locked)
	err := in.Ingest(buckets, files)
	if err == nil {
		for i, b := range buckets {
			e.r.logLocked(&e.r.b[b], &record{kind: recIngest, ns: e.ns, bucket: b, item: engine.Item{Value: files[i]}})
		}
		e.r.saveIngested(buckets)
	}
	e.r.unlockBuckets(locked)
	return err
}

// lockBuckets locks the distinct buckets of buckets in ascending order (so
// that writers of several buckets cannot deadlock), appending them to dst,
// and returns them for unlockBuckets.
func (r *Replicator) lockBuckets(dst, buckets []uint16) []uint16 {
	for _, b := range buckets {
		if !slices.Contains(dst, b) {
			dst = append(dst, b)
		}
	}
	slices.Sort(dst)
	for _, b := range dst {
		r.b[b].mu.Lock()
	}
	return dst
}

func (r *Replicator) unlockBuckets(locked []uint16) {
	for _, b := range locked {
		r.b[b].mu.Unlock()
	}
}
