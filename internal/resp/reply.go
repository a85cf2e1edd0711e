package resp

import (
	"bufio"
	"fmt"
	"io"
	"strconv"
)

// Value is a parsed reply. Kind is the RESP type byte ('+', '-', ':', '$',
// '*', '%', '~', '>', '_', ',', '#', '=', '(', '|'). Null bulk strings and
// arrays have Null set.
type Value struct {
	Kind  byte
	Str   []byte  // simple, error, bulk, verbatim, double, big number
	Int   int64   // integer, boolean (0/1)
	Elems []Value // array, set, push; map: key, value, key, value...
	Null  bool
}

// String renders v compactly, for test failures and tools.
func (v Value) String() string {
	switch {
	case v.Null:
		return "(nil)"
	case v.Kind == ':' || v.Kind == '#':
		return strconv.FormatInt(v.Int, 10)
	case v.Kind == '-':
		return "(error) " + string(v.Str)
	case v.Kind == '*' || v.Kind == '%' || v.Kind == '~' || v.Kind == '>':
		s := "["
		for i, e := range v.Elems {
			if i > 0 {
				s += " "
			}
			s += e.String()
		}
		return s + "]"
	}
	return strconv.Quote(string(v.Str))
}

// ReplyReader parses replies (the client side of the protocol). It bounds
// nesting and sizes so that it is safe on untrusted input.
type ReplyReader struct {
	br       *bufio.Reader
	MaxBulk  int
	MaxElems int
	MaxDepth int
}

// NewReplyReader returns a reader with generous default bounds.
func NewReplyReader(r io.Reader) *ReplyReader {
	return &ReplyReader{br: bufio.NewReaderSize(r, 32<<10), MaxBulk: 512 << 20, MaxElems: 1 << 24, MaxDepth: 64}
}

// ReadReply reads one reply. It returns io.EOF only at a clean end of stream.
func (r *ReplyReader) ReadReply() (Value, error) { return r.read(0) }

func (r *ReplyReader) read(depth int) (Value, error) {
	if depth > r.MaxDepth {
		return Value{}, fmt.Errorf("reply nested too deeply")
	}
	line, err := r.line()
	if err != nil {
		return Value{}, err
	}
	if len(line) == 0 {
		return Value{}, fmt.Errorf("empty reply line")
	}
	v := Value{Kind: line[0]}
	body := line[1:]
	switch v.Kind {
	case '+', '-', ',', '(':
		v.Str = append([]byte(nil), body...)
	case ':':
		n, ok := parseInt(body)
		if !ok {
			return v, fmt.Errorf("bad integer %q", body)
		}
		v.Int = n
	case '#':
		switch string(body) {
		case "t":
			v.Int = 1
		case "f":
		default:
			return v, fmt.Errorf("bad boolean %q", body)
		}
	case '_':
		v.Null = true
	case '$', '=', '!':
		n, ok := parseInt(body)
		if !ok || n < -1 || n > int64(r.MaxBulk) {
			return v, fmt.Errorf("bad bulk length %q", body)
		}
		if n == -1 {
			v.Null = true
			return v, nil
		}
		buf := make([]byte, n+2)
		if _, err := io.ReadFull(r.br, buf); err != nil {
			return v, noEOF(err)
		}
		if buf[n] != '\r' || buf[n+1] != '\n' {
			return v, fmt.Errorf("bulk not terminated by CRLF")
		}
		v.Str = buf[:n]
		if v.Kind == '!' {
			v.Kind = '-'
		}
	case '*', '%', '~', '>', '|':
		n, ok := parseInt(body)
		if !ok || n < -1 || n > int64(r.MaxElems) {
			return v, fmt.Errorf("bad aggregate length %q", body)
		}
		if n == -1 {
			v.Null = true
			return v, nil
		}
		if v.Kind == '%' || v.Kind == '|' {
			n *= 2
		}
		v.Elems = make([]Value, 0, min(n, 1024))
		for i := int64(0); i < n; i++ {
			e, err := r.read(depth + 1)
			if err != nil {
				return v, noEOF(err)
			}
			v.Elems = append(v.Elems, e)
		}
		if v.Kind == '|' { // attributes precede the reply they annotate
			return r.read(depth)
		}
	default:
		return v, fmt.Errorf("unknown reply type %q", v.Kind)
	}
	return v, nil
}

func (r *ReplyReader) line() ([]byte, error) {
	line, err := r.br.ReadSlice('\n')
	if err != nil {
		if err == bufio.ErrBufferFull {
			return nil, fmt.Errorf("reply line too long")
		}
		if err == io.EOF && len(line) > 0 {
			return nil, io.ErrUnexpectedEOF
		}
		return nil, err
	}
	if len(line) < 2 || line[len(line)-2] != '\r' {
		return nil, fmt.Errorf("reply line not terminated by CRLF")
	}
	return line[:len(line)-2], nil
}

func noEOF(err error) error {
	if err == io.EOF {
		return io.ErrUnexpectedEOF
	}
	return err
}
