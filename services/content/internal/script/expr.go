package script

import (
	"math"
	"strconv"
)

// value is what a LET expression computes: a number or a string.
type value struct {
	isString bool
	num      float64
	str      string
}

// String is the value as a variable holds it. Numbers are rounded to 15 significant digits
// (so 0.1 + 0.2 is 0.3, as Qlik shows it) and written without exponent or trailing zeros:
// 2021, 2.5, 0.001.
func (v value) String() string {
	if v.isString {
		return v.str
	}
	rounded, _ := strconv.ParseFloat(strconv.FormatFloat(v.num, 'g', 15, 64), 64)
	if rounded == 0 {
		return "0" // not "-0"
	}
	return strconv.FormatFloat(rounded, 'f', -1, 64)
}

// expression evaluates the expression of a LET as it parses it:
//
//	concat  = sum { "&" sum }
//	sum     = product { ("+" | "-") product }
//	product = unary { ("*" | "/") unary }
//	unary   = "-" unary | primary
//	primary = number | 'string' | "(" concat ")"
//
// & binds loosest, as in Qlik: 'Year ' & 2020 + 1 is "Year 2021".
type expression struct {
	*parser
	depth int // of parentheses and unary minuses, bounded so no input can exhaust the stack
}

// maxDepth bounds how deeply a LET expression nests.
const maxDepth = 100

// evaluate reads the whole rest of the statement as one expression.
func (e *expression) evaluate() (value, error) {
	v, err := e.concat()
	if err != nil {
		return value{}, err
	}
	e.skipSpace()
	if !e.eof() {
		return value{}, e.errorf(e.i, "unexpected %s after the expression", e.token())
	}
	return v, nil
}

func (e *expression) concat() (value, error) {
	left, err := e.sum()
	if err != nil {
		return value{}, err
	}
	for {
		e.skipSpace()
		if e.peek() != '&' {
			return left, nil
		}
		e.i++
		right, err := e.sum()
		if err != nil {
			return value{}, err
		}
		left = value{isString: true, str: left.String() + right.String()}
	}
}

func (e *expression) sum() (value, error) {
	left, err := e.product()
	if err != nil {
		return value{}, err
	}
	for {
		e.skipSpace()
		op, at := e.peek(), e.i
		if op != '+' && op != '-' {
			return left, nil
		}
		e.i++
		right, err := e.product()
		if err != nil {
			return value{}, err
		}
		if left, err = e.arithmetic(at, op, left, right); err != nil {
			return value{}, err
		}
	}
}

func (e *expression) product() (value, error) {
	left, err := e.unary()
	if err != nil {
		return value{}, err
	}
	for {
		e.skipSpace()
		op, at := e.peek(), e.i
		if op != '*' && op != '/' {
			return left, nil
		}
		e.i++
		right, err := e.unary()
		if err != nil {
			return value{}, err
		}
		if left, err = e.arithmetic(at, op, left, right); err != nil {
			return value{}, err
		}
	}
}

func (e *expression) unary() (value, error) {
	e.skipSpace()
	if e.peek() != '-' {
		return e.primary()
	}
	at := e.i
	e.i++
	if err := e.nest(at); err != nil {
		return value{}, err
	}
	v, err := e.unary()
	e.depth--
	if err != nil {
		return value{}, err
	}
	if v.isString {
		return value{}, e.errorf(at, "- needs a number, not the string %s", short(v.str))
	}
	return value{num: -v.num}, nil
}

func (e *expression) primary() (value, error) {
	e.skipSpace()
	at := e.i
	switch c := e.peek(); {
	case e.eof():
		return value{}, e.errorf(at, "expected a number, a 'string' or (")
	case c == '\'':
		s, _, err := e.quoted()
		return value{isString: true, str: s}, err
	case c == '(':
		e.i++
		if err := e.nest(at); err != nil {
			return value{}, err
		}
		v, err := e.concat()
		e.depth--
		if err != nil {
			return value{}, err
		}
		e.skipSpace()
		if e.peek() != ')' {
			open := e.position(at)
			return value{}, e.errorf(e.i, "expected ) to close the ( at line %d, column %d", open.Line, open.Column)
		}
		e.i++
		return v, nil
	case '0' <= c && c <= '9' || c == '.':
		return e.number()
	case isIdentStart(c):
		name := e.word()
		return value{}, e.errorf(at, "unexpected name %s: LET takes numbers and 'strings'; expand a variable with $(name)", short(name))
	default:
		return value{}, e.errorf(at, "unexpected %s: expected a number, a 'string' or (", e.token())
	}
}

// number reads digits with an optional fraction: 12, 1.5, .5, 2. (no exponent).
func (e *expression) number() (value, error) {
	at := e.i
	digits := 0
	for ; !e.eof() && '0' <= e.peek() && e.peek() <= '9'; e.i++ {
		digits++
	}
	if e.peek() == '.' {
		e.i++
		for ; !e.eof() && '0' <= e.peek() && e.peek() <= '9'; e.i++ {
			digits++
		}
	}
	if digits == 0 {
		e.i = at
		return value{}, e.errorf(at, "unexpected %s: expected a number, a 'string' or (", e.token())
	}
	n, err := strconv.ParseFloat(string(e.t.r[at:e.i]), 64)
	if err != nil {
		return value{}, e.errorf(at, "number out of range")
	}
	return value{num: n}, nil
}

// arithmetic applies + - * / to numbers; at is where the operator is.
func (e *expression) arithmetic(at int, op rune, left, right value) (value, error) {
	for _, v := range []value{left, right} {
		if v.isString {
			return value{}, e.errorf(at, "%c needs numbers, not the string %s (use & to join strings)", op, short(v.str))
		}
	}
	var n float64
	switch op {
	case '+':
		n = left.num + right.num
	case '-':
		n = left.num - right.num
	case '*':
		n = left.num * right.num
	case '/':
		if right.num == 0 {
			return value{}, e.errorf(at, "division by zero")
		}
		n = left.num / right.num
	}
	if math.IsInf(n, 0) {
		return value{}, e.errorf(at, "number out of range")
	}
	return value{num: n}, nil
}

// token quotes what is at the cursor for an error message: a word, or one character.
func (e *expression) token() string {
	if e.eof() {
		return "end of statement"
	}
	if isIdentRune(e.peek()) {
		end := e.i
		for end < len(e.t.r) && isIdentRune(e.t.r[end]) {
			end++
		}
		return short(string(e.t.r[e.i:end]))
	}
	return strconv.Quote(string(e.peek()))
}

func (e *expression) nest(at int) error {
	e.depth++
	if e.depth > maxDepth {
		return e.errorf(at, "expression nested more than %d deep", maxDepth)
	}
	return nil
}

// short quotes s for an error message, cut to 40 characters: it may be a large variable.
func short(s string) string {
	if r := []rune(s); len(r) > 40 {
		return strconv.Quote(string(r[:40]) + "…")
	}
	return strconv.Quote(s)
}
