package gateway

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"io/fs"
	"net/http"

	"google.golang.org/grpc/codes"

	errorsv1 "github.com/oriel-dev/oriel/gen/pb/oriel/errors/v1"
	"github.com/oriel-dev/oriel/platform/apierr"
	"github.com/oriel-dev/oriel/platform/auth"
)

// embedAsset is a file of the built embed client, read once.
type embedAsset struct {
	body []byte
	etag string
}

func loadEmbedAsset(files fs.FS, name string) *embedAsset {
	body, err := fs.ReadFile(files, name)
	if err != nil {
		return nil
	}
	sum := sha256.Sum256(body)
	return &embedAsset{body: body, etag: `"` + hex.EncodeToString(sum[:16]) + `"`}
}

// errClientNotBuilt is the answer for the embed client's files in a binary built without
// them.
func errClientNotBuilt() error {
	return apierr.New(codes.Unavailable, errorsv1.ErrorReason_ERROR_REASON_UNAVAILABLE,
		"the embed client is not built: run make embed-client")
}

// serveScript serves oriel-embed.js: anyone may load it (a script tag needs no CORS);
// browsers revalidate it on every load (no-cache) by its ETag, so a new edge's client is
// picked up at once.
func (g *Gateway) serveScript(w http.ResponseWriter, r *http.Request) {
	if g.script == nil {
		writeStatus(w, errClientNotBuilt())
		return
	}
	h := w.Header()
	h.Set("ETag", g.script.etag)
	h.Set("Cache-Control", "no-cache")
	h.Set("X-Content-Type-Options", "nosniff")
	if r.Header.Get("If-None-Match") == g.script.etag {
		w.WriteHeader(http.StatusNotModified)
		return
	}
	h.Set("Content-Type", "application/javascript; charset=utf-8")
	_, _ = w.Write(g.script.body)
}

// frameCSP is the frame page's policy: only the edge's own script, styles, images and
// API, framed only by the tenant's allowed origins.
const frameCSP = "default-src 'none'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; " +
	"font-src 'self' data:; connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors "

// serveFramePage serves the frame page of an app (and sheet). It carries nothing of the
// tenant but its frame-ancestors: the token comes later, by postMessage, from the host.
func (g *Gateway) serveFramePage(w http.ResponseWriter, r *http.Request) {
	tenant := r.PathValue("tenant")
	noteCaller(r.Context(), tenant, "")
	t, ok := g.activeTenant(w, r, tenant)
	if !ok {
		return
	}
	if g.frame == nil {
		writeStatus(w, errClientNotBuilt())
		return
	}
	h := w.Header()
	h.Set("Content-Security-Policy", frameCSP+frameAncestors(t.settings.GetAllowedWebOrigins()))
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "no-referrer")
	h.Set("Cache-Control", "no-cache")
	h.Set("Content-Type", "text/html; charset=utf-8")
	_, _ = w.Write(g.frame.body)
}

// theme is the JSON of GET /embed/v1/tenants/{tenant}/theme.
type theme struct {
	PrimaryColor    string `json:"primaryColor"`
	BackgroundColor string `json:"backgroundColor"`
	TextColor       string `json:"textColor"`
	FontFamily      string `json:"fontFamily"`
}

// serveTheme answers the tenant's theme to a credential of the tenant (an embed token or
// a tenant API key) or a platform key. It runs behind the same protection as the API
// (origins, bound origins, rate limits), which has authenticated the caller.
func (g *Gateway) serveTheme(w http.ResponseWriter, r *http.Request) {
	tenant := r.PathValue("tenant")
	if r.Method != http.MethodGet {
		routingErrorHandler(r.Context(), nil, marshaler, w, r, http.StatusMethodNotAllowed)
		return
	}
	p := auth.FromContext(r.Context())
	switch {
	case p == nil && bearer(r) == "" && len(r.Header.Values("Authorization")) == 0:
		writeStatus(w, errCredentialMissing())
		return
	case p == nil:
		// A credential the edge does not introspect (a JWT) is no credential here.
		writeStatus(w, errCredentialInvalid())
		return
	case !p.IsPlatform() && p.Tenant != tenant:
		writeStatus(w, apierr.NotFound("tenants/"+tenant))
		return
	}
	t, ok := g.activeTenant(w, r, tenant)
	if !ok {
		return
	}
	th := t.settings.GetTheme()
	body, _ := json.Marshal(theme{
		PrimaryColor: th.GetPrimaryColor(), BackgroundColor: th.GetBackgroundColor(),
		TextColor: th.GetTextColor(), FontFamily: th.GetFontFamily(),
	})
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("Cache-Control", "no-cache")
	_, _ = w.Write(body)
}

// activeTenant reads an embed page's tenant, answering 404 for a tenant that does not
// exist or is deactivated (its content is not to be shown) and 503 when the settings
// cannot be read; ok is false when it answered.
func (g *Gateway) activeTenant(w http.ResponseWriter, r *http.Request, tenant string) (t tenantSettings, ok bool) {
	t, err := g.tenants.lookup(r.Context(), tenant)
	if err != nil {
		g.log.WarnContext(r.Context(), "tenant settings could not be read", "tenant", tenant, "error", err)
		writeStatus(w, apierr.Unavailable("the tenant's settings cannot be read right now; retry"))
		return t, false
	}
	if !t.exists || !t.active {
		writeStatus(w, apierr.NotFound("tenants/"+tenant))
		return t, false
	}
	return t, true
}
