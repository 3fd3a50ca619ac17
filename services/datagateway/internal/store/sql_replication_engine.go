package store

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	datagatewayv1 "github.com/oriel-dev/oriel/gen/pb/oriel/datagateway/v1"
	"github.com/oriel-dev/oriel/platform/sqlstore"
	"github.com/oriel-dev/oriel/services/datagateway/internal/replication"
)

// The replication engine's side of the replications table: leases, progress, failure and
// the end of a deletion. Leases are judged by the store's clock (s.now), the same on
// every replica that shares the database only as far as their clocks agree; the engine
// stops a run well before its lease could have expired on another replica's clock.

var _ replication.Store = (*SQL)(nil)

// claimable is a replication a worker should run: being deleted, or neither paused nor
// failed; and not leased (its lease expired, or it was released and its retry time came).
const claimable = `(deleting OR state NOT IN ('PAUSED', 'FAILED'))
	AND (lease_expire_time IS NULL OR lease_expire_time <= $1)`

// claimCandidates is how many replications Claim tries before it reports none: others
// may be claiming the same ones at the same time.
const claimCandidates = 8

// Claim implements replication.Store. Candidates are read without locks and taken with a
// conditional UPDATE, so concurrent claimers never wait for each other and never both win.
func (s *SQL) Claim(ctx context.Context, owner string, lease time.Duration) (*replication.Job, error) {
	now := s.now()
	rows, err := s.db.Query(ctx, `SELECT tenant_id, id FROM replications WHERE `+claimable+`
		ORDER BY lease_expire_time IS NOT NULL, lease_expire_time, tenant_id, id LIMIT $2`, now, claimCandidates)
	type key struct{ tenant, id string }
	keys, err := collect(rows, err, func(r sqlstore.Row) (key, error) {
		var k key
		err := r.Scan(&k.tenant, &k.id)
		return k, err
	})
	if err != nil {
		return nil, fmt.Errorf("find replications to claim: %w", err)
	}
	for _, k := range keys {
		n, err := s.db.Exec(ctx, `UPDATE replications SET lease_owner = $2, lease_expire_time = $3
			WHERE `+claimable+` AND tenant_id = $4 AND id = $5`, now, owner, now.Add(lease), k.tenant, k.id)
		if err != nil {
			return nil, fmt.Errorf("claim replication: %w", err)
		}
		if n == 0 {
			continue // taken by another replica since we looked
		}
		r, err := getReplication(ctx, s.db, k.tenant, k.id, "")
		if errors.Is(err, ErrNotFound) {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("read claimed replication: %w", err)
		}
		return &replication.Job{
			Tenant:           r.Tenant,
			ID:               r.ID,
			SourceConnection: r.SourceConnection,
			TargetConnection: r.TargetConnection,
			Tables:           r.Tables,
			State:            r.State,
			Deleting:         r.Deleting,
			SlotName:         r.SlotName,
		}, nil
	}
	return nil, nil
}

// Renew implements replication.Store.
func (s *SQL) Renew(ctx context.Context, tenant, id, owner string, lease time.Duration) (replication.Control, error) {
	var (
		state    string
		deleting bool
	)
	err := s.db.QueryRow(ctx, `UPDATE replications SET lease_expire_time = $4
		WHERE tenant_id = $1 AND id = $2 AND lease_owner = $3 RETURNING state, deleting`,
		tenant, id, owner, s.now().Add(lease)).Scan(&state, &deleting)
	if errors.Is(err, sqlstore.ErrNoRows) {
		return replication.Control{}, replication.ErrLeaseLost
	}
	if err != nil {
		return replication.Control{}, fmt.Errorf("renew replication lease: %w", err)
	}
	return replication.Control{Paused: state != "SNAPSHOTTING" && state != "STREAMING", Deleting: deleting}, nil
}

// Report implements replication.Store. A report that changes nothing the API shows is not
// written, so the etag, and what WatchReplication sends, change only with the status.
func (s *SQL) Report(ctx context.Context, tenant, id, owner string, st replication.Status) error {
	return s.db.ReadWriteTx(ctx, func(ctx context.Context, q sqlstore.Queryer) error {
		r, err := s.leased(ctx, q, tenant, id, owner)
		if err != nil {
			return err
		}
		state := r.State
		if state != datagatewayv1.Replication_STATE_PAUSED && state != datagatewayv1.Replication_STATE_FAILED {
			state = st.State
		}
		snapshotDone := st.State == datagatewayv1.Replication_STATE_STREAMING
		if state == r.State && snapshotDone == r.SnapshotDone && st.SlotName == r.SlotName &&
			st.AppliedLSN == r.AppliedLSN && st.LagBytes == r.LagBytes && st.LagSeconds == r.LagSeconds &&
			st.SnapshotRows == r.SnapshotRows && st.RowsApplied == r.RowsApplied &&
			st.RetainedWALBytes == r.RetainedWALBytes && st.LastError == r.LastError &&
			slices.Equal(st.Warnings, r.Warnings) {
			return nil
		}
		warnings, err := marshalStrings(st.Warnings)
		if err != nil {
			return err
		}
		slot := st.SlotName
		if slot == "" {
			slot = r.SlotName
		}
		_, err = q.Exec(ctx, `UPDATE replications SET state = $3, snapshot_done = $4, slot_name = $5,
			applied_lsn = $6, lag_bytes = $7, lag_seconds = $8, snapshot_rows = $9, rows_applied = $10,
			retained_wal_bytes = $11, last_error = $12, warnings = $13, update_time = $14, etag = $15
			WHERE tenant_id = $1 AND id = $2`,
			tenant, id, enumName(state, "STATE_"), snapshotDone, slot, int64(st.AppliedLSN), st.LagBytes,
			st.LagSeconds, st.SnapshotRows, st.RowsApplied, st.RetainedWALBytes, st.LastError, warnings,
			s.now(), newRevision())
		if err != nil {
			return fmt.Errorf("report replication status: %w", err)
		}
		return nil
	})
}

// Fail implements replication.Store.
func (s *SQL) Fail(ctx context.Context, tenant, id, owner, message string) error {
	n, err := s.db.Exec(ctx, `UPDATE replications SET state = 'FAILED', last_error = $4, lag_seconds = 0,
		lease_owner = '', lease_expire_time = NULL, update_time = $5, etag = $6
		WHERE tenant_id = $1 AND id = $2 AND lease_owner = $3`,
		tenant, id, owner, message, s.now(), newRevision())
	if err != nil {
		return fmt.Errorf("fail replication: %w", err)
	}
	if n == 0 {
		return replication.ErrLeaseLost
	}
	return nil
}

// Release implements replication.Store.
func (s *SQL) Release(ctx context.Context, tenant, id, owner string, retryAt time.Time, lastError string) error {
	var (
		n   int64
		err error
	)
	if lastError == "" {
		n, err = s.db.Exec(ctx, `UPDATE replications SET lease_owner = '', lease_expire_time = $4
			WHERE tenant_id = $1 AND id = $2 AND lease_owner = $3`, tenant, id, owner, retryAt)
	} else {
		n, err = s.db.Exec(ctx, `UPDATE replications SET lease_owner = '', lease_expire_time = $4,
			last_error = $5, update_time = $6, etag = $7
			WHERE tenant_id = $1 AND id = $2 AND lease_owner = $3`,
			tenant, id, owner, retryAt, lastError, s.now(), newRevision())
	}
	if err != nil {
		return fmt.Errorf("release replication: %w", err)
	}
	if n == 0 {
		return replication.ErrLeaseLost
	}
	return nil
}

// FinishDelete implements replication.Store.
func (s *SQL) FinishDelete(ctx context.Context, tenant, id, owner string) error {
	n, err := s.db.Exec(ctx, `DELETE FROM replications
		WHERE tenant_id = $1 AND id = $2 AND lease_owner = $3 AND deleting`, tenant, id, owner)
	if err != nil {
		return fmt.Errorf("delete replication: %w", err)
	}
	if n == 0 {
		return replication.ErrLeaseLost
	}
	return nil
}

// leased reads a replication, locked, if owner holds its lease.
func (s *SQL) leased(ctx context.Context, q sqlstore.Queryer, tenant, id, owner string) (*Replication, error) {
	r, err := getReplication(ctx, q, tenant, id, s.sql.forUpdate())
	if errors.Is(err, ErrNotFound) {
		return nil, replication.ErrLeaseLost
	}
	if err != nil {
		return nil, err
	}
	if r.LeaseOwner != owner {
		return nil, replication.ErrLeaseLost
	}
	return r, nil
}

// idle is a replication nobody streams whose slot may hold WAL: paused or failed, not
// being deleted, not leased. $1 is now.
const idle = `state IN ('PAUSED', 'FAILED') AND NOT deleting
	AND (lease_owner = '' OR lease_expire_time IS NULL OR lease_expire_time <= $1)`

// Idle implements replication.Store.
func (s *SQL) Idle(ctx context.Context, afterTenant, afterID string, limit int) ([]*replication.Job, error) {
	if limit <= 0 {
		return nil, errLimit
	}
	rows, err := s.db.Query(ctx, `SELECT `+ReplicationColumns+` FROM replications WHERE `+idle+`
		AND (tenant_id > $2 OR (tenant_id = $2 AND id > $3)) ORDER BY tenant_id, id LIMIT $4`,
		s.now(), afterTenant, afterID, limit)
	out, err := collect(rows, err, func(row sqlstore.Row) (*replication.Job, error) {
		r, err := ScanReplication(row)
		if err != nil {
			return nil, err
		}
		return &replication.Job{
			Tenant:           r.Tenant,
			ID:               r.ID,
			SourceConnection: r.SourceConnection,
			TargetConnection: r.TargetConnection,
			Tables:           r.Tables,
			State:            r.State,
			Deleting:         r.Deleting,
			SlotName:         r.SlotName,
		}, nil
	})
	if err != nil {
		return nil, fmt.Errorf("list idle replications: %w", err)
	}
	return out, nil
}

// Measure implements replication.Store. Like Report, a measurement that changes nothing
// the API shows is not written; one that does changes the etag and update time, so
// WatchReplication sends it.
func (s *SQL) Measure(ctx context.Context, tenant, id string, m replication.Measurement) error {
	return s.db.ReadWriteTx(ctx, func(ctx context.Context, q sqlstore.Queryer) error {
		r, err := getReplication(ctx, q, tenant, id, s.sql.forUpdate())
		if errors.Is(err, ErrNotFound) {
			return nil
		}
		if err != nil {
			return err
		}
		now := s.now()
		if r.Deleting || (r.State != datagatewayv1.Replication_STATE_PAUSED && r.State != datagatewayv1.Replication_STATE_FAILED) ||
			(r.LeaseOwner != "" && r.LeaseExpireTime != nil && r.LeaseExpireTime.After(now)) {
			return nil // a worker has it, or will: its reports are the ones that count
		}
		warnings := slices.DeleteFunc(slices.Clone(r.Warnings), replication.IsWALWarning)
		if m.WALWarning != "" {
			warnings = append(warnings, m.WALWarning)
		}
		if m.LagBytes == r.LagBytes && m.RetainedWALBytes == r.RetainedWALBytes && slices.Equal(warnings, r.Warnings) {
			return nil
		}
		raw, err := marshalStrings(warnings)
		if err != nil {
			return err
		}
		// The row is locked (PostgreSQL) or the transaction is the only writer (SQLite);
		// the conditions repeat the checks above all the same.
		_, err = q.Exec(ctx, `UPDATE replications SET lag_bytes = $3, retained_wal_bytes = $4, warnings = $5,
			update_time = $6, etag = $7
			WHERE tenant_id = $1 AND id = $2 AND state IN ('PAUSED', 'FAILED') AND NOT deleting
				AND (lease_owner = '' OR lease_expire_time IS NULL OR lease_expire_time <= $6)`,
			tenant, id, m.LagBytes, m.RetainedWALBytes, raw, now, newRevision())
		if err != nil {
			return fmt.Errorf("record replication slot measurement: %w", err)
		}
		return nil
	})
}
