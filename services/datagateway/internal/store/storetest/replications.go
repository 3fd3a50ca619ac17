package storetest

import (
	"errors"
	"testing"
	"time"

	datagatewayv1 "github.com/oriel-dev/oriel/gen/pb/oriel/datagateway/v1"
	"github.com/oriel-dev/oriel/platform/testkit"
	"github.com/oriel-dev/oriel/services/datagateway/internal/store"
)

var replicationBehaviours = []behaviour{
	{"a created replication reads back with every field", replicationRoundTrips},
	{"a replication needs both its connections in its own tenant", replicationNeedsConnections},
	{"a taken replication id or slot is refused", replicationIDTaken},
	{"changing a replication writes state, error and deleting, and a new etag", changeReplication},
	{"an error from the change writes nothing", changeReplicationRefused},
	{"limit and after id page through every replication exactly once", replicationsPage},
	{"a replication of another tenant is not found", replicationTenantIsolation},
}

func newReplication(tenant, id, source, target string) *store.Replication {
	return &store.Replication{
		Tenant: tenant, ID: id, DisplayName: "Copy " + id,
		SourceConnection: source, TargetConnection: target,
		Tables:   []string{"public.orders", "customers"},
		State:    datagatewayv1.Replication_STATE_SNAPSHOTTING,
		SlotName: store.SlotName(tenant, id),
		// Set so a round trip proves every column is written and read.
		Warnings:   []string{"retained WAL is 2 GiB"},
		CreateTime: epoch, UpdateTime: at(time.Microsecond),
	}
}

func mustCreateReplication(t *testing.T, s store.Store, tenant, id, source, target string) *store.Replication {
	t.Helper()
	r := newReplication(tenant, id, source, target)
	testkit.RequireNoError(t, "CreateReplication "+id, s.CreateReplication(t.Context(), r))
	if r.Etag == "" {
		t.Fatalf("CreateReplication(%s) left the etag empty", r.Name())
	}
	return r
}

func requireReplication(t *testing.T, what string, want, got *store.Replication) {
	t.Helper()
	if want.Name() != got.Name() || want.DisplayName != got.DisplayName || want.SourceConnection != got.SourceConnection ||
		want.TargetConnection != got.TargetConnection || want.State != got.State || want.Deleting != got.Deleting ||
		want.SnapshotDone != got.SnapshotDone || want.SlotName != got.SlotName || want.AppliedLSN != got.AppliedLSN ||
		want.LastError != got.LastError || want.LeaseOwner != got.LeaseOwner ||
		!want.CreateTime.Equal(got.CreateTime) || !want.UpdateTime.Equal(got.UpdateTime) || want.Etag != got.Etag {
		t.Fatalf("%s:\ngot  %+v\nwant %+v", what, got, want)
	}
	testkit.RequireStrings(t, what+" tables", want.Tables, got.Tables)
	testkit.RequireStrings(t, what+" warnings", want.Warnings, got.Warnings)
}

func withConnections(t *testing.T, s store.Store, tenant string, ids ...string) {
	t.Helper()
	for _, id := range ids {
		mustCreateConnection(t, s, tenant, id, nil)
	}
}

func replicationRoundTrips(t *testing.T, s store.Store, _ *ManualClock) {
	tenant := newTenant()
	withConnections(t, s, tenant, "src", "dst")
	want := mustCreateReplication(t, s, tenant, "r1", "src", "dst")
	got, err := s.GetReplication(t.Context(), tenant, "r1")
	testkit.RequireNoError(t, "GetReplication", err)
	requireReplication(t, "GetReplication", want, got)
}

func replicationNeedsConnections(t *testing.T, s store.Store, _ *ManualClock) {
	tenant, other := newTenant(), newTenant()
	withConnections(t, s, tenant, "src")
	withConnections(t, s, other, "dst")
	err := s.CreateReplication(t.Context(), newReplication(tenant, "r1", "src", "dst"))
	testkit.RequireErrorIs(t, "CreateReplication with the target in another tenant", err, store.ErrNotFound)
	var missing *store.MissingError
	if !errors.As(err, &missing) || missing.Name != store.ConnectionName(tenant, "dst") {
		t.Fatalf("CreateReplication: %v, want the missing %s named", err, store.ConnectionName(tenant, "dst"))
	}
	err = s.CreateReplication(t.Context(), newReplication(tenant, "r1", "nosuch", "src"))
	if !errors.As(err, &missing) || missing.Name != store.ConnectionName(tenant, "nosuch") {
		t.Fatalf("CreateReplication: %v, want the missing source named", err)
	}
	_, err = s.GetReplication(t.Context(), tenant, "r1")
	testkit.RequireErrorIs(t, "GetReplication after refusals", err, store.ErrNotFound)
}

func replicationIDTaken(t *testing.T, s store.Store, _ *ManualClock) {
	tenant := newTenant()
	withConnections(t, s, tenant, "src", "dst")
	mustCreateReplication(t, s, tenant, "r1", "src", "dst")
	testkit.RequireErrorIs(t, "CreateReplication again", s.CreateReplication(t.Context(), newReplication(tenant, "r1", "src", "dst")), store.ErrAlreadyExists)
	sameSlot := newReplication(tenant, "r2", "src", "dst")
	sameSlot.SlotName = store.SlotName(tenant, "r1")
	testkit.RequireErrorIs(t, "CreateReplication with a taken slot", s.CreateReplication(t.Context(), sameSlot), store.ErrAlreadyExists)
	other := newTenant()
	withConnections(t, s, other, "src", "dst")
	mustCreateReplication(t, s, other, "r1", "src", "dst")
}

func changeReplication(t *testing.T, s store.Store, _ *ManualClock) {
	tenant := newTenant()
	withConnections(t, s, tenant, "src", "dst")
	first := mustCreateReplication(t, s, tenant, "r1", "src", "dst")
	got, err := s.ChangeReplication(t.Context(), tenant, "r1", at(time.Minute), func(r *store.Replication) error {
		requireReplication(t, "what the change sees", first, r)
		r.State = datagatewayv1.Replication_STATE_FAILED
		r.LastError = "the source went away"
		r.Deleting = true
		r.DisplayName = "not written"
		return nil
	})
	testkit.RequireNoError(t, "ChangeReplication", err)
	if got.Etag == first.Etag {
		t.Fatal("ChangeReplication kept the etag")
	}
	read, err := s.GetReplication(t.Context(), tenant, "r1")
	testkit.RequireNoError(t, "GetReplication", err)
	want := *first
	want.State, want.LastError, want.Deleting, want.UpdateTime, want.Etag =
		datagatewayv1.Replication_STATE_FAILED, "the source went away", true, at(time.Minute), got.Etag
	requireReplication(t, "after the change", &want, read)
	_, err = s.ChangeReplication(t.Context(), tenant, "nosuch", at(time.Minute), func(*store.Replication) error { return nil })
	testkit.RequireErrorIs(t, "ChangeReplication of a missing one", err, store.ErrNotFound)
}

func changeReplicationRefused(t *testing.T, s store.Store, _ *ManualClock) {
	tenant := newTenant()
	withConnections(t, s, tenant, "src", "dst")
	first := mustCreateReplication(t, s, tenant, "r1", "src", "dst")
	_, err := s.ChangeReplication(t.Context(), tenant, "r1", at(time.Minute), func(r *store.Replication) error {
		r.State = datagatewayv1.Replication_STATE_PAUSED
		return &store.StateError{State: r.State}
	})
	testkit.RequireErrorIs(t, "ChangeReplication refused", err, store.ErrStateConflict)
	read, err := s.GetReplication(t.Context(), tenant, "r1")
	testkit.RequireNoError(t, "GetReplication", err)
	requireReplication(t, "after a refused change", first, read)
}

func replicationsPage(t *testing.T, s store.Store, _ *ManualClock) {
	tenant := newTenant()
	withConnections(t, s, tenant, "src", "dst")
	ids := pagingIDs("r")
	for _, id := range ids {
		mustCreateReplication(t, s, tenant, id, "src", "dst")
	}
	requirePaging(t, ids, func(p store.Page) ([]*store.Replication, error) {
		return s.ListReplications(t.Context(), tenant, p)
	}, func(r *store.Replication) string { return r.ID })
}

func replicationTenantIsolation(t *testing.T, s store.Store, _ *ManualClock) {
	tenant, intruder := newTenant(), newTenant()
	withConnections(t, s, tenant, "src", "dst")
	mustCreateReplication(t, s, tenant, "r1", "src", "dst")
	_, err := s.GetReplication(t.Context(), intruder, "r1")
	testkit.RequireErrorIs(t, "GetReplication", err, store.ErrNotFound)
	_, err = s.ChangeReplication(t.Context(), intruder, "r1", epoch, func(*store.Replication) error { return nil })
	testkit.RequireErrorIs(t, "ChangeReplication", err, store.ErrNotFound)
	list, err := s.ListReplications(t.Context(), intruder, everything)
	testkit.RequireNoError(t, "ListReplications", err)
	testkit.RequireEqual(t, "replications listed for the intruder", 0, len(list))
}
