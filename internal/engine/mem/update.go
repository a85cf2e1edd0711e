package mem

import (
	"bytes"
	"errors"
	"slices"
	"unsafe"

	"github.com/cespare/xxhash/v2"

	"granary/internal/engine"
)

var errArgs = errors.New("mem: UpdateMany needs one bucket per key")

// Update implements engine.Engine.
func (e *Engine) Update(bucket uint16, key []byte, now int64, fn func(cur *engine.Item) (engine.Item, engine.Op)) error {
	s, lb := e.locate(bucket)
	tag := tagOf(xxhash.Sum64(key))
	s.mu.Lock()
	defer s.mu.Unlock()
	slot, buf, h := s.lookup(&s.buckets[lb], key, tag, now)
	var cur *engine.Item
	var span []byte
	if slot >= 0 {
		setLRU(buf, h.off, s.tick())
		s.cur = h.item(buf)
		cur, span = &s.cur, buf[h.off:h.off+h.size]
	}
	next, op := fn(cur)
	if op == engine.OpPut && cur != nil && overlaps(next.Value, span) {
		// fn passed back (part of) the stored value. Unless it is rewritten
		// exactly where it lies, storing it could move it under our feet.
		same := unsafe.SliceData(next.Value) == unsafe.SliceData(cur.Value) && len(next.Value) == len(cur.Value)
		if !same || itemSize(len(key), len(next.Value), next.Version, next.Expire) != h.size {
			next.Value = bytes.Clone(next.Value)
		}
	}
	return s.apply(lb, slot, key, tag, &next, op)
}

// apply carries out an Update outcome; slot is the key's current slot or -1.
func (s *shard) apply(lb, slot int, key []byte, tag uint64, next *engine.Item, op engine.Op) error {
	switch op {
	case engine.OpPut:
		if err := checkType(next.Type); err != nil {
			return err
		}
		return s.put(lb, slot, key, tag, next.Type, next.Version, next.Expire, next.Value)
	case engine.OpDelete:
		if slot >= 0 {
			s.removeSlot(&s.buckets[lb], slot)
		}
	}
	return nil
}

// UpdateMany implements engine.Engine. The shards involved are locked in
// ascending order, so concurrent calls cannot deadlock. Outcomes are applied
// in key order; if storing one fails (ErrOOM), the earlier ones stay applied
// and the error is returned. A batch whose new items alone exceed the quota
// is rejected before anything is applied.
func (e *Engine) UpdateMany(buckets []uint16, keys [][]byte, now int64, fn func(cur []*engine.Item, next []engine.Item, ops []engine.Op)) error {
	n := len(keys)
	if len(buckets) != n {
		return errArgs
	}
	order := make([]int, n)
	tags := make([]uint64, n)
	for i := range keys {
		order[i] = int(buckets[i] & (NumBuckets - 1) & e.mask)
		tags[i] = tagOf(xxhash.Sum64(keys[i]))
	}
	slices.Sort(order)
	order = slices.Compact(order)
	for _, si := range order {
		e.shards[si].mu.Lock()
	}
	defer func() {
		for _, si := range order {
			e.shards[si].mu.Unlock()
		}
	}()

	cur := make([]*engine.Item, n)
	items := make([]engine.Item, n)
	spans := make([][]byte, n)
	for i, key := range keys {
		s, lb := e.locate(buckets[i])
		slot, buf, h := s.lookup(&s.buckets[lb], key, tags[i], now)
		if slot >= 0 {
			setLRU(buf, h.off, s.tick())
			items[i] = h.item(buf)
			cur[i], spans[i] = &items[i], buf[h.off:h.off+h.size]
		}
	}
	next := make([]engine.Item, n)
	ops := make([]engine.Op, n)
	fn(cur, next, ops)

	var total int64
	for i := range next {
		if ops[i] != engine.OpPut {
			continue
		}
		total += int64(itemSize(len(keys[i]), len(next[i].Value), next[i].Version, next[i].Expire))
		// Values fn passed back from cur would be overwritten by compaction
		// while earlier outcomes are stored: copy them out first.
		for _, sp := range spans {
			if overlaps(next[i].Value, sp) {
				next[i].Value = bytes.Clone(next[i].Value)
				break
			}
		}
	}
	if q := e.quota.Load(); q > 0 && total > q {
		return engine.ErrOOM
	}
	for i, key := range keys {
		if ops[i] == engine.OpKeep {
			continue
		}
		s, lb := e.locate(buckets[i])
		slot := s.find(&s.buckets[lb], key, tags[i])
		if err := s.apply(lb, slot, key, tags[i], &next[i], ops[i]); err != nil {
			return err
		}
	}
	return nil
}

// overlaps reports whether a and b share memory.
func overlaps(a, b []byte) bool {
	if len(a) == 0 || len(b) == 0 {
		return false
	}
	pa := uintptr(unsafe.Pointer(unsafe.SliceData(a)))
	pb := uintptr(unsafe.Pointer(unsafe.SliceData(b)))
	return pa < pb+uintptr(len(b)) && pb < pa+uintptr(len(a))
}
