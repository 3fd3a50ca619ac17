package live

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/oriel-dev/oriel/services/content/internal/engine"
)

// The randomized test loads the same generated stars and snowflakes into PostgreSQL and,
// through PostgreSQL as a reload would, into the engine; then it asks both random
// hypercubes under random selections and reductions: a live chart must show what the
// in-memory one shows.

// genColumn is a column of a generated table: its SQL type and a generator of SQL
// literals (NULL included).
type genColumn struct {
	name, sqlType string
	literal       func(r *rand.Rand) string
}

type genTable struct {
	name string
	cols []genColumn
	rows int
}

// genKey makes a key column: small cardinalities so that keys repeat, go missing in the
// other table (orphans) and are sometimes null.
func genKey(name string, text bool, card int, nulls float64) genColumn {
	c := genColumn{name: name, sqlType: "bigint"}
	if text {
		c.sqlType = "text"
	}
	c.literal = func(r *rand.Rand) string {
		if r.Float64() < nulls {
			return "NULL"
		}
		if text {
			return fmt.Sprintf("'k%d'", r.IntN(card))
		}
		return strconv.Itoa(r.IntN(card))
	}
	return c
}

// genAttribute makes a non-key column of a random type.
func genAttribute(r *rand.Rand, name string) genColumn {
	nulls := []float64{0, 0.1, 0.3}[r.IntN(3)]
	pick := func(f func(r *rand.Rand) string) func(r *rand.Rand) string {
		return func(r *rand.Rand) string {
			if r.Float64() < nulls {
				return "NULL"
			}
			return f(r)
		}
	}
	switch r.IntN(5) {
	case 0:
		texts := []string{"'a'", "'A'", "'b'", "'c d'", "''", "'é'"}
		return genColumn{name, "text", pick(func(r *rand.Rand) string { return texts[r.IntN(len(texts))] })}
	case 1:
		return genColumn{name, "bigint", pick(func(r *rand.Rand) string { return strconv.Itoa(r.IntN(6) - 1) })}
	case 2:
		return genColumn{name, "float8", pick(func(r *rand.Rand) string { return strconv.FormatFloat(float64(r.IntN(40))/4, 'g', -1, 64) })}
	case 3:
		return genColumn{name, "numeric(10,2)", pick(func(r *rand.Rand) string { return fmt.Sprintf("%d.%02d", r.IntN(20), r.IntN(100)) })}
	default:
		return genColumn{name, "date", pick(func(r *rand.Rand) string { return fmt.Sprintf("'2024-01-0%d'", 1+r.IntN(4)) })}
	}
}

// genModel makes 2 to 6 tables in one of a few shapes, in a random load order.
func genModel(r *rand.Rand, prefix string) (shape string, tables []*genTable) {
	attrs := 0
	attr := func() genColumn { attrs++; return genAttribute(r, fmt.Sprintf("f%d", attrs)) }
	keys := 0
	key := func() (string, bool, int) { keys++; return fmt.Sprintf("k%d", keys), r.IntN(3) == 0, 1 + r.IntN(4) }
	table := func(rows int, cols ...genColumn) *genTable {
		t := &genTable{name: fmt.Sprintf("%s_t%d", prefix, len(tables)), cols: cols, rows: rows}
		tables = append(tables, t)
		return t
	}
	fact := table(r.IntN(16), attr(), attr())
	dimension := func(parent *genTable) *genTable {
		name, text, card := key()
		parent.cols = append(parent.cols, genKey(name, text, card, 0.15))
		return table(r.IntN(7), genKey(name, text, card, 0.1), attr())
	}
	shape = []string{"star", "snowflake", "three tables on one key", "two components", "chain"}[r.IntN(5)]
	switch shape {
	case "star":
		for range 1 + r.IntN(3) {
			dimension(fact)
		}
	case "snowflake":
		d := dimension(fact)
		dimension(d)
		if r.IntN(2) == 0 {
			dimension(fact)
		}
	case "three tables on one key":
		name, text, card := key()
		fact.cols = append(fact.cols, genKey(name, text, card, 0.1))
		table(r.IntN(7), genKey(name, text, card, 0.1), attr())
		table(r.IntN(7), genKey(name, text, card, 0.1), attr())
	case "two components":
		dimension(fact)
		other := table(r.IntN(8), attr(), attr())
		dimension(other)
	case "chain":
		d := dimension(fact)
		d = dimension(d)
		dimension(d)
	}
	for _, t := range tables {
		r.Shuffle(len(t.cols), func(i, j int) { t.cols[i], t.cols[j] = t.cols[j], t.cols[i] })
	}
	r.Shuffle(len(tables), func(i, j int) { tables[i], tables[j] = tables[j], tables[i] })
	return shape, tables
}

func createTables(t *testing.T, conn *pgx.Conn, r *rand.Rand, tables []*genTable) {
	t.Helper()
	for _, tb := range tables {
		var defs []string
		for _, c := range tb.cols {
			defs = append(defs, c.name+" "+c.sqlType)
		}
		exec(t, conn, fmt.Sprintf("CREATE TABLE %s (%s)", tb.name, strings.Join(defs, ", ")))
		if tb.rows == 0 {
			continue
		}
		var rows []string
		for range tb.rows {
			var vals []string
			for _, c := range tb.cols {
				vals = append(vals, c.literal(r))
			}
			rows = append(rows, "("+strings.Join(vals, ", ")+")")
		}
		exec(t, conn, fmt.Sprintf("INSERT INTO %s VALUES %s", tb.name, strings.Join(rows, ", ")))
	}
}

// fieldTexts lists a field's values in a view (every value when the view is nil).
func fieldTexts(t *testing.T, v *engine.View, field string) []string {
	t.Helper()
	st, err := v.Select(nil)
	if err != nil {
		t.Fatalf("Select: %v", err)
	}
	fv, err := st.FieldValues(field, engine.FieldQuery{})
	if err != nil {
		t.Fatalf("FieldValues %s: %v", field, err)
	}
	var out []string
	for _, v := range fv.Values {
		out = append(out, v.Value.Text)
	}
	return out
}

func pickSome(r *rand.Rand, from []string, most int) []string {
	if len(from) == 0 {
		return nil
	}
	out := []string{}
	for range 1 + r.IntN(most) {
		out = append(out, from[r.IntN(len(from))])
	}
	return out
}

func TestLiveEqualsTheEngineOnRandomModels(t *testing.T) {
	models, queries := 25, 30
	if testing.Short() {
		models = 8
	}
	seed := uint64(rand.Int64())
	if s := os.Getenv("ORIEL_LIVE_SEED"); s != "" {
		seed, _ = strconv.ParseUint(s, 10, 64)
	}
	t.Logf("seed %d (ORIEL_LIVE_SEED reruns it)", seed)
	conn := postgres(t)
	ctx := context.Background()
	run := pgxQuery(conn)
	checked, withRows, filtered := 0, 0, 0
	for mi := range models {
		r := rand.New(rand.NewPCG(seed, uint64(mi)))
		shape, gen := genModel(r, fmt.Sprintf("m%d", mi))
		createTables(t, conn, r, gen)
		var names []string
		for _, g := range gen {
			names = append(names, g.name)
		}
		m := loadModel(t, conn, names...)
		tables := m.Tables()
		var fields []string
		for _, f := range m.Fields() {
			fields = append(fields, f.Name)
		}
		compOf := components(tables)
		for qi := range queries {
			var red []engine.Reduction
			view := m.View()
			if r.IntN(3) == 0 {
				for range 1 + r.IntN(2) {
					f := fields[r.IntN(len(fields))]
					values := pickSome(r, fieldTexts(t, view, f), 3)
					if r.IntN(5) == 0 {
						values = append(values, "no such value")
					}
					red = append(red, engine.Reduction{Field: f, Values: values})
				}
				var err error
				if view, err = m.Reduce(red); err != nil {
					t.Fatalf("Reduce: %v", err)
				}
			}
			var sel []engine.Selection
			for range r.IntN(3) {
				f := fields[r.IntN(len(fields))]
				values := pickSome(r, fieldTexts(t, view, f), 2)
				if len(values) > 0 || r.IntN(8) == 0 {
					sel = append(sel, engine.Selection{Field: f, Values: values})
				}
			}
			st, err := view.Select(sel)
			if err != nil {
				t.Fatalf("Select: %v", err)
			}
			h := randomHypercube(r, m, tables, compOf)
			want, werr := st.Hypercube(h)
			p, cerr := Compile(Postgres, tables, m.Numeric, h, sel, red)
			what := fmt.Sprintf("model %d (%s, seed %d), query %d: %+v\nselections %v\nreductions %v", mi, shape, seed, qi, h, sel, red)
			if werr != nil {
				var qe *engine.QueryError
				if !errors.As(werr, &qe) || !errors.As(cerr, &qe) {
					t.Fatalf("%s\nengine: %v, live: %v", what, werr, cerr)
				}
				continue
			}
			if cerr != nil {
				t.Fatalf("%s\nCompile: %v", what, cerr)
			}
			got, err := p.Run(ctx, run)
			if err != nil {
				t.Fatalf("%s\nRun: %v\n%s", what, err, strings.Join(p.Statements(), "\n\n"))
			}
			if diff := resultDiff(len(h.Dimensions), want, got); diff != "" {
				t.Fatalf("%s\n%s\n%s", what, diff, strings.Join(p.Statements(), "\n\n"))
			}
			checked++
			if len(want.Rows) > 0 {
				withRows++
				if len(sel)+len(red) > 0 {
					filtered++
				}
			}
		}
	}
	t.Logf("%d hypercubes agree, %d with rows, %d of those under selections or reductions", checked, withRows, filtered)
}

// components numbers the tables' connected components.
func components(tables []engine.TableInfo) []int {
	c := newCompiler(Postgres, tables, nil)
	return c.comp
}

// randomHypercube asks for 0 to 2 dimensions and 0 to 2 measures of one component,
// sorted by a random dimension key and sometimes paged.
func randomHypercube(r *rand.Rand, m *engine.Model, tables []engine.TableInfo, compOf []int) engine.Hypercube {
	comp := compOf[r.IntN(len(tables))]
	var fields []string
	for t, tb := range tables {
		if compOf[t] == comp {
			for _, f := range tb.Fields {
				if !slices.Contains(fields, f) {
					fields = append(fields, f)
				}
			}
		}
	}
	var h engine.Hypercube
	for range r.IntN(3) {
		h.Dimensions = append(h.Dimensions, fields[r.IntN(len(fields))])
	}
	for range r.IntN(3) {
		f := fields[r.IntN(len(fields))]
		aggs := []engine.Aggregation{engine.Count, engine.CountDistinct}
		if m.Numeric(f) {
			aggs = append(aggs, engine.Sum, engine.Avg, engine.Min, engine.Max)
		}
		h.Measures = append(h.Measures, engine.Measure{Agg: aggs[r.IntN(len(aggs))], Field: f})
	}
	if len(h.Dimensions) > 0 && r.IntN(2) == 0 {
		h.Sort = []engine.SortKey{{Column: r.IntN(len(h.Dimensions)), Descending: r.IntN(2) == 0}}
	}
	if r.IntN(4) == 0 {
		h.Offset, h.Limit = r.IntN(3), r.IntN(4)
	}
	return h
}
