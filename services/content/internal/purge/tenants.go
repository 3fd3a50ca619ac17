package purge

import (
	"context"
	"log/slog"
	"strings"
	"sync"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	tenantv1 "github.com/oriel-dev/oriel/gen/pb/oriel/tenant/v1"
	"github.com/oriel-dev/oriel/platform/auth"
	"github.com/oriel-dev/oriel/services/content/internal/store"
)

// TenantPurgedEvent is the type of the tenant event after which a tenant's content goes.
const TenantPurgedEvent = "dev.oriel.tenant.purged"

const (
	// eventPageSize is the most events one call reads.
	eventPageSize = 1000
	// eventCallTimeout bounds one call to the tenant service.
	eventCallTimeout = 30 * time.Second
	// rescanEvery is how often the follower reads the event log from the beginning
	// again. Events are numbered when written but may become visible out of order (two
	// transactions committing the other way round), so one could appear behind the
	// position already passed; reading everything again now and then catches it, and
	// purging a tenant again deletes nothing.
	rescanEvery = 6 * time.Hour
)

// TenantFollower removes the content of tenants the tenant service purges. It reads the
// tenant service's event log (ListTenantEvents of `tenants/-`), the only way content
// learns about tenants (services never read each other's tables), and purges each tenant
// a `dev.oriel.tenant.purged` event names.
//
// Its position in the log is kept in memory only: after a restart it reads the log from
// the beginning and purges every purged tenant again. That is harmless, since purging a
// tenant with no content left deletes nothing, and it spares the content schema a table
// that would mirror the tenant service's state. Replicas each follow the whole log for
// the same reason.
type TenantFollower struct {
	tenants    tenantv1.TenantServiceClient
	credential string
	store      store.Store
	log        *slog.Logger
	interval   time.Duration

	mu sync.Mutex // one Follow at a time: they share the position
	// token is the page token of the page being read, "" for the first.
	token string
	// handled are the ids of that page's events acted on already: the last page is read
	// again on every pass, until it fills up and a next page begins.
	handled map[string]bool
	// since is when the follower last started from the beginning.
	since time.Time
}

// NewTenantFollower follows the event log of the tenant service behind tenants, calling it
// with credential, a platform API key with tenants.read; it purges content in st.
func NewTenantFollower(tenants tenantv1.TenantServiceClient, credential string, st store.Store, log *slog.Logger) *TenantFollower {
	return &TenantFollower{
		tenants: tenants, credential: credential, store: st, log: log,
		interval: DefaultInterval, handled: map[string]bool{},
	}
}

// Every sets how often Run reads new events (DefaultInterval unless set) and returns f.
func (f *TenantFollower) Every(interval time.Duration) *TenantFollower {
	if interval > 0 {
		f.interval = interval
	}
	return f
}

// Run follows the event log at once and then every interval until ctx is done; it is a
// server.Worker. Failures are logged and retried at the next tick: the tenant service
// being down must not stop content.
func (f *TenantFollower) Run(ctx context.Context) error {
	return repeat(ctx, f.interval, func(ctx context.Context) {
		if n, err := f.Follow(ctx); err != nil && ctx.Err() == nil {
			msg := "following tenant events failed; retrying at the next tick"
			switch status.Code(err) {
			case codes.Unauthenticated, codes.PermissionDenied:
				msg = "the tenant service refuses the service API key (--service-api-key needs a platform key with tenants.read); purged tenants keep their content until it is fixed"
			}
			f.log.ErrorContext(ctx, msg, "error", err, "tenants_purged", n)
		}
	})
}

// Follow reads the events written since the last call (all of them on the first) and
// purges the content of each purged tenant, returning how many it purged. On an error the
// position stays before the event that failed, so the next call tries it again.
func (f *TenantFollower) Follow(ctx context.Context) (int, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if time.Since(f.since) > rescanEvery {
		f.token, f.handled, f.since = "", map[string]bool{}, time.Now()
	}
	out := auth.OutgoingCredential(ctx, f.credential)
	purged := 0
	for {
		resp, err := f.page(out)
		if status.Code(err) == codes.InvalidArgument && f.token != "" {
			// The tenant service no longer accepts the token (a new version, say): start
			// from the beginning, which is always safe.
			f.log.WarnContext(ctx, "the tenant service rejects the event position; reading its events from the beginning", "error", err)
			f.token, f.handled, f.since = "", map[string]bool{}, time.Now()
			continue
		}
		if err != nil {
			return purged, err
		}
		for _, e := range resp.GetEvents() {
			if f.handled[e.GetId()] {
				continue
			}
			if e.GetType() == TenantPurgedEvent {
				tenant, ok := tenantID(e)
				if !ok {
					f.log.WarnContext(ctx, "tenant purged event names no tenant; skipped", "event", e.GetName())
				} else {
					if err := f.store.PurgeTenant(ctx, tenant); err != nil {
						return purged, err
					}
					purged++
					f.log.InfoContext(ctx, "purged tenant's content removed", "tenant", store.TenantName(tenant), "event", e.GetId())
				}
			}
			f.handled[e.GetId()] = true
		}
		if resp.GetNextPageToken() == "" {
			return purged, nil
		}
		f.token, f.handled = resp.GetNextPageToken(), map[string]bool{}
	}
}

// page reads the page at the follower's position.
func (f *TenantFollower) page(ctx context.Context) (*tenantv1.ListTenantEventsResponse, error) {
	ctx, cancel := context.WithTimeout(ctx, eventCallTimeout)
	defer cancel()
	return f.tenants.ListTenantEvents(ctx, &tenantv1.ListTenantEventsRequest{
		Parent: "tenants/-", PageSize: eventPageSize, PageToken: f.token,
	})
}

// tenantID is the id of the tenant an event is about: its subject, `tenants/{tenant}`.
func tenantID(e *tenantv1.TenantEvent) (string, bool) {
	name := e.GetSubject()
	if name == "" {
		name = e.GetData().GetName()
	}
	id, ok := strings.CutPrefix(name, "tenants/")
	if !ok || id == "" || strings.Contains(id, "/") {
		return "", false
	}
	return id, true
}
