package client_test

import (
	"errors"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/fieldmaskpb"

	"github.com/oriel-dev/oriel/cli/internal/client"
	datagatewayv1 "github.com/oriel-dev/oriel/gen/pb/oriel/datagateway/v1"
	"github.com/oriel-dev/oriel/platform/testkit"
)

// postgresParams locate a fresh database of the test PostgreSQL.
func postgresParams(t *testing.T) *datagatewayv1.PostgresParams {
	t.Helper()
	u, err := url.Parse(testkit.PostgresDatabase(t))
	if err != nil {
		t.Fatal(err)
	}
	p := &datagatewayv1.PostgresParams{Host: u.Hostname(), Database: strings.TrimPrefix(u.Path, "/"), User: u.User.Username(),
		SslMode: datagatewayv1.PostgresParams_SSL_MODE_DISABLE}
	if port := u.Port(); port != "" {
		n, err := strconv.Atoi(port)
		if err != nil {
			t.Fatal(err)
		}
		p.Port = int32(n)
	}
	return p
}

// query runs a statement and collects its stream.
func query(t *testing.T, c *client.Client, req *datagatewayv1.QueryRequest) (*datagatewayv1.ResultHeader, []*datagatewayv1.RowBatch, *datagatewayv1.QueryStats, error) {
	t.Helper()
	var (
		header  *datagatewayv1.ResultHeader
		batches []*datagatewayv1.RowBatch
		stats   *datagatewayv1.QueryStats
	)
	for msg, err := range c.Query(testContext(t), req) {
		if err != nil {
			return header, batches, stats, err
		}
		switch r := msg.GetResult().(type) {
		case *datagatewayv1.QueryResponse_Header:
			header = r.Header
		case *datagatewayv1.QueryResponse_Batch:
			batches = append(batches, r.Batch)
		case *datagatewayv1.QueryResponse_Stats:
			stats = r.Stats
		}
	}
	return header, batches, stats, nil
}

func TestConnectionLifecycleNeverReturnsCredentials(t *testing.T) {
	t.Parallel()
	c, _ := adminClient(t)
	ctx := testContext(t)
	const secret = "a-password-no-response-may-hold"
	created, err := c.CreateConnection(ctx, &datagatewayv1.CreateConnectionRequest{
		Parent: "tenants/acme", ConnectionId: "warehouse",
		Connection: &datagatewayv1.Connection{DisplayName: "Warehouse", Postgres: postgresParams(t),
			Credentials: &datagatewayv1.Credentials{Password: secret}},
	})
	if err != nil {
		t.Fatal(err)
	}
	conn := created.GetConnection()
	if conn.GetName() != "tenants/acme/connections/warehouse" || !conn.GetHasCredentials() || conn.GetCredentials() != nil || conn.GetEtag() == "" {
		t.Fatalf("created %v", conn)
	}
	var responses []string

	got, err := c.GetConnection(ctx, &datagatewayv1.GetConnectionRequest{Name: conn.GetName()})
	if err != nil {
		t.Fatal(err)
	}
	responses = append(responses, protojson.Format(got))
	var names []string
	for cn, err := range c.AllConnections(ctx, &datagatewayv1.ListConnectionsRequest{Parent: "tenants/acme", PageSize: 1}) {
		if err != nil {
			t.Fatal(err)
		}
		names = append(names, cn.GetName())
		responses = append(responses, protojson.Format(cn))
	}
	if !slices.Equal(names, []string{"tenants/acme/connections/warehouse"}) {
		t.Fatalf("AllConnections = %v", names)
	}

	upd, err := c.UpdateConnection(ctx, &datagatewayv1.UpdateConnectionRequest{
		Connection: &datagatewayv1.Connection{Name: conn.GetName(), DisplayName: "Main warehouse", Etag: conn.GetEtag()},
		UpdateMask: &fieldmaskpb.FieldMask{Paths: []string{"display_name"}},
	})
	if err != nil {
		t.Fatal(err)
	}
	responses = append(responses, protojson.Format(upd))
	if upd.GetConnection().GetDisplayName() != "Main warehouse" || upd.GetConnection().GetPostgres().GetHost() != conn.GetPostgres().GetHost() {
		t.Fatalf("updated %v, want the display name alone changed", upd.GetConnection())
	}
	_, err = c.UpdateConnection(ctx, &datagatewayv1.UpdateConnectionRequest{
		Connection: &datagatewayv1.Connection{Name: conn.GetName(), DisplayName: "again", Etag: conn.GetEtag()},
		UpdateMask: &fieldmaskpb.FieldMask{Paths: []string{"display_name"}},
	})
	apiError(t, err, http.StatusConflict, "ETAG_MISMATCH")

	test, err := c.TestConnection(ctx, &datagatewayv1.TestConnectionRequest{Name: conn.GetName()})
	if err != nil || !test.GetOk() || !strings.Contains(test.GetServerVersion(), "PostgreSQL") {
		t.Fatalf("TestConnection = %v, %v; want ok and the server's version", test, err)
	}
	for _, r := range responses {
		if strings.Contains(r, secret) {
			t.Fatalf("a response holds the password: %s", r)
		}
	}

	if _, err := c.DeleteConnection(ctx, &datagatewayv1.DeleteConnectionRequest{Name: conn.GetName()}); err != nil {
		t.Fatal(err)
	}
	_, err = c.GetConnection(ctx, &datagatewayv1.GetConnectionRequest{Name: conn.GetName()})
	if e := apiErrorStatus(t, err); e.Status != "NOT_FOUND" {
		t.Fatalf("after delete: %v", err)
	}
}

// apiErrorStatus asserts err is an *APIError and returns it.
func apiErrorStatus(t *testing.T, err error) *client.APIError {
	t.Helper()
	var apiErr *client.APIError
	if !errors.As(err, &apiErr) {
		t.Fatalf("error = %v (%T), want *client.APIError", err, err)
	}
	return apiErr
}

func TestQueryStreamsTypedBatchesWithinItsLimits(t *testing.T) {
	t.Parallel()
	c, _ := adminClient(t)
	ctx := testContext(t)
	if _, err := c.CreateConnection(ctx, &datagatewayv1.CreateConnectionRequest{
		Parent: "tenants/acme", ConnectionId: "warehouse",
		Connection: &datagatewayv1.Connection{DisplayName: "Warehouse", Postgres: postgresParams(t)},
	}); err != nil {
		t.Fatal(err)
	}
	const name = "tenants/acme/connections/warehouse"

	t.Run("header, batches, stats", func(t *testing.T) {
		header, batches, stats, err := query(t, c, &datagatewayv1.QueryRequest{
			Name: name, Statement: "SELECT n, 'row ' || n AS label FROM generate_series(1, 2500) AS n",
		})
		if err != nil {
			t.Fatal(err)
		}
		if cols := header.GetColumns(); len(cols) != 2 || cols[0].GetName() != "n" || cols[0].GetType() != datagatewayv1.Column_TYPE_INT64 ||
			cols[1].GetType() != datagatewayv1.Column_TYPE_STRING {
			t.Fatalf("header %v", header)
		}
		var sum, rows int64
		for _, b := range batches {
			rows += int64(b.GetRowCount())
			for _, v := range b.GetColumns()[0].GetInt64Values() {
				sum += v
			}
		}
		if rows != 2500 || sum != 2500*2501/2 || len(batches) < 2 || stats.GetRows() != 2500 || stats.GetTruncated() {
			t.Fatalf("%d rows in %d batches summing to %d, stats %v; want 2,500 rows in several batches", rows, len(batches), sum, stats)
		}
	})

	t.Run("the row limit cuts the result and says so", func(t *testing.T) {
		_, batches, stats, err := query(t, c, &datagatewayv1.QueryRequest{
			Name: name, Statement: "SELECT n FROM generate_series(1, 100000) AS n", RowLimit: 10,
		})
		rows := 0
		for _, b := range batches {
			rows += int(b.GetRowCount())
		}
		if err != nil || rows != 10 || stats.GetRows() != 10 || !stats.GetTruncated() {
			t.Fatalf("%d rows, stats %v, %v; want 10, truncated", rows, stats, err)
		}
	})

	t.Run("the timeout ends the query with DEADLINE_EXCEEDED", func(t *testing.T) {
		_, _, _, err := query(t, c, &datagatewayv1.QueryRequest{
			Name: name, Statement: "SELECT pg_sleep(60)", Timeout: durationpb.New(500 * time.Millisecond),
		})
		if e := apiErrorStatus(t, err); e.Status != "DEADLINE_EXCEEDED" || e.HTTPStatus != http.StatusGatewayTimeout {
			t.Fatalf("error %v (%s, HTTP %d), want DEADLINE_EXCEEDED", err, e.Status, e.HTTPStatus)
		}
	})

	t.Run("a bad statement is an API error, not a broken stream", func(t *testing.T) {
		_, _, _, err := query(t, c, &datagatewayv1.QueryRequest{Name: name, Statement: "SELECT * FROM no_such_table"})
		if e := apiErrorStatus(t, err); e.Status == "" || e.Status == "INTERNAL" || e.Status == "UNKNOWN" {
			t.Fatalf("error %v (%s), want a status saying what is wrong", err, e.Status)
		}
	})

	t.Run("another tenant's connection is NOT_FOUND", func(t *testing.T) {
		_, _, _, err := query(t, c, &datagatewayv1.QueryRequest{Name: "tenants/other/connections/warehouse", Statement: "SELECT 1"})
		if e := apiErrorStatus(t, err); e.Status != "NOT_FOUND" {
			t.Fatalf("error %v, want NOT_FOUND", err)
		}
	})
}

func TestAgentLifecycleAndEnrollmentTokens(t *testing.T) {
	t.Parallel()
	c, _ := adminClient(t)
	ctx := testContext(t)
	created, err := c.CreateAgent(ctx, &datagatewayv1.CreateAgentRequest{
		Parent: "tenants/acme", AgentId: "dc1", Agent: &datagatewayv1.Agent{DisplayName: "DC 1", Pool: "east"},
	})
	if err != nil {
		t.Fatal(err)
	}
	if a := created.GetAgent(); a.GetName() != "tenants/acme/agents/dc1" || a.GetPool() != "east" || a.GetState() != datagatewayv1.Agent_STATE_NOT_ENROLLED {
		t.Fatalf("created %v", a)
	}
	tok, err := c.CreateEnrollmentToken(ctx, &datagatewayv1.CreateEnrollmentTokenRequest{Name: "tenants/acme/agents/dc1"})
	if err != nil || !strings.HasPrefix(tok.GetEnrollmentToken(), "oriel_ae_") || !tok.GetExpireTime().AsTime().After(time.Now()) {
		t.Fatalf("CreateEnrollmentToken = %v, %v", tok, err)
	}
	got, err := c.GetAgent(ctx, &datagatewayv1.GetAgentRequest{Name: "tenants/acme/agents/dc1"})
	if err != nil || strings.Contains(protojson.Format(got), tok.GetEnrollmentToken()) {
		t.Fatalf("GetAgent = %v, %v; want it without the token", got, err)
	}
	var names []string
	for a, err := range c.AllAgents(ctx, &datagatewayv1.ListAgentsRequest{Parent: "tenants/acme"}) {
		if err != nil {
			t.Fatal(err)
		}
		names = append(names, a.GetName())
	}
	if !slices.Equal(names, []string{"tenants/acme/agents/dc1"}) {
		t.Fatalf("AllAgents = %v", names)
	}
	revoked, err := c.RevokeAgent(ctx, &datagatewayv1.RevokeAgentRequest{Name: "tenants/acme/agents/dc1"})
	if err != nil || revoked.GetAgent().GetState() != datagatewayv1.Agent_STATE_REVOKED {
		t.Fatalf("RevokeAgent = %v, %v", revoked, err)
	}
	if _, err := c.DeleteAgent(ctx, &datagatewayv1.DeleteAgentRequest{Name: "tenants/acme/agents/dc1"}); err != nil {
		t.Fatal(err)
	}
	_, err = c.GetAgent(ctx, &datagatewayv1.GetAgentRequest{Name: "tenants/acme/agents/dc1"})
	if e := apiErrorStatus(t, err); e.Status != "NOT_FOUND" {
		t.Fatalf("after delete: %v", err)
	}
}

func TestDatagatewayNamesAreCheckedBeforeAnyRequest(t *testing.T) {
	t.Parallel()
	// Nothing listens here: a request would fail differently.
	c := client.New("http://127.0.0.1:1", "oriel_sk_x", nil)
	ctx := testContext(t)
	for _, tc := range []struct {
		name string
		call func() error
	}{
		{"connection", func() error {
			_, err := c.GetConnection(ctx, &datagatewayv1.GetConnectionRequest{Name: "tenants/acme/connections/a:query"})
			return err
		}},
		{"query", func() error {
			for _, err := range c.Query(ctx, &datagatewayv1.QueryRequest{Name: "tenants/acme/agents/a"}) {
				return err
			}
			return nil
		}},
		{"agent", func() error {
			_, err := c.RevokeAgent(ctx, &datagatewayv1.RevokeAgentRequest{Name: "dc1"})
			return err
		}},
		{"replication", func() error {
			for _, err := range c.WatchReplication(ctx, &datagatewayv1.WatchReplicationRequest{Name: "tenants/acme/replications/../x"}) {
				return err
			}
			return nil
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if err := tc.call(); !errors.Is(err, client.ErrInvalidName) || !strings.Contains(err.Error(), "invalid "+tc.name+" name") &&
				tc.name != "query" {
				t.Fatalf("error %v, want ErrInvalidName naming a %s", err, tc.name)
			}
		})
	}
}
