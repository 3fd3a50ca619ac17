// Package api implements the identity service's gRPC services: identity providers, the
// directory (users, groups, role bindings), service accounts and API keys, and tokens
// (exchange, introspection, refresh, revocation). It also authenticates every call to
// identity itself, without a network hop.
package api

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base32"
	"encoding/hex"
	"errors"
	"log/slog"
	"strings"
	"time"

	"github.com/oriel-dev/oriel/platform/auth"
	"github.com/oriel-dev/oriel/services/identity/internal/jwtauth"
	"github.com/oriel-dev/oriel/services/identity/internal/sessions"
	"github.com/oriel-dev/oriel/services/identity/internal/store"
)

// Options configure a Server.
type Options struct {
	Store    store.Store
	Sessions sessions.Store
	Verifier *jwtauth.Verifier
	Log      *slog.Logger
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// DevMode relaxes what identity providers may point at (http JWKS on localhost).
	DevMode bool
	// KeyCache is how long an API key's owner is cached; a revoked key keeps working at
	// most this long on replicas other than the one that revoked it.
	KeyCache time.Duration
}

// Server implements the identity services. Create it with New; run Flush as a worker.
type Server struct {
	store    store.Store
	sessions sessions.Store
	verifier *jwtauth.Verifier
	log      *slog.Logger
	now      func() time.Time
	devMode  bool

	authn     *Authenticator
	logins    *loginCache
	usage     *usageRecorder
	providers *providerReads
}

// New returns the server.
func New(o Options) *Server {
	if o.Now == nil {
		o.Now = time.Now
	}
	s := &Server{
		store: o.Store, sessions: guarded{o.Sessions}, verifier: o.Verifier, log: o.Log,
		now: o.Now, devMode: o.DevMode,
		logins:    newLoginCache(),
		usage:     newUsageRecorder(),
		providers: newProviderReads(o.Store),
	}
	s.authn = newAuthenticator(s, o.KeyCache)
	return s
}

// Authenticator checks the credentials of calls to identity itself.
func (s *Server) Authenticator() auth.Authenticator { return s.authn }

// clock is the time at the precision the stores keep.
func (s *Server) clock() time.Time { return s.now().UTC().Truncate(time.Microsecond) }

// state returns the mirrored revocation state for a user, loading the tenant's mirror from
// the database first if it is not loaded.
func (s *Server) state(ctx context.Context, tenant, user string) (sessions.State, error) {
	st, err := s.sessions.State(ctx, tenant, user)
	if errors.Is(err, sessions.ErrStateUnknown) {
		if err := s.loadState(ctx, tenant); err != nil {
			return sessions.State{}, err
		}
		st, err = s.sessions.State(ctx, tenant, user)
	}
	return st, err
}

func (s *Server) loadState(ctx context.Context, tenant string) error {
	full, err := s.store.RevocationState(ctx, tenant)
	if err != nil {
		return err
	}
	return s.sessions.LoadState(ctx, tenant, full)
}

// mirror applies a raise to the revocation mirror, loading the mirror (which then already
// holds the raised value, read from the database) when it is not loaded.
func (s *Server) mirror(ctx context.Context, tenant string, raise func() error) error {
	if err := raise(); !errors.Is(err, sessions.ErrStateUnknown) {
		return err
	}
	return s.loadState(ctx, tenant)
}

// Names of resources.

func tenantName(tenant string) string       { return "tenants/" + tenant }
func sessionName(tenant, id string) string  { return "tenants/" + tenant + "/embedSessions/" + id }
func providerID(providerName string) string { return lastSegment(providerName) }
func lastSegment(name string) string        { return name[strings.LastIndex(name, "/")+1:] }
func tenantOf(name string) string {
	return strings.SplitN(strings.TrimPrefix(name, "tenants/"), "/", 2)[0]
}

// segments splits a resource name into its ids: for "tenants/a/users/b", {"tenants": "a",
// "users": "b"}.
func segments(name string) map[string]string {
	parts := strings.Split(name, "/")
	out := make(map[string]string, len(parts)/2)
	for i := 0; i+1 < len(parts); i += 2 {
		out[parts[i]] = parts[i+1]
	}
	return out
}

var lowerBase32 = base32.NewEncoding("abcdefghijklmnopqrstuvwxyz234567").WithPadding(base32.NoPadding)

// UserID derives a user's id from its provider and subject, so the same person always
// gets the same id and concurrent first logins agree on it.
func UserID(provider, subject string) string {
	sum := sha256.Sum256([]byte(provider + "\x00" + subject))
	return "u" + lowerBase32.EncodeToString(sum[:15])
}

// randomID returns n random bytes as lowercase base32.
func randomID(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return lowerBase32.EncodeToString(b)
}

// tokenHash is how a credential is stored and looked up: never the credential itself.
func tokenHash(token string) string {
	sum := sha256.Sum256([]byte(token))
	return hex.EncodeToString(sum[:])
}
