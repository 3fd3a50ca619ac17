package datagateway_test

import (
	"errors"
	"io"
	"testing"

	"google.golang.org/grpc/codes"

	datagatewayv1 "github.com/oriel-dev/oriel/gen/pb/oriel/datagateway/v1"
	"github.com/oriel-dev/oriel/platform/testkit"
)

// query runs a statement as the ISV and returns every message.
func (s *service) query(t testing.TB, req *datagatewayv1.QueryRequest) ([]*datagatewayv1.QueryResponse, error) {
	t.Helper()
	stream, err := s.connections.Query(s.isv, req)
	if err != nil {
		return nil, err
	}
	var out []*datagatewayv1.QueryResponse
	for {
		m, err := stream.Recv()
		if errors.Is(err, io.EOF) {
			return out, nil
		}
		if err != nil {
			return out, err
		}
		out = append(out, m)
	}
}

// TestDirectQueriesStreamHeaderBatchesAndStats queries the test PostgreSQL directly: the
// service's row limit (1000 in the harness) bounds a caller that asks for more.
func TestDirectQueriesStreamHeaderBatchesAndStats(t *testing.T) {
	t.Parallel()
	s := startService(t)
	tenant := testkit.UniqueID("t")
	c := s.createConnection(t, tenant, "erp", "", "whatever")

	test := must[*datagatewayv1.TestConnectionResponse](t)(s.connections.TestConnection(s.isv, &datagatewayv1.TestConnectionRequest{Name: c.GetName()}))
	if !test.GetOk() || test.GetServerVersion() == "" {
		t.Fatalf("TestConnection = %v", test)
	}

	msgs, err := s.query(t, &datagatewayv1.QueryRequest{Name: c.GetName(), Statement: "SELECT g AS n FROM generate_series(1, 5000) g", RowLimit: 1 << 40})
	if err != nil {
		t.Fatal(err)
	}
	if len(msgs) < 3 || msgs[0].GetHeader() == nil || msgs[len(msgs)-1].GetStats() == nil {
		t.Fatalf("got %d messages, want a header, batches and stats", len(msgs))
	}
	var rows int64
	for _, m := range msgs[1 : len(msgs)-1] {
		if m.GetBatch() == nil || m.GetBatch().GetRowCount() > 100 {
			t.Fatalf("a middle message is not a batch of at most 100 rows: %v", m)
		}
		rows += int64(m.GetBatch().GetRowCount())
	}
	stats := msgs[len(msgs)-1].GetStats()
	if rows != 1000 || stats.GetRows() != 1000 || !stats.GetTruncated() {
		t.Fatalf("rows %d, stats %v: want the service's limit of 1000, truncated", rows, stats)
	}

	msgs, err = s.query(t, &datagatewayv1.QueryRequest{Name: c.GetName(), Statement: "SELECT g AS n FROM generate_series(1, 5000) g", RowLimit: 10})
	if err != nil || msgs[len(msgs)-1].GetStats().GetRows() != 10 {
		t.Fatalf("with row_limit 10: %v, %v", msgs, err)
	}
}

// TestQueriesThroughAPoolWithoutAgentsAreUnavailable: nothing serves the pool yet.
func TestQueriesThroughAPoolWithoutAgentsAreUnavailable(t *testing.T) {
	t.Parallel()
	s := startService(t)
	tenant := testkit.UniqueID("t")
	c := s.createConnection(t, tenant, "remote", "default", "whatever")
	_, err := s.query(t, &datagatewayv1.QueryRequest{Name: c.GetName(), Statement: "SELECT 1"})
	wantCode(t, err, codes.Unavailable, "AGENT_UNAVAILABLE")
	_, err = s.connections.TestConnection(s.isv, &datagatewayv1.TestConnectionRequest{Name: c.GetName()})
	wantCode(t, err, codes.Unavailable, "AGENT_UNAVAILABLE")
}
