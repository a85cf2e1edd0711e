package resp

import (
	"io"
	"math"
	"strconv"
)

// flushAt is the buffered size at which the writer flushes on its own, so a
// long pipeline or a large reply does not grow the buffer without bound.
const flushAt = 64 << 10

// Writer encodes replies into a buffer. Proto selects RESP2 (2) or RESP3 (3);
// types RESP2 lacks are mapped as Redis maps them. Errors from the underlying
// writer are sticky and returned by Flush.
type Writer struct {
	w       io.Writer
	buf     []byte
	Proto   int
	err     error
	flushed int64 // bytes handed to w so far (Mark)
}

// NewWriter returns a RESP2 writer.
func NewWriter(w io.Writer) *Writer {
	return &Writer{w: w, buf: make([]byte, 0, minBuf), Proto: 2}
}

// SetOutput makes the writer write to dst from now on; what it buffered
// stays.
func (w *Writer) SetOutput(dst io.Writer) { w.w = dst }

// Buffered returns the number of bytes not yet flushed.
func (w *Writer) Buffered() int { return len(w.buf) }

// Err returns the first write error.
func (w *Writer) Err() error { return w.err }

// Flush writes buffered replies.
func (w *Writer) Flush() error {
	if len(w.buf) > 0 && w.err == nil {
		_, w.err = w.w.Write(w.buf)
	}
	w.flushed += int64(len(w.buf))
	w.buf = w.buf[:0]
	if cap(w.buf) > 4*flushAt { // drop a buffer grown by one huge reply
		w.buf = make([]byte, 0, minBuf)
	}
	return w.err
}

// Mark returns the position of the next reply in the output stream: the
// bytes flushed so far plus the bytes buffered.
func (w *Writer) Mark() int64 { return w.flushed + int64(len(w.buf)) }

// InsertAt inserts b at position mark (from Mark), before what was written
// since, and reports whether it could: it cannot once the writer flushed
// past mark, and then writes nothing.
func (w *Writer) InsertAt(mark int64, b []byte) bool {
	i := mark - w.flushed
	if i < 0 || i > int64(len(w.buf)) {
		return false
	}
	n := len(w.buf)
	w.buf = append(w.buf, b...)
	copy(w.buf[int(i)+len(b):], w.buf[i:n])
	copy(w.buf[i:], b)
	w.maybeFlush()
	return true
}

func (w *Writer) maybeFlush() {
	if len(w.buf) >= flushAt {
		w.Flush()
	}
}

func (w *Writer) header(c byte, n int64) {
	w.buf = append(w.buf, c)
	w.buf = strconv.AppendInt(w.buf, n, 10)
	w.buf = append(w.buf, '\r', '\n')
}

// Simple writes a simple string (+OK).
func (w *Writer) Simple(s string) {
	w.buf = append(w.buf, '+')
	w.buf = append(w.buf, s...)
	w.buf = append(w.buf, '\r', '\n')
	w.maybeFlush()
}

// OK writes +OK.
func (w *Writer) OK() { w.Simple("OK") }

// Error writes an error; msg starts with its prefix ("ERR ...", "WRONGTYPE ...").
// CR and LF in msg are replaced by spaces so the reply stays well-formed.
func (w *Writer) Error(msg string) {
	w.buf = append(w.buf, '-')
	for i := 0; i < len(msg); i++ {
		c := msg[i]
		if c == '\r' || c == '\n' {
			c = ' '
		}
		w.buf = append(w.buf, c)
	}
	w.buf = append(w.buf, '\r', '\n')
	w.maybeFlush()
}

// Int writes an integer.
func (w *Writer) Int(n int64) {
	w.header(':', n)
	w.maybeFlush()
}

// Bulk writes a bulk string.
func (w *Writer) Bulk(b []byte) {
	w.header('$', int64(len(b)))
	w.buf = append(w.buf, b...)
	w.buf = append(w.buf, '\r', '\n')
	w.maybeFlush()
}

// BulkString writes a bulk string from a string.
func (w *Writer) BulkString(s string) {
	w.header('$', int64(len(s)))
	w.buf = append(w.buf, s...)
	w.buf = append(w.buf, '\r', '\n')
	w.maybeFlush()
}

// BulkInt writes an integer as a bulk string.
func (w *Writer) BulkInt(n int64) {
	var tmp [24]byte
	w.Bulk(strconv.AppendInt(tmp[:0], n, 10))
}

// Null writes a null bulk string ($-1, or _ in RESP3).
func (w *Writer) Null() {
	if w.Proto >= 3 {
		w.buf = append(w.buf, '_', '\r', '\n')
	} else {
		w.buf = append(w.buf, "$-1\r\n"...)
	}
	w.maybeFlush()
}

// NullArray writes a null array (*-1, or _ in RESP3).
func (w *Writer) NullArray() {
	if w.Proto >= 3 {
		w.buf = append(w.buf, '_', '\r', '\n')
	} else {
		w.buf = append(w.buf, "*-1\r\n"...)
	}
	w.maybeFlush()
}

// Array starts an array of n elements.
func (w *Writer) Array(n int) { w.header('*', int64(n)) }

// Map starts a map of n pairs (a flat array of 2n in RESP2).
func (w *Writer) Map(n int) {
	if w.Proto >= 3 {
		w.header('%', int64(n))
	} else {
		w.header('*', int64(2*n))
	}
}

// Set starts a set of n elements (an array in RESP2).
func (w *Writer) Set(n int) {
	if w.Proto >= 3 {
		w.header('~', int64(n))
	} else {
		w.header('*', int64(n))
	}
}

// Push starts an out-of-band push message of n elements (an array in RESP2).
func (w *Writer) Push(n int) {
	if w.Proto >= 3 {
		w.header('>', int64(n))
	} else {
		w.header('*', int64(n))
	}
}

// Double writes a double (a bulk string in RESP2), formatted as Redis does.
func (w *Writer) Double(f float64) {
	var tmp [32]byte
	b := AppendFloat(tmp[:0], f)
	if w.Proto >= 3 {
		w.buf = append(w.buf, ',')
		w.buf = append(w.buf, b...)
		w.buf = append(w.buf, '\r', '\n')
		w.maybeFlush()
		return
	}
	w.Bulk(b)
}

// Bool writes a boolean (:1/:0 in RESP2).
func (w *Writer) Bool(b bool) {
	if w.Proto >= 3 {
		if b {
			w.buf = append(w.buf, "#t\r\n"...)
		} else {
			w.buf = append(w.buf, "#f\r\n"...)
		}
		w.maybeFlush()
		return
	}
	if b {
		w.Int(1)
	} else {
		w.Int(0)
	}
}

// Verbatim writes a verbatim string (txt) in RESP3, a bulk string in RESP2.
func (w *Writer) Verbatim(s string) {
	if w.Proto < 3 {
		w.BulkString(s)
		return
	}
	w.header('=', int64(len(s)+4))
	w.buf = append(w.buf, "txt:"...)
	w.buf = append(w.buf, s...)
	w.buf = append(w.buf, '\r', '\n')
	w.maybeFlush()
}

// Raw appends pre-encoded RESP.
func (w *Writer) Raw(b []byte) {
	w.buf = append(w.buf, b...)
	w.maybeFlush()
}

// AppendFloat formats f as Redis' INCRBYFLOAT does (LD_STR_HUMAN): plain
// decimal notation without exponent or trailing zeros, the shortest digits that
// round-trip, and "inf"/"-inf".
func AppendFloat(dst []byte, f float64) []byte {
	switch {
	case math.IsInf(f, 1):
		return append(dst, "inf"...)
	case math.IsInf(f, -1):
		return append(dst, "-inf"...)
	case math.IsNaN(f):
		return append(dst, "nan"...)
	}
	return strconv.AppendFloat(dst, f, 'f', -1, 64)
}
