package store

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base32"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/oriel-dev/oriel/platform/sqlstore"
)

// SQL is the Store over a sqlstore.DB. The replication engine adds its own methods to it
// (sql_replication_engine.go).
//
// No method leaves a failed statement inside a transaction it goes on using: conflicts are
// detected with INSERT … ON CONFLICT DO NOTHING, conditional UPDATEs and by reading first,
// never by catching a constraint violation.
type SQL struct {
	db  *sqlstore.DB
	sql dialectSQL
	now func() time.Time
}

// New returns the store over db. now is the clock Enroll judges token expiry by; nil
// means time.Now.
func New(db *sqlstore.DB, now func() time.Time) *SQL {
	if now == nil {
		now = time.Now
	}
	return &SQL{db: db, sql: dialectSQL{db.Dialect()}, now: now}
}

var _ Store = (*SQL)(nil)

// dialectSQL holds the few fragments of SQL that differ between the dialects. SQLite
// needs no row locks: its write transactions start IMMEDIATE and so run one at a time.
type dialectSQL struct{ d sqlstore.Dialect }

func (d dialectSQL) postgres() bool { return d.d == sqlstore.Postgres }

// forUpdate locks the rows a SELECT reads until the transaction ends.
func (d dialectSQL) forUpdate() string { return d.d.ForUpdate() }

// forShare keeps the rows a SELECT reads from being deleted or changed until the
// transaction ends, without making other sharers wait.
func (d dialectSQL) forShare() string {
	if d.postgres() {
		return " FOR SHARE"
	}
	return ""
}

// errLimit guards against a zero Page, which would otherwise read as an empty listing.
var errLimit = errors.New("store: page limit must be positive")

// etag is opaque to clients: a digest of a resource's name and its change counter.
func etag(name string, counter int64) string {
	return digest(name, strconv.FormatInt(counter, 10))
}

// digest is a short, URL-safe digest of parts.
func digest(parts ...string) string {
	sum := sha256.Sum256([]byte(strings.Join(parts, "\x00")))
	return base64.RawURLEncoding.EncodeToString(sum[:9])
}

// secretEncoding is lowercase base32, which survives copying from terminals and URLs.
var secretEncoding = base32.NewEncoding("abcdefghijklmnopqrstuvwxyz234567").WithPadding(base32.NoPadding)

// newSecret returns prefix and 256 random bits.
func newSecret(prefix string) string {
	b := make([]byte, 32)
	_, _ = rand.Read(b) // crypto/rand.Read never fails on supported platforms
	return prefix + secretEncoding.EncodeToString(b)
}

// hashSecret is how tokens and credentials are stored: hex SHA-256. They carry 256
// random bits, so a fast hash is enough.
func hashSecret(secret string) string {
	sum := sha256.Sum256([]byte(secret))
	return hex.EncodeToString(sum[:])
}

// newRevision returns a fresh etag source for a replication row.
func newRevision() string {
	b := make([]byte, 9)
	_, _ = rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}

// enum is a generated protobuf enum.
type enum interface {
	~int32
	String() string
}

// enumName is how enums are stored: the value's name without prefix ("STREAMING").
func enumName[E enum](e E, prefix string) string { return strings.TrimPrefix(e.String(), prefix) }

// parseEnum reverses enumName; unknown names are the zero value.
func parseEnum[E ~int32](values map[string]int32, prefix, name string) E {
	return E(values[prefix+name])
}

// marshalStrings stores a list as a JSON array, [] for none.
func marshalStrings(list []string) (string, error) {
	if list == nil {
		list = []string{}
	}
	b, err := json.Marshal(list)
	if err != nil {
		return "", fmt.Errorf("marshal list: %w", err)
	}
	return string(b), nil
}

// unmarshalStrings reads a list back, nil for none.
func unmarshalStrings(raw string) ([]string, error) {
	var list []string
	if err := json.Unmarshal([]byte(raw), &list); err != nil {
		return nil, fmt.Errorf("list: %w", err)
	}
	if len(list) == 0 {
		return nil, nil
	}
	return list, nil
}

// optionalTime is nil for the zero time, so it is stored as NULL.
func optionalTime(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	return &t
}

// optionalText is s, or NULL when it is empty.
func optionalText(s string) *string {
	if s == "" {
		return nil
	}
	return &s
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
