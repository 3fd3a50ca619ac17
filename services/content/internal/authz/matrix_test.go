package authz_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"google.golang.org/protobuf/reflect/protoreflect"

	contentv1 "github.com/oriel-dev/oriel/gen/pb/oriel/content/v1"
	"github.com/oriel-dev/oriel/services/content/internal/authz"
)

// TestREADMEShowsTheMatrix keeps the README's "Who may do what" table exactly the matrix
// the service is tested against: regenerate it with MatrixMarkdown when the matrix changes.
func TestREADMEShowsTheMatrix(t *testing.T) {
	t.Parallel()
	path := filepath.Join("..", "..", "..", "..", "README.md")
	readme, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	_, section, ok := strings.Cut(string(readme), "\n### Who may do what\n")
	if !ok {
		t.Fatalf("%s has no section \"### Who may do what\"", path)
	}
	if end := strings.Index(section, "\n#"); end >= 0 {
		section = section[:end]
	}
	want := authz.MatrixMarkdown()
	if !strings.Contains(section, "\n"+want) {
		t.Fatalf("the section \"### Who may do what\" of %s does not hold the matrix; replace its table with:\n\n%s", path, want)
	}
}

// TestMatrixCoversEveryRPC: a row for every method of the six services, and no row for
// a method that does not exist, so a new RPC cannot ship without its line in the
// specification (and so in the tests).
func TestMatrixCoversEveryRPC(t *testing.T) {
	t.Parallel()
	want := map[string]bool{}
	for _, fd := range []protoreflect.FileDescriptor{
		contentv1.File_oriel_content_v1_space_proto, contentv1.File_oriel_content_v1_app_proto,
		contentv1.File_oriel_content_v1_template_proto, contentv1.File_oriel_content_v1_rollout_proto,
		contentv1.File_oriel_content_v1_reload_proto, contentv1.File_oriel_content_v1_data_proto,
	} {
		for i := range fd.Services().Len() {
			svc := fd.Services().Get(i)
			for j := range svc.Methods().Len() {
				want[string(svc.Name())+"."+string(svc.Methods().Get(j).Name())] = true
			}
		}
	}
	got := map[string]bool{}
	for _, r := range authz.Matrix() {
		got[r.Service+"."+r.Method] = true
	}
	for m := range want {
		if !got[m] {
			t.Errorf("the matrix has no row for %s", m)
		}
	}
	for m := range got {
		if !want[m] {
			t.Errorf("the matrix has a row for %s, which is no RPC", m)
		}
	}
}

// column is a kind of caller as the policy sees it: who it is, and the role its user holds
// in the fixture's spaces.
type column struct {
	caller authz.Caller
	role   contentv1.SpaceRole
}

const (
	tenant = "acme"
	other  = "globex"
)

// columns builds a caller for each column of the matrix, as the service tests do.
func columns() map[string]column {
	user := func(role string, space contentv1.SpaceRole) column {
		return column{authz.Caller{Tenant: tenant, ID: "tenants/acme/users/u1", Role: role, Members: []string{"tenants/acme/users/u1"}}, space}
	}
	none := contentv1.SpaceRole_SPACE_ROLE_UNSPECIFIED
	return map[string]column{
		"platform-write":  {authz.Caller{Platform: true, ID: "serviceAccounts/isv", Service: true, Read: true, Write: true}, none},
		"platform-read":   {authz.Caller{Platform: true, ID: "serviceAccounts/isv", Service: true, Read: true}, none},
		"tenant-write":    {authz.Caller{Tenant: tenant, ID: "tenants/acme/serviceAccounts/sa", Service: true, Read: true, Write: true}, none},
		"tenant-read":     {authz.Caller{Tenant: tenant, ID: "tenants/acme/serviceAccounts/sa", Service: true, Read: true}, none},
		"admin":           user("admin", none),
		"dev-facilitator": user("developer", contentv1.SpaceRole_SPACE_ROLE_FACILITATOR),
		"dev-producer":    user("developer", contentv1.SpaceRole_SPACE_ROLE_PRODUCER),
		"dev-contributor": user("developer", contentv1.SpaceRole_SPACE_ROLE_CONTRIBUTOR),
		"dev-consumer":    user("developer", contentv1.SpaceRole_SPACE_ROLE_CONSUMER),
		"dev-none":        user("developer", none),
		"viewer-role":     user("viewer", contentv1.SpaceRole_SPACE_ROLE_FACILITATOR),
		"viewer-none":     user("viewer", none),
		"no-role":         user("", contentv1.SpaceRole_SPACE_ROLE_FACILITATOR),
	}
}

// TestMatrixFollowsThePolicy derives each row from the policy's functions (levels,
// CanCreateSpace, CanEditApp, CanUsePlatform), a second statement of the same rules, so
// that the written matrix and authz.go cannot drift apart unnoticed.
func TestMatrixFollowsThePolicy(t *testing.T) {
	t.Parallel()
	level := func(col column) authz.Level { return col.caller.SpaceLevel(tenant, col.role) }
	needs := func(need authz.Level) func(column) authz.Outcome {
		return func(col column) authz.Outcome {
			switch l := level(col); {
			case l >= need:
				return authz.Allowed
			case l >= authz.View:
				return authz.Denied
			}
			return authz.Invisible
		}
	}
	verdict := func(ok bool) authz.Outcome {
		if ok {
			return authz.Allowed
		}
		return authz.Denied
	}
	edit := func(own bool) func(column) authz.Outcome {
		return func(col column) authz.Outcome {
			owner := "tenants/acme/users/someone-else"
			if own {
				owner = col.caller.ID
			}
			if level(col) < authz.View {
				return authz.Invisible
			}
			return verdict(col.caller.CanEditApp(level(col), owner))
		}
	}
	createSpace := func(typ contentv1.Space_Type) func(column) authz.Outcome {
		return func(col column) authz.Outcome { return verdict(col.caller.CanCreateSpace(tenant, typ)) }
	}
	platform := func(write bool) func(column) authz.Outcome {
		return func(col column) authz.Outcome { return verdict(col.caller.CanUsePlatform(write)) }
	}
	policy := map[string]func(column) authz.Outcome{
		"CreateSpace/shared":               createSpace(contentv1.Space_TYPE_SHARED),
		"CreateSpace/managed":              createSpace(contentv1.Space_TYPE_MANAGED),
		"GetSpace":                         needs(authz.View),
		"ListSpaces":                       needs(authz.View),
		"UpdateSpace":                      needs(authz.Facilitate),
		"DeleteSpace":                      needs(authz.Facilitate),
		"CreateSpaceMember":                needs(authz.Facilitate),
		"ListSpaceMembers":                 needs(authz.View),
		"DeleteSpaceMember":                needs(authz.Facilitate),
		"CreateApp":                        needs(authz.Contribute),
		"GetApp":                           needs(authz.View),
		"ListApps":                         needs(authz.View),
		"UpdateApp/own app":                edit(true),
		"UpdateApp/another's app":          edit(false),
		"DeleteApp/own app":                edit(true),
		"DeleteApp/another's app":          edit(false),
		"UndeleteApp/own app":              edit(true),
		"UndeleteApp/another's app":        edit(false),
		"ListAppRevisions":                 needs(authz.View),
		"RestoreAppRevision/own app":       edit(true),
		"RestoreAppRevision/another's app": edit(false),
		// View on the source, contribute on the destination: the same role in both.
		"CopyApp/same tenant": needs(authz.Contribute),
		"CopyApp/other tenant": func(col column) authz.Outcome {
			if level(col) < authz.View {
				return authz.Invisible
			}
			return verdict(col.caller.Platform && col.caller.SpaceLevel(other, col.role) >= authz.Contribute)
		},
		"ExportApp": needs(authz.View),
		"ImportApp": needs(authz.Contribute),
		// Produce on the shared source, contribute on the managed target.
		"PublishApp":            needs(authz.Produce),
		"CreateTemplate":        platform(true),
		"GetTemplate":           platform(false),
		"ListTemplates":         platform(false),
		"CreateTemplateVersion": platform(true),
		"GetTemplateVersion":    platform(false),
		"ListTemplateVersions":  platform(false),
		"ListDrift":             platform(false),
		"CreateRollout":         platform(true),
		"GetRollout":            platform(false),
		"ListRollouts":          platform(false),
		"ListRolloutTargets":    platform(false),
		"CancelRollout":         platform(true),
		"RollbackRollout":       platform(true),
		"WatchRollout":          platform(false),
		// Reloading is editing the app's data; reading its reloads and data is viewing it.
		"CreateReload/own app":       edit(true),
		"CreateReload/another's app": edit(false),
		"GetReload":                  needs(authz.View),
		"ListReloads":                needs(authz.View),
		"CancelReload/another's app": edit(false),
		"WatchReload":                needs(authz.View),
		"GetChartData":               needs(authz.View),
		"GetFieldValues":             needs(authz.View),
		"GetDataModel":               needs(authz.View),
		"GetSelections":              needs(authz.View),
		"Select":                     needs(authz.View),
		"ClearSelections":            needs(authz.View),
		"BackSelections":             needs(authz.View),
		"ForwardSelections":          needs(authz.View),
	}
	cols := columns()
	if len(cols) != len(authz.Columns) {
		t.Fatalf("the test knows %d columns; the matrix has %d", len(cols), len(authz.Columns))
	}
	for _, r := range authz.Matrix() {
		want, ok := policy[r.Key()]
		if !ok {
			t.Errorf("no policy for row %s", r.Key())
			continue
		}
		for _, c := range authz.Columns {
			col, ok := cols[c.Key]
			if !ok {
				t.Fatalf("no caller for column %s", c.Key)
			}
			if got, w := r.Cell(c.Key), want(col); got != w {
				t.Errorf("%s as %s: the matrix says %s, the policy %s", r.Key(), c.Title, got.Symbol(), w.Symbol())
			}
		}
	}
}
