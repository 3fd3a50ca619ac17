package storetest

import (
	"errors"
	"slices"
	"sync"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"

	tenantv1 "github.com/oriel-dev/oriel/gen/pb/oriel/tenant/v1"
	"github.com/oriel-dev/oriel/platform/testkit"
	"github.com/oriel-dev/oriel/services/tenant/internal/store"
)

var purgeBehaviours = []behaviour{
	{"purge candidates are due deactivated tenants, soonest first, up to the limit", purgeCandidatesAreDueDeactivatedTenants},
	{"purge turns a due tenant into a tombstone", purgeTurnsDueTenantIntoTombstone},
	{"purge releases the tenant's hostnames", purgeReleasesHostnames},
	{"purge finds nothing to purge in what is not due", purgeFindsNothingInWhatIsNotDue},
	{"concurrent purges of one tenant: exactly one wins", concurrentPurgesOfOneTenant},
}

// purgeEpoch is the clock of the purge-candidate behaviour, decades before epoch: no other
// behaviour's tenant falls due by then, so PurgeCandidates near purgeEpoch sees only this
// behaviour's tenants even in a shared store, and its order and limit can be checked exactly.
var purgeEpoch = time.Date(2001, time.September, 3, 4, 5, 6, 789012000, time.UTC)

func purgeCandidatesAreDueDeactivatedTenants(t *testing.T, s store.Store) {
	run := testkit.UniqueID("candidates")
	now := purgeEpoch.Add(4 * time.Hour)
	// Ids run against purge order, so a store ordering by id is caught.
	due := []*tenantv1.Tenant{
		deactivated(newTenantWithID(run+"-d"), purgeEpoch, purgeEpoch.Add(time.Hour)),
		deactivated(newTenantWithID(run+"-c"), purgeEpoch, purgeEpoch.Add(2*time.Hour)),
		deactivated(newTenantWithID(run+"-b"), purgeEpoch, purgeEpoch.Add(3*time.Hour)),
		deactivated(newTenantWithID(run+"-a"), purgeEpoch, now), // due at exactly now
	}
	notYetDue := deactivated(newTenant("candidates-later"), purgeEpoch, now.Add(time.Microsecond))
	// Reactivated without its purge time cleared: the state, not the time, rules it out.
	active := newTenant("candidates-active")
	active.PurgeTime = ts(purgeEpoch)
	purged := deactivated(newTenant("candidates-purged"), purgeEpoch, purgeEpoch.Add(30*time.Minute))
	// Created in neither id nor purge order.
	mustCreate(t, s, due[2], notYetDue, due[0], active, due[3], purged, due[1])
	mustPurge(t, s, idOf(purged), now)

	var want []string
	for _, tn := range due {
		want = append(want, idOf(tn))
	}
	for _, limit := range []int{1, 3, 4, 10} {
		got, err := s.PurgeCandidates(t.Context(), now, limit)
		if err != nil {
			t.Fatalf("PurgeCandidates(limit %d): %v", limit, err)
		}
		if w := want[:min(limit, len(want))]; !slices.Equal(got, w) {
			t.Errorf("PurgeCandidates(limit %d) = %q, want %q", limit, got, w)
		}
	}
}

func purgeTurnsDueTenantIntoTombstone(t *testing.T, s store.Store) {
	for _, tc := range []struct {
		name     string
		lateness time.Duration
	}{
		{"a minute after its purge time", time.Minute + 3*time.Microsecond},
		{"at exactly its purge time", 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			purgeAt := epoch.Add(31 * 24 * time.Hour)
			tn := deactivated(newTenant("tombstone"), epoch.Add(24*time.Hour), purgeAt)
			mustCreate(t, s, tn)
			now := purgeAt.Add(tc.lateness)

			tomb := mustPurge(t, s, idOf(tn), now)
			if tomb.GetState() != tenantv1.Tenant_STATE_DELETED {
				t.Errorf("state = %v, want STATE_DELETED", tomb.GetState())
			}
			if len(tomb.GetHostnames()) != 0 || len(tomb.GetLabels()) != 0 || proto.Size(tomb.GetSettings()) != 0 {
				t.Errorf("hostnames %q, labels %v and settings {%v} survived the purge",
					tomb.GetHostnames(), tomb.GetLabels(), tomb.GetSettings())
			}
			// What a tombstone is for: saying what the id was, where, and since when.
			if tomb.GetName() != tn.GetName() || tomb.GetDisplayName() != tn.GetDisplayName() || tomb.GetRegion() != tn.GetRegion() ||
				!tomb.GetCreateTime().AsTime().Equal(tn.GetCreateTime().AsTime()) {
				t.Errorf("tombstone %s %q in %q created %v, want %s %q in %q created %v",
					tomb.GetName(), tomb.GetDisplayName(), tomb.GetRegion(), tomb.GetCreateTime().AsTime(),
					tn.GetName(), tn.GetDisplayName(), tn.GetRegion(), tn.GetCreateTime().AsTime())
			}
			if !tomb.GetUpdateTime().AsTime().Equal(now) {
				t.Errorf("update_time = %v, want the purge's now %v", tomb.GetUpdateTime().AsTime(), now)
			}
			if tomb.GetEtag() == "" || tomb.GetEtag() == tn.GetEtag() {
				t.Errorf("etag = %q, want a new one (was %q)", tomb.GetEtag(), tn.GetEtag())
			}
			testkit.RequireProto(t, "GetTenant of the purged tenant", tomb, mustGet(t, s, idOf(tn)))
		})
	}
}

func purgeReleasesHostnames(t *testing.T, s store.Store) {
	tn := deactivated(newTenant("released"), epoch, epoch.Add(time.Hour))
	mustCreate(t, s, tn)
	mustPurge(t, s, idOf(tn), epoch.Add(time.Hour))
	requireClaimable(t, s, "the purged tenant's hostnames", tn.GetHostnames()...)
}

func purgeFindsNothingInWhatIsNotDue(t *testing.T, s store.Store) {
	now := epoch.Add(10 * 24 * time.Hour)
	for _, tc := range []struct {
		name string
		// tenant is created before the purge; nil means there is no tenant at all.
		tenant *tenantv1.Tenant
		// purgedAt, if set, purges the tenant then, before the purge under test.
		purgedAt time.Time
	}{
		{name: "an active tenant", tenant: newTenant("active")},
		{name: "an active tenant with a stale purge time", tenant: func() *tenantv1.Tenant {
			tn := newTenant("reactivated")
			tn.PurgeTime = ts(epoch)
			return tn
		}()},
		{name: "a deactivated tenant not yet due", tenant: deactivated(newTenant("not-due"), epoch, now.Add(time.Microsecond))},
		{name: "an already purged tenant", tenant: deactivated(newTenant("purged"), epoch, epoch.Add(time.Hour)), purgedAt: now.Add(-time.Hour)},
		{name: "a missing id"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			id := idOf(newTenant("missing"))
			var before *tenantv1.Tenant
			if tc.tenant != nil {
				id = idOf(tc.tenant)
				mustCreate(t, s, tc.tenant)
				before = tc.tenant
				if !tc.purgedAt.IsZero() {
					before = mustPurge(t, s, id, tc.purgedAt)
				}
			}

			tomb, err := purge(t.Context(), s, id, now)
			testkit.RequireErrorIs(t, "PurgeTenant", err, store.ErrNotFound)
			if tomb != nil {
				t.Errorf("PurgeTenant returned tombstone %v with ErrNotFound", tomb)
			}
			if before == nil {
				_, err := s.GetTenant(t.Context(), id)
				testkit.RequireErrorIs(t, "GetTenant after purging a missing id", err, store.ErrNotFound)
				return
			}
			testkit.RequireProto(t, "the tenant after the refused purge", before, mustGet(t, s, id))
			for _, h := range before.GetHostnames() {
				requireHeld(t, s, "a hostname of the tenant after the refused purge", h)
			}
		})
	}
}

func concurrentPurgesOfOneTenant(t *testing.T, s store.Store) {
	// Purge workers on several replicas pick the same candidate; one must purge it (and so
	// write its one "purged" event) and every other must find nothing to do.
	tn := deactivated(newTenant("contested"), epoch, epoch.Add(time.Hour))
	mustCreate(t, s, tn)
	now := epoch.Add(2 * time.Hour)
	var (
		start = make(chan struct{})
		wg    sync.WaitGroup
		tombs = make([]*tenantv1.Tenant, concurrency)
		errs  = make([]error, concurrency)
	)
	for i := range concurrency {
		wg.Go(func() {
			<-start
			tombs[i], errs[i] = purge(t.Context(), s, idOf(tn), now)
		})
	}
	close(start)
	wg.Wait()

	var winner *tenantv1.Tenant
	for i, err := range errs {
		switch {
		case err == nil && winner == nil:
			winner = tombs[i]
		case err == nil:
			t.Errorf("purge %d also got a tombstone", i)
		case !errors.Is(err, store.ErrNotFound):
			t.Errorf("purge %d: %v, want nil or ErrNotFound", i, err)
		}
	}
	if winner == nil {
		t.Fatalf("none of %d concurrent purges got the tombstone", concurrency)
	}
	if winner.GetState() != tenantv1.Tenant_STATE_DELETED {
		t.Fatalf("the winner's tombstone is %v, want STATE_DELETED", winner.GetState())
	}
	testkit.RequireProto(t, "GetTenant after the race", winner, mustGet(t, s, idOf(tn)))
}
