package live

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"

	datagatewayv1 "github.com/oriel-dev/oriel/gen/pb/oriel/datagateway/v1"
	"github.com/oriel-dev/oriel/platform/testkit"
	"github.com/oriel-dev/oriel/services/content/internal/datasource"
	"github.com/oriel-dev/oriel/services/content/internal/engine"
)

// postgres connects to a fresh test database.
func postgres(t *testing.T) *pgx.Conn {
	t.Helper()
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, testkit.PostgresDatabase(t))
	if err != nil {
		t.Fatalf("connect: %v", err)
	}
	t.Cleanup(func() { _ = conn.Close(context.Background()) })
	return conn
}

func exec(t *testing.T, conn *pgx.Conn, sql string) {
	t.Helper()
	if _, err := conn.Exec(context.Background(), sql); err != nil {
		t.Fatalf("%s: %v", sql, err)
	}
}

// pgxQuery runs statements directly with pgx, standing in for the datagateway: values
// are converted by datasource's rules, as the datagateway's column types would carry
// them. A pgx connection runs one query at a time, so queries take turns.
func pgxQuery(conn *pgx.Conn) QueryFunc {
	turn := make(chan struct{}, 1)
	return func(ctx context.Context, statement string, params []*datagatewayv1.QueryParameter, fn func(row []engine.Value) error) error {
		turn <- struct{}{}
		defer func() { <-turn }()
		args := make([]any, len(params))
		for i, p := range params {
			switch v := p.GetValue().(type) {
			case *datagatewayv1.QueryParameter_StringValue:
				args[i] = v.StringValue
			case *datagatewayv1.QueryParameter_Float64Value:
				args[i] = v.Float64Value
			case *datagatewayv1.QueryParameter_Int64Value:
				args[i] = v.Int64Value
			case *datagatewayv1.QueryParameter_BoolValue:
				args[i] = v.BoolValue
			}
		}
		rows, err := conn.Query(ctx, statement, args...)
		if err != nil {
			return err
		}
		defer rows.Close()
		fields := rows.FieldDescriptions()
		row := make([]engine.Value, len(fields))
		for rows.Next() {
			vals, err := rows.Values()
			if err != nil {
				return err
			}
			for i, v := range vals {
				if row[i], err = pgxValue(fields[i].DataTypeOID, v); err != nil {
					return err
				}
			}
			if err := fn(row); err != nil {
				return err
			}
		}
		return rows.Err()
	}
}

// pgxValue converts a pgx value by datasource's rules.
func pgxValue(oid uint32, v any) (engine.Value, error) {
	switch v := v.(type) {
	case nil:
		return engine.NullValue, nil
	case int16:
		return datasource.Int64Value(int64(v)), nil
	case int32:
		return datasource.Int64Value(int64(v)), nil
	case int64:
		return datasource.Int64Value(v), nil
	case float32:
		return datasource.Float64Value(float64(v)), nil
	case float64:
		return datasource.Float64Value(v), nil
	case pgtype.Numeric:
		text, err := v.Value()
		if err != nil || text == nil {
			return engine.Value{}, fmt.Errorf("numeric: %v", err)
		}
		return datasource.TextOrNumber(text.(string)), nil
	case string:
		return engine.TextValue(v), nil
	case bool:
		return datasource.BoolValue(v), nil
	case []byte:
		return datasource.BytesValue(v), nil
	case time.Time:
		if oid == pgtype.DateOID {
			return datasource.DateValue(v.Unix() / 86400), nil
		}
		return datasource.TimestampValue(v.UnixMicro()), nil
	}
	return engine.Value{}, fmt.Errorf("no conversion for %T", v)
}

// loadModel loads tables of the database into the engine as a reload would, each from
// `SELECT * FROM name`.
func loadModel(t *testing.T, conn *pgx.Conn, names ...string) *engine.Model {
	t.Helper()
	ctx := context.Background()
	b := engine.NewBuilder()
	run := pgxQuery(conn)
	for _, name := range names {
		stmt := "SELECT * FROM " + name
		rows, err := conn.Query(ctx, stmt+" LIMIT 0")
		if err != nil {
			t.Fatalf("%s: %v", stmt, err)
		}
		var fields []string
		for _, f := range rows.FieldDescriptions() {
			fields = append(fields, f.Name)
		}
		rows.Close()
		tb, err := b.AddTable(name, fields, engine.TableSource{Connection: testConnection, Statement: stmt})
		if err != nil {
			t.Fatalf("AddTable %s: %v", name, err)
		}
		if err := run(ctx, stmt, nil, tb.Append); err != nil {
			t.Fatalf("load %s: %v", name, err)
		}
	}
	m, err := b.Build()
	if err != nil {
		t.Fatalf("Build: %v", err)
	}
	return m
}

const testConnection = "tenants/acme/connections/dwh"
