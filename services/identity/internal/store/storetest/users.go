package storetest

import (
	"slices"
	"testing"
	"time"

	identityv1 "github.com/oriel-dev/oriel/gen/pb/oriel/identity/v1"
	"github.com/oriel-dev/oriel/platform/testkit"
	"github.com/oriel-dev/oriel/services/identity/internal/sessions"
	"github.com/oriel-dev/oriel/services/identity/internal/store"
)

var userBehaviours = []behaviour{
	{"a first login creates the user", firstLoginCreatesUser},
	{"a later login updates only the claims that changed", laterLoginUpdatesChangedClaims},
	{"a login replaces the user's memberships", loginReplacesMemberships},
	{"the same subject at two providers is two users", subjectIsPerProvider},
	{"login times never move back", loginTimesNeverMoveBack},
	{"disable and enable raise the user's epoch every time", disableAndEnableRaiseEpoch},
	{"a user of another tenant is not found", userTenantIsolation},
	{"limit and after id page through every user, each with its own groups", usersPageByID},
}

// newLogin returns the first login of a new user of tenant, claiming groups.
func newLogin(tenant string, groups ...string) store.Login {
	id := testkit.UniqueID("user")
	return store.Login{
		Tenant:           tenant,
		UserID:           id,
		IdentityProvider: "acme-sso",
		Subject:          "auth0|" + id,
		DisplayName:      "Ada Lovelace",
		Email:            id + "@acme.example",
		GroupClaims:      groups,
		Time:             epoch,
	}
}

// mustLogin is Login that fails the test on error and on a result that is not self-consistent.
func mustLogin(t *testing.T, s store.Store, l store.Login) *store.LoginResult {
	t.Helper()
	res, err := s.Login(t.Context(), l)
	if err != nil {
		t.Fatalf("Login(%s, %q): %v", l.UserID, l.GroupClaims, err)
	}
	if res.User == nil {
		t.Fatalf("Login(%s) returned no user", l.UserID)
	}
	var names []string
	for _, id := range slices.Sorted(slices.Values(res.GroupIDs)) {
		if !validID.MatchString(id) {
			t.Fatalf("Login(%s) made group id %q, which does not match %s", l.UserID, id, validID)
		}
		names = append(names, store.GroupName(l.Tenant, id))
	}
	testkit.RequireStrings(t, "the user's groups beside its group ids", names, res.User.GetGroups())
	testkit.RequireEqual(t, "LoginResult.Disabled beside User.Disabled", res.User.GetDisabled(), res.Disabled)
	return res
}

// wantUser is the user l makes, first seen at createTime, in groups (ids).
func wantUser(l store.Login, createTime time.Time, groupIDs ...string) *identityv1.User {
	u := &identityv1.User{
		Name:             store.UserName(l.Tenant, l.UserID),
		IdentityProvider: store.IdentityProviderName(l.Tenant, l.IdentityProvider),
		Subject:          l.Subject,
		DisplayName:      l.DisplayName,
		Email:            l.Email,
		CreateTime:       ts(createTime),
		LastLoginTime:    ts(l.Time),
	}
	for _, g := range slices.Sorted(slices.Values(groupIDs)) {
		u.Groups = append(u.Groups, store.GroupName(l.Tenant, g))
	}
	return u
}

// mustGetUser is GetUser that fails the test on error.
func mustGetUser(t *testing.T, s store.Store, tenant, id string) *identityv1.User {
	t.Helper()
	u, err := s.GetUser(t.Context(), tenant, id)
	testkit.RequireNoError(t, "GetUser", err)
	return u
}

// claimsOf maps each of ids to its group's claim value.
func claimsOf(t *testing.T, s store.Store, tenant string, ids []string) map[string]string {
	t.Helper()
	out := map[string]string{}
	for _, id := range ids {
		g, err := s.GetGroup(t.Context(), tenant, id)
		testkit.RequireNoError(t, "GetGroup "+id, err)
		out[g.GetClaimValue()] = id
	}
	return out
}

func firstLoginCreatesUser(t *testing.T, s store.Store) {
	tenant := newTenant()
	l := newLogin(tenant, "Sales/EMEA", "Admins")
	res := mustLogin(t, s, l)

	testkit.RequireEqual(t, "groups made", 2, len(res.GroupIDs))
	byClaim := claimsOf(t, s, tenant, res.GroupIDs)
	want := wantUser(l, epoch, byClaim["Admins"], byClaim["Sales/EMEA"])
	testkit.RequireProto(t, "Login's user", want, res.User)
	testkit.RequireProto(t, "GetUser", want, mustGetUser(t, s, tenant, l.UserID))
	if res.DirectoryVersion <= 0 {
		t.Fatalf("Login that created groups returned directory version %d, want > 0", res.DirectoryVersion)
	}
	for claim, id := range byClaim {
		g, err := s.GetGroup(t.Context(), tenant, id)
		testkit.RequireNoError(t, "GetGroup", err)
		testkit.RequireProto(t, "group of "+claim, &identityv1.Group{
			Name: store.GroupName(tenant, id), ClaimValue: claim, CreateTime: ts(epoch),
		}, g)
	}

	users, err := s.ListUsers(t.Context(), tenant, everything)
	testkit.RequireNoError(t, "ListUsers", err)
	testkit.RequireEqual(t, "users listed", 1, len(users))
	testkit.RequireProto(t, "ListUsers[0]", want, users[0])
}

func laterLoginUpdatesChangedClaims(t *testing.T, s store.Store) {
	tenant := newTenant()
	l := newLogin(tenant, "Admins")
	first := mustLogin(t, s, l)

	l.DisplayName = "Ada King"
	l.Time = epoch.Add(time.Minute)
	res := mustLogin(t, s, l)
	testkit.RequireEqual(t, "directory version of a login making no group", 0, res.DirectoryVersion)
	want := wantUser(l, epoch, first.GroupIDs...)
	testkit.RequireProto(t, "the user after a new name", want, res.User)
	testkit.RequireProto(t, "GetUser after a new name", want, mustGetUser(t, s, tenant, l.UserID))

	l.Email = "ada@countess.example"
	l.Time = epoch.Add(2 * time.Minute)
	want = wantUser(l, epoch, first.GroupIDs...)
	testkit.RequireProto(t, "the user after a new email", want, mustLogin(t, s, l).User)
	testkit.RequireProto(t, "GetUser after a new email", want, mustGetUser(t, s, tenant, l.UserID))

	l.Time = epoch.Add(3 * time.Minute)
	want = wantUser(l, epoch, first.GroupIDs...)
	testkit.RequireProto(t, "the user after an unchanged login", want, mustLogin(t, s, l).User)
	testkit.RequireProto(t, "GetUser after an unchanged login", want, mustGetUser(t, s, tenant, l.UserID))
}

func loginReplacesMemberships(t *testing.T, s store.Store) {
	tenant := newTenant()
	l := newLogin(tenant, "A", "B")
	ab := claimsOf(t, s, tenant, mustLogin(t, s, l).GroupIDs)

	l.GroupClaims = []string{"C", "B"}
	res := mustLogin(t, s, l)
	bc := claimsOf(t, s, tenant, res.GroupIDs)
	testkit.RequireEqual(t, "group of claim B across logins", ab["B"], bc["B"])
	testkit.RequireEqual(t, "groups after the second login", 2, len(bc))
	want := wantUser(l, epoch, bc["B"], bc["C"])
	testkit.RequireProto(t, "GetUser after the second login", want, mustGetUser(t, s, tenant, l.UserID))
	// The group the user left stays: groups outlive their members.
	_, err := s.GetGroup(t.Context(), tenant, ab["A"])
	testkit.RequireNoError(t, "GetGroup of the group the user left", err)

	l.GroupClaims = nil
	res = mustLogin(t, s, l)
	testkit.RequireEqual(t, "group ids after a login without groups", 0, len(res.GroupIDs))
	testkit.RequireProto(t, "GetUser after a login without groups", wantUser(l, epoch), mustGetUser(t, s, tenant, l.UserID))
}

func subjectIsPerProvider(t *testing.T, s store.Store) {
	tenant := newTenant()
	a := newLogin(tenant)
	b := newLogin(tenant)
	b.IdentityProvider = "partner-sso"
	b.Subject = a.Subject
	mustLogin(t, s, a)
	mustLogin(t, s, b)
	testkit.RequireProto(t, "the user at the first provider", wantUser(a, epoch), mustGetUser(t, s, tenant, a.UserID))
	testkit.RequireProto(t, "the user at the second provider", wantUser(b, epoch), mustGetUser(t, s, tenant, b.UserID))
}

func loginTimesNeverMoveBack(t *testing.T, s store.Store) {
	tenant, other := newTenant(), newTenant()
	l := newLogin(tenant)
	l.Time = epoch.Add(time.Hour)
	mustLogin(t, s, l)
	m := newLogin(tenant)
	mustLogin(t, s, m)
	o := newLogin(other)
	o.UserID = l.UserID // the same id in another tenant must not be touched
	mustLogin(t, s, o)

	late := l
	late.Time = epoch.Add(time.Minute) // delivered after a later login
	testkit.RequireEqual(t, "last login after an older login",
		epoch.Add(time.Hour), mustLogin(t, s, late).User.GetLastLoginTime().AsTime())

	testkit.RequireNoError(t, "TouchLogins", s.TouchLogins(t.Context(), []store.LoginTouch{
		{Tenant: tenant, UserID: l.UserID, Time: epoch.Add(30 * time.Minute)}, // older: ignored
		{Tenant: tenant, UserID: m.UserID, Time: epoch.Add(2 * time.Hour)},
		{Tenant: tenant, UserID: "nobody", Time: epoch.Add(2 * time.Hour)},
	}))
	testkit.RequireEqual(t, "last login after an older touch",
		epoch.Add(time.Hour), mustGetUser(t, s, tenant, l.UserID).GetLastLoginTime().AsTime())
	testkit.RequireEqual(t, "last login after a later touch",
		epoch.Add(2*time.Hour), mustGetUser(t, s, tenant, m.UserID).GetLastLoginTime().AsTime())
	testkit.RequireEqual(t, "last login of another tenant's user of the same id",
		epoch, mustGetUser(t, s, other, o.UserID).GetLastLoginTime().AsTime())

	testkit.RequireNoError(t, "TouchLogins", s.TouchLogins(t.Context(), []store.LoginTouch{
		{Tenant: tenant, UserID: l.UserID, Time: epoch.Add(3*time.Hour + time.Microsecond)},
	}))
	testkit.RequireEqual(t, "last login after a later touch",
		epoch.Add(3*time.Hour+time.Microsecond), mustGetUser(t, s, tenant, l.UserID).GetLastLoginTime().AsTime())
	testkit.RequireNoError(t, "TouchLogins of nothing", s.TouchLogins(t.Context(), nil))
}

func disableAndEnableRaiseEpoch(t *testing.T, s store.Store) {
	tenant := newTenant()
	l := newLogin(tenant)
	mustLogin(t, s, l)

	// The epoch rises with every change, to the clock's microseconds or one more than
	// before, whichever is higher.
	minute := func(n int) time.Time { return epoch.Add(time.Duration(n) * time.Minute) }
	for _, step := range []struct {
		disabled bool
		at       time.Time
		want     sessions.UserState
	}{
		{true, minute(0), sessions.UserState{Epoch: minute(0).UnixMicro(), Disabled: true}},
		// Disabling a disabled user still kills whatever tokens were issued meanwhile.
		{true, minute(0), sessions.UserState{Epoch: minute(0).UnixMicro() + 1, Disabled: true}},
		{false, minute(1), sessions.UserState{Epoch: minute(1).UnixMicro(), Disabled: false}},
		{true, minute(2), sessions.UserState{Epoch: minute(2).UnixMicro(), Disabled: true}},
	} {
		u, state, err := s.SetUserDisabled(t.Context(), tenant, l.UserID, step.disabled, step.at)
		testkit.RequireNoError(t, "SetUserDisabled", err)
		testkit.RequireEqual(t, "state after SetUserDisabled", step.want, state)
		want := wantUser(l, epoch)
		want.Disabled = step.disabled
		testkit.RequireProto(t, "user returned by SetUserDisabled", want, u)
		testkit.RequireProto(t, "GetUser after SetUserDisabled", want, mustGetUser(t, s, tenant, l.UserID))
	}

	// A disabled user's login is recorded, and says it is disabled, so the caller refuses it.
	l.Time = epoch.Add(time.Hour)
	res := mustLogin(t, s, l)
	testkit.RequireEqual(t, "LoginResult.Disabled of a disabled user", true, res.Disabled)

	_, _, err := s.SetUserDisabled(t.Context(), tenant, "nobody", true, epoch)
	testkit.RequireErrorIs(t, "SetUserDisabled of a missing user", err, store.ErrNotFound)
}

func userTenantIsolation(t *testing.T, s store.Store) {
	tenant, other := newTenant(), newTenant()
	l := newLogin(tenant, "Admins")
	want := mustLogin(t, s, l).User

	_, err := s.GetUser(t.Context(), other, l.UserID)
	testkit.RequireErrorIs(t, "GetUser from another tenant", err, store.ErrNotFound)
	_, _, err = s.SetUserDisabled(t.Context(), other, l.UserID, true, epoch)
	testkit.RequireErrorIs(t, "SetUserDisabled from another tenant", err, store.ErrNotFound)
	_, err = s.RaiseUserEpoch(t.Context(), other, l.UserID, epoch)
	testkit.RequireErrorIs(t, "RaiseUserEpoch from another tenant", err, store.ErrNotFound)
	testkit.RequireNoError(t, "TouchLogins from another tenant", s.TouchLogins(t.Context(), []store.LoginTouch{
		{Tenant: other, UserID: l.UserID, Time: epoch.Add(time.Hour)},
	}))
	users, err := s.ListUsers(t.Context(), other, everything)
	testkit.RequireNoError(t, "ListUsers", err)
	testkit.RequireEqual(t, "users listed in another tenant", 0, len(users))
	groups, err := s.ListGroups(t.Context(), other, everything)
	testkit.RequireNoError(t, "ListGroups", err)
	testkit.RequireEqual(t, "groups listed in another tenant", 0, len(groups))

	testkit.RequireProto(t, "the user after another tenant's attempts", want, mustGetUser(t, s, tenant, l.UserID))
	state, err := s.RevocationState(t.Context(), tenant)
	testkit.RequireNoError(t, "RevocationState", err)
	testkit.RequireEqual(t, "users with a revocation state", 0, len(state.Users))
}

func usersPageByID(t *testing.T, s store.Store) {
	tenant, other := newTenant(), newTenant()
	ids := pagingIDs("user")
	want := map[string]*identityv1.User{}
	for i, id := range ids {
		l := newLogin(tenant, ids[:i+1]...) // every user in a different set of groups
		l.UserID = id
		want[id] = mustLogin(t, s, l).User
	}
	o := newLogin(other, "Admins")
	o.UserID = ids[0] + "0"
	mustLogin(t, s, o)

	// Each user of a page comes with its own groups, not its neighbours'.
	users, err := s.ListUsers(t.Context(), tenant, everything)
	testkit.RequireNoError(t, "ListUsers", err)
	testkit.RequireEqual(t, "users listed", len(ids), len(users))
	for _, u := range users {
		testkit.RequireProto(t, "listed user", want[testkit.ResourceID(u.GetName())], u)
	}
	requirePaging(t, ids, func(p store.Page) ([]*identityv1.User, error) {
		return s.ListUsers(t.Context(), tenant, p)
	}, func(u *identityv1.User) string { return testkit.ResourceID(u.GetName()) })
}
