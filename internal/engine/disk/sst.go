package disk

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"slices"

	"github.com/cockroachdb/pebble/v2"
	"github.com/cockroachdb/pebble/v2/objstorage/objstorageprovider"
	"github.com/cockroachdb/pebble/v2/sstable"
	"github.com/cockroachdb/pebble/v2/vfs"

	"granary/internal/engine"
)

// Bulk load. An SST file must be sorted. Data keys ('d'...) come in the
// caller's (namespace, bucket, key) order and go straight to the file, but
// the expiry-index keys ('e'..., all after every data key) are ordered by
// expiry first, so SSTWriter buffers and sorts them: at Finish they are
// appended to the same file, after the data keys, and the load is a single
// file ingested atomically. When the buffer passes expSpillBytes it is
// sorted and written to a file of its own (path.exp0, path.exp1, ...), so
// memory stays bounded however much is loaded; those files overlap each
// other, and Store.Ingest takes them in separate steps, before the data
// file (which then holds data keys only): a crash between steps leaves
// index keys without items, which the sweep deletes in due time.
const expSpillBytes = 64 << 20

// SSTWriter writes items into SST files in the store's format, for
// Store.Ingest. It is not safe for concurrent use.
type SSTWriter struct {
	path       string
	wopts      sstable.WriterOptions
	maxItem    int
	spillBytes int

	data  *sstable.Writer
	ndata int
	last  []byte
	dk    []byte
	val   []byte

	expArena []byte
	expOffs  []int // start of each buffered index key in expArena
	spills   []string

	paths []string
	done  bool
	err   error // sticky: the files are unusable
}

// NewSSTWriter creates an SST writer whose files start at path, in the table
// format and with the options of this store's DB. The files must be ingested
// by this store (or one with the same format) and should be on its
// filesystem, so ingestion links rather than copies them.
func (s *Store) NewSSTWriter(path string) (*SSTWriter, error) {
	if s.closed.Load() {
		return nil, ErrClosed
	}
	w := &SSTWriter{
		path:       path,
		wopts:      s.popts.MakeWriterOptions(0, s.db.TableFormat()),
		maxItem:    s.maxItem,
		spillBytes: expSpillBytes,
	}
	tw, err := createTable(path, w.wopts)
	if err != nil {
		return nil, err
	}
	w.data = tw
	return w, nil
}

func createTable(path string, o sstable.WriterOptions) (*sstable.Writer, error) {
	f, err := vfs.Default.Create(path, vfs.WriteCategoryUnspecified)
	if err != nil {
		return nil, fmt.Errorf("disk: create %s: %w", path, err)
	}
	return sstable.NewWriter(objstorageprovider.NewFileWritable(f), o), nil
}

// Add writes one item. Items must come in strictly increasing (namespace,
// bucket, key) order (bucket taken modulo NumBuckets). The item is stored as
// given, except that version 0 becomes 1 (an imported item is a creation).
// Items already expired are written too; they are invisible and swept.
func (w *SSTWriter) Add(ns, bucket uint16, key []byte, item engine.Item) error {
	if w.err != nil {
		return w.err
	}
	if w.done {
		return errors.New("disk: SSTWriter.Add after Finish")
	}
	if err := checkType(item.Type); err != nil {
		return err
	}
	if len(key)+len(item.Value) > w.maxItem {
		return engine.ErrTooLarge
	}
	b := bucket & bucketMask
	w.dk = appendDataKey(w.dk[:0], ns, b, key)
	if w.ndata > 0 && bytes.Compare(w.dk, w.last) <= 0 {
		return fmt.Errorf("disk: SSTWriter.Add: (%d, %d, %q) does not follow the previous item", ns, b, key)
	}
	ver := item.Version
	if ver == 0 {
		ver = 1
	}
	w.val = appendValue(w.val[:0], item.Type, ver, item.Expire, item.Value)
	if err := w.data.Set(w.dk, w.val); err != nil {
		return w.fail(fmt.Errorf("disk: SSTWriter.Add: %w", err))
	}
	w.last = append(w.last[:0], w.dk...)
	w.ndata++
	if item.Expire != 0 {
		w.expOffs = append(w.expOffs, len(w.expArena))
		w.expArena = expKeyOfData(w.expArena, item.Expire, w.dk)
		if len(w.expArena) >= w.spillBytes {
			if err := w.spill(); err != nil {
				return w.fail(err)
			}
		}
	}
	return nil
}

func (w *SSTWriter) fail(err error) error {
	if w.err == nil {
		w.err = err
	}
	return w.err
}

// sortedIndex sorts the buffered index keys and calls fn on each in order.
func (w *SSTWriter) sortedIndex(fn func(k []byte) error) error {
	n := len(w.expOffs)
	key := func(i int) []byte {
		end := len(w.expArena)
		if i+1 < n {
			end = w.expOffs[i+1]
		}
		return w.expArena[w.expOffs[i]:end]
	}
	idx := make([]int, n)
	for i := range idx {
		idx[i] = i
	}
	slices.SortFunc(idx, func(a, b int) int { return bytes.Compare(key(a), key(b)) })
	for _, i := range idx {
		if err := fn(key(i)); err != nil {
			return err
		}
	}
	w.expArena, w.expOffs = w.expArena[:0], w.expOffs[:0]
	return nil
}

// appendIndex writes the buffered index keys after the data keys.
func (w *SSTWriter) appendIndex() error {
	err := w.sortedIndex(func(k []byte) error { return w.data.Set(k, nil) })
	if err != nil {
		return fmt.Errorf("disk: write %s: %w", w.path, err)
	}
	return nil
}

// spill writes the buffered index keys to the next file of their own.
func (w *SSTWriter) spill() error {
	if len(w.expOffs) == 0 {
		return nil
	}
	path := fmt.Sprintf("%s.exp%d", w.path, len(w.spills))
	tw, err := createTable(path, w.wopts)
	if err != nil {
		return err
	}
	w.spills = append(w.spills, path)
	err = w.sortedIndex(func(k []byte) error { return tw.Set(k, nil) })
	if err = errors.Join(err, tw.Close()); err != nil {
		return fmt.Errorf("disk: write %s: %w", path, err)
	}
	return nil
}

// Finish completes (and syncs) the files; Paths then lists them. A writer
// that received no item leaves no file.
func (w *SSTWriter) Finish() error {
	if w.done {
		return w.err
	}
	w.done = true
	err := w.err
	if err == nil {
		if len(w.spills) == 0 {
			err = w.appendIndex()
		} else {
			err = w.spill()
		}
	}
	err = errors.Join(err, w.data.Close())
	if err != nil {
		w.fail(fmt.Errorf("disk: SSTWriter.Finish: %w", err))
		w.removeFiles()
		return w.err
	}
	// Index files first: an ingest cut short by a crash then leaves index
	// keys without items, which are harmless, rather than the reverse.
	w.paths = append(w.paths, w.spills...)
	if w.ndata == 0 {
		os.Remove(w.path)
	} else {
		w.paths = append(w.paths, w.path)
	}
	return nil
}

// Paths returns the files to pass to Store.Ingest, after a successful Finish.
func (w *SSTWriter) Paths() []string { return slices.Clone(w.paths) }

// Abort abandons the writer and removes its files.
func (w *SSTWriter) Abort() {
	if !w.done {
		w.done = true
		w.data.Close()
	}
	w.fail(errors.New("disk: SSTWriter aborted"))
	w.removeFiles()
	w.paths = nil
}

func (w *SSTWriter) removeFiles() {
	os.Remove(w.path)
	for _, p := range w.spills {
		os.Remove(p)
	}
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

// Ingest links SST files (from SSTWriter, or written the same way) into the
// DB: an item in a file replaces the stored one. Files are ingested in
// order; consecutive files that do not overlap go in one atomic step (the
// single file of an SSTWriter that did not spill is one step; each spill
// file takes one more). The files are trusted: they must come from
// SSTWriter (or this package's format), not from a client.
// On success the files are gone (moved into the DB).
//
// Ingest waits for the initial count pass, then holds every write lock while
// pebble ingests (writes wait; pebble may first flush the memtable), resets
// the counters of the buckets the files' data keys cover and recounts them
// from a view taken right after, before it returns. Old items replaced with
// a different expiry leave index keys behind, which the sweep deletes when
// they fall due.
func (s *Store) Ingest(paths []string) error {
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
	var err error
	for _, g := range groups {
		if err = s.db.Ingest(context.Background(), g); err != nil {
			err = fmt.Errorf("disk: ingest: %w", err)
			break
		}
	}
	if job == nil {
		s.unlockAll()
		return err
	}
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
