package tenant_test

import (
	"context"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/uuid"
	"google.golang.org/grpc/codes"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/testing/protocmp"
	"google.golang.org/protobuf/types/known/fieldmaskpb"

	tenantv1 "github.com/oriel-dev/oriel/gen/pb/oriel/tenant/v1"
	"github.com/oriel-dev/oriel/platform/apierr"
	"github.com/oriel-dev/oriel/platform/auth"
)

// wantError fails the test unless err has code, reason and (if given) exactly these
// field violations.
func wantError(t *testing.T, err error, code codes.Code, reason string, fields ...string) {
	t.Helper()
	if err == nil {
		t.Fatalf("got no error, want %s %s", code, reason)
	}
	if got := status.Code(err); got != code {
		t.Fatalf("code = %s, want %s (err: %v)", got, code, err)
	}
	if got := apierr.Reason(err); got != reason {
		t.Fatalf("reason = %q, want %q (err: %v)", got, reason, err)
	}
	if fields == nil {
		return
	}
	var got []string
	for _, v := range apierr.Violations(err) {
		got = append(got, v.Field)
		if v.Description == "" {
			t.Errorf("violation of %s has no description", v.Field)
		}
	}
	if !slices.Equal(got, fields) {
		t.Fatalf("violations = %v, want %v (err: %v)", got, fields, err)
	}
}

func TestBadInputIsRejectedNamingTheField(t *testing.T) {
	t.Parallel()
	s := startService(t, options{})
	ctx := s.admin(context.Background())
	existing := s.create(t, newTenant("bad-input"))

	for _, tc := range []struct {
		name   string
		call   func() error
		code   codes.Code
		reason string
		fields []string
	}{
		{"empty display name", func() error {
			req := newTenant("x")
			req.Tenant.DisplayName = ""
			_, err := s.client.CreateTenant(ctx, req)
			return err
		}, codes.InvalidArgument, "INVALID_REQUEST", []string{"tenant.display_name"}},
		{"hostname ab", func() error {
			req := newTenant("x")
			req.Tenant.Hostnames = []string{"ab"}
			_, err := s.client.CreateTenant(ctx, req)
			return err
		}, codes.InvalidArgument, "INVALID_REQUEST", []string{"tenant.hostnames[0]"}},
		{"upper-case hostname", func() error {
			req := newTenant("x")
			req.Tenant.Hostnames = []string{"Acme.example.com"}
			_, err := s.client.CreateTenant(ctx, req)
			return err
		}, codes.InvalidArgument, "INVALID_REQUEST", []string{"tenant.hostnames[0]"}},
		{"no hostname", func() error {
			req := newTenant("x")
			req.Tenant.Hostnames = nil
			_, err := s.client.CreateTenant(ctx, req)
			return err
		}, codes.InvalidArgument, "INVALID_REQUEST", []string{"tenant.hostnames"}},
		{"unknown region", func() error {
			req := newTenant("x")
			req.Tenant.Region = "mars-north"
			_, err := s.client.CreateTenant(ctx, req)
			return err
		}, codes.InvalidArgument, "UNKNOWN_REGION", []string{"tenant.region"}},
		{"tenant id with upper case", func() error {
			req := newTenant("x")
			req.TenantId = "Acme"
			_, err := s.client.CreateTenant(ctx, req)
			return err
		}, codes.InvalidArgument, "INVALID_REQUEST", []string{"tenant_id"}},
		{"request id that is not a UUID", func() error {
			req := newTenant("x")
			req.RequestId = "retry-1"
			_, err := s.client.CreateTenant(ctx, req)
			return err
		}, codes.InvalidArgument, "INVALID_REQUEST", []string{"request_id"}},
		{"label key with upper case", func() error {
			req := newTenant("x")
			req.Tenant.Labels = map[string]string{"Plan": "gold"}
			_, err := s.client.CreateTenant(ctx, req)
			return err
		}, codes.InvalidArgument, "INVALID_REQUEST", nil},
		{"web origin with a path", func() error {
			req := newTenant("x")
			req.Tenant.Settings = &tenantv1.TenantSettings{AllowedWebOrigins: []string{"https://app.example.com/embed"}}
			_, err := s.client.CreateTenant(ctx, req)
			return err
		}, codes.InvalidArgument, "INVALID_REQUEST", []string{"tenant.settings.allowed_web_origins[0]"}},
		{"colour that is not #rrggbb", func() error {
			req := newTenant("x")
			req.Tenant.Settings = &tenantv1.TenantSettings{Theme: &tenantv1.Theme{PrimaryColor: "blue"}}
			_, err := s.client.CreateTenant(ctx, req)
			return err
		}, codes.InvalidArgument, "INVALID_REQUEST", []string{"tenant.settings.theme.primary_color"}},
		{"malformed tenant name", func() error {
			_, err := s.client.GetTenant(ctx, &tenantv1.GetTenantRequest{Name: "tenants/../etc"})
			return err
		}, codes.InvalidArgument, "INVALID_REQUEST", []string{"name"}},
		{"purge_after_days 5", func() error {
			days := int32(5)
			_, err := s.client.DeactivateTenant(ctx, &tenantv1.DeactivateTenantRequest{
				Name: existing.GetName(), ConfirmHostname: existing.GetHostnames()[0], PurgeAfterDays: &days,
			})
			return err
		}, codes.InvalidArgument, "INVALID_REQUEST", []string{"purge_after_days"}},
		{"purge_after_days 91", func() error {
			days := int32(91)
			_, err := s.client.DeactivateTenant(ctx, &tenantv1.DeactivateTenantRequest{
				Name: existing.GetName(), ConfirmHostname: existing.GetHostnames()[0], PurgeAfterDays: &days,
			})
			return err
		}, codes.InvalidArgument, "INVALID_REQUEST", []string{"purge_after_days"}},
		{"garbage page token", func() error {
			_, err := s.client.ListTenants(ctx, &tenantv1.ListTenantsRequest{PageToken: "garbage!"})
			return err
		}, codes.InvalidArgument, "INVALID_PAGE_TOKEN", []string{"page_token"}},
		{"negative page size", func() error {
			_, err := s.client.ListTenants(ctx, &tenantv1.ListTenantsRequest{PageSize: -1})
			return err
		}, codes.InvalidArgument, "INVALID_REQUEST", []string{"page_size"}},
		{"unsupported filter", func() error {
			_, err := s.client.ListTenants(ctx, &tenantv1.ListTenantsRequest{Filter: `colour = "red"`})
			return err
		}, codes.InvalidArgument, "INVALID_FILTER", []string{"filter"}},
		{"update mask naming an unknown field", func() error {
			_, err := s.client.UpdateTenant(ctx, &tenantv1.UpdateTenantRequest{
				Tenant: &tenantv1.Tenant{Name: existing.GetName()}, UpdateMask: &fieldmaskpb.FieldMask{Paths: []string{"colour"}},
			})
			return err
		}, codes.InvalidArgument, "INVALID_REQUEST", []string{"update_mask"}},
		{"update of the region", func() error {
			_, err := s.client.UpdateTenant(ctx, &tenantv1.UpdateTenantRequest{
				Tenant: &tenantv1.Tenant{Name: existing.GetName(), Region: "us-east"}, UpdateMask: &fieldmaskpb.FieldMask{Paths: []string{"region"}},
			})
			return err
		}, codes.InvalidArgument, "IMMUTABLE_FIELD", []string{"tenant.region"}},
		{"update to an invalid hostname", func() error {
			_, err := s.client.UpdateTenant(ctx, &tenantv1.UpdateTenantRequest{
				Tenant: &tenantv1.Tenant{Name: existing.GetName(), Hostnames: []string{"ab"}}, UpdateMask: &fieldmaskpb.FieldMask{Paths: []string{"hostnames"}},
			})
			return err
		}, codes.InvalidArgument, "INVALID_REQUEST", []string{"tenant.hostnames[0]"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			wantError(t, tc.call(), tc.code, tc.reason, tc.fields...)
		})
	}

	// None of the refused calls changed the tenant they named.
	got, err := s.client.GetTenant(ctx, &tenantv1.GetTenantRequest{Name: existing.GetName()})
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(existing, got.GetTenant(), protocmp.Transform()); diff != "" {
		t.Errorf("tenant changed by refused calls (-before +after):\n%s", diff)
	}
}

func TestCredentialsAreRequired(t *testing.T) {
	t.Parallel()
	s := startService(t, options{})
	req := &tenantv1.ListTenantsRequest{}
	for _, tc := range []struct {
		name   string
		ctx    context.Context
		reason string
	}{
		{"no credential", context.Background(), "CREDENTIAL_MISSING"},
		{"wrong key", withKey(context.Background(), auth.GenerateAPIKey()), "CREDENTIAL_INVALID"},
		{"the key with one character changed", withKey(context.Background(), s.adminKey[:len(s.adminKey)-1]+"x"), "CREDENTIAL_INVALID"},
		{"empty bearer", withKey(context.Background(), ""), "CREDENTIAL_INVALID"},
		{"basic scheme", metadataCtx("authorization", "Basic "+s.adminKey), "CREDENTIAL_INVALID"},
		{"two authorization values", metadataCtx("authorization", "Bearer "+s.adminKey, "authorization", "Bearer "+s.adminKey), "CREDENTIAL_INVALID"},
		{"an oversized credential", withKey(context.Background(), strings.Repeat("a", 5000)), "CREDENTIAL_INVALID"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := s.client.ListTenants(tc.ctx, req)
			wantError(t, err, codes.Unauthenticated, tc.reason)
		})
	}
	t.Run("health and reflection need none", func(t *testing.T) {
		resp, err := healthpb.NewHealthClient(s.conn).Check(context.Background(), &healthpb.HealthCheckRequest{})
		if err != nil || resp.GetStatus() != healthpb.HealthCheckResponse_SERVING {
			t.Fatalf("health = %v, %v; want SERVING", resp, err)
		}
	})
}

func TestCreateTenantIsIdempotentByRequestID(t *testing.T) {
	t.Parallel()
	s := startService(t, options{})
	ctx := s.admin(context.Background())

	t.Run("a retry with the same body returns the same tenant", func(t *testing.T) {
		req := newTenant("idem")
		req.RequestId = uuid.NewString()
		first := s.create(t, req)
		again := s.create(t, proto.Clone(req).(*tenantv1.CreateTenantRequest))
		if diff := cmp.Diff(first, again, protocmp.Transform()); diff != "" {
			t.Errorf("retry returned another tenant (-first +retry):\n%s", diff)
		}
		wantEventTypes(t, s, first.GetName(), "dev.oriel.tenant.created")
	})

	t.Run("a retry without tenant id returns the generated one", func(t *testing.T) {
		req := newTenant("gen")
		req.TenantId = ""
		req.RequestId = uuid.NewString()
		first := s.create(t, req)
		again := s.create(t, req)
		if first.GetName() != again.GetName() || !strings.HasPrefix(first.GetName(), "tenants/t") {
			t.Fatalf("names %s and %s, want one generated name", first.GetName(), again.GetName())
		}
	})

	t.Run("the same request id with another body fails", func(t *testing.T) {
		req := newTenant("idem-conflict")
		req.RequestId = uuid.NewString()
		s.create(t, req)
		other := proto.Clone(req).(*tenantv1.CreateTenantRequest)
		other.Tenant.DisplayName = "Someone else"
		_, err := s.client.CreateTenant(ctx, other)
		wantError(t, err, codes.InvalidArgument, "REQUEST_ID_CONFLICT")
	})

	t.Run("concurrent retries create one tenant", func(t *testing.T) {
		req := newTenant("idem-race")
		req.TenantId = "" // generated: only the request id can tell the calls apart
		req.RequestId = uuid.NewString()
		const callers = 12
		names := make([]string, callers)
		var wg sync.WaitGroup
		for i := range callers {
			wg.Go(func() {
				resp, err := s.client.CreateTenant(ctx, req)
				if err != nil {
					t.Errorf("caller %d: %v", i, err)
					return
				}
				names[i] = resp.GetTenant().GetName()
			})
		}
		wg.Wait()
		for _, n := range names[1:] {
			if n != names[0] {
				t.Fatalf("callers got different tenants: %v", names)
			}
		}
		wantEventTypes(t, s, names[0], "dev.oriel.tenant.created")
	})

	t.Run("without a request id a second create of the id fails", func(t *testing.T) {
		req := newTenant("dup")
		s.create(t, req)
		_, err := s.client.CreateTenant(ctx, req)
		wantError(t, err, codes.AlreadyExists, "RESOURCE_ALREADY_EXISTS")
	})

	t.Run("a hostname of another tenant is refused", func(t *testing.T) {
		a := s.create(t, newTenant("host-a"))
		b := newTenant("host-b")
		b.Tenant.Hostnames = append(b.Tenant.Hostnames, a.GetHostnames()[0])
		_, err := s.client.CreateTenant(ctx, b)
		wantError(t, err, codes.AlreadyExists, "HOSTNAME_IN_USE")
		_, err = s.client.GetTenant(ctx, &tenantv1.GetTenantRequest{Name: "tenants/" + b.GetTenantId()})
		wantError(t, err, codes.NotFound, "RESOURCE_NOT_FOUND")
	})
}

func TestUpdateTenant(t *testing.T) {
	t.Parallel()
	s := startService(t, options{})
	ctx := s.admin(context.Background())

	t.Run("only the masked fields change and must be valid", func(t *testing.T) {
		created := s.create(t, newTenant("upd"))
		// hostnames are invalid here, but not in the mask: ignored, not refused.
		resp, err := s.client.UpdateTenant(ctx, &tenantv1.UpdateTenantRequest{
			Tenant: &tenantv1.Tenant{
				Name: created.GetName(), DisplayName: "Renamed", Hostnames: []string{"ab"},
				Settings: &tenantv1.TenantSettings{DefaultLocale: "de-DE", Theme: &tenantv1.Theme{PrimaryColor: "#1a73e8"}},
			},
			UpdateMask: &fieldmaskpb.FieldMask{Paths: []string{"display_name", "settings.theme"}},
		})
		if err != nil {
			t.Fatal(err)
		}
		got := resp.GetTenant()
		if got.GetDisplayName() != "Renamed" || !slices.Equal(got.GetHostnames(), created.GetHostnames()) ||
			got.GetSettings().GetTheme().GetPrimaryColor() != "#1a73e8" || got.GetSettings().GetDefaultLocale() != "" {
			t.Fatalf("update applied wrongly: %v", got)
		}
		if got.GetEtag() == created.GetEtag() || !got.GetUpdateTime().AsTime().After(created.GetUpdateTime().AsTime()) {
			t.Fatalf("etag or update_time did not move: %v → %v", created, got)
		}
		wantEventTypes(t, s, created.GetName(), "dev.oriel.tenant.created", "dev.oriel.tenant.updated")
	})

	t.Run("a stale etag is refused with ABORTED", func(t *testing.T) {
		created := s.create(t, newTenant("etag"))
		update := func(name, etag string) error {
			_, err := s.client.UpdateTenant(ctx, &tenantv1.UpdateTenantRequest{
				Tenant:     &tenantv1.Tenant{Name: created.GetName(), DisplayName: name, Etag: etag},
				UpdateMask: &fieldmaskpb.FieldMask{Paths: []string{"display_name"}},
			})
			return err
		}
		if err := update("First", created.GetEtag()); err != nil {
			t.Fatal(err)
		}
		wantError(t, update("Second", created.GetEtag()), codes.Aborted, "ETAG_MISMATCH")
		got, _ := s.client.GetTenant(ctx, &tenantv1.GetTenantRequest{Name: created.GetName()})
		if got.GetTenant().GetDisplayName() != "First" {
			t.Fatalf("display name = %q, want First", got.GetTenant().GetDisplayName())
		}
	})

	t.Run("an update that changes nothing keeps the etag", func(t *testing.T) {
		created := s.create(t, newTenant("noop"))
		resp, err := s.client.UpdateTenant(ctx, &tenantv1.UpdateTenantRequest{
			Tenant:     &tenantv1.Tenant{Name: created.GetName(), DisplayName: created.GetDisplayName(), Region: created.GetRegion()},
			UpdateMask: &fieldmaskpb.FieldMask{Paths: []string{"display_name", "region"}},
		})
		if err != nil {
			t.Fatal(err)
		}
		if resp.GetTenant().GetEtag() != created.GetEtag() {
			t.Fatal("a no-op update changed the etag")
		}
		wantEventTypes(t, s, created.GetName(), "dev.oriel.tenant.created")
	})

	t.Run("the tenant read back can be written back whole", func(t *testing.T) {
		created := s.create(t, newTenant("roundtrip"))
		created.DisplayName = "Written back"
		// No mask: the populated fields are the mask, and output-only ones are ignored.
		resp, err := s.client.UpdateTenant(ctx, &tenantv1.UpdateTenantRequest{Tenant: created})
		if err != nil {
			t.Fatal(err)
		}
		if resp.GetTenant().GetDisplayName() != "Written back" {
			t.Fatalf("got %v", resp.GetTenant())
		}
	})

	t.Run("a missing tenant is NOT_FOUND", func(t *testing.T) {
		_, err := s.client.UpdateTenant(ctx, &tenantv1.UpdateTenantRequest{
			Tenant:     &tenantv1.Tenant{Name: "tenants/nobody-here", DisplayName: "x"},
			UpdateMask: &fieldmaskpb.FieldMask{Paths: []string{"display_name"}},
		})
		wantError(t, err, codes.NotFound, "RESOURCE_NOT_FOUND")
	})
}

func TestTenantLifecycle(t *testing.T) {
	t.Parallel()
	s := startService(t, options{})
	ctx := s.admin(context.Background())
	created := s.create(t, newTenant("life"))
	name := created.GetName()

	deactivate := func(confirm string, etag string) (*tenantv1.Tenant, error) {
		resp, err := s.client.DeactivateTenant(ctx, &tenantv1.DeactivateTenantRequest{Name: name, ConfirmHostname: confirm, Etag: etag})
		return resp.GetTenant(), err
	}
	reactivate := func() (*tenantv1.Tenant, error) {
		resp, err := s.client.ReactivateTenant(ctx, &tenantv1.ReactivateTenantRequest{Name: name})
		return resp.GetTenant(), err
	}

	_, err := deactivate("wrong.example.com", "")
	wantError(t, err, codes.FailedPrecondition, "CONFIRMATION_MISMATCH")
	_, err = deactivate(created.GetHostnames()[0], "stale")
	wantError(t, err, codes.Aborted, "ETAG_MISMATCH")
	_, err = reactivate()
	wantError(t, err, codes.FailedPrecondition, "TENANT_NOT_DEACTIVATED")

	off, err := deactivate(created.GetHostnames()[0], created.GetEtag())
	if err != nil {
		t.Fatal(err)
	}
	if off.GetState() != tenantv1.Tenant_STATE_DEACTIVATED {
		t.Fatalf("state = %s", off.GetState())
	}
	if got := off.GetPurgeTime().AsTime().Sub(off.GetDeactivateTime().AsTime()); got != 30*24*time.Hour {
		t.Fatalf("purge_time is %s after deactivation, want the default 30 days", got)
	}
	_, err = deactivate(created.GetHostnames()[0], "")
	wantError(t, err, codes.FailedPrecondition, "TENANT_NOT_ACTIVE")
	_, err = s.client.UpdateTenant(ctx, &tenantv1.UpdateTenantRequest{
		Tenant: &tenantv1.Tenant{Name: name, DisplayName: "x"}, UpdateMask: &fieldmaskpb.FieldMask{Paths: []string{"display_name"}},
	})
	wantError(t, err, codes.FailedPrecondition, "TENANT_NOT_ACTIVE")

	on, err := reactivate()
	if err != nil {
		t.Fatal(err)
	}
	if on.GetState() != tenantv1.Tenant_STATE_ACTIVE || on.GetPurgeTime() != nil || on.GetDeactivateTime() != nil {
		t.Fatalf("reactivated tenant: %v", on)
	}

	days := int32(10)
	if _, err := s.client.DeactivateTenant(ctx, &tenantv1.DeactivateTenantRequest{Name: name, ConfirmHostname: created.GetHostnames()[0], PurgeAfterDays: &days}); err != nil {
		t.Fatal(err)
	}
	s.clock.Advance(10*24*time.Hour + time.Second)
	_, err = reactivate()
	wantError(t, err, codes.FailedPrecondition, "PURGE_TIME_PASSED")

	wantEventTypes(t, s, name, "dev.oriel.tenant.created", "dev.oriel.tenant.deactivated",
		"dev.oriel.tenant.reactivated", "dev.oriel.tenant.deactivated")
}

func TestListTenantsFiltersAndPages(t *testing.T) {
	t.Parallel()
	s := startService(t, options{})
	ctx := s.admin(context.Background())
	label := strings.ReplaceAll(uuid.NewString()[:8], "-", "")
	var gold []string
	for i := range 7 {
		req := newTenant("list")
		req.Tenant.Labels = map[string]string{"batch": label, "plan": "silver"}
		if i%2 == 0 {
			req.Tenant.Labels["plan"] = "gold"
			req.Tenant.Region = "us-east"
		}
		created := s.create(t, req)
		if i%2 == 0 {
			gold = append(gold, created.GetName())
		}
	}
	slices.Sort(gold)

	filter := `labels.batch = "` + label + `" AND labels.plan = "gold" AND region = "us-east" AND state = ACTIVE`
	var got []string
	req := &tenantv1.ListTenantsRequest{Filter: filter, PageSize: 2}
	pages := 0
	for {
		resp, err := s.client.ListTenants(ctx, req)
		if err != nil {
			t.Fatal(err)
		}
		pages++
		for _, tn := range resp.GetTenants() {
			got = append(got, tn.GetName())
		}
		if resp.GetNextPageToken() == "" {
			break
		}
		req.PageToken = resp.GetNextPageToken()
	}
	if !slices.Equal(got, gold) || pages != 2 {
		t.Fatalf("listed %v in %d pages, want %v in 2", got, pages, gold)
	}

	t.Run("a page token is bound to its filter", func(t *testing.T) {
		first, err := s.client.ListTenants(ctx, &tenantv1.ListTenantsRequest{Filter: filter, PageSize: 1})
		if err != nil {
			t.Fatal(err)
		}
		_, err = s.client.ListTenants(ctx, &tenantv1.ListTenantsRequest{Filter: `labels.batch = "` + label + `"`, PageToken: first.GetNextPageToken()})
		wantError(t, err, codes.InvalidArgument, "INVALID_PAGE_TOKEN", "page_token")
	})
}

func TestPurgeWorkersRacingPurgeEachTenantOnce(t *testing.T) {
	t.Parallel()
	// Two replicas on one database, each with its purge worker ticking fast.
	a := startService(t, options{purgeEvery: 20 * time.Millisecond})
	b := startService(t, options{databaseURL: a.databaseURL, purgeEvery: 20 * time.Millisecond})
	ctx := a.admin(context.Background())
	days := int32(10)
	var names []string
	for range 20 {
		created := a.create(t, newTenant("purge"))
		if _, err := a.client.DeactivateTenant(ctx, &tenantv1.DeactivateTenantRequest{
			Name: created.GetName(), ConfirmHostname: created.GetHostnames()[0], PurgeAfterDays: &days,
		}); err != nil {
			t.Fatal(err)
		}
		names = append(names, created.GetName())
	}
	kept := a.create(t, newTenant("kept"))

	// Both replicas see the purge time pass at once.
	a.clock.Advance(10*24*time.Hour + time.Minute)
	b.clock.Advance(10*24*time.Hour + time.Minute)

	deadline := time.Now().Add(20 * time.Second)
	for _, name := range names {
		for {
			resp, err := a.client.GetTenant(ctx, &tenantv1.GetTenantRequest{Name: name})
			if err != nil {
				t.Fatal(err)
			}
			if tomb := resp.GetTenant(); tomb.GetState() == tenantv1.Tenant_STATE_DELETED {
				if len(tomb.GetHostnames()) != 0 || tomb.GetLabels() != nil {
					t.Fatalf("tombstone keeps data: %v", tomb)
				}
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s not purged in time", name)
			}
			time.Sleep(20 * time.Millisecond)
		}
		wantEventTypes(t, a, name, "dev.oriel.tenant.created", "dev.oriel.tenant.deactivated", "dev.oriel.tenant.purged")
	}
	resp, err := a.client.GetTenant(ctx, &tenantv1.GetTenantRequest{Name: kept.GetName()})
	if err != nil || resp.GetTenant().GetState() != tenantv1.Tenant_STATE_ACTIVE {
		t.Fatalf("active tenant touched by purge: %v, %v", resp, err)
	}
	// Purged tenants leave the default list, and their hostnames are free again.
	list, err := a.client.ListTenants(ctx, &tenantv1.ListTenantsRequest{Filter: "state = DELETED", PageSize: 1000})
	if err != nil || len(list.GetTenants()) != len(names) {
		t.Fatalf("state = DELETED lists %d tenants (%v), want %d", len(list.GetTenants()), err, len(names))
	}
	reuse := newTenant("reuse")
	reuse.Tenant.Hostnames = []string{strings.TrimPrefix(names[0], "tenants/") + ".analytics.example.com"}
	a.create(t, reuse)
}

func TestInternalErrorsAreMaskedWithACorrelationID(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ name, url string }{
		{"postgres", ""},
		{"sqlite", "sqlite://" + t.TempDir() + "/tenant.db"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := startService(t, options{databaseURL: tc.url})
			// Break the schema under the running service: the next write fails in the driver.
			breakSchema(t, s.databaseURL)
			_, err := s.client.CreateTenant(s.admin(context.Background()), newTenant("broken"))
			wantError(t, err, codes.Internal, "INTERNAL")
			msg := status.Convert(err).Message()
			for _, leak := range []string{"tenant_events", "does not exist", "SQLSTATE", "42P01", "no such table", "sqlite", "pgx"} {
				if strings.Contains(strings.ToLower(msg), strings.ToLower(leak)) {
					t.Errorf("client message %q discloses %q", msg, leak)
				}
			}
			id := correlationID(t, err)
			logs := s.logs.String()
			if !strings.Contains(logs, id) || !strings.Contains(logs, "tenant_events") {
				t.Errorf("log lacks the correlation id %s or the driver error:\n%s", id, logs)
			}
		})
	}
}

func TestNotServingUntilMigrated(t *testing.T) {
	t.Parallel()
	s := startService(t, options{noMigrate: true})
	health := healthpb.NewHealthClient(s.conn)
	check := func() healthpb.HealthCheckResponse_ServingStatus {
		resp, err := health.Check(context.Background(), &healthpb.HealthCheckRequest{Service: "oriel.tenant.v1.TenantService"})
		if err != nil {
			t.Fatal(err)
		}
		return resp.GetStatus()
	}
	if got := check(); got != healthpb.HealthCheckResponse_NOT_SERVING {
		t.Fatalf("before migrate: %s, want NOT_SERVING", got)
	}
	if err := migrate(s.databaseURL); err != nil {
		t.Fatal(err)
	}
	select {
	case <-s.srv.Ready():
	case <-time.After(10 * time.Second):
		t.Fatal("not ready 10s after migrate")
	}
	if got := check(); got != healthpb.HealthCheckResponse_SERVING {
		t.Fatalf("after migrate: %s, want SERVING", got)
	}
}

// wantEventTypes checks the types of a tenant's events, oldest first.
func wantEventTypes(t *testing.T, s *service, name string, types ...string) {
	t.Helper()
	resp, err := s.client.ListTenantEvents(s.admin(context.Background()), &tenantv1.ListTenantEventsRequest{Parent: name})
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, e := range resp.GetEvents() {
		got = append(got, e.GetType())
		if e.GetSubject() != name || e.GetData().GetName() != name || e.GetSpecVersion() != "1.0" {
			t.Errorf("event %s is not about %s or not CloudEvents 1.0: %v", e.GetId(), name, e)
		}
	}
	if !slices.Equal(got, types) {
		t.Fatalf("events of %s = %v, want %v", name, got, types)
	}
}
