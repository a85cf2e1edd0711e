package disk

import (
	"encoding/binary"
	"errors"

	"granary/internal/engine"
)

// Value layout of a data key (see doc.go):
//
//	flags   1  bits 0-5 type, bit 6 expiry present, bit 7 reserved (0)
//	version uvarint
//	expiry  8  big endian, only with bit 6
//	value   the rest
const (
	flagExp  = 0x40
	flagRsv  = 0x80
	typeMask = 0x3f
)

var errBadType = errors.New("disk: value type out of range")

// header is a decoded value header.
type header struct {
	typ engine.Type
	ver uint64
	exp int64 // 0 = none
	off int   // offset of the value bytes
}

func checkType(t engine.Type) error {
	if t > typeMask {
		return errBadType
	}
	return nil
}

// appendValue appends the encoded value of an item to dst.
func appendValue(dst []byte, typ engine.Type, ver uint64, exp int64, val []byte) []byte {
	flags := byte(typ) & typeMask
	if exp != 0 {
		flags |= flagExp
	}
	dst = append(dst, flags)
	dst = binary.AppendUvarint(dst, ver)
	if exp != 0 {
		dst = binary.BigEndian.AppendUint64(dst, uint64(exp))
	}
	return append(dst, val...)
}

// valueLen is the encoded length of a value.
func valueLen(ver uint64, exp int64, vlen int) int {
	n := 1 + uvarintLen(ver) + vlen
	if exp != 0 {
		n += 8
	}
	return n
}

func uvarintLen(x uint64) int {
	n := 1
	for x >= 0x80 {
		x >>= 7
		n++
	}
	return n
}

// decodeHeader decodes a value header; ok is false for a corrupt value.
func decodeHeader(v []byte) (h header, ok bool) {
	if len(v) == 0 || v[0]&flagRsv != 0 {
		return h, false
	}
	flags := v[0]
	h.typ = engine.Type(flags & typeMask)
	p := 1
	if p < len(v) && v[p] < 0x80 {
		h.ver = uint64(v[p])
		p++
	} else {
		x, n := binary.Uvarint(v[p:])
		if n <= 0 {
			return h, false
		}
		h.ver = x
		p += n
	}
	if flags&flagExp != 0 {
		if len(v) < p+8 {
			return h, false
		}
		h.exp = int64(binary.BigEndian.Uint64(v[p:]))
		p += 8
		if h.exp == 0 {
			return h, false
		}
	}
	h.off = p
	return h, true
}

// item returns the item a value holds; Value aliases v.
func (h *header) item(v []byte) engine.Item {
	return engine.Item{Type: h.typ, Version: h.ver, Expire: h.exp, Value: v[h.off:len(v):len(v)]}
}

// expired reports whether an item with absolute expiry exp is dead at now.
// Like Redis, an item is still alive at exactly its expiry millisecond.
func expired(exp, now int64) bool { return exp != 0 && now > exp }
