package devstack_test

import (
	"bytes"
	"context"
	"fmt"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/oriel-dev/oriel/platform/testkit"
)

// repoRoot is where the README and the tools workspace are.
func repoRoot(t *testing.T) string {
	t.Helper()
	root, err := filepath.Abs(filepath.Join("..", "..", ".."))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(root, "README.md")); err != nil {
		t.Fatalf("README.md not found at the repository root %s: %v", root, err)
	}
	return root
}

// readmeSection returns the shell code blocks under a README heading, up to the next
// heading of the same or a higher level (outside code blocks, where # starts comments).
func readmeSection(t *testing.T, readme, heading string) string {
	t.Helper()
	level := strings.Index(heading, " ")
	var (
		code              strings.Builder
		in, inFence, isSh bool
	)
	for _, line := range strings.Split(readme, "\n") {
		switch {
		case strings.HasPrefix(line, "```"):
			if inFence {
				inFence = false
			} else {
				inFence, isSh = true, line == "```sh"
			}
		case inFence:
			if in && isSh {
				code.WriteString(line + "\n")
			}
		case line == heading:
			in = true
		case in && strings.HasPrefix(line, "#"):
			if hashes := strings.Index(line, " "); hashes > 0 && hashes <= level && strings.Trim(line[:hashes], "#") == "" {
				in = false
			}
		}
	}
	if code.Len() == 0 {
		t.Fatalf("README has no sh code under %q", heading)
	}
	return code.String()
}

// TestReadmeExamplesWorkAsWritten runs the README's "Try it" commands, curl and grpcurl,
// against a running stack as a user would after `make dev`. Only where the stack listens
// and keeps its key changes: the test's stack has its own ports and data folder.
func TestReadmeExamplesWorkAsWritten(t *testing.T) {
	t.Parallel()
	root := repoRoot(t)
	readme, err := os.ReadFile(filepath.Join(root, "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	stack := startStack(t, true)
	dataDir := filepath.Dir(stack.AdminKeyFile)
	// Only where the stack listens and keeps its key differs from `make dev`.
	localize := strings.NewReplacer(
		"http://localhost:8080", stack.GatewayURL,
		"localhost:9101", stack.TenantGRPCAddr,
		"$(cat .oriel/admin.key)", "$(cat "+filepath.Join(dataDir, "admin.key")+")",
	).Replace
	// The examples are run in order, in one shell, as a reader pastes them.
	tryIt := localize(readmeSection(t, string(readme), "### Try it"))
	errorsExample := localize(readmeSection(t, string(readme), "### Errors"))

	// In "Try it", curl fails on any HTTP error (showing its body): every example must succeed.
	got := runScript(t, root, "curl() { command curl --fail-with-body \"$@\"; echo; }\n"+tryIt)
	for _, want := range []string{
		`"code":"eu-west"`,                  // regions
		`"displayName":"Acme Corp"`,         // created
		`"displayName":"Acme Corporation"`,  // patched with its etag
		`"state":"STATE_DEACTIVATED"`,       // deactivated
		`"dev.oriel.tenant.reactivated"`,    // reactivated, and its event listed
		"oriel.tenant.v1.TenantService\n",   // grpcurl list through reflection
		`"name": "tenants/acme"`,            // grpcurl call through reflection
		`"displayName": "Acme Corporation"`, // … seeing the REST changes
	} {
		if !strings.Contains(compactJSON(got), compactJSON(want)) {
			t.Errorf("README examples' output lacks %s:\n%s", want, got)
		}
	}

	// The CLI examples, against the same stack; the key and address come from the
	// environment, as the README says.
	cliOut := runScript(t, root, "export ORIEL_ADDR="+stack.GatewayURL+" ORIEL_API_KEY="+stack.AdminKey+"\n"+
		localize(readmeSection(t, string(readme), "### The `oriel` CLI")))
	for _, want := range []string{"tenants/globex", "Globex Inc.", "DEACTIVATED", "dev.oriel.tenant.reactivated", "eu-west"} {
		if !strings.Contains(cliOut, want) {
			t.Errorf("the CLI examples' output lacks %q:\n%s", want, cliOut)
		}
	}

	// The single sign-on walk-through, after the CLI examples as a reader follows them, in
	// the same environment.
	ssoOut := runScript(t, root, "export ORIEL_ADDR="+stack.GatewayURL+" ORIEL_API_KEY="+stack.AdminKey+"\n"+
		localize(readmeSection(t, string(readme), "### Embed a user: single sign-on and embed tokens")))
	for _, want := range []*regexp.Regexp{
		regexp.MustCompile(`(?m)^signature +PASSED `),                             // test-token lists each check …
		regexp.MustCompile(`(?m)^Valid: +yes$`),                                   // … and the verdict
		regexp.MustCompile(`(?m)^Kind: +EMBED_SESSION$`),                          // the introspected token is a user's …
		regexp.MustCompile(`(?m)^Roles: +viewer$`),                                // … with the group's role
		regexp.MustCompile(`(?m)^Attributes: +region=emea$`),                      // … and the claim's attribute
		regexp.MustCompile(`(?m)^Token: +oriel_et_initech\.\S+$`),                 // the exchange as the user
		regexp.MustCompile(`(?m)^tenants/initech/users/\S+ +alice +Alice Adams `), // users created just in time
		regexp.MustCompile(`(?m)^tenants/initech/users/\S+ +bob +Bob Brown `),
		regexp.MustCompile(`(?m)^Revoked the embed token`),
		regexp.MustCompile(`(?m)^error: the credential is not valid \(UNAUTHENTICATED, CREDENTIAL_INVALID\)$`), // after revoke
		regexp.MustCompile(`(?m)^refused, as it should be$`),
	} {
		if !want.MatchString(ssoOut) {
			t.Errorf("the single sign-on walk-through's output lacks %s:\n%s", want, ssoOut)
		}
	}
	// Introspection worked twice before the revoke (by the backend, then by the token
	// itself), and the revoked token's last call failed: no third success.
	if n := len(regexp.MustCompile(`(?m)^Kind: +EMBED_SESSION$`).FindAllString(ssoOut, -1)); n != 2 {
		t.Errorf("the embed token was introspected successfully %d times, want 2 (never after its revocation):\n%s", n, ssoOut)
	}

	// The rollout walk-through, after the single sign-on one, against the same tenants
	// (Acme, from "Try it", is a gold tenant too), in the same environment.
	rolloutOut := runScript(t, root, "export ORIEL_ADDR="+stack.GatewayURL+" ORIEL_API_KEY="+stack.AdminKey+"\n"+
		localize(readmeSection(t, string(readme), "### Roll a dashboard out to every tenant")))
	for _, want := range []*regexp.Regexp{
		// --wait writes a line per change to a log, the last with the final counts.
		regexp.MustCompile(`(?m)^rollouts/sales-v1: COMPLETED, (\d+)/\d+ done \(succeeded \d+, failed 0, skipped 0, cancelled 0\)$`),
		regexp.MustCompile(`(?m)^State: +COMPLETED$`),
		// Every gold tenant got v1, the canary in wave 1.
		regexp.MustCompile(`(?m)^tenants/acme +1 +SUCCEEDED +tenants/acme/apps/sales +- +1 +-$`),
		regexp.MustCompile(`(?m)^tenants/hooli +2 +SUCCEEDED +tenants/hooli/apps/sales +- +1 +-$`),
		regexp.MustCompile(`(?m)^tenants/umbrella +2 +SUCCEEDED +tenants/umbrella/apps/sales +- +1 +-$`),
		regexp.MustCompile(`(?m)^tenants/wayne +2 +SUCCEEDED +tenants/wayne/apps/sales +- +1 +-$`),
		// Wayne's edit is drift: deployed revision 1, now at 2.
		regexp.MustCompile(`(?m)^tenants/wayne/apps/sales +templates/sales/versions/v1 +1 +2$`),
		// v2 skips Wayne and upgrades the others.
		regexp.MustCompile(`(?m)^tenants/wayne +1 +SKIPPED +tenants/wayne/apps/sales +- +- +edited since deployed`),
		regexp.MustCompile(`(?m)^tenants/hooli +1 +SUCCEEDED +tenants/hooli/apps/sales +1 +2 +-$`),
		regexp.MustCompile(`(?m)^rollouts/sales-v2: COMPLETED, \d+/\d+ done \(succeeded \d+, failed 0, skipped 1, cancelled 0\)$`),
		// The rollback returns each of them, and ends ROLLED_BACK.
		regexp.MustCompile(`(?m)^rollouts/sales-v2: ROLLED_BACK, (\d+)/\d+ done \(rolled back \d+, failed 0\)$`),
		regexp.MustCompile(`(?m)^State: +ROLLED_BACK$`),
		// Hooli's revisions: v1 deployed, v2 deployed, v1 again by the rollback.
		regexp.MustCompile(`(?m)^tenants/hooli/apps/sales/revisions/3 +ROLLBACK +templates/sales/versions/v1 +Sales `),
		regexp.MustCompile(`(?m)^tenants/hooli/apps/sales/revisions/2 +ROLLOUT +templates/sales/versions/v2 +Sales `),
		regexp.MustCompile(`(?m)^tenants/hooli/apps/sales/revisions/1 +ROLLOUT +templates/sales/versions/v1 +Sales `),
	} {
		if !want.MatchString(rolloutOut) {
			t.Errorf("the rollout walk-through's output lacks %s:\n%s", want, rolloutOut)
		}
	}
	if strings.Contains(rolloutOut, "error:") {
		t.Errorf("the rollout walk-through printed an error:\n%s", rolloutOut)
	}

	// The data walk-throughs, after the rollout one, against Acme, in the same environment.
	// The customer's databases are fresh databases of the test PostgreSQL; the README's
	// own names for them are what the test swaps, as it swaps ports.
	ordersURL := testkit.PostgresDatabase(t)
	source, orders, analytics := pgParts(t, testkit.PostgresDatabase(t)), pgParts(t, ordersURL), pgParts(t, testkit.PostgresDatabase(t))
	// A walk-through that fails before `replications delete` leaves a replication slot,
	// which would keep WAL on the test server forever and its database from being dropped:
	// stop the stack (so nothing streams from the slot), then drop what is left.
	t.Cleanup(func() {
		_ = stack.Stop()
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		conn, err := pgx.Connect(ctx, ordersURL)
		if err != nil {
			t.Errorf("drop the walk-through's replication slots: %v", err)
			return
		}
		defer conn.Close(ctx)
		if _, err := conn.Exec(ctx, `SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots
			WHERE database = current_database() AND NOT active`); err != nil {
			t.Errorf("drop the walk-through's replication slots: %v", err)
		}
	})
	localizeData := strings.NewReplacer(
		"export PGHOST=127.0.0.1 PGPORT=5432 PGUSER=postgres PGPASSWORD= PGDATABASE=postgres",
		fmt.Sprintf("export PGHOST=%s PGPORT=%s PGUSER=%s PGPASSWORD=%s PGDATABASE=%s", source.host, source.port, source.user, source.password, source.database),
		"--server localhost:9104", "--server "+stack.DatagatewayGRPCAddr,
		"createdb acme_orders\n", "", "createdb acme_analytics\n", "",
		"acme_orders", orders.database, "acme_analytics", analytics.database,
	).Replace
	env := "export ORIEL_ADDR=" + stack.GatewayURL + " ORIEL_API_KEY=" + stack.AdminKey + "\n"
	agentOut := runScript(t, root, env+localizeData(localize(readmeSection(t, string(readme), "### Reach a customer's database through an agent"))))
	for _, want := range []*regexp.Regexp{
		// The agent enrolled and connected, in the default pool.
		regexp.MustCompile(`(?m)^tenants/acme/agents/dc1 +Acme data center +default +CONNECTED `),
		// The connection answers through it …
		regexp.MustCompile(`(?m)^OK: +yes$`),
		regexp.MustCompile(`(?m)^Agent: +\S*dc1$`),
		// … and queries stream their rows back, typed.
		regexp.MustCompile(`(?m)^N +SQUARE +EVEN\n1 +1 +false\n2 +4 +true\n3 +9 +false\n4 +16 +true\n5 +25 +false\n`),
		regexp.MustCompile(`(?m)^\(5 rows in \S+, through \S*dc1\)$`),
		regexp.MustCompile(`(?m)^n\n1\n2\n3\n\(3 rows in \S+, through \S*dc1\); truncated at the row limit`),
		// A write is refused by the read-only transaction.
		regexp.MustCompile(`(?m)^error: .*\n(.*\n)*refused, as it should be$`),
		regexp.MustCompile(`(?m)^State: +REVOKED$`),
	} {
		if !want.MatchString(agentOut) {
			t.Errorf("the agent walk-through's output lacks %s:\n%s", want, agentOut)
		}
	}
	if strings.Contains(agentOut, "oriel_ae_") {
		t.Errorf("the agent walk-through printed the enrollment token:\n%s", agentOut)
	}

	replicationOut := runScript(t, root, env+localizeData(
		"export PGHOST=127.0.0.1 PGPORT=5432 PGUSER=postgres PGPASSWORD= PGDATABASE=postgres\n"+
			readmeSection(t, string(readme), "### Replicate a PostgreSQL continuously")))
	for _, want := range []*regexp.Regexp{
		// The watch saw the snapshot end and the streaming start.
		regexp.MustCompile(`(?m)tenants/acme/replications/orders: STREAMING, lag `),
		// The target got the snapshot (1,000 orders), then each change: one order updated,
		// one deleted, one inserted.
		regexp.MustCompile(`(?m)^ORDERS +TOTAL\n1000 +5005071\.49$`),
		regexp.MustCompile(`(?m)^State: +(STREAMING|SNAPSHOTTING)$`),
		regexp.MustCompile(`(?m)^Deleted tenants/acme/replications/orders; `),
		// Its slot is gone from the source.
		regexp.MustCompile(`(?m)^no replication slot left at the source$`),
	} {
		if !want.MatchString(replicationOut) {
			t.Errorf("the replication walk-through's output lacks %s:\n%s", want, replicationOut)
		}
	}
	// The data walk-through, after the replication one: Acme's sales app (from the rollout)
	// reloads from the analytics copy the replication filled.
	dataOut := runScript(t, root, env+localize(readmeSection(t, string(readme), "### Load data and chart it")))
	for _, want := range []*regexp.Regexp{
		regexp.MustCompile(`(?m)^State: +SUCCEEDED$`),
		regexp.MustCompile(`(?m)^orders +1000 +region, amount$`),
		// The app's chart, for the ISV's key: every region, summed in memory …
		regexp.MustCompile(`(?m)^region +sum\(amount\)\namer +1671661\.5\napac +1664980\nemea +1668429\.99\nTotal +5005071\.4[89]\d*\n3 of 3 rows$`),
		// … under a selection, in memory, then live at the source: the same figures.
		regexp.MustCompile(`(?m)^apac +1664980 +332\nemea +1668429\.99 +334\nTotal +3333409\.99\d* +666\n2 of 2 rows$`),
		regexp.MustCompile(`(?m)^apac +1664980 +332\nemea +1668429\.99 +334\nTotal +3333409\.99\d* +666\n2 of 2 rows, queried live$`),
		// The selection's states in the region list box.
		regexp.MustCompile(`(?m)^emea +SELECTED +334\namer +ALTERNATIVE +0\napac +ALTERNATIVE +0$`),
		// Carol's chart and list box, reduced to her region.
		regexp.MustCompile(`(?m)^region +sum\(amount\)\nemea +1668429\.99\nTotal +1668429\.99\n1 of 1 row$`),
		regexp.MustCompile(`(?m)^region +count\(amount\)\nemea +334\nTotal +334\n1 of 1 row, queried live$`),
		regexp.MustCompile(`(?m)^emea +POSSIBLE +334\n1 of 1 value$`),
	} {
		if !want.MatchString(dataOut) {
			t.Errorf("the data walk-through's output lacks %s:\n%s", want, dataOut)
		}
	}
	if strings.Contains(dataOut, "error:") {
		t.Errorf("the data walk-through printed an error:\n%s", dataOut)
	}

	for _, out := range []string{agentOut, replicationOut} {
		if strings.Contains(out, "oriel_ae_") || (source.password != "" && strings.Contains(out, source.password)) {
			t.Errorf("a walk-through printed a secret:\n%s", out)
		}
	}

	// The error example answers with what the README shows: 400, both fields named.
	bad := runScript(t, root, "export ORIEL_API_KEY=$(cat "+filepath.Join(dataDir, "admin.key")+")\n"+errorsExample)
	for _, want := range []string{`"code":400`, `"status":"INVALID_ARGUMENT"`, `"reason":"INVALID_REQUEST"`,
		`{"field":"tenant.display_name","description":"value is required"}`, `"field":"tenant.hostnames[0]"`} {
		if !strings.Contains(compactJSON(bad), want) {
			t.Errorf("the error example's output lacks %s:\n%s", want, bad)
		}
	}
}

// pgConn is where a PostgreSQL database is, as the PG* variables of psql say it.
type pgConn struct{ host, port, user, password, database string }

func pgParts(t *testing.T, rawURL string) pgConn {
	t.Helper()
	u, err := url.Parse(rawURL)
	if err != nil {
		t.Fatal(err)
	}
	password, _ := u.User.Password()
	port := u.Port()
	if port == "" {
		port = "5432"
	}
	return pgConn{host: u.Hostname(), port: port, user: u.User.Username(), password: password, database: strings.TrimPrefix(u.Path, "/")}
}

// compactJSON drops the spaces protojson puts, unpredictably on purpose, between tokens.
var compactJSON = strings.NewReplacer(`": "`, `":"`, `", "`, `","`, `}, {`, `},{`, `], "`, `],"`, `}, "`, `},"`).Replace

// runScript runs shell code in dir with bash -euo pipefail and returns its output, failing
// the test if it fails or hangs.
func runScript(t *testing.T, dir, script string) string {
	t.Helper()
	cmd := exec.Command("bash", "-euo", "pipefail", "-c", script)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "ORIEL_API_KEY=")
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("README examples failed: %v\n%s", err, out.String())
		}
	case <-time.After(5 * time.Minute):
		_ = cmd.Process.Kill()
		t.Fatalf("README examples still running after 5 minutes:\n%s", out.String())
	}
	return out.String()
}
