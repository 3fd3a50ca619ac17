package engine

import (
	"bytes"
	"math"
	"slices"
)

// symbols is a field's table of distinct values. Codes 1..n are in value order, so
// comparing codes compares values and the numbers come first: codes 1..numeric are the
// values with a number.
type symbols struct {
	n       int
	numeric int
	blob    []byte    // every text, in code order
	offs    []uint32  // text of code c is blob[offs[c-1]:offs[c]]
	nums    []float64 // number of code c (c <= numeric) is nums[c-1]
	byText  []uint32  // codes in text order, to find a value by its text
}

func (s *symbols) text(code uint32) string {
	return string(s.blob[s.offs[code-1]:s.offs[code]])
}

// textBytes avoids a copy where the text is only compared.
func (s *symbols) textBytes(code uint32) []byte { return s.blob[s.offs[code-1]:s.offs[code]] }

func (s *symbols) value(code uint32) Value {
	if code == 0 {
		return NullValue
	}
	if int(code) <= s.numeric {
		return NumberValue(s.nums[code-1], s.text(code))
	}
	return TextValue(s.text(code))
}

// lookup is the code of a text, or 0.
func (s *symbols) lookup(text string) uint32 {
	want := []byte(text)
	i, ok := slices.BinarySearchFunc(s.byText, want, func(code uint32, t []byte) int {
		return bytes.Compare(s.textBytes(code), t)
	})
	if !ok {
		return 0
	}
	return s.byText[i]
}

func (s *symbols) bytes() int64 {
	return int64(len(s.blob)) + 4*int64(len(s.offs)) + 8*int64(len(s.nums)) + 4*int64(len(s.byText))
}

// symbolLoader collects a field's values in load order while tables are appended.
type symbolLoader struct {
	index map[string]uint32
	texts []string
	nums  []float64
	isNum []bool
	bytes int64
}

func (l *symbolLoader) code(v Value) uint32 {
	if v.Null {
		return 0
	}
	if c, ok := l.index[v.Text]; ok {
		return c
	}
	if l.index == nil {
		l.index = map[string]uint32{}
	}
	l.texts = append(l.texts, v.Text)
	l.nums = append(l.nums, v.Num)
	// NaN has no place in the value order, so it is kept as a text only.
	l.isNum = append(l.isNum, v.IsNum && !math.IsNaN(v.Num))
	c := uint32(len(l.texts))
	l.index[v.Text] = c
	// The map entry, the string header and the bytes, the number and its flag.
	l.bytes += 48 + int64(len(v.Text)) + 16 + 9
	return c
}

// finish puts the symbols in value order and says, per load code, the final code.
func (l *symbolLoader) finish() (symbols, []uint32) {
	n := len(l.texts)
	order := make([]uint32, n)
	for i := range order {
		order[i] = uint32(i)
	}
	val := func(i uint32) Value {
		return Value{Text: l.texts[i], Num: l.nums[i], IsNum: l.isNum[i]}
	}
	slices.SortFunc(order, func(a, b uint32) int { return CompareValues(val(a), val(b)) })
	remap := make([]uint32, n+1)
	s := symbols{n: n, offs: make([]uint32, n+1)}
	size := 0
	for _, t := range l.texts {
		size += len(t)
	}
	s.blob = make([]byte, 0, size)
	for rank, i := range order {
		remap[i+1] = uint32(rank + 1)
		s.blob = append(s.blob, l.texts[i]...)
		s.offs[rank+1] = uint32(len(s.blob))
		if l.isNum[i] {
			s.numeric++
			s.nums = append(s.nums, l.nums[i])
		}
	}
	s.byText = make([]uint32, n)
	for i := range s.byText {
		s.byText[i] = uint32(i + 1)
	}
	slices.SortFunc(s.byText, func(a, b uint32) int {
		return bytes.Compare(s.textBytes(a), s.textBytes(b))
	})
	return s, remap
}
