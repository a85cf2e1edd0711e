// Package routing maps keys to buckets and buckets to data servers. It is pure:
// no I/O, so the table and its builder can be tested exhaustively.
package routing

// Buckets is the number of buckets (Redis Cluster's hash slots).
const Buckets = 16384

// crcTable is CRC16-XMODEM (polynomial 0x1021), as Redis Cluster uses.
var crcTable = func() (t [256]uint16) {
	for i := range t {
		c := uint16(i) << 8
		for j := 0; j < 8; j++ {
			if c&0x8000 != 0 {
				c = c<<1 ^ 0x1021
			} else {
				c <<= 1
			}
		}
		t[i] = c
	}
	return
}()

// CRC16 returns the CRC16-XMODEM checksum of b.
func CRC16(b []byte) uint16 {
	var crc uint16
	for _, c := range b {
		crc = crc<<8 ^ crcTable[byte(crc>>8)^c]
	}
	return crc
}

// HashTag returns the part of key that is hashed: the content of the first
// non-empty {...}, or the whole key, exactly as Redis Cluster.
func HashTag(key []byte) []byte {
	for i, c := range key {
		if c == '{' {
			for j := i + 1; j < len(key); j++ {
				if key[j] == '}' {
					if j == i+1 {
						return key
					}
					return key[i+1 : j]
				}
			}
			return key
		}
	}
	return key
}

// Bucket returns the bucket of key.
func Bucket(key []byte) uint16 {
	return CRC16(HashTag(key)) & (Buckets - 1)
}
