package netstack

import (
	"bytes"
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

// NodePort is the node port: gRPC (the cluster's calls, and any services
// Options.GRPCServices registers) and HTTP/1.1 on one listener.
type NodePort struct {
	s    *Stack
	ln   *net.TCPListener
	ep   env.Endpoint
	grpc *grpc.Server
	http *http.Server
	mux  *http.ServeMux

	toGRPC, toHTTP *connQueue

	closed atomic.Bool

	mu    sync.Mutex
	conns map[*portConn]struct{} // open, sniffed or not

	accepted, rejected, sniffFailed, grpcConns, httpConns atomic.Uint64
}

// NodePortStats counts a node port's connections since it opened.
type NodePortStats struct {
	Open        int    // connections open now
	Accepted    uint64 // every connection accepted, admitted or not
	Rejected    uint64 // refused by Options.AdmitNodeConn
	SniffFailed uint64 // closed before sending the bytes that choose a protocol
	GRPC        uint64 // handed to the gRPC server
	HTTP        uint64 // handed to the HTTP/1.1 server
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
	p.http = &http.Server{
		Handler:           p.mux,
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
	open := len(p.conns)
	p.mu.Unlock()
	return NodePortStats{
		Open:        open,
		Accepted:    p.accepted.Load(),
		Rejected:    p.rejected.Load(),
		SniffFailed: p.sniffFailed.Load(),
		GRPC:        p.grpcConns.Load(),
		HTTP:        p.httpConns.Load(),
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
		_ = c.Close()
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
		open := len(p.conns)
		p.mu.Unlock()
		if admit != nil && !admit(open) {
			p.rejected.Add(1)
			p.s.logf(env.LevelWarn, "netstack: node port %s refused a connection from %s with %d open", p.ep, nc.RemoteAddr(), open)
			_ = nc.Close()
			continue
		}
		_ = nc.SetNoDelay(true)
		c := &portConn{Conn: nc, p: p}
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

// sniff reads a new connection's first bytes, under a deadline, until they
// either are the HTTP/2 preface (gRPC) or cannot be (HTTP/1.1).
func (p *NodePort) sniff(c *portConn) {
	_ = c.SetReadDeadline(time.Now().Add(p.s.opts.SniffTimeout))
	buf := make([]byte, len(http2Preface))
	n := 0
	for {
		m, err := c.Conn.Read(buf[n:])
		n += m
		if !strings.HasPrefix(http2Preface, string(buf[:n])) {
			break
		}
		if n == len(buf) {
			break
		}
		if err != nil {
			p.sniffFailed.Add(1)
			if !errors.Is(err, io.EOF) && !p.closed.Load() {
				p.s.logf(env.LevelDebug, "netstack: node port %s: connection from %s sent %d bytes in %v and no protocol: %v; closing it",
					p.ep, c.RemoteAddr(), n, p.s.opts.SniffTimeout, err)
			}
			_ = c.Close()
			return
		}
	}
	_ = c.SetReadDeadline(time.Time{})
	c.pre = buf[:n]
	q := p.toHTTP
	if bytes.Equal(c.pre, []byte(http2Preface)) {
		q = p.toGRPC
		p.grpcConns.Add(1)
	} else {
		p.httpConns.Add(1)
	}
	if !q.hand(c) {
		_ = c.Close()
	}
}

// portConn is a node-port connection: the bytes read while sniffing are
// read again first, and closing it takes it off the port's count.
type portConn struct {
	net.Conn
	p    *NodePort
	pre  []byte
	once sync.Once
}

func (c *portConn) Read(b []byte) (int, error) {
	if len(c.pre) > 0 {
		n := copy(b, c.pre)
		c.pre = c.pre[n:]
		return n, nil
	}
	return c.Conn.Read(b)
}

func (c *portConn) Close() error {
	err := c.Conn.Close()
	c.once.Do(func() {
		c.p.mu.Lock()
		delete(c.p.conns, c)
		c.p.mu.Unlock()
	})
	return err
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
