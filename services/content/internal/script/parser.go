package script

import (
	"fmt"
	"strings"
)

// parser reads one expanded statement.
type parser struct {
	src *source
	t   *text
	i   int
}

func (p *parser) errorf(i int, format string, args ...any) *Error {
	return &Error{Pos: p.src.position(p.t.offset(i)), Message: fmt.Sprintf(format, args...)}
}

func (p *parser) position(i int) Position { return p.src.position(p.t.offset(i)) }

func (p *parser) eof() bool { return p.i >= len(p.t.r) }

// peek is the rune at the cursor, or 0 at the end.
func (p *parser) peek() rune {
	if p.eof() {
		return 0
	}
	return p.t.r[p.i]
}

func (p *parser) skipSpace() {
	for !p.eof() && isSpace(p.t.r[p.i]) {
		p.i++
	}
}

// word reads an identifier, `[A-Za-z_][A-Za-z0-9_]*`, or returns "" and stays put.
func (p *parser) word() string {
	if p.eof() || !isIdentStart(p.t.r[p.i]) {
		return ""
	}
	start := p.i
	for !p.eof() && isIdentRune(p.t.r[p.i]) {
		p.i++
	}
	return string(p.t.r[start:p.i])
}

// keyword reads the word kw in any case, or returns false and stays put.
func (p *parser) keyword(kw string) bool {
	start := p.i
	if strings.EqualFold(p.word(), kw) {
		return true
	}
	p.i = start
	return false
}

// rest is the text from the cursor to the end of the statement, trimmed.
func (p *parser) rest() string {
	return strings.TrimFunc(string(p.t.r[p.i:]), isSpace)
}

// name reads a table or field name: an identifier, a [bracketed name] or a "quoted name"
// (in which "" stands for one "). It returns ok false, and stays put, if there is none.
func (p *parser) name() (name string, ok bool, err error) {
	start := p.i
	switch p.peek() {
	case '[':
		// A ] an expansion produced ends the name like one written in the source: a label
		// can be `$(vTable)` with vTable = [Any Name].
		end := p.i + 1
		for end < len(p.t.r) && p.t.r[end] != ']' {
			end++
		}
		if end == len(p.t.r) {
			return "", false, p.errorf(start, "unterminated [name]: missing ]")
		}
		p.i = end + 1
		return p.checkName(start, string(p.t.r[start+1:end]))
	case '"':
		var b strings.Builder
		for i := p.i + 1; i < len(p.t.r); i++ {
			if p.t.r[i] != '"' {
				b.WriteRune(p.t.r[i])
				continue
			}
			if i+1 < len(p.t.r) && p.t.r[i+1] == '"' {
				b.WriteRune('"')
				i++
				continue
			}
			p.i = i + 1
			return p.checkName(start, b.String())
		}
		return "", false, p.errorf(start, `unterminated quoted name: missing closing "`)
	}
	if w := p.word(); w != "" {
		return w, true, nil
	}
	return "", false, nil
}

// checkName refuses names a table or field cannot sensibly have.
func (p *parser) checkName(at int, name string) (string, bool, error) {
	if strings.TrimFunc(name, isSpace) == "" {
		return "", false, p.errorf(at, "empty name")
	}
	if strings.ContainsAny(name, "\r\n") {
		return "", false, p.errorf(at, "a name cannot contain a line break")
	}
	return name, true, nil
}

// quoted reads a 'single-quoted string' in which a doubled quote stands for one. It
// returns ok false, and stays put, if the cursor is not at a quote.
func (p *parser) quoted() (s string, ok bool, err error) {
	if p.peek() != '\'' {
		return "", false, nil
	}
	var b strings.Builder
	for i := p.i + 1; i < len(p.t.r); i++ {
		if p.t.r[i] != '\'' {
			b.WriteRune(p.t.r[i])
			continue
		}
		if i+1 < len(p.t.r) && p.t.r[i+1] == '\'' {
			b.WriteRune('\'')
			i++
			continue
		}
		p.i = i + 1
		return b.String(), true, nil
	}
	return "", false, p.errorf(p.i, "unterminated string: missing closing '")
}
