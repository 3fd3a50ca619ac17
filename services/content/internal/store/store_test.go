package store_test

import (
	"log/slog"
	"path/filepath"
	"testing"

	"github.com/oriel-dev/oriel/platform/sqlstore"
	"github.com/oriel-dev/oriel/platform/testkit"
	"github.com/oriel-dev/oriel/services/content/internal/store"
	"github.com/oriel-dev/oriel/services/content/internal/store/storetest"
)

// databases are the databases store.SQL runs on, each giving a fresh, empty database per call.
var databases = []struct {
	name string
	url  func(t *testing.T) string
}{
	{"postgres", func(t *testing.T) string { return testkit.PostgresDatabase(t) }},
	{"sqlite", func(t *testing.T) string { return "sqlite://" + filepath.Join(t.TempDir(), "content.db") }},
}

// open connects to url as the content service does, closing the pool when t ends (before
// testkit drops the database, since cleanups run last-registered first).
func open(t *testing.T, url string) *sqlstore.DB {
	t.Helper()
	db, err := sqlstore.Open(t.Context(), url, sqlstore.Options{Schema: "content"})
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
			storetest.Run(t, func(t *testing.T) store.Store {
				db := open(t, d.url(t))
				migrate(t, db)
				return store.SQL(db)
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
			// Replicas all run migrate on start; a schema already at head must be left alone.
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
