// Package resp reads and writes the Redis serialization protocol (RESP2 and
// RESP3). It is hand-written rather than taken from a client library because
// the server's hot path needs a reader that returns arguments as slices of its
// own buffer (no allocation per request) and enforces limits before it
// allocates, which no client-side parser does.
package resp

import (
	"bytes"
	"errors"
	"fmt"
	"io"
)

// Limits bound what a client may send. Zero fields take the defaults.
type Limits struct {
	MaxBulk   int // largest bulk string (Redis' proto-max-bulk-len)
	MaxArgs   int // most arguments in one command
	MaxQuery  int // largest unparsed query buffer (Redis' client-query-buffer-limit)
	MaxInline int // longest inline command line
	// PreAuth marks the limits of a client that has not authenticated yet;
	// errors then say so, as Redis' do.
	PreAuth bool
}

// Default limits, as Redis' defaults.
var (
	DefaultLimits = Limits{MaxBulk: 512 << 20, MaxArgs: 1 << 20, MaxQuery: 1 << 30, MaxInline: 64 << 10}
	// PreAuthLimits apply until a client has authenticated.
	PreAuthLimits = Limits{MaxBulk: 16 << 10, MaxArgs: 16, MaxQuery: 64 << 10, MaxInline: 16 << 10, PreAuth: true}
)

func (l Limits) withDefaults() Limits {
	if l.MaxBulk <= 0 {
		l.MaxBulk = DefaultLimits.MaxBulk
	}
	if l.MaxArgs <= 0 {
		l.MaxArgs = DefaultLimits.MaxArgs
	}
	if l.MaxQuery <= 0 {
		l.MaxQuery = DefaultLimits.MaxQuery
	}
	if l.MaxInline <= 0 {
		l.MaxInline = DefaultLimits.MaxInline
	}
	return l
}

// ProtocolError is a malformed or over-limit request. The server replies with
// it (prefixed "ERR Protocol error: ") and closes the connection, as Redis does.
type ProtocolError struct{ Msg string }

func (e *ProtocolError) Error() string { return "Protocol error: " + e.Msg }

func protoErr(format string, a ...any) error {
	return &ProtocolError{Msg: fmt.Sprintf(format, a...)}
}

// IsProtocolError reports whether err is a ProtocolError.
func IsProtocolError(err error) bool {
	var pe *ProtocolError
	return errors.As(err, &pe)
}

const minBuf = 16 << 10

// maxIdleBuf is the largest buffer kept once everything received has been
// parsed; a buffer grown by one huge command is dropped then, so a connection
// does not hold on to it for its whole life.
const maxIdleBuf = 1 << 20

// Reader parses commands from a stream. Arguments returned by ReadCommand are
// slices of the reader's buffer and stay valid until the next call.
type Reader struct {
	rd     io.Reader
	buf    []byte
	start  int // first byte of the command being parsed
	pos    int // parse position
	end    int // end of valid data
	lim    Limits
	offs   []int // start,end pairs of parsed arguments (offsets survive buffer moves)
	args   [][]byte
	nargs  int  // declared argument count of the multibulk being parsed; -1 none
	inBulk bool // parsing a multibulk command
	bulk   int  // declared length of the bulk being read; -1 when at a header
}

// NewReader returns a reader with the given limits.
func NewReader(rd io.Reader, lim Limits) *Reader {
	return &Reader{rd: rd, buf: make([]byte, minBuf), lim: lim.withDefaults(), nargs: -1, bulk: -1}
}

// SetInput makes the reader read from rd from now on; what it buffered
// stays (a connection moved from one way of serving to another).
func (r *Reader) SetInput(rd io.Reader) { r.rd = rd }

// SetLimits changes the limits (e.g. after AUTH).
func (r *Reader) SetLimits(lim Limits) { r.lim = lim.withDefaults() }

// Buffered returns the number of received bytes not yet consumed. The server
// flushes its replies when this is zero, which batches replies to pipelines.
func (r *Reader) Buffered() int { return r.end - r.start }

// ReadCommand returns the next command's arguments. An empty inline line is
// skipped. It returns io.EOF at a clean end of stream and a *ProtocolError for
// malformed or over-limit input.
func (r *Reader) ReadCommand() ([][]byte, error) {
	for {
		args, done, err := r.parse()
		if err != nil {
			return nil, err
		}
		if done {
			if len(args) == 0 { // empty inline line
				continue
			}
			return args, nil
		}
		if err := r.fill(); err != nil {
			if err == io.EOF && r.end > r.start {
				return nil, io.ErrUnexpectedEOF
			}
			return nil, err
		}
	}
}

// Next returns the next command from the data already received, without
// reading: ok is false when no whole command is buffered. An event loop calls
// it until then, and Fill when the socket is readable.
func (r *Reader) Next() (args [][]byte, ok bool, err error) {
	for {
		args, done, err := r.parse()
		if err != nil || !done {
			return nil, false, err
		}
		if len(args) > 0 { // an empty inline line is skipped
			return args, true, nil
		}
	}
}

// Peek calls fn with the arguments of the whole multibulk commands buffered
// after what Next returned, up to max of them, without consuming them (the
// arguments are valid during fn only). It stops at the first inline command:
// parsing one unquotes it in place.
func (r *Reader) Peek(max int, fn func(args [][]byte)) {
	if r.inBulk {
		return
	}
	start, pos := r.start, r.pos
	defer func() { r.start, r.pos, r.inBulk, r.nargs, r.bulk = start, pos, false, -1, -1 }()
	for range max {
		if r.pos >= r.end || r.buf[r.pos] != '*' {
			return
		}
		args, done, err := r.parse()
		if err != nil || !done {
			return
		}
		if len(args) > 0 {
			fn(args)
		}
	}
}

// Fill reads from the stream once, into the buffer (growing it up to
// MaxQuery for a command longer than the buffer).
func (r *Reader) Fill() error { return r.fill() }

// fill reads more data, making room by moving the current command to the front
// of the buffer or by growing the buffer up to MaxQuery.
func (r *Reader) fill() error {
	if r.start == r.end && !r.inBulk {
		r.start, r.pos, r.end = 0, 0, 0
		if len(r.buf) > maxIdleBuf {
			r.buf = make([]byte, minBuf)
			r.args, r.offs = nil, nil // they may point into (or be as big as) the old buffer
		}
	}
	if r.end == len(r.buf) {
		if r.start > 0 {
			n := copy(r.buf, r.buf[r.start:r.end])
			r.shift(r.start)
			r.end = n
		} else {
			if len(r.buf) >= r.lim.MaxQuery {
				return protoErr("query buffer limit exceeded")
			}
			nb := make([]byte, min(2*len(r.buf), r.lim.MaxQuery))
			copy(nb, r.buf[:r.end])
			r.buf = nb
		}
	}
	n, err := r.rd.Read(r.buf[r.end:])
	r.end += n
	if n > 0 {
		return nil
	}
	if err == nil {
		err = io.ErrNoProgress
	}
	return err
}

func (r *Reader) shift(d int) {
	r.start -= d
	r.pos -= d
	for i := range r.offs {
		r.offs[i] -= d
	}
}

// parse advances over buffered data. done is false when more data is needed.
func (r *Reader) parse() (args [][]byte, done bool, err error) {
	if !r.inBulk {
		if r.pos >= r.end {
			return nil, false, nil
		}
		if r.buf[r.pos] != '*' {
			return r.parseInline()
		}
		line, ok, err := r.line(r.lim.MaxInline)
		if !ok || err != nil {
			return nil, false, err
		}
		n, ok := parseInt(line[1:])
		if !ok || n > int64(r.lim.MaxArgs) {
			if ok && r.lim.PreAuth {
				return nil, false, protoErr("unauthenticated multibulk length")
			}
			return nil, false, protoErr("invalid multibulk length")
		}
		if n <= 0 {
			r.consume()
			return nil, true, nil // "*0" and "*-1" are ignored, as Redis does
		}
		r.inBulk, r.nargs, r.bulk = true, int(n), -1
		r.offs = r.offs[:0]
	}
	for len(r.offs)/2 < r.nargs {
		if r.bulk < 0 {
			if r.pos >= r.end {
				return nil, false, nil
			}
			if r.buf[r.pos] != '$' {
				return nil, false, protoErr("expected '$', got '%c'", r.buf[r.pos])
			}
			line, ok, err := r.line(r.lim.MaxInline)
			if !ok || err != nil {
				return nil, false, err
			}
			n, ok := parseInt(line[1:])
			if !ok || n < 0 || n > int64(r.lim.MaxBulk) {
				if ok && n >= 0 && r.lim.PreAuth {
					return nil, false, protoErr("unauthenticated bulk length")
				}
				return nil, false, protoErr("invalid bulk length")
			}
			r.bulk = int(n)
			// Checked whether or not the bulk is already buffered, so that
			// a command is refused the same however it is split into reads.
			if r.pos-r.start+r.bulk+2 > r.lim.MaxQuery {
				return nil, false, protoErr("query buffer limit exceeded")
			}
		}
		if r.end-r.pos < r.bulk+2 {
			return nil, false, nil
		}
		if r.buf[r.pos+r.bulk] != '\r' || r.buf[r.pos+r.bulk+1] != '\n' {
			return nil, false, protoErr("bulk not terminated by CRLF")
		}
		r.offs = append(r.offs, r.pos, r.pos+r.bulk)
		r.pos += r.bulk + 2
		r.bulk = -1
	}
	args = r.args[:0]
	for i := 0; i < len(r.offs); i += 2 {
		args = append(args, r.buf[r.offs[i]:r.offs[i+1]])
	}
	r.args = args
	r.inBulk = false
	r.consume()
	return args, true, nil
}

// consume marks the command ending at pos as read.
func (r *Reader) consume() { r.start = r.pos }

// line returns the next CRLF-terminated line (without CRLF) and advances past
// it. The line may have max bytes before its CRLF, however it is split into
// reads.
func (r *Reader) line(max int) ([]byte, bool, error) {
	i := bytes.IndexByte(r.buf[r.pos:min(r.end, r.pos+max+2)], '\n')
	if i < 0 {
		if r.end-r.pos > max+1 {
			return nil, false, protoErr("too big header")
		}
		return nil, false, nil
	}
	i += r.pos
	if i == r.pos || r.buf[i-1] != '\r' {
		return nil, false, protoErr("line not terminated by CRLF")
	}
	l := r.buf[r.pos : i-1]
	r.pos = i + 1
	return l, true, nil
}

// parseInline parses a space-separated command line, with Redis' quoting
// ("..." with escapes and '...'). Unquoting happens in place.
func (r *Reader) parseInline() ([][]byte, bool, error) {
	// A line may have at most MaxInline bytes before its LF (a CR included).
	// The LF is looked for only that far, so a longer line is refused however
	// it is split into reads.
	nl := bytes.IndexByte(r.buf[r.pos:min(r.end, r.pos+r.lim.MaxInline+1)], '\n')
	if nl < 0 {
		if r.end-r.pos > r.lim.MaxInline {
			return nil, false, protoErr("too big inline request")
		}
		return nil, false, nil
	}
	nl += r.pos
	line := r.buf[r.pos:nl]
	if len(line) > 0 && line[len(line)-1] == '\r' {
		line = line[:len(line)-1]
	}
	r.pos = nl + 1
	args, err := splitInline(line, r.args[:0], r.lim.MaxArgs)
	if err != nil {
		return nil, false, err
	}
	r.args = args
	r.consume()
	return args, true, nil
}

// splitInline splits line into arguments in place, as Redis' sdssplitargs
// does: arguments are separated by blanks; "..." (with \n, \r, \t, \b, \a,
// \xHH and \<any> escapes) and '...' (with only \' as an escape) quote, also in
// the middle of an argument (a"b c" is the one argument "ab c"); a closing
// quote must be followed by a blank or the end of the line. sdssplitargs works
// on a C string, so a NUL byte ends the line.
func splitInline(line []byte, args [][]byte, maxArgs int) ([][]byte, error) {
	if i := bytes.IndexByte(line, 0); i >= 0 {
		line = line[:i]
	}
	// at returns the byte at i, or 0 (the C string's terminator) past the end.
	at := func(i int) byte {
		if i < len(line) {
			return line[i]
		}
		return 0
	}
	p := 0
	for {
		for p < len(line) && isSpace(line[p]) {
			p++
		}
		if p >= len(line) {
			return args, nil
		}
		if len(args) >= maxArgs {
			return nil, protoErr("invalid multibulk length")
		}
		// Unquoting never makes an argument longer, so it is written over
		// its source: dst <= p throughout.
		start, dst := p, p
		inq, insq := false, false
		for done := false; !done; {
			c := at(p)
			switch {
			case inq:
				switch {
				case c == '\\' && at(p+1) == 'x' && isHex(at(p+2)) && isHex(at(p+3)):
					line[dst] = hexVal(line[p+2])<<4 | hexVal(line[p+3])
					dst++
					p += 3
				case c == '\\' && at(p+1) != 0:
					p++
					switch c = line[p]; c {
					case 'n':
						c = '\n'
					case 'r':
						c = '\r'
					case 't':
						c = '\t'
					case 'b':
						c = '\b'
					case 'a':
						c = '\a'
					}
					line[dst] = c
					dst++
				case c == '"':
					if n := at(p + 1); n != 0 && !isSpace(n) {
						return nil, protoErr("unbalanced quotes in request")
					}
					done = true
				case c == 0:
					return nil, protoErr("unbalanced quotes in request")
				default:
					line[dst] = c
					dst++
				}
			case insq:
				switch {
				case c == '\\' && at(p+1) == '\'':
					p++
					line[dst] = '\''
					dst++
				case c == '\'':
					if n := at(p + 1); n != 0 && !isSpace(n) {
						return nil, protoErr("unbalanced quotes in request")
					}
					done = true
				case c == 0:
					return nil, protoErr("unbalanced quotes in request")
				default:
					line[dst] = c
					dst++
				}
			default:
				switch c {
				case ' ', '\n', '\r', '\t', 0:
					done = true
				case '"':
					inq = true
				case '\'':
					insq = true
				default:
					line[dst] = c
					dst++
				}
			}
			if p < len(line) {
				p++
			}
		}
		args = append(args, line[start:dst])
	}
}

func isSpace(c byte) bool {
	return c == ' ' || c == '\t' || c == '\r' || c == '\n' || c == '\v' || c == '\f'
}

func isHex(c byte) bool {
	return (c >= '0' && c <= '9') || (c|0x20 >= 'a' && c|0x20 <= 'f')
}

func hexVal(c byte) byte {
	if c <= '9' {
		return c - '0'
	}
	return c | 0x20 - 'a' + 10
}

// parseInt parses a decimal int64 without allocating.
func parseInt(b []byte) (int64, bool) {
	if len(b) == 0 || len(b) > 20 {
		return 0, false
	}
	neg := false
	if b[0] == '-' {
		neg, b = true, b[1:]
		if len(b) == 0 {
			return 0, false
		}
	}
	var n int64
	for _, c := range b {
		if c < '0' || c > '9' {
			return 0, false
		}
		d := int64(c - '0')
		if n > (1<<63-1-d)/10 {
			return 0, false
		}
		n = n*10 + d
	}
	if neg {
		n = -n
	}
	return n, true
}
