package tunnel

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"strconv"
	"sync"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	spb "google.golang.org/genproto/googleapis/rpc/status"

	datagatewayv1 "github.com/oriel-dev/oriel/gen/pb/oriel/datagateway/v1"
	errorsv1 "github.com/oriel-dev/oriel/gen/pb/oriel/errors/v1"
	"github.com/oriel-dev/oriel/platform/apierr"
)

// Dial opens a TCP connection to host:port from a connected agent of exactly this tenant
// and pool, and returns it as a net.Conn whose bytes travel on the agent's stream. It is
// for protocols that must run end to end against the source, such as PostgreSQL logical
// replication. No connected agent is UNAVAILABLE with reason AGENT_UNAVAILABLE; an agent
// that cannot reach host:port fails the dial with the status it reports.
//
// Each direction has a window of Options.TunnelWindow bytes: Write blocks once the agent
// has not acknowledged that many, and the agent never sends more than the reader here has
// not consumed, so neither end buffers more than the window whatever the other does. When
// the agent's stream drops, Read and Write fail with UNAVAILABLE AGENT_UNAVAILABLE.
func (h *Hub) Dial(ctx context.Context, tenant, pool, host string, port int) (net.Conn, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if host == "" || port <= 0 || port > 65535 {
		return nil, apierr.New(codes.InvalidArgument, errorsv1.ErrorReason_ERROR_REASON_INVALID_REQUEST,
			fmt.Sprintf("cannot open a tunnel to %q port %d", host, port))
	}
	// A stream may close between being picked and taking the tunnel; then try another.
	for range 3 {
		c := h.pick(tenant, pool)
		if c == nil {
			break
		}
		t := c.addTunnel("t"+strconv.FormatUint(h.queryIDs.Add(1), 36), host, port, h.opts.TunnelWindow)
		if t == nil {
			continue
		}
		if err := c.enqueue(ctx, &datagatewayv1.ConnectResponse{Message: &datagatewayv1.ConnectResponse_OpenTunnel{
			OpenTunnel: &datagatewayv1.OpenTunnel{TunnelId: t.id, Host: host, Port: int32(port), WindowBytes: int32(t.window)},
		}}); err != nil {
			c.forgetTunnel(t)
			if ctx.Err() != nil {
				return nil, err
			}
			continue
		}
		return t.awaitOpened(ctx)
	}
	return nil, errNoAgent(pool)
}

// tunnelConn is the datagateway's end of a tunnel: a net.Conn over the agent's stream.
// The stream's receive loop hands it what the agent sends (deliver, acked, opened,
// end) without ever blocking; Write queues TunnelData for the stream's sender.
type tunnelConn struct {
	c      *conn
	id     string
	window int
	addr   tunnelAddr

	opened chan *spb.Status // TunnelOpened's error (nil when open); buffered, written once

	// writeMu keeps one Write's chunks together, as a TCP connection's writes are.
	writeMu sync.Mutex

	mu       sync.Mutex
	recv     [][]byte // what the agent sent and Read has not returned, in order
	buffered int      // bytes in recv
	unacked  int      // bytes Read returned that the agent has not been told of
	credit   int      // bytes Write may still send before the agent acknowledges more
	closed   bool     // Close was called
	err      error    // why the tunnel ended at the agent's end; Read returns it once recv is empty
	changed  chan struct{}
	ended    chan struct{} // closed when the tunnel ends, by Close or from the agent's end

	readDeadline, writeDeadline deadline
}

// tunnelAddr names a tunnel's ends. The remote address is the source's host:port, with
// network "tcp": clients such as pgconn dial it again for a cancel request, which then
// takes the same route.
type tunnelAddr struct{ network, addr string }

func (a tunnelAddr) Network() string { return a.network }
func (a tunnelAddr) String() string  { return a.addr }

// addTunnel registers a tunnel on c, or returns nil when c is closed or draining.
func (c *conn) addTunnel(id, host string, port, window int) *tunnelConn {
	t := &tunnelConn{
		c:             c,
		id:            id,
		window:        window,
		addr:          tunnelAddr{network: "tcp", addr: net.JoinHostPort(host, strconv.Itoa(port))},
		opened:        make(chan *spb.Status, 1),
		credit:        window,
		changed:       make(chan struct{}),
		ended:         make(chan struct{}),
		readDeadline:  newDeadline(),
		writeDeadline: newDeadline(),
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.tunnels == nil || c.draining.Load() {
		return nil
	}
	c.tunnels[id] = t
	c.openTunnels.Add(1)
	return t
}

// forgetTunnel removes t from c, reporting whether it was there.
func (c *conn) forgetTunnel(t *tunnelConn) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.tunnels == nil || c.tunnels[t.id] != t {
		return false
	}
	delete(c.tunnels, t.id)
	c.openTunnels.Add(-1)
	return true
}

func (c *conn) tunnel(id string) *tunnelConn {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.tunnels[id]
}

// ack tells the agent that n more bytes of tunnel id were consumed. It never blocks: acks
// add up until the sender takes them, so a reader never waits for a busy stream.
func (c *conn) ack(id string, n int) {
	c.ackMu.Lock()
	c.acks[id] += n
	c.ackMu.Unlock()
	select {
	case c.ackReady <- struct{}{}:
	default:
	}
}

// takeAcks returns the acks waiting for the sender.
func (c *conn) takeAcks() map[string]int {
	c.ackMu.Lock()
	defer c.ackMu.Unlock()
	if len(c.acks) == 0 {
		return nil
	}
	acks := c.acks
	c.acks = map[string]int{}
	return acks
}

// closeTunnel tells the agent that tunnel id is closed, without holding up the caller.
func (c *conn) closeTunnel(id, why string) {
	msg := &datagatewayv1.ConnectResponse{Message: &datagatewayv1.ConnectResponse_CloseTunnel{
		CloseTunnel: &datagatewayv1.CloseTunnel{TunnelId: id, Error: why},
	}}
	c.post(msg)
}

// awaitOpened waits for the agent's TunnelOpened.
func (t *tunnelConn) awaitOpened(ctx context.Context) (net.Conn, error) {
	select {
	case st := <-t.opened:
		if st != nil {
			t.end(status.ErrorProto(st))
			t.c.forgetTunnel(t)
			return nil, status.ErrorProto(st)
		}
		return t, nil
	case <-t.ended:
		return nil, t.endErr()
	case <-ctx.Done():
		// The agent may be dialing still; Close tells it to give up.
		_ = t.Close()
		return nil, ctx.Err()
	}
}

// notifyLocked wakes every Read and Write waiting for a change.
func (t *tunnelConn) notifyLocked() {
	close(t.changed)
	t.changed = make(chan struct{})
}

// endLocked ends the tunnel with err unless it has ended already.
func (t *tunnelConn) endLocked(err error) {
	if t.err != nil || t.closed {
		return
	}
	t.err = err
	close(t.ended)
	t.notifyLocked()
}

// end ends the tunnel from the agent's end: the source closed it (io.EOF), the agent
// failed it, or the stream dropped. What arrived before stays readable.
func (t *tunnelConn) end(err error) {
	t.mu.Lock()
	t.endLocked(err)
	t.mu.Unlock()
}

func (t *tunnelConn) endErr() error {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.err == nil {
		return net.ErrClosed
	}
	return t.err
}

// deliver takes bytes the agent sent. It reports false when they overrun the window.
func (t *tunnelConn) deliver(b []byte) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.closed || t.err != nil || len(b) == 0 {
		return true // closed here: what was in flight is dropped
	}
	if t.buffered+t.unacked+len(b) > t.window {
		return false
	}
	t.recv = append(t.recv, b)
	t.buffered += len(b)
	t.notifyLocked()
	return true
}

// acked lets Write send n more bytes.
func (t *tunnelConn) acked(n int) {
	if n <= 0 {
		return
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	// Never beyond the window, whatever the agent says.
	t.credit = min(t.credit+n, t.window)
	t.notifyLocked()
}

// ackStep is how many consumed bytes go back to the agent at once: a quarter of the
// window, so the agent always holds most of it and acks cost few messages. The agent can
// only be waiting when the whole window is unacknowledged, so the step is always reached.
func (t *tunnelConn) ackStep() int { return max(1, t.window/4) }

// Read reads what the agent sent from the source.
func (t *tunnelConn) Read(p []byte) (int, error) {
	for {
		t.mu.Lock()
		switch {
		case t.closed:
			t.mu.Unlock()
			return 0, net.ErrClosed
		case t.readDeadline.passed():
			t.mu.Unlock()
			return 0, os.ErrDeadlineExceeded
		case t.buffered > 0:
			n := 0
			for n < len(p) && len(t.recv) > 0 {
				k := copy(p[n:], t.recv[0])
				n += k
				if k == len(t.recv[0]) {
					t.recv[0] = nil
					t.recv = t.recv[1:]
				} else {
					t.recv[0] = t.recv[0][k:]
				}
			}
			t.buffered -= n
			t.unacked += n
			ack := 0
			if t.unacked >= t.ackStep() && t.err == nil {
				ack, t.unacked = t.unacked, 0
			}
			t.mu.Unlock()
			if ack > 0 {
				t.c.ack(t.id, ack)
			}
			return n, nil
		case t.err != nil:
			t.mu.Unlock()
			return 0, t.err
		case len(p) == 0:
			t.mu.Unlock()
			return 0, nil
		}
		changed := t.changed
		t.mu.Unlock()
		select {
		case <-changed:
		case <-t.readDeadline.wait():
		}
	}
}

// Write sends p to the source in chunks of at most MaxTunnelChunk, within the window.
func (t *tunnelConn) Write(p []byte) (int, error) {
	t.writeMu.Lock()
	defer t.writeMu.Unlock()
	n := 0
	for len(p) > 0 {
		t.mu.Lock()
		switch {
		case t.closed:
			t.mu.Unlock()
			return n, net.ErrClosed
		case t.writeDeadline.passed():
			t.mu.Unlock()
			return n, os.ErrDeadlineExceeded
		case errors.Is(t.err, io.EOF):
			t.mu.Unlock()
			return n, fmt.Errorf("write to %s: the source closed the connection: %w", t.addr, io.ErrClosedPipe)
		case t.err != nil:
			t.mu.Unlock()
			return n, t.err
		case t.credit == 0:
			changed := t.changed
			t.mu.Unlock()
			select {
			case <-changed:
			case <-t.writeDeadline.wait():
			}
			continue
		}
		k := min(len(p), t.credit, MaxTunnelChunk)
		t.credit -= k
		t.mu.Unlock()

		// The caller may reuse p once Write returns; the sender marshals the chunk later.
		msg := &datagatewayv1.ConnectResponse{Message: &datagatewayv1.ConnectResponse_TunnelData{
			TunnelData: &datagatewayv1.TunnelData{TunnelId: t.id, Data: bytes.Clone(p[:k])},
		}}
		select {
		case t.c.out <- msg:
			n += k
			p = p[k:]
		case <-t.ended:
			continue // the loop says why
		case <-t.writeDeadline.wait():
			t.mu.Lock()
			t.credit += k
			t.mu.Unlock()
			return n, os.ErrDeadlineExceeded
		}
	}
	return n, nil
}

// Close closes the tunnel: the agent closes its connection to the source once it has
// written what was sent before. Blocked Reads and Writes return net.ErrClosed.
func (t *tunnelConn) Close() error {
	t.mu.Lock()
	if t.closed {
		t.mu.Unlock()
		return nil
	}
	endedByAgent := t.err != nil
	t.closed = true
	t.recv, t.buffered = nil, 0
	if !endedByAgent {
		close(t.ended)
	}
	t.notifyLocked()
	t.mu.Unlock()
	if t.c.forgetTunnel(t) && !endedByAgent {
		t.c.closeTunnel(t.id, "")
	}
	return nil
}

// LocalAddr names the agent that carries the tunnel.
func (t *tunnelConn) LocalAddr() net.Addr {
	return tunnelAddr{network: "oriel-agent", addr: t.c.id.Agent}
}

// RemoteAddr is the source's host:port.
func (t *tunnelConn) RemoteAddr() net.Addr { return t.addr }

// SetDeadline sets both deadlines.
func (t *tunnelConn) SetDeadline(d time.Time) error {
	t.readDeadline.set(d)
	t.writeDeadline.set(d)
	return nil
}

// SetReadDeadline bounds Reads, as net.Conn says.
func (t *tunnelConn) SetReadDeadline(d time.Time) error {
	t.readDeadline.set(d)
	return nil
}

// SetWriteDeadline bounds Writes, as net.Conn says.
func (t *tunnelConn) SetWriteDeadline(d time.Time) error {
	t.writeDeadline.set(d)
	return nil
}

// deadline is a net.Conn deadline: a channel closed when it passes, which a new deadline
// replaces (the way net.Pipe does it).
type deadline struct {
	mu     *sync.Mutex
	timer  *time.Timer
	cancel chan struct{}
}

func newDeadline() deadline { return deadline{mu: &sync.Mutex{}, cancel: make(chan struct{})} }

// set moves the deadline to d; the zero time means none.
func (d *deadline) set(at time.Time) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.timer != nil && !d.timer.Stop() {
		<-d.cancel // the timer fired: wait for it to close cancel
	}
	d.timer = nil
	passed := isClosed(d.cancel)
	if at.IsZero() {
		if passed {
			d.cancel = make(chan struct{})
		}
		return
	}
	if wait := time.Until(at); wait > 0 {
		if passed {
			d.cancel = make(chan struct{})
		}
		cancel := d.cancel
		d.timer = time.AfterFunc(wait, func() { close(cancel) })
		return
	}
	if !passed {
		close(d.cancel)
	}
}

// wait returns a channel closed when the deadline passes.
func (d *deadline) wait() <-chan struct{} {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.cancel
}

func (d *deadline) passed() bool { return isClosed(d.wait()) }

func isClosed(ch <-chan struct{}) bool {
	select {
	case <-ch:
		return true
	default:
		return false
	}
}

// errTunnelAgentGone is the error of a tunnel whose agent's stream dropped.
func errTunnelAgentGone(id Identity, addr string) error {
	return apierr.New(codes.Unavailable, errorsv1.ErrorReason_ERROR_REASON_AGENT_UNAVAILABLE,
		fmt.Sprintf("agent %s disconnected; its tunnel to %s is closed; retry", id.Agent, addr),
		"pool", id.Pool, "agent", id.Agent)
}

// errTunnelFailed is the error of a tunnel the agent closed with an error.
func errTunnelFailed(id Identity, addr, why string) error {
	return apierr.New(codes.Unavailable, errorsv1.ErrorReason_ERROR_REASON_SOURCE_ERROR,
		fmt.Sprintf("agent %s closed its tunnel to %s: %s", id.Agent, addr, why),
		"agent", id.Agent)
}

// receiveTunnel handles a tunnel message from the agent, never blocking.
func (c *conn) receiveTunnel(m *datagatewayv1.ConnectRequest) {
	switch msg := m.GetMessage().(type) {
	case *datagatewayv1.ConnectRequest_TunnelOpened:
		if t := c.tunnel(msg.TunnelOpened.GetTunnelId()); t != nil {
			select {
			case t.opened <- msg.TunnelOpened.GetError():
			default: // answered twice: the first answer stands
			}
		}
	case *datagatewayv1.ConnectRequest_TunnelData:
		t := c.tunnel(msg.TunnelData.GetTunnelId())
		if t == nil {
			return // closed here: what was in flight is dropped
		}
		if !t.deliver(msg.TunnelData.GetData()) {
			c.hub.log.Error("agent broke the tunnel protocol", "agent", c.id.Agent, "tunnel", t.id, "problem", "sent more bytes than the window allowed")
			t.end(apierr.New(codes.Internal, errorsv1.ErrorReason_ERROR_REASON_INTERNAL,
				fmt.Sprintf("agent %s sent more bytes than the tunnel's window allowed; upgrade it", c.id.Agent), "agent", c.id.Agent))
			if c.forgetTunnel(t) {
				c.closeTunnel(t.id, "the datagateway received more bytes than the window allowed")
			}
		}
	case *datagatewayv1.ConnectRequest_TunnelAck:
		if t := c.tunnel(msg.TunnelAck.GetTunnelId()); t != nil {
			t.acked(int(msg.TunnelAck.GetBytes()))
		}
	case *datagatewayv1.ConnectRequest_CloseTunnel:
		t := c.tunnel(msg.CloseTunnel.GetTunnelId())
		if t == nil {
			return
		}
		if why := msg.CloseTunnel.GetError(); why != "" {
			t.end(errTunnelFailed(c.id, t.addr.addr, why))
		} else {
			t.end(io.EOF)
		}
		c.forgetTunnel(t)
	}
}
