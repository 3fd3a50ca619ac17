package api

import (
	"context"
	"errors"
	"io"
	"math/rand/v2"
	"sync"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	datagatewayv1 "github.com/oriel-dev/oriel/gen/pb/oriel/datagateway/v1"
	"github.com/oriel-dev/oriel/platform/apierr"
	"github.com/oriel-dev/oriel/platform/requestid"
	"github.com/oriel-dev/oriel/services/datagateway/internal/tunnel"
)

// forwardedKey marks a call one replica forwarded to another. The receiver never forwards
// it again, so a call makes at most one hop and replicas cannot bounce it between them.
const forwardedKey = "oriel-forwarded"

// replicas forwards the calls this replica cannot serve (no agent of the pool is
// connected here) to a replica holding a stream of one of the pool's agents. It trusts
// nothing to the peer: the call carries the caller's own credential, which the peer
// checks itself.
type replicas struct {
	self string // this replica's advertise address; "" turns forwarding off

	mu    sync.Mutex
	conns map[string]*grpc.ClientConn // by address
}

// client returns the ConnectionService at addr over a connection kept for later calls.
func (r *replicas) client(addr string) (datagatewayv1.ConnectionServiceClient, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	conn := r.conns[addr]
	if conn == nil {
		// Plaintext, as every call between Oriel services inside the deployment.
		var err error
		if conn, err = grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials())); err != nil {
			return nil, err
		}
		if r.conns == nil {
			r.conns = map[string]*grpc.ClientConn{}
		}
		r.conns[addr] = conn
	}
	return datagatewayv1.NewConnectionServiceClient(conn), nil
}

// close closes the kept connections.
func (r *replicas) close() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	var errs []error
	for _, conn := range r.conns {
		errs = append(errs, conn.Close())
	}
	r.conns = nil
	return errors.Join(errs...)
}

// Close releases what the server holds beyond its store: the connections to other
// replicas.
func (s *Server) Close() error { return s.replicas.close() }

// forwardTargets returns, in random order, the replicas that may serve a call for
// (tenant, pool) that failed here with err, or none when the call stays here: err is not
// the hub's "no agent of the pool connected here", forwarding is off, or the call was
// forwarded already.
func (s *Server) forwardTargets(ctx context.Context, err error, tenant, pool string) []string {
	if s.replicas.self == "" || !errors.Is(err, tunnel.ErrNoAgent) || len(metadata.ValueFromIncomingContext(ctx, forwardedKey)) > 0 {
		return nil
	}
	addrs, err := s.store.AgentReplicas(ctx, tenant, pool, s.replicas.self, s.clock().Add(-s.heartbeatTimeout))
	if err != nil {
		if ctx.Err() == nil {
			s.log.WarnContext(ctx, "cannot list the replicas of a pool's agents", "tenant", tenant, "pool", pool, "error", err)
		}
		return nil
	}
	rand.Shuffle(len(addrs), func(i, j int) { addrs[i], addrs[j] = addrs[j], addrs[i] })
	return addrs
}

// forwardContext is ctx for a call to another replica: the caller's credential and
// request id, and the mark that stops a second hop. Nothing else of the caller's
// metadata travels.
func forwardContext(ctx context.Context) context.Context {
	md := metadata.Pairs(forwardedKey, "1")
	if v := metadata.ValueFromIncomingContext(ctx, "authorization"); len(v) > 0 {
		md.Set("authorization", v...)
	}
	if id := requestid.FromContext(ctx); id != "" {
		md.Set(requestid.MetadataKey, id)
	}
	return metadata.NewOutgoingContext(ctx, md)
}

// unreachable reports whether err, ending a forwarded call before any answer, says the
// peer could not be reached (it stopped since it last recorded its agents) rather than
// being the peer's answer: every status a datagateway returns carries a reason. The next
// replica is tried then, and the caller never sees the transport's error.
func unreachable(err error) bool {
	return status.Code(err) == codes.Unavailable && apierr.Reason(err) == ""
}

// forwardTest runs TestConnection on another replica serving the pool; ok is false when
// none could be reached.
func (s *Server) forwardTest(ctx context.Context, addrs []string, req *datagatewayv1.TestConnectionRequest) (resp *datagatewayv1.TestConnectionResponse, ok bool, err error) {
	fctx := forwardContext(ctx)
	for _, addr := range addrs {
		c, err := s.replicas.client(addr)
		if err != nil {
			s.log.WarnContext(ctx, "cannot reach a datagateway replica", "addr", addr, "error", err)
			continue
		}
		resp, err := c.TestConnection(fctx, req)
		if unreachable(err) && ctx.Err() == nil {
			s.log.WarnContext(ctx, "cannot reach a datagateway replica", "addr", addr, "error", err)
			continue
		}
		return resp, true, err
	}
	return nil, false, nil
}

// forwardQuery runs Query on another replica serving the pool and relays its messages
// through send, and its error as it is; ok is false when none could be reached, before
// anything was sent.
func (s *Server) forwardQuery(ctx context.Context, addrs []string, req *datagatewayv1.QueryRequest, send func(*datagatewayv1.QueryResponse) error) (ok bool, err error) {
	fctx, cancel := context.WithCancel(forwardContext(ctx))
	defer cancel() // ends the peer's call should send fail
replicas:
	for _, addr := range addrs {
		c, err := s.replicas.client(addr)
		if err != nil {
			s.log.WarnContext(ctx, "cannot reach a datagateway replica", "addr", addr, "error", err)
			continue
		}
		stream, err := c.Query(fctx, req)
		// sent: a message of this peer's has reached the caller, who must not get another's.
		for sent := false; ; sent = true {
			var m *datagatewayv1.QueryResponse
			if err == nil {
				m, err = stream.Recv()
			}
			switch {
			case errors.Is(err, io.EOF):
				return true, nil
			case err != nil && !sent && unreachable(err) && ctx.Err() == nil:
				s.log.WarnContext(ctx, "cannot reach a datagateway replica", "addr", addr, "error", err)
				continue replicas
			case err != nil:
				return true, err
			}
			if err := send(m); err != nil {
				return true, err
			}
		}
	}
	return false, nil
}
