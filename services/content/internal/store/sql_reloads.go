package store

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"time"

	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/durationpb"

	contentv1 "github.com/oriel-dev/oriel/gen/pb/oriel/content/v1"
	"github.com/oriel-dev/oriel/platform/sqlstore"
)

// ---- reloads ----

const (
	// logHead and logTail are how many of a reload's first and last log lines are kept: a
	// script looping over thousands of tables must not grow a row without bound, and the
	// start and the end are what explain a failure.
	logHead = 500
	logTail = 500
)

// reloadColumns and reloadListColumns read a reload, the latter without its log (listings
// carry none, and the log is most of a row).
const (
	reloadColumns = `id, variables, app_revision, state, log, log_dropped, tables, error, error_position,
		duration_nanos, peak_memory_bytes, model_memory_bytes, creator, create_time, start_time,
		end_time, revision`
	reloadListColumns = `id, variables, app_revision, state, '[]', 0, tables, error, error_position,
		duration_nanos, peak_memory_bytes, model_memory_bytes, creator, create_time, start_time,
		end_time, revision`
)

// reloadClaimLock is the PostgreSQL advisory lock ClaimReload holds for its transaction
// ("orielrcl" in ASCII). Advisory locks are per database, so the other services' schemas
// cannot collide with it.
const reloadClaimLock int64 = 0x6f7269656c72636c

// lockReloadClaims makes ClaimReload transactions take turns. Row locks cannot enforce the
// per-tenant limit: two claimers would each count the same RUNNING reloads and each lock a
// different QUEUED one. A claim is a few short statements, and reloads start seconds apart
// at most, so one claim at a time costs nothing. SQLite's write transactions already take
// turns.
func (d dialectSQL) lockReloadClaims(ctx context.Context, q sqlstore.Queryer) error {
	if !d.postgres() {
		return nil
	}
	if _, err := q.Exec(ctx, `SELECT pg_advisory_xact_lock($1)`, reloadClaimLock); err != nil {
		return fmt.Errorf("lock reload claims: %w", err)
	}
	return nil
}

// reloadIDAlphabet is base32hex in lowercase: in byte order, so ids that begin with an
// encoded time sort by it, and within the API's id pattern.
const reloadIDAlphabet = "0123456789abcdefghijklmnopqrstuv"

// newReloadID returns an id that begins with now (11 characters of microseconds since
// 1970: 55 bits, enough until the year 3111) and ends with 8 random characters (40 bits),
// so ids sort by creation and ListReloads pages by id alone.
func newReloadID(now time.Time) string {
	var b [19]byte
	micros := uint64(max(now.UnixMicro(), 0))
	for i := range 11 {
		b[i] = reloadIDAlphabet[(micros>>(5*(10-i)))&31]
	}
	_, _ = rand.Read(b[11:])
	for i := 11; i < len(b); i++ {
		// 256 is a multiple of 32, so every character is equally likely.
		b[i] = reloadIDAlphabet[b[i]&31]
	}
	return string(b[:])
}

func (s *sqlStore) CreateReload(ctx context.Context, tenant, app string, r NewReload, now time.Time) (*contentv1.Reload, bool, error) {
	variables, err := marshalLabels(r.Variables)
	if err != nil {
		return nil, false, err
	}
	var requestID *string
	if r.RequestID != "" {
		requestID = &r.RequestID
	}
	var (
		out     *contentv1.Reload
		created bool
	)
	err = s.db.ReadWriteTx(ctx, func(ctx context.Context, q sqlstore.Queryer) error {
		// The share lock keeps the app until the reload commits, so a concurrent purge
		// either deletes the reload with the app or made this find the app missing; never a
		// foreign-key error.
		var revision int64
		err := q.QueryRow(ctx, `SELECT latest_revision FROM apps WHERE tenant_id = $1 AND id = $2`+s.sql.forShare(),
			tenant, app).Scan(&revision)
		if errors.Is(err, sqlstore.ErrNoRows) {
			return ErrNotFound
		}
		if err != nil {
			return fmt.Errorf("read app: %w", err)
		}
		if requestID != nil {
			if out, err = reloadByRequest(ctx, q, tenant, app, r.RequestID); !errors.Is(err, ErrNotFound) {
				return err
			}
		}
		id := newReloadID(now)
		// A concurrent create with the same request id makes this insert wait for it and
		// then do nothing; the read below finds its reload.
		n, err := q.Exec(ctx, `INSERT INTO reloads (tenant_id, app_id, id, request_id, variables, app_revision,
				state, log, log_dropped, tables, error, peak_memory_bytes, model_memory_bytes, creator,
				cancel_requested, attempts, create_time, revision)
			VALUES ($1, $2, $3, $4, $5, $6, 'QUEUED', '[]', 0, '[]', '', 0, 0, $7, $8, 0, $9, 1)
			ON CONFLICT DO NOTHING`,
			tenant, app, id, requestID, variables, revision, r.Creator, false, now)
		if err != nil {
			return fmt.Errorf("insert reload: %w", err)
		}
		if n == 0 {
			if requestID == nil {
				return ErrAlreadyExists
			}
			out, err = reloadByRequest(ctx, q, tenant, app, r.RequestID)
			if errors.Is(err, ErrNotFound) {
				return ErrAlreadyExists
			}
			return err
		}
		created = true
		out, err = getReload(ctx, q, ReloadKey{tenant, app, id}, "")
		return err
	})
	if err != nil {
		return nil, false, err
	}
	return out, created, nil
}

// reloadByRequest returns the reload of an app that request id queued.
func reloadByRequest(ctx context.Context, q sqlstore.Queryer, tenant, app, requestID string) (*contentv1.Reload, error) {
	r, err := scanReload(tenant, app, q.QueryRow(ctx, `SELECT `+reloadColumns+` FROM reloads
		WHERE tenant_id = $1 AND app_id = $2 AND request_id = $3`, tenant, app, requestID))
	if errors.Is(err, sqlstore.ErrNoRows) {
		return nil, ErrNotFound
	}
	return r, err
}

func (s *sqlStore) GetReload(ctx context.Context, key ReloadKey) (*contentv1.Reload, error) {
	return getReload(ctx, s.db, key, "")
}

func getReload(ctx context.Context, q sqlstore.Queryer, key ReloadKey, lock string) (*contentv1.Reload, error) {
	r, err := scanReload(key.Tenant, key.App, q.QueryRow(ctx, `SELECT `+reloadColumns+` FROM reloads
		WHERE tenant_id = $1 AND app_id = $2 AND id = $3`+lock, key.Tenant, key.App, key.ID))
	if errors.Is(err, sqlstore.ErrNoRows) {
		return nil, ErrNotFound
	}
	return r, err
}

func (s *sqlStore) ListReloads(ctx context.Context, tenant, app string, page Page) ([]*contentv1.Reload, error) {
	if page.Limit <= 0 {
		return nil, errLimit
	}
	// Ids begin with their create time, so by id descending is newest first.
	rows, err := s.db.Query(ctx, `SELECT `+reloadListColumns+` FROM reloads
		WHERE tenant_id = $1 AND app_id = $2 AND ($3 = '' OR id < $3)
		ORDER BY id DESC LIMIT $4`, tenant, app, page.AfterID, page.Limit)
	out, err := collect(rows, err, func(r sqlstore.Row) (*contentv1.Reload, error) { return scanReload(tenant, app, r) })
	if err != nil {
		return nil, fmt.Errorf("list reloads: %w", err)
	}
	// Reloads die with their app, so only an empty page leaves the app in doubt.
	if len(out) == 0 {
		if err := s.appExists(ctx, tenant, app); err != nil {
			return nil, err
		}
	}
	return out, nil
}

func (s *sqlStore) CancelReload(ctx context.Context, key ReloadKey, now time.Time) (*contentv1.Reload, error) {
	var out *contentv1.Reload
	err := s.db.ReadWriteTx(ctx, func(ctx context.Context, q sqlstore.Queryer) error {
		var (
			state           string
			cancelRequested bool
		)
		err := q.QueryRow(ctx, `SELECT state, cancel_requested FROM reloads
			WHERE tenant_id = $1 AND app_id = $2 AND id = $3`+s.sql.forUpdate(),
			key.Tenant, key.App, key.ID).Scan(&state, &cancelRequested)
		if errors.Is(err, sqlstore.ErrNoRows) {
			return ErrNotFound
		}
		if err != nil {
			return fmt.Errorf("read reload: %w", err)
		}
		switch state {
		case "QUEUED":
			_, err = q.Exec(ctx, `UPDATE reloads SET state = 'CANCELED', end_time = $4, revision = revision + 1
				WHERE tenant_id = $1 AND app_id = $2 AND id = $3`, key.Tenant, key.App, key.ID, now)
		case "RUNNING":
			// Only the worker can stop the run; it learns of the cancel at its next renewal.
			// Asking twice changes nothing.
			if !cancelRequested {
				_, err = q.Exec(ctx, `UPDATE reloads SET cancel_requested = $4, revision = revision + 1
					WHERE tenant_id = $1 AND app_id = $2 AND id = $3`, key.Tenant, key.App, key.ID, true)
			}
		default:
			return ErrStateConflict
		}
		if err != nil {
			return fmt.Errorf("cancel reload: %w", err)
		}
		out, err = getReload(ctx, q, key, "")
		return err
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// ---- reload leases ----

// errClaimLimits guards against limits that would make every reload unclaimable, or fail
// reloads that never ran.
var errClaimLimits = errors.New("store: reload claim limits must be positive")

func (s *sqlStore) ClaimReload(ctx context.Context, owner string, lease time.Duration, perTenantLimit, maxAttempts int, now time.Time) (*ReloadLease, error) {
	if perTenantLimit <= 0 || maxAttempts <= 0 {
		return nil, errClaimLimits
	}
	var out *ReloadLease
	err := s.db.ReadWriteTx(ctx, func(ctx context.Context, q sqlstore.Queryer) error {
		out = nil
		if err := s.sql.lockReloadClaims(ctx, q); err != nil {
			return err
		}
		// Runs whose worker vanished end first, so their slots count as free below.
		if err := s.endExpiredRuns(ctx, q, maxAttempts, now); err != nil {
			return err
		}
		// Reloads of one app run one at a time, in creation order: a reload started later
		// may have read newer data, and finishing last must not make an older model serve.
		// Skipping locked rows passes over a reload a cancel is changing right now.
		var key ReloadKey
		err := q.QueryRow(ctx, `SELECT r.tenant_id, r.app_id, r.id FROM reloads r
			WHERE r.state = 'QUEUED'
				AND NOT EXISTS (SELECT 1 FROM reloads x
					WHERE x.tenant_id = r.tenant_id AND x.app_id = r.app_id AND x.state = 'RUNNING')
				AND (SELECT COUNT(*) FROM reloads x WHERE x.tenant_id = r.tenant_id AND x.state = 'RUNNING') < $1
			ORDER BY r.create_time, r.id LIMIT 1`+s.sql.skipLocked(), perTenantLimit).Scan(&key.Tenant, &key.App, &key.ID)
		if errors.Is(err, sqlstore.ErrNoRows) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("find queued reload: %w", err)
		}
		until := now.Add(lease)
		var (
			attempt  int
			revision int64
		)
		if err := q.QueryRow(ctx, `UPDATE reloads SET state = 'RUNNING', lease_owner = $4, lease_until = $5,
				start_time = $6, cancel_requested = $7, attempts = attempts + 1, revision = revision + 1
			WHERE tenant_id = $1 AND app_id = $2 AND id = $3 RETURNING attempts, app_revision`,
			key.Tenant, key.App, key.ID, owner, until, now, false).Scan(&attempt, &revision); err != nil {
			return fmt.Errorf("claim reload: %w", err)
		}
		r, err := getReload(ctx, q, key, "")
		if err != nil {
			return err
		}
		out = &ReloadLease{Key: key, Reload: r, Owner: owner, Until: until, Attempt: attempt, AppRevision: revision}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// endExpiredRuns ends every run whose lease expired at now: the reload is queued again, or
// FAILED after maxAttempts runs, so a reload that keeps killing its workers never vanishes
// nor loops forever, or CANCELED when a cancel was waiting for the worker.
func (s *sqlStore) endExpiredRuns(ctx context.Context, q sqlstore.Queryer, maxAttempts int, now time.Time) error {
	rows, err := q.Query(ctx, `SELECT tenant_id, app_id, id, attempts, cancel_requested, log, log_dropped FROM reloads
		WHERE state = 'RUNNING' AND lease_until <= $1 ORDER BY create_time, id`+s.sql.forUpdate(), now)
	type expired struct {
		key             ReloadKey
		attempts        int
		cancelRequested bool
		log             string
		dropped         int64
	}
	runs, err := collect(rows, err, func(r sqlstore.Row) (expired, error) {
		var e expired
		return e, r.Scan(&e.key.Tenant, &e.key.App, &e.key.ID, &e.attempts, &e.cancelRequested, &e.log, &e.dropped)
	})
	if err != nil {
		return fmt.Errorf("find expired reloads: %w", err)
	}
	for _, e := range runs {
		var state, message, reason string
		var end *time.Time
		switch {
		case e.cancelRequested:
			state, end = "CANCELED", &now
			message = "Canceled: the worker running the reload stopped before it could stop it."
		case e.attempts >= maxAttempts:
			state, end = "FAILED", &now
			reason = fmt.Sprintf("the reload was interrupted %d times", e.attempts)
			message = "Failed: " + reason + "."
		default:
			state = "QUEUED"
			message = fmt.Sprintf("Interrupted: the worker running the reload stopped (run %d of at most %d); queued again.",
				e.attempts, maxAttempts)
		}
		stored, err := unmarshalLogLines(e.log)
		if err != nil {
			return fmt.Errorf("reload %s: %w", ReloadName(e.key.Tenant, e.key.App, e.key.ID), err)
		}
		lines, dropped := appendLog(stored, e.dropped, []*contentv1.ReloadLogLine{{Time: ts(now), Message: message}})
		log, err := marshalList(lines)
		if err != nil {
			return err
		}
		// A queued reload has not started: the next run sets its start time.
		if _, err := q.Exec(ctx, `UPDATE reloads SET state = $4, error = $5, log = $6, log_dropped = $7,
				end_time = $8, start_time = CASE WHEN $4 = 'QUEUED' THEN NULL ELSE start_time END,
				lease_owner = NULL, lease_until = NULL, revision = revision + 1
			WHERE tenant_id = $1 AND app_id = $2 AND id = $3`,
			e.key.Tenant, e.key.App, e.key.ID, state, reason, log, dropped, end); err != nil {
			return fmt.Errorf("end expired reload: %w", err)
		}
	}
	return nil
}

// runningReload is what a worker's renewal or finish reads of its reload.
type runningReload struct {
	cancelRequested bool
	log             []*contentv1.ReloadLogLine
	dropped         int64
	tables          string
	peak            int64
}

// lockRunning locks owner's RUNNING reload; ErrLeaseLost if there is none.
func (s *sqlStore) lockRunning(ctx context.Context, q sqlstore.Queryer, key ReloadKey, owner string) (runningReload, error) {
	var (
		r     runningReload
		log   string
		state string
		held  *string
	)
	err := q.QueryRow(ctx, `SELECT state, lease_owner, cancel_requested, log, log_dropped, tables, peak_memory_bytes
		FROM reloads WHERE tenant_id = $1 AND app_id = $2 AND id = $3`+s.sql.forUpdate(),
		key.Tenant, key.App, key.ID).Scan(&state, &held, &r.cancelRequested, &log, &r.dropped, &r.tables, &r.peak)
	if errors.Is(err, sqlstore.ErrNoRows) {
		// Purged with its app, say: nobody holds it any more.
		return runningReload{}, ErrLeaseLost
	}
	if err != nil {
		return runningReload{}, fmt.Errorf("read reload: %w", err)
	}
	if state != "RUNNING" || held == nil || *held != owner {
		return runningReload{}, ErrLeaseLost
	}
	if r.log, err = unmarshalLogLines(log); err != nil {
		return runningReload{}, fmt.Errorf("reload %s: %w", ReloadName(key.Tenant, key.App, key.ID), err)
	}
	return r, nil
}

func (s *sqlStore) RenewReload(ctx context.Context, key ReloadKey, owner string, lease time.Duration, p ReloadProgress, now time.Time) (bool, error) {
	var cancelRequested bool
	err := s.db.ReadWriteTx(ctx, func(ctx context.Context, q sqlstore.Queryer) error {
		cur, err := s.lockRunning(ctx, q, key, owner)
		if err != nil {
			return err
		}
		cancelRequested = cur.cancelRequested
		lines, dropped := appendLog(cur.log, cur.dropped, p.Log)
		log, err := marshalList(lines)
		if err != nil {
			return err
		}
		tables := cur.tables
		if p.Tables != nil {
			if tables, err = marshalList(p.Tables); err != nil {
				return err
			}
		}
		peak := max(cur.peak, p.PeakMemoryBytes)
		// Only a change a reader can see makes a new etag; a bare renewal is not one.
		changed := len(p.Log) > 0 || peak != cur.peak || (p.Tables != nil && !sameJSON(tables, cur.tables))
		bump := 0
		if changed {
			bump = 1
		}
		if _, err := q.Exec(ctx, `UPDATE reloads SET lease_until = $4, log = $5, log_dropped = $6, tables = $7,
				peak_memory_bytes = $8, revision = revision + $9
			WHERE tenant_id = $1 AND app_id = $2 AND id = $3`,
			key.Tenant, key.App, key.ID, now.Add(lease), log, dropped, tables, peak, bump); err != nil {
			return fmt.Errorf("renew reload: %w", err)
		}
		return nil
	})
	if err != nil {
		return false, err
	}
	return cancelRequested, nil
}

// finalStates are the states a reload ends in.
var finalStates = map[contentv1.Reload_State]bool{
	contentv1.Reload_STATE_SUCCEEDED: true,
	contentv1.Reload_STATE_FAILED:    true,
	contentv1.Reload_STATE_CANCELED:  true,
}

func (s *sqlStore) FinishReload(ctx context.Context, key ReloadKey, owner string, res ReloadResult, now time.Time) (*contentv1.Reload, error) {
	if !finalStates[res.State] {
		return nil, fmt.Errorf("store: a reload cannot finish as %s", res.State)
	}
	succeeded := res.State == contentv1.Reload_STATE_SUCCEEDED
	if succeeded != (res.Model != nil) {
		return nil, fmt.Errorf("store: a reload finishing as %s must have a model only if it succeeded", res.State)
	}
	position, err := marshalProto(res.ErrorPosition)
	if err != nil {
		return nil, err
	}
	var out *contentv1.Reload
	err = s.db.ReadWriteTx(ctx, func(ctx context.Context, q sqlstore.Queryer) error {
		// The app first, as purges lock it before its reloads: the other order could
		// deadlock with a purge. The share lock keeps it until the model is written.
		ok, err := exists(ctx, q, `SELECT 1 FROM apps WHERE tenant_id = $1 AND id = $2`+s.sql.forShare(), key.Tenant, key.App)
		if err != nil {
			return fmt.Errorf("read app: %w", err)
		}
		if !ok {
			return ErrLeaseLost
		}
		cur, err := s.lockRunning(ctx, q, key, owner)
		if err != nil {
			return err
		}
		lines, dropped := appendLog(cur.log, cur.dropped, res.Log)
		log, err := marshalList(lines)
		if err != nil {
			return err
		}
		tables := cur.tables
		if res.Tables != nil {
			if tables, err = marshalList(res.Tables); err != nil {
				return err
			}
		}
		var modelMemory int64
		if res.Model != nil {
			modelMemory = res.Model.MemoryBytes
		}
		if _, err := q.Exec(ctx, `UPDATE reloads SET state = $4, error = $5, error_position = $6,
				duration_nanos = $7, peak_memory_bytes = $8, model_memory_bytes = $9, tables = $10,
				log = $11, log_dropped = $12, end_time = $13, lease_owner = NULL, lease_until = NULL,
				revision = revision + 1
			WHERE tenant_id = $1 AND app_id = $2 AND id = $3`,
			key.Tenant, key.App, key.ID, enumName(res.State, "STATE_"), res.Error, position,
			res.Duration.Nanoseconds(), max(cur.peak, res.PeakMemoryBytes), modelMemory, tables,
			log, dropped, now); err != nil {
			return fmt.Errorf("finish reload: %w", err)
		}
		if succeeded {
			if _, err := q.Exec(ctx, `INSERT INTO app_models (tenant_id, app_id, reload_id, snapshot_key, memory_bytes, load_time)
				VALUES ($1, $2, $3, $4, $5, $6)
				ON CONFLICT (tenant_id, app_id) DO UPDATE SET reload_id = excluded.reload_id,
					snapshot_key = excluded.snapshot_key, memory_bytes = excluded.memory_bytes,
					load_time = excluded.load_time`,
				key.Tenant, key.App, key.ID, res.Model.SnapshotKey, res.Model.MemoryBytes, now); err != nil {
				return fmt.Errorf("set app model: %w", err)
			}
		}
		out, err = getReload(ctx, q, key, "")
		return err
	})
	if err != nil {
		return nil, err
	}
	if res.Model != nil {
		res.Model.Tenant, res.Model.App, res.Model.Reload, res.Model.LoadTime = key.Tenant, key.App, key.ID, now
	}
	return out, nil
}

func (s *sqlStore) GetAppModel(ctx context.Context, tenant, app string) (*AppModel, error) {
	m := &AppModel{Tenant: tenant, App: app}
	err := s.db.QueryRow(ctx, `SELECT reload_id, snapshot_key, memory_bytes, load_time FROM app_models
		WHERE tenant_id = $1 AND app_id = $2`, tenant, app).Scan(&m.Reload, &m.SnapshotKey, &m.MemoryBytes, &m.LoadTime)
	if errors.Is(err, sqlstore.ErrNoRows) {
		return nil, ErrNotFound
	}
	if err != nil {
		return nil, fmt.Errorf("read app model: %w", err)
	}
	return m, nil
}

// SnapshotKeys returns the snapshot key of every app's model.
func (s *sqlStore) SnapshotKeys(ctx context.Context) (map[string]bool, error) {
	rows, err := s.db.Query(ctx, `SELECT snapshot_key FROM app_models`)
	keys, err := collect(rows, err, func(r sqlstore.Row) (string, error) {
		var k string
		return k, r.Scan(&k)
	})
	if err != nil {
		return nil, fmt.Errorf("list snapshot keys: %w", err)
	}
	out := make(map[string]bool, len(keys))
	for _, k := range keys {
		out[k] = true
	}
	return out, nil
}

// ---- encoding ----

// appendLog appends lines to a log kept as its first logHead lines and its last logTail,
// with dropped lines cut between them.
func appendLog(stored []*contentv1.ReloadLogLine, dropped int64, lines []*contentv1.ReloadLogLine) ([]*contentv1.ReloadLogLine, int64) {
	all := append(stored[:len(stored):len(stored)], lines...)
	if dropped == 0 && len(all) <= logHead+logTail {
		return all, 0
	}
	// Once past the cap the head never changes again: only the tail moves on.
	cut := len(all) - logHead - logTail
	kept := append(all[:logHead:logHead], all[logHead+cut:]...)
	return kept, dropped + int64(cut)
}

// withDropped returns a stored log as readers see it: a line in the gap says how many
// lines were dropped there.
func withDropped(lines []*contentv1.ReloadLogLine, dropped int64) []*contentv1.ReloadLogLine {
	if dropped == 0 || len(lines) <= logHead {
		return lines
	}
	gap := &contentv1.ReloadLogLine{
		Time: lines[logHead].GetTime(),
		Message: fmt.Sprintf("… %d lines dropped: the log keeps the first %d lines and the last %d …",
			dropped, logHead, logTail),
	}
	out := make([]*contentv1.ReloadLogLine, 0, len(lines)+1)
	out = append(out, lines[:logHead]...)
	out = append(out, gap)
	return append(out, lines[logHead:]...)
}

// marshalList stores messages as a JSON array of their protojson.
func marshalList[M proto.Message](items []M) (string, error) {
	raw := make([]json.RawMessage, len(items))
	for i, m := range items {
		b, err := protojson.Marshal(m)
		if err != nil {
			return "", fmt.Errorf("marshal %s: %w", m.ProtoReflect().Descriptor().FullName(), err)
		}
		raw[i] = b
	}
	b, err := json.Marshal(raw)
	if err != nil {
		return "", fmt.Errorf("marshal list: %w", err)
	}
	return string(b), nil
}

// unmarshalList reads what marshalList stored, nil for an empty array (as an unset
// repeated field reads).
func unmarshalList[M proto.Message](raw string, newM func() M) ([]M, error) {
	var items []json.RawMessage
	if err := json.Unmarshal([]byte(raw), &items); err != nil {
		return nil, fmt.Errorf("list: %w", err)
	}
	if len(items) == 0 {
		return nil, nil
	}
	out := make([]M, len(items))
	for i, b := range items {
		out[i] = newM()
		if err := protojson.Unmarshal(b, out[i]); err != nil {
			return nil, fmt.Errorf("unmarshal %s: %w", out[i].ProtoReflect().Descriptor().FullName(), err)
		}
	}
	return out, nil
}

func unmarshalLogLines(raw string) ([]*contentv1.ReloadLogLine, error) {
	return unmarshalList(raw, func() *contentv1.ReloadLogLine { return &contentv1.ReloadLogLine{} })
}

// sameJSON reports whether two JSON texts hold the same value, whatever their spacing
// (PostgreSQL's jsonb reformats what it stores).
func sameJSON(a, b string) bool {
	var va, vb any
	if json.Unmarshal([]byte(a), &va) != nil || json.Unmarshal([]byte(b), &vb) != nil {
		return false
	}
	ja, _ := json.Marshal(va)
	jb, _ := json.Marshal(vb)
	return string(ja) == string(jb)
}

func scanReload(tenant, app string, r sqlstore.Row) (*contentv1.Reload, error) {
	var (
		id, variables, state, log, tables, errText, creator string
		appRevision, dropped, peak, modelMemory, revision   int64
		position                                            *string
		duration                                            *int64
		createTime                                          time.Time
		startTime, endTime                                  *time.Time
	)
	if err := r.Scan(&id, &variables, &appRevision, &state, &log, &dropped, &tables, &errText, &position,
		&duration, &peak, &modelMemory, &creator, &createTime, &startTime, &endTime, &revision); err != nil {
		if errors.Is(err, sqlstore.ErrNoRows) {
			return nil, err
		}
		return nil, fmt.Errorf("scan reload: %w", err)
	}
	name := ReloadName(tenant, app, id)
	out := &contentv1.Reload{
		Name:             name,
		State:            parseEnum[contentv1.Reload_State](contentv1.Reload_State_value, "STATE_", state),
		AppRevision:      strconv.FormatInt(appRevision, 10),
		Error:            errText,
		PeakMemoryBytes:  peak,
		ModelMemoryBytes: modelMemory,
		Creator:          creator,
		CreateTime:       ts(createTime),
		StartTime:        optionalTS(startTime),
		EndTime:          optionalTS(endTime),
		Etag:             etag(name, revision),
	}
	if duration != nil {
		out.Duration = durationpb.New(time.Duration(*duration))
	}
	var err error
	if out.Variables, err = unmarshalLabels(variables); err != nil {
		return nil, fmt.Errorf("reload %s variables: %w", name, err)
	}
	lines, err := unmarshalLogLines(log)
	if err != nil {
		return nil, fmt.Errorf("reload %s log: %w", name, err)
	}
	out.Log = withDropped(lines, dropped)
	if out.Tables, err = unmarshalList(tables, func() *contentv1.ReloadTable { return &contentv1.ReloadTable{} }); err != nil {
		return nil, fmt.Errorf("reload %s tables: %w", name, err)
	}
	pos := &contentv1.ScriptPosition{}
	if ok, err := unmarshalProto(position, pos); err != nil {
		return nil, fmt.Errorf("reload %s: %w", name, err)
	} else if ok {
		out.ErrorPosition = pos
	}
	return out, nil
}
