package script

import (
	"strings"
	"testing"
)

func TestCompileErrors(t *testing.T) {
	const connected = "CONNECT TO 'c';\n" // puts the statement under test on line 2
	tests := []struct {
		name string
		src  string
		vars map[string]string
		want string
	}{
		// Splitting the source into statements.
		{"unterminated string", "SET a = 'abc;", nil, "line 1, column 9: unterminated string: missing closing '"},
		{"unterminated string across lines", "SET a = 1;\nTRACE it's;\nSET b = 2;", nil, "line 2, column 9: unterminated string: missing closing '"},
		{"unterminated quoted name", connected + `T: SQL SELECT "x;`, nil, `line 2, column 15: unterminated quoted name: missing closing "`},
		{"unterminated comment between statements", "SET a = 1;\n  /* x", nil, "line 2, column 3: unterminated comment: missing */"},
		{"unterminated comment in a statement", "SET a = /* x;", nil, "line 1, column 9: unterminated comment: missing */"},
		{"unterminated inline data", "T: LOAD * INLINE [\na\n1;", nil, "line 1, column 18: unterminated inline data: missing ]"},
		{"unterminated inline data after a lowercase inline", "T: LOAD * inline\n[a;", nil, "line 2, column 1: unterminated inline data: missing ]"},
		{"unterminated bracketed name", "[T: SQL SELECT 1;", nil, "line 1, column 1: unterminated [name]: missing ]"},
		{"missing semicolon at the end", "SET a = 1", nil, "line 1, column 10: missing ; at the end of the statement"},
		{"missing semicolon before a comment and blank lines", "SET a = 1;\nTRACE x // done\n\n", nil, "line 2, column 8: missing ; at the end of the statement"},
		{"missing semicolon after a SQL comment", connected + "T: SQL SELECT 1 -- done", nil, "line 2, column 16: missing ; at the end of the statement"},

		// Statements.
		{"unknown keyword", "SET a = 1;\nFOO bar;", nil, `line 2, column 1: unknown statement "FOO"`},
		{"unknown statement starting with a number", "  123 x;", nil, `line 1, column 3: unknown statement "123"`},
		{"unknown statement starting with a symbol", "= 1;", nil, `line 1, column 1: unknown statement "="`},
		{"SQL without a table name", connected + "SQL SELECT 1;", nil, "line 2, column 1: table without a name: write its name and a colon before SQL, as in Orders: SQL"},
		{"LOAD without a table name", "  load * INLINE [a\n1];", nil, "line 1, column 3: table without a name: write its name and a colon before LOAD, as in Orders: LOAD"},
		{"table defined twice", connected + "T: SQL SELECT 1;\n  T: LOAD * INLINE [a\n1];", nil, `line 3, column 3: table "T" is defined twice (first at line 2, column 1)`},
		{"table defined twice through a variable", connected + "[A B]: SQL SELECT 1;\n[$(t)]: SQL SELECT 2;", map[string]string{"t": "A B"}, `line 3, column 1: table "A B" is defined twice (first at line 2, column 1)`},
		{"table name before SET", "T: SET a = 1;", nil, "line 1, column 1: only LOAD and SQL create a table: SET cannot follow a table name"},
		{"table name before nothing", "T: ;", nil, "line 1, column 4: expected LOAD or SQL after the table name"},
		{"table name before an unknown word", "T: FOO;", nil, `line 1, column 4: expected LOAD or SQL after the table name, found "FOO"`},
		{"bracketed name without a colon", "[T] SQL SELECT 1;", nil, "line 1, column 5: expected : after the table name"},
		{"empty bracketed name", "[ ]: SQL SELECT 1;", nil, "line 1, column 1: empty name"},
		{"bracketed name over two lines", "[a\nb]: SQL SELECT 1;", nil, "line 1, column 1: a name cannot contain a line break"},

		// SET and LET.
		{"SET without a name", "SET = 1;", nil, "line 1, column 5: expected a variable name after SET"},
		{"SET with an invalid name", "SET 1a = x;", nil, "line 1, column 5: expected a variable name after SET"},
		{"SET without =", "SET a b;", nil, "line 1, column 7: expected = after SET a"},
		{"LET without a name", "LET = 1;", nil, "line 1, column 5: expected a variable name after LET"},
		{"LET without =", "LET a 1;", nil, "line 1, column 7: expected = after LET a"},
		{"LET without an expression", "LET a = ;", nil, "line 1, column 9: expected a number, a 'string' or ("},
		{"LET missing an operand", "LET a = 1 +;", nil, "line 1, column 12: expected a number, a 'string' or ("},
		{"LET missing a closing parenthesis", "LET a = (1 + 2;", nil, "line 1, column 15: expected ) to close the ( at line 1, column 9"},
		{"LET with two values in a row", "LET a = 1 2;", nil, `line 1, column 11: unexpected "2" after the expression`},
		{"LET with an unknown operator", "LET a = 1 $ 2;", nil, `line 1, column 11: unexpected "$" after the expression`},
		{"LET with an unknown character", "LET a = #;", nil, `line 1, column 9: unexpected "#": expected a number, a 'string' or (`},
		{"LET with a lone point", "LET a = .;", nil, `line 1, column 9: unexpected ".": expected a number, a 'string' or (`},
		{"LET with a double-quoted string", `LET a = "x";`, nil, `line 1, column 9: unexpected "\"": expected a number, a 'string' or (`},
		{"LET with a bare name", "LET a = 1 + abc;", nil, `line 1, column 13: unexpected name "abc": LET takes numbers and 'strings'; expand a variable with $(name)`},
		{"LET adding a string", "LET a = 'x' + 1;", nil, `line 1, column 13: + needs numbers, not the string "x" (use & to join strings)`},
		{"LET multiplying by a string", "LET a = 2 * '3';", nil, `line 1, column 11: * needs numbers, not the string "3" (use & to join strings)`},
		{"LET negating a string", "LET a = -'x';", nil, `line 1, column 9: - needs a number, not the string "x"`},
		{"LET dividing by zero", "LET a = 1 / 0;", nil, "line 1, column 11: division by zero"},
		{"LET dividing by a zero expression", "LET a = 1 / (2 - 2);", nil, "line 1, column 11: division by zero"},
		{"LET with a number out of range", "LET a = 1" + strings.Repeat("0", 400) + ";", nil, "line 1, column 9: number out of range"},
		{"LET overflowing", "LET a = 1" + strings.Repeat("0", 300) + " * 1" + strings.Repeat("0", 300) + ";", nil, "line 1, column 311: number out of range"},
		{"LET nested too deeply", "LET a = " + strings.Repeat("(", 101) + "1" + strings.Repeat(")", 101) + ";", nil, "line 1, column 109: expression nested more than 100 deep"},
		{"LET with an unterminated string from a variable", "LET a = $(q);", map[string]string{"q": "'"}, "line 1, column 9: unterminated string: missing closing '"},

		// CONNECT TO and SQL.
		{"CONNECT without TO", "CONNECT 'x';", nil, "line 1, column 9: expected TO after CONNECT"},
		{"CONNECT TO without quotes", "CONNECT TO x;", nil, "line 1, column 12: expected the connection name in single quotes after CONNECT TO"},
		{"CONNECT TO an empty name", "CONNECT TO ' ';", nil, "line 1, column 12: empty connection name"},
		{"CONNECT TO with more text", "CONNECT TO 'a' b;", nil, "line 1, column 16: unexpected text after the connection name"},
		{"LIB without CONNECT", "LIB x;", nil, "line 1, column 5: expected CONNECT after LIB"},
		{"SQL that is not a query", connected + "T: SQL UPDATE t SET a = 1;", nil, "line 2, column 8: expected SELECT or WITH after SQL"},
		{"SQL before CONNECT TO", "T: SQL SELECT 1;\nCONNECT TO 'c';", nil, "line 1, column 4: SQL load without a connection: CONNECT TO one first"},

		// LOAD … INLINE.
		{"LOAD from a file", "T: LOAD a FROM 'x.csv';", nil, "line 1, column 11: expected INLINE: LOAD reads only inline data (read a database with SQL SELECT)"},
		{"LOAD without fields", "T: LOAD INLINE [a\n1];", nil, "line 1, column 9: expected a field name or * before INLINE"},
		{"LOAD with an empty field", "T: LOAD a, , b INLINE [a\n1];", nil, "line 1, column 12: expected a field name or * after LOAD"},
		{"LOAD a field twice", "T: LOAD a, a INLINE [a\n1];", nil, `line 1, column 12: field "a" is loaded twice`},
		{"LOAD a field not in the header", "T: LOAD a, c INLINE [\na, b\n1, 2\n];", nil, `line 1, column 12: field "c" is not in the inline data's header`},
		{"INLINE without a bracket", "T: LOAD * INLINE a;", nil, "line 1, column 18: expected [ after INLINE"},
		{"text after inline data", "T: LOAD * INLINE [a\n1] (delimiter is ';');", nil, "line 2, column 4: unexpected text after the inline data"},
		{"inline data without a header", "T: LOAD * INLINE [ \n  \n];", nil, "line 1, column 18: inline data without a header line"},
		{"inline header with an empty field", "T: LOAD * INLINE [\na,  ,b\n];", nil, "line 2, column 5: empty field name in the inline header"},
		{"inline header with a field twice", "T: LOAD * INLINE [\na, 'a'\n];", nil, `line 2, column 4: field "a" appears twice in the inline header`},
		{"inline row with too many values", "T: LOAD * INLINE [\na, b\n1, 2\n  1, 2, 3\n];", nil, "line 4, column 3: row has 3 values, but the header has 2 fields"},
		{"inline row with too few values", "T: LOAD * INLINE [\na, b\n1\n];", nil, "line 3, column 1: row has 1 value, but the header has 2 fields"},
		{"inline row with a value per field but one header field", "T: LOAD * INLINE [\na\n1,2\n];", nil, "line 3, column 1: row has 2 values, but the header has 1 field"},
		{"inline value with an unterminated quote", "T: LOAD * INLINE [\na, b\n1, 'x\n];", nil, "line 3, column 4: unterminated quoted value: missing closing '"},
		{"inline value with text after its quotes", "T: LOAD * INLINE [\na\n\"x\" y\n];", nil, "line 3, column 5: unexpected text after a quoted value: quote the whole value"},

		// Expansion.
		{"undefined variable", "SET a = x;\nTRACE $(b);", nil, `line 2, column 7: variable "b" is not defined`},
		{"undefined variable in SQL", connected + "T: SQL SELECT * FROM t WHERE x = '$(b)';", nil, `line 2, column 35: variable "b" is not defined`},
		{"undefined variable in inline data", "T: LOAD * INLINE [\na\n $(b)\n];", nil, `line 3, column 2: variable "b" is not defined`},
		{"variable set only after its use", "TRACE $(a);\nSET a = 1;", nil, `line 1, column 7: variable "a" is not defined`},
		{"unterminated expansion", "TRACE $(a;", nil, "line 1, column 7: unterminated $(: missing )"},
		{"expansion cut by a line break", "TRACE $(a\n);", nil, "line 1, column 7: unterminated $(: missing )"},
		{"expression expansion", "TRACE $(=1+2);", nil, "line 1, column 7: $(=…) expressions are not supported: compute the value with LET and expand the variable"},
		{"nested expansion", "TRACE $(a$(b));", map[string]string{"a": "x", "b": "y"}, "line 1, column 7: a variable name cannot contain $(: nested expansion is not supported"},
		{"empty expansion", "TRACE $( );", nil, "line 1, column 7: $() names no variable"},
		{"expansion of an invalid name", "TRACE $(a-b);", nil, `line 1, column 7: invalid variable name "a-b" in $(…)`},
		{"error inside an expanded value", "LET a = 2 * $(e);", map[string]string{"e": "1 + x"}, `line 1, column 13: unexpected name "x": LET takes numbers and 'strings'; expand a variable with $(name)`},
		{"division by zero inside an expanded value", "LET a = $(e);", map[string]string{"e": "1 / 0"}, "line 1, column 9: division by zero"},
		{"row error inside expanded inline data", "T: LOAD * INLINE [\na, b\n  $(rows)\n];", map[string]string{"rows": "1, 2\n3"}, "line 3, column 3: row has 1 value, but the header has 2 fields"},
		{"unknown statement from an expansion", "SET a = 1;\n\t$(s);", map[string]string{"s": "DROP TABLE x"}, `line 2, column 2: unknown statement "DROP"`},
		{"statement longer than 1 MB", "TRACE $(big)$(big);", map[string]string{"big": strings.Repeat("x", 600<<10)}, "line 1, column 13: expanding $(big) makes the statement longer than 1 MB"},

		// Positions.
		{"CRLF line endings", "SET a = 1;\r\nSET b = 'x;\r\n", nil, "line 2, column 9: unterminated string: missing closing '"},
		{"a missing semicolon before CRLF", "SET a = 1\r\n", nil, "line 1, column 10: missing ; at the end of the statement"},
		{"a tab counts as one column", "\tSET\ta = 'x;", nil, "line 1, column 10: unterminated string: missing closing '"},
		{"columns count characters, not bytes", "TRACE ünïcödé $(nope);", nil, `line 1, column 15: variable "nope" is not defined`},
		{"an astral character is one column", "TRACE 😀 $(nope);", nil, `line 1, column 9: variable "nope" is not defined`},
		{"invalid UTF-8 counts a column per byte", "TRACE \xff\xfe $(nope);", nil, `line 1, column 10: variable "nope" is not defined`},
		{"a source over the limit", strings.Repeat(" ", MaxSourceBytes+1), nil, "line 1, column 1: script is 204801 bytes, more than the limit of 204800"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			actions, final, err := Compile(tt.src, tt.vars)
			if err == nil {
				t.Fatalf("Compile succeeded with %d actions, want %q", len(actions), tt.want)
			}
			if _, ok := err.(*Error); !ok {
				t.Fatalf("error %T is not an *Error", err)
			}
			if got := err.Error(); got != tt.want {
				t.Errorf("got  %q\nwant %q", got, tt.want)
			}
			if actions != nil || final != nil {
				t.Errorf("a failed Compile returned actions %v and variables %v", actions, final)
			}
		})
	}
}

func TestCompileCapsTheTotalExpansion(t *testing.T) {
	// Compile's 32 MB takes half a minute under the race detector; the same code with
	// smaller caps does not. Each statement expands to exactly the statement cap, so four
	// fit in the total and the fifth does not.
	caps := limits{statement: 1000, total: 4000}
	big := strings.Repeat("x", caps.statement-len("TRACE "))
	src := strings.Repeat("TRACE $(big);\n", 5)
	_, _, err := compile(src, map[string]string{"big": big}, caps)
	want := "line 5, column 7: expanding $(big) makes the script longer than 4000 bytes in total"
	if err == nil || err.Error() != want {
		t.Errorf("got %v, want %q", err, want)
	}
	if _, _, err := compile(src[:len(src)/5*4], map[string]string{"big": big}, caps); err != nil {
		t.Errorf("four statements at the cap: %v", err)
	}
}
