package datagateway_test

import (
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc/codes"

	datagatewayv1 "github.com/oriel-dev/oriel/gen/pb/oriel/datagateway/v1"
	"github.com/oriel-dev/oriel/platform/auth"
	"github.com/oriel-dev/oriel/platform/testkit"
	"github.com/oriel-dev/oriel/services/datagateway/internal/store"
	"github.com/oriel-dev/oriel/services/datagateway/internal/tunnel"
)

func (s *service) getAgent(t testing.TB, name string) *datagatewayv1.Agent {
	t.Helper()
	return must[*datagatewayv1.GetAgentResponse](t)(s.agents.GetAgent(s.isv, &datagatewayv1.GetAgentRequest{Name: name})).GetAgent()
}

func (s *service) enrollmentToken(t testing.TB, name string) *datagatewayv1.CreateEnrollmentTokenResponse {
	t.Helper()
	return must[*datagatewayv1.CreateEnrollmentTokenResponse](t)(s.agents.CreateEnrollmentToken(s.isv, &datagatewayv1.CreateEnrollmentTokenRequest{Name: name}))
}

// TestAgentLifecycle follows an agent from creation through enrollment, a stream the
// hub records, revocation and deletion, as the API shows it.
func TestAgentLifecycle(t *testing.T) {
	t.Parallel()
	s := startService(t)
	tenant := testkit.UniqueID("t")
	a := s.createAgent(t, tenant, "dc1", "")
	if a.GetPool() != "default" || a.GetState() != datagatewayv1.Agent_STATE_NOT_ENROLLED || a.GetCreateTime() == nil {
		t.Fatalf("created %v", a)
	}
	_, err := s.agents.CreateAgent(s.isv, &datagatewayv1.CreateAgentRequest{Parent: store.TenantName(tenant), AgentId: "dc1",
		Agent: &datagatewayv1.Agent{DisplayName: "again"}})
	wantCode(t, err, codes.AlreadyExists, "RESOURCE_ALREADY_EXISTS")

	tok := s.enrollmentToken(t, a.GetName())
	if !strings.HasPrefix(tok.GetEnrollmentToken(), "oriel_ae_") {
		t.Fatalf("token %q", tok.GetEnrollmentToken())
	}
	if got, want := tok.GetExpireTime().AsTime().Sub(s.clock.Now()), time.Hour; got > want || got < want-time.Minute {
		t.Fatalf("token expires in %s, want an hour", got)
	}
	agent, credential, err := s.store.Enroll(t.Context(), tok.GetEnrollmentToken())
	if err != nil || agent != a.GetName() || !strings.HasPrefix(credential, "oriel_ac_") {
		t.Fatalf("Enroll = %q, %q, %v", agent, credential, err)
	}
	if got := s.getAgent(t, a.GetName()); got.GetState() != datagatewayv1.Agent_STATE_DISCONNECTED || got.GetEnrollTime() == nil {
		t.Fatalf("after enrolling: %v", got)
	}

	// The hub records a stream; the API shows it.
	now := s.clock.Now()
	if err := s.store.RecordStatus(t.Context(), tunnel.Status{Agent: a.GetName(), Connected: true, Version: "0.9.1", Hostname: "db-host",
		ConnectTime: now, LastHeartbeat: now, InFlight: 2}); err != nil {
		t.Fatal(err)
	}
	got := s.getAgent(t, a.GetName())
	if got.GetState() != datagatewayv1.Agent_STATE_CONNECTED || got.GetVersion() != "0.9.1" || got.GetHostname() != "db-host" ||
		got.GetInFlightQueries() != 2 || got.GetConnectTime() == nil || got.GetLastHeartbeatTime() == nil {
		t.Fatalf("while connected: %v", got)
	}
	// Not heard from for longer than the heartbeat timeout: its replica may be gone.
	s.clock.Advance(time.Minute)
	if got := s.getAgent(t, a.GetName()); got.GetState() != datagatewayv1.Agent_STATE_DISCONNECTED {
		t.Fatalf("after a silent minute: %v", got)
	}

	revoked := must[*datagatewayv1.RevokeAgentResponse](t)(s.agents.RevokeAgent(s.isv, &datagatewayv1.RevokeAgentRequest{Name: a.GetName()})).GetAgent()
	if revoked.GetState() != datagatewayv1.Agent_STATE_REVOKED {
		t.Fatalf("revoked: %v", revoked)
	}
	if _, err := s.store.Authenticate(t.Context(), credential); err != auth.ErrInvalidCredential {
		t.Fatalf("Authenticate after revoking = %v, want an invalid credential", err)
	}
	// It may enroll again with a new token.
	_, fresh, err := s.store.Enroll(t.Context(), s.enrollmentToken(t, a.GetName()).GetEnrollmentToken())
	if err != nil {
		t.Fatal(err)
	}
	if id, err := s.store.Authenticate(t.Context(), fresh); err != nil || id.Tenant != tenant || id.Pool != "default" {
		t.Fatalf("Authenticate after enrolling again = %+v, %v", id, err)
	}

	must[*datagatewayv1.DeleteAgentResponse](t)(s.agents.DeleteAgent(s.isv, &datagatewayv1.DeleteAgentRequest{Name: a.GetName()}))
	_, err = s.agents.GetAgent(s.isv, &datagatewayv1.GetAgentRequest{Name: a.GetName()})
	wantCode(t, err, codes.NotFound, "RESOURCE_NOT_FOUND")
	if _, err := s.store.Authenticate(t.Context(), fresh); err != auth.ErrInvalidCredential {
		t.Fatalf("Authenticate after deleting = %v, want an invalid credential", err)
	}
}

// TestEnrollmentTokensAreSingleUseAndExpire spends tokens through the AgentTunnelService's
// store, as Enroll does.
func TestEnrollmentTokensAreSingleUseAndExpire(t *testing.T) {
	t.Parallel()
	s := startService(t)
	tenant := testkit.UniqueID("t")
	name := s.createAgent(t, tenant, "dc1", "east").GetName()

	tok := s.enrollmentToken(t, name).GetEnrollmentToken()
	if _, _, err := s.store.Enroll(t.Context(), tok); err != nil {
		t.Fatal(err)
	}
	if _, _, err := s.store.Enroll(t.Context(), tok); err != auth.ErrInvalidCredential {
		t.Fatalf("a second Enroll with one token = %v, want an invalid credential", err)
	}

	replaced := s.enrollmentToken(t, name).GetEnrollmentToken()
	latest := s.enrollmentToken(t, name).GetEnrollmentToken()
	if _, _, err := s.store.Enroll(t.Context(), replaced); err != auth.ErrInvalidCredential {
		t.Fatalf("Enroll with a replaced token = %v, want an invalid credential", err)
	}
	s.clock.Advance(time.Hour + time.Second)
	if _, _, err := s.store.Enroll(t.Context(), latest); err != auth.ErrInvalidCredential {
		t.Fatalf("Enroll with an expired token = %v, want an invalid credential", err)
	}
	if _, _, err := s.store.Enroll(t.Context(), s.enrollmentToken(t, name).GetEnrollmentToken()); err != nil {
		t.Fatalf("Enroll with a fresh token after expiry: %v", err)
	}
}

func TestAgentsPageThroughEveryOneOnce(t *testing.T) {
	t.Parallel()
	s := startService(t)
	tenant := testkit.UniqueID("t")
	var want []string
	for _, id := range []string{"a-c", "a-9", "a-a", "a-10", "a-b"} {
		want = append(want, s.createAgent(t, tenant, id, "default").GetName())
	}
	s.createAgent(t, testkit.UniqueID("other"), "a-a", "default")
	var got []string
	req := &datagatewayv1.ListAgentsRequest{Parent: store.TenantName(tenant), PageSize: 2}
	for {
		resp := must[*datagatewayv1.ListAgentsResponse](t)(s.agents.ListAgents(s.isv, req))
		for _, a := range resp.GetAgents() {
			got = append(got, a.GetName())
		}
		if resp.GetNextPageToken() == "" {
			break
		}
		req.PageToken = resp.GetNextPageToken()
	}
	wantSorted := []string{store.AgentName(tenant, "a-10"), store.AgentName(tenant, "a-9"), store.AgentName(tenant, "a-a"),
		store.AgentName(tenant, "a-b"), store.AgentName(tenant, "a-c")}
	if strings.Join(got, ",") != strings.Join(wantSorted, ",") {
		t.Fatalf("listed %q, want %q", got, wantSorted)
	}
	_ = want
}
