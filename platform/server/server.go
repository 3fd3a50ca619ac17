// Package server runs an Oriel service: a gRPC server with the one interceptor chain,
// health (NOT_SERVING until the schema is at head, and again while shutting down), server
// reflection for grpcurl, Prometheus metrics over HTTP, background workers, and a graceful
// shutdown in a fixed order.
package server

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"runtime"
	"sync"
	"time"

	grpcprom "github.com/grpc-ecosystem/go-grpc-middleware/providers/prometheus"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/keepalive"
	"google.golang.org/grpc/reflection"

	"github.com/oriel-dev/oriel/platform/auth"
	"github.com/oriel-dev/oriel/platform/validation"
)

// Config is how a service serves. Field tags are its flags; every flag also reads
// ORIEL_<FLAG_NAME> from the environment.
type Config struct {
	GRPCAddr          string        `name:"grpc-addr" help:"Address of the gRPC server." default:"${grpc_addr}"`
	HTTPAddr          string        `name:"http-addr" help:"Address of the HTTP server for /metrics, /healthz and /readyz." default:"${http_addr}"`
	IdentityAddr      string        `name:"identity-addr" help:"gRPC address of the identity service, which checks every credential. Without it only --bootstrap-admin-key is accepted."`
	BootstrapAdminKey string        `name:"bootstrap-admin-key" help:"The platform admin API key (oriel_sk_…; oriel keys generate makes one)."`
	CredentialCache   time.Duration `name:"credential-cache" help:"How long an API key's identity is cached; a revoked key works at most this much longer. Embed tokens are never cached." default:"5s"`
	ShutdownDrain     time.Duration `name:"shutdown-drain" help:"How long to report NOT_SERVING before refusing new calls, so load balancers stop routing here." default:"5s"`
	ShutdownTimeout   time.Duration `name:"shutdown-timeout" help:"How long in-flight calls may take to finish at shutdown before they are cut." default:"20s"`
	ReadyInterval     time.Duration `name:"ready-interval" help:"How often to check whether the schema has been migrated while not ready." default:"2s"`
}

// Validate reports the first thing wrong with the configuration.
func (c Config) Validate() error {
	switch {
	case c.GRPCAddr == "":
		return errors.New("--grpc-addr is required")
	case c.HTTPAddr == "":
		return errors.New("--http-addr is required")
	case c.ShutdownDrain < 0 || c.ShutdownTimeout <= 0:
		return errors.New("--shutdown-drain must be ≥ 0 and --shutdown-timeout > 0")
	case c.ReadyInterval <= 0:
		return errors.New("--ready-interval must be > 0")
	case c.CredentialCache < 0 || c.CredentialCache > time.Minute:
		return errors.New("--credential-cache must be between 0 and 1m")
	}
	if c.BootstrapAdminKey != "" {
		if _, err := auth.NewBootstrapKey(c.BootstrapAdminKey); err != nil {
			return fmt.Errorf("--bootstrap-admin-key (ORIEL_BOOTSTRAP_ADMIN_KEY): %w", err)
		}
	}
	return nil
}

// authenticator is how a service checks credentials: its own (identity), the identity
// service's introspection, or, standing alone, the bootstrap key only.
func (c Config) authenticator(svc Service, closers *Closers) (auth.Authenticator, error) {
	switch {
	case svc.Authenticator != nil:
		return svc.Authenticator, nil
	case c.IdentityAddr != "":
		conn, err := grpc.NewClient(c.IdentityAddr, grpc.WithTransportCredentials(insecure.NewCredentials()))
		if err != nil {
			return nil, fmt.Errorf("--identity-addr %s: %w", c.IdentityAddr, err)
		}
		closers.Push("identity connection", conn.Close)
		return auth.NewIntrospector(conn, c.CredentialCache), nil
	case c.BootstrapAdminKey != "":
		return auth.NewBootstrapKey(c.BootstrapAdminKey)
	}
	return nil, errors.New("--identity-addr (ORIEL_IDENTITY_ADDR) is required, or --bootstrap-admin-key for a service standing alone")
}

// Worker is a background loop that runs while the service is ready, until ctx is done.
// Returning early with an error stops the service.
type Worker func(ctx context.Context) error

// Service is what a service module gives the runtime.
type Service struct {
	// Name is the service's short name, e.g. "tenant".
	Name string
	// Register adds the service's gRPC services to s.
	Register func(s *grpc.Server)
	// Ready reports whether the service can serve, e.g. whether its schema is at head.
	Ready func(ctx context.Context) (bool, error)
	// Workers start once Ready first reports true.
	Workers map[string]Worker
	// Closers release what the service opened, after the server has stopped.
	Closers *Closers
	// Authenticator, if set, checks credentials instead of the identity service (identity
	// checks its own).
	Authenticator auth.Authenticator
	// SelfAuthenticating are full method names that check their own credential.
	SelfAuthenticating []string
	// Draining, if set, is called when shutdown begins, before in-flight calls are waited
	// for: services with streams that never end by themselves (agent tunnels) end them so
	// that their clients move to another replica and GracefulStop need not wait them out.
	Draining func()
	// QuietMethods are full method names whose successful calls are logged at debug level:
	// internal calls frequent enough to drown the log.
	QuietMethods []string
}

// Server is a running service.
type Server struct {
	cfg      Config
	svc      Service
	log      *slog.Logger
	grpc     *grpc.Server
	health   *health.Server
	http     *http.Server
	grpcLis  net.Listener
	httpLis  net.Listener
	services []string
	ready    chan struct{}
}

// New builds the server and binds its listeners (so a ":0" address is known at once).
func New(cfg Config, svc Service, log *slog.Logger) (*Server, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if svc.Closers == nil {
		svc.Closers = &Closers{}
	}
	authn, err := cfg.authenticator(svc, svc.Closers)
	if err != nil {
		return nil, err
	}
	validator, err := validation.New(log)
	if err != nil {
		return nil, fmt.Errorf("protovalidate: %w", err)
	}

	registry := prometheus.NewRegistry()
	registry.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	metrics := grpcprom.NewServerMetrics(grpcprom.WithServerHandlingTimeHistogram())
	registry.MustRegister(metrics)

	opts := append(chain(log, metrics, authn, validator, svc),
		// Clients (the edge, other services, agents) keep connections open; these bound
		// how often they may ping and how long an idle connection lives.
		grpc.KeepaliveEnforcementPolicy(keepalive.EnforcementPolicy{MinTime: 10 * time.Second, PermitWithoutStream: true}),
		grpc.KeepaliveParams(keepalive.ServerParameters{Time: 30 * time.Second, Timeout: 10 * time.Second}),
		// Calls run on long-lived workers rather than a new goroutine each: a call's deep
		// interceptor chain grows a fresh goroutine's stack every time (copying it), which
		// cost a tenth of a small call's CPU; a worker keeps its grown stack.
		grpc.NumStreamWorkers(streamWorkers()),
	)
	gs := grpc.NewServer(opts...)
	svc.Register(gs)
	hs := health.NewServer()
	healthpb.RegisterHealthServer(gs, hs)
	reflection.Register(gs)
	metrics.InitializeMetrics(gs)

	s := &Server{cfg: cfg, svc: svc, log: log, grpc: gs, health: hs, ready: make(chan struct{})}
	for name := range gs.GetServiceInfo() {
		if name != healthpb.Health_ServiceDesc.ServiceName {
			s.services = append(s.services, name)
		}
	}
	s.setServing(healthpb.HealthCheckResponse_NOT_SERVING)

	mux := http.NewServeMux()
	mux.Handle("GET /metrics", promhttp.HandlerFor(registry, promhttp.HandlerOpts{Registry: registry}))
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write([]byte("ok\n")) })
	mux.HandleFunc("GET /readyz", s.readyz)
	s.http = &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}

	if s.grpcLis, err = net.Listen("tcp", cfg.GRPCAddr); err != nil {
		return nil, fmt.Errorf("listen on %s: %w", cfg.GRPCAddr, err)
	}
	if s.httpLis, err = net.Listen("tcp", cfg.HTTPAddr); err != nil {
		s.grpcLis.Close()
		return nil, fmt.Errorf("listen on %s: %w", cfg.HTTPAddr, err)
	}
	return s, nil
}

// GRPCAddr is the address the gRPC server listens on.
func (s *Server) GRPCAddr() string { return s.grpcLis.Addr().String() }

// HTTPAddr is the address of the metrics and health HTTP server.
func (s *Server) HTTPAddr() string { return s.httpLis.Addr().String() }

// Ready is closed once the service first reports SERVING.
func (s *Server) Ready() <-chan struct{} { return s.ready }

func (s *Server) setServing(st healthpb.HealthCheckResponse_ServingStatus) {
	s.health.SetServingStatus("", st)
	for _, name := range s.services {
		s.health.SetServingStatus(name, st)
	}
}

func (s *Server) readyz(w http.ResponseWriter, r *http.Request) {
	resp, err := s.health.Check(r.Context(), &healthpb.HealthCheckRequest{})
	if err != nil || resp.GetStatus() != healthpb.HealthCheckResponse_SERVING {
		http.Error(w, "not serving", http.StatusServiceUnavailable)
		return
	}
	_, _ = w.Write([]byte("ok\n"))
}

// Run serves until ctx is done, then shuts down in order: health NOT_SERVING → drain →
// GracefulStop with a deadline → Stop → workers stopped → closers (stores last).
func (s *Server) Run(ctx context.Context) error {
	s.log.Info("serving", "grpc_addr", s.GRPCAddr(), "http_addr", s.HTTPAddr())
	errc := make(chan error, 1)
	// fail reports the first failure; later ones are logged where they happen.
	fail := func(err error) {
		select {
		case errc <- err:
		default:
		}
	}
	go func() {
		if err := s.grpc.Serve(s.grpcLis); err != nil {
			fail(fmt.Errorf("grpc server: %w", err))
		}
	}()
	go func() {
		if err := s.http.Serve(s.httpLis); err != nil && !errors.Is(err, http.ErrServerClosed) {
			fail(fmt.Errorf("http server: %w", err))
		}
	}()

	workCtx, stopWork := context.WithCancel(context.WithoutCancel(ctx))
	var workers sync.WaitGroup
	// The readiness loop is itself counted, so workers it starts are added while the
	// group is non-empty and shutdown's Wait sees them.
	workers.Go(func() {
		if !s.waitReady(workCtx) {
			return
		}
		for name, w := range s.svc.Workers {
			workers.Go(func() {
				if err := w(workCtx); err != nil && workCtx.Err() == nil {
					s.log.Error("worker failed", "worker", name, "error", err)
					fail(fmt.Errorf("worker %s: %w", name, err))
				}
			})
		}
	})

	var runErr error
	select {
	case <-ctx.Done():
	case runErr = <-errc:
		s.log.Error("stopping after a failure", "error", runErr)
	}

	s.log.Info("shutting down", "drain", s.cfg.ShutdownDrain, "timeout", s.cfg.ShutdownTimeout)
	s.health.Shutdown() // every service NOT_SERVING, and it stays so
	if s.svc.Draining != nil {
		s.svc.Draining()
	}
	time.Sleep(s.cfg.ShutdownDrain)
	stopped := make(chan struct{})
	go func() { s.grpc.GracefulStop(); close(stopped) }()
	select {
	case <-stopped:
	case <-time.After(s.cfg.ShutdownTimeout):
		s.log.Warn("in-flight calls did not finish in time; cutting them")
		s.grpc.Stop()
		<-stopped
	}
	stopWork()
	workers.Wait()
	httpCtx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_ = s.http.Shutdown(httpCtx)
	if err := s.svc.Closers.Close(); err != nil {
		runErr = errors.Join(runErr, err)
	}
	s.log.Info("stopped")
	return runErr
}

// waitReady polls Ready until it reports true (then marks every service SERVING) or ctx
// ends.
func (s *Server) waitReady(ctx context.Context) bool {
	logged := false
	for {
		ok, err := true, error(nil)
		if s.svc.Ready != nil {
			ok, err = s.svc.Ready(ctx)
		}
		switch {
		case err != nil:
			s.log.Warn("readiness check failed", "error", err)
		case ok:
			s.setServing(healthpb.HealthCheckResponse_SERVING)
			close(s.ready)
			s.log.Info("ready")
			return true
		case !logged:
			s.log.Warn("schema is not at head: run the migrate command; reporting NOT_SERVING until then")
			logged = true
		}
		select {
		case <-ctx.Done():
			return false
		case <-time.After(s.cfg.ReadyInterval):
		}
	}
}

// streamWorkers is how many goroutines serve calls: many per CPU, because most calls wait
// on Redis or PostgreSQL, and a call that finds every worker busy gets a fresh goroutine
// (and grows its stack again). Idle workers cost only their stacks.
func streamWorkers() uint32 { return uint32(16 * runtime.GOMAXPROCS(0)) }
