package datagateway_test

import (
	"testing"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	datagatewayv1 "github.com/oriel-dev/oriel/gen/pb/oriel/datagateway/v1"
	"github.com/oriel-dev/oriel/platform/testkit"
	"github.com/oriel-dev/oriel/services/datagateway/internal/store"
)

// TestQueryParametersBindTheSameWhereverTheQueryRuns sends one parameterized Query
// directly, through an agent, and through a replica that forwards it to the replica
// holding the agent: each returns the same rows, and a wrong count is refused the same
// way.
func TestQueryParametersBindTheSameWhereverTheQueryRuns(t *testing.T) {
	t.Parallel()
	r1 := startServiceWith(t, advertised(t))
	r2 := r1.startReplica(t, advertised(t))
	tenant := testkit.UniqueID("a")
	a := r1.createAgent(t, tenant, "warehouse", "default")
	r1.runAgent(t, a.GetName(), "1.2.3")
	r1.waitAgentState(t, a.GetName(), datagatewayv1.Agent_STATE_CONNECTED)
	direct := r1.createConnection(t, tenant, "erp", "", "")
	remote := r1.createConnection(t, tenant, "remote", "default", "")

	params := []*datagatewayv1.QueryParameter{
		{Value: &datagatewayv1.QueryParameter_Int64Value{Int64Value: 10}},
		{Value: &datagatewayv1.QueryParameter_Float64Value{Float64Value: 40}},
		{Value: &datagatewayv1.QueryParameter_StringValue{StringValue: "n 20' OR 'a'='a"}},
		{Value: &datagatewayv1.QueryParameter_StringValue{StringValue: "n 30"}},
		{Value: &datagatewayv1.QueryParameter_BoolValue{BoolValue: true}},
		{},
	}
	const statement = `SELECT g AS n, 'n ' || g AS name FROM generate_series(1, 250) g
		WHERE g BETWEEN $1 AND $2 AND 'n ' || g NOT IN ($3, $4) AND $5 AND $6::text IS NULL ORDER BY g`
	rows := func(t *testing.T, s *service, c *datagatewayv1.Connection) []*datagatewayv1.QueryResponse {
		t.Helper()
		msgs, err := s.query(t, &datagatewayv1.QueryRequest{Name: c.GetName(), Statement: statement, Parameters: params})
		if err != nil {
			t.Fatalf("query %s: %v", c.GetName(), err)
		}
		return msgs[:len(msgs)-1] // the stats hold a time and the agent
	}
	want := rows(t, r1, direct)
	var ids []int64
	for _, m := range want[1:] {
		ids = append(ids, m.GetBatch().GetColumns()[0].GetInt64Values()...)
	}
	// 10…40 without 30: the third value matches nothing, being one.
	if len(ids) != 30 || ids[0] != 10 || ids[len(ids)-1] != 40 {
		t.Fatalf("direct query returned ids %v, want 10…40 without 30", ids)
	}
	for _, tc := range []struct {
		name string
		s    *service
	}{{"through the agent", r1}, {"forwarded to the replica with the agent", r2}} {
		t.Run(tc.name, func(t *testing.T) {
			got := rows(t, tc.s, remote)
			if len(got) != len(want) {
				t.Fatalf("%d messages, want %d as direct", len(got), len(want))
			}
			for i := range want {
				if !proto.Equal(got[i], want[i]) {
					t.Fatalf("message %d = %v, want %v as direct", i, got[i], want[i])
				}
			}
			_, err := tc.s.query(t, &datagatewayv1.QueryRequest{Name: remote.GetName(), Statement: "SELECT $1::int", Parameters: params})
			wantCode(t, err, codes.InvalidArgument, "INVALID_REQUEST")
			if msg := status.Convert(err).Message(); msg != "the statement has 1 placeholder but 6 parameters were given" {
				t.Fatalf("message %q", msg)
			}
		})
	}

	t.Run("an http connection takes none", func(t *testing.T) {
		api, err := r1.connections.CreateConnection(r1.isv, &datagatewayv1.CreateConnectionRequest{
			Parent: store.TenantName(tenant), ConnectionId: "api",
			Connection: &datagatewayv1.Connection{DisplayName: "API", Http: &datagatewayv1.HttpParams{
				Url: "http://127.0.0.1:1/orders", Format: datagatewayv1.HttpParams_FORMAT_JSON,
			}},
		})
		if err != nil {
			t.Fatal(err)
		}
		_, err = r1.query(t, &datagatewayv1.QueryRequest{Name: api.GetConnection().GetName(), Parameters: params[:1]})
		wantCode(t, err, codes.InvalidArgument, "INVALID_REQUEST")
		if msg := status.Convert(err).Message(); msg != "http connections take no parameters" {
			t.Fatalf("message %q", msg)
		}
	})

	t.Run("more than 10000 parameters are refused", func(t *testing.T) {
		many := make([]*datagatewayv1.QueryParameter, 10_001)
		for i := range many {
			many[i] = &datagatewayv1.QueryParameter{}
		}
		_, err := r1.query(t, &datagatewayv1.QueryRequest{Name: direct.GetName(), Statement: "SELECT 1", Parameters: many})
		wantCode(t, err, codes.InvalidArgument, "INVALID_REQUEST")
	})
}
