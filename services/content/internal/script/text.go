package script

import (
	"slices"
	"strings"
	"unicode"
)

// origin is where a rune of a statement came from. Errors are reported against the
// original source, so every rune carries its source offset; a rune an expansion produced
// carries the offset of that expansion's `$`, the closest place in the source a user can
// fix.
type origin struct {
	at       int32
	expanded bool
}

// text is one statement, without its comments and final `;`, as runes with their origins.
type text struct {
	r   []rune
	org []origin
	// end is the source offset of the `;` ending the statement: errors about something
	// missing at the end of the statement point there.
	end int32
}

func (t *text) add(r rune, o origin) {
	t.r = append(t.r, r)
	t.org = append(t.org, o)
}

// addString adds the runes of s, all with the same origin. It copies in bulk rather than
// rune by rune: a statement may expand to a megabyte.
func (t *text) addString(s string, o origin) {
	start := len(t.r)
	t.r = append(t.r, []rune(s)...)
	n := len(t.r) - start
	if n == 0 {
		return
	}
	t.org = slices.Grow(t.org, n)[:start+n]
	t.org[start] = o
	for filled := 1; filled < n; filled *= 2 {
		copy(t.org[start+filled:], t.org[start:start+filled])
	}
}

// offset is the source offset of the rune at i, or of the statement's end when i is past
// the last rune.
func (t *text) offset(i int) int32 {
	if i < len(t.r) {
		return t.org[i].at
	}
	return t.end
}

// endsWithWord reports whether the text, ignoring trailing spaces, ends with word (in any
// case) standing alone.
func (t *text) endsWithWord(word string) bool {
	end := len(t.r)
	for end > 0 && unicode.IsSpace(t.r[end-1]) {
		end--
	}
	start := end - len(word)
	if start < 0 || !strings.EqualFold(string(t.r[start:end]), word) {
		return false
	}
	return start == 0 || !isIdentRune(t.r[start-1])
}

func isIdentStart(r rune) bool {
	return r == '_' || 'a' <= r && r <= 'z' || 'A' <= r && r <= 'Z'
}

func isIdentRune(r rune) bool {
	return isIdentStart(r) || '0' <= r && r <= '9'
}

// isSpace is whitespace between tokens; a byte order mark counts, so that a script saved
// by an editor that writes one still starts with a statement.
func isSpace(r rune) bool {
	return unicode.IsSpace(r) || r == '\uFEFF'
}

// validName reports whether s is a variable name: the same rule as the API applies to
// declared variables, `[A-Za-z_][A-Za-z0-9_]*`.
func validName(s string) bool {
	if s == "" || !isIdentStart(rune(s[0])) {
		return false
	}
	for _, r := range s {
		if !isIdentRune(r) {
			return false
		}
	}
	return true
}
