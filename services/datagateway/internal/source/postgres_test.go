package source

import (
	"context"
	"errors"
	"math"
	"net"
	"net/url"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgproto3"
	"google.golang.org/grpc/codes"

	datagatewayv1 "github.com/oriel-dev/oriel/gen/pb/oriel/datagateway/v1"
	"github.com/oriel-dev/oriel/platform/testkit"
)

// testPassword is set on every test source: trust authentication ignores it, and no
// error may ever contain it.
const testPassword = "pw-Zq8!never-in-an-error"

// pgSource returns a source for a fresh database and a connection to it for setup.
func pgSource(t *testing.T) (*datagatewayv1.Source, *pgx.Conn) {
	t.Helper()
	dbURL := testkit.PostgresDatabase(t)
	u, err := url.Parse(dbURL)
	if err != nil {
		t.Fatal(err)
	}
	host, port := hostPort(t, u)
	src := &datagatewayv1.Source{
		Params: &datagatewayv1.Source_Postgres{Postgres: &datagatewayv1.PostgresParams{
			Host:     host,
			Port:     port,
			Database: strings.TrimPrefix(u.Path, "/"),
			User:     u.User.Username(),
			SslMode:  datagatewayv1.PostgresParams_SSL_MODE_DISABLE,
		}},
		Credentials: &datagatewayv1.Credentials{Password: testPassword},
	}
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, dbURL)
	if err != nil {
		t.Fatalf("connect to the test database: %v", err)
	}
	t.Cleanup(func() { _ = conn.Close(context.Background()) })
	return src, conn
}

func pgExec(t *testing.T, conn *pgx.Conn, sql string) {
	t.Helper()
	if _, err := conn.Exec(context.Background(), sql); err != nil {
		t.Fatalf("%s: %v", sql, err)
	}
}

func pgParams(src *datagatewayv1.Source) *datagatewayv1.PostgresParams { return src.GetPostgres() }

func TestPostgresMapsEveryTypeAndNulls(t *testing.T) {
	t.Parallel()
	src, conn := pgSource(t)
	pgExec(t, conn, `
		CREATE TYPE mood AS ENUM ('happy', 'sad');
		CREATE DOMAIN posint AS int4 CHECK (VALUE > 0);
		CREATE TABLE every_type (
			k int, i2 int2, i4 int4, i8 int8, o oid, f4 float4, f8 float8, n numeric(12,2), t text,
			vc varchar(40), bp char(3), nm name, u uuid, e mood, b bool, by bytea, ts timestamp,
			tstz timestamptz, d date, j json, jb jsonb, iv interval, arr int4[], dom posint,
			ts_inf timestamp, d_old date);
		INSERT INTO every_type VALUES
			(1, -32768, 2147483647, 9223372036854775807, 4000000000, 1.5, 2.25, 12345678.90, 'héllo',
			 'varchar', 'ab', 'nm', 'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11', 'sad', true, '\x00ff10',
			 '2024-02-29 12:34:56.789012', '2024-02-29 12:34:56.789012+02', '2024-02-29',
			 '{"a": [1, 2]}', '{"b": 1, "a": 2}', '1 day 02:00:00', '{1,2}', 7, 'infinity', '1969-12-31'),
			(2, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL,
			 NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL);`)

	r := mustRun(t, src, "SELECT * FROM every_type ORDER BY k", limits(10), Options{})

	ts := time.Date(2024, 2, 29, 12, 34, 56, 789012000, time.UTC)
	type want struct {
		name, sourceType string
		typ              datagatewayv1.Column_Type
		value            any
	}
	const (
		tBool  = datagatewayv1.Column_TYPE_BOOL
		tInt   = datagatewayv1.Column_TYPE_INT64
		tFloat = datagatewayv1.Column_TYPE_FLOAT64
		tStr   = datagatewayv1.Column_TYPE_STRING
		tBytes = datagatewayv1.Column_TYPE_BYTES
		tTS    = datagatewayv1.Column_TYPE_TIMESTAMP
		tDate  = datagatewayv1.Column_TYPE_DATE
		tDec   = datagatewayv1.Column_TYPE_DECIMAL
		tJSON  = datagatewayv1.Column_TYPE_JSON
	)
	wants := []want{
		{"k", "int4", tInt, int64(1)},
		{"i2", "int2", tInt, int64(-32768)},
		{"i4", "int4", tInt, int64(2147483647)},
		{"i8", "int8", tInt, int64(math.MaxInt64)},
		{"o", "oid", tInt, int64(4000000000)},
		{"f4", "float4", tFloat, 1.5},
		{"f8", "float8", tFloat, 2.25},
		{"n", "numeric(12,2)", tDec, "12345678.90"},
		{"t", "text", tStr, "héllo"},
		{"vc", "varchar(40)", tStr, "varchar"},
		{"bp", "bpchar(3)", tStr, "ab "},
		{"nm", "name", tStr, "nm"},
		{"u", "uuid", tStr, "a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11"},
		{"e", "mood", tStr, "sad"},
		{"b", "bool", tBool, true},
		{"by", "bytea", tBytes, []byte{0x00, 0xff, 0x10}},
		{"ts", "timestamp", tTS, ts.UnixMicro()},
		{"tstz", "timestamptz", tTS, ts.Add(-2 * time.Hour).UnixMicro()},
		{"d", "date", tDate, time.Date(2024, 2, 29, 0, 0, 0, 0, time.UTC).Unix() / 86400},
		{"j", "json", tJSON, `{"a": [1, 2]}`},
		{"jb", "jsonb", tJSON, `{"a": 2, "b": 1}`},
		{"iv", "interval", tStr, "1 day 02:00:00"},
		{"arr", "_int4", tStr, "{1,2}"},
		{"dom", "int4", tInt, int64(7)}, // PostgreSQL describes a domain by its base type
		{"ts_inf", "timestamp", tTS, int64(math.MaxInt64)},
		{"d_old", "date", tDate, int64(-1)},
	}
	if len(r.cols) != len(wants) {
		t.Fatalf("%d columns, want %d", len(r.cols), len(wants))
	}
	if len(r.rows) != 2 {
		t.Fatalf("%d rows, want 2", len(r.rows))
	}
	for i, w := range wants {
		c := r.cols[i]
		if c.GetName() != w.name || c.GetType() != w.typ || c.GetSourceType() != w.sourceType {
			t.Errorf("column %d = %s %v %q, want %s %v %q", i, c.GetName(), c.GetType(), c.GetSourceType(), w.name, w.typ, w.sourceType)
		}
		if got := r.rows[0][i]; !reflect.DeepEqual(got, w.value) {
			t.Errorf("%s = %#v, want %#v", w.name, got, w.value)
		}
		if i > 0 && r.rows[1][i] != nil {
			t.Errorf("%s in the null row = %#v, want null", w.name, r.rows[1][i])
		}
	}
}

func TestPostgresSplitsRowsIntoBatchesOfBatchRows(t *testing.T) {
	t.Parallel()
	src, _ := pgSource(t)
	tests := []struct {
		name    string
		rows    int
		batches []int
	}{
		{"no rows", 0, nil},
		{"one row", 1, []int{1}},
		{"exactly one batch", 3, []int{3}},
		{"one more than a batch", 4, []int{3, 1}},
		{"several batches", 7, []int{3, 3, 1}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := mustRun(t, src, "SELECT g AS n FROM generate_series(1, "+itoa(tt.rows)+") g", limits(3), Options{})
			if !reflect.DeepEqual(r.batches, tt.batches) {
				t.Errorf("batches = %v, want %v", r.batches, tt.batches)
			}
			for j, row := range r.rows {
				if row[0] != int64(j+1) {
					t.Fatalf("row %d = %v, want %d", j, row[0], j+1)
				}
			}
			if r.stats.GetTruncated() {
				t.Error("truncated without a row limit")
			}
		})
	}
}

func TestPostgresNullsMidBatchKeepEveryListAligned(t *testing.T) {
	t.Parallel()
	src, _ := pgSource(t)
	r := mustRun(t, src, `SELECT CASE WHEN g % 3 = 2 THEN NULL ELSE g END AS v,
		CASE WHEN g % 3 = 2 THEN NULL ELSE g::text END AS s,
		CASE WHEN g = 7 THEN NULL ELSE g > 3 END AS b
		FROM generate_series(1, 7) g`, limits(3), Options{})
	want := [][]any{
		{int64(1), "1", false}, {nil, nil, false}, {int64(3), "3", false},
		{int64(4), "4", true}, {nil, nil, true}, {int64(6), "6", true},
		{int64(7), "7", nil},
	}
	if !reflect.DeepEqual(r.rows, want) {
		t.Errorf("rows = %v, want %v", r.rows, want)
	}
}

func TestPostgresRowLimitTruncates(t *testing.T) {
	t.Parallel()
	src, _ := pgSource(t)
	tests := []struct {
		name      string
		available int
		limit     int64
		rows      int
		truncated bool
	}{
		{"fewer rows than the limit", 10, 11, 10, false},
		{"exactly the limit", 10, 10, 10, false},
		{"more rows than the limit", 10, 5, 5, true},
		{"far more rows than the limit", 50_000_000, 7, 7, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			lim := limits(3)
			lim.RowLimit = tt.limit
			// In the select list, generate_series streams its rows instead of
			// materialising them first.
			r := mustRun(t, src, "SELECT generate_series(1, "+itoa(tt.available)+") AS g", lim, Options{})
			if len(r.rows) != tt.rows || r.stats.GetTruncated() != tt.truncated {
				t.Errorf("rows = %d truncated = %v, want %d %v", len(r.rows), r.stats.GetTruncated(), tt.rows, tt.truncated)
			}
		})
	}
}

func TestPostgresRefusesWrites(t *testing.T) {
	t.Parallel()
	src, conn := pgSource(t)
	pgExec(t, conn, "CREATE TABLE kept (a int); INSERT INTO kept VALUES (1); CREATE SEQUENCE seq")
	tests := []struct {
		name      string
		statement string
		reason    Reason
		sqlstate  string
	}{
		{"insert", "INSERT INTO kept VALUES (2)", ReasonReadOnly, "25006"},
		{"update", "UPDATE kept SET a = 3", ReasonReadOnly, "25006"},
		{"delete", "DELETE FROM kept", ReasonReadOnly, "25006"},
		{"create table", "CREATE TABLE made (a int)", ReasonReadOnly, "25006"},
		{"drop table", "DROP TABLE kept", ReasonReadOnly, "25006"},
		{"nextval", "SELECT nextval('seq')", ReasonReadOnly, "25006"},
		{"writable CTE", "WITH w AS (INSERT INTO kept VALUES (4) RETURNING a) SELECT * FROM w", ReasonReadOnly, "25006"},
		// The extended protocol takes one statement: COMMIT cannot end the read-only
		// transaction before a write.
		{"commit then write", "COMMIT; INSERT INTO kept VALUES (5)", ReasonSourceError, "42601"},
		{"read write transaction", "SET TRANSACTION READ WRITE; INSERT INTO kept VALUES (6)", ReasonSourceError, "42601"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := run(t, context.Background(), src, tt.statement, limits(10), Options{})
			e := sourceError(t, err, tt.reason, codes.FailedPrecondition, testPassword)
			if e.SQLState != tt.sqlstate {
				t.Errorf("sqlstate = %q, want %q (%s)", e.SQLState, tt.sqlstate, e.Message)
			}
		})
	}
	var n int
	var a int
	if err := conn.QueryRow(context.Background(), "SELECT count(*), max(a) FROM kept").Scan(&n, &a); err != nil {
		t.Fatal(err)
	}
	if n != 1 || a != 1 {
		t.Errorf("kept holds %d rows, max %d: a write got through", n, a)
	}
}

func TestPostgresStatementErrorsCarryTheSourceMessage(t *testing.T) {
	t.Parallel()
	src, _ := pgSource(t)
	_, err := run(t, context.Background(), src, "SELECT * FROM missing_table", limits(10), Options{})
	e := sourceError(t, err, ReasonSourceError, codes.FailedPrecondition, testPassword)
	if e.SQLState != "42P01" || !strings.Contains(e.Message, `relation "missing_table" does not exist`) {
		t.Errorf("error = %q (sqlstate %s)", e.Message, e.SQLState)
	}
	if md := errorMetadata(t, err); md["sqlstate"] != "42P01" {
		t.Errorf("metadata = %v, want sqlstate 42P01", md)
	}
}

func TestPostgresRejectsStatementsItCannotRun(t *testing.T) {
	t.Parallel()
	src, _ := pgSource(t)
	for name, stmt := range map[string]string{
		"empty":      "  ",
		"parameters": "SELECT $1::int",
	} {
		t.Run(name, func(t *testing.T) {
			_, err := run(t, context.Background(), src, stmt, limits(10), Options{})
			sourceError(t, err, ReasonInvalidRequest, codes.InvalidArgument)
		})
	}
}

func TestPostgresTimeLimitStopsTheStatement(t *testing.T) {
	t.Parallel()
	src, conn := pgSource(t)
	marker := strings.ReplaceAll(testkit.UniqueID("timeout"), "-", "_")
	lim := limits(10)
	lim.Timeout = 300 * time.Millisecond
	_, err := run(t, context.Background(), src, "SELECT pg_sleep(30) /* "+marker+" */", lim, Options{})
	e := sourceError(t, err, ReasonTimeout, codes.DeadlineExceeded, testPassword)
	if e.Timeout != lim.Timeout {
		t.Errorf("timeout = %v, want %v", e.Timeout, lim.Timeout)
	}
	waitStatementGone(t, conn, marker)
}

func TestPostgresCancelStopsTheStatementAtTheSource(t *testing.T) {
	t.Parallel()
	src, conn := pgSource(t)
	marker := strings.ReplaceAll(testkit.UniqueID("cancel"), "-", "_")
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() {
		done <- Query(ctx, src, "SELECT pg_sleep(60) /* "+marker+" */", nil, limits(10), Options{},
			func(*datagatewayv1.QueryResponse) error { return nil })
	}()
	waitStatement(t, conn, marker, true)
	cancel()
	select {
	case err := <-done:
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("Query after cancel = %v, want context.Canceled", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("Query did not return after its context was cancelled")
	}
	waitStatementGone(t, conn, marker)
}

func TestPostgresConsumerErrorStopsTheStatementAtTheSource(t *testing.T) {
	t.Parallel()
	src, conn := pgSource(t)
	marker := strings.ReplaceAll(testkit.UniqueID("consumer"), "-", "_")
	errGone := errors.New("consumer went away")
	batches := 0
	err := Query(context.Background(), src, "SELECT generate_series(1, 100000000) AS g /* "+marker+" */",
		nil, limits(100), Options{}, func(m *datagatewayv1.QueryResponse) error {
			if m.GetBatch() != nil {
				batches++
				if batches == 2 {
					return errGone
				}
			}
			return nil
		})
	if !errors.Is(err, errGone) {
		t.Fatalf("Query = %v, want the consumer's error", err)
	}
	waitStatementGone(t, conn, marker)
}

// waitStatement waits until pg_stat_activity shows (or no longer shows) an active
// statement holding marker.
func waitStatement(t *testing.T, conn *pgx.Conn, marker string, present bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		var n int
		err := conn.QueryRow(context.Background(),
			"SELECT count(*) FROM pg_stat_activity WHERE state = 'active' AND pid <> pg_backend_pid() AND strpos(query, $1) > 0",
			"/* "+marker+" */").Scan(&n)
		if err != nil {
			t.Fatal(err)
		}
		if (n > 0) == present {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("statement %s present = %v in pg_stat_activity, want %v", marker, n > 0, present)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func waitStatementGone(t *testing.T, conn *pgx.Conn, marker string) {
	t.Helper()
	waitStatement(t, conn, marker, false)
}

func TestPostgresTLSModes(t *testing.T) {
	t.Parallel()
	src, _ := pgSource(t)

	t.Run("require encrypts without verifying", func(t *testing.T) {
		s := cloneSource(src)
		pgParams(s).SslMode = datagatewayv1.PostgresParams_SSL_MODE_REQUIRE
		r := mustRun(t, s, "SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()", limits(10), Options{})
		if len(r.rows) != 1 || r.rows[0][0] != true {
			t.Errorf("ssl = %v, want true", r.rows)
		}
	})
	t.Run("unspecified verifies the certificate", func(t *testing.T) {
		s := cloneSource(src)
		pgParams(s).SslMode = datagatewayv1.PostgresParams_SSL_MODE_UNSPECIFIED
		_, err := run(t, context.Background(), s, "SELECT 1", limits(10), Options{})
		e := sourceError(t, err, ReasonSourceError, codes.FailedPrecondition, testPassword)
		if !strings.Contains(e.Message, "TLS certificate") {
			t.Errorf("message = %q, want it to name the TLS certificate", e.Message)
		}
	})
}

func TestPostgresConnectionFailuresNeverShowThePassword(t *testing.T) {
	t.Parallel()
	src, _ := pgSource(t)
	closed := closedPort(t)
	tests := []struct {
		name    string
		edit    func(*datagatewayv1.PostgresParams)
		code    codes.Code
		message string
	}{
		{"no database", func(p *datagatewayv1.PostgresParams) { p.Database = "no_such_database_here" },
			codes.FailedPrecondition, "does not exist"},
		{"closed port", func(p *datagatewayv1.PostgresParams) { p.Host, p.Port = "127.0.0.1", closed },
			codes.Unavailable, "connection refused"},
		{"unknown host", func(p *datagatewayv1.PostgresParams) { p.Host = "no-such-host.invalid" },
			codes.Unavailable, "no-such-host.invalid"},
		{"unix socket", func(p *datagatewayv1.PostgresParams) { p.Host = "/var/run/postgresql" },
			codes.FailedPrecondition, "not a host name"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := cloneSource(src)
			tt.edit(pgParams(s))
			_, err := run(t, context.Background(), s, "SELECT 1", limits(10), Options{})
			e := sourceError(t, err, ReasonSourceError, tt.code, testPassword)
			if !strings.Contains(e.Message, tt.message) {
				t.Errorf("message = %q, want it to contain %q", e.Message, tt.message)
			}
			res := Test(context.Background(), s, Options{})
			if res.GetOk() || res.GetError() != e.Message {
				t.Errorf("Test = %v, want not ok with %q", res, e.Message)
			}
		})
	}
}

// TestPostgresWrongPasswordErrorHasNoPassword uses a server that asks for a password
// (the test PostgreSQL trusts every local connection), then refuses it as PostgreSQL does.
func TestPostgresWrongPasswordErrorHasNoPassword(t *testing.T) {
	t.Parallel()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = ln.Close() }()
	received := make(chan string, 1)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		defer func() { _ = c.Close() }()
		be := pgproto3.NewBackend(c, c)
		if _, err := be.ReceiveStartupMessage(); err != nil {
			return
		}
		be.Send(&pgproto3.AuthenticationCleartextPassword{})
		if err := be.Flush(); err != nil {
			return
		}
		be.SetAuthType(pgproto3.AuthTypeCleartextPassword)
		msg, err := be.Receive()
		if err != nil {
			return
		}
		if pw, ok := msg.(*pgproto3.PasswordMessage); ok {
			received <- pw.Password
		}
		be.Send(&pgproto3.ErrorResponse{Severity: "FATAL", Code: "28P01",
			Message: `password authentication failed for user "alice"`})
		_ = be.Flush()
	}()
	host, port := hostPortOf(t, ln.Addr().String())
	src := &datagatewayv1.Source{
		Params: &datagatewayv1.Source_Postgres{Postgres: &datagatewayv1.PostgresParams{
			Host: host, Port: port, Database: "erp", User: "alice",
			SslMode: datagatewayv1.PostgresParams_SSL_MODE_DISABLE,
		}},
		Credentials: &datagatewayv1.Credentials{Password: "wrong-" + testPassword},
	}
	_, err = run(t, context.Background(), src, "SELECT 1", limits(10), Options{})
	e := sourceError(t, err, ReasonSourceError, codes.FailedPrecondition, "wrong-"+testPassword, testPassword)
	if e.SQLState != "28P01" || !strings.Contains(e.Message, "password authentication failed") {
		t.Errorf("error = %q (sqlstate %s)", e.Message, e.SQLState)
	}
	if pw := <-received; pw != "wrong-"+testPassword {
		t.Errorf("server received password %q", pw)
	}
}

func TestPostgresTestReportsTheServerVersion(t *testing.T) {
	t.Parallel()
	src, _ := pgSource(t)
	res := Test(context.Background(), src, Options{})
	if !res.GetOk() || res.GetError() != "" {
		t.Fatalf("Test = %v, want ok", res)
	}
	if !strings.HasPrefix(res.GetServerVersion(), "PostgreSQL 1") || strings.Contains(res.GetServerVersion(), " on ") {
		t.Errorf("server_version = %q, want e.g. PostgreSQL 15.19", res.GetServerVersion())
	}
	if res.GetLatency().AsDuration() <= 0 {
		t.Errorf("latency = %v", res.GetLatency().AsDuration())
	}
}
