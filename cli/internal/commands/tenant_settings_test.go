package commands_test

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"
)

func TestTenantsUpdateSendsThePlanAndFontFamilyFlags(t *testing.T) {
	t.Parallel()
	var (
		query string
		body  map[string]any
	)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodPatch || r.URL.Path != "/v1/tenants/acme" {
			t.Errorf("unexpected request %s %s", r.Method, r.URL.Path)
		}
		query = r.URL.Query().Get("updateMask")
		b, _ := io.ReadAll(r.Body)
		_ = json.Unmarshal(b, &body)
		w.Header().Set("Content-Type", "application/json")
		_, _ = io.WriteString(w, `{"name": "tenants/acme", "settings": {"plan": "gold", "theme": {"fontFamily": "Inter, sans-serif"}}}`)
	}))
	t.Cleanup(srv.Close)
	e := edge{url: srv.URL, key: "k"}
	got := block(e.ok(t, "table", "tenants", "update", "acme", "--plan", "gold", "--font-family", "Inter, sans-serif"))
	if want := "settings.theme.font_family,settings.plan"; query != want {
		t.Errorf("updateMask = %q, want %q", query, want)
	}
	settings, _ := body["settings"].(map[string]any)
	theme, _ := settings["theme"].(map[string]any)
	if settings["plan"] != "gold" || theme["fontFamily"] != "Inter, sans-serif" {
		t.Errorf("body settings = %v, want plan gold and fontFamily Inter, sans-serif", settings)
	}
	if got["Plan"] != "gold" || got["Font family"] != "Inter, sans-serif" {
		t.Errorf("shown %v, want the plan and the font family", got)
	}
}
