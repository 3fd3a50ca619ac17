package sqlstore_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/oriel-dev/oriel/platform/sqlstore"
	"github.com/oriel-dev/oriel/platform/testkit"
)

func TestOpenNeverEchoesThePassword(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		url  string
	}{
		{name: "unknown scheme", url: "mysql://oriel:secret-pw@127.0.0.1:3306/oriel"},
		{name: "scheme with a typo", url: "postgre://oriel:secret-pw@127.0.0.1:5432/oriel"},
		{name: "unreachable postgres host", url: "postgres://oriel:secret-pw@127.0.0.1:1/oriel?sslmode=disable&connect_timeout=2"},
		{name: "unreachable postgresql host", url: "postgresql://oriel:secret-pw@127.0.0.1:1/oriel?sslmode=disable&connect_timeout=2"},
		{name: "malformed postgres port", url: "postgres://oriel:secret-pw@127.0.0.1:notaport/oriel"},
		{name: "password in the query", url: "postgres://oriel@127.0.0.1:1/oriel?sslmode=disable&connect_timeout=2&password=secret-pw"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			db, err := sqlstore.Open(ctx, tt.url, sqlstore.Options{Schema: "tenant"})
			if err == nil {
				db.Close()
				t.Fatalf("Open(%q) succeeded, want an error", tt.name)
			}
			if strings.Contains(err.Error(), "secret-pw") {
				t.Errorf("Open error echoes the password: %v", err)
			}
		})
	}
}

func TestOpenRejectsUnknownSchemes(t *testing.T) {
	t.Parallel()
	_, err := sqlstore.Open(context.Background(), "mysql://oriel:secret-pw@db/oriel", sqlstore.Options{Schema: "tenant"})
	if err == nil || !strings.Contains(err.Error(), "unsupported database URL") {
		t.Fatalf("Open(mysql://…) = %v, want an unsupported database URL error", err)
	}
	if !strings.Contains(err.Error(), "mysql://oriel:xxxxx@db/oriel") {
		t.Errorf("error %q should name the URL with its password hidden", err)
	}
}

func TestOpenRequiresASchema(t *testing.T) {
	t.Parallel()
	_, err := sqlstore.Open(context.Background(), "sqlite://"+t.TempDir()+"/x.db", sqlstore.Options{})
	if err == nil {
		t.Fatal("Open without Options.Schema succeeded")
	}
}

func TestOpenRequiresASQLitePath(t *testing.T) {
	t.Parallel()
	_, err := sqlstore.Open(context.Background(), "sqlite://", sqlstore.Options{Schema: "tenant"})
	if err == nil {
		t.Fatal("Open(sqlite://) succeeded")
	}
}

func TestRedactHidesOnlyThePassword(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		url  string
		want string
	}{
		{name: "user and password", url: "postgres://oriel:s3cret@db:5432/oriel?sslmode=disable", want: "postgres://oriel:xxxxx@db:5432/oriel?sslmode=disable"},
		{name: "password holding @ and :", url: "postgres://oriel:p@ss:w0rd@db/oriel", want: "postgres://oriel:xxxxx@db/oriel"},
		{name: "user without password", url: "postgres://oriel@db/oriel", want: "postgres://oriel@db/oriel"},
		{name: "no credentials", url: "postgres://db/oriel", want: "postgres://db/oriel"},
		{name: "empty password", url: "postgres://oriel:@db/oriel", want: "postgres://oriel:xxxxx@db/oriel"},
		{name: "password query parameter", url: "postgres://oriel@db/oriel?sslmode=disable&password=s3cret", want: "postgres://oriel@db/oriel?sslmode=disable&password=xxxxx"},
		{name: "password query parameter first", url: "postgresql://db/oriel?password=s3cret&sslmode=disable", want: "postgresql://db/oriel?password=xxxxx&sslmode=disable"},
		{name: "sqlite path", url: "sqlite:///var/lib/oriel/tenant.db", want: "sqlite:///var/lib/oriel/tenant.db"},
		{name: "not a URL", url: "host=db user=oriel", want: "host=db user=oriel"},
		{name: "other scheme", url: "mysql://root:s3cret@db/oriel", want: "mysql://root:xxxxx@db/oriel"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if got := sqlstore.Redact(tt.url); got != tt.want {
				t.Errorf("Redact(%q) = %q, want %q", tt.url, got, tt.want)
			}
		})
	}
}

func TestDialectNamesItsMigrationsFolder(t *testing.T) {
	t.Parallel()
	for d, want := range map[sqlstore.Dialect]string{sqlstore.Postgres: "postgres", sqlstore.SQLite: "sqlite", 0: "unknown"} {
		if got := d.String(); got != want {
			t.Errorf("Dialect(%d).String() = %q, want %q", d, got, want)
		}
	}
	if got := sqlstore.Postgres.ForUpdate(); got != " FOR UPDATE" {
		t.Errorf("Postgres.ForUpdate() = %q", got)
	}
	if got := sqlstore.SQLite.ForUpdate(); got != "" {
		t.Errorf("SQLite.ForUpdate() = %q, want none: SQLite write transactions are IMMEDIATE", got)
	}
}

func TestOpenPingsBothDialects(t *testing.T) {
	t.Parallel()
	for _, d := range testkit.SQLDatabases() {
		t.Run(d.Name, func(t *testing.T) {
			t.Parallel()
			db := d.Open(t, testSchema)
			if err := db.Ping(context.Background()); err != nil {
				t.Fatalf("Ping: %v", err)
			}
			if got := db.Dialect().String(); got != d.Name {
				t.Errorf("Dialect() = %s, want %s", got, d.Name)
			}
		})
	}
}

func TestTimesRoundTripExactlyInUTC(t *testing.T) {
	t.Parallel()
	berlin, err := time.LoadLocation("Europe/Berlin")
	if err != nil {
		berlin = time.FixedZone("CET", 3600)
	}
	type moment struct {
		name string
		in   time.Time
		want time.Time
	}
	values := []moment{
		{name: "microseconds", in: time.Date(2024, 2, 29, 23, 59, 59, 123456000, time.UTC), want: time.Date(2024, 2, 29, 23, 59, 59, 123456000, time.UTC)},
		{name: "other zone comes back as the same instant in UTC", in: time.Date(2025, 7, 1, 12, 0, 0, 1000, berlin), want: time.Date(2025, 7, 1, 10, 0, 0, 1000, time.UTC)},
		{name: "before the epoch", in: time.Date(1969, 12, 31, 23, 59, 59, 999999000, time.UTC), want: time.Date(1969, 12, 31, 23, 59, 59, 999999000, time.UTC)},
		{name: "the epoch", in: time.Unix(0, 0).UTC(), want: time.Unix(0, 0).UTC()},
		{name: "far future", in: time.Date(9999, 12, 31, 23, 59, 59, 999999000, time.UTC), want: time.Date(9999, 12, 31, 23, 59, 59, 999999000, time.UTC)},
	}
	forEachDialect(t, func(t *testing.T, db *sqlstore.DB) {
		ctx := context.Background()
		mustExec(t, db, fmt.Sprintf(`CREATE TABLE moments (id TEXT PRIMARY KEY, at %[1]s NOT NULL, maybe %[1]s)`, timeType(db)))
		for _, v := range values {
			in := v.in
			mustExec(t, db, `INSERT INTO moments (id, at, maybe) VALUES ($1, $2, $3)`, v.name, v.in, &in)
		}
		mustExec(t, db, `INSERT INTO moments (id, at, maybe) VALUES ($1, $2, $3)`, "null", values[0].in, (*time.Time)(nil))

		check := func(t *testing.T, name string, at time.Time, maybe *time.Time, want time.Time) {
			t.Helper()
			if at != want || at.Location() != time.UTC {
				t.Errorf("%s: at = %v (%v), want exactly %v in UTC", name, at, at.Location(), want)
			}
			if maybe == nil || *maybe != want {
				t.Errorf("%s: maybe = %v, want exactly %v in UTC", name, maybe, want)
			}
		}
		t.Run("QueryRow on the pool", func(t *testing.T) {
			for _, v := range values {
				var at time.Time
				var maybe *time.Time
				if err := db.QueryRow(ctx, `SELECT at, maybe FROM moments WHERE id = $1`, v.name).Scan(&at, &maybe); err != nil {
					t.Fatalf("%s: %v", v.name, err)
				}
				check(t, v.name, at, maybe, v.want)
			}
		})
		t.Run("Query in a transaction", func(t *testing.T) {
			err := db.ReadWriteTx(ctx, func(ctx context.Context, tx sqlstore.Queryer) error {
				rows, err := tx.Query(ctx, `SELECT id, at, maybe FROM moments WHERE id <> 'null'`)
				if err != nil {
					return err
				}
				defer rows.Close()
				seen := 0
				for rows.Next() {
					var (
						id    string
						at    time.Time
						maybe *time.Time
					)
					if err := rows.Scan(&id, &at, &maybe); err != nil {
						return err
					}
					i := slices.IndexFunc(values, func(v moment) bool { return v.name == id })
					if i < 0 {
						return fmt.Errorf("unexpected row %q", id)
					}
					check(t, id, at, maybe, values[i].want)
					seen++
				}
				if seen != len(values) {
					return fmt.Errorf("read %d rows, want %d", seen, len(values))
				}
				return rows.Err()
			})
			if err != nil {
				t.Fatal(err)
			}
		})
		t.Run("NULL scans into a nil *time.Time", func(t *testing.T) {
			maybe := &values[0].in // must be overwritten with nil
			var at time.Time
			if err := db.QueryRow(ctx, `SELECT at, maybe FROM moments WHERE id = 'null'`).Scan(&at, &maybe); err != nil {
				t.Fatal(err)
			}
			if maybe != nil {
				t.Errorf("maybe = %v, want nil for NULL", *maybe)
			}
			if at != values[0].want {
				t.Errorf("at = %v, want %v", at, values[0].want)
			}
		})
		t.Run("NULL into a time.Time is an error", func(t *testing.T) {
			var maybe time.Time
			err := db.QueryRow(ctx, `SELECT maybe FROM moments WHERE id = 'null'`).Scan(&maybe)
			if err == nil {
				t.Fatalf("scanning NULL into a time.Time succeeded with %v", maybe)
			}
		})
		t.Run("sub-microsecond digits are dropped alike", func(t *testing.T) {
			in := time.Date(2024, 5, 6, 7, 8, 9, 123456789, time.UTC)
			mustExec(t, db, `INSERT INTO moments (id, at) VALUES ('nanos', $1)`, in)
			var at time.Time
			if err := db.QueryRow(ctx, `SELECT at FROM moments WHERE id = 'nanos'`).Scan(&at); err != nil {
				t.Fatal(err)
			}
			if want := in.Truncate(time.Microsecond); at != want {
				t.Errorf("at = %v, want %v", at, want)
			}
		})
	})
}

func TestTimesCompareInSQLAlikeOnBothDialects(t *testing.T) {
	t.Parallel()
	base := time.Date(2025, 1, 2, 3, 4, 5, 600000000, time.UTC)
	rows := []struct {
		id string
		at time.Time
	}{
		{"before-epoch", time.Date(1960, 1, 1, 0, 0, 0, 0, time.UTC)},
		{"earlier", base.Add(-time.Hour)},
		{"just-before", base.Add(-time.Microsecond)},
		{"at", base},
		{"just-after", base.Add(time.Microsecond)},
		{"later", base.Add(24 * time.Hour)},
	}
	forEachDialect(t, func(t *testing.T, db *sqlstore.DB) {
		ctx := context.Background()
		mustExec(t, db, fmt.Sprintf(`CREATE TABLE moments (id TEXT PRIMARY KEY, at %s NOT NULL)`, timeType(db)))
		// Inserted out of order, so ORDER BY at has to do the work.
		for _, i := range []int{3, 0, 5, 1, 4, 2} {
			mustExec(t, db, `INSERT INTO moments (id, at) VALUES ($1, $2)`, rows[i].id, rows[i].at)
		}
		ids := func(t *testing.T, query string, args ...any) []string {
			t.Helper()
			r, err := db.Query(ctx, query, args...)
			if err != nil {
				t.Fatal(err)
			}
			defer r.Close()
			var out []string
			for r.Next() {
				var id string
				if err := r.Scan(&id); err != nil {
					t.Fatal(err)
				}
				out = append(out, id)
			}
			if err := r.Err(); err != nil {
				t.Fatal(err)
			}
			return out
		}
		tests := []struct {
			name  string
			query string
			arg   any
			want  []string
		}{
			{"<= includes the equal instant", `SELECT id FROM moments WHERE at <= $1 ORDER BY at`, base, []string{"before-epoch", "earlier", "just-before", "at"}},
			{"< excludes it by one microsecond", `SELECT id FROM moments WHERE at < $1 ORDER BY at`, base, []string{"before-epoch", "earlier", "just-before"}},
			{"> orders descending", `SELECT id FROM moments WHERE at > $1 ORDER BY at DESC`, base, []string{"later", "just-after"}},
			{"a parameter in another zone is the same instant", `SELECT id FROM moments WHERE at = $1`, base.In(time.FixedZone("UTC-7", -7*3600)), []string{"at"}},
			{"a *time.Time parameter", `SELECT id FROM moments WHERE at >= $1 ORDER BY at`, &base, []string{"at", "just-after", "later"}},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				if got := ids(t, tt.query, tt.arg); !slices.Equal(got, tt.want) {
					t.Errorf("got %v, want %v", got, tt.want)
				}
			})
		}
	})
}

func TestQueryRowWithNoRowsReturnsErrNoRows(t *testing.T) {
	t.Parallel()
	forEachDialect(t, func(t *testing.T, db *sqlstore.DB) {
		ctx := context.Background()
		mustExec(t, db, `CREATE TABLE things (id TEXT PRIMARY KEY)`)
		var id string
		if err := db.QueryRow(ctx, `SELECT id FROM things WHERE id = $1`, "missing").Scan(&id); !errors.Is(err, sqlstore.ErrNoRows) {
			t.Errorf("pool QueryRow: err = %v, want ErrNoRows", err)
		}
		err := db.ReadWriteTx(ctx, func(ctx context.Context, tx sqlstore.Queryer) error {
			return tx.QueryRow(ctx, `SELECT id FROM things WHERE id = $1`, "missing").Scan(&id)
		})
		if !errors.Is(err, sqlstore.ErrNoRows) {
			t.Errorf("transaction QueryRow: err = %v, want ErrNoRows", err)
		}
		// A failing query is not "no rows".
		if err := db.QueryRow(ctx, `SELECT id FROM no_such_things`).Scan(&id); err == nil || errors.Is(err, sqlstore.ErrNoRows) {
			t.Errorf("query of a missing table: err = %v, want a driver error", err)
		}
	})
}

func TestExecReportsRowsChanged(t *testing.T) {
	t.Parallel()
	forEachDialect(t, func(t *testing.T, db *sqlstore.DB) {
		mustExec(t, db, `CREATE TABLE things (id TEXT PRIMARY KEY, n INTEGER NOT NULL)`)
		mustExec(t, db, `INSERT INTO things (id, n) VALUES ('a', 1), ('b', 1), ('c', 2)`)
		if got := mustExec(t, db, `UPDATE things SET n = n + 1 WHERE n = $1`, 1); got != 2 {
			t.Errorf("UPDATE changed %d rows, want 2", got)
		}
		if got := mustExec(t, db, `DELETE FROM things WHERE id = $1`, "zzz"); got != 0 {
			t.Errorf("DELETE of nothing changed %d rows", got)
		}
	})
}

func TestUniqueViolation(t *testing.T) {
	t.Parallel()
	forEachDialect(t, func(t *testing.T, db *sqlstore.DB) {
		ctx := context.Background()
		mustExec(t, db, `CREATE TABLE accounts (id TEXT PRIMARY KEY, email TEXT NOT NULL UNIQUE)`)
		mustExec(t, db, `CREATE TABLE counters (n INTEGER PRIMARY KEY)`)
		mustExec(t, db, `INSERT INTO accounts (id, email) VALUES ('a1', 'a@example.com'), ('a3', 'c@example.com')`)
		mustExec(t, db, `INSERT INTO counters (n) VALUES (1)`)

		exec := func(query string, args ...any) error {
			_, err := db.Exec(ctx, query, args...)
			return err
		}
		tests := []struct {
			name      string
			err       error
			wantOK    bool
			wantTable string
		}{
			{name: "duplicate text primary key", err: exec(`INSERT INTO accounts (id, email) VALUES ('a1', 'other@example.com')`), wantOK: true, wantTable: "accounts"},
			{name: "duplicate UNIQUE column", err: exec(`INSERT INTO accounts (id, email) VALUES ('a2', 'a@example.com')`), wantOK: true, wantTable: "accounts"},
			{name: "duplicate integer primary key", err: exec(`INSERT INTO counters (n) VALUES (1)`), wantOK: true, wantTable: "counters"},
			{name: "duplicate made by an UPDATE", err: exec(`UPDATE accounts SET email = 'a@example.com' WHERE id = 'a3'`), wantOK: true, wantTable: "accounts"},
			{name: "wrapped duplicate", err: fmt.Errorf("create account: %w", exec(`INSERT INTO accounts (id, email) VALUES ('a1', 'x@example.com')`)), wantOK: true, wantTable: "accounts"},
			{name: "NOT NULL violation", err: exec(`INSERT INTO accounts (id, email) VALUES ('a4', NULL)`), wantOK: false},
			{name: "missing table", err: exec(`INSERT INTO nope (id) VALUES (1)`), wantOK: false},
			{name: "syntax error", err: exec(`INSERT INTO accounts VALUE`), wantOK: false},
			{name: "not a driver error", err: errors.New("duplicate key value violates unique constraint"), wantOK: false},
			{name: "nil", err: nil, wantOK: false},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				if tt.err == nil && tt.name != "nil" {
					t.Fatal("the statement succeeded; the case needs it to fail")
				}
				table, ok := sqlstore.UniqueViolation(tt.err)
				if ok != tt.wantOK {
					t.Fatalf("UniqueViolation(%v) ok = %v, want %v", tt.err, ok, tt.wantOK)
				}
				if ok && table != tt.wantTable {
					t.Errorf("UniqueViolation(%v) table = %q, want %q", tt.err, table, tt.wantTable)
				}
			})
		}
	})
}

func TestReadWriteTx(t *testing.T) {
	t.Parallel()
	errAbort := errors.New("abort")
	forEachDialect(t, func(t *testing.T, db *sqlstore.DB) {
		ctx := context.Background()
		mustExec(t, db, `CREATE TABLE things (id TEXT PRIMARY KEY)`)
		insert := func(id string) func(ctx context.Context, tx sqlstore.Queryer) error {
			return func(ctx context.Context, tx sqlstore.Queryer) error {
				_, err := tx.Exec(ctx, `INSERT INTO things (id) VALUES ($1)`, id)
				return err
			}
		}
		exists := func(t *testing.T, id string) bool {
			t.Helper()
			var got string
			err := db.QueryRow(ctx, `SELECT id FROM things WHERE id = $1`, id).Scan(&got)
			if errors.Is(err, sqlstore.ErrNoRows) {
				return false
			}
			if err != nil {
				t.Fatal(err)
			}
			return true
		}

		t.Run("commits when fn returns nil", func(t *testing.T) {
			if err := db.ReadWriteTx(ctx, insert("committed")); err != nil {
				t.Fatal(err)
			}
			if !exists(t, "committed") {
				t.Error("row written in a committed transaction is missing")
			}
		})

		t.Run("sees its own writes before commit", func(t *testing.T) {
			err := db.ReadWriteTx(ctx, func(ctx context.Context, tx sqlstore.Queryer) error {
				if err := insert("own-write")(ctx, tx); err != nil {
					return err
				}
				if n := count(t, tx, "things WHERE id = 'own-write'"); n != 1 {
					return fmt.Errorf("transaction sees %d of its own rows", n)
				}
				return nil
			})
			if err != nil {
				t.Fatal(err)
			}
		})

		t.Run("rolls back and returns the error", func(t *testing.T) {
			err := db.ReadWriteTx(ctx, func(ctx context.Context, tx sqlstore.Queryer) error {
				if err := insert("rolled-back")(ctx, tx); err != nil {
					return err
				}
				return fmt.Errorf("later step: %w", errAbort)
			})
			if !errors.Is(err, errAbort) {
				t.Fatalf("ReadWriteTx = %v, want the callback's error", err)
			}
			if exists(t, "rolled-back") {
				t.Error("row written in a failed transaction was committed")
			}
		})

		t.Run("rolls back on panic and re-panics", func(t *testing.T) {
			recovered := func() (r any) {
				defer func() { r = recover() }()
				_ = db.ReadWriteTx(ctx, func(ctx context.Context, tx sqlstore.Queryer) error {
					if err := insert("panicked")(ctx, tx); err != nil {
						return err
					}
					panic("callback panicked")
				})
				return nil
			}()
			if recovered != "callback panicked" {
				t.Fatalf("recovered %v, want the callback's panic", recovered)
			}
			if exists(t, "panicked") {
				t.Error("row written before a panic was committed")
			}
			// The transaction's connection and locks were released: another write succeeds
			// at once instead of waiting on a lock the panicked transaction still holds.
			wctx, cancel := context.WithTimeout(ctx, 5*time.Second)
			defer cancel()
			if err := db.ReadWriteTx(wctx, insert("after-panic")); err != nil {
				t.Fatalf("write after a panicked transaction: %v", err)
			}
		})

		t.Run("a failed statement rolls back the whole transaction", func(t *testing.T) {
			err := db.ReadWriteTx(ctx, func(ctx context.Context, tx sqlstore.Queryer) error {
				if err := insert("first-of-two")(ctx, tx); err != nil {
					return err
				}
				return insert("committed")(ctx, tx) // duplicate key
			})
			if _, ok := sqlstore.UniqueViolation(err); !ok {
				t.Fatalf("ReadWriteTx = %v, want the unique violation", err)
			}
			if exists(t, "first-of-two") {
				t.Error("first insert survived the failed transaction")
			}
		})
	})
}
