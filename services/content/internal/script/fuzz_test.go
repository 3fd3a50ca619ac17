package script

import (
	"strings"
	"testing"
	"unicode/utf8"
)

// FuzzCompile checks that no script panics the compiler, and that every error is an
// *Error pointing inside the source: at a character of it or just after a line's last.
func FuzzCompile(f *testing.F) {
	for _, seed := range []string{
		"SET a = 1; LET b = $(a) * 2 & 'x'; TRACE $(b);",
		"CONNECT TO 'c';\r\nT: SQL SELECT 'a;b' -- it's\n FROM t;",
		"T: LOAD a, [b c] INLINE [\na, \"b c\"\n1, 'x,y'\n];",
		"/* x */ [T]: // y\n LOAD * INLINE $(d);",
		"LET a = -(1 / (2 - 2));",
		"TRACE $(a$(b)); $(=x)",
		"\tTRACE ü😀 $(nope)",
		"LIB CONNECT TO 'x'; \"T\"\"\": SQL WITH a AS (SELECT 1) SELECT * FROM a;",
		"SET a = $(b); LET c = $(b); $(b): LOAD * INLINE [\nx\n$(b)\n];",
		"CONNECT TO '$(b)'; [$(b)]: SQL SELECT $(b);",
	} {
		f.Add(seed, "a", "1 + x")
	}
	f.Fuzz(func(t *testing.T, src, name, value string) {
		vars := map[string]string{name: value, "d": "[a\n" + value + "]", "b": value}
		_, _, err := Compile(src, vars)
		if err == nil {
			return
		}
		e, ok := err.(*Error)
		if !ok {
			t.Fatalf("error %T is not an *Error: %v", err, err)
		}
		if len(src) > MaxSourceBytes {
			return
		}
		lines := strings.Split(src, "\n")
		if e.Pos.Line < 1 || e.Pos.Line > len(lines) || e.Pos.Column < 1 {
			t.Fatalf("%v: outside the source's %d lines", err, len(lines))
		}
		if n := utf8.RuneCountInString(lines[e.Pos.Line-1]); e.Pos.Column > n+1 {
			t.Fatalf("%v: outside line %d, of %d characters", err, e.Pos.Line, n)
		}
	})
}
