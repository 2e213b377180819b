package netstack

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"io"
	"log"
	"math"
	"net"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/annal-db/annal/core/env"
	"github.com/annal-db/annal/realnet/netstack/clusterpb"
	"google.golang.org/grpc"
	"google.golang.org/grpc/keepalive"
)

// http2Preface opens every HTTP/2 connection a client makes; gRPC over
// cleartext always starts with it.
const http2Preface = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"

// HTTP server bounds for the node port's HTTP/1.1 side.
const (
	httpIdleTimeout = 2 * time.Minute
)

// A cleartext connection refused by a secure node port: after the answer
// (none, or the HTTP/2 refusal) the port sends FIN, then reads and
// discards what the client still sends, bounded in time and bytes, so
// that the client sees the end of the stream rather than a reset.
const (
	plainLinger     = time.Second
	plainDrainLimit = 64 << 10
)

// NodePort is the node port: gRPC (the cluster's calls, and any services
// Options.GRPCServices registers) and HTTP/1.1 on one listener, in
// cleartext or, with Options.TLS, over TLS.
type NodePort struct {
	s    *Stack
	ln   *net.TCPListener
	ep   env.Endpoint
	grpc *grpc.Server
	http *http.Server
	mux  *http.ServeMux
	tls  *tls.Config // nil: cleartext

	toGRPC, toHTTP *connQueue

	closed atomic.Bool

	mu    sync.Mutex
	conns map[*portConn]struct{} // open, sniffed or not
	// upgrades are the slots AdmitUpgrade counts: requests switching
	// protocols, and connections switched and open (upgradedOpen of them).
	upgrades, upgradedOpen int

	accepted, rejected, sniffFailed, grpcConns, httpConns  atomic.Uint64
	plainRefused, tlsFailed, upgradesDone, upgradesRefused atomic.Uint64
}

// NodePortStats counts a node port's connections since it opened.
type NodePortStats struct {
	Open        int    // connections open now, upgraded ones included
	Accepted    uint64 // every connection accepted, admitted or not
	Rejected    uint64 // refused by Options.AdmitNodeConn
	SniffFailed uint64 // closed before sending the bytes that choose a protocol
	GRPC        uint64 // handed to the gRPC server
	HTTP        uint64 // handed to the HTTP/1.1 server

	PlainRefused uint64 // cleartext on a TLS port, refused
	TLSFailed    uint64 // TLS handshakes that failed

	Upgraded        int    // connections switched to another protocol, open now
	Upgrades        uint64 // connections ever switched
	UpgradesRefused uint64 // requests to switch refused by Options.AdmitUpgrade
}

// Serve implements env.Network: it opens the node port on ep with the
// cluster's calls going to h.
func (s *Stack) Serve(ep env.Endpoint, h env.RequestHandler) (env.Listener, error) {
	if h == nil {
		panic("netstack: Serve needs a request handler; got nil")
	}
	return s.ServeNode(ep, h)
}

// ServeNode opens the node port on ep: gRPC with the cluster's calls going
// to h (none when h is nil) and the services of Options.GRPCServices, and
// HTTP/1.1 with GET /health/live, Options.HTTP and whatever HandleHTTP adds.
func (s *Stack) ServeNode(ep env.Endpoint, h env.RequestHandler) (*NodePort, error) {
	ln, bound, err := s.bind(ep)
	if err != nil {
		return nil, err
	}
	p := &NodePort{
		s:      s,
		ln:     ln,
		ep:     bound,
		toGRPC: newConnQueue(ln.Addr()),
		toHTTP: newConnQueue(ln.Addr()),
		conns:  make(map[*portConn]struct{}),
	}
	if s.opts.TLS != nil {
		p.tls = nodePortTLS(s.opts.TLS.NodePort)
	}
	p.grpc = grpc.NewServer(s.grpcServerOptions()...)
	if h != nil {
		clusterpb.RegisterClusterServer(p.grpc, &clusterService{s: s, h: h})
	}
	if s.opts.GRPCServices != nil {
		s.opts.GRPCServices(p.grpc)
	}
	p.mux = http.NewServeMux()
	p.mux.HandleFunc("GET /health/live", func(w http.ResponseWriter, _ *http.Request) {
		w.WriteHeader(http.StatusNoContent)
	})
	if s.opts.HTTP != nil {
		p.mux.Handle("/", s.opts.HTTP)
	}
	var handler http.Handler = p.mux
	if s.opts.WrapHTTP != nil {
		handler = s.opts.WrapHTTP(p.mux)
	}
	p.http = &http.Server{
		Handler:           p.httpEntry(handler),
		ConnContext:       func(ctx context.Context, c net.Conn) context.Context { return context.WithValue(ctx, portConnKey{}, c) },
		ReadHeaderTimeout: s.opts.SniffTimeout,
		IdleTimeout:       httpIdleTimeout,
		ErrorLog:          log.New(logWriter{s: s, level: env.LevelDebug}, "netstack: node port "+bound.String()+": ", 0),
	}

	s.mu.Lock()
	closed := s.closed
	if !closed {
		s.ports[p] = struct{}{}
	}
	s.mu.Unlock()
	if closed {
		_ = ln.Close()
		p.grpc.Stop()
		return nil, &NetError{Op: "serve", Local: bound.String(), Err: env.ErrClosed, Cause: errors.New("the node's network is closed")}
	}
	ok := s.spawn(func() { _ = p.grpc.Serve(p.toGRPC) }) &&
		s.spawn(func() { _ = p.http.Serve(p.toHTTP) }) &&
		s.spawn(p.run)
	if !ok {
		p.Close()
		return nil, &NetError{Op: "serve", Local: bound.String(), Err: env.ErrClosed, Cause: errors.New("the node's network is closed")}
	}
	return p, nil
}

// MaxConcurrentStreams bounds the gRPC calls open at once on one node-port
// connection; a client opening more waits for one to end (HTTP/2 flow
// control), as with EventStoreDB's Kestrel.
const MaxConcurrentStreams = 100

func (s *Stack) grpcServerOptions() []grpc.ServerOption {
	forever := time.Duration(math.MaxInt64)
	params := keepalive.ServerParameters{Time: s.opts.KeepAliveInterval, Timeout: s.opts.KeepAliveTimeout}
	if params.Time < 0 {
		params.Time = forever
	}
	if params.Timeout < 0 {
		params.Timeout = forever
	}
	opts := []grpc.ServerOption{
		grpc.KeepaliveParams(params),
		grpc.KeepaliveEnforcementPolicy(keepalive.EnforcementPolicy{MinTime: s.opts.KeepAliveMinTime, PermitWithoutStream: true}),
		grpc.MaxRecvMsgSize(maxCallMessage),
		// A client that sent the HTTP/2 preface has as long to finish the
		// HTTP/2 handshake (its SETTINGS) as any client has to choose a
		// protocol; grpc-go's own default is 120 s, twelve times what the
		// HTTP/1.1 side gives a client to send its headers.
		grpc.ConnectionTimeout(s.opts.SniffTimeout),
		// Each client call may hold up to an append's worth of events
		// before the node sees them: bound the calls per connection
		// (Kestrel's default), so that one connection cannot make the
		// node buffer without end.
		grpc.MaxConcurrentStreams(MaxConcurrentStreams),
	}
	if s.opts.TLS != nil {
		opts = append(opts, grpc.Creds(terminatedTLS{}))
	}
	return append(opts, s.opts.GRPCServerOptions...)
}

// Addr implements env.Listener.
func (p *NodePort) Addr() env.Endpoint { return p.ep }

// HandleHTTP adds an HTTP/1.1 route (a net/http ServeMux pattern, say
// "GET /stats"), now or while serving.
func (p *NodePort) HandleHTTP(pattern string, h http.Handler) { p.mux.Handle(pattern, h) }

// Stats counts the port's connections.
func (p *NodePort) Stats() NodePortStats {
	p.mu.Lock()
	open, upgraded := len(p.conns), p.upgradedOpen
	p.mu.Unlock()
	return NodePortStats{
		Open:            open,
		Accepted:        p.accepted.Load(),
		Rejected:        p.rejected.Load(),
		SniffFailed:     p.sniffFailed.Load(),
		GRPC:            p.grpcConns.Load(),
		HTTP:            p.httpConns.Load(),
		PlainRefused:    p.plainRefused.Load(),
		TLSFailed:       p.tlsFailed.Load(),
		Upgraded:        upgraded,
		Upgrades:        p.upgradesDone.Load(),
		UpgradesRefused: p.upgradesRefused.Load(),
	}
}

// Close implements env.Listener: the port stops at once; calls in flight
// are cut off (their callers see the connection break) and HTTP
// connections close.
func (p *NodePort) Close() {
	if p.closed.Swap(true) {
		return
	}
	_ = p.ln.Close()
	p.toGRPC.Close()
	p.toHTTP.Close()
	p.grpc.Stop()
	_ = p.http.Close()
	p.mu.Lock()
	conns := keys(p.conns)
	p.mu.Unlock()
	for _, c := range conns {
		c.abort()
	}
	p.s.mu.Lock()
	delete(p.s.ports, p)
	p.s.mu.Unlock()
}

func (p *NodePort) run() {
	var backoff time.Duration
	admit := p.s.opts.AdmitNodeConn
	for {
		nc, err := p.ln.AcceptTCP()
		if err != nil {
			if p.closed.Load() || errors.Is(err, net.ErrClosed) {
				return
			}
			backoff = min(max(2*backoff, 5*time.Millisecond), time.Second)
			p.s.logf(env.LevelWarn, "netstack: accept on node port %s: %v; retrying in %v", p.ep, err, backoff)
			time.Sleep(backoff)
			continue
		}
		backoff = 0
		p.accepted.Add(1)
		p.mu.Lock()
		open := len(p.conns) - p.upgradedOpen
		p.mu.Unlock()
		if admit != nil && !admit(open) {
			p.rejected.Add(1)
			p.s.logf(env.LevelWarn, "netstack: node port %s refused a connection from %s with %d open", p.ep, nc.RemoteAddr(), open)
			_ = nc.Close()
			continue
		}
		_ = nc.SetNoDelay(true)
		c := &portConn{Conn: nc, raw: nc, p: p}
		p.mu.Lock()
		if p.closed.Load() {
			p.mu.Unlock()
			_ = nc.Close()
			return
		}
		p.conns[c] = struct{}{}
		p.mu.Unlock()
		if !p.s.spawn(func() { p.sniff(c) }) {
			_ = c.Close()
			return
		}
	}
}

// sniff reads a new connection's first bytes, under a deadline, and hands
// it to the server of its protocol. In cleartext: the HTTP/2 preface
// means gRPC, anything else HTTP/1.1. Under TLS: see sniffTLS.
func (p *NodePort) sniff(c *portConn) {
	deadline := time.Now().Add(p.s.opts.SniffTimeout)
	_ = c.raw.SetReadDeadline(deadline)
	if p.tls != nil {
		p.sniffTLS(c, deadline)
		return
	}
	pre, err := readPreface(c.raw)
	if err != nil {
		p.sniffFail(c, len(pre), err)
		return
	}
	_ = c.raw.SetReadDeadline(time.Time{})
	p.route(c, pre, string(pre) == http2Preface)
}

// sniffTLS serves a connection of a TLS port: a TLS handshake, then the
// protocol the handshake chose by ALPN (h2: gRPC; http/1.1: HTTP), or,
// without ALPN, the first bytes inside TLS as in cleartext. Anything that
// does not open with a TLS handshake is refused (refusePlain).
func (p *NodePort) sniffTLS(c *portConn, deadline time.Time) {
	var first [1]byte
	if _, err := io.ReadFull(c.raw, first[:]); err != nil {
		p.sniffFail(c, 0, err)
		return
	}
	if first[0] != tlsRecordHandshake {
		p.refusePlain(c, first[0], deadline)
		return
	}
	_ = c.raw.SetDeadline(deadline)
	tc := tls.Server(&replayConn{Conn: c.raw, pre: first[:]}, p.tls)
	if err := tc.Handshake(); err != nil {
		p.tlsFailed.Add(1)
		p.logHandshakeFailure(c.RemoteAddr(), err)
		c.abort()
		return
	}
	st := tc.ConnectionState()
	c.Conn, c.tlsState = tc, &st
	var pre []byte
	h2 := st.NegotiatedProtocol == alpnH2
	if st.NegotiatedProtocol == "" {
		var err error
		if pre, err = readPreface(tc); err != nil {
			p.sniffFail(c, len(pre), err)
			return
		}
		h2 = string(pre) == http2Preface
	}
	_ = c.raw.SetDeadline(time.Time{})
	p.route(c, pre, h2)
}

// logHandshakeFailure logs a failed TLS handshake on the node port. A
// client certificate that could not be verified is worth a warning (a
// node of another cluster, or with the wrong CA, is trying to join);
// clients that give up on the handshake are not.
func (p *NodePort) logHandshakeFailure(from net.Addr, err error) {
	level := env.LevelDebug
	var verify *tls.CertificateVerificationError
	var unknown x509.UnknownAuthorityError
	if errors.As(err, &verify) || errors.As(err, &unknown) {
		level = env.LevelWarn
	}
	if !p.closed.Load() {
		p.s.logf(level, "netstack: node port %s: TLS handshake with %s failed: %v; connection closed", p.ep, from, err)
	}
}

// refusePlain answers cleartext on a TLS port as EventStoreDB does, with
// no redirect: an HTTP/1.1 request gets an empty reply; a cleartext HTTP/2
// client (gRPC with tls=false) gets a GOAWAY saying the node serves TLS
// only.
func (p *NodePort) refusePlain(c *portConn, first byte, deadline time.Time) {
	p.plainRefused.Add(1)
	pre, _ := readPreface(io.MultiReader(bytes.NewReader([]byte{first}), c.raw))
	what := "cleartext that is not a TLS handshake"
	if string(pre) == http2Preface {
		what = "cleartext HTTP/2 (a gRPC client with tls=false)"
		_ = c.raw.SetWriteDeadline(deadline)
		refuseHTTP2(c.raw)
	}
	p.s.logf(env.LevelDebug, "netstack: node port %s: %s from %s; this port serves TLS only, connection closed", p.ep, what, c.RemoteAddr())
	_ = c.raw.CloseWrite()
	_ = c.raw.SetReadDeadline(time.Now().Add(plainLinger))
	_, _ = io.Copy(io.Discard, io.LimitReader(c.raw, plainDrainLimit))
	c.abort()
}

// readPreface reads until the bytes either are the HTTP/2 client preface
// or cannot be.
func readPreface(r io.Reader) ([]byte, error) {
	buf := make([]byte, len(http2Preface))
	n := 0
	for {
		m, err := r.Read(buf[n:])
		n += m
		if !strings.HasPrefix(http2Preface, string(buf[:n])) || n == len(buf) {
			return buf[:n], nil
		}
		if err != nil {
			return buf[:n], err
		}
	}
}

func (p *NodePort) sniffFail(c *portConn, n int, err error) {
	p.sniffFailed.Add(1)
	if !errors.Is(err, io.EOF) && !p.closed.Load() {
		p.s.logf(env.LevelDebug, "netstack: node port %s: connection from %s sent %d bytes in %v and no protocol: %v; closing it",
			p.ep, c.RemoteAddr(), n, p.s.opts.SniffTimeout, err)
	}
	c.abort()
}

// route hands a sniffed connection to its server; pre are the bytes read
// while sniffing, read again first.
func (p *NodePort) route(c *portConn, pre []byte, grpc bool) {
	c.pre = pre
	q := p.toHTTP
	if grpc {
		q = p.toGRPC
		p.grpcConns.Add(1)
	} else {
		p.httpConns.Add(1)
	}
	if !q.hand(c) {
		c.abort()
	}
}

type portConnKey struct{}

// httpEntry is the front of the HTTP side: requests on a TLS connection
// carry its state (net/http sets it only on its own TLS connections), and
// requests to switch protocols are admitted and counted (Options.AdmitUpgrade).
func (p *NodePort) httpEntry(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		pc, _ := r.Context().Value(portConnKey{}).(*portConn)
		if pc != nil && pc.tlsState != nil && r.TLS == nil {
			r.TLS = pc.tlsState
		}
		if pc == nil || !isUpgradeRequest(r) {
			next.ServeHTTP(w, r)
			return
		}
		if !p.reserveUpgrade() {
			p.upgradesRefused.Add(1)
			p.s.logf(env.LevelWarn, "netstack: node port %s refused to switch the connection from %s to %q: too many upgraded connections (MaxConcurrentUpgradedConnections)",
				p.ep, r.RemoteAddr, r.Header.Get("Upgrade"))
			w.Header().Set("Connection", "close")
			http.Error(w, "too many upgraded connections: the node's MaxConcurrentUpgradedConnections is reached; try again later", http.StatusServiceUnavailable)
			return
		}
		uw := &upgradeWriter{ResponseWriter: w, p: p, pc: pc}
		defer func() {
			if !uw.hijacked {
				p.releaseUpgrade()
			}
		}()
		next.ServeHTTP(uw, r)
	})
}

// isUpgradeRequest: an HTTP/1.1 request asking to switch protocols.
func isUpgradeRequest(r *http.Request) bool {
	if r.ProtoMajor != 1 || r.Header.Get("Upgrade") == "" {
		return false
	}
	for _, v := range r.Header.Values("Connection") {
		for _, tok := range strings.Split(v, ",") {
			if strings.EqualFold(strings.TrimSpace(tok), "upgrade") {
				return true
			}
		}
	}
	return false
}

func (p *NodePort) reserveUpgrade() bool {
	admit := p.s.opts.AdmitUpgrade
	p.mu.Lock()
	defer p.mu.Unlock()
	if admit != nil && !admit(p.upgrades) {
		return false
	}
	p.upgrades++
	return true
}

func (p *NodePort) releaseUpgrade() {
	p.mu.Lock()
	p.upgrades--
	p.mu.Unlock()
}

// markUpgraded: the handler took the connection over. It keeps its
// upgrade slot until it closes, and stops counting against AdmitNodeConn
// (as in Kestrel, where an upgraded connection moves from one limit to
// the other).
func (p *NodePort) markUpgraded(c *portConn) {
	p.upgradesDone.Add(1)
	p.mu.Lock()
	defer p.mu.Unlock()
	if _, open := p.conns[c]; !open {
		p.upgrades--
		return
	}
	c.upgraded = true
	p.upgradedOpen++
}

// upgradeWriter notices when the handler of an upgrade request takes the
// connection over.
type upgradeWriter struct {
	http.ResponseWriter
	p        *NodePort
	pc       *portConn
	hijacked bool
}

func (u *upgradeWriter) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	c, brw, err := http.NewResponseController(u.ResponseWriter).Hijack()
	if err == nil && !u.hijacked {
		u.hijacked = true
		u.p.markUpgraded(u.pc)
	}
	return c, brw, err
}

func (u *upgradeWriter) Flush() { _ = http.NewResponseController(u.ResponseWriter).Flush() }

func (u *upgradeWriter) Unwrap() http.ResponseWriter { return u.ResponseWriter }

// portConn is a node-port connection: the bytes read while sniffing are
// read again first, and closing it takes it off the port's count.
type portConn struct {
	// Conn is what the servers read and write: raw, or TLS over it.
	net.Conn
	raw      *net.TCPConn
	p        *NodePort
	pre      []byte
	tlsState *tls.ConnectionState // nil in cleartext
	upgraded bool                 // guarded by p.mu
	once     sync.Once
}

func (c *portConn) Read(b []byte) (int, error) {
	if len(c.pre) > 0 {
		n := copy(b, c.pre)
		c.pre = c.pre[n:]
		return n, nil
	}
	return c.Conn.Read(b)
}

// ConnectionState is the TLS state, for gRPC's credentials.
func (c *portConn) ConnectionState() tls.ConnectionState {
	if c.tlsState == nil {
		return tls.ConnectionState{}
	}
	return *c.tlsState
}

// Close closes gracefully (TLS says close_notify first).
func (c *portConn) Close() error {
	err := c.Conn.Close()
	c.untrack()
	return err
}

// abort closes at once.
func (c *portConn) abort() {
	_ = c.raw.Close()
	c.untrack()
}

func (c *portConn) untrack() {
	c.once.Do(func() {
		c.p.mu.Lock()
		delete(c.p.conns, c)
		if c.upgraded {
			c.p.upgrades--
			c.p.upgradedOpen--
		}
		c.p.mu.Unlock()
	})
}

// replayConn reads pre before the connection's own bytes.
type replayConn struct {
	net.Conn
	pre []byte
}

func (c *replayConn) Read(b []byte) (int, error) {
	if len(c.pre) > 0 {
		n := copy(b, c.pre)
		c.pre = c.pre[n:]
		return n, nil
	}
	return c.Conn.Read(b)
}

// connQueue is a net.Listener fed with connections the port has sniffed.
type connQueue struct {
	addr net.Addr
	ch   chan net.Conn
	done chan struct{}
	once sync.Once
}

func newConnQueue(addr net.Addr) *connQueue {
	return &connQueue{addr: addr, ch: make(chan net.Conn), done: make(chan struct{})}
}

func (q *connQueue) Accept() (net.Conn, error) {
	select {
	case c := <-q.ch:
		return c, nil
	case <-q.done:
		return nil, net.ErrClosed
	}
}

func (q *connQueue) Close() error {
	q.once.Do(func() { close(q.done) })
	return nil
}

func (q *connQueue) Addr() net.Addr { return q.addr }

// hand passes c to the server, unless the queue was closed.
func (q *connQueue) hand(c net.Conn) bool {
	select {
	case q.ch <- c:
		return true
	case <-q.done:
		return false
	}
}

// logWriter turns the HTTP server's log lines into the stack's.
type logWriter struct {
	s     *Stack
	level env.Level
}

func (w logWriter) Write(b []byte) (int, error) {
	w.s.logf(w.level, "%s", strings.TrimRight(string(b), "\n"))
	return len(b), nil
}
