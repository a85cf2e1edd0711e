package bulk

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"slices"

	"granary/internal/engine"
	"granary/internal/hashenc"
	"granary/internal/routing"
)

// entry is one item staged for a bucket file: key and encoded value live in
// the loader's arena (offsets, not slices, so that 10M items are not 20M
// pointers for the garbage collector).
type entry struct {
	off     int64 // chunk<<32 | offset: key at that offset of the chunk, value right after it
	klen    uint32
	vlen    uint32
	exp     int64
	version uint64
	typ     engine.Type
	seq     uint32 // order in the file: the later of two equal keys wins
}

// loaded is a file's records grouped by bucket.
type loaded struct {
	arena   [][]byte                  // chunks of arenaChunk bytes (or one item, if bigger)
	entries [][]entry                 // chunks of entryChunk: appended, never copied
	buckets [routing.Buckets][]uint32 // each bucket's entries (indexes into entries)
	records int64                     // read
	expired int64                     // skipped: already expired
	bytes   int64                     // key and value bytes kept
}

const entryChunk = 1 << 16

// ent returns entry i.
func (l *loaded) ent(i uint32) *entry { return &l.entries[i/entryChunk][i%entryChunk] }

// add appends e and returns its index.
func (l *loaded) add(e entry) uint32 {
	last := len(l.entries) - 1
	if last < 0 || len(l.entries[last]) == entryChunk {
		l.entries = append(l.entries, make([]entry, 0, entryChunk))
		last++
	}
	l.entries[last] = append(l.entries[last], e)
	return uint32(last*entryChunk + len(l.entries[last]) - 1)
}

// arenaChunk is the size of the loader's arena chunks: big enough that 10M
// items are a few hundred chunks, and never copied as a growing slice is.
const arenaChunk = 16 << 20

func (l *loaded) item(e *entry) []byte {
	c := l.arena[e.off>>32]
	o := e.off & (1<<32 - 1)
	return c[o : o+int64(e.klen)+int64(e.vlen)]
}

func (l *loaded) key(e *entry) []byte { return l.item(e)[:e.klen] }

func (l *loaded) value(e *entry) []byte { return l.item(e)[e.klen:] }

// store copies key and value into the arena and returns their offset.
func (l *loaded) store(key, value []byte) int64 {
	n := len(key) + len(value)
	last := len(l.arena) - 1
	if last < 0 || cap(l.arena[last])-len(l.arena[last]) < n {
		l.arena = append(l.arena, make([]byte, 0, max(arenaChunk, n)))
		last++
	}
	c := l.arena[last]
	off := int64(last)<<32 | int64(len(c))
	l.arena[last] = append(append(c, key...), value...)
	return off
}

// load reads every record of rd, drops those expired at now, and stages the
// rest by bucket. progress is told the records read so far.
func load(rd *Reader, now int64, progress func(records int64)) (*loaded, error) {
	l := &loaded{}
	rd.borrow = true
	var rec Record
	var hash []byte
	var seq uint32
	for {
		err := rd.Next(&rec)
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, err
		}
		l.records++
		if l.records%100_000 == 0 && progress != nil {
			progress(l.records)
		}
		if len(rec.Key) == 0 {
			return nil, fmt.Errorf("record %d: empty key", l.records)
		}
		if rec.ExpireAt != 0 && rec.ExpireAt < now {
			l.expired++
			continue
		}
		e := entry{klen: uint32(len(rec.Key)), exp: rec.ExpireAt, version: max(rec.Version, 1), typ: engine.TypeString, seq: seq}
		seq++
		value := rec.Value
		if rec.Hash != nil {
			if hash, err = hashenc.Build(hash[:0], rec.Hash); err != nil {
				return nil, fmt.Errorf("record %d (key %q): hash: %w", l.records, rec.Key, err)
			}
			value, e.typ = hash, engine.TypeHash
		}
		e.vlen = uint32(len(value))
		e.off = l.store(rec.Key, value)
		l.bytes += int64(len(rec.Key) + len(value))
		b := routing.Bucket(rec.Key)
		l.buckets[b] = append(l.buckets[b], l.add(e))
	}
	if progress != nil {
		progress(l.records)
	}
	return l, nil
}

// sorted sorts bucket b's entries by key and keeps the last of equal keys.
func (l *loaded) sorted(b uint16) []uint32 {
	es := l.buckets[b]
	slices.SortFunc(es, func(x, y uint32) int {
		ex, ey := l.ent(x), l.ent(y)
		if c := bytes.Compare(l.key(ex), l.key(ey)); c != 0 {
			return c
		}
		return int(int64(ex.seq) - int64(ey.seq))
	})
	out := es[:0]
	for _, i := range es {
		if len(out) > 0 && bytes.Equal(l.key(l.ent(out[len(out)-1])), l.key(l.ent(i))) {
			out[len(out)-1] = i
			continue
		}
		out = append(out, i)
	}
	l.buckets[b] = out
	return out
}
