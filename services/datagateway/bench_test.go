package datagateway_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"

	datagatewayv1 "github.com/oriel-dev/oriel/gen/pb/oriel/datagateway/v1"
	"github.com/oriel-dev/oriel/platform/testkit"
	"github.com/oriel-dev/oriel/services/datagateway"
	"github.com/oriel-dev/oriel/services/datagateway/internal/store"
)

// BenchmarkQuery1MRows is what a caller of Query sees: 1 M rows (bigint, text, numeric,
// timestamptz) streamed over gRPC from a direct connection and from the same source
// reached through an enrolled agent, beside a plain pgx scan, in one run. It prints the
// agent/direct ratio (target ≥ 0.70). internal/tunnel's benchmark isolates the hub alone.
func BenchmarkQuery1MRows(b *testing.B) {
	const n = 1_000_000
	ctx := context.Background()
	url := testkit.PostgresDatabase(b)
	data, err := pgx.Connect(ctx, url)
	if err != nil {
		b.Fatal(err)
	}
	defer data.Close(ctx)
	if _, err := data.Exec(ctx, `CREATE TABLE t AS SELECT g::int8 AS id, 'name-' || g AS name,
		(g % 100000)::numeric(12,2) AS amount, now() - g * interval '1 second' AS ts FROM generate_series(1, 1000000) g`); err != nil {
		b.Fatal(err)
	}

	s := startServiceWith(b, func(c *datagateway.Config) {
		c.RowLimit, c.BatchRows, c.QueryTimeout = 10*n, 2000, 10*time.Minute
	})
	tenant := testkit.UniqueID("bench")
	a := s.createAgent(b, tenant, "warehouse", "default")
	s.runAgent(b, a.GetName(), "bench")
	s.waitAgentState(b, a.GetName(), datagatewayv1.Agent_STATE_CONNECTED)
	for id, pool := range map[string]string{"direct": "", "agent": "default"} {
		if _, err := s.connections.CreateConnection(s.isv, &datagatewayv1.CreateConnectionRequest{
			Parent: store.TenantName(tenant), ConnectionId: id,
			Connection: &datagatewayv1.Connection{DisplayName: id, Postgres: paramsOf(url), AgentPool: pool},
		}); err != nil {
			b.Fatal(err)
		}
	}

	const statement = "SELECT id, name, amount, ts FROM t"
	rates := map[string]float64{}
	run := func(path string, query func() (int64, error)) {
		b.Run(path, func(b *testing.B) {
			var rows int64
			for b.Loop() {
				got, err := query()
				if err != nil {
					b.Fatal(err)
				}
				if got != n {
					b.Fatalf("%d rows, want %d", got, n)
				}
				rows += got
			}
			rates[path] = float64(rows) / b.Elapsed().Seconds()
			b.ReportMetric(rates[path], "rows/s")
		})
	}
	viaQuery := func(connection string) func() (int64, error) {
		return func() (int64, error) {
			stream, err := s.connections.Query(s.isv, &datagatewayv1.QueryRequest{
				Name: store.ConnectionName(tenant, connection), Statement: statement,
			})
			if err != nil {
				return 0, err
			}
			var rows int64
			for {
				m, err := stream.Recv()
				if errors.Is(err, io.EOF) {
					return rows, nil
				}
				if err != nil {
					return rows, err
				}
				rows += int64(m.GetBatch().GetRowCount())
			}
		}
	}
	run("direct", viaQuery("direct"))
	run("agent", viaQuery("agent"))
	run("rawpgx", func() (int64, error) {
		rows, err := data.Query(ctx, statement)
		if err != nil {
			return 0, err
		}
		var (
			count  int64
			id     int64
			name   string
			amount pgtype.Numeric
			ts     time.Time
		)
		for rows.Next() {
			if err := rows.Scan(&id, &name, &amount, &ts); err != nil {
				return 0, err
			}
			count++
		}
		return count, rows.Err()
	})
	if rates["agent"] > 0 && rates["direct"] > 0 {
		fmt.Printf("BenchmarkQuery1MRows (over Query): direct %.0f rows/s, through the agent %.0f rows/s, raw pgx %.0f rows/s; agent/direct = %.2f (target ≥ 0.70)\n",
			rates["direct"], rates["agent"], rates["rawpgx"], rates["agent"]/rates["direct"])
	}
}
