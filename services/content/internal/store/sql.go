package store

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/oriel-dev/oriel/platform/sqlstore"
)

// SQL is the Store over a sqlstore.DB.
//
// No method leaves a failed statement inside a transaction it or its caller goes on
// using: conflicts are detected with INSERT … ON CONFLICT DO NOTHING, conditional UPDATEs
// and by reading first, never by catching a constraint violation. So a caller may go on
// after an expected error (ErrAlreadyExists from CreateSpace for a space it only needs to
// exist, say) without PostgreSQL aborting the rest of its transaction.
func SQL(db *sqlstore.DB) Store { return &sqlStore{db: db, sql: dialectSQL{db.Dialect()}} }

type sqlStore struct {
	db  *sqlstore.DB
	sql dialectSQL
}

// sqlTx is a Tx over one transaction.
type sqlTx struct {
	q   sqlstore.Queryer
	sql dialectSQL
}

func (s *sqlStore) ReadWriteTx(ctx context.Context, fn func(ctx context.Context, tx Tx) error) error {
	return s.db.ReadWriteTx(ctx, func(ctx context.Context, q sqlstore.Queryer) error {
		return fn(ctx, &sqlTx{q: q, sql: s.sql})
	})
}

// dialectSQL holds the few fragments of SQL that differ between the dialects. SQLite
// needs no row locks: its write transactions start IMMEDIATE and so run one at a time.
type dialectSQL struct{ d sqlstore.Dialect }

func (d dialectSQL) postgres() bool { return d.d == sqlstore.Postgres }

// forUpdate locks the rows a SELECT reads until the transaction ends.
func (d dialectSQL) forUpdate() string { return d.d.ForUpdate() }

// forUpdateOf locks only the rows of table (an alias) a joining SELECT reads.
func (d dialectSQL) forUpdateOf(table string) string {
	if d.postgres() {
		return " FOR UPDATE OF " + table
	}
	return ""
}

// forShare keeps the rows a SELECT reads from being deleted or changed until the
// transaction ends, without making other sharers wait.
func (d dialectSQL) forShare() string {
	if d.postgres() {
		return " FOR SHARE"
	}
	return ""
}

// skipLocked locks the rows a SELECT reads and passes over rows other transactions hold,
// so concurrent workers each take different rows instead of queueing for the same ones.
func (d dialectSQL) skipLocked() string {
	if d.postgres() {
		return " FOR UPDATE SKIP LOCKED"
	}
	return ""
}

// byteOrder makes a computed text compare in byte order, as ids do (PostgreSQL would
// otherwise use the database's collation for it).
func (d dialectSQL) byteOrder() string {
	if d.postgres() {
		return ` COLLATE "C"`
	}
	return ""
}

// errLimit guards against a zero Page, which would otherwise read as an empty listing.
var errLimit = errors.New("store: page limit must be positive")

// etag is opaque to clients: a digest of a resource's name and its change counter.
func etag(name string, counter int64) string {
	sum := sha256.Sum256([]byte(name + "\x00" + strconv.FormatInt(counter, 10)))
	return base64.RawURLEncoding.EncodeToString(sum[:9])
}

// placeholders returns "$from, $from+1, …" for n arguments.
func placeholders(from, n int) string {
	parts := make([]string, n)
	for i := range parts {
		parts[i] = "$" + strconv.Itoa(from+i)
	}
	return strings.Join(parts, ", ")
}

// args is a query's arguments as its SQL is built.
type args []any

// add appends v and returns its placeholder.
func (a *args) add(v any) string {
	*a = append(*a, v)
	return "$" + strconv.Itoa(len(*a))
}

// in appends vs and returns "IN ($i, …)"; vs must not be empty.
func (a *args) in(vs []string) string {
	first := len(*a) + 1
	for _, v := range vs {
		*a = append(*a, v)
	}
	return "IN (" + placeholders(first, len(vs)) + ")"
}

// enum is a generated protobuf enum.
type enum interface {
	~int32
	String() string
}

// enumName is how enums are stored: the value's name without prefix ("MANAGED").
func enumName[E enum](e E, prefix string) string { return strings.TrimPrefix(e.String(), prefix) }

// parseEnum reverses enumName; unknown names are the zero value.
func parseEnum[E ~int32](values map[string]int32, prefix, name string) E {
	return E(values[prefix+name])
}

// marshalProto stores an unset message as NULL, so what was stored reads back the same.
func marshalProto(m proto.Message) (*string, error) {
	if m == nil || !m.ProtoReflect().IsValid() {
		return nil, nil
	}
	b, err := protojson.Marshal(m)
	if err != nil {
		return nil, fmt.Errorf("marshal %s: %w", m.ProtoReflect().Descriptor().FullName(), err)
	}
	s := string(b)
	return &s, nil
}

// unmarshalProto reads what marshalProto stored into m, reporting whether there was any.
func unmarshalProto(raw *string, m proto.Message) (bool, error) {
	if raw == nil {
		return false, nil
	}
	if err := protojson.Unmarshal([]byte(*raw), m); err != nil {
		return false, fmt.Errorf("unmarshal %s: %w", m.ProtoReflect().Descriptor().FullName(), err)
	}
	return true, nil
}

// marshalLabels stores labels as a JSON object, {} for none.
func marshalLabels(labels map[string]string) (string, error) {
	if labels == nil {
		labels = map[string]string{}
	}
	b, err := json.Marshal(labels)
	if err != nil {
		return "", fmt.Errorf("marshal labels: %w", err)
	}
	return string(b), nil
}

// unmarshalLabels reads labels back, nil for none (as an unset proto map reads).
func unmarshalLabels(raw string) (map[string]string, error) {
	var labels map[string]string
	if err := json.Unmarshal([]byte(raw), &labels); err != nil {
		return nil, fmt.Errorf("labels: %w", err)
	}
	if len(labels) == 0 {
		return nil, nil
	}
	return labels, nil
}

// ts is t as a protobuf timestamp.
func ts(t time.Time) *timestamppb.Timestamp { return timestamppb.New(t) }

// optionalTS is t as a protobuf timestamp, nil for none.
func optionalTS(t *time.Time) *timestamppb.Timestamp {
	if t == nil {
		return nil
	}
	return timestamppb.New(*t)
}

// optionalTime is the time of a protobuf timestamp, nil for none.
func optionalTime(t *timestamppb.Timestamp) *time.Time {
	if t == nil {
		return nil
	}
	at := t.AsTime()
	return &at
}

// exists reports whether query finds a row.
func exists(ctx context.Context, q sqlstore.Queryer, query string, args ...any) (bool, error) {
	var one int
	err := q.QueryRow(ctx, query, args...).Scan(&one)
	if errors.Is(err, sqlstore.ErrNoRows) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	return true, nil
}

// collect scans every row of a query with scan.
func collect[T any](rows sqlstore.Rows, err error, scan func(sqlstore.Row) (T, error)) ([]T, error) {
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []T
	for rows.Next() {
		v, err := scan(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, v)
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	return out, nil
}
