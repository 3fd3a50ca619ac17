package replication

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"time"

	"github.com/jackc/pglogrepl"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	datagatewayv1 "github.com/oriel-dev/oriel/gen/pb/oriel/datagateway/v1"
)

// progressDDL creates the target's record of what each replication applied. It is
// written in the same transaction as the changes, which is what makes replays harmless.
const progressDDL = `
CREATE SCHEMA IF NOT EXISTS oriel_replication;
CREATE TABLE IF NOT EXISTS oriel_replication.progress (
	replication   text PRIMARY KEY,
	slot_name     text NOT NULL,
	lsn           bigint NOT NULL,
	snapshot_rows bigint NOT NULL DEFAULT 0,
	rows_applied  bigint NOT NULL DEFAULT 0,
	update_time   timestamptz NOT NULL DEFAULT now()
)`

// progress is a replication's row in oriel_replication.progress.
type progress struct {
	slot         string
	lsn          pglogrepl.LSN
	snapshotRows int64
	rowsApplied  int64
}

// testHookSnapshotTable, when set, runs before each table's copy; tests use it to widen
// the window in which a worker can be killed mid-snapshot.
var testHookSnapshotTable func(table string)

// run is one claim's work on one replication.
type run struct {
	e   *Engine
	job *Job
	log *slog.Logger

	source, target endpoint
}

// replicate snapshots when the target has no finished snapshot for the slot, then
// streams until ctx is cancelled or an error stops it.
func (r *run) replicate(ctx context.Context) error {
	var err error
	if r.source, err = r.e.resolve(ctx, r.job, "source", r.job.SourceConnection); err != nil {
		return err
	}
	if r.target, err = r.e.resolve(ctx, r.job, "target", r.job.TargetConnection); err != nil {
		return err
	}
	src, err := r.source.connect(ctx)
	if err != nil {
		return err
	}
	defer closeQuietly(src)
	tgt, err := r.target.connect(ctx)
	if err != nil {
		return err
	}
	defer closeQuietly(tgt)

	tables, err := describeSource(ctx, src, r.job.Tables)
	if err != nil {
		return err
	}
	if err := checkLogical(ctx, src); err != nil {
		return err
	}
	slot := r.job.slot()
	prog, found, err := readProgress(ctx, tgt, r.job.Name())
	if err != nil {
		return err
	}
	slotExists, err := slotExists(ctx, src, slot)
	if err != nil {
		return err
	}

	repl, err := r.source.replicationConn(ctx)
	if err != nil {
		return err
	}
	defer closeQuietly(repl)

	if !found || prog.slot != slot || !slotExists {
		if found && prog.slot == slot {
			r.log.Warn("the slot is gone at the source; snapshotting again")
		}
		if prog, err = r.snapshot(ctx, src, repl, tgt, tables); err != nil {
			return err
		}
	} else {
		// A walsender of a dead worker may still hold the slot.
		if err := releaseSlot(ctx, src, slot); err != nil {
			return err
		}
	}
	s := &stream{run: r, src: src, tgt: tgt, repl: repl, tables: tables}
	return s.follow(ctx, prog)
}

// checkLogical refuses a source that cannot decode logically, with words that say why.
func checkLogical(ctx context.Context, src *pgx.Conn) error {
	var level string
	if err := src.QueryRow(ctx, "SHOW wal_level").Scan(&level); err != nil {
		return fmt.Errorf("read the source's wal_level: %w", err)
	}
	if level != "logical" {
		return stopf("the source PostgreSQL runs with wal_level=%s; logical replication needs "+
			"wal_level=logical (then a restart of the source)", level)
	}
	return nil
}

func readProgress(ctx context.Context, tgt *pgx.Conn, name string) (progress, bool, error) {
	var p progress
	var lsn int64
	err := tgt.QueryRow(ctx, `
		SELECT slot_name, lsn, snapshot_rows, rows_applied
		FROM oriel_replication.progress WHERE replication = $1`, name).
		Scan(&p.slot, &lsn, &p.snapshotRows, &p.rowsApplied)
	switch {
	case errors.Is(err, pgx.ErrNoRows), pgCode(err) == "42P01" || pgCode(err) == "3F000":
		return p, false, nil // no row, or no table or schema yet
	case err != nil:
		return p, false, fmt.Errorf("read the target's replication progress: %w", err)
	}
	p.lsn = pglogrepl.LSN(lsn)
	return p, true, nil
}

func slotExists(ctx context.Context, src *pgx.Conn, slot string) (bool, error) {
	var exists bool
	err := src.QueryRow(ctx, "SELECT EXISTS (SELECT 1 FROM pg_catalog.pg_replication_slots WHERE slot_name = $1)", slot).Scan(&exists)
	if err != nil {
		return false, fmt.Errorf("look for the replication slot: %w", err)
	}
	return exists, nil
}

// releaseSlot ends the walsender holding slot, if any. Only the lease holder calls it,
// so the holder is a worker that died or lost its lease.
func releaseSlot(ctx context.Context, src *pgx.Conn, slot string) error {
	for {
		var active bool
		err := src.QueryRow(ctx, `
			SELECT coalesce(bool_or(pg_catalog.pg_terminate_backend(active_pid)), false)
			FROM pg_catalog.pg_replication_slots WHERE slot_name = $1 AND active_pid IS NOT NULL`, slot).Scan(&active)
		if err != nil {
			return fmt.Errorf("free the replication slot %s: %w", slot, err)
		}
		if !active {
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// dropSlot drops slot if it exists, first ending the walsender that holds it.
func dropSlot(ctx context.Context, src *pgx.Conn, slot string) error {
	for {
		if err := releaseSlot(ctx, src, slot); err != nil {
			return err
		}
		_, err := src.Exec(ctx, `
			SELECT pg_catalog.pg_drop_replication_slot(slot_name)
			FROM pg_catalog.pg_replication_slots WHERE slot_name = $1`, slot)
		if pgCode(err) == "55006" { // object_in_use: taken again in between
			continue
		}
		if err != nil {
			return fmt.Errorf("drop the replication slot %s: %w", slot, err)
		}
		return nil
	}
}

// snapshot creates the publication and the slot and copies the tables as of the slot's
// consistent point, all in one target transaction. Run again after a crash, it starts
// over: the slot is dropped and created again and the target tables truncated.
func (r *run) snapshot(ctx context.Context, src *pgx.Conn, repl *pgconn.PgConn, tgt *pgx.Conn, tables []*table) (progress, error) {
	slot := r.job.slot()
	r.report(ctx, Status{State: datagatewayv1.Replication_STATE_SNAPSHOTTING, SlotName: slot})
	r.log.Info("snapshot started", "slot", slot)
	started := time.Now()

	// Forget any earlier snapshot first: were we to die after creating the new slot, a
	// progress row left from the old one would make the next worker stream from the new
	// slot as if the target held everything before it.
	if _, err := tgt.Exec(ctx, progressDDL); err != nil {
		return progress{}, fmt.Errorf("create oriel_replication.progress in the target: %w", err)
	}
	if _, err := tgt.Exec(ctx, "DELETE FROM oriel_replication.progress WHERE replication = $1", r.job.Name()); err != nil {
		return progress{}, fmt.Errorf("reset the target's replication progress: %w", err)
	}
	if err := dropSlot(ctx, src, slot); err != nil {
		return progress{}, err
	}
	// The publication must exist before the slot: decoding looks it up as of each change.
	names := make([]string, len(tables))
	for i, t := range tables {
		names[i] = t.sql()
	}
	for _, stmt := range []string{
		"DROP PUBLICATION IF EXISTS " + ident(slot),
		"CREATE PUBLICATION " + ident(slot) + " FOR TABLE " + strings.Join(names, ", "),
	} {
		if _, err := src.Exec(ctx, stmt); err != nil {
			return progress{}, fmt.Errorf("create the publication at the source: %w", err)
		}
	}
	created, err := pglogrepl.CreateReplicationSlot(ctx, repl, slot, "pgoutput", pglogrepl.CreateReplicationSlotOptions{
		Mode:           pglogrepl.LogicalReplication,
		SnapshotAction: "EXPORT_SNAPSHOT",
	})
	if err != nil {
		return progress{}, fmt.Errorf("create the replication slot %s: %w", slot, err)
	}
	consistent, err := pglogrepl.ParseLSN(created.ConsistentPoint)
	if err != nil {
		return progress{}, fmt.Errorf("read the slot's consistent point %q: %w", created.ConsistentPoint, err)
	}

	// The exported snapshot lives until repl runs another command, i.e. until streaming.
	srcTx, err := src.BeginTx(ctx, pgx.TxOptions{IsoLevel: pgx.RepeatableRead, AccessMode: pgx.ReadOnly})
	if err != nil {
		return progress{}, fmt.Errorf("begin the snapshot at the source: %w", err)
	}
	defer func() { _ = srcTx.Rollback(context.Background()) }()
	if _, err := srcTx.Exec(ctx, "SET TRANSACTION SNAPSHOT "+literal(created.SnapshotName)); err != nil {
		return progress{}, fmt.Errorf("import the slot's snapshot: %w", err)
	}

	tgtTx, err := tgt.Begin(ctx)
	if err != nil {
		return progress{}, fmt.Errorf("begin the snapshot in the target: %w", err)
	}
	defer func() { _ = tgtTx.Rollback(context.Background()) }()
	if err := prepareTargets(ctx, tgtTx, tables); err != nil {
		return progress{}, err
	}
	var rows int64
	for _, t := range tables {
		if testHookSnapshotTable != nil {
			testHookSnapshotTable(t.qualified())
		}
		n, err := copyTable(ctx, srcTx.Conn().PgConn(), tgtTx.Conn().PgConn(), t)
		if err != nil {
			return progress{}, err
		}
		rows += n
	}
	if _, err := tgtTx.Exec(ctx, `
		INSERT INTO oriel_replication.progress (replication, slot_name, lsn, snapshot_rows, rows_applied, update_time)
		VALUES ($1, $2, $3, $4, 0, now())
		ON CONFLICT (replication) DO UPDATE SET slot_name = EXCLUDED.slot_name, lsn = EXCLUDED.lsn,
			snapshot_rows = EXCLUDED.snapshot_rows, rows_applied = 0, update_time = now()`,
		r.job.Name(), slot, int64(consistent), rows); err != nil {
		return progress{}, fmt.Errorf("record the snapshot in the target: %w", err)
	}
	if err := tgtTx.Commit(ctx); err != nil {
		return progress{}, fmt.Errorf("commit the snapshot in the target: %w", err)
	}
	r.log.Info("snapshot done", "rows", rows, "consistent_point", consistent, "took", time.Since(started))
	return progress{slot: slot, lsn: consistent, snapshotRows: rows}, nil
}

// prepareTargets creates missing target tables, checks existing ones and empties them.
func prepareTargets(ctx context.Context, tx pgx.Tx, tables []*table) error {
	for _, t := range tables {
		existing, err := describeTarget(ctx, tx, t.schema, t.name)
		if err != nil {
			return err
		}
		if existing == nil {
			for _, stmt := range []string{"CREATE SCHEMA IF NOT EXISTS " + ident(t.schema), createTableSQL(t)} {
				if _, err := tx.Exec(ctx, stmt); err != nil {
					return fmt.Errorf("create target table %s: %w", t.qualified(), err)
				}
			}
			continue
		}
		if err := checkTarget(t, existing); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, "TRUNCATE "+t.sql()); err != nil {
			return fmt.Errorf("empty target table %s: %w", t.qualified(), err)
		}
	}
	return nil
}

// copyTable streams a table's rows from the source's COPY TO into the target's COPY FROM.
func copyTable(ctx context.Context, src, tgt *pgconn.PgConn, t *table) (int64, error) {
	cols := identList(colNames(t.cols))
	pr, pw := io.Pipe()
	copied := make(chan error, 1)
	go func() {
		_, err := src.CopyTo(ctx, pw, "COPY "+t.sql()+" ("+cols+") TO STDOUT")
		_ = pw.CloseWithError(err)
		copied <- err
	}()
	tag, err := tgt.CopyFrom(ctx, pr, "COPY "+t.sql()+" ("+cols+") FROM STDIN")
	_ = pr.CloseWithError(io.ErrClosedPipe) // unblocks the reader's writer if we stopped early
	srcErr := <-copied
	if srcErr != nil {
		return 0, fmt.Errorf("copy source table %s: %w", t.qualified(), srcErr)
	}
	if err != nil {
		return 0, fmt.Errorf("copy into target table %s: %w", t.qualified(), err)
	}
	return tag.RowsAffected(), nil
}

// deleteAtSource drops the slot and the publication, and forgets the target's progress.
func (e *Engine) deleteAtSource(ctx context.Context, job *Job) error {
	source, err := e.resolve(ctx, job, "source", job.SourceConnection)
	if err != nil {
		return err
	}
	src, err := source.connect(ctx)
	if err != nil {
		return err
	}
	defer closeQuietly(src)
	if err := dropSlot(ctx, src, job.slot()); err != nil {
		return err
	}
	if _, err := src.Exec(ctx, "DROP PUBLICATION IF EXISTS "+ident(job.slot())); err != nil {
		return fmt.Errorf("drop the publication at the source: %w", err)
	}
	// The target's tables stay; its progress row would only confuse a replication
	// created later under the same name. Best effort: the target may be gone.
	if target, err := e.resolve(ctx, job, "target", job.TargetConnection); err == nil {
		if tgt, err := target.connect(ctx); err == nil {
			_, _ = tgt.Exec(ctx, "DELETE FROM oriel_replication.progress WHERE replication = $1", job.Name())
			closeQuietly(tgt)
		}
	}
	return nil
}

// report records status, logging rather than failing: status is advisory.
func (r *run) report(ctx context.Context, st Status) {
	err := r.e.opts.Store.Report(ctx, r.job.Tenant, r.job.ID, r.e.opts.Owner, st)
	if err != nil && ctx.Err() == nil && !errors.Is(err, ErrLeaseLost) {
		r.log.Warn("report replication status", "error", err)
	}
}
