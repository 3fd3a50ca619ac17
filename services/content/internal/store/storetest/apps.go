package storetest

import (
	"context"
	"fmt"
	"strconv"
	"sync"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"

	contentv1 "github.com/oriel-dev/oriel/gen/pb/oriel/content/v1"
	"github.com/oriel-dev/oriel/platform/testkit"
	"github.com/oriel-dev/oriel/services/content/internal/store"
)

var appBehaviours = []behaviour{
	{"a created app reads back at revision 1 with its definition and etag", appRoundTrips},
	{"a taken app id is already taken, and an app needs a space of its tenant", createAppChecks},
	{"saves append revisions numbered from 1 and the app shows the latest", savesAppendRevisions},
	{"a save with a stale etag is refused and writes nothing", staleSaveWritesNothing},
	{"a save can move an app to another space of its tenant only", saveMovesSpace},
	{"setting an app's state checks its etag and makes no revision", setAppStateChecksEtag},
	{"listing apps honours space, spaces, apps, deleted and paging", listAppsFilters},
	{"an app of another tenant is not found", appTenantIsolation},
	{"of concurrent saves with one etag exactly one wins", concurrentSavesOneWins},
}

var purgeBehaviours = []behaviour{
	{"purging deleted apps removes those due, with their revisions, up to the limit", purgeDeletedApps},
	{"purging a tenant removes all its content and nothing of another tenant", purgeTenant},
}

// newDefinition returns a definition using every field of the definition messages; n
// makes definitions of different saves differ.
func newDefinition(n int) *contentv1.AppDefinition {
	return &contentv1.AppDefinition{
		Sheets: []*contentv1.Sheet{{
			Id:    "overview",
			Title: fmt.Sprintf("Overview %d", n),
			Charts: []*contentv1.Chart{
				{
					Id: "revenue", Title: "Revenue", Kind: contentv1.Chart_KIND_KPI,
					Measures: []*contentv1.Measure{{
						Aggregation: contentv1.Measure_AGGREGATION_SUM, Field: "amount",
						Label: "Revenue", NumberFormat: "#,##0.00",
					}},
					Position: &contentv1.GridPosition{X: 0, Y: 0, Width: 6, Height: 3},
				},
				{
					Id: "by-region", Title: "By region", Kind: contentv1.Chart_KIND_BAR,
					Dimensions: []string{"region", "quarter"},
					Measures: []*contentv1.Measure{
						{Aggregation: contentv1.Measure_AGGREGATION_COUNT_DISTINCT, Field: "customer_id"},
						{Aggregation: contentv1.Measure_AGGREGATION_AVG, Field: "amount", NumberFormat: "0%"},
					},
					Position: &contentv1.GridPosition{X: 6, Y: 0, Width: 18, Height: 8},
				},
			},
		}, {
			Id: "filters", Title: "Filters",
			Charts: []*contentv1.Chart{{
				Id: "region", Kind: contentv1.Chart_KIND_FILTER, Dimensions: []string{"region"},
				Position: &contentv1.GridPosition{X: 0, Y: 0, Width: 24, Height: 1},
			}},
		}},
		LoadScript: fmt.Sprintf("LOAD * FROM orders WHERE version = %d; -- ünïcödé \"quoted\"\n", n),
		Variables:  map[string]string{"schema": "public", "vSince": "2024-01-01", "empty": ""},
	}
}

// newApp returns an active app of tenant in space with every field the caller sets.
func newApp(tenant, space, id string) *contentv1.App {
	return &contentv1.App{
		Name:        store.AppName(tenant, id),
		Title:       "App " + id,
		Description: "What " + id + " shows",
		Space:       store.SpaceName(tenant, space),
		Owner:       "tenants/" + tenant + "/users/owner",
		Labels:      map[string]string{"team": "finance", "tier": "gold", "note": ""},
		Definition:  newDefinition(1),
		State:       contentv1.App_STATE_ACTIVE,
		CreateTime:  ts(epoch),
		UpdateTime:  ts(epoch),
	}
}

// saveRevision is a revision saved by a user at when.
func saveRevision(when time.Time) store.Revision {
	return store.Revision{Source: contentv1.AppRevision_SOURCE_SAVE, Author: "tenants/t/users/editor", Time: when}
}

// expectedRevision is the revision a made as rev says, numbered n.
func expectedRevision(tenant, app string, n int64, a *contentv1.App, rev store.Revision) *contentv1.AppRevision {
	return &contentv1.AppRevision{
		Name:            store.AppRevisionName(tenant, app, n),
		Title:           a.GetTitle(),
		Description:     a.GetDescription(),
		Definition:      a.GetDefinition(),
		Source:          rev.Source,
		Author:          rev.Author,
		TemplateVersion: rev.TemplateVersion,
		CreateTime:      ts(rev.Time),
	}
}

// mustCreateApp creates an app in its own transaction and returns it with its revision and etag.
func mustCreateApp(t *testing.T, s store.Store, tenant, space, id string) *contentv1.App {
	t.Helper()
	return mustCreateAppAs(t, s, tenant, id, newApp(tenant, space, id), store.Revision{
		Source: contentv1.AppRevision_SOURCE_SAVE, Author: "tenants/" + tenant + "/users/owner", Time: epoch,
	})
}

// mustCreateAppAs creates a as rev says.
func mustCreateAppAs(t *testing.T, s store.Store, tenant, id string, a *contentv1.App, rev store.Revision) *contentv1.App {
	t.Helper()
	mustTx(t, s, "CreateApp "+id, func(ctx context.Context, tx store.Tx) error { return tx.CreateApp(ctx, tenant, id, a, rev) })
	testkit.RequireEqual(t, "revision of a created app", "1", a.GetRevision())
	if a.GetEtag() == "" {
		t.Fatalf("CreateApp(%s) left the etag empty", a.GetName())
	}
	return a
}

// mustGetApp reads an app outside any transaction.
func mustGetApp(t *testing.T, s store.Store, tenant, id string) *contentv1.App {
	t.Helper()
	a, err := s.GetApp(t.Context(), tenant, id)
	testkit.RequireNoError(t, "GetApp "+id, err)
	return a
}

// save saves a in its own transaction.
func save(t *testing.T, s store.Store, tenant, id, etag string, a *contentv1.App, rev store.Revision) error {
	t.Helper()
	return inTx(t, s, func(ctx context.Context, tx store.Tx) error { return tx.SaveApp(ctx, tenant, id, etag, a, rev) })
}

// mustSave saves a in its own transaction, which then carries its new revision and etag.
func mustSave(t *testing.T, s store.Store, tenant, id, etag string, a *contentv1.App, rev store.Revision) {
	t.Helper()
	testkit.RequireNoError(t, "SaveApp "+id, save(t, s, tenant, id, etag, a, rev))
}

// mustSetState sets an app's state in its own transaction and returns the app.
func mustSetState(t *testing.T, s store.Store, tenant, id, etag string, state contentv1.App_State, purge *time.Time, now time.Time) *contentv1.App {
	t.Helper()
	var a *contentv1.App
	mustTx(t, s, "SetAppState "+id, func(ctx context.Context, tx store.Tx) error {
		var err error
		a, err = tx.SetAppState(ctx, tenant, id, etag, state, purge, now)
		return err
	})
	return a
}

// revisionNumbers lists every revision number of an app, newest first.
func revisionNumbers(t *testing.T, s store.Store, tenant, app string) []string {
	t.Helper()
	revs, err := s.ListAppRevisions(t.Context(), tenant, app, everything)
	testkit.RequireNoError(t, "ListAppRevisions", err)
	out := make([]string, len(revs))
	for i, r := range revs {
		out[i] = testkit.ResourceID(r.GetName())
	}
	return out
}

func appRoundTrips(t *testing.T, s store.Store) {
	tenant := newTenant()
	mustCreateSpace(t, s, tenant, "finance")
	want := newApp(tenant, "finance", "dash")
	rev := store.Revision{Source: contentv1.AppRevision_SOURCE_IMPORT, Author: "tenants/x/users/importer", Time: at(time.Microsecond)}
	var inTxGot *contentv1.App
	mustTx(t, s, "CreateApp", func(ctx context.Context, tx store.Tx) error {
		if err := tx.CreateApp(ctx, tenant, "dash", want, rev); err != nil {
			return err
		}
		var err error
		inTxGot, err = tx.GetApp(ctx, tenant, "dash")
		return err
	})
	testkit.RequireEqual(t, "revision", "1", want.GetRevision())
	testkit.RequireProto(t, "Tx.GetApp in the creating transaction", want, inTxGot)
	testkit.RequireProto(t, "GetApp", want, mustGetApp(t, s, tenant, "dash"))
	list, err := s.ListApps(t.Context(), tenant, store.AppQuery{Page: everything})
	testkit.RequireNoError(t, "ListApps", err)
	testkit.RequireEqual(t, "apps listed", 1, len(list))
	testkit.RequireProto(t, "ListApps[0]", want, list[0])

	wantRev := expectedRevision(tenant, "dash", 1, want, rev)
	got, err := s.GetAppRevision(t.Context(), tenant, "dash", 1)
	testkit.RequireNoError(t, "GetAppRevision", err)
	testkit.RequireProto(t, "GetAppRevision", wantRev, got)
	mustTx(t, s, "Tx.GetAppRevision", func(ctx context.Context, tx store.Tx) error {
		got, err := tx.GetAppRevision(ctx, tenant, "dash", 1)
		if err == nil {
			testkit.RequireProto(t, "Tx.GetAppRevision", wantRev, got)
		}
		return err
	})
	_, err = s.GetAppRevision(t.Context(), tenant, "dash", 2)
	testkit.RequireErrorIs(t, "GetAppRevision of a revision not made", err, store.ErrNotFound)

	// An app without a definition reads back without one, not with an empty one.
	bare := newApp(tenant, "finance", "bare")
	bare.Definition, bare.Labels, bare.Description = nil, nil, ""
	mustCreateAppAs(t, s, tenant, "bare", bare, saveRevision(epoch))
	testkit.RequireProto(t, "GetApp of an app without definition or labels", bare, mustGetApp(t, s, tenant, "bare"))
}

func createAppChecks(t *testing.T, s store.Store) {
	tenant, other := newTenant(), newTenant()
	mustCreateSpace(t, s, tenant, "finance")
	mustCreateSpace(t, s, other, "finance")
	first := mustCreateApp(t, s, tenant, "finance", "dash")
	create := func(tenant, id string, a *contentv1.App) error {
		return inTx(t, s, func(ctx context.Context, tx store.Tx) error {
			return tx.CreateApp(ctx, tenant, id, a, saveRevision(epoch))
		})
	}

	again := newApp(tenant, "finance", "dash")
	again.Title, again.Definition = "Another", newDefinition(9)
	testkit.RequireErrorIs(t, "CreateApp of a taken id", create(tenant, "dash", again), store.ErrAlreadyExists)
	testkit.RequireProto(t, "the app after a second create", first, mustGetApp(t, s, tenant, "dash"))
	testkit.RequireStrings(t, "revisions after a second create", []string{"1"}, revisionNumbers(t, s, tenant, "dash"))

	testkit.RequireErrorIs(t, "CreateApp in a missing space", create(tenant, "lost", newApp(tenant, "missing", "lost")), store.ErrNotFound)
	testkit.RequireErrorIs(t, "CreateApp in another tenant's space",
		create(tenant, "stray", newApp(other, "finance", "stray")), store.ErrNotFound)
	_, err := s.GetApp(t.Context(), tenant, "stray")
	testkit.RequireErrorIs(t, "GetApp of an app refused", err, store.ErrNotFound)

	mustCreateApp(t, s, other, "finance", "dash")
}

func savesAppendRevisions(t *testing.T, s store.Store) {
	tenant := newTenant()
	mustCreateSpace(t, s, tenant, "finance")
	firstRev := store.Revision{Source: contentv1.AppRevision_SOURCE_COPY, Author: "tenants/t/users/copier", Time: epoch}
	created := mustCreateAppAs(t, s, tenant, "dash", newApp(tenant, "finance", "dash"), firstRev)
	wantRevs := []*contentv1.AppRevision{expectedRevision(tenant, "dash", 1, created, firstRev)}
	etags := map[string]bool{created.GetEtag(): true}
	for n := int64(2); n <= 5; n++ {
		a := mustGetApp(t, s, tenant, "dash")
		a.Title = fmt.Sprintf("Dashboard v%d", n)
		a.Description = fmt.Sprintf("Saved %d times", n)
		a.Labels = map[string]string{"save": strconv.FormatInt(n, 10)}
		a.Definition = newDefinition(int(n))
		a.PublishedFrom = store.AppName(tenant, "source")
		rev := store.Revision{
			Source: contentv1.AppRevision_SOURCE_RESTORE, Author: "tenants/t/users/u" + strconv.FormatInt(n, 10),
			Time: at(time.Duration(n) * time.Minute),
		}
		before := proto.Clone(a).(*contentv1.App)
		mustSave(t, s, tenant, "dash", a.GetEtag(), a, rev)
		testkit.RequireEqual(t, "revision after a save", strconv.FormatInt(n, 10), a.GetRevision())
		testkit.RequireEqual(t, "update time after a save", rev.Time, a.GetUpdateTime().AsTime())
		if etags[a.GetEtag()] {
			t.Fatalf("save %d set etag %q, which an earlier state had", n, a.GetEtag())
		}
		etags[a.GetEtag()] = true
		before.Revision, before.UpdateTime, before.Etag = a.GetRevision(), a.GetUpdateTime(), a.GetEtag()
		testkit.RequireProto(t, "the app SaveApp returned", before, a)
		testkit.RequireProto(t, "GetApp after a save", a, mustGetApp(t, s, tenant, "dash"))
		wantRevs = append(wantRevs, expectedRevision(tenant, "dash", n, a, rev))
	}
	for _, want := range wantRevs {
		n, _ := strconv.ParseInt(testkit.ResourceID(want.GetName()), 10, 64)
		got, err := s.GetAppRevision(t.Context(), tenant, "dash", n)
		testkit.RequireNoError(t, "GetAppRevision", err)
		testkit.RequireProto(t, "revision "+want.GetName(), want, got)
	}
	requireOrderedPaging(t, []string{"5", "4", "3", "2", "1"}, func(p store.Page) ([]*contentv1.AppRevision, error) {
		return s.ListAppRevisions(t.Context(), tenant, "dash", p)
	}, func(r *contentv1.AppRevision) string { return testkit.ResourceID(r.GetName()) })
	_, err := s.ListAppRevisions(t.Context(), tenant, "missing", everything)
	testkit.RequireErrorIs(t, "ListAppRevisions of a missing app", err, store.ErrNotFound)
}

func staleSaveWritesNothing(t *testing.T, s store.Store) {
	tenant := newTenant()
	mustCreateSpace(t, s, tenant, "finance")
	created := mustCreateApp(t, s, tenant, "finance", "dash")
	fresh := mustGetApp(t, s, tenant, "dash")
	fresh.Title = "First"
	mustSave(t, s, tenant, "dash", created.GetEtag(), fresh, saveRevision(at(time.Minute)))

	stale := mustGetApp(t, s, tenant, "dash")
	stale.Title, stale.Definition = "Second", newDefinition(7)
	err := save(t, s, tenant, "dash", created.GetEtag(), stale, saveRevision(at(2*time.Minute)))
	testkit.RequireErrorIs(t, "SaveApp with a stale etag", err, store.ErrEtagMismatch)
	testkit.RequireProto(t, "the app after a stale save", fresh, mustGetApp(t, s, tenant, "dash"))
	testkit.RequireStrings(t, "revisions after a stale save", []string{"2", "1"}, revisionNumbers(t, s, tenant, "dash"))

	// An etag is made stale by state changes too.
	deleted := mustSetState(t, s, tenant, "dash", fresh.GetEtag(), contentv1.App_STATE_DELETED, nil, at(3*time.Minute))
	err = save(t, s, tenant, "dash", fresh.GetEtag(), stale, saveRevision(at(4*time.Minute)))
	testkit.RequireErrorIs(t, "SaveApp with an etag from before a state change", err, store.ErrEtagMismatch)

	// Without an etag, a save always writes.
	mustSave(t, s, tenant, "dash", "", stale, saveRevision(at(5*time.Minute)))
	testkit.RequireEqual(t, "revision of a save without etag", "3", stale.GetRevision())
	if stale.GetEtag() == deleted.GetEtag() {
		t.Fatal("a save without etag kept the etag")
	}
	testkit.RequireErrorIs(t, "SaveApp of a missing app", save(t, s, tenant, "missing", "", newApp(tenant, "finance", "missing"),
		saveRevision(epoch)), store.ErrNotFound)
}

func saveMovesSpace(t *testing.T, s store.Store) {
	tenant, other := newTenant(), newTenant()
	mustCreateSpace(t, s, tenant, "shared")
	mustCreateSpace(t, s, tenant, "managed")
	mustCreateSpace(t, s, other, "managed")
	mustCreateApp(t, s, tenant, "shared", "dash")

	a := mustGetApp(t, s, tenant, "dash")
	a.Space = store.SpaceName(tenant, "missing")
	testkit.RequireErrorIs(t, "SaveApp into a missing space", save(t, s, tenant, "dash", a.GetEtag(), a, saveRevision(at(time.Minute))), store.ErrNotFound)
	a.Space = store.SpaceName(other, "managed")
	testkit.RequireErrorIs(t, "SaveApp into another tenant's space", save(t, s, tenant, "dash", a.GetEtag(), a, saveRevision(at(time.Minute))), store.ErrNotFound)
	testkit.RequireStrings(t, "revisions after refused moves", []string{"1"}, revisionNumbers(t, s, tenant, "dash"))

	a.Space = store.SpaceName(tenant, "managed")
	mustSave(t, s, tenant, "dash", a.GetEtag(), a, store.Revision{Source: contentv1.AppRevision_SOURCE_PUBLISH, Time: at(time.Minute)})
	testkit.RequireEqual(t, "space after a move", store.SpaceName(tenant, "managed"), mustGetApp(t, s, tenant, "dash").GetSpace())
	inSpace, err := s.ListApps(t.Context(), tenant, store.AppQuery{Space: "shared", Page: everything})
	testkit.RequireNoError(t, "ListApps of the old space", err)
	testkit.RequireEqual(t, "apps left in the old space", 0, len(inSpace))
}

func setAppStateChecksEtag(t *testing.T, s store.Store) {
	tenant := newTenant()
	mustCreateSpace(t, s, tenant, "finance")
	created := mustCreateApp(t, s, tenant, "finance", "dash")
	setState := func(etag string, state contentv1.App_State, purge *time.Time, now time.Time) error {
		return inTx(t, s, func(ctx context.Context, tx store.Tx) error {
			_, err := tx.SetAppState(ctx, tenant, "dash", etag, state, purge, now)
			return err
		})
	}
	testkit.RequireErrorIs(t, "SetAppState with a stale etag", setState("stale", contentv1.App_STATE_DELETED, nil, at(time.Hour)),
		store.ErrEtagMismatch)
	testkit.RequireProto(t, "the app after a stale state change", created, mustGetApp(t, s, tenant, "dash"))

	purge := at(14*24*time.Hour + time.Microsecond)
	deleted := mustSetState(t, s, tenant, "dash", created.GetEtag(), contentv1.App_STATE_DELETED, &purge, at(time.Hour))
	want := proto.Clone(created).(*contentv1.App)
	want.State, want.PurgeTime, want.UpdateTime, want.Etag = contentv1.App_STATE_DELETED, ts(purge), ts(at(time.Hour)), deleted.GetEtag()
	if deleted.GetEtag() == created.GetEtag() {
		t.Fatal("SetAppState kept the etag")
	}
	testkit.RequireProto(t, "the app SetAppState returned", want, deleted)
	testkit.RequireProto(t, "GetApp of a deleted app", want, mustGetApp(t, s, tenant, "dash"))
	testkit.RequireStrings(t, "revisions after a state change", []string{"1"}, revisionNumbers(t, s, tenant, "dash"))

	restored := mustSetState(t, s, tenant, "dash", "", contentv1.App_STATE_ACTIVE, nil, at(2*time.Hour))
	testkit.RequireEqual(t, "state after undelete", contentv1.App_STATE_ACTIVE, restored.GetState())
	if restored.GetPurgeTime() != nil {
		t.Fatalf("purge time after undelete = %v, want none", restored.GetPurgeTime())
	}
	testkit.RequireEqual(t, "revision after undelete", "1", restored.GetRevision())
	testkit.RequireErrorIs(t, "SetAppState of a missing app", inTx(t, s, func(ctx context.Context, tx store.Tx) error {
		_, err := tx.SetAppState(ctx, tenant, "missing", "", contentv1.App_STATE_DELETED, nil, epoch)
		return err
	}), store.ErrNotFound)
}

func listAppsFilters(t *testing.T, s store.Store) {
	tenant, other := newTenant(), newTenant()
	for _, sp := range []string{"alpha", "beta", "gamma"} {
		mustCreateSpace(t, s, tenant, sp)
	}
	mustCreateSpace(t, s, other, "alpha")
	ids := pagingIDs("app")
	spaceOf := map[string]string{}
	for i, id := range ids {
		sp := []string{"alpha", "beta", "gamma"}[i%3]
		spaceOf[id] = sp
		mustCreateApp(t, s, tenant, sp, id)
		mustCreateApp(t, s, other, "alpha", id)
	}
	deleted := ids[0] // in alpha
	mustSetState(t, s, tenant, deleted, "", contentv1.App_STATE_DELETED, nil, at(time.Hour))

	except := func(all []string, drop string) []string {
		var out []string
		for _, id := range all {
			if id != drop {
				out = append(out, id)
			}
		}
		return out
	}
	inSpaces := func(spaces ...string) []string {
		var out []string
		for _, id := range ids {
			for _, sp := range spaces {
				if spaceOf[id] == sp {
					out = append(out, id)
				}
			}
		}
		return out
	}
	for _, tc := range []struct {
		name string
		q    store.AppQuery
		want []string
	}{
		{"every live app", store.AppQuery{}, except(ids, deleted)},
		{"deleted ones too", store.AppQuery{ShowDeleted: true}, ids},
		{"one space", store.AppQuery{Space: "alpha"}, except(inSpaces("alpha"), deleted)},
		{"one space with deleted", store.AppQuery{Space: "alpha", ShowDeleted: true}, inSpaces("alpha")},
		{"visible spaces", store.AppQuery{Spaces: []string{"beta", "gamma", "missing"}}, inSpaces("beta", "gamma")},
		{"one space among visible ones", store.AppQuery{Space: "beta", Spaces: []string{"beta", "gamma"}}, inSpaces("beta")},
		{"one space not visible", store.AppQuery{Space: "alpha", Spaces: []string{"beta"}}, nil},
		{"no visible space", store.AppQuery{Spaces: []string{}, ShowDeleted: true}, nil},
		{"allowed apps", store.AppQuery{Apps: []string{ids[1], ids[2], deleted, "missing"}}, []string{ids[1], ids[2]}},
		{"allowed apps in visible spaces", store.AppQuery{Apps: []string{ids[1], ids[2]}, Spaces: []string{spaceOf[ids[2]]}}, []string{ids[2]}},
		{"no allowed app", store.AppQuery{Apps: []string{}}, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			requirePaging(t, tc.want, func(p store.Page) ([]*contentv1.App, error) {
				q := tc.q
				q.Page = p
				return s.ListApps(t.Context(), tenant, q)
			}, func(a *contentv1.App) string { return testkit.ResourceID(a.GetName()) })
		})
	}
}

func appTenantIsolation(t *testing.T, s store.Store) {
	tenant, other := newTenant(), newTenant()
	mustCreateSpace(t, s, tenant, "finance")
	mustCreateSpace(t, s, other, "finance")
	created := mustCreateApp(t, s, tenant, "finance", "dash")

	_, err := s.GetApp(t.Context(), other, "dash")
	testkit.RequireErrorIs(t, "GetApp from another tenant", err, store.ErrNotFound)
	_, err = s.GetAppRevision(t.Context(), other, "dash", 1)
	testkit.RequireErrorIs(t, "GetAppRevision from another tenant", err, store.ErrNotFound)
	_, err = s.ListAppRevisions(t.Context(), other, "dash", everything)
	testkit.RequireErrorIs(t, "ListAppRevisions from another tenant", err, store.ErrNotFound)
	for _, q := range []store.AppQuery{{ShowDeleted: true}, {Apps: []string{"dash"}}, {Space: "finance"}} {
		q.Page = everything
		list, err := s.ListApps(t.Context(), other, q)
		testkit.RequireNoError(t, "ListApps in another tenant", err)
		testkit.RequireEqual(t, "apps listed in another tenant", 0, len(list))
	}
	for _, tc := range []struct {
		name string
		fn   func(ctx context.Context, tx store.Tx) error
	}{
		{"Tx.GetApp", func(ctx context.Context, tx store.Tx) error { _, err := tx.GetApp(ctx, other, "dash"); return err }},
		{"Tx.GetAppRevision", func(ctx context.Context, tx store.Tx) error {
			_, err := tx.GetAppRevision(ctx, other, "dash", 1)
			return err
		}},
		{"SaveApp", func(ctx context.Context, tx store.Tx) error {
			return tx.SaveApp(ctx, other, "dash", "", newApp(other, "finance", "dash"), saveRevision(at(time.Hour)))
		}},
		{"SetAppState", func(ctx context.Context, tx store.Tx) error {
			_, err := tx.SetAppState(ctx, other, "dash", "", contentv1.App_STATE_DELETED, nil, at(time.Hour))
			return err
		}},
	} {
		testkit.RequireErrorIs(t, tc.name+" from another tenant", inTx(t, s, tc.fn), store.ErrNotFound)
	}
	testkit.RequireProto(t, "the app after another tenant's attempts", created, mustGetApp(t, s, tenant, "dash"))
	testkit.RequireStrings(t, "revisions after another tenant's attempts", []string{"1"}, revisionNumbers(t, s, tenant, "dash"))
}

func concurrentSavesOneWins(t *testing.T, s store.Store) {
	tenant := newTenant()
	mustCreateSpace(t, s, tenant, "finance")
	for round := range rounds {
		id := fmt.Sprintf("dash-%d", round)
		created := mustCreateApp(t, s, tenant, "finance", id)
		errs := make([]error, concurrency)
		start := make(chan struct{})
		var wg sync.WaitGroup
		for i := range concurrency {
			wg.Go(func() {
				a := proto.Clone(created).(*contentv1.App)
				a.Title = fmt.Sprintf("Saved by %d", i)
				<-start
				errs[i] = inTx(t, s, func(ctx context.Context, tx store.Tx) error {
					return tx.SaveApp(ctx, tenant, id, created.GetEtag(), a, saveRevision(at(time.Duration(i+1)*time.Second)))
				})
			})
		}
		close(start)
		wg.Wait()
		won := -1
		for i, err := range errs {
			switch {
			case err == nil && won >= 0:
				t.Fatalf("round %d: saves %d and %d both won with one etag", round, won, i)
			case err == nil:
				won = i
			default:
				testkit.RequireErrorIs(t, fmt.Sprintf("round %d: losing save %d", round, i), err, store.ErrEtagMismatch)
			}
		}
		if won < 0 {
			t.Fatalf("round %d: no concurrent save won", round)
		}
		testkit.RequireStrings(t, "revisions after concurrent saves", []string{"2", "1"}, revisionNumbers(t, s, tenant, id))
		testkit.RequireEqual(t, "title after concurrent saves", fmt.Sprintf("Saved by %d", won), mustGetApp(t, s, tenant, id).GetTitle())
	}
}

// purgeEpoch is long before any time another behaviour uses, so PurgeDeletedApps at these
// times purges only this behaviour's apps even in a store other behaviours share.
var purgeEpoch = time.Date(2001, time.February, 3, 4, 5, 6, 789012000, time.UTC)

func purgeDeletedApps(t *testing.T, s store.Store) {
	tenant, other := newTenant(), newTenant()
	mustCreateSpace(t, s, tenant, "finance")
	mustCreateSpace(t, s, other, "finance")
	deleteAt := func(tenant, id string, purge time.Time) {
		a := mustCreateApp(t, s, tenant, "finance", id)
		mustSave(t, s, tenant, id, a.GetEtag(), a, saveRevision(at(time.Minute)))
		mustSetState(t, s, tenant, id, "", contentv1.App_STATE_DELETED, &purge, purgeEpoch)
	}
	deleteAt(tenant, "first", purgeEpoch.Add(time.Hour))
	deleteAt(other, "second", purgeEpoch.Add(2*time.Hour))
	deleteAt(tenant, "third", purgeEpoch.Add(3*time.Hour))
	deleteAt(tenant, "later", purgeEpoch.Add(5*time.Hour))
	mustCreateApp(t, s, tenant, "finance", "live")
	now := purgeEpoch.Add(3 * time.Hour) // "third" is due exactly now

	n, err := s.PurgeDeletedApps(t.Context(), now, 2)
	testkit.RequireNoError(t, "PurgeDeletedApps", err)
	testkit.RequireEqual(t, "apps purged up to the limit", 2, n)
	n, err = s.PurgeDeletedApps(t.Context(), now, 2)
	testkit.RequireNoError(t, "PurgeDeletedApps again", err)
	testkit.RequireEqual(t, "apps purged the second time", 1, n)
	n, err = s.PurgeDeletedApps(t.Context(), now, 2)
	testkit.RequireNoError(t, "PurgeDeletedApps a third time", err)
	testkit.RequireEqual(t, "apps purged when none is due", 0, n)

	for _, gone := range []struct{ tenant, id string }{{tenant, "first"}, {other, "second"}, {tenant, "third"}} {
		_, err := s.GetApp(t.Context(), gone.tenant, gone.id)
		testkit.RequireErrorIs(t, "GetApp of a purged app", err, store.ErrNotFound)
		for _, rev := range []int64{1, 2} {
			_, err = s.GetAppRevision(t.Context(), gone.tenant, gone.id, rev)
			testkit.RequireErrorIs(t, "GetAppRevision of a purged app", err, store.ErrNotFound)
		}
	}
	testkit.RequireEqual(t, "a deleted app not yet due", contentv1.App_STATE_DELETED, mustGetApp(t, s, tenant, "later").GetState())
	testkit.RequireStrings(t, "revisions of a deleted app not yet due", []string{"2", "1"}, revisionNumbers(t, s, tenant, "later"))
	mustGetApp(t, s, tenant, "live")

	// Purged apps no longer keep their space; the id is free again.
	testkit.RequireNoError(t, "DeleteSpace of a space whose deleted apps were purged", inTx(t, s, func(ctx context.Context, tx store.Tx) error {
		return tx.DeleteSpace(ctx, other, "finance", "")
	}))
	mustCreateApp(t, s, tenant, "finance", "first")
}

func purgeTenant(t *testing.T, s store.Store) {
	tenant, other := newTenant(), newTenant()
	for _, tn := range []string{tenant, other} {
		mustCreateSpace(t, s, tn, "finance")
		mustCreateSpace(t, s, tn, "empty")
		mustPutMember(t, s, tn, "finance", newMember(tn, "finance", userName(tn, "ann"), false, contentv1.SpaceRole_SPACE_ROLE_PRODUCER, epoch))
		a := mustCreateApp(t, s, tn, "finance", "dash")
		mustSave(t, s, tn, "dash", a.GetEtag(), a, saveRevision(at(time.Minute)))
		mustCreateApp(t, s, tn, "finance", "gone")
		mustSetState(t, s, tn, "gone", "", contentv1.App_STATE_DELETED, nil, at(time.Hour))
	}
	otherApp := mustGetApp(t, s, other, "dash")
	testkit.RequireNoError(t, "PurgeTenant", s.PurgeTenant(t.Context(), tenant))

	spaces, err := s.ListSpaces(t.Context(), tenant, nil, everything)
	testkit.RequireNoError(t, "ListSpaces of a purged tenant", err)
	testkit.RequireEqual(t, "spaces of a purged tenant", 0, len(spaces))
	apps, err := s.ListApps(t.Context(), tenant, store.AppQuery{ShowDeleted: true, Page: everything})
	testkit.RequireNoError(t, "ListApps of a purged tenant", err)
	testkit.RequireEqual(t, "apps of a purged tenant", 0, len(apps))
	_, err = s.GetAppRevision(t.Context(), tenant, "dash", 1)
	testkit.RequireErrorIs(t, "GetAppRevision of a purged tenant", err, store.ErrNotFound)
	_, err = s.ListSpaceMembers(t.Context(), tenant, "finance", everything)
	testkit.RequireErrorIs(t, "ListSpaceMembers of a purged tenant", err, store.ErrNotFound)
	requireRoles(t, s, tenant, []string{userName(tenant, "ann")}, nil)

	testkit.RequireProto(t, "the other tenant's app", otherApp, mustGetApp(t, s, other, "dash"))
	testkit.RequireStrings(t, "the other tenant's revisions", []string{"2", "1"}, revisionNumbers(t, s, other, "dash"))
	testkit.RequireEqual(t, "the other tenant's spaces", 2, len(must(s.ListSpaces(t.Context(), other, nil, everything))(t)))
	testkit.RequireEqual(t, "the other tenant's deleted app", contentv1.App_STATE_DELETED, mustGetApp(t, s, other, "gone").GetState())
	requireRoles(t, s, other, []string{userName(other, "ann")}, map[string]contentv1.SpaceRole{"finance": contentv1.SpaceRole_SPACE_ROLE_PRODUCER})

	// Nothing is left behind: the purged tenant's ids are free.
	mustCreateSpace(t, s, tenant, "finance")
	mustCreateApp(t, s, tenant, "finance", "dash")
	testkit.RequireNoError(t, "PurgeTenant of a tenant without content", s.PurgeTenant(t.Context(), newTenant()))
}

// must turns a value and an error into a function failing the test on the error.
func must[T any](v T, err error) func(t *testing.T) T {
	return func(t *testing.T) T {
		t.Helper()
		testkit.RequireNoError(t, "call", err)
		return v
	}
}
