package jwtauth

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"math/big"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	identityv1 "github.com/oriel-dev/oriel/gen/pb/oriel/identity/v1"
)

const fuzzIssuerB = "https://b.example.com"

// FuzzVerify feeds Verify arbitrary tokens, and arbitrary headers and payloads that it
// signs properly with the test key, so that the claim checks see every shape of JSON.
// Whatever the input: Verify never panics, every error is a *RejectedError, Test agrees
// with Verify, and an accepted token passes an independent re-check written without this
// package's code.
func FuzzVerify(f *testing.F) {
	k := testKeys()
	clock := newFakeClock()
	v := newTestVerifier(clock, false)
	providerA := newProvider(f) // ES256 k1, testIssuer
	providerB := newProvider(f, func(p *identityv1.IdentityProvider) {
		p.Name = "tenants/acme/identityProviders/b"
		p.Jwt.Issuer = fuzzIssuerB
		p.Jwt.Keys = []*identityv1.SigningKey{pemKey(f, "r1", identityv1.Algorithm_ALGORITHM_RS256, k.rsa)}
	})
	providers := []*identityv1.IdentityProvider{providerA, providerB}
	now := clock.Now()

	// Seeds: a good token and variants of its header and payload.
	good := claims(now)
	goodHeader := `{"alg":"ES256","kid":"k1","typ":"JWT"}`
	seed := func(header string, edit func(map[string]any)) {
		c := claims(now)
		if edit != nil {
			edit(c)
		}
		payload := mustJSON(f, c)
		f.Add(signRaw(f, "ES256", k.p256, header, payload), []byte(header), []byte(payload))
	}
	seed(goodHeader, nil)
	seed(`{"alg":"ES256"}`, nil)
	seed(`{"alg":"none","kid":"k1"}`, nil)
	seed(`{"alg":"HS256","kid":"k1"}`, nil)
	seed(`{"alg":"ES256","kid":"k1","crit":["b64"],"b64":false}`, nil)
	seed(`{"alg":"ES256","kid":"k1","kid":"k2"}`, nil)
	seed(`{"alg":"ES256","kid":1}`, nil)
	seed(`{"alg":"ES256","kid":"k1","jku":"http://127.0.0.1:1/jwks"}`, nil)
	seed(goodHeader, func(c map[string]any) { c["aud"] = []string{"x", "oriel"} })
	seed(goodHeader, func(c map[string]any) { c["aud"] = []any{} })
	seed(goodHeader, func(c map[string]any) { c["exp"] = now.Add(5*time.Minute).Unix() * 1000 })
	seed(goodHeader, func(c map[string]any) { c["exp"] = json.Number("1.8000003e9") })
	seed(goodHeader, func(c map[string]any) { c["exp"] = json.Number("1800000300.999999999999") })
	seed(goodHeader, func(c map[string]any) { c["iat"] = json.Number("1e-40") })
	seed(goodHeader, func(c map[string]any) { c["exp"] = json.Number("9e99999") })
	seed(goodHeader, func(c map[string]any) { c["nbf"] = now.Add(30 * time.Second).Unix() })
	seed(goodHeader, func(c map[string]any) { delete(c, "jti") })
	seed(goodHeader, func(c map[string]any) { c["groups"] = []any{"a", 1} })
	seed(goodHeader, func(c map[string]any) { c["sub"] = strings.Repeat("é", 200) })
	seed(goodHeader, func(c map[string]any) { c["nested"] = map[string]any{"a": []any{map[string]any{"b": nil}}} })
	payload := mustJSON(f, good)
	f.Add(signRaw(f, "ES256", k.p256, goodHeader, strings.Replace(payload, "{", `{"sub":"x",`, 1)), []byte(goodHeader), []byte(`{"sub":"a","sub":"b"}`))
	cb := claims(now)
	cb["iss"] = fuzzIssuerB
	f.Add(mint(f, "RS256", "r1", k.rsa, cb), []byte(`{"alg":"RS256","kid":"r1"}`), []byte(mustJSON(f, cb)))
	f.Add("", []byte{}, []byte{})
	f.Add("..", []byte("{}"), []byte("{}"))
	f.Add(strings.Repeat("a", maxTokenBytes+1), []byte("\xff"), []byte("[]"))

	f.Fuzz(func(t *testing.T, raw string, header, payload []byte) {
		check := func(token string) {
			c, err := v.Verify(bg, token, providers)
			iss := unverifiedIssuer(token)
			var provider *identityv1.IdentityProvider
			switch iss {
			case testIssuer:
				provider = providerA
			case fuzzIssuerB:
				provider = providerB
			}
			if err != nil {
				var re *RejectedError
				if !errors.As(err, &re) || re.Check == "" || re.Detail == "" {
					t.Fatalf("Verify returned %T %v, want a *RejectedError with a check and a detail", err, err)
				}
				if provider != nil {
					if resp := v.Test(bg, token, provider); resp.GetValid() {
						t.Fatalf("Verify rejected (%s: %s) but Test says valid", re.Check, re.Detail)
					}
				}
				return
			}
			if c == nil || provider == nil {
				t.Fatalf("accepted with claims %v and issuer %q", c, iss)
			}
			if why := recheck(token, now); why != "" {
				t.Fatalf("Verify accepted a token that fails the re-check: %s\n%q", why, token)
			}
			if resp := v.Test(bg, token, provider); !resp.GetValid() {
				t.Fatalf("Verify accepted but Test says: %s", checkNames(resp))
			}
		}
		check(raw)
		if len(header)+len(payload) <= maxTokenBytes {
			signingInput := base64.RawURLEncoding.EncodeToString(header) + "." + base64.RawURLEncoding.EncodeToString(payload)
			sig, err := jwt.SigningMethodES256.Sign(signingInput, k.p256)
			if err != nil {
				t.Fatal(err)
			}
			check(signingInput + "." + base64.RawURLEncoding.EncodeToString(sig))
		}
	})
}

func unverifiedIssuer(token string) string {
	parts := strings.Split(token, ".")
	if len(parts) != 3 {
		return ""
	}
	b, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		return ""
	}
	var p struct {
		Iss any `json:"iss"`
	}
	if json.Unmarshal(b, &p) != nil {
		return ""
	}
	s, _ := p.Iss.(string)
	return s
}

// recheck says why token does not satisfy the rules, judged without this package's code:
// canonical base64url, the test key's signature, iss and aud, exp/iat/nbf/lifetime with
// the default 30 s tolerance and 10 min lifetime (exact rational arithmetic), jti and sub.
func recheck(token string, now time.Time) string {
	parts := strings.Split(token, ".")
	if len(parts) != 3 {
		return "not three parts"
	}
	var raw [3][]byte
	for i, p := range parts {
		b, err := base64.RawURLEncoding.DecodeString(p)
		if err != nil || base64.RawURLEncoding.EncodeToString(b) != p {
			return "part " + string(rune('0'+i)) + " is not canonical base64url"
		}
		raw[i] = b
	}
	// A map, not a struct: encoding/json matches struct tags case-insensitively, while
	// JOSE header names are case-sensitive ("Crit" is not "crit").
	var header map[string]any
	if err := json.Unmarshal(raw[0], &header); err != nil {
		return "bad header"
	}
	if _, ok := header["crit"]; ok {
		return "crit header"
	}
	alg, _ := header["alg"].(string)
	dec := json.NewDecoder(strings.NewReader(string(raw[1])))
	dec.UseNumber()
	var c map[string]any
	if err := dec.Decode(&c); err != nil {
		return "bad payload"
	}
	signingInput := []byte(parts[0] + "." + parts[1])
	k := testKeys()
	switch c["iss"] {
	case testIssuer:
		h := sha256.Sum256(signingInput)
		if alg != "ES256" || len(raw[2]) != 64 {
			return "not an ES256 signature"
		}
		r, s := new(big.Int).SetBytes(raw[2][:32]), new(big.Int).SetBytes(raw[2][32:])
		if !ecdsa.Verify(&k.p256.PublicKey, h[:], r, s) {
			return "the ES256 signature does not verify"
		}
	case fuzzIssuerB:
		h := sha256.Sum256(signingInput)
		if alg != "RS256" || rsa.VerifyPKCS1v15(&k.rsa.PublicKey, crypto.SHA256, h[:], raw[2]) != nil {
			return "the RS256 signature does not verify"
		}
	default:
		return "unknown issuer"
	}
	switch aud := c["aud"].(type) {
	case string:
		if aud != "oriel" {
			return "wrong aud"
		}
	case []any:
		found := false
		for _, a := range aud {
			s, ok := a.(string)
			if !ok {
				return "aud has a non-string"
			}
			found = found || s == "oriel"
		}
		if !found {
			return "aud lacks oriel"
		}
	default:
		return "aud missing or of a wrong type"
	}
	rat := func(name string) (*big.Rat, bool) {
		n, ok := c[name].(json.Number)
		if !ok {
			return nil, false
		}
		// Verify bounds exponents to ±40, so this cannot explode.
		if i := strings.IndexAny(string(n), "eE"); i >= 0 && len(n)-i > 4 {
			return nil, false
		}
		r, ok := new(big.Rat).SetString(string(n))
		return r, ok
	}
	nowR := new(big.Rat).SetFrac64(now.UnixNano(), 1e9)
	leeway := big.NewRat(30, 1)
	exp, ok := rat("exp")
	if !ok {
		return "exp missing or not a number"
	}
	iat, ok := rat("iat")
	if !ok {
		return "iat missing or not a number"
	}
	if exp.Cmp(new(big.Rat).Sub(nowR, leeway)) <= 0 {
		return "expired"
	}
	if iat.Cmp(new(big.Rat).Add(nowR, leeway)) > 0 {
		return "iat in the future"
	}
	if _, present := c["nbf"]; present {
		nbf, ok := rat("nbf")
		if !ok || nbf.Cmp(new(big.Rat).Add(nowR, leeway)) > 0 {
			return "nbf bad or in the future"
		}
	}
	life := new(big.Rat).Sub(exp, iat)
	if life.Sign() <= 0 || life.Cmp(big.NewRat(600, 1)) > 0 {
		return "lifetime out of bounds"
	}
	if jti, ok := c["jti"].(string); !ok || jti == "" || len(jti) > 256 {
		return "bad jti"
	}
	if sub, ok := c["sub"].(string); !ok || sub == "" || len(sub) > 256 {
		return "bad sub"
	}
	return ""
}
