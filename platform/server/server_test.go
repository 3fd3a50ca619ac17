package server_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/metadata"
	reflectionpb "google.golang.org/grpc/reflection/grpc_reflection_v1"
	"google.golang.org/grpc/status"

	tenantv1 "github.com/oriel-dev/oriel/gen/pb/oriel/tenant/v1"
	"github.com/oriel-dev/oriel/platform/apierr"
	"github.com/oriel-dev/oriel/platform/auth"
	"github.com/oriel-dev/oriel/platform/logging"
	"github.com/oriel-dev/oriel/platform/server"
	"github.com/oriel-dev/oriel/platform/testkit"
)

const tenantService = "oriel.tenant.v1.TenantService"

// tenants is a TenantService whose GetTenant misbehaves on request.
type tenants struct {
	tenantv1.UnimplementedTenantServiceServer
	slowStarted chan struct{} // closed when a tenants/slow call arrives
	release     chan struct{} // closing it lets tenants/slow calls return
	onSlowDone  func()        // called as a tenants/slow call returns
}

func newTenants() *tenants {
	return &tenants{slowStarted: make(chan struct{}), release: make(chan struct{})}
}

func (s *tenants) GetTenant(ctx context.Context, req *tenantv1.GetTenantRequest) (*tenantv1.GetTenantResponse, error) {
	switch req.GetName() {
	case "tenants/panic":
		panic("driver secret text in a panic")
	case "tenants/bare":
		return nil, errors.New("driver secret text")
	case "tenants/slow":
		close(s.slowStarted)
		select {
		case <-s.release:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
		if s.onSlowDone != nil {
			s.onSlowDone()
		}
	}
	return &tenantv1.GetTenantResponse{Tenant: &tenantv1.Tenant{Name: req.GetName(), DisplayName: "Acme"}}, nil
}

// logRecords returns the JSON log lines the server wrote to logs.
func logRecords(t *testing.T, logs *testkit.LogBuffer) []map[string]any {
	t.Helper()
	var out []map[string]any
	for line := range strings.Lines(logs.String()) {
		var rec map[string]any
		if err := json.Unmarshal([]byte(line), &rec); err != nil {
			t.Fatalf("log line is not JSON: %q", line)
		}
		out = append(out, rec)
	}
	return out
}

// running is a server started by start.
type running struct {
	srv  *server.Server
	key  string
	svc  *tenants
	logs *testkit.LogBuffer
	conn *grpc.ClientConn
	stop context.CancelFunc
	done chan error // receives Run's result
}

// result waits for Run to return and gives its error; it may be called more than once.
func (r *running) result(within time.Duration) (returned bool, err error) {
	timer := time.NewTimer(within)
	defer timer.Stop()
	select {
	case err := <-r.done:
		r.done <- err // kept for the next caller
		return true, err
	default:
	}
	select {
	case err := <-r.done:
		r.done <- err
		return true, err
	case <-timer.C:
		return false, nil
	}
}

type options struct {
	// register adds services beside the TenantService.
	register func(*grpc.Server)
	ready    func(context.Context) (bool, error)
	workers  map[string]server.Worker
	closers  *server.Closers
	drain    time.Duration
	svc      *tenants
	quiet    []string
	draining func()
}

func testConfig(key string) server.Config {
	return server.Config{
		GRPCAddr:          "127.0.0.1:0",
		HTTPAddr:          "127.0.0.1:0",
		BootstrapAdminKey: key,
		ShutdownDrain:     300 * time.Millisecond,
		ShutdownTimeout:   10 * time.Second,
		ReadyInterval:     10 * time.Millisecond,
	}
}

// start builds a server around a TenantService and runs it until the test ends.
func start(t *testing.T, o options) *running {
	t.Helper()
	if o.svc == nil {
		o.svc = newTenants()
	}
	logs := &testkit.LogBuffer{}
	log, err := logging.New(logs, "debug")
	if err != nil {
		t.Fatal(err)
	}
	key := auth.GenerateAPIKey()
	cfg := testConfig(key)
	if o.drain > 0 {
		cfg.ShutdownDrain = o.drain
	}
	srv, err := server.New(cfg, server.Service{
		Name: "tenant",
		Register: func(s *grpc.Server) {
			tenantv1.RegisterTenantServiceServer(s, o.svc)
			if o.register != nil {
				o.register(s)
			}
		},
		Ready:        o.ready,
		Workers:      o.workers,
		Closers:      o.closers,
		QuietMethods: o.quiet,
		Draining:     o.draining,
	}, log)
	if err != nil {
		t.Fatalf("server.New: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	r := &running{srv: srv, key: key, svc: o.svc, logs: logs, stop: cancel, done: make(chan error, 1)}
	go func() { r.done <- srv.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if ok, _ := r.result(15 * time.Second); !ok {
			t.Error("Run did not return after its context was cancelled")
		}
	})
	conn, err := grpc.NewClient(srv.GRPCAddr(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = conn.Close() })
	r.conn = conn
	return r
}

// authed returns a context carrying the bootstrap key.
func (r *running) authed(ctx context.Context) context.Context {
	return metadata.AppendToOutgoingContext(ctx, "authorization", "Bearer "+r.key)
}

func (r *running) getTenant(ctx context.Context, name string, opts ...grpc.CallOption) (*tenantv1.GetTenantResponse, error) {
	return tenantv1.NewTenantServiceClient(r.conn).GetTenant(ctx, &tenantv1.GetTenantRequest{Name: name}, opts...)
}

func (r *running) health(t *testing.T, service string) healthpb.HealthCheckResponse_ServingStatus {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	resp, err := healthpb.NewHealthClient(r.conn).Check(ctx, &healthpb.HealthCheckRequest{Service: service})
	if err != nil {
		t.Fatalf("health check of %q: %v", service, err)
	}
	return resp.GetStatus()
}

func (r *running) httpGet(t *testing.T, path string) (int, string) {
	t.Helper()
	resp, err := http.Get("http://" + r.srv.HTTPAddr() + path)
	if err != nil {
		t.Fatalf("GET %s: %v", path, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, string(body)
}

func waitReady(t *testing.T, r *running) {
	t.Helper()
	select {
	case <-r.srv.Ready():
	case <-time.After(10 * time.Second):
		t.Fatal("the server never became ready")
	}
}

// eventually polls cond until it holds or the deadline passes.
func eventually(t *testing.T, within time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(within)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting until %s", within, what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func testCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func TestHealthFollowsReadiness(t *testing.T) {
	t.Parallel()
	var ready atomic.Bool
	var checks atomic.Int32
	r := start(t, options{ready: func(context.Context) (bool, error) {
		checks.Add(1)
		return ready.Load(), nil
	}})
	services := []string{"", tenantService, "grpc.reflection.v1.ServerReflection"}

	// Several readiness checks have answered false.
	eventually(t, 5*time.Second, "Ready was asked three times", func() bool { return checks.Load() >= 3 })
	for _, s := range services {
		if got := r.health(t, s); got != healthpb.HealthCheckResponse_NOT_SERVING {
			t.Errorf("health of %q = %v while not ready, want NOT_SERVING", s, got)
		}
	}
	if code, _ := r.httpGet(t, "/readyz"); code != http.StatusServiceUnavailable {
		t.Errorf("/readyz = %d while not ready, want 503", code)
	}
	if code, body := r.httpGet(t, "/healthz"); code != http.StatusOK || body != "ok\n" {
		t.Errorf("/healthz = %d %q, want 200 (the process is alive)", code, body)
	}
	select {
	case <-r.srv.Ready():
		t.Fatal("Ready() closed before Ready reported true")
	default:
	}

	ready.Store(true)
	waitReady(t, r)
	for _, s := range services {
		if got := r.health(t, s); got != healthpb.HealthCheckResponse_SERVING {
			t.Errorf("health of %q = %v once ready, want SERVING", s, got)
		}
	}
	if code, body := r.httpGet(t, "/readyz"); code != http.StatusOK || body != "ok\n" {
		t.Errorf("/readyz = %d %q once ready, want 200", code, body)
	}
	_, err := healthpb.NewHealthClient(r.conn).Check(testCtx(t), &healthpb.HealthCheckRequest{Service: "no.such.Service"})
	if status.Code(err) != codes.NotFound {
		t.Errorf("health of an unknown service = %v, want NotFound", err)
	}
}

func TestReadinessErrorsKeepTheServerNotServing(t *testing.T) {
	t.Parallel()
	var fail atomic.Bool
	fail.Store(true)
	var checks atomic.Int32
	r := start(t, options{ready: func(context.Context) (bool, error) {
		checks.Add(1)
		if fail.Load() {
			return false, errors.New("database unreachable")
		}
		return true, nil
	}})
	eventually(t, 5*time.Second, "Ready was asked three times", func() bool { return checks.Load() >= 3 })
	if got := r.health(t, tenantService); got != healthpb.HealthCheckResponse_NOT_SERVING {
		t.Errorf("health = %v while Ready fails, want NOT_SERVING", got)
	}
	fail.Store(false)
	waitReady(t, r)
	if got := r.health(t, tenantService); got != healthpb.HealthCheckResponse_SERVING {
		t.Errorf("health = %v once Ready recovers, want SERVING", got)
	}
	if !strings.Contains(r.logs.String(), "database unreachable") {
		t.Error("the readiness error was not logged")
	}
}

func TestReflectionListsTheServiceWithoutCredentials(t *testing.T) {
	t.Parallel()
	r := start(t, options{})
	stream, err := reflectionpb.NewServerReflectionClient(r.conn).ServerReflectionInfo(testCtx(t))
	if err != nil {
		t.Fatal(err)
	}
	if err := stream.Send(&reflectionpb.ServerReflectionRequest{
		MessageRequest: &reflectionpb.ServerReflectionRequest_ListServices{},
	}); err != nil {
		t.Fatal(err)
	}
	resp, err := stream.Recv()
	if err != nil {
		t.Fatalf("reflection without credentials: %v", err)
	}
	var names []string
	for _, s := range resp.GetListServicesResponse().GetService() {
		names = append(names, s.GetName())
	}
	for _, want := range []string{tenantService, "grpc.health.v1.Health"} {
		if !slices.Contains(names, want) {
			t.Errorf("reflection lists %v, want %s among them", names, want)
		}
	}
	_ = stream.CloseSend()
}

func TestCallsNeedACredentialButHealthDoesNot(t *testing.T) {
	t.Parallel()
	r := start(t, options{})
	waitReady(t, r)
	ctx := testCtx(t)
	tests := []struct {
		name       string
		ctx        context.Context
		wantCode   codes.Code
		wantReason string
	}{
		{name: "no credential", ctx: ctx, wantCode: codes.Unauthenticated, wantReason: "CREDENTIAL_MISSING"},
		{name: "another key", ctx: metadata.AppendToOutgoingContext(ctx, "authorization", "Bearer "+auth.GenerateAPIKey()), wantCode: codes.Unauthenticated, wantReason: "CREDENTIAL_INVALID"},
		{name: "basic auth", ctx: metadata.AppendToOutgoingContext(ctx, "authorization", "Basic "+r.key), wantCode: codes.Unauthenticated, wantReason: "CREDENTIAL_INVALID"},
		{name: "the bootstrap key", ctx: r.authed(ctx), wantCode: codes.OK},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp, err := r.getTenant(tt.ctx, "tenants/acme")
			if status.Code(err) != tt.wantCode {
				t.Fatalf("GetTenant = %v, want %v", err, tt.wantCode)
			}
			if apierr.Reason(err) != tt.wantReason {
				t.Errorf("reason = %q, want %q", apierr.Reason(err), tt.wantReason)
			}
			if err == nil && resp.GetTenant().GetName() != "tenants/acme" {
				t.Errorf("GetTenant = %v", resp)
			}
		})
	}
	if got := r.health(t, ""); got != healthpb.HealthCheckResponse_SERVING {
		t.Errorf("unauthenticated health check = %v, want SERVING", got)
	}
}

func TestInvalidRequestsNeverReachTheHandler(t *testing.T) {
	t.Parallel()
	r := start(t, options{})
	// "tenants/panic" would panic; uppercase makes it invalid, so the handler must not run.
	_, err := r.getTenant(r.authed(testCtx(t)), "tenants/PANIC")
	if status.Code(err) != codes.InvalidArgument || apierr.Reason(err) != "INVALID_REQUEST" {
		t.Fatalf("GetTenant(invalid) = %v, want INVALID_ARGUMENT / INVALID_REQUEST", err)
	}
	// Validation runs after authentication: anonymous callers learn nothing about the rules.
	_, err = r.getTenant(testCtx(t), "tenants/PANIC")
	if status.Code(err) != codes.Unauthenticated {
		t.Errorf("anonymous invalid request = %v, want Unauthenticated", err)
	}
}

// correlationID returns the correlation id an INTERNAL error carries, checking it is in
// both the message and the ErrorInfo.
func correlationID(t *testing.T, err error) string {
	t.Helper()
	st := status.Convert(err)
	if st.Code() != codes.Internal {
		t.Fatalf("err = %v, want Internal", err)
	}
	var id string
	for _, d := range st.Details() {
		if info, ok := d.(*errdetails.ErrorInfo); ok {
			if info.GetReason() != "INTERNAL" {
				t.Errorf("reason = %q, want INTERNAL", info.GetReason())
			}
			id = info.GetMetadata()["correlation_id"]
		}
	}
	if id == "" || !strings.Contains(st.Message(), id) {
		t.Fatalf("status %v does not carry one correlation id in message and ErrorInfo (%q)", st, id)
	}
	return id
}

func TestInternalErrorsAreMaskedWithTheRequestID(t *testing.T) {
	t.Parallel()
	r := start(t, options{})
	for _, name := range []string{"tenants/panic", "tenants/bare"} {
		t.Run(name, func(t *testing.T) {
			var header, trailer metadata.MD
			_, err := r.getTenant(r.authed(testCtx(t)), name, grpc.Header(&header), grpc.Trailer(&trailer))
			id := correlationID(t, err)
			if got := header.Get("x-request-id"); !slices.Equal(got, []string{id}) {
				t.Errorf("x-request-id header = %v, want the correlation id %q", got, id)
			}
			st := status.Convert(err)
			clientVisible := st.Message() + fmt.Sprint(st.Proto().GetDetails()) + fmt.Sprint(header) + fmt.Sprint(trailer)
			for _, secret := range []string{"driver secret text", "panic", "goroutine", ".go:"} {
				if strings.Contains(clientVisible, secret) {
					t.Errorf("the client sees %q: %s", secret, clientVisible)
				}
			}
			// The log has the real error under the same id.
			found := false
			for _, rec := range logRecords(t, r.logs) {
				if rec["correlation_id"] == id && strings.Contains(fmt.Sprint(rec["error"]), "driver secret text") {
					found = true
					if rec["request_id"] != id {
						t.Errorf("log line request_id = %v, want %s", rec["request_id"], id)
					}
				}
			}
			if !found {
				t.Errorf("no log line has correlation_id %s and the error text:\n%s", id, r.logs)
			}
			// The call's own log line records the code the client saw.
			finished := false
			for _, rec := range logRecords(t, r.logs) {
				if rec["msg"] == "finished call" && rec["request_id"] == id {
					finished = true
					if rec["grpc.code"] != "Internal" {
						t.Errorf("the call was logged with code %v, want Internal", rec["grpc.code"])
					}
				}
			}
			if !finished {
				t.Errorf("no finished call line has request_id %s:\n%s", id, r.logs)
			}
			// The server keeps serving.
			resp, err := r.getTenant(r.authed(testCtx(t)), "tenants/acme")
			if err != nil || resp.GetTenant().GetName() != "tenants/acme" {
				t.Errorf("call after %s = %v, %v", name, resp, err)
			}
		})
	}
}

func TestRequestIDHeader(t *testing.T) {
	t.Parallel()
	r := start(t, options{})
	tests := []struct {
		name string
		sent string // "" sends none
		keep bool
	}{
		{name: "none sent", sent: ""},
		{name: "plausible id is echoed", sent: "edge-0123456789abcdef", keep: true},
		{name: "id with spaces is replaced", sent: "edge 0123456789abcdef"},
		{name: "id over 64 characters is replaced", sent: strings.Repeat("a", 65)},
		{name: "short id is replaced", sent: "abc"},
	}
	plausible := regexp.MustCompile(`^[A-Za-z0-9._-]{8,64}$`)
	seen := map[string]bool{}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx := r.authed(testCtx(t))
			if tt.sent != "" {
				ctx = metadata.AppendToOutgoingContext(ctx, "x-request-id", tt.sent)
			}
			var header metadata.MD
			if _, err := r.getTenant(ctx, "tenants/acme", grpc.Header(&header)); err != nil {
				t.Fatal(err)
			}
			got := header.Get("x-request-id")
			if len(got) != 1 {
				t.Fatalf("x-request-id header = %v, want one value", got)
			}
			if tt.keep && got[0] != tt.sent {
				t.Errorf("x-request-id = %q, want the caller's %q", got[0], tt.sent)
			}
			if !tt.keep && (got[0] == tt.sent || !plausible.MatchString(got[0])) {
				t.Errorf("x-request-id = %q, want a fresh plausible id", got[0])
			}
			if seen[got[0]] {
				t.Errorf("x-request-id %q was used before", got[0])
			}
			seen[got[0]] = true
		})
	}
	// An error response carries the header too.
	var header metadata.MD
	_, err := r.getTenant(metadata.AppendToOutgoingContext(testCtx(t), "x-request-id", "edge-unauth-123"), "tenants/acme", grpc.Header(&header))
	if status.Code(err) != codes.Unauthenticated {
		t.Fatalf("GetTenant without credential = %v", err)
	}
	if got := header.Get("x-request-id"); !slices.Equal(got, []string{"edge-unauth-123"}) {
		t.Errorf("x-request-id on a refused call = %v, want the caller's", got)
	}
}

// handledTotal reads grpc_server_handled_total of one method and code from /metrics.
func handledTotal(t *testing.T, r *running, service, method, typ, code string) float64 {
	t.Helper()
	httpCode, body := r.httpGet(t, "/metrics")
	if httpCode != http.StatusOK {
		t.Fatalf("/metrics = %d", httpCode)
	}
	series := fmt.Sprintf(`grpc_server_handled_total{grpc_code="%s",grpc_method="%s",grpc_service="%s",grpc_type="%s"} `,
		code, method, service, typ)
	for line := range strings.Lines(body) {
		if v, ok := strings.CutPrefix(strings.TrimSpace(line), series); ok {
			f, err := strconv.ParseFloat(v, 64)
			if err != nil {
				t.Fatal(err)
			}
			return f
		}
	}
	return 0
}

func TestMetricsCountCallsByMethodAndCode(t *testing.T) {
	t.Parallel()
	r := start(t, options{})
	ctx := r.authed(testCtx(t))
	for range 3 {
		if _, err := r.getTenant(ctx, "tenants/acme"); err != nil {
			t.Fatal(err)
		}
	}
	_, _ = r.getTenant(testCtx(t), "tenants/acme")    // Unauthenticated
	_, _ = r.getTenant(ctx, "tenants/panic")          // Internal
	_, _ = r.getTenant(ctx, "tenants/bare")           // Internal, as the client saw it
	_, _ = r.getTenant(ctx, "tenants/NOT-VALID-NAME") // InvalidArgument

	for code, want := range map[string]float64{"OK": 3, "Unauthenticated": 1, "Internal": 2, "InvalidArgument": 1, "Unknown": 0} {
		if got := handledTotal(t, r, tenantService, "GetTenant", "unary", code); got != want {
			t.Errorf("grpc_server_handled_total{GetTenant,%s} = %v, want %v", code, got, want)
		}
	}
	_, body := r.httpGet(t, "/metrics")
	for _, family := range []string{"grpc_server_handling_seconds_bucket", "go_goroutines", "process_cpu_seconds_total"} {
		if !strings.Contains(body, family) {
			t.Errorf("/metrics lacks %s", family)
		}
	}
}

func TestWorkersStartOnlyOnceReady(t *testing.T) {
	t.Parallel()
	var ready atomic.Bool
	var checks atomic.Int32
	started := make(chan struct{})
	stopped := make(chan error, 1)
	r := start(t, options{
		ready: func(context.Context) (bool, error) {
			checks.Add(1)
			return ready.Load(), nil
		},
		workers: map[string]server.Worker{"purger": func(ctx context.Context) error {
			close(started)
			<-ctx.Done()
			stopped <- ctx.Err()
			return nil
		}},
	})
	eventually(t, 5*time.Second, "Ready was asked three times", func() bool { return checks.Load() >= 3 })
	select {
	case <-started:
		t.Fatal("a worker started before Ready reported true")
	default:
	}
	ready.Store(true)
	select {
	case <-started:
	case <-time.After(5 * time.Second):
		t.Fatal("the worker did not start once ready")
	}
	if got := r.health(t, tenantService); got != healthpb.HealthCheckResponse_SERVING {
		t.Errorf("health = %v with workers running, want SERVING", got)
	}
	select {
	case err := <-stopped:
		t.Fatalf("the worker's context ended early: %v", err)
	case <-time.After(50 * time.Millisecond):
	}

	r.stop()
	select {
	case err := <-stopped:
		if !errors.Is(err, context.Canceled) {
			t.Errorf("worker context ended with %v, want Canceled", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the worker's context was not cancelled at shutdown")
	}
	if ok, err := r.result(10 * time.Second); !ok || err != nil {
		t.Errorf("Run = %v (returned: %v), want nil", err, ok)
	}
}

func TestAFailingWorkerStopsRunWithItsError(t *testing.T) {
	t.Parallel()
	errBroken := errors.New("outbox table is gone")
	closed := make(chan struct{})
	closers := &server.Closers{}
	closers.Push("store", func() error { close(closed); return nil })
	r := start(t, options{
		workers: map[string]server.Worker{
			"outbox": func(context.Context) error { return errBroken },
			"steady": func(ctx context.Context) error { <-ctx.Done(); return nil },
		},
		closers: closers,
	})
	ok, err := r.result(10 * time.Second)
	if !ok {
		t.Fatal("Run did not stop after a worker failed")
	}
	if !errors.Is(err, errBroken) {
		t.Errorf("Run = %v, want the worker's error", err)
	}
	if err != nil && !strings.Contains(err.Error(), "outbox") {
		t.Errorf("Run = %v, want it to name the worker", err)
	}
	select {
	case <-closed:
	default:
		t.Error("closers did not run after a worker failure")
	}
}

func TestShutdownOrder(t *testing.T) {
	t.Parallel()
	var (
		mu     sync.Mutex
		events []string
	)
	record := func(e string) {
		mu.Lock()
		defer mu.Unlock()
		events = append(events, e)
	}
	svc := newTenants()
	svc.onSlowDone = func() { record("slow call finished") }
	workerStarted := make(chan struct{})
	var grpcAddr atomic.Value
	listenerClosed := func() string {
		c, err := net.DialTimeout("tcp", grpcAddr.Load().(string), time.Second)
		if err != nil {
			return "grpc closed"
		}
		_ = c.Close()
		return "grpc open"
	}
	closers := &server.Closers{}
	closers.Push("store", func() error { record("close store (" + listenerClosed() + ")"); return nil })
	closers.Push("cache", func() error { record("close cache (" + listenerClosed() + ")"); return nil })
	r := start(t, options{
		svc:   svc,
		drain: time.Second,
		workers: map[string]server.Worker{"purger": func(ctx context.Context) error {
			record("worker started")
			close(workerStarted)
			<-ctx.Done()
			record("worker stopped")
			return nil
		}},
		closers:  closers,
		draining: func() { record("draining (" + listenerClosed() + ")") },
	})
	grpcAddr.Store(r.srv.GRPCAddr())
	<-workerStarted

	// A slow call is in flight when shutdown begins.
	slowDone := make(chan error, 1)
	go func() {
		_, err := r.getTenant(r.authed(context.Background()), "tenants/slow")
		slowDone <- err
	}()
	select {
	case <-svc.slowStarted:
	case <-time.After(5 * time.Second):
		t.Fatal("the slow call never reached the handler")
	}
	if got := r.health(t, tenantService); got != healthpb.HealthCheckResponse_SERVING {
		t.Fatalf("health before shutdown = %v", got)
	}

	cancelled := time.Now()
	r.stop()
	// Health turns NOT_SERVING at once, while the server still answers (the drain).
	eventually(t, 500*time.Millisecond, "health reports NOT_SERVING", func() bool {
		return r.health(t, tenantService) == healthpb.HealthCheckResponse_NOT_SERVING &&
			r.health(t, "") == healthpb.HealthCheckResponse_NOT_SERVING
	})
	if time.Since(cancelled) >= time.Second {
		t.Fatal("NOT_SERVING was only seen after the drain window")
	}
	if code, _ := r.httpGet(t, "/readyz"); code != http.StatusServiceUnavailable {
		t.Errorf("/readyz during the drain = %d, want 503", code)
	}
	// New calls are still served during the drain, so none fail while load balancers
	// catch up.
	if _, err := r.getTenant(r.authed(testCtx(t)), "tenants/acme"); err != nil {
		t.Errorf("a call during the drain failed: %v", err)
	}
	if returned, err := r.result(0); returned {
		t.Fatalf("Run returned during the drain: %v", err)
	}

	// After the drain GracefulStop closes the listener and waits for the slow call.
	eventually(t, 5*time.Second, "the gRPC listener is closed", func() bool { return listenerClosed() == "grpc closed" })
	if time.Since(cancelled) < time.Second {
		t.Errorf("the listener closed %v after shutdown began, before the 1s drain ended", time.Since(cancelled))
	}
	mu.Lock()
	early := slices.Clone(events)
	mu.Unlock()
	if slices.Contains(early, "worker stopped") || slices.ContainsFunc(early, func(e string) bool { return strings.HasPrefix(e, "close") }) {
		t.Errorf("workers or closers stopped while a call was in flight: %v", early)
	}
	close(svc.release)
	if err := <-slowDone; err != nil {
		t.Errorf("the in-flight call failed at shutdown: %v", err)
	}
	if ok, err := r.result(10 * time.Second); !ok || err != nil {
		t.Fatalf("Run = %v (returned: %v), want nil", err, ok)
	}

	mu.Lock()
	defer mu.Unlock()
	want := []string{
		"worker started",
		"draining (grpc open)", // streams that never end are told to before the wait
		"slow call finished",
		"worker stopped",
		"close cache (grpc closed)", // last pushed, first closed
		"close store (grpc closed)",
	}
	if !slices.Equal(events, want) {
		t.Errorf("shutdown order:\n got %q\nwant %q", events, want)
	}
	if code := httpStatus(r.srv.HTTPAddr()); code != 0 {
		t.Errorf("the HTTP server still answers after Run returned (%d)", code)
	}
}

func httpStatus(addr string) int {
	c := http.Client{Timeout: time.Second}
	resp, err := c.Get("http://" + addr + "/healthz")
	if err != nil {
		return 0
	}
	defer resp.Body.Close()
	return resp.StatusCode
}

func TestShutdownCutsCallsThatOutliveTheTimeout(t *testing.T) {
	t.Parallel()
	logs := &testkit.LogBuffer{}
	log, err := logging.New(logs, "debug")
	if err != nil {
		t.Fatal(err)
	}
	svc := newTenants()
	t.Cleanup(func() { close(svc.release) })
	cfg := testConfig(auth.GenerateAPIKey())
	cfg.ShutdownDrain = 0
	cfg.ShutdownTimeout = 200 * time.Millisecond
	srv, err := server.New(cfg, server.Service{
		Name:     "tenant",
		Register: func(s *grpc.Server) { tenantv1.RegisterTenantServiceServer(s, svc) },
	}, log)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Run(ctx) }()
	conn, err := grpc.NewClient(srv.GRPCAddr(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	callErr := make(chan error, 1)
	go func() {
		_, err := tenantv1.NewTenantServiceClient(conn).GetTenant(
			metadata.AppendToOutgoingContext(context.Background(), "authorization", "Bearer "+cfg.BootstrapAdminKey),
			&tenantv1.GetTenantRequest{Name: "tenants/slow"})
		callErr <- err
	}()
	<-svc.slowStarted
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("Run = %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Run waited for a call beyond the shutdown timeout")
	}
	if err := <-callErr; status.Code(err) != codes.Unavailable {
		t.Errorf("the cut call = %v, want Unavailable", err)
	}
	if !strings.Contains(logs.String(), "did not finish in time") {
		t.Error("cutting calls was not logged")
	}
}

func TestConfigValidate(t *testing.T) {
	t.Parallel()
	good := testConfig(auth.GenerateAPIKey())
	if err := good.Validate(); err != nil {
		t.Fatalf("a good config: %v", err)
	}
	zeroDrain := good
	zeroDrain.ShutdownDrain = 0
	if err := zeroDrain.Validate(); err != nil {
		t.Errorf("a zero drain is allowed: %v", err)
	}
	// Neither identity nor a bootstrap key: valid flags, but nothing could authenticate.
	alone := good
	alone.BootstrapAdminKey = ""
	if srv, err := server.New(alone, server.Service{Register: func(*grpc.Server) {}}, nil); err == nil || srv != nil ||
		!strings.Contains(err.Error(), "--identity-addr") {
		t.Errorf("New without identity or bootstrap key = %v, want an error naming --identity-addr", err)
	}
	tests := []struct {
		name   string
		mutate func(*server.Config)
		want   string
	}{
		{"no gRPC address", func(c *server.Config) { c.GRPCAddr = "" }, "--grpc-addr"},
		{"no HTTP address", func(c *server.Config) { c.HTTPAddr = "" }, "--http-addr"},
		{"credential cache over a minute", func(c *server.Config) { c.CredentialCache = 2 * time.Minute }, "--credential-cache"},
		{"weak bootstrap key", func(c *server.Config) { c.BootstrapAdminKey = "oriel_sk_short" }, "--bootstrap-admin-key"},
		{"bootstrap key without prefix", func(c *server.Config) { c.BootstrapAdminKey = strings.Repeat("k", 60) }, "--bootstrap-admin-key"},
		{"negative drain", func(c *server.Config) { c.ShutdownDrain = -time.Second }, "--shutdown-drain"},
		{"zero shutdown timeout", func(c *server.Config) { c.ShutdownTimeout = 0 }, "--shutdown-timeout"},
		{"negative shutdown timeout", func(c *server.Config) { c.ShutdownTimeout = -time.Second }, "--shutdown-timeout"},
		{"zero ready interval", func(c *server.Config) { c.ReadyInterval = 0 }, "--ready-interval"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			c := good
			tt.mutate(&c)
			err := c.Validate()
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("Validate = %v, want an error naming %s", err, tt.want)
			}
			if strings.Contains(err.Error(), good.BootstrapAdminKey) {
				t.Errorf("the error repeats the key: %v", err)
			}
			srv, err := server.New(c, server.Service{Register: func(*grpc.Server) {}}, nil)
			if err == nil || srv != nil {
				t.Errorf("New accepted the config")
			}
		})
	}
}

func TestNewFailsWhenTheAddressIsTaken(t *testing.T) {
	t.Parallel()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer lis.Close()
	log, _ := logging.New(io.Discard, "info")
	for _, field := range []string{"grpc", "http"} {
		cfg := testConfig(auth.GenerateAPIKey())
		if field == "grpc" {
			cfg.GRPCAddr = lis.Addr().String()
		} else {
			cfg.HTTPAddr = lis.Addr().String()
		}
		if _, err := server.New(cfg, server.Service{Register: func(*grpc.Server) {}}, log); err == nil {
			t.Errorf("New with the %s address taken succeeded", field)
		}
	}
}

func TestClosersCloseInReverseAndJoinErrors(t *testing.T) {
	t.Parallel()
	var order []string
	errCache := errors.New("cache: connection reset")
	errQueue := errors.New("queue: flush failed")
	c := &server.Closers{}
	c.Push("store", func() error { order = append(order, "store"); return nil })
	c.Push("cache", func() error { order = append(order, "cache"); return errCache })
	c.Push("queue", func() error { order = append(order, "queue"); return errQueue })

	err := c.Close()
	if !slices.Equal(order, []string{"queue", "cache", "store"}) {
		t.Errorf("close order = %v, want last pushed first", order)
	}
	if !errors.Is(err, errCache) || !errors.Is(err, errQueue) {
		t.Errorf("Close = %v, want both errors joined", err)
	}
	for _, name := range []string{"close cache", "close queue"} {
		if err == nil || !strings.Contains(err.Error(), name) {
			t.Errorf("Close = %v, want it to say %q", err, name)
		}
	}
	if strings.Contains(err.Error(), "store") {
		t.Errorf("Close = %v names a closer that succeeded", err)
	}

	order = nil
	if err := c.Close(); err != nil || len(order) != 0 {
		t.Errorf("second Close = %v and ran %v; want a no-op", err, order)
	}
	if err := (&server.Closers{}).Close(); err != nil {
		t.Errorf("empty Close = %v", err)
	}
}

// echoDesc is a bidirectional stream that echoes tenant names back and misbehaves like
// GetTenant does, so the stream half of the interceptor chain is exercised too.
var echoDesc = grpc.ServiceDesc{
	ServiceName: "oriel.test.v1.Echo",
	HandlerType: (*any)(nil),
	Streams: []grpc.StreamDesc{{
		StreamName:    "Echo",
		ServerStreams: true,
		ClientStreams: true,
		Handler: func(_ any, ss grpc.ServerStream) error {
			for {
				var req tenantv1.GetTenantRequest
				if err := ss.RecvMsg(&req); err == io.EOF {
					return nil
				} else if err != nil {
					return err
				}
				switch req.GetName() {
				case "tenants/panic":
					panic("driver secret text in a panic")
				case "tenants/bare":
					return errors.New("driver secret text")
				}
				if err := ss.SendMsg(&tenantv1.GetTenantResponse{Tenant: &tenantv1.Tenant{Name: req.GetName()}}); err != nil {
					return err
				}
			}
		},
	}},
}

const echoMethod = "/oriel.test.v1.Echo/Echo"

// echo sends names on one stream and returns the names echoed back, the error that ended
// the stream (nil for a clean end) and the response header.
func (r *running) echo(t *testing.T, ctx context.Context, names ...string) ([]string, error, metadata.MD) {
	t.Helper()
	stream, err := r.conn.NewStream(ctx, &echoDesc.Streams[0], echoMethod)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, name := range names {
		if err := stream.SendMsg(&tenantv1.GetTenantRequest{Name: name}); err != nil {
			break // the server ended the stream; RecvMsg says why
		}
		var resp tenantv1.GetTenantResponse
		if err := stream.RecvMsg(&resp); err != nil {
			header, _ := stream.Header()
			return got, err, header
		}
		got = append(got, resp.GetTenant().GetName())
	}
	_ = stream.CloseSend()
	var resp tenantv1.GetTenantResponse
	err = stream.RecvMsg(&resp)
	header, _ := stream.Header()
	if err == io.EOF {
		err = nil
	}
	return got, err, header
}

func TestStreamsPassTheSameChain(t *testing.T) {
	t.Parallel()
	r := start(t, options{register: func(s *grpc.Server) { s.RegisterService(&echoDesc, struct{}{}) }})
	waitReady(t, r)

	t.Run("refused without a credential", func(t *testing.T) {
		got, err, _ := r.echo(t, testCtx(t), "tenants/acme")
		if status.Code(err) != codes.Unauthenticated || apierr.Reason(err) != "CREDENTIAL_MISSING" {
			t.Errorf("stream without a credential = %v, want Unauthenticated / CREDENTIAL_MISSING", err)
		}
		if len(got) != 0 {
			t.Errorf("the handler answered %v", got)
		}
	})
	t.Run("valid messages are echoed", func(t *testing.T) {
		ctx := metadata.AppendToOutgoingContext(r.authed(testCtx(t)), "x-request-id", "edge-stream-1234")
		got, err, header := r.echo(t, ctx, "tenants/acme", "tenants/globex")
		if err != nil || !slices.Equal(got, []string{"tenants/acme", "tenants/globex"}) {
			t.Errorf("echo = %v, %v", got, err)
		}
		if id := header.Get("x-request-id"); !slices.Equal(id, []string{"edge-stream-1234"}) {
			t.Errorf("x-request-id = %v, want the caller's", id)
		}
	})
	t.Run("each received message is validated", func(t *testing.T) {
		got, err, _ := r.echo(t, r.authed(testCtx(t)), "tenants/acme", "Tenants/Bad", "tenants/never")
		if !slices.Equal(got, []string{"tenants/acme"}) {
			t.Errorf("echoed %v, want only the message before the invalid one", got)
		}
		if status.Code(err) != codes.InvalidArgument || apierr.Reason(err) != "INVALID_REQUEST" {
			t.Errorf("stream ended with %v, want INVALID_ARGUMENT / INVALID_REQUEST", err)
		}
	})
	for _, name := range []string{"tenants/bare", "tenants/panic"} {
		t.Run(name+" is masked", func(t *testing.T) {
			_, err, header := r.echo(t, r.authed(testCtx(t)), name)
			id := correlationID(t, err)
			if got := header.Get("x-request-id"); !slices.Equal(got, []string{id}) {
				t.Errorf("x-request-id = %v, want the correlation id %s", got, id)
			}
			if strings.Contains(status.Convert(err).Message(), "driver secret text") {
				t.Errorf("the client sees the error text: %v", err)
			}
			if !strings.Contains(r.logs.String(), id) {
				t.Errorf("the log lacks correlation id %s", id)
			}
		})
	}
	t.Run("metrics count streams by the code clients saw", func(t *testing.T) {
		// Counted above: one OK stream, one refused, one invalid, two masked.
		for code, want := range map[string]float64{"OK": 1, "Unauthenticated": 1, "InvalidArgument": 1, "Internal": 2, "Unknown": 0} {
			if got := handledTotal(t, r, "oriel.test.v1.Echo", "Echo", "bidi_stream", code); got != want {
				t.Errorf("grpc_server_handled_total{Echo,%s} = %v, want %v", code, got, want)
			}
		}
	})
}

func TestQuietMethodsLogSuccessAtDebugAndFailureAsUsual(t *testing.T) {
	t.Parallel()
	r := start(t, options{quiet: []string{"/oriel.tenant.v1.TenantService/GetTenant"}})
	if _, err := r.getTenant(r.authed(context.Background()), "tenants/acme"); err != nil {
		t.Fatal(err)
	}
	if _, err := r.getTenant(r.authed(context.Background()), "tenants/bare"); err == nil {
		t.Fatal("tenants/bare succeeded")
	}
	levels := map[string][]string{}
	for _, rec := range logRecords(t, r.logs) {
		if rec["msg"] == "finished call" && rec["grpc.method"] == "GetTenant" {
			code, _ := rec["grpc.code"].(string)
			level, _ := rec["level"].(string)
			levels[code] = append(levels[code], level)
		}
	}
	if !slices.Equal(levels["OK"], []string{"DEBUG"}) || len(levels["Internal"]) != 1 || levels["Internal"][0] == "DEBUG" {
		t.Fatalf("finished-call levels by code = %v; want one DEBUG line for the success and one above DEBUG for the failure", levels)
	}
}
