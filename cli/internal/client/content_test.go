package client_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/fieldmaskpb"

	"github.com/oriel-dev/oriel/cli/internal/client"
	contentv1 "github.com/oriel-dev/oriel/gen/pb/oriel/content/v1"
)

// dashboard is a small valid definition: a kpi and a bar chart over a script that reads
// the `schema` variable.
func dashboard(barTitle string) *contentv1.AppDefinition {
	return &contentv1.AppDefinition{
		Sheets: []*contentv1.Sheet{{
			Id: "overview", Title: "Overview",
			Charts: []*contentv1.Chart{
				{
					Id: "revenue", Kind: contentv1.Chart_KIND_KPI, Title: "Revenue",
					Measures: []*contentv1.Measure{{Aggregation: contentv1.Measure_AGGREGATION_SUM, Field: "amount"}},
					Position: &contentv1.GridPosition{Width: 6, Height: 4},
				},
				{
					Id: "by-region", Kind: contentv1.Chart_KIND_BAR, Title: barTitle, Dimensions: []string{"region"},
					Measures: []*contentv1.Measure{{Aggregation: contentv1.Measure_AGGREGATION_SUM, Field: "amount"}},
					Position: &contentv1.GridPosition{X: 6, Width: 18, Height: 8},
				},
			},
		}},
		LoadScript: "orders:\nSELECT region, amount FROM $(schema).orders;\n",
	}
}

func mustSpace(t *testing.T, c *client.Client, tenant, id string, typ contentv1.Space_Type) *contentv1.Space {
	t.Helper()
	resp, err := c.CreateSpace(testContext(t), &contentv1.CreateSpaceRequest{
		Parent: "tenants/" + tenant, SpaceId: id, Space: &contentv1.Space{DisplayName: "Space " + id, Type: typ},
	})
	if err != nil {
		t.Fatalf("CreateSpace(%s): %v", id, err)
	}
	return resp.GetSpace()
}

func mustApp(t *testing.T, c *client.Client, tenant, space, id string) *contentv1.App {
	t.Helper()
	resp, err := c.CreateApp(testContext(t), &contentv1.CreateAppRequest{
		Parent: "tenants/" + tenant, AppId: id,
		App: &contentv1.App{Title: "App " + id, Space: "tenants/" + tenant + "/spaces/" + space, Definition: dashboard("By region")},
	})
	if err != nil {
		t.Fatalf("CreateApp(%s): %v", id, err)
	}
	return resp.GetApp()
}

func TestSpaceLifecycleWithMembers(t *testing.T) {
	t.Parallel()
	c, _ := adminClient(t)
	ctx := testContext(t)
	team := mustSpace(t, c, "acme", "team", contentv1.Space_TYPE_SHARED)
	if team.GetName() != "tenants/acme/spaces/team" || team.GetType() != contentv1.Space_TYPE_SHARED || team.GetEtag() == "" {
		t.Fatalf("created = %v, want tenants/acme/spaces/team, SHARED, with an etag", team)
	}
	mustSpace(t, c, "acme", "published", contentv1.Space_TYPE_MANAGED)
	mustSpace(t, c, "other", "hidden", contentv1.Space_TYPE_SHARED)

	got, err := c.GetSpace(ctx, &contentv1.GetSpaceRequest{Name: team.GetName()})
	if err != nil || !proto.Equal(got.GetSpace(), team) {
		t.Fatalf("GetSpace = %v, %v; want what create returned", got.GetSpace(), err)
	}
	var names []string
	for sp, err := range c.AllSpaces(ctx, &contentv1.ListSpacesRequest{Parent: "tenants/acme", PageSize: 1}) {
		if err != nil {
			t.Fatal(err)
		}
		names = append(names, sp.GetName())
	}
	if want := []string{"tenants/acme/spaces/published", "tenants/acme/spaces/team"}; !slices.Equal(names, want) {
		t.Errorf("AllSpaces = %v, want %v (acme's only, by name, across pages of 1)", names, want)
	}

	t.Run("update changes only the masked field, and a stale etag is refused", func(t *testing.T) {
		upd, err := c.UpdateSpace(ctx, &contentv1.UpdateSpaceRequest{
			Space:      &contentv1.Space{Name: team.GetName(), Description: "Authors", DisplayName: "ignored", Etag: team.GetEtag()},
			UpdateMask: &fieldmaskpb.FieldMask{Paths: []string{"description"}},
		})
		if err != nil {
			t.Fatal(err)
		}
		if upd.GetSpace().GetDescription() != "Authors" || upd.GetSpace().GetDisplayName() != team.GetDisplayName() {
			t.Errorf("updated = %v, want the description alone changed", upd.GetSpace())
		}
		_, err = c.UpdateSpace(ctx, &contentv1.UpdateSpaceRequest{
			Space:      &contentv1.Space{Name: team.GetName(), Description: "again", Etag: team.GetEtag()},
			UpdateMask: &fieldmaskpb.FieldMask{Paths: []string{"description"}},
		})
		apiError(t, err, http.StatusConflict, "ETAG_MISMATCH")
	})

	t.Run("members are added, listed and removed", func(t *testing.T) {
		for _, m := range []*contentv1.SpaceMember{
			{Group: "tenants/acme/groups/analysts", Role: contentv1.SpaceRole_SPACE_ROLE_PRODUCER},
			{User: "tenants/acme/users/ann", Role: contentv1.SpaceRole_SPACE_ROLE_CONSUMER},
		} {
			if _, err := c.CreateSpaceMember(ctx, &contentv1.CreateSpaceMemberRequest{Parent: team.GetName(), SpaceMember: m}); err != nil {
				t.Fatalf("CreateSpaceMember(%v): %v", m, err)
			}
		}
		var members []string
		for m, err := range c.AllSpaceMembers(ctx, &contentv1.ListSpaceMembersRequest{Parent: team.GetName()}) {
			if err != nil {
				t.Fatal(err)
			}
			members = append(members, m.GetName()+" "+m.GetRole().String())
		}
		want := []string{"tenants/acme/spaces/team/members/g-analysts SPACE_ROLE_PRODUCER", "tenants/acme/spaces/team/members/u-ann SPACE_ROLE_CONSUMER"}
		if !slices.Equal(members, want) {
			t.Errorf("members = %v, want %v", members, want)
		}
		if _, err := c.DeleteSpaceMember(ctx, &contentv1.DeleteSpaceMemberRequest{Name: "tenants/acme/spaces/team/members/u-ann"}); err != nil {
			t.Fatal(err)
		}
		resp, err := c.ListSpaceMembers(ctx, &contentv1.ListSpaceMembersRequest{Parent: team.GetName()})
		if err != nil || len(resp.GetSpaceMembers()) != 1 {
			t.Errorf("after removal: %v, %v; want the group alone", resp.GetSpaceMembers(), err)
		}
	})

	t.Run("a space with an app cannot be deleted; an empty one can", func(t *testing.T) {
		mustApp(t, c, "acme", "team", "kept")
		_, err := c.DeleteSpace(ctx, &contentv1.DeleteSpaceRequest{Name: team.GetName()})
		apiError(t, err, http.StatusBadRequest, "SPACE_NOT_EMPTY")
		if _, err := c.DeleteSpace(ctx, &contentv1.DeleteSpaceRequest{Name: "tenants/acme/spaces/published"}); err != nil {
			t.Fatal(err)
		}
		_, err = c.GetSpace(ctx, &contentv1.GetSpaceRequest{Name: "tenants/acme/spaces/published"})
		apiError(t, err, http.StatusNotFound, "RESOURCE_NOT_FOUND")
	})
}

func TestAppRevisionsAndMoves(t *testing.T) {
	t.Parallel()
	c, _ := adminClient(t)
	ctx := testContext(t)
	mustSpace(t, c, "acme", "team", contentv1.Space_TYPE_SHARED)
	mustSpace(t, c, "acme", "published", contentv1.Space_TYPE_MANAGED)
	app := mustApp(t, c, "acme", "team", "sales")
	if app.GetName() != "tenants/acme/apps/sales" || app.GetRevision() != "1" || app.GetState() != contentv1.App_STATE_ACTIVE {
		t.Fatalf("created = %v, want tenants/acme/apps/sales at revision 1, ACTIVE", app)
	}
	got, err := c.GetApp(ctx, &contentv1.GetAppRequest{Name: app.GetName()})
	if err != nil || !proto.Equal(got.GetApp().GetDefinition(), dashboard("By region")) {
		t.Fatalf("GetApp = %v, %v; want the definition created", got.GetApp(), err)
	}

	// Two saves: a title, then only the load script.
	upd, err := c.UpdateApp(ctx, &contentv1.UpdateAppRequest{
		App: &contentv1.App{Name: app.GetName(), Title: "Sales 2", Etag: app.GetEtag()}, UpdateMask: &fieldmaskpb.FieldMask{Paths: []string{"title"}},
	})
	if err != nil {
		t.Fatal(err)
	}
	upd, err = c.UpdateApp(ctx, &contentv1.UpdateAppRequest{
		App:        &contentv1.App{Name: app.GetName(), Definition: &contentv1.AppDefinition{LoadScript: "orders: SELECT 1;"}},
		UpdateMask: &fieldmaskpb.FieldMask{Paths: []string{"definition.load_script"}},
	})
	if err != nil {
		t.Fatal(err)
	}
	if a := upd.GetApp(); a.GetRevision() != "3" || a.GetTitle() != "Sales 2" || len(a.GetDefinition().GetSheets()) != 1 || a.GetDefinition().GetLoadScript() != "orders: SELECT 1;" {
		t.Errorf("after two saves = %v, want revision 3 with the new title and script and the sheets kept", a)
	}
	var revisions []string
	for r, err := range c.AllAppRevisions(ctx, &contentv1.ListAppRevisionsRequest{Parent: app.GetName(), PageSize: 2}) {
		if err != nil {
			t.Fatal(err)
		}
		revisions = append(revisions, r.GetName()+" "+r.GetTitle())
	}
	if want := []string{"tenants/acme/apps/sales/revisions/3 Sales 2", "tenants/acme/apps/sales/revisions/2 Sales 2", "tenants/acme/apps/sales/revisions/1 App sales"}; !slices.Equal(revisions, want) {
		t.Errorf("revisions = %v, want %v (newest first)", revisions, want)
	}
	restored, err := c.RestoreAppRevision(ctx, &contentv1.RestoreAppRevisionRequest{Name: "tenants/acme/apps/sales/revisions/1"})
	if err != nil {
		t.Fatal(err)
	}
	if a := restored.GetApp(); a.GetRevision() != "4" || a.GetTitle() != "App sales" || !proto.Equal(a.GetDefinition(), dashboard("By region")) {
		t.Errorf("restored = %v, want revision 4 with revision 1's content", a)
	}

	t.Run("delete is soft and undelete restores", func(t *testing.T) {
		del, err := c.DeleteApp(ctx, &contentv1.DeleteAppRequest{Name: app.GetName()})
		if err != nil {
			t.Fatal(err)
		}
		if del.GetApp().GetState() != contentv1.App_STATE_DELETED || del.GetApp().GetPurgeTime() == nil {
			t.Errorf("deleted = %v, want DELETED with a purge time", del.GetApp())
		}
		visible := func(showDeleted bool) []string {
			var names []string
			for a, err := range c.AllApps(ctx, &contentv1.ListAppsRequest{Parent: "tenants/acme", ShowDeleted: showDeleted}) {
				if err != nil {
					t.Fatal(err)
				}
				names = append(names, a.GetName())
			}
			return names
		}
		if got := visible(false); slices.Contains(got, app.GetName()) {
			t.Errorf("a deleted app is listed: %v", got)
		}
		if got := visible(true); !slices.Contains(got, app.GetName()) {
			t.Errorf("show_deleted leaves out the deleted app: %v", got)
		}
		un, err := c.UndeleteApp(ctx, &contentv1.UndeleteAppRequest{Name: app.GetName()})
		if err != nil || un.GetApp().GetState() != contentv1.App_STATE_ACTIVE {
			t.Fatalf("UndeleteApp = %v, %v; want ACTIVE", un.GetApp(), err)
		}
	})

	t.Run("copy, export and import, publish", func(t *testing.T) {
		cp, err := c.CopyApp(ctx, &contentv1.CopyAppRequest{Name: app.GetName(), DestinationSpace: "tenants/acme/spaces/team", AppId: "sales-copy", Title: "Copy"})
		if err != nil {
			t.Fatal(err)
		}
		if cp.GetApp().GetName() != "tenants/acme/apps/sales-copy" || cp.GetApp().GetTitle() != "Copy" {
			t.Errorf("copy = %v", cp.GetApp())
		}
		exp, err := c.ExportApp(ctx, &contentv1.ExportAppRequest{Name: app.GetName()})
		if err != nil {
			t.Fatal(err)
		}
		if b := exp.GetBundle(); b.GetFormatVersion() != 1 || b.GetExportedFrom() != app.GetName() || !proto.Equal(b.GetDefinition(), dashboard("By region")) {
			t.Errorf("bundle = %v, want format 1 from %s with its definition", b, app.GetName())
		}
		mustSpace(t, c, "globex", "imports", contentv1.Space_TYPE_SHARED)
		imp, err := c.ImportApp(ctx, &contentv1.ImportAppRequest{Parent: "tenants/globex", Bundle: exp.GetBundle(), Space: "tenants/globex/spaces/imports", AppId: "sales"})
		if err != nil {
			t.Fatal(err)
		}
		if a := imp.GetApp(); a.GetName() != "tenants/globex/apps/sales" || !proto.Equal(a.GetDefinition(), dashboard("By region")) {
			t.Errorf("imported = %v", a)
		}
		pub, err := c.PublishApp(ctx, &contentv1.PublishAppRequest{Name: app.GetName(), TargetSpace: "tenants/acme/spaces/published"})
		if err != nil {
			t.Fatal(err)
		}
		again, err := c.PublishApp(ctx, &contentv1.PublishAppRequest{Name: app.GetName()})
		if err != nil {
			t.Fatal(err)
		}
		if pub.GetApp().GetPublishedFrom() != app.GetName() || again.GetApp().GetName() != pub.GetApp().GetName() {
			t.Errorf("published %v, then %v; want a copy published from %s, the same app both times", pub.GetApp(), again.GetApp(), app.GetName())
		}
	})
}

func TestTemplateVersionsAndDrift(t *testing.T) {
	t.Parallel()
	c, _ := adminClient(t)
	ctx := testContext(t)
	tpl, err := c.CreateTemplate(ctx, &contentv1.CreateTemplateRequest{TemplateId: "sales", Template: &contentv1.Template{DisplayName: "Sales"}})
	if err != nil {
		t.Fatal(err)
	}
	if tpl.GetTemplate().GetName() != "templates/sales" {
		t.Fatalf("template = %v", tpl.GetTemplate())
	}
	for _, v := range []string{"1.0.0", "1.1.0"} {
		_, err := c.CreateTemplateVersion(ctx, &contentv1.CreateTemplateVersionRequest{
			Parent: "templates/sales", VersionId: v,
			TemplateVersion: &contentv1.TemplateVersion{
				Title: "Sales " + v, Definition: dashboard("By region " + v),
				Variables: []*contentv1.TemplateVariable{{Name: "schema", Required: true}},
			},
		})
		if err != nil {
			t.Fatalf("CreateTemplateVersion(%s): %v", v, err)
		}
	}
	got, err := c.GetTemplate(ctx, &contentv1.GetTemplateRequest{Name: "templates/sales"})
	if err != nil || got.GetTemplate().GetLatestVersion() != "templates/sales/versions/1.1.0" {
		t.Errorf("GetTemplate = %v, %v; want latest version 1.1.0", got.GetTemplate(), err)
	}
	ver, err := c.GetTemplateVersion(ctx, &contentv1.GetTemplateVersionRequest{Name: "templates/sales/versions/1.0.0"})
	if err != nil || ver.GetTemplateVersion().GetTitle() != "Sales 1.0.0" {
		t.Errorf("GetTemplateVersion = %v, %v", ver.GetTemplateVersion(), err)
	}
	var versions []string
	for v, err := range c.AllTemplateVersions(ctx, &contentv1.ListTemplateVersionsRequest{Parent: "templates/sales", PageSize: 1}) {
		if err != nil {
			t.Fatal(err)
		}
		versions = append(versions, v.GetName())
	}
	if want := []string{"templates/sales/versions/1.1.0", "templates/sales/versions/1.0.0"}; !slices.Equal(versions, want) {
		t.Errorf("versions = %v, want %v (newest first)", versions, want)
	}
	var templates []string
	for tp, err := range c.AllTemplates(ctx, &contentv1.ListTemplatesRequest{}) {
		if err != nil {
			t.Fatal(err)
		}
		templates = append(templates, tp.GetName())
	}
	if !slices.Equal(templates, []string{"templates/sales"}) {
		t.Errorf("templates = %v", templates)
	}

	// Deploy 1.0.0 to two tenants, edit one app: that tenant has drifted.
	r := mustRollout(t, c, "sales-1", &contentv1.Rollout{
		TemplateVersion: "templates/sales/versions/1.0.0",
		Selector:        &contentv1.TenantSelector{Tenants: []string{"tenants/acme", "tenants/globex"}},
		Variables:       map[string]string{"schema": "public"},
	})
	if final := follow(t, c, r.GetName()); final.GetState() != contentv1.Rollout_STATE_COMPLETED || final.GetProgress().GetSucceeded() != 2 {
		t.Fatalf("rollout ended %v", final)
	}
	if _, err := c.UpdateApp(ctx, &contentv1.UpdateAppRequest{
		App: &contentv1.App{Name: "tenants/acme/apps/sales", Title: "Ours"}, UpdateMask: &fieldmaskpb.FieldMask{Paths: []string{"title"}},
	}); err != nil {
		t.Fatal(err)
	}
	var drifted []string
	for d, err := range c.AllDrift(ctx, &contentv1.ListDriftRequest{Parent: "templates/sales"}) {
		if err != nil {
			t.Fatal(err)
		}
		drifted = append(drifted, fmt.Sprintf("%s %s %s→%s", d.GetApp(), d.GetTemplateVersion(), d.GetDeployedRevision(), d.GetCurrentRevision()))
	}
	want := []string{"tenants/acme/apps/sales templates/sales/versions/1.0.0 tenants/acme/apps/sales/revisions/1→tenants/acme/apps/sales/revisions/2"}
	if !slices.Equal(drifted, want) {
		t.Errorf("drift = %v, want %v", drifted, want)
	}
}

func mustRollout(t *testing.T, c *client.Client, id string, r *contentv1.Rollout) *contentv1.Rollout {
	t.Helper()
	resp, err := c.CreateRollout(testContext(t), &contentv1.CreateRolloutRequest{RolloutId: id, Rollout: r})
	if err != nil {
		t.Fatalf("CreateRollout(%s): %v", id, err)
	}
	return resp.GetRollout()
}

// follow follows a rollout to its end and returns how it ended.
func follow(t *testing.T, c *client.Client, name string) *contentv1.Rollout {
	t.Helper()
	var last *contentv1.Rollout
	for r, err := range c.FollowRollout(testContext(t), name) {
		if err != nil {
			t.Fatalf("FollowRollout(%s): %v", name, err)
		}
		last = r
	}
	return last
}

func TestRolloutStreamedToItsEndThenRolledBack(t *testing.T) {
	t.Parallel()
	c, _ := adminClient(t)
	ctx := testContext(t)
	for _, id := range []string{"gold-a", "gold-b", "gold-c"} {
		req := newTenantRequest(id)
		req.Tenant.Labels = map[string]string{"plan": "gold"}
		mustCreate(t, c, req)
	}
	mustCreate(t, c, newTenantRequest("silver"))
	if _, err := c.CreateTemplate(ctx, &contentv1.CreateTemplateRequest{TemplateId: "sales", Template: &contentv1.Template{DisplayName: "Sales"}}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.CreateTemplateVersion(ctx, &contentv1.CreateTemplateVersionRequest{
		Parent: "templates/sales", VersionId: "v1",
		TemplateVersion: &contentv1.TemplateVersion{Title: "Sales", Definition: dashboard("By region"),
			Variables: []*contentv1.TemplateVariable{{Name: "schema", Required: true}}},
	}); err != nil {
		t.Fatal(err)
	}
	// gold-c has no schema: it fails, the others deploy.
	created := mustRollout(t, c, "gold-v1", &contentv1.Rollout{
		TemplateVersion: "templates/sales/versions/v1",
		Selector:        &contentv1.TenantSelector{Filter: `labels.plan = "gold"`},
		TenantVariables: map[string]*contentv1.VariableValues{
			"tenants/gold-a": {Values: map[string]string{"schema": "a"}},
			"tenants/gold-b": {Values: map[string]string{"schema": "b"}},
		},
		Strategy: &contentv1.Strategy{MaxParallel: 1},
	})
	if created.GetState() != contentv1.Rollout_STATE_PENDING || created.GetProgress().GetTotal() != 3 {
		t.Fatalf("created = %v, want PENDING with the 3 gold tenants", created)
	}

	t.Run("the stream delivers each change until the rollout ends", func(t *testing.T) {
		var updates []*contentv1.Rollout
		for resp, err := range c.WatchRollout(ctx, &contentv1.WatchRolloutRequest{Name: created.GetName()}) {
			if err != nil {
				t.Fatalf("WatchRollout: %v", err)
			}
			updates = append(updates, resp.GetRollout())
		}
		if len(updates) == 0 {
			t.Fatal("the stream ended without an update")
		}
		final := updates[len(updates)-1]
		if p := final.GetProgress(); final.GetState() != contentv1.Rollout_STATE_COMPLETED || p.GetSucceeded() != 2 || p.GetFailed() != 1 || p.GetTotal() != 3 {
			t.Errorf("last update = %v %v, want COMPLETED with 2 succeeded and 1 failed", final.GetState(), p)
		}
		for i, r := range updates[:len(updates)-1] {
			if client.RolloutEnded(r.GetState()) {
				t.Errorf("update %d is already final (%v) yet more followed", i, r.GetState())
			}
			if next := updates[i+1]; next.GetState() == r.GetState() && proto.Equal(next.GetProgress(), r.GetProgress()) {
				t.Errorf("updates %d and %d are the same: %v", i, i+1, r.GetProgress())
			}
		}
	})

	t.Run("watching an ended rollout yields it once", func(t *testing.T) {
		var n int
		for resp, err := range c.WatchRollout(ctx, &contentv1.WatchRolloutRequest{Name: created.GetName()}) {
			if err != nil {
				t.Fatal(err)
			}
			if resp.GetRollout().GetState() != contentv1.Rollout_STATE_COMPLETED {
				t.Errorf("state = %v", resp.GetRollout().GetState())
			}
			n++
		}
		if n != 1 {
			t.Errorf("%d updates, want 1", n)
		}
	})

	t.Run("targets say how each tenant fared", func(t *testing.T) {
		resp, err := c.ListRolloutTargets(ctx, &contentv1.ListRolloutTargetsRequest{Parent: created.GetName(), Status: contentv1.RolloutTarget_STATUS_FAILED})
		if err != nil {
			t.Fatal(err)
		}
		if ts := resp.GetTargets(); len(ts) != 1 || ts[0].GetTenant() != "tenants/gold-c" || !strings.Contains(ts[0].GetReason(), `"schema"`) {
			t.Errorf("failed targets = %v, want gold-c, for want of schema", ts)
		}
		var statuses []string
		for tg, err := range c.AllRolloutTargets(ctx, &contentv1.ListRolloutTargetsRequest{Parent: created.GetName(), PageSize: 2}) {
			if err != nil {
				t.Fatal(err)
			}
			statuses = append(statuses, tg.GetTenant()+" "+tg.GetStatus().String())
		}
		want := []string{"tenants/gold-a STATUS_SUCCEEDED", "tenants/gold-b STATUS_SUCCEEDED", "tenants/gold-c STATUS_FAILED"}
		if !slices.Equal(statuses, want) {
			t.Errorf("targets = %v, want %v", statuses, want)
		}
	})

	t.Run("get and list show the rollout", func(t *testing.T) {
		got, err := c.GetRollout(ctx, &contentv1.GetRolloutRequest{Name: created.GetName()})
		if err != nil || got.GetRollout().GetState() != contentv1.Rollout_STATE_COMPLETED {
			t.Fatalf("GetRollout = %v, %v", got.GetRollout(), err)
		}
		var names []string
		for r, err := range c.AllRollouts(ctx, &contentv1.ListRolloutsRequest{}) {
			if err != nil {
				t.Fatal(err)
			}
			names = append(names, r.GetName())
		}
		if !slices.Equal(names, []string{created.GetName()}) {
			t.Errorf("rollouts = %v", names)
		}
	})

	t.Run("an ended rollout cannot be cancelled, but it can be rolled back", func(t *testing.T) {
		_, err := c.CancelRollout(ctx, &contentv1.CancelRolloutRequest{Name: created.GetName()})
		apiError(t, err, http.StatusBadRequest, "ROLLOUT_STATE")
		rb, err := c.RollbackRollout(ctx, &contentv1.RollbackRolloutRequest{Name: created.GetName()})
		if err != nil {
			t.Fatal(err)
		}
		if s := rb.GetRollout().GetState(); s != contentv1.Rollout_STATE_ROLLING_BACK && s != contentv1.Rollout_STATE_ROLLED_BACK {
			t.Errorf("after rollback: %v", s)
		}
		final := follow(t, c, created.GetName())
		if final.GetState() != contentv1.Rollout_STATE_ROLLED_BACK || final.GetProgress().GetRolledBack() != 2 {
			t.Errorf("ended %v %v, want ROLLED_BACK with the 2 deployed tenants rolled back", final.GetState(), final.GetProgress())
		}
		// The rollout created the app, so rolling back deletes it, restorably.
		app, err := c.GetApp(ctx, &contentv1.GetAppRequest{Name: "tenants/gold-a/apps/sales"})
		if err != nil || app.GetApp().GetState() != contentv1.App_STATE_DELETED {
			t.Errorf("gold-a's app after the rollback: %v, %v; want it DELETED", app.GetApp(), err)
		}
	})

	t.Run("watching a rollout that does not exist is NOT_FOUND", func(t *testing.T) {
		for _, err := range c.WatchRollout(ctx, &contentv1.WatchRolloutRequest{Name: "rollouts/nowhere"}) {
			e := apiError(t, err, http.StatusNotFound, "RESOURCE_NOT_FOUND")
			if e.Status != "NOT_FOUND" || e.RequestID == "" {
				t.Errorf("error = %+v, want status NOT_FOUND and a request id", e)
			}
			return
		}
		t.Error("the watch yielded nothing")
	})
}

func TestContentNamesAreCheckedBeforeAnyRequest(t *testing.T) {
	t.Parallel()
	var calls atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { calls.Add(1) }))
	defer srv.Close()
	c := client.New(srv.URL, "k", nil)
	ctx := testContext(t)
	for name, call := range map[string]func() error{
		"space without tenant": func() error { _, err := c.GetSpace(ctx, &contentv1.GetSpaceRequest{Name: "spaces/x"}); return err },
		"member path escape": func() error {
			_, err := c.DeleteSpaceMember(ctx, &contentv1.DeleteSpaceMemberRequest{Name: "tenants/a/spaces/s/members/.."})
			return err
		},
		"app with a verb": func() error {
			_, err := c.GetApp(ctx, &contentv1.GetAppRequest{Name: "tenants/a/apps/x:export"})
			return err
		},
		"revision of a space": func() error {
			_, err := c.RestoreAppRevision(ctx, &contentv1.RestoreAppRevisionRequest{Name: "tenants/a/spaces/x/revisions/1"})
			return err
		},
		"version that is ..": func() error {
			_, err := c.GetTemplateVersion(ctx, &contentv1.GetTemplateVersionRequest{Name: "templates/t/versions/.."})
			return err
		},
		"template with a slash": func() error {
			_, err := c.GetTemplate(ctx, &contentv1.GetTemplateRequest{Name: "templates/a/b"})
			return err
		},
		"rollout watch": func() error {
			for _, err := range c.WatchRollout(ctx, &contentv1.WatchRolloutRequest{Name: "rollouts/"}) {
				return err
			}
			return nil
		},
	} {
		if err := call(); !errors.Is(err, client.ErrInvalidName) {
			t.Errorf("%s: error = %v, want ErrInvalidName", name, err)
		}
	}
	if n := calls.Load(); n != 0 {
		t.Errorf("%d requests reached the edge", n)
	}
	// Dots are fine inside a version id.
	if _, err := c.GetTemplateVersion(ctx, &contentv1.GetTemplateVersionRequest{Name: "templates/t/versions/1.2.0"}); errors.Is(err, client.ErrInvalidName) {
		t.Errorf("version 1.2.0 refused: %v", err)
	}
}

// fakeWatchEdge serves watches of rollouts/big as the edge does, from scripts: each watch
// gets the next script's lines, one per update or error object, then the response ends.
func fakeWatchEdge(t *testing.T, scripts ...[]string) (*httptest.Server, *atomic.Int32) {
	return fakeWatchEdgeAt(t, "/v1/rollouts/big:watch", scripts...)
}

// fakeWatchEdgeAt is fakeWatchEdge for the watch at path.
func fakeWatchEdgeAt(t *testing.T, path string, scripts ...[]string) (*httptest.Server, *atomic.Int32) {
	t.Helper()
	var watches atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != path {
			http.NotFound(w, r)
			return
		}
		n := int(watches.Add(1)) - 1
		if n >= len(scripts) {
			t.Errorf("watch %d: more watches than scripted", n+1)
			w.WriteHeader(http.StatusInternalServerError)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		for _, line := range scripts[n] {
			_, _ = io.WriteString(w, line+"\n")
			w.(http.Flusher).Flush()
		}
	}))
	t.Cleanup(srv.Close)
	return srv, &watches
}

func update(state string, succeeded int) string {
	return fmt.Sprintf(`{"result":{"rollout":{"name":"rollouts/big","state":"%s","progress":{"total":3,"succeeded":%d,"pending":%d}}}}`,
		state, succeeded, 3-succeeded)
}

func TestFollowRolloutWatchesAgainWhenTheEdgeEndsAWatchEarly(t *testing.T) {
	t.Parallel()
	// What the edge does at its call timeout: an error object, DEADLINE_EXCEEDED by its
	// gRPC number, after the updates so far. Then a watch that just ends.
	deadline := `{"error":{"code":4,"message":"context deadline exceeded","details":[]}}`
	srv, watches := fakeWatchEdge(t,
		[]string{update("STATE_RUNNING", 0), update("STATE_RUNNING", 1), deadline},
		[]string{update("STATE_RUNNING", 1)},
		[]string{update("STATE_RUNNING", 1), update("STATE_RUNNING", 2), update("STATE_COMPLETED", 3)},
	)
	c := client.New(srv.URL, "k", nil)
	var seen []string
	for r, err := range c.FollowRollout(testContext(t), "rollouts/big") {
		if err != nil {
			t.Fatalf("FollowRollout: %v", err)
		}
		seen = append(seen, fmt.Sprintf("%s %d", r.GetState(), r.GetProgress().GetSucceeded()))
	}
	want := []string{"STATE_RUNNING 0", "STATE_RUNNING 1", "STATE_RUNNING 2", "STATE_COMPLETED 3"}
	if !slices.Equal(seen, want) {
		t.Errorf("updates = %v, want %v: each change once, across the watches", seen, want)
	}
	if n := watches.Load(); n != 3 {
		t.Errorf("%d watches, want 3", n)
	}
}

func TestFollowRolloutStopsAtAnErrorThatWatchingAgainWouldNotCure(t *testing.T) {
	t.Parallel()
	denied := `{"error":{"code":7,"message":"needs content.read","details":[{"@type":"type.googleapis.com/google.rpc.ErrorInfo","reason":"PERMISSION_DENIED","domain":"oriel.dev"}]}}`
	srv, watches := fakeWatchEdge(t, []string{update("STATE_RUNNING", 0), denied})
	c := client.New(srv.URL, "k", nil)
	var got error
	for _, err := range c.FollowRollout(testContext(t), "rollouts/big") {
		got = err
	}
	e := apiError(t, got, http.StatusForbidden, "PERMISSION_DENIED")
	if e.Status != "PERMISSION_DENIED" || e.Message != "needs content.read" {
		t.Errorf("error = %+v", e)
	}
	if n := watches.Load(); n != 1 {
		t.Errorf("%d watches, want 1", n)
	}
}

func TestFollowRolloutEndsWithItsContext(t *testing.T) {
	t.Parallel()
	// An edge whose watches end at once without an update, forever.
	var scripts [][]string
	for range 20 {
		scripts = append(scripts, []string{update("STATE_RUNNING", 0)})
	}
	srv, _ := fakeWatchEdge(t, scripts...)
	c := client.New(srv.URL, "k", nil)
	ctx, cancel := context.WithTimeout(t.Context(), 300*time.Millisecond)
	defer cancel()
	var got error
	for _, err := range c.FollowRollout(ctx, "rollouts/big") {
		got = err
	}
	if !errors.Is(got, context.DeadlineExceeded) {
		t.Errorf("error = %v, want the context's deadline", got)
	}
}
