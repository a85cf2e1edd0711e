// Package hashenc encodes a hash (a set of field/value pairs, Tair's secondary
// keys under one primary key) as a single pointer-free byte slice, so that a
// storage engine can hold it as an opaque value and the Go garbage collector
// never sees its fields.
//
// # Format
//
//	byte 0           format version (1)
//	bytes 1..4       n, the number of fields (uint32, little endian)
//	bytes 5..5+4n    ends: for each entry, the offset just past its end within
//	                 the data area (uint32, little endian, strictly increasing)
//	data             n entries, sorted by field bytes, each:
//	                 uvarint(len(field)) field value
//
// Entry i spans data[ends[i-1]:ends[i]] (ends[-1] = 0); the value is whatever
// follows the field. Fields are unique and strictly increasing in bytewise
// order, so Get is a binary search over the ends table and iteration is in field
// order. The encoding is canonical: one set of pairs has exactly one encoding
// (minimal uvarints, no slack), so equal hashes have equal bytes.
//
// # Cost
//
// Reads (Get, Search, At, Range) are O(log n) and do not allocate. Every update
// (Set, Delete and their batch forms) rewrites the whole encoding: O(size of the
// hash). Hashes are meant for Tair-sized prefix sets, thousands of fields, not
// millions; a hash with millions of fields should be split over several keys.
//
// # Trust
//
// The accessors trust their input: it must have been produced by this package
// or checked by Validate (data read from disk, a snapshot or a peer). On an
// encoding that is not valid they may panic. Validate never panics.
// A zero-length slice is accepted everywhere as the empty hash; this package
// itself encodes the empty hash as a 5-byte header.
package hashenc

import (
	"bytes"
	"encoding/binary"
	"errors"
	"iter"
	"math"
	"math/bits"
	"slices"
)

const (
	format    = 1
	headerLen = 5
	endLen    = 4
)

// MaxData is the largest data area an encoding can address (offsets are
// uint32). Updates that would exceed it fail with ErrTooLarge.
const MaxData = math.MaxUint32

// ErrTooLarge is returned by updates whose result would exceed MaxData.
var ErrTooLarge = errors.New("hashenc: hash too large")

// ErrCorrupt wraps every error Validate returns.
var ErrCorrupt = errors.New("hashenc: corrupt encoding")

func corrupt(why string) error { return &corruptError{why} }

type corruptError struct{ why string }

func (e *corruptError) Error() string { return "hashenc: corrupt encoding: " + e.why }
func (e *corruptError) Unwrap() error { return ErrCorrupt }

// Len returns the number of fields.
func Len(enc []byte) int {
	if len(enc) < headerLen {
		return 0
	}
	return int(binary.LittleEndian.Uint32(enc[1:]))
}

// entryEnd returns ends[i].
func entryEnd(enc []byte, i int) int {
	return int(binary.LittleEndian.Uint32(enc[headerLen+endLen*i:]))
}

// data returns the data area of an encoding with n fields.
func data(enc []byte, n int) []byte { return enc[headerLen+endLen*n:] }

// entry returns entry i's field and value.
func entry(enc []byte, n, i int) (field, value []byte) {
	start := 0
	if i > 0 {
		start = entryEnd(enc, i-1)
	}
	e := data(enc, n)[start:entryEnd(enc, i)]
	fl, k := binary.Uvarint(e)
	e = e[k:]
	return e[:fl:fl], e[fl:len(e):len(e)]
}

// At returns the i-th field and its value in field order (0 <= i < Len). The
// slices alias enc.
func At(enc []byte, i int) (field, value []byte) {
	n := Len(enc)
	if i < 0 || i >= n {
		panic("hashenc: index out of range")
	}
	return entry(enc, n, i)
}

// Field returns the i-th field (0 <= i < Len), aliasing enc.
func Field(enc []byte, i int) []byte {
	f, _ := At(enc, i)
	return f
}

// Search returns the index of field, or the index where it would be inserted,
// and whether it is present.
func Search(enc []byte, field []byte) (int, bool) {
	n := Len(enc)
	lo, hi := 0, n
	for lo < hi {
		m := int(uint(lo+hi) >> 1)
		f, _ := entry(enc, n, m)
		switch c := bytes.Compare(f, field); {
		case c < 0:
			lo = m + 1
		case c > 0:
			hi = m
		default:
			return m, true
		}
	}
	return lo, false
}

// Get returns the value of field (aliasing enc) and whether it is present.
func Get(enc []byte, field []byte) ([]byte, bool) {
	i, ok := Search(enc, field)
	if !ok {
		return nil, false
	}
	_, v := entry(enc, Len(enc), i)
	return v, true
}

// All iterates over the fields and values in field order. The slices alias enc.
func All(enc []byte) iter.Seq2[[]byte, []byte] {
	return func(yield func(field, value []byte) bool) {
		n := Len(enc)
		for i := 0; i < n; i++ {
			if !yield(entry(enc, n, i)) {
				return
			}
		}
	}
}

// BoundKind is the kind of a Range bound.
type BoundKind uint8

const (
	Finite BoundKind = iota // Bound.Field, inclusive unless Exclusive
	NegInf                  // below every field ("-")
	PosInf                  // above every field ("+")
)

// Bound is one end of a lexicographic range, as ZRANGEBYLEX's "-", "+",
// "[field" and "(field".
type Bound struct {
	Kind      BoundKind
	Field     []byte
	Exclusive bool
}

// Range returns the indexes [lo, hi) of the fields f with min <= f <= max
// (with strict comparisons for exclusive bounds). lo == hi when the range is
// empty, including when min is above max.
func Range(enc []byte, min, max Bound) (lo, hi int) {
	n := Len(enc)
	lo = lowerIndex(enc, n, min)
	hi = upperIndex(enc, n, max)
	if hi < lo {
		hi = lo
	}
	return lo, hi
}

// lowerIndex is the first index whose field is inside min.
func lowerIndex(enc []byte, n int, b Bound) int {
	switch b.Kind {
	case NegInf:
		return 0
	case PosInf:
		return n
	}
	i, found := Search(enc, b.Field)
	if found && b.Exclusive {
		i++
	}
	return i
}

// upperIndex is the first index past the fields inside max.
func upperIndex(enc []byte, n int, b Bound) int {
	switch b.Kind {
	case NegInf:
		return 0
	case PosInf:
		return n
	}
	i, found := Search(enc, b.Field)
	if found && !b.Exclusive {
		i++
	}
	return i
}

// uvarintLen returns the length of x's uvarint encoding.
func uvarintLen(x uint64) int {
	return (bits.Len64(x|1) + 6) / 7
}

func entrySize(field, value []byte) int {
	return uvarintLen(uint64(len(field))) + len(field) + len(value)
}

// rawEntry returns entry i's encoded bytes.
func rawEntry(enc []byte, n, i int) []byte {
	start := 0
	if i > 0 {
		start = entryEnd(enc, i-1)
	}
	return data(enc, n)[start:entryEnd(enc, i)]
}

// encoder writes an encoding of a known field count and data size.
type encoder struct {
	out  []byte
	n, i int
	pos  int // current end within the data area
}

// start sizes dst for n fields and size bytes of data.
func start(dst []byte, n, size int) (encoder, error) {
	if uint64(size) > MaxData || uint64(n) > MaxData {
		return encoder{}, ErrTooLarge
	}
	total := headerLen + endLen*n + size
	out := slices.Grow(dst[:0], total)[:total]
	out[0] = format
	binary.LittleEndian.PutUint32(out[1:], uint32(n))
	return encoder{out: out, n: n}, nil
}

func (e *encoder) raw(b []byte) {
	d := e.out[headerLen+endLen*e.n:]
	copy(d[e.pos:], b)
	e.pos += len(b)
	binary.LittleEndian.PutUint32(e.out[headerLen+endLen*e.i:], uint32(e.pos))
	e.i++
}

func (e *encoder) pair(field, value []byte) {
	d := e.out[headerLen+endLen*e.n:]
	p := e.pos + binary.PutUvarint(d[e.pos:], uint64(len(field)))
	p += copy(d[p:], field)
	p += copy(d[p:], value)
	e.pos = p
	binary.LittleEndian.PutUint32(e.out[headerLen+endLen*e.i:], uint32(p))
	e.i++
}

// Empty appends the encoding of the empty hash to dst.
func Empty(dst []byte) []byte {
	return append(dst, format, 0, 0, 0, 0)
}

// Set stores field = value, writing the new encoding into dst's storage
// (which must not overlap enc) and returning it, with whether the field is
// new. O(size of the hash), as two block copies.
func Set(dst, enc, field, value []byte) (out []byte, added bool, err error) {
	n := Len(enc)
	i, found := Search(enc, field)
	dl := dataLen(enc, n)
	es := entrySize(field, value)
	size, newN := dl+es, n+1
	startI, resume := 0, 0 // entry i's start; where the old data after it resumes
	if i > 0 {
		startI = entryEnd(enc, i-1)
	}
	resume = startI
	if found {
		resume = entryEnd(enc, i)
		size -= resume - startI
		newN = n
	}
	e, err := start(dst, newN, size)
	if err != nil {
		return dst, false, err
	}
	out = e.out
	// Ends before i are unchanged; entry i's end is new; later ends shift.
	if i > 0 {
		copy(out[headerLen:], enc[headerLen:headerLen+endLen*i])
	}
	binary.LittleEndian.PutUint32(out[headerLen+endLen*i:], uint32(startI+es))
	delta := uint32(startI + es - resume)
	oj := i
	if found {
		oj++
	}
	for nj := i + 1; nj < newN; nj, oj = nj+1, oj+1 {
		binary.LittleEndian.PutUint32(out[headerLen+endLen*nj:], uint32(entryEnd(enc, oj))+delta) // modular: delta may be negative
	}
	od := out[headerLen+endLen*newN:]
	if n > 0 {
		copy(od, data(enc, n)[:startI])
		copy(od[startI+es:], data(enc, n)[resume:])
	}
	p := startI + binary.PutUvarint(od[startI:], uint64(len(field)))
	p += copy(od[p:], field)
	copy(od[p:], value)
	return out, !found, nil
}

// dataLen returns the size of the data area of an encoding with n fields
// (0 for the zero-length empty hash).
func dataLen(enc []byte, n int) int {
	if len(enc) < headerLen {
		return 0
	}
	return len(enc) - headerLen - endLen*n
}

// SetMany stores several pairs at once; pairs alternates field and value.
// When a field appears more than once the last value wins. It writes the new
// encoding into dst's storage (which must not overlap enc) and returns it with
// the number of fields added. O(size of the hash + k log k) for k pairs.
func SetMany(dst, enc []byte, pairs [][]byte) (out []byte, added int, err error) {
	if len(pairs)%2 != 0 {
		panic("hashenc: SetMany with an odd number of arguments")
	}
	k := len(pairs) / 2
	if k == 1 {
		out, a, err := Set(dst, enc, pairs[0], pairs[1])
		if a {
			added = 1
		}
		return out, added, err
	}
	// Sort the new pairs by field, keeping the last of duplicates.
	idx := make([]int, k)
	for j := range idx {
		idx[j] = j
	}
	slices.SortStableFunc(idx, func(a, b int) int { return bytes.Compare(pairs[2*a], pairs[2*b]) })
	w := 0
	for j := 0; j < k; j++ {
		if j+1 < k && bytes.Equal(pairs[2*idx[j]], pairs[2*idx[j+1]]) {
			continue // a later duplicate wins
		}
		idx[w] = idx[j]
		w++
	}
	idx = idx[:w]

	n := Len(enc)
	// First pass: count and size.
	newN, size := 0, 0
	merge(enc, n, pairs, idx, func(old int, nw int) {
		newN++
		if nw >= 0 {
			size += entrySize(pairs[2*nw], pairs[2*nw+1])
			if old < 0 {
				added++
			}
		} else {
			size += len(rawEntry(enc, n, old))
		}
	})
	e, err := start(dst, newN, size)
	if err != nil {
		return dst, 0, err
	}
	merge(enc, n, pairs, idx, func(old int, nw int) {
		if nw >= 0 {
			e.pair(pairs[2*nw], pairs[2*nw+1])
		} else {
			e.raw(rawEntry(enc, n, old))
		}
	})
	return e.out, added, nil
}

// merge walks the existing entries and the sorted new pairs in field order,
// calling emit with the old index (-1 if none) and the new pair index (-1 if
// the old entry is kept).
func merge(enc []byte, n int, pairs [][]byte, idx []int, emit func(old, nw int)) {
	i, j := 0, 0
	for i < n || j < len(idx) {
		switch {
		case j == len(idx):
			emit(i, -1)
			i++
		case i == n:
			emit(-1, idx[j])
			j++
		default:
			f, _ := entry(enc, n, i)
			switch c := bytes.Compare(f, pairs[2*idx[j]]); {
			case c < 0:
				emit(i, -1)
				i++
			case c > 0:
				emit(-1, idx[j])
				j++
			default:
				emit(i, idx[j])
				i++
				j++
			}
		}
	}
}

// Delete removes field, writing the new encoding into dst's storage (which
// must not overlap enc) and returning it with whether the field was present.
// When it was not, out is enc itself. O(size of the hash).
func Delete(dst, enc, field []byte) (out []byte, deleted bool) {
	i, found := Search(enc, field)
	if !found {
		return enc, false
	}
	return deleteIndexes(dst, enc, []int{i}), true
}

// DeleteMany removes several fields (duplicates allowed), writing the new
// encoding into dst's storage (which must not overlap enc) and returning it
// with the number of fields removed. When none was present, out is enc itself.
func DeleteMany(dst, enc []byte, fields [][]byte) (out []byte, deleted int) {
	var buf [8]int
	del := buf[:0]
	for _, f := range fields {
		if i, ok := Search(enc, f); ok {
			del = append(del, i)
		}
	}
	if len(del) == 0 {
		return enc, 0
	}
	slices.Sort(del)
	del = slices.Compact(del)
	return deleteIndexes(dst, enc, del), len(del)
}

// deleteIndexes rewrites enc without the sorted, unique indexes del, copying
// the runs of kept entries as blocks.
func deleteIndexes(dst, enc []byte, del []int) []byte {
	n := Len(enc)
	size := dataLen(enc, n)
	for _, i := range del {
		size -= len(rawEntry(enc, n, i))
	}
	newN := n - len(del)
	e, _ := start(dst, newN, size) // smaller than enc: cannot fail
	out := e.out
	od, d := out[headerLen+endLen*newN:], data(enc, n)
	nj, removed, pos := 0, 0, 0 // next new index, bytes removed so far, write position
	runStart := 0               // first old index of the current kept run
	for k := 0; k <= len(del); k++ {
		runEnd := n // old indexes [runStart, runEnd) are kept
		if k < len(del) {
			runEnd = del[k]
		}
		if runEnd > runStart {
			from := 0
			if runStart > 0 {
				from = entryEnd(enc, runStart-1)
			}
			to := entryEnd(enc, runEnd-1)
			pos += copy(od[pos:], d[from:to])
			for oj := runStart; oj < runEnd; oj++ {
				binary.LittleEndian.PutUint32(out[headerLen+endLen*nj:], uint32(entryEnd(enc, oj)-removed))
				nj++
			}
		}
		if k < len(del) {
			removed += len(rawEntry(enc, n, del[k]))
			runStart = del[k] + 1
		}
	}
	return out
}

// Slice writes into dst's storage (which must not overlap enc) the encoding
// of entries [i, j) of enc (0 <= i <= j <= Len), as one block copy: a reader
// can copy out a range while it holds a lock and decode it afterwards.
func Slice(dst, enc []byte, i, j int) []byte {
	n := Len(enc)
	if i < 0 || j < i || j > n {
		panic("hashenc: slice bounds out of range")
	}
	from, to := 0, 0
	if i > 0 {
		from = entryEnd(enc, i-1)
	}
	if j > 0 {
		to = entryEnd(enc, j-1)
	}
	if j == i {
		to = from
	}
	e, _ := start(dst, j-i, to-from) // no larger than enc: cannot fail
	out := e.out
	for k := i; k < j; k++ {
		binary.LittleEndian.PutUint32(out[headerLen+endLen*(k-i):], uint32(entryEnd(enc, k)-from))
	}
	if to > from {
		copy(out[headerLen+endLen*(j-i):], data(enc, n)[from:to])
	}
	return out
}

// Build appends to dst[:0] the encoding of pairs (alternating field and
// value, in any order; the last of duplicate fields wins).
func Build(dst []byte, pairs [][]byte) ([]byte, error) {
	if len(pairs) == 0 {
		return Empty(dst[:0]), nil
	}
	out, _, err := SetMany(dst, nil, pairs)
	return out, err
}

// Validate checks that enc is a well-formed, canonical encoding: the header,
// strictly increasing entry ends that cover the data area exactly, minimal
// field-length uvarints that fit their entries, and strictly increasing
// fields. It never panics and does not allocate on success.
func Validate(enc []byte) error {
	if len(enc) < headerLen {
		return corrupt("short header")
	}
	if enc[0] != format {
		return corrupt("unknown format")
	}
	n := uint64(binary.LittleEndian.Uint32(enc[1:]))
	if n*endLen > uint64(len(enc)-headerLen) {
		return corrupt("entry table past the end")
	}
	if uint64(len(enc)) > headerLen+endLen*n+MaxData {
		return corrupt("data area too large")
	}
	d := enc[headerLen+endLen*int(n):]
	var prevField []byte
	prev := 0
	for i := 0; i < int(n); i++ {
		end := int(binary.LittleEndian.Uint32(enc[headerLen+endLen*i:]))
		if end <= prev || end > len(d) {
			return corrupt("entry ends out of order or past the data")
		}
		e := d[prev:end]
		fl, k := binary.Uvarint(e)
		if k <= 0 || k != uvarintLen(fl) {
			return corrupt("bad field length")
		}
		if fl > uint64(len(e)-k) {
			return corrupt("field past its entry")
		}
		f := e[k : k+int(fl)]
		if i > 0 && bytes.Compare(prevField, f) >= 0 {
			return corrupt("fields not strictly increasing")
		}
		prevField, prev = f, end
	}
	if prev != len(d) {
		return corrupt("trailing data")
	}
	return nil
}
