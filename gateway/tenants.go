package gateway

import (
	"context"
	"regexp"
	"time"

	"github.com/hashicorp/golang-lru/v2/expirable"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	tenantv1 "github.com/oriel-dev/oriel/gen/pb/oriel/tenant/v1"
	"github.com/oriel-dev/oriel/platform/auth"
)

// tenantSettings is what the edge knows of a tenant: whether it exists, whether it is
// active (a deactivated tenant's frame pages and theme are not served) and its settings.
type tenantSettings struct {
	exists   bool
	active   bool
	settings *tenantv1.TenantSettings
}

// tenantDirectory reads tenants' settings with the edge's service key and caches them
// for a few seconds, absent tenants included, so a call costs the tenant service at most
// one read per tenant per TTL.
type tenantDirectory struct {
	client tenantv1.TenantServiceClient
	key    string
	cache  *expirable.LRU[string, tenantSettings]
}

func newTenantDirectory(conn grpc.ClientConnInterface, serviceKey string, ttl time.Duration) *tenantDirectory {
	d := &tenantDirectory{key: serviceKey}
	if serviceKey != "" {
		d.client = tenantv1.NewTenantServiceClient(conn)
	}
	if ttl > 0 {
		d.cache = expirable.NewLRU[string, tenantSettings](10_000, nil, ttl)
	}
	return d
}

// tenantID is what a tenant id may be (the tenant service's rule); anything else cannot
// name a tenant and is absent without asking.
var tenantID = regexp.MustCompile(`^[a-z][a-z0-9-]{1,61}[a-z0-9]$`)

// configured reports whether the edge can read settings at all (it has a service key).
func (d *tenantDirectory) configured() bool { return d.client != nil }

// lookup returns the tenant's settings. Without a service key every tenant "exists" with
// empty settings: no allowed origins, the default plan. An error means the tenant service
// could not answer.
func (d *tenantDirectory) lookup(ctx context.Context, tenant string) (tenantSettings, error) {
	if d.client == nil {
		return tenantSettings{exists: true, active: true, settings: &tenantv1.TenantSettings{}}, nil
	}
	if !tenantID.MatchString(tenant) {
		return tenantSettings{}, nil
	}
	if d.cache != nil {
		if s, ok := d.cache.Get(tenant); ok {
			return s, nil
		}
	}
	ctx, cancel := context.WithTimeout(ctx, 3*time.Second)
	defer cancel()
	resp, err := d.client.GetTenant(auth.OutgoingCredential(ctx, d.key), &tenantv1.GetTenantRequest{Name: "tenants/" + tenant})
	var s tenantSettings
	switch status.Code(err) {
	case codes.OK:
		s = tenantSettings{exists: true, active: resp.GetTenant().GetState() == tenantv1.Tenant_STATE_ACTIVE,
			settings: resp.GetTenant().GetSettings()}
		if s.settings == nil {
			s.settings = &tenantv1.TenantSettings{}
		}
	case codes.NotFound:
	default:
		return tenantSettings{}, err
	}
	if d.cache != nil {
		d.cache.Add(tenant, s)
	}
	return s, nil
}
