package glob

import (
	"strings"
	"testing"
)

var matchCases = []struct {
	pattern, s string
	nocase     bool
	want       bool
}{
	// Empty pattern and string: the empty string matches only the empty
	// pattern, not even "*".
	{"", "", false, true},
	{"", "a", false, false},
	{"a", "", false, false},
	{"*", "", false, false},
	{"**", "", false, false},
	{"?", "", false, false},
	{"[^]", "", false, false},

	// Literals.
	{"a", "a", false, true},
	{"a", "b", false, false},
	{"abc", "abc", false, true},
	{"abc", "ab", false, false},
	{"ab", "abc", false, false},
	{"a\x00b", "a\x00b", false, true},
	{"a\x00b", "a", false, false},

	// Stars.
	{"*", "a", false, true},
	{"*", "anything at all", false, true},
	{"**", "a", false, true},
	{"a*", "a", false, true},
	{"a*", "abc", false, true},
	{"a*", "ba", false, false},
	{"*a", "a", false, true},
	{"*a", "ba", false, true},
	{"*a", "ab", false, false},
	{"a*b", "ab", false, true},
	{"a*b", "axxb", false, true},
	{"a*b", "axxbc", false, false},
	{"a*b*", "axxbc", false, true},
	{"a**b", "ab", false, true},
	{"*a*", "bab", false, true},
	{"*a*", "bbb", false, false},
	{"*ab*cd*", "xabyycdz", false, true},
	{"*ab*cd*", "xcdyyabz", false, false},
	{"*aab", "aaaab", false, true},
	{"*aab", "aaaaba", false, false},
	{"user:*:session", "user:1234:session", false, true},
	{"user:*:session", "user:1234:sessions", false, false},
	{"*.png", "cdn/eu/logo.png", false, true},
	{"*a*b", "ab", false, true},
	{"*a*b", "ba", false, false},
	{"a*a*a*a*a*a*a*a*a*a*b", strings.Repeat("a", 64), false, false},
	{"a*a*a*a*a*a*a*a*a*a*b", strings.Repeat("a", 64) + "b", false, true},

	// Question marks.
	{"?", "a", false, true},
	{"?", "ab", false, false},
	{"??", "ab", false, true},
	{"h?llo", "hello", false, true},
	{"h?llo", "hllo", false, false},
	{"*?", "a", false, true},
	{"?*", "a", false, true},
	{"*?*", "a", false, true},
	{"*??", "a", false, false},
	{"?", "\xff", false, true},

	// Classes.
	{"h[ae]llo", "hello", false, true},
	{"h[ae]llo", "hallo", false, true},
	{"h[ae]llo", "hillo", false, false},
	{"h[^e]llo", "hallo", false, true},
	{"h[^e]llo", "hello", false, false},
	{"h[a-b]llo", "hallo", false, true},
	{"h[a-b]llo", "hbllo", false, true},
	{"h[a-b]llo", "hcllo", false, false},
	{"h[b-a]llo", "hallo", false, true}, // reversed range
	{"h[b-a]llo", "hcllo", false, false},
	{"[^a-z]", "Q", false, true},
	{"[^a-z]", "q", false, false},
	{"[a-a]", "a", false, true},
	{"[a-c-e]", "d", false, false}, // a-c, then '-' and 'e'
	{"[a-c-e]", "-", false, true},
	{"[a-c-e]", "e", false, true},
	{"[-a]", "-", false, true}, // leading '-' is a byte
	{"[-a]", "a", false, true},
	{"[-a]", "b", false, false},
	{"[a-]", "a", false, true}, // the range 'a'..']' (reversed)
	{"[a-]", "]", false, true},
	{"[a-]", "_", false, true},
	{"[a-]", "-", false, false},
	{"[a-]", "b", false, false},
	{"[a-]]", "]", false, true},   // range a..], then ']' closes
	{"[a-]x", "ax", false, false}, // the class ate "]x": it is unterminated
	{"[a-]x", "x", false, true},
	{"[]", "]", false, false}, // empty class
	{"[]a]", "a]", false, false},
	{"[]a]", "]", false, false},
	{"[^]", "x", false, true}, // negated empty class
	{"[^]", "xy", false, false},
	{"[", "[", false, false}, // unterminated, empty
	{"[", "a", false, false},
	{"[^", "a", false, true}, // unterminated, negated empty
	{"[^", "", false, false},
	{"[abc", "b", false, true}, // unterminated: runs to the end
	{"[abc", "d", false, false},
	{"[abc", "bc", false, false},
	{"[*]", "*", false, true},
	{"[*]", "a", false, false},
	{"[*a", "*", false, true}, // unterminated class holding '*'
	{"[?]", "?", false, true},
	{"[?]", "a", false, false},
	{"[[]", "[", false, true},
	{"[\\]]", "]", false, true}, // escaped ']' in a class
	{"[\\]]", "\\", false, false},
	{"[\\]", "]", false, true}, // escaped ']', unterminated
	{"[\\]", "\\", false, false},
	{"[\\", "\\", false, true}, // lone '\' at the end of a class is a byte
	{"[\\-a]", "-", false, true},
	{"[\\-a]", "b", false, false},
	{"[a\\-c]", "b", false, false}, // escaped '-' is not a range
	{"[a\\-c]", "-", false, true},
	{"[a-\\]", "\\", false, true}, // range end '\': '\'..'a'
	{"[a-\\]", "_", false, true},
	{"[a-\\]", "b", false, false},
	{"[^\\]]", "]", false, false},
	{"[^\\]]", "a", false, true},
	{"[\x80-\xff]", "\x90", false, true},
	{"[\x80-\xff]", "a", false, false},
	{"[a-\xff]", "\xfe", false, true}, // unsigned (see the package doc)
	{"[a-\xff]", "A", false, false},

	// Escapes.
	{"\\*", "*", false, true},
	{"\\*", "a", false, false},
	{"\\?", "?", false, true},
	{"\\?", "a", false, false},
	{"\\[a]", "[a]", false, true},
	{"\\[a]", "a", false, false},
	{"\\\\", "\\", false, true},
	{"\\", "\\", false, true}, // lone trailing '\'
	{"a\\", "a\\", false, true},
	{"\\a", "a", false, true},
	{"*\\*", "abc*", false, true},
	{"*\\*", "abc", false, false},

	// nocase.
	{"HELLO", "hello", false, false},
	{"HELLO", "hello", true, true},
	{"hello", "HeLLo", true, true},
	{"h?LL*", "HeLLo", true, true},
	{"\\A", "a", true, true},    // escape outside a class folds
	{"[\\A]", "a", true, false}, // escape inside a class does not
	{"[\\A]", "A", true, true},
	{"[A]", "a", true, true},
	{"[a]", "A", true, true},
	{"[^A]", "a", true, false},
	{"h[A-Z]llo", "hello", true, true},
	{"h[A-Z]llo", "hello", false, false},
	{"[a-z]", "Q", true, true},
	{"[Z-a]", "_", false, true}, // 'Z'..'a' holds '_'
	{"[Z-a]", "z", true, false}, // folded ends: 'z'..'a', empty
	{"[Z-a]", "_", true, false},
	{"[a-Z]", "_", false, true}, // reversed then folded: still 'z'..'a'
	{"[a-Z]", "_", true, false},
	{"[@-[]", "a", true, false}, // '@'..'[' folded: '@'..'[' and 'a' folds to 'a'
	{"[@-[]", "A", true, false}, // 'A' folds to 'a', outside '@'..'['
	{"[@-[]", "A", false, true},
	{"@", "@", true, true},
	{"[", "[", true, false},
	{"\xc4", "\xe4", true, false}, // ASCII only

	// Patterns that make naive backtracking exponential.
	{strings.Repeat("a*", 30) + "b", strings.Repeat("a", 100), false, false},
	{strings.Repeat("*a", 30) + "*b", strings.Repeat("a", 100) + "b", false, true},
	{strings.Repeat("*?", 30), strings.Repeat("a", 29), false, false},
	{strings.Repeat("*?", 30), strings.Repeat("a", 30), false, true},
}

func TestMatch(t *testing.T) {
	for _, tc := range matchCases {
		if got := Match([]byte(tc.pattern), []byte(tc.s), tc.nocase); got != tc.want {
			t.Errorf("Match(%q, %q, nocase=%v) = %v, want %v", tc.pattern, tc.s, tc.nocase, got, tc.want)
		}
		if got := refMatch([]byte(tc.pattern), []byte(tc.s), tc.nocase); got != tc.want {
			t.Errorf("reference stringmatchlen(%q, %q, nocase=%v) = %v, want %v (test case wrong?)",
				tc.pattern, tc.s, tc.nocase, got, tc.want)
		}
	}
}

// TestMatchNesting checks Redis' recursion limit: the continuation after the
// 1001st run of '*' fails.
func TestMatchNesting(t *testing.T) {
	as := func(n int) []byte { return []byte(strings.Repeat("a", n)) }
	for _, tc := range []struct {
		name    string
		pattern string
		s       []byte
		want    bool
	}{
		{"1000 stars", strings.Repeat("*a", 1000), as(1000), true},
		{"1000 stars, longer string", strings.Repeat("*a", 1000), as(3000), true},
		{"1001 stars then a byte", strings.Repeat("*a", 1001), as(1001), false},
		{"1001 stars then a byte, longer string", strings.Repeat("*a", 1001), as(3000), false},
		{"1001st star ends the pattern", strings.Repeat("a*", 1001), as(1001), true},
		{"1001st star ends the pattern, 1000 before", strings.Repeat("*a", 1000) + "*", as(1000), true},
		{"1001st star ends the pattern, longer", strings.Repeat("*a", 1000) + "**", as(2000), true},
		{"1002 stars", strings.Repeat("a*", 1002), as(2000), false},
		{"stars in classes do not count", strings.Repeat("[*]a", 1001) + "*", []byte(strings.Repeat("*a", 1001) + "x"), true},
		{"escaped stars do not count", strings.Repeat("\\*a", 1001) + "*", []byte(strings.Repeat("*a", 1001) + "x"), true},
		{"runs count once", strings.Repeat("***a", 1000), as(1000), true},
		{"too deep but string too short anyway", strings.Repeat("*a", 1001), as(10), false},
		{"empty string", strings.Repeat("*a", 1001), nil, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := Match([]byte(tc.pattern), tc.s, false); got != tc.want {
				t.Errorf("Match = %v, want %v", got, tc.want)
			}
			if got := refMatch([]byte(tc.pattern), tc.s, false); got != tc.want {
				t.Errorf("reference = %v, want %v", got, tc.want)
			}
		})
	}
}

// TestMatchRedisRegressions are the patterns of Redis' keyspace.tcl
// regression tests for long nested loops.
func TestMatchRedisRegressions(t *testing.T) {
	key := []byte(strings.Repeat("a", 64))
	pattern := []byte(strings.Repeat("a*", 40) + "b")
	if Match(pattern, key, false) {
		t.Error("long nested loops: matched")
	}
	key = []byte(strings.Repeat("a", 50000))
	pattern = []byte(strings.Repeat("*?", 50000))
	if Match(pattern, key, false) {
		t.Error("very long nested loops: matched") // the nesting limit
	}
}

// TestMatchBoundedTime runs patterns that are exponential for naive
// backtracking against long strings.
func TestMatchBoundedTime(t *testing.T) {
	long := []byte(strings.Repeat("a", 100_000))
	for _, tc := range []struct {
		pattern string
		want    bool
	}{
		{"a*a*a*a*a*a*a*a*a*a*b", false},
		{"*a*a*a*a*a*a*a*a*a*a*", true},
		{strings.Repeat("*a", 500) + "*b", false},
		{strings.Repeat("*?", 500) + "b", false},
		{"*" + strings.Repeat("a", 200) + "b", false},
		{strings.Repeat("*[a-z]", 200) + "[^a]", false},
	} {
		// Backtracking gone exponential would not finish: go test's
		// -timeout fails it. No wall-clock bound here (machines vary).
		if got := Match([]byte(tc.pattern), long, false); got != tc.want {
			t.Errorf("%.40q...: got %v, want %v", tc.pattern, got, tc.want)
		}
	}
}

func TestMatchNoAllocs(t *testing.T) {
	pattern := []byte("*[a-z]*:?[^0-9]\\**")
	s := []byte("prefix:user:xy*suffix")
	if !Match(pattern, s, true) {
		t.Fatal("no match")
	}
	if a := testing.AllocsPerRun(1000, func() { Match(pattern, s, true) }); a != 0 {
		t.Fatalf("%v allocations", a)
	}
}

func BenchmarkMatch(b *testing.B) {
	for name, bm := range map[string]struct{ pattern, s string }{
		"prefix":      {"user:*", "user:1234:session"},
		"suffix":      {"*.png", "cdn/eu/assets/logo.png"},
		"class":       {"[a-z]*:[0-9]*", "user:1234"},
		"adversarial": {"a*a*a*a*a*a*a*a*a*a*b", strings.Repeat("a", 1000)},
	} {
		p, s := []byte(bm.pattern), []byte(bm.s)
		b.Run(name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				Match(p, s, false)
			}
		})
	}
}
