package jwtauth

import (
	"crypto"
	"fmt"
	"strings"
	"testing"
	"time"

	"google.golang.org/protobuf/types/known/timestamppb"

	identityv1 "github.com/oriel-dev/oriel/gen/pb/oriel/identity/v1"
)

func TestVerifyAcceptsEverySupportedAlgorithmWithPEMAndJWKKeys(t *testing.T) {
	clock := newFakeClock()
	v := newTestVerifier(clock, false)
	k := testKeys()
	for _, a := range algorithms {
		var priv crypto.Signer
		switch a.family {
		case familyRSA:
			priv = k.rsa
		case familyP256:
			priv = k.p256
		case familyP384:
			priv = k.p384
		case familyEd25519:
			priv = k.ed
		}
		for _, form := range []string{"pem", "jwk"} {
			t.Run(a.name+"/"+form, func(t *testing.T) {
				key := pemKey(t, "key-1", a.enum, priv)
				if form == "jwk" {
					key = jwkKey(t, "key-1", a.enum, priv)
				}
				if v := CheckConfig(&identityv1.JwtProvider{Issuer: testIssuer, Keys: []*identityv1.SigningKey{key}, AllowedAlgorithms: []identityv1.Algorithm{a.enum}}, false); len(v) > 0 {
					t.Fatalf("CheckConfig: %v", v)
				}
				p := newProvider(t, withKeys(key), withAllowed(a.enum))
				token := mint(t, a.name, "key-1", priv, claims(clock.Now()))
				wantAccepted(t)(v.Verify(bg, token, []*identityv1.IdentityProvider{p}))
				// Without a kid the provider's only key serves.
				wantAccepted(t)(v.Verify(bg, mint(t, a.name, "", priv, claims(clock.Now())), []*identityv1.IdentityProvider{p}))

				// A provider that does not allow the algorithm refuses the same token.
				other := identityv1.Algorithm_ALGORITHM_ES256
				if a.enum == other {
					other = identityv1.Algorithm_ALGORITHM_RS256
				}
				strict := newProvider(t, withKeys(key), withAllowed(other))
				_, err := v.Verify(bg, token, []*identityv1.IdentityProvider{strict})
				wantRejected(t, err, checkAlg)
			})
		}
	}
}

func TestVerifyRefusesAKeyForAnotherAlgorithm(t *testing.T) {
	clock := newFakeClock()
	v := newTestVerifier(clock, false)
	k := testKeys()
	all := []identityv1.Algorithm{
		identityv1.Algorithm_ALGORITHM_RS256, identityv1.Algorithm_ALGORITHM_PS256,
		identityv1.Algorithm_ALGORITHM_ES256, identityv1.Algorithm_ALGORITHM_ES384,
	}
	p := newProvider(t, withAllowed(all...), withKeys(
		pemKey(t, "rsa", identityv1.Algorithm_ALGORITHM_RS256, k.rsa),
		pemKey(t, "ec", identityv1.Algorithm_ALGORITHM_ES256, k.p256),
	))
	providers := []*identityv1.IdentityProvider{p}
	for _, tc := range []struct {
		name, alg, kid string
		key            any
	}{
		{"PS256 with a key configured for RS256", "PS256", "rsa", k.rsa},
		{"ES384 with a key configured for ES256", "ES384", "ec", k.p384},
		{"ES256 naming the RSA key", "ES256", "rsa", k.p256},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := v.Verify(bg, mint(t, tc.alg, tc.kid, tc.key, claims(clock.Now())), providers)
			wantRejected(t, err, checkKid)
		})
	}
}

func TestVerifyRespectsKeyValidityWindow(t *testing.T) {
	clock := newFakeClock()
	v := newTestVerifier(clock, false)
	k := testKeys()
	key := pemKey(t, "k1", identityv1.Algorithm_ALGORITHM_ES256, k.p256)
	key.NotBefore = timestamppb.New(t0.Add(time.Hour))
	key.NotAfter = timestamppb.New(t0.Add(2 * time.Hour))
	providers := []*identityv1.IdentityProvider{newProvider(t, withKeys(key))}

	_, err := v.Verify(bg, goodES256(t, clock.Now()), providers)
	wantRejected(t, err, checkKid) // before not_before

	clock.Advance(time.Hour) // exactly not_before
	wantAccepted(t)(v.Verify(bg, goodES256(t, clock.Now()), providers))

	clock.Advance(time.Hour) // exactly not_after
	wantAccepted(t)(v.Verify(bg, goodES256(t, clock.Now()), providers))

	clock.Advance(time.Second) // after not_after
	_, err = v.Verify(bg, goodES256(t, clock.Now()), providers)
	wantRejected(t, err, checkKid)
	_, err = v.Verify(bg, mint(t, "ES256", "", k.p256, claims(clock.Now())), providers)
	wantRejected(t, err, checkKid) // without a kid: no usable key at all
}

func TestVerifyAcceptsBothKeysDuringRotation(t *testing.T) {
	clock := newFakeClock()
	v := newTestVerifier(clock, false)
	k := testKeys()
	old := pemKey(t, "2025", identityv1.Algorithm_ALGORITHM_ES256, k.p256)
	old.NotAfter = timestamppb.New(t0.Add(time.Hour))
	next := jwkKey(t, "2026", identityv1.Algorithm_ALGORITHM_RS256, k.rsa)
	next.NotBefore = timestamppb.New(t0.Add(-time.Minute))
	providers := []*identityv1.IdentityProvider{newProvider(t, withKeys(old, next))}

	wantAccepted(t)(v.Verify(bg, mint(t, "ES256", "2025", k.p256, claims(clock.Now())), providers))
	wantAccepted(t)(v.Verify(bg, mint(t, "RS256", "2026", k.rsa, claims(clock.Now())), providers))
	_, err := v.Verify(bg, mint(t, "RS256", "", k.rsa, claims(clock.Now())), providers)
	wantRejected(t, err, checkKid) // two usable keys: a token must say which

	clock.Advance(time.Hour + time.Second) // the old key retires
	_, err = v.Verify(bg, mint(t, "ES256", "2025", k.p256, claims(clock.Now())), providers)
	wantRejected(t, err, checkKid)
	wantAccepted(t)(v.Verify(bg, mint(t, "RS256", "2026", k.rsa, claims(clock.Now())), providers))
	wantAccepted(t)(v.Verify(bg, mint(t, "RS256", "", k.rsa, claims(clock.Now())), providers))
}

func TestVerifyRecompilesWhenTheProviderChanges(t *testing.T) {
	clock := newFakeClock()
	v := newTestVerifier(clock, false)
	k := testKeys()
	p := newProvider(t)
	token := goodES256(t, clock.Now())
	wantAccepted(t)(v.Verify(bg, token, []*identityv1.IdentityProvider{p}))

	// The stored provider is updated: new key, new update_time and etag.
	p2 := newProvider(t, withKeys(pemKey(t, "k1", identityv1.Algorithm_ALGORITHM_ES256, k.p256b)))
	p2.Name = p.Name
	_, err := v.Verify(bg, token, []*identityv1.IdentityProvider{p2})
	wantRejected(t, err, checkSignature)

	t.Run("a provider without a revision is keyed by its content", func(t *testing.T) {
		a := newProvider(t)
		b := newProvider(t, withKeys(pemKey(t, "k1", identityv1.Algorithm_ALGORITHM_ES256, k.p256b)))
		for _, p := range []*identityv1.IdentityProvider{a, b} {
			p.Name, p.UpdateTime, p.Etag = "tenants/acme/identityProviders/unversioned", nil, ""
		}
		wantAccepted(t)(v.Verify(bg, token, []*identityv1.IdentityProvider{a}))
		_, err := v.Verify(bg, token, []*identityv1.IdentityProvider{b})
		wantRejected(t, err, checkSignature)
	})
}

func TestVerifyRejectsAKeyWhoseConfigIsBroken(t *testing.T) {
	clock := newFakeClock()
	v := newTestVerifier(clock, false)
	k := testKeys()
	for _, tc := range []struct {
		name string
		key  *identityv1.SigningKey
	}{
		{"an RSA key under 2048 bits", pemKey(t, "k1", identityv1.Algorithm_ALGORITHM_RS256, k.rsa1024)},
		{"garbage PEM", &identityv1.SigningKey{Kid: "k1", Alg: identityv1.Algorithm_ALGORITHM_ES256, Pem: "-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n"}},
		{"a P-384 key for ES256", pemKey(t, "k1", identityv1.Algorithm_ALGORITHM_ES256, k.p384)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := newProvider(t, withKeys(tc.key), withAllowed(identityv1.Algorithm_ALGORITHM_RS256, identityv1.Algorithm_ALGORITHM_ES256))
			alg := algorithmByEnum(tc.key.GetAlg()).name
			var signer any = k.p256
			if alg == "RS256" {
				signer = k.rsa1024
			}
			_, err := v.Verify(bg, mint(t, alg, "k1", signer, claims(clock.Now())), []*identityv1.IdentityProvider{p})
			re := wantRejected(t, err, checkKid)
			if !strings.Contains(re.Detail, "unusable") {
				t.Fatalf("detail %q", re.Detail)
			}
		})
	}
}

func TestVerifyJTIRules(t *testing.T) {
	clock := newFakeClock()
	v := newTestVerifier(clock, false)
	providers := []*identityv1.IdentityProvider{newProvider(t)}
	for _, tc := range []struct {
		name string
		jti  any
	}{
		{"missing", nil},
		{"a number", 12345},
		{"empty", ""},
		{"a list", []string{"a"}},
		{"longer than 256 bytes", strings.Repeat("j", 257)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := claims(clock.Now())
			if tc.jti == nil {
				delete(c, "jti")
			} else {
				c["jti"] = tc.jti
			}
			_, err := v.Verify(bg, mint(t, "ES256", "k1", testKeys().p256, c), providers)
			wantRejected(t, err, checkJTI)
		})
	}
}

func TestVerifyMapsClaims(t *testing.T) {
	clock := newFakeClock()
	v := newTestVerifier(clock, false)
	p := newProvider(t, func(p *identityv1.IdentityProvider) {
		p.Jwt.Claims = &identityv1.ClaimMapping{
			Subject: "user_id", Name: "display", Email: "mail", Groups: "roles",
			Attributes:     map[string]string{"region": "region", "accounts": "accounts", "missing": "nope"},
			RequiredClaims: []string{"org"},
		}
	})
	providers := []*identityv1.IdentityProvider{p}
	base := func() map[string]any {
		c := claims(clock.Now())
		for _, k := range []string{"sub", "name", "email", "groups"} {
			delete(c, k)
		}
		c["user_id"], c["display"], c["mail"] = "u-42", "Grace", "grace@example.com"
		c["roles"] = []string{"a", "b"}
		c["region"], c["accounts"], c["org"] = "emea", []string{"1", "2", "3"}, "acme"
		return c
	}
	got := wantAccepted(t)(v.Verify(bg, mint(t, "ES256", "k1", testKeys().p256, base()), providers))
	if got.Subject != "u-42" || got.Name != "Grace" || got.Email != "grace@example.com" ||
		strings.Join(got.Groups, "|") != "a|b" || len(got.Attributes) != 2 ||
		got.Attributes["region"] != "emea" || got.Attributes["accounts"] != "1,2,3" {
		t.Fatalf("claims = %+v", got)
	}

	for _, tc := range []struct {
		name  string
		edit  func(map[string]any)
		check string // "" means accepted
	}{
		{"name and email null are absent", func(c map[string]any) { c["display"], c["mail"] = nil, nil }, ""},
		{"no groups and no attributes", func(c map[string]any) { delete(c, "roles"); delete(c, "region"); delete(c, "accounts") }, ""},
		{"100 groups", func(c map[string]any) { c["roles"] = manyStrings(100, 3) }, ""},
		{"a required claim missing", func(c map[string]any) { delete(c, "org") }, checkRequired},
		{"a required claim null", func(c map[string]any) { c["org"] = nil }, checkRequired},
		{"the subject missing", func(c map[string]any) { delete(c, "user_id") }, checkSubject},
		{"the subject a number", func(c map[string]any) { c["user_id"] = 42 }, checkSubject},
		{"the subject empty", func(c map[string]any) { c["user_id"] = "" }, checkSubject},
		{"the subject over 256 bytes", func(c map[string]any) { c["user_id"] = strings.Repeat("u", 257) }, checkSubject},
		{"the name a number", func(c map[string]any) { c["display"] = 7 }, checkClaims},
		{"the email a list", func(c map[string]any) { c["mail"] = []string{"a@b"} }, checkClaims},
		{"groups a string", func(c map[string]any) { c["roles"] = "admins" }, checkClaims},
		{"groups with a number", func(c map[string]any) { c["roles"] = []any{"a", 1} }, checkClaims},
		{"101 groups", func(c map[string]any) { c["roles"] = manyStrings(101, 3) }, checkClaims},
		{"a group over 256 bytes", func(c map[string]any) { c["roles"] = []string{strings.Repeat("g", 257)} }, checkClaims},
		{"an empty group", func(c map[string]any) { c["roles"] = []string{""} }, checkClaims},
		{"an attribute a number", func(c map[string]any) { c["region"] = 3 }, checkClaims},
		{"an attribute an object", func(c map[string]any) { c["accounts"] = map[string]any{"a": 1} }, checkClaims},
		{"an attribute a list with a number", func(c map[string]any) { c["accounts"] = []any{"1", 2} }, checkClaims},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := base()
			tc.edit(c)
			got, err := v.Verify(bg, mint(t, "ES256", "k1", testKeys().p256, c), providers)
			if tc.check == "" {
				wantAccepted(t)(got, err)
				return
			}
			wantRejected(t, err, tc.check)
		})
	}
}

func manyStrings(n, size int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = strings.Repeat(string(rune('a'+i%26)), size) + string(rune('0'+i%10))
	}
	return out
}

func TestVerifyIsSafeForConcurrentUse(t *testing.T) {
	clock := newFakeClock()
	v := newTestVerifier(clock, false)
	k := testKeys()
	a := newProvider(t)
	b := newProvider(t, withKeys(pemKey(t, "k1", identityv1.Algorithm_ALGORITHM_ES256, k.p256b)))
	b.Name = a.Name // a second revision of the same provider, racing the first
	good := goodES256(t, clock.Now())
	forged := mint(t, "ES256", "k1", k.p256b, claims(clock.Now()))
	errs := runConcurrently(16, func() error {
		for i := range 50 {
			p := a
			if i%2 == 1 {
				p = b
			}
			_, errGood := v.Verify(bg, good, []*identityv1.IdentityProvider{p})
			_, errForged := v.Verify(bg, forged, []*identityv1.IdentityProvider{p})
			if (errGood == nil) != (p == a) || (errForged == nil) != (p == b) {
				return fmt.Errorf("revision %s: good=%v forged=%v", p.GetEtag(), errGood, errForged)
			}
			if resp := v.Test(bg, good, p); resp.GetValid() != (p == a) {
				return fmt.Errorf("Test disagrees: %s", checkNames(resp))
			}
		}
		return nil
	})
	for _, err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
}
