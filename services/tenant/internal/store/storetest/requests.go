package storetest

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/oriel-dev/oriel/platform/testkit"
	"github.com/oriel-dev/oriel/services/tenant/internal/store"
)

var requestBehaviours = []behaviour{
	{"put then get round-trips a request", putThenGetRoundTripsRequest},
	{"a second put of one principal and request id is request exists", secondPutIsRequestExists},
	{"the same request id under another principal is independent", requestIDsAreScopedByPrincipal},
	{"get of a missing request is not found", getOfMissingRequestIsNotFound},
	{"concurrent puts of one request id: exactly one succeeds", concurrentPutsOfOneRequest},
}

// newPrincipal is a principal no other behaviour uses.
func newPrincipal() string { return "svc:" + testkit.UniqueID("principal") }

// newRequest is the record of a create of tenantID by principal.
func newRequest(principal, tenantID string) *store.Request {
	return &store.Request{
		Principal:   principal,
		RequestID:   testkit.UniqueID("request"),
		Fingerprint: "sha256:" + testkit.UniqueID("body"),
		TenantID:    tenantID,
		CreateTime:  epoch.Add(17 * time.Microsecond),
	}
}

// putRequest records r in its own transaction.
func putRequest(ctx context.Context, s store.Store, r *store.Request) error {
	return s.ReadWriteTx(ctx, func(ctx context.Context, tx store.Tx) error { return tx.PutRequest(ctx, r) })
}

// getRequest reads a request in its own transaction, the only way the Store offers.
func getRequest(ctx context.Context, s store.Store, principal, requestID string) (*store.Request, error) {
	var r *store.Request
	err := s.ReadWriteTx(ctx, func(ctx context.Context, tx store.Tx) error {
		var err error
		r, err = tx.GetRequest(ctx, principal, requestID)
		return err
	})
	return r, err
}

// requireRequest fails the test unless got equals want; times compare as instants, since
// a store may hand them back in another location.
func requireRequest(t *testing.T, what string, want, got *store.Request) {
	t.Helper()
	if got == nil || got.Principal != want.Principal || got.RequestID != want.RequestID ||
		got.Fingerprint != want.Fingerprint || got.TenantID != want.TenantID || !got.CreateTime.Equal(want.CreateTime) {
		t.Fatalf("%s: got %+v, want %+v", what, got, want)
	}
}

// requireStoredRequest fails the test unless the store holds exactly want for its key.
func requireStoredRequest(t *testing.T, s store.Store, what string, want *store.Request) {
	t.Helper()
	got, err := getRequest(t.Context(), s, want.Principal, want.RequestID)
	if err != nil {
		t.Fatalf("%s: GetRequest: %v", what, err)
	}
	requireRequest(t, what, want, got)
}

func putThenGetRoundTripsRequest(t *testing.T, s store.Store) {
	r := newRequest(newPrincipal(), testkit.UniqueID("tenant"))
	if err := putRequest(t.Context(), s, r); err != nil {
		t.Fatalf("PutRequest: %v", err)
	}
	requireStoredRequest(t, s, "GetRequest after PutRequest", r)
}

func secondPutIsRequestExists(t *testing.T, s store.Store) {
	first := newRequest(newPrincipal(), testkit.UniqueID("tenant"))
	if err := putRequest(t.Context(), s, first); err != nil {
		t.Fatalf("first PutRequest: %v", err)
	}
	// A different body and tenant under the same key: the first record must win untouched.
	second := newRequest(first.Principal, testkit.UniqueID("tenant"))
	second.RequestID = first.RequestID
	second.CreateTime = first.CreateTime.Add(time.Minute)
	testkit.RequireErrorIs(t, "second PutRequest", putRequest(t.Context(), s, second), store.ErrRequestExists)
	requireStoredRequest(t, s, "the request after a second put", first)
}

func requestIDsAreScopedByPrincipal(t *testing.T, s store.Store) {
	alice := newRequest(newPrincipal(), testkit.UniqueID("tenant"))
	bob := newRequest(newPrincipal(), testkit.UniqueID("tenant"))
	bob.RequestID = alice.RequestID
	for _, r := range []*store.Request{alice, bob} {
		if err := putRequest(t.Context(), s, r); err != nil {
			t.Fatalf("PutRequest(%s, %s): %v", r.Principal, r.RequestID, err)
		}
	}
	requireStoredRequest(t, s, "the first principal's request", alice)
	requireStoredRequest(t, s, "the second principal's request", bob)
}

func getOfMissingRequestIsNotFound(t *testing.T, s store.Store) {
	known := newRequest(newPrincipal(), testkit.UniqueID("tenant"))
	if err := putRequest(t.Context(), s, known); err != nil {
		t.Fatalf("PutRequest: %v", err)
	}
	for _, tc := range []struct{ name, principal, requestID string }{
		{"unknown request id", known.Principal, testkit.UniqueID("request")},
		{"known request id of another principal", newPrincipal(), known.RequestID},
	} {
		_, err := getRequest(t.Context(), s, tc.principal, tc.requestID)
		testkit.RequireErrorIs(t, "GetRequest of an "+tc.name, err, store.ErrNotFound)
	}
}

func concurrentPutsOfOneRequest(t *testing.T, s store.Store) {
	// The API records the request before creating the tenant so that concurrent retries
	// collide here; exactly one must win or two tenants get created for one request.
	r := newRequest(newPrincipal(), testkit.UniqueID("tenant"))
	var (
		start = make(chan struct{})
		wg    sync.WaitGroup
		errs  = make([]error, concurrency)
	)
	for i := range concurrency {
		wg.Go(func() {
			<-start
			mine := *r
			errs[i] = putRequest(t.Context(), s, &mine)
		})
	}
	close(start)
	wg.Wait()

	recorded := 0
	for i, err := range errs {
		switch {
		case err == nil:
			recorded++
		case !errors.Is(err, store.ErrRequestExists):
			t.Errorf("put %d: %v, want nil or ErrRequestExists", i, err)
		}
	}
	if recorded != 1 {
		t.Fatalf("%d of %d concurrent puts succeeded, want exactly 1", recorded, concurrency)
	}
	requireStoredRequest(t, s, "the request after the race", r)
}
