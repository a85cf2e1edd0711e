package command

import (
	"strconv"

	"granary/internal/engine"
	"granary/internal/glob"
	"granary/internal/routing"
)

func init() {
	register(
		&Spec{Name: "scan", Arity: -2, Flags: FlagRead, Handler: cmdScan},
	)
}

const errScanCursor = "ERR invalid cursor"

// scanCursor parses a SCAN cursor as Redis' strtoul-based parser (an optional
// sign, leading zeros allowed), restricted to the cursors this node hands out:
// the next bucket to visit, 0..16383. An empty cursor is 0, as in Redis.
func scanCursor(b []byte) (int, bool) {
	if len(b) == 0 {
		return 0, true
	}
	neg := false
	if b[0] == '+' || b[0] == '-' {
		neg = b[0] == '-'
		b = b[1:]
		if len(b) == 0 {
			return 0, false
		}
	}
	n := 0
	for _, c := range b {
		if c < '0' || c > '9' {
			return 0, false
		}
		n = n*10 + int(c-'0')
		if n >= routing.Buckets {
			return 0, false
		}
	}
	if neg && n != 0 {
		return 0, false
	}
	return n, true
}

// SCAN cursor [MATCH pattern] [COUNT count] [TYPE type]
//
// The cursor is the next bucket to visit (0 starts and ends a scan). A call
// walks whole buckets served here as primary, in order, until it has seen at
// least COUNT keys (before MATCH and TYPE filter them) or passed the last
// bucket. A key present for the whole scan is returned at least once; a
// bucket's keys are all returned by one call.
func cmdScan(c *Ctx) {
	cursor, ok := scanCursor(c.Args[1])
	if !ok {
		c.W.Error(errScanCursor)
		return
	}
	count := int64(10)
	var pattern []byte
	var typ []byte
	for i := 2; i < len(c.Args); i += 2 {
		a := c.Args[i]
		if i+1 >= len(c.Args) {
			c.W.Error(errSyntax)
			return
		}
		switch {
		case eqFold(a, "count"):
			n, ok := parseInt(c.Args[i+1])
			if !ok {
				c.W.Error(errNotInt)
				return
			}
			if n < 1 {
				c.W.Error(errSyntax)
				return
			}
			count = n
		case eqFold(a, "match"):
			pattern = c.Args[i+1]
			if len(pattern) == 1 && pattern[0] == '*' {
				pattern = nil
			}
		case eqFold(a, "type"):
			typ = c.Args[i+1]
		default:
			c.W.Error(errSyntax)
			return
		}
	}
	var want engine.Type // 0: any type
	if typ != nil {
		switch {
		case eqFold(typ, "string"):
			want = engine.TypeString
		case eqFold(typ, "hash"):
			want = engine.TypeHash
		default:
			// A type this server does not store (list, set...) or an unknown
			// name: Redis 7 returns nothing and no error.
			want = 255
		}
	}

	eng := c.Engine()
	t, self := c.N.View()
	keys := c.Scratch[:0] // the keys found, back to back
	var ends []int        // where each key ends in keys
	seen := int64(0)
	b := cursor
	for b < routing.Buckets && seen < count {
		bk := uint16(b)
		b++
		if t.Primary(bk) != self || eng.CountBucket(bk) == 0 {
			continue
		}
		eng.ScanBucket(bk, c.Now, func(key []byte, it *engine.Item) bool {
			seen++
			if want != 0 && it.Type != want {
				return true
			}
			if pattern != nil && !glob.Match(pattern, key, false) {
				return true
			}
			keys = append(keys, key...)
			ends = append(ends, len(keys))
			return true
		})
	}
	if b >= routing.Buckets {
		b = 0
	}
	c.W.Array(2)
	var tmp [8]byte
	c.W.Bulk(strconv.AppendInt(tmp[:0], int64(b), 10))
	c.W.Array(len(ends))
	start := 0
	for _, end := range ends {
		c.W.Bulk(keys[start:end])
		start = end
	}
	c.Scratch = keys
	c.trimScratch()
}
