package api

import (
	"context"

	"google.golang.org/protobuf/types/known/timestamppb"

	identityv1 "github.com/oriel-dev/oriel/gen/pb/oriel/identity/v1"
	"github.com/oriel-dev/oriel/platform/auth"
	"github.com/oriel-dev/oriel/services/identity/internal/store"
)

// DirectoryServer implements DirectoryService.
type DirectoryServer struct {
	identityv1.UnimplementedDirectoryServiceServer
	*Server
}

// GetUser returns a user.
func (s DirectoryServer) GetUser(ctx context.Context, req *identityv1.GetUserRequest) (*identityv1.GetUserResponse, error) {
	ids := segments(req.GetName())
	if _, err := auth.RequireTenant(ctx, ids["tenants"], auth.ScopeIdentityAdmin, req.GetName()); err != nil {
		return nil, err
	}
	u, err := s.store.GetUser(ctx, ids["tenants"], ids["users"])
	if err != nil {
		return nil, s.toStatus(ctx, err, req.GetName())
	}
	return &identityv1.GetUserResponse{User: u}, nil
}

// ListUsers lists a tenant's users.
func (s DirectoryServer) ListUsers(ctx context.Context, req *identityv1.ListUsersRequest) (*identityv1.ListUsersResponse, error) {
	tenant := tenantOf(req.GetParent())
	if _, err := auth.RequireTenant(ctx, tenant, auth.ScopeIdentityAdmin, req.GetParent()); err != nil {
		return nil, err
	}
	page, size, err := pageOf(req, req.GetPageToken(), req.GetPageSize())
	if err != nil {
		return nil, err
	}
	list, err := s.store.ListUsers(ctx, tenant, page)
	if err != nil {
		return nil, s.toStatus(ctx, err, req.GetParent())
	}
	resp := &identityv1.ListUsersResponse{}
	resp.Users, resp.NextPageToken = nextPage(req, list, size, func(u *identityv1.User) string { return u.GetName() })
	return resp, nil
}

// DisableUser disables a user and revokes its tokens.
func (s DirectoryServer) DisableUser(ctx context.Context, req *identityv1.DisableUserRequest) (*identityv1.DisableUserResponse, error) {
	u, err := s.setDisabled(ctx, req.GetName(), true)
	if err != nil {
		return nil, err
	}
	return &identityv1.DisableUserResponse{User: u}, nil
}

// EnableUser enables a disabled user.
func (s DirectoryServer) EnableUser(ctx context.Context, req *identityv1.EnableUserRequest) (*identityv1.EnableUserResponse, error) {
	u, err := s.setDisabled(ctx, req.GetName(), false)
	if err != nil {
		return nil, err
	}
	return &identityv1.EnableUserResponse{User: u}, nil
}

func (s DirectoryServer) setDisabled(ctx context.Context, name string, disabled bool) (*identityv1.User, error) {
	ids := segments(name)
	tenant, user := ids["tenants"], ids["users"]
	if _, err := auth.RequireTenant(ctx, tenant, auth.ScopeIdentityAdmin, name); err != nil {
		return nil, err
	}
	u, st, err := s.store.SetUserDisabled(ctx, tenant, user, disabled, s.clock())
	if err != nil {
		return nil, s.toStatus(ctx, err, name)
	}
	// The mirror carries the change before the call returns: the user's tokens are dead,
	// and its next exchange is refused, on every replica.
	if err := s.mirror(ctx, tenant, func() error { return s.sessions.RaiseUser(ctx, tenant, user, st) }); err != nil {
		return nil, s.toStatus(ctx, err, name)
	}
	return u, nil
}

// CreateGroup creates a group.
func (s DirectoryServer) CreateGroup(ctx context.Context, req *identityv1.CreateGroupRequest) (*identityv1.CreateGroupResponse, error) {
	tenant := tenantOf(req.GetParent())
	id := req.GetGroupId()
	if id == "" {
		id = store.GroupIDForClaim(req.GetGroup().GetClaimValue())
	}
	name := store.GroupName(tenant, id)
	if _, err := auth.RequireTenant(ctx, tenant, auth.ScopeIdentityAdmin, name); err != nil {
		return nil, err
	}
	g := &identityv1.Group{Name: name, ClaimValue: req.GetGroup().GetClaimValue(), CreateTime: timestamppb.New(s.clock())}
	version, err := s.store.CreateGroup(ctx, tenant, id, g)
	if err == nil {
		err = s.directoryChanged(ctx, tenant, version)
	}
	if err != nil {
		return nil, s.toStatus(ctx, err, name)
	}
	return &identityv1.CreateGroupResponse{Group: g}, nil
}

// directoryChanged raises the mirrored directory version, so every replica's cached role
// resolutions for the tenant are stale from the next exchange on.
func (s *Server) directoryChanged(ctx context.Context, tenant string, version int64) error {
	return s.mirror(ctx, tenant, func() error { return s.sessions.RaiseDirectoryVersion(ctx, tenant, version) })
}

// GetGroup returns a group.
func (s DirectoryServer) GetGroup(ctx context.Context, req *identityv1.GetGroupRequest) (*identityv1.GetGroupResponse, error) {
	ids := segments(req.GetName())
	if _, err := auth.RequireTenant(ctx, ids["tenants"], auth.ScopeIdentityAdmin, req.GetName()); err != nil {
		return nil, err
	}
	g, err := s.store.GetGroup(ctx, ids["tenants"], ids["groups"])
	if err != nil {
		return nil, s.toStatus(ctx, err, req.GetName())
	}
	return &identityv1.GetGroupResponse{Group: g}, nil
}

// ListGroups lists a tenant's groups.
func (s DirectoryServer) ListGroups(ctx context.Context, req *identityv1.ListGroupsRequest) (*identityv1.ListGroupsResponse, error) {
	tenant := tenantOf(req.GetParent())
	if _, err := auth.RequireTenant(ctx, tenant, auth.ScopeIdentityAdmin, req.GetParent()); err != nil {
		return nil, err
	}
	page, size, err := pageOf(req, req.GetPageToken(), req.GetPageSize())
	if err != nil {
		return nil, err
	}
	list, err := s.store.ListGroups(ctx, tenant, page)
	if err != nil {
		return nil, s.toStatus(ctx, err, req.GetParent())
	}
	resp := &identityv1.ListGroupsResponse{}
	resp.Groups, resp.NextPageToken = nextPage(req, list, size, func(g *identityv1.Group) string { return g.GetName() })
	return resp, nil
}

// DeleteGroup deletes a group with its memberships and bindings.
func (s DirectoryServer) DeleteGroup(ctx context.Context, req *identityv1.DeleteGroupRequest) (*identityv1.DeleteGroupResponse, error) {
	ids := segments(req.GetName())
	tenant := ids["tenants"]
	if _, err := auth.RequireTenant(ctx, tenant, auth.ScopeIdentityAdmin, req.GetName()); err != nil {
		return nil, err
	}
	version, err := s.store.DeleteGroup(ctx, tenant, ids["groups"])
	if err == nil {
		err = s.directoryChanged(ctx, tenant, version)
	}
	if err != nil {
		return nil, s.toStatus(ctx, err, req.GetName())
	}
	return &identityv1.DeleteGroupResponse{}, nil
}

// CreateRoleBinding binds a role to a user or group.
func (s DirectoryServer) CreateRoleBinding(ctx context.Context, req *identityv1.CreateRoleBindingRequest) (*identityv1.CreateRoleBindingResponse, error) {
	tenant := tenantOf(req.GetParent())
	in := req.GetRoleBinding()
	id := req.GetRoleBindingId()
	if id == "" {
		id = "b" + randomID(10)
	}
	name := req.GetParent() + "/roleBindings/" + id
	if _, err := auth.RequireTenant(ctx, tenant, auth.ScopeIdentityAdmin, name); err != nil {
		return nil, err
	}
	member := in.GetUser() + in.GetGroup()
	if tenantOf(member) != tenant {
		// A member of another tenant cannot exist here; say so as for a missing one.
		return nil, s.toStatus(ctx, store.ErrMemberNotFound, name)
	}
	b := &identityv1.RoleBinding{Name: name, User: in.GetUser(), Group: in.GetGroup(), Role: in.GetRole(), CreateTime: timestamppb.New(s.clock())}
	version, err := s.store.CreateRoleBinding(ctx, tenant, id, b)
	if err == nil {
		err = s.directoryChanged(ctx, tenant, version)
	}
	if err != nil {
		return nil, s.toStatus(ctx, err, name)
	}
	return &identityv1.CreateRoleBindingResponse{RoleBinding: b}, nil
}

// GetRoleBinding returns a binding.
func (s DirectoryServer) GetRoleBinding(ctx context.Context, req *identityv1.GetRoleBindingRequest) (*identityv1.GetRoleBindingResponse, error) {
	ids := segments(req.GetName())
	if _, err := auth.RequireTenant(ctx, ids["tenants"], auth.ScopeIdentityAdmin, req.GetName()); err != nil {
		return nil, err
	}
	b, err := s.store.GetRoleBinding(ctx, ids["tenants"], ids["roleBindings"])
	if err != nil {
		return nil, s.toStatus(ctx, err, req.GetName())
	}
	return &identityv1.GetRoleBindingResponse{RoleBinding: b}, nil
}

// ListRoleBindings lists a tenant's bindings.
func (s DirectoryServer) ListRoleBindings(ctx context.Context, req *identityv1.ListRoleBindingsRequest) (*identityv1.ListRoleBindingsResponse, error) {
	tenant := tenantOf(req.GetParent())
	if _, err := auth.RequireTenant(ctx, tenant, auth.ScopeIdentityAdmin, req.GetParent()); err != nil {
		return nil, err
	}
	page, size, err := pageOf(req, req.GetPageToken(), req.GetPageSize())
	if err != nil {
		return nil, err
	}
	list, err := s.store.ListRoleBindings(ctx, tenant, page)
	if err != nil {
		return nil, s.toStatus(ctx, err, req.GetParent())
	}
	resp := &identityv1.ListRoleBindingsResponse{}
	resp.RoleBindings, resp.NextPageToken = nextPage(req, list, size, func(b *identityv1.RoleBinding) string { return b.GetName() })
	return resp, nil
}

// DeleteRoleBinding deletes a binding.
func (s DirectoryServer) DeleteRoleBinding(ctx context.Context, req *identityv1.DeleteRoleBindingRequest) (*identityv1.DeleteRoleBindingResponse, error) {
	ids := segments(req.GetName())
	tenant := ids["tenants"]
	if _, err := auth.RequireTenant(ctx, tenant, auth.ScopeIdentityAdmin, req.GetName()); err != nil {
		return nil, err
	}
	version, err := s.store.DeleteRoleBinding(ctx, tenant, ids["roleBindings"])
	if err == nil {
		err = s.directoryChanged(ctx, tenant, version)
	}
	if err != nil {
		return nil, s.toStatus(ctx, err, req.GetName())
	}
	return &identityv1.DeleteRoleBindingResponse{}, nil
}
