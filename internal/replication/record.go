package replication

import (
	"encoding/binary"
	"errors"

	"granary/internal/engine"
)

// Record kinds.
const (
	recPut  = 1 // store Item under Key
	recDel  = 2 // delete Key
	recDrop = 3 // drop the bucket's items in namespace NS
	// recIngest adds a file of the bucket's items in namespace NS (bulk
	// import), held in Item.Value, to an engine.Ingester.
	recIngest = 4
)

// recHeader is the fixed part of an encoded record: kind(1) ns(2) bucket(2)
// lsn(8) term(8) type(1) version(8) expire(8) klen(4) vlen(4).
const recHeader = 46

// maxRecord bounds one record (a key plus a value within the protocol's bulk
// limit, with room to spare).
const maxRecord = 1<<30 + 1<<20

// record is one replicated change.
type record struct {
	kind   uint8
	ns     uint16
	bucket uint16
	lsn    uint64
	term   uint64
	item   engine.Item // recPut: the stored item (Value included)
	key    []byte
}

var errBadRecord = errors.New("replication: malformed record")

// size is the encoded length, without the 4-byte length prefix.
func (r *record) size() int { return recHeader + len(r.key) + len(r.item.Value) }

// appendTo appends the length-prefixed encoding of r.
func (r *record) appendTo(b []byte) []byte {
	b = binary.BigEndian.AppendUint32(b, uint32(r.size()))
	b = append(b, r.kind)
	b = binary.BigEndian.AppendUint16(b, r.ns)
	b = binary.BigEndian.AppendUint16(b, r.bucket)
	b = binary.BigEndian.AppendUint64(b, r.lsn)
	b = binary.BigEndian.AppendUint64(b, r.term)
	b = append(b, byte(r.item.Type))
	b = binary.BigEndian.AppendUint64(b, r.item.Version)
	b = binary.BigEndian.AppendUint64(b, uint64(r.item.Expire))
	b = binary.BigEndian.AppendUint32(b, uint32(len(r.key)))
	b = binary.BigEndian.AppendUint32(b, uint32(len(r.item.Value)))
	b = append(b, r.key...)
	return append(b, r.item.Value...)
}

// decodeRecord decodes the record at the start of b (length prefix
// included); the key and value alias b. It returns the bytes consumed.
func decodeRecord(b []byte, r *record) (int, error) {
	if len(b) < 4 {
		return 0, errBadRecord
	}
	n := int(binary.BigEndian.Uint32(b))
	if n < recHeader || n > maxRecord || len(b) < 4+n {
		return 0, errBadRecord
	}
	p := b[4 : 4+n]
	r.kind = p[0]
	r.ns = binary.BigEndian.Uint16(p[1:])
	r.bucket = binary.BigEndian.Uint16(p[3:])
	r.lsn = binary.BigEndian.Uint64(p[5:])
	r.term = binary.BigEndian.Uint64(p[13:])
	r.item.Type = engine.Type(p[21])
	r.item.Version = binary.BigEndian.Uint64(p[22:])
	r.item.Expire = int64(binary.BigEndian.Uint64(p[30:]))
	kl := int(binary.BigEndian.Uint32(p[38:]))
	vl := int(binary.BigEndian.Uint32(p[42:]))
	if recHeader+kl+vl != n || r.bucket >= 16384 || r.kind < recPut || r.kind > recIngest {
		return 0, errBadRecord
	}
	r.key = p[recHeader : recHeader+kl]
	r.item.Value = p[recHeader+kl : n]
	return 4 + n, nil
}

// peekBucketLSN reads the bucket and LSN of the encoded record at b, which
// the log trusts (it wrote it).
func peekBucketLSN(b []byte) (bucket uint16, lsn uint64, n int) {
	n = 4 + int(binary.BigEndian.Uint32(b))
	return binary.BigEndian.Uint16(b[7:]), binary.BigEndian.Uint64(b[9:]), n
}
