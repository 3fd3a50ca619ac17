// Package store persists tenants, the idempotency records of their creation, and the
// outbox of tenant events. One implementation serves PostgreSQL and SQLite through
// platform/sqlstore; storetest is the conformance suite both pass.
package store

import (
	"context"
	"embed"
	"errors"
	"time"

	tenantv1 "github.com/oriel-dev/oriel/gen/pb/oriel/tenant/v1"
	"github.com/oriel-dev/oriel/platform/sqlstore"
)

//go:embed migrations
var migrationsFS embed.FS

// Migrations are the tenant service's schema migrations.
var Migrations = sqlstore.Migrations{FS: must(fsSub(migrationsFS, "migrations"))}

// Errors the store returns; the API maps each to a status.
var (
	// ErrNotFound: no tenant with that id.
	ErrNotFound = errors.New("tenant not found")
	// ErrAlreadyExists: a tenant with that id exists (or existed: purged ids stay taken).
	ErrAlreadyExists = errors.New("tenant already exists")
	// ErrRequestExists: the (principal, request_id) pair is already recorded.
	ErrRequestExists = errors.New("request id already recorded")
)

// HostnameInUseError says a hostname belongs to another tenant.
type HostnameInUseError struct{ Hostname string }

func (e *HostnameInUseError) Error() string { return "hostname " + e.Hostname + " is in use" }

// Store is the tenant service's persistence.
type Store interface {
	// GetTenant returns the tenant with id, or ErrNotFound.
	GetTenant(ctx context.Context, id string) (*tenantv1.Tenant, error)
	// ListTenants returns up to q.Limit tenants matching q, ordered by id.
	ListTenants(ctx context.Context, q ListQuery) ([]*tenantv1.Tenant, error)
	// ListEvents returns up to q.Limit events after q.AfterSeq, oldest first.
	ListEvents(ctx context.Context, q EventQuery) ([]Event, error)
	// PurgeCandidates returns up to limit ids of deactivated tenants whose purge time is
	// not after now, soonest first.
	PurgeCandidates(ctx context.Context, now time.Time, limit int) ([]string, error)
	// ReadWriteTx runs fn in a transaction, committed if fn returns nil.
	ReadWriteTx(ctx context.Context, fn func(ctx context.Context, tx Tx) error) error
}

// Tx is what a transaction can do. Reads through a Tx lock what they read until commit.
// After any error the transaction is spent (PostgreSQL aborts it): return the error and
// let ReadWriteTx roll back; retry, if at all, in a new transaction.
type Tx interface {
	// GetTenant returns the tenant with id, locked for update, or ErrNotFound.
	GetTenant(ctx context.Context, id string) (*tenantv1.Tenant, error)
	// CreateTenant inserts t (its name, fields and times set by the caller) and sets its
	// etag. It returns ErrAlreadyExists or a *HostnameInUseError.
	CreateTenant(ctx context.Context, t *tenantv1.Tenant) error
	// UpdateTenant writes the fields of t that may change after creation (all but name,
	// region and create_time; the caller read t through this Tx) and sets its new etag.
	// It returns ErrNotFound or a *HostnameInUseError.
	UpdateTenant(ctx context.Context, t *tenantv1.Tenant) error
	// PurgeTenant turns the tenant into a DELETED tombstone, releasing its hostnames and
	// dropping its labels and settings, if it is DEACTIVATED with a purge time not after
	// now. It returns the tombstone, or ErrNotFound when there is nothing to purge (so of
	// two workers racing, exactly one purges).
	PurgeTenant(ctx context.Context, id string, now time.Time) (*tenantv1.Tenant, error)
	// AppendEvent adds e to the outbox.
	AppendEvent(ctx context.Context, e *tenantv1.TenantEvent) error
	// GetRequest returns the idempotency record of (principal, requestID), or ErrNotFound.
	GetRequest(ctx context.Context, principal, requestID string) (*Request, error)
	// PutRequest records r, or returns ErrRequestExists.
	PutRequest(ctx context.Context, r *Request) error
}

// Request records which tenant a CreateTenant call with a request_id created, and a
// fingerprint of its body, so a retry can be told from a reuse.
type Request struct {
	Principal   string
	RequestID   string
	Fingerprint string
	TenantID    string
	CreateTime  time.Time
}

// ListQuery selects tenants.
type ListQuery struct {
	// Conditions are joined with AND.
	Conditions []Condition
	// AfterID continues a previous page: only ids greater than it.
	AfterID string
	// Limit is the most tenants to return.
	Limit int
}

// Field is what a Condition tests.
type Field int

// The fields a Condition can test.
const (
	FieldState Field = iota + 1
	FieldRegion
	FieldLabel
)

// Op is how a Condition compares.
type Op int

// The comparisons of a Condition.
const (
	// OpEqual: the field equals Value.
	OpEqual Op = iota + 1
	// OpNotEqual: the field differs from Value (a missing label differs from every value).
	OpNotEqual
	// OpHas: the label Key is present.
	OpHas
)

// Condition is one test of a ListQuery. Unless a condition asks for state = DELETED,
// tombstones are left out.
type Condition struct {
	Field Field
	// Key is the label key, for FieldLabel.
	Key string
	Op  Op
	// Value is compared against; states are their names without prefix ("ACTIVE").
	Value string
}

// EventQuery selects events.
type EventQuery struct {
	// TenantID limits the events to one tenant; "" means every tenant.
	TenantID string
	// AfterSeq continues a previous page.
	AfterSeq int64
	// Limit is the most events to return.
	Limit int
}

// Event is an outbox entry and its position.
type Event struct {
	Seq   int64
	Event *tenantv1.TenantEvent
}

// SQL is the Store over a sqlstore.DB.
func SQL(db *sqlstore.DB) Store { return &sqlStore{db: db} }
