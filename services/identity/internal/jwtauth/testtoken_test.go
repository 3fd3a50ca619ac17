package jwtauth

import (
	"slices"
	"strings"
	"testing"
	"time"

	identityv1 "github.com/oriel-dev/oriel/gen/pb/oriel/identity/v1"
)

func TestTestTokenReportsEveryCheckByNameAndOutcome(t *testing.T) {
	clock := newFakeClock()
	v := newTestVerifier(clock, false)
	k := testKeys()
	p := newProvider(t, func(p *identityv1.IdentityProvider) {
		p.Jwt.Claims = &identityv1.ClaimMapping{Attributes: map[string]string{"region": "region"}}
	})
	const (
		P = identityv1.TokenCheck_OUTCOME_PASSED
		F = identityv1.TokenCheck_OUTCOME_FAILED
		S = identityv1.TokenCheck_OUTCOME_SKIPPED
	)
	withClaims := func(edit func(map[string]any)) string {
		c := claims(clock.Now())
		c["region"] = "emea"
		edit(c)
		return mint(t, "ES256", "k1", k.p256, c)
	}
	good := withClaims(func(map[string]any) {})
	// outcomes lists, in checkOrder, the outcome of each check.
	for _, tc := range []struct {
		name     string
		token    string
		outcomes []identityv1.TokenCheck_Outcome
		identity bool
	}{
		{"a good token", good, []identityv1.TokenCheck_Outcome{P, P, P, P, P, P, P, P, P, P, P, P, P, P, P}, true},
		{"an oversized token", strings.Repeat("a", maxTokenBytes+1), []identityv1.TokenCheck_Outcome{F, S, S, S, S, S, S, S, S, S, S, S, S, S, S}, false},
		{"a malformed token", "not.a.jwt!", []identityv1.TokenCheck_Outcome{P, F, S, S, S, S, S, S, S, S, S, S, S, S, S}, false},
		{"alg none", b64url(`{"alg":"none"}`) + "." + strings.Split(good, ".")[1] + "." + strings.Split(good, ".")[2],
			[]identityv1.TokenCheck_Outcome{P, P, F, S, S, P, P, P, P, P, P, P, P, P, P}, false},
		{"an unknown kid", mint(t, "ES256", "k2", k.p256, claims(clock.Now())),
			[]identityv1.TokenCheck_Outcome{P, P, P, F, S, P, P, P, P, P, P, P, P, P, P}, false},
		{"a bad signature, an expired token and a wrong audience", mint(t, "ES256", "k1", k.p256b, func() map[string]any {
			c := claims(clock.Now().Add(-time.Hour))
			c["aud"] = "other"
			return c
		}()), []identityv1.TokenCheck_Outcome{P, P, P, P, F, P, F, F, P, P, P, P, P, P, P}, false},
		{"no exp and no jti, signed well", withClaims(func(c map[string]any) { delete(c, "exp"); delete(c, "jti") }),
			[]identityv1.TokenCheck_Outcome{P, P, P, P, P, P, P, F, P, P, S, F, P, P, P}, true},
		{"a wrong issuer and a bad attribute, signed well", withClaims(func(c map[string]any) { c["iss"] = "https://other"; c["region"] = 5 }),
			[]identityv1.TokenCheck_Outcome{P, P, P, P, P, F, P, P, P, P, P, P, P, P, F}, true},
		{"a lifetime too long and no subject", withClaims(func(c map[string]any) {
			c["exp"] = clock.Now().Add(time.Hour).Unix()
			delete(c, "sub")
		}), []identityv1.TokenCheck_Outcome{P, P, P, P, P, P, P, P, P, P, F, P, P, F, P}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			resp := v.Test(bg, tc.token, p)
			var names []string
			for _, c := range resp.GetChecks() {
				names = append(names, c.GetCheck())
				if c.GetOutcome() != identityv1.TokenCheck_OUTCOME_PASSED && c.GetDetail() == "" {
					t.Errorf("check %s is %s without a detail", c.GetCheck(), c.GetOutcome())
				}
			}
			if !slices.Equal(names, checkOrder[:]) {
				t.Fatalf("checks = %v, want %v", names, checkOrder)
			}
			for i, c := range resp.GetChecks() {
				if c.GetOutcome() != tc.outcomes[i] {
					t.Fatalf("outcomes: %s\ncheck %s is %s, want %s (%s)", checkNames(resp), c.GetCheck(), c.GetOutcome(), tc.outcomes[i], c.GetDetail())
				}
			}
			allPassed := !slices.Contains(tc.outcomes, F) && !slices.Contains(tc.outcomes, S)
			if resp.GetValid() != allPassed {
				t.Fatalf("valid = %v, want %v", resp.GetValid(), allPassed)
			}
			if (resp.GetIdentity() != nil) != tc.identity {
				t.Fatalf("identity = %v, want one: %v", resp.GetIdentity(), tc.identity)
			}
			// Verify agrees with Test, naming the first failed check; it reads iss first,
			// since iss chooses the provider.
			got, err := v.Verify(bg, tc.token, []*identityv1.IdentityProvider{p})
			if allPassed {
				wantAccepted(t)(got, err)
				return
			}
			first := ""
			for i, o := range tc.outcomes {
				if o == F && first == "" {
					first = checkOrder[i]
				}
			}
			if i := slices.Index(checkOrder[:], checkIss); tc.outcomes[i] == F {
				first = checkIss
			}
			wantRejected(t, err, first)
		})
	}
}

func TestTestTokenIgnoresDisabledAndNeverConsumesTheToken(t *testing.T) {
	clock := newFakeClock()
	v := newTestVerifier(clock, false)
	p := newProvider(t, func(p *identityv1.IdentityProvider) { p.Disabled = true })
	token := goodES256(t, clock.Now())
	for range 3 {
		if resp := v.Test(bg, token, p); !resp.GetValid() {
			t.Fatalf("Test: %s", checkNames(resp))
		}
	}
	p.Disabled = false
	wantAccepted(t)(v.Verify(bg, token, []*identityv1.IdentityProvider{p}))
	if resp := v.Test(bg, token, p); !resp.GetValid() {
		t.Fatalf("Test after Verify: %s", checkNames(resp))
	}
}

func TestTestTokenFillsIdentityOnlyWithAValidSignature(t *testing.T) {
	clock := newFakeClock()
	v := newTestVerifier(clock, false)
	p := newProvider(t)
	resp := v.Test(bg, goodES256(t, clock.Now()), p)
	id := resp.GetIdentity()
	if id.GetSubject() != "user-1" || id.GetDisplayName() != "Ada Lovelace" || id.GetEmail() != "ada@example.com" || len(id.GetGroups()) != 2 {
		t.Fatalf("identity = %v", id)
	}
	forged := mint(t, "ES256", "k1", testKeys().p256b, claims(clock.Now()))
	if resp := v.Test(bg, forged, p); resp.GetIdentity() != nil || resp.GetValid() {
		t.Fatalf("a forged token got identity %v, valid %v", resp.GetIdentity(), resp.GetValid())
	}
}

func TestTestTokenWithoutAProviderConfigDoesNotPanic(t *testing.T) {
	clock := newFakeClock()
	v := newTestVerifier(clock, false)
	for _, p := range []*identityv1.IdentityProvider{nil, {}, {Jwt: &identityv1.JwtProvider{}}} {
		if resp := v.Test(bg, goodES256(t, clock.Now()), p); resp.GetValid() || len(resp.GetChecks()) != len(checkOrder) {
			t.Fatalf("Test = %s", checkNames(resp))
		}
	}
	if _, err := v.Verify(bg, goodES256(t, clock.Now()), []*identityv1.IdentityProvider{nil, {}, {Jwt: &identityv1.JwtProvider{}}}); err == nil {
		t.Fatal("accepted with empty providers")
	}
}
