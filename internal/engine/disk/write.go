package disk

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"slices"

	"github.com/cockroachdb/pebble/v2"

	"granary/internal/engine"
)

var errArgs = errors.New("disk: UpdateMany needs one bucket per key")

// slot is what a writer knows about the item stored under a data key.
type slot struct {
	exists bool // a data key is stored (possibly expired or corrupt)
	ok     bool // and its value decoded into h
	h      header
	size   int64 // len(data key) + len(value)
}

// readSlot reads the item under dk. With keep, v stays valid until the
// returned closer (non-nil when found) is closed; without, v is nil.
func (s *Store) readSlot(dk []byte, keep bool) (sl slot, v []byte, c io.Closer, err error) {
	v, c, found, err := s.get(dk)
	if err != nil {
		return sl, nil, nil, fmt.Errorf("disk: read: %w", err)
	}
	if !found {
		return sl, nil, nil, nil
	}
	sl.exists = true
	sl.size = int64(len(dk) + len(v))
	if sl.h, sl.ok = decodeHeader(v); !sl.ok {
		s.corrupt(dk)
	}
	if !keep {
		c.Close()
		return sl, nil, nil, nil
	}
	return sl, v, c, nil
}

// live reports whether the slot holds an item visible at now.
func (sl *slot) live(now int64) bool { return sl.ok && !expired(sl.h.exp, now) }

// stagePut adds the writes storing an item under dk to bt and moves sl to the
// new state. val may alias memory that stays valid until bt is committed.
func stagePut(bt *pebble.Batch, kb *keyBuf, dk []byte, sl *slot, typ engine.Type, ver uint64, exp int64, val []byte, now int64) delta {
	var d delta
	if sl.ok && expired(sl.h.exp, now) {
		d.expired = 1
	}
	vlen := valueLen(ver, exp, len(val))
	op := bt.SetDeferred(len(dk), vlen)
	copy(op.Key, dk)
	appendValue(op.Value[:0], typ, ver, exp, val)
	op.Finish()
	if sl.ok && sl.h.exp != 0 && (exp == 0 || expIndex(exp) != expIndex(sl.h.exp)) {
		kb.ek = expKeyOfData(kb.ek[:0], sl.h.exp, dk)
		bt.Delete(kb.ek, nil)
	}
	if exp != 0 {
		// Written even when unchanged: it costs a key and repairs an index
		// entry missing from an ingested file.
		kb.ek = expKeyOfData(kb.ek[:0], exp, dk)
		bt.Set(kb.ek, nil, nil)
		d.exp++
	}
	if sl.ok && sl.h.exp != 0 {
		d.exp--
	}
	size := int64(len(dk) + vlen)
	if !sl.exists {
		d.items = 1
	}
	d.bytes = size - sl.size
	*sl = slot{exists: true, ok: true, h: header{typ: typ, ver: ver, exp: exp}, size: size}
	return d
}

// stageDelete adds the writes deleting the item under dk (which exists) to bt
// and empties sl.
func stageDelete(bt *pebble.Batch, kb *keyBuf, dk []byte, sl *slot, now int64) delta {
	d := delta{items: -1, bytes: -sl.size}
	bt.Delete(dk, nil)
	if sl.ok && sl.h.exp != 0 {
		if expired(sl.h.exp, now) {
			d.expired = 1
		}
		kb.ek = expKeyOfData(kb.ek[:0], sl.h.exp, dk)
		bt.Delete(kb.ek, nil)
		d.exp = -1
	}
	*sl = slot{}
	return d
}

// Set implements engine.Engine: one read (the old version and expiry) and
// one batch commit.
func (e *Engine) Set(bucket uint16, key []byte, item engine.Item, now int64) (uint64, error) {
	s := e.s
	if err := s.checkItem(item.Type, len(key), len(item.Value)); err != nil {
		return 0, err
	}
	b := bucket & bucketMask
	kb := getKeyBuf()
	defer putKeyBuf(kb)
	kb.dk = appendDataKey(kb.dk[:0], e.ns, b, key)
	st := &s.stripes[stripeIndex(e.ns, b, key)]
	st.Lock()
	defer st.Unlock()
	if s.closed.Load() {
		return 0, ErrClosed
	}
	sl, val, hit := e.cachedSlot(b, kb.dk, now, kb.val)
	kb.val = val[:0]
	if !hit {
		var err error
		if sl, _, _, err = s.readSlot(kb.dk, false); err != nil {
			return 0, err
		}
	}
	ver := item.Version
	if ver == 0 {
		ver = 1
		if sl.live(now) {
			ver = sl.h.ver + 1
		}
	}
	bt := s.db.NewBatch()
	d := stagePut(bt, kb, kb.dk, &sl, item.Type, ver, item.Expire, item.Value, now)
	s.stamp(bt, b, 1)
	err := s.write(bt, s.wo)
	s.cacheOutcome(b, kb.dk, true, engine.Item{Type: item.Type, Version: ver, Expire: item.Expire, Value: item.Value}, now, err)
	st.seq.Add(1)
	if err != nil {
		return 0, err
	}
	e.apply(b, d)
	return ver, nil
}

// Update implements engine.Engine. cur.Value points into pebble's memory,
// valid until fn returns (and, for next.Value aliasing it, until stored).
func (e *Engine) Update(bucket uint16, key []byte, now int64, fn func(cur *engine.Item) (engine.Item, engine.Op)) error {
	s := e.s
	b := bucket & bucketMask
	kb := getKeyBuf()
	defer putKeyBuf(kb)
	kb.dk = appendDataKey(kb.dk[:0], e.ns, b, key)
	st := &s.stripes[stripeIndex(e.ns, b, key)]
	st.Lock()
	defer st.Unlock()
	if s.closed.Load() {
		return ErrClosed
	}
	sl, v, hit := e.cachedSlot(b, kb.dk, now, kb.val)
	kb.val = v[:0]
	if !hit {
		var c io.Closer
		var err error
		if sl, v, c, err = s.readSlot(kb.dk, true); err != nil {
			return err
		}
		if c != nil {
			defer c.Close()
		}
	}
	var cur *engine.Item
	var item engine.Item
	if sl.live(now) {
		item = sl.h.item(v)
		cur = &item
	}
	next, op := fn(cur)
	var d delta
	bt := s.db.NewBatch()
	switch op {
	case engine.OpPut:
		if err := s.checkItem(next.Type, len(key), len(next.Value)); err != nil {
			bt.Close()
			return err
		}
		d = stagePut(bt, kb, kb.dk, &sl, next.Type, next.Version, next.Expire, next.Value, now)
	case engine.OpDelete:
		if !sl.exists {
			bt.Close()
			return nil
		}
		d = stageDelete(bt, kb, kb.dk, &sl, now)
	default:
		// An expired item stays for the sweep: OpKeep commits nothing.
		bt.Close()
		return nil
	}
	s.stamp(bt, b, 1)
	err := s.write(bt, s.wo)
	s.cacheOutcome(b, kb.dk, op == engine.OpPut, next, now, err)
	st.seq.Add(1)
	if err != nil {
		return err
	}
	e.apply(b, d)
	return nil
}

// UpdateMany implements engine.Engine. The write locks of all keys are taken
// in ascending order (so concurrent calls cannot deadlock) and the outcomes
// are committed in one batch, in key order: all of them or, on an error,
// none.
func (e *Engine) UpdateMany(buckets []uint16, keys [][]byte, now int64, fn func(cur []*engine.Item, next []engine.Item, ops []engine.Op)) error {
	n := len(keys)
	if len(buckets) != n {
		return errArgs
	}
	s := e.s
	size := 0
	for _, k := range keys {
		size += dataHdr + len(k)
	}
	arena := make([]byte, 0, size)
	dks := make([][]byte, n)
	bs := make([]uint16, n)
	order := make([]int, n)
	for i, k := range keys {
		bs[i] = buckets[i] & bucketMask
		start := len(arena)
		arena = appendDataKey(arena, e.ns, bs[i], k)
		dks[i] = arena[start:len(arena):len(arena)]
		order[i] = stripeIndex(e.ns, bs[i], k)
	}
	slices.Sort(order)
	order = slices.Compact(order)
	for _, si := range order {
		s.stripes[si].Lock()
	}
	defer func() {
		for _, si := range order {
			s.stripes[si].Unlock()
		}
	}()
	if s.closed.Load() {
		return ErrClosed
	}

	first := firstOccurrence(dks)
	slots := make([]slot, n)
	vals := make([][]byte, n)
	var closers []io.Closer
	defer func() {
		for _, c := range closers {
			c.Close()
		}
	}()
	for i := range dks {
		if first[i] != i {
			continue
		}
		if sl, v, hit := e.cachedSlot(bs[i], dks[i], now, nil); hit {
			slots[i], vals[i] = sl, v
			continue
		}
		sl, v, c, err := s.readSlot(dks[i], true)
		if err != nil {
			return err
		}
		if c != nil {
			closers = append(closers, c)
		}
		slots[i], vals[i] = sl, v
	}
	items := make([]engine.Item, n)
	cur := make([]*engine.Item, n)
	for i := range dks {
		if u := first[i]; slots[u].live(now) {
			items[i] = slots[u].h.item(vals[u])
			cur[i] = &items[i]
		}
	}
	next := make([]engine.Item, n)
	ops := make([]engine.Op, n)
	fn(cur, next, ops)

	for i, op := range ops {
		if op == engine.OpPut {
			if err := s.checkItem(next[i].Type, len(keys[i]), len(next[i].Value)); err != nil {
				return err
			}
		}
	}
	kb := getKeyBuf()
	defer putKeyBuf(kb)
	bt := s.db.NewBatch()
	ds := make([]delta, n)
	var staged [1]bucketRecords
	per := staged[:0] // items put or deleted per bucket, for the stamps
	for i, op := range ops {
		sl := &slots[first[i]]
		switch op {
		case engine.OpPut:
			nx := &next[i]
			ds[i] = stagePut(bt, kb, dks[i], sl, nx.Type, nx.Version, nx.Expire, nx.Value, now)
			per = countRecord(per, bs[i])
		case engine.OpDelete:
			if sl.exists {
				ds[i] = stageDelete(bt, kb, dks[i], sl, now)
				per = countRecord(per, bs[i])
			}
		}
	}
	if bt.Empty() {
		bt.Close()
		return nil
	}
	for _, r := range per {
		s.stamp(bt, r.b, r.n)
	}
	err := s.write(bt, s.wo)
	if s.rows != nil {
		for i, op := range ops { // in index order: a later duplicate wins
			if op != engine.OpKeep {
				s.cacheOutcome(bs[i], dks[i], op == engine.OpPut, next[i], now, err)
			}
		}
	}
	for _, si := range order {
		s.stripes[si].seq.Add(1)
	}
	if err != nil {
		return err
	}
	for i := range ds {
		if ds[i] != (delta{}) {
			e.apply(bs[i], ds[i])
		}
	}
	return nil
}

// firstOccurrence maps every index to the first index holding the same key.
func firstOccurrence(dks [][]byte) []int {
	first := make([]int, len(dks))
	if len(dks) <= 16 {
		for i := range dks {
			first[i] = i
			for j := 0; j < i; j++ {
				if bytes.Equal(dks[j], dks[i]) {
					first[i] = j
					break
				}
			}
		}
		return first
	}
	seen := make(map[string]int, len(dks))
	for i, k := range dks {
		if j, ok := seen[string(k)]; ok {
			first[i] = j
		} else {
			seen[string(k)] = i
			first[i] = i
		}
	}
	return first
}
