// Package storetest is the conformance suite of store.Store. Every implementation runs
// Run, so the API, the tunnel hub and the replication engine can rely on one behaviour
// whatever database is underneath.
//
// Each behaviour gets a fresh store from newStore and runs in parallel with the others.
// Tenants are unique per behaviour and every query is scoped to them, so every behaviour
// stays correct even when newStore hands out one shared store. Enrollment tokens are
// global (a token names its tenant), but random, so behaviours never meet there either.
// There are no exceptions between implementations: a store that needs one must add it
// here, named and commented.
package storetest

import (
	"fmt"
	"slices"
	"testing"
	"time"

	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/oriel-dev/oriel/platform/testkit"
	"github.com/oriel-dev/oriel/services/datagateway/internal/store"
)

// behaviour is one named property of store.Store and the test that proves it on a fresh
// store.
type behaviour struct {
	name string
	test func(t *testing.T, s store.Store, clock *ManualClock)
}

// ManualClock is a clock that stands still until told to move.
type ManualClock struct{ now time.Time }

// Now is the clock's time.
func (c *ManualClock) Now() time.Time { return c.now }

// Set moves the clock to t.
func (c *ManualClock) Set(t time.Time) { c.now = t }

// Run checks that the stores newStore returns behave as store.Store promises.
//
// newStore is called once per behaviour, with that behaviour's t and a clock of its own
// that the store must use as its now, and must return a migrated store that stays open
// until t ends.
func Run(t *testing.T, newStore func(t *testing.T, now func() time.Time) store.Store) {
	for _, group := range []struct {
		name       string
		behaviours []behaviour
	}{
		{"connections", connectionBehaviours},
		{"agents", agentBehaviours},
		{"enrollment", enrollmentBehaviours},
		{"replications", replicationBehaviours},
	} {
		t.Run(group.name, func(t *testing.T) {
			t.Parallel()
			for _, b := range group.behaviours {
				t.Run(b.name, func(t *testing.T) {
					t.Parallel()
					clock := &ManualClock{now: epoch}
					b.test(t, newStore(t, clock.Now), clock)
				})
			}
		})
	}
}

// epoch is the suite's clock. Its sub-second part has non-zero microsecond digits, so a
// store that keeps only milliseconds or seconds fails the round-trip tests.
var epoch = time.Date(2031, time.March, 14, 15, 9, 26, 535897000, time.UTC)

// everything is a page that holds every item a behaviour makes.
var everything = store.Page{Limit: 1000}

// newTenant returns a tenant id no other behaviour uses.
func newTenant() string { return testkit.UniqueID("tenant") }

// at is the suite's clock plus d.
func at(d time.Duration) time.Time { return epoch.Add(d) }

// ts is a protobuf timestamp of t.
func ts(t time.Time) *timestamppb.Timestamp { return timestamppb.New(t) }

// walk pages through a listing limit items at a time and returns the ids it saw.
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

// requirePaging checks that walking list at several page sizes sees want (sorted) exactly
// once each, in byte order.
func requirePaging[T any](t *testing.T, want []string, list func(store.Page) ([]T, error), id func(T) string) {
	t.Helper()
	want = slices.Sorted(slices.Values(want))
	for _, limit := range []int{1, 2, 3, len(want), len(want) + 1} {
		t.Run(fmt.Sprintf("%d at a time", limit), func(t *testing.T) {
			testkit.RequireStrings(t, "walked ids", want, walk(t, limit, list, id))
		})
	}
}

// pagingIDs are ids created out of order, with "-10" before "-9" in byte order.
func pagingIDs(prefix string) []string {
	run := testkit.UniqueID(prefix)
	var ids []string
	for _, suffix := range []string{"c", "9", "a", "10", "b"} {
		ids = append(ids, run+"-"+suffix)
	}
	return ids
}
