package agent

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"strconv"
	"sync"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	datagatewayv1 "github.com/oriel-dev/oriel/gen/pb/oriel/datagateway/v1"
	errorsv1 "github.com/oriel-dev/oriel/gen/pb/oriel/errors/v1"
	"github.com/oriel-dev/oriel/platform/apierr"
	"github.com/oriel-dev/oriel/services/datagateway/internal/tunnel"
)

const (
	// tunnelDialTimeout bounds the TCP connect to a source.
	tunnelDialTimeout = 10 * time.Second
	// tunnelFlushTimeout bounds writing what the datagateway sent before it closed a
	// tunnel, to a source that may have stopped reading.
	tunnelFlushTimeout = 10 * time.Second
)

// tunnelEnd is the agent's end of a tunnel: a TCP connection to a source whose bytes
// travel on the stream. Two goroutines pump it: down (source → datagateway, within the
// window the datagateway acknowledges) and up (datagateway → source, from a queue the
// window bounds). Payloads are never logged.
type tunnelEnd struct {
	s      *session
	id     string
	addr   string
	window int
	ctx    context.Context // ends when the tunnel does, or the stream
	cancel context.CancelFunc

	mu      sync.Mutex
	queue   [][]byte // bytes from the datagateway not yet written to the source
	held    int      // bytes from the datagateway not yet acknowledged (queued or written)
	closing bool     // the datagateway closed the tunnel: write what is queued, then close
	dialed  bool     // the connection to the source is open
	upWake  chan struct{}

	// credit is the bytes down may still send before the datagateway acknowledges more.
	credit credit

	closeOnce sync.Once // at most one CloseTunnel goes to the datagateway
}

// openTunnel starts a tunnel the datagateway asked for.
func (s *session) openTunnel(ot *datagatewayv1.OpenTunnel) {
	id := ot.GetTunnelId()
	addr := net.JoinHostPort(ot.GetHost(), strconv.Itoa(int(ot.GetPort())))
	window := int(ot.GetWindowBytes())
	refuse := func(err error) {
		st := status.Convert(err).Proto()
		s.wg.Go(func() {
			_ = s.emit(s.ctx, &datagatewayv1.ConnectRequest{Message: &datagatewayv1.ConnectRequest_TunnelOpened{
				TunnelOpened: &datagatewayv1.TunnelOpened{TunnelId: id, Error: st},
			}})
		})
	}
	if window <= 0 || window > tunnel.MaxTunnelWindow || ot.GetHost() == "" || ot.GetPort() <= 0 || ot.GetPort() > 65535 {
		refuse(apierr.New(codes.InvalidArgument, errorsv1.ErrorReason_ERROR_REASON_INVALID_REQUEST,
			fmt.Sprintf("agent %s cannot open a tunnel to %s with a window of %d bytes", s.a.cred.Agent, addr, window)))
		return
	}
	tctx, cancel := context.WithCancel(s.ctx)
	t := &tunnelEnd{
		s: s, id: id, addr: addr, window: window, ctx: tctx, cancel: cancel,
		upWake: make(chan struct{}, 1),
		credit: credit{n: int64(window), limit: int64(window), wake: make(chan struct{}, 1)},
	}
	s.mu.Lock()
	if _, dup := s.tunnels[id]; dup {
		s.mu.Unlock()
		cancel()
		s.a.log.Warn("ignoring a tunnel id already open", "tunnel", id)
		return
	}
	s.tunnels[id] = t
	s.mu.Unlock()
	s.wg.Go(func() {
		defer cancel()
		defer s.forgetTunnel(t)
		t.run()
	})
}

func (s *session) tunnel(id string) *tunnelEnd {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.tunnels[id]
}

func (s *session) forgetTunnel(t *tunnelEnd) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.tunnels[t.id] == t {
		delete(s.tunnels, t.id)
	}
}

// receiveTunnel handles a tunnel message from the datagateway, never blocking: the
// receive loop serves every query and tunnel of the stream.
func (s *session) receiveTunnel(m *datagatewayv1.ConnectResponse) {
	switch msg := m.GetMessage().(type) {
	case *datagatewayv1.ConnectResponse_OpenTunnel:
		s.openTunnel(msg.OpenTunnel)
	case *datagatewayv1.ConnectResponse_TunnelData:
		if t := s.tunnel(msg.TunnelData.GetTunnelId()); t != nil && !t.push(msg.TunnelData.GetData()) {
			s.a.log.Error("the datagateway broke the tunnel protocol", "tunnel", t.id, "problem", "sent more bytes than the window allowed")
			t.fail("the agent received more bytes than the window allowed")
		}
	case *datagatewayv1.ConnectResponse_TunnelAck:
		if t := s.tunnel(msg.TunnelAck.GetTunnelId()); t != nil {
			t.grant(int(msg.TunnelAck.GetBytes()))
		}
	case *datagatewayv1.ConnectResponse_CloseTunnel:
		if t := s.tunnel(msg.CloseTunnel.GetTunnelId()); t != nil {
			s.forgetTunnel(t)
			t.closeOnce.Do(func() {}) // closed by the datagateway: nothing to tell it
			t.closeByDatagateway()
		}
	}
}

// run dials the source, answers TunnelOpened and pumps bytes until the tunnel ends.
func (t *tunnelEnd) run() {
	log := t.s.a.log.With("tunnel", t.id, "address", t.addr)
	d := net.Dialer{Timeout: tunnelDialTimeout}
	nc, err := d.DialContext(t.ctx, "tcp", t.addr)
	if err != nil {
		if t.ctx.Err() != nil {
			return // the datagateway gave up, or the stream is gone
		}
		log.Debug("cannot open a tunnel", "error", err)
		st := status.Convert(apierr.New(codes.Unavailable, errorsv1.ErrorReason_ERROR_REASON_SOURCE_ERROR,
			fmt.Sprintf("agent %s cannot reach %s: %v", t.s.a.cred.Agent, t.addr, dialError(err)), "agent", t.s.a.cred.Agent)).Proto()
		t.closeOnce.Do(func() {}) // the answer says it: no CloseTunnel follows
		_ = t.s.emit(t.ctx, &datagatewayv1.ConnectRequest{Message: &datagatewayv1.ConnectRequest_TunnelOpened{
			TunnelOpened: &datagatewayv1.TunnelOpened{TunnelId: t.id, Error: st},
		}})
		return
	}
	// Ending the tunnel (either end closing it, the stream dropping) closes the socket,
	// which unblocks both pumps.
	stop := context.AfterFunc(t.ctx, func() { _ = nc.Close() })
	defer stop()
	defer nc.Close()
	t.mu.Lock()
	t.dialed = true
	t.mu.Unlock()
	if err := t.s.emit(t.ctx, &datagatewayv1.ConnectRequest{Message: &datagatewayv1.ConnectRequest_TunnelOpened{
		TunnelOpened: &datagatewayv1.TunnelOpened{TunnelId: t.id},
	}}); err != nil {
		return
	}
	log.Debug("tunnel opened")
	var up sync.WaitGroup
	up.Go(func() { t.up(nc) })
	t.down(nc)
	up.Wait()
	log.Debug("tunnel closed")
}

// dialError is err without the dialer's "dial tcp …:" prefix, which repeats the address.
func dialError(err error) error {
	var op *net.OpError
	if errors.As(err, &op) && op.Err != nil {
		return op.Err
	}
	return err
}

// down sends what the source sends, never more than the datagateway has room for.
func (t *tunnelEnd) down(nc net.Conn) {
	buf := make([]byte, tunnel.MaxTunnelChunk)
	for {
		room, err := t.credit.await(t.ctx)
		if err != nil {
			return // the tunnel ended
		}
		n, err := nc.Read(buf[:min(int(room), len(buf))])
		if n > 0 {
			t.credit.spend(int64(n))
			// The buffer is reused: the message keeps its own copy until it is sent.
			if t.s.emit(t.ctx, &datagatewayv1.ConnectRequest{Message: &datagatewayv1.ConnectRequest_TunnelData{
				TunnelData: &datagatewayv1.TunnelData{TunnelId: t.id, Data: bytes.Clone(buf[:n])},
			}}) != nil {
				return
			}
		}
		switch {
		case err == nil:
		case t.ctx.Err() != nil:
			return // ended elsewhere, which said why
		case errors.Is(err, io.EOF):
			t.finish("")
			return
		default:
			t.finish("reading from the source failed: " + dialError(err).Error())
			return
		}
	}
}

// up writes what the datagateway sends to the source and acknowledges it once written,
// a quarter window at a time.
func (t *tunnelEnd) up(nc net.Conn) {
	step := max(1, t.window/4)
	unacked := 0
	for {
		chunks, closing := t.take()
		if chunks == nil && !closing {
			return // the tunnel ended
		}
		for _, b := range chunks {
			if _, err := nc.Write(b); err != nil {
				if t.ctx.Err() == nil {
					t.finish("writing to the source failed: " + dialError(err).Error())
				}
				return
			}
			unacked += len(b)
		}
		if closing {
			t.cancel()
			return
		}
		if unacked >= step {
			t.mu.Lock()
			t.held -= unacked
			t.mu.Unlock()
			if t.s.emit(t.ctx, &datagatewayv1.ConnectRequest{Message: &datagatewayv1.ConnectRequest_TunnelAck{
				TunnelAck: &datagatewayv1.TunnelAck{TunnelId: t.id, Bytes: int32(unacked)},
			}}) != nil {
				return
			}
			unacked = 0
		}
	}
}

// take waits for bytes to write, returning them all, and whether the datagateway closed
// the tunnel (then they are the last). It returns nil, false when the tunnel ends.
func (t *tunnelEnd) take() ([][]byte, bool) {
	for {
		t.mu.Lock()
		chunks, closing := t.queue, t.closing
		t.queue = nil
		t.mu.Unlock()
		if len(chunks) > 0 || closing {
			return chunks, closing
		}
		select {
		case <-t.upWake:
		case <-t.ctx.Done():
			return nil, false
		}
	}
}

// push queues bytes for the source. It reports false when they overrun the window.
func (t *tunnelEnd) push(b []byte) bool {
	t.mu.Lock()
	if t.held+len(b) > t.window {
		t.mu.Unlock()
		return false
	}
	t.queue = append(t.queue, b)
	t.held += len(b)
	t.mu.Unlock()
	wake(t.upWake)
	return true
}

// grant lets down send n more bytes, never beyond the window whatever the datagateway says.
func (t *tunnelEnd) grant(n int) {
	if n > 0 {
		t.credit.add(int64(n))
	}
}

// closeByDatagateway writes what is queued, then closes the connection to the source; a
// dial still in progress is abandoned.
func (t *tunnelEnd) closeByDatagateway() {
	t.mu.Lock()
	t.closing = true
	dialed := t.dialed
	t.mu.Unlock()
	if !dialed {
		t.cancel()
		return
	}
	wake(t.upWake)
	// A source that stopped reading must not hold the tunnel open.
	t.s.wg.Go(func() {
		timer := time.NewTimer(tunnelFlushTimeout)
		defer timer.Stop()
		select {
		case <-timer.C:
			t.cancel()
		case <-t.ctx.Done():
		}
	})
}

// finish tells the datagateway the tunnel ended (why, when by an error) and ends it.
func (t *tunnelEnd) finish(why string) {
	t.end(why, func(msg *datagatewayv1.ConnectRequest) {
		// On the stream's context, not the tunnel's, which this ends.
		_ = t.s.emit(t.s.ctx, msg)
	})
}

// fail ends the tunnel with an error from the receive loop, which must not wait for the
// sender.
func (t *tunnelEnd) fail(why string) {
	t.end(why, func(msg *datagatewayv1.ConnectRequest) {
		t.s.wg.Go(func() { _ = t.s.emit(t.s.ctx, msg) })
	})
}

// end forgets the tunnel, hands the CloseTunnel for the datagateway to emit (unless one
// went already) and ends the tunnel.
func (t *tunnelEnd) end(why string, emit func(*datagatewayv1.ConnectRequest)) {
	t.closeOnce.Do(func() {
		t.s.forgetTunnel(t)
		emit(&datagatewayv1.ConnectRequest{Message: &datagatewayv1.ConnectRequest_CloseTunnel{
			CloseTunnel: &datagatewayv1.CloseTunnel{TunnelId: t.id, Error: why},
		}})
	})
	t.cancel()
}

func wake(ch chan struct{}) {
	select {
	case ch <- struct{}{}:
	default:
	}
}
