package demo

import (
	"embed"
	"encoding/json"
	"errors"
	"fmt"
	"html/template"
	"io"
	"net/http"
	"slices"
	"strings"
	"time"

	"google.golang.org/protobuf/types/known/durationpb"

	"github.com/oriel-dev/oriel/cli/internal/client"
	identityv1 "github.com/oriel-dev/oriel/gen/pb/oriel/identity/v1"
)

//go:embed web
var web embed.FS

var pageTemplate = template.Must(template.ParseFS(web, "web/index.html"))

// Token lifetimes the token endpoint accepts (ExchangeToken's bounds).
const (
	MinTTLSeconds = 30
	MaxTTLSeconds = 3600
)

// maxRequestBytes bounds a request body of the page's backend.
const maxRequestBytes = 4 << 10

// Routes are the patterns to serve the handler at, beside the API (devstack's
// GatewayRoutes).
func (d *Demo) Routes() map[string]http.Handler {
	return map[string]http.Handler{"/demo": d, "/demo/": d}
}

// ServeHTTP serves the demo page, its assets, its backend and the embedded data source:
//
//	GET  /demo                       the page (?user=ID picks a user at once, ?ttl=SECONDS, ?autorefresh=0)
//	GET  /demo/demo.js, /demo/demo.css
//	POST /demo/api/token             {"user", "ttlSeconds"?} → {"token", "expireTime", "app", "tenant", "user"}
//	POST /demo/api/revoke            {"user"} → {"user", "revoked"}
//	GET  /demo/data/{tenant}/…       the embedded source's JSON rows, for the connection's bearer token
func (d *Demo) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	p := r.URL.Path
	switch {
	case p == "/demo" || p == "/demo/":
		d.servePage(w, r)
	case p == "/demo/demo.js" || p == "/demo/demo.css":
		d.serveAsset(w, r, strings.TrimPrefix(p, "/demo/"))
	case p == "/demo/api/token":
		d.serveToken(w, r)
	case p == "/demo/api/revoke":
		d.serveRevoke(w, r)
	case strings.HasPrefix(p, "/demo/data/"):
		d.serveData(w, r, strings.TrimPrefix(p, "/demo/data/"))
	default:
		http.NotFound(w, r)
	}
}

func allowMethod(w http.ResponseWriter, r *http.Request, method string) bool {
	if r.Method == method || (method == http.MethodGet && r.Method == http.MethodHead) {
		return true
	}
	w.Header().Set("Allow", method)
	writeError(w, http.StatusMethodNotAllowed, "use "+method)
	return false
}

// pageUser is a user as the picker shows it.
type pageUser struct {
	User
	TenantName  string
	RegionsText string
}

func (d *Demo) servePage(w http.ResponseWriter, r *http.Request) {
	if !allowMethod(w, r, http.MethodGet) {
		return
	}
	d.mu.RLock()
	t := d.target
	d.mu.RUnlock()
	server := ""
	if t != nil {
		server = strings.TrimSuffix(t.ServerURL, "/")
	}
	var users []pageUser
	for _, u := range Users {
		regions := "all regions"
		if u.Restricted {
			regions = strings.Join(u.Regions, ", ") + " only"
		}
		users = append(users, pageUser{User: u, TenantName: tenantInfo[u.Tenant].displayName, RegionsText: regions})
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.Header().Set("Referrer-Policy", "no-referrer")
	if err := pageTemplate.Execute(w, map[string]any{
		"Server": server, "Users": users, "Seeded": t != nil,
	}); err != nil {
		// Headers are gone; the page is cut short, which the reader sees.
		return
	}
}

func (d *Demo) serveAsset(w http.ResponseWriter, r *http.Request, name string) {
	if !allowMethod(w, r, http.MethodGet) {
		return
	}
	b, err := web.ReadFile("web/" + name)
	if err != nil {
		http.NotFound(w, r)
		return
	}
	ct := "text/css; charset=utf-8"
	if strings.HasSuffix(name, ".js") {
		ct = "text/javascript; charset=utf-8"
	}
	w.Header().Set("Content-Type", ct)
	w.Header().Set("Cache-Control", "no-cache")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	_, _ = w.Write(b)
}

// serveData is the embedded source: a tenant's rows as JSON, whatever the rest of the
// path (the load script's statement, resolved against the connection's URL).
func (d *Demo) serveData(w http.ResponseWriter, r *http.Request, rest string) {
	if !allowMethod(w, r, http.MethodGet) {
		return
	}
	tenant, _, _ := strings.Cut(rest, "/")
	body, ok := d.data[tenant]
	if !ok {
		http.NotFound(w, r)
		return
	}
	if r.Header.Get("Authorization") != "Bearer "+d.dataToken {
		writeError(w, http.StatusUnauthorized, "the demo's data is for the datagateway's connection only")
		return
	}
	w.Header().Set("Content-Type", "application/json")
	_, _ = w.Write(body)
}

// tokenRequest is the body of /demo/api/token and /demo/api/revoke.
type tokenRequest struct {
	User       string `json:"user"`
	TTLSeconds *int   `json:"ttlSeconds,omitempty"`
}

// tokenResponse is the answer of /demo/api/token.
type tokenResponse struct {
	Token      string `json:"token"`
	ExpireTime string `json:"expireTime"`
	App        string `json:"app"`
	Tenant     string `json:"tenant"`
	User       User   `json:"user"`
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(v)
}

func writeError(w http.ResponseWriter, code int, msg string) {
	writeJSON(w, code, map[string]any{"error": map[string]any{"code": code, "message": msg}})
}

// readRequest decodes a backend request (JSON, whatever its Content-Type says), answering
// 400 (or 405, 503) itself.
// Only the token endpoint takes ttlSeconds.
func (d *Demo) readRequest(w http.ResponseWriter, r *http.Request, takesTTL bool) (tokenRequest, User, *Target, bool) {
	var req tokenRequest
	if !allowMethod(w, r, http.MethodPost) {
		return req, User{}, nil, false
	}
	dec := json.NewDecoder(io.LimitReader(r.Body, maxRequestBytes))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&req); err != nil {
		writeError(w, http.StatusBadRequest, "the body must be a JSON object such as {\"user\": \"acme-viewer\"}: "+err.Error())
		return req, User{}, nil, false
	}
	if dec.More() {
		writeError(w, http.StatusBadRequest, "the body must hold one JSON object")
		return req, User{}, nil, false
	}
	var ids []string
	for _, u := range Users {
		ids = append(ids, u.ID)
	}
	if req.User == "" {
		writeError(w, http.StatusBadRequest, "user is required: one of "+strings.Join(ids, ", "))
		return req, User{}, nil, false
	}
	u, ok := UserByID(req.User)
	if !ok {
		writeError(w, http.StatusBadRequest, fmt.Sprintf("unknown user %q: one of %s", req.User, strings.Join(ids, ", ")))
		return req, User{}, nil, false
	}
	if req.TTLSeconds != nil && !takesTTL {
		writeError(w, http.StatusBadRequest, "ttlSeconds has no meaning for a revocation")
		return req, User{}, nil, false
	}
	if req.TTLSeconds != nil && (*req.TTLSeconds < MinTTLSeconds || *req.TTLSeconds > MaxTTLSeconds) {
		writeError(w, http.StatusBadRequest, fmt.Sprintf("ttlSeconds must be %d to %d, got %d", MinTTLSeconds, MaxTTLSeconds, *req.TTLSeconds))
		return req, User{}, nil, false
	}
	d.mu.RLock()
	t := d.target
	d.mu.RUnlock()
	if t == nil {
		w.Header().Set("Retry-After", "5")
		writeError(w, http.StatusServiceUnavailable, "the demo is still being seeded; try again in a moment")
		return req, User{}, nil, false
	}
	return req, u, t, true
}

// apiStatus maps an Oriel error to the backend's answer: the page sees what failed, never
// the admin key.
func apiStatus(w http.ResponseWriter, what string, err error) {
	var apiErr *client.APIError
	if errors.As(err, &apiErr) {
		writeError(w, http.StatusBadGateway, fmt.Sprintf("%s: %s", what, apiErr.Error()))
		return
	}
	writeError(w, http.StatusBadGateway, what+": Oriel did not answer")
}

func (d *Demo) serveToken(w http.ResponseWriter, r *http.Request) {
	req, u, t, ok := d.readRequest(w, r, true)
	if !ok {
		return
	}
	// The token works from the page that asked for it: its Origin when the tenant allows
	// it, else the page's first origin.
	origin := t.PageOrigins[0]
	if o := r.Header.Get("Origin"); o != "" && slices.Contains(t.PageOrigins, o) {
		origin = o
	}
	signed, err := signJWT(d.key, u, d.now())
	if err != nil {
		writeError(w, http.StatusInternalServerError, "cannot sign the JWT")
		return
	}
	ex := &identityv1.ExchangeTokenRequest{Parent: "tenants/" + u.Tenant, Jwt: signed, AllowedOrigin: origin}
	if req.TTLSeconds != nil {
		ex.Ttl = durationpb.New(time.Duration(*req.TTLSeconds) * time.Second)
	}
	resp, err := t.API.ExchangeToken(r.Context(), ex)
	if err != nil {
		apiStatus(w, "exchange the JWT", err)
		return
	}
	d.mu.Lock()
	d.users[u.ID] = resp.GetEmbedSession().GetUser()
	d.mu.Unlock()
	writeJSON(w, http.StatusOK, tokenResponse{
		Token:      resp.GetToken(),
		ExpireTime: resp.GetExpireTime().AsTime().UTC().Format(time.RFC3339),
		App:        AppName(u.Tenant),
		Tenant:     "tenants/" + u.Tenant,
		User:       u,
	})
}

func (d *Demo) serveRevoke(w http.ResponseWriter, r *http.Request) {
	_, u, t, ok := d.readRequest(w, r, false)
	if !ok {
		return
	}
	d.mu.RLock()
	name := d.users[u.ID]
	d.mu.RUnlock()
	if name == "" {
		// Exchanged before this process started, or never: find the user by subject.
		for usr, err := range t.API.AllUsers(r.Context(), &identityv1.ListUsersRequest{Parent: "tenants/" + u.Tenant}) {
			if err != nil {
				apiStatus(w, "list users", err)
				return
			}
			if usr.GetSubject() == u.ID && usr.GetIdentityProvider() == "tenants/"+u.Tenant+"/identityProviders/"+ProviderID {
				name = usr.GetName()
				break
			}
		}
	}
	if name == "" {
		// Never signed in: there is nothing to revoke.
		writeJSON(w, http.StatusOK, map[string]any{"user": u.ID, "revoked": false})
		return
	}
	if _, err := t.API.RevokeUserTokens(r.Context(), &identityv1.RevokeUserTokensRequest{User: name}); err != nil {
		apiStatus(w, "revoke the user's tokens", err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"user": u.ID, "revoked": true})
}
