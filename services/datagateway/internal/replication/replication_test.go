package replication_test

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"

	datagatewayv1 "github.com/oriel-dev/oriel/gen/pb/oriel/datagateway/v1"
	"github.com/oriel-dev/oriel/services/datagateway/internal/replication"
	"github.com/oriel-dev/oriel/services/datagateway/internal/store"
)

const (
	streaming    = datagatewayv1.Replication_STATE_STREAMING
	paused       = datagatewayv1.Replication_STATE_PAUSED
	failed       = datagatewayv1.Replication_STATE_FAILED
	snapshotting = datagatewayv1.Replication_STATE_SNAPSHOTTING
)

// ordersSchema is two tables: one with a TOASTed column, one in another schema with a
// composite key.
var ordersSchema = []string{
	`CREATE TABLE orders (id bigint PRIMARY KEY, customer text NOT NULL, amount numeric(10,2),
		tags text[], note text, updated timestamptz DEFAULT now())`,
	`CREATE SCHEMA sales`,
	`CREATE TABLE sales.lines (order_id bigint, line int, sku varchar(20), qty int NOT NULL,
		PRIMARY KEY (order_id, line))`,
	`INSERT INTO orders (id, customer, amount, tags)
		SELECT i, 'customer ' || i, i * 1.5, ARRAY['a', 'b' || i] FROM generate_series(1, 500) i`,
	`INSERT INTO sales.lines SELECT i / 3, i % 3, 'sku-' || i, i FROM generate_series(3, 302) i`,
	// A value too big to stay in the row: updates that leave it alone do not resend it.
	`UPDATE orders SET note = (SELECT string_agg(md5(i::text), '') FROM generate_series(1, 400) i) WHERE id = 7`,
}

func TestSnapshotThenStreamingKeepsTheTargetEqualToTheSource(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	run(t, h.src, ordersSchema...)
	r := h.createReplication("orders", "orders", "sales.lines")
	opts := h.engineOptions("replica-1")
	opts.WALWarningBytes = 1 // any retained WAL warns, to see the warning
	h.startEngine(opts)

	got := h.waitState("orders", streaming)
	h.waitEqual(30*time.Second, "orders", "sales.lines")
	if exists, _ := h.slot(r.SlotName); !exists {
		t.Fatalf("slot %s is missing at the source", r.SlotName)
	}
	eventually(t, 30*time.Second, "snapshot rows reported", func() (bool, string) {
		got = h.get("orders")
		return got.SnapshotRows == 800 && got.SnapshotDone, "snapshot_rows " + itoa(got.SnapshotRows)
	})

	run(t, h.src,
		`INSERT INTO orders (id, customer, amount) VALUES (1001, 'new', 10), (1002, 'new too', NULL)`,
		`UPDATE orders SET amount = amount + 1, tags = tags || 'c'::text WHERE id BETWEEN 10 AND 60`,
		`UPDATE orders SET customer = 'toast kept' WHERE id = 7`, // note is not resent
		`UPDATE orders SET id = 5000 WHERE id = 3`,               // the key changes: the row moves
		`DELETE FROM orders WHERE id BETWEEN 100 AND 150`,
		`BEGIN; INSERT INTO sales.lines VALUES (9000, 1, 'x', 1); UPDATE sales.lines SET qty = qty * 2 WHERE order_id = 5;
		 DELETE FROM sales.lines WHERE order_id = 6; COMMIT`,
		`UPDATE sales.lines SET line = 7 WHERE order_id = 9 AND line = 0`,
	)
	h.waitEqual(30*time.Second, "orders", "sales.lines")
	run(t, h.src, `TRUNCATE sales.lines`, `INSERT INTO sales.lines VALUES (1, 1, 'after truncate', 1)`)
	h.waitEqual(30*time.Second, "orders", "sales.lines")

	eventually(t, 30*time.Second, "status reports progress", func() (bool, string) {
		got = h.get("orders")
		return got.RowsApplied > 100 && got.AppliedLSN > 0 && got.LastError == "" &&
				len(got.Warnings) == 1 && strings.Contains(got.Warnings[0], "WAL"),
			"rows_applied " + itoa(got.RowsApplied) + ", warnings " + strings.Join(got.Warnings, "; ") + ", last error " + got.LastError
	})
	var lsn int64
	if err := h.tgt.QueryRow(context.Background(),
		`SELECT lsn FROM oriel_replication.progress WHERE replication = $1`, r.Name()).Scan(&lsn); err != nil {
		t.Fatalf("read the target's progress: %v", err)
	}
	if lsn == 0 {
		t.Fatalf("the target's progress has no position")
	}
}

func TestATableWithoutPrimaryKeyIsRefused(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	run(t, h.src,
		`CREATE TABLE keyed (id int PRIMARY KEY)`,
		`CREATE SCHEMA logs`,
		`CREATE TABLE logs.events (at timestamptz, message text)`)
	r := h.createReplication("events", "keyed", "logs.events")
	h.startEngine(h.engineOptions("replica-1"))

	got := h.waitState("events", failed)
	if !strings.Contains(got.LastError, "logs.events") || !strings.Contains(got.LastError, "primary key") {
		t.Fatalf("last_error = %q, want it to name logs.events and its missing primary key", got.LastError)
	}
	if exists, _ := h.slot(r.SlotName); exists {
		t.Fatalf("a slot was created for a replication that was refused")
	}
}

func TestAColumnChangeStopsTheReplicationUntilTheTargetMatches(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	run(t, h.src, ordersSchema...)
	h.createReplication("orders", "orders", "sales.lines")
	h.startEngine(h.engineOptions("replica-1"))
	h.waitState("orders", streaming)
	h.waitEqual(30*time.Second, "orders", "sales.lines")

	run(t, h.src,
		`ALTER TABLE orders ADD COLUMN priority int`,
		`INSERT INTO orders (id, customer, priority) VALUES (7000, 'after ddl', 3)`)
	got := h.waitState("orders", failed)
	for _, want := range []string{"public.orders", "priority", "DDL is not replicated"} {
		if !strings.Contains(got.LastError, want) {
			t.Fatalf("last_error = %q, want it to contain %q", got.LastError, want)
		}
	}
	var n int
	if err := h.tgt.QueryRow(context.Background(), `SELECT count(*) FROM orders WHERE id = 7000`).Scan(&n); err != nil {
		t.Fatal(err)
	}
	if n != 0 {
		t.Fatalf("the change after the DDL was applied to a target that does not have its column")
	}

	// The admin makes the target match and resumes: nothing was lost.
	run(t, h.tgt, `ALTER TABLE orders ADD COLUMN priority int`)
	h.change("orders", func(r *store.Replication) { r.State, r.LastError = streaming, "" })
	h.waitEqual(30*time.Second, "orders", "sales.lines")
}

func TestPauseStopsStreamingAndResumeCatchesUp(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	run(t, h.src, ordersSchema...)
	r := h.createReplication("orders", "orders")
	h.startEngine(h.engineOptions("replica-1"))
	h.waitState("orders", streaming)
	h.waitEqual(30*time.Second, "orders")

	h.change("orders", func(r *store.Replication) { r.State = paused })
	eventually(t, 30*time.Second, "the paused replication is let go", func() (bool, string) {
		got := h.get("orders")
		_, active := h.slot(r.SlotName)
		return got.LeaseOwner == "" && !active, "lease owner " + got.LeaseOwner
	})
	run(t, h.src, `INSERT INTO orders (id, customer) VALUES (8000, 'while paused')`)
	// Nothing reads the slot while paused, so the change waits at the source.
	if exists, active := h.slot(r.SlotName); !exists || active {
		t.Fatalf("while paused: slot exists=%v active=%v, want it kept and idle", exists, active)
	}
	if got := h.get("orders"); got.State != paused {
		t.Fatalf("state = %s while paused", got.State)
	}

	h.change("orders", func(r *store.Replication) { r.State = streaming })
	h.waitEqual(30*time.Second, "orders")
}

func TestAPausedReplicationReportsTheWALItsSlotKeeps(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	run(t, h.src, ordersSchema...)
	r := h.createReplication("orders", "orders")
	// Small enough to pass with a few writes, big enough that what the other tests write
	// to the same PostgreSQL (WAL is the whole server's) cannot keep it passed.
	const threshold = 1 << 20
	opts := h.engineOptions("replica-1")
	opts.WALWarningBytes = threshold
	h.startEngine(opts)
	h.waitState("orders", streaming)
	h.waitEqual(30*time.Second, "orders")

	h.change("orders", func(r *store.Replication) { r.State = paused })
	eventually(t, 30*time.Second, "the paused replication is let go", func() (bool, string) {
		got := h.get("orders")
		_, active := h.slot(r.SlotName)
		return got.LeaseOwner == "" && !active, "lease owner " + got.LeaseOwner
	})
	restart, confirmed := h.slotPositions(r.SlotName)

	// Writes at the source while paused: the slot keeps their WAL, and the status says so.
	var got *store.Replication
	var retained int64
	for _, from := range []int{10_001, 20_001} {
		run(t, h.src, `INSERT INTO orders (id, customer, note)
			SELECT i, 'while paused', repeat(md5(i::text), 8) FROM generate_series(`+itoa(int64(from))+`, `+itoa(int64(from+9999))+`) i`)
		// What the source keeps now; the engine, measuring later, sees at least as much.
		now, lag := h.slotWAL(r.SlotName)
		if now <= retained || now <= threshold {
			t.Fatalf("the paused slot keeps %d bytes of WAL after the writes, %d before; the test needs it to grow past %d", now, retained, threshold)
		}
		retained = now
		eventually(t, 60*time.Second, "the paused replication's retained WAL is measured", func() (bool, string) {
			got = h.get("orders")
			return got.RetainedWALBytes >= retained && got.LagBytes >= lag && len(got.Warnings) == 1 &&
					replication.IsWALWarning(got.Warnings[0]) && strings.Contains(got.Warnings[0], "1.0 MiB"),
				fmt.Sprintf("retained_wal_bytes %d (source: %d), lag_bytes %d (source: %d), warnings %q",
					got.RetainedWALBytes, retained, got.LagBytes, lag, got.Warnings)
		})
		if got.State != paused || got.LeaseOwner != "" || got.LastError != "" {
			t.Fatalf("measuring changed the replication: state %s, lease owner %q, last error %q", got.State, got.LeaseOwner, got.LastError)
		}
	}
	// Measured, never read: the slot is where the pause left it, and nobody holds it.
	if exists, active := h.slot(r.SlotName); !exists || active {
		t.Fatalf("while paused: slot exists=%v active=%v, want it kept and idle", exists, active)
	}
	if nowRestart, nowConfirmed := h.slotPositions(r.SlotName); nowRestart != restart || nowConfirmed != confirmed {
		t.Fatalf("the paused slot moved from restart %s, confirmed %s to %s, %s", restart, confirmed, nowRestart, nowConfirmed)
	}

	// Resumed, the replication catches up, the slot lets the WAL go and the warning clears.
	h.change("orders", func(r *store.Replication) { r.State = streaming })
	h.waitEqual(30*time.Second, "orders")
	var nudged time.Time
	eventually(t, 90*time.Second, "the warning clears once caught up", func() (bool, string) {
		// A slot's restart position moves past WAL only at a record of the running
		// transactions, which a checkpoint writes; without it, one comes within 15 s.
		if time.Since(nudged) > time.Second {
			_, _ = h.src.Exec(context.Background(), "CHECKPOINT")
			nudged = time.Now()
		}
		got = h.get("orders")
		return got.State == streaming && got.RetainedWALBytes <= threshold && len(got.Warnings) == 0,
			fmt.Sprintf("state %s, retained_wal_bytes %d, warnings %q", got.State, got.RetainedWALBytes, got.Warnings)
	})
}

func TestDeleteDropsTheSlotAndPublicationAndKeepsTheTarget(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	run(t, h.src, ordersSchema...)
	r := h.createReplication("orders", "orders")
	h.startEngine(h.engineOptions("replica-1"))
	h.waitState("orders", streaming)
	h.waitEqual(30*time.Second, "orders")

	h.change("orders", func(r *store.Replication) { r.Deleting = true })
	eventually(t, 30*time.Second, "the replication is removed", func() (bool, string) {
		return h.get("orders") == nil, "still stored"
	})
	if exists, _ := h.slot(r.SlotName); exists {
		t.Fatalf("slot %s is still at the source after delete", r.SlotName)
	}
	var pubs int
	if err := h.src.QueryRow(context.Background(), `SELECT count(*) FROM pg_publication WHERE pubname = $1`, r.SlotName).Scan(&pubs); err != nil {
		t.Fatal(err)
	}
	if pubs != 0 {
		t.Fatalf("publication %s is still at the source after delete", r.SlotName)
	}
	var n int
	if err := h.tgt.QueryRow(context.Background(), `SELECT count(*) FROM orders`).Scan(&n); err != nil || n != 500 {
		t.Fatalf("target orders after delete: %d rows, err %v; want the 500 replicated rows kept", n, err)
	}
}

func TestOnlyOneReplicaRunsAReplication(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	run(t, h.src, ordersSchema...)
	r := h.createReplication("orders", "orders")
	h.startEngine(h.engineOptions("replica-1"))
	h.startEngine(h.engineOptions("replica-2"))
	got := h.waitState("orders", streaming)
	owner := got.LeaseOwner
	for i := range 20 {
		run(t, h.src, `UPDATE orders SET amount = amount + 1 WHERE id = `+itoa(int64(i+1)))
	}
	h.waitEqual(30*time.Second, "orders")
	if got := h.get("orders"); got.LeaseOwner != owner || got.State != streaming {
		t.Fatalf("lease moved from %s to %s (state %s, last error %q) while its holder was healthy",
			owner, got.LeaseOwner, got.State, got.LastError)
	}
	if exists, active := h.slot(r.SlotName); !exists || !active {
		t.Fatalf("slot exists=%v active=%v, want one walsender streaming", exists, active)
	}
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }
