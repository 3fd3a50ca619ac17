// Package identity is the identity service: it decides who a caller is and what they may
// do. It owns identity providers, users, groups, role bindings, service accounts and API
// keys (PostgreSQL), and embed sessions (Redis), and every other service asks it to
// introspect credentials. Its binary is cmd/identity; `oriel dev` runs it in-process.
package identity

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"sync"
	"time"

	"github.com/alecthomas/kong"
	"google.golang.org/grpc"

	identityv1 "github.com/oriel-dev/oriel/gen/pb/oriel/identity/v1"
	"github.com/oriel-dev/oriel/platform/auth"
	"github.com/oriel-dev/oriel/platform/redisconn"
	"github.com/oriel-dev/oriel/platform/server"
	"github.com/oriel-dev/oriel/platform/sqlstore"
	"github.com/oriel-dev/oriel/services/identity/internal/api"
	"github.com/oriel-dev/oriel/services/identity/internal/jwtauth"
	"github.com/oriel-dev/oriel/services/identity/internal/sessions"
	"github.com/oriel-dev/oriel/services/identity/internal/store"
)

// Name is the service's name and its PostgreSQL schema.
const Name = "identity"

// Default addresses: gRPC on 9102, metrics and probes on 9202.
const (
	DefaultGRPCAddr = ":9102"
	DefaultHTTPAddr = ":9202"
)

// Vars are the defaults the flags of Config refer to.
var Vars = kong.Vars{"grpc_addr": DefaultGRPCAddr, "http_addr": DefaultHTTPAddr}

// Config configures the identity service. Its tags are the flags of `identity serve`.
type Config struct {
	Server   server.Config   `embed:""`
	Database sqlstore.Config `embed:""`
	RedisURL string          `name:"redis-url" help:"redis://… holding embed sessions. Required unless --dev-mode, which keeps them in process memory."`
	DevMode  bool            `name:"dev-mode" help:"For oriel dev: embed sessions in memory without --redis-url, and identity providers may fetch keys over http from localhost."`
	// Now is the clock; nil means time.Now. Tests move it.
	Now func() time.Time `kong:"-"`
	// Announce receives the bootstrap admin key when identity generates one at first
	// start (no --bootstrap-admin-key); nil means standard error.
	Announce io.Writer `kong:"-"`
}

// Complete validates the configuration, opens the database and the session store, and
// returns the service ready to Run. It reports NOT_SERVING until its schema is at head and
// the bootstrap admin key is in place.
func (c Config) Complete(ctx context.Context, log *slog.Logger) (*server.Server, error) {
	if err := c.Server.Validate(); err != nil {
		return nil, err
	}
	if c.RedisURL == "" && !c.DevMode {
		return nil, errors.New("--redis-url (ORIEL_REDIS_URL) is required: embed sessions must be shared by every replica (use --dev-mode to keep them in memory)")
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
	var sess sessions.Store
	if c.RedisURL != "" {
		client, err := redisconn.Open(ctx, c.RedisURL)
		if err != nil {
			return fail(err)
		}
		closers.Push("redis", client.Close)
		sess = sessions.NewRedis(client)
	} else {
		sess = sessions.NewMemory(now)
	}
	st := store.SQL(db)
	srv := api.New(api.Options{
		Store: st, Sessions: sess, Log: log, Now: now, DevMode: c.DevMode, KeyCache: c.Server.CredentialCache,
		Verifier: jwtauth.NewVerifier(jwtauth.Options{DevMode: c.DevMode, Now: now}),
	})
	boot := &bootstrap{store: st, key: c.Server.BootstrapAdminKey, now: now, announce: c.Announce, log: log}
	return server.New(c.Server, server.Service{
		Name: Name,
		Register: func(s *grpc.Server) {
			identityv1.RegisterIdentityProviderServiceServer(s, api.ProviderServer{Server: srv})
			identityv1.RegisterDirectoryServiceServer(s, api.DirectoryServer{Server: srv})
			identityv1.RegisterServiceAccountServiceServer(s, api.ServiceAccountServer{Server: srv})
			identityv1.RegisterTokenServiceServer(s, api.TokenServer{Server: srv})
		},
		Ready: func(ctx context.Context) (bool, error) {
			if ok, err := db.AtHead(ctx, store.Migrations); !ok || err != nil {
				return false, err
			}
			return true, boot.ensure(ctx)
		},
		Workers:            map[string]server.Worker{"usage": srv.Flush(5 * time.Second)},
		Closers:            closers,
		Authenticator:      srv.Authenticator(),
		SelfAuthenticating: []string{api.ExchangeTokenMethod},
		QuietMethods:       []string{api.IntrospectTokenMethod},
	}, log)
}

// bootstrap puts the platform admin key in place once the schema is ready: the configured
// one, or, on a first start without one, a new key announced once.
type bootstrap struct {
	store    store.Store
	key      string
	now      func() time.Time
	announce io.Writer
	log      *slog.Logger
	once     sync.Mutex
	done     bool
}

func (b *bootstrap) ensure(ctx context.Context) error {
	b.once.Lock()
	defer b.once.Unlock()
	if b.done {
		return nil
	}
	key := b.key
	if key == "" {
		has, err := b.store.HasBootstrapKey(ctx)
		if err != nil {
			return err
		}
		if has {
			b.done = true
			return nil
		}
		key = auth.GenerateAPIKey()
	}
	hash := sha256.Sum256([]byte(key))
	changed, err := b.store.EnsureBootstrapKey(ctx, hash[:], key[:len(auth.APIKeyPrefix)+4], b.now().UTC())
	if err != nil {
		return err
	}
	if b.key == "" {
		w := b.announce
		if w == nil {
			w = os.Stderr
		}
		// Printed, not logged: logs are shipped and kept, and must never hold a secret.
		fmt.Fprintf(w, "\nidentity: generated the bootstrap admin API key (shown only now, store it):\n\n  %s\n\n", key)
	} else if changed {
		b.log.Info("bootstrap admin key installed", "service_account", auth.BootstrapPrincipalID)
	}
	b.done = true
	return nil
}

// Migrate brings the schema at databaseURL to head.
func Migrate(ctx context.Context, databaseURL string, log *slog.Logger) error {
	return sqlstore.MigrateURL(ctx, databaseURL, Name, store.Migrations, log)
}
