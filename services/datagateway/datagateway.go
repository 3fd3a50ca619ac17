// Package datagateway is the datagateway service: it owns each tenant's data connections
// (with their credentials sealed at rest), runs read-only queries through them directly
// or through the tenant's agents (oriel-agent, which dials out and holds a stream to the
// datagateway), and replicates PostgreSQL tables by logical replication, reaching
// agent-routed connections through TCP tunnels on the agents' streams. Its binary is
// cmd/datagateway; `oriel dev` runs it in-process through Config.
package datagateway

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net"
	"os"
	"strconv"
	"time"

	"github.com/alecthomas/kong"
	"google.golang.org/grpc"

	datagatewayv1 "github.com/oriel-dev/oriel/gen/pb/oriel/datagateway/v1"
	"github.com/oriel-dev/oriel/platform/auth"
	"github.com/oriel-dev/oriel/platform/server"
	"github.com/oriel-dev/oriel/platform/sqlstore"
	"github.com/oriel-dev/oriel/services/datagateway/internal/api"
	"github.com/oriel-dev/oriel/services/datagateway/internal/replication"
	"github.com/oriel-dev/oriel/services/datagateway/internal/secrets"
	"github.com/oriel-dev/oriel/services/datagateway/internal/source"
	"github.com/oriel-dev/oriel/services/datagateway/internal/store"
	"github.com/oriel-dev/oriel/services/datagateway/internal/tunnel"
)

// Name is the service's name and its PostgreSQL schema.
const Name = "datagateway"

// Default addresses: gRPC on 9104, metrics and probes on 9204.
const (
	DefaultGRPCAddr = ":9104"
	DefaultHTTPAddr = ":9204"
)

// Vars are the defaults the flags of Config refer to.
var Vars = kong.Vars{"grpc_addr": DefaultGRPCAddr, "http_addr": DefaultHTTPAddr}

// initialCredit is how many batches of a query an agent may send ahead of the caller
// reading them: enough to keep the stream busy, few enough to bound what a slow caller
// makes the datagateway hold.
const initialCredit = 8

// Config configures the datagateway. Its tags are the flags of `datagateway serve`;
// every flag also reads ORIEL_<FLAG_NAME>.
type Config struct {
	Server   server.Config   `embed:""`
	Database sqlstore.Config `embed:""`
	// KeyEncryptionKeys seal connection credentials. Never logged.
	KeyEncryptionKeys string `name:"key-encryption-keys" required:"" help:"Keys that encrypt connection credentials at rest: id:base64key[,id:base64key…], each key 32 random bytes in standard base64 (e.g. k1:$(openssl rand -base64 32)). The first seals; all open, so put a new key first to rotate. Prefer the environment variable ORIEL_KEY_ENCRYPTION_KEYS to the flag, which other users can read in the process list."`
	// DevMode lets direct http connections reach plain-http, loopback and private
	// addresses, which `oriel dev` needs and production must refuse.
	DevMode           bool          `name:"dev-mode" help:"Allow http connections to plain-http URLs and to loopback, private and link-local addresses (for oriel dev; never in production)."`
	RowLimit          int64         `name:"row-limit" default:"100000000" help:"The most rows one query returns; callers may ask for fewer. Reloads load whole tables through it, so keep it above the largest table an app loads."`
	QueryTimeout      time.Duration `name:"query-timeout" default:"10m" help:"The longest one query may run; callers may ask for less."`
	BatchRows         int           `name:"batch-rows" default:"1000" help:"Rows per batch of a query's result."`
	HeartbeatInterval time.Duration `name:"heartbeat-interval" default:"10s" help:"How often the datagateway and each agent send each other a heartbeat."`
	HeartbeatTimeout  time.Duration `name:"heartbeat-timeout" default:"30s" help:"How long either end of an agent's stream waits without hearing anything before dropping it."`
	WALWarningBytes   int64         `name:"wal-warning-bytes" default:"1073741824" help:"Warn on a replication whose slot keeps more WAL at the source than this many bytes; 0 disables the warning."`
	// AdvertiseAddr lets replicas forward queries to the one holding the stream of an
	// agent of the queried pool; single-replica setups and `oriel dev` leave it empty.
	AdvertiseAddr string `name:"advertise-addr" help:"The host:port other datagateway replicas reach this one's gRPC server at; set it on every replica so a query or connection test arriving at a replica with no agent of its pool connected goes to one that has one. Empty: no forwarding (a single replica needs none)."`
	// Now is the clock; nil means time.Now. Tests move it.
	Now func() time.Time `kong:"-"`
	// Authenticator, if set, checks credentials instead of the identity service at
	// --identity-addr. Tests give it principals of every kind.
	Authenticator auth.Authenticator `kong:"-"`
}

// validate reports the first thing wrong with the datagateway's own settings.
func (c Config) validate() error {
	switch {
	case c.RowLimit <= 0:
		return errors.New("--row-limit must be > 0")
	case c.QueryTimeout <= 0:
		return errors.New("--query-timeout must be > 0")
	case c.BatchRows <= 0:
		return errors.New("--batch-rows must be > 0")
	case c.HeartbeatInterval <= 0 || c.HeartbeatTimeout <= c.HeartbeatInterval:
		return errors.New("--heartbeat-interval must be > 0 and --heartbeat-timeout longer than it")
	case c.WALWarningBytes < 0:
		return errors.New("--wal-warning-bytes must be ≥ 0")
	case c.AdvertiseAddr != "" && !isHostPort(c.AdvertiseAddr):
		return fmt.Errorf("--advertise-addr %q must be host:port, with a host and a port number other than 0", c.AdvertiseAddr)
	}
	return c.Server.Validate()
}

// isHostPort reports whether addr is host:port with a host and a port another replica can
// dial.
func isHostPort(addr string) bool {
	host, port, err := net.SplitHostPort(addr)
	if err != nil || host == "" {
		return false
	}
	n, err := strconv.ParseUint(port, 10, 16)
	return err == nil && n > 0
}

// Complete validates the configuration, opens the database and returns the service ready
// to Run. It does not migrate: the service reports NOT_SERVING until Migrate has run.
func (c Config) Complete(ctx context.Context, log *slog.Logger) (*server.Server, error) {
	if err := c.validate(); err != nil {
		return nil, err
	}
	keys, err := secrets.ParseKeyring(c.KeyEncryptionKeys)
	if err != nil {
		return nil, fmt.Errorf("--key-encryption-keys (ORIEL_KEY_ENCRYPTION_KEYS): %w", err)
	}
	now := c.Now
	if now == nil {
		now = time.Now
	}
	closers := &server.Closers{}
	fail := func(err error) (*server.Server, error) { return nil, errors.Join(err, closers.Close()) }

	db, err := sqlstore.Open(ctx, c.Database.URL, sqlstore.Options{Schema: Name, MaxConns: c.Database.MaxConns})
	if err != nil {
		return nil, err
	}
	closers.Push("database", func() error { db.Close(); return nil })

	log = log.With("service", Name)
	st := store.New(db, now)
	hub := tunnel.NewHub(tunnel.Options{
		Agents: st, Log: log, HeartbeatInterval: c.HeartbeatInterval, HeartbeatTimeout: c.HeartbeatTimeout,
		InitialCredit: initialCredit, AdvertiseAddr: c.AdvertiseAddr,
	})
	srv := api.New(api.Options{
		Store: st, Keys: keys, Hub: hub, Log: log, Now: now,
		Limits:           source.Limits{RowLimit: c.RowLimit, Timeout: c.QueryTimeout, BatchRows: c.BatchRows},
		Source:           source.Options{DevMode: c.DevMode},
		HeartbeatTimeout: c.HeartbeatTimeout,
		AdvertiseAddr:    c.AdvertiseAddr,
	})
	closers.Push("replica connections", srv.Close)
	engine := replication.New(replication.Options{
		Store: st, Sources: srv, Dial: hub.Dial, Log: log, Owner: workerID(), WALWarningBytes: c.WALWarningBytes, Now: now,
	})
	s, err := server.New(c.Server, server.Service{
		Name: Name,
		Register: func(s *grpc.Server) {
			datagatewayv1.RegisterConnectionServiceServer(s, api.ConnectionServer{Server: srv})
			datagatewayv1.RegisterAgentServiceServer(s, api.AgentServer{Server: srv})
			datagatewayv1.RegisterReplicationServiceServer(s, api.ReplicationServer{Server: srv})
			datagatewayv1.RegisterAgentTunnelServiceServer(s, hub.Server())
		},
		Ready: func(ctx context.Context) (bool, error) { return db.AtHead(ctx, store.Migrations) },
		Workers: map[string]server.Worker{
			"agent-tunnel": hub.Run,
			"replications": engine.Run,
		},
		Closers:       closers,
		Authenticator: c.Authenticator,
		// Agent streams last as long as their agents: at shutdown they end, and the agents
		// reconnect to another replica.
		Draining: hub.Drain,
		// Agents present their own credentials: an enrollment token to Enroll, the agent
		// credential it returns to Connect. Neither is a principal identity knows.
		SelfAuthenticating: []string{
			datagatewayv1.AgentTunnelService_Enroll_FullMethodName,
			datagatewayv1.AgentTunnelService_Connect_FullMethodName,
		},
	}, log)
	if err != nil {
		return fail(err)
	}
	return s, nil
}

// workerID names this replica's replication leases in the database, so an operator can
// tell which process drives a replication.
func workerID() string {
	host, _ := os.Hostname()
	return fmt.Sprintf("%s-%d-%08x", host, os.Getpid(), rand.Uint32())
}

// Migrate brings the schema at databaseURL to head.
func Migrate(ctx context.Context, databaseURL string, log *slog.Logger) error {
	return sqlstore.MigrateURL(ctx, databaseURL, Name, store.Migrations, log)
}
