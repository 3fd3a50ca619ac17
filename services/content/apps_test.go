package content_test

import (
	"context"
	"encoding/json"
	"maps"
	"slices"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/fieldmaskpb"

	contentv1 "github.com/oriel-dev/oriel/gen/pb/oriel/content/v1"
	"github.com/oriel-dev/oriel/platform/apierr"
	"github.com/oriel-dev/oriel/platform/testkit"
	"github.com/oriel-dev/oriel/services/content/internal/store"
)

// workspace is a tenant with two shared spaces and a managed one, and a developer who is
// producer in the first shared space and contributor in the others.
type workspace struct {
	tenant                   string
	shared, shared2, managed string
	devID                    string
	dev                      context.Context
}

func newWorkspace(t *testing.T, s *service) *workspace {
	t.Helper()
	w := &workspace{tenant: testkit.UniqueID("t")}
	w.shared = s.createSpace(t, w.tenant, "shared", contentv1.Space_TYPE_SHARED)
	w.shared2 = s.createSpace(t, w.tenant, "shared2", contentv1.Space_TYPE_SHARED)
	w.managed = s.createSpace(t, w.tenant, "managed", contentv1.Space_TYPE_MANAGED)
	p := embedUser(w.tenant, "dev", []string{"developer"}, nil, nil)
	w.devID, w.dev = p.ID, s.as(p)
	s.grant(t, w.shared, w.devID, contentv1.SpaceRole_SPACE_ROLE_PRODUCER)
	s.grant(t, w.shared2, w.devID, contentv1.SpaceRole_SPACE_ROLE_CONTRIBUTOR)
	s.grant(t, w.managed, w.devID, contentv1.SpaceRole_SPACE_ROLE_CONTRIBUTOR)
	return w
}

// newApp creates an app with id in space as ctx.
func (s *service) newApp(t *testing.T, ctx context.Context, tenant, id, space string) *contentv1.App {
	t.Helper()
	resp, err := s.apps.CreateApp(ctx, &contentv1.CreateAppRequest{Parent: store.TenantName(tenant), AppId: id, App: &contentv1.App{
		Title: "Sales", Description: "Orders by region", Space: space, Labels: map[string]string{"team": "sales"},
		Definition: definition("orders: SQL SELECT * FROM $(schema).orders;"),
	}})
	if err != nil {
		t.Fatalf("create app %s: %v", id, err)
	}
	return resp.GetApp()
}

func (s *service) revisions(t *testing.T, ctx context.Context, app string) []*contentv1.AppRevision {
	t.Helper()
	return must[*contentv1.ListAppRevisionsResponse](t)(s.apps.ListAppRevisions(ctx, &contentv1.ListAppRevisionsRequest{Parent: app})).GetRevisions()
}

func revisionIDs(revs []*contentv1.AppRevision) []string {
	var out []string
	for _, r := range revs {
		out = append(out, testkit.ResourceID(r.GetName()))
	}
	return out
}

func titleUpdate(name, title string) *contentv1.UpdateAppRequest {
	return &contentv1.UpdateAppRequest{App: &contentv1.App{Name: name, Title: title}, UpdateMask: &fieldmaskpb.FieldMask{Paths: []string{"title"}}}
}

func TestEverySaveIsARevisionListedNewestFirstAndRestorable(t *testing.T) {
	t.Parallel()
	s := startService(t)
	w := newWorkspace(t, s)
	created := s.newApp(t, w.dev, w.tenant, "sales", w.shared)
	if created.GetRevision() != "1" || created.GetOwner() != w.devID || created.GetState() != contentv1.App_STATE_ACTIVE {
		t.Fatalf("created = %v; want revision 1, owned by %s, ACTIVE", created, w.devID)
	}

	renamed := must[*contentv1.UpdateAppResponse](t)(s.apps.UpdateApp(w.dev, titleUpdate(created.GetName(), "Sales 2026"))).GetApp()
	changed := proto.Clone(created.GetDefinition()).(*contentv1.AppDefinition)
	changed.LoadScript = "orders: SQL SELECT * FROM $(schema).orders WHERE year = 2026;"
	redefined := must[*contentv1.UpdateAppResponse](t)(s.apps.UpdateApp(w.dev, &contentv1.UpdateAppRequest{
		App: &contentv1.App{Name: created.GetName(), Definition: changed}, UpdateMask: &fieldmaskpb.FieldMask{Paths: []string{"definition"}},
	})).GetApp()
	if renamed.GetRevision() != "2" || redefined.GetRevision() != "3" || renamed.GetEtag() == created.GetEtag() {
		t.Fatalf("revisions %s, %s (etags %s, %s); want 2 and 3 with new etags", renamed.GetRevision(), redefined.GetRevision(), created.GetEtag(), renamed.GetEtag())
	}

	t.Run("an update that changes nothing writes nothing", func(t *testing.T) {
		same := must[*contentv1.UpdateAppResponse](t)(s.apps.UpdateApp(w.dev, titleUpdate(created.GetName(), "Sales 2026"))).GetApp()
		if same.GetRevision() != "3" || same.GetEtag() != redefined.GetEtag() {
			t.Fatalf("a no-op update made revision %s, etag %s; want 3 and %s", same.GetRevision(), same.GetEtag(), redefined.GetEtag())
		}
	})

	restored := must[*contentv1.RestoreAppRevisionResponse](t)(s.apps.RestoreAppRevision(w.dev, &contentv1.RestoreAppRevisionRequest{
		Name: created.GetName() + "/revisions/1", Etag: redefined.GetEtag(),
	})).GetApp()
	if restored.GetRevision() != "4" || restored.GetTitle() != "Sales" || !proto.Equal(restored.GetDefinition(), created.GetDefinition()) {
		t.Fatalf("restored = %v; want revision 4 with revision 1's title and definition", restored)
	}
	got := must[*contentv1.GetAppResponse](t)(s.apps.GetApp(w.dev, &contentv1.GetAppRequest{Name: created.GetName()})).GetApp()
	if !proto.Equal(got, restored) {
		t.Fatalf("GetApp = %v, want the latest revision %v", got, restored)
	}

	t.Run("ListAppRevisions pages newest first", func(t *testing.T) {
		first := must[*contentv1.ListAppRevisionsResponse](t)(s.apps.ListAppRevisions(w.dev, &contentv1.ListAppRevisionsRequest{Parent: created.GetName(), PageSize: 2}))
		rest := must[*contentv1.ListAppRevisionsResponse](t)(s.apps.ListAppRevisions(w.dev, &contentv1.ListAppRevisionsRequest{
			Parent: created.GetName(), PageSize: 2, PageToken: first.GetNextPageToken(),
		}))
		all := append(first.GetRevisions(), rest.GetRevisions()...)
		if ids := revisionIDs(all); !slices.Equal(ids, []string{"4", "3", "2", "1"}) || rest.GetNextPageToken() != "" {
			t.Fatalf("revisions %v (next %q), want 4 3 2 1 and no further page", ids, rest.GetNextPageToken())
		}
		wantSources := []contentv1.AppRevision_Source{
			contentv1.AppRevision_SOURCE_RESTORE, contentv1.AppRevision_SOURCE_SAVE, contentv1.AppRevision_SOURCE_SAVE, contentv1.AppRevision_SOURCE_SAVE,
		}
		for i, r := range all {
			if r.GetSource() != wantSources[i] || r.GetAuthor() != w.devID {
				t.Errorf("revision %s: %s by %s, want %s by %s", r.GetName(), r.GetSource(), r.GetAuthor(), wantSources[i], w.devID)
			}
		}
		if all[1].GetTitle() != "Sales 2026" || all[1].GetDefinition().GetLoadScript() != changed.GetLoadScript() {
			t.Errorf("revision 3 = %v, want the title and definition saved then", all[1])
		}
		// A token continues the listing it came from, not another app's.
		other := s.newApp(t, w.dev, w.tenant, "other", w.shared)
		_, err := s.apps.ListAppRevisions(w.dev, &contentv1.ListAppRevisionsRequest{Parent: other.GetName(), PageSize: 2, PageToken: first.GetNextPageToken()})
		wantCode(t, err, codes.InvalidArgument, "INVALID_PAGE_TOKEN")
	})

	t.Run("restoring a revision that does not exist is NOT_FOUND", func(t *testing.T) {
		_, err := s.apps.RestoreAppRevision(w.dev, &contentv1.RestoreAppRevisionRequest{Name: created.GetName() + "/revisions/99"})
		wantCode(t, err, codes.NotFound, "RESOURCE_NOT_FOUND")
	})
}

func TestEtagsGuardEveryChange(t *testing.T) {
	t.Parallel()
	s := startService(t)
	w := newWorkspace(t, s)
	app := s.newApp(t, w.dev, w.tenant, "sales", w.shared)
	stale := app.GetEtag()
	req := titleUpdate(app.GetName(), "Renamed")
	req.App.Etag = stale
	current := must[*contentv1.UpdateAppResponse](t)(s.apps.UpdateApp(w.dev, req)).GetApp().GetEtag()

	for name, call := range map[string]func(etag string) error{
		"UpdateApp": func(etag string) error {
			r := titleUpdate(app.GetName(), "Again")
			r.App.Etag = etag
			return ignore(s.apps.UpdateApp(w.dev, r))
		},
		"RestoreAppRevision": func(etag string) error {
			return ignore(s.apps.RestoreAppRevision(w.dev, &contentv1.RestoreAppRevisionRequest{Name: app.GetName() + "/revisions/1", Etag: etag}))
		},
		"DeleteApp": func(etag string) error {
			return ignore(s.apps.DeleteApp(w.dev, &contentv1.DeleteAppRequest{Name: app.GetName(), Etag: etag}))
		},
	} {
		t.Run(name, func(t *testing.T) {
			wantCode(t, call(stale), codes.Aborted, "ETAG_MISMATCH")
		})
	}
	if got := must[*contentv1.GetAppResponse](t)(s.apps.GetApp(w.dev, &contentv1.GetAppRequest{Name: app.GetName()})).GetApp(); got.GetEtag() != current || got.GetRevision() != "2" {
		t.Fatalf("after refused calls the app is %v; want it unchanged at revision 2", got)
	}
	must[*contentv1.DeleteAppResponse](t)(s.apps.DeleteApp(w.dev, &contentv1.DeleteAppRequest{Name: app.GetName(), Etag: current}))

	t.Run("spaces", func(t *testing.T) {
		sp := must[*contentv1.GetSpaceResponse](t)(s.spaces.GetSpace(s.isv, &contentv1.GetSpaceRequest{Name: w.shared2})).GetSpace()
		updated := must[*contentv1.UpdateSpaceResponse](t)(s.spaces.UpdateSpace(s.isv, &contentv1.UpdateSpaceRequest{
			Space: &contentv1.Space{Name: w.shared2, DisplayName: "Renamed", Etag: sp.GetEtag()},
		})).GetSpace()
		_, err := s.spaces.UpdateSpace(s.isv, &contentv1.UpdateSpaceRequest{Space: &contentv1.Space{Name: w.shared2, DisplayName: "Again", Etag: sp.GetEtag()}})
		wantCode(t, err, codes.Aborted, "ETAG_MISMATCH")
		_, err = s.spaces.DeleteSpace(s.isv, &contentv1.DeleteSpaceRequest{Name: w.shared2, Etag: sp.GetEtag()})
		wantCode(t, err, codes.Aborted, "ETAG_MISMATCH")
		must[*contentv1.DeleteSpaceResponse](t)(s.spaces.DeleteSpace(s.isv, &contentv1.DeleteSpaceRequest{Name: w.shared2, Etag: updated.GetEtag()}))
	})
}

func TestDeletedAppsStayReadableAndRestorableFor14DaysThenArePurged(t *testing.T) {
	t.Parallel()
	s := startService(t)
	w := newWorkspace(t, s)
	app := s.newApp(t, w.dev, w.tenant, "sales", w.shared)
	name := app.GetName()

	deleted := must[*contentv1.DeleteAppResponse](t)(s.apps.DeleteApp(w.dev, &contentv1.DeleteAppRequest{Name: name})).GetApp()
	if deleted.GetState() != contentv1.App_STATE_DELETED ||
		deleted.GetPurgeTime().AsTime().Sub(deleted.GetUpdateTime().AsTime()) != 14*24*time.Hour {
		t.Fatalf("deleted = %v; want DELETED with a purge time 14 days after the deletion", deleted)
	}
	got := must[*contentv1.GetAppResponse](t)(s.apps.GetApp(w.dev, &contentv1.GetAppRequest{Name: name})).GetApp()
	if got.GetState() != contentv1.App_STATE_DELETED || got.GetRevision() != "1" {
		t.Fatalf("GetApp of a deleted app = %v; want it, DELETED", got)
	}
	listed := func(showDeleted bool) bool {
		resp := must[*contentv1.ListAppsResponse](t)(s.apps.ListApps(w.dev, &contentv1.ListAppsRequest{Parent: store.TenantName(w.tenant), ShowDeleted: showDeleted}))
		return slices.ContainsFunc(resp.GetApps(), func(a *contentv1.App) bool { return a.GetName() == name })
	}
	if listed(false) || !listed(true) {
		t.Fatalf("listed without show_deleted: %v, with: %v; want only with", listed(false), listed(true))
	}

	t.Run("a deleted app cannot change", func(t *testing.T) {
		for what, err := range map[string]error{
			"UpdateApp":          ignore(s.apps.UpdateApp(w.dev, titleUpdate(name, "Renamed"))),
			"PublishApp":         ignore(s.apps.PublishApp(w.dev, &contentv1.PublishAppRequest{Name: name, TargetSpace: w.managed})),
			"CopyApp":            ignore(s.apps.CopyApp(w.dev, &contentv1.CopyAppRequest{Name: name, DestinationSpace: w.shared2})),
			"RestoreAppRevision": ignore(s.apps.RestoreAppRevision(w.dev, &contentv1.RestoreAppRevisionRequest{Name: name + "/revisions/1"})),
			"DeleteApp":          ignore(s.apps.DeleteApp(w.dev, &contentv1.DeleteAppRequest{Name: name})),
		} {
			if status.Code(err) != codes.FailedPrecondition || apierr.Reason(err) != "APP_DELETED" {
				t.Errorf("%s of a deleted app = %v, want FAILED_PRECONDITION APP_DELETED", what, err)
			}
		}
	})

	undeleted := must[*contentv1.UndeleteAppResponse](t)(s.apps.UndeleteApp(w.dev, &contentv1.UndeleteAppRequest{Name: name})).GetApp()
	if undeleted.GetState() != contentv1.App_STATE_ACTIVE || undeleted.GetPurgeTime() != nil || undeleted.GetRevision() != "1" {
		t.Fatalf("undeleted = %v; want ACTIVE, no purge time, its revision kept", undeleted)
	}
	_, err := s.apps.UndeleteApp(w.dev, &contentv1.UndeleteAppRequest{Name: name})
	wantCode(t, err, codes.AlreadyExists, "RESOURCE_ALREADY_EXISTS")

	// Deleted again, then 14 days pass: too late to undelete, and the purge worker (every
	// 50 ms in these tests) removes it with its revisions. An app deleted later stays.
	must[*contentv1.DeleteAppResponse](t)(s.apps.DeleteApp(w.dev, &contentv1.DeleteAppRequest{Name: name}))
	s.clock.Advance(14*24*time.Hour + time.Minute)
	later := s.newApp(t, w.dev, w.tenant, "later", w.shared)
	must[*contentv1.DeleteAppResponse](t)(s.apps.DeleteApp(w.dev, &contentv1.DeleteAppRequest{Name: later.GetName()}))
	_, err = s.apps.UndeleteApp(w.dev, &contentv1.UndeleteAppRequest{Name: name})
	if status.Code(err) != codes.NotFound { // the worker may have been quicker than this call
		wantCode(t, err, codes.FailedPrecondition, "PURGE_TIME_PASSED")
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		_, err := s.apps.GetApp(w.dev, &contentv1.GetAppRequest{Name: name})
		if status.Code(err) == codes.NotFound {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("GetApp %s 14 days after its deletion = %v; want it purged", name, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
	if _, err := s.store.ListAppRevisions(context.Background(), w.tenant, "sales", store.Page{Limit: 10}); err == nil {
		t.Error("the purged app's revisions are still listed")
	}
	if got := must[*contentv1.GetAppResponse](t)(s.apps.GetApp(w.dev, &contentv1.GetAppRequest{Name: later.GetName()})).GetApp(); got.GetState() != contentv1.App_STATE_DELETED {
		t.Errorf("the app deleted later = %v; want it kept, DELETED, until its own purge time", got)
	}
}

func TestCopyAppMakesANewAppOfTheCallerAndCrossesTenantsOnlyForPlatformCallers(t *testing.T) {
	t.Parallel()
	s := startService(t)
	w := newWorkspace(t, s)
	src := s.newApp(t, w.dev, w.tenant, "sales", w.shared)

	copied := must[*contentv1.CopyAppResponse](t)(s.apps.CopyApp(w.dev, &contentv1.CopyAppRequest{
		Name: src.GetName(), DestinationSpace: w.shared2, Title: "Sales (mine)",
	})).GetApp()
	if copied.GetName() == src.GetName() || tenantOf(copied.GetName()) != w.tenant || copied.GetSpace() != w.shared2 ||
		copied.GetOwner() != w.devID || copied.GetTitle() != "Sales (mine)" || copied.GetRevision() != "1" ||
		!proto.Equal(copied.GetDefinition(), src.GetDefinition()) || !maps.Equal(copied.GetLabels(), src.GetLabels()) ||
		copied.GetDescription() != src.GetDescription() || copied.GetPublishedFrom() != "" {
		t.Fatalf("copy = %v; want a new app of the caller in %s with the source's content and the new title", copied, w.shared2)
	}
	if revs := s.revisions(t, w.dev, copied.GetName()); len(revs) != 1 || revs[0].GetSource() != contentv1.AppRevision_SOURCE_COPY {
		t.Fatalf("the copy's revisions = %v; want one, SOURCE_COPY", revs)
	}

	other := testkit.UniqueID("other")
	otherSpace := s.createSpace(t, other, "imports", contentv1.Space_TYPE_SHARED)
	t.Run("a platform caller copies into another tenant", func(t *testing.T) {
		c := must[*contentv1.CopyAppResponse](t)(s.apps.CopyApp(s.isv, &contentv1.CopyAppRequest{
			Name: src.GetName(), DestinationSpace: otherSpace, AppId: "from-" + w.tenant[:8],
		})).GetApp()
		if c.GetName() != store.AppName(other, "from-"+w.tenant[:8]) || c.GetTitle() != src.GetTitle() || c.GetSpace() != otherSpace {
			t.Fatalf("cross-tenant copy = %v", c)
		}
	})
	t.Run("a tenant's admin may not", func(t *testing.T) {
		admin := s.as(embedUser(w.tenant, "root", []string{"admin"}, nil, nil))
		_, err := s.apps.CopyApp(admin, &contentv1.CopyAppRequest{Name: src.GetName(), DestinationSpace: otherSpace})
		wantCode(t, err, codes.PermissionDenied, "PERMISSION_DENIED")
		if !strings.Contains(status.Convert(err).Message(), "another tenant") {
			t.Errorf("the refusal %q does not say why", status.Convert(err).Message())
		}
	})
}

func tenantOf(name string) string {
	return strings.SplitN(strings.TrimPrefix(name, "tenants/"), "/", 2)[0]
}

func TestExportImportRoundTripCarriesContentAndNothingElse(t *testing.T) {
	t.Parallel()
	s := startService(t)
	w := newWorkspace(t, s)
	src := s.newApp(t, w.dev, w.tenant, "sales", w.shared)

	bundle := must[*contentv1.ExportAppResponse](t)(s.apps.ExportApp(w.dev, &contentv1.ExportAppRequest{Name: src.GetName()})).GetBundle()
	raw, err := protojson.Marshal(bundle)
	if err != nil {
		t.Fatal(err)
	}
	var doc map[string]json.RawMessage
	if err := json.Unmarshal(raw, &doc); err != nil {
		t.Fatal(err)
	}
	// Exactly the documented fields: the app's content and where it came from. No owner,
	// no space, no revision, and no credential (an app has none to carry).
	if keys := slices.Sorted(maps.Keys(doc)); !slices.Equal(keys, []string{
		"definition", "description", "exportTime", "exportedFrom", "formatVersion", "labels", "title",
	}) {
		t.Fatalf("the bundle's JSON has %v", keys)
	}
	var def map[string]json.RawMessage
	if err := json.Unmarshal(doc["definition"], &def); err != nil {
		t.Fatal(err)
	}
	if keys := slices.Sorted(maps.Keys(def)); !slices.Equal(keys, []string{"loadScript", "sheets", "variables"}) {
		t.Fatalf("the bundle's definition has %v", keys)
	}
	if string(doc["formatVersion"]) != "1" || bundle.GetExportedFrom() != src.GetName() || bundle.GetExportTime() == nil {
		t.Fatalf("bundle = %s", raw)
	}

	// What travels is the JSON: read it back and import it into another tenant.
	var back contentv1.AppBundle
	if err := protojson.Unmarshal(raw, &back); err != nil {
		t.Fatal(err)
	}
	other := testkit.UniqueID("other")
	space := s.createSpace(t, other, "imports", contentv1.Space_TYPE_SHARED)
	importer := embedUser(other, "importer", []string{"developer"}, nil, nil)
	s.grant(t, space, importer.ID, contentv1.SpaceRole_SPACE_ROLE_CONTRIBUTOR)
	imported := must[*contentv1.ImportAppResponse](t)(s.apps.ImportApp(s.as(importer), &contentv1.ImportAppRequest{
		Parent: store.TenantName(other), Space: space, AppId: "sales", Bundle: &back,
	})).GetApp()
	if imported.GetName() != store.AppName(other, "sales") || imported.GetOwner() != importer.ID ||
		imported.GetTitle() != src.GetTitle() || imported.GetDescription() != src.GetDescription() ||
		!maps.Equal(imported.GetLabels(), src.GetLabels()) || !proto.Equal(imported.GetDefinition(), src.GetDefinition()) {
		t.Fatalf("imported = %v; want the source's content, owned by the importer", imported)
	}
	if revs := s.revisions(t, s.isv, imported.GetName()); len(revs) != 1 || revs[0].GetSource() != contentv1.AppRevision_SOURCE_IMPORT {
		t.Fatalf("the import's revisions = %v; want one, SOURCE_IMPORT", revs)
	}

	t.Run("other format versions are refused", func(t *testing.T) {
		b := proto.Clone(&back).(*contentv1.AppBundle)
		b.FormatVersion = 2
		_, err := s.apps.ImportApp(w.dev, &contentv1.ImportAppRequest{Parent: store.TenantName(w.tenant), Space: w.shared, Bundle: b})
		wantCode(t, err, codes.InvalidArgument, "INVALID_REQUEST")
		wantField(t, err, "bundle.format_version")
	})
	t.Run("a bundle must make a valid app", func(t *testing.T) {
		b := proto.Clone(&back).(*contentv1.AppBundle)
		b.Labels = map[string]string{"Not A Key": "x"}
		_, err := s.apps.ImportApp(w.dev, &contentv1.ImportAppRequest{Parent: store.TenantName(w.tenant), Space: w.shared, Bundle: b})
		wantCode(t, err, codes.InvalidArgument, "INVALID_REQUEST")
		wantField(t, err, "bundle.labels")
	})
}

// wantField fails unless err's BadRequest names a field starting with prefix.
func wantField(t testing.TB, err error, prefix string) {
	t.Helper()
	for _, v := range apierr.Violations(err) {
		if strings.HasPrefix(v.Field, prefix) {
			return
		}
	}
	t.Fatalf("%v names no field %s…: %v", err, prefix, apierr.Violations(err))
}

func TestPublishAndRepublishUpdateOnePublishedAppInPlace(t *testing.T) {
	t.Parallel()
	s := startService(t)
	w := newWorkspace(t, s)
	src := s.newApp(t, w.dev, w.tenant, "report", w.shared)

	published := must[*contentv1.PublishAppResponse](t)(s.apps.PublishApp(w.dev, &contentv1.PublishAppRequest{Name: src.GetName(), TargetSpace: w.managed})).GetApp()
	if published.GetName() != store.AppName(w.tenant, "report-published") || published.GetSpace() != w.managed ||
		published.GetPublishedFrom() != src.GetName() || published.GetRevision() != "1" || published.GetOwner() != w.devID ||
		!proto.Equal(published.GetDefinition(), src.GetDefinition()) {
		t.Fatalf("published = %v", published)
	}

	edited := must[*contentv1.UpdateAppResponse](t)(s.apps.UpdateApp(w.dev, titleUpdate(src.GetName(), "Report v2"))).GetApp()
	again := must[*contentv1.PublishAppResponse](t)(s.apps.PublishApp(w.dev, &contentv1.PublishAppRequest{Name: src.GetName()})).GetApp()
	if again.GetName() != published.GetName() || again.GetRevision() != "2" || again.GetTitle() != edited.GetTitle() ||
		!again.GetCreateTime().AsTime().Equal(published.GetCreateTime().AsTime()) || again.GetSpace() != w.managed {
		t.Fatalf("republished = %v; want the same app at revision 2 with the new title", again)
	}
	revs := s.revisions(t, w.dev, published.GetName())
	if ids := revisionIDs(revs); !slices.Equal(ids, []string{"2", "1"}) || revs[0].GetSource() != contentv1.AppRevision_SOURCE_PUBLISH ||
		revs[1].GetSource() != contentv1.AppRevision_SOURCE_PUBLISH || revs[0].GetTitle() != "Report v2" {
		t.Fatalf("the published app's revisions = %v", revs)
	}

	t.Run("republishing may move the published app to another managed space, keeping its name", func(t *testing.T) {
		other := s.createSpace(t, w.tenant, "managed2", contentv1.Space_TYPE_MANAGED)
		s.grant(t, other, w.devID, contentv1.SpaceRole_SPACE_ROLE_CONTRIBUTOR)
		moved := must[*contentv1.PublishAppResponse](t)(s.apps.PublishApp(w.dev, &contentv1.PublishAppRequest{Name: src.GetName(), TargetSpace: other})).GetApp()
		if moved.GetName() != published.GetName() || moved.GetSpace() != other || moved.GetRevision() != "3" {
			t.Fatalf("moved = %v", moved)
		}
	})
	t.Run("only apps of shared spaces are published", func(t *testing.T) {
		_, err := s.apps.PublishApp(s.isv, &contentv1.PublishAppRequest{Name: published.GetName(), TargetSpace: w.managed})
		wantCode(t, err, codes.FailedPrecondition, "INVALID_REQUEST")
	})
	t.Run("only into managed spaces", func(t *testing.T) {
		fresh := s.newApp(t, w.dev, w.tenant, "fresh", w.shared)
		_, err := s.apps.PublishApp(w.dev, &contentv1.PublishAppRequest{Name: fresh.GetName(), TargetSpace: w.shared2})
		wantCode(t, err, codes.FailedPrecondition, "INVALID_REQUEST")
		_, err = s.apps.PublishApp(w.dev, &contentv1.PublishAppRequest{Name: fresh.GetName()})
		wantCode(t, err, codes.InvalidArgument, "INVALID_REQUEST")
		wantField(t, err, "target_space")
	})
	t.Run("the published name taken by an unrelated app is not overwritten", func(t *testing.T) {
		taken := s.newApp(t, w.dev, w.tenant, "taken", w.shared)
		s.newApp(t, w.dev, w.tenant, "taken-published", w.managed)
		_, err := s.apps.PublishApp(w.dev, &contentv1.PublishAppRequest{Name: taken.GetName(), TargetSpace: w.managed})
		wantCode(t, err, codes.AlreadyExists, "RESOURCE_ALREADY_EXISTS")
	})
	t.Run("an id too long for the suffix still gets one stable published name", func(t *testing.T) {
		long := "a" + strings.Repeat("x", 61) + "z"
		app := s.newApp(t, w.dev, w.tenant, long, w.shared)
		first := must[*contentv1.PublishAppResponse](t)(s.apps.PublishApp(w.dev, &contentv1.PublishAppRequest{Name: app.GetName(), TargetSpace: w.managed})).GetApp()
		second := must[*contentv1.PublishAppResponse](t)(s.apps.PublishApp(w.dev, &contentv1.PublishAppRequest{Name: app.GetName()})).GetApp()
		id := testkit.ResourceID(first.GetName())
		if len(id) > 63 || !strings.HasSuffix(id, "-published") || second.GetName() != first.GetName() || second.GetRevision() != "2" {
			t.Fatalf("published %s then %s (revision %s)", first.GetName(), second.GetName(), second.GetRevision())
		}
	})
	t.Run("a contributor of the shared space may not publish", func(t *testing.T) {
		mine := s.newApp(t, w.dev, w.tenant, "mine", w.shared2)
		_, err := s.apps.PublishApp(w.dev, &contentv1.PublishAppRequest{Name: mine.GetName(), TargetSpace: w.managed})
		wantCode(t, err, codes.PermissionDenied, "PERMISSION_DENIED")
	})
}

// chart is a valid bar chart to break in one way.
func chart() *contentv1.Chart {
	return &contentv1.Chart{
		Id: "c1", Kind: contentv1.Chart_KIND_BAR, Dimensions: []string{"region"},
		Measures: []*contentv1.Measure{{Aggregation: contentv1.Measure_AGGREGATION_SUM, Field: "amount"}},
		Position: &contentv1.GridPosition{X: 0, Y: 0, Width: 12, Height: 6},
	}
}

func TestChartShapesAreValidatedOnCreateUpdateAndImport(t *testing.T) {
	t.Parallel()
	s := startService(t)
	w := newWorkspace(t, s)
	app := s.newApp(t, w.dev, w.tenant, "sales", w.shared)
	tests := []struct {
		name  string
		chart func(c *contentv1.Chart) []*contentv1.Chart
		field string
		says  string
	}{
		{"a kpi with a dimension", func(c *contentv1.Chart) []*contentv1.Chart {
			c.Kind = contentv1.Chart_KIND_KPI
			return []*contentv1.Chart{c}
		}, "definition.sheets[0].charts[0]", "kpi"},
		{"a pie with two dimensions", func(c *contentv1.Chart) []*contentv1.Chart {
			c.Kind, c.Dimensions = contentv1.Chart_KIND_PIE, []string{"region", "country"}
			return []*contentv1.Chart{c}
		}, "definition.sheets[0].charts[0]", "pie"},
		{"a filter with a measure", func(c *contentv1.Chart) []*contentv1.Chart {
			c.Kind = contentv1.Chart_KIND_FILTER
			return []*contentv1.Chart{c}
		}, "definition.sheets[0].charts[0]", "filter"},
		{"a chart past the grid's 24 columns", func(c *contentv1.Chart) []*contentv1.Chart {
			c.Position.X, c.Position.Width = 20, 8
			return []*contentv1.Chart{c}
		}, "definition.sheets[0].charts[0].position", "24 columns"},
		{"two charts with one id", func(c *contentv1.Chart) []*contentv1.Chart {
			return []*contentv1.Chart{c, chart()}
		}, "definition.sheets[0]", "unique"},
	}
	for _, tc := range tests {
		def := &contentv1.AppDefinition{Sheets: []*contentv1.Sheet{{Id: "s1", Title: "Sheet", Charts: tc.chart(chart())}}}
		t.Run(tc.name+" on create", func(t *testing.T) {
			_, err := s.apps.CreateApp(w.dev, &contentv1.CreateAppRequest{Parent: store.TenantName(w.tenant),
				App: &contentv1.App{Title: "Bad", Space: w.shared, Definition: def}})
			wantViolationAt(t, err, "app."+tc.field, tc.says)
		})
		t.Run(tc.name+" on update", func(t *testing.T) {
			_, err := s.apps.UpdateApp(w.dev, &contentv1.UpdateAppRequest{
				App: &contentv1.App{Name: app.GetName(), Definition: def}, UpdateMask: &fieldmaskpb.FieldMask{Paths: []string{"definition"}},
			})
			wantViolationAt(t, err, "app."+tc.field, tc.says)
		})
		t.Run(tc.name+" on import", func(t *testing.T) {
			_, err := s.apps.ImportApp(w.dev, &contentv1.ImportAppRequest{Parent: store.TenantName(w.tenant), Space: w.shared,
				Bundle: &contentv1.AppBundle{FormatVersion: 1, Title: "Bad", Definition: def}})
			wantViolationAt(t, err, "bundle."+tc.field, tc.says)
		})
	}
	if got := must[*contentv1.GetAppResponse](t)(s.apps.GetApp(w.dev, &contentv1.GetAppRequest{Name: app.GetName()})).GetApp(); got.GetRevision() != "1" {
		t.Fatalf("refused updates made revision %s", got.GetRevision())
	}
}

// wantViolationAt fails unless err is INVALID_ARGUMENT with a violation of field whose
// description mentions says.
func wantViolationAt(t testing.TB, err error, field, says string) {
	t.Helper()
	wantCode(t, err, codes.InvalidArgument, "INVALID_REQUEST")
	for _, v := range apierr.Violations(err) {
		if v.Field == field && strings.Contains(v.Description, says) {
			return
		}
	}
	t.Fatalf("%v: no violation of %s mentioning %q in %v", err, field, says, apierr.Violations(err))
}

func TestUpdateAppFollowsItsMask(t *testing.T) {
	t.Parallel()
	s := startService(t)
	w := newWorkspace(t, s)
	app := s.newApp(t, w.dev, w.tenant, "sales", w.shared)
	name := app.GetName()
	update := func(t *testing.T, in *contentv1.App, paths ...string) *contentv1.App {
		t.Helper()
		in.Name = name
		req := &contentv1.UpdateAppRequest{App: in}
		if paths != nil {
			req.UpdateMask = &fieldmaskpb.FieldMask{Paths: paths}
		}
		return must[*contentv1.UpdateAppResponse](t)(s.apps.UpdateApp(w.dev, req)).GetApp()
	}

	t.Run("only the fields the mask names change", func(t *testing.T) {
		got := update(t, &contentv1.App{Title: "Renamed", Description: "not this"}, "title")
		if got.GetTitle() != "Renamed" || got.GetDescription() != app.GetDescription() || !maps.Equal(got.GetLabels(), app.GetLabels()) {
			t.Fatalf("got %v", got)
		}
	})
	t.Run("no mask: the fields sent", func(t *testing.T) {
		got := update(t, &contentv1.App{Description: "New description"})
		if got.GetDescription() != "New description" || got.GetTitle() != "Renamed" {
			t.Fatalf("got %v", got)
		}
	})
	t.Run("a subfield of the definition", func(t *testing.T) {
		got := update(t, &contentv1.App{Definition: &contentv1.AppDefinition{LoadScript: "SELECT 2"}}, "definition.load_script")
		if got.GetDefinition().GetLoadScript() != "SELECT 2" || len(got.GetDefinition().GetSheets()) != 1 {
			t.Fatalf("got %v", got.GetDefinition())
		}
	})
	t.Run("output-only fields are ignored, so an app read can be written back", func(t *testing.T) {
		cur := must[*contentv1.GetAppResponse](t)(s.apps.GetApp(w.dev, &contentv1.GetAppRequest{Name: name})).GetApp()
		back := proto.Clone(cur).(*contentv1.App)
		back.Title, back.Owner, back.State, back.Revision = "Written back", "tenants/x/users/thief", contentv1.App_STATE_DELETED, "99"
		got := update(t, back)
		if got.GetTitle() != "Written back" || got.GetOwner() != w.devID || got.GetState() != contentv1.App_STATE_ACTIVE ||
			got.GetRevision() == "99" || !proto.Equal(got.GetDefinition(), cur.GetDefinition()) {
			t.Fatalf("got %v", got)
		}
		got = update(t, &contentv1.App{Title: "Again", Owner: "tenants/x/users/thief"}, "title", "owner", "state", "etag")
		if got.GetOwner() != w.devID || got.GetTitle() != "Again" {
			t.Fatalf("got %v", got)
		}
	})
	t.Run("* replaces every updatable field", func(t *testing.T) {
		// A whole app, as a replacement is validated whole: its space too, unchanged.
		got := update(t, &contentv1.App{Title: "Everything", Space: w.shared}, "*")
		if got.GetTitle() != "Everything" || got.GetDescription() != "" || len(got.GetLabels()) != 0 || len(got.GetDefinition().GetSheets()) != 0 ||
			got.GetSpace() != w.shared {
			t.Fatalf("got %v", got)
		}
	})
	t.Run("refusals", func(t *testing.T) {
		for _, tc := range []struct {
			name   string
			req    *contentv1.UpdateAppRequest
			reason string
			field  string
		}{
			{"an unknown path", &contentv1.UpdateAppRequest{App: &contentv1.App{Name: name, Title: "x"},
				UpdateMask: &fieldmaskpb.FieldMask{Paths: []string{"bogus"}}}, "INVALID_REQUEST", "update_mask"},
			{"a move to another space", &contentv1.UpdateAppRequest{App: &contentv1.App{Name: name, Space: w.shared2},
				UpdateMask: &fieldmaskpb.FieldMask{Paths: []string{"space"}}}, "IMMUTABLE_FIELD", "app.space"},
			{"an empty title", &contentv1.UpdateAppRequest{App: &contentv1.App{Name: name},
				UpdateMask: &fieldmaskpb.FieldMask{Paths: []string{"title"}}}, "INVALID_REQUEST", "app.title"},
			{"a name that is no app's", &contentv1.UpdateAppRequest{App: &contentv1.App{Name: "apps/x", Title: "x"}}, "INVALID_REQUEST", "app.name"},
		} {
			t.Run(tc.name, func(t *testing.T) {
				_, err := s.apps.UpdateApp(w.dev, tc.req)
				wantCode(t, err, codes.InvalidArgument, tc.reason)
				wantField(t, err, tc.field)
			})
		}
		// Naming the space with the value it has is a PATCH of what was read: fine.
		got := update(t, &contentv1.App{Space: w.shared, Title: "Kept in place"}, "space", "title")
		if got.GetSpace() != w.shared || got.GetTitle() != "Kept in place" {
			t.Fatalf("got %v", got)
		}
	})
}

func TestAnEmbedTokenBoundToAppsFindsNoOtherApp(t *testing.T) {
	t.Parallel()
	s := startService(t)
	w := newWorkspace(t, s)
	allowed := s.newApp(t, w.dev, w.tenant, "allowed", w.shared)
	hidden := s.newApp(t, w.dev, w.tenant, "hidden", w.shared)
	// A sheet of an app allows its app.
	bound := s.as(embedUser(w.tenant, "dev", []string{"developer"}, nil, []string{allowed.GetName() + "/sheets/overview"}))

	if _, err := s.apps.GetApp(bound, &contentv1.GetAppRequest{Name: allowed.GetName()}); err != nil {
		t.Fatalf("GetApp of the allowed app: %v", err)
	}
	list := must[*contentv1.ListAppsResponse](t)(s.apps.ListApps(bound, &contentv1.ListAppsRequest{Parent: store.TenantName(w.tenant)}))
	if len(list.GetApps()) != 1 || list.GetApps()[0].GetName() != allowed.GetName() {
		t.Fatalf("ListApps = %v; want only %s", list.GetApps(), allowed.GetName())
	}
	for what, err := range map[string]error{
		"GetApp":           ignore(s.apps.GetApp(bound, &contentv1.GetAppRequest{Name: hidden.GetName()})),
		"ExportApp":        ignore(s.apps.ExportApp(bound, &contentv1.ExportAppRequest{Name: hidden.GetName()})),
		"ListAppRevisions": ignore(s.apps.ListAppRevisions(bound, &contentv1.ListAppRevisionsRequest{Parent: hidden.GetName()})),
		"UpdateApp":        ignore(s.apps.UpdateApp(bound, titleUpdate(hidden.GetName(), "x"))),
	} {
		if status.Code(err) != codes.NotFound {
			t.Errorf("%s of an app the token is not bound to = %v, want NOT_FOUND", what, err)
		}
	}
	// The same user without the binding sees both.
	free := must[*contentv1.ListAppsResponse](t)(s.apps.ListApps(w.dev, &contentv1.ListAppsRequest{Parent: store.TenantName(w.tenant)}))
	if len(free.GetApps()) != 2 {
		t.Fatalf("ListApps without a binding = %v", free.GetApps())
	}
}
