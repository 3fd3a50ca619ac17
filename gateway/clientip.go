package gateway

import (
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"strings"
)

// trustedProxies are the load balancers in front of the edge (--trusted-proxies): only
// their X-Forwarded-For is believed.
type trustedProxies []netip.Prefix

// parseTrustedProxies reads --trusted-proxies: CIDRs, or single addresses.
func parseTrustedProxies(values []string) (trustedProxies, error) {
	var out trustedProxies
	for _, v := range values {
		v = strings.TrimSpace(v)
		if v == "" {
			continue
		}
		if !strings.Contains(v, "/") {
			a, err := netip.ParseAddr(v)
			if err != nil {
				return nil, fmt.Errorf("--trusted-proxies: %q is not an address or a CIDR such as 10.0.0.0/8", v)
			}
			out = append(out, netip.PrefixFrom(a.Unmap(), a.Unmap().BitLen()))
			continue
		}
		p, err := netip.ParsePrefix(v)
		if err != nil {
			return nil, fmt.Errorf("--trusted-proxies: %q is not an address or a CIDR such as 10.0.0.0/8", v)
		}
		out = append(out, p.Masked())
	}
	return out, nil
}

func (t trustedProxies) trusts(a netip.Addr) bool {
	a = a.Unmap()
	for _, p := range t {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

// clientIP is the address a call comes from: the connection's peer, unless the peer is a
// trusted proxy, in which case X-Forwarded-For is read from the right (each proxy appends
// whom it heard from) to the first address no trusted proxy has: entries further left
// were written by the client itself and prove nothing. A malformed entry ends the walk
// at the last address known to be a proxy's.
func (t trustedProxies) clientIP(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		host = r.RemoteAddr
	}
	peer, err := netip.ParseAddr(host)
	if err != nil || len(t) == 0 || !t.trusts(peer) {
		return host
	}
	client := peer
	forwarded := r.Header.Values("X-Forwarded-For")
	for i := len(forwarded) - 1; i >= 0; i-- {
		hops := strings.Split(forwarded[i], ",")
		for j := len(hops) - 1; j >= 0; j-- {
			a, err := netip.ParseAddr(strings.TrimSpace(hops[j]))
			if err != nil {
				return client.Unmap().String()
			}
			client = a
			if !t.trusts(a) {
				return a.Unmap().String()
			}
		}
	}
	return client.Unmap().String()
}
