package resp

import (
	"bytes"
	"errors"
	"math"
	"strings"
	"testing"
)

func TestWriterMethods(t *testing.T) {
	for _, tc := range []struct {
		name         string
		write        func(w *Writer)
		resp2, resp3 string
	}{
		{"Simple", func(w *Writer) { w.Simple("PONG") }, "+PONG\r\n", "+PONG\r\n"},
		{"OK", func(w *Writer) { w.OK() }, "+OK\r\n", "+OK\r\n"},
		{"Error", func(w *Writer) { w.Error("ERR unknown command") }, "-ERR unknown command\r\n", "-ERR unknown command\r\n"},
		{"Error sanitised", func(w *Writer) { w.Error("ERR a\r\nb\rc\nd\r\n") }, "-ERR a  b c d  \r\n", "-ERR a  b c d  \r\n"},
		{"Int", func(w *Writer) { w.Int(42) }, ":42\r\n", ":42\r\n"},
		{"Int negative", func(w *Writer) { w.Int(math.MinInt64) }, ":-9223372036854775808\r\n", ":-9223372036854775808\r\n"},
		{"Bulk", func(w *Writer) { w.Bulk([]byte("a\r\nb")) }, "$4\r\na\r\nb\r\n", "$4\r\na\r\nb\r\n"},
		{"Bulk empty", func(w *Writer) { w.Bulk(nil) }, "$0\r\n\r\n", "$0\r\n\r\n"},
		{"BulkString", func(w *Writer) { w.BulkString("hello") }, "$5\r\nhello\r\n", "$5\r\nhello\r\n"},
		{"BulkInt", func(w *Writer) { w.BulkInt(-17) }, "$3\r\n-17\r\n", "$3\r\n-17\r\n"},
		{"Null", func(w *Writer) { w.Null() }, "$-1\r\n", "_\r\n"},
		{"NullArray", func(w *Writer) { w.NullArray() }, "*-1\r\n", "_\r\n"},
		{"Array", func(w *Writer) { w.Array(2); w.Int(1); w.BulkString("x") }, "*2\r\n:1\r\n$1\r\nx\r\n", "*2\r\n:1\r\n$1\r\nx\r\n"},
		{"Array empty", func(w *Writer) { w.Array(0) }, "*0\r\n", "*0\r\n"},
		{"Map", func(w *Writer) { w.Map(1); w.BulkString("k"); w.Int(1) }, "*2\r\n$1\r\nk\r\n:1\r\n", "%1\r\n$1\r\nk\r\n:1\r\n"},
		{"Map empty", func(w *Writer) { w.Map(0) }, "*0\r\n", "%0\r\n"},
		{"Set", func(w *Writer) { w.Set(2); w.BulkString("a"); w.BulkString("b") }, "*2\r\n$1\r\na\r\n$1\r\nb\r\n", "~2\r\n$1\r\na\r\n$1\r\nb\r\n"},
		{"Push", func(w *Writer) { w.Push(2); w.BulkString("message"); w.BulkString("m") },
			"*2\r\n$7\r\nmessage\r\n$1\r\nm\r\n", ">2\r\n$7\r\nmessage\r\n$1\r\nm\r\n"},
		{"Double", func(w *Writer) { w.Double(1.5) }, "$3\r\n1.5\r\n", ",1.5\r\n"},
		{"Double integral", func(w *Writer) { w.Double(3) }, "$1\r\n3\r\n", ",3\r\n"},
		{"Double inf", func(w *Writer) { w.Double(math.Inf(1)) }, "$3\r\ninf\r\n", ",inf\r\n"},
		{"Double -inf", func(w *Writer) { w.Double(math.Inf(-1)) }, "$4\r\n-inf\r\n", ",-inf\r\n"},
		{"Double nan", func(w *Writer) { w.Double(math.NaN()) }, "$3\r\nnan\r\n", ",nan\r\n"},
		{"Bool true", func(w *Writer) { w.Bool(true) }, ":1\r\n", "#t\r\n"},
		{"Bool false", func(w *Writer) { w.Bool(false) }, ":0\r\n", "#f\r\n"},
		{"Verbatim", func(w *Writer) { w.Verbatim("# Server\r\nx:1") }, "$13\r\n# Server\r\nx:1\r\n", "=17\r\ntxt:# Server\r\nx:1\r\n"},
		{"Verbatim empty", func(w *Writer) { w.Verbatim("") }, "$0\r\n\r\n", "=4\r\ntxt:\r\n"},
		{"Raw", func(w *Writer) { w.Raw([]byte("+RAW\r\n")) }, "+RAW\r\n", "+RAW\r\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			for proto, want := range map[int]string{2: tc.resp2, 3: tc.resp3} {
				var out bytes.Buffer
				w := NewWriter(&out)
				w.Proto = proto
				tc.write(w)
				if err := w.Flush(); err != nil {
					t.Fatal(err)
				}
				if out.String() != want {
					t.Errorf("RESP%d: got %q, want %q", proto, out.String(), want)
				}
			}
		})
	}
}

func TestWriterDefaultProto(t *testing.T) {
	if w := NewWriter(nil); w.Proto != 2 {
		t.Fatalf("Proto = %d, want 2", w.Proto)
	}
}

func TestAppendFloat(t *testing.T) {
	// Variables, so that the sums are computed in float64 and not folded
	// as exact constants.
	a, b, c, d := 10.5, 0.1, 0.1, 0.2
	for _, tc := range []struct {
		f    float64
		want string
	}{
		{1.5, "1.5"},
		{a + b, "10.6"},
		{c + d, "0.30000000000000004"}, // shortest round-trip digits
		{3e20, "300000000000000000000"},
		{1e21, "1000000000000000000000"},
		{-3e20, "-300000000000000000000"},
		{1e-5, "0.00001"},
		{0, "0"},
		{5, "5"},
		{-2.5, "-2.5"},
		{123456789, "123456789"},
		// Shortest digits that round-trip, padded with zeros; Redis' %.17Lf
		// would print the exact value 9223372036854775808.
		{1 << 63, "9223372036854776000"},
		{math.Inf(1), "inf"},
		{math.Inf(-1), "-inf"},
		{math.NaN(), "nan"},
	} {
		if got := string(AppendFloat(nil, tc.f)); got != tc.want {
			t.Errorf("AppendFloat(%v) = %q, want %q", tc.f, got, tc.want)
		}
	}
	if got := string(AppendFloat([]byte("x="), 2.25)); got != "x=2.25" {
		t.Errorf("AppendFloat does not append: %q", got)
	}
	// The largest double, printed in full without exponent.
	if got := string(AppendFloat(nil, math.MaxFloat64)); len(got) != 309 || strings.ContainsAny(got, "e.") {
		t.Errorf("AppendFloat(MaxFloat64) = %q", got)
	}
}

// recWriter records the writes it receives.
type recWriter struct {
	writes []string
	err    error
}

func (r *recWriter) Write(p []byte) (int, error) {
	if r.err != nil {
		return 0, r.err
	}
	r.writes = append(r.writes, string(p))
	return len(p), nil
}

func TestWriterFlush(t *testing.T) {
	rec := &recWriter{}
	w := NewWriter(rec)
	if err := w.Flush(); err != nil || len(rec.writes) != 0 {
		t.Fatalf("empty Flush: %v, %d writes", err, len(rec.writes))
	}
	w.OK()
	w.Int(1)
	if len(rec.writes) != 0 {
		t.Fatal("small replies written before Flush")
	}
	if w.Buffered() != len("+OK\r\n:1\r\n") {
		t.Fatalf("Buffered() = %d", w.Buffered())
	}
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
	if len(rec.writes) != 1 || rec.writes[0] != "+OK\r\n:1\r\n" || w.Buffered() != 0 {
		t.Fatalf("writes %q, Buffered() = %d", rec.writes, w.Buffered())
	}
	if err := w.Flush(); err != nil || len(rec.writes) != 1 {
		t.Fatal("second Flush wrote again")
	}
}

// TestWriterAutoFlush checks that every kind of reply flushes once flushAt
// bytes are buffered, so a long pipeline does not grow the buffer unbounded.
func TestWriterAutoFlush(t *testing.T) {
	for name, write := range map[string]func(w *Writer){
		"Simple":     func(w *Writer) { w.Simple("PONG") },
		"Error":      func(w *Writer) { w.Error("ERR x") },
		"Int":        func(w *Writer) { w.Int(1) },
		"Bulk":       func(w *Writer) { w.Bulk([]byte("v")) },
		"BulkString": func(w *Writer) { w.BulkString("v") },
		"BulkInt":    func(w *Writer) { w.BulkInt(7) },
		"Null":       func(w *Writer) { w.Null() },
		"NullArray":  func(w *Writer) { w.NullArray() },
		"Double":     func(w *Writer) { w.Double(1.5) },
		"Bool":       func(w *Writer) { w.Bool(true) },
		"Verbatim":   func(w *Writer) { w.Verbatim("v") },
		"Raw":        func(w *Writer) { w.Raw([]byte("+x\r\n")) },
	} {
		for _, proto := range []int{2, 3} {
			rec := &recWriter{}
			w := NewWriter(rec)
			w.Proto = proto
			for range 2 * flushAt {
				write(w)
				if w.Buffered() > flushAt+64 {
					t.Fatalf("%s RESP%d: %d bytes buffered", name, proto, w.Buffered())
				}
			}
			if len(rec.writes) == 0 {
				t.Fatalf("%s RESP%d: never flushed", name, proto)
			}
		}
	}
	// One large reply is flushed at once and its buffer is not kept.
	rec := &recWriter{}
	w := NewWriter(rec)
	big := bytes.Repeat([]byte("x"), 1<<20)
	w.Bulk(big)
	if len(rec.writes) != 1 || len(rec.writes[0]) != len(big)+len("$1048576\r\n\r\n") || w.Buffered() != 0 {
		t.Fatalf("big reply: %d writes, %d buffered", len(rec.writes), w.Buffered())
	}
	if cap(w.buf) > 4*flushAt {
		t.Fatalf("buffer of %d bytes kept after a big reply", cap(w.buf))
	}
}

func TestWriterStickyError(t *testing.T) {
	boom := errors.New("boom")
	rec := &recWriter{}
	w := NewWriter(rec)
	w.OK()
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
	rec.err = boom
	w.OK()
	if err := w.Flush(); err != boom || w.Err() != boom {
		t.Fatalf("Flush = %v, Err = %v; want boom", err, w.Err())
	}
	rec.err = nil // the connection "recovers": the error must stay
	w.OK()
	if err := w.Flush(); err != boom {
		t.Fatalf("after an error, Flush = %v", err)
	}
	w.Bulk(make([]byte, 2*flushAt)) // auto-flush path
	if err := w.Flush(); err != boom || len(rec.writes) != 1 {
		t.Fatalf("Flush = %v, %d writes; want boom and no write after the error", err, len(rec.writes))
	}
	if w.Buffered() != 0 {
		t.Fatalf("%d bytes kept after a failed flush", w.Buffered())
	}
}

func TestWriterZeroAllocs(t *testing.T) {
	w := NewWriter(&recWriter{})
	w.Proto = 3
	val := []byte("value")
	a := testing.AllocsPerRun(1000, func() {
		w.Array(3)
		w.Bulk(val)
		w.Int(12345)
		w.Double(10.6)
		w.Null()
		w.Bool(true)
		w.Map(1)
		w.BulkString("k")
		w.Verbatim("v")
		w.Error("ERR x")
		w.buf = w.buf[:0]
	})
	if a != 0 {
		t.Fatalf("%v allocations", a)
	}
}

// TestWriterInsertAt checks that bytes go before the reply that started at a
// mark while it is buffered, and are refused once it was flushed.
func TestWriterInsertAt(t *testing.T) {
	var out bytes.Buffer
	w := NewWriter(&out)
	w.Simple("first")
	mark := w.Mark()
	w.OK()
	if !w.InsertAt(mark, []byte(">push\r\n")) {
		t.Fatal("InsertAt refused a buffered position")
	}
	w.Flush()
	if got, want := out.String(), "+first\r\n>push\r\n+OK\r\n"; got != want {
		t.Fatalf("got %q, want %q", got, want)
	}
	if w.Mark() != int64(out.Len()) {
		t.Fatalf("Mark %d after flushing %d bytes", w.Mark(), out.Len())
	}
	// At the end of the buffer: an append.
	mark = w.Mark()
	if !w.InsertAt(mark, []byte("x")) {
		t.Fatal("InsertAt refused the end")
	}
	// A reply flushed past the mark (a large one flushes on its own).
	mark = w.Mark()
	w.Bulk(make([]byte, flushAt))
	if w.InsertAt(mark, []byte(">late\r\n")) {
		t.Fatal("InsertAt accepted a flushed position")
	}
	w.Flush()
	if strings.Contains(out.String(), "late") {
		t.Fatal("refused bytes were written")
	}
}
