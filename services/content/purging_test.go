package content_test

import (
	"context"
	"fmt"
	"log/slog"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	contentv1 "github.com/oriel-dev/oriel/gen/pb/oriel/content/v1"
	tenantv1 "github.com/oriel-dev/oriel/gen/pb/oriel/tenant/v1"
	"github.com/oriel-dev/oriel/services/content/internal/purge"
	"github.com/oriel-dev/oriel/services/content/internal/store"
)

// eventually polls cond every 50 ms until it holds, failing the test after timeout.
func eventually(t testing.TB, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("after %s: %s", timeout, what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// createApp creates an app in space as the ISV and returns its name.
func (s *service) createApp(t testing.TB, tenant, id, space string) string {
	t.Helper()
	resp, err := s.apps.CreateApp(s.isv, &contentv1.CreateAppRequest{
		Parent: store.TenantName(tenant), AppId: id,
		App: &contentv1.App{Title: "App " + id, Space: space, Definition: definition("t: SQL SELECT 1;")},
	})
	if err != nil {
		t.Fatalf("create app %s/%s: %v", tenant, id, err)
	}
	return resp.GetApp().GetName()
}

func (s *service) appCode(name string) codes.Code {
	_, err := s.apps.GetApp(s.isv, &contentv1.GetAppRequest{Name: name})
	return status.Code(err)
}

func TestPurgeWorkerRemovesDeletedAppsOncePastTheirPurgeTime(t *testing.T) {
	t.Parallel()
	// The service's own worker, on the service's clock, every 50 ms.
	s := startService(t)
	space := s.createSpace(t, "purging", "sales", contentv1.Space_TYPE_SHARED)
	early := s.createApp(t, "purging", "deleted-early", space)
	late := s.createApp(t, "purging", "deleted-late", space)
	live := s.createApp(t, "purging", "kept", space)
	del := func(name string) {
		t.Helper()
		if _, err := s.apps.DeleteApp(s.isv, &contentv1.DeleteAppRequest{Name: name}); err != nil {
			t.Fatalf("delete %s: %v", name, err)
		}
	}
	del(early)
	s.clock.Advance(7 * 24 * time.Hour)
	del(late)
	// Before its purge time a deleted app stays (restorable); the worker runs meanwhile.
	time.Sleep(200 * time.Millisecond)
	if code := s.appCode(early); code != codes.OK {
		t.Fatalf("GetApp(%s) 7 days after its deletion = %v, want it kept until its purge time", early, code)
	}
	s.clock.Advance(8 * 24 * time.Hour) // 15 days after the first deletion, 8 after the second

	eventually(t, 10*time.Second, early+" is purged", func() bool { return s.appCode(early) == codes.NotFound })
	app := must[*contentv1.GetAppResponse](t)(s.apps.GetApp(s.isv, &contentv1.GetAppRequest{Name: late})).GetApp()
	if app.GetState() != contentv1.App_STATE_DELETED {
		t.Errorf("%s = %v, want still DELETED: its purge time is 6 days away", late, app.GetState())
	}
	if code := s.appCode(live); code != codes.OK {
		t.Errorf("GetApp(%s) = %v, want a live app untouched", live, code)
	}
}

func TestPurgeWorkerWorksThroughABacklogInBatches(t *testing.T) {
	t.Parallel()
	s := startService(t)
	space := s.createSpace(t, "backlog", "sales", contentv1.Space_TYPE_SHARED)
	now := s.clock.Now().UTC().Truncate(time.Microsecond)
	purgeAt := now.Add(14 * 24 * time.Hour)
	const n = 234 // more than two batches
	for i := range n {
		id := fmt.Sprintf("app-%03d", i)
		s.putApp(t, "backlog", id, space, "serviceAccounts/isv")
		err := s.store.ReadWriteTx(context.Background(), func(ctx context.Context, tx store.Tx) error {
			_, err := tx.SetAppState(ctx, "backlog", id, "", contentv1.App_STATE_DELETED, &purgeAt, now)
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	// A worker whose clock is past the purge time; the service's own stays before it.
	w := purge.New(s.store, slog.New(slog.DiscardHandler), func() time.Time { return purgeAt.Add(time.Hour) }, time.Hour)
	purged, err := w.PurgeDue(context.Background())
	if err != nil || purged != n {
		t.Fatalf("PurgeDue = %d, %v; want %d", purged, err, n)
	}
	if again, err := w.PurgeDue(context.Background()); err != nil || again != 0 {
		t.Errorf("second PurgeDue = %d, %v; want nothing left", again, err)
	}
	apps, err := s.store.ListApps(context.Background(), "backlog", store.AppQuery{ShowDeleted: true, Page: store.Page{Limit: 10}})
	if err != nil || len(apps) != 0 {
		t.Errorf("apps left = %v, %v; want none", apps, err)
	}
}

func TestTenantFollowerRemovesTheContentOfTenantsTheTenantServicePurges(t *testing.T) {
	t.Parallel()
	s, ts := startWithTenants(t)
	doomed := ts.createTenant(t, "doomed", nil)
	kept := ts.createTenant(t, "kept", nil)
	doomedSpace := s.createSpace(t, doomed, "sales", contentv1.Space_TYPE_SHARED)
	doomedApp := s.createApp(t, doomed, "dashboard", doomedSpace)
	keptApp := s.createApp(t, kept, "dashboard", s.createSpace(t, kept, "sales", contentv1.Space_TYPE_SHARED))

	// The tenant service purges the tenant 10 days after its deactivation, by its clock.
	ts.deactivateTenant(t, doomed)
	ts.clock.Advance(11 * 24 * time.Hour)
	eventually(t, 10*time.Second, "the tenant service purges "+doomed, func() bool {
		resp, err := ts.client.GetTenant(ts.admin, &tenantv1.GetTenantRequest{Name: store.TenantName(doomed)})
		return err == nil && resp.GetTenant().GetState() == tenantv1.Tenant_STATE_DELETED
	})

	log := slog.New(slog.DiscardHandler)
	follower := purge.NewTenantFollower(ts.client, ts.adminKey, s.store, log).Every(50 * time.Millisecond)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- follower.Run(ctx) }()
	eventually(t, 10*time.Second, "the follower removes "+doomedApp, func() bool { return s.appCode(doomedApp) == codes.NotFound })
	cancel()
	if err := <-done; err != nil {
		t.Errorf("Run = %v, want nil once its context ends", err)
	}

	_, err := s.spaces.GetSpace(s.isv, &contentv1.GetSpaceRequest{Name: doomedSpace})
	wantCode(t, err, codes.NotFound, "RESOURCE_NOT_FOUND")
	if code := s.appCode(keptApp); code != codes.OK {
		t.Errorf("GetApp(%s) = %v, want another tenant's content untouched", keptApp, code)
	}
	// It remembers how far it read: nothing new, nothing purged.
	if n, err := follower.Follow(context.Background()); err != nil || n != 0 {
		t.Errorf("Follow again = %d, %v; want 0", n, err)
	}
	// A restarted follower reads the log from the start again, which is harmless.
	restarted := purge.NewTenantFollower(ts.client, ts.adminKey, s.store, log)
	if n, err := restarted.Follow(context.Background()); err != nil || n != 1 {
		t.Errorf("Follow after a restart = %d, %v; want the one purge replayed", n, err)
	}
	if code := s.appCode(keptApp); code != codes.OK {
		t.Errorf("GetApp(%s) after the replay = %v, want it untouched", keptApp, code)
	}
}

func TestTenantFollowerFailsWithACredentialTheTenantServiceRefuses(t *testing.T) {
	t.Parallel()
	ts := startTenantService(t)
	follower := purge.NewTenantFollower(ts.client, "oriel_sk_not-the-admin-key-at-all-0000000000", nil, slog.New(slog.DiscardHandler))
	_, err := follower.Follow(context.Background())
	if code := status.Code(err); code != codes.Unauthenticated {
		t.Errorf("Follow = %v, want UNAUTHENTICATED", err)
	}
}
