package storetest

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"

	contentv1 "github.com/oriel-dev/oriel/gen/pb/oriel/content/v1"
	"github.com/oriel-dev/oriel/platform/testkit"
	"github.com/oriel-dev/oriel/services/content/internal/store"
)

var rolloutBehaviours = []behaviour{
	{"a created rollout reads back with its whole spec, PENDING, with its progress", rolloutRoundTrips},
	{"a taken rollout id is already taken and its targets stay as they were", rolloutIDTaken},
	{"progress counts a rollout's targets by status", progressCountsByStatus},
	{"rollouts list newest first", rolloutsNewestFirst},
	{"a transition happens only from the states given and sets the times", transitionIsConditional},
}

var targetBehaviours = []behaviour{
	{"targets list by tenant, all or of one status", targetsListByTenant},
	{"next targets come in wave and tenant order, of one status, up to the limit", nextTargetsInOrder},
	{"updating a target writes its status, reason, revisions and time", updateTargetWrites},
	{"setting targets' status moves only those of the status from", setTargetsStatusMovesSome},
	{"concurrent workers process every target exactly once", concurrentWorkersProcessEachTargetOnce},
}

// leaseBehaviours claim "the oldest claimable rollout of the store", so each needs a store
// of its own: in a shared store they would claim each other's rollouts.
var leaseBehaviours = []behaviour{
	{"claims take the oldest rollout that needs a worker and whose lease is free or expired", claimTakesOldest},
	{"only the owner renews or releases a lease", leaseOnlyByOwner},
	{"of concurrent claimers exactly one gets the rollout", concurrentClaimsOneLease},
}

// newRolloutID returns a rollout id no other behaviour uses.
func newRolloutID() string { return testkit.UniqueID("rollout") }

// newRollout returns a rollout of version with every field the caller sets.
func newRollout(id, version string, tenants []string) *contentv1.Rollout {
	selector := &contentv1.TenantSelector{}
	for _, tn := range tenants {
		selector.Tenants = append(selector.Tenants, store.TenantName(tn))
	}
	r := &contentv1.Rollout{
		Name:            store.RolloutName(id),
		TemplateVersion: version,
		Selector:        selector,
		Variables:       map[string]string{"schema": "analytics", "vSince": ""},
		TenantVariables: map[string]*contentv1.VariableValues{},
		SpaceId:         "templates",
		AppId:           "sales",
		OverwriteDrift:  true,
		Strategy: &contentv1.Strategy{
			MaxParallel:     25,
			Waves:           []*contentv1.Wave{{Count: 1}, {Percent: 50}},
			MaxFailureRatio: 0.05,
		},
		Creator:    "serviceAccounts/isv-backend",
		CreateTime: ts(epoch),
		UpdateTime: ts(epoch),
	}
	for i, tn := range tenants {
		if i%2 == 0 {
			r.TenantVariables[store.TenantName(tn)] = &contentv1.VariableValues{Values: map[string]string{"schema": "s_" + tn}}
		}
	}
	return r
}

// newTargets returns a pending target per tenant, in waves of two.
func newTargets(tenants []string) []*store.Target {
	out := make([]*store.Target, len(tenants))
	for i, tn := range tenants {
		out[i] = &store.Target{Tenant: tn, Wave: i/2 + 1, App: "sales", PreviousRevision: int64(i % 3)}
	}
	return out
}

// mustCreateRollout creates a rollout and its targets in their own transaction.
func mustCreateRollout(t *testing.T, s store.Store, id string, r *contentv1.Rollout, targets []*store.Target) {
	t.Helper()
	mustTx(t, s, "CreateRollout "+id, func(ctx context.Context, tx store.Tx) error {
		return tx.CreateRollout(ctx, id, r, targets)
	})
}

// mustCreatePlainRollout creates a rollout of a made-up version to tenants.
func mustCreatePlainRollout(t *testing.T, s store.Store, id string, tenants ...string) *contentv1.Rollout {
	t.Helper()
	r := newRollout(id, store.TemplateVersionName("tpl", "v1"), tenants)
	mustCreateRollout(t, s, id, r, newTargets(tenants))
	return r
}

// mustGetRollout reads a rollout.
func mustGetRollout(t *testing.T, s store.Store, id string) *contentv1.Rollout {
	t.Helper()
	r, err := s.GetRollout(t.Context(), id)
	testkit.RequireNoError(t, "GetRollout "+id, err)
	return r
}

// transition moves a rollout in its own transaction.
func transition(t *testing.T, s store.Store, id string, from []contentv1.Rollout_State, to contentv1.Rollout_State, now time.Time, end *time.Time) (*contentv1.Rollout, error) {
	t.Helper()
	var r *contentv1.Rollout
	err := inTx(t, s, func(ctx context.Context, tx store.Tx) error {
		var err error
		r, err = tx.TransitionRollout(ctx, id, from, to, now, end)
		return err
	})
	return r, err
}

// mustListTargets lists every target of a rollout with status.
func mustListTargets(t *testing.T, s store.Store, rollout string, status contentv1.RolloutTarget_Status) []*store.Target {
	t.Helper()
	targets, err := s.ListTargets(t.Context(), rollout, status, everything)
	testkit.RequireNoError(t, "ListTargets", err)
	return targets
}

// tenantsOf returns the tenant of each target.
func tenantsOf(targets []*store.Target) []string {
	out := make([]string, len(targets))
	for i, tg := range targets {
		out[i] = tg.Tenant
	}
	return out
}

// mustUpdateTargets writes targets in one transaction.
func mustUpdateTargets(t *testing.T, s store.Store, now time.Time, targets ...*store.Target) {
	t.Helper()
	mustTx(t, s, "UpdateTarget", func(ctx context.Context, tx store.Tx) error {
		for _, tg := range targets {
			if err := tx.UpdateTarget(ctx, tg, now); err != nil {
				return err
			}
		}
		return nil
	})
}

// newTenants returns n tenant ids no other behaviour uses.
func newTenants(n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = newTenant()
	}
	return out
}

// requireTarget fails the test unless got is want.
func requireTarget(t *testing.T, what string, want, got *store.Target) {
	t.Helper()
	if got == nil || *got != *want {
		t.Fatalf("%s = %+v, want %+v", what, got, want)
	}
}

func rolloutRoundTrips(t *testing.T, s store.Store) {
	id := newRolloutID()
	tenants := newTenants(3)
	r := newRollout(id, store.TemplateVersionName("sales", "v3"), tenants)
	// Output-only fields a caller left set are not part of the spec.
	r.EndTime, r.State, r.Progress = ts(at(time.Hour)), contentv1.Rollout_STATE_COMPLETED, &contentv1.Progress{Total: 99}
	spec := proto.Clone(r).(*contentv1.Rollout)
	targets := newTargets(tenants)
	mustTx(t, s, "CreateRollout", func(ctx context.Context, tx store.Tx) error {
		if err := tx.CreateRollout(ctx, id, r, targets); err != nil {
			return err
		}
		// A new rollout is PENDING; the refused transition leaves the transaction usable.
		_, err := tx.TransitionRollout(ctx, id, []contentv1.Rollout_State{contentv1.Rollout_STATE_RUNNING},
			contentv1.Rollout_STATE_COMPLETED, epoch, nil)
		testkit.RequireErrorIs(t, "TransitionRollout from RUNNING of a new rollout", err, store.ErrStateConflict)
		return nil
	})

	want := proto.Clone(spec).(*contentv1.Rollout)
	want.State, want.EndTime = contentv1.Rollout_STATE_PENDING, nil
	want.Progress = &contentv1.Progress{Total: 3, Pending: 3}
	testkit.RequireProto(t, "the rollout CreateRollout returned", want, r)
	testkit.RequireProto(t, "GetRollout", want, mustGetRollout(t, s, id))

	listed := mustListTargets(t, s, id, contentv1.RolloutTarget_STATUS_UNSPECIFIED)
	testkit.RequireStrings(t, "targets listed", slices.Sorted(slices.Values(tenants)), tenantsOf(listed))
	for _, tg := range listed {
		i := slices.Index(tenants, tg.Tenant)
		want := &store.Target{
			Rollout: id, Tenant: tenants[i], Wave: i/2 + 1, Status: contentv1.RolloutTarget_STATUS_PENDING,
			App: "sales", PreviousRevision: int64(i % 3), UpdateTime: epoch,
		}
		requireTarget(t, "target "+tg.Tenant, want, tg)
		requireTarget(t, "the target CreateRollout was given", want, targets[i])
	}

	// A rollout by filter, with no tenant matching yet.
	byFilter := newRolloutID()
	f := newRollout(byFilter, store.TemplateVersionName("sales", "v3"), nil)
	f.Selector = &contentv1.TenantSelector{Filter: `labels.plan = "gold" AND region = "eu-west"`}
	f.Strategy, f.Variables, f.TenantVariables = nil, nil, nil
	mustCreateRollout(t, s, byFilter, f, nil)
	wantF := proto.Clone(f).(*contentv1.Rollout)
	wantF.Progress = &contentv1.Progress{}
	testkit.RequireProto(t, "GetRollout of a rollout without targets", wantF, mustGetRollout(t, s, byFilter))
	testkit.RequireEqual(t, "targets of a rollout without targets", 0, len(mustListTargets(t, s, byFilter, 0)))

	_, err := s.GetRollout(t.Context(), newRolloutID())
	testkit.RequireErrorIs(t, "GetRollout of a missing rollout", err, store.ErrNotFound)
}

func rolloutIDTaken(t *testing.T, s store.Store) {
	id := newRolloutID()
	tenants := newTenants(2)
	first := mustCreatePlainRollout(t, s, id, tenants...)
	again := newRollout(id, store.TemplateVersionName("other", "v9"), newTenants(3))
	err := inTx(t, s, func(ctx context.Context, tx store.Tx) error {
		return tx.CreateRollout(ctx, id, again, newTargets(again.GetSelector().GetTenants()))
	})
	testkit.RequireErrorIs(t, "CreateRollout of a taken id", err, store.ErrAlreadyExists)
	testkit.RequireProto(t, "the rollout after a second create", first, mustGetRollout(t, s, id))
	testkit.RequireStrings(t, "targets after a second create", slices.Sorted(slices.Values(tenants)),
		tenantsOf(mustListTargets(t, s, id, 0)))
}

func progressCountsByStatus(t *testing.T, s store.Store) {
	id := newRolloutID()
	tenants := newTenants(9)
	mustCreatePlainRollout(t, s, id, tenants...)
	set := func(status contentv1.RolloutTarget_Status, tenants ...string) {
		var targets []*store.Target
		for _, tn := range tenants {
			targets = append(targets, &store.Target{Rollout: id, Tenant: tn, Status: status})
		}
		mustUpdateTargets(t, s, at(time.Minute), targets...)
	}
	set(contentv1.RolloutTarget_STATUS_APPLYING, tenants[0])
	set(contentv1.RolloutTarget_STATUS_SUCCEEDED, tenants[1], tenants[2])
	set(contentv1.RolloutTarget_STATUS_FAILED, tenants[3])
	set(contentv1.RolloutTarget_STATUS_SKIPPED, tenants[4])
	set(contentv1.RolloutTarget_STATUS_CANCELLED, tenants[5], tenants[6])
	set(contentv1.RolloutTarget_STATUS_ROLLED_BACK, tenants[7])
	want := &contentv1.Progress{Total: 9, Pending: 1, Applying: 1, Succeeded: 2, Failed: 1, Skipped: 1, Cancelled: 2, RolledBack: 1}
	testkit.RequireProto(t, "progress", want, mustGetRollout(t, s, id).GetProgress())

	other := newRolloutID()
	mustCreatePlainRollout(t, s, other, newTenants(2)...)
	list, err := s.ListRollouts(t.Context(), everything)
	testkit.RequireNoError(t, "ListRollouts", err)
	found := 0
	for _, r := range list {
		switch r.GetName() {
		case store.RolloutName(id):
			testkit.RequireProto(t, "progress in ListRollouts", want, r.GetProgress())
			found++
		case store.RolloutName(other):
			testkit.RequireProto(t, "progress of the other rollout in ListRollouts", &contentv1.Progress{Total: 2, Pending: 2}, r.GetProgress())
			found++
		}
	}
	testkit.RequireEqual(t, "this behaviour's rollouts listed", 2, found)
}

func rolloutsNewestFirst(t *testing.T, s store.Store) {
	// Created in this order, which their ids do not follow.
	run := testkit.UniqueID("rollout")
	created := []string{run + "-c", run + "-9", run + "-a", run + "-10", run + "-b"}
	for _, id := range created {
		mustCreatePlainRollout(t, s, id, newTenant())
	}
	want := slices.Clone(created)
	slices.Reverse(want)
	// Other behaviours' rollouts may share the store: walk everything, keep this run's.
	for _, limit := range []int{1, 2, 3, 4, 5, 6, 1000} {
		t.Run(fmt.Sprintf("%d at a time", limit), func(t *testing.T) {
			all := walk(t, limit, func(p store.Page) ([]*contentv1.Rollout, error) { return s.ListRollouts(t.Context(), p) },
				func(r *contentv1.Rollout) string { return testkit.ResourceID(r.GetName()) })
			var mine []string
			for _, id := range all {
				if slices.Contains(created, id) {
					mine = append(mine, id)
				}
			}
			testkit.RequireStrings(t, "this run's rollouts, newest first", want, mine)
		})
	}
}

func transitionIsConditional(t *testing.T, s store.Store) {
	id := newRolloutID()
	mustCreatePlainRollout(t, s, id, newTenants(2)...)
	pending, running := contentv1.Rollout_STATE_PENDING, contentv1.Rollout_STATE_RUNNING
	completed, cancelling := contentv1.Rollout_STATE_COMPLETED, contentv1.Rollout_STATE_CANCELLING

	r, err := transition(t, s, id, []contentv1.Rollout_State{pending, running}, running, at(time.Minute), nil)
	testkit.RequireNoError(t, "TransitionRollout PENDING → RUNNING", err)
	want := mustGetRollout(t, s, id)
	testkit.RequireEqual(t, "state", running, want.GetState())
	testkit.RequireEqual(t, "update time", at(time.Minute), want.GetUpdateTime().AsTime())
	testkit.RequireEqual(t, "create time", epoch, want.GetCreateTime().AsTime())
	if want.GetEndTime() != nil {
		t.Fatalf("end time of a running rollout = %v, want none", want.GetEndTime())
	}
	testkit.RequireProto(t, "the rollout TransitionRollout returned", want, r)

	_, err = transition(t, s, id, []contentv1.Rollout_State{pending}, cancelling, at(2*time.Minute), nil)
	testkit.RequireErrorIs(t, "TransitionRollout from a state it is not in", err, store.ErrStateConflict)
	_, err = transition(t, s, id, nil, cancelling, at(2*time.Minute), nil)
	testkit.RequireErrorIs(t, "TransitionRollout from no state", err, store.ErrStateConflict)
	testkit.RequireProto(t, "the rollout after refused transitions", want, mustGetRollout(t, s, id))

	end := at(3*time.Minute + time.Microsecond)
	r, err = transition(t, s, id, []contentv1.Rollout_State{running}, completed, end, &end)
	testkit.RequireNoError(t, "TransitionRollout RUNNING → COMPLETED", err)
	testkit.RequireEqual(t, "state", completed, r.GetState())
	testkit.RequireEqual(t, "end time", end, r.GetEndTime().AsTime())
	testkit.RequireEqual(t, "update time", end, r.GetUpdateTime().AsTime())
	testkit.RequireProto(t, "GetRollout after completing", r, mustGetRollout(t, s, id))

	// A later transition without an end time keeps the one set.
	r, err = transition(t, s, id, []contentv1.Rollout_State{completed}, contentv1.Rollout_STATE_ROLLING_BACK, at(time.Hour), nil)
	testkit.RequireNoError(t, "TransitionRollout COMPLETED → ROLLING_BACK", err)
	testkit.RequireEqual(t, "end time kept", end, r.GetEndTime().AsTime())

	_, err = transition(t, s, newRolloutID(), []contentv1.Rollout_State{pending}, running, epoch, nil)
	testkit.RequireErrorIs(t, "TransitionRollout of a missing rollout", err, store.ErrNotFound)
}

func targetsListByTenant(t *testing.T, s store.Store) {
	id := newRolloutID()
	tenants := pagingIDs("tenant")
	mustCreatePlainRollout(t, s, id, tenants...)
	other := newRolloutID()
	mustCreatePlainRollout(t, s, other, tenants...)
	failed := []string{tenants[1], tenants[3], tenants[4]}
	for _, tn := range failed {
		mustUpdateTargets(t, s, at(time.Minute), &store.Target{Rollout: id, Tenant: tn, Status: contentv1.RolloutTarget_STATUS_FAILED, Reason: "bad variable"})
	}
	byTenant := func(tg *store.Target) string { return tg.Tenant }
	list := func(status contentv1.RolloutTarget_Status) func(store.Page) ([]*store.Target, error) {
		return func(p store.Page) ([]*store.Target, error) { return s.ListTargets(t.Context(), id, status, p) }
	}
	t.Run("all", func(t *testing.T) {
		requirePaging(t, tenants, list(contentv1.RolloutTarget_STATUS_UNSPECIFIED), byTenant)
	})
	t.Run("failed", func(t *testing.T) { requirePaging(t, failed, list(contentv1.RolloutTarget_STATUS_FAILED), byTenant) })
	t.Run("pending", func(t *testing.T) {
		var pending []string
		for _, tn := range tenants {
			if !slices.Contains(failed, tn) {
				pending = append(pending, tn)
			}
		}
		requirePaging(t, pending, list(contentv1.RolloutTarget_STATUS_PENDING), byTenant)
	})
	testkit.RequireEqual(t, "succeeded targets", 0, len(mustListTargets(t, s, id, contentv1.RolloutTarget_STATUS_SUCCEEDED)))
	_, err := s.ListTargets(t.Context(), newRolloutID(), 0, everything)
	testkit.RequireErrorIs(t, "ListTargets of a missing rollout", err, store.ErrNotFound)
}

func nextTargetsInOrder(t *testing.T, s store.Store) {
	id := newRolloutID()
	run := testkit.UniqueID("t")
	// Waves out of tenant order, tenants out of creation order.
	targets := []*store.Target{
		{Tenant: run + "-e", Wave: 2}, {Tenant: run + "-b", Wave: 1}, {Tenant: run + "-d", Wave: 3},
		{Tenant: run + "-a", Wave: 2}, {Tenant: run + "-c", Wave: 1}, {Tenant: run + "-f", Wave: 1},
	}
	var tenants []string
	for _, tg := range targets {
		tenants = append(tenants, tg.Tenant)
	}
	mustCreateRollout(t, s, id, newRollout(id, store.TemplateVersionName("tpl", "v1"), tenants), targets)
	next := func(status contentv1.RolloutTarget_Status, limit int) []string {
		var got []*store.Target
		mustTx(t, s, "NextTargets", func(ctx context.Context, tx store.Tx) error {
			var err error
			got, err = tx.NextTargets(ctx, id, status, limit)
			return err
		})
		return tenantsOf(got)
	}
	order := []string{run + "-b", run + "-c", run + "-f", run + "-a", run + "-e", run + "-d"}
	testkit.RequireStrings(t, "every pending target", order, next(contentv1.RolloutTarget_STATUS_PENDING, 100))
	testkit.RequireStrings(t, "the first four pending targets", order[:4], next(contentv1.RolloutTarget_STATUS_PENDING, 4))

	mustUpdateTargets(t, s, at(time.Minute),
		&store.Target{Rollout: id, Tenant: run + "-c", Status: contentv1.RolloutTarget_STATUS_APPLYING},
		&store.Target{Rollout: id, Tenant: run + "-a", Status: contentv1.RolloutTarget_STATUS_APPLYING})
	testkit.RequireStrings(t, "pending targets after two started", []string{run + "-b", run + "-f", run + "-e"},
		next(contentv1.RolloutTarget_STATUS_PENDING, 3))
	testkit.RequireStrings(t, "applying targets", []string{run + "-c", run + "-a"}, next(contentv1.RolloutTarget_STATUS_APPLYING, 10))
	testkit.RequireStrings(t, "succeeded targets", nil, next(contentv1.RolloutTarget_STATUS_SUCCEEDED, 10))
}

func updateTargetWrites(t *testing.T, s store.Store) {
	id := newRolloutID()
	tenants := newTenants(2)
	mustCreatePlainRollout(t, s, id, tenants...)
	var got *store.Target
	mustTx(t, s, "GetTarget and UpdateTarget", func(ctx context.Context, tx store.Tx) error {
		var err error
		if got, err = tx.GetTarget(ctx, id, tenants[1]); err != nil {
			return err
		}
		got.Status, got.Reason = contentv1.RolloutTarget_STATUS_SUCCEEDED, "applied"
		got.PreviousRevision, got.AppliedRevision = 4, 5
		return tx.UpdateTarget(ctx, got, at(time.Minute+time.Microsecond))
	})
	want := &store.Target{
		Rollout: id, Tenant: tenants[1], Wave: 1, Status: contentv1.RolloutTarget_STATUS_SUCCEEDED, Reason: "applied",
		App: "sales", PreviousRevision: 4, AppliedRevision: 5, UpdateTime: at(time.Minute + time.Microsecond),
	}
	requireTarget(t, "the target UpdateTarget was given", want, got)
	mustTx(t, s, "GetTarget", func(ctx context.Context, tx store.Tx) error {
		got, err := tx.GetTarget(ctx, id, tenants[1])
		if err == nil {
			requireTarget(t, "GetTarget after UpdateTarget", want, got)
		}
		return err
	})
	listed := mustListTargets(t, s, id, contentv1.RolloutTarget_STATUS_SUCCEEDED)
	testkit.RequireEqual(t, "succeeded targets", 1, len(listed))
	requireTarget(t, "ListTargets after UpdateTarget", want, listed[0])
	testkit.RequireEqual(t, "targets still pending", 1, len(mustListTargets(t, s, id, contentv1.RolloutTarget_STATUS_PENDING)))

	testkit.RequireErrorIs(t, "GetTarget of a tenant not targeted", inTx(t, s, func(ctx context.Context, tx store.Tx) error {
		_, err := tx.GetTarget(ctx, id, newTenant())
		return err
	}), store.ErrNotFound)
	testkit.RequireErrorIs(t, "UpdateTarget of a tenant not targeted", inTx(t, s, func(ctx context.Context, tx store.Tx) error {
		return tx.UpdateTarget(ctx, &store.Target{Rollout: id, Tenant: newTenant(), Status: contentv1.RolloutTarget_STATUS_FAILED}, epoch)
	}), store.ErrNotFound)
}

func setTargetsStatusMovesSome(t *testing.T, s store.Store) {
	id, other := newRolloutID(), newRolloutID()
	tenants := newTenants(5)
	mustCreatePlainRollout(t, s, id, tenants...)
	mustCreatePlainRollout(t, s, other, tenants...)
	mustUpdateTargets(t, s, at(time.Minute), &store.Target{Rollout: id, Tenant: tenants[0], Status: contentv1.RolloutTarget_STATUS_SUCCEEDED})
	var n int
	mustTx(t, s, "SetTargetsStatus", func(ctx context.Context, tx store.Tx) error {
		var err error
		n, err = tx.SetTargetsStatus(ctx, id, contentv1.RolloutTarget_STATUS_PENDING, contentv1.RolloutTarget_STATUS_CANCELLED, at(time.Hour))
		return err
	})
	testkit.RequireEqual(t, "targets moved", 4, n)
	cancelled := mustListTargets(t, s, id, contentv1.RolloutTarget_STATUS_CANCELLED)
	testkit.RequireEqual(t, "cancelled targets", 4, len(cancelled))
	for _, tg := range cancelled {
		testkit.RequireEqual(t, "update time of a moved target", at(time.Hour), tg.UpdateTime)
	}
	testkit.RequireEqual(t, "succeeded targets left alone", 1, len(mustListTargets(t, s, id, contentv1.RolloutTarget_STATUS_SUCCEEDED)))
	testkit.RequireEqual(t, "the other rollout's pending targets", 5, len(mustListTargets(t, s, other, contentv1.RolloutTarget_STATUS_PENDING)))
	mustTx(t, s, "SetTargetsStatus again", func(ctx context.Context, tx store.Tx) error {
		var err error
		n, err = tx.SetTargetsStatus(ctx, id, contentv1.RolloutTarget_STATUS_PENDING, contentv1.RolloutTarget_STATUS_CANCELLED, at(time.Hour))
		return err
	})
	testkit.RequireEqual(t, "targets moved when none has the status", 0, n)
}

func concurrentWorkersProcessEachTargetOnce(t *testing.T, s store.Store) {
	const targets, batch = 100, 3
	id := newRolloutID()
	tenants := newTenants(targets)
	mustCreatePlainRollout(t, s, id, tenants...)

	processed := make([][]string, concurrency)
	errs := make([]error, concurrency)
	start := make(chan struct{})
	var wg sync.WaitGroup
	for w := range concurrency {
		wg.Go(func() {
			<-start
			for {
				var took []string
				err := s.ReadWriteTx(t.Context(), func(ctx context.Context, tx store.Tx) error {
					took = nil
					next, err := tx.NextTargets(ctx, id, contentv1.RolloutTarget_STATUS_PENDING, batch)
					if err != nil {
						return err
					}
					for _, tg := range next {
						tg.Status, tg.AppliedRevision, tg.Reason = contentv1.RolloutTarget_STATUS_SUCCEEDED, 1, fmt.Sprintf("worker %d", w)
						if err := tx.UpdateTarget(ctx, tg, at(time.Minute)); err != nil {
							return err
						}
						took = append(took, tg.Tenant)
					}
					return nil
				})
				if err != nil {
					errs[w] = err
					return
				}
				if len(took) == 0 {
					return
				}
				processed[w] = append(processed[w], took...)
			}
		})
	}
	close(start)
	wg.Wait()
	for w, err := range errs {
		testkit.RequireNoError(t, fmt.Sprintf("worker %d", w), err)
	}
	seen := map[string]int{}
	for _, p := range processed {
		for _, tn := range p {
			seen[tn]++
		}
	}
	for _, tn := range tenants {
		if seen[tn] != 1 {
			t.Fatalf("target %s was processed %d times, want exactly once", tn, seen[tn])
		}
	}
	testkit.RequireEqual(t, "targets processed", targets, len(seen))
	testkit.RequireProto(t, "progress after the workers", &contentv1.Progress{Total: targets, Succeeded: targets},
		mustGetRollout(t, s, id).GetProgress())
	// Each target's reason names the one worker that processed it.
	for _, tg := range mustListTargets(t, s, id, 0) {
		w := -1
		for i, p := range processed {
			if slices.Contains(p, tg.Tenant) {
				w = i
			}
		}
		testkit.RequireEqual(t, "reason of "+tg.Tenant, fmt.Sprintf("worker %d", w), tg.Reason)
	}
}

func claimTakesOldest(t *testing.T, s store.Store) {
	ids := make([]string, 6)
	for i := range ids {
		ids[i] = newRolloutID()
		mustCreatePlainRollout(t, s, ids[i], newTenant())
	}
	done := contentv1.Rollout_STATE_COMPLETED
	pending := []contentv1.Rollout_State{contentv1.Rollout_STATE_PENDING}
	for i, to := range []contentv1.Rollout_State{done, contentv1.Rollout_STATE_CANCELLING, contentv1.Rollout_STATE_RUNNING,
		contentv1.Rollout_STATE_CANCELLED, contentv1.Rollout_STATE_ROLLING_BACK} {
		_, err := transition(t, s, ids[i], pending, to, at(time.Second), nil)
		testkit.RequireNoError(t, "TransitionRollout", err)
	}
	// Claimable, oldest first: ids[1] (CANCELLING), ids[2] (RUNNING), ids[4] (ROLLING_BACK),
	// ids[5] (PENDING). ids[0] and ids[3] are over.
	claim := func(owner string, now time.Time) (*store.Lease, error) {
		return s.ClaimRollout(t.Context(), owner, now, now.Add(time.Minute))
	}
	for i, want := range []string{ids[1], ids[2], ids[4], ids[5]} {
		owner := fmt.Sprintf("worker-%d", i)
		lease, err := claim(owner, at(time.Hour))
		testkit.RequireNoError(t, "ClaimRollout by "+owner, err)
		testkit.RequireEqual(t, "rollout claimed by "+owner, store.RolloutName(want), lease.Rollout.GetName())
		testkit.RequireEqual(t, "lease owner", owner, lease.Owner)
		testkit.RequireEqual(t, "lease until", at(time.Hour+time.Minute), lease.Until)
		testkit.RequireProto(t, "the leased rollout", mustGetRollout(t, s, want), lease.Rollout)
	}
	_, err := claim("worker-late", at(time.Hour+time.Minute-time.Microsecond))
	testkit.RequireErrorIs(t, "ClaimRollout while every lease holds", err, store.ErrNotFound)

	// A lease expired at now can be taken over, oldest first again.
	lease, err := claim("worker-new", at(time.Hour+time.Minute))
	testkit.RequireNoError(t, "ClaimRollout of expired leases", err)
	testkit.RequireEqual(t, "rollout taken over", store.RolloutName(ids[1]), lease.Rollout.GetName())
	testkit.RequireErrorIs(t, "RenewLease by the owner whose lease was taken over",
		s.RenewLease(t.Context(), ids[1], "worker-0", at(2*time.Hour)), store.ErrLeaseLost)

	// A rollout that ends needs no worker, even with an expired lease.
	_, err = transition(t, s, ids[2], []contentv1.Rollout_State{contentv1.Rollout_STATE_RUNNING}, done, at(time.Hour), nil)
	testkit.RequireNoError(t, "TransitionRollout RUNNING → COMPLETED", err)
	lease, err = claim("worker-next", at(2*time.Hour))
	testkit.RequireNoError(t, "ClaimRollout after one ended", err)
	testkit.RequireEqual(t, "rollout claimed after one ended", store.RolloutName(ids[1]), lease.Rollout.GetName())
	for _, want := range []string{ids[4], ids[5]} {
		lease, err = claim("worker-next", at(2*time.Hour))
		testkit.RequireNoError(t, "ClaimRollout", err)
		testkit.RequireEqual(t, "rollout claimed", store.RolloutName(want), lease.Rollout.GetName())
	}
	_, err = claim("worker-next", at(2*time.Hour))
	testkit.RequireErrorIs(t, "ClaimRollout when all are held", err, store.ErrNotFound)
}

func leaseOnlyByOwner(t *testing.T, s store.Store) {
	id := newRolloutID()
	mustCreatePlainRollout(t, s, id, newTenant())
	lease, err := s.ClaimRollout(t.Context(), "alice", epoch, at(time.Minute))
	testkit.RequireNoError(t, "ClaimRollout", err)
	testkit.RequireEqual(t, "rollout claimed", store.RolloutName(id), lease.Rollout.GetName())

	testkit.RequireErrorIs(t, "RenewLease by another worker", s.RenewLease(t.Context(), id, "bob", at(time.Hour)), store.ErrLeaseLost)
	testkit.RequireErrorIs(t, "ReleaseLease by another worker", s.ReleaseLease(t.Context(), id, "bob"), store.ErrLeaseLost)
	testkit.RequireNoError(t, "RenewLease by the owner", s.RenewLease(t.Context(), id, "alice", at(time.Hour)))
	// Renewed: not claimable before the new time, claimable at it.
	_, err = s.ClaimRollout(t.Context(), "bob", at(time.Hour-time.Microsecond), at(2*time.Hour))
	testkit.RequireErrorIs(t, "ClaimRollout before the renewed lease ends", err, store.ErrNotFound)

	testkit.RequireNoError(t, "ReleaseLease by the owner", s.ReleaseLease(t.Context(), id, "alice"))
	testkit.RequireErrorIs(t, "RenewLease after release", s.RenewLease(t.Context(), id, "alice", at(time.Hour)), store.ErrLeaseLost)
	testkit.RequireErrorIs(t, "ReleaseLease twice", s.ReleaseLease(t.Context(), id, "alice"), store.ErrLeaseLost)
	lease, err = s.ClaimRollout(t.Context(), "bob", epoch, at(time.Minute))
	testkit.RequireNoError(t, "ClaimRollout of a released rollout", err)
	testkit.RequireEqual(t, "lease owner", "bob", lease.Owner)
	testkit.RequireErrorIs(t, "RenewLease of a missing rollout", s.RenewLease(t.Context(), newRolloutID(), "bob", at(time.Hour)), store.ErrLeaseLost)
}

func concurrentClaimsOneLease(t *testing.T, s store.Store) {
	for round := range rounds {
		// Each round adds one rollout; the earlier ones stay leased, so it is the only one
		// claimable.
		id := newRolloutID()
		mustCreatePlainRollout(t, s, id, newTenant())
		leases := make([]*store.Lease, concurrency)
		errs := make([]error, concurrency)
		start := make(chan struct{})
		var wg sync.WaitGroup
		for i := range concurrency {
			wg.Go(func() {
				<-start
				leases[i], errs[i] = s.ClaimRollout(t.Context(), fmt.Sprintf("worker-%d", i), epoch, at(24*time.Hour))
			})
		}
		close(start)
		wg.Wait()
		won := -1
		for i, err := range errs {
			switch {
			case err == nil && won >= 0:
				t.Fatalf("round %d: workers %d and %d both claimed %s", round, won, i, leases[i].Rollout.GetName())
			case err == nil:
				won = i
				testkit.RequireEqual(t, "rollout claimed", store.RolloutName(id), leases[i].Rollout.GetName())
			default:
				testkit.RequireErrorIs(t, fmt.Sprintf("round %d: claim of worker %d", round, i), err, store.ErrNotFound)
			}
		}
		if won < 0 {
			t.Fatalf("round %d: no worker claimed the rollout", round)
		}
		testkit.RequireNoError(t, "RenewLease by the winner", s.RenewLease(t.Context(), id, fmt.Sprintf("worker-%d", won), at(48*time.Hour)))
	}
}
