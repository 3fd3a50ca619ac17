package commands_test

import (
	"bytes"
	"context"
	"log/slog"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"

	"github.com/oriel-dev/oriel/cli/internal/commands"
	"github.com/oriel-dev/oriel/cli/internal/devstack"
	tenantv1 "github.com/oriel-dev/oriel/gen/pb/oriel/tenant/v1"
	"github.com/oriel-dev/oriel/platform/auth"
)

// result is what one run of the CLI left behind.
type result struct {
	stdout, stderr string
	code           int
}

// run executes the CLI in-process, exactly as `oriel args...` would, with captured streams.
func run(args ...string) result {
	var out, errOut bytes.Buffer
	code := commands.Main(&commands.Commands{}, args, &out, &errOut)
	return result{stdout: out.String(), stderr: errOut.String(), code: code}
}

// edge is a running stack and the connection flags that reach it.
type edge struct {
	url, key string
	// extra are connection flags every command gets after the others.
	extra []string
}

func startEdge(t *testing.T) edge {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	st, err := devstack.Start(ctx, devstack.Config{DataDir: t.TempDir()}, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatalf("start stack: %v", err)
	}
	t.Cleanup(func() {
		if err := st.Stop(); err != nil {
			t.Errorf("stop stack: %v", err)
		}
	})
	return edge{url: st.GatewayURL, key: st.AdminKey}
}

// run runs a client command against the edge with the given output format. The
// connection flags are explicit so that ORIEL_* variables of the environment do not matter.
func (e edge) run(t *testing.T, output string, args ...string) result {
	t.Helper()
	args = append(args, "--addr", e.url, "--api-key", e.key, "--output", output, "--timeout", "30s")
	args = append(args, e.extra...)
	return run(args...)
}

// ok runs a command that must succeed and returns its stdout.
func (e edge) ok(t *testing.T, output string, args ...string) string {
	t.Helper()
	r := e.run(t, output, args...)
	if r.code != 0 {
		t.Fatalf("oriel %s: exit %d\nstderr: %s", strings.Join(args, " "), r.code, r.stderr)
	}
	return r.stdout
}

// createTenant creates tenant id with a hostname derived from it plus extra flags.
func (e edge) createTenant(t *testing.T, id string, extra ...string) *tenantv1.Tenant {
	t.Helper()
	args := append([]string{"tenants", "create", "--id", id, "--display-name", "Tenant " + id,
		"--hostname", id + ".analytics.example.com", "--region", "eu-west"}, extra...)
	return parseTenant(t, e.ok(t, "json", args...))
}

func parseTenant(t *testing.T, s string) *tenantv1.Tenant {
	t.Helper()
	tn := &tenantv1.Tenant{}
	if err := protojson.Unmarshal([]byte(s), tn); err != nil {
		t.Fatalf("stdout is not one tenant in JSON: %v\n%s", err, s)
	}
	return tn
}

func parseJSON[M proto.Message](t *testing.T, s string, m M) M {
	t.Helper()
	if err := protojson.Unmarshal([]byte(s), m); err != nil {
		t.Fatalf("stdout is not a %T in JSON: %v\n%s", m, err, s)
	}
	return m
}

// tableRows splits table output into rows of cells (two or more spaces apart).
func tableRows(s string) [][]string {
	var rows [][]string
	gap := regexp.MustCompile(`\s{2,}`)
	for line := range strings.Lines(s) {
		if line = strings.TrimRight(line, "\n "); line != "" {
			rows = append(rows, gap.Split(line, -1))
		}
	}
	return rows
}

// block reads a key: value block into a map.
func block(s string) map[string]string {
	m := map[string]string{}
	for line := range strings.Lines(s) {
		if k, v, ok := strings.Cut(line, ":"); ok {
			m[k] = strings.TrimSpace(v)
		}
	}
	return m
}

func TestTenantsCreatePrintsTheTenantInEitherFormat(t *testing.T) {
	t.Parallel()
	e := startEdge(t)
	flags := []string{"--display-name", "Acme Corp", "--hostname", "acme.analytics.example.com", "--hostname", "acme-alias.example.com",
		"--region", "eu-west", "--label", "segment=smb", "--label", "plan=gold", "--default-locale", "de-CH",
		"--allowed-origin", "https://app.acme.example.com", "--primary-color", "#1a73e8", "--background-color", "#ffffff", "--text-color", "#202124"}

	t.Run("json", func(t *testing.T) {
		out := e.ok(t, "json", append([]string{"tenants", "create", "--id", "acme-json"}, flags...)...)
		if !strings.HasPrefix(out, "{\n  \"name\": \"tenants/acme-json\",\n  \"displayName\": \"Acme Corp\",\n") {
			t.Errorf("JSON is not indented by two spaces with one space after each colon:\n%s", out)
		}
		tn := parseTenant(t, out)
		want := &tenantv1.Tenant{
			Name: "tenants/acme-json", DisplayName: "Acme Corp", Region: "eu-west", State: tenantv1.Tenant_STATE_ACTIVE,
			Hostnames: []string{"acme.analytics.example.com", "acme-alias.example.com"},
			Labels:    map[string]string{"plan": "gold", "segment": "smb"},
			Settings: &tenantv1.TenantSettings{DefaultLocale: "de-CH", AllowedWebOrigins: []string{"https://app.acme.example.com"},
				Theme: &tenantv1.Theme{PrimaryColor: "#1a73e8", BackgroundColor: "#ffffff", TextColor: "#202124"}},
			CreateTime: tn.GetCreateTime(), UpdateTime: tn.GetUpdateTime(), Etag: tn.GetEtag(),
		}
		if !proto.Equal(tn, want) {
			t.Errorf("tenant = %v\nwant %v", tn, want)
		}
	})

	t.Run("table", func(t *testing.T) {
		// Hostnames are unique across tenants, so this one gets its own.
		args := slices.Clone(flags)
		args[3], args[5] = "acme2.analytics.example.com", "acme2-alias.example.com"
		got := block(e.ok(t, "table", append([]string{"tenants", "create", "--id", "acme-table"}, args...)...))
		for k, want := range map[string]string{
			"Name": "tenants/acme-table", "Display name": "Acme Corp", "Region": "eu-west", "State": "ACTIVE",
			"Hostnames": "acme2.analytics.example.com, acme2-alias.example.com", "Labels": "plan=gold, segment=smb",
			"Default locale": "de-CH", "Primary color": "#1a73e8",
		} {
			if got[k] != want {
				t.Errorf("%s: %q, want %q", k, got[k], want)
			}
		}
		if got["Etag"] == "" || got["Etag"] == "-" {
			t.Errorf("no etag in %v", got)
		}
		if _, ok := got["Purge time"]; ok {
			t.Errorf("an active tenant shows a purge time: %v", got)
		}
	})
}

func TestTenantsCreateReportsEachFieldViolationAndExitsOne(t *testing.T) {
	t.Parallel()
	e := startEdge(t)
	r := e.run(t, "table", "tenants", "create", "--id", "Bad_Id", "--display-name", "x", "--hostname", "NOPE", "--region", "eu-west")
	if r.code != 1 {
		t.Fatalf("exit %d, want 1\n%s", r.code, r.stderr)
	}
	lines := strings.Split(strings.TrimSpace(r.stderr), "\n")
	if !strings.HasPrefix(lines[0], "error: invalid request") || !strings.HasSuffix(lines[0], "(INVALID_ARGUMENT, INVALID_REQUEST)") {
		t.Errorf("first line = %q, want error: <message> (INVALID_ARGUMENT, INVALID_REQUEST)", lines[0])
	}
	var fields []string
	for _, l := range lines[1:] {
		if f, _, ok := strings.Cut(strings.TrimPrefix(l, "  "), ":"); ok && strings.HasPrefix(l, "  ") {
			fields = append(fields, f)
		}
	}
	slices.Sort(fields)
	if want := []string{"tenant.hostnames[0]", "tenant_id"}; !slices.Equal(fields, want) {
		t.Errorf("violation lines name %v, want %v\n%s", fields, want, r.stderr)
	}
	if r.stdout != "" {
		t.Errorf("stdout = %q, want nothing on failure", r.stdout)
	}
}

func TestTenantsCreateWithTheSameRequestIDReturnsTheSameTenant(t *testing.T) {
	t.Parallel()
	e := startEdge(t)
	args := []string{"tenants", "create", "--display-name", "Retry", "--hostname", "retry.example.com", "--region", "us-east",
		"--request-id", "8f0b2f36-44a5-4bd4-9b6e-6b1f2fa1a1e3"}
	first := parseTenant(t, e.ok(t, "json", args...))
	again := parseTenant(t, e.ok(t, "json", args...))
	if first.GetName() != again.GetName() {
		t.Errorf("retry created %s, want the first call's %s", again.GetName(), first.GetName())
	}
}

func TestTenantsGetAcceptsAnIDOrAFullName(t *testing.T) {
	t.Parallel()
	e := startEdge(t)
	e.createTenant(t, "globex")
	for _, name := range []string{"globex", "tenants/globex"} {
		t.Run(name, func(t *testing.T) {
			if got := parseTenant(t, e.ok(t, "json", "tenants", "get", name)); got.GetName() != "tenants/globex" {
				t.Errorf("got %s", got.GetName())
			}
		})
	}
	t.Run("a malformed name is refused before any request", func(t *testing.T) {
		r := e.run(t, "table", "tenants", "get", "tenants/globex/apps")
		if r.code != 1 || !strings.Contains(r.stderr, "invalid tenant name") {
			t.Errorf("exit %d, stderr %q; want 1 and invalid tenant name", r.code, r.stderr)
		}
	})
	t.Run("an unknown tenant is NOT_FOUND", func(t *testing.T) {
		r := e.run(t, "table", "tenants", "get", "initech")
		if want := "error: tenants/initech not found (NOT_FOUND, RESOURCE_NOT_FOUND)\n"; r.code != 1 || r.stderr != want {
			t.Errorf("exit %d, stderr %q; want 1 and %q", r.code, r.stderr, want)
		}
	})
}

func TestTenantsListShowsEveryMatchingTenant(t *testing.T) {
	t.Parallel()
	e := startEdge(t)
	e.createTenant(t, "list-b", "--label", "plan=gold", "--label", "tier=1")
	e.createTenant(t, "list-a", "--label", "plan=gold")
	e.createTenant(t, "list-c", "--label", "plan=free")
	filter := []string{"--filter", `labels.plan = "gold"`}

	t.Run("table", func(t *testing.T) {
		rows := tableRows(e.ok(t, "table", append([]string{"tenants", "list"}, filter...)...))
		want := [][]string{
			{"NAME", "DISPLAY NAME", "REGION", "STATE", "HOSTNAMES", "LABELS"},
			{"tenants/list-a", "Tenant list-a", "eu-west", "ACTIVE", "list-a.analytics.example.com", "plan=gold"},
			{"tenants/list-b", "Tenant list-b", "eu-west", "ACTIVE", "list-b.analytics.example.com", "plan=gold,tier=1"},
		}
		if !slices.EqualFunc(rows, want, slices.Equal) {
			t.Errorf("rows = %q\nwant %q", rows, want)
		}
	})
	t.Run("json", func(t *testing.T) {
		out := e.ok(t, "json", append([]string{"tenants", "list"}, filter...)...)
		resp := parseJSON(t, out, &tenantv1.ListTenantsResponse{})
		if len(resp.GetTenants()) != 2 || resp.GetNextPageToken() != "" {
			t.Errorf("got %d tenants and token %q, want 2 and none", len(resp.GetTenants()), resp.GetNextPageToken())
		}
		if !strings.HasPrefix(out, "{\n  \"tenants\": [\n") {
			t.Errorf("JSON is not one indented object with a tenants array:\n%s", out)
		}
	})
	t.Run("json with no match still has the array", func(t *testing.T) {
		out := e.ok(t, "json", "tenants", "list", "--filter", `labels.plan = "platinum"`)
		if out != "{\n  \"tenants\": []\n}\n" {
			t.Errorf("stdout = %q", out)
		}
	})
	t.Run("a bad filter fails with INVALID_FILTER", func(t *testing.T) {
		r := e.run(t, "table", "tenants", "list", "--filter", "colour = red")
		if r.code != 1 || !strings.Contains(r.stderr, "(INVALID_ARGUMENT, INVALID_FILTER)") {
			t.Errorf("exit %d, stderr %q", r.code, r.stderr)
		}
	})
}

func TestTenantsListWithPagingFlagsShowsOnePageAndItsToken(t *testing.T) {
	t.Parallel()
	e := startEdge(t)
	for _, id := range []string{"page-a", "page-b", "page-c"} {
		e.createTenant(t, id)
	}

	r := e.run(t, "table", "tenants", "list", "--page-size", "2")
	if r.code != 0 {
		t.Fatalf("exit %d: %s", r.code, r.stderr)
	}
	if rows := tableRows(r.stdout); len(rows) != 3 || rows[1][0] != "tenants/page-a" || rows[2][0] != "tenants/page-b" {
		t.Errorf("first page = %q, want the header and page-a, page-b", rows)
	}
	token, ok := strings.CutPrefix(strings.TrimSpace(r.stderr), "next page token: ")
	if !ok || token == "" {
		t.Fatalf("stderr = %q, want the next page token", r.stderr)
	}

	out := e.ok(t, "json", "tenants", "list", "--page-size", "2", "--page-token", token)
	resp := parseJSON(t, out, &tenantv1.ListTenantsResponse{})
	if len(resp.GetTenants()) != 1 || resp.GetTenants()[0].GetName() != "tenants/page-c" || resp.GetNextPageToken() != "" {
		t.Errorf("second page = %v, want only page-c and no token", resp)
	}

	out = e.ok(t, "json", "tenants", "list", "--page-size", "1")
	if resp := parseJSON(t, out, &tenantv1.ListTenantsResponse{}); resp.GetNextPageToken() == "" {
		t.Errorf("one page in JSON lacks nextPageToken:\n%s", out)
	}
}

func TestTenantsUpdateChangesExactlyTheFlagsGiven(t *testing.T) {
	t.Parallel()
	e := startEdge(t)
	before := e.createTenant(t, "upd", "--label", "plan=gold", "--label", "tier=1", "--default-locale", "en-US",
		"--primary-color", "#111111", "--text-color", "#333333", "--allowed-origin", "https://a.example.com")

	for _, tc := range []struct {
		name  string
		flags []string
		want  func(*tenantv1.Tenant)
	}{
		{"display name only", []string{"--display-name", "Renamed"}, func(t *tenantv1.Tenant) { t.DisplayName = "Renamed" }},
		{"one colour keeps the others", []string{"--primary-color", "#abcdef"}, func(t *tenantv1.Tenant) { t.Settings.Theme.PrimaryColor = "#abcdef" }},
		{"labels given replace all labels", []string{"--label", "plan=free"}, func(t *tenantv1.Tenant) { t.Labels = map[string]string{"plan": "free"} }},
		{"clear labels", []string{"--clear-labels"}, func(t *tenantv1.Tenant) { t.Labels = nil }},
		{"an empty value clears a setting", []string{"--default-locale", "", "--allowed-origin", ""}, func(t *tenantv1.Tenant) {
			t.Settings.DefaultLocale = ""
			t.Settings.AllowedWebOrigins = nil
		}},
		{"hostnames and origins", []string{"--hostname", "new.example.com", "--hostname", "upd.analytics.example.com",
			"--allowed-origin", "https://b.example.com", "--allowed-origin", "http://localhost:3000"}, func(t *tenantv1.Tenant) {
			t.Hostnames = []string{"new.example.com", "upd.analytics.example.com"}
			t.Settings.AllowedWebOrigins = []string{"https://b.example.com", "http://localhost:3000"}
		}},
	} {
		// Sequential on purpose: each case starts from the previous state.
		t.Run(tc.name, func(t *testing.T) {
			want := proto.Clone(before).(*tenantv1.Tenant)
			tc.want(want)
			got := parseTenant(t, e.ok(t, "json", append([]string{"tenants", "update", "upd", "--etag", before.GetEtag()}, tc.flags...)...))
			want.UpdateTime, want.Etag = got.GetUpdateTime(), got.GetEtag()
			if !proto.Equal(got, want) {
				t.Errorf("tenant = %v\nwant %v", got, want)
			}
			before = got
		})
	}
}

func TestTenantsUpdateRefusesAStaleEtag(t *testing.T) {
	t.Parallel()
	e := startEdge(t)
	tn := e.createTenant(t, "etag")
	e.ok(t, "table", "tenants", "update", "etag", "--display-name", "One", "--etag", tn.GetEtag())
	r := e.run(t, "table", "tenants", "update", "etag", "--display-name", "Two", "--etag", tn.GetEtag())
	if r.code != 1 || !strings.HasPrefix(r.stderr, "error: tenants/etag changed since the etag sent was read") || !strings.HasSuffix(r.stderr, "(ABORTED, ETAG_MISMATCH)\n") {
		t.Errorf("exit %d, stderr %q; want 1 and an ETAG_MISMATCH line", r.code, r.stderr)
	}
}

func TestUsageErrorsExitTwoWithoutCallingTheEdge(t *testing.T) {
	t.Parallel()
	// Nothing listens here: a usage error must be caught before any request.
	conn := []string{"--addr", "http://127.0.0.1:1", "--api-key", "k"}
	for _, tc := range []struct {
		name       string
		args       []string
		wantStderr string
	}{
		{"update without a field flag", []string{"tenants", "update", "acme"}, "nothing to update"},
		{"update with --etag alone", []string{"tenants", "update", "acme", "--etag", "x"}, "nothing to update"},
		{"labels set and cleared at once", []string{"tenants", "update", "acme", "--label", "a=b", "--clear-labels"}, "cannot be combined"},
		{"label without =", []string{"tenants", "create", "--display-name", "x", "--hostname", "h.example.com", "--region", "r", "--label", "plan"}, "want KEY=VALUE"},
		{"label given twice", []string{"tenants", "update", "acme", "--label", "a=1", "--label", "a=2"}, "given twice"},
		{"create without a region", []string{"tenants", "create", "--display-name", "x", "--hostname", "h.example.com"}, "--region"},
		{"deactivate without confirmation", []string{"tenants", "deactivate", "acme"}, "--confirm-hostname"},
		{"get without a name", []string{"tenants", "get"}, "<name>"},
		{"unknown output format", []string{"regions", "list", "--output", "xml"}, "--output"},
		{"unknown command", []string{"tenants", "delete", "acme"}, "unexpected argument"},
		{"a group without a command shows the group's commands", []string{"tenants"}, "tenants deactivate"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := run(append(tc.args, conn...)...)
			if r.code != 2 || !strings.Contains(r.stderr, "error: ") || !strings.Contains(r.stderr, tc.wantStderr) {
				t.Errorf("exit %d, stderr %q; want 2 and an error mentioning %q", r.code, r.stderr, tc.wantStderr)
			}
			if r.stdout != "" {
				t.Errorf("stdout = %q, want nothing", r.stdout)
			}
		})
	}
}

func TestTenantsDeactivateAndReactivate(t *testing.T) {
	t.Parallel()
	e := startEdge(t)
	tn := e.createTenant(t, "lifecycle")

	r := e.run(t, "table", "tenants", "deactivate", "lifecycle", "--confirm-hostname", "wrong.example.com")
	if r.code != 1 || !strings.HasSuffix(r.stderr, "(FAILED_PRECONDITION, CONFIRMATION_MISMATCH)\n") {
		t.Fatalf("wrong hostname: exit %d, stderr %q; want 1 and CONFIRMATION_MISMATCH", r.code, r.stderr)
	}

	off := block(e.ok(t, "table", "tenants", "deactivate", "tenants/lifecycle", "--confirm-hostname", tn.GetHostnames()[0],
		"--purge-after-days", "10", "--etag", tn.GetEtag()))
	if off["State"] != "DEACTIVATED" || off["Purge time"] == "" || off["Deactivated"] == "" {
		t.Errorf("after deactivate: %v, want DEACTIVATED with deactivate and purge times", off)
	}
	rows := tableRows(e.ok(t, "table", "tenants", "list"))
	if len(rows) != 2 || rows[0][len(rows[0])-1] != "PURGE TIME" || rows[1][len(rows[1])-1] != off["Purge time"] {
		t.Errorf("list = %q, want a PURGE TIME column showing %s", rows, off["Purge time"])
	}

	r = e.run(t, "table", "tenants", "deactivate", "lifecycle", "--confirm-hostname", tn.GetHostnames()[0], "--purge-after-days", "5")
	if r.code != 1 || !strings.Contains(r.stderr, "  purge_after_days: ") {
		t.Errorf("purge-after-days 5: exit %d, stderr %q; want 1 with a purge_after_days violation", r.code, r.stderr)
	}

	on := parseTenant(t, e.ok(t, "json", "tenants", "reactivate", "lifecycle", "--etag", off["Etag"]))
	if on.GetState() != tenantv1.Tenant_STATE_ACTIVE || on.GetPurgeTime() != nil {
		t.Errorf("after reactivate: %v, want ACTIVE without purge time", on)
	}
	r = e.run(t, "table", "tenants", "reactivate", "lifecycle")
	if r.code != 1 || !strings.Contains(r.stderr, "TENANT_NOT_DEACTIVATED") {
		t.Errorf("reactivating an active tenant: exit %d, stderr %q", r.code, r.stderr)
	}
}

func TestTenantsEventsListsEachChange(t *testing.T) {
	t.Parallel()
	e := startEdge(t)
	tn := e.createTenant(t, "ev-a")
	e.createTenant(t, "ev-b")
	e.ok(t, "table", "tenants", "deactivate", "ev-a", "--confirm-hostname", tn.GetHostnames()[0])

	rows := tableRows(e.ok(t, "table", "tenants", "events", "ev-a"))
	if len(rows) != 3 || !slices.Equal(rows[0], []string{"TIME", "TYPE", "SUBJECT", "ID"}) {
		t.Fatalf("rows = %q, want a header and two events", rows)
	}
	for i, want := range []string{"dev.oriel.tenant.created", "dev.oriel.tenant.deactivated"} {
		if rows[i+1][1] != want || rows[i+1][2] != "tenants/ev-a" {
			t.Errorf("row %d = %q, want %s of tenants/ev-a", i+1, rows[i+1], want)
		}
		if _, err := time.Parse(time.RFC3339, rows[i+1][0]); err != nil {
			t.Errorf("row %d time: %v", i+1, err)
		}
	}

	all := parseJSON(t, e.ok(t, "json", "tenants", "events", "-"), &tenantv1.ListTenantEventsResponse{})
	var subjects []string
	for _, ev := range all.GetEvents() {
		subjects = append(subjects, ev.GetSubject())
	}
	if want := []string{"tenants/ev-a", "tenants/ev-b", "tenants/ev-a"}; !slices.Equal(subjects, want) {
		t.Errorf("every tenant's events are about %v, want %v", subjects, want)
	}

	page := parseJSON(t, e.ok(t, "json", "tenants", "events", "-", "--page-size", "2"), &tenantv1.ListTenantEventsResponse{})
	if len(page.GetEvents()) != 2 || page.GetNextPageToken() == "" {
		t.Errorf("one page of 2 = %d events, token %q", len(page.GetEvents()), page.GetNextPageToken())
	}
}

func TestRegionsListShowsTheCatalog(t *testing.T) {
	t.Parallel()
	e := startEdge(t)
	rows := tableRows(e.ok(t, "table", "regions", "list"))
	if len(rows) < 2 || !slices.Equal(rows[0], []string{"CODE", "NAME"}) || !slices.ContainsFunc(rows, func(r []string) bool {
		return slices.Equal(r, []string{"eu-west", "Europe West"})
	}) {
		t.Errorf("rows = %q, want CODE NAME and eu-west Europe West", rows)
	}
	resp := parseJSON(t, e.ok(t, "json", "regions", "list"), &tenantv1.ListRegionsResponse{})
	if len(resp.GetRegions()) != len(rows)-1 {
		t.Errorf("JSON has %d regions, the table %d", len(resp.GetRegions()), len(rows)-1)
	}
}

func TestWrongAPIKeyExitsOneWithUnauthenticated(t *testing.T) {
	t.Parallel()
	e := startEdge(t)
	e.key = "oriel_sk_" + strings.Repeat("a", 52)
	r := e.run(t, "table", "regions", "list")
	if r.code != 1 || r.stderr != "error: the credential is not valid (UNAUTHENTICATED, CREDENTIAL_INVALID)\n" {
		t.Errorf("exit %d, stderr %q; want 1 and an UNAUTHENTICATED line", r.code, r.stderr)
	}
	if strings.Contains(r.stdout+r.stderr, e.key) {
		t.Errorf("the key was printed")
	}
}

func TestKeysGeneratePrintsAFreshKeyWithoutNetworkOrAPIKey(t *testing.T) {
	t.Parallel()
	first, second := run("keys", "generate"), run("keys", "generate")
	for _, r := range []result{first, second} {
		key := strings.TrimSuffix(r.stdout, "\n")
		if r.code != 0 || r.stderr != "" || strings.Contains(key, "\n") {
			t.Fatalf("exit %d, stdout %q, stderr %q; want 0 and one line", r.code, r.stdout, r.stderr)
		}
		if _, err := auth.NewBootstrapKey(key); err != nil {
			t.Errorf("%q is not accepted as ORIEL_BOOTSTRAP_ADMIN_KEY: %v", key, err)
		}
	}
	if first.stdout == second.stdout {
		t.Errorf("two runs printed the same key")
	}
}

func TestHelpExitsZero(t *testing.T) {
	t.Parallel()
	for _, args := range [][]string{{"--help"}, {"tenants", "--help"}, {"tenants", "update", "--help"}} {
		r := run(args...)
		if r.code != 0 || !strings.Contains(r.stdout, "Usage: oriel") {
			t.Errorf("oriel %s: exit %d, stdout %q", strings.Join(args, " "), r.code, r.stdout)
		}
	}
}

func TestAddressWithoutSchemeIsRefusedUnlessLoopback(t *testing.T) {
	t.Parallel()
	r := run("regions", "list", "--addr", "edge.example.com:8080", "--api-key", "k")
	if r.code != 1 || !strings.Contains(r.stderr, "want http:// or https://") {
		t.Errorf("exit %d, stderr %q; want 1 and a request for the scheme", r.code, r.stderr)
	}
}

func TestUnreachableEdgeExitsOneWithAHint(t *testing.T) {
	t.Parallel()
	r := run("regions", "list", "--addr", "http://127.0.0.1:1", "--api-key", "k")
	if r.code != 1 || !strings.Contains(r.stderr, "connection refused") || !strings.Contains(r.stderr, "oriel dev") {
		t.Errorf("exit %d, stderr %q; want 1, the cause and a hint", r.code, r.stderr)
	}
}

// The API key tests set the environment, so they cannot run in parallel; the process
// environment is shared.

func TestMissingAPIKeyFailsBeforeAnyRequest(t *testing.T) {
	t.Setenv("ORIEL_API_KEY", "")
	r := run("tenants", "list", "--addr", "http://127.0.0.1:1")
	if want := "error: no API key: pass --api-key, set ORIEL_API_KEY or store one in a context (oriel context add; `oriel dev` prints the admin key)\n"; r.code != 1 || r.stderr != want {
		t.Errorf("exit %d, stderr %q; want 1 and %q", r.code, r.stderr, want)
	}
}

func TestAPIKeyAndAddressAreReadFromTheEnvironment(t *testing.T) {
	e := startEdge(t)
	t.Setenv("ORIEL_API_KEY", e.key+"\n") // as read from a key file
	// The host:port form that `oriel dev --addr` also reads from ORIEL_ADDR.
	t.Setenv("ORIEL_ADDR", strings.TrimPrefix(e.url, "http://"))
	t.Setenv("ORIEL_OUTPUT", "json")
	r := run("regions", "list")
	if r.code != 0 {
		t.Fatalf("exit %d: %s", r.code, r.stderr)
	}
	parseJSON(t, r.stdout, &tenantv1.ListRegionsResponse{})
}
