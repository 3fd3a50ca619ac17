package client

import (
	"context"
	"iter"
	"net/http"
	"net/url"
	"strings"

	"google.golang.org/protobuf/proto"

	datagatewayv1 "github.com/oriel-dev/oriel/gen/pb/oriel/datagateway/v1"
)

// The datagateway's REST routes, like content's, answer most calls with the resource
// alone (the proto's response_body); those methods decode it into the response message's
// field, so that every method returns what the gRPC method returns.

// CreateConnection creates a connection in a tenant. Its credentials are encrypted at
// rest and never come back: the connection returned says only has_credentials.
func (c *Client) CreateConnection(ctx context.Context, req *datagatewayv1.CreateConnectionRequest) (*datagatewayv1.CreateConnectionResponse, error) {
	p, err := tenantPath(req.GetParent(), false)
	if err != nil {
		return nil, err
	}
	q := url.Values{}
	setIf(q, "connectionId", req.GetConnectionId())
	body := req.GetConnection()
	if body == nil {
		body = &datagatewayv1.Connection{}
	}
	out := &datagatewayv1.CreateConnectionResponse{Connection: &datagatewayv1.Connection{}}
	return out, c.do(ctx, http.MethodPost, p+"/connections", q, body, out.Connection)
}

// GetConnection gets a connection, `tenants/{tenant}/connections/{connection}`.
func (c *Client) GetConnection(ctx context.Context, req *datagatewayv1.GetConnectionRequest) (*datagatewayv1.GetConnectionResponse, error) {
	p, err := connectionNames.path(req.GetName())
	if err != nil {
		return nil, err
	}
	out := &datagatewayv1.GetConnectionResponse{Connection: &datagatewayv1.Connection{}}
	return out, c.do(ctx, http.MethodGet, p, nil, nil, out.Connection)
}

// ListConnections returns one page of a tenant's connections, by name; see
// AllConnections to follow every page.
func (c *Client) ListConnections(ctx context.Context, req *datagatewayv1.ListConnectionsRequest) (*datagatewayv1.ListConnectionsResponse, error) {
	p, err := tenantPath(req.GetParent(), false)
	if err != nil {
		return nil, err
	}
	out := &datagatewayv1.ListConnectionsResponse{}
	return out, c.do(ctx, http.MethodGet, p+"/connections", pageQuery(req.GetPageSize(), req.GetPageToken()), nil, out)
}

// AllConnections yields every connection of req's tenant, from req's page token on. It
// stops at the first error, which it yields.
func (c *Client) AllConnections(ctx context.Context, req *datagatewayv1.ListConnectionsRequest) iter.Seq2[*datagatewayv1.Connection, error] {
	return allPages(ctx, req.GetPageToken(), func(ctx context.Context, token string) ([]*datagatewayv1.Connection, string, error) {
		page := &datagatewayv1.ListConnectionsRequest{Parent: req.GetParent(), PageSize: req.GetPageSize(), PageToken: token}
		resp, err := c.ListConnections(ctx, page)
		return resp.GetConnections(), resp.GetNextPageToken(), err
	})
}

// UpdateConnection changes the fields named in req's update_mask (`display_name`,
// `postgres`, `mysql`, `http`, `agent_pool`, `credentials`; a kind's parameters are
// replaced whole); with an empty mask, the edge updates the fields present in the body.
// Set the connection's etag to update only if nobody changed it since it was read.
func (c *Client) UpdateConnection(ctx context.Context, req *datagatewayv1.UpdateConnectionRequest) (*datagatewayv1.UpdateConnectionResponse, error) {
	p, err := connectionNames.path(req.GetConnection().GetName())
	if err != nil {
		return nil, err
	}
	// The path carries the name; the body carries only what changes (and the etag).
	body := proto.CloneOf(req.GetConnection())
	body.Name = ""
	q := url.Values{}
	setIf(q, "updateMask", strings.Join(req.GetUpdateMask().GetPaths(), ","))
	out := &datagatewayv1.UpdateConnectionResponse{Connection: &datagatewayv1.Connection{}}
	return out, c.do(ctx, http.MethodPatch, p, q, body, out.Connection)
}

// DeleteConnection deletes a connection that no replication uses; with an etag, only if
// it is unchanged.
func (c *Client) DeleteConnection(ctx context.Context, req *datagatewayv1.DeleteConnectionRequest) (*datagatewayv1.DeleteConnectionResponse, error) {
	p, err := connectionNames.path(req.GetName())
	if err != nil {
		return nil, err
	}
	q := url.Values{}
	setIf(q, "etag", req.GetEtag())
	out := &datagatewayv1.DeleteConnectionResponse{}
	return out, c.do(ctx, http.MethodDelete, p, q, nil, out)
}

// TestConnection connects to the source along the connection's route. A source that
// does not answer is not an error of the call: the response says ok=false and why.
func (c *Client) TestConnection(ctx context.Context, req *datagatewayv1.TestConnectionRequest) (*datagatewayv1.TestConnectionResponse, error) {
	p, err := connectionNames.path(req.GetName())
	if err != nil {
		return nil, err
	}
	out := &datagatewayv1.TestConnectionResponse{}
	return out, c.do(ctx, http.MethodPost, p+":test", nil, &datagatewayv1.TestConnectionRequest{}, out)
}

// Query runs a read-only statement and yields its stream: the header (the columns), then
// batches of rows, then the stats. req's row_limit and timeout bound it at the source, under
// the datagateway's own limits; the edge lets a query stream as long as a watch. Breaking
// out of the loop, or ctx ending, cancels the statement at the source.
func (c *Client) Query(ctx context.Context, req *datagatewayv1.QueryRequest) iter.Seq2[*datagatewayv1.QueryResponse, error] {
	p, err := connectionNames.path(req.GetName())
	if err != nil {
		return func(yield func(*datagatewayv1.QueryResponse, error) bool) { yield(nil, err) }
	}
	body := proto.CloneOf(req)
	body.Name = ""
	return stream(ctx, c, http.MethodPost, p+":query", body, func() *datagatewayv1.QueryResponse { return &datagatewayv1.QueryResponse{} })
}
