package replication

import (
	"context"
	"errors"
	"log/slog"
	"regexp"
	"time"
)

// validSlot is what PostgreSQL accepts as a slot name.
var validSlot = regexp.MustCompile(`^[a-z0-9_]{1,63}$`)

// Why a run was cancelled by its lease keeper.
var (
	errPaused   = errors.New("replication paused")
	errDeleting = errors.New("replication being deleted")
)

// storeTimeout bounds store calls made after the run's context is gone.
const storeTimeout = 5 * time.Second

// drive runs one claimed replication until it stops, then settles its lease.
func (e *Engine) drive(ctx context.Context, job *Job) {
	log := e.log.With("replication", job.Name())
	runCtx, cancel := context.WithCancelCause(ctx)
	keeperDone := make(chan struct{})
	go func() {
		defer close(keeperDone)
		e.keepLease(runCtx, cancel, job, log)
	}()

	var err error
	if !validSlot.MatchString(job.SlotName) {
		// Slot names are spliced into replication commands, which take no parameters.
		err = stopf("the replication's slot name %q is not a valid slot name", job.SlotName)
	} else if job.Deleting {
		log.Info("deleting replication")
		err = e.deleteAtSource(runCtx, job)
	} else {
		log.Info("running replication", "state", job.State)
		r := &run{e: e, job: job, log: log}
		err = r.replicate(runCtx)
	}
	cause := context.Cause(runCtx)
	cancel(nil)
	<-keeperDone

	switch {
	case errors.Is(cause, ErrLeaseLost):
		log.Warn("lost the lease; another replica takes over")
	case ctx.Err() != nil:
		// Shutting down: hand the replication to another replica at once.
		e.release(job, e.opts.Now(), "")
	case errors.Is(cause, errPaused):
		log.Info("replication paused")
		e.release(job, e.opts.Now(), "")
	case errors.Is(cause, errDeleting):
		// The next claim picks it up as deleting.
		e.release(job, e.opts.Now(), "")
	case job.Deleting && err != nil:
		// Never FAILED: a deleting replication is retried until its slot is gone.
		delay := e.retryDelay(job)
		log.Warn("delete replication; retrying", "error", err, "retry_in", delay)
		e.release(job, e.opts.Now().Add(delay), describe(err))
	case job.Deleting:
		sctx, scancel := context.WithTimeout(context.Background(), storeTimeout)
		defer scancel()
		if ferr := e.opts.Store.FinishDelete(sctx, job.Tenant, job.ID, e.opts.Owner); ferr != nil {
			log.Error("finish deleting replication", "error", ferr)
			return
		}
		log.Info("replication deleted")
	case err == nil:
		// replicate only returns nil when cancelled; treat it as a release.
		e.release(job, e.opts.Now(), "")
	default:
		var stop *stopError
		if errors.As(err, &stop) {
			log.Warn("replication failed", "error", err)
			sctx, scancel := context.WithTimeout(context.Background(), storeTimeout)
			defer scancel()
			if ferr := e.opts.Store.Fail(sctx, job.Tenant, job.ID, e.opts.Owner, stop.msg); ferr != nil {
				log.Error("record replication failure", "error", ferr)
			}
			return
		}
		delay := e.retryDelay(job)
		log.Warn("replication stopped; retrying", "error", err, "retry_in", delay)
		e.release(job, e.opts.Now().Add(delay), describe(err))
	}
}

// keepLease renews the lease every third of it and cancels the run when the replication
// is paused or deleted, or when the lease can no longer be counted on.
func (e *Engine) keepLease(ctx context.Context, cancel context.CancelCauseFunc, job *Job, log *slog.Logger) {
	every := e.opts.Lease / 3
	// The lease runs from the claim; count from before our own first renewal.
	valid := e.opts.Now().Add(e.opts.Lease)
	ticker := time.NewTicker(every)
	defer ticker.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-ticker.C:
		}
		sent := e.opts.Now()
		rctx, rcancel := context.WithTimeout(ctx, every)
		ctl, err := e.opts.Store.Renew(rctx, job.Tenant, job.ID, e.opts.Owner, e.opts.Lease)
		rcancel()
		switch {
		case errors.Is(err, ErrLeaseLost):
			cancel(ErrLeaseLost)
			return
		case err != nil:
			if ctx.Err() != nil {
				return
			}
			log.Warn("renew the lease", "error", err)
			// Stop before another replica may take the replication over.
			if !e.opts.Now().Add(every).Before(valid) {
				cancel(ErrLeaseLost)
				return
			}
			continue
		}
		valid = sent.Add(e.opts.Lease)
		if ctl.Deleting && !job.Deleting {
			cancel(errDeleting)
			return
		}
		if ctl.Paused && !job.Deleting {
			cancel(errPaused)
			return
		}
	}
}

// release gives the lease up, after the run's context is gone.
func (e *Engine) release(job *Job, retryAt time.Time, lastError string) {
	ctx, cancel := context.WithTimeout(context.Background(), storeTimeout)
	defer cancel()
	err := e.opts.Store.Release(ctx, job.Tenant, job.ID, e.opts.Owner, retryAt, lastError)
	if err != nil && !errors.Is(err, ErrLeaseLost) {
		e.log.Error("release a replication", "replication", job.Name(), "error", err)
	}
}

// retryDelay doubles from 1 s with each consecutive failure, up to MaxRetryDelay.
func (e *Engine) retryDelay(job *Job) time.Duration {
	e.mu.Lock()
	defer e.mu.Unlock()
	n := e.failures[job.Name()]
	e.failures[job.Name()] = n + 1
	d := time.Second
	for range n {
		d *= 2
		if d >= e.opts.MaxRetryDelay {
			return e.opts.MaxRetryDelay
		}
	}
	return min(d, e.opts.MaxRetryDelay)
}

// healthy forgets a replication's past failures once it streams again.
func (e *Engine) healthy(job *Job) {
	e.mu.Lock()
	delete(e.failures, job.Name())
	e.mu.Unlock()
}
