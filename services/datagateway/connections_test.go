package datagateway_test

import (
	"errors"
	"fmt"
	"io"
	"slices"
	"testing"

	"google.golang.org/grpc/codes"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/fieldmaskpb"

	datagatewayv1 "github.com/oriel-dev/oriel/gen/pb/oriel/datagateway/v1"
	"github.com/oriel-dev/oriel/platform/apierr"
	"github.com/oriel-dev/oriel/platform/testkit"
	"github.com/oriel-dev/oriel/services/datagateway/internal/store"
)

func TestBadConnectionRequestsNameEachBadField(t *testing.T) {
	t.Parallel()
	s := startService(t)
	parent := store.TenantName(testkit.UniqueID("t"))
	for _, tc := range []struct {
		name  string
		req   *datagatewayv1.CreateConnectionRequest
		field string
	}{
		{"no kind", &datagatewayv1.CreateConnectionRequest{Parent: parent,
			Connection: &datagatewayv1.Connection{DisplayName: "x"}}, "connection"},
		{"two kinds", &datagatewayv1.CreateConnectionRequest{Parent: parent,
			Connection: &datagatewayv1.Connection{DisplayName: "x", Postgres: postgresParams(),
				Mysql: &datagatewayv1.MysqlParams{Host: "h", Database: "d", User: "u"}}}, "connection"},
		{"no display name", &datagatewayv1.CreateConnectionRequest{Parent: parent,
			Connection: &datagatewayv1.Connection{Postgres: postgresParams()}}, "connection.display_name"},
		{"no host", &datagatewayv1.CreateConnectionRequest{Parent: parent,
			Connection: &datagatewayv1.Connection{DisplayName: "x", Postgres: &datagatewayv1.PostgresParams{Database: "d", User: "u"}}}, "connection.postgres.host"},
		{"bad id", &datagatewayv1.CreateConnectionRequest{Parent: parent, ConnectionId: "No_Way",
			Connection: &datagatewayv1.Connection{DisplayName: "x", Postgres: postgresParams()}}, "connection_id"},
		{"bad pool", &datagatewayv1.CreateConnectionRequest{Parent: parent,
			Connection: &datagatewayv1.Connection{DisplayName: "x", Postgres: postgresParams(), AgentPool: "Pool!"}}, "connection.agent_pool"},
		{"http without format", &datagatewayv1.CreateConnectionRequest{Parent: parent,
			Connection: &datagatewayv1.Connection{DisplayName: "x", Http: &datagatewayv1.HttpParams{Url: "https://api.example.com"}}}, "connection.http.format"},
		{"bad parent", &datagatewayv1.CreateConnectionRequest{Parent: "acme",
			Connection: &datagatewayv1.Connection{DisplayName: "x", Postgres: postgresParams()}}, "parent"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := s.connections.CreateConnection(s.isv, tc.req)
			wantCode(t, err, codes.InvalidArgument, "INVALID_REQUEST")
			var fields []string
			for _, v := range apierr.Violations(err) {
				fields = append(fields, v.Field)
			}
			if !slices.Contains(fields, tc.field) {
				t.Fatalf("violations %q do not name %s", fields, tc.field)
			}
		})
	}
}

func TestConnectionLifecycle(t *testing.T) {
	t.Parallel()
	s := startService(t)
	tenant := testkit.UniqueID("t")
	created := s.createConnection(t, tenant, "erp", "", "s3cret")
	if created.GetName() != store.ConnectionName(tenant, "erp") || !created.GetHasCredentials() || created.GetCredentials() != nil ||
		created.GetEtag() == "" || created.GetCreateTime() == nil {
		t.Fatalf("created %v", created)
	}
	got := must[*datagatewayv1.GetConnectionResponse](t)(s.connections.GetConnection(s.isv, &datagatewayv1.GetConnectionRequest{Name: created.GetName()}))
	if !proto.Equal(got.GetConnection(), created) {
		t.Fatalf("Get = %v, want %v", got.GetConnection(), created)
	}
	_, err := s.connections.CreateConnection(s.isv, &datagatewayv1.CreateConnectionRequest{
		Parent: store.TenantName(tenant), ConnectionId: "erp",
		Connection: &datagatewayv1.Connection{DisplayName: "again", Postgres: postgresParams()},
	})
	wantCode(t, err, codes.AlreadyExists, "RESOURCE_ALREADY_EXISTS")

	// Update: display name and one parameter; the etag changes and the old one is stale.
	updated := must[*datagatewayv1.UpdateConnectionResponse](t)(s.connections.UpdateConnection(s.isv, &datagatewayv1.UpdateConnectionRequest{
		Connection: &datagatewayv1.Connection{Name: created.GetName(), DisplayName: "ERP", Postgres: &datagatewayv1.PostgresParams{Database: "erp"},
			Etag: created.GetEtag()},
		UpdateMask: &fieldmaskpb.FieldMask{Paths: []string{"display_name", "postgres.database"}},
	})).GetConnection()
	if updated.GetDisplayName() != "ERP" || updated.GetPostgres().GetDatabase() != "erp" || updated.GetPostgres().GetHost() != "127.0.0.1" ||
		updated.GetEtag() == created.GetEtag() || !updated.GetHasCredentials() {
		t.Fatalf("updated %v", updated)
	}
	_, err = s.connections.UpdateConnection(s.isv, &datagatewayv1.UpdateConnectionRequest{
		Connection: &datagatewayv1.Connection{Name: created.GetName(), DisplayName: "Stale", Etag: created.GetEtag()},
		UpdateMask: &fieldmaskpb.FieldMask{Paths: []string{"display_name"}},
	})
	wantCode(t, err, codes.Aborted, "ETAG_MISMATCH")

	// The kind cannot change.
	_, err = s.connections.UpdateConnection(s.isv, &datagatewayv1.UpdateConnectionRequest{
		Connection: &datagatewayv1.Connection{Name: created.GetName(), Mysql: &datagatewayv1.MysqlParams{Host: "h", Database: "d", User: "u"}},
		UpdateMask: &fieldmaskpb.FieldMask{Paths: []string{"mysql"}},
	})
	wantCode(t, err, codes.InvalidArgument, "IMMUTABLE_FIELD")
	_, err = s.connections.UpdateConnection(s.isv, &datagatewayv1.UpdateConnectionRequest{
		Connection: &datagatewayv1.Connection{Name: created.GetName()},
		UpdateMask: &fieldmaskpb.FieldMask{Paths: []string{"postgres"}},
	})
	wantCode(t, err, codes.InvalidArgument, "IMMUTABLE_FIELD")
	_, err = s.connections.UpdateConnection(s.isv, &datagatewayv1.UpdateConnectionRequest{
		Connection: &datagatewayv1.Connection{Name: created.GetName(), DisplayName: "x"},
		UpdateMask: &fieldmaskpb.FieldMask{Paths: []string{"colour"}},
	})
	wantCode(t, err, codes.InvalidArgument, "INVALID_REQUEST")

	// Removing the credentials.
	bare := must[*datagatewayv1.UpdateConnectionResponse](t)(s.connections.UpdateConnection(s.isv, &datagatewayv1.UpdateConnectionRequest{
		Connection: &datagatewayv1.Connection{Name: created.GetName()},
		UpdateMask: &fieldmaskpb.FieldMask{Paths: []string{"credentials"}},
	})).GetConnection()
	if bare.GetHasCredentials() {
		t.Fatalf("after removing credentials: %v", bare)
	}

	// Delete with a stale etag, then for real.
	_, err = s.connections.DeleteConnection(s.isv, &datagatewayv1.DeleteConnectionRequest{Name: created.GetName(), Etag: created.GetEtag()})
	wantCode(t, err, codes.Aborted, "ETAG_MISMATCH")
	must[*datagatewayv1.DeleteConnectionResponse](t)(s.connections.DeleteConnection(s.isv, &datagatewayv1.DeleteConnectionRequest{Name: created.GetName(), Etag: bare.GetEtag()}))
	_, err = s.connections.GetConnection(s.isv, &datagatewayv1.GetConnectionRequest{Name: created.GetName()})
	wantCode(t, err, codes.NotFound, "RESOURCE_NOT_FOUND")
}

func TestAConnectionAReplicationUsesCannotBeDeleted(t *testing.T) {
	t.Parallel()
	s := startService(t)
	tenant := testkit.UniqueID("t")
	s.createUnreachable(t, tenant, "src")
	s.createUnreachable(t, tenant, "dst")
	r := s.createReplication(t, tenant, "copy", "src", "dst")
	for _, id := range []string{"src", "dst"} {
		_, err := s.connections.DeleteConnection(s.isv, &datagatewayv1.DeleteConnectionRequest{Name: store.ConnectionName(tenant, id)})
		wantCode(t, err, codes.FailedPrecondition, "RESOURCE_IN_USE")
		if got := errorInfo(err)["used_by"]; got != r.GetName() {
			t.Fatalf("used_by = %q, want %s", got, r.GetName())
		}
	}
}

func TestConnectionsPageThroughEveryOneOnce(t *testing.T) {
	t.Parallel()
	s := startService(t)
	tenant := testkit.UniqueID("t")
	var want []string
	for i := range 7 {
		want = append(want, s.createUnreachable(t, tenant, fmt.Sprintf("c%02d", i)).GetName())
	}
	s.createUnreachable(t, testkit.UniqueID("other"), "c00")
	req := &datagatewayv1.ListConnectionsRequest{Parent: store.TenantName(tenant), PageSize: 3}
	var got []string
	for {
		resp := must[*datagatewayv1.ListConnectionsResponse](t)(s.connections.ListConnections(s.isv, req))
		if len(resp.GetConnections()) > 3 {
			t.Fatalf("a page of %d", len(resp.GetConnections()))
		}
		for _, c := range resp.GetConnections() {
			got = append(got, c.GetName())
		}
		if resp.GetNextPageToken() == "" {
			break
		}
		req.PageToken = resp.GetNextPageToken()
	}
	if !slices.Equal(got, want) {
		t.Fatalf("listed %q, want %q", got, want)
	}
	// A token is bound to its request.
	_, err := s.connections.ListConnections(s.isv, &datagatewayv1.ListConnectionsRequest{
		Parent: store.TenantName(testkit.UniqueID("t")), PageToken: must[*datagatewayv1.ListConnectionsResponse](t)(
			s.connections.ListConnections(s.isv, &datagatewayv1.ListConnectionsRequest{Parent: store.TenantName(tenant), PageSize: 1})).GetNextPageToken(),
	})
	wantCode(t, err, codes.InvalidArgument, "INVALID_PAGE_TOKEN")
}

// TestCredentialsNeverLeave creates, reads, lists, updates, tests and queries
// connections whose credentials hold a distinctive password, directly and through an
// agent pool, and finds it in no response, no error and no line of the service's log.
func TestCredentialsNeverLeave(t *testing.T) {
	t.Parallel()
	s := startService(t)
	tenant := testkit.UniqueID("t")
	password := "pw-" + testkit.UniqueID("distinctive")
	token := "tok-" + testkit.UniqueID("bearer")
	rotated := "pw-" + testkit.UniqueID("rotated")
	secrets := []string{password, token, rotated}
	var seen []string
	record := func(what string, m proto.Message, err error) {
		if m != nil {
			seen = append(seen, what+": "+protojson.Format(m))
		}
		if err != nil {
			seen = append(seen, what+" error: "+err.Error())
		}
	}

	direct := s.createConnection(t, tenant, "erp", "", password)
	record("create", direct, nil)
	viaAgent := s.createConnection(t, tenant, "remote", "default", password)
	record("create via agent", viaAgent, nil)
	api, err := s.connections.CreateConnection(s.isv, &datagatewayv1.CreateConnectionRequest{
		Parent: store.TenantName(tenant), ConnectionId: "api",
		Connection: &datagatewayv1.Connection{DisplayName: "API", Http: &datagatewayv1.HttpParams{
			Url: "http://127.0.0.1:1/orders", Format: datagatewayv1.HttpParams_FORMAT_JSON,
		}, Credentials: &datagatewayv1.Credentials{BearerToken: token, Headers: map[string]string{"X-Api-Key": password}}},
	})
	record("create http", api, err)
	for _, name := range []string{direct.GetName(), viaAgent.GetName(), api.GetConnection().GetName()} {
		got, err := s.connections.GetConnection(s.isv, &datagatewayv1.GetConnectionRequest{Name: name})
		record("get", got, err)
	}
	list, err := s.connections.ListConnections(s.isv, &datagatewayv1.ListConnectionsRequest{Parent: store.TenantName(tenant)})
	record("list", list, err)
	upd, err := s.connections.UpdateConnection(s.isv, &datagatewayv1.UpdateConnectionRequest{
		Connection: &datagatewayv1.Connection{Name: direct.GetName(), Credentials: &datagatewayv1.Credentials{Password: rotated}},
		UpdateMask: &fieldmaskpb.FieldMask{Paths: []string{"credentials.password"}},
	})
	record("update", upd, err)
	if !upd.GetConnection().GetHasCredentials() {
		t.Fatalf("after rotating the password: %v", upd)
	}
	// A too-long password is refused without being echoed.
	_, err = s.connections.UpdateConnection(s.isv, &datagatewayv1.UpdateConnectionRequest{
		Connection: &datagatewayv1.Connection{Name: direct.GetName(), Credentials: &datagatewayv1.Credentials{Password: password + string(make([]byte, 1100))}},
		UpdateMask: &fieldmaskpb.FieldMask{Paths: []string{"credentials"}},
	})
	wantCode(t, err, codes.InvalidArgument, "INVALID_REQUEST")
	record("update too long", nil, err)

	for _, name := range []string{direct.GetName(), viaAgent.GetName(), api.GetConnection().GetName()} {
		res, err := s.connections.TestConnection(s.isv, &datagatewayv1.TestConnectionRequest{Name: name})
		record("test "+name, res, err)
		stream, err := s.connections.Query(s.isv, &datagatewayv1.QueryRequest{Name: name, Statement: "SELECT current_user", Timeout: durationpb.New(10e9)})
		record("query "+name, nil, err)
		for err == nil {
			var m *datagatewayv1.QueryResponse
			m, err = stream.Recv()
			if !errors.Is(err, io.EOF) {
				record("query "+name, m, err)
			}
		}
		// A statement the source refuses, whose error comes back.
		stream, err = s.connections.Query(s.isv, &datagatewayv1.QueryRequest{Name: name, Statement: "SELECT * FROM no_such_table_" + password[3:8]})
		record("bad query "+name, nil, err)
		for err == nil {
			var m *datagatewayv1.QueryResponse
			m, err = stream.Recv()
			if !errors.Is(err, io.EOF) {
				record("bad query "+name, m, err)
			}
		}
	}
	for _, secret := range secrets {
		for _, text := range seen {
			requireAbsent(t, "a response", text, secret)
		}
		requireAbsent(t, "the service's log", s.logs.String(), secret)
	}
	// The stored row holds neither: only the sealed form.
	c, err := s.store.GetConnection(t.Context(), tenant, "erp")
	if err != nil {
		t.Fatal(err)
	}
	requireAbsent(t, "the stored ciphertext", string(c.Credentials.Ciphertext), rotated)
}
