package client

import (
	"context"
	"iter"
	"net/http"
	"net/url"

	datagatewayv1 "github.com/oriel-dev/oriel/gen/pb/oriel/datagateway/v1"
)

// CreateAgent registers an agent in a tenant. It has no credential until `oriel-agent`
// enrolls with a token from CreateEnrollmentToken.
func (c *Client) CreateAgent(ctx context.Context, req *datagatewayv1.CreateAgentRequest) (*datagatewayv1.CreateAgentResponse, error) {
	p, err := tenantPath(req.GetParent(), false)
	if err != nil {
		return nil, err
	}
	q := url.Values{}
	setIf(q, "agentId", req.GetAgentId())
	body := req.GetAgent()
	if body == nil {
		body = &datagatewayv1.Agent{}
	}
	out := &datagatewayv1.CreateAgentResponse{Agent: &datagatewayv1.Agent{}}
	return out, c.do(ctx, http.MethodPost, p+"/agents", q, body, out.Agent)
}

// GetAgent gets an agent and its status, `tenants/{tenant}/agents/{agent}`.
func (c *Client) GetAgent(ctx context.Context, req *datagatewayv1.GetAgentRequest) (*datagatewayv1.GetAgentResponse, error) {
	p, err := agentNames.path(req.GetName())
	if err != nil {
		return nil, err
	}
	out := &datagatewayv1.GetAgentResponse{Agent: &datagatewayv1.Agent{}}
	return out, c.do(ctx, http.MethodGet, p, nil, nil, out.Agent)
}

// ListAgents returns one page of a tenant's agents, by name; see AllAgents to follow
// every page.
func (c *Client) ListAgents(ctx context.Context, req *datagatewayv1.ListAgentsRequest) (*datagatewayv1.ListAgentsResponse, error) {
	p, err := tenantPath(req.GetParent(), false)
	if err != nil {
		return nil, err
	}
	out := &datagatewayv1.ListAgentsResponse{}
	return out, c.do(ctx, http.MethodGet, p+"/agents", pageQuery(req.GetPageSize(), req.GetPageToken()), nil, out)
}

// AllAgents yields every agent of req's tenant, from req's page token on. It stops at the
// first error, which it yields.
func (c *Client) AllAgents(ctx context.Context, req *datagatewayv1.ListAgentsRequest) iter.Seq2[*datagatewayv1.Agent, error] {
	return allPages(ctx, req.GetPageToken(), func(ctx context.Context, token string) ([]*datagatewayv1.Agent, string, error) {
		page := &datagatewayv1.ListAgentsRequest{Parent: req.GetParent(), PageSize: req.GetPageSize(), PageToken: token}
		resp, err := c.ListAgents(ctx, page)
		return resp.GetAgents(), resp.GetNextPageToken(), err
	})
}

// CreateEnrollmentToken creates the agent's one-time enrollment token (`oriel_ae_…`),
// shown only in this response; a new token replaces any unused one.
func (c *Client) CreateEnrollmentToken(ctx context.Context, req *datagatewayv1.CreateEnrollmentTokenRequest) (*datagatewayv1.CreateEnrollmentTokenResponse, error) {
	p, err := agentNames.path(req.GetName())
	if err != nil {
		return nil, err
	}
	out := &datagatewayv1.CreateEnrollmentTokenResponse{}
	return out, c.do(ctx, http.MethodPost, p+":createEnrollmentToken", nil, &datagatewayv1.CreateEnrollmentTokenRequest{}, out)
}

// RevokeAgent revokes the agent's credential and cuts its stream; it may enroll again.
func (c *Client) RevokeAgent(ctx context.Context, req *datagatewayv1.RevokeAgentRequest) (*datagatewayv1.RevokeAgentResponse, error) {
	p, err := agentNames.path(req.GetName())
	if err != nil {
		return nil, err
	}
	out := &datagatewayv1.RevokeAgentResponse{Agent: &datagatewayv1.Agent{}}
	return out, c.do(ctx, http.MethodPost, p+":revoke", nil, &datagatewayv1.RevokeAgentRequest{}, out.Agent)
}

// DeleteAgent deletes an agent, revoking its credential and cutting its stream.
func (c *Client) DeleteAgent(ctx context.Context, req *datagatewayv1.DeleteAgentRequest) (*datagatewayv1.DeleteAgentResponse, error) {
	p, err := agentNames.path(req.GetName())
	if err != nil {
		return nil, err
	}
	out := &datagatewayv1.DeleteAgentResponse{}
	return out, c.do(ctx, http.MethodDelete, p, nil, nil, out)
}
