// Package purge removes content that is gone for good: apps deleted longer ago than they
// may be restored (Worker), and everything of a tenant the tenant service purged
// (TenantFollower). Both only ever delete what is already due, so any number of replicas
// may run them at once and running one twice changes nothing.
package purge

import (
	"context"
	"log/slog"
	"time"

	"github.com/oriel-dev/oriel/services/content/internal/store"
)

// DefaultInterval is how often the workers look for due work unless told otherwise.
const DefaultInterval = time.Minute

// appBatch is how many apps one purge statement deletes: small enough that a backlog
// (after downtime) never holds long locks, large enough to clear it in few round trips.
const appBatch = 100

// Worker purges deleted apps whose purge time has passed, with their revisions.
type Worker struct {
	store    store.Store
	log      *slog.Logger
	now      func() time.Time
	interval time.Duration
}

// New returns a worker that looks for due apps every interval (DefaultInterval when 0);
// now is the clock (time.Now when nil).
func New(st store.Store, log *slog.Logger, now func() time.Time, interval time.Duration) *Worker {
	if now == nil {
		now = time.Now
	}
	if interval <= 0 {
		interval = DefaultInterval
	}
	return &Worker{store: st, log: log, now: now, interval: interval}
}

// Run purges due apps at once and then every interval until ctx is done; it is a
// server.Worker. Failures are logged and retried at the next tick: a database blip must
// not stop the service.
func (w *Worker) Run(ctx context.Context) error {
	return repeat(ctx, w.interval, func(ctx context.Context) {
		if n, err := w.PurgeDue(ctx); err != nil && ctx.Err() == nil {
			w.log.ErrorContext(ctx, "app purge failed; retrying at the next tick", "error", err, "purged", n)
		}
	})
}

// repeat runs fn at once and then every interval until ctx is done, and returns nil: the
// purge workers log their failures and try again at the next tick, since a database or a
// service being down for a while must not stop content.
func repeat(ctx context.Context, interval time.Duration, fn func(context.Context)) error {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		fn(ctx)
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}

// PurgeDue purges every app due now, batch after batch, and returns how many it purged.
func (w *Worker) PurgeDue(ctx context.Context) (int, error) {
	purged := 0
	for {
		now := w.now().UTC().Truncate(time.Microsecond)
		n, err := w.store.PurgeDeletedApps(ctx, now, appBatch)
		purged += n
		if err != nil {
			return purged, err
		}
		if n < appBatch {
			if purged > 0 {
				w.log.InfoContext(ctx, "deleted apps purged", "apps", purged)
			}
			return purged, nil
		}
	}
}
