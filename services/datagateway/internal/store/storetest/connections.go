package storetest

import (
	"bytes"
	"errors"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"

	datagatewayv1 "github.com/oriel-dev/oriel/gen/pb/oriel/datagateway/v1"
	"github.com/oriel-dev/oriel/platform/testkit"
	"github.com/oriel-dev/oriel/services/datagateway/internal/store"
)

var connectionBehaviours = []behaviour{
	{"a created connection reads back with its params, sealed credentials, times and etag", connectionRoundTrips},
	{"every kind's params round-trip", connectionKindsRoundTrip},
	{"a taken connection id is taken in its tenant only", connectionIDTaken},
	{"updating a connection checks its etag, changes it, and keeps or replaces credentials", updateConnection},
	{"a connection's kind never changes", connectionKindFixed},
	{"deleting a connection checks its etag", deleteConnectionChecksEtag},
	{"a connection a replication names cannot be deleted", deleteConnectionInUse},
	{"limit and after id page through every connection exactly once", connectionsPage},
	{"a connection of another tenant is not found", connectionTenantIsolation},
}

// newConnection returns a postgres connection of tenant with every field set.
func newConnection(tenant, id string) *datagatewayv1.Connection {
	return &datagatewayv1.Connection{
		Name:        store.ConnectionName(tenant, id),
		DisplayName: "ERP " + id,
		Postgres: &datagatewayv1.PostgresParams{
			Host: "db.internal", Port: 5433, Database: "erp", User: "reader",
			SslMode: datagatewayv1.PostgresParams_SSL_MODE_DISABLE,
		},
		AgentPool:  "default",
		CreateTime: ts(epoch),
		UpdateTime: ts(at(time.Second + time.Microsecond)),
	}
}

var sealed = &store.Sealed{KeyID: "k1", Ciphertext: []byte{0, 1, 2, 0xff, 'x'}}

func mustCreateConnection(t *testing.T, s store.Store, tenant, id string, creds *store.Sealed) *datagatewayv1.Connection {
	t.Helper()
	c := newConnection(tenant, id)
	testkit.RequireNoError(t, "CreateConnection "+id, s.CreateConnection(t.Context(), tenant, id, c, creds))
	if c.GetEtag() == "" {
		t.Fatalf("CreateConnection(%s) left the etag empty", c.GetName())
	}
	return c
}

func requireSealed(t *testing.T, what string, want, got *store.Sealed) {
	t.Helper()
	switch {
	case want == nil && got == nil:
		return
	case want == nil || got == nil:
		t.Fatalf("%s = %v, want %v", what, got, want)
	case want.KeyID != got.KeyID || !bytes.Equal(want.Ciphertext, got.Ciphertext):
		t.Fatalf("%s = %q %x, want %q %x", what, got.KeyID, got.Ciphertext, want.KeyID, want.Ciphertext)
	}
}

func connectionRoundTrips(t *testing.T, s store.Store, _ *ManualClock) {
	tenant := newTenant()
	want := mustCreateConnection(t, s, tenant, "erp", sealed)
	if !want.GetHasCredentials() {
		t.Fatal("CreateConnection with credentials left has_credentials false")
	}
	got, err := s.GetConnection(t.Context(), tenant, "erp")
	testkit.RequireNoError(t, "GetConnection", err)
	testkit.RequireProto(t, "GetConnection", want, got.Connection)
	requireSealed(t, "credentials", sealed, got.Credentials)

	bare := mustCreateConnection(t, s, tenant, "bare", nil)
	got, err = s.GetConnection(t.Context(), tenant, "bare")
	testkit.RequireNoError(t, "GetConnection bare", err)
	testkit.RequireProto(t, "GetConnection bare", bare, got.Connection)
	requireSealed(t, "credentials of bare", nil, got.Credentials)
	testkit.RequireEqual(t, "has_credentials of bare", false, got.Connection.GetHasCredentials())
}

func connectionKindsRoundTrip(t *testing.T, s store.Store, _ *ManualClock) {
	tenant := newTenant()
	for id, params := range map[string]func(*datagatewayv1.Connection){
		"shop": func(c *datagatewayv1.Connection) {
			c.Postgres, c.Mysql = nil, &datagatewayv1.MysqlParams{
				Host: "mysql", Port: 3306, Database: "shop", User: "ro", Tls: true,
			}
		},
		"api": func(c *datagatewayv1.Connection) {
			c.Postgres, c.Http = nil, &datagatewayv1.HttpParams{
				Url: "https://api.example.com/v1/orders", Format: datagatewayv1.HttpParams_FORMAT_JSON,
				RecordsPath: "data.items", Pagination: datagatewayv1.HttpParams_PAGINATION_NEXT_URL,
				NextUrlPath: "links.next", PageSize: 200, Headers: map[string]string{"Accept": "application/json"},
			}
			c.AgentPool = ""
		},
	} {
		c := newConnection(tenant, id)
		params(c)
		testkit.RequireNoError(t, "CreateConnection "+id, s.CreateConnection(t.Context(), tenant, id, c, nil))
		got, err := s.GetConnection(t.Context(), tenant, id)
		testkit.RequireNoError(t, "GetConnection "+id, err)
		testkit.RequireProto(t, "GetConnection "+id, c, got.Connection)
		testkit.RequireEqual(t, "Kind "+id, store.Kind(c), store.Kind(got.Connection))
	}
}

func connectionIDTaken(t *testing.T, s store.Store, _ *ManualClock) {
	tenant, other := newTenant(), newTenant()
	mustCreateConnection(t, s, tenant, "erp", nil)
	testkit.RequireErrorIs(t, "CreateConnection again", s.CreateConnection(t.Context(), tenant, "erp", newConnection(tenant, "erp"), nil), store.ErrAlreadyExists)
	mustCreateConnection(t, s, other, "erp", nil)
}

func updateConnection(t *testing.T, s store.Store, _ *ManualClock) {
	tenant := newTenant()
	first := mustCreateConnection(t, s, tenant, "erp", sealed)
	ctx := t.Context()

	next := proto.Clone(first).(*datagatewayv1.Connection)
	next.DisplayName = "Renamed"
	next.GetPostgres().Host = "db2.internal"
	next.AgentPool = ""
	next.UpdateTime = ts(at(time.Minute))
	testkit.RequireNoError(t, "UpdateConnection keeping credentials", s.UpdateConnection(ctx, tenant, "erp", first.GetEtag(), next, false, nil))
	if next.GetEtag() == first.GetEtag() {
		t.Fatal("UpdateConnection kept the etag")
	}
	got, err := s.GetConnection(ctx, tenant, "erp")
	testkit.RequireNoError(t, "GetConnection", err)
	testkit.RequireProto(t, "after update", next, got.Connection)
	requireSealed(t, "credentials kept", sealed, got.Credentials)

	stale := proto.Clone(next).(*datagatewayv1.Connection)
	testkit.RequireErrorIs(t, "UpdateConnection with a stale etag", s.UpdateConnection(ctx, tenant, "erp", first.GetEtag(), stale, false, nil), store.ErrEtagMismatch)

	rotated := &store.Sealed{KeyID: "k2", Ciphertext: []byte("new")}
	testkit.RequireNoError(t, "UpdateConnection replacing credentials", s.UpdateConnection(ctx, tenant, "erp", "", next, true, rotated))
	got, _ = s.GetConnection(ctx, tenant, "erp")
	requireSealed(t, "credentials replaced", rotated, got.Credentials)

	testkit.RequireNoError(t, "UpdateConnection removing credentials", s.UpdateConnection(ctx, tenant, "erp", "", next, true, nil))
	got, _ = s.GetConnection(ctx, tenant, "erp")
	requireSealed(t, "credentials removed", nil, got.Credentials)
	testkit.RequireEqual(t, "has_credentials after removal", false, got.Connection.GetHasCredentials())
	testkit.RequireEqual(t, "has_credentials returned by the update", false, next.GetHasCredentials())

	testkit.RequireErrorIs(t, "UpdateConnection of a missing one", s.UpdateConnection(ctx, tenant, "nosuch", "", next, false, nil), store.ErrNotFound)
}

func connectionKindFixed(t *testing.T, s store.Store, _ *ManualClock) {
	tenant := newTenant()
	c := mustCreateConnection(t, s, tenant, "erp", nil)
	c.Postgres, c.Mysql = nil, &datagatewayv1.MysqlParams{Host: "h", Database: "d", User: "u"}
	if err := s.UpdateConnection(t.Context(), tenant, "erp", "", c, false, nil); err == nil {
		t.Fatal("UpdateConnection changed the kind")
	}
	got, err := s.GetConnection(t.Context(), tenant, "erp")
	testkit.RequireNoError(t, "GetConnection", err)
	testkit.RequireEqual(t, "kind", store.KindPostgres, store.Kind(got.Connection))
}

func deleteConnectionChecksEtag(t *testing.T, s store.Store, _ *ManualClock) {
	tenant := newTenant()
	c := mustCreateConnection(t, s, tenant, "erp", nil)
	testkit.RequireErrorIs(t, "DeleteConnection with a wrong etag", s.DeleteConnection(t.Context(), tenant, "erp", "nope"), store.ErrEtagMismatch)
	testkit.RequireNoError(t, "DeleteConnection", s.DeleteConnection(t.Context(), tenant, "erp", c.GetEtag()))
	_, err := s.GetConnection(t.Context(), tenant, "erp")
	testkit.RequireErrorIs(t, "GetConnection after delete", err, store.ErrNotFound)
	testkit.RequireErrorIs(t, "DeleteConnection again", s.DeleteConnection(t.Context(), tenant, "erp", ""), store.ErrNotFound)
}

func deleteConnectionInUse(t *testing.T, s store.Store, clock *ManualClock) {
	tenant := newTenant()
	mustCreateConnection(t, s, tenant, "src", nil)
	mustCreateConnection(t, s, tenant, "dst", nil)
	r := mustCreateReplication(t, s, tenant, "r1", "src", "dst")
	for _, id := range []string{"src", "dst"} {
		err := s.DeleteConnection(t.Context(), tenant, id, "")
		testkit.RequireErrorIs(t, "DeleteConnection "+id, err, store.ErrInUse)
		var inUse *store.InUseError
		if !errors.As(err, &inUse) || inUse.UsedBy != r.Name() {
			t.Fatalf("DeleteConnection %s: %v, want in use by %s", id, err, r.Name())
		}
	}
	// A replication being deleted still holds its connections: the engine needs them
	// to drop the slot.
	_, err := s.ChangeReplication(t.Context(), tenant, "r1", clock.Now(), func(r *store.Replication) error {
		r.Deleting = true
		return nil
	})
	testkit.RequireNoError(t, "mark deleting", err)
	testkit.RequireErrorIs(t, "DeleteConnection while deleting", s.DeleteConnection(t.Context(), tenant, "src", ""), store.ErrInUse)
}

func connectionsPage(t *testing.T, s store.Store, _ *ManualClock) {
	tenant := newTenant()
	ids := pagingIDs("c")
	for _, id := range ids {
		mustCreateConnection(t, s, tenant, id, nil)
	}
	mustCreateConnection(t, s, newTenant(), ids[0], nil) // another tenant's, never listed
	requirePaging(t, ids, func(p store.Page) ([]*datagatewayv1.Connection, error) {
		return s.ListConnections(t.Context(), tenant, p)
	}, func(c *datagatewayv1.Connection) string { return testkit.ResourceID(c.GetName()) })
}

func connectionTenantIsolation(t *testing.T, s store.Store, _ *ManualClock) {
	tenant, intruder := newTenant(), newTenant()
	c := mustCreateConnection(t, s, tenant, "erp", sealed)
	ctx := t.Context()
	_, err := s.GetConnection(ctx, intruder, "erp")
	testkit.RequireErrorIs(t, "GetConnection", err, store.ErrNotFound)
	testkit.RequireErrorIs(t, "UpdateConnection", s.UpdateConnection(ctx, intruder, "erp", "", newConnection(intruder, "erp"), true, nil), store.ErrNotFound)
	testkit.RequireErrorIs(t, "DeleteConnection", s.DeleteConnection(ctx, intruder, "erp", ""), store.ErrNotFound)
	list, err := s.ListConnections(ctx, intruder, everything)
	testkit.RequireNoError(t, "ListConnections", err)
	testkit.RequireEqual(t, "connections listed for the intruder", 0, len(list))
	got, err := s.GetConnection(ctx, tenant, "erp")
	testkit.RequireNoError(t, "GetConnection of the owner", err)
	testkit.RequireProto(t, "the owner's connection", c, got.Connection)
	requireSealed(t, "the owner's credentials", sealed, got.Credentials)
}
