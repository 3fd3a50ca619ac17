package storetest

import (
	"slices"
	"testing"
	"time"

	identityv1 "github.com/oriel-dev/oriel/gen/pb/oriel/identity/v1"
	"github.com/oriel-dev/oriel/platform/testkit"
	"github.com/oriel-dev/oriel/services/identity/internal/store"
)

var groupBehaviours = []behaviour{
	{"a created group reads back and bumps the directory version", groupRoundTrips},
	{"a taken group id or claim value is already taken in its tenant only", groupIDOrClaimTaken},
	{"deleting a group drops its memberships and role bindings", deletingGroupCascades},
	{"a group of another tenant is not found", groupTenantIsolation},
	{"limit and after id page through every group exactly once", groupsPageByID},
}

var bindingBehaviours = []behaviour{
	{"bindings of users and of groups read back and bump the directory version", bindingsRoundTrip},
	{"binding a member to a role it has is already taken", bindingTwiceTaken},
	{"a binding of a missing member is refused", bindingOfMissingMember},
	{"roles are the sorted union of the user's and its groups' bindings", rolesAreUnion},
	{"deleting a binding takes its role away", deletingBindingTakesRole},
	{"a binding of another tenant is not found", bindingTenantIsolation},
	{"limit and after id page through every binding exactly once", bindingsPageByID},
}

// newGroup returns a group of tenant with claim value claim.
func newGroup(tenant, id, claim string) *identityv1.Group {
	return &identityv1.Group{Name: store.GroupName(tenant, id), ClaimValue: claim, CreateTime: ts(epoch)}
}

// mustCreateGroup creates a group and returns the directory version it reported.
func mustCreateGroup(t *testing.T, s store.Store, tenant, id, claim string) int64 {
	t.Helper()
	v, err := s.CreateGroup(t.Context(), tenant, id, newGroup(tenant, id, claim))
	testkit.RequireNoError(t, "CreateGroup "+id, err)
	return v
}

func groupRoundTrips(t *testing.T, s store.Store) {
	tenant := newTenant()
	v1 := mustCreateGroup(t, s, tenant, "analysts", "CN=Analysts")
	if v1 <= 0 {
		t.Fatalf("CreateGroup returned directory version %d, want > 0", v1)
	}
	testkit.RequireEqual(t, "directory version after a second group", v1+1, mustCreateGroup(t, s, tenant, "admins", "Admins"))

	got, err := s.GetGroup(t.Context(), tenant, "analysts")
	testkit.RequireNoError(t, "GetGroup", err)
	testkit.RequireProto(t, "GetGroup", newGroup(tenant, "analysts", "CN=Analysts"), got)
	list, err := s.ListGroups(t.Context(), tenant, everything)
	testkit.RequireNoError(t, "ListGroups", err)
	testkit.RequireEqual(t, "groups listed", 2, len(list))
	testkit.RequireProto(t, "ListGroups[0]", newGroup(tenant, "admins", "Admins"), list[0])
	testkit.RequireProto(t, "ListGroups[1]", newGroup(tenant, "analysts", "CN=Analysts"), list[1])
}

func groupIDOrClaimTaken(t *testing.T, s store.Store) {
	tenant, other := newTenant(), newTenant()
	v := mustCreateGroup(t, s, tenant, "admins", "Admins")

	_, err := s.CreateGroup(t.Context(), tenant, "admins", newGroup(tenant, "admins", "Other"))
	testkit.RequireErrorIs(t, "CreateGroup of a taken id", err, store.ErrAlreadyExists)
	_, err = s.CreateGroup(t.Context(), tenant, "admins-2", newGroup(tenant, "admins-2", "Admins"))
	testkit.RequireErrorIs(t, "CreateGroup of a taken claim value", err, store.ErrAlreadyExists)
	// A claim taken by a group a login made is taken too.
	res := mustLogin(t, s, newLogin(tenant, "Viewers"))
	_, err = s.CreateGroup(t.Context(), tenant, "viewers", newGroup(tenant, "viewers", "Viewers"))
	testkit.RequireErrorIs(t, "CreateGroup of a claim a login made", err, store.ErrAlreadyExists)

	// Failed creates bumped nothing: the next change is the one after the login's.
	testkit.RequireEqual(t, "directory version after failed creates", res.DirectoryVersion+1,
		mustCreateGroup(t, s, tenant, "admins-2", "Admins 2"))
	if res.DirectoryVersion != v+1 {
		t.Fatalf("login's directory version = %d, want %d", res.DirectoryVersion, v+1)
	}

	mustCreateGroup(t, s, other, "admins", "Admins")
}

func deletingGroupCascades(t *testing.T, s store.Store) {
	tenant := newTenant()
	l := newLogin(tenant, "Admins", "Viewers")
	res := mustLogin(t, s, l)
	byClaim := claimsOf(t, s, tenant, res.GroupIDs)
	admins, viewers := byClaim["Admins"], byClaim["Viewers"]
	mustBind(t, s, tenant, "admins-admin", groupMember(tenant, admins), identityv1.Role_ROLE_ADMIN)
	mustBind(t, s, tenant, "viewers-viewer", groupMember(tenant, viewers), identityv1.Role_ROLE_VIEWER)
	before := mustBind(t, s, tenant, "admins-dev", groupMember(tenant, admins), identityv1.Role_ROLE_DEVELOPER)

	v, err := s.DeleteGroup(t.Context(), tenant, admins)
	testkit.RequireNoError(t, "DeleteGroup", err)
	testkit.RequireEqual(t, "directory version after DeleteGroup", before+1, v)

	_, err = s.GetGroup(t.Context(), tenant, admins)
	testkit.RequireErrorIs(t, "GetGroup after delete", err, store.ErrNotFound)
	testkit.RequireStrings(t, "the user's groups after delete",
		[]string{store.GroupName(tenant, viewers)}, mustGetUser(t, s, tenant, l.UserID).GetGroups())
	for _, id := range []string{"admins-admin", "admins-dev"} {
		_, err = s.GetRoleBinding(t.Context(), tenant, id)
		testkit.RequireErrorIs(t, "GetRoleBinding of a deleted group's binding", err, store.ErrNotFound)
	}
	// A caller still holding the deleted group's id gets none of its roles.
	requireRoles(t, s, tenant, l.UserID, res.GroupIDs, identityv1.Role_ROLE_VIEWER)

	_, err = s.DeleteGroup(t.Context(), tenant, admins)
	testkit.RequireErrorIs(t, "DeleteGroup of a deleted group", err, store.ErrNotFound)

	// The claim is free again: the next login claiming it makes a new group.
	l.Time = epoch.Add(time.Minute)
	again := mustLogin(t, s, l)
	testkit.RequireEqual(t, "directory version of the login remaking the group", v+1, again.DirectoryVersion)
	testkit.RequireEqual(t, "groups after the login remaking the group", 2, len(again.GroupIDs))
}

func groupTenantIsolation(t *testing.T, s store.Store) {
	tenant, other := newTenant(), newTenant()
	mustCreateGroup(t, s, tenant, "admins", "Admins")

	_, err := s.GetGroup(t.Context(), other, "admins")
	testkit.RequireErrorIs(t, "GetGroup from another tenant", err, store.ErrNotFound)
	_, err = s.DeleteGroup(t.Context(), other, "admins")
	testkit.RequireErrorIs(t, "DeleteGroup from another tenant", err, store.ErrNotFound)
	list, err := s.ListGroups(t.Context(), other, everything)
	testkit.RequireNoError(t, "ListGroups", err)
	testkit.RequireEqual(t, "groups listed in another tenant", 0, len(list))
	_, err = s.GetGroup(t.Context(), tenant, "admins")
	testkit.RequireNoError(t, "GetGroup after another tenant's attempts", err)
	requireDirectoryVersion(t, s, other, 0)
}

func groupsPageByID(t *testing.T, s store.Store) {
	tenant, other := newTenant(), newTenant()
	ids := pagingIDs("group")
	for _, id := range ids {
		mustCreateGroup(t, s, tenant, id, "claim "+id)
	}
	mustCreateGroup(t, s, other, ids[0]+"0", "claim")
	requirePaging(t, ids, func(p store.Page) ([]*identityv1.Group, error) {
		return s.ListGroups(t.Context(), tenant, p)
	}, func(g *identityv1.Group) string { return testkit.ResourceID(g.GetName()) })
}

// member is the member of a binding: exactly one of User and Group.
type member struct{ user, group string }

func userMember(tenant, id string) member  { return member{user: store.UserName(tenant, id)} }
func groupMember(tenant, id string) member { return member{group: store.GroupName(tenant, id)} }

// newBinding returns a binding of m to role.
func newBinding(tenant, id string, m member, role identityv1.Role) *identityv1.RoleBinding {
	return &identityv1.RoleBinding{
		Name: store.RoleBindingName(tenant, id), User: m.user, Group: m.group, Role: role,
		CreateTime: ts(epoch.Add(time.Second)),
	}
}

// mustBind creates a binding and returns the directory version it reported.
func mustBind(t *testing.T, s store.Store, tenant, id string, m member, role identityv1.Role) int64 {
	t.Helper()
	v, err := s.CreateRoleBinding(t.Context(), tenant, id, newBinding(tenant, id, m, role))
	testkit.RequireNoError(t, "CreateRoleBinding "+id, err)
	return v
}

// requireRoles fails the test unless the user in groups has exactly want, in order.
func requireRoles(t *testing.T, s store.Store, tenant, user string, groups []string, want ...identityv1.Role) {
	t.Helper()
	got, err := s.Roles(t.Context(), tenant, user, groups)
	testkit.RequireNoError(t, "Roles", err)
	if !slices.Equal(got, want) {
		t.Fatalf("Roles(%s, %q) = %v, want %v", user, groups, got, want)
	}
}

func bindingsRoundTrip(t *testing.T, s store.Store) {
	tenant := newTenant()
	l := newLogin(tenant)
	mustLogin(t, s, l)
	v := mustCreateGroup(t, s, tenant, "admins", "Admins")

	testkit.RequireEqual(t, "directory version after a user binding", v+1,
		mustBind(t, s, tenant, "ada-viewer", userMember(tenant, l.UserID), identityv1.Role_ROLE_VIEWER))
	testkit.RequireEqual(t, "directory version after a group binding", v+2,
		mustBind(t, s, tenant, "admins-admin", groupMember(tenant, "admins"), identityv1.Role_ROLE_ADMIN))

	userBinding := newBinding(tenant, "ada-viewer", userMember(tenant, l.UserID), identityv1.Role_ROLE_VIEWER)
	groupBinding := newBinding(tenant, "admins-admin", groupMember(tenant, "admins"), identityv1.Role_ROLE_ADMIN)
	got, err := s.GetRoleBinding(t.Context(), tenant, "ada-viewer")
	testkit.RequireNoError(t, "GetRoleBinding", err)
	testkit.RequireProto(t, "the user binding", userBinding, got)
	got, err = s.GetRoleBinding(t.Context(), tenant, "admins-admin")
	testkit.RequireNoError(t, "GetRoleBinding", err)
	testkit.RequireProto(t, "the group binding", groupBinding, got)

	list, err := s.ListRoleBindings(t.Context(), tenant, everything)
	testkit.RequireNoError(t, "ListRoleBindings", err)
	testkit.RequireEqual(t, "bindings listed", 2, len(list))
	testkit.RequireProto(t, "ListRoleBindings[0]", userBinding, list[0])
	testkit.RequireProto(t, "ListRoleBindings[1]", groupBinding, list[1])
}

func bindingTwiceTaken(t *testing.T, s store.Store) {
	tenant, other := newTenant(), newTenant()
	l := newLogin(tenant)
	mustLogin(t, s, l)
	mustCreateGroup(t, s, tenant, "admins", "Admins")
	// A group whose id is the user's: members are told apart by kind, not only by id.
	mustCreateGroup(t, s, tenant, l.UserID, "Lookalike")
	v := mustBind(t, s, tenant, "b1", userMember(tenant, l.UserID), identityv1.Role_ROLE_VIEWER)
	v = max(v, mustBind(t, s, tenant, "b2", groupMember(tenant, "admins"), identityv1.Role_ROLE_ADMIN))

	for _, tc := range []struct {
		name string
		id   string
		m    member
		role identityv1.Role
	}{
		{"the same user and role under a new id", "b3", userMember(tenant, l.UserID), identityv1.Role_ROLE_VIEWER},
		{"the same group and role under a new id", "b4", groupMember(tenant, "admins"), identityv1.Role_ROLE_ADMIN},
		{"a taken id", "b1", groupMember(tenant, "admins"), identityv1.Role_ROLE_DEVELOPER},
	} {
		_, err := s.CreateRoleBinding(t.Context(), tenant, tc.id, newBinding(tenant, tc.id, tc.m, tc.role))
		testkit.RequireErrorIs(t, "CreateRoleBinding of "+tc.name, err, store.ErrAlreadyExists)
	}
	testkit.RequireEqual(t, "directory version after a binding following failed ones", v+1,
		mustBind(t, s, tenant, "b5", userMember(tenant, l.UserID), identityv1.Role_ROLE_ADMIN))
	mustBind(t, s, tenant, "b6", groupMember(tenant, l.UserID), identityv1.Role_ROLE_VIEWER)

	// Another tenant has its own ids.
	mustCreateGroup(t, s, other, "admins", "Admins")
	mustBind(t, s, other, "b1", groupMember(other, "admins"), identityv1.Role_ROLE_ADMIN)
}

func bindingOfMissingMember(t *testing.T, s store.Store) {
	tenant, other := newTenant(), newTenant()
	o := newLogin(other)
	mustLogin(t, s, o)
	mustCreateGroup(t, s, other, "admins", "Admins")
	v := mustCreateGroup(t, s, tenant, "present", "Present")

	for _, tc := range []struct {
		name string
		m    member
	}{
		{"a missing user", userMember(tenant, "nobody")},
		{"a missing group", groupMember(tenant, "nothing")},
		{"another tenant's user", userMember(other, o.UserID)},
		{"another tenant's group", groupMember(other, "admins")},
		{"another tenant's user under this tenant's name", userMember(tenant, o.UserID)},
		{"another tenant's group under this tenant's name", groupMember(tenant, "admins")},
	} {
		_, err := s.CreateRoleBinding(t.Context(), tenant, "b1", newBinding(tenant, "b1", tc.m, identityv1.Role_ROLE_ADMIN))
		testkit.RequireErrorIs(t, "CreateRoleBinding of "+tc.name, err, store.ErrMemberNotFound)
	}
	list, err := s.ListRoleBindings(t.Context(), tenant, everything)
	testkit.RequireNoError(t, "ListRoleBindings", err)
	testkit.RequireEqual(t, "bindings after refused creates", 0, len(list))
	requireDirectoryVersion(t, s, tenant, v)
}

func rolesAreUnion(t *testing.T, s store.Store) {
	tenant, other := newTenant(), newTenant()
	l := newLogin(tenant)
	mustLogin(t, s, l)
	bystander := newLogin(tenant)
	mustLogin(t, s, bystander)
	for _, g := range []string{"g-admin", "g-viewer", "g-dev", "g-dev-too"} {
		mustCreateGroup(t, s, tenant, g, g)
	}
	mustBind(t, s, tenant, "u-viewer", userMember(tenant, l.UserID), identityv1.Role_ROLE_VIEWER)
	mustBind(t, s, tenant, "admin", groupMember(tenant, "g-admin"), identityv1.Role_ROLE_ADMIN)
	mustBind(t, s, tenant, "viewer", groupMember(tenant, "g-viewer"), identityv1.Role_ROLE_VIEWER)
	mustBind(t, s, tenant, "dev", groupMember(tenant, "g-dev"), identityv1.Role_ROLE_DEVELOPER)
	mustBind(t, s, tenant, "dev-too", groupMember(tenant, "g-dev-too"), identityv1.Role_ROLE_DEVELOPER)
	mustBind(t, s, tenant, "bystander-admin", userMember(tenant, bystander.UserID), identityv1.Role_ROLE_ADMIN)
	// Another tenant binds admin to a group and a user with the same ids.
	o := newLogin(other)
	o.UserID = l.UserID
	mustLogin(t, s, o)
	mustCreateGroup(t, s, other, "g-elsewhere", "x")
	mustBind(t, s, other, "admin", groupMember(other, "g-elsewhere"), identityv1.Role_ROLE_ADMIN)
	mustBind(t, s, other, "u-admin", userMember(other, l.UserID), identityv1.Role_ROLE_ADMIN)

	const (
		admin = identityv1.Role_ROLE_ADMIN
		dev   = identityv1.Role_ROLE_DEVELOPER
		view  = identityv1.Role_ROLE_VIEWER
	)
	requireRoles(t, s, tenant, l.UserID, nil, view)
	requireRoles(t, s, tenant, l.UserID, []string{"g-viewer"}, view)
	requireRoles(t, s, tenant, l.UserID, []string{"g-viewer", "g-admin"}, admin, view)
	requireRoles(t, s, tenant, l.UserID, []string{"g-dev-too", "g-dev", "g-viewer", "g-admin"}, admin, dev, view)
	requireRoles(t, s, tenant, l.UserID, []string{"g-dev", "g-dev-too", "g-dev"}, dev, view)
	requireRoles(t, s, tenant, l.UserID, []string{"g-elsewhere", "g-missing"}, view)
	requireRoles(t, s, tenant, "nobody", []string{"g-dev"}, dev)
	requireRoles(t, s, tenant, "nobody", nil)
	requireRoles(t, s, other, l.UserID, nil, admin)
}

func deletingBindingTakesRole(t *testing.T, s store.Store) {
	tenant := newTenant()
	res := mustLogin(t, s, newLogin(tenant, "Admins"))
	user := testkit.ResourceID(res.User.GetName())
	mustBind(t, s, tenant, "admins", groupMember(tenant, res.GroupIDs[0]), identityv1.Role_ROLE_ADMIN)
	v := mustBind(t, s, tenant, "viewer", userMember(tenant, user), identityv1.Role_ROLE_VIEWER)
	requireRoles(t, s, tenant, user, res.GroupIDs, identityv1.Role_ROLE_ADMIN, identityv1.Role_ROLE_VIEWER)

	got, err := s.DeleteRoleBinding(t.Context(), tenant, "admins")
	testkit.RequireNoError(t, "DeleteRoleBinding", err)
	testkit.RequireEqual(t, "directory version after DeleteRoleBinding", v+1, got)
	requireRoles(t, s, tenant, user, res.GroupIDs, identityv1.Role_ROLE_VIEWER)
	_, err = s.GetRoleBinding(t.Context(), tenant, "admins")
	testkit.RequireErrorIs(t, "GetRoleBinding after delete", err, store.ErrNotFound)
	_, err = s.DeleteRoleBinding(t.Context(), tenant, "admins")
	testkit.RequireErrorIs(t, "DeleteRoleBinding of a deleted binding", err, store.ErrNotFound)
	requireDirectoryVersion(t, s, tenant, v+1)

	// The member may be bound to the role again.
	mustBind(t, s, tenant, "admins", groupMember(tenant, res.GroupIDs[0]), identityv1.Role_ROLE_ADMIN)
}

func bindingTenantIsolation(t *testing.T, s store.Store) {
	tenant, other := newTenant(), newTenant()
	mustCreateGroup(t, s, tenant, "admins", "Admins")
	mustBind(t, s, tenant, "admins", groupMember(tenant, "admins"), identityv1.Role_ROLE_ADMIN)

	_, err := s.GetRoleBinding(t.Context(), other, "admins")
	testkit.RequireErrorIs(t, "GetRoleBinding from another tenant", err, store.ErrNotFound)
	_, err = s.DeleteRoleBinding(t.Context(), other, "admins")
	testkit.RequireErrorIs(t, "DeleteRoleBinding from another tenant", err, store.ErrNotFound)
	list, err := s.ListRoleBindings(t.Context(), other, everything)
	testkit.RequireNoError(t, "ListRoleBindings", err)
	testkit.RequireEqual(t, "bindings listed in another tenant", 0, len(list))
	_, err = s.GetRoleBinding(t.Context(), tenant, "admins")
	testkit.RequireNoError(t, "GetRoleBinding after another tenant's attempts", err)
}

func bindingsPageByID(t *testing.T, s store.Store) {
	tenant, other := newTenant(), newTenant()
	mustCreateGroup(t, s, tenant, "admins", "Admins")
	ids := pagingIDs("binding")
	for _, id := range ids {
		mustCreateGroup(t, s, tenant, id, "claim "+id)
		mustBind(t, s, tenant, id, groupMember(tenant, id), identityv1.Role_ROLE_VIEWER)
	}
	mustCreateGroup(t, s, other, "admins", "Admins")
	mustBind(t, s, other, ids[0]+"0", groupMember(other, "admins"), identityv1.Role_ROLE_VIEWER)
	requirePaging(t, ids, func(p store.Page) ([]*identityv1.RoleBinding, error) {
		return s.ListRoleBindings(t.Context(), tenant, p)
	}, func(b *identityv1.RoleBinding) string { return testkit.ResourceID(b.GetName()) })
}
