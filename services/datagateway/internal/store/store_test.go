package store_test

import (
	"log/slog"
	"path/filepath"
	"testing"
	"time"

	"github.com/oriel-dev/oriel/platform/sqlstore"
	"github.com/oriel-dev/oriel/platform/testkit"
	"github.com/oriel-dev/oriel/services/datagateway/internal/store"
	"github.com/oriel-dev/oriel/services/datagateway/internal/store/storetest"
)

// databases are the databases store.New runs on, each giving a fresh, empty database per call.
var databases = []struct {
	name string
	url  func(t *testing.T) string
}{
	{"postgres", func(t *testing.T) string { return testkit.PostgresDatabase(t) }},
	{"sqlite", func(t *testing.T) string { return "sqlite://" + filepath.Join(t.TempDir(), "datagateway.db") }},
}

// open connects to url as the datagateway does, closing the pool when t ends (before
// testkit drops the database, since cleanups run last-registered first).
func open(t *testing.T, url string) *sqlstore.DB {
	t.Helper()
	db, err := sqlstore.Open(t.Context(), url, sqlstore.Options{Schema: "datagateway"})
	if err != nil {
		t.Fatalf("sqlstore.Open: %v", err)
	}
	t.Cleanup(db.Close)
	return db
}

// migrate brings db to head, logging to the test's output.
func migrate(t *testing.T, db *sqlstore.DB) {
	t.Helper()
	if err := db.Migrate(t.Context(), store.Migrations, slog.New(slog.NewTextHandler(t.Output(), nil))); err != nil {
		t.Fatalf("Migrate: %v", err)
	}
}

// TestSQLStorePassesTheConformanceSuite runs storetest on a fresh, migrated database per behaviour.
func TestSQLStorePassesTheConformanceSuite(t *testing.T) {
	t.Parallel()
	for _, d := range databases {
		t.Run(d.name, func(t *testing.T) {
			t.Parallel()
			storetest.Run(t, func(t *testing.T, now func() time.Time) store.Store {
				db := open(t, d.url(t))
				migrate(t, db)
				return store.New(db, now)
			})
		})
	}
}

// TestMigrationsReachHeadAndAreIdempotent proves what `migrate` and the NOT_SERVING gate rely on.
func TestMigrationsReachHeadAndAreIdempotent(t *testing.T) {
	t.Parallel()
	for _, d := range databases {
		t.Run(d.name, func(t *testing.T) {
			t.Parallel()
			db := open(t, d.url(t))
			requireAtHead(t, db, "before Migrate", false)
			migrate(t, db)
			requireAtHead(t, db, "after Migrate", true)
			migrate(t, db)
			requireAtHead(t, db, "after a second Migrate", true)
		})
	}
}

func requireAtHead(t *testing.T, db *sqlstore.DB, when string, want bool) {
	t.Helper()
	got, err := db.AtHead(t.Context(), store.Migrations)
	if err != nil {
		t.Fatalf("AtHead %s: %v", when, err)
	}
	if got != want {
		t.Fatalf("AtHead %s = %v, want %v", when, got, want)
	}
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
