package gateway

import (
	"net/http"
	"strings"
	"testing"
)

func TestClientIPBelievesOnlyTrustedProxies(t *testing.T) {
	proxies, err := parseTrustedProxies([]string{"10.0.0.0/8", "192.0.2.7", "2001:db8::/32"})
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name, peer string
		forwarded  []string
		want       string
	}{
		{"a direct caller is its peer", "203.0.113.9:5000", nil, "203.0.113.9"},
		// The attack: a client rotating X-Forwarded-For to get a fresh bucket every call.
		{"a direct caller's own X-Forwarded-For is ignored", "203.0.113.9:5000", []string{"198.51.100.1"}, "203.0.113.9"},
		{"a trusted proxy names the client", "10.1.2.3:443", []string{"198.51.100.1"}, "198.51.100.1"},
		{"entries the client wrote left of the proxies' are ignored", "10.1.2.3:443", []string{"1.1.1.1, 198.51.100.1, 10.9.9.9"}, "198.51.100.1"},
		{"several header lines read as one list", "192.0.2.7:443", []string{"1.1.1.1", "198.51.100.1", "10.9.9.9"}, "198.51.100.1"},
		{"only proxies: the leftmost", "10.1.2.3:443", []string{"10.4.4.4, 10.5.5.5"}, "10.4.4.4"},
		{"a malformed entry stops at the last proxy", "10.1.2.3:443", []string{"198.51.100.1, not-an-ip, 10.9.9.9"}, "10.9.9.9"},
		{"a trusted proxy without the header is the client", "10.1.2.3:443", nil, "10.1.2.3"},
		{"IPv6", "[2001:db8::1]:443", []string{"2001:db9::5"}, "2001:db9::5"},
		{"IPv4-mapped IPv6 peers are IPv4", "[::ffff:10.1.2.3]:443", []string{"::ffff:198.51.100.1"}, "198.51.100.1"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r, _ := http.NewRequest(http.MethodGet, "/", nil)
			r.RemoteAddr = tc.peer
			for _, f := range tc.forwarded {
				r.Header.Add("X-Forwarded-For", f)
			}
			if got := proxies.clientIP(r); got != tc.want {
				t.Fatalf("clientIP = %s, want %s", got, tc.want)
			}
		})
	}
	t.Run("without trusted proxies the header is never read", func(t *testing.T) {
		r, _ := http.NewRequest(http.MethodGet, "/", nil)
		r.RemoteAddr = "10.1.2.3:443"
		r.Header.Set("X-Forwarded-For", "198.51.100.1")
		if got := trustedProxies(nil).clientIP(r); got != "10.1.2.3" {
			t.Fatalf("clientIP = %s, want the peer", got)
		}
	})
}

func TestTrustedProxiesFlagIsValidated(t *testing.T) {
	for _, bad := range []string{"10.0.0.0/33", "example.com", "10.0.0", "::1/129"} {
		_, err := parseTrustedProxies([]string{bad})
		if err == nil || !strings.Contains(err.Error(), "--trusted-proxies") || !strings.Contains(err.Error(), bad) {
			t.Errorf("parseTrustedProxies(%q) = %v, want an error naming the flag and the value", bad, err)
		}
	}
	if p, err := parseTrustedProxies([]string{" 10.1.2.3/8 ", "", "::1"}); err != nil || len(p) != 2 || p[0].String() != "10.0.0.0/8" {
		t.Errorf("parseTrustedProxies = %v, %v", p, err)
	}
}
