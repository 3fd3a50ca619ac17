package gateway

import (
	"net/http"
	"slices"
	"strings"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	errorsv1 "github.com/oriel-dev/oriel/gen/pb/oriel/errors/v1"
	"github.com/oriel-dev/oriel/platform/apierr"
)

// EmbedOriginHeader carries the host page's origin on calls the browser does not give an
// Origin of its own to: the frame page's same-origin calls, and callers that are not
// browsers.
const EmbedOriginHeader = "Oriel-Embed-Origin"

// What CORS allows: the API's methods and the headers the embed client sends, and the
// response headers it may read. Never credentials (cookies): the token is a header.
const (
	corsAllowMethods  = "GET, POST, PATCH, DELETE"
	corsAllowHeaders  = "Authorization, Content-Type, " + EmbedOriginHeader
	corsExposeHeaders = "RateLimit-Limit, RateLimit-Remaining, RateLimit-Reset, Retry-After, X-Request-Id"
	corsMaxAge        = "600"
)

// crossOrigin returns the Origin of a cross-origin browser call: one with an Origin and a
// Sec-Fetch-Site other than same-origin (or none, as older browsers send). "" means the
// call is same-origin or not from a browser.
func crossOrigin(r *http.Request) string {
	origin := r.Header.Get("Origin")
	if origin == "" || r.Header.Get("Sec-Fetch-Site") == "same-origin" {
		return ""
	}
	return origin
}

// originAllowed reports whether origin is exactly one of allowed: byte for byte, so no
// case folding, trailing slash, default port or suffix ever matches another origin, and
// the opaque origin "null" never does.
func originAllowed(origin string, allowed []string) bool {
	return origin != "" && origin != "null" && slices.Contains(allowed, origin)
}

// allowCORS answers a cross-origin call from an allowed origin.
func allowCORS(h http.Header, origin string) {
	h.Set("Access-Control-Allow-Origin", origin)
	h.Set("Access-Control-Expose-Headers", corsExposeHeaders)
}

// isPreflight reports whether r is a CORS preflight, which the edge answers itself.
func isPreflight(r *http.Request) bool {
	return r.Method == http.MethodOptions && r.Header.Get("Origin") != "" && r.Header.Get("Access-Control-Request-Method") != ""
}

// answerPreflight allows origin to make the API's calls for the next ten minutes.
func answerPreflight(w http.ResponseWriter, origin string) {
	h := w.Header()
	h.Set("Access-Control-Allow-Origin", origin)
	h.Set("Access-Control-Allow-Methods", corsAllowMethods)
	h.Set("Access-Control-Allow-Headers", corsAllowHeaders)
	h.Set("Access-Control-Max-Age", corsMaxAge)
	h.Add("Vary", "Access-Control-Request-Method, Access-Control-Request-Headers")
	w.WriteHeader(http.StatusNoContent)
}

// effectiveOrigin is the origin a call is made from, for an embed token bound to one:
// Oriel-Embed-Origin on the frame page's same-origin calls (its own Origin is the
// edge's), else the browser's Origin, else Oriel-Embed-Origin (callers that are not
// browsers). "" means the call names none.
//
// A same-origin call without Oriel-Embed-Origin is a page the edge itself serves (a
// --demo page, or a host app behind the same domain) calling with its own Origin, which
// a page cannot forge: that Origin is the one it calls from.
func effectiveOrigin(r *http.Request) string {
	if r.Header.Get("Sec-Fetch-Site") == "same-origin" {
		if o := r.Header.Get(EmbedOriginHeader); o != "" {
			return o
		}
		return r.Header.Get("Origin")
	}
	if o := r.Header.Get("Origin"); o != "" {
		return o
	}
	return r.Header.Get(EmbedOriginHeader)
}

// originRefused is the 403 of a call from an origin that may not make it.
func originRefused(w http.ResponseWriter, origin, why string) {
	msg := "calls from origin " + quoteOrigin(origin) + " are not allowed: " + why
	if origin == "" {
		msg = "this call names no origin: " + why
	}
	writeError(w, marshaler, status.Convert(apierr.New(codes.PermissionDenied,
		errorsv1.ErrorReason_ERROR_REASON_ORIGIN_NOT_ALLOWED, msg, "origin", origin)), 0)
}

// quoteOrigin bounds what of a caller's header goes into a message.
func quoteOrigin(o string) string {
	if len(o) > 256 {
		o = o[:256] + "…"
	}
	return `"` + o + `"`
}

// frameAncestors is the CSP frame-ancestors source list of a tenant's frame pages: its
// allowed origins, or 'none'. Origins are checked once more here, so that a value that is
// not a plain origin can never add a directive to the header.
func frameAncestors(allowed []string) string {
	var ok []string
	for _, o := range allowed {
		if o != "" && !strings.ContainsAny(o, " ;,'\"\t\r\n") && (strings.HasPrefix(o, "https://") || strings.HasPrefix(o, "http://")) {
			ok = append(ok, o)
		}
	}
	if len(ok) == 0 {
		return "'none'"
	}
	return strings.Join(ok, " ")
}
