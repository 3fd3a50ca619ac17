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
	"github.com/jackc/pgx/v5/pgconn/ctxwatch"

	"github.com/oriel-dev/oriel/services/datagateway/internal/source"
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
	// cfg is the connection's configuration as source.PostgresConfig builds it (no
	// connection string holds the password; nothing in the environment redirects it),
	// routed through an agent where the connection names a pool. Each connection gets a copy.
	cfg *pgx.ConnConfig
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
	cfg, err := source.PostgresConfig(pg, src.GetCredentials(), connectTimeout)
	if err != nil {
		return endpoint{}, stopf("the %s connection %s: %v", role, connection, err)
	}
	cfg.RuntimeParams["application_name"] = applicationName
	// The engine runs the same statements over and over (apply, status): unlike a
	// one-off query, it keeps pgx's statement caches. And its waits end by deadline, as
	// pgx does by default: a cancel request would stop the walsender's stream, not a wait.
	cfg.StatementCacheCapacity, cfg.DescriptionCacheCapacity = 512, 512
	cfg.BuildContextWatcherHandler = func(c *pgconn.PgConn) ctxwatch.Handler {
		return &pgconn.DeadlineContextWatcherHandler{Conn: c.Conn()}
	}
	if pool != "" {
		if e.opts.Dial == nil {
			return endpoint{}, stopf("the %s connection %s is reached through agent pool %s, and this datagateway cannot reach agents", role, connection, pool)
		}
		cfg.DialFunc = agentDialer(e.opts.Dial, job.Tenant, pool)
		// The host is left for the agent to resolve: it may be a name only the agent's
		// network knows.
		cfg.LookupFunc = func(_ context.Context, host string) ([]string, error) { return []string{host}, nil }
	}
	return endpoint{role: role, cfg: cfg}, nil
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

// connect opens a regular connection.
func (ep endpoint) connect(ctx context.Context) (*pgx.Conn, error) {
	conn, err := pgx.ConnectConfig(ctx, ep.cfg.Copy())
	if err != nil {
		return nil, fmt.Errorf("connect to the %s: %w", ep.role, err)
	}
	return conn, nil
}

// replicationConn opens a logical replication connection (replication=database).
func (ep endpoint) replicationConn(ctx context.Context) (*pgconn.PgConn, error) {
	cfg := ep.cfg.Config.Copy()
	cfg.RuntimeParams["replication"] = "database"
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
