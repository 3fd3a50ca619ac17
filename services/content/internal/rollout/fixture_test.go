package rollout_test

import (
	"context"
	"fmt"
	"log/slog"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	contentv1 "github.com/oriel-dev/oriel/gen/pb/oriel/content/v1"
	"github.com/oriel-dev/oriel/platform/sqlstore"
	"github.com/oriel-dev/oriel/platform/testkit"

	"github.com/oriel-dev/oriel/services/content/internal/rollout"
	"github.com/oriel-dev/oriel/services/content/internal/store"
)

// databases are the databases the engine runs on, each giving a fresh, empty database URL.
var databases = []struct {
	name string
	url  func(t testing.TB) string
}{
	{"postgres", func(t testing.TB) string { return testkit.PostgresDatabase(t) }},
	{"sqlite", func(t testing.TB) string { return "sqlite://" + filepath.Join(t.TempDir(), "content.db") }},
}

// onEveryDatabase runs test on each database, in parallel.
func onEveryDatabase(t *testing.T, test func(t *testing.T, f *fixture)) {
	t.Helper()
	for _, d := range databases {
		t.Run(d.name, func(t *testing.T) {
			t.Parallel()
			test(t, newFixture(t, d.url(t)))
		})
	}
}

// onPostgres runs test on PostgreSQL only: for behaviour that needs transactions running
// side by side, which SQLite's single writer never does.
func onPostgres(t *testing.T, test func(t *testing.T, f *fixture)) {
	t.Helper()
	test(t, newFixture(t, databases[0].url(t)))
}

const (
	template = "sales"
	creator  = "serviceAccounts/isv-backend"
)

// fixture is one migrated content store with a template, and helpers to make and read
// rollouts the way the API does.
type fixture struct {
	t  testing.TB
	st store.Store
}

func newFixture(t testing.TB, url string) *fixture {
	t.Helper()
	ctx := context.Background()
	// Enough connections for the engine's parallel transactions, its picking and its
	// lease, so no test waits on the pool.
	db, err := sqlstore.Open(ctx, url, sqlstore.Options{Schema: "content", MaxConns: 40})
	if err != nil {
		t.Fatalf("sqlstore.Open: %v", err)
	}
	t.Cleanup(db.Close)
	if err := db.Migrate(ctx, store.Migrations, slog.New(slog.DiscardHandler)); err != nil {
		t.Fatalf("Migrate: %v", err)
	}
	f := &fixture{t: t, st: store.SQL(db)}
	f.tx(func(ctx context.Context, tx store.Tx) error {
		now := timestamppb.Now()
		return tx.CreateTemplate(ctx, template, &contentv1.Template{
			Name: "templates/" + template, DisplayName: "Sales", Description: "Sales overview",
			CreateTime: now, UpdateTime: now,
		})
	})
	return f
}

// tx runs fn in a transaction, failing the test on error.
func (f *fixture) tx(fn func(ctx context.Context, tx store.Tx) error) {
	f.t.Helper()
	if err := f.st.ReadWriteTx(context.Background(), fn); err != nil {
		f.t.Fatalf("transaction: %v", err)
	}
}

// definition is a definition that tells versions apart by the sheet title.
func definition(version string) *contentv1.AppDefinition {
	return &contentv1.AppDefinition{
		Sheets: []*contentv1.Sheet{{
			Id: "overview", Title: "Overview " + version,
			Charts: []*contentv1.Chart{{
				Id: "revenue", Kind: contentv1.Chart_KIND_KPI,
				Measures: []*contentv1.Measure{{Aggregation: contentv1.Measure_AGGREGATION_SUM, Field: "amount"}},
				Position: &contentv1.GridPosition{Width: 6, Height: 4},
			}},
		}},
		LoadScript: "SELECT * FROM $(schema).orders",
	}
}

// version creates version id of the template, declaring a required `schema` and an
// optional `region` defaulting to "eu", and returns its name.
func (f *fixture) version(id string) string {
	f.t.Helper()
	name := store.TemplateVersionName(template, id)
	f.tx(func(ctx context.Context, tx store.Tx) error {
		return tx.CreateTemplateVersion(ctx, template, id, &contentv1.TemplateVersion{
			Name: name, Title: "Sales " + id, Definition: definition(id),
			Variables: []*contentv1.TemplateVariable{
				{Name: "schema", Required: true},
				{Name: "region", DefaultValue: "eu"},
			},
			CreateTime: timestamppb.Now(),
		})
	})
	return name
}

// tenants returns n tenant ids whose order is their index's.
func tenants(n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = fmt.Sprintf("t-%04d", i)
	}
	return out
}

// schemas gives each tenant its required variable.
func schemas(ts []string) map[string]*contentv1.VariableValues {
	out := make(map[string]*contentv1.VariableValues, len(ts))
	for _, t := range ts {
		out["tenants/"+t] = &contentv1.VariableValues{Values: map[string]string{"schema": "s_" + t}}
	}
	return out
}

var rolloutSeq struct {
	sync.Mutex
	n int
}

// rollout creates a rollout of version to ts, with every tenant's schema set, as the API
// would (targets with waves from AssignWaves), after edit changes it; it returns its id.
func (f *fixture) rollout(version string, ts []string, edit func(r *contentv1.Rollout)) string {
	f.t.Helper()
	rolloutSeq.Lock()
	rolloutSeq.n++
	id := fmt.Sprintf("r-%04d", rolloutSeq.n)
	rolloutSeq.Unlock()
	names := make([]string, len(ts))
	for i, t := range ts {
		names[i] = "tenants/" + t
	}
	now := timestamppb.Now()
	r := &contentv1.Rollout{
		Name:            store.RolloutName(id),
		TemplateVersion: version,
		Selector:        &contentv1.TenantSelector{Tenants: names},
		TenantVariables: schemas(ts),
		Creator:         creator,
		CreateTime:      now,
		UpdateTime:      now,
	}
	if edit != nil {
		edit(r)
	}
	waves := rollout.AssignWaves(len(ts), r.GetStrategy().GetWaves())
	targets := make([]*store.Target, len(ts))
	for i, t := range ts {
		targets[i] = &store.Target{Tenant: t, Wave: waves[i], Status: contentv1.RolloutTarget_STATUS_PENDING, App: template}
	}
	f.tx(func(ctx context.Context, tx store.Tx) error { return tx.CreateRollout(ctx, id, r, targets) })
	return id
}

// transition moves a rollout as the API's CancelRollout and RollbackRollout do.
func (f *fixture) transition(id string, from []contentv1.Rollout_State, to contentv1.Rollout_State) {
	f.t.Helper()
	f.tx(func(ctx context.Context, tx store.Tx) error {
		_, err := tx.TransitionRollout(ctx, id, from, to, time.Now().UTC(), nil)
		return err
	})
}

// engine returns an engine on st (the fixture's store when nil) with short intervals.
func (f *fixture) engine(st store.Store, owner string, edit func(o *rollout.Options)) *rollout.Engine {
	if st == nil {
		st = f.st
	}
	o := rollout.Options{
		Store: st,
		Log:   slog.New(slog.NewTextHandler(f.t.Output(), &slog.HandlerOptions{Level: slog.LevelWarn})),
		Owner: owner,
		Lease: 10 * time.Second,
		Poll:  10 * time.Millisecond,
	}
	if edit != nil {
		edit(&o)
	}
	return rollout.New(o)
}

// drain steps e until it finds no work.
func (f *fixture) drain(e *rollout.Engine) {
	f.t.Helper()
	for range 100 {
		found, err := e.Step(context.Background())
		if err != nil {
			f.t.Fatalf("Step: %v", err)
		}
		if !found {
			return
		}
	}
	f.t.Fatal("Step still finds work after 100 steps")
}

// finish steps e until rollout id has ended. A claim skips a rollout whose row another
// transaction holds (a killed worker's, until PostgreSQL notices its connection is gone), so
// finding no work is no proof that there is none.
func (f *fixture) finish(e *rollout.Engine, id string) {
	f.t.Helper()
	deadline := time.Now().Add(time.Minute)
	for f.get(id).GetEndTime() == nil {
		if time.Now().After(deadline) {
			f.t.Fatalf("rollout %s has not ended after a minute: %v", id, f.get(id))
		}
		found, err := e.Step(context.Background())
		if err != nil {
			f.t.Fatalf("Step: %v", err)
		}
		if !found {
			time.Sleep(10 * time.Millisecond)
		}
	}
}

// get reads a rollout.
func (f *fixture) get(id string) *contentv1.Rollout {
	f.t.Helper()
	r, err := f.st.GetRollout(context.Background(), id)
	if err != nil {
		f.t.Fatalf("GetRollout: %v", err)
	}
	return r
}

// targets reads a rollout's targets by tenant.
func (f *fixture) targets(id string) map[string]*store.Target {
	f.t.Helper()
	out := map[string]*store.Target{}
	after := ""
	for {
		ts, err := f.st.ListTargets(context.Background(), id, contentv1.RolloutTarget_STATUS_UNSPECIFIED, store.Page{AfterID: after, Limit: 1000})
		if err != nil {
			f.t.Fatalf("ListTargets: %v", err)
		}
		for _, t := range ts {
			out[t.Tenant] = t
			after = t.Tenant
		}
		if len(ts) < 1000 {
			return out
		}
	}
}

// statuses counts a rollout's targets by status.
func (f *fixture) statuses(id string) map[contentv1.RolloutTarget_Status]int {
	out := map[contentv1.RolloutTarget_Status]int{}
	for _, t := range f.targets(id) {
		out[t.Status]++
	}
	return out
}

// revisions returns a tenant's app's revisions, newest first.
func (f *fixture) revisions(tenant string) []*contentv1.AppRevision {
	f.t.Helper()
	revs, err := f.st.ListAppRevisions(context.Background(), tenant, template, store.Page{Limit: 100})
	if err != nil {
		f.t.Fatalf("ListAppRevisions(%s): %v", tenant, err)
	}
	return revs
}

// app reads a tenant's app.
func (f *fixture) app(tenant string) *contentv1.App {
	f.t.Helper()
	a, err := f.st.GetApp(context.Background(), tenant, template)
	if err != nil {
		f.t.Fatalf("GetApp(%s): %v", tenant, err)
	}
	return a
}

// wantState fails unless the rollout is in state want, with an end time if final.
func (f *fixture) wantState(id string, want contentv1.Rollout_State) *contentv1.Rollout {
	f.t.Helper()
	r := f.get(id)
	if r.GetState() != want {
		f.t.Fatalf("rollout %s is %v, want %v (progress %v)", id, r.GetState(), want, r.GetProgress())
	}
	if r.GetEndTime() == nil {
		f.t.Errorf("rollout %s is %v without an end time", id, want)
	}
	return r
}

// wantDefinition fails unless def is version's definition with the tenant's variables.
func wantDefinition(t testing.TB, tenant, version string, def *contentv1.AppDefinition) {
	t.Helper()
	want := definition(version)
	want.Variables = map[string]string{"schema": "s_" + tenant, "region": "eu"}
	if !proto.Equal(def, want) {
		t.Errorf("tenant %s's definition is %v, want %v", tenant, def, want)
	}
}

// hookStore watches the transactions that deploy to or roll back a tenant (those that
// read a target) and the leases given up.
type hookStore struct {
	store.Store
	// inTarget runs inside the transaction, once it holds the target.
	inTarget func(tenant string)
	// afterTarget runs when the transaction has ended, with the target status it wrote
	// (unspecified for none) and its error.
	afterTarget func(tenant string, wrote contentv1.RolloutTarget_Status, err error)
	// targetErr, if set, may fail reading a target, as a database gone away would.
	targetErr func(tenant string) error
	// createAppErr, if set, may fail creating a tenant's app, as a bug would.
	createAppErr func(tenant string) error
	// keepLease, if set, makes ReleaseLease do nothing: a worker that dies never gives
	// its lease up.
	keepLease bool
}

func (s *hookStore) ReadWriteTx(ctx context.Context, fn func(ctx context.Context, tx store.Tx) error) error {
	htx := &hookTx{s: s}
	err := s.Store.ReadWriteTx(ctx, func(ctx context.Context, tx store.Tx) error {
		htx.Tx = tx
		return fn(ctx, htx)
	})
	if htx.tenant != "" && s.afterTarget != nil {
		s.afterTarget(htx.tenant, htx.wrote, err)
	}
	return err
}

func (s *hookStore) ReleaseLease(ctx context.Context, rollout, owner string) error {
	if s.keepLease {
		return nil
	}
	return s.Store.ReleaseLease(ctx, rollout, owner)
}

type hookTx struct {
	store.Tx
	s      *hookStore
	tenant string
	wrote  contentv1.RolloutTarget_Status
}

func (tx *hookTx) GetTarget(ctx context.Context, rollout, tenant string) (*store.Target, error) {
	if tx.s.targetErr != nil {
		if err := tx.s.targetErr(tenant); err != nil {
			return nil, err
		}
	}
	t, err := tx.Tx.GetTarget(ctx, rollout, tenant)
	tx.tenant = tenant
	if tx.s.inTarget != nil {
		tx.s.inTarget(tenant)
	}
	return t, err
}

func (tx *hookTx) UpdateTarget(ctx context.Context, t *store.Target, now time.Time) error {
	if tx.tenant != "" {
		tx.wrote = t.Status
	}
	return tx.Tx.UpdateTarget(ctx, t, now)
}

func (tx *hookTx) CreateApp(ctx context.Context, tenant, id string, a *contentv1.App, rev store.Revision) error {
	if tx.s.createAppErr != nil {
		if err := tx.s.createAppErr(tenant); err != nil {
			return err
		}
	}
	return tx.Tx.CreateApp(ctx, tenant, id, a, rev)
}
