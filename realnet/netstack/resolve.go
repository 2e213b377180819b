package netstack

import (
	"context"
	"errors"
	"net"
	"net/netip"
	"slices"
	"strconv"

	"github.com/annal-db/annal/core/env"
)

// Resolve implements env.Network with the host's resolver, bounded by
// Options.ResolveTimeout. An IP literal resolves to itself. Errors wrap
// env.ErrNoSuchHost when DNS has no address for the name, env.ErrTimeout
// when it did not answer in time, env.ErrUnreachable otherwise.
func (s *Stack) Resolve(name string, done func(addrs []string, err error)) {
	if done == nil {
		panic("netstack: Resolve needs a done function; got nil")
	}
	s.spawn(func() {
		ctx, cancel := context.WithTimeout(s.ctx, s.opts.ResolveTimeout)
		addrs, err := net.DefaultResolver.LookupHost(ctx, name)
		cancel()
		if err == nil && len(addrs) == 0 {
			err = errors.New("the resolver returned no address")
		}
		if err != nil {
			addrs = nil
			err = &NetError{Op: "resolve " + strconv.Quote(name), Err: classifyResolve(err), Cause: err}
		}
		s.deliver(func() { done(addrs, err) })
	})
}

func classifyResolve(err error) error {
	var dns *net.DNSError
	switch {
	case errors.As(err, &dns) && dns.IsNotFound:
		return env.ErrNoSuchHost
	case errors.Is(err, context.DeadlineExceeded), isTimeout(err):
		return env.ErrTimeout
	case errors.As(err, &dns):
		return env.ErrUnreachable
	default:
		return env.ErrNoSuchHost
	}
}

// InterfaceAddrs implements env.Network: the addresses of the host's
// interfaces that are up, loopback included, in address order (IPv4
// first). IPv6 link-local addresses are left out: without their zone
// nothing can bind or dial them.
func (s *Stack) InterfaceAddrs() []string {
	ifs, err := net.Interfaces()
	if err != nil {
		s.logf(env.LevelWarn, "netstack: listing the host's interfaces: %v", err)
		return nil
	}
	var addrs []netip.Addr
	for _, ifc := range ifs {
		if ifc.Flags&net.FlagUp == 0 {
			continue
		}
		as, err := ifc.Addrs()
		if err != nil {
			s.logf(env.LevelWarn, "netstack: listing the addresses of interface %s: %v", ifc.Name, err)
			continue
		}
		for _, a := range as {
			pfx, err := netip.ParsePrefix(a.String())
			if err != nil {
				continue
			}
			ip := pfx.Addr().Unmap()
			if ip.Is6() && ip.IsLinkLocalUnicast() {
				continue
			}
			addrs = append(addrs, ip)
		}
	}
	slices.SortFunc(addrs, netip.Addr.Compare)
	addrs = slices.Compact(addrs)
	out := make([]string, len(addrs))
	for i, a := range addrs {
		out[i] = a.String()
	}
	return out
}
