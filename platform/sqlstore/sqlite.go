package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"time"

	_ "modernc.org/sqlite" // registers the pure-Go "sqlite" driver
)

// sqliteBackend adapts database/sql over modernc.org/sqlite to Queryer. SQLite has no
// timestamp type, so time.Time travels as INTEGER microseconds since the Unix epoch (UTC):
// exact, compact, and ordered the same way as PostgreSQL's timestamptz, which lets store
// code compare times in SQL that both dialects share.
type sqliteBackend struct {
	db *sql.DB
}

func openSQLite(path string) (*sqliteBackend, error) {
	if path == "" {
		return nil, errors.New("sqlstore: sqlite:// URL needs a file path")
	}
	if dir := filepath.Dir(path); dir != "" {
		if err := os.MkdirAll(dir, 0o700); err != nil {
			return nil, fmt.Errorf("sqlstore: create %s: %w", dir, err)
		}
	}
	q := url.Values{}
	for _, pragma := range []string{
		// Wait for another writer instead of failing at once.
		"busy_timeout(10000)",
		// Readers never block the writer, nor the writer the readers.
		"journal_mode(WAL)",
		// An acknowledged commit survives a power cut, not only a crash.
		"synchronous(FULL)",
		"foreign_keys(1)",
	} {
		q.Add("_pragma", pragma)
	}
	// Write transactions take the write lock when they begin, so two of them never
	// deadlock upgrading read locks; this is what makes ForUpdate unnecessary here.
	q.Set("_txlock", "immediate")
	db, err := sql.Open("sqlite", "file:"+path+"?"+q.Encode())
	if err != nil {
		return nil, fmt.Errorf("sqlstore: open %s: %w", path, err)
	}
	return &sqliteBackend{db: db}, nil
}

func (b *sqliteBackend) ping(ctx context.Context) error { return b.db.PingContext(ctx) }
func (b *sqliteBackend) close()                         { _ = b.db.Close() }

func (b *sqliteBackend) Exec(ctx context.Context, query string, args ...any) (int64, error) {
	return sqliteExec(ctx, b.db, query, args)
}

func (b *sqliteBackend) Query(ctx context.Context, query string, args ...any) (Rows, error) {
	return sqliteQuery(ctx, b.db, query, args)
}

func (b *sqliteBackend) QueryRow(ctx context.Context, query string, args ...any) Row {
	return sqliteRow{b.db.QueryRowContext(ctx, query, sqliteArgs(args)...)}
}

func (b *sqliteBackend) inTx(ctx context.Context, fn func(Queryer) error) error {
	tx, err := b.db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	// Rolled back unless fn returned nil: on error, on panic, and when fn never returns
	// because its goroutine exits (runtime.Goexit, as t.FailNow does).
	committing := false
	defer func() {
		if !committing {
			_ = tx.Rollback()
		}
	}()
	if err := fn(sqliteTx{tx}); err != nil {
		return err
	}
	committing = true
	return tx.Commit()
}

// sqlConn is what *sql.DB and *sql.Tx share.
type sqlConn interface {
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

func sqliteExec(ctx context.Context, c sqlConn, query string, args []any) (int64, error) {
	res, err := c.ExecContext(ctx, query, sqliteArgs(args)...)
	if err != nil {
		return 0, err
	}
	return res.RowsAffected()
}

func sqliteQuery(ctx context.Context, c sqlConn, query string, args []any) (Rows, error) {
	rows, err := c.QueryContext(ctx, query, sqliteArgs(args)...)
	if err != nil {
		return nil, err
	}
	return sqliteRows{rows}, nil
}

type sqliteTx struct{ tx *sql.Tx }

func (t sqliteTx) Exec(ctx context.Context, query string, args ...any) (int64, error) {
	return sqliteExec(ctx, t.tx, query, args)
}

func (t sqliteTx) Query(ctx context.Context, query string, args ...any) (Rows, error) {
	return sqliteQuery(ctx, t.tx, query, args)
}

func (t sqliteTx) QueryRow(ctx context.Context, query string, args ...any) Row {
	return sqliteRow{t.tx.QueryRowContext(ctx, query, sqliteArgs(args)...)}
}

type sqliteRows struct{ rows *sql.Rows }

func (r sqliteRows) Next() bool             { return r.rows.Next() }
func (r sqliteRows) Scan(dest ...any) error { return r.rows.Scan(sqliteDests(dest)...) }
func (r sqliteRows) Err() error             { return r.rows.Err() }
func (r sqliteRows) Close()                 { _ = r.rows.Close() }

type sqliteRow struct{ row *sql.Row }

func (r sqliteRow) Scan(dest ...any) error {
	err := r.row.Scan(sqliteDests(dest)...)
	if errors.Is(err, sql.ErrNoRows) {
		return ErrNoRows
	}
	return err
}

// sqliteArgs turns times into microseconds; everything else passes as it is.
func sqliteArgs(args []any) []any {
	out := args
	for i, a := range args {
		var v any
		switch t := a.(type) {
		case time.Time:
			v = t.UnixMicro()
		case *time.Time:
			if t == nil {
				v = nil
			} else {
				v = t.UnixMicro()
			}
		default:
			continue
		}
		if &out[0] == &args[0] {
			out = append([]any(nil), args...)
		}
		out[i] = v
	}
	return out
}

// sqliteDests reads microseconds back into time.Time (UTC) and *time.Time (nil for NULL).
func sqliteDests(dest []any) []any {
	out := dest
	for i, d := range dest {
		var s sql.Scanner
		switch t := d.(type) {
		case *time.Time:
			s = microsScanner{t: t}
		case **time.Time:
			s = microsScanner{pt: t}
		default:
			continue
		}
		if &out[0] == &dest[0] {
			out = append([]any(nil), dest...)
		}
		out[i] = s
	}
	return out
}

type microsScanner struct {
	t  *time.Time
	pt **time.Time
}

func (m microsScanner) Scan(src any) error {
	if src == nil {
		if m.pt != nil {
			*m.pt = nil
			return nil
		}
		return errors.New("sqlstore: NULL scanned into a time.Time; scan into *time.Time")
	}
	us, ok := src.(int64)
	if !ok {
		return fmt.Errorf("sqlstore: time column holds %T, want INTEGER microseconds", src)
	}
	t := time.UnixMicro(us).UTC()
	if m.pt != nil {
		*m.pt = &t
	} else {
		*m.t = t
	}
	return nil
}
