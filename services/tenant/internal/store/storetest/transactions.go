package storetest

import (
	"context"
	"errors"
	"runtime"
	"testing"

	tenantv1 "github.com/oriel-dev/oriel/gen/pb/oriel/tenant/v1"
	"github.com/oriel-dev/oriel/platform/testkit"
	"github.com/oriel-dev/oriel/services/tenant/internal/store"
)

var transactionBehaviours = []behaviour{
	{"commits when fn returns nil", commitsWhenFnReturnsNil},
	{"rolls back when fn fails and returns its error", rollsBackWhenFnFails},
	{"rolls back and re-panics when fn panics", rollsBackWhenFnPanics},
	{"rolls back when fn never returns because its goroutine exits", rollsBackWhenFnExitsItsGoroutine},
	{"a transaction reads its own writes", transactionReadsItsOwnWrites},
}

// writeSet is one of each kind of write a transaction can make, as CreateTenant makes them.
type writeSet struct {
	tenant  *tenantv1.Tenant
	event   *tenantv1.TenantEvent
	request *store.Request
}

func newWriteSet(prefix string) writeSet {
	tn := newTenant(prefix)
	return writeSet{
		tenant: tn,
		event:  newEvent(tn, "created", epoch),
		request: &store.Request{
			Principal:   newPrincipal(),
			RequestID:   testkit.UniqueID("request"),
			Fingerprint: "sha256:" + idOf(tn),
			TenantID:    idOf(tn),
			CreateTime:  epoch,
		},
	}
}

// write makes every write of w through tx, in the API's order.
func (w writeSet) write(ctx context.Context, tx store.Tx) error {
	if err := tx.PutRequest(ctx, w.request); err != nil {
		return err
	}
	if err := tx.CreateTenant(ctx, w.tenant); err != nil {
		return err
	}
	w.event.Data = clone(w.tenant)
	return tx.AppendEvent(ctx, w.event)
}

// requireVisible fails the test unless every write of w is committed.
func (w writeSet) requireVisible(t *testing.T, s store.Store) {
	t.Helper()
	mustGet(t, s, idOf(w.tenant))
	if got := tenantEvents(t, s, idOf(w.tenant)); len(got) != 1 {
		t.Fatalf("%d events of %s listed, want 1", len(got), w.tenant.GetName())
	}
	if _, err := getRequest(t.Context(), s, w.request.Principal, w.request.RequestID); err != nil {
		t.Fatalf("GetRequest after commit: %v", err)
	}
}

// requireInvisible fails the test if any write of w is visible, then proves the store is
// still usable and every id, hostname and key of w free, by making them all again.
func (w writeSet) requireInvisible(t *testing.T, s store.Store) {
	t.Helper()
	_, err := s.GetTenant(t.Context(), idOf(w.tenant))
	testkit.RequireErrorIs(t, "GetTenant after rollback", err, store.ErrNotFound)
	if got := tenantEvents(t, s, idOf(w.tenant)); len(got) != 0 {
		t.Fatalf("%d events of %s listed after rollback, want none", len(got), w.tenant.GetName())
	}
	_, err = getRequest(t.Context(), s, w.request.Principal, w.request.RequestID)
	testkit.RequireErrorIs(t, "GetRequest after rollback", err, store.ErrNotFound)

	w.tenant.Etag = ""
	w.event.Id = testkit.UniqueID("evt") // event ids are unique, and the first never left the transaction
	if err := s.ReadWriteTx(t.Context(), w.write); err != nil {
		t.Fatalf("making the rolled-back writes again: %v", err)
	}
	w.requireVisible(t, s)
}

func commitsWhenFnReturnsNil(t *testing.T, s store.Store) {
	w := newWriteSet("commit")
	if err := s.ReadWriteTx(t.Context(), w.write); err != nil {
		t.Fatalf("ReadWriteTx: %v", err)
	}
	w.requireVisible(t, s)
}

func rollsBackWhenFnFails(t *testing.T, s store.Store) {
	w := newWriteSet("rollback")
	errAbort := errors.New("abort after writing")
	err := s.ReadWriteTx(t.Context(), func(ctx context.Context, tx store.Tx) error {
		if err := w.write(ctx, tx); err != nil {
			t.Errorf("writing: %v", err)
		}
		return errAbort
	})
	testkit.RequireErrorIs(t, "ReadWriteTx whose fn fails", err, errAbort)
	w.requireInvisible(t, s)
}

func rollsBackWhenFnPanics(t *testing.T, s store.Store) {
	w := newWriteSet("panic")
	type panicValue struct{ id string }
	thrown := panicValue{idOf(w.tenant)}
	caught := func() (caught any) {
		defer func() { caught = recover() }()
		err := s.ReadWriteTx(t.Context(), func(ctx context.Context, tx store.Tx) error {
			if err := w.write(ctx, tx); err != nil {
				t.Errorf("writing: %v", err)
			}
			panic(thrown)
		})
		t.Errorf("ReadWriteTx returned %v instead of panicking", err)
		return nil
	}()
	if caught != thrown {
		t.Fatalf("recovered %v, want fn's own panic %v", caught, thrown)
	}
	w.requireInvisible(t, s)
}

// rollsBackWhenFnExitsItsGoroutine covers runtime.Goexit, which is how t.FailNow and
// t.Fatal leave a callback: fn never returned nil, so nothing may be committed.
func rollsBackWhenFnExitsItsGoroutine(t *testing.T, s store.Store) {
	w := newWriteSet("goexit")
	done := make(chan struct{})
	go func() {
		defer close(done)
		err := s.ReadWriteTx(t.Context(), func(ctx context.Context, tx store.Tx) error {
			if err := w.write(ctx, tx); err != nil {
				t.Errorf("writing: %v", err)
			}
			runtime.Goexit()
			return nil
		})
		t.Errorf("ReadWriteTx returned %v though fn exited its goroutine", err)
	}()
	<-done
	w.requireInvisible(t, s)
}

func transactionReadsItsOwnWrites(t *testing.T, s store.Store) {
	w := newWriteSet("own-writes")
	var (
		gotTenant  *tenantv1.Tenant
		gotRequest *store.Request
	)
	err := s.ReadWriteTx(t.Context(), func(ctx context.Context, tx store.Tx) error {
		if err := w.write(ctx, tx); err != nil {
			return err
		}
		var err error
		if gotTenant, err = tx.GetTenant(ctx, idOf(w.tenant)); err != nil {
			return err
		}
		gotRequest, err = tx.GetRequest(ctx, w.request.Principal, w.request.RequestID)
		return err
	})
	if err != nil {
		t.Fatalf("ReadWriteTx: %v", err)
	}
	testkit.RequireProto(t, "Tx.GetTenant of a tenant created in the same transaction", w.tenant, gotTenant)
	requireRequest(t, "Tx.GetRequest of a request put in the same transaction", w.request, gotRequest)
}
