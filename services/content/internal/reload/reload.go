// Package reload runs reloads: it claims queued reloads from the store (the oldest first,
// within each tenant's concurrency limit, at most a few at a time on this replica), runs
// the app's load script, SQL statements through the datagateway's Query stream and inline
// tables in place, builds the in-memory model, saves it as a snapshot and, in one store
// transaction with the reload's success, makes it the app's serving model.
//
// # State machine
//
//	QUEUED  → RUNNING    when a runner claims it (store.ClaimReload).
//	RUNNING → SUCCEEDED  the script ran, the model was built and its snapshot saved.
//	RUNNING → FAILED     a script, source or model error; the previous model keeps serving.
//	RUNNING → CANCELED   CancelReload asked; the runner sees it at its next lease renewal.
//	QUEUED  → CANCELED   CancelReload, at once.
//	RUNNING → QUEUED     the runner's lease ran out (it died, or lost the database), up to
//	                     MaxAttempts times; then FAILED. A reload is never lost.
package reload

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"strconv"
	"strings"
	"sync"
	"time"

	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/timestamppb"

	contentv1 "github.com/oriel-dev/oriel/gen/pb/oriel/content/v1"
	datagatewayv1 "github.com/oriel-dev/oriel/gen/pb/oriel/datagateway/v1"
	"github.com/oriel-dev/oriel/platform/auth"
	"github.com/oriel-dev/oriel/services/content/internal/blob"
	"github.com/oriel-dev/oriel/services/content/internal/datasource"
	"github.com/oriel-dev/oriel/services/content/internal/engine"
	"github.com/oriel-dev/oriel/services/content/internal/models"
	"github.com/oriel-dev/oriel/services/content/internal/script"
	"github.com/oriel-dev/oriel/services/content/internal/store"
)

// Defaults for Options left zero.
const (
	DefaultLease       = 30 * time.Second
	DefaultPoll        = time.Second
	DefaultConcurrency = 2
	DefaultTenantLimit = 1
	DefaultMaxAttempts = 3
	// DefaultQueryTimeout bounds one SQL statement of a script.
	DefaultQueryTimeout = 30 * time.Minute
)

// Options configure a Runner.
type Options struct {
	Store  store.Store
	Blobs  blob.Store
	Models *models.Cache
	// Datagateway runs the scripts' SQL. Calls carry Credential, content's own key: a
	// reload runs for whoever queued it, long after that call ended.
	Datagateway datagatewayv1.ConnectionServiceClient
	Credential  string
	Log         *slog.Logger
	Now         func() time.Time
	// Owner names this replica in the leases it holds.
	Owner string
	Lease time.Duration
	Poll  time.Duration
	// Concurrency is how many reloads this replica runs at once; TenantLimit how many of
	// one tenant run at once across all replicas.
	Concurrency, TenantLimit, MaxAttempts int
	QueryTimeout                          time.Duration
}

// Runner runs reloads until its context ends.
type Runner struct {
	o    Options
	wake chan struct{}
}

// New returns a runner.
func New(o Options) *Runner {
	if o.Now == nil {
		o.Now = time.Now
	}
	o.Lease = cmp.Or(o.Lease, DefaultLease)
	o.Poll = cmp.Or(o.Poll, DefaultPoll)
	o.Concurrency = cmp.Or(o.Concurrency, DefaultConcurrency)
	o.TenantLimit = cmp.Or(o.TenantLimit, DefaultTenantLimit)
	o.MaxAttempts = cmp.Or(o.MaxAttempts, DefaultMaxAttempts)
	o.QueryTimeout = cmp.Or(o.QueryTimeout, DefaultQueryTimeout)
	return &Runner{o: o, wake: make(chan struct{}, 1)}
}

// Notify tells the runner a reload was queued, so it need not wait for its next poll.
func (r *Runner) Notify() {
	select {
	case r.wake <- struct{}{}:
	default:
	}
}

// Run claims and runs reloads until ctx ends. Reloads running then are left to their
// leases: another replica (or this one, restarted) queues them again.
func (r *Runner) Run(ctx context.Context) error {
	slots := make(chan struct{}, r.o.Concurrency)
	var wg sync.WaitGroup
	defer wg.Wait()
	for {
		select {
		case slots <- struct{}{}:
		case <-ctx.Done():
			return nil
		}
		claimed, err := r.o.Store.ClaimReload(ctx, r.o.Owner, r.o.Lease, r.o.TenantLimit, r.o.MaxAttempts, r.o.Now().UTC())
		if err != nil && ctx.Err() == nil {
			r.o.Log.Error("could not claim a reload", "error", err)
		}
		if claimed == nil {
			<-slots
			select {
			case <-ctx.Done():
				return nil
			case <-r.wake:
			case <-time.After(r.o.Poll):
			}
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer func() { <-slots }()
			r.run(ctx, claimed)
		}()
		r.Notify() // another slot may be free: look again at once
	}
}

// Errors that stop a reload other than the script's own.
var (
	errCanceled  = errors.New("the reload was canceled")
	errLeaseLost = errors.New("another replica took the reload over")
)

// run runs one claimed reload to its end.
func (r *Runner) run(parent context.Context, rl *store.ReloadLease) {
	ctx, cancel := context.WithCancelCause(parent)
	defer cancel(nil)
	start := r.o.Now()
	j := &job{runner: r, reload: rl, log: r.o.Log.With("reload", rl.Reload.GetName())}
	j.logf("reload of %s started by %s (attempt %d)", rl.Reload.GetAppRevision(), rl.Reload.GetCreator(), rl.Attempt)

	renewed := make(chan struct{})
	go func() {
		defer close(renewed)
		j.keepLease(ctx, cancel)
	}()
	model, err := j.execute(ctx)
	var ptr models.Pointer
	if err == nil {
		ptr, err = j.save(ctx, model)
	}
	cause := context.Cause(ctx)
	cancel(nil)
	<-renewed
	if errors.Is(cause, errLeaseLost) || (parent.Err() != nil && !errors.Is(cause, errCanceled)) {
		// Not ours to finish: the new owner, or the next one after the lease runs out.
		j.log.Warn("reload interrupted; it will be queued again", "cause", cause)
		return
	}
	end := r.o.Now()
	fin := store.ReloadResult{Duration: end.Sub(start)}
	j.mu.Lock()
	fin.Log, fin.Tables, fin.PeakMemoryBytes = j.pending, j.tables, j.peak
	j.pending = nil
	j.mu.Unlock()
	switch {
	case errors.Is(cause, errCanceled):
		fin.State = contentv1.Reload_STATE_CANCELED
		fin.Log = append(fin.Log, j.line("reload canceled; the previous data keeps serving"))
	case err != nil:
		fin.State = contentv1.Reload_STATE_FAILED
		fin.Error = err.Error()
		var se *script.Error
		if errors.As(err, &se) {
			fin.ErrorPosition = &contentv1.ScriptPosition{Line: int32(se.Pos.Line), Column: int32(se.Pos.Column)}
		}
		fin.Log = append(fin.Log, j.line("reload failed: "+err.Error()+"; the previous data keeps serving"))
	default:
		fin.State = contentv1.Reload_STATE_SUCCEEDED
		fin.Model = &store.AppModel{SnapshotKey: ptr.Snapshot, MemoryBytes: model.MemoryBytes()}
		fin.Log = append(fin.Log, j.line(fmt.Sprintf("reload succeeded in %s; the model holds %d bytes",
			end.Sub(start).Round(time.Millisecond), model.MemoryBytes())))
	}
	// The finish must land even though this replica may be shutting down.
	fctx, fcancel := context.WithTimeout(context.WithoutCancel(parent), 30*time.Second)
	defer fcancel()
	previous, _ := r.o.Store.GetAppModel(fctx, rl.Key.Tenant, rl.Key.App)
	if _, err := r.o.Store.FinishReload(fctx, rl.Key, r.o.Owner, fin, end.UTC()); err != nil {
		j.log.Error("could not record the end of a reload", "error", err)
		return
	}
	j.log.Info("reload ended", "state", fin.State.String(), "duration", fin.Duration)
	if fin.State == contentv1.Reload_STATE_SUCCEEDED {
		ptr.LoadTime = end.UTC()
		r.o.Models.Put(rl.Key.Tenant, rl.Key.App, ptr, model)
		if previous != nil && previous.SnapshotKey != ptr.Snapshot {
			// Replicas still opening the old snapshot find the new pointer when they retry.
			if err := r.o.Blobs.Delete(fctx, previous.SnapshotKey); err != nil {
				j.log.Warn("could not delete a replaced snapshot", "snapshot", previous.SnapshotKey, "error", err)
			}
		}
	} else if err := r.o.Blobs.Delete(fctx, snapshotKey(rl)); err != nil {
		j.log.Warn("could not delete an unused snapshot", "error", err)
	}
}

// snapshotKey is where a reload's snapshot goes.
func snapshotKey(rl *store.ReloadLease) string {
	return fmt.Sprintf("%s/%s/%s.snapshot", rl.Key.Tenant, rl.Key.App, rl.Key.ID)
}

// save writes the model's snapshot.
func (j *job) save(ctx context.Context, m *engine.Model) (models.Pointer, error) {
	key := snapshotKey(j.reload)
	pr, pw := io.Pipe()
	go func() { pw.CloseWithError(m.WriteSnapshot(pw)) }()
	n, err := j.runner.o.Blobs.Put(ctx, key, pr)
	pr.CloseWithError(err)
	if err != nil {
		return models.Pointer{}, fmt.Errorf("could not save the model's snapshot: %w", err)
	}
	j.logf("snapshot saved (%d bytes)", n)
	return models.Pointer{Reload: j.reload.Reload.GetName(), Snapshot: key}, nil
}

// keepLease renews the lease, and with it the progress, until ctx ends; a cancel request
// or a lost lease cancels ctx with the reason. It renews at least every progressEvery, so
// that watchers see progress and a cancel takes effect within moments.
func (j *job) keepLease(ctx context.Context, cancel context.CancelCauseFunc) {
	t := time.NewTicker(min(j.runner.o.Lease/3, progressEvery))
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		j.mu.Lock()
		p := store.ReloadProgress{Log: j.pending, Tables: j.tables, PeakMemoryBytes: j.peak}
		j.pending = nil
		j.mu.Unlock()
		cancelRequested, err := j.runner.o.Store.RenewReload(ctx, j.reload.Key, j.runner.o.Owner, j.runner.o.Lease, p, j.runner.o.Now().UTC())
		switch {
		case errors.Is(err, store.ErrLeaseLost):
			cancel(errLeaseLost)
			return
		case err != nil:
			if ctx.Err() == nil {
				j.log.Warn("could not renew a reload's lease", "error", err)
			}
			j.mu.Lock()
			j.pending = append(p.Log, j.pending...) // try again with the next renewal
			j.mu.Unlock()
		case cancelRequested:
			cancel(errCanceled)
			return
		}
	}
}

// job is one reload while it runs.
type job struct {
	runner *Runner
	reload *store.ReloadLease
	log    *slog.Logger

	mu      sync.Mutex
	pending []*contentv1.ReloadLogLine // not yet stored
	tables  []*contentv1.ReloadTable
	peak    int64
}

func (j *job) line(msg string) *contentv1.ReloadLogLine {
	return &contentv1.ReloadLogLine{Time: timestamppb.New(j.runner.o.Now()), Message: msg}
}

func (j *job) logf(format string, args ...any) {
	l := j.line(fmt.Sprintf(format, args...))
	j.mu.Lock()
	j.pending = append(j.pending, l)
	j.mu.Unlock()
}

func (j *job) notePeak(b *engine.Builder) {
	n := b.MemoryBytes()
	j.mu.Lock()
	j.peak = max(j.peak, n)
	j.mu.Unlock()
}

func (j *job) addTable(t *contentv1.ReloadTable) {
	j.mu.Lock()
	j.tables = append(j.tables, t)
	j.mu.Unlock()
}

// execute runs the script into a model.
func (j *job) execute(ctx context.Context) (*engine.Model, error) {
	rl := j.reload
	name := rl.Reload.GetAppRevision()
	revision, err := strconv.ParseInt(name[strings.LastIndex(name, "/")+1:], 10, 64)
	if err != nil {
		return nil, fmt.Errorf("the reload names no app revision (%q)", name)
	}
	rev, err := j.runner.o.Store.GetAppRevision(ctx, rl.Key.Tenant, rl.Key.App, revision)
	if err != nil {
		return nil, fmt.Errorf("could not read %s: %w", name, err)
	}
	def := rev.GetDefinition()
	vars := map[string]string{}
	for k, v := range def.GetVariables() {
		vars[k] = v
	}
	for k, v := range rl.Reload.GetVariables() {
		vars[k] = v
	}
	actions, _, err := script.Compile(def.GetLoadScript(), vars)
	if err != nil {
		return nil, err
	}
	if len(actions) == 0 {
		return nil, errors.New("the load script loads no table")
	}
	b := engine.NewBuilder()
	for _, a := range actions {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		switch a := a.(type) {
		case *script.Trace:
			j.logf("%s", a.Text)
		case *script.InlineLoad:
			if err := j.loadInline(b, a); err != nil {
				return nil, err
			}
		case *script.SQLLoad:
			if err := j.loadSQL(ctx, b, a); err != nil {
				return nil, err
			}
		}
	}
	j.notePeak(b)
	m, err := b.Build()
	if err != nil {
		return nil, fmt.Errorf("the data model: %w", err)
	}
	for _, red := range def.GetReductions() {
		if !hasField(m, red.GetField()) {
			j.logf("warning: reduction field %q is not in the data model; sessions with reductions will see no data", red.GetField())
		}
	}
	return m, nil
}

func hasField(m *engine.Model, field string) bool {
	for _, f := range m.Fields() {
		if f.Name == field {
			return true
		}
	}
	return false
}

// scriptErr places an error at an action's position.
func scriptErr(a script.Action, format string, args ...any) error {
	return &script.Error{Pos: a.Position(), Message: fmt.Sprintf(format, args...)}
}

func (j *job) loadInline(b *engine.Builder, a *script.InlineLoad) error {
	t, err := b.AddTable(a.Table, a.Fields, engine.TableSource{})
	if err != nil {
		return scriptErr(a, "%v", err)
	}
	row := make([]engine.Value, len(a.Fields))
	for _, r := range a.Rows {
		for i, v := range r {
			row[i] = inlineValue(v)
		}
		if err := t.Append(row); err != nil {
			return scriptErr(a, "%v", err)
		}
	}
	j.addTable(&contentv1.ReloadTable{Name: a.Table, Rows: int64(len(a.Rows)), Fields: a.Fields})
	j.logf("%s: %d rows inline", a.Table, len(a.Rows))
	return nil
}

// inlineValue reads an inline cell: a number when it reads as one (keeping its text as
// written), as in Qlik.
func inlineValue(s *string) engine.Value {
	if s == nil {
		return engine.NullValue
	}
	if f, err := strconv.ParseFloat(*s, 64); err == nil && !math.IsInf(f, 0) && !math.IsNaN(f) {
		return engine.NumberValue(f, *s)
	}
	return engine.TextValue(*s)
}

// progressEvery is the longest between two writes of a running reload's progress.
const progressEvery = 2 * time.Second

// memoryCheckRows is how often a load samples the builder's memory.
const memoryCheckRows = 1 << 16

func (j *job) loadSQL(ctx context.Context, b *engine.Builder, a *script.SQLLoad) error {
	conn, err := datasource.ConnectionName(j.reload.Key.Tenant, a.Connection)
	if err != nil {
		return scriptErr(a, "%v", err)
	}
	start := time.Now()
	j.logf("%s: querying %s", a.Table, conn)
	qctx, cancel := context.WithTimeout(ctx, j.runner.o.QueryTimeout)
	defer cancel()
	var t *engine.TableBuilder
	var fields []string
	var rows int64
	var buildErr error
	header := func(names []string) error {
		fields = names
		t, buildErr = b.AddTable(a.Table, names, engine.TableSource{Connection: conn, Statement: a.Statement})
		return buildErr
	}
	row := func(values []engine.Value) error {
		if buildErr = t.Append(values); buildErr != nil {
			return buildErr
		}
		if rows++; rows%memoryCheckRows == 0 {
			j.notePeak(b)
		}
		return nil
	}
	stats, err := datasource.Query(auth.OutgoingCredential(qctx, j.runner.o.Credential), j.runner.o.Datagateway,
		&datagatewayv1.QueryRequest{Name: conn, Statement: a.Statement, Timeout: durationpb.New(j.runner.o.QueryTimeout)},
		header, row)
	switch {
	case buildErr != nil:
		return scriptErr(a, "table %s: %v", a.Table, buildErr)
	case err != nil && ctx.Err() != nil:
		return ctx.Err()
	case err != nil:
		return scriptErr(a, "table %s: %s", a.Table, status.Convert(err).Message())
	case stats.GetTruncated():
		return scriptErr(a, "table %s: the result passed the datagateway's row limit (%d rows); ask the operator to raise --row-limit, or load less", a.Table, stats.GetRows())
	}
	j.addTable(&contentv1.ReloadTable{Name: a.Table, Rows: rows, Fields: fields})
	j.logf("%s: %d rows in %s", a.Table, rows, time.Since(start).Round(time.Millisecond))
	j.notePeak(b)
	return nil
}
