package jwtauth

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/golang-jwt/jwt/v5"

	identityv1 "github.com/oriel-dev/oriel/gen/pb/oriel/identity/v1"
)

// Bounds on mapped claims: they become Redis and database values, so they are bounded
// here rather than wherever they end up.
const (
	maxSubjectBytes = 256
	maxJTIBytes     = 256
	maxGroups       = 100
	maxGroupBytes   = 256
)

// evaluation runs the checks of one token against one provider. Verify stops at the first
// failure; Test (full) records every outcome.
type evaluation struct {
	v    *Verifier
	cp   *compiledProvider
	pt   *parsedToken
	now  time.Time
	full bool

	checks []*identityv1.TokenCheck
	first  *RejectedError
	sigOK  bool
}

// record notes an outcome and says whether the evaluation must stop (Verify, on failure).
func (e *evaluation) record(check string, ok bool, detail string) (stop bool) {
	if !ok && e.first == nil {
		e.first = reject(check, detail)
	}
	if e.full {
		outcome := identityv1.TokenCheck_OUTCOME_PASSED
		if !ok {
			outcome = identityv1.TokenCheck_OUTCOME_FAILED
		}
		e.checks = append(e.checks, &identityv1.TokenCheck{Check: check, Outcome: outcome, Detail: detail})
		return false
	}
	return !ok
}

func (e *evaluation) skip(check, why string) {
	if e.full {
		e.checks = append(e.checks, &identityv1.TokenCheck{Check: check, Outcome: identityv1.TokenCheck_OUTCOME_SKIPPED, Detail: why})
	}
}

// skipRest skips every check after the named one.
func (e *evaluation) skipRest(after, why string) {
	for i, c := range checkOrder {
		if c == after {
			for _, rest := range checkOrder[i+1:] {
				e.skip(rest, why)
			}
			return
		}
	}
}

// fail marks an already recorded check as failed: the library's validator may disagree
// with a check that passed here, and then the stricter answer wins.
func (e *evaluation) fail(check, detail string) {
	if e.first == nil {
		e.first = reject(check, detail)
	}
	for _, c := range e.checks {
		if c.Check == check {
			c.Outcome, c.Detail = identityv1.TokenCheck_OUTCOME_FAILED, detail
		}
	}
}

func (e *evaluation) response(claims *Claims) *identityv1.TestTokenResponse {
	resp := &identityv1.TestTokenResponse{Valid: e.first == nil && claims != nil, Checks: e.checks}
	if e.sigOK && e.pt != nil {
		m, _ := e.cp.mapClaims(e.pt.payload)
		sub, _ := e.pt.payload[e.cp.subjectClaim].(string)
		resp.Identity = &identityv1.Identity{
			Subject: sub, DisplayName: m.name, Email: m.email, Groups: m.groups, Attributes: m.attributes,
		}
	}
	return resp
}

// run evaluates the checks from alg on. It returns an error only when ctx ended while it
// waited for a key set; a bad token is e.first.
func (e *evaluation) run(ctx context.Context) (*Claims, error) {
	a, detail := e.cp.checkAlg(e.pt.header)
	if e.record(checkAlg, a != nil, detail) {
		return nil, nil
	}
	if a == nil {
		e.skip(checkKid, "the alg check failed")
		e.skip(checkSignature, "the alg check failed")
	} else {
		key, detail, err := e.v.selectKey(ctx, e.cp, e.pt, a, e.now, e.full)
		if err != nil {
			return nil, err
		}
		if e.record(checkKid, key != nil, detail) {
			return nil, nil
		}
		if key == nil {
			e.skip(checkSignature, "no key was found")
		} else {
			e.sigOK = e.cp.verifySignature(e.pt.raw, a, key)
			detail := "the signature verifies"
			if !e.sigOK {
				detail = "the signature does not verify with the provider's key"
			}
			if e.record(checkSignature, e.sigOK, detail) {
				return nil, nil
			}
		}
	}
	return e.checkClaims(), nil
}

// checkAlg returns the token's algorithm if the provider allows it.
func (cp *compiledProvider) checkAlg(header map[string]any) (*algorithm, string) {
	v, ok := header["alg"]
	if !ok {
		return nil, "the header has no alg"
	}
	name, ok := v.(string)
	if !ok {
		return nil, "alg is not a string"
	}
	if strings.EqualFold(name, "none") {
		return nil, "unsigned tokens (alg none) are never accepted"
	}
	if strings.HasPrefix(strings.ToUpper(name), "HS") {
		return nil, "HMAC algorithms are never accepted: the ISV's backend must sign with a private key"
	}
	a := algorithmByName(name)
	if a == nil {
		return nil, "alg " + quoteShort(name) + " is not supported; use one of " + strings.Join(cp.allowedNames, ", ")
	}
	if !cp.allowed[a.enum] {
		return nil, "alg " + a.name + " is not among this provider's allowed algorithms (" + strings.Join(cp.allowedNames, ", ") + ")"
	}
	return a, a.name
}

// verifySignature verifies with golang-jwt, restricted to the provider's algorithms, with
// a key this package chose; the library re-reads the header and finds the same alg,
// because the format check refused every header two JSON parsers could read differently.
func (cp *compiledProvider) verifySignature(raw string, a *algorithm, key any) bool {
	_, err := cp.parser.ParseWithClaims(raw, &unreadClaims{}, func(t *jwt.Token) (any, error) {
		if t.Method != a.method {
			return nil, errAlgChanged
		}
		return key, nil
	})
	return err == nil
}

var errAlgChanged = errors.New("the library read another alg")

// unreadClaims makes the library skip decoding a payload this package has already
// decoded, more strictly; the claims are checked by checkClaims.
type unreadClaims struct{ jwt.RegisteredClaims }

// UnmarshalJSON ignores the payload; json.Unmarshal has already checked it is valid JSON.
func (*unreadClaims) UnmarshalJSON([]byte) error { return nil }

// selectKey finds the key the token must verify with: by exact kid among the static keys
// (within their validity), then in the provider's JWK Set; without a kid, the provider's
// only usable key. It returns the key (or a jwt.VerificationKeySet when a key set holds
// several keys with that kid) or why there is none.
//
// describe asks for a detail on success too (Test); Verify skips building it.
func (v *Verifier) selectKey(ctx context.Context, cp *compiledProvider, pt *parsedToken, a *algorithm, now time.Time, describe bool) (any, string, error) {
	kidValue, hasKid := pt.header["kid"]
	if !hasKid {
		return v.onlyKey(ctx, cp, a, now)
	}
	kid, ok := kidValue.(string)
	switch {
	case !ok:
		return nil, "kid is not a string", nil
	case kid == "":
		return nil, "kid is empty", nil
	case len(kid) > maxKidBytes:
		return nil, fmt.Sprintf("kid is longer than %d bytes", maxKidBytes), nil
	}
	for i := range cp.static {
		k := &cp.static[i]
		if k.kid != kid {
			continue
		}
		switch {
		case k.broken:
			return nil, "key " + quoteShort(kid) + " is configured but unusable; the provider's configuration has an error for it", nil
		case !k.validAt(now):
			return nil, "key " + quoteShort(kid) + " is not valid at this time (outside its not_before/not_after)", nil
		case k.alg != a:
			return nil, "key " + quoteShort(kid) + " is for " + k.alg.name + ", but the token says " + a.name, nil
		}
		return k.pub, keyDetail(describe, "static key ", kid), nil
	}
	if cp.jwksURI == "" {
		return nil, "the provider has no key with kid " + quoteShort(kid), nil
	}
	set, err := v.jwks.get(ctx, cp.jwksURI, cp.refreshInterval, kid, true)
	if set == nil {
		if ctx.Err() != nil {
			return nil, "", ctx.Err()
		}
		return nil, fetchDetail(err), nil
	}
	var keys []jwt.VerificationKey
	named := set.byKid[kid]
	for _, k := range named {
		if k.fits(a) {
			keys = append(keys, k.pub)
		}
	}
	switch {
	case len(keys) == 1:
		return keys[0], keyDetail(describe, "the key set's key ", kid), nil
	case len(keys) > 1:
		return jwt.VerificationKeySet{Keys: keys}, keyDetail(describe, "the key set's key ", kid), nil
	case len(named) > 0:
		return nil, "key " + quoteShort(kid) + " of the provider's key set cannot verify " + a.name, nil
	case err != nil:
		return nil, "the provider has no key with kid " + quoteShort(kid) + " (the key set could not be refreshed: " + safeFetchReason(err) + ")", nil
	}
	return nil, "the provider has no key with kid " + quoteShort(kid), nil
}

// keyDetail describes the key found, when asked to.
func keyDetail(describe bool, what, kid string) string {
	if !describe {
		return ""
	}
	return what + quoteShort(kid)
}

// onlyKey serves a token without a kid: allowed only when the provider has exactly one
// usable key, so a kid-less token can never pick among keys.
func (v *Verifier) onlyKey(ctx context.Context, cp *compiledProvider, a *algorithm, now time.Time) (any, string, error) {
	var (
		only   any
		fits   bool
		usable int
	)
	for i := range cp.static {
		if k := &cp.static[i]; k.usable(now) {
			usable++
			only, fits = k.pub, k.alg == a
		}
	}
	if cp.jwksURI != "" {
		set, err := v.jwks.get(ctx, cp.jwksURI, cp.refreshInterval, "", false)
		if set == nil {
			if ctx.Err() != nil {
				return nil, "", ctx.Err()
			}
			return nil, "the token has no kid, and " + fetchDetail(err), nil
		}
		for _, ks := range set.byKid {
			for _, k := range ks {
				usable++
				only, fits = k.pub, k.fits(a)
			}
		}
	}
	switch {
	case usable == 0:
		return nil, "the provider has no usable key", nil
	case usable > 1:
		return nil, fmt.Sprintf("the token has no kid; it needs one because the provider has %d usable keys", usable), nil
	case !fits:
		return nil, "the token has no kid, and the provider's only key cannot verify " + a.name, nil
	}
	return only, "the provider's only key (the token has no kid)", nil
}

// checkClaims runs the claim checks, then the library's validator as a second opinion,
// and returns the claims when everything so far passed.
func (e *evaluation) checkClaims() *Claims {
	p, cp := e.pt.payload, e.cp

	iss, detail := tokenIssuer(p)
	if detail == "" && iss != cp.issuer {
		detail = "iss " + quoteShort(iss) + " is not this provider's issuer"
	}
	if e.record(checkIss, detail == "", orPass(detail, "iss matches")) {
		return nil
	}
	detail = checkAudience(p, cp.audience)
	if e.record(checkAud, detail == "", orPass(detail, "aud includes this provider's audience")) {
		return nil
	}
	exp, expDetail := numericDateClaim(p, "exp", true)
	if expDetail == "" && !exp.after(e.now.Add(-cp.leeway)) {
		expDetail = fmt.Sprintf("the token expired (exp is %s before now, more than the %s clock tolerance)", roundSeconds(e.now.Sub(exp.t)), cp.leeway)
	}
	if e.record(checkExp, expDetail == "", orPass(expDetail, "the token has not expired")) {
		return nil
	}
	nbf, detail := numericDateClaim(p, "nbf", false)
	if detail == "" && nbf.present && !nbf.notAfter(e.now.Add(cp.leeway)) {
		detail = fmt.Sprintf("the token is not valid yet (nbf is %s after now, more than the %s clock tolerance)", roundSeconds(nbf.t.Sub(e.now)), cp.leeway)
	}
	if e.record(checkNbf, detail == "", orPass(detail, nbfPass(nbf))) {
		return nil
	}
	iat, iatDetail := numericDateClaim(p, "iat", true)
	if iatDetail == "" && !iat.notAfter(e.now.Add(cp.leeway)) {
		iatDetail = fmt.Sprintf("the token was issued in the future (iat is %s after now, more than the %s clock tolerance)", roundSeconds(iat.t.Sub(e.now)), cp.leeway)
	}
	if e.record(checkIat, iatDetail == "", orPass(iatDetail, "iat is not in the future")) {
		return nil
	}
	if !exp.present || !iat.present || exp.invalid || iat.invalid {
		e.skip(checkLifetime, "exp and iat are needed")
	} else {
		detail = lifetimeDetail(exp, iat, cp.maxLifetime)
		if e.record(checkLifetime, detail == "", orPass(detail, "exp − iat is within the provider's maximum")) {
			return nil
		}
	}
	jti, detail := checkJTIClaim(p)
	if e.record(checkJTI, detail == "", orPass(detail, "jti is present")) {
		return nil
	}
	detail = checkRequiredClaims(p, cp.required)
	if e.record(checkRequired, detail == "", orPass(detail, "every required claim is present")) {
		return nil
	}
	sub, detail := checkSubjectClaim(p, cp.subjectClaim)
	if e.record(checkSubject, detail == "", orPass(detail, "the subject claim is a valid string")) {
		return nil
	}
	m, detail := cp.mapClaims(p)
	if e.record(checkClaims, detail == "", orPass(detail, "name, email, groups and attributes are well-typed")) {
		return nil
	}
	if e.first != nil {
		return nil
	}
	// A second opinion from the library on the registered claims. It cannot accept what the
	// checks above refused (both must pass); it only ever makes the answer stricter.
	if err := cp.validator.Validate(jwt.MapClaims(p)); err != nil {
		e.fail(libraryCheck(err), "the token failed the JWT library's validation of its registered claims")
		return nil
	}
	return &Claims{
		Provider: cp.name, Issuer: iss, Subject: sub, Name: m.name, Email: m.email, JTI: jti,
		Groups: m.groups, Attributes: m.attributes, IssuedAt: iat.t, ExpiresAt: exp.t,
	}
}

func orPass(detail, pass string) string {
	if detail != "" {
		return detail
	}
	return pass
}

func nbfPass(nbf numericDate) string {
	if !nbf.present {
		return "the token has no nbf claim"
	}
	return "nbf has passed"
}

func roundSeconds(d time.Duration) time.Duration { return d.Round(time.Second) }

// libraryCheck names the check a library validation error belongs to.
func libraryCheck(err error) string {
	switch {
	case errors.Is(err, jwt.ErrTokenExpired):
		return checkExp
	case errors.Is(err, jwt.ErrTokenNotValidYet):
		return checkNbf
	case errors.Is(err, jwt.ErrTokenUsedBeforeIssued):
		return checkIat
	case errors.Is(err, jwt.ErrTokenInvalidAudience):
		return checkAud
	case errors.Is(err, jwt.ErrTokenInvalidIssuer):
		return checkIss
	}
	return checkClaims // a required registered claim missing or of the wrong type
}

func checkAudience(p map[string]any, want string) string {
	v, ok := p["aud"]
	if !ok {
		return "the token has no aud claim"
	}
	switch aud := v.(type) {
	case string:
		if aud == "" {
			return "aud is empty"
		}
		if aud != want {
			return "aud " + quoteShort(aud) + " is not this provider's audience"
		}
		return ""
	case []any:
		if len(aud) == 0 {
			return "aud is an empty array"
		}
		found := false
		for _, a := range aud {
			s, ok := a.(string)
			if !ok {
				return "aud must be a string or an array of strings"
			}
			found = found || s == want
		}
		if !found {
			return "aud does not include this provider's audience"
		}
		return ""
	}
	return "aud must be a string or an array of strings"
}

// maxNumericDate is the largest NumericDate accepted, in seconds: far beyond any real
// date, yet a millisecond timestamp still passes it and then fails the lifetime check,
// which names the mistake, and no arithmetic on it can overflow.
const maxNumericDate = 1_000_000_000_000_000

// numericDate is a NumericDate claim read exactly from its JSON number: t is its value
// cut to the nanosecond, and rest says digits beyond the nanosecond were cut.
type numericDate struct {
	t       time.Time
	rest    bool
	present bool
	invalid bool
}

// after reports whether the exact value is after th.
func (d numericDate) after(th time.Time) bool {
	return d.t.After(th) || (d.t.Equal(th) && d.rest)
}

// notAfter reports whether the exact value is at or before th.
func (d numericDate) notAfter(th time.Time) bool {
	return d.t.Before(th) || (d.t.Equal(th) && !d.rest)
}

func numericDateClaim(p map[string]any, name string, required bool) (numericDate, string) {
	v, ok := p[name]
	if !ok {
		if required {
			return numericDate{}, "the token has no " + name + " claim"
		}
		return numericDate{}, ""
	}
	n, ok := v.(json.Number)
	if !ok {
		return numericDate{present: true, invalid: true}, name + " is not a number (a NumericDate is seconds since 1970)"
	}
	d, ok := parseNumericDate(string(n))
	if !ok {
		return numericDate{present: true, invalid: true}, name + " is not a NumericDate in range (seconds since 1970)"
	}
	return d, ""
}

// parseNumericDate reads a JSON number exactly, without floating point, so that no
// rounding can move a date across a boundary and no huge value can overflow: it accepts
// values in [0, maxNumericDate] and keeps nanoseconds.
func parseNumericDate(s string) (numericDate, bool) {
	if s == "" || s[0] == '-' {
		if s == "-0" {
			return numericDate{t: time.Unix(0, 0), present: true}, true
		}
		return numericDate{}, false
	}
	mant, exp := s, 0
	if i := strings.IndexAny(s, "eE"); i >= 0 {
		mant = s[:i]
		e, err := strconv.Atoi(strings.TrimPrefix(s[i+1:], "+"))
		if err != nil || e > 40 || e < -40 {
			return numericDate{}, false
		}
		exp = e
	}
	intPart, frac, _ := strings.Cut(mant, ".")
	digits := intPart + frac
	point := len(intPart) + exp // the decimal point's position in digits
	var secDigits, nsDigits, restDigits string
	switch {
	case point <= 0:
		nsDigits = strings.Repeat("0", min(-point, 9)) + digits
	case point >= len(digits):
		secDigits = digits + strings.Repeat("0", point-len(digits))
	default:
		secDigits, nsDigits = digits[:point], digits[point:]
	}
	if len(nsDigits) > 9 {
		nsDigits, restDigits = nsDigits[:9], nsDigits[9:]
	}
	secDigits = strings.TrimLeft(secDigits, "0")
	if len(secDigits) > 16 {
		return numericDate{}, false
	}
	var sec int64
	if secDigits != "" {
		var err error
		if sec, err = strconv.ParseInt(secDigits, 10, 64); err != nil {
			return numericDate{}, false
		}
	}
	ns := int64(0)
	if nsDigits != "" {
		nsDigits += strings.Repeat("0", 9-len(nsDigits))
		ns, _ = strconv.ParseInt(nsDigits, 10, 64)
	}
	rest := strings.Trim(restDigits, "0") != ""
	if sec > maxNumericDate || (sec == maxNumericDate && (ns > 0 || rest)) {
		return numericDate{}, false
	}
	return numericDate{t: time.Unix(sec, ns), rest: rest, present: true}, true
}

// lifetimeDetail checks exp − iat against the maximum. With digits cut beyond the
// nanosecond it judges by the bound least favourable to the token.
func lifetimeDetail(exp, iat numericDate, maxLifetime time.Duration) string {
	hi := exp.t.Sub(iat.t) // saturates instead of overflowing
	if exp.rest && hi < maxLifetimeSentinel {
		hi++
	}
	lo := exp.t.Sub(iat.t)
	if iat.rest {
		lo--
	}
	if lo <= 0 {
		return "exp is not after iat"
	}
	if hi > maxLifetime {
		return fmt.Sprintf("the token lives %s (exp − iat), more than this provider's maximum of %s; are exp and iat in seconds?", roundSeconds(hi), maxLifetime)
	}
	return ""
}

const maxLifetimeSentinel = time.Duration(1<<63 - 1)

func checkJTIClaim(p map[string]any) (string, string) {
	v, ok := p["jti"]
	if !ok {
		return "", "the token has no jti claim; one is required so that each token is used once"
	}
	s, ok := v.(string)
	switch {
	case !ok:
		return "", "jti is not a string"
	case s == "":
		return "", "jti is empty"
	case len(s) > maxJTIBytes:
		return "", fmt.Sprintf("jti is longer than %d bytes", maxJTIBytes)
	}
	return s, ""
}

func checkRequiredClaims(p map[string]any, required []string) string {
	var missing []string
	for _, c := range required {
		if v, ok := p[c]; !ok || v == nil {
			missing = append(missing, strconv.Quote(c))
		}
	}
	if len(missing) > 0 {
		return "required claims are missing: " + strings.Join(missing, ", ")
	}
	return ""
}

func checkSubjectClaim(p map[string]any, claim string) (string, string) {
	v, ok := p[claim]
	if !ok {
		return "", "the subject claim " + strconv.Quote(claim) + " is missing"
	}
	s, ok := v.(string)
	switch {
	case !ok:
		return "", "the subject claim " + strconv.Quote(claim) + " is not a string"
	case s == "":
		return "", "the subject claim " + strconv.Quote(claim) + " is empty"
	case len(s) > maxSubjectBytes:
		return "", fmt.Sprintf("the subject claim %q is longer than %d bytes", claim, maxSubjectBytes)
	}
	return s, ""
}

// mappedClaims are the optional identity claims of a token.
type mappedClaims struct {
	name, email string
	groups      []string
	attributes  map[string]string
}

// mapClaims reads name, email, groups and attributes. A claim that is absent or null is
// simply absent (ISV serializers often write null for a missing email); any other wrong
// type is an error, never silently dropped. The result holds what could be read, even
// when detail reports a problem, so that Test can show it.
func (cp *compiledProvider) mapClaims(p map[string]any) (mappedClaims, string) {
	var m mappedClaims
	var problems []string
	optionalString := func(claim string) string {
		v := p[claim]
		if v == nil {
			return ""
		}
		s, ok := v.(string)
		if !ok {
			problems = append(problems, strconv.Quote(claim)+" is not a string")
		}
		return s
	}
	m.name = optionalString(cp.nameClaim)
	m.email = optionalString(cp.emailClaim)
	if v := p[cp.groupsClaim]; v != nil {
		groups, why := stringList(v)
		switch {
		case why != "":
			problems = append(problems, "the groups claim "+strconv.Quote(cp.groupsClaim)+" "+why)
		case len(groups) > maxGroups:
			problems = append(problems, fmt.Sprintf("the groups claim %q has %d entries; at most %d are accepted", cp.groupsClaim, len(groups), maxGroups))
		default:
			for _, g := range groups {
				if g == "" || len(g) > maxGroupBytes {
					problems = append(problems, fmt.Sprintf("the groups claim %q has an empty entry or one longer than %d bytes", cp.groupsClaim, maxGroupBytes))
					groups = nil
					break
				}
			}
			m.groups = groups
		}
	}
	for _, a := range cp.attributes {
		v := p[a.claim]
		if v == nil {
			continue
		}
		var value string
		if s, ok := v.(string); ok {
			value = s
		} else if list, why := stringList(v); why == "" {
			value = strings.Join(list, ",")
		} else {
			problems = append(problems, "the claim "+strconv.Quote(a.claim)+" of attribute "+a.name+" is neither a string nor a list of strings")
			continue
		}
		if m.attributes == nil {
			m.attributes = make(map[string]string, len(cp.attributes))
		}
		m.attributes[a.name] = value
	}
	if len(problems) > 0 {
		return m, strings.Join(problems, "; ")
	}
	return m, ""
}

func stringList(v any) ([]string, string) {
	list, ok := v.([]any)
	if !ok {
		return nil, "is not a list of strings"
	}
	out := make([]string, 0, len(list))
	for _, x := range list {
		s, ok := x.(string)
		if !ok {
			return nil, "is not a list of strings"
		}
		out = append(out, s)
	}
	return out, ""
}

// fetchDetail says why no key set could decide, for an ISV.
func fetchDetail(err error) string {
	return "the provider's key set could not be fetched: " + safeFetchReason(err)
}
