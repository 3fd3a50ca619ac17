package replication

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pglogrepl"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgproto3"

	datagatewayv1 "github.com/oriel-dev/oriel/gen/pb/oriel/datagateway/v1"
)

const (
	// groupWindow is how long a target transaction stays open after a source commit for
	// the next source transactions to join it: fewer target commits, at most this much
	// more lag.
	groupWindow = 10 * time.Millisecond
	// groupMaxChanges closes a target transaction early when it has this many changes.
	groupMaxChanges = 5000
	// batchStatements sends buffered statements to the target once there are this many.
	batchStatements = 500
	// standbyInterval is how often the source hears which position the target committed.
	standbyInterval = time.Second
)

// stream applies the slot's changes to the target.
type stream struct {
	*run
	src, tgt *pgx.Conn
	repl     *pgconn.PgConn
	tables   []*table

	targets   map[string]*target
	rels      map[uint32]*relation
	typeNames map[typeKey]string

	// committed is the end of the last source transaction the target committed; it is
	// the target's progress row. confirmed is what the source was told: committed, or
	// further when nothing is in flight and the source has sent everything up to there.
	committed, confirmed pglogrepl.LSN
	// serverEnd is the furthest WAL position the source said it has sent.
	serverEnd      pglogrepl.LSN
	snapshotRows   int64
	rowsApplied    int64
	lastCommitTime time.Time // source commit time of the last applied transaction

	// The source transaction being received.
	inTx, skip   bool
	txChanges    int64
	txCommitTime time.Time

	// The target transaction being written: it holds source transactions up to
	// pendingEnd, not yet committed.
	tgtOpen           bool
	batch             *pgconn.Batch
	batchLen          int
	pendingEnd        pglogrepl.LSN
	pendingChanges    int64
	pendingCommitTime time.Time
	groupDeadline     time.Time

	nextStandby, nextStatus time.Time
}

// target is a target table and the statements that write it.
type target struct {
	t       *table
	upserts map[string]string
	delete  string
}

// relation is a source table as the current replication session sends it.
type relation struct {
	target *target
	cols   []string
	// keyPos are the positions of the primary key's columns in the tuples.
	keyPos []int
}

type typeKey struct {
	oid    uint32
	typmod int32
}

// follow starts streaming at the target's progress and applies changes until ctx ends.
func (s *stream) follow(ctx context.Context, prog progress) error {
	s.committed, s.confirmed, s.serverEnd = prog.lsn, prog.lsn, prog.lsn
	s.snapshotRows, s.rowsApplied = prog.snapshotRows, prog.rowsApplied
	s.targets = map[string]*target{}
	s.rels = map[uint32]*relation{}
	s.typeNames = map[typeKey]string{}
	for _, src := range s.tables {
		t, err := describeTarget(ctx, s.tgt, src.schema, src.name)
		if err != nil {
			return err
		}
		if t == nil {
			return stopf("target table %s is missing; DDL is not replicated: create it again "+
				"(or delete and recreate the replication), then resume", src.qualified())
		}
		if !slices.Equal(src.pk, t.pk) {
			return stopf("target table %s has primary key (%s) but the source has (%s); make them match, then resume",
				t.qualified(), strings.Join(t.pk, ", "), strings.Join(src.pk, ", "))
		}
		s.targets[t.qualified()] = &target{t: t, upserts: map[string]string{}, delete: deleteSQL(t)}
	}

	slot := s.job.slot()
	err := pglogrepl.StartReplication(ctx, s.repl, slot, prog.lsn, pglogrepl.StartReplicationOptions{
		Mode:       pglogrepl.LogicalReplication,
		PluginArgs: []string{"proto_version '1'", "publication_names " + literal(slot)},
	})
	if err != nil {
		return fmt.Errorf("start streaming from the slot %s: %w", slot, err)
	}
	s.log.Info("streaming", "from", prog.lsn)
	s.e.healthy(s.job)
	now := time.Now()
	s.nextStandby = now.Add(standbyInterval)
	s.nextStatus = now // report STREAMING at once
	for {
		if err := s.tick(ctx); err != nil {
			return err
		}
		rctx, cancel := context.WithDeadline(ctx, s.deadline())
		raw, err := s.repl.ReceiveMessage(rctx)
		cancel()
		if ctx.Err() != nil {
			return nil
		}
		if err != nil {
			if pgconn.Timeout(err) {
				continue
			}
			return fmt.Errorf("receive changes from the source: %w", err)
		}
		switch m := raw.(type) {
		case *pgproto3.CopyData:
			if err := s.copyData(ctx, m.Data); err != nil {
				return err
			}
		case *pgproto3.ErrorResponse:
			return fmt.Errorf("the source stopped streaming: %w", pgconn.ErrorResponseToPgError(m))
		}
	}
}

// deadline is when the loop must wake without a message.
func (s *stream) deadline() time.Time {
	d := s.nextStandby
	if s.nextStatus.Before(d) {
		d = s.nextStatus
	}
	if s.groupReady() && s.groupDeadline.Before(d) {
		d = s.groupDeadline
	}
	return d
}

// groupReady says the open target transaction holds only whole source transactions.
func (s *stream) groupReady() bool { return s.tgtOpen && !s.inTx && s.pendingEnd != 0 }

// tick does what is due: commit a group, tell the source our position, report status.
func (s *stream) tick(ctx context.Context) error {
	now := time.Now()
	if s.groupReady() && !now.Before(s.groupDeadline) {
		if err := s.commitTarget(ctx); err != nil {
			return err
		}
	}
	if !now.Before(s.nextStandby) {
		if err := s.sendStandby(true); err != nil {
			return err
		}
	}
	if !now.Before(s.nextStatus) {
		if err := s.reportStatus(ctx); err != nil {
			return err
		}
		s.nextStatus = now.Add(s.e.opts.StatusInterval)
	}
	return nil
}

func (s *stream) copyData(ctx context.Context, data []byte) error {
	if len(data) == 0 {
		return nil
	}
	switch data[0] {
	case pglogrepl.PrimaryKeepaliveMessageByteID:
		ka, err := pglogrepl.ParsePrimaryKeepaliveMessage(data[1:])
		if err != nil {
			return fmt.Errorf("read a keepalive from the source: %w", err)
		}
		s.serverEnd = max(s.serverEnd, ka.ServerWALEnd)
		// Everything before the source's position has been sent and, with nothing in
		// flight, applied: confirming it lets the source recycle WAL of other tables.
		if !s.inTx && !s.tgtOpen {
			s.confirmed = max(s.confirmed, ka.ServerWALEnd)
		}
		if ka.ReplyRequested {
			return s.sendStandby(false)
		}
	case pglogrepl.XLogDataByteID:
		xld, err := pglogrepl.ParseXLogData(data[1:])
		if err != nil {
			return fmt.Errorf("read changes from the source: %w", err)
		}
		s.serverEnd = max(s.serverEnd, xld.ServerWALEnd)
		msg, err := pglogrepl.Parse(xld.WALData)
		if err != nil {
			return fmt.Errorf("decode changes from the source: %w", err)
		}
		return s.apply(ctx, msg)
	}
	return nil
}

// apply handles one pgoutput message.
func (s *stream) apply(ctx context.Context, msg pglogrepl.Message) error {
	switch m := msg.(type) {
	case *pglogrepl.RelationMessage:
		return s.relation(ctx, m)
	case *pglogrepl.BeginMessage:
		if s.groupReady() && !time.Now().Before(s.groupDeadline) {
			if err := s.commitTarget(ctx); err != nil {
				return err
			}
		}
		s.inTx = true
		s.txChanges = 0
		s.txCommitTime = m.CommitTime
		// Transactions whose commit is before what the target holds were applied before
		// a crash: the source replays from its confirmed position, we skip what we have.
		s.skip = m.FinalLSN < max(s.committed, s.pendingEnd)
	case *pglogrepl.CommitMessage:
		s.inTx = false
		if s.skip {
			return nil
		}
		if s.txChanges == 0 {
			return nil // nothing of ours; nothing to record
		}
		s.pendingEnd = m.TransactionEndLSN
		s.pendingChanges += s.txChanges
		s.pendingCommitTime = m.CommitTime
		if s.groupDeadline.IsZero() {
			s.groupDeadline = time.Now().Add(groupWindow)
		}
		if s.pendingChanges >= groupMaxChanges {
			return s.commitTarget(ctx)
		}
	case *pglogrepl.InsertMessage:
		if s.skip {
			return nil
		}
		rel, err := s.relationOf(m.RelationID)
		if rel == nil || err != nil {
			return err
		}
		return s.upsert(ctx, rel, m.Tuple)
	case *pglogrepl.UpdateMessage:
		if s.skip {
			return nil
		}
		rel, err := s.relationOf(m.RelationID)
		if rel == nil || err != nil {
			return err
		}
		if m.OldTuple != nil {
			oldKey, err := rel.key(m.OldTuple)
			if err != nil {
				return err
			}
			newKey, err := rel.key(m.NewTuple)
			if err != nil {
				return err
			}
			if !sameKey(oldKey, newKey) {
				// The key changed: the row moves.
				if err := s.queue(ctx, rel.target.delete, oldKey); err != nil {
					return err
				}
			}
		}
		return s.upsert(ctx, rel, m.NewTuple)
	case *pglogrepl.DeleteMessage:
		if s.skip {
			return nil
		}
		rel, err := s.relationOf(m.RelationID)
		if rel == nil || err != nil {
			return err
		}
		key, err := rel.key(m.OldTuple)
		if err != nil {
			return err
		}
		s.txChanges++
		return s.queue(ctx, rel.target.delete, key)
	case *pglogrepl.TruncateMessage:
		if s.skip {
			return nil
		}
		var names []string
		for _, id := range m.RelationIDs {
			if rel := s.rels[id]; rel != nil {
				names = append(names, rel.target.t.sql())
			}
		}
		if len(names) == 0 {
			return nil
		}
		s.txChanges++
		return s.queue(ctx, "TRUNCATE "+strings.Join(names, ", "), nil)
	}
	return nil
}

// relation checks a source table's columns, as the source now sends them, against the
// target table's: DDL is not replicated, so any difference stops the replication.
func (s *stream) relation(ctx context.Context, m *pglogrepl.RelationMessage) error {
	name := m.Namespace + "." + m.RelationName
	tgt := s.targets[name]
	if tgt == nil {
		s.rels[m.RelationID] = nil // in the publication but not ours: ignored
		return nil
	}
	cols := make([]column, len(m.Columns))
	names := make([]string, len(m.Columns))
	for i, c := range m.Columns {
		typ, err := s.typeName(ctx, c.DataType, c.TypeModifier)
		if err != nil {
			return err
		}
		cols[i] = column{name: c.Name, typ: typ}
		names[i] = c.Name
	}
	if !sameColumns(cols, tgt.t.cols) {
		return stopf("the columns of source table %s changed: the source now sends %s but target table %s has %s. "+
			"DDL is not replicated, so the replication stopped before applying the change; "+
			"change the target table to match, then resume", name, columnList(cols), tgt.t.qualified(), columnList(tgt.t.cols))
	}
	rel := &relation{target: tgt, cols: names}
	for _, k := range tgt.t.pk {
		rel.keyPos = append(rel.keyPos, slices.Index(names, k))
	}
	s.rels[m.RelationID] = rel
	return nil
}

func (s *stream) relationOf(id uint32) (*relation, error) {
	rel, ok := s.rels[id]
	if !ok {
		return nil, fmt.Errorf("the source sent a change for relation %d before describing it", id)
	}
	return rel, nil
}

// typeName is the source's name of a type, as format_type writes it.
func (s *stream) typeName(ctx context.Context, oid uint32, typmod int32) (string, error) {
	k := typeKey{oid, typmod}
	if name, ok := s.typeNames[k]; ok {
		return name, nil
	}
	var name string
	if err := s.src.QueryRow(ctx, "SELECT pg_catalog.format_type($1::oid, $2::int4)", oid, typmod).Scan(&name); err != nil {
		return "", fmt.Errorf("name the source's type %d: %w", oid, err)
	}
	s.typeNames[k] = name
	return name, nil
}

// key is a tuple's primary key values, as text.
func (r *relation) key(t *pglogrepl.TupleData) ([][]byte, error) {
	key := make([][]byte, len(r.keyPos))
	for i, p := range r.keyPos {
		if t == nil || p >= len(t.Columns) || t.Columns[p].DataType != pglogrepl.TupleDataTypeText {
			return nil, fmt.Errorf("a change to %s lacks its primary key", r.target.t.qualified())
		}
		key[i] = t.Columns[p].Data
	}
	return key, nil
}

func sameKey(a, b [][]byte) bool {
	return slices.EqualFunc(a, b, bytes.Equal)
}

// upsert writes a new row version; columns the source left out (unchanged TOASTed
// values) keep their target value.
func (s *stream) upsert(ctx context.Context, rel *relation, t *pglogrepl.TupleData) error {
	names := make([]string, 0, len(t.Columns))
	vals := make([][]byte, 0, len(t.Columns))
	for i, c := range t.Columns {
		switch c.DataType {
		case pglogrepl.TupleDataTypeNull:
			names = append(names, rel.cols[i])
			vals = append(vals, nil)
		case pglogrepl.TupleDataTypeText:
			names = append(names, rel.cols[i])
			vals = append(vals, c.Data)
		case pglogrepl.TupleDataTypeToast:
		default:
			return fmt.Errorf("a change to %s has a value in an unexpected format", rel.target.t.qualified())
		}
	}
	s.txChanges++
	return s.queue(ctx, rel.target.upsert(names), vals)
}

func (t *target) upsert(names []string) string {
	k := strings.Join(names, "\x00")
	if q, ok := t.upserts[k]; ok {
		return q
	}
	var b strings.Builder
	b.WriteString("INSERT INTO " + t.t.sql() + " (" + identList(names) + ") VALUES (")
	for i := range names {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString("$" + strconv.Itoa(i+1))
	}
	b.WriteString(") ON CONFLICT (" + identList(t.t.pk) + ") DO ")
	var sets []string
	for _, n := range names {
		if !slices.Contains(t.t.pk, n) {
			sets = append(sets, ident(n)+" = EXCLUDED."+ident(n))
		}
	}
	if len(sets) == 0 {
		b.WriteString("NOTHING")
	} else {
		b.WriteString("UPDATE SET " + strings.Join(sets, ", "))
	}
	q := b.String()
	t.upserts[k] = q
	return q
}

func deleteSQL(t *table) string {
	conds := make([]string, len(t.pk))
	for i, k := range t.pk {
		conds[i] = ident(k) + " = $" + strconv.Itoa(i+1)
	}
	return "DELETE FROM " + t.sql() + " WHERE " + strings.Join(conds, " AND ")
}

// queue adds a statement to the open target transaction, opening one if needed. Values
// are sent as text with their types left for the server to infer from the statement,
// exactly as pgoutput sent them.
func (s *stream) queue(ctx context.Context, sql string, vals [][]byte) error {
	if !s.tgtOpen {
		if err := s.openTarget(ctx); err != nil {
			return err
		}
	}
	if s.batch == nil {
		s.batch = &pgconn.Batch{}
	}
	s.batch.ExecParams(sql, vals, nil, nil, nil)
	s.batchLen++
	if s.batchLen >= batchStatements {
		return s.flush(ctx)
	}
	return nil
}

// openTarget begins a target transaction and locks the progress row, checking it still
// says what this worker last committed: if another worker applied changes since, this
// one has lost its lease and must not write.
func (s *stream) openTarget(ctx context.Context) error {
	b := &pgconn.Batch{}
	b.ExecParams("BEGIN", nil, nil, nil, nil)
	b.ExecParams("SELECT lsn FROM oriel_replication.progress WHERE replication = $1 FOR UPDATE",
		[][]byte{[]byte(s.job.Name())}, nil, nil, nil)
	res, err := s.tgt.PgConn().ExecBatch(ctx, b).ReadAll()
	if err != nil {
		return fmt.Errorf("begin a transaction in the target: %w", err)
	}
	want := strconv.FormatUint(uint64(s.committed), 10)
	if len(res) != 2 || len(res[1].Rows) != 1 || string(res[1].Rows[0][0]) != want {
		return errors.New("the target's replication progress moved under this worker: " +
			"another worker applies this replication, so this one stops")
	}
	s.tgtOpen = true
	return nil
}

// flush sends the buffered statements.
func (s *stream) flush(ctx context.Context) error {
	if s.batch == nil {
		return nil
	}
	b := s.batch
	s.batch, s.batchLen = nil, 0
	if _, err := s.tgt.PgConn().ExecBatch(ctx, b).ReadAll(); err != nil {
		return fmt.Errorf("apply changes to the target: %w", err)
	}
	return nil
}

// commitTarget records the position in the target and commits.
func (s *stream) commitTarget(ctx context.Context) error {
	if s.batch == nil {
		s.batch = &pgconn.Batch{}
	}
	s.batch.ExecParams(`UPDATE oriel_replication.progress
		SET lsn = $2, rows_applied = rows_applied + $3, update_time = now() WHERE replication = $1`,
		[][]byte{
			[]byte(s.job.Name()),
			[]byte(strconv.FormatUint(uint64(s.pendingEnd), 10)),
			[]byte(strconv.FormatInt(s.pendingChanges, 10)),
		}, nil, nil, nil)
	s.batch.ExecParams("COMMIT", nil, nil, nil, nil)
	if err := s.flush(ctx); err != nil {
		return err
	}
	s.committed = s.pendingEnd
	s.confirmed = max(s.confirmed, s.committed)
	s.rowsApplied += s.pendingChanges
	s.lastCommitTime = s.pendingCommitTime
	s.tgtOpen = false
	s.pendingEnd, s.pendingChanges, s.groupDeadline = 0, 0, time.Time{}
	// The source hears of it at the next standby tick: what it resends after a crash in
	// between is skipped by position.
	return nil
}

// sendStandby tells the source how far the target has committed: the source may then
// recycle the WAL before it, and never sends those changes again.
func (s *stream) sendStandby(replyRequested bool) error {
	err := pglogrepl.SendStandbyStatusUpdate(context.Background(), s.repl, pglogrepl.StandbyStatusUpdate{
		WALWritePosition: s.confirmed,
		WALFlushPosition: s.confirmed,
		WALApplyPosition: s.confirmed,
		ReplyRequested:   replyRequested,
	})
	if err != nil {
		return fmt.Errorf("send the applied position to the source: %w", err)
	}
	s.nextStandby = time.Now().Add(standbyInterval)
	return nil
}

// reportStatus measures lag and retained WAL at the source and reports them.
func (s *stream) reportStatus(ctx context.Context) error {
	var current, restart pglogrepl.LSN
	var restartText *string
	var currentText string
	err := s.src.QueryRow(ctx, `
		SELECT pg_catalog.pg_current_wal_lsn()::text, restart_lsn::text
		FROM pg_catalog.pg_replication_slots WHERE slot_name = $1`, s.job.slot()).Scan(&currentText, &restartText)
	if errors.Is(err, pgx.ErrNoRows) {
		return fmt.Errorf("the replication slot %s disappeared at the source", s.job.slot())
	}
	if err != nil {
		return fmt.Errorf("measure the replication's lag at the source: %w", err)
	}
	if current, err = pglogrepl.ParseLSN(currentText); err != nil {
		return fmt.Errorf("read the source's WAL position %q: %w", currentText, err)
	}
	if restartText != nil {
		if restart, err = pglogrepl.ParseLSN(*restartText); err != nil {
			return fmt.Errorf("read the slot's restart position %q: %w", *restartText, err)
		}
	}
	st := Status{
		State:        datagatewayv1.Replication_STATE_STREAMING,
		SlotName:     s.job.slot(),
		AppliedLSN:   uint64(s.confirmed),
		SnapshotRows: s.snapshotRows,
		RowsApplied:  s.rowsApplied,
	}
	if current > s.confirmed {
		st.LagBytes = int64(current - s.confirmed)
	}
	if restart != 0 && current > restart {
		st.RetainedWALBytes = int64(current - restart)
	}
	pending := s.inTx || s.tgtOpen || s.serverEnd > s.confirmed
	if pending {
		since := s.lastCommitTime
		if since.IsZero() {
			since = s.txCommitTime
		}
		if !since.IsZero() {
			st.LagSeconds = max(0, s.e.opts.Now().Sub(since).Seconds())
		}
	}
	if w := walWarning(st.RetainedWALBytes, s.e.opts.WALWarningBytes); w != "" {
		st.Warnings = append(st.Warnings, w)
	}
	s.report(ctx, st)
	return nil
}

// formatBytes writes a size for people: 1.5 GiB.
func formatBytes(n int64) string {
	const unit = 1024
	if n < unit {
		return strconv.FormatInt(n, 10) + " B"
	}
	div, exp := int64(unit), 0
	for m := n / unit; m >= unit; m /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f %ciB", float64(n)/float64(div), "KMGTPE"[exp])
}
