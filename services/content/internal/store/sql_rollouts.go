package store

import (
	"context"
	"errors"
	"fmt"
	"time"

	"google.golang.org/protobuf/proto"

	contentv1 "github.com/oriel-dev/oriel/gen/pb/oriel/content/v1"
	"github.com/oriel-dev/oriel/platform/sqlstore"
)

// ---- rollouts ----

const rolloutColumns = `id, spec, state, creator, create_time, update_time, end_time`

// claimableStates are the states in which a rollout needs a worker.
const claimableStates = `('PENDING', 'RUNNING', 'CANCELLING', 'ROLLING_BACK')`

// targetBatch is how many targets one INSERT writes: few round trips for thousands of
// tenants, far below either database's limit on parameters.
const targetBatch = 500

func (s *sqlStore) GetRollout(ctx context.Context, id string) (*contentv1.Rollout, error) {
	return getRollout(ctx, s.db, id, "")
}

func getRollout(ctx context.Context, q sqlstore.Queryer, id, lock string) (*contentv1.Rollout, error) {
	r, err := scanRollout(q.QueryRow(ctx, `SELECT `+rolloutColumns+` FROM rollouts WHERE id = $1`+lock, id))
	if errors.Is(err, sqlstore.ErrNoRows) {
		return nil, ErrNotFound
	}
	if err != nil {
		return nil, err
	}
	progress, err := countProgress(ctx, q, []string{id})
	if err != nil {
		return nil, err
	}
	r.Progress = progress[id]
	return r, nil
}

func (s *sqlStore) ListRollouts(ctx context.Context, page Page) ([]*contentv1.Rollout, error) {
	if page.Limit <= 0 {
		return nil, errLimit
	}
	// Newest first by creation; a page after a rollout holds those created before it.
	rows, err := s.db.Query(ctx, `SELECT `+rolloutColumns+` FROM rollouts
		WHERE $1 = '' OR seq < (SELECT seq FROM rollouts WHERE id = $1)
		ORDER BY seq DESC LIMIT $2`, page.AfterID, page.Limit)
	out, err := collect(rows, err, scanRollout)
	if err != nil {
		return nil, fmt.Errorf("list rollouts: %w", err)
	}
	if len(out) == 0 {
		return nil, nil
	}
	ids := make([]string, len(out))
	for i, r := range out {
		ids[i] = lastSegment(r.GetName())
	}
	progress, err := countProgress(ctx, s.db, ids)
	if err != nil {
		return nil, err
	}
	for i, r := range out {
		r.Progress = progress[ids[i]]
	}
	return out, nil
}

func (tx *sqlTx) CreateRollout(ctx context.Context, id string, r *contentv1.Rollout, targets []*Target) error {
	seen := make(map[string]bool, len(targets))
	for _, t := range targets {
		if seen[t.Tenant] {
			return fmt.Errorf("store: rollout %s targets tenant %s twice", id, t.Tenant)
		}
		seen[t.Tenant] = true
	}
	spec, err := marshalProto(rolloutSpec(r))
	if err != nil {
		return err
	}
	createTime := r.GetCreateTime().AsTime()
	updateTime := createTime
	if r.GetUpdateTime() != nil {
		updateTime = r.GetUpdateTime().AsTime()
	}
	n, err := tx.q.Exec(ctx, `INSERT INTO rollouts (id, template_version, spec, state, creator, create_time, update_time)
		VALUES ($1, $2, $3, 'PENDING', $4, $5, $6) ON CONFLICT DO NOTHING`,
		id, r.GetTemplateVersion(), *spec, r.GetCreator(), createTime, updateTime)
	if err != nil {
		return fmt.Errorf("insert rollout: %w", err)
	}
	if n == 0 {
		return ErrAlreadyExists
	}
	for start := 0; start < len(targets); start += targetBatch {
		batch := targets[start:min(start+targetBatch, len(targets))]
		a := args{}
		query := `INSERT INTO rollout_targets (rollout_id, tenant_id, wave, status, reason, app_id,
			previous_revision, applied_revision, update_time) VALUES `
		for i, t := range batch {
			if i > 0 {
				query += ", "
			}
			query += "(" + a.add(id) + ", " + a.add(t.Tenant) + ", " + a.add(t.Wave) + ", 'PENDING', " +
				a.add(t.Reason) + ", " + a.add(t.App) + ", " + a.add(t.PreviousRevision) + ", " +
				a.add(t.AppliedRevision) + ", " + a.add(createTime) + ")"
		}
		if _, err := tx.q.Exec(ctx, query, a...); err != nil {
			return fmt.Errorf("insert rollout targets: %w", err)
		}
	}
	for _, t := range targets {
		t.Rollout, t.Status, t.UpdateTime = id, contentv1.RolloutTarget_STATUS_PENDING, createTime
	}
	// r is now the rollout as GetRollout reads it back.
	r.State, r.EndTime, r.UpdateTime = contentv1.Rollout_STATE_PENDING, nil, ts(updateTime)
	r.Progress = &contentv1.Progress{Total: int32(len(targets)), Pending: int32(len(targets))}
	return nil
}

func (tx *sqlTx) TransitionRollout(ctx context.Context, id string, from []contentv1.Rollout_State, to contentv1.Rollout_State, now time.Time, end *time.Time) (*contentv1.Rollout, error) {
	if len(from) > 0 {
		a := args{id, enumName(to, "STATE_"), now, end}
		names := make([]string, len(from))
		for i, f := range from {
			names[i] = enumName(f, "STATE_")
		}
		// One conditional statement: PostgreSQL re-checks the state after waiting for a
		// concurrent transition's lock, so of two racing transitions one finds it moved.
		n, err := tx.q.Exec(ctx, `UPDATE rollouts SET state = $2, update_time = $3, end_time = COALESCE($4, end_time)
			WHERE id = $1 AND state `+a.in(names), a...)
		if err != nil {
			return nil, fmt.Errorf("transition rollout: %w", err)
		}
		if n == 1 {
			return getRollout(ctx, tx.q, id, "")
		}
	}
	// Nothing moved: either there is no such rollout, or it is in another state.
	if _, err := getRollout(ctx, tx.q, id, tx.sql.forUpdate()); err != nil {
		return nil, err
	}
	return nil, ErrStateConflict
}

// rolloutSpec is what the caller asked of r: everything but its name and output-only fields,
// which have columns of their own or are computed.
func rolloutSpec(r *contentv1.Rollout) *contentv1.Rollout {
	spec := proto.Clone(r).(*contentv1.Rollout)
	spec.Name, spec.State, spec.Progress, spec.Creator = "", contentv1.Rollout_STATE_UNSPECIFIED, nil, ""
	spec.CreateTime, spec.UpdateTime, spec.EndTime = nil, nil, nil
	return spec
}

func scanRollout(r sqlstore.Row) (*contentv1.Rollout, error) {
	var (
		id, spec, state, creator string
		createTime, updateTime   time.Time
		endTime                  *time.Time
	)
	if err := r.Scan(&id, &spec, &state, &creator, &createTime, &updateTime, &endTime); err != nil {
		if errors.Is(err, sqlstore.ErrNoRows) {
			return nil, err
		}
		return nil, fmt.Errorf("scan rollout: %w", err)
	}
	out := &contentv1.Rollout{}
	if _, err := unmarshalProto(&spec, out); err != nil {
		return nil, fmt.Errorf("rollout %s: %w", id, err)
	}
	out.Name = RolloutName(id)
	out.State = parseEnum[contentv1.Rollout_State](contentv1.Rollout_State_value, "STATE_", state)
	out.Creator = creator
	out.CreateTime = ts(createTime)
	out.UpdateTime = ts(updateTime)
	out.EndTime = optionalTS(endTime)
	return out, nil
}

// countProgress counts the targets of each rollout of ids by status.
func countProgress(ctx context.Context, q sqlstore.Queryer, ids []string) (map[string]*contentv1.Progress, error) {
	out := make(map[string]*contentv1.Progress, len(ids))
	for _, id := range ids {
		out[id] = &contentv1.Progress{}
	}
	a := args{}
	rows, err := q.Query(ctx, `SELECT rollout_id, status, COUNT(*) FROM rollout_targets
		WHERE rollout_id `+a.in(ids)+` GROUP BY rollout_id, status`, a...)
	type count struct {
		rollout string
		status  contentv1.RolloutTarget_Status
		n       int32
	}
	counts, err := collect(rows, err, func(r sqlstore.Row) (count, error) {
		var (
			c      count
			status string
		)
		if err := r.Scan(&c.rollout, &status, &c.n); err != nil {
			return count{}, err
		}
		c.status = parseEnum[contentv1.RolloutTarget_Status](contentv1.RolloutTarget_Status_value, "STATUS_", status)
		return c, nil
	})
	if err != nil {
		return nil, fmt.Errorf("count rollout progress: %w", err)
	}
	for _, c := range counts {
		p := out[c.rollout]
		p.Total += c.n
		switch c.status {
		case contentv1.RolloutTarget_STATUS_PENDING:
			p.Pending += c.n
		case contentv1.RolloutTarget_STATUS_APPLYING:
			p.Applying += c.n
		case contentv1.RolloutTarget_STATUS_SUCCEEDED:
			p.Succeeded += c.n
		case contentv1.RolloutTarget_STATUS_FAILED:
			p.Failed += c.n
		case contentv1.RolloutTarget_STATUS_SKIPPED:
			p.Skipped += c.n
		case contentv1.RolloutTarget_STATUS_CANCELLED:
			p.Cancelled += c.n
		case contentv1.RolloutTarget_STATUS_ROLLED_BACK:
			p.RolledBack += c.n
		}
	}
	return out, nil
}

// ---- leases ----

func (s *sqlStore) ClaimRollout(ctx context.Context, owner string, now, until time.Time) (*Lease, error) {
	var lease *Lease
	err := s.db.ReadWriteTx(ctx, func(ctx context.Context, q sqlstore.Queryer) error {
		// One statement picks and takes the rollout. In PostgreSQL the subquery locks the
		// row it picks and skips rows other claimers hold, and re-checks the lease of a row
		// a claimer took meanwhile, so two claimers never get one rollout and neither waits;
		// in SQLite the write lock already makes claimers take turns.
		var id string
		err := q.QueryRow(ctx, `UPDATE rollouts SET lease_owner = $1, lease_until = $3
			WHERE id = (SELECT id FROM rollouts
				WHERE state IN `+claimableStates+` AND (lease_until IS NULL OR lease_until <= $2)
				ORDER BY seq LIMIT 1`+s.sql.skipLocked()+`)
			RETURNING id`, owner, now, until).Scan(&id)
		if errors.Is(err, sqlstore.ErrNoRows) {
			return ErrNotFound
		}
		if err != nil {
			return fmt.Errorf("claim rollout: %w", err)
		}
		r, err := getRollout(ctx, q, id, "")
		if err != nil {
			return err
		}
		lease = &Lease{Rollout: r, Owner: owner, Until: until}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return lease, nil
}

func (s *sqlStore) RenewLease(ctx context.Context, rollout, owner string, until time.Time) error {
	n, err := s.db.Exec(ctx, `UPDATE rollouts SET lease_until = $3 WHERE id = $1 AND lease_owner = $2`,
		rollout, owner, until)
	if err != nil {
		return fmt.Errorf("renew lease: %w", err)
	}
	if n == 0 {
		return ErrLeaseLost
	}
	return nil
}

func (s *sqlStore) ReleaseLease(ctx context.Context, rollout, owner string) error {
	n, err := s.db.Exec(ctx, `UPDATE rollouts SET lease_owner = NULL, lease_until = NULL
		WHERE id = $1 AND lease_owner = $2`, rollout, owner)
	if err != nil {
		return fmt.Errorf("release lease: %w", err)
	}
	if n == 0 {
		return ErrLeaseLost
	}
	return nil
}

// ---- targets ----

const targetColumns = `rollout_id, tenant_id, wave, status, reason, app_id, previous_revision,
	applied_revision, update_time`

func (s *sqlStore) ListTargets(ctx context.Context, rollout string, status contentv1.RolloutTarget_Status, page Page) ([]*Target, error) {
	if page.Limit <= 0 {
		return nil, errLimit
	}
	a := args{rollout, page.AfterID}
	query := `SELECT ` + targetColumns + ` FROM rollout_targets WHERE rollout_id = $1 AND tenant_id > $2`
	if status != contentv1.RolloutTarget_STATUS_UNSPECIFIED {
		query += ` AND status = ` + a.add(enumName(status, "STATUS_"))
	}
	query += ` ORDER BY tenant_id LIMIT ` + a.add(page.Limit)
	rows, err := s.db.Query(ctx, query, a...)
	out, err := collect(rows, err, scanTarget)
	if err != nil {
		return nil, fmt.Errorf("list rollout targets: %w", err)
	}
	if len(out) == 0 {
		ok, err := exists(ctx, s.db, `SELECT 1 FROM rollouts WHERE id = $1`, rollout)
		if err != nil {
			return nil, fmt.Errorf("read rollout: %w", err)
		}
		if !ok {
			return nil, ErrNotFound
		}
	}
	return out, nil
}

func (tx *sqlTx) NextTargets(ctx context.Context, rollout string, status contentv1.RolloutTarget_Status, limit int) ([]*Target, error) {
	if limit <= 0 {
		return nil, errLimit
	}
	// Skipping locked rows lets workers deploy one rollout in parallel, each transaction
	// taking targets no other holds; a target another worker moved on since this statement
	// began is re-checked after the lock and dropped.
	rows, err := tx.q.Query(ctx, `SELECT `+targetColumns+` FROM rollout_targets
		WHERE rollout_id = $1 AND status = $2
		ORDER BY wave, tenant_id LIMIT $3`+tx.sql.skipLocked(),
		rollout, enumName(status, "STATUS_"), limit)
	out, err := collect(rows, err, scanTarget)
	if err != nil {
		return nil, fmt.Errorf("next rollout targets: %w", err)
	}
	return out, nil
}

func (tx *sqlTx) GetTarget(ctx context.Context, rollout, tenant string) (*Target, error) {
	t, err := scanTarget(tx.q.QueryRow(ctx, `SELECT `+targetColumns+` FROM rollout_targets
		WHERE rollout_id = $1 AND tenant_id = $2`+tx.sql.forUpdate(), rollout, tenant))
	if errors.Is(err, sqlstore.ErrNoRows) {
		return nil, ErrNotFound
	}
	return t, err
}

func (tx *sqlTx) UpdateTarget(ctx context.Context, t *Target, now time.Time) error {
	n, err := tx.q.Exec(ctx, `UPDATE rollout_targets SET status = $3, reason = $4, previous_revision = $5,
			applied_revision = $6, update_time = $7
		WHERE rollout_id = $1 AND tenant_id = $2`,
		t.Rollout, t.Tenant, enumName(t.Status, "STATUS_"), t.Reason, t.PreviousRevision, t.AppliedRevision, now)
	if err != nil {
		return fmt.Errorf("update rollout target: %w", err)
	}
	if n == 0 {
		return ErrNotFound
	}
	t.UpdateTime = now
	return nil
}

func (tx *sqlTx) SetTargetsStatus(ctx context.Context, rollout string, from, to contentv1.RolloutTarget_Status, now time.Time) (int, error) {
	n, err := tx.q.Exec(ctx, `UPDATE rollout_targets SET status = $3, update_time = $4
		WHERE rollout_id = $1 AND status = $2`,
		rollout, enumName(from, "STATUS_"), enumName(to, "STATUS_"), now)
	if err != nil {
		return 0, fmt.Errorf("set rollout targets status: %w", err)
	}
	return int(n), nil
}

func scanTarget(r sqlstore.Row) (*Target, error) {
	var (
		t      Target
		status string
	)
	if err := r.Scan(&t.Rollout, &t.Tenant, &t.Wave, &status, &t.Reason, &t.App, &t.PreviousRevision,
		&t.AppliedRevision, &t.UpdateTime); err != nil {
		if errors.Is(err, sqlstore.ErrNoRows) {
			return nil, err
		}
		return nil, fmt.Errorf("scan rollout target: %w", err)
	}
	t.Status = parseEnum[contentv1.RolloutTarget_Status](contentv1.RolloutTarget_Status_value, "STATUS_", status)
	return &t, nil
}
