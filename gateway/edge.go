package gateway

import (
	"bytes"
	"context"
	"io"
	"math"
	"net/http"
	"strconv"
	"strings"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	errorsv1 "github.com/oriel-dev/oriel/gen/pb/oriel/errors/v1"
	"github.com/oriel-dev/oriel/platform/apierr"
	"github.com/oriel-dev/oriel/platform/auth"
)

// pathTenant is the tenant a path names, `/v1/tenants/{tenant}/…` or
// `/embed/v1/tenants/{tenant}/…`, read from the escaped path as the router reads it, so
// an encoded slash or colon can never make the edge check one tenant while the service
// serves another (such a "tenant" matches none).
func pathTenant(r *http.Request) string {
	p := r.URL.EscapedPath()
	for _, prefix := range []string{"/v1/tenants/", "/embed/v1/tenants/"} {
		if rest, ok := strings.CutPrefix(p, prefix); ok {
			if i := strings.IndexAny(rest, "/:"); i >= 0 {
				rest = rest[:i]
			}
			return rest
		}
	}
	return ""
}

// protected wraps the API (and the embed theme, which answers like it) with the edge's
// checks. The order matters:
//
//  1. Headers grpc-gateway would turn into metadata or a deadline are dropped: the edge
//     decides those.
//  2. A CORS preflight is answered here, before authentication: browsers send it without
//     the credential, so only the path's tenant can say which origins may call.
//  3. A cross-origin call to a path that names a tenant must come from one of the
//     tenant's origins before its credential is even checked: identity is not asked on
//     behalf of origins that may not call.
//  4. The credential is introspected (API keys and embed tokens; anything else is the
//     service's to judge), so the tenant of a path that names none is the credential's.
//  5. Origins again with that tenant, then an embed token's bound origin.
//  6. Rate limits, last of the checks: they need the credential and the tenant's plan,
//     and calls refused above spend no tokens.
//  7. The body limit and the call deadline, for what is forwarded.
func (g *Gateway) protected(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ctx := r.Context()
		// Read before the forwarding headers go: a trusted proxy's X-Forwarded-For says who
		// the client is.
		clientIP := g.proxies.clientIP(r)
		// grpc-gateway derives metadata from these (x-forwarded-*, a client-set
		// deadline); the edge decides them itself.
		for _, h := range []string{"X-Forwarded-For", "X-Forwarded-Host", "Forwarded", "Grpc-Timeout"} {
			r.Header.Del(h)
		}
		r.Host = ""
		w.Header().Add("Vary", "Origin")

		tenant := pathTenant(r)
		origin := crossOrigin(r)
		noteCaller(ctx, tenant, "")

		if isPreflight(r) {
			g.preflight(w, r, tenant)
			return
		}

		var settings tenantSettings
		var settingsErr error
		looked := false
		lookup := func() {
			if !looked && tenant != "" {
				settings, settingsErr = g.tenants.lookup(ctx, tenant)
				looked = true
			}
		}
		if origin != "" && tenant != "" {
			lookup()
			if settingsErr != nil {
				g.unavailableSettings(w, r, tenant, settingsErr)
				return
			}
			if !originAllowed(origin, settings.settings.GetAllowedWebOrigins()) {
				originRefused(w, origin, "it is not one of the tenant's allowed web origins")
				return
			}
			allowCORS(w.Header(), origin)
		}

		p, err := g.authenticate(ctx, r)
		if err != nil {
			// What the edge says of a credential (not valid; cannot be checked now) tells
			// an origin nothing it could not learn with the credential itself, so any
			// origin may read it: the embed client must see its token refused.
			if origin != "" && origin != "null" {
				allowCORS(w.Header(), origin)
			}
			writeStatus(w, err)
			return
		}
		credentialName, credentialTenant := "", ""
		if p != nil {
			ctx = auth.NewContext(ctx, p)
			credentialName, credentialTenant = p.Credential, p.Tenant
			if tenant == "" {
				tenant = p.Tenant
			}
		}
		noteCaller(ctx, tenant, credentialName)
		lookup()

		bound := ""
		if p != nil && p.EmbedSession != nil {
			bound = p.EmbedSession.AllowedOrigin
		}
		if settingsErr != nil {
			if origin != "" || bound != "" {
				g.unavailableSettings(w, r, tenant, settingsErr)
				return
			}
			// Only the plan depends on them: the default plan will do.
			g.log.WarnContext(ctx, "tenant settings could not be read; the default rate plan applies", "tenant", tenant, "error", settingsErr)
		}
		if origin != "" && w.Header().Get("Access-Control-Allow-Origin") == "" {
			if tenant == "" || !originAllowed(origin, settings.settings.GetAllowedWebOrigins()) {
				originRefused(w, origin, "it is not one of the tenant's allowed web origins")
				return
			}
			allowCORS(w.Header(), origin)
		}
		if bound != "" {
			switch from := effectiveOrigin(r); {
			case from == "":
				originRefused(w, "", "the embed token is bound to an origin; call from it (Origin) or name it in "+EmbedOriginHeader)
				return
			case from != bound:
				originRefused(w, from, "the embed token is bound to another origin")
				return
			case !originAllowed(from, settings.settings.GetAllowedWebOrigins()):
				originRefused(w, from, "it is not one of the tenant's allowed web origins")
				return
			}
		}

		if !g.withinRateLimits(w, r, settings, tenant, credentialName, credentialTenant, clientIP) {
			return
		}

		if r.ContentLength > g.cfg.MaxBodyBytes {
			g.tooLarge(w)
			return
		}
		if r.Body != nil && r.Body != http.NoBody {
			// Buffered so that an oversized chunked body is a 413 too, not a decode error;
			// the limit bounds the memory this takes.
			body, err := io.ReadAll(io.LimitReader(r.Body, g.cfg.MaxBodyBytes+1))
			if err != nil {
				writeError(w, marshaler, status.Convert(apierr.New(codes.InvalidArgument,
					errorsv1.ErrorReason_ERROR_REASON_INVALID_REQUEST, "the request body could not be read")), 0)
				return
			}
			if int64(len(body)) > g.cfg.MaxBodyBytes {
				g.tooLarge(w)
				return
			}
			r.Body = io.NopCloser(bytes.NewReader(body))
		}

		// Streams get the stream cap, every other call the call cap: watches (AIP's
		// `:watch` custom methods) last as long as what they watch, and a query streams its
		// rows for as long as the datagateway lets it run (its --query-timeout, or the
		// request's own timeout), which is longer than a call should.
		limit := g.cfg.CallTimeout
		if isStream(r.URL.Path) {
			limit = g.cfg.StreamTimeout
		}
		ctx, cancel := context.WithTimeout(ctx, limit)
		defer cancel()
		next.ServeHTTP(w, r.WithContext(ctx))
	})
}

// preflight answers a CORS preflight: 204 for an origin the path's tenant allows. A path
// without a tenant (…/tokens:introspect) gets its tenant from the credential, which a
// preflight does not carry, so any origin may send the call itself, which is then checked
// against the credential's tenant before it goes anywhere.
func (g *Gateway) preflight(w http.ResponseWriter, r *http.Request, tenant string) {
	origin := r.Header.Get("Origin")
	if origin == "null" {
		originRefused(w, origin, "opaque origins may not call")
		return
	}
	if tenant != "" {
		settings, err := g.tenants.lookup(r.Context(), tenant)
		if err != nil {
			g.unavailableSettings(w, r, tenant, err)
			return
		}
		if !originAllowed(origin, settings.settings.GetAllowedWebOrigins()) {
			originRefused(w, origin, "it is not one of the tenant's allowed web origins")
			return
		}
	}
	answerPreflight(w, origin)
}

func (g *Gateway) unavailableSettings(w http.ResponseWriter, r *http.Request, tenant string, err error) {
	g.log.WarnContext(r.Context(), "tenant settings could not be read", "tenant", tenant, "error", err)
	writeStatus(w, apierr.Unavailable("the tenant's settings cannot be read right now; retry"))
}

// withinRateLimits takes a token from the call's credential bucket and its tenant's, sets
// the RateLimit headers of the tighter one, and answers 429 when either is empty.
func (g *Gateway) withinRateLimits(w http.ResponseWriter, r *http.Request, settings tenantSettings, tenant, credential, credentialTenant, ip string) bool {
	plan, ok := g.plans[settings.settings.GetPlan()]
	if !ok {
		plan = g.plans[DefaultRatePlan]
	}
	if !settings.exists {
		// A tenant that does not exist has no bucket: made-up names must not fill Redis.
		tenant = ""
	}
	credentialKey, tenantKey := bucketKeys(credential, credentialTenant, ip, tenant)
	v := g.takeTokens(r.Context(), rateBuckets{credentialKey: credentialKey, tenantKey: tenantKey, plan: plan})
	if !v.ok {
		return true
	}
	h := w.Header()
	h.Set("RateLimit-Limit", strconv.Itoa(v.decision.Limit))
	h.Set("RateLimit-Remaining", strconv.Itoa(v.decision.Remaining))
	h.Set("RateLimit-Reset", ceilSeconds(v.decision.ResetAfter))
	if v.decision.Allowed {
		return true
	}
	// Whole seconds, rounded up and at least one: a client that waits that long finds a
	// token.
	retry := strconv.FormatInt(max(int64(math.Ceil(v.decision.RetryAfter.Seconds())), 1), 10)
	h.Set("Retry-After", retry)
	writeStatus(w, apierr.New(codes.ResourceExhausted, errorsv1.ErrorReason_ERROR_REASON_RATE_LIMITED,
		"too many calls for the "+v.limit+"'s rate limit; retry after "+retry+" s",
		"limit", v.limit, "retry_after_seconds", retry))
	return false
}
