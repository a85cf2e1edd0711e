package disk

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sync/atomic"

	"github.com/cockroachdb/pebble/v2/sstable"

	"granary/internal/engine"
)

// Bucket files are what bulk import (granary import, GRANARY.INGEST) sends
// a bucket's primary, and what the replication log carries to its
// secondaries: the items of one bucket of one namespace, sorted by key, each
// as its key and its value in the store's encoding:
//
//	'G' 1 (uvarint len(key), key, uvarint len(value), value)...
//
// A simple format rather than an SST per bucket, because an SST's fixed
// costs (index, filter, footer; a reader to open it) per bucket were most of
// an import's time. The receiving engine checks every item (order, value
// header) and writes the items of all the files of one command, in bucket
// order, into one SST with their expiry-index keys, which it ingests: one
// ingestion and one fsync for the hundreds of buckets of a command.
const bucketFileMagic = "G\x01"

// BucketFile builds the file of one bucket of namespace ns from items,
// which must come in strictly increasing key order. Version 0 becomes 1.
func BucketFile(ns, bucket uint16, items func(yield func(key []byte, it engine.Item) bool)) ([]byte, error) {
	out := []byte(bucketFileMagic)
	var last, val []byte
	var err error
	n := 0
	items(func(key []byte, it engine.Item) bool {
		if err = checkType(it.Type); err != nil {
			return false
		}
		if n > 0 && bytes.Compare(key, last) <= 0 {
			err = fmt.Errorf("disk: bucket file: key %q does not follow the previous one", key)
			return false
		}
		val = appendValue(val[:0], it.Type, max(it.Version, 1), it.Expire, it.Value)
		out = binary.AppendUvarint(out, uint64(len(key)))
		out = append(out, key...)
		out = binary.AppendUvarint(out, uint64(len(val)))
		out = append(out, val...)
		last = append(last[:0], key...)
		n++
		return true
	})
	if err != nil {
		return nil, err
	}
	if n == 0 {
		return nil, errors.New("disk: bucket file: no item")
	}
	return out, nil
}

var ingestSeq atomic.Uint64

// Ingest implements engine.Ingester: files[i] is a BucketFile of
// buckets[i] of this namespace. The files are read in bucket order and
// rewritten, checked key by key, into one SST on the store's disk, with the
// index keys of the items that expire after them; that one file is
// ingested, so a command of thousands of buckets costs one ingestion and
// one fsync.
func (e *Engine) Ingest(buckets []uint16, files [][]byte) error {
	if len(buckets) != len(files) {
		return errors.New("disk: ingest: buckets and files differ in number")
	}
	s := e.s
	order := make([]int, len(buckets))
	for i := range order {
		order[i] = i
	}
	slices.SortFunc(order, func(a, b int) int { return int(buckets[a]&bucketMask) - int(buckets[b]&bucketMask) })
	for i := 1; i < len(order); i++ {
		if buckets[order[i]]&bucketMask == buckets[order[i-1]]&bucketMask {
			return fmt.Errorf("disk: ingest: two files for bucket %d", buckets[order[i]]&bucketMask)
		}
	}
	path := filepath.Join(s.ingestDir(), fmt.Sprintf("ingest-%d.sst", ingestSeq.Add(1)))
	w, err := createTable(path, s.popts.MakeWriterOptions(0, s.db.TableFormat()))
	if err != nil {
		return err
	}
	defer os.Remove(path) // gone already when ingested
	var exp [][]byte
	for _, i := range order {
		if exp, err = s.copyBucketFile(w, files[i], e.ns, buckets[i]&bucketMask, exp); err != nil {
			w.Close()
			return fmt.Errorf("bucket %d: %w", buckets[i], err)
		}
	}
	// Index keys ('e') sort after data keys ('d'): the same file takes them.
	slices.SortFunc(exp, bytes.Compare)
	exp = slices.CompactFunc(exp, bytes.Equal)
	for _, k := range exp {
		if err = w.Set(k, nil); err != nil {
			break
		}
	}
	if cerr := w.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("disk: ingest: %w", err)
	}
	only := make([]uint32, len(buckets))
	for i, b := range buckets {
		only[i] = pos(e.ns, b&bucketMask)
	}
	return s.ingest([]string{path}, only)
}

// copyBucketFile checks that file is a well-formed bucket file (keys in
// increasing order, values with a valid header), writes its items to w as
// data keys of (ns, b), and appends the index keys of the items that expire
// to exp.
func (s *Store) copyBucketFile(w *sstable.Writer, file []byte, ns, b uint16, exp [][]byte) ([][]byte, error) {
	if !bytes.HasPrefix(file, []byte(bucketFileMagic)) {
		return exp, errors.New("not a bucket file")
	}
	p := file[len(bucketFileMagic):]
	var dk, last []byte
	n := 0
	next := func() ([]byte, bool) {
		l, k := binary.Uvarint(p)
		if k <= 0 || l > uint64(len(p)-k) {
			return nil, false
		}
		out := p[k : k+int(l)]
		p = p[k+int(l):]
		return out, true
	}
	for len(p) > 0 {
		key, ok1 := next()
		v, ok2 := next()
		if !ok1 || !ok2 {
			return exp, errors.New("truncated bucket file")
		}
		if n > 0 && bytes.Compare(key, last) <= 0 {
			return exp, errors.New("bucket file keys out of order")
		}
		h, ok := decodeHeader(v)
		if !ok || checkType(h.typ) != nil {
			return exp, errors.New("the file holds a malformed value")
		}
		if len(key)+len(v) > s.maxItem {
			return exp, engine.ErrTooLarge
		}
		dk = appendDataKey(dk[:0], ns, b, key)
		if err := w.Set(dk, v); err != nil {
			return exp, err
		}
		if h.exp != 0 {
			exp = append(exp, expKeyOfData(nil, h.exp, dk))
		}
		last = key
		n++
	}
	if n == 0 {
		return exp, errors.New("the file holds no item")
	}
	return exp, nil
}
