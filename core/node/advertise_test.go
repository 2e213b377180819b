package node

import (
	"net/netip"
	"testing"
)

// A node bound to every interface advertises an address others can reach:
// not loopback, and not link-local (APIPA, or a host's 169.254 resolver
// address, sorts before private ones).
func TestFirstNonLoopbackSkipsLinkLocal(t *testing.T) {
	cases := []struct {
		bound string
		addrs []string
		want  string
	}{
		{"0.0.0.0", []string{"127.0.0.1", "169.254.20.10", "192.168.1.13"}, "192.168.1.13"},
		{"0.0.0.0", []string{"::1", "fe80::1", "10.0.0.5"}, "10.0.0.5"},
		{"0.0.0.0", []string{"127.0.0.1", "169.254.1.1"}, "0.0.0.0"},
		// 0.0.0.0 listens on IPv4 addresses only: an IPv6 address would
		// send every peer to a port nothing listens on.
		{"0.0.0.0", []string{"2001:db8::7"}, "0.0.0.0"},
		{"0.0.0.0", []string{"2001:db8::7", "10.0.0.5"}, "10.0.0.5"},
		// :: listens on both.
		{"::", []string{"2001:db8::7"}, "2001:db8::7"},
		{"::", []string{"::1", "10.0.0.5", "2001:db8::7"}, "10.0.0.5"},
	}
	for _, c := range cases {
		if got := firstNonLoopback(c.addrs, netip.MustParseAddr(c.bound)); got != c.want {
			t.Errorf("bound to %s on %v: advertises %s, want %s", c.bound, c.addrs, got, c.want)
		}
	}
}
