package store_test

import (
	"testing"
	"time"

	"github.com/oriel-dev/oriel/platform/testkit"
	"github.com/oriel-dev/oriel/services/datagateway/internal/store"
	"github.com/oriel-dev/oriel/services/datagateway/internal/store/storetest"
)

// TestSQLStorePassesTheConformanceSuite runs storetest on a fresh, migrated database per behaviour.
func TestSQLStorePassesTheConformanceSuite(t *testing.T) {
	t.Parallel()
	for _, d := range testkit.SQLDatabases() {
		t.Run(d.Name, func(t *testing.T) {
			t.Parallel()
			storetest.Run(t, func(t *testing.T, now func() time.Time) store.Store {
				return store.New(d.OpenAtHead(t, "datagateway", store.Migrations), now)
			})
		})
	}
}

// TestMigrationsReachHeadAndAreIdempotent proves what `migrate` and the NOT_SERVING gate rely on.
func TestMigrationsReachHeadAndAreIdempotent(t *testing.T) {
	t.Parallel()
	testkit.RequireMigrationsReachHead(t, "datagateway", store.Migrations)
}

func TestSlotNamesFitPostgresAndStayApart(t *testing.T) {
	t.Parallel()
	long := "a-very-long-tenant-id-that-goes-on-and-on-and-on-for-sixty-chars"
	for _, tc := range []struct{ tenant, id, want string }{
		{"acme", "orders-copy", "oriel_acme_orders_copy"},
		{"ACME", "x", "oriel_acme_x"},
	} {
		if got := store.SlotName(tc.tenant, tc.id); got != tc.want {
			t.Errorf("SlotName(%q, %q) = %q, want %q", tc.tenant, tc.id, got, tc.want)
		}
	}
	a, b := store.SlotName(long, "replication-one"), store.SlotName(long, "replication-two")
	if len(a) > 63 || len(b) > 63 || a == b {
		t.Fatalf("long slot names %q and %q: want ≤ 63 characters and different", a, b)
	}
	for _, r := range a {
		if !(r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '_') {
			t.Fatalf("slot name %q holds %q", a, r)
		}
	}
}
