package apierr_test

import (
	"context"
	"encoding/json"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/oriel-dev/oriel/platform/apierr"
	"github.com/oriel-dev/oriel/platform/requestid"
	"github.com/oriel-dev/oriel/platform/sqlstore"
	"github.com/oriel-dev/oriel/platform/testkit"
)

// driverText is what real PostgreSQL and SQLite errors say that a client must never see:
// schema names, SQLSTATEs, driver names and messages.
var driverText = []string{
	"secret_table_x", "secret_accounts", "secret_column",
	"SQLSTATE", "42P01", "23505", "42601",
	"no such table", "syntax error", "duplicate key", "UNIQUE constraint", "SQL logic error",
	"does not exist", "sqlite", "pgx", "pgconn", "postgres",
}

// driverErrors produces real errors from a database of each dialect.
func driverErrors(t *testing.T, db *sqlstore.DB) map[string]error {
	t.Helper()
	ctx := context.Background()
	if db.Dialect() == sqlstore.Postgres {
		if _, err := db.Exec(ctx, `CREATE SCHEMA apierr_test`); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := db.Exec(ctx, `CREATE TABLE secret_accounts (id TEXT PRIMARY KEY)`); err != nil {
		t.Fatal(err)
	}
	if _, err := db.Exec(ctx, `INSERT INTO secret_accounts (id) VALUES ('a')`); err != nil {
		t.Fatal(err)
	}
	var n int
	errs := map[string]error{
		"missing table": db.QueryRow(ctx, `SELECT COUNT(*) FROM secret_table_x`).Scan(&n),
		"syntax error":  db.QueryRow(ctx, `SELEC secret_column FROM secret_table_x`).Scan(&n),
	}
	_, errs["unique violation"] = db.Exec(ctx, `INSERT INTO secret_accounts (id) VALUES ('a')`)
	errs["unique violation in a transaction"] = db.ReadWriteTx(ctx, func(ctx context.Context, tx sqlstore.Queryer) error {
		_, err := tx.Exec(ctx, `INSERT INTO secret_accounts (id) VALUES ('a')`)
		return err
	})
	errs["wrapped by a store"] = fmt.Errorf("tenant store: get %s: %w", "secret_table_x", errs["missing table"])
	for name, err := range errs {
		if err == nil {
			t.Fatalf("%s: the statement succeeded; the case needs a driver error", name)
		}
	}
	return errs
}

func TestFromErrorNeverLeaksDriverErrors(t *testing.T) {
	t.Parallel()
	openers := map[string]func(t *testing.T) string{
		"postgres": func(t *testing.T) string { return testkit.PostgresDatabase(t) },
		"sqlite":   func(t *testing.T) string { return "sqlite://" + filepath.Join(t.TempDir(), "apierr.db") },
	}
	for dialect, open := range openers {
		t.Run(dialect, func(t *testing.T) {
			t.Parallel()
			db, err := sqlstore.Open(context.Background(), open(t), sqlstore.Options{Schema: "apierr_test"})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(db.Close)
			for name, driverErr := range driverErrors(t, db) {
				t.Run(name, func(t *testing.T) {
					// The test's own check: the error really holds text to hide.
					if !containsAny(driverErr.Error(), driverText) {
						t.Fatalf("driver error %q holds none of the text the test looks for", driverErr)
					}
					t.Run("with a request id", func(t *testing.T) {
						log, logs := bufferLogger(t)
						id := "req-" + strings.ReplaceAll(name, " ", "-")
						ctx := requestid.NewContext(context.Background(), id)
						got := apierr.FromError(ctx, log, driverErr)
						assertMasked(t, got, logs, id, driverText)
						assertLogged(t, logs, id, driverErr)
					})
					t.Run("without a request id", func(t *testing.T) {
						log, logs := bufferLogger(t)
						got := apierr.FromError(context.Background(), log, driverErr)
						id := assertMasked(t, got, logs, "", driverText)
						assertLogged(t, logs, id, driverErr)
					})
				})
			}
		})
	}
}

func TestFromErrorTurnsACanceledQueryIntoCanceled(t *testing.T) {
	t.Parallel()
	db, err := sqlstore.Open(context.Background(), testkit.PostgresDatabase(t), sqlstore.Options{Schema: "apierr_test"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(db.Close)

	t.Run("canceled", func(t *testing.T) {
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		_, err := db.Exec(ctx, `SELECT 1`)
		if err == nil {
			t.Fatal("a query with a canceled context succeeded")
		}
		log, logs := bufferLogger(t)
		if got := apierr.FromError(ctx, log, err); status.Code(got) != codes.Canceled {
			t.Errorf("FromError(%v) = %v, want Canceled", err, got)
		}
		if logs.String() != "" {
			t.Errorf("a cancellation was logged as internal:\n%s", logs)
		}
	})
	t.Run("deadline during the query", func(t *testing.T) {
		ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
		defer cancel()
		_, err := db.Exec(ctx, `SELECT pg_sleep(5)`)
		if err == nil {
			t.Fatal("pg_sleep(5) finished within 100ms")
		}
		log, _ := bufferLogger(t)
		got := apierr.FromError(ctx, log, err)
		if status.Code(got) != codes.DeadlineExceeded {
			t.Errorf("FromError(%v) = %v, want DeadlineExceeded", err, got)
		}
		for _, s := range driverText {
			if strings.Contains(status.Convert(got).Message(), s) {
				t.Errorf("message %q leaks %q", status.Convert(got).Message(), s)
			}
		}
	})
}

// assertLogged checks that one JSON log line carries the driver error's full text, the
// correlation id, and the request id of the context it was logged with.
func assertLogged(t *testing.T, logs *testkit.LogBuffer, id string, driverErr error) {
	t.Helper()
	for line := range strings.Lines(logs.String()) {
		var rec map[string]any
		if err := json.Unmarshal([]byte(line), &rec); err != nil {
			t.Fatalf("log line is not JSON: %q", line)
		}
		if rec["correlation_id"] != id {
			continue
		}
		if rec["error"] != driverErr.Error() {
			t.Errorf("logged error = %q, want the driver's %q", rec["error"], driverErr)
		}
		if rid, ok := rec["request_id"]; ok && rid != id {
			t.Errorf("request_id %q differs from correlation_id %q", rid, id)
		}
		if strings.HasPrefix(id, "req-") && rec["request_id"] != id {
			t.Errorf("request_id = %v, want %q", rec["request_id"], id)
		}
		return
	}
	t.Errorf("no log line has correlation_id %q:\n%s", id, logs)
}

func containsAny(s string, subs []string) bool {
	for _, sub := range subs {
		if strings.Contains(strings.ToLower(s), strings.ToLower(sub)) {
			return true
		}
	}
	return false
}
