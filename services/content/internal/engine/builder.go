package engine

import (
	"fmt"
	"math"
	"math/bits"
)

// Builder loads tables row by row into a Model.
type Builder struct {
	tables     []*TableBuilder
	tableNames map[string]bool
	fieldIDs   map[string]int
	fieldNames []string
	loaders    []*symbolLoader
	built      bool
}

// TableBuilder appends the rows of one table.
type TableBuilder struct {
	b      *Builder
	name   string
	src    TableSource
	fields []int
	cols   []growColumn
	rows   int
}

// NewBuilder starts an empty model.
func NewBuilder() *Builder {
	return &Builder{tableNames: map[string]bool{}, fieldIDs: map[string]int{}}
}

// AddTable adds a table; its fields are associated with every other table's fields of
// the same name.
func (b *Builder) AddTable(name string, fields []string, src TableSource) (*TableBuilder, error) {
	if b.built {
		return nil, &ModelError{Message: "the model is already built"}
	}
	if name == "" {
		return nil, &ModelError{Message: "a table needs a name"}
	}
	if b.tableNames[name] {
		return nil, &ModelError{Message: fmt.Sprintf("table %q is loaded twice; table names must be unique", name)}
	}
	seen := map[string]bool{}
	for _, f := range fields {
		if f == "" {
			return nil, &ModelError{Message: fmt.Sprintf("table %q has a field without a name", name)}
		}
		if seen[f] {
			return nil, &ModelError{Message: fmt.Sprintf("table %q has field %q twice", name, f)}
		}
		seen[f] = true
	}
	t := &TableBuilder{b: b, name: name, src: src, cols: make([]growColumn, len(fields))}
	for _, f := range fields {
		id, ok := b.fieldIDs[f]
		if !ok {
			id = len(b.fieldNames)
			b.fieldIDs[f] = id
			b.fieldNames = append(b.fieldNames, f)
			b.loaders = append(b.loaders, &symbolLoader{})
		}
		t.fields = append(t.fields, id)
	}
	for i := range t.cols {
		t.cols[i].col = newColumn(0, 0)
	}
	b.tableNames[name] = true
	b.tables = append(b.tables, t)
	return t, nil
}

// Append adds a row: one value per field, in the table's field order.
func (t *TableBuilder) Append(row []Value) error {
	if t.b.built {
		return &ModelError{Message: "the model is already built"}
	}
	if len(row) != len(t.fields) {
		return &ModelError{Message: fmt.Sprintf("table %q has %d fields but row %d has %d values",
			t.name, len(t.fields), t.rows+1, len(row))}
	}
	for i, v := range row {
		t.cols[i].append(t.b.loaders[t.fields[i]].code(v))
	}
	t.rows++
	return nil
}

// MemoryBytes estimates what the load holds so far.
func (b *Builder) MemoryBytes() int64 {
	n := int64(256)
	for _, t := range b.tables {
		n += 128
		for i := range t.cols {
			n += 48 + t.cols[i].col.bytes()
		}
	}
	for _, l := range b.loaders {
		n += 96 + l.bytes
	}
	return n
}

// Build checks the association graph and freezes the model. The builder cannot be used
// afterwards.
func (b *Builder) Build() (*Model, error) {
	if b.built {
		return nil, &ModelError{Message: "the model is already built"}
	}
	names := make([]string, len(b.tables))
	tableFields := make([][]int, len(b.tables))
	for i, t := range b.tables {
		names[i], tableFields[i] = t.name, t.fields
	}
	if err := checkAssociations(names, tableFields, b.fieldNames); err != nil {
		return nil, err
	}
	b.built = true
	m := &Model{byName: map[string]int{}}
	remaps := make([][]uint32, len(b.fieldNames))
	for f, name := range b.fieldNames {
		l := b.loaders[f]
		size := int64(0)
		for _, t := range l.texts {
			size += int64(len(t))
		}
		if size > math.MaxUint32 {
			return nil, &ModelError{Message: fmt.Sprintf("field %q holds more than 4 GiB of text", name)}
		}
		syms, remap := l.finish()
		b.loaders[f] = nil // the load's map is garbage from here on
		m.fields = append(m.fields, &field{name: name, syms: syms})
		m.byName[name] = f
		remaps[f] = remap
	}
	for ti, tb := range b.tables {
		t := &table{name: tb.name, src: tb.src, rows: tb.rows, fields: tb.fields}
		for j, f := range tb.fields {
			col, present, hasNull, unique := finishColumn(&tb.cols[j], remaps[f], m.fields[f].syms.n)
			tb.cols[j] = growColumn{}
			t.cols = append(t.cols, col)
			t.present = append(t.present, present)
			t.hasNull = append(t.hasNull, hasNull)
			t.unique = append(t.unique, unique)
			m.fields[f].tables = append(m.fields[f].tables, ti)
		}
		m.tables = append(m.tables, t)
	}
	b.tables = nil
	m.linkComponents()
	m.full = &View{m: m, base: make([]bitset, len(m.tables))}
	return m, nil
}

// finishColumn repacks a loaded column into value-order codes at the field's final width
// and derives what the semijoins and the hypercube's key lookups need.
func finishColumn(g *growColumn, remap []uint32, nsym int) (column, bitset, bool, bool) {
	col := newColumn(g.rows, uint(bits.Len(uint(nsym))))
	present := newBitset(nsym + 1)
	unique := true
	for i := 0; i < g.rows; i++ {
		code := remap[g.col.at(i)]
		col.put(i, code)
		if code != 0 && present.has(code) {
			unique = false
		}
		present.set(code)
	}
	hasNull := present.has(0)
	present.clear(0)
	return col, present, hasNull, unique
}
