package datagateway_test

import (
	"context"
	"testing"
	"time"

	"google.golang.org/grpc/codes"

	datagatewayv1 "github.com/oriel-dev/oriel/gen/pb/oriel/datagateway/v1"
	"github.com/oriel-dev/oriel/platform/testkit"
	"github.com/oriel-dev/oriel/services/datagateway/internal/store"
)

func TestReplicationsNeedPostgresConnectionsOfTheirTenant(t *testing.T) {
	t.Parallel()
	s := startService(t)
	tenant := testkit.UniqueID("t")
	s.createUnreachable(t, tenant, "src")
	s.createUnreachable(t, tenant, "dst")
	_, err := s.connections.CreateConnection(s.isv, &datagatewayv1.CreateConnectionRequest{
		Parent: store.TenantName(tenant), ConnectionId: "shop",
		Connection: &datagatewayv1.Connection{DisplayName: "Shop", Mysql: &datagatewayv1.MysqlParams{Host: "127.0.0.1", Port: 1, Database: "d", User: "u"}},
	})
	if err != nil {
		t.Fatal(err)
	}
	create := func(source, target string, tables ...string) error {
		_, err := s.replications.CreateReplication(s.isv, &datagatewayv1.CreateReplicationRequest{
			Parent:      store.TenantName(tenant),
			Replication: &datagatewayv1.Replication{DisplayName: "Copy", SourceConnection: source, TargetConnection: target, Tables: tables},
		})
		return err
	}
	conn := func(id string) string { return store.ConnectionName(tenant, id) }
	wantCode(t, create(conn("shop"), conn("dst"), "t"), codes.FailedPrecondition, "CONNECTION_KIND")
	wantCode(t, create(conn("src"), conn("shop"), "t"), codes.FailedPrecondition, "CONNECTION_KIND")
	// Either end may be routed through an agent pool: the engine reaches it through a tunnel.
	s.createConnection(t, tenant, "remote", "default", "")
	for _, ends := range [][2]string{{"remote", "dst"}, {"src", "remote"}} {
		r, err := s.replications.CreateReplication(s.isv, &datagatewayv1.CreateReplicationRequest{
			Parent:      store.TenantName(tenant),
			Replication: &datagatewayv1.Replication{DisplayName: "Remote", SourceConnection: conn(ends[0]), TargetConnection: conn(ends[1]), Tables: []string{"t"}},
		})
		if err != nil || r.GetReplication().GetSourceConnection() != conn(ends[0]) || r.GetReplication().GetTargetConnection() != conn(ends[1]) {
			t.Fatalf("replication from %s to %s = %v, %v; want it created", ends[0], ends[1], r, err)
		}
	}
	wantCode(t, create(conn("src"), conn("nosuch"), "t"), codes.NotFound, "RESOURCE_NOT_FOUND")
	wantCode(t, create(conn("src"), store.ConnectionName(testkit.UniqueID("other"), "dst"), "t"), codes.InvalidArgument, "INVALID_REQUEST")
	wantCode(t, create(conn("src"), conn("src"), "t"), codes.InvalidArgument, "INVALID_REQUEST")
	wantCode(t, create(conn("src"), conn("dst")), codes.InvalidArgument, "INVALID_REQUEST")
	wantCode(t, create(conn("src"), conn("dst"), "bad table!"), codes.InvalidArgument, "INVALID_REQUEST")

	r := s.createReplication(t, tenant, "copy", "src", "dst")
	if r.GetState() != datagatewayv1.Replication_STATE_SNAPSHOTTING || r.GetSlotName() != "oriel_"+sanitize(tenant)+"_copy" ||
		r.GetSourceConnection() != conn("src") || r.GetEtag() == "" || r.GetAppliedLsn() != "0/0" {
		t.Fatalf("created %v", r)
	}
}

// sanitize is what slot names make of an id: hyphens become underscores.
func sanitize(id string) string {
	b := []byte(id)
	for i, c := range b {
		if c == '-' {
			b[i] = '_'
		}
	}
	return string(b)
}

// TestReplicationStateMachine pauses, resumes and deletes a replication as callers do;
// the engine's own moves (SNAPSHOTTING → STREAMING, FAILED) are its package's to test.
func TestReplicationStateMachine(t *testing.T) {
	t.Parallel()
	s := startService(t)
	tenant := testkit.UniqueID("t")
	s.createUnreachable(t, tenant, "src")
	s.createUnreachable(t, tenant, "dst")
	name := s.createReplication(t, tenant, "copy", "src", "dst").GetName()
	pause := func() (*datagatewayv1.Replication, error) {
		r, err := s.replications.PauseReplication(s.isv, &datagatewayv1.PauseReplicationRequest{Name: name})
		return r.GetReplication(), err
	}
	resume := func() (*datagatewayv1.Replication, error) {
		r, err := s.replications.ResumeReplication(s.isv, &datagatewayv1.ResumeReplicationRequest{Name: name})
		return r.GetReplication(), err
	}

	// The engine may have failed it already (nothing listens at the source): either way
	// a pause or a resume brings it to a known state.
	if r, err := pause(); err != nil {
		wantCode(t, err, codes.FailedPrecondition, "REPLICATION_STATE")
		if got, _ := s.store.GetReplication(t.Context(), tenant, "copy"); got.State != datagatewayv1.Replication_STATE_FAILED {
			t.Fatalf("pause refused in state %v", got.State)
		}
	} else if r.GetState() != datagatewayv1.Replication_STATE_PAUSED {
		t.Fatalf("paused: %v", r)
	}
	_, err := pause()
	wantCode(t, err, codes.FailedPrecondition, "REPLICATION_STATE")
	r := must[*datagatewayv1.Replication](t)(resume())
	if r.GetState() != datagatewayv1.Replication_STATE_SNAPSHOTTING || r.GetLastError() != "" {
		t.Fatalf("resumed before any snapshot: %v", r)
	}

	must[*datagatewayv1.DeleteReplicationResponse](t)(s.replications.DeleteReplication(s.isv, &datagatewayv1.DeleteReplicationRequest{Name: name}))
	// Until the engine drops the slot (it cannot reach this source), Get shows it, and it
	// may be neither paused nor resumed.
	stored, err := s.store.GetReplication(t.Context(), tenant, "copy")
	if err != nil || !stored.Deleting {
		t.Fatalf("after delete: %+v, %v", stored, err)
	}
	_, err = pause()
	wantCode(t, err, codes.FailedPrecondition, "REPLICATION_STATE")
	_, err = resume()
	wantCode(t, err, codes.FailedPrecondition, "REPLICATION_STATE")
	// Deleting again is harmless.
	must[*datagatewayv1.DeleteReplicationResponse](t)(s.replications.DeleteReplication(s.isv, &datagatewayv1.DeleteReplicationRequest{Name: name}))
}

// TestWatchSendsEachChange watches a replication and pauses it: the watch sends the
// replication as it was, then as it is.
func TestWatchSendsEachChange(t *testing.T) {
	t.Parallel()
	s := startService(t)
	tenant := testkit.UniqueID("t")
	s.createUnreachable(t, tenant, "src")
	s.createUnreachable(t, tenant, "dst")
	name := s.createReplication(t, tenant, "copy", "src", "dst").GetName()
	// Paused first, so the engine leaves it alone and only the test changes it.
	must[*datagatewayv1.PauseReplicationResponse](t)(s.replications.PauseReplication(s.isv, &datagatewayv1.PauseReplicationRequest{Name: name}))
	ctx, cancel := context.WithTimeout(s.isv, time.Minute)
	defer cancel()
	stream, err := s.replications.WatchReplication(ctx, &datagatewayv1.WatchReplicationRequest{Name: name})
	if err != nil {
		t.Fatal(err)
	}
	first, err := stream.Recv()
	if err != nil || (first.GetReplication().GetState() != datagatewayv1.Replication_STATE_PAUSED &&
		first.GetReplication().GetState() != datagatewayv1.Replication_STATE_FAILED) {
		t.Fatalf("first message %v, %v", first, err)
	}
	must[*datagatewayv1.ResumeReplicationResponse](t)(s.replications.ResumeReplication(s.isv, &datagatewayv1.ResumeReplicationRequest{Name: name}))
	for {
		next, err := stream.Recv()
		if err != nil {
			t.Fatal(err)
		}
		if next.GetReplication().GetEtag() == first.GetReplication().GetEtag() {
			t.Fatalf("the watch sent an unchanged replication again: %v", next)
		}
		// The engine may move it on after the resume (to FAILED: nothing listens at the
		// source); either way a change arrives.
		if next.GetReplication().GetState() != first.GetReplication().GetState() || next.GetReplication().GetLastError() != first.GetReplication().GetLastError() {
			return
		}
	}
}

func TestReplicationsPageThroughEveryOneOnce(t *testing.T) {
	t.Parallel()
	s := startService(t)
	tenant := testkit.UniqueID("t")
	s.createUnreachable(t, tenant, "src")
	s.createUnreachable(t, tenant, "dst")
	var want []string
	for _, id := range []string{"r-c", "r-10", "r-a", "r-9"} {
		want = append(want, s.createReplication(t, tenant, id, "src", "dst").GetName())
	}
	var got []string
	req := &datagatewayv1.ListReplicationsRequest{Parent: store.TenantName(tenant), PageSize: 3}
	for {
		resp := must[*datagatewayv1.ListReplicationsResponse](t)(s.replications.ListReplications(s.isv, req))
		for _, r := range resp.GetReplications() {
			got = append(got, r.GetName())
		}
		if resp.GetNextPageToken() == "" {
			break
		}
		req.PageToken = resp.GetNextPageToken()
	}
	wantSorted := []string{want[1], want[3], want[2], want[0]}
	for i := range wantSorted {
		if i >= len(got) || got[i] != wantSorted[i] || len(got) != len(wantSorted) {
			t.Fatalf("listed %q, want %q", got, wantSorted)
		}
	}
}
