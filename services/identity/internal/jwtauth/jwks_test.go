package jwtauth

import (
	"context"
	"errors"
	"net/http"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"

	identityv1 "github.com/oriel-dev/oriel/gen/pb/oriel/identity/v1"
)

// jwksProvider is a provider with no static keys, trusting the key set at uri.
func jwksProvider(t testing.TB, uri string, mods ...func(*identityv1.IdentityProvider)) []*identityv1.IdentityProvider {
	return []*identityv1.IdentityProvider{newProvider(t, append([]func(*identityv1.IdentityProvider){withKeys(), withJWKS(uri)}, mods...)...)}
}

func TestJWKSIsFetchedOnceAndCachedForItsMaxAge(t *testing.T) {
	clock := newFakeClock()
	srv := newJWKSServer(t, publicJWK(testKeys().p256, "k1", "ES256"))
	srv.set(func(s *jwksServer) { s.cacheControl = "public, max-age=120" })
	v := newTestVerifier(clock, true)
	providers := jwksProvider(t, srv.uri())

	for range 5 {
		wantAccepted(t)(v.Verify(bg, goodES256(t, clock.Now()), providers))
	}
	if n := srv.requests.Load(); n != 1 {
		t.Fatalf("%d fetches after 5 verifications, want 1", n)
	}
	clock.Advance(119 * time.Second)
	wantAccepted(t)(v.Verify(bg, goodES256(t, clock.Now()), providers))
	if n := srv.requests.Load(); n != 1 {
		t.Fatalf("%d fetches within max-age, want 1", n)
	}
	clock.Advance(2 * time.Second)
	wantAccepted(t)(v.Verify(bg, goodES256(t, clock.Now()), providers))
	if n := srv.requests.Load(); n != 2 {
		t.Fatalf("%d fetches after max-age, want 2", n)
	}
}

func TestJWKSCacheAgeIsBounded(t *testing.T) {
	for _, tc := range []struct {
		header string
		want   time.Duration
	}{
		{"", defaultCacheAge},
		{"max-age=120", 2 * time.Minute},
		{"public, max-age=600, must-revalidate", 10 * time.Minute},
		{"MAX-AGE=300", 5 * time.Minute},
		{"max-age=1", minCacheAge},
		{"max-age=0", minCacheAge},
		{"no-store", minCacheAge},
		{"no-cache, max-age=3600", minCacheAge},
		{"max-age=9999999", maxCacheAge},
		{"max-age=99999999999999999999999", defaultCacheAge},
		{"max-age=-5", defaultCacheAge},
		{"max-age=soon", defaultCacheAge},
	} {
		if got := cacheAge(tc.header); got != tc.want {
			t.Errorf("cacheAge(%q) = %s, want %s", tc.header, got, tc.want)
		}
	}

	t.Run("without a header a set lives 10 minutes", func(t *testing.T) {
		clock := newFakeClock()
		srv := newJWKSServer(t, publicJWK(testKeys().p256, "k1", "ES256"))
		srv.set(func(s *jwksServer) { s.cacheControl = "" })
		v := newTestVerifier(clock, true)
		providers := jwksProvider(t, srv.uri())
		wantAccepted(t)(v.Verify(bg, goodES256(t, clock.Now()), providers))
		clock.Advance(10*time.Minute - time.Second)
		wantAccepted(t)(v.Verify(bg, goodES256(t, clock.Now()), providers))
		if n := srv.requests.Load(); n != 1 {
			t.Fatalf("%d fetches, want 1", n)
		}
		clock.Advance(time.Second)
		wantAccepted(t)(v.Verify(bg, goodES256(t, clock.Now()), providers))
		if n := srv.requests.Load(); n != 2 {
			t.Fatalf("%d fetches, want 2", n)
		}
	})
}

func TestJWKSConcurrentVerificationsShareOneFetch(t *testing.T) {
	clock := newFakeClock()
	srv := newJWKSServer(t, publicJWK(testKeys().p256, "k1", "ES256"))
	srv.set(func(s *jwksServer) { s.delay = 100 * time.Millisecond })
	v := newTestVerifier(clock, true)
	providers := jwksProvider(t, srv.uri())
	token := goodES256(t, clock.Now())
	errs := runConcurrently(50, func() error { _, err := v.Verify(bg, token, providers); return err })
	for _, err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	if n := srv.requests.Load(); n != 1 {
		t.Fatalf("50 concurrent verifications on a cold cache made %d fetches, want 1", n)
	}
}

func TestJWKSUnknownKidRefetchesAtMostOncePerInterval(t *testing.T) {
	clock := newFakeClock()
	k := testKeys()
	srv := newJWKSServer(t, publicJWK(k.p256, "k1", "ES256"))
	srv.set(func(s *jwksServer) { s.delay = 20 * time.Millisecond })
	v := newTestVerifier(clock, true)
	providers := jwksProvider(t, srv.uri(), withRefreshInterval(time.Minute))
	wantAccepted(t)(v.Verify(bg, goodES256(t, clock.Now()), providers)) // fetch 1

	// The ISV publishes k2. Within the interval, tokens naming it cannot force a refetch.
	srv.set(func(s *jwksServer) {
		s.keys = append(s.keys, publicJWK(k.p256b, "k2", "ES256"))
	})
	k2 := mint(t, "ES256", "k2", k.p256b, claims(clock.Now()))
	for _, err := range runConcurrently(50, func() error { _, err := v.Verify(bg, k2, providers); return err }) {
		wantRejected(t, err, checkKid)
	}
	if n := srv.requests.Load(); n != 1 {
		t.Fatalf("%d fetches within the refresh interval, want 1", n)
	}

	// After the interval, 50 concurrent tokens with an unknown kid refetch exactly once, and
	// then k2 is known.
	clock.Advance(time.Minute)
	k3 := mint(t, "ES256", "k3", k.p256b, claims(clock.Now()))
	for _, err := range runConcurrently(50, func() error { _, err := v.Verify(bg, k3, providers); return err }) {
		wantRejected(t, err, checkKid)
	}
	if n := srv.requests.Load(); n != 2 {
		t.Fatalf("%d fetches after 50 concurrent unknown kids, want 2", n)
	}
	k2 = mint(t, "ES256", "k2", k.p256b, claims(clock.Now()))
	for _, err := range runConcurrently(50, func() error { _, err := v.Verify(bg, k2, providers); return err }) {
		if err != nil {
			t.Fatal(err)
		}
	}
	if n := srv.requests.Load(); n != 2 {
		t.Fatalf("%d fetches, want still 2", n)
	}
}

func TestJWKSServesStaleKeysWhileTheEndpointFails(t *testing.T) {
	for _, failure := range []string{"HTTP 500", "endpoint down"} {
		t.Run(failure, func(t *testing.T) {
			clock := newFakeClock()
			srv := newJWKSServer(t, publicJWK(testKeys().p256, "k1", "ES256"))
			srv.set(func(s *jwksServer) { s.cacheControl = "max-age=60" })
			v := newTestVerifier(clock, true)
			providers := jwksProvider(t, srv.uri())
			wantAccepted(t)(v.Verify(bg, goodES256(t, clock.Now()), providers))

			if failure == "HTTP 500" {
				srv.set(func(s *jwksServer) { s.status = http.StatusInternalServerError })
			} else {
				srv.Close()
			}
			clock.Advance(61 * time.Second) // expired: the next verification tries to fetch
			wantAccepted(t)(v.Verify(bg, goodES256(t, clock.Now()), providers))
			before := srv.requests.Load()
			// Within the failure backoff, no new attempt: stale keys answer at once.
			for range 10 {
				wantAccepted(t)(v.Verify(bg, goodES256(t, clock.Now()), providers))
			}
			if n := srv.requests.Load(); n != before {
				t.Fatalf("%d fetch attempts within the backoff, want 0", n-before)
			}
			clock.Advance(24 * time.Hour)
			wantAccepted(t)(v.Verify(bg, goodES256(t, clock.Now()), providers))

			if failure == "HTTP 500" {
				// The endpoint recovers and the next attempt (after the backoff) takes its keys.
				srv.set(func(s *jwksServer) {
					s.status = http.StatusOK
					s.keys = []jose.JSONWebKey{publicJWK(testKeys().p256b, "k9", "ES256")}
				})
				clock.Advance(failureBackoff)
				_, err := v.Verify(bg, goodES256(t, clock.Now()), providers)
				wantRejected(t, err, checkKid)
				wantAccepted(t)(v.Verify(bg, mint(t, "ES256", "k9", testKeys().p256b, claims(clock.Now())), providers))
			}
		})
	}
}

func TestJWKSFetchFailureWithoutCachedKeysRejectsAsKid(t *testing.T) {
	clock := newFakeClock()
	for _, tc := range []struct {
		name  string
		setup func(s *jwksServer)
		want  string
	}{
		{"HTTP 500", func(s *jwksServer) { s.status = http.StatusInternalServerError }, "HTTP 500"},
		{"HTTP 404", func(s *jwksServer) { s.status = http.StatusNotFound }, "HTTP 404"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := newJWKSServer(t, publicJWK(testKeys().p256, "k1", "ES256"))
			srv.set(tc.setup)
			v := newTestVerifier(clock, true)
			_, err := v.Verify(bg, goodES256(t, clock.Now()), jwksProvider(t, srv.uri()))
			re := wantRejected(t, err, checkKid)
			if !strings.Contains(re.Detail, "could not be fetched") || !strings.Contains(re.Detail, tc.want) {
				t.Fatalf("detail %q", re.Detail)
			}
		})
	}
	for _, tc := range []struct {
		name, body, want string
	}{
		{"not JSON", "<html>", "did not serve a JWK Set"},
		{"JSON without keys", `{"kid":"k1"}`, "did not serve a JWK Set"},
		{"over 1 MB", `{"keys":[],"pad":"` + strings.Repeat("x", maxJWKSBytes) + `"}`, "larger than 1 MB"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv, _ := newCountingServer(t, http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
				_, _ = w.Write([]byte(tc.body))
			}), false)
			v := newTestVerifier(clock, true)
			_, err := v.Verify(bg, goodES256(t, clock.Now()), jwksProvider(t, srv.URL))
			re := wantRejected(t, err, checkKid)
			if !strings.Contains(re.Detail, tc.want) {
				t.Fatalf("detail %q, want it to say %q", re.Detail, tc.want)
			}
		})
	}
	t.Run("a closed port", func(t *testing.T) {
		srv := newJWKSServer(t)
		uri := srv.uri()
		srv.Close()
		v := newTestVerifier(clock, true)
		_, err := v.Verify(bg, goodES256(t, clock.Now()), jwksProvider(t, uri))
		wantRejected(t, err, checkKid)
	})
}

func TestJWKSSkipsKeysThatCannotVerify(t *testing.T) {
	clock := newFakeClock()
	k := testKeys()
	body := `{"keys":[
		{"kty":"oct","kid":"k1","k":"c2VjcmV0"},
		` + strings.Replace(jwkOf(t, k.p256b.Public(), "k1", "ES256"), `"use":"sig"`, `"use":"enc"`, 1) + `,
		` + jwkOf(t, k.rsa1024.Public(), "k1", "RS256") + `,
		{"kty":"EC","kid":"k1","crv":"P-256","x":"AAAA","y":"AAAA"},
		{"kty":"unknown","kid":"k1"},
		` + jwkOf(t, k.p256, "k1", "ES256") + `,
		` + jwkOf(t, k.p256.Public(), "k1", "ES256") + `
	]}`
	srv, _ := newCountingServer(t, http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		_, _ = w.Write([]byte(body))
	}), false)
	v := newTestVerifier(clock, true)
	providers := jwksProvider(t, srv.URL)
	wantAccepted(t)(v.Verify(bg, goodES256(t, clock.Now()), providers))
	// The private, symmetric, "enc", too small and malformed entries were skipped; without a
	// kid the one usable key serves.
	wantAccepted(t)(v.Verify(bg, mint(t, "ES256", "", k.p256, claims(clock.Now())), providers))
	_, err := v.Verify(bg, mint(t, "ES256", "k1", k.p256b, claims(clock.Now())), providers)
	wantRejected(t, err, checkSignature)

	t.Run("a key without its own alg serves any algorithm its type fits", func(t *testing.T) {
		srv := newJWKSServer(t, publicJWK(k.ed, "ed", ""), publicJWK(k.rsa1024, "small", ""))
		providers := jwksProvider(t, srv.uri(), withAllowed(identityv1.Algorithm_ALGORITHM_EDDSA, identityv1.Algorithm_ALGORITHM_RS256))
		wantAccepted(t)(v.Verify(bg, mint(t, "EdDSA", "ed", k.ed, claims(clock.Now())), providers))
		_, err := v.Verify(bg, mint(t, "RS256", "small", k.rsa1024, claims(clock.Now())), providers)
		wantRejected(t, err, checkKid)
	})
}

func TestJWKSRedirectsAreRefused(t *testing.T) {
	clock := newFakeClock()
	target := newJWKSServer(t, publicJWK(testKeys().p256, "k1", "ES256"))
	redirector, _ := newCountingServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, target.uri(), http.StatusFound)
	}), false)
	for _, tc := range []struct {
		name string
		v    *Verifier
	}{
		{"the hardened client", newTestVerifier(clock, true)},
		{"a client the caller passed", NewVerifier(Options{DevMode: true, Now: clock.Now, HTTPClient: &http.Client{}})},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := tc.v.Verify(bg, goodES256(t, clock.Now()), jwksProvider(t, redirector.URL))
			re := wantRejected(t, err, checkKid)
			if !strings.Contains(re.Detail, "redirect") {
				t.Fatalf("detail %q", re.Detail)
			}
		})
	}
	if n := target.requests.Load(); n != 0 {
		t.Fatalf("the redirect target was fetched %d times, want 0", n)
	}
}

func TestJWKSLoopbackAndPrivateAddressesAreRefusedOutsideDevMode(t *testing.T) {
	clock := newFakeClock()
	tlsSrv, conns := newCountingServer(t, http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		_, _ = w.Write([]byte(`{"keys":[` + jwkOf(t, testKeys().p256.Public(), "k1", "ES256") + `]}`))
	}), true)

	t.Run("the dialer refuses 127.0.0.1 whatever the URL check says", func(t *testing.T) {
		// Straight to the client, past checkJWKSURI: this is the check that still holds when
		// a public name resolves, or rebinds, to a loopback address.
		_, err := hardenedClient(false).Get(tlsSrv.URL)
		if !errors.Is(err, errAddressNotAllowed) {
			t.Fatalf("Get = %v, want errAddressNotAllowed", err)
		}
		for _, addr := range []string{"127.0.0.1:443", "10.0.0.1:443", "169.254.169.254:80", "[::1]:443", "[fe80::1]:443", "100.64.0.1:443", "0.0.0.0:443"} {
			if err := guardAddress("tcp", addr, nil); !errors.Is(err, errAddressNotAllowed) {
				t.Errorf("guardAddress(%s) = %v, want refused", addr, err)
			}
		}
	})
	t.Run("Verify with an https loopback jwks_uri", func(t *testing.T) {
		v := newTestVerifier(clock, false)
		_, err := v.Verify(bg, goodES256(t, clock.Now()), jwksProvider(t, tlsSrv.URL+"/jwks"))
		re := wantRejected(t, err, checkKid)
		if !strings.Contains(re.Detail, "not allowed") && !strings.Contains(re.Detail, "loopback") {
			t.Fatalf("detail %q", re.Detail)
		}
	})
	t.Run("Verify with localhost", func(t *testing.T) {
		v := newTestVerifier(clock, false)
		uri := strings.Replace(tlsSrv.URL, "127.0.0.1", "localhost", 1)
		_, err := v.Verify(bg, goodES256(t, clock.Now()), jwksProvider(t, uri))
		wantRejected(t, err, checkKid)
	})
	if n := conns.conns.Load(); n != 0 {
		t.Fatalf("the loopback server saw %d connections, want 0", n)
	}
}

func TestJWKSPlainHTTPIsRefusedOutsideDevMode(t *testing.T) {
	clock := newFakeClock()
	srv := newJWKSServer(t, publicJWK(testKeys().p256, "k1", "ES256"))
	v := newTestVerifier(clock, false)
	_, err := v.Verify(bg, goodES256(t, clock.Now()), jwksProvider(t, srv.uri()))
	re := wantRejected(t, err, checkKid)
	if !strings.Contains(re.Detail, "https") {
		t.Fatalf("detail %q", re.Detail)
	}
	if n := srv.conns.conns.Load(); n != 0 {
		t.Fatalf("the http server saw %d connections, want 0", n)
	}
	// The same URI works in dev mode, where http is allowed for loopback.
	wantAccepted(t)(newTestVerifier(clock, true).Verify(bg, goodES256(t, clock.Now()), jwksProvider(t, srv.uri())))
}

func TestAddressPolicy(t *testing.T) {
	for _, tc := range []struct {
		addr   string
		public bool
	}{
		{"127.0.0.1", false},
		{"127.1.2.3", false},
		{"10.1.2.3", false},
		{"172.16.0.1", false},
		{"172.31.255.255", false},
		{"192.168.1.1", false},
		{"169.254.169.254", false},
		{"100.64.0.1", false},
		{"100.127.255.255", false},
		{"0.0.0.0", false},
		{"255.255.255.255", false},
		{"224.0.0.1", false},
		{"::", false},
		{"::1", false},
		{"fc00::1", false},
		{"fd12:3456::1", false},
		{"fe80::1", false},
		{"ff02::1", false},
		{"::ffff:127.0.0.1", false},
		{"::ffff:10.0.0.1", false},
		{"64:ff9b::a00:1", false},      // NAT64 of 10.0.0.1
		{"64:ff9b::7f00:1", false},     // NAT64 of 127.0.0.1
		{"2002:7f00:1::1", false},      // 6to4 of 127.0.0.1
		{"2002:a9fe:a9fe::1", false},   // 6to4 of 169.254.169.254
		{"2001:0:4136:e378::1", false}, // Teredo
		{"8.8.8.8", true},
		{"1.1.1.1", true},
		{"172.32.0.1", true},
		{"100.128.0.1", true},
		{"2606:4700:4700::1111", true},
		{"64:ff9b::808:808", true}, // NAT64 of 8.8.8.8
		{"::ffff:8.8.8.8", true},
	} {
		if got := isPublicAddr(netip.MustParseAddr(tc.addr)); got != tc.public {
			t.Errorf("isPublicAddr(%s) = %v, want %v", tc.addr, got, tc.public)
		}
	}
}

// runConcurrently runs f n times at once, released together, and returns the errors.
func runConcurrently(n int, f func() error) []error {
	errs := make([]error, n)
	var start, done sync.WaitGroup
	start.Add(1)
	for i := range n {
		done.Add(1)
		go func() {
			defer done.Done()
			start.Wait()
			errs[i] = f()
		}()
	}
	start.Done()
	done.Wait()
	return errs
}

func TestVerifyReturnsTheContextErrorWhenItEndsDuringAFetch(t *testing.T) {
	clock := newFakeClock()
	srv := newJWKSServer(t, publicJWK(testKeys().p256, "k1", "ES256"))
	srv.set(func(s *jwksServer) { s.delay = 300 * time.Millisecond })
	v := newTestVerifier(clock, true)
	providers := jwksProvider(t, srv.uri())
	short, cancel := context.WithTimeout(bg, 20*time.Millisecond)
	defer cancel()
	_, err := v.Verify(short, goodES256(t, clock.Now()), providers)
	var re *RejectedError
	if !errors.Is(err, context.DeadlineExceeded) || errors.As(err, &re) {
		t.Fatalf("Verify = %v, want the context's error, not a rejection", err)
	}
	// The fetch was not the caller's: it finished in the background for the next token.
	time.Sleep(500 * time.Millisecond)
	wantAccepted(t)(v.Verify(bg, goodES256(t, clock.Now()), providers))
	if n := srv.requests.Load(); n != 1 {
		t.Fatalf("%d fetches, want 1", n)
	}
	if resp := v.Test(short, goodES256(t, clock.Now()), providers[0]); !resp.GetValid() {
		t.Fatalf("Test with a done context but cached keys: %s", checkNames(resp))
	}
}
