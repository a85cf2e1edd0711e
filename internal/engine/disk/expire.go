package disk

import (
	"bytes"
	"slices"
	"time"

	"github.com/cockroachdb/pebble/v2"
)

// The sweep reads the expiry-index keys due at now (expiry < now) from a
// cursor, in groups of sweepGroup: each group is checked under the write
// locks of its keys and committed in one batch (checkIndex). A round handles
// at most sweepBudget index keys; when it used all of them the next round
// follows after sweepBusyPause instead of SweepInterval, so a backlog drains
// at a bounded rate (about 2048 keys per 10 ms at most) and the server's
// requests keep most of the CPU.
//
// Rounds resume from where the previous one stopped, to avoid re-reading the
// tombstones of index keys just deleted; every fullSweepEvery rounds a round
// starts from the beginning, for index keys written with an expiry already
// behind the cursor.
const (
	sweepGroup     = 128
	sweepBudget    = 2048
	sweepBusyPause = 10 * time.Millisecond
	fullSweepEvery = 64
)

// idxEntry is an expiry-index key to check.
type idxEntry struct {
	ek  []byte // the index key
	idx uint64 // the expiry it records
	dk  []byte // the item's data key; nil if ek is malformed
}

func (s *Store) sweepLoop() {
	t := time.NewTimer(s.sweepIv)
	defer t.Stop()
	for {
		select {
		case <-s.stop:
			return
		case <-t.C:
			if s.sweep(time.Now().UnixMilli(), sweepBudget) >= sweepBudget {
				t.Reset(sweepBusyPause)
			} else {
				t.Reset(s.sweepIv)
			}
		}
	}
}

// sweep runs one round and returns the number of index keys it handled.
func (s *Store) sweep(now int64, budget int) int {
	lo := s.sweepCursor
	if lo == nil || s.sweepRounds%fullSweepEvery == 0 {
		lo = []byte{prefixExp}
	}
	s.sweepRounds++
	hi := expUpper(now)
	if bytes.Compare(lo, hi) >= 0 {
		return 0
	}
	it, err := s.newIter(&pebble.IterOptions{LowerBound: lo, UpperBound: hi})
	if err != nil {
		s.log.Error("sweep failed", "err", err)
		return 0
	}
	defer it.Close()
	n := 0
	group := make([]idxEntry, 0, sweepGroup)
	for valid := it.First(); valid && n < budget; valid = it.Next() {
		ek := slices.Clone(it.Key())
		idx, dk, ok := parseExpKey(nil, ek)
		if !ok {
			dk = nil
		}
		group = append(group, idxEntry{ek: ek, idx: idx, dk: dk})
		n++
		if len(group) == cap(group) {
			s.checkIndex(group, now)
			s.sweepCursor = group[len(group)-1].ek
			group = group[:0]
			if s.stopping() {
				return n
			}
		}
	}
	if err := it.Error(); err != nil {
		s.log.Error("sweep failed", "err", err)
	}
	if len(group) > 0 {
		s.checkIndex(group, now)
		s.sweepCursor = group[len(group)-1].ek
	}
	return n
}

// checkIndex checks index entries under the write locks of their items and
// commits the outcome in one batch: an entry recording the item's current
// expiry stays while the item is alive at now; an expired item goes with its
// entry (an expiration); any other entry points nowhere and is deleted.
// Nothing here needs a sync (see doc.go).
func (s *Store) checkIndex(group []idxEntry, now int64) {
	if len(group) == 0 {
		return
	}
	order := make([]int, 0, len(group))
	for i := range group {
		order = append(order, s.entryStripe(&group[i]))
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

	type change struct {
		ns, b uint16
		dk    []byte
		d     delta
	}
	var changes []change
	kb := getKeyBuf()
	defer putKeyBuf(kb)
	bt := s.db.NewBatch()
	for i := range group {
		en := &group[i]
		if en.dk != nil {
			sl, _, _, err := s.readSlot(en.dk, false)
			if err != nil {
				s.log.Error("sweep: read failed", "err", err)
				continue
			}
			if sl.ok && sl.h.exp != 0 && expIndex(sl.h.exp) == en.idx {
				if expired(sl.h.exp, now) {
					ns, b, _, _ := parseDataKey(en.dk)
					changes = append(changes, change{ns, b & bucketMask, en.dk, stageDelete(bt, kb, en.dk, &sl, now)})
				}
				continue
			}
		}
		bt.Delete(en.ek, nil)
	}
	if bt.Empty() {
		bt.Close()
		return
	}
	err := s.write(bt, pebble.NoSync)
	if s.rows != nil {
		for _, c := range changes {
			s.rows.del(c.b, c.dk, now)
		}
	}
	for _, si := range order {
		s.stripes[si].seq.Add(1)
	}
	if err != nil {
		s.log.Error("sweep: commit failed", "err", err)
		return
	}
	for _, c := range changes {
		s.engine(c.ns).apply(c.b, c.d)
	}
}

func (s *Store) entryStripe(en *idxEntry) int {
	ns, b, key, ok := parseDataKey(en.dk)
	if !ok {
		return 0
	}
	return stripeIndex(ns, b&bucketMask, key)
}
