package engine

import (
	"strconv"
	"testing"
)

// n is a number whose text is its shortest form.
func n(f float64) Value { return NumberValue(f, strconv.FormatFloat(f, 'f', -1, 64)) }

func s(t string) Value { return TextValue(t) }

var null = NullValue

type tableRows struct {
	name   string
	fields []string
	rows   [][]Value
}

func buildModel(t testing.TB, tables ...tableRows) *Model {
	t.Helper()
	m, err := tryBuild(tables...)
	if err != nil {
		t.Fatalf("build: %v", err)
	}
	return m
}

func tryBuild(tables ...tableRows) (*Model, error) {
	b := NewBuilder()
	for _, tr := range tables {
		tb, err := b.AddTable(tr.name, tr.fields, TableSource{})
		if err != nil {
			return nil, err
		}
		for _, r := range tr.rows {
			if err := tb.Append(r); err != nil {
				return nil, err
			}
		}
	}
	return b.Build()
}

// starModel is a small sales star, loaded fact first:
//
//	sales(order, product_key, store_key, qty, amount)
//	products(product_key, product, category, price)
//	stores(store_key, region)
//	notes(note): a component of its own
//
// Order o5 sells product 5, which products lacks; o7 has no product; store 30 has no
// region; product 4 never sells; o1 and o8 are Apple in the North.
func starModel(t testing.TB) *Model {
	return buildModel(t,
		tableRows{"sales", []string{"order", "product_key", "store_key", "qty", "amount"}, [][]Value{
			{s("o1"), n(1), n(10), n(2), n(10)},
			{s("o2"), n(2), n(10), n(1), n(5)},
			{s("o3"), n(3), n(20), n(4), n(8)},
			{s("o4"), n(1), n(20), null, n(3)},
			{s("o5"), n(5), n(10), n(1), n(7)},
			{s("o6"), n(2), n(30), n(3), null},
			{s("o7"), null, n(20), n(1), n(1)},
			{s("o8"), n(1), n(10), n(1), n(2)},
		}},
		tableRows{"products", []string{"product_key", "product", "category", "price"}, [][]Value{
			{n(1), s("Apple"), s("Fruit"), n(1.5)},
			{n(2), s("Banana"), s("Fruit"), n(0.5)},
			{n(3), s("Carrot"), s("Veg"), n(2)},
			{n(4), s("Daikon"), s("Veg"), n(3)},
		}},
		tableRows{"stores", []string{"store_key", "region"}, [][]Value{
			{n(10), s("North")},
			{n(20), s("South")},
			{n(30), null},
		}},
		tableRows{"notes", []string{"note"}, [][]Value{{s("hello")}, {s("world")}}},
	)
}

// snowflakeModel is sales → products → categories, two many-to-one steps.
func snowflakeModel(t testing.TB) *Model {
	return buildModel(t,
		tableRows{"sales", []string{"product_key", "amount"}, [][]Value{
			{n(1), n(10)}, {n(2), n(5)}, {n(3), n(8)}, {n(4), n(4)}, {n(1), n(1)},
		}},
		tableRows{"products", []string{"product_key", "product", "cat_id"}, [][]Value{
			{n(1), s("Apple"), s("c1")}, {n(2), s("Banana"), s("c1")},
			{n(3), s("Carrot"), s("c2")}, {n(4), s("Bagel"), s("c3")},
		}},
		tableRows{"categories", []string{"cat_id", "category", "department"}, [][]Value{
			{s("c1"), s("Fruit"), s("Fresh")}, {s("c2"), s("Veg"), s("Fresh")}, {s("c3"), s("Bread"), s("Bakery")},
		}},
	)
}

func mustSelect(t testing.TB, v *View, sels ...Selection) *State {
	t.Helper()
	st, err := v.Select(sels)
	if err != nil {
		t.Fatalf("select %v: %v", sels, err)
	}
	return st
}

// listed renders a field's values as "text:STATE:count" for compact comparisons.
func listed(t testing.TB, st *State, field string, q FieldQuery) []string {
	t.Helper()
	fv, err := st.FieldValues(field, q)
	if err != nil {
		t.Fatalf("field values of %s: %v", field, err)
	}
	var out []string
	for _, v := range fv.Values {
		out = append(out, v.Value.Text+":"+stateName(v.State)+":"+strconv.FormatInt(v.Count, 10))
	}
	return out
}

func stateName(s ValueState) string {
	switch s {
	case Selected:
		return "S"
	case Possible:
		return "P"
	case Alternative:
		return "A"
	case Excluded:
		return "X"
	}
	return "?"
}

// cube renders a hypercube's rows as texts, nulls as "-".
func cube(t testing.TB, st *State, h Hypercube) ([][]string, []string, int) {
	t.Helper()
	res, err := st.Hypercube(h)
	if err != nil {
		t.Fatalf("hypercube %+v: %v", h, err)
	}
	text := func(v Value) string {
		if v.Null {
			return "-"
		}
		return v.Text
	}
	var rows [][]string
	for _, r := range res.Rows {
		var row []string
		for _, v := range r {
			row = append(row, text(v))
		}
		rows = append(rows, row)
	}
	var totals []string
	for _, v := range res.Totals {
		totals = append(totals, text(v))
	}
	return rows, totals, res.TotalRows
}
