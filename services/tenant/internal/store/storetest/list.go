package storetest

import (
	"cmp"
	"fmt"
	"slices"
	"testing"
	"time"

	tenantv1 "github.com/oriel-dev/oriel/gen/pb/oriel/tenant/v1"
	"github.com/oriel-dev/oriel/platform/testkit"
	"github.com/oriel-dev/oriel/services/tenant/internal/store"
)

var listBehaviours = []behaviour{
	{"tenants list whole and in id order", tenantsListWholeInIDOrder},
	{"limit and after id page through every tenant exactly once", tenantsPageByID},
	{"conditions select tenants", conditionsSelectTenants},
}

// scopeLabel is the label key every listing behaviour gives its tenants a unique value of,
// and filters on, so tenants of other behaviours never show up in its results.
const scopeLabel = "suite-run"

// scoped returns the condition selecting the tenants labelled with run.
func scoped(run string) store.Condition {
	return store.Condition{Field: store.FieldLabel, Key: scopeLabel, Op: store.OpEqual, Value: run}
}

// listIDs is ListTenants that fails the test on error, returning the ids.
func listIDs(t *testing.T, s store.Store, q store.ListQuery) []string {
	t.Helper()
	tenants, err := s.ListTenants(t.Context(), q)
	if err != nil {
		t.Fatalf("ListTenants(%+v): %v", q, err)
	}
	ids := make([]string, len(tenants))
	for i, tn := range tenants {
		ids[i] = idOf(tn)
	}
	return ids
}

func tenantsListWholeInIDOrder(t *testing.T, s store.Store) {
	run := testkit.UniqueID("order")
	// Created out of order, and with "-10" before "-9" in byte order but not in numeric.
	var created []*tenantv1.Tenant
	for _, suffix := range []string{"c", "9", "a", "10", "b"} {
		tn := newTenantWithID(run + "-" + suffix)
		tn.Labels = map[string]string{scopeLabel: run}
		mustCreate(t, s, tn)
		created = append(created, tn)
	}
	slices.SortFunc(created, func(a, b *tenantv1.Tenant) int {
		return cmp.Compare(a.GetName(), b.GetName())
	})

	got, err := s.ListTenants(t.Context(), store.ListQuery{Conditions: []store.Condition{scoped(run)}, Limit: 10})
	if err != nil {
		t.Fatalf("ListTenants: %v", err)
	}
	if len(got) != len(created) {
		t.Fatalf("ListTenants returned %d tenants, want %d", len(got), len(created))
	}
	for i := range created {
		testkit.RequireProto(t, fmt.Sprintf("tenant %d of the list", i), created[i], got[i])
	}
}

func tenantsPageByID(t *testing.T, s store.Store) {
	run := testkit.UniqueID("paging")
	var want []string
	for range 7 {
		tn := newTenant("paging")
		tn.Labels = map[string]string{scopeLabel: run}
		mustCreate(t, s, tn)
		want = append(want, idOf(tn))
	}
	slices.Sort(want)

	for _, limit := range []int{1, 2, 3, 6, 7, 8} {
		t.Run(fmt.Sprintf("%d at a time", limit), func(t *testing.T) {
			t.Parallel()
			var got []string
			q := store.ListQuery{Conditions: []store.Condition{scoped(run)}, Limit: limit}
			for {
				page := listIDs(t, s, q)
				// A short page ends the walk, so a store returning fewer than it could
				// makes the walk miss tenants; the API relies on full pages the same way.
				if len(page) > limit {
					t.Fatalf("page after %q has %d tenants, more than the limit %d", q.AfterID, len(page), limit)
				}
				got = append(got, page...)
				if len(page) < limit {
					break
				}
				q.AfterID = page[len(page)-1]
			}
			if !slices.Equal(got, want) {
				t.Fatalf("walked %q, want %q", got, want)
			}
		})
	}
}

func conditionsSelectTenants(t *testing.T, s store.Store) {
	run := testkit.UniqueID("conditions")
	// Regions unique to this behaviour let conditions select tombstones, which have no
	// labels left to be scoped by.
	eu, us := testkit.UniqueID("eu"), testkit.UniqueID("us")
	fixture := map[string]*tenantv1.Tenant{}
	for _, f := range []struct {
		name, region string
		labels       map[string]string
		state        tenantv1.Tenant_State
	}{
		{"gold", eu, map[string]string{"tier": "gold", "team": "a"}, tenantv1.Tenant_STATE_ACTIVE},
		{"free", us, map[string]string{"tier": "free"}, tenantv1.Tenant_STATE_ACTIVE},
		{"shouty", us, map[string]string{"tier": "Gold"}, tenantv1.Tenant_STATE_ACTIVE},
		{"paused", eu, map[string]string{"team": "b"}, tenantv1.Tenant_STATE_DEACTIVATED},
		{"tombstone", eu, map[string]string{"tier": "gold", "team": "a"}, tenantv1.Tenant_STATE_DELETED},
	} {
		tn := newTenant(run + "-" + f.name)
		tn.Region = f.region
		tn.Labels = map[string]string{scopeLabel: run}
		for k, v := range f.labels {
			tn.Labels[k] = v
		}
		if f.state != tenantv1.Tenant_STATE_ACTIVE {
			deactivated(tn, epoch, epoch.Add(time.Hour))
		}
		mustCreate(t, s, tn)
		if f.state == tenantv1.Tenant_STATE_DELETED {
			tn = mustPurge(t, s, idOf(tn), epoch.Add(time.Hour))
		}
		fixture[f.name] = tn
	}
	ids := func(names ...string) []string {
		out := make([]string, 0, len(names))
		for _, n := range names {
			out = append(out, idOf(fixture[n]))
		}
		slices.Sort(out)
		return out
	}
	var (
		scope = scoped(run)
		state = func(op store.Op, v string) store.Condition {
			return store.Condition{Field: store.FieldState, Op: op, Value: v}
		}
		region = func(op store.Op, v string) store.Condition {
			return store.Condition{Field: store.FieldRegion, Op: op, Value: v}
		}
		label = func(key string, op store.Op, v string) store.Condition {
			return store.Condition{Field: store.FieldLabel, Key: key, Op: op, Value: v}
		}
	)

	for _, tc := range []struct {
		name       string
		conditions []store.Condition
		want       []string
	}{
		{"state = ACTIVE", []store.Condition{scope, state(store.OpEqual, "ACTIVE")}, ids("gold", "free", "shouty")},
		{"state = DEACTIVATED", []store.Condition{scope, state(store.OpEqual, "DEACTIVATED")}, ids("paused")},
		{"state != ACTIVE leaves out tombstones", []store.Condition{region(store.OpEqual, eu), state(store.OpNotEqual, "ACTIVE")}, ids("paused")},
		{"state = DELETED lists tombstones", []store.Condition{region(store.OpEqual, eu), state(store.OpEqual, "DELETED")}, ids("tombstone")},
		{"a tombstone's dropped labels no longer match", []store.Condition{state(store.OpEqual, "DELETED"), scope}, nil},
		{"region = value leaves out tombstones", []store.Condition{region(store.OpEqual, eu)}, ids("gold", "paused")},
		{"region != value", []store.Condition{scope, region(store.OpNotEqual, eu)}, ids("free", "shouty")},
		{"label = value", []store.Condition{scope, label("tier", store.OpEqual, "gold")}, ids("gold")},
		{"label values compare case-sensitively", []store.Condition{scope, label("tier", store.OpEqual, "Gold")}, ids("shouty")},
		{"label != value matches tenants without the label", []store.Condition{scope, label("tier", store.OpNotEqual, "gold")}, ids("free", "shouty", "paused")},
		{"label != on a key no tenant has matches every tenant", []store.Condition{scope, label("absent", store.OpNotEqual, "x")}, ids("gold", "free", "shouty", "paused")},
		{"has label", []store.Condition{scope, label("team", store.OpHas, "")}, ids("gold", "paused")},
		{"has a label no tenant has", []store.Condition{scope, label("absent", store.OpHas, "")}, nil},
		{"conditions are ANDed", []store.Condition{label("tier", store.OpHas, ""), region(store.OpEqual, us)}, ids("free", "shouty")},
		{"contradictory conditions match nothing", []store.Condition{scope, label("tier", store.OpEqual, "gold"), label("tier", store.OpEqual, "free")}, nil},
		{"state, region and label together", []store.Condition{state(store.OpEqual, "ACTIVE"), region(store.OpEqual, eu), label("team", store.OpHas, "")}, ids("gold")},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			got := listIDs(t, s, store.ListQuery{Conditions: tc.conditions, Limit: 100})
			if !slices.Equal(got, tc.want) {
				t.Fatalf("listed %q, want %q", got, tc.want)
			}
		})
	}
}
