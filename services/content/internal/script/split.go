package script

import "strings"

// splitter cuts the source into statements before anything is expanded, as Qlik does: a
// statement ends at the first `;` outside a quoted string, a bracket, a comment, or (in a
// SQL load) a `--` comment, so no variable's value can end a statement early or run two
// together. Comments are dropped here, so they are never expanded.
type splitter struct {
	src *source
	i   int32
}

// next returns the next statement, or nil at the end of the source.
func (s *splitter) next() (*text, error) {
	if err := s.skipBlank(); err != nil {
		return nil, err
	}
	r, n := s.src.r, int32(len(s.src.r))
	if s.i == n {
		return nil, nil
	}
	sql := s.startsSQL()
	t := &text{}
	// last is just after the statement's last rune that is not a space or a comment: where
	// a forgotten `;` belongs.
	last := s.i
	for s.i < n {
		c := r[s.i]
		switch {
		case c == ';':
			t.end = s.i
			s.i++
			return t, nil
		case c == '\'' || c == '"':
			end := s.find(s.i+1, string(c))
			if end < 0 {
				if c == '\'' {
					return nil, s.src.errorf(s.i, "unterminated string: missing closing '")
				}
				return nil, s.src.errorf(s.i, `unterminated quoted name: missing closing "`)
			}
			s.copy(t, end+1)
			last = s.i
		case c == '[':
			end := s.find(s.i+1, "]")
			if end < 0 {
				if t.endsWithWord("INLINE") {
					return nil, s.src.errorf(s.i, "unterminated inline data: missing ]")
				}
				return nil, s.src.errorf(s.i, "unterminated [name]: missing ]")
			}
			s.copy(t, end+1)
			last = s.i
		case c == '/' && s.at(s.i+1) == '/':
			s.skipLine()
		case c == '/' && s.at(s.i+1) == '*':
			end := s.find(s.i+2, "*/")
			if end < 0 {
				return nil, s.src.errorf(s.i, "unterminated comment: missing */")
			}
			// A comment separates what is on either side of it, like a space.
			t.add(' ', origin{at: s.i})
			s.i = end + 2
		case sql && c == '-' && s.at(s.i+1) == '-':
			// A SQL comment is the database's: it stays in the statement, but a quote or
			// `;` in it ends nothing.
			end := s.i
			for end < n && r[end] != '\n' {
				end++
			}
			s.copy(t, end)
		default:
			t.add(c, origin{at: s.i})
			s.i++
			if !isSpace(c) {
				last = s.i
			}
		}
	}
	return nil, s.src.errorf(last, "missing ; at the end of the statement")
}

// skipBlank skips spaces and comments between statements.
func (s *splitter) skipBlank() error {
	r, n := s.src.r, int32(len(s.src.r))
	for s.i < n {
		switch {
		case isSpace(r[s.i]):
			s.i++
		case r[s.i] == '/' && s.at(s.i+1) == '/':
			s.skipLine()
		case r[s.i] == '/' && s.at(s.i+1) == '*':
			end := s.find(s.i+2, "*/")
			if end < 0 {
				return s.src.errorf(s.i, "unterminated comment: missing */")
			}
			s.i = end + 2
		default:
			return nil
		}
	}
	return nil
}

// startsSQL reports whether the statement at s.i is a SQL load, `Name: SQL …`, looking
// only at the source as written: a label may be an expansion (`$(vTable): SQL …`), the
// keyword SQL may not. It only decides whether `--` starts a comment while splitting.
func (s *splitter) startsSQL() bool {
	h := &splitter{src: s.src, i: s.i}
	word := h.head()
	if err := h.skipBlank(); err != nil {
		return false
	}
	if h.at(h.i) == ':' {
		h.i++
		if err := h.skipBlank(); err != nil {
			return false
		}
		word = h.head()
	}
	return strings.EqualFold(word, "SQL")
}

// head reads a keyword or a label: a bracketed or quoted name, or a run of identifier
// characters and `$(…)` expansions.
func (s *splitter) head() string {
	r, n := s.src.r, int32(len(s.src.r))
	start := s.i
	if c := s.at(s.i); c == '[' || c == '"' {
		closing := "]"
		if c == '"' {
			closing = `"`
		}
		if end := s.find(s.i+1, closing); end >= 0 {
			s.i = end + 1
		}
		return string(r[start:s.i])
	}
	for s.i < n {
		switch {
		case isIdentRune(r[s.i]):
			s.i++
		case r[s.i] == '$' && s.at(s.i+1) == '(':
			// Only a plain `$(name)`: looking further for a `)` could scan the whole
			// source once per statement.
			end := s.i + 2
			for end < n && (isIdentRune(r[end]) || r[end] == ' ') {
				end++
			}
			if s.at(end) != ')' {
				return string(r[start:s.i])
			}
			s.i = end + 1
		default:
			return string(r[start:s.i])
		}
	}
	return string(r[start:s.i])
}

// at is the rune at offset i, or 0 past the end.
func (s *splitter) at(i int32) rune {
	if i < int32(len(s.src.r)) {
		return s.src.r[i]
	}
	return 0
}

// find returns the offset of the first occurrence of want (one or two ASCII characters)
// at or after from, or -1.
func (s *splitter) find(from int32, want string) int32 {
	r, n := s.src.r, int32(len(s.src.r))
	for i := from; i+int32(len(want)) <= n; i++ {
		if r[i] != rune(want[0]) {
			continue
		}
		if len(want) == 1 || r[i+1] == rune(want[1]) {
			return i
		}
	}
	return -1
}

// copy adds the source runes from s.i up to end to t.
func (s *splitter) copy(t *text, end int32) {
	for ; s.i < end; s.i++ {
		t.add(s.src.r[s.i], origin{at: s.i})
	}
}

// skipLine skips a `//` comment, up to but not including the line break.
func (s *splitter) skipLine() {
	for s.i < int32(len(s.src.r)) && s.src.r[s.i] != '\n' {
		s.i++
	}
}
