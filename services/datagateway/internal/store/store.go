// Package store persists the datagateway's state: connections (with their credentials
// sealed, never in plaintext), agents with their credentials' hashes and stream status,
// one-time enrollment tokens, and replications with the progress the replication engine
// records. One implementation serves PostgreSQL and SQLite through platform/sqlstore;
// storetest is the conformance suite both pass.
package store

import (
	"context"
	"errors"
	"time"

	datagatewayv1 "github.com/oriel-dev/oriel/gen/pb/oriel/datagateway/v1"
	"github.com/oriel-dev/oriel/services/datagateway/internal/tunnel"
)

// Errors the store returns; the API maps each to a status.
var (
	// ErrNotFound: no such resource (in that tenant).
	ErrNotFound = errors.New("not found")
	// ErrAlreadyExists: the id is taken.
	ErrAlreadyExists = errors.New("already exists")
	// ErrEtagMismatch: the resource changed since the etag given was read.
	ErrEtagMismatch = errors.New("etag mismatch")
	// ErrInUse: a connection is still named by a replication (see InUseError).
	ErrInUse = errors.New("in use")
	// ErrStateConflict: a replication is not in a state the change starts from.
	ErrStateConflict = errors.New("state conflict")
)

// InUseError says which resource still uses the one a call wanted to delete.
type InUseError struct {
	// UsedBy is the name of the user, e.g. `tenants/acme/replications/r1`.
	UsedBy string
}

func (e *InUseError) Error() string        { return "in use by " + e.UsedBy }
func (e *InUseError) Is(target error) bool { return target == ErrInUse }

// MissingError says which resource a call named does not exist (in that tenant).
type MissingError struct {
	// Name is the missing resource's name.
	Name string
}

func (e *MissingError) Error() string        { return e.Name + " not found" }
func (e *MissingError) Is(target error) bool { return target == ErrNotFound }

// StateError says a replication is not in a state that allows a change.
type StateError struct {
	State    datagatewayv1.Replication_State
	Deleting bool
}

func (e *StateError) Error() string        { return "replication is " + e.State.String() }
func (e *StateError) Is(target error) bool { return target == ErrStateConflict }

// Page selects one page of a listing: items after AfterID, at most Limit.
type Page struct {
	AfterID string
	Limit   int
}

// Sealed is a connection's credentials as stored: Credentials protojson, sealed with
// secrets.Keyring under the key KeyID, bound to the connection's name.
type Sealed struct {
	KeyID      string
	Ciphertext []byte
}

// Connection is a stored connection: the resource (without credentials; has_credentials
// set) and its sealed credentials, nil when it has none.
type Connection struct {
	Connection  *datagatewayv1.Connection
	Credentials *Sealed
}

// Agent is a stored agent.
type Agent struct {
	Tenant, ID  string
	DisplayName string
	Pool        string
	// Enrolled: it has a credential (revoked or not).
	Enrolled bool
	// Revoked: its credential is refused until it enrolls again.
	Revoked    bool
	EnrollTime *time.Time
	// The stream status the hub last recorded.
	Version, Hostname string
	Connected         bool
	ConnectTime       *time.Time
	LastHeartbeat     *time.Time
	InFlight          int
	CreateTime        time.Time
}

// Name is the agent's resource name.
func (a *Agent) Name() string { return AgentName(a.Tenant, a.ID) }

// Replication is a stored replication: what the API shows and what the engine needs.
type Replication struct {
	Tenant, ID  string
	DisplayName string
	// SourceConnection and TargetConnection are connection ids of Tenant.
	SourceConnection, TargetConnection string
	// Tables as the creator gave them: `schema.table` or `table`.
	Tables []string
	State  datagatewayv1.Replication_State
	// Deleting: DeleteReplication was called; the engine drops the slot, then the row.
	Deleting bool
	// SnapshotDone: the engine copied the initial snapshot.
	SnapshotDone     bool
	SlotName         string
	AppliedLSN       uint64
	LagBytes         int64
	LagSeconds       float64
	SnapshotRows     int64
	RowsApplied      int64
	RetainedWALBytes int64
	LastError        string
	Warnings         []string
	// LeaseOwner and LeaseExpireTime are the engine worker's claim.
	LeaseOwner      string
	LeaseExpireTime *time.Time
	CreateTime      time.Time
	UpdateTime      time.Time
	// Etag changes whenever anything the API shows changes.
	Etag string
}

// Name is the replication's resource name.
func (r *Replication) Name() string { return ReplicationName(r.Tenant, r.ID) }

// Store is the datagateway's persistence. Tenant ids are bare ids; resource ids are the
// last segment of names. A resource of another tenant is ErrNotFound, exactly as a
// missing one. Every write is atomic; conditional writes check etags inside their own
// transaction.
type Store interface {
	// CreateConnection stores c (name, display name, params, pool, times set by the
	// caller) with creds (nil for none), and sets c's etag and has_credentials;
	// ErrAlreadyExists if the id is taken.
	CreateConnection(ctx context.Context, tenant, id string, c *datagatewayv1.Connection, creds *Sealed) error
	// GetConnection returns a connection with its sealed credentials.
	GetConnection(ctx context.Context, tenant, id string) (*Connection, error)
	// ListConnections returns a page of a tenant's connections by id.
	ListConnections(ctx context.Context, tenant string, page Page) ([]*datagatewayv1.Connection, error)
	// UpdateConnection writes c's display name, params, pool and update time, and creds
	// when setCreds (nil removes them), if the connection's etag is still etag ("" skips
	// the check); it sets c's etag and has_credentials. The kind never changes: params
	// of another kind are an error.
	UpdateConnection(ctx context.Context, tenant, id, etag string, c *datagatewayv1.Connection, setCreds bool, creds *Sealed) error
	// DeleteConnection deletes a connection if its etag is still etag; an *InUseError
	// while a replication names it.
	DeleteConnection(ctx context.Context, tenant, id, etag string) error

	// CreateAgent stores a (tenant, id, display name, pool, create time), not enrolled;
	// ErrAlreadyExists if the id is taken.
	CreateAgent(ctx context.Context, a *Agent) error
	// GetAgent returns an agent.
	GetAgent(ctx context.Context, tenant, id string) (*Agent, error)
	// ListAgents returns a page of a tenant's agents by id.
	ListAgents(ctx context.Context, tenant string, page Page) ([]*Agent, error)
	// CreateEnrollmentToken makes a one-time `oriel_ae_…` token for the agent, valid
	// until expire, replacing any unused one, and stores only its hash.
	CreateEnrollmentToken(ctx context.Context, tenant, agent string, now, expire time.Time) (token string, err error)
	// RevokeAgent refuses the agent's credential from now on, drops any unused enrollment
	// token, and returns the agent.
	RevokeAgent(ctx context.Context, tenant, id string) (*Agent, error)
	// DeleteAgent deletes an agent and its enrollment token.
	DeleteAgent(ctx context.Context, tenant, id string) error
	// AgentReplicas returns the addresses of the replicas holding the streams of the
	// connected agents of (tenant, pool) last heard from after heardSince, but except:
	// where a replica with no agent of the pool forwards calls for it.
	AgentReplicas(ctx context.Context, tenant, pool, except string, heardSince time.Time) ([]string, error)
	// Agents are what the tunnel hub needs: Enroll (spending a token in one
	// transaction), Authenticate, RecordStatus.
	tunnel.Agents

	// CreateReplication stores r as given (state, slot, times; the rest zero) and sets
	// its etag, if both its connections exist in its tenant (a *MissingError names the
	// one that does not); ErrAlreadyExists if the id or the slot is taken.
	CreateReplication(ctx context.Context, r *Replication) error
	// GetReplication returns a replication, deleting ones too.
	GetReplication(ctx context.Context, tenant, id string) (*Replication, error)
	// ListReplications returns a page of a tenant's replications by id.
	ListReplications(ctx context.Context, tenant string, page Page) ([]*Replication, error)
	// ChangeReplication reads a replication, locked, lets change edit its State,
	// LastError and Deleting (nothing else is written), and writes them with update time
	// now and a new etag; an error from change is returned as it is and nothing is
	// written.
	ChangeReplication(ctx context.Context, tenant, id string, now time.Time, change func(r *Replication) error) (*Replication, error)
}
