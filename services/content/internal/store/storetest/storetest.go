// Package storetest is the conformance suite of store.Store. Every implementation runs Run,
// so the API and the rollout engine can rely on one behaviour whatever database is
// underneath.
//
// Each behaviour gets a fresh store from newStore and runs in parallel with the others.
// Tenants, spaces, apps, templates and rollouts are unique per behaviour, and every query
// is scoped to them, so almost every behaviour stays correct even when newStore hands out
// one shared store. The exceptions, named where they are: the lease behaviours
// (ClaimRollout takes the oldest claimable rollout of the whole store), the reload lease
// behaviours (ClaimReload likewise takes the oldest queued reload) and PurgeDeletedApps
// (which purges whatever is due in the whole store; its behaviour uses purge times long
// before any other behaviour's). There are no exceptions between implementations: a store
// that needs one must add it here, named and commented.
package storetest

import (
	"context"
	"fmt"
	"regexp"
	"slices"
	"testing"
	"time"

	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/oriel-dev/oriel/platform/testkit"
	"github.com/oriel-dev/oriel/services/content/internal/store"
)

// behaviour is one named property of store.Store and the test that proves it on a fresh store.
type behaviour struct {
	name string
	test func(t *testing.T, s store.Store)
}

// Run checks that the stores newStore returns behave as store.Store promises.
//
// newStore is called once per behaviour, with that behaviour's t, and must return a migrated
// store that stays open until t ends.
func Run(t *testing.T, newStore func(t *testing.T) store.Store) {
	for _, group := range []struct {
		name       string
		behaviours []behaviour
	}{
		{"transactions", transactionBehaviours},
		{"spaces", spaceBehaviours},
		{"members", memberBehaviours},
		{"apps", appBehaviours},
		{"purges", purgeBehaviours},
		{"templates", templateBehaviours},
		{"drift", driftBehaviours},
		{"rollouts", rolloutBehaviours},
		{"targets", targetBehaviours},
		{"leases", leaseBehaviours},
		{"reloads", reloadBehaviours},
		{"reload leases", reloadLeaseBehaviours},
	} {
		t.Run(group.name, func(t *testing.T) {
			t.Parallel()
			for _, b := range group.behaviours {
				t.Run(b.name, func(t *testing.T) {
					t.Parallel()
					b.test(t, newStore(t))
				})
			}
		})
	}
}

// epoch is the suite's clock. Its sub-second part has non-zero microsecond digits, so a
// store that keeps only milliseconds or seconds fails the round-trip tests.
var epoch = time.Date(2031, time.March, 14, 15, 9, 26, 535897000, time.UTC)

// concurrency is how many goroutines race in the concurrency behaviours: more than one
// PostgreSQL pool's default size on small machines, so some of them queue.
const concurrency = 8

// rounds is how many times each race is run: a lost race is a matter of timing.
const rounds = 3

// everything is a page that holds every item a behaviour makes.
var everything = store.Page{Limit: 1000}

// memberIDPattern is what every member id must match (the API's pattern).
var memberIDPattern = regexp.MustCompile(`^[a-z0-9][a-z0-9-]{1,80}$`)

// newTenant returns a tenant id no other behaviour uses.
func newTenant() string { return testkit.UniqueID("tenant") }

// at is the suite's clock plus d.
func at(d time.Duration) time.Time { return epoch.Add(d) }

// ts is a protobuf timestamp of t.
func ts(t time.Time) *timestamppb.Timestamp { return timestamppb.New(t) }

// inTx runs fn in a transaction of its own.
func inTx(t *testing.T, s store.Store, fn func(ctx context.Context, tx store.Tx) error) error {
	t.Helper()
	return s.ReadWriteTx(t.Context(), fn)
}

// mustTx runs fn in a transaction of its own, failing the test if it fails.
func mustTx(t *testing.T, s store.Store, what string, fn func(ctx context.Context, tx store.Tx) error) {
	t.Helper()
	testkit.RequireNoError(t, what, inTx(t, s, fn))
}

// names returns the name of each message.
func names[T interface{ GetName() string }](items []T) []string {
	out := make([]string, len(items))
	for i, it := range items {
		out[i] = it.GetName()
	}
	return out
}

// walk pages through a listing limit items at a time and returns the ids it saw, failing
// the test if a page is longer than the limit. A short page ends the walk, as in the API, so
// a store returning fewer items than it could makes the walk miss some.
func walk[T any](t *testing.T, limit int, list func(store.Page) ([]T, error), id func(T) string) []string {
	t.Helper()
	var ids []string
	page := store.Page{Limit: limit}
	for {
		items, err := list(page)
		if err != nil {
			t.Fatalf("list after %q: %v", page.AfterID, err)
		}
		if len(items) > limit {
			t.Fatalf("page after %q has %d items, more than the limit %d", page.AfterID, len(items), limit)
		}
		for _, it := range items {
			ids = append(ids, id(it))
		}
		if len(items) < limit {
			return ids
		}
		page.AfterID = ids[len(ids)-1]
	}
}

// requireOrderedPaging checks that walking list at several page sizes sees want exactly
// once each, in want's order.
func requireOrderedPaging[T any](t *testing.T, want []string, list func(store.Page) ([]T, error), id func(T) string) {
	t.Helper()
	limits := []int{1, 2, 3, len(want) - 1, len(want), len(want) + 1}
	slices.Sort(limits)
	for _, limit := range slices.Compact(limits) {
		if limit < 1 {
			continue
		}
		t.Run(fmt.Sprintf("%d at a time", limit), func(t *testing.T) {
			testkit.RequireStrings(t, "walked ids", want, walk(t, limit, list, id))
		})
	}
}

// requirePaging checks that walking list at several page sizes sees want (sorted) exactly
// once each, in byte order.
func requirePaging[T any](t *testing.T, want []string, list func(store.Page) ([]T, error), id func(T) string) {
	t.Helper()
	requireOrderedPaging(t, slices.Sorted(slices.Values(want)), list, id)
}

// pagingIDs are ids created out of order, with "-10" before "-9" in byte order but not in
// numeric order.
func pagingIDs(prefix string) []string {
	run := testkit.UniqueID(prefix)
	var ids []string
	for _, suffix := range []string{"c", "9", "a", "10", "b", "a0"} {
		ids = append(ids, run+"-"+suffix)
	}
	return ids
}
