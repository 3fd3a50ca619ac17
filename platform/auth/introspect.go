package auth

import (
	"context"
	"crypto/sha256"
	"strings"
	"time"

	"github.com/hashicorp/golang-lru/v2/expirable"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	identityv1 "github.com/oriel-dev/oriel/gen/pb/oriel/identity/v1"
)

// EmbedTokenPrefix starts every embed token.
const EmbedTokenPrefix = "oriel_et_"

// Introspector authenticates credentials by asking the identity service, as every service
// but identity does. An API key's principal is cached for a few seconds (a revoked key
// works at most that much longer, and identity is not asked on every call); an embed token
// is asked about on every call, so its revocation is immediate.
type Introspector struct {
	client  identityv1.TokenServiceClient
	keys    *expirable.LRU[[sha256.Size]byte, *Principal]
	timeout time.Duration
}

// NewIntrospector asks identity over conn, caching API-key principals for cacheTTL (0:
// no caching).
func NewIntrospector(conn grpc.ClientConnInterface, cacheTTL time.Duration) *Introspector {
	// Identity bounds its own session-store calls at 2 s and answers UNAVAILABLE then; this
	// leaves it the time to say so.
	i := &Introspector{client: identityv1.NewTokenServiceClient(conn), timeout: 3 * time.Second}
	if cacheTTL > 0 {
		// Keyed by the credential's hash: the raw key never sits in memory past a call.
		// (expirable treats a TTL of 0 as "forever", hence no cache at all for 0.)
		i.keys = expirable.NewLRU[[sha256.Size]byte, *Principal](10_000, nil, cacheTTL)
	}
	return i
}

// Authenticate asks identity who credential belongs to.
func (i *Introspector) Authenticate(ctx context.Context, credential string) (*Principal, error) {
	cacheable := i.keys != nil && strings.HasPrefix(credential, APIKeyPrefix)
	var key [sha256.Size]byte
	if cacheable {
		key = sha256.Sum256([]byte(credential))
		if p, ok := i.keys.Get(key); ok {
			return p, nil
		}
	}
	ctx, cancel := context.WithTimeout(ctx, i.timeout)
	defer cancel()
	// A fresh outgoing context: nothing of the caller's metadata travels on but the
	// credential being checked and the request id that correlates the logs.
	resp, err := i.client.IntrospectToken(OutgoingCredential(ctx, credential), &identityv1.IntrospectTokenRequest{})
	switch {
	case status.Code(err) == codes.Unauthenticated:
		return nil, ErrInvalidCredential
	case err != nil:
		return nil, err
	case !resp.GetActive():
		return nil, ErrInvalidCredential
	}
	p := FromProto(resp.GetPrincipal())
	if cacheable {
		i.keys.Add(key, p)
	}
	return p, nil
}

// FromProto converts identity's Principal.
func FromProto(pp *identityv1.Principal) *Principal {
	p := &Principal{ID: pp.GetName(), Credential: pp.GetCredential(), Tenant: pp.GetTenant()}
	for _, s := range pp.GetScopes() {
		p.Scopes = append(p.Scopes, Scope(s))
	}
	switch pp.GetKind() {
	case identityv1.Principal_KIND_SERVICE_ACCOUNT:
		p.Kind = KindServiceAccount
	case identityv1.Principal_KIND_EMBED_SESSION:
		p.Kind = KindEmbedSession
	}
	if s := pp.GetEmbedSession(); s != nil {
		es := &EmbedSession{
			Name: s.GetName(), User: s.GetUser(), Groups: s.GetGroups(),
			AllowedResources: s.GetAllowedResources(), AllowedOrigin: s.GetAllowedOrigin(),
			Attributes: s.GetAttributes(), ExpireTime: s.GetExpireTime().AsTime(),
		}
		for _, r := range s.GetRoles() {
			es.Roles = append(es.Roles, RoleName(r))
		}
		p.EmbedSession = es
	}
	return p
}

// RoleName is a role as principals carry it: "admin", "developer", "viewer".
func RoleName(r identityv1.Role) string {
	return strings.ToLower(strings.TrimPrefix(r.String(), "ROLE_"))
}
