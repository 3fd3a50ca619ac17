package api

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"regexp"
	"strings"
	"sync"
	"time"

	"github.com/hashicorp/golang-lru/v2/expirable"

	"github.com/oriel-dev/oriel/platform/auth"
	"github.com/oriel-dev/oriel/services/identity/internal/sessions"
	"github.com/oriel-dev/oriel/services/identity/internal/store"
)

// Authenticator checks credentials for identity's own calls, and for IntrospectToken on
// behalf of every other service.
type Authenticator struct {
	s    *Server
	keys *expirable.LRU[[sha256.Size]byte, *auth.Principal]
}

func newAuthenticator(s *Server, keyCache time.Duration) *Authenticator {
	a := &Authenticator{s: s}
	if keyCache > 0 {
		a.keys = expirable.NewLRU[[sha256.Size]byte, *auth.Principal](10_000, nil, keyCache)
	}
	return a
}

// Authenticate resolves an API key (oriel_sk_…) or an embed token (oriel_et_…).
func (a *Authenticator) Authenticate(ctx context.Context, credential string) (*auth.Principal, error) {
	switch {
	case strings.HasPrefix(credential, auth.APIKeyPrefix):
		return a.apiKey(ctx, credential)
	case strings.HasPrefix(credential, auth.EmbedTokenPrefix):
		p, _, err := a.embedToken(ctx, credential)
		return p, err
	}
	return nil, auth.ErrInvalidCredential
}

// forget drops a revoked key from this replica's cache at once.
func (a *Authenticator) forget(hash []byte) {
	if a.keys != nil && len(hash) == sha256.Size {
		a.keys.Remove([sha256.Size]byte(hash))
	}
}

func (a *Authenticator) apiKey(ctx context.Context, key string) (*auth.Principal, error) {
	hash := sha256.Sum256([]byte(key))
	if a.keys != nil {
		if p, ok := a.keys.Get(hash); ok {
			a.s.usage.keyUsed(hash[:], a.s.clock())
			return p, nil
		}
	}
	owner, err := a.s.store.KeyOwner(ctx, hash[:], a.s.clock())
	if errors.Is(err, store.ErrNotFound) {
		return nil, auth.ErrInvalidCredential
	}
	if err != nil {
		return nil, err
	}
	k := owner.Key
	p := &auth.Principal{
		Kind:       auth.KindServiceAccount,
		ID:         store.ServiceAccountName(k.Tenant, k.ServiceAccount),
		Credential: store.ServiceAccountName(k.Tenant, k.ServiceAccount) + "/keys/" + k.ID,
		Tenant:     k.Tenant,
	}
	for _, sc := range owner.Scopes {
		p.Scopes = append(p.Scopes, auth.Scope(sc))
	}
	if a.keys != nil {
		a.keys.Add(hash, p)
	}
	a.s.usage.keyUsed(hash[:], a.s.clock())
	return p, nil
}

// embedToken resolves an embed token on every call (never cached: revocation is
// immediate) and returns its principal and stored session.
func (a *Authenticator) embedToken(ctx context.Context, token string) (*auth.Principal, *sessions.Session, error) {
	tenant, ok := embedTokenTenant(token)
	if !ok {
		return nil, nil, auth.ErrInvalidCredential
	}
	hash := tokenHash(token)
	sess, st, err := a.s.sessions.Get(ctx, tenant, hash)
	if errors.Is(err, sessions.ErrStateUnknown) {
		if err := a.s.loadState(ctx, tenant); err != nil {
			return nil, nil, err
		}
		sess, st, err = a.s.sessions.Get(ctx, tenant, hash)
	}
	switch {
	case errors.Is(err, sessions.ErrNotFound):
		return nil, nil, auth.ErrInvalidCredential
	case err != nil:
		return nil, nil, err
	case !st.Valid(sess) || !a.s.now().Before(sess.ExpireTime):
		return nil, nil, auth.ErrInvalidCredential
	}
	return embedPrincipal(sess), sess, nil
}

func embedPrincipal(sess *sessions.Session) *auth.Principal {
	groups := make([]string, len(sess.Groups))
	for i, g := range sess.Groups {
		groups[i] = store.GroupName(sess.Tenant, g)
	}
	return &auth.Principal{
		Kind:       auth.KindEmbedSession,
		ID:         store.UserName(sess.Tenant, sess.User),
		Credential: sessionName(sess.Tenant, sess.ID),
		Tenant:     sess.Tenant,
		EmbedSession: &auth.EmbedSession{
			Name:             sessionName(sess.Tenant, sess.ID),
			User:             store.UserName(sess.Tenant, sess.User),
			Roles:            sess.Roles,
			Groups:           groups,
			AllowedResources: sess.AllowedResources,
			AllowedOrigin:    sess.AllowedOrigin,
			Attributes:       sess.Attributes,
			ExpireTime:       sess.ExpireTime,
		},
	}
}

// An embed token is "oriel_et_<tenant>.<43 characters: 256 random bits>". The tenant is in
// the clear so that the session's Redis keys, all hash-tagged by tenant, can be found
// without a second lookup; the secret is the random part.
var embedTokenFormat = regexp.MustCompile(`^oriel_et_([a-z][a-z0-9-]{1,61}[a-z0-9])\.[A-Za-z0-9_-]{43}$`)

func newEmbedToken(tenant string) string {
	b := make([]byte, 32)
	_, _ = rand.Read(b)
	return auth.EmbedTokenPrefix + tenant + "." + base64.RawURLEncoding.EncodeToString(b)
}

func embedTokenTenant(token string) (string, bool) {
	m := embedTokenFormat.FindStringSubmatch(token)
	if m == nil {
		return "", false
	}
	return m[1], true
}

// usageRecorder batches "last used" times of API keys and login times of users, so that
// authenticating a call or re-exchanging for a known user writes nothing to the database
// on the hot path; Flush writes the batch.
type usageRecorder struct {
	mu     sync.Mutex
	keys   map[string]time.Time
	logins map[[2]string]time.Time
}

func newUsageRecorder() *usageRecorder {
	return &usageRecorder{keys: map[string]time.Time{}, logins: map[[2]string]time.Time{}}
}

func (u *usageRecorder) keyUsed(hash []byte, at time.Time) {
	u.mu.Lock()
	defer u.mu.Unlock()
	// To the minute is all the API promises, and keeps the batch small.
	u.keys[string(hash)] = at.Truncate(time.Minute)
}

func (u *usageRecorder) loggedIn(tenant, user string, at time.Time) {
	u.mu.Lock()
	defer u.mu.Unlock()
	u.logins[[2]string{tenant, user}] = at
}

func (u *usageRecorder) take() (map[string]time.Time, []store.LoginTouch) {
	u.mu.Lock()
	defer u.mu.Unlock()
	keys := u.keys
	u.keys = map[string]time.Time{}
	touches := make([]store.LoginTouch, 0, len(u.logins))
	for k, t := range u.logins {
		touches = append(touches, store.LoginTouch{Tenant: k[0], UserID: k[1], Time: t})
	}
	u.logins = map[[2]string]time.Time{}
	return keys, touches
}

// Flush writes the batched usage every interval until ctx ends, and once more then.
func (s *Server) Flush(interval time.Duration) func(ctx context.Context) error {
	return func(ctx context.Context) error {
		t := time.NewTicker(interval)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				s.flushUsage(context.WithoutCancel(ctx))
				return nil
			case <-t.C:
				s.flushUsage(ctx)
			}
		}
	}
}

func (s *Server) flushUsage(ctx context.Context) {
	keys, logins := s.usage.take()
	if len(keys) > 0 {
		if err := s.store.TouchAPIKeys(ctx, keys); err != nil {
			s.log.Warn("recording API key use failed", "error", err, "keys", len(keys))
		}
	}
	if len(logins) > 0 {
		if err := s.store.TouchLogins(ctx, logins); err != nil {
			s.log.Warn("recording logins failed", "error", err, "users", len(logins))
		}
	}
}
