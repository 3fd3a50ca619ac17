package replication

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	datagatewayv1 "github.com/oriel-dev/oriel/gen/pb/oriel/datagateway/v1"
)

const (
	connectTimeout = 10 * time.Second
	// applicationName shows in pg_stat_activity and pg_stat_replication at the source.
	applicationName = "oriel-replication"
)

// endpoint is a PostgreSQL a replication reads from or writes to.
type endpoint struct {
	// role is "source" or "target", for error messages.
	role string
	dsn  string
	// dial reaches the server through an agent; nil to dial it directly.
	dial pgconn.DialFunc
}

// resolve looks a connection up and checks it is a PostgreSQL one.
func (e *Engine) resolve(ctx context.Context, job *Job, role, connection string) (endpoint, error) {
	src, pool, err := e.opts.Sources.Source(ctx, job.Tenant, connection)
	if err != nil {
		return endpoint{}, fmt.Errorf("look up the %s connection %s: %w", role, connection, err)
	}
	pg := src.GetPostgres()
	if pg == nil {
		return endpoint{}, stopf("the %s connection %s is not a PostgreSQL connection", role, connection)
	}
	ep := endpoint{role: role, dsn: postgresDSN(pg, src.GetCredentials().GetPassword())}
	if pool != "" {
		if e.opts.Dial == nil {
			return endpoint{}, stopf("the %s connection %s is reached through agent pool %s, and this datagateway cannot reach agents", role, connection, pool)
		}
		ep.dial = agentDialer(e.opts.Dial, job.Tenant, pool)
	}
	return ep, nil
}

// agentDialer is a pgconn.DialFunc that opens every connection, cancel requests
// included, through an agent of the tenant's pool.
func agentDialer(dial Dial, tenant, pool string) pgconn.DialFunc {
	return func(ctx context.Context, _, addr string) (net.Conn, error) {
		host, portText, err := net.SplitHostPort(addr)
		if err != nil {
			return nil, err
		}
		port, err := strconv.Atoi(portText)
		if err != nil {
			return nil, fmt.Errorf("port %q: %w", portText, err)
		}
		return dial(ctx, tenant, pool, host, port)
	}
}

// keepHost is a pgconn.LookupFunc that leaves the host to the agent to resolve: it may
// be a name only the agent's network knows.
func keepHost(_ context.Context, host string) ([]string, error) { return []string{host}, nil }

// route makes cfg reach the server the endpoint's way.
func (ep endpoint) route(cfg *pgconn.Config) {
	if ep.dial != nil {
		cfg.DialFunc = ep.dial
		cfg.LookupFunc = keepHost
	}
}

// postgresDSN is a keyword/value connection string; values are quoted so no parameter
// can smuggle in another.
func postgresDSN(pg *datagatewayv1.PostgresParams, password string) string {
	port := int(pg.GetPort())
	if port == 0 {
		port = 5432
	}
	sslmode := "verify-full"
	switch pg.GetSslMode() {
	case datagatewayv1.PostgresParams_SSL_MODE_DISABLE:
		sslmode = "disable"
	case datagatewayv1.PostgresParams_SSL_MODE_REQUIRE:
		sslmode = "require"
	}
	kv := []string{
		"host=" + quoteDSN(pg.GetHost()),
		"port=" + strconv.Itoa(port),
		"dbname=" + quoteDSN(pg.GetDatabase()),
		"user=" + quoteDSN(pg.GetUser()),
		"sslmode=" + sslmode,
		"application_name=" + applicationName,
	}
	if password != "" {
		kv = append(kv, "password="+quoteDSN(password))
	}
	return strings.Join(kv, " ")
}

func quoteDSN(v string) string {
	v = strings.ReplaceAll(v, `\`, `\\`)
	v = strings.ReplaceAll(v, `'`, `\'`)
	return "'" + v + "'"
}

// connect opens a regular connection.
func (ep endpoint) connect(ctx context.Context) (*pgx.Conn, error) {
	cfg, err := pgx.ParseConfig(ep.dsn)
	if err != nil {
		return nil, fmt.Errorf("the %s connection's parameters are invalid", ep.role)
	}
	cfg.ConnectTimeout = connectTimeout
	ep.route(&cfg.Config)
	conn, err := pgx.ConnectConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("connect to the %s: %w", ep.role, err)
	}
	return conn, nil
}

// replicationConn opens a logical replication connection (replication=database).
func (ep endpoint) replicationConn(ctx context.Context) (*pgconn.PgConn, error) {
	cfg, err := pgconn.ParseConfig(ep.dsn + " replication=database")
	if err != nil {
		return nil, fmt.Errorf("the %s connection's parameters are invalid", ep.role)
	}
	cfg.ConnectTimeout = connectTimeout
	ep.route(cfg)
	conn, err := pgconn.ConnectConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("open a replication connection to the %s: %w", ep.role, err)
	}
	return conn, nil
}

// closeQuietly closes a connection within a short time, whatever state it is in.
func closeQuietly(c interface{ Close(context.Context) error }) {
	if c == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	_ = c.Close(ctx)
}

// describe turns an error into words for the tenant admin's last_error. Errors never
// carry a password: connection strings are not part of pgx's messages.
func describe(err error) string {
	msg := err.Error()
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) && pgErr.Detail != "" {
		msg += " (" + pgErr.Detail + ")"
	}
	const maxLen = 1000
	if len(msg) > maxLen {
		msg = msg[:maxLen] + "…"
	}
	return msg
}

// pgCode is the SQLSTATE of err, or "".
func pgCode(err error) string {
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		return pgErr.Code
	}
	return ""
}

// ident quotes a name for SQL.
func ident(parts ...string) string { return pgx.Identifier(parts).Sanitize() }

// literal quotes a string for SQL text that takes no parameters (replication commands).
func literal(s string) string { return "'" + strings.ReplaceAll(s, "'", "''") + "'" }
