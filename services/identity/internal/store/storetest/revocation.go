package storetest

import (
	"maps"
	"testing"
	"time"

	identityv1 "github.com/oriel-dev/oriel/gen/pb/oriel/identity/v1"
	"github.com/oriel-dev/oriel/platform/testkit"
	"github.com/oriel-dev/oriel/services/identity/internal/sessions"
	"github.com/oriel-dev/oriel/services/identity/internal/store"
)

var revocationBehaviours = []behaviour{
	{"a tenant never revoked has an empty revocation state", emptyRevocationState},
	{"tenant epochs rise with every raise, per tenant, never behind the clock", tenantEpochsRise},
	{"user epochs rise with every raise, per user, never behind the clock", userEpochsRise},
	{"the directory version rises by one with every change of groups or bindings", directoryVersionRises},
	{"the revocation state holds the epochs and every raised or disabled user", revocationStateAfterMix},
}

func emptyRevocationState(t *testing.T, s store.Store) {
	tenant := newTenant()
	mustLogin(t, s, newLogin(tenant)) // a user who was never revoked is not in the state
	state, err := s.RevocationState(t.Context(), tenant)
	testkit.RequireNoError(t, "RevocationState", err)
	testkit.RequireEqual(t, "tenant epoch", int64(0), state.TenantEpoch)
	testkit.RequireEqual(t, "directory version", int64(0), state.DirectoryVersion)
	testkit.RequireEqual(t, "users", 0, len(state.Users))
}

// base is the epoch of a first revocation at the storetest clock: its Unix microseconds.
var base = epoch.UnixMicro()

func tenantEpochsRise(t *testing.T, s store.Store) {
	tenant, other := newTenant(), newTenant()
	// At one instant, each raise is one more than the last.
	for want := base; want <= base+2; want++ {
		got, err := s.RaiseTenantEpoch(t.Context(), tenant, epoch)
		testkit.RequireNoError(t, "RaiseTenantEpoch", err)
		testkit.RequireEqual(t, "tenant epoch", want, got)
	}
	got, err := s.RaiseTenantEpoch(t.Context(), other, epoch)
	testkit.RequireNoError(t, "RaiseTenantEpoch", err)
	testkit.RequireEqual(t, "another tenant's first epoch", base, got)
	// Later, the epoch jumps to the clock; a clock behind it never lowers it.
	later := epoch.Add(time.Hour)
	got, err = s.RaiseTenantEpoch(t.Context(), other, later)
	testkit.RequireNoError(t, "RaiseTenantEpoch", err)
	testkit.RequireEqual(t, "an epoch raised an hour later", later.UnixMicro(), got)
	got, err = s.RaiseTenantEpoch(t.Context(), other, epoch)
	testkit.RequireNoError(t, "RaiseTenantEpoch", err)
	testkit.RequireEqual(t, "an epoch raised with a clock behind it", later.UnixMicro()+1, got)
	// The counters share a row; raising one leaves the other alone.
	requireDirectoryVersion(t, s, tenant, 0)
	v := mustCreateGroup(t, s, tenant, "admins", "Admins")
	testkit.RequireEqual(t, "directory version after raised epochs", int64(1), v)
	state, err := s.RevocationState(t.Context(), tenant)
	testkit.RequireNoError(t, "RevocationState", err)
	testkit.RequireEqual(t, "tenant epoch after a directory change", base+2, state.TenantEpoch)
}

func userEpochsRise(t *testing.T, s store.Store) {
	tenant := newTenant()
	a, b := newLogin(tenant), newLogin(tenant)
	mustLogin(t, s, a)
	mustLogin(t, s, b)
	for want := base; want <= base+2; want++ {
		got, err := s.RaiseUserEpoch(t.Context(), tenant, a.UserID, epoch)
		testkit.RequireNoError(t, "RaiseUserEpoch", err)
		testkit.RequireEqual(t, "user state", sessions.UserState{Epoch: want}, got)
	}
	_, _, err := s.SetUserDisabled(t.Context(), tenant, b.UserID, true, epoch)
	testkit.RequireNoError(t, "SetUserDisabled", err)
	got, err := s.RaiseUserEpoch(t.Context(), tenant, b.UserID, epoch)
	testkit.RequireNoError(t, "RaiseUserEpoch", err)
	testkit.RequireEqual(t, "a disabled user's state", sessions.UserState{Epoch: base + 1, Disabled: true}, got)
	_, err = s.RaiseUserEpoch(t.Context(), tenant, "nobody", epoch)
	testkit.RequireErrorIs(t, "RaiseUserEpoch of a missing user", err, store.ErrNotFound)

	// A later login leaves the epoch alone: only revocations move it.
	a.Time = epoch.Add(time.Minute)
	mustLogin(t, s, a)
	got, err = s.RaiseUserEpoch(t.Context(), tenant, a.UserID, epoch)
	testkit.RequireNoError(t, "RaiseUserEpoch", err)
	testkit.RequireEqual(t, "user state after a login", sessions.UserState{Epoch: base + 3}, got)
	// A revocation a minute later jumps to the clock.
	got, err = s.RaiseUserEpoch(t.Context(), tenant, a.UserID, epoch.Add(time.Minute))
	testkit.RequireNoError(t, "RaiseUserEpoch", err)
	testkit.RequireEqual(t, "user state a minute later", sessions.UserState{Epoch: epoch.Add(time.Minute).UnixMicro()}, got)
}

func directoryVersionRises(t *testing.T, s store.Store) {
	tenant := newTenant()
	l := newLogin(tenant)
	mustLogin(t, s, l)
	var last int64
	step := func(what string, v int64, err error) {
		t.Helper()
		testkit.RequireNoError(t, what, err)
		testkit.RequireEqual(t, "directory version after "+what, last+1, v)
		last = v
	}
	v, err := s.CreateGroup(t.Context(), tenant, "admins", newGroup(tenant, "admins", "Admins"))
	step("CreateGroup", v, err)
	l.GroupClaims = []string{"Viewers"}
	res, err := s.Login(t.Context(), l)
	testkit.RequireNoError(t, "Login", err)
	step("a login making a group", res.DirectoryVersion, nil)
	v, err = s.CreateRoleBinding(t.Context(), tenant, "b1", newBinding(tenant, "b1", groupMember(tenant, "admins"), identityv1.Role_ROLE_ADMIN))
	step("CreateRoleBinding", v, err)
	v, err = s.CreateRoleBinding(t.Context(), tenant, "b2", newBinding(tenant, "b2", userMember(tenant, l.UserID), identityv1.Role_ROLE_VIEWER))
	step("CreateRoleBinding", v, err)
	v, err = s.DeleteRoleBinding(t.Context(), tenant, "b2")
	step("DeleteRoleBinding", v, err)
	v, err = s.DeleteGroup(t.Context(), tenant, "admins")
	step("DeleteGroup", v, err)
	requireDirectoryVersion(t, s, tenant, last)
}

func revocationStateAfterMix(t *testing.T, s store.Store) {
	tenant, other := newTenant(), newTenant()
	raised, disabled, reenabled, untouched := newLogin(tenant), newLogin(tenant), newLogin(tenant), newLogin(tenant)
	for _, l := range []store.Login{raised, disabled, reenabled, untouched} {
		mustLogin(t, s, l)
	}
	elsewhere := newLogin(other)
	mustLogin(t, s, elsewhere)

	for range 2 {
		_, err := s.RaiseUserEpoch(t.Context(), tenant, raised.UserID, epoch)
		testkit.RequireNoError(t, "RaiseUserEpoch", err)
	}
	_, _, err := s.SetUserDisabled(t.Context(), tenant, disabled.UserID, true, epoch)
	testkit.RequireNoError(t, "SetUserDisabled", err)
	_, _, err = s.SetUserDisabled(t.Context(), tenant, reenabled.UserID, true, epoch)
	testkit.RequireNoError(t, "SetUserDisabled", err)
	_, _, err = s.SetUserDisabled(t.Context(), tenant, reenabled.UserID, false, epoch.Add(time.Minute))
	testkit.RequireNoError(t, "SetUserDisabled", err)
	_, err = s.RaiseUserEpoch(t.Context(), other, elsewhere.UserID, epoch)
	testkit.RequireNoError(t, "RaiseUserEpoch", err)
	for range 3 {
		_, err := s.RaiseTenantEpoch(t.Context(), tenant, epoch)
		testkit.RequireNoError(t, "RaiseTenantEpoch", err)
	}
	_, err = s.RaiseTenantEpoch(t.Context(), other, epoch)
	testkit.RequireNoError(t, "RaiseTenantEpoch", err)
	v := mustCreateGroup(t, s, tenant, "admins", "Admins")

	state, err := s.RevocationState(t.Context(), tenant)
	testkit.RequireNoError(t, "RevocationState", err)
	testkit.RequireEqual(t, "tenant epoch", base+2, state.TenantEpoch)
	testkit.RequireEqual(t, "directory version", v, state.DirectoryVersion)
	want := map[string]sessions.UserState{
		raised.UserID:    {Epoch: base + 1},
		disabled.UserID:  {Epoch: base, Disabled: true},
		reenabled.UserID: {Epoch: epoch.Add(time.Minute).UnixMicro()},
	}
	if !maps.Equal(want, state.Users) {
		t.Fatalf("RevocationState users = %v, want %v", state.Users, want)
	}
}
