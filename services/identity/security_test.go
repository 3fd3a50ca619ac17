package identity_test

import (
	"context"
	"io"
	"net"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/fieldmaskpb"

	identityv1 "github.com/oriel-dev/oriel/gen/pb/oriel/identity/v1"
	"github.com/oriel-dev/oriel/platform/testkit"
)

// TestRevocationIsImmediate races 1,000 concurrent introspections against one revoke, for
// a token, a user and a tenant: no introspection that starts after the revoke returned may
// succeed.
func TestRevocationIsImmediate(t *testing.T) {
	t.Parallel()
	s := startService(t, options{})
	i := newISV(t, s)
	for _, tc := range []struct {
		name   string
		revoke func(resp *identityv1.ExchangeTokenResponse) error
	}{
		{"token", func(resp *identityv1.ExchangeTokenResponse) error {
			_, err := s.tokens.RevokeToken(s.admin(), &identityv1.RevokeTokenRequest{Token: resp.GetToken()})
			return err
		}},
		{"user", func(resp *identityv1.ExchangeTokenResponse) error {
			_, err := s.tokens.RevokeUserTokens(s.admin(), &identityv1.RevokeUserTokensRequest{User: resp.GetEmbedSession().GetUser()})
			return err
		}},
		{"tenant", func(*identityv1.ExchangeTokenResponse) error {
			_, err := s.tokens.RevokeTenantTokens(s.admin(), &identityv1.RevokeTenantTokensRequest{Parent: "tenants/" + i.tenant})
			return err
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			resp := s.exchange(t, i.tenant, i.sign(t, s.clock.Now(), "racer-"+tc.name, nil))
			ctx := as(context.Background(), resp.GetToken())
			var revokedAt atomic.Int64 // monotonic nanoseconds since start; 0 until the revoke returned
			start := time.Now()
			var late, errs atomic.Int32
			var wg sync.WaitGroup
			ready := make(chan struct{})
			for range 1000 {
				wg.Go(func() {
					<-ready
					for k := 0; k < 2; k++ {
						began := time.Since(start)
						_, err := s.tokens.IntrospectToken(ctx, &identityv1.IntrospectTokenRequest{})
						after := revokedAt.Load()
						switch {
						case err == nil && after != 0 && int64(began) > after:
							late.Add(1)
						case err != nil && status.Code(err) != codes.Unauthenticated && status.Code(err) != codes.Unavailable:
							// UNAVAILABLE is a fair answer from an overloaded Redis (never OK);
							// anything else is not.
							errs.Add(1)
						}
					}
				})
			}
			close(ready)
			time.Sleep(20 * time.Millisecond)
			// UNAVAILABLE tells a client to retry; only a revoke that returned OK counts.
			for attempt := 0; ; attempt++ {
				err := tc.revoke(resp)
				if err == nil {
					break
				}
				if status.Code(err) != codes.Unavailable || attempt == 20 {
					t.Fatal(err)
				}
			}
			revokedAt.Store(int64(time.Since(start)))
			wg.Wait()
			if late.Load() != 0 || errs.Load() != 0 {
				t.Fatalf("%d introspections that began after the revoke succeeded; %d failed otherwise than UNAUTHENTICATED or UNAVAILABLE", late.Load(), errs.Load())
			}
			_, err := s.tokens.IntrospectToken(ctx, &identityv1.IntrospectTokenRequest{})
			wantCode(t, err, codes.Unauthenticated, "CREDENTIAL_INVALID")
		})
	}
}

// TestLosingRedisFailsClosed: the Redis record is the allowlist, so a flushed Redis
// rejects every token, and nothing in Redis is the token itself.
func TestLosingRedisFailsClosed(t *testing.T) {
	t.Parallel()
	s := startService(t, options{})
	i := newISV(t, s)
	var tokens []string
	for _, who := range []string{"ann", "ben", "cid"} {
		tokens = append(tokens, s.exchange(t, i.tenant, i.sign(t, s.clock.Now(), who, nil)).GetToken())
	}
	r := testkit.Redis(t)
	ctx := context.Background()

	t.Run("no raw token anywhere in Redis", func(t *testing.T) {
		var everything strings.Builder
		iter := r.Scan(ctx, 0, "*", 1000).Iterator()
		for iter.Next(ctx) {
			key := iter.Val()
			everything.WriteString(key + "\n")
			switch r.Type(ctx, key).Val() {
			case "hash":
				for f, v := range r.HGetAll(ctx, key).Val() {
					everything.WriteString(f + "=" + v + "\n")
				}
			case "zset":
				for _, m := range r.ZRange(ctx, key, 0, -1).Val() {
					everything.WriteString(m + "\n")
				}
			case "string":
				everything.WriteString(r.Get(ctx, key).Val() + "\n")
			}
		}
		if err := iter.Err(); err != nil {
			t.Fatal(err)
		}
		dump := everything.String()
		if !strings.Contains(dump, "{"+i.tenant+"}") {
			t.Fatalf("the scan saw none of the tenant's keys:\n%s", dump)
		}
		for _, tok := range tokens {
			secret := tok[strings.LastIndex(tok, ".")+1:]
			if strings.Contains(dump, tok) || strings.Contains(dump, secret) {
				t.Fatalf("Redis holds a token or its secret")
			}
		}
	})

	t.Run("FLUSHALL rejects every token", func(t *testing.T) {
		// What FLUSHALL does to this tenant: every one of its keys gone. (The database is
		// shared by this package's parallel tests, so only this tenant's keys are dropped.)
		keys, err := r.Keys(ctx, "oriel:{"+i.tenant+"}:*").Result()
		if err != nil || len(keys) == 0 {
			t.Fatalf("the tenant's keys: %v, %v", keys, err)
		}
		if err := r.Del(ctx, keys...).Err(); err != nil {
			t.Fatal(err)
		}
		for _, tok := range tokens {
			_, err := s.tokens.IntrospectToken(as(ctx, tok), &identityv1.IntrospectTokenRequest{})
			wantCode(t, err, codes.Unauthenticated, "CREDENTIAL_INVALID")
		}
	})
}

// proxy forwards TCP to Redis until cut, and can hold replies back.
type proxy struct {
	lis   net.Listener
	delay atomic.Int64
	mu    sync.Mutex
	conns []net.Conn
}

func newProxy(t *testing.T, target string) *proxy {
	t.Helper()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &proxy{lis: lis}
	go func() {
		for {
			c, err := lis.Accept()
			if err != nil {
				return
			}
			up, err := net.Dial("tcp", target)
			if err != nil {
				c.Close()
				continue
			}
			p.mu.Lock()
			p.conns = append(p.conns, c, up)
			p.mu.Unlock()
			go func() { _, _ = io.Copy(up, c) }()
			go func() {
				buf := make([]byte, 32<<10)
				for {
					n, err := up.Read(buf)
					if n > 0 {
						time.Sleep(time.Duration(p.delay.Load()))
						if _, werr := c.Write(buf[:n]); werr != nil {
							return
						}
					}
					if err != nil {
						return
					}
				}
			}()
		}
	}()
	t.Cleanup(p.cut)
	return p
}

func (p *proxy) addr() string { return p.lis.Addr().String() }

// cut stops Redis answering: no new connection, and every open one closed.
func (p *proxy) cut() {
	p.lis.Close()
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, c := range p.conns {
		c.Close()
	}
}

// TestRedisTroubleIsUnavailable: with Redis down or slower than the call's deadline, every
// token call is UNAVAILABLE, never OK.
func TestRedisTroubleIsUnavailable(t *testing.T) {
	t.Parallel()
	r := testkit.Redis(t)
	for _, tc := range []struct {
		name    string
		breakIt func(p *proxy)
	}{
		{"stopped", func(p *proxy) { p.cut() }},
		{"slow", func(p *proxy) { p.delay.Store(int64(5 * time.Second)) }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			p := newProxy(t, r.Options().Addr)
			s := startService(t, options{redisURL: "redis://" + p.addr() + "/" + strconv.Itoa(r.Options().DB)})
			i := newISV(t, s)
			tok := s.exchange(t, i.tenant, i.sign(t, s.clock.Now(), "uma", nil)).GetToken()
			tc.breakIt(p)
			// Each call may take longer than identity's own 2 s bound on Redis, and less than
			// the proxy's delay.
			call := func() (context.Context, context.CancelFunc) {
				return context.WithTimeout(context.Background(), 4*time.Second)
			}
			ctx, cancel := call()
			defer cancel()
			_, err := s.tokens.IntrospectToken(as(ctx, tok), &identityv1.IntrospectTokenRequest{})
			wantCode(t, err, codes.Unavailable, "UNAVAILABLE")
			ctx2, cancel2 := call()
			defer cancel2()
			_, err = s.tokens.ExchangeToken(as(ctx2, i.sign(t, s.clock.Now(), "uma", nil)), &identityv1.ExchangeTokenRequest{Parent: "tenants/" + i.tenant})
			wantCode(t, err, codes.Unavailable, "UNAVAILABLE")
		})
	}
}

// TestAnotherTenantsResourcesAreNotFound calls every identity method on tenant B's
// resources with tenant A's most powerful key: each is NOT_FOUND, exactly as for a
// resource that does not exist, so nothing discloses that B's exist.
func TestAnotherTenantsResourcesAreNotFound(t *testing.T) {
	t.Parallel()
	s := startService(t, options{})
	a, b := newISV(t, s), newISV(t, s)
	// Tenant B's resources, made by the platform admin.
	bUser := s.exchange(t, b.tenant, b.sign(t, s.clock.Now(), "bea", nil)).GetEmbedSession().GetUser()
	bGroup := "tenants/" + b.tenant + "/groups/" + onlyGroupID(t, s, b.tenant)
	binding, err := s.directory.CreateRoleBinding(s.admin(), &identityv1.CreateRoleBindingRequest{
		Parent: "tenants/" + b.tenant, RoleBinding: &identityv1.RoleBinding{User: bUser, Role: identityv1.Role_ROLE_VIEWER},
	})
	if err != nil {
		t.Fatal(err)
	}
	s.tenantKey(t, b.tenant, "content.read")
	keys, err := s.accounts.ListServiceAccounts(s.admin(), &identityv1.ListServiceAccountsRequest{Parent: "tenants/" + b.tenant})
	if err != nil || len(keys.GetServiceAccounts()) != 1 {
		t.Fatalf("B's accounts: %v, %v", keys, err)
	}
	bAccount := keys.GetServiceAccounts()[0].GetName()
	bKeys, err := s.accounts.ListApiKeys(s.admin(), &identityv1.ListApiKeysRequest{Parent: bAccount})
	if err != nil || len(bKeys.GetApiKeys()) != 1 {
		t.Fatalf("B's keys: %v, %v", bKeys, err)
	}
	attacker := as(context.Background(), s.tenantKey(t, a.tenant, "identity.admin", "embed.mint"))
	B := "tenants/" + b.tenant
	calls := map[string]func() error{
		"CreateIdentityProvider": func() error {
			_, err := s.providers.CreateIdentityProvider(attacker, &identityv1.CreateIdentityProviderRequest{Parent: B, IdentityProviderId: "evil",
				IdentityProvider: &identityv1.IdentityProvider{Jwt: &identityv1.JwtProvider{Issuer: "x", JwksUri: "https://x.example.com/jwks"}}})
			return err
		},
		"GetIdentityProvider": func() error {
			_, err := s.providers.GetIdentityProvider(attacker, &identityv1.GetIdentityProviderRequest{Name: b.provider})
			return err
		},
		"ListIdentityProviders": func() error {
			_, err := s.providers.ListIdentityProviders(attacker, &identityv1.ListIdentityProvidersRequest{Parent: B})
			return err
		},
		"UpdateIdentityProvider": func() error {
			_, err := s.providers.UpdateIdentityProvider(attacker, &identityv1.UpdateIdentityProviderRequest{
				IdentityProvider: &identityv1.IdentityProvider{Name: b.provider, Disabled: true}, UpdateMask: &fieldmaskpb.FieldMask{Paths: []string{"disabled"}}})
			return err
		},
		"DeleteIdentityProvider": func() error {
			_, err := s.providers.DeleteIdentityProvider(attacker, &identityv1.DeleteIdentityProviderRequest{Name: b.provider})
			return err
		},
		"TestToken": func() error {
			_, err := s.providers.TestToken(attacker, &identityv1.TestTokenRequest{Name: b.provider, Token: "x.y.z"})
			return err
		},
		"GetUser": func() error {
			_, err := s.directory.GetUser(attacker, &identityv1.GetUserRequest{Name: bUser})
			return err
		},
		"ListUsers": func() error {
			_, err := s.directory.ListUsers(attacker, &identityv1.ListUsersRequest{Parent: B})
			return err
		},
		"DisableUser": func() error {
			_, err := s.directory.DisableUser(attacker, &identityv1.DisableUserRequest{Name: bUser})
			return err
		},
		"EnableUser": func() error {
			_, err := s.directory.EnableUser(attacker, &identityv1.EnableUserRequest{Name: bUser})
			return err
		},
		"CreateGroup": func() error {
			_, err := s.directory.CreateGroup(attacker, &identityv1.CreateGroupRequest{Parent: B, Group: &identityv1.Group{ClaimValue: "x"}})
			return err
		},
		"GetGroup": func() error {
			_, err := s.directory.GetGroup(attacker, &identityv1.GetGroupRequest{Name: bGroup})
			return err
		},
		"ListGroups": func() error {
			_, err := s.directory.ListGroups(attacker, &identityv1.ListGroupsRequest{Parent: B})
			return err
		},
		"DeleteGroup": func() error {
			_, err := s.directory.DeleteGroup(attacker, &identityv1.DeleteGroupRequest{Name: bGroup})
			return err
		},
		"CreateRoleBinding": func() error {
			_, err := s.directory.CreateRoleBinding(attacker, &identityv1.CreateRoleBindingRequest{Parent: B,
				RoleBinding: &identityv1.RoleBinding{User: bUser, Role: identityv1.Role_ROLE_ADMIN}})
			return err
		},
		"GetRoleBinding": func() error {
			_, err := s.directory.GetRoleBinding(attacker, &identityv1.GetRoleBindingRequest{Name: binding.GetRoleBinding().GetName()})
			return err
		},
		"ListRoleBindings": func() error {
			_, err := s.directory.ListRoleBindings(attacker, &identityv1.ListRoleBindingsRequest{Parent: B})
			return err
		},
		"DeleteRoleBinding": func() error {
			_, err := s.directory.DeleteRoleBinding(attacker, &identityv1.DeleteRoleBindingRequest{Name: binding.GetRoleBinding().GetName()})
			return err
		},
		"CreateServiceAccount": func() error {
			_, err := s.accounts.CreateServiceAccount(attacker, &identityv1.CreateServiceAccountRequest{Parent: B, ServiceAccountId: "evil",
				ServiceAccount: &identityv1.ServiceAccount{Scopes: []string{"identity.admin"}}})
			return err
		},
		"GetServiceAccount": func() error {
			_, err := s.accounts.GetServiceAccount(attacker, &identityv1.GetServiceAccountRequest{Name: bAccount})
			return err
		},
		"ListServiceAccounts": func() error {
			_, err := s.accounts.ListServiceAccounts(attacker, &identityv1.ListServiceAccountsRequest{Parent: B})
			return err
		},
		"DeleteServiceAccount": func() error {
			_, err := s.accounts.DeleteServiceAccount(attacker, &identityv1.DeleteServiceAccountRequest{Name: bAccount})
			return err
		},
		"CreateApiKey": func() error {
			_, err := s.accounts.CreateApiKey(attacker, &identityv1.CreateApiKeyRequest{Parent: bAccount})
			return err
		},
		"ListApiKeys": func() error {
			_, err := s.accounts.ListApiKeys(attacker, &identityv1.ListApiKeysRequest{Parent: bAccount})
			return err
		},
		"RevokeApiKey": func() error {
			_, err := s.accounts.RevokeApiKey(attacker, &identityv1.RevokeApiKeyRequest{Name: bKeys.GetApiKeys()[0].GetName()})
			return err
		},
		"ExchangeToken": func() error {
			_, err := s.tokens.ExchangeToken(attacker, &identityv1.ExchangeTokenRequest{Parent: B, Jwt: b.sign(t, s.clock.Now(), "bea", nil)})
			return err
		},
		"RevokeUserTokens": func() error {
			_, err := s.tokens.RevokeUserTokens(attacker, &identityv1.RevokeUserTokensRequest{User: bUser})
			return err
		},
		"RevokeTenantTokens": func() error {
			_, err := s.tokens.RevokeTenantTokens(attacker, &identityv1.RevokeTenantTokensRequest{Parent: B})
			return err
		},
		"ListEmbedSessions": func() error {
			_, err := s.tokens.ListEmbedSessions(attacker, &identityv1.ListEmbedSessionsRequest{Parent: bUser})
			return err
		},
	}
	for name, call := range calls {
		t.Run(name, func(t *testing.T) {
			err := call()
			wantCode(t, err, codes.NotFound, "RESOURCE_NOT_FOUND")
			if msg := status.Convert(err).Message(); strings.Contains(msg, "permission") || strings.Contains(msg, "scope") {
				t.Errorf("the refusal hints at more than absence: %q", msg)
			}
		})
	}
	// Nothing of B changed.
	if _, err := s.providers.GetIdentityProvider(s.admin(), &identityv1.GetIdentityProviderRequest{Name: b.provider}); err != nil {
		t.Fatalf("B's provider: %v", err)
	}
	u, err := s.directory.GetUser(s.admin(), &identityv1.GetUserRequest{Name: bUser})
	if err != nil || u.GetUser().GetDisabled() {
		t.Fatalf("B's user: %v, %v", u, err)
	}
}

// onlyGroupID returns the id of tenant's only group.
func onlyGroupID(t *testing.T, s *service, tenant string) string {
	t.Helper()
	groups, err := s.directory.ListGroups(s.admin(), &identityv1.ListGroupsRequest{Parent: "tenants/" + tenant})
	if err != nil || len(groups.GetGroups()) == 0 {
		t.Fatalf("groups of %s: %v, %v", tenant, groups, err)
	}
	name := groups.GetGroups()[0].GetName()
	return name[strings.LastIndex(name, "/")+1:]
}
