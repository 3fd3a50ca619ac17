package jwtauth

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rsa"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	lru "github.com/hashicorp/golang-lru/v2"
)

// JWKS caching. Each jwks_uri has one keySet, shared by every provider naming it:
//
//   - A fetched set is kept for the response's Cache-Control max-age, bounded to
//     [minCacheAge, maxCacheAge], or defaultCacheAge without one.
//   - A fresh set answers from an atomic snapshot, without a lock.
//   - An expired set, or none, is fetched before answering.
//   - An unknown kid in a fresh set refetches, at most once per the provider's
//     jwks_refresh_interval (counted from the previous attempt), so tokens with made-up
//     kids cannot make Oriel hammer the ISV's endpoint.
//   - A failed fetch keeps the previous keys ("stale") in service, and the next attempt
//     waits failureBackoff, so a down endpoint costs one slow request per backoff, not one
//     per token.
//   - Concurrent callers share one in-flight fetch (singleflight). The fetch runs detached
//     from any caller's cancellation, bounded by its own timeout, and each caller waits
//     for it only as long as its own context allows.
const (
	defaultCacheAge = 10 * time.Minute
	minCacheAge     = time.Minute
	maxCacheAge     = 24 * time.Hour
	failureBackoff  = 10 * time.Second
	maxJWKSBytes    = 1 << 20
	maxJWKSKeys     = 100
	jwksCacheSize   = 1024
)

type jwksCache struct {
	client  *http.Client
	devMode bool
	now     func() time.Time
	mu      sync.Mutex // guards creation of sets entries
	sets    *lru.Cache[string, *keySet]
}

func newJWKSCache(client *http.Client, devMode bool, now func() time.Time) *jwksCache {
	sets, _ := lru.New[string, *keySet](jwksCacheSize) // errors only for size ≤ 0
	return &jwksCache{client: client, devMode: devMode, now: now, sets: sets}
}

// keySet is the cache entry of one URI.
type keySet struct {
	uri  string
	snap atomic.Pointer[keySnapshot]

	mu          sync.Mutex
	lastAttempt time.Time
	lastErr     error
	inflight    *fetchCall
}

type fetchCall struct {
	done chan struct{}
	err  error
}

// keySnapshot is one fetched JWK Set, immutable once published.
type keySnapshot struct {
	byKid   map[string][]jwksKey
	expires time.Time
}

// jwksKey is a usable key of a set: a public RSA, EC or Ed25519 key for signatures.
type jwksKey struct {
	pub crypto.PublicKey
	alg string // the JWK's own alg, "" when it names none
}

// fits reports whether k may verify a: its type must fit, and its own alg, if any, must
// be a's.
func (k jwksKey) fits(a *algorithm) bool {
	return (k.alg == "" || k.alg == a.name) && a.fits(k.pub) == ""
}

func (c *jwksCache) entry(uri string) *keySet {
	if ks, ok := c.sets.Get(uri); ok {
		return ks
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if ks, ok := c.sets.Get(uri); ok {
		return ks
	}
	ks := &keySet{uri: uri}
	c.sets.Add(uri, ks)
	return ks
}

// get returns the key set of uri, fetching it if it is missing or expired or, when
// wantKid, does not hold kid. A non-nil snapshot may come with an error: the fetch failed
// and the snapshot is stale. A nil snapshot always comes with an error.
func (c *jwksCache) get(ctx context.Context, uri string, refresh time.Duration, kid string, wantKid bool) (*keySnapshot, error) {
	ks := c.entry(uri)
	now := c.now()
	if snap := ks.snap.Load(); snap != nil && now.Before(snap.expires) && (!wantKid || snap.byKid[kid] != nil) {
		return snap, nil
	}

	ks.mu.Lock()
	snap := ks.snap.Load()
	expired := snap == nil || !now.Before(snap.expires)
	if !expired && (!wantKid || snap.byKid[kid] != nil) {
		ks.mu.Unlock()
		return snap, nil
	}
	call := ks.inflight
	if call == nil {
		gap := refresh // an unknown kid in a fresh set
		if expired {
			gap = 0
			if ks.lastErr != nil {
				gap = failureBackoff
			}
		}
		if !ks.lastAttempt.IsZero() && now.Sub(ks.lastAttempt) < gap {
			err := ks.lastErr
			ks.mu.Unlock()
			if snap == nil && err == nil {
				err = errNotFetched
			}
			return snap, err
		}
		call = &fetchCall{done: make(chan struct{})}
		ks.inflight, ks.lastAttempt = call, now
		go c.fetch(context.WithoutCancel(ctx), ks, call)
	}
	ks.mu.Unlock()

	select {
	case <-call.done:
	case <-ctx.Done():
		if snap := ks.snap.Load(); snap != nil {
			return snap, ctx.Err()
		}
		return nil, ctx.Err()
	}
	snap = ks.snap.Load()
	if snap == nil && call.err == nil {
		return nil, errNotFetched
	}
	return snap, call.err
}

var errNotFetched = fetchError("the key set has not been fetched yet")

func (c *jwksCache) fetch(ctx context.Context, ks *keySet, call *fetchCall) {
	var (
		snap *keySnapshot
		err  error
	)
	func() {
		// Untrusted bytes go through go-jose here; a panic in a detached goroutine would take
		// the whole service down, so it becomes a failed fetch instead.
		defer func() {
			if r := recover(); r != nil {
				snap, err = nil, fetchError("the key set could not be parsed")
			}
		}()
		snap, err = c.download(ctx, ks.uri)
	}()
	ks.mu.Lock()
	if err == nil {
		ks.snap.Store(snap)
	}
	ks.lastErr = err
	call.err = err
	ks.inflight = nil
	ks.mu.Unlock()
	close(call.done)
}

// fetchError is a reason a fetch failed, worded to be shown to the ISV: it never carries
// addresses or error text from the network stack.
type fetchError string

func (e fetchError) Error() string { return string(e) }

func safeFetchReason(err error) string {
	var fe fetchError
	if errors.As(err, &fe) {
		return string(fe)
	}
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return "the request ended first"
	}
	return "the fetch failed"
}

func (c *jwksCache) download(ctx context.Context, uri string) (*keySnapshot, error) {
	if why := checkJWKSURI(uri, c.devMode); why != "" {
		return nil, fetchError("jwks_uri " + why)
	}
	ctx, cancel := context.WithTimeout(ctx, fetchTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, uri, nil)
	if err != nil {
		return nil, fetchError("jwks_uri is not a valid URL")
	}
	req.Header.Set("Accept", "application/jwk-set+json, application/json")
	req.Header.Set("User-Agent", "oriel-identity")
	resp, err := c.client.Do(req)
	if err != nil {
		return nil, classifyFetchError(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 4096)) // lets the connection be reused
		return nil, fetchError(fmt.Sprintf("the key set URL answered HTTP %d", resp.StatusCode))
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxJWKSBytes+1))
	if err != nil {
		return nil, classifyFetchError(err)
	}
	if len(body) > maxJWKSBytes {
		return nil, fetchError("the key set is larger than 1 MB")
	}
	snap, err := parseKeySet(body)
	if err != nil {
		return nil, err
	}
	snap.expires = c.now().Add(cacheAge(resp.Header.Get("Cache-Control")))
	return snap, nil
}

func classifyFetchError(err error) error {
	switch {
	case errors.Is(err, errRedirectRefused):
		return fetchError("the key set URL redirected, and redirects are not followed")
	case errors.Is(err, errAddressNotAllowed):
		return fetchError("the key set URL resolves to an address that is not allowed (loopback, private or link-local)")
	case errors.Is(err, context.DeadlineExceeded) || isTimeout(err):
		return fetchError("the key set URL did not answer in time")
	}
	return fetchError("the key set URL could not be reached")
}

func isTimeout(err error) bool {
	var t interface{ Timeout() bool }
	return errors.As(err, &t) && t.Timeout()
}

// parseKeySet reads a JWK Set, keeping the keys that can verify signatures and skipping
// the rest (RFC 7517 §5: unknown or unsupported keys are ignored, not fatal).
func parseKeySet(body []byte) (*keySnapshot, error) {
	var set struct {
		Keys []json.RawMessage `json:"keys"`
	}
	if err := json.Unmarshal(body, &set); err != nil || set.Keys == nil {
		return nil, fetchError("the key set URL did not serve a JWK Set")
	}
	snap := &keySnapshot{byKid: map[string][]jwksKey{}}
	for _, raw := range set.Keys[:min(len(set.Keys), maxJWKSKeys)] {
		jk, why := parsePublicJWK(raw)
		if why != "" {
			continue
		}
		var ops struct {
			KeyOps []string `json:"key_ops"`
		}
		if json.Unmarshal(raw, &ops) != nil || (ops.KeyOps != nil && !slices.Contains(ops.KeyOps, "verify")) {
			continue // RFC 7517 §4.3: a key whose operations exclude verify is not for us
		}
		k := jwksKey{pub: jk.Key, alg: jk.Algorithm}
		if k.alg != "" {
			a := algorithmByName(k.alg)
			if a == nil || a.fits(k.pub) != "" {
				continue
			}
		} else if !fitsAnyAlgorithm(k.pub) {
			continue
		}
		snap.byKid[jk.KeyID] = append(snap.byKid[jk.KeyID], k)
	}
	return snap, nil
}

func fitsAnyAlgorithm(pub crypto.PublicKey) bool {
	switch pub.(type) {
	case *rsa.PublicKey, *ecdsa.PublicKey, ed25519.PublicKey:
	default:
		return false
	}
	for i := range algorithms {
		if algorithms[i].fits(pub) == "" {
			return true
		}
	}
	return false
}

// cacheAge reads max-age from a Cache-Control header, bounded; no-store and no-cache get
// the minimum, since a key set is needed to verify anything at all.
func cacheAge(header string) time.Duration {
	age := defaultCacheAge
	for directive := range strings.SplitSeq(header, ",") {
		directive = strings.ToLower(strings.TrimSpace(directive))
		switch {
		case directive == "no-store" || directive == "no-cache":
			return minCacheAge
		case strings.HasPrefix(directive, "max-age="):
			secs, err := strconv.ParseInt(strings.Trim(directive[len("max-age="):], `"`), 10, 64)
			if err != nil || secs < 0 {
				continue
			}
			if secs > int64(maxCacheAge/time.Second) {
				secs = int64(maxCacheAge / time.Second)
			}
			age = time.Duration(secs) * time.Second
		}
	}
	return min(max(age, minCacheAge), maxCacheAge)
}
