package engine_test

import (
	"context"
	"fmt"
	"math"
	"math/big"
	"os"
	"runtime"
	"strconv"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"

	"github.com/oriel-dev/oriel/platform/testkit"
	"github.com/oriel-dev/oriel/services/content/internal/engine"
)

// The benchmarks measure the engine on a sales star (a fact table of ORIEL_BENCH_ROWS rows,
// 10 M by default, and three dimension tables) and print, from the same run, what
// PostgreSQL takes for the same work on the same data:
//
//	go test -run '^$' -bench . -benchtime 3x ./internal/engine
//	ORIEL_BENCH_ROWS=200000 go test -run '^$' -bench EngineVsPostgres/ChartData ./internal/engine
//
// They are sub-benchmarks of one benchmark so that the data is generated, built and copied
// into PostgreSQL once, and the database is dropped when they are done: a fixture shared
// by top-level benchmarks through a sync.Once would have to leak its database, since a
// benchmark's cleanups run after each of its rounds.
//
// Targets on 2 cores: chart data ≤ 150 ms, a selection with 10 list boxes ≤ 100 ms,
// ≤ 12 bytes of model per fact row.

const (
	benchProducts   = 5000
	benchCategories = 20
	benchStores     = 200
	benchRegions    = 8
	benchSegments   = 5
	benchCountries  = 30
	benchDays       = 3 * 365
	benchMaxQty     = 20
)

// benchData generates the same rows for the engine and for PostgreSQL, row by row from a
// hash of the row number, so that 10 M rows never sit in memory outside the engine.
type benchData struct {
	facts, customers int
	// Values by key, built once so that generating a row allocates nothing.
	dates, products, customerKeys, stores, qtys []engine.Value
	amounts                                     map[int64]engine.Value
	dateInts                                    []int32
}

func newBenchData(facts int) *benchData {
	d := &benchData{facts: facts, customers: min(100_000, max(1000, facts/100)), amounts: map[int64]engine.Value{}}
	day := time.Date(2023, 1, 1, 0, 0, 0, 0, time.UTC)
	for range benchDays {
		n, _ := strconv.Atoi(day.Format("20060102"))
		d.dateInts = append(d.dateInts, int32(n))
		d.dates = append(d.dates, engine.NumberValue(float64(n), day.Format("2006-01-02")))
		day = day.AddDate(0, 0, 1)
	}
	intValues := func(n int) []engine.Value {
		out := make([]engine.Value, n+1)
		for i := range out {
			out[i] = num(float64(i))
		}
		return out
	}
	d.products = intValues(benchProducts)
	d.customerKeys = intValues(d.customers)
	d.stores = intValues(benchStores)
	d.qtys = intValues(benchMaxQty)
	for p := 1; p <= benchProducts; p++ {
		for q := 1; q <= benchMaxQty; q++ {
			c := int64(q) * productPriceCents(p)
			d.amounts[c] = engine.NumberValue(float64(c)/100, fmt.Sprintf("%d.%02d", c/100, c%100))
		}
	}
	return d
}

func splitmix(x uint64) uint64 {
	x += 0x9e3779b97f4a7c15
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9
	x = (x ^ (x >> 27)) * 0x94d049bb133111eb
	return x ^ (x >> 31)
}

// productPriceCents gives 5000 products prices of 1.00–60.99, so amounts (quantity × price)
// have a realistic, bounded number of distinct values.
func productPriceCents(p int) int64 { return 100 + int64(splitmix(uint64(p)*7919)%6000) }

// benchFact is fact row i: keys (1-based) and quantity; amount is quantity × price.
type benchFact struct{ day, product, customer, store, qty int }

func (d *benchData) fact(i int) benchFact {
	h := splitmix(uint64(i))
	h2 := splitmix(h)
	// Popular products and stores sell more: squaring a uniform skews towards low keys.
	u := float64(h>>11) / (1 << 53)
	return benchFact{
		day:      1 + int(h2%benchDays),
		product:  1 + int(u*u*benchProducts),
		customer: 1 + int((h2>>16)%uint64(d.customers)),
		store:    1 + int((h>>20)%benchStores),
		qty:      1 + int((h2>>40)%benchMaxQty),
	}
}

func category(p int) string { return fmt.Sprintf("Category %02d", p%benchCategories) }
func region(s int) string   { return fmt.Sprintf("Region %d", s%benchRegions) }
func segment(c int) string  { return fmt.Sprintf("Segment %d", c%benchSegments) }
func country(c int) string  { return fmt.Sprintf("Country %02d", (c/7)%benchCountries) }

// build loads the data into a new engine model, returning it and the rows loaded.
func (d *benchData) build() (*engine.Model, int, int64, error) {
	b := engine.NewBuilder()
	rows := 0
	add := func(name string, fields []string, n int, row func(i int, out []engine.Value)) error {
		tb, err := b.AddTable(name, fields, engine.TableSource{})
		if err != nil {
			return err
		}
		buf := make([]engine.Value, len(fields))
		for i := range n {
			row(i, buf)
			if err := tb.Append(buf); err != nil {
				return err
			}
		}
		rows += n
		return nil
	}
	err := add("sales", []string{"date_key", "product_key", "customer_key", "store_key", "quantity", "amount"}, d.facts, func(i int, out []engine.Value) {
		f := d.fact(i)
		out[0], out[1], out[2], out[3], out[4] = d.dates[f.day-1], d.products[f.product], d.customerKeys[f.customer], d.stores[f.store], d.qtys[f.qty]
		out[5] = d.amounts[int64(f.qty)*productPriceCents(f.product)]
	})
	if err == nil {
		err = add("products", []string{"product_key", "product_name", "category"}, benchProducts, func(i int, out []engine.Value) {
			p := i + 1
			out[0], out[1], out[2] = d.products[p], engine.TextValue(fmt.Sprintf("Product %04d", p)), engine.TextValue(category(p))
		})
	}
	if err == nil {
		err = add("customers", []string{"customer_key", "segment", "country"}, d.customers, func(i int, out []engine.Value) {
			c := i + 1
			out[0], out[1], out[2] = d.customerKeys[c], engine.TextValue(segment(c)), engine.TextValue(country(c))
		})
	}
	if err == nil {
		err = add("stores", []string{"store_key", "region"}, benchStores, func(i int, out []engine.Value) {
			s := i + 1
			out[0], out[1] = d.stores[s], engine.TextValue(region(s))
		})
	}
	if err != nil {
		return nil, 0, 0, err
	}
	peak := b.MemoryBytes()
	m, err := b.Build()
	return m, rows, peak, err
}

// copyToPostgres creates the tables and COPYs the rows, returning the rows copied and the
// time COPY took.
func (d *benchData) copyToPostgres(ctx context.Context, conn *pgx.Conn) (int, time.Duration, error) {
	_, err := conn.Exec(ctx, `
		CREATE TABLE sales (date_key integer, product_key integer, customer_key integer,
			store_key smallint, quantity smallint, amount numeric(12, 2));
		CREATE TABLE products (product_key integer PRIMARY KEY, product_name text COLLATE "C", category text COLLATE "C");
		CREATE TABLE customers (customer_key integer PRIMARY KEY, segment text COLLATE "C", country text COLLATE "C");
		CREATE TABLE stores (store_key smallint PRIMARY KEY, region text COLLATE "C")`)
	if err != nil {
		return 0, 0, err
	}
	start := time.Now()
	i := 0
	n, err := conn.CopyFrom(ctx, pgx.Identifier{"sales"}, []string{"date_key", "product_key", "customer_key", "store_key", "quantity", "amount"},
		pgx.CopyFromFunc(func() ([]any, error) {
			if i == d.facts {
				return nil, nil
			}
			f := d.fact(i)
			i++
			cents := int64(f.qty) * productPriceCents(f.product)
			return []any{d.dateInts[f.day-1], int32(f.product), int32(f.customer), int16(f.store), int16(f.qty),
				pgtype.Numeric{Int: big.NewInt(cents), Exp: -2, Valid: true}}, nil
		}))
	if err != nil {
		return 0, 0, err
	}
	rows := int(n)
	copyRows := func(table string, cols []string, count int, row func(i int) []any) error {
		j := 0
		n, err := conn.CopyFrom(ctx, pgx.Identifier{table}, cols, pgx.CopyFromFunc(func() ([]any, error) {
			if j == count {
				return nil, nil
			}
			j++
			return row(j), nil
		}))
		rows += int(n)
		return err
	}
	if err := copyRows("products", []string{"product_key", "product_name", "category"}, benchProducts, func(p int) []any {
		return []any{int32(p), fmt.Sprintf("Product %04d", p), category(p)}
	}); err != nil {
		return 0, 0, err
	}
	if err := copyRows("customers", []string{"customer_key", "segment", "country"}, d.customers, func(c int) []any {
		return []any{int32(c), segment(c), country(c)}
	}); err != nil {
		return 0, 0, err
	}
	if err := copyRows("stores", []string{"store_key", "region"}, benchStores, func(s int) []any {
		return []any{int16(s), region(s)}
	}); err != nil {
		return 0, 0, err
	}
	elapsed := time.Since(start)
	if _, err := conn.Exec(ctx, "ANALYZE"); err != nil {
		return 0, 0, err
	}
	return rows, elapsed, nil
}

// benchFixture is the data, built into a model and copied into PostgreSQL.
type benchFixture struct {
	data       *benchData
	model      *engine.Model
	rows       int // rows of all tables
	buildTime  time.Duration
	peakBytes  int64
	heapBytes  int64 // live heap the model added
	conn       *pgx.Conn
	pgRows     int
	pgCopyTime time.Duration
}

func benchFactRows(b *testing.B) int {
	if s := os.Getenv("ORIEL_BENCH_ROWS"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 {
			b.Fatalf("ORIEL_BENCH_ROWS=%q is not a row count", s)
		}
		return n
	}
	return 10_000_000
}

func newBenchFixture(b *testing.B) *benchFixture {
	ctx := context.Background()
	f := &benchFixture{data: newBenchData(benchFactRows(b))}
	// The heap the model keeps, measured around the build, checks MemoryBytes' estimate.
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	start := time.Now()
	var err error
	f.model, f.rows, f.peakBytes, err = f.data.build()
	if err != nil {
		b.Fatalf("build: %v", err)
	}
	f.buildTime = time.Since(start)
	runtime.GC()
	runtime.ReadMemStats(&after)
	f.heapBytes = int64(after.HeapAlloc) - int64(before.HeapAlloc)
	b.Logf("engine: built %d rows (%d fact rows) in %v", f.rows, f.data.facts, f.buildTime.Round(time.Millisecond))

	f.conn, err = pgx.Connect(ctx, testkit.PostgresDatabase(b))
	if err != nil {
		b.Fatalf("postgres: %v", err)
	}
	b.Cleanup(func() { _ = f.conn.Close(context.Background()) })
	f.pgRows, f.pgCopyTime, err = f.data.copyToPostgres(ctx, f.conn)
	if err != nil {
		b.Fatalf("postgres: %v", err)
	}
	b.Logf("postgres: copied %d rows in %v", f.pgRows, f.pgCopyTime.Round(time.Millisecond))
	return f
}

// pgTime runs a query to the end and returns how long it took.
func pgTime(b *testing.B, conn *pgx.Conn, sql string, args ...any) time.Duration {
	b.Helper()
	start := time.Now()
	rows, err := conn.Query(context.Background(), sql, args...)
	if err != nil {
		b.Fatal(err)
	}
	for rows.Next() {
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		b.Fatal(err)
	}
	return time.Since(start)
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

func BenchmarkEngineVsPostgres(b *testing.B) {
	f := newBenchFixture(b)
	b.Run("Reload", f.benchReload)
	b.Run("MemoryPerFactRow", f.benchMemory)
	b.Run("ChartData", f.benchChartData)
	b.Run("SelectionTenListBoxes", f.benchListBoxes)
}

// benchReload builds the whole model (generating its rows on the way) per op; PostgreSQL's
// figure is the COPY of the same rows when the fixture was made.
func (f *benchFixture) benchReload(b *testing.B) {
	var peak int64
	for b.Loop() {
		m, _, p, err := f.data.build()
		if err != nil {
			b.Fatal(err)
		}
		peak = max(peak, p)
		_ = m
	}
	b.ReportMetric(float64(f.rows)*float64(b.N)/b.Elapsed().Seconds(), "rows/s")
	b.ReportMetric(float64(f.pgRows)/f.pgCopyTime.Seconds(), "pg-rows/s")
	b.ReportMetric(float64(peak)/(1<<20), "builder-MB")
}

func (f *benchFixture) benchMemory(b *testing.B) {
	var bytes int64
	for b.Loop() {
		bytes = f.model.MemoryBytes()
	}
	// The model holds every table, so PostgreSQL's figure counts every table too; the fact
	// table alone is beside it.
	var pgBytes, pgSales int64
	err := f.conn.QueryRow(context.Background(), `SELECT pg_total_relation_size('sales') + pg_total_relation_size('products')
		+ pg_total_relation_size('customers') + pg_total_relation_size('stores'), pg_total_relation_size('sales')`).Scan(&pgBytes, &pgSales)
	if err != nil {
		b.Fatal(err)
	}
	b.ReportMetric(float64(bytes)/float64(f.data.facts), "bytes/fact-row")
	b.ReportMetric(float64(f.heapBytes)/float64(f.data.facts), "heap-bytes/fact-row")
	b.ReportMetric(float64(pgBytes)/float64(f.data.facts), "pg-bytes/fact-row")
	b.ReportMetric(float64(pgSales)/float64(f.data.facts), "pg-sales-bytes/fact-row")
	b.ReportMetric(0, "ns/op")
}

const benchCountry = "Country 07"

// benchChartData: sum(amount) and count(quantity) by category × region for one country.
func (f *benchFixture) benchChartData(b *testing.B) {
	h := engine.Hypercube{
		Dimensions: []string{"category", "region"},
		Measures:   []engine.Measure{{Agg: engine.Sum, Field: "amount"}, {Agg: engine.Count, Field: "quantity"}},
	}
	sql := `SELECT p.category, s.region, sum(f.amount), count(f.quantity)
		FROM sales f JOIN products p USING (product_key) JOIN stores s USING (store_key)
			JOIN customers c USING (customer_key)
		WHERE c.country = $1 GROUP BY 1, 2 ORDER BY 1, 2`
	f.checkChartData(b, h, sql)
	var pg time.Duration
	view := f.model.View()
	for b.Loop() {
		st, err := view.Select([]engine.Selection{{Field: "country", Values: []string{benchCountry}}})
		if err != nil {
			b.Fatal(err)
		}
		if _, err := st.Hypercube(h); err != nil {
			b.Fatal(err)
		}
	}
	// PostgreSQL runs as many times after the engine's loop rather than between its
	// iterations, where its parallel workers would still be winding down.
	for range b.N {
		pg += pgTime(b, f.conn, sql, benchCountry)
	}
	b.ReportMetric(ms(b.Elapsed())/float64(b.N), "ms/op")
	b.ReportMetric(ms(pg)/float64(b.N), "pg-ms/op")
}

// checkChartData makes sure both sides compute the same chart before timing them.
func (f *benchFixture) checkChartData(b *testing.B, h engine.Hypercube, sql string) {
	st, err := f.model.View().Select([]engine.Selection{{Field: "country", Values: []string{benchCountry}}})
	if err != nil {
		b.Fatal(err)
	}
	res, err := st.Hypercube(h)
	if err != nil {
		b.Fatal(err)
	}
	rows, err := f.conn.Query(context.Background(), sql, benchCountry)
	if err != nil {
		b.Fatal(err)
	}
	want := map[string][2]float64{}
	for rows.Next() {
		var cat, reg string
		var sum float64
		var count int64
		if err := rows.Scan(&cat, &reg, &sum, &count); err != nil {
			b.Fatal(err)
		}
		want[cat+"|"+reg] = [2]float64{sum, float64(count)}
	}
	if err := rows.Err(); err != nil {
		b.Fatal(err)
	}
	if res.TotalRows != len(want) || len(res.Rows) != len(want) {
		b.Fatalf("chart: engine has %d rows (TotalRows %d), PostgreSQL %d", len(res.Rows), res.TotalRows, len(want))
	}
	for _, r := range res.Rows {
		w, ok := want[r[0].Text+"|"+r[1].Text]
		if !ok || math.Abs(r[2].Num-w[0]) > 1e-6*math.Abs(w[0]) || r[3].Num != w[1] {
			b.Fatalf("chart: engine row %s %s %v %v, PostgreSQL %v (found %v)", r[0].Text, r[1].Text, r[2].Num, r[3].Num, w, ok)
		}
	}
}

// The ten list boxes: dimension fields and fact fields, keys among them.
var benchListFields = []string{"category", "product_name", "segment", "country", "region", "date_key", "store_key", "customer_key", "quantity", "amount"}

// pgPossibleSQL gives each list box's possible values (those of the fact rows joined to
// the selected region) in PostgreSQL.
var pgPossibleSQL = map[string]string{
	"category":     "p.category",
	"product_name": "p.product_name",
	"segment":      "c.segment",
	"country":      "c.country",
	"region":       "s.region",
	"date_key":     "f.date_key",
	"store_key":    "f.store_key",
	"customer_key": "f.customer_key",
	"quantity":     "f.quantity",
	"amount":       "f.amount",
}

const benchRegion = "Region 3"

func pgListBoxSQL(field string) string {
	return fmt.Sprintf(`SELECT DISTINCT %s FROM sales f JOIN products p USING (product_key)
		JOIN customers c USING (customer_key) JOIN stores s USING (store_key) WHERE s.region = $1`, pgPossibleSQL[field])
}

// benchListBoxes: select a region, then the first page of ten list boxes.
func (f *benchFixture) benchListBoxes(b *testing.B) {
	f.checkListBoxes(b)
	view := f.model.View()
	var pg time.Duration
	for b.Loop() {
		st, err := view.Select([]engine.Selection{{Field: "region", Values: []string{benchRegion}}})
		if err != nil {
			b.Fatal(err)
		}
		for _, name := range benchListFields {
			if _, err := st.FieldValues(name, engine.FieldQuery{Limit: 50}); err != nil {
				b.Fatal(err)
			}
		}
	}
	for range b.N {
		for _, name := range benchListFields {
			pg += pgTime(b, f.conn, pgListBoxSQL(name), benchRegion)
		}
	}
	b.ReportMetric(ms(b.Elapsed())/float64(b.N), "ms/op")
	b.ReportMetric(ms(pg)/float64(b.N), "pg-ms/op")
}

// checkListBoxes makes sure both sides find the same number of possible values.
func (f *benchFixture) checkListBoxes(b *testing.B) {
	st, err := f.model.View().Select([]engine.Selection{{Field: "region", Values: []string{benchRegion}}})
	if err != nil {
		b.Fatal(err)
	}
	for _, name := range benchListFields {
		fv, err := st.FieldValues(name, engine.FieldQuery{})
		if err != nil {
			b.Fatal(err)
		}
		possible := 0
		for _, v := range fv.Values {
			if v.State == engine.Selected || v.State == engine.Possible {
				possible++
			}
		}
		var want int
		sql := fmt.Sprintf("SELECT count(*) FROM (%s) q", pgListBoxSQL(name))
		if err := f.conn.QueryRow(context.Background(), sql, benchRegion).Scan(&want); err != nil {
			b.Fatal(err)
		}
		if possible != want {
			b.Fatalf("list box %s: engine has %d selected or possible values, PostgreSQL %d", name, possible, want)
		}
	}
}
