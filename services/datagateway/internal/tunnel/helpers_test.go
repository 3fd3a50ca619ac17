package tunnel_test

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/keepalive"
	"google.golang.org/grpc/status"

	datagatewayv1 "github.com/oriel-dev/oriel/gen/pb/oriel/datagateway/v1"
	"github.com/oriel-dev/oriel/platform/apierr"
	"github.com/oriel-dev/oriel/platform/auth"
	"github.com/oriel-dev/oriel/platform/testkit"
	"github.com/oriel-dev/oriel/services/datagateway/internal/agent"
	"github.com/oriel-dev/oriel/services/datagateway/internal/source"
	"github.com/oriel-dev/oriel/services/datagateway/internal/tunnel"
)

// eventually is the generous bound within which asynchronous effects must show.
const eventually = 30 * time.Second

// waitFor polls cond until it holds, failing the test after eventually.
func waitFor(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(eventually)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", eventually, what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// memAgents is an in-memory tunnel.Agents: single-use enrollment tokens, revocable
// credentials, and the statuses the hub records.
type memAgents struct {
	mu       sync.Mutex
	tokens   map[string]tunnel.Identity // enrollment token → the agent it enrolls
	creds    map[string]tunnel.Identity // credential → whose
	statuses map[string]tunnel.Status
	history  map[string][]bool // Connected of every status recorded, per agent
	enrolls  int
	seq      int
}

func newMemAgents() *memAgents {
	return &memAgents{
		tokens:   map[string]tunnel.Identity{},
		creds:    map[string]tunnel.Identity{},
		statuses: map[string]tunnel.Status{},
		history:  map[string][]bool{},
	}
}

// token creates an enrollment token for a new agent of tenant's pool.
func (m *memAgents) token(tenant, pool, name string) (tok string, agentName string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.seq++
	agentName = fmt.Sprintf("tenants/%s/agents/%s", tenant, name)
	tok = fmt.Sprintf("oriel_ae_test%d%s", m.seq, testkit.UniqueID("t"))
	m.tokens[tok] = tunnel.Identity{Agent: agentName, Tenant: tenant, Pool: pool}
	return tok, agentName
}

// credential creates a credential directly, for tests that do not enroll.
func (m *memAgents) credential(tenant, pool, name string) (cred string, agentName string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.seq++
	agentName = fmt.Sprintf("tenants/%s/agents/%s", tenant, name)
	cred = fmt.Sprintf("oriel_ac_secret%d%s", m.seq, testkit.UniqueID("c"))
	m.creds[cred] = tunnel.Identity{Agent: agentName, Tenant: tenant, Pool: pool}
	return cred, agentName
}

func (m *memAgents) Enroll(_ context.Context, token string) (string, string, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	id, ok := m.tokens[token]
	if !ok {
		return "", "", auth.ErrInvalidCredential
	}
	delete(m.tokens, token) // one use
	m.enrolls++
	m.seq++
	cred := fmt.Sprintf("oriel_ac_enrolled%d%s", m.seq, testkit.UniqueID("e"))
	m.creds[cred] = id
	return id.Agent, cred, nil
}

func (m *memAgents) Authenticate(_ context.Context, credential string) (tunnel.Identity, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	id, ok := m.creds[credential]
	if !ok {
		return tunnel.Identity{}, auth.ErrInvalidCredential
	}
	return id, nil
}

func (m *memAgents) RecordStatus(_ context.Context, st tunnel.Status) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.statuses[st.Agent] = st
	m.history[st.Agent] = append(m.history[st.Agent], st.Connected)
	return nil
}

// revoke invalidates every credential of agentName.
func (m *memAgents) revoke(agentName string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	for c, id := range m.creds {
		if id.Agent == agentName {
			delete(m.creds, c)
		}
	}
}

func (m *memAgents) status(agentName string) tunnel.Status {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.statuses[agentName]
}

func (m *memAgents) connected(agentName string) bool { return m.status(agentName).Connected }

func (m *memAgents) enrollments() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.enrolls
}

// logSink collects log lines for a test: shown with t.Log, kept for assertions, and
// dropped once the test is over (goroutines may still log while they stop).
type logSink struct {
	mu   sync.Mutex
	t    testing.TB
	buf  bytes.Buffer
	done bool
}

func newLogSink(t testing.TB) *logSink {
	s := &logSink{t: t}
	t.Cleanup(func() { s.mu.Lock(); s.done = true; s.mu.Unlock() })
	return s
}

func (s *logSink) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.done {
		s.buf.Write(p)
		s.t.Log(strings.TrimRight(string(p), "\n"))
	}
	return len(p), nil
}

func (s *logSink) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.buf.String()
}

func (s *logSink) logger(component string) *slog.Logger {
	return slog.New(slog.NewJSONHandler(s, &slog.HandlerOptions{Level: slog.LevelDebug})).With("component", component)
}

// testHub is a hub served over real loopback gRPC, with the keepalive enforcement the
// services use.
type testHub struct {
	*tunnel.Hub
	addr   string
	grpc   *grpc.Server
	cancel context.CancelFunc
	done   chan struct{}
}

type hubOptions struct {
	interval, timeout time.Duration
	credit, batchRows int
	tunnelWindow      int
	addr              string // "" for a fresh port
	noRun             bool   // do not start Hub.Run (its re-checks)
	interceptor       grpc.StreamServerInterceptor
	creds             credentials.TransportCredentials // nil: plaintext
}

func startHub(t testing.TB, agents tunnel.Agents, logs *logSink, o hubOptions) *testHub {
	t.Helper()
	if o.interval == 0 {
		o.interval = 200 * time.Millisecond
	}
	if o.timeout == 0 {
		o.timeout = 10 * time.Second
	}
	if o.addr == "" {
		o.addr = "127.0.0.1:0"
	}
	hub := tunnel.NewHub(tunnel.Options{
		Agents:            agents,
		Log:               logs.logger("hub"),
		HeartbeatInterval: o.interval,
		HeartbeatTimeout:  o.timeout,
		InitialCredit:     o.credit,
		BatchRows:         o.batchRows,
		TunnelWindow:      o.tunnelWindow,
	})
	var lis net.Listener
	var err error
	// A restarted hub takes its predecessor's port, which the kernel may hold briefly.
	waitFor(t, "listening on "+o.addr, func() bool {
		lis, err = net.Listen("tcp", o.addr)
		return err == nil
	})
	opts := []grpc.ServerOption{
		grpc.KeepaliveEnforcementPolicy(keepalive.EnforcementPolicy{MinTime: 10 * time.Second, PermitWithoutStream: true}),
		grpc.KeepaliveParams(keepalive.ServerParameters{Time: 30 * time.Second, Timeout: 10 * time.Second}),
	}
	if o.interceptor != nil {
		opts = append(opts, grpc.StreamInterceptor(o.interceptor))
	}
	if o.creds != nil {
		opts = append(opts, grpc.Creds(o.creds))
	}
	gs := grpc.NewServer(opts...)
	datagatewayv1.RegisterAgentTunnelServiceServer(gs, hub.Server())
	go func() { _ = gs.Serve(lis) }()
	ctx, cancel := context.WithCancel(context.Background())
	h := &testHub{Hub: hub, addr: lis.Addr().String(), grpc: gs, cancel: cancel, done: make(chan struct{})}
	go func() {
		defer close(h.done)
		if !o.noRun {
			_ = hub.Run(ctx)
		}
	}()
	t.Cleanup(h.stop)
	return h
}

// stop stops the server at once, cutting every stream, as a crashed replica would.
func (h *testHub) stop() {
	h.grpc.Stop()
	h.cancel()
	<-h.done
}

// runningAgent is an oriel-agent running in this process.
type runningAgent struct {
	name   string
	cfg    agent.Config
	cancel context.CancelFunc
	done   chan struct{}
	err    error
}

type agentOptions struct {
	server     string
	token      string
	credFile   string
	credential string // written to a fresh credential file for name
	name       string
	configure  func(*agent.Config) // adjusts the config last (e.g. its TLS settings)
}

func startAgent(t testing.TB, logs *logSink, o agentOptions) *runningAgent {
	t.Helper()
	if o.credFile == "" {
		o.credFile = filepath.Join(t.TempDir(), "oriel-agent.credential")
	}
	if o.credential != "" {
		writeCredentialFile(t, o.credFile, o.name, o.credential)
	}
	cfg := agent.Config{
		Server:          o.server,
		CredentialFile:  o.credFile,
		EnrollmentToken: o.token,
		Insecure:        true,
		DevMode:         true,
		Version:         "test-1.2.3",
		Hostname:        "host-" + filepath.Base(o.name),
		Log:             logs.logger("agent " + o.name),
		BackoffMin:      20 * time.Millisecond,
		BackoffMax:      300 * time.Millisecond,
	}
	if o.configure != nil {
		o.configure(&cfg)
	}
	ctx, cancel := context.WithCancel(context.Background())
	a := &runningAgent{name: o.name, cfg: cfg, cancel: cancel, done: make(chan struct{})}
	go func() {
		defer close(a.done)
		a.err = agent.Run(ctx, cfg)
	}()
	t.Cleanup(a.stop)
	return a
}

// stop kills the agent (its stream is cut, nothing is said) and waits for Run to return.
func (a *runningAgent) stop() {
	a.cancel()
	<-a.done
}

// wait returns Run's error once it returns of itself, failing the test if it does not.
func (a *runningAgent) wait(t testing.TB) error {
	t.Helper()
	select {
	case <-a.done:
		return a.err
	case <-time.After(eventually):
		t.Fatalf("agent %s did not stop within %s", a.name, eventually)
		return nil
	}
}

func writeCredentialFile(t testing.TB, path, agentName, cred string) {
	t.Helper()
	body := fmt.Sprintf(`{"agent": %q, "credential": %q}`, agentName, cred)
	if err := writeFile0600(path, body); err != nil {
		t.Fatal(err)
	}
}

// pgSource creates a test database holding table t(id, name, amount) with rows rows and
// returns its Source. The password is a marker that must never show in a log (the test
// server trusts local connections, so it is never checked).
func pgSource(t testing.TB, rows int) *datagatewayv1.Source {
	t.Helper()
	src, _ := pgSourceURL(t, rows)
	return src
}

// pgSourceURL is pgSource that also returns the database's URL.
func pgSourceURL(t testing.TB, rows int) (*datagatewayv1.Source, string) {
	t.Helper()
	url := testkit.PostgresDatabase(t)
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, `CREATE TABLE t AS
		SELECT g::bigint AS id, 'row ' || g AS name, g * 0.5::float8 AS amount
		FROM generate_series(1, $1::int) g`, rows); err != nil {
		t.Fatal(err)
	}
	cfg, err := pgconn.ParseConfig(url)
	if err != nil {
		t.Fatal(err)
	}
	return &datagatewayv1.Source{
		Params: &datagatewayv1.Source_Postgres{Postgres: &datagatewayv1.PostgresParams{
			Host:     cfg.Host,
			Port:     int32(cfg.Port),
			Database: cfg.Database,
			User:     cfg.User,
			SslMode:  datagatewayv1.PostgresParams_SSL_MODE_DISABLE,
		}},
		Credentials: &datagatewayv1.Credentials{Password: passwordMarker},
	}, url
}

const passwordMarker = "pw-marker-never-logged"

// result collects what a query sent.
type result struct {
	mu      sync.Mutex
	header  *datagatewayv1.ResultHeader
	batches int
	rows    int64
	idSum   int64
	stats   *datagatewayv1.QueryStats
}

func (r *result) send(resp *datagatewayv1.QueryResponse) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	switch x := resp.GetResult().(type) {
	case *datagatewayv1.QueryResponse_Header:
		r.header = x.Header
	case *datagatewayv1.QueryResponse_Batch:
		r.batches++
		r.rows += int64(x.Batch.GetRowCount())
		if cols := x.Batch.GetColumns(); len(cols) > 0 {
			for _, v := range cols[0].GetInt64Values() {
				r.idSum += v
			}
		}
	case *datagatewayv1.QueryResponse_Stats:
		r.stats = x.Stats
	}
	return nil
}

func (r *result) batchCount() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.batches
}

// checkFull fails unless r is the whole of `SELECT * FROM t` over n rows.
func (r *result) checkFull(t testing.TB, n int64) {
	t.Helper()
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.header == nil || len(r.header.GetColumns()) != 3 {
		t.Fatalf("header = %v, want 3 columns", r.header)
	}
	if r.rows != n || r.idSum != n*(n+1)/2 {
		t.Fatalf("got %d rows with id sum %d, want %d rows with id sum %d", r.rows, r.idSum, n, n*(n+1)/2)
	}
	if r.stats.GetRows() != n {
		t.Fatalf("stats = %v, want %d rows", r.stats, n)
	}
}

func limits(batchRows int) source.Limits {
	return source.Limits{RowLimit: 10_000_000, Timeout: time.Minute, BatchRows: batchRows}
}

// wantAgentUnavailable fails unless err is UNAVAILABLE with reason AGENT_UNAVAILABLE and a
// message holding each of words.
func wantAgentUnavailable(t testing.TB, err error, words ...string) {
	t.Helper()
	if status.Code(err) != codes.Unavailable || apierr.Reason(err) != "AGENT_UNAVAILABLE" {
		t.Fatalf("err = %v (reason %q), want UNAVAILABLE AGENT_UNAVAILABLE", err, apierr.Reason(err))
	}
	for _, w := range words {
		if !strings.Contains(status.Convert(err).Message(), w) {
			t.Fatalf("message %q does not say %q", status.Convert(err).Message(), w)
		}
	}
}

// proxy is a TCP proxy that can silently stop forwarding: its sockets stay open and the
// bytes sent into them vanish, as through a broken middlebox.
type proxy struct {
	lis    net.Listener
	target string
	cut    atomic.Bool
	mu     sync.Mutex
	conns  []net.Conn
}

func startProxy(t testing.TB, target string) *proxy {
	t.Helper()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &proxy{lis: lis, target: target}
	go p.accept()
	t.Cleanup(p.close)
	return p
}

func (p *proxy) addr() string { return p.lis.Addr().String() }

func (p *proxy) accept() {
	for {
		in, err := p.lis.Accept()
		if err != nil {
			return
		}
		out, err := net.Dial("tcp", p.target)
		if err != nil {
			in.Close()
			continue
		}
		p.mu.Lock()
		p.conns = append(p.conns, in, out)
		p.mu.Unlock()
		go p.pipe(in, out)
		go p.pipe(out, in)
	}
}

// pipe copies src to dst until the proxy is cut, then reads and drops.
func (p *proxy) pipe(src, dst net.Conn) {
	buf := make([]byte, 32<<10)
	for {
		n, err := src.Read(buf)
		if n > 0 && !p.cut.Load() {
			if _, werr := dst.Write(buf[:n]); werr != nil {
				return
			}
		}
		if err != nil {
			if !p.cut.Load() {
				dst.Close()
			}
			return
		}
	}
}

func (p *proxy) close() {
	p.lis.Close()
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, c := range p.conns {
		c.Close()
	}
}

func writeFile0600(path, body string) error { return os.WriteFile(path, []byte(body), 0o600) }

// errorInfoMetadata returns the metadata of err's ErrorInfo.
func errorInfoMetadata(err error) map[string]string {
	for _, d := range status.Convert(err).Details() {
		if info, ok := d.(*errdetails.ErrorInfo); ok {
			return info.GetMetadata()
		}
	}
	return nil
}
