package identity_test

import (
	"context"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	identityv1 "github.com/oriel-dev/oriel/gen/pb/oriel/identity/v1"
	"github.com/oriel-dev/oriel/platform/apierr"
	"github.com/oriel-dev/oriel/platform/redisconn"
	"github.com/oriel-dev/oriel/services/identity/internal/sessions"
)

func wantCode(t testing.TB, err error, code codes.Code, reason string) {
	t.Helper()
	if status.Code(err) != code || (reason != "" && apierr.Reason(err) != reason) {
		t.Fatalf("got %v (reason %q), want %s %s", err, apierr.Reason(err), code, reason)
	}
}

func TestExchangeIntrospectRevoke(t *testing.T) {
	t.Parallel()
	s := startService(t, options{})
	i := newISV(t, s)
	ctx := context.Background()
	// The analysts group gets a role before anyone signs in with it.
	g, err := s.directory.CreateGroup(s.admin(), &identityv1.CreateGroupRequest{
		Parent: "tenants/" + i.tenant, Group: &identityv1.Group{ClaimValue: "analysts"},
	})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.directory.CreateRoleBinding(s.admin(), &identityv1.CreateRoleBindingRequest{
		Parent: "tenants/" + i.tenant, RoleBinding: &identityv1.RoleBinding{Group: g.GetGroup().GetName(), Role: identityv1.Role_ROLE_VIEWER},
	}); err != nil {
		t.Fatal(err)
	}

	t.Run("with the JWT as the credential", func(t *testing.T) {
		resp := s.exchange(t, i.tenant, i.sign(t, s.clock.Now(), "alice", nil))
		if !strings.HasPrefix(resp.GetToken(), "oriel_et_"+i.tenant+".") {
			t.Fatalf("token %q", resp.GetToken())
		}
		sess := resp.GetEmbedSession()
		if !slices.Equal(sess.GetRoles(), []identityv1.Role{identityv1.Role_ROLE_VIEWER}) || sess.GetAttributes()["region"] != "emea" ||
			!slices.Equal(sess.GetGroups(), []string{g.GetGroup().GetName()}) {
			t.Fatalf("session %v", sess)
		}
		if got := resp.GetExpireTime().AsTime().Sub(sess.GetCreateTime().AsTime()); got != 5*time.Minute {
			t.Fatalf("token lives %s, want the default 5m", got)
		}
		// The token is the caller's own credential: introspecting it needs nothing else.
		in, err := s.tokens.IntrospectToken(as(ctx, resp.GetToken()), &identityv1.IntrospectTokenRequest{})
		if err != nil || !in.GetActive() || in.GetPrincipal().GetKind() != identityv1.Principal_KIND_EMBED_SESSION ||
			in.GetPrincipal().GetTenant() != i.tenant || in.GetPrincipal().GetEmbedSession().GetUser() != sess.GetUser() {
			t.Fatalf("introspect = %v, %v", in, err)
		}
		if _, err := s.tokens.RevokeToken(as(ctx, resp.GetToken()), &identityv1.RevokeTokenRequest{}); err != nil {
			t.Fatal(err)
		}
		_, err = s.tokens.IntrospectToken(as(ctx, resp.GetToken()), &identityv1.IntrospectTokenRequest{})
		wantCode(t, err, codes.Unauthenticated, "CREDENTIAL_INVALID")
	})

	t.Run("with an embed.mint key of the tenant", func(t *testing.T) {
		key := s.tenantKey(t, i.tenant, "embed.mint")
		resp, err := s.tokens.ExchangeToken(as(ctx, key), &identityv1.ExchangeTokenRequest{
			Parent: "tenants/" + i.tenant, Jwt: i.sign(t, s.clock.Now(), "bob", nil),
			AllowedOrigin: "https://app.example.com", AllowedResources: []string{"tenants/" + i.tenant + "/apps/sales"},
		})
		if err != nil {
			t.Fatal(err)
		}
		in, err := s.tokens.IntrospectToken(as(ctx, key), &identityv1.IntrospectTokenRequest{Token: resp.GetToken()})
		if err != nil || !in.GetActive() || in.GetPrincipal().GetEmbedSession().GetAllowedOrigin() != "https://app.example.com" {
			t.Fatalf("introspect = %v, %v", in, err)
		}
		// Another tenant's minter cannot see it.
		other := newISV(t, s)
		otherKey := s.tenantKey(t, other.tenant, "embed.mint")
		in, err = s.tokens.IntrospectToken(as(ctx, otherKey), &identityv1.IntrospectTokenRequest{Token: resp.GetToken()})
		if err != nil || in.GetActive() {
			t.Fatalf("another tenant introspected the token: %v, %v", in, err)
		}
		// …nor mint for this tenant.
		_, err = s.tokens.ExchangeToken(as(ctx, otherKey), &identityv1.ExchangeTokenRequest{
			Parent: "tenants/" + i.tenant, Jwt: i.sign(t, s.clock.Now(), "bob", nil),
		})
		wantCode(t, err, codes.NotFound, "RESOURCE_NOT_FOUND")
	})

	t.Run("a JWT is single-use, even presented 50 times at once", func(t *testing.T) {
		token := i.sign(t, s.clock.Now(), "carol", nil)
		var wins, replays atomic.Int32
		var wg sync.WaitGroup
		for range 50 {
			wg.Go(func() {
				_, err := s.tokens.ExchangeToken(as(ctx, token), &identityv1.ExchangeTokenRequest{Parent: "tenants/" + i.tenant})
				switch {
				case err == nil:
					wins.Add(1)
				case apierr.Reason(err) == "JWT_REPLAYED":
					replays.Add(1)
				default:
					t.Errorf("unexpected: %v", err)
				}
			})
		}
		wg.Wait()
		if wins.Load() != 1 || replays.Load() != 49 {
			t.Fatalf("%d exchanges won and %d were replays; want 1 and 49", wins.Load(), replays.Load())
		}
	})

	t.Run("a token from another tenant's provider is refused", func(t *testing.T) {
		other := newISV(t, s)
		_, err := s.tokens.ExchangeToken(as(ctx, other.sign(t, s.clock.Now(), "mallory", nil)),
			&identityv1.ExchangeTokenRequest{Parent: "tenants/" + i.tenant})
		wantCode(t, err, codes.Unauthenticated, "JWT_REJECTED")
	})

	t.Run("a changed binding applies to the very next exchange", func(t *testing.T) {
		first := s.exchange(t, i.tenant, i.sign(t, s.clock.Now(), "dave", nil))
		user := first.GetEmbedSession().GetUser()
		if _, err := s.directory.CreateRoleBinding(s.admin(), &identityv1.CreateRoleBindingRequest{
			Parent: "tenants/" + i.tenant, RoleBinding: &identityv1.RoleBinding{User: user, Role: identityv1.Role_ROLE_ADMIN},
		}); err != nil {
			t.Fatal(err)
		}
		next := s.exchange(t, i.tenant, i.sign(t, s.clock.Now(), "dave", nil))
		if !slices.Contains(next.GetEmbedSession().GetRoles(), identityv1.Role_ROLE_ADMIN) {
			t.Fatalf("roles after binding: %v", next.GetEmbedSession().GetRoles())
		}
		// A new group in the claim applies at once too.
		moved := s.exchange(t, i.tenant, i.sign(t, s.clock.Now(), "dave", jwt.MapClaims{"groups": []string{"finance"}}))
		if slices.Contains(moved.GetEmbedSession().GetGroups(), "tenants/"+i.tenant+"/groups/"+"analysts") ||
			len(moved.GetEmbedSession().GetGroups()) != 1 {
			t.Fatalf("groups after the claim changed: %v", moved.GetEmbedSession().GetGroups())
		}
	})

	t.Run("a disabled user can neither exchange nor use its tokens", func(t *testing.T) {
		resp := s.exchange(t, i.tenant, i.sign(t, s.clock.Now(), "erin", nil))
		if _, err := s.directory.DisableUser(s.admin(), &identityv1.DisableUserRequest{Name: resp.GetEmbedSession().GetUser()}); err != nil {
			t.Fatal(err)
		}
		_, err := s.tokens.IntrospectToken(as(ctx, resp.GetToken()), &identityv1.IntrospectTokenRequest{})
		wantCode(t, err, codes.Unauthenticated, "CREDENTIAL_INVALID")
		_, err = s.tokens.ExchangeToken(as(ctx, i.sign(t, s.clock.Now(), "erin", nil)), &identityv1.ExchangeTokenRequest{Parent: "tenants/" + i.tenant})
		wantCode(t, err, codes.PermissionDenied, "USER_DISABLED")
		if _, err := s.directory.EnableUser(s.admin(), &identityv1.EnableUserRequest{Name: resp.GetEmbedSession().GetUser()}); err != nil {
			t.Fatal(err)
		}
		s.exchange(t, i.tenant, i.sign(t, s.clock.Now(), "erin", nil))
	})
}

func TestRefreshAndListSessions(t *testing.T) {
	t.Parallel()
	s := startService(t, options{})
	i := newISV(t, s)
	ctx := context.Background()
	first := s.exchange(t, i.tenant, i.sign(t, s.clock.Now(), "frank", nil))
	second := s.exchange(t, i.tenant, i.sign(t, s.clock.Now(), "frank", nil))
	user := first.GetEmbedSession().GetUser()

	list, err := s.tokens.ListEmbedSessions(s.admin(), &identityv1.ListEmbedSessionsRequest{Parent: user})
	if err != nil || len(list.GetEmbedSessions()) != 2 {
		t.Fatalf("sessions of %s: %v, %v; want 2", user, list, err)
	}

	refreshed, err := s.tokens.RefreshToken(as(ctx, first.GetToken()), &identityv1.RefreshTokenRequest{})
	if err != nil {
		t.Fatal(err)
	}
	if refreshed.GetToken() == first.GetToken() || refreshed.GetEmbedSession().GetName() != first.GetEmbedSession().GetName() {
		t.Fatalf("refresh gave token %q for session %q; want a new token for the same session", refreshed.GetToken(), refreshed.GetEmbedSession().GetName())
	}
	// The new token works; the old one, within its 30 s grace, too; after it, not.
	for _, tok := range []string{refreshed.GetToken(), first.GetToken()} {
		if _, err := s.tokens.IntrospectToken(as(ctx, tok), &identityv1.IntrospectTokenRequest{}); err != nil {
			t.Fatalf("introspect during the grace period: %v", err)
		}
	}
	// Revoking the user ends every session, refreshed or not.
	if _, err := s.tokens.RevokeUserTokens(s.admin(), &identityv1.RevokeUserTokensRequest{User: user}); err != nil {
		t.Fatal(err)
	}
	for _, tok := range []string{refreshed.GetToken(), second.GetToken()} {
		_, err := s.tokens.IntrospectToken(as(ctx, tok), &identityv1.IntrospectTokenRequest{})
		wantCode(t, err, codes.Unauthenticated, "CREDENTIAL_INVALID")
	}
	list, err = s.tokens.ListEmbedSessions(s.admin(), &identityv1.ListEmbedSessionsRequest{Parent: user})
	if err != nil || len(list.GetEmbedSessions()) != 0 {
		t.Fatalf("sessions after revoking the user: %v, %v; want none", list, err)
	}
	// A service account cannot refresh "its own" embed token: it has none.
	_, err = s.tokens.RefreshToken(s.admin(), &identityv1.RefreshTokenRequest{})
	wantCode(t, err, codes.InvalidArgument, "INVALID_REQUEST")
}

// A database restored from an older backup holds lower revocation epochs than the Redis
// mirror, which keeps the higher of each; sessions minted since carry the mirror's. A
// revocation must still pass them: epochs follow the clock, not a counter that restarts.
func TestRevocationPassesAMirrorAheadOfTheDatabase(t *testing.T) {
	t.Parallel()
	s := startService(t, options{})
	i := newISV(t, s)
	ctx := context.Background()
	first := s.exchange(t, i.tenant, i.sign(t, s.clock.Now(), "dora", nil)) // loads the mirror
	user := first.GetEmbedSession().GetUser()
	userID := user[strings.LastIndex(user, "/")+1:]

	// The mirror got ahead of the database: as if the database had been restored to before
	// a thousand revocations the mirror still remembers.
	client, err := redisconn.Open(ctx, s.redisURL)
	if err != nil {
		t.Fatal(err)
	}
	defer client.Close()
	if err := sessions.NewRedis(client).RaiseUser(ctx, i.tenant, userID, sessions.UserState{Epoch: 1000}); err != nil {
		t.Fatalf("raise the mirror: %v", err)
	}
	token := s.exchange(t, i.tenant, i.sign(t, s.clock.Now(), "dora", nil)).GetToken()
	if _, err := s.tokens.IntrospectToken(as(ctx, token), &identityv1.IntrospectTokenRequest{}); err != nil {
		t.Fatalf("a token minted after the mirror moved: %v", err)
	}

	if _, err := s.tokens.RevokeUserTokens(s.admin(), &identityv1.RevokeUserTokensRequest{User: user}); err != nil {
		t.Fatal(err)
	}
	_, err = s.tokens.IntrospectToken(as(ctx, token), &identityv1.IntrospectTokenRequest{})
	wantCode(t, err, codes.Unauthenticated, "CREDENTIAL_INVALID")
}
