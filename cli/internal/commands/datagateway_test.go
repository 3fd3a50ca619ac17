package commands_test

import (
	"bytes"
	"encoding/csv"
	"encoding/json"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/oriel-dev/oriel/cli/internal/commands"
	datagatewayv1 "github.com/oriel-dev/oriel/gen/pb/oriel/datagateway/v1"
	"github.com/oriel-dev/oriel/platform/testkit"
)

// postgresSource is a fresh database of the test PostgreSQL as the flags of `oriel
// connections create` name it.
func postgresSource(t *testing.T) []string {
	t.Helper()
	u, err := url.Parse(testkit.PostgresDatabase(t))
	if err != nil {
		t.Fatal(err)
	}
	port := u.Port()
	if port == "" {
		port = "5432"
	}
	return []string{"--kind", "postgres", "--host", u.Hostname(), "--port", port, "--database", strings.TrimPrefix(u.Path, "/"),
		"--user", u.User.Username(), "--ssl-mode", "disable"}
}

// runWithInput runs a client command like edge.run, with stdin.
func (e edge) runWithInput(stdin, output string, args ...string) result {
	args = append(args, "--addr", e.url, "--api-key", e.key, "--output", output, "--timeout", "30s")
	var out, errOut bytes.Buffer
	code := commands.MainWithInput(&commands.Commands{}, args, strings.NewReader(stdin), &out, &errOut)
	return result{stdout: out.String(), stderr: errOut.String(), code: code}
}

// createConnection creates tenants/acme/connections/<id> on a fresh database, with extra
// flags.
func (e edge) createConnection(t *testing.T, id string, extra ...string) string {
	t.Helper()
	args := append([]string{"connections", "create", "acme", id, "--display-name", "Warehouse"}, postgresSource(t)...)
	return e.ok(t, "table", append(args, extra...)...)
}

func TestConnectionsCommandsKeepCredentialsOutOfEveryOutput(t *testing.T) {
	t.Parallel()
	e := startEdge(t)
	// The test database needs no password; one stored anyway is never shown.
	const secret, newSecret = "s3cret-from-a-file", "s3cret-from-stdin"
	passwordFile := filepath.Join(t.TempDir(), "password")
	if err := os.WriteFile(passwordFile, []byte(secret+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	var outputs []string
	keep := func(s string) string { outputs = append(outputs, s); return s }

	created := keep(e.createConnection(t, "warehouse", "--password-file", passwordFile))
	b := block(created)
	if b["Name"] != "tenants/acme/connections/warehouse" || b["Kind"] != "postgres" || b["Route"] != "direct" ||
		!strings.HasPrefix(b["Credentials"], "stored") || b["SSL mode"] != "disable" {
		t.Fatalf("created:\n%s", created)
	}
	before := parseJSON(t, keep(e.ok(t, "json", "connections", "get", "tenants/acme/connections/warehouse")), &datagatewayv1.Connection{})
	if !before.GetHasCredentials() || before.GetCredentials() != nil {
		t.Fatalf("get: %v, want has_credentials and no credentials", before)
	}
	rows := tableRows(keep(e.ok(t, "table", "connections", "list", "acme")))
	if len(rows) != 2 || rows[1][0] != "tenants/acme/connections/warehouse" || rows[1][2] != "postgres" || rows[1][4] != "direct" {
		t.Fatalf("list: %q", rows)
	}
	keep(e.ok(t, "json", "connections", "list", "acme"))

	t.Run("update changes what its flags name and keeps the other parameters", func(t *testing.T) {
		after := parseJSON(t, keep(e.ok(t, "json", "connections", "update", "tenants/acme/connections/warehouse",
			"--display-name", "Main warehouse", "--agent-pool", "dc")), &datagatewayv1.Connection{})
		if after.GetDisplayName() != "Main warehouse" || after.GetAgentPool() != "dc" || after.GetPostgres().GetDatabase() != before.GetPostgres().GetDatabase() {
			t.Fatalf("after update: %v", after)
		}
		after = parseJSON(t, keep(e.ok(t, "json", "connections", "update", "tenants/acme/connections/warehouse",
			"--agent-pool", "", "--port", "0", "--ssl-mode", "disable")), &datagatewayv1.Connection{})
		if after.GetAgentPool() != "" || after.GetPostgres().GetPort() != 0 || after.GetPostgres().GetHost() != before.GetPostgres().GetHost() ||
			after.GetPostgres().GetUser() != before.GetPostgres().GetUser() || after.GetDisplayName() != "Main warehouse" {
			t.Fatalf("after a parameter update: %v, want the port alone changed (and the pool cleared)", after)
		}
		// Back to the port the database is on, so the test below reaches it.
		e.ok(t, "table", "connections", "update", "tenants/acme/connections/warehouse", "--port", portOf(before))
	})

	t.Run("new credentials are read from stdin", func(t *testing.T) {
		r := e.runWithInput(newSecret+"\n", "table", "connections", "update", "tenants/acme/connections/warehouse", "--password-stdin")
		if r.code != 0 || !strings.HasPrefix(block(r.stdout)["Credentials"], "stored") {
			t.Fatalf("update --password-stdin: exit %d\n%s%s", r.code, r.stdout, r.stderr)
		}
		keep(r.stdout + r.stderr)
	})

	t.Run("test says whether the source answers", func(t *testing.T) {
		out := keep(e.ok(t, "table", "connections", "test", "tenants/acme/connections/warehouse"))
		if b := block(out); b["OK"] != "yes" || !strings.Contains(b["Server version"], "PostgreSQL") {
			t.Fatalf("test:\n%s", out)
		}
	})

	for _, out := range outputs {
		if strings.Contains(out, secret) || strings.Contains(out, newSecret) {
			t.Fatalf("a credential was printed:\n%s", out)
		}
	}
	if out := e.ok(t, "table", "connections", "delete", "tenants/acme/connections/warehouse"); out != "Deleted tenants/acme/connections/warehouse.\n" {
		t.Fatalf("delete: %q", out)
	}
	if stderr := e.fail(t, "connections", "get", "tenants/acme/connections/warehouse"); !strings.Contains(stderr, "NOT_FOUND") {
		t.Fatalf("get after delete: %s", stderr)
	}
}

// portOf is a postgres connection's port as a flag value.
func portOf(c *datagatewayv1.Connection) string { return strconv.Itoa(int(c.GetPostgres().GetPort())) }

// The password may come from the environment instead of a flag; t.Setenv makes this test
// run alone.
func TestConnectionsCreateReadsThePasswordFromTheEnvironment(t *testing.T) {
	e := startEdge(t)
	out := e.createConnection(t, "no-secret")
	if got := block(out)["Credentials"]; got != "none" {
		t.Fatalf("without a password: Credentials %q, want none", got)
	}
	t.Setenv("ORIEL_CONNECTION_PASSWORD", "from-the-environment")
	out = e.createConnection(t, "env-secret")
	if got := block(out)["Credentials"]; !strings.HasPrefix(got, "stored") || strings.Contains(out, "from-the-environment") {
		t.Fatalf("with ORIEL_CONNECTION_PASSWORD:\n%s", out)
	}
}

func TestConnectionsFlagsOfAnotherKindAreUsageErrors(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		args []string
		want string
	}{
		{"no kind", []string{"connections", "create", "acme", "db", "--display-name", "D", "--host", "h"}, "--kind"},
		{"postgres flag on mysql", []string{"connections", "create", "acme", "db", "--display-name", "D", "--kind", "mysql", "--ssl-mode", "require"},
			"--ssl-mode is for postgres connections, not mysql"},
		{"http flag on postgres", []string{"connections", "create", "acme", "db", "--display-name", "D", "--kind", "postgres", "--url", "https://x.example"},
			"--url is for http connections, not postgres"},
		{"kind cannot change", []string{"connections", "update", "tenants/acme/connections/db", "--kind", "http"}, "--kind cannot change"},
		{"nothing to update", []string{"connections", "update", "tenants/acme/connections/db"}, "nothing to update"},
		{"two stdin secrets", []string{"connections", "create", "acme", "db", "--display-name", "D", "--kind", "http", "--url", "https://x.example",
			"--format", "json", "--password-stdin", "--password-file", "/dev/null"}, "--password-stdin"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := run(append(tc.args, "--addr", "http://127.0.0.1:1", "--api-key", "oriel_sk_x")...)
			if r.code != 2 || !strings.Contains(r.stderr, tc.want) {
				t.Fatalf("exit %d, stderr %q; want 2 and %q", r.code, r.stderr, tc.want)
			}
		})
	}
}

func TestConnectionsQueryPrintsRowsAsATableCSVOrJSONLines(t *testing.T) {
	t.Parallel()
	e := startEdge(t)
	e.createConnection(t, "warehouse")
	const name = "tenants/acme/connections/warehouse"
	const stmt = `SELECT n, n * n AS square, n % 2 = 0 AS even, CASE WHEN n = 2 THEN NULL ELSE 'v' || n END AS label,
		DATE '2026-01-01' + n AS day, n / 4.0 AS quarter FROM generate_series(1, 3) AS n`

	t.Run("table", func(t *testing.T) {
		r := e.run(t, "table", "connections", "query", name, stmt)
		if r.code != 0 {
			t.Fatalf("exit %d: %s", r.code, r.stderr)
		}
		want := [][]string{
			{"N", "SQUARE", "EVEN", "LABEL", "DAY", "QUARTER"},
			{"1", "1", "false", "v1", "2026-01-02", "0.25000000000000000000"},
			{"2", "4", "true", "NULL", "2026-01-03", "0.50000000000000000000"},
			{"3", "9", "false", "v3", "2026-01-04", "0.75000000000000000000"},
		}
		if got := tableRows(r.stdout); !slices.EqualFunc(got, want, slices.Equal) {
			t.Fatalf("table %q, want %q", got, want)
		}
		if !regexp.MustCompile(`^\(3 rows in \S+\)\n$`).MatchString(r.stderr) {
			t.Fatalf("stats on stderr: %q", r.stderr)
		}
	})

	t.Run("csv, cut at the row limit", func(t *testing.T) {
		r := e.run(t, "table", "connections", "query", name, "--format", "csv", "--row-limit", "2", stmt)
		if r.code != 0 {
			t.Fatalf("exit %d: %s", r.code, r.stderr)
		}
		records, err := csv.NewReader(strings.NewReader(r.stdout)).ReadAll()
		if err != nil || len(records) != 3 || !slices.Equal(records[2], []string{"2", "4", "true", "", "2026-01-03", "0.50000000000000000000"}) {
			t.Fatalf("csv %q (%v)", records, err)
		}
		if !strings.Contains(r.stderr, "(2 rows in ") || !strings.Contains(r.stderr, "truncated at the row limit") {
			t.Fatalf("stderr %q, want the truncation said", r.stderr)
		}
	})

	t.Run("json lines, typed", func(t *testing.T) {
		out := e.ok(t, "json", "connections", "query", name, stmt)
		lines := strings.Split(strings.TrimSpace(out), "\n")
		if len(lines) != 3 {
			t.Fatalf("json lines %q", lines)
		}
		var row map[string]any
		if err := json.Unmarshal([]byte(lines[1]), &row); err != nil {
			t.Fatal(err)
		}
		want := map[string]any{"n": 2.0, "square": 4.0, "even": true, "label": nil, "day": "2026-01-03", "quarter": "0.50000000000000000000"}
		for k, v := range want {
			if row[k] != v {
				t.Errorf("row 2 %s = %#v, want %#v (row %s)", k, row[k], v, lines[1])
			}
		}
		// Columns keep their order.
		if !strings.HasPrefix(lines[0], `{"n":1,"square":1,`) {
			t.Errorf("row 1 %s, want the columns in order", lines[0])
		}
	})

	t.Run("the statement from stdin", func(t *testing.T) {
		r := e.runWithInput("SELECT 'from stdin' AS source", "table", "connections", "query", name)
		if r.code != 0 || !slices.EqualFunc(tableRows(r.stdout), [][]string{{"SOURCE"}, {"from stdin"}}, slices.Equal) {
			t.Fatalf("exit %d\n%s%s", r.code, r.stdout, r.stderr)
		}
	})

	t.Run("a write is refused", func(t *testing.T) {
		stderr := e.fail(t, "connections", "query", name, "CREATE TABLE written (id int)")
		if !strings.HasPrefix(stderr, "error: ") {
			t.Fatalf("stderr %q", stderr)
		}
		if r := e.run(t, "table", "connections", "query", name, "SELECT count(*) FROM pg_tables WHERE tablename = 'written'"); !strings.Contains(r.stdout, "\n0\n") {
			t.Fatalf("the table was created: %s%s", r.stdout, r.stderr)
		}
	})

	t.Run("--timeout bounds the query at the source", func(t *testing.T) {
		r := run("connections", "query", name, "SELECT pg_sleep(60)", "--addr", e.url, "--api-key", e.key, "--timeout", "1s")
		if r.code != 1 || !strings.Contains(r.stderr, "DEADLINE_EXCEEDED") {
			t.Fatalf("exit %d, stderr %q; want 1 and DEADLINE_EXCEEDED", r.code, r.stderr)
		}
	})
}

func TestAgentsCommands(t *testing.T) {
	t.Parallel()
	e := startEdge(t)
	r := e.run(t, "table", "agents", "create", "acme", "dc1", "--display-name", "Data center 1", "--pool", "east")
	if b := block(r.stdout); r.code != 0 || b["Name"] != "tenants/acme/agents/dc1" || b["Pool"] != "east" || b["State"] != "NOT_ENROLLED" {
		t.Fatalf("create: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	if !strings.Contains(r.stderr, "oriel agents enrollment-token tenants/acme/agents/dc1") {
		t.Errorf("create's hint: %q", r.stderr)
	}

	r = e.run(t, "table", "agents", "enrollment-token", "tenants/acme/agents/dc1")
	token := block(r.stdout)["Token"]
	if r.code != 0 || !strings.HasPrefix(token, "oriel_ae_") || block(r.stdout)["Expires"] == "" {
		t.Fatalf("enrollment-token: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	if strings.Contains(r.stderr, token) || !strings.Contains(r.stderr, "ORIEL_AGENT_ENROLLMENT_TOKEN") {
		t.Errorf("enrollment-token's hint should say where the token goes, without it: %q", r.stderr)
	}
	again := parseJSON(t, e.ok(t, "json", "agents", "enrollment-token", "tenants/acme/agents/dc1"), &datagatewayv1.CreateEnrollmentTokenResponse{})
	if again.GetEnrollmentToken() == token || !strings.HasPrefix(again.GetEnrollmentToken(), "oriel_ae_") {
		t.Errorf("a second token %q, want a new one", again.GetEnrollmentToken())
	}

	e.ok(t, "table", "agents", "create", "acme", "dc2", "--display-name", "Data center 2")
	rows := tableRows(e.ok(t, "table", "agents", "list", "acme"))
	if len(rows) != 3 || rows[1][0] != "tenants/acme/agents/dc1" || rows[1][3] != "NOT_ENROLLED" || rows[2][0] != "tenants/acme/agents/dc2" {
		t.Fatalf("list: %q", rows)
	}
	if b := block(e.ok(t, "table", "agents", "revoke", "tenants/acme/agents/dc1")); b["State"] != "REVOKED" {
		t.Fatalf("revoke: %v", b)
	}
	if out := e.ok(t, "table", "agents", "delete", "tenants/acme/agents/dc1"); out != "Deleted tenants/acme/agents/dc1.\n" {
		t.Fatalf("delete: %q", out)
	}
	if stderr := e.fail(t, "agents", "get", "tenants/acme/agents/dc1"); !strings.Contains(stderr, "NOT_FOUND") {
		t.Fatalf("get after delete: %s", stderr)
	}
	// Names are checked before any call: an id alone is not an agent's name.
	if stderr := e.fail(t, "agents", "get", "dc2"); !strings.Contains(stderr, "tenants/<tenant>/agents/<id>") {
		t.Fatalf("get dc2: %s", stderr)
	}
}

func TestReplicationsCommandsNameConnectionsByIDAndFailClearly(t *testing.T) {
	t.Parallel()
	e := startEdge(t)
	if rows := tableRows(e.ok(t, "table", "replications", "list", "acme")); len(rows) != 1 || rows[0][0] != "NAME" {
		t.Fatalf("empty list: %q", rows)
	}
	// The connections do not exist: the error names the one given by id, in full.
	stderr := e.fail(t, "replications", "create", "acme", "orders", "--display-name", "Orders",
		"--source", "missing-db", "--target", "tenants/acme/connections/also-missing", "--table", "public.orders,customers")
	if !strings.Contains(stderr, "NOT_FOUND") && !strings.Contains(stderr, "FAILED_PRECONDITION") {
		t.Fatalf("create with missing connections: %s", stderr)
	}
	if stderr := e.fail(t, "replications", "get", "tenants/acme/replications/orders"); !strings.Contains(stderr, "NOT_FOUND") {
		t.Fatalf("get: %s", stderr)
	}
	if stderr := e.fail(t, "replications", "watch", "tenants/acme/replications/orders"); !strings.Contains(stderr, "NOT_FOUND") {
		t.Fatalf("watch of a missing replication: %s", stderr)
	}
}
