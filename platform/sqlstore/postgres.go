package sqlstore

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgtype"
	"github.com/jackc/pgx/v5/pgxpool"
)

type pgBackend struct {
	pool *pgxpool.Pool
}

func openPostgres(ctx context.Context, url string, opts Options) (*pgBackend, error) {
	cfg, err := pgxpool.ParseConfig(url)
	if err != nil {
		// pgx's parse errors can quote the URL, password included.
		return nil, fmt.Errorf("sqlstore: invalid PostgreSQL URL %s", Redact(url))
	}
	// Each service sees only its own schema; migrations create it (see Migrate).
	cfg.ConnConfig.RuntimeParams["search_path"] = opts.Schema
	// pgx scans timestamptz into the host's local zone; SQLite's adapter returns UTC, and
	// store code written once must get the same time.Time from both.
	cfg.AfterConnect = func(_ context.Context, conn *pgx.Conn) error {
		conn.TypeMap().RegisterType(&pgtype.Type{
			Name: "timestamptz", OID: pgtype.TimestamptzOID,
			Codec: &pgtype.TimestamptzCodec{ScanLocation: time.UTC},
		})
		return nil
	}
	if opts.MaxConns > 0 {
		cfg.MaxConns = opts.MaxConns
	}
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("sqlstore: open %s: %w", Redact(url), err)
	}
	return &pgBackend{pool: pool}, nil
}

func (b *pgBackend) ping(ctx context.Context) error { return b.pool.Ping(ctx) }
func (b *pgBackend) close()                         { b.pool.Close() }

func (b *pgBackend) Exec(ctx context.Context, query string, args ...any) (int64, error) {
	return pgExec(ctx, b.pool, query, args)
}

func (b *pgBackend) Query(ctx context.Context, query string, args ...any) (Rows, error) {
	return pgQuery(ctx, b.pool, query, args)
}

func (b *pgBackend) QueryRow(ctx context.Context, query string, args ...any) Row {
	return pgRow{b.pool.QueryRow(ctx, query, args...)}
}

func (b *pgBackend) inTx(ctx context.Context, fn func(Queryer) error) error {
	return pgx.BeginFunc(ctx, b.pool, func(tx pgx.Tx) error { return fn(pgTx{tx}) })
}

// pgConn is what a pool and a transaction share.
type pgConn interface {
	Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error)
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
}

func pgExec(ctx context.Context, c pgConn, query string, args []any) (int64, error) {
	tag, err := c.Exec(ctx, query, args...)
	if err != nil {
		return 0, err
	}
	return tag.RowsAffected(), nil
}

func pgQuery(ctx context.Context, c pgConn, query string, args []any) (Rows, error) {
	rows, err := c.Query(ctx, query, args...)
	if err != nil {
		return nil, err
	}
	return rows, nil
}

type pgTx struct{ tx pgx.Tx }

func (t pgTx) Exec(ctx context.Context, query string, args ...any) (int64, error) {
	return pgExec(ctx, t.tx, query, args)
}

func (t pgTx) Query(ctx context.Context, query string, args ...any) (Rows, error) {
	return pgQuery(ctx, t.tx, query, args)
}

func (t pgTx) QueryRow(ctx context.Context, query string, args ...any) Row {
	return pgRow{t.tx.QueryRow(ctx, query, args...)}
}

type pgRow struct{ row pgx.Row }

func (r pgRow) Scan(dest ...any) error {
	err := r.row.Scan(dest...)
	if errors.Is(err, pgx.ErrNoRows) {
		return ErrNoRows
	}
	return err
}
