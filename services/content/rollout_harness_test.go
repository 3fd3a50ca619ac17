package content_test

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"

	contentv1 "github.com/oriel-dev/oriel/gen/pb/oriel/content/v1"
	tenantv1 "github.com/oriel-dev/oriel/gen/pb/oriel/tenant/v1"
	"github.com/oriel-dev/oriel/platform/auth"
	"github.com/oriel-dev/oriel/platform/server"
	"github.com/oriel-dev/oriel/platform/sqlstore"
	"github.com/oriel-dev/oriel/platform/testkit"
	"github.com/oriel-dev/oriel/services/content/internal/store"
	"github.com/oriel-dev/oriel/services/tenant"
)

// tenantService is a real tenant service for one test, on its own database. It stands
// alone (no identity service), so it accepts exactly its bootstrap admin key, which the
// content service's test authenticator maps to the same platform admin.
type tenantService struct {
	srv      *server.Server
	clock    *testkit.Clock
	client   tenantv1.TenantServiceClient
	adminKey string
	// admin carries the admin key, to the tenant service and to content alike.
	admin context.Context
}

// startTenantService runs the tenant service as `oriel dev` does, purging every 50 ms by
// its own clock.
func startTenantService(t testing.TB) *tenantService {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	ts := &tenantService{clock: &testkit.Clock{}, adminKey: auth.GenerateAPIKey()}
	ts.admin = metadata.AppendToOutgoingContext(context.Background(), "authorization", "Bearer "+ts.adminKey)
	dbURL := testkit.PostgresDatabase(t)
	if err := tenant.Migrate(ctx, dbURL, slog.New(slog.DiscardHandler)); err != nil {
		t.Fatalf("migrate tenant: %v", err)
	}
	var err error
	ts.srv, err = tenant.Config{
		Server: server.Config{
			GRPCAddr: "127.0.0.1:0", HTTPAddr: "127.0.0.1:0", BootstrapAdminKey: ts.adminKey,
			ShutdownTimeout: 5 * time.Second, ReadyInterval: 50 * time.Millisecond,
		},
		Database:      sqlstore.Config{URL: dbURL, MaxConns: 8},
		Regions:       tenant.DefaultRegions,
		PurgeInterval: 50 * time.Millisecond,
		Now:           ts.clock.Now,
	}.Complete(ctx, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatalf("complete tenant: %v", err)
	}
	done := make(chan error, 1)
	go func() { done <- ts.srv.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("tenant service stopped with: %v", err)
		}
	})
	select {
	case <-ts.srv.Ready():
	case <-time.After(10 * time.Second):
		t.Fatal("tenant service not ready after 10s")
	}
	conn, err := grpc.NewClient(ts.srv.GRPCAddr(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	ts.client = tenantv1.NewTenantServiceClient(conn)
	return ts
}

// createTenant creates an ACTIVE tenant with labels in the tenant service and returns its id.
func (ts *tenantService) createTenant(t testing.TB, prefix string, labels map[string]string) string {
	t.Helper()
	id := testkit.UniqueID(prefix)
	_, err := ts.client.CreateTenant(ts.admin, &tenantv1.CreateTenantRequest{
		TenantId: id,
		Tenant: &tenantv1.Tenant{
			DisplayName: "Tenant " + id, Hostnames: []string{id + ".analytics.example.com"},
			Region: "eu-west", Labels: labels,
		},
	})
	if err != nil {
		t.Fatalf("create tenant %s: %v", id, err)
	}
	return id
}

// deactivateTenant deactivates a tenant created by createTenant, to be purged in 10 days.
func (ts *tenantService) deactivateTenant(t testing.TB, id string) {
	t.Helper()
	days := int32(10)
	_, err := ts.client.DeactivateTenant(ts.admin, &tenantv1.DeactivateTenantRequest{
		Name: store.TenantName(id), ConfirmHostname: id + ".analytics.example.com", PurgeAfterDays: &days,
	})
	if err != nil {
		t.Fatalf("deactivate tenant %s: %v", id, err)
	}
}

// startWithTenants runs a content service as startService does, but whose rollout filters
// go to a real tenant service, and returns both. The tenant service's admin key is a
// platform admin in content too, so a filter is evaluated with a credential both accept.
func startWithTenants(t testing.TB) (*service, *tenantService) {
	t.Helper()
	ts := startTenantService(t)
	authn := &testkit.Principals{}
	authn.Register(ts.adminKey, &auth.Principal{
		Kind: auth.KindServiceAccount, ID: auth.BootstrapPrincipalID, Credential: auth.BootstrapPrincipalID, Scopes: auth.AllScopes,
	})
	return startServiceWith(t, serviceOptions{tenantAddr: ts.srv.GRPCAddr(), authn: authn}), ts
}

// templateDefinition is definition(script) as a template version holds it: without
// variable values, which the version's declared variables give.
func templateDefinition(script string) *contentv1.AppDefinition {
	d := definition(script)
	d.Variables = nil
	return d
}

// salesScript reads the required `schema` and the optional `region`.
const salesScript = "orders: SQL SELECT * FROM $(schema).orders WHERE region = '$(region)';"

// salesVariables are what salesScript reads: `schema` required, `region` defaulting to eu.
func salesVariables() []*contentv1.TemplateVariable {
	return []*contentv1.TemplateVariable{
		{Name: "schema", Required: true, Description: "the tenant's schema"},
		{Name: "region", DefaultValue: "eu"},
	}
}

// createTemplate creates a template with a unique id and returns its id.
func (s *service) createTemplate(t testing.TB, prefix string) string {
	t.Helper()
	id := testkit.UniqueID(prefix)
	if _, err := s.templates.CreateTemplate(s.isv, &contentv1.CreateTemplateRequest{
		TemplateId: id, Template: &contentv1.Template{DisplayName: "Template " + id},
	}); err != nil {
		t.Fatalf("create template %s: %v", id, err)
	}
	return id
}

// createSalesVersion adds version to template with salesScript and salesVariables and
// returns its name.
func (s *service) createSalesVersion(t testing.TB, template, version string) string {
	t.Helper()
	resp, err := s.templates.CreateTemplateVersion(s.isv, &contentv1.CreateTemplateVersionRequest{
		Parent: store.TemplateName(template), VersionId: version,
		TemplateVersion: &contentv1.TemplateVersion{
			Title: "Sales " + version, Definition: templateDefinition(salesScript), Variables: salesVariables(),
		},
	})
	if err != nil {
		t.Fatalf("create version %s of %s: %v", version, template, err)
	}
	return resp.GetTemplateVersion().GetName()
}

// tenantNames turns tenant ids into names.
func tenantNames(ids []string) []string {
	out := make([]string, len(ids))
	for i, id := range ids {
		out[i] = store.TenantName(id)
	}
	return out
}

// schemaFor gives each tenant its own `schema`.
func schemaFor(ids []string) map[string]*contentv1.VariableValues {
	out := make(map[string]*contentv1.VariableValues, len(ids))
	for _, id := range ids {
		out[store.TenantName(id)] = &contentv1.VariableValues{Values: map[string]string{"schema": "s_" + id}}
	}
	return out
}

// createRollout creates r as the ISV and returns it.
func (s *service) createRollout(t testing.TB, r *contentv1.Rollout) *contentv1.Rollout {
	t.Helper()
	resp, err := s.rollouts.CreateRollout(s.isv, &contentv1.CreateRolloutRequest{Rollout: r})
	if err != nil {
		t.Fatalf("create rollout: %v", err)
	}
	return resp.GetRollout()
}

// watchUntilEnd watches a rollout until the server ends the stream and returns every
// rollout it sent.
func (s *service) watchUntilEnd(t testing.TB, name string) []*contentv1.Rollout {
	t.Helper()
	ctx, cancel := context.WithTimeout(s.isv, 90*time.Second)
	defer cancel()
	stream, err := s.rollouts.WatchRollout(ctx, &contentv1.WatchRolloutRequest{Name: name})
	if err != nil {
		t.Fatalf("watch %s: %v", name, err)
	}
	var seen []*contentv1.Rollout
	for {
		resp, err := stream.Recv()
		if errors.Is(err, io.EOF) {
			if len(seen) == 0 {
				t.Fatalf("watch %s ended without sending the rollout", name)
			}
			return seen
		}
		if err != nil {
			t.Fatalf("watch %s after %d messages: %v", name, len(seen), err)
		}
		seen = append(seen, resp.GetRollout())
	}
}

// waitForState watches a rollout to its end and fails unless it ended in want.
func (s *service) waitForState(t testing.TB, name string, want contentv1.Rollout_State) *contentv1.Rollout {
	t.Helper()
	seen := s.watchUntilEnd(t, name)
	last := seen[len(seen)-1]
	if last.GetState() != want {
		t.Fatalf("%s ended %s, want %s (progress %v)", name, last.GetState(), want, last.GetProgress())
	}
	return last
}

// targets lists every target of a rollout with status (all when unspecified), a page of
// 50 at a time, so that paging is exercised too.
func (s *service) targets(t testing.TB, name string, status contentv1.RolloutTarget_Status) []*contentv1.RolloutTarget {
	t.Helper()
	var out []*contentv1.RolloutTarget
	req := &contentv1.ListRolloutTargetsRequest{Parent: name, Status: status, PageSize: 50}
	for {
		resp, err := s.rollouts.ListRolloutTargets(s.isv, req)
		if err != nil {
			t.Fatalf("list targets of %s: %v", name, err)
		}
		out = append(out, resp.GetTargets()...)
		if resp.GetNextPageToken() == "" {
			return out
		}
		req.PageToken = resp.GetNextPageToken()
	}
}

// holdRollout takes the lease of the rollout named name the way an engine replica does,
// so the service's engine leaves it alone until release is called: the test then sees the
// states the engine would move it out of at once. It reports false if the engine claimed
// the rollout first.
func (s *service) holdRollout(t testing.TB, name string) (release func(), ok bool) {
	t.Helper()
	now := s.clock.Now()
	lease, err := s.store.ClaimRollout(context.Background(), "test-holder", now, now.Add(time.Hour))
	if errors.Is(err, store.ErrNotFound) {
		return nil, false
	}
	if err != nil {
		t.Fatalf("claim %s: %v", name, err)
	}
	if lease.Rollout.GetName() != name {
		t.Fatalf("claimed %s, want %s: the test service holds another claimable rollout", lease.Rollout.GetName(), name)
	}
	return func() {
		if err := s.store.ReleaseLease(context.Background(), strings.TrimPrefix(name, "rollouts/"), "test-holder"); err != nil {
			t.Errorf("release %s: %v", name, err)
		}
	}, true
}

// pendingRollout creates a rollout of version to fresh tenants (ids made up: explicit
// lists need not exist anywhere) and holds it PENDING; it tries again with a new one in
// the rare case that the engine claims one between its creation and the hold.
func (s *service) pendingRollout(t testing.TB, version string, n int) (r *contentv1.Rollout, release func()) {
	t.Helper()
	for range 5 {
		ids := make([]string, n)
		for i := range ids {
			ids[i] = testkit.UniqueID("held")
		}
		r = s.createRollout(t, &contentv1.Rollout{
			TemplateVersion: version,
			Selector:        &contentv1.TenantSelector{Tenants: tenantNames(ids)},
			TenantVariables: schemaFor(ids),
		})
		if release, ok := s.holdRollout(t, r.GetName()); ok {
			return r, release
		}
		s.watchUntilEnd(t, r.GetName())
	}
	t.Fatal("the engine claimed every rollout before the test could hold it")
	return nil, nil
}
