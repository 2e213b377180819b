package netstack

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"

	"github.com/annal-db/annal/core/env"
	"github.com/annal-db/annal/realnet/loop"
)

// Stack implements env.Network for one node on the host's real network.
type Stack struct {
	loop *loop.Loop
	opts Options

	// ctx ends with the stack: it cancels dials, calls and lookups.
	ctx    context.Context
	cancel context.CancelFunc

	nextID   atomic.Uint64
	callJobs chan func() // idle call goroutines take calls here
	down     atomic.Bool // Close was called: no callback runs any more

	mu        sync.Mutex
	closed    bool
	conns     map[*conn]struct{}
	listeners map[*streamListener]struct{}
	ports     map[*NodePort]struct{}
	channels  map[env.Endpoint]*channel
	wg        sync.WaitGroup // every goroutine the stack started
}

var _ env.Network = (*Stack)(nil)

// New makes the network of the node whose loop is l.
func New(l *loop.Loop, opts Options) (*Stack, error) {
	if l == nil {
		panic("netstack: New needs the node's loop; got nil")
	}
	o, err := opts.withDefaults()
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithCancel(context.Background())
	return &Stack{
		loop:      l,
		opts:      o,
		ctx:       ctx,
		cancel:    cancel,
		conns:     make(map[*conn]struct{}),
		listeners: make(map[*streamListener]struct{}),
		ports:     make(map[*NodePort]struct{}),
		channels:  make(map[env.Endpoint]*channel),
		callJobs:  make(chan func()),
	}, nil
}

// Close ends everything at once: listeners and node ports stop, stream
// connections are closed without flushing, call channels close, pending
// dials, calls and lookups are abandoned. No callback of the stack runs
// after Close returns. Close waits for the stack's goroutines to exit,
// except when called on the loop (a reader may be waiting for the loop to
// take its message): then use Wait from elsewhere. Close may be called more
// than once.
func (s *Stack) Close() {
	s.down.Store(true)
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		s.waitUnlessOnLoop()
		return
	}
	s.closed = true
	conns := keys(s.conns)
	listeners := keys(s.listeners)
	ports := keys(s.ports)
	channels := make([]*channel, 0, len(s.channels))
	for _, ch := range s.channels {
		channels = append(channels, ch)
	}
	s.channels = map[env.Endpoint]*channel{}
	s.mu.Unlock()

	s.cancel()
	for _, l := range listeners {
		l.Close()
	}
	for _, p := range ports {
		p.Close()
	}
	for _, c := range conns {
		c.abort(errStackClosed, false)
	}
	for _, ch := range channels {
		ch.close()
	}
	s.waitUnlessOnLoop()
}

// Wait blocks until every goroutine of a closed stack has exited. Do not
// call it on the loop.
func (s *Stack) Wait() { s.wg.Wait() }

func (s *Stack) waitUnlessOnLoop() {
	if !s.loop.OnLoop() {
		s.wg.Wait()
	}
}

var errStackClosed = fmt.Errorf("netstack: the node's network was closed: %w", env.ErrClosed)

func keys[K comparable, V any](m map[K]V) []K {
	r := make([]K, 0, len(m))
	for k := range m {
		r = append(r, k)
	}
	return r
}

// spawn runs f on a new goroutine the stack waits for at Close, unless the
// stack is closed already.
func (s *Stack) spawn(f func()) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return false
	}
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		f()
	}()
	return true
}

// deliver hands the completion of work the node started to its loop.
func (s *Stack) deliver(f func()) {
	_ = s.loop.Deliver(func() {
		if !s.down.Load() {
			f()
		}
	})
}

// post hands an input the node did not ask for to its loop, waiting for
// room in the inbox: the caller's goroutine is the backpressure.
func (s *Stack) post(f func()) error {
	return s.loop.Post(func() {
		if !s.down.Load() {
			f()
		}
	})
}

func (s *Stack) logf(level env.Level, format string, args ...any) {
	if s.opts.Log != nil {
		s.opts.Log.Log(level, fmt.Sprintf(format, args...))
	}
}

// endpointOf renders a socket address the way a node names endpoints:
// IPv4-mapped IPv6 addresses as plain IPv4.
func endpointOf(a net.Addr) env.Endpoint {
	if ta, ok := a.(*net.TCPAddr); ok {
		ap := ta.AddrPort()
		return env.Endpoint{Host: ap.Addr().Unmap().String(), Port: ap.Port()}
	}
	if a == nil {
		return env.Endpoint{}
	}
	if ap, err := netip.ParseAddrPort(a.String()); err == nil {
		return env.Endpoint{Host: ap.Addr().Unmap().String(), Port: ap.Port()}
	}
	return env.Endpoint{Host: a.String()}
}
