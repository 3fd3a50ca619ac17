package datagateway_test

import (
	"cmp"
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/url"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	datagatewayv1 "github.com/oriel-dev/oriel/gen/pb/oriel/datagateway/v1"
	"github.com/oriel-dev/oriel/platform/apierr"
	"github.com/oriel-dev/oriel/platform/auth"
	"github.com/oriel-dev/oriel/platform/logging"
	"github.com/oriel-dev/oriel/platform/server"
	"github.com/oriel-dev/oriel/platform/sqlstore"
	"github.com/oriel-dev/oriel/platform/testkit"
	"github.com/oriel-dev/oriel/services/datagateway"
	"github.com/oriel-dev/oriel/services/datagateway/internal/store"
)

// service is a datagateway running for one test on its own PostgreSQL database, with
// clients for each of its gRPC services.
type service struct {
	srv          *server.Server
	dbURL, keys  string // what another replica of the same deployment shares
	stop         func() // stops the service (before the test ends, if need be)
	conn         *grpc.ClientConn
	clock        *testkit.Clock
	logs         *testkit.LogBuffer
	authn        *testkit.Principals
	store        *store.SQL // for what no RPC does, such as spending an enrollment token
	connections  datagatewayv1.ConnectionServiceClient
	agents       datagatewayv1.AgentServiceClient
	replications datagatewayv1.ReplicationServiceClient
	tunnel       datagatewayv1.AgentTunnelServiceClient
	// isv is a platform service account with datagateway.admin.
	isv context.Context
}

// newKeys returns a key-encryption keyring spec with one random key.
func newKeys() string {
	b := make([]byte, 32)
	_, _ = rand.Read(b)
	return "k1:" + base64.StdEncoding.EncodeToString(b)
}

// startService runs a datagateway for the test, on a database of its own.
func startService(t testing.TB) *service { return startServiceWith(t, nil) }

// startServiceWith is startService with configure applied to the configuration first.
func startServiceWith(t testing.TB, configure func(*datagateway.Config)) *service {
	t.Helper()
	return start(t, nil, configure)
}

// startReplica runs another replica of first's deployment: on its database, with its
// keys, clock and principals, so a credential works at either.
func (first *service) startReplica(t testing.TB, configure func(*datagateway.Config)) *service {
	t.Helper()
	return start(t, first, configure)
}

// start runs a datagateway: a replica of first's deployment, or a new one when first is
// nil.
func start(t testing.TB, first *service, configure func(*datagateway.Config)) *service {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	s := &service{clock: &testkit.Clock{}, logs: &testkit.LogBuffer{}, authn: &testkit.Principals{}}
	if first != nil {
		s.clock, s.authn, s.dbURL, s.keys = first.clock, first.authn, first.dbURL, first.keys
	} else {
		s.dbURL, s.keys = testkit.PostgresDatabase(t), newKeys()
		if err := datagateway.Migrate(ctx, s.dbURL, slog.New(slog.DiscardHandler)); err != nil {
			t.Fatalf("migrate: %v", err)
		}
	}
	dbURL := s.dbURL
	log, err := logging.New(s.logs, "debug")
	if err != nil {
		t.Fatal(err)
	}
	cfg := datagateway.Config{
		Server: server.Config{
			GRPCAddr: "127.0.0.1:0", HTTPAddr: "127.0.0.1:0",
			ShutdownTimeout: 5 * time.Second, ReadyInterval: 50 * time.Millisecond, CredentialCache: 5 * time.Second,
		},
		Database:          sqlstore.Config{URL: dbURL, MaxConns: 16},
		KeyEncryptionKeys: s.keys,
		DevMode:           true,
		RowLimit:          1000,
		QueryTimeout:      30 * time.Second,
		BatchRows:         100,
		HeartbeatInterval: time.Second,
		HeartbeatTimeout:  5 * time.Second,
		WALWarningBytes:   1 << 30,
		Now:               s.clock.Now,
		Authenticator:     s.authn,
	}
	if configure != nil {
		configure(&cfg)
	}
	s.srv, err = cfg.Complete(ctx, log)
	if err != nil {
		t.Fatalf("complete: %v", err)
	}
	done := make(chan error, 1)
	go func() { done <- s.srv.Run(ctx) }()
	s.stop = sync.OnceFunc(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("service stopped with: %v", err)
		}
	})
	t.Cleanup(s.stop)
	select {
	case <-s.srv.Ready():
	case <-time.After(10 * time.Second):
		t.Fatal("datagateway not ready after 10s")
	}
	db, err := sqlstore.Open(ctx, dbURL, sqlstore.Options{Schema: datagateway.Name, MaxConns: 4})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(db.Close)
	s.store = store.New(db, s.clock.Now)
	s.conn, err = grpc.NewClient(s.srv.GRPCAddr(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.conn.Close() })
	s.connections = datagatewayv1.NewConnectionServiceClient(s.conn)
	s.agents = datagatewayv1.NewAgentServiceClient(s.conn)
	s.replications = datagatewayv1.NewReplicationServiceClient(s.conn)
	s.tunnel = datagatewayv1.NewAgentTunnelServiceClient(s.conn)
	s.isv = s.as(platformAccount("isv", auth.ScopeDatagatewayAdmin))
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

// embedUser is a user of tenant signed in with an embed token with tenant roles.
func embedUser(tenant, id string, roles ...string) *auth.Principal {
	user := store.TenantName(tenant) + "/users/" + id
	es := &auth.EmbedSession{
		Name: store.TenantName(tenant) + "/embedSessions/" + id, User: user, Roles: roles, ExpireTime: time.Now().Add(time.Hour),
	}
	return &auth.Principal{Kind: auth.KindEmbedSession, ID: user, Credential: es.Name, Tenant: tenant, EmbedSession: es}
}

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

// ignore drops a unary call's response, keeping its error.
func ignore[T any](_ T, err error) error { return err }

// firstMessage opens a server stream with open and returns the error of its first
// message: nil when one arrives (or the stream ends cleanly).
func firstMessage[T any](stream interface{ Recv() (T, error) }, err error) error {
	if err != nil {
		return err
	}
	if _, err := stream.Recv(); err != nil && !errors.Is(err, io.EOF) {
		return err
	}
	return nil
}

// postgresParams reach the test PostgreSQL, which the datagateway queries directly.
func postgresParams() *datagatewayv1.PostgresParams { return paramsOf(testPostgresURL()) }

// testPostgresURL is the admin URL of the test PostgreSQL (what `make test` exports).
func testPostgresURL() string {
	if u := strings.TrimSpace(os.Getenv(testkit.PostgresURLEnv)); u != "" {
		return u
	}
	return testkit.DefaultPostgresURL
}

// paramsOf turns a test database URL (user postgres, trust auth) into connection
// parameters, so connections reach whichever server the tests run against.
func paramsOf(rawURL string) *datagatewayv1.PostgresParams {
	u, err := url.Parse(rawURL)
	if err != nil {
		panic(fmt.Sprintf("test PostgreSQL URL: %v", err))
	}
	port, _ := strconv.Atoi(cmp.Or(u.Port(), "5432"))
	return &datagatewayv1.PostgresParams{
		Host: u.Hostname(), Port: int32(port), Database: strings.TrimPrefix(u.Path, "/"), User: u.User.Username(),
		SslMode: datagatewayv1.PostgresParams_SSL_MODE_DISABLE,
	}
}

// createConnection creates a postgres connection of tenant (through pool, "" for
// direct) with password as its credential ("" for none), as the ISV.
func (s *service) createConnection(t testing.TB, tenant, id, pool, password string) *datagatewayv1.Connection {
	t.Helper()
	c := &datagatewayv1.Connection{DisplayName: "Connection " + id, Postgres: postgresParams(), AgentPool: pool}
	if password != "" {
		c.Credentials = &datagatewayv1.Credentials{Password: password}
	}
	resp, err := s.connections.CreateConnection(s.isv, &datagatewayv1.CreateConnectionRequest{
		Parent: store.TenantName(tenant), ConnectionId: id, Connection: c,
	})
	if err != nil {
		t.Fatalf("create connection %s/%s: %v", tenant, id, err)
	}
	return resp.GetConnection()
}

// createUnreachable creates a direct postgres connection of tenant to a port where
// nothing listens, as the ISV.
func (s *service) createUnreachable(t testing.TB, tenant, id string) *datagatewayv1.Connection {
	t.Helper()
	params := postgresParams()
	params.Port = 1
	resp, err := s.connections.CreateConnection(s.isv, &datagatewayv1.CreateConnectionRequest{
		Parent: store.TenantName(tenant), ConnectionId: id,
		Connection: &datagatewayv1.Connection{DisplayName: "Connection " + id, Postgres: params},
	})
	if err != nil {
		t.Fatalf("create connection %s/%s: %v", tenant, id, err)
	}
	return resp.GetConnection()
}

// createAgent creates an agent of tenant in pool, as the ISV.
func (s *service) createAgent(t testing.TB, tenant, id, pool string) *datagatewayv1.Agent {
	t.Helper()
	resp, err := s.agents.CreateAgent(s.isv, &datagatewayv1.CreateAgentRequest{
		Parent: store.TenantName(tenant), AgentId: id, Agent: &datagatewayv1.Agent{DisplayName: "Agent " + id, Pool: pool},
	})
	if err != nil {
		t.Fatalf("create agent %s/%s: %v", tenant, id, err)
	}
	return resp.GetAgent()
}

// createReplication creates a replication of tenant from source to target (connection
// ids), as the ISV.
func (s *service) createReplication(t testing.TB, tenant, id, source, target string) *datagatewayv1.Replication {
	t.Helper()
	resp, err := s.replications.CreateReplication(s.isv, &datagatewayv1.CreateReplicationRequest{
		Parent: store.TenantName(tenant), ReplicationId: id,
		Replication: &datagatewayv1.Replication{
			DisplayName:      "Replication " + id,
			SourceConnection: store.ConnectionName(tenant, source),
			TargetConnection: store.ConnectionName(tenant, target),
			Tables:           []string{"public.orders"},
		},
	})
	if err != nil {
		t.Fatalf("create replication %s/%s: %v", tenant, id, err)
	}
	return resp.GetReplication()
}

// requireAbsent fails the test if text holds secret.
func requireAbsent(t testing.TB, where, text, secret string) {
	t.Helper()
	if strings.Contains(text, secret) {
		t.Fatalf("%s holds the secret %q:\n%s", where, secret, text)
	}
}

// errorInfo returns the metadata of a status error's ErrorInfo.
func errorInfo(err error) map[string]string {
	st, _ := status.FromError(err)
	for _, d := range st.Details() {
		if info, ok := d.(*errdetails.ErrorInfo); ok {
			return info.GetMetadata()
		}
	}
	return nil
}
