package content_test

import (
	"cmp"
	"context"
	"log/slog"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/timestamppb"

	contentv1 "github.com/oriel-dev/oriel/gen/pb/oriel/content/v1"
	"github.com/oriel-dev/oriel/platform/apierr"
	"github.com/oriel-dev/oriel/platform/auth"
	"github.com/oriel-dev/oriel/platform/logging"
	"github.com/oriel-dev/oriel/platform/server"
	"github.com/oriel-dev/oriel/platform/sqlstore"
	"github.com/oriel-dev/oriel/platform/testkit"
	"github.com/oriel-dev/oriel/services/content"
	"github.com/oriel-dev/oriel/services/content/internal/store"
)

// service is a content service running for one test on its own PostgreSQL database, with
// clients for each of its gRPC services.
type service struct {
	srv       *server.Server
	conn      *grpc.ClientConn
	clock     *testkit.Clock
	logs      *testkit.LogBuffer
	authn     *testkit.Principals
	store     store.Store // for fixtures no RPC makes, such as a rollout that has ended
	spaces    contentv1.SpaceServiceClient
	apps      contentv1.AppServiceClient
	templates contentv1.TemplateServiceClient
	rollouts  contentv1.RolloutServiceClient
	reloads   contentv1.ReloadServiceClient
	data      contentv1.AppDataServiceClient
	// isv is a platform service account with every content scope.
	isv context.Context
	// dbURL and snapshotDir are where it keeps its state, for a second replica.
	dbURL, snapshotDir string
}

// serviceOptions change how startServiceWith runs content.
type serviceOptions struct {
	// tenantAddr is the tenant service rollout filters go to; by default nothing listens
	// there, as tests that select tenants by explicit lists never ask it.
	tenantAddr string
	// datagatewayAddr runs reloads' SQL; by default nothing listens there, and scripts of
	// inline tables need none.
	datagatewayAddr string
	// serviceKey is content's own credential towards the datagateway.
	serviceKey string
	// authn, if set, issues and checks credentials instead of a fresh testkit.Principals:
	// replicas of one test share it.
	authn *testkit.Principals
	// dbURL and snapshotDir, if set, are another replica's: the two serve the same apps.
	dbURL, snapshotDir string
}

// startService runs a content service for the test, on a database of its own.
func startService(t testing.TB) *service { return startServiceWith(t, serviceOptions{}) }

// startServiceWith runs a content service for the test as o says.
func startServiceWith(t testing.TB, o serviceOptions) *service {
	t.Helper()
	if o.tenantAddr == "" {
		o.tenantAddr = "127.0.0.1:1"
	}
	if o.datagatewayAddr == "" {
		o.datagatewayAddr = "127.0.0.1:1"
	}
	ctx, cancel := context.WithCancel(context.Background())
	s := &service{clock: &testkit.Clock{}, logs: &testkit.LogBuffer{}, authn: cmp.Or(o.authn, &testkit.Principals{})}
	dbURL := o.dbURL
	if dbURL == "" {
		dbURL = testkit.PostgresDatabase(t)
	}
	if o.snapshotDir == "" {
		o.snapshotDir = t.TempDir()
	}
	s.dbURL, s.snapshotDir = dbURL, o.snapshotDir
	if err := content.Migrate(ctx, dbURL, slog.New(slog.DiscardHandler)); err != nil {
		t.Fatalf("migrate: %v", err)
	}
	log, err := logging.New(s.logs, "debug")
	if err != nil {
		t.Fatal(err)
	}
	s.srv, err = content.Config{
		Server: server.Config{
			GRPCAddr: "127.0.0.1:0", HTTPAddr: "127.0.0.1:0",
			ShutdownTimeout: 5 * time.Second, ReadyInterval: 50 * time.Millisecond, CredentialCache: 5 * time.Second,
		},
		Database:           sqlstore.Config{URL: dbURL, MaxConns: 32},
		TenantAddr:         o.tenantAddr,
		DatagatewayAddr:    o.datagatewayAddr,
		ServiceAPIKey:      o.serviceKey,
		RedisURL:           testkit.RedisURL(t),
		SnapshotDir:        o.snapshotDir,
		ModelMemoryMB:      256,
		ReloadConcurrency:  4,
		ReloadTenantLimit:  1,
		ReloadQueryTimeout: time.Minute,
		PurgeInterval:      50 * time.Millisecond,
		Now:                s.clock.Now,
		Authenticator:      s.authn,
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
	select {
	case <-s.srv.Ready():
	case <-time.After(10 * time.Second):
		t.Fatal("content not ready after 10s")
	}
	db, err := sqlstore.Open(ctx, dbURL, sqlstore.Options{Schema: content.Name, MaxConns: 4})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(db.Close)
	s.store = store.SQL(db)
	s.conn, err = grpc.NewClient(s.srv.GRPCAddr(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.conn.Close() })
	s.spaces = contentv1.NewSpaceServiceClient(s.conn)
	s.apps = contentv1.NewAppServiceClient(s.conn)
	s.templates = contentv1.NewTemplateServiceClient(s.conn)
	s.rollouts = contentv1.NewRolloutServiceClient(s.conn)
	s.reloads = contentv1.NewReloadServiceClient(s.conn)
	s.data = contentv1.NewAppDataServiceClient(s.conn)
	s.isv = s.as(platformAccount("isv", auth.ScopeContentRead, auth.ScopeContentWrite))
	return s
}

// as returns a context whose calls carry a new credential standing for p.
func (s *service) as(p *auth.Principal) context.Context {
	return metadata.AppendToOutgoingContext(context.Background(), "authorization", "Bearer "+s.authn.Issue(p))
}

// platformAccount is a platform service account with scopes.
func platformAccount(id string, scopes ...auth.Scope) *auth.Principal {
	return &auth.Principal{Kind: auth.KindServiceAccount, ID: "serviceAccounts/" + id, Scopes: scopes}
}

// tenantAccount is a service account of tenant with scopes.
func tenantAccount(tenant, id string, scopes ...auth.Scope) *auth.Principal {
	return &auth.Principal{
		Kind: auth.KindServiceAccount, ID: store.TenantName(tenant) + "/serviceAccounts/" + id, Tenant: tenant, Scopes: scopes,
	}
}

// embedUser is a user of tenant signed in with an embed token: tenant roles ("admin",
// "developer", "viewer"), group ids, and the apps the token may open (nil: any).
func embedUser(tenant, id string, roles, groups, allowed []string) *auth.Principal {
	user := userName(tenant, id)
	es := &auth.EmbedSession{
		Name: store.TenantName(tenant) + "/embedSessions/" + id, User: user, Roles: roles, AllowedResources: allowed,
		ExpireTime: time.Now().Add(time.Hour),
	}
	for _, g := range groups {
		es.Groups = append(es.Groups, groupName(tenant, g))
	}
	return &auth.Principal{Kind: auth.KindEmbedSession, ID: user, Credential: es.Name, Tenant: tenant, EmbedSession: es}
}

func userName(tenant, id string) string  { return store.TenantName(tenant) + "/users/" + id }
func groupName(tenant, id string) string { return store.TenantName(tenant) + "/groups/" + id }

// wantCode fails the test unless err has code (and reason, if not empty).
func wantCode(t testing.TB, err error, code codes.Code, reason string) {
	t.Helper()
	if status.Code(err) != code || (reason != "" && apierr.Reason(err) != reason) {
		t.Fatalf("got %v (reason %q), want %s %s", err, apierr.Reason(err), code, reason)
	}
}

// must fails the test on err and returns v.
func must[T any](t testing.TB) func(v T, err error) T {
	return func(v T, err error) T {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
}

// inlineOrders is a load script of one inline table, which reloads without a datagateway.
const inlineOrders = `Orders:
LOAD * INLINE [
order_id, region, amount
1, EU, 10
2, EU, 20
3, US, 5
];`

// definition is a small valid app definition: a sheet with a KPI and a bar chart.
func definition(script string) *contentv1.AppDefinition {
	return &contentv1.AppDefinition{
		Sheets: []*contentv1.Sheet{{
			Id: "overview", Title: "Overview",
			Charts: []*contentv1.Chart{
				{
					Id: "revenue", Title: "Revenue", Kind: contentv1.Chart_KIND_KPI,
					Measures: []*contentv1.Measure{{Aggregation: contentv1.Measure_AGGREGATION_SUM, Field: "amount", NumberFormat: "#,##0"}},
					Position: &contentv1.GridPosition{X: 0, Y: 0, Width: 6, Height: 4},
				},
				{
					Id: "by-region", Title: "By region", Kind: contentv1.Chart_KIND_BAR, Dimensions: []string{"region"},
					Measures: []*contentv1.Measure{{Aggregation: contentv1.Measure_AGGREGATION_COUNT, Field: "order_id", Label: "Orders"}},
					Position: &contentv1.GridPosition{X: 6, Y: 0, Width: 18, Height: 8},
				},
			},
		}},
		LoadScript: script,
		Variables:  map[string]string{"schema": "public"},
	}
}

// createSpace creates a space of tenant as the ISV and returns its name.
func (s *service) createSpace(t testing.TB, tenant, id string, typ contentv1.Space_Type) string {
	t.Helper()
	resp, err := s.spaces.CreateSpace(s.isv, &contentv1.CreateSpaceRequest{
		Parent: store.TenantName(tenant), SpaceId: id,
		Space: &contentv1.Space{DisplayName: "Space " + id, Type: typ},
	})
	if err != nil {
		t.Fatalf("create space %s/%s: %v", tenant, id, err)
	}
	return resp.GetSpace().GetName()
}

// grant gives member (a user or group name) role in space, as the ISV.
func (s *service) grant(t testing.TB, space, member string, role contentv1.SpaceRole) {
	t.Helper()
	m := &contentv1.SpaceMember{Role: role}
	if strings.Contains(member, "/groups/") {
		m.Group = member
	} else {
		m.User = member
	}
	if _, err := s.spaces.CreateSpaceMember(s.isv, &contentv1.CreateSpaceMemberRequest{Parent: space, SpaceMember: m}); err != nil {
		t.Fatalf("grant %s %s in %s: %v", member, role, space, err)
	}
}

// putApp stores an app owned by owner in space directly, for an owner that may not create
// apps itself (a viewer whose app predates its demotion, say).
func (s *service) putApp(t testing.TB, tenant, id, space, owner string) string {
	t.Helper()
	now := s.clock.Now().UTC().Truncate(time.Microsecond)
	app := &contentv1.App{
		Name: store.AppName(tenant, id), Title: "App " + id, Space: space, Owner: owner,
		Definition: definition(inlineOrders), State: contentv1.App_STATE_ACTIVE,
	}
	app.CreateTime, app.UpdateTime = timestamppb.New(now), timestamppb.New(now)
	err := s.store.ReadWriteTx(context.Background(), func(ctx context.Context, tx store.Tx) error {
		return tx.CreateApp(ctx, tenant, id, app, store.Revision{
			Source: contentv1.AppRevision_SOURCE_SAVE, Author: owner, Time: now,
		})
	})
	if err != nil {
		t.Fatalf("put app %s: %v", app.GetName(), err)
	}
	return app.GetName()
}

// reloadAndWait reloads app as the ISV and waits until the reload succeeds; it returns the
// reload's name.
func (s *service) reloadAndWait(t testing.TB, app string) string {
	t.Helper()
	r, err := s.reloads.CreateReload(s.isv, &contentv1.CreateReloadRequest{Parent: app})
	if err != nil {
		t.Fatalf("reload %s: %v", app, err)
	}
	got := s.waitReload(t, r.GetReload().GetName())
	if got.GetState() != contentv1.Reload_STATE_SUCCEEDED {
		t.Fatalf("reload of %s ended %s: %s", app, got.GetState(), got.GetError())
	}
	return got.GetName()
}

// waitReload waits for a reload to end and returns it.
func (s *service) waitReload(t testing.TB, name string) *contentv1.Reload {
	t.Helper()
	ctx, cancel := context.WithTimeout(s.isv, 60*time.Second)
	defer cancel()
	stream, err := s.reloads.WatchReload(ctx, &contentv1.WatchReloadRequest{Name: name})
	if err != nil {
		t.Fatal(err)
	}
	var last *contentv1.Reload
	for {
		resp, err := stream.Recv()
		if err != nil {
			if last != nil && (last.GetState() == contentv1.Reload_STATE_SUCCEEDED ||
				last.GetState() == contentv1.Reload_STATE_FAILED || last.GetState() == contentv1.Reload_STATE_CANCELED) {
				return last
			}
			t.Fatalf("watch %s: %v (last seen %v)", name, err, last)
		}
		last = resp.GetReload()
	}
}
