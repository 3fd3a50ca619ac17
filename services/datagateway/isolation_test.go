package datagateway_test

import (
	"context"
	"strings"
	"testing"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	datagatewayv1 "github.com/oriel-dev/oriel/gen/pb/oriel/datagateway/v1"
	"github.com/oriel-dev/oriel/platform/apierr"
	"github.com/oriel-dev/oriel/platform/auth"
	"github.com/oriel-dev/oriel/platform/testkit"
	"github.com/oriel-dev/oriel/services/datagateway/internal/store"
)

// TestCrossTenantIsolation gives every RPC another tenant's resources, as callers with
// every power in their own tenant: each is NOT_FOUND, worded exactly as for resources that
// do not exist, and the victim's resources are untouched. The intruder's tenant holds the
// same ids, so an id alone must never reach across.
func TestCrossTenantIsolation(t *testing.T) {
	t.Parallel()
	s := startService(t)
	victim, intruder, nobody := testkit.UniqueID("victim"), testkit.UniqueID("intruder"), testkit.UniqueID("nobody")
	real := s.newFixture(t, victim)
	s.newFixture(t, intruder)
	ghost := ghostFixture(nobody)

	intruders := map[string]*auth.Principal{
		"tenant account with datagateway.admin": tenantAccount(intruder, "backend", auth.ScopeDatagatewayAdmin),
		"embed admin":                           embedUser(intruder, "ada", "admin"),
		"embed developer":                       embedUser(intruder, "dev", "developer"),
	}
	for who, p := range intruders {
		t.Run(who, func(t *testing.T) {
			ctx := s.as(p)
			for _, r := range rpcs {
				err := r.call(s, ctx, real)
				if status.Code(err) != codes.NotFound || apierr.Reason(err) != "RESOURCE_NOT_FOUND" {
					t.Errorf("%s on the victim's: %v, want NOT_FOUND", r.name, err)
					continue
				}
				ghostErr := r.call(s, ctx, ghost)
				if got, want := neutral(err, victim), neutral(ghostErr, nobody); got != want {
					t.Errorf("%s: the victim's resource answers %q, a missing one %q", r.name, got, want)
				}
			}
			// In its own tenant, the victim's connections are refused by name alone.
			for _, f := range []fixture{real, ghost} {
				_, err := s.replications.CreateReplication(ctx, &datagatewayv1.CreateReplicationRequest{
					Parent: store.TenantName(intruder), ReplicationId: "stolen",
					Replication: &datagatewayv1.Replication{DisplayName: "Stolen", SourceConnection: f.conn,
						TargetConnection: store.ConnectionName(intruder, "warehouse"), Tables: []string{"t"}},
				})
				if status.Code(err) != codes.InvalidArgument && status.Code(err) != codes.PermissionDenied {
					t.Errorf("CreateReplication from %s into its own tenant: %v, want INVALID_ARGUMENT (or PERMISSION_DENIED)", f.conn, err)
				}
			}
		})
	}

	// The victim's resources are as they were.
	conn := must[*datagatewayv1.GetConnectionResponse](t)(s.connections.GetConnection(s.isv, &datagatewayv1.GetConnectionRequest{Name: real.conn}))
	if conn.GetConnection().GetDisplayName() != "Connection erp" {
		t.Errorf("the victim's connection changed: %v", conn.GetConnection())
	}
	agent := must[*datagatewayv1.GetAgentResponse](t)(s.agents.GetAgent(s.isv, &datagatewayv1.GetAgentRequest{Name: real.agent}))
	if agent.GetAgent().GetState() != datagatewayv1.Agent_STATE_NOT_ENROLLED {
		t.Errorf("the victim's agent changed: %v", agent.GetAgent())
	}
	// The engine runs and may record its failures to reach the source; only callers
	// pause, resume and delete.
	for _, id := range []string{"copy", "copy2"} {
		r, err := s.store.GetReplication(t.Context(), victim, id)
		if err != nil || r.Deleting || r.State == datagatewayv1.Replication_STATE_PAUSED {
			t.Errorf("the victim's replication %s changed: %+v, %v", id, r, err)
		}
	}
	assertOnlyTenant(t, s, s.as(intruders["tenant account with datagateway.admin"]), intruder)
	assertOnlyTenant(t, s, s.isv, victim)
}

// neutral is an error's code and message with the tenant id taken out.
func neutral(err error, tenant string) string {
	st, _ := status.FromError(err)
	return st.Code().String() + ": " + strings.ReplaceAll(st.Message(), tenant, "TENANT")
}

// assertOnlyTenant lists every collection of tenant as ctx and fails on an item of any
// other tenant.
func assertOnlyTenant(t *testing.T, s *service, ctx context.Context, tenant string) {
	t.Helper()
	parent := store.TenantName(tenant)
	var names []string
	conns := must[*datagatewayv1.ListConnectionsResponse](t)(s.connections.ListConnections(ctx, &datagatewayv1.ListConnectionsRequest{Parent: parent}))
	for _, c := range conns.GetConnections() {
		names = append(names, c.GetName())
	}
	agents := must[*datagatewayv1.ListAgentsResponse](t)(s.agents.ListAgents(ctx, &datagatewayv1.ListAgentsRequest{Parent: parent}))
	for _, a := range agents.GetAgents() {
		names = append(names, a.GetName())
	}
	repls := must[*datagatewayv1.ListReplicationsResponse](t)(s.replications.ListReplications(ctx, &datagatewayv1.ListReplicationsRequest{Parent: parent}))
	for _, r := range repls.GetReplications() {
		names = append(names, r.GetName(), r.GetSourceConnection(), r.GetTargetConnection())
	}
	if len(names) == 0 {
		t.Fatalf("%s lists nothing", parent)
	}
	for _, n := range names {
		if !strings.HasPrefix(n, parent+"/") {
			t.Errorf("listing %s shows %s", parent, n)
		}
	}
}
