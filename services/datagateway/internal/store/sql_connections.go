package store

import (
	"context"
	"errors"
	"fmt"
	"time"

	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	datagatewayv1 "github.com/oriel-dev/oriel/gen/pb/oriel/datagateway/v1"
	"github.com/oriel-dev/oriel/platform/sqlstore"
)

// The kinds of connection, as stored and as messages name them.
const (
	KindPostgres = "postgres"
	KindMySQL    = "mysql"
	KindHTTP     = "http"
)

// Kind is the kind of c's parameters: KindPostgres, KindMySQL, KindHTTP, or "" for none.
// The validation rules allow exactly one of them.
func Kind(c *datagatewayv1.Connection) string {
	switch {
	case c.GetPostgres() != nil:
		return KindPostgres
	case c.GetMysql() != nil:
		return KindMySQL
	case c.GetHttp() != nil:
		return KindHTTP
	}
	return ""
}

// marshalParams returns the kind and protojson of c's parameters.
func marshalParams(c *datagatewayv1.Connection) (kind, params string, err error) {
	var m proto.Message
	switch Kind(c) {
	case KindPostgres:
		m = c.GetPostgres()
	case KindMySQL:
		m = c.GetMysql()
	case KindHTTP:
		m = c.GetHttp()
	default:
		return "", "", errors.New("store: a connection needs postgres, mysql or http parameters")
	}
	b, err := protojson.Marshal(m)
	if err != nil {
		return "", "", fmt.Errorf("marshal connection params: %w", err)
	}
	return Kind(c), string(b), nil
}

// unmarshalParams sets c's parameters from what marshalParams stored.
func unmarshalParams(c *datagatewayv1.Connection, kind, params string) error {
	var m proto.Message
	switch kind {
	case KindPostgres:
		c.Postgres = &datagatewayv1.PostgresParams{}
		m = c.Postgres
	case KindMySQL:
		c.Mysql = &datagatewayv1.MysqlParams{}
		m = c.Mysql
	case KindHTTP:
		c.Http = &datagatewayv1.HttpParams{}
		m = c.Http
	default:
		return fmt.Errorf("store: connection of unknown kind %q", kind)
	}
	if err := protojson.Unmarshal([]byte(params), m); err != nil {
		return fmt.Errorf("unmarshal connection params: %w", err)
	}
	return nil
}

const connectionColumns = `id, display_name, kind, params, agent_pool, credentials_key_id, credentials_ciphertext,
	revision, create_time, update_time`

// CreateConnection implements Store.
func (s *SQL) CreateConnection(ctx context.Context, tenant, id string, c *datagatewayv1.Connection, creds *Sealed) error {
	kind, params, err := marshalParams(c)
	if err != nil {
		return err
	}
	keyID, ciphertext := sealedColumns(creds)
	n, err := s.db.Exec(ctx, `INSERT INTO connections (tenant_id, `+connectionColumns+`)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, 1, $9, $10) ON CONFLICT DO NOTHING`,
		tenant, id, c.GetDisplayName(), kind, params, c.GetAgentPool(), keyID, ciphertext,
		c.GetCreateTime().AsTime(), c.GetUpdateTime().AsTime())
	if err != nil {
		return fmt.Errorf("insert connection: %w", err)
	}
	if n == 0 {
		return ErrAlreadyExists
	}
	c.Etag = etag(ConnectionName(tenant, id), 1)
	c.HasCredentials = creds != nil
	c.Credentials = nil
	return nil
}

// sealedColumns are the stored form of creds: NULLs for none.
func sealedColumns(creds *Sealed) (keyID *string, ciphertext []byte) {
	if creds == nil {
		return nil, nil
	}
	return &creds.KeyID, creds.Ciphertext
}

// GetConnection implements Store.
func (s *SQL) GetConnection(ctx context.Context, tenant, id string) (*Connection, error) {
	c, err := scanConnection(tenant, s.db.QueryRow(ctx, `SELECT `+connectionColumns+` FROM connections
		WHERE tenant_id = $1 AND id = $2`, tenant, id))
	if errors.Is(err, sqlstore.ErrNoRows) {
		return nil, ErrNotFound
	}
	return c, err
}

// ListConnections implements Store.
func (s *SQL) ListConnections(ctx context.Context, tenant string, page Page) ([]*datagatewayv1.Connection, error) {
	if page.Limit <= 0 {
		return nil, errLimit
	}
	rows, err := s.db.Query(ctx, `SELECT `+connectionColumns+` FROM connections
		WHERE tenant_id = $1 AND id > $2 ORDER BY id LIMIT $3`, tenant, page.AfterID, page.Limit)
	out, err := collect(rows, err, func(r sqlstore.Row) (*datagatewayv1.Connection, error) {
		c, err := scanConnection(tenant, r)
		if err != nil {
			return nil, err
		}
		return c.Connection, nil
	})
	if err != nil {
		return nil, fmt.Errorf("list connections: %w", err)
	}
	return out, nil
}

// UpdateConnection implements Store.
func (s *SQL) UpdateConnection(ctx context.Context, tenant, id, wantEtag string, c *datagatewayv1.Connection, setCreds bool, creds *Sealed) error {
	kind, params, err := marshalParams(c)
	if err != nil {
		return err
	}
	return s.db.ReadWriteTx(ctx, func(ctx context.Context, q sqlstore.Queryer) error {
		var (
			curKind   string
			revision  int64
			hasSealed bool
		)
		err := q.QueryRow(ctx, `SELECT kind, revision, credentials_key_id IS NOT NULL FROM connections
			WHERE tenant_id = $1 AND id = $2`+s.sql.forUpdate(), tenant, id).Scan(&curKind, &revision, &hasSealed)
		if errors.Is(err, sqlstore.ErrNoRows) {
			return ErrNotFound
		}
		if err != nil {
			return fmt.Errorf("read connection: %w", err)
		}
		name := ConnectionName(tenant, id)
		if wantEtag != "" && wantEtag != etag(name, revision) {
			return ErrEtagMismatch
		}
		if kind != curKind {
			return fmt.Errorf("store: connection %s is %s, not %s: the kind never changes", name, curKind, kind)
		}
		revision++
		if setCreds {
			keyID, ciphertext := sealedColumns(creds)
			_, err = q.Exec(ctx, `UPDATE connections SET display_name = $3, params = $4, agent_pool = $5,
				credentials_key_id = $6, credentials_ciphertext = $7, update_time = $8, revision = $9
				WHERE tenant_id = $1 AND id = $2`,
				tenant, id, c.GetDisplayName(), params, c.GetAgentPool(), keyID, ciphertext, c.GetUpdateTime().AsTime(), revision)
			hasSealed = creds != nil
		} else {
			_, err = q.Exec(ctx, `UPDATE connections SET display_name = $3, params = $4, agent_pool = $5,
				update_time = $6, revision = $7 WHERE tenant_id = $1 AND id = $2`,
				tenant, id, c.GetDisplayName(), params, c.GetAgentPool(), c.GetUpdateTime().AsTime(), revision)
		}
		if err != nil {
			return fmt.Errorf("update connection: %w", err)
		}
		c.Etag = etag(name, revision)
		c.HasCredentials = hasSealed
		c.Credentials = nil
		return nil
	})
}

// DeleteConnection implements Store.
func (s *SQL) DeleteConnection(ctx context.Context, tenant, id, wantEtag string) error {
	return s.db.ReadWriteTx(ctx, func(ctx context.Context, q sqlstore.Queryer) error {
		// The row lock orders this against CreateReplication, which reads the connections
		// it names FOR SHARE: either the replication exists by the time this looks for
		// users, or the replication finds the connection gone.
		var revision int64
		err := q.QueryRow(ctx, `SELECT revision FROM connections WHERE tenant_id = $1 AND id = $2`+s.sql.forUpdate(),
			tenant, id).Scan(&revision)
		if errors.Is(err, sqlstore.ErrNoRows) {
			return ErrNotFound
		}
		if err != nil {
			return fmt.Errorf("read connection: %w", err)
		}
		if wantEtag != "" && wantEtag != etag(ConnectionName(tenant, id), revision) {
			return ErrEtagMismatch
		}
		var user string
		err = q.QueryRow(ctx, `SELECT id FROM replications WHERE tenant_id = $1
			AND (source_connection = $2 OR target_connection = $2) ORDER BY id LIMIT 1`, tenant, id).Scan(&user)
		switch {
		case err == nil:
			return &InUseError{UsedBy: ReplicationName(tenant, user)}
		case !errors.Is(err, sqlstore.ErrNoRows):
			return fmt.Errorf("look for replications of connection: %w", err)
		}
		if _, err := q.Exec(ctx, `DELETE FROM connections WHERE tenant_id = $1 AND id = $2`, tenant, id); err != nil {
			return fmt.Errorf("delete connection: %w", err)
		}
		return nil
	})
}

func scanConnection(tenant string, r sqlstore.Row) (*Connection, error) {
	var (
		id, displayName, kind, params, pool string
		keyID                               *string
		ciphertext                          []byte
		revision                            int64
		createTime, updateTime              time.Time
	)
	if err := r.Scan(&id, &displayName, &kind, &params, &pool, &keyID, &ciphertext, &revision, &createTime, &updateTime); err != nil {
		if errors.Is(err, sqlstore.ErrNoRows) {
			return nil, err
		}
		return nil, fmt.Errorf("scan connection: %w", err)
	}
	name := ConnectionName(tenant, id)
	c := &datagatewayv1.Connection{
		Name:           name,
		DisplayName:    displayName,
		AgentPool:      pool,
		HasCredentials: keyID != nil,
		CreateTime:     timestamppb.New(createTime),
		UpdateTime:     timestamppb.New(updateTime),
		Etag:           etag(name, revision),
	}
	if err := unmarshalParams(c, kind, params); err != nil {
		return nil, err
	}
	out := &Connection{Connection: c}
	if keyID != nil {
		out.Credentials = &Sealed{KeyID: *keyID, Ciphertext: ciphertext}
	}
	return out, nil
}
