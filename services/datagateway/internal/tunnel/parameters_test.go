package tunnel_test

import (
	"strings"
	"sync"
	"testing"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	datagatewayv1 "github.com/oriel-dev/oriel/gen/pb/oriel/datagateway/v1"
	"github.com/oriel-dev/oriel/platform/apierr"
	"github.com/oriel-dev/oriel/services/datagateway/internal/source"
)

// messages keeps a result's header and batches as they were sent.
type messages struct {
	mu  sync.Mutex
	all []*datagatewayv1.QueryResponse
}

func (m *messages) send(resp *datagatewayv1.QueryResponse) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if resp.GetStats() == nil { // the stats hold a time and the agent's name
		m.all = append(m.all, resp)
	}
	return nil
}

func TestParametersReachTheSourceThroughAnAgent(t *testing.T) {
	t.Parallel()
	logs := newLogSink(t)
	agents := newMemAgents()
	hub := startHub(t, agents, logs, hubOptions{})
	src := pgSource(t, 1_000)
	cred, name := agents.credential("acme", "default", "a")
	startAgent(t, logs, agentOptions{server: hub.addr, credential: cred, name: name})
	waitFor(t, "the agent connected", func() bool { return agents.connected(name) })

	statement := "SELECT id, name, amount FROM t WHERE id BETWEEN $1 AND $2 AND name <> $3 AND amount > $4 AND $5 AND $6::text IS NULL ORDER BY id"
	params := []*datagatewayv1.QueryParameter{
		{Value: &datagatewayv1.QueryParameter_Int64Value{Int64Value: 100}},
		{Value: &datagatewayv1.QueryParameter_Int64Value{Int64Value: 200}},
		{Value: &datagatewayv1.QueryParameter_StringValue{StringValue: "row 150"}},
		{Value: &datagatewayv1.QueryParameter_Float64Value{Float64Value: 60.25}},
		{Value: &datagatewayv1.QueryParameter_BoolValue{BoolValue: true}},
		{}, // NULL
	}
	var through, direct messages
	if _, err := hub.Query(t.Context(), "acme", "default", src, statement, params, limits(10), through.send); err != nil {
		t.Fatal(err)
	}
	if err := source.Query(t.Context(), src, statement, params, limits(10), source.Options{}, direct.send); err != nil {
		t.Fatal(err)
	}
	// ids 121…200 (amount = id / 2 > 60.25) without 150.
	var rows int64
	for _, m := range direct.all {
		rows += int64(m.GetBatch().GetRowCount())
	}
	if rows != 79 {
		t.Fatalf("the direct query returned %d rows, want 79", rows)
	}
	if len(through.all) != len(direct.all) {
		t.Fatalf("%d messages through the agent, %d direct", len(through.all), len(direct.all))
	}
	for i := range direct.all {
		if !proto.Equal(through.all[i], direct.all[i]) {
			t.Fatalf("message %d through the agent\n%v\ndiffers from the direct one\n%v", i, through.all[i], direct.all[i])
		}
	}

	t.Run("an injection attempt is only a value", func(t *testing.T) {
		var r result
		_, err := hub.Query(t.Context(), "acme", "default", src, "SELECT * FROM t WHERE name = $1",
			[]*datagatewayv1.QueryParameter{{Value: &datagatewayv1.QueryParameter_StringValue{StringValue: "x'; DROP TABLE t; --"}}},
			limits(100), r.send)
		if err != nil || r.rows != 0 {
			t.Fatalf("%d rows (%v), want none", r.rows, err)
		}
		r = result{}
		if _, err := hub.Query(t.Context(), "acme", "default", src, "SELECT * FROM t ORDER BY id", nil, limits(100), r.send); err != nil {
			t.Fatal(err)
		}
		r.checkFull(t, 1_000)
	})

	t.Run("the wrong number of parameters reaches the caller", func(t *testing.T) {
		_, err := hub.Query(t.Context(), "acme", "default", src, "SELECT * FROM t WHERE id = $1", params, limits(100), (&result{}).send)
		const want = "the statement has 1 placeholder but 6 parameters were given"
		if status.Code(err) != codes.InvalidArgument || apierr.Reason(err) != "INVALID_REQUEST" || status.Convert(err).Message() != want {
			t.Fatalf("err = %v (reason %q), want INVALID_ARGUMENT INVALID_REQUEST %q", err, apierr.Reason(err), want)
		}
	})

	t.Run("parameters too large for the agent are refused before they reach it", func(t *testing.T) {
		big := make([]*datagatewayv1.QueryParameter, 70)
		for i := range big {
			big[i] = &datagatewayv1.QueryParameter{Value: &datagatewayv1.QueryParameter_StringValue{StringValue: strings.Repeat("x", 64<<10)}}
		}
		_, err := hub.Query(t.Context(), "acme", "default", src, "SELECT 1", big, limits(100), (&result{}).send)
		if status.Code(err) != codes.InvalidArgument || apierr.Reason(err) != "INVALID_REQUEST" {
			t.Fatalf("err = %v (reason %q), want INVALID_ARGUMENT INVALID_REQUEST", err, apierr.Reason(err))
		}
		var r result
		if _, err := hub.Query(t.Context(), "acme", "default", src, "SELECT * FROM t ORDER BY id", nil, limits(100), r.send); err != nil {
			t.Fatalf("the next query: %v", err)
		}
		r.checkFull(t, 1_000)
	})
	checkNoSecrets(t, logs, cred, passwordMarker)
}
