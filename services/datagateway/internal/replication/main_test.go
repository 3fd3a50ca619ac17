package replication_test

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"syscall"
	"testing"
	"time"

	"github.com/oriel-dev/oriel/platform/sqlstore"
	"github.com/oriel-dev/oriel/services/datagateway/internal/replication"
	"github.com/oriel-dev/oriel/services/datagateway/internal/store"
)

// workerEnv, when set, makes the test binary a replication worker instead of running
// tests: the kill -9 test starts and kills such workers. It holds a workerConfig as JSON.
const workerEnv = "ORIEL_TEST_REPLICATION_WORKER"

// workerConfig is what a worker process needs: the store and the connections.
type workerConfig struct {
	StoreURL string            `json:"store_url"`
	Sources  map[string]string `json:"sources"` // connection id → database URL
	Owner    string            `json:"owner"`
	Lease    time.Duration     `json:"lease"`
	// SnapshotTableDelay slows each table's copy, so kills land mid-snapshot.
	SnapshotTableDelay time.Duration `json:"snapshot_table_delay"`
}

func TestMain(m *testing.M) {
	if cfg := os.Getenv(workerEnv); cfg != "" {
		os.Exit(runWorker(cfg))
	}
	os.Exit(m.Run())
}

// runWorker runs an engine until the process is killed (or stopped with SIGTERM).
func runWorker(raw string) int {
	var cfg workerConfig
	if err := json.Unmarshal([]byte(raw), &cfg); err != nil {
		fmt.Fprintln(os.Stderr, "worker config:", err)
		return 2
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()
	db, err := sqlstore.Open(ctx, cfg.StoreURL, sqlstore.Options{Schema: "datagateway"})
	if err != nil {
		fmt.Fprintln(os.Stderr, "worker store:", err)
		return 2
	}
	defer db.Close()
	srcs := sources{}
	for id, u := range cfg.Sources {
		srcs[id] = sourceOf(workerTB{}, u)
	}
	if cfg.SnapshotTableDelay > 0 {
		replication.SetSnapshotTableHook(func(string) { time.Sleep(cfg.SnapshotTableDelay) })
	}
	log := slog.New(slog.NewTextHandler(os.Stderr, nil))
	err = replication.New(replication.Options{
		Store:          store.New(db, nil),
		Sources:        srcs,
		Log:            log,
		Owner:          cfg.Owner,
		Lease:          cfg.Lease,
		Poll:           25 * time.Millisecond,
		StatusInterval: 100 * time.Millisecond,
		MaxRetryDelay:  200 * time.Millisecond,
	}).Run(ctx)
	if err != nil {
		fmt.Fprintln(os.Stderr, "worker:", err)
		return 1
	}
	return 0
}

// workerTB lets sourceOf run outside a test.
type workerTB struct{ testing.TB }

func (workerTB) Helper() {}
func (workerTB) Fatalf(format string, args ...any) {
	fmt.Fprintf(os.Stderr, format+"\n", args...)
	os.Exit(2)
}
