package source

import (
	"context"
	"math"
	"reflect"
	"strings"
	"testing"

	"google.golang.org/grpc/codes"

	datagatewayv1 "github.com/oriel-dev/oriel/gen/pb/oriel/datagateway/v1"
)

// Parameter values, as a caller builds them.
func pStr(s string) *datagatewayv1.QueryParameter {
	return &datagatewayv1.QueryParameter{Value: &datagatewayv1.QueryParameter_StringValue{StringValue: s}}
}

func pInt(n int64) *datagatewayv1.QueryParameter {
	return &datagatewayv1.QueryParameter{Value: &datagatewayv1.QueryParameter_Int64Value{Int64Value: n}}
}

func pFloat(f float64) *datagatewayv1.QueryParameter {
	return &datagatewayv1.QueryParameter{Value: &datagatewayv1.QueryParameter_Float64Value{Float64Value: f}}
}

func pBool(b bool) *datagatewayv1.QueryParameter {
	return &datagatewayv1.QueryParameter{Value: &datagatewayv1.QueryParameter_BoolValue{BoolValue: b}}
}

func pNull() *datagatewayv1.QueryParameter { return &datagatewayv1.QueryParameter{} }

func ps(p ...*datagatewayv1.QueryParameter) []*datagatewayv1.QueryParameter { return p }

// injections are values that would rewrite a statement they were spliced into.
var injections = []string{`' OR 1=1 --`, `x'; DROP TABLE t; --`, `alpha' OR 'a'='a`}

// paramCase is a filtered query and the ids it must return.
type paramCase struct {
	name      string
	statement string
	params    []*datagatewayv1.QueryParameter
	ids       []int64
}

// checkIDs runs each case, whose first result column is the id.
func checkIDs(t *testing.T, src *datagatewayv1.Source, cases []paramCase) {
	t.Helper()
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r, err := runWith(t, context.Background(), src, tc.statement, tc.params, limits(2), Options{})
			if err != nil {
				t.Fatalf("%s: %v", tc.statement, err)
			}
			ids := []int64{}
			for _, v := range r.column(0) {
				ids = append(ids, v.(int64))
			}
			if want := append([]int64{}, tc.ids...); !reflect.DeepEqual(ids, want) {
				t.Fatalf("%s returned ids %v, want %v", tc.statement, ids, want)
			}
		})
	}
}

func TestPostgresBindsParametersToPlaceholders(t *testing.T) {
	t.Parallel()
	src, conn := pgSource(t)
	pgExec(t, conn, `
		CREATE TABLE t (id int4, name text, code varchar(10), amount float8, price numeric(10,2),
			big int8, active bool, note text, day date);
		INSERT INTO t VALUES
			(1, 'alpha', 'A1', 1.5, 10.00, 10000000000, true, 'first', '2024-01-01'),
			(2, 'beta', 'B2', 2.5, 20.50, 20000000000, false, NULL, '2024-02-01'),
			(3, 'gamma', 'C3', 3.5, 30.00, 30000000000, true, 'third', '2024-03-01');`)
	q := func(where string) string { return "SELECT id FROM t WHERE " + where + " ORDER BY id" }
	checkIDs(t, src, []paramCase{
		{"a string to a text parameter", q("name = $1"), ps(pStr("beta")), []int64{2}},
		{"a string to a varchar parameter", q("code = $1"), ps(pStr("C3")), []int64{3}},
		{"an int to an int4 parameter", q("id = $1"), ps(pInt(2)), []int64{2}},
		{"an int to an int8 parameter", q("big > $1"), ps(pInt(15_000_000_000)), []int64{2, 3}},
		{"an int to a float8 parameter", q("amount > $1"), ps(pInt(2)), []int64{2, 3}},
		{"an int to a numeric parameter", q("price = $1"), ps(pInt(30)), []int64{3}},
		{"a float to a float8 parameter", q("amount < $1"), ps(pFloat(2.6)), []int64{1, 2}},
		{"a float to a numeric parameter", q("price = $1"), ps(pFloat(20.5)), []int64{2}},
		{"a whole float to an int4 parameter", q("id = $1"), ps(pFloat(3)), []int64{3}},
		{"a large whole float to an int8 parameter", q("big < $1"), ps(pFloat(1e18)), []int64{1, 2, 3}},
		{"a bool", q("active = $1"), ps(pBool(false)), []int64{2}},
		{"a null", q("note IS NOT DISTINCT FROM $1"), ps(pNull()), []int64{2}},
		{"a null compares as unknown", q("name = $1"), ps(pNull()), []int64{}},
		{"a string PostgreSQL parses as an integer", q("id = $1"), ps(pStr("2")), []int64{2}},
		{"a string PostgreSQL parses as a date", q("day >= $1"), ps(pStr("2024-02-01")), []int64{2, 3}},
		{"several, in order", q("id BETWEEN $1 AND $2 AND name <> $3"), ps(pInt(1), pInt(3), pStr("beta")), []int64{1, 3}},
		{"one placeholder used twice", q("id = $1 OR id = $1 + 1"), ps(pInt(1)), []int64{1, 2}},
		{"a $2 in a literal is no placeholder", q("name = $1 OR name = '$2'"), ps(pStr("alpha")), []int64{1}},
	})

	t.Run("values arrive as they were sent", func(t *testing.T) {
		r, err := runWith(t, context.Background(), src,
			"SELECT $1::text, $2::int8, $3::float8, $4::bool, $5::text, $6::float8, $7::float8, $8::text, $9::text",
			ps(pStr("héllo 'quoted' $1 \\x"), pInt(math.MinInt64), pFloat(-1.25e-7), pBool(true), pNull(),
				pFloat(math.Inf(1)), pFloat(math.NaN()), pBool(false), pFloat(0.1)),
			limits(10), Options{})
		if err != nil {
			t.Fatal(err)
		}
		row := r.rows[0]
		want := []any{"héllo 'quoted' $1 \\x", int64(math.MinInt64), -1.25e-7, true, nil, math.Inf(1)}
		if !reflect.DeepEqual(row[:6], want) || !math.IsNaN(row[6].(float64)) || row[7] != "false" || row[8] != "0.1" {
			t.Fatalf("row = %#v, want %#v, NaN, false, 0.1", row, want)
		}
	})

	t.Run("an injection attempt is only a value", func(t *testing.T) {
		for _, v := range injections {
			r, err := runWith(t, context.Background(), src, q("name = $1"), ps(pStr(v)), limits(10), Options{})
			if err != nil || len(r.rows) != 0 {
				t.Fatalf("%q matched %d rows (%v), want none", v, len(r.rows), err)
			}
			r, err = runWith(t, context.Background(), src, "SELECT $1::text", ps(pStr(v)), limits(10), Options{})
			if err != nil || len(r.rows) != 1 || r.rows[0][0] != v {
				t.Fatalf("%q came back as %v (%v)", v, r.rows, err)
			}
		}
		var n int
		if err := conn.QueryRow(context.Background(), "SELECT count(*) FROM t").Scan(&n); err != nil || n != 3 {
			t.Fatalf("table t holds %d rows (%v), want it whole", n, err)
		}
	})

	t.Run("a write with parameters is still refused", func(t *testing.T) {
		for _, stmt := range []string{
			"INSERT INTO t (id, name) VALUES ($1, $2)",
			"UPDATE t SET name = $2 WHERE id <> $1",
		} {
			_, err := runWith(t, context.Background(), src, stmt, ps(pInt(9), pStr("off")), limits(10), Options{})
			sourceError(t, err, ReasonReadOnly, codes.FailedPrecondition, testPassword)
		}
	})

	t.Run("the wrong number of parameters", func(t *testing.T) {
		for _, tc := range []struct {
			statement string
			params    []*datagatewayv1.QueryParameter
			message   string
		}{
			{q("id = $1 AND name = $2"), ps(pInt(1), pStr("alpha"), pNull()), "the statement has 2 placeholders but 3 parameters were given"},
			{q("id = $1"), nil, "the statement has 1 placeholder but 0 parameters were given"},
			{"SELECT 1", ps(pInt(1)), "the statement has 0 placeholders but 1 parameter was given"},
		} {
			_, err := runWith(t, context.Background(), src, tc.statement, tc.params, limits(10), Options{})
			if e := sourceError(t, err, ReasonInvalidRequest, codes.InvalidArgument); e.Message != tc.message {
				t.Errorf("%s: message %q, want %q", tc.statement, e.Message, tc.message)
			}
		}
	})

	t.Run("a value the parameter cannot take", func(t *testing.T) {
		for _, tc := range []struct {
			name, statement string
			param           *datagatewayv1.QueryParameter
			message         string // the whole message, or with sqlstate a part of it
			sqlstate        string
		}{
			{"a string that is no integer", q("id = $1"), pStr("abc"),
				`PostgreSQL cannot take parameter $1: invalid input syntax for type integer: "abc"`, "22P02"},
			{"a string that is no date", q("day = $1"), pStr("someday"), "PostgreSQL cannot take parameter $1: ", "22007"},
			{"a string with a NUL byte", q("name = $1"), pStr("a\x00b"), "PostgreSQL cannot take parameter $1: ", "22021"},
			{"a bool to an integer", q("id = $1"), pBool(true), "parameter $1 is a bool, but the statement's $1 has type int4", ""},
			{"an integer to a bool", q("active = $1"), pInt(1), "parameter $1 is an integer, but the statement's $1 has type bool", ""},
			{"an integer out of range", q("id = $1"), pInt(1 << 40), "parameter $1 = 1099511627776 is out of range for int4", ""},
			{"a fraction to an integer", q("id = $1"), pFloat(1.5), "parameter $1 = 1.5 is not a whole number, but the statement's $1 has type int4", ""},
			{"a float out of range", q("big = $1"), pFloat(math.Exp2(63)), "parameter $1 = 9.223372036854776e+18 is out of range for int8", ""},
		} {
			t.Run(tc.name, func(t *testing.T) {
				_, err := runWith(t, context.Background(), src, tc.statement, ps(tc.param), limits(10), Options{})
				e := sourceError(t, err, ReasonInvalidRequest, codes.InvalidArgument, testPassword)
				if tc.sqlstate == "" && e.Message != tc.message ||
					tc.sqlstate != "" && (!strings.HasPrefix(e.Message, tc.message) || e.SQLState != tc.sqlstate) {
					t.Fatalf("message %q (sqlstate %q), want %q (%q)", e.Message, e.SQLState, tc.message, tc.sqlstate)
				}
			})
		}
	})
}

func TestMysqlBindsParametersToPlaceholders(t *testing.T) {
	t.Parallel()
	src, db := mysqlSource(t)
	table := mysqlTable(t, db)
	mysqlExec(t, db, `CREATE TABLE `+table+` (id INT, name VARCHAR(40), note TEXT NULL, amount DOUBLE,
			price DECIMAL(10,2), active BOOL, day DATE)`,
		`INSERT INTO `+table+` VALUES
			(1, 'alpha', 'first', 1.5, 10.00, TRUE, '2024-01-01'),
			(2, 'beta', NULL, 2.5, 20.50, FALSE, '2024-02-01'),
			(3, 'gamma', 'third', 3.5, 30.00, TRUE, '2024-03-01')`)
	q := func(where string) string { return "SELECT id FROM " + table + " WHERE " + where + " ORDER BY id" }
	checkIDs(t, src, []paramCase{
		{"a string to a varchar column", q("name = ?"), ps(pStr("beta")), []int64{2}},
		{"a string to a text column", q("note = ?"), ps(pStr("third")), []int64{3}},
		{"an int", q("id = ?"), ps(pInt(2)), []int64{2}},
		{"an int to a decimal column", q("price = ?"), ps(pInt(30)), []int64{3}},
		{"a float", q("amount < ?"), ps(pFloat(2.6)), []int64{1, 2}},
		{"a float to a decimal column", q("price = ?"), ps(pFloat(20.5)), []int64{2}},
		{"a bool", q("active = ?"), ps(pBool(false)), []int64{2}},
		{"a null", q("note <=> ?"), ps(pNull()), []int64{2}},
		{"a null compares as unknown", q("name = ?"), ps(pNull()), []int64{}},
		{"a string MySQL reads as a date", q("day >= ?"), ps(pStr("2024-02-01")), []int64{2, 3}},
		{"several, in order", q("id BETWEEN ? AND ? AND name <> ?"), ps(pInt(1), pInt(3), pStr("beta")), []int64{1, 3}},
		{"a ? in a literal is no placeholder", q("name = ? OR name = '?'"), ps(pStr("alpha")), []int64{1}},
	})

	t.Run("values arrive as they were sent", func(t *testing.T) {
		r, err := runWith(t, context.Background(), src, "SELECT ?, ? + 0, ? + 0e0, ?, ?",
			ps(pStr("héllo 'quoted' \\x ?"), pInt(math.MinInt64), pFloat(-1.25e-7), pBool(true), pNull()), limits(10), Options{})
		if err != nil {
			t.Fatal(err)
		}
		want := []any{"héllo 'quoted' \\x ?", int64(math.MinInt64), -1.25e-7, int64(1), nil}
		if !reflect.DeepEqual(r.rows[0], want) {
			t.Fatalf("row = %#v, want %#v", r.rows[0], want)
		}
	})

	t.Run("an injection attempt is only a value", func(t *testing.T) {
		for _, v := range append(injections, strings.ReplaceAll(injections[1], "DROP TABLE t", "DROP TABLE "+table)) {
			r, err := runWith(t, context.Background(), src, q("name = ?"), ps(pStr(v)), limits(10), Options{})
			if err != nil || len(r.rows) != 0 {
				t.Fatalf("%q matched %d rows (%v), want none", v, len(r.rows), err)
			}
		}
		var n int
		if err := db.QueryRow("SELECT count(*) FROM " + table).Scan(&n); err != nil || n != 3 {
			t.Fatalf("the table holds %d rows (%v), want it whole", n, err)
		}
	})

	t.Run("a write with parameters is still refused", func(t *testing.T) {
		_, err := runWith(t, context.Background(), src, "INSERT INTO "+table+" (id, name) VALUES (?, ?)",
			ps(pInt(9), pStr("nine")), limits(10), Options{})
		sourceError(t, err, ReasonReadOnly, codes.FailedPrecondition, testPassword)
	})

	t.Run("the wrong number of parameters", func(t *testing.T) {
		for _, tc := range []struct {
			statement string
			params    []*datagatewayv1.QueryParameter
			message   string
		}{
			{q("id = ? AND name = ?"), ps(pInt(1), pStr("alpha"), pNull()), "the statement has 2 placeholders but 3 parameters were given"},
			{q("id = ?"), nil, "the statement has 1 placeholder but 0 parameters were given"},
			{"SELECT 1", ps(pInt(1)), "the statement has 0 placeholders but 1 parameter was given"},
		} {
			_, err := runWith(t, context.Background(), src, tc.statement, tc.params, limits(10), Options{})
			if e := sourceError(t, err, ReasonInvalidRequest, codes.InvalidArgument); e.Message != tc.message {
				t.Errorf("%s: message %q, want %q", tc.statement, e.Message, tc.message)
			}
		}
	})

	t.Run("a value the source cannot use", func(t *testing.T) {
		// MySQL converts a value compared with a column as it would a literal ('abc' = 0,
		// with a warning); what it refuses is a value a function cannot parse.
		_, err := runWith(t, context.Background(), src,
			"SELECT a FROM JSON_TABLE(?, '$[*]' COLUMNS (a INT PATH '$')) AS jt", ps(pStr("abc")), limits(10), Options{})
		e := sourceError(t, err, ReasonSourceError, codes.FailedPrecondition, testPassword)
		if !strings.Contains(strings.ToLower(e.Message), "json") {
			t.Fatalf("message %q does not say what was wrong", e.Message)
		}
	})
}

func TestHTTPConnectionsTakeNoParameters(t *testing.T) {
	t.Parallel()
	src := httpSrc("https://example.com", datagatewayv1.HttpParams_FORMAT_JSON)
	_, err := runWith(t, context.Background(), src, "", ps(pStr("x")), limits(10), Options{})
	if e := sourceError(t, err, ReasonInvalidRequest, codes.InvalidArgument); e.Message != "http connections take no parameters" {
		t.Fatalf("message %q", e.Message)
	}
}
