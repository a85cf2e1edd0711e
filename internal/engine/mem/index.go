package mem

import "slices"

// Each bucket has its own open-addressing table of uint64 entries:
//
//	tag (26 bits of the key hash) | block id (20 bits) | offset in block (18 bits)
//
// 0 is the empty slot (tags are never 0). The home slot is derived from the
// tag alone (fastrange), so a table can be resized without touching the arena,
// and any table size works, which lets tables grow by 1.5x and use the whole
// allocation size class. Collisions use linear probing with backward-shift
// deletion (no tombstones).
const (
	offBits  = 18
	blkBits  = 20
	locBits  = offBits + blkBits
	tagBits  = 64 - locBits
	locMask  = 1<<locBits - 1
	offMask  = 1<<offBits - 1
	minTable = 8
)

type bucket struct {
	tab []uint64
	n   int32  // items stored
	exp int32  // items with an expiry
	cur uint32 // active-expiry scan position
}

func tagOf(h uint64) uint64 {
	t := h >> locBits
	if t == 0 {
		t = 1
	}
	return t
}

func mkLoc(blk int32, off int) uint64 { return uint64(blk)<<offBits | uint64(off) }

func locBlock(l uint64) int32 { return int32(l >> offBits) }

func locOff(l uint64) int { return int(l & offMask) }

func mkEntry(tag, loc uint64) uint64 { return tag<<locBits | loc }

func home(tag uint64, n int) int { return int(tag * uint64(n) >> tagBits) }

// findExact returns the slot holding exactly entry e, or -1.
func (b *bucket) findExact(e uint64) int {
	t := b.tab
	if len(t) == 0 {
		return -1
	}
	i := home(e>>locBits, len(t))
	for {
		switch t[i] {
		case e:
			return i
		case 0:
			return -1
		}
		if i++; i == len(t) {
			i = 0
		}
	}
}

// place puts e into the first free slot of its probe sequence. The table must
// have room.
func place(t []uint64, e uint64) {
	i := home(e>>locBits, len(t))
	for t[i] != 0 {
		if i++; i == len(t) {
			i = 0
		}
	}
	t[i] = e
}

// deleteAt empties slot i and shifts later entries of the cluster back so
// that every entry stays reachable from its home slot.
func (b *bucket) deleteAt(i int) {
	t := b.tab
	n := len(t)
	j := i
	for {
		if j++; j == n {
			j = 0
		}
		e := t[j]
		if e == 0 {
			break
		}
		h := home(e>>locBits, n)
		// e may move to i if i lies on its probe path h..j.
		if (i-h+n)%n < (j-h+n)%n {
			t[i] = e
			i = j
		}
	}
	t[i] = 0
}

// newTable allocates a table of at least n slots, rounded up to the
// allocator's size class.
func newTable(n int) []uint64 {
	t := slices.Grow([]uint64(nil), n)
	return t[:cap(t)]
}

// resize rebuilds the table with room for about n slots and returns the
// change in bytes.
func (b *bucket) resize(n int) int64 {
	old := b.tab
	t := newTable(n)
	for _, e := range old {
		if e != 0 {
			place(t, e)
		}
	}
	b.tab = t
	return 8 * int64(len(t)-len(old))
}

// needGrow reports whether one more entry would exceed the load limit: 0.8,
// but tables of up to 16 slots (two cache lines) may fill all but one slot,
// since probing them costs little. Most buckets are small when the engine is.
func (b *bucket) needGrow() bool {
	n, c := int(b.n)+1, len(b.tab)
	if c <= 16 {
		return n >= c
	}
	return n*5 > c*4
}

// growSize and shrinkSize give the new table size when resizing.
func (b *bucket) growSize() int { return max(minTable, len(b.tab)*3/2) }

func (b *bucket) needShrink() bool { return len(b.tab) > 2*minTable && int(b.n)*4 < len(b.tab) }

func (b *bucket) shrinkSize() int { return max(minTable, int(b.n)*2) }
