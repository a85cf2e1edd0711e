package disk

import (
	"fmt"

	"github.com/cockroachdb/pebble/v2"
)

// Metadata for the replication layer lives under 'm' keys in the same DB and
// WAL as the data, so a metadata write is never recovered without the writes
// committed before it.

// SetMeta stores a metadata value. With sync it is on stable storage when
// SetMeta returns; without, it is committed without waiting for the disk
// (whatever the store's policy) and becomes durable with the next synced
// write or WAL sync.
func (s *Store) SetMeta(key, value []byte, sync bool) error {
	if s.closed.Load() {
		return ErrClosed
	}
	wo := pebble.NoSync
	if sync {
		wo = pebble.Sync
	}
	bt := s.db.NewBatch()
	bt.Set(metaKey(key), value, nil)
	if err := s.write(bt, wo); err != nil {
		return fmt.Errorf("disk: set meta: %w", err)
	}
	return nil
}

// Meta returns a copy of a metadata value.
func (s *Store) Meta(key []byte) ([]byte, bool, error) {
	if s.closed.Load() {
		return nil, false, ErrClosed
	}
	v, c, found, err := s.get(metaKey(key))
	if err != nil {
		return nil, false, fmt.Errorf("disk: meta: %w", err)
	}
	if !found {
		return nil, false, nil
	}
	out := append([]byte{}, v...)
	c.Close()
	return out, true, nil
}

// DeleteMeta deletes a metadata value, with the store's sync policy.
func (s *Store) DeleteMeta(key []byte) error { return s.deleteMeta(key, s.wo) }

func (s *Store) deleteMeta(key []byte, wo *pebble.WriteOptions) error {
	if s.closed.Load() {
		return ErrClosed
	}
	bt := s.db.NewBatch()
	bt.Delete(metaKey(key), nil)
	if err := s.write(bt, wo); err != nil {
		return fmt.Errorf("disk: delete meta: %w", err)
	}
	return nil
}

// ScanMeta calls fn, in key order, for every metadata key starting with
// prefix, until fn returns false. The slices are valid only during fn.
func (s *Store) ScanMeta(prefix []byte, fn func(key, value []byte) bool) error {
	if s.closed.Load() {
		return ErrClosed
	}
	lo := metaKey(prefix)
	it, err := s.newIter(&pebble.IterOptions{LowerBound: lo, UpperBound: prefixEnd(lo)})
	if err != nil {
		return fmt.Errorf("disk: scan meta: %w", err)
	}
	for valid := it.First(); valid; valid = it.Next() {
		v, err := it.ValueAndErr()
		if err != nil {
			it.Close()
			return fmt.Errorf("disk: scan meta: %w", err)
		}
		k := it.Key()
		if !fn(k[1:len(k):len(k)], v) {
			break
		}
	}
	err = it.Error()
	if cerr := it.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("disk: scan meta: %w", err)
	}
	return nil
}
