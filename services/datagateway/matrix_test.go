package datagateway_test

import (
	"testing"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/oriel-dev/oriel/platform/apierr"
	"github.com/oriel-dev/oriel/platform/auth"
	"github.com/oriel-dev/oriel/platform/testkit"
)

// column is one kind of caller of the authorization matrix.
type column struct {
	name string
	// principal is the caller in tenant.
	principal func(tenant string) *auth.Principal
	// manage: may manage connections, agents and replications; use: may test and query.
	manage, use bool
}

var columns = []column{
	{"platform account with datagateway.admin", func(string) *auth.Principal {
		return platformAccount(testkit.UniqueID("isv"), auth.ScopeDatagatewayAdmin)
	}, true, true},
	{"platform account with every other scope", func(string) *auth.Principal {
		return platformAccount(testkit.UniqueID("isv"), auth.ScopeTenantsRead, auth.ScopeTenantsWrite, auth.ScopeIdentityAdmin,
			auth.ScopeContentRead, auth.ScopeContentWrite, auth.ScopeEmbedMint)
	}, false, false},
	{"tenant account with datagateway.admin", func(tenant string) *auth.Principal {
		return tenantAccount(tenant, "backend", auth.ScopeDatagatewayAdmin)
	}, true, true},
	{"tenant account with content.write", func(tenant string) *auth.Principal {
		return tenantAccount(tenant, "backend", auth.ScopeContentRead, auth.ScopeContentWrite)
	}, false, false},
	{"embed user with the tenant role admin", func(tenant string) *auth.Principal { return embedUser(tenant, "ada", "admin") }, true, true},
	{"embed user with the tenant role developer", func(tenant string) *auth.Principal { return embedUser(tenant, "dev", "developer") }, false, true},
	{"embed user with the tenant role viewer", func(tenant string) *auth.Principal { return embedUser(tenant, "vic", "viewer") }, false, false},
	{"embed user without a tenant role", func(tenant string) *auth.Principal { return embedUser(tenant, "nobody") }, false, false},
}

// TestAuthorizationMatrix calls every RPC as every kind of caller, in the caller's own
// tenant (or, for platform callers, a tenant of their choosing): managing needs
// datagateway.admin or the tenant role admin, testing and querying also allow the role
// developer, and everyone else is PERMISSION_DENIED. An allowed call may still fail for
// another reason (the replication's state, say), never for authorization.
func TestAuthorizationMatrix(t *testing.T) {
	t.Parallel()
	s := startService(t)
	for _, col := range columns {
		t.Run(col.name, func(t *testing.T) {
			t.Parallel()
			tenant := testkit.UniqueID("t")
			f := s.newFixture(t, tenant)
			ctx := s.as(col.principal(tenant))
			// In order: the destructive calls come last (see rpcs).
			for _, r := range rpcs {
				err := r.call(s, ctx, f)
				allowed := col.manage || (r.use && col.use)
				code := status.Code(err)
				switch {
				case allowed && (code == codes.PermissionDenied || code == codes.NotFound || code == codes.Unauthenticated):
					t.Errorf("%s: %v, want it allowed", r.name, err)
				case !allowed && (code != codes.PermissionDenied || apierr.Reason(err) != "PERMISSION_DENIED"):
					t.Errorf("%s: %v (reason %q), want PERMISSION_DENIED", r.name, err, apierr.Reason(err))
				}
			}
		})
	}
}

// TestCallsWithoutACredentialAreUnauthenticated: the one interceptor chain refuses them
// before any handler runs.
func TestCallsWithoutACredentialAreUnauthenticated(t *testing.T) {
	t.Parallel()
	s := startService(t)
	f := s.newFixture(t, testkit.UniqueID("t"))
	for _, r := range rpcs {
		err := r.call(s, t.Context(), f)
		if status.Code(err) != codes.Unauthenticated {
			t.Errorf("%s without a credential: %v, want UNAUTHENTICATED", r.name, err)
		}
	}
}
