package purge

import (
	"context"
	"log/slog"
	"time"

	"github.com/oriel-dev/oriel/services/content/internal/blob"
	"github.com/oriel-dev/oriel/services/content/internal/store"
)

// SnapshotSweeper deletes the snapshots no app serves any more: those of purged apps and
// tenants (whose model pointers went with them), of reloads that ended before they could
// finish, and any a crash left behind, half-written ones included. A snapshot is written just before its reload
// finishes, so only snapshots older than a grace period are swept: a reload finishing
// right now never loses the snapshot it is about to point to.
type SnapshotSweeper struct {
	store store.Store
	blobs blob.Store
	log   *slog.Logger
	now   func() time.Time
	grace time.Duration
}

// NewSnapshotSweeper returns a sweeper that spares snapshots younger than grace.
func NewSnapshotSweeper(st store.Store, blobs blob.Store, log *slog.Logger, now func() time.Time, grace time.Duration) *SnapshotSweeper {
	if now == nil {
		now = time.Now
	}
	return &SnapshotSweeper{store: st, blobs: blobs, log: log, now: now, grace: grace}
}

// Sweep deletes the unused snapshots older than the grace period and returns how many.
func (s *SnapshotSweeper) Sweep(ctx context.Context) (int, error) {
	// The keys in use are read before the blobs are listed: a snapshot that becomes an
	// app's after this read is younger than the grace period, so it is spared anyway.
	used, err := s.store.SnapshotKeys(ctx)
	if err != nil {
		return 0, err
	}
	before := s.now().Add(-s.grace)
	deleted := 0
	err = s.blobs.Walk(ctx, func(key string, written time.Time) error {
		if used[key] || written.After(before) {
			return nil
		}
		if err := s.blobs.Delete(ctx, key); err != nil {
			return err
		}
		deleted++
		return nil
	})
	if deleted > 0 {
		s.log.InfoContext(ctx, "unused snapshots deleted", "snapshots", deleted)
	}
	if err != nil {
		return deleted, err
	}
	// What a crash left of snapshots being written: a reload writes its snapshot without
	// pause, so a temporary file untouched for the grace period belongs to no live reload.
	abandoned, err := s.blobs.RemoveAbandoned(ctx, before)
	if abandoned > 0 {
		s.log.InfoContext(ctx, "abandoned snapshot writes deleted", "files", abandoned)
	}
	return deleted, err
}

// Every returns a server.Worker that sweeps at once and then every interval.
func (s *SnapshotSweeper) Every(interval time.Duration) func(context.Context) error {
	return func(ctx context.Context) error {
		return repeat(ctx, interval, func(ctx context.Context) {
			if _, err := s.Sweep(ctx); err != nil && ctx.Err() == nil {
				s.log.ErrorContext(ctx, "snapshot sweep failed; retrying at the next tick", "error", err)
			}
		})
	}
}
