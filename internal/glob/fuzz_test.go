package glob

import (
	"flag"
	"testing"
	"time"
)

// refMatch is a line-by-line transcription of Redis 7's stringmatchlen and
// stringmatchlen_impl (util.c): recursive, with the shared skipLongerMatches
// flag and the nesting limit. C reads the pattern as a NUL-terminated string
// (pattern[1] and *pattern may read the terminator), which pc emulates; p+plen
// is always len(pat). Bytes compare as unsigned (see the package doc).
func refMatch(pattern, s []byte, nocase bool) bool {
	skip := false
	return refImpl(pattern, 0, len(pattern), s, 0, len(s), nocase, &skip, 0, true)
}

// refNaive is refMatch without skipLongerMatches and without the nesting
// limit: plain exponential backtracking, for short inputs only.
func refNaive(pattern, s []byte, nocase bool) bool {
	skip := false
	return refImpl(pattern, 0, len(pattern), s, 0, len(s), nocase, &skip, 0, false)
}

func refImpl(pat []byte, p, plen int, str []byte, sp, slen int, nocase bool, skip *bool, nesting int, redis7 bool) bool {
	pc := func(i int) int {
		if i < len(pat) {
			return int(pat[i])
		}
		return 0
	}
	sc := func(i int) int { return int(str[i]) }
	tolower := func(c int) int {
		if c >= 'A' && c <= 'Z' {
			return c + 'a' - 'A'
		}
		return c
	}
	if redis7 && nesting > 1000 {
		return false
	}
	for plen != 0 && slen != 0 {
		switch pc(p) {
		case '*':
			for plen != 0 && pc(p+1) == '*' {
				p++
				plen--
			}
			if plen == 1 {
				return true
			}
			for slen != 0 {
				if refImpl(pat, p+1, plen-1, str, sp, slen, nocase, skip, nesting+1, redis7) {
					return true
				}
				if redis7 && *skip {
					return false
				}
				sp++
				slen--
			}
			*skip = true
			return false
		case '?':
			sp++
			slen--
		case '[':
			p++
			plen--
			not := pc(p) == '^'
			if not {
				p++
				plen--
			}
			match := false
			for {
				if pc(p) == '\\' && plen >= 2 {
					p++
					plen--
					if pc(p) == sc(sp) {
						match = true
					}
				} else if pc(p) == ']' {
					break
				} else if plen == 0 {
					p--
					plen++
					break
				} else if plen >= 3 && pc(p+1) == '-' {
					start, end, c := pc(p), pc(p+2), sc(sp)
					if start > end {
						start, end = end, start
					}
					if nocase {
						start, end, c = tolower(start), tolower(end), tolower(c)
					}
					p += 2
					plen -= 2
					if c >= start && c <= end {
						match = true
					}
				} else {
					if !nocase {
						if pc(p) == sc(sp) {
							match = true
						}
					} else {
						if tolower(pc(p)) == tolower(sc(sp)) {
							match = true
						}
					}
				}
				p++
				plen--
			}
			if not {
				match = !match
			}
			if !match {
				return false
			}
			sp++
			slen--
		case '\\':
			if plen >= 2 {
				p++
				plen--
			}
			fallthrough
		default:
			if !nocase {
				if pc(p) != sc(sp) {
					return false
				}
			} else {
				if tolower(pc(p)) != tolower(sc(sp)) {
					return false
				}
			}
			sp++
			slen--
		}
		p++
		plen--
		if slen == 0 {
			for pc(p) == '*' {
				p++
				plen--
			}
			break
		}
	}
	return plen == 0 && slen == 0
}

// FuzzMatch checks that Match does not panic, takes bounded time, agrees with
// the transcription of Redis' recursive matcher, and, for short inputs, with
// plain exhaustive backtracking too (the nesting limit cannot be reached
// there, and skipLongerMatches must not change results).
func FuzzMatch(f *testing.F) {
	for _, tc := range matchCases {
		if len(tc.pattern) <= 64 && len(tc.s) <= 64 {
			f.Add([]byte(tc.pattern), []byte(tc.s), tc.nocase)
		}
	}
	for _, s := range [][2]string{
		{"*a*b*c", "xaxbxc"}, {"[a-]]*", "]]"}, {"*[^", "ab"}, {"\\", "\\"}, {"*\\", "a\\"},
		{"[\\]*", "]x"}, {"*?*?*", "ab"}, {"[Z-a]*", "_"}, {"*[", "a"}, {"a*[b-]c", "abbc"},
	} {
		f.Add([]byte(s[0]), []byte(s[1]), false)
		f.Add([]byte(s[0]), []byte(s[1]), true)
	}
	f.Fuzz(func(t *testing.T, pattern, s []byte, nocase bool) {
		if len(pattern) > 4096 || len(s) > 4096 {
			return
		}
		start := time.Now()
		got := Match(pattern, s, nocase)
		if d := time.Since(start); fuzzing() && d > time.Second {
			t.Fatalf("Match(%q, %q) took %v", pattern, s, d)
		}
		if len(pattern) <= 64 && len(s) <= 64 {
			// Redis' algorithm is polynomial (skipLongerMatches) but its
			// recursion makes long inputs slow; keep them moderate.
			if want := refMatch(pattern, s, nocase); got != want {
				t.Fatalf("Match(%q, %q, nocase=%v) = %v, Redis' stringmatchlen gives %v", pattern, s, nocase, got, want)
			}
		}
		if len(pattern) <= 12 && len(s) <= 12 {
			if want := refNaive(pattern, s, nocase); got != want {
				t.Fatalf("Match(%q, %q, nocase=%v) = %v, exhaustive backtracking gives %v", pattern, s, nocase, got, want)
			}
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
