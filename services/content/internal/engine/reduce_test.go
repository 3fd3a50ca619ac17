package engine

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
)

func TestReductionHidesRowsAndValues(t *testing.T) {
	m := starModel(t)
	v, err := m.Reduce([]Reduction{{"region", []string{"North"}}, {"note", []string{"hello"}}})
	if err != nil {
		t.Fatal(err)
	}
	var rows []string
	for _, ti := range v.Tables() {
		rows = append(rows, fmt.Sprintf("%s=%d", ti.Name, ti.Rows))
	}
	if got, want := strings.Join(rows, " "), "sales=3 products=2 stores=1 notes=1"; got != want {
		t.Errorf("tables: got %s, want %s", got, want)
	}
	st := mustSelect(t, v)
	for field, want := range map[string][]string{
		"category":    {"Fruit:P:2"},
		"region":      {"North:P:1"},
		"product_key": {"1:P:2", "2:P:1"},
		"order":       {"o1:P:1", "o2:P:1", "o8:P:1"},
		"note":        {"hello:P:1"},
	} {
		if got := listed(t, st, field, FieldQuery{}); !slices.Equal(got, want) {
			t.Errorf("%s: got %v, want %v", field, got, want)
		}
	}
	fv, _ := st.FieldValues("product", FieldQuery{Search: "o"})
	if fv.Total != 0 {
		t.Errorf("a search must not find hidden values, found %d", fv.Total)
	}
	rowsCube, totals, _ := cube(t, st, Hypercube{Dimensions: []string{"category"}, Measures: []Measure{{Sum, "amount"}, {Sum, "price"}}})
	if got, want := fmt.Sprint(rowsCube, totals), "[[Fruit 17 2]] [17 2]"; got != want {
		t.Errorf("hypercube: got %s, want %s", got, want)
	}
	rowsCube, _, _ = cube(t, st, Hypercube{Dimensions: []string{"product"}})
	if got, want := fmt.Sprint(rowsCube), "[[Apple] [Banana]]"; got != want {
		t.Errorf("dimension-only hypercube: got %s, want %s", got, want)
	}
	// A hidden value is refused exactly like a value that never existed.
	_, hidden := v.Select([]Selection{{"category", []string{"Veg"}}})
	_, missing := v.Select([]Selection{{"category", []string{"Meat"}}})
	var he, me *ValueError
	if !errors.As(hidden, &he) || !errors.As(missing, &me) {
		t.Fatalf("got %v and %v, want ValueErrors", hidden, missing)
	}
	if strings.ReplaceAll(hidden.Error(), "Veg", "X") != strings.ReplaceAll(missing.Error(), "Meat", "X") {
		t.Errorf("the errors differ: %q and %q", hidden, missing)
	}
	// Check refuses them the same way, without selecting.
	if err := v.Check([]Selection{{"category", []string{"Veg"}}}); err == nil || err.Error() != hidden.Error() {
		t.Errorf("Check of a hidden value: %v, want %v", err, hidden)
	}
	if err := v.Check([]Selection{{"product", []string{"Banana"}}}); err != nil {
		t.Errorf("Check of a visible value: %v", err)
	}
	// Selections inside the view see the view's rows only.
	st = mustSelect(t, v, Selection{"product", []string{"Banana"}})
	if got, want := listed(t, st, "product", FieldQuery{}), []string{"Banana:S:1", "Apple:A:0"}; !slices.Equal(got, want) {
		t.Errorf("got %v, want %v", got, want)
	}
}

func TestReductionFailsClosed(t *testing.T) {
	m := starModel(t)
	cases := []struct {
		name string
		rs   []Reduction
		want string
	}{
		{"a component without a reduced field loses every row", []Reduction{{"region", []string{"South"}}}, "sales=2 products=2 stores=1 notes=0"},
		{"a reduction with no values removes its component", []Reduction{{"region", nil}, {"note", []string{"world"}}}, "sales=0 products=0 stores=0 notes=1"},
		{"no reduction removes everything", nil, "sales=0 products=0 stores=0 notes=0"},
		{"an unknown value keeps nothing", []Reduction{{"category", []string{"Meat"}}, {"note", []string{"hello", "world"}}}, "sales=0 products=0 stores=0 notes=2"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			v, err := m.Reduce(c.rs)
			if err != nil {
				t.Fatal(err)
			}
			var rows []string
			for _, ti := range v.Tables() {
				rows = append(rows, fmt.Sprintf("%s=%d", ti.Name, ti.Rows))
			}
			if got := strings.Join(rows, " "); got != c.want {
				t.Errorf("got %s, want %s", got, c.want)
			}
		})
	}
	v, _ := m.Reduce(nil)
	st := mustSelect(t, v)
	if fv, _ := st.FieldValues("category", FieldQuery{}); fv.Total != 0 || len(fv.Values) != 0 {
		t.Errorf("values of an emptied view: %+v", fv)
	}
	rows, totals, n := cube(t, st, Hypercube{Dimensions: []string{"category"}, Measures: []Measure{{Sum, "amount"}, {Count, "qty"}}})
	if len(rows) != 0 || n != 0 || fmt.Sprint(totals) != "[- 0]" {
		t.Errorf("hypercube of an emptied view: %v %v %d", rows, totals, n)
	}
	if _, err := v.Select([]Selection{{"category", []string{"Fruit"}}}); err == nil {
		t.Error("a value of an emptied view was selectable")
	}
	var fe *FieldError
	if _, err := m.Reduce([]Reduction{{"nope", nil}}); !errors.As(err, &fe) {
		t.Errorf("unknown reduced field: %v", err)
	}
}
