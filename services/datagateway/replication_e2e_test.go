package datagateway_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	datagatewayv1 "github.com/oriel-dev/oriel/gen/pb/oriel/datagateway/v1"
	"github.com/oriel-dev/oriel/platform/testkit"
	"github.com/oriel-dev/oriel/services/datagateway/internal/store"
)

// TestAReplicationCreatedThroughTheAPICopiesAndFollowsItsSource is the whole data
// movement flow through the service: two connections, a replication, the snapshot, live
// changes, and a delete that drops the slot. The engine's own tests cover crashes.
func TestAReplicationCreatedThroughTheAPICopiesAndFollowsItsSource(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	srcURL, dstURL := testkit.PostgresDatabase(t), testkit.PostgresDatabase(t)
	src := connect(t, srcURL)
	dst := connect(t, dstURL)
	exec(t, src, `CREATE TABLE orders (id int PRIMARY KEY, customer text NOT NULL, amount numeric(10,2))`)
	exec(t, src, `INSERT INTO orders SELECT g, 'c' || g, g * 1.5 FROM generate_series(1, 500) g`)

	s := startService(t)
	tenant := testkit.UniqueID("t")
	for id, u := range map[string]string{"shop": srcURL, "lake": dstURL} {
		if _, err := s.connections.CreateConnection(s.isv, &datagatewayv1.CreateConnectionRequest{
			Parent: store.TenantName(tenant), ConnectionId: id,
			Connection: &datagatewayv1.Connection{DisplayName: id, Postgres: paramsOf(u)},
		}); err != nil {
			t.Fatal(err)
		}
	}
	r, err := s.replications.CreateReplication(s.isv, &datagatewayv1.CreateReplicationRequest{
		Parent: store.TenantName(tenant), ReplicationId: "orders",
		Replication: &datagatewayv1.Replication{
			DisplayName:      "Orders",
			SourceConnection: store.ConnectionName(tenant, "shop"),
			TargetConnection: store.ConnectionName(tenant, "lake"),
			Tables:           []string{"orders"},
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	name, slot := r.GetReplication().GetName(), r.GetReplication().GetSlotName()
	// Runs before the databases are dropped (cleanups run last first): a slot left behind
	// would keep its database from being dropped and hold WAL.
	t.Cleanup(func() {
		_, _ = src.Exec(ctx, `SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots WHERE slot_name = $1`, slot)
	})

	got := s.waitReplication(t, name, func(r *datagatewayv1.Replication) bool {
		return r.GetState() == datagatewayv1.Replication_STATE_STREAMING && r.GetSnapshotRows() == 500
	})
	if got.GetLastError() != "" {
		t.Errorf("last_error = %q", got.GetLastError())
	}
	exec(t, src, `UPDATE orders SET amount = amount + 1 WHERE id <= 10`)
	exec(t, src, `DELETE FROM orders WHERE id > 490`)
	exec(t, src, `INSERT INTO orders VALUES (1000, 'late', 9.99)`)
	want := `SELECT row(count(*), sum(amount), max(id))::text FROM orders`
	s.waitReplication(t, name, func(*datagatewayv1.Replication) bool { return sameRow(t, src, dst, want) })

	if _, err := s.replications.DeleteReplication(s.isv, &datagatewayv1.DeleteReplicationRequest{Name: name}); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		_, err := s.replications.GetReplication(s.isv, &datagatewayv1.GetReplicationRequest{Name: name})
		var slots int
		if qerr := src.QueryRow(ctx, `SELECT count(*) FROM pg_replication_slots WHERE slot_name = $1`, slot).Scan(&slots); qerr != nil {
			t.Fatal(qerr)
		}
		if status.Code(err) == codes.NotFound && slots == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("after delete: get = %v, slots = %d; want NOT_FOUND and the slot dropped", err, slots)
		}
		time.Sleep(100 * time.Millisecond)
	}
	if !sameRow(t, src, dst, want) {
		t.Error("deleting the replication changed the target's tables")
	}
}

// waitReplication polls GetReplication until done holds, failing on FAILED.
func (s *service) waitReplication(t *testing.T, name string, done func(*datagatewayv1.Replication) bool) *datagatewayv1.Replication {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for {
		resp, err := s.replications.GetReplication(s.isv, &datagatewayv1.GetReplicationRequest{Name: name})
		if err != nil {
			t.Fatal(err)
		}
		r := resp.GetReplication()
		if r.GetState() == datagatewayv1.Replication_STATE_FAILED {
			t.Fatalf("replication failed: %s", r.GetLastError())
		}
		if done(r) {
			return r
		}
		if time.Now().After(deadline) {
			t.Fatalf("replication did not get there within a minute: %v", r)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func connect(t *testing.T, url string) *pgx.Conn {
	t.Helper()
	c, err := pgx.Connect(context.Background(), url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close(context.Background()) })
	return c
}

func exec(t *testing.T, c *pgx.Conn, sql string) {
	t.Helper()
	if _, err := c.Exec(context.Background(), sql); err != nil {
		t.Fatalf("%s: %v", sql, err)
	}
}

// sameRow reports whether query, which returns one text value, gives the same on both
// databases (false while the target table does not exist yet).
func sameRow(t *testing.T, a, b *pgx.Conn, query string) bool {
	t.Helper()
	var va, vb string
	if err := a.QueryRow(context.Background(), query).Scan(&va); err != nil {
		t.Fatalf("source: %v", err)
	}
	if err := b.QueryRow(context.Background(), query).Scan(&vb); err != nil {
		return false
	}
	return va == vb
}

// TestAReplicationFromASourceBehindAnAgentCopiesAndFollowsIt replicates from a source the
// datagateway reaches only through an agent: it waits for an agent of the pool, snapshots
// and streams through the agent's tunnel, moves to another agent when the first dies,
// and its delete drops the slot through the tunnel too.
func TestAReplicationFromASourceBehindAnAgentCopiesAndFollowsIt(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	srcURL, dstURL := testkit.PostgresDatabase(t), testkit.PostgresDatabase(t)
	src := connect(t, srcURL)
	dst := connect(t, dstURL)
	exec(t, src, `CREATE TABLE orders (id int PRIMARY KEY, customer text NOT NULL, amount numeric(10,2))`)
	exec(t, src, `INSERT INTO orders SELECT g, 'c' || g, g * 1.5 FROM generate_series(1, 500) g`)

	s := startService(t)
	tenant := testkit.UniqueID("t")
	first := s.createAgent(t, tenant, "warehouse", "default")
	second := s.createAgent(t, tenant, "warehouse-2", "default")
	for id, c := range map[string]*datagatewayv1.Connection{
		"shop": {DisplayName: "shop", Postgres: paramsOf(srcURL), AgentPool: "default"},
		"lake": {DisplayName: "lake", Postgres: paramsOf(dstURL)},
	} {
		if _, err := s.connections.CreateConnection(s.isv, &datagatewayv1.CreateConnectionRequest{
			Parent: store.TenantName(tenant), ConnectionId: id, Connection: c,
		}); err != nil {
			t.Fatal(err)
		}
	}
	r, err := s.replications.CreateReplication(s.isv, &datagatewayv1.CreateReplicationRequest{
		Parent: store.TenantName(tenant), ReplicationId: "orders",
		Replication: &datagatewayv1.Replication{
			DisplayName:      "Orders",
			SourceConnection: store.ConnectionName(tenant, "shop"),
			TargetConnection: store.ConnectionName(tenant, "lake"),
			Tables:           []string{"orders"},
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	name, slot := r.GetReplication().GetName(), r.GetReplication().GetSlotName()
	t.Cleanup(func() {
		_, _ = src.Exec(ctx, `SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots WHERE slot_name = $1`, slot)
	})

	// No agent yet: the engine does not reach around the agent, it waits for one.
	waiting := s.waitReplication(t, name, func(r *datagatewayv1.Replication) bool {
		return strings.Contains(r.GetLastError(), `no agent of pool "default"`)
	})
	if waiting.GetState() != datagatewayv1.Replication_STATE_SNAPSHOTTING {
		t.Fatalf("without an agent: %v, want SNAPSHOTTING with the agent missing as its last error", waiting)
	}

	firstCtx, killFirst := context.WithCancel(ctx)
	defer killFirst()
	firstDone := s.runAgentUntil(t, firstCtx, first.GetName(), "1.0.0")
	s.waitReplication(t, name, func(r *datagatewayv1.Replication) bool {
		return r.GetState() == datagatewayv1.Replication_STATE_STREAMING && r.GetSnapshotRows() == 500
	})
	exec(t, src, `UPDATE orders SET amount = amount + 1 WHERE id <= 10`)
	exec(t, src, `DELETE FROM orders WHERE id > 490`)
	exec(t, src, `INSERT INTO orders VALUES (1000, 'late', 9.99)`)
	want := `SELECT row(count(*), sum(amount), max(id))::text FROM orders`
	s.waitReplication(t, name, func(*datagatewayv1.Replication) bool { return sameRow(t, src, dst, want) })

	// The agent dies mid-stream; the replication resumes through the pool's other agent,
	// from the target's applied position: nothing lost, nothing applied twice.
	if n := walSenders(t, src, slot); n != 1 {
		t.Fatalf("%d walsenders stream the slot, want 1", n)
	}
	killFirst()
	if err := <-firstDone; err != nil {
		t.Fatalf("the first agent stopped with %v", err)
	}
	// The walsender's connection was the agent's: it went with the agent.
	deadline := time.Now().Add(30 * time.Second)
	for walSenders(t, src, slot) != 0 {
		if time.Now().After(deadline) {
			t.Fatal("the slot is still streamed with its agent gone: the engine reached the source around the agent")
		}
		time.Sleep(50 * time.Millisecond)
	}
	s.runAgent(t, second.GetName(), "1.0.0")
	exec(t, src, `INSERT INTO orders SELECT g, 'after', 1 FROM generate_series(2001, 2100) g`)
	exec(t, src, `UPDATE orders SET customer = 'moved' WHERE id <= 5`)
	wantAll := `SELECT row(count(*), sum(amount), max(id), string_agg(customer, ',' ORDER BY id))::text FROM orders`
	got := s.waitReplication(t, name, func(r *datagatewayv1.Replication) bool {
		return r.GetState() == datagatewayv1.Replication_STATE_STREAMING && sameRow(t, src, dst, wantAll)
	})
	if got.GetSnapshotRows() != 500 {
		t.Fatalf("after the agent changed: %v; want the stream resumed, not a new snapshot", got)
	}

	if _, err := s.replications.DeleteReplication(s.isv, &datagatewayv1.DeleteReplicationRequest{Name: name}); err != nil {
		t.Fatal(err)
	}
	deadline = time.Now().Add(30 * time.Second)
	for {
		_, err := s.replications.GetReplication(s.isv, &datagatewayv1.GetReplicationRequest{Name: name})
		var slots int
		if qerr := src.QueryRow(ctx, `SELECT count(*) FROM pg_replication_slots WHERE slot_name = $1`, slot).Scan(&slots); qerr != nil {
			t.Fatal(qerr)
		}
		if status.Code(err) == codes.NotFound && slots == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("after delete: get = %v, slots = %d; want NOT_FOUND and the slot dropped", err, slots)
		}
		time.Sleep(100 * time.Millisecond)
	}
	if !sameRow(t, src, dst, wantAll) {
		t.Error("deleting the replication changed the target's tables")
	}
}

// walSenders counts the walsenders streaming slot at the source.
func walSenders(t *testing.T, src *pgx.Conn, slot string) int {
	t.Helper()
	var n int
	if err := src.QueryRow(context.Background(), `SELECT count(*) FROM pg_replication_slots WHERE slot_name = $1 AND active`, slot).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}
