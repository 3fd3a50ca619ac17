package api

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"slices"
	"strings"
	"time"

	"github.com/hashicorp/golang-lru/v2/expirable"
	"google.golang.org/grpc/codes"
	"google.golang.org/protobuf/types/known/timestamppb"

	errorsv1 "github.com/oriel-dev/oriel/gen/pb/oriel/errors/v1"
	identityv1 "github.com/oriel-dev/oriel/gen/pb/oriel/identity/v1"
	"github.com/oriel-dev/oriel/platform/apierr"
	"github.com/oriel-dev/oriel/platform/auth"
	"github.com/oriel-dev/oriel/services/identity/internal/jwtauth"
	"github.com/oriel-dev/oriel/services/identity/internal/sessions"
	"github.com/oriel-dev/oriel/services/identity/internal/store"
)

const (
	// DefaultTokenTTL is an embed token's life unless the exchange asks otherwise.
	DefaultTokenTTL = 5 * time.Minute
	// RefreshGrace is how long a refreshed token keeps working, for requests in flight.
	RefreshGrace = 30 * time.Second
	// MaxSessionAge bounds how long refreshes can keep one session alive; after it the
	// ISV's backend must vouch for the user again with a new JWT.
	MaxSessionAge = 24 * time.Hour
	// maxJWTBytes is the largest JWT looked at.
	maxJWTBytes = 8192
	// jtiLeeway keeps a used jti remembered past the token's expiry by the most clock
	// tolerance a provider may have, so that it is never accepted twice.
	jtiLeeway = time.Minute
)

// ExchangeTokenMethod is the full name of ExchangeToken, which authenticates itself: its
// credential may be the user's JWT.
const ExchangeTokenMethod = "/oriel.identity.v1.TokenService/ExchangeToken"

// IntrospectTokenMethod is the full name of IntrospectToken, which every service calls for
// every call it serves: its successes are logged at debug level only.
const IntrospectTokenMethod = "/oriel.identity.v1.TokenService/IntrospectToken"

// TokenServer implements TokenService.
type TokenServer struct {
	identityv1.UnimplementedTokenServiceServer
	*Server
}

// ExchangeToken turns a user's JWT into an embed token.
func (s TokenServer) ExchangeToken(ctx context.Context, req *identityv1.ExchangeTokenRequest) (*identityv1.ExchangeTokenResponse, error) {
	tenant := tenantOf(req.GetParent())
	jwt, err := s.exchangeCredential(ctx, tenant, req)
	if err != nil {
		return nil, err
	}
	resp, err := s.exchange(ctx, tenant, jwt, req)
	if err != nil {
		return nil, s.toStatus(ctx, err, req.GetParent())
	}
	return resp, nil
}

// exchangeCredential decides who is asking and returns the JWT to exchange: the body's,
// for an embed.mint key of the tenant; the credential itself when it is not an Oriel
// credential; the body's when there is no credential at all.
func (s TokenServer) exchangeCredential(ctx context.Context, tenant string, req *identityv1.ExchangeTokenRequest) (string, error) {
	credential, err := auth.BearerCredential(ctx)
	if err != nil {
		return "", err
	}
	jwt := req.GetJwt()
	switch {
	case strings.HasPrefix(credential, "oriel_"):
		ctx, err := auth.Authenticate(ctx, s.authn, credential)
		if err != nil {
			return "", err
		}
		if p := auth.FromContext(ctx); p.Kind != auth.KindServiceAccount {
			return "", apierr.New(codes.PermissionDenied, errorsv1.ErrorReason_ERROR_REASON_PERMISSION_DENIED,
				"an embed token cannot exchange JWTs; use an API key with scope embed.mint", "required_scope", string(auth.ScopeEmbedMint))
		}
		if _, err := auth.RequireTenant(ctx, tenant, auth.ScopeEmbedMint, req.GetParent()); err != nil {
			return "", err
		}
		if jwt == "" {
			return "", apierr.Invalid(errorsv1.ErrorReason_ERROR_REASON_INVALID_REQUEST, apierr.FieldViolation{
				Field: "jwt", Description: "is required when the call's credential is an API key",
			})
		}
	case credential != "":
		if jwt != "" && jwt != credential {
			return "", apierr.Invalid(errorsv1.ErrorReason_ERROR_REASON_INVALID_REQUEST, apierr.FieldViolation{
				Field: "jwt", Description: "differs from the JWT the call carries as its credential; send one",
			})
		}
		jwt = credential
	case jwt == "":
		return "", apierr.New(codes.Unauthenticated, errorsv1.ErrorReason_ERROR_REASON_CREDENTIAL_MISSING,
			"send the user's JWT as the credential or in jwt, or an API key with scope embed.mint")
	}
	if len(jwt) > maxJWTBytes {
		return "", apierr.Invalid(errorsv1.ErrorReason_ERROR_REASON_INVALID_REQUEST, apierr.FieldViolation{
			Field: "jwt", Description: "is larger than 8 KB",
		})
	}
	return jwt, nil
}

func (s TokenServer) exchange(ctx context.Context, tenant, jwt string, req *identityv1.ExchangeTokenRequest) (*identityv1.ExchangeTokenResponse, error) {
	// Shared with concurrent exchanges of the tenant, never older than this call: see providerReads.
	providers, err := s.providers.list(ctx, tenant)
	if err != nil {
		return nil, err
	}
	claims, err := s.verifier.Verify(ctx, jwt, providers)
	var rejected *jwtauth.RejectedError
	if errors.As(err, &rejected) {
		return nil, apierr.New(codes.Unauthenticated, errorsv1.ErrorReason_ERROR_REASON_JWT_REJECTED,
			"the JWT was rejected: "+rejected.Check+": "+rejected.Detail, "check", rejected.Check)
	}
	if err != nil {
		return nil, err
	}
	now := s.clock()
	jti := sha256.Sum256([]byte(claims.Issuer + "\x00" + claims.JTI))
	provider := providerID(claims.Provider)
	user := UserID(provider, claims.Subject)
	// The JWT id's single use and the user's revocation state, in one round trip.
	first, st, err := s.sessions.Admit(ctx, tenant, hex.EncodeToString(jti[:]), claims.ExpiresAt.Add(jtiLeeway), user)
	if err != nil && !errors.Is(err, sessions.ErrStateUnknown) {
		return nil, err
	}
	if !first {
		return nil, apierr.New(codes.Unauthenticated, errorsv1.ErrorReason_ERROR_REASON_JWT_REPLAYED,
			"this JWT was already exchanged: sign a new one (with a new jti) for every exchange")
	}
	if err != nil { // the revocation mirror is not loaded: load it, then read the state
		if st, err = s.state(ctx, tenant, user); err != nil {
			return nil, err
		}
	}
	if st.UserDisabled {
		return nil, userDisabled(tenant, user)
	}
	login, err := s.login(ctx, store.Login{
		Tenant: tenant, UserID: user, IdentityProvider: provider, Subject: claims.Subject,
		DisplayName: claims.Name, Email: claims.Email, GroupClaims: claims.Groups, Time: now,
	}, st)
	if err != nil {
		return nil, err
	}
	if login.disabled {
		return nil, userDisabled(tenant, user)
	}
	ttl := DefaultTokenTTL
	if req.GetTtl() != nil {
		ttl = req.GetTtl().AsDuration()
	}
	sess := &sessions.Session{
		ID: randomID(16), Tenant: tenant, User: user, IdentityProvider: provider,
		Roles: login.roles, Groups: login.groupIDs, AllowedResources: req.GetAllowedResources(),
		AllowedOrigin: req.GetAllowedOrigin(), Attributes: claims.Attributes,
		CreateTime: now, ExpireTime: now.Add(ttl), TTL: ttl,
		TenantEpoch: st.TenantEpoch, UserEpoch: st.UserEpoch,
	}
	token := newEmbedToken(tenant)
	if err := s.sessions.Put(ctx, tokenHash(token), sess); err != nil {
		return nil, err
	}
	return &identityv1.ExchangeTokenResponse{
		Token: token, ExpireTime: timestamppb.New(sess.ExpireTime), EmbedSession: sessionProto(sess),
	}, nil
}

func userDisabled(tenant, user string) error {
	return apierr.New(codes.PermissionDenied, errorsv1.ErrorReason_ERROR_REASON_USER_DISABLED,
		store.UserName(tenant, user)+" is disabled and may not exchange tokens", "user", store.UserName(tenant, user))
}

// loginOutcome is what an exchange needs from the directory.
type loginOutcome struct {
	groupIDs []string
	roles    []string
	disabled bool
}

// loginCache remembers, per user, the claims of its last exchange and what they resolved
// to, so that a user who exchanges again with the same claims costs no database write
// (only a batched login time) and, while the directory version is unchanged, no read.
type loginCache struct {
	entries *expirable.LRU[[2]string, loginEntry]
}

type loginEntry struct {
	fingerprint string
	version     int64
	outcome     loginOutcome
}

func newLoginCache() *loginCache {
	return &loginCache{entries: expirable.NewLRU[[2]string, loginEntry](100_000, nil, time.Minute)}
}

func loginFingerprint(l store.Login) string {
	groups := slices.Clone(l.GroupClaims)
	slices.Sort(groups)
	return strings.Join(append([]string{l.IdentityProvider, l.Subject, l.DisplayName, l.Email}, groups...), "\x00")
}

// login records the user's login and resolves its groups and roles.
func (s *Server) login(ctx context.Context, l store.Login, st sessions.State) (loginOutcome, error) {
	key := [2]string{l.Tenant, l.UserID}
	fp := loginFingerprint(l)
	if e, ok := s.logins.entries.Get(key); ok && e.fingerprint == fp && e.version == st.DirectoryVersion {
		s.usage.loggedIn(l.Tenant, l.UserID, l.Time)
		return e.outcome, nil
	}
	res, err := s.store.Login(ctx, l)
	if err != nil {
		return loginOutcome{}, err
	}
	version := st.DirectoryVersion
	if res.DirectoryVersion > 0 {
		if err := s.mirror(ctx, l.Tenant, func() error {
			return s.sessions.RaiseDirectoryVersion(ctx, l.Tenant, res.DirectoryVersion)
		}); err != nil {
			return loginOutcome{}, err
		}
		version = res.DirectoryVersion
	}
	roles, err := s.store.Roles(ctx, l.Tenant, l.UserID, res.GroupIDs)
	if err != nil {
		return loginOutcome{}, err
	}
	out := loginOutcome{groupIDs: res.GroupIDs, disabled: res.Disabled}
	for _, r := range roles {
		out.roles = append(out.roles, auth.RoleName(r))
	}
	if !res.Disabled {
		s.logins.entries.Add(key, loginEntry{fingerprint: fp, version: version, outcome: out})
	}
	return out, nil
}

// IntrospectToken says who a credential belongs to.
func (s TokenServer) IntrospectToken(ctx context.Context, req *identityv1.IntrospectTokenRequest) (*identityv1.IntrospectTokenResponse, error) {
	caller := auth.FromContext(ctx)
	own, _ := auth.BearerCredential(ctx)
	if req.GetToken() == "" || req.GetToken() == own {
		return &identityv1.IntrospectTokenResponse{Active: true, Principal: principalProto(caller)}, nil
	}
	if caller.Kind != auth.KindServiceAccount || !(caller.Has(auth.ScopeEmbedMint) || caller.Has(auth.ScopeIdentityAdmin)) {
		return nil, apierr.New(codes.PermissionDenied, errorsv1.ErrorReason_ERROR_REASON_PERMISSION_DENIED,
			"introspecting another credential needs scope embed.mint or identity.admin", "required_scope", string(auth.ScopeEmbedMint))
	}
	p, err := s.authn.Authenticate(ctx, req.GetToken())
	switch {
	case errors.Is(err, auth.ErrInvalidCredential):
		return &identityv1.IntrospectTokenResponse{Active: false}, nil
	case err != nil:
		return nil, s.toStatus(ctx, err, "token")
	case !caller.IsPlatform() && p.Tenant != caller.Tenant:
		// Another tenant's credential looks like no credential at all.
		return &identityv1.IntrospectTokenResponse{Active: false}, nil
	}
	return &identityv1.IntrospectTokenResponse{Active: true, Principal: principalProto(p)}, nil
}

// targetSession resolves the embed token a refresh or revoke is about: the caller's own
// (token empty or equal to its credential), or another's, which needs embed.mint or
// identity.admin in its tenant.
func (s TokenServer) targetSession(ctx context.Context, token string) (string, *sessions.Session, error) {
	caller := auth.FromContext(ctx)
	own, _ := auth.BearerCredential(ctx)
	if token == "" || token == own {
		if caller.Kind != auth.KindEmbedSession {
			return "", nil, apierr.Invalid(errorsv1.ErrorReason_ERROR_REASON_INVALID_REQUEST, apierr.FieldViolation{
				Field: "token", Description: "is required: the call's own credential is not an embed token",
			})
		}
		token = own
	} else if caller.Kind != auth.KindServiceAccount || !(caller.Has(auth.ScopeEmbedMint) || caller.Has(auth.ScopeIdentityAdmin)) {
		return "", nil, apierr.New(codes.PermissionDenied, errorsv1.ErrorReason_ERROR_REASON_PERMISSION_DENIED,
			"acting on another embed token needs scope embed.mint or identity.admin", "required_scope", string(auth.ScopeEmbedMint))
	}
	p, sess, err := s.authn.embedToken(ctx, token)
	if errors.Is(err, auth.ErrInvalidCredential) || (err == nil && !caller.IsPlatform() && p.Tenant != caller.Tenant) {
		return "", nil, apierr.New(codes.NotFound, errorsv1.ErrorReason_ERROR_REASON_RESOURCE_NOT_FOUND,
			"no live embed session has that token")
	}
	if err != nil {
		return "", nil, s.toStatus(ctx, err, "token")
	}
	return token, sess, nil
}

// RefreshToken issues a new token for a live session.
func (s TokenServer) RefreshToken(ctx context.Context, req *identityv1.RefreshTokenRequest) (*identityv1.RefreshTokenResponse, error) {
	old, sess, err := s.targetSession(ctx, req.GetToken())
	if err != nil {
		return nil, err
	}
	now := s.clock()
	if now.Sub(sess.CreateTime) > MaxSessionAge {
		return nil, apierr.New(codes.FailedPrecondition, errorsv1.ErrorReason_ERROR_REASON_SESSION_TOO_OLD,
			"the session began over "+MaxSessionAge.String()+" ago; exchange a new JWT", "max_age", MaxSessionAge.String())
	}
	ttl := sess.TTL
	if req.GetTtl() != nil {
		ttl = req.GetTtl().AsDuration()
	}
	next := *sess
	next.ExpireTime = now.Add(ttl)
	next.TTL = ttl
	token := newEmbedToken(sess.Tenant)
	if err := s.sessions.Put(ctx, tokenHash(token), &next); err != nil {
		return nil, s.toStatus(ctx, err, "token")
	}
	if err := s.sessions.ExpireWithin(ctx, sess.Tenant, tokenHash(old), RefreshGrace); err != nil {
		return nil, s.toStatus(ctx, err, "token")
	}
	return &identityv1.RefreshTokenResponse{
		Token: token, ExpireTime: timestamppb.New(next.ExpireTime), EmbedSession: sessionProto(&next),
	}, nil
}

// RevokeToken revokes one embed token.
func (s TokenServer) RevokeToken(ctx context.Context, req *identityv1.RevokeTokenRequest) (*identityv1.RevokeTokenResponse, error) {
	token, sess, err := s.targetSession(ctx, req.GetToken())
	if err != nil {
		return nil, err
	}
	if err := s.sessions.Delete(ctx, sess.Tenant, tokenHash(token)); err != nil {
		return nil, s.toStatus(ctx, err, "token")
	}
	return &identityv1.RevokeTokenResponse{}, nil
}

// requireRevoker lets a tenant's identity admins and embed minters revoke its tokens.
func requireRevoker(ctx context.Context, tenant, resource string) error {
	_, err := auth.RequireTenant(ctx, tenant, auth.ScopeEmbedMint, resource)
	if err != nil && auth.FromContext(ctx) != nil {
		if _, err2 := auth.RequireTenant(ctx, tenant, auth.ScopeIdentityAdmin, resource); err2 == nil {
			return nil
		}
	}
	return err
}

// RevokeUserTokens revokes every token of a user issued so far.
func (s TokenServer) RevokeUserTokens(ctx context.Context, req *identityv1.RevokeUserTokensRequest) (*identityv1.RevokeUserTokensResponse, error) {
	ids := segments(req.GetUser())
	tenant, user := ids["tenants"], ids["users"]
	if err := requireRevoker(ctx, tenant, req.GetUser()); err != nil {
		return nil, err
	}
	us, err := s.store.RaiseUserEpoch(ctx, tenant, user, s.clock())
	if err != nil {
		return nil, s.toStatus(ctx, err, req.GetUser())
	}
	// Only once the mirror holds the new epoch does the call return: from then on no
	// introspection accepts the user's older tokens.
	if err := s.mirror(ctx, tenant, func() error { return s.sessions.RaiseUser(ctx, tenant, user, us) }); err != nil {
		return nil, s.toStatus(ctx, err, req.GetUser())
	}
	return &identityv1.RevokeUserTokensResponse{}, nil
}

// RevokeTenantTokens revokes every token of a tenant issued so far.
func (s TokenServer) RevokeTenantTokens(ctx context.Context, req *identityv1.RevokeTenantTokensRequest) (*identityv1.RevokeTenantTokensResponse, error) {
	tenant := tenantOf(req.GetParent())
	if err := requireRevoker(ctx, tenant, req.GetParent()); err != nil {
		return nil, err
	}
	epoch, err := s.store.RaiseTenantEpoch(ctx, tenant, s.clock())
	if err != nil {
		return nil, s.toStatus(ctx, err, req.GetParent())
	}
	if err := s.mirror(ctx, tenant, func() error { return s.sessions.RaiseTenantEpoch(ctx, tenant, epoch) }); err != nil {
		return nil, s.toStatus(ctx, err, req.GetParent())
	}
	return &identityv1.RevokeTenantTokensResponse{}, nil
}

// ListEmbedSessions lists a user's live sessions.
func (s TokenServer) ListEmbedSessions(ctx context.Context, req *identityv1.ListEmbedSessionsRequest) (*identityv1.ListEmbedSessionsResponse, error) {
	ids := segments(req.GetParent())
	tenant, user := ids["tenants"], ids["users"]
	if err := requireRevoker(ctx, tenant, req.GetParent()); err != nil {
		return nil, err
	}
	list, err := s.sessions.ListUser(ctx, tenant, user)
	if err != nil {
		return nil, s.toStatus(ctx, err, req.GetParent())
	}
	st, err := s.state(ctx, tenant, user)
	if err != nil {
		return nil, s.toStatus(ctx, err, req.GetParent())
	}
	resp := &identityv1.ListEmbedSessionsResponse{}
	now := s.now()
	for _, sess := range list {
		if st.Valid(sess) && now.Before(sess.ExpireTime) {
			resp.EmbedSessions = append(resp.EmbedSessions, sessionProto(sess))
		}
	}
	return resp, nil
}

func sessionProto(sess *sessions.Session) *identityv1.EmbedSession {
	out := &identityv1.EmbedSession{
		Name:             sessionName(sess.Tenant, sess.ID),
		User:             store.UserName(sess.Tenant, sess.User),
		AllowedResources: sess.AllowedResources,
		AllowedOrigin:    sess.AllowedOrigin,
		Attributes:       sess.Attributes,
		CreateTime:       timestamppb.New(sess.CreateTime),
		ExpireTime:       timestamppb.New(sess.ExpireTime),
	}
	for _, g := range sess.Groups {
		out.Groups = append(out.Groups, store.GroupName(sess.Tenant, g))
	}
	for _, r := range sess.Roles {
		out.Roles = append(out.Roles, identityv1.Role(identityv1.Role_value["ROLE_"+strings.ToUpper(r)]))
	}
	return out
}

func principalProto(p *auth.Principal) *identityv1.Principal {
	out := &identityv1.Principal{Name: p.ID, Credential: p.Credential, Tenant: p.Tenant}
	for _, sc := range p.Scopes {
		out.Scopes = append(out.Scopes, string(sc))
	}
	switch p.Kind {
	case auth.KindServiceAccount:
		out.Kind = identityv1.Principal_KIND_SERVICE_ACCOUNT
	case auth.KindEmbedSession:
		out.Kind = identityv1.Principal_KIND_EMBED_SESSION
	}
	if es := p.EmbedSession; es != nil {
		out.EmbedSession = &identityv1.EmbedSession{
			Name: es.Name, User: es.User, Groups: es.Groups, AllowedResources: es.AllowedResources,
			AllowedOrigin: es.AllowedOrigin, Attributes: es.Attributes, ExpireTime: timestamppb.New(es.ExpireTime),
		}
		for _, r := range es.Roles {
			out.EmbedSession.Roles = append(out.EmbedSession.Roles, identityv1.Role(identityv1.Role_value["ROLE_"+strings.ToUpper(r)]))
		}
	}
	return out
}
