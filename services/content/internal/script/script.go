// Package script compiles Oriel load scripts: the small statement language a Qlik Sense
// user knows, run in order to set variables and to list what a reload loads.
//
//	SET vSchema = sales;                  // the text after =, trimmed; 'quotes' removed
//	LET vYear = 2020 + 1;                 // numbers, 'strings', + - * /, & joins text
//	CONNECT TO 'warehouse';               // LIB CONNECT TO works too
//	Orders: SQL SELECT * FROM $(vSchema).orders WHERE year = $(vYear);
//	Regions: LOAD * INLINE [
//	code, name
//	N, "North, upper"
//	];
//	TRACE Loaded $(vYear);
//
// Statements end at the first `;` outside a string, a [bracket], a comment or (in SQL) a
// `--` comment; that split is made on the source as written, before anything is expanded,
// so a value holding a `;` cannot end a statement. Then, statement by statement, `$(name)`
// is replaced by the value the variable has at that point, anywhere in the statement
// (strings, SQL and its `--` comments, inline data), and the statement runs. Script
// comments, `//` and `/* */`, are removed first and never expanded; one counts as a
// space. Where Qlik is lenient this package is strict, since a script that does not say
// what its author meant should fail its first reload rather than load the wrong data:
//   - expanding an undefined variable is an error, not an empty string;
//   - `$(=expr)`, `$(a$(b))` and other computed names are errors: a name is
//     `[A-Za-z_][A-Za-z0-9_]*`, as the API requires of declared variables;
//   - an expanded value is not scanned again, so `$(x)` in a value stays as it is;
//   - every table has a name, given once (names are case-sensitive, as in Qlik);
//   - LOAD reads only INLINE data, and SQL loads need a CONNECT TO before them;
//   - LET knows numbers and strings, not variable names or functions.
//
// Inline data ends at the first ] in the source (a ] from an expanded value is data), and
// blank lines in it are skipped. There is no escape for a literal `$(`. A quote in
// unquoted text (SET, TRACE) starts a string, as in Qlik, and SQL strings are standard:
// a backslash escapes nothing.
package script

import (
	"fmt"
	"maps"
)

// MaxSourceBytes is the largest script Compile accepts, the API's limit on a load script.
const MaxSourceBytes = 200 << 10

// Action is one thing a reload does, in order.
type Action interface{ Position() Position }

// Trace writes Text to the reload log.
type Trace struct {
	Pos  Position
	Text string
}

// SQLLoad loads the result of Statement, run on Connection, into Table.
type SQLLoad struct {
	Pos   Position
	Table string
	// Connection is the name as written in the last CONNECT TO before the load.
	Connection string
	// Statement is the SQL, expanded and trimmed, from SELECT or WITH to before the `;`.
	Statement string
}

// InlineLoad loads rows written in the script into Table.
type InlineLoad struct {
	Pos    Position
	Table  string
	Fields []string
	// Rows hold one value per field; nil is null.
	Rows [][]*string
}

// Position is where the trace statement starts.
func (a *Trace) Position() Position { return a.Pos }

// Position is where the load statement starts, at its table name.
func (a *SQLLoad) Position() Position { return a.Pos }

// Position is where the load statement starts, at its table name.
func (a *InlineLoad) Position() Position { return a.Pos }

// Compile runs the script's variable statements and returns the actions in order, with the
// final variables. vars are the variables the script starts with, which it does not
// change. An error is an *Error at a line and column of src, counted in characters.
func Compile(src string, vars map[string]string) (actions []Action, final map[string]string, err error) {
	return compile(src, vars, limits{statement: MaxStatementBytes, total: MaxExpandedBytes})
}

func compile(src string, vars map[string]string, caps limits) ([]Action, map[string]string, error) {
	if len(src) > MaxSourceBytes {
		return nil, nil, &Error{Pos: Position{Line: 1, Column: 1},
			Message: fmt.Sprintf("script is %d bytes, more than the limit of %d", len(src), MaxSourceBytes)}
	}
	final := maps.Clone(vars)
	if final == nil {
		final = map[string]string{}
	}
	s := newSource(src)
	c := &compiler{src: s, vars: final, tables: map[string]Position{}}
	split := &splitter{src: s}
	expand := &expander{src: s, vars: final, limits: caps}
	for {
		raw, err := split.next()
		if err != nil {
			return nil, nil, err
		}
		if raw == nil {
			return c.actions, final, nil
		}
		stmt, err := expand.expand(raw)
		if err != nil {
			return nil, nil, err
		}
		if err := c.statement(stmt); err != nil {
			return nil, nil, err
		}
	}
}
