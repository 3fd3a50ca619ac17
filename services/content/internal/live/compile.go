package live

import (
	"fmt"
	"strconv"
	"strings"

	datagatewayv1 "github.com/oriel-dev/oriel/gen/pb/oriel/datagateway/v1"
	"github.com/oriel-dev/oriel/services/content/internal/engine"
)

// MaxParameters is the most values the datagateway binds to one statement.
const MaxParameters = 10000

// rowID names the row id column of every table's CTE. A table with a field of that name
// cannot be queried live.
const rowID = "oriel_row"

// Compile compiles hypercube h under selections sel and reductions red to a plan of SQL
// statements in dialect d. tables is the model's tables in load order, each with the
// source its rows came from; numeric says whether every value of a field is a number
// (the model's Numeric), which decides whether its selections compare as numbers.
//
// It returns *engine.FieldError for an unknown field, *engine.QueryError for a
// hypercube the engine refuses too (dimensions of unassociated tables), and
// *Unsupported for one the source cannot answer: a table the chart reads that was not
// loaded by SQL, tables of two connections, SUM, AVG, MIN or MAX of a field that is not
// numeric.
func Compile(d Dialect, tables []engine.TableInfo, numeric func(field string) bool, h engine.Hypercube,
	sel []engine.Selection, red []engine.Reduction) (*Plan, error) {
	if d != Postgres && d != MySQL {
		return nil, fmt.Errorf("live: unknown dialect %v", d)
	}
	if numeric == nil {
		numeric = func(string) bool { return false }
	}
	c := newCompiler(d, tables, numeric)
	if err := c.addFilters(sel, red); err != nil {
		return nil, err
	}
	if err := c.check(h); err != nil {
		return nil, err
	}
	p := &Plan{
		dims:     len(h.Dimensions),
		measures: append([]engine.Measure(nil), h.Measures...),
		sort:     append([]engine.SortKey(nil), h.Sort...),
		offset:   h.Offset,
		limit:    h.Limit,
	}
	used := map[int]bool{}
	var tooMany bool
	add := func(kind queryKind, measure int, st *statement, body string) {
		text, params := st.render(body)
		tooMany = tooMany || len(params) > MaxParameters
		p.queries = append(p.queries, query{kind: kind, measure: measure, statement: text, params: params})
		for t := range st.used {
			used[t] = true
		}
	}
	for i, ms := range h.Measures {
		t := c.holders[ms.Field][0]
		if c.closed(t) {
			continue
		}
		if ms.Agg != engine.Count && ms.Agg != engine.CountDistinct && !numeric(ms.Field) {
			return nil, &Unsupported{Table: tables[t].Name, Reason: fmt.Sprintf(
				"field %q has values that are not numbers, and only numbers are summed, averaged or compared live", ms.Field)}
		}
		st := c.newStatement()
		add(groupsQuery, i, st, st.groups(t, h.Dimensions, ms))
		st = c.newStatement()
		add(totalQuery, i, st, st.total(t, h.Dimensions, ms))
	}
	if len(h.Measures) == 0 && len(h.Dimensions) > 0 {
		t := c.holders[h.Dimensions[0]][0]
		if !c.closed(t) {
			st := c.newStatement()
			add(tuplesQuery, 0, st, st.tuples(t, h.Dimensions))
		}
	}
	conn, err := c.connection(used)
	if err != nil {
		return nil, err
	}
	if tooMany {
		return nil, &Unsupported{Reason: fmt.Sprintf(
			"the selections and reductions bind more than %d values; select fewer values", MaxParameters)}
	}
	p.connection = conn
	return p, nil
}

// compiler holds what the statements of one Compile share.
type compiler struct {
	d       Dialect
	tables  []engine.TableInfo
	numeric func(string) bool
	// holders lists the tables holding each field, in load order.
	holders map[string][]int
	// has says whether a table holds a field.
	has []map[string]bool
	// comp is each table's connected component.
	comp []int
	// tree is each table's neighbours in its component's join tree.
	tree [][]edge
	// filters holds each component's selections and reductions.
	filters map[int][]*filter
	// reducing says reductions exist, so a component without a reduced field is closed.
	reducing bool
	reduced  map[int]bool
}

// edge associates a table with a neighbour through a field.
type edge struct {
	to    int
	field string
}

// filter keeps the rows whose field is one of values.
type filter struct {
	field   string
	values  []string
	numeric bool
}

func newCompiler(d Dialect, tables []engine.TableInfo, numeric func(string) bool) *compiler {
	c := &compiler{d: d, tables: tables, numeric: numeric, holders: map[string][]int{},
		has: make([]map[string]bool, len(tables)), comp: make([]int, len(tables)),
		tree: make([][]edge, len(tables)), filters: map[int][]*filter{}, reduced: map[int]bool{}}
	for t, tb := range tables {
		c.has[t] = map[string]bool{}
		for _, f := range tb.Fields {
			if !c.has[t][f] {
				c.has[t][f] = true
				c.holders[f] = append(c.holders[f], t)
			}
		}
		c.comp[t] = -1
	}
	// A component's join tree is any spanning tree of its tables: the graph is a forest
	// of tables and fields, so tables sharing a field that the tree does not join directly
	// are joined through tables holding that same field, and the join is the same.
	comps := 0
	for t := range tables {
		if c.comp[t] >= 0 {
			continue
		}
		w := c.walk(t)
		for _, u := range w.order {
			c.comp[u] = comps
			if p := w.parent[u]; p >= 0 {
				c.tree[u] = append(c.tree[u], edge{to: p, field: w.key[u]})
				c.tree[p] = append(c.tree[p], edge{to: u, field: w.key[u]})
			}
		}
		comps++
	}
	return c
}

// walk is a breadth-first walk of a table's component, as the engine walks it (fields in
// table order, tables holding a field in load order), so that "nearest table" ties break
// the same way.
type walk struct {
	parent, dist []int
	key          []string
	order        []int
}

func (c *compiler) walk(from int) walk {
	n := len(c.tables)
	w := walk{parent: make([]int, n), dist: make([]int, n), key: make([]string, n)}
	for i := range n {
		w.parent[i], w.dist[i] = -1, -1
	}
	w.dist[from] = 0
	w.order = []int{from}
	for i := 0; i < len(w.order); i++ {
		t := w.order[i]
		for _, f := range c.tables[t].Fields {
			for _, u := range c.holders[f] {
				if w.dist[u] < 0 {
					w.dist[u], w.parent[u], w.key[u] = w.dist[t]+1, t, f
					w.order = append(w.order, u)
				}
			}
		}
	}
	return w
}

// addFilters files the selections and reductions under their components; both are
// filters on the same join, since the rows a reduction keeps already take part in it.
func (c *compiler) addFilters(sel []engine.Selection, red []engine.Reduction) error {
	for _, r := range red {
		hs, ok := c.holders[r.Field]
		if !ok {
			return &engine.FieldError{Field: r.Field}
		}
		comp := c.comp[hs[0]]
		c.filters[comp] = append(c.filters[comp], &filter{field: r.Field, values: r.Values, numeric: c.numeric(r.Field)})
		c.reduced[comp] = true
	}
	c.reducing = len(red) > 0
	for _, s := range sel {
		hs, ok := c.holders[s.Field]
		if !ok {
			return &engine.FieldError{Field: s.Field}
		}
		comp := c.comp[hs[0]]
		c.filters[comp] = append(c.filters[comp], &filter{field: s.Field, values: s.Values, numeric: c.numeric(s.Field)})
	}
	return nil
}

// check refuses what the engine's Hypercube refuses, with the same errors.
func (c *compiler) check(h engine.Hypercube) error {
	comp := -1
	for _, f := range h.Dimensions {
		hs, ok := c.holders[f]
		if !ok {
			return &engine.FieldError{Field: f}
		}
		if comp >= 0 && c.comp[hs[0]] != comp {
			return &engine.QueryError{Message: fmt.Sprintf(
				"dimension %q is not associated with dimension %q", f, h.Dimensions[0])}
		}
		comp = c.comp[hs[0]]
	}
	for i, ms := range h.Measures {
		hs, ok := c.holders[ms.Field]
		if !ok {
			return &engine.FieldError{Field: ms.Field}
		}
		if ms.Agg < engine.Sum || ms.Agg > engine.CountDistinct {
			return &engine.QueryError{Message: fmt.Sprintf("measure %d has an unknown aggregation %d", i, ms.Agg)}
		}
		if comp >= 0 && c.comp[hs[0]] != comp {
			return &engine.QueryError{Message: fmt.Sprintf(
				"measure field %q is not associated with the dimensions", ms.Field)}
		}
	}
	return nil
}

// closed says table t's component shows nothing: reductions exist and none is on its
// fields. Failing closed means forgetting a reduction hides data rather than shows it.
func (c *compiler) closed(t int) bool { return c.reducing && !c.reduced[c.comp[t]] }

// connection is the one connection of the tables the statements read.
func (c *compiler) connection(used map[int]bool) (string, error) {
	conn, from := "", -1
	for t := range c.tables {
		if !used[t] {
			continue
		}
		tb := c.tables[t]
		switch {
		case tb.Source.Connection == "" || strings.TrimSpace(tb.Source.Statement) == "":
			return "", &Unsupported{Table: tb.Name, Reason: "it was not loaded from a SQL source"}
		case strings.ContainsRune(tb.Source.Statement, 0):
			return "", &Unsupported{Table: tb.Name, Reason: "its statement holds a NUL character"}
		case c.has[t][rowID]:
			return "", &Unsupported{Table: tb.Name, Reason: fmt.Sprintf("it has a field named %q", rowID)}
		case from >= 0 && tb.Source.Connection != conn:
			return "", &Unsupported{Table: tb.Name, Reason: fmt.Sprintf(
				"it was loaded from connection %q and table %q from %q; a live chart reads one connection",
				tb.Source.Connection, c.tables[from].Name, conn)}
		}
		if from < 0 {
			conn, from = tb.Source.Connection, t
		}
	}
	return conn, nil
}

// statement builds one SQL statement: its CTEs, its parameter lists and the tables it
// reads.
type statement struct {
	c    *compiler
	ctes []string
	have map[string]bool
	// lists are the parameters of each filter, written into the text as markers and
	// numbered when the statement is rendered.
	lists  [][]*datagatewayv1.QueryParameter
	listOf map[*filter]int
	used   map[int]bool
	// numbered is the table whose rows get a row id, -1 for none.
	numbered int
}

func (c *compiler) newStatement() *statement {
	return &statement{c: c, have: map[string]bool{}, listOf: map[*filter]int{}, used: map[int]bool{}, numbered: -1}
}

// marker stands for parameter list i in the text until render. NUL cannot appear in a
// table's statement (connection refuses it), so a marker cannot be forged.
func marker(i int) string { return "\x00" + strconv.Itoa(i) + "\x00" }

// render replaces the markers by placeholders, left to right, and returns the text with
// the parameters in placeholder order. PostgreSQL numbers its placeholders, so a list
// used twice binds once; MySQL's `?` are positional, so it binds at each use.
func (st *statement) render(body string) (string, []*datagatewayv1.QueryParameter) {
	var text strings.Builder
	if len(st.ctes) > 0 {
		text.WriteString("WITH ")
		text.WriteString(strings.Join(st.ctes, ",\n"))
		text.WriteString("\n")
	}
	text.WriteString(body)
	parts := strings.Split(text.String(), "\x00")
	var (
		out     strings.Builder
		params  []*datagatewayv1.QueryParameter
		numbers = map[int]string{}
	)
	for i, part := range parts {
		if i%2 == 0 {
			out.WriteString(part)
			continue
		}
		l, _ := strconv.Atoi(part)
		if st.c.d == Postgres {
			if s, ok := numbers[l]; ok {
				out.WriteString(s)
				continue
			}
		}
		ph := make([]string, len(st.lists[l]))
		for j, v := range st.lists[l] {
			params = append(params, v)
			if st.c.d == Postgres {
				ph[j] = "$" + strconv.Itoa(len(params))
			} else {
				ph[j] = "?"
			}
		}
		s := strings.Join(ph, ", ")
		numbers[l] = s
		out.WriteString(s)
	}
	return out.String(), params
}

// table is the CTE of table t: its statement's rows, numbered when t is the measure's
// table. Only there is a row id needed, and a window function keeps the source from
// pushing filters down into the statement.
func (st *statement) table(t int) string {
	name := "t" + strconv.Itoa(t)
	if st.have[name] {
		return name
	}
	st.have[name] = true
	st.used[t] = true
	stmt := strings.TrimRight(st.c.tables[t].Source.Statement, " \t\r\n;")
	id := ""
	if t == st.numbered {
		id = ", ROW_NUMBER() OVER () AS " + rowID
	}
	// The newlines keep a trailing line comment of the statement from eating the ")".
	st.ctes = append(st.ctes, fmt.Sprintf("%s AS (SELECT q.*%s FROM (\n%s\n) q)", name, id, stmt))
	return name
}

// keys is the CTE of the keys through which table from's side of the join tree reaches
// table to: the key values of from's rows that pass from's filters and join every other
// neighbour's side. A row of to takes part in the join of the component exactly when,
// for each neighbour, its key is among these (the tree has no other path between them).
func (st *statement) keys(from, to int, field string) string {
	name := "k" + strconv.Itoa(from) + "_" + strconv.Itoa(to)
	if st.have[name] {
		return name
	}
	a := "a" + strconv.Itoa(from)
	conds := []string{st.col(a, field) + " IS NOT NULL"}
	conds = append(conds, st.filters(from, a)...)
	for _, e := range st.c.tree[from] {
		if e.to != to {
			conds = append(conds, fmt.Sprintf("%s IN (SELECT k FROM %s)", st.exact(st.col(a, e.field)), st.keys(e.to, from, e.field)))
		}
	}
	tb := st.table(from)
	// Dependencies first: a CTE may only name the ones before it.
	st.have[name] = true
	st.ctes = append(st.ctes, fmt.Sprintf("%s AS (SELECT DISTINCT %s AS k FROM %s %s WHERE %s)",
		name, st.exact(st.col(a, field)), tb, a, strings.Join(conds, " AND ")))
	return name
}

// possible is the conditions under which a row of table t, as alias a, is possible;
// none in a component without filters, where every row is.
func (st *statement) possible(t int, a string) []string {
	if len(st.c.filters[st.c.comp[t]]) == 0 {
		return nil
	}
	conds := st.filters(t, a)
	for _, e := range st.c.tree[t] {
		conds = append(conds, fmt.Sprintf("%s IN (SELECT k FROM %s)", st.exact(st.col(a, e.field)), st.keys(e.to, t, e.field)))
	}
	return conds
}

// filters is the conditions of the component's filters on the fields of table t.
func (st *statement) filters(t int, a string) []string {
	var conds []string
	for _, f := range st.c.filters[st.c.comp[t]] {
		if st.c.has[t][f.field] {
			conds = append(conds, st.filter(f, st.col(a, f.field)))
		}
	}
	return conds
}

// filter is `expr IN (params)`: numbers for a numeric field (a text that is not a
// number matches nothing), exact texts otherwise. No value matches nothing.
func (st *statement) filter(f *filter, expr string) string {
	l, ok := st.listOf[f]
	if !ok {
		var params []*datagatewayv1.QueryParameter
		for _, v := range f.values {
			if f.numeric {
				n, err := strconv.ParseFloat(v, 64)
				if err != nil {
					continue
				}
				params = append(params, &datagatewayv1.QueryParameter{Value: &datagatewayv1.QueryParameter_Float64Value{Float64Value: n}})
				continue
			}
			params = append(params, &datagatewayv1.QueryParameter{Value: &datagatewayv1.QueryParameter_StringValue{StringValue: v}})
		}
		l = len(st.lists)
		st.lists = append(st.lists, params)
		st.listOf[f] = l
	}
	if len(st.lists[l]) == 0 {
		return "1 = 0"
	}
	if f.numeric {
		return fmt.Sprintf("%s IN (%s)", st.number(expr), marker(l))
	}
	return fmt.Sprintf("%s IN (%s)", st.text(expr), marker(l))
}

// from is the join of measure table t with the tables on its paths to the dimensions'
// tables, each restricted to its possible rows, and the alias of each dimension's table.
func (st *statement) from(t int, dims []string) (from, where string, dimAlias []string) {
	c := st.c
	w := c.walk(t)
	on := map[int]bool{t: true}
	dimAlias = make([]string, len(dims))
	for i, f := range dims {
		best := -1
		for _, u := range c.holders[f] {
			if w.dist[u] >= 0 && (best < 0 || w.dist[u] < w.dist[best]) {
				best = u
			}
		}
		dimAlias[i] = "a" + strconv.Itoa(best)
		for x := best; x >= 0 && !on[x]; x = w.parent[x] {
			on[x] = true
		}
	}
	var b strings.Builder
	var conds []string
	for _, u := range w.order {
		if !on[u] {
			continue
		}
		a := "a" + strconv.Itoa(u)
		if u == t {
			fmt.Fprintf(&b, "%s %s", st.table(u), a)
		} else {
			p := "a" + strconv.Itoa(w.parent[u])
			fmt.Fprintf(&b, "\nJOIN %s %s ON %s", st.table(u), a, st.join(st.col(a, w.key[u]), st.col(p, w.key[u])))
		}
		conds = append(conds, st.possible(u, a)...)
	}
	if len(conds) > 0 {
		where = "\nWHERE " + strings.Join(conds, "\n AND ")
	}
	return b.String(), where, dimAlias
}

// dimColumns selects the dimensions as oriel_d0…, and in MySQL their exact bytes as
// oriel_b0… to group by, so that groups differing only in case stay apart.
func (st *statement) dimColumns(dims []string, dimAlias []string) (cols, names, groupBy []string) {
	for i, f := range dims {
		d := "oriel_d" + strconv.Itoa(i)
		cols = append(cols, fmt.Sprintf("%s AS %s", st.col(dimAlias[i], f), d))
		names = append(names, d)
		groupBy = append(groupBy, d)
		if st.c.d == MySQL {
			b := "oriel_b" + strconv.Itoa(i)
			cols = append(cols, fmt.Sprintf("%s AS %s", st.exact(st.col(dimAlias[i], f)), b))
			groupBy = append(groupBy, b)
		}
	}
	return cols, names, groupBy
}

// groups is a measure by group: each row of t counted once per group it belongs to.
func (st *statement) groups(t int, dims []string, ms engine.Measure) string {
	st.numbered = t
	from, where, dimAlias := st.from(t, dims)
	a := "a" + strconv.Itoa(t)
	cols, names, groupBy := st.dimColumns(dims, dimAlias)
	inner := fmt.Sprintf("SELECT DISTINCT %s.%s AS oriel_row, %s AS oriel_v%s\nFROM %s%s",
		a, rowID, st.measureValue(ms.Agg, st.col(a, ms.Field)), prefixComma(cols), from, where)
	if len(dims) == 0 {
		// A group exists only when a row belongs to it, as in the engine.
		return fmt.Sprintf("SELECT %s AS oriel_m FROM (\n%s\n) s HAVING COUNT(*) > 0", aggregate(ms.Agg), inner)
	}
	return fmt.Sprintf("SELECT %s, %s AS oriel_m FROM (\n%s\n) s GROUP BY %s",
		strings.Join(names, ", "), aggregate(ms.Agg), inner, strings.Join(groupBy, ", "))
}

// total is a measure over the distinct rows of t that belong to some group.
func (st *statement) total(t int, dims []string, ms engine.Measure) string {
	st.numbered = t
	from, where, _ := st.from(t, dims)
	a := "a" + strconv.Itoa(t)
	inner := fmt.Sprintf("SELECT DISTINCT %s.%s AS oriel_row, %s AS oriel_v\nFROM %s%s",
		a, rowID, st.measureValue(ms.Agg, st.col(a, ms.Field)), from, where)
	return fmt.Sprintf("SELECT %s AS oriel_m FROM (\n%s\n) s", aggregate(ms.Agg), inner)
}

// tuples is the groups of a hypercube without measures: the distinct dimension tuples
// of the join of the dimensions' tables, read from the first dimension's first table.
func (st *statement) tuples(t int, dims []string) string {
	from, where, dimAlias := st.from(t, dims)
	cols, names, _ := st.dimColumns(dims, dimAlias)
	return fmt.Sprintf("SELECT %s FROM (\nSELECT DISTINCT %s\nFROM %s%s\n) s",
		strings.Join(names, ", "), strings.Join(cols, ", "), from, where)
}

// aggregate is the aggregation of oriel_v, which measureValue has read as a number or
// a text.
func aggregate(agg engine.Aggregation) string {
	switch agg {
	case engine.Sum:
		return "SUM(oriel_v)"
	case engine.Avg:
		return "AVG(oriel_v)"
	case engine.Min:
		return "MIN(oriel_v)"
	case engine.Max:
		return "MAX(oriel_v)"
	case engine.Count:
		return "COUNT(oriel_v)"
	default: // CountDistinct; check refused any other
		return "COUNT(DISTINCT oriel_v)"
	}
}

// measureValue reads the measure's column as the engine reads it for the aggregation:
// as a double for SUM, AVG, MIN and MAX, as its exact text for the counts. Reading it
// before the DISTINCT also spares the source comparing values of types without an
// equality (PostgreSQL's json).
func (st *statement) measureValue(agg engine.Aggregation, expr string) string {
	if agg == engine.Count || agg == engine.CountDistinct {
		return st.text(expr)
	}
	return st.number(expr)
}

func prefixComma(cols []string) string {
	if len(cols) == 0 {
		return ""
	}
	return ", " + strings.Join(cols, ", ")
}

// col is a quoted column of an alias.
func (st *statement) col(alias, field string) string {
	if st.c.d == MySQL {
		return alias + ".`" + strings.ReplaceAll(field, "`", "``") + "`"
	}
	return alias + `."` + strings.ReplaceAll(field, `"`, `""`) + `"`
}

// number reads an expression as a double, as the engine reads a numeric field.
func (st *statement) number(expr string) string {
	if st.c.d == MySQL {
		// Adding a double converts any type to one, on every MySQL and MariaDB version.
		return "(" + expr + " + 0e0)"
	}
	// Through text, because a cast must type-check even when it never runs: a field whose
	// every value is null is numeric, whatever its column's type (a date cannot be cast to
	// a double, its null can). Shortest texts make the round trip exact.
	return "CAST(CAST(" + expr + " AS text) AS double precision)"
}

// text reads an expression as its text, compared byte for byte.
func (st *statement) text(expr string) string {
	if st.c.d == MySQL {
		return st.exact(expr)
	}
	return "CAST(" + expr + " AS text)"
}

// exact is an expression in a form whose equality is the engine's: PostgreSQL's own
// equality already is, but MySQL's compares texts under a collation that may ignore
// case and trailing spaces, so there it is the value's bytes.
func (st *statement) exact(expr string) string {
	if st.c.d == MySQL {
		return "CAST(CAST(" + expr + " AS CHAR) AS BINARY)"
	}
	return expr
}

// join is the condition joining two tables on a shared field: the plain equality lets
// the source use its join strategies, the exact one keeps MySQL's collations from joining
// `a` to `A`.
func (st *statement) join(x, y string) string {
	if st.c.d == MySQL {
		return fmt.Sprintf("%s = %s AND %s = %s", x, y, st.exact(x), st.exact(y))
	}
	return x + " = " + y
}
