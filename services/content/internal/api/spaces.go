package api

import (
	"context"
	"slices"
	"strings"

	"go.einride.tech/aip/fieldmask"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/types/known/fieldmaskpb"
	"google.golang.org/protobuf/types/known/timestamppb"

	contentv1 "github.com/oriel-dev/oriel/gen/pb/oriel/content/v1"
	errorsv1 "github.com/oriel-dev/oriel/gen/pb/oriel/errors/v1"
	"github.com/oriel-dev/oriel/platform/apierr"
	"github.com/oriel-dev/oriel/platform/validation"
	"github.com/oriel-dev/oriel/services/content/internal/authz"
	"github.com/oriel-dev/oriel/services/content/internal/store"
)

// access is what the caller may do in the spaces of one tenant: its standing there and
// its space roles. It is read once per call, before any transaction, whose work must all
// go through its Tx.
type access struct {
	authz.Caller
	tenant string
	// roles are the caller's highest roles by space id; nil when they cannot matter.
	roles map[string]contentv1.SpaceRole
}

// access reads the caller's access to tenant.
func (s *Server) access(ctx context.Context, tenant string) (access, error) {
	a := access{Caller: caller(ctx), tenant: tenant}
	// Only embed users of the tenant with a tenant role below admin get anything from space
	// roles: service accounts and admins are decided by the tenant level alone, and a user
	// without a tenant role gets nothing from them.
	if a.Service || !a.InTenant(tenant) || a.Role == "" || a.TenantLevel(tenant) == authz.Admin {
		return a, nil
	}
	roles, err := s.store.SpaceRoles(ctx, tenant, a.Members)
	if err != nil {
		return a, s.toStatus(ctx, err, store.TenantName(tenant))
	}
	a.roles = roles
	return a, nil
}

// in is the caller's level in the space with id space.
func (a access) in(space string) authz.Level {
	return a.SpaceLevel(a.tenant, a.roles[space])
}

// visibleSpaces are the ids of the spaces the caller may view, or nil when it may view
// every space of the tenant (the store's "no filter").
func (a access) visibleSpaces() []string {
	if a.TenantLevel(a.tenant) >= authz.View {
		return nil
	}
	ids := []string{}
	for id, role := range a.roles {
		if a.SpaceLevel(a.tenant, role) >= authz.View {
			ids = append(ids, id)
		}
	}
	slices.Sort(ids)
	return ids
}

// require returns nil when level reaches need. Otherwise a caller that may not even view
// the resource name is told it does not exist, and one that may is told it may not do
// what.
func require(level, need authz.Level, name, what string) error {
	switch {
	case level >= need:
		return nil
	case level < authz.View:
		return notFound(name)
	}
	return denied(what)
}

// SpaceServer implements SpaceService.
type SpaceServer struct {
	contentv1.UnimplementedSpaceServiceServer
	*Server
}

// spaceTypeName is how messages name a space type: "shared", "managed".
func spaceTypeName(t contentv1.Space_Type) string {
	return strings.ToLower(strings.TrimPrefix(t.String(), "TYPE_"))
}

// CreateSpace creates a space. A developer may create shared spaces and becomes the
// facilitator of each, in the same transaction: a space nobody may manage would be
// useless, and admins, who create managed spaces, manage every space anyway.
func (s SpaceServer) CreateSpace(ctx context.Context, req *contentv1.CreateSpaceRequest) (*contentv1.CreateSpaceResponse, error) {
	tenant := tenantOfName(req.GetParent())
	in := req.GetSpace()
	c := caller(ctx)
	if !c.InTenant(tenant) {
		return nil, notFound(req.GetParent())
	}
	if !c.CanCreateSpace(tenant, in.GetType()) {
		return nil, denied("create " + spaceTypeName(in.GetType()) + " spaces in " + req.GetParent())
	}
	id := req.GetSpaceId()
	if id == "" {
		id = newContentID("s")
	}
	now := s.clock()
	sp := &contentv1.Space{
		Name:        store.SpaceName(tenant, id),
		DisplayName: in.GetDisplayName(),
		Description: in.GetDescription(),
		Type:        in.GetType(),
		CreateTime:  timestamppb.New(now),
		UpdateTime:  timestamppb.New(now),
	}
	err := s.store.ReadWriteTx(ctx, func(ctx context.Context, tx store.Tx) error {
		if err := tx.CreateSpace(ctx, tenant, id, sp); err != nil {
			return err
		}
		if c.TenantLevel(tenant) == authz.Admin {
			return nil
		}
		return tx.PutSpaceMember(ctx, tenant, id, &contentv1.SpaceMember{
			Name: store.SpaceMemberName(tenant, id, store.MemberID(c.ID)),
			User: c.ID, Role: contentv1.SpaceRole_SPACE_ROLE_FACILITATOR, UpdateTime: timestamppb.New(now),
		})
	})
	if err != nil {
		return nil, s.toStatus(ctx, err, sp.GetName())
	}
	return &contentv1.CreateSpaceResponse{Space: sp}, nil
}

// GetSpace returns a space the caller may view.
func (s SpaceServer) GetSpace(ctx context.Context, req *contentv1.GetSpaceRequest) (*contentv1.GetSpaceResponse, error) {
	ids := segments(req.GetName())
	a, err := s.access(ctx, ids["tenants"])
	if err != nil {
		return nil, err
	}
	if err := require(a.in(ids["spaces"]), authz.View, req.GetName(), ""); err != nil {
		return nil, err
	}
	sp, err := s.store.GetSpace(ctx, ids["tenants"], ids["spaces"])
	if err != nil {
		return nil, s.toStatus(ctx, err, req.GetName())
	}
	return &contentv1.GetSpaceResponse{Space: sp}, nil
}

// ListSpaces lists the spaces the caller may view.
func (s SpaceServer) ListSpaces(ctx context.Context, req *contentv1.ListSpacesRequest) (*contentv1.ListSpacesResponse, error) {
	tenant := tenantOfName(req.GetParent())
	a, err := s.access(ctx, tenant)
	if err != nil {
		return nil, err
	}
	if !a.InTenant(tenant) {
		return nil, notFound(req.GetParent())
	}
	page, size, err := listPage(req, req.GetPageToken(), req.GetPageSize())
	if err != nil {
		return nil, err
	}
	list, err := s.store.ListSpaces(ctx, tenant, a.visibleSpaces(), page)
	if err != nil {
		return nil, s.toStatus(ctx, err, req.GetParent())
	}
	resp := &contentv1.ListSpacesResponse{}
	resp.Spaces, resp.NextPageToken = trimPage(req, list, size, func(sp *contentv1.Space) string { return spaceIDOf(sp.GetName()) })
	return resp, nil
}

// spacePaths are the update_mask paths UpdateSpace accepts.
var spacePaths = []string{"display_name", "description"}

// UpdateSpace changes a space's display name or description.
func (s SpaceServer) UpdateSpace(ctx context.Context, req *contentv1.UpdateSpaceRequest) (*contentv1.UpdateSpaceResponse, error) {
	in := req.GetSpace()
	ids := segments(in.GetName())
	tenant, id := ids["tenants"], ids["spaces"]
	if tenant == "" || id == "" || in.GetName() != store.SpaceName(tenant, id) {
		return nil, apierr.Invalid(errorsv1.ErrorReason_ERROR_REASON_INVALID_REQUEST, apierr.FieldViolation{
			Field: "space.name", Description: "must be a space name such as tenants/acme/spaces/sales",
		})
	}
	a, err := s.access(ctx, tenant)
	if err != nil {
		return nil, err
	}
	if err := require(a.in(id), authz.Facilitate, in.GetName(), "change "+in.GetName()); err != nil {
		return nil, err
	}
	paths, err := updateMaskPaths(req.GetUpdateMask(), in, spacePaths,
		[]string{"create_time", "update_time"}, []string{"type"}, nil)
	if err != nil {
		return nil, err
	}
	var out *contentv1.Space
	err = s.store.ReadWriteTx(ctx, func(ctx context.Context, tx store.Tx) error {
		cur, err := tx.GetSpace(ctx, tenant, id)
		if err != nil {
			return err
		}
		if in.GetEtag() != "" && in.GetEtag() != cur.GetEtag() {
			return store.ErrEtagMismatch
		}
		if err := unchanged(paths, "space.type", in.GetType() == cur.GetType(), "cannot change after creation"); err != nil {
			return err
		}
		next := proto.Clone(cur).(*contentv1.Space)
		fieldmask.Update(&fieldmaskpb.FieldMask{Paths: without(paths, "type")}, next, in)
		if err := validation.Resource(ctx, s.log, next, "space"); err != nil {
			return err
		}
		if proto.Equal(next, cur) {
			out = cur // nothing changes: no write, same etag
			return nil
		}
		next.UpdateTime = timestamppb.New(s.clock())
		if err := tx.UpdateSpace(ctx, tenant, id, cur.GetEtag(), next); err != nil {
			return err
		}
		out = next
		return nil
	})
	if err != nil {
		return nil, s.toStatus(ctx, err, in.GetName())
	}
	return &contentv1.UpdateSpaceResponse{Space: out}, nil
}

// DeleteSpace deletes an empty space and its members.
func (s SpaceServer) DeleteSpace(ctx context.Context, req *contentv1.DeleteSpaceRequest) (*contentv1.DeleteSpaceResponse, error) {
	ids := segments(req.GetName())
	a, err := s.access(ctx, ids["tenants"])
	if err != nil {
		return nil, err
	}
	if err := require(a.in(ids["spaces"]), authz.Facilitate, req.GetName(), "delete "+req.GetName()); err != nil {
		return nil, err
	}
	err = s.store.ReadWriteTx(ctx, func(ctx context.Context, tx store.Tx) error {
		return tx.DeleteSpace(ctx, ids["tenants"], ids["spaces"], req.GetEtag())
	})
	if err != nil {
		return nil, s.toStatus(ctx, err, req.GetName())
	}
	return &contentv1.DeleteSpaceResponse{}, nil
}

// CreateSpaceMember gives a user or a group of the space's tenant a role in the space,
// replacing the role it had: the member's id comes from the user or group, so there is
// one membership per principal and space.
func (s SpaceServer) CreateSpaceMember(ctx context.Context, req *contentv1.CreateSpaceMemberRequest) (*contentv1.CreateSpaceMemberResponse, error) {
	ids := segments(req.GetParent())
	tenant, space := ids["tenants"], ids["spaces"]
	a, err := s.access(ctx, tenant)
	if err != nil {
		return nil, err
	}
	if err := require(a.in(space), authz.Facilitate, req.GetParent(), "manage the members of "+req.GetParent()); err != nil {
		return nil, err
	}
	in := req.GetSpaceMember()
	principal, field := in.GetUser(), "space_member.user"
	if principal == "" {
		principal, field = in.GetGroup(), "space_member.group"
	}
	if tenantOfName(principal) != tenant {
		// A role for another tenant's user would never apply, and accepting one would
		// confirm nothing about that tenant either: it is simply not a member of this one.
		return nil, apierr.Invalid(errorsv1.ErrorReason_ERROR_REASON_INVALID_REQUEST, apierr.FieldViolation{
			Field: field, Description: "must be of the space's tenant, " + store.TenantName(tenant),
		})
	}
	m := &contentv1.SpaceMember{
		Name:       store.SpaceMemberName(tenant, space, store.MemberID(principal)),
		User:       in.GetUser(),
		Group:      in.GetGroup(),
		Role:       in.GetRole(),
		UpdateTime: timestamppb.New(s.clock()),
	}
	err = s.store.ReadWriteTx(ctx, func(ctx context.Context, tx store.Tx) error {
		return tx.PutSpaceMember(ctx, tenant, space, m)
	})
	if err != nil {
		return nil, s.toStatus(ctx, err, req.GetParent())
	}
	return &contentv1.CreateSpaceMemberResponse{SpaceMember: m}, nil
}

// ListSpaceMembers lists the members of a space the caller may view.
func (s SpaceServer) ListSpaceMembers(ctx context.Context, req *contentv1.ListSpaceMembersRequest) (*contentv1.ListSpaceMembersResponse, error) {
	ids := segments(req.GetParent())
	a, err := s.access(ctx, ids["tenants"])
	if err != nil {
		return nil, err
	}
	if err := require(a.in(ids["spaces"]), authz.View, req.GetParent(), ""); err != nil {
		return nil, err
	}
	page, size, err := listPage(req, req.GetPageToken(), req.GetPageSize())
	if err != nil {
		return nil, err
	}
	list, err := s.store.ListSpaceMembers(ctx, ids["tenants"], ids["spaces"], page)
	if err != nil {
		return nil, s.toStatus(ctx, err, req.GetParent())
	}
	resp := &contentv1.ListSpaceMembersResponse{}
	resp.SpaceMembers, resp.NextPageToken = trimPage(req, list, size, func(m *contentv1.SpaceMember) string {
		return segments(m.GetName())["members"]
	})
	return resp, nil
}

// DeleteSpaceMember removes a member from a space.
func (s SpaceServer) DeleteSpaceMember(ctx context.Context, req *contentv1.DeleteSpaceMemberRequest) (*contentv1.DeleteSpaceMemberResponse, error) {
	ids := segments(req.GetName())
	a, err := s.access(ctx, ids["tenants"])
	if err != nil {
		return nil, err
	}
	space := store.SpaceName(ids["tenants"], ids["spaces"])
	if err := require(a.in(ids["spaces"]), authz.Facilitate, req.GetName(), "manage the members of "+space); err != nil {
		return nil, err
	}
	err = s.store.ReadWriteTx(ctx, func(ctx context.Context, tx store.Tx) error {
		return tx.DeleteSpaceMember(ctx, ids["tenants"], ids["spaces"], ids["members"])
	})
	if err != nil {
		return nil, s.toStatus(ctx, err, req.GetName())
	}
	return &contentv1.DeleteSpaceMemberResponse{}, nil
}

// updateMaskPaths checks an update mask and returns the paths to apply. An empty mask
// names the populated fields of in, as a PATCH does over REST; "*" names every updatable
// path. name and etag are never updated (AIP-134, AIP-154), nor are output-only fields,
// which a client may send back as it read them. Immutable fields pass through, for the
// handler to refuse a change (see unchanged), which "*" names as well; sub accepts nested
// paths.
func updateMaskPaths(mask *fieldmaskpb.FieldMask, in proto.Message, updatable, outputOnly, immutable []string,
	sub func(string) bool,
) ([]string, error) {
	paths := mask.GetPaths()
	if len(paths) == 0 {
		in.ProtoReflect().Range(func(fd protoreflect.FieldDescriptor, _ protoreflect.Value) bool {
			paths = append(paths, string(fd.Name()))
			return true
		})
	}
	var out []string
	for _, p := range paths {
		switch {
		case p == "name" || p == "etag" || slices.Contains(outputOnly, p):
		case p == "*":
			// A replacement restates the immutable fields too: a change of one is refused,
			// not silently dropped.
			out = append(out, updatable...)
			out = append(out, immutable...)
		case slices.Contains(updatable, p) || slices.Contains(immutable, p) || (sub != nil && sub(p)):
			out = append(out, p)
		default:
			return nil, apierr.Invalid(errorsv1.ErrorReason_ERROR_REASON_INVALID_REQUEST, apierr.FieldViolation{
				Field: "update_mask", Description: "cannot update " + p + "; updatable: " + strings.Join(updatable, ", "),
			})
		}
	}
	if len(out) == 0 {
		return nil, apierr.Invalid(errorsv1.ErrorReason_ERROR_REASON_INVALID_REQUEST, apierr.FieldViolation{
			Field: "update_mask", Description: "names no updatable field: nothing to update",
		})
	}
	if err := fieldmask.Validate(&fieldmaskpb.FieldMask{Paths: out}, in); err != nil {
		return nil, apierr.Invalid(errorsv1.ErrorReason_ERROR_REASON_INVALID_REQUEST, apierr.FieldViolation{
			Field: "update_mask", Description: err.Error(),
		})
	}
	return out, nil
}

// unchanged refuses an update that would change field (a path from the request's root,
// such as "space.type"), which an update may not change, when the update mask names it;
// naming it with the value it has is fine, so a client may PATCH back what it read.
func unchanged(paths []string, field string, same bool, why string) error {
	path := field[strings.Index(field, ".")+1:]
	if !slices.Contains(paths, path) || same {
		return nil
	}
	return apierr.Invalid(errorsv1.ErrorReason_ERROR_REASON_IMMUTABLE_FIELD, apierr.FieldViolation{
		Field: field, Description: why,
	})
}

// without returns paths less drop.
func without(paths []string, drop ...string) []string {
	return slices.DeleteFunc(slices.Clone(paths), func(p string) bool { return slices.Contains(drop, p) })
}
