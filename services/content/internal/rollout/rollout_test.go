package rollout_test

import (
	"context"
	"errors"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"google.golang.org/protobuf/types/known/timestamppb"

	contentv1 "github.com/oriel-dev/oriel/gen/pb/oriel/content/v1"

	"github.com/oriel-dev/oriel/services/content/internal/rollout"
	"github.com/oriel-dev/oriel/services/content/internal/store"
)

const (
	succeeded  = contentv1.RolloutTarget_STATUS_SUCCEEDED
	failed     = contentv1.RolloutTarget_STATUS_FAILED
	skipped    = contentv1.RolloutTarget_STATUS_SKIPPED
	cancelled  = contentv1.RolloutTarget_STATUS_CANCELLED
	rolledBack = contentv1.RolloutTarget_STATUS_ROLLED_BACK
)

func TestAssignWavesSlicesTenantsInTheirOrder(t *testing.T) {
	t.Parallel()
	count := func(n int32) *contentv1.Wave { return &contentv1.Wave{Count: n} }
	percent := func(p int32) *contentv1.Wave { return &contentv1.Wave{Percent: p} }
	for _, c := range []struct {
		name  string
		n     int
		waves []*contentv1.Wave
		want  []int // wave sizes
	}{
		{"no waves put everyone in wave 1", 7, nil, []int{7}},
		{"no tenants", 0, []*contentv1.Wave{count(3)}, nil},
		{"counts take that many and the rest form a final wave", 10, []*contentv1.Wave{count(1), count(3)}, []int{1, 3, 6}},
		{"percents round up", 10, []*contentv1.Wave{percent(1), percent(25)}, []int{1, 3, 6}},
		{"percents are of every tenant, not of those left", 200, []*contentv1.Wave{percent(5), percent(5), percent(50)}, []int{10, 10, 100, 80}},
		{"counts and percents mix", 10, []*contentv1.Wave{count(3), percent(50)}, []int{3, 5, 2}},
		{"waves that cover everyone leave no final wave", 4, []*contentv1.Wave{count(2), percent(50)}, []int{2, 2}},
		{"a wave larger than what is left takes what is left", 5, []*contentv1.Wave{count(3), count(10), count(2)}, []int{3, 2}},
		{"100 percent is one wave", 3, []*contentv1.Wave{percent(100)}, []int{3}},
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			got := rollout.AssignWaves(c.n, c.waves)
			if len(got) != c.n {
				t.Fatalf("AssignWaves returned %d waves, want one per tenant (%d)", len(got), c.n)
			}
			var sizes []int
			for i, w := range got {
				switch {
				case w == len(sizes):
					sizes[w-1]++
				case w == len(sizes)+1:
					sizes = append(sizes, 1)
				default:
					t.Fatalf("tenant %d is in wave %d after wave %d: waves must follow the tenants' order from 1 (%v)", i, w, len(sizes), got)
				}
			}
			if !slices.Equal(sizes, c.want) {
				t.Errorf("wave sizes %v, want %v", sizes, c.want)
			}
		})
	}
}

func TestResolveTakesTheTenantsValueOverTheCommonOneOverTheDefault(t *testing.T) {
	t.Parallel()
	v := &contentv1.TemplateVersion{Variables: []*contentv1.TemplateVariable{
		{Name: "schema", Required: true},
		{Name: "region", DefaultValue: "eu"},
		{Name: "currency", DefaultValue: "EUR", Required: true},
	}}
	for _, c := range []struct {
		name    string
		rollout *contentv1.Rollout
		tenant  string
		want    map[string]string
		missing []string
	}{
		{
			name:    "the tenant's value over the common one over the default",
			rollout: &contentv1.Rollout{Variables: map[string]string{"schema": "common", "region": "us"}, TenantVariables: map[string]*contentv1.VariableValues{"tenants/acme": {Values: map[string]string{"schema": "acme"}}}},
			tenant:  "acme",
			want:    map[string]string{"schema": "acme", "region": "us", "currency": "EUR"},
		},
		{
			name:    "a tenant name works as well as an id",
			rollout: &contentv1.Rollout{TenantVariables: map[string]*contentv1.VariableValues{"tenants/acme": {Values: map[string]string{"schema": "acme"}}}},
			tenant:  "tenants/acme",
			want:    map[string]string{"schema": "acme", "region": "eu", "currency": "EUR"},
		},
		{
			name:    "another tenant's values do not count",
			rollout: &contentv1.Rollout{TenantVariables: map[string]*contentv1.VariableValues{"tenants/other": {Values: map[string]string{"schema": "other"}}}},
			tenant:  "acme",
			missing: []string{"schema"},
		},
		{
			name:    "an empty value of a required variable is missing, even over a default",
			rollout: &contentv1.Rollout{Variables: map[string]string{"schema": "common", "currency": ""}},
			tenant:  "acme",
			missing: []string{"currency"},
		},
		{
			name:    "an empty value of an optional variable is kept",
			rollout: &contentv1.Rollout{Variables: map[string]string{"schema": "s", "region": ""}},
			tenant:  "acme",
			want:    map[string]string{"schema": "s", "region": "", "currency": "EUR"},
		},
		{
			name:    "every missing variable is named",
			rollout: &contentv1.Rollout{Variables: map[string]string{"currency": ""}},
			tenant:  "acme",
			missing: []string{"schema", "currency"},
		},
		{
			name:    "undeclared variables are left out",
			rollout: &contentv1.Rollout{Variables: map[string]string{"schema": "s", "unknown": "x"}},
			tenant:  "acme",
			want:    map[string]string{"schema": "s", "region": "eu", "currency": "EUR"},
		},
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			got, err := rollout.Resolve(v, c.rollout, c.tenant)
			if c.missing != nil {
				var mv *rollout.MissingVariableError
				if !errors.As(err, &mv) || !slices.Equal(mv.Names, c.missing) {
					t.Fatalf("Resolve = %v, %v; want a MissingVariableError naming %v", got, err, c.missing)
				}
				for _, n := range c.missing {
					if !strings.Contains(err.Error(), `"`+n+`"`) {
						t.Errorf("error %q does not name %s", err, n)
					}
				}
				return
			}
			if err != nil {
				t.Fatalf("Resolve: %v", err)
			}
			if !maps(got, c.want) {
				t.Errorf("Resolve = %v, want %v", got, c.want)
			}
		})
	}
}

func maps(a, b map[string]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if w, ok := b[k]; !ok || w != v {
			return false
		}
	}
	return true
}

// The test: 5 % of 200 tenants lack a required variable.
func TestRolloutTo200TenantsFailsExactlyThoseMissingARequiredVariable(t *testing.T) {
	t.Parallel()
	onEveryDatabase(t, func(t *testing.T, f *fixture) {
		v1 := f.version("v1")
		ts := tenants(200)
		bad := map[string]bool{}
		id := f.rollout(v1, ts, func(r *contentv1.Rollout) {
			// Every 20th tenant, spread out so that the ratio never passes 0.1 early.
			for i := 19; i < len(ts); i += 20 {
				bad[ts[i]] = true
				delete(r.TenantVariables, "tenants/"+ts[i])
			}
			r.Strategy = &contentv1.Strategy{MaxFailureRatio: 0.1}
		})
		f.drain(f.engine(nil, "w1", nil))

		r := f.wantState(id, contentv1.Rollout_STATE_COMPLETED)
		if p := r.GetProgress(); p.GetSucceeded() != 190 || p.GetFailed() != 10 || p.GetTotal() != 200 {
			t.Errorf("progress %v, want 190 succeeded and 10 failed of 200", p)
		}
		for tenant, target := range f.targets(id) {
			if bad[tenant] {
				if target.Status != failed || !strings.Contains(target.Reason, `"schema"`) {
					t.Errorf("tenant %s without its schema: %v %q, want FAILED naming the variable", tenant, target.Status, target.Reason)
				}
				if _, err := f.st.GetApp(context.Background(), tenant, template); !errors.Is(err, store.ErrNotFound) {
					t.Errorf("tenant %s failed but GetApp = %v, want no app", tenant, err)
				}
				continue
			}
			if target.Status != succeeded || target.AppliedRevision != 1 || target.PreviousRevision != 0 {
				t.Errorf("tenant %s: %v %q (previous %d, applied %d), want SUCCEEDED creating revision 1",
					tenant, target.Status, target.Reason, target.PreviousRevision, target.AppliedRevision)
			}
		}
		a := f.app(ts[0])
		wantDefinition(t, ts[0], "v1", a.GetDefinition())
		if a.GetTitle() != "Sales v1" || a.GetTemplateVersion() != v1 || a.GetOwner() != creator ||
			a.GetSpace() != "tenants/"+ts[0]+"/spaces/templates" || a.GetState() != contentv1.App_STATE_ACTIVE {
			t.Errorf("deployed app %v", a)
		}
		space, err := f.st.GetSpace(context.Background(), ts[0], "templates")
		if err != nil || space.GetType() != contentv1.Space_TYPE_MANAGED || space.GetDisplayName() != "Templates" {
			t.Errorf("target space %v, %v; want a MANAGED space named Templates", space, err)
		}
	})
}

// wantAppliedOnce fails unless every tenant's app has exactly one revision, made by a
// rollout, and every target SUCCEEDED.
func wantAppliedOnce(t *testing.T, f *fixture, id string, ts []string) {
	t.Helper()
	targets := f.targets(id)
	for _, tenant := range ts {
		revs := f.revisions(tenant)
		if len(revs) != 1 || revs[0].GetSource() != contentv1.AppRevision_SOURCE_ROLLOUT {
			t.Errorf("tenant %s has %d revisions, want exactly 1 made by the rollout", tenant, len(revs))
		}
		if s := targets[tenant].Status; s != succeeded {
			t.Errorf("tenant %s: %v, want SUCCEEDED", tenant, s)
		}
	}
}

func TestKilledRolloutResumesAndAppliesEveryTenantExactlyOnce(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		name string
		// dropped: the first worker dies without giving its lease up, so the second
		// waits for it to expire (a clock an hour ahead).
		dropped bool
	}{
		{"worker stopped", false},
		{"worker dropped without releasing its lease", true},
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			onEveryDatabase(t, func(t *testing.T, f *fixture) {
				ts := tenants(90)
				id := f.rollout(f.version("v1"), ts, func(r *contentv1.Rollout) {
					r.Strategy = &contentv1.Strategy{MaxParallel: 5}
				})

				ctx, kill := context.WithCancel(context.Background())
				var deployed atomic.Int32
				first := &hookStore{Store: f.st, keepLease: c.dropped,
					afterTarget: func(_ string, wrote contentv1.RolloutTarget_Status, err error) {
						if err == nil && wrote == succeeded && deployed.Add(1) == int32(len(ts)/3) {
							kill()
						}
					}}
				done := make(chan error)
				go func() { done <- f.engine(first, "first", nil).Run(ctx) }()
				if err := <-done; err != nil {
					t.Fatalf("Run: %v", err)
				}
				p := f.get(id).GetProgress()
				if p.GetSucceeded() < int32(len(ts)/3) || p.GetSucceeded() == int32(len(ts)) {
					t.Fatalf("after the kill: %v; want a third or more, but not all, deployed", p)
				}
				t.Logf("killed with %v", p)

				second := f.engine(nil, "second", func(o *rollout.Options) {
					if c.dropped {
						o.Now = func() time.Time { return time.Now().Add(time.Hour) }
					}
				})
				f.finish(second, id)
				f.wantState(id, contentv1.Rollout_STATE_COMPLETED)
				wantAppliedOnce(t, f, id, ts)
			})
		})
	}
}

// Two engines on one rollout means two processes, which only PostgreSQL serves: on SQLite
// their ten-odd writers wait on one write lock long enough to see SQLITE_BUSY.
func TestTwoEnginesOnOneRolloutNeverApplyATenantTwice(t *testing.T) {
	t.Parallel()
	onPostgres(t, func(t *testing.T, f *fixture) {
		ts := tenants(120)
		id := f.rollout(f.version("v1"), ts, func(r *contentv1.Rollout) {
			r.Strategy = &contentv1.Strategy{MaxParallel: 4}
		})
		var (
			wrote    [2]atomic.Int32
			aDeploys = make(chan struct{}) // closed once a has deployed 10 tenants
			bDeploys = make(chan struct{}) // closed once b has deployed 5
			signal   [2]sync.Once
		)
		hooks := func(i int) *hookStore {
			return &hookStore{Store: f.st,
				// Slow deploys keep the two engines overlapping.
				inTarget: func(string) { time.Sleep(time.Millisecond) },
				afterTarget: func(_ string, s contentv1.RolloutTarget_Status, err error) {
					if err != nil || s != succeeded {
						return
					}
					n := wrote[i].Add(1)
					switch {
					case i == 0 && n >= 10:
						signal[0].Do(func() { close(aDeploys) })
						// a waits (outside any transaction) for b to deploy too, so
						// that both surely drive the rollout at once.
						select {
						case <-bDeploys:
						case <-time.After(10 * time.Second):
						}
					case i == 1 && n >= 5:
						signal[1].Do(func() { close(bDeploys) })
					}
				}}
		}
		// The second engine's clock is an hour ahead, so the first one's lease looks
		// expired to it; the first renews only after 20 s, so it never notices it lost
		// the lease and both drive the rollout to the end.
		a := f.engine(hooks(0), "a", func(o *rollout.Options) { o.Lease = time.Minute })
		b := f.engine(hooks(1), "b", func(o *rollout.Options) {
			o.Lease = time.Minute
			o.Now = func() time.Time { return time.Now().Add(time.Hour) }
		})
		var wg sync.WaitGroup
		var foundA, foundB bool
		var errA, errB error
		wg.Go(func() { foundA, errA = a.Step(context.Background()) })
		<-aDeploys
		wg.Go(func() {
			// A claim skips a rollout whose row another transaction holds, as a's picking
			// does now and then: try again until b gets it.
			for !foundB && errB == nil && f.get(id).GetEndTime() == nil {
				foundB, errB = b.Step(context.Background())
			}
		})
		wg.Wait()
		if errA != nil || errB != nil || !foundA || !foundB {
			t.Fatalf("Step: a = %v, %v; b = %v, %v; want both to drive the rollout", foundA, errA, foundB, errB)
		}
		t.Logf("a deployed %d tenants, b %d", wrote[0].Load(), wrote[1].Load())
		if wrote[0].Load() < 10 || wrote[1].Load() < 5 {
			t.Errorf("a deployed %d tenants and b %d: the engines did not overlap", wrote[0].Load(), wrote[1].Load())
		}
		if n := wrote[0].Load() + wrote[1].Load(); n != int32(len(ts)) {
			t.Errorf("the engines committed %d deployments for %d tenants", n, len(ts))
		}
		f.wantState(id, contentv1.Rollout_STATE_COMPLETED)
		wantAppliedOnce(t, f, id, ts)
	})
}

// Leases are about workers in several processes, which only PostgreSQL serves. (On SQLite
// a busy worker's transactions starve its own renewal, and the other claimer, of the one
// write lock; `oriel dev` runs one worker.)
func TestLeaseIsRenewedWhileARolloutOutlastsIt(t *testing.T) {
	t.Parallel()
	onPostgres(t, func(t *testing.T, f *fixture) {
		id := f.rollout(f.version("v1"), tenants(80), func(r *contentv1.Rollout) {
			r.Strategy = &contentv1.Strategy{MaxParallel: 1}
		})
		// 80 deploys of 15 ms or more outlast a 600 ms lease twice over.
		hooks := &hookStore{Store: f.st, inTarget: func(string) { time.Sleep(15 * time.Millisecond) }}
		e := f.engine(hooks, "w", func(o *rollout.Options) { o.Lease = 600 * time.Millisecond })
		var claimed atomic.Bool
		stop := make(chan struct{})
		var wg sync.WaitGroup
		wg.Go(func() { // another worker, trying to take the rollout all along
			for {
				select {
				case <-stop:
					return
				case <-time.After(20 * time.Millisecond):
				}
				now := time.Now()
				if _, err := f.st.ClaimRollout(context.Background(), "thief", now, now.Add(time.Hour)); err == nil {
					claimed.Store(true)
				}
			}
		})
		f.drain(e)
		close(stop)
		wg.Wait()
		if claimed.Load() {
			t.Error("another worker claimed the rollout: its lease was not renewed")
		}
		f.wantState(id, contentv1.Rollout_STATE_COMPLETED)
	})
}

// PostgreSQL only, as TestLeaseIsRenewedWhileARolloutOutlastsIt.
func TestWorkerThatLosesItsLeaseStopsAtOnce(t *testing.T) {
	t.Parallel()
	onPostgres(t, func(t *testing.T, f *fixture) {
		ts := tenants(60)
		id := f.rollout(f.version("v1"), ts, func(r *contentv1.Rollout) {
			r.Strategy = &contentv1.Strategy{MaxParallel: 1}
		})
		var deployed atomic.Int32
		hooks := &hookStore{Store: f.st,
			inTarget: func(string) { time.Sleep(10 * time.Millisecond) },
			afterTarget: func(_ string, s contentv1.RolloutTarget_Status, err error) {
				if err == nil && s == succeeded && deployed.Add(1) == 5 {
					// Another worker takes the rollout, as if this one's lease had run
					// out: its clock is an hour ahead.
					// The claim skips the rollout while a renewal holds its row: retry.
					later := time.Now().Add(time.Hour)
					for i := 0; ; i++ {
						_, err := f.st.ClaimRollout(context.Background(), "thief", later, later.Add(time.Hour))
						if err == nil {
							break
						}
						if i == 100 {
							t.Errorf("ClaimRollout: %v", err)
							break
						}
						time.Sleep(time.Millisecond)
					}
				}
			}}
		e := f.engine(hooks, "w", func(o *rollout.Options) { o.Lease = 300 * time.Millisecond })
		found, err := e.Step(context.Background())
		if !found || err != nil {
			t.Fatalf("Step = %v, %v; want work found and no error when the lease is lost", found, err)
		}
		p := f.get(id).GetProgress()
		if p.GetPending() == 0 {
			t.Fatalf("the worker went on after losing its lease: %v", p)
		}
		t.Logf("stopped with %v", p)

		if err := f.st.ReleaseLease(context.Background(), id, "thief"); err != nil {
			t.Fatalf("ReleaseLease: %v", err)
		}
		f.finish(f.engine(nil, "next", nil), id)
		f.wantState(id, contentv1.Rollout_STATE_COMPLETED)
		wantAppliedOnce(t, f, id, ts)
	})
}

func TestStoreOutageLeavesTargetsForALaterTry(t *testing.T) {
	t.Parallel()
	onEveryDatabase(t, func(t *testing.T, f *fixture) {
		ts := tenants(20)
		id := f.rollout(f.version("v1"), ts, func(r *contentv1.Rollout) {
			r.Strategy = &contentv1.Strategy{MaxParallel: 2}
		})
		var deployed atomic.Int32
		var down atomic.Bool
		hooks := &hookStore{Store: f.st,
			targetErr: func(string) error {
				if down.Load() {
					return errors.New("dial tcp 10.0.0.5:5432: connect: connection refused")
				}
				return nil
			},
			afterTarget: func(_ string, s contentv1.RolloutTarget_Status, err error) {
				if err == nil && s == succeeded && deployed.Add(1) == 5 {
					down.Store(true)
				}
			}}
		e := f.engine(hooks, "w", nil)
		if _, err := e.Step(context.Background()); err == nil || !strings.Contains(err.Error(), "connection refused") {
			t.Fatalf("Step during the outage = %v, want the outage's error", err)
		}
		if got := f.statuses(id); got[failed] != 0 || got[succeeded] < 5 {
			t.Fatalf("after the outage: %v; want no tenant FAILED for it", got)
		}
		down.Store(false)
		f.drain(e)
		f.wantState(id, contentv1.Rollout_STATE_COMPLETED)
		wantAppliedOnce(t, f, id, ts)
	})
}

func TestUnexpectedErrorFailsOnlyItsTenant(t *testing.T) {
	t.Parallel()
	onEveryDatabase(t, func(t *testing.T, f *fixture) {
		ts := tenants(6)
		id := f.rollout(f.version("v1"), ts, nil)
		hooks := &hookStore{Store: f.st, createAppErr: func(tenant string) error {
			if tenant == ts[2] {
				return errors.New(`ERROR: value too long for type character varying(63) (SQLSTATE 22001)`)
			}
			return nil
		}}
		f.drain(f.engine(hooks, "w", nil))
		f.wantState(id, contentv1.Rollout_STATE_COMPLETED)
		for tenant, target := range f.targets(id) {
			switch {
			case tenant == ts[2]:
				if target.Status != failed || !strings.Contains(target.Reason, "internal error") || strings.Contains(target.Reason, "SQLSTATE") {
					t.Errorf("tenant %s: %v %q, want FAILED as an internal error, without the driver's words", tenant, target.Status, target.Reason)
				}
			case target.Status != succeeded:
				t.Errorf("tenant %s: %v %q, want SUCCEEDED", tenant, target.Status, target.Reason)
			}
		}
	})
}

func TestRollbackRestoresThePreviousDefinitions(t *testing.T) {
	t.Parallel()
	onEveryDatabase(t, func(t *testing.T, f *fixture) {
		v1, v2 := f.version("v1"), f.version("v2")
		ts := tenants(6)
		older, fresh := ts[:3], ts[3:]
		e := f.engine(nil, "w", nil)
		f.rollout(v1, older, nil)
		f.drain(e)
		id := f.rollout(v2, ts, nil)
		f.drain(e)
		f.wantState(id, contentv1.Rollout_STATE_COMPLETED)

		before := time.Now()
		f.transition(id, []contentv1.Rollout_State{contentv1.Rollout_STATE_COMPLETED}, contentv1.Rollout_STATE_ROLLING_BACK)
		f.drain(e)

		r := f.wantState(id, contentv1.Rollout_STATE_ROLLED_BACK)
		if p := r.GetProgress(); p.GetRolledBack() != 6 {
			t.Errorf("progress %v, want 6 rolled back", p)
		}
		for tenant, target := range f.targets(id) {
			if target.Status != rolledBack {
				t.Errorf("tenant %s: %v %q, want ROLLED_BACK", tenant, target.Status, target.Reason)
			}
		}
		for _, tenant := range older {
			a, revs := f.app(tenant), f.revisions(tenant)
			if len(revs) != 3 || revs[0].GetSource() != contentv1.AppRevision_SOURCE_ROLLBACK {
				t.Errorf("tenant %s has %d revisions, the latest %v; want v1, v2 and a ROLLBACK", tenant, len(revs), revs[0].GetSource())
			}
			wantDefinition(t, tenant, "v1", a.GetDefinition())
			if a.GetTitle() != "Sales v1" || a.GetTemplateVersion() != v1 || a.GetState() != contentv1.App_STATE_ACTIVE {
				t.Errorf("tenant %s's app after rollback: %q at %q, %v; want Sales v1 at %s, active", tenant, a.GetTitle(), a.GetTemplateVersion(), a.GetState(), v1)
			}
		}
		for _, tenant := range fresh {
			a := f.app(tenant)
			purge := a.GetPurgeTime().AsTime()
			if a.GetState() != contentv1.App_STATE_DELETED || purge.Before(before.Add(rollout.DeletedAppRetention-time.Minute)) {
				t.Errorf("tenant %s's app, which the rollout created: %v purged at %v; want DELETED for 14 days", tenant, a.GetState(), purge)
			}
		}
	})
}

func TestRolloutRestoresADeletedAppAndItsRollbackDeletesItAgain(t *testing.T) {
	t.Parallel()
	onEveryDatabase(t, func(t *testing.T, f *fixture) {
		v1 := f.version("v1")
		ts := tenants(1)
		e := f.engine(nil, "w", nil)
		f.rollout(v1, ts, nil)
		f.drain(e)
		f.tx(func(ctx context.Context, tx store.Tx) error { // the tenant deletes it
			a, err := tx.GetApp(ctx, ts[0], template)
			if err != nil {
				return err
			}
			purge := time.Now().Add(time.Hour)
			_, err = tx.SetAppState(ctx, ts[0], template, a.GetEtag(), contentv1.App_STATE_DELETED, &purge, time.Now())
			return err
		})
		id := f.rollout(v1, ts, nil)
		f.drain(e)
		if s := f.targets(id)[ts[0]].Status; s != succeeded || f.app(ts[0]).GetState() != contentv1.App_STATE_ACTIVE {
			t.Fatalf("re-rollout to a deleted app: %v, app %v; want SUCCEEDED and the app active again", s, f.app(ts[0]).GetState())
		}
		f.transition(id, []contentv1.Rollout_State{contentv1.Rollout_STATE_COMPLETED}, contentv1.Rollout_STATE_ROLLING_BACK)
		f.drain(e)
		f.wantState(id, contentv1.Rollout_STATE_ROLLED_BACK)
		if a := f.app(ts[0]); a.GetState() != contentv1.App_STATE_DELETED {
			t.Errorf("after rollback the app is %v, want DELETED as it was", a.GetState())
		}
	})
}

func TestRolloutHaltsWhenTheFailureRatioPassesTheLimit(t *testing.T) {
	t.Parallel()
	onEveryDatabase(t, func(t *testing.T, f *fixture) {
		ts := tenants(20)
		id := f.rollout(f.version("v1"), ts, func(r *contentv1.Rollout) {
			for _, tenant := range ts[:8] {
				delete(r.TenantVariables, "tenants/"+tenant)
			}
			r.Strategy = &contentv1.Strategy{MaxParallel: 1, MaxFailureRatio: 0.5}
		})
		f.drain(f.engine(nil, "w", nil))

		f.wantState(id, contentv1.Rollout_STATE_HALTED)
		// The ratio is checked from the fifth tenant on: 5 of 5 failed.
		got := f.statuses(id)
		if got[failed] != 5 || got[cancelled] != 15 || len(got) != 2 {
			t.Errorf("targets %v, want 5 FAILED and the 15 pending CANCELLED", got)
		}
	})
}

func TestCancelledRolloutCancelsItsPendingTargets(t *testing.T) {
	t.Parallel()
	onEveryDatabase(t, func(t *testing.T, f *fixture) {
		t.Run("before it starts", func(t *testing.T) {
			ts := tenants(10)
			id := f.rollout(f.version("v1"), ts, nil)
			f.transition(id, []contentv1.Rollout_State{contentv1.Rollout_STATE_PENDING}, contentv1.Rollout_STATE_CANCELLING)
			f.drain(f.engine(nil, "w", nil))
			f.wantState(id, contentv1.Rollout_STATE_CANCELLED)
			if got := f.statuses(id); got[cancelled] != 10 {
				t.Errorf("targets %v, want all 10 CANCELLED", got)
			}
			if _, err := f.st.GetApp(context.Background(), ts[0], template); !errors.Is(err, store.ErrNotFound) {
				t.Errorf("GetApp = %v, want no app deployed", err)
			}
		})
		t.Run("while it runs", func(t *testing.T) {
			ts := tenants(10)
			id := f.rollout(f.version("v2"), ts, func(r *contentv1.Rollout) {
				r.Strategy = &contentv1.Strategy{MaxParallel: 1}
			})
			var n int
			hooks := &hookStore{Store: f.st, afterTarget: func(_ string, s contentv1.RolloutTarget_Status, err error) {
				if err == nil && s == succeeded {
					if n++; n == 3 {
						f.transition(id, []contentv1.Rollout_State{contentv1.Rollout_STATE_RUNNING}, contentv1.Rollout_STATE_CANCELLING)
					}
				}
			}}
			f.drain(f.engine(hooks, "w", nil))
			f.wantState(id, contentv1.Rollout_STATE_CANCELLED)
			if got := f.statuses(id); got[succeeded] != 3 || got[cancelled] != 7 {
				t.Errorf("targets %v, want the 3 deployed before the cancel SUCCEEDED and 7 CANCELLED", got)
			}
		})
	})
}

func TestLaterWaveStartsOnlyWhenTheEarlierIsDone(t *testing.T) {
	t.Parallel()
	onEveryDatabase(t, func(t *testing.T, f *fixture) {
		ts := tenants(10)
		id := f.rollout(f.version("v1"), ts, func(r *contentv1.Rollout) {
			r.Strategy = &contentv1.Strategy{MaxParallel: 10, Waves: []*contentv1.Wave{{Count: 3}, {Percent: 50}}}
		})
		waves := map[string]int{}
		for tenant, target := range f.targets(id) {
			waves[tenant] = target.Wave
		}
		var (
			mu    sync.Mutex
			seq   int
			start = map[int]int{} // wave → first deploy's start
			end   = map[int]int{} // wave → last deploy's end
		)
		hooks := &hookStore{Store: f.st,
			inTarget: func(tenant string) {
				mu.Lock()
				seq++
				if s, ok := start[waves[tenant]]; !ok || seq < s {
					start[waves[tenant]] = seq
				}
				mu.Unlock()
				time.Sleep(5 * time.Millisecond) // time for a wrongly started wave to show
			},
			afterTarget: func(tenant string, _ contentv1.RolloutTarget_Status, _ error) {
				mu.Lock()
				seq++
				end[waves[tenant]] = seq
				mu.Unlock()
			}}
		f.drain(f.engine(hooks, "w", nil))
		f.wantState(id, contentv1.Rollout_STATE_COMPLETED)
		if len(start) != 3 {
			t.Fatalf("deploys ran in waves %v, want 3 waves (3, 5 and 2 tenants)", start)
		}
		for w := 2; w <= 3; w++ {
			if start[w] < end[w-1] {
				t.Errorf("wave %d started (step %d) before wave %d was done (step %d)", w, start[w], w-1, end[w-1])
			}
		}
	})
}

func TestRerunOfADeployedVersionSkipsEveryTenant(t *testing.T) {
	t.Parallel()
	onEveryDatabase(t, func(t *testing.T, f *fixture) {
		v1 := f.version("v1")
		ts := tenants(5)
		e := f.engine(nil, "w", nil)
		f.rollout(v1, ts, nil)
		f.drain(e)

		t.Run("unchanged apps are already at the version", func(t *testing.T) {
			id := f.rollout(v1, ts, nil)
			f.drain(e)
			f.wantState(id, contentv1.Rollout_STATE_COMPLETED)
			for tenant, target := range f.targets(id) {
				if target.Status != skipped || target.Reason != "already at "+v1 {
					t.Errorf("tenant %s: %v %q, want SKIPPED already at %s", tenant, target.Status, target.Reason, v1)
				}
				if n := len(f.revisions(tenant)); n != 1 {
					t.Errorf("tenant %s has %d revisions, want 1", tenant, n)
				}
			}
		})

		edited := ts[0]
		f.tx(func(ctx context.Context, tx store.Tx) error { // a local edit
			a, err := tx.GetApp(ctx, edited, template)
			if err != nil {
				return err
			}
			a.Title = "Our sales"
			return tx.SaveApp(ctx, edited, template, "", a, store.Revision{
				Source: contentv1.AppRevision_SOURCE_SAVE, Author: "tenants/" + edited + "/users/ann",
				TemplateVersion: a.GetTemplateVersion(), Time: time.Now().UTC(),
			})
		})
		t.Run("an edited app is drift", func(t *testing.T) {
			id := f.rollout(v1, ts, nil)
			f.drain(e)
			target := f.targets(id)[edited]
			if target.Status != skipped || !strings.Contains(target.Reason, "edited since deployed") {
				t.Errorf("edited tenant: %v %q, want SKIPPED as edited since deployed", target.Status, target.Reason)
			}
			if got := f.app(edited).GetTitle(); got != "Our sales" {
				t.Errorf("the edit was overwritten: title %q", got)
			}
		})
		t.Run("drift at an older version is kept too", func(t *testing.T) {
			id := f.rollout(f.version("v2"), ts[:1], nil)
			f.drain(e)
			if target := f.targets(id)[edited]; target.Status != skipped || !strings.Contains(target.Reason, "overwrite_drift") {
				t.Errorf("edited tenant, new version: %v %q, want SKIPPED as drift", target.Status, target.Reason)
			}
		})
		t.Run("overwrite_drift replaces the edit", func(t *testing.T) {
			id := f.rollout(v1, ts, func(r *contentv1.Rollout) { r.OverwriteDrift = true })
			f.drain(e)
			got := f.targets(id)
			if target := got[edited]; target.Status != succeeded || target.PreviousRevision != 2 || target.AppliedRevision != 3 {
				t.Errorf("edited tenant: %v %q (previous %d, applied %d), want SUCCEEDED replacing revision 2 with 3",
					target.Status, target.Reason, target.PreviousRevision, target.AppliedRevision)
			}
			if a := f.app(edited); a.GetTitle() != "Sales v1" {
				t.Errorf("title %q after overwrite, want Sales v1", a.GetTitle())
			}
			for _, tenant := range ts[1:] {
				if got[tenant].Status != skipped {
					t.Errorf("tenant %s: %v, want SKIPPED", tenant, got[tenant].Status)
				}
			}
		})
	})
}

func TestAppNoRolloutMadeIsLeftAloneUnlessOverwriteDrift(t *testing.T) {
	t.Parallel()
	onEveryDatabase(t, func(t *testing.T, f *fixture) {
		v1 := f.version("v1")
		ts := tenants(1)
		f.tx(func(ctx context.Context, tx store.Tx) error { // the tenant's own app, same id
			now := time.Now().UTC()
			if err := tx.CreateSpace(ctx, ts[0], "mine", &contentv1.Space{
				Name: store.SpaceName(ts[0], "mine"), DisplayName: "Mine", Type: contentv1.Space_TYPE_SHARED,
				CreateTime: timestamppb.New(now), UpdateTime: timestamppb.New(now),
			}); err != nil {
				return err
			}
			return tx.CreateApp(ctx, ts[0], template, &contentv1.App{
				Name: store.AppName(ts[0], template), Title: "Mine", Space: store.SpaceName(ts[0], "mine"),
				State: contentv1.App_STATE_ACTIVE, Definition: &contentv1.AppDefinition{},
				CreateTime: timestamppb.New(now), UpdateTime: timestamppb.New(now),
			}, store.Revision{Source: contentv1.AppRevision_SOURCE_SAVE, Author: "tenants/" + ts[0] + "/users/ann", Time: now})
		})
		e := f.engine(nil, "w", nil)
		id := f.rollout(v1, ts, nil)
		f.drain(e)
		if target := f.targets(id)[ts[0]]; target.Status != skipped || !strings.Contains(target.Reason, "overwrite_drift") {
			t.Errorf("tenant's own app: %v %q, want SKIPPED", target.Status, target.Reason)
		}
		id = f.rollout(v1, ts, func(r *contentv1.Rollout) { r.OverwriteDrift = true })
		f.drain(e)
		if target := f.targets(id)[ts[0]]; target.Status != succeeded || target.PreviousRevision != 1 {
			t.Errorf("with overwrite_drift: %v %q, want SUCCEEDED over revision 1", target.Status, target.Reason)
		}
	})
}

func TestAtMostMaxParallelTenantsAreAppliedAtOnce(t *testing.T) {
	t.Parallel()
	onPostgres(t, func(t *testing.T, f *fixture) {
		const maxParallel = 3
		id := f.rollout(f.version("v1"), tenants(40), func(r *contentv1.Rollout) {
			r.Strategy = &contentv1.Strategy{MaxParallel: maxParallel}
		})
		var now, most atomic.Int32
		hooks := &hookStore{Store: f.st,
			inTarget: func(string) {
				n := now.Add(1)
				for m := most.Load(); n > m && !most.CompareAndSwap(m, n); m = most.Load() {
				}
				time.Sleep(5 * time.Millisecond)
			},
			afterTarget: func(string, contentv1.RolloutTarget_Status, error) { now.Add(-1) },
		}
		f.drain(f.engine(hooks, "w", nil))
		f.wantState(id, contentv1.Rollout_STATE_COMPLETED)
		if m := most.Load(); m > maxParallel || m < 2 {
			t.Errorf("at most %d tenants deployed at once, want 2 to %d", m, maxParallel)
		}
	})
}

func TestProgressCountsTargetsBeingApplied(t *testing.T) {
	t.Parallel()
	onPostgres(t, func(t *testing.T, f *fixture) {
		id := f.rollout(f.version("v1"), tenants(4), func(r *contentv1.Rollout) {
			r.Strategy = &contentv1.Strategy{MaxParallel: 2}
		})
		var applying atomic.Int32
		hooks := &hookStore{Store: f.st, inTarget: func(string) {
			if r, err := f.st.GetRollout(context.Background(), id); err == nil {
				for { // a CAS max: the deploys run side by side
					m := applying.Load()
					if r.GetProgress().GetApplying() <= m || applying.CompareAndSwap(m, r.GetProgress().GetApplying()) {
						break
					}
				}
			}
		}}
		f.drain(f.engine(hooks, "w", nil))
		if got := applying.Load(); got < 1 || got > 2 {
			t.Errorf("progress showed %d applying while deploying, want 1 or 2", got)
		}
	})
}

func TestRunStopsWhenItsContextEnds(t *testing.T) {
	t.Parallel()
	onPostgres(t, func(t *testing.T, f *fixture) {
		ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
		defer cancel()
		if err := f.engine(nil, "w", nil).Run(ctx); err != nil {
			t.Errorf("Run = %v, want nil when its context ends", err)
		}
	})
}
