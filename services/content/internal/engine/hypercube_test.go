package engine

import (
	"errors"
	"fmt"
	"slices"
	"testing"
)

func TestHypercube(t *testing.T) {
	m := starModel(t)
	all := mustSelect(t, m.View())
	north := mustSelect(t, m.View(), Selection{"region", []string{"North"}})
	cases := []struct {
		name      string
		st        *State
		h         Hypercube
		rows      string
		totals    string
		totalRows int
	}{
		{"star: rows without a dimension row are in no group; null regions are a group",
			all, Hypercube{Dimensions: []string{"category", "region"}, Measures: []Measure{{Sum, "amount"}, {Count, "qty"}}},
			"[[Fruit North 17 3] [Fruit South 3 0] [Fruit - - 1] [Veg South 8 1]]", "[28 5]", 4},
		{"every aggregation, nulls ignored",
			all, Hypercube{Dimensions: []string{"category"}, Measures: []Measure{{Avg, "amount"}, {Min, "amount"}, {Max, "amount"}, {CountDistinct, "qty"}, {Count, "amount"}}},
			"[[Fruit 5 2 10 3 4] [Veg 8 8 8 1 1]]", "[5.6 2 10 4 5]", 2},
		{"a null dimension of the measure's own table is a group, sorted last",
			all, Hypercube{Dimensions: []string{"qty"}, Measures: []Measure{{Sum, "amount"}}},
			"[[1 15] [2 10] [3 -] [4 8] [- 3]]", "[36]", 5},
		{"descending keeps nulls last",
			all, Hypercube{Dimensions: []string{"qty"}, Measures: []Measure{{Sum, "amount"}}, Sort: []SortKey{{Column: 0, Descending: true}}},
			"[[4 8] [3 -] [2 10] [1 15] [- 3]]", "[36]", 5},
		{"sort by a measure, then by the dimensions",
			all, Hypercube{Dimensions: []string{"category", "region"}, Measures: []Measure{{Count, "qty"}}, Sort: []SortKey{{Column: 2, Descending: true}}},
			"[[Fruit North 3] [Fruit - 1] [Veg South 1] [Fruit South 0]]", "[5]", 4},
		{"paging keeps TotalRows",
			all, Hypercube{Dimensions: []string{"category", "region"}, Measures: []Measure{{Sum, "amount"}}, Offset: 1, Limit: 2},
			"[[Fruit South 3] [Fruit - -]]", "[28]", 4},
		{"fan-out: a product counts once per region however many sales pair them",
			all, Hypercube{Dimensions: []string{"region"}, Measures: []Measure{{Sum, "price"}, {Count, "product"}}},
			"[[North 2 2] [South 3.5 2] [- 0.5 1]]", "[4 3]", 3},
		{"no measure: the distinct tuples of the join",
			all, Hypercube{Dimensions: []string{"category", "region"}},
			"[[Fruit North] [Fruit South] [Fruit -] [Veg South]]", "[]", 4},
		{"measures of two tables: groups are the union",
			all, Hypercube{Dimensions: []string{"category"}, Measures: []Measure{{Sum, "amount"}, {Sum, "price"}}},
			"[[Fruit 20 2] [Veg 8 5]]", "[28 7]", 2},
		{"a measure with no row in a group is null, a count 0",
			all, Hypercube{Dimensions: []string{"product"}, Measures: []Measure{{Sum, "amount"}, {Count, "order"}, {Max, "price"}}},
			"[[Apple 15 3 1.5] [Banana 5 2 0.5] [Carrot 8 1 2] [Daikon - 0 3]]", "[28 6 3]", 4},
		{"no dimension: one group",
			all, Hypercube{Measures: []Measure{{Sum, "amount"}, {Count, "order"}}},
			"[[36 8]]", "[36 8]", 1},
		{"under a selection only possible rows count",
			north, Hypercube{Dimensions: []string{"category"}, Measures: []Measure{{Sum, "amount"}, {Sum, "price"}}},
			"[[Fruit 17 2]]", "[17 2]", 1},
		{"under a selection the fan-out follows possible rows only",
			north, Hypercube{Dimensions: []string{"region"}, Measures: []Measure{{Sum, "price"}}},
			"[[North 2]]", "[2]", 1},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			rows, totals, total := cube(t, c.st, c.h)
			if got := fmt.Sprint(rows); got != c.rows {
				t.Errorf("rows %s, want %s", got, c.rows)
			}
			if got := fmt.Sprint(totals); got != c.totals {
				t.Errorf("totals %s, want %s", got, c.totals)
			}
			if total != c.totalRows {
				t.Errorf("total rows %d, want %d", total, c.totalRows)
			}
		})
	}
}

func TestHypercubeSnowflake(t *testing.T) {
	st := mustSelect(t, snowflakeModel(t).View())
	rows, totals, _ := cube(t, st, Hypercube{Dimensions: []string{"department", "category"}, Measures: []Measure{{Sum, "amount"}}})
	if got, want := fmt.Sprint(rows, totals), "[[Bakery Bread 4] [Fresh Fruit 16] [Fresh Veg 8]] [28]"; got != want {
		t.Errorf("got %s, want %s", got, want)
	}
	st = mustSelect(t, snowflakeModel(t).View(), Selection{"product", []string{"Apple", "Bagel"}})
	rows, totals, _ = cube(t, st, Hypercube{Dimensions: []string{"department"}, Measures: []Measure{{Sum, "amount"}, {Count, "product"}}})
	if got, want := fmt.Sprint(rows, totals), "[[Bakery 4 1] [Fresh 11 1]] [15 2]"; got != want {
		t.Errorf("got %s, want %s", got, want)
	}
}

func TestHypercubeFanOutAcrossTwoSteps(t *testing.T) {
	// Each customer has several orders with several lines; a customer's credit counts
	// once per product however many lines pair them.
	m := buildModel(t,
		tableRows{"customers", []string{"customer", "credit"}, [][]Value{{s("ann"), n(100)}, {s("bob"), n(10)}}},
		tableRows{"orders", []string{"order", "customer"}, [][]Value{{s("A"), s("ann")}, {s("B"), s("ann")}, {s("C"), s("bob")}}},
		tableRows{"lines", []string{"order", "item"}, [][]Value{{s("A"), s("pen")}, {s("A"), s("ink")}, {s("B"), s("pen")}, {s("C"), s("pen")}, {s("C"), null}}},
	)
	rows, totals, _ := cube(t, mustSelect(t, m.View()), Hypercube{Dimensions: []string{"item"}, Measures: []Measure{{Sum, "credit"}, {Count, "customer"}}})
	if got, want := fmt.Sprint(rows, totals), "[[ink 100 1] [pen 110 2] [- 10 1]] [110 2]"; got != want {
		t.Errorf("got %s, want %s", got, want)
	}
}

func TestHypercubeRefusesUnassociatedDimensions(t *testing.T) {
	st := mustSelect(t, starModel(t).View())
	_, err := st.Hypercube(Hypercube{Dimensions: []string{"category", "note"}})
	var qe *QueryError
	if !errors.As(err, &qe) {
		t.Errorf("got %v, want a QueryError", err)
	}
	_, err = st.Hypercube(Hypercube{Dimensions: []string{"category"}, Measures: []Measure{{Count, "note"}}})
	if !errors.As(err, &qe) {
		t.Errorf("got %v, want a QueryError", err)
	}
	var fe *FieldError
	if _, err := st.Hypercube(Hypercube{Dimensions: []string{"nope"}}); !errors.As(err, &fe) {
		t.Errorf("got %v, want a FieldError", err)
	}
}

func TestSortRows(t *testing.T) {
	rows := [][]Value{
		{s("b"), n(2)}, {null, n(1)}, {n(10), null}, {n(9), n(3)}, {s("a"), n(2)}, {n(10), n(0)},
	}
	render := func() string {
		out := ""
		for _, r := range rows {
			for _, v := range r {
				if v.Null {
					out += "- "
				} else {
					out += v.Text + " "
				}
			}
			out += "|"
		}
		return out
	}
	SortRows(rows, 1, nil)
	if got, want := render(), "9 3 |10 0 |10 - |a 2 |b 2 |- 1 |"; got != want {
		t.Errorf("ascending: got %s, want %s", got, want)
	}
	SortRows(rows, 1, []SortKey{{Column: 1, Descending: true}})
	if got, want := render(), "9 3 |a 2 |b 2 |- 1 |10 0 |10 - |"; got != want {
		t.Errorf("by measure descending: got %s, want %s", got, want)
	}
	if CompareValues(n(2), s("1")) >= 0 || CompareValues(null, s("z")) <= 0 || CompareValues(null, null) != 0 {
		t.Error("numbers before texts before nulls")
	}
	if !slices.IsSortedFunc([]Value{n(-1), n(2), s(""), s("A"), s("a")}, CompareValues) {
		t.Error("value order")
	}
}
