package source

import (
	"time"

	"google.golang.org/protobuf/types/known/durationpb"

	datagatewayv1 "github.com/oriel-dev/oriel/gen/pb/oriel/datagateway/v1"
)

// Type mapping, for every kind of source (the Column.Type a column travels as):
//
//	source type                                        Column.Type  value
//	-------------------------------------------------  -----------  ---------------------------------
//	pg int2/int4/int8/oid;                             INT64        (MySQL has no boolean type:
//	  mysql tinyint…bigint, year, bit                               its bool is tinyint(1))
//	mysql bigint unsigned                              DECIMAL      exact text (may exceed int64)
//	pg float4/float8; mysql float/double               FLOAT64
//	pg numeric; mysql decimal                          DECIMAL      exact text, e.g. "12.50"
//	pg text/varchar/bpchar/name/uuid/enum;             STRING
//	  mysql char/varchar/text/enum/set
//	pg bool                                            BOOL
//	pg bytea; mysql binary/varbinary/blob/geometry     BYTES
//	pg timestamp/timestamptz; mysql datetime/timestamp TIMESTAMP    µs since the epoch, UTC (pg
//	                                                                ±infinity: max/min int64; mysql
//	                                                                datetime read as UTC)
//	pg date; mysql date                                DATE         days since the epoch
//	pg json/jsonb; mysql json                          JSON         JSON text
//	anything else (intervals, arrays, time, inet, …)   STRING       the source's text form
//	http JSON: see inferJSONType; http CSV             STRING
//
// MySQL zero dates ('0000-00-00') are null. MariaDB reports JSON columns as text, so
// they travel as STRING.

// batch accumulates rows column by column until it is sent. Strings and bytes of a batch
// are appended to one arena per column and cut into values when the batch is sent, so a
// batch costs a handful of allocations however many values it holds.
type batch struct {
	types []datagatewayv1.Column_Type
	cols  []*datagatewayv1.ColumnValues
	// arenas hold the bytes of STRING, DECIMAL, JSON and BYTES columns; ends the end
	// offset of each value in its arena.
	arenas [][]byte
	ends   [][]int
	rows   int
	size   int
	// bytes counts the arena bytes of this batch, so that wide rows end a batch early
	// and a message stays well under gRPC's default 4 MiB limit.
	bytes int
}

// maxBatchBytes ends a batch before its variable-length values pass this size.
const maxBatchBytes = 1 << 20

func newBatch(types []datagatewayv1.Column_Type, size int) *batch {
	b := &batch{
		types:  types,
		size:   size,
		arenas: make([][]byte, len(types)),
		ends:   make([][]int, len(types)),
	}
	b.reset()
	return b
}

// reset starts a new batch. The previous one's slices belong to its message now.
func (b *batch) reset() {
	b.rows = 0
	b.bytes = 0
	b.cols = make([]*datagatewayv1.ColumnValues, len(b.types))
	for i, t := range b.types {
		c := &datagatewayv1.ColumnValues{}
		switch t {
		case datagatewayv1.Column_TYPE_BOOL:
			c.BoolValues = make([]bool, 0, b.size)
		case datagatewayv1.Column_TYPE_INT64, datagatewayv1.Column_TYPE_TIMESTAMP, datagatewayv1.Column_TYPE_DATE:
			c.Int64Values = make([]int64, 0, b.size)
		case datagatewayv1.Column_TYPE_FLOAT64:
			c.Float64Values = make([]float64, 0, b.size)
		default:
			// A string arena is reused (its values were copied out); a bytes arena was
			// replaced in message.
			if b.arenas[i] == nil {
				b.arenas[i] = make([]byte, 0, min(16*b.size, maxBatchBytes))
			}
			b.ends[i] = make([]int, 0, b.size)
		}
		b.cols[i] = c
	}
}

func (b *batch) full() bool { return b.rows >= b.size || b.bytes >= maxBatchBytes }

// endRow counts a row whose every column has been appended.
func (b *batch) endRow() { b.rows++ }

// notNull records, for a column that has had a null in this batch, that this row's
// value is not null.
func (b *batch) notNull(c *datagatewayv1.ColumnValues) {
	if c.Nulls != nil {
		c.Nulls = append(c.Nulls, false)
	}
}

func (b *batch) appendBool(i int, v bool) {
	c := b.cols[i]
	c.BoolValues = append(c.BoolValues, v)
	b.notNull(c)
}

func (b *batch) appendInt64(i int, v int64) {
	c := b.cols[i]
	c.Int64Values = append(c.Int64Values, v)
	b.notNull(c)
}

func (b *batch) appendFloat64(i int, v float64) {
	c := b.cols[i]
	c.Float64Values = append(c.Float64Values, v)
	b.notNull(c)
}

// appendBytes appends a STRING, DECIMAL, JSON or BYTES value; v is copied.
func (b *batch) appendBytes(i int, v []byte) {
	b.arenas[i] = append(b.arenas[i], v...)
	b.ends[i] = append(b.ends[i], len(b.arenas[i]))
	b.bytes += len(v)
	b.notNull(b.cols[i])
}

// appendString is appendBytes for a string.
func (b *batch) appendString(i int, v string) {
	b.arenas[i] = append(b.arenas[i], v...)
	b.ends[i] = append(b.ends[i], len(b.arenas[i]))
	b.bytes += len(v)
	b.notNull(b.cols[i])
}

// appendNull appends a null: true in nulls (started when the first null arrives) and a
// zero in the column's value list.
func (b *batch) appendNull(i int) {
	c := b.cols[i]
	if c.Nulls == nil {
		c.Nulls = make([]bool, b.rows, b.size)
	}
	c.Nulls = append(c.Nulls, true)
	switch b.types[i] {
	case datagatewayv1.Column_TYPE_BOOL:
		c.BoolValues = append(c.BoolValues, false)
	case datagatewayv1.Column_TYPE_INT64, datagatewayv1.Column_TYPE_TIMESTAMP, datagatewayv1.Column_TYPE_DATE:
		c.Int64Values = append(c.Int64Values, 0)
	case datagatewayv1.Column_TYPE_FLOAT64:
		c.Float64Values = append(c.Float64Values, 0)
	default:
		b.ends[i] = append(b.ends[i], len(b.arenas[i]))
	}
}

// message turns the batch into a QueryResponse and starts a new one.
func (b *batch) message() *datagatewayv1.QueryResponse {
	for i, t := range b.types {
		switch t {
		case datagatewayv1.Column_TYPE_BOOL, datagatewayv1.Column_TYPE_INT64, datagatewayv1.Column_TYPE_TIMESTAMP,
			datagatewayv1.Column_TYPE_DATE, datagatewayv1.Column_TYPE_FLOAT64:
			continue
		case datagatewayv1.Column_TYPE_BYTES:
			arena := b.arenas[i]
			vals := make([][]byte, len(b.ends[i]))
			start := 0
			for j, end := range b.ends[i] {
				// The full slice expression keeps a value from growing into its neighbour.
				vals[j] = arena[start:end:end]
				start = end
			}
			b.cols[i].BytesValues = vals
			// The values alias this arena: the next batch needs its own.
			b.arenas[i] = make([]byte, 0, cap(arena))
		default:
			all := string(b.arenas[i])
			vals := make([]string, len(b.ends[i]))
			start := 0
			for j, end := range b.ends[i] {
				vals[j] = all[start:end]
				start = end
			}
			b.cols[i].StringValues = vals
			b.arenas[i] = b.arenas[i][:0]
		}
	}
	m := &datagatewayv1.QueryResponse{Result: &datagatewayv1.QueryResponse_Batch{Batch: &datagatewayv1.RowBatch{
		RowCount: int32(b.rows),
		Columns:  b.cols,
	}}}
	b.reset()
	return m
}

// headerMessage is the first message of a result.
func headerMessage(cols []*datagatewayv1.Column) *datagatewayv1.QueryResponse {
	return &datagatewayv1.QueryResponse{Result: &datagatewayv1.QueryResponse_Header{
		Header: &datagatewayv1.ResultHeader{Columns: cols},
	}}
}

// statsMessage is the last message of a result.
func statsMessage(rows int64, truncated bool, d time.Duration) *datagatewayv1.QueryResponse {
	return &datagatewayv1.QueryResponse{Result: &datagatewayv1.QueryResponse_Stats{Stats: &datagatewayv1.QueryStats{
		Rows:      rows,
		Truncated: truncated,
		Duration:  durationpb.New(d),
	}}}
}

// columnTypes lists the types of a header's columns.
func columnTypes(cols []*datagatewayv1.Column) []datagatewayv1.Column_Type {
	types := make([]datagatewayv1.Column_Type, len(cols))
	for i, c := range cols {
		types[i] = c.GetType()
	}
	return types
}
