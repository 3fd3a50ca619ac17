package replication_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	datagatewayv1 "github.com/oriel-dev/oriel/gen/pb/oriel/datagateway/v1"
	"github.com/oriel-dev/oriel/platform/sqlstore"
	"github.com/oriel-dev/oriel/platform/testkit"
	"github.com/oriel-dev/oriel/services/datagateway/internal/replication"
	"github.com/oriel-dev/oriel/services/datagateway/internal/store"
)

// Connection ids every harness creates in its tenant.
const (
	sourceConn = "source"
	targetConn = "target"
)

// sources resolves connection ids to fixed parameters, all reached directly, standing
// in for the datagateway's decrypting resolver.
type sources map[string]*datagatewayv1.Source

func (s sources) Source(_ context.Context, _ string, connection string) (*datagatewayv1.Source, string, error) {
	src, ok := s[connection]
	if !ok {
		return nil, "", fmt.Errorf("connection %s: %w", connection, store.ErrNotFound)
	}
	return proto.Clone(src).(*datagatewayv1.Source), "", nil
}

// sourceOf turns a test database URL into connection parameters.
func sourceOf(tb testing.TB, dbURL string) *datagatewayv1.Source {
	tb.Helper()
	u, err := url.Parse(dbURL)
	if err != nil {
		tb.Fatalf("parse %s: %v", dbURL, err)
	}
	port, _ := strconv.Atoi(u.Port())
	password, _ := u.User.Password()
	return &datagatewayv1.Source{
		Params: &datagatewayv1.Source_Postgres{Postgres: &datagatewayv1.PostgresParams{
			Host: u.Hostname(), Port: int32(port), Database: strings.TrimPrefix(u.Path, "/"),
			User: u.User.Username(), SslMode: datagatewayv1.PostgresParams_SSL_MODE_DISABLE,
		}},
		Credentials: &datagatewayv1.Credentials{Password: password},
	}
}

// harness is a datagateway store, a source and a target database, each fresh.
type harness struct {
	tb       testing.TB
	storeURL string
	db       *sqlstore.DB
	store    *store.SQL
	tenant   string
	srcURL   string
	tgtURL   string
	src, tgt *pgxpool.Pool
	sources  sources
}

func newHarness(tb testing.TB) *harness {
	tb.Helper()
	ctx := context.Background()
	h := &harness{tb: tb, tenant: testkit.UniqueID("tenant")}
	h.storeURL = testkit.PostgresDatabase(tb)
	db, err := sqlstore.Open(ctx, h.storeURL, sqlstore.Options{Schema: "datagateway"})
	if err != nil {
		tb.Fatalf("open the store: %v", err)
	}
	tb.Cleanup(db.Close)
	if err := db.Migrate(ctx, store.Migrations, slog.New(slog.DiscardHandler)); err != nil {
		tb.Fatalf("migrate the store: %v", err)
	}
	h.db, h.store = db, store.New(db, nil)

	h.srcURL = testkit.PostgresDatabase(tb)
	// Registered after the database, so it runs before testkit drops it: a database
	// with a logical slot cannot be dropped, and a slot holds WAL until dropped.
	tb.Cleanup(func() { dropSlots(tb, h.srcURL) })
	h.tgtURL = testkit.PostgresDatabase(tb)
	h.src, h.tgt = pool(tb, h.srcURL), pool(tb, h.tgtURL)

	var level string
	if err := h.src.QueryRow(ctx, "SHOW wal_level").Scan(&level); err != nil {
		tb.Fatalf("SHOW wal_level: %v", err)
	}
	if level != "logical" {
		tb.Fatalf("the test PostgreSQL runs with wal_level=%s; replication needs logical: "+
			"run the tests with `make test` (tools/scripts/test-services.sh configures it)", level)
	}

	h.sources = sources{sourceConn: sourceOf(tb, h.srcURL), targetConn: sourceOf(tb, h.tgtURL)}
	for id, src := range h.sources {
		now := time.Now()
		c := &datagatewayv1.Connection{
			Name:        store.ConnectionName(h.tenant, id),
			DisplayName: id,
			Postgres:    src.GetPostgres(),
			AgentPool:   "default",
			CreateTime:  timestamppb.New(now),
			UpdateTime:  timestamppb.New(now),
		}
		if err := h.store.CreateConnection(ctx, h.tenant, id, c, nil); err != nil {
			tb.Fatalf("CreateConnection %s: %v", id, err)
		}
	}
	return h
}

func pool(tb testing.TB, dbURL string) *pgxpool.Pool {
	tb.Helper()
	p, err := pgxpool.New(context.Background(), dbURL)
	if err != nil {
		tb.Fatalf("connect to %s: %v", dbURL, err)
	}
	tb.Cleanup(p.Close)
	return p
}

// dropSlots drops every slot of the database at dbURL, ending whoever holds them.
func dropSlots(tb testing.TB, dbURL string) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	p, err := pgxpool.New(ctx, dbURL)
	if err != nil {
		tb.Errorf("drop slots: %v", err)
		return
	}
	defer p.Close()
	for ctx.Err() == nil {
		var left int
		err := p.QueryRow(ctx, `
			WITH gone AS (
				SELECT CASE WHEN active THEN pg_terminate_backend(active_pid)
				            ELSE pg_drop_replication_slot(slot_name) IS NULL END
				FROM pg_replication_slots WHERE database = current_database()
			)
			SELECT count(*) FROM gone`).Scan(&left)
		if err == nil && left == 0 {
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	tb.Errorf("drop slots of %s: still there after 30 s", dbURL)
}

// run runs statements on p, failing the test on error.
func run(tb testing.TB, p *pgxpool.Pool, stmts ...string) {
	tb.Helper()
	for _, s := range stmts {
		if _, err := p.Exec(context.Background(), s); err != nil {
			tb.Fatalf("%s: %v", s, err)
		}
	}
}

// createReplication stores a new replication of tables, state SNAPSHOTTING as the API
// creates it.
func (h *harness) createReplication(id string, tables ...string) *store.Replication {
	h.tb.Helper()
	now := time.Now()
	r := &store.Replication{
		Tenant: h.tenant, ID: id, DisplayName: id,
		SourceConnection: sourceConn, TargetConnection: targetConn,
		Tables:     tables,
		State:      datagatewayv1.Replication_STATE_SNAPSHOTTING,
		SlotName:   store.SlotName(h.tenant, id),
		CreateTime: now, UpdateTime: now,
	}
	if err := h.store.CreateReplication(context.Background(), r); err != nil {
		h.tb.Fatalf("CreateReplication %s: %v", id, err)
	}
	return r
}

// get reads a replication; nil once it is gone.
func (h *harness) get(id string) *store.Replication {
	h.tb.Helper()
	r, err := h.store.GetReplication(context.Background(), h.tenant, id)
	if errors.Is(err, store.ErrNotFound) {
		return nil
	}
	if err != nil {
		h.tb.Fatalf("GetReplication %s: %v", id, err)
	}
	return r
}

// change edits a replication as the API's pause, resume and delete do.
func (h *harness) change(id string, edit func(r *store.Replication)) {
	h.tb.Helper()
	_, err := h.store.ChangeReplication(context.Background(), h.tenant, id, time.Now(), func(r *store.Replication) error {
		edit(r)
		return nil
	})
	if err != nil {
		h.tb.Fatalf("ChangeReplication %s: %v", id, err)
	}
}

// engineOptions are quick enough for tests; the store is the real one.
func (h *harness) engineOptions(owner string) replication.Options {
	return replication.Options{
		Store:          h.store,
		Sources:        h.sources,
		Log:            slog.New(slog.NewTextHandler(testWriter{h.tb}, &slog.HandlerOptions{Level: slog.LevelDebug})),
		Owner:          owner,
		Lease:          3 * time.Second,
		Poll:           50 * time.Millisecond,
		StatusInterval: 100 * time.Millisecond,
		MaxRetryDelay:  time.Second,
	}
}

// startEngine runs an engine until the test ends.
func (h *harness) startEngine(opts replication.Options) {
	h.tb.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- replication.New(opts).Run(ctx) }()
	h.tb.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			h.tb.Errorf("Engine.Run: %v", err)
		}
	})
}

// testWriter sends log lines to the test's log, and nowhere once the test is over.
type testWriter struct{ tb testing.TB }

var logMu sync.Mutex

func (w testWriter) Write(p []byte) (int, error) {
	logMu.Lock()
	defer logMu.Unlock()
	if os.Getenv("ORIEL_TEST_REPLICATION_LOG") != "" {
		_, _ = os.Stderr.Write(p)
	}
	return len(p), nil
}

// eventually polls cond until it holds, failing the test with cond's last word after
// timeout. The bound is generous: it catches hangs, it does not measure speed.
func eventually(tb testing.TB, timeout time.Duration, what string, cond func() (bool, string)) {
	tb.Helper()
	deadline := time.Now().Add(timeout)
	for {
		ok, why := cond()
		if ok {
			return
		}
		if time.Now().After(deadline) {
			tb.Fatalf("%s: not after %s: %s", what, timeout, why)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// waitState waits until the replication reaches state.
func (h *harness) waitState(id string, state datagatewayv1.Replication_State) *store.Replication {
	h.tb.Helper()
	var r *store.Replication
	eventually(h.tb, 60*time.Second, id+" reaches "+state.String(), func() (bool, string) {
		r = h.get(id)
		if r == nil {
			return false, "it is gone"
		}
		return r.State == state, fmt.Sprintf("state %s, last error %q", r.State, r.LastError)
	})
	return r
}

// rows is a table's rows as text, ordered, for exact comparison.
func rows(tb testing.TB, p *pgxpool.Pool, table string) (string, error) {
	var out string
	err := p.QueryRow(context.Background(),
		"SELECT coalesce(string_agg(t::text, E'\\n' ORDER BY t::text), '') FROM "+table+" t").Scan(&out)
	return out, err
}

// waitEqual waits until the target's copy of each table equals the source's, row for row.
func (h *harness) waitEqual(timeout time.Duration, tables ...string) {
	h.tb.Helper()
	for _, table := range tables {
		eventually(h.tb, timeout, "target "+table+" equals the source", func() (bool, string) {
			want, err := rows(h.tb, h.src, table)
			if err != nil {
				h.tb.Fatalf("read source %s: %v", table, err)
			}
			got, err := rows(h.tb, h.tgt, table)
			if err != nil {
				return false, err.Error()
			}
			return got == want, diff(want, got)
		})
	}
}

// diff names the first rows that differ.
func diff(want, got string) string {
	w, g := strings.Split(want, "\n"), strings.Split(got, "\n")
	inW := map[string]bool{}
	for _, r := range w {
		inW[r] = true
	}
	inG := map[string]bool{}
	for _, r := range g {
		inG[r] = true
	}
	var missing, extra []string
	for _, r := range w {
		if !inG[r] && len(missing) < 3 {
			missing = append(missing, r)
		}
	}
	for _, r := range g {
		if !inW[r] && len(extra) < 3 {
			extra = append(extra, r)
		}
	}
	return fmt.Sprintf("%d source rows, %d target rows; missing in target %q; only in target %q", len(w), len(g), missing, extra)
}

// slot reports whether the slot exists at the source and whether a walsender holds it.
func (h *harness) slot(name string) (exists, active bool) {
	h.tb.Helper()
	err := h.src.QueryRow(context.Background(),
		"SELECT count(*) > 0, coalesce(bool_or(active), false) FROM pg_replication_slots WHERE slot_name = $1",
		name).Scan(&exists, &active)
	if err != nil {
		h.tb.Fatalf("read pg_replication_slots: %v", err)
	}
	return exists, active
}

// slotWAL is what the source says a slot keeps: retained WAL and lag, in bytes.
func (h *harness) slotWAL(name string) (retained, lag int64) {
	h.tb.Helper()
	err := h.src.QueryRow(context.Background(), `
		SELECT (pg_current_wal_lsn() - restart_lsn)::bigint, (pg_current_wal_lsn() - confirmed_flush_lsn)::bigint
		FROM pg_replication_slots WHERE slot_name = $1`, name).Scan(&retained, &lag)
	if err != nil {
		h.tb.Fatalf("read slot %s: %v", name, err)
	}
	return retained, lag
}

// slotPositions are a slot's restart and confirmed positions.
func (h *harness) slotPositions(name string) (restart, confirmed string) {
	h.tb.Helper()
	err := h.src.QueryRow(context.Background(),
		"SELECT restart_lsn::text, confirmed_flush_lsn::text FROM pg_replication_slots WHERE slot_name = $1",
		name).Scan(&restart, &confirmed)
	if err != nil {
		h.tb.Fatalf("read slot %s: %v", name, err)
	}
	return restart, confirmed
}
