package content_test

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	contentv1 "github.com/oriel-dev/oriel/gen/pb/oriel/content/v1"
	"github.com/oriel-dev/oriel/platform/apierr"
	"github.com/oriel-dev/oriel/platform/auth"
	"github.com/oriel-dev/oriel/services/content/internal/store"
)

// errorMetadata returns the ErrorInfo metadata of a status error.
func errorMetadata(err error) map[string]string {
	for _, d := range status.Convert(err).Details() {
		if info, ok := d.(*errdetails.ErrorInfo); ok {
			return info.GetMetadata()
		}
	}
	return nil
}

// wantViolation fails the test unless err is INVALID_ARGUMENT with one violation, on
// field, whose description mentions mention.
func wantViolation(t testing.TB, err error, reason, field, mention string) {
	t.Helper()
	wantCode(t, err, codes.InvalidArgument, reason)
	v := apierr.Violations(err)
	if len(v) != 1 || v[0].Field != field || !strings.Contains(v[0].Description, mention) {
		t.Fatalf("violations = %+v, want one on %s mentioning %q", v, field, mention)
	}
}

func TestCreateRolloutWithAListTargetsThoseTenantsInWavesInTheOrderGiven(t *testing.T) {
	t.Parallel()
	s := startService(t)
	template := s.createTemplate(t, "listed")
	version := s.createSalesVersion(t, template, "v1")
	// Canaries first: the order given, not the names', decides the waves.
	ids := []string{"zz-canary", "aa-first", "mm-second", "bb-third", "cc-fourth"}
	r, release := func() (*contentv1.Rollout, func()) {
		for range 5 {
			r := s.createRollout(t, &contentv1.Rollout{
				TemplateVersion: version,
				Selector:        &contentv1.TenantSelector{Tenants: tenantNames(ids)},
				Variables:       map[string]string{"region": "us"},
				TenantVariables: schemaFor(ids),
				Strategy: &contentv1.Strategy{Waves: []*contentv1.Wave{
					{Count: 1}, {Percent: 40},
				}},
			})
			if release, ok := s.holdRollout(t, r.GetName()); ok {
				return r, release
			}
			s.watchUntilEnd(t, r.GetName())
			ids = []string{ids[0] + "x", ids[1] + "x", ids[2] + "x", ids[3] + "x", ids[4] + "x"}
		}
		t.Fatal("the engine claimed every rollout first")
		return nil, nil
	}()

	if r.GetState() != contentv1.Rollout_STATE_PENDING || r.GetCreator() != "serviceAccounts/isv" ||
		r.GetSpaceId() != "templates" || r.GetAppId() != template || r.GetCreateTime() == nil ||
		r.GetProgress().GetTotal() != 5 || r.GetProgress().GetPending() != 5 {
		t.Errorf("created rollout = %v, want PENDING by serviceAccounts/isv, space templates, app %s, 5 pending", r, template)
	}
	got := must[*contentv1.GetRolloutResponse](t)(s.rollouts.GetRollout(s.isv, &contentv1.GetRolloutRequest{Name: r.GetName()})).GetRollout()
	if !proto.Equal(got, r) {
		t.Errorf("GetRollout = %v, want what CreateRollout returned: %v", got, r)
	}

	targets := s.targets(t, r.GetName(), contentv1.RolloutTarget_STATUS_UNSPECIFIED)
	// 1, then 40 % of 5 = 2, then the rest.
	wantWave := map[string]int32{ids[0]: 1, ids[1]: 2, ids[2]: 2, ids[3]: 3, ids[4]: 3}
	if len(targets) != len(ids) {
		t.Fatalf("targets = %v, want %d", targets, len(ids))
	}
	for _, tg := range targets {
		tenant := strings.TrimPrefix(tg.GetTenant(), "tenants/")
		want := &contentv1.RolloutTarget{
			Name: r.GetName() + "/targets/" + tenant, Tenant: store.TenantName(tenant), Wave: wantWave[tenant],
			Status: contentv1.RolloutTarget_STATUS_PENDING, App: store.AppName(tenant, template),
		}
		tg.UpdateTime = nil
		if !proto.Equal(tg, want) {
			t.Errorf("target = %v, want %v", tg, want)
		}
	}
	release()
	s.waitForState(t, r.GetName(), contentv1.Rollout_STATE_COMPLETED)
	app := must[*contentv1.GetAppResponse](t)(s.apps.GetApp(s.isv, &contentv1.GetAppRequest{Name: store.AppName(ids[2], template)})).GetApp()
	if v := app.GetDefinition().GetVariables(); v["schema"] != "s_"+ids[2] || v["region"] != "us" {
		t.Errorf("deployed variables = %v, want the tenant's schema and the common region", v)
	}
}

func TestCreateRolloutSelectsTenantsByLabelThroughTheTenantService(t *testing.T) {
	t.Parallel()
	s, ts := startWithTenants(t)
	gold := []string{
		ts.createTenant(t, "gold", map[string]string{"plan": "gold"}),
		ts.createTenant(t, "gold", map[string]string{"plan": "gold", "tier": "1"}),
		ts.createTenant(t, "gold", map[string]string{"plan": "gold"}),
	}
	ts.createTenant(t, "silver", map[string]string{"plan": "silver"})
	gone := ts.createTenant(t, "gold-gone", map[string]string{"plan": "gold"})
	ts.deactivateTenant(t, gone)
	slices.Sort(gold)

	template := s.createTemplate(t, "filtered")
	version := s.createSalesVersion(t, template, "v1")
	filtered := func(ctx context.Context, filter string) (*contentv1.Rollout, error) {
		resp, err := s.rollouts.CreateRollout(ctx, &contentv1.CreateRolloutRequest{Rollout: &contentv1.Rollout{
			TemplateVersion: version,
			Selector:        &contentv1.TenantSelector{Filter: filter},
			Variables:       map[string]string{"schema": "shared"},
		}})
		return resp.GetRollout(), err
	}

	t.Run("the filter's active tenants in name order", func(t *testing.T) {
		r, err := filtered(ts.admin, `labels.plan = "gold"`)
		if err != nil {
			t.Fatalf("CreateRollout: %v", err)
		}
		if r.GetSelector().GetFilter() != `labels.plan = "gold"` || r.GetProgress().GetTotal() != 3 {
			t.Errorf("rollout = %v, want the filter kept and 3 tenants", r)
		}
		var got []string
		for _, tg := range s.targets(t, r.GetName(), contentv1.RolloutTarget_STATUS_UNSPECIFIED) {
			got = append(got, tg.GetTenant())
		}
		if !slices.Equal(got, tenantNames(gold)) {
			t.Errorf("targets = %v, want the active gold tenants %v (not the deactivated %s)", got, tenantNames(gold), gone)
		}
	})
	t.Run("conditions combine with AND", func(t *testing.T) {
		r, err := filtered(ts.admin, `labels.plan = "gold" AND labels.tier = "1"`)
		if err != nil {
			t.Fatalf("CreateRollout: %v", err)
		}
		if r.GetProgress().GetTotal() != 1 {
			t.Errorf("total = %d, want the one gold tier-1 tenant", r.GetProgress().GetTotal())
		}
	})
	t.Run("a filter the tenant service rejects", func(t *testing.T) {
		_, err := filtered(ts.admin, `labels.plan = "gold" OR labels.plan = "silver"`)
		wantViolation(t, err, "INVALID_FILTER", "rollout.selector.filter", "not supported")
	})
	t.Run("a filter matching no tenant", func(t *testing.T) {
		_, err := filtered(ts.admin, `labels.plan = "platinum"`)
		wantViolation(t, err, "INVALID_REQUEST", "rollout.selector.filter", "selects no tenant")
	})
	t.Run("only deactivated tenants match", func(t *testing.T) {
		_, err := filtered(ts.admin, `labels.plan = "gold" AND state = DEACTIVATED`)
		wantViolation(t, err, "INVALID_REQUEST", "rollout.selector.filter", "selects no tenant")
	})
	t.Run("the filter runs with the caller's own credential", func(t *testing.T) {
		// The ISV's content account is unknown to the tenant service: content must not
		// list tenants on its behalf with a credential of its own.
		_, err := filtered(s.isv, `labels.plan = "gold"`)
		wantCode(t, err, codes.PermissionDenied, "PERMISSION_DENIED")
	})
}

func TestCreateRolloutRefusesMistakesInItsRequest(t *testing.T) {
	t.Parallel()
	s := startService(t)
	template := s.createTemplate(t, "mistakes")
	version := s.createSalesVersion(t, template, "v1")
	ids := []string{"tenant-one", "tenant-two"}
	base := func() *contentv1.Rollout {
		return &contentv1.Rollout{
			TemplateVersion: version,
			Selector:        &contentv1.TenantSelector{Tenants: tenantNames(ids)},
			TenantVariables: schemaFor(ids),
		}
	}
	tests := []struct {
		name   string
		edit   func(r *contentv1.Rollout)
		code   codes.Code
		reason string
		// field is the one field violation expected, if any, mentioning mention.
		field, mention string
	}{
		{
			name: "an unknown common variable", edit: func(r *contentv1.Rollout) { r.Variables = map[string]string{"shema": "x"} },
			code: codes.InvalidArgument, reason: "INVALID_REQUEST", field: `rollout.variables["shema"]`, mention: "declares schema, region",
		},
		{
			name: "an unknown variable of one tenant",
			edit: func(r *contentv1.Rollout) {
				r.TenantVariables["tenants/tenant-two"].Values["colour"] = "blue"
			},
			code: codes.InvalidArgument, reason: "INVALID_REQUEST",
			field: `rollout.tenant_variables["tenants/tenant-two"].values["colour"]`, mention: "is not a variable of " + version,
		},
		{
			name: "values for a tenant not selected",
			edit: func(r *contentv1.Rollout) {
				r.TenantVariables["tenants/tenant-three"] = &contentv1.VariableValues{Values: map[string]string{"schema": "x"}}
			},
			code: codes.InvalidArgument, reason: "INVALID_REQUEST",
			field: `rollout.tenant_variables["tenants/tenant-three"]`, mention: "not a tenant the selector selects",
		},
		{
			name: "an explicit list of no tenant",
			edit: func(r *contentv1.Rollout) { r.Selector = &contentv1.TenantSelector{}; r.TenantVariables = nil },
			code: codes.InvalidArgument,
		},
		{
			name: "a template version that does not exist",
			edit: func(r *contentv1.Rollout) { r.TemplateVersion = store.TemplateVersionName(template, "v9") },
			code: codes.NotFound, reason: "RESOURCE_NOT_FOUND",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := base()
			tt.edit(r)
			_, err := s.rollouts.CreateRollout(s.isv, &contentv1.CreateRolloutRequest{Rollout: r})
			if tt.field != "" {
				wantViolation(t, err, tt.reason, tt.field, tt.mention)
				return
			}
			wantCode(t, err, tt.code, tt.reason)
			if tt.code == codes.NotFound && errorMetadata(err)["resource"] != r.GetTemplateVersion() {
				t.Errorf("NOT_FOUND names %v, want the template version %s", errorMetadata(err), r.GetTemplateVersion())
			}
		})
	}
	t.Run("a tenant missing a required variable is no request error", func(t *testing.T) {
		r := base()
		delete(r.TenantVariables, "tenants/tenant-two")
		created := s.createRollout(t, r)
		s.waitForState(t, created.GetName(), contentv1.Rollout_STATE_COMPLETED)
		failed := s.targets(t, created.GetName(), contentv1.RolloutTarget_STATUS_FAILED)
		if len(failed) != 1 || failed[0].GetTenant() != "tenants/tenant-two" || !strings.Contains(failed[0].GetReason(), `"schema"`) {
			t.Errorf("failed targets = %v, want tenant-two failing for want of schema", failed)
		}
	})
	t.Run("a rollout id is taken once", func(t *testing.T) {
		_, err := s.rollouts.CreateRollout(s.isv, &contentv1.CreateRolloutRequest{RolloutId: "r-fixed", Rollout: base()})
		if err != nil {
			t.Fatalf("first: %v", err)
		}
		_, err = s.rollouts.CreateRollout(s.isv, &contentv1.CreateRolloutRequest{RolloutId: "r-fixed", Rollout: base()})
		wantCode(t, err, codes.AlreadyExists, "RESOURCE_ALREADY_EXISTS")
	})
}

// The acceptance test: 200 tenants, 5 % of them without their required variable.
func TestRolloutTo200TenantsReportsExactlyThoseMissingARequiredVariableAsFailed(t *testing.T) {
	t.Parallel()
	s := startService(t)
	template := s.createTemplate(t, "two-hundred")
	version := s.createSalesVersion(t, template, "v1")
	ids := make([]string, 200)
	for i := range ids {
		ids[i] = fmt.Sprintf("tenant-%03d", i)
	}
	values := schemaFor(ids)
	var bad []string
	for i := 7; i < len(ids); i += 20 {
		bad = append(bad, store.TenantName(ids[i]))
		delete(values, store.TenantName(ids[i]))
	}
	if len(bad) != 10 {
		t.Fatalf("test setup: %d bad tenants, want 10", len(bad))
	}
	r := s.createRollout(t, &contentv1.Rollout{
		TemplateVersion: version,
		Selector:        &contentv1.TenantSelector{Tenants: tenantNames(ids)},
		TenantVariables: values,
		Strategy:        &contentv1.Strategy{MaxParallel: 20},
	})
	end := s.waitForState(t, r.GetName(), contentv1.Rollout_STATE_COMPLETED)
	want := &contentv1.Progress{Total: 200, Succeeded: 190, Failed: 10}
	if !proto.Equal(end.GetProgress(), want) {
		t.Errorf("progress = %v, want %v", end.GetProgress(), want)
	}

	var failed []string
	for _, tg := range s.targets(t, r.GetName(), contentv1.RolloutTarget_STATUS_FAILED) {
		failed = append(failed, tg.GetTenant())
		if !strings.Contains(tg.GetReason(), `"schema"`) || tg.GetAppliedRevision() != "" {
			t.Errorf("failed target %v: want a reason naming schema and nothing applied", tg)
		}
	}
	if !slices.Equal(failed, bad) {
		t.Errorf("failed = %v, want exactly %v", failed, bad)
	}
	succeeded := s.targets(t, r.GetName(), contentv1.RolloutTarget_STATUS_SUCCEEDED)
	if len(succeeded) != 190 {
		t.Fatalf("succeeded = %d targets, want 190", len(succeeded))
	}
	for _, tg := range succeeded {
		if slices.Contains(bad, tg.GetTenant()) || tg.GetAppliedRevision() != tg.GetApp()+"/revisions/1" || tg.GetPreviousRevision() != "" {
			t.Errorf("succeeded target %v: want a new app at revision 1", tg)
		}
	}
}

func TestWatchRolloutStreamsFromTheCurrentStateToTheFinalOneAndEnds(t *testing.T) {
	t.Parallel()
	s := startService(t)
	version := s.createSalesVersion(t, s.createTemplate(t, "watched"), "v1")
	r, release := s.pendingRollout(t, version, 30)

	ctx, cancel := context.WithTimeout(s.isv, time.Minute)
	defer cancel()
	stream, err := s.rollouts.WatchRollout(ctx, &contentv1.WatchRolloutRequest{Name: r.GetName()})
	if err != nil {
		t.Fatal(err)
	}
	first, err := stream.Recv()
	if err != nil {
		t.Fatal(err)
	}
	if first.GetRollout().GetState() != contentv1.Rollout_STATE_PENDING || first.GetRollout().GetProgress().GetPending() != 30 {
		t.Fatalf("first message = %v, want the rollout PENDING with 30 pending", first.GetRollout())
	}
	release()
	seen := []*contentv1.Rollout{first.GetRollout()}
	for {
		resp, err := stream.Recv()
		if err != nil {
			if status.Code(err) != codes.OK && err.Error() != "EOF" {
				t.Fatalf("stream ended with %v, want OK", err)
			}
			break
		}
		seen = append(seen, resp.GetRollout())
	}
	last := seen[len(seen)-1]
	if last.GetState() != contentv1.Rollout_STATE_COMPLETED || last.GetProgress().GetSucceeded() != 30 || last.GetEndTime() == nil {
		t.Errorf("last message = %v, want COMPLETED with 30 succeeded", last)
	}
	for i := 1; i < len(seen); i++ {
		if seen[i].GetState() == seen[i-1].GetState() && proto.Equal(seen[i].GetProgress(), seen[i-1].GetProgress()) {
			t.Errorf("messages %d and %d are the same rollout: a watch sends changes only", i-1, i)
		}
	}

	t.Run("a rollout that has ended is sent once", func(t *testing.T) {
		seen := s.watchUntilEnd(t, r.GetName())
		if len(seen) != 1 || seen[0].GetState() != contentv1.Rollout_STATE_COMPLETED {
			t.Errorf("watch of an ended rollout = %v, want it once, COMPLETED", seen)
		}
	})
	t.Run("the watch stops when the client goes away", func(t *testing.T) {
		r, release := s.pendingRollout(t, version, 1)
		defer release()
		ctx, cancel := context.WithCancel(s.isv)
		stream, err := s.rollouts.WatchRollout(ctx, &contentv1.WatchRolloutRequest{Name: r.GetName()})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := stream.Recv(); err != nil {
			t.Fatal(err)
		}
		cancel()
		if _, err := stream.Recv(); status.Code(err) != codes.Canceled {
			t.Errorf("Recv after cancel = %v, want CANCELED", err)
		}
	})
	t.Run("an unknown rollout", func(t *testing.T) {
		stream, err := s.rollouts.WatchRollout(s.isv, &contentv1.WatchRolloutRequest{Name: "rollouts/no-such-rollout"})
		if err == nil {
			_, err = stream.Recv()
		}
		wantCode(t, err, codes.NotFound, "RESOURCE_NOT_FOUND")
	})
}

func TestCancelAndRollbackMoveOnlyFromTheirStates(t *testing.T) {
	t.Parallel()
	s := startService(t)
	template := s.createTemplate(t, "transitions")
	version := s.createSalesVersion(t, template, "v1")
	cancelRollout := func(name string) (*contentv1.Rollout, error) {
		resp, err := s.rollouts.CancelRollout(s.isv, &contentv1.CancelRolloutRequest{Name: name})
		return resp.GetRollout(), err
	}
	rollback := func(name string) (*contentv1.Rollout, error) {
		resp, err := s.rollouts.RollbackRollout(s.isv, &contentv1.RollbackRolloutRequest{Name: name})
		return resp.GetRollout(), err
	}
	// is and refused check what a call returned, as is(want)(call(name)).
	is := func(want contentv1.Rollout_State) func(*contentv1.Rollout, error) {
		return func(r *contentv1.Rollout, err error) {
			t.Helper()
			if err != nil || r.GetState() != want {
				t.Fatalf("got %v, %v; want the rollout %s", r.GetState(), err, want)
			}
		}
	}
	refused := func(state, mention string) func(*contentv1.Rollout, error) {
		return func(_ *contentv1.Rollout, err error) {
			t.Helper()
			wantCode(t, err, codes.FailedPrecondition, "ROLLOUT_STATE")
			if errorMetadata(err)["state"] != state || !strings.Contains(status.Convert(err).Message(), mention) {
				t.Fatalf("refusal %v (metadata %v), want state %s and a message mentioning %q", err, errorMetadata(err), state, mention)
			}
		}
	}

	t.Run("cancel a pending rollout, then roll it back", func(t *testing.T) {
		r, release := s.pendingRollout(t, version, 3)
		released := false
		defer func() {
			if !released {
				release()
			}
		}()
		refused("PENDING", "cancel it first")(rollback(r.GetName()))
		is(contentv1.Rollout_STATE_CANCELLING)(cancelRollout(r.GetName()))
		is(contentv1.Rollout_STATE_CANCELLING)(cancelRollout(r.GetName())) // again: a no-op
		refused("CANCELLING", "cancel it first")(rollback(r.GetName()))
		release()
		released = true
		end := s.waitForState(t, r.GetName(), contentv1.Rollout_STATE_CANCELLED)
		if end.GetProgress().GetCancelled() != 3 {
			t.Errorf("progress = %v, want 3 cancelled", end.GetProgress())
		}
		is(contentv1.Rollout_STATE_CANCELLED)(cancelRollout(r.GetName()))
		is(contentv1.Rollout_STATE_ROLLING_BACK)(rollback(r.GetName()))
		s.waitForState(t, r.GetName(), contentv1.Rollout_STATE_ROLLED_BACK)
		is(contentv1.Rollout_STATE_ROLLED_BACK)(rollback(r.GetName()))
		refused("ROLLED_BACK", "nothing to cancel")(cancelRollout(r.GetName()))
	})
	t.Run("a completed rollout cannot be cancelled but rolls back", func(t *testing.T) {
		ids := []string{"done-one", "done-two"}
		r := s.createRollout(t, &contentv1.Rollout{
			TemplateVersion: version,
			Selector:        &contentv1.TenantSelector{Tenants: tenantNames(ids)},
			TenantVariables: schemaFor(ids),
		})
		s.waitForState(t, r.GetName(), contentv1.Rollout_STATE_COMPLETED)
		refused("COMPLETED", "nothing to cancel")(cancelRollout(r.GetName()))
		is(contentv1.Rollout_STATE_ROLLING_BACK)(rollback(r.GetName()))
		is(contentv1.Rollout_STATE_ROLLING_BACK)(rollback(r.GetName())) // again: a no-op
		refused("ROLLING_BACK", "nothing to cancel")(cancelRollout(r.GetName()))
		end := s.waitForState(t, r.GetName(), contentv1.Rollout_STATE_ROLLED_BACK)
		if end.GetProgress().GetRolledBack() != 2 {
			t.Errorf("progress = %v, want 2 rolled back", end.GetProgress())
		}
		// The rollout created the apps, so rolling back deletes them (restorably).
		app := must[*contentv1.GetAppResponse](t)(s.apps.GetApp(s.isv, &contentv1.GetAppRequest{Name: store.AppName(ids[0], template)})).GetApp()
		if app.GetState() != contentv1.App_STATE_DELETED {
			t.Errorf("app after rollback = %v, want DELETED", app.GetState())
		}
	})
	t.Run("an unknown rollout", func(t *testing.T) {
		_, err := cancelRollout("rollouts/no-such-rollout")
		wantCode(t, err, codes.NotFound, "RESOURCE_NOT_FOUND")
		_, err = rollback("rollouts/no-such-rollout")
		wantCode(t, err, codes.NotFound, "RESOURCE_NOT_FOUND")
	})
}

func TestListRolloutsNewestFirst(t *testing.T) {
	t.Parallel()
	s := startService(t)
	version := s.createSalesVersion(t, s.createTemplate(t, "listed"), "v1")
	var want []string
	for i := range 3 {
		id := fmt.Sprintf("listed-%d", i)
		r := s.createRollout(t, &contentv1.Rollout{
			TemplateVersion: version,
			Selector:        &contentv1.TenantSelector{Tenants: []string{store.TenantName(id)}},
			TenantVariables: schemaFor([]string{id}),
		})
		want = append([]string{r.GetName()}, want...)
	}
	var got []string
	req := &contentv1.ListRolloutsRequest{PageSize: 2}
	for {
		resp := must[*contentv1.ListRolloutsResponse](t)(s.rollouts.ListRollouts(s.isv, req))
		for _, r := range resp.GetRollouts() {
			got = append(got, r.GetName())
		}
		if resp.GetNextPageToken() == "" {
			break
		}
		req.PageToken = resp.GetNextPageToken()
	}
	if !slices.Equal(got, want) {
		t.Errorf("rollouts = %v, want newest first %v", got, want)
	}
	_, err := s.rollouts.ListRolloutTargets(s.isv, &contentv1.ListRolloutTargetsRequest{Parent: "rollouts/no-such-rollout"})
	wantCode(t, err, codes.NotFound, "RESOURCE_NOT_FOUND")
}

func TestTemplatesAndRolloutsArePlatformOnly(t *testing.T) {
	t.Parallel()
	s := startService(t)
	template := s.createTemplate(t, "guarded")
	version := s.createSalesVersion(t, template, "v1")
	r := s.createRollout(t, &contentv1.Rollout{
		TemplateVersion: version,
		Selector:        &contentv1.TenantSelector{Tenants: []string{"tenants/acme"}},
		TenantVariables: schemaFor([]string{"acme"}),
	})
	tplName, rName := store.TemplateName(template), r.GetName()
	newRollout := &contentv1.Rollout{
		TemplateVersion: version, Selector: &contentv1.TenantSelector{Tenants: []string{"tenants/acme"}},
		Variables: map[string]string{"schema": "acme"},
	}
	type call struct {
		name  string
		write bool
		do    func(ctx context.Context) error
	}
	calls := []call{
		{"CreateTemplate", true, func(ctx context.Context) error {
			_, err := s.templates.CreateTemplate(ctx, &contentv1.CreateTemplateRequest{TemplateId: "sneaky", Template: &contentv1.Template{DisplayName: "x"}})
			return err
		}},
		{"GetTemplate", false, func(ctx context.Context) error {
			_, err := s.templates.GetTemplate(ctx, &contentv1.GetTemplateRequest{Name: tplName})
			return err
		}},
		{"ListTemplates", false, func(ctx context.Context) error {
			_, err := s.templates.ListTemplates(ctx, &contentv1.ListTemplatesRequest{})
			return err
		}},
		{"CreateTemplateVersion", true, func(ctx context.Context) error {
			_, err := s.templates.CreateTemplateVersion(ctx, &contentv1.CreateTemplateVersionRequest{
				Parent: tplName, VersionId: "v2", TemplateVersion: &contentv1.TemplateVersion{Title: "x", Definition: templateDefinition("")},
			})
			return err
		}},
		{"GetTemplateVersion", false, func(ctx context.Context) error {
			_, err := s.templates.GetTemplateVersion(ctx, &contentv1.GetTemplateVersionRequest{Name: version})
			return err
		}},
		{"ListTemplateVersions", false, func(ctx context.Context) error {
			_, err := s.templates.ListTemplateVersions(ctx, &contentv1.ListTemplateVersionsRequest{Parent: tplName})
			return err
		}},
		{"ListDrift", false, func(ctx context.Context) error {
			_, err := s.templates.ListDrift(ctx, &contentv1.ListDriftRequest{Parent: tplName})
			return err
		}},
		{"CreateRollout", true, func(ctx context.Context) error {
			_, err := s.rollouts.CreateRollout(ctx, &contentv1.CreateRolloutRequest{Rollout: newRollout})
			return err
		}},
		{"GetRollout", false, func(ctx context.Context) error {
			_, err := s.rollouts.GetRollout(ctx, &contentv1.GetRolloutRequest{Name: rName})
			return err
		}},
		{"ListRollouts", false, func(ctx context.Context) error {
			_, err := s.rollouts.ListRollouts(ctx, &contentv1.ListRolloutsRequest{})
			return err
		}},
		{"ListRolloutTargets", false, func(ctx context.Context) error {
			_, err := s.rollouts.ListRolloutTargets(ctx, &contentv1.ListRolloutTargetsRequest{Parent: rName})
			return err
		}},
		// Cancel and rollback would be refused for the state too: the caller is refused first.
		{"CancelRollout", true, func(ctx context.Context) error {
			_, err := s.rollouts.CancelRollout(ctx, &contentv1.CancelRolloutRequest{Name: rName})
			return err
		}},
		{"RollbackRollout", true, func(ctx context.Context) error {
			_, err := s.rollouts.RollbackRollout(ctx, &contentv1.RollbackRolloutRequest{Name: rName})
			return err
		}},
		{"WatchRollout", false, func(ctx context.Context) error {
			stream, err := s.rollouts.WatchRollout(ctx, &contentv1.WatchRolloutRequest{Name: rName})
			if err != nil {
				return err
			}
			_, err = stream.Recv()
			return err
		}},
	}
	callers := []struct {
		name      string
		principal *auth.Principal
		// reads are allowed to it.
		reads bool
	}{
		{"a tenant service account with every content scope", tenantAccount("acme", "backend", auth.ScopeContentRead, auth.ScopeContentWrite), false},
		{"a tenant admin with an embed token", embedUser("acme", "alice", []string{"admin"}, nil, nil), false},
		{"a platform account without content scopes", platformAccount("tenants-only", auth.ScopeTenantsRead, auth.ScopeTenantsWrite), false},
		{"a platform account with content.read", platformAccount("reader", auth.ScopeContentRead), true},
	}
	for _, c := range callers {
		ctx := s.as(c.principal)
		for _, call := range calls {
			t.Run(c.name+"/"+call.name, func(t *testing.T) {
				err := call.do(ctx)
				if c.reads && !call.write {
					if err != nil {
						t.Errorf("%s: %v, want it allowed", call.name, err)
					}
					return
				}
				wantCode(t, err, codes.PermissionDenied, "PERMISSION_DENIED")
			})
		}
	}
	// Nothing a refused call asked for happened.
	if _, err := s.templates.GetTemplate(s.isv, &contentv1.GetTemplateRequest{Name: "templates/sneaky"}); status.Code(err) != codes.NotFound {
		t.Errorf("GetTemplate(sneaky) = %v, want NOT_FOUND", err)
	}
}
