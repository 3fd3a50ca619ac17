// Package auth turns the credential of a call into a Principal. Every gRPC call carries
// `authorization: Bearer <credential>` and is authenticated by the service that receives
// it; nothing trusts the network or the edge. Health and reflection are the only methods
// that need no credential.
package auth

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base32"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"

	errorsv1 "github.com/oriel-dev/oriel/gen/pb/oriel/errors/v1"
	"github.com/oriel-dev/oriel/platform/apierr"
	"github.com/oriel-dev/oriel/platform/requestid"
)

// Scope is one thing a credential may do.
type Scope string

// The scopes of service-account credentials.
const (
	ScopeTenantsRead      Scope = "tenants.read"
	ScopeTenantsWrite     Scope = "tenants.write"
	ScopeIdentityAdmin    Scope = "identity.admin"
	ScopeContentRead      Scope = "content.read"
	ScopeContentWrite     Scope = "content.write"
	ScopeEmbedMint        Scope = "embed.mint"
	ScopeDatagatewayAdmin Scope = "datagateway.admin"
)

// AllScopes are every scope, as held by the bootstrap admin.
var AllScopes = []Scope{
	ScopeTenantsRead, ScopeTenantsWrite, ScopeIdentityAdmin, ScopeContentRead,
	ScopeContentWrite, ScopeEmbedMint, ScopeDatagatewayAdmin,
}

// Kind says what sort of credential a principal presented.
type Kind int

// The kinds of credential.
const (
	// KindServiceAccount is an API key of a service account.
	KindServiceAccount Kind = iota + 1
	// KindEmbedSession is an embed token of a user.
	KindEmbedSession
)

// Principal is who is calling.
type Principal struct {
	// Kind of the credential.
	Kind Kind
	// ID identifies the credential's owner in logs and idempotency records, e.g.
	// "serviceAccounts/bootstrap-admin" or "tenants/acme/users/u3…". Never a secret.
	ID string
	// Credential names the credential itself (an API key's or an embed session's name),
	// never its secret, for access logs.
	Credential string
	// Tenant is the one tenant the principal may act in, or "" for platform scope (the
	// ISV's backend acting on any tenant).
	Tenant string
	// Scopes the principal holds.
	Scopes []Scope
	// EmbedSession is set for embed tokens.
	EmbedSession *EmbedSession
}

// EmbedSession is what an embed token grants: a user of one tenant with roles, and the
// resources, origin and row-level attributes the token is bound to.
type EmbedSession struct {
	// Name is the session's resource name, stable across refreshes.
	Name string
	// User is the user's resource name.
	User string
	// Roles are tenant roles: "admin", "developer", "viewer".
	Roles []string
	// Groups are the user's group names.
	Groups []string
	// AllowedResources the token may open; empty means whatever the user may see.
	AllowedResources []string
	// AllowedOrigin is the one web origin the token may be used from.
	AllowedOrigin string
	// Attributes are the session's row-level security attributes.
	Attributes map[string]string
	// ExpireTime is when the token expires.
	ExpireTime time.Time
}

// IsPlatform reports whether the principal may act across tenants.
func (p *Principal) IsPlatform() bool { return p.Tenant == "" }

// Has reports whether the principal holds scope.
func (p *Principal) Has(scope Scope) bool { return slices.Contains(p.Scopes, scope) }

// ErrInvalidCredential is what an Authenticator returns for a credential it does not
// accept. Any other error means it could not decide (e.g. identity is down).
var ErrInvalidCredential = errors.New("auth: invalid credential")

// Authenticator decides who a credential belongs to.
type Authenticator interface {
	Authenticate(ctx context.Context, credential string) (*Principal, error)
}

type principalKey struct{}

// NewContext returns ctx carrying p.
func NewContext(ctx context.Context, p *Principal) context.Context {
	return context.WithValue(ctx, principalKey{}, p)
}

// FromContext returns the authenticated principal, or nil outside an authenticated call.
func FromContext(ctx context.Context) *Principal {
	p, _ := ctx.Value(principalKey{}).(*Principal)
	return p
}

// RequirePlatform returns the principal if it has platform scope and holds scope, or the
// PERMISSION_DENIED error to return.
func RequirePlatform(ctx context.Context, scope Scope) (*Principal, error) {
	p := FromContext(ctx)
	if p == nil {
		return nil, errUnauthenticated(errorsv1.ErrorReason_ERROR_REASON_CREDENTIAL_MISSING)
	}
	if !p.IsPlatform() || !p.Has(scope) {
		return nil, apierr.New(codes.PermissionDenied, errorsv1.ErrorReason_ERROR_REASON_PERMISSION_DENIED,
			fmt.Sprintf("this method needs a platform credential with scope %q", scope),
			"required_scope", string(scope))
	}
	return p, nil
}

// RequireTenant returns the principal if it may act on resource, which belongs to tenant
// tenantID, with scope: platform principals in any tenant, tenant principals in their own.
// Another tenant's resource is NOT_FOUND, so that its existence is not disclosed.
func RequireTenant(ctx context.Context, tenantID string, scope Scope, resource string) (*Principal, error) {
	p := FromContext(ctx)
	if p == nil {
		return nil, errUnauthenticated(errorsv1.ErrorReason_ERROR_REASON_CREDENTIAL_MISSING)
	}
	if !p.IsPlatform() && p.Tenant != tenantID {
		return nil, apierr.NotFound(resource)
	}
	if !p.Has(scope) {
		return nil, apierr.New(codes.PermissionDenied, errorsv1.ErrorReason_ERROR_REASON_PERMISSION_DENIED,
			fmt.Sprintf("this method needs scope %q", scope), "required_scope", string(scope))
	}
	return p, nil
}

// maxCredentialLen bounds what is hashed or sent on to identity per call.
const maxCredentialLen = 4096

// OutgoingCredential returns a context whose outgoing calls carry only credential, as
// `authorization: Bearer <credential>`, and the request id of ctx: a service calling
// another with its own key must not pass on its caller's metadata.
func OutgoingCredential(ctx context.Context, credential string) context.Context {
	md := metadata.Pairs("authorization", "Bearer "+credential)
	if id := requestid.FromContext(ctx); id != "" {
		md.Set(requestid.MetadataKey, id)
	}
	return metadata.NewOutgoingContext(ctx, md)
}

// BearerCredential returns the call's `authorization: Bearer <credential>`, "" when there
// is none, or the UNAUTHENTICATED error for a malformed one. Methods that authenticate
// themselves (see UnaryServerInterceptor) read their credential with it.
func BearerCredential(ctx context.Context) (string, error) {
	values := metadata.ValueFromIncomingContext(ctx, "authorization")
	if len(values) == 0 {
		return "", nil
	}
	if len(values) > 1 {
		return "", errUnauthenticated(errorsv1.ErrorReason_ERROR_REASON_CREDENTIAL_INVALID)
	}
	scheme, credential, ok := strings.Cut(values[0], " ")
	if !ok || !strings.EqualFold(scheme, "bearer") || credential == "" || len(credential) > maxCredentialLen {
		return "", errUnauthenticated(errorsv1.ErrorReason_ERROR_REASON_CREDENTIAL_INVALID)
	}
	return credential, nil
}

// Authenticate checks credential with a and returns ctx carrying its principal, or the
// status to return: UNAUTHENTICATED for a credential a rejects, UNAVAILABLE when a cannot
// decide.
func Authenticate(ctx context.Context, a Authenticator, credential string) (context.Context, error) {
	p, err := a.Authenticate(ctx, credential)
	switch {
	case errors.Is(err, ErrInvalidCredential):
		return nil, errUnauthenticated(errorsv1.ErrorReason_ERROR_REASON_CREDENTIAL_INVALID)
	case err != nil:
		return nil, apierr.Unavailable("credentials cannot be checked right now; retry")
	}
	return NewContext(ctx, p), nil
}

// unauthenticated are the methods anyone may call: health checks and reflection.
var unauthenticated = []string{
	"/grpc.health.v1.Health/",
	"/grpc.reflection.v1.ServerReflection/",
	"/grpc.reflection.v1alpha.ServerReflection/",
}

func isPublic(fullMethod string, selfAuthenticating []string) bool {
	for _, prefix := range unauthenticated {
		if strings.HasPrefix(fullMethod, prefix) {
			return true
		}
	}
	return slices.Contains(selfAuthenticating, fullMethod)
}

// authenticate checks the call's credential and returns ctx with its principal.
func authenticate(ctx context.Context, a Authenticator, fullMethod string, selfAuthenticating []string) (context.Context, error) {
	if isPublic(fullMethod, selfAuthenticating) {
		return ctx, nil
	}
	credential, err := BearerCredential(ctx)
	if err != nil {
		return nil, err
	}
	if credential == "" {
		return nil, errUnauthenticated(errorsv1.ErrorReason_ERROR_REASON_CREDENTIAL_MISSING)
	}
	return Authenticate(ctx, a, credential)
}

func errUnauthenticated(reason errorsv1.ErrorReason) error {
	msg := "a valid credential is required: send `authorization: Bearer <credential>`"
	if reason == errorsv1.ErrorReason_ERROR_REASON_CREDENTIAL_INVALID {
		msg = "the credential is not valid"
	}
	return apierr.New(codes.Unauthenticated, reason, msg)
}

// UnaryServerInterceptor authenticates unary calls. selfAuthenticating are full method
// names that check their own credential (ExchangeToken accepts a JWT as one); they get
// no principal from here.
func UnaryServerInterceptor(a Authenticator, selfAuthenticating ...string) grpc.UnaryServerInterceptor {
	return func(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
		ctx, err := authenticate(ctx, a, info.FullMethod, selfAuthenticating)
		if err != nil {
			return nil, err
		}
		return handler(ctx, req)
	}
}

// StreamServerInterceptor authenticates streaming calls once, when they open.
func StreamServerInterceptor(a Authenticator, selfAuthenticating ...string) grpc.StreamServerInterceptor {
	return func(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, handler grpc.StreamHandler) error {
		ctx, err := authenticate(ss.Context(), a, info.FullMethod, selfAuthenticating)
		if err != nil {
			return err
		}
		return handler(srv, &contextStream{ServerStream: ss, ctx: ctx})
	}
}

type contextStream struct {
	grpc.ServerStream
	ctx context.Context
}

func (s *contextStream) Context() context.Context { return s.ctx }

// APIKeyPrefix starts every Oriel API key, so leaked keys are easy to scan for.
const APIKeyPrefix = "oriel_sk_"

// GenerateAPIKey returns a new API key with 256 random bits.
func GenerateAPIKey() string {
	b := make([]byte, 32)
	_, _ = rand.Read(b) // crypto/rand.Read never fails on supported platforms
	return APIKeyPrefix + strings.ToLower(base32.StdEncoding.WithPadding(base32.NoPadding).EncodeToString(b))
}

// BootstrapKey authenticates the platform admin key that exists before any service account
// does. It keeps only the key's hash.
type BootstrapKey struct {
	hash [sha256.Size]byte
}

// minKeySecret is the shortest secret after the prefix we accept from configuration.
const minKeySecret = 32

// NewBootstrapKey checks that key looks like a strong API key.
func NewBootstrapKey(key string) (*BootstrapKey, error) {
	secret, ok := strings.CutPrefix(key, APIKeyPrefix)
	if !ok || len(secret) < minKeySecret {
		return nil, fmt.Errorf("bootstrap admin key must start with %q followed by at least %d characters (generate one with `oriel keys generate`)", APIKeyPrefix, minKeySecret)
	}
	// Whitespace (often a newline kept from a key file), control characters and non-ASCII
	// cannot travel in an authorization header: such a key would lock the admin out.
	if i := strings.IndexFunc(secret, func(r rune) bool { return r <= ' ' || r > '~' }); i >= 0 {
		return nil, fmt.Errorf("bootstrap admin key holds a character that cannot be sent in a header (whitespace, a control character or non-ASCII) at position %d", len(APIKeyPrefix)+i)
	}
	return &BootstrapKey{hash: sha256.Sum256([]byte(key))}, nil
}

// BootstrapPrincipalID is the principal the bootstrap key authenticates as.
const BootstrapPrincipalID = "serviceAccounts/bootstrap-admin"

// Authenticate accepts exactly the bootstrap key, comparing hashes in constant time.
func (b *BootstrapKey) Authenticate(_ context.Context, credential string) (*Principal, error) {
	got := sha256.Sum256([]byte(credential))
	if subtle.ConstantTimeCompare(got[:], b.hash[:]) != 1 {
		return nil, ErrInvalidCredential
	}
	return &Principal{Kind: KindServiceAccount, ID: BootstrapPrincipalID, Credential: BootstrapPrincipalID, Scopes: AllScopes}, nil
}
