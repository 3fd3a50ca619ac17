package storetest

import (
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/oriel-dev/oriel/platform/auth"
	"github.com/oriel-dev/oriel/platform/testkit"
	"github.com/oriel-dev/oriel/services/datagateway/internal/store"
	"github.com/oriel-dev/oriel/services/datagateway/internal/tunnel"
)

var agentBehaviours = []behaviour{
	{"a created agent reads back not enrolled", agentRoundTrips},
	{"a taken agent id is taken in its tenant only", agentIDTaken},
	{"recorded stream status reads back; a stale disconnect does not undo a later connect", agentStatus},
	{"a pool's replicas are those of its connected agents heard from lately, but the asker's", agentReplicas},
	{"revoking refuses the credential until the agent enrolls again", revokeAgent},
	{"deleting an agent drops it and its token", deleteAgent},
	{"limit and after id page through every agent exactly once", agentsPage},
	{"an agent of another tenant is not found", agentTenantIsolation},
}

var enrollmentBehaviours = []behaviour{
	{"a token enrolls its agent once, and the credential authenticates it", enrollOnce},
	{"of agents racing with one token, exactly one enrolls", enrollRace},
	{"an expired token does not enroll", enrollExpired},
	{"a new token replaces the unused one", enrollReplaced},
	{"enrolling again replaces the credential", enrollAgain},
	{"made-up tokens and credentials are invalid credentials", madeUpSecrets},
}

func mustCreateAgent(t *testing.T, s store.Store, tenant, id, pool string) *store.Agent {
	t.Helper()
	a := &store.Agent{Tenant: tenant, ID: id, DisplayName: "Agent " + id, Pool: pool, CreateTime: epoch}
	testkit.RequireNoError(t, "CreateAgent "+id, s.CreateAgent(t.Context(), a))
	return a
}

func mustGetAgent(t *testing.T, s store.Store, tenant, id string) *store.Agent {
	t.Helper()
	a, err := s.GetAgent(t.Context(), tenant, id)
	testkit.RequireNoError(t, "GetAgent "+id, err)
	return a
}

// mustEnroll makes a token for the agent and spends it, returning the credential.
func mustEnroll(t *testing.T, s store.Store, clock *ManualClock, tenant, id string) string {
	t.Helper()
	token, err := s.CreateEnrollmentToken(t.Context(), tenant, id, clock.Now(), clock.Now().Add(time.Hour))
	testkit.RequireNoError(t, "CreateEnrollmentToken", err)
	agent, credential, err := s.Enroll(t.Context(), token)
	testkit.RequireNoError(t, "Enroll", err)
	testkit.RequireEqual(t, "enrolled agent", store.AgentName(tenant, id), agent)
	return credential
}

func agentRoundTrips(t *testing.T, s store.Store, _ *ManualClock) {
	tenant := newTenant()
	mustCreateAgent(t, s, tenant, "dc1", "default")
	a := mustGetAgent(t, s, tenant, "dc1")
	testkit.RequireEqual(t, "name", store.AgentName(tenant, "dc1"), a.Name())
	testkit.RequireEqual(t, "display name", "Agent dc1", a.DisplayName)
	testkit.RequireEqual(t, "pool", "default", a.Pool)
	testkit.RequireEqual(t, "enrolled", false, a.Enrolled)
	testkit.RequireEqual(t, "revoked", false, a.Revoked)
	testkit.RequireEqual(t, "connected", false, a.Connected)
	testkit.RequireEqual(t, "create time", epoch, a.CreateTime)
	if a.EnrollTime != nil || a.ConnectTime != nil || a.LastHeartbeat != nil {
		t.Fatalf("a new agent has times: %+v", a)
	}
}

func agentIDTaken(t *testing.T, s store.Store, _ *ManualClock) {
	tenant := newTenant()
	mustCreateAgent(t, s, tenant, "dc1", "default")
	testkit.RequireErrorIs(t, "CreateAgent again", s.CreateAgent(t.Context(), &store.Agent{Tenant: tenant, ID: "dc1", Pool: "p", CreateTime: epoch}), store.ErrAlreadyExists)
	mustCreateAgent(t, s, newTenant(), "dc1", "default")
}

func agentStatus(t *testing.T, s store.Store, clock *ManualClock) {
	tenant := newTenant()
	mustCreateAgent(t, s, tenant, "dc1", "default")
	name := store.AgentName(tenant, "dc1")
	ctx := t.Context()
	first := tunnel.Status{Agent: name, Connected: true, Version: "1.2.3", Hostname: "db-host", ConnectTime: at(time.Minute),
		LastHeartbeat: at(time.Minute + time.Second), InFlight: 3}
	testkit.RequireNoError(t, "RecordStatus", s.RecordStatus(ctx, first))
	a := mustGetAgent(t, s, tenant, "dc1")
	if !a.Connected || a.Version != "1.2.3" || a.Hostname != "db-host" || a.InFlight != 3 ||
		a.ConnectTime == nil || !a.ConnectTime.Equal(first.ConnectTime) || a.LastHeartbeat == nil || !a.LastHeartbeat.Equal(first.LastHeartbeat) {
		t.Fatalf("after connect: %+v", a)
	}

	// The agent reconnects elsewhere; then the first stream's end is recorded.
	second := first
	second.ConnectTime, second.LastHeartbeat, second.InFlight = at(2*time.Minute), at(2*time.Minute), 0
	testkit.RequireNoError(t, "RecordStatus reconnect", s.RecordStatus(ctx, second))
	testkit.RequireNoError(t, "RecordStatus stale end", s.RecordStatus(ctx, tunnel.Status{Agent: name, ConnectTime: first.ConnectTime}))
	testkit.RequireEqual(t, "connected after a stale end", true, mustGetAgent(t, s, tenant, "dc1").Connected)

	testkit.RequireNoError(t, "RecordStatus end", s.RecordStatus(ctx, tunnel.Status{Agent: name, ConnectTime: second.ConnectTime, LastHeartbeat: at(3 * time.Minute)}))
	a = mustGetAgent(t, s, tenant, "dc1")
	if a.Connected || a.InFlight != 0 || !a.LastHeartbeat.Equal(at(3*time.Minute)) || a.Version != "1.2.3" {
		t.Fatalf("after disconnect: %+v", a)
	}
	_ = clock
	testkit.RequireErrorIs(t, "RecordStatus of a missing agent", s.RecordStatus(ctx, tunnel.Status{Agent: store.AgentName(tenant, "nosuch"), Connected: true}), store.ErrNotFound)
}

func agentReplicas(t *testing.T, s store.Store, _ *ManualClock) {
	tenant, other := newTenant(), newTenant()
	ctx := t.Context()
	connect := func(tenant, id, pool, replica string, heard time.Time) {
		t.Helper()
		mustCreateAgent(t, s, tenant, id, pool)
		testkit.RequireNoError(t, "RecordStatus "+id, s.RecordStatus(ctx, tunnel.Status{
			Agent: store.AgentName(tenant, id), Connected: true, ConnectTime: epoch, LastHeartbeat: heard, Replica: replica,
		}))
	}
	connect(tenant, "a", "default", "10.0.0.1:9104", at(time.Minute))
	connect(tenant, "b", "default", "10.0.0.1:9104", at(time.Minute)) // the same replica, listed once
	connect(tenant, "c", "default", "10.0.0.2:9104", at(time.Minute))
	connect(tenant, "d", "default", "10.0.0.3:9104", at(time.Minute))
	connect(tenant, "stale", "default", "10.0.0.4:9104", at(-time.Minute))
	connect(tenant, "elsewhere", "reporting", "10.0.0.5:9104", at(time.Minute))
	connect(tenant, "unadvertised", "default", "", at(time.Minute))
	connect(other, "a", "default", "10.0.0.6:9104", at(time.Minute))
	connect(tenant, "gone", "default", "10.0.0.7:9104", at(time.Minute))
	testkit.RequireNoError(t, "RecordStatus gone", s.RecordStatus(ctx, tunnel.Status{Agent: store.AgentName(tenant, "gone"), ConnectTime: epoch}))

	got, err := s.AgentReplicas(ctx, tenant, "default", "10.0.0.3:9104", epoch)
	testkit.RequireNoError(t, "AgentReplicas", err)
	testkit.RequireEqual(t, "replicas", "10.0.0.1:9104,10.0.0.2:9104", strings.Join(got, ","))
	got, err = s.AgentReplicas(ctx, tenant, "nosuch", "", epoch)
	testkit.RequireNoError(t, "AgentReplicas of an empty pool", err)
	testkit.RequireEqual(t, "replicas of an empty pool", 0, len(got))
}

func revokeAgent(t *testing.T, s store.Store, clock *ManualClock) {
	tenant := newTenant()
	mustCreateAgent(t, s, tenant, "dc1", "default")
	credential := mustEnroll(t, s, clock, tenant, "dc1")
	testkit.RequireNoError(t, "RecordStatus", s.RecordStatus(t.Context(), tunnel.Status{Agent: store.AgentName(tenant, "dc1"), Connected: true, ConnectTime: epoch}))
	unused, err := s.CreateEnrollmentToken(t.Context(), tenant, "dc1", clock.Now(), clock.Now().Add(time.Hour))
	testkit.RequireNoError(t, "CreateEnrollmentToken", err)

	a, err := s.RevokeAgent(t.Context(), tenant, "dc1")
	testkit.RequireNoError(t, "RevokeAgent", err)
	if !a.Revoked || !a.Enrolled || a.Connected {
		t.Fatalf("RevokeAgent returned %+v", a)
	}
	_, err = s.Authenticate(t.Context(), credential)
	testkit.RequireErrorIs(t, "Authenticate a revoked credential", err, auth.ErrInvalidCredential)
	_, _, err = s.Enroll(t.Context(), unused)
	testkit.RequireErrorIs(t, "Enroll with a token made before the revocation", err, auth.ErrInvalidCredential)

	fresh := mustEnroll(t, s, clock, tenant, "dc1")
	id, err := s.Authenticate(t.Context(), fresh)
	testkit.RequireNoError(t, "Authenticate after enrolling again", err)
	testkit.RequireEqual(t, "agent", store.AgentName(tenant, "dc1"), id.Agent)
	testkit.RequireEqual(t, "revoked after enrolling again", false, mustGetAgent(t, s, tenant, "dc1").Revoked)
	_, err = s.Authenticate(t.Context(), credential)
	testkit.RequireErrorIs(t, "Authenticate the revoked credential after enrolling again", err, auth.ErrInvalidCredential)

	_, err = s.RevokeAgent(t.Context(), tenant, "nosuch")
	testkit.RequireErrorIs(t, "RevokeAgent of a missing agent", err, store.ErrNotFound)
}

func deleteAgent(t *testing.T, s store.Store, clock *ManualClock) {
	tenant := newTenant()
	mustCreateAgent(t, s, tenant, "dc1", "default")
	credential := mustEnroll(t, s, clock, tenant, "dc1")
	token, err := s.CreateEnrollmentToken(t.Context(), tenant, "dc1", clock.Now(), clock.Now().Add(time.Hour))
	testkit.RequireNoError(t, "CreateEnrollmentToken", err)
	testkit.RequireNoError(t, "DeleteAgent", s.DeleteAgent(t.Context(), tenant, "dc1"))
	_, err = s.GetAgent(t.Context(), tenant, "dc1")
	testkit.RequireErrorIs(t, "GetAgent after delete", err, store.ErrNotFound)
	_, err = s.Authenticate(t.Context(), credential)
	testkit.RequireErrorIs(t, "Authenticate after delete", err, auth.ErrInvalidCredential)
	// An agent of the same id made later is another agent: the old token must not enroll it.
	mustCreateAgent(t, s, tenant, "dc1", "default")
	_, _, err = s.Enroll(t.Context(), token)
	testkit.RequireErrorIs(t, "Enroll with the deleted agent's token", err, auth.ErrInvalidCredential)
	testkit.RequireErrorIs(t, "DeleteAgent of a missing agent", s.DeleteAgent(t.Context(), tenant, "nosuch"), store.ErrNotFound)
}

func agentsPage(t *testing.T, s store.Store, _ *ManualClock) {
	tenant := newTenant()
	ids := pagingIDs("a")
	for _, id := range ids {
		mustCreateAgent(t, s, tenant, id, "default")
	}
	mustCreateAgent(t, s, newTenant(), ids[0], "default")
	requirePaging(t, ids, func(p store.Page) ([]*store.Agent, error) {
		return s.ListAgents(t.Context(), tenant, p)
	}, func(a *store.Agent) string { return a.ID })
}

func agentTenantIsolation(t *testing.T, s store.Store, clock *ManualClock) {
	tenant, intruder := newTenant(), newTenant()
	mustCreateAgent(t, s, tenant, "dc1", "default")
	ctx := t.Context()
	_, err := s.GetAgent(ctx, intruder, "dc1")
	testkit.RequireErrorIs(t, "GetAgent", err, store.ErrNotFound)
	_, err = s.CreateEnrollmentToken(ctx, intruder, "dc1", clock.Now(), clock.Now().Add(time.Hour))
	testkit.RequireErrorIs(t, "CreateEnrollmentToken", err, store.ErrNotFound)
	_, err = s.RevokeAgent(ctx, intruder, "dc1")
	testkit.RequireErrorIs(t, "RevokeAgent", err, store.ErrNotFound)
	testkit.RequireErrorIs(t, "DeleteAgent", s.DeleteAgent(ctx, intruder, "dc1"), store.ErrNotFound)
	list, err := s.ListAgents(ctx, intruder, everything)
	testkit.RequireNoError(t, "ListAgents", err)
	testkit.RequireEqual(t, "agents listed for the intruder", 0, len(list))
	a := mustGetAgent(t, s, tenant, "dc1")
	testkit.RequireEqual(t, "revoked", false, a.Revoked)
}

func enrollOnce(t *testing.T, s store.Store, clock *ManualClock) {
	tenant := newTenant()
	mustCreateAgent(t, s, tenant, "dc1", "east")
	clock.Set(at(time.Hour))
	token, err := s.CreateEnrollmentToken(t.Context(), tenant, "dc1", clock.Now(), clock.Now().Add(time.Hour))
	testkit.RequireNoError(t, "CreateEnrollmentToken", err)
	if !strings.HasPrefix(token, store.EnrollmentTokenPrefix) {
		t.Fatalf("token %q lacks its prefix", token)
	}
	agent, credential, err := s.Enroll(t.Context(), token)
	testkit.RequireNoError(t, "Enroll", err)
	testkit.RequireEqual(t, "agent", store.AgentName(tenant, "dc1"), agent)
	if !strings.HasPrefix(credential, store.AgentCredentialPrefix) {
		t.Fatalf("credential %q lacks its prefix", credential)
	}
	_, _, err = s.Enroll(t.Context(), token)
	testkit.RequireErrorIs(t, "Enroll twice", err, auth.ErrInvalidCredential)

	id, err := s.Authenticate(t.Context(), credential)
	testkit.RequireNoError(t, "Authenticate", err)
	testkit.RequireEqual(t, "identity", tunnel.Identity{Agent: agent, Tenant: tenant, Pool: "east"}, id)
	a := mustGetAgent(t, s, tenant, "dc1")
	if !a.Enrolled || a.Revoked || a.EnrollTime == nil || !a.EnrollTime.Equal(at(time.Hour)) {
		t.Fatalf("after enrolling: %+v", a)
	}
}

func enrollRace(t *testing.T, s store.Store, clock *ManualClock) {
	tenant := newTenant()
	mustCreateAgent(t, s, tenant, "dc1", "default")
	token, err := s.CreateEnrollmentToken(t.Context(), tenant, "dc1", clock.Now(), clock.Now().Add(time.Hour))
	testkit.RequireNoError(t, "CreateEnrollmentToken", err)
	const racers = 8
	var (
		wg          sync.WaitGroup
		mu          sync.Mutex
		credentials []string
		failures    []error
	)
	for range racers {
		wg.Go(func() {
			_, credential, err := s.Enroll(t.Context(), token)
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				failures = append(failures, err)
				return
			}
			credentials = append(credentials, credential)
		})
	}
	wg.Wait()
	testkit.RequireEqual(t, "enrollments", 1, len(credentials))
	for _, err := range failures {
		if !errors.Is(err, auth.ErrInvalidCredential) {
			t.Fatalf("a losing Enroll failed with %v, want an invalid credential", err)
		}
	}
	_, err = s.Authenticate(t.Context(), credentials[0])
	testkit.RequireNoError(t, "Authenticate the winner", err)
}

func enrollExpired(t *testing.T, s store.Store, clock *ManualClock) {
	tenant := newTenant()
	mustCreateAgent(t, s, tenant, "dc1", "default")
	token, err := s.CreateEnrollmentToken(t.Context(), tenant, "dc1", clock.Now(), clock.Now().Add(time.Hour))
	testkit.RequireNoError(t, "CreateEnrollmentToken", err)
	clock.Set(epoch.Add(time.Hour))
	_, _, err = s.Enroll(t.Context(), token)
	testkit.RequireErrorIs(t, "Enroll at expiry", err, auth.ErrInvalidCredential)
	clock.Set(epoch.Add(time.Hour - time.Microsecond))
	_, _, err = s.Enroll(t.Context(), token)
	testkit.RequireNoError(t, "Enroll just before expiry", err)
}

func enrollReplaced(t *testing.T, s store.Store, clock *ManualClock) {
	tenant := newTenant()
	mustCreateAgent(t, s, tenant, "dc1", "default")
	old, err := s.CreateEnrollmentToken(t.Context(), tenant, "dc1", clock.Now(), clock.Now().Add(time.Hour))
	testkit.RequireNoError(t, "CreateEnrollmentToken", err)
	fresh, err := s.CreateEnrollmentToken(t.Context(), tenant, "dc1", clock.Now(), clock.Now().Add(time.Hour))
	testkit.RequireNoError(t, "CreateEnrollmentToken again", err)
	if old == fresh {
		t.Fatal("two tokens are the same")
	}
	_, _, err = s.Enroll(t.Context(), old)
	testkit.RequireErrorIs(t, "Enroll with the replaced token", err, auth.ErrInvalidCredential)
	_, _, err = s.Enroll(t.Context(), fresh)
	testkit.RequireNoError(t, "Enroll with the new token", err)
}

func enrollAgain(t *testing.T, s store.Store, clock *ManualClock) {
	tenant := newTenant()
	mustCreateAgent(t, s, tenant, "dc1", "default")
	first := mustEnroll(t, s, clock, tenant, "dc1")
	second := mustEnroll(t, s, clock, tenant, "dc1")
	_, err := s.Authenticate(t.Context(), first)
	testkit.RequireErrorIs(t, "Authenticate the replaced credential", err, auth.ErrInvalidCredential)
	_, err = s.Authenticate(t.Context(), second)
	testkit.RequireNoError(t, "Authenticate the new credential", err)
}

func madeUpSecrets(t *testing.T, s store.Store, _ *ManualClock) {
	for _, token := range []string{"", "oriel_ae_", "oriel_ae_nope", "oriel_ac_nope", "oriel_sk_whatever"} {
		_, _, err := s.Enroll(t.Context(), token)
		testkit.RequireErrorIs(t, "Enroll "+token, err, auth.ErrInvalidCredential)
		_, err = s.Authenticate(t.Context(), token)
		testkit.RequireErrorIs(t, "Authenticate "+token, err, auth.ErrInvalidCredential)
	}
}
