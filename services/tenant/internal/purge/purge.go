// Package purge deletes tenants whose purge time has passed. Any number of replicas may
// run it at once: each purge is one conditional update, so a tenant is purged, and its
// purged event written, exactly once.
package purge

import (
	"context"
	"errors"
	"log/slog"
	"time"

	"github.com/google/uuid"

	"github.com/oriel-dev/oriel/services/tenant/internal/store"
)

// Worker purges due tenants.
type Worker struct {
	store    store.Store
	log      *slog.Logger
	now      func() time.Time
	interval time.Duration
	batch    int
}

// New returns a worker that looks for due tenants every interval.
func New(st store.Store, log *slog.Logger, now func() time.Time, interval time.Duration) *Worker {
	return &Worker{store: st, log: log, now: now, interval: interval, batch: 100}
}

// Run purges due tenants every interval until ctx is done. Failures are logged and retried
// at the next tick: a database blip must not stop the service.
func (w *Worker) Run(ctx context.Context) error {
	t := time.NewTicker(w.interval)
	defer t.Stop()
	for {
		if n, err := w.PurgeDue(ctx); err != nil && ctx.Err() == nil {
			w.log.Error("purge failed; retrying at the next tick", "error", err, "purged", n)
		}
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}

// PurgeDue purges every tenant due now and returns how many this call purged (tenants
// another worker purged first are not counted).
func (w *Worker) PurgeDue(ctx context.Context) (int, error) {
	purged := 0
	for {
		now := w.now().UTC().Truncate(time.Microsecond)
		ids, err := w.store.PurgeCandidates(ctx, now, w.batch)
		if err != nil {
			return purged, err
		}
		for _, id := range ids {
			err := w.store.ReadWriteTx(ctx, func(ctx context.Context, tx store.Tx) error {
				tomb, err := tx.PurgeTenant(ctx, id, now)
				if err != nil {
					return err
				}
				return tx.AppendEvent(ctx, store.NewEvent(uuid.Must(uuid.NewV7()).String(), "purged", now, tomb))
			})
			switch {
			case errors.Is(err, store.ErrNotFound):
				// Another worker purged it, or it was reactivated in between.
			case err != nil:
				return purged, err
			default:
				purged++
				w.log.InfoContext(ctx, "tenant purged", "tenant", store.TenantName(id))
			}
		}
		if len(ids) < w.batch {
			return purged, nil
		}
	}
}
