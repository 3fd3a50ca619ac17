package sqlstore_test

import (
	"context"
	"testing"
	"time"

	"github.com/oriel-dev/oriel/platform/sqlstore"
	"github.com/oriel-dev/oriel/platform/testkit"
)

// testSchema is the schema the dialect tests work in; each PostgreSQL test has its own
// database, so the name never collides.
const testSchema = "store_test"

func openURL(t *testing.T, url, schema string) *sqlstore.DB {
	t.Helper()
	db, err := sqlstore.Open(context.Background(), url, sqlstore.Options{Schema: schema})
	if err != nil {
		t.Fatalf("Open(%s): %v", sqlstore.Redact(url), err)
	}
	t.Cleanup(db.Close)
	return db
}

// forEachDialect runs fn, in parallel, against a fresh database of each dialect whose
// schema exists (as it would after Migrate), so fn can create tables with unqualified names.
func forEachDialect(t *testing.T, fn func(t *testing.T, db *sqlstore.DB)) {
	t.Helper()
	for _, d := range testkit.SQLDatabases() {
		t.Run(d.Name, func(t *testing.T) {
			t.Parallel()
			db := d.Open(t, testSchema)
			if db.Dialect() == sqlstore.Postgres {
				mustExec(t, db, `CREATE SCHEMA `+testSchema)
			}
			fn(t, db)
		})
	}
}

// timeType is the column type of a time in each dialect (see sqlite.go: microseconds).
func timeType(db *sqlstore.DB) string {
	if db.Dialect() == sqlstore.Postgres {
		return "TIMESTAMPTZ"
	}
	return "INTEGER"
}

func mustExec(t *testing.T, q sqlstore.Queryer, query string, args ...any) int64 {
	t.Helper()
	n, err := q.Exec(context.Background(), query, args...)
	if err != nil {
		t.Fatalf("Exec(%q): %v", query, err)
	}
	return n
}

func count(t *testing.T, q sqlstore.Queryer, table string) int {
	t.Helper()
	var n int
	if err := q.QueryRow(context.Background(), "SELECT COUNT(*) FROM "+table).Scan(&n); err != nil {
		t.Fatalf("count %s: %v", table, err)
	}
	return n
}

// testTime is any time; tests that store one do not care which.
var testTime = time.Date(2025, 3, 4, 5, 6, 7, 0, time.UTC)
