package engine

import (
	"errors"
	"strings"
	"testing"
)

func TestBuilderRefusesBadModels(t *testing.T) {
	cases := []struct {
		name   string
		tables []tableRows
		want   []string // fragments of the message
	}{
		{"duplicate table", []tableRows{{"a", []string{"x"}, nil}, {"a", []string{"y"}, nil}}, []string{`"a"`, "twice"}},
		{"duplicate field", []tableRows{{"a", []string{"x", "x"}, nil}}, []string{`"a"`, `"x"`}},
		{"empty field name", []tableRows{{"a", []string{"x", ""}, nil}}, []string{`"a"`, "without a name"}},
		{"two shared fields", []tableRows{{"a", []string{"x", "y"}, nil}, {"b", []string{"x", "y"}, nil}},
			[]string{`"a"`, `"b"`, `"x"`, `"y"`, "more than one field"}},
		{"a loop", []tableRows{{"a", []string{"x", "y"}, nil}, {"b", []string{"y", "z"}, nil}, {"c", []string{"z", "x"}, nil}},
			[]string{"loop", `"a"`, `"b"`, `"c"`}},
		{"a row with too few values", []tableRows{{"a", []string{"x", "y"}, [][]Value{{n(1)}}}}, []string{`"a"`, "2 fields", "1 values"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := tryBuild(c.tables...)
			var me *ModelError
			if !errors.As(err, &me) {
				t.Fatalf("got %v, want a ModelError", err)
			}
			for _, frag := range c.want {
				if !strings.Contains(me.Message, frag) {
					t.Errorf("%q lacks %q", me.Message, frag)
				}
			}
		})
	}
}

func TestModelDescribesItself(t *testing.T) {
	m := starModel(t)
	ts := m.Tables()
	if len(ts) != 4 || ts[0].Name != "sales" || ts[0].Rows != 8 || strings.Join(ts[1].Fields, ",") != "product_key,product,category,price" {
		t.Errorf("tables: %+v", ts)
	}
	fs := m.Fields()
	if fs[0].Name != "amount" || fs[0].Distinct != 7 {
		t.Errorf("first field: %+v", fs[0])
	}
	for _, f := range fs {
		if f.Name == "product_key" && strings.Join(f.Tables, ",") != "sales,products" {
			t.Errorf("product_key tables: %v", f.Tables)
		}
	}
	if !m.Numeric("amount") || m.Numeric("category") || m.Numeric("nope") {
		t.Error("Numeric")
	}
	if m.MemoryBytes() <= 0 {
		t.Error("MemoryBytes")
	}
}

func TestWideColumnsRoundTrip(t *testing.T) {
	// Widths that straddle words: 1000 symbols need 10 bits.
	var rows [][]Value
	for i := range 3000 {
		v := n(float64(i % 1000))
		if i%7 == 0 {
			v = null
		}
		rows = append(rows, []Value{v, s(strings.Repeat("x", i%3))})
	}
	m := buildModel(t, tableRows{"t", []string{"k", "x"}, rows})
	col := &m.tables[0].cols[0]
	syms := &m.fields[0].syms
	for i, r := range rows {
		got := syms.value(col.at(i))
		if got.Null != r[0].Null || got.Text != r[0].Text {
			t.Fatalf("row %d: got %+v, want %+v", i, got, r[0])
		}
	}
}
