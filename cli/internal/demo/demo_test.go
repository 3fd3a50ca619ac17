package demo_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"math"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/oriel-dev/oriel/cli/internal/client"
	"github.com/oriel-dev/oriel/cli/internal/demo"
	"github.com/oriel-dev/oriel/cli/internal/devstack"
	contentv1 "github.com/oriel-dev/oriel/gen/pb/oriel/content/v1"
	tenantv1 "github.com/oriel-dev/oriel/gen/pb/oriel/tenant/v1"
	"github.com/oriel-dev/oriel/platform/testkit"
)

// startDemo runs a stack serving a demo's page, with its stores on a fresh PostgreSQL
// database (or SQLite, when sqlite), and returns the demo, the stack and the seeding
// target (the sample data going to databaseURL, or the embedded source when empty).
func startDemo(t *testing.T, sqlite bool, databaseURL string) (*demo.Demo, *devstack.Stack, demo.Target) {
	t.Helper()
	d, err := demo.New(demo.Config{DataDir: t.TempDir(), Out: io.Discard})
	if err != nil {
		t.Fatal(err)
	}
	cfg := devstack.Config{DataDir: t.TempDir(), GatewayRoutes: d.Routes()}
	if !sqlite {
		cfg.DatabaseURL = testkit.PostgresDatabase(t)
	}
	stack, err := devstack.Start(context.Background(), cfg, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatalf("start stack: %v", err)
	}
	t.Cleanup(func() {
		if err := stack.Stop(); err != nil {
			t.Errorf("stop stack: %v", err)
		}
	})
	port := stack.GatewayURL[strings.LastIndex(stack.GatewayURL, ":")+1:]
	target := demo.Target{
		API:         client.New(stack.GatewayURL, stack.AdminKey, nil),
		PageOrigins: []string{"http://localhost:" + port, "http://127.0.0.1:" + port},
		DatabaseURL: databaseURL,
		DataURL:     "http://127.0.0.1:" + port + "/demo/data/",
	}
	return d, stack, target
}

func seed(t *testing.T, d *demo.Demo, target demo.Target) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	if err := d.Seed(ctx, target); err != nil {
		t.Fatalf("seed: %v", err)
	}
}

// post calls the demo backend as the page would, from origin.
func post(t *testing.T, url, origin, body string) (int, map[string]any) {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	if origin != "" {
		req.Header.Set("Origin", origin)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var out map[string]any
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil {
		t.Fatalf("POST %s: status %d, body not JSON: %v", url, resp.StatusCode, err)
	}
	return resp.StatusCode, out
}

// originTransport sends the token's origin, as a caller that is not a browser must.
type originTransport struct{ origin string }

func (o originTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	r = r.Clone(r.Context())
	r.Header.Set("Oriel-Embed-Origin", o.origin)
	return http.DefaultTransport.RoundTrip(r)
}

// revenue is the KPI of total revenue the token's user sees.
func revenue(t *testing.T, gatewayURL, origin, token, app string) (float64, error) {
	t.Helper()
	api := client.New(gatewayURL, token, &http.Client{Transport: originTransport{origin}})
	var resp *contentv1.GetChartDataResponse
	var err error
	// The edge caches tenants' settings for a few seconds, so the origins seeding just
	// allowed may not be known to it yet.
	for deadline := time.Now().Add(15 * time.Second); ; time.Sleep(250 * time.Millisecond) {
		resp, err = api.GetChartData(context.Background(), &contentv1.GetChartDataRequest{App: app,
			Chart: &contentv1.ChartRef{Sheet: demo.SheetID, Chart: demo.RevenueChart}})
		var apiErr *client.APIError
		if !errors.As(err, &apiErr) || apiErr.Reason != "ORIGIN_NOT_ALLOWED" || time.Now().After(deadline) {
			break
		}
	}
	if err != nil {
		return 0, err
	}
	if len(resp.GetRows()) != 1 || len(resp.GetRows()[0].GetCells()) != 1 {
		t.Fatalf("the revenue KPI answered %v, want one row of one cell", resp)
	}
	return resp.GetRows()[0].GetCells()[0].GetNumber(), nil
}

func wantCents(t *testing.T, who string, got float64, cents int64) {
	t.Helper()
	if math.Abs(got*100-float64(cents)) > 0.5 {
		t.Errorf("%s sees revenue %.2f, want %.2f", who, got, float64(cents)/100)
	}
}

func TestDemoSeedsTwiceAndEachUserSeesTheirOwnData(t *testing.T) {
	t.Parallel()
	d, stack, target := startDemo(t, false, "")
	// The sample data goes to a database of its own on the same server.
	target.DatabaseURL = testkit.PostgresDatabase(t)
	seed(t, d, target)
	seed(t, d, target) // idempotent: nothing fails, nothing doubles

	ctx := context.Background()
	rollouts, err := target.API.ListRollouts(ctx, &contentv1.ListRolloutsRequest{})
	if err != nil {
		t.Fatal(err)
	}
	if n := len(rollouts.GetRollouts()); n != 1 {
		t.Errorf("%d rollouts after seeding twice, want 1", n)
	}
	for _, tn := range demo.Tenants {
		got, err := target.API.GetTenant(ctx, &tenantv1.GetTenantRequest{Name: "tenants/" + tn})
		if err != nil {
			t.Fatal(err)
		}
		if o := got.GetSettings().GetAllowedWebOrigins(); len(o) != 2 {
			t.Errorf("%s allows %v, want the page's two origins once each", tn, o)
		}
	}
	acme, acmeB := demo.Sales("acme"), demo.Sales("globex")
	if acme[0] == acmeB[0] || len(acme) == len(acmeB) {
		t.Error("Acme's and Globex's sample data should differ")
	}

	origin := target.PageOrigins[1]
	tokens := map[string]string{}
	for _, tc := range []struct {
		user, app string
		cents     int64
	}{
		{"acme-viewer", "tenants/acme/apps/sales", demo.TotalCents(demo.Sales("acme"))},
		{"globex-admin", "tenants/globex/apps/sales", demo.TotalCents(demo.Sales("globex"))},
		{"acme-north", "tenants/acme/apps/sales", demo.TotalCents(demo.Sales("acme"), "North")},
	} {
		code, body := post(t, stack.GatewayURL+"/demo/api/token", origin, `{"user": "`+tc.user+`", "ttlSeconds": 120}`)
		if code != http.StatusOK {
			t.Fatalf("token for %s: %d %v", tc.user, code, body)
		}
		if body["app"] != tc.app || body["tenant"] != strings.Join(strings.Split(tc.app, "/")[:2], "/") {
			t.Errorf("token for %s: app %v tenant %v, want %s", tc.user, body["app"], body["tenant"], tc.app)
		}
		exp, err := time.Parse(time.RFC3339, body["expireTime"].(string))
		if err != nil || time.Until(exp) > 125*time.Second || time.Until(exp) < 60*time.Second {
			t.Errorf("token for %s expires %v (%v), want in about 120 s", tc.user, body["expireTime"], err)
		}
		token := body["token"].(string)
		tokens[tc.user] = token
		got, err := revenue(t, stack.GatewayURL, origin, token, tc.app)
		if err != nil {
			t.Fatalf("%s's revenue: %v", tc.user, err)
		}
		wantCents(t, tc.user, got, tc.cents)
	}

	// Revoking Nora's tokens refuses her token at once; Alice's still works.
	if code, body := post(t, stack.GatewayURL+"/demo/api/revoke", origin, `{"user": "acme-north"}`); code != http.StatusOK || body["revoked"] != true {
		t.Fatalf("revoke: %d %v", code, body)
	}
	if _, err := revenue(t, stack.GatewayURL, origin, tokens["acme-north"], "tenants/acme/apps/sales"); err == nil {
		t.Error("a revoked token still reads the dashboard")
	}
	if _, err := revenue(t, stack.GatewayURL, origin, tokens["acme-viewer"], "tenants/acme/apps/sales"); err != nil {
		t.Errorf("another user's token stopped working: %v", err)
	}
	// Revoking works for a user of the other tenant too.
	if code, body := post(t, stack.GatewayURL+"/demo/api/revoke", origin, `{"user": "globex-admin"}`); code != http.StatusOK || body["revoked"] != true {
		t.Errorf("revoke globex-admin: %d %v", code, body)
	}
}

func TestDemoBackendRefusesBadInput(t *testing.T) {
	t.Parallel()
	d, err := demo.New(demo.Config{})
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name, method, path, contentType, body string
		want                                  int
		wantMessage                           string
	}{
		{"not JSON", "POST", "/demo/api/token", "application/json", `{user`, 400, "JSON object"},
		{"no user", "POST", "/demo/api/token", "application/json", `{}`, 400, "user is required"},
		{"unknown user", "POST", "/demo/api/token", "application/json", `{"user": "mallory"}`, 400, `unknown user \"mallory\": one of acme-viewer, globex-admin, acme-north`},
		{"unknown field", "POST", "/demo/api/token", "application/json", `{"user": "acme-viewer", "tenant": "globex"}`, 400, "unknown field"},
		{"ttl too short", "POST", "/demo/api/token", "application/json", `{"user": "acme-viewer", "ttlSeconds": 5}`, 400, "ttlSeconds must be 30 to 3600"},
		{"ttl too long", "POST", "/demo/api/token", "application/json", `{"user": "acme-viewer", "ttlSeconds": 7200}`, 400, "ttlSeconds must be 30 to 3600"},
		{"ttl not a number", "POST", "/demo/api/token", "application/json", `{"user": "acme-viewer", "ttlSeconds": "60"}`, 400, "JSON object"},
		{"two objects", "POST", "/demo/api/token", "application/json", `{"user": "acme-viewer"} {}`, 400, "one JSON object"},
		{"ttl on revoke", "POST", "/demo/api/revoke", "application/json", `{"user": "acme-viewer", "ttlSeconds": 60}`, 400, "no meaning"},
		{"unknown user on revoke", "POST", "/demo/api/revoke", "application/json", `{"user": "x"}`, 400, "unknown user"},
		{"a form", "POST", "/demo/api/token", "application/x-www-form-urlencoded", `user=acme-viewer`, 400, "JSON object"},
		{"GET", "GET", "/demo/api/token", "", ``, 405, "use POST"},
		{"before seeding", "POST", "/demo/api/token", "application/json", `{"user": "acme-viewer"}`, 503, "still being seeded"},
		{"data without the connection's token", "GET", "/demo/data/acme/sales", "", ``, 401, "datagateway"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			req, err := http.NewRequest(tc.method, "http://demo.test"+tc.path, strings.NewReader(tc.body))
			if err != nil {
				t.Fatal(err)
			}
			if tc.contentType != "" {
				req.Header.Set("Content-Type", tc.contentType)
			}
			rec := &recorder{header: http.Header{}}
			d.ServeHTTP(rec, req)
			if rec.code != tc.want || !strings.Contains(rec.body.String(), tc.wantMessage) {
				t.Errorf("%s %s %s: %d %s, want %d with %q", tc.method, tc.path, tc.body, rec.code, rec.body.String(), tc.want, tc.wantMessage)
			}
		})
	}
}

func TestDemoPageHasTheElementsABrowserTestDrives(t *testing.T) {
	t.Parallel()
	d, err := demo.New(demo.Config{})
	if err != nil {
		t.Fatal(err)
	}
	get := func(path string) (int, string, string) {
		req, _ := http.NewRequest(http.MethodGet, "http://demo.test"+path, nil)
		rec := &recorder{header: http.Header{}}
		d.ServeHTTP(rec, req)
		return rec.code, rec.header.Get("Content-Type"), rec.body.String()
	}
	code, ct, page := get("/demo")
	if code != 200 || !strings.HasPrefix(ct, "text/html") {
		t.Fatalf("GET /demo: %d %s", code, ct)
	}
	for _, want := range []string{`src="/embed/v1/oriel-embed.js"`, `src="/demo/demo.js"`, `data-user="acme-viewer"`,
		`data-user="globex-admin"`, `data-user="acme-north"`, `id="refresh-token"`, `id="revoke-token"`, `id="events"`,
		`id="embed-container"`, `id="status"`} {
		if !strings.Contains(page, want) {
			t.Errorf("the page lacks %s", want)
		}
	}
	if strings.Contains(page, "<script>") {
		t.Error("the page has an inline script")
	}
	code, ct, js := get("/demo/demo.js")
	if code != 200 || !strings.HasPrefix(ct, "text/javascript") || !strings.Contains(js, "token-expiring") || !strings.Contains(js, "setToken") {
		t.Errorf("GET /demo/demo.js: %d %s", code, ct)
	}
	if code, _, _ := get("/demo/nothing"); code != 404 {
		t.Errorf("GET /demo/nothing: %d, want 404", code)
	}
}

func TestDemoWithoutPostgresReadsTheEmbeddedSource(t *testing.T) {
	t.Parallel()
	d, stack, target := startDemo(t, true, "")
	seed(t, d, target)
	origin := target.PageOrigins[0]
	code, body := post(t, stack.GatewayURL+"/demo/api/token", origin, `{"user": "globex-admin"}`)
	if code != http.StatusOK {
		t.Fatalf("token: %d %v", code, body)
	}
	got, err := revenue(t, stack.GatewayURL, origin, body["token"].(string), body["app"].(string))
	if err != nil {
		t.Fatal(err)
	}
	wantCents(t, "globex-admin", got, demo.TotalCents(demo.Sales("globex")))
}

func TestSalesAreDeterministic(t *testing.T) {
	t.Parallel()
	for _, tn := range demo.Tenants {
		a, b := demo.Sales(tn), demo.Sales(tn)
		if len(a) < 1000 || len(a) != len(b) {
			t.Fatalf("%s: %d and %d rows", tn, len(a), len(b))
		}
		for i := range a {
			if a[i] != b[i] {
				t.Fatalf("%s: row %d differs between two runs", tn, i)
			}
		}
		var sum int64
		for _, r := range demo.Regions(tn) {
			sum += demo.TotalCents(a, r)
		}
		if sum != demo.TotalCents(a) {
			t.Errorf("%s: the regions' totals do not add up", tn)
		}
	}
}

// recorder is a minimal http.ResponseWriter.
type recorder struct {
	header http.Header
	code   int
	body   bytes.Buffer
}

func (r *recorder) Header() http.Header { return r.header }
func (r *recorder) Write(b []byte) (int, error) {
	if r.code == 0 {
		r.code = 200
	}
	return r.body.Write(b)
}
func (r *recorder) WriteHeader(code int) { r.code = code }
