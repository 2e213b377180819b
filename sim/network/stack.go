package network

import (
	"fmt"
	"math/rand/v2"
	"net/netip"
	"slices"

	"github.com/annal-db/annal/core/env"
	"github.com/annal-db/annal/sim/world"
)

// Stack is one process incarnation's sockets on a host: its listeners, its
// connections and its call channels. It implements env.Network. When the
// process dies (Kill) the host's kernel resets its connections.
type Stack struct {
	f         *Fabric
	host      *Host
	exec      world.Executor
	rng       *rand.Rand
	killed    bool
	ends      []*end // connections this process holds
	listeners []*listener
	channels  map[channelKey]*channel
}

var _ env.Network = (*Stack)(nil)

// Host is the host the stack runs on.
func (s *Stack) Host() *Host { return s.host }

// Killed reports whether the process died.
func (s *Stack) Killed() bool { return s.killed }

// Kill is the process's death with its host alive: its listeners close (dials
// to them are refused), each of its connections is reset (peers get
// env.ErrReset one link latency later) and no callback of it runs again.
func (s *Stack) Kill() {
	if !s.killed {
		s.die(true)
	}
}

func (s *Stack) die(reset bool) {
	s.killed = true
	for len(s.listeners) > 0 {
		s.listeners[len(s.listeners)-1].unbind()
	}
	for len(s.ends) > 0 {
		e := s.ends[len(s.ends)-1]
		if reset && e.state == stEstablished {
			e.rstTo(e.peer)
		}
		e.die(nil)
	}
	s.channels = nil
	h := s.host
	if i := slices.Index(h.stacks, s); i >= 0 {
		h.stacks = slices.Delete(h.stacks, i, i+1)
	}
}

func (s *Stack) addEnd(e *end) {
	e.stackIdx = len(s.ends)
	s.ends = append(s.ends, e)
}

func (s *Stack) removeEnd(e *end) {
	i, last := e.stackIdx, len(s.ends)-1
	s.ends[i] = s.ends[last]
	s.ends[i].stackIdx = i
	s.ends[last] = nil
	s.ends = s.ends[:last]
	e.stackIdx = -1
}

// later runs f on the process's loop, unless the process has died by then.
func (s *Stack) later(f func()) {
	s.exec.Exec(s.f.cfg.MessageCPU, world.InputFunc(func() {
		if !s.killed {
			f()
		}
	}))
}

// InterfaceAddrs implements env.Network: the host's addresses and
// 127.0.0.1, sorted.
func (s *Stack) InterfaceAddrs() []string { return slices.Clone(s.host.ifAddrs) }

// Resolve implements env.Network with the fabric's DNS table (SetDNS). IP
// literals resolve to themselves and "localhost" to 127.0.0.1.
func (s *Stack) Resolve(name string, done func(addrs []string, err error)) {
	var addrs []string
	var err error
	switch {
	case isIPLiteral(name):
		addrs = []string{name}
	case name == "localhost":
		addrs = []string{loopback.String()}
	default:
		if a := s.f.dns[name]; len(a) > 0 {
			addrs = slices.Clone(a)
		} else {
			err = fmt.Errorf("network: resolve %q: no DNS entry (the scenario sets them with SetDNS): %w", name, env.ErrNoSuchHost)
		}
	}
	s.f.rec(s.host, "resolve").Str("name", name).Int("addrs", int64(len(addrs))).End()
	s.later(func() { done(addrs, err) })
}

func isIPLiteral(s string) bool {
	_, err := netip.ParseAddr(s)
	return err == nil
}

// resolveAddr picks the address a connect to name goes to: the literal, or
// the first DNS answer.
func (f *Fabric) resolveAddr(name string) (netip.Addr, error) {
	if a, err := netip.ParseAddr(name); err == nil {
		return a.Unmap(), nil
	}
	if name == "localhost" {
		return loopback, nil
	}
	for _, s := range f.dns[name] {
		if a, err := netip.ParseAddr(s); err == nil {
			return a.Unmap(), nil
		}
	}
	return netip.Addr{}, fmt.Errorf("network: %q has no DNS entry: %w: %w", name, env.ErrUnreachable, env.ErrNoSuchHost)
}

// Listen implements env.Network. ep.Host is one of the host's addresses,
// 127.0.0.1, or 0.0.0.0 (also "" and "::") for all of them; port 0 picks a
// free one.
func (s *Stack) Listen(ep env.Endpoint, accept func(c env.Conn) env.ConnHandler) (env.Listener, error) {
	if accept == nil {
		panic("network: Listen with a nil accept function")
	}
	return s.listen(ep, accept, nil)
}

// Serve implements env.Network: a listener whose connections carry calls.
func (s *Stack) Serve(ep env.Endpoint, h env.RequestHandler) (env.Listener, error) {
	if h == nil {
		panic("network: Serve with a nil handler")
	}
	return s.listen(ep, nil, h)
}

func (s *Stack) listen(ep env.Endpoint, accept func(env.Conn) env.ConnHandler, serve env.RequestHandler) (*listener, error) {
	h := s.host
	if s.killed {
		return nil, fmt.Errorf("network: listen on %s by a process that was killed: %w", ep, env.ErrClosed)
	}
	var addr netip.Addr // invalid: all addresses
	switch ep.Host {
	case "", "0.0.0.0", "::":
	default:
		a, err := netip.ParseAddr(ep.Host)
		if err != nil || !h.hasAddr(a.Unmap()) {
			return nil, fmt.Errorf("network: listen on %s: host %s has the addresses %v (or give 0.0.0.0): %w",
				ep, h.name, h.ifAddrs, env.ErrAddrNotAvailable)
		}
		addr = a.Unmap()
	}
	port := ep.Port
	if port == 0 {
		p, ok := h.allocPort()
		if !ok {
			return nil, fmt.Errorf("network: listen on %s: host %s has no free port left: %w", ep, h.name, env.ErrAddrInUse)
		}
		h.releasePort(p, h.epoch) // held by the listener from here on
		port = p
	}
	for _, l := range h.listeners[port] {
		if !l.addr.IsValid() || !addr.IsValid() || l.addr == addr {
			return nil, fmt.Errorf("network: listen on %s: host %s has %s bound already: %w", ep, h.name, l.ep, env.ErrAddrInUse)
		}
	}
	l := &listener{st: s, addr: addr, port: port, accept: accept, serve: serve}
	l.ep = env.Endpoint{Host: "0.0.0.0", Port: port}
	if addr.IsValid() {
		l.ep.Host = addr.String()
	}
	h.listeners[port] = append(h.listeners[port], l)
	s.listeners = append(s.listeners, l)
	kind := "listen"
	if serve != nil {
		kind = "serve"
	}
	s.f.rec(h, kind).Str("addr", l.ep.String()).End()
	return l, nil
}

// listener is a bound endpoint.
type listener struct {
	st     *Stack
	addr   netip.Addr // invalid: all addresses
	port   uint16
	ep     env.Endpoint
	accept func(env.Conn) env.ConnHandler
	serve  env.RequestHandler
	closed bool
	conns  []*end // a Serve listener's accepted channels, closed with it
}

// Addr implements env.Listener.
func (l *listener) Addr() env.Endpoint { return l.ep }

// Close implements env.Listener: later SYNs are refused. Connections a
// stream listener accepted stay; a Serve listener's channels close
// (in-flight replies are lost and their callers see the channel break).
func (l *listener) Close() {
	if l.closed {
		return
	}
	l.unbind()
	l.st.f.rec(l.st.host, "unlisten").Str("addr", l.ep.String()).End()
	conns := l.conns
	l.conns = nil
	for _, e := range conns {
		e.Close()
	}
}

func (l *listener) unbind() {
	l.closed = true
	h := l.st.host
	if ls := h.listeners[l.port]; len(ls) > 0 {
		if i := slices.Index(ls, l); i >= 0 {
			ls = slices.Delete(ls, i, i+1)
			if len(ls) == 0 {
				delete(h.listeners, l.port)
			} else {
				h.listeners[l.port] = ls
			}
		}
	}
	if i := slices.Index(l.st.listeners, l); i >= 0 {
		l.st.listeners = slices.Delete(l.st.listeners, i, i+1)
	}
}

// track remembers an accepted channel, forgetting those that ended.
func (l *listener) track(e *end) {
	l.conns = slices.DeleteFunc(l.conns, func(c *end) bool { return c.state == stDead })
	l.conns = append(l.conns, e)
}

// Connect implements env.Network. to.Host is an IP literal or a DNS name
// (its first address is dialed).
func (s *Stack) Connect(to env.Endpoint, h env.ConnHandler) env.Conn {
	if h == nil {
		panic("network: Connect with a nil handler")
	}
	return s.connect(to, h, false)
}

func (s *Stack) connect(to env.Endpoint, h env.ConnHandler, internal bool) *end {
	f := s.f
	host := s.host
	c := f.newEnd(s, host, true)
	c.handler = h
	c.visible = true
	c.internal = internal
	c.state = stSynSent
	if s.killed {
		c.state = stDead
		c.deathErr = errSendClosed
		return c
	}
	f.stats.Connects++
	s.addEnd(c)
	addr, err := f.resolveAddr(to.Host)
	if err == nil && to.Port == 0 {
		err = fmt.Errorf("network: port 0 cannot be dialed: %w", env.ErrUnreachable)
	}
	if err != nil {
		c.local = env.Endpoint{Host: host.primary.String()}
		c.remote = to
		c.localStr, c.remoteStr = c.local.String(), to.String()
		c.failedConnect(fmt.Errorf("network: connect to %s: %w", to, err))
		return c
	}
	port, ok := host.allocPort()
	if !ok {
		c.local = env.Endpoint{Host: host.primary.String()}
		c.remote = to
		c.localStr, c.remoteStr = c.local.String(), to.String()
		c.failedConnect(fmt.Errorf("network: connect to %s: host %s has no free ephemeral port: %w: %w", to, host.name, env.ErrUnreachable, env.ErrAddrNotAvailable))
		return c
	}
	c.port = port
	c.rt = f.route(host, addr, to.Port, port)
	c.setEndpoints(netip.AddrPortFrom(c.rt.srcLocal, port), netip.AddrPortFrom(addr, to.Port))
	if c.rt.reason == dropNone {
		c.out = f.link(host, c.rt.dst)
	}
	f.rec(host, "connect").Uint("conn", c.id).Str("local", c.localStr).Str("remote", c.remoteStr).End()
	f.w.After(f.cfg.ConnectTimeout, c, pack(evConnectTimeout, 0, 0))
	c.sendSyn()
	return c
}
