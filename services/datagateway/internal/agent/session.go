package agent

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"sync"
	"sync/atomic"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/timestamppb"

	spb "google.golang.org/genproto/googleapis/rpc/status"

	datagatewayv1 "github.com/oriel-dev/oriel/gen/pb/oriel/datagateway/v1"
	errorsv1 "github.com/oriel-dev/oriel/gen/pb/oriel/errors/v1"
	"github.com/oriel-dev/oriel/platform/apierr"
	"github.com/oriel-dev/oriel/services/datagateway/internal/source"
	"github.com/oriel-dev/oriel/services/datagateway/internal/tunnel"
)

// Bounds for a RunQuery that leaves its limits unset (the datagateway always sets them).
const (
	defaultQueryTimeout = time.Hour
	// welcomeTimeout bounds the wait for Welcome, before the hub has said its settings.
	welcomeTimeout = tunnel.DefaultHeartbeatTimeout
	// outQueue bounds the messages waiting for the sender; queries block beyond it.
	outQueue = 64
)

var (
	errSilent    = errors.New("nothing heard from the datagateway within the heartbeat timeout")
	errNoWelcome = fmt.Errorf("the datagateway did not answer AgentHello within %s", welcomeTimeout)
)

type stream = grpc.BidiStreamingClient[datagatewayv1.ConnectRequest, datagatewayv1.ConnectResponse]

// session is one stream to the datagateway and the queries and tunnels running on it.
type session struct {
	a      *agent
	ctx    context.Context // ends with the stream; every query's context derives from it
	cancel context.CancelCauseFunc
	out    chan *datagatewayv1.ConnectRequest

	interval, timeout time.Duration
	lastHeard         atomic.Int64 // unix nanoseconds

	mu      sync.Mutex
	queries map[string]*running
	tunnels map[string]*tunnelEnd
	wg      sync.WaitGroup // the queries' and tunnels' goroutines
}

// running is a query in flight.
type running struct {
	id     string
	cancel context.CancelFunc
	credit credit
}

// session connects, says hello and serves the stream until it ends. established reports
// whether the datagateway welcomed the agent.
func (a *agent) session(ctx context.Context) (established bool, err error) {
	sctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	callCtx := metadata.AppendToOutgoingContext(sctx, "authorization", "Bearer "+a.cred.Credential)
	st, err := a.client.Connect(callCtx)
	if err != nil {
		return false, err
	}
	if err := st.Send(&datagatewayv1.ConnectRequest{Message: &datagatewayv1.ConnectRequest_Hello{
		Hello: &datagatewayv1.AgentHello{Version: a.cfg.Version, Hostname: a.cfg.Hostname},
	}}); err != nil {
		return false, recvStatus(st, err)
	}
	t := time.AfterFunc(welcomeTimeout, func() { cancel(errNoWelcome) })
	m, err := st.Recv()
	t.Stop()
	if err != nil {
		return false, causeOr(sctx, err)
	}
	w := m.GetWelcome()
	if w == nil {
		return false, fmt.Errorf("the datagateway answered AgentHello with %T, not Welcome", m.GetMessage())
	}

	s := &session{
		a:        a,
		ctx:      sctx,
		cancel:   cancel,
		out:      make(chan *datagatewayv1.ConnectRequest, outQueue),
		interval: w.GetHeartbeatInterval().AsDuration(),
		timeout:  w.GetHeartbeatTimeout().AsDuration(),
		queries:  map[string]*running{},
		tunnels:  map[string]*tunnelEnd{},
	}
	if s.interval <= 0 {
		s.interval = tunnel.DefaultHeartbeatInterval
	}
	if s.timeout <= s.interval {
		s.timeout = 3 * s.interval
	}
	s.heard()
	a.log.Info("connected", "server", a.cfg.Server, "heartbeat_interval", s.interval.String(), "heartbeat_timeout", s.timeout.String())

	var bg sync.WaitGroup
	bg.Go(func() { s.send(st) })
	bg.Go(s.watch)
	err = s.receive(st)
	cancel(err)
	s.wg.Wait()
	bg.Wait()
	return true, causeOr(sctx, err)
}

// recvStatus returns the status that ended st after Send failed: Send reports only io.EOF
// when the server ended the call, and Recv tells why.
func recvStatus(st stream, err error) error {
	if !errors.Is(err, io.EOF) {
		return err
	}
	for {
		if _, rerr := st.Recv(); rerr != nil {
			return rerr
		}
	}
}

// causeOr returns why ctx was cancelled when the agent itself cut the stream (silence,
// no Welcome), else err.
func causeOr(ctx context.Context, err error) error {
	if cause := context.Cause(ctx); cause != nil && ctx.Err() != nil && (errors.Is(cause, errSilent) || errors.Is(cause, errNoWelcome)) {
		return cause
	}
	return err
}

func (s *session) heard() { s.lastHeard.Store(time.Now().UnixNano()) }

// receive reads the stream until it ends.
func (s *session) receive(st stream) error {
	for {
		m, err := st.Recv()
		if err != nil {
			return err
		}
		s.heard()
		switch msg := m.GetMessage().(type) {
		case *datagatewayv1.ConnectResponse_RunQuery:
			s.start(msg.RunQuery)
		case *datagatewayv1.ConnectResponse_Credit:
			s.mu.Lock()
			r := s.queries[msg.Credit.GetQueryId()]
			s.mu.Unlock()
			if r != nil {
				r.credit.add(int64(msg.Credit.GetBatches()))
			}
		case *datagatewayv1.ConnectResponse_CancelQuery:
			if r := s.remove(msg.CancelQuery.GetQueryId()); r != nil {
				s.a.log.Debug("query cancelled by the datagateway", "query", r.id)
				r.cancel()
			}
		case *datagatewayv1.ConnectResponse_Heartbeat:
		case *datagatewayv1.ConnectResponse_OpenTunnel, *datagatewayv1.ConnectResponse_TunnelData,
			*datagatewayv1.ConnectResponse_TunnelAck, *datagatewayv1.ConnectResponse_CloseTunnel:
			s.receiveTunnel(m)
		default:
			s.a.log.Warn("ignoring an unexpected message", "type", fmt.Sprintf("%T", msg))
		}
	}
}

// send is the stream's one sender: queued events and heartbeats. A failed Send ends it
// quietly; Recv then reports why the stream ended.
func (s *session) send(st stream) {
	t := time.NewTicker(s.interval)
	defer t.Stop()
	for {
		var m *datagatewayv1.ConnectRequest
		select {
		case <-s.ctx.Done():
			return
		case m = <-s.out:
		case <-t.C:
			m = &datagatewayv1.ConnectRequest{Message: &datagatewayv1.ConnectRequest_Heartbeat{
				Heartbeat: &datagatewayv1.Heartbeat{SendTime: timestamppb.Now(), InFlightQueries: s.inFlight()},
			}}
		}
		if err := st.Send(m); err != nil {
			return
		}
	}
}

// watch cuts the stream when nothing has arrived for the heartbeat timeout: the network
// may be silently cut, which neither Recv nor Send would notice soon.
func (s *session) watch() {
	t := time.NewTicker(min(s.interval, s.timeout/4))
	defer t.Stop()
	for {
		select {
		case <-s.ctx.Done():
			return
		case <-t.C:
			if time.Since(time.Unix(0, s.lastHeard.Load())) > s.timeout {
				s.cancel(errSilent)
				return
			}
		}
	}
}

func (s *session) inFlight() int32 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return int32(len(s.queries))
}

// remove forgets the query id and returns it, or nil if it is not running.
func (s *session) remove(id string) *running {
	s.mu.Lock()
	defer s.mu.Unlock()
	r := s.queries[id]
	delete(s.queries, id)
	return r
}

// emit queues m for the sender.
func (s *session) emit(ctx context.Context, m *datagatewayv1.ConnectRequest) error {
	select {
	case s.out <- m:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func queryEvent(id string, resp *datagatewayv1.QueryResponse) *datagatewayv1.ConnectRequest {
	return &datagatewayv1.ConnectRequest{Message: &datagatewayv1.ConnectRequest_QueryEvent{
		QueryEvent: &datagatewayv1.QueryEvent{QueryId: id, Event: &datagatewayv1.QueryEvent_Response{Response: resp}},
	}}
}

func errorEvent(id string, st *spb.Status) *datagatewayv1.ConnectRequest {
	return &datagatewayv1.ConnectRequest{Message: &datagatewayv1.ConnectRequest_QueryEvent{
		QueryEvent: &datagatewayv1.QueryEvent{QueryId: id, Event: &datagatewayv1.QueryEvent_Error{Error: st}},
	}}
}

// start runs rq in its own goroutine, unless the agent is at its limit.
func (s *session) start(rq *datagatewayv1.RunQuery) {
	id := rq.GetQueryId()
	s.mu.Lock()
	if _, dup := s.queries[id]; dup {
		s.mu.Unlock()
		s.a.log.Warn("ignoring a query id already running", "query", id)
		return
	}
	if len(s.queries) >= s.a.cfg.MaxConcurrentQueries {
		s.mu.Unlock()
		st := status.Convert(apierr.New(codes.Unavailable, errorsv1.ErrorReason_ERROR_REASON_AGENT_UNAVAILABLE,
			fmt.Sprintf("agent %s is running its maximum of %d queries; retry", s.a.cred.Agent, s.a.cfg.MaxConcurrentQueries),
			"agent", s.a.cred.Agent)).Proto()
		// Not from the receive loop, which must never wait for the sender.
		s.wg.Go(func() { _ = s.emit(s.ctx, errorEvent(id, st)) })
		return
	}
	qctx, cancel := context.WithCancel(s.ctx)
	r := &running{id: id, cancel: cancel, credit: credit{wake: make(chan struct{}, 1)}}
	r.credit.add(int64(rq.GetInitialCredit()))
	s.queries[id] = r
	s.mu.Unlock()
	s.wg.Go(func() {
		defer cancel()
		defer s.remove(id)
		s.run(qctx, r, rq)
	})
}

// run runs one query or test and sends its result. Nothing is sent once qctx is
// cancelled: the datagateway cancelled the query, or the stream is gone.
func (s *session) run(qctx context.Context, r *running, rq *datagatewayv1.RunQuery) {
	opts := source.Options{DevMode: s.a.cfg.DevMode}
	if rq.GetTestOnly() {
		resp := source.Test(qctx, rq.GetSource(), opts)
		if qctx.Err() == nil {
			_ = s.emit(qctx, &datagatewayv1.ConnectRequest{Message: &datagatewayv1.ConnectRequest_QueryEvent{
				QueryEvent: &datagatewayv1.QueryEvent{QueryId: r.id, Event: &datagatewayv1.QueryEvent_Test{Test: resp}},
			}})
		}
		return
	}
	lim := source.Limits{
		RowLimit:  rq.GetRowLimit(),
		Timeout:   rq.GetTimeout().AsDuration(),
		BatchRows: int(rq.GetBatchRows()),
	}
	if lim.RowLimit <= 0 {
		lim.RowLimit = math.MaxInt64
	}
	if lim.Timeout <= 0 {
		lim.Timeout = defaultQueryTimeout
	}
	if lim.BatchRows <= 0 {
		lim.BatchRows = tunnel.DefaultBatchRows
	}
	s.a.log.Debug("query started", "query", r.id)
	err := source.Query(qctx, rq.GetSource(), rq.GetStatement(), rq.GetParameters(), lim, opts, func(resp *datagatewayv1.QueryResponse) error {
		return s.sendResponse(qctx, r, resp)
	})
	if err == nil || qctx.Err() != nil {
		return
	}
	st := s.errorStatus(r.id, err)
	s.a.log.Debug("query failed", "query", r.id, "code", codes.Code(st.GetCode()).String())
	_ = s.emit(qctx, errorEvent(r.id, st))
}

// sendResponse sends one message of a result: a batch only within the query's credit,
// and split when it would exceed what the datagateway accepts in one message.
func (s *session) sendResponse(ctx context.Context, r *running, resp *datagatewayv1.QueryResponse) error {
	m := queryEvent(r.id, resp)
	b := resp.GetBatch()
	if b == nil {
		return s.emit(ctx, m)
	}
	if sizeBound(r.id, b) > tunnel.MaxMessageBytes {
		if b.GetRowCount() <= 1 {
			return apierr.New(codes.FailedPrecondition, errorsv1.ErrorReason_ERROR_REASON_SOURCE_ERROR,
				fmt.Sprintf("a row is larger than the %d bytes the agent tunnel carries in one message", tunnel.MaxMessageBytes))
		}
		first, second := splitBatch(b)
		if err := s.sendResponse(ctx, r, &datagatewayv1.QueryResponse{Result: &datagatewayv1.QueryResponse_Batch{Batch: first}}); err != nil {
			return err
		}
		return s.sendResponse(ctx, r, &datagatewayv1.QueryResponse{Result: &datagatewayv1.QueryResponse_Batch{Batch: second}})
	}
	if err := r.credit.take(ctx); err != nil {
		return err
	}
	return s.emit(ctx, m)
}

// errorStatus is what the datagateway's caller sees of err: a status error (source
// errors are) as it is, anything else masked, with the detail only in the agent's log.
func (s *session) errorStatus(id string, err error) *spb.Status {
	var se interface{ GRPCStatus() *status.Status }
	if errors.As(err, &se) && se.GRPCStatus().Code() != codes.Unknown {
		return se.GRPCStatus().Proto()
	}
	s.a.log.Error("query failed", "query", id, "error", err)
	return status.Convert(apierr.New(codes.Internal, errorsv1.ErrorReason_ERROR_REASON_INTERNAL,
		fmt.Sprintf("agent %s failed the query; its log says why", s.a.cred.Agent), "agent", s.a.cred.Agent)).Proto()
}

// sizeBound is an upper bound of the encoded size of a QueryEvent carrying b, cheap enough
// for every batch (proto.Size would size every varint, and gRPC sizes the message again).
func sizeBound(queryID string, b *datagatewayv1.RowBatch) int {
	n := 64 + len(queryID) // the enclosing messages' tags and lengths, the row count
	for _, c := range b.GetColumns() {
		n += 64 + len(c.GetNulls()) + len(c.GetBoolValues()) + 10*len(c.GetInt64Values()) + 8*len(c.GetFloat64Values())
		for _, v := range c.GetStringValues() {
			n += 6 + len(v)
		}
		for _, v := range c.GetBytesValues() {
			n += 6 + len(v)
		}
	}
	return n
}

// splitBatch cuts b into two halves of its rows.
func splitBatch(b *datagatewayv1.RowBatch) (*datagatewayv1.RowBatch, *datagatewayv1.RowBatch) {
	n := int(b.GetRowCount())
	h := n / 2
	first := &datagatewayv1.RowBatch{RowCount: int32(h)}
	second := &datagatewayv1.RowBatch{RowCount: int32(n - h)}
	for _, c := range b.GetColumns() {
		c1, c2 := &datagatewayv1.ColumnValues{}, &datagatewayv1.ColumnValues{}
		c1.Nulls, c2.Nulls = halves(c.GetNulls(), h)
		c1.BoolValues, c2.BoolValues = halves(c.GetBoolValues(), h)
		c1.Int64Values, c2.Int64Values = halves(c.GetInt64Values(), h)
		c1.Float64Values, c2.Float64Values = halves(c.GetFloat64Values(), h)
		c1.StringValues, c2.StringValues = halves(c.GetStringValues(), h)
		c1.BytesValues, c2.BytesValues = halves(c.GetBytesValues(), h)
		first.Columns = append(first.Columns, c1)
		second.Columns = append(second.Columns, c2)
	}
	return first, second
}

// halves splits a per-row list at row h; an empty list (no nulls, another type's list)
// stays empty in both.
func halves[T any](s []T, h int) ([]T, []T) {
	if len(s) == 0 {
		return nil, nil
	}
	return s[:h:h], s[h:]
}

// credit is how much more a sender may send: batches of a query, or bytes of a tunnel
// (bounded by its window). The sender is one goroutine, which waits on wake.
type credit struct {
	mu    sync.Mutex
	n     int64
	limit int64         // the most n may reach; 0 for no bound
	wake  chan struct{} // signalled when n grows
}

func (c *credit) add(n int64) {
	c.mu.Lock()
	c.n += n
	if c.limit > 0 {
		c.n = min(c.n, c.limit)
	}
	c.mu.Unlock()
	wake(c.wake)
}

// await returns the credit available, waiting for a grant when there is none.
func (c *credit) await(ctx context.Context) (int64, error) {
	for {
		c.mu.Lock()
		n := c.n
		c.mu.Unlock()
		if n > 0 {
			return n, nil
		}
		select {
		case <-c.wake:
		case <-ctx.Done():
			return 0, ctx.Err()
		}
	}
}

// spend uses n of the credit await returned.
func (c *credit) spend(n int64) {
	c.mu.Lock()
	c.n -= n
	c.mu.Unlock()
}

// take spends one credit, waiting for the datagateway to grant one.
func (c *credit) take(ctx context.Context) error {
	if _, err := c.await(ctx); err != nil {
		return err
	}
	c.spend(1)
	return nil
}
