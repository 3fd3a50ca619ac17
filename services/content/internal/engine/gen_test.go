package engine_test

import (
	"cmp"
	"fmt"
	"math/rand/v2"
	"slices"
	"strconv"
	"strings"

	"github.com/oriel-dev/oriel/services/content/internal/engine"
)

// The generator makes small random associative models for the oracle test: forests of
// 2–5 tables (a star, a snowflake, a chain, or two unassociated trees) whose key fields
// each join exactly two tables. Cardinalities are small so that random selections hit;
// nulls, orphan keys and duplicate dimension keys come and go from model to model.

// genField is a field of a generated model.
type genField struct {
	name string
	// col names the field's columns in PostgreSQL: col+"_t" (text) and col+"_n" (number).
	col string
	// tables hold the field, in load order (a key field is in two, any other in one).
	tables []int
	key    bool
	// numeric: every non-null value has a number (a field fit for SUM, AVG, MIN, MAX).
	numeric bool
}

// genTable is a table of a generated model; tables are kept in load order.
type genTable struct {
	name   string
	fields []int // indexes into genModel.fields, in the table's column order
	rows   [][]engine.Value
	comp   int
}

// genEdge associates two tables through a key field.
type genEdge struct{ a, b, field int }

// genModel is a generated model: tables in load order, fields, and the forest's edges.
type genModel struct {
	seed   int64
	shape  string
	tables []*genTable
	fields []*genField
	edges  []genEdge
	comps  int
	// traits, for the failure message
	orphans, dups bool
	// size is "small" (tables of tens of rows), "medium" (hundreds, so row and symbol
	// bitsets span several words) or "big" (a fact table past the engine's threshold for
	// scanning in parallel, ~131k rows).
	size string
}

// adjacent lists (neighbour, field) pairs of table t.
func (m *genModel) adjacent(t int) [][2]int {
	var out [][2]int
	for _, e := range m.edges {
		switch t {
		case e.a:
			out = append(out, [2]int{e.b, e.field})
		case e.b:
			out = append(out, [2]int{e.a, e.field})
		}
	}
	return out
}

// path returns the tables on the path from a to b (both included), or nil if they are in
// different components.
func (m *genModel) path(a, b int) []int {
	prev := map[int]int{a: -1}
	queue := []int{a}
	for len(queue) > 0 {
		t := queue[0]
		queue = queue[1:]
		for _, nf := range m.adjacent(t) {
			if _, seen := prev[nf[0]]; !seen {
				prev[nf[0]] = t
				queue = append(queue, nf[0])
			}
		}
	}
	if _, ok := prev[b]; !ok {
		return nil
	}
	var p []int
	for t := b; t != -1; t = prev[t] {
		p = append(p, t)
	}
	slices.Reverse(p)
	return p
}

// compTables lists the tables of component c in load order.
func (m *genModel) compTables(c int) []int {
	var out []int
	for i, t := range m.tables {
		if t.comp == c {
			out = append(out, i)
		}
	}
	return out
}

func (m *genModel) fieldIndex(name string) int {
	for i, f := range m.fields {
		if f.name == name {
			return i
		}
	}
	return -1
}

// fieldComp is the component of field f.
func (m *genModel) fieldComp(f int) int { return m.tables[m.fields[f].tables[0]].comp }

// colOf is the position of field f in table t, or -1.
func (m *genModel) colOf(t, f int) int { return slices.Index(m.tables[t].fields, f) }

// describe prints the model compactly, for failure messages.
func (m *genModel) describe() string {
	var b strings.Builder
	fmt.Fprintf(&b, "model seed=%d shape=%s size=%s components=%d orphans=%v dups=%v\n", m.seed, m.shape, m.size, m.comps, m.orphans, m.dups)
	for _, t := range m.tables {
		names := make([]string, len(t.fields))
		for i, f := range t.fields {
			names[i] = m.fields[f].name
		}
		fmt.Fprintf(&b, "  table %s (component %d) %q\n", t.name, t.comp, names)
		for ri, r := range t.rows {
			if ri == 60 {
				fmt.Fprintf(&b, "    … %d more rows\n", len(t.rows)-ri)
				break
			}
			cells := make([]string, len(r))
			for i, v := range r {
				cells[i] = showValue(v)
			}
			fmt.Fprintf(&b, "    %s\n", strings.Join(cells, " | "))
		}
	}
	return b.String()
}

func showValue(v engine.Value) string {
	switch {
	case v.Null:
		return "null"
	case v.IsNum:
		return fmt.Sprintf("%s#%v", v.Text, v.Num)
	default:
		return strconv.Quote(v.Text)
	}
}

// num is a number whose text is its shortest decimal form, so a number never has two texts.
func num(f float64) engine.Value { return engine.NumberValue(f, strconv.FormatFloat(f, 'f', -1, 64)) }

// Value pools. Decimals are dyadic so that sums and averages are exact in both engines and
// ties in sorted measures are true ties; texts mix case, digits ("10" sorts before "9" as
// text) and a non-ASCII letter whose case folds simply.
var (
	decimalPool = []float64{0.5, 1.25, 2, 10, 100, -1.5, 3.75, 20.125, 9, 0}
	textPool    = []string{"a", "b", "Ab", "aB", "B", "é", "Émile", "x y", "10", "9", "zz", ""}
	mixedTexts  = []string{"n/a", "Ab", "b", "zeta", "10x"}
	fieldWords  = []string{"Amount", "qty", "Région", "name x", "Colour", "size", "Code", "flag", "Price", "Kind"}
)

// generateModel makes the model of a seed.
func generateModel(seed int64, allowBig bool) *genModel {
	r := rand.New(rand.NewPCG(uint64(seed), 0x0e1e1))
	m := &genModel{seed: seed}
	n := 2 + r.IntN(4)
	shapes := []string{"star", "snowflake", "chain", "two"}
	m.shape = shapes[r.IntN(len(shapes))]
	m.orphans = r.IntN(2) == 0
	m.dups = r.IntN(3) == 0
	// Big models are rare and picked from the seed alone, so that a run's cost is stable.
	m.size = "small"
	switch {
	case allowBig && splitmix(uint64(seed))%16 == 0:
		m.size = "big"
	case r.IntN(10) < 3:
		m.size = "medium"
	}
	// rootRows, keys and card scale a model's row counts and cardinalities.
	rootRows := func() int {
		switch m.size {
		case "big":
			return 140_000 + r.IntN(40_000)
		case "medium":
			return 60 + r.IntN(250)
		}
		return 4 + r.IntN(30)
	}
	keys := func() int {
		switch m.size {
		case "big":
			return 20 + r.IntN(300)
		case "medium":
			return 2 + r.IntN(100)
		}
		return 2 + r.IntN(6)
	}
	card := func() int {
		if m.size != "small" && r.IntN(2) == 0 {
			return 1 + r.IntN(90)
		}
		return 1 + r.IntN(6)
	}

	// parent[i] is node i's parent in its tree, -1 for a root; node 0 is a root.
	parent := make([]int, n)
	comp := make([]int, n)
	split := n
	if m.shape == "two" {
		split = 1 + r.IntN(n-1)
	}
	for i := range n {
		switch {
		case i == 0 || i == split:
			parent[i] = -1
		case m.shape == "star":
			parent[i] = 0
		case m.shape == "chain":
			parent[i] = i - 1
		case i > split:
			parent[i] = split + r.IntN(i-split)
		default:
			parent[i] = r.IntN(i)
		}
		if i >= split {
			comp[i] = 1
		}
	}
	m.comps = 1
	if split < n {
		m.comps = 2
	}

	// Load order: a random permutation of the nodes, so that a fact table is not always the
	// first table holding its key fields.
	order := r.Perm(n)
	loadIndex := make([]int, n) // node -> load index
	for li, node := range order {
		loadIndex[node] = li
		m.tables = append(m.tables, &genTable{name: fmt.Sprintf("T%d_%s", li, []string{"sales", "dim", "facts", "Ref", "sub"}[node%5]), comp: comp[node]})
	}

	newField := func(name string, key bool) int {
		m.fields = append(m.fields, &genField{name: name, col: fmt.Sprintf("f%d", len(m.fields)), key: key})
		return len(m.fields) - 1
	}

	// Rows are generated per node: a root gets a random row count; a child gets one row per
	// key of its own (primary) key domain subset, more with duplicates.
	type column struct {
		field  int
		values []engine.Value
	}
	cols := make([][]column, n)
	rowCount := make([]int, n)
	// keyDomain[node] is the domain of the key field joining node to its parent.
	type keyDomain struct {
		field  int
		values []engine.Value
	}
	domains := make([]keyDomain, n)
	for i := range n {
		if parent[i] == -1 {
			rowCount[i] = rootRows()
			continue
		}
		// The key joining i to its parent: a domain of 2–7 values.
		f := newField(fmt.Sprintf("K%d", i), true)
		d := keys()
		kind := r.IntN(3)
		var dom []engine.Value
		for k := range d {
			switch {
			case kind == 0 || (kind == 2 && k%2 == 0):
				dom = append(dom, num(float64(k+1)))
			default:
				dom = append(dom, engine.TextValue(fmt.Sprintf("P%d", k+1)))
			}
		}
		domains[i] = keyDomain{field: f, values: dom}
		// The child's own keys: all of the domain, or (orphans) a subset, so that some parent
		// rows find no child row; each once, or (dups) up to three times.
		var own []engine.Value
		for _, v := range dom {
			if m.orphans && r.IntN(3) == 0 {
				continue
			}
			times := 1
			if m.dups && r.IntN(2) == 0 {
				times = 1 + r.IntN(3)
			}
			for range times {
				own = append(own, v)
			}
		}
		if r.IntN(5) == 0 {
			own = append(own, engine.NullValue)
		}
		switch {
		case r.IntN(25) == 0: // an empty table
			own = nil
		case len(own) == 0:
			own = append(own, dom[0])
		}
		r.Shuffle(len(own), func(a, b int) { own[a], own[b] = own[b], own[a] })
		rowCount[i] = len(own)
		cols[i] = append(cols[i], column{field: f, values: own})
		m.edges = append(m.edges, genEdge{a: loadIndex[parent[i]], b: loadIndex[i], field: f})
	}
	// Parent sides of the keys: foreign keys drawn from the domain (a child without every
	// key leaves orphans), with a few nulls.
	for i := range n {
		if parent[i] == -1 {
			continue
		}
		p := parent[i]
		dom := domains[i].values
		nullRate := 0
		if r.IntN(3) == 0 {
			nullRate = 1 + r.IntN(3)
		}
		vals := make([]engine.Value, rowCount[p])
		for j := range vals {
			if r.IntN(10) < nullRate {
				vals[j] = engine.NullValue
				continue
			}
			vals[j] = dom[r.IntN(len(dom))]
		}
		cols[p] = append(cols[p], column{field: domains[i].field, values: vals})
	}
	// Other fields: 1–3 a table, of a random kind, with nulls sometimes.
	for i := range n {
		for range 1 + r.IntN(3) {
			name := fmt.Sprintf("%s %d", fieldWords[r.IntN(len(fieldWords))], len(m.fields))
			f := newField(name, false)
			kind := r.IntN(4)
			nvals := card()
			nullRate := 0
			switch r.IntN(20) {
			case 0: // nothing but nulls
				nullRate = 10
			case 1, 2, 3, 4, 5, 6, 7, 8, 9:
				nullRate = r.IntN(4)
			}
			vals := make([]engine.Value, rowCount[i])
			for j := range vals {
				if r.IntN(10) < nullRate {
					vals[j] = engine.NullValue
					continue
				}
				k := r.IntN(nvals)
				switch kind {
				case 0: // small integers, some negative
					vals[j] = num(float64(k - 1))
				case 1: // decimals
					vals[j] = num(decimalPool[(k*3)%len(decimalPool)])
				case 2: // texts
					vals[j] = engine.TextValue(textPool[(k*5+int(seed))%len(textPool)])
				default: // numbers and texts
					if k%2 == 0 {
						vals[j] = num(float64(k * 5))
					} else {
						vals[j] = engine.TextValue(mixedTexts[k%len(mixedTexts)])
					}
				}
			}
			cols[i] = append(cols[i], column{field: f, values: vals})
		}
	}

	// Lay the columns out in the tables (shuffled, so keys are not always first).
	for node := range n {
		t := m.tables[loadIndex[node]]
		c := cols[node]
		r.Shuffle(len(c), func(a, b int) { c[a], c[b] = c[b], c[a] })
		for _, col := range c {
			t.fields = append(t.fields, col.field)
		}
		for j := range rowCount[node] {
			row := make([]engine.Value, len(c))
			for k, col := range c {
				row[k] = col.values[j]
			}
			t.rows = append(t.rows, row)
		}
	}
	for ti, t := range m.tables {
		for _, f := range t.fields {
			m.fields[f].tables = append(m.fields[f].tables, ti)
		}
	}
	for fi, f := range m.fields {
		slices.Sort(f.tables)
		// Numeric by the values the tables hold, not by the domain they were drawn from.
		f.numeric = true
		for _, t := range f.tables {
			c := m.colOf(t, fi)
			for _, row := range m.tables[t].rows {
				if !row[c].Null && !row[c].IsNum {
					f.numeric = false
				}
			}
		}
	}
	return m
}

// buildEngineModel loads a generated model into the engine.
func buildEngineModel(m *genModel) (*engine.Model, error) {
	b := engine.NewBuilder()
	for _, t := range m.tables {
		names := make([]string, len(t.fields))
		for i, f := range t.fields {
			names[i] = m.fields[f].name
		}
		tb, err := b.AddTable(t.name, names, engine.TableSource{})
		if err != nil {
			return nil, fmt.Errorf("add table %s: %w", t.name, err)
		}
		for _, row := range t.rows {
			if err := tb.Append(slices.Clone(row)); err != nil {
				return nil, fmt.Errorf("append to %s: %w", t.name, err)
			}
		}
	}
	return b.Build()
}

// fieldTexts lists the distinct non-null texts of field f in the given rows per table
// (nil rows: every row).
func (m *genModel) fieldTexts(f int, keep func(t, row int) bool) []string {
	seen := map[string]bool{}
	for _, t := range m.fields[f].tables {
		c := m.colOf(t, f)
		for ri, row := range m.tables[t].rows {
			if row[c].Null || (keep != nil && !keep(t, ri)) {
				continue
			}
			seen[row[c].Text] = true
		}
	}
	out := make([]string, 0, len(seen))
	for s := range seen {
		out = append(out, s)
	}
	slices.Sort(out)
	return out
}

// The order of the package doc, written here independently of engine.CompareValues:
// numbers (by number) before texts (by byte order), nulls last.
func oracleCompare(a, b engine.Value) int {
	switch {
	case a.Null && b.Null:
		return 0
	case a.Null:
		return 1
	case b.Null:
		return -1
	case a.IsNum && b.IsNum:
		if c := cmp.Compare(a.Num, b.Num); c != 0 {
			return c
		}
		return strings.Compare(a.Text, b.Text)
	case a.IsNum:
		return -1
	case b.IsNum:
		return 1
	}
	return strings.Compare(a.Text, b.Text)
}

// oracleCompareKey compares under a sort key's direction, nulls last either way.
func oracleCompareKey(a, b engine.Value, desc bool) int {
	if a.Null || b.Null {
		return oracleCompare(a, b)
	}
	c := oracleCompare(a, b)
	if desc {
		c = -c
	}
	return c
}

// oracleSortRows sorts rows by the keys, then every dimension, then every measure.
func oracleSortRows(rows [][]engine.Value, dims int, keys []engine.SortKey) {
	slices.SortStableFunc(rows, func(a, b []engine.Value) int {
		for _, k := range keys {
			if c := oracleCompareKey(a[k.Column], b[k.Column], k.Descending); c != 0 {
				return c
			}
		}
		for i := range a {
			if c := oracleCompare(a[i], b[i]); c != 0 {
				return c
			}
		}
		return 0
	})
}
