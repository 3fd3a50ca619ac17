// Package demo is `oriel dev --demo`: a demo ISV that shows the whole product on one
// machine, and the demo host page that embeds it.
//
// Seeding (Seed) goes through the REST edge with the admin key, exactly as an ISV's
// provisioning would, and is idempotent: every step gets or creates (fixed ids, request
// ids derived from them), so seeding the same Oriel again changes nothing it need not.
//
//   - Tenants `acme` (Acme Corp, us-east) and `globex` (Globex, eu-west), or the first two
//     regions ListRegions offers. Their allowed web origins gain the demo page's origins
//     (kept, never removed, so one Oriel can serve `oriel dev` and compose alike); each
//     gets its own theme (primary colour and font) and the label plan=demo.
//   - Sample sales data from Sales, deterministic per tenant (a few thousand order lines
//     over two years; Acme sells in North/South/East/West, Globex in EMEA/Americas/APAC).
//     If the PostgreSQL at the demo database URL answers within 3 s, each tenant's data
//     is (re)written to its own schema (`oriel_demo_acme.sales`, `oriel_demo_globex.sales`)
//     and each tenant gets a PostgreSQL connection `sales-postgres` to it. Otherwise each
//     tenant gets an HTTP (JSON) connection `sales-http` to this package's own handler,
//     `/demo/data/{tenant}/`, which serves the same rows to a bearer token only the
//     connection holds (the datagateway allows plain-HTTP loopback sources in dev mode
//     only). The load script's grammar wants `SQL SELECT …`, and the HTTP source resolves
//     the statement as a path relative to its URL, so the handler answers any path under
//     the tenant's folder.
//   - A JWT identity provider `demo` per tenant, trusting the demo backend's ES256 key
//     (kid demo-1; the private key is kept in the data folder as demo-isv.key, or lives
//     in memory without one, in which case each start rotates the provider's key). Its
//     `groups` claim maps to groups `viewers` and `admins`, bound to the roles viewer and
//     admin, and its `region` claim (a list) to the session attribute `region`. Both groups
//     are consumers of the managed space `templates` the rollout creates.
//   - Template `sales`, one version named after a hash of its content (a changed dashboard
//     is a new version), rolled out to both tenants with per-tenant variables
//     `connection` and `table`, waited for, then both apps reloaded (with the variables
//     of this run's data source, so a switch between PostgreSQL and the embedded source
//     needs no new rollout) and waited for.
//
// Row-level security: the template reduces `region` by the session attribute `region`,
// and a session without the attribute sees no row at all (fail closed). Unrestricted demo
// users are therefore not attribute-less: the demo backend puts every region of their
// tenant in their JWT's `region` list claim, which identity joins with commas and the
// reduction reads as "any of these". The restricted user's list holds one region.
//
// The demo page (Demo.ServeHTTP) is `/demo`: a user picker, the `<oriel-embed>` element,
// token refresh and revoke buttons and an event log; its backend, `/demo/api/token` and
// `/demo/api/revoke`, signs each JWT server-side and exchanges it with the admin key,
// which never reaches the browser. `oriel dev --demo` serves it on the edge (GatewayRoutes)
// and the embedded source's data with it; `oriel dev --demo --demo-gateway-url URL` seeds
// a running Oriel (compose's) and serves the page on a port of its own, another origin
// than the edge's, as an ISV's app would be.
//
// The page's contract, for browser tests: buttons `button[data-user="acme-viewer"]`,
// `…="globex-admin"`, `…="acme-north"` (aria-pressed on the chosen one); `#refresh-token`
// and `#revoke-token`; `#status` (what the page last did; class `error` on failure);
// `#current-user` (data-user); `#token-expiry` (data-expire-time); the element
// `oriel-embed#embed`, created in `#embed-container` for each user picked; `ol#events`
// with one `li[data-event=NAME]` per event of the element (ready, selection-changed,
// token-expiring, token-expired, auth-failed, error), its text the name and the detail as
// JSON. Query parameters: `?user=ID` signs in at once, `?ttl=SECONDS` (30 to 3600) asks
// for tokens of that lifetime, `?autorefresh=0` leaves token-expiring and token-expired
// unanswered; otherwise the page fetches a new token and calls setToken (at once the
// first time, then 10 s before each expiry, at most every 5 s). `window.orielDemo` has
// pick(user), refresh() and revoke().
package demo

import (
	"context"
	"crypto/ecdsa"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/google/uuid"
	"google.golang.org/protobuf/types/known/fieldmaskpb"

	"github.com/oriel-dev/oriel/cli/internal/client"
	contentv1 "github.com/oriel-dev/oriel/gen/pb/oriel/content/v1"
	datagatewayv1 "github.com/oriel-dev/oriel/gen/pb/oriel/datagateway/v1"
	identityv1 "github.com/oriel-dev/oriel/gen/pb/oriel/identity/v1"
	tenantv1 "github.com/oriel-dev/oriel/gen/pb/oriel/tenant/v1"
)

// DefaultDatabaseURL is where the sample data goes when nothing else is said.
const DefaultDatabaseURL = "postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable"

// Config configures a demo.
type Config struct {
	// DataDir keeps the demo backend's private key; empty keeps it in memory.
	DataDir string
	// Out gets the seeding's progress lines; nil discards them.
	Out io.Writer
	// Now is the clock the JWTs are signed with; nil means time.Now.
	Now func() time.Time
}

// Target is the Oriel a demo is seeded into, and how its page is reached.
type Target struct {
	// API calls the REST edge with the admin key.
	API *client.Client
	// PageOrigins are the origins the demo page is served at, e.g. http://localhost:8080
	// and http://127.0.0.1:8080; the first is the default token origin.
	PageOrigins []string
	// ServerURL is the edge as a browser reaches it, when the page is not served by the
	// edge itself (compose); empty means the page's own origin.
	ServerURL string
	// DatabaseURL is the PostgreSQL for the sample data; empty means the embedded source.
	DatabaseURL string
	// DataURL is where the datagateway reaches this demo's handler's data, the URL of
	// `/demo/data/`, e.g. http://127.0.0.1:8080/demo/data/; needed without PostgreSQL.
	DataURL string
}

// Demo is a demo ISV: its key pair, sample data and, once seeded, its page's backend.
type Demo struct {
	key       *ecdsa.PrivateKey
	pubPEM    string
	now       func() time.Time
	out       io.Writer
	dataToken string
	data      map[string][]byte // tenant → JSON rows

	mu     sync.RWMutex
	target *Target           // nil until seeded
	users  map[string]string // demo user id → its Oriel user name, once exchanged
}

// New prepares a demo: its key pair and sample data. Seed it once its handler is served.
func New(cfg Config) (*Demo, error) {
	key, err := loadOrCreateKey(cfg.DataDir)
	if err != nil {
		return nil, fmt.Errorf("demo key: %w", err)
	}
	pub, err := publicKeyPEM(key)
	if err != nil {
		return nil, err
	}
	d := &Demo{key: key, pubPEM: pub, now: cfg.Now, out: cfg.Out, data: map[string][]byte{}, users: map[string]string{}}
	if d.now == nil {
		d.now = time.Now
	}
	if d.out == nil {
		d.out = io.Discard
	}
	b := make([]byte, 24)
	_, _ = rand.Read(b) // never fails (crypto/rand)
	d.dataToken = hex.EncodeToString(b)
	for _, t := range Tenants {
		d.data[t] = salesJSON(Sales(t))
	}
	return d, nil
}

// AppName is a tenant's demo app, `tenants/{tenant}/apps/sales`.
func AppName(tenant string) string { return "tenants/" + tenant + "/apps/" + TemplateID }

// tenantInfo is how each demo tenant is set up.
var tenantInfo = map[string]struct {
	displayName, region string
	theme               *tenantv1.Theme
}{
	"acme": {"Acme Corp", "us-east", &tenantv1.Theme{PrimaryColor: "#d9480f", BackgroundColor: "#ffffff", TextColor: "#212529",
		FontFamily: "Inter, 'Helvetica Neue', Arial, sans-serif"}},
	"globex": {"Globex", "eu-west", &tenantv1.Theme{PrimaryColor: "#1864ab", BackgroundColor: "#f8f9fa", TextColor: "#1b1f24",
		FontFamily: "Georgia, 'Times New Roman', serif"}},
}

// Theme is a demo tenant's theme, as seeded into its settings.
func Theme(tenant string) *tenantv1.Theme { return tenantInfo[tenant].theme }

// requestID is a stable request id for an idempotent create.
func requestID(what string) string {
	return uuid.NewSHA1(uuid.NameSpaceURL, []byte("https://oriel.dev/demo/"+what)).String()
}

func status(err error) string {
	var apiErr *client.APIError
	if errors.As(err, &apiErr) {
		return apiErr.Status
	}
	return ""
}

func (d *Demo) logf(format string, args ...any) { fmt.Fprintf(d.out, "demo: "+format+"\n", args...) }

// Seed seeds the demo into t's Oriel (see the package doc) and makes the page's backend
// answer with it. It may be called again, with the same or another target.
func (d *Demo) Seed(ctx context.Context, t Target) error {
	if t.API == nil || len(t.PageOrigins) == 0 {
		return errors.New("demo: a target needs an API client and the page's origins")
	}
	regions, err := d.pickRegions(ctx, t.API)
	if err != nil {
		return err
	}
	for _, tenant := range Tenants {
		if err := d.seedTenant(ctx, t, tenant, regions[tenant]); err != nil {
			return fmt.Errorf("demo: tenant %s: %w", tenant, err)
		}
	}
	vars, err := d.seedData(ctx, t)
	if err != nil {
		return fmt.Errorf("demo: sample data: %w", err)
	}
	for _, tenant := range Tenants {
		if err := d.seedIdentity(ctx, t.API, tenant); err != nil {
			return fmt.Errorf("demo: identity of %s: %w", tenant, err)
		}
	}
	if err := d.rollOut(ctx, t.API, vars); err != nil {
		return fmt.Errorf("demo: rollout: %w", err)
	}
	for _, tenant := range Tenants {
		if err := d.grantSpace(ctx, t.API, tenant); err != nil {
			return fmt.Errorf("demo: space of %s: %w", tenant, err)
		}
	}
	for _, tenant := range Tenants {
		if err := d.reload(ctx, t.API, tenant, vars[tenant]); err != nil {
			return fmt.Errorf("demo: reload of %s: %w", tenant, err)
		}
	}
	d.mu.Lock()
	d.target = &t
	d.mu.Unlock()
	return nil
}

// pickRegions puts the two tenants in two different regions: the preferred ones when
// offered, else the first two.
func (d *Demo) pickRegions(ctx context.Context, api *client.Client) (map[string]string, error) {
	resp, err := api.ListRegions(ctx, &tenantv1.ListRegionsRequest{})
	if err != nil {
		return nil, fmt.Errorf("demo: list regions: %w", err)
	}
	var codes []string
	for _, r := range resp.GetRegions() {
		codes = append(codes, r.GetCode())
	}
	if len(codes) < 2 {
		return nil, fmt.Errorf("demo: the demo needs two regions, Oriel offers %v", codes)
	}
	out := map[string]string{}
	for i, tenant := range Tenants {
		if want := tenantInfo[tenant].region; slices.Contains(codes, want) {
			out[tenant] = want
		} else {
			out[tenant] = codes[i]
		}
	}
	if out[Tenants[0]] == out[Tenants[1]] {
		out[Tenants[0]], out[Tenants[1]] = codes[0], codes[1]
	}
	return out, nil
}

func (d *Demo) seedTenant(ctx context.Context, t Target, tenant, region string) error {
	info := tenantInfo[tenant]
	name := "tenants/" + tenant
	tn, err := t.API.GetTenant(ctx, &tenantv1.GetTenantRequest{Name: name})
	switch {
	case status(err) == "NOT_FOUND":
		tn, err = t.API.CreateTenant(ctx, &tenantv1.CreateTenantRequest{TenantId: tenant, RequestId: requestID("tenant/" + tenant),
			Tenant: &tenantv1.Tenant{DisplayName: info.displayName, Hostnames: []string{tenant + ".demo.oriel.dev"}, Region: region}})
		if err != nil {
			return err
		}
		d.logf("tenant %s (%s) created in %s", tenant, info.displayName, tn.GetRegion())
	case err != nil:
		return err
	default:
		d.logf("tenant %s (%s) exists, in %s", tenant, info.displayName, tn.GetRegion())
	}
	if tn.GetState() != tenantv1.Tenant_STATE_ACTIVE {
		return fmt.Errorf("the tenant is %s; reactivate it (oriel tenants reactivate %s) or use a fresh data folder",
			strings.TrimPrefix(tn.GetState().String(), "STATE_"), tenant)
	}
	origins := slices.Clone(tn.GetSettings().GetAllowedWebOrigins())
	for _, o := range t.PageOrigins {
		if !slices.Contains(origins, o) {
			origins = append(origins, o)
		}
	}
	labels := tn.GetLabels()
	if labels == nil {
		labels = map[string]string{}
	}
	labels["plan"] = "demo"
	_, err = t.API.UpdateTenant(ctx, &tenantv1.UpdateTenantRequest{
		Tenant: &tenantv1.Tenant{Name: name, Labels: labels,
			Settings: &tenantv1.TenantSettings{AllowedWebOrigins: origins, Theme: info.theme, DefaultLocale: "en-US"}},
		UpdateMask: &fieldmaskpb.FieldMask{Paths: []string{"labels", "settings.allowed_web_origins", "settings.theme", "settings.default_locale"}},
	})
	if err != nil {
		return fmt.Errorf("settings: %w", err)
	}
	d.logf("tenant %s allows %s, theme %s", tenant, strings.Join(origins, ", "), info.theme.GetPrimaryColor())
	return nil
}

// seedData writes the sample data and each tenant's connection, and returns the
// variables each tenant's app reads them with.
func (d *Demo) seedData(ctx context.Context, t Target) (map[string]map[string]string, error) {
	vars := map[string]map[string]string{}
	if t.DatabaseURL != "" {
		conn, err := connectPostgres(ctx, t.DatabaseURL)
		if err == nil {
			defer conn.Close(context.WithoutCancel(ctx))
			pg, err := parsePostgresURL(t.DatabaseURL)
			if err != nil {
				return nil, err
			}
			for _, tenant := range Tenants {
				if err := loadPostgres(ctx, conn, tenant); err != nil {
					return nil, fmt.Errorf("write %s.sales: %w", schemaOf(tenant), err)
				}
				ssl := datagatewayv1.PostgresParams_SSL_MODE_REQUIRE
				if pg.sslDisable {
					ssl = datagatewayv1.PostgresParams_SSL_MODE_DISABLE
				}
				c := &datagatewayv1.Connection{DisplayName: "Sales (PostgreSQL)",
					Postgres:    &datagatewayv1.PostgresParams{Host: pg.host, Port: pg.port, Database: pg.database, User: pg.user, SslMode: ssl},
					Credentials: &datagatewayv1.Credentials{Password: pg.password}}
				if err := putConnection(ctx, t.API, tenant, "sales-postgres", c, "postgres"); err != nil {
					return nil, err
				}
				vars[tenant] = map[string]string{"connection": "sales-postgres", "table": schemaOf(tenant) + ".sales"}
				d.logf("%d sales rows of %s in PostgreSQL, %s.sales (connection sales-postgres)", len(Sales(tenant)), tenant, schemaOf(tenant))
			}
			return vars, nil
		}
		d.logf("no PostgreSQL at the demo database URL (%v); the sample data comes from the embedded source", redact(err))
	}
	if t.DataURL == "" {
		return nil, errors.New("no PostgreSQL and no URL for the embedded source")
	}
	for _, tenant := range Tenants {
		c := &datagatewayv1.Connection{DisplayName: "Sales (embedded demo source)",
			Http:        &datagatewayv1.HttpParams{Url: strings.TrimSuffix(t.DataURL, "/") + "/" + tenant + "/", Format: datagatewayv1.HttpParams_FORMAT_JSON},
			Credentials: &datagatewayv1.Credentials{BearerToken: d.dataToken}}
		if err := putConnection(ctx, t.API, tenant, "sales-http", c, "http"); err != nil {
			return nil, err
		}
		vars[tenant] = map[string]string{"connection": "sales-http", "table": "sales"}
		d.logf("%d sales rows of %s from the embedded source %s (connection sales-http)", len(Sales(tenant)), tenant, c.GetHttp().GetUrl())
	}
	return vars, nil
}

// redact keeps a connection error's gist without a URL's password.
func redact(err error) string {
	s := err.Error()
	if i := strings.Index(s, "://"); i >= 0 {
		if j := strings.Index(s[i:], "@"); j >= 0 {
			s = s[:i+3] + "…" + s[i+j:]
		}
	}
	return s
}

// putConnection creates a connection, or brings an existing one up to date (its source
// and credentials: a new start may have a new data token or password).
func putConnection(ctx context.Context, api *client.Client, tenant, id string, c *datagatewayv1.Connection, kind string) error {
	_, err := api.CreateConnection(ctx, &datagatewayv1.CreateConnectionRequest{Parent: "tenants/" + tenant, ConnectionId: id, Connection: c})
	if status(err) == "ALREADY_EXISTS" {
		c.Name = "tenants/" + tenant + "/connections/" + id
		_, err = api.UpdateConnection(ctx, &datagatewayv1.UpdateConnectionRequest{Connection: c,
			UpdateMask: &fieldmaskpb.FieldMask{Paths: []string{kind, "credentials"}}})
	}
	if err != nil {
		return fmt.Errorf("connection %s: %w", id, err)
	}
	return nil
}

func (d *Demo) seedIdentity(ctx context.Context, api *client.Client, tenant string) error {
	parent := "tenants/" + tenant
	name := parent + "/identityProviders/" + ProviderID
	jwtp := &identityv1.JwtProvider{
		Issuer:            Issuer,
		Keys:              []*identityv1.SigningKey{{Kid: KeyID, Alg: identityv1.Algorithm_ALGORITHM_ES256, Pem: d.pubPEM}},
		AllowedAlgorithms: []identityv1.Algorithm{identityv1.Algorithm_ALGORITHM_ES256},
		Claims:            &identityv1.ClaimMapping{Groups: "groups", Attributes: map[string]string{"region": "region"}},
	}
	got, err := api.GetIdentityProvider(ctx, &identityv1.GetIdentityProviderRequest{Name: name})
	switch {
	case status(err) == "NOT_FOUND":
		if _, err := api.CreateIdentityProvider(ctx, &identityv1.CreateIdentityProviderRequest{Parent: parent, IdentityProviderId: ProviderID,
			IdentityProvider: &identityv1.IdentityProvider{DisplayName: "Demo ISV sign-in", Jwt: jwtp}}); err != nil {
			return fmt.Errorf("identity provider: %w", err)
		}
		d.logf("%s trusts the demo backend's JWTs (issuer %s, kid %s)", tenant, Issuer, KeyID)
	case err != nil:
		return fmt.Errorf("identity provider: %w", err)
	default:
		keys := got.GetIdentityProvider().GetJwt().GetKeys()
		if len(keys) != 1 || keys[0].GetPem() != d.pubPEM || got.GetIdentityProvider().GetDisabled() {
			if _, err := api.UpdateIdentityProvider(ctx, &identityv1.UpdateIdentityProviderRequest{
				IdentityProvider: &identityv1.IdentityProvider{Name: name, Jwt: jwtp},
				UpdateMask:       &fieldmaskpb.FieldMask{Paths: []string{"jwt", "disabled"}}}); err != nil {
				return fmt.Errorf("identity provider: %w", err)
			}
			d.logf("%s's identity provider now trusts this demo key", tenant)
		}
	}
	for _, g := range []struct {
		id   string
		role identityv1.Role
	}{{"viewers", identityv1.Role_ROLE_VIEWER}, {"admins", identityv1.Role_ROLE_ADMIN}} {
		if _, err := api.CreateGroup(ctx, &identityv1.CreateGroupRequest{Parent: parent, GroupId: g.id,
			Group: &identityv1.Group{ClaimValue: g.id}}); err != nil && status(err) != "ALREADY_EXISTS" {
			return fmt.Errorf("group %s: %w", g.id, err)
		}
		if _, err := api.CreateRoleBinding(ctx, &identityv1.CreateRoleBindingRequest{Parent: parent, RoleBindingId: g.id + "-role",
			RoleBinding: &identityv1.RoleBinding{Group: parent + "/groups/" + g.id, Role: g.role}}); err != nil && status(err) != "ALREADY_EXISTS" {
			return fmt.Errorf("role binding of %s: %w", g.id, err)
		}
	}
	d.logf("%s: group viewers → viewer, admins → admin", tenant)
	return nil
}

func (d *Demo) rollOut(ctx context.Context, api *client.Client, vars map[string]map[string]string) error {
	if _, err := api.CreateTemplate(ctx, &contentv1.CreateTemplateRequest{TemplateId: TemplateID,
		Template: &contentv1.Template{DisplayName: "Sales dashboard", Description: "The Oriel demo's sales dashboard."}}); err != nil && status(err) != "ALREADY_EXISTS" {
		return fmt.Errorf("template: %w", err)
	}
	version := VersionID()
	versionName := "templates/" + TemplateID + "/versions/" + version
	if _, err := api.CreateTemplateVersion(ctx, &contentv1.CreateTemplateVersionRequest{Parent: "templates/" + TemplateID, VersionId: version,
		TemplateVersion: &contentv1.TemplateVersion{Title: "Sales", Definition: Definition(), Variables: variables()}}); err != nil && status(err) != "ALREADY_EXISTS" {
		return fmt.Errorf("template version: %w", err)
	}
	rolloutID := "demo-sales-" + strings.TrimPrefix(version, "v1-")
	rolloutName := "rollouts/" + rolloutID
	r, err := api.GetRollout(ctx, &contentv1.GetRolloutRequest{Name: rolloutName})
	if status(err) == "NOT_FOUND" {
		tenantVars := map[string]*contentv1.VariableValues{}
		var tenants []string
		for _, tn := range Tenants {
			tenants = append(tenants, "tenants/"+tn)
			tenantVars["tenants/"+tn] = &contentv1.VariableValues{Values: vars[tn]}
		}
		var resp *contentv1.CreateRolloutResponse
		resp, err = api.CreateRollout(ctx, &contentv1.CreateRolloutRequest{RolloutId: rolloutID, Rollout: &contentv1.Rollout{
			TemplateVersion: versionName,
			Selector:        &contentv1.TenantSelector{Tenants: tenants},
			TenantVariables: tenantVars,
			SpaceId:         spaceID,
			AppId:           TemplateID,
			OverwriteDrift:  true,
		}})
		if err == nil {
			d.logf("rolling %s out to %s (%s)", versionName, strings.Join(Tenants, " and "), rolloutName)
			return d.waitRollout(ctx, api, resp.GetRollout())
		}
	}
	if err != nil {
		return err
	}
	d.logf("%s was created before", rolloutName)
	return d.waitRollout(ctx, api, r.GetRollout())
}

func (d *Demo) waitRollout(ctx context.Context, api *client.Client, r *contentv1.Rollout) error {
	if !client.RolloutEnded(r.GetState()) {
		for got, err := range api.FollowRollout(ctx, r.GetName()) {
			if err != nil {
				return err
			}
			r = got
		}
	}
	p := r.GetProgress()
	if r.GetState() != contentv1.Rollout_STATE_COMPLETED || p.GetFailed() > 0 {
		var why []string
		for tg, err := range api.AllRolloutTargets(ctx, &contentv1.ListRolloutTargetsRequest{Parent: r.GetName()}) {
			if err != nil {
				break
			}
			if tg.GetStatus() == contentv1.RolloutTarget_STATUS_FAILED {
				why = append(why, tg.GetTenant()+": "+tg.GetReason())
			}
		}
		return fmt.Errorf("%s ended %s with %d of %d tenants failed: %s", r.GetName(),
			strings.TrimPrefix(r.GetState().String(), "STATE_"), p.GetFailed(), p.GetTotal(), strings.Join(why, "; "))
	}
	d.logf("%s completed: %d deployed, %d already there", r.GetName(), p.GetSucceeded(), p.GetSkipped())
	return nil
}

// grantSpace lets both groups open the apps of the managed space.
func (d *Demo) grantSpace(ctx context.Context, api *client.Client, tenant string) error {
	space := "tenants/" + tenant + "/spaces/" + spaceID
	for _, g := range []string{"viewers", "admins"} {
		if _, err := api.CreateSpaceMember(ctx, &contentv1.CreateSpaceMemberRequest{Parent: space, SpaceMember: &contentv1.SpaceMember{
			Group: "tenants/" + tenant + "/groups/" + g, Role: contentv1.SpaceRole_SPACE_ROLE_CONSUMER}}); err != nil {
			return fmt.Errorf("member %s: %w", g, err)
		}
	}
	return nil
}

func (d *Demo) reload(ctx context.Context, api *client.Client, tenant string, vars map[string]string) error {
	resp, err := api.CreateReload(ctx, &contentv1.CreateReloadRequest{Parent: AppName(tenant),
		Reload: &contentv1.Reload{Variables: vars}, RequestId: uuid.NewString()})
	if err != nil {
		return err
	}
	r := resp.GetReload()
	d.logf("reloading %s (%s)", AppName(tenant), r.GetName())
	if !client.ReloadEnded(r.GetState()) {
		for got, err := range api.FollowReload(ctx, r.GetName()) {
			if err != nil {
				return err
			}
			r = got
		}
	}
	if r.GetState() != contentv1.Reload_STATE_SUCCEEDED {
		return fmt.Errorf("%s ended %s: %s", r.GetName(), strings.TrimPrefix(r.GetState().String(), "STATE_"), r.GetError())
	}
	var rows int64
	for _, tb := range r.GetTables() {
		rows += tb.GetRows()
	}
	d.logf("%s loaded %d rows", AppName(tenant), rows)
	return nil
}
