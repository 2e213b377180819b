package netstack

import (
	"errors"
	"net/netip"
	"slices"
	"testing"
	"time"

	"github.com/annal-db/annal/core/env"
)

func (n *node) resolve(name string) ([]string, error) {
	n.t.Helper()
	type result struct {
		addrs  []string
		err    error
		onLoop bool
	}
	res := make(chan result, 1)
	n.on(func() {
		n.net.Resolve(name, func(addrs []string, err error) { res <- result{addrs, err, n.loop.OnLoop()} })
	})
	select {
	case r := <-res:
		if !r.onLoop {
			n.t.Fatal("Resolve's done ran off the node's loop")
		}
		return r.addrs, r.err
	case <-time.After(guard):
		n.t.Fatalf("Resolve(%q) never completed", name)
		return nil, nil
	}
}

func TestResolve(t *testing.T) {
	a := newNode(t, "a", Options{ResolveTimeout: 2 * time.Second})
	addrs, err := a.resolve("127.0.0.1")
	if err != nil || !slices.Equal(addrs, []string{"127.0.0.1"}) {
		t.Fatalf("an IP literal resolved to %v, %v; want itself", addrs, err)
	}
	addrs, err = a.resolve("localhost")
	if err != nil || (!slices.Contains(addrs, "127.0.0.1") && !slices.Contains(addrs, "::1")) {
		t.Fatalf("localhost resolved to %v, %v; want a loopback address", addrs, err)
	}
	// The resolver answers .onion names itself (RFC 7686): no query leaves
	// the host.
	addrs, err = a.resolve("annal-test.onion")
	if !errors.Is(err, env.ErrNoSuchHost) || addrs != nil {
		t.Fatalf("a name DNS cannot have resolved to %v, %v; want env.ErrNoSuchHost", addrs, err)
	}
}

func TestInterfaceAddrsAreSortedWithLoopback(t *testing.T) {
	a := newNode(t, "a", Options{})
	addrs := a.net.InterfaceAddrs()
	if !slices.Contains(addrs, "127.0.0.1") {
		t.Fatalf("InterfaceAddrs %v lacks 127.0.0.1", addrs)
	}
	parsed := make([]netip.Addr, len(addrs))
	for i, s := range addrs {
		p, err := netip.ParseAddr(s)
		if err != nil {
			t.Fatalf("InterfaceAddrs gave %q, not an address", s)
		}
		parsed[i] = p
	}
	if !slices.IsSortedFunc(parsed, netip.Addr.Compare) || len(slices.Compact(slices.Clone(parsed))) != len(parsed) {
		t.Fatalf("InterfaceAddrs %v is not sorted without duplicates", addrs)
	}
	if again := a.net.InterfaceAddrs(); !slices.Equal(again, addrs) {
		t.Fatalf("InterfaceAddrs changed between calls: %v then %v", addrs, again)
	}
}
