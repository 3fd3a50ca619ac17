package client_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/testing/protocmp"
	"google.golang.org/protobuf/types/known/fieldmaskpb"

	"github.com/google/go-cmp/cmp"

	"github.com/oriel-dev/oriel/cli/internal/client"
	"github.com/oriel-dev/oriel/cli/internal/devstack"
	tenantv1 "github.com/oriel-dev/oriel/gen/pb/oriel/tenant/v1"
)

// startStack runs a whole Oriel stack on SQLite in a fresh folder, so that every test has
// its own tenants and can run in parallel with the others.
func startStack(t *testing.T) *devstack.Stack {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	st, err := devstack.Start(ctx, devstack.Config{DataDir: t.TempDir()}, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatalf("start stack: %v", err)
	}
	t.Cleanup(func() {
		if err := st.Stop(); err != nil {
			t.Errorf("stop stack: %v", err)
		}
	})
	return st
}

// adminClient is a client with the stack's platform admin key.
func adminClient(t *testing.T) (*client.Client, *devstack.Stack) {
	t.Helper()
	st := startStack(t)
	return client.New(st.GatewayURL, st.AdminKey, nil), st
}

func testContext(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// newTenantRequest is a valid CreateTenantRequest for id, with a hostname derived from it.
func newTenantRequest(id string) *tenantv1.CreateTenantRequest {
	return &tenantv1.CreateTenantRequest{
		TenantId: id,
		Tenant: &tenantv1.Tenant{
			DisplayName: "Tenant " + id,
			Hostnames:   []string{id + ".analytics.example.com"},
			Region:      "eu-west",
		},
	}
}

func mustCreate(t *testing.T, c *client.Client, req *tenantv1.CreateTenantRequest) *tenantv1.Tenant {
	t.Helper()
	tn, err := c.CreateTenant(testContext(t), req)
	if err != nil {
		t.Fatalf("CreateTenant(%s): %v", req.GetTenantId(), err)
	}
	return tn
}

// apiError asserts that err is an *APIError with the given HTTP status and reason.
func apiError(t *testing.T, err error, httpStatus int, reason string) *client.APIError {
	t.Helper()
	var apiErr *client.APIError
	if !errors.As(err, &apiErr) {
		t.Fatalf("error = %v (%T), want *client.APIError", err, err)
	}
	if apiErr.HTTPStatus != httpStatus || apiErr.Reason != reason {
		t.Fatalf("error = HTTP %d %s, want HTTP %d %s (%v)", apiErr.HTTPStatus, apiErr.Reason, httpStatus, reason, apiErr)
	}
	return apiErr
}

func TestCreateTenantStoresLabelsAndSettingsThatGetReturns(t *testing.T) {
	t.Parallel()
	c, _ := adminClient(t)
	ctx := testContext(t)
	req := newTenantRequest("acme")
	req.RequestId = uuid.NewString()
	req.Tenant.Hostnames = append(req.Tenant.Hostnames, "acme-alias.example.com")
	req.Tenant.Labels = map[string]string{"plan": "gold", "segment": "smb"}
	req.Tenant.Settings = &tenantv1.TenantSettings{
		DefaultLocale:     "de-CH",
		AllowedWebOrigins: []string{"https://app.acme.example.com", "http://localhost:3000"},
		Theme:             &tenantv1.Theme{PrimaryColor: "#1a73e8", BackgroundColor: "#ffffff", TextColor: "#202124"},
	}

	created, err := c.CreateTenant(ctx, req)
	if err != nil {
		t.Fatalf("CreateTenant: %v", err)
	}
	want := proto.Clone(req.GetTenant()).(*tenantv1.Tenant)
	want.Name = "tenants/acme"
	want.State = tenantv1.Tenant_STATE_ACTIVE
	ignoreServerSet := protocmp.IgnoreFields(&tenantv1.Tenant{}, "create_time", "update_time", "etag")
	if diff := cmp.Diff(want, created, protocmp.Transform(), ignoreServerSet); diff != "" {
		t.Errorf("created tenant (-want +got):\n%s", diff)
	}
	if created.GetEtag() == "" || created.GetCreateTime() == nil {
		t.Errorf("created tenant lacks etag or create_time: %v", created)
	}

	got, err := c.GetTenant(ctx, &tenantv1.GetTenantRequest{Name: "tenants/acme"})
	if err != nil {
		t.Fatalf("GetTenant: %v", err)
	}
	if diff := cmp.Diff(created, got, protocmp.Transform()); diff != "" {
		t.Errorf("GetTenant differs from what CreateTenant returned (-create +get):\n%s", diff)
	}
}

func TestCreateTenantRetriedWithSameRequestIDReturnsTheFirstTenant(t *testing.T) {
	t.Parallel()
	c, _ := adminClient(t)
	ctx := testContext(t)
	req := newTenantRequest("")
	req.Tenant.Hostnames = []string{"retry.analytics.example.com"}
	req.RequestId = uuid.NewString()

	first := mustCreate(t, c, req)
	again, err := c.CreateTenant(ctx, req)
	if err != nil {
		t.Fatalf("retry: %v", err)
	}
	if again.GetName() != first.GetName() || again.GetEtag() != first.GetEtag() {
		t.Errorf("retry returned %s (etag %s), want %s (etag %s)", again.GetName(), again.GetEtag(), first.GetName(), first.GetEtag())
	}

	other := proto.Clone(req).(*tenantv1.CreateTenantRequest)
	other.Tenant.DisplayName = "Something else"
	_, err = c.CreateTenant(ctx, other)
	apiError(t, err, http.StatusBadRequest, "REQUEST_ID_CONFLICT")
}

func TestGetTenantOfUnknownNameIsNotFound(t *testing.T) {
	t.Parallel()
	c, _ := adminClient(t)
	_, err := c.GetTenant(testContext(t), &tenantv1.GetTenantRequest{Name: "tenants/nobody"})
	e := apiError(t, err, http.StatusNotFound, "RESOURCE_NOT_FOUND")
	if e.Status != "NOT_FOUND" || e.Domain != "oriel.dev" || e.Metadata["resource"] != "tenants/nobody" {
		t.Errorf("error = %+v, want NOT_FOUND in domain oriel.dev naming tenants/nobody", e)
	}
	if e.RequestID == "" {
		t.Errorf("error has no request id to quote")
	}
}

func TestListTenantsFiltersAndPagesThroughEveryMatch(t *testing.T) {
	t.Parallel()
	c, _ := adminClient(t)
	ctx := testContext(t)
	var gold []string
	for i := range 8 {
		req := newTenantRequest(fmt.Sprintf("paged-%d", i))
		req.Tenant.Labels = map[string]string{"plan": "silver"}
		if i%3 != 0 {
			req.Tenant.Labels["plan"] = "gold"
			gold = append(gold, "tenants/"+req.GetTenantId())
		}
		mustCreate(t, c, req)
	}
	filter := `labels.plan = "gold"`

	t.Run("page by page", func(t *testing.T) {
		var got []string
		var pages int
		req := &tenantv1.ListTenantsRequest{Filter: filter, PageSize: 2}
		for {
			resp, err := c.ListTenants(ctx, req)
			if err != nil {
				t.Fatalf("ListTenants page %d: %v", pages+1, err)
			}
			pages++
			if len(resp.GetTenants()) > 2 {
				t.Fatalf("page %d has %d tenants, want at most 2", pages, len(resp.GetTenants()))
			}
			for _, tn := range resp.GetTenants() {
				got = append(got, tn.GetName())
			}
			if resp.GetNextPageToken() == "" {
				break
			}
			req.PageToken = resp.GetNextPageToken()
		}
		if want := (len(gold) + 1) / 2; pages != want {
			t.Errorf("pages = %d, want %d for %d tenants 2 at a time", pages, want, len(gold))
		}
		if !slices.Equal(got, gold) {
			t.Errorf("tenants = %v, want %v in name order", got, gold)
		}
	})

	t.Run("AllTenants follows the tokens", func(t *testing.T) {
		var got []string
		for tn, err := range c.AllTenants(ctx, &tenantv1.ListTenantsRequest{Filter: filter, PageSize: 2}) {
			if err != nil {
				t.Fatalf("AllTenants: %v", err)
			}
			got = append(got, tn.GetName())
		}
		if !slices.Equal(got, gold) {
			t.Errorf("tenants = %v, want %v", got, gold)
		}
	})

	t.Run("a token replayed with another filter is refused", func(t *testing.T) {
		resp, err := c.ListTenants(ctx, &tenantv1.ListTenantsRequest{Filter: filter, PageSize: 2})
		if err != nil {
			t.Fatal(err)
		}
		_, err = c.ListTenants(ctx, &tenantv1.ListTenantsRequest{Filter: `labels.plan = "silver"`, PageSize: 2, PageToken: resp.GetNextPageToken()})
		apiError(t, err, http.StatusBadRequest, "INVALID_PAGE_TOKEN")
	})

	t.Run("a filter the server cannot parse", func(t *testing.T) {
		_, err := c.ListTenants(ctx, &tenantv1.ListTenantsRequest{Filter: `colour = "red"`})
		apiError(t, err, http.StatusBadRequest, "INVALID_FILTER")
	})
}

func TestUpdateTenantChangesOnlyTheMaskedFields(t *testing.T) {
	t.Parallel()
	c, _ := adminClient(t)
	ctx := testContext(t)
	req := newTenantRequest("masked")
	req.Tenant.Labels = map[string]string{"plan": "gold"}
	req.Tenant.Settings = &tenantv1.TenantSettings{
		DefaultLocale: "en-US",
		Theme:         &tenantv1.Theme{PrimaryColor: "#111111", BackgroundColor: "#222222", TextColor: "#333333"},
	}
	before := mustCreate(t, c, req)

	after, err := c.UpdateTenant(ctx, &tenantv1.UpdateTenantRequest{
		Tenant: &tenantv1.Tenant{
			Name:        before.GetName(),
			DisplayName: "Renamed",
			Labels:      map[string]string{"ignored": "not in the mask"},
			Settings:    &tenantv1.TenantSettings{Theme: &tenantv1.Theme{PrimaryColor: "#abcdef"}},
			Etag:        before.GetEtag(),
		},
		UpdateMask: &fieldmaskpb.FieldMask{Paths: []string{"display_name", "settings.theme.primary_color"}},
	})
	if err != nil {
		t.Fatalf("UpdateTenant: %v", err)
	}
	want := proto.Clone(before).(*tenantv1.Tenant)
	want.DisplayName = "Renamed"
	want.Settings.Theme.PrimaryColor = "#abcdef"
	if diff := cmp.Diff(want, after, protocmp.Transform(), protocmp.IgnoreFields(&tenantv1.Tenant{}, "update_time", "etag")); diff != "" {
		t.Errorf("updated tenant (-want +got):\n%s", diff)
	}
	if after.GetEtag() == before.GetEtag() {
		t.Errorf("etag did not change with the update")
	}
}

func TestUpdateTenantWithStaleEtagFailsWithEtagMismatch(t *testing.T) {
	t.Parallel()
	c, _ := adminClient(t)
	ctx := testContext(t)
	before := mustCreate(t, c, newTenantRequest("stale"))
	update := func(etag, name string) error {
		_, err := c.UpdateTenant(ctx, &tenantv1.UpdateTenantRequest{
			Tenant:     &tenantv1.Tenant{Name: before.GetName(), DisplayName: name, Etag: etag},
			UpdateMask: &fieldmaskpb.FieldMask{Paths: []string{"display_name"}},
		})
		return err
	}
	if err := update(before.GetEtag(), "First writer"); err != nil {
		t.Fatalf("update with current etag: %v", err)
	}
	e := apiError(t, update(before.GetEtag(), "Second writer"), http.StatusConflict, "ETAG_MISMATCH")
	if e.Status != "ABORTED" || e.Metadata["resource"] != before.GetName() {
		t.Errorf("error = %+v, want ABORTED naming %s", e, before.GetName())
	}
	got, err := c.GetTenant(ctx, &tenantv1.GetTenantRequest{Name: before.GetName()})
	if err != nil {
		t.Fatal(err)
	}
	if got.GetDisplayName() != "First writer" {
		t.Errorf("display name = %q, want the first writer's", got.GetDisplayName())
	}
}

func TestDeactivateTenantWithWrongConfirmHostnameFailsWithConfirmationMismatch(t *testing.T) {
	t.Parallel()
	c, _ := adminClient(t)
	ctx := testContext(t)
	req := newTenantRequest("confirm")
	req.Tenant.Hostnames = []string{"primary.example.com", "alias.example.com"}
	tn := mustCreate(t, c, req)

	for _, wrong := range []string{"alias.example.com", "other.example.com"} {
		_, err := c.DeactivateTenant(ctx, &tenantv1.DeactivateTenantRequest{Name: tn.GetName(), ConfirmHostname: wrong})
		e := apiError(t, err, http.StatusBadRequest, "CONFIRMATION_MISMATCH")
		if e.Status != "FAILED_PRECONDITION" {
			t.Errorf("status = %s, want FAILED_PRECONDITION", e.Status)
		}
	}
	got, err := c.GetTenant(ctx, &tenantv1.GetTenantRequest{Name: tn.GetName()})
	if err != nil {
		t.Fatal(err)
	}
	if got.GetState() != tenantv1.Tenant_STATE_ACTIVE {
		t.Errorf("state = %s after refused deactivations, want ACTIVE", got.GetState())
	}
}

func TestDeactivateThenReactivateTenant(t *testing.T) {
	t.Parallel()
	c, _ := adminClient(t)
	ctx := testContext(t)
	tn := mustCreate(t, c, newTenantRequest("cycle"))

	days := int32(12)
	start := time.Now()
	off, err := c.DeactivateTenant(ctx, &tenantv1.DeactivateTenantRequest{
		Name: tn.GetName(), ConfirmHostname: tn.GetHostnames()[0], PurgeAfterDays: &days, Etag: tn.GetEtag(),
	})
	if err != nil {
		t.Fatalf("DeactivateTenant: %v", err)
	}
	if off.GetState() != tenantv1.Tenant_STATE_DEACTIVATED || off.GetDeactivateTime() == nil {
		t.Fatalf("after deactivate: state %s, deactivate_time %v", off.GetState(), off.GetDeactivateTime())
	}
	if purge := off.GetPurgeTime().AsTime(); purge.Sub(start) < 11*24*time.Hour || purge.Sub(start) > 13*24*time.Hour {
		t.Errorf("purge_time = %s, want about 12 days after %s", purge, start)
	}

	t.Run("a deactivated tenant cannot be updated", func(t *testing.T) {
		_, err := c.UpdateTenant(ctx, &tenantv1.UpdateTenantRequest{
			Tenant:     &tenantv1.Tenant{Name: tn.GetName(), DisplayName: "x"},
			UpdateMask: &fieldmaskpb.FieldMask{Paths: []string{"display_name"}},
		})
		apiError(t, err, http.StatusBadRequest, "TENANT_NOT_ACTIVE")
	})
	t.Run("reactivate with a stale etag is refused", func(t *testing.T) {
		_, err := c.ReactivateTenant(ctx, &tenantv1.ReactivateTenantRequest{Name: tn.GetName(), Etag: tn.GetEtag()})
		apiError(t, err, http.StatusConflict, "ETAG_MISMATCH")
	})

	on, err := c.ReactivateTenant(ctx, &tenantv1.ReactivateTenantRequest{Name: tn.GetName(), Etag: off.GetEtag()})
	if err != nil {
		t.Fatalf("ReactivateTenant: %v", err)
	}
	if on.GetState() != tenantv1.Tenant_STATE_ACTIVE || on.GetPurgeTime() != nil || on.GetDeactivateTime() != nil {
		t.Errorf("after reactivate: state %s, purge_time %v, deactivate_time %v; want ACTIVE without times",
			on.GetState(), on.GetPurgeTime(), on.GetDeactivateTime())
	}
	_, err = c.ReactivateTenant(ctx, &tenantv1.ReactivateTenantRequest{Name: tn.GetName()})
	apiError(t, err, http.StatusBadRequest, "TENANT_NOT_DEACTIVATED")
}

func TestListTenantEventsRecordsEveryChangeOldestFirst(t *testing.T) {
	t.Parallel()
	c, _ := adminClient(t)
	ctx := testContext(t)
	a := mustCreate(t, c, newTenantRequest("events-a"))
	mustCreate(t, c, newTenantRequest("events-b"))
	if _, err := c.UpdateTenant(ctx, &tenantv1.UpdateTenantRequest{
		Tenant:     &tenantv1.Tenant{Name: a.GetName(), DisplayName: "A renamed"},
		UpdateMask: &fieldmaskpb.FieldMask{Paths: []string{"display_name"}},
	}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.DeactivateTenant(ctx, &tenantv1.DeactivateTenantRequest{Name: a.GetName(), ConfirmHostname: a.GetHostnames()[0]}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.ReactivateTenant(ctx, &tenantv1.ReactivateTenantRequest{Name: a.GetName()}); err != nil {
		t.Fatal(err)
	}

	types := func(events []*tenantv1.TenantEvent) []string {
		var out []string
		for _, e := range events {
			out = append(out, strings.TrimPrefix(e.GetType(), "dev.oriel.tenant.")+" "+e.GetSubject())
		}
		return out
	}
	resp, err := c.ListTenantEvents(ctx, &tenantv1.ListTenantEventsRequest{Parent: a.GetName()})
	if err != nil {
		t.Fatalf("ListTenantEvents: %v", err)
	}
	want := []string{"created tenants/events-a", "updated tenants/events-a", "deactivated tenants/events-a", "reactivated tenants/events-a"}
	if got := types(resp.GetEvents()); !slices.Equal(got, want) {
		t.Errorf("events of %s = %v, want %v", a.GetName(), got, want)
	}
	if last := resp.GetEvents()[len(resp.GetEvents())-1]; last.GetData().GetState() != tenantv1.Tenant_STATE_ACTIVE || last.GetSpecVersion() != "1.0" {
		t.Errorf("last event = %v, want a CloudEvents 1.0 event carrying the ACTIVE tenant", last)
	}

	var all []*tenantv1.TenantEvent
	for e, err := range c.AllTenantEvents(ctx, &tenantv1.ListTenantEventsRequest{Parent: "tenants/-", PageSize: 2}) {
		if err != nil {
			t.Fatalf("AllTenantEvents(tenants/-): %v", err)
		}
		all = append(all, e)
	}
	want = []string{"created tenants/events-a", "created tenants/events-b", "updated tenants/events-a", "deactivated tenants/events-a", "reactivated tenants/events-a"}
	if got := types(all); !slices.Equal(got, want) {
		t.Errorf("events of every tenant = %v, want %v", got, want)
	}

	_, err = c.ListTenantEvents(ctx, &tenantv1.ListTenantEventsRequest{Parent: "tenants/missing"})
	apiError(t, err, http.StatusNotFound, "RESOURCE_NOT_FOUND")
}

func TestListRegionsReturnsTheCatalog(t *testing.T) {
	t.Parallel()
	c, _ := adminClient(t)
	resp, err := c.ListRegions(testContext(t), &tenantv1.ListRegionsRequest{})
	if err != nil {
		t.Fatalf("ListRegions: %v", err)
	}
	var codes []string
	for _, r := range resp.GetRegions() {
		codes = append(codes, r.GetCode())
		if r.GetName() != "regions/"+r.GetCode() || r.GetDisplayName() == "" {
			t.Errorf("region %v lacks a name or display name", r)
		}
	}
	if !slices.Contains(codes, "eu-west") || !slices.Contains(codes, "us-east") {
		t.Errorf("region codes = %v, want eu-west and us-east among them", codes)
	}
}

func TestInvalidRequestReportsEachFieldViolation(t *testing.T) {
	t.Parallel()
	c, _ := adminClient(t)
	ctx := testContext(t)
	for _, tc := range []struct {
		name       string
		req        *tenantv1.CreateTenantRequest
		wantReason string
		wantFields []string
	}{
		{
			name: "broken contract rules",
			req: &tenantv1.CreateTenantRequest{
				TenantId:  "Not_An_Id",
				RequestId: "not-a-uuid",
				Tenant: &tenantv1.Tenant{
					Hostnames: []string{"UPPER.example.com"},
					Region:    "eu-west",
					Settings:  &tenantv1.TenantSettings{Theme: &tenantv1.Theme{PrimaryColor: "blue"}},
				},
			},
			wantReason: "INVALID_REQUEST",
			wantFields: []string{"request_id", "tenant.display_name", "tenant.hostnames[0]", "tenant.settings.theme.primary_color", "tenant_id"},
		},
		{
			name: "unknown region",
			req: func() *tenantv1.CreateTenantRequest {
				r := newTenantRequest("mars")
				r.Tenant.Region = "mars-north"
				return r
			}(),
			wantReason: "UNKNOWN_REGION",
			wantFields: []string{"tenant.region"},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := c.CreateTenant(ctx, tc.req)
			e := apiError(t, err, http.StatusBadRequest, tc.wantReason)
			var fields []string
			for _, v := range e.FieldViolations {
				fields = append(fields, v.Field)
				if v.Description == "" {
					t.Errorf("violation of %s has no description", v.Field)
				}
			}
			slices.Sort(fields)
			if !slices.Equal(fields, tc.wantFields) {
				t.Errorf("violated fields = %v, want %v", fields, tc.wantFields)
			}
		})
	}
}

func TestCredentialsAreCheckedAndNeverEchoed(t *testing.T) {
	t.Parallel()
	st := startStack(t)
	ctx := testContext(t)
	wrongKey := "oriel_sk_" + strings.Repeat("x", 52)
	for _, tc := range []struct {
		name, key, reason string
	}{
		{"no key", "", "CREDENTIAL_MISSING"},
		{"wrong key", wrongKey, "CREDENTIAL_INVALID"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := client.New(st.GatewayURL, tc.key, nil).ListRegions(ctx, &tenantv1.ListRegionsRequest{})
			e := apiError(t, err, http.StatusUnauthorized, tc.reason)
			if e.Status != "UNAUTHENTICATED" {
				t.Errorf("status = %s, want UNAUTHENTICATED", e.Status)
			}
			if strings.Contains(err.Error(), wrongKey) {
				t.Errorf("error %q contains the key", err)
			}
		})
	}
}

func TestClientRefusesMalformedNamesWithoutSendingAnything(t *testing.T) {
	t.Parallel()
	// Any request reaching this server fails the test: the names must stop at the client.
	var mu sync.Mutex
	var paths []string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		paths = append(paths, r.URL.RawPath+" "+r.URL.Path)
		mu.Unlock()
		http.Error(w, "unexpected", http.StatusTeapot)
	}))
	t.Cleanup(srv.Close)
	c := client.New(srv.URL, "k", nil)
	ctx := testContext(t)
	for _, name := range []string{"", "acme", "tenants/", "tenants/acme/apps/x", "tenants/..", "tenants/acme:deactivate",
		"tenants/a%2Fb", "tenants/a b", "tenants/a?x=1", "tenants/-", "regions/eu-west", "tenants/acme#x"} {
		t.Run(fmt.Sprintf("%q", name), func(t *testing.T) {
			_, err := c.GetTenant(ctx, &tenantv1.GetTenantRequest{Name: name})
			if !errors.Is(err, client.ErrInvalidName) {
				t.Errorf("GetTenant(%q) error = %v, want ErrInvalidName", name, err)
			}
		})
	}
	t.Run("events accept tenants/- for every tenant but not other oddities", func(t *testing.T) {
		_, err := c.ListTenantEvents(ctx, &tenantv1.ListTenantEventsRequest{Parent: "tenants/-/x"})
		if !errors.Is(err, client.ErrInvalidName) {
			t.Errorf("ListTenantEvents(tenants/-/x) error = %v, want ErrInvalidName", err)
		}
	})
	mu.Lock()
	defer mu.Unlock()
	if len(paths) > 0 {
		t.Errorf("requests reached the server: %q", paths)
	}
}

func TestClientSendsKeyJSONAndUserAgentAndEscapesQueries(t *testing.T) {
	t.Parallel()
	// A recording endpoint: it shows what goes on the wire, which the real edge does not echo.
	var (
		mu   sync.Mutex
		got  *http.Request
		body []byte
	)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		defer mu.Unlock()
		got = r.Clone(context.Background())
		body, _ = io.ReadAll(r.Body)
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(`{"name": "tenants/acme", "futureField": 1}`))
	}))
	t.Cleanup(srv.Close)
	ctx := testContext(t)

	tn, err := client.New(srv.URL+"/prefix/", "oriel_sk_secret", srv.Client()).UpdateTenant(ctx, &tenantv1.UpdateTenantRequest{
		Tenant:     &tenantv1.Tenant{Name: "tenants/acme", DisplayName: "A & B", Etag: "e1"},
		UpdateMask: &fieldmaskpb.FieldMask{Paths: []string{"display_name", "settings.theme"}},
	})
	if err != nil {
		t.Fatalf("UpdateTenant: %v (a response field this client does not know must not fail it)", err)
	}
	mu.Lock()
	defer mu.Unlock()
	if tn.GetName() != "tenants/acme" {
		t.Errorf("decoded name = %q", tn.GetName())
	}
	for header, want := range map[string]string{
		"Authorization": "Bearer oriel_sk_secret",
		"Content-Type":  "application/json",
		"User-Agent":    "oriel-cli",
	} {
		if v := got.Header.Get(header); v != want {
			t.Errorf("%s = %q, want %q", header, v, want)
		}
	}
	if got.Method != http.MethodPatch || got.URL.Path != "/prefix/v1/tenants/acme" {
		t.Errorf("request = %s %s, want PATCH /prefix/v1/tenants/acme", got.Method, got.URL.Path)
	}
	if m := got.URL.Query().Get("updateMask"); m != "display_name,settings.theme" {
		t.Errorf("updateMask = %q", m)
	}
	if want := `{"displayName":"A & B","etag":"e1"}`; strings.ReplaceAll(string(body), " ", "") != strings.ReplaceAll(want, " ", "") {
		t.Errorf("body = %s, want %s (the name travels in the path)", body, want)
	}

	mu.Unlock()
	_, err = client.New(srv.URL, "", srv.Client()).ListTenants(ctx, &tenantv1.ListTenantsRequest{Filter: `labels.plan = "a&b"`, PageSize: 5})
	mu.Lock()
	if err != nil {
		t.Fatal(err)
	}
	if h := got.Header.Get("Authorization"); h != "" {
		t.Errorf("Authorization = %q without a key, want none", h)
	}
	if h, ok := got.Header[client.EmbedOriginHeader]; ok {
		t.Errorf("%s = %q unasked, want none", client.EmbedOriginHeader, h)
	}

	if q := got.URL.Query(); q.Get("filter") != `labels.plan = "a&b"` || q.Get("pageSize") != "5" {
		t.Errorf("query = %v, want the filter intact and pageSize 5", q)
	}
	mu.Unlock()
	_, err = client.New(srv.URL, "oriel_et_x", srv.Client()).WithEmbedOrigin("https://app.acme.example.com").ListTenants(ctx, &tenantv1.ListTenantsRequest{})
	mu.Lock()
	if err != nil {
		t.Fatal(err)
	}
	if h := got.Header.Get(client.EmbedOriginHeader); h != "https://app.acme.example.com" {
		t.Errorf("%s = %q, want the origin named", client.EmbedOriginHeader, h)
	}
}

func TestNonJSONErrorBodyBecomesAnAPIErrorWithTheHTTPStatus(t *testing.T) {
	t.Parallel()
	// Stands in for a load balancer in front of the edge, whose error pages are HTML.
	page := "<html><head><title>502 Bad Gateway</title></head>\n<body>" + strings.Repeat("upstream down ", 100) + "</body></html>"
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/html")
		w.WriteHeader(http.StatusBadGateway)
		_, _ = w.Write([]byte(page))
	}))
	t.Cleanup(srv.Close)

	_, err := client.New(srv.URL, "k", srv.Client()).ListRegions(testContext(t), &tenantv1.ListRegionsRequest{})
	e := apiError(t, err, http.StatusBadGateway, "")
	if !strings.HasPrefix(e.Message, "<html><head><title>502 Bad Gateway</title></head> <body>upstream") {
		t.Errorf("message = %q, want the start of the page on one line", e.Message)
	}
	if n := len([]rune(e.Message)); n > 201 {
		t.Errorf("message has %d characters, want it truncated to about 200", n)
	}
	if !strings.HasSuffix(err.Error(), "(HTTP 502)") {
		t.Errorf("Error() = %q, want it to end with (HTTP 502)", err.Error())
	}
}

func TestBadBaseURLIsReportedByEveryCall(t *testing.T) {
	t.Parallel()
	for _, base := range []string{"localhost:8080", "ftp://example.com", "http://", "http://x/?q=1"} {
		t.Run(base, func(t *testing.T) {
			_, err := client.New(base, "k", nil).ListRegions(testContext(t), &tenantv1.ListRegionsRequest{})
			if err == nil || !strings.Contains(err.Error(), "invalid edge address") {
				t.Errorf("error = %v, want an invalid edge address", err)
			}
		})
	}
}
