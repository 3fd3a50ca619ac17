package api

import (
	"context"
	"log/slog"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	tenantv1 "github.com/oriel-dev/oriel/gen/pb/oriel/tenant/v1"
	"github.com/oriel-dev/oriel/platform/apierr"
	"github.com/oriel-dev/oriel/platform/auth"
	"github.com/oriel-dev/oriel/platform/sqlstore"
	"github.com/oriel-dev/oriel/services/tenant/internal/store"
)

// TestTenantPrincipalsSeeOnlyTheirOwnTenant covers callers scoped to one tenant, which the
// identity service will issue: their own tenant is readable, another tenant does not exist
// for them, and platform-wide methods are refused.
func TestTenantPrincipalsSeeOnlyTheirOwnTenant(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db, err := sqlstore.Open(ctx, "sqlite://"+t.TempDir()+"/tenant.db", sqlstore.Options{Schema: "tenant"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(db.Close)
	if err := db.Migrate(ctx, store.Migrations, slog.New(slog.DiscardHandler)); err != nil {
		t.Fatal(err)
	}
	s := New(store.SQL(db), []Region{{Code: "eu-west", DisplayName: "Europe West"}}, slog.New(slog.DiscardHandler), time.Now)
	platform := auth.NewContext(ctx, &auth.Principal{ID: "serviceAccounts/isv", Scopes: auth.AllScopes})
	for _, id := range []string{"acme", "globex"} {
		if _, err := s.CreateTenant(platform, &tenantv1.CreateTenantRequest{TenantId: id, Tenant: &tenantv1.Tenant{
			DisplayName: id, Hostnames: []string{id + ".example.com"}, Region: "eu-west",
		}}); err != nil {
			t.Fatal(err)
		}
	}
	acme := auth.NewContext(ctx, &auth.Principal{ID: "tenants/acme/serviceAccounts/bi", Tenant: "acme",
		Scopes: []auth.Scope{auth.ScopeTenantsRead, auth.ScopeTenantsWrite}})
	acmeNoScope := auth.NewContext(ctx, &auth.Principal{ID: "tenants/acme/serviceAccounts/x", Tenant: "acme"})

	for _, tc := range []struct {
		name   string
		call   func() error
		code   codes.Code
		reason string
	}{
		{"its own tenant is readable", func() error {
			_, err := s.GetTenant(acme, &tenantv1.GetTenantRequest{Name: "tenants/acme"})
			return err
		}, codes.OK, ""},
		{"its own events are readable", func() error {
			_, err := s.ListTenantEvents(acme, &tenantv1.ListTenantEventsRequest{Parent: "tenants/acme"})
			return err
		}, codes.OK, ""},
		{"another tenant does not exist", func() error {
			_, err := s.GetTenant(acme, &tenantv1.GetTenantRequest{Name: "tenants/globex"})
			return err
		}, codes.NotFound, "RESOURCE_NOT_FOUND"},
		{"another tenant's events do not exist", func() error {
			_, err := s.ListTenantEvents(acme, &tenantv1.ListTenantEventsRequest{Parent: "tenants/globex"})
			return err
		}, codes.NotFound, "RESOURCE_NOT_FOUND"},
		{"every tenant's events are platform-only", func() error {
			_, err := s.ListTenantEvents(acme, &tenantv1.ListTenantEventsRequest{Parent: "tenants/-"})
			return err
		}, codes.PermissionDenied, "PERMISSION_DENIED"},
		{"listing tenants is platform-only", func() error {
			_, err := s.ListTenants(acme, &tenantv1.ListTenantsRequest{})
			return err
		}, codes.PermissionDenied, "PERMISSION_DENIED"},
		{"creating tenants is platform-only", func() error {
			_, err := s.CreateTenant(acme, &tenantv1.CreateTenantRequest{Tenant: &tenantv1.Tenant{Region: "eu-west"}})
			return err
		}, codes.PermissionDenied, "PERMISSION_DENIED"},
		{"changing its own tenant is platform-only", func() error {
			_, err := s.DeactivateTenant(acme, &tenantv1.DeactivateTenantRequest{Name: "tenants/acme", ConfirmHostname: "acme.example.com"})
			return err
		}, codes.PermissionDenied, "PERMISSION_DENIED"},
		{"reading needs the scope", func() error {
			_, err := s.GetTenant(acmeNoScope, &tenantv1.GetTenantRequest{Name: "tenants/acme"})
			return err
		}, codes.PermissionDenied, "PERMISSION_DENIED"},
		{"another tenant is NOT_FOUND even without the scope", func() error {
			_, err := s.GetTenant(acmeNoScope, &tenantv1.GetTenantRequest{Name: "tenants/globex"})
			return err
		}, codes.NotFound, "RESOURCE_NOT_FOUND"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.call()
			if status.Code(err) != tc.code || apierr.Reason(err) != tc.reason {
				t.Fatalf("got %v (reason %q), want %s %s", err, apierr.Reason(err), tc.code, tc.reason)
			}
		})
	}
}
