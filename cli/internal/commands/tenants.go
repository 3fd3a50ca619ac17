package commands

import (
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/alecthomas/kong"
	"github.com/google/uuid"
	"google.golang.org/protobuf/types/known/fieldmaskpb"

	"github.com/oriel-dev/oriel/cli/internal/client"
	tenantv1 "github.com/oriel-dev/oriel/gen/pb/oriel/tenant/v1"
)

// Flags that carry a resource's data or a single request's identity (ids, etags, filters)
// are tagged env:"-": an ORIEL_ETAG or ORIEL_REQUEST_ID left in a shell would silently
// change every later call. Only the connection flags read the environment.

// TenantsCmd is `oriel tenants`.
type TenantsCmd struct {
	ClientFlags `embed:""`

	Create     TenantsCreateCmd     `cmd:"" help:"Create a tenant."`
	Get        TenantsGetCmd        `cmd:"" help:"Show a tenant."`
	List       TenantsListCmd       `cmd:"" help:"List tenants (every page unless --page-size or --page-token is given)."`
	Update     TenantsUpdateCmd     `cmd:"" help:"Change the fields named by the flags given, and only those."`
	Deactivate TenantsDeactivateCmd `cmd:"" help:"Deactivate a tenant: it stops serving and is purged after --purge-after-days."`
	Reactivate TenantsReactivateCmd `cmd:"" help:"Reactivate a deactivated tenant before its purge time."`
	Events     TenantsEventsCmd     `cmd:"" help:"List a tenant's events, oldest first (name - for every tenant's)."`
}

// settingsFlags are the optional tenant fields that create and update share.
type settingsFlags struct {
	Label           []string `name:"label" sep:"none" placeholder:"KEY=VALUE" env:"-" help:"A label (repeatable). An update replaces all labels with the ones given."`
	DefaultLocale   string   `name:"default-locale" placeholder:"TAG" env:"-" help:"BCP 47 locale used when the viewer's is unknown, e.g. en-US."`
	AllowedOrigin   []string `name:"allowed-origin" placeholder:"ORIGIN" env:"-" help:"A web origin allowed to embed the tenant's content, e.g. https://app.example.com (repeatable; on update, replaces the list)."`
	PrimaryColor    string   `name:"primary-color" placeholder:"#RRGGBB" env:"-" help:"Accent colour of embedded content."`
	BackgroundColor string   `name:"background-color" placeholder:"#RRGGBB" env:"-" help:"Background colour of embedded content."`
	TextColor       string   `name:"text-color" placeholder:"#RRGGBB" env:"-" help:"Text colour of embedded content."`
	FontFamily      string   `name:"font-family" placeholder:"FAMILY" env:"-" help:"CSS font family of embedded content, e.g. 'Inter, sans-serif'."`
	Plan            string   `name:"plan" placeholder:"PLAN" env:"-" help:"The rate-limit plan the REST edge applies to the tenant's calls (one of the edge's --rate-plans); empty means the edge's default."`
}

// settings builds TenantSettings from the flags, nil when none is set so that the request
// carries no empty message.
func (f *settingsFlags) settings() *tenantv1.TenantSettings {
	s := &tenantv1.TenantSettings{
		DefaultLocale:     f.DefaultLocale,
		AllowedWebOrigins: nonEmpty(f.AllowedOrigin),
		Plan:              f.Plan,
	}
	if f.PrimaryColor != "" || f.BackgroundColor != "" || f.TextColor != "" || f.FontFamily != "" {
		s.Theme = f.theme()
	}
	if s.DefaultLocale == "" && len(s.AllowedWebOrigins) == 0 && s.Theme == nil && s.Plan == "" {
		return nil
	}
	return s
}

// theme is the theme the flags describe.
func (f *settingsFlags) theme() *tenantv1.Theme {
	return &tenantv1.Theme{PrimaryColor: f.PrimaryColor, BackgroundColor: f.BackgroundColor, TextColor: f.TextColor, FontFamily: f.FontFamily}
}

// parseLabels reads KEY=VALUE pairs. Checking the syntax here makes a typo a usage error;
// the key and value rules are the server's.
func parseLabels(pairs []string) (map[string]string, error) {
	return parsePairs("--label", pairs, "plan=gold")
}

// nonEmpty drops empty values, so that `--allowed-origin ""` means "none".
func nonEmpty(values []string) []string {
	var out []string
	for _, v := range values {
		if v != "" {
			out = append(out, v)
		}
	}
	return out
}

// tenantName accepts `acme` or `tenants/acme`; anything else is left for the client to
// refuse with its own message.
func tenantName(arg string) string { return topName("tenants", arg) }

// topName accepts a top-level resource's id or its name: `acme` becomes `tenants/acme`
// for collection tenants, `tenants/acme` stays.
func topName(collection, arg string) string {
	if strings.HasPrefix(arg, collection+"/") {
		return arg
	}
	return collection + "/" + arg
}

// TenantsCreateCmd is `oriel tenants create`.
type TenantsCreateCmd struct {
	DisplayName string        `name:"display-name" required:"" placeholder:"NAME" env:"-" help:"Human-readable name, 1 to 200 characters."`
	Hostname    []string      `name:"hostname" required:"" placeholder:"HOST" env:"-" help:"A hostname (repeatable); the first is the primary one, e.g. acme.analytics.example.com."`
	Region      string        `name:"region" required:"" placeholder:"CODE" env:"-" help:"Region code (see oriel regions list); cannot change later."`
	ID          string        `name:"id" placeholder:"ID" env:"-" help:"The tenant id (last segment of its name); generated when empty."`
	RequestID   string        `name:"request-id" placeholder:"UUID" env:"-" help:"Makes the call idempotent: a retry with the same id and flags returns the same tenant. Random when empty."`
	Settings    settingsFlags `embed:""`
}

// Validate checks the labels before anything is sent.
func (c *TenantsCreateCmd) Validate() error {
	_, err := parseLabels(c.Settings.Label)
	return err
}

// Run creates the tenant.
func (c *TenantsCreateCmd) Run(s *Session) error {
	labels, err := parseLabels(c.Settings.Label)
	if err != nil {
		return err
	}
	requestID := c.RequestID
	if requestID == "" {
		// Generated even for a single attempt: if the answer is lost, the caller can
		// repeat the call with this id and cannot create a second tenant.
		requestID = uuid.NewString()
	}
	ctx, cancel := s.context()
	defer cancel()
	t, err := s.Client.CreateTenant(ctx, &tenantv1.CreateTenantRequest{
		TenantId:  c.ID,
		RequestId: requestID,
		Tenant: &tenantv1.Tenant{
			DisplayName: c.DisplayName,
			Hostnames:   nonEmpty(c.Hostname),
			Region:      c.Region,
			Labels:      labels,
			Settings:    c.Settings.settings(),
		},
	})
	if err != nil {
		var apiErr *client.APIError
		if !errors.As(err, &apiErr) {
			// No answer: the tenant may or may not exist; repeating with this id is safe.
			return fmt.Errorf("%w\nthe tenant may have been created; repeat the command with --request-id %s to find out safely", err, requestID)
		}
		return err
	}
	return s.printTenant(t)
}

// TenantsGetCmd is `oriel tenants get`.
type TenantsGetCmd struct {
	Name string `arg:"" help:"The tenant: acme or tenants/acme."`
}

// Run shows the tenant.
func (c *TenantsGetCmd) Run(s *Session) error {
	ctx, cancel := s.context()
	defer cancel()
	t, err := s.Client.GetTenant(ctx, &tenantv1.GetTenantRequest{Name: tenantName(c.Name)})
	if err != nil {
		return err
	}
	return s.printTenant(t)
}

// listAllPageSize is the page size when following every page: the edge's cap, so that
// a listing takes as few round trips as the edge allows.
const listAllPageSize = 1000

// TenantsListCmd is `oriel tenants list`.
type TenantsListCmd struct {
	Filter    string `name:"filter" placeholder:"FILTER" env:"-" help:"Only the tenants that match, e.g. 'state = ACTIVE AND region = \"eu-west\" AND labels.plan = \"gold\"'."`
	PageSize  int32  `name:"page-size" placeholder:"N" env:"-" help:"Return one page of at most this many tenants."`
	PageToken string `name:"page-token" placeholder:"TOKEN" env:"-" help:"Return the page after the one that gave this token (same --filter)."`
}

// Run lists the tenants: every one, or one page when paging flags are given.
func (c *TenantsListCmd) Run(kctx *kong.Context, s *Session) error {
	ctx, cancel := s.context()
	defer cancel()
	given := flagsGiven(kctx)
	if given["page-size"] || given["page-token"] {
		resp, err := s.Client.ListTenants(ctx, &tenantv1.ListTenantsRequest{Filter: c.Filter, PageSize: c.PageSize, PageToken: c.PageToken})
		if err != nil {
			return err
		}
		if s.structured() {
			return s.printList(resp, "tenants", len(resp.GetTenants()), resp.GetNextPageToken())
		}
		if err := printTenantTable(s.Stdout, resp.GetTenants()); err != nil {
			return err
		}
		s.noteNextPage(resp.GetNextPageToken())
		return nil
	}
	all := &tenantv1.ListTenantsResponse{}
	for t, err := range s.Client.AllTenants(ctx, &tenantv1.ListTenantsRequest{Filter: c.Filter, PageSize: listAllPageSize}) {
		if err != nil {
			return err
		}
		all.Tenants = append(all.Tenants, t)
	}
	if s.structured() {
		return s.printList(all, "tenants", len(all.Tenants), "")
	}
	return printTenantTable(s.Stdout, all.Tenants)
}

// TenantsUpdateCmd is `oriel tenants update`.
type TenantsUpdateCmd struct {
	Name        string        `arg:"" help:"The tenant: acme or tenants/acme."`
	DisplayName string        `name:"display-name" placeholder:"NAME" env:"-" help:"New human-readable name."`
	Hostname    []string      `name:"hostname" placeholder:"HOST" env:"-" help:"The new hostnames (repeatable; replaces the list, the first is the primary one)."`
	Settings    settingsFlags `embed:""`
	ClearLabels bool          `name:"clear-labels" env:"-" help:"Remove every label."`
	Etag        string        `name:"etag" placeholder:"ETAG" env:"-" help:"Update only if the tenant still has this etag (from get)."`
}

// updatePaths maps each field flag to the update_mask path it changes. Settings are
// named down to the leaf so that setting one colour leaves the others alone.
var updatePaths = []struct{ flag, path string }{
	{"display-name", "display_name"},
	{"hostname", "hostnames"},
	{"label", "labels"},
	{"clear-labels", "labels"},
	{"default-locale", "settings.default_locale"},
	{"allowed-origin", "settings.allowed_web_origins"},
	{"primary-color", "settings.theme.primary_color"},
	{"background-color", "settings.theme.background_color"},
	{"text-color", "settings.theme.text_color"},
	{"font-family", "settings.theme.font_family"},
	{"plan", "settings.plan"},
}

// mask is the update_mask of exactly the field flags given.
func (c *TenantsUpdateCmd) mask(given map[string]bool) []string {
	var paths []string
	for _, u := range updatePaths {
		if given[u.flag] && !slices.Contains(paths, u.path) {
			paths = append(paths, u.path)
		}
	}
	return paths
}

// Validate refuses an update that would change nothing, or would both set and clear the
// labels, before anything is sent.
func (c *TenantsUpdateCmd) Validate(kctx *kong.Context) error {
	given := flagsGiven(kctx)
	if given["label"] && given["clear-labels"] {
		return errors.New("--label and --clear-labels cannot be combined: the labels given replace all labels already")
	}
	if len(c.mask(given)) == 0 {
		return errors.New("nothing to update: give at least one of --display-name, --hostname, --label, --clear-labels, " +
			"--default-locale, --allowed-origin, --primary-color, --background-color, --text-color, --font-family, --plan")
	}
	_, err := parseLabels(c.Settings.Label)
	return err
}

// Run sends the fields of the flags given, with an update_mask naming exactly those.
func (c *TenantsUpdateCmd) Run(kctx *kong.Context, s *Session) error {
	labels, err := parseLabels(c.Settings.Label)
	if err != nil {
		return err
	}
	// Complete down to the theme: the mask alone says what changes, and a path into a
	// missing message must still find the (empty) value it names.
	f := c.Settings
	settings := &tenantv1.TenantSettings{
		DefaultLocale:     f.DefaultLocale,
		AllowedWebOrigins: nonEmpty(f.AllowedOrigin),
		Plan:              f.Plan,
		Theme:             f.theme(),
	}
	ctx, cancel := s.context()
	defer cancel()
	t, err := s.Client.UpdateTenant(ctx, &tenantv1.UpdateTenantRequest{
		Tenant: &tenantv1.Tenant{
			Name:        tenantName(c.Name),
			DisplayName: c.DisplayName,
			Hostnames:   nonEmpty(c.Hostname),
			Labels:      labels, // nil with --clear-labels: the masked field becomes empty
			Settings:    settings,
			Etag:        c.Etag,
		},
		UpdateMask: &fieldmaskpb.FieldMask{Paths: c.mask(flagsGiven(kctx))},
	})
	if err != nil {
		return err
	}
	return s.printTenant(t)
}

// TenantsDeactivateCmd is `oriel tenants deactivate`.
type TenantsDeactivateCmd struct {
	Name            string `arg:"" help:"The tenant: acme or tenants/acme."`
	ConfirmHostname string `name:"confirm-hostname" required:"" placeholder:"HOST" env:"-" help:"The tenant's primary hostname, repeated to confirm which tenant is meant."`
	PurgeAfterDays  *int32 `name:"purge-after-days" placeholder:"DAYS" env:"-" help:"Days until the tenant is purged, 10 to 90 (30 when not given)."`
	Etag            string `name:"etag" placeholder:"ETAG" env:"-" help:"Deactivate only if the tenant still has this etag."`
}

// Run deactivates the tenant.
func (c *TenantsDeactivateCmd) Run(s *Session) error {
	ctx, cancel := s.context()
	defer cancel()
	t, err := s.Client.DeactivateTenant(ctx, &tenantv1.DeactivateTenantRequest{
		Name:            tenantName(c.Name),
		ConfirmHostname: c.ConfirmHostname,
		PurgeAfterDays:  c.PurgeAfterDays,
		Etag:            c.Etag,
	})
	if err != nil {
		return err
	}
	return s.printTenant(t)
}

// TenantsReactivateCmd is `oriel tenants reactivate`.
type TenantsReactivateCmd struct {
	Name string `arg:"" help:"The tenant: acme or tenants/acme."`
	Etag string `name:"etag" placeholder:"ETAG" env:"-" help:"Reactivate only if the tenant still has this etag."`
}

// Run reactivates the tenant.
func (c *TenantsReactivateCmd) Run(s *Session) error {
	ctx, cancel := s.context()
	defer cancel()
	t, err := s.Client.ReactivateTenant(ctx, &tenantv1.ReactivateTenantRequest{Name: tenantName(c.Name), Etag: c.Etag})
	if err != nil {
		return err
	}
	return s.printTenant(t)
}

// TenantsEventsCmd is `oriel tenants events`.
type TenantsEventsCmd struct {
	Name      string `arg:"" help:"The tenant (acme or tenants/acme), or - for every tenant."`
	PageSize  int32  `name:"page-size" placeholder:"N" env:"-" help:"Return one page of at most this many events."`
	PageToken string `name:"page-token" placeholder:"TOKEN" env:"-" help:"Return the page after the one that gave this token."`
}

// Run lists the events: every one, or one page when paging flags are given.
func (c *TenantsEventsCmd) Run(kctx *kong.Context, s *Session) error {
	ctx, cancel := s.context()
	defer cancel()
	parent := tenantName(c.Name)
	given := flagsGiven(kctx)
	if given["page-size"] || given["page-token"] {
		resp, err := s.Client.ListTenantEvents(ctx, &tenantv1.ListTenantEventsRequest{Parent: parent, PageSize: c.PageSize, PageToken: c.PageToken})
		if err != nil {
			return err
		}
		if s.structured() {
			return s.printList(resp, "events", len(resp.GetEvents()), resp.GetNextPageToken())
		}
		if err := printEventTable(s.Stdout, resp.GetEvents()); err != nil {
			return err
		}
		s.noteNextPage(resp.GetNextPageToken())
		return nil
	}
	all := &tenantv1.ListTenantEventsResponse{}
	for e, err := range s.Client.AllTenantEvents(ctx, &tenantv1.ListTenantEventsRequest{Parent: parent, PageSize: listAllPageSize}) {
		if err != nil {
			return err
		}
		all.Events = append(all.Events, e)
	}
	if s.structured() {
		return s.printList(all, "events", len(all.Events), "")
	}
	return printEventTable(s.Stdout, all.Events)
}
