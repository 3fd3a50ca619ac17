package purge_test

import (
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/oriel-dev/oriel/platform/testkit"
	"github.com/oriel-dev/oriel/services/content/internal/blob"
	"github.com/oriel-dev/oriel/services/content/internal/purge"
	"github.com/oriel-dev/oriel/services/content/internal/store"
)

// inUse is the part of a store the sweeper reads: which snapshots apps serve.
type inUse struct {
	store.Store
	keys map[string]bool
}

func (u inUse) SnapshotKeys(context.Context) (map[string]bool, error) { return u.keys, nil }

// TestSnapshotSweepDeletesOnlyOldUnusedSnapshots: snapshots no app serves go once older
// than the grace period; those in use, and young ones (a reload about to finish), stay.
func TestSnapshotSweepDeletesOnlyOldUnusedSnapshots(t *testing.T) {
	ctx := context.Background()
	root := t.TempDir()
	blobs, err := blob.NewDir(root)
	if err != nil {
		t.Fatal(err)
	}
	old := time.Now().Add(-time.Hour)
	for key, age := range map[string]time.Time{
		"acme/sales/r1.snapshot": old,                              // in use
		"acme/sales/r0.snapshot": old,                              // replaced: unused and old
		"gone/app/r1.snapshot":   old,                              // of a purged tenant
		"acme/sales/r2.snapshot": time.Now(),                       // just saved by a reload about to finish
		"acme/other/r9.snapshot": time.Now().Add(-5 * time.Minute), // young too
	} {
		if _, err := blobs.Put(ctx, key, strings.NewReader("model")); err != nil {
			t.Fatal(err)
		}
		if err := os.Chtimes(filepath.Join(root, filepath.FromSlash(key)), age, age); err != nil {
			t.Fatal(err)
		}
	}
	// Puts a crash interrupted are not blobs: the sweep removes those untouched for the
	// grace period, and leaves one still being written.
	crashed, writing := filepath.Join(root, "acme", "sales", ".put-123"), filepath.Join(root, "gone", "app", ".put-456")
	for _, f := range []string{crashed, writing} {
		if err := os.WriteFile(f, []byte("half"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Chtimes(crashed, old, old); err != nil {
		t.Fatal(err)
	}
	st := inUse{keys: map[string]bool{"acme/sales/r1.snapshot": true}}
	sweeper := purge.NewSnapshotSweeper(st, blobs, slog.New(slog.NewTextHandler(&testkit.LogBuffer{}, nil)), nil, 10*time.Minute)
	n, err := sweeper.Sweep(ctx)
	testkit.RequireNoError(t, "Sweep", err)
	testkit.RequireEqual(t, "snapshots deleted", 2, n)
	var left []string
	err = blobs.Walk(ctx, func(key string, _ time.Time) error { left = append(left, key); return nil })
	testkit.RequireNoError(t, "Walk", err)
	testkit.RequireStrings(t, "snapshots left", []string{"acme/other/r9.snapshot", "acme/sales/r1.snapshot", "acme/sales/r2.snapshot"}, slices.Sorted(slices.Values(left)))
	if _, err := os.Stat(crashed); !os.IsNotExist(err) {
		t.Errorf("the interrupted put's file is still there (%v)", err)
	}
	if _, err := os.Stat(writing); err != nil {
		t.Errorf("the put still being written was removed: %v", err)
	}
	n, err = sweeper.Sweep(ctx)
	testkit.RequireNoError(t, "a second Sweep", err)
	testkit.RequireEqual(t, "snapshots deleted by a second sweep", 0, n)
}
