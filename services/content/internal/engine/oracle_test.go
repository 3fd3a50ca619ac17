package engine_test

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"runtime/debug"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/oriel-dev/oriel/platform/testkit"
	"github.com/oriel-dev/oriel/services/content/internal/engine"
)

// The oracle test loads random models into the engine and into PostgreSQL, and checks that
// every answer of the engine (field states and counts, hypercubes, reductions) equals what
// SQL written straight from the package doc's semantics says.
//
// Replay a failure with the seed it prints:
//
//	go test -run TestOracleAgainstPostgres ./internal/engine -oracle.seed=N -oracle.models=1 -oracle.selections=S -oracle.big=B
//
// ORIEL_ORACLE_SEED does the same as -oracle.seed; ORIEL_ORACLE_LONG=1 runs many more
// models than the default run (which stays under a minute under -race), big ones among
// them.

var (
	oracleSeedFlag       = flag.Int64("oracle.seed", 0, "first model seed of the oracle test (0: random)")
	oracleModelsFlag     = flag.Int("oracle.models", 0, "models the oracle test generates (0: default)")
	oracleSelectionsFlag = flag.Int("oracle.selections", 0, "selections per model (0: default)")
	oracleBigFlag        = flag.Bool("oracle.big", false, "also generate big models (~150k fact rows, parallel scans); on in the long run")
)

type oracleConfig struct {
	seed                   int64
	models, selections     int
	reductions, reducedSel int
	// big allows a model in 16 to be big, reaching the engine's parallel scans.
	big bool
}

func readOracleConfig(t *testing.T) oracleConfig {
	c := oracleConfig{models: 30, selections: 40, reductions: 3, reducedSel: 8}
	c.big = *oracleBigFlag
	if os.Getenv("ORIEL_ORACLE_LONG") != "" {
		c.models, c.selections, c.reductions, c.reducedSel, c.big = 400, 60, 5, 15, true
	}
	if testing.Short() {
		c.models, c.selections = 8, 15
	}
	c.seed = *oracleSeedFlag
	if s := os.Getenv("ORIEL_ORACLE_SEED"); c.seed == 0 && s != "" {
		v, err := strconv.ParseInt(s, 10, 64)
		if err != nil {
			t.Fatalf("ORIEL_ORACLE_SEED=%q: %v", s, err)
		}
		c.seed = v
	}
	if c.seed == 0 {
		c.seed = time.Now().UnixNano() % 1_000_000_000
	}
	if *oracleModelsFlag > 0 {
		c.models = *oracleModelsFlag
	}
	if *oracleSelectionsFlag > 0 {
		c.selections = *oracleSelectionsFlag
	}
	return c
}

func TestOracleAgainstPostgres(t *testing.T) {
	cfg := readOracleConfig(t)
	t.Logf("oracle: first seed %d, %d models × %d selections", cfg.seed, cfg.models, cfg.selections)
	ctx := context.Background()
	pgCfg, err := pgx.ParseConfig(testkit.PostgresDatabase(t))
	if err != nil {
		t.Fatal(err)
	}
	// Nearly every oracle statement is new: preparing each would double the round trips.
	pgCfg.DefaultQueryExecMode = pgx.QueryExecModeExec
	conn, err := pgx.ConnectConfig(ctx, pgCfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = conn.Close(context.Background()) })
	for i := range cfg.models {
		seed := cfg.seed + int64(i)
		t.Run(fmt.Sprintf("seed=%d", seed), func(t *testing.T) {
			m := generateModel(seed, cfg.big)
			t.Cleanup(func() {
				if t.Failed() {
					t.Logf("replay: go test -run TestOracleAgainstPostgres ./internal/engine -oracle.seed=%d -oracle.models=1 -oracle.selections=%d -oracle.big=%v\n%s",
						seed, cfg.selections, cfg.big, m.describe())
				}
			})
			runOracleModel(ctx, t, conn, m, cfg)
		})
	}
}

// oracle answers for one model's data in one PostgreSQL schema (the whole data, or the
// rows a reduction keeps).
type oracle struct {
	ctx    context.Context
	t      *testing.T
	conn   *pgx.Conn
	m      *genModel
	schema string
	// batch queues statements, sent in one round trip by flush (the oracle runs thousands
	// of small statements a model).
	batch *pgx.Batch
}

// queue adds a statement to the batch; scan, if not nil, reads its rows.
func (o *oracle) queue(sql string, scan func(pgx.Rows) error, args ...any) {
	if o.batch == nil {
		o.batch = &pgx.Batch{}
	}
	q := o.batch.Queue(sql, args...)
	if scan != nil {
		q.Query(func(rows pgx.Rows) error {
			for rows.Next() {
				if err := scan(rows); err != nil {
					return err
				}
			}
			return rows.Err()
		})
	}
}

// flush sends the batch and runs its scans.
func (o *oracle) flush() {
	o.t.Helper()
	if o.batch == nil {
		return
	}
	b := o.batch
	o.batch = nil
	if err := o.conn.SendBatch(o.ctx, b).Close(); err != nil {
		o.t.Fatalf("oracle SQL failed: %v", err)
	}
}

func (o *oracle) exec(sql string, args ...any) {
	o.t.Helper()
	if _, err := o.conn.Exec(o.ctx, sql, args...); err != nil {
		o.t.Fatalf("oracle SQL failed: %v\n%s", err, sql)
	}
}

func (o *oracle) query(sql string, args ...any) pgx.Rows {
	o.t.Helper()
	rows, err := o.conn.Query(o.ctx, sql, args...)
	if err != nil {
		o.t.Fatalf("oracle SQL failed: %v\n%s", err, sql)
	}
	return rows
}

func (o *oracle) table(t int) string { return fmt.Sprintf("%s.t%d", o.schema, t) }

// loadFull creates the schema with every row of every table; rid is the row's index.
func (o *oracle) loadFull() {
	o.exec(fmt.Sprintf(`DROP SCHEMA IF EXISTS %s CASCADE; CREATE SCHEMA %s`, o.schema, o.schema))
	for ti, t := range o.m.tables {
		cols := []string{"rid integer"}
		names := []string{"rid"}
		for _, f := range t.fields {
			c := o.m.fields[f].col
			cols = append(cols, c+`_t text COLLATE "C"`, c+"_n double precision")
			names = append(names, c+"_t", c+"_n")
		}
		o.exec(fmt.Sprintf("CREATE TABLE %s (%s)", o.table(ti), strings.Join(cols, ", ")))
		rows := make([][]any, len(t.rows))
		for ri, row := range t.rows {
			out := []any{int32(ri)}
			for _, v := range row {
				switch {
				case v.Null:
					out = append(out, nil, nil)
				case v.IsNum:
					out = append(out, v.Text, v.Num)
				default:
					out = append(out, v.Text, nil)
				}
			}
			rows[ri] = out
		}
		if _, err := o.conn.CopyFrom(o.ctx, pgx.Identifier{o.schema, fmt.Sprintf("t%d", ti)}, names, pgx.CopyFromRows(rows)); err != nil {
			o.t.Fatalf("copy %s: %v", t.name, err)
		}
	}
}

// loadKept creates the schema from another's tables, keeping the rows kept[t] lists.
func (o *oracle) loadKept(from *oracle, kept map[int][]int32) {
	o.exec(fmt.Sprintf(`DROP SCHEMA IF EXISTS %s CASCADE; CREATE SCHEMA %s`, o.schema, o.schema))
	for ti := range o.m.tables {
		ids := kept[ti]
		if ids == nil {
			ids = []int32{}
		}
		o.exec(fmt.Sprintf("CREATE TABLE %s AS SELECT * FROM %s WHERE rid = ANY($1)", o.table(ti), from.table(ti)), ids)
	}
}

// join is the FROM clause joining the given connected tables on their shared fields,
// starting at root; table t is aliased x<t>.
func (o *oracle) join(nodes []int, root int) string {
	in := map[int]bool{}
	for _, n := range nodes {
		in[n] = true
	}
	var b strings.Builder
	fmt.Fprintf(&b, "%s x%d", o.table(root), root)
	seen := map[int]bool{root: true}
	queue := []int{root}
	for len(queue) > 0 {
		t := queue[0]
		queue = queue[1:]
		for _, nf := range o.m.adjacent(t) {
			n, f := nf[0], nf[1]
			if !in[n] || seen[n] {
				continue
			}
			seen[n] = true
			queue = append(queue, n)
			c := o.m.fields[f].col
			fmt.Fprintf(&b, " JOIN %s x%d ON x%d.%s_t = x%d.%s_t", o.table(n), n, n, c, t, c)
		}
	}
	if len(seen) != len(nodes) {
		o.t.Fatalf("oracle: tables %v are not connected", nodes)
	}
	return b.String()
}

// filters is a set of `field IN (values)` filters, by field index.
type filters map[int][]string

// possibleRows stores in poss(scn, tbl, rid) the possible rows of every table under the
// filters: in a component without a filter every row (unless failClosed, for reductions,
// where such a component keeps nothing); in one with filters, the rows that take part in
// the inner join of all the component's tables with every filter applied to every table
// holding the field.
func (o *oracle) possibleRows(scn int, fs filters, failClosed bool) {
	for c := range o.m.comps {
		tabs := o.m.compTables(c)
		var where []string
		var args []any
		for _, f := range slices.Sorted(mapKeys(fs)) {
			if o.m.fieldComp(f) != c {
				continue
			}
			args = append(args, fs[f])
			for _, t := range o.m.fields[f].tables {
				where = append(where, fmt.Sprintf("x%d.%s_t = ANY($%d)", t, o.m.fields[f].col, len(args)))
			}
		}
		if len(where) == 0 {
			if failClosed {
				continue
			}
			for _, t := range tabs {
				o.queue(fmt.Sprintf("INSERT INTO poss SELECT %d, %d, rid FROM %s", scn, t, o.table(t)), nil)
			}
			continue
		}
		var sel, vals []string
		for _, t := range tabs {
			sel = append(sel, fmt.Sprintf("x%d.rid AS r%d", t, t))
			vals = append(vals, fmt.Sprintf("(%d, j.r%d)", t, t))
		}
		o.queue(fmt.Sprintf(`INSERT INTO poss SELECT DISTINCT %d, u.tbl, u.rid
			FROM (SELECT %s FROM %s WHERE %s) j CROSS JOIN LATERAL (VALUES %s) u(tbl, rid)`,
			scn, strings.Join(sel, ", "), o.join(tabs, tabs[0]), strings.Join(where, " AND "), strings.Join(vals, ", ")), nil, args...)
	}
}

func mapKeys[K comparable, V any](m map[K]V) func(func(K) bool) {
	return func(yield func(K) bool) {
		for k := range m {
			if !yield(k) {
				return
			}
		}
	}
}

// oracleState is a selection as the oracle sees it: scenario 0 holds the possible rows
// under every selection; scenario alt[f] those with field f's own selection removed.
type oracleState struct {
	sel filters
	alt map[int]int
}

func (o *oracle) prepare(sel filters) oracleState {
	o.queue("DELETE FROM poss", nil)
	st := oracleState{sel: sel, alt: map[int]int{}}
	o.possibleRows(0, sel, false)
	for f := range sel {
		scn := len(st.alt) + 1
		st.alt[f] = scn
		rest := filters{}
		for g, v := range sel {
			if g != f {
				rest[g] = v
			}
		}
		o.possibleRows(scn, rest, false)
	}
	o.flush()
	return st
}

func (o *oracle) possibleIn(scn, t int) string {
	return fmt.Sprintf("x%d.rid IN (SELECT rid FROM poss WHERE scn = %d AND tbl = %d)", t, scn, t)
}

// fieldValues is the oracle's list of every field's values, states and counts, in the
// order FieldValues promises.
func (o *oracle) fieldValues(st oracleState) [][]engine.FieldValue {
	out := make([][]engine.FieldValue, len(o.m.fields))
	for f := range o.m.fields {
		o.queueFieldValues(st, f, &out[f])
	}
	o.flush()
	for _, vs := range out {
		slices.SortFunc(vs, func(a, b engine.FieldValue) int {
			if a.State != b.State {
				return int(a.State) - int(b.State)
			}
			return oracleCompare(a.Value, b.Value)
		})
	}
	return out
}

func (o *oracle) queueFieldValues(st oracleState, f int, out *[]engine.FieldValue) {
	fd := o.m.fields[f]
	var all, pos, alt []string
	for _, t := range fd.tables {
		all = append(all, fmt.Sprintf("SELECT x%d.%s_t AS t, x%d.%s_n AS n FROM %s x%d", t, fd.col, t, fd.col, o.table(t), t))
		pos = append(pos, fmt.Sprintf("SELECT x%d.%s_t AS t FROM %s x%d WHERE %s", t, fd.col, o.table(t), t, o.possibleIn(0, t)))
		if scn, ok := st.alt[f]; ok {
			alt = append(alt, fmt.Sprintf("SELECT x%d.%s_t AS t FROM %s x%d WHERE %s", t, fd.col, o.table(t), t, o.possibleIn(scn, t)))
		}
	}
	first := fd.tables[0]
	state := "CASE WHEN v.t IN (SELECT t FROM pos) THEN 2 ELSE 4 END"
	var args []any
	altCTE := ""
	if _, ok := st.sel[f]; ok {
		state = "CASE WHEN v.t = ANY($1) THEN 1 WHEN v.t IN (SELECT t FROM alt) THEN 3 ELSE 4 END"
		args = append(args, st.sel[f])
		altCTE = fmt.Sprintf(", alt AS (%s)", strings.Join(alt, " UNION "))
	}
	sql := fmt.Sprintf(`WITH vals AS (SELECT DISTINCT t, n FROM (%s) u WHERE t IS NOT NULL),
		pos AS (%s)%s,
		cnt AS (SELECT x%d.%s_t AS t, count(*) AS c FROM %s x%d WHERE %s GROUP BY 1)
		SELECT s.t, s.n, s.st, CASE WHEN s.st IN (1, 2) THEN coalesce(cnt.c, 0) ELSE 0 END
		FROM (SELECT v.t, v.n, %s AS st FROM vals v) s LEFT JOIN cnt ON cnt.t = s.t`,
		strings.Join(all, " UNION ALL "), strings.Join(pos, " UNION "), altCTE,
		first, fd.col, o.table(first), first, o.possibleIn(0, first), state)
	o.queue(sql, func(rows pgx.Rows) error {
		var text string
		var n *float64
		var state int32
		var count int64
		if err := rows.Scan(&text, &n, &state, &count); err != nil {
			return err
		}
		v := engine.TextValue(text)
		if n != nil {
			v = engine.NumberValue(*n, text)
		}
		*out = append(*out, engine.FieldValue{Value: v, State: engine.ValueState(state), Count: count})
		return nil
	}, args...)
}

// dimTable is the table a dimension is read from for measures of table t: the nearest
// holding it (ties: load order).
func (o *oracle) dimTable(t, f int) int {
	best, bestLen := -1, 0
	for _, h := range o.m.fields[f].tables {
		p := o.m.path(t, h)
		if p == nil {
			continue
		}
		if best == -1 || len(p) < bestLen {
			best, bestLen = h, len(p)
		}
	}
	return best
}

func aggSQL(a engine.Aggregation) string {
	switch a {
	case engine.Sum:
		return "sum(fn)"
	case engine.Count:
		return "count(ft)::float8"
	case engine.Avg:
		return "avg(fn)"
	case engine.Min:
		return "min(fn)"
	case engine.Max:
		return "max(fn)"
	case engine.CountDistinct:
		return "count(DISTINCT ft)::float8"
	}
	panic(a)
}

func isCount(a engine.Aggregation) bool { return a == engine.Count || a == engine.CountDistinct }

// hypercube is the oracle's answer to h, sorted by the documented order but not paged.
func (o *oracle) hypercube(h engine.Hypercube) (rows [][]engine.Value, totals []engine.Value) {
	nd := len(h.Dimensions)
	dims := make([]int, nd)
	for i, d := range h.Dimensions {
		dims[i] = o.m.fieldIndex(d)
	}
	groups := map[string][]engine.Value{}
	var order []string
	addGroup := func(dv []engine.Value) []engine.Value {
		k := groupKey(dv)
		g, ok := groups[k]
		if !ok {
			g = make([]engine.Value, nd+len(h.Measures))
			copy(g, dv)
			for j, ms := range h.Measures {
				g[nd+j] = engine.NullValue
				if isCount(ms.Agg) {
					g[nd+j] = num(0)
				}
			}
			groups[k] = g
			order = append(order, k)
		}
		return g
	}
	dimCols := func(tabs []int) []string {
		var out []string
		for i, d := range dims {
			c := o.m.fields[d].col
			out = append(out, fmt.Sprintf("x%d.%s_t AS d%dt, x%d.%s_n AS d%dn", tabs[i], c, i, tabs[i], c, i))
		}
		return out
	}
	groupBy := func() string {
		var out []string
		for i := range dims {
			out = append(out, fmt.Sprintf("d%dt, d%dn", i, i))
		}
		return strings.Join(out, ", ")
	}
	scanDims := func(vals []any) []engine.Value {
		dv := make([]engine.Value, nd)
		for i := range nd {
			t := vals[2*i].(*string)
			n := vals[2*i+1].(*float64)
			switch {
			case t == nil:
				dv[i] = engine.NullValue
			case n != nil:
				dv[i] = engine.NumberValue(*n, *t)
			default:
				dv[i] = engine.TextValue(*t)
			}
		}
		return dv
	}
	dimDest := func() []any {
		var out []any
		for range nd {
			out = append(out, new(*string), new(*float64))
		}
		return out
	}
	deref := func(dest []any) []any {
		out := make([]any, len(dest))
		for i, d := range dest {
			switch d := d.(type) {
			case **string:
				out[i] = *d
			case **float64:
				out[i] = *d
			}
		}
		return out
	}

	if len(h.Measures) == 0 {
		// The distinct tuples of the join of the dimensions' tables (each held by one table).
		tabs := make([]int, nd)
		nodes := map[int]bool{}
		for i, d := range dims {
			tabs[i] = o.m.fields[d].tables[0]
		}
		for _, tb := range tabs {
			for _, n := range o.m.path(tabs[0], tb) {
				nodes[n] = true
			}
		}
		nodeList := slices.Sorted(mapKeys(nodes))
		var where []string
		for _, n := range nodeList {
			where = append(where, o.possibleIn(0, n))
		}
		sql := fmt.Sprintf("SELECT DISTINCT %s FROM %s WHERE %s", strings.Join(dimCols(tabs), ", "), o.join(nodeList, tabs[0]), strings.Join(where, " AND "))
		rs := o.query(sql)
		for rs.Next() {
			dest := dimDest()
			if err := rs.Scan(dest...); err != nil {
				o.t.Fatal(err)
			}
			addGroup(scanDims(deref(dest)))
		}
		if err := rs.Err(); err != nil {
			o.t.Fatal(err)
		}
		rs.Close()
	}

	totals = make([]engine.Value, len(h.Measures))
	for j := range totals {
		totals[j] = engine.NullValue
	}
	for j, ms := range h.Measures {
		f := o.m.fieldIndex(ms.Field)
		T := o.m.fields[f].tables[0]
		tabs := make([]int, nd)
		nodes := map[int]bool{T: true}
		for i, d := range dims {
			tabs[i] = o.dimTable(T, d)
			for _, n := range o.m.path(T, tabs[i]) {
				nodes[n] = true
			}
		}
		nodeList := slices.Sorted(mapKeys(nodes))
		var where []string
		for _, n := range nodeList {
			where = append(where, o.possibleIn(0, n))
		}
		c := o.m.fields[f].col
		inner := fmt.Sprintf("SELECT DISTINCT x%d.rid, x%d.%s_t AS ft, x%d.%s_n AS fn%s FROM %s WHERE %s",
			T, T, c, T, c, prefixComma(dimCols(tabs)), o.join(nodeList, T), strings.Join(where, " AND "))
		sql := fmt.Sprintf("SELECT %s FROM (%s) q", aggSQL(ms.Agg), inner)
		if nd > 0 {
			sql = fmt.Sprintf("SELECT %s, %s FROM (%s) q GROUP BY %s", groupBy(), aggSQL(ms.Agg), inner, groupBy())
		}
		o.queue(sql, func(rs pgx.Rows) error {
			dest := dimDest()
			var agg *float64
			if err := rs.Scan(append(dest, &agg)...); err != nil {
				return err
			}
			g := addGroup(scanDims(deref(dest)))
			if agg != nil {
				g[nd+j] = num(*agg)
			}
			return nil
		})
		// The total counts each row of T once, whatever groups it is in.
		rowsOfT := fmt.Sprintf("SELECT DISTINCT x%d.rid, x%d.%s_t AS ft, x%d.%s_n AS fn FROM %s WHERE %s",
			T, T, c, T, c, o.join(nodeList, T), strings.Join(where, " AND "))
		o.queue(fmt.Sprintf("SELECT %s FROM (%s) q", aggSQL(ms.Agg), rowsOfT), func(rs pgx.Rows) error {
			var total *float64
			if err := rs.Scan(&total); err != nil {
				return err
			}
			if total != nil {
				totals[j] = num(*total)
			}
			return nil
		})
	}
	o.flush()
	for _, k := range order {
		rows = append(rows, groups[k])
	}
	oracleSortRows(rows, nd, h.Sort)
	return rows, totals
}

func prefixComma(cols []string) string {
	if len(cols) == 0 {
		return ""
	}
	return ", " + strings.Join(cols, ", ")
}

func groupKey(dv []engine.Value) string {
	var b strings.Builder
	for _, v := range dv {
		if v.Null {
			b.WriteString("\x00N")
		} else {
			b.WriteString("\x00T" + v.Text)
		}
	}
	return b.String()
}

// guard turns an engine panic into an error, so a failure names its seed and selection.
func guard[T any](f func() (T, error)) (v T, err error) {
	defer func() {
		if r := recover(); r != nil {
			// The frames just below the panic are the engine's.
			stack := string(debug.Stack())
			if i := strings.Index(stack, "\npanic("); i >= 0 {
				stack = stack[i+1:]
			}
			lines := strings.Split(stack, "\n")
			err = fmt.Errorf("engine panic: %v\n%s", r, strings.Join(lines[:min(len(lines), 9)], "\n"))
		}
	}()
	return f()
}

// --- comparisons -------------------------------------------------------------------------

func sameValue(a, b engine.Value) bool {
	if a.Null || b.Null {
		return a.Null == b.Null
	}
	return a.Text == b.Text && a.IsNum == b.IsNum && (!a.IsNum || a.Num == b.Num)
}

// sameNumber compares measure values: both null, or numbers within a relative 1e-9.
func sameNumber(got, want engine.Value) bool {
	if got.Null || want.Null {
		return got.Null == want.Null
	}
	if !got.IsNum {
		return false
	}
	d := math.Abs(got.Num - want.Num)
	return d <= 1e-9*math.Max(1, math.Max(math.Abs(got.Num), math.Abs(want.Num)))
}

func showFieldValues(vs []engine.FieldValue) string {
	var b strings.Builder
	for _, v := range vs {
		fmt.Fprintf(&b, "\n      %s %s count=%d", showValue(v.Value), stateName(v.State), v.Count)
	}
	return b.String()
}

func stateName(s engine.ValueState) string {
	switch s {
	case engine.Selected:
		return "SELECTED"
	case engine.Possible:
		return "POSSIBLE"
	case engine.Alternative:
		return "ALTERNATIVE"
	case engine.Excluded:
		return "EXCLUDED"
	}
	return fmt.Sprintf("state(%d)", int(s))
}

func showRows(rows [][]engine.Value) string {
	var b strings.Builder
	for _, r := range rows {
		cells := make([]string, len(r))
		for i, v := range r {
			cells[i] = showValue(v)
		}
		fmt.Fprintf(&b, "\n      %s", strings.Join(cells, " | "))
	}
	return b.String()
}

func showSelection(sel []engine.Selection) string {
	if len(sel) == 0 {
		return "no selection"
	}
	var parts []string
	for _, s := range sel {
		parts = append(parts, fmt.Sprintf("%q IN %q", s.Field, s.Values))
	}
	return strings.Join(parts, " AND ")
}

func sameFieldValues(got, want []engine.FieldValue) bool {
	if len(got) != len(want) {
		return false
	}
	for i := range got {
		if !sameValue(got[i].Value, want[i].Value) || got[i].State != want[i].State || got[i].Count != want[i].Count {
			return false
		}
	}
	return true
}

// --- the run of one model ----------------------------------------------------------------

// checker compares one engine state against the oracle; ctxt says which view and
// selection, for messages.
type checker struct {
	t     *testing.T
	m     *genModel
	o     *oracle
	r     *rand.Rand
	ctxt  string
	fails int
}

func (c *checker) errorf(format string, args ...any) {
	c.t.Helper()
	c.fails++
	if c.fails > 5 {
		if c.fails == 6 {
			c.t.Errorf("more mismatches left out")
		}
		return
	}
	c.t.Errorf("%s: %s", c.ctxt, fmt.Sprintf(format, args...))
}

func runOracleModel(ctx context.Context, t *testing.T, conn *pgx.Conn, m *genModel, cfg oracleConfig) {
	r := rand.New(rand.NewPCG(uint64(m.seed), 0x5e1ec7))
	model, err := guard(func() (*engine.Model, error) { return buildEngineModel(m) })
	if err != nil {
		t.Fatalf("build: %v", err)
	}
	how := "built"
	if m.seed%2 == 1 {
		// Odd seeds run every check on the model as read back from its snapshot.
		var buf bytes.Buffer
		if err := model.WriteSnapshot(&buf); err != nil {
			t.Fatalf("write snapshot: %v", err)
		}
		if model, err = guard(func() (*engine.Model, error) { return engine.ReadSnapshot(&buf) }); err != nil {
			t.Fatalf("read snapshot: %v", err)
		}
		how = "read back from its snapshot"
	}
	t.Logf("model %s", how)
	checkModelInfo(t, m, model)

	if m.size == "big" {
		cfg.selections, cfg.reductions, cfg.reducedSel = min(cfg.selections, 6), min(cfg.reductions, 2), min(cfg.reducedSel, 2)
	}
	full := &oracle{ctx: ctx, t: t, conn: conn, m: m, schema: "oracle_full"}
	full.loadFull()
	full.exec("DROP TABLE IF EXISTS poss; CREATE TEMP TABLE poss (scn int, tbl int, rid int)")
	c := &checker{t: t, m: m, o: full, r: r}

	view := model.View()
	checkViewTables(c, view, nil)
	c.ctxt = "errors"
	checkErrors(c, model, view)
	for i := range cfg.selections {
		sel := randomSelection(r, m, nil)
		c.ctxt = fmt.Sprintf("full view, selection %d: %s", i, showSelection(sel))
		checkSelection(c, view, sel, nil)
		if c.fails > 0 {
			return
		}
	}

	// Reductions: a random one, one with no values, and (with two components) one whose
	// fields are all in one component, so the other fails closed.
	red := &oracle{ctx: ctx, t: t, conn: conn, m: m, schema: "oracle_reduced"}
	for k := range cfg.reductions {
		rs := randomReduction(r, m, k)
		c.o = full
		c.ctxt = fmt.Sprintf("reduction %d %s", k, showReduction(rs))
		fs := filters{}
		for _, rd := range rs {
			fs[m.fieldIndex(rd.Field)] = append([]string{}, rd.Values...)
		}
		full.queue("DELETE FROM poss", nil)
		full.possibleRows(0, fs, true)
		full.flush()
		kept := map[int][]int32{}
		rows := full.query("SELECT tbl, rid FROM poss WHERE scn = 0 ORDER BY tbl, rid")
		for rows.Next() {
			var tbl, rid int32
			if err := rows.Scan(&tbl, &rid); err != nil {
				t.Fatal(err)
			}
			kept[int(tbl)] = append(kept[int(tbl)], rid)
		}
		rows.Close()
		red.loadKept(full, kept)
		keepSet := map[[2]int]bool{}
		for tb, ids := range kept {
			for _, id := range ids {
				keepSet[[2]int{tb, int(id)}] = true
			}
		}
		keep := func(tb, row int) bool { return keepSet[[2]int{tb, row}] }

		rview, err := guard(func() (*engine.View, error) { return model.Reduce(rs) })
		if err != nil {
			t.Fatalf("%s: %v", c.ctxt, err)
		}
		c.o = red
		checkViewTables(c, rview, kept)
		checkRemovedValues(c, rview, keep)
		for i := range cfg.reducedSel {
			sel := randomSelection(r, m, keep)
			c.ctxt = fmt.Sprintf("reduction %d %s, selection %d: %s", k, showReduction(rs), i, showSelection(sel))
			checkSelection(c, rview, sel, keep)
			if c.fails > 0 {
				return
			}
		}
	}
}

func showReduction(rs []engine.Reduction) string {
	var parts []string
	for _, rd := range rs {
		parts = append(parts, fmt.Sprintf("%q IN %q", rd.Field, rd.Values))
	}
	return "[" + strings.Join(parts, " AND ") + "]"
}

func checkModelInfo(t *testing.T, m *genModel, model *engine.Model) {
	t.Helper()
	tables := model.Tables()
	if len(tables) != len(m.tables) {
		t.Fatalf("Tables: %d tables, want %d", len(tables), len(m.tables))
	}
	for i, tb := range tables {
		want := m.tables[i]
		var names []string
		for _, f := range want.fields {
			names = append(names, m.fields[f].name)
		}
		if tb.Name != want.name || tb.Rows != len(want.rows) || !slices.Equal(tb.Fields, names) {
			t.Errorf("Tables[%d] = %s %d rows %q, want %s %d rows %q", i, tb.Name, tb.Rows, tb.Fields, want.name, len(want.rows), names)
		}
	}
	fields := model.Fields()
	var wantNames []string
	for _, f := range m.fields {
		wantNames = append(wantNames, f.name)
	}
	slices.Sort(wantNames)
	if len(fields) != len(wantNames) {
		t.Fatalf("Fields: %d fields, want %d", len(fields), len(wantNames))
	}
	for i, fi := range fields {
		if fi.Name != wantNames[i] {
			t.Errorf("Fields[%d] = %q, want %q (fields by name)", i, fi.Name, wantNames[i])
			continue
		}
		f := m.fieldIndex(fi.Name)
		if d := len(m.fieldTexts(f, nil)); fi.Distinct != d {
			t.Errorf("field %q: Distinct %d, want %d", fi.Name, fi.Distinct, d)
		}
		var wantTables []string
		for _, tb := range m.fields[f].tables {
			wantTables = append(wantTables, m.tables[tb].name)
		}
		got := slices.Clone(fi.Tables)
		slices.Sort(got)
		slices.Sort(wantTables)
		if !slices.Equal(got, wantTables) {
			t.Errorf("field %q: Tables %q, want %q", fi.Name, fi.Tables, wantTables)
		}
		if len(m.fieldTexts(f, nil)) > 0 && model.Numeric(fi.Name) != m.fields[f].numeric {
			t.Errorf("Numeric(%q) = %v, want %v", fi.Name, model.Numeric(fi.Name), m.fields[f].numeric)
		}
	}
}

// checkViewTables checks the rows a view keeps (kept nil: every row).
func checkViewTables(c *checker, v *engine.View, kept map[int][]int32) {
	c.t.Helper()
	tables := v.Tables()
	if len(tables) != len(c.m.tables) {
		c.errorf("View.Tables: %d tables, want %d", len(tables), len(c.m.tables))
		return
	}
	for i, tb := range tables {
		want := len(c.m.tables[i].rows)
		if kept != nil {
			want = len(kept[i])
		}
		if tb.Name != c.m.tables[i].name || tb.Rows != want {
			c.errorf("View.Tables[%d] = %s with %d rows, want %s with %d", i, tb.Name, tb.Rows, c.m.tables[i].name, want)
		}
	}
}

// checkErrors checks the documented error types.
func checkErrors(c *checker, model *engine.Model, view *engine.View) {
	var fe *engine.FieldError
	var ve *engine.ValueError
	if _, err := view.Select([]engine.Selection{{Field: "no such field", Values: []string{"1"}}}); !errors.As(err, &fe) {
		c.errorf("Select of a missing field: %v, want a *FieldError", err)
	}
	f := c.m.fields[c.r.IntN(len(c.m.fields))]
	if _, err := view.Select([]engine.Selection{{Field: f.name, Values: []string{"never a value"}}}); !errors.As(err, &ve) {
		c.errorf("Select of a missing value of %q: %v, want a *ValueError", f.name, err)
	}
	if _, err := model.Reduce([]engine.Reduction{{Field: "no such field", Values: []string{"1"}}}); !errors.As(err, &fe) {
		c.errorf("Reduce on a missing field: %v, want a *FieldError", err)
	}
	st, err := view.Select(nil)
	if err != nil {
		c.errorf("Select(nil): %v", err)
		return
	}
	if _, err := st.FieldValues("no such field", engine.FieldQuery{}); err == nil {
		c.errorf("FieldValues of a missing field: no error")
	}
	if _, err := st.Hypercube(engine.Hypercube{Dimensions: []string{"no such field"}}); err == nil {
		c.errorf("Hypercube of a missing field: no error")
	}
	if c.m.comps == 2 {
		a := c.m.tables[c.m.compTables(0)[0]].fields[0]
		b := c.m.tables[c.m.compTables(1)[0]].fields[0]
		h := engine.Hypercube{Dimensions: []string{c.m.fields[a].name, c.m.fields[b].name}}
		if _, err := st.Hypercube(h); err == nil {
			c.errorf("Hypercube with dimensions of two unassociated components: no error")
		}
	}
	// The documented order, against engine.CompareValues, on values of every kind.
	var vals []engine.Value
	for _, t := range c.m.tables {
		for _, row := range t.rows {
			vals = append(vals, row...)
		}
	}
	for range 200 {
		a, b := vals[c.r.IntN(len(vals))], vals[c.r.IntN(len(vals))]
		if got, want := sign(engine.CompareValues(a, b)), oracleCompare(a, b); got != want {
			c.errorf("CompareValues(%s, %s) = %d, want %d", showValue(a), showValue(b), got, want)
		}
	}
}

func sign(x int) int {
	switch {
	case x < 0:
		return -1
	case x > 0:
		return 1
	}
	return 0
}

// checkRemovedValues checks that values only in rows a reduction removed cannot be selected,
// and fail exactly as a value that never existed.
func checkRemovedValues(c *checker, v *engine.View, keep func(t, row int) bool) {
	var ve *engine.ValueError
	f := c.m.fields[c.r.IntN(len(c.m.fields))]
	if _, err := v.Select([]engine.Selection{{Field: f.name, Values: []string{"never a value"}}}); !errors.As(err, &ve) {
		c.errorf("Select of a value %q never had: %v, want a *ValueError", f.name, err)
	}
	for f, fd := range c.m.fields {
		all := c.m.fieldTexts(f, nil)
		kept := c.m.fieldTexts(f, keep)
		for _, s := range all {
			if _, ok := slices.BinarySearch(kept, s); ok {
				continue
			}
			_, err := v.Select([]engine.Selection{{Field: fd.name, Values: []string{s}}})
			if !errors.As(err, &ve) {
				c.errorf("Select of %q, a value of %q only in removed rows: %v, want a *ValueError", s, fd.name, err)
			}
			if len(kept) > 0 {
				_, err := v.Select([]engine.Selection{{Field: fd.name, Values: []string{kept[0], s}}})
				if !errors.As(err, &ve) {
					c.errorf("Select of %q and %q (only in removed rows) of %q: %v, want a *ValueError", kept[0], s, fd.name, err)
				}
			}
		}
	}
}

// randomSelection selects 0–3 fields, 1–3 of each one's values (keep: the view's rows).
func randomSelection(r *rand.Rand, m *genModel, keep func(t, row int) bool) []engine.Selection {
	n := r.IntN(4)
	if r.IntN(8) == 0 {
		n = 0
	}
	var sel []engine.Selection
	for _, f := range r.Perm(len(m.fields))[:min(n, len(m.fields))] {
		texts := m.fieldTexts(f, keep)
		if len(texts) == 0 {
			continue
		}
		k := 1 + r.IntN(min(3, len(texts)))
		var vals []string
		for _, i := range r.Perm(len(texts))[:k] {
			vals = append(vals, texts[i])
		}
		sel = append(sel, engine.Selection{Field: m.fields[f].name, Values: vals})
	}
	return sel
}

// randomReduction is the k-th reduction of a model.
func randomReduction(r *rand.Rand, m *genModel, k int) []engine.Reduction {
	pick := func(f int) engine.Reduction {
		texts := m.fieldTexts(f, nil)
		var vals []string
		for _, s := range texts {
			if r.IntN(2) == 0 {
				vals = append(vals, s)
			}
		}
		if r.IntN(4) == 0 {
			vals = append(vals, "not a value")
		}
		return engine.Reduction{Field: m.fields[f].name, Values: vals}
	}
	switch {
	case k == 1: // no values: the component loses every row
		return []engine.Reduction{{Field: m.fields[r.IntN(len(m.fields))].name, Values: nil}}
	case k == 2 && m.comps == 2: // one component reduced, the other fails closed
		comp := r.IntN(2)
		var fs []int
		for f := range m.fields {
			if m.fieldComp(f) == comp {
				fs = append(fs, f)
			}
		}
		return []engine.Reduction{pick(fs[r.IntN(len(fs))])}
	}
	n := 1 + r.IntN(2)
	var rs []engine.Reduction
	for _, f := range r.Perm(len(m.fields))[:n] {
		rs = append(rs, pick(f))
	}
	return rs
}

// checkSelection selects sel in the view and compares every field and a few hypercubes
// with the oracle.
func checkSelection(c *checker, v *engine.View, sel []engine.Selection, keep func(t, row int) bool) {
	c.t.Helper()
	st, err := guard(func() (*engine.State, error) { return v.Select(sel) })
	if err != nil {
		c.errorf("Select: %v", err)
		return
	}
	fs := filters{}
	for _, s := range sel {
		fs[c.m.fieldIndex(s.Field)] = s.Values
	}
	ost := c.o.prepare(fs)

	// Every field's values, asked concurrently (State is safe for concurrent use).
	got := make([]*engine.FieldValues, len(c.m.fields))
	errs := make([]error, len(c.m.fields))
	var wg sync.WaitGroup
	for f, fd := range c.m.fields {
		wg.Go(func() {
			got[f], errs[f] = guard(func() (*engine.FieldValues, error) { return st.FieldValues(fd.name, engine.FieldQuery{}) })
		})
	}
	wg.Wait()
	wantAll := c.o.fieldValues(ost)
	for f, fd := range c.m.fields {
		want := wantAll[f]
		if errs[f] != nil {
			c.errorf("FieldValues(%q): %v", fd.name, errs[f])
			continue
		}
		if !sameFieldValues(got[f].Values, want) || got[f].Total != len(want) {
			c.errorf("FieldValues(%q): total %d, values:%s\n    want total %d, values:%s", fd.name, got[f].Total, showFieldValues(got[f].Values), len(want), showFieldValues(want))
		}
	}

	// Searches and pages on two fields; the search texts come from the whole model, so on
	// a reduced view they also look for values that only removed rows hold.
	for range 2 {
		f := c.r.IntN(len(c.m.fields))
		q := randomFieldQuery(c.r, c.m, f)
		want := slices.DeleteFunc(slices.Clone(wantAll[f]), func(v engine.FieldValue) bool {
			return !strings.Contains(strings.ToLower(v.Value.Text), strings.ToLower(q.Search))
		})
		total := len(want)
		want = page(want, q.Offset, q.Limit)
		g, err := guard(func() (*engine.FieldValues, error) { return st.FieldValues(c.m.fields[f].name, q) })
		if err != nil {
			c.errorf("FieldValues(%q, %+v): %v", c.m.fields[f].name, q, err)
			continue
		}
		if !sameFieldValues(g.Values, want) || g.Total != total {
			c.errorf("FieldValues(%q, %+v): total %d, values:%s\n    want total %d, values:%s", c.m.fields[f].name, q, g.Total, showFieldValues(g.Values), total, showFieldValues(want))
		}
	}

	// Three hypercubes, also asked concurrently.
	hs := make([]engine.Hypercube, 3)
	res := make([]*engine.Result, len(hs))
	herrs := make([]error, len(hs))
	for i := range hs {
		hs[i] = *randomHypercube(c.r, c.m)
		wg.Go(func() { res[i], herrs[i] = guard(func() (*engine.Result, error) { return st.Hypercube(hs[i]) }) })
	}
	wg.Wait()
	for i, h := range hs {
		checkHypercube(c, h, res[i], herrs[i])
	}
}

func page[T any](s []T, offset, limit int) []T {
	if offset > len(s) {
		offset = len(s)
	}
	s = s[offset:]
	if limit > 0 && limit < len(s) {
		s = s[:limit]
	}
	return s
}

func randomFieldQuery(r *rand.Rand, m *genModel, f int) engine.FieldQuery {
	var q engine.FieldQuery
	switch r.IntN(4) {
	case 0: // no search
	case 1: // a piece of a value of any field, in another case
		var texts []string
		for g := range m.fields {
			texts = append(texts, m.fieldTexts(g, nil)...)
		}
		if s := []rune(texts[r.IntN(len(texts))]); len(s) > 0 {
			i := r.IntN(len(s))
			j := i + 1 + r.IntN(len(s)-i)
			q.Search = strings.ToUpper(string(s[i:j]))
			if r.IntN(2) == 0 {
				q.Search = strings.ToLower(string(s[i:j]))
			}
		}
	case 2: // a whole value of this field
		if texts := m.fieldTexts(f, nil); len(texts) > 0 {
			q.Search = texts[r.IntN(len(texts))]
		}
	default:
		q.Search = "no such text"
	}
	if r.IntN(2) == 0 {
		q.Offset = r.IntN(4)
		q.Limit = r.IntN(4)
	}
	return q
}

// randomHypercube asks for 1–2 dimensions of one component and 0–3 measures of that
// component.
func randomHypercube(r *rand.Rand, m *genModel) *engine.Hypercube {
	d0 := r.IntN(len(m.fields))
	comp := m.fieldComp(d0)
	var same []int
	for f := range m.fields {
		if m.fieldComp(f) == comp {
			same = append(same, f)
		}
	}
	dims := []int{d0}
	if r.IntN(2) == 0 && len(same) > 1 {
		for {
			d1 := same[r.IntN(len(same))]
			if d1 != d0 {
				dims = append(dims, d1)
				break
			}
		}
	}
	nm := 1 + r.IntN(3)
	if r.IntN(8) == 0 {
		nm = 0
		// Without a measure a key dimension has no table to be read from; keep to others.
		for _, d := range dims {
			if m.fields[d].key {
				nm = 1
			}
		}
	}
	h := &engine.Hypercube{}
	for _, d := range dims {
		h.Dimensions = append(h.Dimensions, m.fields[d].name)
	}
	for range nm {
		f := same[r.IntN(len(same))]
		aggs := []engine.Aggregation{engine.Count, engine.CountDistinct}
		if m.fields[f].numeric {
			aggs = append(aggs, engine.Sum, engine.Avg, engine.Min, engine.Max)
		}
		h.Measures = append(h.Measures, engine.Measure{Agg: aggs[r.IntN(len(aggs))], Field: m.fields[f].name})
	}
	if r.IntN(2) == 0 {
		cols := len(dims) + nm
		for range 1 + r.IntN(2) {
			h.Sort = append(h.Sort, engine.SortKey{Column: r.IntN(cols), Descending: r.IntN(2) == 0})
		}
	}
	if r.IntN(3) == 0 {
		h.Offset = r.IntN(4)
		h.Limit = r.IntN(5)
	}
	return h
}

func showHypercube(h engine.Hypercube) string {
	var ms []string
	for _, m := range h.Measures {
		ms = append(ms, fmt.Sprintf("%s(%q)", aggName(m.Agg), m.Field))
	}
	return fmt.Sprintf("dims %q measures [%s] sort %+v offset %d limit %d", h.Dimensions, strings.Join(ms, ", "), h.Sort, h.Offset, h.Limit)
}

func aggName(a engine.Aggregation) string {
	return [...]string{"?", "SUM", "COUNT", "AVG", "MIN", "MAX", "COUNT_DISTINCT"}[a]
}

// checkHypercube compares the engine's answer to h with the oracle's.
func checkHypercube(c *checker, h engine.Hypercube, res *engine.Result, err error) {
	c.t.Helper()
	if err != nil {
		c.errorf("Hypercube(%s): %v", showHypercube(h), err)
		return
	}
	wantAll, wantTotals := c.o.hypercube(h)
	nd := len(h.Dimensions)

	// engine.SortRows must put the oracle's rows, shuffled, in the same order.
	shuffled := make([][]engine.Value, len(wantAll))
	for i, p := range c.r.Perm(len(wantAll)) {
		shuffled[i] = wantAll[p]
	}
	engine.SortRows(shuffled, nd, h.Sort)
	for i := range shuffled {
		if groupKey(shuffled[i][:nd]) != groupKey(wantAll[i][:nd]) {
			c.errorf("SortRows(dims %d, keys %+v) misorders rows:%s\n    want:%s", nd, h.Sort, showRows(shuffled), showRows(wantAll))
			break
		}
	}

	want := page(wantAll, h.Offset, h.Limit)
	bad := res.TotalRows != len(wantAll) || len(res.Rows) != len(want) || len(res.Totals) != len(h.Measures)
	for i := 0; !bad && i < len(want); i++ {
		if len(res.Rows[i]) != len(want[i]) {
			bad = true
			break
		}
		for j := range want[i] {
			if j < nd && !sameValue(res.Rows[i][j], want[i][j]) || j >= nd && !sameNumber(res.Rows[i][j], want[i][j]) {
				bad = true
			}
		}
	}
	for j := 0; !bad && j < len(wantTotals); j++ {
		if !sameNumber(res.Totals[j], wantTotals[j]) {
			bad = true
		}
	}
	if bad {
		c.errorf("Hypercube(%s):\n    TotalRows %d, totals %s, rows:%s\n    want TotalRows %d, totals %s, rows:%s",
			showHypercube(h), res.TotalRows, showRows([][]engine.Value{res.Totals}), showRows(res.Rows),
			len(wantAll), showRows([][]engine.Value{wantTotals}), showRows(want))
	}
}
