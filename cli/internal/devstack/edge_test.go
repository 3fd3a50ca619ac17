package devstack_test

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"testing"

	"github.com/oriel-dev/oriel/cli/internal/devstack"
	"github.com/oriel-dev/oriel/platform/testkit"
)

// TestEdgeEnforcesAnEmbedTokensOriginEndToEnd: through the real stack on PostgreSQL and
// Redis, an embed token bound to an origin works from that origin (with CORS and the
// RateLimit headers, the buckets in Redis) and is refused from any other, even one the
// tenant allows.
func TestEdgeEnforcesAnEmbedTokensOriginEndToEnd(t *testing.T) {
	t.Parallel()
	stack, err := devstack.Start(context.Background(), devstack.Config{
		DataDir: t.TempDir(), DatabaseURL: testkit.PostgresDatabase(t), RedisURL: testkit.RedisURL(t),
	}, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatalf("start stack: %v", err)
	}
	t.Cleanup(func() {
		if err := stack.Stop(); err != nil {
			t.Errorf("stop stack: %v", err)
		}
	})
	const app, other = "https://app.example.com", "https://other.example.com"
	admin := restClient{t: t, base: stack.GatewayURL, key: stack.AdminKey}
	tenant := testkit.UniqueID("edge")
	admin.do("POST", "/v1/tenants?tenantId="+tenant, `{"displayName":"Edge","hostnames":["`+tenant+`.analytics.example.com"],"region":"eu-west",`+
		`"settings":{"allowedWebOrigins":["`+app+`","`+other+`"],"theme":{"primaryColor":"#1a73e8"}}}`).json(t, 200, &struct{}{})

	token := exchangeEmbedToken(t, admin, tenant, `{"allowedOrigin":"`+app+`"}`)

	call := func(method, path, origin string) (*http.Response, string) {
		t.Helper()
		req, err := http.NewRequest(method, stack.GatewayURL+path, strings.NewReader("{}"))
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Authorization", "Bearer "+token)
		req.Header.Set("Origin", origin)
		req.Header.Set("Sec-Fetch-Site", "cross-site")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		return resp, string(body)
	}
	for _, origin := range []string{"https://evil.example.com", other} {
		resp, body := call("POST", "/v1/tokens:introspect", origin)
		if resp.StatusCode != http.StatusForbidden || !strings.Contains(body, "ORIGIN_NOT_ALLOWED") {
			t.Fatalf("the token from %s = %d %s, want 403 ORIGIN_NOT_ALLOWED", origin, resp.StatusCode, body)
		}
	}
	for _, path := range []string{"/v1/tokens:introspect", "/embed/v1/tenants/" + tenant + "/theme"} {
		method := "POST"
		if strings.HasSuffix(path, "/theme") {
			method = "GET"
		}
		resp, body := call(method, path, app)
		if resp.StatusCode != http.StatusOK || resp.Header.Get("Access-Control-Allow-Origin") != app {
			t.Fatalf("%s from its origin = %d %s (Access-Control-Allow-Origin %q), want 200 with CORS", path, resp.StatusCode, body, resp.Header.Get("Access-Control-Allow-Origin"))
		}
		for _, h := range []string{"RateLimit-Limit", "RateLimit-Remaining", "RateLimit-Reset"} {
			if resp.Header.Get(h) == "" {
				t.Errorf("%s: no %s header", path, h)
			}
		}
		if strings.HasSuffix(path, "/theme") && !strings.Contains(body, `"primaryColor":"#1a73e8"`) {
			t.Errorf("theme %s", body)
		}
	}
}
