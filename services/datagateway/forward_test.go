package datagateway_test

import (
	"log/slog"
	"net"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"

	datagatewayv1 "github.com/oriel-dev/oriel/gen/pb/oriel/datagateway/v1"
	"github.com/oriel-dev/oriel/platform/testkit"
	"github.com/oriel-dev/oriel/services/datagateway"
)

// freeAddr returns a loopback address nothing listens on now, so a replica can be told
// its own address (to advertise) before it listens there.
func freeAddr(t testing.TB) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// advertised listens on a fresh address and advertises it, with short heartbeats so a
// stopped replica's agents go stale quickly.
func advertised(t testing.TB) func(*datagateway.Config) {
	addr := freeAddr(t)
	return func(c *datagateway.Config) {
		c.Server.GRPCAddr, c.AdvertiseAddr = addr, addr
		c.HeartbeatInterval, c.HeartbeatTimeout = 200*time.Millisecond, time.Second
	}
}

// TestAReplicaWithoutAnAgentOfThePoolForwardsToTheReplicaWithOne runs two replicas on one
// database with the tenant's agent connected to the first only: calls for its pool that
// reach the second are served by the first, once, for that tenant only, and only while
// the first is alive.
func TestAReplicaWithoutAnAgentOfThePoolForwardsToTheReplicaWithOne(t *testing.T) {
	t.Parallel()
	r1 := startServiceWith(t, advertised(t))
	r2 := r1.startReplica(t, advertised(t))
	tenant, other := testkit.UniqueID("a"), testkit.UniqueID("b")
	a := r1.createAgent(t, tenant, "warehouse", "default")
	r1.runAgent(t, a.GetName(), "1.2.3")
	r1.waitAgentState(t, a.GetName(), datagatewayv1.Agent_STATE_CONNECTED)
	remote := r1.createConnection(t, tenant, "erp", "default", "")

	msgs, err := r2.query(t, &datagatewayv1.QueryRequest{Name: remote.GetName(), Statement: "SELECT g AS n FROM generate_series(1, 250) g"})
	if err != nil {
		t.Fatalf("query at the replica without the agent: %v", err)
	}
	var sum int64
	for _, m := range msgs {
		for _, v := range m.GetBatch().GetColumns() {
			for _, n := range v.GetInt64Values() {
				sum += n
			}
		}
	}
	stats := msgs[len(msgs)-1].GetStats()
	if msgs[0].GetHeader() == nil || sum != 250*251/2 || stats.GetRows() != 250 || stats.GetAgent() != a.GetName() {
		t.Fatalf("header %v, sum %d, stats %v: want a header and 250 rows summing to %d, served by %s",
			msgs[0].GetHeader(), sum, stats, 250*251/2, a.GetName())
	}
	test, err := r2.connections.TestConnection(r2.isv, &datagatewayv1.TestConnectionRequest{Name: remote.GetName()})
	if err != nil || !test.GetOk() || test.GetAgent() != a.GetName() {
		t.Fatalf("TestConnection at the replica without the agent = %v, %v; want ok from %s", test, err, a.GetName())
	}

	t.Run("the other replica's errors reach the caller as it gave them", func(t *testing.T) {
		_, err := r2.query(t, &datagatewayv1.QueryRequest{Name: remote.GetName(), Statement: "SELECT * FROM no_such_table"})
		wantCode(t, err, codes.FailedPrecondition, "SOURCE_ERROR")
	})

	t.Run("a forwarded call is not forwarded again", func(t *testing.T) {
		forwarded := metadata.AppendToOutgoingContext(r2.isv, "oriel-forwarded", "1")
		wantCode(t, firstMessage(r2.connections.Query(forwarded, &datagatewayv1.QueryRequest{Name: remote.GetName(), Statement: "SELECT 1"})),
			codes.Unavailable, "AGENT_UNAVAILABLE")
		_, err := r2.connections.TestConnection(forwarded, &datagatewayv1.TestConnectionRequest{Name: remote.GetName()})
		wantCode(t, err, codes.Unavailable, "AGENT_UNAVAILABLE")
	})

	t.Run("another tenant's agent never serves this tenant", func(t *testing.T) {
		theirs := r1.createConnection(t, other, "erp", "default", "")
		_, err := r2.query(t, &datagatewayv1.QueryRequest{Name: theirs.GetName(), Statement: "SELECT 1"})
		wantCode(t, err, codes.Unavailable, "AGENT_UNAVAILABLE")
		_, err = r2.connections.TestConnection(r2.isv, &datagatewayv1.TestConnectionRequest{Name: theirs.GetName()})
		wantCode(t, err, codes.Unavailable, "AGENT_UNAVAILABLE")
	})

	t.Run("once the replica with the agent stops, the pool is unavailable", func(t *testing.T) {
		r1.stop()
		deadline := time.Now().Add(15 * time.Second)
		for {
			_, err := r2.query(t, &datagatewayv1.QueryRequest{Name: remote.GetName(), Statement: "SELECT 1"})
			if err != nil {
				wantCode(t, err, codes.Unavailable, "AGENT_UNAVAILABLE")
				break
			}
			if time.Now().After(deadline) {
				t.Fatal("queries still succeed 15s after the only replica with the agent stopped")
			}
			time.Sleep(100 * time.Millisecond)
		}
		_, err := r2.connections.TestConnection(r2.isv, &datagatewayv1.TestConnectionRequest{Name: remote.GetName()})
		wantCode(t, err, codes.Unavailable, "AGENT_UNAVAILABLE")
	})
}

// TestAnAdvertiseAddrIsAHostAndPort: other replicas dial it, so it needs both.
func TestAnAdvertiseAddrIsAHostAndPort(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name, addr string
	}{
		{"no port", "datagateway-0.datagateway"},
		{"no host", ":9104"},
		{"port 0", "127.0.0.1:0"},
		{"a port name", "datagateway-0:grpc"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := datagateway.Config{
				KeyEncryptionKeys: newKeys(), RowLimit: 1, QueryTimeout: time.Second, BatchRows: 1,
				HeartbeatInterval: time.Second, HeartbeatTimeout: 2 * time.Second, AdvertiseAddr: tc.addr,
			}
			_, err := cfg.Complete(t.Context(), slog.New(slog.DiscardHandler))
			if err == nil || !strings.Contains(err.Error(), "--advertise-addr") {
				t.Fatalf("Complete with --advertise-addr %q: %v, want an error naming the flag", tc.addr, err)
			}
		})
	}
}
