package source

import (
	"context"
	"database/sql"
	"errors"
	"math"
	"os"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/go-sql-driver/mysql"
	"google.golang.org/grpc/codes"

	datagatewayv1 "github.com/oriel-dev/oriel/gen/pb/oriel/datagateway/v1"
	"github.com/oriel-dev/oriel/platform/testkit"
)

// mysqlURLEnv names the test MariaDB (or MySQL) server, as a go-sql-driver DSN.
const mysqlURLEnv = "ORIEL_TEST_MYSQL_URL"

const defaultMysqlURL = "root@tcp(127.0.0.1:3306)/test"

// mysqlSource returns a source for the test server and a handle for setup. An
// unreachable server fails the test: these tests prove the MySQL driver works.
func mysqlSource(t *testing.T) (*datagatewayv1.Source, *sql.DB) {
	t.Helper()
	dsn := strings.TrimSpace(os.Getenv(mysqlURLEnv))
	if dsn == "" {
		dsn = defaultMysqlURL
	}
	cfg, err := mysql.ParseDSN(dsn)
	if err != nil {
		t.Fatalf("%s is not a go-sql-driver DSN (e.g. %s): %v", mysqlURLEnv, defaultMysqlURL, err)
	}
	db, err := sql.Open("mysql", dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = db.Close() })
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := db.PingContext(ctx); err != nil {
		t.Fatalf("MariaDB is unreachable at %s: %v\nRun the tests with `make test`, which starts MariaDB, "+
			"or set %s to a server's DSN, e.g. %s", cfg.Addr, err, mysqlURLEnv, defaultMysqlURL)
	}
	host, port := hostPortOf(t, cfg.Addr)
	src := &datagatewayv1.Source{
		Params: &datagatewayv1.Source_Mysql{Mysql: &datagatewayv1.MysqlParams{
			Host: host, Port: port, Database: cfg.DBName, User: cfg.User,
		}},
		Credentials: &datagatewayv1.Credentials{Password: cfg.Passwd},
	}
	return src, db
}

// mysqlTable returns a table name for this test alone, dropped when it ends.
func mysqlTable(t *testing.T, db *sql.DB) string {
	t.Helper()
	name := "t_" + strings.ReplaceAll(testkit.UniqueID(t.Name()), "-", "_")
	t.Cleanup(func() { _, _ = db.Exec("DROP TABLE IF EXISTS " + name) })
	return name
}

// mysqlExec runs setup statements on one connection, in UTC.
func mysqlExec(t *testing.T, db *sql.DB, statements ...string) {
	t.Helper()
	ctx := context.Background()
	conn, err := db.Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = conn.Close() }()
	for _, s := range append([]string{"SET SESSION time_zone = '+00:00', sql_mode = ''"}, statements...) {
		if _, err := conn.ExecContext(ctx, s); err != nil {
			t.Fatalf("%s: %v", s, err)
		}
	}
}

// mysqlSeries is a statement yielding n rows 1…n in column n.
func mysqlSeries(n int) string {
	return "WITH RECURSIVE s(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM s WHERE n < " + itoa(max(n, 1)) +
		") SELECT n FROM s WHERE n <= " + itoa(n)
}

func TestMysqlMapsEveryTypeAndNulls(t *testing.T) {
	t.Parallel()
	src, db := mysqlSource(t)
	table := mysqlTable(t, db)
	mysqlExec(t, db, `CREATE TABLE `+table+` (
			k INT, ti TINYINT, si SMALLINT, mi MEDIUMINT, i INT, bi BIGINT, ubi BIGINT UNSIGNED, yr YEAR,
			f FLOAT, d DOUBLE, dc DECIMAL(12,2), c CHAR(3), vc VARCHAR(40), tx TEXT, en ENUM('happy','sad'),
			st SET('a','b'), b1 BIT(1), b8 BIT(8), bin BINARY(3), vb VARBINARY(10), bl BLOB, dt DATETIME(6),
			ts TIMESTAMP(6) NULL, dte DATE, tm TIME, js JSON, zd DATE)`,
		`INSERT INTO `+table+` VALUES
			(1, -128, -32768, -8388608, 2147483647, 9223372036854775807, 18446744073709551615, 2024,
			 1.5, 2.25, 12345678.90, 'ab', 'varchar', 'héllo', 'sad', 'a,b', b'1', b'10000001', 'ab',
			 x'00ff10', x'0102', '2024-02-29 12:34:56.789012', '2024-02-29 12:34:56.789012', '1969-12-31',
			 '12:34:56', '{"a": [1, 2]}', '0000-00-00'),
			(2, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL,
			 NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL)`)

	version := Test(context.Background(), src, Options{}).GetServerVersion()
	jsonType, jsonSource := datagatewayv1.Column_TYPE_JSON, "json"
	if strings.HasPrefix(version, "MariaDB") {
		// MariaDB's JSON is longtext with a check, and says so.
		jsonType, jsonSource = datagatewayv1.Column_TYPE_STRING, "text"
	}
	ts := time.Date(2024, 2, 29, 12, 34, 56, 789012000, time.UTC)
	type want struct {
		name, sourceType string
		typ              datagatewayv1.Column_Type
		value            any
	}
	wants := []want{
		{"k", "int", datagatewayv1.Column_TYPE_INT64, int64(1)},
		{"ti", "tinyint", datagatewayv1.Column_TYPE_INT64, int64(-128)},
		{"si", "smallint", datagatewayv1.Column_TYPE_INT64, int64(-32768)},
		{"mi", "mediumint", datagatewayv1.Column_TYPE_INT64, int64(-8388608)},
		{"i", "int", datagatewayv1.Column_TYPE_INT64, int64(2147483647)},
		{"bi", "bigint", datagatewayv1.Column_TYPE_INT64, int64(math.MaxInt64)},
		{"ubi", "unsigned bigint", datagatewayv1.Column_TYPE_DECIMAL, "18446744073709551615"},
		{"yr", "year", datagatewayv1.Column_TYPE_INT64, int64(2024)},
		{"f", "float", datagatewayv1.Column_TYPE_FLOAT64, 1.5},
		{"d", "double", datagatewayv1.Column_TYPE_FLOAT64, 2.25},
		{"dc", "decimal(12,2)", datagatewayv1.Column_TYPE_DECIMAL, "12345678.90"},
		{"c", "char", datagatewayv1.Column_TYPE_STRING, "ab"},
		{"vc", "varchar", datagatewayv1.Column_TYPE_STRING, "varchar"},
		{"tx", "text", datagatewayv1.Column_TYPE_STRING, "héllo"},
		{"en", "enum", datagatewayv1.Column_TYPE_STRING, "sad"},
		{"st", "set", datagatewayv1.Column_TYPE_STRING, "a,b"},
		{"b1", "bit", datagatewayv1.Column_TYPE_INT64, int64(1)},
		{"b8", "bit", datagatewayv1.Column_TYPE_INT64, int64(129)},
		{"bin", "binary", datagatewayv1.Column_TYPE_BYTES, []byte("ab\x00")},
		{"vb", "varbinary", datagatewayv1.Column_TYPE_BYTES, []byte{0x00, 0xff, 0x10}},
		{"bl", "blob", datagatewayv1.Column_TYPE_BYTES, []byte{0x01, 0x02}},
		{"dt", "datetime", datagatewayv1.Column_TYPE_TIMESTAMP, ts.UnixMicro()},
		{"ts", "timestamp", datagatewayv1.Column_TYPE_TIMESTAMP, ts.UnixMicro()},
		{"dte", "date", datagatewayv1.Column_TYPE_DATE, int64(-1)},
		{"tm", "time", datagatewayv1.Column_TYPE_STRING, "12:34:56"},
		{"js", jsonSource, jsonType, `{"a": [1, 2]}`},
		{"zd", "date", datagatewayv1.Column_TYPE_DATE, nil}, // a zero date is null
	}
	// With parameters the driver prepares the statement and the rows come in the binary
	// protocol: every column must decode the same.
	for _, tc := range []struct {
		name, statement string
		params          []*datagatewayv1.QueryParameter
	}{
		{"text protocol", "SELECT * FROM " + table + " ORDER BY k", nil},
		{"binary protocol", "SELECT * FROM " + table + " WHERE k >= ? ORDER BY k", ps(pInt(0))},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r, err := runWith(t, context.Background(), src, tc.statement, tc.params, limits(10), Options{})
			if err != nil {
				t.Fatal(err)
			}
			if len(r.cols) != len(wants) || len(r.rows) != 2 {
				t.Fatalf("%d columns and %d rows, want %d and 2", len(r.cols), len(r.rows), len(wants))
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
		})
	}
}

func TestMysqlKeepsEmptyStringsApartFromNulls(t *testing.T) {
	t.Parallel()
	src, _ := mysqlSource(t)
	r := mustRun(t, src, "SELECT '' AS e, NULL AS n, 'x' AS x", limits(10), Options{})
	if want := [][]any{{"", nil, "x"}}; !reflect.DeepEqual(r.rows, want) {
		t.Errorf("rows = %#v, want %#v", r.rows, want)
	}
}

func TestMysqlSplitsRowsIntoBatchesOfBatchRows(t *testing.T) {
	t.Parallel()
	src, _ := mysqlSource(t)
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
			r := mustRun(t, src, mysqlSeries(tt.rows), limits(3), Options{})
			if !reflect.DeepEqual(r.batches, tt.batches) {
				t.Errorf("batches = %v, want %v", r.batches, tt.batches)
			}
			for j, row := range r.rows {
				if row[0] != int64(j+1) {
					t.Fatalf("row %d = %v, want %d", j, row[0], j+1)
				}
			}
		})
	}
}

func TestMysqlRowLimitTruncates(t *testing.T) {
	t.Parallel()
	src, db := mysqlSource(t)
	marker := strings.ReplaceAll(testkit.UniqueID("limit"), "-", "_")
	tests := []struct {
		name      string
		statement string
		limit     int64
		rows      int
		truncated bool
	}{
		{"fewer rows than the limit", mysqlSeries(10), 11, 10, false},
		{"exactly the limit", mysqlSeries(10), 10, 10, false},
		{"more rows than the limit", mysqlSeries(10), 5, 5, true},
		// A billion rows: the statement is killed, not drained.
		{"far more rows than the limit", "WITH RECURSIVE s(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM s WHERE n < 1000) " +
			"SELECT a.n /* " + marker + " */ FROM s a, s b, s c", 7, 7, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			lim := limits(3)
			lim.RowLimit = tt.limit
			r := mustRun(t, src, tt.statement, lim, Options{})
			if len(r.rows) != tt.rows || r.stats.GetTruncated() != tt.truncated {
				t.Errorf("rows = %d truncated = %v, want %d %v", len(r.rows), r.stats.GetTruncated(), tt.rows, tt.truncated)
			}
		})
	}
	waitMysqlStatementGone(t, db, marker)
}

func TestMysqlRefusesWrites(t *testing.T) {
	t.Parallel()
	src, db := mysqlSource(t)
	table := mysqlTable(t, db)
	made := mysqlTable(t, db)
	mysqlExec(t, db, "CREATE TABLE "+table+" (a INT)", "INSERT INTO "+table+" VALUES (1)")
	tests := []struct {
		name      string
		statement string
		reason    Reason
	}{
		{"insert", "INSERT INTO " + table + " VALUES (2)", ReasonReadOnly},
		{"update", "UPDATE " + table + " SET a = 3", ReasonReadOnly},
		{"delete", "DELETE FROM " + table, ReasonReadOnly},
		// DDL commits implicitly; the session itself is read-only, so the next
		// transaction is too.
		{"create table", "CREATE TABLE " + made + " (a INT)", ReasonReadOnly},
		{"drop table", "DROP TABLE " + table, ReasonReadOnly},
		{"into outfile", "SELECT * FROM " + table + " INTO OUTFILE '/tmp/oriel-" + made + "'", ReasonReadOnly},
		// One statement per query: COMMIT cannot end the read-only transaction first.
		{"commit then write", "COMMIT; INSERT INTO " + table + " VALUES (5)", ReasonSourceError},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := run(t, context.Background(), src, tt.statement, limits(10), Options{})
			e := sourceError(t, err, tt.reason, codes.FailedPrecondition)
			if tt.reason == ReasonReadOnly && tt.name != "into outfile" && e.SQLState != "25006" {
				t.Errorf("sqlstate = %q, want 25006 (%s)", e.SQLState, e.Message)
			}
		})
	}
	var n, a int
	if err := db.QueryRow("SELECT COUNT(*), MAX(a) FROM "+table).Scan(&n, &a); err != nil {
		t.Fatal(err)
	}
	if n != 1 || a != 1 {
		t.Errorf("%s holds %d rows, max %d: a write got through", table, n, a)
	}
	var made1 int
	if err := db.QueryRow("SELECT COUNT(*) FROM information_schema.TABLES WHERE TABLE_NAME = ?", made).Scan(&made1); err != nil {
		t.Fatal(err)
	}
	if made1 != 0 {
		t.Errorf("CREATE TABLE got through")
	}
}

func TestMysqlStatementErrorsCarryTheSourceMessage(t *testing.T) {
	t.Parallel()
	src, _ := mysqlSource(t)
	_, err := run(t, context.Background(), src, "SELECT * FROM missing_table_here", limits(10), Options{})
	e := sourceError(t, err, ReasonSourceError, codes.FailedPrecondition)
	if e.SQLState != "42S02" || !strings.Contains(e.Message, "missing_table_here") {
		t.Errorf("error = %q (sqlstate %s)", e.Message, e.SQLState)
	}
}

func TestMysqlTimeLimitStopsTheStatement(t *testing.T) {
	t.Parallel()
	src, db := mysqlSource(t)
	marker := strings.ReplaceAll(testkit.UniqueID("timeout"), "-", "_")
	lim := limits(10)
	lim.Timeout = 500 * time.Millisecond
	_, err := run(t, context.Background(), src, "SELECT SLEEP(30) /* "+marker+" */", lim, Options{})
	sourceError(t, err, ReasonTimeout, codes.DeadlineExceeded)
	waitMysqlStatementGone(t, db, marker)
}

func TestMysqlCancelStopsTheStatementAtTheSource(t *testing.T) {
	t.Parallel()
	src, db := mysqlSource(t)
	marker := strings.ReplaceAll(testkit.UniqueID("cancel"), "-", "_")
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() {
		done <- Query(ctx, src, "SELECT SLEEP(60) /* "+marker+" */", nil, limits(10), Options{},
			func(*datagatewayv1.QueryResponse) error { return nil })
	}()
	waitMysqlStatement(t, db, marker, true)
	cancel()
	select {
	case err := <-done:
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("Query after cancel = %v, want context.Canceled", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("Query did not return after its context was cancelled")
	}
	waitMysqlStatementGone(t, db, marker)
}

func waitMysqlStatement(t *testing.T, db *sql.DB, marker string, present bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		var n int
		err := db.QueryRow("SELECT COUNT(*) FROM information_schema.PROCESSLIST WHERE ID <> CONNECTION_ID() "+
			"AND COMMAND = 'Query' AND INSTR(INFO, ?) > 0", "/* "+marker+" */").Scan(&n)
		if err != nil {
			t.Fatal(err)
		}
		if (n > 0) == present {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("statement %s present = %v in the process list, want %v", marker, n > 0, present)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func waitMysqlStatementGone(t *testing.T, db *sql.DB, marker string) {
	t.Helper()
	waitMysqlStatement(t, db, marker, false)
}

func TestMysqlWrongPasswordErrorHasNoPassword(t *testing.T) {
	t.Parallel()
	src, db := mysqlSource(t)
	user := "u_" + strings.ReplaceAll(testkit.UniqueID("pw"), "-", "_")
	const right = "Right-" + testPassword
	for _, host := range []string{"%", "localhost", "127.0.0.1"} {
		mysqlExec(t, db, "CREATE USER '"+user+"'@'"+host+"' IDENTIFIED BY '"+right+"'",
			"GRANT SELECT ON *.* TO '"+user+"'@'"+host+"'")
		t.Cleanup(func() { _, _ = db.Exec("DROP USER IF EXISTS '" + user + "'@'" + host + "'") })
	}
	s := cloneSource(src)
	s.GetMysql().User = user

	s.Credentials = &datagatewayv1.Credentials{Password: "wrong-" + testPassword}
	_, err := run(t, context.Background(), s, "SELECT 1", limits(10), Options{})
	e := sourceError(t, err, ReasonSourceError, codes.FailedPrecondition, "wrong-"+testPassword, testPassword)
	if !strings.Contains(e.Message, "Access denied") {
		t.Errorf("message = %q, want access denied", e.Message)
	}
	res := Test(context.Background(), s, Options{})
	if res.GetOk() || strings.Contains(res.GetError(), testPassword) || !strings.Contains(res.GetError(), "Access denied") {
		t.Errorf("Test with a wrong password = %v", res)
	}

	s.Credentials = &datagatewayv1.Credentials{Password: right}
	if res := Test(context.Background(), s, Options{}); !res.GetOk() {
		t.Errorf("Test with the right password = %v", res)
	}
}

func TestMysqlUnreachableIsUnavailable(t *testing.T) {
	t.Parallel()
	src, _ := mysqlSource(t)
	s := cloneSource(src)
	s.GetMysql().Host, s.GetMysql().Port = "127.0.0.1", closedPort(t)
	s.Credentials = &datagatewayv1.Credentials{Password: testPassword}
	_, err := run(t, context.Background(), s, "SELECT 1", limits(10), Options{})
	e := sourceError(t, err, ReasonSourceError, codes.Unavailable, testPassword)
	if !strings.Contains(e.Message, "connection refused") {
		t.Errorf("message = %q", e.Message)
	}
}

func TestMysqlTestReportsTheServerVersion(t *testing.T) {
	t.Parallel()
	src, _ := mysqlSource(t)
	res := Test(context.Background(), src, Options{})
	if !res.GetOk() {
		t.Fatalf("Test = %v, want ok", res)
	}
	v := res.GetServerVersion()
	if !(strings.HasPrefix(v, "MariaDB 1") || strings.HasPrefix(v, "MySQL ")) || strings.Contains(v, "-") {
		t.Errorf("server_version = %q, want e.g. MariaDB 10.11.19", v)
	}
}
