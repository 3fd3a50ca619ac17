package sessions_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/oriel-dev/oriel/services/identity/internal/sessions"
	"github.com/oriel-dev/oriel/services/identity/internal/sessions/sessionstest"
)

func TestMemoryStore(t *testing.T) {
	sessionstest.Run(t, func(t *testing.T) (sessions.Store, sessionstest.Clock) {
		clock := sessionstest.NewFakeClock(time.Now())
		return sessions.NewMemory(clock.Now), clock
	})
}

func TestMemorySweepFreesExpiredEntriesNobodyReadsAgain(t *testing.T) {
	clock := sessionstest.NewFakeClock(time.Now())
	s := sessions.NewMemory(clock.Now)
	ctx := context.Background()
	const n = 100
	for i := range n {
		now := clock.Now()
		err := s.Put(ctx, fmt.Sprintf("h%d", i), &sessions.Session{
			Tenant: "t", User: fmt.Sprintf("u%d", i%7), ExpireTime: now.Add(time.Second),
		})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := s.UseJTI(ctx, "t", fmt.Sprintf("j%d", i), now.Add(time.Second)); err != nil {
			t.Fatal(err)
		}
	}
	live := &sessions.Session{Tenant: "t", User: "u0", ExpireTime: clock.Now().Add(time.Hour)}
	if err := s.Put(ctx, "live", live); err != nil {
		t.Fatal(err)
	}
	if got, idx, jtis := sessions.MemoryEntries(s); got != n+1 || idx != 7 || jtis != n {
		t.Fatalf("before expiry: %d sessions, %d indexes, %d jtis", got, idx, jtis)
	}

	// Expired but not yet due for a sweep: entries stay until read or swept.
	clock.Advance(2 * time.Second)
	if _, err := s.State(ctx, "t", "u0"); err == nil {
		t.Fatal("state of an unloaded tenant")
	}
	if got, _, _ := sessions.MemoryEntries(s); got != n+1 {
		t.Fatalf("swept early: %d sessions", got)
	}

	clock.Advance(sessions.SweepEvery)
	if _, _, err := s.Get(ctx, "t", "unknown"); err == nil {
		t.Fatal("Get of an unknown hash succeeded")
	}
	if got, idx, jtis := sessions.MemoryEntries(s); got != 1 || idx != 1 || jtis != 0 {
		t.Fatalf("after the sweep: %d sessions, %d indexes, %d jtis; want 1, 1, 0", got, idx, jtis)
	}
}

func TestMemoryRefusesACancelledContext(t *testing.T) {
	s := sessions.NewMemory(time.Now)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, _, err := s.Get(ctx, "t", "h"); err == nil || err == sessions.ErrNotFound {
		t.Fatalf("Get with a cancelled context: %v", err)
	}
}
