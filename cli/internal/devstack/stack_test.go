package devstack_test

import (
	"context"
	"log/slog"
	"testing"

	"github.com/oriel-dev/oriel/cli/internal/devstack"
	"github.com/oriel-dev/oriel/platform/testkit"
)

// startStack runs the whole stack for one test or benchmark on a fresh PostgreSQL
// database, or on SQLite in a temporary data folder when sqlite is true.
func startStack(tb testing.TB, sqlite bool) *devstack.Stack {
	tb.Helper()
	cfg := devstack.Config{DataDir: tb.TempDir()}
	if !sqlite {
		cfg.DatabaseURL = testkit.PostgresDatabase(tb)
	}
	stack, err := devstack.Start(context.Background(), cfg, slog.New(slog.DiscardHandler))
	if err != nil {
		tb.Fatalf("start stack: %v", err)
	}
	tb.Cleanup(func() {
		if err := stack.Stop(); err != nil {
			tb.Errorf("stop stack: %v", err)
		}
	})
	return stack
}

func startBenchStack(b *testing.B) *devstack.Stack { return startStack(b, false) }
