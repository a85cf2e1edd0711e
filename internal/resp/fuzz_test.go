package resp

import (
	"bytes"
	"flag"
	"io"
	"reflect"
	"strings"
	"testing"
	"time"
)

// fuzzLimits are small so that every limit is reachable with short inputs.
// MaxQuery is the initial buffer size: with a smaller one, whether a command
// of many small arguments is over the limit would depend on how it is split
// into reads.
func fuzzLimits(preAuth bool) Limits {
	return Limits{MaxBulk: 64, MaxArgs: 8, MaxQuery: minBuf, MaxInline: 64, PreAuth: preAuth}
}

// fuzzBudget bounds the time one input may take; inputs are at most a few
// kilobytes, so this is orders of magnitude above the expected time.
const fuzzBudget = 2 * time.Second

func addReaderSeeds(f *testing.F) {
	for _, tc := range validStreams {
		f.Add([]byte(tc.in), uint8(0), false)
		f.Add([]byte(tc.in), uint8(2), true)
	}
	for _, tc := range errorCases {
		if len(tc.in) < 1000 {
			f.Add([]byte(tc.in), uint8(1), tc.lim.PreAuth)
		}
	}
	for _, s := range []string{
		"*1\r\n$65\r\n" + strings.Repeat("x", 65) + "\r\n", // over the fuzz MaxBulk
		"*9\r\n",                // over the fuzz MaxArgs
		"a b c d e f g h i\r\n", // likewise, inline
		"*2\r\n$1\r\na\r\n$1\r\nb\r\n*1\r\n$0\r\n\r\n",
		"*1\r\n$2\r\n\r\n\r\n",
		"\"\\x41\" '\\'' \"a\"'b'\r\n",
		"a\"b c\"d\r\n",
		"x\x00\"\r\n",
		"\r\r\r\n\n",
		"*-0\r\n*00\r\n*1\r\n$00\r\n\r\n",
	} {
		f.Add([]byte(s), uint8(0), false)
		f.Add([]byte(s), uint8(0), true)
	}
}

type parseResult struct {
	cmds [][]string
	err  error
}

// FuzzReader parses arbitrary bytes (whole, and in reads of a fuzzed size) and
// checks that it terminates quickly without panicking, that the split into
// reads changes nothing, that errors are protocol errors or end of input, and
// that every command re-encoded as a multibulk parses back to the same
// arguments.
func FuzzReader(f *testing.F) {
	addReaderSeeds(f)
	f.Fuzz(func(t *testing.T, data []byte, split uint8, preAuth bool) {
		if len(data) > 64<<10 {
			return
		}
		lim := fuzzLimits(preAuth)
		start := time.Now()
		whole := parseResult{}
		whole.cmds, whole.err = readAll(NewReader(bytes.NewReader(data), lim))
		chunked := parseResult{}
		chunked.cmds, chunked.err = readAll(NewReader(&chunkReader{chunks: splitEvery(bytes.Clone(data), int(split)+1)}, lim))
		looped := parseResult{}
		looped.cmds, looped.err = readAllLoop(t, NewReader(&chunkReader{chunks: splitEvery(bytes.Clone(data), int(split)+1)}, lim))
		if d := time.Since(start); fuzzing() && d > fuzzBudget {
			t.Fatalf("parsing %d bytes took %v", len(data), d)
		}

		for _, res := range []parseResult{whole, chunked, looped} {
			if res.err != io.EOF && res.err != io.ErrUnexpectedEOF && !IsProtocolError(res.err) {
				t.Fatalf("unexpected error %v", res.err)
			}
			if len(res.cmds) > len(data) {
				t.Fatalf("%d commands from %d bytes", len(res.cmds), len(data))
			}
			for _, c := range res.cmds {
				if len(c) == 0 || len(c) > lim.MaxArgs {
					t.Fatalf("command with %d arguments", len(c))
				}
				for _, a := range c {
					if len(a) > lim.MaxBulk && len(a) > lim.MaxInline {
						t.Fatalf("argument of %d bytes", len(a))
					}
				}
			}
		}
		if !reflect.DeepEqual(whole.cmds, chunked.cmds) {
			t.Fatalf("reads of %d bytes: commands %q, whole input: %q", int(split)+1, chunked.cmds, whole.cmds)
		}
		if whole.err.Error() != chunked.err.Error() {
			t.Fatalf("reads of %d bytes: error %v, whole input: %v", int(split)+1, chunked.err, whole.err)
		}
		if !reflect.DeepEqual(whole.cmds, looped.cmds) || whole.err.Error() != looped.err.Error() {
			t.Fatalf("as an event loop reads: %q, %v; whole input: %q, %v", looped.cmds, looped.err, whole.cmds, whole.err)
		}

		// Round trip through the multibulk encoding.
		var enc bytes.Buffer
		for _, c := range whole.cmds {
			enc.WriteString(multibulk(c...))
		}
		again, err := readAll(NewReader(&enc, DefaultLimits))
		if err != io.EOF || !reflect.DeepEqual(again, whole.cmds) {
			t.Fatalf("round trip: %q, %v; want %q", again, err, whole.cmds)
		}
	})
}

// refSplitArgs is a direct transcription of Redis' sdssplitargs (sds.c),
// building new strings rather than unquoting in place. It returns ok=false
// where sdssplitargs returns NULL. p indexes a C string: at returns 0 at its
// end, and at the first NUL.
func refSplitArgs(line []byte) (args [][]byte, ok bool) {
	if i := bytes.IndexByte(line, 0); i >= 0 {
		line = line[:i]
	}
	at := func(i int) byte {
		if i < len(line) {
			return line[i]
		}
		return 0
	}
	isspace := func(c byte) bool { return strings.IndexByte(" \t\n\v\f\r", c) >= 0 && c != 0 }
	ishex := func(c byte) bool { return c != 0 && strings.IndexByte("0123456789abcdefABCDEF", c) >= 0 }
	hex := func(c byte) byte { return byte(strings.IndexByte("0123456789abcdef", c|0x20)) }
	p := 0
	args = [][]byte{}
	for {
		for at(p) != 0 && isspace(at(p)) {
			p++
		}
		if at(p) == 0 {
			return args, true
		}
		inq, insq, done := false, false, false
		current := []byte{}
		for !done {
			if inq {
				if at(p) == '\\' && at(p+1) == 'x' && ishex(at(p+2)) && ishex(at(p+3)) {
					current = append(current, hex(at(p+2))*16+hex(at(p+3)))
					p += 3
				} else if at(p) == '\\' && at(p+1) != 0 {
					p++
					var c byte
					switch at(p) {
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
					default:
						c = at(p)
					}
					current = append(current, c)
				} else if at(p) == '"' {
					if at(p+1) != 0 && !isspace(at(p+1)) {
						return nil, false
					}
					done = true
				} else if at(p) == 0 {
					return nil, false
				} else {
					current = append(current, at(p))
				}
			} else if insq {
				if at(p) == '\\' && at(p+1) == '\'' {
					p++
					current = append(current, '\'')
				} else if at(p) == '\'' {
					if at(p+1) != 0 && !isspace(at(p+1)) {
						return nil, false
					}
					done = true
				} else if at(p) == 0 {
					return nil, false
				} else {
					current = append(current, at(p))
				}
			} else {
				switch at(p) {
				case ' ', '\n', '\r', '\t', 0:
					done = true
				case '"':
					inq = true
				case '\'':
					insq = true
				default:
					current = append(current, at(p))
				}
			}
			if at(p) != 0 {
				p++
			}
		}
		args = append(args, current)
	}
}

func TestSplitInlineMatchesSdssplitargs(t *testing.T) {
	for _, line := range []string{
		``, `   `, `a`, ` a  b `, `"a b" 'c d'`, `"\x41\x4a\x4B\x4g\xZ\x"`, `"\n\r\t\b\a\"\\\q"`,
		`'\n\'\\'`, `a"b c"d`, `a"b c"`, `'a'b`, `"a"b`, `"a`, `'a`, `"a\`, `"a\"`, `""`, `''`, `"" ''`,
		"a\vb\fc", "\v\fa", "a\x00b", "\"\x00\"", "\"a\"\vb", "a\rb", "a\tb\n",
	} {
		want, wantOK := refSplitArgs([]byte(line))
		got, err := splitInline([]byte(line), nil, 1000)
		if (err == nil) != wantOK || (wantOK && !equalArgs(got, want)) {
			t.Errorf("%q: got %q, %v; sdssplitargs gives %q, %v", line, got, err, want, wantOK)
		}
	}
}

func equalArgs(a, b [][]byte) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if !bytes.Equal(a[i], b[i]) {
			return false
		}
	}
	return true
}

// FuzzSplitInline compares the in-place splitter with the transcription of
// sdssplitargs.
func FuzzSplitInline(f *testing.F) {
	for _, s := range []string{
		`SET "a b" 'c d'`, `"\x41\x4g\xZZ\x"`, `"\n\r\t\b\a\"\\\q"`, `'it\'s' '\\'`, `a"b c"d`,
		`a"b c"`, `"a`, `'a`, `"a\`, "x\x00y", "\"a\"\vb", "a\vb", `"" ''`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, line []byte) {
		want, wantOK := refSplitArgs(line)
		got, err := splitInline(bytes.Clone(line), nil, 1<<20)
		if (err == nil) != wantOK {
			t.Fatalf("%q: err = %v, sdssplitargs ok = %v", line, err, wantOK)
		}
		if err != nil {
			if err.Error() != "Protocol error: unbalanced quotes in request" {
				t.Fatalf("%q: err = %v", line, err)
			}
			return
		}
		if !equalArgs(got, want) {
			t.Fatalf("%q: got %q, sdssplitargs gives %q", line, got, want)
		}
	})
}

// fuzzing reports whether the test runs under -fuzz. The per-input time bound
// applies only then: as a unit test over the seed corpus (possibly under the
// race detector on a loaded machine) a wall-clock bound would be flaky.
func fuzzing() bool {
	f := flag.Lookup("test.fuzz")
	return f != nil && f.Value.String() != ""
}

// readAllLoop reads as the server's event loop does: Next until it needs
// more, then Fill, with a Peek before every Next, whose first command must
// be the one Next returns.
func readAllLoop(t *testing.T, r *Reader) ([][]string, error) {
	var cmds [][]string
	for {
		var ahead []string
		r.Peek(4, func(args [][]byte) {
			if ahead == nil {
				ahead = strs(args)
			}
		})
		args, ok, err := r.Next()
		if err != nil {
			return cmds, err
		}
		if !ok {
			if err := r.Fill(); err != nil {
				if err == io.EOF && r.Buffered() > 0 {
					err = io.ErrUnexpectedEOF
				}
				return cmds, err
			}
			continue
		}
		cmd := strs(args)
		if ahead != nil && !reflect.DeepEqual(ahead, cmd) {
			t.Fatalf("Peek showed %q, Next returned %q", ahead, cmd)
		}
		cmds = append(cmds, cmd)
	}
}

func strs(args [][]byte) []string {
	out := make([]string, len(args))
	for i, a := range args {
		out[i] = string(a)
	}
	return out
}
