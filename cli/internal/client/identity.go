package client

import (
	"context"
	"iter"
	"net/http"
	"net/url"
	"strings"

	"google.golang.org/protobuf/proto"

	identityv1 "github.com/oriel-dev/oriel/gen/pb/oriel/identity/v1"
)

// The identity service's REST routes answer some calls with the resource alone (the
// proto's response_body); those methods decode it into the response message's field, so
// that every method returns what the gRPC method returns.

// CreateIdentityProvider registers a provider of a tenant's single sign-on.
func (c *Client) CreateIdentityProvider(ctx context.Context, req *identityv1.CreateIdentityProviderRequest) (*identityv1.CreateIdentityProviderResponse, error) {
	p, err := tenantPath(req.GetParent(), false)
	if err != nil {
		return nil, err
	}
	q := url.Values{}
	setIf(q, "identityProviderId", req.GetIdentityProviderId())
	body := req.GetIdentityProvider()
	if body == nil {
		body = &identityv1.IdentityProvider{}
	}
	out := &identityv1.CreateIdentityProviderResponse{IdentityProvider: &identityv1.IdentityProvider{}}
	return out, c.do(ctx, http.MethodPost, p+"/identityProviders", q, body, out.IdentityProvider)
}

// GetIdentityProvider gets a provider, `tenants/{tenant}/identityProviders/{idp}`.
func (c *Client) GetIdentityProvider(ctx context.Context, req *identityv1.GetIdentityProviderRequest) (*identityv1.GetIdentityProviderResponse, error) {
	p, err := providerNames.path(req.GetName())
	if err != nil {
		return nil, err
	}
	out := &identityv1.GetIdentityProviderResponse{IdentityProvider: &identityv1.IdentityProvider{}}
	return out, c.do(ctx, http.MethodGet, p, nil, nil, out.IdentityProvider)
}

// ListIdentityProviders returns one page of a tenant's providers; see
// AllIdentityProviders to follow every page.
func (c *Client) ListIdentityProviders(ctx context.Context, req *identityv1.ListIdentityProvidersRequest) (*identityv1.ListIdentityProvidersResponse, error) {
	p, err := tenantPath(req.GetParent(), false)
	if err != nil {
		return nil, err
	}
	out := &identityv1.ListIdentityProvidersResponse{}
	return out, c.do(ctx, http.MethodGet, p+"/identityProviders", pageQuery(req.GetPageSize(), req.GetPageToken()), nil, out)
}

// AllIdentityProviders yields every provider of req's tenant, from req's page token on.
// It stops at the first error, which it yields.
func (c *Client) AllIdentityProviders(ctx context.Context, req *identityv1.ListIdentityProvidersRequest) iter.Seq2[*identityv1.IdentityProvider, error] {
	return allPages(ctx, req.GetPageToken(), func(ctx context.Context, token string) ([]*identityv1.IdentityProvider, string, error) {
		page := &identityv1.ListIdentityProvidersRequest{Parent: req.GetParent(), PageSize: req.GetPageSize(), PageToken: token}
		resp, err := c.ListIdentityProviders(ctx, page)
		return resp.GetIdentityProviders(), resp.GetNextPageToken(), err
	})
}

// UpdateIdentityProvider changes the fields named in req's update_mask (`display_name`,
// `disabled`, `jwt` or `jwt.<field>`, e.g. `jwt.keys`); with an empty mask, the edge
// updates the fields present in the body. Set the provider's etag to update only if
// nobody changed it since it was read.
func (c *Client) UpdateIdentityProvider(ctx context.Context, req *identityv1.UpdateIdentityProviderRequest) (*identityv1.UpdateIdentityProviderResponse, error) {
	p, err := providerNames.path(req.GetIdentityProvider().GetName())
	if err != nil {
		return nil, err
	}
	// The path carries the name; the body carries only what changes (and the etag).
	body := proto.Clone(req.GetIdentityProvider()).(*identityv1.IdentityProvider)
	body.Name = ""
	q := url.Values{}
	setIf(q, "updateMask", strings.Join(req.GetUpdateMask().GetPaths(), ","))
	out := &identityv1.UpdateIdentityProviderResponse{IdentityProvider: &identityv1.IdentityProvider{}}
	return out, c.do(ctx, http.MethodPatch, p, q, body, out.IdentityProvider)
}

// DeleteIdentityProvider deletes a provider; with an etag, only if it is unchanged.
func (c *Client) DeleteIdentityProvider(ctx context.Context, req *identityv1.DeleteIdentityProviderRequest) (*identityv1.DeleteIdentityProviderResponse, error) {
	p, err := providerNames.path(req.GetName())
	if err != nil {
		return nil, err
	}
	q := url.Values{}
	setIf(q, "etag", req.GetEtag())
	out := &identityv1.DeleteIdentityProviderResponse{}
	return out, c.do(ctx, http.MethodDelete, p, q, nil, out)
}

// TestToken validates a sample JWT against a provider and reports every check, without
// using up the token.
func (c *Client) TestToken(ctx context.Context, req *identityv1.TestTokenRequest) (*identityv1.TestTokenResponse, error) {
	p, err := providerNames.path(req.GetName())
	if err != nil {
		return nil, err
	}
	out := &identityv1.TestTokenResponse{}
	return out, c.do(ctx, http.MethodPost, p+":testToken", nil, &identityv1.TestTokenRequest{Token: req.GetToken()}, out)
}

// GetUser gets a user, `tenants/{tenant}/users/{user}`.
func (c *Client) GetUser(ctx context.Context, req *identityv1.GetUserRequest) (*identityv1.GetUserResponse, error) {
	p, err := userNames.path(req.GetName())
	if err != nil {
		return nil, err
	}
	out := &identityv1.GetUserResponse{User: &identityv1.User{}}
	return out, c.do(ctx, http.MethodGet, p, nil, nil, out.User)
}

// ListUsers returns one page of a tenant's users; see AllUsers to follow every page.
func (c *Client) ListUsers(ctx context.Context, req *identityv1.ListUsersRequest) (*identityv1.ListUsersResponse, error) {
	p, err := tenantPath(req.GetParent(), false)
	if err != nil {
		return nil, err
	}
	out := &identityv1.ListUsersResponse{}
	return out, c.do(ctx, http.MethodGet, p+"/users", pageQuery(req.GetPageSize(), req.GetPageToken()), nil, out)
}

// AllUsers yields every user of req's tenant, from req's page token on. It stops at the
// first error, which it yields.
func (c *Client) AllUsers(ctx context.Context, req *identityv1.ListUsersRequest) iter.Seq2[*identityv1.User, error] {
	return allPages(ctx, req.GetPageToken(), func(ctx context.Context, token string) ([]*identityv1.User, string, error) {
		page := &identityv1.ListUsersRequest{Parent: req.GetParent(), PageSize: req.GetPageSize(), PageToken: token}
		resp, err := c.ListUsers(ctx, page)
		return resp.GetUsers(), resp.GetNextPageToken(), err
	})
}

// DisableUser disables a user: its embed tokens stop working and it cannot exchange JWTs.
func (c *Client) DisableUser(ctx context.Context, req *identityv1.DisableUserRequest) (*identityv1.DisableUserResponse, error) {
	p, err := userNames.path(req.GetName())
	if err != nil {
		return nil, err
	}
	out := &identityv1.DisableUserResponse{User: &identityv1.User{}}
	return out, c.do(ctx, http.MethodPost, p+":disable", nil, &identityv1.DisableUserRequest{}, out.User)
}

// EnableUser enables a disabled user.
func (c *Client) EnableUser(ctx context.Context, req *identityv1.EnableUserRequest) (*identityv1.EnableUserResponse, error) {
	p, err := userNames.path(req.GetName())
	if err != nil {
		return nil, err
	}
	out := &identityv1.EnableUserResponse{User: &identityv1.User{}}
	return out, c.do(ctx, http.MethodPost, p+":enable", nil, &identityv1.EnableUserRequest{}, out.User)
}

// CreateGroup creates a group for a value of the groups claim, e.g. to bind a role to it
// before any of its users signs in.
func (c *Client) CreateGroup(ctx context.Context, req *identityv1.CreateGroupRequest) (*identityv1.CreateGroupResponse, error) {
	p, err := tenantPath(req.GetParent(), false)
	if err != nil {
		return nil, err
	}
	q := url.Values{}
	setIf(q, "groupId", req.GetGroupId())
	body := req.GetGroup()
	if body == nil {
		body = &identityv1.Group{}
	}
	out := &identityv1.CreateGroupResponse{Group: &identityv1.Group{}}
	return out, c.do(ctx, http.MethodPost, p+"/groups", q, body, out.Group)
}

// GetGroup gets a group, `tenants/{tenant}/groups/{group}`.
func (c *Client) GetGroup(ctx context.Context, req *identityv1.GetGroupRequest) (*identityv1.GetGroupResponse, error) {
	p, err := groupNames.path(req.GetName())
	if err != nil {
		return nil, err
	}
	out := &identityv1.GetGroupResponse{Group: &identityv1.Group{}}
	return out, c.do(ctx, http.MethodGet, p, nil, nil, out.Group)
}

// ListGroups returns one page of a tenant's groups; see AllGroups to follow every page.
func (c *Client) ListGroups(ctx context.Context, req *identityv1.ListGroupsRequest) (*identityv1.ListGroupsResponse, error) {
	p, err := tenantPath(req.GetParent(), false)
	if err != nil {
		return nil, err
	}
	out := &identityv1.ListGroupsResponse{}
	return out, c.do(ctx, http.MethodGet, p+"/groups", pageQuery(req.GetPageSize(), req.GetPageToken()), nil, out)
}

// AllGroups yields every group of req's tenant, from req's page token on. It stops at the
// first error, which it yields.
func (c *Client) AllGroups(ctx context.Context, req *identityv1.ListGroupsRequest) iter.Seq2[*identityv1.Group, error] {
	return allPages(ctx, req.GetPageToken(), func(ctx context.Context, token string) ([]*identityv1.Group, string, error) {
		page := &identityv1.ListGroupsRequest{Parent: req.GetParent(), PageSize: req.GetPageSize(), PageToken: token}
		resp, err := c.ListGroups(ctx, page)
		return resp.GetGroups(), resp.GetNextPageToken(), err
	})
}

// DeleteGroup deletes a group, its memberships and the role bindings that name it.
func (c *Client) DeleteGroup(ctx context.Context, req *identityv1.DeleteGroupRequest) (*identityv1.DeleteGroupResponse, error) {
	p, err := groupNames.path(req.GetName())
	if err != nil {
		return nil, err
	}
	out := &identityv1.DeleteGroupResponse{}
	return out, c.do(ctx, http.MethodDelete, p, nil, nil, out)
}

// CreateRoleBinding binds a tenant role to a user or a group, from the next exchange on.
func (c *Client) CreateRoleBinding(ctx context.Context, req *identityv1.CreateRoleBindingRequest) (*identityv1.CreateRoleBindingResponse, error) {
	p, err := tenantPath(req.GetParent(), false)
	if err != nil {
		return nil, err
	}
	q := url.Values{}
	setIf(q, "roleBindingId", req.GetRoleBindingId())
	body := req.GetRoleBinding()
	if body == nil {
		body = &identityv1.RoleBinding{}
	}
	out := &identityv1.CreateRoleBindingResponse{RoleBinding: &identityv1.RoleBinding{}}
	return out, c.do(ctx, http.MethodPost, p+"/roleBindings", q, body, out.RoleBinding)
}

// GetRoleBinding gets a role binding, `tenants/{tenant}/roleBindings/{binding}`.
func (c *Client) GetRoleBinding(ctx context.Context, req *identityv1.GetRoleBindingRequest) (*identityv1.GetRoleBindingResponse, error) {
	p, err := roleBindingNames.path(req.GetName())
	if err != nil {
		return nil, err
	}
	out := &identityv1.GetRoleBindingResponse{RoleBinding: &identityv1.RoleBinding{}}
	return out, c.do(ctx, http.MethodGet, p, nil, nil, out.RoleBinding)
}

// ListRoleBindings returns one page of a tenant's role bindings; see AllRoleBindings to
// follow every page.
func (c *Client) ListRoleBindings(ctx context.Context, req *identityv1.ListRoleBindingsRequest) (*identityv1.ListRoleBindingsResponse, error) {
	p, err := tenantPath(req.GetParent(), false)
	if err != nil {
		return nil, err
	}
	out := &identityv1.ListRoleBindingsResponse{}
	return out, c.do(ctx, http.MethodGet, p+"/roleBindings", pageQuery(req.GetPageSize(), req.GetPageToken()), nil, out)
}

// AllRoleBindings yields every role binding of req's tenant, from req's page token on. It
// stops at the first error, which it yields.
func (c *Client) AllRoleBindings(ctx context.Context, req *identityv1.ListRoleBindingsRequest) iter.Seq2[*identityv1.RoleBinding, error] {
	return allPages(ctx, req.GetPageToken(), func(ctx context.Context, token string) ([]*identityv1.RoleBinding, string, error) {
		page := &identityv1.ListRoleBindingsRequest{Parent: req.GetParent(), PageSize: req.GetPageSize(), PageToken: token}
		resp, err := c.ListRoleBindings(ctx, page)
		return resp.GetRoleBindings(), resp.GetNextPageToken(), err
	})
}

// DeleteRoleBinding deletes a role binding, from the next exchange on.
func (c *Client) DeleteRoleBinding(ctx context.Context, req *identityv1.DeleteRoleBindingRequest) (*identityv1.DeleteRoleBindingResponse, error) {
	p, err := roleBindingNames.path(req.GetName())
	if err != nil {
		return nil, err
	}
	out := &identityv1.DeleteRoleBindingResponse{}
	return out, c.do(ctx, http.MethodDelete, p, nil, nil, out)
}
