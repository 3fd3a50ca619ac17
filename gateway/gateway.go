// Package gateway is Oriel's REST edge: grpc-gateway handlers that dial the services, so
// every REST call passes the same interceptors (authentication, validation, …) as a gRPC
// call. The edge holds nothing durable. It forwards the caller's Authorization and nothing
// else the caller chose, caps every call with a deadline, limits request bodies, and writes
// every error as {"error": {"code", "status", "message", "details"}}.
//
// It also protects the API before any call reaches a service (see protected for the
// order): it introspects API keys and embed tokens with identity (401 as a service would
// say it, 503 when identity cannot be asked); lets cross-origin browser calls in only from
// the tenant's allowed web origins (CORS for those, 403 ORIGIN_NOT_ALLOWED for the rest),
// and embed tokens bound to an origin only from it; and rate-limits every call per
// credential and per tenant by the tenant's plan, in Redis (failing open when Redis
// fails), with RateLimit-* headers and 429 + Retry-After. Tenants' settings are read with
// the edge's --service-api-key and cached for a few seconds.
//
// It serves the embed client (embedclient): oriel-embed.js, the frame pages with a
// Content-Security-Policy whose frame-ancestors are the tenant's allowed origins, and the
// tenant's theme. Every request gets one access-log line.
package gateway

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/grpc-ecosystem/grpc-gateway/v2/runtime"
	"github.com/redis/go-redis/v9"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/encoding/protojson"

	"github.com/oriel-dev/oriel/gateway/embedclient"
	"github.com/oriel-dev/oriel/gen"
	contentv1 "github.com/oriel-dev/oriel/gen/pb/oriel/content/v1"
	datagatewayv1 "github.com/oriel-dev/oriel/gen/pb/oriel/datagateway/v1"
	errorsv1 "github.com/oriel-dev/oriel/gen/pb/oriel/errors/v1"
	identityv1 "github.com/oriel-dev/oriel/gen/pb/oriel/identity/v1"
	tenantv1 "github.com/oriel-dev/oriel/gen/pb/oriel/tenant/v1"
	"github.com/oriel-dev/oriel/platform/apierr"
	"github.com/oriel-dev/oriel/platform/auth"
	"github.com/oriel-dev/oriel/platform/redisconn"
	"github.com/oriel-dev/oriel/platform/requestid"
)

// Config configures the edge. Its tags are the flags of the gateway binary.
type Config struct {
	Addr         string `name:"addr" help:"Address of the REST edge." default:":8080"`
	TenantAddr   string `name:"tenant-addr" help:"gRPC address of the tenant service." default:"localhost:9101"`
	IdentityAddr string `name:"identity-addr" help:"gRPC address of the identity service." default:"localhost:9102"`
	ContentAddr  string `name:"content-addr" help:"gRPC address of the content service." default:"localhost:9103"`
	// DatagatewayAddr is the datagateway. Agents do not come through the edge: they dial
	// the datagateway's gRPC port themselves, so its tunnel is not served here.
	DatagatewayAddr string        `name:"datagateway-addr" help:"gRPC address of the datagateway (connections, queries, agents, replications)." default:"localhost:9104"`
	CallTimeout     time.Duration `name:"call-timeout" help:"The longest any call may take before the edge answers 504." default:"30s"`
	// StreamTimeout caps the streams: a watch, which streams until what it watches ends,
	// and a query, which the datagateway bounds itself by its own --query-timeout.
	StreamTimeout time.Duration `name:"stream-timeout" help:"The longest a stream may last: a watch (…:watch; clients re-watch after it) or a query (…:query; the datagateway's --query-timeout bounds it first)." default:"1h"`
	MaxBodyBytes  int64         `name:"max-body-bytes" help:"The largest request body accepted; larger ones get 413." default:"1048576"`
	// ShutdownTimeout bounds how long in-flight requests may take at shutdown.
	ShutdownTimeout time.Duration `name:"shutdown-timeout" help:"How long in-flight requests may take to finish at shutdown." default:"20s"`
	// ServiceAPIKey reads tenants' settings (allowed origins, theme, rate plan); without it
	// no origin may call cross-origin, frame pages may not be framed, and every tenant has
	// the default plan.
	ServiceAPIKey  string        `name:"service-api-key" help:"A platform API key with tenants.read, to read tenants' settings (allowed web origins, theme, rate plan). Without it no cross-origin call is allowed, frame pages cannot be framed and every tenant gets the default plan."`
	TenantCacheTTL time.Duration `name:"tenant-cache-ttl" help:"How long a tenant's settings (or its absence) are cached; a changed setting takes effect at most this much later." default:"5s"`
	// CredentialCacheTTL caches API keys' introspection; embed tokens are asked about on
	// every call, so their revocation is immediate.
	CredentialCacheTTL time.Duration `name:"credential-cache-ttl" help:"How long an API key's introspection is cached at the edge; a revoked key works at most this much longer. Embed tokens are never cached." default:"5s"`
	RedisURL           string        `name:"redis-url" help:"Redis holding the rate-limit buckets (redis://host:port/db); required unless --dev-mode."`
	DevMode            bool          `name:"dev-mode" help:"Keep rate-limit buckets in process memory instead of Redis (one edge only)."`
	// TrustedProxies are the load balancers whose X-Forwarded-For says who the client is.
	TrustedProxies []string `name:"trusted-proxies" sep:"," placeholder:"CIDR,…" help:"Load balancers in front of the edge (CIDRs or addresses): for a call from one of them the client is the last address of X-Forwarded-For that is not one of them (the per-IP rate-limit bucket of calls without an API key or embed token). Empty: the connection's peer."`
	// RatePlans are --rate-plan values; see parseRatePlans for the format.
	RatePlans []string `name:"rate-plan" aliases:"rate-plans" sep:";" placeholder:"NAME=credential:RATE/UNIT:BURST,tenant:RATE/UNIT:BURST" help:"A rate plan tenants can be on (settings.plan), e.g. pro=credential:50/s:100,tenant:500/s:1000 (UNIT s, m or h; BURST calls at once). Repeatable; ';' separates plans in ORIEL_RATE_PLAN. A plan named default applies to tenants without one; built in: default=credential:20/s:40,tenant:100/s:200."`
	// Routes are more pages served beside the API, by http.ServeMux pattern: `oriel dev
	// --demo` serves its demo host page and backend at /demo this way.
	Routes map[string]http.Handler `kong:"-"`
	// EmbedClient is the built embed client (oriel-embed.js, frame.html at its root); nil
	// means the one compiled in (embedclient.Dist).
	EmbedClient fs.FS `kong:"-"`
}

// Validate reports the first thing wrong with the configuration.
func (c Config) Validate() error {
	switch {
	case c.Addr == "" || c.TenantAddr == "" || c.IdentityAddr == "" || c.ContentAddr == "" || c.DatagatewayAddr == "":
		return errors.New("--addr, --tenant-addr, --identity-addr, --content-addr and --datagateway-addr are required")
	case c.CallTimeout <= 0 || c.StreamTimeout <= 0:
		return errors.New("--call-timeout and --stream-timeout must be > 0")
	case c.MaxBodyBytes <= 0:
		return errors.New("--max-body-bytes must be > 0")
	case c.ShutdownTimeout <= 0:
		return errors.New("--shutdown-timeout must be > 0")
	case c.TenantCacheTTL < 0 || c.TenantCacheTTL > 10*time.Minute:
		return errors.New("--tenant-cache-ttl must be between 0 and 10m")
	case c.CredentialCacheTTL < 0 || c.CredentialCacheTTL > time.Minute:
		return errors.New("--credential-cache-ttl must be between 0 and 1m")
	case c.RedisURL == "" && !c.DevMode:
		return errors.New("--redis-url (ORIEL_REDIS_URL) is required for the rate-limit buckets, unless --dev-mode keeps them in memory")
	case c.ServiceAPIKey != "" && !strings.HasPrefix(c.ServiceAPIKey, auth.APIKeyPrefix):
		return fmt.Errorf("--service-api-key must be an API key (%s…)", auth.APIKeyPrefix)
	}
	if _, err := parseTrustedProxies(c.TrustedProxies); err != nil {
		return err
	}
	_, err := parseRatePlans(c.RatePlans)
	return err
}

// setQueryParser guards the one write of grpc-gateway's global query parser.
var setQueryParser sync.Once

// backend is a service the edge dials.
type backend struct {
	name string
	conn *grpc.ClientConn
}

// Gateway is the REST edge.
type Gateway struct {
	cfg      Config
	log      *slog.Logger
	backends []backend
	handler  http.Handler
	lis      net.Listener

	introspector *auth.Introspector
	tenants      *tenantDirectory
	plans        map[string]RatePlan
	proxies      trustedProxies
	limiter      rateLimiter
	redis        *redis.Client
	// script and frame are the built embed client's files, nil when it is not built.
	script, frame *embedAsset
}

// marshaler writes JSON with the proto's camelCase names and reads it strictly: an unknown
// field is a 400, not silently dropped, so a typo never looks like success.
var marshaler = &runtime.JSONPb{
	MarshalOptions:   protojson.MarshalOptions{},
	UnmarshalOptions: protojson.UnmarshalOptions{DiscardUnknown: false},
}

// New dials the services (lazily: a service that is down makes its calls fail with 503,
// not the edge's start) and builds the handler.
func New(ctx context.Context, cfg Config, log *slog.Logger) (*Gateway, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	plans, err := parseRatePlans(cfg.RatePlans)
	if err != nil {
		return nil, err
	}
	proxies, err := parseTrustedProxies(cfg.TrustedProxies)
	if err != nil {
		return nil, err
	}
	client := cfg.EmbedClient
	if client == nil {
		client = embedclient.Dist()
	}
	g := &Gateway{cfg: cfg, log: log, plans: plans, proxies: proxies,
		script: loadEmbedAsset(client, embedclient.Script), frame: loadEmbedAsset(client, embedclient.FramePage)}
	muxOpts := []runtime.ServeMuxOption{
		runtime.WithMarshalerOption(runtime.MIMEWildcard, marshaler),
		// Authorization is forwarded by grpc-gateway itself; every other header stays here.
		runtime.WithIncomingHeaderMatcher(func(string) (string, bool) { return "", false }),
		// No service response metadata reaches the client: the request id the services
		// echo is the one the edge already set as X-Request-Id.
		runtime.WithOutgoingHeaderMatcher(func(string) (string, bool) { return "", false }),
		runtime.WithMetadata(func(ctx context.Context, _ *http.Request) metadata.MD {
			return metadata.Pairs(requestid.MetadataKey, requestid.FromContext(ctx))
		}),
		runtime.WithErrorHandler(errorHandler(log)),
		runtime.WithStreamErrorHandler(streamErrorHandler(log)),
		runtime.WithRoutingErrorHandler(routingErrorHandler),
	}
	// grpc-gateway keeps its query parser in a package variable: set it once per process,
	// not per edge, or two edges in one process (tests, `oriel dev` restarts) race on it.
	setQueryParser.Do(func() { muxOpts = append(muxOpts, runtime.SetQueryParameterParser(&queryParser{})) })
	mux := runtime.NewServeMux(muxOpts...)
	for _, b := range []struct {
		name     string
		addr     string
		register []func(context.Context, *runtime.ServeMux, *grpc.ClientConn) error
	}{
		{"identity", cfg.IdentityAddr, []func(context.Context, *runtime.ServeMux, *grpc.ClientConn) error{
			identityv1.RegisterIdentityProviderServiceHandler,
			identityv1.RegisterDirectoryServiceHandler,
			identityv1.RegisterServiceAccountServiceHandler,
			identityv1.RegisterTokenServiceHandler,
		}},
		{"tenant", cfg.TenantAddr, []func(context.Context, *runtime.ServeMux, *grpc.ClientConn) error{
			tenantv1.RegisterTenantServiceHandler,
		}},
		{"content", cfg.ContentAddr, []func(context.Context, *runtime.ServeMux, *grpc.ClientConn) error{
			contentv1.RegisterSpaceServiceHandler,
			contentv1.RegisterAppServiceHandler,
			contentv1.RegisterTemplateServiceHandler,
			contentv1.RegisterRolloutServiceHandler,
			contentv1.RegisterReloadServiceHandler,
			contentv1.RegisterAppDataServiceHandler,
		}},
		// Not AgentTunnelService: agents hold a bidirectional stream, which REST cannot
		// carry, and authenticate with their own credential at the datagateway's gRPC port.
		{"datagateway", cfg.DatagatewayAddr, []func(context.Context, *runtime.ServeMux, *grpc.ClientConn) error{
			datagatewayv1.RegisterConnectionServiceHandler,
			datagatewayv1.RegisterAgentServiceHandler,
			datagatewayv1.RegisterReplicationServiceHandler,
		}},
	} {
		conn, err := grpc.NewClient(b.addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
		if err != nil {
			g.Close()
			return nil, fmt.Errorf("dial %s service at %s: %w", b.name, b.addr, err)
		}
		g.backends = append(g.backends, backend{name: b.name, conn: conn})
		for _, register := range b.register {
			if err := register(ctx, mux, conn); err != nil {
				g.Close()
				return nil, fmt.Errorf("register %s service: %w", b.name, err)
			}
		}
	}

	conns := map[string]*grpc.ClientConn{}
	for _, b := range g.backends {
		conns[b.name] = b.conn
	}
	g.introspector = auth.NewIntrospector(conns["identity"], cfg.CredentialCacheTTL)
	g.tenants = newTenantDirectory(conns["tenant"], cfg.ServiceAPIKey, cfg.TenantCacheTTL)
	if cfg.ServiceAPIKey == "" {
		log.Warn("no --service-api-key: tenants' settings cannot be read, so no origin may call cross-origin, " +
			"frame pages cannot be framed and every tenant gets the default rate plan")
	}
	if cfg.RedisURL != "" {
		rdb, err := redisconn.Open(ctx, cfg.RedisURL)
		if err != nil {
			g.Close()
			return nil, fmt.Errorf("rate limits: %w", err)
		}
		g.redis = rdb
		g.limiter = newRedisRateLimiter(rdb)
	} else {
		g.limiter = newMemoryRateLimiter(time.Now)
	}
	if g.script == nil || g.frame == nil {
		log.Warn("the embed client is not built (run make embed-client): its script and frame pages answer 503")
	}

	root := http.NewServeMux()
	root.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write([]byte("ok\n")) })
	root.HandleFunc("GET /readyz", g.readyz)
	root.HandleFunc("GET /openapi.json", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write(gen.OpenAPI)
	})
	root.HandleFunc("GET /embed/v1/oriel-embed.js", g.serveScript)
	root.HandleFunc("GET /embed/v1/tenants/{tenant}/apps/{app}", g.serveFramePage)
	root.HandleFunc("GET /embed/v1/tenants/{tenant}/apps/{app}/sheets/{sheet}", g.serveFramePage)
	root.Handle("/embed/v1/tenants/{tenant}/theme", g.protected(http.HandlerFunc(g.serveTheme)))
	for pattern, h := range cfg.Routes {
		root.Handle(pattern, h)
	}
	root.Handle("/", g.protected(mux))
	g.handler = g.accessLogged(root)
	lis, err := net.Listen("tcp", cfg.Addr)
	if err != nil {
		g.Close()
		return nil, fmt.Errorf("listen on %s: %w", cfg.Addr, err)
	}
	g.lis = lis
	return g, nil
}

// Handler serves the edge.
func (g *Gateway) Handler() http.Handler { return g.handler }

// Close closes the connections to the services and Redis.
func (g *Gateway) Close() {
	for _, b := range g.backends {
		_ = b.conn.Close()
	}
	if g.redis != nil {
		_ = g.redis.Close()
	}
}

// isStream reports whether a path is that of a server-streaming method: `…:watch` or
// `…:query`.
func isStream(path string) bool {
	return strings.HasSuffix(path, ":watch") || strings.HasSuffix(path, ":query")
}

func (g *Gateway) tooLarge(w http.ResponseWriter) {
	limit := strconv.FormatInt(g.cfg.MaxBodyBytes, 10)
	writeError(w, marshaler, status.Convert(apierr.New(codes.InvalidArgument, errorsv1.ErrorReason_ERROR_REASON_REQUEST_TOO_LARGE,
		"the request body is larger than "+limit+" bytes", "limit_bytes", limit)), http.StatusRequestEntityTooLarge)
}

// readyz answers 200 when every service reports SERVING, else 503 naming those that do
// not.
func (g *Gateway) readyz(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
	defer cancel()
	var down []string
	for _, b := range g.backends {
		resp, err := healthpb.NewHealthClient(b.conn).Check(ctx, &healthpb.HealthCheckRequest{})
		if err != nil || resp.GetStatus() != healthpb.HealthCheckResponse_SERVING {
			down = append(down, b.name)
		}
	}
	if len(down) > 0 {
		http.Error(w, "not serving: "+strings.Join(down, ", "), http.StatusServiceUnavailable)
		return
	}
	_, _ = w.Write([]byte("ok\n"))
}

// Addr is the address the edge listens on.
func (g *Gateway) Addr() string { return g.lis.Addr().String() }

// Run serves until ctx is done, then lets in-flight requests finish for up to
// ShutdownTimeout and closes the connections to the services.
func (g *Gateway) Run(ctx context.Context) error {
	defer g.Close()
	srv := &http.Server{
		Handler:           g.handler,
		ReadHeaderTimeout: 10 * time.Second,
		// A whole request body must arrive within the call deadline.
		ReadTimeout: g.cfg.CallTimeout,
		IdleTimeout: 2 * time.Minute,
		ErrorLog:    slog.NewLogLogger(g.log.Handler(), slog.LevelWarn),
	}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(g.lis) }()
	g.log.Info("serving", "addr", g.Addr())
	select {
	case err := <-errc:
		return fmt.Errorf("edge: %w", err)
	case <-ctx.Done():
	}
	shutdownCtx, cancel := context.WithTimeout(context.Background(), g.cfg.ShutdownTimeout)
	defer cancel()
	if err := srv.Shutdown(shutdownCtx); err != nil {
		g.log.Warn("in-flight requests did not finish in time", "error", err)
		return srv.Close()
	}
	g.log.Info("stopped")
	return nil
}
