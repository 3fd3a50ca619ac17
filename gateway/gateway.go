// Package gateway is Oriel's REST edge: grpc-gateway handlers that dial the services, so
// every REST call passes the same interceptors (authentication, validation, …) as a gRPC
// call. The edge holds nothing durable. It forwards the caller's Authorization and nothing
// else the caller chose, caps every call with a deadline, limits request bodies, and writes
// every error as {"error": {"code", "status", "message", "details"}}.
package gateway

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/grpc-ecosystem/grpc-gateway/v2/runtime"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/encoding/protojson"

	"github.com/oriel-dev/oriel/gen"
	contentv1 "github.com/oriel-dev/oriel/gen/pb/oriel/content/v1"
	datagatewayv1 "github.com/oriel-dev/oriel/gen/pb/oriel/datagateway/v1"
	errorsv1 "github.com/oriel-dev/oriel/gen/pb/oriel/errors/v1"
	identityv1 "github.com/oriel-dev/oriel/gen/pb/oriel/identity/v1"
	tenantv1 "github.com/oriel-dev/oriel/gen/pb/oriel/tenant/v1"
	"github.com/oriel-dev/oriel/platform/apierr"
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
	// Routes are more pages served beside the API, by http.ServeMux pattern: `oriel dev
	// --demo` serves its demo host page and backend at /demo this way.
	Routes map[string]http.Handler `kong:"-"`
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
	}
	return nil
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
	g := &Gateway{cfg: cfg, log: log}
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

	root := http.NewServeMux()
	root.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write([]byte("ok\n")) })
	root.HandleFunc("GET /readyz", g.readyz)
	root.HandleFunc("GET /openapi.json", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write(gen.OpenAPI)
	})
	for pattern, h := range cfg.Routes {
		root.Handle(pattern, h)
	}
	root.Handle("/", g.api(mux))
	g.handler = root
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

// Close closes the connections to the services.
func (g *Gateway) Close() {
	for _, b := range g.backends {
		_ = b.conn.Close()
	}
}

// api wraps the grpc-gateway mux with what every API call gets, in this order: a request
// id (echoed as X-Request-Id and sent to the service as x-request-id); removal of every
// header grpc-gateway would otherwise turn into metadata or a deadline; the body limit;
// the call deadline.
func (g *Gateway) api(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		id := requestid.New()
		w.Header().Set("X-Request-Id", id)
		ctx := requestid.NewContext(r.Context(), id)

		// grpc-gateway derives metadata from these (x-forwarded-*, a client-set
		// deadline); the edge decides them itself.
		for _, h := range []string{"X-Forwarded-For", "X-Forwarded-Host", "Forwarded", "Grpc-Timeout"} {
			r.Header.Del(h)
		}
		r.Host = ""

		if r.ContentLength > g.cfg.MaxBodyBytes {
			g.tooLarge(w)
			return
		}
		if r.Body != nil && r.Body != http.NoBody {
			// Buffered so that an oversized chunked body is a 413 too, not a decode error;
			// the limit bounds the memory this takes.
			body, err := io.ReadAll(io.LimitReader(r.Body, g.cfg.MaxBodyBytes+1))
			if err != nil {
				writeError(w, marshaler, status.Convert(apierr.New(codes.InvalidArgument,
					errorsv1.ErrorReason_ERROR_REASON_INVALID_REQUEST, "the request body could not be read")), 0)
				return
			}
			if int64(len(body)) > g.cfg.MaxBodyBytes {
				g.tooLarge(w)
				return
			}
			r.Body = io.NopCloser(bytes.NewReader(body))
		}

		// Streams get the stream cap, every other call the call cap: watches (AIP's
		// `:watch` custom methods) last as long as what they watch, and a query streams its
		// rows for as long as the datagateway lets it run (its --query-timeout, or the
		// request's own timeout), which is longer than a call should.
		limit := g.cfg.CallTimeout
		if isStream(r.URL.Path) {
			limit = g.cfg.StreamTimeout
		}
		ctx, cancel := context.WithTimeout(ctx, limit)
		defer cancel()
		next.ServeHTTP(w, r.WithContext(ctx))
	})
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
