package netstack

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"github.com/annal-db/annal/core/env"
)

// bind opens a TCP listener on ep; an empty host means every address.
// TCP keepalive is off on every connection it accepts.
func (s *Stack) bind(ep env.Endpoint) (*net.TCPListener, env.Endpoint, error) {
	host := ep.Host
	if host == "" {
		host = "0.0.0.0"
	}
	want := env.Endpoint{Host: host, Port: ep.Port}
	s.mu.Lock()
	closed := s.closed
	s.mu.Unlock()
	if closed {
		return nil, want, &NetError{Op: "listen", Local: want.String(), Err: env.ErrClosed, Cause: errors.New("the node's network is closed")}
	}
	lc := net.ListenConfig{KeepAlive: -1}
	ln, err := lc.Listen(context.Background(), listenNetwork(host), want.String())
	if err != nil {
		return nil, want, &NetError{Op: "listen", Local: want.String(), Err: classifyListen(err), Cause: err}
	}
	tl := ln.(*net.TCPListener)
	want.Port = uint16(tl.Addr().(*net.TCPAddr).Port)
	return tl, want, nil
}

// listenNetwork is the network to bind host on. An IPv4 address, 0.0.0.0
// included, binds IPv4 only: Go's "tcp" on 0.0.0.0 is a dual-stack socket
// that also takes every IPv6 address of the host, which EventStoreDB's
// 0.0.0.0 (and an operator's IPv4 firewall rules) do not cover. :: binds
// both, as EventStoreDB's IPv6 "any" does.
func listenNetwork(host string) string {
	if a, err := netip.ParseAddr(host); err == nil && a.Is4() {
		return "tcp4"
	}
	return "tcp"
}

// Listen implements env.Network: a replication-port listener. ep.Host may
// be an address of this host, 0.0.0.0 (or empty) for all of them; port 0
// picks a free one, which Addr reports.
func (s *Stack) Listen(ep env.Endpoint, accept func(c env.Conn) env.ConnHandler) (env.Listener, error) {
	if accept == nil {
		panic("netstack: Listen needs an accept function; got nil")
	}
	ln, bound, err := s.bind(ep)
	if err != nil {
		return nil, err
	}
	l := &streamListener{s: s, ln: ln, ep: bound, accept: accept, handshakes: make(chan struct{}, maxPendingHandshakes)}
	s.mu.Lock()
	closed := s.closed
	if !closed {
		s.listeners[l] = struct{}{}
	}
	s.mu.Unlock()
	if closed || !s.spawn(l.run) {
		_ = ln.Close()
		return nil, &NetError{Op: "listen", Local: bound.String(), Err: env.ErrClosed, Cause: errors.New("the node's network is closed")}
	}
	return l, nil
}

// streamListener accepts replication connections.
type streamListener struct {
	s      *Stack
	ln     *net.TCPListener
	ep     env.Endpoint
	accept func(env.Conn) env.ConnHandler
	closed atomic.Bool
	// handshakes holds a token per TLS handshake in progress.
	handshakes chan struct{}
	// pendingFrom counts the handshakes in progress per remote address,
	// so that one host holding connections open cannot take every slot
	// and lock the cluster's nodes out.
	mu          sync.Mutex
	pendingFrom map[netip.Addr]int
}

// maxPendingHandshakesPerHost bounds one remote address's share of
// maxPendingHandshakes: a node dials its leader once per reconnect, so a
// few are plenty even for several nodes behind one address.
const maxPendingHandshakesPerHost = 8

// admitHandshake takes a per-host slot for a handshake from addr.
func (l *streamListener) admitHandshake(addr netip.Addr) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.pendingFrom[addr] >= maxPendingHandshakesPerHost {
		return false
	}
	if l.pendingFrom == nil {
		l.pendingFrom = map[netip.Addr]int{}
	}
	l.pendingFrom[addr]++
	return true
}

func (l *streamListener) handshakeDone(addr netip.Addr) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.pendingFrom[addr]--; l.pendingFrom[addr] <= 0 {
		delete(l.pendingFrom, addr)
	}
}

// Addr implements env.Listener.
func (l *streamListener) Addr() env.Endpoint { return l.ep }

// Close implements env.Listener: no more connections are accepted (dials
// are refused); those accepted already stay.
func (l *streamListener) Close() {
	if l.closed.Swap(true) {
		return
	}
	_ = l.ln.Close()
	l.s.mu.Lock()
	delete(l.s.listeners, l)
	l.s.mu.Unlock()
}

func (l *streamListener) run() {
	var backoff time.Duration
	for {
		nc, err := l.ln.AcceptTCP()
		if err != nil {
			if l.closed.Load() || errors.Is(err, net.ErrClosed) {
				return
			}
			// Out of file descriptors and the like: wait and retry rather
			// than spin or give up the port.
			backoff = min(max(2*backoff, 5*time.Millisecond), time.Second)
			l.s.logf(env.LevelWarn, "netstack: accept on %s: %v; retrying in %v", l.ep, err, backoff)
			time.Sleep(backoff)
			continue
		}
		backoff = 0
		_ = nc.SetNoDelay(true)
		if l.s.opts.TLS == nil {
			if !l.serve(nc, nil) {
				return
			}
			continue
		}
		// The handshake runs on its own goroutine, so that a slow or
		// silent peer does not hold up the next accept; pending ones are
		// bounded.
		from := nc.RemoteAddr().(*net.TCPAddr).AddrPort().Addr().Unmap()
		if !l.admitHandshake(from) {
			l.s.logf(env.LevelWarn, "netstack: replication port %s: %d TLS handshakes from %v already pending; closing its new connection",
				l.ep, maxPendingHandshakesPerHost, from)
			_ = nc.Close()
			continue
		}
		select {
		case l.handshakes <- struct{}{}:
		default:
			l.handshakeDone(from)
			l.s.logf(env.LevelWarn, "netstack: replication port %s: %d TLS handshakes already pending; closing the connection from %s",
				l.ep, maxPendingHandshakes, nc.RemoteAddr())
			_ = nc.Close()
			continue
		}
		if !l.s.spawn(func() {
			defer func() { <-l.handshakes; l.handshakeDone(from) }()
			l.handshake(nc)
		}) {
			l.handshakeDone(from)
			<-l.handshakes
			_ = nc.Close()
			return
		}
	}
}

// maxPendingHandshakes bounds the replication port's TLS handshakes in
// progress at once.
const maxPendingHandshakes = 64

// handshake secures an accepted connection; a peer that is not a node of
// this cluster is refused, and the log says why.
func (l *streamListener) handshake(nc *net.TCPConn) {
	ctx, cancel := context.WithTimeout(l.s.ctx, l.s.opts.HandshakeTimeout)
	defer cancel()
	tc := tls.Server(nc, l.s.opts.TLS.Replication)
	if err := tc.HandshakeContext(ctx); err != nil {
		_ = nc.Close()
		if !l.closed.Load() && l.s.ctx.Err() == nil {
			why := "only nodes of this cluster may connect: a certificate signed by a CA in TrustedRootCertificatesPath, matching CertificateReservedNodeCommonName"
			if isCleartextPeer(err) {
				why = mixedSecurityHint
			}
			l.s.logf(env.LevelWarn, "netstack: replication port %s: TLS handshake with %s failed, connection closed: %v (%s)",
				l.ep, nc.RemoteAddr(), err, why)
		}
		return
	}
	l.serve(nc, tc)
}

// serve hands an accepted (and secured) connection to the node; false
// when the stack is closed.
func (l *streamListener) serve(nc *net.TCPConn, tc *tls.Conn) bool {
	c, ok := l.s.newConn(nc, env.Endpoint{})
	if !ok {
		_ = nc.Close()
		return false
	}
	c.mu.Lock()
	c.tc = tc
	c.mu.Unlock()
	if err := l.s.post(func() { l.admit(c) }); err != nil {
		c.abort(fmt.Errorf("netstack: accept on %s: the node's loop stopped: %w", l.ep, env.ErrClosed), true)
		l.s.forget(c)
	}
	return true
}

// admit hands an accepted connection to the node, on the loop.
func (l *streamListener) admit(c *conn) {
	refuse := func(why string) {
		c.abort(&NetError{Op: "accept", Local: l.ep.String(), Err: env.ErrReset, Cause: errors.New(why)}, true)
		l.s.forget(c)
	}
	if l.closed.Load() {
		refuse("the listener was closed")
		return
	}
	h := l.accept(c)
	if h == nil {
		refuse("the node refused the connection")
		return
	}
	c.h = h
	if !l.s.spawn(c.start) {
		c.abort(errStackClosed, false)
		l.s.forget(c)
	}
}

// Connect implements env.Network. to.Host may be a DNS name (dialed as
// the Go resolver orders its addresses).
func (s *Stack) Connect(to env.Endpoint, h env.ConnHandler) env.Conn {
	if h == nil {
		panic("netstack: Connect needs a handler; got nil")
	}
	c, ok := s.newConn(nil, to)
	c.h = h
	ctx, cancel := context.WithCancel(s.ctx)
	c.dialCancel = cancel
	if to.Port == 0 {
		c.broken = &NetError{Op: "connect", Remote: to.String(), Err: env.ErrUnreachable, Cause: errors.New("port 0 cannot be dialed")}
		cancel()
		s.forget(c)
		reason := c.broken
		s.deliver(func() { c.reportClosed(reason) })
		return c
	}
	if !ok || !s.spawn(func() {
		defer cancel()
		c.dial(ctx, to)
	}) {
		cancel()
		c.broken = errStackClosed
		s.forget(c)
	}
	return c
}
