package source

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/encoding/prototext"
	"google.golang.org/protobuf/proto"

	datagatewayv1 "github.com/oriel-dev/oriel/gen/pb/oriel/datagateway/v1"
	"github.com/oriel-dev/oriel/platform/apierr"
)

// result is a query's stream, checked for shape and decoded into rows.
type result struct {
	cols    []*datagatewayv1.Column
	batches []int // rows per batch
	rows    [][]any
	stats   *datagatewayv1.QueryStats
}

// colTypes lists the result's column types.
func (r *result) colTypes() []datagatewayv1.Column_Type { return columnTypes(r.cols) }

// column returns column i's values.
func (r *result) column(i int) []any {
	out := make([]any, len(r.rows))
	for j, row := range r.rows {
		out[j] = row[i]
	}
	return out
}

// run runs a query and checks the stream's shape: one header first, batches of at most
// lim.BatchRows rows whose columns each hold one value per row in the list their type
// names (nulls empty or one per row), then the stats, last.
func run(t *testing.T, ctx context.Context, src *datagatewayv1.Source, statement string, lim Limits, opts Options) (*result, error) {
	t.Helper()
	return runWith(t, ctx, src, statement, nil, lim, opts)
}

// runWith is run with parameters.
func runWith(t *testing.T, ctx context.Context, src *datagatewayv1.Source, statement string, params []*datagatewayv1.QueryParameter, lim Limits, opts Options) (*result, error) {
	t.Helper()
	r := &result{}
	var shapeErr error
	fail := func(format string, args ...any) {
		if shapeErr == nil {
			shapeErr = fmt.Errorf(format, args...)
		}
	}
	sawHeader := false
	err := Query(ctx, src, statement, params, lim, opts, func(m *datagatewayv1.QueryResponse) error {
		if r.stats != nil {
			fail("message after the stats: %v", m)
		}
		switch v := m.GetResult().(type) {
		case *datagatewayv1.QueryResponse_Header:
			if sawHeader {
				fail("a second header")
			}
			sawHeader = true
			r.cols = v.Header.GetColumns()
		case *datagatewayv1.QueryResponse_Batch:
			if !sawHeader {
				fail("a batch before the header")
			}
			n := int(v.Batch.GetRowCount())
			if n == 0 || n > lim.BatchRows {
				fail("batch of %d rows, batch size %d", n, lim.BatchRows)
			}
			if len(v.Batch.GetColumns()) != len(r.cols) {
				fail("batch has %d columns, header %d", len(v.Batch.GetColumns()), len(r.cols))
				return nil
			}
			r.batches = append(r.batches, n)
			rows := make([][]any, n)
			for j := range rows {
				rows[j] = make([]any, len(r.cols))
			}
			for i, cv := range v.Batch.GetColumns() {
				if len(cv.GetNulls()) != 0 && len(cv.GetNulls()) != n {
					fail("column %d: %d nulls for %d rows", i, len(cv.GetNulls()), n)
				}
				if len(cv.GetNulls()) > 0 && !containsTrue(cv.GetNulls()) {
					fail("column %d: nulls set without a null", i)
				}
				var vals []any
				lists := 0
				add := func(l int) {
					if l > 0 {
						lists++
					}
				}
				add(len(cv.GetBoolValues()))
				add(len(cv.GetInt64Values()))
				add(len(cv.GetFloat64Values()))
				add(len(cv.GetStringValues()))
				add(len(cv.GetBytesValues()))
				if lists > 1 {
					fail("column %d: values in %d lists", i, lists)
				}
				switch r.cols[i].GetType() {
				case datagatewayv1.Column_TYPE_BOOL:
					for _, x := range cv.GetBoolValues() {
						vals = append(vals, x)
					}
				case datagatewayv1.Column_TYPE_INT64, datagatewayv1.Column_TYPE_TIMESTAMP, datagatewayv1.Column_TYPE_DATE:
					for _, x := range cv.GetInt64Values() {
						vals = append(vals, x)
					}
				case datagatewayv1.Column_TYPE_FLOAT64:
					for _, x := range cv.GetFloat64Values() {
						vals = append(vals, x)
					}
				case datagatewayv1.Column_TYPE_BYTES:
					for _, x := range cv.GetBytesValues() {
						vals = append(vals, x)
					}
				default:
					for _, x := range cv.GetStringValues() {
						vals = append(vals, x)
					}
				}
				if len(vals) != n {
					fail("column %d (%v): %d values for %d rows", i, r.cols[i].GetType(), len(vals), n)
					continue
				}
				for j := range n {
					if len(cv.GetNulls()) > 0 && cv.GetNulls()[j] {
						if !isZero(vals[j]) {
							fail("column %d row %d: null with a non-zero value %v", i, j, vals[j])
						}
						rows[j][i] = nil
					} else {
						rows[j][i] = vals[j]
					}
				}
			}
			r.rows = append(r.rows, rows...)
		case *datagatewayv1.QueryResponse_Stats:
			if !sawHeader {
				fail("stats before the header")
			}
			r.stats = v.Stats
		default:
			fail("empty message")
		}
		return nil
	})
	if shapeErr != nil {
		t.Fatalf("malformed stream: %v", shapeErr)
	}
	if err == nil {
		if r.stats == nil {
			t.Fatalf("query succeeded without stats")
		}
		if r.stats.GetRows() != int64(len(r.rows)) {
			t.Fatalf("stats say %d rows, batches held %d", r.stats.GetRows(), len(r.rows))
		}
	}
	return r, err
}

func containsTrue(bs []bool) bool {
	for _, b := range bs {
		if b {
			return true
		}
	}
	return false
}

func isZero(v any) bool {
	switch x := v.(type) {
	case bool:
		return !x
	case int64:
		return x == 0
	case float64:
		return x == 0
	case string:
		return x == ""
	case []byte:
		return len(x) == 0
	}
	return false
}

// mustRun runs a query that must succeed.
func mustRun(t *testing.T, src *datagatewayv1.Source, statement string, lim Limits, opts Options) *result {
	t.Helper()
	r, err := run(t, context.Background(), src, statement, lim, opts)
	if err != nil {
		t.Fatalf("Query(%q): %v", statement, err)
	}
	return r
}

// limits are generous limits with the given batch size.
func limits(batchRows int) Limits {
	return Limits{RowLimit: 1_000_000, Timeout: time.Minute, BatchRows: batchRows}
}

// sourceError asserts err is an *Error with reason and the matching status code, and
// that neither its message nor its status (as a client would receive it) contains any
// of secrets.
func sourceError(t *testing.T, err error, reason Reason, code codes.Code, secrets ...string) *Error {
	t.Helper()
	var e *Error
	if !errors.As(err, &e) {
		t.Fatalf("error = %v (%T), want *Error", err, err)
	}
	if e.Reason != reason {
		t.Fatalf("reason = %v, want %v (message %q)", e.Reason, reason, e.Message)
	}
	st, ok := status.FromError(err)
	if !ok || st.Code() != code {
		t.Fatalf("status code = %v, want %v (message %q)", st.Code(), code, e.Message)
	}
	wire := prototext.Format(st.Proto())
	for _, s := range secrets {
		if s != "" && (strings.Contains(e.Message, s) || strings.Contains(wire, s) || strings.Contains(err.Error(), s)) {
			t.Fatalf("error leaks a secret: %s", wire)
		}
	}
	if st.Message() != e.Message {
		t.Fatalf("status message %q, want %q", st.Message(), e.Message)
	}
	if got, want := apierr.Reason(err), wantReason(reason); got != want {
		t.Fatalf("ErrorInfo reason = %q, want %q", got, want)
	}
	return e
}

func wantReason(r Reason) string {
	switch r {
	case ReasonReadOnly:
		return "READ_ONLY"
	case ReasonTimeout:
		return "DEADLINE_EXCEEDED"
	case ReasonInvalidRequest:
		return "INVALID_REQUEST"
	}
	return "SOURCE_ERROR"
}

// hostPort splits a URL's host and port.
func hostPort(t testing.TB, u *url.URL) (string, int32) {
	t.Helper()
	port, err := strconv.Atoi(u.Port())
	if err != nil {
		t.Fatalf("port of %s: %v", u.Redacted(), err)
	}
	return u.Hostname(), int32(port)
}

func itoa(n int) string { return strconv.Itoa(n) }

// cloneSource copies a source so a subtest can change it.
func cloneSource(src *datagatewayv1.Source) *datagatewayv1.Source {
	return proto.Clone(src).(*datagatewayv1.Source)
}

// closedPort returns a local port nothing listens on.
func closedPort(t *testing.T) int32 {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	_, port := hostPortOf(t, ln.Addr().String())
	_ = ln.Close()
	return port
}

// hostPortOf splits "host:port".
func hostPortOf(t testing.TB, addr string) (string, int32) {
	t.Helper()
	host, p, err := net.SplitHostPort(addr)
	if err != nil {
		t.Fatal(err)
	}
	port, err := strconv.Atoi(p)
	if err != nil {
		t.Fatal(err)
	}
	return host, int32(port)
}

// errorMetadata returns the ErrorInfo metadata of a status error.
func errorMetadata(t *testing.T, err error) map[string]string {
	t.Helper()
	st, _ := status.FromError(err)
	for _, d := range st.Details() {
		if info, ok := d.(*errdetails.ErrorInfo); ok {
			return info.GetMetadata()
		}
	}
	t.Fatalf("no ErrorInfo in %v", st)
	return nil
}
