// Package content is the content service: it owns what a tenant's users see (spaces and
// their members, apps and their revisions) and what the ISV deploys to many tenants at
// once (templates and their versions, and rollouts, which its rollout engine drives).
// Its binary is cmd/content; `oriel dev` runs it in-process through Config.
package content

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"os"
	"time"

	"github.com/alecthomas/kong"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	contentv1 "github.com/oriel-dev/oriel/gen/pb/oriel/content/v1"
	datagatewayv1 "github.com/oriel-dev/oriel/gen/pb/oriel/datagateway/v1"
	tenantv1 "github.com/oriel-dev/oriel/gen/pb/oriel/tenant/v1"
	"github.com/oriel-dev/oriel/platform/auth"
	"github.com/oriel-dev/oriel/platform/redisconn"
	"github.com/oriel-dev/oriel/platform/server"
	"github.com/oriel-dev/oriel/platform/sqlstore"
	"github.com/oriel-dev/oriel/services/content/internal/api"
	"github.com/oriel-dev/oriel/services/content/internal/blob"
	"github.com/oriel-dev/oriel/services/content/internal/models"
	"github.com/oriel-dev/oriel/services/content/internal/purge"
	"github.com/oriel-dev/oriel/services/content/internal/reload"
	"github.com/oriel-dev/oriel/services/content/internal/rollout"
	"github.com/oriel-dev/oriel/services/content/internal/selection"
	"github.com/oriel-dev/oriel/services/content/internal/store"
)

// Name is the service's name and its PostgreSQL schema.
const Name = "content"

// Default addresses: gRPC on 9103, metrics and probes on 9203.
const (
	DefaultGRPCAddr = ":9103"
	DefaultHTTPAddr = ":9203"
)

// Default addresses of the services content calls.
const (
	DefaultTenantAddr      = "localhost:9101"
	DefaultDatagatewayAddr = "localhost:9104"
)

// Vars are the defaults the flags of Config refer to.
var Vars = kong.Vars{"grpc_addr": DefaultGRPCAddr, "http_addr": DefaultHTTPAddr, "tenant_addr": DefaultTenantAddr,
	"datagateway_addr": DefaultDatagatewayAddr}

// rolloutLease is how long a replica holds a rollout without renewing its claim: a
// replica that dies mid-rollout is replaced by another within about this long.
const rolloutLease = 30 * time.Second

// rolloutPoll is how often an idle replica looks for rollouts to drive.
const rolloutPoll = time.Second

// Config configures the content service. Its tags are the flags of `content serve`.
type Config struct {
	Server   server.Config   `embed:""`
	Database sqlstore.Config `embed:""`
	// TenantAddr is the tenant service, which evaluates rollout tenant filters (with the
	// caller's own credential, so it decides what the caller may list).
	TenantAddr    string        `name:"tenant-addr" default:"${tenant_addr}" help:"gRPC address of the tenant service, which evaluates rollout tenant filters."`
	PurgeInterval time.Duration `name:"purge-interval" default:"1m" help:"How often to purge apps deleted longer ago than they may be undeleted (14 days), and to look for tenants the tenant service purged."`
	// ServiceAPIKey is content's own credential towards the tenant service, whose event log
	// says which tenants were purged (content learns it from nowhere else), and towards the
	// datagateway, which runs reloads long after the call that queued them ended.
	ServiceAPIKey string `name:"service-api-key" help:"A platform API key with tenants.read and datagateway.admin, with which content follows the tenant service's events (and removes the content of purged tenants) and runs reloads' and live charts' SQL through the datagateway; --bootstrap-admin-key when empty. Without either, purged tenants keep their content and reloads of SQL tables fail."`
	// DatagatewayAddr runs reloads' and live charts' SQL, with ServiceAPIKey.
	DatagatewayAddr string `name:"datagateway-addr" default:"${datagateway_addr}" help:"gRPC address of the datagateway, which runs the SQL of reloads and live charts."`
	// RedisURL keeps sessions' selections, which must outlive a content restart.
	RedisURL string `name:"redis-url" help:"redis://… holding the sessions' selections. Required unless --dev-mode, which keeps them in process memory."`
	DevMode  bool   `name:"dev-mode" help:"Keep selections in process memory instead of Redis (one replica, lost on restart)."`
	// SnapshotDir keeps the models reloads build, so an app opens at once after a restart
	// and on every replica: replicas must share it (a volume, or NFS).
	SnapshotDir        string        `name:"snapshot-dir" default:"/var/lib/oriel/snapshots" help:"Directory of app snapshots, shared by every content replica."`
	ModelMemoryMB      int64         `name:"model-memory-mb" default:"4096" help:"Memory for loaded app models; the least recently used are dropped beyond it (and reopened from their snapshots when asked for)."`
	ReloadConcurrency  int           `name:"reload-concurrency" default:"2" help:"Reloads this replica runs at once."`
	ReloadTenantLimit  int           `name:"reload-tenant-limit" default:"1" help:"Reloads one tenant may run at once, across replicas; more wait in the queue."`
	ReloadQueryTimeout time.Duration `name:"reload-query-timeout" default:"30m" help:"The longest one SQL statement of a load script may run."`
	// Now is the clock; nil means time.Now. Tests move it.
	Now func() time.Time `kong:"-"`
	// Authenticator, if set, checks credentials instead of the identity service at
	// --identity-addr. Tests give it principals of every kind without minting each one
	// through identity, whose own tests cover that path.
	Authenticator auth.Authenticator `kong:"-"`
}

// Complete validates the configuration, opens the database, dials the tenant service and
// returns the service ready to Run. It does not migrate: the service reports NOT_SERVING
// until Migrate has run.
func (c Config) Complete(ctx context.Context, log *slog.Logger) (*server.Server, error) {
	if c.PurgeInterval <= 0 {
		return nil, errors.New("--purge-interval must be > 0")
	}
	if c.TenantAddr == "" {
		return nil, errors.New("--tenant-addr (ORIEL_TENANT_ADDR) is required: rollouts evaluate tenant filters through the tenant service")
	}
	if c.DatagatewayAddr == "" {
		return nil, errors.New("--datagateway-addr (ORIEL_DATAGATEWAY_ADDR) is required: reloads run their SQL through the datagateway")
	}
	if c.RedisURL == "" && !c.DevMode {
		return nil, errors.New("--redis-url (ORIEL_REDIS_URL) is required unless --dev-mode: it keeps the sessions' selections")
	}
	if c.ModelMemoryMB <= 0 || c.ReloadConcurrency <= 0 || c.ReloadTenantLimit <= 0 || c.ReloadQueryTimeout <= 0 {
		return nil, errors.New("--model-memory-mb, --reload-concurrency, --reload-tenant-limit and --reload-query-timeout must be > 0")
	}
	if err := c.Server.Validate(); err != nil {
		return nil, err
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
	// Plaintext, as the edge dials the services: transport security is the network's (a
	// mesh or a private network), and every call still carries its caller's credential.
	// The client connects lazily, so the tenant service need not be up first.
	tenantConn, err := grpc.NewClient(c.TenantAddr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		return fail(fmt.Errorf("--tenant-addr %s: %w", c.TenantAddr, err))
	}
	closers.Push("tenant connection", tenantConn.Close)
	dgConn, err := grpc.NewClient(c.DatagatewayAddr, grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithDefaultCallOptions(grpc.MaxCallRecvMsgSize(64<<20)))
	if err != nil {
		return fail(fmt.Errorf("--datagateway-addr %s: %w", c.DatagatewayAddr, err))
	}
	closers.Push("datagateway connection", dgConn.Close)
	var selections selection.Store
	if c.RedisURL != "" {
		client, err := redisconn.Open(ctx, c.RedisURL)
		if err != nil {
			return fail(err)
		}
		closers.Push("redis", client.Close)
		selections = selection.NewRedis(client, selectionTTL)
	} else {
		selections = selection.NewMemory(selectionTTL, now)
	}
	blobs, err := blob.NewDir(c.SnapshotDir)
	if err != nil {
		return fail(fmt.Errorf("--snapshot-dir: %w", err))
	}

	log = log.With("service", Name)
	st := store.SQL(db)
	tenants := tenantv1.NewTenantServiceClient(tenantConn)
	serviceKey := cmp.Or(c.ServiceAPIKey, c.Server.BootstrapAdminKey)
	dg := datagatewayv1.NewConnectionServiceClient(dgConn)
	cache := models.New(modelPointer(st), blobs, c.ModelMemoryMB<<20, log)
	reloads := reload.New(reload.Options{
		Store: st, Blobs: blobs, Models: cache, Datagateway: dg, Credential: serviceKey, Log: log, Now: now,
		Owner: workerID(), Concurrency: c.ReloadConcurrency, TenantLimit: c.ReloadTenantLimit,
		QueryTimeout: c.ReloadQueryTimeout,
	})
	srv := api.New(api.Options{Store: st, Tenants: tenants, Models: cache, Selections: selections, Reloads: reloads,
		Datagateway: dg, Credential: serviceKey, Log: log, Now: now})
	engine := rollout.New(rollout.Options{
		Store: st, Log: log, Now: now, Owner: workerID(), Lease: rolloutLease, Poll: rolloutPoll,
	})
	workers := map[string]server.Worker{
		"rollouts":       engine.Run,
		"reloads":        reloads.Run,
		"purge":          purge.New(st, log, now, c.PurgeInterval).Run,
		"snapshot-sweep": purge.NewSnapshotSweeper(st, blobs, log, nil, snapshotGrace).Every(c.PurgeInterval),
	}
	if serviceKey != "" {
		workers["tenant-purge"] = purge.NewTenantFollower(tenants, serviceKey, st, log).Every(c.PurgeInterval).Run
	} else {
		log.Warn("no --service-api-key: reloads and live charts cannot query the datagateway, and the content of tenants the tenant service purges is kept, until one is configured")
	}
	s, err := server.New(c.Server, server.Service{
		Name: Name,
		Register: func(s *grpc.Server) {
			contentv1.RegisterSpaceServiceServer(s, api.SpaceServer{Server: srv})
			contentv1.RegisterAppServiceServer(s, api.AppServer{Server: srv})
			contentv1.RegisterTemplateServiceServer(s, api.TemplateServer{Server: srv})
			contentv1.RegisterRolloutServiceServer(s, api.RolloutServer{Server: srv})
			contentv1.RegisterReloadServiceServer(s, api.ReloadServer{Server: srv})
			contentv1.RegisterAppDataServiceServer(s, api.AppDataServer{Server: srv})
		},
		Ready:         func(ctx context.Context) (bool, error) { return db.AtHead(ctx, store.Migrations) },
		Workers:       workers,
		Closers:       closers,
		Authenticator: c.Authenticator,
	}, log)
	if err != nil {
		return fail(err)
	}
	return s, nil
}

// snapshotGrace spares young snapshots from the sweep of unused ones: a reload saves its
// snapshot moments before it points its app to it. Snapshots age by the wall clock (their
// files' times), not by Config.Now.
const snapshotGrace = 10 * time.Minute

// selectionTTL is how long a session's selections outlive its last change.
const selectionTTL = 24 * time.Hour

// modelPointer reads an app's serving snapshot from the store.
func modelPointer(st store.Store) models.Lookup {
	return func(ctx context.Context, tenant, app string) (models.Pointer, error) {
		m, err := st.GetAppModel(ctx, tenant, app)
		if errors.Is(err, store.ErrNotFound) {
			return models.Pointer{}, models.ErrNotLoaded
		}
		if err != nil {
			return models.Pointer{}, err
		}
		return models.Pointer{Reload: store.ReloadName(tenant, app, m.Reload), Snapshot: m.SnapshotKey, LoadTime: m.LoadTime}, nil
	}
}

// workerID names this replica's rollout leases in the database, so an operator can tell
// which process drives a rollout.
func workerID() string {
	host, _ := os.Hostname()
	return fmt.Sprintf("%s-%d-%08x", host, os.Getpid(), rand.Uint32())
}

// Migrate brings the schema at databaseURL to head.
func Migrate(ctx context.Context, databaseURL string, log *slog.Logger) error {
	return sqlstore.MigrateURL(ctx, databaseURL, Name, store.Migrations, log)
}
