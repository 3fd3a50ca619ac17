package jwtauth

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	"github.com/golang-jwt/jwt/v5"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/timestamppb"

	identityv1 "github.com/oriel-dev/oriel/gen/pb/oriel/identity/v1"
)

// t0 is the fake clock's start: a fixed instant, so that every token of a test is
// deterministic.
var t0 = time.Unix(1_800_000_000, 0)

const testIssuer = "https://isv.example.com"

// testKeys are generated once per test binary: RSA key generation is slow.
type testKeySet struct {
	rsa, rsa2, rsa1024 *rsa.PrivateKey
	p256, p256b, p384  *ecdsa.PrivateKey
	ed                 ed25519.PrivateKey
}

var (
	keysOnce sync.Once
	keys     testKeySet
)

func testKeys() *testKeySet {
	keysOnce.Do(func() {
		must := func(err error) {
			if err != nil {
				panic(err)
			}
		}
		// RSA keys come from testdata: generating them is slow, and every fuzz worker would.
		b, err := os.ReadFile("testdata/rsa_test_keys.pem")
		must(err)
		var rsaKeys []*rsa.PrivateKey
		for {
			var block *pem.Block
			if block, b = pem.Decode(b); block == nil {
				break
			}
			k, err := x509.ParsePKCS8PrivateKey(block.Bytes)
			must(err)
			rsaKeys = append(rsaKeys, k.(*rsa.PrivateKey))
		}
		keys.rsa, keys.rsa2, keys.rsa1024 = rsaKeys[0], rsaKeys[1], rsaKeys[2]
		keys.p256, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		must(err)
		keys.p256b, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		must(err)
		keys.p384, err = ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
		must(err)
		_, keys.ed, err = ed25519.GenerateKey(rand.Reader)
		must(err)
	})
	return &keys
}

func pemOf(t testing.TB, pub crypto.PublicKey) string {
	t.Helper()
	der, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		t.Fatal(err)
	}
	return string(pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}))
}

func jwkOf(t testing.TB, key any, kid, alg string) string {
	t.Helper()
	b, err := json.Marshal(jose.JSONWebKey{Key: key, KeyID: kid, Algorithm: alg, Use: "sig"})
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func publicOf(priv crypto.Signer) crypto.PublicKey { return priv.Public() }

// fakeClock is a clock tests move by hand.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func newFakeClock() *fakeClock { return &fakeClock{t: t0} }

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// staticKey returns a SigningKey with the public half of priv as PEM.
func pemKey(t testing.TB, kid string, alg identityv1.Algorithm, priv crypto.Signer) *identityv1.SigningKey {
	return &identityv1.SigningKey{Kid: kid, Alg: alg, Pem: pemOf(t, priv.Public())}
}

func jwkKey(t testing.TB, kid string, alg identityv1.Algorithm, priv crypto.Signer) *identityv1.SigningKey {
	return &identityv1.SigningKey{Kid: kid, Alg: alg, Jwk: jwkOf(t, priv.Public(), kid, algorithmByEnum(alg).name)}
}

var revisions atomic.Int64

// newProvider returns a stored-looking provider (name, update_time, etag) trusting
// testIssuer with an ES256 key k1 (testKeys().p256); mods adjust it.
func newProvider(t testing.TB, mods ...func(*identityv1.IdentityProvider)) *identityv1.IdentityProvider {
	t.Helper()
	rev := revisions.Add(1)
	p := &identityv1.IdentityProvider{
		Name:       "tenants/acme/identityProviders/main",
		UpdateTime: timestamppb.New(t0.Add(time.Duration(rev) * time.Second)),
		Etag:       fmt.Sprint(rev),
		Jwt: &identityv1.JwtProvider{
			Issuer: testIssuer,
			Keys:   []*identityv1.SigningKey{pemKey(t, "k1", identityv1.Algorithm_ALGORITHM_ES256, testKeys().p256)},
		},
	}
	for _, m := range mods {
		m(p)
	}
	return p
}

func withKeys(keys ...*identityv1.SigningKey) func(*identityv1.IdentityProvider) {
	return func(p *identityv1.IdentityProvider) { p.Jwt.Keys = keys }
}

func withAllowed(algs ...identityv1.Algorithm) func(*identityv1.IdentityProvider) {
	return func(p *identityv1.IdentityProvider) { p.Jwt.AllowedAlgorithms = algs }
}

func withJWKS(uri string) func(*identityv1.IdentityProvider) {
	return func(p *identityv1.IdentityProvider) { p.Jwt.JwksUri = uri }
}

func withClockTolerance(d time.Duration) func(*identityv1.IdentityProvider) {
	return func(p *identityv1.IdentityProvider) { p.Jwt.ClockTolerance = durationpb.New(d) }
}

func withRefreshInterval(d time.Duration) func(*identityv1.IdentityProvider) {
	return func(p *identityv1.IdentityProvider) { p.Jwt.JwksRefreshInterval = durationpb.New(d) }
}

// claims returns the claims of a good token issued at now.
func claims(now time.Time) map[string]any {
	return map[string]any{
		"iss":    testIssuer,
		"aud":    "oriel",
		"sub":    "user-1",
		"name":   "Ada Lovelace",
		"email":  "ada@example.com",
		"groups": []string{"analysts", "admins"},
		"iat":    now.Unix(),
		"exp":    now.Add(5 * time.Minute).Unix(),
		"jti":    "jti-" + fmt.Sprint(now.UnixNano()),
	}
}

func b64url(s string) string { return base64.RawURLEncoding.EncodeToString([]byte(s)) }

func mustJSON(t testing.TB, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// signRaw signs header.payload (given as JSON text, so tests can write any bytes) with
// the library method named alg.
func signRaw(t testing.TB, alg string, key any, headerJSON, payloadJSON string) string {
	t.Helper()
	signingInput := b64url(headerJSON) + "." + b64url(payloadJSON)
	sig, err := jwt.GetSigningMethod(alg).Sign(signingInput, key)
	if err != nil {
		t.Fatal(err)
	}
	return signingInput + "." + base64.RawURLEncoding.EncodeToString(sig)
}

// mint signs claims with header {"alg": alg, "kid": kid} plus extra header fields.
func mint(t testing.TB, alg, kid string, key any, c map[string]any, extraHeader ...map[string]any) string {
	t.Helper()
	h := map[string]any{"alg": alg, "typ": "JWT"}
	if kid != "" {
		h["kid"] = kid
	}
	for _, x := range extraHeader {
		for k, v := range x {
			if v == nil {
				delete(h, k)
			} else {
				h[k] = v
			}
		}
	}
	return signRaw(t, alg, key, mustJSON(t, h), mustJSON(t, c))
}

// goodES256 is a good token for newProvider's default key at clock.Now().
func goodES256(t testing.TB, now time.Time) string {
	return mint(t, "ES256", "k1", testKeys().p256, claims(now))
}

func newTestVerifier(clock *fakeClock, devMode bool) *Verifier {
	return NewVerifier(Options{DevMode: devMode, Now: clock.Now})
}

// wantRejected fails unless err is a *RejectedError for check.
func wantRejected(t testing.TB, err error, check string) *RejectedError {
	t.Helper()
	var re *RejectedError
	if !errors.As(err, &re) {
		t.Fatalf("error = %v (%T), want a *RejectedError for check %q", err, err, check)
	}
	if re.Check != check {
		t.Fatalf("rejected by check %q (%s), want %q", re.Check, re.Detail, check)
	}
	return re
}

// wantAccepted fails unless Verify accepted; use as wantAccepted(t)(v.Verify(…)).
func wantAccepted(t testing.TB) func(*Claims, error) *Claims {
	return func(c *Claims, err error) *Claims {
		t.Helper()
		if err != nil {
			t.Fatalf("Verify = %v, want accepted", err)
		}
		if c == nil {
			t.Fatal("Verify returned no claims and no error")
		}
		return c
	}
}

// countingListener counts the TCP connections a test server accepts, to prove that none
// were made.
type countingListener struct {
	net.Listener
	conns atomic.Int64
}

func (l *countingListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err == nil {
		l.conns.Add(1)
	}
	return c, err
}

// newCountingServer starts an httptest server whose listener counts connections.
func newCountingServer(t testing.TB, h http.Handler, tls bool) (*httptest.Server, *countingListener) {
	t.Helper()
	srv := httptest.NewUnstartedServer(h)
	cl := &countingListener{Listener: srv.Listener}
	srv.Listener = cl
	if tls {
		srv.StartTLS()
	} else {
		srv.Start()
	}
	t.Cleanup(srv.Close)
	return srv, cl
}

// jwksServer serves a JWK Set that tests can change, counting requests.
type jwksServer struct {
	*httptest.Server
	conns    *countingListener
	requests atomic.Int64

	mu           sync.Mutex
	keys         []jose.JSONWebKey
	status       int
	cacheControl string
	delay        time.Duration
}

func newJWKSServer(t testing.TB, keys ...jose.JSONWebKey) *jwksServer {
	t.Helper()
	s := &jwksServer{keys: keys, status: http.StatusOK, cacheControl: "max-age=3600"}
	s.Server, s.conns = newCountingServer(t, http.HandlerFunc(s.serve), false)
	return s
}

func (s *jwksServer) serve(w http.ResponseWriter, _ *http.Request) {
	s.requests.Add(1)
	s.mu.Lock()
	keys, status, cc, delay := s.keys, s.status, s.cacheControl, s.delay
	s.mu.Unlock()
	if delay > 0 {
		time.Sleep(delay)
	}
	if cc != "" {
		w.Header().Set("Cache-Control", cc)
	}
	w.Header().Set("Content-Type", "application/jwk-set+json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(jose.JSONWebKeySet{Keys: keys})
}

func (s *jwksServer) set(f func(s *jwksServer)) {
	s.mu.Lock()
	defer s.mu.Unlock()
	f(s)
}

func (s *jwksServer) uri() string { return s.URL + "/.well-known/jwks.json" }

func publicJWK(priv crypto.Signer, kid, alg string) jose.JSONWebKey {
	return jose.JSONWebKey{Key: priv.Public(), KeyID: kid, Algorithm: alg, Use: "sig"}
}

var bg = context.Background()

func checkNames(resp *identityv1.TestTokenResponse) string {
	var b strings.Builder
	for _, c := range resp.GetChecks() {
		fmt.Fprintf(&b, "%s=%s ", c.GetCheck(), strings.TrimPrefix(c.GetOutcome().String(), "OUTCOME_"))
	}
	return b.String()
}
