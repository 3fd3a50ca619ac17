package content_test

import (
	"slices"
	"strings"
	"testing"

	"google.golang.org/grpc/codes"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/fieldmaskpb"

	contentv1 "github.com/oriel-dev/oriel/gen/pb/oriel/content/v1"
	"github.com/oriel-dev/oriel/platform/apierr"
	"github.com/oriel-dev/oriel/services/content/internal/store"
)

func TestTemplateVersionIsValidatedAgainstItsScript(t *testing.T) {
	t.Parallel()
	s := startService(t)
	template := s.createTemplate(t, "validated")
	tests := []struct {
		name      string
		script    string
		variables []*contentv1.TemplateVariable
		edit      func(v *contentv1.TemplateVersion)
		// field is the one violation expected, "" for a valid version; mention must be in
		// its description.
		field, mention string
	}{
		{name: "every expansion declared", script: salesScript, variables: salesVariables()},
		{name: "a script without expansions needs no variables", script: "orders: SQL SELECT 1;"},
		{
			name:      "a variable the script sets itself needs no declaration",
			script:    "SET vTable = 'orders';\nLET vLimit = 10; t: SQL SELECT * FROM $(schema).$(vTable) LIMIT $(vLimit);",
			variables: []*contentv1.TemplateVariable{{Name: "schema", Required: true}},
		},
		{
			name:   "an expansion in a comment is none: the script never expands it",
			script: "// reads $(schema) one day\n/* $(region) */ orders: SQL SELECT 1;",
		},
		{
			name: "an undeclared expansion is named", script: salesScript,
			variables: []*contentv1.TemplateVariable{{Name: "schema", Required: true}},
			field:     "template_version.definition.load_script", mention: "$(region)",
		},
		{
			name: "every undeclared expansion is named", script: "t: SQL SELECT * FROM $(db).$(schema).$(table);",
			field: "template_version.definition.load_script", mention: "$(db), $(schema), $(table)",
		},
		{
			name: "a variable declared twice", script: salesScript,
			variables: append(salesVariables(), &contentv1.TemplateVariable{Name: "schema"}),
			field:     "template_version.variables", mention: `"schema"`,
		},
		{
			name: "values in the definition's variables", script: salesScript, variables: salesVariables(),
			edit:  func(v *contentv1.TemplateVersion) { v.Definition.Variables = map[string]string{"schema": "public"} },
			field: "template_version.definition.variables", mention: "template_version.variables",
		},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v := &contentv1.TemplateVersion{Title: "Sales", Definition: templateDefinition(tt.script), Variables: tt.variables}
			if tt.edit != nil {
				tt.edit(v)
			}
			_, err := s.templates.CreateTemplateVersion(s.isv, &contentv1.CreateTemplateVersionRequest{
				Parent: store.TemplateName(template), VersionId: "v" + string(rune('a'+i)), TemplateVersion: v,
			})
			if tt.field == "" {
				if err != nil {
					t.Fatalf("CreateTemplateVersion: %v", err)
				}
				return
			}
			wantCode(t, err, codes.InvalidArgument, "INVALID_REQUEST")
			violations := apierr.Violations(err)
			if len(violations) != 1 || violations[0].Field != tt.field || !strings.Contains(violations[0].Description, tt.mention) {
				t.Fatalf("violations = %+v, want one on %s mentioning %s", violations, tt.field, tt.mention)
			}
		})
	}
}

func TestTemplateVersionsAreImmutableAndListedNewestFirst(t *testing.T) {
	t.Parallel()
	s := startService(t)
	template := s.createTemplate(t, "immutable")
	v1 := s.createSalesVersion(t, template, "v1")
	s.createSalesVersion(t, template, "2026-11-27")
	v3 := s.createSalesVersion(t, template, "v0") // ids do not order versions; creation does

	_, err := s.templates.CreateTemplateVersion(s.isv, &contentv1.CreateTemplateVersionRequest{
		Parent: store.TemplateName(template), VersionId: "v1",
		TemplateVersion: &contentv1.TemplateVersion{Title: "Rewritten", Definition: templateDefinition("t: SQL SELECT 2;")},
	})
	wantCode(t, err, codes.AlreadyExists, "RESOURCE_ALREADY_EXISTS")
	got := must[*contentv1.GetTemplateVersionResponse](t)(s.templates.GetTemplateVersion(s.isv, &contentv1.GetTemplateVersionRequest{Name: v1}))
	if got.GetTemplateVersion().GetTitle() != "Sales v1" || got.GetTemplateVersion().GetDefinition().GetLoadScript() != salesScript {
		t.Errorf("v1 after a second create = %v, want it unchanged", got.GetTemplateVersion())
	}
	if !proto.Equal(got.GetTemplateVersion().GetVariables()[0], salesVariables()[0]) {
		t.Errorf("v1 variables = %v, want %v", got.GetTemplateVersion().GetVariables(), salesVariables())
	}

	tpl := must[*contentv1.GetTemplateResponse](t)(s.templates.GetTemplate(s.isv, &contentv1.GetTemplateRequest{Name: store.TemplateName(template)}))
	if tpl.GetTemplate().GetLatestVersion() != v3 {
		t.Errorf("latest_version = %q, want %q", tpl.GetTemplate().GetLatestVersion(), v3)
	}

	var names []string
	req := &contentv1.ListTemplateVersionsRequest{Parent: store.TemplateName(template), PageSize: 2}
	for {
		resp := must[*contentv1.ListTemplateVersionsResponse](t)(s.templates.ListTemplateVersions(s.isv, req))
		for _, v := range resp.GetTemplateVersions() {
			names = append(names, v.GetName())
		}
		if resp.GetNextPageToken() == "" {
			break
		}
		req.PageToken = resp.GetNextPageToken()
	}
	want := []string{v3, store.TemplateVersionName(template, "2026-11-27"), v1}
	if !slices.Equal(names, want) {
		t.Errorf("versions = %v, want newest first %v", names, want)
	}

	_, err = s.templates.CreateTemplateVersion(s.isv, &contentv1.CreateTemplateVersionRequest{
		Parent: "templates/no-such-template", VersionId: "v1",
		TemplateVersion: &contentv1.TemplateVersion{Title: "x", Definition: templateDefinition("")},
	})
	wantCode(t, err, codes.NotFound, "RESOURCE_NOT_FOUND")
	_, err = s.templates.ListTemplateVersions(s.isv, &contentv1.ListTemplateVersionsRequest{Parent: "templates/no-such-template"})
	wantCode(t, err, codes.NotFound, "RESOURCE_NOT_FOUND")
	_, err = s.templates.CreateTemplate(s.isv, &contentv1.CreateTemplateRequest{
		TemplateId: template, Template: &contentv1.Template{DisplayName: "Again"},
	})
	wantCode(t, err, codes.AlreadyExists, "RESOURCE_ALREADY_EXISTS")
}

func TestListTemplatesPagesByName(t *testing.T) {
	t.Parallel()
	s := startService(t)
	var want []string
	for range 5 {
		want = append(want, store.TemplateName(s.createTemplate(t, "listed")))
	}
	slices.Sort(want)
	var got []string
	req := &contentv1.ListTemplatesRequest{PageSize: 2}
	for {
		resp := must[*contentv1.ListTemplatesResponse](t)(s.templates.ListTemplates(s.isv, req))
		for _, tpl := range resp.GetTemplates() {
			got = append(got, tpl.GetName())
		}
		if resp.GetNextPageToken() == "" {
			break
		}
		req.PageToken = resp.GetNextPageToken()
	}
	if !slices.Equal(got, want) {
		t.Errorf("templates = %v, want %v", got, want)
	}
}

func TestListDriftReportsAppsEditedAfterTheirRollout(t *testing.T) {
	t.Parallel()
	s := startService(t)
	template := s.createTemplate(t, "drift")
	version := s.createSalesVersion(t, template, "v1")
	ids := []string{"drift-a", "drift-b", "drift-c"}
	r := s.createRollout(t, &contentv1.Rollout{
		TemplateVersion: version,
		Selector:        &contentv1.TenantSelector{Tenants: tenantNames(ids)},
		TenantVariables: schemaFor(ids),
	})
	s.waitForState(t, r.GetName(), contentv1.Rollout_STATE_COMPLETED)

	drift := func() []*contentv1.Drift {
		t.Helper()
		return must[*contentv1.ListDriftResponse](t)(s.templates.ListDrift(s.isv, &contentv1.ListDriftRequest{Parent: store.TemplateName(template)})).GetDrifts()
	}
	if d := drift(); len(d) != 0 {
		t.Fatalf("drift right after the rollout = %v, want none", d)
	}

	edited := store.AppName("drift-b", template)
	app := must[*contentv1.GetAppResponse](t)(s.apps.GetApp(s.isv, &contentv1.GetAppRequest{Name: edited})).GetApp()
	deployed := app.GetRevision()
	app.Title = "Edited locally"
	updated := must[*contentv1.UpdateAppResponse](t)(s.apps.UpdateApp(s.isv, &contentv1.UpdateAppRequest{
		App: app, UpdateMask: &fieldmaskpb.FieldMask{Paths: []string{"title"}},
	})).GetApp()

	d := drift()
	if len(d) != 1 {
		t.Fatalf("drift = %v, want exactly %s", d, edited)
	}
	want := &contentv1.Drift{
		App: edited, TemplateVersion: version,
		DeployedRevision: edited + "/revisions/" + deployed, CurrentRevision: edited + "/revisions/" + updated.GetRevision(),
	}
	if !proto.Equal(d[0], want) {
		t.Errorf("drift = %v, want %v", d[0], want)
	}
	_, err := s.templates.ListDrift(s.isv, &contentv1.ListDriftRequest{Parent: "templates/no-such-template"})
	wantCode(t, err, codes.NotFound, "RESOURCE_NOT_FOUND")
}
