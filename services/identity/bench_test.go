// getrusage, for the CPU time per call, is unix-only; the services run on Linux.

//go:build unix

package identity_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"net"
	"os"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"text/tabwriter"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/google/uuid"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/protobuf/types/known/durationpb"

	identityv1 "github.com/oriel-dev/oriel/gen/pb/oriel/identity/v1"
	"github.com/oriel-dev/oriel/platform/redisconn"
	"github.com/oriel-dev/oriel/platform/testkit"
	"github.com/oriel-dev/oriel/services/identity/internal/jwtauth"
)

// throughputCallers is how many calls are in flight at once in every throughput figure,
// as in the benchmarks and the tenant service's.
const throughputCallers = 32

// benchUsers is the steady state the exchanges model: a modest set of users of one ISV
// signing in again and again, so that the directory holds them and their logins repeat.
const benchUsers = 100

// benchSessions is how many live embed tokens the introspections cycle through.
const benchSessions = 1000

// Issue targets on 2 cores, printed beside the figures they apply to.
const (
	exchangeTarget   = 5_000
	introspectTarget = 15_000
)

// throughput is one row of the table.
type throughput struct {
	perSecond float64
	// cpuPerCall is the CPU time (user + system) this process spent per call: the client
	// and the service together, without Redis and PostgreSQL, which run elsewhere.
	cpuPerCall time.Duration
}

// runCallers runs call from throughputCallers goroutines until b.N calls are done and
// returns the throughput achieved. call's i counts 0 … b.N-1 across the callers, so it
// can index work prepared for this run.
func runCallers(b *testing.B, call func(ctx context.Context, i int) error) throughput {
	b.Helper()
	procs := runtime.GOMAXPROCS(0)
	b.SetParallelism((throughputCallers + procs - 1) / procs)
	var next atomic.Int64
	ctx := context.Background()
	before := processCPU(b)
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if err := call(ctx, int(next.Add(1)-1)); err != nil {
				b.Error(err)
				return
			}
		}
	})
	b.StopTimer()
	t := throughput{
		perSecond:  float64(b.N) / b.Elapsed().Seconds(),
		cpuPerCall: (processCPU(b) - before) / time.Duration(b.N),
	}
	b.ReportMetric(t.perSecond, "calls/s")
	b.ReportMetric(float64(t.cpuPerCall.Microseconds()), "cpu-µs/call")
	return t
}

// processCPU is the CPU time this process has used so far.
func processCPU(b *testing.B) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// BenchmarkIdentityThroughput measures ExchangeToken (ES256 and RS256 ISV JWTs) and
// IntrospectToken over gRPC with 32 concurrent callers, on PostgreSQL and Redis, beside
// floors measured in the same run: JWT verification alone, a Redis SET+GET alone and a
// bare grpc-go empty call. The table printed at the end is what the README quotes; its
// last column is the CPU time this process (client and service, not Redis or PostgreSQL)
// spent per call, which a busy shared machine distorts far less than calls/s.
//
// Every JWT is single-use, so the JWTs a run exchanges are signed before its timer starts
// (signing is the ISV's work, not identity's); they belong to benchUsers users who have
// all signed in once before, which is the steady state of an embedded product.
func BenchmarkIdentityThroughput(b *testing.B) {
	s := startService(b, options{logLevel: "info"})
	es := newBenchSigner(newISV(b, s))
	rs := newRS256ISV(b, s)
	for _, sg := range []*benchSigner{es, rs} {
		bindAnalysts(b, s, sg.tenant)
		// Every user signs in once, so the timed exchanges find them in the directory.
		for i, token := range sg.presign(b, benchUsers) {
			if _, err := s.tokens.ExchangeToken(as(context.Background(), token), &identityv1.ExchangeTokenRequest{Parent: "tenants/" + sg.tenant}); err != nil {
				b.Fatalf("first sign-in of user %d: %v", i, err)
			}
		}
	}
	// The live sessions introspected: long enough lived to outlast the whole benchmark.
	live := make([]string, 0, benchSessions)
	for _, token := range es.presign(b, benchSessions) {
		resp, err := s.tokens.ExchangeToken(as(context.Background(), token), &identityv1.ExchangeTokenRequest{
			Parent: "tenants/" + es.tenant, Ttl: durationpb.New(time.Hour), AllowedOrigin: "https://app.example.com",
		})
		if err != nil {
			b.Fatal(err)
		}
		live = append(live, resp.GetToken())
	}
	minter := s.tenantKey(b, es.tenant, "embed.mint")

	floor := healthpb.NewHealthClient(dialBench(b, startBareGRPC(b)))
	rdb, err := redisconn.Open(context.Background(), s.redisURL) // the service's own client settings
	if err != nil {
		b.Fatal(err)
	}
	defer rdb.Close()
	redisPrefix := "oriel:{" + testkit.UniqueID("bench") + "}:floor:"
	// About the size of a stored session, so the floor moves the bytes introspection moves.
	redisValue := strings.Repeat("x", 300)
	verifier := jwtauth.NewVerifier(jwtauth.Options{Now: s.clock.Now})
	esProviders, rsProviders := es.storedProviders(b, s), rs.storedProviders(b, s)
	esJWT, rsJWT := es.presign(b, 1)[0], rs.presign(b, 1)[0]

	const (
		floorGRPC      = "floor: grpc-go empty call"
		floorRedis     = "floor: Redis SET+GET"
		floorES256     = "floor: JWT verify ES256"
		floorRS256     = "floor: JWT verify RS256"
		exchangeES256  = "ExchangeToken ES256 JWT"
		exchangeRS256  = "ExchangeToken RS256 JWT"
		introspectOwn  = "IntrospectToken embed token as credential"
		introspectBody = "IntrospectToken by embed.mint key"
	)
	order := []string{floorGRPC, floorRedis, floorES256, floorRS256, exchangeES256, exchangeRS256, introspectOwn, introspectBody}
	exchange := func(sg *benchSigner) func(b *testing.B) throughput {
		return func(b *testing.B) throughput {
			jwts := sg.presign(b, b.N)
			parent := "tenants/" + sg.tenant
			return runCallers(b, func(ctx context.Context, i int) error {
				resp, err := s.tokens.ExchangeToken(as(ctx, jwts[i]), &identityv1.ExchangeTokenRequest{Parent: parent})
				if err == nil && resp.GetToken() == "" {
					err = errors.New("exchange returned no token")
				}
				return err
			})
		}
	}
	verify := func(token string, providers []*identityv1.IdentityProvider) func(b *testing.B) throughput {
		return func(b *testing.B) throughput {
			return runCallers(b, func(ctx context.Context, _ int) error {
				_, err := verifier.Verify(ctx, token, providers)
				return err
			})
		}
	}
	active := func(resp *identityv1.IntrospectTokenResponse, err error) error {
		if err == nil && (!resp.GetActive() || resp.GetPrincipal().GetKind() != identityv1.Principal_KIND_EMBED_SESSION) {
			err = fmt.Errorf("introspection said %v", resp)
		}
		return err
	}
	cases := map[string]func(b *testing.B) throughput{
		floorGRPC: func(b *testing.B) throughput {
			return runCallers(b, func(ctx context.Context, _ int) error {
				_, err := floor.Check(ctx, &healthpb.HealthCheckRequest{})
				return err
			})
		},
		floorRedis: func(b *testing.B) throughput {
			return runCallers(b, func(ctx context.Context, i int) error {
				key := redisPrefix + strconv.Itoa(i%1024)
				if err := rdb.Set(ctx, key, redisValue, time.Hour).Err(); err != nil {
					return err
				}
				return rdb.Get(ctx, key).Err()
			})
		},
		floorES256:    verify(esJWT, esProviders),
		floorRS256:    verify(rsJWT, rsProviders),
		exchangeES256: exchange(es),
		exchangeRS256: exchange(rs),
		// How platform/auth.Introspector asks, for every call an embed token makes to any
		// service: the token is the credential and the request is empty.
		introspectOwn: func(b *testing.B) throughput {
			return runCallers(b, func(ctx context.Context, i int) error {
				return active(s.tokens.IntrospectToken(as(ctx, live[i%len(live)]), &identityv1.IntrospectTokenRequest{}))
			})
		},
		// How an ISV backend checks a token it handed out: its own key, the token in the body.
		introspectBody: func(b *testing.B) throughput {
			return runCallers(b, func(ctx context.Context, i int) error {
				return active(s.tokens.IntrospectToken(as(ctx, minter), &identityv1.IntrospectTokenRequest{Token: live[i%len(live)]}))
			})
		},
	}
	results := map[string]throughput{}
	for _, name := range order {
		b.Run(strings.NewReplacer(" ", "_", ":", "", "+", "").Replace(name), func(b *testing.B) {
			results[name] = cases[name](b)
			// Calls log a line each into the harness's buffer; drop them between runs so
			// the buffer's growth is neither timed nor kept.
			s.logs.Reset()
		})
	}

	jwtFloor := map[string]string{exchangeES256: floorES256, exchangeRS256: floorRS256}
	targets := map[string]float64{exchangeES256: exchangeTarget, introspectOwn: introspectTarget, introspectBody: introspectTarget}
	share := func(name, floor string) string {
		if strings.HasPrefix(name, "floor") || results[floor].perSecond == 0 {
			return ""
		}
		return fmt.Sprintf("%.1f%%", 100*results[name].perSecond/results[floor].perSecond)
	}
	var out bytes.Buffer
	w := tabwriter.NewWriter(&out, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintf(w, "\n%d concurrent callers, GOMAXPROCS=%d, PostgreSQL + Redis\t calls/s\t target\t of gRPC floor\t of Redis floor\t of JWT floor\t CPU/call here\t\n",
		throughputCallers, runtime.GOMAXPROCS(0))
	for _, name := range order {
		r := results[name]
		if r.perSecond == 0 {
			continue
		}
		target := ""
		if t := targets[name]; t > 0 {
			verdict := "met"
			if r.perSecond < t {
				verdict = "NOT met"
			}
			target = fmt.Sprintf("≥ %.0f %s", t, verdict)
		}
		fmt.Fprintf(w, "%s\t %.0f\t %s\t %s\t %s\t %s\t %d µs\t\n", name, r.perSecond, target,
			share(name, floorGRPC), share(name, floorRedis), share(name, jwtFloor[name]), r.cpuPerCall.Microseconds())
	}
	w.Flush()
	fmt.Fprint(os.Stdout, out.String())
}

// benchSigner is an ISV's signing side for the benchmark, of either algorithm.
type benchSigner struct {
	tenant   string
	provider string // resource name
	issuer   string
	kid      string
	method   jwt.SigningMethod
	key      any // the private key method signs with
}

func newBenchSigner(i *isv) *benchSigner {
	return &benchSigner{tenant: i.tenant, provider: i.provider, issuer: i.issuer, kid: i.kid, method: jwt.SigningMethodES256, key: i.key}
}

// newRS256ISV registers, for a new tenant, a provider like newISV's but with a 2048-bit
// RS256 key: the algorithm most ISVs' identity stacks sign with.
func newRS256ISV(b *testing.B, s *service) *benchSigner {
	b.Helper()
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		b.Fatal(err)
	}
	der, err := x509.MarshalPKIXPublicKey(&key.PublicKey)
	if err != nil {
		b.Fatal(err)
	}
	sg := &benchSigner{
		tenant: testkit.UniqueID("t"), issuer: "https://" + testkit.UniqueID("isv") + ".example.com",
		kid: "rsa1", method: jwt.SigningMethodRS256, key: key,
	}
	resp, err := s.providers.CreateIdentityProvider(s.admin(), &identityv1.CreateIdentityProviderRequest{
		Parent: "tenants/" + sg.tenant, IdentityProviderId: "main",
		IdentityProvider: &identityv1.IdentityProvider{
			DisplayName: "ISV backend (RS256)",
			Jwt: &identityv1.JwtProvider{
				Issuer: sg.issuer,
				Keys: []*identityv1.SigningKey{{
					Kid: sg.kid, Alg: identityv1.Algorithm_ALGORITHM_RS256,
					Pem: string(pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der})),
				}},
				Claims:           &identityv1.ClaimMapping{Attributes: map[string]string{"region": "region"}},
				MaxTokenLifetime: durationpb.New(10 * time.Minute),
			},
		},
	})
	if err != nil {
		b.Fatalf("create RS256 provider: %v", err)
	}
	sg.provider = resp.GetIdentityProvider().GetName()
	return sg
}

// presign signs n JWTs with distinct jtis, for users 0 … benchUsers-1 in turn, on every
// core: RS256 signing is slow enough that one core would make long runs wait.
func (sg *benchSigner) presign(b *testing.B, n int) []string {
	b.Helper()
	out := make([]string, n)
	now := time.Now()
	workers := runtime.GOMAXPROCS(0)
	var wg sync.WaitGroup
	var failed atomic.Pointer[error]
	for w := range workers {
		wg.Go(func() {
			for i := w; i < n; i += workers {
				user := "user-" + strconv.Itoa(i%benchUsers)
				tok := jwt.NewWithClaims(sg.method, jwt.MapClaims{
					"iss": sg.issuer, "aud": "oriel", "sub": user, "name": "User " + user,
					"email": user + "@example.com", "groups": []string{"analysts"}, "region": "emea",
					"iat": now.Unix(), "exp": now.Add(5 * time.Minute).Unix(), "jti": uuid.NewString(),
				})
				tok.Header["kid"] = sg.kid
				signed, err := tok.SignedString(sg.key)
				if err != nil {
					failed.Store(&err)
					return
				}
				out[i] = signed
			}
		})
	}
	wg.Wait()
	if err := failed.Load(); err != nil {
		b.Fatal(*err)
	}
	return out
}

// storedProviders is the tenant's provider list as the service stores it, for the
// verification floor.
func (sg *benchSigner) storedProviders(b *testing.B, s *service) []*identityv1.IdentityProvider {
	b.Helper()
	resp, err := s.providers.GetIdentityProvider(s.admin(), &identityv1.GetIdentityProviderRequest{Name: sg.provider})
	if err != nil {
		b.Fatal(err)
	}
	return []*identityv1.IdentityProvider{resp.GetIdentityProvider()}
}

// bindAnalysts gives the analysts group (every benchmark user's) the viewer role, so each
// exchange resolves a real role through a group.
func bindAnalysts(b *testing.B, s *service, tenant string) {
	b.Helper()
	g, err := s.directory.CreateGroup(s.admin(), &identityv1.CreateGroupRequest{
		Parent: "tenants/" + tenant, Group: &identityv1.Group{ClaimValue: "analysts"},
	})
	if err != nil {
		b.Fatal(err)
	}
	if _, err := s.directory.CreateRoleBinding(s.admin(), &identityv1.CreateRoleBindingRequest{
		Parent: "tenants/" + tenant, RoleBinding: &identityv1.RoleBinding{Group: g.GetGroup().GetName(), Role: identityv1.Role_ROLE_VIEWER},
	}); err != nil {
		b.Fatal(err)
	}
}

// startBareGRPC runs a grpc-go server with only the health service and no interceptors:
// the cheapest call grpc-go can make, for comparison.
func startBareGRPC(b *testing.B) string {
	b.Helper()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	srv := grpc.NewServer()
	healthpb.RegisterHealthServer(srv, health.NewServer())
	go func() { _ = srv.Serve(lis) }()
	b.Cleanup(srv.Stop)
	return lis.Addr().String()
}

func dialBench(b *testing.B, addr string) *grpc.ClientConn {
	b.Helper()
	conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { conn.Close() })
	return conn
}
