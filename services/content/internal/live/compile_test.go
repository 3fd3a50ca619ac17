package live

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	datagatewayv1 "github.com/oriel-dev/oriel/gen/pb/oriel/datagateway/v1"
	"github.com/oriel-dev/oriel/services/content/internal/engine"
)

const injected = "'); DROP TABLE x; --"

func sumBy(dims ...string) engine.Hypercube {
	return engine.Hypercube{Dimensions: dims, Measures: []engine.Measure{{Agg: engine.Sum, Field: "amount"}}}
}

func TestSelectedValuesAreBoundNeverSpliced(t *testing.T) {
	for _, d := range []Dialect{Postgres, MySQL} {
		t.Run(d.String(), func(t *testing.T) {
			p, err := Compile(d, starTables(), starNumeric, sumBy("category"),
				[]engine.Selection{{Field: "region", Values: []string{injected, "North"}}},
				[]engine.Reduction{{Field: "category", Values: []string{injected}}})
			if err != nil {
				t.Fatalf("Compile: %v", err)
			}
			for _, q := range p.queries {
				if strings.Contains(q.statement, "DROP") || strings.Contains(q.statement, "North") {
					t.Errorf("a selected value is in the statement:\n%s", q.statement)
				}
				found := 0
				for _, prm := range q.params {
					if prm.GetStringValue() == injected {
						found++
					}
				}
				if found == 0 {
					t.Errorf("the selected value is not a parameter: %v", q.params)
				}
				if got := placeholders(d, q.statement); got != len(q.params) && d == MySQL {
					t.Errorf("%d placeholders for %d parameters", got, len(q.params))
				}
			}
		})
	}
}

// placeholders counts `?` or the highest `$n` of a statement without string literals.
func placeholders(d Dialect, s string) int {
	if d == MySQL {
		return strings.Count(s, "?")
	}
	n := 0
	for i := 1; i < 100; i++ {
		if strings.Contains(s, fmt.Sprintf("$%d", i)) {
			n = i
		}
	}
	return n
}

func TestPostgresBindsAFilterOnceWhereverItApplies(t *testing.T) {
	p, err := Compile(Postgres, starTables(), starNumeric, sumBy("category"),
		[]engine.Selection{{Field: "product_id", Values: []string{"1", "2"}}, {Field: "region", Values: []string{"North"}}}, nil)
	if err != nil {
		t.Fatalf("Compile: %v", err)
	}
	q := p.queries[0]
	want := []*datagatewayv1.QueryParameter{
		{Value: &datagatewayv1.QueryParameter_Float64Value{Float64Value: 1}},
		{Value: &datagatewayv1.QueryParameter_Float64Value{Float64Value: 2}},
		{Value: &datagatewayv1.QueryParameter_StringValue{StringValue: "North"}},
	}
	if fmt.Sprint(q.params) != fmt.Sprint(want) {
		t.Errorf("params = %v, want %v", q.params, want)
	}
	// product_id is held by sales, products and tags: one list, used in each.
	if n := strings.Count(q.statement, `CAST(CAST(a0."product_id" AS text) AS double precision) IN ($1, $2)`); n == 0 {
		t.Errorf("the numeric filter is not a cast to double against $1, $2:\n%s", q.statement)
	}
	if !strings.Contains(q.statement, `CAST(a2."region" AS text) IN ($3)`) {
		t.Errorf("the text filter is not a cast to text against $3:\n%s", q.statement)
	}
	if strings.Contains(q.statement, "$4") {
		t.Errorf("a list is bound twice:\n%s", q.statement)
	}
}

func TestMySQLBindsAtEveryPlaceholder(t *testing.T) {
	p, err := Compile(MySQL, starTables(), starNumeric, sumBy("category"),
		[]engine.Selection{{Field: "product_id", Values: []string{"1", "2"}}}, nil)
	if err != nil {
		t.Fatalf("Compile: %v", err)
	}
	q := p.queries[0]
	if n := strings.Count(q.statement, "?"); n != len(q.params) || n%2 != 0 || n < 6 {
		t.Errorf("%d placeholders, %d parameters, want one per placeholder, in each of the 3 tables", n, len(q.params))
	}
	for i, prm := range q.params {
		if want := float64(i%2 + 1); prm.GetFloat64Value() != want {
			t.Errorf("param %d = %v, want %v", i, prm, want)
		}
	}
	for _, s := range []string{"(a0.`product_id` + 0e0) IN (?, ?)", "CAST(CAST(a1.`category` AS CHAR) AS BINARY) AS oriel_b0",
		"GROUP BY oriel_d0, oriel_b0", "WITH t0 AS (SELECT q.*, ROW_NUMBER() OVER () AS oriel_row FROM (\nSELECT * FROM sales\n) q)"} {
		if !strings.Contains(q.statement, s) {
			t.Errorf("the statement lacks %q:\n%s", s, q.statement)
		}
	}
}

func TestStatementsAreWrappedWhateverTheirEnd(t *testing.T) {
	tables := starTables()
	tables[0].Source.Statement = "SELECT * FROM sales -- the facts;\n ;  "
	p, err := Compile(Postgres, tables, starNumeric, sumBy("category"), nil, nil)
	if err != nil {
		t.Fatalf("Compile: %v", err)
	}
	if !strings.Contains(p.Statements()[0], "FROM (\nSELECT * FROM sales -- the facts\n) q)") {
		t.Errorf("the statement is not wrapped on lines of its own:\n%s", p.Statements()[0])
	}
}

func TestIdentifiersAreQuotedPerDialect(t *testing.T) {
	tables := []engine.TableInfo{{Name: "t", Fields: []string{`we"ird`, "we`ird", "amount"},
		Source: engine.TableSource{Connection: testConnection, Statement: "SELECT 1"}}}
	h := engine.Hypercube{Dimensions: []string{`we"ird`, "we`ird"}, Measures: []engine.Measure{{Agg: engine.Count, Field: "amount"}}}
	pg, err := Compile(Postgres, tables, starNumeric, h, nil, nil)
	if err != nil {
		t.Fatalf("Compile: %v", err)
	}
	if s := pg.Statements()[0]; !strings.Contains(s, `a0."we""ird"`) || !strings.Contains(s, "a0.\"we`ird\"") {
		t.Errorf("PostgreSQL quoting:\n%s", s)
	}
	my, err := Compile(MySQL, tables, starNumeric, h, nil, nil)
	if err != nil {
		t.Fatalf("Compile: %v", err)
	}
	if s := my.Statements()[0]; !strings.Contains(s, "a0.`we\"ird`") || !strings.Contains(s, "a0.`we``ird`") {
		t.Errorf("MySQL quoting:\n%s", s)
	}
}

func TestUnfilteredComponentsNeedNoSemijoins(t *testing.T) {
	p, err := Compile(Postgres, starTables(), starNumeric, sumBy("category"),
		[]engine.Selection{{Field: "target_region", Values: []string{"North"}}}, nil)
	if err != nil {
		t.Fatalf("Compile: %v", err)
	}
	s := p.Statements()[0]
	if strings.Contains(s, "WHERE") || strings.Contains(s, "t4") || len(p.queries[0].params) != 0 {
		t.Errorf("a selection in another component reached the statement:\n%s", s)
	}
	if strings.Contains(s, "t2 ") || strings.Contains(s, "t3 ") {
		t.Errorf("tables off the path to the dimensions are read:\n%s", s)
	}
}

func TestCompileRefuses(t *testing.T) {
	inline := starTables()
	inline[3].Source = engine.TableSource{}
	otherConn := starTables()
	otherConn[2].Source.Connection = "tenants/acme/connections/other"
	rowIDField := starTables()
	rowIDField[1].Fields = append(rowIDField[1].Fields, "oriel_row")
	tests := []struct {
		name   string
		tables []engine.TableInfo
		h      engine.Hypercube
		sel    []engine.Selection
		red    []engine.Reduction
		check  func(error) bool
	}{
		{"an unknown dimension", starTables(), sumBy("nope"), nil, nil, isFieldError("nope")},
		{"an unknown measure", starTables(), engine.Hypercube{Measures: []engine.Measure{{Agg: engine.Sum, Field: "nope"}}}, nil, nil, isFieldError("nope")},
		{"an unknown selected field", starTables(), sumBy("category"), []engine.Selection{{Field: "nope"}}, nil, isFieldError("nope")},
		{"an unknown reduced field", starTables(), sumBy("category"), nil, []engine.Reduction{{Field: "nope"}}, isFieldError("nope")},
		{"dimensions of unassociated tables", starTables(), sumBy("category", "target_region"), nil, nil, isQueryError},
		{"a measure unassociated with the dimensions", starTables(), engine.Hypercube{Dimensions: []string{"target_region"},
			Measures: []engine.Measure{{Agg: engine.Sum, Field: "amount"}}}, nil, nil, isQueryError},
		{"an unknown aggregation", starTables(), engine.Hypercube{Measures: []engine.Measure{{Agg: 99, Field: "amount"}}}, nil, nil, isQueryError},
		{"a sum of texts", starTables(), engine.Hypercube{Measures: []engine.Measure{{Agg: engine.Sum, Field: "region"}}}, nil, nil, isUnsupported("customers")},
		{"an inline table in the filtered component", inline, sumBy("category"), []engine.Selection{{Field: "region", Values: []string{"North"}}}, nil, isUnsupported("tags")},
		{"an inline table on the path", inline, sumBy("tag"), nil, nil, isUnsupported("tags")},
		{"two connections", otherConn, sumBy("region"), nil, nil, isUnsupported("customers")},
		{"a field named like the row id", rowIDField, sumBy("category"), nil, nil, isUnsupported("products")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Compile(Postgres, tt.tables, starNumeric, tt.h, tt.sel, tt.red)
			if !tt.check(err) {
				t.Errorf("err = %#v (%v)", err, err)
			}
		})
	}
	if _, err := Compile(Dialect(9), starTables(), starNumeric, sumBy("category"), nil, nil); err == nil {
		t.Errorf("an unknown dialect compiled")
	}
}

func TestCompileAllowsWhatItDoesNotRead(t *testing.T) {
	inline := starTables()
	inline[4].Source = engine.TableSource{} // targets: another component
	inline[3].Source = engine.TableSource{} // tags: off the path, no filter
	p, err := Compile(Postgres, inline, starNumeric, sumBy("region"), nil, nil)
	if err != nil {
		t.Fatalf("Compile: %v", err)
	}
	if p.Connection() != testConnection {
		t.Errorf("connection = %q", p.Connection())
	}
}

func isFieldError(field string) func(error) bool {
	return func(err error) bool {
		var fe *engine.FieldError
		return errors.As(err, &fe) && fe.Field == field
	}
}

func isQueryError(err error) bool {
	var qe *engine.QueryError
	return errors.As(err, &qe)
}

func isUnsupported(table string) func(error) bool {
	return func(err error) bool {
		var u *Unsupported
		return errors.As(err, &u) && u.Table == table && u.Reason != ""
	}
}

// scripted answers each statement with rows chosen by what the statement is.
func scripted(answer func(statement string) ([][]engine.Value, error)) QueryFunc {
	return func(ctx context.Context, statement string, _ []*datagatewayv1.QueryParameter, fn func([]engine.Value) error) error {
		rows, err := answer(statement)
		if err != nil {
			return err
		}
		row := make([]engine.Value, 0, 8)
		for _, r := range rows {
			row = append(row[:0], r...) // the same slice every time, as datasource does
			if err := fn(row); err != nil {
				return err
			}
		}
		return nil
	}
}

func TestRunMergesMeasuresByExactTuples(t *testing.T) {
	h := engine.Hypercube{Dimensions: []string{"category", "region"}, Measures: []engine.Measure{
		{Agg: engine.Sum, Field: "amount"}, {Agg: engine.Count, Field: "price"}}}
	p, err := Compile(Postgres, starTables(), starNumeric, h, nil, nil)
	if err != nil {
		t.Fatalf("Compile: %v", err)
	}
	res, err := p.Run(context.Background(), scripted(func(s string) ([][]engine.Value, error) {
		switch {
		case strings.Contains(s, "GROUP BY") && strings.Contains(s, "SUM"):
			return [][]engine.Value{
				{txt("a"), txt("x"), engine.NumberValue(2, "2.000")},
				{txt("a"), null, engine.NumberValue(0.5, "0.5")},
				{null, txt("x"), null},
			}, nil
		case strings.Contains(s, "GROUP BY"):
			return [][]engine.Value{
				{txt("a"), txt("x"), engine.NumberValue(3, "3")},
				{txt("A"), txt("x"), engine.NumberValue(1, "1")},
				{txt(""), txt("x"), engine.NumberValue(1, "1")},
			}, nil
		case strings.Contains(s, "SUM"):
			return [][]engine.Value{{engine.NumberValue(2.5, "2.5")}}, nil
		}
		return [][]engine.Value{{engine.NumberValue(5, "5")}}, nil
	}))
	if err != nil {
		t.Fatalf("Run: %v", err)
	}
	want := [][]engine.Value{
		{txt(""), txt("x"), null, engine.NumberValue(1, "1")},
		{txt("A"), txt("x"), null, engine.NumberValue(1, "1")},
		{txt("a"), txt("x"), engine.NumberValue(2, "2"), engine.NumberValue(3, "3")},
		{txt("a"), null, engine.NumberValue(0.5, "0.5"), engine.NumberValue(0, "0")},
		{null, txt("x"), null, engine.NumberValue(0, "0")},
	}
	if fmt.Sprint(res.Rows) != fmt.Sprint(want) {
		t.Errorf("rows =\n%s\nwant\n%s", showRows(res.Rows), showRows(want))
	}
	if res.TotalRows != 5 || fmt.Sprint(res.Totals) != fmt.Sprint([]engine.Value{engine.NumberValue(2.5, "2.5"), engine.NumberValue(5, "5")}) {
		t.Errorf("totals = %v of %d rows", res.Totals, res.TotalRows)
	}
}

func TestRunRunsAtMostFourQueriesAtOnce(t *testing.T) {
	var ms []engine.Measure
	for range 10 {
		ms = append(ms, engine.Measure{Agg: engine.Sum, Field: "amount"})
	}
	p, err := Compile(Postgres, starTables(), starNumeric, engine.Hypercube{Dimensions: []string{"category"}, Measures: ms}, nil, nil)
	if err != nil {
		t.Fatalf("Compile: %v", err)
	}
	var running, most atomic.Int32
	var mu sync.Mutex
	started := 0
	gate := make(chan struct{})
	res, err := p.Run(context.Background(), scripted(func(s string) ([][]engine.Value, error) {
		n := running.Add(1)
		defer running.Add(-1)
		for {
			m := most.Load()
			if n <= m || most.CompareAndSwap(m, n) {
				break
			}
		}
		mu.Lock()
		started++
		if started == Parallelism {
			close(gate)
		}
		mu.Unlock()
		select { // the first four wait for each other, so all four are running at once
		case <-gate:
		case <-time.After(10 * time.Second):
			t.Error("fewer than four queries ran at once")
		}
		if strings.Contains(s, "GROUP BY") {
			return [][]engine.Value{{txt("a"), engine.NumberValue(1, "1")}}, nil
		}
		return [][]engine.Value{{engine.NumberValue(1, "1")}}, nil
	}))
	if err != nil {
		t.Fatalf("Run: %v", err)
	}
	if len(res.Rows) != 1 || len(res.Rows[0]) != 11 {
		t.Errorf("rows = %v, want one row of a dimension and ten measures", res.Rows)
	}
	if most.Load() > Parallelism {
		t.Errorf("%d queries ran at once, want at most %d", most.Load(), Parallelism)
	}
}

func TestRunStopsAtTheFirstError(t *testing.T) {
	p, err := Compile(Postgres, starTables(), starNumeric, sumBy("category"), nil, nil)
	if err != nil {
		t.Fatalf("Compile: %v", err)
	}
	boom := errors.New("boom")
	_, err = p.Run(context.Background(), scripted(func(string) ([][]engine.Value, error) { return nil, boom }))
	if !errors.Is(err, boom) {
		t.Errorf("err = %v, want boom", err)
	}
}

func TestRunBoundsTheGroups(t *testing.T) {
	p, err := Compile(Postgres, starTables(), starNumeric, engine.Hypercube{Dimensions: []string{"category"}}, nil, nil)
	if err != nil {
		t.Fatalf("Compile: %v", err)
	}
	_, err = p.Run(context.Background(), func(_ context.Context, _ string, _ []*datagatewayv1.QueryParameter, fn func([]engine.Value) error) error {
		row := []engine.Value{txt("x")}
		for i := 0; ; i++ {
			if err := fn(row); err != nil {
				return err
			}
			if i > MaxGroups+10 {
				return nil
			}
		}
	})
	if !errors.Is(err, ErrTooManyGroups) {
		t.Errorf("err = %v, want ErrTooManyGroups", err)
	}
}

func TestRunWithoutQueriesAnswersEmpty(t *testing.T) {
	p, err := Compile(Postgres, starTables(), starNumeric, engine.Hypercube{}, nil, nil)
	if err != nil {
		t.Fatalf("Compile: %v", err)
	}
	res, err := p.Run(context.Background(), nil)
	if err != nil || res.Rows == nil || len(res.Rows) != 0 || len(res.Totals) != 0 || p.Connection() != "" {
		t.Errorf("Run = %+v, %v; connection %q", res, err, p.Connection())
	}
}

func TestCompileRefusesMoreParametersThanTheGatewayBinds(t *testing.T) {
	var values []string
	for i := range 3000 {
		values = append(values, strconv.Itoa(i))
	}
	sel := []engine.Selection{{Field: "product_id", Values: values}}
	if _, err := Compile(Postgres, starTables(), starNumeric, sumBy("category"), sel, nil); err != nil {
		t.Errorf("PostgreSQL binds a list once, yet: %v", err)
	}
	if _, err := Compile(MySQL, starTables(), starNumeric, sumBy("category"), sel, nil); !isUnsupported("")(err) {
		t.Errorf("MySQL binds at every use: err = %v, want Unsupported", err)
	}
}
