package api

import (
	"context"
	"time"

	"google.golang.org/protobuf/types/known/timestamppb"

	datagatewayv1 "github.com/oriel-dev/oriel/gen/pb/oriel/datagateway/v1"
	"github.com/oriel-dev/oriel/services/datagateway/internal/store"
)

// enrollmentTokenTTL is how long an enrollment token works: long enough to install the
// agent, short enough that a token pasted somewhere goes stale.
const enrollmentTokenTTL = time.Hour

// defaultPool is the pool of an agent created without one.
const defaultPool = "default"

// AgentServer implements AgentService.
type AgentServer struct {
	datagatewayv1.UnimplementedAgentServiceServer
	*Server
}

// agentProto is a stored agent as the API shows it. An agent whose stream is recorded
// open but that has not been heard from for longer than the heartbeat timeout shows as
// DISCONNECTED: the replica holding its stream may have died without recording the end.
func (s *Server) agentProto(a *store.Agent) *datagatewayv1.Agent {
	out := &datagatewayv1.Agent{
		Name: a.Name(), DisplayName: a.DisplayName, Pool: a.Pool, Version: a.Version, Hostname: a.Hostname,
		CreateTime: timestamppb.New(a.CreateTime),
	}
	if a.EnrollTime != nil {
		out.EnrollTime = timestamppb.New(*a.EnrollTime)
	}
	if a.ConnectTime != nil {
		out.ConnectTime = timestamppb.New(*a.ConnectTime)
	}
	if a.LastHeartbeat != nil {
		out.LastHeartbeatTime = timestamppb.New(*a.LastHeartbeat)
	}
	switch {
	case a.Revoked:
		out.State = datagatewayv1.Agent_STATE_REVOKED
	case !a.Enrolled:
		out.State = datagatewayv1.Agent_STATE_NOT_ENROLLED
	case a.Connected && (s.heartbeatTimeout <= 0 || (a.LastHeartbeat != nil && s.now().Sub(*a.LastHeartbeat) <= s.heartbeatTimeout)):
		out.State = datagatewayv1.Agent_STATE_CONNECTED
		out.InFlightQueries = int32(a.InFlight)
	default:
		out.State = datagatewayv1.Agent_STATE_DISCONNECTED
	}
	return out
}

// CreateAgent registers an agent; it enrolls later with a token from
// CreateEnrollmentToken.
func (s AgentServer) CreateAgent(ctx context.Context, req *datagatewayv1.CreateAgentRequest) (*datagatewayv1.CreateAgentResponse, error) {
	tenant := segments(req.GetParent())["tenants"]
	if err := authorize(ctx, tenant, req.GetParent(), Manage, "create agents in "+req.GetParent()); err != nil {
		return nil, err
	}
	id := req.GetAgentId()
	if id == "" {
		id = newID("a")
	}
	pool := req.GetAgent().GetPool()
	if pool == "" {
		pool = defaultPool
	}
	a := &store.Agent{Tenant: tenant, ID: id, DisplayName: req.GetAgent().GetDisplayName(), Pool: pool, CreateTime: s.clock()}
	if err := s.store.CreateAgent(ctx, a); err != nil {
		return nil, s.toStatus(ctx, err, a.Name())
	}
	return &datagatewayv1.CreateAgentResponse{Agent: s.agentProto(a)}, nil
}

// GetAgent returns an agent and its status.
func (s AgentServer) GetAgent(ctx context.Context, req *datagatewayv1.GetAgentRequest) (*datagatewayv1.GetAgentResponse, error) {
	ids := segments(req.GetName())
	if err := authorize(ctx, ids["tenants"], req.GetName(), Manage, "read "+req.GetName()); err != nil {
		return nil, err
	}
	a, err := s.store.GetAgent(ctx, ids["tenants"], ids["agents"])
	if err != nil {
		return nil, s.toStatus(ctx, err, req.GetName())
	}
	return &datagatewayv1.GetAgentResponse{Agent: s.agentProto(a)}, nil
}

// ListAgents lists a tenant's agents by name.
func (s AgentServer) ListAgents(ctx context.Context, req *datagatewayv1.ListAgentsRequest) (*datagatewayv1.ListAgentsResponse, error) {
	tenant := segments(req.GetParent())["tenants"]
	if err := authorize(ctx, tenant, req.GetParent(), Manage, "list the agents of "+req.GetParent()); err != nil {
		return nil, err
	}
	page, size, err := listPage(req, req.GetPageToken(), req.GetPageSize())
	if err != nil {
		return nil, err
	}
	list, err := s.store.ListAgents(ctx, tenant, page)
	if err != nil {
		return nil, s.toStatus(ctx, err, req.GetParent())
	}
	list, next := trimPage(req, list, size, func(a *store.Agent) string { return a.ID })
	resp := &datagatewayv1.ListAgentsResponse{NextPageToken: next}
	for _, a := range list {
		resp.Agents = append(resp.Agents, s.agentProto(a))
	}
	return resp, nil
}

// CreateEnrollmentToken makes the agent's one-time enrollment token, replacing any
// unused one. Only its hash is stored: this response is the only place it appears.
func (s AgentServer) CreateEnrollmentToken(ctx context.Context, req *datagatewayv1.CreateEnrollmentTokenRequest) (*datagatewayv1.CreateEnrollmentTokenResponse, error) {
	ids := segments(req.GetName())
	if err := authorize(ctx, ids["tenants"], req.GetName(), Manage, "enroll "+req.GetName()); err != nil {
		return nil, err
	}
	now := s.clock()
	expire := now.Add(enrollmentTokenTTL)
	token, err := s.store.CreateEnrollmentToken(ctx, ids["tenants"], ids["agents"], now, expire)
	if err != nil {
		return nil, s.toStatus(ctx, err, req.GetName())
	}
	return &datagatewayv1.CreateEnrollmentTokenResponse{EnrollmentToken: token, ExpireTime: timestamppb.New(expire)}, nil
}

// RevokeAgent refuses the agent's credential from now on and cuts its stream (here; the
// replica holding it elsewhere cuts it when it next re-checks the credential).
func (s AgentServer) RevokeAgent(ctx context.Context, req *datagatewayv1.RevokeAgentRequest) (*datagatewayv1.RevokeAgentResponse, error) {
	ids := segments(req.GetName())
	if err := authorize(ctx, ids["tenants"], req.GetName(), Manage, "revoke "+req.GetName()); err != nil {
		return nil, err
	}
	a, err := s.store.RevokeAgent(ctx, ids["tenants"], ids["agents"])
	if err != nil {
		return nil, s.toStatus(ctx, err, req.GetName())
	}
	s.hub.Disconnect(req.GetName())
	return &datagatewayv1.RevokeAgentResponse{Agent: s.agentProto(a)}, nil
}

// DeleteAgent deletes an agent, which revokes its credential, and cuts its stream.
func (s AgentServer) DeleteAgent(ctx context.Context, req *datagatewayv1.DeleteAgentRequest) (*datagatewayv1.DeleteAgentResponse, error) {
	ids := segments(req.GetName())
	if err := authorize(ctx, ids["tenants"], req.GetName(), Manage, "delete "+req.GetName()); err != nil {
		return nil, err
	}
	if err := s.store.DeleteAgent(ctx, ids["tenants"], ids["agents"]); err != nil {
		return nil, s.toStatus(ctx, err, req.GetName())
	}
	s.hub.Disconnect(req.GetName())
	return &datagatewayv1.DeleteAgentResponse{}, nil
}
