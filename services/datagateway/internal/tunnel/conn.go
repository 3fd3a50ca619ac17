package tunnel

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	datagatewayv1 "github.com/oriel-dev/oriel/gen/pb/oriel/datagateway/v1"
	errorsv1 "github.com/oriel-dev/oriel/gen/pb/oriel/errors/v1"
	"github.com/oriel-dev/oriel/platform/apierr"
)

// conn is one agent's stream. Its handler goroutine is the only one that sends on the
// stream (gRPC streams are not safe for concurrent Send); everyone else queues messages
// on out. A receive goroutine reads the stream and hands query events to their queries.
type conn struct {
	hub        *Hub
	id         Identity
	credential string // re-checked by Hub.Run; never logged

	// Set from AgentHello before the stream is registered, then only read.
	version, hostname string
	connectTime       time.Time

	registered    atomic.Bool  // whether the hub has routed to it (and recorded it)
	lastHeard     atomic.Int64 // unix nanoseconds of the last message from the agent
	agentInFlight atomic.Int32 // as the agent's last heartbeat said
	inFlight      atomic.Int32 // queries of this hub on the stream
	openTunnels   atomic.Int32 // tunnels of this hub on the stream
	draining      atomic.Bool  // takes no more queries or tunnels; closes when the last query ends

	out chan *datagatewayv1.ConnectResponse

	closeOnce sync.Once
	done      chan struct{} // closed by close
	cause     error         // why; set before done is closed

	mu      sync.Mutex
	queries map[string]*query      // by query id; nil once closed
	tunnels map[string]*tunnelConn // by tunnel id; nil once closed

	// Tunnel acks waiting for the sender, by tunnel id; ackReady signals there are some.
	ackMu    sync.Mutex
	acks     map[string]int
	ackReady chan struct{}
}

// outQueue bounds the messages waiting for the sender: a stuck stream blocks the callers
// queueing on it (each within its own context) rather than growing a buffer.
const outQueue = 64

func newConn(h *Hub, id Identity, credential string) *conn {
	c := &conn{
		hub:        h,
		id:         id,
		credential: credential,
		out:        make(chan *datagatewayv1.ConnectResponse, outQueue),
		done:       make(chan struct{}),
		queries:    map[string]*query{},
		tunnels:    map[string]*tunnelConn{},
		acks:       map[string]int{},
		ackReady:   make(chan struct{}, 1),
	}
	c.heard()
	return c
}

func (c *conn) heard() { c.lastHeard.Store(time.Now().UnixNano()) }

func (c *conn) isClosed() bool { return isClosed(c.done) }

// close ends the stream with cause (a status error, returned to the agent): it stops
// routing queries and tunnels here, fails those in flight, and records the disconnect.
func (c *conn) close(cause error) {
	c.closeOnce.Do(func() {
		c.cause = cause
		c.mu.Lock()
		c.queries = nil
		tunnels := c.tunnels
		c.tunnels = nil
		c.openTunnels.Store(0)
		c.mu.Unlock()
		close(c.done)
		for _, t := range tunnels {
			t.end(errTunnelAgentGone(c.id, t.addr.addr))
		}
		c.hub.unregister(c)
		if !c.registered.Load() {
			return // never served: nothing to record
		}
		c.hub.log.Info("agent disconnected", "agent", c.id.Agent, "reason", status.Convert(cause).Message())
		go func() {
			ctx, cancel := context.WithTimeout(context.Background(), c.hub.opts.HeartbeatTimeout)
			defer cancel()
			c.hub.record(ctx, c, false)
		}()
	})
}

// drain closes c once no query is in flight. Tunnels do not hold it open: they carry
// replications, which stop only after the server's GracefulStop, which waits for this
// stream; they end with it, and the engine retries them through another replica.
func (c *conn) drain() {
	c.draining.Store(true)
	if c.inFlight.Load() == 0 {
		c.close(errDraining())
	}
}

func (c *conn) status() Status {
	return Status{
		Agent:         c.id.Agent,
		Version:       c.version,
		Hostname:      c.hostname,
		ConnectTime:   c.connectTime,
		LastHeartbeat: time.Unix(0, c.lastHeard.Load()),
		InFlight:      int(c.inFlight.Load()),
	}
}

// enqueue hands msg to the sender.
func (c *conn) enqueue(ctx context.Context, msg *datagatewayv1.ConnectResponse) error {
	select {
	case c.out <- msg:
		return nil
	case <-c.done:
		return errAgentGone(c.id)
	case <-ctx.Done():
		return ctx.Err()
	}
}

// post hands msg to the sender without holding up the caller: when the queue is full, a
// goroutine waits to queue it, so it still goes after what is queued already.
func (c *conn) post(msg *datagatewayv1.ConnectResponse) {
	select {
	case c.out <- msg:
	case <-c.done:
	default:
		go func() { _ = c.enqueue(context.Background(), msg) }()
	}
}

// query is one query in flight on a stream.
type query struct {
	id string
	// events holds what the agent sent and the consumer has not taken: at most the
	// credit's batches plus the header and the last event, so the receiver never blocks.
	events chan *datagatewayv1.QueryEvent
	// overrun is closed when the agent sent more than its credit allowed.
	overrun     chan struct{}
	overrunOnce sync.Once
	// ended is set by the consumer when the last event arrived, so nothing is cancelled.
	ended bool
	// taken counts the batches the consumer took whose credit has not gone back yet.
	taken int32
}

// add registers a query on c, or returns nil when c is closed.
func (c *conn) add(id string, credit int) *query {
	q := &query{
		id:      id,
		events:  make(chan *datagatewayv1.QueryEvent, credit+2),
		overrun: make(chan struct{}),
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.queries == nil {
		return nil
	}
	c.queries[id] = q
	c.inFlight.Add(1)
	return q
}

// finish forgets q and, unless its last event arrived, tells the agent to stop it.
func (c *conn) finish(q *query) {
	c.mu.Lock()
	if c.queries != nil {
		delete(c.queries, q.id)
	}
	c.mu.Unlock()
	if c.inFlight.Add(-1) == 0 && c.draining.Load() {
		defer c.close(errDraining()) // after the cancel below is queued
	}
	if q.ended || c.isClosed() {
		return
	}
	cancel := &datagatewayv1.ConnectResponse{Message: &datagatewayv1.ConnectResponse_CancelQuery{
		CancelQuery: &datagatewayv1.CancelQuery{QueryId: q.id},
	}}
	c.post(cancel)
}

// grant lets the agent send n more batches of q.
func (c *conn) grant(ctx context.Context, q *query, n int32) error {
	return c.enqueue(ctx, &datagatewayv1.ConnectResponse{Message: &datagatewayv1.ConnectResponse_Credit{
		Credit: &datagatewayv1.Credit{QueryId: q.id, Batches: n},
	}})
}

// next returns q's next event: an event that arrived before the stream dropped is still
// delivered, then the drop is an error.
func (q *query) next(ctx context.Context, c *conn) (*datagatewayv1.QueryEvent, error) {
	select {
	case ev := <-q.events:
		return ev, nil
	default:
	}
	select {
	case ev := <-q.events:
		return ev, nil
	case <-ctx.Done():
		return nil, ctx.Err()
	case <-q.overrun:
		return nil, c.protocolError(q, nil)
	case <-c.done:
		select {
		case ev := <-q.events:
			return ev, nil
		default:
		}
		return nil, errAgentGone(c.id)
	}
}

// protocolError reports an agent that broke the protocol for q (an unexpected event, or
// more batches than its credit); the query fails, the stream stays.
func (c *conn) protocolError(q *query, ev *datagatewayv1.QueryEvent) error {
	what := "sent more batches than its credit allowed"
	if ev != nil {
		what = fmt.Sprintf("sent an unexpected event %T", ev.GetEvent())
	}
	c.hub.log.Error("agent broke the tunnel protocol", "agent", c.id.Agent, "query", q.id, "problem", what)
	return apierr.New(codes.Internal, errorsv1.ErrorReason_ERROR_REASON_INTERNAL,
		fmt.Sprintf("agent %s %s; upgrade it", c.id.Agent, what), "agent", c.id.Agent)
}

// receive reads the stream until it ends, handing the first message to first and the
// query events and tunnel messages after it to their queries and tunnels.
func (c *conn) receive(stream grpc.BidiStreamingServer[datagatewayv1.ConnectRequest, datagatewayv1.ConnectResponse], first chan<- *datagatewayv1.ConnectRequest) {
	m, err := stream.Recv()
	if err != nil {
		close(first)
		c.close(status.Error(codes.Unavailable, "the stream ended"))
		return
	}
	c.heard()
	first <- m
	for {
		m, err := stream.Recv()
		if err != nil {
			c.close(status.Error(codes.Unavailable, "the stream ended"))
			return
		}
		c.heard()
		switch msg := m.GetMessage().(type) {
		case *datagatewayv1.ConnectRequest_QueryEvent:
			c.deliver(msg.QueryEvent)
		case *datagatewayv1.ConnectRequest_Heartbeat:
			c.agentInFlight.Store(msg.Heartbeat.GetInFlightQueries())
		case *datagatewayv1.ConnectRequest_TunnelOpened, *datagatewayv1.ConnectRequest_TunnelData,
			*datagatewayv1.ConnectRequest_TunnelAck, *datagatewayv1.ConnectRequest_CloseTunnel:
			c.receiveTunnel(m)
		default:
			c.close(status.Errorf(codes.InvalidArgument, "unexpected %T after AgentHello", msg))
			return
		}
	}
}

// deliver hands ev to its query without ever blocking: the receive loop serves every query
// of the stream and its heartbeats.
func (c *conn) deliver(ev *datagatewayv1.QueryEvent) {
	c.mu.Lock()
	q := c.queries[ev.GetQueryId()]
	c.mu.Unlock()
	if q == nil {
		return // finished or cancelled: what was in flight is dropped
	}
	select {
	case q.events <- ev:
	default:
		q.overrunOnce.Do(func() { close(q.overrun) })
	}
}

// watch drops the stream when nothing has arrived for the heartbeat timeout. It runs
// apart from the sender, which a cut network may block in Send.
func (c *conn) watch() {
	timeout := c.hub.opts.HeartbeatTimeout
	t := time.NewTicker(min(c.hub.opts.HeartbeatInterval, timeout/4))
	defer t.Stop()
	for {
		select {
		case <-c.done:
			return
		case <-t.C:
			if silent := time.Since(time.Unix(0, c.lastHeard.Load())); silent > timeout {
				c.close(status.Errorf(codes.Unavailable, "nothing heard from the agent for %s (heartbeat timeout %s)", silent.Round(time.Millisecond), timeout))
				return
			}
		}
	}
}
