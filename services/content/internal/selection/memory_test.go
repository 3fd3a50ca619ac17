package selection_test

import (
	"testing"
	"time"

	"github.com/oriel-dev/oriel/platform/testkit"
	"github.com/oriel-dev/oriel/services/content/internal/selection"
	"github.com/oriel-dev/oriel/services/content/internal/selection/selectiontest"
)

func TestMemoryPassesTheConformanceSuite(t *testing.T) {
	t.Parallel()
	selectiontest.Run(t, func(t *testing.T) selection.Store { return selection.NewMemory(0, time.Now) })
}

func TestMemoryStatesExpireATTLAfterTheirLastUpdate(t *testing.T) {
	t.Parallel()
	const ttl = time.Hour
	clock := &testkit.Clock{}
	s := selection.NewMemory(ttl, clock.Now)
	key := selection.Key{Tenant: "acme", Session: "tenants/acme/embedSessions/s1", App: "sales"}
	selectEU := func(st selection.State) (selection.State, error) {
		return st.Select("Region", []string{"EU"}, true), nil
	}
	count := func() int {
		t.Helper()
		st, err := s.Get(t.Context(), key)
		testkit.RequireNoError(t, "Get", err)
		if len(st.Current()) == 0 {
			return 0
		}
		return len(st.Current()[0].Values)
	}

	_, err := s.Update(t.Context(), key, selectEU)
	testkit.RequireNoError(t, "Update", err)
	clock.Advance(ttl - time.Second)
	testkit.RequireEqual(t, "values selected just before the TTL", 1, count())
	// A read does not refresh the TTL; a write does.
	_, err = s.Update(t.Context(), key, func(st selection.State) (selection.State, error) { return st, nil })
	testkit.RequireNoError(t, "Update that changes nothing", err)
	clock.Advance(ttl - time.Second)
	testkit.RequireEqual(t, "values selected a TTL after the first update, just before one after the second", 1, count())
	clock.Advance(2 * time.Second)
	testkit.RequireEqual(t, "values selected a TTL after the last update", 0, count())
	// An expired state is gone for Update too: toggling EU selects it again.
	st, err := s.Update(t.Context(), key, selectEU)
	testkit.RequireNoError(t, "Update after expiry", err)
	testkit.RequireEqual(t, "can go back after expiry and one update", true, st.CanBack())
	back, _ := st.Back()
	testkit.RequireEqual(t, "selections one step back after expiry", 0, len(back.Current()))
	testkit.RequireEqual(t, "can go back twice after expiry", false, back.CanBack())
}

func TestNewMemoryWithoutTTLKeepsStatesADay(t *testing.T) {
	t.Parallel()
	clock := &testkit.Clock{}
	s := selection.NewMemory(0, clock.Now)
	key := selection.Key{Tenant: "acme", Session: "s", App: "sales"}
	_, err := s.Update(t.Context(), key, func(st selection.State) (selection.State, error) {
		return st.Select("Region", []string{"EU"}, false), nil
	})
	testkit.RequireNoError(t, "Update", err)
	clock.Advance(selection.DefaultTTL - time.Second)
	st, err := s.Get(t.Context(), key)
	testkit.RequireNoError(t, "Get", err)
	testkit.RequireEqual(t, "fields selected just before a day", 1, len(st.Current()))
	clock.Advance(time.Second)
	st, err = s.Get(t.Context(), key)
	testkit.RequireNoError(t, "Get", err)
	testkit.RequireEqual(t, "fields selected after a day", 0, len(st.Current()))
}
