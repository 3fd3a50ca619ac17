package storetest

import (
	"context"
	"strings"
	"testing"
	"time"

	contentv1 "github.com/oriel-dev/oriel/gen/pb/oriel/content/v1"
	"github.com/oriel-dev/oriel/platform/testkit"
	"github.com/oriel-dev/oriel/services/content/internal/store"
)

var spaceBehaviours = []behaviour{
	{"a created space reads back with its name, times and etag", spaceRoundTrips},
	{"a taken space id is already taken in its tenant only", spaceIDTaken},
	{"updating a space checks its etag and changes it", updateSpaceChecksEtag},
	{"deleting a space checks its etag and drops its members", deleteSpaceDropsMembers},
	{"a space holding apps, deleted ones included, cannot be deleted", deleteSpaceRefusesApps},
	{"limit and after id page through every space exactly once, only those asked for", spacesPageByID},
	{"a space of another tenant is not found", spaceTenantIsolation},
}

var memberBehaviours = []behaviour{
	{"member ids derive from the principal and fit the member-id pattern", memberIDsDerive},
	{"putting a principal again replaces its membership", putMemberReplaces},
	{"deleting a member takes its role away", deleteMember},
	{"space roles are the highest role any of the caller's principals holds per space", spaceRolesAreHighest},
	{"limit and after id page through every member exactly once", membersPageByID},
	{"members of another tenant's space are not found", memberTenantIsolation},
}

// newSpace returns a space of tenant with every field set.
func newSpace(tenant, id string, typ contentv1.Space_Type) *contentv1.Space {
	return &contentv1.Space{
		Name:        store.SpaceName(tenant, id),
		DisplayName: "Space " + id,
		Description: "Where " + id + " lives",
		Type:        typ,
		CreateTime:  ts(epoch),
		UpdateTime:  ts(at(time.Second + time.Microsecond)),
	}
}

// mustCreateSpace creates a shared space in its own transaction and returns it with its etag.
func mustCreateSpace(t *testing.T, s store.Store, tenant, id string) *contentv1.Space {
	t.Helper()
	sp := newSpace(tenant, id, contentv1.Space_TYPE_SHARED)
	mustTx(t, s, "CreateSpace "+id, func(ctx context.Context, tx store.Tx) error { return tx.CreateSpace(ctx, tenant, id, sp) })
	if sp.GetEtag() == "" {
		t.Fatalf("CreateSpace(%s) left the etag empty", sp.GetName())
	}
	return sp
}

// mustGetSpace reads a space outside any transaction.
func mustGetSpace(t *testing.T, s store.Store, tenant, id string) *contentv1.Space {
	t.Helper()
	sp, err := s.GetSpace(t.Context(), tenant, id)
	testkit.RequireNoError(t, "GetSpace "+id, err)
	return sp
}

// userName and groupName are principals of tenant.
func userName(tenant, id string) string  { return "tenants/" + tenant + "/users/" + id }
func groupName(tenant, id string) string { return "tenants/" + tenant + "/groups/" + id }

// newMember returns the membership of a user (or, with group, a group) principal.
func newMember(tenant, space, principal string, group bool, role contentv1.SpaceRole, when time.Time) *contentv1.SpaceMember {
	m := &contentv1.SpaceMember{
		Name:       store.SpaceMemberName(tenant, space, store.MemberID(principal)),
		Role:       role,
		UpdateTime: ts(when),
	}
	if group {
		m.Group = principal
	} else {
		m.User = principal
	}
	return m
}

// mustPutMember puts members in one transaction.
func mustPutMember(t *testing.T, s store.Store, tenant, space string, members ...*contentv1.SpaceMember) {
	t.Helper()
	mustTx(t, s, "PutSpaceMember", func(ctx context.Context, tx store.Tx) error {
		for _, m := range members {
			if err := tx.PutSpaceMember(ctx, tenant, space, m); err != nil {
				return err
			}
		}
		return nil
	})
}

// mustListMembers lists every member of a space.
func mustListMembers(t *testing.T, s store.Store, tenant, space string) []*contentv1.SpaceMember {
	t.Helper()
	members, err := s.ListSpaceMembers(t.Context(), tenant, space, everything)
	testkit.RequireNoError(t, "ListSpaceMembers", err)
	return members
}

// requireRoles fails the test unless members hold exactly want in tenant.
func requireRoles(t *testing.T, s store.Store, tenant string, members []string, want map[string]contentv1.SpaceRole) {
	t.Helper()
	got, err := s.SpaceRoles(t.Context(), tenant, members)
	testkit.RequireNoError(t, "SpaceRoles", err)
	if len(got) != len(want) {
		t.Fatalf("SpaceRoles(%q) = %v, want %v", members, got, want)
	}
	for space, role := range want {
		if got[space] != role {
			t.Fatalf("SpaceRoles(%q) = %v, want %v", members, got, want)
		}
	}
}

func spaceRoundTrips(t *testing.T, s store.Store) {
	tenant := newTenant()
	want := newSpace(tenant, "analytics", contentv1.Space_TYPE_MANAGED)
	var inTxGot *contentv1.Space
	mustTx(t, s, "CreateSpace", func(ctx context.Context, tx store.Tx) error {
		if err := tx.CreateSpace(ctx, tenant, "analytics", want); err != nil {
			return err
		}
		var err error
		inTxGot, err = tx.GetSpace(ctx, tenant, "analytics")
		return err
	})
	if want.GetEtag() == "" {
		t.Fatal("CreateSpace left the etag empty")
	}
	testkit.RequireProto(t, "Tx.GetSpace in the creating transaction", want, inTxGot)
	testkit.RequireProto(t, "GetSpace", want, mustGetSpace(t, s, tenant, "analytics"))
	mustTx(t, s, "Tx.GetSpace", func(ctx context.Context, tx store.Tx) error {
		got, err := tx.GetSpace(ctx, tenant, "analytics")
		if err == nil {
			testkit.RequireProto(t, "Tx.GetSpace", want, got)
		}
		return err
	})
	list, err := s.ListSpaces(t.Context(), tenant, nil, everything)
	testkit.RequireNoError(t, "ListSpaces", err)
	testkit.RequireEqual(t, "spaces listed", 1, len(list))
	testkit.RequireProto(t, "ListSpaces[0]", want, list[0])
	if got := list[0].GetCreateTime().AsTime(); got.Location() != time.UTC || !got.Equal(epoch) {
		t.Fatalf("create time = %v, want %v in UTC to the microsecond", got, epoch)
	}
}

func spaceIDTaken(t *testing.T, s store.Store) {
	tenant, other := newTenant(), newTenant()
	first := mustCreateSpace(t, s, tenant, "sales")
	again := newSpace(tenant, "sales", contentv1.Space_TYPE_MANAGED)
	again.DisplayName = "Another"
	err := inTx(t, s, func(ctx context.Context, tx store.Tx) error { return tx.CreateSpace(ctx, tenant, "sales", again) })
	testkit.RequireErrorIs(t, "CreateSpace of a taken id", err, store.ErrAlreadyExists)
	testkit.RequireProto(t, "the space after a second create", first, mustGetSpace(t, s, tenant, "sales"))
	mustCreateSpace(t, s, other, "sales")
}

func updateSpaceChecksEtag(t *testing.T, s store.Store) {
	tenant := newTenant()
	created := mustCreateSpace(t, s, tenant, "ops")
	update := func(etag string, sp *contentv1.Space) error {
		return inTx(t, s, func(ctx context.Context, tx store.Tx) error { return tx.UpdateSpace(ctx, tenant, "ops", etag, sp) })
	}

	changed := mustGetSpace(t, s, tenant, "ops")
	changed.DisplayName, changed.Description, changed.UpdateTime = "Operations", "Run the business", ts(at(time.Hour))
	testkit.RequireNoError(t, "UpdateSpace with the current etag", update(created.GetEtag(), changed))
	if changed.GetEtag() == "" || changed.GetEtag() == created.GetEtag() {
		t.Fatalf("UpdateSpace set etag %q, want a new one (was %q)", changed.GetEtag(), created.GetEtag())
	}
	testkit.RequireProto(t, "GetSpace after UpdateSpace", changed, mustGetSpace(t, s, tenant, "ops"))

	stale := mustGetSpace(t, s, tenant, "ops")
	stale.DisplayName = "Stale"
	testkit.RequireErrorIs(t, "UpdateSpace with a stale etag", update(created.GetEtag(), stale), store.ErrEtagMismatch)
	testkit.RequireProto(t, "the space after a stale update", changed, mustGetSpace(t, s, tenant, "ops"))

	// Only display name, description and update time change; type and create time stay.
	blind := newSpace(tenant, "ops", contentv1.Space_TYPE_MANAGED)
	blind.CreateTime, blind.UpdateTime, blind.DisplayName = ts(at(-time.Hour)), ts(at(2*time.Hour)), "Blind"
	testkit.RequireNoError(t, "UpdateSpace without an etag", update("", blind))
	got := mustGetSpace(t, s, tenant, "ops")
	testkit.RequireEqual(t, "display name after a blind update", "Blind", got.GetDisplayName())
	testkit.RequireEqual(t, "type after an update", contentv1.Space_TYPE_SHARED, got.GetType())
	testkit.RequireEqual(t, "create time after an update", epoch, got.GetCreateTime().AsTime())
	testkit.RequireEqual(t, "update time after an update", at(2*time.Hour), got.GetUpdateTime().AsTime())
	testkit.RequireEqual(t, "etag", blind.GetEtag(), got.GetEtag())

	err := inTx(t, s, func(ctx context.Context, tx store.Tx) error {
		return tx.UpdateSpace(ctx, tenant, "missing", "", newSpace(tenant, "missing", contentv1.Space_TYPE_SHARED))
	})
	testkit.RequireErrorIs(t, "UpdateSpace of a missing space", err, store.ErrNotFound)
}

func deleteSpaceDropsMembers(t *testing.T, s store.Store) {
	tenant := newTenant()
	sp := mustCreateSpace(t, s, tenant, "doomed")
	user := userName(tenant, "ann")
	mustPutMember(t, s, tenant, "doomed", newMember(tenant, "doomed", user, false, contentv1.SpaceRole_SPACE_ROLE_PRODUCER, epoch))
	deleteSpace := func(etag string) error {
		return inTx(t, s, func(ctx context.Context, tx store.Tx) error { return tx.DeleteSpace(ctx, tenant, "doomed", etag) })
	}

	testkit.RequireErrorIs(t, "DeleteSpace with a stale etag", deleteSpace("stale"), store.ErrEtagMismatch)
	mustGetSpace(t, s, tenant, "doomed")
	testkit.RequireNoError(t, "DeleteSpace", deleteSpace(sp.GetEtag()))

	_, err := s.GetSpace(t.Context(), tenant, "doomed")
	testkit.RequireErrorIs(t, "GetSpace after delete", err, store.ErrNotFound)
	_, err = s.ListSpaceMembers(t.Context(), tenant, "doomed", everything)
	testkit.RequireErrorIs(t, "ListSpaceMembers of a deleted space", err, store.ErrNotFound)
	requireRoles(t, s, tenant, []string{user}, nil)
	testkit.RequireErrorIs(t, "DeleteSpace again", deleteSpace(""), store.ErrNotFound)

	// Nothing is left behind: the id and its members start afresh.
	mustCreateSpace(t, s, tenant, "doomed")
	if len(mustListMembers(t, s, tenant, "doomed")) != 0 {
		t.Fatal("a space made again with a deleted space's id has its members")
	}
}

func deleteSpaceRefusesApps(t *testing.T, s store.Store) {
	tenant := newTenant()
	mustCreateSpace(t, s, tenant, "full")
	app := mustCreateApp(t, s, tenant, "full", "dash")
	deleteSpace := func() error {
		return inTx(t, s, func(ctx context.Context, tx store.Tx) error { return tx.DeleteSpace(ctx, tenant, "full", "") })
	}
	testkit.RequireErrorIs(t, "DeleteSpace of a space with an app", deleteSpace(), store.ErrSpaceNotEmpty)

	purge := at(14 * 24 * time.Hour)
	mustSetState(t, s, tenant, "dash", app.GetEtag(), contentv1.App_STATE_DELETED, &purge, at(time.Hour))
	testkit.RequireErrorIs(t, "DeleteSpace of a space with a deleted app", deleteSpace(), store.ErrSpaceNotEmpty)
	mustGetSpace(t, s, tenant, "full")
	mustGetApp(t, s, tenant, "dash")

	// Moving the app out empties the space.
	mustCreateSpace(t, s, tenant, "other")
	moved := mustGetApp(t, s, tenant, "dash")
	moved.Space = store.SpaceName(tenant, "other")
	mustSave(t, s, tenant, "dash", moved.GetEtag(), moved, saveRevision(at(2*time.Hour)))
	testkit.RequireNoError(t, "DeleteSpace after its app moved out", deleteSpace())
}

func spacesPageByID(t *testing.T, s store.Store) {
	tenant, other := newTenant(), newTenant()
	ids := pagingIDs("space")
	for _, id := range ids {
		mustCreateSpace(t, s, tenant, id)
		mustCreateSpace(t, s, other, id+"-x")
	}
	list := func(only []string) func(store.Page) ([]*contentv1.Space, error) {
		return func(p store.Page) ([]*contentv1.Space, error) { return s.ListSpaces(t.Context(), tenant, only, p) }
	}
	id := func(sp *contentv1.Space) string { return testkit.ResourceID(sp.GetName()) }
	t.Run("all", func(t *testing.T) { requirePaging(t, ids, list(nil), id) })
	t.Run("only some", func(t *testing.T) {
		some := []string{ids[0], ids[2], ids[4], "missing", ids[0] + "-x"}
		requirePaging(t, []string{ids[0], ids[2], ids[4]}, list(some), id)
	})
	t.Run("none", func(t *testing.T) {
		got, err := s.ListSpaces(t.Context(), tenant, []string{}, everything)
		testkit.RequireNoError(t, "ListSpaces of no ids", err)
		testkit.RequireEqual(t, "spaces listed for no ids", 0, len(got))
	})
}

func spaceTenantIsolation(t *testing.T, s store.Store) {
	tenant, other := newTenant(), newTenant()
	sp := mustCreateSpace(t, s, tenant, "private")
	user := userName(tenant, "ann")
	mustPutMember(t, s, tenant, "private", newMember(tenant, "private", user, false, contentv1.SpaceRole_SPACE_ROLE_CONSUMER, epoch))
	memberID := store.MemberID(user)

	_, err := s.GetSpace(t.Context(), other, "private")
	testkit.RequireErrorIs(t, "GetSpace from another tenant", err, store.ErrNotFound)
	list, err := s.ListSpaces(t.Context(), other, nil, everything)
	testkit.RequireNoError(t, "ListSpaces in another tenant", err)
	testkit.RequireEqual(t, "spaces listed in another tenant", 0, len(list))
	list, err = s.ListSpaces(t.Context(), other, []string{"private"}, everything)
	testkit.RequireNoError(t, "ListSpaces in another tenant by id", err)
	testkit.RequireEqual(t, "spaces listed in another tenant by id", 0, len(list))
	for _, tc := range []struct {
		name string
		fn   func(ctx context.Context, tx store.Tx) error
	}{
		{"Tx.GetSpace", func(ctx context.Context, tx store.Tx) error { _, err := tx.GetSpace(ctx, other, "private"); return err }},
		{"UpdateSpace", func(ctx context.Context, tx store.Tx) error {
			return tx.UpdateSpace(ctx, other, "private", "", newSpace(other, "private", contentv1.Space_TYPE_SHARED))
		}},
		{"DeleteSpace", func(ctx context.Context, tx store.Tx) error { return tx.DeleteSpace(ctx, other, "private", "") }},
		{"PutSpaceMember", func(ctx context.Context, tx store.Tx) error {
			return tx.PutSpaceMember(ctx, other, "private",
				newMember(other, "private", userName(other, "eve"), false, contentv1.SpaceRole_SPACE_ROLE_FACILITATOR, epoch))
		}},
		{"DeleteSpaceMember", func(ctx context.Context, tx store.Tx) error {
			return tx.DeleteSpaceMember(ctx, other, "private", memberID)
		}},
	} {
		testkit.RequireErrorIs(t, tc.name+" from another tenant", inTx(t, s, tc.fn), store.ErrNotFound)
	}
	testkit.RequireProto(t, "the space after another tenant's attempts", sp, mustGetSpace(t, s, tenant, "private"))
	testkit.RequireEqual(t, "members after another tenant's attempts", 1, len(mustListMembers(t, s, tenant, "private")))
	requireRoles(t, s, other, []string{user}, nil)
}

func memberIDsDerive(t *testing.T, s store.Store) {
	tenant := newTenant()
	mustCreateSpace(t, s, tenant, "team")
	// The longest user and group ids the identity service makes: 63 characters.
	long := strings.Repeat("a1-", 20) + "abc"
	for _, principal := range []string{userName(tenant, "ann"), groupName(tenant, "ann"), userName(tenant, long), groupName(tenant, long)} {
		id := store.MemberID(principal)
		if !memberIDPattern.MatchString(id) {
			t.Fatalf("MemberID(%q) = %q, which does not match %s", principal, id, memberIDPattern)
		}
	}
	if store.MemberID(userName(tenant, "ann")) == store.MemberID(groupName(tenant, "ann")) {
		t.Fatal("a user and a group of the same id got the same member id")
	}
	user := newMember(tenant, "team", userName(tenant, "ann"), false, contentv1.SpaceRole_SPACE_ROLE_CONSUMER, epoch)
	group := newMember(tenant, "team", groupName(tenant, "ann"), true, contentv1.SpaceRole_SPACE_ROLE_PRODUCER, at(time.Second))
	mustPutMember(t, s, tenant, "team", user, group)
	members := mustListMembers(t, s, tenant, "team")
	testkit.RequireEqual(t, "members listed", 2, len(members))
	byName := map[string]*contentv1.SpaceMember{}
	for _, m := range members {
		byName[m.GetName()] = m
	}
	testkit.RequireProto(t, "the user member", user, byName[user.GetName()])
	testkit.RequireProto(t, "the group member", group, byName[group.GetName()])

	// A member put without a name gets the one derived from its principal.
	unnamed := newMember(tenant, "team", userName(tenant, "bob"), false, contentv1.SpaceRole_SPACE_ROLE_CONTRIBUTOR, epoch)
	want := store.SpaceMemberName(tenant, "team", store.MemberID(unnamed.GetUser()))
	unnamed.Name = ""
	mustPutMember(t, s, tenant, "team", unnamed)
	testkit.RequireEqual(t, "the name PutSpaceMember gave an unnamed member", want, unnamed.GetName())
	testkit.RequireStrings(t, "member names", []string{
		store.SpaceMemberName(tenant, "team", "g-ann"),
		store.SpaceMemberName(tenant, "team", "u-ann"),
		store.SpaceMemberName(tenant, "team", "u-bob"),
	}, names(mustListMembers(t, s, tenant, "team")))
}

func putMemberReplaces(t *testing.T, s store.Store) {
	tenant := newTenant()
	mustCreateSpace(t, s, tenant, "team")
	user, group := userName(tenant, "ann"), groupName(tenant, "analysts")
	mustPutMember(t, s, tenant, "team",
		newMember(tenant, "team", user, false, contentv1.SpaceRole_SPACE_ROLE_CONSUMER, epoch),
		newMember(tenant, "team", group, true, contentv1.SpaceRole_SPACE_ROLE_FACILITATOR, epoch))
	requireRoles(t, s, tenant, []string{user}, map[string]contentv1.SpaceRole{"team": contentv1.SpaceRole_SPACE_ROLE_CONSUMER})

	promoted := newMember(tenant, "team", user, false, contentv1.SpaceRole_SPACE_ROLE_PRODUCER, at(time.Minute))
	demoted := newMember(tenant, "team", group, true, contentv1.SpaceRole_SPACE_ROLE_CONSUMER, at(time.Minute))
	mustPutMember(t, s, tenant, "team", promoted, demoted)
	members := mustListMembers(t, s, tenant, "team")
	testkit.RequireEqual(t, "members after putting both again", 2, len(members))
	testkit.RequireProto(t, "the group, replaced", demoted, members[0])
	testkit.RequireProto(t, "the user, replaced", promoted, members[1])
	requireRoles(t, s, tenant, []string{user}, map[string]contentv1.SpaceRole{"team": contentv1.SpaceRole_SPACE_ROLE_PRODUCER})
	requireRoles(t, s, tenant, []string{group}, map[string]contentv1.SpaceRole{"team": contentv1.SpaceRole_SPACE_ROLE_CONSUMER})

	err := inTx(t, s, func(ctx context.Context, tx store.Tx) error {
		return tx.PutSpaceMember(ctx, tenant, "missing", newMember(tenant, "missing", user, false, contentv1.SpaceRole_SPACE_ROLE_CONSUMER, epoch))
	})
	testkit.RequireErrorIs(t, "PutSpaceMember in a missing space", err, store.ErrNotFound)
}

func deleteMember(t *testing.T, s store.Store) {
	tenant := newTenant()
	mustCreateSpace(t, s, tenant, "team")
	user, other := userName(tenant, "ann"), userName(tenant, "bob")
	mustPutMember(t, s, tenant, "team",
		newMember(tenant, "team", user, false, contentv1.SpaceRole_SPACE_ROLE_PRODUCER, epoch),
		newMember(tenant, "team", other, false, contentv1.SpaceRole_SPACE_ROLE_CONSUMER, epoch))
	deleteMember := func(id string) error {
		return inTx(t, s, func(ctx context.Context, tx store.Tx) error { return tx.DeleteSpaceMember(ctx, tenant, "team", id) })
	}
	testkit.RequireNoError(t, "DeleteSpaceMember", deleteMember(store.MemberID(user)))
	requireRoles(t, s, tenant, []string{user}, nil)
	testkit.RequireStrings(t, "members after delete", []string{store.SpaceMemberName(tenant, "team", store.MemberID(other))},
		names(mustListMembers(t, s, tenant, "team")))
	testkit.RequireErrorIs(t, "DeleteSpaceMember again", deleteMember(store.MemberID(user)), store.ErrNotFound)
}

func spaceRolesAreHighest(t *testing.T, s store.Store) {
	tenant, other := newTenant(), newTenant()
	for _, id := range []string{"alpha", "beta", "gamma", "delta"} {
		mustCreateSpace(t, s, tenant, id)
	}
	mustCreateSpace(t, s, other, "alpha")
	user, analysts, admins := userName(tenant, "ann"), groupName(tenant, "analysts"), groupName(tenant, "admins")
	stranger := userName(tenant, "bob")
	mustPutMember(t, s, tenant, "alpha",
		newMember(tenant, "alpha", user, false, contentv1.SpaceRole_SPACE_ROLE_CONSUMER, epoch),
		newMember(tenant, "alpha", analysts, true, contentv1.SpaceRole_SPACE_ROLE_PRODUCER, epoch),
		newMember(tenant, "alpha", stranger, false, contentv1.SpaceRole_SPACE_ROLE_FACILITATOR, epoch))
	mustPutMember(t, s, tenant, "beta",
		newMember(tenant, "beta", user, false, contentv1.SpaceRole_SPACE_ROLE_FACILITATOR, epoch),
		newMember(tenant, "beta", admins, true, contentv1.SpaceRole_SPACE_ROLE_CONTRIBUTOR, epoch))
	mustPutMember(t, s, tenant, "gamma",
		newMember(tenant, "gamma", admins, true, contentv1.SpaceRole_SPACE_ROLE_CONTRIBUTOR, epoch))
	mustPutMember(t, s, tenant, "delta",
		newMember(tenant, "delta", stranger, false, contentv1.SpaceRole_SPACE_ROLE_PRODUCER, epoch))
	// The same principal names in another tenant's space grant nothing here, and the reverse.
	mustPutMember(t, s, other, "alpha",
		newMember(other, "alpha", user, false, contentv1.SpaceRole_SPACE_ROLE_FACILITATOR, epoch))

	requireRoles(t, s, tenant, []string{user, analysts, admins}, map[string]contentv1.SpaceRole{
		"alpha": contentv1.SpaceRole_SPACE_ROLE_PRODUCER,
		"beta":  contentv1.SpaceRole_SPACE_ROLE_FACILITATOR,
		"gamma": contentv1.SpaceRole_SPACE_ROLE_CONTRIBUTOR,
	})
	requireRoles(t, s, tenant, []string{user}, map[string]contentv1.SpaceRole{
		"alpha": contentv1.SpaceRole_SPACE_ROLE_CONSUMER,
		"beta":  contentv1.SpaceRole_SPACE_ROLE_FACILITATOR,
	})
	requireRoles(t, s, tenant, []string{userName(tenant, "nobody")}, nil)
	requireRoles(t, s, tenant, nil, nil)
	requireRoles(t, s, other, []string{user, analysts}, map[string]contentv1.SpaceRole{
		"alpha": contentv1.SpaceRole_SPACE_ROLE_FACILITATOR,
	})
}

func membersPageByID(t *testing.T, s store.Store) {
	tenant := newTenant()
	mustCreateSpace(t, s, tenant, "crowd")
	mustCreateSpace(t, s, tenant, "other")
	var ids []string
	for _, id := range pagingIDs("user") {
		principal := userName(tenant, id)
		mustPutMember(t, s, tenant, "crowd", newMember(tenant, "crowd", principal, false, contentv1.SpaceRole_SPACE_ROLE_CONSUMER, epoch))
		mustPutMember(t, s, tenant, "other", newMember(tenant, "other", principal, false, contentv1.SpaceRole_SPACE_ROLE_CONSUMER, epoch))
		ids = append(ids, store.MemberID(principal))
	}
	requirePaging(t, ids, func(p store.Page) ([]*contentv1.SpaceMember, error) {
		return s.ListSpaceMembers(t.Context(), tenant, "crowd", p)
	}, func(m *contentv1.SpaceMember) string { return testkit.ResourceID(m.GetName()) })
}

func memberTenantIsolation(t *testing.T, s store.Store) {
	tenant, other := newTenant(), newTenant()
	mustCreateSpace(t, s, tenant, "private")
	mustPutMember(t, s, tenant, "private",
		newMember(tenant, "private", userName(tenant, "ann"), false, contentv1.SpaceRole_SPACE_ROLE_CONSUMER, epoch))
	_, err := s.ListSpaceMembers(t.Context(), other, "private", everything)
	testkit.RequireErrorIs(t, "ListSpaceMembers of another tenant's space", err, store.ErrNotFound)
	_, err = s.ListSpaceMembers(t.Context(), tenant, "missing", everything)
	testkit.RequireErrorIs(t, "ListSpaceMembers of a missing space", err, store.ErrNotFound)
	// A space without members is there, and empty.
	mustCreateSpace(t, s, tenant, "empty")
	testkit.RequireEqual(t, "members of an empty space", 0, len(mustListMembers(t, s, tenant, "empty")))
}
