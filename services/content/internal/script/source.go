package script

import (
	"fmt"
	"sort"
	"unicode/utf8"
)

// Position is a place in the source; lines and columns count from 1.
type Position struct{ Line, Column int }

// Error is a script error at a position; Error() reads "line 3, column 5: message".
type Error struct {
	Pos     Position
	Message string
}

// Error formats the position first, as editors and reload logs show it.
func (e *Error) Error() string {
	return fmt.Sprintf("line %d, column %d: %s", e.Pos.Line, e.Pos.Column, e.Message)
}

// source is the script as runes, so that columns count characters rather than bytes, with
// where each line starts to turn a rune offset into a line and column. Offsets are int32:
// Compile refuses sources above MaxSourceBytes, far below that range.
type source struct {
	r     []rune
	lines []int32 // offset of each line's first rune; lines[0] is 0
}

func newSource(s string) *source {
	src := &source{r: make([]rune, 0, utf8.RuneCountInString(s)), lines: []int32{0}}
	for _, r := range s {
		src.r = append(src.r, r)
		if r == '\n' {
			src.lines = append(src.lines, int32(len(src.r)))
		}
	}
	return src
}

// position turns a rune offset (at most len(r), the end of the source) into a position.
// Only '\n' ends a line: in a CRLF file the '\r' is the last column of its line, which
// nothing after it on that line can be shifted by.
func (s *source) position(off int32) Position {
	line := sort.Search(len(s.lines), func(i int) bool { return s.lines[i] > off }) - 1
	return Position{Line: line + 1, Column: int(off-s.lines[line]) + 1}
}

// errorf makes an *Error at a rune offset of the source.
func (s *source) errorf(off int32, format string, args ...any) *Error {
	return &Error{Pos: s.position(off), Message: fmt.Sprintf(format, args...)}
}
