package testkit

import (
	"log/slog"
	"path/filepath"
	"testing"

	"github.com/oriel-dev/oriel/platform/sqlstore"
)

// SQLDatabase is a kind of database sqlstore runs on: PostgreSQL in production, SQLite
// in `oriel dev`. A service's store tests run against every kind in SQLDatabases, because
// a store that behaves differently on the two breaks whoever develops on one and deploys
// on the other.
type SQLDatabase struct {
	// Name names the kind in subtest names: "postgres" or "sqlite".
	Name string
	// url returns a fresh, empty database of this kind for t alone.
	url func(t testing.TB, schema string) string
}

// SQLDatabases are the kinds of database every service store must pass its tests on.
func SQLDatabases() []SQLDatabase {
	return []SQLDatabase{
		{Name: "postgres", url: func(t testing.TB, _ string) string { return PostgresDatabase(t) }},
		{Name: "sqlite", url: func(t testing.TB, schema string) string {
			return "sqlite://" + filepath.Join(t.TempDir(), schema+".db")
		}},
	}
}

// URL returns the URL of a fresh, empty database of this kind for t alone, removed when
// t and its subtests finish. A SQLite file is named after schema.
func (d SQLDatabase) URL(t testing.TB, schema string) string {
	t.Helper()
	return d.url(t, schema)
}

// Open connects to a fresh, empty database of this kind as the service owning schema
// does. The pool is closed when t ends, before PostgresDatabase drops the database, since
// cleanups run last-registered first.
func (d SQLDatabase) Open(t testing.TB, schema string) *sqlstore.DB {
	t.Helper()
	db, err := sqlstore.Open(t.Context(), d.URL(t, schema), sqlstore.Options{Schema: schema})
	if err != nil {
		t.Fatalf("sqlstore.Open: %v", err)
	}
	t.Cleanup(db.Close)
	return db
}

// OpenAtHead is Open followed by MigrateSQL: a database of this kind with the service's
// schema at head, as a store finds it in production.
func (d SQLDatabase) OpenAtHead(t testing.TB, schema string, m sqlstore.Migrations) *sqlstore.DB {
	t.Helper()
	db := d.Open(t, schema)
	MigrateSQL(t, db, m)
	return db
}

// MigrateSQL brings db to head with m, logging to the test's output so a failing
// migration shows up beside the test that ran it.
func MigrateSQL(t testing.TB, db *sqlstore.DB, m sqlstore.Migrations) {
	t.Helper()
	if err := db.Migrate(t.Context(), m, slog.New(slog.NewTextHandler(t.Output(), nil))); err != nil {
		t.Fatalf("Migrate: %v", err)
	}
}

// RequireMigrationsReachHead proves, on every kind of SQLDatabases and in parallel, what
// `migrate` and the NOT_SERVING gate rely on: a fresh database is not at head, m brings it
// there, and migrating again leaves a schema already at head alone (replicas all run
// migrate on start).
func RequireMigrationsReachHead(t *testing.T, schema string, m sqlstore.Migrations) {
	t.Helper()
	for _, d := range SQLDatabases() {
		t.Run(d.Name, func(t *testing.T) {
			t.Parallel()
			db := d.Open(t, schema)
			requireAtHead(t, db, m, "before Migrate", false)
			MigrateSQL(t, db, m)
			requireAtHead(t, db, m, "after Migrate", true)
			MigrateSQL(t, db, m)
			requireAtHead(t, db, m, "after a second Migrate", true)
		})
	}
}

func requireAtHead(t testing.TB, db *sqlstore.DB, m sqlstore.Migrations, when string, want bool) {
	t.Helper()
	got, err := db.AtHead(t.Context(), m)
	if err != nil {
		t.Fatalf("AtHead %s: %v", when, err)
	}
	if got != want {
		t.Fatalf("AtHead %s = %v, want %v", when, got, want)
	}
}
