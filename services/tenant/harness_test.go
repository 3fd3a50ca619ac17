package tenant_test

import (
	"context"
	"log/slog"
	"strings"
	"testing"
	"time"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	tenantv1 "github.com/oriel-dev/oriel/gen/pb/oriel/tenant/v1"
	"github.com/oriel-dev/oriel/platform/auth"
	"github.com/oriel-dev/oriel/platform/logging"
	"github.com/oriel-dev/oriel/platform/server"
	"github.com/oriel-dev/oriel/platform/sqlstore"
	"github.com/oriel-dev/oriel/platform/testkit"
	"github.com/oriel-dev/oriel/services/tenant"
)

// service is a tenant service running for one test, with a client that carries the admin
// key and one that carries nothing.
type service struct {
	srv         *server.Server
	databaseURL string
	clock       *testkit.Clock
	logs        *testkit.LogBuffer
	client      tenantv1.TenantServiceClient
	conn        *grpc.ClientConn
	adminKey    string
}

type options struct {
	databaseURL string // default: a fresh PostgreSQL database
	noMigrate   bool
	purgeEvery  time.Duration
}

// startService runs the tenant service as `tenant serve` would, on loopback ports.
func startService(t *testing.T, opts options) *service {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	s := &service{databaseURL: opts.databaseURL, clock: &testkit.Clock{}, logs: &testkit.LogBuffer{}, adminKey: auth.GenerateAPIKey()}
	if s.databaseURL == "" {
		s.databaseURL = testkit.PostgresDatabase(t)
	}
	log, err := logging.New(s.logs, "debug")
	if err != nil {
		t.Fatal(err)
	}
	if !opts.noMigrate {
		if err := tenant.Migrate(ctx, s.databaseURL, slog.New(slog.DiscardHandler)); err != nil {
			t.Fatalf("migrate: %v", err)
		}
	}
	purgeEvery := opts.purgeEvery
	if purgeEvery == 0 {
		purgeEvery = time.Hour
	}
	s.srv, err = tenant.Config{
		Server: server.Config{
			GRPCAddr: "127.0.0.1:0", HTTPAddr: "127.0.0.1:0", BootstrapAdminKey: s.adminKey,
			ShutdownTimeout: 5 * time.Second, ReadyInterval: 50 * time.Millisecond,
		},
		Database:      sqlstore.Config{URL: s.databaseURL, MaxConns: 8},
		Regions:       tenant.DefaultRegions,
		PurgeInterval: purgeEvery,
		Now:           s.clock.Now,
	}.Complete(ctx, log)
	if err != nil {
		t.Fatalf("complete: %v", err)
	}
	done := make(chan error, 1)
	go func() { done <- s.srv.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("service stopped with: %v", err)
		}
	})
	if !opts.noMigrate {
		select {
		case <-s.srv.Ready():
		case <-time.After(10 * time.Second):
			t.Fatal("service not ready after 10s")
		}
	}
	s.conn, err = grpc.NewClient(s.srv.GRPCAddr(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.conn.Close() })
	s.client = tenantv1.NewTenantServiceClient(s.conn)
	return s
}

// admin returns ctx carrying the bootstrap admin key.
func (s *service) admin(ctx context.Context) context.Context {
	return withKey(ctx, s.adminKey)
}

func withKey(ctx context.Context, key string) context.Context {
	return metadata.AppendToOutgoingContext(ctx, "authorization", "Bearer "+key)
}

// newTenant is a valid CreateTenantRequest with unique id and hostname.
func newTenant(prefix string) *tenantv1.CreateTenantRequest {
	id := testkit.UniqueID(prefix)
	return &tenantv1.CreateTenantRequest{
		TenantId: id,
		Tenant: &tenantv1.Tenant{
			DisplayName: "Tenant " + id,
			Hostnames:   []string{id + ".analytics.example.com"},
			Region:      "eu-west",
		},
	}
}

// create creates req's tenant and fails the test if that fails.
func (s *service) create(t *testing.T, req *tenantv1.CreateTenantRequest) *tenantv1.Tenant {
	t.Helper()
	resp, err := s.client.CreateTenant(s.admin(context.Background()), req)
	if err != nil {
		t.Fatalf("CreateTenant(%s): %v", req.GetTenantId(), err)
	}
	return resp.GetTenant()
}

func metadataCtx(kv ...string) context.Context {
	return metadata.NewOutgoingContext(context.Background(), metadata.Pairs(kv...))
}

func migrate(databaseURL string) error {
	return tenant.Migrate(context.Background(), databaseURL, slog.New(slog.DiscardHandler))
}

// breakSchema drops the outbox under a running service, so its next write fails inside
// the database driver.
func breakSchema(t *testing.T, databaseURL string) {
	t.Helper()
	db, err := sqlstore.Open(context.Background(), databaseURL, sqlstore.Options{Schema: tenant.Name})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if _, err := db.Exec(context.Background(), "DROP TABLE tenant_events"); err != nil {
		t.Fatal(err)
	}
}

// correlationID returns the correlation id an INTERNAL error carries.
func correlationID(t *testing.T, err error) string {
	t.Helper()
	for _, d := range status.Convert(err).Details() {
		if info, ok := d.(*errdetails.ErrorInfo); ok && info.GetMetadata()["correlation_id"] != "" {
			id := info.GetMetadata()["correlation_id"]
			if !strings.Contains(status.Convert(err).Message(), id) {
				t.Errorf("message %q does not quote correlation id %s", status.Convert(err).Message(), id)
			}
			return id
		}
	}
	t.Fatalf("no correlation id in %v", err)
	return ""
}
