package datasource

import (
	"context"
	"errors"
	"net"
	"strings"
	"testing"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"
	"google.golang.org/grpc/test/bufconn"

	datagatewayv1 "github.com/oriel-dev/oriel/gen/pb/oriel/datagateway/v1"
	"github.com/oriel-dev/oriel/services/content/internal/engine"
)

// scriptedGateway answers every Query with the same messages, then err.
type scriptedGateway struct {
	datagatewayv1.UnimplementedConnectionServiceServer
	messages []*datagatewayv1.QueryResponse
	err      error
	got      chan *datagatewayv1.QueryRequest
}

func (g *scriptedGateway) Query(req *datagatewayv1.QueryRequest, stream grpc.ServerStreamingServer[datagatewayv1.QueryResponse]) error {
	if g.got != nil {
		g.got <- req
	}
	for _, m := range g.messages {
		if err := stream.Send(m); err != nil {
			return err
		}
	}
	return g.err
}

// dial serves g over an in-process connection: the real gRPC stack, without a port.
func dial(t *testing.T, g *scriptedGateway) datagatewayv1.ConnectionServiceClient {
	t.Helper()
	lis := bufconn.Listen(1 << 20)
	srv := grpc.NewServer()
	datagatewayv1.RegisterConnectionServiceServer(srv, g)
	go func() { _ = srv.Serve(lis) }()
	conn, err := grpc.NewClient("passthrough:///bufconn",
		grpc.WithContextDialer(func(ctx context.Context, _ string) (net.Conn, error) { return lis.DialContext(ctx) }),
		grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatalf("dial: %v", err)
	}
	t.Cleanup(func() {
		_ = conn.Close()
		srv.Stop()
	})
	return datagatewayv1.NewConnectionServiceClient(conn)
}

func header(cols ...*datagatewayv1.Column) *datagatewayv1.QueryResponse {
	return &datagatewayv1.QueryResponse{Result: &datagatewayv1.QueryResponse_Header{
		Header: &datagatewayv1.ResultHeader{Columns: cols}}}
}

func column(name string, t datagatewayv1.Column_Type) *datagatewayv1.Column {
	return &datagatewayv1.Column{Name: name, Type: t}
}

func batch(n int32, cols ...*datagatewayv1.ColumnValues) *datagatewayv1.QueryResponse {
	return &datagatewayv1.QueryResponse{Result: &datagatewayv1.QueryResponse_Batch{
		Batch: &datagatewayv1.RowBatch{RowCount: n, Columns: cols}}}
}

func stats(rows int64) *datagatewayv1.QueryResponse {
	return &datagatewayv1.QueryResponse{Result: &datagatewayv1.QueryResponse_Stats{
		Stats: &datagatewayv1.QueryStats{Rows: rows}}}
}

// collect runs Query and copies every row it is given.
func collect(t *testing.T, client datagatewayv1.ConnectionServiceClient) ([]string, [][]engine.Value, *datagatewayv1.QueryStats, error) {
	t.Helper()
	var (
		names []string
		rows  [][]engine.Value
	)
	headers := 0
	st, err := Query(context.Background(), client, &datagatewayv1.QueryRequest{Name: "tenants/acme/connections/dwh", Statement: "SELECT 1"},
		func(h []string) error {
			if headers++; headers > 1 || rows != nil {
				t.Errorf("the header came %d times, after %d rows", headers, len(rows))
			}
			names = h
			return nil
		},
		func(row []engine.Value) error {
			if headers != 1 {
				t.Errorf("a row before the header")
			}
			rows = append(rows, append([]engine.Value(nil), row...))
			return nil
		})
	return names, rows, st, err
}

func noHeader([]string) error { return nil }

func TestQueryGivesTheHeaderOfAnEmptyResult(t *testing.T) {
	client := dial(t, &scriptedGateway{messages: []*datagatewayv1.QueryResponse{
		header(column("a", datagatewayv1.Column_TYPE_INT64), column("b", datagatewayv1.Column_TYPE_STRING)),
		stats(0),
	}})
	names, rows, _, err := collect(t, client)
	if err != nil || strings.Join(names, ",") != "a,b" || len(rows) != 0 {
		t.Errorf("header %v, %d rows, err %v; want a,b and no row", names, len(rows), err)
	}
}

func TestQueryStopsAtTheHeadersError(t *testing.T) {
	client := dial(t, &scriptedGateway{messages: []*datagatewayv1.QueryResponse{
		header(column("a", datagatewayv1.Column_TYPE_INT64)),
		batch(1, &datagatewayv1.ColumnValues{Int64Values: []int64{1}}),
		stats(1),
	}})
	stop := errors.New("no such table")
	_, err := Query(context.Background(), client, &datagatewayv1.QueryRequest{}, func([]string) error { return stop },
		func([]engine.Value) error { t.Error("a row after the header's error"); return nil })
	if !errors.Is(err, stop) {
		t.Errorf("err = %v, want the header's error", err)
	}
}

func TestTextOrNumberReadsOnlyFiniteDecimalNumbers(t *testing.T) {
	tests := []struct {
		in   string
		want engine.Value
	}{
		{"1.50", engine.NumberValue(1.5, "1.50")},
		{"-3", engine.NumberValue(-3, "-3")},
		{"1e3", engine.NumberValue(1000, "1e3")},
		{"", engine.TextValue("")},
		{"abc", engine.TextValue("abc")},
		{" 1", engine.TextValue(" 1")},
		{"NaN", engine.TextValue("NaN")},
		{"Infinity", engine.TextValue("Infinity")},
		{"-inf", engine.TextValue("-inf")},
		{"1e999", engine.TextValue("1e999")},
		{"0x1p3", engine.TextValue("0x1p3")},
		{"-0X1P3", engine.TextValue("-0X1P3")},
	}
	for _, tt := range tests {
		if got := TextOrNumber(tt.in); got != tt.want {
			t.Errorf("TextOrNumber(%q) = %+v, want %+v", tt.in, got, tt.want)
		}
	}
}

func TestQueryConvertsEveryColumnTypeAndNull(t *testing.T) {
	const day = 86400
	client := dial(t, &scriptedGateway{messages: []*datagatewayv1.QueryResponse{
		header(
			column("i", datagatewayv1.Column_TYPE_INT64),
			column("f", datagatewayv1.Column_TYPE_FLOAT64),
			column("d", datagatewayv1.Column_TYPE_DECIMAL),
			column("s", datagatewayv1.Column_TYPE_STRING),
			column("j", datagatewayv1.Column_TYPE_JSON),
			column("b", datagatewayv1.Column_TYPE_BOOL),
			column("dt", datagatewayv1.Column_TYPE_DATE),
			column("ts", datagatewayv1.Column_TYPE_TIMESTAMP),
			column("by", datagatewayv1.Column_TYPE_BYTES),
		),
		batch(3,
			&datagatewayv1.ColumnValues{Int64Values: []int64{-42, 0, 9007199254740993}, Nulls: []bool{false, true, false}},
			&datagatewayv1.ColumnValues{Float64Values: []float64{0.1, 123456789, 0}, Nulls: []bool{false, false, true}},
			&datagatewayv1.ColumnValues{StringValues: []string{"1.50", "NaN-ish", ""}, Nulls: []bool{false, false, true}},
			&datagatewayv1.ColumnValues{StringValues: []string{"a", "", "ü"}},
			&datagatewayv1.ColumnValues{StringValues: []string{`{"a":1}`, "", ""}, Nulls: []bool{false, true, true}},
			&datagatewayv1.ColumnValues{BoolValues: []bool{true, false, false}, Nulls: []bool{false, false, true}},
			&datagatewayv1.ColumnValues{Int64Values: []int64{19723, -1, 0}, Nulls: []bool{false, false, true}},
			&datagatewayv1.ColumnValues{Int64Values: []int64{19723*day*1e6 + 3723*1e6, 19723*day*1e6 + 3723*1e6 + 120000, 0}, Nulls: []bool{false, false, true}},
			&datagatewayv1.ColumnValues{BytesValues: [][]byte{{0x0a, 0xff}, {}, nil}, Nulls: []bool{false, false, true}},
		),
		stats(3),
	}})
	names, rows, st, err := collect(t, client)
	if err != nil {
		t.Fatalf("Query: %v", err)
	}
	if got, want := strings.Join(names, ","), "i,f,d,s,j,b,dt,ts,by"; got != want {
		t.Errorf("header = %s, want %s", got, want)
	}
	if st.GetRows() != 3 {
		t.Errorf("stats rows = %d, want 3", st.GetRows())
	}
	null := engine.NullValue
	want := [][]engine.Value{
		{
			engine.NumberValue(-42, "-42"), engine.NumberValue(0.1, "0.1"), engine.NumberValue(1.5, "1.50"),
			engine.TextValue("a"), engine.TextValue(`{"a":1}`), engine.TextValue("true"),
			engine.TextValue("2024-01-01"), engine.TextValue("2024-01-01 01:02:03"), engine.TextValue("0aff"),
		},
		{
			null, engine.NumberValue(123456789, "123456789"), engine.TextValue("NaN-ish"),
			engine.TextValue(""), null, engine.TextValue("false"),
			engine.TextValue("1969-12-31"), engine.TextValue("2024-01-01 01:02:03.12"), engine.TextValue(""),
		},
		{
			engine.NumberValue(9007199254740992, "9007199254740993"), null, null,
			engine.TextValue("ü"), null, null, null, null, null,
		},
	}
	if len(rows) != len(want) {
		t.Fatalf("got %d rows, want %d", len(rows), len(want))
	}
	for r := range want {
		for c := range want[r] {
			if rows[r][c] != want[r][c] {
				t.Errorf("row %d column %s = %+v, want %+v", r, names[c], rows[r][c], want[r][c])
			}
		}
	}
}

func TestQueryReadsRowsAcrossBatchesInOrder(t *testing.T) {
	client := dial(t, &scriptedGateway{messages: []*datagatewayv1.QueryResponse{
		header(column("n", datagatewayv1.Column_TYPE_INT64)),
		batch(2, &datagatewayv1.ColumnValues{Int64Values: []int64{1, 2}}),
		batch(0, &datagatewayv1.ColumnValues{}),
		batch(1, &datagatewayv1.ColumnValues{Int64Values: []int64{3}}),
		stats(3),
	}})
	_, rows, _, err := collect(t, client)
	if err != nil {
		t.Fatalf("Query: %v", err)
	}
	var got []string
	for _, r := range rows {
		got = append(got, r[0].Text)
	}
	if strings.Join(got, ",") != "1,2,3" {
		t.Errorf("rows = %v, want 1,2,3", got)
	}
}

func TestQueryReusesTheRowSlice(t *testing.T) {
	client := dial(t, &scriptedGateway{messages: []*datagatewayv1.QueryResponse{
		header(column("n", datagatewayv1.Column_TYPE_INT64)),
		batch(2, &datagatewayv1.ColumnValues{Int64Values: []int64{1, 2}}),
		batch(1, &datagatewayv1.ColumnValues{Int64Values: []int64{3}}),
		stats(3),
	}})
	var first *engine.Value
	_, err := Query(context.Background(), client, &datagatewayv1.QueryRequest{}, noHeader, func(row []engine.Value) error {
		if first == nil {
			first = &row[0]
		} else if first != &row[0] {
			t.Errorf("a new row slice for a later row")
		}
		return nil
	})
	if err != nil {
		t.Fatalf("Query: %v", err)
	}
}

func TestQueryPassesTheRequestThrough(t *testing.T) {
	g := &scriptedGateway{messages: []*datagatewayv1.QueryResponse{header(), stats(0)}, got: make(chan *datagatewayv1.QueryRequest, 1)}
	client := dial(t, g)
	req := &datagatewayv1.QueryRequest{
		Name: "tenants/acme/connections/dwh", Statement: "SELECT $1", RowLimit: 10,
		Parameters: []*datagatewayv1.QueryParameter{{Value: &datagatewayv1.QueryParameter_StringValue{StringValue: "x"}}},
	}
	if _, err := Query(context.Background(), client, req, noHeader, func([]engine.Value) error { return nil }); err != nil {
		t.Fatalf("Query: %v", err)
	}
	got := <-g.got
	if got.GetStatement() != "SELECT $1" || got.GetRowLimit() != 10 || got.GetParameters()[0].GetStringValue() != "x" {
		t.Errorf("the gateway got %v", got)
	}
}

func TestQueryReturnsAnErrorThatEndsTheStreamAsItCame(t *testing.T) {
	client := dial(t, &scriptedGateway{
		messages: []*datagatewayv1.QueryResponse{
			header(column("n", datagatewayv1.Column_TYPE_INT64)),
			batch(1, &datagatewayv1.ColumnValues{Int64Values: []int64{1}}),
		},
		err: status.Error(codes.FailedPrecondition, "relation x does not exist"),
	})
	_, rows, _, err := collect(t, client)
	if status.Code(err) != codes.FailedPrecondition || status.Convert(err).Message() != "relation x does not exist" {
		t.Errorf("err = %v, want the gateway's FailedPrecondition", err)
	}
	if len(rows) != 1 {
		t.Errorf("got %d rows before the error, want 1", len(rows))
	}
}

func TestQueryStopsAtTheCallbacksError(t *testing.T) {
	client := dial(t, &scriptedGateway{messages: []*datagatewayv1.QueryResponse{
		header(column("n", datagatewayv1.Column_TYPE_INT64)),
		batch(3, &datagatewayv1.ColumnValues{Int64Values: []int64{1, 2, 3}}),
		stats(3),
	}})
	stop := errors.New("enough")
	calls := 0
	_, err := Query(context.Background(), client, &datagatewayv1.QueryRequest{}, noHeader, func([]engine.Value) error {
		calls++
		if calls == 2 {
			return stop
		}
		return nil
	})
	if !errors.Is(err, stop) || calls != 2 {
		t.Errorf("err = %v after %d calls, want the callback's error after 2", err, calls)
	}
}

func TestQueryRefusesAMalformedStream(t *testing.T) {
	intHeader := header(column("n", datagatewayv1.Column_TYPE_INT64))
	tests := []struct {
		name     string
		messages []*datagatewayv1.QueryResponse
	}{
		{"no stats", []*datagatewayv1.QueryResponse{intHeader}},
		{"nothing", nil},
		{"batch before header", []*datagatewayv1.QueryResponse{batch(1, &datagatewayv1.ColumnValues{Int64Values: []int64{1}}), stats(1)}},
		{"stats before header", []*datagatewayv1.QueryResponse{stats(0)}},
		{"two headers", []*datagatewayv1.QueryResponse{intHeader, intHeader, stats(0)}},
		{"too few values", []*datagatewayv1.QueryResponse{intHeader, batch(2, &datagatewayv1.ColumnValues{Int64Values: []int64{1}}), stats(2)}},
		{"values in the wrong list", []*datagatewayv1.QueryResponse{intHeader, batch(1, &datagatewayv1.ColumnValues{StringValues: []string{"1"}}), stats(1)}},
		{"nulls of another length", []*datagatewayv1.QueryResponse{intHeader, batch(2, &datagatewayv1.ColumnValues{Int64Values: []int64{1, 2}, Nulls: []bool{true}}), stats(2)}},
		{"a missing column", []*datagatewayv1.QueryResponse{intHeader, batch(0), stats(0)}},
		{"an unknown type", []*datagatewayv1.QueryResponse{header(column("x", datagatewayv1.Column_TYPE_UNSPECIFIED)), batch(1, &datagatewayv1.ColumnValues{}), stats(1)}},
		{"an empty message", []*datagatewayv1.QueryResponse{intHeader, {}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			client := dial(t, &scriptedGateway{messages: tt.messages})
			_, _, _, err := collect(t, client)
			if !errors.Is(err, ErrProtocol) {
				t.Errorf("err = %v, want ErrProtocol", err)
			}
		})
	}
}

func TestConnectionNameResolvesOnlyTheTenantsOwnConnections(t *testing.T) {
	tests := []struct {
		name, tenant, connection, want string
		wantErr                        bool
	}{
		{"short name", "acme", "dwh", "tenants/acme/connections/dwh", false},
		{"tenant given as a name", "tenants/acme", "dwh", "tenants/acme/connections/dwh", false},
		{"full name of the tenant", "acme", "tenants/acme/connections/dwh", "tenants/acme/connections/dwh", false},
		{"another tenant", "acme", "tenants/other/connections/dwh", "", true},
		{"not a connection path", "acme", "tenants/acme/apps/dwh", "", true},
		{"a path too long", "acme", "tenants/acme/connections/dwh/x", "", true},
		{"an invalid id", "acme", "DWH", "", true},
		{"empty", "acme", "", "", true},
		{"a traversal", "acme", "../other", "", true},
		{"an invalid tenant", "", "dwh", "", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ConnectionName(tt.tenant, tt.connection)
			if (err != nil) != tt.wantErr || got != tt.want {
				t.Errorf("ConnectionName(%q, %q) = %q, %v; want %q, error %v", tt.tenant, tt.connection, got, err, tt.want, tt.wantErr)
			}
		})
	}
}
