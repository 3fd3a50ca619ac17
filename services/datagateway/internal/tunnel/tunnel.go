// Package tunnel is the datagateway's end of the agent tunnel: it enrolls agents, holds
// each connected agent's one stream, sends queries down it and streams their results back
// to the caller, with per-query flow control, cancellation both ways, heartbeats and
// revocation. Dial opens byte streams (TCP through the agent) on the same stream, each
// with its own window. It serves only the tenant an agent's credential is bound to.
package tunnel

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/durationpb"

	datagatewayv1 "github.com/oriel-dev/oriel/gen/pb/oriel/datagateway/v1"
	errorsv1 "github.com/oriel-dev/oriel/gen/pb/oriel/errors/v1"
	"github.com/oriel-dev/oriel/platform/apierr"
	"github.com/oriel-dev/oriel/platform/auth"
	"github.com/oriel-dev/oriel/services/datagateway/internal/source"
)

// Identity is who an agent credential belongs to.
type Identity struct {
	// Agent is `tenants/{tenant}/agents/{agent}`.
	Agent string
	// Tenant is the tenant id; the agent serves only it.
	Tenant string
	// Pool is the agent's pool.
	Pool string
}

// Status is what the hub knows of an agent's stream.
type Status struct {
	Agent         string
	Connected     bool
	Version       string
	Hostname      string
	ConnectTime   time.Time
	LastHeartbeat time.Time
	InFlight      int
	// Replica is the address other replicas reach the replica holding the stream at
	// (Options.AdvertiseAddr); "" when it takes no forwarded calls.
	Replica string
}

// Agents is what the hub needs from the store. Errors for credentials it does not accept
// are auth.ErrInvalidCredential.
type Agents interface {
	// Enroll spends a one-time enrollment token and returns the agent it enrolls and the
	// agent's new credential (`oriel_ac_…`).
	Enroll(ctx context.Context, enrollmentToken string) (agent, credential string, err error)
	// Authenticate returns who an agent credential belongs to, unless it is revoked.
	Authenticate(ctx context.Context, credential string) (Identity, error)
	// RecordStatus stores an agent's stream status, which any replica's API reads.
	RecordStatus(ctx context.Context, st Status) error
}

// SelfAuthenticating are the tunnel's methods, which check their own credential (an
// enrollment token, an agent credential) rather than a principal's: list them in
// server.Service.SelfAuthenticating.
var SelfAuthenticating = []string{
	datagatewayv1.AgentTunnelService_Enroll_FullMethodName,
	datagatewayv1.AgentTunnelService_Connect_FullMethodName,
}

// Options configure a Hub.
type Options struct {
	Agents Agents
	Log    *slog.Logger
	// HeartbeatInterval is how often each end sends a heartbeat; HeartbeatTimeout how long
	// either waits without hearing anything before dropping the stream.
	// DefaultHeartbeatInterval and DefaultHeartbeatTimeout when zero.
	HeartbeatInterval, HeartbeatTimeout time.Duration
	// InitialCredit is how many batches an agent may send ahead of the consumer;
	// DefaultInitialCredit when zero.
	InitialCredit int
	// BatchRows is the rows per batch when the caller's limits do not say;
	// DefaultBatchRows when zero.
	BatchRows int
	// TunnelWindow is how many bytes of a tunnel (Dial) each end may send ahead of the
	// other's acknowledgement; DefaultTunnelWindow when zero, at most MaxTunnelWindow.
	TunnelWindow int
	// AdvertiseAddr is the host:port other replicas reach this one's gRPC server at,
	// recorded with each connected agent's status so they can forward calls for its pool
	// here; "" records none.
	AdvertiseAddr string
}

// Hub holds the streams of the agents connected to this replica.
type Hub struct {
	opts Options
	log  *slog.Logger

	mu       sync.Mutex
	draining bool
	agents   map[string]*conn           // by agent name
	pools    map[poolKey]map[*conn]bool // the connected agents of each tenant's pool

	// statusMu orders RecordStatus calls, so a stream's "disconnected" never overwrites
	// the "connected" of the stream that replaced it.
	statusMu sync.Mutex

	queryIDs atomic.Uint64
}

type poolKey struct{ tenant, pool string }

// NewHub returns a hub.
func NewHub(opts Options) *Hub {
	if opts.Log == nil {
		opts.Log = slog.New(slog.DiscardHandler)
	}
	if opts.HeartbeatInterval <= 0 {
		opts.HeartbeatInterval = DefaultHeartbeatInterval
	}
	if opts.HeartbeatTimeout <= 0 {
		opts.HeartbeatTimeout = DefaultHeartbeatTimeout
	}
	if opts.HeartbeatTimeout <= opts.HeartbeatInterval {
		// A timeout within one interval would drop healthy streams between heartbeats.
		opts.HeartbeatTimeout = 3 * opts.HeartbeatInterval
	}
	if opts.InitialCredit <= 0 {
		opts.InitialCredit = DefaultInitialCredit
	}
	if opts.BatchRows <= 0 {
		opts.BatchRows = DefaultBatchRows
	}
	if opts.TunnelWindow <= 0 {
		opts.TunnelWindow = DefaultTunnelWindow
	}
	opts.TunnelWindow = min(opts.TunnelWindow, MaxTunnelWindow)
	return &Hub{
		opts:   opts,
		log:    opts.Log,
		agents: map[string]*conn{},
		pools:  map[poolKey]map[*conn]bool{},
	}
}

// Server is the AgentTunnelService that agents call.
func (h *Hub) Server() datagatewayv1.AgentTunnelServiceServer { return &tunnelServer{hub: h} }

// ErrNoAgent matches (errors.Is) the error of a Query, Test or Dial that found no agent
// of the pool connected to this replica: nothing reached an agent and nothing was sent
// to the caller, so the call may run on another replica. The error is also the
// UNAVAILABLE AGENT_UNAVAILABLE status for the caller.
var ErrNoAgent = errors.New("no agent of the pool is connected to this replica")

// Query runs statement with params on a connected agent of the tenant's pool and sends
// its result through send. It returns the agent that ran it. No connected agent
// (ErrNoAgent), or an agent that goes away mid-query, is UNAVAILABLE with reason
// AGENT_UNAVAILABLE.
func (h *Hub) Query(ctx context.Context, tenant, pool string, src *datagatewayv1.Source, statement string, params []*datagatewayv1.QueryParameter, lim source.Limits, send source.Send) (agent string, err error) {
	batchRows := lim.BatchRows
	if batchRows <= 0 {
		batchRows = h.opts.BatchRows
	}
	run := &datagatewayv1.RunQuery{
		Source:        src,
		Statement:     statement,
		Parameters:    params,
		RowLimit:      lim.RowLimit,
		InitialCredit: int32(h.opts.InitialCredit),
		BatchRows:     int32(batchRows),
	}
	// The agent receives at most gRPC's default 4 MiB in one message; a larger RunQuery
	// would break its stream, and every query on it, rather than fail this one.
	if n := proto.Size(run); n > MaxMessageBytes {
		return "", apierr.New(codes.InvalidArgument, errorsv1.ErrorReason_ERROR_REASON_INVALID_REQUEST,
			fmt.Sprintf("the statement and its parameters take %d bytes, more than the %d an agent accepts", n, MaxMessageBytes))
	}
	if lim.Timeout > 0 {
		run.Timeout = durationpb.New(lim.Timeout)
		// The agent enforces the timeout; this bounds the wait should it not.
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, lim.Timeout+h.opts.HeartbeatTimeout)
		defer cancel()
	}
	c, q, err := h.start(ctx, tenant, pool, run)
	if err != nil {
		return "", err
	}
	defer c.finish(q)
	for {
		ev, err := q.next(ctx, c)
		if err != nil {
			return c.id.Agent, err
		}
		switch e := ev.GetEvent().(type) {
		case *datagatewayv1.QueryEvent_Response:
			resp := e.Response
			stats := resp.GetStats()
			if stats != nil {
				stats.Agent = c.id.Agent
				q.ended = true
			}
			if err := send(resp); err != nil {
				return c.id.Agent, err
			}
			if stats != nil {
				return c.id.Agent, nil
			}
			if resp.GetBatch() != nil {
				// The consumer has taken a batch: the agent may send one more. Credit goes
				// back in a few steps per window rather than batch by batch, which halves
				// the messages without ever letting the agent further ahead.
				q.taken++
				if q.taken >= h.grantStep() {
					if err := c.grant(ctx, q, q.taken); err != nil {
						return c.id.Agent, err
					}
					q.taken = 0
				}
			}
		case *datagatewayv1.QueryEvent_Error:
			q.ended = true
			return c.id.Agent, status.ErrorProto(e.Error)
		default:
			return c.id.Agent, c.protocolError(q, ev)
		}
	}
}

// Test tests src from a connected agent of the tenant's pool; ErrNoAgent as for Query.
func (h *Hub) Test(ctx context.Context, tenant, pool string, src *datagatewayv1.Source) (*datagatewayv1.TestConnectionResponse, error) {
	c, q, err := h.start(ctx, tenant, pool, &datagatewayv1.RunQuery{Source: src, TestOnly: true})
	if err != nil {
		return nil, err
	}
	defer c.finish(q)
	ev, err := q.next(ctx, c)
	if err != nil {
		return nil, err
	}
	switch e := ev.GetEvent().(type) {
	case *datagatewayv1.QueryEvent_Test:
		q.ended = true
		e.Test.Agent = c.id.Agent
		return e.Test, nil
	case *datagatewayv1.QueryEvent_Error:
		q.ended = true
		return nil, status.ErrorProto(e.Error)
	default:
		return nil, c.protocolError(q, ev)
	}
}

// Disconnect cuts the stream of agent, if it is connected here (after a revocation).
func (h *Hub) Disconnect(agent string) {
	h.mu.Lock()
	c := h.agents[agent]
	h.mu.Unlock()
	if c != nil {
		// UNAVAILABLE rather than UNAUTHENTICATED: the agent reconnects, and Connect gives
		// the store's verdict on its credential.
		c.close(status.Error(codes.Unavailable, "the datagateway disconnected this agent"))
	}
}

// Drain prepares this replica to stop: it refuses new streams, queries and tunnels, ends
// idle streams at once and busy ones when their last query ends, each with UNAVAILABLE so
// the agents reconnect to another replica. Open tunnels end with their stream. Call it when shutdown begins (before the server's
// GracefulStop, which otherwise waits for agent streams that never end by themselves).
func (h *Hub) Drain() {
	h.mu.Lock()
	h.draining = true
	conns := make([]*conn, 0, len(h.agents))
	for _, c := range h.agents {
		conns = append(conns, c)
	}
	h.mu.Unlock()
	for _, c := range conns {
		c.drain()
	}
}

func (h *Hub) isDraining() bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.draining
}

// Run re-checks connected agents' credentials every heartbeat interval (so a revocation
// on another replica cuts the stream too) and records their status, until ctx is done.
func (h *Hub) Run(ctx context.Context) error {
	t := time.NewTicker(h.opts.HeartbeatInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
		for _, c := range h.connected() {
			h.recheck(ctx, c)
		}
	}
}

// recheck re-authenticates c's credential, cutting the stream when it is no longer
// accepted or now names another tenant or pool, and records c's status.
func (h *Hub) recheck(ctx context.Context, c *conn) {
	actx, cancel := context.WithTimeout(ctx, h.opts.HeartbeatInterval)
	defer cancel()
	id, err := h.opts.Agents.Authenticate(actx, c.credential)
	switch {
	case errors.Is(err, auth.ErrInvalidCredential):
		c.close(errRevoked())
		return
	case err != nil:
		// The store cannot decide now; keep serving and ask again next time.
		if ctx.Err() == nil {
			h.log.Warn("cannot re-check an agent's credential", "agent", c.id.Agent, "error", err)
		}
	case id != c.id:
		c.close(status.Error(codes.Unavailable, "the agent's tenant or pool changed; reconnect"))
		return
	}
	h.record(actx, c, true)
}

// connected returns the streams registered now.
func (h *Hub) connected() []*conn {
	h.mu.Lock()
	defer h.mu.Unlock()
	out := make([]*conn, 0, len(h.agents))
	for _, c := range h.agents {
		out = append(out, c)
	}
	return out
}

// register makes c the stream of its agent, replacing (and cutting) an older one. It
// reports false when c closed meanwhile.
func (h *Hub) register(c *conn) bool {
	c.registered.Store(true)
	h.mu.Lock()
	// close closes done before it unregisters, so a stream closed now is never left behind.
	if c.isClosed() {
		h.mu.Unlock()
		return false
	}
	if h.draining {
		h.mu.Unlock()
		c.close(errDraining())
		return false
	}
	old := h.agents[c.id.Agent]
	h.agents[c.id.Agent] = c
	k := poolKey{c.id.Tenant, c.id.Pool}
	if h.pools[k] == nil {
		h.pools[k] = map[*conn]bool{}
	}
	h.pools[k][c] = true
	if old != nil {
		h.removeLocked(old)
	}
	h.mu.Unlock()
	if old != nil {
		old.close(status.Error(codes.Aborted, "replaced by a newer stream of the same agent"))
	}
	return true
}

// unregister forgets c, unless a newer stream has replaced it.
func (h *Hub) unregister(c *conn) {
	h.mu.Lock()
	h.removeLocked(c)
	h.mu.Unlock()
}

func (h *Hub) removeLocked(c *conn) {
	if h.agents[c.id.Agent] == c {
		delete(h.agents, c.id.Agent)
	}
	k := poolKey{c.id.Tenant, c.id.Pool}
	if p := h.pools[k]; p != nil {
		delete(p, c)
		if len(p) == 0 {
			delete(h.pools, k)
		}
	}
}

// isCurrent reports whether c is its agent's registered stream.
func (h *Hub) isCurrent(c *conn) bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.agents[c.id.Agent] == c
}

// pick returns the connected agent of exactly this tenant and pool with the fewest
// queries and tunnels in flight (ties broken at random), or nil.
func (h *Hub) pick(tenant, pool string) *conn {
	h.mu.Lock()
	defer h.mu.Unlock()
	var best *conn
	var bestLoad int32
	ties := 0
	for c := range h.pools[poolKey{tenant, pool}] {
		// The key already says so; checked again because routing another tenant's query
		// to an agent would hand it that tenant's credentials.
		if c.id.Tenant != tenant || c.id.Pool != pool || c.isClosed() || c.draining.Load() {
			continue
		}
		load := c.inFlight.Load() + c.openTunnels.Load()
		switch {
		case best == nil || load < bestLoad:
			best, bestLoad, ties = c, load, 1
		case load == bestLoad:
			ties++
			if rand.IntN(ties) == 0 {
				best = c
			}
		}
	}
	return best
}

// start sends run to an agent of the pool and returns the query to read its events from.
func (h *Hub) start(ctx context.Context, tenant, pool string, run *datagatewayv1.RunQuery) (*conn, *query, error) {
	if err := ctx.Err(); err != nil {
		return nil, nil, err
	}
	// A stream may close between being picked and taking the query; then try another.
	for range 3 {
		c := h.pick(tenant, pool)
		if c == nil {
			break
		}
		q := c.add(strconv.FormatUint(h.queryIDs.Add(1), 36), h.opts.InitialCredit)
		if q == nil {
			continue
		}
		run.QueryId = q.id
		if err := c.enqueue(ctx, &datagatewayv1.ConnectResponse{
			Message: &datagatewayv1.ConnectResponse_RunQuery{RunQuery: run},
		}); err != nil {
			c.finish(q)
			if ctx.Err() != nil {
				return nil, nil, err
			}
			continue
		}
		return c, q, nil
	}
	return nil, nil, errNoAgent(pool)
}

// record stores c's status: connected, unless it has been replaced or dropped meanwhile.
func (h *Hub) record(ctx context.Context, c *conn, connected bool) {
	h.statusMu.Lock()
	defer h.statusMu.Unlock()
	current := h.isCurrent(c)
	if connected && !current {
		return // dropped meanwhile: its disconnect is (or will be) recorded
	}
	if !connected && !current && h.hasAgent(c.id.Agent) {
		return // a newer stream of the agent holds its status
	}
	st := c.status()
	st.Connected = connected
	st.Replica = h.opts.AdvertiseAddr
	if err := h.opts.Agents.RecordStatus(ctx, st); err != nil && ctx.Err() == nil {
		h.log.Warn("cannot record an agent's status", "agent", c.id.Agent, "error", err)
	}
}

func (h *Hub) hasAgent(agent string) bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.agents[agent] != nil
}

// grantStep is how many batches the consumer takes before their credit goes back: a
// quarter of the window, so the agent always holds most of it.
func (h *Hub) grantStep() int32 { return int32(max(1, h.opts.InitialCredit/4)) }

// errNoAgent is the error of a query for a pool with no agent connected here: a status
// that is ErrNoAgent too.
func errNoAgent(pool string) error {
	return noAgentError{apierr.New(codes.Unavailable, errorsv1.ErrorReason_ERROR_REASON_AGENT_UNAVAILABLE,
		fmt.Sprintf("no agent of pool %q is connected; start one, or retry once it is", pool),
		"pool", pool)}
}

// noAgentError is the AGENT_UNAVAILABLE status of errNoAgent, matching ErrNoAgent.
type noAgentError struct{ error }

func (e noAgentError) Is(target error) bool       { return target == ErrNoAgent }
func (e noAgentError) Unwrap() error              { return e.error }
func (e noAgentError) GRPCStatus() *status.Status { return status.Convert(e.error) }

// errAgentGone is the error of a query whose agent's stream dropped: the caller may retry,
// and the retry goes to another agent of the pool.
func errAgentGone(id Identity) error {
	return apierr.New(codes.Unavailable, errorsv1.ErrorReason_ERROR_REASON_AGENT_UNAVAILABLE,
		fmt.Sprintf("agent %s disconnected during the query; retry", id.Agent),
		"pool", id.Pool, "agent", id.Agent)
}

func errDraining() error {
	return status.Error(codes.Unavailable, "this datagateway replica is shutting down; reconnect")
}

func errRevoked() error {
	return apierr.New(codes.Unauthenticated, errorsv1.ErrorReason_ERROR_REASON_CREDENTIAL_INVALID,
		"the agent's credential is no longer valid (the agent was revoked or deleted); enroll it again")
}
