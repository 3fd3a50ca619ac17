package engine

import (
	"fmt"
	"os"
	"strconv"
	"sync"
	"syscall"
	"testing"
	"time"
)

// A quick check of the engine's own targets on a generated sales star; the comparison
// with PostgreSQL lives in bench_test.go. Rows: ORIEL_ENGINE_PERF_ROWS (default 1 M).
//
//	go test -run '^$' -bench Perf -benchtime 5x ./internal/engine

func perfRows() int {
	if n, err := strconv.Atoi(os.Getenv("ORIEL_ENGINE_PERF_ROWS")); err == nil && n > 0 {
		return n
	}
	return 1_000_000
}

var perfModel = sync.OnceValues(func() (*Model, time.Duration) {
	start := time.Now()
	facts := perfRows()
	const products, stores, customers, days = 5000, 200, 100_000, 1095
	b := NewBuilder()
	keys := func(n int) []Value {
		out := make([]Value, n+1)
		for i := range out {
			out[i] = NumberValue(float64(i), strconv.Itoa(i))
		}
		return out
	}
	pk, sk, ck, dk, qk := keys(products), keys(stores), keys(customers), keys(days), keys(20)
	amounts := map[int64]Value{}
	mix := func(x uint64) uint64 {
		x += 0x9e3779b97f4a7c15
		x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9
		x = (x ^ (x >> 27)) * 0x94d049bb133111eb
		return x ^ (x >> 31)
	}
	sales, _ := b.AddTable("sales", []string{"date_key", "product_key", "customer_key", "store_key", "quantity", "amount"}, TableSource{})
	row := make([]Value, 6)
	for i := range facts {
		h := mix(uint64(i))
		h2 := mix(h)
		u := float64(h>>11) / (1 << 53)
		p := 1 + int(u*u*products)
		q := 1 + int((h2>>40)%20)
		cents := int64(q) * (100 + int64(mix(uint64(p)*7919)%6000))
		a, ok := amounts[cents]
		if !ok {
			a = NumberValue(float64(cents)/100, fmt.Sprintf("%d.%02d", cents/100, cents%100))
			amounts[cents] = a
		}
		row[0], row[1], row[2], row[3], row[4], row[5] = dk[1+int(h2%days)], pk[p], ck[1+int((h2>>16)%customers)], sk[1+int((h>>20)%stores)], qk[q], a
		sales.Append(row)
	}
	pt, _ := b.AddTable("products", []string{"product_key", "product_name", "category"}, TableSource{})
	for p := 1; p <= products; p++ {
		pt.Append([]Value{pk[p], TextValue(fmt.Sprintf("Product %04d", p)), TextValue(fmt.Sprintf("Category %02d", p%20))})
	}
	ct, _ := b.AddTable("customers", []string{"customer_key", "segment", "country"}, TableSource{})
	for c := 1; c <= customers; c++ {
		ct.Append([]Value{ck[c], TextValue(fmt.Sprintf("Segment %d", c%5)), TextValue(fmt.Sprintf("Country %02d", (c/7)%30))})
	}
	st, _ := b.AddTable("stores", []string{"store_key", "region"}, TableSource{})
	for s := 1; s <= stores; s++ {
		st.Append([]Value{sk[s], TextValue(fmt.Sprintf("Region %d", s%8))})
	}
	m, err := b.Build()
	if err != nil {
		panic(err)
	}
	return m, time.Since(start)
})

// cpuTime is the process's CPU time: the machine is shared, so wall time alone
// overstates what a query costs.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func BenchmarkPerfStar(b *testing.B) {
	m, took := perfModel()
	facts := m.Tables()[0].Rows
	b.Logf("built %d fact rows in %v", facts, took.Round(time.Millisecond))
	b.Run("MemoryPerFactRow", func(b *testing.B) {
		for b.Loop() {
		}
		b.ReportMetric(float64(m.MemoryBytes())/float64(facts), "bytes/fact-row")
		b.ReportMetric(12, "target-bytes/fact-row")
	})
	b.Run("ChartUnderSelection", func(b *testing.B) {
		h := Hypercube{Dimensions: []string{"category", "region"},
			Measures: []Measure{{Sum, "amount"}, {Count, "quantity"}}}
		cpu := cpuTime()
		for b.Loop() {
			st, err := m.View().Select([]Selection{{"country", []string{"Country 07"}}})
			if err != nil {
				b.Fatal(err)
			}
			if _, err := st.Hypercube(h); err != nil {
				b.Fatal(err)
			}
		}
		b.ReportMetric(float64(b.Elapsed().Milliseconds())/float64(b.N), "ms/op")
		b.ReportMetric(float64((cpuTime()-cpu).Milliseconds())/float64(b.N), "cpu-ms/op")
		b.ReportMetric(150*float64(facts)/10e6, "target-ms/op")
	})
	b.Run("SelectionAndTenListBoxes", func(b *testing.B) {
		fields := []string{"category", "product_name", "segment", "country", "region", "date_key", "store_key", "customer_key", "quantity", "amount"}
		cpu := cpuTime()
		for b.Loop() {
			st, err := m.View().Select([]Selection{{"region", []string{"Region 3"}}})
			if err != nil {
				b.Fatal(err)
			}
			for _, f := range fields {
				if _, err := st.FieldValues(f, FieldQuery{Limit: 50}); err != nil {
					b.Fatal(err)
				}
			}
		}
		b.ReportMetric(float64(b.Elapsed().Milliseconds())/float64(b.N), "ms/op")
		b.ReportMetric(float64((cpuTime()-cpu).Milliseconds())/float64(b.N), "cpu-ms/op")
		b.ReportMetric(100*float64(facts)/10e6, "target-ms/op")
	})
}
