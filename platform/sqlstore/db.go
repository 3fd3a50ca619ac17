// Package sqlstore is the one way Oriel's services talk to SQL: a narrow Queryer over
// PostgreSQL (pgx v5 pools, production) and SQLite (modernc.org/sqlite, the embedded
// default of `oriel dev`), callback transactions, and forward-only migrations embedded in
// each service. Store code is written once, in the SQL both dialects share ($n
// placeholders, RETURNING, ON CONFLICT), and asks Dialect for the few fragments that differ.
package sqlstore

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"strings"
)

// Dialect says which database a DB talks to.
type Dialect int

const (
	// Postgres is PostgreSQL through pgx.
	Postgres Dialect = iota + 1
	// SQLite is SQLite through modernc.org/sqlite.
	SQLite
)

// String names the dialect as migrations folders do.
func (d Dialect) String() string {
	switch d {
	case Postgres:
		return "postgres"
	case SQLite:
		return "sqlite"
	}
	return "unknown"
}

// ForUpdate locks the rows a SELECT reads until the transaction ends. SQLite needs no lock:
// its write transactions start IMMEDIATE and so already run one at a time.
func (d Dialect) ForUpdate() string {
	if d == Postgres {
		return " FOR UPDATE"
	}
	return ""
}

// ErrNoRows is returned by Row.Scan when the query matched nothing, whatever the driver.
var ErrNoRows = errors.New("sqlstore: no rows")

// Queryer runs SQL with $1, $2, … placeholders. A DB and a transaction are both Queryers.
type Queryer interface {
	// Exec runs a statement and returns how many rows it changed.
	Exec(ctx context.Context, query string, args ...any) (int64, error)
	// Query runs a query; the caller must Close the rows.
	Query(ctx context.Context, query string, args ...any) (Rows, error)
	// QueryRow runs a query expected to return at most one row.
	QueryRow(ctx context.Context, query string, args ...any) Row
}

// Rows iterates over a query's result.
type Rows interface {
	Next() bool
	Scan(dest ...any) error
	Err() error
	Close()
}

// Row is the result of QueryRow; Scan returns ErrNoRows when there was none.
type Row interface {
	Scan(dest ...any) error
}

// backend is what each driver adapter provides.
type backend interface {
	Queryer
	inTx(ctx context.Context, fn func(Queryer) error) error
	ping(ctx context.Context) error
	close()
}

// DB is a connection pool to one service's schema.
type DB struct {
	backend
	dialect Dialect
	schema  string
}

// Options configure Open.
type Options struct {
	// Schema is the service's own schema, e.g. "tenant". In PostgreSQL every connection's
	// search_path is set to it, so SQL never names it; in SQLite the database file is the
	// schema.
	Schema string
	// MaxConns caps the PostgreSQL pool; 0 keeps pgx's default.
	MaxConns int32
}

// Open connects to the database named by url: `postgres://…` / `postgresql://…` for
// PostgreSQL, or `sqlite://<path>` for a SQLite file (`sqlite:///abs/path.db`,
// `sqlite://relative/path.db`).
func Open(ctx context.Context, url string, opts Options) (*DB, error) {
	if opts.Schema == "" {
		return nil, errors.New("sqlstore: Options.Schema is required")
	}
	var (
		b       backend
		dialect Dialect
		err     error
	)
	switch {
	case strings.HasPrefix(url, "postgres://"), strings.HasPrefix(url, "postgresql://"):
		dialect = Postgres
		b, err = openPostgres(ctx, url, opts)
	case strings.HasPrefix(url, "sqlite://"):
		dialect = SQLite
		b, err = openSQLite(strings.TrimPrefix(url, "sqlite://"))
	default:
		return nil, fmt.Errorf("sqlstore: unsupported database URL %q: want postgres://… or sqlite://<path>", Redact(url))
	}
	if err != nil {
		return nil, err
	}
	if err := b.ping(ctx); err != nil {
		b.close()
		return nil, fmt.Errorf("sqlstore: connect to %s: %w", Redact(url), err)
	}
	return &DB{backend: b, dialect: dialect, schema: opts.Schema}, nil
}

// Dialect says which database this is.
func (db *DB) Dialect() Dialect { return db.dialect }

// Ping checks that the database answers.
func (db *DB) Ping(ctx context.Context) error { return db.ping(ctx) }

// ReadWriteTx runs fn in a transaction, committed when fn returns nil and rolled back
// otherwise (including when fn panics). fn must do all its work through tx.
func (db *DB) ReadWriteTx(ctx context.Context, fn func(ctx context.Context, tx Queryer) error) error {
	return db.inTx(ctx, func(tx Queryer) error { return fn(ctx, tx) })
}

// Close releases every connection.
func (db *DB) Close() { db.close() }

// passwordParam finds a password passed as a query parameter, which libpq and pgx accept
// as well as one in the userinfo.
var passwordParam = regexp.MustCompile(`([?&]password=)[^&#]*`)

// Redact hides the password of a database URL so it can be logged.
func Redact(url string) string {
	url = passwordParam.ReplaceAllString(url, "${1}xxxxx")
	scheme, rest, ok := strings.Cut(url, "://")
	if !ok {
		return url
	}
	at := strings.LastIndex(rest, "@")
	if at < 0 {
		return url
	}
	userinfo := rest[:at]
	if user, _, hasPassword := strings.Cut(userinfo, ":"); hasPassword {
		return scheme + "://" + user + ":xxxxx@" + rest[at+1:]
	}
	return url
}

// Config is how a service reaches its database. Its tags are the flags of every service.
type Config struct {
	URL string `name:"database-url" required:"" help:"postgres://… (production) or sqlite://<path> (embedded)."`
	// MaxConns bounds the PostgreSQL pool. pgx's default (the CPU count, at least 4) starves
	// a service whose calls each hold a connection for a whole transaction.
	MaxConns int32 `name:"database-max-conns" default:"16" help:"The most PostgreSQL connections the service opens."`
}
