package tunnel

import (
	"context"
	"errors"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/timestamppb"

	datagatewayv1 "github.com/oriel-dev/oriel/gen/pb/oriel/datagateway/v1"
	errorsv1 "github.com/oriel-dev/oriel/gen/pb/oriel/errors/v1"
	"github.com/oriel-dev/oriel/platform/apierr"
	"github.com/oriel-dev/oriel/platform/auth"
)

// tunnelServer is the AgentTunnelService. Both methods check their own credential.
type tunnelServer struct {
	datagatewayv1.UnimplementedAgentTunnelServiceServer
	hub *Hub
}

// Enroll spends an enrollment token for the agent's credential.
func (s *tunnelServer) Enroll(ctx context.Context, req *datagatewayv1.EnrollRequest) (*datagatewayv1.EnrollResponse, error) {
	if req.GetEnrollmentToken() == "" {
		return nil, apierr.New(codes.Unauthenticated, errorsv1.ErrorReason_ERROR_REASON_CREDENTIAL_MISSING,
			"an enrollment token is required")
	}
	agent, credential, err := s.hub.opts.Agents.Enroll(ctx, req.GetEnrollmentToken())
	if errors.Is(err, auth.ErrInvalidCredential) {
		return nil, apierr.New(codes.Unauthenticated, errorsv1.ErrorReason_ERROR_REASON_CREDENTIAL_INVALID,
			"the enrollment token is not valid: unknown, expired or already used")
	}
	if err != nil {
		return nil, apierr.FromError(ctx, s.hub.log, err)
	}
	s.hub.log.InfoContext(ctx, "agent enrolled", "agent", agent)
	return &datagatewayv1.EnrollResponse{Agent: agent, Credential: credential}, nil
}

// Connect holds an agent's stream: authenticate, AgentHello, Welcome, then serve queries
// until the stream ends or the hub drops it.
func (s *tunnelServer) Connect(stream grpc.BidiStreamingServer[datagatewayv1.ConnectRequest, datagatewayv1.ConnectResponse]) error {
	h := s.hub
	ctx := stream.Context()
	credential, err := auth.BearerCredential(ctx)
	if err != nil {
		return err
	}
	if credential == "" {
		return apierr.New(codes.Unauthenticated, errorsv1.ErrorReason_ERROR_REASON_CREDENTIAL_MISSING,
			"an agent credential is required: send `authorization: Bearer oriel_ac_…`")
	}
	id, err := h.opts.Agents.Authenticate(ctx, credential)
	switch {
	case errors.Is(err, auth.ErrInvalidCredential):
		return errRevoked()
	case err != nil:
		h.log.WarnContext(ctx, "cannot check an agent credential", "error", err)
		return apierr.Unavailable("agent credentials cannot be checked right now; retry")
	}

	if h.isDraining() {
		return errDraining()
	}

	c := newConn(h, id, credential)
	defer c.close(status.Error(codes.Unavailable, "the stream ended"))
	first := make(chan *datagatewayv1.ConnectRequest, 1)
	go c.receive(stream, first)

	hello, err := awaitHello(ctx, first, h.opts.HeartbeatTimeout)
	if err != nil {
		c.close(err)
		return err
	}
	c.version, c.hostname, c.connectTime = hello.GetVersion(), hello.GetHostname(), time.Now()

	// Welcome goes before the stream is routable, so it is the agent's first message.
	if err := stream.Send(&datagatewayv1.ConnectResponse{Message: &datagatewayv1.ConnectResponse_Welcome{
		Welcome: &datagatewayv1.Welcome{
			Agent:             id.Agent,
			HeartbeatInterval: durationpb.New(h.opts.HeartbeatInterval),
			HeartbeatTimeout:  durationpb.New(h.opts.HeartbeatTimeout),
		},
	}}); err != nil {
		return err
	}
	if !h.register(c) {
		return c.cause
	}
	h.log.InfoContext(ctx, "agent connected", "agent", id.Agent, "tenant", id.Tenant, "pool", id.Pool,
		"version", c.version, "hostname", c.hostname)
	h.record(ctx, c, true)
	go c.watch()
	return c.send(stream)
}

// awaitHello waits for the stream's first message, which must be an AgentHello.
func awaitHello(ctx context.Context, first <-chan *datagatewayv1.ConnectRequest, timeout time.Duration) (*datagatewayv1.AgentHello, error) {
	t := time.NewTimer(timeout)
	defer t.Stop()
	select {
	case m, ok := <-first:
		if !ok {
			return nil, status.Error(codes.Unavailable, "the stream ended before AgentHello")
		}
		if m.GetHello() == nil {
			return nil, status.Errorf(codes.InvalidArgument, "the first message must be AgentHello, not %T", m.GetMessage())
		}
		return m.GetHello(), nil
	case <-t.C:
		return nil, status.Errorf(codes.DeadlineExceeded, "no AgentHello within %s", timeout)
	case <-ctx.Done():
		return nil, status.FromContextError(ctx.Err()).Err()
	}
}

// send is the stream's one sender: queued messages, tunnel acks and heartbeats, until the
// stream closes. It returns the reason, which ends the call with that status.
func (c *conn) send(stream grpc.BidiStreamingServer[datagatewayv1.ConnectRequest, datagatewayv1.ConnectResponse]) error {
	t := time.NewTicker(c.hub.opts.HeartbeatInterval)
	defer t.Stop()
	for {
		var msg *datagatewayv1.ConnectResponse
		select {
		case <-c.done:
			return c.cause
		case msg = <-c.out:
		case <-c.ackReady:
			for id, n := range c.takeAcks() {
				if err := stream.Send(&datagatewayv1.ConnectResponse{Message: &datagatewayv1.ConnectResponse_TunnelAck{
					TunnelAck: &datagatewayv1.TunnelAck{TunnelId: id, Bytes: int32(n)},
				}}); err != nil {
					c.close(status.Error(codes.Unavailable, "the stream ended"))
					return c.cause
				}
			}
			continue
		case <-t.C:
			msg = &datagatewayv1.ConnectResponse{Message: &datagatewayv1.ConnectResponse_Heartbeat{
				Heartbeat: &datagatewayv1.Heartbeat{SendTime: timestamppb.Now()},
			}}
		}
		if err := stream.Send(msg); err != nil {
			c.close(status.Error(codes.Unavailable, "the stream ended"))
			return c.cause
		}
	}
}
