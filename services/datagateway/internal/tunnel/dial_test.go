package tunnel_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"errors"
	"io"
	"net"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"golang.org/x/net/nettest"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	datagatewayv1 "github.com/oriel-dev/oriel/gen/pb/oriel/datagateway/v1"
	"github.com/oriel-dev/oriel/platform/apierr"
	"github.com/oriel-dev/oriel/services/datagateway/internal/tunnel"
)

// listener is a TCP server standing in for a source, beside the agent: serve runs for
// each connection it accepts.
func listener(t testing.TB, serve func(net.Conn)) (host string, port int) {
	t.Helper()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	t.Cleanup(func() { lis.Close(); wg.Wait() })
	wg.Go(func() {
		for {
			c, err := lis.Accept()
			if err != nil {
				return
			}
			wg.Go(func() {
				defer c.Close()
				serve(c)
			})
		}
	})
	addr := lis.Addr().(*net.TCPAddr)
	return addr.IP.String(), addr.Port
}

// echo sends back what it reads until the peer closes.
func echo(c net.Conn) { _, _ = io.Copy(c, c) }

// hubWithAgent starts a hub and one agent of acme's default pool, connected.
func hubWithAgent(t testing.TB, o hubOptions) (*testHub, *runningAgent, *logSink, string) {
	t.Helper()
	logs := newLogSink(t)
	agents := newMemAgents()
	hub := startHub(t, agents, logs, o)
	cred, name := agents.credential("acme", "default", "a")
	a := startAgent(t, logs, agentOptions{server: hub.addr, credential: cred, name: name})
	waitFor(t, "the agent connected", func() bool { return agents.connected(name) })
	return hub, a, logs, name
}

// dial opens a tunnel from acme's default pool, failing the test on error.
func dial(t testing.TB, hub *testHub, host string, port int) net.Conn {
	t.Helper()
	c, err := hub.Dial(t.Context(), "acme", "default", host, port)
	if err != nil {
		t.Fatalf("dial %s:%d: %v", host, port, err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// TestATunnelBehavesAsANetConn runs x/net's net.Conn conformance suite (ordering,
// deadlines past, present and future, Close unblocking Read and Write, concurrent
// methods) on a tunnel through a real agent to a real TCP server.
func TestATunnelBehavesAsANetConn(t *testing.T) {
	t.Parallel()
	hub, _, _, _ := hubWithAgent(t, hubOptions{})
	accepted := make(chan net.Conn, 1)
	host, port := listener(t, func(c net.Conn) {
		accepted <- c
		<-t.Context().Done() // the pipe's stop closes it earlier
	})
	nettest.TestConn(t, func() (c1, c2 net.Conn, stop func(), err error) {
		c1, err = hub.Dial(t.Context(), "acme", "default", host, port)
		if err != nil {
			return nil, nil, nil, err
		}
		select {
		case c2 = <-accepted:
		case <-time.After(eventually):
			c1.Close()
			return nil, nil, nil, errors.New("the source accepted no connection")
		}
		return c1, c2, func() { c1.Close(); c2.Close() }, nil
	})
}

func TestATunnelCarriesBytesBothWaysAndNeverLogsThem(t *testing.T) {
	t.Parallel()
	hub, _, logs, name := hubWithAgent(t, hubOptions{})
	host, port := listener(t, echo)
	c := dial(t, hub, host, port)
	if c.RemoteAddr().Network() != "tcp" || c.RemoteAddr().String() != net.JoinHostPort(host, strconv.Itoa(port)) {
		t.Fatalf("remote address %s %s, want tcp %s:%d", c.RemoteAddr().Network(), c.RemoteAddr(), host, port)
	}
	if c.LocalAddr().String() != name {
		t.Fatalf("local address %s, want the agent %s", c.LocalAddr(), name)
	}

	// Several windows' worth, written and read at once, so both directions fill up.
	const marker = "tunnel-payload-marker-never-logged"
	want := make([]byte, 5<<20)
	_, _ = rand.Read(want)
	copy(want[1000:], marker)
	written := make(chan error, 1)
	go func() {
		_, err := c.Write(want)
		written <- err
	}()
	got := make([]byte, len(want))
	if _, err := io.ReadFull(c, got); err != nil {
		t.Fatalf("read back: %v", err)
	}
	if err := <-written; err != nil {
		t.Fatalf("write: %v", err)
	}
	if !bytes.Equal(got, want) {
		t.Fatal("the bytes read back differ from those written")
	}
	checkNoSecrets(t, logs, marker)
}

func TestClosingEitherEndClosesTheOther(t *testing.T) {
	t.Parallel()
	hub, _, _, _ := hubWithAgent(t, hubOptions{})

	t.Run("the datagateway closes: the source reads what was sent, then EOF", func(t *testing.T) {
		received := make(chan []byte, 1)
		host, port := listener(t, func(c net.Conn) {
			b, _ := io.ReadAll(c)
			received <- b
		})
		c := dial(t, hub, host, port)
		if _, err := c.Write([]byte("last words")); err != nil {
			t.Fatal(err)
		}
		if err := c.Close(); err != nil {
			t.Fatal(err)
		}
		select {
		case b := <-received:
			if string(b) != "last words" {
				t.Fatalf("the source read %q", b)
			}
		case <-time.After(eventually):
			t.Fatal("the source's connection was not closed")
		}
		if _, err := c.Read(make([]byte, 1)); !errors.Is(err, net.ErrClosed) {
			t.Fatalf("Read after Close = %v, want net.ErrClosed", err)
		}
	})

	t.Run("the source closes: the datagateway reads what it sent, then EOF", func(t *testing.T) {
		host, port := listener(t, func(c net.Conn) { _, _ = c.Write([]byte("goodbye")) })
		c := dial(t, hub, host, port)
		b, err := io.ReadAll(c)
		if err != nil || string(b) != "goodbye" {
			t.Fatalf("read %q, %v; want goodbye then EOF", b, err)
		}
		if _, err := c.Write([]byte("anyone?")); err == nil {
			t.Fatal("Write after the source closed succeeded")
		}
	})
}

// tunnelBytes counts the bytes of TunnelData the hub receives, and the largest chunk.
type tunnelBytes struct {
	grpc.ServerStream
	total, largest *atomic.Int64
}

func (s *tunnelBytes) RecvMsg(m any) error {
	err := s.ServerStream.RecvMsg(m)
	if req, ok := m.(*datagatewayv1.ConnectRequest); ok && err == nil && req.GetTunnelData() != nil {
		n := int64(len(req.GetTunnelData().GetData()))
		s.total.Add(n)
		for {
			l := s.largest.Load()
			if n <= l || s.largest.CompareAndSwap(l, n) {
				break
			}
		}
	}
	return err
}

func TestAReaderThatDoesNotReadHoldsTheAgentToTheWindow(t *testing.T) {
	t.Parallel()
	const window = 256 << 10
	var total, largest atomic.Int64
	hub, _, _, _ := hubWithAgent(t, hubOptions{tunnelWindow: window, interceptor: func(srv any, ss grpc.ServerStream, _ *grpc.StreamServerInfo, handler grpc.StreamHandler) error {
		return handler(srv, &tunnelBytes{ServerStream: ss, total: &total, largest: &largest})
	}})
	payload := make([]byte, 4<<20)
	_, _ = rand.Read(payload)
	host, port := listener(t, func(c net.Conn) { _, _ = c.Write(payload) })
	c := dial(t, hub, host, port)

	// Nobody reads: the agent sends its window and stops, the rest waits at the source.
	waitFor(t, "the window sent", func() bool { return total.Load() == window })
	time.Sleep(300 * time.Millisecond) // room to overrun, which must not happen
	if n := total.Load(); n != window {
		t.Fatalf("the agent sent %d bytes with nobody reading; want the window, %d", n, window)
	}
	// Reading a quarter of the window acknowledges it: exactly that much more comes.
	got := make([]byte, len(payload))
	if _, err := io.ReadFull(c, got[:window/4]); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "a quarter window more", func() bool { return total.Load() >= window+window/4 })
	time.Sleep(300 * time.Millisecond)
	if n := total.Load(); n != window+window/4 {
		t.Fatalf("the agent sent %d bytes after a quarter window was read; want %d", n, window+window/4)
	}

	if _, err := io.ReadFull(c, got[window/4:]); err != nil {
		t.Fatal(err)
	}
	if sha256.Sum256(got) != sha256.Sum256(payload) {
		t.Fatal("the bytes read differ from those the source sent")
	}
	if _, err := c.Read(make([]byte, 1)); !errors.Is(err, io.EOF) {
		t.Fatalf("after the whole payload: %v, want EOF", err)
	}
	if n := largest.Load(); n > tunnel.MaxTunnelChunk {
		t.Fatalf("a TunnelData carried %d bytes, above %d", n, tunnel.MaxTunnelChunk)
	}
}

// rawTunnelAgent is an agent stream the test drives by hand, to see exactly what the hub
// sends on a tunnel.
type rawTunnelAgent struct {
	st   grpc.BidiStreamingClient[datagatewayv1.ConnectRequest, datagatewayv1.ConnectResponse]
	msgs chan *datagatewayv1.ConnectResponse // what the hub sent, heartbeats left out
}

func startRawAgent(t testing.TB, addr, cred string) *rawTunnelAgent {
	t.Helper()
	st, err := agentStream(t, addr, cred)
	if err != nil {
		t.Fatal(err)
	}
	r := &rawTunnelAgent{st: st, msgs: make(chan *datagatewayv1.ConnectResponse, 1024)}
	go func() {
		defer close(r.msgs)
		for {
			m, err := st.Recv()
			if err != nil {
				return
			}
			if m.GetHeartbeat() == nil {
				r.msgs <- m
			}
		}
	}()
	return r
}

func (r *rawTunnelAgent) next(t testing.TB) *datagatewayv1.ConnectResponse {
	t.Helper()
	select {
	case m, ok := <-r.msgs:
		if !ok {
			t.Fatal("the stream ended")
		}
		return m
	case <-time.After(eventually):
		t.Fatal("the hub sent nothing")
		return nil
	}
}

func (r *rawTunnelAgent) send(t testing.TB, m *datagatewayv1.ConnectRequest) {
	t.Helper()
	if err := r.st.Send(m); err != nil {
		t.Fatal(err)
	}
}

func TestAnAgentThatDoesNotAcknowledgeHoldsTheWriterToTheWindow(t *testing.T) {
	t.Parallel()
	const window = 256 << 10
	logs := newLogSink(t)
	agents := newMemAgents()
	hub := startHub(t, agents, logs, hubOptions{tunnelWindow: window})
	cred, name := agents.credential("acme", "default", "raw")
	raw := startRawAgent(t, hub.addr, cred)
	waitFor(t, "the agent connected", func() bool { return agents.connected(name) })

	dialed := make(chan net.Conn, 1)
	go func() {
		c, err := hub.Dial(t.Context(), "acme", "default", "db.internal", 5432)
		if err != nil {
			t.Error(err)
		}
		dialed <- c
	}()
	open := raw.next(t).GetOpenTunnel()
	if open.GetHost() != "db.internal" || open.GetPort() != 5432 || open.GetWindowBytes() != window {
		t.Fatalf("OpenTunnel %v, want db.internal:5432 with a window of %d", open, window)
	}
	id := open.GetTunnelId()
	raw.send(t, &datagatewayv1.ConnectRequest{Message: &datagatewayv1.ConnectRequest_TunnelOpened{
		TunnelOpened: &datagatewayv1.TunnelOpened{TunnelId: id},
	}})
	c := <-dialed
	if c == nil {
		t.FailNow()
	}
	defer c.Close()

	type result struct {
		n   int
		err error
	}
	wrote := make(chan result, 1)
	go func() {
		n, err := c.Write(make([]byte, 4*window))
		wrote <- result{n, err}
	}()
	// received takes TunnelData until n bytes came, checking each chunk.
	received := func(n int) {
		t.Helper()
		for got := 0; got < n; {
			m := raw.next(t)
			d := m.GetTunnelData()
			if d == nil || d.GetTunnelId() != id || len(d.GetData()) > tunnel.MaxTunnelChunk {
				t.Fatalf("got %v, want TunnelData of tunnel %s of at most %d bytes", m.GetMessage(), id, tunnel.MaxTunnelChunk)
			}
			got += len(d.GetData())
			if got > n {
				t.Fatalf("the hub sent %d bytes, want %d", got, n)
			}
		}
	}
	received(window)
	select {
	case m := <-raw.msgs:
		t.Fatalf("the hub sent %v beyond the window", m.GetMessage())
	case r := <-wrote:
		t.Fatalf("Write returned %d, %v with the window spent", r.n, r.err)
	case <-time.After(300 * time.Millisecond): // room to overrun, which must not happen
	}
	raw.send(t, &datagatewayv1.ConnectRequest{Message: &datagatewayv1.ConnectRequest_TunnelAck{
		TunnelAck: &datagatewayv1.TunnelAck{TunnelId: id, Bytes: window / 2},
	}})
	received(window / 2)
	select {
	case m := <-raw.msgs:
		t.Fatalf("the hub sent %v beyond the acknowledged bytes", m.GetMessage())
	case <-time.After(300 * time.Millisecond):
	}

	// A deadline ends the blocked Write with a timeout, saying what went.
	if err := c.SetWriteDeadline(time.Now()); err != nil {
		t.Fatal(err)
	}
	r := <-wrote
	var ne net.Error
	if r.n != window+window/2 || !errors.As(r.err, &ne) || !ne.Timeout() {
		t.Fatalf("Write = %d, %v; want %d and a timeout", r.n, r.err, window+window/2)
	}

	// The other way: what the agent sends is read, and the agent's close is EOF.
	raw.send(t, &datagatewayv1.ConnectRequest{Message: &datagatewayv1.ConnectRequest_TunnelData{
		TunnelData: &datagatewayv1.TunnelData{TunnelId: id, Data: []byte("from the source")},
	}})
	raw.send(t, &datagatewayv1.ConnectRequest{Message: &datagatewayv1.ConnectRequest_CloseTunnel{
		CloseTunnel: &datagatewayv1.CloseTunnel{TunnelId: id},
	}})
	b, err := io.ReadAll(c)
	if err != nil || string(b) != "from the source" {
		t.Fatalf("read %q, %v; want the agent's bytes, then EOF", b, err)
	}
}

func TestAnAgentThatSendsBeyondTheWindowFailsTheTunnel(t *testing.T) {
	t.Parallel()
	const window = 64 << 10
	logs := newLogSink(t)
	agents := newMemAgents()
	hub := startHub(t, agents, logs, hubOptions{tunnelWindow: window})
	cred, name := agents.credential("acme", "default", "raw")
	raw := startRawAgent(t, hub.addr, cred)
	waitFor(t, "the agent connected", func() bool { return agents.connected(name) })

	dialed := make(chan net.Conn, 1)
	go func() {
		c, _ := hub.Dial(t.Context(), "acme", "default", "db.internal", 5432)
		dialed <- c
	}()
	id := raw.next(t).GetOpenTunnel().GetTunnelId()
	raw.send(t, &datagatewayv1.ConnectRequest{Message: &datagatewayv1.ConnectRequest_TunnelOpened{
		TunnelOpened: &datagatewayv1.TunnelOpened{TunnelId: id},
	}})
	c := <-dialed
	if c == nil {
		t.Fatal("Dial failed")
	}
	defer c.Close()
	for range 2 {
		raw.send(t, &datagatewayv1.ConnectRequest{Message: &datagatewayv1.ConnectRequest_TunnelData{
			TunnelData: &datagatewayv1.TunnelData{TunnelId: id, Data: make([]byte, window*3/4)},
		}})
	}
	ct := raw.next(t).GetCloseTunnel()
	if ct.GetTunnelId() != id || ct.GetError() == "" {
		t.Fatalf("CloseTunnel %v, want tunnel %s closed with an error", ct, id)
	}
	// What arrived within the window is still read; then the protocol error.
	b, err := io.ReadAll(c)
	if len(b) != window*3/4 || status.Code(err) != codes.Internal {
		t.Fatalf("read %d bytes, then %v; want %d, then INTERNAL", len(b), err, window*3/4)
	}
	// The stream itself stays.
	if !agents.connected(name) {
		t.Fatal("the overrun cut the agent's stream")
	}
}

func TestAnAgentDyingClosesItsTunnelsWithAnError(t *testing.T) {
	t.Parallel()
	hub, a, _, name := hubWithAgent(t, hubOptions{})
	host, port := listener(t, echo)
	c := dial(t, hub, host, port)
	if _, err := c.Write([]byte("ping")); err != nil {
		t.Fatal(err)
	}
	if _, err := io.ReadFull(c, make([]byte, 4)); err != nil {
		t.Fatal(err)
	}

	a.stop()
	_, err := c.Read(make([]byte, 1))
	wantAgentUnavailable(t, err, name, "disconnected", "retry")
	_, err = c.Write([]byte("ping"))
	wantAgentUnavailable(t, err, name)
	// With no other agent in the pool, a new dial says so.
	_, err = hub.Dial(t.Context(), "acme", "default", host, port)
	wantAgentUnavailable(t, err, `"default"`)
}

func TestDialServesOnlyTheAgentsTenantAndPool(t *testing.T) {
	t.Parallel()
	hub, _, _, _ := hubWithAgent(t, hubOptions{})
	host, port := listener(t, echo)
	for _, tc := range []struct{ name, tenant, pool string }{
		{"another tenant, same pool name", "globex", "default"},
		{"the same tenant, another pool", "acme", "eu"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := hub.Dial(t.Context(), tc.tenant, tc.pool, host, port)
			wantAgentUnavailable(t, err, `"`+tc.pool+`"`)
		})
	}
	dial(t, hub, host, port).Close()
}

func TestASourceTheAgentCannotReachFailsTheDial(t *testing.T) {
	t.Parallel()
	hub, _, _, name := hubWithAgent(t, hubOptions{})
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := lis.Addr().(*net.TCPAddr).Port
	lis.Close() // nothing listens there now

	_, err = hub.Dial(t.Context(), "acme", "default", "127.0.0.1", port)
	if status.Code(err) != codes.Unavailable || apierr.Reason(err) != "SOURCE_ERROR" {
		t.Fatalf("Dial = %v (reason %q), want UNAVAILABLE SOURCE_ERROR", err, apierr.Reason(err))
	}
	for _, w := range []string{name, "127.0.0.1:" + strconv.Itoa(port)} {
		if !bytes.Contains([]byte(status.Convert(err).Message()), []byte(w)) {
			t.Fatalf("message %q does not say %q", status.Convert(err).Message(), w)
		}
	}
	_, err = hub.Dial(t.Context(), "acme", "default", "", port)
	if status.Code(err) != codes.InvalidArgument {
		t.Fatalf("Dial without a host = %v, want INVALID_ARGUMENT", err)
	}
}

func TestACancelledDialGivesUp(t *testing.T) {
	t.Parallel()
	logs := newLogSink(t)
	agents := newMemAgents()
	hub := startHub(t, agents, logs, hubOptions{})
	cred, name := agents.credential("acme", "default", "raw")
	raw := startRawAgent(t, hub.addr, cred)
	waitFor(t, "the agent connected", func() bool { return agents.connected(name) })

	ctx, cancel := context.WithCancel(t.Context())
	errc := make(chan error, 1)
	go func() {
		_, err := hub.Dial(ctx, "acme", "default", "db.internal", 5432)
		errc <- err
	}()
	id := raw.next(t).GetOpenTunnel().GetTunnelId()
	cancel() // the agent has not answered
	if err := <-errc; !errors.Is(err, context.Canceled) {
		t.Fatalf("Dial = %v, want context.Canceled", err)
	}
	if m := raw.next(t).GetCloseTunnel(); m.GetTunnelId() != id {
		t.Fatalf("after the cancel the hub sent %v, want CloseTunnel of %s", m, id)
	}
}

func TestDrainRefusesNewTunnelsAndEndsOpenOnesWithTheStream(t *testing.T) {
	t.Parallel()
	hub, _, _, name := hubWithAgent(t, hubOptions{})
	host, port := listener(t, echo)
	c := dial(t, hub, host, port)

	hub.Drain()
	_, err := hub.Dial(t.Context(), "acme", "default", host, port)
	wantAgentUnavailable(t, err)
	// No query holds the stream, so it ends at once, and the tunnel with it.
	_, err = c.Read(make([]byte, 1))
	wantAgentUnavailable(t, err, name)
}

func TestPostgreSQLRunsThroughATunnel(t *testing.T) {
	t.Parallel()
	hub, _, _, _ := hubWithAgent(t, hubOptions{})
	_, url := pgSourceURL(t, 200_000)
	cfg, err := pgx.ParseConfig(url)
	if err != nil {
		t.Fatal(err)
	}
	var tunnels atomic.Int32
	cfg.DialFunc = func(ctx context.Context, _, addr string) (net.Conn, error) {
		host, portText, err := net.SplitHostPort(addr)
		if err != nil {
			return nil, err
		}
		port, _ := strconv.Atoi(portText)
		tunnels.Add(1)
		return hub.Dial(ctx, "acme", "default", host, port)
	}
	cfg.LookupFunc = func(_ context.Context, host string) ([]string, error) { return []string{host}, nil }
	ctx := t.Context()
	conn, err := pgx.ConnectConfig(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	if tunnels.Load() != 1 {
		t.Fatalf("%d tunnels dialed, want 1", tunnels.Load())
	}

	// A result of several windows.
	var rows, sum int64
	r, err := conn.Query(ctx, "SELECT id, name FROM t ORDER BY id")
	if err != nil {
		t.Fatal(err)
	}
	for r.Next() {
		var id int64
		var name string
		if err := r.Scan(&id, &name); err != nil {
			t.Fatal(err)
		}
		rows++
		sum += id
	}
	if r.Err() != nil || rows != 200_000 || sum != 200_000*200_001/2 {
		t.Fatalf("%d rows summing to %d (%v); want 200000 rows summing to %d", rows, sum, r.Err(), int64(200_000)*200_001/2)
	}

	// A cancelled statement ends through the tunnel's deadlines, as pgconn cancels.
	qctx, cancel := context.WithTimeout(ctx, 200*time.Millisecond)
	defer cancel()
	if _, err := conn.Exec(qctx, "SELECT pg_sleep(60)"); !errors.Is(err, context.DeadlineExceeded) && !pgconnTimeout(err) {
		t.Fatalf("a cancelled pg_sleep ended with %v, want the deadline", err)
	}
}

// pgconnTimeout reports whether err is pgconn's wrapping of a context deadline.
func pgconnTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}
