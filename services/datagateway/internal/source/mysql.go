package source

import (
	"context"
	"crypto/tls"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"net"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/go-sql-driver/mysql"

	datagatewayv1 "github.com/oriel-dev/oriel/gen/pb/oriel/datagateway/v1"
)

// myKind says how a MySQL column's text-protocol value is decoded.
type myKind uint8

const (
	// myText: appended as is (STRING, DECIMAL, JSON, BYTES).
	myText myKind = iota
	myInt
	myFloat
	myBits
	myDate
	myDateTime
)

// mysqlConnection is one query's session: a database/sql pool of its own (the query's
// connection, and one more only to kill the query) and the session's thread id.
type mysqlConnection struct {
	db      *sql.DB
	conn    *sql.Conn
	id      int64
	version string
	mariadb bool
	where   string
}

// mysqlConfig builds the driver's configuration field by field (no DSN is ever formatted,
// so no error can quote one with the password). LOAD DATA LOCAL, multi-statements and
// cleartext passwords stay off.
func mysqlConfig(p *datagatewayv1.MysqlParams, cred *datagatewayv1.Credentials, connectTimeout time.Duration) (*mysql.Config, string, error) {
	host := p.GetHost()
	if host == "" || strings.ContainsAny(host, "/@() \t\r\n") {
		return nil, "", sourceErr("the MySQL host %q is not a host name or address", host)
	}
	if p.GetDatabase() == "" || p.GetUser() == "" {
		return nil, "", sourceErr("the MySQL connection needs a database and a user")
	}
	port := cmp0(p.GetPort(), 3306)
	if port < 0 || port > 65535 {
		return nil, "", sourceErr("the MySQL port %d is out of range", port)
	}
	where := net.JoinHostPort(host, strconv.Itoa(int(port)))
	cfg := mysql.NewConfig()
	cfg.User = p.GetUser()
	cfg.Passwd = cred.GetPassword()
	cfg.Net = "tcp"
	cfg.Addr = where
	cfg.DBName = p.GetDatabase()
	cfg.Timeout = min(connectTimeout, maxConnectTimeout)
	// The driver would print some connection errors to the process's log by itself.
	cfg.Logger = &mysql.NopLogger{}
	cfg.AllowAllFiles = false
	cfg.MultiStatements = false
	cfg.AllowCleartextPasswords = false
	cfg.InterpolateParams = false
	if p.GetTls() {
		cfg.TLS = &tls.Config{ServerName: host, MinVersion: tls.VersionTLS12, RootCAs: testRootCAs}
		cfg.AllowFallbackToPlaintext = false
	}
	return cfg, where, nil
}

// connectMysql opens a query's session.
func connectMysql(ctx context.Context, p *datagatewayv1.MysqlParams, cred *datagatewayv1.Credentials, connectTimeout time.Duration) (*mysqlConnection, error) {
	cfg, where, err := mysqlConfig(p, cred, connectTimeout)
	if err != nil {
		return nil, err
	}
	connector, err := mysql.NewConnector(cfg)
	if err != nil {
		return nil, sourceErr("cannot configure the MySQL connection")
	}
	db := sql.OpenDB(connector)
	db.SetMaxIdleConns(0)
	conn, err := db.Conn(ctx)
	if err != nil {
		_ = db.Close()
		return nil, mysqlConnectError(err, where)
	}
	c := &mysqlConnection{db: db, conn: conn, where: where}
	if err := conn.QueryRowContext(ctx, "SELECT CONNECTION_ID(), VERSION()").Scan(&c.id, &c.version); err != nil {
		c.close()
		return nil, mysqlConnectError(err, where)
	}
	c.mariadb = strings.Contains(strings.ToLower(c.version), "mariadb")
	return c, nil
}

func (c *mysqlConnection) close() {
	_ = c.conn.Close()
	_ = c.db.Close()
}

// kill stops the session's running statement from a second connection: closing the
// first one alone would leave the server running it until it next writes to the socket.
func (c *mysqlConnection) kill() {
	ctx, cancel := context.WithTimeout(context.Background(), cancelTimeout)
	defer cancel()
	killer, err := c.db.Conn(ctx)
	if err != nil {
		return
	}
	defer func() { _ = killer.Close() }()
	_, _ = killer.ExecContext(ctx, "KILL QUERY "+strconv.FormatInt(c.id, 10))
}

// placeholders prepares statement on the server, which counts its placeholders (a `?` in
// a literal or a comment is none), and closes it again: database/sql keeps the count to
// itself and would refuse a mismatch with its own words.
func (c *mysqlConnection) placeholders(ctx context.Context, statement string) (int, error) {
	n := 0
	err := c.conn.Raw(func(dc any) error {
		p, ok := dc.(driver.ConnPrepareContext)
		if !ok {
			return sourceErr("the MySQL driver cannot prepare statements")
		}
		st, err := p.PrepareContext(ctx, statement)
		if err != nil {
			return err
		}
		n = st.NumInput()
		return st.Close()
	})
	return n, err
}

// mysqlArgs are params as the driver's arguments; nil is NULL.
func mysqlArgs(params []*datagatewayv1.QueryParameter) ([]any, error) {
	args := make([]any, len(params))
	for i, p := range params {
		switch v := p.GetValue().(type) {
		case nil: // NULL
		case *datagatewayv1.QueryParameter_StringValue:
			args[i] = v.StringValue
		case *datagatewayv1.QueryParameter_Int64Value:
			args[i] = v.Int64Value
		case *datagatewayv1.QueryParameter_Float64Value:
			args[i] = v.Float64Value
		case *datagatewayv1.QueryParameter_BoolValue:
			args[i] = v.BoolValue
		default:
			return nil, invalid("parameter %d has a kind of value this version does not know", i+1)
		}
	}
	return args, nil
}

// serverVersion is e.g. "MariaDB 10.11.19" or "MySQL 8.0.36".
func (c *mysqlConnection) serverVersion() string {
	v, _, _ := strings.Cut(c.version, "-")
	if c.mariadb {
		return "MariaDB " + v
	}
	return "MySQL " + v
}

// mysqlConnectError describes a failed connection without the driver's text.
func mysqlConnectError(err error, where string) error {
	var myErr *mysql.MySQLError
	if errors.As(err, &myErr) {
		return &Error{Reason: ReasonSourceError, SQLState: mysqlState(myErr),
			Message: fmt.Sprintf("MySQL at %s refused the connection: %s", where, myErr.Message)}
	}
	if problem, transient := dialProblem(err); problem != "" {
		return &Error{Reason: ReasonSourceError, Unreachable: transient,
			Message: fmt.Sprintf("cannot reach MySQL at %s: %s", where, problem)}
	}
	if strings.Contains(err.Error(), "TLS requested but server does not support TLS") {
		return &Error{Reason: ReasonSourceError,
			Message: fmt.Sprintf("MySQL at %s does not accept TLS connections", where)}
	}
	return &Error{Reason: ReasonSourceError, Unreachable: true,
		Message: fmt.Sprintf("cannot connect to MySQL at %s", where)}
}

func mysqlState(e *mysql.MySQLError) string {
	if e.SQLState == [5]byte{} {
		return ""
	}
	return string(e.SQLState[:])
}

// mysqlQueryError describes a failed statement.
func mysqlQueryError(qctx context.Context, lim Limits, err error) error {
	if e := interrupted(qctx, lim); e != nil {
		return e
	}
	var myErr *mysql.MySQLError
	if errors.As(err, &myErr) {
		state := mysqlState(myErr)
		switch myErr.Number {
		case 1792: // ER_CANT_EXECUTE_IN_READ_ONLY_TRANSACTION
			return &Error{Reason: ReasonReadOnly, SQLState: state,
				Message: "the statement tried to write, but queries are read-only: " + myErr.Message}
		case 1969, 3024: // MariaDB max_statement_time, MySQL max_execution_time
			e := timeoutErr(lim.Timeout)
			e.SQLState = state
			return e
		}
		return &Error{Reason: ReasonSourceError, SQLState: state,
			Message: fmt.Sprintf("MySQL rejected the statement (error %d): %s", myErr.Number, myErr.Message)}
	}
	var e *Error
	if errors.As(err, &e) {
		return e
	}
	if problem, _ := dialProblem(err); problem != "" {
		return &Error{Reason: ReasonSourceError, Unreachable: true, Message: "lost the connection to MySQL: " + problem}
	}
	if errors.Is(err, mysql.ErrInvalidConn) || errors.Is(err, driver.ErrBadConn) {
		return &Error{Reason: ReasonSourceError, Unreachable: true, Message: "lost the connection to MySQL"}
	}
	return &Error{Reason: ReasonSourceError, Message: "the MySQL query failed"}
}

// intoFile matches SELECT … INTO OUTFILE/DUMPFILE, which writes a file on the database
// server: a read-only transaction does not stop it. (A false positive inside a string
// literal is refused too; rewrite the literal.)
var intoFile = regexp.MustCompile(`(?is)\binto\s+(outfile|dumpfile)\b`)

// queryMysql runs statement with params bound to its `?` placeholders in a read-only
// transaction on a connection of its own.
func queryMysql(ctx context.Context, p *datagatewayv1.MysqlParams, cred *datagatewayv1.Credentials, statement string, params []*datagatewayv1.QueryParameter, lim Limits, send Send) error {
	start := time.Now()
	if strings.TrimSpace(statement) == "" {
		return invalid("the statement is empty")
	}
	if intoFile.MatchString(statement) {
		return &Error{Reason: ReasonReadOnly, Message: "the statement writes a file (INTO OUTFILE/DUMPFILE), but queries are read-only"}
	}
	qctx, cancel := withLimit(ctx, lim.Timeout)
	defer cancel()
	c, err := connectMysql(qctx, p, cred, lim.Timeout)
	if err != nil {
		if e := interrupted(qctx, lim); e != nil {
			return e
		}
		return err
	}
	defer c.close()

	// When the query's context ends early (cancelled, timed out, or cancelled by us to
	// stop a truncated result) the statement is killed at the source; we wait for that
	// before returning.
	killed := make(chan struct{})
	stopKill := context.AfterFunc(qctx, func() {
		defer close(killed)
		c.kill()
	})
	defer func() {
		if !stopKill() {
			<-killed
		}
	}()

	// The session characteristic (not only the transaction's) is read-only, because DDL
	// commits the transaction implicitly and would otherwise run in a fresh, writable one.
	timeoutVar := fmt.Sprintf("max_execution_time = %d", max(lim.Timeout.Milliseconds(), 1))
	if c.mariadb {
		timeoutVar = fmt.Sprintf("max_statement_time = %.3f", max(lim.Timeout.Seconds(), 0.001))
	}
	for _, setup := range []string{
		"SET SESSION time_zone = '+00:00', " + timeoutVar,
		"SET SESSION TRANSACTION READ ONLY",
		"START TRANSACTION READ ONLY",
	} {
		if _, err := c.conn.ExecContext(qctx, setup); err != nil {
			return mysqlQueryError(qctx, lim, err)
		}
	}

	// With arguments the driver prepares the statement on the server and sends them apart
	// from it (InterpolateParams is off, so it never splices them in). The result then
	// comes in the binary protocol, which the driver hands over as the same text forms.
	var args []any
	if len(params) > 0 {
		n, err := c.placeholders(qctx, statement)
		if err != nil {
			return mysqlQueryError(qctx, lim, err)
		}
		if n != len(params) {
			return placeholderMismatch(n, len(params))
		}
		if args, err = mysqlArgs(params); err != nil {
			return err
		}
	}
	rows, err := c.conn.QueryContext(qctx, statement, args...)
	if err != nil {
		var myErr *mysql.MySQLError
		if len(params) == 0 && errors.As(err, &myErr) && myErr.Number == 1064 && strings.Contains(statement, "?") {
			// A placeholder without a parameter is a syntax error to the server; say so as
			// PostgreSQL's side does. (Only on this path: counting costs a round trip.)
			if n, perr := c.placeholders(qctx, statement); perr == nil && n > 0 {
				return placeholderMismatch(n, 0)
			}
		}
		return mysqlQueryError(qctx, lim, err)
	}
	defer func() { _ = rows.Close() }()
	cols, kinds, err := describeMysql(rows)
	if err != nil {
		return mysqlQueryError(qctx, lim, err)
	}
	if err := send(headerMessage(cols)); err != nil {
		cancel()
		return err
	}

	raw := make([]sql.RawBytes, len(cols))
	dest := make([]any, len(cols))
	for i := range raw {
		dest[i] = &raw[i]
	}
	b := newBatch(columnTypes(cols), lim.BatchRows)
	var n int64
	truncated := false
	for rows.Next() {
		if n == lim.RowLimit {
			truncated = true
			break
		}
		if err := rows.Scan(dest...); err != nil {
			cancel()
			return mysqlQueryError(qctx, lim, err)
		}
		b.appendMysqlRow(kinds, raw)
		n++
		if b.full() {
			if err := send(b.message()); err != nil {
				cancel()
				return err
			}
		}
	}
	if truncated {
		// Kill the statement rather than read and drop the rest of its rows.
		cancel()
	} else if err := rows.Err(); err != nil {
		return mysqlQueryError(qctx, lim, err)
	} else if err := interrupted(qctx, lim); err != nil {
		// A killed SLEEP() ends "normally"; the result is still cut short.
		return err
	}
	if b.rows > 0 {
		if err := send(b.message()); err != nil {
			return err
		}
	}
	return send(statsMessage(n, truncated, time.Since(start)))
}

// describeMysql maps the result's columns to Oriel columns and decoders.
func describeMysql(rows *sql.Rows) ([]*datagatewayv1.Column, []myKind, error) {
	cts, err := rows.ColumnTypes()
	if err != nil {
		return nil, nil, err
	}
	cols := make([]*datagatewayv1.Column, len(cts))
	kinds := make([]myKind, len(cts))
	for i, ct := range cts {
		dbType := ct.DatabaseTypeName()
		typ, kind := datagatewayv1.Column_TYPE_STRING, myText
		switch dbType {
		case "TINYINT", "SMALLINT", "MEDIUMINT", "INT", "BIGINT", "YEAR",
			"UNSIGNED TINYINT", "UNSIGNED SMALLINT", "UNSIGNED MEDIUMINT", "UNSIGNED INT":
			typ, kind = datagatewayv1.Column_TYPE_INT64, myInt
		case "UNSIGNED BIGINT":
			typ = datagatewayv1.Column_TYPE_DECIMAL
		case "FLOAT", "DOUBLE":
			typ, kind = datagatewayv1.Column_TYPE_FLOAT64, myFloat
		case "DECIMAL":
			typ = datagatewayv1.Column_TYPE_DECIMAL
		case "BIT":
			// The driver does not say a BIT column's width, so BIT(1) cannot be told
			// apart: every BIT is its unsigned value.
			typ, kind = datagatewayv1.Column_TYPE_INT64, myBits
		case "DATE":
			typ, kind = datagatewayv1.Column_TYPE_DATE, myDate
		case "DATETIME", "TIMESTAMP":
			typ, kind = datagatewayv1.Column_TYPE_TIMESTAMP, myDateTime
		case "JSON":
			typ = datagatewayv1.Column_TYPE_JSON
		case "BINARY", "VARBINARY", "TINYBLOB", "BLOB", "MEDIUMBLOB", "LONGBLOB", "GEOMETRY":
			typ = datagatewayv1.Column_TYPE_BYTES
		}
		name := strings.ToLower(dbType)
		if p, s, ok := ct.DecimalSize(); ok && dbType == "DECIMAL" {
			name = fmt.Sprintf("decimal(%d,%d)", p, s)
		}
		cols[i] = &datagatewayv1.Column{Name: ct.Name(), Type: typ, SourceType: name}
		kinds[i] = kind
	}
	return cols, kinds, nil
}

// appendMysqlRow decodes one row of text-protocol values. A value that does not parse as
// its column's type (a zero date, say) is null.
func (b *batch) appendMysqlRow(kinds []myKind, raw []sql.RawBytes) {
	for i, v := range raw {
		if v == nil {
			b.appendNull(i)
			continue
		}
		switch kinds[i] {
		case myText:
			b.appendBytes(i, v)
		case myInt:
			n, err := strconv.ParseInt(string(v), 10, 64)
			if err != nil {
				b.appendNull(i)
				continue
			}
			b.appendInt64(i, n)
		case myFloat:
			f, err := strconv.ParseFloat(string(v), 64)
			if err != nil {
				b.appendNull(i)
				continue
			}
			b.appendFloat64(i, f)
		case myBits:
			if len(v) > 8 {
				b.appendNull(i)
				continue
			}
			var n uint64
			for _, c := range v {
				n = n<<8 | uint64(c)
			}
			b.appendInt64(i, int64(n))
		case myDate:
			t, err := time.Parse(time.DateOnly, string(v))
			if err != nil {
				b.appendNull(i)
				continue
			}
			b.appendInt64(i, t.Unix()/86400)
		case myDateTime:
			t, err := time.Parse("2006-01-02 15:04:05.999999999", string(v))
			if err != nil {
				b.appendNull(i)
				continue
			}
			b.appendInt64(i, t.UnixMicro())
		}
	}
	b.endRow()
}

// testMysql connects and asks the server's version.
func testMysql(ctx context.Context, p *datagatewayv1.MysqlParams, cred *datagatewayv1.Credentials) (string, error) {
	c, err := connectMysql(ctx, p, cred, maxConnectTimeout)
	if err != nil {
		return "", err
	}
	defer c.close()
	return c.serverVersion(), nil
}
