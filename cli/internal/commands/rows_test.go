package commands

import (
	"bytes"
	"math"
	"testing"

	datagatewayv1 "github.com/oriel-dev/oriel/gen/pb/oriel/datagateway/v1"
)

// Every column type prints as text (tables, CSV) and as JSON the way a reader expects,
// with nulls as NULL, an empty field, and null.
func TestQueryRowsPrintEveryColumnType(t *testing.T) {
	t.Parallel()
	cols := []*datagatewayv1.Column{
		{Name: "b", Type: datagatewayv1.Column_TYPE_BOOL},
		{Name: "i", Type: datagatewayv1.Column_TYPE_INT64},
		{Name: "f", Type: datagatewayv1.Column_TYPE_FLOAT64},
		{Name: "s", Type: datagatewayv1.Column_TYPE_STRING},
		{Name: "x", Type: datagatewayv1.Column_TYPE_BYTES},
		{Name: "ts", Type: datagatewayv1.Column_TYPE_TIMESTAMP},
		{Name: "d", Type: datagatewayv1.Column_TYPE_DATE},
		{Name: "dec", Type: datagatewayv1.Column_TYPE_DECIMAL},
		{Name: "j", Type: datagatewayv1.Column_TYPE_JSON},
	}
	// Two rows: values, then nulls (a zero in each list where the row is null).
	nulls := []bool{false, true}
	batch := &datagatewayv1.RowBatch{RowCount: 2, Columns: []*datagatewayv1.ColumnValues{
		{Nulls: nulls, BoolValues: []bool{true, false}},
		{Nulls: nulls, Int64Values: []int64{-9007199254740993, 0}},
		{Nulls: nulls, Float64Values: []float64{math.NaN(), 0}},
		{Nulls: nulls, StringValues: []string{"tab\there", ""}},
		{Nulls: nulls, BytesValues: [][]byte{{0xde, 0xad}, nil}},
		{Nulls: nulls, Int64Values: []int64{1_767_225_600_000_001, 0}}, // 2026-01-01T00:00:00.000001Z
		{Nulls: nulls, Int64Values: []int64{20_454, 0}},                // 2026-01-01
		{Nulls: nulls, StringValues: []string{"12345678901234567890.01", ""}},
		{Nulls: nulls, StringValues: []string{`{"a": [1, 2]}`, ""}},
	}}
	for _, tc := range []struct{ format, want string }{
		{"table", "B     I                  F     S         X       TS                           D           DEC                      J\n" +
			"true  -9007199254740993  NaN   tab here  \\xdead  2026-01-01T00:00:00.000001Z  2026-01-01  12345678901234567890.01  {\"a\": [1, 2]}\n" +
			"NULL  NULL               NULL  NULL      NULL    NULL                         NULL        NULL                     NULL\n"},
		{"csv", "b,i,f,s,x,ts,d,dec,j\n" +
			"true,-9007199254740993,NaN,tab\there,\\xdead,2026-01-01T00:00:00.000001Z,2026-01-01,12345678901234567890.01,\"{\"\"a\"\": [1, 2]}\"\n" +
			",,,,,,,,\n"},
		{"jsonl", `{"b":true,"i":-9007199254740993,"f":"NaN","s":"tab\there","x":"3q0=","ts":"2026-01-01T00:00:00.000001Z","d":"2026-01-01","dec":"12345678901234567890.01","j":{"a":[1,2]}}` + "\n" +
			`{"b":null,"i":null,"f":null,"s":null,"x":null,"ts":null,"d":null,"dec":null,"j":null}` + "\n"},
	} {
		t.Run(tc.format, func(t *testing.T) {
			var out bytes.Buffer
			w := newRowWriter(&out, tc.format)
			if err := w.header(cols); err != nil {
				t.Fatal(err)
			}
			if err := w.batch(batch); err != nil {
				t.Fatal(err)
			}
			if err := w.flush(); err != nil {
				t.Fatal(err)
			}
			if out.String() != tc.want {
				t.Fatalf("%s:\n%s\nwant:\n%s", tc.format, out.String(), tc.want)
			}
		})
	}
}

func TestQueryRowsRefuseABatchThatDoesNotMatchTheHeader(t *testing.T) {
	t.Parallel()
	w := newRowWriter(&bytes.Buffer{}, "csv")
	if err := w.header([]*datagatewayv1.Column{{Name: "a"}, {Name: "b"}}); err != nil {
		t.Fatal(err)
	}
	if err := w.batch(&datagatewayv1.RowBatch{RowCount: 1, Columns: []*datagatewayv1.ColumnValues{{}}}); err == nil {
		t.Fatal("a batch of one column for a header of two was printed")
	}
}
