package jwtauth

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

func TestTheLibraryValidatorCanOnlyMakeTheAnswerStricter(t *testing.T) {
	clock := newFakeClock()
	v := newTestVerifier(clock, false)
	p := newProvider(t)
	token := goodES256(t, clock.Now())
	// A library validator that believes it is an hour later refuses what the checks here
	// accept; the evaluation must then refuse too, in both Verify's and Test's modes.
	cp := *v.compile(p)
	cp.validator = jwt.NewValidator(jwt.WithTimeFunc(func() time.Time { return clock.Now().Add(time.Hour) }),
		jwt.WithExpirationRequired(), jwt.WithIssuedAt(), jwt.WithAudience("oriel"), jwt.WithIssuer(testIssuer))
	pt, _ := parseToken(token)
	for _, full := range []bool{false, true} {
		e := evaluation{v: v, cp: &cp, pt: pt, now: clock.Now(), full: full}
		claims, err := e.run(bg)
		if err != nil || claims != nil || e.first == nil || e.first.Check != checkExp {
			t.Fatalf("full=%v: claims %v, err %v, first %v", full, claims, err, e.first)
		}
		if full && e.response(claims).GetValid() {
			t.Fatal("Test would say valid")
		}
	}
	for err, want := range map[error]string{
		jwt.ErrTokenExpired: checkExp, jwt.ErrTokenNotValidYet: checkNbf, jwt.ErrTokenUsedBeforeIssued: checkIat,
		jwt.ErrTokenInvalidAudience: checkAud, jwt.ErrTokenInvalidIssuer: checkIss, errors.New("other"): checkClaims,
	} {
		if got := libraryCheck(err); got != want {
			t.Errorf("libraryCheck(%v) = %s, want %s", err, got, want)
		}
	}
}

func TestDetailsQuoteTokenValuesShortAndEscaped(t *testing.T) {
	for in, want := range map[string]string{
		"k1":                          `"k1"`,
		"a\nb":                        `"a\nb"`,
		strings.Repeat("x", 100):      `"` + strings.Repeat("x", 64) + `"…`,
		strings.Repeat("é", 40):       `"` + strings.Repeat("é", 32) + `"…`,
		"x" + strings.Repeat("é", 40): `"x` + strings.Repeat("é", 31) + `"…`,
	} {
		if got := quoteShort(in); got != want {
			t.Errorf("quoteShort(%q) = %s, want %s", in, got, want)
		}
	}
	re := &RejectedError{Check: checkKid, Detail: "no key"}
	if got := re.Error(); !strings.Contains(got, "kid") || !strings.Contains(got, "no key") {
		t.Errorf("Error() = %q", got)
	}
}
