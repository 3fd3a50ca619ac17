package content_test

import (
	"slices"
	"testing"

	"google.golang.org/grpc/codes"
	"google.golang.org/protobuf/types/known/fieldmaskpb"

	contentv1 "github.com/oriel-dev/oriel/gen/pb/oriel/content/v1"
	"github.com/oriel-dev/oriel/platform/testkit"
	"github.com/oriel-dev/oriel/services/content/internal/store"
)

func TestADeveloperFacilitatesTheSharedSpacesItCreates(t *testing.T) {
	t.Parallel()
	s := startService(t)
	tenant := testkit.UniqueID("t")
	dev := embedUser(tenant, "dev", []string{"developer"}, nil, nil)
	ctx := s.as(dev)

	sp := must[*contentv1.CreateSpaceResponse](t)(s.spaces.CreateSpace(ctx, &contentv1.CreateSpaceRequest{
		Parent: store.TenantName(tenant), Space: &contentv1.Space{DisplayName: "Team", Type: contentv1.Space_TYPE_SHARED},
	})).GetSpace()
	if sp.GetEtag() == "" || sp.GetCreateTime() == nil || spaceID(sp.GetName()) == "" {
		t.Fatalf("created = %v; want a generated id, times and an etag", sp)
	}
	members := must[*contentv1.ListSpaceMembersResponse](t)(s.spaces.ListSpaceMembers(ctx, &contentv1.ListSpaceMembersRequest{Parent: sp.GetName()})).GetSpaceMembers()
	if len(members) != 1 || members[0].GetUser() != dev.ID || members[0].GetRole() != contentv1.SpaceRole_SPACE_ROLE_FACILITATOR ||
		members[0].GetName() != sp.GetName()+"/members/"+store.MemberID(dev.ID) {
		t.Fatalf("members = %v; want the developer alone, facilitator", members)
	}
	// As facilitator it manages the space: renames it, adds a member.
	must[*contentv1.UpdateSpaceResponse](t)(s.spaces.UpdateSpace(ctx, &contentv1.UpdateSpaceRequest{
		Space: &contentv1.Space{Name: sp.GetName(), DisplayName: "Team A"}, UpdateMask: &fieldmaskpb.FieldMask{Paths: []string{"display_name"}},
	}))
	must[*contentv1.CreateSpaceMemberResponse](t)(s.spaces.CreateSpaceMember(ctx, &contentv1.CreateSpaceMemberRequest{
		Parent: sp.GetName(), SpaceMember: &contentv1.SpaceMember{Group: groupName(tenant, "analysts"), Role: contentv1.SpaceRole_SPACE_ROLE_CONSUMER},
	}))

	t.Run("an admin's space has no facilitator: admins manage every space", func(t *testing.T) {
		admin := s.as(embedUser(tenant, "root", []string{"admin"}, nil, nil))
		sp := must[*contentv1.CreateSpaceResponse](t)(s.spaces.CreateSpace(admin, &contentv1.CreateSpaceRequest{
			Parent: store.TenantName(tenant), SpaceId: "published", Space: &contentv1.Space{DisplayName: "Published", Type: contentv1.Space_TYPE_MANAGED},
		})).GetSpace()
		members := must[*contentv1.ListSpaceMembersResponse](t)(s.spaces.ListSpaceMembers(admin, &contentv1.ListSpaceMembersRequest{Parent: sp.GetName()}))
		if len(members.GetSpaceMembers()) != 0 {
			t.Fatalf("members = %v", members)
		}
		_, err := s.spaces.CreateSpace(admin, &contentv1.CreateSpaceRequest{
			Parent: store.TenantName(tenant), SpaceId: "published", Space: &contentv1.Space{DisplayName: "Again", Type: contentv1.Space_TYPE_SHARED},
		})
		wantCode(t, err, codes.AlreadyExists, "RESOURCE_ALREADY_EXISTS")
	})
}

func spaceID(name string) string { return testkit.ResourceID(name) }

func TestSpaceMembersAreOnePerPrincipalAndGroupsGrantRoles(t *testing.T) {
	t.Parallel()
	s := startService(t)
	tenant := testkit.UniqueID("t")
	space := s.createSpace(t, tenant, "sales", contentv1.Space_TYPE_SHARED)
	ann := embedUser(tenant, "ann", []string{"developer"}, []string{"analysts"}, nil)
	annCtx := s.as(ann)

	_, err := s.spaces.GetSpace(annCtx, &contentv1.GetSpaceRequest{Name: space})
	wantCode(t, err, codes.NotFound, "RESOURCE_NOT_FOUND")

	// Through her group Ann consumes, then produces: the group's membership is replaced,
	// not added to.
	s.grant(t, space, groupName(tenant, "analysts"), contentv1.SpaceRole_SPACE_ROLE_CONSUMER)
	must[*contentv1.GetSpaceResponse](t)(s.spaces.GetSpace(annCtx, &contentv1.GetSpaceRequest{Name: space}))
	someone := s.putApp(t, tenant, "theirs", space, userName(tenant, "someone"))
	_, err = s.apps.UpdateApp(annCtx, titleUpdate(someone, "Mine now"))
	wantCode(t, err, codes.PermissionDenied, "PERMISSION_DENIED")
	s.grant(t, space, groupName(tenant, "analysts"), contentv1.SpaceRole_SPACE_ROLE_PRODUCER)
	must[*contentv1.UpdateAppResponse](t)(s.apps.UpdateApp(annCtx, titleUpdate(someone, "Edited by a producer")))

	members := must[*contentv1.ListSpaceMembersResponse](t)(s.spaces.ListSpaceMembers(s.isv, &contentv1.ListSpaceMembersRequest{Parent: space})).GetSpaceMembers()
	if len(members) != 1 || members[0].GetGroup() != groupName(tenant, "analysts") || members[0].GetRole() != contentv1.SpaceRole_SPACE_ROLE_PRODUCER {
		t.Fatalf("members = %v; want the group once, producer", members)
	}

	// Her own consumer role does not lower what her group gives: the highest counts.
	s.grant(t, space, ann.ID, contentv1.SpaceRole_SPACE_ROLE_CONSUMER)
	must[*contentv1.UpdateAppResponse](t)(s.apps.UpdateApp(annCtx, titleUpdate(someone, "Still a producer")))

	// Removing the group's membership leaves her a consumer; removing hers, nothing.
	must[*contentv1.DeleteSpaceMemberResponse](t)(s.spaces.DeleteSpaceMember(s.isv, &contentv1.DeleteSpaceMemberRequest{Name: members[0].GetName()}))
	_, err = s.apps.UpdateApp(annCtx, titleUpdate(someone, "No longer"))
	wantCode(t, err, codes.PermissionDenied, "PERMISSION_DENIED")
	must[*contentv1.DeleteSpaceMemberResponse](t)(s.spaces.DeleteSpaceMember(s.isv, &contentv1.DeleteSpaceMemberRequest{
		Name: space + "/members/" + store.MemberID(ann.ID),
	}))
	_, err = s.apps.GetApp(annCtx, &contentv1.GetAppRequest{Name: someone})
	wantCode(t, err, codes.NotFound, "RESOURCE_NOT_FOUND")
	_, err = s.spaces.DeleteSpaceMember(s.isv, &contentv1.DeleteSpaceMemberRequest{Name: space + "/members/" + store.MemberID(ann.ID)})
	wantCode(t, err, codes.NotFound, "RESOURCE_NOT_FOUND")
}

func TestSpacesChangeOnlyWhereTheyMay(t *testing.T) {
	t.Parallel()
	s := startService(t)
	tenant := testkit.UniqueID("t")
	space := s.createSpace(t, tenant, "sales", contentv1.Space_TYPE_SHARED)
	cur := must[*contentv1.GetSpaceResponse](t)(s.spaces.GetSpace(s.isv, &contentv1.GetSpaceRequest{Name: space})).GetSpace()

	t.Run("the type is immutable", func(t *testing.T) {
		_, err := s.spaces.UpdateSpace(s.isv, &contentv1.UpdateSpaceRequest{
			Space: &contentv1.Space{Name: space, DisplayName: "x", Type: contentv1.Space_TYPE_MANAGED},
		})
		wantCode(t, err, codes.InvalidArgument, "IMMUTABLE_FIELD")
		wantField(t, err, "space.type")
	})
	t.Run("a space read can be written back; unchanged, nothing is written", func(t *testing.T) {
		same := must[*contentv1.UpdateSpaceResponse](t)(s.spaces.UpdateSpace(s.isv, &contentv1.UpdateSpaceRequest{Space: cur})).GetSpace()
		if same.GetEtag() != cur.GetEtag() {
			t.Fatalf("a no-op update changed the etag: %s → %s", cur.GetEtag(), same.GetEtag())
		}
	})
	t.Run("a space with apps, deleted ones too, is not deleted", func(t *testing.T) {
		app := s.putApp(t, tenant, "sales", space, userName(tenant, "someone"))
		must[*contentv1.DeleteAppResponse](t)(s.apps.DeleteApp(s.isv, &contentv1.DeleteAppRequest{Name: app}))
		_, err := s.spaces.DeleteSpace(s.isv, &contentv1.DeleteSpaceRequest{Name: space})
		wantCode(t, err, codes.FailedPrecondition, "SPACE_NOT_EMPTY")
	})
	t.Run("members are of the space's tenant", func(t *testing.T) {
		_, err := s.spaces.CreateSpaceMember(s.isv, &contentv1.CreateSpaceMemberRequest{Parent: space,
			SpaceMember: &contentv1.SpaceMember{Group: groupName("elsewhere", "analysts"), Role: contentv1.SpaceRole_SPACE_ROLE_CONSUMER}})
		wantCode(t, err, codes.InvalidArgument, "INVALID_REQUEST")
		wantField(t, err, "space_member.group")
	})
	t.Run("ListSpaces pages by name", func(t *testing.T) {
		for _, id := range []string{"alpha", "beta", "gamma"} {
			s.createSpace(t, tenant, id, contentv1.Space_TYPE_SHARED)
		}
		var names []string
		token := ""
		for {
			resp := must[*contentv1.ListSpacesResponse](t)(s.spaces.ListSpaces(s.isv, &contentv1.ListSpacesRequest{
				Parent: store.TenantName(tenant), PageSize: 3, PageToken: token,
			}))
			for _, sp := range resp.GetSpaces() {
				names = append(names, spaceID(sp.GetName()))
			}
			if token = resp.GetNextPageToken(); token == "" {
				break
			}
		}
		if !slices.Equal(names, []string{"alpha", "beta", "gamma", "sales"}) {
			t.Fatalf("listed %v", names)
		}
	})
}
