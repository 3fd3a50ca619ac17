package sqlstore_test

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"maps"
	"strings"
	"sync"
	"testing"
	"testing/fstest"

	"github.com/oriel-dev/oriel/platform/sqlstore"
	"github.com/oriel-dev/oriel/platform/testkit"
)

// widgetMigrations are two migrations per dialect. They use no IF NOT EXISTS, so applying
// one twice fails loudly.
func widgetMigrations() fstest.MapFS {
	file := func(sql string) *fstest.MapFile { return &fstest.MapFile{Data: []byte(sql)} }
	return fstest.MapFS{
		"postgres/00001_widgets.sql": file(`-- +goose Up
CREATE TABLE widgets (id TEXT PRIMARY KEY, made_at TIMESTAMPTZ NOT NULL);
`),
		"postgres/00002_widget_colour.sql": file(`-- +goose Up
ALTER TABLE widgets ADD COLUMN colour TEXT NOT NULL DEFAULT 'red';
`),
		"sqlite/00001_widgets.sql": file(`-- +goose Up
CREATE TABLE widgets (id TEXT PRIMARY KEY, made_at INTEGER NOT NULL);
`),
		"sqlite/00002_widget_colour.sql": file(`-- +goose Up
ALTER TABLE widgets ADD COLUMN colour TEXT NOT NULL DEFAULT 'red';
`),
	}
}

// withGadgets adds a third migration, as a newer release of the service would.
func withGadgets(fsys fstest.MapFS) fstest.MapFS {
	out := maps.Clone(fsys)
	for _, d := range []string{"postgres", "sqlite"} {
		out[d+"/00003_gadgets.sql"] = &fstest.MapFile{Data: []byte(`-- +goose Up
CREATE TABLE gadgets (id TEXT PRIMARY KEY);
`)}
	}
	return out
}

func discardLog() *slog.Logger { return slog.New(slog.DiscardHandler) }

func atHead(t *testing.T, db *sqlstore.DB, m sqlstore.Migrations) bool {
	t.Helper()
	ok, err := db.AtHead(context.Background(), m)
	if err != nil {
		t.Fatalf("AtHead: %v", err)
	}
	return ok
}

func TestMigrateAppliesEmbeddedMigrationsOnce(t *testing.T) {
	t.Parallel()
	for _, d := range testkit.SQLDatabases() {
		t.Run(d.Name, func(t *testing.T) {
			t.Parallel()
			ctx := context.Background()
			db := d.Open(t, "widget")
			m := sqlstore.Migrations{FS: widgetMigrations()}

			if atHead(t, db, m) {
				t.Fatal("AtHead is true before any migration ran")
			}
			var logs bytes.Buffer
			if err := db.Migrate(ctx, m, slog.New(slog.NewTextHandler(&logs, nil))); err != nil {
				t.Fatalf("Migrate: %v", err)
			}
			for _, file := range []string{"00001_widgets.sql", "00002_widget_colour.sql"} {
				if !strings.Contains(logs.String(), file) {
					t.Errorf("the migration log does not name %s:\n%s", file, logs.String())
				}
			}
			if !atHead(t, db, m) {
				t.Fatal("AtHead is false after Migrate")
			}
			// Both migrations ran: the table has the column the second one added.
			mustExec(t, db, `INSERT INTO widgets (id, made_at) VALUES ('w1', $1)`, testTime)
			var colour string
			if err := db.QueryRow(ctx, `SELECT colour FROM widgets WHERE id = 'w1'`).Scan(&colour); err != nil {
				t.Fatal(err)
			}
			if colour != "red" {
				t.Errorf("colour = %q, want the default of migration 2", colour)
			}

			// Idempotent: nothing is applied again (it would fail: no IF NOT EXISTS).
			logs.Reset()
			if err := db.Migrate(ctx, m, slog.New(slog.NewTextHandler(&logs, nil))); err != nil {
				t.Fatalf("second Migrate: %v", err)
			}
			if strings.Contains(logs.String(), "migration applied") {
				t.Errorf("second Migrate applied migrations again:\n%s", logs.String())
			}
			if n := count(t, db, "widgets"); n != 1 {
				t.Errorf("widgets holds %d rows after the second Migrate, want 1", n)
			}

			// A newer release brings a migration: not at head until it is applied.
			newer := sqlstore.Migrations{FS: withGadgets(widgetMigrations())}
			if atHead(t, db, newer) {
				t.Fatal("AtHead is true with a pending migration")
			}
			if err := db.Migrate(ctx, newer, discardLog()); err != nil {
				t.Fatalf("Migrate the newer release: %v", err)
			}
			if !atHead(t, db, newer) {
				t.Fatal("AtHead is false after migrating the newer release")
			}
			if n := count(t, db, "gadgets"); n != 0 {
				t.Errorf("gadgets holds %d rows", n)
			}
		})
	}
}

func TestMigrateFailsOnABrokenMigration(t *testing.T) {
	t.Parallel()
	for _, d := range testkit.SQLDatabases() {
		t.Run(d.Name, func(t *testing.T) {
			t.Parallel()
			db := d.Open(t, "widget")
			broken := widgetMigrations()
			broken[d.Name+"/00003_broken.sql"] = &fstest.MapFile{Data: []byte("-- +goose Up\nCREATE TABLE;\n")}
			m := sqlstore.Migrations{FS: broken}
			if err := db.Migrate(context.Background(), m, discardLog()); err == nil {
				t.Fatal("Migrate with a broken migration succeeded")
			}
			if atHead(t, db, m) {
				t.Error("AtHead is true although the last migration failed")
			}
		})
	}
}

func TestMigrateRequiresTheDialectsFolder(t *testing.T) {
	t.Parallel()
	for _, d := range testkit.SQLDatabases() {
		t.Run(d.Name, func(t *testing.T) {
			t.Parallel()
			db := d.Open(t, "widget")
			// Migrations written for the other dialect only.
			other := fstest.MapFS{}
			for name, f := range widgetMigrations() {
				if !strings.HasPrefix(name, d.Name+"/") {
					other[name] = f
				}
			}
			if err := db.Migrate(context.Background(), sqlstore.Migrations{FS: other}, discardLog()); err == nil {
				t.Fatalf("Migrate without a %s/ folder succeeded", d.Name)
			}
		})
	}
}

func TestPostgresTablesLiveInTheServiceSchema(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	url := testkit.PostgresDatabase(t)
	m := sqlstore.Migrations{FS: widgetMigrations()}
	billing := openURL(t, url, "billing")
	tenant := openURL(t, url, "tenant")

	if atHead(t, billing, m) {
		t.Fatal("AtHead is true before the schema exists")
	}
	if err := billing.Migrate(ctx, m, discardLog()); err != nil {
		t.Fatalf("Migrate billing: %v", err)
	}
	// Another service's schema in the same database is untouched until it migrates.
	if atHead(t, tenant, m) {
		t.Fatal("tenant is at head although only billing migrated")
	}
	if err := tenant.Migrate(ctx, m, discardLog()); err != nil {
		t.Fatalf("Migrate tenant: %v", err)
	}

	rows, err := billing.Query(ctx, `SELECT table_schema FROM information_schema.tables
		WHERE table_name = 'widgets' ORDER BY table_schema`)
	if err != nil {
		t.Fatal(err)
	}
	var schemas []string
	for rows.Next() {
		var s string
		if err := rows.Scan(&s); err != nil {
			t.Fatal(err)
		}
		schemas = append(schemas, s)
	}
	rows.Close()
	if strings.Join(schemas, ",") != "billing,tenant" {
		t.Errorf("widgets tables live in schemas %v, want billing and tenant (never public)", schemas)
	}
	var versionSchema string
	err = billing.QueryRow(ctx, `SELECT table_schema FROM information_schema.tables
		WHERE table_name = 'goose_db_version' AND table_schema = 'public'`).Scan(&versionSchema)
	if err == nil {
		t.Error("goose's version table was created in public, want it in each service schema")
	}

	// Unqualified names resolve to each DB's own schema.
	mustExec(t, billing, `INSERT INTO widgets (id, made_at) VALUES ('b1', $1)`, testTime)
	if n := count(t, billing, "widgets"); n != 1 {
		t.Errorf("billing sees %d widgets, want 1", n)
	}
	if n := count(t, tenant, "widgets"); n != 0 {
		t.Errorf("tenant sees %d widgets, want 0: it must not see billing's table", n)
	}
	if n := count(t, billing, "billing.widgets"); n != 1 {
		t.Errorf("billing.widgets holds %d rows, want 1", n)
	}
	// Inside a transaction too.
	err = tenant.ReadWriteTx(ctx, func(ctx context.Context, tx sqlstore.Queryer) error {
		_, err := tx.Exec(ctx, `INSERT INTO widgets (id, made_at) VALUES ('t1', $1)`, testTime)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	if n := count(t, billing, "tenant.widgets"); n != 1 {
		t.Errorf("tenant.widgets holds %d rows, want 1", n)
	}
}

func TestConcurrentPostgresMigrationsBothSucceed(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	url := testkit.PostgresDatabase(t)
	m := sqlstore.Migrations{FS: widgetMigrations()}
	// Separate pools, as two replicas starting at once would have.
	replicas := []*sqlstore.DB{openURL(t, url, "widget"), openURL(t, url, "widget"), openURL(t, url, "widget")}

	var wg sync.WaitGroup
	errs := make([]error, len(replicas))
	start := make(chan struct{})
	for i, db := range replicas {
		wg.Go(func() {
			<-start
			errs[i] = db.Migrate(ctx, m, slog.New(slog.NewTextHandler(io.Discard, nil)))
		})
	}
	close(start)
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Errorf("replica %d: Migrate: %v", i, err)
		}
	}
	for i, db := range replicas {
		if !atHead(t, db, m) {
			t.Errorf("replica %d: not at head", i)
		}
	}
	var applied int
	if err := replicas[0].QueryRow(ctx, `SELECT COUNT(*) FROM goose_db_version WHERE version_id > 0`).Scan(&applied); err != nil {
		t.Fatal(err)
	}
	if applied != 2 {
		t.Errorf("goose_db_version records %d applied migrations, want 2 (each once)", applied)
	}
}
