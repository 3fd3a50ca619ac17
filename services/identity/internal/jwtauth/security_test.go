package jwtauth

import (
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"net"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"google.golang.org/protobuf/types/known/durationpb"

	identityv1 "github.com/oriel-dev/oriel/gen/pb/oriel/identity/v1"
)

func TestVerifyAcceptsAGoodToken(t *testing.T) {
	clock := newFakeClock()
	v := newTestVerifier(clock, false)
	p := newProvider(t)
	c := wantAccepted(t)(v.Verify(bg, goodES256(t, clock.Now()), []*identityv1.IdentityProvider{p}))
	if c.Provider != p.GetName() || c.Issuer != testIssuer || c.Subject != "user-1" || c.Name != "Ada Lovelace" ||
		c.Email != "ada@example.com" || len(c.Groups) != 2 || c.JTI == "" ||
		!c.IssuedAt.Equal(clock.Now()) || !c.ExpiresAt.Equal(clock.Now().Add(5*time.Minute)) {
		t.Fatalf("claims = %+v", c)
	}
}

func TestVerifyRejectsUnsignedTokensAndEmptySignatures(t *testing.T) {
	clock := newFakeClock()
	v := newTestVerifier(clock, false)
	providers := []*identityv1.IdentityProvider{newProvider(t)}
	payload := mustJSON(t, claims(clock.Now()))
	unsigned := func(alg, sig string) string {
		return b64url(`{"alg":"`+alg+`","kid":"k1"}`) + "." + b64url(payload) + "." + sig
	}
	good := goodES256(t, clock.Now())
	goodSig := good[strings.LastIndexByte(good, '.')+1:]
	for _, tc := range []struct {
		name, token, check string
	}{
		{"alg none without signature", unsigned("none", ""), checkFormat},
		{"alg None without signature", unsigned("None", ""), checkFormat},
		{"alg NONE without signature", unsigned("NONE", ""), checkFormat},
		{"alg none with a signature", unsigned("none", goodSig), checkAlg},
		{"alg None with a signature", unsigned("None", goodSig), checkAlg},
		{"alg NONE with a signature", unsigned("NONE", goodSig), checkAlg},
		{"alg nOnE with a signature", unsigned("nOnE", goodSig), checkAlg},
		{"ES256 with an empty signature", good[:strings.LastIndexByte(good, '.')+1], checkFormat},
		{"no alg at all", b64url(`{"kid":"k1"}`) + "." + b64url(payload) + "." + goodSig, checkAlg},
		{"alg as a number", b64url(`{"alg":256,"kid":"k1"}`) + "." + b64url(payload) + "." + goodSig, checkAlg},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := v.Verify(bg, tc.token, providers)
			wantRejected(t, err, tc.check)
		})
	}
}

func TestVerifyRejectsHS256SignedWithTheRSAPublicKeyAsSecret(t *testing.T) {
	clock := newFakeClock()
	v := newTestVerifier(clock, false)
	k := testKeys()
	pemText := pemOf(t, k.rsa.Public())
	der, err := x509.MarshalPKIXPublicKey(k.rsa.Public())
	if err != nil {
		t.Fatal(err)
	}
	every := []identityv1.Algorithm{}
	for _, a := range algorithms {
		every = append(every, a.enum)
	}
	p := newProvider(t,
		withKeys(&identityv1.SigningKey{Kid: "rsa", Alg: identityv1.Algorithm_ALGORITHM_RS256, Pem: pemText}),
		withAllowed(every...))
	for _, tc := range []struct {
		name, alg, kid string
		secret         []byte
	}{
		{"HS256 with the PEM bytes", "HS256", "rsa", []byte(pemText)},
		{"HS256 with the PEM bytes, no kid", "HS256", "", []byte(pemText)},
		{"HS256 with the DER bytes", "HS256", "rsa", der},
		{"HS384 with the PEM bytes", "HS384", "rsa", []byte(pemText)},
		{"HS512 with the PEM bytes", "HS512", "rsa", []byte(pemText)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			token := mint(t, tc.alg, tc.kid, tc.secret, claims(clock.Now()))
			_, err := v.Verify(bg, token, []*identityv1.IdentityProvider{p})
			wantRejected(t, err, checkAlg)
		})
	}
	// The same claims signed properly pass, so the rejections above are the alg's doing.
	wantAccepted(t)(v.Verify(bg, mint(t, "RS256", "rsa", k.rsa, claims(clock.Now())), []*identityv1.IdentityProvider{p}))
}

func TestVerifyRejectsHostileKidValuesWithoutActingOnThem(t *testing.T) {
	clock := newFakeClock()
	v := newTestVerifier(clock, false)
	// A listener the URL kid points at: it must never see a connection.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	cl := &countingListener{Listener: ln}
	go func() {
		for {
			c, err := cl.Accept()
			if err != nil {
				return
			}
			c.Close()
		}
	}()
	t.Cleanup(func() { ln.Close() })

	providers := []*identityv1.IdentityProvider{newProvider(t)}
	for _, tc := range []struct {
		name  string
		kid   any
		check string
	}{
		{"a path", "../../etc/passwd", checkKid},
		{"an absolute path", "/dev/zero", checkKid},
		{"SQL", "' OR 1=1 --", checkKid},
		{"a URL", "http://" + ln.Addr().String() + "/key.pem", checkKid},
		{"a NUL byte and a newline", "k1\x00\nforged log line", checkKid},
		{"300 bytes", strings.Repeat("k", 300), checkKid},
		{"10 KB of text", strings.Repeat("a", 10<<10), checkSize},
		{"a number", 1, checkKid},
		{"a list", []string{"k1"}, checkKid},
		{"an object", map[string]string{"kid": "k1"}, checkKid},
		{"null", nil, checkKid},
		{"an empty string", "", checkKid},
		{"the right kid in another case", "K1", checkKid},
	} {
		t.Run(tc.name, func(t *testing.T) {
			header := mustJSON(t, map[string]any{"alg": "ES256", "kid": tc.kid})
			token := signRaw(t, "ES256", testKeys().p256, header, mustJSON(t, claims(clock.Now())))
			_, err := v.Verify(bg, token, providers)
			re := wantRejected(t, err, tc.check)
			if len(re.Detail) > 200 {
				t.Fatalf("detail is %d bytes; a hostile kid must not be echoed whole", len(re.Detail))
			}
			if strings.ContainsAny(re.Detail, "\x00\n") {
				t.Fatalf("detail %q carries control characters from the token", re.Detail)
			}
		})
	}
	if n := cl.conns.Load(); n != 0 {
		t.Fatalf("the listener a kid pointed at saw %d connections, want 0", n)
	}
}

func TestVerifyIgnoresKeyURLHeadersAndMakesNoRequest(t *testing.T) {
	clock := newFakeClock()
	srv, conns := newCountingServer(t, http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		// Would hand out the attacker's key, if anyone asked.
		_, _ = w.Write([]byte(`{"keys":[` + jwkOf(t, testKeys().p256b.Public(), "k1", "ES256") + `]}`))
	}), false)
	// Dev mode, so that even the loopback listener would be reachable if anything followed
	// these headers.
	v := newTestVerifier(clock, true)
	providers := []*identityv1.IdentityProvider{newProvider(t)}
	attackerJWK := json.RawMessage(jwkOf(t, testKeys().p256b.Public(), "k1", "ES256"))
	headers := map[string]map[string]any{
		"jku": {"jku": srv.URL + "/jwks.json"},
		"x5u": {"x5u": srv.URL + "/cert.pem"},
		"jwk": {"jwk": attackerJWK},
		"x5c": {"x5c": []string{base64.StdEncoding.EncodeToString([]byte("not a certificate")), srv.URL}},
		"all four": {
			"jku": srv.URL + "/jwks.json", "x5u": srv.URL + "/cert.pem", "jwk": attackerJWK,
			"x5c": []string{srv.URL},
		},
	}
	for name, extra := range headers {
		t.Run(name+" on a token signed by the attacker is rejected", func(t *testing.T) {
			token := mint(t, "ES256", "k1", testKeys().p256b, claims(clock.Now()), extra)
			_, err := v.Verify(bg, token, providers)
			wantRejected(t, err, checkSignature)
			resp := v.Test(bg, token, providers[0])
			if resp.GetValid() {
				t.Fatal("Test says valid")
			}
		})
		t.Run(name+" without a kid on a token signed by the attacker is rejected", func(t *testing.T) {
			token := mint(t, "ES256", "", testKeys().p256b, claims(clock.Now()), extra)
			_, err := v.Verify(bg, token, providers)
			wantRejected(t, err, checkSignature)
		})
		t.Run(name+" on a token signed by the provider's key is ignored", func(t *testing.T) {
			token := mint(t, "ES256", "k1", testKeys().p256, claims(clock.Now()), extra)
			wantAccepted(t)(v.Verify(bg, token, providers))
		})
	}
	if n := conns.conns.Load(); n != 0 {
		t.Fatalf("the listener the headers pointed at saw %d connections, want 0", n)
	}
}

func TestVerifyRequiresExpAndIat(t *testing.T) {
	clock := newFakeClock()
	v := newTestVerifier(clock, false)
	providers := []*identityv1.IdentityProvider{newProvider(t)}
	for _, tc := range []struct {
		name  string
		edit  func(map[string]any)
		check string
	}{
		{"missing exp", func(c map[string]any) { delete(c, "exp") }, checkExp},
		{"missing iat", func(c map[string]any) { delete(c, "iat") }, checkIat},
		{"exp as a string", func(c map[string]any) { c["exp"] = "1800000300" }, checkExp},
		{"iat as a string", func(c map[string]any) { c["iat"] = "1800000000" }, checkIat},
		{"exp null", func(c map[string]any) { c["exp"] = nil }, checkExp},
		{"nbf null", func(c map[string]any) { c["nbf"] = nil }, checkNbf},
		{"nbf as a bool", func(c map[string]any) { c["nbf"] = true }, checkNbf},
		{"exp zero", func(c map[string]any) { c["exp"] = 0 }, checkExp},
		{"exp negative", func(c map[string]any) { c["exp"] = -1 }, checkExp},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := claims(clock.Now())
			tc.edit(c)
			_, err := v.Verify(bg, mint(t, "ES256", "k1", testKeys().p256, c), providers)
			wantRejected(t, err, tc.check)
		})
	}
}

func TestVerifyBoundsTokenLifetime(t *testing.T) {
	clock := newFakeClock()
	v := newTestVerifier(clock, false)
	providers := []*identityv1.IdentityProvider{newProvider(t)}
	now := clock.Now().Unix()
	raw := func(exp, iat string) string {
		payload := `{"iss":"` + testIssuer + `","aud":"oriel","sub":"u","jti":"j","exp":` + exp + `,"iat":` + iat + `}`
		return signRaw(t, "ES256", testKeys().p256, `{"alg":"ES256","kid":"k1"}`, payload)
	}
	itoa := func(n int64) string { return strconv.FormatInt(n, 10) }
	for _, tc := range []struct {
		name, exp, iat string
		check          string // "" means accepted
	}{
		{"exactly the 10 minute default", itoa(now + 600), itoa(now), ""},
		{"one second over the default", itoa(now + 601), itoa(now), checkLifetime},
		{"a nanosecond over the default", itoa(now+600) + ".000000001", itoa(now), checkLifetime},
		{"digits beyond the nanosecond over the default", itoa(now+600) + ".0000000001", itoa(now), checkLifetime},
		{"exp in milliseconds", itoa((now + 300) * 1000), itoa(now), checkLifetime},
		{"exp and iat in milliseconds", itoa((now + 300) * 1000), itoa(now * 1000), checkIat},
		{"exp in microseconds", itoa((now + 300) * 1000_000), itoa(now), checkExp},
		{"exp as a float in milliseconds", "1.8000003e12", itoa(now), checkLifetime},
		{"exp beyond int64", "9223372036854775808", itoa(now), checkExp},
		{"exp beyond float64", "1e400", itoa(now), checkExp},
		{"exp with a huge exponent", "1e999999999", itoa(now), checkExp},
		{"exp with a tiny exponent", "1e-999999999", itoa(now), checkExp},
		{"iat hugely negative", itoa(now + 300), "-9223372036854775808", checkIat},
		{"iat zero", itoa(now + 300), "0", checkLifetime},
		{"exp before iat", itoa(now + 10), itoa(now + 20), checkLifetime},
		{"exp equal to iat", itoa(now + 20), itoa(now + 20), checkLifetime},
		{"exponent notation within limits", "1.8000003e9", "1.8e9", ""},
		{"fractional seconds within limits", itoa(now+300) + ".5", itoa(now) + ".25", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, err := v.Verify(bg, raw(tc.exp, tc.iat), providers)
			if tc.check == "" {
				wantAccepted(t)(c, err)
				return
			}
			wantRejected(t, err, tc.check)
		})
	}
	t.Run("a provider's own maximum", func(t *testing.T) {
		p := newProvider(t, func(p *identityv1.IdentityProvider) { p.Jwt.MaxTokenLifetime = durationpb.New(time.Hour) })
		ps := []*identityv1.IdentityProvider{p}
		wantAccepted(t)(v.Verify(bg, raw(itoa(now+3600), itoa(now)), ps))
		_, err := v.Verify(bg, raw(itoa(now+3601), itoa(now)), ps)
		wantRejected(t, err, checkLifetime)
	})
	t.Run("a maximum over an hour is clamped to an hour", func(t *testing.T) {
		p := newProvider(t, func(p *identityv1.IdentityProvider) { p.Jwt.MaxTokenLifetime = durationpb.New(48 * time.Hour) })
		_, err := v.Verify(bg, raw(itoa(now+3601), itoa(now)), []*identityv1.IdentityProvider{p})
		wantRejected(t, err, checkLifetime)
	})
}

func TestVerifyClockToleranceBoundaries(t *testing.T) {
	for _, leeway := range []time.Duration{30 * time.Second, 60 * time.Second, 0} {
		for _, tc := range []struct {
			name   string
			edit   func(c map[string]any, now time.Time)
			accept bool
		}{
			{"nbf leeway-1s in the future", func(c map[string]any, now time.Time) { c["nbf"] = now.Add(leeway - time.Second).Unix() }, true},
			{"nbf exactly leeway in the future", func(c map[string]any, now time.Time) { c["nbf"] = now.Add(leeway).Unix() }, true},
			{"nbf leeway+1s in the future", func(c map[string]any, now time.Time) { c["nbf"] = now.Add(leeway + time.Second).Unix() }, false},
			{"iat leeway-1s in the future", func(c map[string]any, now time.Time) { c["iat"] = now.Add(leeway - time.Second).Unix() }, true},
			{"iat exactly leeway in the future", func(c map[string]any, now time.Time) { c["iat"] = now.Add(leeway).Unix() }, true},
			{"iat leeway+1s in the future", func(c map[string]any, now time.Time) { c["iat"] = now.Add(leeway + time.Second).Unix() }, false},
			// exp is accepted while now < exp + leeway (RFC 7519 §4.1.4: the current time
			// must be before exp), so exp exactly leeway in the past is already refused.
			{"exp leeway-1s in the past", func(c map[string]any, now time.Time) {
				c["exp"], c["iat"] = now.Add(-leeway+time.Second).Unix(), now.Add(-5*time.Minute).Unix()
			}, true},
			{"exp exactly leeway in the past", func(c map[string]any, now time.Time) {
				c["exp"], c["iat"] = now.Add(-leeway).Unix(), now.Add(-5*time.Minute).Unix()
			}, false},
			{"exp leeway+1s in the past", func(c map[string]any, now time.Time) {
				c["exp"], c["iat"] = now.Add(-leeway-time.Second).Unix(), now.Add(-5*time.Minute).Unix()
			}, false},
		} {
			t.Run(leeway.String()+"/"+tc.name, func(t *testing.T) {
				clock := newFakeClock()
				v := newTestVerifier(clock, false)
				p := newProvider(t, withClockTolerance(leeway))
				if leeway == 30*time.Second {
					p.Jwt.ClockTolerance = nil // the default
				}
				c := claims(clock.Now())
				tc.edit(c, clock.Now())
				if c["exp"].(int64) <= c["iat"].(int64) {
					c["exp"] = c["iat"].(int64) + 60
				}
				got, err := v.Verify(bg, mint(t, "ES256", "k1", testKeys().p256, c), []*identityv1.IdentityProvider{p})
				if tc.accept {
					wantAccepted(t)(got, err)
					return
				}
				want := strings.Fields(tc.name)[0]
				wantRejected(t, err, want)
			})
		}
	}
	t.Run("a tolerance over 60s is clamped to 60s", func(t *testing.T) {
		clock := newFakeClock()
		v := newTestVerifier(clock, false)
		p := newProvider(t, withClockTolerance(10*time.Minute))
		c := claims(clock.Now())
		c["nbf"] = clock.Now().Add(61 * time.Second).Unix()
		_, err := v.Verify(bg, mint(t, "ES256", "k1", testKeys().p256, c), []*identityv1.IdentityProvider{p})
		wantRejected(t, err, checkNbf)
	})
}

func TestVerifyRejectsWrongIssuer(t *testing.T) {
	clock := newFakeClock()
	v := newTestVerifier(clock, false)
	providers := []*identityv1.IdentityProvider{newProvider(t)}
	for _, tc := range []struct {
		name string
		iss  any
	}{
		{"another issuer", "https://evil.example.com"},
		{"a trailing slash", testIssuer + "/"},
		{"another case", strings.ToUpper(testIssuer)},
		{"missing", nil},
		{"empty", ""},
		{"a number", 42},
		{"a list holding the issuer", []string{testIssuer}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := claims(clock.Now())
			if tc.iss == nil {
				delete(c, "iss")
			} else {
				c["iss"] = tc.iss
			}
			_, err := v.Verify(bg, mint(t, "ES256", "k1", testKeys().p256, c), providers)
			wantRejected(t, err, checkIss)
		})
	}
}

func TestVerifyRejectsTokenOfTenantAPresentedToTenantB(t *testing.T) {
	clock := newFakeClock()
	v := newTestVerifier(clock, false)
	k := testKeys()
	tenantA := newProvider(t, func(p *identityv1.IdentityProvider) {
		p.Name = "tenants/a/identityProviders/sso"
		p.Jwt.Issuer = "https://a.example.com"
	})
	tenantB := newProvider(t, func(p *identityv1.IdentityProvider) {
		p.Name = "tenants/b/identityProviders/sso"
		p.Jwt.Issuer = "https://b.example.com"
		p.Jwt.Keys = []*identityv1.SigningKey{pemKey(t, "k1", identityv1.Algorithm_ALGORITHM_ES256, k.p256b)}
	})
	c := claims(clock.Now())
	c["iss"] = "https://a.example.com"
	token := mint(t, "ES256", "k1", k.p256, c)
	wantAccepted(t)(v.Verify(bg, token, []*identityv1.IdentityProvider{tenantA}))
	_, err := v.Verify(bg, token, []*identityv1.IdentityProvider{tenantB})
	wantRejected(t, err, checkIss)

	t.Run("even when both tenants configured the same issuer", func(t *testing.T) {
		sameIssuer := newProvider(t, func(p *identityv1.IdentityProvider) {
			p.Name = "tenants/b/identityProviders/copy"
			p.Jwt.Issuer = "https://a.example.com"
			p.Jwt.Keys = []*identityv1.SigningKey{pemKey(t, "k1", identityv1.Algorithm_ALGORITHM_ES256, k.p256b)}
		})
		_, err := v.Verify(bg, token, []*identityv1.IdentityProvider{sameIssuer})
		wantRejected(t, err, checkSignature)
	})
	t.Run("and a disabled provider accepts nothing", func(t *testing.T) {
		disabled := newProvider(t, func(p *identityv1.IdentityProvider) {
			p.Name = "tenants/a/identityProviders/off"
			p.Jwt.Issuer = "https://a.example.com"
			p.Disabled = true
		})
		_, err := v.Verify(bg, token, []*identityv1.IdentityProvider{disabled})
		wantRejected(t, err, checkIss)
	})
	t.Run("and no providers at all accept nothing", func(t *testing.T) {
		_, err := v.Verify(bg, token, nil)
		wantRejected(t, err, checkIss)
	})
}

func TestVerifyAudience(t *testing.T) {
	clock := newFakeClock()
	v := newTestVerifier(clock, false)
	providers := []*identityv1.IdentityProvider{newProvider(t)}
	custom := []*identityv1.IdentityProvider{newProvider(t, func(p *identityv1.IdentityProvider) { p.Jwt.Audience = "analytics" })}
	for _, tc := range []struct {
		name      string
		aud       any
		providers []*identityv1.IdentityProvider
		accept    bool
	}{
		{"the default audience", "oriel", providers, true},
		{"an array containing it", []string{"other", "oriel"}, providers, true},
		{"an array of just it", []string{"oriel"}, providers, true},
		{"a wrong string", "other", providers, false},
		{"an empty string", "", providers, false},
		{"missing", nil, providers, false},
		{"an empty array", []string{}, providers, false},
		{"an array not containing it", []string{"other", "Oriel"}, providers, false},
		{"an array with a non-string", []any{"oriel", 1}, providers, false},
		{"a number", 1, providers, false},
		{"an object", map[string]string{"aud": "oriel"}, providers, false},
		{"the default where a custom one is set", "oriel", custom, false},
		{"the custom audience", "analytics", custom, true},
		{"an array containing the custom audience", []string{"analytics"}, custom, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := claims(clock.Now())
			if tc.aud == nil {
				delete(c, "aud")
			} else {
				c["aud"] = tc.aud
			}
			got, err := v.Verify(bg, mint(t, "ES256", "k1", testKeys().p256, c), tc.providers)
			if tc.accept {
				wantAccepted(t)(got, err)
				return
			}
			wantRejected(t, err, checkAud)
		})
	}
}

func TestVerifyRejectsOversizedTokenBeforeParsing(t *testing.T) {
	clock := newFakeClock()
	jwks := newJWKSServer(t, publicJWK(testKeys().p256, "k1", "ES256"))
	v := newTestVerifier(clock, true)
	providers := []*identityv1.IdentityProvider{newProvider(t, withKeys(), withJWKS(jwks.uri()))}

	// pad returns a good token of exactly n bytes, padding a claim and a header field
	// (base64 lengths move in steps of one or two, so both are needed).
	pad := func(n int) string {
		c := claims(clock.Now())
		for hpad := range 4 {
			extra := map[string]any{"x": strings.Repeat("h", hpad)}
			c["pad"] = ""
			base := len(mint(t, "ES256", "k1", testKeys().p256, c, extra))
			for p := max(0, (n-base)*3/4-4); p <= (n-base)*3/4+4; p++ {
				c["pad"] = strings.Repeat("x", p)
				if tok := mint(t, "ES256", "k1", testKeys().p256, c, extra); len(tok) == n {
					return tok
				}
			}
		}
		t.Fatalf("could not make a token of %d bytes", n)
		return ""
	}
	over := pad(maxTokenBytes + 1)
	if len(over) <= maxTokenBytes {
		t.Fatalf("test token is %d bytes", len(over))
	}
	_, err := v.Verify(bg, over, providers)
	wantRejected(t, err, checkSize)
	_, err = v.Verify(bg, strings.Repeat("!", 1<<20), providers) // not even a JWT
	wantRejected(t, err, checkSize)
	if resp := v.Test(bg, over, providers[0]); resp.GetChecks()[0].GetOutcome() != identityv1.TokenCheck_OUTCOME_FAILED {
		t.Fatalf("Test: %s", checkNames(resp))
	}
	if n := jwks.conns.conns.Load(); n != 0 {
		t.Fatalf("the key set endpoint saw %d connections for an oversized token, want 0", n)
	}
	t.Run("a token of exactly 8192 bytes is judged on its merits", func(t *testing.T) {
		wantAccepted(t)(v.Verify(bg, pad(maxTokenBytes), providers))
	})
}

func TestVerifyRejectsDuplicateKeys(t *testing.T) {
	clock := newFakeClock()
	v := newTestVerifier(clock, false)
	providers := []*identityv1.IdentityProvider{newProvider(t)}
	good := mustJSON(t, claims(clock.Now()))
	body := good[1 : len(good)-1] // the members, to splice duplicates into
	const header = `{"alg":"ES256","kid":"k1"}`
	for _, tc := range []struct{ name, header, payload string }{
		{"sub twice in the payload", header, `{` + body + `,"sub":"admin"}`},
		{"iss twice in the payload", header, `{"iss":"https://evil.example.com",` + body + `}`},
		{"a key spelled with an escape", header, `{` + body + `,"\u0073ub":"admin"}`},
		{"a nested duplicate", header, `{` + body + `,"ext":{"a":1,"a":2}}`},
		{"alg twice in the header", `{"alg":"none","alg":"ES256","kid":"k1"}`, good},
		{"kid twice in the header", `{"alg":"ES256","kid":"other","kid":"k1"}`, good},
	} {
		t.Run(tc.name, func(t *testing.T) {
			token := signRaw(t, "ES256", testKeys().p256, tc.header, tc.payload)
			_, err := v.Verify(bg, token, providers)
			re := wantRejected(t, err, checkFormat)
			if !strings.Contains(re.Detail, "twice") {
				t.Fatalf("detail %q does not name the duplicate", re.Detail)
			}
		})
	}
}

func TestVerifyRejectsMalformedParts(t *testing.T) {
	clock := newFakeClock()
	v := newTestVerifier(clock, false)
	providers := []*identityv1.IdentityProvider{newProvider(t)}
	// A good token whose header and payload lengths are not multiples of 4, so that each
	// part's last character has unused bits to set.
	var good string
	for i := 0; ; i++ {
		c := claims(clock.Now())
		c["pad"] = strings.Repeat("x", i%4)
		good = mint(t, "ES256", "k1", testKeys().p256, c, map[string]any{"x": strings.Repeat("h", i/4)})
		p := strings.Split(good, ".")
		if len(p[0])%4 != 0 && len(p[1])%4 != 0 {
			break
		}
	}
	wantAccepted(t)(v.Verify(bg, good, providers))
	parts := strings.Split(good, ".")
	// withPart replaces part i of the good token.
	withPart := func(i int, s string) string {
		p := append([]string(nil), parts...)
		p[i] = s
		return strings.Join(p, ".")
	}
	// setTrailingBits flips unused low bits of the last character, which decodes to the
	// same bytes under a lenient decoder.
	setTrailingBits := func(s string) string {
		const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
		if len(s)%4 == 0 {
			return ""
		}
		last := strings.IndexByte(alphabet, s[len(s)-1])
		return s[:len(s)-1] + string(alphabet[last|1])
	}
	type tc struct{ name, token string }
	var cases []tc
	for i, name := range []string{"header", "payload", "signature"} {
		if s := setTrailingBits(parts[i]); s != "" {
			cases = append(cases, tc{name + " with trailing bits set", withPart(i, s)})
		}
		cases = append(cases,
			tc{name + " padded with =", withPart(i, parts[i]+strings.Repeat("=", (4-len(parts[i])%4)%4+4*boolInt(len(parts[i])%4 == 0)))},
			tc{name + " with a newline inside", withPart(i, parts[i][:4]+"\n"+parts[i][4:])},
			tc{name + " with a space inside", withPart(i, parts[i][:4]+" "+parts[i][4:])},
			tc{name + " in the standard alphabet", withPart(i, strings.NewReplacer("-", "+", "_", "/").Replace(parts[i])+"+")},
			tc{name + " empty", withPart(i, "")},
			tc{name + " of impossible length", withPart(i, parts[i]+"A"+strings.Repeat("A", (4-len(parts[i])%4)%4))},
		)
	}
	sigOf := func(h, p string) string {
		return signRaw(t, "ES256", testKeys().p256, h, p)
	}
	payload := mustJSON(t, claims(clock.Now()))
	cases = append(cases,
		tc{"two parts", parts[0] + "." + parts[1]},
		tc{"four parts", good + "." + parts[2]},
		tc{"a JWE-like five parts", good + ".a.b"},
		tc{"a header that is a JSON array", sigOf(`["alg","ES256"]`, payload)},
		tc{"a header that is not JSON", sigOf(`alg=ES256`, payload)},
		tc{"a payload that is a JSON string", sigOf(`{"alg":"ES256","kid":"k1"}`, `"sub"`)},
		tc{"a payload with trailing data", sigOf(`{"alg":"ES256","kid":"k1"}`, payload+`{}`)},
		tc{"a payload with invalid UTF-8", sigOf(`{"alg":"ES256","kid":"k1"}`, strings.Replace(payload, "Ada", "A\xffa", 1))},
		tc{"a header with crit", sigOf(`{"alg":"ES256","kid":"k1","crit":["exp"],"exp":1}`, payload)},
		tc{"a header with an empty crit", sigOf(`{"alg":"ES256","kid":"k1","crit":[]}`, payload)},
		tc{"a payload nested 40 deep", sigOf(`{"alg":"ES256","kid":"k1"}`, payload[:len(payload)-1]+`,"x":`+strings.Repeat("[", 40)+strings.Repeat("]", 40)+`}`)},
		tc{"a payload nested 2500 deep", sigOf(`{"alg":"ES256","kid":"k1"}`, payload[:len(payload)-1]+`,"x":`+strings.Repeat("[", 2500)+strings.Repeat("]", 2500)+`}`)},
		tc{"a payload of 2000 values", sigOf(`{"alg":"ES256","kid":"k1"}`, payload[:len(payload)-1]+`,"x":[`+strings.Repeat("0,", 2000)+`0]}`)},
	)
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := v.Verify(bg, c.token, providers)
			wantRejected(t, err, checkFormat)
		})
	}
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}

func TestVerifyRejectsSignatureByAnotherKeyWithTheSameKid(t *testing.T) {
	clock := newFakeClock()
	v := newTestVerifier(clock, false)
	k := testKeys()
	p := newProvider(t)
	pr := newProvider(t, withKeys(pemKey(t, "r1", identityv1.Algorithm_ALGORITHM_RS256, k.rsa)))
	t.Run("ES256", func(t *testing.T) {
		_, err := v.Verify(bg, mint(t, "ES256", "k1", k.p256b, claims(clock.Now())), []*identityv1.IdentityProvider{p})
		wantRejected(t, err, checkSignature)
	})
	t.Run("RS256", func(t *testing.T) {
		_, err := v.Verify(bg, mint(t, "RS256", "r1", k.rsa2, claims(clock.Now())), []*identityv1.IdentityProvider{pr})
		wantRejected(t, err, checkSignature)
	})
	t.Run("a signature of other claims by the right key", func(t *testing.T) {
		a := strings.Split(goodES256(t, clock.Now()), ".")
		c := claims(clock.Now())
		c["sub"] = "admin"
		b := strings.Split(mint(t, "ES256", "k1", k.p256, c), ".")
		_, err := v.Verify(bg, a[0]+"."+b[1]+"."+a[2], []*identityv1.IdentityProvider{p})
		wantRejected(t, err, checkSignature)
	})
}
