package commands_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	datagatewayv1 "github.com/oriel-dev/oriel/gen/pb/oriel/datagateway/v1"
	"github.com/oriel-dev/oriel/platform/testkit"
)

// Replications run against the test PostgreSQL, whose replication slots are named after
// the replication and shared by every database of the server (and every test run on it):
// each test's replication gets an id of its own, and its slot is dropped when the test
// ends, whatever happened.

// uniqueID is a replication id no other test run on the server uses.
func uniqueID(t *testing.T, prefix string) string {
	t.Helper()
	b := make([]byte, 4)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return prefix + "-" + hex.EncodeToString(b)
}

// execSQL runs statements on a database of the test PostgreSQL.
func execSQL(t *testing.T, dbURL, sql string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, dbURL)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, sql); err != nil {
		t.Fatalf("%s: %v", sql, err)
	}
}

// slotExists reports whether the server has a replication slot of that name.
func slotExists(ctx context.Context, dbURL, slot string) (bool, error) {
	conn, err := pgx.Connect(ctx, dbURL)
	if err != nil {
		return false, err
	}
	defer conn.Close(ctx)
	var n int
	err = conn.QueryRow(ctx, `SELECT count(*) FROM pg_replication_slots WHERE slot_name = $1`, slot).Scan(&n)
	return n > 0, err
}

// connectionTo creates tenants/acme/connections/<id> on the database at dbURL.
func (e edge) connectionTo(t *testing.T, id, dbURL string) {
	t.Helper()
	u, err := url.Parse(dbURL)
	if err != nil {
		t.Fatal(err)
	}
	port := u.Port()
	if port == "" {
		port = "5432"
	}
	e.ok(t, "table", "connections", "create", "acme", id, "--display-name", "Database "+id, "--kind", "postgres",
		"--host", u.Hostname(), "--port", port, "--database", strings.TrimPrefix(u.Path, "/"), "--user", u.User.Username(),
		"--ssl-mode", "disable")
}

// cleanUpReplication deletes the replication when the test ends (if the test has not)
// and waits for its slot at the source to go; a slot still there after a generous wait is
// dropped here, so that it neither keeps WAL on the shared server nor keeps the source
// database from being dropped. Register it after the databases and the edge: it must run
// before they go.
func (e edge) cleanUpReplication(t *testing.T, name, sourceURL, slot string) {
	t.Helper()
	t.Cleanup(func() {
		if r := e.run(t, "table", "replications", "delete", name); r.code != 0 && !strings.Contains(r.stderr, "NOT_FOUND") {
			t.Errorf("cleanup: delete %s: exit %d: %s", name, r.code, r.stderr)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
		defer cancel()
		for {
			exists, err := slotExists(ctx, sourceURL, slot)
			if err == nil && !exists {
				return
			}
			if ctx.Err() != nil {
				break
			}
			time.Sleep(250 * time.Millisecond)
		}
		t.Logf("cleanup: the slot %s outlived the deletion of %s; dropping it", slot, name)
		ctx, cancel = context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		conn, err := pgx.Connect(ctx, sourceURL)
		if err != nil {
			t.Errorf("cleanup: drop the slot %s: %v", slot, err)
			return
		}
		defer conn.Close(ctx)
		if _, err := conn.Exec(ctx, `SELECT pg_terminate_backend(active_pid) FROM pg_replication_slots
			WHERE slot_name = $1 AND active_pid IS NOT NULL`, slot); err != nil {
			t.Errorf("cleanup: stop the slot %s's sender: %v", slot, err)
		}
		for {
			_, err := conn.Exec(ctx, `SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots WHERE slot_name = $1`, slot)
			if err == nil {
				return
			}
			if ctx.Err() != nil {
				t.Errorf("cleanup: drop the slot %s: %v", slot, err)
				return
			}
			time.Sleep(250 * time.Millisecond) // the terminated sender may still hold it
		}
	})
}

// eventually polls cond until it holds, failing the test after a generous bound.
func eventually(t *testing.T, what string, cond func() (bool, string)) {
	t.Helper()
	deadline := time.Now().Add(90 * time.Second)
	for {
		ok, detail := cond()
		if ok {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: not so after 90s; last: %s", what, detail)
		}
		time.Sleep(250 * time.Millisecond)
	}
}

// watchLine is one line of `replications watch` in a table: the time, then the
// replication's state and counters.
func watchLine(name, state string) *regexp.Regexp {
	return regexp.MustCompile(`(?m)^\d\d:\d\d:\d\d  ` + regexp.QuoteMeta(name) + `: ` + state +
		`, lag \d+(\.\d)? (B|KiB|MiB|GiB|TiB), \d+\.\ds, \d+ rows applied, retained WAL \d+(\.\d)? (B|KiB|MiB|GiB|TiB)`)
}

// lastLine is the last line of s.
func lastLine(s string) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	return lines[len(lines)-1]
}

// A table without a primary key cannot be replicated: the engine marks the replication
// FAILED with an error naming the table, before it creates anything at the source.
func TestReplicationsWatchExitsOneNamingTheErrorOfAFailedReplication(t *testing.T) {
	t.Parallel()
	e := startEdge(t)
	source, target := testkit.PostgresDatabase(t), testkit.PostgresDatabase(t)
	execSQL(t, source, `CREATE TABLE events (id bigint, note text); INSERT INTO events VALUES (1, 'one')`)
	e.connectionTo(t, "events-db", source)
	e.connectionTo(t, "copy-db", target)
	id := uniqueID(t, "events")
	name := "tenants/acme/replications/" + id

	r := e.run(t, "table", "replications", "create", "acme", id, "--display-name", "Events",
		"--source", "events-db", "--target", "tenants/acme/connections/copy-db", "--table", "public.events")
	if r.code != 0 {
		t.Fatalf("create: exit %d: %s", r.code, r.stderr)
	}
	created := block(r.stdout)
	e.cleanUpReplication(t, name, source, created["Slot"])
	for k, want := range map[string]string{
		"Name": name, "Display name": "Events", "Source": "tenants/acme/connections/events-db",
		"Target": "tenants/acme/connections/copy-db", "Tables": "public.events", "State": "SNAPSHOTTING",
	} {
		if created[k] != want {
			t.Errorf("create: %s %q, want %q\n%s", k, created[k], want, r.stdout)
		}
	}
	if !strings.HasPrefix(created["Slot"], "oriel_acme_events_") {
		t.Errorf("create: Slot %q, want one named after the replication", created["Slot"])
	}
	if want := "follow it: oriel replications watch " + name + "\n"; r.stderr != want {
		t.Errorf("create's hint %q, want %q", r.stderr, want)
	}

	const cause = "source table public.events has no primary key"
	wantFailed := func(t *testing.T, r result, what string) {
		t.Helper()
		if r.code != 1 || !strings.HasPrefix(r.stderr, "error: "+name+" FAILED: "+cause) ||
			!strings.HasSuffix(r.stderr, " (fix it, then: oriel replications resume "+name+")\n") || strings.Count(r.stderr, "\n") != 1 {
			t.Fatalf("%s: exit %d, stderr %q; want 1 and one line naming the error and how to resume\nstdout: %s", what, r.code, r.stderr, r.stdout)
		}
	}

	t.Run("watch follows it until it fails, then exits 1 with the error", func(t *testing.T) {
		// The bound is only there so that an engine that never fails it ends the test.
		r := e.run(t, "table", "replications", "watch", name, "--wait-timeout", "2m")
		wantFailed(t, r, "watch")
		if last := lastLine(r.stdout); !watchLine(name, "FAILED").MatchString(last) || !strings.HasSuffix(last, "; error: "+cause+
			"; every replicated table needs one, because changes are applied by primary key") {
			t.Errorf("watch's last line %q, want the FAILED state and its error\n%s", last, r.stdout)
		}
	})

	t.Run("watch of a failed one prints it once and exits 1 at once", func(t *testing.T) {
		r := e.run(t, "table", "replications", "watch", name)
		wantFailed(t, r, "watch")
		if !watchLine(name, "FAILED").MatchString(r.stdout) || strings.Count(r.stdout, "\n") != 1 {
			t.Errorf("stdout %q, want one FAILED line", r.stdout)
		}
	})

	t.Run("--until streaming still ends at FAILED", func(t *testing.T) {
		wantFailed(t, e.run(t, "table", "replications", "watch", name, "--until", "streaming"), "watch --until streaming")
	})

	t.Run("watch in json writes the replication as one object a line", func(t *testing.T) {
		r := e.run(t, "json", "replications", "watch", name)
		wantFailed(t, r, "watch --output json")
		if strings.Count(r.stdout, "\n") != 1 {
			t.Fatalf("stdout %q, want one line", r.stdout)
		}
		got := parseJSON(t, r.stdout, &datagatewayv1.Replication{})
		if got.GetName() != name || got.GetState() != datagatewayv1.Replication_STATE_FAILED || !strings.HasPrefix(got.GetLastError(), cause) {
			t.Errorf("watched %v, want %s FAILED with its error", got, name)
		}
	})

	t.Run("get shows the state and the error", func(t *testing.T) {
		b := block(e.ok(t, "table", "replications", "get", name))
		if b["State"] != "FAILED" || !strings.HasPrefix(b["Last error"], cause) || b["Slot"] != created["Slot"] || b["Tables"] != "public.events" {
			t.Errorf("get: %v", b)
		}
		got := parseJSON(t, e.ok(t, "json", "replications", "get", name), &datagatewayv1.Replication{})
		if got.GetState() != datagatewayv1.Replication_STATE_FAILED || !strings.HasPrefix(got.GetLastError(), cause) ||
			got.GetSourceConnection() != "tenants/acme/connections/events-db" || !slices.Equal(got.GetTables(), []string{"public.events"}) {
			t.Errorf("get json: %v", got)
		}
	})

	t.Run("list shows it in a table and in json", func(t *testing.T) {
		rows := tableRows(e.ok(t, "table", "replications", "list", "acme"))
		if len(rows) != 2 || !slices.Equal(rows[0], []string{"NAME", "DISPLAY NAME", "STATE", "SOURCE", "TARGET", "TABLES", "LAG", "ROWS APPLIED"}) {
			t.Fatalf("list: %q", rows)
		}
		row := rows[1]
		if want := []string{name, "Events", "FAILED", "events-db", "copy-db", "public.events"}; len(row) != 8 || !slices.Equal(row[:6], want) ||
			!regexp.MustCompile(`^\d+(\.\d)? (B|KiB|MiB|GiB|TiB), \d+\.\ds$`).MatchString(row[6]) || row[7] != "0" {
			t.Errorf("list row %q, want %q, a lag and 0 rows applied", row, want)
		}
		out := e.ok(t, "json", "replications", "list", "acme")
		resp := parseJSON(t, out, &datagatewayv1.ListReplicationsResponse{})
		if len(resp.GetReplications()) != 1 || resp.GetReplications()[0].GetName() != name ||
			resp.GetReplications()[0].GetState() != datagatewayv1.Replication_STATE_FAILED || resp.GetNextPageToken() != "" {
			t.Errorf("list json: %s", out)
		}
	})

	t.Run("pause refuses a failed replication", func(t *testing.T) {
		r := e.run(t, "table", "replications", "pause", name)
		if want := "error: " + name + " is FAILED, which does not allow this (FAILED_PRECONDITION, REPLICATION_STATE)\n"; r.code != 1 || r.stderr != want || r.stdout != "" {
			t.Errorf("pause: exit %d, stdout %q, stderr %q; want 1 and %q", r.code, r.stdout, r.stderr, want)
		}
	})

	t.Run("resume starts it again, and it fails again for the same reason", func(t *testing.T) {
		b := block(e.ok(t, "table", "replications", "resume", name))
		if _, hasError := b["Last error"]; b["State"] != "SNAPSHOTTING" || hasError {
			t.Errorf("resume: %v, want SNAPSHOTTING without the last error", b)
		}
		wantFailed(t, e.run(t, "table", "replications", "watch", name, "--wait-timeout", "2m"), "watch after resume")
	})

	t.Run("delete removes it", func(t *testing.T) {
		if out := e.ok(t, "table", "replications", "delete", name); out != "Deleted "+name+"; its replication slot and publication at the source are dropped within moments (the target's tables stay).\n" {
			t.Fatalf("delete: %q", out)
		}
		eventually(t, name+" gone", func() (bool, string) {
			r := e.run(t, "table", "replications", "get", name)
			return r.code == 1 && strings.Contains(r.stderr, "(NOT_FOUND, RESOURCE_NOT_FOUND)"), r.stdout + r.stderr
		})
		if stderr := e.fail(t, "replications", "delete", name); !strings.Contains(stderr, "NOT_FOUND") {
			t.Errorf("delete again: %s", stderr)
		}
		if rows := tableRows(e.ok(t, "table", "replications", "list", "acme")); len(rows) != 1 {
			t.Errorf("list after delete: %q", rows)
		}
	})
}

// A replication that works: it snapshots, streams, pauses and resumes, and its deletion
// drops its slot at the source.
func TestReplicationsPauseResumeAndDeleteARunningReplication(t *testing.T) {
	t.Parallel()
	e := startEdge(t)
	source, target := testkit.PostgresDatabase(t), testkit.PostgresDatabase(t)
	execSQL(t, source, `CREATE TABLE orders (id bigint PRIMARY KEY, amount numeric(12,2) NOT NULL);
		INSERT INTO orders SELECT n, n * 10 FROM generate_series(1, 3) AS n`)
	e.connectionTo(t, "orders-db", source)
	e.connectionTo(t, "analytics-db", target)
	id := uniqueID(t, "orders")
	name := "tenants/acme/replications/" + id

	created := parseJSON(t, e.ok(t, "json", "replications", "create", "acme", id, "--display-name", "Orders",
		"--source", "orders-db", "--target", "analytics-db", "--table", "orders"), &datagatewayv1.Replication{})
	slot := created.GetSlotName()
	e.cleanUpReplication(t, name, source, slot)
	if created.GetName() != name || created.GetState() != datagatewayv1.Replication_STATE_SNAPSHOTTING || slot == "" ||
		!slices.Equal(created.GetTables(), []string{"orders"}) {
		t.Fatalf("create: %v", created)
	}

	t.Run("watch --until streaming exits 0 once it streams", func(t *testing.T) {
		// The bound is only there so that a replication that never streams ends the test.
		r := e.run(t, "table", "replications", "watch", name, "--until", "streaming", "--wait-timeout", "3m")
		if r.code != 0 || r.stderr != "" || !watchLine(name, "STREAMING").MatchString(lastLine(r.stdout)) {
			t.Fatalf("watch --until streaming: exit %d, stderr %q; want 0 and a last STREAMING line\nstdout: %s", r.code, r.stderr, r.stdout)
		}
		r = e.run(t, "json", "replications", "watch", name, "--until", "streaming")
		if r.code != 0 || strings.Count(r.stdout, "\n") != 1 {
			t.Fatalf("watch --until streaming --output json: exit %d, stdout %q, stderr %q", r.code, r.stdout, r.stderr)
		}
		if got := parseJSON(t, r.stdout, &datagatewayv1.Replication{}); got.GetState() != datagatewayv1.Replication_STATE_STREAMING {
			t.Errorf("watched %v, want STREAMING", got)
		}
		if exists, err := slotExists(t.Context(), source, slot); err != nil || !exists {
			t.Errorf("the slot %s at the source: exists %v (%v), want it", slot, exists, err)
		}
	})

	t.Run("--wait-timeout ends a watch with exit 0 while the replication goes on", func(t *testing.T) {
		// Long enough for the first update to arrive on a busy machine.
		r := e.run(t, "table", "replications", "watch", name, "--wait-timeout", "5s")
		if r.code != 0 || r.stderr != "" || !watchLine(name, "STREAMING").MatchString(r.stdout) {
			t.Errorf("watch --wait-timeout 5s: exit %d, stdout %q, stderr %q; want 0 and the STREAMING state", r.code, r.stdout, r.stderr)
		}
	})

	t.Run("get and list show it streaming", func(t *testing.T) {
		b := block(e.ok(t, "table", "replications", "get", name))
		if b["State"] != "STREAMING" || b["Slot"] != slot || b["Source"] != "tenants/acme/connections/orders-db" || b["Tables"] != "orders" {
			t.Errorf("get: %v", b)
		}
		if _, ok := b["Last error"]; ok {
			t.Errorf("get shows an error: %v", b)
		}
		rows := tableRows(e.ok(t, "table", "replications", "list", "acme"))
		if len(rows) != 2 || !slices.Equal(rows[1][:6], []string{name, "Orders", "STREAMING", "orders-db", "analytics-db", "orders"}) {
			t.Errorf("list: %q", rows)
		}
	})

	t.Run("pause, and pausing again is a REPLICATION_STATE error", func(t *testing.T) {
		if b := block(e.ok(t, "table", "replications", "pause", name)); b["State"] != "PAUSED" || b["Name"] != name {
			t.Fatalf("pause: %v", b)
		}
		r := e.run(t, "table", "replications", "pause", name)
		if want := "error: " + name + " is PAUSED, which does not allow this (FAILED_PRECONDITION, REPLICATION_STATE)\n"; r.code != 1 || r.stderr != want || r.stdout != "" {
			t.Errorf("pause again: exit %d, stdout %q, stderr %q; want 1 and %q", r.code, r.stdout, r.stderr, want)
		}
		// A paused replication is not failed: a watch goes on until --wait-timeout, exit 0.
		r = e.run(t, "table", "replications", "watch", name, "--until", "streaming", "--wait-timeout", "5s")
		if r.code != 0 || r.stderr != "" || !watchLine(name, "PAUSED").MatchString(r.stdout) || strings.Contains(r.stdout, "STREAMING") {
			t.Errorf("watch of a paused one: exit %d, stdout %q, stderr %q; want 0 and PAUSED", r.code, r.stdout, r.stderr)
		}
	})

	t.Run("resume goes on streaming, and resuming again is a REPLICATION_STATE error", func(t *testing.T) {
		got := parseJSON(t, e.ok(t, "json", "replications", "resume", name), &datagatewayv1.Replication{})
		if got.GetState() != datagatewayv1.Replication_STATE_STREAMING || got.GetLastError() != "" {
			t.Fatalf("resume: %v, want STREAMING (its snapshot was copied)", got)
		}
		r := e.run(t, "json", "replications", "resume", name)
		if want := "error: " + name + " is STREAMING, which does not allow this (FAILED_PRECONDITION, REPLICATION_STATE)\n"; r.code != 1 || r.stderr != want || r.stdout != "" {
			t.Errorf("resume again: exit %d, stdout %q, stderr %q; want 1 and %q", r.code, r.stdout, r.stderr, want)
		}
		// The resumed replication still carries changes over.
		execSQL(t, source, `INSERT INTO orders VALUES (4, 40)`)
		eventually(t, "the new order at the target", func() (bool, string) {
			r := e.run(t, "table", "connections", "query", "tenants/acme/connections/analytics-db", "SELECT count(*) AS n FROM orders")
			return slices.EqualFunc(tableRows(r.stdout), [][]string{{"N"}, {"4"}}, slices.Equal), r.stdout + r.stderr
		})
	})

	t.Run("delete drops the slot at the source and then the replication", func(t *testing.T) {
		if out := e.ok(t, "json", "replications", "delete", name); strings.TrimSpace(out) != "{}" {
			t.Fatalf("delete --output json: %q, want {}", out)
		}
		eventually(t, "the slot "+slot+" dropped", func() (bool, string) {
			exists, err := slotExists(t.Context(), source, slot)
			return err == nil && !exists, "exists"
		})
		eventually(t, name+" gone", func() (bool, string) {
			r := e.run(t, "table", "replications", "get", name)
			return r.code == 1 && strings.Contains(r.stderr, "(NOT_FOUND, RESOURCE_NOT_FOUND)"), r.stdout + r.stderr
		})
		for _, cmd := range []string{"pause", "resume", "watch"} {
			if stderr := e.fail(t, "replications", cmd, name); !strings.Contains(stderr, "NOT_FOUND") {
				t.Errorf("%s after delete: %s", cmd, stderr)
			}
		}
		// The target's tables stay.
		r := e.run(t, "table", "connections", "query", "tenants/acme/connections/analytics-db", "SELECT count(*) AS n FROM orders")
		if !slices.EqualFunc(tableRows(r.stdout), [][]string{{"N"}, {"4"}}, slices.Equal) {
			t.Errorf("the target after delete: exit %d\n%s%s", r.code, r.stdout, r.stderr)
		}
	})
}

func TestReplicationsWatchFlagsAreCheckedBeforeAnyCall(t *testing.T) {
	t.Parallel()
	// Nothing listens here: a flag refused must be refused before any request.
	conn := []string{"--addr", "http://127.0.0.1:1", "--api-key", "oriel_sk_x"}
	r := run(append([]string{"replications", "watch", "tenants/acme/replications/orders", "--wait-timeout=-1s"}, conn...)...)
	if want := "error: --wait-timeout must not be negative, got -1s\n"; r.code != 1 || r.stderr != want {
		t.Errorf("negative --wait-timeout: exit %d, stderr %q; want 1 and %q", r.code, r.stderr, want)
	}
	r = run(append([]string{"replications", "watch", "tenants/acme/replications/orders", "--until", "paused"}, conn...)...)
	if r.code != 2 || !strings.Contains(r.stderr, "--until") {
		t.Errorf("--until paused: exit %d, stderr %q; want 2 and the flag named", r.code, r.stderr)
	}
	if r := run(append([]string{"replications", "watch", "orders"}, conn...)...); r.code != 1 || !strings.Contains(r.stderr, "tenants/<tenant>/replications/<id>") {
		t.Errorf("watch of an id alone: exit %d, stderr %q; want 1 and the name's form", r.code, r.stderr)
	}
}
