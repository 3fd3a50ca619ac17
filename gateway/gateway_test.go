package gateway_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/metadata"

	"github.com/oriel-dev/oriel/gateway"
	contentv1 "github.com/oriel-dev/oriel/gen/pb/oriel/content/v1"
	datagatewayv1 "github.com/oriel-dev/oriel/gen/pb/oriel/datagateway/v1"
	errorsv1 "github.com/oriel-dev/oriel/gen/pb/oriel/errors/v1"
	identityv1 "github.com/oriel-dev/oriel/gen/pb/oriel/identity/v1"
	tenantv1 "github.com/oriel-dev/oriel/gen/pb/oriel/tenant/v1"
	"github.com/oriel-dev/oriel/platform/apierr"
)

// backend stands in for the tenant service: the edge's own behaviour (what it forwards,
// how it limits and reports) is what these tests are about; the real service behind a real
// edge is tested end to end in the cli module.
type backend struct {
	tenantv1.UnimplementedTenantServiceServer
	mu       sync.Mutex
	md       metadata.MD
	deadline time.Duration
	calls    int
	reply    func(ctx context.Context) (*tenantv1.GetTenantResponse, error)
}

func (b *backend) GetTenant(ctx context.Context, _ *tenantv1.GetTenantRequest) (*tenantv1.GetTenantResponse, error) {
	b.mu.Lock()
	b.calls++
	b.md, _ = metadata.FromIncomingContext(ctx)
	if d, ok := ctx.Deadline(); ok {
		b.deadline = time.Until(d)
	}
	reply := b.reply
	b.mu.Unlock()
	_ = grpc.SetHeader(ctx, metadata.Pairs("x-secret-header", "backend-internal"))
	if reply != nil {
		return reply(ctx)
	}
	return &tenantv1.GetTenantResponse{Tenant: &tenantv1.Tenant{Name: "tenants/acme", DisplayName: "Acme"}}, nil
}

func (b *backend) CreateTenant(context.Context, *tenantv1.CreateTenantRequest) (*tenantv1.CreateTenantResponse, error) {
	b.mu.Lock()
	b.calls++
	b.mu.Unlock()
	return &tenantv1.CreateTenantResponse{Tenant: &tenantv1.Tenant{Name: "tenants/acme"}}, nil
}

// watcher stands in for the content service's WatchRollout, a stream.
type watcher struct {
	contentv1.UnimplementedRolloutServiceServer
	b *backend
}

func (w *watcher) WatchRollout(req *contentv1.WatchRolloutRequest, stream grpc.ServerStreamingServer[contentv1.WatchRolloutResponse]) error {
	w.b.mu.Lock()
	if d, ok := stream.Context().Deadline(); ok {
		w.b.deadline = time.Until(d)
	}
	w.b.mu.Unlock()
	if req.GetName() == "rollouts/slow" {
		// Longer than the call cap of the test that asks for it.
		select {
		case <-time.After(1500 * time.Millisecond):
		case <-stream.Context().Done():
			return stream.Context().Err()
		}
	}
	return stream.Send(&contentv1.WatchRolloutResponse{Rollout: &contentv1.Rollout{Name: "rollouts/r1"}})
}

// querier stands in for the datagateway's Query, a stream: one header, one batch, and
// then the end, or the error of the request's statement when it names one.
type querier struct {
	datagatewayv1.UnimplementedConnectionServiceServer
	b *backend
}

func (q *querier) Query(req *datagatewayv1.QueryRequest, stream grpc.ServerStreamingServer[datagatewayv1.QueryResponse]) error {
	q.b.mu.Lock()
	if d, ok := stream.Context().Deadline(); ok {
		q.b.deadline = time.Until(d)
	}
	q.b.mu.Unlock()
	if req.GetStatement() == "slow" {
		// Longer than the call cap of the test that asks for it.
		select {
		case <-time.After(1500 * time.Millisecond):
		case <-stream.Context().Done():
			return stream.Context().Err()
		}
	}
	if req.GetStatement() == "fail before rows" {
		return errors.New(`pq: password authentication failed for user "secret_user"`)
	}
	header := &datagatewayv1.ResultHeader{Columns: []*datagatewayv1.Column{{Name: "n", Type: datagatewayv1.Column_TYPE_INT64}}}
	if err := stream.Send(&datagatewayv1.QueryResponse{Result: &datagatewayv1.QueryResponse_Header{Header: header}}); err != nil {
		return err
	}
	if err := stream.Send(&datagatewayv1.QueryResponse{Result: &datagatewayv1.QueryResponse_Batch{Batch: &datagatewayv1.RowBatch{
		RowCount: 1, Columns: []*datagatewayv1.ColumnValues{{Int64Values: []int64{42}}},
	}}}); err != nil {
		return err
	}
	if req.GetStatement() == "fail after rows" {
		return errors.New(`pq: relation "secret_table" does not exist`)
	}
	return nil
}

type edge struct {
	url     string
	backend *backend
	health  *health.Server
}

func startEdge(t *testing.T, cfg gateway.Config) *edge {
	t.Helper()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	b := &backend{}
	gs := grpc.NewServer()
	tenantv1.RegisterTenantServiceServer(gs, b)
	contentv1.RegisterRolloutServiceServer(gs, &watcher{b: b})
	datagatewayv1.RegisterConnectionServiceServer(gs, &querier{b: b})
	// The edge introspects API keys: the one these tests send is a platform key.
	identityv1.RegisterTokenServiceServer(gs, &fakeIdentity{principals: map[string]*identityv1.Principal{
		"oriel_sk_test": {Kind: identityv1.Principal_KIND_SERVICE_ACCOUNT, Name: "serviceAccounts/test", Credential: "serviceAccounts/test/keys/k1"},
	}})
	hs := health.NewServer()
	healthpb.RegisterHealthServer(gs, hs)
	go func() { _ = gs.Serve(lis) }()
	t.Cleanup(gs.Stop)

	cfg.Addr = "127.0.0.1:0"
	cfg.TenantAddr = lis.Addr().String()
	// Identity is not under test here; the stand-in serves health for it too.
	cfg.IdentityAddr = lis.Addr().String()
	cfg.ContentAddr = lis.Addr().String()
	cfg.DatagatewayAddr = lis.Addr().String()
	if cfg.CallTimeout == 0 {
		cfg.CallTimeout = 5 * time.Second
	}
	if cfg.StreamTimeout == 0 {
		cfg.StreamTimeout = time.Minute
	}
	if cfg.MaxBodyBytes == 0 {
		cfg.MaxBodyBytes = 1 << 20
	}
	cfg.ShutdownTimeout = time.Second
	if cfg.RedisURL == "" {
		cfg.DevMode = true
	}
	ctx, cancel := context.WithCancel(context.Background())
	g, err := gateway.New(ctx, cfg, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- g.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Error(err)
		}
	})
	return &edge{url: "http://" + g.Addr(), backend: b, health: hs}
}

func (e *edge) do(t *testing.T, method, path string, body io.Reader, header http.Header) (*http.Response, []byte) {
	t.Helper()
	req, err := http.NewRequest(method, e.url+path, body)
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range header {
		req.Header[k] = v
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp, b
}

// errorBody is the edge's error shape, decoded loosely as a client would.
type errorBody struct {
	Error struct {
		Code    int    `json:"code"`
		Status  string `json:"status"`
		Message string `json:"message"`
		Details []struct {
			Type            string            `json:"@type"`
			Reason          string            `json:"reason"`
			Domain          string            `json:"domain"`
			Metadata        map[string]string `json:"metadata"`
			FieldViolations []struct {
				Field       string `json:"field"`
				Description string `json:"description"`
			} `json:"fieldViolations"`
		} `json:"details"`
	} `json:"error"`
}

// wantErrorBody checks an error response's HTTP status, gRPC status and reason.
func wantErrorBody(t *testing.T, resp *http.Response, body []byte, httpStatus int, grpcStatus, reason string) errorBody {
	t.Helper()
	if resp.StatusCode != httpStatus {
		t.Fatalf("HTTP status %d, want %d; body %s", resp.StatusCode, httpStatus, body)
	}
	if ct := resp.Header.Get("Content-Type"); ct != "application/json" {
		t.Errorf("Content-Type %q, want application/json", ct)
	}
	var e errorBody
	if err := json.Unmarshal(body, &e); err != nil {
		t.Fatalf("error body is not JSON: %v: %s", err, body)
	}
	if e.Error.Code != httpStatus || e.Error.Status != grpcStatus || e.Error.Message == "" {
		t.Fatalf("error = %+v, want code %d status %s and a message", e.Error, httpStatus, grpcStatus)
	}
	var reasons []string
	for _, d := range e.Error.Details {
		if d.Type == "type.googleapis.com/google.rpc.ErrorInfo" {
			reasons = append(reasons, d.Reason)
			if d.Domain != "oriel.dev" {
				t.Errorf("ErrorInfo domain %q", d.Domain)
			}
		}
	}
	if !slices.Equal(reasons, []string{reason}) {
		t.Fatalf("ErrorInfo reasons %v, want [%s]; body %s", reasons, reason, body)
	}
	return e
}

func TestEdgeForwardsOnlyTheAuthorizationHeader(t *testing.T) {
	t.Parallel()
	e := startEdge(t, gateway.Config{CallTimeout: 3 * time.Second})
	resp, body := e.do(t, http.MethodGet, "/v1/tenants/acme", nil, http.Header{
		"Authorization":          {"Bearer oriel_sk_test"},
		"X-Custom":               {"chosen-by-client"},
		"Grpc-Metadata-X-Tenant": {"other-tenant"},
		"X-Forwarded-For":        {"6.6.6.6"},
		"X-Forwarded-Host":       {"evil.example.com"},
		"Forwarded":              {"for=6.6.6.6"},
		"X-Request-Id":           {"client-chosen-request-id"},
		"Grpc-Timeout":           {"1000H"},
		"Cookie":                 {"session=abc"},
	})
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("status %d: %s", resp.StatusCode, body)
	}
	e.backend.mu.Lock()
	md, deadline := e.backend.md, e.backend.deadline
	e.backend.mu.Unlock()

	if got := md.Get("authorization"); !slices.Equal(got, []string{"Bearer oriel_sk_test"}) {
		t.Errorf("authorization = %v", got)
	}
	// Keys gRPC itself sets, and the ones the edge sets on its own authority.
	allowed := []string{":authority", "content-type", "user-agent", "grpc-accept-encoding", "authorization", "x-request-id", "x-forwarded-for"}
	for k := range md {
		if !slices.Contains(allowed, k) {
			t.Errorf("the edge forwarded metadata %q = %v", k, md.Get(k))
		}
	}
	if got := md.Get("x-forwarded-for"); !slices.Equal(got, []string{"127.0.0.1"}) {
		t.Errorf("x-forwarded-for = %v, want only the peer the edge saw", got)
	}
	id := resp.Header.Get("X-Request-Id")
	if got := md.Get("x-request-id"); id == "" || id == "client-chosen-request-id" || !slices.Equal(got, []string{id}) {
		t.Errorf("x-request-id to the service %v, to the client %q: want one id chosen by the edge", got, id)
	}
	if deadline <= 0 || deadline > 3*time.Second {
		t.Errorf("the service saw a deadline of %s, want the edge's cap of 3s", deadline)
	}
	if ids := resp.Header.Values("X-Request-Id"); len(ids) != 1 {
		t.Errorf("X-Request-Id sent %d times: %v", len(ids), ids)
	}
	if resp.Header.Get("X-Secret-Header") != "" || resp.Header.Get("Grpc-Metadata-X-Secret-Header") != "" {
		t.Error("the edge leaked the service's response metadata")
	}
}

func TestEdgeGivesWatchesTheStreamCapInsteadOfTheCallCap(t *testing.T) {
	t.Parallel()
	e := startEdge(t, gateway.Config{CallTimeout: time.Second, StreamTimeout: time.Hour})
	resp, body := e.do(t, http.MethodGet, "/v1/rollouts/r1:watch", nil, nil)
	if resp.StatusCode != http.StatusOK || !strings.Contains(string(body), "rollouts/r1") {
		t.Fatalf("watch: %d %s", resp.StatusCode, body)
	}
	e.backend.mu.Lock()
	defer e.backend.mu.Unlock()
	if e.backend.deadline < 30*time.Minute {
		t.Fatalf("the watch got a deadline of %s; want the stream cap of an hour, not the call cap", e.backend.deadline)
	}
}

func TestEdgeGivesQueriesTheStreamCapInsteadOfTheCallCap(t *testing.T) {
	t.Parallel()
	e := startEdge(t, gateway.Config{CallTimeout: time.Second, StreamTimeout: time.Hour})
	resp, body := e.do(t, http.MethodPost, "/v1/tenants/acme/connections/sales:query", strings.NewReader(`{"statement": "SELECT 42"}`), nil)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("query: %d %s", resp.StatusCode, body)
	}
	// One JSON object per message: the header, then the batch.
	lines := strings.Split(strings.TrimSpace(string(body)), "\n")
	if len(lines) != 2 || !strings.Contains(lines[0], `"header"`) || !strings.Contains(lines[1], `"int64Values":["42"]`) {
		t.Fatalf("query stream = %q, want a header line and a batch line", lines)
	}
	e.backend.mu.Lock()
	defer e.backend.mu.Unlock()
	if e.backend.deadline < 30*time.Minute {
		t.Fatalf("the query got a deadline of %s; want the stream cap of an hour, not the call cap", e.backend.deadline)
	}
}

// A stream outlives the call cap: nothing of the call cap (the server's read deadline
// included) cuts it.
func TestEdgeLetsAStreamRunPastTheCallCap(t *testing.T) {
	t.Parallel()
	e := startEdge(t, gateway.Config{CallTimeout: 500 * time.Millisecond, StreamTimeout: time.Minute})
	resp, body := e.do(t, http.MethodPost, "/v1/tenants/acme/connections/sales:query", strings.NewReader(`{"statement": "slow"}`), nil)
	if lines := strings.Split(strings.TrimSpace(string(body)), "\n"); resp.StatusCode != http.StatusOK || len(lines) != 2 || strings.Contains(string(body), "error") {
		t.Fatalf("a query slower than the call cap = %d %s, want its two messages", resp.StatusCode, body)
	}
	resp, body = e.do(t, http.MethodGet, "/v1/rollouts/slow:watch", nil, nil)
	if resp.StatusCode != http.StatusOK || !strings.Contains(string(body), "rollouts/r1") || strings.Contains(string(body), "error") {
		t.Fatalf("a watch slower than the call cap = %d %s, want its message", resp.StatusCode, body)
	}
}

func TestEdgeMasksBareErrorsInStreams(t *testing.T) {
	t.Parallel()
	e := startEdge(t, gateway.Config{})

	t.Run("before the first message, as the response", func(t *testing.T) {
		resp, body := e.do(t, http.MethodPost, "/v1/tenants/acme/connections/sales:query", strings.NewReader(`{"statement": "fail before rows"}`), nil)
		if resp.StatusCode != http.StatusInternalServerError || strings.Contains(string(body), "secret_user") {
			t.Fatalf("query = %d %s, want 500 without the backend's text", resp.StatusCode, body)
		}
		streamError(t, body, resp.Header.Get("X-Request-Id"))
	})
	t.Run("after rows, as the stream's last line", func(t *testing.T) {
		resp, body := e.do(t, http.MethodPost, "/v1/tenants/acme/connections/sales:query", strings.NewReader(`{"statement": "fail after rows"}`), nil)
		lines := strings.Split(strings.TrimSpace(string(body)), "\n")
		if resp.StatusCode != http.StatusOK || len(lines) != 3 || strings.Contains(string(body), "secret_table") {
			t.Fatalf("query = %d %q, want 200, two messages and an error line without the backend's text", resp.StatusCode, lines)
		}
		streamError(t, []byte(lines[2]), resp.Header.Get("X-Request-Id"))
	})
}

// streamError checks a stream's error object: grpc-gateway's {"error": google.rpc.Status},
// whose code is the gRPC code's number, here INTERNAL (13) with the edge's reason and the
// request id in the message.
func streamError(t *testing.T, line []byte, requestID string) {
	t.Helper()
	var e struct {
		Error struct {
			Code    int    `json:"code"`
			Message string `json:"message"`
			Details []struct {
				Reason string `json:"reason"`
			} `json:"details"`
		} `json:"error"`
	}
	if err := json.Unmarshal(line, &e); err != nil {
		t.Fatalf("stream error %s: %v", line, err)
	}
	if e.Error.Code != 13 || len(e.Error.Details) != 1 || e.Error.Details[0].Reason != "INTERNAL" || requestID == "" ||
		!strings.Contains(e.Error.Message, requestID) {
		t.Fatalf("stream error = %s, want code 13, reason INTERNAL and the request id %q in the message", line, requestID)
	}
}

func TestEdgeServesTheDatagatewayButNotItsAgentTunnel(t *testing.T) {
	t.Parallel()
	e := startEdge(t, gateway.Config{})
	// Routed to the datagateway (whose stand-in implements only Query): UNIMPLEMENTED
	// from the service, not the edge's ROUTE_NOT_FOUND.
	for _, r := range []struct{ method, path string }{
		{http.MethodGet, "/v1/tenants/acme/connections/sales"},
		{http.MethodGet, "/v1/tenants/acme/agents"},
		{http.MethodPost, "/v1/tenants/acme/agents/a1:createEnrollmentToken"},
		{http.MethodGet, "/v1/tenants/acme/replications/r1"},
	} {
		resp, body := e.do(t, r.method, r.path, strings.NewReader("{}"), nil)
		if resp.StatusCode != http.StatusNotImplemented || strings.Contains(string(body), "ROUTE_NOT_FOUND") {
			t.Errorf("%s %s = %d %s, want the service's 501", r.method, r.path, resp.StatusCode, body)
		}
	}
	resp, body := e.do(t, http.MethodPost, "/v1/oriel.datagateway.v1.AgentTunnelService/Connect", strings.NewReader("{}"), nil)
	wantErrorBody(t, resp, body, http.StatusNotFound, "NOT_FOUND", "ROUTE_NOT_FOUND")
}

func TestEdgeLimitsRequestBodies(t *testing.T) {
	t.Parallel()
	e := startEdge(t, gateway.Config{MaxBodyBytes: 1024})
	big := `{"displayName":"` + strings.Repeat("a", 2048) + `"}`

	t.Run("declared length", func(t *testing.T) {
		resp, body := e.do(t, http.MethodPost, "/v1/tenants", strings.NewReader(big), nil)
		wantErrorBody(t, resp, body, http.StatusRequestEntityTooLarge, "INVALID_ARGUMENT", "REQUEST_TOO_LARGE")
	})
	t.Run("chunked", func(t *testing.T) {
		// A reader of unknown length makes the client send it chunked.
		resp, body := e.do(t, http.MethodPost, "/v1/tenants", io.MultiReader(strings.NewReader(big)), nil)
		wantErrorBody(t, resp, body, http.StatusRequestEntityTooLarge, "INVALID_ARGUMENT", "REQUEST_TOO_LARGE")
	})
	t.Run("at the limit passes", func(t *testing.T) {
		ok := `{"displayName":"` + strings.Repeat("a", 1024-len(`{"displayName":""}`)) + `"}`
		resp, body := e.do(t, http.MethodPost, "/v1/tenants", strings.NewReader(ok), nil)
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("status %d: %s", resp.StatusCode, body)
		}
	})
	e.backend.mu.Lock()
	defer e.backend.mu.Unlock()
	if e.backend.calls != 1 {
		t.Fatalf("the service was called %d times, want once (oversized bodies never reach it)", e.backend.calls)
	}
}

func TestEdgeCapsEveryCallWithADeadline(t *testing.T) {
	t.Parallel()
	e := startEdge(t, gateway.Config{CallTimeout: 200 * time.Millisecond})
	e.backend.reply = func(ctx context.Context) (*tenantv1.GetTenantResponse, error) {
		<-ctx.Done()
		return nil, ctx.Err()
	}
	resp, body := e.do(t, http.MethodGet, "/v1/tenants/slow", nil, nil)
	wantErrorBody(t, resp, body, http.StatusGatewayTimeout, "DEADLINE_EXCEEDED", "DEADLINE_EXCEEDED")
}

func TestEdgeWritesErrorsInOneShape(t *testing.T) {
	t.Parallel()
	e := startEdge(t, gateway.Config{})

	t.Run("a service error keeps its reason and field violations", func(t *testing.T) {
		e.backend.mu.Lock()
		e.backend.reply = func(context.Context) (*tenantv1.GetTenantResponse, error) {
			return nil, apierr.Invalid(errorsv1.ErrorReason_ERROR_REASON_INVALID_REQUEST,
				apierr.FieldViolation{Field: "name", Description: "must be a tenant name"})
		}
		e.backend.mu.Unlock()
		resp, body := e.do(t, http.MethodGet, "/v1/tenants/x1x", nil, nil)
		got := wantErrorBody(t, resp, body, http.StatusBadRequest, "INVALID_ARGUMENT", "INVALID_REQUEST")
		var fields []string
		for _, d := range got.Error.Details {
			for _, v := range d.FieldViolations {
				fields = append(fields, v.Field+": "+v.Description)
			}
		}
		if !slices.Equal(fields, []string{"name: must be a tenant name"}) {
			t.Fatalf("field violations %v", fields)
		}
	})

	t.Run("a bare backend error is masked", func(t *testing.T) {
		e.backend.mu.Lock()
		e.backend.reply = func(context.Context) (*tenantv1.GetTenantResponse, error) {
			return nil, errors.New(`pq: relation "secret_table" does not exist`)
		}
		e.backend.mu.Unlock()
		resp, body := e.do(t, http.MethodGet, "/v1/tenants/x2x", nil, nil)
		got := wantErrorBody(t, resp, body, http.StatusInternalServerError, "INTERNAL", "INTERNAL")
		if strings.Contains(string(body), "secret_table") || !strings.Contains(got.Error.Message, resp.Header.Get("X-Request-Id")) {
			t.Fatalf("masked error %s should hide the backend text and quote the request id", body)
		}
	})

	for _, tc := range []struct {
		name, method, path, body string
		httpStatus               int
		grpcStatus, reason       string
	}{
		{"unknown route", http.MethodGet, "/v1/nothing-here", "", 404, "NOT_FOUND", "ROUTE_NOT_FOUND"},
		{"method not allowed", http.MethodDelete, "/v1/tenants", "", 405, "UNIMPLEMENTED", "ROUTE_NOT_FOUND"},
		{"malformed JSON", http.MethodPost, "/v1/tenants", `{"displayName":`, 400, "INVALID_ARGUMENT", "INVALID_REQUEST"},
		{"unknown JSON field", http.MethodPost, "/v1/tenants", `{"displayNmae":"typo"}`, 400, "INVALID_ARGUMENT", "INVALID_REQUEST"},
		{"wrong JSON type", http.MethodPost, "/v1/tenants", `{"hostnames":"not-a-list"}`, 400, "INVALID_ARGUMENT", "INVALID_REQUEST"},
		{"bad query parameter", http.MethodGet, "/v1/tenants?pageSize=many", "", 400, "INVALID_ARGUMENT", "INVALID_REQUEST"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			resp, body := e.do(t, tc.method, tc.path, bytes.NewBufferString(tc.body), nil)
			wantErrorBody(t, resp, body, tc.httpStatus, tc.grpcStatus, tc.reason)
		})
	}
}

func TestEdgeProbesAndOpenAPI(t *testing.T) {
	t.Parallel()
	e := startEdge(t, gateway.Config{})
	if resp, _ := e.do(t, http.MethodGet, "/healthz", nil, nil); resp.StatusCode != http.StatusOK {
		t.Fatalf("/healthz = %d", resp.StatusCode)
	}
	e.health.SetServingStatus("", healthpb.HealthCheckResponse_NOT_SERVING)
	if resp, body := e.do(t, http.MethodGet, "/readyz", nil, nil); resp.StatusCode != http.StatusServiceUnavailable || !strings.Contains(string(body), "tenant") {
		t.Fatalf("/readyz with the tenant service not serving = %d %s, want 503 naming it", resp.StatusCode, body)
	}
	e.health.SetServingStatus("", healthpb.HealthCheckResponse_SERVING)
	if resp, body := e.do(t, http.MethodGet, "/readyz", nil, nil); resp.StatusCode != http.StatusOK {
		t.Fatalf("/readyz = %d %s", resp.StatusCode, body)
	}
	resp, body := e.do(t, http.MethodGet, "/openapi.json", nil, nil)
	var doc struct {
		Swagger string                     `json:"swagger"`
		Paths   map[string]json.RawMessage `json:"paths"`
	}
	if err := json.Unmarshal(body, &doc); err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("/openapi.json = %d, %v", resp.StatusCode, err)
	}
	for _, p := range []string{"/v1/tenants", "/v1/regions", "/v1/{name}:deactivate"} {
		if _, ok := doc.Paths[p]; !ok {
			t.Errorf("OpenAPI document lacks %s", p)
		}
	}
}
