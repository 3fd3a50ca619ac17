package replication_test

import (
	"context"
	"errors"
	"log/slog"
	"path/filepath"
	"reflect"
	"slices"
	"sync"
	"testing"
	"time"

	"google.golang.org/protobuf/types/known/timestamppb"

	datagatewayv1 "github.com/oriel-dev/oriel/gen/pb/oriel/datagateway/v1"
	"github.com/oriel-dev/oriel/platform/sqlstore"
	"github.com/oriel-dev/oriel/platform/testkit"
	"github.com/oriel-dev/oriel/services/datagateway/internal/replication"
	"github.com/oriel-dev/oriel/services/datagateway/internal/store"
)

// clock is a settable store clock.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *clock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.now }
func (c *clock) Add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

// TestTheDatagatewayStoreKeepsTheEngineContract runs the engine's side of the store
// (leases, status, failure, deletion) on both of the datagateway's databases.
func TestTheDatagatewayStoreKeepsTheEngineContract(t *testing.T) {
	t.Parallel()
	for _, d := range []struct {
		name string
		url  func(t *testing.T) string
	}{
		{"postgres", func(t *testing.T) string { return testkit.PostgresDatabase(t) }},
		{"sqlite", func(t *testing.T) string { return "sqlite://" + filepath.Join(t.TempDir(), "datagateway.db") }},
	} {
		t.Run(d.name, func(t *testing.T) {
			t.Parallel()
			ctx := context.Background()
			db, err := sqlstore.Open(ctx, d.url(t), sqlstore.Options{Schema: "datagateway"})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(db.Close)
			if err := db.Migrate(ctx, store.Migrations, slog.New(slog.DiscardHandler)); err != nil {
				t.Fatal(err)
			}
			clk := &clock{now: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)}
			s := store.New(db, clk.Now)
			storeContract(t, s, clk)
		})
	}
}

func storeContract(t *testing.T, s *store.SQL, clk *clock) {
	ctx := context.Background()
	tenant := testkit.UniqueID("tenant")
	for _, id := range []string{"src", "dst"} {
		c := &datagatewayv1.Connection{
			Name: store.ConnectionName(tenant, id), DisplayName: id,
			Postgres:   &datagatewayv1.PostgresParams{Host: "db", Database: "d", User: "u"},
			AgentPool:  "default",
			CreateTime: timestamppb.New(clk.Now()), UpdateTime: timestamppb.New(clk.Now()),
		}
		if err := s.CreateConnection(ctx, tenant, id, c, nil); err != nil {
			t.Fatal(err)
		}
	}
	r := &store.Replication{
		Tenant: tenant, ID: "r1", DisplayName: "r1", SourceConnection: "src", TargetConnection: "dst",
		Tables: []string{"public.orders", "items"}, State: snapshotting, SlotName: store.SlotName(tenant, "r1"),
		CreateTime: clk.Now(), UpdateTime: clk.Now(),
	}
	if err := s.CreateReplication(ctx, r); err != nil {
		t.Fatal(err)
	}
	get := func() *store.Replication {
		t.Helper()
		got, err := s.GetReplication(ctx, tenant, "r1")
		if err != nil {
			t.Fatalf("GetReplication: %v", err)
		}
		return got
	}
	change := func(edit func(*store.Replication)) {
		t.Helper()
		if _, err := s.ChangeReplication(ctx, tenant, "r1", clk.Now(), func(r *store.Replication) error { edit(r); return nil }); err != nil {
			t.Fatal(err)
		}
	}
	claim := func(owner string) *replication.Job {
		t.Helper()
		job, err := s.Claim(ctx, owner, 10*time.Second)
		if err != nil {
			t.Fatalf("Claim(%s): %v", owner, err)
		}
		return job
	}
	lost := func(what string, err error) {
		t.Helper()
		if !errors.Is(err, replication.ErrLeaseLost) {
			t.Fatalf("%s = %v, want ErrLeaseLost", what, err)
		}
	}
	idle := func() []string {
		t.Helper()
		jobs, err := s.Idle(ctx, "", "", 10)
		if err != nil {
			t.Fatalf("Idle: %v", err)
		}
		var ids []string
		for _, j := range jobs {
			ids = append(ids, j.ID)
		}
		return ids
	}
	// measure records m and checks that it changed nothing but what a measurement may.
	measure := func(m replication.Measurement, wantRecorded bool) *store.Replication {
		t.Helper()
		before := get()
		if err := s.Measure(ctx, tenant, "r1", m); err != nil {
			t.Fatalf("Measure: %v", err)
		}
		after := get()
		want := *before
		if wantRecorded {
			want.LagBytes, want.RetainedWALBytes = m.LagBytes, m.RetainedWALBytes
			want.Warnings = slices.DeleteFunc(slices.Clone(before.Warnings), replication.IsWALWarning)
			if m.WALWarning != "" {
				want.Warnings = append(want.Warnings, m.WALWarning)
			}
			want.Etag, want.UpdateTime = after.Etag, after.UpdateTime
		}
		if !reflect.DeepEqual(after, &want) {
			t.Fatalf("Measure(%+v) (recorded %v):\n got %+v\nwant %+v", m, wantRecorded, after, &want)
		}
		return after
	}
	walWarning := replication.WALWarning(3<<30, 1<<30)

	job := claim("a")
	if job == nil || job.ID != "r1" || job.SourceConnection != "src" || job.TargetConnection != "dst" ||
		job.SlotName != r.SlotName || !slices.Equal(job.Tables, r.Tables) || job.State != snapshotting || job.Deleting {
		t.Fatalf("Claim = %+v, want replication r1 as created", job)
	}
	if other := claim("b"); other != nil {
		t.Fatalf("a leased replication was claimed again: %+v", other)
	}
	_, err := s.Renew(ctx, tenant, "r1", "b", 10*time.Second)
	lost("Renew by a non-owner", err)

	st := replication.Status{State: streaming, SlotName: r.SlotName, AppliedLSN: 1 << 40, LagBytes: 10, LagSeconds: 0.5,
		SnapshotRows: 800, RowsApplied: 12, RetainedWALBytes: 4096, Warnings: []string{"retained WAL"}}
	if err := s.Report(ctx, tenant, "r1", "a", st); err != nil {
		t.Fatalf("Report: %v", err)
	}
	got := get()
	if got.State != streaming || !got.SnapshotDone || got.AppliedLSN != 1<<40 || got.LagBytes != 10 || got.LagSeconds != 0.5 ||
		got.SnapshotRows != 800 || got.RowsApplied != 12 || got.RetainedWALBytes != 4096 ||
		!slices.Equal(got.Warnings, st.Warnings) || got.Etag == r.Etag {
		t.Fatalf("after Report: %+v", got)
	}
	etag := got.Etag
	if err := s.Report(ctx, tenant, "r1", "a", st); err != nil {
		t.Fatal(err)
	}
	if get().Etag != etag {
		t.Fatalf("a report that changes nothing changed the etag")
	}
	lost("Report by a non-owner", s.Report(ctx, tenant, "r1", "b", st))
	// A streaming replication is its worker's to report on.
	if ids := idle(); len(ids) != 0 {
		t.Fatalf("Idle = %v with r1 streaming", ids)
	}
	measure(replication.Measurement{LagBytes: 99, RetainedWALBytes: 3 << 30, WALWarning: walWarning}, false)

	// Leases expire by the store's clock.
	clk.Add(11 * time.Second)
	if job := claim("b"); job == nil {
		t.Fatalf("an expired lease was not claimable")
	}
	_, err = s.Renew(ctx, tenant, "r1", "a", 10*time.Second)
	lost("Renew after the lease moved", err)
	ctl, err := s.Renew(ctx, tenant, "r1", "b", 10*time.Second)
	if err != nil || ctl.Paused || ctl.Deleting {
		t.Fatalf("Renew = %+v, %v", ctl, err)
	}

	// Pause: the engine learns it, its reports cannot undo it, and nobody claims it.
	change(func(r *store.Replication) { r.State = paused })
	if ctl, err = s.Renew(ctx, tenant, "r1", "b", 10*time.Second); err != nil || !ctl.Paused {
		t.Fatalf("Renew of a paused replication = %+v, %v", ctl, err)
	}
	if err := s.Report(ctx, tenant, "r1", "b", st); err != nil || get().State != paused {
		t.Fatalf("a report overwrote PAUSED: state %s, err %v", get().State, err)
	}
	// Still leased: its worker winds down and reports; nobody else measures it.
	if ids := idle(); len(ids) != 0 {
		t.Fatalf("Idle = %v while b holds the paused replication", ids)
	}
	measure(replication.Measurement{LagBytes: 99, RetainedWALBytes: 3 << 30, WALWarning: walWarning}, false)
	// A lease that expired (its holder died) does not keep it from being measured.
	clk.Add(11 * time.Second)
	if ids := idle(); !slices.Equal(ids, []string{"r1"}) {
		t.Fatalf("Idle = %v with the paused replication's lease expired, want [r1]", ids)
	}
	if _, err := s.Renew(ctx, tenant, "r1", "b", 10*time.Second); err != nil {
		t.Fatal(err)
	}
	if err := s.Release(ctx, tenant, "r1", "b", clk.Now(), ""); err != nil {
		t.Fatalf("Release: %v", err)
	}
	lost("Release twice", s.Release(ctx, tenant, "r1", "b", clk.Now(), ""))
	if job := claim("c"); job != nil {
		t.Fatalf("a paused replication was claimed")
	}

	// Paused and let go: the engine measures its slot without claiming it.
	jobs, err := s.Idle(ctx, "", "", 10)
	if err != nil || len(jobs) != 1 || jobs[0].Tenant != tenant || jobs[0].ID != "r1" ||
		jobs[0].SourceConnection != "src" || jobs[0].SlotName != r.SlotName || jobs[0].State != paused || jobs[0].Deleting {
		t.Fatalf("Idle = %+v, %v; want r1", jobs, err)
	}
	if jobs, err := s.Idle(ctx, tenant, "r1", 10); err != nil || len(jobs) != 0 {
		t.Fatalf("Idle after r1 = %+v, %v; want none", jobs, err)
	}
	if jobs, err := s.Idle(ctx, tenant, "r0", 10); err != nil || len(jobs) != 1 {
		t.Fatalf("Idle after r0 = %+v, %v; want r1", jobs, err)
	}
	got = measure(replication.Measurement{LagBytes: 5000, RetainedWALBytes: 3 << 30, WALWarning: walWarning}, true)
	if !slices.Equal(got.Warnings, []string{"retained WAL", walWarning}) || got.State != paused || got.LeaseOwner != "" {
		t.Fatalf("after Measure: %+v; want the WAL warning added to the others, still paused and unleased", got)
	}
	etag = got.Etag
	got = measure(replication.Measurement{LagBytes: 5000, RetainedWALBytes: 3 << 30, WALWarning: walWarning}, true)
	if got.Etag != etag {
		t.Fatalf("a measurement that changes nothing changed the etag")
	}
	more := replication.WALWarning(4<<30, 1<<30)
	if got := measure(replication.Measurement{LagBytes: 6000, RetainedWALBytes: 4 << 30, WALWarning: more}, true); !slices.Equal(got.Warnings, []string{"retained WAL", more}) {
		t.Fatalf("warnings = %q; want the WAL warning replaced, not added", got.Warnings)
	}
	if got := measure(replication.Measurement{LagBytes: 10, RetainedWALBytes: 100}, true); !slices.Equal(got.Warnings, []string{"retained WAL"}) {
		t.Fatalf("warnings = %q below the threshold; want the WAL warning gone and the others kept", got.Warnings)
	}
	if job := claim("c"); job != nil {
		t.Fatalf("a measured paused replication was claimed")
	}

	// Resume; a transient error is recorded and the retry waits.
	change(func(r *store.Replication) { r.State = streaming })
	if job := claim("c"); job == nil {
		t.Fatalf("a resumed replication was not claimable")
	}
	if err := s.Release(ctx, tenant, "r1", "c", clk.Now().Add(5*time.Second), "source unreachable"); err != nil {
		t.Fatal(err)
	}
	if got := get(); got.LastError != "source unreachable" || got.LeaseOwner != "" {
		t.Fatalf("after Release with an error: %+v", got)
	}
	if job := claim("c"); job != nil {
		t.Fatalf("claimed before its retry time")
	}
	clk.Add(5 * time.Second)
	if job := claim("c"); job == nil {
		t.Fatalf("not claimable at its retry time")
	}

	// Fail stops it for good.
	if err := s.Fail(ctx, tenant, "r1", "c", "table x has no primary key"); err != nil {
		t.Fatal(err)
	}
	if got := get(); got.State != failed || got.LastError != "table x has no primary key" || got.LeaseOwner != "" {
		t.Fatalf("after Fail: %+v", got)
	}
	if job := claim("c"); job != nil {
		t.Fatalf("a failed replication was claimed")
	}
	// A failed replication keeps its slot: it is measured too.
	if ids := idle(); !slices.Equal(ids, []string{"r1"}) {
		t.Fatalf("Idle = %v with r1 failed, want [r1]", ids)
	}
	if got := measure(replication.Measurement{LagBytes: 7000, RetainedWALBytes: 3 << 30, WALWarning: walWarning}, true); got.State != failed ||
		got.LastError != "table x has no primary key" {
		t.Fatalf("after Measure of a failed replication: %+v", got)
	}

	// Delete: even a failed replication is claimed to drop its slot, then removed.
	change(func(r *store.Replication) { r.Deleting = true })
	// Being deleted: its slot is about to go; nobody measures it.
	if ids := idle(); len(ids) != 0 {
		t.Fatalf("Idle = %v with r1 being deleted", ids)
	}
	measure(replication.Measurement{LagBytes: 1, RetainedWALBytes: 1}, false)
	job = claim("d")
	if job == nil || !job.Deleting {
		t.Fatalf("Claim of a deleting replication = %+v", job)
	}
	lost("FinishDelete by a non-owner", s.FinishDelete(ctx, tenant, "r1", "c"))
	if err := s.FinishDelete(ctx, tenant, "r1", "d"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.GetReplication(ctx, tenant, "r1"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("GetReplication after FinishDelete = %v, want ErrNotFound", err)
	}
}
