package engine

import (
	"encoding/binary"

	"github.com/cespare/xxhash/v2"
)

// Digest summarises one namespace's items of one bucket so that two replicas
// can be compared without shipping their data (anti-entropy, granary ctl
// verify). It is order-independent: the sum of one hash per item, so two
// engines that store the same items in different orders agree.
type Digest struct {
	Count uint64 // items summarised
	Sum   uint64 // sum (mod 2^64) of the items' hashes
}

// Add folds one item into d.
func (d *Digest) Add(h uint64) {
	d.Count++
	d.Sum += h
}

// ItemHash hashes everything a replica must agree on about one item: its
// key, type, version, absolute expiry and value. h is reset and reused, so
// that hashing a bucket does not allocate per item.
func ItemHash(h *xxhash.Digest, key []byte, it *Item) uint64 {
	var hdr [29]byte
	binary.BigEndian.PutUint32(hdr[0:], uint32(len(key)))
	hdr[4] = byte(it.Type)
	binary.BigEndian.PutUint64(hdr[5:], it.Version)
	binary.BigEndian.PutUint64(hdr[13:], uint64(it.Expire))
	binary.BigEndian.PutUint64(hdr[21:], uint64(len(it.Value)))
	h.Reset()
	h.Write(hdr[:])
	h.Write(key)
	h.Write(it.Value)
	return h.Sum64()
}

// ExpiresBy reports whether the item has an expiry at or before t (Unix ms).
func (it *Item) ExpiresBy(t int64) bool { return it.Expire != 0 && it.Expire <= t }

// DigestBucket summarises bucket b of e as seen at now, leaving out items
// that expire at or before cutoff (cutoff >= now): replicas that compute
// their digests at slightly different times, each expiring on its own
// clock, then still agree on the items near their end of life.
func DigestBucket(e Engine, b uint16, now, cutoff int64) Digest {
	var d Digest
	h := xxhash.New()
	e.ScanBucket(b, now, func(key []byte, it *Item) bool {
		if it.ExpiresBy(cutoff) {
			return true
		}
		d.Add(ItemHash(h, key, it))
		return true
	})
	return d
}
