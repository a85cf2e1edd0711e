// Package glob matches the glob-style patterns of SCAN MATCH and HSCAN MATCH
// (and KEYS, PSUBSCRIBE) with exactly the semantics of Redis' stringmatchlen
// (util.c), in time O(len(pattern)*len(s)) and without allocating.
//
// The syntax, on bytes:
//
//   - any sequence of bytes, including none (runs of * are one *)
//     ?       any one byte
//     [abc]   one byte of the class; [^abc] one byte not in it
//     [a-z]   a range, inclusive; a reversed range [z-a] is the same as [a-z]
//     \x      the byte x itself, also inside a class ([\]] is the class "]")
//
// Redis' quirks are kept:
//
//   - An empty string matches only the empty pattern: Match("*", "") is
//     false. (SCAN and KEYS never ask: they treat a bare "*" as "no pattern".)
//   - An unterminated class extends to the end of the pattern: "[abc" is the
//     class "abc", and "[" matches nothing while "[^" matches any byte. "[]"
//     is an empty class (matches nothing), "[^]" matches any byte.
//   - In a class, "x-y" is a range wherever a byte follows the '-', so "[a-]"
//     is the range from 'a' to ']' (reversed: ']' to 'a') and consumes the ']'.
//     A '-' first or last-but-unclosed is a plain byte.
//   - A lone '\' at the end of the pattern matches a '\'.
//   - nocase folds ASCII letters only (C's tolower in the C locale). Literals,
//     '\'-escaped bytes outside classes, class members and ranges fold; a
//     '\'-escaped byte inside a class does not. A range's ends are ordered
//     before they are folded, so "[Z-a]" with nocase is the range 'z' to 'a',
//     which is empty.
//   - Redis 7 returns no match once its recursion is more than 1000 '*' deep
//     (a guard against stack exhaustion). Here that is: a pattern whose
//     1001st run of '*' is followed by anything matches no string (for
//     example "*?" repeated 50000 times, Redis' own regression test); if that
//     run ends the pattern, it matches as usual.
//
// One divergence is deliberate: bytes in ranges compare as unsigned. Redis
// compares C chars, which are signed on x86-64 builds (so there a range
// spanning 0x7f and 0x80 such as "[a-\xff]" wraps round) and unsigned on
// arm64 builds; this package behaves as the arm64 build.
package glob

// maxNesting is Redis' recursion limit: the continuation after the
// (maxNesting+1)th '*' fails.
const maxNesting = 1000

// Match reports whether s matches pattern.
//
// Where Redis backtracks recursively over every '*' (pruned by its
// skipLongerMatches flag), Match remembers only the last '*' seen: the
// elements between two stars each match exactly one byte, so if the rest of
// the pattern after a star cannot be matched from any position, no earlier
// star can help by absorbing more. Each byte of s is then tried at most once
// per pattern position: O(len(pattern)*len(s)) time, O(1) space.
func Match(pattern, s []byte, nocase bool) bool {
	if len(s) == 0 {
		return len(pattern) == 0
	}
	if len(pattern) > 2*maxNesting && tooDeep(pattern) {
		return false
	}
	p, i := 0, 0
	star, mark := -1, 0 // pattern index after the last '*' run, and where in s its continuation was tried
	for {
		if p < len(pattern) {
			if pattern[p] == '*' {
				for p < len(pattern) && pattern[p] == '*' {
					p++
				}
				if p == len(pattern) {
					return true
				}
				star, mark = p, i
				continue
			}
			if i < len(s) {
				if ok, next := matchOne(pattern, p, s[i], nocase); ok {
					p, i = next, i+1
					continue
				}
			}
		} else if i == len(s) {
			return true
		}
		// Mismatch: let the last '*' absorb one more byte. The element after
		// it needs a byte, so there must be one left after the absorbed one.
		if star < 0 || mark+1 >= len(s) {
			return false
		}
		mark++
		p, i = star, mark
	}
}

// matchOne matches c against the single-byte element (not '*') at
// pattern[p] and returns whether it matches and where the next element starts.
func matchOne(pattern []byte, p int, c byte, nocase bool) (bool, int) {
	switch pattern[p] {
	case '?':
		return true, p + 1
	case '[':
		return matchClass(pattern, p, c, nocase)
	case '\\':
		if p+1 < len(pattern) {
			p++
		}
	}
	return equal(pattern[p], c, nocase), p + 1
}

// matchClass matches c against the class starting at pattern[p] == '[' and
// returns whether it matches and the index after the class. The end does not
// depend on c.
func matchClass(pattern []byte, p int, c byte, nocase bool) (bool, int) {
	p++
	not := p < len(pattern) && pattern[p] == '^'
	if not {
		p++
	}
	match := false
	for p < len(pattern) {
		b := pattern[p]
		switch {
		case b == '\\' && len(pattern)-p >= 2:
			if pattern[p+1] == c { // never folded, as in Redis
				match = true
			}
			p += 2
		case b == ']':
			return match != not, p + 1
		case len(pattern)-p >= 3 && pattern[p+1] == '-':
			lo, hi, x := b, pattern[p+2], c
			if lo > hi {
				lo, hi = hi, lo
			}
			if nocase {
				lo, hi, x = lower(lo), lower(hi), lower(x)
			}
			if x >= lo && x <= hi {
				match = true
			}
			p += 3
		default:
			if equal(b, c, nocase) {
				match = true
			}
			p++
		}
	}
	return match != not, p // unterminated: the class ran to the end
}

// tooDeep reports whether the pattern's (maxNesting+1)th run of '*' is
// followed by another element, in which case Redis matches nothing.
func tooDeep(pattern []byte) bool {
	stars := 0
	for p := 0; p < len(pattern); {
		switch pattern[p] {
		case '*':
			for p < len(pattern) && pattern[p] == '*' {
				p++
			}
			if stars++; stars > maxNesting {
				return p < len(pattern)
			}
		case '[':
			_, p = matchClass(pattern, p, 0, false)
		case '\\':
			p = min(p+2, len(pattern))
		default:
			p++
		}
	}
	return false
}

func equal(a, b byte, nocase bool) bool {
	return a == b || nocase && lower(a) == lower(b)
}

func lower(c byte) byte {
	if c >= 'A' && c <= 'Z' {
		return c + ('a' - 'A')
	}
	return c
}
