package mem

import (
	"encoding/binary"
	"errors"

	"granary/internal/engine"
)

// Item layout in the arena (little endian, no padding):
//
//	flags   1  bit 7 dead, bit 6 has expiry, bits 0-5 type
//	lru     4  shard-local logical clock at the last access
//	lb      1  local bucket index inside the shard (needed by compaction)
//	klen    uvarint
//	vlen    uvarint
//	version uvarint
//	expire  8  only when the expiry flag is set
//	key, value
//
// A 16-byte key with a 32-byte value and a small version takes 57 bytes.
var errBadType = errors.New("mem: value type out of range")

const (
	flagDead  = 0x80
	flagExp   = 0x40
	typeMask  = 0x3f
	hdrFixed  = 6
	lruOffset = 1
)

// header is a decoded item header. Offsets are absolute within the block.
type header struct {
	off   int // offset of the item
	flags byte
	lb    uint8
	lru   uint32
	klen  int
	vlen  int
	ver   uint64
	exp   int64
	key   int // offset of the key
	size  int // total size of the item
}

func (h *header) val() int { return h.key + h.klen }

func (h *header) dead() bool { return h.flags&flagDead != 0 }

func (h *header) typ() engine.Type { return engine.Type(h.flags & typeMask) }

func uvarintLen(x uint64) int {
	n := 1
	for x >= 0x80 {
		x >>= 7
		n++
	}
	return n
}

// itemSize is the number of arena bytes an item takes.
func itemSize(klen, vlen int, ver uint64, exp int64) int {
	n := hdrFixed + uvarintLen(uint64(klen)) + uvarintLen(uint64(vlen)) + uvarintLen(ver) + klen + vlen
	if exp != 0 {
		n += 8
	}
	return n
}

func getUvarint(b []byte, p int) (uint64, int) {
	if x := b[p]; x < 0x80 {
		return uint64(x), p + 1
	}
	v, n := binary.Uvarint(b[p:])
	return v, p + n
}

func readHeader(b []byte, off int) (h header) {
	h.off = off
	h.flags = b[off]
	h.lru = binary.LittleEndian.Uint32(b[off+lruOffset:])
	h.lb = b[off+5]
	p := off + hdrFixed
	var x uint64
	x, p = getUvarint(b, p)
	h.klen = int(x)
	x, p = getUvarint(b, p)
	h.vlen = int(x)
	h.ver, p = getUvarint(b, p)
	if h.flags&flagExp != 0 {
		h.exp = int64(binary.LittleEndian.Uint64(b[p:]))
		p += 8
	}
	h.key = p
	h.size = p - off + h.klen + h.vlen
	return h
}

// writeItem encodes an item at b[off:]; the caller has sized the space with
// itemSize. val may alias the value already stored at the same place.
func writeItem(b []byte, off int, typ engine.Type, lru uint32, lb uint8, key, val []byte, ver uint64, exp int64) {
	flags := byte(typ) & typeMask
	if exp != 0 {
		flags |= flagExp
	}
	b[off] = flags
	binary.LittleEndian.PutUint32(b[off+lruOffset:], lru)
	b[off+5] = lb
	p := off + hdrFixed
	p += binary.PutUvarint(b[p:], uint64(len(key)))
	p += binary.PutUvarint(b[p:], uint64(len(val)))
	p += binary.PutUvarint(b[p:], ver)
	if exp != 0 {
		binary.LittleEndian.PutUint64(b[p:], uint64(exp))
		p += 8
	}
	p += copy(b[p:], key)
	copy(b[p:], val)
}

func setLRU(b []byte, off int, lru uint32) {
	binary.LittleEndian.PutUint32(b[off+lruOffset:], lru)
}

func getLRU(b []byte, off int) uint32 {
	return binary.LittleEndian.Uint32(b[off+lruOffset:])
}

// expired reports whether an item with absolute expiry exp is dead at now.
// Like Redis, an item is still alive at exactly its expiry millisecond.
func expired(exp, now int64) bool { return exp != 0 && now > exp }
