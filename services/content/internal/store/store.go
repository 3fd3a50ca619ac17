// Package store persists the content service's state: spaces and their members, apps
// and their immutable revisions, templates and their versions, and rollouts with their
// per-tenant targets and the lease of the worker driving them, reloads (a queue that the
// workers of every replica share) and the model each app serves. One implementation serves
// PostgreSQL and SQLite through platform/sqlstore; storetest is the conformance suite both
// pass.
package store

import (
	"context"
	"errors"
	"time"

	contentv1 "github.com/oriel-dev/oriel/gen/pb/oriel/content/v1"
)

// Errors the store returns; the API maps each to a status.
var (
	// ErrNotFound: no such resource (in that tenant).
	ErrNotFound = errors.New("not found")
	// ErrAlreadyExists: the id is taken.
	ErrAlreadyExists = errors.New("already exists")
	// ErrEtagMismatch: the resource changed since the etag given was read.
	ErrEtagMismatch = errors.New("etag mismatch")
	// ErrSpaceNotEmpty: a space still holds apps (deleted ones included, until purged).
	ErrSpaceNotEmpty = errors.New("space not empty")
	// ErrStateConflict: a rollout or reload is not in a state the transition starts from.
	ErrStateConflict = errors.New("state conflict")
	// ErrLeaseLost: another worker holds the rollout's or reload's lease now, or the reload
	// is no longer running.
	ErrLeaseLost = errors.New("lease lost")
)

// Page selects one page of a listing: items after AfterID, at most Limit.
type Page struct {
	AfterID string
	Limit   int
}

// Revision says who and what made an app revision.
type Revision struct {
	Source          contentv1.AppRevision_Source
	Author          string
	TemplateVersion string // for rollouts
	Time            time.Time
}

// AppQuery selects apps of a tenant.
type AppQuery struct {
	// Space, if set, is the one space id to list.
	Space string
	// Spaces, if not nil, are the only space ids whose apps may be listed (what the caller
	// may see).
	Spaces []string
	// Apps, if not nil, are the only app ids that may be listed (an embed token's allowed
	// resources).
	Apps []string
	// ShowDeleted also lists deleted apps.
	ShowDeleted bool
	Page        Page
}

// Target is one tenant of a rollout as the engine sees it.
type Target struct {
	Rollout string // rollout id
	Tenant  string // tenant id
	Wave    int
	Status  contentv1.RolloutTarget_Status
	// Reason says why a target failed or was skipped.
	Reason           string
	App              string // app id in the tenant
	PreviousRevision int64  // 0 when the rollout created the app
	AppliedRevision  int64
	// UpdateTime is when the target last changed: set by the store from the now of
	// CreateRollout (the rollout's create time), UpdateTarget and SetTargetsStatus.
	UpdateTime time.Time
}

// Lease is a worker's claim on a rollout.
type Lease struct {
	Rollout *contentv1.Rollout
	Owner   string
	Until   time.Time
}

// ReloadKey names one reload: its tenant, app and id.
type ReloadKey struct {
	Tenant, App, ID string
}

// NewReload is what CreateReload queues.
type NewReload struct {
	// Variables are the values for this reload over the app's own.
	Variables map[string]string
	Creator   string
	// RequestID, if set, makes a retried create of the same app return the reload the
	// first one queued.
	RequestID string
}

// ReloadLease is a worker's claim on a running reload.
type ReloadLease struct {
	Key ReloadKey
	// Reload is the reload as GetReload reads it once claimed: RUNNING, with its log.
	Reload *contentv1.Reload
	Owner  string
	Until  time.Time
	// Attempt numbers the run: 1, then one more after each run whose worker vanished.
	Attempt int
	// AppRevision is the number of the app revision whose script the reload runs (the
	// reload's app_revision).
	AppRevision int64
}

// ReloadProgress is what a running reload reports when its worker renews the lease.
type ReloadProgress struct {
	// Log is appended to the reload's log.
	Log []*contentv1.ReloadLogLine
	// Tables, if not nil, replace the tables loaded so far.
	Tables []*contentv1.ReloadTable
	// PeakMemoryBytes raises the reload's peak memory (a lower value leaves it).
	PeakMemoryBytes int64
}

// ReloadResult is how a reload ended.
type ReloadResult struct {
	// State is SUCCEEDED, FAILED or CANCELED.
	State         contentv1.Reload_State
	Error         string
	ErrorPosition *contentv1.ScriptPosition
	Duration      time.Duration
	// PeakMemoryBytes raises the reload's peak memory (a lower value leaves it).
	PeakMemoryBytes int64
	// Tables, if not nil, replace the tables loaded so far.
	Tables []*contentv1.ReloadTable
	// Log is appended to the reload's log.
	Log []*contentv1.ReloadLogLine
	// Model is the model the reload built, for SUCCEEDED only: its snapshot key and memory.
	// FinishReload makes it the app's and sets its tenant, app, reload and load time.
	Model *AppModel
}

// AppModel is the model an app serves: where its snapshot is, for every content replica to
// load.
type AppModel struct {
	Tenant, App string
	// Reload is the id of the reload that built it.
	Reload string
	// SnapshotKey is the snapshot's key in the blob store.
	SnapshotKey string
	MemoryBytes int64
	// LoadTime is when it became the app's.
	LoadTime time.Time
}

// Store is the content service's persistence. Tenant ids are bare ids; resource ids are
// the last segment of names. A resource of another tenant is ErrNotFound, exactly as a
// missing one.
type Store interface {
	// ReadWriteTx runs fn in a transaction, committed when fn returns nil.
	ReadWriteTx(ctx context.Context, fn func(ctx context.Context, tx Tx) error) error

	// GetSpace returns one space.
	GetSpace(ctx context.Context, tenant, id string) (*contentv1.Space, error)
	// ListSpaces returns a page of a tenant's spaces by id; only those in ids if not nil.
	ListSpaces(ctx context.Context, tenant string, ids []string, page Page) ([]*contentv1.Space, error)
	// ListSpaceMembers returns a page of a space's members by member id.
	ListSpaceMembers(ctx context.Context, tenant, space string, page Page) ([]*contentv1.SpaceMember, error)
	// SpaceRoles returns, by space id, the highest role any of members (user and group
	// names) holds in each space of the tenant where one holds any.
	SpaceRoles(ctx context.Context, tenant string, members []string) (map[string]contentv1.SpaceRole, error)

	// GetApp returns an app (deleted ones too) with its latest definition.
	GetApp(ctx context.Context, tenant, id string) (*contentv1.App, error)
	// ListApps returns a page of apps by id.
	ListApps(ctx context.Context, tenant string, q AppQuery) ([]*contentv1.App, error)
	// ListAppRevisions returns a page of an app's revisions, newest first (AfterID is a
	// revision number; the next page holds older ones).
	ListAppRevisions(ctx context.Context, tenant, app string, page Page) ([]*contentv1.AppRevision, error)
	// GetAppRevision returns one revision.
	GetAppRevision(ctx context.Context, tenant, app string, revision int64) (*contentv1.AppRevision, error)
	// PurgeDeletedApps deletes, with their revisions, up to limit apps deleted whose purge
	// time is not after now, and returns how many.
	PurgeDeletedApps(ctx context.Context, now time.Time, limit int) (int, error)
	// PurgeTenant deletes every space, member, app and revision of a tenant.
	PurgeTenant(ctx context.Context, tenant string) error

	// GetTemplate returns a template (with its latest version's name).
	GetTemplate(ctx context.Context, id string) (*contentv1.Template, error)
	// ListTemplates returns a page of templates by id.
	ListTemplates(ctx context.Context, page Page) ([]*contentv1.Template, error)
	// GetTemplateVersion returns one version.
	GetTemplateVersion(ctx context.Context, template, version string) (*contentv1.TemplateVersion, error)
	// ListTemplateVersions returns a page of a template's versions, newest first (AfterID is
	// a version id; the next page holds older ones).
	ListTemplateVersions(ctx context.Context, template string, page Page) ([]*contentv1.TemplateVersion, error)
	// ListDrift returns a page, by app name, of the apps deployed from the template whose
	// latest revision is not the one the rollout made.
	ListDrift(ctx context.Context, template string, page Page) ([]*contentv1.Drift, error)

	// GetRollout returns a rollout with its progress counted from its targets.
	GetRollout(ctx context.Context, id string) (*contentv1.Rollout, error)
	// ListRollouts returns a page of rollouts, newest first (AfterID is a rollout id).
	ListRollouts(ctx context.Context, page Page) ([]*contentv1.Rollout, error)
	// ListTargets returns a page of a rollout's targets by tenant id; only those with
	// status if it is not unspecified.
	ListTargets(ctx context.Context, rollout string, status contentv1.RolloutTarget_Status, page Page) ([]*Target, error)
	// ClaimRollout leases to owner, until `until`, the oldest rollout that needs a worker
	// (PENDING, RUNNING, CANCELLING or ROLLING_BACK) whose lease is free or expired at now;
	// ErrNotFound when there is none. Two workers never hold one rollout at once.
	ClaimRollout(ctx context.Context, owner string, now, until time.Time) (*Lease, error)
	// RenewLease extends owner's lease; ErrLeaseLost if owner no longer holds it.
	RenewLease(ctx context.Context, rollout, owner string, until time.Time) error
	// ReleaseLease gives the lease up.
	ReleaseLease(ctx context.Context, rollout, owner string) error

	// CreateReload queues a reload of the app at its latest revision, with an id that
	// begins with now (so ids sort by creation; reloads created in one microsecond sort
	// by their random rest), and returns it with created true; ErrNotFound if there is no
	// such app. With a request id the app already used, it returns the reload
	// that request queued, and created false.
	CreateReload(ctx context.Context, tenant, app string, r NewReload, now time.Time) (reload *contentv1.Reload, created bool, err error)
	// GetReload returns a reload with its log.
	GetReload(ctx context.Context, key ReloadKey) (*contentv1.Reload, error)
	// ListReloads returns a page of an app's reloads, newest first, without their logs
	// (AfterID is a reload id; the next page holds older ones); ErrNotFound if there is no
	// such app.
	ListReloads(ctx context.Context, tenant, app string, page Page) ([]*contentv1.Reload, error)
	// CancelReload cancels a QUEUED reload at once (CANCELED, its end time now), and asks
	// the worker of a RUNNING one to end it as CANCELED (RenewReload tells it); it returns
	// the reload. ErrStateConflict once the reload has ended.
	CancelReload(ctx context.Context, key ReloadKey, now time.Time) (*contentv1.Reload, error)
	// ClaimReload first ends the runs whose lease expired at now: each such reload is
	// queued again, or, after maxAttempts runs, FAILED ("the reload was interrupted N
	// times"), or CANCELED if a cancel was asked for. Then it leases to owner, for lease,
	// the oldest QUEUED reload whose tenant runs fewer than perTenantLimit reloads and whose
	// app runs none: RUNNING, its start time now. It returns nil when no reload can be
	// claimed. Concurrent claimers never take one reload twice nor exceed the limit.
	ClaimReload(ctx context.Context, owner string, lease time.Duration, perTenantLimit, maxAttempts int, now time.Time) (*ReloadLease, error)
	// RenewReload extends owner's lease of a RUNNING reload to now+lease and records p;
	// it reports whether a cancel was asked for. ErrLeaseLost if owner no longer holds it.
	// The log keeps its first 500 lines and its last 500, and says how many it dropped.
	RenewReload(ctx context.Context, key ReloadKey, owner string, lease time.Duration, p ReloadProgress, now time.Time) (cancelRequested bool, err error)
	// FinishReload ends owner's RUNNING reload as res says, its end time now, and returns
	// it. For SUCCEEDED, the same transaction makes res.Model the app's model, so a reload
	// never reads as succeeded without serving. ErrLeaseLost if owner no longer holds it.
	FinishReload(ctx context.Context, key ReloadKey, owner string, res ReloadResult, now time.Time) (*contentv1.Reload, error)
	// GetAppModel returns the model an app serves; ErrNotFound before its first successful
	// reload.
	GetAppModel(ctx context.Context, tenant, app string) (*AppModel, error)
	// SnapshotKeys returns the snapshot keys of every app's model: the snapshots in use.
	SnapshotKeys(ctx context.Context) (map[string]bool, error)
}

// Tx is what a transaction can do. Reads through a Tx lock what they read (for update)
// until commit. After any error the transaction is spent: return the error.
type Tx interface {
	// CreateSpace stores s (name and times set by the caller) and sets its etag;
	// ErrAlreadyExists if the id is taken.
	CreateSpace(ctx context.Context, tenant, id string, s *contentv1.Space) error
	// GetSpace returns one space.
	GetSpace(ctx context.Context, tenant, id string) (*contentv1.Space, error)
	// UpdateSpace writes display name, description and update time if the etag is still
	// etag ("" skips the check) and sets the new etag.
	UpdateSpace(ctx context.Context, tenant, id, etag string, s *contentv1.Space) error
	// DeleteSpace deletes a space and its members if its etag is still etag; ErrSpaceNotEmpty
	// while it holds apps.
	DeleteSpace(ctx context.Context, tenant, id, etag string) error
	// PutSpaceMember creates or replaces the member whose id is m's last name segment.
	PutSpaceMember(ctx context.Context, tenant, space string, m *contentv1.SpaceMember) error
	// DeleteSpaceMember deletes a member.
	DeleteSpaceMember(ctx context.Context, tenant, space, member string) error

	// GetApp returns an app, locked for update.
	GetApp(ctx context.Context, tenant, id string) (*contentv1.App, error)
	// CreateApp stores a (name, space, owner, labels, definition, state and times set by
	// the caller) with its first revision made as rev says, and sets its revision and
	// etag; ErrAlreadyExists if the id is taken.
	CreateApp(ctx context.Context, tenant, id string, a *contentv1.App, rev Revision) error
	// SaveApp writes a new revision of a made as rev says (title, description, labels,
	// definition, template version, published_from, space) if the app's etag is still etag
	// ("" skips the check), and sets a's revision, update time and etag.
	SaveApp(ctx context.Context, tenant, id, etag string, a *contentv1.App, rev Revision) error
	// SetAppState sets an app's state and purge time (no new revision) if its etag is
	// still etag, and returns it.
	SetAppState(ctx context.Context, tenant, id, etag string, state contentv1.App_State, purgeTime *time.Time, now time.Time) (*contentv1.App, error)
	// GetAppRevision returns one revision.
	GetAppRevision(ctx context.Context, tenant, app string, revision int64) (*contentv1.AppRevision, error)

	// CreateTemplate stores t; ErrAlreadyExists if the id is taken.
	CreateTemplate(ctx context.Context, id string, t *contentv1.Template) error
	// CreateTemplateVersion stores v as the template's newest version; ErrNotFound if the
	// template does not exist, ErrAlreadyExists if the version id is taken.
	CreateTemplateVersion(ctx context.Context, template, version string, v *contentv1.TemplateVersion) error

	// CreateRollout stores r (state PENDING) and its targets (PENDING).
	CreateRollout(ctx context.Context, id string, r *contentv1.Rollout, targets []*Target) error
	// TransitionRollout moves a rollout from one of from to state, setting its end time
	// when end is not nil, and returns it; ErrStateConflict if it is in another state.
	TransitionRollout(ctx context.Context, id string, from []contentv1.Rollout_State, to contentv1.Rollout_State, now time.Time, end *time.Time) (*contentv1.Rollout, error)
	// NextTargets returns up to limit targets of a rollout with status, in wave and tenant
	// order, locked for update and skipping rows other transactions hold.
	NextTargets(ctx context.Context, rollout string, status contentv1.RolloutTarget_Status, limit int) ([]*Target, error)
	// GetTarget returns one target, locked for update.
	GetTarget(ctx context.Context, rollout, tenant string) (*Target, error)
	// UpdateTarget writes t's status, reason and revisions.
	UpdateTarget(ctx context.Context, t *Target, now time.Time) error
	// SetTargetsStatus moves every target of a rollout with status from to status to, and
	// returns how many.
	SetTargetsStatus(ctx context.Context, rollout string, from, to contentv1.RolloutTarget_Status, now time.Time) (int, error)
}
