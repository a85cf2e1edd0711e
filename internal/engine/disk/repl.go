package disk

import (
	"fmt"
	"os"

	"github.com/cockroachdb/pebble/v2"
)

// What the replication layer needs of the store beyond the engine
// interface and the metadata: a stamp in every write batch
// (replication.Durable).

// Stamper returns the metadata key and value a write batch of bucket b,
// making records log records, must carry; nil for none.
type Stamper func(b uint16, records int) (key, value []byte)

// SetStamper installs fn; every Set, Update, UpdateMany and DropBucket batch
// then carries fn's stamp for each bucket it writes, with the number of
// items it puts or deletes in that bucket (1 for a drop). Set it before the
// first write.
func (s *Store) SetStamper(fn func(b uint16, records int) (key, value []byte)) {
	s.stamper = fn
}

// stamp adds bucket b's stamp to bt, if a stamper wants one.
func (s *Store) stamp(bt *pebble.Batch, b uint16, records int) {
	if s.stamper == nil || records == 0 {
		return
	}
	if k, v := s.stamper(b, records); k != nil {
		bt.Set(metaKey(k), v, nil)
	}
}

// ingestDir is where Ingest stages files: in the DB's directory, so pebble
// links them instead of copying.
func (s *Store) ingestDir() string {
	if s.dir != "" {
		return s.dir
	}
	return os.TempDir()
}

// bucketRecords counts the items one batch writes in one bucket.
type bucketRecords struct {
	b uint16
	n int
}

func countRecord(per []bucketRecords, b uint16) []bucketRecords {
	for i := range per {
		if per[i].b == b {
			per[i].n++
			return per
		}
	}
	return append(per, bucketRecords{b: b, n: 1})
}

// DeleteMetas deletes metadata keys in one batch; with sync it is on stable
// storage when DeleteMetas returns, else committed without waiting for the
// disk.
func (s *Store) DeleteMetas(keys [][]byte, sync bool) error {
	if s.closed.Load() {
		return ErrClosed
	}
	wo := pebble.NoSync
	if sync {
		wo = pebble.Sync
	}
	bt := s.db.NewBatch()
	for _, k := range keys {
		bt.Delete(metaKey(k), nil)
	}
	if err := s.write(bt, wo); err != nil {
		return fmt.Errorf("disk: delete meta: %w", err)
	}
	return nil
}
