// Package live compiles a hypercube over an app's data model to SQL that runs at the
// source, through the datagateway, so that a live chart reads current data instead of
// the last reload.
//
// A live chart must show the numbers the in-memory engine would show on the same data,
// so the SQL implements the engine's documented semantics (see the engine package doc)
// rather than the shortest query: possible rows are those taking part in the inner join
// of their whole component under the selections and reductions; each row of a measure's
// table counts once per group, however many join paths pair it with the group; a
// component without a reduced field shows nothing when reductions exist.
//
// Each table is a CTE over the statement the load script ran for it; the measure's table
// is numbered with a row id, which the DISTINCT of (row, group) pairs needs. The possible rows of a table are a predicate on the row itself: its own filters,
// and for each neighbour in the component's join tree, its key being among the keys of
// the neighbour's side of the tree (Yannakakis's semijoins, as nested CTEs). Selections
// and reductions are bound parameters, never SQL text.
//
// Values are compared as the engine compares them where it matters: a numeric field's
// selections compare as numbers, any other field's as exact texts (byte for byte, also in
// MySQL, whose default collations ignore case: a reduction to `acme` must not keep rows
// of `ACME`). Aggregates of SUM, AVG, MIN and MAX read numbers as double precision, like
// the engine; their texts are the engine's number texts, so MIN and MAX of a DECIMAL
// column say `1.5` where the engine says the loaded text `1.50`.
//
// Known differences from the engine, all at the edges of the data: joins and numeric
// selections use the source's equality, so keys `1` (an integer) and `1.0` (a decimal)
// join live but not in the engine; a numeric selection of `1.5` also matches `1.50`;
// PostgreSQL prints bytea as `\x0a` where the model holds `0a`, so a text selection of
// bytes matches nothing.
package live

import (
	"context"
	"fmt"
	"math"
	"strconv"
	"strings"
	"sync"

	datagatewayv1 "github.com/oriel-dev/oriel/gen/pb/oriel/datagateway/v1"
	"github.com/oriel-dev/oriel/services/content/internal/engine"
)

// Dialect is the SQL dialect of the source.
type Dialect int

// The dialects.
const (
	// Postgres is PostgreSQL.
	Postgres Dialect = iota + 1
	// MySQL is MySQL 8 or later, or MariaDB 10.2 or later.
	MySQL
)

func (d Dialect) String() string {
	switch d {
	case Postgres:
		return "PostgreSQL"
	case MySQL:
		return "MySQL"
	}
	return fmt.Sprintf("Dialect(%d)", int(d))
}

// MaxGroups bounds the rows a single query of a plan may return: a chart of more groups
// is no chart, and the merge holds them all in memory.
const MaxGroups = 1_000_000

// Parallelism bounds the queries of a plan running at once, so that one chart cannot
// take every connection of the source's pool.
const Parallelism = 4

// ErrTooManyGroups is returned by Run when a query returns more than MaxGroups rows.
var ErrTooManyGroups = fmt.Errorf("live: the chart has more than %d groups; select fewer values or use fewer dimensions", MaxGroups)

// Unsupported says why a hypercube cannot be queried live, e.g. a table that was not
// loaded by SQL.
type Unsupported struct {
	// Table is the table at fault, when one is.
	Table string
	// Reason says what is unsupported, in words fit for the app's developer.
	Reason string
}

func (e *Unsupported) Error() string {
	if e.Table == "" {
		return "cannot query live: " + e.Reason
	}
	return fmt.Sprintf("cannot query table %q live: %s", e.Table, e.Reason)
}

// QueryFunc runs a statement with its parameters and calls fn once per row, in order;
// fn may be given the same slice for every row (it copies what it keeps).
type QueryFunc func(ctx context.Context, statement string, params []*datagatewayv1.QueryParameter,
	fn func(row []engine.Value) error) error

// Plan is a compiled hypercube: the statements to run and how to merge their rows. It
// is immutable and may be run any number of times, also concurrently.
type Plan struct {
	connection string
	dims       int
	measures   []engine.Measure
	sort       []engine.SortKey
	offset     int
	limit      int
	queries    []query
}

// queryKind is what a query of a plan answers.
type queryKind int

const (
	// groupsQuery returns a measure by group: the dimensions, then the measure.
	groupsQuery queryKind = iota + 1
	// totalQuery returns a measure's total: one row of one value.
	totalQuery
	// tuplesQuery returns the groups of a hypercube without measures: the dimensions.
	tuplesQuery
)

type query struct {
	kind      queryKind
	measure   int
	statement string
	params    []*datagatewayv1.QueryParameter
}

// Connection is the datagateway connection every statement runs on,
// `tenants/{t}/connections/{c}`; empty when the plan needs no query (e.g. every
// measure's component is closed by the reductions).
func (p *Plan) Connection() string { return p.connection }

// Statements are the plan's statements, in the order Run starts them.
func (p *Plan) Statements() []string {
	out := make([]string, len(p.queries))
	for i, q := range p.queries {
		out[i] = q.statement
	}
	return out
}

// Run runs the plan's queries, at most Parallelism at a time, and merges their rows
// into the hypercube's result: groups are the union of the measures' groups (matched by
// exact text and nullness of every dimension), sorted, then paged. The first error
// stops the other queries and is returned as is.
func (p *Plan) Run(ctx context.Context, run QueryFunc) (*engine.Result, error) {
	parts := make([][][]engine.Value, len(p.queries))
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	var (
		wg       sync.WaitGroup
		mu       sync.Mutex
		firstErr error
	)
	fail := func(err error) {
		mu.Lock()
		defer mu.Unlock()
		if firstErr == nil {
			firstErr = err
			cancel(err)
		}
	}
	slots := make(chan struct{}, Parallelism)
	for i, q := range p.queries {
		select {
		case slots <- struct{}{}:
		case <-ctx.Done():
		}
		if ctx.Err() != nil {
			break
		}
		wg.Go(func() {
			defer func() { <-slots }()
			rows, err := p.runQuery(ctx, run, q)
			if err != nil {
				fail(err)
				return
			}
			parts[i] = rows
		})
	}
	wg.Wait()
	if firstErr != nil {
		return nil, firstErr
	}
	if err := context.Cause(ctx); err != nil {
		return nil, err
	}
	return p.merge(parts), nil
}

// runQuery runs one query and keeps its rows, checking their width.
func (p *Plan) runQuery(ctx context.Context, run QueryFunc, q query) ([][]engine.Value, error) {
	width := p.dims + 1
	switch q.kind {
	case totalQuery:
		width = 1
	case tuplesQuery:
		width = p.dims
	}
	var rows [][]engine.Value
	err := run(ctx, q.statement, q.params, func(row []engine.Value) error {
		if len(row) != width {
			return fmt.Errorf("live: a query returned %d columns, want %d", len(row), width)
		}
		if len(rows) == MaxGroups {
			return ErrTooManyGroups
		}
		rows = append(rows, append([]engine.Value(nil), row...))
		return nil
	})
	if err != nil {
		return nil, err
	}
	if q.kind == totalQuery && len(rows) > 1 {
		return nil, fmt.Errorf("live: a total query returned %d rows", len(rows))
	}
	return rows, nil
}

// merge joins the queries' rows into the result.
func (p *Plan) merge(parts [][][]engine.Value) *engine.Result {
	res := &engine.Result{Rows: [][]engine.Value{}, Totals: make([]engine.Value, len(p.measures))}
	for i, ms := range p.measures {
		res.Totals[i] = emptyAggregate(ms.Agg)
	}
	index := map[string]int{}
	var key strings.Builder
	group := func(dims []engine.Value) []engine.Value {
		key.Reset()
		for _, v := range dims {
			// Length-prefixed texts with a null marker: exact tuple equality, whatever
			// bytes the texts hold.
			if v.Null {
				key.WriteByte(0)
				continue
			}
			key.WriteByte(1)
			key.WriteString(strconv.Itoa(len(v.Text)))
			key.WriteByte(':')
			key.WriteString(v.Text)
		}
		if r, ok := index[key.String()]; ok {
			return res.Rows[r]
		}
		row := make([]engine.Value, p.dims+len(p.measures))
		copy(row, dims)
		for i, ms := range p.measures {
			row[p.dims+i] = emptyAggregate(ms.Agg)
		}
		index[key.String()] = len(res.Rows)
		res.Rows = append(res.Rows, row)
		return row
	}
	for i, q := range p.queries {
		for _, r := range parts[i] {
			switch q.kind {
			case tuplesQuery:
				group(r)
			case groupsQuery:
				group(r[:p.dims])[p.dims+q.measure] = aggregateValue(r[p.dims])
			case totalQuery:
				res.Totals[q.measure] = aggregateValue(r[0])
			}
		}
	}
	engine.SortRows(res.Rows, p.dims, p.sort)
	res.TotalRows = len(res.Rows)
	lo := min(max(p.offset, 0), len(res.Rows))
	hi := len(res.Rows)
	if p.limit > 0 {
		hi = min(hi, lo+p.limit)
	}
	res.Rows = res.Rows[lo:hi]
	return res
}

// emptyAggregate is a measure with no row: null, or 0 for counts.
func emptyAggregate(a engine.Aggregation) engine.Value {
	if a == engine.Count || a == engine.CountDistinct {
		return engine.NumberValue(0, "0")
	}
	return engine.NullValue
}

// aggregateValue gives an aggregate from the source the text the engine gives its own
// aggregates, whatever type the source computed it in (an integer, a float, a decimal).
func aggregateValue(v engine.Value) engine.Value {
	if v.Null || !v.IsNum {
		return v
	}
	f := v.Num
	if f == math.Trunc(f) && math.Abs(f) < 1e15 {
		return engine.NumberValue(f, strconv.FormatInt(int64(f), 10))
	}
	return engine.NumberValue(f, engine.FormatNumber(f))
}
