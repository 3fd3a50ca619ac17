package tunnel_test

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	datagatewayv1 "github.com/oriel-dev/oriel/gen/pb/oriel/datagateway/v1"
	"github.com/oriel-dev/oriel/platform/apierr"
	"github.com/oriel-dev/oriel/services/datagateway/internal/agent"
	"github.com/oriel-dev/oriel/services/datagateway/internal/tunnel"
)

// gated is a consumer that takes each batch only when allowed: send a token on allow for
// one batch, close allow for all.
type gated struct {
	result
	ctx       context.Context
	allow     chan struct{}
	first     chan struct{} // closed when the first batch reaches the consumer
	firstOnce sync.Once
}

func newGated(ctx context.Context) *gated {
	return &gated{ctx: ctx, allow: make(chan struct{}), first: make(chan struct{})}
}

func (g *gated) send(resp *datagatewayv1.QueryResponse) error {
	if resp.GetBatch() != nil {
		g.firstOnce.Do(func() { close(g.first) })
		select {
		case <-g.allow:
		case <-g.ctx.Done():
			return g.ctx.Err()
		}
	}
	return g.result.send(resp)
}

func (g *gated) waitFirst(t testing.TB) {
	t.Helper()
	select {
	case <-g.first:
	case <-time.After(eventually):
		t.Fatal("no batch reached the consumer")
	}
}

// queryAsync runs hub.Query in a goroutine.
func queryAsync(ctx context.Context, hub *tunnel.Hub, tenant, pool string, src *datagatewayv1.Source, statement string, batchRows int, send func(*datagatewayv1.QueryResponse) error) <-chan error {
	errc := make(chan error, 1)
	go func() {
		_, err := hub.Query(ctx, tenant, pool, src, statement, nil, limits(batchRows), send)
		errc <- err
	}()
	return errc
}

func receive(t testing.TB, errc <-chan error) error {
	t.Helper()
	select {
	case err := <-errc:
		return err
	case <-time.After(eventually):
		t.Fatal("the query did not end")
		return nil
	}
}

// checkNoSecrets fails if a log line holds any of secrets.
func checkNoSecrets(t testing.TB, logs *logSink, secrets ...string) {
	t.Helper()
	out := logs.String()
	if out == "" {
		t.Fatal("nothing was logged; the check would prove nothing")
	}
	for _, s := range secrets {
		if s != "" && strings.Contains(out, s) {
			t.Fatalf("a log line holds a secret (%.12s…)", s)
		}
	}
}

func TestQueryStreamsTheWholeResultThroughAnAgent(t *testing.T) {
	t.Parallel()
	logs := newLogSink(t)
	agents := newMemAgents()
	hub := startHub(t, agents, logs, hubOptions{})
	src := pgSource(t, 20_000)
	cred, name := agents.credential("acme", "default", "a")
	startAgent(t, logs, agentOptions{server: hub.addr, credential: cred, name: name})
	waitFor(t, "the agent connected", func() bool { return agents.connected(name) })

	var r result
	served, err := hub.Query(context.Background(), "acme", "default", src, "SELECT id, name, amount FROM t ORDER BY id", nil, limits(1000), r.send)
	if err != nil {
		t.Fatal(err)
	}
	if served != name || r.stats.GetAgent() != name {
		t.Fatalf("served by %q, stats say %q; want %q", served, r.stats.GetAgent(), name)
	}
	r.checkFull(t, 20_000)
	if r.batches != 20 {
		t.Fatalf("%d batches, want 20 of 1000 rows", r.batches)
	}

	st := agents.status(name)
	if st.Version != "test-1.2.3" || st.Hostname != "host-a" || st.ConnectTime.IsZero() || st.LastHeartbeat.IsZero() {
		t.Fatalf("recorded status %+v lacks the agent's hello or heartbeat", st)
	}
	checkNoSecrets(t, logs, cred, passwordMarker)
}

func TestQueriesShareOneStream(t *testing.T) {
	t.Parallel()
	logs := newLogSink(t)
	agents := newMemAgents()
	hub := startHub(t, agents, logs, hubOptions{credit: 2})
	src := pgSource(t, 10_000)
	cred, name := agents.credential("acme", "default", "a")
	startAgent(t, logs, agentOptions{server: hub.addr, credential: cred, name: name})
	waitFor(t, "the agent connected", func() bool { return agents.connected(name) })

	var wg sync.WaitGroup
	results := make([]result, 6)
	errs := make([]error, len(results))
	for i := range results {
		wg.Go(func() {
			_, errs[i] = hub.Query(context.Background(), "acme", "default", src, "SELECT * FROM t ORDER BY id", nil, limits(300), results[i].send)
		})
	}
	wg.Wait()
	for i := range results {
		if errs[i] != nil {
			t.Fatalf("query %d: %v", i, errs[i])
		}
		results[i].checkFull(t, 10_000)
	}
}

func TestTestConnectionRunsOnAnAgent(t *testing.T) {
	t.Parallel()
	logs := newLogSink(t)
	agents := newMemAgents()
	hub := startHub(t, agents, logs, hubOptions{})
	src := pgSource(t, 1)
	cred, name := agents.credential("acme", "default", "a")
	startAgent(t, logs, agentOptions{server: hub.addr, credential: cred, name: name})
	waitFor(t, "the agent connected", func() bool { return agents.connected(name) })

	resp, err := hub.Test(context.Background(), "acme", "default", src)
	if err != nil {
		t.Fatal(err)
	}
	if !resp.GetOk() || resp.GetAgent() != name || !strings.Contains(resp.GetServerVersion(), "PostgreSQL") {
		t.Fatalf("Test = %v, want ok from %s with the server version", resp, name)
	}

	broken := &datagatewayv1.Source{
		Params: &datagatewayv1.Source_Postgres{Postgres: &datagatewayv1.PostgresParams{
			Host: "127.0.0.1", Port: src.GetPostgres().GetPort(), Database: "no_such_database_here",
			User: "postgres", SslMode: datagatewayv1.PostgresParams_SSL_MODE_DISABLE,
		}},
		Credentials: &datagatewayv1.Credentials{Password: passwordMarker},
	}
	resp, err = hub.Test(context.Background(), "acme", "default", broken)
	if err != nil {
		t.Fatal(err)
	}
	if resp.GetOk() || resp.GetError() == "" || resp.GetAgent() != name {
		t.Fatalf("Test of a missing database = %v, want a failure saying why", resp)
	}
	checkNoSecrets(t, logs, cred, passwordMarker)
}

func TestAnAgentKilledMidQueryFailsTheQueryAndTheRetrySucceedsOnAnother(t *testing.T) {
	t.Parallel()
	logs := newLogSink(t)
	agents := newMemAgents()
	hub := startHub(t, agents, logs, hubOptions{})
	src := pgSource(t, 50_000)
	credA, nameA := agents.credential("acme", "default", "a")
	a := startAgent(t, logs, agentOptions{server: hub.addr, credential: credA, name: nameA})
	waitFor(t, "agent a connected", func() bool { return agents.connected(nameA) })

	ctx := t.Context()
	g := newGated(ctx)
	errc := queryAsync(ctx, hub.Hub, "acme", "default", src, "SELECT * FROM t ORDER BY id", 500, g.send)
	g.waitFirst(t)

	credB, nameB := agents.credential("acme", "default", "b")
	startAgent(t, logs, agentOptions{server: hub.addr, credential: credB, name: nameB})
	waitFor(t, "agent b connected", func() bool { return agents.connected(nameB) })

	a.stop() // rows are streaming: 1 of 100 batches is with the consumer
	close(g.allow)
	err := receive(t, errc)
	wantAgentUnavailable(t, err, nameA, "disconnected during the query", "retry")
	if errors.Is(err, tunnel.ErrNoAgent) {
		t.Fatal("an agent that died mid-query is ErrNoAgent: its call could be forwarded after rows were sent")
	}
	if g.result.rows >= 50_000 {
		t.Fatalf("the whole result arrived (%d rows); the agent was not killed mid-query", g.result.rows)
	}
	waitFor(t, "agent a recorded disconnected", func() bool { return !agents.connected(nameA) })

	var r result
	served, err := hub.Query(ctx, "acme", "default", src, "SELECT * FROM t ORDER BY id", nil, limits(500), r.send)
	if err != nil {
		t.Fatalf("retry: %v", err)
	}
	if served != nameB {
		t.Fatalf("the retry was served by %s, want %s", served, nameB)
	}
	r.checkFull(t, 50_000)
}

func TestANetworkCutIsDetectedWithinTheHeartbeatTimeout(t *testing.T) {
	t.Parallel()
	logs := newLogSink(t)
	agents := newMemAgents()
	const timeout = time.Second
	hub := startHub(t, agents, logs, hubOptions{interval: 200 * time.Millisecond, timeout: timeout})
	src := pgSource(t, 50_000)
	px := startProxy(t, hub.addr)
	credA, nameA := agents.credential("acme", "default", "a")
	startAgent(t, logs, agentOptions{server: px.addr(), credential: credA, name: nameA})
	waitFor(t, "agent a connected", func() bool { return agents.connected(nameA) })

	ctx := t.Context()
	g := newGated(ctx)
	errc := queryAsync(ctx, hub.Hub, "acme", "default", src, "SELECT * FROM t ORDER BY id", 500, g.send)
	g.waitFirst(t)

	// Sockets stay open, bytes vanish: neither end gets an error from its connection.
	px.cut.Store(true)
	cut := time.Now()
	close(g.allow)
	err := receive(t, errc)
	wantAgentUnavailable(t, err, nameA, "disconnected during the query")
	waitFor(t, "agent a recorded disconnected", func() bool { return !agents.connected(nameA) })
	t.Logf("the cut was detected after %s (heartbeat timeout %s)", time.Since(cut).Round(time.Millisecond), timeout)

	// With no agent left, a query fails at once instead of waiting for the dead one.
	_, err = hub.Query(ctx, "acme", "default", src, "SELECT * FROM t", nil, limits(500), (&result{}).send)
	wantAgentUnavailable(t, err, `"default"`)

	credB, nameB := agents.credential("acme", "default", "b")
	startAgent(t, logs, agentOptions{server: hub.addr, credential: credB, name: nameB})
	waitFor(t, "agent b connected", func() bool { return agents.connected(nameB) })
	var r result
	served, err := hub.Query(ctx, "acme", "default", src, "SELECT * FROM t ORDER BY id", nil, limits(5000), r.send)
	if err != nil || served != nameB {
		t.Fatalf("after the cut: served by %q, err %v; want %s", served, err, nameB)
	}
	r.checkFull(t, 50_000)
}

// countingStream counts the batches an agent sends, as the hub receives them.
type countingStream struct {
	grpc.ServerStream
	batches *atomic.Int64
}

func (s *countingStream) RecvMsg(m any) error {
	err := s.ServerStream.RecvMsg(m)
	if req, ok := m.(*datagatewayv1.ConnectRequest); ok && err == nil && req.GetQueryEvent().GetResponse().GetBatch() != nil {
		s.batches.Add(1)
	}
	return err
}

func TestASlowConsumerHoldsTheAgentToItsCredit(t *testing.T) {
	t.Parallel()
	logs := newLogSink(t)
	agents := newMemAgents()
	const credit = 4
	var sent atomic.Int64
	hub := startHub(t, agents, logs, hubOptions{credit: credit, interceptor: func(srv any, ss grpc.ServerStream, _ *grpc.StreamServerInfo, handler grpc.StreamHandler) error {
		return handler(srv, &countingStream{ServerStream: ss, batches: &sent})
	}})
	src := pgSource(t, 5_000)
	cred, name := agents.credential("acme", "default", "a")
	startAgent(t, logs, agentOptions{server: hub.addr, credential: cred, name: name})
	waitFor(t, "the agent connected", func() bool { return agents.connected(name) })

	ctx := t.Context()
	g := newGated(ctx)
	errc := queryAsync(ctx, hub.Hub, "acme", "default", src, "SELECT * FROM t ORDER BY id", 100, g.send)
	g.waitFirst(t)

	// The consumer holds the first batch: the agent sends its initial credit and stops.
	waitFor(t, "the initial credit used", func() bool { return sent.Load() == credit })
	time.Sleep(300 * time.Millisecond) // room to overrun, which must not happen
	if n := sent.Load(); n != credit {
		t.Fatalf("the agent sent %d batches with the consumer holding the first; want its credit, %d", n, credit)
	}
	// Every batch the consumer takes lets exactly one more through.
	for taken := int64(1); taken <= 3; taken++ {
		g.allow <- struct{}{}
		waitFor(t, "one more batch", func() bool { return sent.Load() >= credit+taken })
	}
	time.Sleep(300 * time.Millisecond)
	if n := sent.Load(); n != credit+3 {
		t.Fatalf("the agent sent %d batches after the consumer took 3; want %d", n, credit+3)
	}

	close(g.allow)
	if err := receive(t, errc); err != nil {
		t.Fatal(err)
	}
	g.result.checkFull(t, 5_000)
	if n := sent.Load(); n != 50 {
		t.Fatalf("%d batches sent, want 50", n)
	}
}

func TestCancellingTheCallCancelsTheQueryAtTheSource(t *testing.T) {
	t.Parallel()
	logs := newLogSink(t)
	agents := newMemAgents()
	hub := startHub(t, agents, logs, hubOptions{})
	src, url := pgSourceURL(t, 1)
	cred, name := agents.credential("acme", "default", "a")
	startAgent(t, logs, agentOptions{server: hub.addr, credential: cred, name: name})
	waitFor(t, "the agent connected", func() bool { return agents.connected(name) })

	probe, err := pgx.Connect(t.Context(), url)
	if err != nil {
		t.Fatal(err)
	}
	defer probe.Close(context.Background())
	running := func() bool {
		var n int
		if err := probe.QueryRow(t.Context(), `SELECT count(*) FROM pg_stat_activity
			WHERE state = 'active' AND query LIKE '%cancel-me%' AND pid <> pg_backend_pid()`).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n > 0
	}

	ctx, cancel := context.WithCancel(t.Context())
	errc := queryAsync(ctx, hub.Hub, "acme", "default", src, "SELECT pg_sleep(120), 'cancel-me'", 100, (&result{}).send)
	waitFor(t, "the statement running at the source", running)
	cancel()
	if err := receive(t, errc); !errors.Is(err, context.Canceled) {
		t.Fatalf("err = %v, want context.Canceled", err)
	}
	waitFor(t, "the statement cancelled at the source", func() bool { return !running() })

	// The stream is still good.
	var r result
	if _, err := hub.Query(t.Context(), "acme", "default", src, "SELECT * FROM t", nil, limits(100), r.send); err != nil {
		t.Fatal(err)
	}
	r.checkFull(t, 1)
}

func TestAnAgentsErrorReachesTheCaller(t *testing.T) {
	t.Parallel()
	logs := newLogSink(t)
	agents := newMemAgents()
	hub := startHub(t, agents, logs, hubOptions{})
	src := pgSource(t, 5_000)
	cred, name := agents.credential("acme", "default", "a")
	startAgent(t, logs, agentOptions{server: hub.addr, credential: cred, name: name})
	waitFor(t, "the agent connected", func() bool { return agents.connected(name) })

	for _, tc := range []struct {
		name        string
		statement   string
		timeout     time.Duration
		code        codes.Code
		reason      string
		rowsFirst   bool // whether rows stream before the error
		messageHint string
	}{
		{name: "a statement the source refuses", statement: "SELECT * FROM no_such_table",
			code: codes.FailedPrecondition, reason: "SOURCE_ERROR", messageHint: "no_such_table"},
		{name: "a failure after rows have streamed", statement: "SELECT g, 1 / (2500 - g) FROM generate_series(1, 5000) g",
			code: codes.FailedPrecondition, reason: "SOURCE_ERROR", rowsFirst: true},
		{name: "a write", statement: "CREATE TABLE nope (x int)",
			code: codes.FailedPrecondition, reason: "READ_ONLY"},
		{name: "the query's time limit", statement: "SELECT pg_sleep(60)", timeout: 300 * time.Millisecond,
			code: codes.DeadlineExceeded, reason: "DEADLINE_EXCEEDED"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			lim := limits(100)
			if tc.timeout > 0 {
				lim.Timeout = tc.timeout
			}
			var r result
			_, err := hub.Query(t.Context(), "acme", "default", src, tc.statement, nil, lim, r.send)
			if status.Code(err) != tc.code || apierr.Reason(err) != tc.reason {
				t.Fatalf("err = %v (reason %q), want %s %s", err, apierr.Reason(err), tc.code, tc.reason)
			}
			if !strings.Contains(status.Convert(err).Message(), tc.messageHint) {
				t.Fatalf("message %q does not name %q", status.Convert(err).Message(), tc.messageHint)
			}
			if tc.rowsFirst && r.batches == 0 {
				t.Fatal("no rows arrived before the error")
			}
		})
	}
	// Failures end their query, not the stream.
	var r result
	if _, err := hub.Query(t.Context(), "acme", "default", src, "SELECT * FROM t ORDER BY id", nil, limits(1000), r.send); err != nil {
		t.Fatal(err)
	}
	r.checkFull(t, 5_000)
	checkNoSecrets(t, logs, cred, passwordMarker)
}

func TestAnAgentServesOnlyItsOwnTenantAndPool(t *testing.T) {
	t.Parallel()
	logs := newLogSink(t)
	agents := newMemAgents()
	hub := startHub(t, agents, logs, hubOptions{})
	src := pgSource(t, 10)
	cred, name := agents.credential("acme", "default", "a")
	startAgent(t, logs, agentOptions{server: hub.addr, credential: cred, name: name})
	waitFor(t, "the agent connected", func() bool { return agents.connected(name) })

	for _, tc := range []struct{ name, tenant, pool string }{
		{"another tenant, same pool name", "globex", "default"},
		{"the same tenant, another pool", "acme", "eu"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := hub.Query(t.Context(), tc.tenant, tc.pool, src, "SELECT * FROM t", nil, limits(100), (&result{}).send)
			wantAgentUnavailable(t, err, `"`+tc.pool+`"`)
			_, err = hub.Test(t.Context(), tc.tenant, tc.pool, src)
			wantAgentUnavailable(t, err)
		})
	}
	var r result
	if _, err := hub.Query(t.Context(), "acme", "default", src, "SELECT * FROM t", nil, limits(100), r.send); err != nil {
		t.Fatal(err)
	}
	r.checkFull(t, 10)
}

func TestNoConnectedAgentIsUnavailableNamingThePool(t *testing.T) {
	t.Parallel()
	logs := newLogSink(t)
	hub := startHub(t, newMemAgents(), logs, hubOptions{})
	_, err := hub.Query(t.Context(), "acme", "reporting", &datagatewayv1.Source{}, "SELECT 1", nil, limits(100), (&result{}).send)
	wantAgentUnavailable(t, err, `"reporting"`)
	if !errors.Is(err, tunnel.ErrNoAgent) {
		t.Fatalf("err = %v, want ErrNoAgent, which lets the API forward the call", err)
	}
	_, err = hub.Test(t.Context(), "acme", "reporting", &datagatewayv1.Source{})
	if !errors.Is(err, tunnel.ErrNoAgent) {
		t.Fatalf("Test: err = %v, want ErrNoAgent", err)
	}
	if md := errorInfoMetadata(err); md["pool"] != "reporting" {
		t.Fatalf("ErrorInfo metadata %v, want pool reporting", md)
	}
}

func TestARevokedAgentIsCutAndStops(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name       string
		disconnect bool
	}{
		{name: "noticed by the hub's re-check"},
		{name: "disconnected by the revoking replica", disconnect: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			logs := newLogSink(t)
			agents := newMemAgents()
			// Without Run, only Disconnect can cut the stream.
			hub := startHub(t, agents, logs, hubOptions{noRun: tc.disconnect})
			src := pgSource(t, 10)
			cred, name := agents.credential("acme", "default", "a")
			a := startAgent(t, logs, agentOptions{server: hub.addr, credential: cred, name: name})
			waitFor(t, "the agent connected", func() bool { return agents.connected(name) })

			agents.revoke(name)
			if tc.disconnect {
				hub.Disconnect(name)
			}
			err := a.wait(t)
			if !errors.Is(err, agent.ErrCredentialRejected) || !strings.Contains(err.Error(), name) {
				t.Fatalf("agent.Run = %v, want ErrCredentialRejected naming %s", err, name)
			}
			waitFor(t, "the agent recorded disconnected", func() bool { return !agents.connected(name) })
			_, err = hub.Query(t.Context(), "acme", "default", src, "SELECT * FROM t", nil, limits(100), (&result{}).send)
			wantAgentUnavailable(t, err)
			checkNoSecrets(t, logs, cred, passwordMarker)
		})
	}
}

func TestAnAgentEnrollsOnceAndReusesItsCredentialFile(t *testing.T) {
	t.Parallel()
	logs := newLogSink(t)
	agents := newMemAgents()
	hub := startHub(t, agents, logs, hubOptions{})
	src := pgSource(t, 10)
	token, name := agents.token("acme", "default", "a")
	credFile := filepath.Join(t.TempDir(), "oriel-agent.credential")

	a := startAgent(t, logs, agentOptions{server: hub.addr, token: token, credFile: credFile, name: name})
	waitFor(t, "the agent enrolled and connected", func() bool { return agents.connected(name) })
	first := agents.status(name).ConnectTime
	a.stop()

	info, err := os.Stat(credFile)
	if err != nil {
		t.Fatal(err)
	}
	if info.Mode().Perm() != 0o600 {
		t.Fatalf("credential file mode %v, want 0600", info.Mode().Perm())
	}
	body, err := os.ReadFile(credFile)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(body), name) || !strings.Contains(string(body), "oriel_ac_") {
		t.Fatalf("the credential file does not hold the agent and its credential")
	}

	// Restarted, with the (spent) token still configured: the file is used, no enrollment.
	startAgent(t, logs, agentOptions{server: hub.addr, token: token, credFile: credFile, name: name})
	waitFor(t, "the agent reconnected", func() bool {
		st := agents.status(name)
		return st.Connected && st.ConnectTime.After(first)
	})
	if n := agents.enrollments(); n != 1 {
		t.Fatalf("%d enrollments, want 1", n)
	}
	var r result
	if _, err := hub.Query(t.Context(), "acme", "default", src, "SELECT * FROM t", nil, limits(100), r.send); err != nil {
		t.Fatal(err)
	}
	r.checkFull(t, 10)

	var saved struct{ Credential string }
	if err := json.Unmarshal(body, &saved); err != nil {
		t.Fatal(err)
	}
	checkNoSecrets(t, logs, saved.Credential, passwordMarker)
}

func TestAnInvalidEnrollmentTokenStopsTheAgent(t *testing.T) {
	t.Parallel()
	logs := newLogSink(t)
	hub := startHub(t, newMemAgents(), logs, hubOptions{})
	credFile := filepath.Join(t.TempDir(), "oriel-agent.credential")
	a := startAgent(t, logs, agentOptions{server: hub.addr, token: "oriel_ae_spent", credFile: credFile, name: "a"})
	if err := a.wait(t); !errors.Is(err, agent.ErrEnrollmentRejected) {
		t.Fatalf("agent.Run = %v, want ErrEnrollmentRejected", err)
	}
	if _, err := os.Stat(credFile); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("a credential file exists after a failed enrollment: %v", err)
	}
}

func TestAnAgentReconnectsAfterTheHubRestarts(t *testing.T) {
	t.Parallel()
	logs := newLogSink(t)
	agents := newMemAgents()
	h1 := startHub(t, agents, logs, hubOptions{})
	src := pgSource(t, 1_000)
	cred, name := agents.credential("acme", "default", "a")
	startAgent(t, logs, agentOptions{server: h1.addr, credential: cred, name: name})
	waitFor(t, "the agent connected", func() bool { return agents.connected(name) })

	h1.stop()
	h2 := startHub(t, agents, logs, hubOptions{addr: h1.addr})
	var r *result
	waitFor(t, "a query served by the reconnected agent", func() bool {
		r = &result{}
		served, err := h2.Query(t.Context(), "acme", "default", src, "SELECT * FROM t ORDER BY id", nil, limits(100), r.send)
		if err != nil && apierr.Reason(err) != "AGENT_UNAVAILABLE" {
			t.Fatalf("query on the new hub: %v", err)
		}
		return err == nil && served == name
	})
	r.checkFull(t, 1_000)
}

// agentStream opens a raw Connect stream with credential and says hello.
func agentStream(t testing.TB, addr, credential string) (grpc.BidiStreamingClient[datagatewayv1.ConnectRequest, datagatewayv1.ConnectResponse], error) {
	t.Helper()
	conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	ctx := t.Context()
	if credential != "" {
		ctx = metadata.AppendToOutgoingContext(ctx, "authorization", "Bearer "+credential)
	}
	st, err := datagatewayv1.NewAgentTunnelServiceClient(conn).Connect(ctx)
	if err != nil {
		t.Fatal(err)
	}
	_ = st.Send(&datagatewayv1.ConnectRequest{Message: &datagatewayv1.ConnectRequest_Hello{Hello: &datagatewayv1.AgentHello{Version: "raw"}}})
	m, err := st.Recv()
	if err != nil {
		return st, err
	}
	if m.GetWelcome() == nil {
		t.Fatalf("first message %v, want Welcome", m)
	}
	return st, nil
}

func TestASecondStreamOfTheSameAgentReplacesTheFirst(t *testing.T) {
	t.Parallel()
	logs := newLogSink(t)
	agents := newMemAgents()
	hub := startHub(t, agents, logs, hubOptions{})
	cred, name := agents.credential("acme", "default", "a")
	s1, err := agentStream(t, hub.addr, cred)
	if err != nil {
		t.Fatal(err)
	}
	s2, err := agentStream(t, hub.addr, cred)
	if err != nil {
		t.Fatal(err)
	}
	for {
		if _, err = s1.Recv(); err != nil {
			break
		}
	}
	if status.Code(err) != codes.Aborted {
		t.Fatalf("the first stream ended with %v, want ABORTED", err)
	}
	if _, err := s2.Recv(); err != nil { // a heartbeat
		t.Fatalf("the second stream: %v", err)
	}
	if !agents.connected(name) {
		t.Fatal("the agent is recorded disconnected while its second stream is up")
	}
}

func TestConnectAndEnrollCheckTheirCredential(t *testing.T) {
	t.Parallel()
	logs := newLogSink(t)
	agents := newMemAgents()
	hub := startHub(t, agents, logs, hubOptions{})
	for _, tc := range []struct {
		name, credential, reason string
	}{
		{"no credential", "", "CREDENTIAL_MISSING"},
		{"an unknown credential", "oriel_ac_unknown", "CREDENTIAL_INVALID"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := agentStream(t, hub.addr, tc.credential)
			if status.Code(err) != codes.Unauthenticated || apierr.Reason(err) != tc.reason {
				t.Fatalf("Connect = %v (reason %q), want UNAUTHENTICATED %s", err, apierr.Reason(err), tc.reason)
			}
		})
	}
	t.Run("an enrollment token that is not valid", func(t *testing.T) {
		conn, err := grpc.NewClient(hub.addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		_, err = datagatewayv1.NewAgentTunnelServiceClient(conn).Enroll(t.Context(), &datagatewayv1.EnrollRequest{EnrollmentToken: "oriel_ae_nope"})
		if status.Code(err) != codes.Unauthenticated || apierr.Reason(err) != "CREDENTIAL_INVALID" {
			t.Fatalf("Enroll = %v, want UNAUTHENTICATED CREDENTIAL_INVALID", err)
		}
	})
	t.Run("a first message that is not AgentHello", func(t *testing.T) {
		cred, _ := agents.credential("acme", "default", "x")
		conn, err := grpc.NewClient(hub.addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		ctx := metadata.AppendToOutgoingContext(t.Context(), "authorization", "Bearer "+cred)
		st, err := datagatewayv1.NewAgentTunnelServiceClient(conn).Connect(ctx)
		if err != nil {
			t.Fatal(err)
		}
		_ = st.Send(&datagatewayv1.ConnectRequest{Message: &datagatewayv1.ConnectRequest_Heartbeat{Heartbeat: &datagatewayv1.Heartbeat{}}})
		if _, err := st.Recv(); status.Code(err) != codes.InvalidArgument {
			t.Fatalf("Recv = %v, want INVALID_ARGUMENT", err)
		}
	})
}

func TestDrainLetsQueriesInFlightFinishThenEndsTheStreams(t *testing.T) {
	t.Parallel()
	logs := newLogSink(t)
	agents := newMemAgents()
	hub := startHub(t, agents, logs, hubOptions{})
	src := pgSource(t, 10_000)
	credA, nameA := agents.credential("acme", "default", "a")
	startAgent(t, logs, agentOptions{server: hub.addr, credential: credA, name: nameA})
	credB, nameB := agents.credential("acme", "other", "b")
	startAgent(t, logs, agentOptions{server: hub.addr, credential: credB, name: nameB})
	waitFor(t, "the agents connected", func() bool { return agents.connected(nameA) && agents.connected(nameB) })

	ctx := t.Context()
	g := newGated(ctx)
	errc := queryAsync(ctx, hub.Hub, "acme", "default", src, "SELECT * FROM t ORDER BY id", 500, g.send)
	g.waitFirst(t)

	hub.Drain()
	waitFor(t, "the idle agent's stream ended", func() bool { return !agents.connected(nameB) })
	_, err := hub.Query(ctx, "acme", "default", src, "SELECT * FROM t", nil, limits(500), (&result{}).send)
	wantAgentUnavailable(t, err)

	close(g.allow)
	if err := receive(t, errc); err != nil {
		t.Fatalf("the query in flight: %v", err)
	}
	g.result.checkFull(t, 10_000)
	waitFor(t, "the busy agent's stream ended", func() bool { return !agents.connected(nameA) })
}
