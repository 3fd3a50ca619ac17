package content_test

import (
	"context"
	"slices"
	"strings"
	"testing"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/fieldmaskpb"

	contentv1 "github.com/oriel-dev/oriel/gen/pb/oriel/content/v1"
	"github.com/oriel-dev/oriel/platform/apierr"
	"github.com/oriel-dev/oriel/platform/auth"
	"github.com/oriel-dev/oriel/platform/testkit"
	"github.com/oriel-dev/oriel/services/content/internal/store"
)

// TestCrossTenantIsolation gives every space and app RPC another tenant's resources, as
// callers of a tenant with every power in their own (admin, a content.write service
// account, and a developer who facilitates a space with the same id as the victim's):
// each is NOT_FOUND, worded exactly as for a resource that does not exist, and lists never
// show another tenant's items. (Templates and rollouts are the ISV's, not a tenant's: the
// matrix shows tenant callers refused them.)
func TestCrossTenantIsolation(t *testing.T) {
	t.Parallel()
	s := startService(t)
	victim, intruder := testkit.UniqueID("victim"), testkit.UniqueID("intruder")

	// The same ids in both tenants: an id alone must never reach across.
	var sales, published string
	for _, tenant := range []string{victim, intruder} {
		sales = s.createSpace(t, tenant, "sales", contentv1.Space_TYPE_SHARED)
		published = s.createSpace(t, tenant, "published", contentv1.Space_TYPE_MANAGED)
		s.grant(t, sales, userName(tenant, "dana"), contentv1.SpaceRole_SPACE_ROLE_FACILITATOR)
		s.grant(t, published, userName(tenant, "dana"), contentv1.SpaceRole_SPACE_ROLE_FACILITATOR)
		_ = must[*contentv1.CreateAppResponse](t)(s.apps.CreateApp(s.isv, &contentv1.CreateAppRequest{
			Parent: store.TenantName(tenant), AppId: "dashboard",
			App: &contentv1.App{Title: "Dashboard of " + tenant, Space: sales, Definition: definition(inlineOrders)},
		}))
	}
	// The victim's app has data, and a reload to ask about.
	victimReload := s.reloadAndWait(t, store.AppName(victim, "dashboard"))
	// The victim's resources, and made-up ones of the victim's tenant that do not exist.
	real := isolationNames{
		sales:     store.SpaceName(victim, "sales"),
		published: store.SpaceName(victim, "published"),
		app:       store.AppName(victim, "dashboard"),
		member:    store.SpaceMemberName(victim, "sales", store.MemberID(userName(victim, "dana"))),
		revision:  store.AppRevisionName(victim, "dashboard", 1),
		reload:    victimReload,
	}
	ghost := isolationNames{
		sales:     store.SpaceName(victim, "nosuch"),
		published: store.SpaceName(victim, "nosuch-managed"),
		app:       store.AppName(victim, "nosuch"),
		member:    store.SpaceMemberName(victim, "nosuch", "u-nobody"),
		revision:  store.AppRevisionName(victim, "nosuch", 1),
		reload:    store.AppName(victim, "nosuch") + "/reloads/r1",
	}
	own := struct{ sales, published, app string }{
		store.SpaceName(intruder, "sales"), store.SpaceName(intruder, "published"), store.AppName(intruder, "dashboard"),
	}
	victimParent := store.TenantName(victim)
	ownParent := store.TenantName(intruder)

	calls := []struct {
		name string
		call func(ctx context.Context, n isolationNames) error
	}{
		{"CreateSpace", func(ctx context.Context, _ isolationNames) error {
			return ignore(s.spaces.CreateSpace(ctx, &contentv1.CreateSpaceRequest{Parent: victimParent, SpaceId: "planted",
				Space: &contentv1.Space{DisplayName: "Planted", Type: contentv1.Space_TYPE_SHARED}}))
		}},
		{"GetSpace", func(ctx context.Context, n isolationNames) error {
			return ignore(s.spaces.GetSpace(ctx, &contentv1.GetSpaceRequest{Name: n.sales}))
		}},
		{"ListSpaces", func(ctx context.Context, _ isolationNames) error {
			return ignore(s.spaces.ListSpaces(ctx, &contentv1.ListSpacesRequest{Parent: victimParent}))
		}},
		{"UpdateSpace", func(ctx context.Context, n isolationNames) error {
			return ignore(s.spaces.UpdateSpace(ctx, &contentv1.UpdateSpaceRequest{Space: &contentv1.Space{Name: n.sales, DisplayName: "Mine"},
				UpdateMask: &fieldmaskpb.FieldMask{Paths: []string{"display_name"}}}))
		}},
		{"DeleteSpace", func(ctx context.Context, n isolationNames) error {
			return ignore(s.spaces.DeleteSpace(ctx, &contentv1.DeleteSpaceRequest{Name: n.published}))
		}},
		{"CreateSpaceMember", func(ctx context.Context, n isolationNames) error {
			return ignore(s.spaces.CreateSpaceMember(ctx, &contentv1.CreateSpaceMemberRequest{Parent: n.sales,
				SpaceMember: &contentv1.SpaceMember{User: userName(victim, "mole"), Role: contentv1.SpaceRole_SPACE_ROLE_FACILITATOR}}))
		}},
		{"ListSpaceMembers", func(ctx context.Context, n isolationNames) error {
			return ignore(s.spaces.ListSpaceMembers(ctx, &contentv1.ListSpaceMembersRequest{Parent: n.sales}))
		}},
		{"DeleteSpaceMember", func(ctx context.Context, n isolationNames) error {
			return ignore(s.spaces.DeleteSpaceMember(ctx, &contentv1.DeleteSpaceMemberRequest{Name: n.member}))
		}},
		{"CreateApp in the victim's tenant", func(ctx context.Context, n isolationNames) error {
			return ignore(s.apps.CreateApp(ctx, &contentv1.CreateAppRequest{Parent: victimParent,
				App: &contentv1.App{Title: "Planted", Space: n.sales}}))
		}},
		{"CreateApp in its own tenant, in the victim's space", func(ctx context.Context, n isolationNames) error {
			return ignore(s.apps.CreateApp(ctx, &contentv1.CreateAppRequest{Parent: ownParent,
				App: &contentv1.App{Title: "Planted", Space: n.sales}}))
		}},
		{"GetApp", func(ctx context.Context, n isolationNames) error {
			return ignore(s.apps.GetApp(ctx, &contentv1.GetAppRequest{Name: n.app}))
		}},
		{"ListApps", func(ctx context.Context, _ isolationNames) error {
			return ignore(s.apps.ListApps(ctx, &contentv1.ListAppsRequest{Parent: victimParent}))
		}},
		{"ListApps of its own tenant in the victim's space", func(ctx context.Context, n isolationNames) error {
			return ignore(s.apps.ListApps(ctx, &contentv1.ListAppsRequest{Parent: ownParent, Space: n.sales}))
		}},
		{"UpdateApp", func(ctx context.Context, n isolationNames) error {
			return ignore(s.apps.UpdateApp(ctx, &contentv1.UpdateAppRequest{App: &contentv1.App{Name: n.app, Title: "Mine"},
				UpdateMask: &fieldmaskpb.FieldMask{Paths: []string{"title"}}}))
		}},
		{"DeleteApp", func(ctx context.Context, n isolationNames) error {
			return ignore(s.apps.DeleteApp(ctx, &contentv1.DeleteAppRequest{Name: n.app}))
		}},
		{"UndeleteApp", func(ctx context.Context, n isolationNames) error {
			return ignore(s.apps.UndeleteApp(ctx, &contentv1.UndeleteAppRequest{Name: n.app}))
		}},
		{"ListAppRevisions", func(ctx context.Context, n isolationNames) error {
			return ignore(s.apps.ListAppRevisions(ctx, &contentv1.ListAppRevisionsRequest{Parent: n.app}))
		}},
		{"RestoreAppRevision", func(ctx context.Context, n isolationNames) error {
			return ignore(s.apps.RestoreAppRevision(ctx, &contentv1.RestoreAppRevisionRequest{Name: n.revision}))
		}},
		{"CopyApp out of the victim's tenant", func(ctx context.Context, n isolationNames) error {
			return ignore(s.apps.CopyApp(ctx, &contentv1.CopyAppRequest{Name: n.app, DestinationSpace: own.sales}))
		}},
		{"ExportApp", func(ctx context.Context, n isolationNames) error {
			return ignore(s.apps.ExportApp(ctx, &contentv1.ExportAppRequest{Name: n.app}))
		}},
		{"ImportApp into the victim's tenant", func(ctx context.Context, n isolationNames) error {
			return ignore(s.apps.ImportApp(ctx, &contentv1.ImportAppRequest{Parent: victimParent, Space: n.sales,
				Bundle: &contentv1.AppBundle{FormatVersion: 1, Title: "Planted"}}))
		}},
		{"ImportApp in its own tenant, into the victim's space", func(ctx context.Context, n isolationNames) error {
			return ignore(s.apps.ImportApp(ctx, &contentv1.ImportAppRequest{Parent: ownParent, Space: n.sales,
				Bundle: &contentv1.AppBundle{FormatVersion: 1, Title: "Planted"}}))
		}},
		{"PublishApp of the victim's app", func(ctx context.Context, n isolationNames) error {
			return ignore(s.apps.PublishApp(ctx, &contentv1.PublishAppRequest{Name: n.app, TargetSpace: own.published}))
		}},
		{"PublishApp of its own app into the victim's space", func(ctx context.Context, n isolationNames) error {
			return ignore(s.apps.PublishApp(ctx, &contentv1.PublishAppRequest{Name: own.app, TargetSpace: n.published}))
		}},
		{"CreateReload", func(ctx context.Context, n isolationNames) error {
			return ignore(s.reloads.CreateReload(ctx, &contentv1.CreateReloadRequest{Parent: n.app}))
		}},
		{"GetReload", func(ctx context.Context, n isolationNames) error {
			return ignore(s.reloads.GetReload(ctx, &contentv1.GetReloadRequest{Name: n.reload}))
		}},
		{"ListReloads", func(ctx context.Context, n isolationNames) error {
			return ignore(s.reloads.ListReloads(ctx, &contentv1.ListReloadsRequest{Parent: n.app}))
		}},
		{"CancelReload", func(ctx context.Context, n isolationNames) error {
			return ignore(s.reloads.CancelReload(ctx, &contentv1.CancelReloadRequest{Name: n.reload}))
		}},
		{"WatchReload", func(ctx context.Context, n isolationNames) error {
			stream, err := s.reloads.WatchReload(ctx, &contentv1.WatchReloadRequest{Name: n.reload})
			if err != nil {
				return err
			}
			_, err = stream.Recv()
			return err
		}},
		{"GetChartData", func(ctx context.Context, n isolationNames) error {
			return ignore(s.data.GetChartData(ctx, &contentv1.GetChartDataRequest{App: n.app, Hypercube: sumBy("region")}))
		}},
		{"GetChartData with the intruder's own selections", func(ctx context.Context, n isolationNames) error {
			return ignore(s.data.GetChartData(ctx, &contentv1.GetChartDataRequest{App: n.app, Hypercube: sumBy("region"),
				Selections: &contentv1.SelectionSet{Fields: []*contentv1.FieldSelection{{Field: "region", Values: []string{"EU"}}}}}))
		}},
		{"GetFieldValues", func(ctx context.Context, n isolationNames) error {
			return ignore(s.data.GetFieldValues(ctx, &contentv1.GetFieldValuesRequest{App: n.app, Field: "region"}))
		}},
		{"GetDataModel", func(ctx context.Context, n isolationNames) error {
			return ignore(s.data.GetDataModel(ctx, &contentv1.GetDataModelRequest{App: n.app}))
		}},
		{"GetSelections", func(ctx context.Context, n isolationNames) error {
			return ignore(s.data.GetSelections(ctx, &contentv1.GetSelectionsRequest{App: n.app}))
		}},
		{"Select", func(ctx context.Context, n isolationNames) error {
			return ignore(s.data.Select(ctx, &contentv1.SelectRequest{App: n.app, Field: "region", Values: []string{"EU"}}))
		}},
		{"ClearSelections", func(ctx context.Context, n isolationNames) error {
			return ignore(s.data.ClearSelections(ctx, &contentv1.ClearSelectionsRequest{App: n.app}))
		}},
		{"BackSelections", func(ctx context.Context, n isolationNames) error {
			return ignore(s.data.BackSelections(ctx, &contentv1.BackSelectionsRequest{App: n.app}))
		}},
		{"ForwardSelections", func(ctx context.Context, n isolationNames) error {
			return ignore(s.data.ForwardSelections(ctx, &contentv1.ForwardSelectionsRequest{App: n.app}))
		}},
	}

	intruders := map[string]*auth.Principal{
		"tenant admin":                 embedUser(intruder, "root", []string{"admin"}, nil, nil),
		"content.write account":        tenantAccount(intruder, "backend", auth.ScopeContentRead, auth.ScopeContentWrite),
		"developer facilitating sales": embedUser(intruder, "dana", []string{"developer"}, nil, nil),
	}
	for who, p := range intruders {
		ctx := s.as(p)
		for _, tc := range calls {
			t.Run(who+"/"+tc.name, func(t *testing.T) {
				err := tc.call(ctx, real)
				wantCode(t, err, codes.NotFound, "RESOURCE_NOT_FOUND")
				// The answer for what exists is the answer for what does not: the same
				// code, reason and wording, only the name differs.
				ghostErr := tc.call(ctx, ghost)
				wantCode(t, ghostErr, codes.NotFound, "RESOURCE_NOT_FOUND")
				if a, b := neutral(err, real), neutral(ghostErr, ghost); a != b {
					t.Errorf("another tenant's resource answers %q, a missing one %q", a, b)
				}
			})
		}

		t.Run(who+"/CopyApp into the victim's tenant", func(t *testing.T) {
			// Refused for what it is, a copy across tenants, before anything of the other
			// tenant is looked up: an existing space and a missing one answer alike.
			for _, dest := range []string{real.sales, ghost.sales} {
				_, err := s.apps.CopyApp(ctx, &contentv1.CopyAppRequest{Name: own.app, DestinationSpace: dest})
				wantCode(t, err, codes.PermissionDenied, "PERMISSION_DENIED")
				if strings.Contains(status.Convert(err).Message(), victim) {
					t.Errorf("the refusal names the other tenant: %v", err)
				}
			}
		})
		t.Run(who+"/CreateSpaceMember for the victim's user", func(t *testing.T) {
			_, err := s.spaces.CreateSpaceMember(ctx, &contentv1.CreateSpaceMemberRequest{Parent: own.sales,
				SpaceMember: &contentv1.SpaceMember{User: userName(victim, "dana"), Role: contentv1.SpaceRole_SPACE_ROLE_CONSUMER}})
			wantCode(t, err, codes.InvalidArgument, "INVALID_REQUEST")
		})
		t.Run(who+"/its own lists show none of the victim's items", func(t *testing.T) {
			assertOnlyTenant(t, s, ctx, intruder, own.sales)
		})
	}

	t.Run("a platform caller's lists of one tenant show only that tenant's items", func(t *testing.T) {
		assertOnlyTenant(t, s, s.isv, intruder, own.sales)
		assertOnlyTenant(t, s, s.isv, victim, real.sales)
	})
	t.Run("the victim's resources are untouched", func(t *testing.T) {
		sp := must[*contentv1.GetSpaceResponse](t)(s.spaces.GetSpace(s.isv, &contentv1.GetSpaceRequest{Name: real.sales}))
		app := must[*contentv1.GetAppResponse](t)(s.apps.GetApp(s.isv, &contentv1.GetAppRequest{Name: real.app}))
		members := must[*contentv1.ListSpaceMembersResponse](t)(s.spaces.ListSpaceMembers(s.isv, &contentv1.ListSpaceMembersRequest{Parent: real.sales}))
		if sp.GetSpace().GetDisplayName() != "Space sales" || app.GetApp().GetTitle() != "Dashboard of "+victim ||
			app.GetApp().GetRevision() != "1" || len(members.GetSpaceMembers()) != 1 {
			t.Fatalf("the victim's content changed: %v, %v, %v", sp, app, members)
		}
	})
}

// isolationNames are the resources of the victim's tenant that the intruder names.
type isolationNames struct{ sales, published, app, member, revision, reload string }

// neutral is an error's code, reason and message with the resource names of n in it
// replaced, to compare the answers about two sets of resources.
func neutral(err error, n isolationNames) string {
	msg := status.Convert(err).Message()
	for _, name := range []string{n.reload, n.revision, n.member, n.app, n.published, n.sales} {
		msg = strings.ReplaceAll(msg, name, "<name>")
	}
	return status.Code(err).String() + " " + apierr.Reason(err) + " " + msg
}

// assertOnlyTenant lists spaces, apps, a space's members and an app's revisions of tenant
// as ctx, and fails if any item is of another tenant; space is one of tenant's spaces.
func assertOnlyTenant(t *testing.T, s *service, ctx context.Context, tenant, space string) {
	t.Helper()
	prefix := store.TenantName(tenant) + "/"
	var names []string
	spaces := must[*contentv1.ListSpacesResponse](t)(s.spaces.ListSpaces(ctx, &contentv1.ListSpacesRequest{Parent: store.TenantName(tenant), PageSize: 1000}))
	for _, sp := range spaces.GetSpaces() {
		names = append(names, sp.GetName())
	}
	apps := must[*contentv1.ListAppsResponse](t)(s.apps.ListApps(ctx, &contentv1.ListAppsRequest{Parent: store.TenantName(tenant), PageSize: 1000, ShowDeleted: true}))
	for _, a := range apps.GetApps() {
		names = append(names, a.GetName(), a.GetSpace())
		revs := must[*contentv1.ListAppRevisionsResponse](t)(s.apps.ListAppRevisions(ctx, &contentv1.ListAppRevisionsRequest{Parent: a.GetName()}))
		for _, r := range revs.GetRevisions() {
			names = append(names, r.GetName())
		}
	}
	members := must[*contentv1.ListSpaceMembersResponse](t)(s.spaces.ListSpaceMembers(ctx, &contentv1.ListSpaceMembersRequest{Parent: space}))
	for _, m := range members.GetSpaceMembers() {
		names = append(names, m.GetName(), m.GetUser()+m.GetGroup())
	}
	if len(apps.GetApps()) == 0 || len(spaces.GetSpaces()) == 0 {
		t.Fatalf("the lists of %s are empty: nothing was proven", tenant)
	}
	if i := slices.IndexFunc(names, func(n string) bool { return !strings.HasPrefix(n, prefix) }); i >= 0 {
		t.Fatalf("a list of %s shows %s", tenant, names[i])
	}
}
