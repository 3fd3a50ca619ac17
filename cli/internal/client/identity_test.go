package client_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/fieldmaskpb"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/oriel-dev/oriel/cli/internal/client"
	identityv1 "github.com/oriel-dev/oriel/gen/pb/oriel/identity/v1"
	tenantv1 "github.com/oriel-dev/oriel/gen/pb/oriel/tenant/v1"
)

// isvKey is an ISV's signing key: what its backend signs users' JWTs with.
type isvKey struct {
	kid    string
	priv   *ecdsa.PrivateKey
	pubPEM string
}

func newISVKey(t *testing.T, kid string) isvKey {
	t.Helper()
	priv, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	der, err := x509.MarshalPKIXPublicKey(&priv.PublicKey)
	if err != nil {
		t.Fatal(err)
	}
	return isvKey{kid: kid, priv: priv, pubPEM: string(pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}))}
}

const testIssuer = "https://isv.example.com"

// sign makes a JWT for subject as the ISV's backend would, with a fresh jti; extra claims
// are added or override the standard ones.
func (k isvKey) sign(t *testing.T, subject string, extra jwt.MapClaims) string {
	t.Helper()
	jti := make([]byte, 16)
	_, _ = rand.Read(jti)
	now := time.Now()
	claims := jwt.MapClaims{
		"iss": testIssuer, "aud": "oriel", "sub": subject, "iat": now.Unix(), "nbf": now.Unix(),
		"exp": now.Add(5 * time.Minute).Unix(), "jti": hex.EncodeToString(jti),
	}
	for name, v := range extra {
		claims[name] = v
	}
	tok := jwt.NewWithClaims(jwt.SigningMethodES256, claims)
	tok.Header["kid"] = k.kid
	s, err := tok.SignedString(k.priv)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// providerFor is a provider trusting key for testIssuer, mapping the `region` claim to a
// session attribute.
func providerFor(keys ...isvKey) *identityv1.IdentityProvider {
	p := &identityv1.IdentityProvider{
		DisplayName: "ISV single sign-on",
		Jwt: &identityv1.JwtProvider{
			Issuer: testIssuer,
			Claims: &identityv1.ClaimMapping{Attributes: map[string]string{"region": "region"}},
		},
	}
	for _, k := range keys {
		p.Jwt.Keys = append(p.Jwt.Keys, &identityv1.SigningKey{Kid: k.kid, Alg: identityv1.Algorithm_ALGORITHM_ES256, Pem: k.pubPEM})
	}
	return p
}

func mustProvider(t *testing.T, c *client.Client, tenant, id string, p *identityv1.IdentityProvider) *identityv1.IdentityProvider {
	t.Helper()
	resp, err := c.CreateIdentityProvider(testContext(t), &identityv1.CreateIdentityProviderRequest{
		Parent: "tenants/" + tenant, IdentityProviderId: id, IdentityProvider: p,
	})
	if err != nil {
		t.Fatalf("CreateIdentityProvider(%s): %v", id, err)
	}
	return resp.GetIdentityProvider()
}

func TestIdentityProviderLifecycle(t *testing.T) {
	t.Parallel()
	c, _ := adminClient(t)
	ctx := testContext(t)
	k1, k2 := newISVKey(t, "k1"), newISVKey(t, "k2")

	created := mustProvider(t, c, "acme", "main", providerFor(k1))
	if created.GetName() != "tenants/acme/identityProviders/main" || created.GetEtag() == "" || created.GetCreateTime() == nil {
		t.Fatalf("created = %v, want its name, an etag and a create time", created)
	}
	if created.GetJwt().GetIssuer() != testIssuer || len(created.GetJwt().GetKeys()) != 1 {
		t.Errorf("created JWT config = %v", created.GetJwt())
	}
	got, err := c.GetIdentityProvider(ctx, &identityv1.GetIdentityProviderRequest{Name: created.GetName()})
	if err != nil {
		t.Fatalf("GetIdentityProvider: %v", err)
	}
	if !proto.Equal(got.GetIdentityProvider(), created) {
		t.Errorf("get = %v\nwant what create returned: %v", got.GetIdentityProvider(), created)
	}

	t.Run("listing pages through every provider", func(t *testing.T) {
		for _, id := range []string{"second", "third"} {
			mustProvider(t, c, "acme", id, providerFor(k1))
		}
		mustProvider(t, c, "other", "main", providerFor(k1))
		first, err := c.ListIdentityProviders(ctx, &identityv1.ListIdentityProvidersRequest{Parent: "tenants/acme", PageSize: 2})
		if err != nil {
			t.Fatal(err)
		}
		if len(first.GetIdentityProviders()) != 2 || first.GetNextPageToken() == "" {
			t.Errorf("first page: %d providers, token %q; want 2 and a token", len(first.GetIdentityProviders()), first.GetNextPageToken())
		}
		var names []string
		for p, err := range c.AllIdentityProviders(ctx, &identityv1.ListIdentityProvidersRequest{Parent: "tenants/acme", PageSize: 2}) {
			if err != nil {
				t.Fatal(err)
			}
			names = append(names, p.GetName())
		}
		want := []string{"tenants/acme/identityProviders/main", "tenants/acme/identityProviders/second", "tenants/acme/identityProviders/third"}
		if !slices.Equal(names, want) {
			t.Errorf("providers = %v, want %v (only acme's, by name)", names, want)
		}
	})

	t.Run("update changes only the masked fields", func(t *testing.T) {
		upd, err := c.UpdateIdentityProvider(ctx, &identityv1.UpdateIdentityProviderRequest{
			IdentityProvider: &identityv1.IdentityProvider{
				Name: created.GetName(), DisplayName: "ignored: not in the mask", Etag: created.GetEtag(),
				Jwt: &identityv1.JwtProvider{
					Keys:             providerFor(k1, k2).GetJwt().GetKeys(),
					MaxTokenLifetime: durationpb.New(15 * time.Minute),
				},
			},
			UpdateMask: &fieldmaskpb.FieldMask{Paths: []string{"jwt.keys", "jwt.max_token_lifetime"}},
		})
		if err != nil {
			t.Fatalf("UpdateIdentityProvider: %v", err)
		}
		p := upd.GetIdentityProvider()
		var kids []string
		for _, k := range p.GetJwt().GetKeys() {
			kids = append(kids, k.GetKid())
		}
		if !slices.Equal(kids, []string{"k1", "k2"}) || p.GetJwt().GetMaxTokenLifetime().AsDuration() != 15*time.Minute {
			t.Errorf("keys %v, lifetime %v; want k1, k2 and 15m", kids, p.GetJwt().GetMaxTokenLifetime().AsDuration())
		}
		if p.GetDisplayName() != created.GetDisplayName() || p.GetJwt().GetIssuer() != testIssuer || p.GetEtag() == created.GetEtag() {
			t.Errorf("updated = %v; want the display name and issuer unchanged and a new etag", p)
		}
		_, err = c.UpdateIdentityProvider(ctx, &identityv1.UpdateIdentityProviderRequest{
			IdentityProvider: &identityv1.IdentityProvider{Name: created.GetName(), DisplayName: "x", Etag: created.GetEtag()},
			UpdateMask:       &fieldmaskpb.FieldMask{Paths: []string{"display_name"}},
		})
		apiError(t, err, http.StatusConflict, "ETAG_MISMATCH")
	})

	t.Run("a private key where the public one belongs is refused, naming the field", func(t *testing.T) {
		der, err := x509.MarshalPKCS8PrivateKey(k1.priv)
		if err != nil {
			t.Fatal(err)
		}
		p := providerFor(k1)
		p.Jwt.Keys[0].Pem = string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}))
		_, err = c.CreateIdentityProvider(ctx, &identityv1.CreateIdentityProviderRequest{Parent: "tenants/acme", IdentityProviderId: "leaky", IdentityProvider: p})
		e := apiError(t, err, http.StatusBadRequest, "INVALID_REQUEST")
		if len(e.FieldViolations) == 0 || !strings.HasPrefix(e.FieldViolations[0].Field, "identity_provider.jwt.keys[0]") {
			t.Errorf("violations = %v, want one about identity_provider.jwt.keys[0]", e.FieldViolations)
		}
	})

	t.Run("delete, then it is gone", func(t *testing.T) {
		if _, err := c.DeleteIdentityProvider(ctx, &identityv1.DeleteIdentityProviderRequest{Name: "tenants/acme/identityProviders/third"}); err != nil {
			t.Fatalf("DeleteIdentityProvider: %v", err)
		}
		_, err := c.GetIdentityProvider(ctx, &identityv1.GetIdentityProviderRequest{Name: "tenants/acme/identityProviders/third"})
		apiError(t, err, http.StatusNotFound, "RESOURCE_NOT_FOUND")
	})
}

func TestTestTokenReportsEveryCheckWithoutUsingTheToken(t *testing.T) {
	t.Parallel()
	c, _ := adminClient(t)
	ctx := testContext(t)
	k := newISVKey(t, "k1")
	p := mustProvider(t, c, "acme", "main", providerFor(k))

	good := k.sign(t, "alice", jwt.MapClaims{"name": "Alice", "groups": []string{"analysts"}, "region": "emea"})
	resp, err := c.TestToken(ctx, &identityv1.TestTokenRequest{Name: p.GetName(), Token: good})
	if err != nil {
		t.Fatalf("TestToken: %v", err)
	}
	outcomes := map[string]identityv1.TokenCheck_Outcome{}
	for _, ch := range resp.GetChecks() {
		outcomes[ch.GetCheck()] = ch.GetOutcome()
	}
	for _, check := range []string{"alg", "kid", "signature", "iss", "aud", "exp", "lifetime"} {
		if outcomes[check] != identityv1.TokenCheck_OUTCOME_PASSED {
			t.Errorf("check %s = %s, want PASSED (all: %v)", check, outcomes[check], resp.GetChecks())
		}
	}
	id := resp.GetIdentity()
	if !resp.GetValid() || id.GetSubject() != "alice" || id.GetDisplayName() != "Alice" || id.GetAttributes()["region"] != "emea" {
		t.Errorf("valid %v, identity %v; want valid, alice, Alice, region=emea", resp.GetValid(), id)
	}

	wrongIssuer := k.sign(t, "alice", jwt.MapClaims{"iss": "https://evil.example.com"})
	resp, err = c.TestToken(ctx, &identityv1.TestTokenRequest{Name: p.GetName(), Token: wrongIssuer})
	if err != nil {
		t.Fatalf("TestToken: %v", err)
	}
	i := slices.IndexFunc(resp.GetChecks(), func(ch *identityv1.TokenCheck) bool { return ch.GetCheck() == "iss" })
	if resp.GetValid() || i < 0 || resp.GetChecks()[i].GetOutcome() != identityv1.TokenCheck_OUTCOME_FAILED || resp.GetChecks()[i].GetDetail() == "" {
		t.Errorf("valid %v, checks %v; want invalid with a failed iss check that says why", resp.GetValid(), resp.GetChecks())
	}

	// Testing did not use up the good token's jti: it still exchanges.
	if _, err := c.ExchangeToken(ctx, &identityv1.ExchangeTokenRequest{Parent: "tenants/acme", Jwt: good}); err != nil {
		t.Errorf("exchange of a tested token: %v", err)
	}
}

func TestGroupsRoleBindingsAndUsers(t *testing.T) {
	t.Parallel()
	c, _ := adminClient(t)
	ctx := testContext(t)
	k := newISVKey(t, "k1")
	mustProvider(t, c, "acme", "main", providerFor(k))

	g, err := c.CreateGroup(ctx, &identityv1.CreateGroupRequest{Parent: "tenants/acme", GroupId: "analysts", Group: &identityv1.Group{ClaimValue: "Analysts"}})
	if err != nil {
		t.Fatalf("CreateGroup: %v", err)
	}
	if g.GetGroup().GetName() != "tenants/acme/groups/analysts" || g.GetGroup().GetClaimValue() != "Analysts" {
		t.Errorf("group = %v", g.GetGroup())
	}
	derived, err := c.CreateGroup(ctx, &identityv1.CreateGroupRequest{Parent: "tenants/acme", Group: &identityv1.Group{ClaimValue: "Sales EMEA"}})
	if err != nil {
		t.Fatalf("CreateGroup without an id: %v", err)
	}
	if !strings.HasPrefix(derived.GetGroup().GetName(), "tenants/acme/groups/sales-emea-") {
		t.Errorf("derived group name = %s, want a slug of the claim value", derived.GetGroup().GetName())
	}
	_, err = c.CreateGroup(ctx, &identityv1.CreateGroupRequest{Parent: "tenants/acme", GroupId: "analysts", Group: &identityv1.Group{ClaimValue: "Other"}})
	apiError(t, err, http.StatusConflict, "RESOURCE_ALREADY_EXISTS")

	b, err := c.CreateRoleBinding(ctx, &identityv1.CreateRoleBindingRequest{
		Parent: "tenants/acme", RoleBindingId: "analysts-developer",
		RoleBinding: &identityv1.RoleBinding{Group: g.GetGroup().GetName(), Role: identityv1.Role_ROLE_DEVELOPER},
	})
	if err != nil {
		t.Fatalf("CreateRoleBinding: %v", err)
	}
	_, err = c.CreateRoleBinding(ctx, &identityv1.CreateRoleBindingRequest{
		Parent: "tenants/acme", RoleBinding: &identityv1.RoleBinding{Group: "tenants/acme/groups/nobody", Role: identityv1.Role_ROLE_VIEWER},
	})
	apiError(t, err, http.StatusBadRequest, "MEMBER_NOT_FOUND")

	// A user exists once it exchanged a token; its groups come from the claim.
	ex, err := c.ExchangeToken(ctx, &identityv1.ExchangeTokenRequest{Parent: "tenants/acme",
		Jwt: k.sign(t, "alice", jwt.MapClaims{"name": "Alice", "email": "alice@acme.example", "groups": []string{"Analysts"}})})
	if err != nil {
		t.Fatalf("ExchangeToken: %v", err)
	}
	user := ex.GetEmbedSession().GetUser()
	if !slices.Equal(ex.GetEmbedSession().GetRoles(), []identityv1.Role{identityv1.Role_ROLE_DEVELOPER}) {
		t.Errorf("roles = %v, want DEVELOPER from the group's binding", ex.GetEmbedSession().GetRoles())
	}
	u, err := c.GetUser(ctx, &identityv1.GetUserRequest{Name: user})
	if err != nil {
		t.Fatalf("GetUser: %v", err)
	}
	if u.GetUser().GetSubject() != "alice" || u.GetUser().GetEmail() != "alice@acme.example" ||
		!slices.Equal(u.GetUser().GetGroups(), []string{"tenants/acme/groups/analysts"}) || u.GetUser().GetLastLoginTime() == nil {
		t.Errorf("user = %v", u.GetUser())
	}
	var users []string
	for u, err := range c.AllUsers(ctx, &identityv1.ListUsersRequest{Parent: "tenants/acme"}) {
		if err != nil {
			t.Fatal(err)
		}
		users = append(users, u.GetName())
	}
	if !slices.Equal(users, []string{user}) {
		t.Errorf("users = %v, want [%s]", users, user)
	}

	t.Run("a disabled user cannot exchange, until enabled", func(t *testing.T) {
		d, err := c.DisableUser(ctx, &identityv1.DisableUserRequest{Name: user})
		if err != nil || !d.GetUser().GetDisabled() {
			t.Fatalf("DisableUser: %v, %v", d, err)
		}
		_, err = c.ExchangeToken(ctx, &identityv1.ExchangeTokenRequest{Parent: "tenants/acme", Jwt: k.sign(t, "alice", nil)})
		apiError(t, err, http.StatusForbidden, "USER_DISABLED")
		// Its token of before is dead too.
		_, err = c.WithCredential(ex.GetToken()).IntrospectToken(ctx, &identityv1.IntrospectTokenRequest{})
		apiError(t, err, http.StatusUnauthorized, "CREDENTIAL_INVALID")
		e, err := c.EnableUser(ctx, &identityv1.EnableUserRequest{Name: user})
		if err != nil || e.GetUser().GetDisabled() {
			t.Fatalf("EnableUser: %v, %v", e, err)
		}
		if _, err := c.ExchangeToken(ctx, &identityv1.ExchangeTokenRequest{Parent: "tenants/acme", Jwt: k.sign(t, "alice", nil)}); err != nil {
			t.Errorf("exchange after enable: %v", err)
		}
	})

	t.Run("bindings and groups list, get and delete", func(t *testing.T) {
		got, err := c.GetRoleBinding(ctx, &identityv1.GetRoleBindingRequest{Name: b.GetRoleBinding().GetName()})
		if err != nil || !proto.Equal(got.GetRoleBinding(), b.GetRoleBinding()) {
			t.Errorf("GetRoleBinding = %v, %v; want %v", got, err, b.GetRoleBinding())
		}
		lb, err := c.ListRoleBindings(ctx, &identityv1.ListRoleBindingsRequest{Parent: "tenants/acme"})
		if err != nil || len(lb.GetRoleBindings()) != 1 {
			t.Errorf("ListRoleBindings = %v, %v; want the one binding", lb, err)
		}
		var groups []string
		for g, err := range c.AllGroups(ctx, &identityv1.ListGroupsRequest{Parent: "tenants/acme", PageSize: 1}) {
			if err != nil {
				t.Fatal(err)
			}
			groups = append(groups, g.GetName())
		}
		if len(groups) != 2 || groups[0] != "tenants/acme/groups/analysts" {
			t.Errorf("groups = %v, want analysts and the derived one", groups)
		}
		if _, err := c.DeleteRoleBinding(ctx, &identityv1.DeleteRoleBindingRequest{Name: b.GetRoleBinding().GetName()}); err != nil {
			t.Fatalf("DeleteRoleBinding: %v", err)
		}
		ex, err := c.ExchangeToken(ctx, &identityv1.ExchangeTokenRequest{Parent: "tenants/acme", Jwt: k.sign(t, "alice", jwt.MapClaims{"groups": []string{"Analysts"}})})
		if err != nil || len(ex.GetEmbedSession().GetRoles()) != 0 {
			t.Errorf("exchange after the binding is deleted: roles %v, %v; want none", ex.GetEmbedSession().GetRoles(), err)
		}
		if _, err := c.DeleteGroup(ctx, &identityv1.DeleteGroupRequest{Name: "tenants/acme/groups/analysts"}); err != nil {
			t.Fatalf("DeleteGroup: %v", err)
		}
		_, err = c.GetGroup(ctx, &identityv1.GetGroupRequest{Name: "tenants/acme/groups/analysts"})
		apiError(t, err, http.StatusNotFound, "RESOURCE_NOT_FOUND")
	})
}

func TestServiceAccountsAndTheirKeys(t *testing.T) {
	t.Parallel()
	c, st := adminClient(t)
	ctx := testContext(t)

	platform, err := c.CreateServiceAccount(ctx, &identityv1.CreateServiceAccountRequest{
		ServiceAccountId: "backend", ServiceAccount: &identityv1.ServiceAccount{DisplayName: "ISV backend", Scopes: []string{"embed.mint", "tenants.read"}},
	})
	if err != nil {
		t.Fatalf("CreateServiceAccount (platform): %v", err)
	}
	if platform.GetServiceAccount().GetName() != "serviceAccounts/backend" {
		t.Errorf("platform account = %v", platform.GetServiceAccount())
	}
	tenantSA, err := c.CreateServiceAccount(ctx, &identityv1.CreateServiceAccountRequest{
		Parent: "tenants/acme", ServiceAccountId: "admin", ServiceAccount: &identityv1.ServiceAccount{Scopes: []string{"identity.admin"}},
	})
	if err != nil {
		t.Fatalf("CreateServiceAccount (tenant): %v", err)
	}
	if tenantSA.GetServiceAccount().GetName() != "tenants/acme/serviceAccounts/admin" {
		t.Errorf("tenant account = %v", tenantSA.GetServiceAccount())
	}
	_, err = c.CreateServiceAccount(ctx, &identityv1.CreateServiceAccountRequest{
		ServiceAccountId: "bad", ServiceAccount: &identityv1.ServiceAccount{Scopes: []string{"everything"}},
	})
	if e := apiError(t, err, http.StatusBadRequest, "INVALID_REQUEST"); len(e.FieldViolations) == 0 {
		t.Errorf("unknown scope: no field violation")
	}

	var platformNames []string
	for a, err := range c.AllServiceAccounts(ctx, &identityv1.ListServiceAccountsRequest{}) {
		if err != nil {
			t.Fatal(err)
		}
		platformNames = append(platformNames, a.GetName())
	}
	if !slices.Contains(platformNames, "serviceAccounts/backend") || slices.Contains(platformNames, "tenants/acme/serviceAccounts/admin") {
		t.Errorf("platform accounts = %v, want backend and no tenant account", platformNames)
	}
	got, err := c.GetServiceAccount(ctx, &identityv1.GetServiceAccountRequest{Name: "tenants/acme/serviceAccounts/admin"})
	if err != nil || !slices.Equal(got.GetServiceAccount().GetScopes(), []string{"identity.admin"}) {
		t.Errorf("GetServiceAccount = %v, %v", got, err)
	}

	expire := time.Now().Add(24 * time.Hour).Truncate(time.Second)
	key, err := c.CreateApiKey(ctx, &identityv1.CreateApiKeyRequest{
		Parent: "serviceAccounts/backend", ApiKey: &identityv1.ApiKey{DisplayName: "prod", ExpireTime: timestamppb.New(expire)},
	})
	if err != nil {
		t.Fatalf("CreateApiKey: %v", err)
	}
	if !strings.HasPrefix(key.GetSecret(), "oriel_sk_") || !strings.HasPrefix(key.GetSecret(), key.GetApiKey().GetPrefix()) ||
		!key.GetApiKey().GetExpireTime().AsTime().Equal(expire) {
		t.Fatalf("key = %v, want a secret starting with its prefix and the expiry asked for", key)
	}

	// The new key works, as its account with its scopes.
	backend := client.New(st.GatewayURL, key.GetSecret(), nil)
	who, err := backend.IntrospectToken(ctx, &identityv1.IntrospectTokenRequest{})
	if err != nil {
		t.Fatalf("IntrospectToken with the new key: %v", err)
	}
	if p := who.GetPrincipal(); !who.GetActive() || p.GetName() != "serviceAccounts/backend" || p.GetCredential() != key.GetApiKey().GetName() ||
		!slices.Equal(p.GetScopes(), []string{"embed.mint", "tenants.read"}) || p.GetTenant() != "" {
		t.Errorf("introspection = %v", who)
	}
	if _, err := backend.ListRegions(ctx, &tenantv1.ListRegionsRequest{}); err != nil {
		t.Errorf("ListRegions with the new key (tenants.read): %v", err)
	}

	keys, err := c.ListApiKeys(ctx, &identityv1.ListApiKeysRequest{Parent: "serviceAccounts/backend"})
	if err != nil || len(keys.GetApiKeys()) != 1 || keys.GetApiKeys()[0].GetName() != key.GetApiKey().GetName() {
		t.Fatalf("ListApiKeys = %v, %v", keys, err)
	}
	revoked, err := c.RevokeApiKey(ctx, &identityv1.RevokeApiKeyRequest{Name: key.GetApiKey().GetName()})
	if err != nil || revoked.GetApiKey().GetRevokeTime() == nil {
		t.Fatalf("RevokeApiKey = %v, %v; want a revoke time", revoked, err)
	}
	// Identity itself forgets a revoked key at once.
	_, err = backend.IntrospectToken(ctx, &identityv1.IntrospectTokenRequest{})
	apiError(t, err, http.StatusUnauthorized, "CREDENTIAL_INVALID")

	if _, err := c.DeleteServiceAccount(ctx, &identityv1.DeleteServiceAccountRequest{Name: "tenants/acme/serviceAccounts/admin"}); err != nil {
		t.Fatalf("DeleteServiceAccount: %v", err)
	}
	_, err = c.GetServiceAccount(ctx, &identityv1.GetServiceAccountRequest{Name: "tenants/acme/serviceAccounts/admin"})
	apiError(t, err, http.StatusNotFound, "RESOURCE_NOT_FOUND")
}

func TestTenantServiceAccountSeesOnlyItsTenant(t *testing.T) {
	t.Parallel()
	c, st := adminClient(t)
	ctx := testContext(t)
	k := newISVKey(t, "k1")
	mustProvider(t, c, "acme", "main", providerFor(k))
	mustProvider(t, c, "globex", "main", providerFor(k))
	if _, err := c.CreateServiceAccount(ctx, &identityv1.CreateServiceAccountRequest{
		Parent: "tenants/acme", ServiceAccountId: "admin", ServiceAccount: &identityv1.ServiceAccount{Scopes: []string{"identity.admin", "embed.mint"}},
	}); err != nil {
		t.Fatal(err)
	}
	key, err := c.CreateApiKey(ctx, &identityv1.CreateApiKeyRequest{Parent: "tenants/acme/serviceAccounts/admin"})
	if err != nil {
		t.Fatal(err)
	}
	acme := client.New(st.GatewayURL, key.GetSecret(), nil)
	if _, err := acme.GetIdentityProvider(ctx, &identityv1.GetIdentityProviderRequest{Name: "tenants/acme/identityProviders/main"}); err != nil {
		t.Errorf("own tenant's provider: %v", err)
	}
	_, err = acme.GetIdentityProvider(ctx, &identityv1.GetIdentityProviderRequest{Name: "tenants/globex/identityProviders/main"})
	apiError(t, err, http.StatusNotFound, "RESOURCE_NOT_FOUND")
	_, err = acme.ExchangeToken(ctx, &identityv1.ExchangeTokenRequest{Parent: "tenants/globex", Jwt: k.sign(t, "alice", nil)})
	apiError(t, err, http.StatusNotFound, "RESOURCE_NOT_FOUND")
	_, err = acme.ListServiceAccounts(ctx, &identityv1.ListServiceAccountsRequest{})
	apiError(t, err, http.StatusForbidden, "PERMISSION_DENIED")
}

// TestEmbedFlowEndToEnd is the ISV's flow: register its key, bind a group to a role, sign a
// JWT for a user, exchange it (with an API key, and as the user), use and revoke the token.
func TestEmbedFlowEndToEnd(t *testing.T) {
	t.Parallel()
	c, _ := adminClient(t)
	ctx := testContext(t)
	// Its embed tokens are bound to an origin, which the edge accepts only if the tenant
	// allows it.
	initech := newTenantRequest("initech")
	initech.Tenant.Settings = &tenantv1.TenantSettings{AllowedWebOrigins: []string{"https://app.initech.example"}}
	mustCreate(t, c, initech)
	mustCreate(t, c, newTenantRequest("globex"))
	k := newISVKey(t, "k1")
	mustProvider(t, c, "initech", "isv", providerFor(k))
	if _, err := c.CreateGroup(ctx, &identityv1.CreateGroupRequest{Parent: "tenants/initech", GroupId: "analysts", Group: &identityv1.Group{ClaimValue: "analysts"}}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.CreateRoleBinding(ctx, &identityv1.CreateRoleBindingRequest{Parent: "tenants/initech",
		RoleBinding: &identityv1.RoleBinding{Group: "tenants/initech/groups/analysts", Role: identityv1.Role_ROLE_VIEWER}}); err != nil {
		t.Fatal(err)
	}
	claims := jwt.MapClaims{"name": "Alice", "email": "alice@initech.example", "groups": []string{"analysts"}, "region": "emea"}

	// With the ISV backend's key (embed.mint), the JWT in the body.
	byKey, err := c.ExchangeToken(ctx, &identityv1.ExchangeTokenRequest{
		Parent: "tenants/initech", Jwt: k.sign(t, "alice", claims), Ttl: durationpb.New(10 * time.Minute),
		AllowedOrigin: "https://app.initech.example", AllowedResources: []string{"tenants/initech/apps/sales"},
	})
	if err != nil {
		t.Fatalf("ExchangeToken with the API key: %v", err)
	}
	if !strings.HasPrefix(byKey.GetToken(), "oriel_et_initech.") {
		t.Errorf("token = %q, want oriel_et_initech.…", byKey.GetToken())
	}
	if left := time.Until(byKey.GetExpireTime().AsTime()); left < 9*time.Minute || left > 10*time.Minute+time.Second {
		t.Errorf("token expires in %s, want the 10 minutes asked for", left)
	}

	// As the user: the JWT is the credential, no API key at all.
	asUser, err := c.WithCredential(k.sign(t, "alice", claims)).ExchangeToken(ctx, &identityv1.ExchangeTokenRequest{Parent: "tenants/initech"})
	if err != nil {
		t.Fatalf("ExchangeToken with the JWT as the credential: %v", err)
	}
	if asUser.GetEmbedSession().GetUser() != byKey.GetEmbedSession().GetUser() || asUser.GetEmbedSession().GetName() == byKey.GetEmbedSession().GetName() {
		t.Errorf("second session %v, want the same user in a new session", asUser.GetEmbedSession())
	}
	t.Run("a JWT is single-use", func(t *testing.T) {
		once := k.sign(t, "alice", claims)
		if _, err := c.ExchangeToken(ctx, &identityv1.ExchangeTokenRequest{Parent: "tenants/initech", Jwt: once}); err != nil {
			t.Fatal(err)
		}
		_, err := c.WithCredential(once).ExchangeToken(ctx, &identityv1.ExchangeTokenRequest{Parent: "tenants/initech"})
		apiError(t, err, http.StatusUnauthorized, "JWT_REPLAYED")
	})

	// The admin introspects the token: the user's roles, groups and attributes.
	in, err := c.IntrospectToken(ctx, &identityv1.IntrospectTokenRequest{Token: byKey.GetToken()})
	if err != nil {
		t.Fatalf("IntrospectToken: %v", err)
	}
	sess := in.GetPrincipal().GetEmbedSession()
	if !in.GetActive() || in.GetPrincipal().GetKind() != identityv1.Principal_KIND_EMBED_SESSION || in.GetPrincipal().GetTenant() != "initech" ||
		!slices.Equal(sess.GetRoles(), []identityv1.Role{identityv1.Role_ROLE_VIEWER}) ||
		!slices.Equal(sess.GetGroups(), []string{"tenants/initech/groups/analysts"}) || sess.GetAttributes()["region"] != "emea" ||
		sess.GetAllowedOrigin() != "https://app.initech.example" || !slices.Equal(sess.GetAllowedResources(), []string{"tenants/initech/apps/sales"}) {
		t.Errorf("introspection = %v", in)
	}

	// The embed token is a credential: it may ask who it is …
	embed := c.WithCredential(byKey.GetToken()).WithEmbedOrigin("https://app.initech.example") // the origin it is bound to
	self, err := embed.IntrospectToken(ctx, &identityv1.IntrospectTokenRequest{})
	if err != nil || self.GetPrincipal().GetName() != byKey.GetEmbedSession().GetUser() {
		t.Errorf("self-introspection = %v, %v", self, err)
	}
	// … and reaches the tenant service, which authenticates it through identity. Embed
	// sessions hold no scopes, so reading the tenant is PERMISSION_DENIED. Another tenant
	// is refused at the edge already: its origin is none globex allows.
	_, err = embed.GetTenant(ctx, &tenantv1.GetTenantRequest{Name: "tenants/initech"})
	apiError(t, err, http.StatusForbidden, "PERMISSION_DENIED")
	_, err = embed.GetTenant(ctx, &tenantv1.GetTenantRequest{Name: "tenants/globex"})
	apiError(t, err, http.StatusForbidden, "ORIGIN_NOT_ALLOWED")
	// It can administer nothing in identity either.
	_, err = embed.ListUsers(ctx, &identityv1.ListUsersRequest{Parent: "tenants/initech"})
	apiError(t, err, http.StatusForbidden, "PERMISSION_DENIED")

	sessions, err := c.ListEmbedSessions(ctx, &identityv1.ListEmbedSessionsRequest{Parent: byKey.GetEmbedSession().GetUser()})
	if err != nil || len(sessions.GetEmbedSessions()) < 2 {
		t.Fatalf("ListEmbedSessions = %v, %v; want the user's live sessions", sessions, err)
	}

	t.Run("refresh issues a new token for the same session", func(t *testing.T) {
		r, err := embed.RefreshToken(ctx, &identityv1.RefreshTokenRequest{})
		if err != nil {
			t.Fatalf("RefreshToken (own): %v", err)
		}
		if r.GetToken() == byKey.GetToken() || r.GetEmbedSession().GetName() != byKey.GetEmbedSession().GetName() {
			t.Errorf("refresh = %v, want a new token for session %s", r, byKey.GetEmbedSession().GetName())
		}
	})

	if _, err := c.RevokeToken(ctx, &identityv1.RevokeTokenRequest{Token: byKey.GetToken()}); err != nil {
		t.Fatalf("RevokeToken: %v", err)
	}
	_, err = embed.IntrospectToken(ctx, &identityv1.IntrospectTokenRequest{})
	if e := apiError(t, err, http.StatusUnauthorized, "CREDENTIAL_INVALID"); e.Status != "UNAUTHENTICATED" {
		t.Errorf("status = %s, want UNAUTHENTICATED", e.Status)
	}
	gone, err := c.IntrospectToken(ctx, &identityv1.IntrospectTokenRequest{Token: byKey.GetToken()})
	if err != nil || gone.GetActive() {
		t.Errorf("admin introspection of the revoked token = %v, %v; want active false", gone, err)
	}

	t.Run("revoking a user's and a tenant's tokens", func(t *testing.T) {
		if _, err := c.WithCredential(asUser.GetToken()).IntrospectToken(ctx, &identityv1.IntrospectTokenRequest{}); err != nil {
			t.Fatalf("the other token before: %v", err)
		}
		if _, err := c.RevokeUserTokens(ctx, &identityv1.RevokeUserTokensRequest{User: asUser.GetEmbedSession().GetUser()}); err != nil {
			t.Fatalf("RevokeUserTokens: %v", err)
		}
		_, err := c.WithCredential(asUser.GetToken()).IntrospectToken(ctx, &identityv1.IntrospectTokenRequest{})
		apiError(t, err, http.StatusUnauthorized, "CREDENTIAL_INVALID")

		fresh, err := c.ExchangeToken(ctx, &identityv1.ExchangeTokenRequest{Parent: "tenants/initech", Jwt: k.sign(t, "bob", nil)})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := c.RevokeTenantTokens(ctx, &identityv1.RevokeTenantTokensRequest{Parent: "tenants/initech"}); err != nil {
			t.Fatalf("RevokeTenantTokens: %v", err)
		}
		_, err = c.WithCredential(fresh.GetToken()).IntrospectToken(ctx, &identityv1.IntrospectTokenRequest{})
		apiError(t, err, http.StatusUnauthorized, "CREDENTIAL_INVALID")
	})
}

func TestIdentityNamesAreCheckedBeforeAnyRequest(t *testing.T) {
	t.Parallel()
	var calls atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		calls.Add(1)
		http.Error(w, "unexpected", http.StatusTeapot)
	}))
	t.Cleanup(srv.Close)
	c := client.New(srv.URL, "k", nil)
	ctx := testContext(t)
	for _, tc := range []struct {
		name string
		call func() error
	}{
		{"provider without its tenant", func() error {
			_, err := c.GetIdentityProvider(ctx, &identityv1.GetIdentityProviderRequest{Name: "identityProviders/main"})
			return err
		}},
		{"provider with a custom verb", func() error {
			_, err := c.TestToken(ctx, &identityv1.TestTokenRequest{Name: "tenants/acme/identityProviders/main:delete"})
			return err
		}},
		{"user in a group's place", func() error {
			_, err := c.GetUser(ctx, &identityv1.GetUserRequest{Name: "tenants/acme/groups/g1"})
			return err
		}},
		{"empty group", func() error { _, err := c.DeleteGroup(ctx, &identityv1.DeleteGroupRequest{}); return err }},
		{"role binding with a dot segment", func() error {
			_, err := c.GetRoleBinding(ctx, &identityv1.GetRoleBindingRequest{Name: "tenants/acme/roleBindings/.."})
			return err
		}},
		{"service account under another collection", func() error {
			_, err := c.GetServiceAccount(ctx, &identityv1.GetServiceAccountRequest{Name: "tenants/acme/users/x"})
			return err
		}},
		{"key without its account", func() error {
			_, err := c.RevokeApiKey(ctx, &identityv1.RevokeApiKeyRequest{Name: "keys/abcd"})
			return err
		}},
		{"sessions of a wildcard user", func() error {
			_, err := c.ListEmbedSessions(ctx, &identityv1.ListEmbedSessionsRequest{Parent: "tenants/acme/users/-"})
			return err
		}},
		{"exchange in every tenant", func() error {
			_, err := c.ExchangeToken(ctx, &identityv1.ExchangeTokenRequest{Parent: "tenants/-"})
			return err
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.call()
			if !errors.Is(err, client.ErrInvalidName) {
				t.Errorf("error = %v, want ErrInvalidName", err)
			}
		})
	}
	if n := calls.Load(); n != 0 {
		t.Errorf("%d requests reached the server", n)
	}
}
