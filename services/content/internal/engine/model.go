package engine

import (
	"slices"
	"strings"
)

// Model is a loaded data model. It is immutable and safe for concurrent use.
type Model struct {
	tables []*table
	fields []*field
	byName map[string]int

	// The join forest: each component's tables in breadth-first order from its largest
	// table (so semijoins filter the fact table once per edge), with each table's parent
	// and the key field they share.
	compOf     []int
	comps      [][]int
	joinParent []int
	joinKey    []int

	full *View
}

// table is a table's rows as one packed column per field.
type table struct {
	name   string
	src    TableSource
	rows   int
	fields []int // field ids, in column order
	cols   []column
	// Per column, derived at load: the codes some row holds, whether some row is null,
	// and whether no non-null code repeats (the column is a key of the table).
	present []bitset
	hasNull []bool
	unique  []bool
}

// field is a field's symbols and the tables holding it, in load order.
type field struct {
	name   string
	syms   symbols
	tables []int
}

// colOf is the column of field f in table t, or -1.
func (t *table) colOf(f int) int {
	return slices.Index(t.fields, f)
}

// Tables describes the tables in load order.
func (m *Model) Tables() []TableInfo {
	return m.tableInfos(func(t int) int { return m.tables[t].rows })
}

func (m *Model) tableInfos(rows func(int) int) []TableInfo {
	out := make([]TableInfo, len(m.tables))
	for i, t := range m.tables {
		names := make([]string, len(t.fields))
		for j, f := range t.fields {
			names[j] = m.fields[f].name
		}
		out[i] = TableInfo{Name: t.name, Rows: rows(i), Fields: names, Source: t.src}
	}
	return out
}

// Fields describes the fields by name.
func (m *Model) Fields() []FieldInfo {
	out := make([]FieldInfo, len(m.fields))
	for i, f := range m.fields {
		names := make([]string, len(f.tables))
		for j, t := range f.tables {
			names[j] = m.tables[t].name
		}
		out[i] = FieldInfo{Name: f.name, Distinct: f.syms.n, Tables: names}
	}
	slices.SortFunc(out, func(a, b FieldInfo) int { return strings.Compare(a.Name, b.Name) })
	return out
}

// Numeric says every non-null value of the field has a number.
func (m *Model) Numeric(name string) bool {
	f, ok := m.byName[name]
	if !ok {
		return false
	}
	s := &m.fields[f].syms
	return s.numeric == s.n
}

// MemoryBytes estimates the memory the model holds: packed columns, symbol tables with
// their texts, the per-column code sets, and the small bookkeeping around them.
func (m *Model) MemoryBytes() int64 {
	n := int64(256)
	for _, t := range m.tables {
		n += 128 + int64(len(t.name)+len(t.src.Connection)+len(t.src.Statement))
		for j := range t.cols {
			n += 48 + t.cols[j].bytes() + 8*int64(len(t.present[j])) + 2
		}
	}
	for _, f := range m.fields {
		n += 160 + int64(len(f.name)) + 8*int64(len(f.tables)) + f.syms.bytes()
	}
	n += 40 * int64(len(m.tables)) // join forest
	return n
}

// View is every row of the model.
func (m *Model) View() *View { return m.full }

func (m *Model) field(name string) (int, error) {
	f, ok := m.byName[name]
	if !ok {
		return 0, &FieldError{Field: name}
	}
	return f, nil
}
