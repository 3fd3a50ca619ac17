package storetest

import (
	"context"
	"errors"
	"slices"
	"sync"
	"testing"
	"time"

	tenantv1 "github.com/oriel-dev/oriel/gen/pb/oriel/tenant/v1"
	"github.com/oriel-dev/oriel/platform/testkit"
	"github.com/oriel-dev/oriel/services/tenant/internal/store"
)

var tenantBehaviours = []behaviour{
	{"create then get round-trips every field", createThenGetRoundTripsEveryField},
	{"get of a missing id is not found", getOfMissingIDIsNotFound},
	{"nil and empty labels both read back as no labels", nilAndEmptyLabelsReadBackAsNoLabels},
	{"create with a taken id is already exists", createWithTakenIDIsAlreadyExists},
	{"create with a held hostname names it and persists nothing", createWithHeldHostnamePersistsNothing},
	{"etag is stable across reads and changes with every update", etagChangesOnlyWithUpdates},
	{"update writes every mutable field", updateWritesEveryMutableField},
	{"update can clear labels, settings and purge times", updateCanClear},
	{"update releases removed hostnames and claims added ones", updateReleasesAndClaimsHostnames},
	{"update claiming a held hostname rolls back the whole transaction", updateClaimingHeldHostnameRollsBack},
	{"a hostname moves between tenants in one transaction", hostnameMovesBetweenTenants},
	{"update of a missing tenant is not found", updateOfMissingTenantIsNotFound},
	{"concurrent creates of one id: exactly one succeeds", concurrentCreatesOfOneID},
}

func createThenGetRoundTripsEveryField(t *testing.T, s store.Store) {
	for _, tc := range []struct {
		name   string
		tenant *tenantv1.Tenant
	}{
		{"active tenant", newTenant("roundtrip-active")},
		{"deactivated tenant with its deactivate and purge times",
			deactivated(newTenant("roundtrip-deactivated"), epoch.Add(2*time.Hour+7*time.Microsecond), epoch.Add(30*24*time.Hour+11*time.Microsecond))},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			want := clone(tc.tenant)
			mustCreate(t, s, tc.tenant)
			want.Etag = tc.tenant.GetEtag()

			testkit.RequireProto(t, "Store.GetTenant after create", want, mustGet(t, s, idOf(want)))
			var locked *tenantv1.Tenant
			err := s.ReadWriteTx(t.Context(), func(ctx context.Context, tx store.Tx) error {
				var err error
				locked, err = tx.GetTenant(ctx, idOf(want))
				return err
			})
			if err != nil {
				t.Fatalf("Tx.GetTenant: %v", err)
			}
			testkit.RequireProto(t, "Tx.GetTenant after create", want, locked)
		})
	}
}

func getOfMissingIDIsNotFound(t *testing.T, s store.Store) {
	id := idOf(newTenant("missing"))
	_, err := s.GetTenant(t.Context(), id)
	testkit.RequireErrorIs(t, "Store.GetTenant of a missing id", err, store.ErrNotFound)
	err = s.ReadWriteTx(t.Context(), func(ctx context.Context, tx store.Tx) error {
		_, err := tx.GetTenant(ctx, id)
		return err
	})
	testkit.RequireErrorIs(t, "Tx.GetTenant of a missing id", err, store.ErrNotFound)
}

func nilAndEmptyLabelsReadBackAsNoLabels(t *testing.T, s store.Store) {
	for _, tc := range []struct {
		name   string
		labels map[string]string
	}{
		{"nil labels", nil},
		{"empty labels", map[string]string{}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			tn := newTenant("labels")
			tn.Labels = tc.labels
			mustCreate(t, s, tn)
			if got := mustGet(t, s, idOf(tn)).GetLabels(); len(got) != 0 {
				t.Fatalf("labels = %v, want none", got)
			}
		})
	}
}

func createWithTakenIDIsAlreadyExists(t *testing.T, s store.Store) {
	for _, tc := range []struct {
		name string
		// existing creates the tenant whose id is taken and returns it as stored.
		existing func(t *testing.T) *tenantv1.Tenant
		// duplicate is the second tenant with that id.
		duplicate func(existing *tenantv1.Tenant) *tenantv1.Tenant
	}{
		{
			name: "a live tenant's id",
			existing: func(t *testing.T) *tenantv1.Tenant {
				tn := newTenant("taken-live")
				mustCreate(t, s, tn)
				return tn
			},
			duplicate: otherTenantWithIDOf,
		},
		{
			name: "a purged tombstone's id",
			existing: func(t *testing.T) *tenantv1.Tenant {
				tn := deactivated(newTenant("taken-tombstone"), epoch, epoch.Add(time.Hour))
				mustCreate(t, s, tn)
				return mustPurge(t, s, idOf(tn), epoch.Add(time.Hour))
			},
			duplicate: otherTenantWithIDOf,
		},
		{
			// The id check comes first, so a retry whose hostnames its own first attempt
			// holds learns that the tenant exists, not that its hostnames are taken.
			name: "a blind retry of the same tenant, hostnames and all",
			existing: func(t *testing.T) *tenantv1.Tenant {
				tn := newTenant("taken-retry")
				mustCreate(t, s, tn)
				return tn
			},
			duplicate: func(existing *tenantv1.Tenant) *tenantv1.Tenant {
				dup := clone(existing)
				dup.Etag = ""
				return dup
			},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			existing := tc.existing(t)
			dup := tc.duplicate(existing)

			testkit.RequireErrorIs(t, "CreateTenant with a taken id", create(t.Context(), s, dup), store.ErrAlreadyExists)
			testkit.RequireProto(t, "the tenant holding the id after the failed create", existing, mustGet(t, s, idOf(existing)))
			var free []string
			for _, h := range dup.GetHostnames() {
				if !slices.Contains(existing.GetHostnames(), h) {
					free = append(free, h)
				}
			}
			if len(free) > 0 {
				requireClaimable(t, s, "hostnames of the failed create", free...)
			}
		})
	}
}

// otherTenantWithIDOf is a different tenant, with its own hostnames, reusing existing's id.
func otherTenantWithIDOf(existing *tenantv1.Tenant) *tenantv1.Tenant {
	dup := newTenant("duplicate")
	dup.Name = existing.GetName()
	dup.Hostnames = []string{freshHostname("duplicate")}
	return dup
}

func createWithHeldHostnamePersistsNothing(t *testing.T, s store.Store) {
	holder := newTenant("holder")
	mustCreate(t, s, holder)
	held := holder.GetHostnames()[1]

	// The held hostname sits between two free ones, so one free hostname has been written
	// when the conflict is found and must be rolled back with the rest.
	loser := newTenant("loser")
	own := []string{freshHostname("own-first"), freshHostname("own-last")}
	loser.Hostnames = []string{own[0], held, own[1]}
	requireHostnameInUse(t, "CreateTenant with a held hostname", create(t.Context(), s, loser), held)

	_, err := s.GetTenant(t.Context(), idOf(loser))
	testkit.RequireErrorIs(t, "GetTenant of the tenant whose create failed", err, store.ErrNotFound)
	requireClaimable(t, s, "hostnames of the failed create", own...)
	testkit.RequireProto(t, "the holder after the failed create", holder, mustGet(t, s, idOf(holder)))
	requireHeld(t, s, "the holder's hostname after the failed create", held)
}

func etagChangesOnlyWithUpdates(t *testing.T, s store.Store) {
	tn := newTenant("etag")
	mustCreate(t, s, tn)
	id := idOf(tn)
	created := tn.GetEtag()

	for i := range 2 {
		if got := mustGet(t, s, id).GetEtag(); got != created {
			t.Fatalf("read %d: etag = %q, want %q from CreateTenant", i, got, created)
		}
	}
	// A transaction that reads (and so locks) the tenant but writes nothing is no change.
	err := s.ReadWriteTx(t.Context(), func(ctx context.Context, tx store.Tx) error {
		_, err := tx.GetTenant(ctx, id)
		return err
	})
	if err != nil {
		t.Fatalf("read-only transaction: %v", err)
	}
	if got := mustGet(t, s, id).GetEtag(); got != created {
		t.Fatalf("after a read-only transaction: etag = %q, want %q", got, created)
	}

	seen := []string{created}
	for i := range 2 {
		// Even a write that changes nothing is a new revision: clients use the etag to
		// detect writes, not to compare contents.
		updated := mustUpdate(t, s, id, func(*tenantv1.Tenant) {})
		if updated.GetEtag() == "" || slices.Contains(seen, updated.GetEtag()) {
			t.Fatalf("update %d: etag = %q, want a new one (seen %q)", i, updated.GetEtag(), seen)
		}
		if got := mustGet(t, s, id).GetEtag(); got != updated.GetEtag() {
			t.Fatalf("update %d: read etag = %q, want %q from UpdateTenant", i, got, updated.GetEtag())
		}
		seen = append(seen, updated.GetEtag())
	}
}

func updateWritesEveryMutableField(t *testing.T, s store.Store) {
	tn := newTenant("update")
	mustCreate(t, s, tn)
	id := idOf(tn)
	deactivateAt := epoch.Add(3*time.Hour + 3*time.Microsecond)

	// Region and create_time are immutable, so they are the only fields left as they were.
	updated := mustUpdate(t, s, id, func(cur *tenantv1.Tenant) {
		cur.DisplayName = "Renamed " + id
		cur.Hostnames = []string{freshHostname("added"), cur.Hostnames[2], cur.Hostnames[0]}
		cur.Labels = map[string]string{"tier": "free", "cohort": "2031"}
		cur.Settings = &tenantv1.TenantSettings{
			DefaultLocale:     "zh-Hant-TW",
			AllowedWebOrigins: []string{"https://new." + id + ".example.com"},
			Theme:             &tenantv1.Theme{PrimaryColor: "#000000", BackgroundColor: "#fafafa", TextColor: "#111111"},
		}
		deactivated(cur, deactivateAt, deactivateAt.Add(30*24*time.Hour))
	})
	if updated.GetEtag() == "" || updated.GetEtag() == tn.GetEtag() {
		t.Fatalf("UpdateTenant set etag %q, want a new one (was %q)", updated.GetEtag(), tn.GetEtag())
	}
	got := mustGet(t, s, id)
	testkit.RequireProto(t, "GetTenant after update", updated, got)
	if got.GetRegion() != tn.GetRegion() || !got.GetCreateTime().AsTime().Equal(tn.GetCreateTime().AsTime()) {
		t.Fatalf("region %q and create_time %v changed to %q and %v", tn.GetRegion(), tn.GetCreateTime().AsTime(),
			got.GetRegion(), got.GetCreateTime().AsTime())
	}
}

func updateCanClear(t *testing.T, s store.Store) {
	tn := deactivated(newTenant("clear"), epoch.Add(time.Hour), epoch.Add(48*time.Hour))
	mustCreate(t, s, tn)

	// Reactivation: the purge schedule goes, and with it labels and settings in this case.
	updated := mustUpdate(t, s, idOf(tn), func(cur *tenantv1.Tenant) {
		cur.State = tenantv1.Tenant_STATE_ACTIVE
		cur.UpdateTime = ts(epoch.Add(2 * time.Hour))
		cur.DeactivateTime = nil
		cur.PurgeTime = nil
		cur.Labels = nil
		cur.Settings = &tenantv1.TenantSettings{}
	})
	got := mustGet(t, s, idOf(tn))
	testkit.RequireProto(t, "GetTenant after clearing", updated, got)
	if got.DeactivateTime != nil || got.PurgeTime != nil || len(got.GetLabels()) != 0 {
		t.Fatalf("deactivate_time %v, purge_time %v, labels %v survived being cleared",
			got.DeactivateTime, got.PurgeTime, got.GetLabels())
	}
}

func updateReleasesAndClaimsHostnames(t *testing.T, s store.Store) {
	tn := newTenant("rehost")
	tn.Hostnames = []string{freshHostname("removed"), freshHostname("kept")}
	mustCreate(t, s, tn)
	removed, kept, added := tn.Hostnames[0], tn.Hostnames[1], freshHostname("added")

	mustUpdate(t, s, idOf(tn), func(cur *tenantv1.Tenant) { cur.Hostnames = []string{added, kept} })
	if got := mustGet(t, s, idOf(tn)).GetHostnames(); !slices.Equal(got, []string{added, kept}) {
		t.Fatalf("hostnames after update = %q, want %q", got, []string{added, kept})
	}
	requireClaimable(t, s, "the removed hostname", removed)
	requireHeld(t, s, "the added hostname", added)
	requireHeld(t, s, "the kept hostname", kept)
}

func updateClaimingHeldHostnameRollsBack(t *testing.T, s store.Store) {
	holder := newTenant("holder")
	victim := newTenant("victim")
	mustCreate(t, s, holder, victim)
	held, dropped, added := holder.GetHostnames()[0], victim.GetHostnames()[0], freshHostname("added")

	// The tenant row is written before the hostnames, and the dropped hostname deleted
	// before the held one is found taken: all of it must be undone.
	_, err := update(t.Context(), s, idOf(victim), func(cur *tenantv1.Tenant) {
		cur.DisplayName = "Renamed"
		cur.Labels = nil
		cur.Hostnames = []string{added, held}
	})
	requireHostnameInUse(t, "UpdateTenant claiming a held hostname", err, held)

	testkit.RequireProto(t, "the tenant after its failed update", victim, mustGet(t, s, idOf(victim)))
	requireHeld(t, s, "the hostname the failed update dropped", dropped)
	requireClaimable(t, s, "the hostname the failed update added", added)
	testkit.RequireProto(t, "the holder after the failed update", holder, mustGet(t, s, idOf(holder)))
}

func hostnameMovesBetweenTenants(t *testing.T, s store.Store) {
	from, to := newTenant("from"), newTenant("to")
	mustCreate(t, s, from, to)
	moved := from.GetHostnames()[0]

	err := s.ReadWriteTx(t.Context(), func(ctx context.Context, tx store.Tx) error {
		for _, step := range []struct {
			tenant *tenantv1.Tenant
			change func(*tenantv1.Tenant)
		}{
			{from, func(cur *tenantv1.Tenant) { cur.Hostnames = cur.Hostnames[1:] }},
			{to, func(cur *tenantv1.Tenant) { cur.Hostnames = append(cur.Hostnames, moved) }},
		} {
			cur, err := tx.GetTenant(ctx, idOf(step.tenant))
			if err != nil {
				return err
			}
			step.change(cur)
			if err := tx.UpdateTenant(ctx, cur); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatalf("moving %s: %v", moved, err)
	}
	if got := mustGet(t, s, idOf(from)).GetHostnames(); slices.Contains(got, moved) {
		t.Fatalf("the old owner still lists %s: %q", moved, got)
	}
	if got, want := mustGet(t, s, idOf(to)).GetHostnames(), append(slices.Clone(to.GetHostnames()), moved); !slices.Equal(got, want) {
		t.Fatalf("the new owner's hostnames = %q, want %q", got, want)
	}
	requireHeld(t, s, "the moved hostname", moved)
}

func updateOfMissingTenantIsNotFound(t *testing.T, s store.Store) {
	ghost := newTenant("ghost")
	ghost.Etag = "not-an-etag"
	err := s.ReadWriteTx(t.Context(), func(ctx context.Context, tx store.Tx) error {
		return tx.UpdateTenant(ctx, ghost)
	})
	testkit.RequireErrorIs(t, "UpdateTenant of a missing tenant", err, store.ErrNotFound)
	_, err = s.GetTenant(t.Context(), idOf(ghost))
	testkit.RequireErrorIs(t, "GetTenant after updating a missing tenant", err, store.ErrNotFound)
	requireClaimable(t, s, "hostnames of the missing tenant", ghost.GetHostnames()...)
}

func concurrentCreatesOfOneID(t *testing.T, s store.Store) {
	// Identical bodies, as from a client retrying blindly: ids and hostnames collide at once.
	tn := newTenant("race")
	var (
		start = make(chan struct{})
		wg    sync.WaitGroup
		errs  = make([]error, concurrency)
	)
	for i := range concurrency {
		wg.Go(func() {
			<-start
			errs[i] = create(t.Context(), s, clone(tn))
		})
	}
	close(start)
	wg.Wait()

	created := 0
	for i, err := range errs {
		switch {
		case err == nil:
			created++
		case !errors.Is(err, store.ErrAlreadyExists):
			t.Errorf("create %d: %v, want nil or ErrAlreadyExists", i, err)
		}
	}
	if created != 1 {
		t.Fatalf("%d of %d concurrent creates succeeded, want exactly 1", created, concurrency)
	}
	got := mustGet(t, s, idOf(tn))
	tn.Etag = got.GetEtag()
	testkit.RequireProto(t, "the tenant after the race", tn, got)
}
