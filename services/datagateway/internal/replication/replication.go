// Package replication moves data from a source PostgreSQL into a target PostgreSQL: an
// initial snapshot consistent with the start of streaming, then logical replication
// (pgoutput). The target stores the applied position in the same transaction as the
// changes, so a replay after a crash is harmless.
//
// # How a replication runs
//
// An Engine runs in every datagateway replica. It claims replications from the Store with
// a lease (so one replica drives each), renews the lease while it works and gives it up
// when the replication is paused, deleted or the replica shuts down. For each claimed
// replication it:
//
//  1. checks the source tables: each must exist and have a primary key, and a replica
//     identity other than NOTHING or USING INDEX (deletes are applied by primary key);
//     otherwise the replication is FAILED with an error naming the table;
//  2. snapshots, unless the target already holds a finished snapshot for the current slot:
//     it drops any leftover slot, (re)creates the publication, creates the logical slot
//     with CREATE_REPLICATION_SLOT … LOGICAL pgoutput EXPORT_SNAPSHOT, and copies every
//     table inside a REPEATABLE READ transaction that imports the exported snapshot. The
//     whole snapshot is ONE target transaction: it creates missing target tables (same
//     schema, name, columns and primary key), truncates them, copies the rows and records
//     the slot's consistent point in oriel_replication.progress;
//  3. streams from the slot. Each source transaction is applied inside one target
//     transaction (a few consecutive source transactions may share one, to save commits)
//     that also advances oriel_replication.progress. Inserts and updates are upserts by
//     primary key, deletes are by primary key. Standby status updates confirm only
//     positions the target has committed.
//
// # Crashes
//
// A worker may die at any point. If it dies while snapshotting, the target transaction
// rolls back and the next worker restarts the snapshot cleanly: it drops the slot,
// truncates the target tables and creates the slot again (the target's progress row is
// what says a snapshot finished, not the Store's state). If it dies while streaming, the
// next worker reads the applied position from the target and skips every source
// transaction at or below it, so what the source replays is never applied twice. Before
// it applies anything, a worker locks the progress row and checks it still holds the
// position it expects, so two workers can never interleave their transactions.
//
// # What the source and target need
//
// The source runs with wal_level=logical and has a free replication slot and WAL sender;
// its user has the REPLICATION attribute and owns the tables (CREATE PUBLICATION needs
// that). The target's user may create schemas and tables. The engine reaches each
// directly with the connection's parameters or, for a connection routed through an agent
// pool, through a TCP tunnel from a connected agent of the pool (Options.Dial): the
// PostgreSQL protocol, TLS included, runs end to end between the engine and the source,
// and the agent only carries bytes. The host is then resolved where the agent runs. With
// no agent connected, or when the agent goes away, the replication retries as after any
// transient error and resumes from the target's applied position.
//
// # Paused and failed replications
//
// A PAUSED or FAILED replication keeps its slot, and the source keeps the WAL the slot has
// not confirmed: while paused, that grows with every write at the source. Nobody streams
// such a replication, so the engine measures it apart: every StatusInterval it lists the
// paused and failed replications that no worker holds (Store.Idle) and, for each source,
// opens one regular connection and reads each slot's retained WAL and lag from
// pg_replication_slots. It only reads: it claims nothing and leaves the slot alone. The
// figures and the retained-WAL warning go to the Store with Measure, which changes nothing
// else. Every replica does this; it is idle work and idempotent. A source that cannot be
// reached is skipped, logged at debug level, and left alone for a while.
//
// # DDL
//
// DDL is not replicated. When the columns the source sends for a table (a pgoutput
// relation message) differ from the target table's, by name or by type, the replication
// stops in state FAILED with an error naming the table and both column lists, instead of
// writing wrong data. Change the target table to match, then resume. TRUNCATE is
// replicated.
package replication

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"sync"
	"time"

	datagatewayv1 "github.com/oriel-dev/oriel/gen/pb/oriel/datagateway/v1"
)

// Job is a replication as the engine needs it.
type Job struct {
	// Tenant is the tenant id.
	Tenant string
	// ID is the replication id, the last part of its name.
	ID string
	// SourceConnection is the source connection's id (a connection of Tenant).
	SourceConnection string
	// TargetConnection is the target connection's id (a connection of Tenant).
	TargetConnection string
	// Tables are `schema.table` or `table` (schema public).
	Tables []string
	// State is the replication's state when it was claimed.
	State datagatewayv1.Replication_State
	// Deleting says the replication is being deleted: drop its slot and publication,
	// then FinishDelete.
	Deleting bool
	// SlotName is the slot (and publication) at the source, fixed when the replication
	// was created.
	SlotName string
}

// Name is the replication's resource name.
func (j *Job) Name() string { return "tenants/" + j.Tenant + "/replications/" + j.ID }

func (j *Job) slot() string { return j.SlotName }

// Status is what the engine reports about a replication it runs.
type Status struct {
	// State is SNAPSHOTTING or STREAMING; STREAMING also says the snapshot is done. A
	// store never lets it overwrite PAUSED or FAILED, which callers set.
	State datagatewayv1.Replication_State
	// SlotName is the slot at the source.
	SlotName string
	// AppliedLSN is the last source position the target committed.
	AppliedLSN uint64
	// LagBytes is how far the target is behind the source's WAL.
	LagBytes int64
	// LagSeconds is how long ago the last applied change was committed at the source
	// while changes are pending; 0 when caught up.
	LagSeconds float64
	// SnapshotRows is how many rows the snapshot copied.
	SnapshotRows int64
	// RowsApplied is how many changes were applied since the snapshot.
	RowsApplied int64
	// RetainedWALBytes is the WAL the source keeps for the slot.
	RetainedWALBytes int64
	// LastError is empty while the replication works; otherwise a transient error the
	// engine retries.
	LastError string
	// Warnings are things to act on, e.g. retained WAL above the threshold.
	Warnings []string
}

// Control is what a caller may have asked of a running replication.
type Control struct {
	// Paused: stop streaming and give the replication up.
	Paused bool
	// Deleting: stop and drop the slot and publication.
	Deleting bool
}

// ErrLeaseLost is returned by Store methods when owner no longer holds the replication's
// lease (it expired and another replica took it, or the replication is gone).
var ErrLeaseLost = errors.New("replication: lease lost")

// Store is what the engine needs from the datagateway's store. Every method but Claim
// acts only while owner holds the lease of the replication (tenant, id) and returns
// ErrLeaseLost otherwise.
type Store interface {
	// Claim leases to owner, for lease, one replication that needs a worker: one whose
	// lease has expired (or was released and its retry time has come) and that is
	// deleting, or neither paused nor failed. It returns nil, nil when there is none.
	Claim(ctx context.Context, owner string, lease time.Duration) (*Job, error)
	// Renew extends the lease by lease from now and says whether the replication was
	// paused or is being deleted since.
	Renew(ctx context.Context, tenant, id, owner string, lease time.Duration) (Control, error)
	// Report records the replication's status. It never overwrites PAUSED or FAILED.
	Report(ctx context.Context, tenant, id, owner string, st Status) error
	// Fail stops the replication: state FAILED, last_error message, lease released.
	Fail(ctx context.Context, tenant, id, owner, message string) error
	// Release gives the lease up; the replication may be claimed again from retryAt. A
	// non-empty lastError is recorded as the replication's last error.
	Release(ctx context.Context, tenant, id, owner string, retryAt time.Time, lastError string) error
	// FinishDelete removes a deleting replication, once its slot and publication are gone.
	FinishDelete(ctx context.Context, tenant, id, owner string) error

	// Idle lists, ordered by tenant then id, up to limit replications after (afterTenant,
	// afterID) that nobody streams but whose slot may still hold WAL: PAUSED or FAILED,
	// not being deleted, and not leased (no lease owner, or the lease expired). It needs
	// no lease and takes none.
	Idle(ctx context.Context, afterTenant, afterID string, limit int) ([]*Job, error)
	// Measure records what the engine measured of an idle replication's slot: its lag and
	// retained WAL bytes, and the retained-WAL warning (m.WALWarning replaces any earlier
	// one, see IsWALWarning; other warnings stay). It needs no lease and changes nothing
	// else (state, lease, last error, positions…). It does nothing, and returns nil, when
	// the replication is gone, being deleted, leased, or no longer PAUSED or FAILED.
	Measure(ctx context.Context, tenant, id string, m Measurement) error
}

// Measurement is what the engine reads of an idle replication's slot at the source.
type Measurement struct {
	// LagBytes is how far the slot's confirmed position is behind the source's WAL.
	LagBytes int64
	// RetainedWALBytes is the WAL the source keeps for the slot.
	RetainedWALBytes int64
	// WALWarning is the retained-WAL warning, worded as while streaming; "" when the
	// retained WAL is below the threshold (or the warning is disabled).
	WALWarning string
}

// Sources resolves connections to their parameters, decrypted credentials and route.
type Sources interface {
	// Source returns the parameters and decrypted credentials of connection (an id)
	// of tenant, and the agent pool the connection is routed through: "" when the
	// datagateway reaches it directly.
	Source(ctx context.Context, tenant, connection string) (src *datagatewayv1.Source, agentPool string, err error)
}

// Dial opens a TCP connection to host:port through a connected agent of the tenant's
// pool (tunnel.Hub.Dial).
type Dial func(ctx context.Context, tenant, pool, host string, port int) (net.Conn, error)

// Options configure an Engine.
type Options struct {
	// Store holds the replications. Required.
	Store Store
	// Sources resolves connections. Required.
	Sources Sources
	// Dial reaches connections routed through an agent pool; without it, replications
	// of such connections fail.
	Dial Dial
	// Log receives what the engine does; slog.Default() when nil.
	Log *slog.Logger
	// Owner names this replica in leases; unique per process. Required.
	Owner string
	// Lease is how long a claim lasts without renewal; 15 s when 0. It is renewed every
	// third of it, so it is also how long a dead replica's replications wait.
	Lease time.Duration
	// Poll is how often the engine looks for replications to claim; 2 s when 0.
	Poll time.Duration
	// WALWarningBytes: above this much WAL retained by a slot, the status carries a
	// warning; 0 disables the warning.
	WALWarningBytes int64
	// Now is the clock; time.Now when nil.
	Now func() time.Time
	// StatusInterval is how often a running replication reports its status, and how
	// often the slots of paused and failed replications are measured; 3 s when 0.
	StatusInterval time.Duration
	// MaxReplications bounds how many replications this replica runs at once; 32 when 0.
	MaxReplications int
	// MaxRetryDelay bounds the wait before a replication that hit a transient error is
	// tried again (the wait doubles from 1 s); 1 min when 0.
	MaxRetryDelay time.Duration
}

// Engine runs the replications this replica claims.
type Engine struct {
	opts Options
	log  *slog.Logger

	mu       sync.Mutex
	running  map[string]bool
	failures map[string]int
	jobs     sync.WaitGroup

	// idleMu guards idleRetry: when each source that could not be measured (see
	// measureIdle) is tried again.
	idleMu    sync.Mutex
	idleRetry map[sourceKey]idleRetry
}

// New returns an engine; Run starts it.
func New(opts Options) *Engine {
	if opts.Log == nil {
		opts.Log = slog.Default()
	}
	if opts.Lease <= 0 {
		opts.Lease = 15 * time.Second
	}
	if opts.Poll <= 0 {
		opts.Poll = 2 * time.Second
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.StatusInterval <= 0 {
		opts.StatusInterval = 3 * time.Second
	}
	if opts.MaxReplications <= 0 {
		opts.MaxReplications = 32
	}
	if opts.MaxRetryDelay <= 0 {
		opts.MaxRetryDelay = time.Minute
	}
	return &Engine{
		opts:      opts,
		log:       opts.Log.With("component", "replication", "owner", opts.Owner),
		running:   map[string]bool{},
		failures:  map[string]int{},
		idleRetry: map[sourceKey]idleRetry{},
	}
}

// Run claims and runs replications until ctx is done, then gives up the leases it holds
// and returns nil. It is a server.Worker: store errors are logged and retried, never
// returned, because one bad replication or a store hiccup must not stop the service.
func (e *Engine) Run(ctx context.Context) error {
	if e.opts.Store == nil || e.opts.Sources == nil || e.opts.Owner == "" {
		return errors.New("replication: Options.Store, Sources and Owner are required")
	}
	e.log.Info("replication engine started")
	var idle sync.WaitGroup
	idle.Add(1)
	go func() {
		defer idle.Done()
		e.watchIdle(ctx)
	}()
	timer := time.NewTimer(0)
	defer timer.Stop()
	for {
		select {
		case <-ctx.Done():
			e.jobs.Wait()
			idle.Wait()
			e.log.Info("replication engine stopped")
			return nil
		case <-timer.C:
		}
		e.claim(ctx)
		timer.Reset(e.opts.Poll)
	}
}

// claim starts every replication it can claim, up to MaxReplications.
func (e *Engine) claim(ctx context.Context) {
	for ctx.Err() == nil {
		e.mu.Lock()
		full := len(e.running) >= e.opts.MaxReplications
		e.mu.Unlock()
		if full {
			return
		}
		job, err := e.opts.Store.Claim(ctx, e.opts.Owner, e.opts.Lease)
		if err != nil {
			if ctx.Err() == nil {
				e.log.Error("claim a replication", "error", err)
			}
			return
		}
		if job == nil {
			return
		}
		key := job.Name()
		e.mu.Lock()
		if e.running[key] {
			// Our own lease expired while the old run winds down; let it finish first.
			e.mu.Unlock()
			e.release(job, e.opts.Now().Add(e.opts.Poll), "")
			return
		}
		e.running[key] = true
		e.mu.Unlock()
		e.jobs.Add(1)
		go func() {
			defer e.jobs.Done()
			defer func() {
				e.mu.Lock()
				delete(e.running, key)
				e.mu.Unlock()
			}()
			e.drive(ctx, job)
		}()
	}
}

// stopError is an error a retry cannot fix: the replication becomes FAILED with it.
type stopError struct{ msg string }

func (e *stopError) Error() string { return e.msg }

func stopf(format string, args ...any) error {
	return &stopError{msg: fmt.Sprintf(format, args...)}
}
