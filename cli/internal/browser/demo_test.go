// Package browser_test drives the demo page and embedded dashboards in headless Chromium:
// what an ISV's user sees, clicks and keeps across tokens, and what a page on an origin
// the tenant does not allow cannot do. Screenshots of every step are kept as artifacts.
package browser_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"math"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/oriel-dev/oriel/cli/internal/client"
	"github.com/oriel-dev/oriel/cli/internal/demo"
	"github.com/oriel-dev/oriel/cli/internal/devstack"
	"github.com/oriel-dev/oriel/platform/testkit"
)

// How long a page may take to show data: the first chart calls open the app's model.
const loadTimeout = 60 * time.Second

// demoStack is a running stack with the demo seeded into it, and two host pages' origins
// beside it: allowed, which the Acme tenant allows, and foreign, which no tenant allows.
type demoStack struct {
	gateway string // http://127.0.0.1:PORT, the demo page's origin
	allowed *httptest.Server
	foreign *httptest.Server
	api     *client.Client
}

func startDemo(t *testing.T) *demoStack {
	t.Helper()
	hosts := hostPages(t)
	allowed, foreign := httptest.NewServer(hosts), httptest.NewServer(hosts)
	t.Cleanup(allowed.Close)
	t.Cleanup(foreign.Close)

	// The demo's tenants have fixed names, and identity's Redis keys are the tenants':
	// a second run in this process (-count) would find the first one's revocation state.
	// This package's Redis database is its own (testkit leases one per process).
	if err := testkit.Redis(t).FlushDB(context.Background()).Err(); err != nil {
		t.Fatalf("flush the test Redis database: %v", err)
	}
	d, err := demo.New(demo.Config{DataDir: t.TempDir(), Out: io.Discard})
	if err != nil {
		t.Fatal(err)
	}
	stack, err := devstack.Start(context.Background(), devstack.Config{
		DataDir:       t.TempDir(),
		DatabaseURL:   testkit.PostgresDatabase(t),
		RedisURL:      testkit.RedisURL(t),
		GatewayRoutes: d.Routes(),
	}, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatalf("start stack: %v", err)
	}
	t.Cleanup(func() {
		if err := stack.Stop(); err != nil {
			t.Errorf("stop stack: %v", err)
		}
	})
	_, port, _ := net.SplitHostPort(strings.TrimPrefix(stack.GatewayURL, "http://"))
	s := &demoStack{gateway: "http://127.0.0.1:" + port, allowed: allowed, foreign: foreign,
		api: client.New(stack.GatewayURL, stack.AdminKey, nil)}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	err = d.Seed(ctx, demo.Target{
		API: s.api,
		// The tenants allow the demo page's origins and the allowed host's, not the foreign one.
		PageOrigins: []string{s.gateway, "http://localhost:" + port, allowed.URL},
		DatabaseURL: testkit.PostgresDatabase(t),
		DataURL:     s.gateway + "/demo/data/",
	})
	if err != nil {
		t.Fatalf("seed the demo: %v", err)
	}
	s.waitEdgeAllows(t, allowed.URL)
	return s
}

// waitEdgeAllows waits until the edge's cache of tenant settings knows that Acme allows
// origin (it caches them for a few seconds).
func (s *demoStack) waitEdgeAllows(t *testing.T, origin string) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		req, _ := http.NewRequest(http.MethodOptions, s.gateway+"/v1/tenants/acme/apps/sales:chartData", nil)
		req.Header.Set("Origin", origin)
		req.Header.Set("Access-Control-Request-Method", "POST")
		resp, err := http.DefaultClient.Do(req)
		if err == nil {
			resp.Body.Close()
			if resp.Header.Get("Access-Control-Allow-Origin") == origin {
				return
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("the edge never allowed %s (last: %v %v)", origin, resp, err)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// token asks the demo backend for a user's embed token, as a page on origin would: the
// token is bound to origin.
func (s *demoStack) token(t *testing.T, user, origin string) string {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, s.gateway+"/demo/api/token", strings.NewReader(`{"user": "`+user+`"}`))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Origin", origin)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var body struct {
		Token string `json:"token"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&body); err != nil || resp.StatusCode != http.StatusOK || body.Token == "" {
		t.Fatalf("token for %s from %s: %d %v", user, origin, resp.StatusCode, err)
	}
	return body.Token
}

// hostPages serves an ISV's page embedding Acme's dashboard from the edge: /inline?…
// renders it in the page, /frame?… in the edge's frame page. The token comes in the query
// (this page is the test's own, not Oriel's), and the page records the element's events
// in window.events.
func hostPages(t *testing.T) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		q := r.URL.Query()
		frame := ""
		if r.URL.Path == "/frame" {
			frame = " frame"
		}
		server := q.Get("server")
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		fmt.Fprintf(w, `<!doctype html><html><head><title>An ISV's app</title></head><body>
<h1>An ISV's app on another origin</h1>
<script src="%[1]s/embed/v1/oriel-embed.js"></script>
<oriel-embed id="embed" server="%[1]s" app="tenants/acme/apps/sales"%[2]s></oriel-embed>
<script>
window.events = [];
const el = document.getElementById("embed");
for (const name of ["ready", "selection-changed", "token-expiring", "token-expired", "auth-failed", "error"]) {
  el.addEventListener(name, (e) => window.events.push({name, detail: e.detail}));
}
el.setToken(%[3]s);
</script></body></html>`, server, frame, js(q.Get("token")))
	})
}

// region totals of a tenant's sample data, in cents.
func regionCents(tenant string) map[string]int64 {
	out := map[string]int64{}
	for _, r := range demo.Regions(tenant) {
		out[r] = demo.TotalCents(demo.Sales(tenant), r)
	}
	return out
}

const embedJS = `document.querySelector("#embed")`

// chartRows reads a chart's data table (the screen-reader table every chart renders):
// its rows below the header, as text.
func chartRows(t *testing.T, ctx context.Context, chart string) [][]string {
	t.Helper()
	return eval[[][]string](t, ctx, `(() => {
  const sec = `+embedJS+`.shadowRoot.querySelector('section[data-chart-id=`+js(chart)+`]');
  if (!sec) return [];
  const rows = [...sec.querySelectorAll("table.oriel-data tr")].map(tr => [...tr.children].map(c => c.textContent.trim()));
  return rows.filter(r => !r.some(c => c === "")).slice(1);
})()`)
}

// kpi reads a KPI chart's first value.
func kpi(t *testing.T, ctx context.Context, chart string) string {
	t.Helper()
	return eval[string](t, ctx, `(() => {
  const v = `+embedJS+`.shadowRoot.querySelector('section[data-chart-id=`+js(chart)+`] .oriel-kpi-value');
  return v ? v.textContent.trim() : "";
})()`)
}

// cents parses a number as the dashboard shows it (with grouping, currency or not).
func cents(t *testing.T, text string) int64 {
	t.Helper()
	clean := strings.Map(func(r rune) rune {
		if (r >= '0' && r <= '9') || r == '.' || r == '-' {
			return r
		}
		return -1
	}, text)
	f, err := strconv.ParseFloat(clean, 64)
	if err != nil {
		t.Fatalf("%q is not a number", text)
	}
	return int64(math.Round(f * 100))
}

// regionsShown is the revenue-by-region bar chart as region → cents.
func regionsShown(t *testing.T, ctx context.Context) map[string]int64 {
	t.Helper()
	out := map[string]int64{}
	for _, row := range chartRows(t, ctx, "by-region") {
		if len(row) < 2 {
			t.Fatalf("a by-region row %v has no value", row)
		}
		out[row[0]] = cents(t, row[1])
	}
	return out
}

// eventually polls check, which reads the page, until it holds; charts redraw each when
// their own data arrives, so what one shows may lag another for a moment.
func eventually(t *testing.T, ctx context.Context, what string, check func() (ok bool, got string)) {
	t.Helper()
	deadline := time.Now().Add(loadTimeout)
	for {
		ok, got := check()
		if ok {
			return
		}
		if time.Now().After(deadline) {
			screenshot(t, ctx, "timeout")
			t.Fatalf("waiting for %s: still %s after %s", what, got, loadTimeout)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// waitState waits for the element's data-state.
func waitState(t *testing.T, ctx context.Context, state string, timeout time.Duration) {
	t.Helper()
	waitFor(t, ctx, "data-state "+state, embedJS+`?.getAttribute("data-state") === `+js(state), timeout)
}

// waitEvent waits for the demo page's event log to list event (at least n times).
func waitEvent(t *testing.T, ctx context.Context, event string, n int, timeout time.Duration) {
	t.Helper()
	waitFor(t, ctx, fmt.Sprintf("%d× %s in the event log", n, event),
		fmt.Sprintf(`document.querySelectorAll('#events li[data-event=%s]').length >= %d`, js(event), n), timeout)
}

// waitKPI waits until the revenue KPI shows want cents.
func waitKPI(t *testing.T, ctx context.Context, want int64) {
	t.Helper()
	waitFor(t, ctx, fmt.Sprintf("revenue %d cents", want), fmt.Sprintf(`(() => {
  const v = %s.shadowRoot.querySelector('section[data-chart-id="revenue"] .oriel-kpi-value');
  if (!v) return false;
  const n = parseFloat(v.textContent.replace(/[^0-9.-]/g, ""));
  return Math.round(n * 100) === %d;
})()`, embedJS, want), loadTimeout)
}

// clickBar clicks the bar of category in a bar chart with the mouse, as a person would.
func clickBar(t *testing.T, ctx context.Context, chart, category string) {
	t.Helper()
	// The point is in viewport coordinates: bring the chart into view first.
	eval[bool](t, ctx, `(() => { `+embedJS+`.shadowRoot.querySelector('section[data-chart-id=`+js(chart)+`]').scrollIntoView({block: "center"}); return true; })()`)
	p := eval[*struct{ X, Y float64 }](t, ctx, embedJS+`.chartPoint(`+js(chart)+`, `+js(category)+`)`)
	if p == nil {
		t.Fatalf("chart %s has no bar %q", chart, category)
	}
	if err := chromedp.Do(ctx, chromedp.MouseClickXY(p.X, p.Y)); err != nil {
		t.Fatalf("click %s/%s: %v", chart, category, err)
	}
}

func TestDemoPageInABrowser(t *testing.T) {
	s := startDemo(t)
	ctx := newBrowser(t)
	acme, globex := regionCents("acme"), regionCents("globex")

	t.Run("each demo user sees their own numbers", func(t *testing.T) {
		for _, tc := range []struct {
			user string
			want map[string]int64
		}{
			{"acme-viewer", acme},
			{"globex-admin", globex},
			{"acme-north", map[string]int64{"North": acme["North"]}}, // restricted to one region
		} {
			if err := chromedp.Do(ctx, chromedp.Navigate(s.gateway+"/demo?user="+tc.user)); err != nil {
				t.Fatal(err)
			}
			waitEvent(t, ctx, "ready", 1, loadTimeout)
			waitState(t, ctx, "ready", loadTimeout)
			var total int64
			for _, c := range tc.want {
				total += c
			}
			waitKPI(t, ctx, total)
			eventually(t, ctx, tc.user+"'s revenue by region "+fmt.Sprint(tc.want), func() (bool, string) {
				got := fmt.Sprint(regionsShown(t, ctx))
				return got == fmt.Sprint(tc.want), got
			})
			// The dashboard wears its tenant's theme (from the tenant's settings).
			tenant, _, _ := strings.Cut(tc.user, "-")
			want := strings.ToLower(demo.Theme(tenant).GetPrimaryColor())
			eventually(t, ctx, tc.user+"'s dashboard in "+tenant+"'s primary colour "+want, func() (bool, string) {
				got := strings.ToLower(eval[string](t, ctx, `getComputedStyle(`+embedJS+`).getPropertyValue("--oriel-primary").trim()`))
				return got == want, got
			})
			screenshot(t, ctx, tc.user)
		}
	})

	t.Run("the host page overrides the theme, and a phone gets one column", func(t *testing.T) {
		if err := chromedp.Do(ctx, chromedp.Navigate(s.gateway+"/demo?user=globex-admin")); err != nil {
			t.Fatal(err)
		}
		waitState(t, ctx, "ready", loadTimeout)
		eval[bool](t, ctx, `(() => { `+embedJS+`.setTheme({primaryColor: "#7b2ff7"}); return true; })()`)
		waitFor(t, ctx, "the host's primary colour", `getComputedStyle(`+embedJS+`).getPropertyValue("--oriel-primary").trim().toLowerCase() === "#7b2ff7"`, 10*time.Second)

		if err := chromedp.Do(ctx, chromedp.EmulateViewport(390, 844)); err != nil {
			t.Fatal(err)
		}
		defer func() { _ = chromedp.Do(ctx, chromedp.EmulateViewport(1280, 900)) }()
		// Every chart starts at the same left edge: one column.
		waitFor(t, ctx, "one column of charts", `(() => {
  const xs = [...`+embedJS+`.shadowRoot.querySelectorAll("section.oriel-chart")].map(s => Math.round(s.getBoundingClientRect().left));
  return xs.length > 3 && new Set(xs).size === 1;
})()`, 10*time.Second)
		screenshot(t, ctx, "phone")
	})

	t.Run("clicking a bar selects its region and the other charts follow", func(t *testing.T) {
		if err := chromedp.Do(ctx, chromedp.Navigate(s.gateway+"/demo?user=acme-viewer")); err != nil {
			t.Fatal(err)
		}
		waitState(t, ctx, "ready", loadTimeout)
		clickBar(t, ctx, "by-region", "South")
		waitEvent(t, ctx, "selection-changed", 1, loadTimeout)
		waitKPI(t, ctx, acme["South"])
		sel := eval[[]struct {
			Field  string
			Values []string
		}](t, ctx, embedJS+`.getSelections()`)
		if len(sel) != 1 || sel[0].Field != "region" || fmt.Sprint(sel[0].Values) != "[South]" {
			t.Errorf("selections after clicking South: %+v", sel)
		}
		// The pie of revenue by category follows (each chart redraws when its own data
		// arrives): it comes to add up to South's revenue alone.
		eventually(t, ctx, "revenue by category adding up to South's", func() (bool, string) {
			var pie int64
			for _, row := range chartRows(t, ctx, "by-category") {
				pie += cents(t, row[len(row)-1])
			}
			d := pie - acme["South"]
			return d >= -5 && d <= 5, fmt.Sprintf("%d cents, want %d", pie, acme["South"]) // rounding of each slice's text
		})
		screenshot(t, ctx, "south-selected")
	})

	t.Run("an expired token is replaced without losing the selection, a revoked one fails", func(t *testing.T) {
		// 30 s tokens, and no automatic refresh: the token is let expire.
		if err := chromedp.Do(ctx, chromedp.Navigate(s.gateway+"/demo?user=acme-viewer&ttl=30&autorefresh=0")); err != nil {
			t.Fatal(err)
		}
		waitState(t, ctx, "ready", loadTimeout)
		clickBar(t, ctx, "by-region", "East")
		waitKPI(t, ctx, acme["East"])
		waitEvent(t, ctx, "token-expiring", 1, loadTimeout)
		waitEvent(t, ctx, "token-expired", 1, 45*time.Second)
		waitState(t, ctx, "expired", 5*time.Second)
		screenshot(t, ctx, "expired")

		if err := chromedp.Do(ctx, chromedp.Click(chromedp.CSS("#refresh-token"))); err != nil {
			t.Fatal(err)
		}
		waitState(t, ctx, "ready", loadTimeout)
		sel := eval[[]struct {
			Field  string
			Values []string
		}](t, ctx, embedJS+`.getSelections()`)
		if len(sel) != 1 || fmt.Sprint(sel[0].Values) != "[East]" {
			t.Errorf("selections after a new token: %+v, want region East kept", sel)
		}
		waitKPI(t, ctx, acme["East"])
		// The new token works: another selection is answered.
		clickBar(t, ctx, "by-region", "East") // toggles East off
		waitKPI(t, ctx, acme["North"]+acme["South"]+acme["East"]+acme["West"])
		screenshot(t, ctx, "refreshed")

		if err := chromedp.Do(ctx, chromedp.Click(chromedp.CSS("#revoke-token"))); err != nil {
			t.Fatal(err)
		}
		waitFor(t, ctx, "the revocation to be done", `document.querySelector("#status").textContent.toLowerCase().includes("revoked")`, loadTimeout)
		clickBar(t, ctx, "by-region", "West") // the next call is refused
		waitEvent(t, ctx, "auth-failed", 1, loadTimeout)
		waitState(t, ctx, "auth-failed", 5*time.Second)
		screenshot(t, ctx, "revoked")
	})

	t.Run("a page on an origin the tenant does not allow cannot embed", func(t *testing.T) {
		token := s.token(t, "acme-viewer", s.gateway)
		for _, mode := range []string{"inline", "frame"} {
			url := s.foreign.URL + "/" + mode + "?server=" + s.gateway + "&token=" + token
			if err := chromedp.Do(ctx, chromedp.Navigate(url)); err != nil {
				t.Fatal(err)
			}
			// Inline: CORS refuses the API calls. Frame: CSP frame-ancestors refuses the
			// frame, which never says it loaded.
			waitFor(t, ctx, mode+": an error event", `window.events.some(e => e.name === "error" || e.name === "auth-failed")`, loadTimeout)
			if n := eval[int](t, ctx, `window.events.filter(e => e.name === "ready").length`); n != 0 {
				t.Errorf("%s from a foreign origin became ready", mode)
			}
			screenshot(t, ctx, "foreign-"+mode)
		}
	})

	t.Run("a token bound to one origin does not work from another", func(t *testing.T) {
		// Bound to the demo page's origin, used by the allowed host page: refused.
		wrong := s.token(t, "acme-viewer", s.gateway)
		if err := chromedp.Do(ctx, chromedp.Navigate(s.allowed.URL+"/inline?server="+s.gateway+"&token="+wrong)); err != nil {
			t.Fatal(err)
		}
		waitFor(t, ctx, "auth-failed", `window.events.some(e => e.name === "auth-failed")`, loadTimeout)
		reason := eval[string](t, ctx, `window.events.find(e => e.name === "auth-failed").detail.reason || ""`)
		if reason != "ORIGIN_NOT_ALLOWED" {
			t.Errorf("auth-failed reason %q, want ORIGIN_NOT_ALLOWED", reason)
		}
		screenshot(t, ctx, "wrong-origin")

		// Bound to the host page's own origin: works, inline and in the frame.
		for _, mode := range []string{"inline", "frame"} {
			right := s.token(t, "acme-viewer", s.allowed.URL)
			if err := chromedp.Do(ctx, chromedp.Navigate(s.allowed.URL+"/"+mode+"?server="+s.gateway+"&token="+right)); err != nil {
				t.Fatal(err)
			}
			waitFor(t, ctx, mode+": ready", `window.events.some(e => e.name === "ready")`, loadTimeout)
			if bad := eval[[]any](t, ctx, `window.events.filter(e => e.name === "error" || e.name === "auth-failed")`); len(bad) != 0 {
				t.Errorf("%s from the token's own origin failed: %v", mode, describe(bad))
			}
			screenshot(t, ctx, "right-origin-"+mode)
		}
	})
}
