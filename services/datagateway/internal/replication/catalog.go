package replication

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/jackc/pgx/v5"
)

// table is a replicated table as a catalog describes it.
type table struct {
	schema, name string
	// cols are in the table's column order; generated columns are left out, as
	// pgoutput leaves them out.
	cols []column
	// pk are the primary key's columns, in key order.
	pk []string
}

type column struct {
	name string
	// typ is format_type(type, typmod), e.g. `character varying(20)`.
	typ     string
	notNull bool
}

// qualified is `schema.table`, the way messages name a table.
func (t *table) qualified() string { return t.schema + "." + t.name }

// sql is the table's quoted name.
func (t *table) sql() string { return ident(t.schema, t.name) }

// splitTable reads `schema.table` or `table` (schema public).
func splitTable(s string) (schema, name string) {
	if schema, name, ok := strings.Cut(s, "."); ok {
		return schema, name
	}
	return "public", s
}

// describeSource describes the tables to replicate and refuses those that cannot be.
func describeSource(ctx context.Context, conn *pgx.Conn, names []string) ([]*table, error) {
	tables := make([]*table, 0, len(names))
	for _, n := range names {
		schema, name := splitTable(n)
		var (
			oid       uint32
			relkind   string
			replident string
		)
		err := conn.QueryRow(ctx, `
			SELECT c.oid, c.relkind::text, c.relreplident::text
			FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace ns ON ns.oid = c.relnamespace
			WHERE ns.nspname = $1 AND c.relname = $2`, schema, name).Scan(&oid, &relkind, &replident)
		if errors.Is(err, pgx.ErrNoRows) {
			return nil, stopf("source table %s.%s does not exist", schema, name)
		}
		if err != nil {
			return nil, fmt.Errorf("describe source table %s.%s: %w", schema, name, err)
		}
		if relkind != "r" {
			return nil, stopf("source %s.%s is not a plain table; only tables can be replicated", schema, name)
		}
		t, err := describeTable(ctx, conn, oid, schema, name)
		if err != nil {
			return nil, fmt.Errorf("describe source table %s.%s: %w", schema, name, err)
		}
		if len(t.pk) == 0 {
			return nil, stopf("source table %s has no primary key; every replicated table needs one, "+
				"because changes are applied by primary key", t.qualified())
		}
		switch replident {
		case "n":
			return nil, stopf("source table %s has REPLICA IDENTITY NOTHING, so its updates and deletes "+
				"cannot be replicated; set REPLICA IDENTITY DEFAULT", t.qualified())
		case "i":
			return nil, stopf("source table %s has REPLICA IDENTITY USING INDEX; changes are applied by "+
				"primary key, so set REPLICA IDENTITY DEFAULT (or FULL)", t.qualified())
		}
		tables = append(tables, t)
	}
	return tables, nil
}

// describeTarget describes a target table, or returns nil when it does not exist.
func describeTarget(ctx context.Context, q pgxQuerier, schema, name string) (*table, error) {
	var oid uint32
	err := q.QueryRow(ctx, `
		SELECT c.oid FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace ns ON ns.oid = c.relnamespace
		WHERE ns.nspname = $1 AND c.relname = $2 AND c.relkind IN ('r', 'p')`, schema, name).Scan(&oid)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("describe target table %s.%s: %w", schema, name, err)
	}
	t, err := describeTable(ctx, q, oid, schema, name)
	if err != nil {
		return nil, fmt.Errorf("describe target table %s.%s: %w", schema, name, err)
	}
	return t, nil
}

// pgxQuerier is a connection or a transaction.
type pgxQuerier interface {
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
}

func describeTable(ctx context.Context, q pgxQuerier, oid uint32, schema, name string) (*table, error) {
	t := &table{schema: schema, name: name}
	rows, err := q.Query(ctx, `
		SELECT a.attname::text, pg_catalog.format_type(a.atttypid, a.atttypmod), a.attnotnull
		FROM pg_catalog.pg_attribute a
		WHERE a.attrelid = $1 AND a.attnum > 0 AND NOT a.attisdropped AND a.attgenerated = ''
		ORDER BY a.attnum`, oid)
	if err != nil {
		return nil, err
	}
	t.cols, err = pgx.CollectRows(rows, func(r pgx.CollectableRow) (column, error) {
		var c column
		err := r.Scan(&c.name, &c.typ, &c.notNull)
		return c, err
	})
	if err != nil {
		return nil, err
	}
	rows, err = q.Query(ctx, `
		SELECT a.attname::text
		FROM pg_catalog.pg_index i
		CROSS JOIN LATERAL unnest(i.indkey::int2[]) WITH ORDINALITY AS k(attnum, ord)
		JOIN pg_catalog.pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = k.attnum
		WHERE i.indrelid = $1 AND i.indisprimary
		ORDER BY k.ord`, oid)
	if err != nil {
		return nil, err
	}
	t.pk, err = pgx.CollectRows(rows, pgx.RowTo[string])
	return t, err
}

// sameColumns says whether two tables have the same columns, by name and type, in any order.
func sameColumns(a, b []column) bool {
	if len(a) != len(b) {
		return false
	}
	types := make(map[string]string, len(a))
	for _, c := range a {
		types[c.name] = c.typ
	}
	for _, c := range b {
		if t, ok := types[c.name]; !ok || t != c.typ {
			return false
		}
	}
	return true
}

// columnList is `(id bigint, name text)`, for error messages.
func columnList(cols []column) string {
	parts := make([]string, len(cols))
	for i, c := range cols {
		parts[i] = c.name + " " + c.typ
	}
	return "(" + strings.Join(parts, ", ") + ")"
}

// createTableSQL creates t's copy in the target: same columns, types, NOT NULLs and
// primary key; no defaults, other constraints or indexes.
func createTableSQL(t *table) string {
	var b strings.Builder
	b.WriteString("CREATE TABLE IF NOT EXISTS ")
	b.WriteString(t.sql())
	b.WriteString(" (")
	for i, c := range t.cols {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString(ident(c.name))
		b.WriteString(" ")
		b.WriteString(c.typ)
		if c.notNull {
			b.WriteString(" NOT NULL")
		}
	}
	b.WriteString(", PRIMARY KEY (")
	b.WriteString(identList(t.pk))
	b.WriteString("))")
	return b.String()
}

// checkTarget refuses a target table that cannot take src's rows as they are.
func checkTarget(src, tgt *table) error {
	if !sameColumns(src.cols, tgt.cols) {
		return stopf("target table %s has columns %s but the source has %s; DDL is not replicated: "+
			"make the target table match the source (or drop it to have it created), then resume",
			tgt.qualified(), columnList(tgt.cols), columnList(src.cols))
	}
	if !slices.Equal(src.pk, tgt.pk) {
		return stopf("target table %s has primary key (%s) but the source has (%s); make them match, then resume",
			tgt.qualified(), strings.Join(tgt.pk, ", "), strings.Join(src.pk, ", "))
	}
	return nil
}

func identList(names []string) string {
	quoted := make([]string, len(names))
	for i, n := range names {
		quoted[i] = ident(n)
	}
	return strings.Join(quoted, ", ")
}

func colNames(cols []column) []string {
	names := make([]string, len(cols))
	for i, c := range cols {
		names[i] = c.name
	}
	return names
}
