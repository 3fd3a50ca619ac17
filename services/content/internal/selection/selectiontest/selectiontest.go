// Package selectiontest is the conformance suite of selection.Store. Every implementation
// runs Run, so the API can rely on one behaviour whether selections live in Redis or in
// process. Expiry is not here: it needs the implementation's clock (a fake one in memory,
// Redis' own in Redis), so each implementation's tests prove it their way.
package selectiontest

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/oriel-dev/oriel/platform/testkit"
	"github.com/oriel-dev/oriel/services/content/internal/engine"
	"github.com/oriel-dev/oriel/services/content/internal/selection"
)

// Run checks that the stores newStore returns behave as selection.Store promises.
// newStore is called once per behaviour, with that behaviour's t; behaviours run in
// parallel and use keys of their own, so stores may share a backend.
func Run(t *testing.T, newStore func(t *testing.T) selection.Store) {
	for _, b := range []struct {
		name string
		test func(t *testing.T, s selection.Store)
	}{
		{"a state never set reads as the zero state", missingIsZero},
		{"an update reads back with its history", roundTrip},
		{"states of other tenants, sessions and apps are apart", isolation},
		{"an error of fn is returned as it is and writes nothing", fnErrorWritesNothing},
		{"a state too large loses its oldest steps, or is refused", sizeCap},
		{"a key with an empty part or a brace in its tenant is refused", invalidKeys},
		{"concurrent updates lose nothing", concurrentUpdates},
	} {
		t.Run(b.name, func(t *testing.T) {
			t.Parallel()
			b.test(t, newStore(t))
		})
	}
}

// newKey returns a key no other behaviour uses, with a session name as the API makes
// them (slashes included).
func newKey() selection.Key {
	tenant := testkit.UniqueID("tenant")
	return selection.Key{
		Tenant:  tenant,
		Session: "tenants/" + tenant + "/embedSessions/" + testkit.UniqueID("s"),
		App:     testkit.UniqueID("app"),
	}
}

// selectFn returns an update selecting values in field.
func selectFn(field string, values []string, toggle bool) func(selection.State) (selection.State, error) {
	return func(s selection.State) (selection.State, error) { return s.Select(field, values, toggle), nil }
}

// mustUpdate updates the state of key, failing the test on an error.
func mustUpdate(t *testing.T, s selection.Store, key selection.Key, fn func(selection.State) (selection.State, error)) selection.State {
	t.Helper()
	st, err := s.Update(t.Context(), key, fn)
	testkit.RequireNoError(t, "Update", err)
	return st
}

// mustGet reads the state of key, failing the test on an error.
func mustGet(t *testing.T, s selection.Store, key selection.Key) selection.State {
	t.Helper()
	st, err := s.Get(t.Context(), key)
	testkit.RequireNoError(t, "Get", err)
	return st
}

// requireCurrent fails the test unless st's current selections are want.
func requireCurrent(t *testing.T, what string, want []engine.Selection, st selection.State) {
	t.Helper()
	got := st.Current()
	if !slices.EqualFunc(want, got, func(a, b engine.Selection) bool {
		return a.Field == b.Field && slices.Equal(a.Values, b.Values)
	}) {
		t.Fatalf("%s: current selections = %v, want %v", what, got, want)
	}
}

// requireSame fails the test unless a and b have the same steps, current step first,
// then every step Back and Forward reach.
func requireSame(t *testing.T, what string, want, got selection.State) {
	t.Helper()
	requireCurrent(t, what, want.Current(), got)
	for w, g, i := want, got, 0; ; i++ {
		w2, okW := w.Back()
		g2, okG := g.Back()
		if okW != okG {
			t.Fatalf("%s: %d steps back, can go back = %v, want %v", what, i+1, okG, okW)
		}
		if !okW {
			break
		}
		w, g = w2, g2
		requireCurrent(t, fmt.Sprintf("%s, %d steps back", what, i+1), w.Current(), g)
	}
	for w, g, i := want, got, 0; ; i++ {
		w2, okW := w.Forward()
		g2, okG := g.Forward()
		if okW != okG {
			t.Fatalf("%s: %d steps forward, can go forward = %v, want %v", what, i+1, okG, okW)
		}
		if !okW {
			break
		}
		w, g = w2, g2
		requireCurrent(t, fmt.Sprintf("%s, %d steps forward", what, i+1), w.Current(), g)
	}
}

func missingIsZero(t *testing.T, s selection.Store) {
	st := mustGet(t, s, newKey())
	testkit.RequireEqual(t, "selections of a state never set", 0, len(st.Current()))
	testkit.RequireEqual(t, "can go back", false, st.CanBack())
	testkit.RequireEqual(t, "can go forward", false, st.CanForward())
	var seen []engine.Selection
	st = mustUpdate(t, s, newKey(), func(st selection.State) (selection.State, error) {
		seen = st.Current()
		return st, nil
	})
	testkit.RequireEqual(t, "selections fn saw of a state never set", 0, len(seen))
	testkit.RequireEqual(t, "selections after an update that changed nothing", 0, len(st.Current()))
}

func roundTrip(t *testing.T, s selection.Store) {
	key := newKey()
	mustUpdate(t, s, key, selectFn("Region", []string{"EU", "US", "EU"}, false))
	mustUpdate(t, s, key, selectFn("Year", []string{"2031"}, false))
	mustUpdate(t, s, key, selectFn("Region", []string{"US", "APAC"}, true))
	want := selection.State{}.
		Select("Region", []string{"EU", "US"}, false).
		Select("Year", []string{"2031"}, false).
		Select("Region", []string{"US", "APAC"}, true)
	requireCurrent(t, "after three updates", []engine.Selection{
		{Field: "Region", Values: []string{"EU", "APAC"}},
		{Field: "Year", Values: []string{"2031"}},
	}, mustGet(t, s, key))
	requireSame(t, "Get", want, mustGet(t, s, key))

	// Back and Forward are updates like any other, and what Back left survives the trip.
	back := mustUpdate(t, s, key, func(st selection.State) (selection.State, error) {
		st, ok := st.Back()
		if !ok {
			return st, errors.New("cannot go back")
		}
		return st, nil
	})
	want, _ = want.Back()
	requireSame(t, "the state Update returned after Back", want, back)
	requireSame(t, "Get after Back", want, mustGet(t, s, key))
	testkit.RequireEqual(t, "can go forward after Back", true, mustGet(t, s, key).CanForward())

	cleared := mustUpdate(t, s, key, func(st selection.State) (selection.State, error) { return st.Clear(""), nil })
	want = want.Clear("")
	requireSame(t, "after Clear", want, cleared)
	requireSame(t, "Get after Clear", want, mustGet(t, s, key))
	testkit.RequireEqual(t, "can go forward after a change", false, cleared.CanForward())
}

func isolation(t *testing.T, s selection.Store) {
	key := newKey()
	others := map[string]selection.Key{
		"another tenant":                   {Tenant: testkit.UniqueID("tenant"), Session: key.Session, App: key.App},
		"another session":                  {Tenant: key.Tenant, Session: key.Session + "x", App: key.App},
		"a session the first one prefixes": {Tenant: key.Tenant, Session: key.Session + "/keys/k", App: key.App},
		"another app":                      {Tenant: key.Tenant, Session: key.Session, App: key.App + "x"},
	}
	mustUpdate(t, s, key, selectFn("Region", []string{"EU"}, false))
	for what, other := range others {
		testkit.RequireEqual(t, "selections in "+what, 0, len(mustGet(t, s, other).Current()))
		mustUpdate(t, s, other, selectFn("Other", []string{what}, false))
	}
	requireCurrent(t, "the first key's state", []engine.Selection{{Field: "Region", Values: []string{"EU"}}}, mustGet(t, s, key))
	for what, other := range others {
		requireCurrent(t, "the state of "+what, []engine.Selection{{Field: "Other", Values: []string{what}}}, mustGet(t, s, other))
	}
}

func fnErrorWritesNothing(t *testing.T, s selection.Store) {
	key := newKey()
	mustUpdate(t, s, key, selectFn("Region", []string{"EU"}, false))
	refusal := errors.New("no such field")
	_, err := s.Update(t.Context(), key, func(st selection.State) (selection.State, error) {
		return st.Select("Nope", []string{"x"}, false), refusal
	})
	if err != refusal { //nolint:errorlint // returned as it is, unwrapped
		t.Fatalf("Update returned %v, want fn's error itself", err)
	}
	if errors.Is(err, selection.ErrUnavailable) {
		t.Fatalf("fn's error reads as unavailable")
	}
	requireCurrent(t, "after a refused update", []engine.Selection{{Field: "Region", Values: []string{"EU"}}}, mustGet(t, s, key))
}

// bigValues returns n distinct values of about size bytes each, all starting with prefix.
func bigValues(prefix string, n, size int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = fmt.Sprintf("%s-%d-%s", prefix, i, strings.Repeat("x", size))
	}
	return out
}

func sizeCap(t *testing.T, s selection.Store) {
	key := newKey()
	// Three steps of about 120 KB each: together over the cap, two of them under it.
	for _, prefix := range []string{"a", "b", "c"} {
		mustUpdate(t, s, key, selectFn("Customer", bigValues(prefix, 120, 1000), false))
	}
	st := mustGet(t, s, key)
	requireCurrent(t, "the current step", []engine.Selection{{Field: "Customer", Values: bigValues("c", 120, 1000)}}, st)
	back, ok := st.Back()
	testkit.RequireEqual(t, "can go back one step", true, ok)
	requireCurrent(t, "one step back", []engine.Selection{{Field: "Customer", Values: bigValues("b", 120, 1000)}}, back)
	testkit.RequireEqual(t, "can go back two steps (the oldest steps were dropped to fit)", false, back.CanBack())

	// A current step over the cap on its own is refused, and nothing changes.
	_, err := s.Update(t.Context(), key, selectFn("Product", bigValues("p", 300, 1000), false))
	testkit.RequireErrorIs(t, "Update over the cap", err, selection.ErrTooLarge)
	if errors.Is(err, selection.ErrUnavailable) {
		t.Fatalf("a refusal reads as unavailable")
	}
	requireSame(t, "after a refused update", st, mustGet(t, s, key))
}

func invalidKeys(t *testing.T, s selection.Store) {
	key := newKey()
	for what, k := range map[string]selection.Key{
		"no tenant":               {Session: key.Session, App: key.App},
		"no session":              {Tenant: key.Tenant, App: key.App},
		"no app":                  {Tenant: key.Tenant, Session: key.Session},
		"a brace in the tenant":   {Tenant: key.Tenant + "}", Session: key.Session, App: key.App},
		"a brace open the tenant": {Tenant: "{" + key.Tenant, Session: key.Session, App: key.App},
	} {
		_, err := s.Get(t.Context(), k)
		testkit.RequireErrorIs(t, "Get with "+what, err, selection.ErrInvalidKey)
		_, err = s.Update(t.Context(), k, selectFn("Region", []string{"EU"}, false))
		testkit.RequireErrorIs(t, "Update with "+what, err, selection.ErrInvalidKey)
	}
}

func concurrentUpdates(t *testing.T, s selection.Store) {
	const writers = 100
	key := newKey()
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	errs := make([]error, writers)
	start := make(chan struct{})
	var wg sync.WaitGroup
	for i := range writers {
		wg.Go(func() {
			<-start
			v := fmt.Sprintf("v%03d", i)
			var st selection.State
			st, errs[i] = s.Update(ctx, key, selectFn("Customer", []string{v}, true))
			if errs[i] == nil && !slices.Contains(st.Current()[0].Values, v) {
				errs[i] = fmt.Errorf("the state Update returned lacks %s: %v", v, st.Current())
			}
		})
	}
	close(start)
	wg.Wait()
	for i, err := range errs {
		testkit.RequireNoError(t, fmt.Sprintf("writer %d", i), err)
	}
	cur := mustGet(t, s, key).Current()
	testkit.RequireEqual(t, "fields selected", 1, len(cur))
	got := slices.Sorted(slices.Values(cur[0].Values))
	want := make([]string, writers)
	for i := range want {
		want[i] = fmt.Sprintf("v%03d", i)
	}
	testkit.RequireStrings(t, "values selected by the writers", want, got)
}
