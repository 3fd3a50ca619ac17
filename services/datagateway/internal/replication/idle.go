package replication

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
)

// The slots of replications nobody streams (PAUSED or FAILED) still hold WAL at their
// source; this is where the engine measures them. See the package documentation.

const (
	// idlePage is how many idle replications one Store.Idle call lists.
	idlePage = 200
	// idleConcurrency bounds how many sources one replica measures at once.
	idleConcurrency = 4
	// idleTimeout bounds the measurement of one source, connecting included.
	idleTimeout = 15 * time.Second
	// idleMaxBackoff bounds how long a source that could not be measured is left alone.
	idleMaxBackoff = time.Minute
)

// walWarningPrefix starts the retained-WAL warning, and only it.
const walWarningPrefix = "the source keeps "

// walWarning is the warning for a slot that retains retained bytes of WAL, "" when that
// is not above threshold or threshold is 0 (no warning).
func walWarning(retained, threshold int64) string {
	if threshold <= 0 || retained <= threshold {
		return ""
	}
	return fmt.Sprintf(walWarningPrefix+"%s of WAL for this replication, above the %s warning threshold; "+
		"a paused or failing replication makes the source's disk fill up: resume it or delete it",
		formatBytes(retained), formatBytes(threshold))
}

// IsWALWarning says whether warning is the engine's retained-WAL warning: a Store's
// Measure replaces that warning and keeps the others.
func IsWALWarning(warning string) bool {
	return strings.HasPrefix(warning, walWarningPrefix) && strings.Contains(warning, " of WAL for this replication")
}

// sourceKey is a source connection: idle replications are measured per source, over one
// connection.
type sourceKey struct{ tenant, connection string }

// idleRetry is when a source that could not be measured is tried again.
type idleRetry struct {
	failures int
	at       time.Time
}

// watchIdle measures the slots of idle replications every StatusInterval (counted from
// the end of the previous round, so rounds never overlap) until ctx is done.
func (e *Engine) watchIdle(ctx context.Context) {
	timer := time.NewTimer(e.opts.StatusInterval)
	defer timer.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-timer.C:
		}
		e.measureIdle(ctx)
		timer.Reset(e.opts.StatusInterval)
	}
}

// measureIdle measures every idle replication once, at most idleConcurrency sources at
// a time, skipping sources that recently could not be measured.
func (e *Engine) measureIdle(ctx context.Context) {
	bySource := map[sourceKey][]*Job{}
	var sources []sourceKey
	var afterTenant, afterID string
	for {
		jobs, err := e.opts.Store.Idle(ctx, afterTenant, afterID, idlePage)
		if err != nil {
			if ctx.Err() == nil {
				e.log.Warn("list paused and failed replications", "error", err)
			}
			return
		}
		for _, job := range jobs {
			e.mu.Lock()
			running := e.running[job.Name()]
			e.mu.Unlock()
			if running || !validSlot.MatchString(job.SlotName) {
				continue // still wound down here; or a slot no query should name
			}
			k := sourceKey{job.Tenant, job.SourceConnection}
			if bySource[k] == nil {
				sources = append(sources, k)
			}
			bySource[k] = append(bySource[k], job)
		}
		if len(jobs) < idlePage {
			break
		}
		last := jobs[len(jobs)-1]
		afterTenant, afterID = last.Tenant, last.ID
	}

	now := e.opts.Now()
	e.idleMu.Lock()
	for k := range e.idleRetry {
		if bySource[k] == nil {
			delete(e.idleRetry, k) // no idle replication left there: forget it
		}
	}
	due := sources[:0]
	for _, k := range sources {
		if r, ok := e.idleRetry[k]; !ok || !now.Before(r.at) {
			due = append(due, k)
		}
	}
	e.idleMu.Unlock()

	sem := make(chan struct{}, idleConcurrency)
	var wg sync.WaitGroup
	defer wg.Wait()
	for _, k := range due {
		select {
		case <-ctx.Done():
			return
		case sem <- struct{}{}:
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			err := e.measureSource(ctx, k, bySource[k])
			e.idleMu.Lock()
			defer e.idleMu.Unlock()
			if err == nil {
				delete(e.idleRetry, k)
				return
			}
			if ctx.Err() != nil {
				return
			}
			r := e.idleRetry[k]
			r.failures++
			delay := e.opts.StatusInterval
			for i := 1; i < r.failures && delay < idleMaxBackoff; i++ {
				delay *= 2
			}
			r.at = e.opts.Now().Add(min(delay, idleMaxBackoff))
			e.idleRetry[k] = r
			e.log.Debug("measure the slots of paused and failed replications; skipping their source for now",
				"tenant", k.tenant, "connection", k.connection, "error", err, "retry_in", min(delay, idleMaxBackoff))
		}()
	}
}

// slotSQL reads how much WAL a slot retains and how far its confirmed position is behind.
// It only reads: the slot is left as it is.
const slotSQL = `
	SELECT (pg_catalog.pg_current_wal_lsn() - restart_lsn)::bigint,
	       (pg_catalog.pg_current_wal_lsn() - confirmed_flush_lsn)::bigint
	FROM pg_catalog.pg_replication_slots WHERE slot_name = $1`

// measureSource measures the slots of jobs, idle replications of one source, over one
// connection. An error means the source could not be measured; store errors are only
// logged.
func (e *Engine) measureSource(ctx context.Context, k sourceKey, jobs []*Job) error {
	ctx, cancel := context.WithTimeout(ctx, idleTimeout)
	defer cancel()
	source, err := e.resolve(ctx, jobs[0], "source", k.connection)
	if err != nil {
		return err
	}
	src, err := source.connect(ctx)
	if err != nil {
		return err
	}
	defer closeQuietly(src)
	for _, job := range jobs {
		var retained, lag *int64
		err := src.QueryRow(ctx, slotSQL, job.SlotName).Scan(&retained, &lag)
		if errors.Is(err, pgx.ErrNoRows) {
			// No slot (yet, or any more): it keeps no WAL, and there is no lag to measure.
			e.log.Debug("no replication slot to measure", "replication", job.Name(), "slot", job.SlotName)
			continue
		}
		if err != nil {
			return fmt.Errorf("read the replication slot %s: %w", job.SlotName, err)
		}
		var m Measurement
		if retained != nil { // NULL once the source invalidated the slot
			m.RetainedWALBytes = max(0, *retained)
		}
		if lag != nil {
			m.LagBytes = max(0, *lag)
		}
		m.WALWarning = walWarning(m.RetainedWALBytes, e.opts.WALWarningBytes)
		if err := e.opts.Store.Measure(ctx, job.Tenant, job.ID, m); err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			e.log.Warn("record the measurement of a replication slot", "replication", job.Name(), "error", err)
		}
	}
	return nil
}
