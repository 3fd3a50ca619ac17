package commands_test

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"google.golang.org/protobuf/proto"

	contentv1 "github.com/oriel-dev/oriel/gen/pb/oriel/content/v1"
)

// definitionJSON is a small AppDefinition as a person writes it: a kpi and a bar chart.
const definitionJSON = `{
  "sheets": [{
    "id": "overview",
    "title": "Overview",
    "charts": [
      {"id": "revenue", "kind": "KIND_KPI", "title": "Revenue",
       "measures": [{"aggregation": "AGGREGATION_SUM", "field": "amount"}],
       "position": {"x": 0, "y": 0, "width": 6, "height": 4}},
      {"id": "by-region", "kind": "KIND_BAR", "title": "Revenue by region", "dimensions": ["region"],
       "measures": [{"aggregation": "AGGREGATION_SUM", "field": "amount"}],
       "position": {"x": 6, "y": 0, "width": 18, "height": 8}}
    ]
  }]
}`

// contentFiles writes the definition and a load script reading $(schema) into a new folder.
func contentFiles(t *testing.T) (definition, script string) {
	t.Helper()
	dir := t.TempDir()
	definition, script = filepath.Join(dir, "dashboard.json"), filepath.Join(dir, "load.sql")
	if err := os.WriteFile(definition, []byte(definitionJSON), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(script, []byte("orders:\nSELECT region, amount FROM $(schema).orders;\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	return definition, script
}

// fail runs a command that must exit 1 and returns its stderr.
func (e edge) fail(t *testing.T, args ...string) string {
	t.Helper()
	r := e.run(t, "table", args...)
	if r.code != 1 {
		t.Fatalf("oriel %s: exit %d, want 1\nstdout: %s\nstderr: %s", strings.Join(args, " "), r.code, r.stdout, r.stderr)
	}
	return r.stderr
}

func TestSpacesCommands(t *testing.T) {
	t.Parallel()
	e := startEdge(t)
	sp := parseJSON(t, e.ok(t, "json", "spaces", "create", "acme", "team", "--display-name", "Team", "--type", "shared", "--description", "Authors"), &contentv1.Space{})
	if sp.GetName() != "tenants/acme/spaces/team" || sp.GetType() != contentv1.Space_TYPE_SHARED || sp.GetDescription() != "Authors" {
		t.Errorf("created = %v", sp)
	}
	got := block(e.ok(t, "table", "spaces", "create", "tenants/acme", "published", "--display-name", "Published", "--type", "managed"))
	if got["Name"] != "tenants/acme/spaces/published" || got["Type"] != "MANAGED" || got["Etag"] == "-" {
		t.Errorf("table = %v", got)
	}
	rows := tableRows(e.ok(t, "table", "spaces", "list", "acme"))
	if len(rows) != 3 || rows[1][0] != "tenants/acme/spaces/published" || rows[2][2] != "SHARED" {
		t.Errorf("list = %v, want a header and both spaces by name", rows)
	}
	list := parseJSON(t, e.ok(t, "json", "spaces", "list", "acme"), &contentv1.ListSpacesResponse{})
	if len(list.GetSpaces()) != 2 {
		t.Errorf("json list = %v", list)
	}
	if out := e.ok(t, "json", "spaces", "list", "nobody"); out != "{\n  \"spaces\": []\n}\n" {
		t.Errorf("empty list = %q, want an empty array", out)
	}

	upd := block(e.ok(t, "table", "spaces", "update", "tenants/acme/spaces/team", "--display-name", "Team A"))
	if upd["Display name"] != "Team A" || upd["Description"] != "Authors" {
		t.Errorf("updated = %v, want the name alone changed", upd)
	}
	stderr := e.fail(t, "spaces", "update", "tenants/acme/spaces/team", "--description", "x", "--etag", sp.GetEtag())
	if !strings.Contains(stderr, "ETAG_MISMATCH") {
		t.Errorf("stale etag: %s", stderr)
	}

	m := block(e.ok(t, "table", "spaces", "members", "add", "tenants/acme/spaces/team", "--group", "analysts", "--role", "producer"))
	if m["Name"] != "tenants/acme/spaces/team/members/g-analysts" || m["Group"] != "tenants/acme/groups/analysts" || m["Role"] != "producer" {
		t.Errorf("member = %v", m)
	}
	e.ok(t, "table", "spaces", "members", "add", "tenants/acme/spaces/team", "--user", "tenants/acme/users/ann", "--role", "consumer")
	members := tableRows(e.ok(t, "table", "spaces", "members", "list", "tenants/acme/spaces/team"))
	if len(members) != 3 || members[2][1] != "tenants/acme/users/ann" || members[2][2] != "consumer" {
		t.Errorf("members = %v", members)
	}
	if out := e.ok(t, "table", "spaces", "members", "remove", "tenants/acme/spaces/team/members/u-ann"); !strings.HasPrefix(out, "Removed tenants/acme/spaces/team/members/u-ann") {
		t.Errorf("remove said %q", out)
	}
	if out := e.ok(t, "json", "spaces", "delete", "tenants/acme/spaces/published"); out != "{}\n" {
		t.Errorf("delete in JSON = %q, want {}", out)
	}
	if stderr := e.fail(t, "spaces", "get", "tenants/acme/spaces/published"); !strings.Contains(stderr, "(NOT_FOUND, RESOURCE_NOT_FOUND)") {
		t.Errorf("get after delete: %s", stderr)
	}
}

func TestAppsCommands(t *testing.T) {
	t.Parallel()
	e := startEdge(t)
	def, script := contentFiles(t)
	e.ok(t, "table", "spaces", "create", "acme", "team", "--display-name", "Team", "--type", "shared")
	e.ok(t, "table", "spaces", "create", "acme", "published", "--display-name", "Published", "--type", "managed")

	app := parseJSON(t, e.ok(t, "json", "apps", "create", "acme", "sales", "--space", "team", "--title", "Sales",
		"--definition-file", def, "--load-script-file", script, "--label", "kind=dashboard"), &contentv1.App{})
	if app.GetName() != "tenants/acme/apps/sales" || app.GetSpace() != "tenants/acme/spaces/team" || app.GetRevision() != "1" ||
		len(app.GetDefinition().GetSheets()[0].GetCharts()) != 2 || !strings.Contains(app.GetDefinition().GetLoadScript(), "$(schema)") ||
		app.GetLabels()["kind"] != "dashboard" {
		t.Fatalf("created = %v", app)
	}
	got := block(e.ok(t, "table", "apps", "get", app.GetName()))
	for k, want := range map[string]string{"Title": "Sales", "Space": "tenants/acme/spaces/team", "State": "ACTIVE", "Revision": "1",
		"Content": "1 sheet, 2 charts", "Load script": "orders: (+1 line)", "Labels": "kind=dashboard"} {
		if got[k] != want {
			t.Errorf("%s: %q, want %q", k, got[k], want)
		}
	}

	t.Run("update saves a revision; restore brings an old one back", func(t *testing.T) {
		upd := parseJSON(t, e.ok(t, "json", "apps", "update", app.GetName(), "--title", "Sales 2", "--etag", app.GetEtag()), &contentv1.App{})
		if upd.GetTitle() != "Sales 2" || upd.GetRevision() != "2" || len(upd.GetDefinition().GetSheets()) != 1 {
			t.Errorf("updated = %v, want the title alone changed at revision 2", upd)
		}
		if stderr := e.fail(t, "apps", "update", app.GetName(), "--title", "x", "--etag", app.GetEtag()); !strings.Contains(stderr, "ETAG_MISMATCH") {
			t.Errorf("stale etag: %s", stderr)
		}
		rows := tableRows(e.ok(t, "table", "apps", "revisions", app.GetName()))
		if len(rows) != 3 || rows[1][0] != "tenants/acme/apps/sales/revisions/2" || rows[1][1] != "SAVE" || rows[2][0] != "tenants/acme/apps/sales/revisions/1" {
			t.Errorf("revisions = %v, want 2 then 1", rows)
		}
		restored := block(e.ok(t, "table", "apps", "restore", "tenants/acme/apps/sales/revisions/1"))
		if restored["Title"] != "Sales" || restored["Revision"] != "3" {
			t.Errorf("restored = %v", restored)
		}
	})

	t.Run("delete, list with and without deleted apps, undelete", func(t *testing.T) {
		e.ok(t, "table", "apps", "create", "acme", "scratch", "--space", "tenants/acme/spaces/team", "--title", "Scratch")
		del := block(e.ok(t, "table", "apps", "delete", "tenants/acme/apps/scratch"))
		if del["State"] != "DELETED" || del["Purge time"] == "" {
			t.Errorf("deleted = %v", del)
		}
		names := func(args ...string) []string {
			var out []string
			for _, a := range parseJSON(t, e.ok(t, "json", append([]string{"apps", "list", "acme"}, args...)...), &contentv1.ListAppsResponse{}).GetApps() {
				out = append(out, a.GetName())
			}
			return out
		}
		if got := names(); slices.Contains(got, "tenants/acme/apps/scratch") {
			t.Errorf("list shows a deleted app: %v", got)
		}
		if got := names("--show-deleted", "--space", "team"); !slices.Equal(got, []string{"tenants/acme/apps/sales", "tenants/acme/apps/scratch"}) {
			t.Errorf("list --show-deleted --space team = %v", got)
		}
		if un := block(e.ok(t, "table", "apps", "undelete", "tenants/acme/apps/scratch")); un["State"] != "ACTIVE" {
			t.Errorf("undeleted = %v", un)
		}
	})

	t.Run("copy, export to a file, import, publish", func(t *testing.T) {
		cp := block(e.ok(t, "table", "apps", "copy", app.GetName(), "--to-space", "team", "--id", "sales-copy", "--title", "Copy"))
		if cp["Name"] != "tenants/acme/apps/sales-copy" || cp["Title"] != "Copy" {
			t.Errorf("copy = %v", cp)
		}
		bundleFile := filepath.Join(t.TempDir(), "sales.json")
		r := e.run(t, "table", "apps", "export", app.GetName(), "-f", bundleFile)
		if r.code != 0 || r.stdout != "" || !strings.Contains(r.stderr, "Exported tenants/acme/apps/sales to") {
			t.Errorf("export -f: exit %d, stdout %q, stderr %q", r.code, r.stdout, r.stderr)
		}
		raw, err := os.ReadFile(bundleFile)
		if err != nil {
			t.Fatal(err)
		}
		bundle := parseJSON(t, string(raw), &contentv1.AppBundle{})
		if bundle.GetFormatVersion() != 1 || bundle.GetExportedFrom() != app.GetName() {
			t.Errorf("bundle = %v", bundle)
		}
		// Without a file the bundle goes to stdout, whatever --output says.
		again := parseJSON(t, e.ok(t, "table", "apps", "export", app.GetName()), &contentv1.AppBundle{})
		again.ExportTime = bundle.GetExportTime()
		if !proto.Equal(again, bundle) {
			t.Errorf("export to stdout = %v\nwant what the file holds: %v", again, bundle)
		}
		e.ok(t, "table", "spaces", "create", "globex", "imports", "--display-name", "Imports", "--type", "shared")
		imp := block(e.ok(t, "table", "apps", "import", "globex", "--space", "imports", "--bundle-file", bundleFile, "--id", "sales"))
		if imp["Name"] != "tenants/globex/apps/sales" || imp["Content"] != "1 sheet, 2 charts" {
			t.Errorf("imported = %v", imp)
		}
		pub := block(e.ok(t, "table", "apps", "publish", app.GetName(), "--to-space", "published"))
		if pub["Space"] != "tenants/acme/spaces/published" || pub["Published from"] != app.GetName() {
			t.Errorf("published = %v", pub)
		}
	})

	t.Run("a definition file with a typo is refused before any request", func(t *testing.T) {
		bad := filepath.Join(t.TempDir(), "bad.json")
		if err := os.WriteFile(bad, []byte(`{"sheets": [{"id": "s", "title": "S", "chartz": []}]}`), 0o644); err != nil {
			t.Fatal(err)
		}
		stderr := e.fail(t, "apps", "create", "acme", "typo", "--space", "team", "--title", "T", "--definition-file", bad)
		if !strings.Contains(stderr, "--definition-file") || !strings.Contains(stderr, "chartz") {
			t.Errorf("stderr = %s", stderr)
		}
	})

	t.Run("a definition the server refuses names the field", func(t *testing.T) {
		bad := filepath.Join(t.TempDir(), "kpi.json")
		if err := os.WriteFile(bad, []byte(`{"sheets": [{"id": "s", "title": "S", "charts": [{"id": "k", "kind": "KIND_KPI", "position": {"width": 4, "height": 2}}]}]}`), 0o644); err != nil {
			t.Fatal(err)
		}
		stderr := e.fail(t, "apps", "create", "acme", "badkpi", "--space", "team", "--title", "T", "--definition-file", bad)
		if !strings.Contains(stderr, "INVALID_ARGUMENT") || !strings.Contains(stderr, "  app.definition.sheets[0].charts[0]") {
			t.Errorf("stderr = %s", stderr)
		}
	})
}

// gold sets up what a rollout needs: three gold tenants and a template whose v1 requires
// `schema`. It returns the files of the definition and the script.
func (e edge) gold(t *testing.T) (definition, script string) {
	t.Helper()
	for _, id := range []string{"gold-a", "gold-b", "gold-c"} {
		e.createTenant(t, id, "--label", "plan=gold")
	}
	definition, script = contentFiles(t)
	e.ok(t, "table", "templates", "create", "sales", "--display-name", "Sales dashboard")
	e.ok(t, "table", "templates", "versions", "create", "sales", "v1", "--title", "Sales",
		"--definition-file", definition, "--load-script-file", script, "--variable", "schema:required", "--variable", "currency=EUR")
	return definition, script
}

// progressLine is what --wait writes on a non-terminal stderr for each change.
var progressLine = regexp.MustCompile(`(?m)^rollouts/\S+: [A-Z_]+, \d+/\d+ done \(`)

func TestTemplatesCommands(t *testing.T) {
	t.Parallel()
	e := startEdge(t)
	def, script := e.gold(t)
	tpl := block(e.ok(t, "table", "templates", "get", "sales"))
	if tpl["Name"] != "templates/sales" || tpl["Latest version"] != "templates/sales/versions/v1" {
		t.Errorf("template = %v", tpl)
	}
	if rows := tableRows(e.ok(t, "table", "templates", "list")); len(rows) != 2 || rows[1][0] != "templates/sales" {
		t.Errorf("list = %v", rows)
	}
	v := parseJSON(t, e.ok(t, "json", "templates", "versions", "get", "templates/sales/versions/v1"), &contentv1.TemplateVersion{})
	want := []*contentv1.TemplateVariable{{Name: "schema", Required: true}, {Name: "currency", DefaultValue: "EUR"}}
	if len(v.GetVariables()) != 2 || v.GetVariables()[0].GetName() != want[0].GetName() || !v.GetVariables()[0].GetRequired() ||
		v.GetVariables()[1].GetDefaultValue() != "EUR" || v.GetVariables()[1].GetRequired() {
		t.Errorf("variables = %v, want %v", v.GetVariables(), want)
	}
	if b := block(e.ok(t, "table", "templates", "versions", "get", "templates/sales/versions/v1")); b["Variables"] != "schema (required), currency=EUR" {
		t.Errorf("version block = %v", b)
	}
	e.ok(t, "table", "templates", "versions", "create", "templates/sales", "1.1.0", "--title", "Sales", "--definition-file", def,
		"--load-script-file", script, "--variable", "schema:required", "--notes", "dots in ids")
	rows := tableRows(e.ok(t, "table", "templates", "versions", "list", "sales"))
	if len(rows) != 3 || rows[1][0] != "templates/sales/versions/1.1.0" || rows[2][0] != "templates/sales/versions/v1" {
		t.Errorf("versions = %v, want newest first", rows)
	}

	t.Run("a script reading an undeclared variable is refused", func(t *testing.T) {
		stderr := e.fail(t, "templates", "versions", "create", "sales", "v9", "--title", "T", "--definition-file", def, "--load-script-file", script)
		if !strings.Contains(stderr, "INVALID_ARGUMENT") || !strings.Contains(stderr, "schema") {
			t.Errorf("stderr = %s", stderr)
		}
	})

	t.Run("drift lists the edited apps", func(t *testing.T) {
		if out := e.ok(t, "json", "templates", "drift", "sales"); out != "{\n  \"drifts\": []\n}\n" {
			t.Errorf("drift before any rollout = %q", out)
		}
		e.ok(t, "table", "rollouts", "create", "--id", "v1-all", "--version", "templates/sales/versions/v1", "--filter", `labels.plan = "gold"`,
			"--variable", "schema=public", "--wait")
		e.ok(t, "table", "apps", "update", "tenants/gold-b/apps/sales", "--title", "Ours")
		rows := tableRows(e.ok(t, "table", "templates", "drift", "sales"))
		want := [][]string{{"APP", "TEMPLATE VERSION", "DEPLOYED REVISION", "CURRENT REVISION"}, {"tenants/gold-b/apps/sales", "templates/sales/versions/v1", "1", "2"}}
		if !slices.EqualFunc(rows, want, slices.Equal) {
			t.Errorf("drift = %v, want %v", rows, want)
		}
	})
}

func TestRolloutsCreateWaitExitsZeroWhenEveryTenantSucceeds(t *testing.T) {
	t.Parallel()
	e := startEdge(t)
	e.gold(t)
	r := e.run(t, "json", "rollouts", "create", "--id", "gold-v1", "--version", "templates/sales/versions/v1",
		"--filter", `labels.plan = "gold"`, "--variable", "schema=public", "--tenant-variable", "gold-a:schema=a",
		"--tenant-variable", "tenants/gold-b:schema=b", "--max-parallel", "2", "--wave", "1", "--wave", "50%", "--wait")
	if r.code != 0 {
		t.Fatalf("exit %d\nstderr: %s", r.code, r.stderr)
	}
	final := parseJSON(t, r.stdout, &contentv1.Rollout{})
	if p := final.GetProgress(); final.GetState() != contentv1.Rollout_STATE_COMPLETED || p.GetSucceeded() != 3 || p.GetTotal() != 3 {
		t.Errorf("stdout = %v, want the rollout COMPLETED, 3 succeeded", final)
	}
	lines := progressLine.FindAllString(r.stderr, -1)
	if len(lines) == 0 || !strings.Contains(r.stderr, "rollouts/gold-v1: COMPLETED, 3/3 done (succeeded 3, failed 0, skipped 0, cancelled 0)\n") {
		t.Errorf("stderr = %q, want a line per change ending with the counts", r.stderr)
	}
	if strings.Contains(r.stderr, "\r") || strings.Contains(r.stderr, "\x1b") {
		t.Errorf("stderr is not a terminal, yet it got a bar: %q", r.stderr)
	}

	rows := tableRows(e.ok(t, "table", "rollouts", "targets", "gold-v1"))
	want := [][]string{
		{"TENANT", "WAVE", "STATUS", "APP", "PREVIOUS", "APPLIED", "REASON"},
		{"tenants/gold-a", "1", "SUCCEEDED", "tenants/gold-a/apps/sales", "-", "1", "-"},
		{"tenants/gold-b", "2", "SUCCEEDED", "tenants/gold-b/apps/sales", "-", "1", "-"},
		{"tenants/gold-c", "2", "SUCCEEDED", "tenants/gold-c/apps/sales", "-", "1", "-"},
	}
	if !slices.EqualFunc(rows, want, slices.Equal) {
		t.Errorf("targets = %v\nwant %v", rows, want)
	}
	app := parseJSON(t, e.ok(t, "json", "apps", "get", "tenants/gold-a/apps/sales"), &contentv1.App{})
	if vars := app.GetDefinition().GetVariables(); vars["schema"] != "a" || vars["currency"] != "EUR" || app.GetTemplateVersion() != "templates/sales/versions/v1" {
		t.Errorf("gold-a's app = %v, want schema a, currency EUR, from v1", app)
	}
	got := block(e.ok(t, "table", "rollouts", "get", "rollouts/gold-v1"))
	for k, want := range map[string]string{"State": "COMPLETED", "Progress": "3 tenants: 3 succeeded, 0 failed, 0 skipped",
		"Strategy": "2 at once; waves of 1, 50%, then the rest", "Filter": `labels.plan = "gold"`, "Drift": "skipped"} {
		if got[k] != want {
			t.Errorf("get %s: %q, want %q", k, got[k], want)
		}
	}
	if rows := tableRows(e.ok(t, "table", "rollouts", "list")); len(rows) != 2 || rows[1][0] != "rollouts/gold-v1" || rows[1][2] != "COMPLETED" {
		t.Errorf("list = %v", rows)
	}

	t.Run("watching the ended rollout exits zero at once", func(t *testing.T) {
		r := e.run(t, "table", "rollouts", "watch", "gold-v1")
		if r.code != 0 || block(r.stdout)["State"] != "COMPLETED" {
			t.Errorf("exit %d, stdout %q, stderr %q", r.code, r.stdout, r.stderr)
		}
	})

	t.Run("without --wait the rollout is shown as created", func(t *testing.T) {
		r := e.run(t, "table", "rollouts", "create", "--id", "gold-again", "--version", "templates/sales/versions/v1",
			"--tenant", "gold-a", "--variable", "schema=a")
		if r.code != 0 || block(r.stdout)["State"] != "PENDING" || !strings.Contains(r.stderr, "oriel rollouts watch rollouts/gold-again") {
			t.Errorf("exit %d, stdout %q, stderr %q", r.code, r.stdout, r.stderr)
		}
	})

	t.Run("rollback --wait exits zero once every tenant is back", func(t *testing.T) {
		r := e.run(t, "table", "rollouts", "rollback", "gold-v1", "--wait")
		if r.code != 0 {
			t.Fatalf("exit %d\nstderr: %s", r.code, r.stderr)
		}
		if b := block(r.stdout); b["State"] != "ROLLED_BACK" || b["Progress"] != "3 tenants: 0 succeeded, 0 failed, 0 skipped, 3 rolled back" {
			t.Errorf("stdout = %v", b)
		}
		if !strings.Contains(r.stderr, "rollouts/gold-v1: ROLLED_BACK, 3/3 done (rolled back 3, failed 0)") {
			t.Errorf("stderr = %q", r.stderr)
		}
		rows := tableRows(e.ok(t, "table", "rollouts", "targets", "gold-v1", "--status", "rolled-back"))
		if len(rows) != 4 {
			t.Errorf("rolled-back targets = %v, want all 3", rows)
		}
	})
}

func TestRolloutsCreateWaitExitsOneAndNamesTheFailedTenants(t *testing.T) {
	t.Parallel()
	e := startEdge(t)
	e.gold(t)
	// gold-c gets no schema, which v1 requires.
	r := e.run(t, "table", "rollouts", "create", "--id", "gold-v1", "--version", "templates/sales/versions/v1",
		"--tenant", "gold-a", "--tenant", "gold-b", "--tenant", "gold-c",
		"--tenant-variable", "gold-a:schema=a", "--tenant-variable", "gold-b:schema=b", "--wait")
	if r.code != 1 {
		t.Fatalf("exit %d, want 1\nstdout: %s\nstderr: %s", r.code, r.stdout, r.stderr)
	}
	if b := block(r.stdout); b["State"] != "COMPLETED" || b["Progress"] != "3 tenants: 2 succeeded, 1 failed, 0 skipped" {
		t.Errorf("stdout = %v, want the final rollout and its counts", b)
	}
	wantErr := "error: rollouts/gold-v1 ended COMPLETED with 1 tenant of 3 failed\n" +
		"  tenants/gold-c: required variable \"schema\" has no value\n"
	if !strings.HasSuffix(r.stderr, wantErr) {
		t.Errorf("stderr = %q\nwant it to end with %q", r.stderr, wantErr)
	}
	rows := tableRows(e.ok(t, "table", "rollouts", "targets", "gold-v1", "--status", "failed"))
	if len(rows) != 2 || rows[1][0] != "tenants/gold-c" || rows[1][2] != "FAILED" {
		t.Errorf("failed targets = %v", rows)
	}

	t.Run("a halted rollout exits one", func(t *testing.T) {
		for i := range 8 {
			e.createTenant(t, "bad-"+string(rune('a'+i)), "--label", "plan=bad")
		}
		r := e.run(t, "json", "rollouts", "create", "--id", "bad-v1", "--version", "templates/sales/versions/v1",
			"--filter", `labels.plan = "bad"`, "--max-failure-ratio", "0.5", "--max-parallel", "1", "--wait")
		final := parseJSON(t, r.stdout, &contentv1.Rollout{})
		if r.code != 1 || final.GetState() != contentv1.Rollout_STATE_HALTED {
			t.Fatalf("exit %d, state %v; want 1 and HALTED\nstderr: %s", r.code, final.GetState(), r.stderr)
		}
		if !strings.Contains(r.stderr, "error: rollouts/bad-v1 ended HALTED: ") || strings.Count(r.stderr, `: required variable "schema" has no value`) != int(final.GetProgress().GetFailed()) {
			t.Errorf("stderr = %s", r.stderr)
		}
	})

	t.Run("cancelling an ended rollout is refused", func(t *testing.T) {
		stderr := e.fail(t, "rollouts", "cancel", "gold-v1", "--wait")
		if !strings.Contains(stderr, "(FAILED_PRECONDITION, ROLLOUT_STATE)") {
			t.Errorf("stderr = %s", stderr)
		}
	})

	t.Run("an unknown version is NOT_FOUND", func(t *testing.T) {
		stderr := e.fail(t, "rollouts", "create", "--version", "templates/sales/versions/v9", "--tenant", "gold-a", "--wait")
		if !strings.Contains(stderr, "(NOT_FOUND, RESOURCE_NOT_FOUND)") {
			t.Errorf("stderr = %s", stderr)
		}
	})

	t.Run("watching a rollout that does not exist exits one", func(t *testing.T) {
		if stderr := e.fail(t, "rollouts", "watch", "nowhere"); !strings.Contains(stderr, "NOT_FOUND") {
			t.Errorf("stderr = %s", stderr)
		}
	})
}

func TestRolloutsCancelWaitExitsZeroOnceCancelled(t *testing.T) {
	t.Parallel()
	e := startEdge(t)
	e.gold(t)
	// Enough tenants, one at a time, that the rollout is still running when the cancel
	// arrives, yet few enough that creating it stays well inside the CLI's timeout on a
	// loaded machine. (The content service deploys to listed tenants without asking the
	// tenant service whether they exist, which keeps this test quick.)
	args := []string{"rollouts", "create", "--id", "slow", "--version", "templates/sales/versions/v1", "--variable", "schema=s", "--max-parallel", "1"}
	for i := range 400 {
		args = append(args, "--tenant", fmt.Sprintf("t-%d", i))
	}
	e.ok(t, "table", args...)
	r := e.run(t, "table", "rollouts", "cancel", "slow", "--wait")
	if r.code != 0 {
		t.Fatalf("exit %d\nstdout: %s\nstderr: %s", r.code, r.stdout, r.stderr)
	}
	b := block(r.stdout)
	if b["State"] != "CANCELLED" || !strings.Contains(b["Progress"], "cancelled") {
		t.Errorf("stdout = %v, want CANCELLED with cancelled tenants", b)
	}
	if !regexp.MustCompile(`(?m)^rollouts/slow: CANCELLED, 400/400 done \(succeeded \d+, failed 0, skipped 0, cancelled \d+\)$`).MatchString(r.stderr) {
		t.Errorf("stderr = %q", r.stderr)
	}

	t.Run("watching a cancelled rollout exits one: it did not complete", func(t *testing.T) {
		stderr := e.fail(t, "rollouts", "watch", "slow")
		if !strings.Contains(stderr, "error: rollouts/slow ended CANCELLED: ") {
			t.Errorf("stderr = %s", stderr)
		}
	})
}

func TestContentUsageErrorsExitTwoWithoutCallingTheEdge(t *testing.T) {
	t.Parallel()
	conn := []string{"--addr", "http://127.0.0.1:1", "--api-key", "k"}
	for _, tc := range []struct {
		name       string
		args       []string
		wantStderr string
	}{
		{"space without type", []string{"spaces", "create", "acme", "team", "--display-name", "T"}, "--type"},
		{"space of an unknown type", []string{"spaces", "create", "acme", "team", "--display-name", "T", "--type", "private"}, "--type must be one of"},
		{"space update without a field", []string{"spaces", "update", "tenants/acme/spaces/team", "--etag", "e"}, "nothing to update"},
		{"member without user or group", []string{"spaces", "members", "add", "tenants/acme/spaces/team", "--role", "consumer"}, "--user=USER or --group=GROUP"},
		{"member with both", []string{"spaces", "members", "add", "tenants/acme/spaces/team", "--role", "consumer", "--user", "u", "--group", "g"}, "can't be used together"},
		{"member with an unknown role", []string{"spaces", "members", "add", "tenants/acme/spaces/team", "--role", "owner", "--group", "g"}, "--role must be one of"},
		{"app without space", []string{"apps", "create", "acme", "sales", "--title", "T"}, "--space"},
		{"app label without =", []string{"apps", "create", "acme", "sales", "--space", "s", "--title", "T", "--label", "x"}, "want KEY=VALUE"},
		{"app update without a field", []string{"apps", "update", "tenants/acme/apps/sales"}, "nothing to update"},
		{"copy without destination", []string{"apps", "copy", "tenants/acme/apps/sales"}, "--to-space"},
		{"import without bundle", []string{"apps", "import", "acme", "--space", "s"}, "--bundle-file"},
		{"version without definition", []string{"templates", "versions", "create", "sales", "v1", "--title", "T"}, "--definition-file"},
		{"variable with an unknown modifier", []string{"templates", "versions", "create", "sales", "v1", "--title", "T", "--definition-file", "d.json", "--variable", "schema:optional"}, "not a modifier"},
		{"variable given twice", []string{"templates", "versions", "create", "sales", "v1", "--title", "T", "--definition-file", "d.json", "--variable", "a", "--variable", "a=1"}, "given twice"},
		{"rollout without version", []string{"rollouts", "create", "--tenant", "acme"}, "--version"},
		{"rollout without tenants", []string{"rollouts", "create", "--version", "templates/s/versions/v1"}, "--tenant=TENANT or --filter=FILTER"},
		{"rollout with tenants and a filter", []string{"rollouts", "create", "--version", "templates/s/versions/v1", "--tenant", "a", "--filter", "x"}, "can't be used together"},
		{"tenant variable without tenant", []string{"rollouts", "create", "--version", "v", "--tenant", "a", "--tenant-variable", "schema=a"}, "TENANT:NAME=VALUE"},
		{"variable without value", []string{"rollouts", "create", "--version", "v", "--tenant", "a", "--variable", "schema"}, "want KEY=VALUE"},
		{"wave of nothing", []string{"rollouts", "create", "--version", "v", "--tenant", "a", "--wave", "0"}, "--wave"},
		{"wave that is not a number", []string{"rollouts", "create", "--version", "v", "--tenant", "a", "--wave", "half"}, "--wave"},
		{"targets with an unknown status", []string{"rollouts", "targets", "r1", "--status", "done"}, "--status must be one of"},
		{"rollouts without a command", []string{"rollouts"}, "rollouts rollback"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := run(append(slices.Clone(tc.args), conn...)...)
			if r.code != 2 || !strings.Contains(r.stderr, "error: ") || !strings.Contains(r.stderr, tc.wantStderr) {
				t.Errorf("exit %d, stderr %q; want 2 and an error mentioning %q", r.code, r.stderr, tc.wantStderr)
			}
			if r.stdout != "" {
				t.Errorf("stdout = %q, want nothing", r.stdout)
			}
		})
	}
}

func TestContentCommandsRefuseMalformedNames(t *testing.T) {
	t.Parallel()
	conn := []string{"--addr", "http://127.0.0.1:1", "--api-key", "k"}
	for _, args := range [][]string{
		{"spaces", "get", "team"},
		{"spaces", "members", "remove", "tenants/acme/spaces/team"},
		{"apps", "get", "sales"},
		{"apps", "restore", "tenants/acme/apps/sales"},
		{"templates", "versions", "get", "templates/sales/versions/.."},
		{"rollouts", "get", "rollouts/a/b"},
		{"rollouts", "watch", "a:cancel"},
	} {
		t.Run(strings.Join(args, " "), func(t *testing.T) {
			r := run(append(args, conn...)...)
			if r.code != 1 || !strings.Contains(r.stderr, "name") || strings.Contains(r.stderr, "connection refused") {
				t.Errorf("exit %d, stderr %q; want 1 and a name error before any request", r.code, r.stderr)
			}
		})
	}
}
