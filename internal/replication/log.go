package replication

import (
	"slices"
	"sync"
	"sync/atomic"
)

// chunkSize is the log's allocation unit; a larger record gets a chunk of
// its own.
const chunkSize = 1 << 20

type chunk struct {
	start uint64 // log position of buf[0]
	buf   []byte
}

// wlog is the node-wide log of applied records. A position is a byte offset
// since the process started; records never span chunks, and the next chunk
// starts where the previous one's bytes end, so positions have no gaps.
type wlog struct {
	mu     sync.Mutex
	chunks []*chunk
	end    uint64
	bytes  int64 // held in chunks
	max    int64 // trim beyond this
	// trimmed is called, with mu held, for each record dropped from the head.
	trimmed func(bucket uint16, lsn uint64)

	wmu     sync.Mutex // serialises changes to waiters
	waiters atomic.Pointer[[]chan struct{}]
}

func newLog(max int64, trimmed func(uint16, uint64)) *wlog {
	return &wlog{max: max, trimmed: trimmed}
}

// append adds r and returns the position after it.
func (l *wlog) append(r *record) uint64 {
	n := 4 + r.size()
	l.mu.Lock()
	c := l.room(n)
	c.buf = r.appendTo(c.buf)
	l.end += uint64(n)
	end := l.end
	l.mu.Unlock()
	l.wake()
	return end
}

// room returns the chunk n more bytes go into, starting a new one (and
// trimming the head) when the last is full. Called with mu held.
func (l *wlog) room(n int) *chunk {
	if k := len(l.chunks); k > 0 && len(l.chunks[k-1].buf)+n <= cap(l.chunks[k-1].buf) {
		return l.chunks[k-1]
	}
	c := &chunk{start: l.end, buf: make([]byte, 0, max(chunkSize, n))}
	l.chunks = append(l.chunks, c)
	l.bytes += int64(cap(c.buf))
	l.trim()
	return c
}

// trim drops head chunks while the log holds more than max (never the last).
func (l *wlog) trim() {
	for l.bytes > l.max && len(l.chunks) > 1 {
		c := l.chunks[0]
		for off := 0; off < len(c.buf); {
			b, lsn, n := peekBucketLSN(c.buf[off:])
			l.trimmed(b, lsn)
			off += n
		}
		l.bytes -= int64(cap(c.buf))
		l.chunks[0] = nil
		l.chunks = l.chunks[1:]
	}
}

// bounds returns the first and the end position held.
func (l *wlog) bounds() (start, end uint64) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.chunks) == 0 {
		return l.end, l.end
	}
	return l.chunks[0].start, l.end
}

// read appends whole records from pos to dst, up to about limit bytes (at
// least one record), and stops at stop. It returns the position after the
// last record appended; ok is false when pos was trimmed.
func (l *wlog) read(pos, stop uint64, dst []byte, limit int) (out []byte, next uint64, ok bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.chunks) == 0 {
		return dst, pos, pos == l.end
	}
	if pos < l.chunks[0].start {
		return dst, pos, false
	}
	stop = min(stop, l.end)
	// Find the chunk holding pos: chunks are few (max/chunkSize).
	i := len(l.chunks) - 1
	for i > 0 && l.chunks[i].start > pos {
		i--
	}
	added := 0
	for ; i < len(l.chunks) && pos < stop; i++ {
		c := l.chunks[i]
		off := int(pos - c.start)
		if off >= len(c.buf) {
			pos = c.start + uint64(len(c.buf))
			continue
		}
		lim := min(len(c.buf), int(stop-c.start))
		// Take whole records up to the limit.
		j, full := off, false
		for j < lim {
			n := 4 + int(uint32(c.buf[j])<<24|uint32(c.buf[j+1])<<16|uint32(c.buf[j+2])<<8|uint32(c.buf[j+3]))
			if added > 0 && added+n > limit {
				full = true
				break
			}
			j += n
			added += n
		}
		dst = append(dst, c.buf[off:j]...)
		pos = c.start + uint64(j)
		if full || added >= limit {
			break // pos is inside this chunk: the next read starts there
		}
	}
	return dst, pos, true
}

// endPos returns the position after the last record.
func (l *wlog) endPos() uint64 {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.end
}

// subscribe returns a channel that receives a token after appends.
func (l *wlog) subscribe() chan struct{} {
	ch := make(chan struct{}, 1)
	l.wmu.Lock()
	defer l.wmu.Unlock()
	list := append(slices.Clone(l.waiterList()), ch)
	l.waiters.Store(&list)
	return ch
}

func (l *wlog) unsubscribe(ch chan struct{}) {
	l.wmu.Lock()
	defer l.wmu.Unlock()
	list := slices.DeleteFunc(slices.Clone(l.waiterList()), func(c chan struct{}) bool { return c == ch })
	l.waiters.Store(&list)
}

func (l *wlog) waiterList() []chan struct{} {
	if p := l.waiters.Load(); p != nil {
		return *p
	}
	return nil
}

// wake signals every subscriber without a lock: appends are the hot path.
func (l *wlog) wake() {
	for _, ch := range l.waiterList() {
		select {
		case ch <- struct{}{}:
		default:
		}
	}
}

// appendRaw adds an encoded record (length prefix included), as received.
func (l *wlog) appendRaw(raw []byte) {
	n := len(raw)
	l.mu.Lock()
	c := l.room(n)
	c.buf = append(c.buf, raw...)
	l.end += uint64(n)
	l.mu.Unlock()
	l.wake()
}
