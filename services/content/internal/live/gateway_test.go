package live

import (
	"context"
	"net"
	"strings"
	"testing"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/test/bufconn"

	datagatewayv1 "github.com/oriel-dev/oriel/gen/pb/oriel/datagateway/v1"
	"github.com/oriel-dev/oriel/services/content/internal/engine"
)

// fakeGateway answers every Query with a category and a sum, and keeps the requests.
type fakeGateway struct {
	datagatewayv1.UnimplementedConnectionServiceServer
	requests chan *datagatewayv1.QueryRequest
}

func (g *fakeGateway) Query(req *datagatewayv1.QueryRequest, stream grpc.ServerStreamingServer[datagatewayv1.QueryResponse]) error {
	g.requests <- req
	total := len(req.GetStatement()) > 0 && !strings.Contains(req.GetStatement(), "GROUP BY")
	cols := []*datagatewayv1.Column{{Name: "oriel_d0", Type: datagatewayv1.Column_TYPE_STRING}, {Name: "oriel_m", Type: datagatewayv1.Column_TYPE_FLOAT64}}
	vals := []*datagatewayv1.ColumnValues{{StringValues: []string{"Bikes"}}, {Float64Values: []float64{1.5}}}
	if total {
		cols, vals = cols[1:], vals[1:]
	}
	msgs := []*datagatewayv1.QueryResponse{
		{Result: &datagatewayv1.QueryResponse_Header{Header: &datagatewayv1.ResultHeader{Columns: cols}}},
		{Result: &datagatewayv1.QueryResponse_Batch{Batch: &datagatewayv1.RowBatch{RowCount: 1, Columns: vals}}},
		{Result: &datagatewayv1.QueryResponse_Stats{Stats: &datagatewayv1.QueryStats{Rows: 1}}},
	}
	for _, m := range msgs {
		if err := stream.Send(m); err != nil {
			return err
		}
	}
	return nil
}

func TestGatewayRunsAPlanThroughTheQueryStream(t *testing.T) {
	g := &fakeGateway{requests: make(chan *datagatewayv1.QueryRequest, 10)}
	lis := bufconn.Listen(1 << 20)
	srv := grpc.NewServer()
	datagatewayv1.RegisterConnectionServiceServer(srv, g)
	go func() { _ = srv.Serve(lis) }()
	defer srv.Stop()
	conn, err := grpc.NewClient("passthrough:///bufconn",
		grpc.WithContextDialer(func(ctx context.Context, _ string) (net.Conn, error) { return lis.DialContext(ctx) }),
		grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatalf("dial: %v", err)
	}
	defer func() { _ = conn.Close() }()

	p, err := Compile(Postgres, starTables(), starNumeric, sumBy("category"),
		[]engine.Selection{{Field: "region", Values: []string{"North"}}}, nil)
	if err != nil {
		t.Fatalf("Compile: %v", err)
	}
	res, err := p.Run(context.Background(), Gateway(datagatewayv1.NewConnectionServiceClient(conn), p.Connection()))
	if err != nil {
		t.Fatalf("Run: %v", err)
	}
	if len(res.Rows) != 1 || res.Rows[0][0].Text != "Bikes" || res.Rows[0][1].Num != 1.5 || res.Totals[0].Num != 1.5 {
		t.Errorf("result = %+v", res)
	}
	close(g.requests)
	n := 0
	for req := range g.requests {
		n++
		if req.GetName() != testConnection || req.GetRowLimit() != MaxGroups+1 ||
			len(req.GetParameters()) != 1 || req.GetParameters()[0].GetStringValue() != "North" {
			t.Errorf("request = %v", req)
		}
	}
	if n != 2 {
		t.Errorf("%d requests, want 2", n)
	}
}
