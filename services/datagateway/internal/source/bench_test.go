package source

import (
	"context"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"
	"google.golang.org/protobuf/proto"

	datagatewayv1 "github.com/oriel-dev/oriel/gen/pb/oriel/datagateway/v1"
	"github.com/oriel-dev/oriel/platform/testkit"
)

// benchRows is the size of the benchmark table; BenchmarkPostgresQuery1MRows and
// BenchmarkRawPgx1MRows read the same table, so `go test -bench 1MRows` prints the
// direct figure beside plain pgx's.
const benchRows = 1_000_000

const benchStatement = "SELECT id, name, amount, ts, flag FROM bench"

// benchSource creates the benchmark table in a fresh database.
func benchSource(b *testing.B) (*datagatewayv1.Source, string) {
	b.Helper()
	dbURL := testkit.PostgresDatabase(b)
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, dbURL)
	if err != nil {
		b.Fatal(err)
	}
	defer func() { _ = conn.Close(ctx) }()
	if _, err := conn.Exec(ctx, `
		CREATE TABLE bench AS
		SELECT g::int8 AS id, 'customer-' || g AS name, ((g % 100000) / 100.0)::numeric(12,2) AS amount,
		       timestamptz '2024-01-01 00:00:00+00' + g * interval '1 second' AS ts, g % 2 = 0 AS flag
		FROM generate_series(1, 1000000) g`); err != nil {
		b.Fatal(err)
	}
	if _, err := conn.Exec(ctx, "VACUUM ANALYZE bench"); err != nil {
		b.Fatal(err)
	}
	src := &datagatewayv1.Source{Params: &datagatewayv1.Source_Postgres{Postgres: pgParamsFromURL(b, dbURL)}}
	return src, dbURL
}

func pgParamsFromURL(b *testing.B, dbURL string) *datagatewayv1.PostgresParams {
	cfg, err := pgx.ParseConfig(dbURL)
	if err != nil {
		b.Fatal(err)
	}
	return &datagatewayv1.PostgresParams{
		Host: cfg.Host, Port: int32(cfg.Port), Database: cfg.Database, User: cfg.User,
		SslMode: datagatewayv1.PostgresParams_SSL_MODE_DISABLE,
	}
}

func reportRowsPerSecond(b *testing.B) {
	b.ReportMetric(float64(benchRows)*float64(b.N)/b.Elapsed().Seconds(), "rows/s")
}

// BenchmarkPostgresQuery1MRows streams the table through Query, as the datagateway does
// for a direct connection: "discard" counts the batches, "marshal" also encodes every
// message as gRPC would.
func BenchmarkPostgresQuery1MRows(b *testing.B) {
	src, _ := benchSource(b)
	lim := Limits{RowLimit: 10 * benchRows, Timeout: 10 * time.Minute, BatchRows: 1000}
	for _, marshal := range []bool{false, true} {
		name := "discard"
		if marshal {
			name = "marshal"
		}
		b.Run(name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				var rows int64
				err := Query(context.Background(), src, benchStatement, nil, lim, Options{}, func(m *datagatewayv1.QueryResponse) error {
					if marshal {
						if _, err := proto.Marshal(m); err != nil {
							return err
						}
					}
					rows += int64(m.GetBatch().GetRowCount())
					return nil
				})
				if err != nil || rows != benchRows {
					b.Fatalf("Query: %d rows, %v", rows, err)
				}
			}
			reportRowsPerSecond(b)
		})
	}
}

// BenchmarkRawPgx1MRows reads the same table with plain pgx (a connection, rows.Next and
// Scan into typed values): the ceiling Query is measured against.
func BenchmarkRawPgx1MRows(b *testing.B) {
	_, dbURL := benchSource(b)
	b.Run("scan", func(b *testing.B) {
		b.ReportAllocs()
		ctx := context.Background()
		for b.Loop() {
			conn, err := pgx.Connect(ctx, dbURL)
			if err != nil {
				b.Fatal(err)
			}
			rows, err := conn.Query(ctx, benchStatement)
			if err != nil {
				b.Fatal(err)
			}
			var (
				n      int64
				id     int64
				name   string
				amount pgtype.Numeric
				ts     time.Time
				flag   bool
			)
			for rows.Next() {
				if err := rows.Scan(&id, &name, &amount, &ts, &flag); err != nil {
					b.Fatal(err)
				}
				n++
			}
			if rows.Err() != nil || n != benchRows {
				b.Fatalf("%d rows, %v", n, rows.Err())
			}
			_ = conn.Close(ctx)
		}
		reportRowsPerSecond(b)
	})
}
