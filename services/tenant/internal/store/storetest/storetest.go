// Package storetest is the conformance suite of store.Store. Every implementation runs Run,
// so the API and the purge worker can rely on one behaviour whatever database is underneath.
//
// Each behaviour gets a fresh store from newStore and runs in parallel with the others. Ids,
// hostnames, labels, regions and principals are unique per behaviour, and every query is
// scoped to them, so the suite stays correct even when newStore hands out one shared store.
// There are no exceptions between implementations: a store that needs one must add it here,
// named and commented.
package storetest

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	tenantv1 "github.com/oriel-dev/oriel/gen/pb/oriel/tenant/v1"
	"github.com/oriel-dev/oriel/platform/testkit"
	"github.com/oriel-dev/oriel/services/tenant/internal/store"
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
		{"tenants", tenantBehaviours},
		{"transactions", transactionBehaviours},
		{"list", listBehaviours},
		{"events", eventBehaviours},
		{"requests", requestBehaviours},
		{"purge", purgeBehaviours},
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
// store that keeps only milliseconds or seconds fails the round-trip tests; it is in the
// future so no tenant of the purge-candidate behaviour (see purgeEpoch) is ever due at it.
var epoch = time.Date(2031, time.March, 14, 15, 9, 26, 535897000, time.UTC)

// concurrency is how many goroutines race in the concurrency behaviours: more than one
// PostgreSQL pool's default size on small machines, so some of them queue.
const concurrency = 8

// ts is a protobuf timestamp of t.
func ts(t time.Time) *timestamppb.Timestamp { return timestamppb.New(t) }

// newTenant returns an ACTIVE tenant with an id starting with prefix and every field set.
// Hostnames are deliberately not in sorted order, so a store that sorts them is caught.
func newTenant(prefix string) *tenantv1.Tenant { return newTenantWithID(testkit.UniqueID(prefix)) }

// newTenantWithID is newTenant for an id the caller has made unique.
func newTenantWithID(id string) *tenantv1.Tenant {
	return &tenantv1.Tenant{
		Name:        store.TenantName(id),
		DisplayName: "Tenant " + id,
		Hostnames:   []string{"www." + id + ".example.com", "api." + id + ".example.com", id + ".example.com"},
		Region:      "eu-west",
		State:       tenantv1.Tenant_STATE_ACTIVE,
		Labels:      map[string]string{"tier": "gold", "team": "payments", "note": ""},
		Settings: &tenantv1.TenantSettings{
			DefaultLocale:     "en-GB",
			AllowedWebOrigins: []string{"https://app." + id + ".example.com", "http://localhost:8080"},
			Theme: &tenantv1.Theme{
				PrimaryColor:    "#1a73e8",
				BackgroundColor: "#ffffff",
				TextColor:       "#202124",
			},
		},
		CreateTime: ts(epoch),
		UpdateTime: ts(epoch.Add(90*time.Second + time.Microsecond)),
	}
}

// deactivated makes tn a DEACTIVATED tenant, deactivated at `at` and due for purge at purgeAt.
func deactivated(tn *tenantv1.Tenant, at, purgeAt time.Time) *tenantv1.Tenant {
	tn.State = tenantv1.Tenant_STATE_DEACTIVATED
	tn.UpdateTime = ts(at)
	tn.DeactivateTime = ts(at)
	tn.PurgeTime = ts(purgeAt)
	return tn
}

// freshHostname is a hostname no other tenant holds.
func freshHostname(prefix string) string { return testkit.UniqueID(prefix) + ".example.com" }

// idOf is the id of tn.
func idOf(tn *tenantv1.Tenant) string { return store.TenantID(tn.GetName()) }

// clone is a deep copy of tn, so a store writing to its argument cannot change what a test expects.
func clone(tn *tenantv1.Tenant) *tenantv1.Tenant { return proto.Clone(tn).(*tenantv1.Tenant) }

// create creates tn in its own transaction; on success tn carries its etag.
func create(ctx context.Context, s store.Store, tn *tenantv1.Tenant) error {
	return s.ReadWriteTx(ctx, func(ctx context.Context, tx store.Tx) error {
		return tx.CreateTenant(ctx, tn)
	})
}

// mustCreate creates tenants in one transaction, each then carrying its etag.
func mustCreate(t *testing.T, s store.Store, tenants ...*tenantv1.Tenant) {
	t.Helper()
	err := s.ReadWriteTx(t.Context(), func(ctx context.Context, tx store.Tx) error {
		for _, tn := range tenants {
			if err := tx.CreateTenant(ctx, tn); err != nil {
				return fmt.Errorf("create %s: %w", tn.GetName(), err)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatalf("CreateTenant: %v", err)
	}
	for _, tn := range tenants {
		if tn.GetEtag() == "" {
			t.Fatalf("CreateTenant(%s) left the etag empty", tn.GetName())
		}
	}
}

// mustGet reads the tenant with id outside any transaction.
func mustGet(t *testing.T, s store.Store, id string) *tenantv1.Tenant {
	t.Helper()
	tn, err := s.GetTenant(t.Context(), id)
	if err != nil {
		t.Fatalf("GetTenant(%s): %v", id, err)
	}
	return tn
}

// update reads the tenant with id through a transaction, applies change and writes it back,
// returning what it wrote (with its new etag).
func update(ctx context.Context, s store.Store, id string, change func(*tenantv1.Tenant)) (*tenantv1.Tenant, error) {
	var out *tenantv1.Tenant
	err := s.ReadWriteTx(ctx, func(ctx context.Context, tx store.Tx) error {
		cur, err := tx.GetTenant(ctx, id)
		if err != nil {
			return err
		}
		change(cur)
		if err := tx.UpdateTenant(ctx, cur); err != nil {
			return err
		}
		out = cur
		return nil
	})
	return out, err
}

// mustUpdate is update that fails the test on error.
func mustUpdate(t *testing.T, s store.Store, id string, change func(*tenantv1.Tenant)) *tenantv1.Tenant {
	t.Helper()
	out, err := update(t.Context(), s, id, change)
	if err != nil {
		t.Fatalf("UpdateTenant(%s): %v", id, err)
	}
	return out
}

// purge purges the tenant with id at now in its own transaction.
func purge(ctx context.Context, s store.Store, id string, now time.Time) (*tenantv1.Tenant, error) {
	var tomb *tenantv1.Tenant
	err := s.ReadWriteTx(ctx, func(ctx context.Context, tx store.Tx) error {
		var err error
		tomb, err = tx.PurgeTenant(ctx, id, now)
		return err
	})
	return tomb, err
}

// mustPurge is purge that fails the test on error.
func mustPurge(t *testing.T, s store.Store, id string, now time.Time) *tenantv1.Tenant {
	t.Helper()
	tomb, err := purge(t.Context(), s, id, now)
	if err != nil {
		t.Fatalf("PurgeTenant(%s): %v", id, err)
	}
	return tomb
}

// requireHostnameInUse fails the test unless err is a *store.HostnameInUseError naming hostname.
func requireHostnameInUse(t *testing.T, what string, err error, hostname string) {
	t.Helper()
	var inUse *store.HostnameInUseError
	if !errors.As(err, &inUse) {
		t.Fatalf("%s: error = %v, want a *store.HostnameInUseError for %s", what, err, hostname)
	}
	if inUse.Hostname != hostname {
		t.Fatalf("%s: HostnameInUseError names %q, want %q", what, inUse.Hostname, hostname)
	}
}

// requireClaimable fails the test unless a new tenant can take hostnames, proving nobody holds them.
func requireClaimable(t *testing.T, s store.Store, what string, hostnames ...string) {
	t.Helper()
	claimer := newTenant("claimer")
	claimer.Hostnames = hostnames
	if err := create(t.Context(), s, claimer); err != nil {
		t.Fatalf("%s: a new tenant cannot take %v: %v", what, hostnames, err)
	}
}

// requireHeld fails the test unless creating a tenant with hostname reports it in use.
func requireHeld(t *testing.T, s store.Store, what, hostname string) {
	t.Helper()
	claimer := newTenant("claimer")
	claimer.Hostnames = []string{hostname}
	requireHostnameInUse(t, what, create(t.Context(), s, claimer), hostname)
}
