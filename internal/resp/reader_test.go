package resp

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"reflect"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"testing/iotest"
)

// chunkReader returns its chunks one per Read (a chunk longer than the read
// buffer is returned over several reads), then io.EOF.
type chunkReader struct{ chunks [][]byte }

func (c *chunkReader) Read(p []byte) (int, error) {
	for len(c.chunks) > 0 && len(c.chunks[0]) == 0 {
		c.chunks = c.chunks[1:]
	}
	if len(c.chunks) == 0 {
		return 0, io.EOF
	}
	n := copy(p, c.chunks[0])
	c.chunks[0] = c.chunks[0][n:]
	return n, nil
}

// splitEvery returns data cut into pieces of n bytes.
func splitEvery(data []byte, n int) [][]byte {
	var out [][]byte
	for len(data) > n {
		out = append(out, data[:n])
		data = data[n:]
	}
	return append(out, data)
}

// readAll reads commands until an error, copying the arguments (they are only
// valid until the next call).
func readAll(r *Reader) ([][]string, error) {
	var cmds [][]string
	for {
		args, err := r.ReadCommand()
		if err != nil {
			return cmds, err
		}
		cmds = append(cmds, strs(args))
	}
}

func parseAll(data string, lim Limits) ([][]string, error) {
	return readAll(NewReader(strings.NewReader(data), lim))
}

// multibulk encodes args as a RESP array of bulk strings.
func multibulk(args ...string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "*%d\r\n", len(args))
	for _, a := range args {
		fmt.Fprintf(&b, "$%d\r\n%s\r\n", len(a), a)
	}
	return b.String()
}

func cmds(c ...[]string) [][]string { return c }
func cmd(args ...string) []string   { return args }

var validStreams = []struct {
	name string
	in   string
	want [][]string
}{
	{"set", "*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$1\r\nv\r\n", cmds(cmd("SET", "k", "v"))},
	{"single", "*1\r\n$4\r\nPING\r\n", cmds(cmd("PING"))},
	{"empty bulk", "*2\r\n$3\r\nGET\r\n$0\r\n\r\n", cmds(cmd("GET", ""))},
	{"binary bulk", "*2\r\n$4\r\nECHO\r\n$6\r\n\r\n\x00\xff*$\r\n", cmds(cmd("ECHO", "\r\n\x00\xff*$"))},
	{"bulk with spaces and quotes", "*1\r\n$7\r\na \"b\" '\r\n", cmds(cmd("a \"b\" '"))},
	{"pipelined", "*1\r\n$4\r\nPING\r\n*2\r\n$4\r\nECHO\r\n$2\r\nhi\r\n*3\r\n$3\r\nSET\r\n$1\r\na\r\n$1\r\nb\r\n",
		cmds(cmd("PING"), cmd("ECHO", "hi"), cmd("SET", "a", "b"))},
	{"zero and negative counts ignored", "*0\r\n*-1\r\n*-100\r\n*1\r\n$4\r\nPING\r\n*0\r\n", cmds(cmd("PING"))},
	{"only ignored", "*0\r\n*-1\r\n", nil},
	{"empty", "", nil},
	{"inline", "PING\r\n", cmds(cmd("PING"))},
	{"inline LF only", "PING\n", cmds(cmd("PING"))},
	{"inline blanks", "  SET \t a   b \r\n", cmds(cmd("SET", "a", "b"))},
	{"inline empty lines skipped", "\r\n\n   \r\n\t\nPING\r\n\r\n", cmds(cmd("PING"))},
	{"inline and multibulk mixed", "PING\r\n*2\r\n$4\r\nECHO\r\n$1\r\nx\r\nGET a\nDEL b c\r\n",
		cmds(cmd("PING"), cmd("ECHO", "x"), cmd("GET", "a"), cmd("DEL", "b", "c"))},
	{"inline quotes", "SET \"a b\" 'c d'\r\n", cmds(cmd("SET", "a b", "c d"))},
	{"inline escapes", `ECHO "\x41\n\r\t\b\a\"\\\q\x4a\x4B"` + "\r\n", cmds(cmd("ECHO", "A\n\r\t\b\a\"\\qJK"))},
	{"inline bad hex escapes", `ECHO "\x4" "\xZZ" "\x4g" "\x"` + "\r\n", cmds(cmd("ECHO", "x4", "xZZ", "x4g", "x"))},
	{"inline hex NUL", `ECHO "\x00a"` + "\n", cmds(cmd("ECHO", "\x00a"))},
	{"inline single quotes", `ECHO 'it\'s' '\n' 'a\\b' 'x"y'` + "\r\n", cmds(cmd("ECHO", "it's", `\n`, `a\\b`, `x"y`))},
	{"inline empty quoted", `SET "" ''` + "\r\n", cmds(cmd("SET", "", ""))},
	{"inline quote mid-argument", `SET a"b c"  x'y z'` + "\r\n", cmds(cmd("SET", "ab c", "xy z"))},
	{"inline quotes back to back need blank", "ECHO \"a\"\t'b'\v\"c\"\f'd'\r\n", cmds(cmd("ECHO", "a", "b", "c", "d"))},
	{"inline vt ff inside argument", "\vECHO a\vb\fc\v\r\n", cmds(cmd("ECHO", "a\vb\fc\v"))},
	{"inline CR mid-line separates", "ECHO a\rb\r\n", cmds(cmd("ECHO", "a", "b"))},
	{"inline NUL ends line", "ECHO a\x00b c\r\nPING\r\n", cmds(cmd("ECHO", "a"), cmd("PING"))},
	{"inline NUL at start", "\x00 ECHO\r\nPING\r\n", cmds(cmd("PING"))},
	{"inline star later is plain", "ECHO *1\r\n", cmds(cmd("ECHO", "*1"))},
	{"bulk length leading zeros", "*01\r\n$04\r\nPING\r\n", cmds(cmd("PING"))},
}

func TestReaderValid(t *testing.T) {
	for _, tc := range validStreams {
		t.Run(tc.name, func(t *testing.T) {
			got, err := parseAll(tc.in, DefaultLimits)
			if err != io.EOF {
				t.Fatalf("err = %v, want io.EOF", err)
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Fatalf("got %q, want %q", got, tc.want)
			}
		})
	}
}

// TestReaderSplit feeds every valid stream one byte per Read and cut in two at
// every byte boundary; the commands must not depend on how reads fall.
func TestReaderSplit(t *testing.T) {
	for _, tc := range validStreams {
		t.Run(tc.name, func(t *testing.T) {
			check := func(how string, rd io.Reader) {
				t.Helper()
				got, err := readAll(NewReader(rd, DefaultLimits))
				if err != io.EOF || !reflect.DeepEqual(got, tc.want) {
					t.Fatalf("%s: got %q, %v; want %q, EOF", how, got, err, tc.want)
				}
			}
			check("one byte per read", iotest.OneByteReader(strings.NewReader(tc.in)))
			check("half reads", iotest.HalfReader(strings.NewReader(tc.in)))
			check("data with EOF", iotest.DataErrReader(strings.NewReader(tc.in)))
			for k := 0; k <= len(tc.in); k++ {
				in := []byte(tc.in)
				check(fmt.Sprintf("split at %d", k), &chunkReader{chunks: [][]byte{in[:k], in[k:]}})
			}
		})
	}
}

func TestReaderBuffered(t *testing.T) {
	in := strings.Repeat(multibulk("SET", "k", "v"), 3)
	r := NewReader(strings.NewReader(in), DefaultLimits)
	for i := 0; i < 3; i++ {
		if _, err := r.ReadCommand(); err != nil {
			t.Fatal(err)
		}
		want := (2 - i) * len(multibulk("SET", "k", "v"))
		if r.Buffered() != want {
			t.Fatalf("after command %d: Buffered() = %d, want %d", i, r.Buffered(), want)
		}
	}
}

// TestReaderArgsAliasBuffer documents that arguments are slices of the
// reader's buffer, without a copy.
func TestReaderArgsAliasBuffer(t *testing.T) {
	r := NewReader(strings.NewReader(multibulk("GET", "key")), DefaultLimits)
	args, err := r.ReadCommand()
	if err != nil {
		t.Fatal(err)
	}
	if &args[1][0] != &r.buf[len("*2\r\n$3\r\nGET\r\n$3\r\n")] {
		t.Fatal("argument is not a slice of the reader's buffer")
	}
}

var errorCases = []struct {
	name string
	in   string
	lim  Limits
	want string // Protocol error message, without the "Protocol error: " prefix
	// byteWise is false for cases whose error depends on how much is
	// buffered at once (checked only with the whole input in one read).
	byteWise bool
}{
	{"multibulk not a number", "*abc\r\n", DefaultLimits, "invalid multibulk length", true},
	{"multibulk empty count", "*\r\n", DefaultLimits, "invalid multibulk length", true},
	{"multibulk count with plus", "*+1\r\n", DefaultLimits, "invalid multibulk length", true},
	{"multibulk count overflows", "*99999999999999999999\r\n", DefaultLimits, "invalid multibulk length", true},
	{"multibulk count over MaxArgs", "*1048577\r\n", DefaultLimits, "invalid multibulk length", true},
	{"multibulk count over small MaxArgs", "*4\r\n", Limits{MaxArgs: 3}, "invalid multibulk length", true},
	{"bulk length not a number", "*1\r\n$abc\r\n", DefaultLimits, "invalid bulk length", true},
	{"bulk length empty", "*1\r\n$\r\n", DefaultLimits, "invalid bulk length", true},
	{"bulk length negative", "*1\r\n$-1\r\n", DefaultLimits, "invalid bulk length", true},
	{"bulk length over MaxBulk", "*1\r\n$536870913\r\n", DefaultLimits, "invalid bulk length", true},
	{"bulk length 2GB", "*1\r\n$2147483648\r\n", DefaultLimits, "invalid bulk length", true},
	{"bulk length huge", "*1\r\n$99999999999999999999\r\n", DefaultLimits, "invalid bulk length", true},
	{"bulk not followed by CRLF", "*1\r\n$3\r\nabcXY", DefaultLimits, "bulk not terminated by CRLF", true},
	{"bulk followed by CR only", "*1\r\n$3\r\nabc\rX", DefaultLimits, "bulk not terminated by CRLF", true},
	{"bulk longer than declared", "*1\r\n$3\r\nabcd\r\n", DefaultLimits, "bulk not terminated by CRLF", true},
	{"multibulk header LF only", "*1\n", DefaultLimits, "line not terminated by CRLF", true},
	{"bulk header LF only", "*1\r\n$3\n", DefaultLimits, "line not terminated by CRLF", true},
	{"dollar expected", "*2\r\n$1\r\na\r\n:1\r\n", DefaultLimits, "expected '$', got ':'", true},
	{"dollar expected after header", "*1\r\nPING\r\n", DefaultLimits, "expected '$', got 'P'", true},
	{"too big multibulk header", "*" + strings.Repeat("1", 30), Limits{MaxInline: 20}, "too big header", true},
	{"too big bulk header", "*1\r\n$" + strings.Repeat("1", 30), Limits{MaxInline: 20}, "too big header", true},
	{"too big inline without newline", strings.Repeat("a", 65), Limits{MaxInline: 64}, "too big inline request", true},
	{"too big inline with newline", strings.Repeat("a", 65) + "\r\n", Limits{MaxInline: 64}, "too big inline request", true},
	{"too big inline default", strings.Repeat("a", 64<<10+1), DefaultLimits, "too big inline request", false},
	{"unbalanced double quote", "SET \"a b\r\n", DefaultLimits, "unbalanced quotes in request", true},
	{"unbalanced single quote", "SET 'a b\r\n", DefaultLimits, "unbalanced quotes in request", true},
	{"escaped closing quote", `SET "a\"` + "\r\n", DefaultLimits, "unbalanced quotes in request", true},
	{"backslash at end in quotes", `SET "a\` + "\r\n", DefaultLimits, "unbalanced quotes in request", true},
	{"closing quote followed by text", `SET "a"b` + "\r\n", DefaultLimits, "unbalanced quotes in request", true},
	{"closing single quote followed by text", `SET 'a'b` + "\r\n", DefaultLimits, "unbalanced quotes in request", true},
	{"raw NUL in quotes", "SET \"a\x00\"\r\n", DefaultLimits, "unbalanced quotes in request", true},
	{"too many inline args", "a b c d\r\n", Limits{MaxArgs: 3}, "invalid multibulk length", true},
	{"query buffer: declared bulk", "*1\r\n$2000\r\n", Limits{MaxQuery: 1000}, "query buffer limit exceeded", true},
	{"query buffer: second bulk", "*2\r\n$500\r\n" + strings.Repeat("x", 500) + "\r\n$500\r\n",
		Limits{MaxQuery: 1000}, "query buffer limit exceeded", true},
	{"query buffer: many small args", "*100000\r\n" + strings.Repeat("$1\r\nx\r\n", 10000),
		Limits{MaxQuery: 32 << 10}, "query buffer limit exceeded", true},
	{"pre-auth multibulk count", "*17\r\n", PreAuthLimits, "unauthenticated multibulk length", true},
	{"pre-auth bulk length", "*1\r\n$16385\r\n", PreAuthLimits, "unauthenticated bulk length", true},
	{"pre-auth negative bulk length", "*1\r\n$-1\r\n", PreAuthLimits, "invalid bulk length", true},
	{"pre-auth bad bulk length", "*1\r\n$x\r\n", PreAuthLimits, "invalid bulk length", true},
	{"pre-auth bad multibulk length", "*x\r\n", PreAuthLimits, "invalid multibulk length", true},
	{"error after valid commands", "PING\r\n*1\r\n$4\r\nPING\r\n*x\r\n", DefaultLimits, "invalid multibulk length", true},
}

func TestReaderErrors(t *testing.T) {
	for _, tc := range errorCases {
		t.Run(tc.name, func(t *testing.T) {
			check := func(how string, rd io.Reader) {
				t.Helper()
				_, err := readAll(NewReader(rd, tc.lim))
				var pe *ProtocolError
				if !errors.As(err, &pe) || !IsProtocolError(err) {
					t.Fatalf("%s: err = %v, want a ProtocolError", how, err)
				}
				if pe.Msg != tc.want || err.Error() != "Protocol error: "+tc.want {
					t.Fatalf("%s: err = %q, want %q", how, err, tc.want)
				}
			}
			check("whole", strings.NewReader(tc.in))
			if tc.byteWise {
				check("one byte per read", iotest.OneByteReader(strings.NewReader(tc.in)))
			}
		})
	}
}

// TestReaderErrorAfterCommands checks that the commands before a malformed one
// are returned first.
func TestReaderErrorAfterCommands(t *testing.T) {
	got, err := parseAll("PING\r\n*1\r\n$4\r\nPING\r\n*x\r\n", DefaultLimits)
	if !IsProtocolError(err) || !reflect.DeepEqual(got, cmds(cmd("PING"), cmd("PING"))) {
		t.Fatalf("got %q, %v", got, err)
	}
}

func TestReaderLimitBoundaries(t *testing.T) {
	// Limits do not depend on how the input is split into reads.
	parse := func(in string, lim Limits) (errs [2]error) {
		_, errs[0] = parseAll(in, lim)
		_, errs[1] = readAll(NewReader(iotest.OneByteReader(strings.NewReader(in)), lim))
		return errs
	}
	ok := func(in string, lim Limits) {
		t.Helper()
		for i, err := range parse(in, lim) {
			if err != io.EOF {
				t.Errorf("%.80q with %+v (bytewise=%v): %v", in, lim, i == 1, err)
			}
		}
	}
	bad := func(in string, lim Limits) {
		t.Helper()
		for i, err := range parse(in, lim) {
			if !IsProtocolError(err) {
				t.Errorf("%.80q with %+v (bytewise=%v): err = %v, want a protocol error", in, lim, i == 1, err)
			}
		}
	}
	// Headers may have MaxInline bytes before their CRLF.
	ok("*"+strings.Repeat("0", 18)+"1\r\n$1\r\nx\r\n", Limits{MaxInline: 20})
	bad("*"+strings.Repeat("0", 19)+"1\r\n$1\r\nx\r\n", Limits{MaxInline: 20})
	ok("*1\r\n$"+strings.Repeat("0", 18)+"1\r\nx\r\n", Limits{MaxInline: 20})
	bad("*1\r\n$"+strings.Repeat("0", 19)+"1\r\nx\r\n", Limits{MaxInline: 20})
	ok(multibulk("a", "b", "c"), Limits{MaxArgs: 3})
	bad(multibulk("a", "b", "c", "d"), Limits{MaxArgs: 3})
	ok("a b c\r\n", Limits{MaxArgs: 3})
	ok(multibulk(strings.Repeat("x", 10)), Limits{MaxBulk: 10})
	bad(multibulk(strings.Repeat("x", 11)), Limits{MaxBulk: 10})
	// MaxInline counts the bytes before the LF, a CR included.
	ok(strings.Repeat("a", 63)+"\r\n", Limits{MaxInline: 64})
	ok(strings.Repeat("a", 64)+"\n", Limits{MaxInline: 64})
	bad(strings.Repeat("a", 64)+"\r\n", Limits{MaxInline: 64})
	bad(strings.Repeat("a", 65)+"\n", Limits{MaxInline: 64})
	// The whole command (headers and CRLFs included) must fit in MaxQuery.
	c := multibulk(strings.Repeat("x", 100))
	ok(c, Limits{MaxQuery: len(c)})
	bad(c, Limits{MaxQuery: len(c) - 1})
	// Pre-auth: Redis' limits (16 arguments here, 16 KB bulks).
	ok(multibulk(make([]string, 16)...), PreAuthLimits)
	ok(multibulk(strings.Repeat("x", 16<<10)), PreAuthLimits)
	bad(multibulk(strings.Repeat("x", 16<<10+1)), PreAuthLimits)
}

func TestReaderSetLimits(t *testing.T) {
	in := multibulk(make([]string, 20)...)
	r := NewReader(strings.NewReader(in+in), PreAuthLimits)
	if _, err := r.ReadCommand(); err == nil || err.Error() != "Protocol error: unauthenticated multibulk length" {
		t.Fatalf("pre-auth: err = %v", err)
	}
	r = NewReader(strings.NewReader(multibulk("AUTH", "pw")+in), PreAuthLimits)
	if _, err := r.ReadCommand(); err != nil {
		t.Fatal(err)
	}
	r.SetLimits(Limits{}) // zero fields take the defaults
	if r.lim != DefaultLimits {
		t.Fatalf("limits = %+v, want defaults", r.lim)
	}
	if args, err := r.ReadCommand(); err != nil || len(args) != 20 {
		t.Fatalf("after SetLimits: %d args, %v", len(args), err)
	}
}

func TestReaderEOF(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want error
	}{
		{"", io.EOF},
		{"PING\r\n", io.EOF},
		{"PING", io.ErrUnexpectedEOF},
		{"*", io.ErrUnexpectedEOF},
		{"*1\r\n", io.ErrUnexpectedEOF},
		{"*1\r\n$3\r\nab", io.ErrUnexpectedEOF},
		{"*1\r\n$3\r\nabc\r", io.ErrUnexpectedEOF},
		{"*1\r\n$3\r\nabc\r\n*1", io.ErrUnexpectedEOF},
	} {
		for _, how := range []string{"whole", "bytes"} {
			var rd io.Reader = strings.NewReader(tc.in)
			if how == "bytes" {
				rd = iotest.OneByteReader(rd)
			}
			if _, err := readAll(NewReader(rd, DefaultLimits)); err != tc.want {
				t.Errorf("%q (%s): err = %v, want %v", tc.in, how, err, tc.want)
			}
		}
	}
}

type zeroReader struct{}

func (zeroReader) Read([]byte) (int, error) { return 0, nil }

func TestReaderReadErrors(t *testing.T) {
	boom := errors.New("boom")
	rd := io.MultiReader(strings.NewReader(multibulk("PING")+"*1\r\n"), iotest.ErrReader(boom))
	got, err := readAll(NewReader(rd, DefaultLimits))
	if err != boom || len(got) != 1 {
		t.Fatalf("got %q, %v; want one command and the read error", got, err)
	}
	if _, err := NewReader(zeroReader{}, DefaultLimits).ReadCommand(); err != io.ErrNoProgress {
		t.Fatalf("reader making no progress: err = %v", err)
	}
	if _, err := NewReader(iotest.TimeoutReader(strings.NewReader("PI")), DefaultLimits).ReadCommand(); err != iotest.ErrTimeout {
		t.Fatalf("err = %v, want timeout", err)
	}
}

// TestReaderInlineByteByByte feeds a maximal inline line one byte per read.
func TestReaderInlineByteByByte(t *testing.T) {
	line := "ECHO " + strings.Repeat("x", 64<<10-6) + "\r\n"
	got, err := readAll(NewReader(iotest.OneByteReader(strings.NewReader(line)), DefaultLimits))
	if err != io.EOF || len(got) != 1 || len(got[0][1]) != 64<<10-6 {
		t.Fatalf("got %d commands, %v", len(got), err)
	}
	line = "ECHO " + strings.Repeat("x", 64<<10-5) + "\r\n"
	_, err = readAll(NewReader(iotest.OneByteReader(strings.NewReader(line)), DefaultLimits))
	if err == nil || err.Error() != "Protocol error: too big inline request" {
		t.Fatalf("one byte over: err = %v", err)
	}
}

// TestReaderLargeBulk reads a bulk much larger than the initial buffer, with
// commands before and after it, then checks that the grown buffer is dropped
// once everything has been parsed.
func TestReaderLargeBulk(t *testing.T) {
	big := strings.Repeat("0123456789", 300_000) // 3 MB
	in := multibulk("SET", "k", "v") + multibulk("SET", "big", big) + multibulk("GET", "k")
	for _, how := range []string{"whole", "chunks"} {
		var rd io.Reader = strings.NewReader(in)
		if how == "chunks" {
			rd = &chunkReader{chunks: splitEvery([]byte(in), 1000)}
		}
		r := NewReader(rd, DefaultLimits)
		got, err := readAll(r)
		if err != io.EOF || len(got) != 3 || got[1][2] != big || !reflect.DeepEqual(got[2], cmd("GET", "k")) {
			t.Fatalf("%s: %d commands, %v", how, len(got), err)
		}
		if len(r.buf) > maxIdleBuf {
			t.Fatalf("%s: buffer of %d bytes kept after the big command", how, len(r.buf))
		}
	}
}

// patternReader yields header, then n copies of fill, then io.EOF, without
// allocating.
type patternReader struct {
	header []byte
	fill   byte
	n      int
}

func (p *patternReader) Read(b []byte) (int, error) {
	if len(p.header) > 0 {
		k := copy(b, p.header)
		p.header = p.header[k:]
		return k, nil
	}
	if p.n == 0 {
		return 0, io.EOF
	}
	k := min(len(b), p.n)
	for i := range b[:k] {
		b[i] = p.fill
	}
	p.n -= k
	return k, nil
}

// allocated returns the bytes allocated (process-wide) while running f.
func allocated(f func()) uint64 {
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	f()
	runtime.ReadMemStats(&after)
	return after.TotalAlloc - before.TotalAlloc
}

func TestReaderHugeDeclaredBulkRejected(t *testing.T) {
	var err error
	n := allocated(func() {
		r := NewReader(strings.NewReader("*1\r\n$2147483648\r\n"), DefaultLimits)
		_, err = r.ReadCommand()
	})
	if err == nil || err.Error() != "Protocol error: invalid bulk length" {
		t.Fatalf("err = %v", err)
	}
	if n > 1<<20 {
		t.Fatalf("allocated %d bytes rejecting a 2 GB bulk", n)
	}
}

// TestReaderDeclaredBulkAllocation checks that the reader allocates in
// proportion to what it received, not to what the client declared.
func TestReaderDeclaredBulkAllocation(t *testing.T) {
	const declared = 400 << 20
	for _, received := range []int{10, 100 << 10, 4 << 20} {
		var err error
		n := allocated(func() {
			src := &patternReader{header: []byte("*2\r\n$3\r\nSET\r\n$" + strconv.Itoa(declared) + "\r\n"), fill: 'x', n: received}
			_, err = NewReader(src, DefaultLimits).ReadCommand()
		})
		if err != io.ErrUnexpectedEOF {
			t.Fatalf("received %d: err = %v", received, err)
		}
		if limit := uint64(6*received + 1<<20); n > limit {
			t.Fatalf("received %d bytes of a declared %d-byte bulk: allocated %d, want <= %d", received, declared, n, limit)
		}
		t.Logf("received %d bytes: allocated %d", received, n)
	}
}

func TestReaderMillionArgs(t *testing.T) {
	const n = 1_000_000
	var b bytes.Buffer
	b.WriteString("*" + strconv.Itoa(n) + "\r\n")
	for range n {
		b.WriteString("$1\r\nx\r\n")
	}
	r := NewReader(&b, DefaultLimits)
	args, err := r.ReadCommand()
	if err != nil || len(args) != n {
		t.Fatalf("%d args, %v", len(args), err)
	}
	for i, a := range args {
		if string(a) != "x" {
			t.Fatalf("arg %d = %q", i, a)
		}
	}
	_, err = parseAll("*"+strconv.Itoa(DefaultLimits.MaxArgs+1)+"\r\n$1\r\nx\r\n", DefaultLimits)
	if err == nil || err.Error() != "Protocol error: invalid multibulk length" {
		t.Fatalf("%d args: err = %v", DefaultLimits.MaxArgs+1, err)
	}
}

// cycleReader returns data over and over.
type cycleReader struct {
	data []byte
	off  int
}

func (c *cycleReader) Read(p []byte) (int, error) {
	n := 0
	for n < len(p) {
		k := copy(p[n:], c.data[c.off:])
		n += k
		c.off = (c.off + k) % len(c.data)
	}
	return n, nil
}

func TestReaderZeroAllocs(t *testing.T) {
	for _, tc := range []struct {
		name string
		cmd  string
	}{
		{"multibulk", multibulk("SET", "key:000123", "value-value-value")},
		{"inline", "SET key:000123 \"value value\"\r\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			// 37 does not divide the buffer size, so commands straddle reads.
			r := NewReader(&cycleReader{data: []byte(strings.Repeat(tc.cmd, 37))}, DefaultLimits)
			read := func() {
				args, err := r.ReadCommand()
				if err != nil || len(args) != 3 {
					panic(fmt.Sprint(args, err))
				}
			}
			for range 10000 { // steady state
				read()
			}
			if a := testing.AllocsPerRun(20000, read); a != 0 {
				t.Fatalf("%v allocations per command", a)
			}
		})
	}
}

// TestWriterReaderRoundTrip encodes commands with the Writer and parses them.
func TestWriterReaderRoundTrip(t *testing.T) {
	var buf bytes.Buffer
	w := NewWriter(&buf)
	want := cmds(cmd("SET", "k", "v\r\n"), cmd("GET", ""), cmd("ECHO", strings.Repeat("z", 100000)))
	for _, c := range want {
		w.Array(len(c))
		for _, a := range c {
			w.BulkString(a)
		}
	}
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
	got, err := readAll(NewReader(&buf, DefaultLimits))
	if err != io.EOF || !reflect.DeepEqual(got, want) {
		t.Fatalf("round trip: %v", err)
	}
}

func BenchmarkReaderSet(b *testing.B) {
	c := multibulk("SET", "key:000123", "value-value-value")
	r := NewReader(&cycleReader{data: []byte(strings.Repeat(c, 37))}, DefaultLimits)
	b.SetBytes(int64(len(c)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := r.ReadCommand(); err != nil {
			b.Fatal(err)
		}
	}
}

// TestReaderNextPeek: Next parses only what is buffered; Peek shows the
// whole multibulk commands after it and consumes nothing.
func TestReaderNextPeek(t *testing.T) {
	cases := []struct {
		name string
		in   string
		peek []string // first argument of each peeked command
		next []string // then Next's commands, until it needs more
	}{
		{"pipeline", multibulk("GET", "a") + multibulk("SET", "b", "1") + multibulk("GET", "c"),
			[]string{"GET", "SET", "GET"}, []string{"GET", "SET", "GET"}},
		{"partial last", multibulk("GET", "a") + "*2\r\n$3\r\nGE",
			[]string{"GET"}, []string{"GET"}},
		{"inline stops peeking", multibulk("GET", "a") + "SET \"x y\" 1\r\n" + multibulk("GET", "c"),
			[]string{"GET"}, []string{"GET", "SET", "GET"}},
		{"malformed stops peeking", multibulk("GET", "a") + "*1\r\n#",
			[]string{"GET"}, []string{"GET"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := NewReader(strings.NewReader(c.in), DefaultLimits)
			if err := r.Fill(); err != nil {
				t.Fatal(err)
			}
			var peeked []string
			r.Peek(10, func(args [][]byte) { peeked = append(peeked, string(args[0])) })
			if strings.Join(peeked, ",") != strings.Join(c.peek, ",") {
				t.Fatalf("Peek: %v, want %v", peeked, c.peek)
			}
			if r.Buffered() != len(c.in) {
				t.Fatalf("Peek consumed: Buffered() = %d, want %d", r.Buffered(), len(c.in))
			}
			var got []string
			for {
				args, ok, err := r.Next()
				if err != nil || !ok {
					break
				}
				got = append(got, string(args[0]))
			}
			if strings.Join(got, ",") != strings.Join(c.next, ",") {
				t.Fatalf("Next: %v, want %v", got, c.next)
			}
		})
	}
}
