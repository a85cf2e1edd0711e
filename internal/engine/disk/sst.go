package disk

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"slices"

	"github.com/cockroachdb/pebble/v2"
	"github.com/cockroachdb/pebble/v2/objstorage/objstorageprovider"
	"github.com/cockroachdb/pebble/v2/sstable"
	"github.com/cockroachdb/pebble/v2/vfs"
)

// Store.Ingest takes SST files written in the store's format (the
// bucket files of an import are rewritten into one by Engine.Ingest).

// createTable creates an SST writer at path.
func createTable(path string, o sstable.WriterOptions) (*sstable.Writer, error) {
	f, err := vfs.Default.Create(path, vfs.WriteCategoryUnspecified)
	if err != nil {
		return nil, fmt.Errorf("disk: create %s: %w", path, err)
	}
	return sstable.NewWriter(objstorageprovider.NewFileWritable(f), o), nil
}

// sstInfo is what Ingest needs to know about a file.
type sstInfo struct {
	path              string
	smallest, largest []byte
	hasData           bool
	dlo, dhi          uint32 // first and last bucket (pos) of its data keys
}

func overlaps(a, b *sstInfo) bool {
	return bytes.Compare(a.largest, b.smallest) >= 0 && bytes.Compare(b.largest, a.smallest) >= 0
}

// readInfo reads a file's key bounds.
func (s *Store) readInfo(path string) (sstInfo, error) {
	info := sstInfo{path: path}
	f, err := vfs.Default.Open(path)
	if err != nil {
		return info, fmt.Errorf("disk: ingest: %w", err)
	}
	it, err := pebble.NewExternalIter(s.popts, &pebble.IterOptions{}, [][]sstable.ReadableFile{{f}})
	if err != nil {
		return info, fmt.Errorf("disk: ingest: read %s: %w", path, err)
	}
	defer it.Close()
	if !it.First() {
		return info, fmt.Errorf("disk: ingest: %s holds no key (%v)", path, it.Error())
	}
	info.smallest = slices.Clone(it.Key())
	it.Last()
	info.largest = slices.Clone(it.Key())
	if it.SeekGE([]byte{prefixData}) && it.Key()[0] == prefixData {
		info.hasData = true
		info.dlo = 0
		if ns, b, _, ok := parseDataKey(it.Key()); ok {
			info.dlo = pos(ns, min(b, bucketMask))
		}
		info.dhi = pos(0xffff, bucketMask)
		if it.SeekLT([]byte{prefixData + 1}) {
			if ns, b, _, ok := parseDataKey(it.Key()); ok {
				info.dhi = pos(ns, min(b, bucketMask))
			}
		}
	}
	if err := it.Error(); err != nil {
		return info, fmt.Errorf("disk: ingest: read %s: %w", path, err)
	}
	return info, nil
}

// Ingest links SST files into the DB: an item in a file replaces the stored
// one. Files are ingested in order; consecutive files that do not overlap go
// in one atomic step. The files are trusted: they must be written in this
// package's layout (Engine.Ingest checks a client's bucket files and
// rewrites them into one). On success the files are gone (moved into the
// DB).
//
// Ingest waits for the initial count pass, then holds every write lock while
// pebble ingests (writes wait; pebble may first flush the memtable), resets
// the counters of the buckets the files' data keys cover and recounts them
// from a view taken right after, before it returns. Old items replaced with
// a different expiry leave index keys behind, which the sweep deletes when
// they fall due.
func (s *Store) Ingest(paths []string) error { return s.ingest(paths, nil) }

// ingest is Ingest; only, when not nil, lists every position (see pos) the
// files hold data of, so that the recount reads just those buckets.
func (s *Store) ingest(paths []string, only []uint32) error {
	if len(paths) == 0 {
		return nil
	}
	s.ingestMu.Lock()
	defer s.ingestMu.Unlock()
	select {
	case <-s.ready:
	case <-s.stop:
		return ErrClosed
	}
	infos := make([]sstInfo, len(paths))
	var job *countJob
	for i, p := range paths {
		info, err := s.readInfo(p)
		if err != nil {
			return err
		}
		infos[i] = info
		if !info.hasData {
			continue
		}
		if job == nil {
			job = &countJob{lo: info.dlo, hi: info.dhi}
		}
		job.lo, job.hi = min(job.lo, info.dlo), max(job.hi, info.dhi)
	}
	if job != nil && only != nil {
		job.only = slices.Sorted(slices.Values(only))
	}
	var groups [][]string
	for i := range infos {
		start := len(groups) == 0
		if !start {
			for j := i - len(groups[len(groups)-1]); j < i; j++ {
				if overlaps(&infos[j], &infos[i]) {
					start = true
					break
				}
			}
		}
		if start {
			groups = append(groups, nil)
		}
		groups[len(groups)-1] = append(groups[len(groups)-1], infos[i].path)
	}

	s.lockAll()
	if s.closed.Load() {
		s.unlockAll()
		return ErrClosed
	}
	if job != nil {
		s.nsMu.RLock()
		s.countMu.Lock()
		s.job = job
		for _, e := range s.nss {
			for b := range e.pending {
				if job.covers(pos(e.ns, uint16(b))) {
					e.resetBucket(uint16(b), true)
				}
			}
		}
		s.countMu.Unlock()
		s.nsMu.RUnlock()
	}
	// Staged writes are older than the files: they go in first.
	err := s.drain()
	for _, g := range groups {
		if err != nil {
			break
		}
		if err = s.db.Ingest(context.Background(), g); err != nil {
			err = fmt.Errorf("disk: ingest: %w", err)
			break
		}
	}
	if job == nil {
		s.unlockAll()
		return err
	}
	s.dropRows(nil, job.buckets())
	// The recount runs even if ingestion failed: the counters were reset.
	it, ierr := s.dataIter(posRange(job.lo, job.hi))
	if ierr != nil {
		s.endCountJob(job)
		s.unlockAll()
		return errors.Join(err, ierr)
	}
	done := make(chan struct{})
	s.goBackground(func() {
		defer close(done)
		s.runCountJob(it, job)
	})
	s.unlockAll()
	<-done
	return err
}
