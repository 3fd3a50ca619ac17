// Package datasource reads rows from the datagateway's Query stream as engine values.
//
// Reloads and live queries both go through the conversion here, so a value loaded into
// the in-memory model and the same value read by a live chart have the same text and
// number: a chart must not change its numbers when it is switched to live.
package datasource

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"math"
	"regexp"
	"strconv"
	"strings"
	"time"

	datagatewayv1 "github.com/oriel-dev/oriel/gen/pb/oriel/datagateway/v1"
	"github.com/oriel-dev/oriel/services/content/internal/engine"
)

// ErrProtocol marks a Query stream that breaks the datagateway's contract (a batch
// before the header, columns or lists of the wrong length, no stats at the end).
var ErrProtocol = errors.New("datasource: malformed query stream")

// Query runs req, calls header once with the column names when they arrive (before any
// row, also when there is none), then row once per row, in order, with one value per
// column.
//
// To stream millions of rows without an allocation per row, row receives the same slice
// every time, overwritten for the next row: it must copy what it keeps (copying the
// Values is enough, their texts are never overwritten).
//
// Errors of the stream (gRPC statuses) are returned as they come, for the caller to
// map; an error from a callback stops the stream and is returned as is. It returns the
// stats that end the stream.
func Query(ctx context.Context, client datagatewayv1.ConnectionServiceClient, req *datagatewayv1.QueryRequest,
	header func(columns []string) error, row func(values []engine.Value) error) (*datagatewayv1.QueryStats, error) {
	// Cancelling the call cancels the statement at the source, so an early return from
	// fn must not leave the source working for nobody.
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()

	stream, err := client.Query(ctx, req)
	if err != nil {
		return nil, err
	}
	var (
		columns []*datagatewayv1.Column
		names   []string
		values  []engine.Value
	)
	for {
		msg, err := stream.Recv()
		if err == io.EOF {
			// A stream that ends without stats may have lost rows: never take it as a
			// complete result.
			return nil, fmt.Errorf("%w: the stream ended without stats", ErrProtocol)
		}
		if err != nil {
			return nil, err
		}
		switch r := msg.GetResult().(type) {
		case *datagatewayv1.QueryResponse_Header:
			if columns != nil {
				return nil, fmt.Errorf("%w: a second header", ErrProtocol)
			}
			columns = r.Header.GetColumns()
			if columns == nil {
				columns = []*datagatewayv1.Column{}
			}
			names = make([]string, len(columns))
			for i, c := range columns {
				names[i] = c.GetName()
			}
			values = make([]engine.Value, len(columns))
			if err := header(names); err != nil {
				return nil, err
			}
		case *datagatewayv1.QueryResponse_Batch:
			if columns == nil {
				return nil, fmt.Errorf("%w: a batch before the header", ErrProtocol)
			}
			if err := readBatch(columns, r.Batch, names, values, row); err != nil {
				return nil, err
			}
		case *datagatewayv1.QueryResponse_Stats:
			if columns == nil {
				return nil, fmt.Errorf("%w: stats before the header", ErrProtocol)
			}
			return r.Stats, nil
		default:
			return nil, fmt.Errorf("%w: an empty message", ErrProtocol)
		}
	}
}

// readBatch checks a batch against the header, then calls fn for each of its rows,
// read into row.
func readBatch(columns []*datagatewayv1.Column, b *datagatewayv1.RowBatch, names []string, row []engine.Value,
	fn func(values []engine.Value) error) error {
	n := int(b.GetRowCount())
	if n < 0 {
		return fmt.Errorf("%w: a negative row count", ErrProtocol)
	}
	if len(b.GetColumns()) != len(columns) {
		return fmt.Errorf("%w: a batch of %d columns for a header of %d", ErrProtocol, len(b.GetColumns()), len(columns))
	}
	// Checking every list once per batch lets the row loop index without bounds errors.
	for i, c := range b.GetColumns() {
		if len(c.GetNulls()) != 0 && len(c.GetNulls()) != n {
			return fmt.Errorf("%w: column %q has %d nulls for %d rows", ErrProtocol, names[i], len(c.GetNulls()), n)
		}
		if got := valueCount(columns[i].GetType(), c); got != n {
			return fmt.Errorf("%w: column %q has %d values for %d rows", ErrProtocol, names[i], got, n)
		}
	}
	for r := range n {
		for i, c := range b.GetColumns() {
			if nulls := c.GetNulls(); len(nulls) != 0 && nulls[r] {
				row[i] = engine.NullValue
				continue
			}
			row[i] = convert(columns[i].GetType(), c, r)
		}
		if err := fn(row); err != nil {
			return err
		}
	}
	return nil
}

// valueCount is the length of the list a column of type t travels in; -1 for a type
// this package does not know, so that it never matches a row count.
func valueCount(t datagatewayv1.Column_Type, c *datagatewayv1.ColumnValues) int {
	switch t {
	case datagatewayv1.Column_TYPE_BOOL:
		return len(c.GetBoolValues())
	case datagatewayv1.Column_TYPE_INT64, datagatewayv1.Column_TYPE_TIMESTAMP, datagatewayv1.Column_TYPE_DATE:
		return len(c.GetInt64Values())
	case datagatewayv1.Column_TYPE_FLOAT64:
		return len(c.GetFloat64Values())
	case datagatewayv1.Column_TYPE_STRING, datagatewayv1.Column_TYPE_DECIMAL, datagatewayv1.Column_TYPE_JSON:
		return len(c.GetStringValues())
	case datagatewayv1.Column_TYPE_BYTES:
		return len(c.GetBytesValues())
	}
	return -1
}

// convert reads row r of a column whose lists valueCount has checked.
func convert(t datagatewayv1.Column_Type, c *datagatewayv1.ColumnValues, r int) engine.Value {
	switch t {
	case datagatewayv1.Column_TYPE_BOOL:
		return BoolValue(c.GetBoolValues()[r])
	case datagatewayv1.Column_TYPE_INT64:
		return Int64Value(c.GetInt64Values()[r])
	case datagatewayv1.Column_TYPE_TIMESTAMP:
		return TimestampValue(c.GetInt64Values()[r])
	case datagatewayv1.Column_TYPE_DATE:
		return DateValue(c.GetInt64Values()[r])
	case datagatewayv1.Column_TYPE_FLOAT64:
		return Float64Value(c.GetFloat64Values()[r])
	case datagatewayv1.Column_TYPE_DECIMAL:
		return TextOrNumber(c.GetStringValues()[r])
	case datagatewayv1.Column_TYPE_BYTES:
		return BytesValue(c.GetBytesValues()[r])
	default: // STRING and JSON
		return engine.TextValue(c.GetStringValues()[r])
	}
}

// Int64Value is an integer with its decimal text.
func Int64Value(v int64) engine.Value {
	return engine.NumberValue(float64(v), strconv.FormatInt(v, 10))
}

// Float64Value is a float with its shortest exact text.
func Float64Value(v float64) engine.Value {
	return engine.NumberValue(v, engine.FormatNumber(v))
}

// TextOrNumber is a text that is also a number when it reads as a finite one: an exact
// decimal as the source sends it, or an inline cell of a script. The text stays as
// written, so that `1.50` stays `1.50`. NaN and infinities stay texts: they have no place
// in the numbers' order.
func TextOrNumber(s string) engine.Value {
	f, err := strconv.ParseFloat(s, 64)
	if err != nil || math.IsInf(f, 0) || math.IsNaN(f) || isHex(s) {
		return engine.TextValue(s)
	}
	return engine.NumberValue(f, s)
}

// isHex says a text is a hexadecimal float, which strconv reads but no source writes.
func isHex(s string) bool {
	s = strings.TrimLeft(s, "+-")
	return len(s) > 1 && s[0] == '0' && (s[1] == 'x' || s[1] == 'X')
}

// BoolValue is `true` or `false`, a text: booleans are categories, not numbers to sum.
func BoolValue(v bool) engine.Value {
	if v {
		return engine.TextValue("true")
	}
	return engine.TextValue("false")
}

// DateValue is a date, days since the Unix epoch, as `2006-01-02`.
func DateValue(days int64) engine.Value {
	return engine.TextValue(time.Unix(days*86400, 0).UTC().Format(time.DateOnly))
}

// TimestampValue is a UTC time, microseconds since the Unix epoch, as
// `2006-01-02 15:04:05` with fractional seconds only when they are not zero (as
// PostgreSQL prints a timestamp, so that a live filter on its text matches).
func TimestampValue(micros int64) engine.Value {
	return engine.TextValue(time.UnixMicro(micros).UTC().Format("2006-01-02 15:04:05.999999"))
}

// BytesValue is bytes as lowercase hex.
func BytesValue(b []byte) engine.Value { return engine.TextValue(hex.EncodeToString(b)) }

// connectionID is the id pattern of the datagateway's connection (and tenant) names.
var connectionID = regexp.MustCompile(`^[a-z][a-z0-9-]{1,61}[a-z0-9]$`)

// ConnectionName turns the argument of a script's `CONNECT TO 'x'` (`x`, or
// `tenants/{t}/connections/x`) into the full connection name for tenant (its id or
// `tenants/{t}`). A name of another tenant is refused: a script only reaches its own
// tenant's data, whatever it names.
func ConnectionName(tenant, connection string) (string, error) {
	tenant = strings.TrimPrefix(tenant, "tenants/")
	if !connectionID.MatchString(tenant) {
		return "", fmt.Errorf("%q is not a tenant", tenant)
	}
	id := connection
	if strings.Contains(connection, "/") {
		parts := strings.Split(connection, "/")
		if len(parts) != 4 || parts[0] != "tenants" || parts[2] != "connections" {
			return "", fmt.Errorf("%q is not a connection: use `name` or `tenants/{tenant}/connections/{name}`", connection)
		}
		if parts[1] != tenant {
			return "", fmt.Errorf("connection %q belongs to another tenant", connection)
		}
		id = parts[3]
	}
	if !connectionID.MatchString(id) {
		return "", fmt.Errorf("%q is not a connection name: 3 to 63 lowercase letters, digits and hyphens", connection)
	}
	return "tenants/" + tenant + "/connections/" + id, nil
}
