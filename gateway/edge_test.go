package gateway_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"testing/fstest"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/metadata"

	"github.com/oriel-dev/oriel/gateway"
	identityv1 "github.com/oriel-dev/oriel/gen/pb/oriel/identity/v1"
	tenantv1 "github.com/oriel-dev/oriel/gen/pb/oriel/tenant/v1"
	"github.com/oriel-dev/oriel/platform/apierr"
	"github.com/oriel-dev/oriel/platform/logging"
	"github.com/oriel-dev/oriel/platform/testkit"
)

// serviceKey is the edge's --service-api-key in these tests.
const serviceKey = "oriel_sk_edge-service-key-0123456789abcdefghijklmnop"

// fakeIdentity stands in for identity's introspection: it knows the credentials a test
// registered, and counts how often it was asked.
type fakeIdentity struct {
	identityv1.UnimplementedTokenServiceServer
	mu         sync.Mutex
	principals map[string]*identityv1.Principal
	calls      int
}

func (f *fakeIdentity) IntrospectToken(ctx context.Context, _ *identityv1.IntrospectTokenRequest) (*identityv1.IntrospectTokenResponse, error) {
	md, _ := metadata.FromIncomingContext(ctx)
	credential := strings.TrimPrefix(strings.Join(md.Get("authorization"), ""), "Bearer ")
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls++
	p, ok := f.principals[credential]
	if !ok {
		return &identityv1.IntrospectTokenResponse{Active: false}, nil
	}
	return &identityv1.IntrospectTokenResponse{Active: true, Principal: p}, nil
}

// fakeTenants stands in for the tenant service: the edge's reads of settings (with the
// service key) get the tenants a test set up; every other call is one the edge
// forwarded, and is counted.
type fakeTenants struct {
	tenantv1.UnimplementedTenantServiceServer
	mu        sync.Mutex
	settings  map[string]*tenantv1.TenantSettings
	forwarded int
	// reads counts the edge's reads of settings, by tenant.
	reads map[string]int
}

func (f *fakeTenants) GetTenant(ctx context.Context, req *tenantv1.GetTenantRequest) (*tenantv1.GetTenantResponse, error) {
	md, _ := metadata.FromIncomingContext(ctx)
	f.mu.Lock()
	defer f.mu.Unlock()
	if slices.Equal(md.Get("authorization"), []string{"Bearer " + serviceKey}) {
		if f.reads == nil {
			f.reads = map[string]int{}
		}
		f.reads[req.GetName()]++
		if req.GetName() == "tenants/broken" {
			return nil, apierr.Unavailable("the tenant store is down")
		}
		s, ok := f.settings[strings.TrimPrefix(req.GetName(), "tenants/")]
		if !ok {
			return nil, apierr.NotFound(req.GetName())
		}
		state := tenantv1.Tenant_STATE_ACTIVE
		if strings.HasPrefix(req.GetName(), "tenants/off") {
			state = tenantv1.Tenant_STATE_DEACTIVATED
		}
		return &tenantv1.GetTenantResponse{Tenant: &tenantv1.Tenant{Name: req.GetName(), State: state, Settings: s}}, nil
	}
	f.forwarded++
	return &tenantv1.GetTenantResponse{Tenant: &tenantv1.Tenant{Name: req.GetName()}}, nil
}

func (f *fakeTenants) forwardedCalls() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.forwarded
}

// world is what the edge under test sees behind it.
type world struct {
	tenants  *fakeTenants
	identity *fakeIdentity
	logs     *testkit.LogBuffer
	url      string
}

// edgeOptions shape the edge of one test.
type edgeOptions struct {
	cfg          gateway.Config
	identityDown bool
}

// The tenants and credentials every protected-edge test starts with.
const (
	acmeOrigin  = "https://app.example.com"
	otherOrigin = "https://other.example.com"
	acmeKey     = "oriel_sk_acme-key"
	platformKey = "oriel_sk_platform-key"
	globexKey   = "oriel_sk_globex-key"
	acmeToken   = "oriel_et_acme-unbound"
	boundToken  = "oriel_et_acme-bound-to-app"
	staleToken  = "oriel_et_acme-bound-to-removed"
	globexToken = "oriel_et_globex"
)

func startProtectedEdge(t *testing.T, o edgeOptions) *world {
	t.Helper()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	w := &world{
		tenants: &fakeTenants{settings: map[string]*tenantv1.TenantSettings{
			"acme": {
				AllowedWebOrigins: []string{acmeOrigin, otherOrigin},
				Theme:             &tenantv1.Theme{PrimaryColor: "#1a73e8", BackgroundColor: "#ffffff", TextColor: "#202124", FontFamily: "Inter, sans-serif"},
			},
			"globex":  {AllowedWebOrigins: []string{"https://globex.example.com"}},
			"noembed": {},
			"offline": {AllowedWebOrigins: []string{acmeOrigin}},
		}},
		identity: &fakeIdentity{principals: map[string]*identityv1.Principal{
			acmeKey:     {Kind: identityv1.Principal_KIND_SERVICE_ACCOUNT, Name: "tenants/acme/serviceAccounts/ci", Credential: "tenants/acme/serviceAccounts/ci/keys/k1", Tenant: "acme"},
			globexKey:   {Kind: identityv1.Principal_KIND_SERVICE_ACCOUNT, Name: "tenants/globex/serviceAccounts/ci", Credential: "tenants/globex/serviceAccounts/ci/keys/k1", Tenant: "globex"},
			platformKey: {Kind: identityv1.Principal_KIND_SERVICE_ACCOUNT, Name: "serviceAccounts/isv", Credential: "serviceAccounts/isv/keys/k1"},
			acmeToken:   embedPrincipal("acme", "s1", ""),
			boundToken:  embedPrincipal("acme", "s2", acmeOrigin),
			staleToken:  embedPrincipal("acme", "s3", "https://removed.example.com"),
			globexToken: embedPrincipal("globex", "s4", ""),
		}},
		logs: &testkit.LogBuffer{},
	}
	gs := grpc.NewServer()
	tenantv1.RegisterTenantServiceServer(gs, w.tenants)
	identityv1.RegisterTokenServiceServer(gs, w.identity)
	healthpb.RegisterHealthServer(gs, health.NewServer())
	go func() { _ = gs.Serve(lis) }()
	t.Cleanup(gs.Stop)

	cfg := o.cfg
	cfg.Addr = "127.0.0.1:0"
	cfg.TenantAddr = lis.Addr().String()
	cfg.IdentityAddr = lis.Addr().String()
	if o.identityDown {
		cfg.IdentityAddr = closedAddr(t)
	}
	cfg.ContentAddr = lis.Addr().String()
	cfg.DatagatewayAddr = lis.Addr().String()
	cfg.CallTimeout, cfg.StreamTimeout, cfg.MaxBodyBytes, cfg.ShutdownTimeout = 5*time.Second, time.Minute, 1<<20, time.Second
	if cfg.ServiceAPIKey == "" {
		cfg.ServiceAPIKey = serviceKey
	} else if cfg.ServiceAPIKey == "none" {
		cfg.ServiceAPIKey = ""
	}
	if cfg.RedisURL == "" {
		cfg.DevMode = true
	}
	if cfg.EmbedClient == nil {
		cfg.EmbedClient = fstest.MapFS{
			"oriel-embed.js": {Data: []byte("customElements.define('oriel-embed', class extends HTMLElement {});\n")},
			"frame.html":     {Data: []byte("<!doctype html><title>Oriel</title><script src=\"/embed/v1/oriel-embed.js\"></script>\n")},
		}
	}
	ctx, cancel := context.WithCancel(context.Background())
	log, err := logging.New(w.logs, "info")
	if err != nil {
		t.Fatal(err)
	}
	g, err := gateway.New(ctx, cfg, log)
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
	w.url = "http://" + g.Addr()
	return w
}

func embedPrincipal(tenant, session, origin string) *identityv1.Principal {
	name := "tenants/" + tenant + "/embedSessions/" + session
	return &identityv1.Principal{
		Kind: identityv1.Principal_KIND_EMBED_SESSION, Name: "tenants/" + tenant + "/users/alice", Credential: name, Tenant: tenant,
		EmbedSession: &identityv1.EmbedSession{Name: name, AllowedOrigin: origin},
	}
}

// closedAddr is an address nothing listens on.
func closedAddr(t *testing.T) string {
	t.Helper()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := lis.Addr().String()
	_ = lis.Close()
	return addr
}

// call makes one request; header values are set as given ("Authorization", "Origin", …).
func (w *world) call(t *testing.T, method, path string, header map[string]string) (*http.Response, []byte) {
	t.Helper()
	req, err := http.NewRequest(method, w.url+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range header {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp, body
}

// crossSite are the headers of a browser's cross-origin call from origin with credential.
func crossSite(origin, credential string) map[string]string {
	h := map[string]string{"Origin": origin, "Sec-Fetch-Site": "cross-site"}
	if credential != "" {
		h["Authorization"] = "Bearer " + credential
	}
	return h
}

func wantNoCORS(t *testing.T, resp *http.Response) {
	t.Helper()
	for _, h := range []string{"Access-Control-Allow-Origin", "Access-Control-Allow-Credentials", "Access-Control-Allow-Methods", "Access-Control-Expose-Headers"} {
		if v := resp.Header.Get(h); v != "" {
			t.Errorf("%s: %q on a refused call; want no CORS headers", h, v)
		}
	}
}

func TestCrossOriginCallFromAnAllowedOriginGetsCORS(t *testing.T) {
	t.Parallel()
	w := startProtectedEdge(t, edgeOptions{})
	resp, body := w.call(t, http.MethodGet, "/v1/tenants/acme", crossSite(acmeOrigin, acmeKey))
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("status %d: %s", resp.StatusCode, body)
	}
	if got := resp.Header.Get("Access-Control-Allow-Origin"); got != acmeOrigin {
		t.Errorf("Access-Control-Allow-Origin = %q, want %q", got, acmeOrigin)
	}
	if !slices.Contains(resp.Header.Values("Vary"), "Origin") {
		t.Errorf("Vary = %v, want Origin", resp.Header.Values("Vary"))
	}
	expose := resp.Header.Get("Access-Control-Expose-Headers")
	for _, h := range []string{"RateLimit-Limit", "RateLimit-Remaining", "RateLimit-Reset", "Retry-After", "X-Request-Id"} {
		if !strings.Contains(expose, h) {
			t.Errorf("Access-Control-Expose-Headers = %q, lacks %s", expose, h)
		}
	}
	if v := resp.Header.Get("Access-Control-Allow-Credentials"); v != "" {
		t.Errorf("Access-Control-Allow-Credentials = %q: the edge never allows cookies", v)
	}
	if w.tenants.forwardedCalls() != 1 {
		t.Fatalf("forwarded %d calls, want 1", w.tenants.forwardedCalls())
	}
}

// Every origin that is not byte for byte one of the tenant's is refused before the call
// goes anywhere, without CORS headers, so the page cannot read even the refusal.
func TestCrossOriginAttacksAreRefused(t *testing.T) {
	t.Parallel()
	w := startProtectedEdge(t, edgeOptions{})
	for _, tc := range []struct {
		name, path string
		header     map[string]string
	}{
		{"an unrelated origin", "/v1/tenants/acme", crossSite("https://evil.example", acmeKey)},
		{"the opaque origin null (sandboxed iframe, file:)", "/v1/tenants/acme", crossSite("null", acmeKey)},
		{"an upper-case spelling of an allowed origin", "/v1/tenants/acme", crossSite("https://APP.example.com", acmeKey)},
		{"an allowed origin with a trailing slash", "/v1/tenants/acme", crossSite(acmeOrigin+"/", acmeKey)},
		{"a domain that starts with an allowed origin", "/v1/tenants/acme", crossSite("https://app.example.com.evil.com", acmeKey)},
		{"an allowed origin with an explicit port", "/v1/tenants/acme", crossSite("https://app.example.com:443", acmeKey)},
		{"an allowed host over http", "/v1/tenants/acme", crossSite("http://app.example.com", acmeKey)},
		{"a same-site (not same-origin) subdomain", "/v1/tenants/acme", map[string]string{"Origin": "https://x.example.com", "Sec-Fetch-Site": "same-site", "Authorization": "Bearer " + acmeKey}},
		{"an old browser without Sec-Fetch-Site", "/v1/tenants/acme", map[string]string{"Origin": "https://evil.example", "Authorization": "Bearer " + acmeKey}},
		{"another tenant's origin", "/v1/tenants/acme", crossSite("https://globex.example.com", acmeKey)},
		{"an origin of the tenant named in the path, with another tenant's credential", "/v1/tenants/globex", crossSite(acmeOrigin, acmeKey)},
		{"no credential at all", "/v1/tenants/acme", crossSite("https://evil.example", "")},
		{"a tenant-less path with a tenant credential from another origin", "/v1/tenants", crossSite("https://evil.example", acmeKey)},
		{"a platform key from a browser", "/v1/tenants", crossSite(acmeOrigin, platformKey)},
		{"an encoded slash to smuggle another tenant", "/v1/tenants/globex%2F..%2Facme", crossSite(acmeOrigin, acmeKey)},
		{"a tenant that does not exist", "/v1/tenants/nobody-here", crossSite(acmeOrigin, acmeKey)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before := w.tenants.forwardedCalls()
			resp, body := w.call(t, http.MethodGet, tc.path, tc.header)
			wantErrorBody(t, resp, body, http.StatusForbidden, "PERMISSION_DENIED", "ORIGIN_NOT_ALLOWED")
			wantNoCORS(t, resp)
			if w.tenants.forwardedCalls() != before {
				t.Fatal("the refused call reached the service")
			}
		})
	}
}

func TestSameOriginAndServerCallsNeedNoAllowedOrigin(t *testing.T) {
	t.Parallel()
	w := startProtectedEdge(t, edgeOptions{})
	for name, h := range map[string]map[string]string{
		"a server (no Origin)":   {"Authorization": "Bearer " + acmeKey},
		"the edge's own page":    {"Authorization": "Bearer " + acmeKey, "Origin": w.url, "Sec-Fetch-Site": "same-origin"},
		"a tenant without any":   {"Authorization": "Bearer " + platformKey},
		"an unknown JWT-ish one": {"Authorization": "Bearer eyJhbGciOi.x.y"},
	} {
		t.Run(name, func(t *testing.T) {
			path := "/v1/tenants/acme"
			if name == "a tenant without any" {
				path = "/v1/tenants/noembed"
			}
			resp, body := w.call(t, http.MethodGet, path, h)
			if resp.StatusCode != http.StatusOK {
				t.Fatalf("status %d: %s", resp.StatusCode, body)
			}
			if v := resp.Header.Get("Access-Control-Allow-Origin"); v != "" {
				t.Fatalf("Access-Control-Allow-Origin %q on a call that is not cross-origin", v)
			}
		})
	}
}

func TestPreflightIsAnsweredByTheEdge(t *testing.T) {
	t.Parallel()
	w := startProtectedEdge(t, edgeOptions{})
	preflight := func(origin string) map[string]string {
		return map[string]string{"Origin": origin, "Sec-Fetch-Site": "cross-site", "Access-Control-Request-Method": "POST", "Access-Control-Request-Headers": "authorization, content-type"}
	}
	t.Run("an allowed origin", func(t *testing.T) {
		resp, body := w.call(t, http.MethodOptions, "/v1/tenants/acme/apps/a1:chartData", preflight(acmeOrigin))
		if resp.StatusCode != http.StatusNoContent {
			t.Fatalf("status %d: %s", resp.StatusCode, body)
		}
		for h, want := range map[string]string{
			"Access-Control-Allow-Origin":  acmeOrigin,
			"Access-Control-Allow-Methods": "GET, POST, PATCH, DELETE",
			"Access-Control-Allow-Headers": "Authorization, Content-Type, Oriel-Embed-Origin",
			"Access-Control-Max-Age":       "600",
		} {
			if got := resp.Header.Get(h); got != want {
				t.Errorf("%s = %q, want %q", h, got, want)
			}
		}
		if v := resp.Header.Get("Access-Control-Allow-Credentials"); v != "" {
			t.Errorf("Access-Control-Allow-Credentials = %q", v)
		}
	})
	for name, origin := range map[string]string{
		"an origin the tenant does not allow": "https://evil.example",
		"the opaque origin null":              "null",
		"a look-alike domain":                 "https://app.example.com.evil.com",
	} {
		t.Run(name, func(t *testing.T) {
			resp, body := w.call(t, http.MethodOptions, "/v1/tenants/acme/apps/a1:chartData", preflight(origin))
			wantErrorBody(t, resp, body, http.StatusForbidden, "PERMISSION_DENIED", "ORIGIN_NOT_ALLOWED")
			wantNoCORS(t, resp)
		})
	}
	t.Run("a path without a tenant: the call itself is checked against its credential's", func(t *testing.T) {
		resp, _ := w.call(t, http.MethodOptions, "/v1/tokens:introspect", preflight(acmeOrigin))
		if resp.StatusCode != http.StatusNoContent || resp.Header.Get("Access-Control-Allow-Origin") != acmeOrigin {
			t.Fatalf("preflight = %d %v", resp.StatusCode, resp.Header)
		}
	})
}

// An embed token bound to an origin is refused from any other, whichever header names
// it, and when no header names one.
func TestEmbedTokenBoundToAnOrigin(t *testing.T) {
	t.Parallel()
	w := startProtectedEdge(t, edgeOptions{})
	refused := []struct {
		name   string
		token  string
		header map[string]string
	}{
		{"a stolen token replayed from another allowed origin", boundToken, map[string]string{"Origin": otherOrigin, "Sec-Fetch-Site": "cross-site"}},
		{"a cross-origin page naming the token's origin in Oriel-Embed-Origin", boundToken, map[string]string{"Origin": otherOrigin, "Sec-Fetch-Site": "cross-site", "Oriel-Embed-Origin": acmeOrigin}},
		{"a forged Oriel-Embed-Origin on a same-origin call", boundToken, map[string]string{"Origin": "http://edge.example", "Sec-Fetch-Site": "same-origin", "Oriel-Embed-Origin": otherOrigin}},
		{"a same-origin call that names no origin", boundToken, map[string]string{"Origin": "http://edge.example", "Sec-Fetch-Site": "same-origin"}},
		{"a server replaying the token without an origin", boundToken, map[string]string{}},
		{"a server naming another origin", boundToken, map[string]string{"Oriel-Embed-Origin": otherOrigin}},
		{"a token bound to an origin the tenant no longer allows", staleToken, map[string]string{"Oriel-Embed-Origin": "https://removed.example.com"}},
	}
	for _, tc := range refused {
		t.Run(tc.name, func(t *testing.T) {
			tc.header["Authorization"] = "Bearer " + tc.token
			before := w.tenants.forwardedCalls()
			resp, body := w.call(t, http.MethodGet, "/v1/tenants/acme", tc.header)
			wantErrorBody(t, resp, body, http.StatusForbidden, "PERMISSION_DENIED", "ORIGIN_NOT_ALLOWED")
			if w.tenants.forwardedCalls() != before {
				t.Fatal("the refused call reached the service")
			}
		})
	}
	for name, h := range map[string]map[string]string{
		"its origin, cross-origin":                   {"Origin": acmeOrigin, "Sec-Fetch-Site": "cross-site"},
		"its origin named by the frame page":         {"Origin": "http://edge.example", "Sec-Fetch-Site": "same-origin", "Oriel-Embed-Origin": acmeOrigin},
		"its origin named by a caller not a browser": {"Oriel-Embed-Origin": acmeOrigin},
		// A host app behind the edge's own domain: its calls are same-origin, and their
		// Origin (which a page cannot forge) is the token's.
		"its origin, same-origin without the header": {"Origin": acmeOrigin, "Sec-Fetch-Site": "same-origin"},
	} {
		t.Run(name, func(t *testing.T) {
			h["Authorization"] = "Bearer " + boundToken
			resp, body := w.call(t, http.MethodGet, "/v1/tenants/acme", h)
			if resp.StatusCode != http.StatusOK {
				t.Fatalf("status %d: %s", resp.StatusCode, body)
			}
		})
	}
	t.Run("an unbound token needs no origin", func(t *testing.T) {
		resp, body := w.call(t, http.MethodGet, "/v1/tenants/acme", map[string]string{"Authorization": "Bearer " + acmeToken})
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("status %d: %s", resp.StatusCode, body)
		}
	})
}

func TestFramePageMayBeFramedOnlyByTheTenantsOrigins(t *testing.T) {
	t.Parallel()
	w := startProtectedEdge(t, edgeOptions{})
	const base = "default-src 'none'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; font-src 'self' data:; connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors "
	for _, tc := range []struct{ path, ancestors string }{
		{"/embed/v1/tenants/acme/apps/sales", acmeOrigin + " " + otherOrigin},
		{"/embed/v1/tenants/acme/apps/sales/sheets/overview", acmeOrigin + " " + otherOrigin},
		{"/embed/v1/tenants/globex/apps/sales", "https://globex.example.com"},
		{"/embed/v1/tenants/noembed/apps/sales", "'none'"},
	} {
		t.Run(tc.path, func(t *testing.T) {
			resp, body := w.call(t, http.MethodGet, tc.path, nil)
			if resp.StatusCode != http.StatusOK || !strings.Contains(string(body), "oriel-embed.js") {
				t.Fatalf("status %d: %s", resp.StatusCode, body)
			}
			if got := resp.Header.Get("Content-Security-Policy"); got != base+tc.ancestors {
				t.Errorf("Content-Security-Policy =\n%q, want\n%q", got, base+tc.ancestors)
			}
			for h, want := range map[string]string{"X-Content-Type-Options": "nosniff", "Referrer-Policy": "no-referrer", "Content-Type": "text/html; charset=utf-8"} {
				if got := resp.Header.Get(h); got != want {
					t.Errorf("%s = %q, want %q", h, got, want)
				}
			}
			if c := resp.Header.Values("Set-Cookie"); len(c) > 0 {
				t.Errorf("the frame page set cookies: %v", c)
			}
		})
	}
	for _, tenant := range []string{"nobody-here", "offline"} {
		t.Run("a tenant that does not exist or is deactivated: "+tenant, func(t *testing.T) {
			resp, body := w.call(t, http.MethodGet, "/embed/v1/tenants/"+tenant+"/apps/sales", nil)
			wantErrorBody(t, resp, body, http.StatusNotFound, "NOT_FOUND", "RESOURCE_NOT_FOUND")
		})
	}
}

func TestEmbedScriptIsServedWithAnETag(t *testing.T) {
	t.Parallel()
	w := startProtectedEdge(t, edgeOptions{})
	resp, body := w.call(t, http.MethodGet, "/embed/v1/oriel-embed.js", nil)
	if resp.StatusCode != http.StatusOK || !strings.Contains(string(body), "oriel-embed") {
		t.Fatalf("status %d: %s", resp.StatusCode, body)
	}
	etag := resp.Header.Get("ETag")
	if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/javascript") || etag == "" || resp.Header.Get("Cache-Control") != "no-cache" {
		t.Fatalf("headers %v", resp.Header)
	}
	resp, _ = w.call(t, http.MethodGet, "/embed/v1/oriel-embed.js", map[string]string{"If-None-Match": etag})
	if resp.StatusCode != http.StatusNotModified {
		t.Fatalf("revalidation with the ETag = %d, want 304", resp.StatusCode)
	}
}

func TestEmbedClientNotBuiltIs503(t *testing.T) {
	t.Parallel()
	w := startProtectedEdge(t, edgeOptions{cfg: gateway.Config{EmbedClient: fstest.MapFS{"README.md": {Data: []byte("build me")}}}})
	for _, path := range []string{"/embed/v1/oriel-embed.js", "/embed/v1/tenants/acme/apps/sales"} {
		resp, body := w.call(t, http.MethodGet, path, nil)
		got := wantErrorBody(t, resp, body, http.StatusServiceUnavailable, "UNAVAILABLE", "UNAVAILABLE")
		if !strings.Contains(got.Error.Message, "make embed-client") {
			t.Errorf("%s: message %q should say how to build the client", path, got.Error.Message)
		}
	}
}

func TestThemeIsForCredentialsOfTheTenant(t *testing.T) {
	t.Parallel()
	w := startProtectedEdge(t, edgeOptions{})
	const want = `{"primaryColor":"#1a73e8","backgroundColor":"#ffffff","textColor":"#202124","fontFamily":"Inter, sans-serif"}`
	for name, h := range map[string]map[string]string{
		"an embed token of the tenant":   {"Authorization": "Bearer " + acmeToken},
		"an API key of the tenant":       {"Authorization": "Bearer " + acmeKey},
		"a platform key":                 {"Authorization": "Bearer " + platformKey},
		"the embed client, cross-origin": crossSite(acmeOrigin, acmeToken),
	} {
		t.Run(name, func(t *testing.T) {
			resp, body := w.call(t, http.MethodGet, "/embed/v1/tenants/acme/theme", h)
			if resp.StatusCode != http.StatusOK || strings.TrimSpace(string(body)) != want {
				t.Fatalf("theme = %d %s, want %s", resp.StatusCode, body, want)
			}
			if resp.Header.Get("RateLimit-Limit") == "" {
				t.Error("the theme has no RateLimit headers")
			}
		})
	}
	t.Run("a tenant without a theme gets empty strings", func(t *testing.T) {
		resp, body := w.call(t, http.MethodGet, "/embed/v1/tenants/noembed/theme", map[string]string{"Authorization": "Bearer " + platformKey})
		if resp.StatusCode != http.StatusOK || strings.TrimSpace(string(body)) != `{"primaryColor":"","backgroundColor":"","textColor":"","fontFamily":""}` {
			t.Fatalf("theme = %d %s", resp.StatusCode, body)
		}
	})
	for _, tc := range []struct {
		name               string
		path               string
		header             map[string]string
		httpStatus         int
		grpcStatus, reason string
	}{
		{"another tenant's embed token reading the theme", "/embed/v1/tenants/acme/theme", map[string]string{"Authorization": "Bearer " + globexToken}, 404, "NOT_FOUND", "RESOURCE_NOT_FOUND"},
		{"another tenant's API key reading the theme", "/embed/v1/tenants/acme/theme", map[string]string{"Authorization": "Bearer " + globexKey}, 404, "NOT_FOUND", "RESOURCE_NOT_FOUND"},
		{"no credential", "/embed/v1/tenants/acme/theme", nil, 401, "UNAUTHENTICATED", "CREDENTIAL_MISSING"},
		{"a revoked or made-up token", "/embed/v1/tenants/acme/theme", map[string]string{"Authorization": "Bearer oriel_et_made-up"}, 401, "UNAUTHENTICATED", "CREDENTIAL_INVALID"},
		{"a JWT instead of an embed token", "/embed/v1/tenants/acme/theme", map[string]string{"Authorization": "Bearer eyJhbGciOi.x.y"}, 401, "UNAUTHENTICATED", "CREDENTIAL_INVALID"},
		{"a platform key and a tenant that does not exist", "/embed/v1/tenants/nobody-here/theme", map[string]string{"Authorization": "Bearer " + platformKey}, 404, "NOT_FOUND", "RESOURCE_NOT_FOUND"},
		{"a page of another origin reading the theme", "/embed/v1/tenants/acme/theme", crossSite("https://evil.example", acmeToken), 403, "PERMISSION_DENIED", "ORIGIN_NOT_ALLOWED"},
		{"a bound token from another origin", "/embed/v1/tenants/acme/theme", crossSite(otherOrigin, boundToken), 403, "PERMISSION_DENIED", "ORIGIN_NOT_ALLOWED"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			resp, body := w.call(t, http.MethodGet, tc.path, tc.header)
			wantErrorBody(t, resp, body, tc.httpStatus, tc.grpcStatus, tc.reason)
			if strings.Contains(string(body), "#1a73e8") {
				t.Fatal("the refusal carried the theme")
			}
		})
	}
}

func TestInvalidCredentialIsRefusedAtTheEdge(t *testing.T) {
	t.Parallel()
	w := startProtectedEdge(t, edgeOptions{})
	for _, credential := range []string{"oriel_sk_" + strings.Repeat("x", 52), "oriel_et_revoked"} {
		resp, body := w.call(t, http.MethodGet, "/v1/tenants/acme", map[string]string{"Authorization": "Bearer " + credential})
		got := wantErrorBody(t, resp, body, http.StatusUnauthorized, "UNAUTHENTICATED", "CREDENTIAL_INVALID")
		// platform/auth's words, so a client cannot tell the edge's refusal from a service's.
		if got.Error.Message != "the credential is not valid" || resp.Header.Get("WWW-Authenticate") != `Bearer realm="oriel"` {
			t.Fatalf("refusal %s %v", body, resp.Header)
		}
	}
	if n := w.tenants.forwardedCalls(); n != 0 {
		t.Fatalf("%d refused calls reached the service", n)
	}
	t.Run("a revoked token from an allowed page can read its refusal", func(t *testing.T) {
		resp, _ := w.call(t, http.MethodPost, "/v1/tokens:introspect", crossSite(acmeOrigin, "oriel_et_revoked"))
		if resp.StatusCode != http.StatusUnauthorized || resp.Header.Get("Access-Control-Allow-Origin") != acmeOrigin {
			t.Fatalf("status %d, Access-Control-Allow-Origin %q", resp.StatusCode, resp.Header.Get("Access-Control-Allow-Origin"))
		}
	})
	t.Run("other credentials are the service's to judge", func(t *testing.T) {
		resp, body := w.call(t, http.MethodGet, "/v1/tenants/acme", map[string]string{"Authorization": "Bearer eyJhbGciOi.x.y"})
		if resp.StatusCode != http.StatusOK || w.tenants.forwardedCalls() != 1 {
			t.Fatalf("a JWT = %d %s, want it forwarded", resp.StatusCode, body)
		}
	})
}

func TestIdentityDownIs503(t *testing.T) {
	t.Parallel()
	w := startProtectedEdge(t, edgeOptions{identityDown: true})
	resp, body := w.call(t, http.MethodGet, "/v1/tenants/acme", map[string]string{"Authorization": "Bearer " + acmeKey})
	wantErrorBody(t, resp, body, http.StatusServiceUnavailable, "UNAVAILABLE", "UNAVAILABLE")
	if n := w.tenants.forwardedCalls(); n != 0 {
		t.Fatalf("the call reached the service %d times", n)
	}
}

func TestWithoutAServiceKeyNothingIsAllowedCrossOrigin(t *testing.T) {
	t.Parallel()
	w := startProtectedEdge(t, edgeOptions{cfg: gateway.Config{ServiceAPIKey: "none"}})
	resp, body := w.call(t, http.MethodGet, "/v1/tenants/acme", crossSite(acmeOrigin, acmeKey))
	wantErrorBody(t, resp, body, http.StatusForbidden, "PERMISSION_DENIED", "ORIGIN_NOT_ALLOWED")
	resp, _ = w.call(t, http.MethodGet, "/embed/v1/tenants/acme/apps/sales", nil)
	if csp := resp.Header.Get("Content-Security-Policy"); !strings.HasSuffix(csp, "frame-ancestors 'none'") {
		t.Fatalf("CSP %q, want frame-ancestors 'none'", csp)
	}
	if !strings.Contains(w.logs.String(), "no --service-api-key") {
		t.Fatalf("no warning logged: %s", w.logs.String())
	}
}

// rateHeaders returns RateLimit-Limit and RateLimit-Remaining.
func rateHeaders(t *testing.T, resp *http.Response) (limit, remaining int) {
	t.Helper()
	limit, err1 := strconv.Atoi(resp.Header.Get("RateLimit-Limit"))
	remaining, err2 := strconv.Atoi(resp.Header.Get("RateLimit-Remaining"))
	if _, err3 := strconv.Atoi(resp.Header.Get("RateLimit-Reset")); err1 != nil || err2 != nil || err3 != nil {
		t.Fatalf("RateLimit headers %v", resp.Header)
	}
	return limit, remaining
}

// The rates are per hour, so no token comes back while the test runs: every count below
// is exact however slow the machine.
func TestRateLimitsPerCredentialAndPerTenant(t *testing.T) {
	t.Parallel()
	w := startProtectedEdge(t, edgeOptions{cfg: gateway.Config{
		RedisURL:  testkit.RedisURL(t),
		RatePlans: []string{"default=credential:1/h:3,tenant:1/h:1000", "tiny=credential:1/h:2,tenant:1/h:3"},
	}})
	// Unique tenants: Redis is shared by every test of the package, and outlives runs.
	small, big := testkit.UniqueID("small"), testkit.UniqueID("big")
	w.tenants.mu.Lock()
	w.tenants.settings[small] = &tenantv1.TenantSettings{Plan: "tiny"}
	w.tenants.settings[big] = &tenantv1.TenantSettings{Plan: "no-such-plan"}
	w.identity.mu.Lock()
	for _, k := range []string{"a", "b", "c"} {
		w.identity.principals["oriel_sk_"+small+k] = &identityv1.Principal{Kind: identityv1.Principal_KIND_SERVICE_ACCOUNT, Credential: "tenants/" + small + "/serviceAccounts/ci/keys/" + k, Tenant: small}
	}
	w.identity.principals["oriel_sk_"+big] = &identityv1.Principal{Kind: identityv1.Principal_KIND_SERVICE_ACCOUNT, Credential: "tenants/" + big + "/serviceAccounts/ci/keys/k", Tenant: big}
	w.identity.mu.Unlock()
	w.tenants.mu.Unlock()
	get := func(tenant, key string) (*http.Response, []byte) {
		return w.call(t, http.MethodGet, "/v1/tenants/"+tenant, map[string]string{"Authorization": "Bearer oriel_sk_" + key})
	}

	// The tiny plan: 2 calls per credential, 3 per tenant.
	for i, want := range []int{1, 0} {
		resp, body := get(small, small+"a")
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("call %d: %d %s", i+1, resp.StatusCode, body)
		}
		if limit, remaining := rateHeaders(t, resp); limit != 2 || remaining != want {
			t.Fatalf("call %d: RateLimit-Limit %d Remaining %d, want 2 and %d (the credential's bucket)", i+1, limit, remaining, want)
		}
	}
	forwarded := w.tenants.forwardedCalls()
	resp, body := get(small, small+"a")
	got := wantErrorBody(t, resp, body, http.StatusTooManyRequests, "RESOURCE_EXHAUSTED", "RATE_LIMITED")
	retry, err := strconv.Atoi(resp.Header.Get("Retry-After"))
	// One token an hour: the next comes in (just under) an hour, rounded up.
	if err != nil || retry < 3000 || retry > 3600 {
		t.Fatalf("Retry-After %q, want whole seconds up to an hour", resp.Header.Get("Retry-After"))
	}
	if md := got.Error.Details[0].Metadata; md["limit"] != "credential" || md["retry_after_seconds"] != strconv.Itoa(retry) {
		t.Fatalf("metadata %v", md)
	}
	if _, remaining := rateHeaders(t, resp); remaining != 0 {
		t.Fatalf("RateLimit-Remaining %d on a 429", remaining)
	}
	if w.tenants.forwardedCalls() != forwarded {
		t.Fatal("a limited call reached the service")
	}

	// Another credential of the tenant has its own bucket but shares the tenant's, which
	// has one call left: the tenant's is the tighter one now.
	resp, body = get(small, small+"b")
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("second credential: %d %s", resp.StatusCode, body)
	}
	if limit, remaining := rateHeaders(t, resp); limit != 3 || remaining != 0 {
		t.Fatalf("RateLimit-Limit %d Remaining %d, want the tenant's 3 and 0", limit, remaining)
	}
	resp, body = get(small, small+"c")
	got = wantErrorBody(t, resp, body, http.StatusTooManyRequests, "RESOURCE_EXHAUSTED", "RATE_LIMITED")
	if got.Error.Details[0].Metadata["limit"] != "tenant" {
		t.Fatalf("metadata %v, want the tenant's limit", got.Error.Details[0].Metadata)
	}

	// A plan the edge does not know is the default plan.
	resp, body = get(big, big)
	if limit, _ := rateHeaders(t, resp); resp.StatusCode != http.StatusOK || limit != 3 {
		t.Fatalf("unknown plan: %d %s, RateLimit-Limit %d, want the default plan's 3", resp.StatusCode, body, limit)
	}
}

func TestRateLimitsCallsWithoutACredentialByIP(t *testing.T) {
	t.Parallel()
	w := startProtectedEdge(t, edgeOptions{cfg: gateway.Config{RatePlans: []string{"default=credential:1/h:2,tenant:1/h:1000"}}})
	for i := range 2 {
		resp, _ := w.call(t, http.MethodGet, "/v1/tenants/acme", nil)
		if _, remaining := rateHeaders(t, resp); remaining != 1-i {
			t.Fatalf("call %d: remaining %d", i+1, remaining)
		}
	}
	resp, body := w.call(t, http.MethodGet, "/v1/tenants/acme", map[string]string{"Authorization": "Bearer eyJhbGciOi.x.y"})
	got := wantErrorBody(t, resp, body, http.StatusTooManyRequests, "RESOURCE_EXHAUSTED", "RATE_LIMITED")
	if got.Error.Details[0].Metadata["limit"] != "credential" || resp.Header.Get("Retry-After") == "" {
		t.Fatalf("429 %s %v", body, resp.Header)
	}
}

// The attack: a caller without a credential rotating X-Forwarded-For to get a fresh bucket
// for every call. Only a trusted proxy's header names the client.
func TestRateLimitsByIPBelieveOnlyTrustedProxies(t *testing.T) {
	t.Parallel()
	plans := []string{"default=credential:1/h:2,tenant:1/h:1000"}
	spoof := func(i int) map[string]string {
		return map[string]string{"X-Forwarded-For": fmt.Sprintf("198.51.100.%d", i)}
	}
	direct := startProtectedEdge(t, edgeOptions{cfg: gateway.Config{RatePlans: plans}})
	for i := range 3 {
		resp, body := direct.call(t, http.MethodGet, "/v1/tenants/acme", spoof(i))
		if i < 2 && resp.StatusCode != http.StatusOK {
			t.Fatalf("call %d: %d %s", i+1, resp.StatusCode, body)
		}
		if i == 2 {
			wantErrorBody(t, resp, body, http.StatusTooManyRequests, "RESOURCE_EXHAUSTED", "RATE_LIMITED")
		}
	}

	// Behind a trusted load balancer (the test's loopback), each client has its own bucket.
	proxied := startProtectedEdge(t, edgeOptions{cfg: gateway.Config{RatePlans: plans, TrustedProxies: []string{"127.0.0.0/8", "::1"}}})
	for range 2 {
		if resp, body := proxied.call(t, http.MethodGet, "/v1/tenants/acme", spoof(1)); resp.StatusCode != http.StatusOK {
			t.Fatalf("client 1: %d %s", resp.StatusCode, body)
		}
	}
	resp, body := proxied.call(t, http.MethodGet, "/v1/tenants/acme", spoof(1))
	wantErrorBody(t, resp, body, http.StatusTooManyRequests, "RESOURCE_EXHAUSTED", "RATE_LIMITED")
	if resp, body := proxied.call(t, http.MethodGet, "/v1/tenants/acme", spoof(2)); resp.StatusCode != http.StatusOK {
		t.Fatalf("another client behind the proxy: %d %s", resp.StatusCode, body)
	}
}

func TestRatePlanFlagsAreValidated(t *testing.T) {
	t.Parallel()
	base := gateway.Config{Addr: ":0", TenantAddr: "t", IdentityAddr: "i", ContentAddr: "c", DatagatewayAddr: "d",
		CallTimeout: time.Second, StreamTimeout: time.Second, MaxBodyBytes: 1, ShutdownTimeout: time.Second, DevMode: true}
	for _, tc := range []struct {
		name  string
		plans []string
		want  string // in the error; "" means valid
	}{
		{"the documented example", []string{"pro=credential:50/s:100,tenant:500/s:1000"}, ""},
		{"a default plan and per-minute and per-hour rates", []string{"default=credential:600/m:60,tenant:10000/h:500", "free=credential:1/s:1,tenant:2/s:2"}, ""},
		{"no equals sign", []string{"pro credential:1/s:1"}, "want name=credential"},
		{"an upper-case name", []string{"Pro=credential:1/s:1,tenant:1/s:1"}, `the name "Pro" must be`},
		{"a plan given twice", []string{"pro=credential:1/s:1,tenant:1/s:1", "pro=credential:2/s:2,tenant:2/s:2"}, `plan "pro" is given twice`},
		{"an unknown bucket", []string{"pro=user:1/s:1,tenant:1/s:1"}, `unknown bucket "user"`},
		{"a missing tenant bucket", []string{"pro=credential:1/s:1"}, "the tenant bucket is missing"},
		{"a bucket twice", []string{"pro=credential:1/s:1,credential:2/s:2,tenant:1/s:1"}, "the credential bucket is given twice"},
		{"a unit that is not s, m or h", []string{"pro=credential:1/d:1,tenant:1/s:1"}, `the limit "1/d:1" must be <rate>/<s|m|h>:<burst>`},
		{"no burst", []string{"pro=credential:1/s,tenant:1/s:1"}, `the limit "1/s" must be`},
		{"a zero rate", []string{"pro=credential:0/s:1,tenant:1/s:1"}, "the rate must be 1 to 1000000"},
		{"a zero burst", []string{"pro=credential:1/s:0,tenant:1/s:1"}, "the burst must be 1 to 1000000"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := base
			cfg.RatePlans = tc.plans
			err := cfg.Validate()
			switch {
			case tc.want == "" && err != nil:
				t.Fatalf("Validate() = %v, want it valid", err)
			case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), "--rate-plan")):
				t.Fatalf("Validate() = %v, want an error about --rate-plan with %q", err, tc.want)
			}
		})
	}
	t.Run("Redis is required outside dev mode", func(t *testing.T) {
		cfg := base
		cfg.DevMode = false
		if err := cfg.Validate(); err == nil || !strings.Contains(err.Error(), "--redis-url") {
			t.Fatalf("Validate() = %v", err)
		}
	})
}

func TestAccessLogHasOneLinePerRequestAndNoSecret(t *testing.T) {
	t.Parallel()
	w := startProtectedEdge(t, edgeOptions{cfg: gateway.Config{Routes: map[string]http.Handler{
		"GET /demo/": http.HandlerFunc(func(rw http.ResponseWriter, _ *http.Request) { _, _ = rw.Write([]byte("demo page")) }),
	}}})
	calls := []struct {
		path       string
		header     map[string]string
		tenant     string
		credential string
		status     int
	}{
		{"/v1/tenants/acme?pageToken=opaque-secret-ish&filter=email%3Dx", map[string]string{"Authorization": "Bearer " + acmeKey}, "acme", "tenants/acme/serviceAccounts/ci/keys/k1", 200},
		{"/v1/tenants", map[string]string{"Authorization": "Bearer " + boundToken, "Oriel-Embed-Origin": otherOrigin}, "acme", "tenants/acme/embedSessions/s2", 403},
		{"/v1/tenants/acme", map[string]string{"Authorization": "Bearer oriel_sk_unknown-secret-value"}, "acme", "", 401},
		{"/embed/v1/oriel-embed.js", nil, "", "", 200},
		{"/embed/v1/tenants/globex/apps/a", nil, "globex", "", 200},
		{"/demo/", nil, "", "", 200},
	}
	ids := map[string]int{}
	for i, c := range calls {
		resp, _ := w.call(t, http.MethodGet, c.path, c.header)
		if resp.StatusCode != c.status {
			t.Fatalf("%s = %d, want %d", c.path, resp.StatusCode, c.status)
		}
		ids[resp.Header.Get("X-Request-Id")] = i
	}
	logs := w.logs.String()
	for _, secret := range []string{acmeKey, boundToken, "oriel_sk_unknown-secret-value", "opaque-secret-ish"} {
		if strings.Contains(logs, secret) {
			t.Fatalf("the log holds %q:\n%s", secret, logs)
		}
	}
	seen := map[int]bool{}
	for line := range strings.SplitSeq(strings.TrimSpace(logs), "\n") {
		var l struct {
			Msg        string  `json:"msg"`
			RequestID  string  `json:"request_id"`
			Method     string  `json:"method"`
			Path       string  `json:"path"`
			Tenant     string  `json:"tenant"`
			Credential string  `json:"credential"`
			Status     int     `json:"status"`
			Duration   float64 `json:"duration"`
			Bytes      int64   `json:"bytes"`
		}
		if err := json.Unmarshal([]byte(line), &l); err != nil {
			t.Fatalf("log line %q: %v", line, err)
		}
		if l.Msg != "request" {
			continue
		}
		i, ok := ids[l.RequestID]
		if !ok {
			t.Fatalf("an access-log line with an unknown request id: %s", line)
		}
		if seen[i] {
			t.Fatalf("two access-log lines for one request: %s", line)
		}
		seen[i] = true
		c := calls[i]
		path, _, _ := strings.Cut(c.path, "?")
		if l.Method != "GET" || l.Path != path || l.Tenant != c.tenant || l.Credential != c.credential || l.Status != c.status || l.Bytes <= 0 || l.Duration <= 0 {
			t.Errorf("access log %s, want path %s tenant %q credential %q status %d and a size and duration", line, path, c.tenant, c.credential, c.status)
		}
	}
	if len(seen) != len(calls) {
		t.Fatalf("%d access-log lines for %d requests:\n%s", len(seen), len(calls), logs)
	}
}

func TestTenantSettingsAreCachedAbsentTenantsToo(t *testing.T) {
	t.Parallel()
	w := startProtectedEdge(t, edgeOptions{cfg: gateway.Config{TenantCacheTTL: 10 * time.Minute}})
	for range 3 {
		w.call(t, http.MethodGet, "/embed/v1/tenants/acme/apps/sales", nil)
		w.call(t, http.MethodGet, "/embed/v1/tenants/nobody-here/apps/sales", nil)
		w.call(t, http.MethodGet, "/v1/tenants/acme", crossSite(acmeOrigin, acmeKey))
	}
	w.tenants.mu.Lock()
	defer w.tenants.mu.Unlock()
	if w.tenants.reads["tenants/acme"] != 1 || w.tenants.reads["tenants/nobody-here"] != 1 {
		t.Fatalf("settings reads %v, want one per tenant within the TTL", w.tenants.reads)
	}
}

// When the tenant service cannot say which origins a tenant allows, a cross-origin call
// is refused as unavailable (not as a bad origin); a call that needs only the plan goes
// on with the default one.
func TestTenantSettingsUnreadable(t *testing.T) {
	t.Parallel()
	w := startProtectedEdge(t, edgeOptions{})
	resp, body := w.call(t, http.MethodGet, "/v1/tenants/broken", crossSite(acmeOrigin, acmeKey))
	wantErrorBody(t, resp, body, http.StatusServiceUnavailable, "UNAVAILABLE", "UNAVAILABLE")
	resp, body = w.call(t, http.MethodGet, "/v1/tenants/broken", map[string]string{"Authorization": "Bearer " + platformKey})
	if resp.StatusCode != http.StatusOK || resp.Header.Get("RateLimit-Limit") == "" || w.tenants.forwardedCalls() != 1 {
		t.Fatalf("a server's call = %d %s, want it forwarded under the default plan", resp.StatusCode, body)
	}
	resp, body = w.call(t, http.MethodGet, "/embed/v1/tenants/broken/apps/sales", nil)
	wantErrorBody(t, resp, body, http.StatusServiceUnavailable, "UNAVAILABLE", "UNAVAILABLE")
}
