package client

import (
	"context"
	"iter"
	"net/http"
	"net/url"
	"strings"

	"google.golang.org/protobuf/proto"

	contentv1 "github.com/oriel-dev/oriel/gen/pb/oriel/content/v1"
)

// The content service's REST routes, like identity's, answer most calls with the resource
// alone (the proto's response_body); those methods decode it into the response message's
// field, so that every method returns what the gRPC method returns.

// CreateSpace creates a space in a tenant.
func (c *Client) CreateSpace(ctx context.Context, req *contentv1.CreateSpaceRequest) (*contentv1.CreateSpaceResponse, error) {
	p, err := tenantPath(req.GetParent(), false)
	if err != nil {
		return nil, err
	}
	q := url.Values{}
	setIf(q, "spaceId", req.GetSpaceId())
	body := req.GetSpace()
	if body == nil {
		body = &contentv1.Space{}
	}
	out := &contentv1.CreateSpaceResponse{Space: &contentv1.Space{}}
	return out, c.do(ctx, http.MethodPost, p+"/spaces", q, body, out.Space)
}

// GetSpace gets a space, `tenants/{tenant}/spaces/{space}`.
func (c *Client) GetSpace(ctx context.Context, req *contentv1.GetSpaceRequest) (*contentv1.GetSpaceResponse, error) {
	p, err := spaceNames.path(req.GetName())
	if err != nil {
		return nil, err
	}
	out := &contentv1.GetSpaceResponse{Space: &contentv1.Space{}}
	return out, c.do(ctx, http.MethodGet, p, nil, nil, out.Space)
}

// ListSpaces returns one page of the spaces of a tenant the caller may see; see AllSpaces
// to follow every page.
func (c *Client) ListSpaces(ctx context.Context, req *contentv1.ListSpacesRequest) (*contentv1.ListSpacesResponse, error) {
	p, err := tenantPath(req.GetParent(), false)
	if err != nil {
		return nil, err
	}
	out := &contentv1.ListSpacesResponse{}
	return out, c.do(ctx, http.MethodGet, p+"/spaces", pageQuery(req.GetPageSize(), req.GetPageToken()), nil, out)
}

// AllSpaces yields every space of req's tenant the caller may see, from req's page token
// on. It stops at the first error, which it yields.
func (c *Client) AllSpaces(ctx context.Context, req *contentv1.ListSpacesRequest) iter.Seq2[*contentv1.Space, error] {
	return allPages(ctx, req.GetPageToken(), func(ctx context.Context, token string) ([]*contentv1.Space, string, error) {
		page := &contentv1.ListSpacesRequest{Parent: req.GetParent(), PageSize: req.GetPageSize(), PageToken: token}
		resp, err := c.ListSpaces(ctx, page)
		return resp.GetSpaces(), resp.GetNextPageToken(), err
	})
}

// UpdateSpace changes the fields named in req's update_mask (`display_name`,
// `description`); with an empty mask, the edge updates the fields present in the body. Set
// the space's etag to update only if nobody changed it since it was read.
func (c *Client) UpdateSpace(ctx context.Context, req *contentv1.UpdateSpaceRequest) (*contentv1.UpdateSpaceResponse, error) {
	p, err := spaceNames.path(req.GetSpace().GetName())
	if err != nil {
		return nil, err
	}
	// The path carries the name; the body carries only what changes (and the etag).
	body := proto.Clone(req.GetSpace()).(*contentv1.Space)
	body.Name = ""
	q := url.Values{}
	setIf(q, "updateMask", strings.Join(req.GetUpdateMask().GetPaths(), ","))
	out := &contentv1.UpdateSpaceResponse{Space: &contentv1.Space{}}
	return out, c.do(ctx, http.MethodPatch, p, q, body, out.Space)
}

// DeleteSpace deletes an empty space; with an etag, only if it is unchanged.
func (c *Client) DeleteSpace(ctx context.Context, req *contentv1.DeleteSpaceRequest) (*contentv1.DeleteSpaceResponse, error) {
	p, err := spaceNames.path(req.GetName())
	if err != nil {
		return nil, err
	}
	q := url.Values{}
	setIf(q, "etag", req.GetEtag())
	out := &contentv1.DeleteSpaceResponse{}
	return out, c.do(ctx, http.MethodDelete, p, q, nil, out)
}

// CreateSpaceMember gives a user or a group a role in a space, replacing the role it had.
func (c *Client) CreateSpaceMember(ctx context.Context, req *contentv1.CreateSpaceMemberRequest) (*contentv1.CreateSpaceMemberResponse, error) {
	p, err := spaceNames.path(req.GetParent())
	if err != nil {
		return nil, err
	}
	body := req.GetSpaceMember()
	if body == nil {
		body = &contentv1.SpaceMember{}
	}
	out := &contentv1.CreateSpaceMemberResponse{SpaceMember: &contentv1.SpaceMember{}}
	return out, c.do(ctx, http.MethodPost, p+"/members", nil, body, out.SpaceMember)
}

// ListSpaceMembers returns one page of a space's members; see AllSpaceMembers to follow
// every page.
func (c *Client) ListSpaceMembers(ctx context.Context, req *contentv1.ListSpaceMembersRequest) (*contentv1.ListSpaceMembersResponse, error) {
	p, err := spaceNames.path(req.GetParent())
	if err != nil {
		return nil, err
	}
	out := &contentv1.ListSpaceMembersResponse{}
	return out, c.do(ctx, http.MethodGet, p+"/members", pageQuery(req.GetPageSize(), req.GetPageToken()), nil, out)
}

// AllSpaceMembers yields every member of req's space, from req's page token on. It stops
// at the first error, which it yields.
func (c *Client) AllSpaceMembers(ctx context.Context, req *contentv1.ListSpaceMembersRequest) iter.Seq2[*contentv1.SpaceMember, error] {
	return allPages(ctx, req.GetPageToken(), func(ctx context.Context, token string) ([]*contentv1.SpaceMember, string, error) {
		page := &contentv1.ListSpaceMembersRequest{Parent: req.GetParent(), PageSize: req.GetPageSize(), PageToken: token}
		resp, err := c.ListSpaceMembers(ctx, page)
		return resp.GetSpaceMembers(), resp.GetNextPageToken(), err
	})
}

// DeleteSpaceMember removes a member from a space,
// `tenants/{tenant}/spaces/{space}/members/{member}`.
func (c *Client) DeleteSpaceMember(ctx context.Context, req *contentv1.DeleteSpaceMemberRequest) (*contentv1.DeleteSpaceMemberResponse, error) {
	p, err := spaceMemberNames.path(req.GetName())
	if err != nil {
		return nil, err
	}
	out := &contentv1.DeleteSpaceMemberResponse{}
	return out, c.do(ctx, http.MethodDelete, p, nil, nil, out)
}
