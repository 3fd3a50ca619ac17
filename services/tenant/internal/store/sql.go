package store

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"slices"
	"strconv"
	"strings"
	"time"

	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/types/known/timestamppb"

	tenantv1 "github.com/oriel-dev/oriel/gen/pb/oriel/tenant/v1"
	"github.com/oriel-dev/oriel/platform/sqlstore"
)

type sqlStore struct {
	db *sqlstore.DB
}

type sqlTx struct {
	q       sqlstore.Queryer
	dialect sqlstore.Dialect
}

const tenantColumns = `id, display_name, region, state, hostnames, labels, settings, revision,
	create_time, update_time, deactivate_time, purge_time`

func (s *sqlStore) GetTenant(ctx context.Context, id string) (*tenantv1.Tenant, error) {
	return getTenant(ctx, s.db, id, "")
}

func (s *sqlStore) ReadWriteTx(ctx context.Context, fn func(ctx context.Context, tx Tx) error) error {
	return s.db.ReadWriteTx(ctx, func(ctx context.Context, q sqlstore.Queryer) error {
		return fn(ctx, &sqlTx{q: q, dialect: s.db.Dialect()})
	})
}

func (s *sqlStore) ListTenants(ctx context.Context, q ListQuery) ([]*tenantv1.Tenant, error) {
	var (
		where      []string
		args       []any
		wantsTombs bool
	)
	arg := func(v any) string {
		args = append(args, v)
		return "$" + strconv.Itoa(len(args))
	}
	for _, c := range q.Conditions {
		op := "="
		switch {
		case c.Op == OpNotEqual:
			op = "<>"
		case c.Op == OpHas && c.Field != FieldLabel, c.Op != OpEqual && c.Op != OpHas:
			return nil, fmt.Errorf("store: condition op %d is not defined for field %d", c.Op, c.Field)
		}
		switch c.Field {
		case FieldState:
			where = append(where, "t.state "+op+" "+arg(c.Value))
			wantsTombs = wantsTombs || (c.Op == OpEqual && c.Value == "DELETED")
		case FieldRegion:
			where = append(where, "t.region "+op+" "+arg(c.Value))
		case FieldLabel:
			label := "SELECT 1 FROM tenant_labels l WHERE l.tenant_id = t.id AND l.key = " + arg(c.Key)
			switch c.Op {
			case OpHas:
				where = append(where, "EXISTS ("+label+")")
			case OpEqual:
				where = append(where, "EXISTS ("+label+" AND l.value = "+arg(c.Value)+")")
			case OpNotEqual:
				where = append(where, "NOT EXISTS ("+label+" AND l.value = "+arg(c.Value)+")")
			}
		default:
			return nil, fmt.Errorf("store: unknown condition field %d", c.Field)
		}
	}
	if !wantsTombs {
		where = append(where, "t.state <> 'DELETED'")
	}
	if q.AfterID != "" {
		where = append(where, "t.id > "+arg(q.AfterID))
	}
	query := "SELECT " + prefixColumns("t.", tenantColumns) + " FROM tenants t WHERE " +
		strings.Join(where, " AND ") + " ORDER BY t.id LIMIT " + arg(q.Limit)
	rows, err := s.db.Query(ctx, query, args...)
	if err != nil {
		return nil, fmt.Errorf("list tenants: %w", err)
	}
	defer rows.Close()
	var out []*tenantv1.Tenant
	for rows.Next() {
		t, err := scanTenant(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, t)
	}
	return out, rows.Err()
}

func (s *sqlStore) ListEvents(ctx context.Context, q EventQuery) ([]Event, error) {
	rows, err := s.db.Query(ctx, `SELECT seq, id, type, time, data FROM tenant_events
		WHERE seq > $1 AND ($2 = '' OR tenant_id = $2) ORDER BY seq LIMIT $3`,
		q.AfterSeq, q.TenantID, q.Limit)
	if err != nil {
		return nil, fmt.Errorf("list events: %w", err)
	}
	defer rows.Close()
	var out []Event
	for rows.Next() {
		var (
			seq          int64
			id, typ, raw string
			at           time.Time
			data         tenantv1.Tenant
		)
		if err := rows.Scan(&seq, &id, &typ, &at, &raw); err != nil {
			return nil, fmt.Errorf("scan event: %w", err)
		}
		if err := protojson.Unmarshal([]byte(raw), &data); err != nil {
			return nil, fmt.Errorf("event %s data: %w", id, err)
		}
		out = append(out, Event{Seq: seq, Event: newEvent(id, typ, at, &data)})
	}
	return out, rows.Err()
}

func (s *sqlStore) PurgeCandidates(ctx context.Context, now time.Time, limit int) ([]string, error) {
	rows, err := s.db.Query(ctx, `SELECT id FROM tenants
		WHERE state = 'DEACTIVATED' AND purge_time <= $1 ORDER BY purge_time, id LIMIT $2`, now, limit)
	if err != nil {
		return nil, fmt.Errorf("purge candidates: %w", err)
	}
	defer rows.Close()
	var ids []string
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			return nil, err
		}
		ids = append(ids, id)
	}
	return ids, rows.Err()
}

func (tx *sqlTx) GetTenant(ctx context.Context, id string) (*tenantv1.Tenant, error) {
	return getTenant(ctx, tx.q, id, tx.dialect.ForUpdate())
}

func (tx *sqlTx) CreateTenant(ctx context.Context, t *tenantv1.Tenant) error {
	id := TenantID(t.GetName())
	row, err := toRow(t)
	if err != nil {
		return err
	}
	// The id check comes first so that a taken id is reported as such even when the
	// hostnames are taken too (by that same tenant, typically, on a blind retry).
	var exists int
	switch err := tx.q.QueryRow(ctx, `SELECT 1 FROM tenants WHERE id = $1`, id).Scan(&exists); {
	case err == nil:
		return ErrAlreadyExists
	case !errors.Is(err, sqlstore.ErrNoRows):
		return fmt.Errorf("check tenant: %w", err)
	}
	_, err = tx.q.Exec(ctx, `INSERT INTO tenants (`+tenantColumns+`)
		VALUES ($1, $2, $3, $4, $5, $6, $7, 1, $8, $9, $10, $11)`,
		id, t.GetDisplayName(), t.GetRegion(), row.state, row.hostnames, row.labels, row.settings,
		t.GetCreateTime().AsTime(), t.GetUpdateTime().AsTime(), row.deactivateTime, row.purgeTime)
	if table, ok := sqlstore.UniqueViolation(err); ok && table == "tenants" {
		return ErrAlreadyExists
	}
	if err != nil {
		return fmt.Errorf("insert tenant: %w", err)
	}
	if err := tx.writeSideTables(ctx, id, t); err != nil {
		return err
	}
	t.Etag = etag(id, 1)
	return nil
}

func (tx *sqlTx) UpdateTenant(ctx context.Context, t *tenantv1.Tenant) error {
	id := TenantID(t.GetName())
	row, err := toRow(t)
	if err != nil {
		return err
	}
	var revision int64
	err = tx.q.QueryRow(ctx, `UPDATE tenants SET display_name = $2, state = $3, hostnames = $4,
		labels = $5, settings = $6, revision = revision + 1, update_time = $7,
		deactivate_time = $8, purge_time = $9
		WHERE id = $1 RETURNING revision`,
		id, t.GetDisplayName(), row.state, row.hostnames, row.labels, row.settings,
		t.GetUpdateTime().AsTime(), row.deactivateTime, row.purgeTime).Scan(&revision)
	if errors.Is(err, sqlstore.ErrNoRows) {
		return ErrNotFound
	}
	if err != nil {
		return fmt.Errorf("update tenant: %w", err)
	}
	if err := tx.clearSideTables(ctx, id); err != nil {
		return err
	}
	if err := tx.writeSideTables(ctx, id, t); err != nil {
		return err
	}
	t.Etag = etag(id, revision)
	return nil
}

func (tx *sqlTx) PurgeTenant(ctx context.Context, id string, now time.Time) (*tenantv1.Tenant, error) {
	// One conditional statement decides the race between purge workers: PostgreSQL
	// re-checks the WHERE clause after waiting for a concurrent purge's row lock, and
	// SQLite runs write transactions one at a time.
	row := tx.q.QueryRow(ctx, `UPDATE tenants SET state = 'DELETED', hostnames = '[]', labels = '{}',
		settings = '{}', revision = revision + 1, update_time = $2
		WHERE id = $1 AND state = 'DEACTIVATED' AND purge_time <= $2
		RETURNING `+tenantColumns, id, now)
	t, err := scanTenant(row)
	if errors.Is(err, sqlstore.ErrNoRows) {
		return nil, ErrNotFound
	}
	if err != nil {
		return nil, err
	}
	if err := tx.clearSideTables(ctx, id); err != nil {
		return nil, err
	}
	return t, nil
}

func (tx *sqlTx) AppendEvent(ctx context.Context, e *tenantv1.TenantEvent) error {
	data, err := protojson.Marshal(e.GetData())
	if err != nil {
		return fmt.Errorf("marshal event data: %w", err)
	}
	// Readers page by seq, so events must commit in seq order: otherwise a reader can see
	// seq n+1, continue after it, and never see seq n committed a moment later. Appending
	// transactions therefore take turns from here until they end. SQLite's write lock
	// already does that; in PostgreSQL this lock does it without blocking readers.
	if tx.dialect == sqlstore.Postgres {
		if _, err := tx.q.Exec(ctx, `LOCK TABLE tenant_events IN EXCLUSIVE MODE`); err != nil {
			return fmt.Errorf("lock events: %w", err)
		}
	}
	_, err = tx.q.Exec(ctx, `INSERT INTO tenant_events (id, tenant_id, type, time, data)
		VALUES ($1, $2, $3, $4, $5)`,
		e.GetId(), TenantID(e.GetSubject()), e.GetType(), e.GetTime().AsTime(), string(data))
	if err != nil {
		return fmt.Errorf("append event: %w", err)
	}
	return nil
}

func (tx *sqlTx) GetRequest(ctx context.Context, principal, requestID string) (*Request, error) {
	r := &Request{Principal: principal, RequestID: requestID}
	err := tx.q.QueryRow(ctx, `SELECT fingerprint, tenant_id, create_time FROM tenant_requests
		WHERE principal = $1 AND request_id = $2`, principal, requestID).
		Scan(&r.Fingerprint, &r.TenantID, &r.CreateTime)
	if errors.Is(err, sqlstore.ErrNoRows) {
		return nil, ErrNotFound
	}
	if err != nil {
		return nil, fmt.Errorf("get request: %w", err)
	}
	return r, nil
}

func (tx *sqlTx) PutRequest(ctx context.Context, r *Request) error {
	_, err := tx.q.Exec(ctx, `INSERT INTO tenant_requests (principal, request_id, fingerprint, tenant_id, create_time)
		VALUES ($1, $2, $3, $4, $5)`, r.Principal, r.RequestID, r.Fingerprint, r.TenantID, r.CreateTime)
	if _, ok := sqlstore.UniqueViolation(err); ok {
		return ErrRequestExists
	}
	if err != nil {
		return fmt.Errorf("put request: %w", err)
	}
	return nil
}

func (tx *sqlTx) clearSideTables(ctx context.Context, id string) error {
	if _, err := tx.q.Exec(ctx, `DELETE FROM tenant_hostnames WHERE tenant_id = $1`, id); err != nil {
		return fmt.Errorf("clear hostnames: %w", err)
	}
	if _, err := tx.q.Exec(ctx, `DELETE FROM tenant_labels WHERE tenant_id = $1`, id); err != nil {
		return fmt.Errorf("clear labels: %w", err)
	}
	return nil
}

func (tx *sqlTx) writeSideTables(ctx context.Context, id string, t *tenantv1.Tenant) error {
	for _, h := range t.GetHostnames() {
		_, err := tx.q.Exec(ctx, `INSERT INTO tenant_hostnames (hostname, tenant_id) VALUES ($1, $2)`, h, id)
		if _, ok := sqlstore.UniqueViolation(err); ok {
			return &HostnameInUseError{Hostname: h}
		}
		if err != nil {
			return fmt.Errorf("insert hostname: %w", err)
		}
	}
	keys := make([]string, 0, len(t.GetLabels()))
	for k := range t.GetLabels() {
		keys = append(keys, k)
	}
	slices.Sort(keys) // a stable order keeps lock order stable between writers
	for _, k := range keys {
		if _, err := tx.q.Exec(ctx, `INSERT INTO tenant_labels (tenant_id, key, value) VALUES ($1, $2, $3)`,
			id, k, t.GetLabels()[k]); err != nil {
			return fmt.Errorf("insert label: %w", err)
		}
	}
	return nil
}

func getTenant(ctx context.Context, q sqlstore.Queryer, id, suffix string) (*tenantv1.Tenant, error) {
	t, err := scanTenant(q.QueryRow(ctx, `SELECT `+tenantColumns+` FROM tenants WHERE id = $1`+suffix, id))
	if errors.Is(err, sqlstore.ErrNoRows) {
		return nil, ErrNotFound
	}
	return t, err
}

// row holds a tenant's columns in their stored form.
type row struct {
	state, hostnames, labels, settings string
	deactivateTime, purgeTime          *time.Time
}

func toRow(t *tenantv1.Tenant) (row, error) {
	hostnames, err := json.Marshal(nonNil(t.GetHostnames()))
	if err != nil {
		return row{}, err
	}
	labels := t.GetLabels()
	if labels == nil {
		labels = map[string]string{}
	}
	labelJSON, err := json.Marshal(labels)
	if err != nil {
		return row{}, err
	}
	settings, err := protojson.Marshal(t.GetSettings())
	if err != nil {
		return row{}, err
	}
	return row{
		state:          StateName(t.GetState()),
		hostnames:      string(hostnames),
		labels:         string(labelJSON),
		settings:       string(settings),
		deactivateTime: optionalTime(t.GetDeactivateTime()),
		purgeTime:      optionalTime(t.GetPurgeTime()),
	}, nil
}

func scanTenant(r sqlstore.Row) (*tenantv1.Tenant, error) {
	var (
		id, displayName, region, state, hostnames, labels, settings string
		revision                                                    int64
		createTime, updateTime                                      time.Time
		deactivateTime, purgeTime                                   *time.Time
	)
	if err := r.Scan(&id, &displayName, &region, &state, &hostnames, &labels, &settings, &revision,
		&createTime, &updateTime, &deactivateTime, &purgeTime); err != nil {
		if errors.Is(err, sqlstore.ErrNoRows) {
			return nil, err
		}
		return nil, fmt.Errorf("scan tenant: %w", err)
	}
	t := &tenantv1.Tenant{
		Name:        TenantName(id),
		DisplayName: displayName,
		Region:      region,
		State:       ParseState(state),
		CreateTime:  timestamppb.New(createTime),
		UpdateTime:  timestamppb.New(updateTime),
		Etag:        etag(id, revision),
		Settings:    &tenantv1.TenantSettings{},
	}
	if deactivateTime != nil {
		t.DeactivateTime = timestamppb.New(*deactivateTime)
	}
	if purgeTime != nil {
		t.PurgeTime = timestamppb.New(*purgeTime)
	}
	if err := json.Unmarshal([]byte(hostnames), &t.Hostnames); err != nil {
		return nil, fmt.Errorf("tenant %s hostnames: %w", id, err)
	}
	if err := json.Unmarshal([]byte(labels), &t.Labels); err != nil {
		return nil, fmt.Errorf("tenant %s labels: %w", id, err)
	}
	if len(t.Labels) == 0 {
		t.Labels = nil
	}
	if err := protojson.Unmarshal([]byte(settings), t.Settings); err != nil {
		return nil, fmt.Errorf("tenant %s settings: %w", id, err)
	}
	return t, nil
}

// etag is opaque to clients: a digest of the tenant's id and revision.
func etag(id string, revision int64) string {
	sum := sha256.Sum256([]byte(id + "\x00" + strconv.FormatInt(revision, 10)))
	return base64.RawURLEncoding.EncodeToString(sum[:9])
}

func newEvent(id, typ string, at time.Time, data *tenantv1.Tenant) *tenantv1.TenantEvent {
	return &tenantv1.TenantEvent{
		Name:        data.GetName() + "/events/" + id,
		Id:          id,
		SpecVersion: "1.0",
		Type:        typ,
		Source:      EventSource,
		Subject:     data.GetName(),
		Time:        timestamppb.New(at),
		Data:        data,
	}
}

// EventSource is the CloudEvents source of tenant events.
const EventSource = "//oriel.dev/tenants"

// NewEvent builds the outbox event of a change of data, of type `dev.oriel.tenant.<verb>`.
func NewEvent(id, verb string, at time.Time, data *tenantv1.Tenant) *tenantv1.TenantEvent {
	return newEvent(id, "dev.oriel.tenant."+verb, at, data)
}

// TenantName returns `tenants/{id}`.
func TenantName(id string) string { return "tenants/" + id }

// TenantID returns the id of `tenants/{id}`.
func TenantID(name string) string { return strings.TrimPrefix(name, "tenants/") }

// StateName is how states are stored and filtered: "ACTIVE", "DEACTIVATED", "DELETED".
func StateName(s tenantv1.Tenant_State) string {
	return strings.TrimPrefix(s.String(), "STATE_")
}

// ParseState reverses StateName; unknown names are STATE_UNSPECIFIED.
func ParseState(name string) tenantv1.Tenant_State {
	return tenantv1.Tenant_State(tenantv1.Tenant_State_value["STATE_"+name])
}

func optionalTime(ts *timestamppb.Timestamp) *time.Time {
	if ts == nil {
		return nil
	}
	t := ts.AsTime()
	return &t
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

func prefixColumns(prefix, columns string) string {
	parts := strings.Split(columns, ",")
	for i, p := range parts {
		parts[i] = prefix + strings.TrimSpace(p)
	}
	return strings.Join(parts, ", ")
}

func fsSub(f fs.FS, dir string) (fs.FS, error) { return fs.Sub(f, dir) }

func must[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}
