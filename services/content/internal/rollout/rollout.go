// Package rollout drives rollouts: it deploys a template version to each target tenant of a
// rollout, in waves, a few tenants at a time, stopping when too many fail, and rolls a
// rollout back on request. Any number of replicas run an Engine; a lease makes one of them
// drive each rollout, and everything the engine knows lives in the store, so a killed
// worker's rollout is picked up by another (or the same, restarted) where it stopped.
//
// # State machine
//
// A rollout (Rollout.State) moves so:
//
//	PENDING      → RUNNING       when a worker first claims it.
//	RUNNING      → COMPLETED     when no target is PENDING or APPLYING.
//	RUNNING      → HALTED        when failed / (succeeded + failed + skipped) exceeds
//	                             strategy.max_failure_ratio (0: never), once at least 5
//	                             targets are done; PENDING targets become CANCELLED.
//	CANCELLING   → CANCELLED     (the API's CancelRollout sets CANCELLING from PENDING or
//	                             RUNNING) PENDING targets become CANCELLED; those being
//	                             applied finish first.
//	ROLLING_BACK → ROLLED_BACK   (the API's RollbackRollout sets ROLLING_BACK from
//	                             COMPLETED, HALTED or CANCELLED) once every SUCCEEDED target
//	                             is ROLLED_BACK.
//
// A target (RolloutTarget.Status) moves PENDING → APPLYING (picked, in its own short
// transaction, so progress shows it) → SUCCEEDED, FAILED or SKIPPED, the last step in ONE
// transaction with the app it writes; or PENDING → CANCELLED; or SUCCEEDED → ROLLED_BACK.
//
// # Why no tenant is applied twice
//
// The transaction that deploys to a tenant first locks its target row and does nothing
// unless the target is still PENDING or APPLYING, and it commits the app's new revision and
// the target's final status together. Of two workers racing for one tenant (a worker that
// lost its lease but has not noticed yet, say), the second waits for the first's lock and
// then sees a final status. A worker that dies mid-transaction leaves nothing behind; one
// that dies between picking and deploying leaves an APPLYING target, which the next worker
// to claim the rollout returns to PENDING.
package rollout

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"

	contentv1 "github.com/oriel-dev/oriel/gen/pb/oriel/content/v1"

	"github.com/oriel-dev/oriel/services/content/internal/store"
)

// Defaults for Options left zero.
const (
	// DefaultLease is long enough that a busy database does not cost a worker its lease,
	// short enough that a dead worker's rollout resumes within a minute.
	DefaultLease = 30 * time.Second
	// DefaultPoll is how often an idle worker looks for rollouts.
	DefaultPoll = 2 * time.Second
	// DefaultMaxParallel is strategy.max_parallel's meaning when it is 0.
	DefaultMaxParallel = 10
	// DefaultSpace is the space id apps go to when the rollout names none.
	DefaultSpace = "templates"
	// DefaultSpaceDisplayName names the space a rollout creates.
	DefaultSpaceDisplayName = "Templates"
	// DeletedAppRetention is how long an app a rollback deletes stays restorable, as for
	// DeleteApp.
	DeletedAppRetention = 14 * 24 * time.Hour
	// haltAfter is how many tenants must be done before the failure ratio can halt a
	// rollout: one early failure of two would otherwise stop it.
	haltAfter = 5
	// attempts is how often one tenant's transaction is tried before the tenant fails:
	// enough to ride out a race (another rollout creating the same space) or a blip.
	attempts = 3
)

// Options configure an Engine.
type Options struct {
	// Store holds the rollouts and everything they deploy.
	Store store.Store
	// Log receives what the engine does; discarded when nil.
	Log *slog.Logger
	// Now is the clock of leases and timestamps; time.Now when nil.
	Now func() time.Time
	// Owner is this worker's lease owner id (e.g. hostname+pid+random); generated when empty.
	Owner string
	// Lease is how long a claim lasts without renewal; renewed every third of it.
	Lease time.Duration
	// Poll is how often an idle worker looks for work.
	Poll time.Duration
}

// Engine drives rollouts; many may run at once against one store.
type Engine struct {
	store store.Store
	log   *slog.Logger
	now   func() time.Time
	owner string
	lease time.Duration
	poll  time.Duration
}

// New returns an engine with o's zero fields defaulted.
func New(o Options) *Engine {
	e := &Engine{store: o.Store, log: o.Log, now: o.Now, owner: o.Owner, lease: o.Lease, poll: o.Poll}
	if e.log == nil {
		e.log = slog.New(slog.DiscardHandler)
	}
	if e.now == nil {
		e.now = time.Now
	}
	if e.owner == "" {
		host, _ := os.Hostname()
		e.owner = fmt.Sprintf("%s-%d-%08x", host, os.Getpid(), rand.Uint32())
	}
	if e.lease <= 0 {
		e.lease = DefaultLease
	}
	if e.poll <= 0 {
		e.poll = DefaultPoll
	}
	return e
}

// clock is the time stored: UTC, and microseconds, which both databases keep exactly.
func (e *Engine) clock() time.Time { return e.now().UTC().Truncate(time.Microsecond) }

// Run claims and drives rollouts, one at a time, until ctx ends; it is a server.Worker.
// Failures are logged and retried after Poll: a database outage must not stop the service,
// and the rollout it interrupted waits in the store.
func (e *Engine) Run(ctx context.Context) error {
	for {
		found, err := e.Step(ctx)
		if ctx.Err() != nil {
			return nil
		}
		if err != nil {
			e.log.ErrorContext(ctx, "rollout worker failed; retrying", "error", err, "retry_in", e.poll)
		}
		if found && err == nil {
			continue // there may be more work queued
		}
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(e.poll):
		}
	}
}

// Step claims one rollout if any needs work and drives it until it is finished, cancelled,
// halted or rolled back, or until the lease is lost or ctx ends; it reports whether it
// found work. Losing the lease is not an error: another worker carries on.
func (e *Engine) Step(ctx context.Context) (bool, error) {
	now := e.clock()
	lease, err := e.store.ClaimRollout(ctx, e.owner, now, now.Add(e.lease))
	if errors.Is(err, store.ErrNotFound) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("claim a rollout: %w", err)
	}
	d := &driver{
		e:     e,
		id:    strings.TrimPrefix(lease.Rollout.GetName(), "rollouts/"),
		r:     lease.Rollout,
		until: lease.Until,
	}
	d.log = e.log.With("rollout", lease.Rollout.GetName(), "owner", e.owner)
	return true, d.run(ctx)
}

// errLeaseLost is the cause of a drive's context when another worker owns the rollout.
var errLeaseLost = errors.New("rollout lease lost")

// driver drives one claimed rollout.
type driver struct {
	e     *Engine
	log   *slog.Logger
	id    string
	r     *contentv1.Rollout
	until time.Time // the lease, as last renewed

	// What deploying needs, loaded once per claim.
	version     *contentv1.TemplateVersion // nil when it cannot be found: every tenant fails
	versionName string
	description string
	appID       string
	spaceID     string
	parallel    int
}

// run holds the lease while drive works, and gives it up afterwards.
func (d *driver) run(ctx context.Context) error {
	driveCtx, stop := context.WithCancelCause(ctx)
	var renewing sync.WaitGroup
	renewing.Go(func() { d.renew(driveCtx, stop) })
	err := d.drive(driveCtx)
	lost := errors.Is(context.Cause(driveCtx), errLeaseLost)
	stop(nil)
	renewing.Wait()
	if lost {
		d.log.WarnContext(ctx, "rollout lease lost; another worker carries on")
		return nil
	}
	// Given up even when ctx has ended, so that another worker resumes at once rather
	// than when the lease runs out.
	releaseCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	if rerr := d.e.store.ReleaseLease(releaseCtx, d.id, d.e.owner); rerr != nil && !errors.Is(rerr, store.ErrLeaseLost) {
		d.log.WarnContext(ctx, "could not release the rollout lease; it will expire", "error", rerr)
	}
	if ctx.Err() != nil {
		return ctx.Err()
	}
	return err
}

// renew extends the lease every third of its length. When another worker holds it, or it
// ran out while the store could not be reached, the drive stops at once: its transactions
// in flight are harmless, since each re-checks its target under lock.
func (d *driver) renew(ctx context.Context, stop context.CancelCauseFunc) {
	t := time.NewTicker(max(d.e.lease/3, time.Millisecond))
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		now := d.e.clock()
		until := now.Add(d.e.lease)
		err := d.e.store.RenewLease(ctx, d.id, d.e.owner, until)
		switch {
		case err == nil:
			d.until = until
		case ctx.Err() != nil:
			return
		case errors.Is(err, store.ErrLeaseLost):
			stop(errLeaseLost)
			return
		default:
			d.log.WarnContext(ctx, "could not renew the rollout lease", "error", err)
			if !now.Before(d.until) {
				stop(errLeaseLost)
				return
			}
		}
	}
}

// drive runs each state's work until the rollout reaches a final state. A phase returns
// store.ErrStateConflict when the rollout's state changed under it (CancelRollout, most
// often); the state is then read again.
func (d *driver) drive(ctx context.Context) error {
	r := d.r
	for {
		var err error
		switch r.GetState() {
		case contentv1.Rollout_STATE_PENDING, contentv1.Rollout_STATE_RUNNING:
			err = d.deploy(ctx, r.GetState())
		case contentv1.Rollout_STATE_CANCELLING:
			err = d.cancel(ctx)
		case contentv1.Rollout_STATE_ROLLING_BACK:
			err = d.rollBack(ctx)
		default:
			return nil
		}
		if err != nil && !errors.Is(err, store.ErrStateConflict) {
			if cause := context.Cause(ctx); cause != nil {
				return cause
			}
			return err
		}
		if r, err = d.e.store.GetRollout(ctx, d.id); err != nil {
			return fmt.Errorf("read rollout %s: %w", d.id, err)
		}
	}
}

// load reads what deploying needs: the version (immutable, so once) and the template's
// description.
func (d *driver) load(ctx context.Context) error {
	d.versionName = d.r.GetTemplateVersion()
	template, version, ok := splitVersion(d.versionName)
	if ok {
		v, err := d.e.store.GetTemplateVersion(ctx, template, version)
		switch {
		case errors.Is(err, store.ErrNotFound):
			d.log.ErrorContext(ctx, "rollout of a template version that does not exist; every tenant fails")
		case err != nil:
			return fmt.Errorf("read template version %s: %w", d.versionName, err)
		default:
			d.version = v
		}
		t, err := d.e.store.GetTemplate(ctx, template)
		switch {
		case errors.Is(err, store.ErrNotFound):
		case err != nil:
			return fmt.Errorf("read template %s: %w", template, err)
		default:
			d.description = t.GetDescription()
		}
	}
	d.appID = cmp.Or(d.r.GetAppId(), template)
	d.spaceID = cmp.Or(d.r.GetSpaceId(), DefaultSpace)
	d.parallel = int(d.r.GetStrategy().GetMaxParallel())
	if d.parallel <= 0 {
		d.parallel = DefaultMaxParallel
	}
	return nil
}

// outcome is what became of one tenant. err is set when the tenant was left as it was
// (the store is unreachable, or the drive stopped); status is then unknown.
type outcome struct {
	tenant string
	status contentv1.RolloutTarget_Status
	err    error
}

// tally counts done targets for the failure ratio.
type tally struct{ succeeded, failed, skipped int }

func (t *tally) add(s contentv1.RolloutTarget_Status) {
	switch s {
	case contentv1.RolloutTarget_STATUS_SUCCEEDED:
		t.succeeded++
	case contentv1.RolloutTarget_STATUS_FAILED:
		t.failed++
	case contentv1.RolloutTarget_STATUS_SKIPPED:
		t.skipped++
	}
}

// exceeds reports whether the failure ratio passed limit (0: never).
func (t tally) exceeds(limit float64) bool {
	done := t.succeeded + t.failed + t.skipped
	return limit > 0 && done >= haltAfter && float64(t.failed)/float64(done) > limit
}

// deploy is the RUNNING phase: pick targets wave by wave, at most parallel at once, deploy
// to each in its own goroutine and transaction, and end the rollout COMPLETED or HALTED.
func (d *driver) deploy(ctx context.Context, state contentv1.Rollout_State) error {
	if err := d.load(ctx); err != nil {
		return err
	}
	// Start (or resume): RUNNING, and targets a dead worker had picked back to PENDING.
	// The rollout's row lock orders this after any other worker's picking.
	err := d.tx(ctx, func(ctx context.Context, tx store.Tx) error {
		now := d.e.clock()
		if _, err := tx.TransitionRollout(ctx, d.id, []contentv1.Rollout_State{state}, contentv1.Rollout_STATE_RUNNING, now, nil); err != nil {
			return err
		}
		_, err := tx.SetTargetsStatus(ctx, d.id, contentv1.RolloutTarget_STATUS_APPLYING, contentv1.RolloutTarget_STATUS_PENDING, now)
		return err
	})
	if err != nil {
		return err
	}
	if state == contentv1.Rollout_STATE_PENDING {
		d.log.InfoContext(ctx, "rollout started", "template_version", d.versionName)
	}
	r, err := d.e.store.GetRollout(ctx, d.id)
	if err != nil {
		return fmt.Errorf("read rollout %s: %w", d.id, err)
	}
	p := r.GetProgress()
	done := tally{succeeded: int(p.GetSucceeded()), failed: int(p.GetFailed()), skipped: int(p.GetSkipped())}
	limit := d.r.GetStrategy().GetMaxFailureRatio()

	var (
		results  = make(chan outcome, d.parallel)
		inflight = map[string]bool{}
		wave     int   // the wave of the targets in flight
		blocked  bool  // the next wave waits for the targets in flight
		halt     bool  // the failure ratio passed the limit
		stopErr  error // why no more targets are picked: a state change, an outage, ctx
	)
	halt = done.exceeds(limit)
	for {
		if !halt && stopErr == nil && ctx.Err() == nil && !blocked && len(inflight) < d.parallel {
			picked, err := d.pick(ctx, d.parallel-len(inflight), wave)
			if err != nil {
				stopErr = err
			}
			if len(inflight) > 0 && len(picked) == 0 {
				blocked = true
			}
			for _, t := range picked {
				inflight[t.Tenant] = true
				wave = t.Wave
				go func() { results <- d.apply(ctx, t.Tenant) }()
			}
			if len(inflight) == 0 && stopErr == nil {
				finished, err := d.complete(ctx)
				if finished || err != nil {
					return err
				}
				continue
			}
		}
		if len(inflight) == 0 {
			break
		}
		// Wait for one tenant, then take every other that finished meanwhile: picking is a
		// transaction of its own, so picking for all free slots at once keeps the one
		// picking goroutine from limiting the whole rollout.
		take := func(o outcome) {
			delete(inflight, o.tenant)
			if o.err != nil {
				stopErr = cmp.Or(stopErr, o.err)
				return
			}
			done.add(o.status)
			if !halt && done.exceeds(limit) {
				halt = true
				d.log.WarnContext(ctx, "failure ratio passed the limit; halting", "failed", done.failed,
					"done", done.succeeded+done.failed+done.skipped, "max_failure_ratio", limit)
			}
		}
		take(<-results)
		for drained := false; !drained; {
			select {
			case o := <-results:
				take(o)
			default:
				drained = true
			}
		}
		if len(inflight) == 0 {
			blocked, wave = false, 0
		}
	}
	switch {
	case stopErr != nil:
		return stopErr
	case ctx.Err() != nil:
		return ctx.Err()
	}
	// Otherwise only halting ends the loop. Every target in flight has finished; the rest
	// never start.
	return d.end(ctx, contentv1.Rollout_STATE_RUNNING, contentv1.Rollout_STATE_HALTED)
}

// pick marks up to limit PENDING targets APPLYING and returns them: all of the lowest wave
// with pending targets, and only of wave `wave` while targets of it are in flight (0: none
// are), so that a wave starts only once the one before is done. Checking the rollout is
// still RUNNING in the same transaction means no target starts after CancelRollout.
func (d *driver) pick(ctx context.Context, limit, wave int) ([]*store.Target, error) {
	var picked []*store.Target
	err := d.tx(ctx, func(ctx context.Context, tx store.Tx) error {
		picked = nil
		now := d.e.clock()
		running := []contentv1.Rollout_State{contentv1.Rollout_STATE_RUNNING}
		if _, err := tx.TransitionRollout(ctx, d.id, running, contentv1.Rollout_STATE_RUNNING, now, nil); err != nil {
			return err
		}
		ts, err := tx.NextTargets(ctx, d.id, contentv1.RolloutTarget_STATUS_PENDING, limit)
		if err != nil {
			return err
		}
		for _, t := range ts {
			if wave == 0 {
				wave = t.Wave
			}
			if t.Wave != wave {
				break // targets come in wave order
			}
			t.Status = contentv1.RolloutTarget_STATUS_APPLYING
			if err := tx.UpdateTarget(ctx, t, now); err != nil {
				return err
			}
			picked = append(picked, t)
		}
		return nil
	})
	if err != nil {
		picked = nil
	}
	return picked, err
}

// complete ends the rollout COMPLETED when no target is PENDING or APPLYING, and reports
// whether it did. Targets APPLYING while this worker has none in flight were picked by a
// worker that lost its lease: they go back to PENDING, to be picked again.
func (d *driver) complete(ctx context.Context) (bool, error) {
	r, err := d.e.store.GetRollout(ctx, d.id)
	if err != nil {
		return false, fmt.Errorf("read rollout %s: %w", d.id, err)
	}
	if r.GetState() != contentv1.Rollout_STATE_RUNNING {
		return false, store.ErrStateConflict
	}
	p := r.GetProgress()
	switch {
	case p.GetPending() == 0 && p.GetApplying() == 0:
		return true, d.end(ctx, contentv1.Rollout_STATE_RUNNING, contentv1.Rollout_STATE_COMPLETED)
	case p.GetApplying() > 0:
		return false, d.tx(ctx, func(ctx context.Context, tx store.Tx) error {
			_, err := tx.SetTargetsStatus(ctx, d.id, contentv1.RolloutTarget_STATUS_APPLYING, contentv1.RolloutTarget_STATUS_PENDING, d.e.clock())
			return err
		})
	default:
		// Pending targets another transaction holds (a worker that lost its lease): wait
		// for it to let go.
		return false, sleep(ctx, min(d.e.poll, 50*time.Millisecond))
	}
}

// end moves the rollout from `from` to a final state, cancelling the targets that never
// started (APPLYING ones too: nothing of this worker is in flight, so they belong to a
// worker that lost its lease and will find them cancelled).
func (d *driver) end(ctx context.Context, from, to contentv1.Rollout_State) error {
	err := d.tx(ctx, func(ctx context.Context, tx store.Tx) error {
		now := d.e.clock()
		if _, err := tx.TransitionRollout(ctx, d.id, []contentv1.Rollout_State{from}, to, now, &now); err != nil {
			return err
		}
		for _, s := range []contentv1.RolloutTarget_Status{contentv1.RolloutTarget_STATUS_PENDING, contentv1.RolloutTarget_STATUS_APPLYING} {
			if _, err := tx.SetTargetsStatus(ctx, d.id, s, contentv1.RolloutTarget_STATUS_CANCELLED, now); err != nil {
				return err
			}
		}
		return nil
	})
	if err == nil {
		d.log.InfoContext(ctx, "rollout ended", "state", to.String())
	}
	return err
}

// cancel is the CANCELLING phase. deploy has already let the targets in flight finish.
func (d *driver) cancel(ctx context.Context) error {
	return d.end(ctx, contentv1.Rollout_STATE_CANCELLING, contentv1.Rollout_STATE_CANCELLED)
}

// rollBack is the ROLLING_BACK phase: return every SUCCEEDED target's app to the revision
// it had before, at most parallel at once, then end ROLLED_BACK.
func (d *driver) rollBack(ctx context.Context) error {
	if err := d.load(ctx); err != nil {
		return err
	}
	d.log.InfoContext(ctx, "rolling back")
	sem := make(chan struct{}, d.parallel)
	for {
		var (
			mu      sync.Mutex
			stopErr error
			wg      sync.WaitGroup
			after   string
		)
		stopped := func() error { mu.Lock(); defer mu.Unlock(); return stopErr }
		for stopped() == nil && ctx.Err() == nil {
			// Not locked: each rollback re-reads its target under lock.
			ts, err := d.e.store.ListTargets(ctx, d.id, contentv1.RolloutTarget_STATUS_SUCCEEDED, store.Page{AfterID: after, Limit: 500})
			if err != nil {
				mu.Lock()
				stopErr = fmt.Errorf("list targets of %s: %w", d.id, err)
				mu.Unlock()
				break
			}
			for _, t := range ts {
				sem <- struct{}{}
				if stopped() != nil || ctx.Err() != nil {
					<-sem
					break
				}
				wg.Go(func() {
					defer func() { <-sem }()
					if o := d.rollBackTarget(ctx, t.Tenant); o.err != nil {
						mu.Lock()
						stopErr = cmp.Or(stopErr, o.err)
						mu.Unlock()
					}
				})
				after = t.Tenant
			}
			if len(ts) < 500 {
				break
			}
		}
		wg.Wait()
		if err := stopped(); err != nil {
			return err
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		r, err := d.e.store.GetRollout(ctx, d.id)
		if err != nil {
			return fmt.Errorf("read rollout %s: %w", d.id, err)
		}
		if r.GetState() != contentv1.Rollout_STATE_ROLLING_BACK {
			return store.ErrStateConflict
		}
		if r.GetProgress().GetSucceeded() == 0 {
			return d.end(ctx, contentv1.Rollout_STATE_ROLLING_BACK, contentv1.Rollout_STATE_ROLLED_BACK)
		}
		// Targets another worker held while listing; look again shortly.
		if err := sleep(ctx, min(d.e.poll, 50*time.Millisecond)); err != nil {
			return err
		}
	}
}

// tx runs fn in a store transaction.
func (d *driver) tx(ctx context.Context, fn func(ctx context.Context, tx store.Tx) error) error {
	return d.e.store.ReadWriteTx(ctx, fn)
}

// sleep waits for d or ctx, and returns ctx's error if it ended first.
func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return context.Cause(ctx)
	case <-t.C:
		return nil
	}
}

// splitVersion splits `templates/{template}/versions/{version}`.
func splitVersion(name string) (template, version string, ok bool) {
	parts := strings.Split(name, "/")
	if len(parts) != 4 || parts[0] != "templates" || parts[2] != "versions" || parts[1] == "" || parts[3] == "" {
		return "", "", false
	}
	return parts[1], parts[3], true
}

// revisionNumber reads an app's revision id, a number or a revision name ending in one.
func revisionNumber(revision string) (int64, error) {
	n, err := strconv.ParseInt(revision[strings.LastIndex(revision, "/")+1:], 10, 64)
	if err != nil {
		return 0, fmt.Errorf("unreadable app revision %q", revision)
	}
	return n, nil
}
