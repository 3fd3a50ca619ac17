package client

import (
	"context"
	"iter"
	"net/http"
	"net/url"

	datagatewayv1 "github.com/oriel-dev/oriel/gen/pb/oriel/datagateway/v1"
)

// CreateReplication creates a replication in a tenant; it starts at once (SNAPSHOTTING).
func (c *Client) CreateReplication(ctx context.Context, req *datagatewayv1.CreateReplicationRequest) (*datagatewayv1.CreateReplicationResponse, error) {
	p, err := tenantPath(req.GetParent(), false)
	if err != nil {
		return nil, err
	}
	q := url.Values{}
	setIf(q, "replicationId", req.GetReplicationId())
	body := req.GetReplication()
	if body == nil {
		body = &datagatewayv1.Replication{}
	}
	out := &datagatewayv1.CreateReplicationResponse{Replication: &datagatewayv1.Replication{}}
	return out, c.do(ctx, http.MethodPost, p+"/replications", q, body, out.Replication)
}

// GetReplication gets a replication and its status,
// `tenants/{tenant}/replications/{replication}`.
func (c *Client) GetReplication(ctx context.Context, req *datagatewayv1.GetReplicationRequest) (*datagatewayv1.GetReplicationResponse, error) {
	p, err := replicationNames.path(req.GetName())
	if err != nil {
		return nil, err
	}
	out := &datagatewayv1.GetReplicationResponse{Replication: &datagatewayv1.Replication{}}
	return out, c.do(ctx, http.MethodGet, p, nil, nil, out.Replication)
}

// ListReplications returns one page of a tenant's replications, by name; see
// AllReplications to follow every page.
func (c *Client) ListReplications(ctx context.Context, req *datagatewayv1.ListReplicationsRequest) (*datagatewayv1.ListReplicationsResponse, error) {
	p, err := tenantPath(req.GetParent(), false)
	if err != nil {
		return nil, err
	}
	out := &datagatewayv1.ListReplicationsResponse{}
	return out, c.do(ctx, http.MethodGet, p+"/replications", pageQuery(req.GetPageSize(), req.GetPageToken()), nil, out)
}

// AllReplications yields every replication of req's tenant, from req's page token on. It
// stops at the first error, which it yields.
func (c *Client) AllReplications(ctx context.Context, req *datagatewayv1.ListReplicationsRequest) iter.Seq2[*datagatewayv1.Replication, error] {
	return allPages(ctx, req.GetPageToken(), func(ctx context.Context, token string) ([]*datagatewayv1.Replication, string, error) {
		page := &datagatewayv1.ListReplicationsRequest{Parent: req.GetParent(), PageSize: req.GetPageSize(), PageToken: token}
		resp, err := c.ListReplications(ctx, page)
		return resp.GetReplications(), resp.GetNextPageToken(), err
	})
}

// PauseReplication pauses streaming; the source keeps its WAL meanwhile.
func (c *Client) PauseReplication(ctx context.Context, req *datagatewayv1.PauseReplicationRequest) (*datagatewayv1.PauseReplicationResponse, error) {
	p, err := replicationNames.path(req.GetName())
	if err != nil {
		return nil, err
	}
	out := &datagatewayv1.PauseReplicationResponse{Replication: &datagatewayv1.Replication{}}
	return out, c.do(ctx, http.MethodPost, p+":pause", nil, &datagatewayv1.PauseReplicationRequest{}, out.Replication)
}

// ResumeReplication resumes a paused or failed replication from where it stopped.
func (c *Client) ResumeReplication(ctx context.Context, req *datagatewayv1.ResumeReplicationRequest) (*datagatewayv1.ResumeReplicationResponse, error) {
	p, err := replicationNames.path(req.GetName())
	if err != nil {
		return nil, err
	}
	out := &datagatewayv1.ResumeReplicationResponse{Replication: &datagatewayv1.Replication{}}
	return out, c.do(ctx, http.MethodPost, p+":resume", nil, &datagatewayv1.ResumeReplicationRequest{}, out.Replication)
}

// DeleteReplication deletes a replication and drops its slot and publication at the
// source; the target's tables stay.
func (c *Client) DeleteReplication(ctx context.Context, req *datagatewayv1.DeleteReplicationRequest) (*datagatewayv1.DeleteReplicationResponse, error) {
	p, err := replicationNames.path(req.GetName())
	if err != nil {
		return nil, err
	}
	out := &datagatewayv1.DeleteReplicationResponse{}
	return out, c.do(ctx, http.MethodDelete, p, nil, nil, out)
}

// WatchReplication streams a replication: as it is, then whenever its status changes,
// until ctx ends or the edge's stream cap (an hour by default) ends the call, with an
// error or without; a replication streams forever, so watching again is the caller's
// choice. Breaking out of the loop closes the connection.
func (c *Client) WatchReplication(ctx context.Context, req *datagatewayv1.WatchReplicationRequest) iter.Seq2[*datagatewayv1.WatchReplicationResponse, error] {
	p, err := replicationNames.path(req.GetName())
	if err != nil {
		return func(yield func(*datagatewayv1.WatchReplicationResponse, error) bool) { yield(nil, err) }
	}
	return stream(ctx, c, http.MethodGet, p+":watch", nil, func() *datagatewayv1.WatchReplicationResponse {
		return &datagatewayv1.WatchReplicationResponse{}
	})
}
