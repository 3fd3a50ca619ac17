package identity_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/pem"
	"log/slog"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/google/uuid"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"
	"google.golang.org/protobuf/types/known/durationpb"

	identityv1 "github.com/oriel-dev/oriel/gen/pb/oriel/identity/v1"
	"github.com/oriel-dev/oriel/platform/auth"
	"github.com/oriel-dev/oriel/platform/logging"
	"github.com/oriel-dev/oriel/platform/server"
	"github.com/oriel-dev/oriel/platform/sqlstore"
	"github.com/oriel-dev/oriel/platform/testkit"
	"github.com/oriel-dev/oriel/services/identity"
)

// service is an identity service running for one test on PostgreSQL and Redis, with
// clients for each of its gRPC services.
type service struct {
	srv       *server.Server
	conn      *grpc.ClientConn
	adminKey  string
	redisURL  string
	clock     *testkit.Clock
	logs      *testkit.LogBuffer
	providers identityv1.IdentityProviderServiceClient
	directory identityv1.DirectoryServiceClient
	accounts  identityv1.ServiceAccountServiceClient
	tokens    identityv1.TokenServiceClient
}

type options struct {
	// redisURL overrides the test Redis (e.g. a proxy that can be cut).
	redisURL string
	// memory keeps sessions in process memory (dev mode) instead of Redis.
	memory bool
	// logLevel is the service's; tests read debug lines, benchmarks run at the production
	// default (info), where successful introspections are not logged.
	logLevel string
}

func startService(t testing.TB, o options) *service {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	s := &service{adminKey: auth.GenerateAPIKey(), clock: &testkit.Clock{}, logs: &testkit.LogBuffer{}}
	dbURL := testkit.PostgresDatabase(t)
	if err := identity.Migrate(ctx, dbURL, slog.New(slog.DiscardHandler)); err != nil {
		t.Fatalf("migrate: %v", err)
	}
	s.redisURL = o.redisURL
	if s.redisURL == "" && !o.memory {
		s.redisURL = testkit.RedisURL(t)
	}
	level := o.logLevel
	if level == "" {
		level = "debug"
	}
	log, err := logging.New(s.logs, level)
	if err != nil {
		t.Fatal(err)
	}
	s.srv, err = identity.Config{
		Server: server.Config{
			GRPCAddr: "127.0.0.1:0", HTTPAddr: "127.0.0.1:0", BootstrapAdminKey: s.adminKey,
			ShutdownTimeout: 5 * time.Second, ReadyInterval: 50 * time.Millisecond, CredentialCache: 5 * time.Second,
		},
		Database: sqlstore.Config{URL: dbURL, MaxConns: 16},
		RedisURL: s.redisURL,
		DevMode:  o.memory,
		Now:      s.clock.Now,
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
		t.Fatal("identity not ready after 10s")
	}
	s.conn, err = grpc.NewClient(s.srv.GRPCAddr(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.conn.Close() })
	s.providers = identityv1.NewIdentityProviderServiceClient(s.conn)
	s.directory = identityv1.NewDirectoryServiceClient(s.conn)
	s.accounts = identityv1.NewServiceAccountServiceClient(s.conn)
	s.tokens = identityv1.NewTokenServiceClient(s.conn)
	return s
}

// as returns ctx carrying credential.
func as(ctx context.Context, credential string) context.Context {
	return metadata.AppendToOutgoingContext(ctx, "authorization", "Bearer "+credential)
}

func (s *service) admin() context.Context { return as(context.Background(), s.adminKey) }

// isv is an ISV's signing side: a key pair registered as a tenant's provider.
type isv struct {
	tenant   string
	provider string // resource name
	issuer   string
	kid      string
	key      *ecdsa.PrivateKey
}

// newISV registers an ES256 provider for a new tenant, with the groups claim and a
// region attribute mapped.
func newISV(t testing.TB, s *service) *isv {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	der, err := x509.MarshalPKIXPublicKey(&key.PublicKey)
	if err != nil {
		t.Fatal(err)
	}
	i := &isv{tenant: testkit.UniqueID("t"), issuer: "https://" + testkit.UniqueID("isv") + ".example.com", kid: "k1", key: key}
	resp, err := s.providers.CreateIdentityProvider(s.admin(), &identityv1.CreateIdentityProviderRequest{
		Parent: "tenants/" + i.tenant, IdentityProviderId: "main",
		IdentityProvider: &identityv1.IdentityProvider{
			DisplayName: "ISV backend",
			Jwt: &identityv1.JwtProvider{
				Issuer: i.issuer,
				Keys: []*identityv1.SigningKey{{
					Kid: i.kid, Alg: identityv1.Algorithm_ALGORITHM_ES256,
					Pem: string(pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der})),
				}},
				Claims:           &identityv1.ClaimMapping{Attributes: map[string]string{"region": "region"}},
				MaxTokenLifetime: durationpb.New(10 * time.Minute),
			},
		},
	})
	if err != nil {
		t.Fatalf("create provider: %v", err)
	}
	i.provider = resp.GetIdentityProvider().GetName()
	return i
}

// sign makes a JWT for subject with a fresh jti; extra claims override the defaults.
func (i *isv) sign(t testing.TB, now time.Time, subject string, extra jwt.MapClaims) string {
	t.Helper()
	claims := jwt.MapClaims{
		"iss": i.issuer, "aud": "oriel", "sub": subject, "name": "User " + subject,
		"email": subject + "@example.com", "groups": []string{"analysts"}, "region": "emea",
		"iat": now.Unix(), "exp": now.Add(5 * time.Minute).Unix(), "jti": uuid.NewString(),
	}
	for k, v := range extra {
		if v == nil {
			delete(claims, k)
			continue
		}
		claims[k] = v
	}
	tok := jwt.NewWithClaims(jwt.SigningMethodES256, claims)
	tok.Header["kid"] = i.kid
	signed, err := tok.SignedString(i.key)
	if err != nil {
		t.Fatal(err)
	}
	return signed
}

// exchange trades a JWT for an embed token with the JWT as the credential.
func (s *service) exchange(t testing.TB, tenant, token string) *identityv1.ExchangeTokenResponse {
	t.Helper()
	resp, err := s.tokens.ExchangeToken(as(context.Background(), token), &identityv1.ExchangeTokenRequest{Parent: "tenants/" + tenant})
	if err != nil {
		t.Fatalf("exchange: %v", err)
	}
	return resp
}

// tenantKey creates a tenant service account with scopes and returns a key of it.
func (s *service) tenantKey(t testing.TB, tenant string, scopes ...string) string {
	t.Helper()
	id := testkit.UniqueID("sa")
	if _, err := s.accounts.CreateServiceAccount(s.admin(), &identityv1.CreateServiceAccountRequest{
		Parent: "tenants/" + tenant, ServiceAccountId: id, ServiceAccount: &identityv1.ServiceAccount{Scopes: scopes},
	}); err != nil {
		t.Fatal(err)
	}
	key, err := s.accounts.CreateApiKey(s.admin(), &identityv1.CreateApiKeyRequest{Parent: "tenants/" + tenant + "/serviceAccounts/" + id})
	if err != nil {
		t.Fatal(err)
	}
	return key.GetSecret()
}
