package engine

import (
	"errors"
	"slices"
	"testing"
)

func TestFieldStatesUnderSelections(t *testing.T) {
	m := starModel(t)
	v := m.View()
	cases := []struct {
		name  string
		sels  []Selection
		field string
		want  []string
	}{
		{"without a selection every value is possible, counted in the first table holding it",
			nil, "product_key", []string{"1:P:3", "2:P:2", "3:P:1", "4:P:0", "5:P:1"}},
		{"a dimension field counts its own table's rows",
			nil, "category", []string{"Fruit:P:2", "Veg:P:2"}},
		{"a selected value is SELECTED and the rest ALTERNATIVE when nothing else is selected",
			[]Selection{{"category", []string{"Fruit"}}}, "category", []string{"Fruit:S:2", "Veg:A:0"}},
		{"a selection reaches the fact table's keys through the join",
			[]Selection{{"category", []string{"Fruit"}}}, "product_key", []string{"1:P:3", "2:P:2", "3:X:0", "4:X:0", "5:X:0"}},
		{"a selection reaches sibling dimensions through the fact table",
			[]Selection{{"category", []string{"Veg"}}}, "region", []string{"South:P:1", "North:X:0"}},
		{"measures of possible rows are possible, nulls are never listed",
			[]Selection{{"category", []string{"Fruit"}}}, "qty", []string{"1:P:2", "2:P:1", "3:P:1", "4:X:0"}},
		{"ALTERNATIVE keeps the other selections",
			[]Selection{{"category", []string{"Fruit"}}, {"region", []string{"North"}}}, "category", []string{"Fruit:S:2", "Veg:X:0"}},
		{"ALTERNATIVE of the other selected field",
			[]Selection{{"category", []string{"Fruit"}}, {"region", []string{"North"}}}, "region", []string{"North:S:1", "South:A:0"}},
		{"two selections narrow the fact rows",
			[]Selection{{"category", []string{"Fruit"}}, {"region", []string{"North"}}}, "order", []string{"o1:P:1", "o2:P:1", "o8:P:1", "o3:X:0", "o4:X:0", "o5:X:0", "o6:X:0", "o7:X:0"}},
		{"a selection on a fact field excludes dimension rows without possible facts",
			[]Selection{{"order", []string{"o3"}}}, "product", []string{"Carrot:P:1", "Apple:X:0", "Banana:X:0", "Daikon:X:0"}},
		{"rows that do not join are not possible once the component has a selection",
			[]Selection{{"region", []string{"North"}}}, "order", []string{"o1:P:1", "o2:P:1", "o8:P:1", "o3:X:0", "o4:X:0", "o5:X:0", "o6:X:0", "o7:X:0"}},
		{"another component is untouched by a selection",
			[]Selection{{"category", []string{"Fruit"}}}, "note", []string{"hello:P:1", "world:P:1"}},
		{"a selection in another component leaves this one whole",
			[]Selection{{"note", []string{"hello"}}}, "category", []string{"Fruit:P:2", "Veg:P:2"}},
		{"selecting a value with no possible row still lists it SELECTED with count 0",
			[]Selection{{"product", []string{"Daikon"}}}, "product", []string{"Daikon:S:0", "Apple:A:0", "Banana:A:0", "Carrot:A:0"}},
		{"a selection with no values makes the component impossible",
			[]Selection{{"region", nil}}, "category", []string{"Fruit:X:0", "Veg:X:0"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got := listed(t, mustSelect(t, v, c.sels...), c.field, FieldQuery{})
			if !slices.Equal(got, c.want) {
				t.Errorf("got  %v\nwant %v", got, c.want)
			}
		})
	}
}

func TestSelectedValueWithoutPossibleRowCountsItsOwnTable(t *testing.T) {
	// Daikon has no sale: the join empties the component, so Daikon's product row is not
	// possible and its count is 0.
	st := mustSelect(t, starModel(t).View(), Selection{"product", []string{"Daikon"}})
	got := listed(t, st, "category", FieldQuery{})
	if want := []string{"Fruit:X:0", "Veg:X:0"}; !slices.Equal(got, want) {
		t.Errorf("got %v, want %v", got, want)
	}
}

func TestSnowflakeSelections(t *testing.T) {
	v := snowflakeModel(t).View()
	st := mustSelect(t, v, Selection{"department", []string{"Bakery"}})
	if got, want := listed(t, st, "product", FieldQuery{}), []string{"Bagel:P:1", "Apple:X:0", "Banana:X:0", "Carrot:X:0"}; !slices.Equal(got, want) {
		t.Errorf("product: got %v, want %v", got, want)
	}
	if got, want := listed(t, st, "department", FieldQuery{}), []string{"Bakery:S:1", "Fresh:A:0"}; !slices.Equal(got, want) {
		t.Errorf("department: got %v, want %v", got, want)
	}
	if got, want := listed(t, st, "amount", FieldQuery{}), []string{"4:P:1", "1:X:0", "5:X:0", "8:X:0", "10:X:0"}; !slices.Equal(got, want) {
		t.Errorf("amount: got %v, want %v", got, want)
	}
	st = mustSelect(t, v, Selection{"product", []string{"Apple"}}, Selection{"department", []string{"Fresh", "Bakery"}})
	if got, want := listed(t, st, "category", FieldQuery{}), []string{"Fruit:P:1", "Bread:X:0", "Veg:X:0"}; !slices.Equal(got, want) {
		t.Errorf("category: got %v, want %v", got, want)
	}
	if got, want := listed(t, st, "department", FieldQuery{}), []string{"Bakery:S:0", "Fresh:S:1"}; !slices.Equal(got, want) {
		t.Errorf("department: got %v, want %v", got, want)
	}
}

func TestFieldValuesSearchAndPaging(t *testing.T) {
	st := mustSelect(t, starModel(t).View(), Selection{"category", []string{"Fruit"}})
	fv, err := st.FieldValues("product", FieldQuery{Search: "A"})
	if err != nil {
		t.Fatal(err)
	}
	// Apple, Banana, Daikon contain an "a" ignoring case; Carrot too.
	if fv.Total != 4 {
		t.Errorf("total %d, want 4", fv.Total)
	}
	if got, want := listed(t, st, "product", FieldQuery{Search: "an"}), []string{"Banana:P:1"}; !slices.Equal(got, want) {
		t.Errorf("search: got %v, want %v", got, want)
	}
	all := listed(t, st, "order", FieldQuery{})
	for off := 0; off <= len(all)+1; off++ {
		for lim := 0; lim <= 3; lim++ {
			got := listed(t, st, "order", FieldQuery{Offset: off, Limit: lim})
			hi := len(all)
			if lim > 0 {
				hi = min(hi, off+lim)
			}
			want := all[min(off, len(all)):max(min(off, len(all)), hi)]
			if !slices.Equal(got, want) {
				t.Errorf("offset %d limit %d: got %v, want %v", off, lim, got, want)
			}
		}
	}
}

func TestSelectErrors(t *testing.T) {
	v := starModel(t).View()
	_, err := v.Select([]Selection{{"colour", []string{"red"}}})
	var fe *FieldError
	if !errors.As(err, &fe) || fe.Field != "colour" {
		t.Errorf("unknown field: %v", err)
	}
	_, err = v.Select([]Selection{{"category", []string{"Meat"}}})
	var ve *ValueError
	if !errors.As(err, &ve) || ve.Field != "category" || ve.Value != "Meat" {
		t.Errorf("unknown value: %v", err)
	}
	if err := v.Check([]Selection{{"colour", []string{"red"}}}); !errors.As(err, &fe) {
		t.Errorf("Check of an unknown field: %v", err)
	}
	if err := v.Check([]Selection{{"category", []string{"Meat"}}}); !errors.As(err, &ve) {
		t.Errorf("Check of an unknown value: %v", err)
	}
	if _, err := mustSelect(t, v).FieldValues("colour", FieldQuery{}); !errors.As(err, &fe) {
		t.Errorf("field values of an unknown field: %v", err)
	}
}

func TestFieldInThreeTablesIsOneJoinNotALoop(t *testing.T) {
	m := buildModel(t,
		tableRows{"a", []string{"k", "x"}, [][]Value{{n(1), s("a1")}, {n(2), s("a2")}}},
		tableRows{"b", []string{"k", "y"}, [][]Value{{n(1), s("b1")}, {n(3), s("b3")}}},
		tableRows{"c", []string{"k", "z"}, [][]Value{{n(1), s("c1")}, {n(2), s("c2")}}},
	)
	st := mustSelect(t, m.View(), Selection{"x", []string{"a1", "a2"}})
	// Only k=1 is in all three tables.
	if got, want := listed(t, st, "z", FieldQuery{}), []string{"c1:P:1", "c2:X:0"}; !slices.Equal(got, want) {
		t.Errorf("got %v, want %v", got, want)
	}
}
