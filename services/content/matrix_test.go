package content_test

import (
	"context"
	"errors"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/fieldmaskpb"
	"google.golang.org/protobuf/types/known/timestamppb"

	contentv1 "github.com/oriel-dev/oriel/gen/pb/oriel/content/v1"
	"github.com/oriel-dev/oriel/platform/apierr"
	"github.com/oriel-dev/oriel/platform/auth"
	"github.com/oriel-dev/oriel/platform/testkit"
	"github.com/oriel-dev/oriel/services/content/internal/authz"
	"github.com/oriel-dev/oriel/services/content/internal/store"
)

// cell is one kind of caller, in a tenant of its own, with the fixtures the calls of one
// row of the matrix need.
type cell struct {
	s      *service
	column string
	tenant string
	// other is another tenant, for cross-tenant copies.
	other  string
	caller *auth.Principal
	ctx    context.Context

	// Content: spaces of tenant where the caller's user (or, for the producer, its group)
	// holds the column's role, apps in shared owned by the caller and by someone else, and
	// a member of shared that is not the caller.
	shared, shared2, managed, spare, otherSpace string
	ownApp, othersApp, member                   string

	// Platform: a template with a version, and a rollout that has ended or one still running.
	template, version, ended, running string

	// reload is a succeeded reload of othersApp.
	reload string
}

// callerFor is the principal of a column of the matrix, in tenant.
func callerFor(column, tenant string) *auth.Principal {
	read, write := auth.ScopeContentRead, auth.ScopeContentWrite
	user := func(roles ...string) *auth.Principal {
		var groups []string
		if column == "dev-producer" {
			// This column holds its space role through a group, so the matrix covers roles
			// given to groups as well as to users.
			groups = []string{"producers"}
		}
		return embedUser(tenant, "u-"+column, roles, groups, nil)
	}
	switch column {
	case "platform-write":
		return platformAccount(testkit.UniqueID("isv"), read, write)
	case "platform-read":
		return platformAccount(testkit.UniqueID("isv"), read)
	case "tenant-write":
		return tenantAccount(tenant, "backend", read, write)
	case "tenant-read":
		return tenantAccount(tenant, "backend", read)
	case "admin":
		return user("admin")
	case "dev-facilitator", "dev-producer", "dev-contributor", "dev-consumer", "dev-none":
		return user("developer")
	case "viewer-role", "viewer-none":
		return user("viewer")
	case "no-role":
		return user()
	}
	panic("no caller for column " + column)
}

// spaceRoleFor is the role a column's user holds in every space of the fixture.
func spaceRoleFor(column string) contentv1.SpaceRole {
	switch column {
	case "dev-facilitator", "viewer-role", "no-role":
		return contentv1.SpaceRole_SPACE_ROLE_FACILITATOR
	case "dev-producer":
		return contentv1.SpaceRole_SPACE_ROLE_PRODUCER
	case "dev-contributor":
		return contentv1.SpaceRole_SPACE_ROLE_CONTRIBUTOR
	case "dev-consumer":
		return contentv1.SpaceRole_SPACE_ROLE_CONSUMER
	}
	return contentv1.SpaceRole_SPACE_ROLE_UNSPECIFIED
}

func newCell(s *service, column string) *cell {
	c := &cell{s: s, column: column, tenant: testkit.UniqueID("t"), other: testkit.UniqueID("o")}
	c.caller = callerFor(column, c.tenant)
	c.ctx = s.as(c.caller)
	return c
}

// withContent makes the spaces, memberships and apps.
func (c *cell) withContent(t *testing.T) {
	s := c.s
	c.shared = s.createSpace(t, c.tenant, "shared", contentv1.Space_TYPE_SHARED)
	c.shared2 = s.createSpace(t, c.tenant, "shared2", contentv1.Space_TYPE_SHARED)
	c.managed = s.createSpace(t, c.tenant, "managed", contentv1.Space_TYPE_MANAGED)
	c.spare = s.createSpace(t, c.tenant, "spare", contentv1.Space_TYPE_SHARED)
	c.otherSpace = s.createSpace(t, c.other, "elsewhere", contentv1.Space_TYPE_SHARED)
	if role := spaceRoleFor(c.column); role != contentv1.SpaceRole_SPACE_ROLE_UNSPECIFIED {
		member := c.caller.ID
		if es := c.caller.EmbedSession; es != nil && len(es.Groups) > 0 {
			member = es.Groups[0]
		}
		for _, space := range []string{c.shared, c.shared2, c.managed, c.spare} {
			s.grant(t, space, member, role)
		}
	}
	someone := userName(c.tenant, "someone")
	s.grant(t, c.shared, someone, contentv1.SpaceRole_SPACE_ROLE_CONSUMER)
	c.member = c.shared + "/members/" + store.MemberID(someone)
	c.ownApp = s.putApp(t, c.tenant, "own", c.shared, c.caller.ID)
	c.othersApp = s.putApp(t, c.tenant, "others", c.shared, someone)
}

// deleteApps deletes the fixture's apps (for undelete), as the store does for DeleteApp.
func (c *cell) deleteApps(t *testing.T) {
	now := c.s.clock.Now().UTC().Truncate(time.Microsecond)
	purge := now.Add(14 * 24 * time.Hour)
	for _, app := range []string{c.ownApp, c.othersApp} {
		err := c.s.store.ReadWriteTx(context.Background(), func(ctx context.Context, tx store.Tx) error {
			_, err := tx.SetAppState(ctx, c.tenant, testkit.ResourceID(app), "", contentv1.App_STATE_DELETED, &purge, now)
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
	}
}

// withTemplate makes a template with version v1.
func (c *cell) withTemplate(t *testing.T) {
	id := testkit.UniqueID("tpl")
	c.template = store.TemplateName(id)
	if _, err := c.s.templates.CreateTemplate(c.s.isv, &contentv1.CreateTemplateRequest{
		TemplateId: id, Template: &contentv1.Template{DisplayName: "Sales"},
	}); err != nil {
		t.Fatal(err)
	}
	resp, err := c.s.templates.CreateTemplateVersion(c.s.isv, &contentv1.CreateTemplateVersionRequest{
		Parent: c.template, VersionId: "v1",
		TemplateVersion: &contentv1.TemplateVersion{Title: "Sales", Definition: &contentv1.AppDefinition{
			Sheets: definition("").GetSheets(), LoadScript: "SELECT 1",
		}},
	})
	if err != nil {
		t.Fatal(err)
	}
	c.version = resp.GetTemplateVersion().GetName()
}

// withEndedRollout makes a rollout that has ended: COMPLETED, its one tenant skipped,
// written through the store in one transaction, so no engine ever touches it.
func (c *cell) withEndedRollout(t *testing.T) {
	c.withTemplate(t)
	id := testkit.UniqueID("r")
	c.ended = store.RolloutName(id)
	now := c.s.clock.Now().UTC().Truncate(time.Microsecond)
	err := c.s.store.ReadWriteTx(context.Background(), func(ctx context.Context, tx store.Tx) error {
		target := &store.Target{Rollout: id, Tenant: c.tenant, Wave: 1, Status: contentv1.RolloutTarget_STATUS_PENDING, App: "sales"}
		if err := tx.CreateRollout(ctx, id, &contentv1.Rollout{
			Name: c.ended, TemplateVersion: c.version, SpaceId: "templates", AppId: "sales",
			Selector: &contentv1.TenantSelector{Tenants: []string{store.TenantName(c.tenant)}},
			Creator:  "serviceAccounts/isv", CreateTime: timestamppb.New(now),
		}, []*store.Target{target}); err != nil {
			return err
		}
		target.Status, target.Reason = contentv1.RolloutTarget_STATUS_SKIPPED, "already at this version"
		if err := tx.UpdateTarget(ctx, target, now); err != nil {
			return err
		}
		_, err := tx.TransitionRollout(ctx, id, []contentv1.Rollout_State{contentv1.Rollout_STATE_PENDING},
			contentv1.Rollout_STATE_COMPLETED, now, &now)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
}

// withRunningRollout makes a rollout still running: 200 tenants one at a time, which
// takes the engine seconds, so the cancel that follows at once finds it PENDING or
// RUNNING. It is cancelled when the test ends, whatever the test did.
func (c *cell) withRunningRollout(t *testing.T) {
	c.withTemplate(t)
	var tenants []string
	for i := range 200 {
		tenants = append(tenants, store.TenantName(c.tenant+"-"+strconv.Itoa(i)))
	}
	resp, err := c.s.rollouts.CreateRollout(c.s.isv, &contentv1.CreateRolloutRequest{Rollout: &contentv1.Rollout{
		TemplateVersion: c.version, Selector: &contentv1.TenantSelector{Tenants: tenants},
		Strategy: &contentv1.Strategy{MaxParallel: 1},
	}})
	if err != nil {
		t.Fatal(err)
	}
	c.running = resp.GetRollout().GetName()
	t.Cleanup(func() {
		_, _ = c.s.rollouts.CancelRollout(c.s.isv, &contentv1.CancelRolloutRequest{Name: c.running})
	})
}

// errNotListed stands for "the list left the fixture out", which the matrix writes as —.
var errNotListed = status.Error(codes.NotFound, "the fixture is not in the list")

// matrixCall is how the matrix test makes one row's call.
type matrixCall struct {
	// setup makes the fixtures the call needs.
	setup func(t *testing.T, c *cell)
	call  func(c *cell) error
}

func spacesAndApps(t *testing.T, c *cell) { c.withContent(t) }

func deletedContent(t *testing.T, c *cell) { c.withContent(t); c.deleteApps(t) }

func templates(t *testing.T, c *cell) { c.withTemplate(t) }

func endedRollout(t *testing.T, c *cell) { c.withEndedRollout(t) }

func runningRollout(t *testing.T, c *cell) { c.withRunningRollout(t) }

// loadedApps makes the content and reloads another's app, so its data can be read.
func loadedApps(t *testing.T, c *cell) {
	c.withContent(t)
	c.reload = c.s.reloadAndWait(t, c.othersApp)
}

func ignore[T any](_ T, err error) error { return err }

// matrixCalls are the calls of every row of the matrix, by row key.
var matrixCalls = map[string]matrixCall{
	"CreateSpace/shared": {spacesAndApps, func(c *cell) error {
		return ignore(c.s.spaces.CreateSpace(c.ctx, &contentv1.CreateSpaceRequest{
			Parent: store.TenantName(c.tenant), SpaceId: "new", Space: &contentv1.Space{DisplayName: "New", Type: contentv1.Space_TYPE_SHARED},
		}))
	}},
	"CreateSpace/managed": {spacesAndApps, func(c *cell) error {
		return ignore(c.s.spaces.CreateSpace(c.ctx, &contentv1.CreateSpaceRequest{
			Parent: store.TenantName(c.tenant), SpaceId: "new", Space: &contentv1.Space{DisplayName: "New", Type: contentv1.Space_TYPE_MANAGED},
		}))
	}},
	"GetSpace": {spacesAndApps, func(c *cell) error {
		return ignore(c.s.spaces.GetSpace(c.ctx, &contentv1.GetSpaceRequest{Name: c.shared}))
	}},
	"ListSpaces": {spacesAndApps, func(c *cell) error {
		resp, err := c.s.spaces.ListSpaces(c.ctx, &contentv1.ListSpacesRequest{Parent: store.TenantName(c.tenant), PageSize: 1000})
		if err != nil {
			return err
		}
		if !slices.ContainsFunc(resp.GetSpaces(), func(sp *contentv1.Space) bool { return sp.GetName() == c.shared }) {
			return errNotListed
		}
		return nil
	}},
	"UpdateSpace": {spacesAndApps, func(c *cell) error {
		return ignore(c.s.spaces.UpdateSpace(c.ctx, &contentv1.UpdateSpaceRequest{
			Space: &contentv1.Space{Name: c.shared, DisplayName: "Renamed"}, UpdateMask: &fieldmaskpb.FieldMask{Paths: []string{"display_name"}},
		}))
	}},
	"DeleteSpace": {spacesAndApps, func(c *cell) error {
		return ignore(c.s.spaces.DeleteSpace(c.ctx, &contentv1.DeleteSpaceRequest{Name: c.spare}))
	}},
	"CreateSpaceMember": {spacesAndApps, func(c *cell) error {
		return ignore(c.s.spaces.CreateSpaceMember(c.ctx, &contentv1.CreateSpaceMemberRequest{
			Parent: c.shared, SpaceMember: &contentv1.SpaceMember{User: userName(c.tenant, "newcomer"), Role: contentv1.SpaceRole_SPACE_ROLE_CONSUMER},
		}))
	}},
	"ListSpaceMembers": {spacesAndApps, func(c *cell) error {
		return ignore(c.s.spaces.ListSpaceMembers(c.ctx, &contentv1.ListSpaceMembersRequest{Parent: c.shared}))
	}},
	"DeleteSpaceMember": {spacesAndApps, func(c *cell) error {
		return ignore(c.s.spaces.DeleteSpaceMember(c.ctx, &contentv1.DeleteSpaceMemberRequest{Name: c.member}))
	}},

	"CreateApp": {spacesAndApps, func(c *cell) error {
		return ignore(c.s.apps.CreateApp(c.ctx, &contentv1.CreateAppRequest{
			Parent: store.TenantName(c.tenant), App: &contentv1.App{Title: "New", Space: c.shared, Definition: definition("SELECT 1")},
		}))
	}},
	"GetApp": {spacesAndApps, func(c *cell) error {
		return ignore(c.s.apps.GetApp(c.ctx, &contentv1.GetAppRequest{Name: c.othersApp}))
	}},
	"ListApps": {spacesAndApps, func(c *cell) error {
		resp, err := c.s.apps.ListApps(c.ctx, &contentv1.ListAppsRequest{Parent: store.TenantName(c.tenant), PageSize: 1000})
		if err != nil {
			return err
		}
		if !slices.ContainsFunc(resp.GetApps(), func(a *contentv1.App) bool { return a.GetName() == c.othersApp }) {
			return errNotListed
		}
		return nil
	}},
	"UpdateApp/own app":          {spacesAndApps, func(c *cell) error { return updateTitle(c, c.ownApp) }},
	"UpdateApp/another's app":    {spacesAndApps, func(c *cell) error { return updateTitle(c, c.othersApp) }},
	"DeleteApp/own app":          {spacesAndApps, func(c *cell) error { return deleteApp(c, c.ownApp) }},
	"DeleteApp/another's app":    {spacesAndApps, func(c *cell) error { return deleteApp(c, c.othersApp) }},
	"UndeleteApp/own app":        {deletedContent, func(c *cell) error { return undeleteApp(c, c.ownApp) }},
	"UndeleteApp/another's app":  {deletedContent, func(c *cell) error { return undeleteApp(c, c.othersApp) }},
	"RestoreAppRevision/own app": {spacesAndApps, func(c *cell) error { return restoreFirst(c, c.ownApp) }},
	"RestoreAppRevision/another's app": {spacesAndApps, func(c *cell) error {
		return restoreFirst(c, c.othersApp)
	}},
	"ListAppRevisions": {spacesAndApps, func(c *cell) error {
		return ignore(c.s.apps.ListAppRevisions(c.ctx, &contentv1.ListAppRevisionsRequest{Parent: c.othersApp}))
	}},
	"CopyApp/same tenant": {spacesAndApps, func(c *cell) error {
		return ignore(c.s.apps.CopyApp(c.ctx, &contentv1.CopyAppRequest{Name: c.othersApp, DestinationSpace: c.shared2}))
	}},
	"CopyApp/other tenant": {spacesAndApps, func(c *cell) error {
		return ignore(c.s.apps.CopyApp(c.ctx, &contentv1.CopyAppRequest{Name: c.othersApp, DestinationSpace: c.otherSpace}))
	}},
	"ExportApp": {spacesAndApps, func(c *cell) error {
		return ignore(c.s.apps.ExportApp(c.ctx, &contentv1.ExportAppRequest{Name: c.othersApp}))
	}},
	"ImportApp": {spacesAndApps, func(c *cell) error {
		return ignore(c.s.apps.ImportApp(c.ctx, &contentv1.ImportAppRequest{
			Parent: store.TenantName(c.tenant), Space: c.shared,
			Bundle: &contentv1.AppBundle{FormatVersion: 1, Title: "Imported", Definition: definition("SELECT 1")},
		}))
	}},
	"PublishApp": {spacesAndApps, func(c *cell) error {
		return ignore(c.s.apps.PublishApp(c.ctx, &contentv1.PublishAppRequest{Name: c.othersApp, TargetSpace: c.managed}))
	}},

	"CreateTemplate": {templates, func(c *cell) error {
		return ignore(c.s.templates.CreateTemplate(c.ctx, &contentv1.CreateTemplateRequest{
			TemplateId: testkit.UniqueID("tpl"), Template: &contentv1.Template{DisplayName: "New"},
		}))
	}},
	"GetTemplate": {templates, func(c *cell) error {
		return ignore(c.s.templates.GetTemplate(c.ctx, &contentv1.GetTemplateRequest{Name: c.template}))
	}},
	"ListTemplates": {templates, func(c *cell) error {
		return ignore(c.s.templates.ListTemplates(c.ctx, &contentv1.ListTemplatesRequest{}))
	}},
	"CreateTemplateVersion": {templates, func(c *cell) error {
		return ignore(c.s.templates.CreateTemplateVersion(c.ctx, &contentv1.CreateTemplateVersionRequest{
			Parent: c.template, VersionId: "v2",
			TemplateVersion: &contentv1.TemplateVersion{Title: "Sales", Definition: &contentv1.AppDefinition{LoadScript: "SELECT 2"}},
		}))
	}},
	"GetTemplateVersion": {templates, func(c *cell) error {
		return ignore(c.s.templates.GetTemplateVersion(c.ctx, &contentv1.GetTemplateVersionRequest{Name: c.version}))
	}},
	"ListTemplateVersions": {templates, func(c *cell) error {
		return ignore(c.s.templates.ListTemplateVersions(c.ctx, &contentv1.ListTemplateVersionsRequest{Parent: c.template}))
	}},
	"ListDrift": {templates, func(c *cell) error {
		return ignore(c.s.templates.ListDrift(c.ctx, &contentv1.ListDriftRequest{Parent: c.template}))
	}},

	"CreateRollout": {templates, func(c *cell) error {
		return ignore(c.s.rollouts.CreateRollout(c.ctx, &contentv1.CreateRolloutRequest{Rollout: &contentv1.Rollout{
			TemplateVersion: c.version, Selector: &contentv1.TenantSelector{Tenants: []string{store.TenantName(c.tenant)}},
		}}))
	}},
	"GetRollout": {endedRollout, func(c *cell) error {
		return ignore(c.s.rollouts.GetRollout(c.ctx, &contentv1.GetRolloutRequest{Name: c.ended}))
	}},
	"ListRollouts": {endedRollout, func(c *cell) error {
		return ignore(c.s.rollouts.ListRollouts(c.ctx, &contentv1.ListRolloutsRequest{}))
	}},
	"ListRolloutTargets": {endedRollout, func(c *cell) error {
		return ignore(c.s.rollouts.ListRolloutTargets(c.ctx, &contentv1.ListRolloutTargetsRequest{Parent: c.ended}))
	}},
	"CancelRollout": {runningRollout, func(c *cell) error {
		return ignore(c.s.rollouts.CancelRollout(c.ctx, &contentv1.CancelRolloutRequest{Name: c.running}))
	}},
	"RollbackRollout": {endedRollout, func(c *cell) error {
		return ignore(c.s.rollouts.RollbackRollout(c.ctx, &contentv1.RollbackRolloutRequest{Name: c.ended}))
	}},
	"WatchRollout": {endedRollout, func(c *cell) error {
		ctx, cancel := context.WithTimeout(c.ctx, 10*time.Second)
		defer cancel()
		stream, err := c.s.rollouts.WatchRollout(ctx, &contentv1.WatchRolloutRequest{Name: c.ended})
		if err != nil {
			return err
		}
		_, err = stream.Recv()
		return err
	}},
}

// viewData calls an AppDataService RPC about othersApp, which has data.
func viewData(call func(c *cell, data contentv1.AppDataServiceClient) error) matrixCall {
	return matrixCall{loadedApps, func(c *cell) error { return call(c, c.s.data) }}
}

// The rows of ReloadService and AppDataService.
func init() {
	more := map[string]matrixCall{
		"CreateReload/own app": {spacesAndApps, func(c *cell) error {
			return ignore(c.s.reloads.CreateReload(c.ctx, &contentv1.CreateReloadRequest{Parent: c.ownApp}))
		}},
		"CreateReload/another's app": {spacesAndApps, func(c *cell) error {
			return ignore(c.s.reloads.CreateReload(c.ctx, &contentv1.CreateReloadRequest{Parent: c.othersApp}))
		}},
		"GetReload": {loadedApps, func(c *cell) error {
			return ignore(c.s.reloads.GetReload(c.ctx, &contentv1.GetReloadRequest{Name: c.reload}))
		}},
		"ListReloads": {loadedApps, func(c *cell) error {
			return ignore(c.s.reloads.ListReloads(c.ctx, &contentv1.ListReloadsRequest{Parent: c.othersApp}))
		}},
		// The reload has ended, so a caller allowed to cancel it is told RELOAD_STATE: that
		// answer comes only after authorization, and the matrix counts it as allowed.
		"CancelReload/another's app": {loadedApps, func(c *cell) error {
			_, err := c.s.reloads.CancelReload(c.ctx, &contentv1.CancelReloadRequest{Name: c.reload})
			if apierr.Reason(err) == "RELOAD_STATE" {
				return nil
			}
			return err
		}},
		"WatchReload": {loadedApps, func(c *cell) error {
			ctx, cancel := context.WithTimeout(c.ctx, 10*time.Second)
			defer cancel()
			stream, err := c.s.reloads.WatchReload(ctx, &contentv1.WatchReloadRequest{Name: c.reload})
			if err != nil {
				return err
			}
			_, err = stream.Recv()
			return err
		}},
		"GetChartData": viewData(func(c *cell, d contentv1.AppDataServiceClient) error {
			return ignore(d.GetChartData(c.ctx, &contentv1.GetChartDataRequest{App: c.othersApp,
				Chart: &contentv1.ChartRef{Sheet: "overview", Chart: "by-region"}}))
		}),
		"GetFieldValues": viewData(func(c *cell, d contentv1.AppDataServiceClient) error {
			return ignore(d.GetFieldValues(c.ctx, &contentv1.GetFieldValuesRequest{App: c.othersApp, Field: "region"}))
		}),
		"GetDataModel": viewData(func(c *cell, d contentv1.AppDataServiceClient) error {
			return ignore(d.GetDataModel(c.ctx, &contentv1.GetDataModelRequest{App: c.othersApp}))
		}),
		"GetSelections": viewData(func(c *cell, d contentv1.AppDataServiceClient) error {
			return ignore(d.GetSelections(c.ctx, &contentv1.GetSelectionsRequest{App: c.othersApp}))
		}),
		"Select": viewData(func(c *cell, d contentv1.AppDataServiceClient) error {
			return ignore(d.Select(c.ctx, &contentv1.SelectRequest{App: c.othersApp, Field: "region", Values: []string{"EU"}}))
		}),
		"ClearSelections": viewData(func(c *cell, d contentv1.AppDataServiceClient) error {
			return ignore(d.ClearSelections(c.ctx, &contentv1.ClearSelectionsRequest{App: c.othersApp}))
		}),
		"BackSelections": viewData(func(c *cell, d contentv1.AppDataServiceClient) error {
			return ignore(d.BackSelections(c.ctx, &contentv1.BackSelectionsRequest{App: c.othersApp}))
		}),
		"ForwardSelections": viewData(func(c *cell, d contentv1.AppDataServiceClient) error {
			return ignore(d.ForwardSelections(c.ctx, &contentv1.ForwardSelectionsRequest{App: c.othersApp}))
		}),
	}
	for k, v := range more {
		matrixCalls[k] = v
	}
}

func updateTitle(c *cell, app string) error {
	return ignore(c.s.apps.UpdateApp(c.ctx, &contentv1.UpdateAppRequest{
		App: &contentv1.App{Name: app, Title: "Renamed"}, UpdateMask: &fieldmaskpb.FieldMask{Paths: []string{"title"}},
	}))
}

func deleteApp(c *cell, app string) error {
	return ignore(c.s.apps.DeleteApp(c.ctx, &contentv1.DeleteAppRequest{Name: app}))
}

func undeleteApp(c *cell, app string) error {
	return ignore(c.s.apps.UndeleteApp(c.ctx, &contentv1.UndeleteAppRequest{Name: app}))
}

func restoreFirst(c *cell, app string) error {
	return ignore(c.s.apps.RestoreAppRevision(c.ctx, &contentv1.RestoreAppRevisionRequest{Name: app + "/revisions/1"}))
}

// TestAuthorizationMatrix calls every RPC of the matrix (authz.Matrix, the README's "Who
// may do what") as every kind of caller, each cell in a tenant of its own with fresh
// fixtures, and expects exactly the cell: OK for ✓, PERMISSION_DENIED for ✗, and for —
// NOT_FOUND, or, from a list, an answer without the fixture.
func TestAuthorizationMatrix(t *testing.T) {
	t.Parallel()
	s := startService(t)
	for _, row := range authz.Matrix() {
		mc, ok := matrixCalls[row.Key()]
		if !ok {
			t.Errorf("no call for the matrix row %s", row.Key())
			continue
		}
		for _, col := range authz.Columns {
			t.Run(row.Key()+"/"+col.Key, func(t *testing.T) {
				t.Parallel()
				c := newCell(s, col.Key)
				mc.setup(t, c)
				err := mc.call(c)
				want := map[authz.Outcome]codes.Code{
					authz.Allowed: codes.OK, authz.Denied: codes.PermissionDenied, authz.Invisible: codes.NotFound,
				}[row.Cell(col.Key)]
				if got := status.Code(err); got != want {
					t.Fatalf("%s as %s: got %v, want %s (%s)", row.Key(), col.Title, err, want, row.Cell(col.Key).Symbol())
				}
				if errors.Is(err, errNotListed) || err == nil || c.caller.IsPlatform() {
					return
				}
				// A refusal names the resource it is about, or what the caller may not do;
				// never anything of another tenant's.
				if strings.Contains(status.Convert(err).Message(), c.other) {
					t.Errorf("the refusal mentions the other tenant: %v", err)
				}
			})
		}
	}
	for key := range matrixCalls {
		if !slices.ContainsFunc(authz.Matrix(), func(r authz.Row) bool { return r.Key() == key }) {
			t.Errorf("a call for %s, which is no row of the matrix", key)
		}
	}
}
