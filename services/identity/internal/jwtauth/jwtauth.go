// Package jwtauth verifies the JWTs an ISV's backend signs for its users against the
// identity providers a tenant trusts, and explains to the ISV why a token fails.
//
// Every token passes the same ordered checks, in Verify (which stops at the first
// failure) and in Test (which reports them all): size, format, alg, kid, signature, iss,
// aud, exp, nbf, iat, lifetime, jti, required_claims, subject and claims. Parsing is
// stricter than the JWT library's own (canonical base64url only, no duplicate JSON keys,
// no crit header, valid UTF-8), because an ambiguous token is one that two parsers may
// read differently. The signature is verified by github.com/golang-jwt/jwt/v5 with a key
// chosen by the provider's configuration, never by the token: jku, x5u, jwk and x5c
// headers are never read, so a token can make no request happen.
//
// Provider configurations are compiled once per revision (static keys parsed, defaults
// applied) and JWK Sets are cached per URI; see jwks.go for the cache and netguard.go for
// the SSRF guard of its HTTP client.
package jwtauth

import (
	"context"
	"net/http"
	"time"

	lru "github.com/hashicorp/golang-lru/v2"

	identityv1 "github.com/oriel-dev/oriel/gen/pb/oriel/identity/v1"
	"github.com/oriel-dev/oriel/platform/apierr"
)

// FieldViolation is a bad field of a JwtProvider, by its path relative to the JwtProvider.
type FieldViolation = apierr.FieldViolation

// The names of the checks, in the order they run. TokenCheck.check and RejectedError.Check
// carry them; the service and the ISV's tooling may match on them.
const (
	checkSize      = "size"
	checkFormat    = "format"
	checkAlg       = "alg"
	checkKid       = "kid"
	checkSignature = "signature"
	checkIss       = "iss"
	checkAud       = "aud"
	checkExp       = "exp"
	checkNbf       = "nbf"
	checkIat       = "iat"
	checkLifetime  = "lifetime"
	checkJTI       = "jti"
	checkRequired  = "required_claims"
	checkSubject   = "subject"
	checkClaims    = "claims"
)

// checkOrder is every check in the order Test reports them.
var checkOrder = [...]string{
	checkSize, checkFormat, checkAlg, checkKid, checkSignature, checkIss, checkAud,
	checkExp, checkNbf, checkIat, checkLifetime, checkJTI, checkRequired, checkSubject,
	checkClaims,
}

// maxTokenBytes bounds a token before anything else looks at it (TestTokenRequest's
// max_bytes says the same), so a huge token costs no decoding.
const maxTokenBytes = 8192

// compiledCacheSize bounds the compiled provider configurations kept; one entry per
// provider, replaced when its revision changes.
const compiledCacheSize = 4096

// Options configures a Verifier.
type Options struct {
	// DevMode allows http:// JWKS URIs on loopback hosts and connections to private and
	// loopback addresses, for `oriel dev`; never in production.
	DevMode bool
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// HTTPClient fetches JWK Sets; nil means the hardened default (timeouts, no proxy,
	// SSRF guard). A client given here keeps its transport, so it also replaces the SSRF
	// guard; redirects are refused and a 5 s timeout is set whatever it says.
	HTTPClient *http.Client
}

// Verifier checks ISV-signed JWTs against a tenant's identity providers; it is safe for
// concurrent use and meant to live as long as the service.
type Verifier struct {
	now      func() time.Time
	compiled *lru.Cache[string, *compiledProvider]
	jwks     *jwksCache
}

// NewVerifier returns a Verifier with its caches empty.
func NewVerifier(o Options) *Verifier {
	now := o.Now
	if now == nil {
		now = time.Now
	}
	client := o.HTTPClient
	if client == nil {
		client = hardenedClient(o.DevMode)
	} else {
		// Refusing redirects is part of what makes a fetch safe, whoever built the transport.
		c := *client
		c.CheckRedirect = refuseRedirect
		if c.Timeout == 0 || c.Timeout > fetchTimeout {
			c.Timeout = fetchTimeout
		}
		client = &c
	}
	compiled, _ := lru.New[string, *compiledProvider](compiledCacheSize) // errors only for size ≤ 0
	return &Verifier{
		now:      now,
		compiled: compiled,
		jwks:     newJWKSCache(client, o.DevMode, now),
	}
}

// Claims is what a valid token says.
type Claims struct {
	// Provider is the resource name of the provider that accepted the token.
	Provider string
	// Issuer, Subject, Name, Email and JTI are the token's iss, its mapped subject, name
	// and email claims, and its jti (which the caller must make single-use).
	Issuer, Subject, Name, Email, JTI string
	// Groups is the mapped groups claim; nil when absent.
	Groups []string
	// Attributes are the mapped session attributes; nil when none is present.
	Attributes map[string]string
	// IssuedAt and ExpiresAt are the token's iat and exp.
	IssuedAt, ExpiresAt time.Time
}

// RejectedError is every error Verify returns for a bad token.
type RejectedError struct {
	// Check is the name of the failed check, as in TestToken.
	Check string
	// Detail is one sentence safe to show the ISV: never key material, never the token.
	Detail string
}

// Error says which check failed and why.
func (e *RejectedError) Error() string {
	return "jwt rejected by check " + e.Check + ": " + e.Detail
}

func reject(check, detail string) *RejectedError {
	return &RejectedError{Check: check, Detail: detail}
}

// Verify accepts token if a provider among providers (the tenant's; disabled ones
// ignored; chosen by exact iss match) passes every check. A bad token gives a
// *RejectedError; only a done ctx gives ctx.Err() instead, because then the token was
// not judged.
func (v *Verifier) Verify(ctx context.Context, token string, providers []*identityv1.IdentityProvider) (*Claims, error) {
	if len(token) > maxTokenBytes {
		return nil, reject(checkSize, sizeDetail(len(token)))
	}
	pt, detail := parseToken(token)
	if pt == nil {
		return nil, reject(checkFormat, detail)
	}
	iss, detail := tokenIssuer(pt.payload)
	if detail != "" {
		return nil, reject(checkIss, detail)
	}
	var firstErr error
	for _, p := range providers {
		if p == nil || p.GetDisabled() || p.GetJwt() == nil || p.GetJwt().GetIssuer() != iss {
			continue
		}
		e := evaluation{v: v, cp: v.compile(p), pt: pt, now: v.now()}
		claims, err := e.run(ctx)
		if err == nil && e.first == nil {
			return claims, nil
		}
		if err != nil {
			return nil, err
		}
		// Several providers may share an issuer while an ISV migrates; the first one's
		// reason is the most predictable to report.
		if firstErr == nil {
			firstErr = e.first
		}
	}
	if firstErr != nil {
		return nil, firstErr
	}
	return nil, reject(checkIss, "no enabled identity provider of this tenant has the token's issuer")
}

// Test runs every check of token against one provider and reports each (TestToken); it
// never consults or records jti use, and it ignores provider.disabled so that a provider
// can be tried before it is enabled. Checks that depend on a failed one are SKIPPED; the
// claim checks still run after a failed alg, kid or signature, on the unverified payload,
// so the ISV sees every problem at once, but then valid is false and identity is unset.
func (v *Verifier) Test(ctx context.Context, token string, provider *identityv1.IdentityProvider) *identityv1.TestTokenResponse {
	e := evaluation{v: v, full: true, now: v.now()}
	if len(token) > maxTokenBytes {
		e.record(checkSize, false, sizeDetail(len(token)))
		e.skipRest(checkSize, "the token is too large to parse")
		return e.response(nil)
	}
	e.record(checkSize, true, "the token is within 8 KB")
	pt, detail := parseToken(token)
	if pt == nil {
		e.record(checkFormat, false, detail)
		e.skipRest(checkFormat, "the token could not be parsed")
		return e.response(nil)
	}
	e.record(checkFormat, true, "three canonical base64url parts; header and payload are JSON objects")
	e.pt = pt
	e.cp = v.compile(provider)
	claims, err := e.run(ctx)
	if err != nil {
		// Only a done context ends run early; report what is known and stop.
		e.record(checkKid, false, "the request ended before the provider's key set could be fetched")
		e.skipRest(checkKid, "the request ended")
		return e.response(nil)
	}
	return e.response(claims)
}
