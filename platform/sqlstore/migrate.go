package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"hash/crc64"
	"io/fs"
	"log/slog"

	"github.com/jackc/pgx/v5/stdlib"
	"github.com/pressly/goose/v3"
	"github.com/pressly/goose/v3/lock"
)

// Migrations are a service's forward-only SQL migrations, embedded in its binary: a folder
// per dialect (`postgres/`, `sqlite/`) of goose files named `00001_what.sql`.
type Migrations struct {
	FS fs.FS
}

// Migrate applies every pending migration. In PostgreSQL it first creates the service's
// schema, and holds an advisory lock per schema so replicas migrating at once take turns.
func (db *DB) Migrate(ctx context.Context, m Migrations, log *slog.Logger) error {
	if db.dialect == Postgres {
		// CREATE SCHEMA IF NOT EXISTS is not safe against itself: of two replicas creating
		// the schema at once, one fails on pg_namespace's unique index. The schema's
		// migration lock makes them take turns here too.
		err := db.ReadWriteTx(ctx, func(ctx context.Context, tx Queryer) error {
			if _, err := tx.Exec(ctx, "SELECT pg_advisory_xact_lock($1)", schemaLockID(db.schema)); err != nil {
				return err
			}
			_, err := tx.Exec(ctx, "CREATE SCHEMA IF NOT EXISTS "+quoteIdent(db.schema))
			return err
		})
		if err != nil {
			return fmt.Errorf("sqlstore: create schema %s: %w", db.schema, err)
		}
	}
	return db.withProvider(m, log, func(p *goose.Provider) error {
		results, err := p.Up(ctx)
		for _, r := range results {
			log.Info("migration applied", "schema", db.schema, "version", r.Source.Version,
				"file", r.Source.Path, "duration", r.Duration)
		}
		if err != nil {
			return fmt.Errorf("sqlstore: migrate %s: %w", db.schema, err)
		}
		return nil
	})
}

// AtHead reports whether every migration has been applied; services report NOT_SERVING
// until it does.
func (db *DB) AtHead(ctx context.Context, m Migrations) (bool, error) {
	// goose creates its version table even to read it, which PostgreSQL refuses while the
	// schema does not exist; a missing schema simply means nothing has been applied.
	if db.dialect == Postgres {
		var exists bool
		err := db.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM pg_namespace WHERE nspname = $1)`, db.schema).Scan(&exists)
		if err != nil {
			return false, fmt.Errorf("sqlstore: look up schema %s: %w", db.schema, err)
		}
		if !exists {
			return false, nil
		}
	}
	var pending bool
	err := db.withProvider(m, slog.New(slog.DiscardHandler), func(p *goose.Provider) error {
		var err error
		pending, err = p.HasPending(ctx)
		return err
	})
	if err != nil {
		return false, err
	}
	return !pending, nil
}

func (db *DB) withProvider(m Migrations, log *slog.Logger, fn func(*goose.Provider) error) error {
	sub, err := fs.Sub(m.FS, db.dialect.String())
	if err != nil {
		return fmt.Errorf("sqlstore: migrations for %s: %w", db.dialect, err)
	}
	var (
		sqlDB   *sql.DB
		dialect goose.Dialect
		opts    = []goose.ProviderOption{goose.WithDisableGlobalRegistry(true), goose.WithSlog(log)}
	)
	switch b := db.backend.(type) {
	case *pgBackend:
		sqlDB = stdlib.OpenDBFromPool(b.pool)
		defer sqlDB.Close()
		dialect = goose.DialectPostgres
		locker, err := lock.NewPostgresSessionLocker(lock.WithLockID(schemaLockID(db.schema)))
		if err != nil {
			return err
		}
		opts = append(opts, goose.WithSessionLocker(locker))
	case *sqliteBackend:
		// SQLite's own write lock serializes migrating processes.
		sqlDB = b.db
		dialect = goose.DialectSQLite3
	default:
		return errors.New("sqlstore: unknown backend")
	}
	p, err := goose.NewProvider(dialect, sqlDB, sub, opts...)
	if err != nil {
		return fmt.Errorf("sqlstore: load migrations: %w", err)
	}
	return fn(p)
}

// schemaLockID gives each schema its own advisory lock, so services sharing one PostgreSQL
// migrate in parallel while replicas of one service take turns.
func schemaLockID(schema string) int64 {
	return int64(crc64.Checksum([]byte("oriel.migrate."+schema), crc64.MakeTable(crc64.ECMA)) >> 1)
}

func quoteIdent(s string) string {
	return `"` + s + `"`
}

// MigrateURL opens the database at url for schema, applies every pending migration of m,
// and closes it: what a service's `migrate` command does.
func MigrateURL(ctx context.Context, url, schema string, m Migrations, log *slog.Logger) error {
	db, err := Open(ctx, url, Options{Schema: schema})
	if err != nil {
		return err
	}
	defer db.Close()
	return db.Migrate(ctx, m, log)
}
