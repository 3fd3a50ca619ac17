// Package sessions keeps embed sessions and the revocation state they are checked
// against: in Redis in production, in process memory for `oriel dev`. Both implementations
// pass one conformance suite (sessionstest).
//
// A session is stored under a hash of its token, never the token: the record is the
// allowlist, so a lost record is an invalid token. Every key of a tenant shares the hash
// tag {tenant}, so a Redis Cluster keeps them in one slot and scripts may touch several.
//
// Revocation is by epochs: a session remembers the tenant's and its user's epoch when it
// was issued, and is invalid once either has moved on. The epochs live durably in the
// identity database; the State here is a mirror of them, loaded on demand, whose values
// only ever rise, so writers racing each other (or a load racing a revoke) can never lower
// one and bring revoked tokens back.
package sessions

import (
	"context"
	"errors"
	"time"
)

// Session is an embed session as stored: everything an embed token grants.
type Session struct {
	// ID is the session's id, stable across refreshes.
	ID string
	// Tenant is the tenant id.
	Tenant string
	// User is the user id.
	User string
	// IdentityProvider is the id of the provider that vouched for the user.
	IdentityProvider string
	// Roles are tenant roles: "admin", "developer", "viewer".
	Roles []string
	// Groups are group ids.
	Groups []string
	// AllowedResources the token may open; empty means whatever the user may see.
	AllowedResources []string
	// AllowedOrigin is the one web origin the token may be used from.
	AllowedOrigin string
	// Attributes are row-level security attributes.
	Attributes map[string]string
	// CreateTime is when the session began.
	CreateTime time.Time
	// ExpireTime is when this token expires; the record disappears then.
	ExpireTime time.Time
	// TTL is the lifetime the session was issued with; a refresh reuses it.
	TTL time.Duration
	// TenantEpoch and UserEpoch are the revocation epochs when the token was issued.
	TenantEpoch, UserEpoch int64
}

// State is the mirrored revocation state of a tenant, as seen for one user.
type State struct {
	// TenantEpoch rises with every RevokeTenantTokens.
	TenantEpoch int64
	// UserEpoch rises with every RevokeUserTokens, disable and enable of the user.
	UserEpoch int64
	// UserDisabled says the user may not exchange tokens.
	UserDisabled bool
	// DirectoryVersion rises with every change of the tenant's groups or role bindings,
	// so cached role resolutions are known to be stale.
	DirectoryVersion int64
}

// Valid reports whether a session issued at its epochs is still valid under s.
func (s State) Valid(session *Session) bool {
	return !s.UserDisabled && session.TenantEpoch >= s.TenantEpoch && session.UserEpoch >= s.UserEpoch
}

// FullState is a tenant's whole revocation state, as read from the database to load the
// mirror.
type FullState struct {
	TenantEpoch      int64
	DirectoryVersion int64
	// Users holds every user whose epoch is above 0 or who is disabled.
	Users map[string]UserState
}

// UserState is one user's revocation state.
type UserState struct {
	Epoch    int64
	Disabled bool
}

// Errors of a Store.
var (
	// ErrNotFound: no session under that token hash (never stored, expired or deleted).
	ErrNotFound = errors.New("sessions: not found")
	// ErrStateUnknown: the tenant's mirror is not loaded; load it from the database and
	// try again.
	ErrStateUnknown = errors.New("sessions: revocation state not loaded")
)

// Store keeps sessions and the revocation mirror. Every method fails (with an error that
// is neither of the above) when the backing store is unreachable or slower than ctx's
// deadline: callers answer UNAVAILABLE, never OK.
type Store interface {
	// Put stores s under tokenHash until s.ExpireTime and indexes it under its user.
	Put(ctx context.Context, tokenHash string, s *Session) error
	// Get returns the session stored under tokenHash in tenant together with the state
	// for its user, read at the same instant (one round trip in Redis). It returns
	// ErrNotFound when there is no session, and the session with ErrStateUnknown when the
	// mirror is not loaded.
	Get(ctx context.Context, tenant, tokenHash string) (*Session, State, error)
	// Delete removes one token's session, if any.
	Delete(ctx context.Context, tenant, tokenHash string) error
	// ExpireWithin shortens a token's life to at most d from now (the grace period of a
	// refreshed token); it never lengthens it.
	ExpireWithin(ctx context.Context, tenant, tokenHash string, d time.Duration) error
	// ListUser returns the user's unexpired sessions, soonest to expire first, not
	// filtered by revocation (the caller applies the State).
	ListUser(ctx context.Context, tenant, user string) ([]*Session, error)
	// State returns the mirrored state for user, or ErrStateUnknown.
	State(ctx context.Context, tenant, user string) (State, error)
	// LoadState merges full into the tenant's mirror, keeping the higher of each value
	// already there, and marks the mirror loaded.
	LoadState(ctx context.Context, tenant string, full FullState) error
	// RaiseTenantEpoch sets the tenant epoch to epoch unless it is already higher.
	// ErrStateUnknown if the mirror is not loaded (load it, which includes the new epoch).
	RaiseTenantEpoch(ctx context.Context, tenant string, epoch int64) error
	// RaiseUser sets the user's state unless its epoch is already higher; at an equal
	// epoch disabled wins, so a tie never re-enables (raise the epoch with every change
	// of the flag). ErrStateUnknown if the mirror is not loaded.
	RaiseUser(ctx context.Context, tenant, user string, state UserState) error
	// RaiseDirectoryVersion sets the directory version unless it is already higher.
	// ErrStateUnknown if the mirror is not loaded.
	RaiseDirectoryVersion(ctx context.Context, tenant string, version int64) error
	// UseJTI records the single use of a JWT id (key is a digest of issuer and jti) until
	// `until`, and reports whether this was the first use.
	UseJTI(ctx context.Context, tenant, key string, until time.Time) (bool, error)
	// Admit is what an exchange asks first, in one round trip: UseJTI, and the State of
	// the user the JWT names. first is valid whenever err is nil or ErrStateUnknown (the
	// id is recorded either way; load the mirror and read State again).
	Admit(ctx context.Context, tenant, key string, until time.Time, user string) (first bool, st State, err error)
}
