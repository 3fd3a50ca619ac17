package datagateway_test

import (
	"context"
	"errors"
	"log/slog"
	"path/filepath"
	"testing"
	"time"

	"google.golang.org/grpc/codes"

	datagatewayv1 "github.com/oriel-dev/oriel/gen/pb/oriel/datagateway/v1"
	"github.com/oriel-dev/oriel/platform/testkit"
	"github.com/oriel-dev/oriel/services/datagateway/internal/agent"
)

// runAgent enrolls agentName with a fresh enrollment token and runs oriel-agent's code
// against the service until the test ends; the channel yields what Run returned.
func (s *service) runAgent(t testing.TB, agentName, version string) <-chan error {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	return s.runAgentUntil(t, ctx, agentName, version)
}

// runAgentUntil is runAgent until ctx ends, which kills the agent: its stream is cut and
// its connections to sources are closed.
func (s *service) runAgentUntil(t testing.TB, ctx context.Context, agentName, version string) <-chan error {
	t.Helper()
	token := s.enrollmentToken(t, agentName).GetEnrollmentToken()
	done := make(chan error, 1)
	go func() {
		done <- agent.Run(ctx, agent.Config{
			Server:          s.srv.GRPCAddr(),
			CredentialFile:  filepath.Join(t.TempDir(), "agent.credential"),
			EnrollmentToken: token,
			Insecure:        true,
			Version:         version,
			Log:             slog.New(slog.DiscardHandler),
			BackoffMin:      50 * time.Millisecond,
			BackoffMax:      200 * time.Millisecond,
		})
	}()
	return done
}

// waitAgentState polls GetAgent until the agent is in state.
func (s *service) waitAgentState(t testing.TB, name string, state datagatewayv1.Agent_State) *datagatewayv1.Agent {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for {
		a := s.getAgent(t, name)
		if a.GetState() == state {
			return a
		}
		if time.Now().After(deadline) {
			t.Fatalf("agent %s is %v, want %v", name, a.GetState(), state)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestAnEnrolledAgentServesItsTenantOnlyUntilRevoked drives the whole path the way a
// customer does: register an agent, enroll oriel-agent with a one-time token, query a
// connection routed through the agent's pool over the service's own API, and revoke it.
func TestAnEnrolledAgentServesItsTenantOnlyUntilRevoked(t *testing.T) {
	t.Parallel()
	s := startService(t)
	tenantA, tenantB := testkit.UniqueID("a"), testkit.UniqueID("b")
	a := s.createAgent(t, tenantA, "warehouse", "default")
	done := s.runAgent(t, a.GetName(), "1.2.3")

	status := s.waitAgentState(t, a.GetName(), datagatewayv1.Agent_STATE_CONNECTED)
	if status.GetVersion() != "1.2.3" || status.GetHostname() == "" || status.GetLastHeartbeatTime() == nil {
		t.Errorf("connected agent status = %v, want its version, host name and a heartbeat", status)
	}

	remote := s.createConnection(t, tenantA, "erp", "default", "")
	msgs, err := s.query(t, &datagatewayv1.QueryRequest{Name: remote.GetName(), Statement: "SELECT g AS n FROM generate_series(1, 250) g"})
	if err != nil {
		t.Fatalf("query through the agent: %v", err)
	}
	var sum int64
	for _, m := range msgs {
		for _, v := range m.GetBatch().GetColumns() {
			for _, n := range v.GetInt64Values() {
				sum += n
			}
		}
	}
	stats := msgs[len(msgs)-1].GetStats()
	if sum != 250*251/2 || stats.GetRows() != 250 || stats.GetAgent() != a.GetName() {
		t.Fatalf("sum %d, stats %v: want 250 rows summing to %d, served by %s", sum, stats, 250*251/2, a.GetName())
	}
	test, err := s.connections.TestConnection(s.isv, &datagatewayv1.TestConnectionRequest{Name: remote.GetName()})
	if err != nil || !test.GetOk() || test.GetAgent() != a.GetName() {
		t.Fatalf("TestConnection through the agent = %v, %v", test, err)
	}

	t.Run("an agent of tenant A never serves tenant B", func(t *testing.T) {
		other := s.createConnection(t, tenantB, "erp", "default", "")
		_, err := s.query(t, &datagatewayv1.QueryRequest{Name: other.GetName(), Statement: "SELECT 1"})
		wantCode(t, err, codes.Unavailable, "AGENT_UNAVAILABLE")
	})

	t.Run("revoking cuts the stream and stops the agent", func(t *testing.T) {
		if _, err := s.agents.RevokeAgent(s.isv, &datagatewayv1.RevokeAgentRequest{Name: a.GetName()}); err != nil {
			t.Fatal(err)
		}
		select {
		case err := <-done:
			if !errors.Is(err, agent.ErrCredentialRejected) {
				t.Fatalf("agent stopped with %v, want ErrCredentialRejected", err)
			}
		case <-time.After(15 * time.Second):
			t.Fatal("the agent still runs after its revocation")
		}
		s.waitAgentState(t, a.GetName(), datagatewayv1.Agent_STATE_REVOKED)
		_, err := s.query(t, &datagatewayv1.QueryRequest{Name: remote.GetName(), Statement: "SELECT 1"})
		wantCode(t, err, codes.Unavailable, "AGENT_UNAVAILABLE")
	})
}
