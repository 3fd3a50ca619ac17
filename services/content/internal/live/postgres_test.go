package live

import (
	"context"
	"fmt"
	"math"
	"strings"
	"testing"

	"github.com/oriel-dev/oriel/services/content/internal/engine"
)

// A small star: sales (the facts) with products, customers and tags (a bridge with a
// duplicate row, so a sale reaches a tag along two paths), and targets, unassociated.
// There are nulls, an orphan sale, a product without tags and regions differing only in
// case.
const starSchema = `
CREATE TABLE sales (sale_id int, product_id int, customer_id int, amount float8);
INSERT INTO sales VALUES (1,1,10,100),(2,1,11,200),(3,2,10,50.5),(4,3,12,30),(5,4,10,5),
  (6,99,10,7),(7,2,NULL,1),(8,NULL,11,NULL);
CREATE TABLE products (product_id int, category text, price numeric(10,2), launched date);
INSERT INTO products VALUES (1,'Bikes',100.00,'2024-01-02'),(2,'Bikes',250.50,'2024-03-01'),
  (3,'Helmets',30.00,NULL),(4,NULL,5.00,'2024-01-02');
CREATE TABLE customers (customer_id int, region text);
INSERT INTO customers VALUES (10,'North'),(11,'South'),(12,'north');
CREATE TABLE tags (product_id int, tag text);
INSERT INTO tags VALUES (1,'sport'),(1,'outdoor'),(2,'sport'),(2,'sport'),(3,'safety');
CREATE TABLE targets (target_region text, target float8);
INSERT INTO targets VALUES ('North',1000),('South',500);
`

func starTables() []engine.TableInfo {
	table := func(name string, fields ...string) engine.TableInfo {
		return engine.TableInfo{Name: name, Fields: fields,
			Source: engine.TableSource{Connection: testConnection, Statement: "SELECT * FROM " + name}}
	}
	return []engine.TableInfo{
		table("sales", "sale_id", "product_id", "customer_id", "amount"),
		table("products", "product_id", "category", "price", "launched"),
		table("customers", "customer_id", "region"),
		table("tags", "product_id", "tag"),
		table("targets", "target_region", "target"),
	}
}

func starNumeric(f string) bool {
	switch f {
	case "sale_id", "product_id", "customer_id", "amount", "price", "target":
		return true
	}
	return false
}

var null = engine.NullValue

func txt(s string) engine.Value  { return engine.TextValue(s) }
func num(f float64) engine.Value { return engine.NumberValue(f, "") }

func sum(f string) engine.Measure   { return engine.Measure{Agg: engine.Sum, Field: f} }
func count(f string) engine.Measure { return engine.Measure{Agg: engine.Count, Field: f} }

// starCases are hypercubes over the star with answers computed by hand.
var starCases = []struct {
	name       string
	h          engine.Hypercube
	sel        []engine.Selection
	red        []engine.Reduction
	rows       [][]engine.Value
	totals     []engine.Value
	totalRows  int
	statements int
}{
	{
		name:   "without selections every sale counts once in its category, nulls grouped",
		h:      engine.Hypercube{Dimensions: []string{"category"}, Measures: []engine.Measure{sum("amount"), count("amount")}},
		rows:   [][]engine.Value{{txt("Bikes"), num(351.5), num(4)}, {txt("Helmets"), num(30), num(1)}, {null, num(5), num(1)}},
		totals: []engine.Value{num(386.5), num(6)}, totalRows: 3, statements: 4,
	},
	{
		name:   "a sale reached along two paths counts once per tag",
		h:      engine.Hypercube{Dimensions: []string{"tag"}, Measures: []engine.Measure{sum("amount")}},
		rows:   [][]engine.Value{{txt("outdoor"), num(300)}, {txt("safety"), num(30)}, {txt("sport"), num(351.5)}},
		totals: []engine.Value{num(381.5)}, totalRows: 3, statements: 2,
	},
	{
		name:   "a selection keeps only the rows of the whole component's join",
		h:      engine.Hypercube{Dimensions: []string{"category"}, Measures: []engine.Measure{sum("amount")}},
		sel:    []engine.Selection{{Field: "region", Values: []string{"North"}}},
		rows:   [][]engine.Value{{txt("Bikes"), num(150.5)}},
		totals: []engine.Value{num(150.5)}, totalRows: 1, statements: 2,
	},
	{
		name:   "a text selection is exact",
		h:      engine.Hypercube{Dimensions: []string{"category"}, Measures: []engine.Measure{sum("amount")}},
		sel:    []engine.Selection{{Field: "region", Values: []string{"north"}}},
		rows:   [][]engine.Value{{txt("Helmets"), num(30)}},
		totals: []engine.Value{num(30)}, totalRows: 1, statements: 2,
	},
	{
		name:   "a numeric selection compares numbers and ignores texts that are not",
		h:      engine.Hypercube{Dimensions: []string{"category"}, Measures: []engine.Measure{sum("amount")}},
		sel:    []engine.Selection{{Field: "product_id", Values: []string{"1.0", "abc"}}},
		rows:   [][]engine.Value{{txt("Bikes"), num(300)}},
		totals: []engine.Value{num(300)}, totalRows: 1, statements: 2,
	},
	{
		name:   "a date selection compares its text",
		h:      engine.Hypercube{Dimensions: []string{"category"}, Measures: []engine.Measure{sum("amount")}},
		sel:    []engine.Selection{{Field: "launched", Values: []string{"2024-01-02"}}},
		rows:   [][]engine.Value{{txt("Bikes"), num(300)}},
		totals: []engine.Value{num(300)}, totalRows: 1, statements: 2,
	},
	{
		name:   "a selection with no value selects nothing",
		h:      engine.Hypercube{Dimensions: []string{"category"}, Measures: []engine.Measure{count("amount")}},
		sel:    []engine.Selection{{Field: "region"}},
		rows:   [][]engine.Value{},
		totals: []engine.Value{num(0)}, totalRows: 0, statements: 2,
	},
	{
		name:   "a reduction keeps the rows of its join",
		h:      engine.Hypercube{Dimensions: []string{"region"}, Measures: []engine.Measure{sum("amount")}},
		red:    []engine.Reduction{{Field: "category", Values: []string{"Bikes", "Helmets"}}},
		rows:   [][]engine.Value{{txt("North"), num(150.5)}, {txt("South"), num(200)}, {txt("north"), num(30)}},
		totals: []engine.Value{num(380.5)}, totalRows: 3, statements: 2,
	},
	{
		name:   "a reduction and a selection apply together",
		h:      engine.Hypercube{Dimensions: []string{"region"}, Measures: []engine.Measure{sum("amount")}},
		sel:    []engine.Selection{{Field: "tag", Values: []string{"sport"}}},
		red:    []engine.Reduction{{Field: "category", Values: []string{"Bikes", "Helmets"}}},
		rows:   [][]engine.Value{{txt("North"), num(150.5)}, {txt("South"), num(200)}},
		totals: []engine.Value{num(350.5)}, totalRows: 2, statements: 2,
	},
	{
		name:   "a component without a reduced field shows nothing",
		h:      engine.Hypercube{Dimensions: []string{"category"}, Measures: []engine.Measure{sum("amount"), count("amount")}},
		red:    []engine.Reduction{{Field: "target_region", Values: []string{"North"}}},
		rows:   [][]engine.Value{},
		totals: []engine.Value{null, num(0)}, totalRows: 0, statements: 0,
	},
	{
		name:   "the reduced component shows what the reduction keeps",
		h:      engine.Hypercube{Dimensions: []string{"target_region"}, Measures: []engine.Measure{sum("target")}},
		red:    []engine.Reduction{{Field: "target_region", Values: []string{"North"}}},
		rows:   [][]engine.Value{{txt("North"), num(1000)}},
		totals: []engine.Value{num(1000)}, totalRows: 1, statements: 2,
	},
	{
		name:   "a reduction with no value removes its component",
		h:      engine.Hypercube{Dimensions: []string{"target_region"}, Measures: []engine.Measure{sum("target")}},
		red:    []engine.Reduction{{Field: "target_region"}},
		rows:   [][]engine.Value{},
		totals: []engine.Value{null}, totalRows: 0, statements: 2,
	},
	{
		name:   "without measures the groups are the distinct tuples of the join",
		h:      engine.Hypercube{Dimensions: []string{"category", "region"}},
		sel:    []engine.Selection{{Field: "region", Values: []string{"North"}}},
		rows:   [][]engine.Value{{txt("Bikes"), txt("North")}},
		totals: []engine.Value{}, totalRows: 1, statements: 1,
	},
	{
		name:   "without dimensions one row holds every possible row",
		h:      engine.Hypercube{Measures: []engine.Measure{sum("amount")}},
		rows:   [][]engine.Value{{num(393.5)}},
		totals: []engine.Value{num(393.5)}, totalRows: 1, statements: 2,
	},
	{
		name:   "without dimensions and without rows there is no row",
		h:      engine.Hypercube{Measures: []engine.Measure{sum("amount")}},
		sel:    []engine.Selection{{Field: "amount", Values: []string{"12345"}}},
		rows:   [][]engine.Value{},
		totals: []engine.Value{null}, totalRows: 0, statements: 2,
	},
	{
		name:   "averages skip nulls, orphans count where their path joins",
		h:      engine.Hypercube{Dimensions: []string{"region"}, Measures: []engine.Measure{{Agg: engine.Avg, Field: "amount"}}},
		rows:   [][]engine.Value{{txt("North"), num(40.625)}, {txt("South"), num(200)}, {txt("north"), num(30)}},
		totals: []engine.Value{num(392.5 / 6)}, totalRows: 3, statements: 2,
	},
	{
		name: "distinct counts count texts; min and max read numbers",
		h: engine.Hypercube{Dimensions: []string{"category"}, Measures: []engine.Measure{
			{Agg: engine.CountDistinct, Field: "customer_id"}, {Agg: engine.Min, Field: "price"}, {Agg: engine.Max, Field: "price"}}},
		rows: [][]engine.Value{
			{txt("Bikes"), num(2), num(100), num(250.5)}, {txt("Helmets"), num(1), num(30), num(30)}, {null, num(1), num(5), num(5)}},
		totals: []engine.Value{num(3), num(5), num(250.5)}, totalRows: 3, statements: 6,
	},
	{
		name: "sort, offset and limit page the sorted rows",
		h: engine.Hypercube{Dimensions: []string{"category"}, Measures: []engine.Measure{sum("amount")},
			Sort: []engine.SortKey{{Column: 1, Descending: true}}, Offset: 1, Limit: 1},
		rows:   [][]engine.Value{{txt("Helmets"), num(30)}},
		totals: []engine.Value{num(386.5)}, totalRows: 3, statements: 2,
	},
	{
		name:   "an injected value is only a value",
		h:      engine.Hypercube{Dimensions: []string{"category"}, Measures: []engine.Measure{sum("amount")}},
		sel:    []engine.Selection{{Field: "region", Values: []string{"'); DROP TABLE sales; --"}}},
		rows:   [][]engine.Value{},
		totals: []engine.Value{null}, totalRows: 0, statements: 2,
	},
}

func TestLiveQueriesFollowTheEngineSemanticsOnPostgres(t *testing.T) {
	conn := postgres(t)
	exec(t, conn, starSchema)
	for _, tt := range starCases {
		t.Run(tt.name, func(t *testing.T) {
			p, err := Compile(Postgres, starTables(), starNumeric, tt.h, tt.sel, tt.red)
			if err != nil {
				t.Fatalf("Compile: %v", err)
			}
			if len(p.Statements()) != tt.statements {
				t.Errorf("%d statements, want %d", len(p.Statements()), tt.statements)
			}
			res, err := p.Run(context.Background(), pgxQuery(conn))
			if err != nil {
				t.Fatalf("Run: %v\n%s", err, strings.Join(p.Statements(), "\n\n"))
			}
			want := &engine.Result{Rows: tt.rows, Totals: tt.totals, TotalRows: tt.totalRows}
			if diff := resultDiff(len(tt.h.Dimensions), want, res); diff != "" {
				t.Errorf("%s\n%s", diff, strings.Join(p.Statements(), "\n\n"))
			}
		})
	}
	var n int
	if err := conn.QueryRow(context.Background(), "SELECT count(*) FROM sales").Scan(&n); err != nil || n != 8 {
		t.Errorf("sales has %d rows (%v) after the tests, want 8", n, err)
	}
}

// resultDiff compares results: dimensions exactly (text and nullness; numbers too when
// want has one), measures by number within 1e-9 relative. want's measure texts are
// ignored: the engine's and the source's texts of a MIN may differ ("1.50", "1.5").
func resultDiff(dims int, want, got *engine.Result) string {
	var b strings.Builder
	if got.TotalRows != want.TotalRows {
		fmt.Fprintf(&b, "total rows = %d, want %d\n", got.TotalRows, want.TotalRows)
	}
	if len(got.Totals) != len(want.Totals) {
		fmt.Fprintf(&b, "%d totals, want %d\n", len(got.Totals), len(want.Totals))
	} else {
		for i := range want.Totals {
			if !sameMeasure(got.Totals[i], want.Totals[i]) {
				fmt.Fprintf(&b, "total %d = %s, want %s\n", i, show(got.Totals[i]), show(want.Totals[i]))
			}
		}
	}
	if got.Rows == nil {
		b.WriteString("rows are nil, want a slice\n")
	}
	same := len(got.Rows) == len(want.Rows)
	for r := 0; same && r < len(want.Rows); r++ {
		same = len(got.Rows[r]) == len(want.Rows[r])
		for c := 0; same && c < len(want.Rows[r]); c++ {
			if c < dims {
				same = sameDimension(got.Rows[r][c], want.Rows[r][c])
			} else {
				same = sameMeasure(got.Rows[r][c], want.Rows[r][c])
			}
		}
	}
	if !same {
		fmt.Fprintf(&b, "rows =\n%s\nwant\n%s\n", showRows(got.Rows), showRows(want.Rows))
	}
	return b.String()
}

func sameDimension(got, want engine.Value) bool {
	if got.Null || want.Null {
		return got.Null == want.Null
	}
	return got.Text == want.Text && (!want.IsNum || got.IsNum && got.Num == want.Num)
}

func sameMeasure(got, want engine.Value) bool {
	if got.Null || want.Null {
		return got.Null == want.Null
	}
	if !want.IsNum {
		return got.Text == want.Text && !got.IsNum
	}
	if !got.IsNum {
		return false
	}
	d := math.Abs(got.Num - want.Num)
	return d == 0 || d <= 1e-9*math.Max(math.Abs(got.Num), math.Abs(want.Num))
}

func show(v engine.Value) string {
	switch {
	case v.Null:
		return "null"
	case v.IsNum:
		return fmt.Sprintf("%g(%q)", v.Num, v.Text)
	}
	return fmt.Sprintf("%q", v.Text)
}

func showRows(rows [][]engine.Value) string {
	var b strings.Builder
	for _, r := range rows {
		b.WriteString("  [")
		for i, v := range r {
			if i > 0 {
				b.WriteString(", ")
			}
			b.WriteString(show(v))
		}
		b.WriteString("]\n")
	}
	return b.String()
}
