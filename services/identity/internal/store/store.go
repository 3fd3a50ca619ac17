// Package store persists the identity service's durable state: identity providers, users,
// groups and memberships, role bindings, service accounts and API keys (as hashes), and
// the revocation epochs that sessions are checked against. One implementation serves
// PostgreSQL and SQLite through platform/sqlstore; storetest is the conformance suite both
// pass.
package store

import (
	"context"
	"errors"
	"time"

	identityv1 "github.com/oriel-dev/oriel/gen/pb/oriel/identity/v1"
	"github.com/oriel-dev/oriel/services/identity/internal/sessions"
)

// Errors the store returns; the API maps each to a status.
var (
	// ErrNotFound: no such resource in that tenant.
	ErrNotFound = errors.New("not found")
	// ErrAlreadyExists: a resource with that id (or, for role bindings, that member and
	// role; for groups, that claim value) exists.
	ErrAlreadyExists = errors.New("already exists")
	// ErrEtagMismatch: the resource changed since the etag given was read.
	ErrEtagMismatch = errors.New("etag mismatch")
	// ErrMemberNotFound: a role binding names a user or group that does not exist.
	ErrMemberNotFound = errors.New("member not found")
)

// Page selects one page of a listing ordered by id.
type Page struct {
	// AfterID continues after the item with this id ("" for the first page).
	AfterID string
	// Limit is the most items to return.
	Limit int
}

// Login is what an exchange learns about a user from a valid JWT.
type Login struct {
	Tenant           string
	UserID           string // derived from provider and subject by the caller
	IdentityProvider string // provider id
	Subject          string
	DisplayName      string
	Email            string
	// GroupClaims are the values of the groups claim; groups missing from the tenant are
	// created with ids derived from them.
	GroupClaims []string
	Time        time.Time
}

// LoginResult is the user after a login, with its groups and roles resolved.
type LoginResult struct {
	User *identityv1.User
	// GroupIDs are the ids of the user's groups.
	GroupIDs []string
	// Disabled users may not exchange tokens.
	Disabled bool
	// DirectoryVersion is the tenant's new directory version if the login created groups,
	// 0 if it changed none.
	DirectoryVersion int64
}

// LoginTouch records that a user logged in at Time.
type LoginTouch struct {
	Tenant, UserID string
	Time           time.Time
}

// APIKey is an API key as stored: never the secret, only its hash.
type APIKey struct {
	// Tenant is "" for keys of platform service accounts.
	Tenant         string
	ServiceAccount string // service account id
	ID             string // key id
	DisplayName    string
	Prefix         string // the first characters of the secret, to recognise it
	Hash           []byte // SHA-256 of the secret
	CreateTime     time.Time
	ExpireTime     *time.Time
	LastUseTime    *time.Time
	RevokeTime     *time.Time
}

// KeyOwner is what authenticating an API key yields.
type KeyOwner struct {
	Key    *APIKey
	Scopes []string
}

// Store is the identity service's persistence. Tenant ids are bare ids ("acme"); resource
// ids are the last segment of names. Every method fails with ErrNotFound for resources of
// other tenants exactly as for missing ones.
type Store interface {
	// CreateIdentityProvider stores p (name, config, times set by the caller) and sets its
	// etag; ErrAlreadyExists if the id is taken in the tenant.
	CreateIdentityProvider(ctx context.Context, tenant, id string, p *identityv1.IdentityProvider) error
	// GetIdentityProvider returns one provider.
	GetIdentityProvider(ctx context.Context, tenant, id string) (*identityv1.IdentityProvider, error)
	// ListIdentityProviders returns a page of a tenant's providers, by id.
	ListIdentityProviders(ctx context.Context, tenant string, page Page) ([]*identityv1.IdentityProvider, error)
	// UpdateIdentityProvider replaces a provider's mutable fields if its etag is still
	// etag ("" skips the check) and sets the new etag.
	UpdateIdentityProvider(ctx context.Context, tenant, id, etag string, p *identityv1.IdentityProvider) error
	// DeleteIdentityProvider deletes a provider if its etag is still etag ("" skips it).
	DeleteIdentityProvider(ctx context.Context, tenant, id, etag string) error

	// Login upserts the user of l (creating it on first login, updating its claims and
	// last login time, replacing its group memberships, creating missing groups) in one
	// transaction, and returns it. Only when something other than the login time
	// changed does it write more than the login time, and a new group bumps the tenant's
	// directory version.
	Login(ctx context.Context, l Login) (*LoginResult, error)
	// GetUser returns one user.
	GetUser(ctx context.Context, tenant, id string) (*identityv1.User, error)
	// ListUsers returns a page of a tenant's users, by id.
	ListUsers(ctx context.Context, tenant string, page Page) ([]*identityv1.User, error)
	// TouchLogins records later login times of known users in one transaction (never
	// moving a login time back); exchanges whose claims did not change only touch.
	TouchLogins(ctx context.Context, touches []LoginTouch) error
	// SetUserDisabled disables or enables a user and raises its revocation epoch (so its
	// tokens die either way), in one transaction; it returns the user and its new state.
	SetUserDisabled(ctx context.Context, tenant, id string, disabled bool, now time.Time) (*identityv1.User, sessions.UserState, error)

	// CreateGroup stores g; ErrAlreadyExists for a taken id or claim value. It bumps the
	// directory version and returns the new one.
	CreateGroup(ctx context.Context, tenant, id string, g *identityv1.Group) (int64, error)
	// GetGroup returns one group.
	GetGroup(ctx context.Context, tenant, id string) (*identityv1.Group, error)
	// ListGroups returns a page of a tenant's groups, by id.
	ListGroups(ctx context.Context, tenant string, page Page) ([]*identityv1.Group, error)
	// DeleteGroup deletes a group, its memberships and the role bindings naming it, and
	// bumps the directory version, in one transaction; it returns the new version.
	DeleteGroup(ctx context.Context, tenant, id string) (int64, error)

	// CreateRoleBinding stores b (member as a user or group name); ErrAlreadyExists if the
	// member already has the role, ErrMemberNotFound if the member does not exist. It
	// bumps the directory version and returns the new one.
	CreateRoleBinding(ctx context.Context, tenant, id string, b *identityv1.RoleBinding) (int64, error)
	// GetRoleBinding returns one binding.
	GetRoleBinding(ctx context.Context, tenant, id string) (*identityv1.RoleBinding, error)
	// ListRoleBindings returns a page of a tenant's bindings, by id.
	ListRoleBindings(ctx context.Context, tenant string, page Page) ([]*identityv1.RoleBinding, error)
	// DeleteRoleBinding deletes a binding, bumps the directory version and returns it.
	DeleteRoleBinding(ctx context.Context, tenant, id string) (int64, error)
	// Roles returns the union of the roles bound to the user and to any of its groups,
	// sorted and without duplicates.
	Roles(ctx context.Context, tenant, userID string, groupIDs []string) ([]identityv1.Role, error)

	// CreateServiceAccount stores a; tenant "" for a platform account.
	CreateServiceAccount(ctx context.Context, tenant, id string, a *identityv1.ServiceAccount) error
	// GetServiceAccount returns one account.
	GetServiceAccount(ctx context.Context, tenant, id string) (*identityv1.ServiceAccount, error)
	// ListServiceAccounts returns a page of the platform's (tenant "") or a tenant's
	// accounts.
	ListServiceAccounts(ctx context.Context, tenant string, page Page) ([]*identityv1.ServiceAccount, error)
	// DeleteServiceAccount deletes an account and revokes its keys.
	DeleteServiceAccount(ctx context.Context, tenant, id string, now time.Time) error
	// CreateAPIKey stores k; ErrNotFound if its account does not exist.
	CreateAPIKey(ctx context.Context, k *APIKey) error
	// ListAPIKeys returns a page of an account's keys, by id.
	ListAPIKeys(ctx context.Context, tenant, serviceAccount string, page Page) ([]*APIKey, error)
	// RevokeAPIKey sets a key's revoke time (once; a second revoke keeps the first time)
	// and returns it.
	RevokeAPIKey(ctx context.Context, tenant, serviceAccount, id string, now time.Time) (*APIKey, error)
	// KeyOwner returns the key with that hash and its account's scopes, if the key is
	// neither revoked nor expired at now; ErrNotFound otherwise.
	KeyOwner(ctx context.Context, hash []byte, now time.Time) (*KeyOwner, error)
	// TouchAPIKeys records when keys were last used (a batch keyed by string(Hash), written
	// in one transaction), never moving a last-use time back; unknown hashes are ignored.
	TouchAPIKeys(ctx context.Context, lastUse map[string]time.Time) error
	// EnsureBootstrapKey makes the platform service account "bootstrap-admin" (every
	// scope) exist with exactly one unrevoked key, the one with this hash, revoking any
	// other of its keys; it reports whether it changed anything.
	EnsureBootstrapKey(ctx context.Context, hash []byte, prefix string, now time.Time) (bool, error)
	// HasBootstrapKey reports whether the bootstrap account has an unrevoked key.
	HasBootstrapKey(ctx context.Context) (bool, error)

	// RaiseTenantEpoch raises the tenant's revocation epoch to the greater of one more
	// than it was and now in Unix microseconds (see RevocationEpoch), and returns it.
	RaiseTenantEpoch(ctx context.Context, tenant string, now time.Time) (int64, error)
	// RaiseUserEpoch raises a user's revocation epoch as RaiseTenantEpoch does and returns
	// the user's state.
	RaiseUserEpoch(ctx context.Context, tenant, user string, now time.Time) (sessions.UserState, error)
	// RevocationState returns a tenant's whole revocation state, to load the mirror.
	RevocationState(ctx context.Context, tenant string) (sessions.FullState, error)
}
