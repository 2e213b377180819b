package node

import "testing"

// A node bound to every interface advertises an address others can reach:
// not loopback, and not link-local (APIPA, or a host's 169.254 resolver
// address, sorts before private ones).
func TestFirstNonLoopbackSkipsLinkLocal(t *testing.T) {
	cases := []struct {
		addrs []string
		want  string
	}{
		{[]string{"127.0.0.1", "169.254.20.10", "192.168.1.13"}, "192.168.1.13"},
		{[]string{"::1", "fe80::1", "10.0.0.5"}, "10.0.0.5"},
		{[]string{"127.0.0.1", "169.254.1.1"}, "0.0.0.0"},
		{[]string{"2001:db8::7"}, "2001:db8::7"},
	}
	for _, c := range cases {
		if got := firstNonLoopback(c.addrs, "0.0.0.0"); got != c.want {
			t.Errorf("%v: advertises %s, want %s", c.addrs, got, c.want)
		}
	}
}
