package script

import (
	"fmt"
	"maps"
	"reflect"
	"strings"
	"testing"
)

// str makes a non-null inline value.
func str(s string) *string { return &s }

func TestCompile(t *testing.T) {
	tests := []struct {
		name     string
		src      string
		vars     map[string]string
		want     []Action
		wantVars map[string]string
	}{
		{
			name:     "SET assigns the trimmed text",
			src:      "SET a =   hello   world  ;",
			wantVars: map[string]string{"a": "hello   world"},
		},
		{
			name:     "SET removes the quotes of a whole single-quoted value",
			src:      "SET a = ' padded ';",
			wantVars: map[string]string{"a": " padded "},
		},
		{
			name:     "SET unescapes doubled quotes in a quoted value",
			src:      "SET a = 'it''s';",
			wantVars: map[string]string{"a": "it's"},
		},
		{
			name:     "SET keeps quotes that do not wrap the whole value",
			src:      "SET a = 'x' & 'y'; SET b = \"x\";",
			wantVars: map[string]string{"a": "'x' & 'y'", "b": `"x"`},
		},
		{
			name:     "SET removes only the quotes of one whole string",
			src:      "SET a = ''''; SET b = $(q); SET c = 'a'''; SET d = 'x''y' & 'z';",
			vars:     map[string]string{"q": "'abc"},
			wantVars: map[string]string{"q": "'abc", "a": "'", "b": "'abc", "c": "a'", "d": "'x''y' & 'z'"},
		},
		{
			name:     "SET to nothing is the empty string",
			src:      "SET a = ;",
			wantVars: map[string]string{"a": ""},
		},
		{
			name:     "a semicolon in a quoted SET value is text",
			src:      "SET a = 'x;y';",
			wantVars: map[string]string{"a": "x;y"},
		},
		{
			name:     "a double slash in a quoted SET value is text",
			src:      "SET url = 'http://example.com/a';",
			wantVars: map[string]string{"url": "http://example.com/a"},
		},
		{
			name:     "keywords are case-insensitive",
			src:      "set a = 1; Let b = 2; tRaCe x; connect to 'c'; T: sql select 1; U: load * inline [x\n1];",
			wantVars: map[string]string{"a": "1", "b": "2"},
			want: []Action{
				&Trace{Pos: Position{1, 23}, Text: "x"},
				&SQLLoad{Pos: Position{1, 48}, Table: "T", Connection: "c", Statement: "select 1"},
				&InlineLoad{Pos: Position{1, 65}, Table: "U", Fields: []string{"x"}, Rows: [][]*string{{str("1")}}},
			},
		},
		{
			name:     "variable names are case-sensitive",
			src:      "SET a = lower; SET A = upper;",
			vars:     map[string]string{"a": "caller"},
			wantVars: map[string]string{"a": "lower", "A": "upper"},
		},
		{
			name:     "LET adds and formats an integer without a fraction",
			src:      "LET vYear = 2020 + 1;",
			wantVars: map[string]string{"vYear": "2021"},
		},
		{
			name:     "LET divides into a fraction",
			src:      "LET a = 5 / 2;",
			wantVars: map[string]string{"a": "2.5"},
		},
		{
			name:     "LET multiplies and divides before adding and subtracting",
			src:      "LET a = 2 + 3 * 4 - 10 / 5;",
			wantVars: map[string]string{"a": "12"},
		},
		{
			name:     "LET groups with parentheses",
			src:      "LET a = (2 + 3) * (4 - 1);",
			wantVars: map[string]string{"a": "15"},
		},
		{
			name:     "LET negates with unary minus",
			src:      "LET a = -3 - -2; LET b = -(2 * 3); LET c = - - 4;",
			wantVars: map[string]string{"a": "-1", "b": "-6", "c": "4"},
		},
		{
			name:     "LET reads numbers with a leading or trailing point",
			src:      "LET a = .5 + 1.;",
			wantVars: map[string]string{"a": "1.5"},
		},
		{
			name:     "LET rounds binary noise away",
			src:      "LET a = 0.1 + 0.2; LET b = 1 / 3;",
			wantVars: map[string]string{"a": "0.3", "b": "0.333333333333333"},
		},
		{
			name:     "LET never writes negative zero",
			src:      "LET a = -0; LET b = 0 * -1;",
			wantVars: map[string]string{"a": "0", "b": "0"},
		},
		{
			name:     "LET writes large numbers without an exponent",
			src:      "LET a = 1000000 * 1000000 * 1000000 * 1000;",
			wantVars: map[string]string{"a": "1000000000000000000000"},
		},
		{
			name:     "LET reads strings with doubled quotes",
			src:      "LET a = 'it''s'; LET b = '';",
			wantVars: map[string]string{"a": "it's", "b": ""},
		},
		{
			name:     "LET concatenates after doing arithmetic",
			src:      "LET a = 'Year ' & 2020 + 1; LET b = 1 & 2; LET c = 'q' & 1 / 4 & ('x' & 'y');",
			wantVars: map[string]string{"a": "Year 2021", "b": "12", "c": "q0.25xy"},
		},
		{
			name:     "LET evaluates expanded text",
			src:      "LET b = $(a) * 2; LET c = '$(s)' & '_x';",
			vars:     map[string]string{"a": "21", "s": "sales"},
			wantVars: map[string]string{"a": "21", "s": "sales", "b": "42", "c": "sales_x"},
		},
		{
			name:     "LET may span lines",
			src:      "LET a =\n  1 +\n  2;",
			wantVars: map[string]string{"a": "3"},
		},
		{
			name: "SQL load uses the connection before it",
			src:  "CONNECT TO 'warehouse';\nOrders: SQL SELECT * FROM orders;",
			want: []Action{&SQLLoad{Pos: Position{2, 1}, Table: "Orders", Connection: "warehouse", Statement: "SELECT * FROM orders"}},
		},
		{
			name: "SQL WITH is a SQL load",
			src:  "CONNECT TO 'c';\nT: SQL WITH x AS (SELECT 1) SELECT * FROM x;",
			want: []Action{&SQLLoad{Pos: Position{2, 1}, Table: "T", Connection: "c", Statement: "WITH x AS (SELECT 1) SELECT * FROM x"}},
		},
		{
			name: "a later CONNECT TO changes the connection of later loads",
			src:  "CONNECT TO 'a'; A: SQL SELECT 1; LIB CONNECT TO 'o''neil'; B: SQL SELECT 2;",
			want: []Action{
				&SQLLoad{Pos: Position{1, 17}, Table: "A", Connection: "a", Statement: "SELECT 1"},
				&SQLLoad{Pos: Position{1, 60}, Table: "B", Connection: "o'neil", Statement: "SELECT 2"},
			},
		},
		{
			name: "semicolons in SQL strings, quoted names and -- comments do not end the statement",
			src: "CONNECT TO 'c';\nT: SQL SELECT 'a;b' AS \"x;y\", 'it''s;' -- don't; stop\n" +
				"  FROM t -- /* not a script comment\n  WHERE [odd;name] = 1 ;",
			want: []Action{&SQLLoad{Pos: Position{2, 1}, Table: "T", Connection: "c",
				Statement: "SELECT 'a;b' AS \"x;y\", 'it''s;' -- don't; stop\n  FROM t -- /* not a script comment\n  WHERE [odd;name] = 1"}},
		},
		{
			name: "script comments are removed from SQL, a block comment leaving a space",
			src:  "CONNECT TO 'c';\nT: SQL SELECT a,/* one; */b // two; 'x\n FROM t;",
			want: []Action{&SQLLoad{Pos: Position{2, 1}, Table: "T", Connection: "c", Statement: "SELECT a, b \n FROM t"}},
		},
		{
			name: "SQL expands variables in strings and names",
			src:  "CONNECT TO '$(conn)';\nT: SQL SELECT * FROM $(schema).t WHERE s = '$(state)';",
			vars: map[string]string{"conn": "warehouse", "schema": "sales", "state": "a;b"},
			want: []Action{&SQLLoad{Pos: Position{2, 1}, Table: "T", Connection: "warehouse",
				Statement: "SELECT * FROM sales.t WHERE s = 'a;b'"}},
		},
		{
			name: "a SQL -- comment is SQL, so it is expanded",
			src:  "CONNECT TO 'c';\nT: SQL SELECT 1 -- for $(who)\n;",
			vars: map[string]string{"who": "ops"},
			want: []Action{&SQLLoad{Pos: Position{2, 1}, Table: "T", Connection: "c", Statement: "SELECT 1 -- for ops"}},
		},
		{
			name: "table names may be bracketed or double-quoted, with a space before the colon",
			src: "CONNECT TO 'c';\n[Order Lines] : SQL SELECT 1;\n\"Sales \"\"2024\"\"\": SQL SELECT 2;\n" +
				"[Ventes €]:\n  SQL SELECT 3;\n_t9: SQL SELECT 4;",
			want: []Action{
				&SQLLoad{Pos: Position{2, 1}, Table: "Order Lines", Connection: "c", Statement: "SELECT 1"},
				&SQLLoad{Pos: Position{3, 1}, Table: `Sales "2024"`, Connection: "c", Statement: "SELECT 2"},
				&SQLLoad{Pos: Position{4, 1}, Table: "Ventes €", Connection: "c", Statement: "SELECT 3"},
				&SQLLoad{Pos: Position{6, 1}, Table: "_t9", Connection: "c", Statement: "SELECT 4"},
			},
		},
		{
			name: "table names may be expanded",
			src:  "CONNECT TO 'c';\n$(t): SQL SELECT 1;\n[$(t) 2]: SQL SELECT 2;\n$(b): SQL SELECT 3;",
			vars: map[string]string{"t": "Orders", "b": "[Any Name]"},
			want: []Action{
				&SQLLoad{Pos: Position{2, 1}, Table: "Orders", Connection: "c", Statement: "SELECT 1"},
				&SQLLoad{Pos: Position{3, 1}, Table: "Orders 2", Connection: "c", Statement: "SELECT 2"},
				&SQLLoad{Pos: Position{4, 1}, Table: "Any Name", Connection: "c", Statement: "SELECT 3"},
			},
		},
		{
			name: "table names are case-sensitive",
			src:  "CONNECT TO 'c'; t: SQL SELECT 1; T: SQL SELECT 2;",
			want: []Action{
				&SQLLoad{Pos: Position{1, 17}, Table: "t", Connection: "c", Statement: "SELECT 1"},
				&SQLLoad{Pos: Position{1, 34}, Table: "T", Connection: "c", Statement: "SELECT 2"},
			},
		},
		{
			name: "inline data: header, trimmed values, quotes, nulls and blank lines",
			src: "Regions: LOAD * INLINE [\n" +
				"  code , name, note\n" +
				"N, \"North, upper\", 'it''s'\n" +
				"\n" +
				"  S ,  , ''\n" +
				"E,\"say \"\"hi\"\"\",\n" +
				"];",
			want: []Action{&InlineLoad{Pos: Position{1, 1}, Table: "Regions", Fields: []string{"code", "name", "note"},
				Rows: [][]*string{
					{str("N"), str("North, upper"), str("it's")},
					{str("S"), nil, str("")},
					{str("E"), str(`say "hi"`), nil},
				}}},
		},
		{
			name: "inline data may start on the bracket's line and end on the last row's",
			src:  "T: LOAD * INLINE [a,b\n1,2];",
			want: []Action{&InlineLoad{Pos: Position{1, 1}, Table: "T", Fields: []string{"a", "b"},
				Rows: [][]*string{{str("1"), str("2")}}}},
		},
		{
			name: "LOAD selects fields in its own order",
			src:  "T: LOAD c, a INLINE [\na, b, c\n1, 2, 3\n4, 5, 6\n];",
			want: []Action{&InlineLoad{Pos: Position{1, 1}, Table: "T", Fields: []string{"c", "a"},
				Rows: [][]*string{{str("3"), str("1")}, {str("6"), str("4")}}}},
		},
		{
			name: "LOAD selects bracketed and quoted field names",
			src:  "T: LOAD [first name], \"last\" INLINE [\n\"first name\", last, age\nAda, Lovelace, 36\n];",
			want: []Action{&InlineLoad{Pos: Position{1, 1}, Table: "T", Fields: []string{"first name", "last"},
				Rows: [][]*string{{str("Ada"), str("Lovelace")}}}},
		},
		{
			name: "comments, semicolons and quotes inside inline data are data",
			src:  "T: LOAD * INLINE [\nurl; x, note\nhttp://a.b/c, /* no */\nO'Brien;, a // b\n];",
			want: []Action{&InlineLoad{Pos: Position{1, 1}, Table: "T", Fields: []string{"url; x", "note"},
				Rows: [][]*string{{str("http://a.b/c"), str("/* no */")}, {str("O'Brien;"), str("a // b")}}}},
		},
		{
			name: "inline data with only a header has no rows",
			src:  "T: LOAD * INLINE [\na\n];",
			want: []Action{&InlineLoad{Pos: Position{1, 1}, Table: "T", Fields: []string{"a"}, Rows: [][]*string{}}},
		},
		{
			name: "inline data is expanded, and a ] from a value is data",
			src:  "T: LOAD * INLINE [\nname, v\n$(n), 1\n$(rows)\n];",
			vars: map[string]string{"n": "x]y", "rows": "a, 2\nb, 3"},
			want: []Action{&InlineLoad{Pos: Position{1, 1}, Table: "T", Fields: []string{"name", "v"},
				Rows: [][]*string{{str("x]y"), str("1")}, {str("a"), str("2")}, {str("b"), str("3")}}}},
		},
		{
			name: "inline data can come whole from a variable",
			src:  "T: LOAD * INLINE $(data);",
			vars: map[string]string{"data": "[a\n1]"},
			want: []Action{&InlineLoad{Pos: Position{1, 1}, Table: "T", Fields: []string{"a"}, Rows: [][]*string{{str("1")}}}},
		},
		{
			name: "a trailing comma adds a null value",
			src:  "T: LOAD * INLINE [\na, b\n1,\n];",
			want: []Action{&InlineLoad{Pos: Position{1, 1}, Table: "T", Fields: []string{"a", "b"}, Rows: [][]*string{{str("1"), nil}}}},
		},
		{
			name: "TRACE writes its expanded text",
			src:  "SET n = 42;\nTRACE   Loaded $(n) rows  ;\nTRACE;\nTRACE 'a;b' \"c\";",
			want: []Action{
				&Trace{Pos: Position{2, 1}, Text: "Loaded 42 rows"},
				&Trace{Pos: Position{3, 1}, Text: ""},
				&Trace{Pos: Position{4, 1}, Text: `'a;b' "c"`},
			},
			wantVars: map[string]string{"n": "42"},
		},
		{
			name: "comments anywhere outside strings are ignored and never expanded",
			src: "// $(undefined) 'unbalanced\n/* a\n; block */ SET /* x */ a /**/ = 1 // ;\n ; // after\n" +
				"LET b = 2 /* ; */ + // c\n 3;\nSET c = x/**/y;\nCONNECT TO 'c'; T: // why\n SQL SELECT 1;\n/* end */",
			wantVars: map[string]string{"a": "1", "b": "5", "c": "x y"},
			want:     []Action{&SQLLoad{Pos: Position{8, 17}, Table: "T", Connection: "c", Statement: "SELECT 1"}},
		},
		{
			name:     "empty statements and a byte order mark are skipped",
			src:      "\uFEFF;; SET a = 1;;\n;",
			wantVars: map[string]string{"a": "1"},
		},
		{
			name: "an empty script does nothing",
			src:  " \n// only a comment\n",
		},
		{
			name: "positions count characters, and a tab as one",
			src:  "/* ü😀 */\tT: LOAD * INLINE [a\n1];\n\t\tTRACE é;",
			want: []Action{
				&InlineLoad{Pos: Position{1, 10}, Table: "T", Fields: []string{"a"}, Rows: [][]*string{{str("1")}}},
				&Trace{Pos: Position{3, 3}, Text: "é"},
			},
		},
		{
			name:     "a CRLF script reads as an LF one",
			src:      "SET a = x;\r\nLET b = 1 +\r\n 2;\r\nT: LOAD * INLINE [\r\nk, v\r\n1, 'q'\r\n];\r\n",
			wantVars: map[string]string{"a": "x", "b": "3"},
			want:     []Action{&InlineLoad{Pos: Position{4, 1}, Table: "T", Fields: []string{"k", "v"}, Rows: [][]*string{{str("1"), str("q")}}}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			actions, final, err := Compile(tt.src, tt.vars)
			if err != nil {
				t.Fatalf("Compile: %v", err)
			}
			if !reflect.DeepEqual(actions, tt.want) {
				t.Errorf("actions:\n got %s\nwant %s", describe(actions), describe(tt.want))
			}
			if tt.wantVars == nil {
				tt.wantVars = map[string]string{}
				maps.Copy(tt.wantVars, tt.vars)
			}
			if !maps.Equal(final, tt.wantVars) {
				t.Errorf("variables: got %q, want %q", final, tt.wantVars)
			}
		})
	}
}

func TestCompileExpansion(t *testing.T) {
	tests := []struct {
		name   string
		src    string
		vars   map[string]string
		traces []string
	}{
		{
			name:   "an expansion uses the value the variable has when its statement runs",
			src:    "SET a = 1; TRACE $(a); SET a = 2; TRACE $(a);",
			traces: []string{"1", "2"},
		},
		{
			name:   "a SET after a use does not change the earlier expansion",
			src:    "TRACE $(a); SET a = late;",
			vars:   map[string]string{"a": "early"},
			traces: []string{"early"},
		},
		{
			name:   "an expansion in the statement that assigns reads the old value",
			src:    "SET a = x$(a)x; TRACE $(a);",
			vars:   map[string]string{"a": "y"},
			traces: []string{"xyx"},
		},
		{
			name:   "an expanded value is not scanned again",
			src:    "TRACE $(self); SET b = $(self); TRACE $(b);",
			vars:   map[string]string{"self": "[$(self)]"},
			traces: []string{"[$(self)]", "[$(self)]"},
		},
		{
			name:   "LET can double a variable",
			src:    "SET a = ab; LET a = '$(a)$(a)'; LET a = '$(a)$(a)'; TRACE $(a);",
			traces: []string{"abababab"},
		},
		{
			name:   "spaces inside $( ) are ignored",
			src:    "TRACE $( a );",
			vars:   map[string]string{"a": "x"},
			traces: []string{"x"},
		},
		{
			name:   "a $ not followed by ( is text",
			src:    "TRACE costs $5 $ (a) $;",
			traces: []string{"costs $5 $ (a) $"},
		},
		{
			name:   "a semicolon in a value does not end the statement",
			src:    "TRACE $(w); TRACE next;",
			vars:   map[string]string{"w": "a;b"},
			traces: []string{"a;b", "next"},
		},
		{
			name:   "a keyword may come from an expansion",
			src:    "$(kw) a = 1; TRACE $(a);",
			vars:   map[string]string{"kw": "SET"},
			traces: []string{"1"},
		},
		{
			name:   "a variable name may be built by an expansion",
			src:    "SET i = 3; LET v$(i) = $(i) * 2; TRACE $(v3);",
			traces: []string{"6"},
		},
		{
			name:   "an expansion to nothing leaves an empty statement",
			src:    "$(nothing); TRACE done;",
			vars:   map[string]string{"nothing": ""},
			traces: []string{"done"},
		},
		{
			name:   "expansion happens inside single-quoted strings",
			src:    "LET a = 'v=$(v)'; TRACE $(a);",
			vars:   map[string]string{"v": "1"},
			traces: []string{"v=1"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			actions, _, err := Compile(tt.src, tt.vars)
			if err != nil {
				t.Fatalf("Compile: %v", err)
			}
			var traces []string
			for _, a := range actions {
				traces = append(traces, a.(*Trace).Text)
			}
			if !reflect.DeepEqual(traces, tt.traces) {
				t.Errorf("traces: got %q, want %q", traces, tt.traces)
			}
		})
	}
}

func TestCompileLeavesCallerVariablesAlone(t *testing.T) {
	vars := map[string]string{"a": "1", "keep": "k"}
	_, final, err := Compile("SET a = 2; SET b = 3;", vars)
	if err != nil {
		t.Fatal(err)
	}
	if want := map[string]string{"a": "1", "keep": "k"}; !maps.Equal(vars, want) {
		t.Errorf("caller's variables: got %q, want %q", vars, want)
	}
	if want := map[string]string{"a": "2", "b": "3", "keep": "k"}; !maps.Equal(final, want) {
		t.Errorf("final variables: got %q, want %q", final, want)
	}
}

func TestErrorReadsLineColumnMessage(t *testing.T) {
	err := &Error{Pos: Position{Line: 3, Column: 5}, Message: "boom"}
	if got, want := err.Error(), "line 3, column 5: boom"; got != want {
		t.Errorf("got %q, want %q", got, want)
	}
}

// describe prints actions with the values behind their pointers.
func describe(actions []Action) string {
	var b strings.Builder
	for _, a := range actions {
		b.WriteString("\n  ")
		inline, ok := a.(*InlineLoad)
		if !ok {
			b.WriteString(strings.ReplaceAll(fmt.Sprintf("%T%+v", a, a), "\n", `\n`))
			continue
		}
		fmt.Fprintf(&b, "InlineLoad{%+v %q %q", inline.Pos, inline.Table, inline.Fields)
		for _, row := range inline.Rows {
			b.WriteString(" [")
			for _, v := range row {
				if v == nil {
					b.WriteString("<null>|")
				} else {
					fmt.Fprintf(&b, "%q|", *v)
				}
			}
			b.WriteString("]")
		}
		b.WriteString("}")
	}
	return b.String()
}
