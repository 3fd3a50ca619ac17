package storetest

import (
	"testing"
	"time"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/durationpb"

	identityv1 "github.com/oriel-dev/oriel/gen/pb/oriel/identity/v1"
	"github.com/oriel-dev/oriel/platform/testkit"
	"github.com/oriel-dev/oriel/services/identity/internal/store"
)

var providerBehaviours = []behaviour{
	{"a created provider reads back field for field", providerRoundTrips},
	{"a taken provider id is already taken in its tenant only", providerIDTaken},
	{"update replaces the mutable fields if the etag still matches", providerUpdateChecksEtag},
	{"delete removes the provider if the etag still matches", providerDeleteChecksEtag},
	{"a provider of another tenant is not found", providerTenantIsolation},
	{"limit and after id page through every provider exactly once", providersPageByID},
}

// newProvider returns a provider of tenant with every field of its config set: two keys
// overlapping in time (rotation), a JWKS URI, algorithms, durations and a claim mapping.
func newProvider(tenant, id string) *identityv1.IdentityProvider {
	return &identityv1.IdentityProvider{
		Name:        store.IdentityProviderName(tenant, id),
		DisplayName: "Acme SSO",
		Jwt: &identityv1.JwtProvider{
			Issuer:   "https://sso.acme.example",
			Audience: "oriel-" + tenant,
			Keys: []*identityv1.SigningKey{
				{
					Kid: "2031-01", Alg: identityv1.Algorithm_ALGORITHM_ES256,
					Pem:      "-----BEGIN PUBLIC KEY-----\nMFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAE\n-----END PUBLIC KEY-----\n",
					NotAfter: ts(epoch.Add(30 * 24 * time.Hour)),
				},
				{
					Kid: "2031-02", Alg: identityv1.Algorithm_ALGORITHM_RS256,
					Jwk:       `{"kty":"RSA","n":"0vx7","e":"AQAB"}`,
					NotBefore: ts(epoch.Add(7*24*time.Hour + time.Microsecond)),
				},
			},
			JwksUri: "https://sso.acme.example/.well-known/jwks.json",
			AllowedAlgorithms: []identityv1.Algorithm{
				identityv1.Algorithm_ALGORITHM_RS256, identityv1.Algorithm_ALGORITHM_ES256, identityv1.Algorithm_ALGORITHM_EDDSA,
			},
			ClockTolerance:      durationpb.New(45 * time.Second),
			MaxTokenLifetime:    durationpb.New(10*time.Minute + 500*time.Millisecond),
			JwksRefreshInterval: durationpb.New(5 * time.Minute),
			Claims: &identityv1.ClaimMapping{
				Subject:        "uid",
				Name:           "display_name",
				Email:          "mail",
				Groups:         "roles",
				Attributes:     map[string]string{"region": "https://acme.example/region", "cost_center": "cc"},
				RequiredClaims: []string{"uid", "roles"},
			},
		},
		CreateTime: ts(epoch),
		UpdateTime: ts(epoch.Add(time.Second)),
	}
}

// mustCreateProvider creates p and returns a copy of it as it should read back.
func mustCreateProvider(t *testing.T, s store.Store, tenant string, p *identityv1.IdentityProvider) *identityv1.IdentityProvider {
	t.Helper()
	id := testkit.ResourceID(p.GetName())
	testkit.RequireNoError(t, "CreateIdentityProvider", s.CreateIdentityProvider(t.Context(), tenant, id, p))
	if p.GetEtag() == "" {
		t.Fatalf("CreateIdentityProvider(%s) left the etag empty", p.GetName())
	}
	return proto.Clone(p).(*identityv1.IdentityProvider)
}

func providerRoundTrips(t *testing.T, s store.Store) {
	tenant := newTenant()
	want := mustCreateProvider(t, s, tenant, newProvider(tenant, "acme-sso"))
	got, err := s.GetIdentityProvider(t.Context(), tenant, "acme-sso")
	testkit.RequireNoError(t, "GetIdentityProvider", err)
	testkit.RequireProto(t, "GetIdentityProvider", want, got)

	list, err := s.ListIdentityProviders(t.Context(), tenant, everything)
	testkit.RequireNoError(t, "ListIdentityProviders", err)
	testkit.RequireEqual(t, "providers listed", 1, len(list))
	testkit.RequireProto(t, "ListIdentityProviders[0]", want, list[0])
}

func providerIDTaken(t *testing.T, s store.Store) {
	tenant, other := newTenant(), newTenant()
	first := mustCreateProvider(t, s, tenant, newProvider(tenant, "acme-sso"))

	again := newProvider(tenant, "acme-sso")
	again.DisplayName = "Impostor"
	err := s.CreateIdentityProvider(t.Context(), tenant, "acme-sso", again)
	testkit.RequireErrorIs(t, "CreateIdentityProvider of a taken id", err, store.ErrAlreadyExists)
	got, err := s.GetIdentityProvider(t.Context(), tenant, "acme-sso")
	testkit.RequireNoError(t, "GetIdentityProvider", err)
	testkit.RequireProto(t, "the provider after a failed create", first, got)

	mustCreateProvider(t, s, other, newProvider(other, "acme-sso"))
}

func providerUpdateChecksEtag(t *testing.T, s store.Store) {
	tenant := newTenant()
	created := mustCreateProvider(t, s, tenant, newProvider(tenant, "acme-sso"))

	changed := proto.Clone(created).(*identityv1.IdentityProvider)
	changed.DisplayName = "Acme SSO (rotated)"
	changed.Disabled = true
	changed.Jwt.Keys = changed.Jwt.Keys[1:]
	changed.Jwt.Claims.Attributes = nil
	changed.UpdateTime = ts(epoch.Add(time.Hour))
	testkit.RequireNoError(t, "UpdateIdentityProvider with the current etag",
		s.UpdateIdentityProvider(t.Context(), tenant, "acme-sso", created.GetEtag(), changed))
	if changed.GetEtag() == created.GetEtag() || changed.GetEtag() == "" {
		t.Fatalf("UpdateIdentityProvider set etag %q, want a new one (was %q)", changed.GetEtag(), created.GetEtag())
	}
	got, err := s.GetIdentityProvider(t.Context(), tenant, "acme-sso")
	testkit.RequireNoError(t, "GetIdentityProvider", err)
	testkit.RequireProto(t, "the updated provider", changed, got)

	stale := proto.Clone(changed).(*identityv1.IdentityProvider)
	stale.DisplayName = "Lost update"
	err = s.UpdateIdentityProvider(t.Context(), tenant, "acme-sso", created.GetEtag(), stale)
	testkit.RequireErrorIs(t, "UpdateIdentityProvider with a stale etag", err, store.ErrEtagMismatch)
	got, err = s.GetIdentityProvider(t.Context(), tenant, "acme-sso")
	testkit.RequireNoError(t, "GetIdentityProvider", err)
	testkit.RequireProto(t, "the provider after a stale update", changed, got)

	blind := proto.Clone(changed).(*identityv1.IdentityProvider)
	blind.DisplayName = "Blind write"
	blind.Disabled = false
	testkit.RequireNoError(t, "UpdateIdentityProvider without an etag",
		s.UpdateIdentityProvider(t.Context(), tenant, "acme-sso", "", blind))
	if blind.GetEtag() == changed.GetEtag() {
		t.Fatalf("UpdateIdentityProvider without an etag kept etag %q", blind.GetEtag())
	}
	got, err = s.GetIdentityProvider(t.Context(), tenant, "acme-sso")
	testkit.RequireNoError(t, "GetIdentityProvider", err)
	testkit.RequireProto(t, "the provider after an update without etag", blind, got)

	err = s.UpdateIdentityProvider(t.Context(), tenant, "missing", "", newProvider(tenant, "missing"))
	testkit.RequireErrorIs(t, "UpdateIdentityProvider of a missing provider", err, store.ErrNotFound)
}

func providerDeleteChecksEtag(t *testing.T, s store.Store) {
	tenant := newTenant()
	created := mustCreateProvider(t, s, tenant, newProvider(tenant, "acme-sso"))
	updated := proto.Clone(created).(*identityv1.IdentityProvider)
	testkit.RequireNoError(t, "UpdateIdentityProvider", s.UpdateIdentityProvider(t.Context(), tenant, "acme-sso", "", updated))

	err := s.DeleteIdentityProvider(t.Context(), tenant, "acme-sso", created.GetEtag())
	testkit.RequireErrorIs(t, "DeleteIdentityProvider with a stale etag", err, store.ErrEtagMismatch)
	_, err = s.GetIdentityProvider(t.Context(), tenant, "acme-sso")
	testkit.RequireNoError(t, "GetIdentityProvider after a stale delete", err)

	testkit.RequireNoError(t, "DeleteIdentityProvider with the current etag",
		s.DeleteIdentityProvider(t.Context(), tenant, "acme-sso", updated.GetEtag()))
	_, err = s.GetIdentityProvider(t.Context(), tenant, "acme-sso")
	testkit.RequireErrorIs(t, "GetIdentityProvider after delete", err, store.ErrNotFound)
	err = s.DeleteIdentityProvider(t.Context(), tenant, "acme-sso", "")
	testkit.RequireErrorIs(t, "DeleteIdentityProvider of a deleted provider", err, store.ErrNotFound)

	// The id is free again, and a new provider does not inherit the old one's etags.
	mustCreateProvider(t, s, tenant, newProvider(tenant, "acme-sso"))
	err = s.DeleteIdentityProvider(t.Context(), tenant, "acme-sso", updated.GetEtag())
	testkit.RequireErrorIs(t, "DeleteIdentityProvider with the etag of the deleted provider", err, store.ErrEtagMismatch)
	testkit.RequireNoError(t, "DeleteIdentityProvider without an etag", s.DeleteIdentityProvider(t.Context(), tenant, "acme-sso", ""))
}

func providerTenantIsolation(t *testing.T, s store.Store) {
	tenant, other := newTenant(), newTenant()
	want := mustCreateProvider(t, s, tenant, newProvider(tenant, "acme-sso"))

	_, err := s.GetIdentityProvider(t.Context(), other, "acme-sso")
	testkit.RequireErrorIs(t, "GetIdentityProvider from another tenant", err, store.ErrNotFound)
	err = s.UpdateIdentityProvider(t.Context(), other, "acme-sso", "", newProvider(other, "acme-sso"))
	testkit.RequireErrorIs(t, "UpdateIdentityProvider from another tenant", err, store.ErrNotFound)
	err = s.UpdateIdentityProvider(t.Context(), other, "acme-sso", want.GetEtag(), newProvider(other, "acme-sso"))
	testkit.RequireErrorIs(t, "UpdateIdentityProvider from another tenant with the right etag", err, store.ErrNotFound)
	err = s.DeleteIdentityProvider(t.Context(), other, "acme-sso", "")
	testkit.RequireErrorIs(t, "DeleteIdentityProvider from another tenant", err, store.ErrNotFound)
	list, err := s.ListIdentityProviders(t.Context(), other, everything)
	testkit.RequireNoError(t, "ListIdentityProviders", err)
	testkit.RequireEqual(t, "providers listed in another tenant", 0, len(list))

	got, err := s.GetIdentityProvider(t.Context(), tenant, "acme-sso")
	testkit.RequireNoError(t, "GetIdentityProvider", err)
	testkit.RequireProto(t, "the provider after another tenant's attempts", want, got)
}

func providersPageByID(t *testing.T, s store.Store) {
	tenant, other := newTenant(), newTenant()
	ids := pagingIDs("idp")
	for _, id := range ids {
		mustCreateProvider(t, s, tenant, newProvider(tenant, id))
	}
	// Another tenant's providers sort among them but must never show up.
	mustCreateProvider(t, s, other, newProvider(other, ids[0]+"0"))
	requirePaging(t, ids, func(p store.Page) ([]*identityv1.IdentityProvider, error) {
		return s.ListIdentityProviders(t.Context(), tenant, p)
	}, func(p *identityv1.IdentityProvider) string { return testkit.ResourceID(p.GetName()) })
}
