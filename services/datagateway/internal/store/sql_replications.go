package store

import (
	"context"
	"errors"
	"fmt"
	"time"

	datagatewayv1 "github.com/oriel-dev/oriel/gen/pb/oriel/datagateway/v1"
	"github.com/oriel-dev/oriel/platform/sqlstore"
)

// ReplicationColumns are the columns ScanReplication reads, in its order (the engine's
// queries use them too).
const ReplicationColumns = `tenant_id, id, display_name, source_connection, target_connection, tables, state,
	deleting, snapshot_done, slot_name, applied_lsn, lag_bytes, lag_seconds, snapshot_rows, rows_applied,
	retained_wal_bytes, last_error, warnings, lease_owner, lease_expire_time, create_time, update_time, etag`

// CreateReplication implements Store.
func (s *SQL) CreateReplication(ctx context.Context, r *Replication) error {
	tables, err := marshalStrings(r.Tables)
	if err != nil {
		return err
	}
	warnings, err := marshalStrings(r.Warnings)
	if err != nil {
		return err
	}
	revision := newRevision()
	err = s.db.ReadWriteTx(ctx, func(ctx context.Context, q sqlstore.Queryer) error {
		// FOR SHARE keeps both connections from being deleted until this commits (see
		// DeleteConnection).
		for _, conn := range []string{r.SourceConnection, r.TargetConnection} {
			ok, err := exists(ctx, q, `SELECT 1 FROM connections WHERE tenant_id = $1 AND id = $2`+s.sql.forShare(), r.Tenant, conn)
			if err != nil {
				return fmt.Errorf("read connection: %w", err)
			}
			if !ok {
				return &MissingError{Name: ConnectionName(r.Tenant, conn)}
			}
		}
		n, err := q.Exec(ctx, `INSERT INTO replications (`+ReplicationColumns+`)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20, $21, $22, $23)
			ON CONFLICT DO NOTHING`,
			r.Tenant, r.ID, r.DisplayName, r.SourceConnection, r.TargetConnection, tables,
			enumName(r.State, "STATE_"), r.Deleting, r.SnapshotDone, r.SlotName, int64(r.AppliedLSN), r.LagBytes,
			r.LagSeconds, r.SnapshotRows, r.RowsApplied, r.RetainedWALBytes, r.LastError, warnings, r.LeaseOwner,
			r.LeaseExpireTime, r.CreateTime, r.UpdateTime, revision)
		if err != nil {
			return fmt.Errorf("insert replication: %w", err)
		}
		if n == 0 {
			// The id or the slot is taken: ON CONFLICT covers both unique keys.
			return ErrAlreadyExists
		}
		return nil
	})
	if err != nil {
		return err
	}
	r.Etag = replicationEtag(r, revision)
	return nil
}

// GetReplication implements Store.
func (s *SQL) GetReplication(ctx context.Context, tenant, id string) (*Replication, error) {
	return getReplication(ctx, s.db, tenant, id, "")
}

func getReplication(ctx context.Context, q sqlstore.Queryer, tenant, id, lock string) (*Replication, error) {
	r, err := ScanReplication(q.QueryRow(ctx, `SELECT `+ReplicationColumns+` FROM replications
		WHERE tenant_id = $1 AND id = $2`+lock, tenant, id))
	if errors.Is(err, sqlstore.ErrNoRows) {
		return nil, ErrNotFound
	}
	return r, err
}

// ListReplications implements Store.
func (s *SQL) ListReplications(ctx context.Context, tenant string, page Page) ([]*Replication, error) {
	if page.Limit <= 0 {
		return nil, errLimit
	}
	rows, err := s.db.Query(ctx, `SELECT `+ReplicationColumns+` FROM replications
		WHERE tenant_id = $1 AND id > $2 ORDER BY id LIMIT $3`, tenant, page.AfterID, page.Limit)
	out, err := collect(rows, err, ScanReplication)
	if err != nil {
		return nil, fmt.Errorf("list replications: %w", err)
	}
	return out, nil
}

// ChangeReplication implements Store.
func (s *SQL) ChangeReplication(ctx context.Context, tenant, id string, now time.Time, change func(r *Replication) error) (*Replication, error) {
	var out *Replication
	err := s.db.ReadWriteTx(ctx, func(ctx context.Context, q sqlstore.Queryer) error {
		r, err := getReplication(ctx, q, tenant, id, s.sql.forUpdate())
		if err != nil {
			return err
		}
		edit := *r
		if err := change(&edit); err != nil {
			return err
		}
		r.State, r.LastError, r.Deleting = edit.State, edit.LastError, edit.Deleting
		revision := newRevision()
		if _, err := q.Exec(ctx, `UPDATE replications SET state = $3, last_error = $4, deleting = $5,
			update_time = $6, etag = $7 WHERE tenant_id = $1 AND id = $2`,
			tenant, id, enumName(r.State, "STATE_"), r.LastError, r.Deleting, now, revision); err != nil {
			return fmt.Errorf("update replication: %w", err)
		}
		r.UpdateTime = now
		r.Etag = replicationEtag(r, revision)
		out = r
		return nil
	})
	return out, err
}

// ScanReplication reads a row of ReplicationColumns.
func ScanReplication(row sqlstore.Row) (*Replication, error) {
	r := &Replication{}
	var (
		tables, state, warnings, revision string
		appliedLSN                        int64
	)
	if err := row.Scan(&r.Tenant, &r.ID, &r.DisplayName, &r.SourceConnection, &r.TargetConnection, &tables, &state,
		&r.Deleting, &r.SnapshotDone, &r.SlotName, &appliedLSN, &r.LagBytes, &r.LagSeconds, &r.SnapshotRows,
		&r.RowsApplied, &r.RetainedWALBytes, &r.LastError, &warnings, &r.LeaseOwner, &r.LeaseExpireTime,
		&r.CreateTime, &r.UpdateTime, &revision); err != nil {
		if errors.Is(err, sqlstore.ErrNoRows) {
			return nil, err
		}
		return nil, fmt.Errorf("scan replication: %w", err)
	}
	r.AppliedLSN = uint64(appliedLSN)
	r.State = parseEnum[datagatewayv1.Replication_State](datagatewayv1.Replication_State_value, "STATE_", state)
	var err error
	if r.Tables, err = unmarshalStrings(tables); err != nil {
		return nil, fmt.Errorf("replication tables: %w", err)
	}
	if r.Warnings, err = unmarshalStrings(warnings); err != nil {
		return nil, fmt.Errorf("replication warnings: %w", err)
	}
	r.Etag = replicationEtag(r, revision)
	return r, nil
}

// replicationEtag is the API's etag of a replication: a digest of its name and the row's
// etag column, which every write of something the API shows sets to a new revision
// (ChangeReplication here; Report, Fail, Release and Measure in the engine's methods).
func replicationEtag(r *Replication, revision string) string {
	return digest(r.Name(), revision)
}
