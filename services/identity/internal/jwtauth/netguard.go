package jwtauth

import (
	"crypto/tls"
	"errors"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"strings"
	"syscall"
	"time"
)

// The JWKS client is the one place where a tenant's configuration makes Oriel open a
// connection, so it is built to be useless as an SSRF tool:
//
//   - The address is checked in the dialer's Control hook, after DNS resolution, on the
//     very address being connected to; a name that resolves (or rebinds) to 127.0.0.1 or
//     10.0.0.1 is refused, and no connection is opened. A URL check alone could not see
//     that.
//   - No proxy: a proxy would be dialed instead of the target and bypass the check.
//   - No redirects, so a public URL cannot bounce the request inward.
//   - Tight timeouts and a body limit, so a slow or huge answer costs little.
const (
	dialTimeout  = 3 * time.Second
	fetchTimeout = 5 * time.Second
)

var (
	errRedirectRefused   = errors.New("jwtauth: redirects are not followed")
	errAddressNotAllowed = errors.New("jwtauth: address not allowed")
)

func refuseRedirect(*http.Request, []*http.Request) error { return errRedirectRefused }

// hardenedClient is the default JWKS client. In dev mode the address guard is off, since
// `oriel dev` serves test key sets on loopback.
func hardenedClient(devMode bool) *http.Client {
	dialer := &net.Dialer{Timeout: dialTimeout, KeepAlive: 30 * time.Second}
	if !devMode {
		dialer.Control = guardAddress
	}
	transport := &http.Transport{
		Proxy:                  nil,
		DialContext:            dialer.DialContext,
		TLSClientConfig:        &tls.Config{MinVersion: tls.VersionTLS12},
		TLSHandshakeTimeout:    dialTimeout,
		ResponseHeaderTimeout:  fetchTimeout,
		MaxResponseHeaderBytes: 64 << 10,
		MaxIdleConnsPerHost:    2,
		IdleConnTimeout:        90 * time.Second,
		ForceAttemptHTTP2:      true,
	}
	return &http.Client{Transport: transport, Timeout: fetchTimeout, CheckRedirect: refuseRedirect}
}

// guardAddress is a net.Dialer Control hook: address is the resolved "ip:port" about to be
// connected to.
func guardAddress(_, address string, _ syscall.RawConn) error {
	ap, err := netip.ParseAddrPort(address)
	if err != nil || !isPublicAddr(ap.Addr()) {
		return errAddressNotAllowed
	}
	return nil
}

// refusedPrefixes are ranges no ISV key set lives in, beyond what netip's predicates
// cover (loopback, private, link-local, multicast, unspecified).
var refusedPrefixes = func() []netip.Prefix {
	var out []netip.Prefix
	for _, s := range []string{
		"0.0.0.0/8",       // "this network"
		"100.64.0.0/10",   // carrier-grade NAT (RFC 6598), often a cloud's internal network
		"192.0.0.0/24",    // IETF protocol assignments
		"192.0.2.0/24",    // documentation
		"198.18.0.0/15",   // benchmarking
		"198.51.100.0/24", // documentation
		"203.0.113.0/24",  // documentation
		"240.0.0.0/4",     // reserved, and the broadcast address
		"64:ff9b:1::/48",  // local-use NAT64 (RFC 8215)
		"100::/64",        // discard
		"2001::/32",       // Teredo: tunnels to arbitrary IPv4
		"2001:db8::/32",   // documentation
		"fec0::/10",       // deprecated site-local
	} {
		out = append(out, netip.MustParsePrefix(s))
	}
	return out
}()

var (
	nat64Prefix = netip.MustParsePrefix("64:ff9b::/96") // RFC 6052: the IPv4 address is embedded
	sixToFour   = netip.MustParsePrefix("2002::/16")    // RFC 3056: likewise
)

// isPublicAddr reports whether a JWKS fetch may connect to a: not loopback, private
// (RFC 1918, fc00::/7), link-local, unspecified, CGNAT, multicast or reserved, also when
// the IPv4 address hides inside an IPv6 one.
func isPublicAddr(a netip.Addr) bool {
	a = a.Unmap()
	if !a.IsValid() || a.Zone() != "" || a.IsUnspecified() || a.IsLoopback() || a.IsPrivate() ||
		a.IsLinkLocalUnicast() || a.IsLinkLocalMulticast() || a.IsInterfaceLocalMulticast() || a.IsMulticast() {
		return false
	}
	for _, p := range refusedPrefixes {
		if p.Contains(a) {
			return false
		}
	}
	if nat64Prefix.Contains(a) || sixToFour.Contains(a) {
		b := a.As16()
		var v4 [4]byte
		if nat64Prefix.Contains(a) {
			copy(v4[:], b[12:16])
		} else {
			copy(v4[:], b[2:6])
		}
		return isPublicAddr(netip.AddrFrom4(v4))
	}
	return true
}

// checkJWKSURI says what is wrong with a jwks_uri, or "" when nothing is. It runs both on
// CheckConfig and before every fetch, so that a config written in dev mode cannot fetch
// over http in production.
func checkJWKSURI(uri string, devMode bool) string {
	u, err := url.Parse(uri)
	if err != nil || u.Opaque != "" {
		return "is not a valid URL"
	}
	if u.Scheme != "https" && u.Scheme != "http" {
		return "must be an https:// URL"
	}
	if u.User != nil {
		return "must not contain a user name or password"
	}
	if u.Fragment != "" || strings.Contains(uri, "#") {
		return "must not contain a fragment"
	}
	host := u.Hostname()
	if host == "" {
		return "must name a host"
	}
	switch u.Scheme {
	case "https":
		if devMode {
			return ""
		}
		if isLocalName(host) {
			return "must not point at a loopback, private or link-local address (allowed in dev mode only)"
		}
		if a, err := netip.ParseAddr(host); err == nil && !isPublicAddr(a) {
			return "must not point at a loopback, private or link-local address (allowed in dev mode only)"
		}
		return ""
	case "http":
		if !devMode {
			return "must be an https:// URL (http:// is accepted for localhost in dev mode only)"
		}
		if host != "localhost" && host != "127.0.0.1" && host != "::1" {
			return "may use http:// only for localhost, 127.0.0.1 or ::1; use https://"
		}
		return ""
	}
	return "must be an https:// URL"
}

func isLocalName(host string) bool {
	host = strings.TrimSuffix(strings.ToLower(host), ".")
	return host == "localhost" || strings.HasSuffix(host, ".localhost")
}
