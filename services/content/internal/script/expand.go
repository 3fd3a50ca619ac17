package script

import (
	"strconv"
	"strings"
	"unicode/utf8"
)

// Limits on what expansions can build: no recursion is possible (an expanded value is
// never scanned again), but a LET can double a variable on every statement, and a short
// statement can expand a large variable many times.
const (
	// MaxStatementBytes caps one statement after expansion.
	MaxStatementBytes = 1 << 20
	// MaxExpandedBytes caps all statements together after expansion, so that a 200 KB
	// script cannot expand into gigabytes of SQL and inline data.
	MaxExpandedBytes = 32 << 20
)

// limits are the caps an expander applies; tests lower them to stay fast.
type limits struct{ statement, total int }

// expander replaces `$(name)` with the variable's value.
type expander struct {
	src    *source
	vars   map[string]string
	limits limits
	total  int // bytes of all statements expanded so far
}

// expand returns the statement with every `$(name)` replaced by the value name has now.
// Each rune of a value gets the origin of the `$`; the value is not scanned again, so a
// variable that contains `$(itself)` expands once, as in Qlik.
func (e *expander) expand(in *text) (*text, error) {
	out := &text{r: make([]rune, 0, len(in.r)), org: make([]origin, 0, len(in.r)), end: in.end}
	size := 0
	for i := 0; i < len(in.r); i++ {
		if in.r[i] != '$' || i+1 == len(in.r) || in.r[i+1] != '(' {
			out.add(in.r[i], in.org[i])
			size += utf8.RuneLen(in.r[i])
			continue
		}
		at := in.org[i].at
		end := i + 2
		for end < len(in.r) && in.r[end] != ')' && in.r[end] != '\n' {
			end++
		}
		if end == len(in.r) || in.r[end] != ')' {
			return nil, e.src.errorf(at, "unterminated $(: missing )")
		}
		name := strings.TrimSpace(string(in.r[i+2 : end]))
		switch {
		case strings.HasPrefix(name, "="):
			return nil, e.src.errorf(at, "$(=…) expressions are not supported: compute the value with LET and expand the variable")
		case strings.Contains(name, "$("):
			return nil, e.src.errorf(at, "a variable name cannot contain $(: nested expansion is not supported")
		case name == "":
			return nil, e.src.errorf(at, "$() names no variable")
		case !validName(name):
			return nil, e.src.errorf(at, "invalid variable name %s in $(…)", short(name))
		}
		value, ok := e.vars[name]
		if !ok {
			return nil, e.src.errorf(at, "variable %s is not defined", short(name))
		}
		if size+len(value) > e.limits.statement {
			return nil, e.src.errorf(at, "expanding $(%s) makes the statement longer than %s", name, megabytes(e.limits.statement))
		}
		if e.total+size+len(value) > e.limits.total {
			return nil, e.src.errorf(at, "expanding $(%s) makes the script longer than %s in total", name, megabytes(e.limits.total))
		}
		out.addString(value, origin{at: at, expanded: true})
		size += len(value)
		i = end
	}
	e.total += size
	return out, nil
}

// megabytes writes a limit for a message: 1 MB, or the bytes when below a megabyte.
func megabytes(n int) string {
	if n%(1<<20) == 0 {
		return strconv.Itoa(n>>20) + " MB"
	}
	return strconv.Itoa(n) + " bytes"
}
