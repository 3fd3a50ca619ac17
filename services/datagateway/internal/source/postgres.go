package source

import (
	"context"
	"crypto/tls"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"net"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgconn/ctxwatch"
	"github.com/jackc/pgx/v5/pgtype"

	datagatewayv1 "github.com/oriel-dev/oriel/gen/pb/oriel/datagateway/v1"
)

const (
	// maxConnectTimeout bounds connecting, whatever the query's own limit.
	maxConnectTimeout = 15 * time.Second
	// cancelTimeout bounds a cancel request sent to a source.
	cancelTimeout = 5 * time.Second
	// pgStatement names the prepared user statement (a name of our own, so that the type
	// lookup between describing and executing it cannot replace it).
	pgStatement = "oriel_query"
)

// Epoch offsets: PostgreSQL counts from 2000-01-01, Oriel from 1970-01-01.
const (
	pgEpochMicros = 946_684_800_000_000
	pgEpochDays   = 10_957
)

// pgKind says how a PostgreSQL column's wire value is decoded.
type pgKind uint8

const (
	// pgText: text format, appended as is (STRING, DECIMAL, JSON).
	pgText pgKind = iota
	pgBool
	pgInt2
	pgInt4
	pgInt8
	pgOID
	pgFloat4
	pgFloat8
	pgBytea
	pgTimestamp
	pgDate
)

// pgBuiltin is a type we know by its OID.
type pgBuiltin struct {
	kind pgKind
	typ  datagatewayv1.Column_Type
	name string
}

// pgBuiltins maps the OIDs we decode to their kind. Any other OID travels as STRING in
// its text form; numeric, json, jsonb and uuid are read as text on purpose: their text
// is exactly what Oriel sends.
var pgBuiltins = map[uint32]pgBuiltin{
	pgtype.BoolOID:        {pgBool, datagatewayv1.Column_TYPE_BOOL, "bool"},
	pgtype.Int2OID:        {pgInt2, datagatewayv1.Column_TYPE_INT64, "int2"},
	pgtype.Int4OID:        {pgInt4, datagatewayv1.Column_TYPE_INT64, "int4"},
	pgtype.Int8OID:        {pgInt8, datagatewayv1.Column_TYPE_INT64, "int8"},
	pgtype.OIDOID:         {pgOID, datagatewayv1.Column_TYPE_INT64, "oid"},
	pgtype.Float4OID:      {pgFloat4, datagatewayv1.Column_TYPE_FLOAT64, "float4"},
	pgtype.Float8OID:      {pgFloat8, datagatewayv1.Column_TYPE_FLOAT64, "float8"},
	pgtype.NumericOID:     {pgText, datagatewayv1.Column_TYPE_DECIMAL, "numeric"},
	pgtype.TextOID:        {pgText, datagatewayv1.Column_TYPE_STRING, "text"},
	pgtype.VarcharOID:     {pgText, datagatewayv1.Column_TYPE_STRING, "varchar"},
	pgtype.BPCharOID:      {pgText, datagatewayv1.Column_TYPE_STRING, "bpchar"},
	pgtype.NameOID:        {pgText, datagatewayv1.Column_TYPE_STRING, "name"},
	pgtype.UUIDOID:        {pgText, datagatewayv1.Column_TYPE_STRING, "uuid"},
	pgtype.ByteaOID:       {pgBytea, datagatewayv1.Column_TYPE_BYTES, "bytea"},
	pgtype.TimestampOID:   {pgTimestamp, datagatewayv1.Column_TYPE_TIMESTAMP, "timestamp"},
	pgtype.TimestamptzOID: {pgTimestamp, datagatewayv1.Column_TYPE_TIMESTAMP, "timestamptz"},
	pgtype.DateOID:        {pgDate, datagatewayv1.Column_TYPE_DATE, "date"},
	pgtype.JSONOID:        {pgText, datagatewayv1.Column_TYPE_JSON, "json"},
	pgtype.JSONBOID:       {pgText, datagatewayv1.Column_TYPE_JSON, "jsonb"},
}

// PostgresConfig builds the configuration of a connection to a tenant's PostgreSQL from
// its parameters and credentials: every such connection, a query's here or the
// replication engine's, starts from it. The
// password is set as a field, never written into a connection string, so no error text
// that quotes a connection string can contain it; TLS, fallbacks and run-time parameters
// are overwritten so that nothing in the process environment (PG* variables, a pgpass or
// service file) changes where or how a tenant's source is reached.
func PostgresConfig(p *datagatewayv1.PostgresParams, cred *datagatewayv1.Credentials, connectTimeout time.Duration) (*pgx.ConnConfig, error) {
	host := p.GetHost()
	if host == "" || strings.ContainsAny(host, "/,= \t\r\n'\\") {
		// A leading slash would reach a Unix socket of the machine we run on.
		return nil, sourceErr("the PostgreSQL host %q is not a host name or address", host)
	}
	if p.GetDatabase() == "" || p.GetUser() == "" {
		return nil, sourceErr("the PostgreSQL connection needs a database and a user")
	}
	port := p.GetPort()
	if port == 0 {
		port = 5432
	}
	if port < 0 || port > math.MaxUint16 {
		return nil, sourceErr("the PostgreSQL port %d is out of range", port)
	}
	cfg, err := pgx.ParseConfig("sslmode=disable")
	if err != nil {
		return nil, sourceErr("cannot configure the PostgreSQL connection")
	}
	cfg.Host = host
	cfg.Port = uint16(port)
	cfg.Database = p.GetDatabase()
	cfg.User = p.GetUser()
	cfg.Password = cred.GetPassword()
	cfg.Fallbacks = nil
	cfg.KerberosSrvName, cfg.KerberosSpn = "", ""
	cfg.RuntimeParams = map[string]string{"application_name": "oriel"}
	cfg.ConnectTimeout = min(connectTimeout, maxConnectTimeout)
	cfg.StatementCacheCapacity = 0
	cfg.DescriptionCacheCapacity = 0
	switch p.GetSslMode() {
	case datagatewayv1.PostgresParams_SSL_MODE_DISABLE:
		cfg.TLSConfig = nil
	case datagatewayv1.PostgresParams_SSL_MODE_REQUIRE:
		cfg.TLSConfig = &tls.Config{InsecureSkipVerify: true, ServerName: host, MinVersion: tls.VersionTLS12} //nolint:gosec // REQUIRE means "encrypt, don't verify", as in libpq.
	default:
		cfg.TLSConfig = &tls.Config{ServerName: host, MinVersion: tls.VersionTLS12, RootCAs: testRootCAs}
	}
	// A cancelled context sends the server a cancel request, so the statement stops at the
	// source rather than running on behind a closed socket.
	cfg.BuildContextWatcherHandler = func(c *pgconn.PgConn) ctxwatch.Handler {
		return &pgconn.CancelRequestContextWatcherHandler{Conn: c, DeadlineDelay: cancelTimeout}
	}
	return cfg, nil
}

// connectPostgres opens the one connection a query or test uses.
func connectPostgres(ctx context.Context, p *datagatewayv1.PostgresParams, cred *datagatewayv1.Credentials, connectTimeout time.Duration) (*pgx.Conn, error) {
	cfg, err := PostgresConfig(p, cred, connectTimeout)
	if err != nil {
		return nil, err
	}
	conn, err := pgx.ConnectConfig(ctx, cfg)
	if err != nil {
		return nil, pgConnectError(err, p)
	}
	return conn, nil
}

// closePostgres ends a connection without waiting on an unresponsive server.
func closePostgres(conn *pgx.Conn) {
	ctx, cancel := context.WithTimeout(context.Background(), cancelTimeout)
	defer cancel()
	_ = conn.Close(ctx)
}

// pgConnectError describes a failed connection without the driver's text.
func pgConnectError(err error, p *datagatewayv1.PostgresParams) error {
	where := net.JoinHostPort(p.GetHost(), strconv.Itoa(int(cmp0(p.GetPort(), 5432))))
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		return &Error{Reason: ReasonSourceError, SQLState: pgErr.Code,
			Message: fmt.Sprintf("PostgreSQL at %s refused the connection: %s", where, pgErr.Message)}
	}
	if strings.Contains(err.Error(), "server refused TLS connection") {
		return &Error{Reason: ReasonSourceError,
			Message: fmt.Sprintf("PostgreSQL at %s does not accept TLS connections; use ssl mode DISABLE only on a trusted network", where)}
	}
	if problem, transient := dialProblem(err); problem != "" {
		return &Error{Reason: ReasonSourceError, Unreachable: transient,
			Message: fmt.Sprintf("cannot reach PostgreSQL at %s: %s", where, problem)}
	}
	return &Error{Reason: ReasonSourceError, Unreachable: true,
		Message: fmt.Sprintf("cannot connect to PostgreSQL at %s", where)}
}

// pgQueryError describes a failed statement. qctx is the query's context.
func pgQueryError(qctx context.Context, lim Limits, err error) error {
	if e := interrupted(qctx, lim); e != nil {
		return e
	}
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		switch {
		case pgErr.Code == "25006": // read_only_sql_transaction
			return &Error{Reason: ReasonReadOnly, SQLState: pgErr.Code,
				Message: "the statement tried to write, but queries are read-only: " + pgErr.Message}
		case pgErr.Code == "57014" && strings.Contains(pgErr.Message, "statement timeout"): // query_canceled
			e := timeoutErr(lim.Timeout)
			e.SQLState = pgErr.Code
			return e
		}
		if n, ok := pgBindParameter(pgErr.Where); ok {
			return &Error{Reason: ReasonInvalidRequest, SQLState: pgErr.Code,
				Message: fmt.Sprintf("PostgreSQL cannot take parameter $%d: %s", n, pgErr.Message)}
		}
		msg := "PostgreSQL rejected the statement: " + pgErr.Message
		if pgErr.Hint != "" {
			msg += " (hint: " + pgErr.Hint + ")"
		}
		return &Error{Reason: ReasonSourceError, SQLState: pgErr.Code, Message: msg}
	}
	var e *Error
	if errors.As(err, &e) {
		return e
	}
	if problem, _ := dialProblem(err); problem != "" {
		return &Error{Reason: ReasonSourceError, Unreachable: true, Message: "lost the connection to PostgreSQL: " + problem}
	}
	return &Error{Reason: ReasonSourceError, Unreachable: true, Message: "the PostgreSQL query failed: the connection broke"}
}

// pgBindParameter finds the parameter a bind error is about: PostgreSQL (14 and later)
// names it in the error's context when a value does not parse as its parameter's type,
// e.g. `unnamed portal parameter $2 = '...'` (the value only if the server logs values).
// That is the caller's value, not the statement, at fault. The context is in the server's
// language, so on a server that does not speak English the error stays a SOURCE_ERROR.
func pgBindParameter(where string) (int, bool) {
	rest, ok := strings.CutPrefix(where, "unnamed portal parameter $")
	if !ok {
		return 0, false
	}
	end := strings.IndexFunc(rest, func(r rune) bool { return r < '0' || r > '9' })
	if end < 0 {
		end = len(rest)
	}
	n, err := strconv.Atoi(rest[:end])
	return n, err == nil
}

// pgParamValues encodes params in text format, which PostgreSQL parses for a parameter of
// any type as it would a literal (a string bound to a date, uuid or enum parameter works),
// for the parameter types the server inferred. A number or bool is checked here against
// the numeric and boolean types, so that a mismatch is refused with a message naming the
// parameter, and a whole float bound to an integer is written as digits (its shortest
// form may be 1e+18, which no integer type parses).
func pgParamValues(params []*datagatewayv1.QueryParameter, oids []uint32) ([][]byte, error) {
	values := make([][]byte, len(params))
	for i, p := range params {
		v, err := pgParamValue(i+1, p, oids[i])
		if err != nil {
			return nil, err
		}
		values[i] = v
	}
	return values, nil
}

// pgParamValue encodes parameter $n for a parameter of type oid; nil is NULL.
func pgParamValue(n int, p *datagatewayv1.QueryParameter, oid uint32) ([]byte, error) {
	b, known := pgBuiltins[oid]
	numeric := known && (b.typ == datagatewayv1.Column_TYPE_INT64 || b.typ == datagatewayv1.Column_TYPE_FLOAT64 ||
		b.typ == datagatewayv1.Column_TYPE_DECIMAL)
	isBool := known && b.kind == pgBool
	lo, hi, integer := pgIntRange(b.kind) // an unknown oid's zero kind is not an integer
	mismatch := func(what string) error {
		return invalid("parameter $%d is %s, but the statement's $%d has type %s", n, what, n, b.name)
	}
	switch v := p.GetValue().(type) {
	case nil:
		return nil, nil
	case *datagatewayv1.QueryParameter_StringValue:
		// Whatever the type, PostgreSQL parses the text itself; a bad one fails the bind
		// (pgBindParameter).
		return []byte(v.StringValue), nil
	case *datagatewayv1.QueryParameter_Int64Value:
		x := v.Int64Value
		switch {
		case isBool:
			return nil, mismatch("an integer")
		case integer && (x < lo || x > hi):
			return nil, invalid("parameter $%d = %d is out of range for %s", n, x, b.name)
		}
		return strconv.AppendInt(nil, x, 10), nil
	case *datagatewayv1.QueryParameter_Float64Value:
		f := v.Float64Value
		switch {
		case isBool:
			return nil, mismatch("a number")
		case integer:
			// Against float64(hi)+1: for int8, float64(hi) rounds up to 2^63, which f may
			// equal and int64 cannot hold.
			switch {
			case f != math.Trunc(f): // NaN too
				return nil, invalid("parameter $%d = %g is not a whole number, but the statement's $%d has type %s", n, f, n, b.name)
			case f < float64(lo) || f >= float64(hi)+1:
				return nil, invalid("parameter $%d = %g is out of range for %s", n, f, b.name)
			}
			return strconv.AppendInt(nil, int64(f), 10), nil
		case math.IsNaN(f):
			return []byte("NaN"), nil
		case math.IsInf(f, 1):
			return []byte("Infinity"), nil
		case math.IsInf(f, -1):
			return []byte("-Infinity"), nil
		}
		return strconv.AppendFloat(nil, f, 'g', -1, 64), nil
	case *datagatewayv1.QueryParameter_BoolValue:
		if numeric {
			return nil, mismatch("a bool")
		}
		return []byte(strconv.FormatBool(v.BoolValue)), nil
	}
	return nil, invalid("parameter $%d has a kind of value this version does not know", n)
}

// pgIntRange is the range of an integer kind; ok is false for other kinds.
func pgIntRange(k pgKind) (lo, hi int64, ok bool) {
	switch k {
	case pgInt2:
		return math.MinInt16, math.MaxInt16, true
	case pgInt4:
		return math.MinInt32, math.MaxInt32, true
	case pgInt8:
		return math.MinInt64, math.MaxInt64, true
	case pgOID:
		return 0, math.MaxUint32, true
	}
	return 0, 0, false
}

func cmp0(v, def int32) int32 {
	if v == 0 {
		return def
	}
	return v
}

// queryPostgres runs statement with params bound to $1…$n in a read-only transaction on
// a connection of its own.
func queryPostgres(ctx context.Context, p *datagatewayv1.PostgresParams, cred *datagatewayv1.Credentials, statement string, params []*datagatewayv1.QueryParameter, lim Limits, send Send) error {
	start := time.Now()
	if strings.TrimSpace(statement) == "" {
		return invalid("the statement is empty")
	}
	qctx, cancel := withLimit(ctx, lim.Timeout)
	defer cancel()
	conn, err := connectPostgres(qctx, p, cred, lim.Timeout)
	if err != nil {
		if e := interrupted(qctx, lim); e != nil {
			return e
		}
		return err
	}
	defer closePostgres(conn)
	pc := conn.PgConn()

	// The server's own timeout stops the statement even if we cannot reach it to cancel.
	setup := fmt.Sprintf("BEGIN READ ONLY; SET LOCAL statement_timeout = %d", max(lim.Timeout.Milliseconds(), 1))
	if _, err := pc.Exec(qctx, setup).ReadAll(); err != nil {
		return pgQueryError(qctx, lim, err)
	}
	// Describing the statement first lets us choose each column's format. The extended
	// protocol also refuses several statements in one string, so a statement cannot
	// COMMIT the read-only transaction and go on to write.
	sd, err := pc.Prepare(qctx, pgStatement, statement, nil)
	if err != nil {
		return pgQueryError(qctx, lim, err)
	}
	if len(sd.ParamOIDs) != len(params) {
		return placeholderMismatch(len(sd.ParamOIDs), len(params))
	}
	values, err := pgParamValues(params, sd.ParamOIDs)
	if err != nil {
		return err
	}
	cols, kinds, formats, err := describePostgres(qctx, pc, sd.Fields)
	if err != nil {
		return pgQueryError(qctx, lim, err)
	}
	if err := send(headerMessage(cols)); err != nil {
		return err
	}

	// Values travel in text format (a nil paramFormats), apart from the statement: the
	// server parses each as a literal of its parameter's type, so none can be read as SQL.
	rr := pc.ExecStatement(qctx, sd, values, nil, formats)
	b := newBatch(columnTypes(cols), lim.BatchRows)
	var rows int64
	truncated := false
	for rr.NextRow() {
		if rows == lim.RowLimit {
			truncated = true
			break
		}
		if err := b.appendPostgresRow(kinds, rr.Values()); err != nil {
			cancelPostgres(pc)
			return err
		}
		rows++
		if b.full() {
			if err := send(b.message()); err != nil {
				cancelPostgres(pc)
				return err
			}
		}
	}
	if truncated {
		// Stop the statement rather than read and drop the rest of its rows.
		cancelPostgres(pc)
	} else if _, err := rr.Close(); err != nil {
		return pgQueryError(qctx, lim, err)
	}
	if b.rows > 0 {
		if err := send(b.message()); err != nil {
			return err
		}
	}
	return send(statsMessage(rows, truncated, time.Since(start)))
}

// cancelPostgres stops the running statement at the source and closes the connection
// without draining the rest of the result.
func cancelPostgres(pc *pgconn.PgConn) {
	ctx, cancel := context.WithTimeout(context.Background(), cancelTimeout)
	defer cancel()
	_ = pc.CancelRequest(ctx)
	_ = pc.Close(ctx)
}

// describePostgres maps the statement's result columns to Oriel columns, decoders and the
// wire format (binary for what we decode, text for the rest). The names of OIDs we do not
// know (enums, arrays, extension types) are looked up in pg_type; those columns travel as
// STRING in their text form. (A domain needs nothing: PostgreSQL describes a domain's
// column by its base type.)
func describePostgres(ctx context.Context, pc *pgconn.PgConn, fields []pgconn.FieldDescription) ([]*datagatewayv1.Column, []pgKind, []int16, error) {
	names := map[uint32]string{}
	var unknown []string
	for _, f := range fields {
		if _, ok := pgBuiltins[f.DataTypeOID]; !ok {
			if _, dup := names[f.DataTypeOID]; !dup {
				names[f.DataTypeOID] = ""
				unknown = append(unknown, strconv.FormatUint(uint64(f.DataTypeOID), 10))
			}
		}
	}
	if len(unknown) > 0 {
		res := pc.ExecParams(ctx, "SELECT oid::int8, typname FROM pg_catalog.pg_type WHERE oid = ANY($1::oid[])",
			[][]byte{[]byte("{" + strings.Join(unknown, ",") + "}")}, nil, nil, nil).Read()
		if res.Err != nil {
			return nil, nil, nil, res.Err
		}
		for _, row := range res.Rows {
			if oid, err := strconv.ParseUint(string(row[0]), 10, 32); err == nil {
				names[uint32(oid)] = string(row[1])
			}
		}
	}

	cols := make([]*datagatewayv1.Column, len(fields))
	kinds := make([]pgKind, len(fields))
	formats := make([]int16, len(fields))
	for i, f := range fields {
		b, ok := pgBuiltins[f.DataTypeOID]
		if !ok {
			b = pgBuiltin{pgText, datagatewayv1.Column_TYPE_STRING, names[f.DataTypeOID]}
			if b.name == "" {
				b.name = "oid " + strconv.FormatUint(uint64(f.DataTypeOID), 10)
			}
		}
		cols[i] = &datagatewayv1.Column{Name: f.Name, Type: b.typ, SourceType: pgTypeName(b.name, f.DataTypeOID, f.TypeModifier)}
		kinds[i] = b.kind
		if b.kind != pgText {
			formats[i] = pgtype.BinaryFormatCode
		}
	}
	return cols, kinds, formats, nil
}

// pgTypeName adds a type modifier to a type's name, as in `varchar(40)`.
func pgTypeName(name string, oid uint32, typmod int32) string {
	if typmod < 0 {
		return name
	}
	switch oid {
	case pgtype.VarcharOID, pgtype.BPCharOID:
		return fmt.Sprintf("%s(%d)", name, typmod-4)
	case pgtype.NumericOID:
		m := typmod - 4
		return fmt.Sprintf("%s(%d,%d)", name, (m>>16)&0xffff, int16(m&0xffff))
	case pgtype.TimestampOID, pgtype.TimestamptzOID:
		return fmt.Sprintf("%s(%d)", name, typmod)
	}
	return name
}

// malformed reports a value whose wire form does not match its type.
func malformed() error { return sourceErr("PostgreSQL sent a malformed value") }

// appendPostgresRow decodes one row's wire values into the batch.
func (b *batch) appendPostgresRow(kinds []pgKind, vals [][]byte) error {
	if len(vals) != len(kinds) {
		return malformed()
	}
	for i, v := range vals {
		if v == nil {
			b.appendNull(i)
			continue
		}
		switch kinds[i] {
		case pgText, pgBytea:
			b.appendBytes(i, v)
		case pgBool:
			if len(v) != 1 {
				return malformed()
			}
			b.appendBool(i, v[0] != 0)
		case pgInt2:
			if len(v) != 2 {
				return malformed()
			}
			b.appendInt64(i, int64(int16(binary.BigEndian.Uint16(v))))
		case pgInt4:
			if len(v) != 4 {
				return malformed()
			}
			b.appendInt64(i, int64(int32(binary.BigEndian.Uint32(v))))
		case pgOID:
			if len(v) != 4 {
				return malformed()
			}
			b.appendInt64(i, int64(binary.BigEndian.Uint32(v)))
		case pgInt8:
			if len(v) != 8 {
				return malformed()
			}
			b.appendInt64(i, int64(binary.BigEndian.Uint64(v)))
		case pgFloat4:
			if len(v) != 4 {
				return malformed()
			}
			b.appendFloat64(i, float64(math.Float32frombits(binary.BigEndian.Uint32(v))))
		case pgFloat8:
			if len(v) != 8 {
				return malformed()
			}
			b.appendFloat64(i, math.Float64frombits(binary.BigEndian.Uint64(v)))
		case pgTimestamp:
			if len(v) != 8 {
				return malformed()
			}
			us := int64(binary.BigEndian.Uint64(v))
			if us != math.MaxInt64 && us != math.MinInt64 { // ±infinity stay at the extremes
				us += pgEpochMicros
			}
			b.appendInt64(i, us)
		case pgDate:
			if len(v) != 4 {
				return malformed()
			}
			days := int64(int32(binary.BigEndian.Uint32(v)))
			switch days {
			case math.MaxInt32:
				days = math.MaxInt64
			case math.MinInt32:
				days = math.MinInt64
			default:
				days += pgEpochDays
			}
			b.appendInt64(i, days)
		}
	}
	b.endRow()
	return nil
}

// testPostgres connects and asks the server's version.
func testPostgres(ctx context.Context, p *datagatewayv1.PostgresParams, cred *datagatewayv1.Credentials) (string, error) {
	conn, err := connectPostgres(ctx, p, cred, maxConnectTimeout)
	if err != nil {
		return "", err
	}
	defer closePostgres(conn)
	res, err := conn.PgConn().Exec(ctx, "SELECT version()").ReadAll()
	if err != nil {
		return "", pgQueryError(ctx, Limits{Timeout: testTimeout}, err)
	}
	if len(res) == 0 || len(res[0].Rows) == 0 {
		return "PostgreSQL", nil
	}
	// "PostgreSQL 15.19 (Debian …) on x86_64-pc-linux-gnu, …" → "PostgreSQL 15.19"
	f := strings.Fields(string(res[0].Rows[0][0]))
	if len(f) >= 2 {
		return f[0] + " " + f[1], nil
	}
	return strings.Join(f, " "), nil
}
