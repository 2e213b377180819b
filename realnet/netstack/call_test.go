package netstack

import (
	"bytes"
	"errors"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/annal-db/annal/core/env"
)

// handler serves the test methods.
type handler struct {
	held chan func([]byte, error)
}

func newHandler() *handler { return &handler{held: make(chan func([]byte, error), 16)} }

func (h *handler) HandleRequest(from env.Endpoint, method string, req []byte, reply func([]byte, error)) {
	switch method {
	case "echo":
		reply(req, nil)
	case "from":
		reply([]byte(from.Host), nil)
	case "empty":
		reply(nil, nil)
	case "conflict":
		reply(nil, &env.RemoteError{Code: 409, Message: "conflict: " + string(req)})
	case "plain":
		reply(nil, errors.New("plain failure"))
	case "hold":
		h.held <- reply
	default:
		reply(nil, &env.RemoteError{Code: 404, Message: "unknown method " + method})
	}
}

// serve opens a node port on loopback.
func (n *node) serve(h env.RequestHandler) *NodePort {
	n.t.Helper()
	return n.serveOn(local, h)
}

func (n *node) serveOn(ep env.Endpoint, h env.RequestHandler) *NodePort {
	n.t.Helper()
	var p *NodePort
	var err error
	n.on(func() { p, err = n.net.ServeNode(ep, h) })
	if err != nil {
		n.t.Fatalf("ServeNode: %v", err)
	}
	return p
}

type callResult2 struct {
	resp   []byte
	err    error
	onLoop bool
}

// call makes one call from the node's loop and waits for its completion.
func (n *node) call(to env.Endpoint, method string, req []byte, timeout time.Duration) ([]byte, error) {
	n.t.Helper()
	res := make(chan callResult2, 1)
	n.on(func() {
		n.net.Call(to, method, req, timeout, func(resp []byte, err error) {
			res <- callResult2{resp, err, n.loop.OnLoop()}
		})
	})
	select {
	case r := <-res:
		if !r.onLoop {
			n.t.Fatal("a call's done ran off the node's loop")
		}
		return r.resp, r.err
	case <-time.After(timeout + guard):
		n.t.Fatalf("call %s to %v never completed", method, to)
		return nil, nil
	}
}

func TestCallRoundTripAndRemoteErrors(t *testing.T) {
	a := newNode(t, "a", Options{})
	b := newNode(t, "b", Options{})
	p := a.serve(newHandler())
	to := p.Addr()

	resp, err := b.call(to, "echo", []byte("ping"), guard)
	if err != nil || string(resp) != "ping" {
		t.Fatalf("echo: %q, %v; want \"ping\"", resp, err)
	}
	if resp, err = b.call(to, "from", nil, guard); err != nil || string(resp) != "127.0.0.1" {
		t.Fatalf("the handler saw the caller as %q (%v); want 127.0.0.1", resp, err)
	}
	if resp, err = b.call(to, "empty", nil, guard); err != nil || len(resp) != 0 {
		t.Fatalf("empty: %q, %v; want an empty response", resp, err)
	}
	// Above gRPC's default 4 MiB message limit.
	big := bytes.Repeat([]byte("0123456789abcdef"), 6<<20/16)
	if resp, err = b.call(to, "echo", big, guard); err != nil || !bytes.Equal(resp, big) {
		t.Fatalf("echo of %d bytes: %d bytes back, %v", len(big), len(resp), err)
	}

	var re *env.RemoteError
	_, err = b.call(to, "conflict", []byte("x"), guard)
	if !errors.As(err, &re) || re.Code != 409 || re.Message != "conflict: x" {
		t.Fatalf("conflict: %v; want *env.RemoteError 409 \"conflict: x\"", err)
	}
	_, err = b.call(to, "plain", nil, guard)
	if !errors.As(err, &re) || re.Code != UnknownErrorCode || re.Message != "plain failure" {
		t.Fatalf("plain error: %v; want *env.RemoteError %d \"plain failure\"", err, UnknownErrorCode)
	}
	_, err = b.call(to, "no-such-method", nil, guard)
	if !errors.As(err, &re) || re.Code != 404 {
		t.Fatalf("unknown method: %v; want the handler's *env.RemoteError 404", err)
	}
	_, err = b.call(to, "echo", make([]byte, env.MaxMessageSize+1), guard)
	if !errors.Is(err, env.ErrMessageTooLarge) {
		t.Fatalf("a request above MaxMessageSize: %v; want env.ErrMessageTooLarge", err)
	}
	if st := b.net.ChannelState(to); st != "ready" {
		t.Fatalf("channel state after calls: %s, want ready", st)
	}
}

func TestCallDeadlineIsATimeoutAndALateReplyIsDropped(t *testing.T) {
	a := newNode(t, "a", Options{})
	b := newNode(t, "b", Options{})
	h := newHandler()
	p := a.serve(h)
	if _, err := b.call(p.Addr(), "echo", nil, guard); err != nil {
		t.Fatal(err)
	}
	_, err := b.call(p.Addr(), "hold", nil, 200*time.Millisecond)
	if !errors.Is(err, env.ErrTimeout) {
		t.Fatalf("a call whose handler never replied: %v; want env.ErrTimeout", err)
	}
	var reply func([]byte, error)
	select {
	case reply = <-h.held:
	case <-time.After(guard):
		t.Fatal("the held call never reached the handler")
	}
	a.on(func() { reply([]byte("late"), nil) })
	if resp, err := b.call(p.Addr(), "echo", []byte("after"), guard); err != nil || string(resp) != "after" {
		t.Fatalf("call after a timeout: %q, %v", resp, err)
	}
}

func TestCallToAPortWithoutTheClusterService(t *testing.T) {
	a := newNode(t, "a", Options{})
	b := newNode(t, "b", Options{})
	p := a.serve(nil)
	_, err := b.call(p.Addr(), "echo", nil, guard)
	var re *env.RemoteError
	if !errors.As(err, &re) || re.Code != UnknownErrorCode || !strings.Contains(re.Message, "does not serve") {
		t.Fatalf("call to a node port without the cluster service: %v; want *env.RemoteError %d saying so", err, UnknownErrorCode)
	}
}

func TestCallServerGoingAway(t *testing.T) {
	a := newNode(t, "a", Options{})
	b := newNode(t, "b", Options{})
	h := newHandler()
	p := a.serve(h)
	to := p.Addr()
	if _, err := b.call(to, "echo", nil, guard); err != nil {
		t.Fatal(err)
	}
	res := make(chan error, 1)
	b.on(func() {
		b.net.Call(to, "hold", nil, guard, func(_ []byte, err error) { res <- err })
	})
	var reply func([]byte, error)
	select {
	case reply = <-h.held:
	case <-time.After(guard):
		t.Fatal("the held call never reached the handler")
	}
	a.on(func() { p.Close() })
	select {
	case err := <-res:
		if err == nil || errors.Is(err, env.ErrTimeout) {
			t.Fatalf("a call in flight when the server went away: %v; want the break, not a timeout", err)
		}
		if !errors.Is(err, env.ErrClosed) && !errors.Is(err, env.ErrReset) && !errors.Is(err, env.ErrUnreachable) {
			t.Fatalf("a call in flight when the server went away: %v; want env.ErrClosed or env.ErrReset", err)
		}
	case <-time.After(guard):
		t.Fatal("a call in flight when the server went away never failed")
	}
	a.on(func() { reply(nil, nil) }) // too late: dropped
	_, err := b.call(to, "echo", nil, guard)
	if !errors.Is(err, env.ErrRefused) || !errors.Is(err, env.ErrUnreachable) {
		t.Fatalf("call after the server went away: %v; want env.ErrUnreachable wrapping env.ErrRefused", err)
	}
}

func TestCallBackoffFailsFastThenRecovers(t *testing.T) {
	a := newNode(t, "a", Options{})
	b := newNode(t, "b", Options{})
	to := env.Endpoint{Host: "127.0.0.1", Port: freePort(t)}
	// Each call has a long deadline: only failing fast makes them return
	// with anything but a timeout.
	for i := range 5 {
		_, err := b.call(to, "echo", nil, guard)
		if !errors.Is(err, env.ErrUnreachable) || !errors.Is(err, env.ErrRefused) || errors.Is(err, env.ErrTimeout) {
			t.Fatalf("call %d to a closed port: %v; want env.ErrUnreachable wrapping env.ErrRefused", i, err)
		}
	}
	if st := b.net.ChannelState(to); st != "transient_failure" && st != "connecting" {
		t.Fatalf("channel to a closed port is %s; want transient_failure", st)
	}
	a.serveOn(to, newHandler())
	// The channel retries in the background at most a second apart.
	for attempt := 0; ; attempt++ {
		resp, err := b.call(to, "echo", []byte("up"), guard)
		if err == nil {
			if string(resp) != "up" {
				t.Fatalf("echo returned %q", resp)
			}
			t.Logf("reached the server after %d fast failures", attempt)
			break
		}
		if !errors.Is(err, env.ErrUnreachable) {
			t.Fatalf("call while the channel backs off: %v; want env.ErrUnreachable", err)
		}
		if attempt > 200 {
			t.Fatalf("the channel never reconnected to the server that came up: %v", err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestCallAbandonsAChannelThatHearsNothing(t *testing.T) {
	a := newNode(t, "a", Options{})
	b := newNode(t, "b", Options{})
	p := a.serve(newHandler())
	px := newProxy(t, p.Addr())
	if _, err := b.call(px.addr(), "echo", nil, guard); err != nil {
		t.Fatal(err)
	}
	// The peer's host goes silent: no reset, no FIN, nothing.
	px.blackhole()
	_, err := b.call(px.addr(), "echo", nil, 300*time.Millisecond)
	if !errors.Is(err, env.ErrTimeout) {
		t.Fatalf("call into a silent connection: %v; want env.ErrTimeout", err)
	}
	if b.log.find(env.LevelInfo, "abandoned") == "" {
		t.Fatalf("no abandonment logged; log:\n%s", b.log.all())
	}
	resp, err := b.call(px.addr(), "echo", []byte("fresh"), guard)
	if err != nil || string(resp) != "fresh" {
		t.Fatalf("call after abandonment: %q, %v; want it to dial afresh and succeed", resp, err)
	}
	if n := px.accepted(); n != 2 {
		t.Fatalf("the proxy saw %d connections; want 2 (the abandoned one and a fresh one)", n)
	}
}

// proxy forwards loopback TCP connections to a target; blackhole makes
// the connections open so far swallow everything, as a lost host would.
type proxy struct {
	t      *testing.T
	ln     net.Listener
	target string
	wg     sync.WaitGroup

	mu    sync.Mutex
	conns []net.Conn
	count int
	holes []chan struct{}
}

func newProxy(t *testing.T, target env.Endpoint) *proxy {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	px := &proxy{t: t, ln: ln, target: target.String()}
	px.wg.Add(1)
	go px.run()
	t.Cleanup(px.close)
	return px
}

func (px *proxy) addr() env.Endpoint {
	ep, _ := env.ParseEndpoint(px.ln.Addr().String())
	return ep
}

func (px *proxy) accepted() int {
	px.mu.Lock()
	defer px.mu.Unlock()
	return px.count
}

func (px *proxy) run() {
	defer px.wg.Done()
	for {
		c, err := px.ln.Accept()
		if err != nil {
			return
		}
		up, err := net.Dial("tcp", px.target)
		if err != nil {
			_ = c.Close()
			continue
		}
		hole := make(chan struct{})
		px.mu.Lock()
		px.count++
		px.conns = append(px.conns, c, up)
		px.holes = append(px.holes, hole)
		px.mu.Unlock()
		px.wg.Add(2)
		go px.pipe(c, up, hole)
		go px.pipe(up, c, hole)
	}
}

// pipe copies until the hole opens; from then on it reads and drops.
func (px *proxy) pipe(from, to net.Conn, hole chan struct{}) {
	defer px.wg.Done()
	buf := make([]byte, 32<<10)
	for {
		n, err := from.Read(buf)
		if err != nil {
			_ = to.Close()
			return
		}
		select {
		case <-hole:
			continue
		default:
		}
		if _, err := to.Write(buf[:n]); err != nil {
			return
		}
	}
}

func (px *proxy) blackhole() {
	px.mu.Lock()
	defer px.mu.Unlock()
	for _, h := range px.holes {
		close(h)
	}
	px.holes = nil
}

func (px *proxy) close() {
	_ = px.ln.Close()
	px.mu.Lock()
	for _, c := range px.conns {
		_ = c.Close()
	}
	px.mu.Unlock()
	px.wg.Wait()
}
