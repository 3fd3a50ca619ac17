package testkit

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net/url"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// PostgresURLEnv names the variable holding the admin URL of the test PostgreSQL server.
const PostgresURLEnv = "ORIEL_TEST_POSTGRES_URL"

// DefaultPostgresURL is used when PostgresURLEnv is unset; it matches what `make test` starts.
const DefaultPostgresURL = "postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable"

const (
	// testDatabasePrefix marks databases made here so a later run can sweep leftovers.
	testDatabasePrefix = "oriel_test_"
	// staleTestDatabaseAge is far beyond any test's life, so sweeping never hits a live test.
	staleTestDatabaseAge = 24 * time.Hour
	postgresTimeout      = 10 * time.Second
	postgresDialTimeout  = 5 * time.Second
)

var sweepOnce sync.Once

// PostgresDatabase creates an empty database for this test alone and returns its URL.
//
// A database per test (rather than a schema or a transaction) lets the code
// under test run migrations, open pools and commit, exactly as in production,
// while tests run in parallel. The database is dropped, with any connections
// still open to it, when the test and its subtests finish.
func PostgresDatabase(t testing.TB) string {
	t.Helper()
	adminURL := postgresAdminURL()

	ctx, cancel := context.WithTimeout(context.Background(), postgresTimeout)
	defer cancel()
	conn := connectPostgresAdmin(ctx, t, adminURL)
	defer func() { _ = conn.Close(context.Background()) }()

	sweepOnce.Do(func() { sweepStaleDatabases(ctx, conn) })

	name := newTestDatabaseName(time.Now())
	if err := createDatabase(ctx, conn, name); err != nil {
		t.Fatalf("testkit: create database %s on %s: %v", name, redactPostgresURL(adminURL), err)
	}
	t.Cleanup(func() {
		// A fresh connection: the one above is long closed, and the test's own may be broken.
		ctx, cancel := context.WithTimeout(context.Background(), postgresTimeout)
		defer cancel()
		conn, err := pgxConnect(ctx, adminURL)
		if err != nil {
			t.Errorf("testkit: drop database %s: cannot reach %s: %v", name, redactPostgresURL(adminURL), err)
			return
		}
		defer func() { _ = conn.Close(context.Background()) }()
		sql := "DROP DATABASE IF EXISTS " + pgx.Identifier{name}.Sanitize() + " WITH (FORCE)"
		if _, err := conn.Exec(ctx, sql); err != nil {
			t.Errorf("testkit: drop database %s: %v", name, err)
		}
	})

	dbURL, err := withDatabase(adminURL, name)
	if err != nil {
		t.Fatalf("testkit: %v", err)
	}
	return dbURL
}

// postgresAdminURL is the server every test database is created on.
func postgresAdminURL() string {
	if u := strings.TrimSpace(os.Getenv(PostgresURLEnv)); u != "" {
		return u
	}
	return DefaultPostgresURL
}

// connectPostgresAdmin fails the test with a message that says how to get a server,
// because "connection refused" alone sends people looking in the wrong place.
func connectPostgresAdmin(ctx context.Context, t testing.TB, adminURL string) *pgx.Conn {
	t.Helper()
	conn, err := pgxConnect(ctx, adminURL)
	if err != nil {
		t.Fatalf("testkit: cannot reach PostgreSQL at %s: %v\n"+
			"Run the tests with `make test`, which starts PostgreSQL and Redis, "+
			"or set %s to the URL of a server where user postgres can create databases.",
			redactPostgresURL(adminURL), err, PostgresURLEnv)
	}
	return conn
}

func pgxConnect(ctx context.Context, connString string) (*pgx.Conn, error) {
	cfg, err := pgx.ParseConfig(connString)
	if err != nil {
		return nil, err
	}
	if cfg.ConnectTimeout == 0 || cfg.ConnectTimeout > postgresDialTimeout {
		cfg.ConnectTimeout = postgresDialTimeout
	}
	return pgx.ConnectConfig(ctx, cfg)
}

// createDatabase retries while template1 is briefly in use, which happens when
// many tests create databases at the same moment.
func createDatabase(ctx context.Context, conn *pgx.Conn, name string) error {
	sql := "CREATE DATABASE " + pgx.Identifier{name}.Sanitize()
	for {
		_, err := conn.Exec(ctx, sql)
		var pgErr *pgconn.PgError
		if err == nil || !errors.As(err, &pgErr) || pgErr.Code != "55006" { // object_in_use
			return err
		}
		select {
		case <-ctx.Done():
			return err
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// newTestDatabaseName carries its creation time so sweepStaleDatabases can tell
// a database leaked by a killed test run from one that is in use; the random
// part keeps names unique across parallel tests and processes.
func newTestDatabaseName(now time.Time) string {
	var b [8]byte
	if _, err := rand.Read(b[:]); err != nil {
		panic(err) // crypto/rand never fails on supported platforms
	}
	return testDatabasePrefix + strconv.FormatInt(now.Unix(), 10) + "_" + hex.EncodeToString(b[:])
}

// sweepStaleDatabases drops databases left behind by test processes that were
// killed before their cleanups ran. It is best effort and never uses FORCE, so
// a database someone is connected to survives.
func sweepStaleDatabases(ctx context.Context, conn *pgx.Conn) {
	rows, err := conn.Query(ctx, `SELECT datname FROM pg_database WHERE datname LIKE 'oriel\_test\_%'`)
	if err != nil {
		return
	}
	names, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return
	}
	cutoff := time.Now().Add(-staleTestDatabaseAge)
	for _, name := range names {
		created, ok := testDatabaseCreated(name)
		if !ok || created.After(cutoff) {
			continue
		}
		_, _ = conn.Exec(ctx, "DROP DATABASE IF EXISTS "+pgx.Identifier{name}.Sanitize())
	}
}

func testDatabaseCreated(name string) (time.Time, bool) {
	rest, ok := strings.CutPrefix(name, testDatabasePrefix)
	if !ok {
		return time.Time{}, false
	}
	secs, _, ok := strings.Cut(rest, "_")
	if !ok {
		return time.Time{}, false
	}
	unix, err := strconv.ParseInt(secs, 10, 64)
	if err != nil {
		return time.Time{}, false
	}
	return time.Unix(unix, 0), true
}

// withDatabase points adminURL at database name, keeping server, credentials and options.
func withDatabase(adminURL, name string) (string, error) {
	if strings.HasPrefix(adminURL, "postgres://") || strings.HasPrefix(adminURL, "postgresql://") {
		u, err := url.Parse(adminURL)
		if err != nil {
			return "", fmt.Errorf("parse %s: %w", PostgresURLEnv, err)
		}
		u.Path = "/" + name
		u.RawPath = ""
		return u.String(), nil
	}
	// Keyword/value form: a later keyword overrides an earlier one.
	return adminURL + " dbname=" + name, nil
}

// redactPostgresURL hides a password so failure messages can name the URL safely.
func redactPostgresURL(s string) string {
	if u, err := url.Parse(s); err == nil && u.Scheme != "" {
		return u.Redacted()
	}
	if strings.Contains(s, "password") {
		return "(connection string with a password)"
	}
	return s
}
