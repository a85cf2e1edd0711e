package disk

import "encoding/binary"

// NumBuckets is the number of buckets keys are routed to. Buckets beyond it
// wrap around, as in package mem.
const NumBuckets = 16384

const bucketMask = NumBuckets - 1

// Key prefixes (see doc.go).
const (
	prefixData = 'd'
	prefixExp  = 'e'
	prefixMeta = 'm'

	dataHdr = 5  // 'd' ns bucket
	expHdr  = 13 // 'e' expiry ns bucket
	expPos  = 1  // offset of the expiry in an index key
)

func putNsBucket(dst []byte, ns, b uint16) {
	binary.BigEndian.PutUint16(dst, ns)
	binary.BigEndian.PutUint16(dst[2:], b)
}

// appendDataKey appends the data key of (ns, b, key) to dst.
func appendDataKey(dst []byte, ns, b uint16, key []byte) []byte {
	dst = append(dst, prefixData, 0, 0, 0, 0)
	putNsBucket(dst[len(dst)-4:], ns, b)
	return append(dst, key...)
}

// parseDataKey splits a data key.
func parseDataKey(k []byte) (ns, b uint16, key []byte, ok bool) {
	if len(k) < dataHdr || k[0] != prefixData {
		return 0, 0, nil, false
	}
	return binary.BigEndian.Uint16(k[1:]), binary.BigEndian.Uint16(k[3:]), k[dataHdr:], true
}

// expIndex is the expiry an index key records for an item expiring at exp
// (exp != 0): negative expiries, long past, sort first.
func expIndex(exp int64) uint64 {
	if exp < 0 {
		return 0
	}
	return uint64(exp)
}

// appendExpKey appends the expiry-index key of an item expiring at exp.
func appendExpKey(dst []byte, exp int64, ns, b uint16, key []byte) []byte {
	dst = append(dst, prefixExp)
	dst = binary.BigEndian.AppendUint64(dst, expIndex(exp))
	dst = append(dst, 0, 0, 0, 0)
	putNsBucket(dst[len(dst)-4:], ns, b)
	return append(dst, key...)
}

// expKeyOfData turns a data key into the index key for expiry exp.
func expKeyOfData(dst []byte, exp int64, dk []byte) []byte {
	dst = append(dst, prefixExp)
	dst = binary.BigEndian.AppendUint64(dst, expIndex(exp))
	return append(dst, dk[1:]...)
}

// parseExpKey splits an index key; dk receives the item's data key.
func parseExpKey(dst, k []byte) (idx uint64, dk []byte, ok bool) {
	if len(k) < expHdr || k[0] != prefixExp {
		return 0, dst, false
	}
	idx = binary.BigEndian.Uint64(k[expPos:])
	dst = append(dst, prefixData)
	return idx, append(dst, k[expPos+8:]...), true
}

// expUpper is the exclusive upper bound of the index keys due at now, that is
// with expiry < now (an item is alive while now <= expiry).
func expUpper(now int64) []byte {
	return binary.BigEndian.AppendUint64([]byte{prefixExp}, expIndex(now))
}

// bucketPrefix is the 5-byte prefix shared by the data keys of a bucket.
func bucketPrefix(ns, b uint16) []byte {
	return appendDataKey(make([]byte, 0, dataHdr), ns, b, nil)
}

// pos orders (namespace, bucket) pairs as their data keys sort.
func pos(ns, b uint16) uint32 { return uint32(ns)<<16 | uint32(b) }

// posKey is the first data key of the bucket at p.
func posKey(p uint32) []byte { return bucketPrefix(uint16(p>>16), uint16(p)) }

// bucketBounds returns the data-key range of one bucket.
func bucketBounds(ns, b uint16) (lo, hi []byte) {
	// b < NumBuckets, so b+1 does not overflow into the namespace.
	return bucketPrefix(ns, b), bucketPrefix(ns, b+1)
}

// nsBounds returns the data-key range of one namespace.
func nsBounds(ns uint16) (lo, hi []byte) {
	lo = bucketPrefix(ns, 0)
	if ns == 0xffff {
		return lo, []byte{prefixData + 1}
	}
	return lo, bucketPrefix(ns+1, 0)
}

// posRange returns the data-key range of the buckets from p to q inclusive.
func posRange(p, q uint32) (lo, hi []byte) {
	ns, b := uint16(q>>16), uint16(q)
	if b < 0xffff {
		return posKey(p), bucketPrefix(ns, b+1)
	}
	_, hi = nsBounds(ns)
	return posKey(p), hi
}

// metaKey prefixes a caller's metadata key.
func metaKey(key []byte) []byte {
	return append(append(make([]byte, 0, 1+len(key)), prefixMeta), key...)
}

// prefixEnd returns the smallest key greater than every key with prefix p,
// or nil if there is none.
func prefixEnd(p []byte) []byte {
	end := append([]byte(nil), p...)
	for i := len(end) - 1; i >= 0; i-- {
		if end[i] < 0xff {
			end[i]++
			return end[:i+1]
		}
	}
	return nil
}
