package tunnel_test

import (
	"context"
	"fmt"
	"net"
	"strconv"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	datagatewayv1 "github.com/oriel-dev/oriel/gen/pb/oriel/datagateway/v1"
	"github.com/oriel-dev/oriel/services/datagateway/internal/source"
	"github.com/oriel-dev/oriel/services/datagateway/internal/tunnel"
)

// rowCounter is the cheapest consumer: it counts rows.
type rowCounter struct{ rows int64 }

func (c *rowCounter) send(resp *datagatewayv1.QueryResponse) error {
	c.rows += int64(resp.GetBatch().GetRowCount())
	return nil
}

// BenchmarkQuery1MRows streams the same 1 M-row table (bigint, text, float8) three ways in
// one run: through the hub and an agent over loopback gRPC, with source.Query directly
// (as the datagateway does for a direct connection), and with a plain pgx scan. It reports
// rows/s for each and prints the agent/direct ratio (target ≥ 0.70).
func BenchmarkQuery1MRows(b *testing.B) {
	const n = 1_000_000
	logs := newLogSink(b)
	agents := newMemAgents()
	hub := startHub(b, agents, logs, hubOptions{interval: time.Second, timeout: 30 * time.Second})
	src, url := pgSourceURL(b, n)
	cred, name := agents.credential("acme", "default", "bench")
	startAgent(b, logs, agentOptions{server: hub.addr, credential: cred, name: name})
	waitFor(b, "the agent connected", func() bool { return agents.connected(name) })

	const statement = "SELECT id, name, amount FROM t"
	lim := source.Limits{RowLimit: 10 * n, Timeout: 10 * time.Minute, BatchRows: tunnel.DefaultBatchRows}
	ctx := context.Background()
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
			rate := float64(rows) / b.Elapsed().Seconds()
			b.ReportMetric(rate, "rows/s")
			rates[path] = rate
		})
	}

	run("agent", func() (int64, error) {
		var c rowCounter
		_, err := hub.Query(ctx, "acme", "default", src, statement, nil, lim, c.send)
		return c.rows, err
	})
	run("direct", func() (int64, error) {
		var c rowCounter
		err := source.Query(ctx, src, statement, nil, lim, source.Options{}, c.send)
		return c.rows, err
	})
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		b.Fatal(err)
	}
	defer conn.Close(ctx)
	run("rawpgx", func() (int64, error) {
		rows, err := conn.Query(ctx, statement)
		if err != nil {
			return 0, err
		}
		var (
			count  int64
			id     int64
			name   string
			amount float64
		)
		for rows.Next() {
			if err := rows.Scan(&id, &name, &amount); err != nil {
				return 0, err
			}
			count++
		}
		return count, rows.Err()
	})

	if rates["agent"] > 0 && rates["direct"] > 0 {
		fmt.Printf("BenchmarkQuery1MRows: agent %.0f rows/s, direct %.0f rows/s, rawpgx %.0f rows/s; agent/direct = %.2f (target ≥ 0.70)\n",
			rates["agent"], rates["direct"], rates["rawpgx"], rates["agent"]/rates["direct"])
	}
}

// BenchmarkPgx1MRowsThroughATunnel scans the same 1 M-row table with pgx twice in one run:
// over a tunnel (Hub.Dial through an agent over loopback gRPC, as the replication engine
// reaches an agent-routed source) and over a direct TCP connection. It reports MB/s of
// the PostgreSQL protocol and rows/s for each, and prints the tunnel/direct ratio.
func BenchmarkPgx1MRowsThroughATunnel(b *testing.B) {
	const n = 1_000_000
	logs := newLogSink(b)
	agents := newMemAgents()
	hub := startHub(b, agents, logs, hubOptions{interval: time.Second, timeout: 30 * time.Second})
	_, url := pgSourceURL(b, n)
	cred, name := agents.credential("acme", "default", "bench")
	startAgent(b, logs, agentOptions{server: hub.addr, credential: cred, name: name})
	waitFor(b, "the agent connected", func() bool { return agents.connected(name) })

	ctx := context.Background()
	direct, err := pgx.ParseConfig(url)
	if err != nil {
		b.Fatal(err)
	}
	tunneled := direct.Copy()
	tunneled.DialFunc = func(ctx context.Context, _, addr string) (net.Conn, error) {
		host, port, err := net.SplitHostPort(addr)
		if err != nil {
			return nil, err
		}
		p, _ := strconv.Atoi(port)
		return hub.Dial(ctx, "acme", "default", host, p)
	}
	tunneled.LookupFunc = func(_ context.Context, host string) ([]string, error) { return []string{host}, nil }

	rates := map[string]float64{}
	for _, path := range []struct {
		name string
		cfg  *pgx.ConnConfig
	}{{"tunnel", tunneled}, {"direct", direct}} {
		b.Run(path.name, func(b *testing.B) {
			conn, err := pgx.ConnectConfig(ctx, path.cfg)
			if err != nil {
				b.Fatal(err)
			}
			defer conn.Close(ctx)
			var rows int64
			for b.Loop() {
				r, err := conn.Query(ctx, "SELECT id, name, amount FROM t")
				if err != nil {
					b.Fatal(err)
				}
				var bytes int64
				for r.Next() {
					for _, v := range r.RawValues() {
						bytes += int64(len(v))
					}
					rows++
				}
				if r.Err() != nil {
					b.Fatal(r.Err())
				}
				b.SetBytes(bytes)
			}
			rate := float64(rows) / b.Elapsed().Seconds()
			b.ReportMetric(rate, "rows/s")
			rates[path.name] = rate
		})
	}
	if rates["tunnel"] > 0 && rates["direct"] > 0 {
		fmt.Printf("BenchmarkPgx1MRowsThroughATunnel: tunnel %.0f rows/s, direct %.0f rows/s; tunnel/direct = %.2f\n",
			rates["tunnel"], rates["direct"], rates["tunnel"]/rates["direct"])
	}
}
