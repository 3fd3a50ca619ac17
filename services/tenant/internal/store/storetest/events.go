package storetest

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"google.golang.org/protobuf/encoding/prototext"
	"google.golang.org/protobuf/proto"

	tenantv1 "github.com/oriel-dev/oriel/gen/pb/oriel/tenant/v1"
	"github.com/oriel-dev/oriel/platform/testkit"
	"github.com/oriel-dev/oriel/services/tenant/internal/store"
)

var eventBehaviours = []behaviour{
	{"append then list round-trips every CloudEvents field", appendThenListRoundTripsEveryField},
	{"events list oldest first with strictly increasing seq", eventsListOldestFirst},
	{"a tenant id selects that tenant's events only", tenantIDSelectsItsEvents},
	{"after seq and limit page through every event exactly once", eventsPageBySeq},
	{"an event appended in a rolled-back transaction is never listed", rolledBackEventIsNeverListed},
	{"a reader paging by seq never passes over an event still being committed", readerNeverPassesUncommittedEvent},
}

// newEvent is the outbox event of tn's change verb at `at`, as the API builds it.
func newEvent(tn *tenantv1.Tenant, verb string, at time.Time) *tenantv1.TenantEvent {
	return store.NewEvent(testkit.UniqueID("evt"), verb, at, clone(tn))
}

// appendEvents appends events in one transaction.
func appendEvents(ctx context.Context, s store.Store, events ...*tenantv1.TenantEvent) error {
	return s.ReadWriteTx(ctx, func(ctx context.Context, tx store.Tx) error {
		for _, e := range events {
			if err := tx.AppendEvent(ctx, e); err != nil {
				return err
			}
		}
		return nil
	})
}

// mustAppendEvents is appendEvents that fails the test on error.
func mustAppendEvents(t *testing.T, s store.Store, events ...*tenantv1.TenantEvent) {
	t.Helper()
	if err := appendEvents(t.Context(), s, events...); err != nil {
		t.Fatalf("AppendEvent: %v", err)
	}
}

// listEvents is ListEvents that fails the test on error.
func listEvents(t *testing.T, s store.Store, q store.EventQuery) []store.Event {
	t.Helper()
	events, err := s.ListEvents(t.Context(), q)
	if err != nil {
		t.Fatalf("ListEvents(%+v): %v", q, err)
	}
	return events
}

// walkEvents pages through the events q selects, limit at a time from q.AfterSeq, checking
// that every page is as full as it can be and that seq only grows.
func walkEvents(t *testing.T, s store.Store, q store.EventQuery) []store.Event {
	t.Helper()
	var all []store.Event
	for {
		page := listEvents(t, s, q)
		if len(page) > q.Limit {
			t.Fatalf("ListEvents(%+v) returned %d events, more than the limit", q, len(page))
		}
		for _, e := range page {
			if e.Seq <= q.AfterSeq {
				t.Fatalf("ListEvents(%+v) returned seq %d, not after %d", q, e.Seq, q.AfterSeq)
			}
			q.AfterSeq = e.Seq
		}
		all = append(all, page...)
		if len(page) < q.Limit {
			return all
		}
	}
}

// tenantEvents is every event of tenantID.
func tenantEvents(t *testing.T, s store.Store, tenantID string) []store.Event {
	t.Helper()
	return walkEvents(t, s, store.EventQuery{TenantID: tenantID, Limit: 100})
}

// eventsOf is every event, of any tenant, whose id is in ids, in listing order; other
// behaviours' events are left out in case the store is shared.
func eventsOf(t *testing.T, s store.Store, after int64, ids ...string) []store.Event {
	t.Helper()
	all := walkEvents(t, s, store.EventQuery{AfterSeq: after, Limit: 100})
	return slices.DeleteFunc(all, func(e store.Event) bool { return !slices.Contains(ids, e.Event.GetId()) })
}

// requireEvents fails the test unless got holds want, in order, with strictly increasing seq.
func requireEvents(t *testing.T, what string, want []*tenantv1.TenantEvent, got []store.Event) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%s: %d events, want %d:\ngot ids  %q\nwant ids %q", what, len(got), len(want), eventIDs(got), wantIDs(want))
	}
	for i := range want {
		if !proto.Equal(want[i], got[i].Event) {
			t.Fatalf("%s: event %d:\ngot:\n%s\nwant:\n%s", what, i, prototext.Format(got[i].Event), prototext.Format(want[i]))
		}
		if i > 0 && got[i].Seq <= got[i-1].Seq {
			t.Fatalf("%s: event %d has seq %d after seq %d, want strictly increasing", what, i, got[i].Seq, got[i-1].Seq)
		}
	}
}

func eventIDs(events []store.Event) []string {
	ids := make([]string, len(events))
	for i, e := range events {
		ids[i] = e.Event.GetId()
	}
	return ids
}

func wantIDs(events []*tenantv1.TenantEvent) []string {
	ids := make([]string, len(events))
	for i, e := range events {
		ids[i] = e.GetId()
	}
	return ids
}

func appendThenListRoundTripsEveryField(t *testing.T, s store.Store) {
	tn := deactivated(newTenant("event-fields"), epoch.Add(time.Hour), epoch.Add(30*24*time.Hour))
	var created *tenantv1.TenantEvent
	err := s.ReadWriteTx(t.Context(), func(ctx context.Context, tx store.Tx) error {
		if err := tx.CreateTenant(ctx, tn); err != nil {
			return err
		}
		// Appended after the create, as the API does, so the data carries the etag.
		created = newEvent(tn, "created", epoch.Add(13*time.Microsecond))
		return tx.AppendEvent(ctx, created)
	})
	if err != nil {
		t.Fatalf("create with event: %v", err)
	}
	want := clone(tn)
	if want.GetEtag() == "" {
		t.Fatal("the tenant had no etag when its event was appended")
	}
	got := listEvents(t, s, store.EventQuery{TenantID: idOf(tn), Limit: 10})
	requireEvents(t, "ListEvents", []*tenantv1.TenantEvent{created}, got)

	// proto.Equal above already compared every field; these are spelled out because
	// consumers depend on them being CloudEvents 1.0 attributes.
	e := got[0].Event
	for _, attr := range []struct{ name, got, want string }{
		{"spec_version", e.GetSpecVersion(), "1.0"},
		{"type", e.GetType(), "dev.oriel.tenant.created"},
		{"source", e.GetSource(), store.EventSource},
		{"subject", e.GetSubject(), tn.GetName()},
		{"id", e.GetId(), created.GetId()},
	} {
		if attr.got != attr.want {
			t.Errorf("%s = %q, want %q", attr.name, attr.got, attr.want)
		}
	}
	if !e.GetTime().AsTime().Equal(epoch.Add(13 * time.Microsecond)) {
		t.Errorf("time = %v, want %v", e.GetTime().AsTime(), epoch.Add(13*time.Microsecond))
	}
	testkit.RequireProto(t, "the event's data", want, e.GetData())
}

func eventsListOldestFirst(t *testing.T, s store.Store) {
	a, b := newTenant("events-a"), newTenant("events-b")
	// Event times run backwards: the order is the order of appending, which a wall clock
	// stepping back between replicas must not change.
	var (
		aCreated  = newEvent(a, "created", epoch.Add(5*time.Minute))
		bCreated  = newEvent(b, "created", epoch.Add(4*time.Minute))
		aUpdated  = newEvent(a, "updated", epoch.Add(3*time.Minute))
		bUpdated  = newEvent(b, "updated", epoch.Add(2*time.Minute))
		aDeactive = newEvent(a, "deactivated", epoch.Add(time.Minute))
	)
	mustAppendEvents(t, s, aCreated)
	mustAppendEvents(t, s, bCreated)
	mustAppendEvents(t, s, aUpdated, bUpdated)
	mustAppendEvents(t, s, aDeactive)

	want := []*tenantv1.TenantEvent{aCreated, bCreated, aUpdated, bUpdated, aDeactive}
	requireEvents(t, "every tenant's events", want, eventsOf(t, s, 0, wantIDs(want)...))
}

func tenantIDSelectsItsEvents(t *testing.T, s store.Store) {
	a, b, quiet := newTenant("events-a"), newTenant("events-b"), newTenant("events-quiet")
	var (
		aCreated = newEvent(a, "created", epoch)
		bCreated = newEvent(b, "created", epoch)
		aUpdated = newEvent(a, "updated", epoch.Add(time.Second))
		bUpdated = newEvent(b, "updated", epoch.Add(time.Second))
	)
	mustAppendEvents(t, s, aCreated, bCreated)
	mustAppendEvents(t, s, aUpdated, bUpdated)

	for _, tc := range []struct {
		tenant *tenantv1.Tenant
		want   []*tenantv1.TenantEvent
	}{
		{a, []*tenantv1.TenantEvent{aCreated, aUpdated}},
		{b, []*tenantv1.TenantEvent{bCreated, bUpdated}},
		{quiet, nil},
	} {
		requireEvents(t, "events of "+tc.tenant.GetName(), tc.want, tenantEvents(t, s, idOf(tc.tenant)))
	}
}

func eventsPageBySeq(t *testing.T, s store.Store) {
	tn := newTenant("events-paged")
	var want []*tenantv1.TenantEvent
	for i := range 7 {
		e := newEvent(tn, "updated", epoch.Add(time.Duration(i)*time.Second))
		mustAppendEvents(t, s, e)
		want = append(want, e)
	}
	for _, limit := range []int{1, 2, 3, 7, 8} {
		got := walkEvents(t, s, store.EventQuery{TenantID: idOf(tn), Limit: limit})
		requireEvents(t, fmt.Sprintf("events walked %d at a time", limit), want, got)
	}
}

func rolledBackEventIsNeverListed(t *testing.T, s store.Store) {
	tn := newTenant("events-rollback")
	before, after := newEvent(tn, "created", epoch), newEvent(tn, "updated", epoch.Add(2*time.Second))
	mustAppendEvents(t, s, before)

	errAbort := errors.New("abort")
	err := s.ReadWriteTx(t.Context(), func(ctx context.Context, tx store.Tx) error {
		if err := tx.AppendEvent(ctx, newEvent(tn, "updated", epoch.Add(time.Second))); err != nil {
			t.Errorf("AppendEvent: %v", err)
		}
		return errAbort
	})
	testkit.RequireErrorIs(t, "ReadWriteTx", err, errAbort)
	mustAppendEvents(t, s, after)

	requireEvents(t, "events around a rolled-back one", []*tenantv1.TenantEvent{before, after}, tenantEvents(t, s, idOf(tn)))
}

// readerNeverPassesUncommittedEvent is what makes ListEvents usable as a feed: a reader
// that has seen seq n and asks for events after n must get every event committed since,
// so no event may commit with a lower seq than one a reader could already have seen.
func readerNeverPassesUncommittedEvent(t *testing.T, s store.Store) {
	slow, fast := newTenant("events-slow"), newTenant("events-fast")
	slowEvent, fastEvent := newEvent(slow, "created", epoch), newEvent(fast, "created", epoch)

	appended, release := make(chan struct{}), make(chan struct{})
	releaseOnce := sync.OnceFunc(func() { close(release) })
	defer releaseOnce() // a failing test must not leave the first writer's transaction open
	slowDone, fastDone := make(chan error, 1), make(chan error, 1)
	go func() {
		slowDone <- s.ReadWriteTx(t.Context(), func(ctx context.Context, tx store.Tx) error {
			err := tx.AppendEvent(ctx, slowEvent)
			close(appended)
			// Bounded: in a shared store, writers queued behind this one can take every
			// pooled connection, leaving the reader none until this commits.
			select {
			case <-release:
			case <-time.After(5 * time.Second):
			}
			return err
		})
	}()
	<-appended
	go func() { fastDone <- appendEvents(t.Context(), s, fastEvent) }()

	// A store may hold the second writer back until the first commits (then this waits
	// out the grace period); if it lets it commit first, the reader below sees its event.
	select {
	case err := <-fastDone:
		fastDone <- err
	case <-time.After(500 * time.Millisecond):
	}
	ids := []string{slowEvent.GetId(), fastEvent.GetId()}
	first := eventsOf(t, s, 0, ids...)
	var cursor int64
	for _, e := range first {
		cursor = max(cursor, e.Seq)
	}

	releaseOnce()
	if err := <-slowDone; err != nil {
		t.Fatalf("first writer: %v", err)
	}
	if err := <-fastDone; err != nil {
		t.Fatalf("second writer: %v", err)
	}
	next := eventsOf(t, s, cursor, ids...)
	if got := append(eventIDs(first), eventIDs(next)...); len(got) != len(ids) {
		t.Fatalf("a reader saw %q, continued after seq %d and saw %q: %d of the %d committed events, want all",
			eventIDs(first), cursor, eventIDs(next), len(got), len(ids))
	}
}
