package datagateway_test

import (
	"context"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/protobuf/types/known/fieldmaskpb"

	datagatewayv1 "github.com/oriel-dev/oriel/gen/pb/oriel/datagateway/v1"
	"github.com/oriel-dev/oriel/services/datagateway/internal/store"
)

// fixture is one tenant's resources, enough for every RPC of every service to act on one.
type fixture struct {
	tenant string
	// conn is a direct postgres connection to the test server, with a password; src and
	// dst are the ends of its replications, on a port where nothing listens (so the
	// replication engine, which runs, changes nothing anywhere); spare is used by nothing.
	conn, src, dst, spare string
	// agent and agent2 are agents of pool default.
	agent, agent2 string
	// repl (conn → dst) is paused and resumed; repl2 is deleted.
	repl, repl2 string
}

// newFixture makes the resources of f in tenant as the ISV.
func (s *service) newFixture(t testing.TB, tenant string) fixture {
	t.Helper()
	f := fixture{tenant: tenant}
	f.conn = s.createConnection(t, tenant, "erp", "", "pw-"+tenant).GetName()
	f.src = s.createUnreachable(t, tenant, "crm").GetName()
	f.dst = s.createUnreachable(t, tenant, "warehouse").GetName()
	f.spare = s.createUnreachable(t, tenant, "spare").GetName()
	f.agent = s.createAgent(t, tenant, "dc1", "default").GetName()
	f.agent2 = s.createAgent(t, tenant, "dc2", "default").GetName()
	f.repl = s.createReplication(t, tenant, "copy", "crm", "warehouse").GetName()
	f.repl2 = s.createReplication(t, tenant, "copy2", "crm", "warehouse").GetName()
	return f
}

// ghostFixture names resources of tenant that do not exist.
func ghostFixture(tenant string) fixture {
	return fixture{
		tenant: tenant,
		conn:   store.ConnectionName(tenant, "erp"), src: store.ConnectionName(tenant, "crm"),
		dst:   store.ConnectionName(tenant, "warehouse"),
		spare: store.ConnectionName(tenant, "spare"), agent: store.AgentName(tenant, "dc1"),
		agent2: store.AgentName(tenant, "dc2"), repl: store.ReplicationName(tenant, "copy"),
		repl2: store.ReplicationName(tenant, "copy2"),
	}
}

// rpc is one method call on a fixture's resources.
type rpc struct {
	name string
	// use: callers who may only use connections (tenant role developer) may call it.
	use  bool
	call func(s *service, ctx context.Context, f fixture) error
}

// rpcs are every method of ConnectionService, AgentService and ReplicationService, the
// ones that destroy their resource last, so each runs once against one fixture.
var rpcs = []rpc{
	{"CreateConnection", false, func(s *service, ctx context.Context, f fixture) error {
		return ignore(s.connections.CreateConnection(ctx, &datagatewayv1.CreateConnectionRequest{
			Parent: store.TenantName(f.tenant), ConnectionId: "planted",
			Connection: &datagatewayv1.Connection{DisplayName: "Planted", Postgres: postgresParams()},
		}))
	}},
	{"GetConnection", false, func(s *service, ctx context.Context, f fixture) error {
		return ignore(s.connections.GetConnection(ctx, &datagatewayv1.GetConnectionRequest{Name: f.conn}))
	}},
	{"ListConnections", false, func(s *service, ctx context.Context, f fixture) error {
		return ignore(s.connections.ListConnections(ctx, &datagatewayv1.ListConnectionsRequest{Parent: store.TenantName(f.tenant)}))
	}},
	{"UpdateConnection", false, func(s *service, ctx context.Context, f fixture) error {
		return ignore(s.connections.UpdateConnection(ctx, &datagatewayv1.UpdateConnectionRequest{
			Connection: &datagatewayv1.Connection{Name: f.conn, DisplayName: "Renamed"},
			UpdateMask: &fieldmaskpb.FieldMask{Paths: []string{"display_name"}},
		}))
	}},
	{"TestConnection", true, func(s *service, ctx context.Context, f fixture) error {
		return ignore(s.connections.TestConnection(ctx, &datagatewayv1.TestConnectionRequest{Name: f.conn}))
	}},
	{"Query", true, func(s *service, ctx context.Context, f fixture) error {
		return firstMessage(s.connections.Query(ctx, &datagatewayv1.QueryRequest{Name: f.conn, Statement: "SELECT 1 AS one"}))
	}},
	{"CreateAgent", false, func(s *service, ctx context.Context, f fixture) error {
		return ignore(s.agents.CreateAgent(ctx, &datagatewayv1.CreateAgentRequest{
			Parent: store.TenantName(f.tenant), AgentId: "planted", Agent: &datagatewayv1.Agent{DisplayName: "Planted"},
		}))
	}},
	{"GetAgent", false, func(s *service, ctx context.Context, f fixture) error {
		return ignore(s.agents.GetAgent(ctx, &datagatewayv1.GetAgentRequest{Name: f.agent}))
	}},
	{"ListAgents", false, func(s *service, ctx context.Context, f fixture) error {
		return ignore(s.agents.ListAgents(ctx, &datagatewayv1.ListAgentsRequest{Parent: store.TenantName(f.tenant)}))
	}},
	{"CreateEnrollmentToken", false, func(s *service, ctx context.Context, f fixture) error {
		return ignore(s.agents.CreateEnrollmentToken(ctx, &datagatewayv1.CreateEnrollmentTokenRequest{Name: f.agent}))
	}},
	{"CreateReplication", false, func(s *service, ctx context.Context, f fixture) error {
		return ignore(s.replications.CreateReplication(ctx, &datagatewayv1.CreateReplicationRequest{
			Parent: store.TenantName(f.tenant), ReplicationId: "planted",
			Replication: &datagatewayv1.Replication{
				DisplayName: "Planted", SourceConnection: f.src, TargetConnection: f.dst, Tables: []string{"t"},
			},
		}))
	}},
	{"GetReplication", false, func(s *service, ctx context.Context, f fixture) error {
		return ignore(s.replications.GetReplication(ctx, &datagatewayv1.GetReplicationRequest{Name: f.repl}))
	}},
	{"ListReplications", false, func(s *service, ctx context.Context, f fixture) error {
		return ignore(s.replications.ListReplications(ctx, &datagatewayv1.ListReplicationsRequest{Parent: store.TenantName(f.tenant)}))
	}},
	{"WatchReplication", false, func(s *service, ctx context.Context, f fixture) error {
		ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		defer cancel()
		return firstMessage(s.replications.WatchReplication(ctx, &datagatewayv1.WatchReplicationRequest{Name: f.repl}))
	}},
	{"PauseReplication", false, func(s *service, ctx context.Context, f fixture) error {
		return ignore(s.replications.PauseReplication(ctx, &datagatewayv1.PauseReplicationRequest{Name: f.repl}))
	}},
	{"ResumeReplication", false, func(s *service, ctx context.Context, f fixture) error {
		// After PauseReplication for callers who may; for the others the state does not
		// matter: they are refused before it is looked at.
		return ignore(s.replications.ResumeReplication(ctx, &datagatewayv1.ResumeReplicationRequest{Name: f.repl}))
	}},
	{"RevokeAgent", false, func(s *service, ctx context.Context, f fixture) error {
		return ignore(s.agents.RevokeAgent(ctx, &datagatewayv1.RevokeAgentRequest{Name: f.agent}))
	}},
	{"DeleteAgent", false, func(s *service, ctx context.Context, f fixture) error {
		return ignore(s.agents.DeleteAgent(ctx, &datagatewayv1.DeleteAgentRequest{Name: f.agent2}))
	}},
	{"DeleteReplication", false, func(s *service, ctx context.Context, f fixture) error {
		return ignore(s.replications.DeleteReplication(ctx, &datagatewayv1.DeleteReplicationRequest{Name: f.repl2}))
	}},
	{"DeleteConnection", false, func(s *service, ctx context.Context, f fixture) error {
		return ignore(s.connections.DeleteConnection(ctx, &datagatewayv1.DeleteConnectionRequest{Name: f.spare}))
	}},
}

// TestEveryMethodIsCovered keeps rpcs complete: a method added to a service without a
// row in the matrix and the isolation test fails here.
func TestEveryMethodIsCovered(t *testing.T) {
	t.Parallel()
	covered := map[string]bool{}
	for _, r := range rpcs {
		covered[r.name] = true
	}
	for _, sd := range []grpc.ServiceDesc{
		datagatewayv1.ConnectionService_ServiceDesc,
		datagatewayv1.AgentService_ServiceDesc,
		datagatewayv1.ReplicationService_ServiceDesc,
	} {
		var methods []string
		for _, m := range sd.Methods {
			methods = append(methods, m.MethodName)
		}
		for _, m := range sd.Streams {
			methods = append(methods, m.StreamName)
		}
		for _, m := range methods {
			if !covered[m] {
				t.Errorf("%s.%s has no row in rpcs", sd.ServiceName, m)
			}
		}
	}
}
