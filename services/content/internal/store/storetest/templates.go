package storetest

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	contentv1 "github.com/oriel-dev/oriel/gen/pb/oriel/content/v1"
	"github.com/oriel-dev/oriel/platform/testkit"
	"github.com/oriel-dev/oriel/services/content/internal/store"
)

var templateBehaviours = []behaviour{
	{"a created template reads back without versions", templateRoundTrips},
	{"a taken template id is already taken", templateIDTaken},
	{"a version reads back and becomes the template's latest", versionRoundTrips},
	{"versions are immutable: a taken version id is already taken", versionsImmutable},
	{"versions list newest first by creation, whatever their ids", versionsNewestFirst},
	{"limit and after id page through every template exactly once", templatesPageByID},
}

var driftBehaviours = []behaviour{
	{"drift lists the live apps edited since a rollout of the template deployed them", driftListsEditedApps},
	{"drift pages by app name across tenants", driftPagesByAppName},
}

// newTemplateID returns a template id no other behaviour uses.
func newTemplateID() string { return testkit.UniqueID("template") }

// newTemplate returns a template with every field the caller sets.
func newTemplate(id string) *contentv1.Template {
	return &contentv1.Template{
		Name:        store.TemplateName(id),
		DisplayName: "Template " + id,
		Description: "Deployed to every tenant",
		CreateTime:  ts(epoch),
		UpdateTime:  ts(epoch),
	}
}

// newVersion returns a version with every field set, created at when.
func newVersion(template, id string, n int, when time.Time) *contentv1.TemplateVersion {
	def := newDefinition(n)
	def.Variables = nil
	return &contentv1.TemplateVersion{
		Name:       store.TemplateVersionName(template, id),
		Title:      "Sales " + id,
		Definition: def,
		Variables: []*contentv1.TemplateVariable{
			{Name: "schema", Required: true, Description: "The tenant's schema"},
			{Name: "vSince", DefaultValue: "2024-01-01"},
		},
		Notes:      "Release " + id,
		CreateTime: ts(when),
	}
}

// mustCreateTemplate creates a template in its own transaction.
func mustCreateTemplate(t *testing.T, s store.Store, id string) *contentv1.Template {
	t.Helper()
	tpl := newTemplate(id)
	mustTx(t, s, "CreateTemplate "+id, func(ctx context.Context, tx store.Tx) error { return tx.CreateTemplate(ctx, id, tpl) })
	return tpl
}

// mustCreateVersion creates a version in its own transaction.
func mustCreateVersion(t *testing.T, s store.Store, template, id string, n int, when time.Time) *contentv1.TemplateVersion {
	t.Helper()
	v := newVersion(template, id, n, when)
	mustTx(t, s, "CreateTemplateVersion "+id, func(ctx context.Context, tx store.Tx) error {
		return tx.CreateTemplateVersion(ctx, template, id, v)
	})
	return v
}

// mustGetTemplate reads a template.
func mustGetTemplate(t *testing.T, s store.Store, id string) *contentv1.Template {
	t.Helper()
	tpl, err := s.GetTemplate(t.Context(), id)
	testkit.RequireNoError(t, "GetTemplate "+id, err)
	return tpl
}

func templateRoundTrips(t *testing.T, s store.Store) {
	id := newTemplateID()
	want := mustCreateTemplate(t, s, id)
	testkit.RequireProto(t, "GetTemplate", want, mustGetTemplate(t, s, id))
	list, err := s.ListTemplates(t.Context(), store.Page{AfterID: id[:len(id)-1], Limit: 1})
	testkit.RequireNoError(t, "ListTemplates", err)
	testkit.RequireEqual(t, "templates listed from just before its id", 1, len(list))
	testkit.RequireProto(t, "ListTemplates[0]", want, list[0])
	versions, err := s.ListTemplateVersions(t.Context(), id, everything)
	testkit.RequireNoError(t, "ListTemplateVersions of a template without versions", err)
	testkit.RequireEqual(t, "versions of a new template", 0, len(versions))
	_, err = s.GetTemplate(t.Context(), newTemplateID())
	testkit.RequireErrorIs(t, "GetTemplate of a missing template", err, store.ErrNotFound)
}

func templateIDTaken(t *testing.T, s store.Store) {
	id := newTemplateID()
	want := mustCreateTemplate(t, s, id)
	again := newTemplate(id)
	again.DisplayName = "Another"
	err := inTx(t, s, func(ctx context.Context, tx store.Tx) error { return tx.CreateTemplate(ctx, id, again) })
	testkit.RequireErrorIs(t, "CreateTemplate of a taken id", err, store.ErrAlreadyExists)
	testkit.RequireProto(t, "the template after a second create", want, mustGetTemplate(t, s, id))
}

func versionRoundTrips(t *testing.T, s store.Store) {
	id := newTemplateID()
	tpl := mustCreateTemplate(t, s, id)
	v1 := mustCreateVersion(t, s, id, "v1", 1, at(time.Hour))
	got, err := s.GetTemplateVersion(t.Context(), id, "v1")
	testkit.RequireNoError(t, "GetTemplateVersion", err)
	testkit.RequireProto(t, "GetTemplateVersion", v1, got)

	tpl.LatestVersion, tpl.UpdateTime = store.TemplateVersionName(id, "v1"), ts(at(time.Hour))
	testkit.RequireProto(t, "the template after its first version", tpl, mustGetTemplate(t, s, id))
	mustCreateVersion(t, s, id, "1.0.1", 2, at(2*time.Hour))
	tpl.LatestVersion, tpl.UpdateTime = store.TemplateVersionName(id, "1.0.1"), ts(at(2*time.Hour))
	testkit.RequireProto(t, "the template after its second version", tpl, mustGetTemplate(t, s, id))

	bare := &contentv1.TemplateVersion{Name: store.TemplateVersionName(id, "bare"), Title: "Bare", CreateTime: ts(at(3 * time.Hour))}
	mustTx(t, s, "CreateTemplateVersion without definition", func(ctx context.Context, tx store.Tx) error {
		return tx.CreateTemplateVersion(ctx, id, "bare", bare)
	})
	got, err = s.GetTemplateVersion(t.Context(), id, "bare")
	testkit.RequireNoError(t, "GetTemplateVersion", err)
	testkit.RequireProto(t, "a version without definition or variables", bare, got)

	_, err = s.GetTemplateVersion(t.Context(), id, "v9")
	testkit.RequireErrorIs(t, "GetTemplateVersion of a missing version", err, store.ErrNotFound)
	missing := newTemplateID()
	err = inTx(t, s, func(ctx context.Context, tx store.Tx) error {
		return tx.CreateTemplateVersion(ctx, missing, "v1", newVersion(missing, "v1", 1, epoch))
	})
	testkit.RequireErrorIs(t, "CreateTemplateVersion of a missing template", err, store.ErrNotFound)
	_, err = s.ListTemplateVersions(t.Context(), missing, everything)
	testkit.RequireErrorIs(t, "ListTemplateVersions of a missing template", err, store.ErrNotFound)
}

func versionsImmutable(t *testing.T, s store.Store) {
	id := newTemplateID()
	mustCreateTemplate(t, s, id)
	v1 := mustCreateVersion(t, s, id, "v1", 1, at(time.Hour))
	mustCreateVersion(t, s, id, "v2", 2, at(2*time.Hour))
	tpl := mustGetTemplate(t, s, id)

	again := newVersion(id, "v1", 7, at(3*time.Hour))
	again.Title = "Rewritten"
	err := inTx(t, s, func(ctx context.Context, tx store.Tx) error { return tx.CreateTemplateVersion(ctx, id, "v1", again) })
	testkit.RequireErrorIs(t, "CreateTemplateVersion of a taken id", err, store.ErrAlreadyExists)
	got, err := s.GetTemplateVersion(t.Context(), id, "v1")
	testkit.RequireNoError(t, "GetTemplateVersion", err)
	testkit.RequireProto(t, "the version after a second create", v1, got)
	testkit.RequireProto(t, "the template after a refused version", tpl, mustGetTemplate(t, s, id))

	// Version ids are per template.
	other := newTemplateID()
	mustCreateTemplate(t, s, other)
	mustCreateVersion(t, s, other, "v1", 1, epoch)
}

func versionsNewestFirst(t *testing.T, s store.Store) {
	id := newTemplateID()
	mustCreateTemplate(t, s, id)
	other := newTemplateID()
	mustCreateTemplate(t, s, other)
	// Created in this order, which neither their ids nor their create times follow.
	created := []string{"v9", "v10", "2026-11-27", "a", "v1"}
	for i, v := range created {
		mustCreateVersion(t, s, id, v, i, at(-time.Duration(i)*time.Hour))
		mustCreateVersion(t, s, other, v+"-other", i, epoch)
	}
	requireOrderedPaging(t, []string{"v1", "a", "2026-11-27", "v10", "v9"}, func(p store.Page) ([]*contentv1.TemplateVersion, error) {
		return s.ListTemplateVersions(t.Context(), id, p)
	}, func(v *contentv1.TemplateVersion) string { return testkit.ResourceID(v.GetName()) })
	testkit.RequireEqual(t, "latest version", store.TemplateVersionName(id, "v1"), mustGetTemplate(t, s, id).GetLatestVersion())
}

func templatesPageByID(t *testing.T, s store.Store) {
	ids := pagingIDs("tpl")
	for _, id := range ids {
		mustCreateTemplate(t, s, id)
	}
	// Other behaviours' templates may share the store: walk from just before this run's
	// ids and keep only those of the run (they sort together, sharing a unique prefix).
	prefix := ids[0][:len(ids[0])-1]
	requirePaging(t, ids, func(p store.Page) ([]*contentv1.Template, error) {
		if p.AfterID == "" {
			p.AfterID = prefix
		}
		list, err := s.ListTemplates(t.Context(), p)
		// Only ids after the run's sort after its prefix without starting with it, so a page
		// shortened by dropping them ends the walk exactly where the run's ids end.
		var mine []*contentv1.Template
		for _, tpl := range list {
			if strings.HasPrefix(testkit.ResourceID(tpl.GetName()), prefix) {
				mine = append(mine, tpl)
			}
		}
		return mine, err
	}, func(tpl *contentv1.Template) string { return testkit.ResourceID(tpl.GetName()) })
}

// deploy creates app id in tenant's "templates" space (creating the space) as a rollout
// of version does.
func deploy(t *testing.T, s store.Store, tenant, id, version string, when time.Time) *contentv1.App {
	t.Helper()
	mustTx(t, s, "the rollout's space", func(ctx context.Context, tx store.Tx) error {
		err := tx.CreateSpace(ctx, tenant, "templates", newSpace(tenant, "templates", contentv1.Space_TYPE_MANAGED))
		if err != nil && !errors.Is(err, store.ErrAlreadyExists) {
			return err
		}
		return nil
	})
	a := newApp(tenant, "templates", id)
	a.TemplateVersion = version
	return mustCreateAppAs(t, s, tenant, id, a, rolloutRevision(version, when))
}

// rolloutRevision is a revision a rollout of version makes.
func rolloutRevision(version string, when time.Time) store.Revision {
	return store.Revision{Source: contentv1.AppRevision_SOURCE_ROLLOUT, Author: "rollouts/r", TemplateVersion: version, Time: when}
}

// saveAs saves app with source, keeping its template version.
func saveAs(t *testing.T, s store.Store, tenant, id string, rev store.Revision, version string) *contentv1.App {
	t.Helper()
	a := mustGetApp(t, s, tenant, id)
	a.Definition = newDefinition(int(rev.Time.Unix() % 1000))
	a.TemplateVersion = version
	mustSave(t, s, tenant, id, a.GetEtag(), a, rev)
	return a
}

func driftListsEditedApps(t *testing.T, s store.Store) {
	tpl, otherTpl := newTemplateID(), newTemplateID()
	v1, v2 := store.TemplateVersionName(tpl, "v1"), store.TemplateVersionName(tpl, "v2")
	otherV1 := store.TemplateVersionName(otherTpl, "v1")
	run := testkit.UniqueID("drift")
	tenant := func(suffix string) string { return run + "-" + suffix }
	edit := func(when time.Time) store.Revision { return saveRevision(when) }

	// Deployed and untouched: no drift.
	deploy(t, s, tenant("clean"), "sales", v1, at(time.Hour))
	// Deployed, then edited: drift from revision 1 to 2.
	deploy(t, s, tenant("edited"), "sales", v1, at(time.Hour))
	saveAs(t, s, tenant("edited"), "sales", edit(at(2*time.Hour)), v1)
	// Edited, overwritten by v2, edited again: drift from the v2 deployment (3) to 4.
	deploy(t, s, tenant("again"), "sales", v1, at(time.Hour))
	saveAs(t, s, tenant("again"), "sales", edit(at(2*time.Hour)), v1)
	saveAs(t, s, tenant("again"), "sales", rolloutRevision(v2, at(3*time.Hour)), v2)
	saveAs(t, s, tenant("again"), "sales", edit(at(4*time.Hour)), v2)
	// Edited, then overwritten: the rollout's revision is the latest, so no drift.
	deploy(t, s, tenant("overwritten"), "sales", v1, at(time.Hour))
	saveAs(t, s, tenant("overwritten"), "sales", edit(at(2*time.Hour)), v1)
	saveAs(t, s, tenant("overwritten"), "sales", rolloutRevision(v2, at(3*time.Hour)), v2)
	// Rolled back to v1 after v2: what the rollback put back is no local edit.
	deploy(t, s, tenant("rolled-back"), "sales", v1, at(time.Hour))
	saveAs(t, s, tenant("rolled-back"), "sales", rolloutRevision(v2, at(2*time.Hour)), v2)
	saveAs(t, s, tenant("rolled-back"), "sales",
		store.Revision{Source: contentv1.AppRevision_SOURCE_ROLLBACK, TemplateVersion: v1, Time: at(3 * time.Hour)}, v1)
	// Edited, then deleted: not live, so no drift.
	deploy(t, s, tenant("deleted"), "sales", v1, at(time.Hour))
	saveAs(t, s, tenant("deleted"), "sales", edit(at(2*time.Hour)), v1)
	mustSetState(t, s, tenant("deleted"), "sales", "", contentv1.App_STATE_DELETED, nil, at(3*time.Hour))
	// Another template's edited app, and an app no rollout made.
	deploy(t, s, tenant("elsewhere"), "sales", otherV1, at(time.Hour))
	saveAs(t, s, tenant("elsewhere"), "sales", edit(at(2*time.Hour)), otherV1)
	mustCreateSpace(t, s, tenant("edited"), "own")
	mustCreateApp(t, s, tenant("edited"), "own", "own")
	saveAs(t, s, tenant("edited"), "own", edit(at(2*time.Hour)), "")

	drift, err := s.ListDrift(t.Context(), tpl, everything)
	testkit.RequireNoError(t, "ListDrift", err)
	testkit.RequireEqual(t, "drifted apps", 2, len(drift))
	testkit.RequireProto(t, "drift of an app edited after v2", &contentv1.Drift{
		App:              store.AppName(tenant("again"), "sales"),
		TemplateVersion:  v2,
		DeployedRevision: store.AppRevisionName(tenant("again"), "sales", 3),
		CurrentRevision:  store.AppRevisionName(tenant("again"), "sales", 4),
	}, drift[0])
	testkit.RequireProto(t, "drift of an app edited after v1", &contentv1.Drift{
		App:              store.AppName(tenant("edited"), "sales"),
		TemplateVersion:  v1,
		DeployedRevision: store.AppRevisionName(tenant("edited"), "sales", 1),
		CurrentRevision:  store.AppRevisionName(tenant("edited"), "sales", 2),
	}, drift[1])

	drift, err = s.ListDrift(t.Context(), otherTpl, everything)
	testkit.RequireNoError(t, "ListDrift of the other template", err)
	testkit.RequireStrings(t, "apps drifted from the other template", []string{store.AppName(tenant("elsewhere"), "sales")},
		func() []string {
			var out []string
			for _, d := range drift {
				out = append(out, d.GetApp())
			}
			return out
		}())
	drift, err = s.ListDrift(t.Context(), newTemplateID(), everything)
	testkit.RequireNoError(t, "ListDrift of a template without apps", err)
	testkit.RequireEqual(t, "drift of a template without apps", 0, len(drift))
}

func driftPagesByAppName(t *testing.T, s store.Store) {
	tpl := newTemplateID()
	v1 := store.TemplateVersionName(tpl, "v1")
	run := testkit.UniqueID("page")
	// "tenants/run/apps/…" sorts after "tenants/run-b/apps/…" ('/' > '-'), though "run"
	// sorts before "run-b": pages follow the names.
	var want []string
	for _, tn := range []string{run, run + "-b", run + "-a9", run + "-a10"} {
		for _, app := range []string{"sales", "sales-eu", "ops"} {
			deploy(t, s, tn, app, v1, at(time.Hour))
			saveAs(t, s, tn, app, saveRevision(at(2*time.Hour)), v1)
			want = append(want, store.AppName(tn, app))
		}
	}
	requirePaging(t, want, func(p store.Page) ([]*contentv1.Drift, error) {
		return s.ListDrift(t.Context(), tpl, p)
	}, (*contentv1.Drift).GetApp)
}
