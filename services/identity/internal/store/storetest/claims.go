package storetest

import (
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	identityv1 "github.com/oriel-dev/oriel/gen/pb/oriel/identity/v1"
	"github.com/oriel-dev/oriel/platform/testkit"
	"github.com/oriel-dev/oriel/services/identity/internal/store"
)

var claimBehaviours = []behaviour{
	{"group ids made from awkward claims are valid, distinct and the same in every tenant", awkwardClaimsMakeValidGroupIDs},
	{"empty and repeated group claims are ignored", emptyAndRepeatedClaimsIgnored},
	{"a login joins the group created ahead for its claim", loginJoinsGroupCreatedAhead},
	{"only a login that creates a group bumps the directory version", onlyGroupCreationBumpsVersion},
	{"a login with a NUL character in any claim is refused and changes nothing", nulClaimsRefused},
	{"concurrent first logins of one user all succeed and make one user and one group each", concurrentFirstLoginsOfOneUser},
	{"concurrent logins of different users share the groups they create", concurrentLoginsShareNewGroups},
}

// awkwardClaims are groups-claim values a JWT may carry that are nothing like ids.
var awkwardClaims = []string{
	"Admins",
	"sales emea",
	"Sales/EMEA",
	"SALES---EMEA",
	"ÄÖÜ",
	"Ärzte Süd",
	"🙂",
	"team 🚀 rocket",
	" ",
	"-",
	"x",
	"0",
	"CN=Analysts,OU=Groups,DC=acme,DC=example",
	"ends with punctuation!!!",
	strings.Repeat("abc ", 75),  // 300 characters
	strings.Repeat("Ä", 300),    // 300 characters, no ASCII at all
	strings.Repeat("abc ", 750), // 3,000 characters: more than an index entry may hold
	"tab\tand\nnewline",
}

func awkwardClaimsMakeValidGroupIDs(t *testing.T, s store.Store) {
	tenant, other := newTenant(), newTenant()
	res := mustLogin(t, s, newLogin(tenant, awkwardClaims...))
	testkit.RequireEqual(t, "groups made", len(awkwardClaims), len(res.GroupIDs))
	byClaim := claimsOf(t, s, tenant, res.GroupIDs)
	for _, claim := range awkwardClaims {
		id, ok := byClaim[claim]
		if !ok {
			t.Fatalf("no group has claim value %q exactly; groups have %q", claim, byClaim)
		}
		if !validID.MatchString(id) {
			t.Fatalf("group id %q of claim %q does not match %s", id, claim, validID)
		}
	}

	// The same claims make the same ids in another tenant: ids derive from claims alone.
	elsewhere := claimsOf(t, s, other, mustLogin(t, s, newLogin(other, awkwardClaims...)).GroupIDs)
	for _, claim := range awkwardClaims {
		testkit.RequireEqual(t, "group id of "+claim+" in another tenant", byClaim[claim], elsewhere[claim])
	}

	// Logging in again finds every group, making none.
	again := mustLogin(t, s, newLogin(tenant, awkwardClaims...))
	testkit.RequireStrings(t, "group ids of a second user", slices.Sorted(slices.Values(res.GroupIDs)),
		slices.Sorted(slices.Values(again.GroupIDs)))
	testkit.RequireEqual(t, "directory version of a login making no group", 0, again.DirectoryVersion)
}

func emptyAndRepeatedClaimsIgnored(t *testing.T, s store.Store) {
	tenant := newTenant()
	res := mustLogin(t, s, newLogin(tenant, "", "Admins", "Admins", "", "admins"))
	byClaim := claimsOf(t, s, tenant, res.GroupIDs)
	testkit.RequireEqual(t, "groups made", 2, len(res.GroupIDs))
	if _, ok := byClaim["Admins"]; !ok {
		t.Fatalf("no group for claim Admins: %q", byClaim)
	}
	if _, ok := byClaim["admins"]; !ok {
		t.Fatalf("claims are matched exactly, yet no group for claim admins: %q", byClaim)
	}
	groups, err := s.ListGroups(t.Context(), tenant, everything)
	testkit.RequireNoError(t, "ListGroups", err)
	testkit.RequireEqual(t, "groups in the tenant", 2, len(groups))

	res = mustLogin(t, s, newLogin(tenant, ""))
	testkit.RequireEqual(t, "groups of a login claiming only the empty string", 0, len(res.GroupIDs))
	testkit.RequireEqual(t, "its directory version", 0, res.DirectoryVersion)
}

func loginJoinsGroupCreatedAhead(t *testing.T, s store.Store) {
	tenant := newTenant()
	version, err := s.CreateGroup(t.Context(), tenant, "custom-admins",
		&identityv1.Group{Name: store.GroupName(tenant, "custom-admins"), ClaimValue: "Admins", CreateTime: ts(epoch)})
	testkit.RequireNoError(t, "CreateGroup", err)

	res := mustLogin(t, s, newLogin(tenant, "Admins", "Viewers"))
	byClaim := claimsOf(t, s, tenant, res.GroupIDs)
	testkit.RequireEqual(t, "group of the claim created ahead", "custom-admins", byClaim["Admins"])
	testkit.RequireEqual(t, "directory version after the login made one group", version+1, res.DirectoryVersion)

	res = mustLogin(t, s, newLogin(tenant, "Admins"))
	testkit.RequireStrings(t, "group ids", []string{"custom-admins"}, res.GroupIDs)
	testkit.RequireEqual(t, "directory version of a login making no group", 0, res.DirectoryVersion)
}

func onlyGroupCreationBumpsVersion(t *testing.T, s store.Store) {
	tenant := newTenant()
	first := mustLogin(t, s, newLogin(tenant, "A", "B"))
	if first.DirectoryVersion <= 0 {
		t.Fatalf("directory version of a login making groups = %d, want > 0", first.DirectoryVersion)
	}
	l := newLogin(tenant, "A")
	testkit.RequireEqual(t, "directory version of a login joining existing groups", 0, mustLogin(t, s, l).DirectoryVersion)
	l.GroupClaims = []string{"B"}
	l.Time = epoch.Add(time.Minute)
	testkit.RequireEqual(t, "directory version of a login changing memberships", 0, mustLogin(t, s, l).DirectoryVersion)
	testkit.RequireEqual(t, "directory version of a login without groups", 0, mustLogin(t, s, newLogin(tenant)).DirectoryVersion)
	l.GroupClaims = []string{"B", "C", "D"}
	testkit.RequireEqual(t, "directory version of a login making two groups at once",
		first.DirectoryVersion+1, mustLogin(t, s, l).DirectoryVersion)
	requireDirectoryVersion(t, s, tenant, first.DirectoryVersion+1)
}

// rounds is how many times each race is run: a lost race is a matter of timing.
const rounds = 5

// warmUp makes the store open connections for concurrent callers before a race, so the
// racers really overlap instead of the first finishing while the others wait for a
// connection to be dialled.
func warmUp(t *testing.T, s store.Store) {
	t.Helper()
	for range 3 {
		var wg sync.WaitGroup
		for range concurrency {
			wg.Go(func() { _, _ = s.RevocationState(t.Context(), "warm-up") })
		}
		wg.Wait()
	}
}

// loginConcurrently runs the logins at once, failing the test if any fails.
func loginConcurrently(t *testing.T, s store.Store, logins []store.Login) []*store.LoginResult {
	t.Helper()
	results := make([]*store.LoginResult, len(logins))
	errs := make([]error, len(logins))
	start := make(chan struct{})
	var wg sync.WaitGroup
	for i, l := range logins {
		wg.Go(func() {
			<-start
			results[i], errs[i] = s.Login(t.Context(), l)
		})
	}
	close(start)
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Fatalf("concurrent Login %d of %d: %v", i+1, len(logins), err)
		}
	}
	return results
}

// requireConsistentBumps checks that the logins that report a new directory version are
// exactly the bumps the tenant saw: distinct versions, the last of them the tenant's.
func requireConsistentBumps(t *testing.T, s store.Store, tenant string, results []*store.LoginResult) {
	t.Helper()
	var versions []int64
	for _, r := range results {
		if r.DirectoryVersion != 0 {
			versions = append(versions, r.DirectoryVersion)
		}
	}
	if len(versions) == 0 {
		t.Fatal("no concurrent login reported creating the groups")
	}
	slices.Sort(versions)
	if len(slices.Compact(slices.Clone(versions))) != len(versions) {
		t.Fatalf("concurrent logins reported directory versions %v, some twice", versions)
	}
	requireDirectoryVersion(t, s, tenant, versions[len(versions)-1])
}

func concurrentFirstLoginsOfOneUser(t *testing.T, s store.Store) {
	warmUp(t, s)
	for range rounds {
		tenant := newTenant()
		l := newLogin(tenant, "Gamma", "Alpha", "Beta")
		logins := make([]store.Login, concurrency)
		for i := range logins {
			logins[i] = l
		}
		results := loginConcurrently(t, s, logins)
		for i, r := range results {
			testkit.RequireProto(t, "user of a concurrent login", results[0].User, r.User)
			testkit.RequireStrings(t, "group ids of a concurrent login", results[0].GroupIDs, results[i].GroupIDs)
		}
		requireConsistentBumps(t, s, tenant, results)

		users, err := s.ListUsers(t.Context(), tenant, everything)
		testkit.RequireNoError(t, "ListUsers", err)
		testkit.RequireEqual(t, "users after concurrent first logins of one user", 1, len(users))
		groups, err := s.ListGroups(t.Context(), tenant, everything)
		testkit.RequireNoError(t, "ListGroups", err)
		testkit.RequireEqual(t, "groups after concurrent first logins claiming three", 3, len(groups))
	}
}

func concurrentLoginsShareNewGroups(t *testing.T, s store.Store) {
	warmUp(t, s)
	for range rounds {
		tenant := newTenant()
		logins := make([]store.Login, concurrency)
		for i := range logins {
			claims := []string{"Gamma", "Alpha", "Beta", "Delta"}
			if i%2 == 1 {
				slices.Reverse(claims) // claim order must not matter, nor deadlock
			}
			logins[i] = newLogin(tenant, claims...)
		}
		results := loginConcurrently(t, s, logins)
		for _, r := range results {
			testkit.RequireStrings(t, "group ids of a concurrent login",
				slices.Sorted(slices.Values(results[0].GroupIDs)), slices.Sorted(slices.Values(r.GroupIDs)))
		}
		requireConsistentBumps(t, s, tenant, results)

		users, err := s.ListUsers(t.Context(), tenant, everything)
		testkit.RequireNoError(t, "ListUsers", err)
		testkit.RequireEqual(t, "users after concurrent logins", concurrency, len(users))
		groups, err := s.ListGroups(t.Context(), tenant, everything)
		testkit.RequireNoError(t, "ListGroups", err)
		testkit.RequireEqual(t, "groups after concurrent logins claiming four", 4, len(groups))
	}
}

// requireDirectoryVersion fails the test unless the tenant's directory version is want.
func requireDirectoryVersion(t *testing.T, s store.Store, tenant string, want int64) {
	t.Helper()
	state, err := s.RevocationState(t.Context(), tenant)
	testkit.RequireNoError(t, "RevocationState", err)
	testkit.RequireEqual(t, "directory version", want, state.DirectoryVersion)
}

func nulClaimsRefused(t *testing.T, s store.Store) {
	tenant := newTenant()
	for _, tc := range []struct {
		name   string
		change func(*store.Login)
	}{
		{"group claim", func(l *store.Login) { l.GroupClaims = []string{"Admins", "bad\x00group"} }},
		{"subject", func(l *store.Login) { l.Subject += "\x00" }},
		{"display name", func(l *store.Login) { l.DisplayName = "\x00" }},
		{"email", func(l *store.Login) { l.Email = "a\x00@acme.example" }},
	} {
		l := newLogin(tenant)
		tc.change(&l)
		if _, err := s.Login(t.Context(), l); err == nil {
			t.Fatalf("Login with a NUL in its %s succeeded", tc.name)
		}
		_, err := s.GetUser(t.Context(), tenant, l.UserID)
		testkit.RequireErrorIs(t, "GetUser after a refused login", err, store.ErrNotFound)
	}
	groups, err := s.ListGroups(t.Context(), tenant, everything)
	testkit.RequireNoError(t, "ListGroups", err)
	testkit.RequireEqual(t, "groups after refused logins", 0, len(groups))
}
