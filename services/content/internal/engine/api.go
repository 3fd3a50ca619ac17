// Package engine is the app engine's associative in-memory model: tables of columns whose
// fields hold symbol indexes into per-field tables of distinct values; tables that share
// a field name are associated through it. On a model it computes selections (and the
// state of every value of every field under them), hypercubes (chart data) and
// row-level-security reductions, and it saves and opens itself as a snapshot.
//
// Its API is narrow on purpose (Builder, Model, View, State) so that the engine can move
// into a service of its own when apps outgrow one machine.
//
// # Semantics
//
// These are the rules the engine, the live-query compiler (package live) and the oracle
// tests that compare both against PostgreSQL share.
//
//   - Values are dual: a text, and a number when the value has one. A field's values are
//     identified by their text; nulls are not values (they are never selectable, never
//     listed by FieldValues and never counted).
//   - The association graph (tables as nodes, a shared field as an edge) must be a forest:
//     Build refuses two tables that share more than one field, and loops. A field held by
//     three or more tables joins them all on that one field and is not a loop; the
//     distance between two tables holding it is 1.
//   - Possible rows. In a connected component of the graph without any selection, every
//     row is possible. In a component with selections, a row is possible when it takes
//     part in the inner join of all the component's tables (joined on their shared
//     fields) with every selection applied as a filter on the rows of every table holding
//     the field (`field IN (values)`).
//   - Field states. A value of a field with a selection is SELECTED when selected,
//     ALTERNATIVE when it would be possible with that field's own selection removed (all
//     other selections kept), else EXCLUDED. A value of a field without a selection is
//     POSSIBLE when some possible row of a table holding the field holds it, else
//     EXCLUDED. A value's count is the number of possible rows of the first table (in load
//     order) holding the field that hold it; 0 unless SELECTED or POSSIBLE.
//   - Reductions (row-level security) are applied before anything else as permanent
//     selections whose removed rows and values cease to exist for the View: they are never
//     listed, counted, selectable or aggregated. Tables in a component without any reduced
//     field lose all their rows (fail closed), and a reduction with no values removes
//     every row of its component.
//   - Hypercubes. Each measure aggregates its field over the rows of its table T (for a
//     field in several tables, the first in load order). A dimension field held by several
//     tables is read from the one nearest to T in the graph (ties: load order). A row r of
//     T belongs to the group of dimension tuple d when r is possible and the inner join of
//     the tables on the paths from T to the dimensions' tables, restricted to possible
//     rows, pairs r with d; r counts once per group however many join paths pair it with
//     d. The groups of a hypercube are the union of its measures' groups (a measure with
//     no row in a group is null, or 0 for counts); with no measure, they are the distinct
//     tuples of that join of the dimensions' tables, T being the first table (in load
//     order) holding the first dimension. Dimensions of different, unassociated
//     components are refused. Nulls: a null dimension value is a group of its own; SUM,
//     AVG, MIN, MAX of no non-null value is null; COUNT counts non-null values;
//     COUNT_DISTINCT counts distinct non-null texts. Totals aggregate each measure over
//     the distinct rows of T that belong to at least one group.
//   - Order. Values compare numbers (ascending by number) before texts (by byte order),
//     nulls last in either direction. Rows sort by the sort keys, then by every dimension
//     ascending, then by every measure ascending, so the order is total.
package engine

import (
	"errors"
	"fmt"
)

// Value is a dual value: a text and, when IsNum, a number. Null is the absence of a value.
type Value struct {
	Text  string
	Num   float64
	IsNum bool
	Null  bool
}

// NullValue is the null.
var NullValue = Value{Null: true}

// TextValue is a text without a number.
func TextValue(s string) Value { return Value{Text: s} }

// NumberValue is a number with its text.
func NumberValue(f float64, text string) Value { return Value{Text: text, Num: f, IsNum: true} }

// ValueState is where a field's value stands under selections.
type ValueState int

// The states, in the order FieldValues lists them.
const (
	Selected ValueState = iota + 1
	Possible
	Alternative
	Excluded
)

// Aggregation is how a measure aggregates its field.
type Aggregation int

// The aggregations.
const (
	Sum Aggregation = iota + 1
	Count
	Avg
	Min
	Max
	CountDistinct
)

// Measure aggregates a field.
type Measure struct {
	Agg   Aggregation
	Field string
}

// SortKey orders hypercube rows by a column: dimensions first, then measures.
type SortKey struct {
	Column     int
	Descending bool
}

// Hypercube asks for measures by dimensions.
type Hypercube struct {
	Dimensions []string
	Measures   []Measure
	Sort       []SortKey
	// Offset skips rows; Limit bounds them (0: no bound).
	Offset, Limit int
}

// Result is a hypercube's answer.
type Result struct {
	// Rows of the page: a value per dimension, then per measure.
	Rows [][]Value
	// Totals has a value per measure.
	Totals []Value
	// TotalRows counts every row, not only the page's.
	TotalRows int
}

// Selection selects values of a field, by their text.
type Selection struct {
	Field  string
	Values []string
}

// Reduction keeps only the rows whose field's text is one of Values.
type Reduction struct {
	Field  string
	Values []string
}

// FieldQuery asks for a field's values.
type FieldQuery struct {
	// Search keeps values whose text contains it, ignoring case.
	Search string
	// Offset skips values; Limit bounds them (0: no bound).
	Offset, Limit int
}

// FieldValue is a value of a field with its state and count.
type FieldValue struct {
	Value Value
	State ValueState
	Count int64
}

// FieldValues is a page of a field's values: SELECTED, then POSSIBLE, then ALTERNATIVE,
// then EXCLUDED; within a state in value order.
type FieldValues struct {
	Values []FieldValue
	// Total counts every value matching the search.
	Total int
}

// TableSource says where a table's rows came from, for live queries; empty for inline
// tables.
type TableSource struct {
	// Connection is the datagateway connection, `tenants/{t}/connections/{c}`.
	Connection string
	// Statement is the SQL SELECT, after variable expansion.
	Statement string
}

// TableInfo describes a table of a model or view.
type TableInfo struct {
	Name   string
	Rows   int
	Fields []string
	Source TableSource
}

// FieldInfo describes a field.
type FieldInfo struct {
	Name     string
	Distinct int
	Tables   []string
}

// FieldError says a field is not in the model.
type FieldError struct{ Field string }

func (e *FieldError) Error() string { return fmt.Sprintf("field %q is not in the data model", e.Field) }

// ValueError says a selected value is not a value of its field (in the view).
type ValueError struct{ Field, Value string }

func (e *ValueError) Error() string {
	return fmt.Sprintf("%q is not a value of field %q", e.Value, e.Field)
}

// ModelError says why a model cannot be built, e.g. a loop in the association graph.
type ModelError struct{ Message string }

func (e *ModelError) Error() string { return e.Message }

// The rest of the API (implemented in the files beside this one):
//
//	func NewBuilder() *Builder
//	func (b *Builder) AddTable(name string, fields []string, src TableSource) (*TableBuilder, error)
//	func (t *TableBuilder) Append(row []Value) error      // one Value per field
//	func (b *Builder) MemoryBytes() int64                 // so far, for a reload's peak memory
//	func (b *Builder) Build() (*Model, error)             // *ModelError for a bad graph
//
//	func (m *Model) Tables() []TableInfo                  // load order
//	func (m *Model) Fields() []FieldInfo                  // by name
//	func (m *Model) Numeric(field string) bool            // every non-null value has a number
//	func (m *Model) MemoryBytes() int64
//	func (m *Model) WriteSnapshot(w io.Writer) error
//	func ReadSnapshot(r io.Reader) (*Model, error)        // ErrCorruptSnapshot, never a panic
//	func (m *Model) View() *View                          // every row
//	func (m *Model) Reduce(rs []Reduction) (*View, error) // *FieldError
//
//	func (v *View) Tables() []TableInfo                   // rows the view keeps
//	func (v *View) Select(sel []Selection) (*State, error) // *FieldError, *ValueError
//	func (v *View) Check(sel []Selection) error            // what Select would refuse, computing nothing
//	func (s *State) FieldValues(field string, q FieldQuery) (*FieldValues, error)
//	func (s *State) Hypercube(h Hypercube) (*Result, error)
//
//	func CompareValues(a, b Value) int                    // the order above
//	func SortRows(rows [][]Value, dims int, keys []SortKey) // the row order above
//
// Model, View and State are immutable and safe for concurrent use.

// ErrCorruptSnapshot is returned for a snapshot that does not decode.
var ErrCorruptSnapshot = errors.New("the snapshot is corrupt")
